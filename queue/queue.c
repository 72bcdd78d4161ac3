/* SPDX-License-Identifier: ISC */
/*
 * queue.c: the durable queue of include/queue.h (DESIGN.md §4-§6).
 *
 * Records (messages, recipients) are small tag-length-value blobs so
 * fields can be added without a migration.  Keys are binary and sort
 * the way the readers need: recipients and body chunks by (id, no),
 * schedule entries by (due time, id, no), events and audit records by
 * (time, sequence).  All big-endian.
 *
 * Every mutation is a writer op (writer.c) applied inside the writer
 * thread's batch transaction; this file supplies the apply functions
 * and the loop-side done functions that call the user back exactly
 * once.  Reads open their own read transaction and may run anywhere.
 *
 * Encryption (crypto.c): a commit makes a random data key, wraps it
 * under the account key ("a:"+account in the keys table, itself wrapped
 * by the master key) and seals every body chunk with it.  Deleting or
 * purging a message deletes "m:"+id in the same transaction as the
 * chunks; shredding an account deletes "a:"+account.
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

#include "account.h"
#include "json.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

/* ---- keys and records ---- */

void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
rcpt_key(unsigned char *k, const char *id, uint32_t no)
{
	memcpy(k, id, QUEUE_ID_LEN);
	put_be32(k + QUEUE_ID_LEN, no);
}

static void
sched_key(unsigned char *k, uint64_t due, const char *id, uint32_t no)
{
	put_be64(k, due);
	memcpy(k + 8, id, QUEUE_ID_LEN);
	put_be32(k + 8 + QUEUE_ID_LEN, no);
}

enum { M_ACCOUNT = 1, M_SENDER, M_ENVID, M_FLAGS, M_CREATED, M_SIZE, M_VERDICTS,
	M_NRCPTS, M_NCHUNKS, M_CLIENT, M_FINAL };
enum { R_ADDR = 1, R_ORCPT, R_NOTIFY, R_STATE, R_ATTEMPTS, R_NEXT, R_REPLY, R_RELAY };

#define MF_RET_FULL	0x01
#define MF_SMTPUTF8	0x02
#define MF_EIGHTBIT	0x04
#define MF_HELD		0x08
#define MF_DELETED	0x10
#define MF_BODY_GONE	0x20

/* Message metadata beyond struct queue_msg. */
struct mrec {
	uint64_t flags;
	uint64_t nchunks;
	uint64_t final_time;
	uint64_t nrcpts;
};

static void
tlv_str(struct buf *b, int tag, const char *s)
{
	unsigned char h[5];
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	h[0] = (unsigned char)tag;
	put_be32(h + 1, (uint32_t)n);
	buf_append(b, h, 5);
	buf_append(b, s, n);
}

static void
tlv_u64(struct buf *b, int tag, uint64_t v)
{
	unsigned char h[13];

	h[0] = (unsigned char)tag;
	put_be32(h + 1, 8);
	put_be64(h + 5, v);
	buf_append(b, h, 13);
}

/* Walk TLV fields: calls FN for each; -1 when malformed. */
static int
tlv_walk(const void *data, size_t len,
    void (*fn)(void *ctx, int tag, const unsigned char *v, size_t n), void *ctx)
{
	const unsigned char *p = data, *end = p + len;

	while (p < end) {
		uint32_t n;
		if (end - p < 5)
			return -1;
		n = get_be32(p + 1);
		if ((size_t)(end - p - 5) < n)
			return -1;
		fn(ctx, p[0], p + 5, n);
		p += 5 + n;
	}
	return 0;
}

static uint64_t
tlv_num(const unsigned char *v, size_t n)
{
	return n == 8 ? get_be64(v) : 0;
}

struct msg_dec { struct queue_msg *m; struct mrec *r; };

static void
msg_field(void *ctx, int tag, const unsigned char *v, size_t n)
{
	struct msg_dec *d = ctx;
	struct queue_msg *m = d->m;

	switch (tag) {
	case M_ACCOUNT: free(m->account); m->account = xstrndup((const char *)v, n); break;
	case M_SENDER: free(m->sender); m->sender = xstrndup((const char *)v, n); break;
	case M_ENVID: free(m->envid); m->envid = xstrndup((const char *)v, n); break;
	case M_VERDICTS: free(m->verdicts); m->verdicts = xstrndup((const char *)v, n); break;
	case M_CLIENT: free(m->client); m->client = xstrndup((const char *)v, n); break;
	case M_FLAGS: d->r->flags = tlv_num(v, n); break;
	case M_CREATED: m->created = tlv_num(v, n); break;
	case M_SIZE: m->size = tlv_num(v, n); break;
	case M_NRCPTS: d->r->nrcpts = tlv_num(v, n); break;
	case M_NCHUNKS: d->r->nchunks = tlv_num(v, n); break;
	case M_FINAL: d->r->final_time = tlv_num(v, n); break;
	default: break;
	}
}

static void
msg_encode(struct buf *b, const struct queue_msg *m, const struct mrec *r)
{
	tlv_str(b, M_ACCOUNT, m->account);
	tlv_str(b, M_SENDER, m->sender);
	tlv_str(b, M_ENVID, m->envid);
	tlv_str(b, M_VERDICTS, m->verdicts);
	tlv_str(b, M_CLIENT, m->client);
	tlv_u64(b, M_FLAGS, r->flags);
	tlv_u64(b, M_CREATED, m->created);
	tlv_u64(b, M_SIZE, m->size);
	tlv_u64(b, M_NRCPTS, r->nrcpts);
	tlv_u64(b, M_NCHUNKS, r->nchunks);
	tlv_u64(b, M_FINAL, r->final_time);
}

static int
msg_decode(const char *id, const void *data, size_t len, struct queue_msg *m,
    struct mrec *r)
{
	struct msg_dec d = { m, r };

	memset(m, 0, sizeof(*m));
	memset(r, 0, sizeof(*r));
	memcpy(m->id, id, QUEUE_ID_LEN);
	m->id[QUEUE_ID_LEN] = '\0';
	if (tlv_walk(data, len, msg_field, &d) != 0)
		return -EBADMSG;
	if (m->account == NULL) m->account = xstrdup("");
	if (m->sender == NULL) m->sender = xstrdup("");
	m->ret_full = (r->flags & MF_RET_FULL) != 0;
	m->smtputf8 = (r->flags & MF_SMTPUTF8) != 0;
	m->eightbit = (r->flags & MF_EIGHTBIT) != 0;
	return 0;
}

