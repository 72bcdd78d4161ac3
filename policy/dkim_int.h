/* SPDX-License-Identifier: ISC */
/*
 * dkim_int.h: what the DKIM files of policy/ share and nobody else
 * sees.  dkim_keys.c owns the key store, dkim_ed25519.c (OpenSSL
 * EVP: Ed25519 and RSA keys parsed at load) and dkim_rsa.c (the only
 * libopendkim user: an RSA key OpenSSL could not parse) make one
 * signature each, dkim_stage.c chooses the signing domain, walks the header
 * block for both signers and runs the EOM stage.
 */
#ifndef POSTERN_DKIM_INT_H
#define POSTERN_DKIM_INT_H

#include <stddef.h>

#include "buf.h"
#include "dkim.h"

/* The metadata file in the key directory (one line per key). */
#define DKIM_META_FILE "keys"

/* ASCII-lowercase S in place. */
void dkimsign_lower(char *s);

/*
 * Walk the header block of MSG: calls FN for each field (raw bytes
 * including folded continuation lines, without the final line ending);
 * FN returning non-zero stops the walk.  Returns the offset of the body
 * (after the empty line), or LEN.
 */
size_t dkimsign_header_walk(const char *msg, size_t len,
    int (*fn)(const char *field, size_t flen, void *arg), void *arg);

/* NULL-terminated lowercase list of the header names to sign
 * (P->sign_headers); "from" is always in it.  Free with
 * dkimsign_names_free(). */
char **dkimsign_header_names(const struct policy_dkim_params *p);
void dkimsign_names_free(char **v);

/* One signature with KEY over the header section HDR (fields only, no
 * empty line) and BODY, appended to SIGHDR (dkim_rsa.c,
 * dkim_ed25519.c); see dkimsign_sign_parts() in include/dkim.h. */
int dkimsign_sign_rsa(const struct policy_dkim_params *p, const struct dkimsign_key *key,
    const char *hdr, size_t hlen, const char *body, size_t blen, struct buf *sighdr,
    char *err, size_t errlen);
int dkimsign_sign_ed25519(const struct policy_dkim_params *p, const struct dkimsign_key *key,
    const char *hdr, size_t hlen, const char *body, size_t blen, struct buf *sighdr,
    char *err, size_t errlen);

#endif
