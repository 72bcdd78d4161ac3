/* SPDX-License-Identifier: ISC */
/*
 * token.h: the short, keyed tokens of VERP return paths (b+TOKEN@) and
 * unsubscribe links (u+TOKEN@, https://HOST/u/TOKEN), src/lib/token.c.
 *
 * A token names one recipient of one queued message: the queue id (20
 * characters of Crockford base32), the recipient number (3 characters,
 * < 32768) and a MAC (16 characters = 80 bits of HMAC-SHA-256 under a
 * key derived from the master key, over the kind, the id and the
 * number).  39 characters of [0-9a-z], lower case, compared without
 * regard to case (mailbox providers may fold a bounce's local part).
 * A forged or altered token fails the MAC in constant time before
 * anything is looked up; the kind is bound in, so a bounce token is no
 * unsubscribe token.  Nothing personal is in it: the address is found
 * through the queue (the message's recipient), never carried.
 */
#ifndef POSTERN_TOKEN_H
#define POSTERN_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_LEN 39
#define TOKEN_MAX_RCPT 32767

enum token_kind { TOKEN_BOUNCE = 'b', TOKEN_UNSUBSCRIBE = 'u' };

/* The MAC key from the master key's bytes (as addr_index_set_key). */
void token_set_key(const unsigned char *master, size_t len);
int token_have_key(void);

/* Make the token of MSGID (QUEUE_ID_LEN characters) and RCPT_NO into
 * OUT (TOKEN_LEN + 1 bytes).  0, or -1 (no key, bad id or number). */
int token_make(enum token_kind kind, const char *msgid, uint32_t rcpt_no,
    char out[TOKEN_LEN + 1]);
/* Check TOK (LEN bytes, any case): 0 with MSGID (upper case, NUL-
 * terminated, 21 bytes) and *RCPT_NO, or -1 when it is malformed or
 * its MAC does not match (forged, altered, other kind). */
int token_check(enum token_kind kind, const char *tok, size_t len, char msgid[21],
    uint32_t *rcpt_no);

/*
 * The keyed hash of a Message-ID (the field's value, V, N bytes: the
 * msg-id of RFC 5322 §3.6.4 with or without CFWS around it) as 64 hex
 * digits into OUT (65 bytes): what the queue's Message-ID index keeps
 * instead of the plaintext (an ARF report quoting the original is
 * matched by it).  The msg-id between the angle brackets is taken
 * (else the trimmed value) and its part after the last '@' is
 * lower-cased (domains compare case-insensitively; the left part is
 * compared exactly).  0, or -1 (no key, empty, or over 998 octets).
 */
#define TOKEN_MSGID_HEX 65
int token_msgid_hash_hex(const char *v, size_t n, char out[TOKEN_MSGID_HEX]);

#endif
