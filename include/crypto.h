/* SPDX-License-Identifier: ISC */
/*
 * crypto.h: the project's one door to OpenSSL's libcrypto for
 * everything that is neither TLS (src/net/tls.c) nor DKIM signing
 * (policy/): randomness, AEAD, HMAC, password hashing, base64, wipe.
 * Implemented in src/lib/crypto.c, so smtp/, queue/ and policy/ may
 * call it.
 */
#ifndef POSTERN_CRYPTO_H
#define POSTERN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- randomness: OpenSSL's RAND_bytes, the only source ---- */

/* Fill P with N random bytes; a failing generator is fatal. */
void crypto_random_bytes(void *p, size_t n);
/* A uniformly random value in [0, N) without modulo bias; 0 when N is 0. */
uint32_t crypto_random_uniform(uint32_t n);

/* ---- AEAD: AES-256-GCM with a fresh random 96-bit nonce per seal ---- */

#define CRYPTO_KEY_LEN 32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_OVERHEAD 28	/* 12 nonce + 16 tag */

/* OUT gets nonce || ciphertext || tag: LEN + CRYPTO_OVERHEAD bytes.  PT
 * may be OUT + CRYPTO_NONCE_LEN: it is then sealed in place. */
int crypto_seal(const unsigned char *key, const void *aad, size_t aadlen,
    const void *pt, size_t len, unsigned char *out);
/* -EBADMSG when the tag does not verify. OUT gets LEN - CRYPTO_OVERHEAD. */
int crypto_open(const unsigned char *key, const void *aad, size_t aadlen,
    const void *in, size_t len, unsigned char *out);

/* ---- HMAC-SHA256 (keyed hashes: pseudonyms, derived keys) ---- */

#define CRYPTO_HMAC_LEN 32
/* KEY (CRYPTO_HMAC_LEN octets) = HMAC-SHA256(MASTER, LABEL), written only
 * when it differs from what KEY holds (*HAVE: it holds one): set at start
 * and again on every reload while other threads read KEY, the same key
 * must write nothing.  1 when KEY was written. */
int crypto_derive_key_once(const unsigned char *master, size_t len, const char *label,
    unsigned char *key, int *have);
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CRYPTO_HMAC_LEN]);
/* The same for a key that lives as long as the process (a node key
 * derived from the master key): its keyed context is kept per thread,
 * so repeated hashes skip the key schedule.  Never for per-message or
 * per-account keys, which must not outlive their use in memory. */
void crypto_hmac_sha256_kept(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CRYPTO_HMAC_LEN]);

/* ---- scrypt (RFC 7914), for password hashes ---- */

/* Derive OUTLEN bytes; 0, or -1 when OpenSSL refuses (bad parameters,
 * memory). Callers bound N, R, P themselves. */
int crypto_scrypt(const char *pw, size_t len, const unsigned char *salt, size_t saltlen,
    uint64_t n, uint32_t r, uint32_t p, unsigned char *out, size_t outlen);

/* ---- base64 (RFC 4648 §4, padded) ---- */

/* Bytes crypto_base64_encode writes for LEN input bytes, NUL included. */
#define CRYPTO_B64_SIZE(len) (4 * (((len) + 2) / 3) + 1)
/* Encode LEN bytes into OUT (CRYPTO_B64_SIZE(LEN) bytes). */
void crypto_base64_encode(const void *in, size_t len, char *out);
/* Decode padded base64 that must give exactly WANT bytes (at most 96);
 * 0 or -1. */
int crypto_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t want);

/* ---- comparing and wiping secrets ---- */

/* Constant-time comparison: 1 when equal. */
int crypto_equal(const void *a, const void *b, size_t n);

/* Ed25519 (RFC 8032), raw 32-octet keys, 64-octet signatures: the
 * node's receipt key (issue 17, src/control/cmd_subject.c). */
#define CRYPTO_ED25519_KEY_LEN 32
#define CRYPTO_ED25519_SIG_LEN 64
/* A new key pair: PRIV (the seed) and its PUB. */
void crypto_ed25519_keygen(unsigned char *priv, unsigned char *pub);
/* PUB of PRIV; 0 or -1. */
int crypto_ed25519_public(const unsigned char *priv, unsigned char *pub);
/* Sign LEN octets of MSG with PRIV into SIG; 0 or -1. */
int crypto_ed25519_sign(const unsigned char *priv, const void *msg, size_t len,
    unsigned char *sig);
/* 0 when SIG is PUB's signature of MSG, else -1. */
int crypto_ed25519_verify(const unsigned char *pub, const void *msg, size_t len,
    const unsigned char *sig);
/* Overwrite N bytes at P so the compiler cannot drop it. */
void crypto_wipe(void *p, size_t n);

#endif
