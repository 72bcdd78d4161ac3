/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_reply: the client-side reply parser, table-driven; every
 * case is fed whole and then one byte at a time, and must give the same
 * replies.  Also pipelined streams (several replies in one read), the
 * EHLO keyword reader, formatting into outcomes, and the limits.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "smtp_reply.h"
#include "tap.h"
#include "util.h"

struct reply_case {
	const char *in;
	int status;		/* after feeding everything: 1 done, 0 more, -1 error */
	int code;
	const char *enhanced;
	size_t nlines;
	const char *formatted;	/* smtp_reply_format() */
};

static const struct reply_case cases[] = {
	{ "220 mx.example.test ESMTP\r\n", 1, 220, "", 1, "220 mx.example.test ESMTP" },
	{ "250 2.1.0 Ok\r\n", 1, 250, "2.1.0", 1, "250 2.1.0 Ok" },
	{ "250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 1, 250, "", 3,
	  "250 mx.example.test PIPELINING SIZE 1000" },
	{ "550-5.1.1 no such\r\n550-5.1.1 user\r\n550 5.1.1 here\r\n", 1, 550, "5.1.1", 3,
	  "550 5.1.1 no such user here" },
	{ "250\r\n", 1, 250, "", 1, "250 " },
	{ "250 \r\n", 1, 250, "", 1, "250 " },
	{ "421 4.3.2 shutting down\n", 1, 421, "4.3.2", 1, "421 4.3.2 shutting down" },
	{ "550 4.1.1 class mismatch\r\n", 1, 550, "", 1, "550 4.1.1 class mismatch" },
	{ "250 2.1.0x not enhanced\r\n", 1, 250, "", 1, "250 2.1.0x not enhanced" },
	{ "250 2.1234.0 too long\r\n", 1, 250, "", 1, "250 2.1234.0 too long" },
	{ "354 End data with <CR><LF>.<CR><LF>\r\n", 1, 354, "", 1,
	  "354 End data with <CR><LF>.<CR><LF>" },
	{ "250-first\r\n", 0, 0, NULL, 0, NULL },
	{ "250 no line end", 0, 0, NULL, 0, NULL },
	{ "", 0, 0, NULL, 0, NULL },
	{ "hello\r\n", -1, 0, NULL, 0, NULL },
	{ "25\r\n", -1, 0, NULL, 0, NULL },
	{ "2500 x\r\n", -1, 0, NULL, 0, NULL },
	{ "199 too low\r\n", -1, 0, NULL, 0, NULL },
	{ "600 too high\r\n", -1, 0, NULL, 0, NULL },
	{ "250-a\r\n251 b\r\n", -1, 0, NULL, 0, NULL },
	{ "250_x\r\n", -1, 0, NULL, 0, NULL },
	{ "\r\n", -1, 0, NULL, 0, NULL },
};

/* Feed IN in pieces of STEP bytes (0 = whole); collect the first reply. */
static int
feed(const char *in, size_t len, size_t step, struct smtp_reply *r, size_t *consumed)
{
	struct smtp_reply_parser p;
	size_t pos = 0;
	int st = SMTP_REPLY_MORE;

	smtp_reply_parser_init(&p);
	while (pos < len && st == SMTP_REPLY_MORE) {
		size_t n = step ? (len - pos < step ? len - pos : step) : len - pos, used;
		st = smtp_reply_parse(&p, in + pos, n, &used, r);
		pos += used;
		if (st == SMTP_REPLY_MORE && used != n)
			st = -2;	/* must consume everything while incomplete */
	}
	*consumed = pos;
	smtp_reply_parser_free(&p);
	return st;
}

static void
test_cases(void)
{
	size_t i, step;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct reply_case *c = &cases[i];
		for (step = 0; step <= 1; step++) {
			struct smtp_reply r;
			char fmt[1024];
			size_t used;
			int st, good;

			smtp_reply_init(&r);
			st = feed(c->in, strlen(c->in), step, &r, &used);
			good = st == c->status;
			if (good && st == 1) {
				smtp_reply_format(&r, fmt, sizeof(fmt));
				good = r.code == c->code && strcmp(r.enhanced, c->enhanced) == 0 &&
				    r.nlines == c->nlines && strcmp(fmt, c->formatted) == 0 &&
				    used == strlen(c->in);
				if (!good)
					diag("code %d enh '%s' lines %zu fmt '%s'", r.code,
					    r.enhanced, r.nlines, fmt);
			}
			if (!good)
				diag("status %d", st);
			ok(good, "case %zu %s: %.30s", i, step ? "bytewise" : "whole", c->in);
			smtp_reply_free(&r);
		}
	}
}

