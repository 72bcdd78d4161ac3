/* SPDX-License-Identifier: ISC */
/*
 * test_dlp_stage: the sensitive-data EOM stage and redaction.  Each
 * action (ignore, tag, hold, redact, reject) from the global config and
 * from an account record; redaction of plain, QP (number across a soft
 * break), base64, HTML (number split by tags and entities) parts and of
 * the Subject, checked by parsing and scanning the result again (no
 * finding left, last four kept, same MIME structure, lines <= 998);
 * verdicts and reply texts never carry a value; MIME limits hold or
 * reject; a forged X-Postern-DLP header is removed.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "account.h"
#include "dlp.h"
#include "mime.h"
#include "policy.h"
#include "relay.h"
#include "tap.h"

#define CARD "4556737586899855"
#define CARD_SP "4556 7375 8689 9855"
#define CARD2 "5376620494172018"

static struct config *
conf(const char *text)
{
	char err[512];
	struct config *c = config_parse("test", text, strlen(text), err, sizeof(err));

	if (c == NULL)
		printf("# config: %s\n", err);
	return c;
}

static struct account *msg_acct;	/* the typed policy of the record under test */
static struct policy_params msg_params;	/* the params of the config under test */

static void
msg_init(struct policy_msg *m, const struct config *cfg, const char *record, const char *data)
{
	account_free(msg_acct);
	msg_acct = NULL;
	if (record != NULL) {
		size_t tl = strlen(record) + 16;
		char *text = xmalloc(tl);

		snprintf(text, tl, "name=acme\n%s", record);
		msg_acct = account_parse(text, strlen(text));
		free(text);
	}
	memset(m, 0, sizeof(*m));
	if (cfg != NULL)
		policy_params_from_config(&msg_params, cfg);
	m->params = cfg != NULL ? &msg_params : NULL;
	m->account = "acme";
	m->acct = msg_acct ? &msg_acct->pol : NULL;
	m->sender = "app@acme.test";
	buf_init(&m->data, 0);
	buf_append_str(&m->data, data);
	buf_init(&m->verdicts, 0);
}

static void
msg_free(struct policy_msg *m)
{
	policy_msg_free(m);
	account_free(msg_acct);
	msg_acct = NULL;
}

/* Run the stage, then make m->data the final message (added fields
 * joined) so the checks below read what would be queued. */
static int
stage(struct policy_msg *m, struct outcome *o)
{
	struct buf final;
	int rc = dlp_policy_stage(m, o);

	buf_init(&final, 0);
	policy_msg_render(m, &final);
	buf_free(&m->data);
	m->data = final;
	policy_msg_free_headers(m);
	return rc;
}

