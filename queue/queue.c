/* SPDX-License-Identifier: ISC */
/*
 * queue.c: the durable queue of include/queue.h (DESIGN.md §4-§6):
 * open and close, the settings copied from struct queue_params, committing a
 * new message, and the read-only lookups (messages, bodies, listings,
 * statistics, generic records, events and audit log).
 *
 * Every mutation is a writer op (writer.c) applied inside the writer
 * thread's batch transaction; the apply functions live with their job:
 * commit here, operator actions and generic records in actions.c,
 * retention in purge.c, delivery results and retry in retry.c.  Each
 * has a loop-side done function that calls the user back exactly
 * once.  Reads open their own read transaction and may run anywhere.
 * Record formats are in records.c, the key hierarchy in keys.c.
 *
 * Encryption: a commit takes a key store slot from the pool (keystore.c:
 * written and synced ahead, before the batch's LMDB commit), derives the
 * message's data key from it and the account key, seals every body
 * chunk and the envelope
 * (sender, envid, client, each recipient's address and ORCPT) with it,
 * and stores the keyed hashes of the addresses beside them (addr.h).
 *
 * Invariants: a recipient in state queued or deferred has exactly one
 * schedule entry, at its next_try; no other state has one.  A message's
 * final_time is set once every recipient is delivered, bounced,
 * expired or deleted; retention counts from it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "crypto.h"
#include "queue_int.h"
#include "util.h"

/* ---- open / close ---- */

/* Recover the last (time, seq) used in events/audit so keys stay unique. */
static void
queue_log_init(struct queue *q)
{
	static const enum db_table t[] = { DB_EVENTS, DB_AUDIT };
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k;
	size_t kl, i;

	if (db_begin(q->db, 1, &txn) != 0)
		return;
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		if (db_cursor_open(txn, t[i], &c) != 0)
			continue;
		if (db_cursor_last(c, &k, &kl, NULL, NULL) == 0 && kl == 12) {
			uint64_t when = get_be64(k);
			uint32_t seq = get_be32((const unsigned char *)k + 8);
			if (when > q->ev_last || (when == q->ev_last && seq > q->ev_seq)) {
				q->ev_last = when;
				q->ev_seq = seq;
			}
		}
		db_cursor_close(c);
	}
	db_abort(txn);
}

/* Copy what the queue needs from P (which may be freed on reload). */
static void
settings_from(struct queue_settings *st, const struct queue_params *p)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->map_grow = p->map_grow;
	st->map_max = p->map_max;
	st->commit_batch = p->commit_batch > 0 ? p->commit_batch : 256;
	st->result_linger = p->result_linger;
	st->max_queue_lifetime = p->max_queue_lifetime;
	st->body_retention = p->body_retention;
	st->event_retention = p->event_retention;
	st->audit_retention = p->audit_retention;
	st->metadata_retention = p->metadata_retention;
	st->purge_interval = p->purge_interval ? p->purge_interval : 600000;
	for (i = 0; i < p->nretry && st->nretry < QUEUE_MAX_RETRY; i++)
		st->retry[st->nretry++] = p->retry[i];
	if (st->nretry == 0)
		st->retry[st->nretry++] = 300000;
}

void
queue_settings(struct queue *q, struct queue_settings *out)
{
	pthread_mutex_lock(&q->set_lock);
	*out = q->set;
	pthread_mutex_unlock(&q->set_lock);
}

void
queue_reload(struct queue *q, const struct queue_params *p)
{
	struct queue_settings st;

	settings_from(&st, p);
	pthread_mutex_lock(&q->set_lock);
	q->set = st;
	pthread_mutex_unlock(&q->set_lock);
	writer_settings_changed(q);	/* a linger under way ends by the new value */
	sched_reload(q);
}

/* At start: zero every key store slot no record references (a crash
 * between writing a key and the commit naming it, or between a commit
 * that dropped a key and zeroing it). */
