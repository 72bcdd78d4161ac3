/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dlp.c: libFuzzer target for the sensitive-data detectors and the
 * text conversion under them (issue 18).  The first byte picks a
 * charset and the MIME_TEXT_ flags; the rest is a decoded part body.
 * It is turned into text by mime_to_text() (with its map, which must
 * point inside the input and never backwards by more than a character),
 * the text is scanned (so the ASCII pass, its give-up and the folding
 * pass all run), and every finding must lie inside the text and mask to
 * no more than four visible digits.  The raw bytes are scanned as well,
 * whole and as a prefix, so a NUL or a non-ASCII byte anywhere is seen.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dlp.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *text, size_t len)
{
	struct dlp_findings f;
	char m[64];
	size_t i, k, digits;

	dlp_findings_init(&f);
	dlp_scan(text, len, 1, &f);
	for (i = 0; i < f.n; i++) {
		if (f.v[i].offset > len || f.v[i].len > len - f.v[i].offset || f.v[i].len == 0)
			abort();
		dlp_mask(text, len, &f.v[i], m, sizeof(m));
		for (k = digits = 0; m[k] != '\0'; k++)
			digits += m[k] >= '0' && m[k] <= '9';
		if (f.v[i].type != DLP_IBAN && digits > 4)
			abort();
	}
	dlp_findings_free(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum mime_charset cs[] = {
		MIME_CS_UTF8, MIME_CS_LATIN1, MIME_CS_CP1252, MIME_CS_UTF16, MIME_CS_UTF16LE,
		MIME_CS_UTF16BE, (enum mime_charset)(MIME_CS_SBCS + 0),
		(enum mime_charset)(MIME_CS_SBCS + 15),
	};
	struct buf text;
	size_t *map = NULL, i;
	unsigned sel;

	if (size < 1 || size > 1 << 18)
		return 0;
	sel = data[0];
	buf_init(&text, 0);
	mime_to_text((const char *)data + 1, size - 1, cs[sel % 8], (sel >> 3) & 7, &text, &map);
	for (i = 0; i < text.len; i++)
		if (map[i] >= size - 1)
			abort();	/* every output byte comes from an input byte */
	check(text.data ? text.data : "", text.len);
	check((const char *)data + 1, size - 1);
	check((const char *)data + 1, (size - 1) / 2);
	free(map);
	buf_free(&text);
	return 0;
}
