/* SPDX-License-Identifier: ISC */
/*
 * records.c: the record formats of the queue (DESIGN.md §5) and the
 * small helpers every other queue file uses to read and write them.
 *
 * Records (messages, recipients) are small tag-length-value blobs so
 * fields can be added without a migration.  Keys are binary and sort
 * the way the readers need: recipients and body chunks by (id, no),
 * schedule entries by (due time, id, no), events and audit records by
 * (time, sequence).  All big-endian.
 *
 * This file owns encoding and decoding (msg_*, rcpt_*), loading a
 * message with its recipients inside a transaction (msg_load), the
 * schedule index entries (sched_put/sched_del), the state rules shared
 * by actions and delivery results (state_final, msg_state,
 * msg_finalise), and appending event and audit records.  Everything
 * here runs inside a caller's transaction and never commits.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "crypto.h"
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

void
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

/* M_SENDER, M_ENVID, M_CLIENT, R_ADDR, R_ORCPT are read but no longer
 * written: the envelope is M_SEALED / R_SEALED (under the data key) and
 * the keyed hashes M_SENDER_H / R_ADDR_H. */
enum { M_ACCOUNT = 1, M_SENDER, M_ENVID, M_FLAGS, M_CREATED, M_SIZE, M_VERDICTS,
	M_NRCPTS, M_NCHUNKS, M_CLIENT, M_FINAL, M_SLOT, M_SEALED, M_SENDER_H, M_MSGID };
enum { R_ADDR = 1, R_ORCPT, R_NOTIFY, R_STATE, R_ATTEMPTS, R_NEXT, R_REPLY, R_RELAY,
	R_FIRST, R_LAST, R_SEALED, R_ADDR_H };
/* Inside a sealed envelope. */
enum { E_SENDER = 1, E_ENVID, E_CLIENT, E_ADDR, E_ORCPT, E_MSGID };

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
tlv_bytes(struct buf *b, int tag, const void *p, size_t n)
{
	unsigned char h[5];

	h[0] = (unsigned char)tag;
	put_be32(h + 1, (uint32_t)n);
	buf_append(b, h, 5);
	buf_append(b, p, n);
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
	case M_MSGID: free(m->message_id); m->message_id = xstrndup((const char *)v, n); break;
	case M_FLAGS: d->r->flags = tlv_num(v, n); break;
	case M_CREATED: m->created = tlv_num(v, n); break;
	case M_SIZE: m->size = tlv_num(v, n); break;
	case M_NRCPTS: d->r->nrcpts = tlv_num(v, n); break;
	case M_NCHUNKS: d->r->nchunks = tlv_num(v, n); break;
	case M_FINAL: d->r->final_time = tlv_num(v, n); break;
	case M_SLOT: d->r->slot = tlv_num(v, n); break;
	case M_SEALED:
		free(m->env_sealed);
		m->env_sealed = xmalloc(n + 1);
		memcpy(m->env_sealed, v, n);
		m->env_sealed_len = n;
		break;
	case M_SENDER_H:
		if (n == sizeof(m->sender_hash)) {
			memcpy(m->sender_hash, v, n);
			m->has_sender_hash = 1;
		}
		break;
	default: break;
	}
}

static void
msg_encode(struct buf *b, const struct queue_msg *m, const struct mrec *r)
{
	tlv_str(b, M_ACCOUNT, m->account);
	if (m->env_sealed != NULL)
		tlv_bytes(b, M_SEALED, m->env_sealed, m->env_sealed_len);
	else if (!m->envelope_gone) {	/* no key (tests of the record format) */
		tlv_str(b, M_SENDER, m->sender);
		tlv_str(b, M_ENVID, m->envid);
		tlv_str(b, M_CLIENT, m->client);
		tlv_str(b, M_MSGID, m->message_id);
	}
	if (m->has_sender_hash)
		tlv_bytes(b, M_SENDER_H, m->sender_hash, sizeof(m->sender_hash));
	if (r->slot != 0)
		tlv_u64(b, M_SLOT, r->slot);
	tlv_str(b, M_VERDICTS, m->verdicts);
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
	case R_FIRST: rc->first_attempt = tlv_num(v, n); break;
	case R_LAST: rc->last_attempt = tlv_num(v, n); break;
	case R_SEALED:
		free(rc->sealed);
		rc->sealed = xmalloc(n + 1);
		memcpy(rc->sealed, v, n);
		rc->sealed_len = n;
		break;
	case R_ADDR_H:
		if (n == sizeof(rc->addr_hash)) {
			memcpy(rc->addr_hash, v, n);
			rc->has_hash = 1;
		}
		break;
	default: break;
	}
}

