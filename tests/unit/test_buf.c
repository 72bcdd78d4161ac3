/* SPDX-License-Identifier: ISC */
/* test_buf: growth, the hard cap, consume and steal of struct buf. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "tap.h"

int
main(void)
{
	struct buf b;
	char *s;
	size_t len;
	int i, rc = 0;

	plan(10);
	buf_init(&b, 16);
	ok(buf_append(&b, "0123456789", 10) == 0, "append within cap");
	ok(buf_append(&b, "abcdef", 6) == 0, "append up to cap exactly");
	is_int(b.len, 16, "length is 16");
	ok(buf_append(&b, "x", 1) == -1, "append past cap fails");
	is_int(b.len, 16, "failed append leaves buffer unchanged");
	ok(buf_reserve(&b, SIZE_MAX) == -1, "reserve SIZE_MAX fails without overflow");
	buf_consume(&b, 10);
	is_mem(b.data, b.len, "abcdef", 6, "consume drops the prefix");
	buf_reset(&b);
	b.max = 1 << 20;
	for (i = 0; i < 1000; i++)
		rc |= buf_printf(&b, "%04d", i);
	ok(rc == 0 && b.len == 4000 && memcmp(b.data + 3996, "0999", 4) == 0,
	    "printf grows the buffer");
	s = buf_steal(&b, &len);
	is_int(len, 4000, "steal returns the length");
	ok(b.data == NULL && b.len == 0, "steal empties the buffer");
	free(s);
	buf_free(&b);
	return done();
}
