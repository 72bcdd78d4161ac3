/* SPDX-License-Identifier: ISC */
/*
 * fuzz_account.c: libFuzzer target for the stored account record
 * (src/account.c).  Arbitrary bytes go to account_parse(); an accepted
 * record must format and re-parse to the very same text (the record is
 * read-modify-written by posternctl, so a lossy round trip would
 * corrupt accounts), and the sender check and override setter run on
 * the input's first line.  Password verification is driven only with
 * malformed hashes here: a well-formed one runs scrypt by design.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct account *a, *b;
	char *t1, *t2, line[256];
	size_t l1, l2, n;

	n = 0;
	while (n < size && n < sizeof(line) - 1 && data[n] != '\n' && data[n] != '\0')
		n++;
	memcpy(line, data, n);
	line[n] = '\0';

	a = account_parse((const char *)data, size);
	if (a != NULL) {
		t1 = account_format(a, &l1);
		b = account_parse(t1, l1);
		if (b == NULL)
			abort();	/* our own output must parse */
		t2 = account_format(b, &l2);
		if (l1 != l2 || memcmp(t1, t2, l1) != 0)
			abort();	/* and round-trip exactly */
		(void)account_sender_allowed(&b->pol, line, n);
		(void)account_set_extra(b, "spf_action", line);
		(void)account_set_extra(b, "fuzz_key", line);
		(void)account_set_domains(b, line);
		free(t1);
		free(t2);
		account_free(b);
		account_free(a);
	}
	/* Only strings that cannot be a complete hash: never runs scrypt. */
	if (strncmp(line, "scrypt$", 7) != 0 || strchr(line + 7, '$') == NULL ||
	    strlen(line) < 40)
		(void)account_verify_password(line, "x", 1);
	(void)account_name_valid(line);
	return 0;
}
