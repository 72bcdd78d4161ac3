/* SPDX-License-Identifier: ISC */
/*
 * queue.h: the durable queue (DESIGN.md §4-§6), the only hand-off
 * between receiving and delivering.  Implemented in queue/; LMDB sits
 * behind queue/db.c alone.
 *
 * Contract:
 *  - queue_commit() calls back exactly once, on the loop thread, and
 *    with an OK outcome only after the message, all its recipients and
 *    their schedule entries are committed and synced (group commit on
 *    one writer thread).  Failures are tempfail outcomes: 452 4.3.1
 *    (map or disk full) or 451 4.3.0 (I/O).
 *  - Bodies are stored in chunks, each sealed with AES-256-GCM under a
 *    per-message data key (derived from the account key and a per-message
 *    secret, both sealed under the master key); envelope addresses are sealed under the same key, with
 *    keyed hashes beside them for lookups.  The keys live in the key
 *    store (queue/keystore.c), not in LMDB: deleting a message zeroes
 *    its data key's slot once the transaction commits.
 *  - Message ids are QUEUE_ID_LEN printable characters, unique and
 *    sortable by creation time.
 *  - All callbacks run on the loop thread.  queue_commit() and the
 *    other write requests may be called from any thread (they hand a
 *    request to the writer thread); read functions may be called on
 *    any thread (LMDB read transactions).  The scheduler functions
 *    (queue_set_due_callback, queue_take_due) belong to the loop.
 */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "buf.h"
#include "outcome.h"

#define QUEUE_ID_LEN 20

struct queue;

/* Message / recipient states (issue 3). */
enum queue_state {
	QUEUE_QUEUED = 0,	/* waiting for (first or next) attempt */
	QUEUE_HELD,		/* never delivered until released */
	QUEUE_DEFERRED,		/* attempted, will retry at next_try */
	QUEUE_DELIVERED,
	QUEUE_BOUNCED,		/* permanent failure */
	QUEUE_EXPIRED,		/* max_queue_lifetime passed */
	QUEUE_DELETED,
};
const char *queue_strstate(enum queue_state s);
int queue_parse_state(const char *s, enum queue_state *out);

/* DSN NOTIFY bits (RFC 3461 §4.1); 0 means "not given" (default FAILURE,DELAY). */
#define QUEUE_NOTIFY_NEVER	0x01
#define QUEUE_NOTIFY_SUCCESS	0x02
#define QUEUE_NOTIFY_FAILURE	0x04
#define QUEUE_NOTIFY_DELAY	0x08

struct queue_rcpt_in {
	char *addr;		/* owned by the caller */
	char *orcpt;		/* DSN ORCPT (addr-type;xtext) or NULL */
	unsigned notify;	/* QUEUE_NOTIFY_* */
	/* addr_index_hash(addr) when the caller has made it (has_hash),
	 * else the writer makes it */
	int has_hash;
	unsigned char addr_hash[32];
};

/*
 * An audit record committed in the same LMDB transaction as the change it
 * describes (DESIGN.md §9), so a committed change always has a committed
 * record and a failed transaction leaves neither.  JSON is one object
 * written by the caller (who, role, command, target: src/control/); the
 * queue completes it with "status" (0, or 1 and "error") and, for changes
 * to messages, "ids": the messages that transaction changed (ids only,
 * never addresses or content).  An op refused as a whole (no such
 * message, nothing to change) still commits its record, with status 1.
 * The mutations below that take one copy JSON; NULL means no record.
 * Their outcome then tells the caller: OK or permfail, the record is
 * committed; tempfail, the transaction may have failed and nothing of
 * it, the record included, may have been written.
 */
struct queue_audit {
	const char *json;
	int unchanged_ok;	/* queue_actions: a message with nothing to change
				 * (--all-matching) does not make status 1 */
};

/* What a receiver hands to queue_commit().  All pointers are borrowed
 * until the callback fires. */