static void
rcpt_field(void *ctx, int tag, const unsigned char *v, size_t n)
{
	struct queue_rcpt *rc = ctx;

	switch (tag) {
	case R_ADDR: free(rc->addr); rc->addr = xstrndup((const char *)v, n); break;
	case R_ORCPT: free(rc->orcpt); rc->orcpt = xstrndup((const char *)v, n); break;
	case R_REPLY: free(rc->last_reply); rc->last_reply = xstrndup((const char *)v, n); break;
	case R_RELAY: free(rc->relay); rc->relay = xstrndup((const char *)v, n); break;
	case R_NOTIFY: rc->notify = (unsigned)tlv_num(v, n); break;
	case R_STATE: rc->state = (enum queue_state)tlv_num(v, n); break;
	case R_ATTEMPTS: rc->attempts = (uint32_t)tlv_num(v, n); break;
	case R_NEXT: rc->next_try = tlv_num(v, n); break;
	default: break;
	}
}

static void
rcpt_encode(struct buf *b, const struct queue_rcpt *rc)
{
	tlv_str(b, R_ADDR, rc->addr);
	tlv_str(b, R_ORCPT, rc->orcpt);
	tlv_str(b, R_REPLY, rc->last_reply);
	tlv_str(b, R_RELAY, rc->relay);
	tlv_u64(b, R_NOTIFY, rc->notify);
	tlv_u64(b, R_STATE, (uint64_t)rc->state);
	tlv_u64(b, R_ATTEMPTS, rc->attempts);
	tlv_u64(b, R_NEXT, rc->next_try);
}

static int
rcpt_decode(uint32_t no, const void *data, size_t len, struct queue_rcpt *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->no = no;
	if (tlv_walk(data, len, rcpt_field, rc) != 0)
		return -EBADMSG;
	if (rc->addr == NULL)
		rc->addr = xstrdup("");
	return 0;
}

static void
rcpt_clear(struct queue_rcpt *rc)
{
	free(rc->addr);
	free(rc->orcpt);
	free(rc->last_reply);
	free(rc->relay);
	memset(rc, 0, sizeof(*rc));
}

static int
state_final(enum queue_state s)
{
	return s == QUEUE_DELIVERED || s == QUEUE_BOUNCED || s == QUEUE_EXPIRED ||
	    s == QUEUE_DELETED;
}

/* The message state shown to operators: held/deleted flags win, then
 * the least advanced recipient. */
static enum queue_state
msg_state(const struct queue_msg *m, const struct mrec *r)
{
	size_t i;
	int q = 0, d = 0, del = 0, b = 0, e = 0, h = 0;

	if (r->flags & MF_DELETED)
		return QUEUE_DELETED;
	if (r->flags & MF_HELD)
		return QUEUE_HELD;
	for (i = 0; i < m->nrcpts; i++) {
		switch (m->rcpts[i].state) {
		case QUEUE_QUEUED: q++; break;
		case QUEUE_HELD: h++; break;
		case QUEUE_DEFERRED: d++; break;
		case QUEUE_DELIVERED: del++; break;
		case QUEUE_BOUNCED: b++; break;
		case QUEUE_EXPIRED: e++; break;
		default: break;
		}
	}
	if (h) return QUEUE_HELD;
	if (q) return QUEUE_QUEUED;
	if (d) return QUEUE_DEFERRED;
	if (b) return QUEUE_BOUNCED;
	if (e) return QUEUE_EXPIRED;
	if (del) return QUEUE_DELIVERED;
	return QUEUE_QUEUED;
}

static const char *const state_names[] = {
	"queued", "held", "deferred", "delivered", "bounced", "expired", "deleted",
};

const char *
queue_strstate(enum queue_state s)
{
	if ((unsigned)s < ARRAY_SIZE(state_names))
		return state_names[s];
	return "unknown";
}

int
queue_parse_state(const char *s, enum queue_state *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(state_names); i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum queue_state)i;
			return 0;
		}
	return -1;
}

void
queue_msg_free(struct queue_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->account);
	free(m->sender);
	free(m->envid);
	free(m->verdicts);
	free(m->client);
	for (i = 0; i < m->nrcpts; i++)
		rcpt_clear(&m->rcpts[i]);
	free(m->rcpts);
	free(m);
}

/* Load message ID with its recipients from TXN into a new queue_msg. */
static int
msg_load(struct db_txn *txn, const char *id, struct queue_msg **out, struct mrec *r)
{
	struct queue_msg *m;
	struct db_cursor *c;
	unsigned char k[RCPT_KEY_LEN];
	const void *kp, *v;
	size_t kl, vl;
	int rc;

	if ((rc = db_get(txn, DB_MESSAGES, id, QUEUE_ID_LEN, &v, &vl)) != 0)
		return rc;
	m = xcalloc(1, sizeof(*m));
	if ((rc = msg_decode(id, v, vl, m, r)) != 0) {
		queue_msg_free(m);
		return rc;
	}
	if ((rc = db_cursor_open(txn, DB_RECIPIENTS, &c)) != 0) {
		queue_msg_free(m);
		return rc;
	}
	rcpt_key(k, id, 0);
	for (rc = db_cursor_seek(c, k, sizeof(k), &kp, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(c, &kp, &kl, &v, &vl)) {
		if (kl != RCPT_KEY_LEN || memcmp(kp, id, QUEUE_ID_LEN) != 0)
			break;
		m->rcpts = xrealloc(m->rcpts, (m->nrcpts + 1) * sizeof(*m->rcpts));
		rcpt_decode(get_be32((const unsigned char *)kp + QUEUE_ID_LEN), v, vl,
		    &m->rcpts[m->nrcpts]);
		m->nrcpts++;
	}
	db_cursor_close(c);
	m->state = msg_state(m, r);
	*out = m;
	return 0;
}

int
queue_load_txn(struct db_txn *txn, const char *id, struct queue_msg **out)
{
	struct mrec r;

	return msg_load(txn, id, out, &r);
}

static int
msg_put(struct db_txn *txn, const struct queue_msg *m, const struct mrec *r)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	msg_encode(&b, m, r);
	rc = db_put(txn, DB_MESSAGES, m->id, QUEUE_ID_LEN, b.data, b.len);
	buf_free(&b);
	return rc;
}

