/* SPDX-License-Identifier: ISC */
/*
 * queue_int.h: module-private API of queue/: the LMDB wrapper (db.c,
 * the only file that calls mdb_*), message ids (id.c), the writer
 * thread (writer.c), the scheduler (sched.c), the record formats
 * (records.c), the key hierarchy and master key file (keys.c; the
 * primitives are src/lib/crypto.c's), the writer ops of actions.c,
 * purge.c and retry.c, and the struct queue they share (queue.c owns
 * it).
 */
#ifndef POSTERN_QUEUE_INT_H
#define POSTERN_QUEUE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto.h"
#include "hash.h"
#include "histo.h"
#include "queue.h"

/* ---- pause.c: delivery pause by destination ---- */
void pause_init(struct queue *q);
void pause_free(struct queue *q);
/* Whether a recipient at ADDR must wait (everything or its domain paused). */
int pause_blocks(const struct queue *q, const char *addr);

/* ---- db.c ---- */

enum db_table {
	DB_MESSAGES, DB_BODIES, DB_RECIPIENTS, DB_SCHEDULE, DB_ACCOUNTS,
	DB_DKIM, DB_SUPPRESSIONS, DB_KEYS, DB_EVENTS, DB_AUDIT, DB_META,
	DB_SPAM,		/* the spam model (queue/spamdb.c, its own environment);
				 * MDB_INTEGERKEY: keys are native uint64_t */
	DB_SPAM_SIGNALS,	/* per-account spam signals (queue/spamdb.c, its own environment) */
	DB_SPAM_DUPS,		/* fingerprints of rejected messages (queue/spamdb.c) */
	DB_REVIEW, DB_MSGIDS, DB_SETTINGS, DB_OUTBOX, DB_SUBJECTS, DB_RESTRICTIONS,
	DB_NTABLES
};

struct db;
struct db_txn;
struct db_cursor;

/* Errors are negative errno: -ENOENT (not found), -EFBIG (map full),
 * -E2BIG (transaction too big),
 * -ENOSPC (disk full), -EIO (anything else LMDB reports). */
int db_open(struct db **out, const char *dir, uint64_t mapsize, int readonly,
    char *err, size_t errlen);
/* The same with DB_OPEN_* flags: DB_OPEN_NOSYNC commits without fsync
 * (counters that may lose their last seconds on a crash: spamdb.c). */
#define DB_OPEN_NOSYNC 0x01
int db_open_flags(struct db **out, const char *dir, uint64_t mapsize, int readonly,
    unsigned flags, char *err, size_t errlen);
void db_close(struct db *db);
int db_begin(struct db *db, int readonly, struct db_txn **out);
int db_commit(struct db_txn *txn);
void db_abort(struct db_txn *txn);
int db_get(struct db_txn *txn, enum db_table t, const void *k, size_t kl,
    const void **v, size_t *vl);
/* Done with a large value read from the map: drop its whole pages from
 * this process's mapping (they stay in the page cache). */
void db_release(struct db *db, const void *v, size_t vl);
int db_put(struct db_txn *txn, enum db_table t, const void *k, size_t kl,
    const void *v, size_t vl);
int db_del(struct db_txn *txn, enum db_table t, const void *k, size_t kl);
int db_cursor_open(struct db_txn *txn, enum db_table t, struct db_cursor **out);
/* Position at the first key >= K (K NULL: the first key); then next.
 * 0 with key/value, -ENOENT at the end. */
int db_cursor_seek(struct db_cursor *c, const void *k, size_t kl,
    const void **ko, size_t *kol, const void **v, size_t *vl);
int db_cursor_next(struct db_cursor *c, const void **ko, size_t *kol,
    const void **v, size_t *vl);
int db_cursor_last(struct db_cursor *c, const void **ko, size_t *kol,
    const void **v, size_t *vl);
/* Exact lookup of K through the cursor: 0 with the value, 1 when K is
 * absent (the cursor sits on the next larger key), -ENOENT when no key
 * >= K exists.  For
 * keys asked in ascending order it is much cheaper than db_get():
 * LMDB searches the cursor's current leaf page first (spamdb.c). */