static int
keystore_reconcile(struct queue *q, char *err, size_t errlen)
{
	uint64_t *refs = NULL;
	size_t n = 0, zeroed = 0;
	int rc;

	if ((rc = keys_referenced(q, &refs, &n)) == 0) {
		/* A referenced slot past the file's end was never lost by a
		 * crash (a key is synced before the commit naming it): the file
		 * was cut (emptied, truncated, an old copy restored).  Refused,
		 * like a missing one, before reconcile would zero anything. */
		uint64_t whole = ks_whole_slots(q->ks), last = 0;
		size_t i, beyond = 0;

		for (i = 0; i < n; i++) {
			if (refs[i] > whole) {
				beyond++;
				if (refs[i] > last)
					last = refs[i];
			}
		}
		if (beyond > 0) {
			free(refs);
			snprintf(err, errlen, "key store %s is truncated: it holds %llu whole "
			    "slots, the queue references %zu key%s beyond them (up to slot %llu); "
			    "restore it with the data, or move the queue away to start a new one",
			    ks_path(q->ks), (unsigned long long)whole, beyond, beyond == 1 ? "" : "s",
			    (unsigned long long)last);
			return -1;
		}
		rc = ks_reconcile(q->ks, refs, n, &zeroed);
	}
	free(refs);
	if (rc != 0) {
		snprintf(err, errlen, "queue: key store %s: %s", ks_path(q->ks), strerror(-rc));
		return -1;
	}
	if (zeroed > 0)
		log_info("event=keystore_reconciled zeroed=%zu", zeroed);
	return 0;
}

/* No keycheck record, no key and no message: a queue never used. */
static int
queue_is_empty(struct queue *q)
{
	static const enum db_table t[] = { DB_META, DB_KEYS, DB_MESSAGES };
	struct db_txn *txn;
	struct db_cursor *c;
	size_t i;
	int used = 0;

	if (db_begin(q->db, 1, &txn) != 0)
		return 0;
	for (i = 0; i < ARRAY_SIZE(t) && !used; i++) {
		if (db_cursor_open(txn, t[i], &c) != 0) {
			used = 1;
			break;
		}
		used = db_cursor_seek(c, NULL, 0, NULL, NULL, NULL, NULL) != -ENOENT;
		db_cursor_close(c);
	}
	db_abort(txn);
	return !used;
}

struct queue *
queue_open(uv_loop_t *loop, const struct queue_params *p, int readonly,
    char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	char kerr[512];

	q->loop = loop;
	q->readonly = readonly;
	q->chunk_size = p->chunk_size ? p->chunk_size : 65536;
	q->master_key_file = xstrdup(p->master_key_file);
	q->data_directory = xstrdup(p->data_directory);
	pthread_mutex_init(&q->keys_lock, NULL);
	pthread_mutex_init(&q->set_lock, NULL);
	q->inflight = hash_new(NULL);
	q->commit_us.kind = HISTO_DURATION;
	q->batch_ops.kind = HISTO_COUNT;
	settings_from(&q->set, p);
	if (db_open(&q->db, p->data_directory, p->map_size, readonly, err, errlen) != 0)
		goto fail;
	/* The keys of a queue in use live in its key store: a missing one is
	 * refused, not replaced by an empty one that would lose them all. */
	{
		char *ksp = xasprintf("%s/keys", p->data_directory);
		int missing = access(ksp, F_OK) != 0 && errno == ENOENT;

		free(ksp);
		if (!readonly && missing && !queue_is_empty(q)) {
			snprintf(err, errlen, "key store %s/keys is missing; the queue in %s "
			    "cannot be read without it (restore it with the data, or move the "
			    "queue away to start a new one)", p->data_directory, p->data_directory);
			goto fail;
		}
	}
	/* A master key is made only for a new, empty queue: an existing
	 * queue without its key cannot be read, and a fresh key would only
	 * fail the keycheck below (issue 12 item 5). */
	if (!readonly && access(p->master_key_file, F_OK) != 0 && errno == ENOENT &&
	    !queue_is_empty(q)) {
		snprintf(err, errlen, "master key %s is missing; the queue in %s cannot be "
		    "read without it (restore the key file, or move the queue away to "
		    "start a new one)", p->master_key_file, p->data_directory);
		goto fail;
	}
	if (keys_master_load(p->master_key_file, !readonly, q->master, kerr,
	    sizeof(kerr)) == 0)
		q->have_master = 1;
	else if (!readonly) {
		snprintf(err, errlen, "%s", kerr);
		goto fail;
	}
	if (q->have_master && queue_keycheck(q, err, errlen) != 0)
		goto fail;
	if (ks_open(&q->ks, p->data_directory, readonly, err, errlen) != 0 && !readonly)
		goto fail;
	if (!readonly) {
		if (journal_open(&q->journal, p->master_key_file, err, errlen) != 0)
			goto fail;
		ks_set_journal(q->ks, q->journal);
	}
	if (!readonly && keystore_reconcile(q, err, errlen) != 0)
		goto fail;
	queue_log_init(q);
	pause_init(q);
	if (!readonly && loop != NULL) {
		if (writer_start(q) != 0) {
			snprintf(err, errlen, "queue: cannot start the writer thread");
			goto fail;
		}
		sched_init(q);
	}
	return q;
fail:
	ks_close(q->ks);
	journal_close(q->journal);
	pause_free(q);
	if (q->db != NULL)
		db_close(q->db);
	pthread_mutex_destroy(&q->keys_lock);
	pthread_mutex_destroy(&q->set_lock);
	crypto_wipe(q->master, sizeof(q->master));
	hash_free(q->inflight);
	free(q->master_key_file);
	free(q->data_directory);
	free(q);
	return NULL;
}

