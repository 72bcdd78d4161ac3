/* SPDX-License-Identifier: ISC */
/*
 * crypto.c: everything the project does with OpenSSL's libcrypto that
 * is neither TLS (src/net/tls.c) nor DKIM signing (policy/): the one
 * randomness source (RAND_bytes; nothing calls random() or getrandom()),
 * AES-256-GCM seal/open (the queue's encryption at rest, DESIGN.md §6),
 * HMAC-SHA256 (log pseudonyms and keyed hashes), scrypt and base64
 * (account password hashes), Ed25519 signatures (data-subject request
 * receipts), constant-time comparison and wiping.
 *
 * A sealed blob is nonce || ciphertext || tag, the nonce fresh and
 * random for every seal, so one key may seal many blobs.  Callers bind
 * a blob to its place with the AAD (the queue uses the record key).
 *
 * Pure functions over caller memory, no global state of our own; safe
 * from any thread (the queue's writer thread seals, the uv pool hashes
 * passwords).  Failures that leave no sane way on (no randomness, no
 * cipher context) are fatal.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "util.h"

#define NONCE_LEN 12
#define TAG_LEN 16

void
crypto_random_bytes(void *p, size_t n)
{
	unsigned char *c = p;

	while (n > 0) {
		int chunk = n > 1 << 20 ? 1 << 20 : (int)n;

		if (RAND_bytes(c, chunk) != 1)
			fatal("event=crypto_failed what=RAND_bytes");
		c += chunk;
		n -= (size_t)chunk;
	}
}

uint32_t
crypto_random_uniform(uint32_t n)
{
	uint32_t v, limit;

	if (n <= 1)
		return 0;
	/* Reject the top (2^32 mod n) values so every residue is equally likely. */
	limit = UINT32_MAX - (UINT32_MAX % n + 1) % n;
	do
		crypto_random_bytes(&v, sizeof(v));
	while (v > limit);
	return v % n;
}

int
crypto_seal(const unsigned char *key, const void *aad, size_t aadlen,
    const void *pt, size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int n = 0, ok;

	crypto_random_bytes(out, NONCE_LEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatal("event=crypto_failed what=ctx");
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
	    (len == 0 || EVP_EncryptUpdate(ctx, out + NONCE_LEN, &n, pt, (int)len) == 1) &&
	    EVP_EncryptFinal_ex(ctx, out + NONCE_LEN + len, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + NONCE_LEN + len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int
crypto_open(const unsigned char *key, const void *aad, size_t aadlen,
    const void *in, size_t len, unsigned char *out)
{
	const unsigned char *p = in;
	EVP_CIPHER_CTX *ctx;
	size_t ctlen;
	int n = 0, ok;

	if (len < CRYPTO_OVERHEAD)
		return -EBADMSG;
	ctlen = len - CRYPTO_OVERHEAD;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatal("event=crypto_failed what=ctx");
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
	    (ctlen == 0 || EVP_DecryptUpdate(ctx, out, &n, p + NONCE_LEN, (int)ctlen) == 1) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
		(void *)(p + NONCE_LEN + ctlen)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + ctlen, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

void
crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CRYPTO_HMAC_LEN])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) == NULL ||
	    outlen != CRYPTO_HMAC_LEN)
		fatal("event=crypto_failed what=HMAC");
}

int
crypto_scrypt(const char *pw, size_t len, const unsigned char *salt, size_t saltlen,
    uint64_t n, uint32_t r, uint32_t p, unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM params[7], *q = params;
	uint64_t maxmem = (uint64_t)1 << 30;
	int rc = -1;

	if ((kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL)) == NULL)
		return -1;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return -1;
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    (void *)(len ? pw : ""), len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	*q = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	return rc;
}

void
crypto_base64_encode(const void *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int
crypto_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t want)
{
	unsigned char tmp[128];
	int n, pad = 0;

	if (inlen == 0 || inlen % 4 != 0 || inlen / 4 * 3 > sizeof(tmp))
		return -1;
	if (in[inlen - 1] == '=')
		pad++;
	if (inlen > 1 && in[inlen - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)inlen);
	if (n < 0 || (size_t)(n - pad) != want) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return -1;
	}
	memcpy(out, tmp, want);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

int
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void
crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/* ---- Ed25519 (receipts) ---- */

int
crypto_ed25519_public(const unsigned char *priv, unsigned char *pub)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
	    CRYPTO_ED25519_KEY_LEN);
	size_t n = CRYPTO_ED25519_KEY_LEN;
	int rc = -1;

	if (k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 &&
	    n == CRYPTO_ED25519_KEY_LEN)
		rc = 0;
	EVP_PKEY_free(k);
	return rc;
}

void
crypto_ed25519_keygen(unsigned char *priv, unsigned char *pub)
{
	crypto_random_bytes(priv, CRYPTO_ED25519_KEY_LEN);
	if (crypto_ed25519_public(priv, pub) != 0)
		fatal("crypto: cannot derive an Ed25519 public key");
}

int
crypto_ed25519_sign(const unsigned char *priv, const void *msg, size_t len,
    unsigned char *sig)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
	    CRYPTO_ED25519_KEY_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = CRYPTO_ED25519_SIG_LEN;
	int rc = -1;

	if (k != NULL && ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == CRYPTO_ED25519_SIG_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return rc;
}

int
crypto_ed25519_verify(const unsigned char *pub, const void *msg, size_t len,
    const unsigned char *sig)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    CRYPTO_ED25519_KEY_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (k != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, sig, CRYPTO_ED25519_SIG_LEN, msg, len) == 1)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return rc;
}
