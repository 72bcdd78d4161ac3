/* SPDX-License-Identifier: ISC */
/*
 * actions.c: the queue's operator mutations (include/queue.h):
 * hold, release, delete and requeue of one message (queue_action) or of
 * a batch in one op (queue_actions), flush (every future schedule entry
 * moved to now), generic record puts and deletes (accounts, DKIM,
 * suppressions; optionally with an event record in the same
 * transaction), events and audit records, account shredding and account deletion
 * (record and key in one transaction).
 *
 * The control plane's mutations carry their audit record (struct
 * queue_audit) into the transaction of their effect: the writer appends
 * it after the op (writer.c), and a batch writes its own naming the ids
 * it changed (actions_apply).
 *
 * Each is a "simple op" (struct simple_op, queue_int.h): a writer op
 * applied inside the writer's batch transaction (simple_apply) whose
 * done function answers the caller with an outcome exactly once and
 * kicks the scheduler when schedule entries moved.  Every recipient
 * whose state an action changes gets an event record in the same
 * transaction.  Hold, release and requeue that change nothing are
 * refused (550 5.0.0) so an operator hears that nothing happened.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "queue_int.h"
#include "util.h"

static int action_apply(struct queue *q, struct db_txn *txn, const char *id,
    enum queue_action act, const char *event, const char *reason, const char *domain);
static int domain_apply(struct queue *q, struct db_txn *txn, struct simple_op *s);
static int actions_apply(struct queue *q, struct db_txn *txn, struct simple_op *s);
static int flush_apply(struct queue *q, struct db_txn *txn);
static int account_mail_delete(struct queue *q, struct db_txn *txn, const char *account);

/* Drop ACCOUNT's key reference; its slot is zeroed once the batch
 * commits, and every message key it wrapped is unreadable from then on.
 * No key: ENOENT when MISSING_FAILS, else 0. */
static int
account_key_shred(struct queue *q, struct db_txn *txn, const char *account, int missing_fails)
{
	uint64_t slot = account_slot(txn, account);
	char *name = xasprintf("a:%s", account);
	int rc = db_del(txn, DB_KEYS, name, strlen(name));

	free(name);
	keys_forget(q, account);
	if (rc == -ENOENT)
		return missing_fails ? ENOENT : 0;
	if (rc == 0)
		ks_forget(q->ks, slot, KS_ACCOUNT, account);
	return rc;
}

int
simple_update_value(struct db_txn *txn, struct simple_op *s)
{
	const void *cur = NULL;
	size_t curlen = 0;
	char *out = NULL, *event = NULL;
	size_t outlen = 0;
	int rc;

	if (s->changed_out != NULL)
		*s->changed_out = 0;
	if (s->update == NULL && !s->check)
		return 1;
	rc = db_get(txn, s->table, s->key, strlen(s->key), &cur, &curlen);
	if (rc != 0 && rc != -ENOENT)
		return rc;
	if (rc == -ENOENT)
		cur = NULL;
	if (s->check) {
		/* the put only over what the caller read */
		if ((cur == NULL) != (s->expect == NULL) ||
		    (cur != NULL && (curlen != s->expect_len || memcmp(cur, s->expect, curlen) != 0)))
			return ECANCELED;
		if (s->changed_out != NULL)
			*s->changed_out = 1;
		return 1;
	}
	{
		/* a copy: FN sees a terminated string, never the map */
		char *copy = cur != NULL ? xmalloc(curlen + 1) : NULL;

		if (copy != NULL) {
			memcpy(copy, cur, curlen);
			copy[curlen] = '\0';
		}
		rc = s->update(s->update_arg, copy, curlen, &out, &outlen, &event);
		if (copy != NULL) {
			crypto_wipe(copy, curlen);
			free(copy);
		}
	}
	if (rc != 1) {	/* 0: leave it; -errno: the batch fails; errno: this op does */
		if (out != NULL) {
			crypto_wipe(out, outlen);
			free(out);
		}
		free(event);
		return rc;
	}
	/* an earlier try of this op (a batch retried op by op) left its own */
	if (s->val != NULL) {
		crypto_wipe(s->val, s->len);
		free(s->val);
	}
	s->val = out;
	s->len = outlen;
	free(s->event);
	s->event = event;
	if (s->changed_out != NULL)
		*s->changed_out = 1;
	return 1;
}

