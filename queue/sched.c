/* SPDX-License-Identifier: ISC */
/*
 * sched.c: the scheduler (DESIGN.md §8, issue 3).  The schedule table,
 * keyed (due time, id, rcpt no), is the only index: after a restart
 * every queued or deferred recipient is found there again, so recovery
 * needs no extra step.
 *
 * One uv_timer is armed for the earliest entry that is not in flight.
 * When it fires, the due callback (the delivery engine) is told, and it
 * pulls work with queue_take_due(); recipients handed out are marked in
 * flight in memory until queue_report() settles them.  To avoid a busy
 * loop when the engine leaves due work untaken (e.g. at its concurrency
 * limit), after a callback the timer is re-armed only for entries in
 * the future; any change (commit, report, release, flush) kicks it
 * again.  A second timer runs the retention purge every purge_interval.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_int.h"
#include "util.h"

/* In-flight recipients are keyed by (id, rcpt no) in q->inflight
 * (src/lib/hash.c); the value is only a marker. */
static size_t
inflight_key(unsigned char *k, const char *id, uint32_t no)
{
	memcpy(k, id, QUEUE_ID_LEN);
	put_be32(k + QUEUE_ID_LEN, no);
	return RCPT_KEY_LEN;
}

int
sched_inflight_has(struct queue *q, const char *id, uint32_t no)
{
	unsigned char k[RCPT_KEY_LEN];

	return hash_get(q->inflight, k, inflight_key(k, id, no)) != NULL;
}

static void
sched_inflight_add(struct queue *q, const char *id, uint32_t no)
{
	unsigned char k[RCPT_KEY_LEN];

	hash_put(q->inflight, k, inflight_key(k, id, no), q);
}

void
sched_inflight_del(struct queue *q, const char *id, uint32_t no)
{
	unsigned char k[RCPT_KEY_LEN];

	hash_del(q->inflight, k, inflight_key(k, id, no));
}

/* Due time of the first entry not in flight and (if AFTER) later than
 * AFTER; 0 when there is none. */
static uint64_t
sched_next(struct queue *q, uint64_t after)
{
	struct db_txn *txn;
	struct db_cursor *c;
	unsigned char start[8];
	const unsigned char *k;
	const void *kp;
	size_t kl;
	uint64_t due = 0;
	int rc;

	if (db_begin(q->db, 1, &txn) != 0)
		return 0;
	if (db_cursor_open(txn, DB_SCHEDULE, &c) != 0) {
		db_abort(txn);
		return 0;
	}
	put_be64(start, after ? after + 1 : 0);
	for (rc = db_cursor_seek(c, start, sizeof(start), &kp, &kl, NULL, NULL); rc == 0;
	    rc = db_cursor_next(c, &kp, &kl, NULL, NULL)) {
		k = kp;
		if (kl != SCHED_KEY_LEN)
			continue;
		if (sched_inflight_has(q, (const char *)k + 8, get_be32(k + 8 + QUEUE_ID_LEN)))
			continue;
		due = get_be64(k);
		break;
	}
	db_cursor_close(c);
	db_abort(txn);
	return due;
}

static void sched_timer_cb(uv_timer_t *t);

static void
sched_arm_at(struct queue *q, uint64_t due)
{
	uint64_t now = now_wall_ms();

	if (!q->timers_init || q->closing)
		return;
	if (due == 0) {
		uv_timer_stop(&q->sched_timer);
		return;
	}
	uv_timer_start(&q->sched_timer, sched_timer_cb, due > now ? due - now : 0, 0);
}

static void
sched_timer_cb(uv_timer_t *t)
{
	struct queue *q = t->data;
	uint64_t now = now_wall_ms(), due;

	due = sched_next(q, 0);
	if (due != 0 && due <= now && q->due_cb != NULL) {
		q->due_cb(q->due_arg);
		/* Only future entries from here on; changes kick again. */
		sched_arm_at(q, sched_next(q, now));
		return;
	}
	if (due != 0 && due > now)
		sched_arm_at(q, due);
}

void
sched_kick(struct queue *q)
{
	if (!q->timers_init || q->closing || q->due_cb == NULL)
		return;
	if (writer_kick_elsewhere(q))	/* another loop's commit: kick on ours */
		return;
	if (!uv_is_active((uv_handle_t *)&q->sched_timer) ||
	    uv_timer_get_due_in(&q->sched_timer) > 0)
		uv_timer_start(&q->sched_timer, sched_timer_cb, 0, 0);
}

static void
purge_done(void *arg, const struct outcome *o)
{
	(void)arg;
	(void)o;
}

static void
purge_timer_cb(uv_timer_t *t)
{
	struct queue *q = t->data;

	queue_purge(q, purge_done, NULL);
}

void
sched_init(struct queue *q)
{
	uv_timer_init(q->loop, &q->sched_timer);
	uv_timer_init(q->loop, &q->purge_timer);
	uv_timer_init(q->loop, &q->wretry_timer);
	q->sched_timer.data = q;
	q->purge_timer.data = q;
	q->wretry_timer.data = q;
	q->timers_init = 1;
	uv_timer_start(&q->purge_timer, purge_timer_cb, q->set.purge_interval,
	    q->set.purge_interval);
}

void
sched_reload(struct queue *q)
{
	struct queue_settings st;

	if (!q->timers_init || q->closing)
		return;
	queue_settings(q, &st);
	uv_timer_start(&q->purge_timer, purge_timer_cb, st.purge_interval, st.purge_interval);
}

