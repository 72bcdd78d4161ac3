/* SPDX-License-Identifier: ISC */
/*
 * fuzz_receipt: libFuzzer target for the data-subject receipt checker
 * (control_receipt_verify(), src/control/cmd_subject.c), which
 * `posternctl receipt verify` runs on a file a customer hands back: it
 * finds the signature, decodes it and the key, parses the JSON and
 * checks the Ed25519 signature.  The key it checks against is derived
 * from a fixed seed (all octets 0x01), so a seed receipt signed with it
 * goes the whole way.  Must never crash or read past the input.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "control.h"
#include "crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char pub[CRYPTO_ED25519_KEY_LEN];
	static int have;
	unsigned char priv[CRYPTO_ED25519_KEY_LEN];
	char err[256];

	if (!have) {
		memset(priv, 1, sizeof(priv));
		if (crypto_ed25519_public(priv, pub) != 0)
			return 0;
		have = 1;
	}
	(void)control_receipt_verify((const char *)data, size, pub, err, sizeof(err));
	return 0;
}