int db_cursor_find(struct db_cursor *c, const void *k, size_t kl, const void **v, size_t *vl);
int db_cursor_del(struct db_cursor *c);
void db_cursor_close(struct db_cursor *c);
/* Whether the record (K, V) is one to delete (db_delete_matching). */
typedef int (*db_match_fn)(const void *k, size_t kl, const void *v, size_t vl, void *arg);
/* Delete every record of T that MATCH accepts (keys collected first,
 * deleted after the walk); *COUNT gains one a deletion.  0 or the
 * first failing db_del()'s negative errno. */
int db_delete_matching(struct db_txn *txn, enum db_table t, db_match_fn match, void *arg,
    uint64_t *count);
/* A consistent, compacted copy (no free pages) of the environment into
 * DIR/data.mdb (backups). */
int db_copy(struct db *db, const char *dir);
/* Grow the map; only while no transaction of this process is open. */
int db_grow(struct db *db, uint64_t newsize);
uint64_t db_mapsize(struct db *db);
const char *db_path(struct db *db);

/* ---- keystore.c: the key store that can forget ---- */

#define KS_SLOT_LEN 64		/* "PKS1"/"PKS2" + nonce + sealed key + tag */
enum ks_kind { KS_ACCOUNT = 1, KS_MESSAGE = 2, KS_POOL = 3 };
struct keystore;
/* Open (creating unless READONLY) DIR/keys.  0 or negative errno with ERR. */
int ks_open(struct keystore **out, const char *dir, int readonly, char *err, size_t errlen);
void ks_close(struct keystore *ks);
const char *ks_path(struct keystore *ks);
/* Writer thread: seal KEY under WRAP (AAD: slot, KIND, OWNER) into a free
 * slot, written but not yet synced; *SLOT gets its number (>= 1). */
int ks_put(struct keystore *ks, const unsigned char *wrap, enum ks_kind kind,
    const char *owner, const unsigned char *key, uint64_t *slot);
/* Any thread: open slot S; -ENOENT when zeroed, -EBADMSG when not OWNER's. */
int ks_get(struct keystore *ks, const unsigned char *wrap, enum ks_kind kind,
    const char *owner, uint64_t s, unsigned char *key);
/* Writer thread: a slot from the pool (filled and synced ahead; filled
 * now, with one sync, when empty) for message ID of the account whose
 * key is AK; DK gets the message's data key.  Nothing is written. */
int ks_take(struct keystore *ks, const unsigned char *master, const unsigned char *ak,
    const char *id, uint64_t *slot, unsigned char *dk);
/* Writer thread: write and sync pool slots until WANT are ready. */
int ks_pool_fill(struct keystore *ks, const unsigned char *master, size_t want);
/* Writer thread, nothing pending: top the pool up once it is half used. */
void ks_pool_idle(struct keystore *ks, const unsigned char *master);
/* Any thread: the data key of message ID (account key AK) in slot S,
 * either format; -ENOENT when zeroed, -EBADMSG when it does not open.
 * From the derived-key cache when it holds it (top of keystore.c). */
int ks_data_key(struct keystore *ks, const unsigned char *master, const unsigned char *ak,
    const char *id, uint64_t s, unsigned char *dk);
/* The same from the slot on disk, never from the cache (queue check). */
int ks_data_key_disk(struct keystore *ks, const unsigned char *master, const unsigned char *ak,
    const char *id, uint64_t s, unsigned char *dk);
/* Any thread: 1 when slot S holds a key (queue check). */
int ks_slot_used(struct keystore *ks, uint64_t s);
/* The slots the file holds whole (a torn last one not counted). */
uint64_t ks_whole_slots(struct keystore *ks);
/* Writer thread: zero S (the key of KIND OWNER) once the open batch
 * commits, journalling it first. */
void ks_forget(struct keystore *ks, uint64_t s, enum ks_kind kind, const char *owner);
struct journal;
/* Journal every erasure to J (borrowed; NULL: none). */
void ks_set_journal(struct keystore *ks, struct journal *j);
/* Before the batch's LMDB commit: sync the slots it wrote. */
int ks_presync(struct keystore *ks);
/* After the batch: committed, zero the forgotten slots (and sync);
 * aborted, zero the slots it wrote. */
void ks_batch_end(struct keystore *ks, int committed);
/* At start: zero every slot not in REFS (sorted in place). */
int ks_reconcile(struct keystore *ks, uint64_t *refs, size_t nrefs, size_t *zeroed);

/* ---- journal.c: the erasure journal beside the master key ---- */

