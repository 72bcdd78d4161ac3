/* SPDX-License-Identifier: ISC */
/*
 * review.c: the queue side of the abuse review workflow (issue 16,
 * include/queue.h "abuse review"): one writer op that holds, releases,
 * rejects, expires or flags a batch of messages and keeps each one's
 * review record (QUEUE_T_REVIEW: why it was held, since when, how it
 * left review) in the same transaction as the change, its per-recipient
 * events and the control plane's audit record.
 *
 * Suspending and resuming an account is one transaction too: the account
 * record, its account_status event, every message the change holds or
 * releases and one audit record (queue_review_account_update).
 *
 * Reject and expire are the queue's delete (queue_action_apply with
 * QUEUE_ACT_DELETE): the body chunks and the message's data key go at
 * once (crypto-shredding, DESIGN.md §6), so a rejected body is
 * unreadable in the raw file as soon as the command returns.  The
 * record holds classes and times only, never content or addresses; the
 * events name the reason class, never the reviewer (they are what the
 * customer sees).  Called by src/control/cmd_review.c and the control
 * server's hold-expiry timer.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "queue_int.h"
#include "util.h"

const char *
queue_strreview(enum queue_review_op op)
{
	static const char *const names[] = {
		"held", "released", "rejected", "expired", "flagged",
	};

	return (unsigned)op < ARRAY_SIZE(names) ? names[op] : "?";
}

/* Write ID's review record: the old one (if any) updated for OP. */
static int
review_record_put(struct db_txn *txn, const struct queue_msg *m, enum queue_review_op op,
    const char *reason, uint64_t now)
{
	const struct json_value *old = NULL;
	struct json_value *tree = NULL;
	const char *r, *decision;
	const void *v;
	size_t vl;
	struct json_out j;
	struct buf b;
	int rc;

	if (db_get(txn, DB_REVIEW, m->id, QUEUE_ID_LEN, &v, &vl) == 0 &&
	    (tree = json_parse(v, vl, NULL, 0)) != NULL && tree->type == JSON_OBJECT)
		old = tree;
	r = reason != NULL ? reason : json_get_str(old, "reason", NULL);
	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	if (r != NULL)
		json_kv_str(&j, "reason", r);
	json_kv_str(&j, "account", m->account ? m->account : "");
	if (op == QUEUE_REVIEW_HOLD)
		json_kv_uint(&j, "held", now);
	else if (json_get_int(old, "held", 0) > 0)
		json_kv_uint(&j, "held", (uint64_t)json_get_int(old, "held", 0));
	decision = op == QUEUE_REVIEW_HOLD ? NULL : op == QUEUE_REVIEW_FLAG ?
	    json_get_str(old, "decision", NULL) : queue_strreview(op);
	if (decision != NULL) {
		json_kv_str(&j, "decision", decision);
		json_kv_uint(&j, "decided", op == QUEUE_REVIEW_FLAG ?
		    (uint64_t)json_get_int(old, "decided", 0) : now);
	}
	if (op == QUEUE_REVIEW_FLAG || json_get_bool(old, "flagged", 0))
		json_kv_bool(&j, "flagged", 1);
	json_obj_end(&j);
	rc = db_put(txn, DB_REVIEW, m->id, QUEUE_ID_LEN, b.data, b.len);
	buf_free(&b);
	json_free(tree);
	return rc;
}

const char *
queue_hold_reason(const char *ver)
{
	if (ver == NULL)
		return NULL;
	if (strstr(ver, "\"stage\":\"restriction\"") != NULL)
		return "restricted";
	if (strstr(ver, "\"stage\":\"dlp\"") != NULL && strstr(ver, "\"action\":\"hold\"") != NULL)
		return "dlp";
	if (strstr(ver, "\"stage\":\"spam\"") != NULL && strstr(ver, "\"action\":\"hold\"") != NULL)
		return "spam";
	if (strstr(ver, "\"stage\":\"mime\"") != NULL && strstr(ver, "\"action\":\"hold\"") != NULL)
		return "limit";
	return NULL;
}

/* The reason class of M when the caller gives none: its review record's,
 * else what the stage that held it wrote into the verdicts (the SMTP
 * side holds without a record), else "manual" (queue hold). */
