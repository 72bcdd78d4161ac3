/* SPDX-License-Identifier: ISC */
/*
 * addr.c: one normal form for mail addresses and the keyed address
 * index built on it.
 *
 * Normal form: the domain lower-cased and converted to IDNA2008
 * A-labels with libidn2 (so "Bücher.example" and "xn--bcher-kva.example"
 * are one domain), the local part lower-cased by default.  RFC 5321
 * lets a local part be case-sensitive, but no mailbox provider treats
 * it so and a suppression or erasure that misses "Bob@" because it was
 * recorded as "bob@" would fail the person it protects; the operator
 * can turn folding off.  Quoted local parts are kept as written apart
 * from the folding.
 *
 * The index: HMAC-SHA-256 of the normal form under a key derived from
 * the master key ("postern address index v1").  Without the master key
 * the hashes cannot be tested against guessed addresses; with it, an
 * operator can find a data subject's records without any plaintext
 * address being stored.  The key is process-wide, set once at start
 * (daemon) or when posternctl opens the queue offline.
 */
#include "autoconfig.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "crypto.h"
#include "util.h"

static struct {
	unsigned char key[32];
	int have;
	int fold_local;
} ix = { .fold_local = 1 };

void
addr_set_fold_local(int on)
{
	ix.fold_local = on != 0;
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int
addr_normalise(const char *addr, size_t len, char *out, size_t outlen)
{
	const char *at = NULL, *p;
	char dom[256], *alabel = NULL;
	size_t llen, dlen, alen, i;

	while (len > 0 && (*addr == ' ' || *addr == '\t'))
		addr++, len--;
	while (len > 0 && (addr[len - 1] == ' ' || addr[len - 1] == '\t'))
		len--;
	if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>')
		addr++, len -= 2;
	if (outlen == 0)
		return -1;
	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	for (p = addr; p < addr + len; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
		if (*p == '@')
			at = p;
	}
	if (at == NULL || at == addr || at == addr + len - 1)
		return -1;
	llen = (size_t)(at - addr);
	dlen = len - llen - 1;
	if (dlen >= sizeof(dom))
		return -1;
	for (i = 0; i < dlen; i++)
		dom[i] = lower(at[1 + i]);
	dom[dlen] = '\0';
	if (dom[0] == '[') {		/* address literal: as written */
		alen = dlen;
	} else {
		for (i = 0; i < dlen && (unsigned char)dom[i] < 0x80; i++)
			;
		if (i < dlen) {
			if (idn2_to_ascii_8z(dom, &alabel,
			    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
				return -1;
			alen = strlen(alabel);
			if (alen >= sizeof(dom)) {
				idn2_free(alabel);
				return -1;
			}
			for (i = 0; i <= alen; i++)
				dom[i] = lower(alabel[i]);
			idn2_free(alabel);
		} else {
			alen = dlen;
		}
	}
	if (llen + 1 + alen + 1 > outlen)
		return -1;
	for (i = 0; i < llen; i++)
		out[i] = ix.fold_local ? lower(addr[i]) : addr[i];
	out[llen] = '@';
	memcpy(out + llen + 1, dom, alen);
	out[llen + 1 + alen] = '\0';
	return (int)(llen + 1 + alen);
}

/* At start and on every reload, while other threads look addresses up:
 * the same key writes nothing (as token_set_key()). */
void
addr_index_set_key(const unsigned char *master, size_t len)
{
	(void)crypto_derive_key_once(master, len, "postern address index v1", ix.key, &ix.have);
}

int
addr_index_load_key(const char *master_key_file)
{
	char *key;
	size_t len;

	if (master_key_file == NULL || master_key_file[0] == '\0' ||
	    file_read_all(master_key_file, 1 << 16, &key, &len) != 0)
		return -1;
	addr_index_set_key((const unsigned char *)key, len);
	crypto_wipe(key, len);
	free(key);
	return 0;
}

int
addr_index_have_key(void)
{
	return ix.have;
}

int
addr_index_hash(const char *addr, size_t len, unsigned char out[ADDR_HASH_LEN])
{
	char norm[ADDR_MAX];
	int n;

	if (!ix.have || (n = addr_normalise(addr, len, norm, sizeof(norm))) < 0)
		return -1;
	crypto_hmac_sha256_kept(ix.key, sizeof(ix.key), norm, (size_t)n, out);
	crypto_wipe(norm, sizeof(norm));
	return 0;
}

void
addr_hash_hex(const unsigned char h[ADDR_HASH_LEN], char out[ADDR_HASH_HEX])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < ADDR_HASH_LEN; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[2 * ADDR_HASH_LEN] = '\0';
}

int
addr_index_hash_hex(const char *addr, size_t len, char out[ADDR_HASH_HEX])
{
	unsigned char h[ADDR_HASH_LEN];

	if (addr_index_hash(addr, len, h) != 0)
		return -1;
	addr_hash_hex(h, out);
	return 0;
}
