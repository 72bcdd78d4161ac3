/* SPDX-License-Identifier: ISC */
/*
 * crypto.c: everything the project does with OpenSSL's libcrypto that
 * is neither TLS (src/net/tls.c) nor DKIM signing (policy/): the one
 * randomness source (RAND_bytes, small requests through a per-thread
 * pool; nothing calls random() or getrandom()),
 * AES-256-GCM seal/open (the queue's encryption at rest, DESIGN.md §6),
 * HMAC-SHA256 (log pseudonyms and keyed hashes), scrypt and base64
 * (account password hashes), Ed25519 signatures (data-subject request
 * receipts), constant-time comparison and wiping.
 *
 * A sealed blob is nonce || ciphertext || tag, the nonce fresh and
 * random for every seal, so one key may seal many blobs.  Callers bind
 * a blob to its place with the AAD (the queue uses the record key).
 *
 * Pure functions over caller memory, safe from any thread (the queue's
 * writer thread seals, the uv pool hashes passwords).  The only state
 * kept is for speed (issue 20): the HMAC and AES-256-GCM implementations
 * are fetched once per process (an implicit fetch per call cost more than
 * the hashing itself; a plain HMAC starts from a per-thread template
 * with the digest already set), and crypto_hmac_sha256_kept() keeps, per thread,
 * a few keyed HMAC contexts for the node's long-lived keys (log
 * pseudonyms, the address index, tokens), so a keyed hash is one reset,
 * not a key schedule.  Per-message and per-account keys never enter that
 * cache.  Failures that leave no sane way on (no randomness, no cipher
 * context) are fatal.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
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
/* Keyed HMAC contexts kept per thread (crypto_hmac_sha256_kept). */
#define HMAC_KEPT 6
#define HMAC_KEPT_KEY_MAX 64

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_impl;		/* fetched once; lives as long as the process */
static EVP_CIPHER *gcm_impl;

static void
crypto_fetch(void)
{
	if ((hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (gcm_impl = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)) == NULL)
		fatal("event=crypto_failed what=fetch");
}

static const EVP_CIPHER *
crypto_gcm(void)
{
	pthread_once(&fetch_once, crypto_fetch);
	return gcm_impl;
}

/*
 * Random octets.  Small requests (nonces, ids) come from a per-thread
 * pool filled by one RAND_bytes() call: in OpenSSL 3 every call costs a
 * DRBG lock, a fork check (getpid) and parameter look-ups, several
 * times a message (issue 20).  Octets handed out are wiped from the
 * pool; a forked child starts with an empty pool (pthread_atfork), so
 * parent and child never hand out the same octets.
 */
#define RAND_POOL 512

static __thread struct {
	unsigned char b[RAND_POOL];
	size_t left;		/* unused octets at the end of b */
} rand_pool;
static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void
rand_fill(void *p, size_t n)
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

/* In the child (the forking thread is its only thread): forget the pool. */
static void
rand_atfork_child(void)
{
	crypto_wipe(rand_pool.b, sizeof(rand_pool.b));
	rand_pool.left = 0;
}

static void
rand_register(void)
{
	if (pthread_atfork(NULL, NULL, rand_atfork_child) != 0)
		fatal("event=crypto_failed what=pthread_atfork");
}

