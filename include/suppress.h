/* SPDX-License-Identifier: ISC */
/*
 * suppress.h: suppression lists (src/account/suppress.c), per account
 * and one global (operator) list that applies to every account.
 *
 * Stored in the queue's suppressions table (QUEUE_T_SUPPRESSIONS):
 *
 *   key    SCOPE "/" HASH     SCOPE = account name, or "*" (global);
 *                             HASH = 64 hex digits of addr_index_hash()
 *                             of the normalised address (include/addr.h)
 *   value  reason=hard_bounce|complaint|unsubscribe|manual|erased
 *          source=5.1.1 | abuse | one-click | <operator text>
 *          created=<wall ms>
 *          expires=<wall ms, 0 = never>
 *
 * No plaintext address is stored anywhere in it, so an erased data
 * subject's opt-out still holds and the table reveals nothing without
 * the master key.  Hard-bounce entries expire (suppression_hard_bounce_
 * expiry); complaints, unsubscribes and manual entries never do.  An
 * expired entry counts as absent at once and is removed by the next
 * sweep (every purge_interval, suppress_sweep()).
 *
 * Every add, hit (a blocked RCPT) and remove is an event in the events
 * log: {"event":"suppression_added|suppression_hit|suppression_removed",
 * "account":SCOPE,"hash":first 16 hex digits,"reason":...}: adds and
 * removes in the transaction of the change, hits in their own write
 * behind the RCPT reply; counts per account come from the table and
 * from those events (within event_retention).
 */
#ifndef POSTERN_SUPPRESS_H
#define POSTERN_SUPPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "queue.h"

#define SUPPRESS_GLOBAL "*"
#define SUPPRESS_SOURCE_MAX 64
#define SUPPRESS_KEY_MAX (64 + 1 + ADDR_HASH_HEX)

enum suppress_reason {
	SUPPRESS_HARD_BOUNCE, SUPPRESS_COMPLAINT, SUPPRESS_UNSUBSCRIBE, SUPPRESS_MANUAL,
	SUPPRESS_ERASED,	/* kept by a data-subject erasure (issue 17) */
	SUPPRESS_NREASONS
};

struct suppress_rec {
	enum suppress_reason reason;
	char source[SUPPRESS_SOURCE_MAX];	/* printable ASCII, no '\n' */
	uint64_t created;			/* wall ms */
	uint64_t expires;			/* wall ms, 0 = never */
};

const char *suppress_strreason(enum suppress_reason r);
int suppress_parse_reason(const char *s, enum suppress_reason *out);
/* "*" or a valid account name. */
int suppress_scope_valid(const char *scope);
/* 64 lower-case hex digits? */
int suppress_hash_valid(const char *hex);
/* SCOPE "/" HEX into OUT (SUPPRESS_KEY_MAX). */
void suppress_key(const char *scope, const char *hex, char *out, size_t outlen);
/* The record's text (malloc'd) / parse it (0, or -1 when malformed). */
char *suppress_format(const struct suppress_rec *r, size_t *len);
int suppress_parse(const char *text, size_t len, struct suppress_rec *out);
/* Not expired at NOW? */
int suppress_active(const struct suppress_rec *r, uint64_t now);
/* Copy SRC into the record's source, keeping printable ASCII only. */
void suppress_set_source(struct suppress_rec *r, const char *src);

/* ---- the store (any thread reads; writes go to the queue's writer) ---- */

/* The entry of HEX in SCOPE: 0, -ENOENT, or a negative errno. */
int suppress_get(struct queue *q, const char *scope, const char *hex, struct suppress_rec *out);
/*
 * Is ADDR suppressed for ACCOUNT (its own list, then the global one)?
 * 1 with *OUT and *GLOBAL (1 when the global list has it), 0 not, or
 * -1 when the address does not normalise / no index key / read error.
 * HEX (ADDR_HASH_HEX) gets the address's hash either way when not NULL.
 */