static int
rcpt_put(struct db_txn *txn, const char *id, const struct queue_rcpt *rc)
{
	unsigned char k[RCPT_KEY_LEN];
	struct buf b;
	int r;

	rcpt_key(k, id, rc->no);
	buf_init(&b, 0);
	rcpt_encode(&b, rc);
	r = db_put(txn, DB_RECIPIENTS, k, sizeof(k), b.data, b.len);
	buf_free(&b);
	return r;
}

static int
sched_put(struct db_txn *txn, uint64_t due, const char *id, uint32_t no)
{
	unsigned char k[SCHED_KEY_LEN];

	sched_key(k, due, id, no);
	return db_put(txn, DB_SCHEDULE, k, sizeof(k), "", 0);
}

static int
sched_del(struct db_txn *txn, uint64_t due, const char *id, uint32_t no)
{
	unsigned char k[SCHED_KEY_LEN];
	int rc;

	sched_key(k, due, id, no);
	rc = db_del(txn, DB_SCHEDULE, k, sizeof(k));
	return rc == -ENOENT ? 0 : rc;
}

/* ---- events and audit ---- */

int
queue_append_log(struct queue *q, struct db_txn *txn, enum db_table t,
    const char *text, size_t len)
{
	unsigned char k[12];
	uint64_t now = now_wall_ms();

	if (now > q->ev_last) {
		q->ev_last = now;
		q->ev_seq = 0;
	} else
		q->ev_seq++;
	put_be64(k, q->ev_last);
	put_be32(k + 8, q->ev_seq);
	return db_put(txn, t, k, sizeof(k), text, len);
}

/* One state-change event: time, id, recipient pseudonym, what, reply. */
static int event_add_client(struct queue *q, struct db_txn *txn, const char *id,
    const char *addr, const char *what, const char *reply, const char *client);

static int
event_add(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply)
{
	return event_add_client(q, txn, id, addr, what, reply, NULL);
}

static int
event_add_client(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply, const char *client)
{
	char pseudo[64];
	struct json_out j;
	struct buf b;
	int rc;

	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_kv_uint(&j, "time", now_wall_ms());
	json_kv_str(&j, "id", id);
	if (addr != NULL)
		json_kv_str(&j, "rcpt", log_pseudonym(addr, strlen(addr), pseudo, sizeof(pseudo)));
	json_kv_str(&j, "event", what);
	if (reply != NULL)
		json_kv_str(&j, "reply", reply);
	if (client != NULL)
		json_kv_str(&j, "client", client);
	json_obj_end(&j);
	rc = queue_append_log(q, txn, DB_EVENTS, b.data, b.len);
	buf_free(&b);
	return rc;
}

/* ---- account keys ---- */

int
queue_account_key(struct queue *q, struct db_txn *txn, const char *account,
    int create, unsigned char *key)
{
	struct acct_key *ak;
	unsigned char wrapped[CRYPTO_KEY_LEN + CRYPTO_OVERHEAD];
	char *name;
	const void *v;
	size_t vl;
	int rc;

	if (!q->have_master)
		return -EACCES;
	pthread_mutex_lock(&q->keys_lock);
	for (ak = q->keys; ak != NULL; ak = ak->next)
		if (strcmp(ak->name, account) == 0) {
			memcpy(key, ak->key, CRYPTO_KEY_LEN);
			pthread_mutex_unlock(&q->keys_lock);
			return 0;
		}
	pthread_mutex_unlock(&q->keys_lock);
	name = xasprintf("a:%s", account);
	rc = db_get(txn, DB_KEYS, name, strlen(name), &v, &vl);
	if (rc == 0) {
		if (vl != sizeof(wrapped) ||
		    crypto_open(q->master, name, strlen(name), v, vl, key) != 0) {
			log_err("event=queue_key_unwrap_failed account=%s", account);
			free(name);
			return -EBADMSG;
		}
	} else if (rc == -ENOENT && create) {
		crypto_random(key, CRYPTO_KEY_LEN);
		crypto_seal(q->master, name, strlen(name), key, CRYPTO_KEY_LEN, wrapped);
		if ((rc = db_put(txn, DB_KEYS, name, strlen(name), wrapped, sizeof(wrapped))) != 0) {
			free(name);
			return rc;
		}
	} else {
		free(name);
		return rc;
	}
	free(name);
	ak = xcalloc(1, sizeof(*ak));
	ak->name = xstrdup(account);
	memcpy(ak->key, key, CRYPTO_KEY_LEN);
	ak->committed = rc == 0;
	pthread_mutex_lock(&q->keys_lock);
	ak->next = q->keys;
	q->keys = ak;
	pthread_mutex_unlock(&q->keys_lock);
	return 0;
}

/* After a batch: keep new account keys if it committed, else forget them. */
void
queue_keys_commit(struct queue *q, int ok)
{
	struct acct_key **pp, *ak;

	pthread_mutex_lock(&q->keys_lock);
	for (pp = &q->keys; (ak = *pp) != NULL;) {
		if (ak->committed || ok) {
			ak->committed = 1;
			pp = &ak->next;
			continue;
		}
		*pp = ak->next;
		memset(ak->key, 0, sizeof(ak->key));
		free(ak->name);
		free(ak);
	}
	pthread_mutex_unlock(&q->keys_lock);
}

static void
keys_forget(struct queue *q, const char *account)
{
	struct acct_key **pp, *ak;

	pthread_mutex_lock(&q->keys_lock);
	for (pp = &q->keys; (ak = *pp) != NULL;) {
		if (account == NULL || strcmp(ak->name, account) == 0) {
			*pp = ak->next;
			memset(ak->key, 0, sizeof(ak->key));
			free(ak->name);
			free(ak);
		} else
			pp = &ak->next;
	}
	pthread_mutex_unlock(&q->keys_lock);
}

