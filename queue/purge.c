/* SPDX-License-Identifier: ISC */
/*
 * purge.c: retention (DESIGN.md §6).  The purge timer (sched.c) and
 * `posternctl queue purge` run queue_purge(): message bodies are
 * shredded (chunks deleted, the data key's key store slot zeroed once
 * the transaction commits, which also leaves the sealed envelope
 * unreadable) body_retention after the message reached its final
 * state; its record and recipients, with their keyed address hashes,
 * are deleted after event_retention (its review record too), and with an account's shorter
 * event_retention its events too (both overridable per account: its
 * typed policy, parsed by src/account/ through the hook the daemon sets
 * with queue_set_account_policy_fn()), and events older than the
 * global event_retention are deleted.  One writer op, one transaction.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "hash.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

void
queue_set_account_policy_fn(struct queue *q, queue_account_policy_fn fn, void *arg)
{
	q->account_policy = fn;
	q->account_policy_arg = arg;
}

/* Per-account retention periods (DESIGN.md §6) from the account's typed
 * policy (body_retention, event_retention; ACCOUNT_UNSET = global),
 * parsed by the record's owner through the hook the daemon set. */
void
queue_account_retention3(struct queue *q, struct db_txn *txn, const char *account, uint64_t *body,
    uint64_t *event, uint64_t *meta)
{
	struct account_policy pol;
	struct queue_settings st;
	const void *v;
	size_t vl;
	int64_t m = ACCOUNT_UNSET;

	queue_settings(q, &st);
	if (*account != '\0' && q->account_policy != NULL &&
	    db_get(txn, DB_ACCOUNTS, account, strlen(account), &v, &vl) == 0 &&
	    q->account_policy(q->account_policy_arg, v, vl, &pol) == 0) {
		if (pol.body_retention != ACCOUNT_UNSET)
			*body = (uint64_t)pol.body_retention;
		if (pol.event_retention != ACCOUNT_UNSET)
			*event = (uint64_t)pol.event_retention;
		m = pol.metadata_retention;
	}
	if (meta != NULL)
		*meta = m != ACCOUNT_UNSET ? (uint64_t)m :
		    st.metadata_retention != 0 ? st.metadata_retention : *event;
}

void
queue_account_retention(struct queue *q, struct db_txn *txn, const char *account, uint64_t *body,
    uint64_t *event)
{
	queue_account_retention3(q, txn, account, body, event, NULL);
}

/*
 * Zero retention (issue 17): "0 = shred at the moment the last
 * recipient is final", in the transaction that makes it final, not at
 * the next purge.  The record, recipients and keyed hashes stay for
 * metadata retention; the body chunks go and the data key's slot is
 * zeroed once the transaction commits.
 */
int
queue_zero_retention(struct queue *q, struct db_txn *txn, struct queue_msg *m, struct mrec *r,
    int *rc)
{
	struct queue_settings st;
	uint64_t body, event;

	if (r->final_time == 0 || (r->flags & MF_BODY_GONE))
		return 0;
	queue_settings(q, &st);
	body = st.body_retention;
	event = st.event_retention;
	if (!(r->flags & MF_ZERO_RET)) {
		queue_account_retention(q, txn, m->account, &body, &event);
		if (body != 0)
			return 0;
	}
	*rc = body_shred(q, txn, m->id, r);
	r->flags |= MF_BODY_GONE;
	return 1;
}

/* Does event (K, V) name a message in IDS (a hash; its "id" field)? */
static int
event_of_ids(const void *k, size_t kl, const void *v, size_t vl, void *ids)
{
	static const char tag[] = "\"id\":\"";
	const char *p;

	(void)k;
	if (kl != 12 || (p = memmem(v, vl, tag, sizeof(tag) - 1)) == NULL)
		return 0;
	return (size_t)((const char *)v + vl - p) >= sizeof(tag) - 1 + QUEUE_ID_LEN &&
	    hash_get(ids, p + sizeof(tag) - 1, QUEUE_ID_LEN) != NULL;
}

/* Delete the events that name a message in IDS (their "id" field). */
static int
purge_events_of(struct db_txn *txn, struct hash *ids, uint64_t *count)
{
	return db_delete_matching(txn, DB_EVENTS, event_of_ids, ids, count);
}

/* Is Message-ID index entry K (HEX "/" ID) one whose message record
 * is gone from TXN?  Keys too long for the index are left alone. */