/* Pipelined replies arriving in one read come out one at a time (RFC 2920). */
static void
test_pipelined(void)
{
	const char *in = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550-5.1.1 no\r\n550 5.1.1 user\r\n354 go\r\n";
	static const int want[] = { 250, 250, 550, 354 };
	size_t step, len = strlen(in);

	for (step = 0; step <= 1; step++) {
		struct smtp_reply_parser p;
		struct smtp_reply r;
		size_t pos = 0, got = 0;
		int good = 1;

		smtp_reply_parser_init(&p);
		smtp_reply_init(&r);
		while (pos < len) {
			size_t n = step ? 1 : len - pos, used;
			int st = smtp_reply_parse(&p, in + pos, n, &used, &r);
			pos += used;
			if (st == SMTP_REPLY_ERROR) {
				good = 0;
				break;
			}
			if (st == SMTP_REPLY_DONE) {
				if (got >= ARRAY_SIZE(want) || r.code != want[got])
					good = 0;
				got++;
			}
		}
		ok(good && got == 4, "pipelined stream %s: %zu replies", step ? "bytewise" : "whole", got);
		smtp_reply_free(&r);
		smtp_reply_parser_free(&p);
	}
}

static void
test_limits(void)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	struct buf big;
	size_t used, i;
	int st;

	buf_init(&big, 0);
	buf_append_str(&big, "250 ");
	for (i = 0; i < SMTP_REPLY_LINE_MAX; i++)
		buf_append(&big, "x", 1);
	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	st = smtp_reply_parse(&p, big.data, big.len, &used, &r);
	ok(st == SMTP_REPLY_ERROR, "overlong line is an error, not buffered");
	smtp_reply_parser_free(&p);

	buf_reset(&big);
	for (i = 0; i < SMTP_REPLY_MAX_LINES + 1; i++)
		buf_append_str(&big, "250-x\r\n");
	buf_append_str(&big, "250 end\r\n");
	smtp_reply_parser_init(&p);
	st = smtp_reply_parse(&p, big.data, big.len, &used, &r);
	ok(st == SMTP_REPLY_ERROR, "too many lines is an error");
	smtp_reply_parser_free(&p);
	smtp_reply_free(&r);
	buf_free(&big);
}

static void
test_ehlo(void)
{
	const char *in = "250-mx.example.test greets you\r\n250-PIPELINING\r\n"
	    "250-size 10240000\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-DSN\r\n"
	    "250-AUTH=LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n"
	    "250-PIPELININGX\r\n250 CHUNKING\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	struct smtp_ehlo e;
	size_t used;

	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	smtp_reply_parse(&p, in, strlen(in), &used, &r);
	smtp_ehlo_parse(&r, &e);
	is_int(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
	    SMTP_EXT_STARTTLS | SMTP_EXT_DSN | SMTP_EXT_AUTH | SMTP_EXT_ENHANCEDSTATUSCODES |
	    SMTP_EXT_SMTPUTF8 | SMTP_EXT_CHUNKING, "EHLO keywords, case-insensitive");
	is_int(e.size, 10240000, "SIZE value");

	in = "250-greeting PIPELINING STARTTLS\r\n250 SIZE\r\n";
	smtp_reply_parse(&p, in, strlen(in), &used, &r);
	smtp_ehlo_parse(&r, &e);
	is_int(e.ext, SMTP_EXT_SIZE, "keywords on the greeting line are ignored; SIZE without value");
	is_int(e.size, 0, "SIZE without value is no limit");
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

static void
test_outcome(void)
{
	const char *in = "452-4.2.2 mailbox\r\n452 4.2.2 full\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	struct outcome o;
	size_t used;

	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	smtp_reply_parse(&p, in, strlen(in), &used, &r);
	smtp_reply_outcome(&r, &o);
	ok(o.kind == OUTCOME_TEMPFAIL && o.code == 452 && strcmp(o.enhanced, "4.2.2") == 0,
	    "4xx reply becomes a tempfail with its enhanced code");
	is_str(o.text, "mailbox full", "outcome text without the enhanced codes");
	in = "554 no thanks\r\n";
	smtp_reply_parse(&p, in, strlen(in), &used, &r);
	smtp_reply_outcome(&r, &o);
	ok(o.kind == OUTCOME_PERMFAIL && strcmp(o.enhanced, "5.0.0") == 0,
	    "5xx without enhanced code gets 5.0.0");
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

int
main(void)
{
	plan((int)ARRAY_SIZE(cases) * 2 + 2 + 2 + 4 + 3);
	test_cases();
	test_pipelined();
	test_limits();
	test_ehlo();
	test_outcome();
	return done();
}