static int
has(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* Count findings of every type left in a message, and its parts. */
struct rescan {
	struct dlp_findings f;
};

static void
rescan_cb(void *arg, const struct mime_part *p, const char *text, size_t len)
{
	dlp_scan(text, len, p->no, &((struct rescan *)arg)->f);
}

static size_t
findings_left(const struct buf *data, size_t *nparts)
{
	struct mime_limits lim = { 10, 500, 1 << 20 };
	struct rescan r;
	struct mime_parser *p;
	size_t n;

	dlp_findings_init(&r.f);
	p = mime_new(&lim, rescan_cb, &r);
	mime_feed(p, data->data, data->len);
	mime_finish(p);
	if (nparts)
		*nparts = mime_nparts(p);
	mime_free(p);
	n = r.f.count[DLP_CARD] + r.f.count[DLP_SSN] + r.f.count[DLP_IBAN];
	dlp_findings_free(&r.f);
	return n;
}

static size_t
longest_line(const struct buf *b)
{
	size_t i, col = 0, max = 0;

	for (i = 0; i < b->len; i++) {
		col = b->data[i] == '\n' ? 0 : col + 1;
		if (col > max)
			max = col;
	}
	return max;
}

/* Decoded text of part number NO (whole-buffer helpers). */
static void
part_text(const struct buf *data, unsigned no, struct buf *out)
{
	struct mime_limits lim = { 10, 500, 1 << 20 };
	struct mime_parser *p = mime_new(&lim, NULL, NULL);
	const struct mime_part *part;
	struct buf dec;

	mime_feed(p, data->data, data->len);
	mime_finish(p);
	part = mime_part_at(p, no - 1);
	buf_init(&dec, 0);
	if (part != NULL) {
		mime_decode(part->cte, data->data + part->body_start,
		    part->body_end - part->body_start, &dec);
		mime_to_text(dec.data ? dec.data : "", dec.len, part->charset, mime_text_flags(part), out, NULL);
	}
	buf_free(&dec);
	mime_free(p);
}

#define MIXED \
	"From: app@acme.test\r\n" \
	"Subject: Your card " CARD_SP "\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" \
	"\r\n" \
	"--b1\r\n" \
	"Content-Type: multipart/alternative; boundary=\"b2\"\r\n" \
	"\r\n" \
	"--b2\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Transfer-Encoding: quoted-printable\r\n" \
	"\r\n" \
	"Card: 4556 7375 86=\r\n" \
	"89 9855, SSN 536-22-1234 caf=C3=A9\r\n" \
	"--b2\r\n" \
	"Content-Type: text/html; charset=utf-8\r\n" \
	"\r\n" \
	"<p>Card: 4556 <b>7375</b> &#56;689&nbsp;9855</p>\r\n" \
	"--b2--\r\n" \
	"--b1\r\n" \
	"Content-Type: text/csv; name=\"list.csv\"\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"\r\n" \
	/* "name,card\nbob," CARD2 "\n" */ \
	"bmFtZSxjYXJkCmJvYiw1Mzc2NjIwNDk0MTcyMDE4Cg==\r\n" \
	"--b1--\r\n"

int
main(void)
{
	struct config *tag = conf(""), *rej = conf("dlp_action_card = reject\n"),
	    *hold = conf("dlp_action_card = hold\n"),
	    *red = conf("dlp_action_card = redact\ndlp_action_ssn = redact\n"),
	    *lim_hold = conf("mime_max_depth = 1\nmime_limit_action = hold\n"),
	    *lim_rej = conf("mime_max_depth = 1\n");
	struct policy_msg m;
	struct outcome o;
	struct buf t;
	size_t nparts = 0, before = 0;
	const char *plain = "Subject: hi\r\n\r\nPlease charge " CARD " today.\r\n";

	plan(39);
	ok(tag && rej && hold && red && lim_hold && lim_rej, "configs parse");

	/* tag (the default) */
	msg_init(&m, tag, NULL, plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK && !m.hold, "tag: accepted, not held");
	ok(strncmp(m.data.data, "X-Postern-DLP: card=1\r\n", 23) == 0, "tag: header with type and count");
	ok(has(&m.verdicts, "\"type\":\"card\"") && has(&m.verdicts, "\"action\":\"tag\"")
	    && m.verdicts.data[0] == '[' && m.verdicts.data[m.verdicts.len - 1] == ']',
	    "tag: verdict JSON");
	ok(!has(&m.verdicts, "9855") && !has(&m.verdicts, "4556"), "verdicts never hold the value");
	ok(has(&m.data, CARD), "tag: body unchanged");
	msg_free(&m);

	/* forged header removed; nothing found, nothing added */
	msg_init(&m, tag, NULL, "X-Postern-DLP: none\r\nSubject: x\r\n\r\nhello\r\n");
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK && strcmp(m.data.data, "Subject: x\r\n\r\nhello\r\n") == 0,
	    "client X-Postern-DLP removed, clean message untouched");
	ok(m.verdicts.len == 0, "no verdicts for a clean message");
	msg_free(&m);

	/* test cards are ignored by default */
	msg_init(&m, tag, NULL, "Subject: x\r\n\r\ntry 4111 1111 1111 1111\r\n");
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK && !has(&m.data, "X-Postern-DLP"), "card_test ignored by default");
	ok(has(&m.verdicts, "\"type\":\"card_test\"") && has(&m.verdicts, "\"action\":\"ignore\""),
	    "card_test still recorded as a verdict");
	msg_free(&m);

	/* reject */
	msg_init(&m, rej, NULL, plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_PERMFAIL && o.code == 550 && strcmp(o.enhanced, "5.7.1") == 0,
	    "reject: 550 5.7.1");
	ok(strstr(o.text, "card=1") != NULL && strstr(o.text, "9855") == NULL,
	    "reject text names the type, not the value: %s", o.text);
	msg_free(&m);

	/* account record overrides the global default */
	msg_init(&m, tag, "status=active\ndlp_action_card=reject\n", plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_PERMFAIL && o.code == 550, "account record: reject");
	msg_free(&m);
	msg_init(&m, rej, "dlp_action_card=ignore\n", plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK && !has(&m.data, "X-Postern-DLP"), "account record: ignore");
	msg_free(&m);
	msg_init(&m, rej, "dlp_action_card=bogus\n", plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_PERMFAIL, "bad account value falls back to the global action");
	msg_free(&m);

	/* hold */
	msg_init(&m, hold, NULL, plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK && m.hold == 1, "hold: m->hold set, outcome ok");
	ok(has(&m.verdicts, "\"action\":\"hold\""), "hold verdict");
	msg_free(&m);

	/* redact: plain */
	msg_init(&m, red, NULL, plain);
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK && !m.hold, "redact: accepted");
	ok(has(&m.data, "Please charge ************9855 today.") && !has(&m.data, CARD),
	    "redact plain: last four only");
	msg_free(&m);

	/* redact: QP, HTML, base64, Subject in one message */
	msg_init(&m, red, NULL, MIXED);
	before = findings_left(&m.data, &nparts);
	ok(before == 5, "mixed message has 5 findings before (got %zu)", before);
	stage(&m, &o);
	ok(o.kind == OUTCOME_OK, "redact mixed: accepted");
	is_int(findings_left(&m.data, &before), 0, "no card or SSN left anywhere");
	is_int(before, nparts, "same number of MIME parts");
	ok(longest_line(&m.data) <= 998, "lines <= 998");
	ok(has(&m.data, "Subject: Your card **** **** **** 9855\r\n"), "subject redacted");
	buf_init(&t, 0);
	part_text(&m.data, 3, &t);
	ok(has(&t, "Card: **** **** **** 9855, SSN ***-**-1234 caf\xc3\xa9"),
	    "QP part: number across a soft break redacted, rest intact");
	buf_reset(&t);
	part_text(&m.data, 4, &t);
	ok(has(&t, "Card: **** **** **** 9855"), "HTML part: split number redacted");
	ok(has(&m.data, "<p>Card: **** <b>****</b> ****&nbsp;9855</p>"), "HTML markup kept");
	buf_reset(&t);
	part_text(&m.data, 5, &t);
	ok(has(&t, "bob,************2018\n"), "base64 CSV part redacted and re-encoded");
	ok(has(&m.data, "Content-Transfer-Encoding: base64\r\n\r\nbmFt")
	    && has(&m.data, "\r\n--b1--\r\n"), "base64 kept, boundaries intact");
	ok(has(&m.data, "Content-Transfer-Encoding: quoted-printable\r\n\r\nCard: ****"),
	    "QP kept");
	buf_free(&t);
	msg_free(&m);

	/* redact one type, tag another */
	{
		struct config *mix = conf("dlp_action_card = redact\ndlp_action_ssn = tag\n");

		msg_init(&m, mix, NULL, "Subject: x\r\n\r\n" CARD " and SSN 536-22-1234\r\n");
		stage(&m, &o);
		ok(strncmp(m.data.data, "X-Postern-DLP: ssn=1\r\n", 22) == 0
		    && has(&m.data, "************9855 and SSN 536-22-1234"),
		    "card redacted, ssn tagged");
		msg_free(&m);
		config_free(mix);
	}

	/* non-ASCII subject is rewritten as encoded words */
	msg_init(&m, red, NULL, "Subject: =?UTF-8?Q?Caf=C3=A9_" CARD "?=\r\n\r\nx\r\n");
	stage(&m, &o);
	ok(has(&m.data, "Subject: =?UTF-8?B?") && findings_left(&m.data, NULL) == 0,
	    "encoded subject redacted");
	msg_free(&m);

	/* MIME limits */
	{
		const char *deep = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
		    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n";

		msg_init(&m, lim_hold, NULL, deep);
		stage(&m, &o);
		ok(o.kind == OUTCOME_OK && m.hold == 1 && has(&m.verdicts, "\"limit\":\"depth\""),
		    "depth limit: held");
		msg_free(&m);
		msg_init(&m, lim_rej, NULL, deep);
		stage(&m, &o);
		ok(o.kind == OUTCOME_PERMFAIL && o.code == 554, "depth limit: rejected (%d %s)",
		    o.code, o.text);
		msg_free(&m);
	}
	/* Issue 18: where the parser gives up is a limit, named in the reply. */
	{
		struct buf big;
		int i;

		buf_init(&big, 0);
		buf_append_str(&big, "Content-Type: multipart/mixed; boundary=\"");
		for (i = 0; i < 1000; i++)
			buf_append(&big, "b", 1);
		buf_append_str(&big, "\"\r\n\r\n--b\r\n\r\n" CARD "\r\n");
		msg_init(&m, lim_rej, NULL, big.data);
		stage(&m, &o);
		ok(o.kind == OUTCOME_PERMFAIL && o.code == 554 && strstr(o.text, "(boundary)") != NULL,
		    "boundary over 996 characters: rejected naming the limit (%d %s)", o.code, o.text);
		msg_free(&m);
		buf_reset(&big);
		buf_append_str(&big, "Subject: x");
		for (i = 0; i < 1000; i++)
			buf_printf(&big, "\r\n %070d", i);
		buf_append_str(&big, "\r\n\r\n" CARD "\r\n");
		msg_init(&m, lim_hold, NULL, big.data);
		stage(&m, &o);
		ok(o.kind == OUTCOME_OK && m.hold == 1 && has(&m.verdicts, "\"limit\":\"header_size\""),
		    "64 KiB of Subject: held, verdict names header_size");
		msg_free(&m);
		buf_free(&big);
	}

	/* through the stage runner */
	{
		const struct policy_stage stages[] = { { .name = "dlp", .run = dlp_policy_stage } };

		msg_init(&m, rej, NULL, plain);
		ok(policy_run(stages, 1, &m, &o) == -1 && o.code == 550, "policy_run stops on reject");
		msg_free(&m);
		msg_init(&m, tag, NULL, "Subject: x\r\n\r\nnothing here\r\n");
		ok(policy_run(stages, 1, &m, &o) == 0 && o.kind == OUTCOME_OK, "policy_run ok");
		msg_free(&m);
	}

	config_free(tag);
	config_free(rej);
	config_free(hold);
	config_free(red);
	config_free(lim_hold);
	config_free(lim_rej);
	return done();
}
