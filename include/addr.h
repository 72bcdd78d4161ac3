/* SPDX-License-Identifier: ISC */
/*
 * addr.h: mail address normalisation and the keyed address index
 * (src/lib/addr.c).  Every lookup by address (queue filters,
 * suppression lists, data-subject requests) goes through
 * addr_index_hash(): the store keeps the keyed hash, never the
 * plaintext address, beside sealed envelopes.
 */
#ifndef POSTERN_ADDR_H
#define POSTERN_ADDR_H

#include <stddef.h>

#define ADDR_HASH_LEN	32		/* HMAC-SHA-256 */
#define ADDR_HASH_HEX	(2 * ADDR_HASH_LEN + 1)
#define ADDR_MAX	512		/* normalised form, NUL included */

/*
 * Normalise ADDR (LEN bytes; surrounding <> and blanks are ignored):
 * the domain in lower case and as IDNA2008 A-labels (xn--…), the local
 * part folded to lower case unless addr_set_fold_local(0).  The null
 * sender ("" or "<>") normalises to "".  Writes a NUL-terminated string
 * to OUT and returns its length, or -1 when ADDR is not an address
 * (no @, empty local part or domain, control characters, a domain that
 * is not a valid IDN, or longer than OUTLEN - 1).
 */
int addr_normalise(const char *addr, size_t len, char *out, size_t outlen);

/* Fold the local part's case (1, the default) or compare it exactly (0). */
void addr_set_fold_local(int on);

/*
 * The index key, derived from the master key file's contents (as the
 * log pseudonym key is): 0, or -1 when the file cannot be read.  Also
 * settable from raw bytes (tests, tools that hold the key already).
 */
int addr_index_load_key(const char *master_key_file);
void addr_index_set_key(const unsigned char *master, size_t len);
int addr_index_have_key(void);

/*
 * The keyed hash of ADDR's normalised form.  0, or -1 when ADDR does
 * not normalise or no key was set.  The _hex form writes 64 lowercase
 * hex digits and a NUL.
 */
int addr_index_hash(const char *addr, size_t len, unsigned char out[ADDR_HASH_LEN]);
int addr_index_hash_hex(const char *addr, size_t len, char out[ADDR_HASH_HEX]);
/* H as 64 lowercase hex digits and a NUL (the _hex form of a hash in hand). */
void addr_hash_hex(const unsigned char h[ADDR_HASH_LEN], char out[ADDR_HASH_HEX]);

#endif