struct queue_msg_in {
	const char *account;		/* "" for none */
	const char *sender;		/* "" for the null sender <> */
	const struct queue_rcpt_in *rcpts;
	size_t nrcpts;
	const char *data;		/* whole message, CRLF lines, dot-unstuffed */
	size_t len;
	/* Or, when iov is set, the message is iov[0..niov) one after the
	 * other (data and len are then ignored): the relay hands its added
	 * header fields and the received buffer without joining them; the
	 * writer seals the pieces into chunks as they come. */
	const struct iovec *iov;
	size_t niov;
	enum queue_state state;		/* QUEUE_QUEUED or QUEUE_HELD */
	const char *envid;		/* DSN ENVID or NULL */
	int ret_full;			/* DSN RET=FULL */
	int smtputf8;			/* needs SMTPUTF8 downstream */
	int eightbit;			/* BODY=8BITMIME */
	const char *verdicts;		/* policy findings, JSON text or NULL; never content */
	const char *client;		/* pseudonymised client description for events, or NULL */
	int zero_retention;		/* X-Postern-Retention: 0 (issue 17): the body is
					 * shredded when the last recipient is final */
	const char *message_id;		/* the message's Message-ID (webhooks, queue
					 * show), or NULL */
	int webhook;			/* its account has a webhook: every event of
					 * the message also goes to the outbox */
	const struct queue_audit *audit;	/* control plane (queue.inject); the
					 * record gets the new id; NULL from SMTP */
	const char *id;			/* the id to use, made by queue_new_id() before
					 * (the EOM stages put it in List-Unsubscribe
					 * tokens and Received: ... id QID), or NULL:
					 * a fresh one */
	const char *message_id_hash;	/* 64 hex digits (token_msgid_hash_hex())
					 * of the Message-ID for QUEUE_T_MSGIDS,
					 * or NULL / "": not indexed */
	int has_sender_hash;		/* sender_hash is addr_index_hash(sender), */
	unsigned char sender_hash[32];	/* made by the caller; else the writer's */
};

/* A new message id (unique, sortable) for queue_msg_in.id. */
void queue_new_id(char out[QUEUE_ID_LEN + 1]);

typedef void (*queue_commit_cb)(void *arg, const struct outcome *o, const char *msgid);
/* Group-commit histograms (include/histo.h): time per batch (apply,
 * commit and fsync, in microseconds) and operations per batch. */
struct histo;
void queue_commit_histograms(struct queue *q, struct histo *latency, struct histo *batch);
typedef void (*queue_done_cb)(void *arg, const struct outcome *o);

/*
 * The settings the queue takes from postern.conf, already typed.  The
 * daemon glue builds them (queue_params_from_config() in
 * src/daemon/queue_module.c); the queue keeps no pointer into them.
 */
struct queue_params {
	const char *data_directory;
	const char *master_key_file;
	uint64_t map_size;		/* bytes; at open only */
	int map_grow;
	uint64_t map_max;
	uint64_t chunk_size;		/* bytes; at open only */
	int64_t commit_batch;
	uint64_t result_linger;		/* ms a batch of delivery results alone may wait for company */
	const uint64_t *retry;		/* retry_schedule in ms */
	size_t nretry;
	uint64_t max_queue_lifetime;	/* ms */
	uint64_t body_retention;	/* ms */
	uint64_t event_retention;	/* ms */
	uint64_t metadata_retention;	/* ms; 0 = event_retention */
	uint64_t audit_retention;	/* ms; 0 = for ever */
	uint64_t purge_interval;	/* ms */
};

/* Open (creating if needed) the environment in p->data_directory with
 * the master key from p->master_key_file.  -1 with ERR on failure. */
struct queue *queue_open(uv_loop_t *loop, const struct queue_params *p, int readonly,
    char *err, size_t errlen);
/* Adopt new settings (SIGHUP): retry schedule, lifetimes, retention,
 * map growth, batch size.  The queue keeps no pointer into P. */
void queue_reload(struct queue *q, const struct queue_params *p);
/* The daemon is stopping (its drain, before any module stops): a
 * delivery result no longer lingers for company (queue_result_linger),
 * so the delivery engine's drain, which waits for its results, is not
 * held up by the linger; no new mail comes to take them along. */
void queue_drain(struct queue *q);
/* Finish pending commits (bounded by cfg->shutdown_timeout) and close. */
void queue_close(struct queue *q);

/*
 * Other loops (smtpd_loops): a queue_port is the way back to a loop
 * other than the queue's own.  queue_port_new() is called for LOOP
 * before that loop runs; queue_port_bind(), on the thread that runs
 * LOOP, makes it the port of every op submitted from that thread
 * (queue_commit() and every other write with a callback), so their
 * callbacks run on LOOP: the writer's done list is drained on the
 * queue's loop as before, which hands such ops to their port.
 * queue_port_busy() counts ops submitted through the port whose
 * callback has not run yet; queue_port_close() (on LOOP, when it is 0)
 * closes the port's handle (the queue frees it); a callback that comes
 * back after that (a forced stop) is dropped with a warning, unless the
 * queue's loop adopted the port: queue_port_adopt(), on the queue's
 * loop once LOOP's thread has ended (joined), runs every callback the
 * port still holds and every later one there, so what they free is
 * freed (a delivery loop stopped with results held: disk full).
 */
