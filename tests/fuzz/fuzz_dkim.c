/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dkim.c: libFuzzer target for the DKIM stage's message handling.
 * Feeds arbitrary bytes as a whole message to dkimsign_from_domain() (the
 * From: parser: the domain it returns must be a valid domain name) and
 * to the OpenSSL signer, which walks the header block, canonicalises
 * headers and body (relaxed/relaxed) and signs with an Ed25519 and an
 * RSA key (1024 bits, to keep runs fast; since issue 20 RSA takes the
 * same EVP path) generated once in memory; each signature header it
 * returns must be CRLF-clean.
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
static struct dkimsign_key key, rsakey;

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
	rsakey = key;
	strcpy(rsakey.selector, "r1");
	rsakey.alg = DKIMSIGN_ALG_RSA;
	rsakey.bits = 1024;
	rsakey.evp = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (rsakey.evp == NULL)
		abort();
}

static void
check_sig(const struct dkimsign_key *k, const uint8_t *data, size_t size)
{
	char err[256];
	struct buf sig;
	size_t i;

	buf_init(&sig, 0);
	if (dkimsign_sign_with_key(&params.dkim, k, (const char *)data, size, &sig, err, sizeof(err)) == 0) {
		if (sig.len < 4 || memcmp(sig.data, "DKIM-Signature: ", 16) != 0 ||
		    memcmp(sig.data + sig.len - 2, "\r\n", 2) != 0)
			abort();
		for (i = 0; i < sig.len; i++)
			if ((sig.data[i] == '\n' && (i == 0 || sig.data[i - 1] != '\r')) ||
			    (sig.data[i] == '\r' && (i + 1 == sig.len || sig.data[i + 1] != '\n')))
				abort();	/* bare CR or LF */
	}
	buf_free(&sig);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dom[DKIM_DOMAIN_MAX];
	int n;

	if (cfg == NULL)
		setup();
	n = dkimsign_from_domain((const char *)data, size, dom, sizeof(dom));
	if (n >= 0 && ((size_t)n != strlen(dom) || !dkimsign_valid_domain(dom)))
		abort();

	check_sig(&key, data, size);
	check_sig(&rsakey, data, size);
	return 0;
}