static void
queue_free(struct queue *q)
{
	keys_forget(q, NULL);
	ks_close(q->ks);
	journal_close(q->journal);
	db_close(q->db);
	pthread_mutex_destroy(&q->keys_lock);
	if (q->async_init) {
		writer_free_ports(q);
		pthread_mutex_destroy(&q->wlock);
		pthread_cond_destroy(&q->wcond);
	}
	crypto_wipe(q->master, sizeof(q->master));
	pthread_mutex_destroy(&q->set_lock);
	hash_free(q->inflight);
	pause_free(q);
	free(q->master_key_file);
	free(q->data_directory);
	free(q);
}

static void
queue_handle_closed(uv_handle_t *h)
{
	struct queue *q = h->data;

	if (--q->handles_open == 0)
		queue_free(q);
}

void
queue_drain(struct queue *q)
{
	if (q != NULL)
		writer_linger_end(q);
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	q->closing = 1;
	writer_release_held(q);	/* a last try for results that could not be written */
	writer_stop(q);
	sched_close(q);
	if (q->async_init) {
		q->handles_open++;
		uv_close((uv_handle_t *)&q->async, queue_handle_closed);
	}
	if (q->timers_init) {
		q->handles_open += 3;
		uv_close((uv_handle_t *)&q->sched_timer, queue_handle_closed);
		uv_close((uv_handle_t *)&q->purge_timer, queue_handle_closed);
		uv_close((uv_handle_t *)&q->wretry_timer, queue_handle_closed);
	}
	if (q->handles_open == 0)
		queue_free(q);
}

const char *
queue_db_path(struct queue *q)
{
	return db_path(q->db);
}

const char *
queue_keystore_path(struct queue *q)
{
	return ks_path(q->ks);
}

/* ---- commit ---- */

struct commit_op {
	struct writer_op op;
	struct queue_msg_in m;		/* pointers borrowed */
	char id[QUEUE_ID_LEN + 1];
	queue_commit_cb cb;
	void *arg;
};

/*
 * The N message octets at OFF: a pointer into the one piece that holds
 * them all, or else gathered into SEALED after its nonce, where
 * crypto_seal() encrypts them in place (the same chunk buffer; the
 * message is never joined into one copy).
 */
static const void *
commit_piece(const struct queue_msg_in *in, uint64_t off, size_t n, unsigned char *sealed)
{
	unsigned char *dst = sealed + CRYPTO_NONCE_LEN;
	size_t i, got = 0;
	uint64_t at = 0;

	if (in->iov == NULL)
		return in->data + off;
	for (i = 0; i < in->niov && got < n; i++) {
		const struct iovec *v = &in->iov[i];
		size_t skip, take;

		if (at + v->iov_len <= off) {
			at += v->iov_len;
			continue;
		}
		skip = off > at ? (size_t)(off - at) : 0;
		take = v->iov_len - skip < n - got ? v->iov_len - skip : n - got;
		if (got == 0 && take == n)
			return (const char *)v->iov_base + skip;
		memcpy(dst + got, (const char *)v->iov_base + skip, take);
		got += take;
		off += take;
		at += v->iov_len;
	}
	return dst;
}