struct queue_port;
struct queue_port *queue_port_new(struct queue *q, uv_loop_t *loop);
void queue_port_bind(struct queue_port *p);
unsigned queue_port_busy(const struct queue_port *p);
void queue_port_close(struct queue_port *p);
void queue_port_adopt(struct queue_port *p);

int queue_commit(struct queue *q, const struct queue_msg_in *m,
    queue_commit_cb cb, void *arg);

/* ---- reading (any thread) ---- */

struct queue_rcpt {
	uint32_t no;
	char *addr;
	char *orcpt;
	unsigned notify;
	enum queue_state state;
	uint32_t attempts;
	uint64_t next_try;	/* wall ms */
	uint64_t first_attempt;	/* wall ms of the first attempt, 0 = none yet */
	uint64_t last_attempt;	/* wall ms of the latest attempt, 0 = none yet */
	char *last_reply;	/* "550 5.1.1 ..." or NULL; addresses in it pseudonymised */
	char *relay;		/* last relay host or NULL */
	unsigned char addr_hash[32];	/* keyed index of addr (addr.h); valid if has_hash */
	int has_hash;
	/* queue/ only: the sealed (addr, orcpt) as stored, kept opaque */
	unsigned char *sealed;
	size_t sealed_len;
};

struct queue_msg {
	char id[QUEUE_ID_LEN + 1];
	char *account;
	char *sender;
	char *envid;
	int ret_full, smtputf8, eightbit;
	enum queue_state state;		/* message state: held, or derived from recipients */
	uint64_t created;		/* wall ms */
	uint64_t size;
	char *verdicts;
	size_t nrcpts;
	struct queue_rcpt *rcpts;
	char *client;			/* pseudonymised client description or NULL */
	char *message_id;		/* the customer's Message-ID or NULL */
	unsigned char sender_hash[32];	/* keyed index of sender; valid if has_sender_hash */
	int has_sender_hash;
	/* The envelope (sender, envid, client, recipient addresses) is sealed
	 * under the data key; once that key is shredded (delete, body
	 * retention, account delete) only the keyed hashes remain and this
	 * is set (addresses read as ""). */
	int envelope_gone;
	unsigned char *env_sealed;	/* queue/ only: as stored, opaque */
	size_t env_sealed_len;
};

void queue_msg_free(struct queue_msg *m);
/* Path of the key store file (tests scan it). */
const char *queue_keystore_path(struct queue *q);
/* 0, -ENOENT, or other negative errno. */
int queue_get(struct queue *q, const char *id, struct queue_msg **out);
/* Decrypt the whole body into OUT (appended). */
int queue_read_body(struct queue *q, const char *id, struct buf *out);

/* ---- scheduler / delivery engine ---- */

/* Called (on the loop) whenever recipients become due. */
typedef void (*queue_due_cb)(void *arg);
void queue_set_due_callback(struct queue *q, queue_due_cb cb, void *arg);

/*
 * The account record's one owner is src/account/: the queue does not
 * parse it.  FN(ARG, TEXT, LEN, OUT) fills the typed policy of a stored
 * record (scalars only; OUT->domains stays NULL) and returns 0, or -1
 * when the record is malformed.  Called on the writer thread by the
 * retention purge (per-account body_retention / event_retention).
 * Without it (read-only tools), the global retention applies.
 */
struct account_policy;
typedef int (*queue_account_policy_fn)(void *arg, const char *text, size_t len,
    struct account_policy *out);
void queue_set_account_policy_fn(struct queue *q, queue_account_policy_fn fn, void *arg);

/* One message with its recipients that are due now.  Recipients handed
 * out are marked in flight (in memory) until reported. */
struct queue_job {
	struct queue_msg *msg;		/* only the due recipients in msg->rcpts */
};
/* Take up to MAX due jobs; returns how many were written to JOBS. */
size_t queue_take_due(struct queue *q, struct queue_job **jobs, size_t max);
/* Move the recipients of JOB with MOVE[i] set into a new job (a fresh
 * copy of the message); NULL, JOB unchanged, when that cannot be done.
 * On the queue's loop, like queue_take_due(). */
