/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_parse: table tests for the pure parsers of smtp/parse.c
 * (command split, mailbox syntax, MAIL/RCPT arguments, xtext, base64,
 * UTF-8, BDAT) and for the DATA/BDAT scanner of smtp/data.c, which is
 * fed whole, one byte at a time and split at every position; all must
 * agree.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_int.h"
#include "tap.h"

static const struct {
	const char *addr;
	int utf8;
	int valid;
} mailboxes[] = {
	{ "a@example.com", 0, 1 },
	{ "first.last+tag@sub.example.co.uk", 0, 1 },
	{ "!#$%&'*+-/=?^_`{|}~@example.com", 0, 1 },
	{ "\"quoted string\"@example.com", 0, 1 },
	{ "\"q\\\"x\"@example.com", 0, 1 },
	{ "a@[192.0.2.1]", 0, 1 },
	{ "a@[IPv6:2001:db8::1]", 0, 1 },
	{ "a@[x-tag:stuff]", 0, 1 },
	{ "a@1.2.3.example", 0, 1 },
	{ "a@xn--bcher-kva.example", 0, 1 },
	{ "", 0, 0 },
	{ "a", 0, 0 },
	{ "@example.com", 0, 0 },
	{ "a@", 0, 0 },
	{ ".a@example.com", 0, 0 },
	{ "a.@example.com", 0, 0 },
	{ "a..b@example.com", 0, 0 },
	{ "a b@example.com", 0, 0 },
	{ "a(b)@example.com", 0, 0 },
	{ "a@exa mple.com", 0, 0 },
	{ "a@example..com", 0, 0 },
	{ "a@example.com.", 0, 0 },
	{ "a@-example.com", 0, 0 },
	{ "a@example-.com", 0, 0 },
	{ "a@exa_mple.com", 0, 0 },
	{ "a@[192.0.2.256]", 0, 0 },
	{ "a@[192.0.2]", 0, 0 },
	{ "a@[IPv6:zz::1]", 0, 0 },
	{ "a@[]", 0, 0 },
	{ "\"unterminated@example.com", 0, 0 },
	{ "\"a\"b@example.com", 0, 0 },
	{ "a@b@example.com", 0, 0 },
	{ "j\xc3\xb6rg@example.com", 0, 0 },
	{ "j\xc3\xb6rg@example.com", 1, 1 },
	{ "jorg@b\xc3\xbc" "cher.example", 1, 1 },
	{ "jorg@b\xc3\xbc" "cher.example", 0, 0 },
	{ "j\xc3(rg@example.com", 1, 0 },
	{ "j\xc0\xafrg@example.com", 1, 0 },	/* overlong */
	{ "j\xed\xa0\x80rg@example.com", 1, 0 },	/* surrogate */
	{ "a\x01@example.com", 0, 0 },
	{ "0123456789012345678901234567890123456789012345678901234567890123@example.com", 0, 1 },
	{ "01234567890123456789012345678901234567890123456789012345678901234@example.com", 0, 0 },
	{ "a@0123456789012345678901234567890123456789012345678901234567890123.example", 0, 0 },
};

struct mail_case {
	const char *arg;
	int code;		/* 0 = accepted */
	const char *enh;
	const char *addr;
	uint64_t size;
	int body, utf8, ret;
	const char *envid;
};