static const char *
review_reason_of(struct db_txn *txn, const struct queue_msg *m, char *out, size_t outlen)
{
	struct json_value *rec;
	const void *v;
	size_t vl;
	const char *ver = m->verdicts ? m->verdicts : "", *r;

	if (db_get(txn, DB_REVIEW, m->id, QUEUE_ID_LEN, &v, &vl) == 0 &&
	    (rec = json_parse(v, vl, NULL, 0)) != NULL) {
		r = json_get_str(rec, "reason", NULL);
		if (r != NULL)
			str_copy(out, r, outlen);
		json_free(rec);
		if (r != NULL)
			return out;
	}
	if ((r = queue_hold_reason(ver)) != NULL)
		return r;
	return "manual";
}

/* Replace M's text with BODY (whole message, re-signed): the old chunks
 * go and the new text is sealed under the message's data key (its slot
 * in the key store, and the envelope sealed under it, stay as they are:
 * the old text differs only in its signature). */
static int
review_replace_body(struct queue *q, struct db_txn *txn, struct queue_msg *m, struct mrec *r,
    const struct buf *body)
{
	unsigned char dk[CRYPTO_KEY_LEN], k[RCPT_KEY_LEN], *sealed;
	uint64_t off, no;
	size_t n;
	int err;

	if ((err = data_key(q, txn, m->account ? m->account : "", m->id, r->slot, dk)) != 0)
		return err;
	for (no = 0; no < r->nchunks; no++) {
		rcpt_key(k, m->id, (uint32_t)no);
		if ((err = db_del(txn, DB_BODIES, k, sizeof(k))) != 0 && err != -ENOENT)
			goto out;
	}
	err = 0;
	sealed = xmalloc(q->chunk_size + CRYPTO_OVERHEAD);
	for (off = 0, no = 0; off < body->len; off += n, no++) {
		n = body->len - off < q->chunk_size ? body->len - off : q->chunk_size;
		rcpt_key(k, m->id, (uint32_t)no);
		memcpy(sealed + CRYPTO_NONCE_LEN, body->data + off, n);
		crypto_seal(dk, k, sizeof(k), sealed + CRYPTO_NONCE_LEN, n, sealed);
		if ((err = db_put(txn, DB_BODIES, k, sizeof(k), sealed, n + CRYPTO_OVERHEAD)) != 0)
			break;
	}
	crypto_wipe(sealed, q->chunk_size + CRYPTO_OVERHEAD);
	free(sealed);
	if (err == 0) {
		r->nchunks = no;
		m->size = body->len;
		err = msg_put(txn, m, r);
	}
out:
	crypto_wipe(dk, sizeof(dk));
	return err;
}

/* OP on one message: 0 changed, ENOENT, EALREADY, or < 0 (broken txn). */
static int
review_one(struct queue *q, struct db_txn *txn, const char *id, enum queue_review_op op,
    const char *reason, const struct buf *body)
{
	static const enum queue_action act[] = {
		QUEUE_ACT_HOLD, QUEUE_ACT_RELEASE, QUEUE_ACT_DELETE, QUEUE_ACT_DELETE,
	};
	struct queue_msg *m;
	struct mrec r;
	uint64_t now = now_wall_ms();
	char why[64];
	size_t i;
	int rc, pending = 0;

	if (!id_valid(id))
		return ENOENT;
	if ((rc = msg_load(q, txn, id, &m, &r)) != 0)
		return rc == -ENOENT ? ENOENT : rc;
	if (reason == NULL && op != QUEUE_REVIEW_FLAG)
		reason = review_reason_of(txn, m, why, sizeof(why));
	if (r.flags & MF_DELETED) {
		queue_msg_free(m);
		return op == QUEUE_REVIEW_FLAG ? 0 : ENOENT;
	}
	for (i = 0; i < m->nrcpts; i++)
		if (!state_final(m->rcpts[i].state))
			pending = 1;
	if (op == QUEUE_REVIEW_FLAG) {
		rc = 0;
		for (i = 0; i < m->nrcpts && rc == 0; i++)
			rc = event_add_reason(q, txn, id, m->rcpts[i].addr, "flagged", reason);
	} else if ((op == QUEUE_REVIEW_REJECT || op == QUEUE_REVIEW_EXPIRE) && !pending)
		rc = EALREADY;		/* delivered or gone already: nothing to reject */
	else if (op == QUEUE_REVIEW_RELEASE && body != NULL && body->data != NULL &&
	    m->state != QUEUE_HELD)
		rc = EALREADY;		/* not held: its text is not touched either */
	else {
		rc = 0;
		if (op == QUEUE_REVIEW_RELEASE && body != NULL && body->data != NULL)
			rc = review_replace_body(q, txn, m, &r, body);
		/* the action reloads the record the replacement wrote */
		if (rc == 0)
			rc = queue_action_apply(q, txn, id, act[op], queue_strreview(op), reason);
	}
	if (rc == 0)
		rc = review_record_put(txn, m, op, reason, now);
	queue_msg_free(m);
	return rc;
}