static int
commit_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	struct commit_op *c = (struct commit_op *)wop;
	const struct queue_msg_in *in = &c->m;
	unsigned char ak[CRYPTO_KEY_LEN], dk[CRYPTO_KEY_LEN];
	unsigned char k[RCPT_KEY_LEN], *sealed;
	struct queue_msg m;
	struct mrec r;
	uint64_t now = now_wall_ms(), off, no, slot = 0;
	size_t i, n;
	int err;

	if ((err = queue_account_key(q, txn, in->account, 1, ak)) != 0)
		return err == -EBADMSG ? EACCES : err;
	/* the data key comes from a pool slot synced ahead (keystore.c) */
	if ((err = ks_take(q->ks, q->master, ak, c->id, &slot, dk)) != 0)
		goto out;
	sealed = xmalloc(q->chunk_size + CRYPTO_OVERHEAD);
	for (off = 0, no = 0; off < in->len; off += n, no++) {
		n = in->len - off < q->chunk_size ? in->len - off : q->chunk_size;
		rcpt_key(k, c->id, (uint32_t)no);
		crypto_seal(dk, k, sizeof(k), commit_piece(in, off, n, sealed), n, sealed);
		if ((err = db_put(txn, DB_BODIES, k, sizeof(k), sealed, n + CRYPTO_OVERHEAD)) != 0)
			break;
	}
	free(sealed);
	if (err != 0)
		goto out;
	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	memcpy(m.id, c->id, sizeof(m.id));
	m.account = (char *)in->account;
	m.sender = (char *)in->sender;
	m.envid = (char *)in->envid;
	m.verdicts = (char *)in->verdicts;
	m.client = (char *)in->client;
	m.message_id = (char *)in->message_id;
	m.created = now;
	m.has_sender_hash = in->has_sender_hash && *in->sender != '\0';
	if (m.has_sender_hash)
		memcpy(m.sender_hash, in->sender_hash, sizeof(m.sender_hash));
	m.size = in->len;
	m.nrcpts = in->nrcpts;
	m.rcpts = xcalloc(in->nrcpts, sizeof(*m.rcpts));
	for (i = 0; i < in->nrcpts; i++) {
		m.rcpts[i].no = (uint32_t)i;
		m.rcpts[i].addr = in->rcpts[i].addr;
		m.rcpts[i].orcpt = in->rcpts[i].orcpt;
		m.rcpts[i].notify = in->rcpts[i].notify;
		m.rcpts[i].has_hash = in->rcpts[i].has_hash;
		if (in->rcpts[i].has_hash)
			memcpy(m.rcpts[i].addr_hash, in->rcpts[i].addr_hash, sizeof(m.rcpts[i].addr_hash));
		m.rcpts[i].state = in->state == QUEUE_HELD ? QUEUE_HELD : QUEUE_QUEUED;
		m.rcpts[i].next_try = now;
	}
	envelope_seal(dk, &m);
	r.slot = slot;
	r.flags = (in->ret_full ? MF_RET_FULL : 0) | (in->smtputf8 ? MF_SMTPUTF8 : 0) |
	    (in->eightbit ? MF_EIGHTBIT : 0) | (in->state == QUEUE_HELD ? MF_HELD : 0) |
	    (in->webhook ? MF_WEBHOOK : 0) | (in->zero_retention ? MF_ZERO_RET : 0);
	r.nrcpts = in->nrcpts;
	r.nchunks = no;
	if ((err = msg_put(txn, &m, &r)) != 0)
		goto free_env;
	if (in->message_id_hash != NULL && strlen(in->message_id_hash) == 64) {
		char mk[QUEUE_MSGID_KEY_MAX];
		int kl = snprintf(mk, sizeof(mk), "%s/%s", in->message_id_hash, c->id);

		if ((err = db_put(txn, DB_MSGIDS, mk, (size_t)kl, "", 0)) != 0)
			goto free_env;
	}
	for (i = 0; i < in->nrcpts; i++) {
		struct queue_rcpt *rc = &m.rcpts[i];

		if ((err = rcpt_put(txn, c->id, rc)) != 0)
			goto free_env;
		if (rc->state == QUEUE_QUEUED && (err = sched_put(txn, now, c->id, rc->no)) != 0)
			goto free_env;
		/* a held message's event names the class of the hold (issue 16) */
		if ((err = event_add_outbox(q, txn, c->id, rc->addr,
		    rc->state == QUEUE_HELD ? "held" : "queued", NULL, in->client,
		    rc->state == QUEUE_HELD ? queue_hold_reason(in->verdicts) : NULL,
		    (r.flags & MF_WEBHOOK) != 0)) != 0)
			goto free_env;
	}