struct queue_job *queue_job_split(struct queue *q, struct queue_job *job,
    const unsigned char *move);
void queue_job_free(struct queue_job *job);

enum queue_result {
	QUEUE_RESULT_DELIVERED,
	QUEUE_RESULT_TEMPFAIL,		/* retry per retry_schedule, or expire */
	QUEUE_RESULT_PERMFAIL,
};
/* Called back with the recipient's new state: a tempfail past
 * max_queue_lifetime comes back as QUEUE_EXPIRED (caller bounces).
 * LATE is 1 when the recipient was deleted or made final (queue bounce,
 * its DSN sent) while this attempt was in flight: the result changed
 * nothing, NEWSTATE is the state the recipient has (QUEUE_DELETED for a
 * message gone meanwhile) and the caller adds nothing (no DSN, no
 * bounce rate).
 * The queue's own bookkeeping of a report (in flight, held results,
 * the scheduler) is done on the queue's loop; only this callback goes
 * to the reporting loop's port (delivery loops, issue 20 item 3). */
typedef void (*queue_report_cb)(void *arg, const struct outcome *o,
    enum queue_state newstate, int late);
/* ADDR is the recipient's address as the engine took it (the event
 * names its pseudonym; the envelope then stays sealed), or NULL. */
int queue_report(struct queue *q, const char *id, uint32_t rcpt_no, const char *addr,
    enum queue_result r, const struct outcome *reply, const char *relay,
    queue_report_cb cb, void *arg);
/* The same, with AUDIT's record in the transaction (queue.report). */
int queue_report_audited(struct queue *q, const char *id, uint32_t rcpt_no,
    enum queue_result r, const struct outcome *reply, const char *relay,
    const struct queue_audit *audit, queue_report_cb cb, void *arg);
/* The retry backoff, the only one (queue/retry.c): when a recipient of
 * M whose ATTEMPTS-th attempt failed at NOW is tried next, per the
 * current retry_schedule and capped at the message's expiry
 * (created + max_queue_lifetime).  queue_report() schedules with it;
 * every reader of attempt times uses the recorded first_attempt /
 * last_attempt instead of working backwards from next_try. */
uint64_t queue_next_retry(struct queue *q, const struct queue_msg *m,
    uint32_t attempts, uint64_t now);

/* ---- generic records: accounts, dkim, suppressions ---- */

/* QUEUE_T_REVIEW: message id -> the abuse review record (JSON, written
 * only by queue_review(): why it is held, since when, by whose class of
 * decision it left review, whether it was flagged; never content). */
/* QUEUE_T_MSGIDS: the Message-ID index, HEX "/" QUEUE_ID -> "" (HEX =
 * token_msgid_hash_hex() of the message's Message-ID, never the
 * plaintext), written by queue_commit() in the message's transaction and
 * deleted with the message's record by the purge; read by the feedback
 * listener to match ARF reports that quote only the original. */
/* QUEUE_T_SUBJECTS: "ACCOUNT/HEXHASH" -> JSON array of the data-subject
 * requests about that keyed address hash (request id, kind, time,
 * counts; never the address).  QUEUE_T_RESTRICTIONS: "ACCOUNT/HEXHASH"
 * -> {"reason","time"} (GDPR Art. 18, issue 17). */
enum queue_table { QUEUE_T_ACCOUNTS, QUEUE_T_DKIM, QUEUE_T_SUPPRESSIONS, QUEUE_T_REVIEW,
	QUEUE_T_MSGIDS, QUEUE_T_SETTINGS, QUEUE_T_SUBJECTS, QUEUE_T_RESTRICTIONS };
/* QUEUE_T_SETTINGS: node settings kept in the queue (delivery pauses, issue 19). */
#define QUEUE_MSGID_KEY_MAX (64 + 1 + QUEUE_ID_LEN + 1)
/* Get a copy of the value (malloc'd) or -ENOENT. Any thread. */
int queue_kv_get(struct queue *q, enum queue_table t, const char *key,
    char **val, size_t *len);
/* Put or delete (val NULL); durable when the callback fires. */
int queue_kv_put(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, queue_done_cb cb, void *arg);
/* The same, with AUDIT's record in the transaction. */
int queue_kv_put_audited(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const struct queue_audit *audit,
    queue_done_cb cb, void *arg);