/* Unwrap the data key of message M. */
static int
data_key(struct queue *q, struct db_txn *txn, const struct queue_msg *m, unsigned char *dk)
{
	unsigned char ak[CRYPTO_KEY_LEN];
	char name[3 + QUEUE_ID_LEN];
	const void *v;
	size_t vl;
	int rc;

	if ((rc = queue_account_key(q, txn, m->account, 0, ak)) != 0)
		return rc;
	snprintf(name, sizeof(name), "m:%s", m->id);
	if ((rc = db_get(txn, DB_KEYS, name, strlen(name), &v, &vl)) != 0)
		return rc;
	if (vl != CRYPTO_KEY_LEN + CRYPTO_OVERHEAD ||
	    crypto_open(ak, name, strlen(name), v, vl, dk) != 0)
		rc = -EBADMSG;
	memset(ak, 0, sizeof(ak));
	return rc;
}

/* Delete the body chunks and the data key of ID (crypto-shredding). */
static int
body_shred(struct db_txn *txn, const char *id, uint64_t nchunks)
{
	unsigned char k[RCPT_KEY_LEN];
	char name[3 + QUEUE_ID_LEN];
	uint64_t i;
	int rc;

	for (i = 0; i < nchunks; i++) {
		rcpt_key(k, id, (uint32_t)i);
		if ((rc = db_del(txn, DB_BODIES, k, sizeof(k))) != 0 && rc != -ENOENT)
			return rc;
	}
	snprintf(name, sizeof(name), "m:%s", id);
	rc = db_del(txn, DB_KEYS, name, strlen(name));
	return rc == -ENOENT ? 0 : rc;
}

/* ---- open / close ---- */

static const char keycheck_aad[] = "postern keycheck v1";