free_env:
	free(m.env_sealed);
	for (i = 0; i < in->nrcpts; i++)
		free(m.rcpts[i].sealed);
	free(m.rcpts);
out:
	crypto_wipe(dk, sizeof(dk));
	crypto_wipe(ak, sizeof(ak));
	return err;
}

/* Outcome for a failed write: storage exhaustion vs. anything else. */
void
queue_outcome_for_error(struct outcome *o, int err)
{
	if (err == -EFBIG || err == -ENOSPC || err == -E2BIG)
		outcome_reply(o, R_STORAGE_FULL);
	else if (err == -ENOENT)
		outcome_reply(o, R_NO_SUCH_MESSAGE);
	else if (err == -EACCES)
		outcome_reply(o, R_QUEUE_ERROR);
	else if (err == -ECANCELED)	/* queue_kv_put_if() */
		outcome_reply(o, R_CHANGED_MEANWHILE);
	else if (err == -EALREADY)	/* an operator's report on a final recipient */
		outcome_reply(o, R_NOTHING_TO_RECORD);
	else if (err == -EIDRM)	/* queue_kv_update() of a record deleted meanwhile */
		outcome_reply(o, R_RECORD_GONE);
	else
		outcome_reply(o, R_LOCAL_ERROR);
}

static void
commit_done(struct queue *q, struct writer_op *wop, int status)
{
	struct commit_op *c = (struct commit_op *)wop;
	struct outcome o;

	if (status == 0) {
		/* event=queued is logged once, by the caller (the relay: session,
		 * account, sender, size, recipients, state) */
		outcome_reply(&o, R_QUEUED_AS, c->id);
	} else {
		queue_outcome_for_error(&o, status);
		log_err("qid=%s event=commit_failed error=\"%s\"", c->id, strerror(-status));
	}
	c->cb(c->arg, &o, status == 0 ? c->id : NULL);
	free(c);
	if (status == 0)
		sched_kick(q);
}

int
queue_commit(struct queue *q, const struct queue_msg_in *m,
    queue_commit_cb cb, void *arg)
{
	struct commit_op *c;

	if (q->readonly || !q->writer_running || q->closing)
		return -EROFS;
	if (m->nrcpts == 0 || m->nrcpts > UINT32_MAX || m->account == NULL ||
	    m->sender == NULL || (m->iov == NULL && m->len > 0 && m->data == NULL) ||
	    (m->state != QUEUE_QUEUED && m->state != QUEUE_HELD))
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->op.apply = commit_apply;
	c->op.done = commit_done;
	c->m = *m;
	if (m->iov != NULL) {
		size_t i;

		for (c->m.len = 0, i = 0; i < m->niov; i++)
			c->m.len += m->iov[i].iov_len;
	}
	c->cb = cb;
	c->arg = arg;
	if (m->id != NULL && id_valid(m->id))
		memcpy(c->id, m->id, QUEUE_ID_LEN + 1);	/* made by queue_new_id() */
	else
		id_new(c->id);
	writer_op_audit(&c->op, m->audit);	/* queue.inject: names the new id */
	c->op.audit_id = c->id;
	writer_submit(q, &c->op);
	return 0;
}

void
queue_commit_histograms(struct queue *q, struct histo *latency, struct histo *batch)
{
	histo_snapshot(&q->commit_us, latency);
	histo_snapshot(&q->batch_ops, batch);
}

