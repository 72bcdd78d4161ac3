/* SPDX-License-Identifier: ISC */
/*
 * test_crypto: src/lib/crypto.c against published vectors and its own
 * contracts: HMAC-SHA256 (RFC 4231 case 2), scrypt (RFC 7914 §12),
 * base64 (RFC 4648 §10) both ways with wrong lengths refused,
 * AES-256-GCM seal/open round trip and tamper detection, uniform
 * random values in range and spread, constant-time equality, wipe.
 * crypto_hmac_sha256_kept (issue 20: keyed contexts kept per thread)
 * gives the same MACs as the plain call, also for a key it cannot keep
 * (RFC 4231 case 6, 131 octets), for more keys than it keeps, after
 * evictions, and on another thread.
 * And the reason the module exists: two processes forked from one
 * parent draw different random values (the unseeded random() that
 * route.c and delivery used gave every process the same sequence).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "tap.h"
#include "util.h"

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void
test_hmac(void)
{
	unsigned char md[CRYPTO_HMAC_LEN];
	char h[2 * CRYPTO_HMAC_LEN + 1];

	crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, md);
	hex(md, sizeof(md), h);
	is_str(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    "HMAC-SHA256: RFC 4231 test case 2");
	{
		/* issue 20: the plain call starts from a per-thread template */
		unsigned char key[131];

		memset(key, 0xaa, sizeof(key));
		crypto_hmac_sha256(key, sizeof(key),
		    "Test Using Larger Than Block-Size Key - Hash Key First", 54, md);
		hex(md, sizeof(md), h);
		is_str(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
		    "HMAC-SHA256: RFC 4231 test case 6 (a 131-octet key)");
	}
}

struct kept_arg {
	int same;
};

static const char *const kept_keys[] = { "k0", "key one", "key two", "3", "four", "five!",
	"six", "seven", "eight" };

/* Every kept key, round after round, against the plain call. */
static int
kept_rounds(int rounds)
{
	unsigned char a[CRYPTO_HMAC_LEN], b[CRYPTO_HMAC_LEN];
	char data[32];
	int r, same = 1;
	size_t i;

	for (r = 0; r < rounds; r++)
		for (i = 0; i < sizeof(kept_keys) / sizeof(kept_keys[0]); i++) {
			snprintf(data, sizeof(data), "round %d key %zu", r, i);
			crypto_hmac_sha256(kept_keys[i], strlen(kept_keys[i]), data, strlen(data), a);
			crypto_hmac_sha256_kept(kept_keys[i], strlen(kept_keys[i]), data,
			    strlen(data), b);
			if (memcmp(a, b, sizeof(a)) != 0)
				same = 0;
		}
	return same;
}

static void *
kept_thread(void *p)
{
	struct kept_arg *a = p;

	a->same = kept_rounds(20);
	return NULL;
}

