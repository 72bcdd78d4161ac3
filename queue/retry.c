/* SPDX-License-Identifier: ISC */
/*
 * retry.c: delivery results (queue_report) and the retry schedule.
 *
 * The delivery engine reports each recipient's attempt; this file
 * applies it in the writer's transaction: delivered and permanent
 * failures become final, temporary failures are deferred to the next
 * retry time of retry_schedule (capped at the message's expiry), and a
 * failure past max_queue_lifetime expires the recipient.  A recipient
 * deleted while its attempt was in flight stays deleted; one held while
 * in flight ends final if the attempt delivered or bounced it, held
 * otherwise, and the message's hold ends once no recipient is held.
 * The done function drops the in-flight mark and kicks the scheduler.
 * A result that cannot be committed (disk or map full, I/O) is held in
 * memory with its recipient still in flight and committed once writes
 * work again (writer_hold, writer.c), so the recipient is not
 * delivered again meanwhile.
 *
 * Reply texts are stored scrubbed (log_scrub: addresses replaced by
 * their pseudonyms unless log_pseudonymise is off).
 *
 * The backoff lives here and nowhere else (queue_next_retry): each
 * report records the recipient's first and latest attempt times, so
 * readers such as the delay warning never recompute an attempt time
 * from next_try and a retry_schedule that a SIGHUP may have changed.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_int.h"
#include "util.h"

/* ---- delivery results ---- */

struct report_op {
	struct writer_op op;
	char id[QUEUE_ID_LEN + 1];
	uint32_t no;
	enum queue_result result;
	char reply[300];
	char *relay;
	char *addr;			/* the engine's copy of the address, or NULL */
	enum queue_state newstate;
	int moot;			/* deleted or made final while in flight */
	int audited;			/* a control-plane report: answered, never held */
	unsigned held;			/* times it could not be committed */
	queue_report_cb cb;
	void *arg;
};

/* Delay after ATTEMPTS failures: retry_schedule[ATTEMPTS - 1], the
 * last entry repeating. */
static uint64_t
retry_delay(const struct queue_settings *st, uint32_t attempts)
{
	size_t i = attempts == 0 ? 0 : attempts - 1;

	if (i >= st->nretry)
		i = st->nretry - 1;
	return st->retry[i];
}

static uint64_t
next_retry(const struct queue_settings *st, const struct queue_msg *m,
    uint32_t attempts, uint64_t now)
{
	uint64_t deadline = m->created + st->max_queue_lifetime;
	uint64_t next = now + retry_delay(st, attempts);

	return next > deadline ? deadline : next;
}