/* Verify (or, in a new queue, record) which master key the queue uses. */
static int
queue_keycheck(struct queue *q, char *err, size_t errlen)
{
	unsigned char sealed[7 + CRYPTO_OVERHEAD], plain[7];
	struct db_txn *txn;
	const void *v;
	size_t vl;
	int rc;

	if ((rc = db_begin(q->db, q->readonly, &txn)) != 0) {
		snprintf(err, errlen, "queue: %s", strerror(-rc));
		return -1;
	}
	rc = db_get(txn, DB_META, "keycheck", 8, &v, &vl);
	if (rc == 0) {
		if (vl != sizeof(sealed) || crypto_open(q->master, keycheck_aad,
		    sizeof(keycheck_aad) - 1, v, vl, plain) != 0) {
			db_abort(txn);
			snprintf(err, errlen, "queue: master key %s does not match the queue "
			    "in %s (wrong master_key_file, or the key was replaced)",
			    q->master_key_file, q->data_directory);
			return -1;
		}
		db_abort(txn);
		return 0;
	}
	if (q->readonly) {
		db_abort(txn);
		return 0;
	}
	crypto_seal(q->master, keycheck_aad, sizeof(keycheck_aad) - 1, "postern", 7, sealed);
	if ((rc = db_put(txn, DB_META, "keycheck", 8, sealed, sizeof(sealed))) != 0 ||
	    (rc = db_commit(txn)) != 0) {
		if (rc != 0)
			snprintf(err, errlen, "queue: cannot initialise: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

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

/* Copy what the queue needs from CFG (which may be freed on reload). */
static void
settings_from(struct queue_settings *st, const struct config *cfg)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->map_grow = cfg->queue_map_grow;
	st->map_max = cfg->queue_map_max;
	st->commit_batch = cfg->queue_commit_batch > 0 ? cfg->queue_commit_batch : 256;
	st->max_queue_lifetime = cfg->max_queue_lifetime;
	st->body_retention = cfg->body_retention;
	st->event_retention = cfg->event_retention;
	st->purge_interval = cfg->purge_interval ? cfg->purge_interval : 600000;
	for (i = 0; i < cfg->retry_schedule.n && st->nretry < QUEUE_MAX_RETRY; i++)
		if (config_parse_duration(cfg->retry_schedule.items[i], &st->retry[st->nretry]) == 0)
			st->nretry++;
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
queue_reload(struct queue *q, const struct config *cfg)
{
	struct queue_settings st;

	settings_from(&st, cfg);
	pthread_mutex_lock(&q->set_lock);
	q->set = st;
	pthread_mutex_unlock(&q->set_lock);
	sched_reload(q);
}

struct queue *
queue_open(uv_loop_t *loop, const struct config *cfg, int readonly,
    char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	char kerr[512];

	q->loop = loop;
	q->readonly = readonly;
	q->chunk_size = cfg->queue_chunk_size ? cfg->queue_chunk_size : 65536;
	q->master_key_file = xstrdup(cfg->master_key_file);
	q->data_directory = xstrdup(cfg->data_directory);
	pthread_mutex_init(&q->keys_lock, NULL);
	pthread_mutex_init(&q->set_lock, NULL);
	settings_from(&q->set, cfg);
	if (crypto_master_load(cfg->master_key_file, !readonly, q->master, kerr,
	    sizeof(kerr)) == 0)
		q->have_master = 1;
	else if (!readonly) {
		snprintf(err, errlen, "%s", kerr);
		goto fail;
	}
	if (db_open(&q->db, cfg->data_directory, cfg->queue_map_size, readonly, err, errlen) != 0)
		goto fail;
	if (q->have_master && queue_keycheck(q, err, errlen) != 0)
		goto fail;
	queue_log_init(q);
	if (!readonly && loop != NULL) {
		if (writer_start(q) != 0) {
			snprintf(err, errlen, "queue: cannot start the writer thread");
			goto fail;
		}
		sched_init(q);
	}
	return q;
fail:
	if (q->db != NULL)
		db_close(q->db);
	pthread_mutex_destroy(&q->keys_lock);
	pthread_mutex_destroy(&q->set_lock);
	memset(q->master, 0, sizeof(q->master));
	free(q->master_key_file);
	free(q->data_directory);
	free(q);
	return NULL;
}

static void
queue_free(struct queue *q)
{
	keys_forget(q, NULL);
	db_close(q->db);
	pthread_mutex_destroy(&q->keys_lock);
	if (q->async_init) {
		pthread_mutex_destroy(&q->wlock);
		pthread_cond_destroy(&q->wcond);
	}
	memset(q->master, 0, sizeof(q->master));
	pthread_mutex_destroy(&q->set_lock);
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
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	q->closing = 1;
	writer_stop(q);
	sched_close(q);
	if (q->async_init) {
		q->handles_open++;
		uv_close((uv_handle_t *)&q->async, queue_handle_closed);
	}
	if (q->timers_init) {
		q->handles_open += 2;
		uv_close((uv_handle_t *)&q->sched_timer, queue_handle_closed);
		uv_close((uv_handle_t *)&q->purge_timer, queue_handle_closed);
	}
	if (q->handles_open == 0)
		queue_free(q);
}

const char *
queue_db_path(struct queue *q)
{
	return db_path(q->db);
}

/* ---- commit ---- */

struct commit_op {
	struct writer_op op;
	struct queue_msg_in m;		/* pointers borrowed */
	char id[QUEUE_ID_LEN + 1];
	queue_commit_cb cb;
	void *arg;
};

static int
commit_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	struct commit_op *c = (struct commit_op *)wop;
	const struct queue_msg_in *in = &c->m;
	unsigned char ak[CRYPTO_KEY_LEN], dk[CRYPTO_KEY_LEN];
	unsigned char wrapped[CRYPTO_KEY_LEN + CRYPTO_OVERHEAD], k[RCPT_KEY_LEN], *sealed;
	char name[3 + QUEUE_ID_LEN];
	struct queue_msg m;
	struct queue_rcpt rc;
	struct mrec r;
	uint64_t now = now_wall_ms(), off, no;
	size_t i, n;
	int err;

	if ((err = queue_account_key(q, txn, in->account, 1, ak)) != 0)
		return err == -EBADMSG ? EACCES : err;
	crypto_random(dk, sizeof(dk));
	snprintf(name, sizeof(name), "m:%s", c->id);
	crypto_seal(ak, name, strlen(name), dk, sizeof(dk), wrapped);
	if ((err = db_put(txn, DB_KEYS, name, strlen(name), wrapped, sizeof(wrapped))) != 0)
		goto out;
	sealed = xmalloc(q->chunk_size + CRYPTO_OVERHEAD);
	for (off = 0, no = 0; off < in->len; off += n, no++) {
		n = in->len - off < q->chunk_size ? in->len - off : q->chunk_size;
		rcpt_key(k, c->id, (uint32_t)no);
		crypto_seal(dk, k, sizeof(k), in->data + off, n, sealed);
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
	m.created = now;
	m.size = in->len;
	r.flags = (in->ret_full ? MF_RET_FULL : 0) | (in->smtputf8 ? MF_SMTPUTF8 : 0) |
	    (in->eightbit ? MF_EIGHTBIT : 0) | (in->state == QUEUE_HELD ? MF_HELD : 0);
	r.nrcpts = in->nrcpts;
	r.nchunks = no;
	if ((err = msg_put(txn, &m, &r)) != 0)
		goto out;
	for (i = 0; i < in->nrcpts; i++) {
		memset(&rc, 0, sizeof(rc));
		rc.no = (uint32_t)i;
		rc.addr = in->rcpts[i].addr;
		rc.orcpt = in->rcpts[i].orcpt;
		rc.notify = in->rcpts[i].notify;
		rc.state = in->state == QUEUE_HELD ? QUEUE_HELD : QUEUE_QUEUED;
		rc.next_try = now;
		if ((err = rcpt_put(txn, c->id, &rc)) != 0)
			goto out;
		if (rc.state == QUEUE_QUEUED && (err = sched_put(txn, now, c->id, rc.no)) != 0)
			goto out;
		if ((err = event_add_client(q, txn, c->id, rc.addr,
		    rc.state == QUEUE_HELD ? "held" : "queued", NULL, in->client)) != 0)
			goto out;
	}
out:
	memset(dk, 0, sizeof(dk));
	memset(ak, 0, sizeof(ak));
	return err;
}

/* Outcome for a failed write: storage exhaustion vs. anything else. */
static void
outcome_for_error(struct outcome *o, int err)
{
	if (err == -EFBIG || err == -ENOSPC || err == -E2BIG)
		outcome_set(o, OUTCOME_TEMPFAIL, 452, "4.3.1", "Insufficient system storage");
	else if (err == -ENOENT)
		outcome_set(o, OUTCOME_PERMFAIL, 550, "5.1.0", "No such message");
	else if (err == -EACCES)
		outcome_set(o, OUTCOME_TEMPFAIL, 451, "4.3.0", "Queue key unavailable");
	else
		outcome_set(o, OUTCOME_TEMPFAIL, 451, "4.3.0",
		    "Local error in processing, try again later");
}

static void
commit_done(struct queue *q, struct writer_op *wop, int status)
{
	struct commit_op *c = (struct commit_op *)wop;
	struct outcome o;

	if (status == 0) {
		/* event=queued is logged once, by the caller (the relay: session,
		 * account, sender, size, recipients, state) */
		outcome_set(&o, OUTCOME_OK, 250, "2.0.0", "Ok: queued as %s", c->id);
	} else {
		outcome_for_error(&o, status);
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
	    m->sender == NULL || (m->len > 0 && m->data == NULL) ||
	    (m->state != QUEUE_QUEUED && m->state != QUEUE_HELD))
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->op.apply = commit_apply;
	c->op.done = commit_done;
	c->m = *m;
	c->cb = cb;
	c->arg = arg;
	id_new(c->id);
	writer_submit(q, &c->op);
	return 0;
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
	rc = msg_load(txn, id, out, &r);
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
	if ((rc = msg_load(txn, id, &m, &r)) != 0)
		goto out;
	if (r.flags & (MF_BODY_GONE | MF_DELETED)) {
		rc = -ENOENT;
		goto out;
	}
	if ((rc = data_key(q, txn, m, dk)) != 0)
		goto out;
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
		if ((rc = crypto_open(dk, k, sizeof(k), v, vl,
		    (unsigned char *)out->data + out->len)) != 0)
			break;
		out->len += vl - CRYPTO_OVERHEAD;
		out->data[out->len] = '\0';
	}
	if (rc == 0 && out->len - start != m->size)
		rc = -EBADMSG;
	memset(dk, 0, sizeof(dk));
out:
	if (rc != 0 && out->len > start) {
		out->len = start;
		out->data[start] = '\0';
	}
	db_abort(txn);
	queue_msg_free(m);
	return rc;
}

int
queue_foreach(struct queue *q, queue_msg_cb cb, void *arg)
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
		if (msg_load(txn, id, &m, &r) != 0)
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
	if ((rc = queue_foreach(q, stats_cb, st)) != 0)
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
	st->batches = q->batches;
	st->batched_ops = q->batched_ops;
	return 0;
}

/* ---- generic records ---- */

static const enum db_table kv_tables[] = { DB_ACCOUNTS, DB_DKIM, DB_SUPPRESSIONS };

int
queue_kv_get(struct queue *q, enum queue_table t, const char *key,
    char **val, size_t *len)
{
	struct db_txn *txn;
	const void *v;
	size_t vl;
	int rc;

	if ((unsigned)t >= ARRAY_SIZE(kv_tables))
		return -EINVAL;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	rc = db_get(txn, kv_tables[t], key, strlen(key), &v, &vl);
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

	if ((unsigned)t >= ARRAY_SIZE(kv_tables))
		return -EINVAL;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, kv_tables[t], &c)) != 0) {
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
};

