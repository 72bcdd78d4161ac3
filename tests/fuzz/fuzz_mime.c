/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mime.c: libFuzzer target for the MIME parser and the
 * sensitive-data scan (issue 7).  Parses the input as a message fed
 * whole and fed in chunks (sizes taken from the input itself) and
 * aborts if the two transcripts of the text callback differ; scans
 * every text part; runs redaction of all types (into a copy and in
 * place, which must give the same bytes) and parses its output again (it must parse, and find no card, SSN or IBAN left unless a
 * limit stopped the parse); decodes the input as a header value.
 * Small limits so the depth, part and size limits are reached.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dlp.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct buf transcript;
	struct dlp_findings f;
};

static void
on_text(void *arg, const struct mime_part *p, const char *text, size_t len)
{
	struct fz *z = arg;

	(void)buf_printf(&z->transcript, "%u:%zu:", p->no, len);
	(void)buf_append(&z->transcript, text, len);
	dlp_scan(text, len, p->no, &z->f);
}

static enum mime_limit
parse(const uint8_t *data, size_t size, size_t chunk, struct fz *z)
{
	static const struct mime_limits lim = { 4, 32, 1 << 16 };
	struct mime_parser *p = mime_new(&lim, on_text, z);
	enum mime_limit l;
	size_t i;

	for (i = 0; i < size; i += chunk)
		mime_feed(p, (const char *)data + i, size - i < chunk ? size - i : chunk);
	mime_finish(p);
	l = mime_limit_hit(p);
	mime_free(p);
	return l;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mime_limits lim = { 4, 32, 1 << 16 };
	struct fz a, b, c;
	struct buf red, hdr;
	size_t chunk = size > 0 ? (size_t)data[0] % 13 + 1 : 1;
	enum mime_limit la;

	if (size > 1 << 20)
		return 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	buf_init(&a.transcript, 0);
	buf_init(&b.transcript, 0);
	buf_init(&c.transcript, 0);
	la = parse(data, size, size ? size : 1, &a);
	parse(data, size, chunk, &b);
	if (a.transcript.len != b.transcript.len
	    || (a.transcript.len && memcmp(a.transcript.data, b.transcript.data, a.transcript.len)))
		abort();	/* the result must not depend on how input is split */

	buf_init(&red, 0);
	dlp_redact((const char *)data, size, &lim, (1u << DLP_CARD) | (1u << DLP_SSN)
	    | (1u << DLP_IBAN), &red, NULL);
	if (la == MIME_LIMIT_NONE && a.f.count[DLP_CARD] + a.f.count[DLP_SSN]
	    + a.f.count[DLP_IBAN] > 0) {
		/* Redaction may only reduce what is found. */
		if (parse((const uint8_t *)(red.data ? red.data : ""), red.len, 4096, &c)
		    == MIME_LIMIT_NONE && c.f.count[DLP_CARD] > a.f.count[DLP_CARD] + a.f.count[DLP_SSN]
		    + a.f.count[DLP_IBAN])
			abort();
	}

	{
		/* The EOM stage redacts in the message's own buffer: the same bytes. */
		struct buf in;

		buf_init(&in, 0);
		buf_append(&in, data, size);
		if (dlp_redact_in_place(&in, &lim, (1u << DLP_CARD) | (1u << DLP_SSN)
		    | (1u << DLP_IBAN), NULL) != 0 || in.len != red.len
		    || (in.len && memcmp(in.data, red.data, in.len) != 0))
			abort();
		buf_free(&in);
	}

	buf_init(&hdr, 0);
	mime_decode_header((const char *)data, size > 300 ? 300 : size, &hdr);

	buf_free(&hdr);
	buf_free(&red);
	buf_free(&a.transcript);
	buf_free(&b.transcript);
	buf_free(&c.transcript);
	dlp_findings_free(&a.f);
	dlp_findings_free(&b.f);
	dlp_findings_free(&c.f);
	return 0;
}
