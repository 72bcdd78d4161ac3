/* SPDX-License-Identifier: ISC */
/*
 * crypto.c: encryption at rest for the queue (DESIGN.md §6).
 *
 * Everything is AES-256-GCM through OpenSSL EVP with a fresh random
 * 96-bit nonce per seal; a sealed blob is nonce || ciphertext || tag.
 * The same primitive seals body chunks (under the per-message data
 * key, AAD = message id + chunk number, so chunks cannot be swapped
 * between messages or positions), wraps data keys (under the account
 * key, AAD = "m:" + id) and wraps account keys (under the master key,
 * AAD = "a:" + account).
 *
 * The master key is a file of 64 hex digits.  It is created 0600 on
 * first start (O_EXCL, fsync'd) and refused when group or others may
 * read or write it.  Which key belongs to which queue is checked by
 * keys.c against a sealed check value in the meta table.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "queue_int.h"
#include "util.h"

#define NONCE_LEN 12
#define TAG_LEN 16

void
crypto_random(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		fatal("event=crypto_failed what=RAND_bytes");
}

int
crypto_seal(const unsigned char *key, const void *aad, size_t aadlen,
    const void *pt, size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int n = 0, ok;

	crypto_random(out, NONCE_LEN);
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

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Write a new master key file: O_EXCL so two starts never race. */
static int
crypto_master_create(const char *path, unsigned char *key, char *err, size_t errlen)
{
	char hex[CRYPTO_KEY_LEN * 2 + 2];
	size_t i;
	int fd;

	crypto_random(key, CRYPTO_KEY_LEN);
	for (i = 0; i < CRYPTO_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[CRYPTO_KEY_LEN * 2] = '\n';
	hex[CRYPTO_KEY_LEN * 2 + 1] = '\0';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "master key %s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (write(fd, hex, CRYPTO_KEY_LEN * 2 + 1) != CRYPTO_KEY_LEN * 2 + 1 || fsync(fd) != 0) {
		snprintf(err, errlen, "master key %s: cannot write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int
crypto_master_load(const char *path, int create, unsigned char *key,
    char *err, size_t errlen)
{
	char *text = NULL, reason[256];
	size_t len = 0, i, n = 0;
	struct stat st;

	if (stat(path, &st) != 0 && errno == ENOENT) {
		if (!create) {
			snprintf(err, errlen, "master key %s: does not exist", path);
			return -1;
		}
		return crypto_master_create(path, key, err, errlen);
	}
	if (file_check_secret(path, reason, sizeof(reason)) != 0) {
		snprintf(err, errlen, "master key %s: refusing to use it: %s", path, reason);
		return -1;
	}
	if (file_read_all(path, 4096, &text, &len) != 0) {
		snprintf(err, errlen, "master key %s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < len && n < CRYPTO_KEY_LEN * 2; i++) {
		int v = hexval(text[i]);
		if (v < 0)
			break;
		if (n % 2 == 0)
			key[n / 2] = (unsigned char)(v << 4);
		else
			key[n / 2] |= (unsigned char)v;
		n++;
	}
	while (i < len && (text[i] == '\n' || text[i] == '\r' || text[i] == ' '))
		i++;
	free(text);
	if (n != CRYPTO_KEY_LEN * 2 || i != len) {
		snprintf(err, errlen, "master key %s: expected %d hex digits", path,
		    CRYPTO_KEY_LEN * 2);
		return -1;
	}
	return 0;
}