enum { OP_KV, OP_AUDIT, OP_SHRED, OP_ACTION, OP_FLUSH, OP_PURGE };

static int action_apply(struct queue *q, struct db_txn *txn, struct simple_op *s);
static int flush_apply(struct queue *q, struct db_txn *txn);
static int purge_apply(struct queue *q, struct db_txn *txn);

static int
simple_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	struct simple_op *s = (struct simple_op *)wop;
	char *name;
	int rc;

	switch (s->kind) {
	case OP_KV:
		if (s->del) {
			rc = db_del(txn, s->table, s->key, strlen(s->key));
			return rc == -ENOENT ? 0 : rc;
		}
		return db_put(txn, s->table, s->key, strlen(s->key), s->val, s->len);
	case OP_AUDIT:
		return queue_append_log(q, txn, DB_AUDIT, s->val, s->len);
	case OP_SHRED:
		name = xasprintf("a:%s", s->key);
		rc = db_del(txn, DB_KEYS, name, strlen(name));
		free(name);
		keys_forget(q, s->key);
		return rc == -ENOENT ? ENOENT : rc;
	case OP_ACTION:
		return action_apply(q, txn, s);
	case OP_FLUSH:
		return flush_apply(q, txn);
	case OP_PURGE:
		return purge_apply(q, txn);
	}
	return EINVAL;
}

static void
simple_done(struct queue *q, struct writer_op *wop, int status)
{
	struct simple_op *s = (struct simple_op *)wop;
	struct outcome o;

	static const char *const nothing[] = {
		"Nothing to hold: no pending recipient", "Message is not held", "",
		"Nothing to requeue: no pending recipient",
	};

	if (status == 0)
		outcome_ok(&o);
	else if (s->kind == OP_ACTION && status == -EALREADY)
		outcome_set(&o, OUTCOME_PERMFAIL, 550, "5.0.0", "%s", nothing[s->act]);
	else
		outcome_for_error(&o, status);
	if (s->cb != NULL)
		s->cb(s->arg, &o);
	if (status == 0 && (s->kind == OP_ACTION || s->kind == OP_FLUSH))
		sched_kick(q);
	free(s->key);
	free(s->val);
	free(s);
}

static struct simple_op *
simple_new(int kind, queue_done_cb cb, void *arg)
{
	struct simple_op *s = xcalloc(1, sizeof(*s));

	s->op.apply = simple_apply;
	s->op.done = simple_done;
	s->kind = kind;
	s->cb = cb;
	s->arg = arg;
	return s;
}

static int
simple_submit(struct queue *q, struct simple_op *s)
{
	if (q->readonly || !q->writer_running || q->closing) {
		free(s->key);
		free(s->val);
		free(s);
		return -EROFS;
	}
	writer_submit(q, &s->op);
	return 0;
}

int
queue_kv_put(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if ((unsigned)t >= ARRAY_SIZE(kv_tables) || key == NULL || *key == '\0')
		return -EINVAL;
	s = simple_new(OP_KV, cb, arg);
	s->table = kv_tables[t];
	s->key = xstrdup(key);
	if (val == NULL)
		s->del = 1;
	else {
		s->val = xmalloc(len + 1);
		memcpy(s->val, val, len);
		s->len = len;
	}
	return simple_submit(q, s);
}

int
queue_audit(struct queue *q, const char *json, queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_AUDIT, cb, arg);

	s->val = xstrdup(json);
	s->len = strlen(json);
	return simple_submit(q, s);
}

int
queue_account_shred(struct queue *q, const char *account, queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_SHRED, cb, arg);

	s->key = xstrdup(account);
	return simple_submit(q, s);
}

int
queue_action(struct queue *q, const char *id, enum queue_action act,
    queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if (!id_valid(id))
		return -ENOENT;
	s = simple_new(OP_ACTION, cb, arg);
	str_copy(s->id, id, sizeof(s->id));
	s->act = act;
	return simple_submit(q, s);
}

int
queue_flush(struct queue *q, queue_done_cb cb, void *arg)
{
	return simple_submit(q, simple_new(OP_FLUSH, cb, arg));
}

int
queue_purge(struct queue *q, queue_done_cb cb, void *arg)
{
	return simple_submit(q, simple_new(OP_PURGE, cb, arg));
}

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

/* ---- operator actions ---- */

/* Recompute final_time after recipients changed. */
static void
msg_finalise(struct queue_msg *m, struct mrec *r, uint64_t now)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		if (!state_final(m->rcpts[i].state))
			return;
	if (r->final_time == 0)
		r->final_time = now;
}