static int
msgid_orphaned(const void *k, size_t kl, const void *v, size_t vl, void *txn)
{
	const void *mv;
	size_t ml;

	(void)v;
	(void)vl;
	if (kl >= QUEUE_MSGID_KEY_MAX)
		return 0;
	return kl <= QUEUE_ID_LEN ||
	    db_get(txn, DB_MESSAGES, (const char *)k + kl - QUEUE_ID_LEN, QUEUE_ID_LEN, &mv, &ml) != 0;
}

/* The Message-ID index (DB_MSGIDS, HEX "/" ID) loses the entries of
 * messages whose record is gone (purged now, or deleted before). */
int
queue_purge_msgids(struct db_txn *txn, uint64_t *count)
{
	return db_delete_matching(txn, DB_MSGIDS, msgid_orphaned, txn, count);
}

/* What one purge pass removed (summed over its batches). */
struct purge_counts {
	uint64_t bodies, messages, events, audit;
};

/*
 * The purge as a chain of bounded writer ops (issue 17): each batch
 * looks at up to PURGE_BATCH messages after AFTER and deletes up to
 * PURGE_BATCH old events, in its own transaction, so a purge of a large
 * queue never holds the writer (and the commits of new mail behind it)
 * for one giant transaction.  The done function submits the next batch
 * until nothing is left; the last one writes one summary event
 * {"event":"purge","bodies","messages","events","batches"}.
 */
#define PURGE_BATCH 256

struct purge_op {
	struct writer_op op;
	char after[QUEUE_ID_LEN + 1];	/* last message id looked at, "" = start */
	int more;			/* this batch stopped early */
	struct purge_counts total;	/* committed batches */
	struct purge_counts batch;	/* this batch (counted again on a retry) */
	uint64_t batches;
	char next_after[QUEUE_ID_LEN + 1];
	queue_done_cb cb;
	void *arg;
};

/* Is message M (record R) due for body or metadata purge at NOW? */
static void
purge_due(struct queue *q, struct db_txn *txn, const struct queue_msg *m, const struct mrec *r,
    const struct queue_settings *st, uint64_t now, int *body, int *meta, uint64_t *event_ret)
{
	uint64_t body_ret = st->body_retention, meta_ret;

	*event_ret = st->event_retention;
	*body = *meta = 0;
	if (r->final_time == 0)
		return;
	queue_account_retention3(q, txn, m->account, &body_ret, event_ret, &meta_ret);
	*body = !(r->flags & MF_BODY_GONE) && r->final_time + body_ret <= now;
	*meta = r->final_time + meta_ret <= now;
}

/* One batch of the purge inside TXN. */
/* Delete the oldest records of log table T ((time, seq) keys) older
 * than CUTOFF, at most PURGE_BATCH of them (then *MORE); *N counts. */
static int
purge_log_before(struct db_txn *txn, enum db_table t, uint64_t cutoff, uint64_t *n, int *more)
{
	struct db_cursor *c;
	const void *k;
	size_t kl;
	uint64_t done = 0;
	int rc;

	if (db_cursor_open(txn, t, &c) != 0)
		return 0;
	while ((rc = db_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL)) == 0 &&
	    kl == 12 && get_be64(k) < cutoff) {
		if (done == PURGE_BATCH) {
			*more = 1;
			break;
		}
		if ((rc = db_cursor_del(c)) != 0)
			break;
		done++;
	}
	*n += done;
	db_cursor_close(c);
	return rc == -ENOENT ? 0 : rc;
}