/*
 * Delivery pause (queue/pause.c, issue 19): pause or resume delivery to
 * DOMAIN, or of everything when DOMAIN is NULL; persisted (settings
 * table), with AUDIT's record in the same transaction.  Paused
 * recipients stay due but are not handed out by queue_take_due().
 * queue_delivery_paused_list: "*" (all) and the paused domains, malloc'd.
 */
int queue_delivery_pause(struct queue *q, const char *domain, int pause,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);
int queue_delivery_paused_list(struct queue *q, char ***domains, size_t *n);
/* From any thread (delivery loops): 1 when delivery to DOMAIN (lowercase)
 * is paused, by its own pause or by a pause of everything.  Mail a
 * delivery engine already holds waits too (posternctl delivery pause). */
int queue_delivery_paused_for(struct queue *q, const char *domain);

/*
 * The webhook outbox (queue/outbox.c): the events of messages committed
 * with queue_msg_in.webhook, oldest first.  Read any thread; delete
 * through the writer (durable when CB runs).
 */
#define QUEUE_OUTBOX_KEY_LEN 12
struct queue_outbox_rec {
	unsigned char key[QUEUE_OUTBOX_KEY_LEN];
	uint64_t time;			/* wall ms of the event */
	char *json;			/* the event record, as in queue events */
	size_t len;
};
int queue_outbox_read(struct queue *q, size_t max, struct queue_outbox_rec **recs, size_t *n);
void queue_outbox_recs_free(struct queue_outbox_rec *recs, size_t n);
int queue_outbox_delete(struct queue *q, const unsigned char *key, queue_done_cb cb, void *arg);
/* An event of no queued message (e.g. "rejected" at the end of DATA):
 * JSON with "id", "account", "event", "reply", "message_id", "time". */
int queue_outbox_add(struct queue *q, const char *json, queue_done_cb cb, void *arg);

/* The put (or, VAL NULL, delete) of queue_kv_put_audited() plus EVENT
 * (a JSON object, or NULL) appended to the events log in the same
 * transaction: account status changes by review commands and automatic
 * triggers (issue 16), suppression list changes (issue 14). */
int queue_kv_put_event(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const char *event, const struct queue_audit *audit,
    queue_done_cb cb, void *arg);

/*
 * A record changed from what is in the queue when the writer applies
 * the change, not from a copy read earlier on some loop (two loops, or
 * an operator and an automatic trigger, changing one account at once
 * would otherwise lose one change: the later whole-record write wins).
 * FN runs on the writer thread inside the batch's transaction with the
 * stored record CUR/CURLEN (NULL: there is none) and returns 1 with the
 * new record in *OUT and *OUTLEN (malloc'd; the queue wipes and frees it)
 * and optionally an event (JSON, malloc'd) in *EVENT, 0 to leave the
 * record as it is (nothing is written, no event), a positive errno to
 * fail this change alone (EIDRM: the record is gone, CB gets
 * R_RECORD_GONE), or a negative errno (the batch fails).
 * It may be called more than once (a batch retried op by op) and must
 * touch nothing but ARG, which stays the caller's until CB has run.
 * *CHANGED (may be NULL) is 1 by then when the record was written.
 */
typedef int (*queue_update_fn)(void *arg, const char *cur, size_t curlen, char **out,
    size_t *outlen, char **event);
int queue_kv_update(struct queue *q, enum queue_table t, const char *key, queue_update_fn fn,
    void *arg, int *changed, queue_done_cb cb, void *cbarg);
/*
 * The put of queue_kv_put_audited() only if the record is still EXPECT
 * (EXPECT_LEN octets; NULL: only if there is none), i.e. what the caller
 * read before changing it: otherwise nothing is written and CB gets a
 * 451 4.3.0 "changed meanwhile" (the operator's commands: a concurrent
 * automatic status change is never overwritten by a stale copy).
 */
int queue_kv_put_if(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const void *expect, size_t expect_len,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);

/* The put of queue_kv_put_event() plus WEBHOOK (a JSON event for the
 * webhook outbox, or NULL) in the same transaction: written when MSG_ID
 * is NULL (the caller knows the account has a webhook) or names a
 * message whose events go to the outbox (its account had a webhook at
 * commit).  Suppressions added by a bounce, complaint or unsubscribe. */
