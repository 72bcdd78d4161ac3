/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_cmd: libFuzzer target for the pure SMTP command parsers of
 * smtp/parse.c: the command split, then the argument as MAIL, RCPT
 * (with and without SMTPUTF8) and BDAT, the mailbox check, xtext, base64
 * and UTF-8.  Checks invariants on what is accepted: addresses are
 * NUL-free, within the RFC 5321 length limits and valid mailboxes;
 * errors always come with a 5xx reply.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const char *addr, int utf8, int null_ok)
{
	size_t n = strlen(addr);

	if (n > SMTP_PATH_MAX - 2)
		abort();
	if (n == 0 && !null_ok)
		abort();
	if (n > 0 && strcmp(addr, "Postmaster") != 0 && smtp_mailbox_valid(addr, n, utf8) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct smtp_cmd c;
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	struct outcome o;
	char x[128];
	unsigned char b[128];
	uint64_t sz;
	int last;

	if (smtp_parse_command(p, size, &c) == 0) {
		if (c.arg < p || c.arg + c.arglen > p + size)
			abort();
		if (smtp_parse_mail(c.arg, c.arglen, &m, &o) == 0)
			check_addr(m.addr, m.smtputf8, 1);
		else if (o.code < 500 || o.code > 599)
			abort();
		if (smtp_parse_rcpt(c.arg, c.arglen, 0, &r, &o) == 0)
			check_addr(r.addr, 0, 0);
		if (smtp_parse_rcpt(c.arg, c.arglen, 1, &r, &o) == 0)
			check_addr(r.addr, 1, 0);
		(void)smtp_parse_bdat(c.arg, c.arglen, &sz, &last);
	}
	(void)smtp_mailbox_valid(p, size, size & 1);
	if (smtp_xtext_decode(p, size, x, sizeof(x)) > (int)sizeof(x) - 1)
		abort();
	if (smtp_base64_decode(p, size, b, sizeof(b)) > (int)sizeof(b))
		abort();
	(void)smtp_utf8_valid(p, size);
	return 0;
}