static int
simple_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	struct simple_op *s = (struct simple_op *)wop;
	int rc;

	switch (s->kind) {
	case OP_KV:
		if ((rc = simple_update_value(txn, s)) != 1)
			return rc;
		if (s->del) {
			rc = db_del(txn, s->table, s->key, strlen(s->key));
			if (rc == -ENOENT)
				rc = 0;
		} else
			rc = db_put(txn, s->table, s->key, strlen(s->key), s->val, s->len);
		/* the change and its event in one transaction */
		if (rc == 0 && s->event != NULL)
			rc = queue_append_log(q, txn, DB_EVENTS, s->event, strlen(s->event));
		/* and its webhook, in the same transaction (at-least-once) */
		if (rc == 0 && s->outbox != NULL &&
		    (s->outbox_msg[0] == '\0' || msg_wants_outbox(txn, s->outbox_msg)))
			rc = queue_append_log(q, txn, DB_OUTBOX, s->outbox, strlen(s->outbox));
		return rc;
	case OP_AUDIT:
		return queue_append_log(q, txn, DB_AUDIT, s->val, s->len);
	case OP_EVENT:
		return queue_append_log(q, txn, DB_EVENTS, s->val, s->len);
	case OP_KV_MANY: {
		size_t i;

		for (i = 0, rc = 0; i < s->nids && rc == 0; i++) {
			rc = db_put(txn, s->table, s->ids[i], strlen(s->ids[i]), s->vals[i], s->lens[i]);
			if (rc == 0 && s->events[i] != NULL)
				rc = queue_append_log(q, txn, DB_EVENTS, s->events[i],
				    strlen(s->events[i]));
		}
		return rc;
	}
	case OP_SHRED:
		return account_key_shred(q, txn, s->key, 1);
	case OP_ACTION:
		return queue_action_apply(q, txn, s->id, s->act, NULL, NULL);
	case OP_DOMAIN:
		return domain_apply(q, txn, s);
	case OP_OUTBOX_DEL:
		return outbox_del_apply(txn, s);
	case OP_OUTBOX_ADD:
		return queue_append_log(q, txn, DB_OUTBOX, s->val, s->len);
	case OP_ACTIONS:
		return actions_apply(q, txn, s);
	case OP_REVIEW:
		return queue_review_apply(q, txn, s);
	case OP_ACCOUNT_DELETE:
		/* its queued mail, the record and (crypto-shredding) the
		 * account key together */
		if ((rc = account_mail_delete(q, txn, s->key)) != 0)
			return rc;
		if ((rc = db_del(txn, DB_ACCOUNTS, s->key, strlen(s->key))) != 0 && rc != -ENOENT)
			return rc;
		return account_key_shred(q, txn, s->key, 0);
	case OP_FLUSH:
		return flush_apply(q, txn);
	case OP_PURGE:
		return queue_purge_apply(q, txn);
	}
	return EINVAL;
}

/* The catalogue's refusal for ACT changing nothing; R__COUNT for none. */
static enum reply_id
unchanged_reply(enum queue_action act)
{
	/* by action; the third (delete) never finds nothing to do */
	static const enum reply_id nothing[] = {
		R_NOTHING_TO_HOLD, R_NOT_HELD, R__COUNT, R_NOTHING_TO_REQUEUE, R_NOTHING_TO_BOUNCE,
	};

	return (unsigned)act < ARRAY_SIZE(nothing) ? nothing[act] : R__COUNT;
}

const char *
queue_action_unchanged(enum queue_action act)
{
	const struct reply_def *d = reply_def(unchanged_reply(act));

	return d != NULL ? d->text : "";
}

static void
simple_free(struct simple_op *s)
{
	size_t i;

	for (i = 0; i < s->nids; i++) {
		free(s->ids[i]);
		if (s->vals != NULL)
			free(s->vals[i]);
		if (s->events != NULL)
			free(s->events[i]);
	}
	free(s->ids);
	free(s->vals);
	free(s->lens);
	free(s->events);
	free(s->batch_audit);
	free(s->event);
	free(s->outbox);
	free(s->reason);
	if (s->bodies != NULL) {
		for (i = 0; i < s->nids; i++) {
			if (s->bodies[i].data != NULL)
				crypto_wipe(s->bodies[i].data, s->bodies[i].len);
			buf_free(&s->bodies[i]);
		}
		free(s->bodies);
	}
	free(s->op.audit);
	free(s->key);
	if (s->val != NULL)
		crypto_wipe(s->val, s->len);	/* account records hold password hashes */
	free(s->val);
	if (s->expect != NULL)
		crypto_wipe(s->expect, s->expect_len);
	free(s->expect);
	free(s);
}

