/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_reply: libFuzzer target for the client's reply parser and
 * the EHLO keyword reader.  The input is fed in pieces whose sizes come
 * from the first byte, so both whole and split reads are exercised;
 * every complete reply is formatted, turned into an outcome and read as
 * an EHLO reply.  Whatever a server sends must never crash, hang or
 * make the parser buffer past its caps.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>

#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t step, pos = 1;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 16);
	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	while (pos < size) {
		size_t n = step && size - pos > step ? step : size - pos, used;
		enum smtp_reply_status st;

		st = smtp_reply_parse(&p, (const char *)data + pos, n, &used, &r);
		pos += used;
		if (st == SMTP_REPLY_ERROR)
			break;
		if (st == SMTP_REPLY_DONE) {
			char line[600];
			struct outcome o;
			struct smtp_ehlo e;

			smtp_reply_format(&r, line, sizeof(line));
			smtp_reply_outcome(&r, &o);
			smtp_ehlo_parse(&r, &e);
		} else if (used == 0) {
			break;
		}
	}
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
	return 0;
}