static int
action_apply(struct queue *q, struct db_txn *txn, struct simple_op *s)
{
	static const char *const what[] = { "hold", "release", "delete", "requeue" };
	struct queue_msg *m;
	struct mrec r;
	uint64_t now = now_wall_ms();
	size_t i, nchanged = 0;
	int rc = 0;

	if ((rc = msg_load(txn, s->id, &m, &r)) != 0)
		return rc == -ENOENT ? ENOENT : rc;
	if (r.flags & MF_DELETED) {
		queue_msg_free(m);
		return s->act == QUEUE_ACT_DELETE ? 0 : ENOENT;
	}
	for (i = 0; i < m->nrcpts && rc == 0; i++) {
		struct queue_rcpt *rc_ = &m->rcpts[i];
		int pending = rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED;
		int changed = 0;

		switch (s->act) {
		case QUEUE_ACT_HOLD:
			if (pending) {
				rc = sched_del(txn, rc_->next_try, s->id, rc_->no);
				rc_->state = QUEUE_HELD;
				changed = 1;
			}
			break;
		case QUEUE_ACT_RELEASE:
			if (rc_->state == QUEUE_HELD) {
				rc_->state = QUEUE_QUEUED;
				rc_->next_try = now;
				rc = sched_put(txn, now, s->id, rc_->no);
				changed = 1;
			}
			break;
		case QUEUE_ACT_REQUEUE:
			if (pending) {
				if ((rc = sched_del(txn, rc_->next_try, s->id, rc_->no)) == 0)
					rc = sched_put(txn, now, s->id, rc_->no);
				rc_->state = QUEUE_QUEUED;
				rc_->next_try = now;
				changed = 1;
			}
			break;
		case QUEUE_ACT_DELETE:
			if (pending)
				rc = sched_del(txn, rc_->next_try, s->id, rc_->no);
			if (!state_final(rc_->state)) {
				rc_->state = QUEUE_DELETED;
				changed = 1;
			}
			break;
		}
		if (rc == 0 && changed) {
			nchanged++;
			rc = rcpt_put(txn, s->id, rc_);
			if (rc == 0)
				rc = event_add(q, txn, s->id, rc_->addr, what[s->act], NULL);
		}
	}
	/* Hold, release and requeue that change nothing are refused, so an
	 * operator who releases a message that was never held hears so. */
	if (rc == 0 && nchanged == 0 && s->act != QUEUE_ACT_DELETE) {
		queue_msg_free(m);
		return EALREADY;
	}
	if (rc == 0) {
		if (s->act == QUEUE_ACT_HOLD)
			r.flags |= MF_HELD;
		else if (s->act == QUEUE_ACT_RELEASE)
			r.flags &= ~(uint64_t)MF_HELD;
		else if (s->act == QUEUE_ACT_DELETE) {
			rc = body_shred(txn, s->id, r.nchunks);
			r.flags |= MF_DELETED | MF_BODY_GONE;
			r.flags &= ~(uint64_t)MF_HELD;
		}
		msg_finalise(m, &r, now);
		if (rc == 0)
			rc = msg_put(txn, m, &r);
	}
	queue_msg_free(m);
	return rc;
}

/* Move every future schedule entry to now (`queue flush`). */
static int
flush_apply(struct queue *q, struct db_txn *txn)
{
	struct db_cursor *c;
	const void *k;
	size_t kl, n = 0, i;
	unsigned char (*keys)[SCHED_KEY_LEN] = NULL;
	uint64_t now = now_wall_ms();
	int rc;

	if ((rc = db_cursor_open(txn, DB_SCHEDULE, &c)) != 0)
		return rc;
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, NULL, NULL)) {
		if (kl != SCHED_KEY_LEN || get_be64(k) <= now)
			continue;
		keys = xrealloc(keys, (n + 1) * sizeof(*keys));
		memcpy(keys[n++], k, SCHED_KEY_LEN);
	}
	db_cursor_close(c);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		char id[QUEUE_ID_LEN + 1];
		unsigned char rk[RCPT_KEY_LEN];
		uint32_t no = get_be32(keys[i] + 8 + QUEUE_ID_LEN);
		const void *v;
		size_t vl;
		struct queue_rcpt rcpt;

		memcpy(id, keys[i] + 8, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		if ((rc = db_del(txn, DB_SCHEDULE, keys[i], SCHED_KEY_LEN)) != 0)
			break;
		rcpt_key(rk, id, no);
		if (db_get(txn, DB_RECIPIENTS, rk, sizeof(rk), &v, &vl) != 0)
			continue;
		rcpt_decode(no, v, vl, &rcpt);
		rcpt.next_try = now;
		if ((rc = rcpt_put(txn, id, &rcpt)) == 0)
			rc = sched_put(txn, now, id, no);
		rcpt_clear(&rcpt);
	}
	free(keys);
	return rc;
}

void
queue_set_account_policy_fn(struct queue *q, queue_account_policy_fn fn, void *arg)
{
	q->account_policy = fn;
	q->account_policy_arg = arg;
}

/* Per-account retention periods (DESIGN.md §6) from the account's typed
 * policy (body_retention, event_retention; ACCOUNT_UNSET = global). */
static void
account_retention(struct queue *q, struct db_txn *txn, const char *account, uint64_t *body,
    uint64_t *event)
{
	struct account_policy pol;
	const void *v;
	size_t vl;

	if (*account == '\0' || q->account_policy == NULL ||
	    db_get(txn, DB_ACCOUNTS, account, strlen(account), &v, &vl) != 0)
		return;
	if (q->account_policy(q->account_policy_arg, v, vl, &pol) != 0)
		return;
	if (pol.body_retention != ACCOUNT_UNSET)
		*body = (uint64_t)pol.body_retention;
	if (pol.event_retention != ACCOUNT_UNSET)
		*event = (uint64_t)pol.event_retention;
}

/* Retention (DESIGN.md §6): bodies body_retention after the final
 * state, metadata after event_retention (both per account when the
 * account record overrides them), events after the global
 * event_retention. */