static void
simple_done(struct queue *q, struct writer_op *wop, int status)
{
	struct simple_op *s = (struct simple_op *)wop;
	struct outcome o;

	if (status == 0)
		outcome_ok(&o);
	else if (s->kind == OP_ACTION && status == -EALREADY)
		outcome_reply(&o, unchanged_reply(s->act));
	else
		queue_outcome_for_error(&o, status);
	if (s->cb != NULL)
		s->cb(s->arg, &o);
	if (status == 0 && (s->kind == OP_ACTION || s->kind == OP_ACTIONS || s->kind == OP_FLUSH ||
	    s->kind == OP_DOMAIN || s->kind == OP_REVIEW))
		sched_kick(q);
	simple_free(s);
}

struct simple_op *
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

int
simple_submit(struct queue *q, struct simple_op *s)
{
	if (q->readonly || !q->writer_running || q->closing) {
		simple_free(s);
		return -EROFS;
	}
	writer_submit(q, &s->op);
	return 0;
}

int
queue_kv_put_audited(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if ((unsigned)t >= QUEUE_NKV_TABLES || key == NULL || *key == '\0')
		return -EINVAL;
	s = simple_new(OP_KV, cb, arg);
	writer_op_audit(&s->op, audit);
	s->table = queue_kv_tables[t];
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
queue_kv_update(struct queue *q, enum queue_table t, const char *key, queue_update_fn fn,
    void *arg, int *changed, queue_done_cb cb, void *cbarg)
{
	struct simple_op *s;

	if ((unsigned)t >= QUEUE_NKV_TABLES || key == NULL || *key == '\0' || fn == NULL)
		return -EINVAL;
	s = simple_new(OP_KV, cb, cbarg);
	s->table = queue_kv_tables[t];
	s->key = xstrdup(key);
	s->update = fn;
	s->update_arg = arg;
	s->changed_out = changed;
	return simple_submit(q, s);
}

int
queue_kv_put_if(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const void *expect, size_t expect_len,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if ((unsigned)t >= QUEUE_NKV_TABLES || key == NULL || *key == '\0' || val == NULL)
		return -EINVAL;
	s = simple_new(OP_KV, cb, arg);
	writer_op_audit(&s->op, audit);
	s->table = queue_kv_tables[t];
	s->key = xstrdup(key);
	s->val = xmalloc(len + 1);
	memcpy(s->val, val, len);
	s->len = len;
	s->check = 1;
	if (expect != NULL) {
		s->expect = xmalloc(expect_len + 1);
		memcpy(s->expect, expect, expect_len);
		s->expect_len = expect_len;
	}
	return simple_submit(q, s);
}

int
queue_kv_put(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, queue_done_cb cb, void *arg)
{
	return queue_kv_put_audited(q, t, key, val, len, NULL, cb, arg);
}

/* A key-value op of table T: KEY, its EVENT and AUDIT; the value is
 * the caller's to set (none: a delete). */
static struct simple_op *
kv_op_new(enum queue_table t, const char *key, const char *event,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_KV, cb, arg);

	writer_op_audit(&s->op, audit);
	s->table = queue_kv_tables[t];
	s->key = xstrdup(key);
	s->event = event != NULL ? xstrdup(event) : NULL;
	return s;
}

static void
kv_op_value(struct simple_op *s, const void *val, size_t len)
{
	s->val = xmalloc(len + 1);
	memcpy(s->val, val, len);
	s->len = len;
}

int
queue_kv_put_event(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const char *event, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if ((unsigned)t >= QUEUE_NKV_TABLES || key == NULL || *key == '\0')
		return -EINVAL;
	s = kv_op_new(t, key, event, audit, cb, arg);
	if (val == NULL)
		s->del = 1;
	else
		kv_op_value(s, val, len);
	return simple_submit(q, s);
}