static void
test_hmac_kept(void)
{
	unsigned char md[CRYPTO_HMAC_LEN], key[131];
	char h[2 * CRYPTO_HMAC_LEN + 1];
	struct kept_arg arg = { 0 };
	pthread_t t;
	int i, same = 1;

	for (i = 0; i < 3; i++) {
		crypto_hmac_sha256_kept("Jefe", 4, "what do ya want for nothing?", 28, md);
		hex(md, sizeof(md), h);
		if (strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
			same = 0;
	}
	ok(same, "kept HMAC: RFC 4231 case 2, three times over one kept context");
	memset(key, 0xaa, sizeof(key));
	crypto_hmac_sha256_kept(key, sizeof(key),
	    "Test Using Larger Than Block-Size Key - Hash Key First", 54, md);
	hex(md, sizeof(md), h);
	is_str(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	    "kept HMAC: RFC 4231 case 6 (a 131-octet key, not kept)");
	ok(kept_rounds(5), "kept HMAC: nine keys in turn (more than are kept) match the plain call");
	ok(pthread_create(&t, NULL, kept_thread, &arg) == 0 && pthread_join(t, NULL) == 0 &&
	    arg.same, "kept HMAC: the same on another thread");
}

static void
test_scrypt(void)
{
	unsigned char dk[64];
	char h[129];

	ok(crypto_scrypt("password", 8, (const unsigned char *)"NaCl", 4, 1024, 8, 16,
	    dk, sizeof(dk)) == 0, "scrypt N=1024 r=8 p=16 derives");
	hex(dk, sizeof(dk), h);
	is_str(h, "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
	    "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
	    "scrypt: RFC 7914 §12 vector");
}

static void
test_base64(void)
{
	char out[CRYPTO_B64_SIZE(6)];
	unsigned char back[6];

	crypto_base64_encode("foobar", 6, out);
	is_str(out, "Zm9vYmFy", "base64 encode: RFC 4648 'foobar'");
	crypto_base64_encode("fo", 2, out);
	is_str(out, "Zm8=", "base64 encode pads");
	ok(crypto_base64_decode("Zm8=", 4, back, 2) == 0 && memcmp(back, "fo", 2) == 0,
	    "base64 decode with padding");
	ok(crypto_base64_decode("Zm9vYmFy", 8, back, 6) == 0 && memcmp(back, "foobar", 6) == 0,
	    "base64 decode");
	ok(crypto_base64_decode("Zm8=", 4, back, 3) == -1, "decode of the wrong length refused");
	ok(crypto_base64_decode("Zm8", 3, back, 2) == -1, "unpadded input refused");
}

static void
test_aead(void)
{
	unsigned char key[CRYPTO_KEY_LEN], sealed[5 + CRYPTO_OVERHEAD], sealed2[sizeof(sealed)];
	unsigned char out[5];

	crypto_random_bytes(key, sizeof(key));
	ok(crypto_seal(key, "ad", 2, "hello", 5, sealed) == 0 &&
	    crypto_open(key, "ad", 2, sealed, sizeof(sealed), out) == 0 &&
	    memcmp(out, "hello", 5) == 0, "seal/open round trip");
	crypto_seal(key, "ad", 2, "hello", 5, sealed2);
	ok(memcmp(sealed, sealed2, sizeof(sealed)) != 0, "a fresh nonce per seal");
	sealed[CRYPTO_OVERHEAD] ^= 1;
	is_int(crypto_open(key, "ad", 2, sealed, sizeof(sealed), out), -EBADMSG,
	    "a flipped byte is detected");
}

static void
test_uniform(void)
{
	static const uint32_t ns[] = { 1, 2, 3, 7, 1000, 0x80000001u };
	unsigned counts[3] = { 0, 0, 0 };
	size_t i, k;
	int inrange = 1;

	for (i = 0; i < ARRAY_SIZE(ns); i++)
		for (k = 0; k < 2000; k++)
			if (crypto_random_uniform(ns[i]) >= ns[i])
				inrange = 0;
	ok(inrange, "crypto_random_uniform(n) < n");
	is_int(crypto_random_uniform(0), 0, "crypto_random_uniform(0) = 0");
	for (k = 0; k < 30000; k++)
		counts[crypto_random_uniform(3)]++;
	ok(counts[0] > 9000 && counts[1] > 9000 && counts[2] > 9000,
	    "uniform over 3 (%u %u %u of 30000)", counts[0], counts[1], counts[2]);
}

/* Each of two forked children draws 16 bytes and sends them back. */
static void
test_fork(void)
{
	unsigned char got[2][16];
	int i, fds[2], same;

	for (i = 0; i < 2; i++) {
		pid_t pid;

		if (pipe(fds) != 0)
			fatal("pipe");
		if ((pid = fork()) == 0) {
			unsigned char r[16];
			close(fds[0]);
			crypto_random_bytes(r, sizeof(r));
			_exit(write(fds[1], r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
		}
		close(fds[1]);
		if (read(fds[0], got[i], sizeof(got[i])) != (ssize_t)sizeof(got[i]))
			memset(got[i], 0, sizeof(got[i]));
		close(fds[0]);
		waitpid(pid, NULL, 0);
	}
	same = memcmp(got[0], got[1], sizeof(got[0])) == 0;
	ok(!same, "two processes forked from one parent draw different values");
}

/* Issue 20: small requests come from a pool the parent filled before
 * the fork; the child must not hand out what the parent will. */
static void
test_fork_pool(void)
{
	unsigned char warm[4], child[16], parent[16];
	int fds[2];
	pid_t pid;

	crypto_random_bytes(warm, sizeof(warm));	/* the pool is filled now */
	if (pipe(fds) != 0)
		fatal("pipe");
	if ((pid = fork()) == 0) {
		unsigned char r[16];

		close(fds[0]);
		crypto_random_bytes(r, sizeof(r));
		_exit(write(fds[1], r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], child, sizeof(child)) != (ssize_t)sizeof(child))
		memset(child, 0, sizeof(child));
	close(fds[0]);
	waitpid(pid, NULL, 0);
	crypto_random_bytes(parent, sizeof(parent));
	ok(memcmp(child, parent, sizeof(child)) != 0,
	    "a child forked after the pool was filled draws other octets than its parent");
}

static void
test_equal_wipe(void)
{
	char secret[] = "hunter2";

	ok(crypto_equal("abc", "abc", 3) && !crypto_equal("abc", "abd", 3), "crypto_equal");
	crypto_wipe(secret, sizeof(secret));
	ok(memcmp(secret, "\0\0\0\0\0\0\0\0", sizeof(secret)) == 0, "crypto_wipe zeroes");
	crypto_wipe(NULL, 0);
	ok(1, "crypto_wipe(NULL, 0) is harmless");
}

int
main(void)
{
	plan(25);
	test_hmac();
	test_hmac_kept();
	test_scrypt();
	test_base64();
	test_aead();
	test_uniform();
	test_fork();
	test_fork_pool();
	test_equal_wipe();
	return done();
}