static const struct mail_case mails[] = {
	{ "FROM:<a@example.com>", 0, NULL, "a@example.com", 0, 0, 0, 0, NULL },
	{ "from:<a@example.com>", 0, NULL, "a@example.com", 0, 0, 0, 0, NULL },
	{ "FROM: <a@example.com>", 0, NULL, "a@example.com", 0, 0, 0, 0, NULL },
	{ "FROM:<>", 0, NULL, "", 0, 0, 0, 0, NULL },
	{ "FROM:<@r1.test,@r2.test:a@example.com>", 0, NULL, "a@example.com", 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SIZE=1000 BODY=8BITMIME", 0, NULL, "a@example.com", 1000, 2, 0, 0, NULL },
	{ "FROM:<a@example.com>  body=7bit  ret=full", 0, NULL, "a@example.com", 0, 1, 0, 1, NULL },
	{ "FROM:<\xc3\xa9@example.com> SMTPUTF8", 0, NULL, "\xc3\xa9@example.com", 0, 0, 1, 0, NULL },
	{ "FROM:<a@example.com> ENVID=abc+2Bdef+3D", 0, NULL, "a@example.com", 0, 0, 0, 0, "abc+def=" },
	{ "FROM:<a@example.com> AUTH=a+40example.com", 0, NULL, "a@example.com", 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SIZE=18446744073709551615", 0, NULL, "a@example.com", UINT64_MAX, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SIZE=18446744073709551616", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SIZE=", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SIZE=12a", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SIZE", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> SMTPUTF8=yes", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> RET=ALL", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> ENVID=a+0Db", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> ENVID=a+zz", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> ENVID=1 ENVID=2", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> BODY=BINARYMIME", 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> XFOO", 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com> =x", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com>SIZE=1", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:a@example.com", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a@example.com", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM <a@example.com>", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "TO:<a@example.com>", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:", 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<a b@example.com>", 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<\xc3\xa9@example.com>", 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<Postmaster>", 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ "FROM:<@r1.test:>", 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
};

struct rcpt_case {
	const char *arg;
	int utf8;
	int code;
	const char *enh;
	const char *addr;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_case rcpts[] = {
	{ "TO:<b@example.org>", 0, 0, NULL, "b@example.org", 0, NULL },
	{ "to:<Postmaster>", 0, 0, NULL, "Postmaster", 0, NULL },
	{ "TO:<postmaster@example.org>", 0, 0, NULL, "postmaster@example.org", 0, NULL },
	{ "TO:<b@example.org> NOTIFY=NEVER", 0, 0, NULL, "b@example.org", SMTP_NOTIFY_NEVER, NULL },
	{ "TO:<b@example.org> NOTIFY=DELAY,FAILURE", 0, 0, NULL, "b@example.org",
	  SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE, NULL },
	{ "TO:<b@example.org> ORCPT=rfc822;b+40example.org", 0, 0, NULL, "b@example.org", 0,
	  "rfc822;b+40example.org" },
	{ "TO:<\xc3\xa9@example.org>", 1, 0, NULL, "\xc3\xa9@example.org", 0, NULL },
	{ "TO:<\xc3\xa9@example.org>", 0, 501, "5.1.3", NULL, 0, NULL },
	{ "TO:<>", 0, 501, "5.1.3", NULL, 0, NULL },
	{ "TO:<b@example.org> NOTIFY=NEVER,DELAY", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> NOTIFY=", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> NOTIFY=SUCCESS,", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> NOTIFY=SUCCESS,SUCCESS", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> ORCPT=b@example.org", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> ORCPT=;b", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> ORCPT=rfc822;", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "TO:<b@example.org> SIZE=1", 0, 555, "5.5.4", NULL, 0, NULL },
	{ "TO:b@example.org", 0, 501, "5.5.4", NULL, 0, NULL },
	{ "FROM:<b@example.org>", 0, 501, "5.5.4", NULL, 0, NULL },
};

struct data_case {
	const char *name;
	int dotted, normalize;
	const char *in;
	size_t used;		/* octets consumed (DATA: through the terminator) */
	int end;
	const char *out;	/* NULL when an error is expected */
	enum smtp_data_error error;
};

static const struct data_case datas[] = {
	{ "simple", 1, 0, "a\r\nb\r\n.\r\nNEXT", 9, 1, "a\r\nb\r\n", SMTP_DATA_OK },
	{ "empty", 1, 0, ".\r\n", 3, 1, "", SMTP_DATA_OK },
	{ "empty line", 1, 0, "\r\n.\r\n", 5, 1, "\r\n", SMTP_DATA_OK },
	{ "unstuff", 1, 0, "..a\r\n..\r\n.b\r\n.\r\n", 16, 1, ".a\r\n.\r\nb\r\n", SMTP_DATA_OK },
	{ "not the end yet", 1, 0, "a\r\n.", 4, 0, "a\r\n", SMTP_DATA_OK },
	{ "bare LF", 1, 0, "a\nb\r\n.\r\n", 8, 1, NULL, SMTP_DATA_BARE },
	{ "bare CR", 1, 0, "a\rb\r\n.\r\n", 8, 1, NULL, SMTP_DATA_BARE },
	{ "LF.LF is no end", 1, 0, "a\n.\nb\r\n.\r\n", 10, 1, NULL, SMTP_DATA_BARE },
	{ "CR.CR is no end", 1, 0, "a\r.\rb\r\n.\r\n", 10, 1, NULL, SMTP_DATA_BARE },
	{ "LF.CRLF is no end", 1, 0, "a\n.\r\nb\r\n.\r\n", 11, 1, NULL, SMTP_DATA_BARE },
	{ "CRLF.LF is no end", 1, 0, "a\r\n.\nb\r\n.\r\n", 11, 1, NULL, SMTP_DATA_BARE },
	{ "CR.CRLF is no end", 1, 0, "a\r.\r\nb\r\n.\r\n", 11, 1, NULL, SMTP_DATA_BARE },
	{ "normalize LF.LF", 1, 1, "a\n.\nb\r\n.\r\n", 10, 1, "a\r\n.\r\nb\r\n", SMTP_DATA_OK },
	{ "normalize LF.CRLF", 1, 1, "a\n.\r\nb\r\n.\r\n", 11, 1, "a\r\n.\r\nb\r\n", SMTP_DATA_OK },
	{ "normalize CR.CR", 1, 1, "a\r.\rb\r\n.\r\n", 10, 1, "a\r\n.\r\nb\r\n", SMTP_DATA_OK },
	{ "normalize LF..", 1, 1, "a\n..x\r\n.\r\n", 10, 1, "a\r\n.x\r\n", SMTP_DATA_OK },
	{ "normalize CRCRLF", 1, 1, "a\r\r\n.\r\n", 7, 1, "a\r\n\r\n", SMTP_DATA_OK },
	{ "bdat raw", 0, 0, "a\r\n.\r\nb", 7, 0, "a\r\n.\r\nb", SMTP_DATA_OK },
	{ "bdat bare LF", 0, 0, "a\nb", 3, 0, NULL, SMTP_DATA_BARE },
	{ "bdat normalize", 0, 1, "a\nb\rc", 5, 0, "a\r\nb\r\nc", SMTP_DATA_OK },
	{ "8-bit and NUL pass", 1, 0, "\xff\x00\x80\r\n.\r\n", 8, 1, "\xff\x00\x80\r\n", SMTP_DATA_OK },
};

static size_t
data_inlen(const struct data_case *c)
{
	/* the NUL case has an embedded NUL */
	return strcmp(c->name, "8-bit and NUL pass") == 0 ? 8 : strlen(c->in);
}

static size_t
data_outlen(const struct data_case *c)
{
	return strcmp(c->name, "8-bit and NUL pass") == 0 ? 5 : strlen(c->out);
}

/* Feed C in pieces: STEP bytes at a time, or split once at SPLIT (STEP 0). */
static int
data_run(const struct data_case *c, size_t step, size_t split, struct buf *out,
    size_t *used, int *end, enum smtp_data_error *err)
{
	struct smtp_data d;
	size_t len = data_inlen(c), pos = 0;

	buf_init(out, 1 << 20);
	smtp_data_init(&d, out, c->dotted, c->normalize);
	*end = 0;
	while (pos < len && !*end) {
		size_t n = step ? step : (pos < split ? split - pos : len - pos);
		size_t u;
		if (n > len - pos)
			n = len - pos;
		u = smtp_data_feed(&d, c->in + pos, n, end);
		if (u != n && !*end)
			return -1;
		pos += u;
	}
	*used = pos;
	*err = d.error;
	return 0;
}

static int
data_check(const struct data_case *c, size_t step, size_t split)
{
	struct buf out;
	size_t used;
	int end, good;
	enum smtp_data_error err;

	if (data_run(c, step, split, &out, &used, &end, &err) != 0)
		return 0;
	good = used == c->used && end == c->end && err == c->error;
	if (good && c->out)
		good = out.len == data_outlen(c) && memcmp(out.data ? out.data : "", c->out, out.len) == 0;
	if (!good)
		diag("%s step=%zu split=%zu: used=%zu end=%d err=%d out=%zu", c->name, step, split,
		    used, end, (int)err, out.len);
	buf_free(&out);
	return good;
}

int
main(void)
{
	size_t i;
	int n = (int)(ARRAY_SIZE(mailboxes) + ARRAY_SIZE(mails) + ARRAY_SIZE(rcpts) +
	    ARRAY_SIZE(datas) * 2) + 36;

	plan(n);

	for (i = 0; i < ARRAY_SIZE(mailboxes); i++)
		is_int(smtp_mailbox_valid(mailboxes[i].addr, strlen(mailboxes[i].addr),
		    mailboxes[i].utf8) == 0, mailboxes[i].valid, "mailbox %s (utf8=%d)",
		    mailboxes[i].addr, mailboxes[i].utf8);

	for (i = 0; i < ARRAY_SIZE(mails); i++) {
		const struct mail_case *c = &mails[i];
		struct smtp_mail_args a;
		struct outcome o;
		int rc = smtp_parse_mail(c->arg, strlen(c->arg), &a, &o), good;

		if (c->code == 0)
			good = rc == 0 && strcmp(a.addr, c->addr) == 0 && a.size == c->size &&
			    (int)a.body == c->body && a.smtputf8 == c->utf8 && (int)a.ret == c->ret &&
			    (c->envid ? a.has_envid && strcmp(a.envid, c->envid) == 0 : !a.has_envid);
		else
			good = rc == -1 && o.code == c->code && strcmp(o.enhanced, c->enh) == 0;
		ok(good, "MAIL %s", c->arg);
		if (!good)
			diag("rc=%d code=%d %s %s", rc, o.code, o.enhanced, o.text);
	}

	for (i = 0; i < ARRAY_SIZE(rcpts); i++) {
		const struct rcpt_case *c = &rcpts[i];
		struct smtp_rcpt_args a;
		struct outcome o;
		int rc = smtp_parse_rcpt(c->arg, strlen(c->arg), c->utf8, &a, &o), good;

		if (c->code == 0)
			good = rc == 0 && strcmp(a.addr, c->addr) == 0 && a.notify == c->notify &&
			    (c->orcpt ? a.has_orcpt && strcmp(a.orcpt, c->orcpt) == 0 : !a.has_orcpt);
		else
			good = rc == -1 && o.code == c->code && strcmp(o.enhanced, c->enh) == 0;
		ok(good, "RCPT %s", c->arg);
		if (!good)
			diag("rc=%d code=%d %s %s", rc, o.code, o.enhanced, o.text);
	}

	/* The scanner: whole, byte at a time, and split at every position. */
	for (i = 0; i < ARRAY_SIZE(datas); i++) {
		size_t k, len = data_inlen(&datas[i]);
		int all = 1;

		ok(data_check(&datas[i], 0, len) && data_check(&datas[i], 1, 0),
		    "data %s: whole and byte at a time", datas[i].name);
		for (k = 1; k < len; k++)
			all &= data_check(&datas[i], 0, k);
		ok(all, "data %s: every split", datas[i].name);
	}

	/* Text line limit: 998 + CRLF passes, 999 does not; size cap. */
	{
		struct buf out;
		struct smtp_data d;
		char line[1100];
		int end;

		memset(line, 'x', sizeof(line));
		memcpy(line + 998, "\r\n", 2);
		buf_init(&out, 1 << 20);
		smtp_data_init(&d, &out, 1, 0);
		smtp_data_feed(&d, line, 1000, &end);
		is_int(d.error, SMTP_DATA_OK, "998 octets + CRLF is a valid line");
		memcpy(line + 998, "x\r\n", 3);
		smtp_data_feed(&d, line, 1001, &end);
		is_int(d.error, SMTP_DATA_LONG_LINE, "999 octets + CRLF is too long");
		ok(out.data == NULL && out.len == 0, "nothing is kept after an error");
		buf_free(&out);

		buf_init(&out, 10);
		smtp_data_init(&d, &out, 1, 0);
		smtp_data_feed(&d, "0123456789\r\n.\r\n", 15, &end);
		ok(d.error == SMTP_DATA_TOO_BIG && end == 1, "size cap; text still read to its end");
		buf_free(&out);

		buf_init(&out, 0);
		smtp_data_init(&d, &out, 0, 0);
		smtp_data_feed(&d, "abc\r", 4, &end);
		smtp_data_finish(&d);
		is_int(d.error, SMTP_DATA_BARE, "BDAT: trailing bare CR at the last chunk");
		buf_free(&out);
	}

	/* xtext, base64, UTF-8, BDAT, command split */
	{
		char x[16];
		unsigned char b[16];
		uint64_t sz;
		int last;
		struct smtp_cmd c;

		is_int(smtp_xtext_decode("a+2Bb", 5, x, sizeof(x)), 3, "xtext +2B");
		is_str(x, "a+b", "xtext decodes");
		is_int(smtp_xtext_decode("a+2b", 4, x, sizeof(x)), -1, "xtext: lower-case hex refused");
		is_int(smtp_xtext_decode("a=b", 3, x, sizeof(x)), -1, "xtext: '=' refused");
		is_int(smtp_xtext_decode("a+2", 3, x, sizeof(x)), -1, "xtext: short hexchar");
		is_int(smtp_xtext_decode("0123456789abcdef", 16, x, sizeof(x)), -1, "xtext: no overflow");
		is_int(smtp_base64_decode("AHVzZXIAcGFzcw==", 16, b, sizeof(b)), 10, "base64 with padding");
		ok(memcmp(b, "\0user\0pass", 10) == 0, "base64 decodes");
		is_int(smtp_base64_decode("AHVzZXIAcGFzcw", 14, b, sizeof(b)), -1, "base64: padding required");
		is_int(smtp_base64_decode("A=Vz", 4, b, sizeof(b)), -1, "base64: '=' inside");
		is_int(smtp_base64_decode("AB=C", 4, b, sizeof(b)), -1, "base64: data after '='");
		is_int(smtp_base64_decode("", 0, b, sizeof(b)), 0, "base64: empty");
		is_int(smtp_base64_decode("QUJDREVGR0hJSktMTU5PUFFS", 24, b, 16), -1, "base64: no overflow");
		ok(smtp_utf8_valid("\xe2\x82\xac\xf0\x9f\x98\x80", 7), "UTF-8 valid");
		ok(!smtp_utf8_valid("\xf4\x90\x80\x80", 4), "UTF-8 above U+10FFFF");
		ok(!smtp_utf8_valid("\xe2\x82", 2), "UTF-8 truncated");
		ok(!smtp_utf8_valid("\xe0\x80\xaf", 3), "UTF-8 overlong");
		ok(smtp_parse_bdat("100 LAST", 8, &sz, &last) == 0 && sz == 100 && last == 1, "BDAT 100 LAST");
		ok(smtp_parse_bdat("0", 1, &sz, &last) == 0 && sz == 0 && last == 0, "BDAT 0");
		ok(smtp_parse_bdat("100 last", 8, &sz, &last) == 0 && last == 1, "BDAT last (case)");
		is_int(smtp_parse_bdat("100 FIRST", 9, &sz, &last), -1, "BDAT bad keyword");
		is_int(smtp_parse_bdat("-1", 2, &sz, &last), -1, "BDAT negative");
		is_int(smtp_parse_bdat("", 0, &sz, &last), -1, "BDAT empty");
		is_int(smtp_parse_bdat("99999999999999999999999", 23, &sz, &last), -1, "BDAT overflow");
		ok(smtp_parse_command("mail FROM:<a@b>  ", 17, &c) == 0 && c.verb == SMTP_V_MAIL &&
		    c.arglen == 10 && memcmp(c.arg, "FROM:<a@b>", 10) == 0, "command split, trailing spaces");
		ok(smtp_parse_command("STARTTLS", 8, &c) == 0 && c.verb == SMTP_V_STARTTLS &&
		    c.arglen == 0, "STARTTLS");
		ok(smtp_parse_command("MAILX", 5, &c) == 0 && c.verb == SMTP_V_UNKNOWN, "MAILX is unknown");
		ok(smtp_parse_command("", 0, &c) == 0 && c.verb == SMTP_V_UNKNOWN, "empty line");
		is_int(smtp_parse_command("NOOP\0", 5, &c), -1, "NUL refused");
		is_int(smtp_parse_command("NOOP\r", 5, &c), -1, "CR refused");
		ok(smtp_parse_command("NOOP\tx", 6, &c) == 0, "HT allowed");
	}
	return done();
}