/* Open (creating) erasure.journal in the master key file's directory. */
int journal_open(struct journal **out, const char *master_key_file, char *err, size_t errlen);
void journal_close(struct journal *j);
const char *journal_file(const struct journal *j);
/* Queue one line "TIME KIND OWNER SLOT"; journal_flush writes and syncs. */
void journal_add(struct journal *j, const char *kind, const char *owner, uint64_t slot);
int journal_flush(struct journal *j);
/* Parsers of the journal file (restore; fuzzed): the header's id, and
 * the complete lines after byte OFFSET (a torn last line is ignored). */
struct erasure {
	char kind[16];
	char owner[300];
	uint64_t slot;
};
int journal_read_id(const char *text, size_t len, char *id, size_t idlen);
struct erasure *journal_after(const char *text, size_t len, size_t offset, size_t *n);
/* actions.c: erase message OWNER (delete) or account OWNER, synchronously. */
int queue_erase_sync(struct queue *q, int account, const char *owner);

/* ---- dbfile.c: data.mdb checked as a file, before LMDB maps it ---- */

/* Read N octets at OFF into BUF: 0, or -1 (short read or error). */
typedef int (*dbfile_read_fn)(void *arg, uint64_t off, void *buf, size_t n);
struct dbfile_meta {
	uint32_t psize;
	uint64_t mapsize, last_pg, txnid;
	uint64_t free_root, main_root;
	unsigned free_depth, main_depth;
};
/* Both meta pages sane and the file (FSIZE octets) long enough for the
 * newest one's last page; OUT gets the newest.  -1 with ERR ("is
 * truncated: ..." / "is corrupt: ..."). */
int dbfile_check_meta(dbfile_read_fn rd, void *arg, uint64_t fsize,
    struct dbfile_meta *out, char *err, size_t errlen);
/* Walk every B-tree page of M's snapshot; PAGES gets how many were
 * checked.  -1 with ERR ("is corrupt: ..."). */
int dbfile_walk(dbfile_read_fn rd, void *arg, const struct dbfile_meta *m,
    uint64_t *pages, char *err, size_t errlen);
/* Both checks on the file PATH (WALK: the walk too); 0, -ENOENT (no
 * file), or -EBADMSG with ERR naming the file. */
int db_file_check(const char *path, int walk, uint64_t *pages, char *err, size_t errlen);

/* ---- keys.c: the master key file (primitives: include/crypto.h) ---- */

/* Load the master key; with CREATE, make a new 0600 file when absent.
 * Refuses files readable by group/others. -1 with ERR. */
int keys_master_load(const char *path, int create, unsigned char *key,
    char *err, size_t errlen);

/* ---- id.c ---- */

/* Time-ordered Crockford base32: 10 chars of ms time, 10 of a counter
 * seeded randomly each millisecond (monotonic within a process). */
void id_new(char out[QUEUE_ID_LEN + 1]);
int id_valid(const char *s);

/* ---- writer.c ---- */

struct writer_op;
/* Runs on the writer thread inside the batch transaction.  0 ok; > 0
 * op-level failure with nothing written (status -ret); < 0 the
 * transaction is broken (batch retried op by op). */
typedef int (*writer_apply_fn)(struct queue *q, struct db_txn *txn, struct writer_op *op);
/* Runs on the loop thread with the final status (0 or -errno). */
typedef void (*writer_done_fn)(struct queue *q, struct writer_op *op, int status);

struct writer_op {
	struct writer_op *next;
	writer_apply_fn apply;
	writer_done_fn done;
	int status;
	/* Audit in the same transaction (struct queue_audit, queue.h): when
	 * set, writer_batch() appends the record right after apply(), with
	 * the op's status and, if it succeeded, AUDIT_ID as "ids". */
	char *audit;			/* owned; freed before done() runs */
	const char *audit_id;		/* borrowed from the op, or NULL */
	/* The loop done() runs on: NULL for the queue's own loop, else the
	 * port of the loop whose thread submitted the op (queue_port_bind) */
	struct queue_port *port;
	/* done() runs on the queue's loop even with a port (its bookkeeping
	 * is the queue's: in flight, held results); it then hands the
	 * caller's part to the port with writer_forward() */
	int queue_done;
	/* No one waits on this op's commit but the queue itself (a delivery
	 * engine's result): a batch of such ops alone may wait up to
	 * queue_result_linger for an op that someone waits on, and commit
	 * with it (writer.c) */
	int lazy;
};
/* On the queue's loop, from a queue_done op's done(): run FN(q, OP,
 * status) on OP's port's loop (OP must have a port). */
