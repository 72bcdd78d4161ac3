/* SPDX-License-Identifier: ISC */
/*
 * fuzz_review_view.c: libFuzzer target for the reviewer's masked view
 * of a stored message and its fingerprint (policy/review_view.c, issue
 * 16).  Builds the view of the input in both address modes; the output
 * must be valid JSON (it is parsed back) and must contain no card
 * number that the scanner finds whole: the view is scanned again and
 * every finding in it must be masked (no finding at all may be left).
 * Small MIME limits so the depth, part and size limits are reached.
 * Also strips expired DKIM-Signature fields from the input (the release
 * re-signing path), which may only ever shorten it.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dlp.h"
#include "json.h"
#include "mime.h"
#include "review.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
view(const uint8_t *data, size_t size, int pseudonym)
{
	static const struct mime_limits lim = { 4, 32, 1 << 16 };
	struct review_view_opts o = { &lim, pseudonym, 4096 };
	struct json_value *v;
	struct json_out j;
	struct dlp_findings f;
	struct buf out;

	buf_init(&out, 0);
	json_out_init(&j, &out);
	json_obj_begin(&j);
	review_masked_view((const char *)data, size, &o, &j);
	json_obj_end(&j);
	if ((v = json_parse(out.data, out.len, NULL, 0)) == NULL)
		abort();	/* the view is always valid JSON */
	json_free(v);
	dlp_findings_init(&f);
	dlp_scan(out.data, out.len, 1, &f);
	if (f.count[DLP_CARD] > 0 || f.count[DLP_SSN] > 0)
		abort();	/* nothing the detectors recognise survives the mask */
	dlp_findings_free(&f);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf m;

	if (size > 1 << 18)
		return 0;
	view(data, size, 0);
	view(data, size, 1);
	(void)review_fingerprint((const char *)data, size, NULL);
	buf_init(&m, 0);
	review_mask_text((const char *)data, size, 0, &m, NULL);
	buf_free(&m);
	/* the DKIM-Signature fields a hold outlived: never grows the text */
	buf_init(&m, 0);
	buf_append(&m, data, size);
	(void)review_strip_expired_dkim(&m, (uint64_t)1 << 40);
	if (m.len > size)
		abort();
	buf_free(&m);
	return 0;
}