static int
purge_batch(struct queue *q, struct db_txn *txn, struct purge_op *po)
{
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	uint64_t now = now_wall_ms();
	struct queue_settings st;
	struct hash *early = NULL;	/* ids whose events go before the global cutoff */
	int rc;

	memset(&po->batch, 0, sizeof(po->batch));
	po->more = 0;
	str_copy(po->next_after, po->after, sizeof(po->next_after));
	queue_settings(q, &st);
	if ((rc = db_cursor_open(txn, DB_MESSAGES, &c)) != 0)
		return rc;
	for (rc = db_cursor_seek(c, po->after[0] ? po->after : NULL, po->after[0] ? QUEUE_ID_LEN : 0,
	    &k, &kl, &v, &vl); rc == 0; rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		if (kl != QUEUE_ID_LEN || (po->after[0] && memcmp(k, po->after, QUEUE_ID_LEN) == 0))
			continue;
		if (n == PURGE_BATCH) {
			po->more = 1;
			break;
		}
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		memcpy(ids[n], k, QUEUE_ID_LEN);
		ids[n][QUEUE_ID_LEN] = '\0';
		n++;
	}
	db_cursor_close(c);
	if (n > 0)
		str_copy(po->next_after, ids[n - 1], sizeof(po->next_after));
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		struct queue_msg *m;
		struct mrec r;
		size_t j;
		uint64_t event_ret;
		int body, meta;

		if (msg_load(NULL, txn, ids[i], &m, &r)	/* the envelope stays sealed */ != 0)
			continue;
		purge_due(q, txn, m, &r, &st, now, &body, &meta, &event_ret);
		if (body) {
			rc = body_shred(q, txn, ids[i], &r);
			r.flags |= MF_BODY_GONE;
			if (rc == 0)
				rc = msg_put(txn, m, &r);
			po->batch.bodies++;
		}
		if (rc == 0 && meta) {
			unsigned char rk[RCPT_KEY_LEN];
			for (j = 0; j < m->nrcpts && rc == 0; j++) {
				rcpt_key(rk, ids[i], m->rcpts[j].no);
				rc = db_del(txn, DB_RECIPIENTS, rk, sizeof(rk));
			}
			if (rc == 0)
				rc = body_shred(q, txn, ids[i], &r);
			if (rc == 0)
				rc = db_del(txn, DB_MESSAGES, ids[i], QUEUE_ID_LEN);
			/* its review record (issue 16) goes too: after
			 * event_retention a message leaves no record */
			if (rc == 0 && (rc = db_del(txn, DB_REVIEW, ids[i], QUEUE_ID_LEN)) == -ENOENT)
				rc = 0;
			po->batch.messages++;
			/* an account's shorter event_retention: its events go now
			 * too, not at the global cutoff below */
			if (event_ret < st.event_retention) {
				if (early == NULL)
					early = hash_new(NULL);
				hash_put(early, ids[i], QUEUE_ID_LEN, early);
			}
		}
		queue_msg_free(m);
	}
	free(ids);
	if (rc == 0)
		rc = purge_log_before(txn, DB_EVENTS, now > st.event_retention ?
		    now - st.event_retention : 0, &po->batch.events, &po->more);
	if (rc == 0 && early != NULL)
		rc = purge_events_of(txn, early, &po->batch.events);
	hash_free(early);
	/* the Message-ID index loses the entries of purged messages */
	if (rc == 0 && po->batch.messages > 0) {
		uint64_t msgids = 0;

		rc = queue_purge_msgids(txn, &msgids);
	}
	/* audit_retention (0: for ever); it is at least the other periods */
	if (rc == 0 && st.audit_retention != 0 && now > st.audit_retention)
		rc = purge_log_before(txn, DB_AUDIT, now - st.audit_retention, &po->batch.audit,
		    &po->more);
	if (rc == 0 && !po->more) {
		/* the last batch: one summary event for the whole purge */
		char ev[256];

		snprintf(ev, sizeof(ev), "{\"time\":%llu,\"event\":\"purge\",\"bodies\":%llu,"
		    "\"messages\":%llu,\"events\":%llu,\"audit\":%llu,\"batches\":%llu}",
		    (unsigned long long)now,
		    (unsigned long long)(po->total.bodies + po->batch.bodies),
		    (unsigned long long)(po->total.messages + po->batch.messages),
		    (unsigned long long)(po->total.events + po->batch.events),
		    (unsigned long long)(po->total.audit + po->batch.audit),
		    (unsigned long long)(po->batches + 1));
		rc = queue_append_log(q, txn, DB_EVENTS, ev, strlen(ev));
	}
	return rc;
}

static int
purge_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	return purge_batch(q, txn, (struct purge_op *)wop);
}