int
queue_kv_put_notify(struct queue *q, enum queue_table t, const char *key,
    const void *val, size_t len, const char *event, const char *webhook, const char *msg_id,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if ((unsigned)t >= QUEUE_NKV_TABLES || key == NULL || *key == '\0' || val == NULL ||
	    (msg_id != NULL && strlen(msg_id) != QUEUE_ID_LEN))
		return -EINVAL;
	s = kv_op_new(t, key, event, audit, cb, arg);
	s->outbox = webhook != NULL ? xstrdup(webhook) : NULL;
	if (msg_id != NULL)
		str_copy(s->outbox_msg, msg_id, sizeof(s->outbox_msg));
	kv_op_value(s, val, len);
	return simple_submit(q, s);
}

int
queue_kv_put_many(struct queue *q, enum queue_table t, const char *const *keys,
    const char *const *vals, const size_t *lens, const char *const *events, size_t n,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	struct simple_op *s;
	size_t i;

	if ((unsigned)t >= QUEUE_NKV_TABLES || n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (keys[i] == NULL || *keys[i] == '\0' || vals[i] == NULL)
			return -EINVAL;
	s = simple_new(OP_KV_MANY, cb, arg);
	writer_op_audit(&s->op, audit);
	s->table = queue_kv_tables[t];
	s->ids = xcalloc(n, sizeof(*s->ids));
	s->vals = xcalloc(n, sizeof(*s->vals));
	s->lens = xcalloc(n, sizeof(*s->lens));
	s->events = xcalloc(n, sizeof(*s->events));
	for (i = 0; i < n; i++) {
		s->ids[i] = xstrdup(keys[i]);
		s->vals[i] = xmalloc(lens[i] + 1);
		memcpy(s->vals[i], vals[i], lens[i]);
		s->lens[i] = lens[i];
		s->events[i] = events != NULL && events[i] != NULL ? xstrdup(events[i]) : NULL;
	}
	s->nids = n;
	return simple_submit(q, s);
}

int
queue_event(struct queue *q, const char *json, queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_EVENT, cb, arg);

	s->val = xstrdup(json);
	s->len = strlen(json);
	return simple_submit(q, s);
}

int
queue_account_delete(struct queue *q, const char *account,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if (account == NULL || *account == '\0')
		return -EINVAL;
	s = simple_new(OP_ACCOUNT_DELETE, cb, arg);
	writer_op_audit(&s->op, audit);
	s->key = xstrdup(account);
	return simple_submit(q, s);
}

/* Restore (journal.c): erase message ID (delete) or account NAME now, on
 * the calling thread (no writer). */
int
queue_erase_sync(struct queue *q, int account, const char *owner)
{
	struct simple_op *s = simple_new(account ? OP_ACCOUNT_DELETE : OP_ACTION, NULL, NULL);
	int rc;

	if (account)
		s->key = xstrdup(owner);
	else {
		str_copy(s->id, owner, sizeof(s->id));
		s->act = QUEUE_ACT_DELETE;
	}
	rc = writer_run_sync(q, &s->op);
	simple_free(s);
	return rc;
}

int
queue_actions(struct queue *q, const char *const *ids, size_t n, enum queue_action act,
    const struct queue_audit *audit, int *status, queue_done_cb cb, void *arg)
{
	struct simple_op *s;
	size_t i;

	if (n == 0)
		return -EINVAL;
	s = simple_new(OP_ACTIONS, cb, arg);
	s->act = act;
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
queue_flush_audited(struct queue *q, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_FLUSH, cb, arg);

	writer_op_audit(&s->op, audit);
	return simple_submit(q, s);
}

/*
 * A batch of actions in one op: each message alone either changes or is
 * left untouched (not found, nothing to change: action_apply writes
 * nothing then), and one audit record names the ids that changed, in
 * the same transaction.  A broken transaction (< 0) fails the whole op;
 * the writer may apply it again, so every result is set afresh.
 */
