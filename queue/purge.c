/* SPDX-License-Identifier: ISC */
/*
 * purge.c: retention (DESIGN.md §6).  The purge timer (sched.c) and
 * `posternctl queue purge` run queue_purge(): message bodies are
 * shredded (chunks deleted, the data key's key store slot zeroed once
 * the transaction commits, which also leaves the sealed envelope
 * unreadable) body_retention after the message reached its final
 * state; its record and recipients, with their keyed address hashes,
 * are deleted after event_retention, and with an account's shorter
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

int
queue_purge(struct queue *q, queue_done_cb cb, void *arg)
{
	return simple_submit(q, simple_new(OP_PURGE, cb, arg));
}

int
queue_purge_audited(struct queue *q, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_PURGE, cb, arg);

	writer_op_audit(&s->op, audit);
	return simple_submit(q, s);
}


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
queue_account_retention(struct queue *q, struct db_txn *txn, const char *account, uint64_t *body,
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

/* Delete the events that name a message in IDS (their "id" field). */
static int
purge_events_of(struct db_txn *txn, struct hash *ids, uint64_t *count)
{
	static const char tag[] = "\"id\":\"";
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, i;
	unsigned char (*keys)[12] = NULL;
	int rc;

	if ((rc = db_cursor_open(txn, DB_EVENTS, &c)) != 0)
		return rc;
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		const char *p = kl == 12 ? memmem(v, vl, tag, sizeof(tag) - 1) : NULL;

		if (p == NULL || (size_t)((const char *)v + vl - p) < sizeof(tag) - 1 + QUEUE_ID_LEN ||
		    hash_get(ids, p + sizeof(tag) - 1, QUEUE_ID_LEN) == NULL)
			continue;
		keys = xrealloc(keys, (n + 1) * sizeof(*keys));
		memcpy(keys[n++], k, 12);
	}
	db_cursor_close(c);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		if ((rc = db_del(txn, DB_EVENTS, keys[i], 12)) == 0)
			(*count)++;
	free(keys);
	return rc;
}

/* Retention (DESIGN.md §6): bodies body_retention after the final
 * state, metadata after event_retention (both per account when the
 * account record overrides them), events after the global
 * event_retention. */
int
queue_purge_apply(struct queue *q, struct db_txn *txn)
{
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	uint64_t now = now_wall_ms(), bodies = 0, msgs = 0, events = 0;
	struct queue_settings st;
	struct hash *early = NULL;	/* ids whose events go before the global cutoff */
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

		if (msg_load(NULL, txn, ids[i], &m, &r)	/* the envelope stays sealed */ != 0)
			continue;
		if (r.final_time != 0)
			queue_account_retention(q, txn, m->account, &body_ret, &event_ret);
		if (r.final_time != 0 && !(r.flags & MF_BODY_GONE) &&
		    r.final_time + body_ret <= now) {
			rc = body_shred(q, txn, ids[i], &r);
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
				rc = body_shred(q, txn, ids[i], &r);
			if (rc == 0)
				rc = db_del(txn, DB_MESSAGES, ids[i], QUEUE_ID_LEN);
			msgs++;
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
	if (rc == 0 && early != NULL)
		rc = purge_events_of(txn, early, &events);
	hash_free(early);
	if (bodies || msgs || events)
		log_info("event=queue_purged bodies=%llu messages=%llu events=%llu",
		    (unsigned long long)bodies, (unsigned long long)msgs,
		    (unsigned long long)events);
	return rc;
}