static void
rcpt_encode(struct buf *b, const struct queue_rcpt *rc)
{
	if (rc->sealed != NULL)
		tlv_bytes(b, R_SEALED, rc->sealed, rc->sealed_len);
	else {
		tlv_str(b, R_ADDR, rc->addr);
		tlv_str(b, R_ORCPT, rc->orcpt);
	}
	if (rc->has_hash)
		tlv_bytes(b, R_ADDR_H, rc->addr_hash, sizeof(rc->addr_hash));
	tlv_str(b, R_REPLY, rc->last_reply);
	tlv_str(b, R_RELAY, rc->relay);
	tlv_u64(b, R_NOTIFY, rc->notify);
	tlv_u64(b, R_STATE, (uint64_t)rc->state);
	tlv_u64(b, R_ATTEMPTS, rc->attempts);
	tlv_u64(b, R_NEXT, rc->next_try);
	if (rc->first_attempt != 0)
		tlv_u64(b, R_FIRST, rc->first_attempt);
	if (rc->last_attempt != 0)
		tlv_u64(b, R_LAST, rc->last_attempt);
}

int
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

void
rcpt_clear(struct queue_rcpt *rc)
{
	free(rc->addr);
	free(rc->orcpt);
	free(rc->last_reply);
	free(rc->relay);
	free(rc->sealed);
	memset(rc, 0, sizeof(*rc));
}

int
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
	free(m->message_id);
	free(m->env_sealed);
	for (i = 0; i < m->nrcpts; i++)
		rcpt_clear(&m->rcpts[i]);
	free(m->rcpts);
	free(m);
}

uint64_t
msg_record_slot(const void *data, size_t len)
{
	struct queue_msg m;
	struct mrec r;
	uint64_t s;

	if (msg_decode("00000000000000000000", data, len, &m, &r) != 0)
		s = 0;
	else
		s = r.slot;
	free(m.account);
	free(m.sender);
	free(m.envid);
	free(m.verdicts);
	free(m.client);
	free(m.message_id);
	free(m.env_sealed);
	return s;
}

/* ---- sealed envelopes ---- */

static void
env_field(void *ctx, int tag, const unsigned char *v, size_t n)
{
	char **f = ctx;	/* sender, envid, client, addr, orcpt, message-id */

	if (tag >= E_SENDER && tag <= E_MSGID) {
		free(f[tag - 1]);
		f[tag - 1] = xstrndup((const char *)v, n);
	}
}

/* AAD of message ID's envelope ("e" + id) or recipient NO's ("r" + id + no). */
static size_t
env_aad(unsigned char *aad, const char *id, int rcpt, uint32_t no)
{
	aad[0] = rcpt ? 'r' : 'e';
	memcpy(aad + 1, id, QUEUE_ID_LEN);
	if (!rcpt)
		return 1 + QUEUE_ID_LEN;
	put_be32(aad + 1 + QUEUE_ID_LEN, no);
	return 1 + QUEUE_ID_LEN + 4;
}

static unsigned char *
env_seal_buf(const unsigned char *dk, const unsigned char *aad, size_t al,
    const struct buf *pt, size_t *outlen)
{
	unsigned char *out = xmalloc(pt->len + CRYPTO_OVERHEAD);

	crypto_seal(dk, aad, al, pt->data, pt->len, out);
	*outlen = pt->len + CRYPTO_OVERHEAD;
	return out;
}

void
envelope_seal(const unsigned char *dk, struct queue_msg *m)
{
	unsigned char aad[1 + QUEUE_ID_LEN + 4];
	struct buf b;
	size_t i, al;

	buf_init(&b, 0);
	tlv_str(&b, E_SENDER, m->sender);
	tlv_str(&b, E_ENVID, m->envid);
	tlv_str(&b, E_CLIENT, m->client);
	tlv_str(&b, E_MSGID, m->message_id);	/* the customer's, sealed like the rest */
	al = env_aad(aad, m->id, 0, 0);
	m->env_sealed = env_seal_buf(dk, aad, al, &b, &m->env_sealed_len);
	/* the keyed index hashes: the caller's when it made them (the
	 * relay's RCPT checks did), else made here */
	if (!m->has_sender_hash)
		m->has_sender_hash = *m->sender != '\0' &&
		    addr_index_hash(m->sender, strlen(m->sender), m->sender_hash) == 0;
	for (i = 0; i < m->nrcpts; i++) {
		struct queue_rcpt *rc = &m->rcpts[i];

		b.len = 0;
		tlv_str(&b, E_ADDR, rc->addr);
		tlv_str(&b, E_ORCPT, rc->orcpt);
		al = env_aad(aad, m->id, 1, rc->no);
		rc->sealed = env_seal_buf(dk, aad, al, &b, &rc->sealed_len);
		if (!rc->has_hash)
			rc->has_hash = addr_index_hash(rc->addr, strlen(rc->addr), rc->addr_hash) == 0;
	}
	crypto_wipe(b.data, b.cap);
	buf_free(&b);
}