/* Is message ID, of ACCOUNT, one that suspending (HOLD) or resuming changes? */
static int
account_candidate(struct db_txn *txn, const char *id, const char *account, int hold)
{
	struct queue_msg *m;
	struct json_value *rec = NULL;
	struct mrec r;
	const void *v;
	size_t vl;
	int take = 0;

	if (msg_load(NULL, txn, id, &m, &r) != 0)	/* account and state only */
		return 0;
	if (strcmp(m->account ? m->account : "", account) != 0 || (r.flags & MF_DELETED)) {
		queue_msg_free(m);
		return 0;
	}
	if (hold)
		take = m->state == QUEUE_QUEUED || m->state == QUEUE_DEFERRED;
	else if (m->state == QUEUE_HELD && db_get(txn, DB_REVIEW, id, QUEUE_ID_LEN, &v, &vl) == 0 &&
	    (rec = json_parse(v, vl, NULL, 0)) != NULL)
		/* held by the suspension, and no reviewer decided since */
		take = strcmp(json_get_str(rec, "reason", ""), "suspended") == 0 &&
		    json_get_str(rec, "decision", NULL) == NULL;
	json_free(rec);
	queue_msg_free(m);
	return take;
}

/* OP_REVIEW for an account: the record, its event, its messages, one audit. */
static int
review_account_apply(struct queue *q, struct db_txn *txn, struct simple_op *s)
{
	size_t n = 0, i, nchanged = 0;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	const char **changed;
	int rc, hold = s->review_op == QUEUE_REVIEW_HOLD;

	if (s->count_out != NULL)
		*s->count_out = 0;
	if ((rc = simple_update_value(txn, s)) != 1) {
		/* left as it is: nothing held or released either; but the
		 * command that asked has its record all the same (failed
		 * when the change failed: the record was gone) */
		if (rc >= 0 && s->batch_audit != NULL) {
			struct outcome o;
			int arc;

			if (rc > 0)
				queue_outcome_for_error(&o, -rc);
			arc = queue_audit_append(q, txn, s->batch_audit, rc > 0, rc > 0 ? o.text : NULL,
			    NULL, 0);
			if (arc < 0)
				return arc;
		}
		return rc;
	}
	if ((rc = db_put(txn, DB_ACCOUNTS, s->key, strlen(s->key), s->val, s->len)) != 0)
		return rc;
	if (s->event != NULL &&
	    (rc = queue_append_log(q, txn, DB_EVENTS, s->event, strlen(s->event))) != 0)
		return rc;
	if ((rc = msg_ids_all(txn, &ids, &n)) != 0)
		return rc;
	changed = xcalloc(n ? n : 1, sizeof(*changed));
	rc = 0;
	for (i = 0; i < n && rc >= 0; i++) {
		if (!account_candidate(txn, ids[i], s->key, hold))
			continue;
		rc = review_one(q, txn, ids[i], hold ? QUEUE_REVIEW_HOLD : QUEUE_REVIEW_RELEASE,
		    "suspended", NULL);
		if (rc == 0)
			changed[nchanged++] = ids[i];
	}
	if (rc > 0)
		rc = 0;
	if (s->count_out != NULL)
		*s->count_out = nchanged;
	if (rc == 0 && s->batch_audit != NULL)
		rc = queue_audit_append(q, txn, s->batch_audit, 0, NULL, changed, nchanged);
	free(changed);
	free(ids);
	return rc;
}

