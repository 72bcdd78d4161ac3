/* SPDX-License-Identifier: ISC */
/*
 * dlp.h: sensitive-data detection over decoded text (issue 7) and the
 * end-of-message policy stage that acts on it.
 *
 * The detectors are pure functions over (pointer, length) of UTF-8
 * text: payment cards (IIN/length table + Luhn; well-known test numbers
 * reported as card_test), US SSNs (range rules, bare nine digits only
 * next to a keyword) and IBANs (per-country length + ISO 7064 mod 97).
 * A finding carries the type, a confidence raised by nearby keywords,
 * the MIME part it came from and its offset in that part's decoded
 * text; never the value itself.  dlp_mask() produces the masked form
 * (last four kept) for reviewers, `posternctl scan` and redaction.
 */
#ifndef POSTERN_DLP_H
#define POSTERN_DLP_H

#include <stddef.h>

#include "buf.h"
#include "outcome.h"

enum dlp_type {
	DLP_CARD = 0,
	DLP_CARD_TEST,
	DLP_SSN,
	DLP_IBAN,
	DLP_NTYPES
};

/* What to do with a type, from the account record or postern.conf. */
enum dlp_action {
	DLP_IGNORE = 0,
	DLP_TAG,
	DLP_REDACT,
	DLP_HOLD,
	DLP_REJECT,
};

struct dlp_finding {
	enum dlp_type type;
	unsigned confidence;	/* 0..100 */
	unsigned part;		/* MIME part number; 0 = header fields (Subject, filenames) */
	size_t offset;		/* first character, in the part's decoded text */
	size_t len;		/* characters spanned, separators included */
	char brand[12];		/* card brand or IBAN country; "" otherwise */
};

/* Findings of one message.  Only the first DLP_MAX_STORED are kept in
 * v; count[] counts all of them. */
#define DLP_MAX_STORED 1000
struct dlp_findings {
	struct dlp_finding *v;	/* owned */
	size_t n, cap;
	size_t count[DLP_NTYPES];
};

void dlp_findings_init(struct dlp_findings *f);
void dlp_findings_free(struct dlp_findings *f);
size_t dlp_findings_total(const struct dlp_findings *f);

/* Scan TEXT (decoded, UTF-8) of MIME part PART; append findings to OUT.
 * Returns the number of findings added. */
size_t dlp_scan(const char *text, size_t len, unsigned part, struct dlp_findings *out);

/* Masked value of finding F found in TEXT: digits replaced by '*' except
 * the last four (IBAN: country code and last four kept); separators kept. */
void dlp_mask(const char *text, size_t textlen, const struct dlp_finding *f,
    char *out, size_t outlen);
/* For each byte of the finding's span, 1 when redaction replaces it. */
int dlp_mask_byte(const char *span, size_t len, enum dlp_type type, size_t i);

const char *dlp_strtype(enum dlp_type t);
const char *dlp_straction(enum dlp_action a);
int dlp_parse_action(const char *s, enum dlp_action *out);

/* Check helpers, exported for tests. */
int dlp_luhn_ok(const char *digits, size_t n);
/* Brand name when DIGITS has a known IIN and a valid length for it, else NULL. */
const char *dlp_card_brand(const char *digits, size_t n);
int dlp_card_is_test(const char *digits, size_t n);
/* The published test numbers dlp_card_is_test() knows (*N of them). */
const char *const *dlp_card_test_list(size_t *n);
/* 1 when S (LEN alphanumerics, no spaces) is a valid IBAN. */
int dlp_iban_ok(const char *s, size_t len);

/*
 * Redaction (policy/redact.c): copy RAW to OUT with every value of the
 * types in TYPE_MASK (bit 1 << enum dlp_type) masked to its last four,
 * parts re-encoded with their own transfer encoding.  0 on success.
 */
struct mime_limits;
int dlp_redact(const char *raw, size_t len, const struct mime_limits *lim,
    unsigned type_mask, struct buf *out, size_t *nparts_rewritten);
/* The same rewrite in MSG's own buffer (no copy of the message; it grows
 * at most once when the result is longer).  0, or -1 (MSG unchanged). */
int dlp_redact_in_place(struct buf *msg, const struct mime_limits *lim,
    unsigned type_mask, size_t *nparts_rewritten);

/*
 * The EOM stage (struct policy_stage in include/policy.h): parses the
 * message, scans every text part and the Subject, then applies the
 * per-type action of the account (m->acct->dlp_action[], its typed
 * policy) or the global config (dlp_action_card, ...): tag adds an
 * X-Postern-DLP: header (m->hdrs), hold sets m->hold, redact rewrites
 * m->data in place,
 * reject answers 550 5.7.1 naming the types.  Findings (never values)
 * are appended to m->verdicts as JSON.
 */
struct policy_msg;
int dlp_policy_stage(struct policy_msg *m, struct outcome *out);

#endif