void writer_forward(struct queue *q, struct writer_op *op, writer_done_fn fn);
/* Copy AUDIT's JSON into OP (NULL: no record). */
void writer_op_audit(struct writer_op *op, const struct queue_audit *audit);

int writer_start(struct queue *q);
void writer_submit(struct queue *q, struct writer_op *op);
/* sched_kick() helper: 1 when called off the queue's loop (the kick was
 * sent there through the writer's async), else 0. */
int writer_kick_elsewhere(struct queue *q);
/* queue_free(): free the ports (their handles were closed by their loops). */
void writer_free_ports(struct queue *q);
/* Drain everything pending, stop the thread, run the done callbacks. */
void writer_stop(struct queue *q);
/* From now on no batch lingers (queue_drain); ends a wait under way. */
void writer_linger_end(struct queue *q);
/* queue_reload(): wake a linger under way to re-read the settings. */
void writer_settings_changed(struct queue *q);
/* Run OP synchronously on the calling thread (no writer; tools/tests). */
int writer_run_sync(struct queue *q, struct writer_op *op);
/* STATUS (an op's final status) means the queue could not write:
 * disk or map full, I/O error. */
int writer_failure(int status);
/* On the loop, from a done function whose op failed with a write
 * failure: keep OP and submit it again when writes work (or at the
 * next retry round); its done function runs again then. */
void writer_hold(struct queue *q, struct writer_op *op);
/* queue_close(): hand every held op to the writer for a last try. */
void writer_release_held(struct queue *q);

/* ---- sched.c ---- */

void sched_init(struct queue *q);
void sched_close(struct queue *q);
void sched_reload(struct queue *q);
/* Something changed: re-check soon (timer at 0). */
void sched_kick(struct queue *q);
void sched_inflight_del(struct queue *q, const char *id, uint32_t no);
int sched_inflight_has(struct queue *q, const char *id, uint32_t no);

/* ---- keys ---- */

#define SCHED_KEY_LEN (8 + QUEUE_ID_LEN + 4)
#define RCPT_KEY_LEN (QUEUE_ID_LEN + 4)

void put_be64(unsigned char *p, uint64_t v);
uint64_t get_be64(const unsigned char *p);
void put_be32(unsigned char *p, uint32_t v);
uint32_t get_be32(const unsigned char *p);

/* ---- queue.c: shared state ---- */

#define QUEUE_MAX_RETRY 32
struct queue_settings {
	int map_grow;
	uint64_t map_max;
	int64_t commit_batch;
	uint64_t result_linger;		/* ms */
	uint64_t max_queue_lifetime;
	uint64_t body_retention;
	uint64_t event_retention;
	uint64_t metadata_retention;
	uint64_t audit_retention;
	uint64_t purge_interval;
	uint64_t retry[QUEUE_MAX_RETRY];
	size_t nretry;
};

struct acct_key {
	struct acct_key *next;
	char *name;
	unsigned char key[CRYPTO_KEY_LEN];
	int committed;
};


struct queue {
	uv_loop_t *loop;		/* borrowed; NULL for read-only tools */
	struct db *db;
	struct keystore *ks;		/* account and data keys (keystore.c) */
	struct journal *journal;	/* erasure journal (journal.c); NULL read-only */
	int readonly;
	int have_master;
	unsigned char master[CRYPTO_KEY_LEN];
	uint64_t chunk_size;
	/* Settings copied from struct queue_params (queue_open/reload);
	 * read with queue_settings() from any thread. */
	pthread_mutex_t set_lock;
	struct queue_settings set;
	char *master_key_file;
	char *data_directory;
	/* The account record's parser (src/account/, set by the daemon):
	 * the purge reads per-account retention from its typed policy. */
	queue_account_policy_fn account_policy;
	void *account_policy_arg;

	pthread_mutex_t keys_lock;
	struct acct_key *keys;		/* unwrapped account keys */

