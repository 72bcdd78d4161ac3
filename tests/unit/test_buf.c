/* SPDX-License-Identifier: ISC */
/* test_buf: growth, the hard cap, consume and steal of struct buf; the
 * one-pass printf and the in-place append at the edges of the storage
 * and of the cap (issue 20). */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

int
main(void)
{
	struct buf b;
	char *s;
	size_t len;
	int i, rc = 0;

	plan(16);
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
	{
		/* buf_printf writes in the room there is, else grows and
		 * writes again; the cap holds either way */
		struct buf c;
		char x63[64], x64[65];

		memset(x63, 'a', 63);
		x63[63] = '\0';
		memset(x64, 'b', 64);
		x64[64] = '\0';
		buf_init(&c, 16);
		rc = buf_append(&c, "0123456789", 10);
		ok(rc == 0 && buf_printf(&c, "%s", "abcdefg") == -1 && c.len == 10 &&
		    c.data[10] == '\0' && memcmp(c.data, "0123456789", 10) == 0,
		    "printf past the cap (the storage had room) fails, buffer unchanged");
		ok(buf_printf(&c, "%s", "abcdef") == 0 && c.len == 16 &&
		    memcmp(c.data, "0123456789abcdef", 17) == 0, "printf up to the cap exactly");
		buf_free(&c);
		buf_init(&c, 0);
		(void)buf_append(&c, "", 0);	/* 64 octets of storage */
		ok(buf_printf(&c, "%s", x63) == 0 && c.len == 63 && c.data[63] == '\0' &&
		    c.data[62] == 'a', "printf filling the storage to its last octet");
		ok(buf_printf(&c, "%s", x64) == 0 && c.len == 127 && c.data[127] == '\0' &&
		    c.data[63] == 'b' && c.data[126] == 'b', "printf that does not fit grows once");
		buf_reset(&c);
		while (c.len + 1 < c.cap)
			(void)buf_append(&c, "z", 1);
		ok(c.len + 1 == c.cap && buf_append(&c, "yy", 2) == 0 && c.len + 1 <= c.cap &&
		    memcmp(c.data + c.len - 3, "zyy", 4) == 0, "append at the edge of the storage grows");
		buf_free(&c);
		buf_init(&c, 5);
		ok(buf_append(&c, "abcde", 5) == 0 && buf_append(&c, "", 0) == 0 &&
		    buf_append(&c, "f", 1) == -1 && c.len == 5 && c.data[5] == '\0',
		    "in-place append stops at the cap, not the storage");
		buf_free(&c);
	}
	s = buf_steal(&b, &len);
	is_int(len, 4000, "steal returns the length");
	ok(b.data == NULL && b.len == 0, "steal empties the buffer");
	free(s);
	buf_free(&b);
	return done();
}
