/* SPDX-License-Identifier: ISC */
/*
 * fuzz_report.c: libFuzzer target for what the feedback listener and
 * the one-click endpoint parse (issue 14): report_parse() (DSN and ARF,
 * policy/report.c) on the input, and token_check() of both kinds on
 * every 39-byte window of its start.  Checks the parser's promises:
 * the type matches the fields it filled (status only for a DSN with a
 * failed recipient, feedback type only for ARF), found tokens are 39
 * lower-case alphanumerics, and output strings are NUL-terminated.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_token(const char *t)
{
	size_t i, n = strnlen(t, TOKEN_LEN + 1);

	if (n != 0 && n != TOKEN_LEN)
		abort();
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) || isupper((unsigned char)t[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report r;
	char msgid[21];
	uint32_t no;
	size_t i;

	if (!token_have_key())
		token_set_key((const unsigned char *)"fuzz master key", 15);
	report_parse((const char *)data, size, &r);
	if (strnlen(r.status, sizeof(r.status)) == sizeof(r.status) ||
	    strnlen(r.feedback_type, sizeof(r.feedback_type)) == sizeof(r.feedback_type))
		abort();
	if ((r.status[0] || r.failed) && r.type != REPORT_DSN)
		abort();
	if (r.failed != (r.status[0] != '\0'))
		abort();
	if (r.feedback_type[0] && r.type != REPORT_ARF)
		abort();
	check_token(r.btoken);
	check_token(r.utoken);
	for (i = 0; i + TOKEN_LEN <= size && i < 64; i++) {
		(void)token_check(TOKEN_BOUNCE, (const char *)data + i, TOKEN_LEN, msgid, &no);
		(void)token_check(TOKEN_UNSUBSCRIBE, (const char *)data + i, TOKEN_LEN, msgid, &no);
	}
	return 0;
}