void
sched_close(struct queue *q)
{
	if (q->timers_init) {
		uv_timer_stop(&q->sched_timer);
		uv_timer_stop(&q->purge_timer);
		uv_timer_stop(&q->wretry_timer);
	}
	/* nothing is in flight any more */
	hash_free(q->inflight);
	q->inflight = hash_new(NULL);
}

void
queue_set_due_callback(struct queue *q, queue_due_cb cb, void *arg)
{
	q->due_cb = cb;
	q->due_arg = arg;
	sched_kick(q);
}

/*
 * Several delivery loops (issue 20 item 3): move the recipients of JOB
 * whose MOVE[i] is set (i < job->msg->nrcpts) into a new job, a fresh
 * copy of the message (queue_get) holding only those, and drop them
 * from JOB.  They stay in flight.  NULL (JOB unchanged) when the copy
 * cannot be read or nothing would move.
 */
struct queue_job *
queue_job_split(struct queue *q, struct queue_job *job, const unsigned char *move)
{
	struct queue_msg *m = job->msg, *n = NULL;
	struct queue_job *out;
	size_t a, b, i, nmove = 0;

	for (i = 0; i < m->nrcpts; i++)
		nmove += move[i] != 0;
	if (nmove == 0 || nmove == m->nrcpts || queue_get(q, m->id, &n) != 0)
		return NULL;
	/* the copy keeps the moved recipients (matched by number) */
	for (a = 0, b = 0; a < n->nrcpts; a++) {
		for (i = 0; i < m->nrcpts; i++)
			if (move[i] && m->rcpts[i].no == n->rcpts[a].no)
				break;
		if (i == m->nrcpts) {
			rcpt_clear(&n->rcpts[a]);
			continue;
		}
		n->rcpts[b++] = n->rcpts[a];
	}
	n->nrcpts = b;
	if (b != nmove) {
		/* the stored message changed under us: leave JOB whole */
		queue_msg_free(n);
		return NULL;
	}
	for (a = 0, b = 0; a < m->nrcpts; a++) {
		if (move[a]) {
			rcpt_clear(&m->rcpts[a]);
			continue;
		}
		m->rcpts[b++] = m->rcpts[a];
	}
	m->nrcpts = b;
	out = xcalloc(1, sizeof(*out));
	out->msg = n;
	return out;
}

void
queue_job_free(struct queue_job *job)
{
	if (job == NULL)
		return;
	queue_msg_free(job->msg);
	free(job);
}

size_t
queue_take_due(struct queue *q, struct queue_job **jobs, size_t max)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *kp;
	const unsigned char *k;
	size_t kl, njobs = 0, i, j;
	uint64_t now = now_wall_ms();
	int rc;

	/* while queue writes fail, results could not be recorded: deliver
	 * nothing (issue 12 item 1; writer.c resumes and kicks) */
	if (max == 0 || q->writes_failing || db_begin(q->db, 1, &txn) != 0)
		return 0;
	if (db_cursor_open(txn, DB_SCHEDULE, &c) != 0) {
		db_abort(txn);
		return 0;
	}
	for (rc = db_cursor_seek(c, NULL, 0, &kp, &kl, NULL, NULL); rc == 0;
	    rc = db_cursor_next(c, &kp, &kl, NULL, NULL)) {
		char id[QUEUE_ID_LEN + 1];
		uint32_t no;
		struct queue_job *job = NULL;
		struct queue_msg *m;

		k = kp;
		if (kl != SCHED_KEY_LEN)
			continue;
		if (get_be64(k) > now)
			break;
		memcpy(id, k + 8, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		no = get_be32(k + 8 + QUEUE_ID_LEN);
		if (sched_inflight_has(q, id, no))
			continue;
		for (i = 0; i < njobs; i++)
			if (strcmp(jobs[i]->msg->id, id) == 0)
				job = jobs[i];
		if (job == NULL) {
			if (njobs == max)
				continue;	/* later recipients of taken messages may follow */
			if (queue_load_txn(q, txn, id, &m) != 0)
				continue;
			job = xcalloc(1, sizeof(*job));
			job->msg = m;
			/* Keep only due recipients: mark all as not taken first. */
			for (j = 0; j < m->nrcpts; j++)
				m->rcpts[j].no |= 0x80000000u;
			jobs[njobs++] = job;
		}
		for (j = 0; j < job->msg->nrcpts; j++) {
			struct queue_rcpt *r = &job->msg->rcpts[j];
			if ((r->no & 0x7fffffffu) == no && (r->no & 0x80000000u) &&
			    (r->state == QUEUE_QUEUED || r->state == QUEUE_DEFERRED) &&
			    !pause_blocks(q, r->addr)) {
				r->no = no;
				sched_inflight_add(q, id, no);
			}
		}
	}
	db_cursor_close(c);
	db_abort(txn);
	/* Drop recipients that were not due; drop jobs left empty. */
	for (i = 0, j = 0; i < njobs; i++) {
		struct queue_msg *m = jobs[i]->msg;
		size_t a, b;
		for (a = 0, b = 0; a < m->nrcpts; a++) {
			if (m->rcpts[a].no & 0x80000000u) {
				rcpt_clear(&m->rcpts[a]);
				continue;
			}
			m->rcpts[b++] = m->rcpts[a];
		}
		m->nrcpts = b;
		if (b == 0) {
			queue_job_free(jobs[i]);
			continue;
		}
		jobs[j++] = jobs[i];
	}
	return j;
}
