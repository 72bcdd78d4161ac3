/* SPDX-License-Identifier: ISC */
/*
 * dkim.h: DKIM signing (RFC 6376, RFC 8463) and key management.
 * policy/dkim_stage.c is the EOM stage, policy/dkim_keys.c the key
 * store, policy/dkim_ed25519.c signs Ed25519 with OpenSSL and
 * policy/dkim_rsa.c signs RSA through libopendkim (its only user).
 *
 * Keys live in the key directory (dkim_key_directory, default
 * <data_directory>/dkim): one PEM file per key, mode 0600, named
 * <domain>.<selector>.pem, plus the metadata file `keys` with one line
 * per key: `domain=D selector=S algorithm=rsa|ed25519 bits=N active=0|1
 * created=UNIX`.  At most one key per (domain, algorithm) is active; a
 * domain with an active RSA and an active Ed25519 key gets both
 * signatures.  Private keys are never printed.
 *
 * The EOM stage dkimsign_stage signs last (DESIGN.md §7): for the From:
 * domain when it is one of the account's `domains=`, else for
 * dkim_fallback_domain, else not at all.  A failure to sign a message
 * that should be signed is a tempfail 451 4.7.0.
 */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "outcome.h"
#include "policy.h"
#include "policy_params.h"

enum dkimsign_alg {
	DKIMSIGN_ALG_RSA = 0,	/* rsa-sha256 */
	DKIMSIGN_ALG_ED25519,	/* ed25519-sha256, RFC 8463 */
};

#define DKIM_DOMAIN_MAX 254
#define DKIM_SELECTOR_MAX 64

struct dkimsign_key {
	char domain[DKIM_DOMAIN_MAX];	/* lowercase */
	char selector[DKIM_SELECTOR_MAX];
	enum dkimsign_alg alg;
	int bits;		/* RSA modulus size; 256 for Ed25519 */
	int active;
	int64_t created;	/* unix seconds */
	char *pem;		/* owned; loaded private key, NULL unless loaded */
	char *load_error;	/* owned; why pem could not be loaded, or NULL */
	void *evp;		/* owned EVP_PKEY of a loaded key (parsed once), or NULL */
};

struct dkimsign_keystore {
	char *dir;		/* owned */
	struct dkimsign_key *keys;	/* owned */
	size_t n;
};

const char *dkimsign_strealg(enum dkimsign_alg alg);
int dkimsign_parse_alg(const char *s, enum dkimsign_alg *alg);

/* The key directory of P: dkim_key_directory or <data_directory>/dkim. */
const char *dkimsign_key_directory(const struct policy_dkim_params *p, char *out, size_t outlen);

/*
 * Load the metadata of DIR (a missing directory or metadata file is an
 * empty store).  With LOAD_PEMS the private keys of active keys are read
 * too; a key file that is group/world accessible is refused (its
 * load_error says why) and signing with it fails.  0 or -1 with ERR.
 */
int dkimsign_keystore_load(const char *dir, int load_pems, struct dkimsign_keystore **out,
    char *err, size_t errlen);
void dkimsign_keystore_free(struct dkimsign_keystore *ks);
/* Write the metadata atomically (temp file, fsync, rename). */
int dkimsign_keystore_save(const struct dkimsign_keystore *ks, char *err, size_t errlen);
/* Find a key; NULL if absent. */
struct dkimsign_key *dkimsign_keystore_find(struct dkimsign_keystore *ks, const char *domain,
    const char *selector);

/* Domain names and selectors we accept (letters, digits, '-', '.'). */
int dkimsign_valid_domain(const char *s);
int dkimsign_valid_selector(const char *s);

/*
 * Generate a key with OpenSSL (RSA of BITS, or Ed25519), write it 0600
 * and add it to KS (SELECTOR NULL or "" picks one: r/e + YYYYMMDD +
 * letter).  ACTIVE makes it the active key of its algorithm for the
 * domain.  The caller saves KS.  Returns the new key (valid until KS
 * changes again) or NULL with ERR.
 */
struct dkimsign_key *dkimsign_key_generate(struct dkimsign_keystore *ks, const char *domain,
    const char *selector, enum dkimsign_alg alg, int bits, int active,
    char *err, size_t errlen);
/* Remove KEY's file and entry from KS.  The caller saves KS. */
int dkimsign_key_remove(struct dkimsign_keystore *ks, const char *domain, const char *selector,
    char *err, size_t errlen);

/*
 * The TXT record value to publish at <selector>._domainkey.<domain>:
 * "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" or, for Ed25519,
 * "v=DKIM1; k=ed25519; p=<base64 raw 32-byte key>" (RFC 8463 §4).
 * Reads the private key file.  0 or -1 with ERR.
 */
int dkimsign_key_txt(const struct dkimsign_keystore *ks, const struct dkimsign_key *key,
    struct buf *txt, char *err, size_t errlen);
/*
 * Zone-file form: `NAME. IN TXT ( "..." "..." )` with the value split
 * into character-strings of at most 255 octets (RFC 1035 §3.3).
 */
void dkimsign_txt_zone_line(const char *name, const char *txt, struct buf *out);

/*
 * Domain of the author in a message's header block (pure; for tests):
 * exactly one From: header whose mailboxes all share one domain.
 * Returns the domain length or -1.
 */
int dkimsign_from_domain(const char *msg, size_t len, char *out, size_t outlen);

/*
 * Sign MSG (a whole message, CRLF lines) with KEY: DKIM-Signature
 * header line(s) ending in CRLF are appended to SIGHDR.  relaxed/
 * relaxed, headers from P->sign_headers with From oversigned,
 * x= from P->signature_expiry, never l=.  0 or -1 with ERR.
 */
int dkimsign_sign_with_key(const struct policy_dkim_params *p, const struct dkimsign_key *key,
    const char *msg, size_t len, struct buf *sighdr, char *err, size_t errlen);
/* The same over a header section HDR (its fields; the walk ends at an
 * empty line or at HLEN) and a BODY kept apart: what the EOM stage
 * signs without joining the added fields to the message. */
int dkimsign_sign_parts(const struct policy_dkim_params *p, const struct dkimsign_key *key,
    const char *hdr, size_t hlen, const char *body, size_t blen, struct buf *sighdr,
    char *err, size_t errlen);

/*
 * Choose the signing domain for M and sign with every active key of it
 * the final message (policy_msg_header_block() + the body of m->data),
 * adding the signatures on top through m->hdrs.  Sets OUT (ok, or 451 4.7.0).
 * Returns 0 (signed or nothing to sign) or -1 (tempfail in OUT).
 * The keystore is cached and reloaded when its metadata file changes,
 * so `posternctl dkim rotate` takes effect on the next message.
 */
int dkimsign_stage_run(struct policy_msg *m, struct outcome *out);
extern const struct policy_stage dkimsign_stage;

#endif