void
crypto_random_bytes(void *p, size_t n)
{
	unsigned char *c = p;

	if (n > RAND_POOL / 8) {
		rand_fill(p, n);
		return;
	}
	pthread_once(&rand_once, rand_register);
	while (n > 0) {
		size_t off, take;

		if (rand_pool.left == 0) {
			rand_fill(rand_pool.b, sizeof(rand_pool.b));
			rand_pool.left = sizeof(rand_pool.b);
		}
		off = sizeof(rand_pool.b) - rand_pool.left;
		take = n < rand_pool.left ? n : rand_pool.left;
		memcpy(c, rand_pool.b + off, take);
		crypto_wipe(rand_pool.b + off, take);
		rand_pool.left -= take;
		c += take;
		n -= take;
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
	ok = EVP_EncryptInit_ex2(ctx, crypto_gcm(), key, out, NULL) == 1 &&
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
	ok = EVP_DecryptInit_ex2(ctx, crypto_gcm(), key, p, NULL) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
	    (ctlen == 0 || EVP_DecryptUpdate(ctx, out, &n, p + NONCE_LEN, (int)ctlen) == 1) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
		(void *)(p + NONCE_LEN + ctlen)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + ctlen, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

/*
 * Per thread: a template context with the digest set and no key (a
 * fresh context per call would fetch SHA-256 again through its
 * parameters), and the last few long-lived keys with their keyed
 * contexts (crypto_hmac_sha256_kept).  A pthread key's destructor frees
 * them when the thread ends.
 */
static __thread struct hmac_tls {
	EVP_MAC_CTX *tmpl;
	struct hmac_kept {
		EVP_MAC_CTX *ctx;
		size_t keylen;
		unsigned char key[HMAC_KEPT_KEY_MAX];
	} kept[HMAC_KEPT];
	unsigned next;
} hmac_tls;
static pthread_key_t hmac_tls_key;
static pthread_once_t hmac_tls_once = PTHREAD_ONCE_INIT;

/* At thread exit (pool, writer and loop threads end at shutdown). */
static void
hmac_tls_free(void *arg)
{
	struct hmac_tls *t = arg;
	size_t i;

	for (i = 0; i < HMAC_KEPT; i++) {
		EVP_MAC_CTX_free(t->kept[i].ctx);
		t->kept[i].ctx = NULL;
		crypto_wipe(t->kept[i].key, sizeof(t->kept[i].key));
		t->kept[i].keylen = 0;
	}
	EVP_MAC_CTX_free(t->tmpl);
	t->tmpl = NULL;
}

static void
hmac_tls_key_make(void)
{
	if (pthread_key_create(&hmac_tls_key, hmac_tls_free) != 0)
		fatal("event=crypto_failed what=pthread_key_create");
}

/* A fresh HMAC-SHA256 context keyed with KEY. */
static EVP_MAC_CTX *
hmac_ctx_new(const void *key, size_t keylen)
{
	EVP_MAC_CTX *ctx;

	if (hmac_tls.tmpl == NULL) {
		OSSL_PARAM params[2];

		pthread_once(&fetch_once, crypto_fetch);
		pthread_once(&hmac_tls_once, hmac_tls_key_make);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		if ((hmac_tls.tmpl = EVP_MAC_CTX_new(hmac_impl)) == NULL ||
		    EVP_MAC_CTX_set_params(hmac_tls.tmpl, params) != 1 ||
		    pthread_setspecific(hmac_tls_key, &hmac_tls) != 0)
			fatal("event=crypto_failed what=HMAC");
	}
	if ((ctx = EVP_MAC_CTX_dup(hmac_tls.tmpl)) == NULL ||
	    EVP_MAC_init(ctx, key, keylen, NULL) != 1)
		fatal("event=crypto_failed what=HMAC");
	return ctx;
}

static void
hmac_run(EVP_MAC_CTX *ctx, const void *data, size_t len, unsigned char out[CRYPTO_HMAC_LEN])
{
	size_t outlen = 0;

	if (EVP_MAC_update(ctx, data, len) != 1 ||
	    EVP_MAC_final(ctx, out, &outlen, CRYPTO_HMAC_LEN) != 1 || outlen != CRYPTO_HMAC_LEN)
		fatal("event=crypto_failed what=HMAC");
}

void
crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CRYPTO_HMAC_LEN])
{
	EVP_MAC_CTX *ctx = hmac_ctx_new(key, keylen);

	hmac_run(ctx, data, len, out);
	EVP_MAC_CTX_free(ctx);
}

int
crypto_derive_key_once(const unsigned char *master, size_t len, const char *label,
    unsigned char *key, int *have)
{
	unsigned char k[CRYPTO_HMAC_LEN];

	crypto_hmac_sha256(master, len, label, strlen(label), k);
	if (*have && crypto_equal(k, key, sizeof(k))) {
		crypto_wipe(k, sizeof(k));
		return 0;
	}
	memcpy(key, k, sizeof(k));
	crypto_wipe(k, sizeof(k));
	*have = 1;
	return 1;
}

void
crypto_hmac_sha256_kept(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CRYPTO_HMAC_LEN])
{
	struct hmac_kept *k;
	size_t i;

	if (keylen == 0 || keylen > HMAC_KEPT_KEY_MAX) {
		crypto_hmac_sha256(key, keylen, data, len, out);
		return;
	}
	for (i = 0; i < HMAC_KEPT; i++) {
		k = &hmac_tls.kept[i];
		if (k->ctx != NULL && k->keylen == keylen && memcmp(k->key, key, keylen) == 0) {
			/* a NULL key re-initialises with the key already set */
			if (EVP_MAC_init(k->ctx, NULL, 0, NULL) != 1)
				fatal("event=crypto_failed what=HMAC");
			hmac_run(k->ctx, data, len, out);
			return;
		}
	}
	k = &hmac_tls.kept[hmac_tls.next++ % HMAC_KEPT];
	EVP_MAC_CTX_free(k->ctx);
	crypto_wipe(k->key, sizeof(k->key));
	k->ctx = hmac_ctx_new(key, keylen);
	k->keylen = keylen;
	memcpy(k->key, key, keylen);
	hmac_run(k->ctx, data, len, out);
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