/* Open one sealed envelope into F (5 strings); 0 or -1. */
static int
env_open(const unsigned char *dk, const unsigned char *aad, size_t al,
    const unsigned char *sealed, size_t len, char **f)
{
	unsigned char *pt;
	int rc = -1;

	if (len < CRYPTO_OVERHEAD)
		return -1;
	pt = xmalloc(len);
	if (crypto_open(dk, aad, al, sealed, len, pt) == 0)
		rc = tlv_walk(pt, len - CRYPTO_OVERHEAD, env_field, f);
	crypto_wipe(pt, len);
	free(pt);
	return rc;
}

/* Decrypt M's sealed envelope in memory (TXN for the account key). */
static void
envelope_open(struct queue *q, struct db_txn *txn, struct queue_msg *m, const struct mrec *r)
{
	unsigned char dk[CRYPTO_KEY_LEN], aad[1 + QUEUE_ID_LEN + 4];
	char *f[6];
	size_t i, al;
	int have;

	if (m->env_sealed == NULL)
		return;		/* stored in clear (no key when written) */
	if (q == NULL) {	/* not asked for; a record naming no key is shredded */
		m->envelope_gone = r->slot == 0;
		return;
	}
	have = q != NULL && data_key(q, txn, m->account, m->id, r->slot, dk) == 0;
	if (have) {
		memset(f, 0, sizeof(f));
		al = env_aad(aad, m->id, 0, 0);
		if (env_open(dk, aad, al, m->env_sealed, m->env_sealed_len, f) == 0) {
			free(m->sender);
			m->sender = f[0] != NULL ? f[0] : xstrdup("");
			m->envid = f[1];
			m->client = f[2];
			free(m->message_id);
			m->message_id = f[5];
			f[0] = f[1] = f[2] = f[5] = NULL;
		} else
			have = 0;
		for (i = 0; i < 6; i++)
			free(f[i]);
	}
	if (!have)
		m->envelope_gone = 1;
	for (i = 0; i < m->nrcpts && have; i++) {
		struct queue_rcpt *rc = &m->rcpts[i];

		if (rc->sealed == NULL)
			continue;
		memset(f, 0, sizeof(f));
		al = env_aad(aad, m->id, 1, rc->no);
		if (env_open(dk, aad, al, rc->sealed, rc->sealed_len, f) == 0) {
			free(rc->addr);
			rc->addr = f[3] != NULL ? f[3] : xstrdup("");
			rc->orcpt = f[4];
			f[3] = f[4] = NULL;
		}
		free(f[0]); free(f[1]); free(f[2]); free(f[3]); free(f[4]); free(f[5]);
	}
	if (have)
		crypto_wipe(dk, sizeof(dk));
}

/* Load message ID with its recipients from TXN into a new queue_msg. */
int
msg_load(struct queue *q, struct db_txn *txn, const char *id, struct queue_msg **out,
    struct mrec *r)
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
	envelope_open(q, txn, m, r);
	m->state = msg_state(m, r);
	*out = m;
	return 0;
}

int
queue_load_txn(struct queue *q, struct db_txn *txn, const char *id, struct queue_msg **out)
{
	struct mrec r;

	return msg_load(q, txn, id, out, &r);
}

int
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

int
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

int
sched_put(struct db_txn *txn, uint64_t due, const char *id, uint32_t no)
{
	unsigned char k[SCHED_KEY_LEN];

	sched_key(k, due, id, no);
	return db_put(txn, DB_SCHEDULE, k, sizeof(k), "", 0);
}

int
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

