/* SPDX-License-Identifier: ISC */
/*
 * token.c: VERP and unsubscribe tokens (include/token.h).  Pure apart
 * from the one process-wide MAC key, set once at start (daemon.c, and
 * posternctl offline) from the master key under its own label, so a
 * token key is neither the address index key nor the log pseudonym key.
 * The relay's EOM stage makes unsubscribe tokens, the delivery engine
 * bounce tokens; the feedback listener and the HTTP endpoint check
 * them.  Checking costs one HMAC and no lookup, so a flood of forged
 * tokens never reaches the store.  The same key, under a label of its
 * own, hashes Message-IDs for the queue's Message-ID index
 * (token_msgid_hash_hex()), so ARF reports that quote only the
 * original's header can be matched without storing the Message-ID.
 */
#include "autoconfig.h"

#include <string.h>

#include "crypto.h"
#include "token.h"

#define ID_LEN 20
#define NO_LEN 3
#define MAC_LEN 16	/* characters: 80 bits */

static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";

static struct {
	unsigned char key[32];
	unsigned char msgid_key[32];	/* HMAC(key, MSGID_LABEL), made with key */
	int have;
} tk;

static const char msgid_label[] = "postern message-id v1";

/*
 * At start, and again on every reload (daemon.c apply_log_settings)
 * while the EOM stages (on the SMTP loops and in the pool) and the
 * delivery loops make and check tokens: the same key then writes
 * nothing, as log_set_pseudonym_key() does (ThreadSanitizer found the
 * rewrite racing token_msgid_hash_hex() under a reload).
 */
void
token_set_key(const unsigned char *master, size_t len)
{
	/* the Message-ID hash's key is derived here, once per key, not once
	 * per message (issue 20) */
	if (crypto_derive_key_once(master, len, "postern token v1", tk.key, &tk.have))
		crypto_hmac_sha256(tk.key, sizeof(tk.key), msgid_label, sizeof(msgid_label) - 1,
		    tk.msgid_key);
}

int
token_have_key(void)
{
	return tk.have;
}

/* Crockford value of C (either case; I L O read as 1 1 0), or -1. */
static int
b32_val(char c)
{
	const char *p;

	if (c >= 'A' && c <= 'Z')
		c = (char)(c - 'A' + 'a');
	if (c == 'i' || c == 'l')
		c = '1';
	else if (c == 'o')
		c = '0';
	p = c ? strchr(b32, c) : NULL;
	return p ? (int)(p - b32) : -1;
}

/* The MAC characters of KIND, the canonical id and number. */
static void
token_mac(enum token_kind kind, const char *id_upper, uint32_t no, char out[MAC_LEN])
{
	unsigned char in[1 + ID_LEN + 4], mac[32];
	uint64_t acc = 0;
	int bits = 0, i, o = 0;

	in[0] = (unsigned char)kind;
	memcpy(in + 1, id_upper, ID_LEN);
	in[1 + ID_LEN] = (unsigned char)(no >> 24);
	in[2 + ID_LEN] = (unsigned char)(no >> 16);
	in[3 + ID_LEN] = (unsigned char)(no >> 8);
	in[4 + ID_LEN] = (unsigned char)no;
	crypto_hmac_sha256_kept(tk.key, sizeof(tk.key), in, sizeof(in), mac);
	for (i = 0; o < MAC_LEN; i++) {
		acc = (acc << 8) | mac[i];
		bits += 8;
		while (bits >= 5 && o < MAC_LEN) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	crypto_wipe(mac, sizeof(mac));
}

int
token_make(enum token_kind kind, const char *msgid, uint32_t rcpt_no, char out[TOKEN_LEN + 1])
{
	char id[ID_LEN];
	int i, v;

	if (!tk.have || msgid == NULL || strlen(msgid) != ID_LEN || rcpt_no > TOKEN_MAX_RCPT)
		return -1;
	for (i = 0; i < ID_LEN; i++) {
		if ((v = b32_val(msgid[i])) < 0)
			return -1;
		id[i] = (char)(v < 10 ? '0' + v : "ABCDEFGHJKMNPQRSTVWXYZ"[v - 10]);
		out[i] = b32[v];
	}
	out[ID_LEN] = b32[(rcpt_no >> 10) & 31];
	out[ID_LEN + 1] = b32[(rcpt_no >> 5) & 31];
	out[ID_LEN + 2] = b32[rcpt_no & 31];
	token_mac(kind, id, rcpt_no, out + ID_LEN + NO_LEN);
	out[TOKEN_LEN] = '\0';
	return 0;
}

int
token_check(enum token_kind kind, const char *tok, size_t len, char msgid[21], uint32_t *rcpt_no)
{
	char mac[MAC_LEN], given[MAC_LEN];
	uint32_t no = 0;
	size_t i;
	int v;

	if (!tk.have || tok == NULL || len != TOKEN_LEN)
		return -1;
	for (i = 0; i < ID_LEN; i++) {
		if ((v = b32_val(tok[i])) < 0)
			return -1;
		msgid[i] = (char)(v < 10 ? '0' + v : "ABCDEFGHJKMNPQRSTVWXYZ"[v - 10]);
	}
	msgid[ID_LEN] = '\0';
	for (i = ID_LEN; i < ID_LEN + NO_LEN; i++) {
		if ((v = b32_val(tok[i])) < 0)
			return -1;
		no = (no << 5) | (uint32_t)v;
	}
	for (i = 0; i < MAC_LEN; i++) {
		if ((v = b32_val(tok[ID_LEN + NO_LEN + i])) < 0)
			return -1;
		given[i] = b32[v];
	}
	token_mac(kind, msgid, no, mac);
	if (!crypto_equal(mac, given, MAC_LEN))
		return -1;
	*rcpt_no = no;
	return 0;
}

#define MSGID_MAX 998	/* a header line's limit (RFC 5322 §2.1.1) */

int
token_msgid_hash_hex(const char *v, size_t n, char out[TOKEN_MSGID_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	char norm[MSGID_MAX];
	const char *lt, *gt, *at;
	size_t i, len;

	if (!tk.have || v == NULL)
		return -1;
	if ((lt = memchr(v, '<', n)) != NULL &&
	    (gt = memchr(lt, '>', n - (size_t)(lt - v))) != NULL) {
		v = lt + 1;
		n = (size_t)(gt - v);
	}
	while (n > 0 && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
		v++, n--;
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' ||
	    v[n - 1] == '\n'))
		n--;
	if (n == 0 || n > MSGID_MAX)
		return -1;
	memcpy(norm, v, n);
	len = n;
	for (at = NULL, i = 0; i < len; i++)
		if (norm[i] == '@')
			at = norm + i;
	for (i = at ? (size_t)(at - norm) : len; i < len; i++)
		if (norm[i] >= 'A' && norm[i] <= 'Z')
			norm[i] = (char)(norm[i] - 'A' + 'a');
	crypto_hmac_sha256_kept(tk.msgid_key, sizeof(tk.msgid_key), norm, len, mac);
	for (i = 0; i < sizeof(mac); i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[64] = '\0';
	crypto_wipe(mac, sizeof(mac));
	return 0;
}
