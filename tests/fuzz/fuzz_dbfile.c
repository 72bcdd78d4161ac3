/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dbfile.c: libFuzzer target for the checks that read data.mdb
 * before LMDB maps it (queue/dbfile.c, issue 12 item 3).  The input is
 * a whole file image: the meta-page check and, when it passes, the walk
 * of every tree page must accept it or refuse it with a message, never
 * read outside the image, loop or crash.  Seeds are small real queues
 * (compacted copies) and damaged variants of them.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "queue_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct image {
	const uint8_t *data;
	size_t size;
};

static int
image_read(void *arg, uint64_t off, void *buf, size_t n)
{
	const struct image *im = arg;

	if (off > im->size || n > im->size - off)
		return -1;
	memcpy(buf, im->data + off, n);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image im = { data, size };
	struct dbfile_meta m;
	uint64_t pages;
	char err[256];

	if (dbfile_check_meta(image_read, &im, size, &m, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			__builtin_trap();	/* a refusal always says why */
		return 0;
	}
	err[0] = '\0';
	if (dbfile_walk(image_read, &im, &m, &pages, err, sizeof(err)) != 0 && err[0] == '\0')
		__builtin_trap();
	return 0;
}