int
queue_audit_append(struct queue *q, struct db_txn *txn, const char *head,
    int failed, const char *error, const char *const *ids, size_t nids)
{
	const char *end = head + strlen(head);
	struct json_out j;
	struct buf tail, rec;
	size_t i;
	int rc;

	/* HEAD is the caller's object; splice our fields in before its '}' */
	while (end > head && end[-1] != '}')
		end--;
	if (end == head || *head != '{')
		return -EINVAL;	/* a caller's bug: fail the change, never drop its record */
	end--;
	buf_init(&tail, 0);
	json_out_init(&j, &tail);
	json_obj_begin(&j);
	json_kv_int(&j, "status", failed ? 1 : 0);
	if (failed)
		json_kv_str(&j, "error", error != NULL ? error : "failed");
	if (nids > 0) {
		json_key(&j, "ids");
		json_arr_begin(&j);
		for (i = 0; i < nids; i++)
			json_str(&j, ids[i]);
		json_arr_end(&j);
	}
	json_obj_end(&j);
	buf_init(&rec, 0);
	buf_append(&rec, head, (size_t)(end - head));
	while (rec.len > 0 && (rec.data[rec.len - 1] == ' ' || rec.data[rec.len - 1] == '\n'))
		rec.len--;
	if (rec.len > 1)		/* not an empty object: a comma first */
		buf_append(&rec, ",", 1);
	buf_append(&rec, tail.data + 1, tail.len - 1);
	rc = queue_append_log(q, txn, DB_AUDIT, rec.data, rec.len);
	buf_free(&tail);
	buf_free(&rec);
	return rc;
}

/* One state-change event: time, id, recipient pseudonym, what, reply. */

int
event_add(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply)
{
	return event_add_client(q, txn, id, addr, what, reply, NULL);
}

int
event_add_client(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply, const char *client)
{
	return event_add_full(q, txn, id, addr, what, reply, client, NULL);
}

static void
flags_field(void *ctx, int tag, const unsigned char *v, size_t n)
{
	if (tag == M_FLAGS)
		*(uint64_t *)ctx = tlv_num(v, n);
}

int
msg_wants_outbox(struct db_txn *txn, const char *id)
{
	const void *v;
	size_t vl;
	uint64_t flags = 0;

	if (id == NULL || strlen(id) != QUEUE_ID_LEN ||
	    db_get(txn, DB_MESSAGES, id, QUEUE_ID_LEN, &v, &vl) != 0 ||
	    tlv_walk(v, vl, flags_field, &flags) != 0)
		return 0;
	return (flags & MF_WEBHOOK) != 0;
}

int
event_add_reason(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reason)
{
	return event_add_full(q, txn, id, addr, what, NULL, NULL, reason);
}

int
event_add_full(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply, const char *client, const char *reason)
{
	return event_add_outbox(q, txn, id, addr, what, reply, client, reason, -1);
}

int
event_add_outbox(struct queue *q, struct db_txn *txn, const char *id, const char *addr,
    const char *what, const char *reply, const char *client, const char *reason, int outbox)
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
	if (reason != NULL)
		json_kv_str(&j, "reason", reason);
	json_obj_end(&j);
	rc = queue_append_log(q, txn, DB_EVENTS, b.data, b.len);
	/* the webhook's copy, in the same transaction: at-least-once, and in
	 * the order the events happened (outbox.c); every event of a message
	 * of an account with a webhook, whoever records it */
	if (rc == 0 && (outbox < 0 ? msg_wants_outbox(txn, id) : outbox))
		rc = queue_append_log(q, txn, DB_OUTBOX, b.data, b.len);
	buf_free(&b);
	return rc;
}


/* Recompute final_time after recipients changed. */
void
msg_finalise(struct queue_msg *m, struct mrec *r, uint64_t now)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		if (!state_final(m->rcpts[i].state))
			return;
	if (r->final_time == 0)
		r->final_time = now;
}


/*
 * Every message id in the messages table, in order, into *OUT (malloc'd
 * array of N, appended to what is there); callers walk them after the
 * cursor is closed, so they may change the records as they go.  0, or
 * the negative errno of opening the cursor.
 */
int
msg_ids_all(struct db_txn *txn, char (**out)[QUEUE_ID_LEN + 1], size_t *n)
{
	struct db_cursor *c;
	const void *k;
	size_t kl;
	int rc;

	if ((rc = db_cursor_open(txn, DB_MESSAGES, &c)) != 0)
		return rc;
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, NULL, NULL)) {
		if (kl != QUEUE_ID_LEN)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		memcpy((*out)[*n], k, QUEUE_ID_LEN);
		(*out)[*n][QUEUE_ID_LEN] = '\0';
		(*n)++;
	}
	db_cursor_close(c);
	return 0;
}