static void
purge_done(struct queue *q, struct writer_op *wop, int status)
{
	struct purge_op *po = (struct purge_op *)wop;
	struct outcome o;

	if (status == 0) {
		po->total.bodies += po->batch.bodies;
		po->total.messages += po->batch.messages;
		po->total.events += po->batch.events;
		po->total.audit += po->batch.audit;
		po->batches++;
		str_copy(po->after, po->next_after, sizeof(po->after));
		if (po->more && !q->closing && !q->stopping) {
			free(po->op.audit);	/* the first batch carried the record */
			po->op.audit = NULL;
			writer_submit(q, &po->op);
			return;
		}
	}
	if (status == 0 && (po->total.bodies || po->total.messages || po->total.events))
		log_info("event=queue_purged bodies=%llu messages=%llu events=%llu batches=%llu",
		    (unsigned long long)po->total.bodies, (unsigned long long)po->total.messages,
		    (unsigned long long)po->total.events, (unsigned long long)po->batches);
	if (status == 0)
		outcome_ok(&o);
	else
		queue_outcome_for_error(&o, status);
	if (po->cb != NULL)
		po->cb(po->arg, &o);
	free(po->op.audit);
	free(po);
}

static struct purge_op *
purge_new(queue_done_cb cb, void *arg)
{
	struct purge_op *po = xcalloc(1, sizeof(*po));

	po->op.apply = purge_apply;
	po->op.done = purge_done;
	po->cb = cb;
	po->arg = arg;
	return po;
}

static int
purge_submit(struct queue *q, struct purge_op *po)
{
	if (q->readonly || !q->writer_running || q->closing) {
		free(po->op.audit);
		free(po);
		return -EROFS;
	}
	writer_submit(q, &po->op);
	return 0;
}

int
queue_purge(struct queue *q, queue_done_cb cb, void *arg)
{
	return purge_submit(q, purge_new(cb, arg));
}

int
queue_purge_audited(struct queue *q, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	struct purge_op *po = purge_new(cb, arg);

	writer_op_audit(&po->op, audit);
	return purge_submit(q, po);
}

/* The whole purge in one transaction (simple ops: OP_PURGE). */
int
queue_purge_apply(struct queue *q, struct db_txn *txn)
{
	struct purge_op po;
	int rc;

	memset(&po, 0, sizeof(po));
	do {
		if ((rc = purge_batch(q, txn, &po)) != 0)
			break;
		po.total.bodies += po.batch.bodies;
		po.total.messages += po.batch.messages;
		po.total.events += po.batch.events;
		po.total.audit += po.batch.audit;
		po.batches++;
		str_copy(po.after, po.next_after, sizeof(po.after));
	} while (po.more);
	return rc;
}

/*
 * What the next purge would remove now (`retention show`), counted in
 * a read transaction without changing anything: ACCOUNT NULL for all.
 */
int
queue_purge_preview(struct queue *q, const char *account, struct queue_purge_preview *out)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	uint64_t now = now_wall_ms();
	struct queue_settings st;
	int rc;

	memset(out, 0, sizeof(*out));
	queue_settings(q, &st);
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, DB_MESSAGES, &c)) != 0) {
		db_abort(txn);
		return rc;
	}
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
	for (i = 0; i < n; i++) {
		struct queue_msg *m;
		struct mrec r;
		uint64_t event_ret;
		int body, meta;

		if (msg_load(NULL, txn, ids[i], &m, &r) != 0)
			continue;
		if (account == NULL || strcmp(m->account, account) == 0) {
			out->messages++;
			purge_due(q, txn, m, &r, &st, now, &body, &meta, &event_ret);
			out->bodies_due += body;
			out->messages_due += meta;
			out->bodies_held += !(r.flags & MF_BODY_GONE);
		}
		queue_msg_free(m);
	}
	free(ids);
	if (account == NULL && db_cursor_open(txn, DB_EVENTS, &c) == 0) {
		uint64_t cutoff = now > st.event_retention ? now - st.event_retention : 0;

		for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL); rc == 0 && kl == 12 &&
		    get_be64(k) < cutoff; rc = db_cursor_next(c, &k, &kl, NULL, NULL))
			out->events_due++;
		db_cursor_close(c);
	}
	if (account == NULL && st.audit_retention != 0 && now > st.audit_retention &&
	    db_cursor_open(txn, DB_AUDIT, &c) == 0) {
		uint64_t cutoff = now - st.audit_retention;

		for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, NULL, NULL); rc == 0 && kl == 12 &&
		    get_be64(k) < cutoff; rc = db_cursor_next(c, &k, &kl, NULL, NULL))
			out->audit_due++;
		db_cursor_close(c);
	}
	db_abort(txn);
	return 0;
}