	/* writer */
	pthread_t writer_thread;
	int writer_running;
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct writer_op *pending, **pending_tail;
	struct writer_op *done_list, **done_tail;
	int stopping;
	int no_linger;			/* under wlock: the daemon drains (queue_drain) */
	uv_async_t async;
	int async_init;
	uv_thread_t loop_thread;	/* the thread running q->loop (writer_start) */
	int kick_pending;		/* atomic: sched_kick() asked from another thread */
	struct queue_port *ports;	/* every loop's port (writer.c), under wlock */
	uint64_t ev_last;		/* last events/audit key time (writer thread) */
	uint32_t ev_seq;
	uint64_t batches, batched_ops;	/* statistics (atomic: the writer thread counts, queue_stats reads) */
	struct histo commit_us;		/* per group commit: apply + commit + fsync */
	struct histo batch_ops;		/* ops per group commit */

	/* scheduler */
	uv_timer_t sched_timer;
	uv_timer_t purge_timer;
	int timers_init;
	queue_due_cb due_cb;
	void *due_arg;
	struct hash *inflight;		/* (id, rcpt no) -> q: recipients handed out */
	/* delivery pause (pause.c): a copy of the settings table's records */
	int pause_all;
	struct hash *paused;		/* destination domain -> q */
	pthread_mutex_t pause_mu;	/* the two above: written on the queue's loop under
					 * it, read under it from delivery loops */
	int pause_mu_init;

	/* Write failures (issue 12 item 1), loop thread only: while queue
	 * writes fail, delivery pauses (queue_take_due hands out nothing)
	 * and delivery results that could not be committed wait in HELD,
	 * still in flight, for the retry timer (exponential, capped); the
	 * first write that commits resumes both (writer.c). */
	int writes_failing;
	unsigned wfail_rounds;
	struct writer_op *held, **held_tail;
	uv_timer_t wretry_timer;

	int closing;
	int handles_open;
};

void queue_settings(struct queue *q, struct queue_settings *out);
/* Load message ID with all its recipients inside an open transaction. */
int queue_load_txn(struct queue *q, struct db_txn *txn, const char *id,
    struct queue_msg **out);

/* Account key lookup/creation (TXN may be a read txn when !create). */
int queue_account_key(struct queue *q, struct db_txn *txn, const char *account,
    int create, unsigned char *key);
void queue_keys_commit(struct queue *q, int ok);

/* Append an event / audit record (writer thread, inside TXN). */
int queue_append_log(struct queue *q, struct db_txn *txn, enum db_table t,
    const char *text, size_t len);
/* Complete the audit record HEAD (a JSON object, struct queue_audit) with
 * "status" (0; or 1 and "error" ERROR) and, when NIDS > 0, "ids", and
 * append it inside TXN (writer thread). */
int queue_audit_append(struct queue *q, struct db_txn *txn, const char *head,
    int failed, const char *error, const char *const *ids, size_t nids);

/* ---- records.c: record formats, loaded inside a caller's txn ---- */

#define MF_RET_FULL	0x01
#define MF_SMTPUTF8	0x02
#define MF_EIGHTBIT	0x04
#define MF_HELD		0x08
#define MF_DELETED	0x10
#define MF_BODY_GONE	0x20
#define MF_WEBHOOK	0x40	/* its account has a webhook: events go to the outbox too */
#define MF_ZERO_RET	0x80	/* body shredded at final (X-Postern-Retention: 0) */

/* Message metadata beyond struct queue_msg. */
struct mrec {
	uint64_t slot;			/* key store slot of the data key; 0 = shredded */
	uint64_t flags;
	uint64_t nchunks;
	uint64_t final_time;
	uint64_t nrcpts;
};

/* Key of recipient NO of ID, also of body chunk NO (RCPT_KEY_LEN). */
void rcpt_key(unsigned char *k, const char *id, uint32_t no);
int rcpt_decode(uint32_t no, const void *data, size_t len, struct queue_rcpt *rc);
void rcpt_clear(struct queue_rcpt *rc);
/* Delivered, bounced, expired or deleted. */
int state_final(enum queue_state s);
/* Load message ID with its recipients from TXN into a new queue_msg,
 * opening the sealed envelope in memory when its data key still exists
 * (else addresses are "" and m->envelope_gone is set).  Q NULL: leave
 * the envelope sealed (addresses "", hashes set; purge, stats). */
int msg_load(struct queue *q, struct db_txn *txn, const char *id, struct queue_msg **out,
    struct mrec *r);
/* The data key slot named in a stored message record, or 0. */
uint64_t msg_record_slot(const void *data, size_t len);
/* Tests only: called by queue_check() once its snapshot is taken (check.c). */
extern void (*queue_check_hook)(struct queue *q);
/* Seal M's envelope (sender, envid, client) and each recipient's (addr,
 * orcpt) under DK, with their keyed hashes (commit). */