static int
purge_apply(struct queue *q, struct db_txn *txn)
{
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	uint64_t now = now_wall_ms(), bodies = 0, msgs = 0, events = 0;
	struct queue_settings st;
	int rc;

	queue_settings(q, &st);
	if ((rc = db_cursor_open(txn, DB_MESSAGES, &c)) != 0)
		return rc;
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		if (kl != QUEUE_ID_LEN)
			continue;
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		memcpy(ids[n], k, QUEUE_ID_LEN);
		ids[n][QUEUE_ID_LEN] = '\0';
		n++;
	}
	db_cursor_close(c);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		struct queue_msg *m;
		struct mrec r;
		size_t j;
		uint64_t body_ret = st.body_retention, event_ret = st.event_retention;

		if (msg_load(txn, ids[i], &m, &r) != 0)
			continue;
		if (r.final_time != 0)
			account_retention(q, txn, m->account, &body_ret, &event_ret);
		if (r.final_time != 0 && !(r.flags & MF_BODY_GONE) &&
		    r.final_time + body_ret <= now) {
			rc = body_shred(txn, ids[i], r.nchunks);
			r.flags |= MF_BODY_GONE;
			if (rc == 0)
				rc = msg_put(txn, m, &r);
			bodies++;
		}
		if (rc == 0 && r.final_time != 0 && r.final_time + event_ret <= now) {
			unsigned char rk[RCPT_KEY_LEN];
			for (j = 0; j < m->nrcpts && rc == 0; j++) {
				rcpt_key(rk, ids[i], m->rcpts[j].no);
				rc = db_del(txn, DB_RECIPIENTS, rk, sizeof(rk));
			}
			if (rc == 0)
				rc = body_shred(txn, ids[i], r.nchunks);
			if (rc == 0)
				rc = db_del(txn, DB_MESSAGES, ids[i], QUEUE_ID_LEN);
			msgs++;
		}
		queue_msg_free(m);
	}
	free(ids);
	if (rc == 0 && db_cursor_open(txn, DB_EVENTS, &c) == 0) {
		uint64_t cutoff = now > st.event_retention ? now - st.event_retention : 0;
		while ((rc = db_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL)) == 0 &&
		    kl == 12 && get_be64(k) < cutoff) {
			if ((rc = db_cursor_del(c)) != 0)
				break;
			events++;
		}
		if (rc == -ENOENT || (rc == 0))
			rc = 0;
		db_cursor_close(c);
	}
	if (bodies || msgs || events)
		log_info("event=queue_purged bodies=%llu messages=%llu events=%llu",
		    (unsigned long long)bodies, (unsigned long long)msgs,
		    (unsigned long long)events);
	return rc;
}

/* ---- delivery results ---- */

struct report_op {
	struct writer_op op;
	char id[QUEUE_ID_LEN + 1];
	uint32_t no;
	enum queue_result result;
	char reply[300];
	char *relay;
	enum queue_state newstate;
	queue_report_cb cb;
	void *arg;
};

/* Next attempt time after ATTEMPTS failures, per retry_schedule. */
static uint64_t
retry_delay(const struct queue_settings *st, uint32_t attempts)
{
	size_t i = attempts == 0 ? 0 : attempts - 1;

	if (i >= st->nretry)
		i = st->nretry - 1;
	return st->retry[i];
}

static int
report_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	static const char *const what[] = {
		"queued", "held", "deferred", "delivered", "bounced", "expired", "deleted",
	};
	struct report_op *ro = (struct report_op *)wop;
	struct queue_msg *m;
	struct queue_rcpt *rc_ = NULL;
	struct mrec r;
	uint64_t now = now_wall_ms(), deadline;
	struct queue_settings st;
	size_t i;
	int rc;

	queue_settings(q, &st);
	if ((rc = msg_load(txn, ro->id, &m, &r)) != 0)
		return rc == -ENOENT ? ENOENT : rc;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].no == ro->no)
			rc_ = &m->rcpts[i];
	if (rc_ == NULL) {
		queue_msg_free(m);
		return ENOENT;
	}
	if (rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED)
		if ((rc = sched_del(txn, rc_->next_try, ro->id, ro->no)) != 0)
			goto out;
	rc_->attempts++;
	free(rc_->last_reply);
	rc_->last_reply = ro->reply[0] ? xstrdup(ro->reply) : NULL;
	if (ro->relay != NULL) {
		free(rc_->relay);
		rc_->relay = xstrdup(ro->relay);
	}
	deadline = m->created + st.max_queue_lifetime;
	if (rc_->state == QUEUE_DELETED || state_final(rc_->state)) {
		/* deleted (or already final) while in flight: keep it */
	} else if (ro->result == QUEUE_RESULT_DELIVERED)
		rc_->state = QUEUE_DELIVERED;
	else if (ro->result == QUEUE_RESULT_PERMFAIL)
		rc_->state = QUEUE_BOUNCED;
	else if (rc_->state == QUEUE_HELD) {
		/* held while in flight: stays held, no schedule entry */
	} else if (now >= deadline)
		rc_->state = QUEUE_EXPIRED;
	else {
		rc_->state = QUEUE_DEFERRED;
		rc_->next_try = now + retry_delay(&st, rc_->attempts);
		if (rc_->next_try > deadline)
			rc_->next_try = deadline;
		rc = sched_put(txn, rc_->next_try, ro->id, ro->no);
	}
	ro->newstate = rc_->state;
	if (rc == 0)
		rc = rcpt_put(txn, ro->id, rc_);
	if (rc == 0)
		rc = event_add(q, txn, ro->id, rc_->addr, what[rc_->state],
		    ro->reply[0] ? ro->reply : NULL);
	if (rc == 0) {
		uint64_t before = r.final_time;
		msg_finalise(m, &r, now);
		if (r.final_time != before)
			rc = msg_put(txn, m, &r);
	}
out:
	queue_msg_free(m);
	return rc;
}

static void
report_done(struct queue *q, struct writer_op *wop, int status)
{
	struct report_op *ro = (struct report_op *)wop;
	struct outcome o;

	sched_inflight_del(q, ro->id, ro->no);
	if (status == 0) {
		outcome_ok(&o);
		log_info("qid=%s event=%s rcpt_no=%u", ro->id, queue_strstate(ro->newstate),
		    (unsigned)ro->no);
	} else
		outcome_for_error(&o, status);
	if (ro->cb != NULL)
		ro->cb(ro->arg, &o, ro->newstate);
	free(ro->relay);
	free(ro);
	sched_kick(q);
}

int
queue_report(struct queue *q, const char *id, uint32_t rcpt_no,
    enum queue_result res, const struct outcome *reply, const char *relay,
    queue_report_cb cb, void *arg)
{
	struct report_op *ro;

	if (!id_valid(id))
		return -ENOENT;
	if (q->readonly || !q->writer_running || q->closing)
		return -EROFS;
	ro = xcalloc(1, sizeof(*ro));
	ro->op.apply = report_apply;
	ro->op.done = report_done;
	str_copy(ro->id, id, sizeof(ro->id));
	ro->no = rcpt_no;
	ro->result = res;
	if (reply != NULL && reply->code != 0)
		snprintf(ro->reply, sizeof(ro->reply), "%d %s %s", reply->code,
		    reply->enhanced, reply->text);
	ro->relay = relay != NULL ? xstrdup(relay) : NULL;
	ro->newstate = QUEUE_DEFERRED;
	ro->cb = cb;
	ro->arg = arg;
	writer_submit(q, &ro->op);
	return 0;
}