static int
actions_apply(struct queue *q, struct db_txn *txn, struct simple_op *s)
{
	const char **changed = xcalloc(s->nids, sizeof(*changed));
	const char *error = NULL;
	size_t i, nchanged = 0;
	int rc = 0, failed = 0;

	for (i = 0; i < s->nids; i++) {
		rc = id_valid(s->ids[i]) ? queue_action_apply(q, txn, s->ids[i], s->act, NULL, NULL) :
		    ENOENT;
		if (rc < 0)
			break;
		s->status_out[i] = -rc;
		if (rc == 0)
			changed[nchanged++] = s->ids[i];
		else if (rc == ENOENT && !s->unchanged_ok) {
			failed = 1;
			error = error ? error : "No such message";
		} else if (rc == ENOENT) {
			/* --all-matching: gone since it was selected */
		} else if (!s->unchanged_ok) {
			failed = 1;
			error = error ? error : queue_action_unchanged(s->act);
		}
		rc = 0;
	}
	if (rc == 0 && s->batch_audit != NULL)
		rc = queue_audit_append(q, txn, s->batch_audit, failed, error, changed, nchanged);
	free(changed);
	return rc;
}


/* ACT on message ID: 0 changed, ENOENT, EALREADY (nothing written then),
 * or < 0 (the transaction is broken). */
int
queue_action_apply(struct queue *q, struct db_txn *txn, const char *id, enum queue_action act,
    const char *event, const char *reason)
{
	return action_apply(q, txn, id, act, event, reason, NULL);
}

/* Whether ADDR's domain is DOMAIN (any case). */
static int
addr_in_domain(const char *addr, const char *domain)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

/*
 * `queue suspend|unsuspend --domain D`: hold (release) the pending
 * (held) recipients in domain D of every message, one transaction, one
 * audit record naming the messages changed.  Only those recipients
 * change: the other recipients of a message go on being delivered.
 */
static int
domain_apply(struct queue *q, struct db_txn *txn, struct simple_op *s)
{
	size_t n = 0, i, nchanged = 0;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	const char **changed;
	int rc;

	if ((rc = msg_ids_all(txn, &ids, &n)) != 0)
		return rc;
	changed = xcalloc(n + 1, sizeof(*changed));
	for (rc = 0, i = 0; i < n; i++) {
		rc = action_apply(q, txn, ids[i], s->act, NULL, NULL, s->key);
		if (rc < 0)
			break;
		if (rc == 0)
			changed[nchanged++] = ids[i];
		rc = 0;
	}
	if (rc == 0 && s->batch_audit != NULL)
		rc = queue_audit_append(q, txn, s->batch_audit, 0, NULL, changed, nchanged);
	if (s->status_out != NULL)
		*s->status_out = (int)nchanged;
	free(changed);
	free(ids);
	return rc;
}

int
queue_domain_action(struct queue *q, const char *domain, enum queue_action act,
    const struct queue_audit *audit, int *nchanged, queue_done_cb cb, void *arg)
{
	struct simple_op *s;

	if (domain == NULL || *domain == '\0' || strchr(domain, '@') != NULL ||
	    (act != QUEUE_ACT_HOLD && act != QUEUE_ACT_RELEASE && act != QUEUE_ACT_BOUNCE))
		return -EINVAL;
	s = simple_new(OP_DOMAIN, cb, arg);
	s->act = act;
	s->key = xstrdup(domain);
	s->status_out = nchanged;
	if (audit != NULL && audit->json != NULL)
		s->batch_audit = xstrdup(audit->json);
	return simple_submit(q, s);
}

/* ACT on message ID (only its recipients in DOMAIN unless NULL), their
 * events named EVENT (NULL: the action's) with REASON: 0 changed,
 * ENOENT, EALREADY (nothing written then), or < 0 (the transaction is
 * broken). */
