/* SPDX-License-Identifier: ISC */
/*
 * fuzz_journal: libFuzzer target for the erasure journal's parsers
 * (queue/journal.c), which `posternctl restore` runs on a file that may
 * be damaged or torn: the header id reader and the line parser after
 * an offset taken from the first input byte.  Must never crash or read
 * past the input.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "queue_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[40];
	size_t n = 0, off;
	struct erasure *e;

	if (size < 1)
		return 0;
	off = data[0] % 64;
	data++;
	size--;
	(void)journal_read_id((const char *)data, size, id, sizeof(id));
	e = journal_after((const char *)data, size, off, &n);
	free(e);
	return 0;
}
