/* SPDX-License-Identifier: ISC */
/*
 * review.h: the abuse review workflow's pure parts (issue 16).
 *
 *  - The masked view (policy/review_view.c): what `posternctl review
 *    show` gives a reviewer of a stored message: a few header fields
 *    with every address partly masked (j\u2022\u2022\u2022@example.com)
 *    or pseudonymised, the Subject and every text part with each
 *    sensitive-data finding masked by the redaction's rule (last four
 *    kept: \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022
 *    \u2022\u2022\u2022\u2022 9855, SSN \u2022\u2022\u2022-\u2022\u2022-6789),
 *    attachments by name, type and size, and the findings by type.  A
 *    pure function over (pointer, length): no I/O, fuzzed
 *    (tests/fuzz/fuzz_review_view.c).
 *  - The automatic triggers (src/account/abuse.c): per-account sliding
 *    windows of delivery outcomes and complaints, and the status they
 *    call for (SES-style: under_review, then paused).
 *  - The classifier seam (struct review_classifier): `review release
 *    --learn`, `review reject --learn|--similar` and `review flag` call
 *    it; src/control/cmd_review.c wires it to the spam classifier
 *    (include/spam.h) when that exists, else to the built-in
 *    fingerprint below (near-duplicate search only, no learning).
 */
#ifndef POSTERN_REVIEW_H
#define POSTERN_REVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

struct mime_limits;

struct review_view_opts {
	const struct mime_limits *lim;	/* MIME limits (NULL: the defaults) */
	int pseudonym;			/* addresses as h:... pseudonyms, not j...@domain */
	size_t max_text;		/* bytes of text per part shown (0: 64 KiB) */
};

/*
 * Write the masked view of the message RAW as members of the JSON
 * object J is inside of: "headers" (array of {name, value}), "subject",
 * "parts" (array of {part, type, text, truncated}), "attachments"
 * (array of {part, name, type, size}) and "findings" ({type: count}).
 * Never writes an unmasked address or finding value.
 */
void review_masked_view(const char *raw, size_t len, const struct review_view_opts *o,
    struct json_out *j);
/* Append TEXT to OUT with every address and sensitive-data value masked
 * (PSEUDONYM: addresses as pseudonyms); COUNT (NULL or DLP_NTYPES long)
 * gets the findings by type added. */
void review_mask_text(const char *text, size_t len, int pseudonym, struct buf *out,
    size_t *count);
/* ADDR (local@domain) masked: first character of the local part, three
 * bullets, @domain; or its pseudonym. */
void review_mask_address(const char *addr, size_t len, int pseudonym, struct buf *out);

/*
 * Release after a long hold (policy/review_view.c): remove the
 * DKIM-Signature fields at the very top of MSG (where the EOM stage puts
 * ours) whose x= is at or before NOW (unix seconds); a customer's own
 * signatures further down are left.  Returns how many were removed: the
 * caller signs the message again.
 */
size_t review_strip_expired_dkim(struct buf *msg, uint64_t now);

/* ---- fingerprints for --similar (policy/review_view.c) ---- */

/* A 64-bit SimHash of the message's decoded text (word shingles), so
 * the same campaign with small changes (names, numbers) lands within a
 * few bits.  0 for a message without text. */
uint64_t review_fingerprint(const char *raw, size_t len, const struct mime_limits *lim);
/* Bits that differ between two fingerprints. */
unsigned review_fingerprint_distance(uint64_t a, uint64_t b);
/* At or below this distance two messages are "similar". */
#define REVIEW_SIMILAR_BITS 6

/* ---- the classifier seam ---- */

/*
 * What the review commands need from a content classifier.  learn():
 * train RAW as spam (1) or ham (0); 0, 1 when declined (the spam
 * model's balance guard), or -1.  Either member may be NULL
 * (not available: the command says so in its result).
 */
struct review_classifier {
	const char *name;		/* "spam" (include/spam.h) or "fingerprint" */
	int (*learn)(void *arg, const char *raw, size_t len, int spam);
	void *arg;
};

/* ---- automatic triggers (src/account/abuse.c) ---- */

enum abuse_kind { ABUSE_DELIVERED, ABUSE_BOUNCE, ABUSE_COMPLAINT };

struct abuse_thresholds {
	int64_t window;			/* outcomes remembered per account */
	int64_t min_messages;		/* no transition below this many */
	int64_t bounce_review, bounce_pause;		/* per mille */
	int64_t complaint_review, complaint_pause;	/* per mille */
};