int
queue_review_account_update(struct queue *q, const char *account, queue_update_fn fn,
    void *arg, int hold, int *changed, const struct queue_audit *audit, size_t *count,
    queue_done_cb cb, void *cbarg)
{
	struct simple_op *s;

	if (account == NULL || *account == '\0' || fn == NULL)
		return -EINVAL;
	s = simple_new(OP_REVIEW, cb, cbarg);
	s->review_op = hold ? QUEUE_REVIEW_HOLD : QUEUE_REVIEW_RELEASE;
	s->table = DB_ACCOUNTS;
	s->key = xstrdup(account);
	s->update = fn;
	s->update_arg = arg;
	s->changed_out = changed;
	s->count_out = count;
	if (audit != NULL && audit->json != NULL)
		s->batch_audit = xstrdup(audit->json);
	return simple_submit(q, s);
}

int
queue_review_apply(struct queue *q, struct db_txn *txn, struct simple_op *s)
{
	const char **changed;
	const char *error = NULL;
	size_t i, nchanged = 0;
	int rc = 0, failed = 0;

	if (s->key != NULL)
		return review_account_apply(q, txn, s);
	changed = xcalloc(s->nids, sizeof(*changed));
	for (i = 0; i < s->nids; i++) {
		rc = review_one(q, txn, s->ids[i], (enum queue_review_op)s->review_op, s->reason,
		    s->bodies != NULL ? &s->bodies[i] : NULL);
		if (rc < 0)
			break;
		s->status_out[i] = -rc;
		if (rc == 0)
			changed[nchanged++] = s->ids[i];
		else if (!s->unchanged_ok) {
			failed = 1;
			if (error == NULL)
				error = rc == ENOENT ? "No such message" : "Nothing to change";
		}
		rc = 0;
	}
	if (rc == 0 && s->batch_audit != NULL)
		rc = queue_audit_append(q, txn, s->batch_audit, failed, error, changed, nchanged);
	free(changed);
	return rc;
}

static int queue_review_op(struct queue *q, const char *const *ids, size_t n,
    enum queue_review_op op, const char *reason, const struct iovec *bodies,
    const struct queue_audit *audit, int *status, queue_done_cb cb, void *arg);

int
queue_review(struct queue *q, const char *const *ids, size_t n, enum queue_review_op op,
    const char *reason, const struct queue_audit *audit, int *status,
    queue_done_cb cb, void *arg)
{
	return queue_review_op(q, ids, n, op, reason, NULL, audit, status, cb, arg);
}

int
queue_review_release_bodies(struct queue *q, const char *const *ids, size_t n,
    const struct iovec *bodies, const struct queue_audit *audit, int *status,
    queue_done_cb cb, void *arg)
{
	return queue_review_op(q, ids, n, QUEUE_REVIEW_RELEASE, NULL, bodies, audit, status,
	    cb, arg);
}

static int
queue_review_op(struct queue *q, const char *const *ids, size_t n, enum queue_review_op op,
    const char *reason, const struct iovec *bodies, const struct queue_audit *audit,
    int *status, queue_done_cb cb, void *arg)
{
	struct simple_op *s;
	size_t i;

	if (n == 0 || (unsigned)op > QUEUE_REVIEW_FLAG)
		return -EINVAL;
	s = simple_new(OP_REVIEW, cb, arg);
	if (bodies != NULL) {
		s->bodies = xcalloc(n, sizeof(*s->bodies));
		for (i = 0; i < n; i++) {
			buf_init(&s->bodies[i], 0);
			if (bodies[i].iov_base != NULL)
				buf_append(&s->bodies[i], bodies[i].iov_base, bodies[i].iov_len);
		}
	}
	s->review_op = (int)op;
	s->reason = reason != NULL ? xstrdup(reason) : NULL;
	s->ids = xcalloc(n, sizeof(*s->ids));
	for (i = 0; i < n; i++)
		s->ids[i] = xstrdup(ids[i]);
	s->nids = n;
	s->status_out = status;
	if (audit != NULL && audit->json != NULL) {
		s->batch_audit = xstrdup(audit->json);
		s->unchanged_ok = audit->unchanged_ok;
	}
	return simple_submit(q, s);
}