static int
action_apply(struct queue *q, struct db_txn *txn, const char *id, enum queue_action act,
    const char *event, const char *reason, const char *domain)
{
	static const char *const what[] = { "hold", "release", "delete", "requeue", "bounced" };
	struct queue_msg *m;
	struct mrec r;
	uint64_t now = now_wall_ms();
	char bounce_reply[256];
	size_t i, nchanged = 0;
	int rc = 0;

	if ((rc = msg_load(q, txn, id, &m, &r)) != 0)
		return rc == -ENOENT ? ENOENT : rc;
	if (r.flags & MF_DELETED) {
		queue_msg_free(m);
		return act == QUEUE_ACT_DELETE ? 0 : ENOENT;
	}
	for (i = 0; i < m->nrcpts && rc == 0; i++) {
		struct queue_rcpt *rc_ = &m->rcpts[i];
		int pending = rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED;
		int changed = 0;

		if (domain != NULL && !addr_in_domain(rc_->addr, domain))
			continue;
		switch (act) {
		case QUEUE_ACT_HOLD:
			if (pending) {
				rc = sched_del(txn, rc_->next_try, id, rc_->no);
				rc_->state = QUEUE_HELD;
				changed = 1;
			}
			break;
		case QUEUE_ACT_RELEASE:
			if (rc_->state == QUEUE_HELD) {
				rc_->state = QUEUE_QUEUED;
				rc_->next_try = now;
				rc = sched_put(txn, now, id, rc_->no);
				changed = 1;
			}
			break;
		case QUEUE_ACT_REQUEUE:
			if (pending) {
				if ((rc = sched_del(txn, rc_->next_try, id, rc_->no)) == 0)
					rc = sched_put(txn, now, id, rc_->no);
				rc_->state = QUEUE_QUEUED;
				rc_->next_try = now;
				changed = 1;
			}
			break;
		case QUEUE_ACT_BOUNCE:
			if (pending || rc_->state == QUEUE_HELD) {
				const struct reply_def *d = reply_def(R_OPERATOR_BOUNCE);

				if (pending)
					rc = sched_del(txn, rc_->next_try, id, rc_->no);
				rc_->state = QUEUE_BOUNCED;
				rc_->last_attempt = now;	/* the DSN goes for these */
				snprintf(bounce_reply, sizeof(bounce_reply), "%d %s %s", d->code,
				    d->enhanced, d->text);
				free(rc_->last_reply);
				rc_->last_reply = xstrdup(bounce_reply);
				free(rc_->relay);
				rc_->relay = xstrdup("operator");
				changed = 1;
			}
			break;
		case QUEUE_ACT_DELETE:
			if (pending)
				rc = sched_del(txn, rc_->next_try, id, rc_->no);
			if (!state_final(rc_->state)) {
				rc_->state = QUEUE_DELETED;
				changed = 1;
			}
			break;
		}
		if (rc == 0 && changed) {
			nchanged++;
			rc = rcpt_put(txn, id, rc_);
			if (rc == 0)
				rc = event_add_full(q, txn, id, rc_->addr,
				    event != NULL ? event : what[act],
				    act == QUEUE_ACT_BOUNCE ? rc_->last_reply : NULL, NULL, reason);
		}
	}
	/* Hold, release and requeue that change nothing are refused, so an
	 * operator who releases a message that was never held hears so. */
	if (rc == 0 && nchanged == 0 && act != QUEUE_ACT_DELETE) {
		queue_msg_free(m);
		return EALREADY;
	}
	if (rc == 0) {
		/* a domain suspension holds recipients, not the message */
		if (act == QUEUE_ACT_HOLD && domain == NULL)
			r.flags |= MF_HELD;
		else if (act == QUEUE_ACT_RELEASE && domain == NULL)
			r.flags &= ~(uint64_t)MF_HELD;
		else if (act == QUEUE_ACT_BOUNCE && (r.flags & MF_HELD)) {
			int held = 0;

			for (i = 0; i < m->nrcpts; i++)
				held |= m->rcpts[i].state == QUEUE_HELD;
			if (!held)
				r.flags &= ~(uint64_t)MF_HELD;
		}
		else if (act == QUEUE_ACT_DELETE) {
			rc = body_shred(q, txn, id, &r);
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

/*
 * Deleting an account finalises its mail (issue 12 item 8): with the
 * account key shredded its bodies cannot be read, so every message of
 * ACCOUNT not yet deleted is deleted here, in the account deletion's
 * transaction (recipients deleted with their events, schedule entries
 * and body gone), instead of being retried for max_queue_lifetime.
 * The ids are collected first, then changed.
 */
static int
account_mail_delete(struct queue *q, struct db_txn *txn, const char *account)
{
	struct queue_msg *m;
	struct mrec r;
	size_t n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	int rc;

	if ((rc = msg_ids_all(txn, &ids, &n)) != 0)
		return rc;
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		int mine;

		if (msg_load(NULL, txn, ids[i], &m, &r) != 0)	/* sealed: account, flags */
			continue;
		mine = strcmp(m->account, account) == 0 && !(r.flags & MF_DELETED);
		queue_msg_free(m);
		if (mine && (rc = queue_action_apply(q, txn, ids[i], QUEUE_ACT_DELETE, NULL, NULL)) > 0)
			rc = 0;
	}
	free(ids);
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