uint64_t
queue_next_retry(struct queue *q, const struct queue_msg *m, uint32_t attempts,
    uint64_t now)
{
	struct queue_settings st;

	queue_settings(q, &st);
	return next_retry(&st, m, attempts, now);
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
	ro->moot = 0;
	/* Issue 20: a delivery engine's report names the address it delivered
	 * to (its copy, opened when it took the message), so the envelope
	 * stays sealed here: the event needs only the address, and the
	 * records are written back with their sealed fields as they were.
	 * Without it (an operator's report) the envelope is opened. */
	if ((rc = msg_load(ro->addr != NULL ? NULL : q, txn, ro->id, &m, &r)) == 0) {
		for (i = 0; i < m->nrcpts; i++)
			if (m->rcpts[i].no == ro->no)
				rc_ = &m->rcpts[i];
		if (rc_ == NULL)
			queue_msg_free(m);
	}
	if (rc == -ENOENT || (rc == 0 && rc_ == NULL)) {
		/* Gone while in flight (deleted, then purged): a delivery's
		 * late result has nothing to record and is no failure to (a
		 * failure would count it deferred and could send a delay DSN
		 * for a message the operator deleted); a control-plane report
		 * of an unknown message is refused. */
		if (ro->audited)
			return ENOENT;
		ro->moot = 1;
		ro->newstate = QUEUE_DELETED;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (rc_->state == QUEUE_DELETED || state_final(rc_->state)) {
		/* Deleted (or made final: queue bounce) while in flight: the
		 * operator's action stands as it was recorded.  Nothing of
		 * this attempt is written: not its reply or relay over the
		 * operator's (bounce_operator() builds the DSN from them, and
		 * `queue show` would say the MX bounced it with "250 ok"), not
		 * a second final event (or webhook) for the recipient, and
		 * for a deleted message not the remote's words at all.  The
		 * caller hears QUEUE_DELETED: no DSN, no bounce rate.  An
		 * operator's report (queue.report) is refused instead: its
		 * audit record says status 1, nothing to record. */
		if (ro->audited) {
			queue_msg_free(m);
			return EALREADY;
		}
		ro->moot = 1;
		ro->newstate = rc_->state;
		queue_msg_free(m);
		return 0;
	}
	if (rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED)
		if ((rc = sched_del(txn, rc_->next_try, ro->id, ro->no)) != 0)
			goto out;
	rc_->attempts++;
	if (rc_->first_attempt == 0)
		rc_->first_attempt = now;
	rc_->last_attempt = now;
	free(rc_->last_reply);
	rc_->last_reply = ro->reply[0] ? xstrdup(ro->reply) : NULL;
	if (ro->relay != NULL) {
		free(rc_->relay);
		rc_->relay = xstrdup(ro->relay);
	}
	deadline = m->created + st.max_queue_lifetime;
	if (ro->result == QUEUE_RESULT_DELIVERED)
		rc_->state = QUEUE_DELIVERED;
	else if (ro->result == QUEUE_RESULT_PERMFAIL)
		rc_->state = QUEUE_BOUNCED;
	else if (rc_->state == QUEUE_HELD) {
		/* held while in flight: stays held, no schedule entry */
	} else if (now >= deadline)
		rc_->state = QUEUE_EXPIRED;
	else {
		rc_->state = QUEUE_DEFERRED;
		rc_->next_try = next_retry(&st, m, rc_->attempts, now);
		rc = sched_put(txn, rc_->next_try, ro->id, ro->no);
	}
	ro->newstate = rc_->state;
	if (rc == 0)
		rc = rcpt_put(txn, ro->id, rc_);
	if (rc == 0)	/* a shredded envelope names no address, as when opened */
		rc = event_add_outbox(q, txn, ro->id, ro->addr != NULL && !m->envelope_gone ?
		    ro->addr : rc_->addr, what[rc_->state], ro->reply[0] ? ro->reply : NULL,
		    NULL, NULL, (r.flags & MF_WEBHOOK) != 0);
	if (rc == 0) {
		uint64_t before = r.final_time, flags = r.flags;

		/* Held while this attempt was in flight (issue 12 item 7): the
		 * hold applies when the attempt ends.  A recipient it delivered
		 * or bounced is final; once no recipient is held any more, the
		 * message is not held either, so `queue show` and `release`
		 * agree with what happened. */
		if (r.flags & MF_HELD) {
			for (i = 0; i < m->nrcpts && m->rcpts[i].state != QUEUE_HELD; i++)
				;
			if (i == m->nrcpts)
				r.flags &= ~(uint64_t)MF_HELD;
		}
		msg_finalise(m, &r, now);
		/* zero retention: the body goes as the last recipient is final */
		if (before == 0 && r.final_time != 0)
			(void)queue_zero_retention(q, txn, m, &r, &rc);
		if (rc == 0 && (r.final_time != before || r.flags != flags))
			rc = msg_put(txn, m, &r);
	}
out:
	queue_msg_free(m);
	return rc;
}

/* The caller's part of a report, on the loop that reported. */
static void
report_callback(struct queue *q, struct writer_op *wop, int status)
{
	struct report_op *ro = (struct report_op *)wop;
	struct outcome o;

	(void)q;
	if (status == 0)
		outcome_ok(&o);
	else
		queue_outcome_for_error(&o, status);
	if (ro->cb != NULL)
		ro->cb(ro->arg, &o, ro->newstate, status == 0 && ro->moot);
	free(ro->relay);
	free(ro->addr);
	free(ro);
}

/* On the queue's loop (queue_done): the queue's bookkeeping. */
static void
report_done(struct queue *q, struct writer_op *wop, int status)
{
	struct report_op *ro = (struct report_op *)wop;

	if (writer_failure(status) && !q->closing && !ro->audited) {
		/* The result is known but cannot be recorded: the recipient
		 * stays in flight (not due again) and the result waits in
		 * memory for writes to work (writer.c), instead of a
		 * redelivery at once (issue 12 item 1). */
		if (ro->held++ == 0)
			log_warn("qid=%s event=report_held rcpt_no=%u result=%s error=\"%s\"",
			    ro->id, (unsigned)ro->no, ro->result == QUEUE_RESULT_DELIVERED ?
			    "delivered" : ro->result == QUEUE_RESULT_PERMFAIL ? "bounced" :
			    "deferred", strerror(-status));
		writer_hold(q, wop);
		return;
	}
	sched_inflight_del(q, ro->id, ro->no);
	if (status == 0)
		log_info("qid=%s event=%s rcpt_no=%u%s", ro->id, queue_strstate(ro->newstate),
		    (unsigned)ro->no, ro->moot ? " late=yes" : "");
	sched_kick(q);
	if (ro->op.port != NULL) {
		/* a delivery loop's report: its callback runs there */
		writer_forward(q, wop, report_callback);
		return;
	}
	report_callback(q, wop, status);
}

static int report_submit(struct queue *q, const char *id, uint32_t rcpt_no,
    const char *addr, enum queue_result res, const struct outcome *reply, const char *relay,
    const struct queue_audit *audit, int lazy, queue_report_cb cb, void *arg);

/* A delivery engine's result: lazy (writer.c), nobody waits on it. */
int
queue_report(struct queue *q, const char *id, uint32_t rcpt_no, const char *addr,
    enum queue_result res, const struct outcome *reply, const char *relay,
    queue_report_cb cb, void *arg)
{
	return report_submit(q, id, rcpt_no, addr, res, reply, relay, NULL, 1, cb, arg);
}

/* An operator's result (posternctl queue ...): committed at once. */
int
queue_report_audited(struct queue *q, const char *id, uint32_t rcpt_no,
    enum queue_result res, const struct outcome *reply, const char *relay,
    const struct queue_audit *audit, queue_report_cb cb, void *arg)
{
	return report_submit(q, id, rcpt_no, NULL, res, reply, relay, audit, 0, cb, arg);
}

static int
report_submit(struct queue *q, const char *id, uint32_t rcpt_no, const char *addr,
    enum queue_result res, const struct outcome *reply, const char *relay,
    const struct queue_audit *audit, int lazy, queue_report_cb cb, void *arg)
{
	struct report_op *ro;

	if (!id_valid(id))
		return -ENOENT;
	if (q->readonly || !q->writer_running || q->closing)
		return -EROFS;
	ro = xcalloc(1, sizeof(*ro));
	ro->op.apply = report_apply;
	ro->op.done = report_done;
	ro->op.queue_done = 1;
	ro->op.lazy = lazy;
	str_copy(ro->id, id, sizeof(ro->id));
	ro->no = rcpt_no;
	ro->result = res;
	if (reply != NULL && reply->code != 0) {
		/* a remote reply may quote the address: stored (last_reply,
		 * events) with it pseudonymised, as the log has it */
		char raw[sizeof(ro->reply)];
		int n = snprintf(raw, sizeof(raw), "%d %s %s", reply->code, reply->enhanced,
		    reply->text);

		log_scrub(raw, n < 0 ? 0 : (size_t)n >= sizeof(raw) ? sizeof(raw) - 1 : (size_t)n,
		    ro->reply, sizeof(ro->reply));
	}
	ro->relay = relay != NULL ? xstrdup(relay) : NULL;
	ro->addr = addr != NULL ? xstrdup(addr) : NULL;
	ro->newstate = QUEUE_DEFERRED;
	ro->cb = cb;
	ro->arg = arg;
	writer_op_audit(&ro->op, audit);
	ro->audited = ro->op.audit != NULL;
	ro->op.audit_id = ro->id;
	writer_submit(q, &ro->op);
	return 0;
}