void
queue_new_id(char out[QUEUE_ID_LEN + 1])
{
	id_new(out);
}

/* ---- reading ---- */

int
queue_get(struct queue *q, const char *id, struct queue_msg **out)
{
	struct db_txn *txn;
	struct mrec r;
	int rc;

	if (!id_valid(id))
		return -ENOENT;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	rc = msg_load(q, txn, id, out, &r);
	db_abort(txn);
	return rc;
}

int
queue_read_body(struct queue *q, const char *id, struct buf *out)
{
	struct queue_msg *m = NULL;
	struct db_txn *txn;
	struct mrec r;
	unsigned char dk[CRYPTO_KEY_LEN], k[RCPT_KEY_LEN];
	const void *v;
	size_t vl, start = out->len;
	uint64_t i;
	int rc;

	if (!id_valid(id))
		return -ENOENT;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	/* the envelope stays sealed: only the account, slot, size and chunk
	 * count are needed here (issue 20: opening it unwrapped the data key
	 * and opened every address once more per delivery attempt) */
	if ((rc = msg_load(NULL, txn, id, &m, &r)) != 0)
		goto out;
	if (r.flags & (MF_BODY_GONE | MF_DELETED)) {
		rc = -ENOENT;
		goto out;
	}
	if ((rc = data_key(q, txn, m->account, m->id, r.slot, dk)) != 0) {
		rc = rc == -ENOENT ? -EACCES : rc;	/* its key was shredded */
		goto out;
	}
	for (i = 0; i < r.nchunks; i++) {
		rcpt_key(k, id, (uint32_t)i);
		if ((rc = db_get(txn, DB_BODIES, k, sizeof(k), &v, &vl)) != 0) {
			rc = rc == -ENOENT ? -EBADMSG : rc;
			break;
		}
		if (vl < CRYPTO_OVERHEAD || buf_reserve(out, vl - CRYPTO_OVERHEAD) != 0) {
			rc = vl < CRYPTO_OVERHEAD ? -EBADMSG : -EFBIG;
			break;
		}
		rc = crypto_open(dk, k, sizeof(k), v, vl, (unsigned char *)out->data + out->len);
		db_release(q->db, v, vl);	/* read once per attempt: keep it out of our RSS */
		if (rc != 0)
			break;
		out->len += vl - CRYPTO_OVERHEAD;
		out->data[out->len] = '\0';
	}
	if (rc == 0 && out->len - start != m->size)
		rc = -EBADMSG;
	crypto_wipe(dk, sizeof(dk));
out:
	if (rc != 0 && out->len > start) {
		out->len = start;
		out->data[start] = '\0';
	}
	db_abort(txn);
	queue_msg_free(m);
	return rc;
}

static int foreach_impl(struct queue *q, int open_envelopes, queue_msg_cb cb, void *arg);

int
queue_foreach(struct queue *q, queue_msg_cb cb, void *arg)
{
	return foreach_impl(q, 1, cb, arg);
}

int
queue_foreach_sealed(struct queue *q, queue_msg_cb cb, void *arg)
{
	return foreach_impl(q, 0, cb, arg);
}

static int
foreach_impl(struct queue *q, int open_envelopes, queue_msg_cb cb, void *arg)
{
	struct db_txn *txn;
	struct db_cursor *c;
	struct queue_msg *m;
	struct mrec r;
	const void *k, *v;
	size_t kl, vl;
	char id[QUEUE_ID_LEN + 1];
	int rc, stop = 0;

	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, DB_MESSAGES, &c)) != 0) {
		db_abort(txn);
		return rc;
	}
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0 && !stop;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		if (kl != QUEUE_ID_LEN)
			continue;
		memcpy(id, k, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		if (msg_load(open_envelopes ? q : NULL, txn, id, &m, &r) != 0)
			continue;
		stop = cb(arg, m);
		queue_msg_free(m);
	}
	db_cursor_close(c);
	db_abort(txn);
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}

struct stats_ctx { struct queue_stats *st; };

