/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dkim.c: libFuzzer target for the DKIM stage's message handling.
 * Feeds arbitrary bytes as a whole message to dkimsign_from_domain() (the
 * From: parser: the domain it returns must be a valid domain name) and
 * to the Ed25519 signer, which walks the header block, canonicalises
 * headers and body (relaxed/relaxed) and signs with a key generated
 * once in memory; the signature header it returns must be CRLF-clean.
 * The RSA path goes through libopendkim and is covered by the tests.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkim.h"
#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;
static struct policy_params params;
static struct dkimsign_key key;

static void
setup(void)
{
	char err[256];

	cfg = config_load(NULL, err, sizeof(err));
	if (cfg == NULL)
		abort();
	policy_params_from_config(&params, cfg);
	strcpy(key.domain, "fuzz.test");
	strcpy(key.selector, "f1");
	key.alg = DKIMSIGN_ALG_ED25519;
	key.bits = 256;
	key.active = 1;
	key.pem = (char *)"in memory";
	key.evp = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (key.evp == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dom[DKIM_DOMAIN_MAX], err[256];
	struct buf sig;
	size_t i;
	int n;

	if (cfg == NULL)
		setup();
	n = dkimsign_from_domain((const char *)data, size, dom, sizeof(dom));
	if (n >= 0 && ((size_t)n != strlen(dom) || !dkimsign_valid_domain(dom)))
		abort();

	buf_init(&sig, 0);
	if (dkimsign_sign_with_key(&params.dkim, &key, (const char *)data, size, &sig, err, sizeof(err)) == 0) {
		if (sig.len < 4 || memcmp(sig.data, "DKIM-Signature: ", 16) != 0 ||
		    memcmp(sig.data + sig.len - 2, "\r\n", 2) != 0)
			abort();
		for (i = 0; i < sig.len; i++)
			if ((sig.data[i] == '\n' && (i == 0 || sig.data[i - 1] != '\r')) ||
			    (sig.data[i] == '\r' && (i + 1 == sig.len || sig.data[i + 1] != '\n')))
				abort();	/* bare CR or LF */
	}
	buf_free(&sig);
	return 0;
}