int suppress_check(struct queue *q, const char *account, const char *addr, size_t len,
    struct suppress_rec *out, int *global, char *hex);
/* The same for the address whose hash (addr_index_hash_hex) is HEX. */
int suppress_check_hex(struct queue *q, const char *account, const char *hex,
    struct suppress_rec *out, int *global);
/*
 * Store R for HEX in SCOPE with its event (and AUDIT's record), one
 * transaction.  PSEUDO: the address's log pseudonym for the event, or
 * NULL.  0 submitted (CB runs on the loop), or a negative errno.
 */
int suppress_put(struct queue *q, const char *scope, const char *hex,
    const struct suppress_rec *r, const char *pseudo, const struct queue_audit *audit,
    queue_done_cb cb, void *arg);
/*
 * suppress_put() plus the account's webhook event for the new entry
 * (suppress_webhook_event(): suppressed, complained, unsubscribed) in
 * the outbox, in the same transaction (issue 19).  QID: the message
 * that caused it (its qid and Message-ID go in the event; written when
 * that message's events go to the outbox), or NULL with WEBHOOK set when
 * the caller found the account has a webhook (suppress_scope_webhook()).
 * The global scope has no webhook.
 */
int suppress_put_notify(struct queue *q, const char *scope, const char *hex,
    const struct suppress_rec *r, const char *pseudo, const char *qid, int webhook,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);
/* The webhook event name for an entry of reason R, or NULL (erased). */
const char *suppress_webhook_event(enum suppress_reason r);
/* Whether SCOPE is an account with a webhook_url (reads the account). */
int suppress_scope_webhook(struct queue *q, const char *scope);
/* N entries (HEXES[i] -> RECS[i]) into SCOPE with their events and
 * AUDIT's one record in one transaction (import). */
int suppress_put_many(struct queue *q, const char *scope, char *const *hexes,
    const struct suppress_rec *recs, size_t n, const struct queue_audit *audit,
    queue_done_cb cb, void *arg);
/* Remove HEX from SCOPE with its event (WHY: the operator's reason). */
int suppress_del(struct queue *q, const char *scope, const char *hex, const char *why,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);
/*
 * An automatic source (hard bounce, complaint, unsubscribe) for ADDR:
 * added unless an active entry is already there (then nothing is
 * written: replays and repeated bounces add nothing).  EXPIRY_MS 0 =
 * never.  QID: the message that caused it (NULL: none), for its webhook
 * event.  1 submitted, 0 already suppressed, -1 error.  CB may be NULL.
 */
int suppress_add_auto(struct queue *q, const char *scope, const char *addr, size_t len,
    enum suppress_reason reason, const char *source, uint64_t expiry_ms, const char *qid,
    queue_done_cb cb, void *arg);
/* The same for the address whose hash is HEX (addr_index_hash_hex()):
 * a message whose envelope is gone (body_retention, erasure) still has
 * its recipients' hashes.  PSEUDO may be NULL. */
int suppress_add_auto_hash(struct queue *q, const char *scope, const char *hex,
    const char *pseudo, enum suppress_reason reason, const char *source, uint64_t expiry_ms,
    const char *qid, queue_done_cb cb, void *arg);
/* The event of a blocked recipient (ACTION "reject" or "drop"). */
int suppress_event_hit(struct queue *q, const char *scope, const char *hex,
    const char *pseudo, enum suppress_reason reason, const char *action);

/* Remove up to MAX entries (any scope) that have expired at NOW, each
 * with its suppression_removed event (source "expired").  How many
 * removals were submitted. */
size_t suppress_sweep(struct queue *q, uint64_t now, size_t max);

struct suppress_counts {
	uint64_t entries[SUPPRESS_NREASONS];	/* active entries by reason */
	uint64_t expired;			/* entries past their expiry */
	uint64_t added, hits, removed;		/* events (within event_retention) */
};
int suppress_counts(struct queue *q, const char *scope, struct suppress_counts *out);

#endif