int queue_kv_put_notify(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const char *event, const char *webhook, const char *msg_id,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);

/* N puts (KEYS[i] -> VALS[i], LENS[i]) with their EVENTS (NULL, or
 * per put NULL or a JSON object) and AUDIT's one record in ONE
 * transaction: all or nothing (suppress import). */
int queue_kv_put_many(struct queue *q, enum queue_table t, const char *const *keys,
    const char *const *vals, const size_t *lens, const char *const *events, size_t n,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);
/* Append one event (a JSON object, no personal data in clear) to the
 * events log; CB may be NULL. */
int queue_event(struct queue *q, const char *json, queue_done_cb cb, void *arg);

/* ---- abuse review (issue 16, queue/review.c) ---- */

enum queue_review_op {
	QUEUE_REVIEW_HOLD,	/* pending recipients -> held, with REASON (suspended, similar) */
	QUEUE_REVIEW_RELEASE,	/* held -> queued, due now */
	QUEUE_REVIEW_REJECT,	/* never delivered: recipients deleted, body and data key shredded */
	QUEUE_REVIEW_EXPIRE,	/* the same, by review_hold_expiry */
	QUEUE_REVIEW_FLAG,	/* marked abusive (also once delivered); no state change */
};
const char *queue_strreview(enum queue_review_op op);	/* "held", "released", ... */
/*
 * OP on the N messages IDS in ONE transaction with AUDIT's record (the
 * ids changed), like queue_actions(): each recipient changed gets an
 * event named by queue_strreview(OP) with REASON as its "reason" class
 * (no reviewer identity: events are the customer's), and the message's
 * review record (QUEUE_T_REVIEW) is created or updated: {"reason",
 * "account", "held" (wall ms), "decision", "decided", "flagged"}.
 * STATUS[i]: 0, -ENOENT, or -EALREADY (nothing to change: not held, not
 * pending, already final).  REASON may be NULL (the record's own is kept).
 */
int queue_review(struct queue *q, const char *const *ids, size_t n, enum queue_review_op op,
    const char *reason, const struct queue_audit *audit, int *status,
    queue_done_cb cb, void *arg);
/*
 * QUEUE_REVIEW_RELEASE with new message text for some of the ids
 * (BODIES[i].iov_base NULL: keep the stored one): a released message
 * re-signed because the hold outlived its DKIM signature's x=.  The old
 * chunks go and the old data key is shredded (its slot zeroed after the
 * commit); the new text and the envelope are sealed under a fresh data
 * key in a new slot, in the same transaction as the release (BODIES are
 * copied).
 */
int queue_review_release_bodies(struct queue *q, const char *const *ids, size_t n,
    const struct iovec *bodies, const struct queue_audit *audit, int *status,
    queue_done_cb cb, void *arg);
/*
 * Suspend or resume ACCOUNT in ONE transaction: FN (as for
 * queue_kv_update()) makes its new record, with its event, from the one
 * stored then (the status move of src/account/abuse.c), AUDIT's record
 * names the messages changed, and with HOLD every queued or deferred
 * message of the account is held (reason "suspended"); without, every
 * message the suspension held and nobody decided on since is released.
 * When FN leaves the record as it is, nothing is held or released
 * either.  *COUNT (may be NULL) gets how many messages changed by the
 * time CB runs with OK.
 */
int queue_review_account_update(struct queue *q, const char *account, queue_update_fn fn,
    void *arg, int hold, int *changed, const struct queue_audit *audit, size_t *count,
    queue_done_cb cb, void *cbarg);

/* ---- data-subject requests (issue 17, queue/subject.c) ---- */

/* What one erasure is about and what it writes beside the deletions. */
struct queue_subject_erase {
	const char *account;		/* the account; NULL or ALL_ACCOUNTS: every account */
	int all_accounts;
	unsigned char hash[32];		/* addr_index_hash() of the address */
	const char *pseudonym;		/* log_pseudonym() of it: the events' "rcpt" */
	const char *address;		/* normalised address: audit records naming it
					 * are scrubbed; not stored */
	const char *suppression_key;	/* written to QUEUE_T_SUPPRESSIONS if absent, or NULL */
	const char *suppression_val;
	const char *record_key;		/* QUEUE_T_SUBJECTS key the request is appended to */
	const char *record_entry;	/* JSON object */
};
struct queue_subject_counts {
	uint64_t messages;		/* erased whole (data key shredded) */
	uint64_t partial;		/* kept for other recipients, the subject's rows gone */
	uint64_t recipients;		/* recipient rows of the subject deleted */
	uint64_t events;		/* events deleted */
	uint64_t audit;			/* audit records scrubbed */
	int suppression_added;
};
/*
 * Erase the subject E from the queue in ONE transaction with AUDIT's
 * record (see queue/subject.c for exactly what goes); *COUNTS is filled
 * before CB runs with OK, which is after the commit and the key store's
 * zeroing were synced.  E is copied.
 */