static int
stats_cb(void *arg, const struct queue_msg *m)
{
	struct queue_stats *st = arg;
	size_t i;

	st->messages++;
	st->bytes += m->size;
	if ((unsigned)m->state <= QUEUE_DELETED)
		st->by_state[m->state]++;
	for (i = 0; i < m->nrcpts; i++)
		if ((unsigned)m->rcpts[i].state <= QUEUE_DELETED)
			st->rcpts_by_state[m->rcpts[i].state]++;
	return 0;
}

int
queue_stats(struct queue *q, struct queue_stats *st)
{
	struct db_txn *txn;
	struct db_cursor *c;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = queue_foreach_sealed(q, stats_cb, st)) != 0)
		return rc;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if (db_cursor_open(txn, DB_SCHEDULE, &c) == 0) {
		for (rc = db_cursor_seek(c, NULL, 0, NULL, NULL, NULL, NULL); rc == 0;
		    rc = db_cursor_next(c, NULL, NULL, NULL, NULL))
			st->scheduled++;
		db_cursor_close(c);
	}
	db_abort(txn);
	st->map_size = db_mapsize(q->db);
	st->batches = __atomic_load_n(&q->batches, __ATOMIC_RELAXED);	/* the writer thread's */
	st->batched_ops = __atomic_load_n(&q->batched_ops, __ATOMIC_RELAXED);
	return 0;
}

/* ---- generic records ---- */

const enum db_table queue_kv_tables[QUEUE_NKV_TABLES] = {
	DB_ACCOUNTS, DB_DKIM, DB_SUPPRESSIONS, DB_REVIEW, DB_MSGIDS, DB_SETTINGS, DB_SUBJECTS,
	DB_RESTRICTIONS,
};

int
queue_kv_get(struct queue *q, enum queue_table t, const char *key,
    char **val, size_t *len)
{
	struct db_txn *txn;
	const void *v;
	size_t vl;
	int rc;

	if ((unsigned)t >= QUEUE_NKV_TABLES)
		return -EINVAL;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	rc = db_get(txn, queue_kv_tables[t], key, strlen(key), &v, &vl);
	if (rc == 0) {
		*val = xmalloc(vl + 1);
		memcpy(*val, v, vl);
		(*val)[vl] = '\0';
		if (len != NULL)
			*len = vl;
	}
	db_abort(txn);
	return rc;
}

int
queue_kv_foreach(struct queue *q, enum queue_table t, const char *prefix,
    queue_kv_cb cb, void *arg)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, pl = strlen(prefix);
	int rc, stop = 0;

	if ((unsigned)t >= QUEUE_NKV_TABLES)
		return -EINVAL;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, queue_kv_tables[t], &c)) != 0) {
		db_abort(txn);
		return rc;
	}
	for (rc = db_cursor_seek(c, pl ? prefix : NULL, pl, &k, &kl, &v, &vl);
	    rc == 0 && !stop; rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		char *key, *val;
		if (kl < pl || memcmp(k, prefix, pl) != 0)
			break;
		key = xstrndup(k, kl);
		val = xmalloc(vl + 1);
		memcpy(val, v, vl);
		val[vl] = '\0';
		stop = cb(arg, key, val, vl);
		free(key);
		free(val);
	}
	db_cursor_close(c);
	db_abort(txn);
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}

/* ---- events and audit log ---- */

int
queue_log_foreach(struct queue *q, enum queue_log l, uint64_t since,
    queue_log_cb cb, void *arg)
{
	struct db_txn *txn;
	struct db_cursor *c;
	unsigned char start[12];
	const void *k, *v;
	size_t kl, vl;
	int rc, stop = 0;

	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, l == QUEUE_LOG_AUDIT ? DB_AUDIT : DB_EVENTS, &c)) != 0) {
		db_abort(txn);
		return rc;
	}
	put_be64(start, since);
	put_be32(start + 8, 0);
	for (rc = db_cursor_seek(c, start, sizeof(start), &k, &kl, &v, &vl); rc == 0 && !stop;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		char *text;
		if (kl != 12)
			continue;
		text = xstrndup(v, vl);
		stop = cb(arg, get_be64(k), text, vl);
		free(text);
	}
	db_cursor_close(c);
	db_abort(txn);
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}