struct abuse_rates {
	uint64_t messages, bounces, complaints;	/* in the window */
	unsigned bounce_pm, complaint_pm;	/* per mille */
};

struct abuse;
struct abuse *abuse_new(void);
void abuse_free(struct abuse *a);
/*
 * Count one outcome of ACCOUNT; returns the status the thresholds call
 * for (enum account_status: ACCOUNT_ACTIVE when none, else
 * ACCOUNT_UNDER_REVIEW or ACCOUNT_PAUSED).  Pure.
 */
int abuse_record(struct abuse *a, const char *account, enum abuse_kind k,
    const struct abuse_thresholds *t);
void abuse_rates(const struct abuse *a, const char *account, struct abuse_rates *out);
/* The status RATES call for under T (enum account_status). */
int abuse_status_for(const struct abuse_rates *r, const struct abuse_thresholds *t);
/* T with the thresholds POL sets itself (review_* account settings). */
struct account_policy;
void abuse_thresholds_for(const struct abuse_thresholds *global,
    const struct account_policy *pol, struct abuse_thresholds *out);
/*
 * The credential-compromise pattern (issue 16, from the spam issue's
 * signals): one accepted message of ACCOUNT from client address CLIENT
 * at NOW (wall ms) with its spam SCORE (HAVE_SCORE 0: no score).
 * Returns 1 when all three show at once: CLIENT is new for the account
 * (first seen within the last day, while the account was already known
 * from other addresses), the account's volume this hour is a spike
 * (>= min_volume and >= spike x its average hour so far), and SCORE >=
 * score.  Pure; the relay suspends the account when it says 1.
 */
struct compromise_params {
	int64_t score;			/* review_compromise_score; 0 = off */
	int64_t spike;			/* review_compromise_spike (factor) */
	int64_t min_volume;		/* review_compromise_min_volume */
};
int abuse_compromise(struct abuse *a, const char *account, const char *client,
    int have_score, double score, uint64_t now, const struct compromise_params *p);

/* The account_status event (JSON, malloc'd) for the events log: what
 * the customer and `review account` see of a transition.  STATUS is an
 * enum account_status; WHY a class ("review", "resumed", "bounce_rate",
 * "complaint_rate"), never a reviewer's words or name. */
char *account_status_event(const char *account, int status, const char *why,
    const struct abuse_rates *rates);

/*
 * A move of an account's status, applied by the queue's writer to the
 * record as it is then (account_status_update() is a queue_update_fn,
 * include/queue.h), so that two changes of one account at once (an
 * automatic trigger on one loop, another trigger or a reviewer on
 * another) both hold: before, each wrote back a whole record read
 * earlier, and the later write undid the other's change.
 *
 * RAISE (the triggers): only upwards, to STATUS (enum account_status);
 * nothing when the record is already there or beyond, or is gone.
 * With SET_SUSPENDED the account's suspended flag is set too (the
 * compromise trigger).  SET (a reviewer): STATUS ACCOUNT_SUSPENDED
 * suspends, ACCOUNT_ACTIVE resumes (nothing when already active).
 * The event is account_status_event(NAME, new status, WHY, RATES when
 * HAVE_RATES).  FROM gets the status the record had.  A record deleted
 * meanwhile is never written back: nothing for the triggers, EIDRM
 * (the command fails, R_RECORD_GONE) with MUST_EXIST (a reviewer).
 * The callers log the move (event=account_status) only when MOVED: a
 * move another change made first is not claimed twice.
 */
enum account_change_mode { ACCOUNT_CHANGE_RAISE, ACCOUNT_CHANGE_SET };
struct account_status_change {
	char name[65];
	enum account_change_mode mode;
	int status;
	int set_suspended;
	int must_exist;			/* a reviewer's command: fail when it is gone */
	char why[32];
	int have_rates;
	struct abuse_rates rates;
	int from;			/* out */
	int moved;			/* out: the writer changed the record (its
					 * queue_kv_update() *CHANGED) */
};
struct account_status_change *account_status_change_new(const char *name,
    enum account_change_mode mode, int status, const char *why, const struct abuse_rates *rates);
int account_status_update(void *arg, const char *cur, size_t curlen, char **out, size_t *outlen,
    char **event);

#endif