int queue_subject_erase(struct queue *q, const struct queue_subject_erase *e,
    const struct queue_audit *audit, struct queue_subject_counts *counts,
    queue_done_cb cb, void *arg);

/*
 * Restrict (RECORD, the JSON value stored at KEY in QUEUE_T_RESTRICTIONS)
 * or, RECORD NULL, unrestrict the subject E (account, hash, address for
 * the events' pseudonyms; the suppression fields are ignored; the
 * request entry is appended as for erase): in ONE transaction with
 * AUDIT's record, the subject's queued and deferred recipients (all of
 * a message it sent) are held with a "held" event of reason
 * "restricted", or those held so are released (due now).  COUNTS gets
 * the messages and recipients changed.  Unrestricting a subject that is
 * not restricted fails with 550 5.1.0 (nothing written but the record).
 */
int queue_subject_restrict(struct queue *q, const struct queue_subject_erase *e, const char *key,
    const char *record, const struct queue_audit *audit, struct queue_subject_counts *counts,
    queue_done_cb cb, void *arg);

/* ---- additions (issue 3): control plane, retention, audit ---- */

/* Iterate every message (with all recipients) in id order; CB returns
 * nonzero to stop.  Any thread. */
typedef int (*queue_msg_cb)(void *arg, const struct queue_msg *m);
int queue_foreach(struct queue *q, queue_msg_cb cb, void *arg);
/* The same without opening the sealed envelopes: addresses read as "",
 * the keyed hashes are set (listings, filters by address, counts). */
int queue_foreach_sealed(struct queue *q, queue_msg_cb cb, void *arg);

/* Operator actions on one message; the callback outcome is OK, or
 * permfail 550 5.1.0 "No such message", permfail 550 5.0.0 when hold,
 * release or requeue would change nothing (e.g. releasing a message
 * that is not held), or tempfail on I/O. */
enum queue_action {
	QUEUE_ACT_HOLD,		/* pending recipients -> held */
	QUEUE_ACT_RELEASE,	/* held -> queued, due now */
	QUEUE_ACT_DELETE,	/* body and data key shredded, recipients deleted */
	QUEUE_ACT_REQUEUE,	/* pending recipients due now */
	QUEUE_ACT_BOUNCE,	/* pending and held recipients -> bounced now, by the
				 * operator (relay "operator"; the caller sends the DSN) */
};
int queue_action(struct queue *q, const char *id, enum queue_action act,
    queue_done_cb cb, void *arg);
/*
 * ACT on the N messages IDS in ONE writer op: their effects and AUDIT's
 * record (the ids changed) commit in one transaction.  STATUS[i] gets 0
 * (changed; a delete of a deleted message too), -ENOENT (no such message)
 * or -EALREADY (nothing to change, see queue_action_unchanged()) by the
 * time CB runs with OK; a tempfail outcome means nothing was written.
 * IDS are copied; STATUS must stay valid until CB.
 */
int queue_actions(struct queue *q, const char *const *ids, size_t n, enum queue_action act,
    const struct queue_audit *audit, int *status, queue_done_cb cb, void *arg);
/* Why ACT changed nothing: "Message is not held", ... */
const char *queue_action_unchanged(enum queue_action act);
/* `queue suspend|unsuspend --domain D`: ACT (HOLD or RELEASE) on the
 * recipients in DOMAIN of every message, one transaction with AUDIT's
 * record; *NCHANGED (when the callback runs OK) is the number of
 * messages changed. */
int queue_domain_action(struct queue *q, const char *domain, enum queue_action act,
    const struct queue_audit *audit, int *nchanged, queue_done_cb cb, void *arg);

/* Make every deferred recipient due now. */
int queue_flush(struct queue *q, queue_done_cb cb, void *arg);
int queue_flush_audited(struct queue *q, const struct queue_audit *audit,
    queue_done_cb cb, void *arg);