void envelope_seal(const unsigned char *dk, struct queue_msg *m);
int msg_put(struct db_txn *txn, const struct queue_msg *m, const struct mrec *r);
/* Every message id of the messages table, appended to *OUT (N of them). */
int msg_ids_all(struct db_txn *txn, char (**out)[QUEUE_ID_LEN + 1], size_t *n);
int rcpt_put(struct db_txn *txn, const char *id, const struct queue_rcpt *rc);
int sched_put(struct db_txn *txn, uint64_t due, const char *id, uint32_t no);
/* Deleting an absent entry is not an error. */
int sched_del(struct db_txn *txn, uint64_t due, const char *id, uint32_t no);
/* Set final_time once every recipient is final (recipients changed). */
void msg_finalise(struct queue_msg *m, struct mrec *r, uint64_t now);
/* One state-change event: time, id, recipient pseudonym, what, reply
 * (and the client address at commit time). */
int event_add(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply);
int event_add_client(struct queue *q, struct db_txn *txn, const char *id,
    const char *addr, const char *what, const char *reply, const char *client);
/* All of it: REPLY, CLIENT and REASON may each be NULL. */
int event_add_full(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply, const char *client, const char *reason);
/* The same, told whether the message's events go to the webhook outbox
 * (OUTBOX 1 or 0: the caller has its flags; -1: read its record). */
int event_add_outbox(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply, const char *client, const char *reason, int outbox);
/* The reason class a stage held a message for, from its VERDICTS JSON:
 * restricted, dlp, spam, limit, or NULL (review.c). */
const char *queue_hold_reason(const char *verdicts);
/* The same with a "reason" class (review decisions; REASON may be NULL). */
int event_add_reason(struct queue *q, struct db_txn *txn, const char *id,
    const char *addr, const char *what, const char *reason);
/* Every event of a message with MF_WEBHOOK is also written to the webhook
 * outbox (queue/outbox.c), in the same transaction. */
/* Whether message ID (as written in TXN) goes to the webhook outbox. */
int msg_wants_outbox(struct db_txn *txn, const char *id);

/* ---- keys.c: the key hierarchy ---- */

/* Forget cached account keys (ACCOUNT NULL: all of them). */
void keys_forget(struct queue *q, const char *account);
/* Unwrap the data key of message ID of ACCOUNT from key store slot SLOT. */
int data_key(struct queue *q, struct db_txn *txn, const char *account, const char *id,
    uint64_t slot, unsigned char *dk);
/* The same read from the key store file, never from its derived-key cache. */
int data_key_disk(struct queue *q, struct db_txn *txn, const char *account, const char *id,
    uint64_t slot, unsigned char *dk);
/* Delete the body chunks of ID and forget its data key (crypto-shredding:
 * the slot is zeroed once the batch commits); R->slot becomes 0. */
int body_shred(struct queue *q, struct db_txn *txn, const char *id, struct mrec *r);
/* The key store slot of ACCOUNT's key, or 0. */
uint64_t account_slot(struct db_txn *txn, const char *account);
/* Every slot a record references (start-up reconcile); malloc'd. */
int keys_referenced(struct queue *q, uint64_t **out, size_t *n);
/* Verify (or, in a new queue, record) which master key the queue uses. */
int queue_keycheck(struct queue *q, char *err, size_t errlen);

/* ---- queue.c ---- */

/* enum queue_table -> db table. */
#define QUEUE_NKV_TABLES 8
extern const enum db_table queue_kv_tables[QUEUE_NKV_TABLES];
/* Outcome for a failed write: storage exhaustion vs. anything else. */
void queue_outcome_for_error(struct outcome *o, int err);

/* ---- actions.c: simple ops ---- */

