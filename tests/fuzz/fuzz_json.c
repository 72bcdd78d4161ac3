/* SPDX-License-Identifier: ISC */
/*
 * fuzz_json.c: libFuzzer target for the JSON parser that reads every
 * control-socket request (src/json.c).  Arbitrary bytes must either
 * parse or fail with a message, never crash, recurse without bound or
 * leak; whatever parses is written back with the JSON writer and must
 * parse again to a tree that writes back identically (round trip).
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_value *v, *v2;
	struct json_out j;
	struct buf a, b;
	char err[128];

	if ((v = json_parse((const char *)data, size, err, sizeof(err))) == NULL)
		return 0;
	buf_init(&a, 0);
	json_out_init(&j, &a);
	json_write_value(&j, v);
	v2 = json_parse(a.data, a.len, err, sizeof(err));
	if (v2 == NULL)
		abort();	/* our own output must parse */
	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_write_value(&j, v2);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();	/* and be stable */
	(void)json_get_str(v, "cmd", NULL);
	(void)json_has_nul(v);	/* strings may hold NUL (\u0000), keys never */
	(void)json_get(v, "args");
	buf_free(&a);
	buf_free(&b);
	json_free(v);
	json_free(v2);
	return 0;
}