/* Run the retention purge now (also run every purge_interval). */
int queue_purge(struct queue *q, queue_done_cb cb, void *arg);
int queue_purge_audited(struct queue *q, const struct queue_audit *audit,
    queue_done_cb cb, void *arg);
/* What the next purge would remove (`retention show`, issue 17):
 * counted now in a read transaction, ACCOUNT NULL for every account
 * (events_due only then: events name no account). */
struct queue_purge_preview {
	uint64_t messages;		/* messages held (records) */
	uint64_t bodies_held;		/* of which the body is still stored */
	uint64_t bodies_due;		/* bodies past body_retention */
	uint64_t messages_due;		/* records past metadata (event) retention */
	uint64_t events_due;		/* events past the global event_retention */
	uint64_t audit_due;		/* audit records past audit_retention */
};
int queue_purge_preview(struct queue *q, const char *account, struct queue_purge_preview *out);
/* Crypto-shredding: drop an account's key (its key store slot is zeroed
 * once the transaction commits); all its remaining ciphertext becomes
 * unreadable (DESIGN.md §6). */
int queue_account_shred(struct queue *q, const char *account,
    queue_done_cb cb, void *arg);
/* Delete the account record and shred its key in one transaction, with
 * AUDIT's record (an account without a key is fine). */
int queue_account_delete(struct queue *q, const char *account,
    const struct queue_audit *audit, queue_done_cb cb, void *arg);

/* Iterate a generic table in key order, keys starting with PREFIX
 * ("" for all); CB returns nonzero to stop. Any thread. */
typedef int (*queue_kv_cb)(void *arg, const char *key, const char *val, size_t len);
int queue_kv_foreach(struct queue *q, enum queue_table t, const char *prefix,
    queue_kv_cb cb, void *arg);

/* Append-only logs: state-change events and operator audit records,
 * both JSON objects keyed by (time, sequence). */
enum queue_log { QUEUE_LOG_EVENTS, QUEUE_LOG_AUDIT };
int queue_audit(struct queue *q, const char *json, queue_done_cb cb, void *arg);
typedef int (*queue_log_cb)(void *arg, uint64_t when, const char *json, size_t len);
int queue_log_foreach(struct queue *q, enum queue_log l, uint64_t since,
    queue_log_cb cb, void *arg);

/* Counters for `queue stats` and metrics. */
struct queue_stats {
	uint64_t messages;
	uint64_t by_state[QUEUE_DELETED + 1];	/* messages per derived state */
	uint64_t rcpts_by_state[QUEUE_DELETED + 1];
	uint64_t bytes;				/* sum of message sizes */
	uint64_t scheduled;			/* schedule entries */
	uint64_t map_size;
	uint64_t batches, batched_ops;		/* group commit statistics */
};
int queue_stats(struct queue *q, struct queue_stats *st);
/* The posternd module callbacks are declared in daemon.h (src/daemon/queue_module.c). */

/*
 * Backups that erasure reaches (queue/journal.c).  queue_backup() (any
 * queue, read-only included, daemon running or not) writes DIR/data.mdb
 * (compacted: no free pages), DIR/keys and DIR/backup.info (the erasure
 * journal's id and position).  queue_restore() (daemon stopped) puts
 * them into P's data directory, zeroing first every key erased after
 * the backup and then erasing what those erasures named; *REPLAYED gets
 * how many journal lines it applied.  0, or -1 with ERR.
 */
int queue_backup(struct queue *q, const char *dir, char *err, size_t errlen);
int queue_restore(const struct queue_params *p, const char *dir, size_t *replayed,
    char *err, size_t errlen);

/*
 * `queue check` (issue 12 item 3): walk every page of the file and read
 * every table and record (ids, recipient and chunk counts, schedule <->
 * recipient invariants, keys present, log records), changing nothing.
 * Each problem found goes to CB as one line; ST counts what was read.
 * 0 (problems or not: see ST->problems) or a negative errno when the
 * check could not run.  Any thread.
 */
struct queue_check_stats {
	uint64_t pages, messages, recipients, chunks, scheduled, keys;
	uint64_t log_records, accounts, problems;
};
typedef void (*queue_problem_cb)(void *arg, const char *text);
int queue_check(struct queue *q, queue_problem_cb cb, void *arg, struct queue_check_stats *st);

/* Path of data.mdb (tests grep it). */
const char *queue_db_path(struct queue *q);

#endif