/* Generic op for kv puts, audit records, shredding, actions, purge. */
struct simple_op {
	struct writer_op op;
	int kind;
	enum db_table table;
	char *key;
	char *val;
	size_t len;
	int del;
	char id[QUEUE_ID_LEN + 1];
	enum queue_action act;
	queue_done_cb cb;
	void *arg;
	/* OP_ACTIONS: a batch of messages with its own audit record */
	char **ids;
	size_t nids;
	int *status_out;		/* borrowed: the caller's per-id results */
	char *batch_audit;		/* owned: record head, written by the apply */
	/* OP_KV_MANY: ids[] are the keys, with these values and events */
	char **vals;
	size_t *lens;
	char **events;
	int unchanged_ok;
	/* OP_KV: an event appended with the put or delete (account status
	 * changes, suppression lists) */
	char *event;
	/* OP_KV: a webhook event for the outbox with the put (suppressions,
	 * issue 19): written when outbox_msg is "" or names a message that
	 * goes to the outbox (msg_wants_outbox) */
	char *outbox;
	char outbox_msg[QUEUE_ID_LEN + 1];
	/* OP_REVIEW (review.c) */
	int review_op;			/* enum queue_review_op */
	char *reason;
	struct buf *bodies;		/* OP_REVIEW release: replacement texts or NULL */
	size_t *count_out;		/* OP_REVIEW for an account: messages changed */
	/* OP_KV, OP_REVIEW for an account: the value from the stored one
	 * (queue_kv_update); OP_KV: the put only over EXPECT (queue_kv_put_if) */
	queue_update_fn update;
	void *update_arg;
	int *changed_out;
	int check;			/* queue_kv_put_if: compare with expect first */
	char *expect;			/* NULL with check: there must be no record */
	size_t expect_len;
};
/* OP_KV / OP_REVIEW apply: S's value from its update function or check
 * (1: write it, 0: leave the record, ECANCELED: it changed meanwhile, or
 * a positive errno from the update function (the op fails, the batch
 * goes on), -errno: the batch fails). */
int simple_update_value(struct db_txn *txn, struct simple_op *s);

enum { OP_KV, OP_AUDIT, OP_SHRED, OP_ACTION, OP_FLUSH, OP_PURGE, OP_ACTIONS,
	OP_ACCOUNT_DELETE, OP_EVENT, OP_KV_MANY, OP_REVIEW, OP_DOMAIN, OP_OUTBOX_DEL,
	OP_OUTBOX_ADD };
/* outbox.c: delete one outbox record (key in s->val). */
int outbox_del_apply(struct db_txn *txn, const struct simple_op *s);

/* ACT on message ID inside TXN: 0 changed, ENOENT, EALREADY (nothing
 * written), or < 0 (the transaction is broken).  Each recipient changed
 * gets an event EVENT (NULL: the action's own name) with REASON. */
int queue_action_apply(struct queue *q, struct db_txn *txn, const char *id,
    enum queue_action act, const char *event, const char *reason);
/* OP_REVIEW inside TXN (review.c). */
int queue_review_apply(struct queue *q, struct db_txn *txn, struct simple_op *s);

struct simple_op *simple_new(int kind, queue_done_cb cb, void *arg);
/* Hand S to the writer; frees it and answers -EROFS when read-only. */
int simple_submit(struct queue *q, struct simple_op *s);

/* ---- subject.c ---- */

/* Append the JSON object ENTRY to the JSON array at KEY of DB_SUBJECTS. */
int queue_subject_record_append(struct db_txn *txn, const char *key, const char *entry);
/* Restore: replay a journal "subject" line (OWNER "ACCOUNT/HEXHASH"). */
int queue_subject_erase_sync(struct queue *q, const char *owner);

/* ---- purge.c ---- */

/* ACCOUNT's body and event retention (ms) over the global values in
 * *BODY and *EVENT, from its typed policy (the daemon's hook). */
void queue_account_retention(struct queue *q, struct db_txn *txn, const char *account,
    uint64_t *body, uint64_t *event);
/* The same with *META, the message records' retention: the account's
 * metadata_retention, else the global one, else the event retention. */
void queue_account_retention3(struct queue *q, struct db_txn *txn, const char *account,
    uint64_t *body, uint64_t *event, uint64_t *meta);
/* The last recipient of M just became final: with zero body retention
 * (the account's or global body_retention 0, or the message's
 * X-Postern-Retention: 0) shred the body now.  1 when it did. */
int queue_zero_retention(struct queue *q, struct db_txn *txn, struct queue_msg *m,
    struct mrec *r, int *rc);
/* Drop the Message-ID index entries whose message record is gone. */
int queue_purge_msgids(struct db_txn *txn, uint64_t *count);
/* Retention purge inside the writer's TXN (OP_PURGE). */
int queue_purge_apply(struct queue *q, struct db_txn *txn);

#endif
