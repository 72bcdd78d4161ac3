/* SPDX-License-Identifier: ISC */
/*
 * queue_int.h: module-private API of queue/: the LMDB wrapper (db.c,
 * the only file that calls mdb_*), the crypto primitives (crypto.c),
 * message ids (id.c), the writer thread (writer.c), the scheduler
 * (sched.c), and the struct queue they share (queue.c owns it).
 */
#ifndef POSTERN_QUEUE_INT_H
#define POSTERN_QUEUE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "queue.h"

/* ---- db.c ---- */

enum db_table {
	DB_MESSAGES, DB_BODIES, DB_RECIPIENTS, DB_SCHEDULE, DB_ACCOUNTS,
	DB_DKIM, DB_SUPPRESSIONS, DB_KEYS, DB_EVENTS, DB_AUDIT, DB_META,
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
void db_close(struct db *db);
int db_begin(struct db *db, int readonly, struct db_txn **out);
int db_commit(struct db_txn *txn);
void db_abort(struct db_txn *txn);
int db_get(struct db_txn *txn, enum db_table t, const void *k, size_t kl,
    const void **v, size_t *vl);
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
int db_cursor_del(struct db_cursor *c);
void db_cursor_close(struct db_cursor *c);
/* Grow the map; only while no transaction of this process is open. */
int db_grow(struct db *db, uint64_t newsize);
uint64_t db_mapsize(struct db *db);
const char *db_path(struct db *db);

/* ---- crypto.c ---- */

#define CRYPTO_KEY_LEN 32
#define CRYPTO_OVERHEAD 28	/* 12 nonce + 16 tag */

void crypto_random(void *p, size_t n);
/* OUT gets nonce || ciphertext || tag: LEN + CRYPTO_OVERHEAD bytes. */
int crypto_seal(const unsigned char *key, const void *aad, size_t aadlen,
    const void *pt, size_t len, unsigned char *out);
/* -EBADMSG when the tag does not verify. OUT gets LEN - CRYPTO_OVERHEAD. */
int crypto_open(const unsigned char *key, const void *aad, size_t aadlen,
    const void *in, size_t len, unsigned char *out);
/* Load the master key; with CREATE, make a new 0600 file when absent.
 * Refuses files readable by group/others. -1 with ERR. */
int crypto_master_load(const char *path, int create, unsigned char *key,
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
};

int writer_start(struct queue *q);
void writer_submit(struct queue *q, struct writer_op *op);
/* Drain everything pending, stop the thread, run the done callbacks. */
void writer_stop(struct queue *q);
/* Run OP synchronously on the calling thread (no writer; tools/tests). */
int writer_run_sync(struct queue *q, struct writer_op *op);

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
	uint64_t max_queue_lifetime;
	uint64_t body_retention;
	uint64_t event_retention;
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

struct inflight {
	struct inflight *next;
	char id[QUEUE_ID_LEN + 1];
	uint32_t no;
};
#define INFLIGHT_BUCKETS 4096

struct queue {
	uv_loop_t *loop;		/* borrowed; NULL for read-only tools */
	struct db *db;
	int readonly;
	int have_master;
	unsigned char master[CRYPTO_KEY_LEN];
	uint64_t chunk_size;
	/* Settings copied from the config (which is freed on reload);
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
	uv_async_t async;
	int async_init;
	uint64_t ev_last;		/* last events/audit key time (writer thread) */
	uint32_t ev_seq;
	uint64_t batches, batched_ops;	/* statistics */

	/* scheduler */
	uv_timer_t sched_timer;
	uv_timer_t purge_timer;
	int timers_init;
	queue_due_cb due_cb;
	void *due_arg;
	struct inflight *inflight[INFLIGHT_BUCKETS];
	size_t ninflight;

	int closing;
	int handles_open;
};

void queue_settings(struct queue *q, struct queue_settings *out);
/* Load message ID with all its recipients inside an open transaction. */
int queue_load_txn(struct db_txn *txn, const char *id, struct queue_msg **out);

/* Account key lookup/creation (TXN may be a read txn when !create). */
int queue_account_key(struct queue *q, struct db_txn *txn, const char *account,
    int create, unsigned char *key);
void queue_keys_commit(struct queue *q, int ok);

/* Append an event / audit record (writer thread, inside TXN). */
int queue_append_log(struct queue *q, struct db_txn *txn, enum db_table t,
    const char *text, size_t len);

#endif
