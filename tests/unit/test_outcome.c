/* SPDX-License-Identifier: ISC */
/*
 * test_outcome: the reply catalogue of src/lib/outcome.c.  Every row is
 * checked for form: it exists and carries its own name; its kind
 * matches its code's class (2xx/3xx ok, 4xx tempfail, 5xx permfail);
 * its enhanced code is RFC 3463 syntax with the code's class (2 for
 * 2xx/3xx), and only the replies RFC 2034 §3 exempts (220 greeting, 250
 * HELO, 334, 354) go without one; its text is non-empty, has no CR, LF
 * or other control byte and no "%" other than at most one "%s"; and no
 * two rows say the same thing (code, enhanced code and text).  Then
 * outcome_reply() itself: fixed texts, a detail substituted once, NULL
 * as "", a detail's "%" kept literal and its CR/LF made spaces, an
 * over-long detail truncated, and an id outside the catalogue.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <string.h>

#include "outcome.h"
#include "tap.h"

/* RFC 3463 §2: class "." subject "." detail, 1-3 digits, no leading 0s. */
static int
enhanced_ok(const char *e, int cls)
{
	int part = 0, digits = 0;
	const char *p;

	if (e[0] != '0' + cls || e[1] != '.')
		return 0;
	for (p = e + 2; ; p++) {
		if (*p >= '0' && *p <= '9') {
			if (digits > 0 && p[-digits] == '0')
				return 0;	/* leading zero */
			if (++digits > 3)
				return 0;
			continue;
		}
		if (digits == 0)
			return 0;
		if (*p == '\0')
			return part == 1;
		if (*p != '.' || ++part > 1)
			return 0;
		digits = 0;
	}
}

static int
text_ok(const char *t)
{
	const char *p, *pct = NULL;

	if (t == NULL || t[0] == '\0')
		return 0;
	for (p = t; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p == '%') {
			if (pct != NULL || p[1] != 's')
				return 0;
			pct = p;
		}
	}
	return 1;
}

static int
no_enhanced_allowed(int code)
{
	return code == 220 || code == 250 || code == 334 || code == 354;
}

int
main(void)
{
	int missing = 0, kind = 0, enh = 0, text = 0, dup = 0;
	struct outcome o;
	char longd[600];
	int i, j;

	plan(19);
	for (i = 0; i < R__COUNT; i++) {
		const struct reply_def *d = reply_def((enum reply_id)i);
		int cls;

		if (d == NULL || d->name == NULL || strncmp(d->name, "R_", 2) != 0) {
			diag("row %d missing or unnamed", i);
			missing++;
			continue;
		}
		if (d->code < 200 || d->code > 599 ||
		    d->kind != outcome_kind_of_code(d->code)) {
			diag("%s: kind %s does not match code %d", d->name,
			    outcome_strkind(d->kind), d->code);
			kind++;
		}
		cls = d->code / 100 == 3 ? 2 : d->code / 100;
		if (d->enhanced[0] == '\0' ? !no_enhanced_allowed(d->code) :
		    !enhanced_ok(d->enhanced, cls)) {
			diag("%s: enhanced code '%s' wrong for %d", d->name, d->enhanced, d->code);
			enh++;
		}
		if (!text_ok(d->text)) {
			diag("%s: bad text '%s'", d->name, d->text ? d->text : "(null)");
			text++;
		}
		for (j = 0; j < i; j++) {
			const struct reply_def *e = reply_def((enum reply_id)j);
			if (e && e->code == d->code && strcmp(e->enhanced, d->enhanced) == 0 &&
			    strcmp(e->text, d->text) == 0) {
				diag("%s repeats %s", d->name, e->name);
				dup++;
			}
		}
	}
	is_int(missing, 0, "every reply id has a named row (%d rows)", (int)R__COUNT);
	is_int(kind, 0, "every row's kind matches its code's class");
	is_int(enh, 0, "every row's enhanced code has the code's class (RFC 3463), or none where RFC 2034 allows");
	is_int(text, 0, "every text is non-empty, without CR/LF, with at most one %%s and no other %%");
	is_int(dup, 0, "no two rows with the same code, enhanced code and text");
	ok(reply_def(R__COUNT) == NULL && reply_def((enum reply_id)-1) == NULL,
	    "ids outside the catalogue have no row");

	outcome_reply(&o, R_LOCAL_ERROR);
	ok(o.kind == OUTCOME_TEMPFAIL && o.code == 451 && strcmp(o.enhanced, "4.3.0") == 0,
	    "R_LOCAL_ERROR is 451 4.3.0 tempfail");
	is_str(o.text, "Local error in processing, try again later", "its one text");
	outcome_ok(&o);
	ok(o.kind == OUTCOME_OK && o.code == 250 && strcmp(o.enhanced, "2.0.0") == 0 &&
	    strcmp(o.text, "Ok") == 0, "outcome_ok is R_SUCCESS: 250 2.0.0 Ok");
	outcome_reply(&o, R_QUEUED_AS, "0ABC123");
	is_str(o.text, "Ok: queued as 0ABC123", "a detail is substituted for %%s");
	outcome_reply(&o, R_PARAMS_NEED_EHLO, "RCPT");
	is_str(o.text, "RCPT parameters need EHLO", "a detail at the start of the text");
	outcome_reply(&o, R_CONNECTION_LOST, NULL);
	is_str(o.text, "connection lost", "NULL reads as an empty detail");
	outcome_reply(&o, R_BAD_REPLY, "50%s of %d\r\nX");
	is_str(o.text, "bad reply from the server: 50%s of %d  X",
	    "a detail's %% stays literal, its CR/LF become spaces");
	outcome_reply(&o, R_HELO_OK, "mx.test");
	ok(o.enhanced[0] == '\0' && o.code == 250 && strcmp(o.text, "mx.test") == 0,
	    "a row without enhanced code leaves it empty");
	memset(longd, 'a', sizeof(longd) - 1);
	longd[sizeof(longd) - 1] = '\0';
	outcome_reply(&o, R_SYNTAX_USAGE, longd);
	ok(strlen(o.text) == sizeof(o.text) - 1 && strncmp(o.text, "Syntax: aaa", 11) == 0,
	    "an over-long detail is truncated to the text buffer");
	outcome_reply(&o, R__COUNT);
	ok(o.code == 451 && strcmp(o.enhanced, "4.3.0") == 0,
	    "an id outside the catalogue still fills a valid local error");
	outcome_set(&o, OUTCOME_PERMFAIL, 550, "5.7.1", "remote\r\ntext");
	is_str(o.text, "remote  text", "outcome_set (remote replies) still sanitises");
	outcome_reply(&o, R_CHANGED_MEANWHILE);
	ok(outcome_is(&o, R_CHANGED_MEANWHILE) && !outcome_is(&o, R_LOCAL_ERROR),
	    "outcome_is: the entry it was filled from, not another of the same code");
	outcome_reply(&o, R_LOCAL_ERROR);
	ok(!outcome_is(&o, R_CHANGED_MEANWHILE) && !outcome_is(NULL, R_LOCAL_ERROR),
	    "outcome_is: another 451 4.3.0 is not a changed record");
	return done();
}
