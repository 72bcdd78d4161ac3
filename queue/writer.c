/* SPDX-License-Identifier: ISC */
/*
 * writer.c: the one writer thread (DESIGN.md §3, §4).
 *
 * Every change to the queue is a struct writer_op submitted from the
 * loop.  The thread takes up to queue_commit_batch pending ops, applies
 * them all inside ONE LMDB write transaction and commits it, so one
 * fsync covers the whole batch (group commit).  Results are handed
 * back through a done list and a uv_async wake-up; done callbacks run
 * on the loop thread, never on this one, so the loop never blocks on
 * disk.
 *
 * A delivery engine's result is lazy (writer_op.lazy): a batch of lazy
 * ops alone waits up to queue_result_linger for an op someone waits on,
 * and takes it along (writer_linger()).  Ops that acknowledge mail or
 * answer an operator never wait; the daemon's drain (queue_drain(): the
 * delivery engine's drain waits for its results), stopping or failing
 * writes end the wait.
 *
 * Keys (queue/keystore.c): slots an op writes (new account keys) are
 * synced before the commit, message slots come from a pool synced ahead
 * (topped up here when nothing is pending); slots an op forgets are
 * zeroed and synced after it; a batch that fails zeroes the slots it
 * wrote and gives back the pool slots it took.
 *
 * An op may carry an audit record (struct queue_audit): it is appended
 * right after the op is applied, inside the same transaction, so the
 * record and the effect commit or vanish together (DESIGN.md §9).
 *
 * When delivery results cannot be written (disk or map full, I/O), the
 * queue says so once (event=queue_writes_failing) and pauses delivery:
 * queue_take_due() hands out nothing, so the engine does not deliver
 * mail whose results it could not record.  (A failed commit of new
 * mail alone does not pause it: with a full map, deliveries are what
 * frees it.)  Delivery results that failed to commit are held
 * here, their recipients still in flight, and submitted again by a
 * retry timer whose delay doubles each round (WRETRY_MIN_MS ..
 * WRETRY_MAX_MS); with nothing held the timer submits a small probe
 * write instead.  The first op that commits ends it
 * (event=queue_writes_resumed): held results go at once and the
 * scheduler is kicked.  Issue 12 item 1: a disk-full queue used to
 * redeliver the same message many times a second.
 *
 * Ops submitted from another loop's thread (smtpd_loops) carry that
 * loop's queue_port: the done list is still drained here, on the
 * queue's loop (so the pause bookkeeping above stays on one thread),
 * and such an op is then handed to its port, whose uv_async runs its
 * done() on the loop that submitted it; when its whole batch committed
 * and writes are not failing, the writer thread hands it to the port
 * itself (the queue's loop has nothing to do for it).  A delivery result from a
 * delivery loop is the exception (queue_done): its done() runs here
 * (the in-flight set, held results and the scheduler are this loop's)
 * and forwards only the caller's callback (writer_forward).  A sched_kick() from there
 * comes back through this file's async (kick_pending).
 *
 * When a batch fails (map full, disk full, I/O), nothing of it is
 * visible.  On map full with queue_map_grow the map is grown (up to
 * queue_map_max) and the batch retried; otherwise every op is retried
 * alone, so one oversized message fails alone with a tempfail while
 * its neighbours commit.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "queue_int.h"
#include "util.h"

/* Try to grow the map after -EFBIG; 0 when it grew, -EFBIG when it may
 * not grow, -ENOSPC when the disk has no room for it. */
static int
writer_grow(struct queue *q)
{
	uint64_t cur = db_mapsize(q->db), want;
	struct queue_settings st;
	int rc;

	queue_settings(q, &st);
	if (!st.map_grow || cur >= st.map_max)
		return -EFBIG;
	want = cur * 2;
	if (want > st.map_max)
		want = st.map_max;
	if ((rc = db_grow(q->db, want)) != 0)
		return rc == -ENOSPC ? rc : -EFBIG;
	log_info("event=queue_map_grown size=%llu", (unsigned long long)db_mapsize(q->db));
	return 0;
}

/* Apply OPS (a list of N) in one transaction; 0 or the batch error. */
static int
writer_batch(struct queue *q, struct writer_op *ops)
{
	struct db_txn *txn;
	struct writer_op *op;
	int rc;

	if ((rc = db_begin(q->db, 0, &txn)) != 0) {
		ks_batch_end(q->ks, 0);
		return rc;
	}
	for (op = ops; op != NULL; op = op->next) {
		rc = op->apply(q, txn, op);
		op->status = rc > 0 ? -rc : 0;
		/* the op's audit record joins its effect in this transaction */
		if (rc >= 0 && op->audit != NULL) {
			char err[256];	/* room for the catalogue's longest text */
			const char *id = op->audit_id;
			struct outcome o;

			if (op->status != 0) {
				queue_outcome_for_error(&o, op->status);
				str_copy(err, o.text, sizeof(err));
			}
			rc = queue_audit_append(q, txn, op->audit, op->status != 0,
			    op->status != 0 ? err : NULL, &id, op->status == 0 && id != NULL);
		}
		if (rc < 0) {
			db_abort(txn);
			queue_keys_commit(q, 0);
			ks_batch_end(q->ks, 0);
			return rc;
		}
	}
	/* new keys are on disk before the commit that names them */
	if ((rc = ks_presync(q->ks)) != 0) {
		db_abort(txn);
		queue_keys_commit(q, 0);
		ks_batch_end(q->ks, 0);
		return rc;
	}
	rc = db_commit(txn);
	queue_keys_commit(q, rc == 0);
	/* keys whose last reference this commit dropped are zeroed now */
	ks_batch_end(q->ks, rc == 0);
	return rc;
}

/* Apply a batch with the fallbacks described at the top of the file. */
static void
writer_run(struct queue *q, struct writer_op *ops)
{
	struct writer_op *op, *next;
	int rc;

	for (;;) {
		rc = writer_batch(q, ops);
		if (rc == 0)
			return;
		if (rc == -EFBIG && (rc = writer_grow(q)) == 0)
			continue;
		break;
	}
	if (ops->next == NULL) {
		ops->status = rc;
		log_err("event=queue_write_failed error=\"%s\"", strerror(-rc));
		return;
	}
	/* Retry one by one so a single culprit fails alone. */
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		op->next = NULL;
		writer_run(q, op);
		op->next = next;
	}
}

static void port_post(struct queue_port *p, struct writer_op *op);
static __thread int on_writer_thread;	/* writer_main() runs on this thread */

/* 1 when every op of LIST is lazy (struct writer_op). */
static int
all_lazy(const struct writer_op *list)
{
	for (; list != NULL; list = list->next)
		if (!list->lazy)
			return 0;
	return 1;
}

/* Under q->wlock, with BATCH (N ops, last at *TAIL) taken and all lazy:
 * wait up to queue_result_linger for an op that someone waits on (new
 * mail, an operator's change), then take what came meanwhile into the
 * batch, up to MAX ops.  One commit and one fsync then cover both: with
 * few sessions, a delivery result used to get a commit of its own, which
 * the next message's commit queued behind (issue 20 item 2).  Nothing
 * acknowledged waits: a result lingers only when no one waits on it.
 * The setting is read at every wake and counted from the start of the
 * wait, so a reload (queue_reload() wakes the writer) that shortens or
 * turns off the linger ends a wait already under way by the new value. */
static void
writer_linger(struct queue *q, struct writer_op ***tail, int64_t *n, int64_t max)
{
	struct queue_settings st;
	struct timespec start, dl;
	struct writer_op **t;

	clock_gettime(CLOCK_MONOTONIC, &start);	/* wcond is on this clock */
	for (;;) {
		int64_t have = *n;

		queue_settings(q, &st);	/* set_lock is a leaf under wlock */
		if (st.result_linger == 0 || q->stopping || q->no_linger ||
		    __atomic_load_n(&q->writes_failing, __ATOMIC_ACQUIRE))
			goto take;
		for (t = &q->pending; *t != NULL && have < max; t = &(*t)->next, have++)
			if (!(*t)->lazy)
				goto take;
		if (have >= max)
			goto take;
		deadline_after(&dl, &start, (unsigned)st.result_linger);	/* at most 1 s: config.c */
		if (pthread_cond_timedwait(&q->wcond, &q->wlock, &dl) == ETIMEDOUT)
			goto take;
	}
take:
	while (q->pending != NULL && *n < max) {
		struct writer_op *op = q->pending;

		q->pending = op->next;
		op->next = NULL;
		**tail = op;
		*tail = &op->next;
		(*n)++;
	}
	if (q->pending == NULL)
		q->pending_tail = &q->pending;
}

static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	struct writer_op *batch, **tail, *op, *next, *direct, **dtail, *rest;
	struct queue_settings st;
	int64_t max, n;
	int idle;

	on_writer_thread = 1;
	thread_name("queue-writer");

	for (;;) {
		pthread_mutex_lock(&q->wlock);
		while (q->pending == NULL && !q->stopping)
			pthread_cond_wait(&q->wcond, &q->wlock);
		if (q->pending == NULL && q->stopping) {
			pthread_mutex_unlock(&q->wlock);
			break;
		}
		/* read now, not before the wait: a SIGHUP while idle (a new
		 * queue_result_linger or queue_commit_batch) applies to the
		 * next batch, not the one after it (set_lock is a leaf) */
		queue_settings(q, &st);
		max = st.commit_batch;
		batch = q->pending;
		tail = &batch;
		for (n = 0; *tail != NULL && n < max; n++)
			tail = &(*tail)->next;
		q->pending = *tail;
		if (q->pending == NULL)
			q->pending_tail = &q->pending;
		*tail = NULL;
		if (n < max && all_lazy(batch))
			writer_linger(q, &tail, &n, max);
		pthread_mutex_unlock(&q->wlock);

		{
			uint64_t t0 = histo_now_us();

			writer_run(q, batch);
			histo_observe(&q->commit_us, histo_now_us() - t0);
			histo_observe(&q->batch_ops, (uint64_t)n);
		}
		/* read by queue_stats() on the queue's loop */
		__atomic_add_fetch(&q->batches, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&q->batched_ops, (uint64_t)n, __ATOMIC_RELAXED);

		/* Another loop's op of a batch that committed whole, while writes
		 * work: its done() goes to its port from here, one hop fewer
		 * (issue 20 item 5: the queue's loop woke only to forward it).
		 * The rest, and every op of a batch that failed, go through the
		 * done list, whose pause bookkeeping is the queue's loop's. */
		direct = NULL;
		dtail = &direct;
		rest = batch;
		if (!__atomic_load_n(&q->writes_failing, __ATOMIC_ACQUIRE)) {
			struct writer_op **pp = &rest;
			int all_ok;

			for (op = batch; op != NULL && op->status == 0; op = op->next)
				;
			all_ok = op == NULL;
			while (all_ok && *pp != NULL) {
				struct writer_op *o = *pp;

				if (o->port != NULL && !o->queue_done) {
					*pp = o->next;
					o->next = NULL;
					*dtail = o;
					dtail = &o->next;
				} else
					pp = &o->next;
			}
		}
		pthread_mutex_lock(&q->wlock);
		if (rest != NULL) {
			for (op = rest; op->next != NULL; op = op->next)
				;
			*q->done_tail = rest;
			q->done_tail = &op->next;
		}
		idle = q->pending == NULL;
		pthread_mutex_unlock(&q->wlock);
		if (rest != NULL)
			uv_async_send(&q->async);
		for (op = direct; op != NULL; op = next) {
			next = op->next;
			free(op->audit);
			op->audit = NULL;
			port_post(op->port, op);
		}
		/* nothing waiting: top the key pool up now, so that no commit
		 * waits for a key store sync (keystore.c) */
		if (idle && q->have_master)
			ks_pool_idle(q->ks, q->master);
	}
	return NULL;
}

#define WRETRY_MIN_MS	500
#define WRETRY_MAX_MS	30000

int
writer_failure(int status)
{
	return status == -ENOSPC || status == -EFBIG || status == -EIO ||
	    status == -ENOMEM || status == -EDQUOT;
}

/* The probe write of a retry round with nothing held. */
static int
probe_apply(struct queue *q, struct db_txn *txn, struct writer_op *op)
{
	unsigned char v[8];

	(void)q;
	(void)op;
	put_be64(v, now_wall_ms());
	return db_put(txn, DB_META, "writeprobe", 10, v, sizeof(v));
}

static void wretry_arm(struct queue *q);

static void
probe_done(struct queue *q, struct writer_op *op, int status)
{
	free(op);
	if (writer_failure(status) && q->writes_failing)
		wretry_arm(q);	/* still failing: the next round */
}

static void
wretry_cb(uv_timer_t *t)
{
	struct queue *q = t->data;
	struct writer_op *list = q->held, *op, *next;

	if (q->closing || !q->writes_failing)
		return;
	if (q->wfail_rounds < 16)
		q->wfail_rounds++;
	q->held = NULL;
	q->held_tail = &q->held;
	if (list == NULL) {
		op = xcalloc(1, sizeof(*op));
		op->apply = probe_apply;
		op->done = probe_done;
		writer_submit(q, op);
		return;
	}
	for (op = list; op != NULL; op = next) {
		next = op->next;
		writer_submit(q, op);
	}
}

/* Arm the retry timer for the current round, unless it is armed. */
static void
wretry_arm(struct queue *q)
{
	uint64_t delay = (uint64_t)WRETRY_MIN_MS << (q->wfail_rounds < 16 ? q->wfail_rounds : 16);

	if (!q->timers_init || q->closing || uv_is_active((uv_handle_t *)&q->wretry_timer))
		return;
	if (delay > WRETRY_MAX_MS)
		delay = WRETRY_MAX_MS;
	uv_timer_start(&q->wretry_timer, wretry_cb, delay, 0);
}

/* A delivery result failed to write (STATUS): pause delivery until
 * writes work. */
static void
writer_failed(struct queue *q, int status)
{
	if (!q->writes_failing) {
		__atomic_store_n(&q->writes_failing, 1, __ATOMIC_RELEASE);
		q->wfail_rounds = 0;
		log_err("event=queue_writes_failing error=\"%s\"%s detail=\"delivery paused "
		    "until queue writes succeed\"", strerror(-status),
		    status == -ENOSPC ? " reason=disk_full" : status == -EFBIG ?
		    " reason=map_full" : "");
	}
	wretry_arm(q);
}

/* An op committed: writes work (again). */
static void
writer_ok(struct queue *q)
{
	struct writer_op *list, *op, *next;

	if (!q->writes_failing)
		return;
	__atomic_store_n(&q->writes_failing, 0, __ATOMIC_RELEASE);
	q->wfail_rounds = 0;
	log_info("event=queue_writes_resumed");
	if (q->timers_init)
		uv_timer_stop(&q->wretry_timer);
	list = q->held;
	q->held = NULL;
	q->held_tail = &q->held;
	for (op = list; op != NULL; op = next) {
		next = op->next;
		writer_submit(q, op);
	}
	sched_kick(q);
}

void
writer_hold(struct queue *q, struct writer_op *op)
{
	op->next = NULL;
	*q->held_tail = op;
	q->held_tail = &op->next;
	if (!q->writes_failing)
		writer_failed(q, op->status);
	wretry_arm(q);
}

void
writer_release_held(struct queue *q)
{
	struct writer_op *list = q->held, *op, *next;

	q->held = NULL;
	q->held_tail = &q->held;
	if (q->timers_init)
		uv_timer_stop(&q->wretry_timer);
	for (op = list; op != NULL; op = next) {
		next = op->next;
		writer_submit(q, op);
	}
}

/* ---- ports: done callbacks on the loop that submitted ---- */

struct queue_port {
	uv_async_t async;		/* on the port's loop */
	struct queue *q;		/* borrowed */
	pthread_mutex_t mu;
	struct writer_op *list, **tail;	/* done, to run on the port's loop */
	unsigned busy;			/* atomic: submitted, done() not run yet */
	int closed;			/* under mu: queue_port_close() was called */
	int adopted;			/* under mu: done() now runs on the queue's loop */
	struct queue_port *next;	/* q->ports (under q->wlock); freed by the queue */
};

static __thread struct queue_port *writer_cur_port;	/* queue_port_bind() */

/* Take P's posted ops (ADOPT: and close and adopt P, under its mutex)
 * and run their done() here. */
static void
port_run_posted(struct queue_port *p, int adopt)
{
	struct writer_op *list, *op, *next;

	pthread_mutex_lock(&p->mu);
	if (adopt) {
		p->closed = 1;
		p->adopted = 1;
	}
	list = p->list;
	p->list = NULL;
	p->tail = &p->list;
	pthread_mutex_unlock(&p->mu);
	for (op = list; op != NULL; op = next) {
		next = op->next;
		op->done(p->q, op, op->status);
		__atomic_sub_fetch(&p->busy, 1, __ATOMIC_ACQ_REL);
	}
}

static void
port_async_cb(uv_async_t *h)
{
	port_run_posted(h->data, 0);
}

/* On the queue's loop or the writer thread: hand OP to the loop that
 * submitted it. */
static void
port_post(struct queue_port *p, struct writer_op *op)
{
	struct queue *q = p->q;

	op->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->closed && p->adopted) {
		/* its loop's thread has ended: the callback runs on the
		 * queue's loop (from the writer thread: through its done list,
		 * whose writer_async_cb comes back here on that loop) */
		pthread_mutex_unlock(&p->mu);
		if (on_writer_thread) {
			pthread_mutex_lock(&q->wlock);
			*q->done_tail = op;
			q->done_tail = &op->next;
			pthread_mutex_unlock(&q->wlock);
			uv_async_send(&q->async);
			return;
		}
		op->done(q, op, op->status);
		__atomic_sub_fetch(&p->busy, 1, __ATOMIC_ACQ_REL);
		return;
	}
	if (p->closed) {
		/* its loop stopped with the op in flight (a forced stop):
		 * nobody is left to call back */
		pthread_mutex_unlock(&p->mu);
		log_warn("event=queue_callback_dropped reason=loop_stopped status=%d", op->status);
		__atomic_sub_fetch(&p->busy, 1, __ATOMIC_ACQ_REL);
		return;
	}
	*p->tail = op;
	p->tail = &op->next;
	uv_async_send(&p->async);
	pthread_mutex_unlock(&p->mu);
}

struct queue_port *
queue_port_new(struct queue *q, uv_loop_t *loop)
{
	struct queue_port *p = xcalloc(1, sizeof(*p));

	p->q = q;
	pthread_mutex_init(&p->mu, NULL);
	p->tail = &p->list;
	if (uv_async_init(loop, &p->async, port_async_cb) != 0)
		fatal("queue: uv_async_init for a loop's port failed");
	p->async.data = p;
	pthread_mutex_lock(&q->wlock);
	p->next = q->ports;
	q->ports = p;
	pthread_mutex_unlock(&q->wlock);
	return p;
}

void
queue_port_bind(struct queue_port *p)
{
	writer_cur_port = p;
}

unsigned
queue_port_busy(const struct queue_port *p)
{
	return __atomic_load_n(&p->busy, __ATOMIC_ACQUIRE);
}

static void
port_closed(uv_handle_t *h)
{
	(void)h;	/* the queue frees ports (writer_free_ports) */
}

void
queue_port_close(struct queue_port *p)
{
	if (p == NULL)
		return;
	if (writer_cur_port == p)
		writer_cur_port = NULL;
	pthread_mutex_lock(&p->mu);
	p->closed = 1;
	pthread_mutex_unlock(&p->mu);
	uv_close((uv_handle_t *)&p->async, port_closed);
}

/* On the queue's loop, after P's loop thread ended (include/queue.h). */
void
queue_port_adopt(struct queue_port *p)
{
	if (p != NULL)
		port_run_posted(p, 1);	/* those posted that its loop did not run */
}

void
writer_free_ports(struct queue *q)
{
	struct queue_port *p, *next;

	for (p = q->ports; p != NULL; p = next) {
		next = p->next;
		pthread_mutex_destroy(&p->mu);
		free(p);
	}
	q->ports = NULL;
}

/* sched_kick() from a thread other than the queue's loop. */
int
writer_kick_elsewhere(struct queue *q)
{
	if (!q->async_init || uv_thread_equal(&q->loop_thread, &(uv_thread_t){ uv_thread_self() }))
		return 0;
	__atomic_store_n(&q->kick_pending, 1, __ATOMIC_RELEASE);
	uv_async_send(&q->async);
	return 1;
}

/* On the loop: run done callbacks of finished ops. */
static void
writer_async_cb(uv_async_t *h)
{
	struct queue *q = h->data;
	struct writer_op *list, *op, *next;

	if (__atomic_exchange_n(&q->kick_pending, 0, __ATOMIC_ACQ_REL))
		sched_kick(q);

	pthread_mutex_lock(&q->wlock);
	list = q->done_list;
	q->done_list = NULL;
	q->done_tail = &q->done_list;
	pthread_mutex_unlock(&q->wlock);
	for (op = list; op != NULL; op = next) {
		next = op->next;
		free(op->audit);
		op->audit = NULL;
		/* any write that commits ends a pause; only delivery results
		 * and probes start one (writer_hold): a commit refused while
		 * the map is full must not stop the deliveries that free it */
		if (!writer_failure(op->status))
			writer_ok(q);
		if (op->port != NULL && !op->queue_done)
			port_post(op->port, op);
		else
			op->done(q, op, op->status);
	}
}

void
writer_forward(struct queue *q, struct writer_op *op, writer_done_fn fn)
{
	(void)q;
	op->done = fn;
	port_post(op->port, op);
}

int
writer_start(struct queue *q)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&q->wlock, NULL);
	/* writer_linger() waits on the monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wcond, &ca);
	pthread_condattr_destroy(&ca);
	q->pending = NULL;
	q->pending_tail = &q->pending;
	q->done_list = NULL;
	q->done_tail = &q->done_list;
	q->held = NULL;
	q->held_tail = &q->held;
	q->loop_thread = uv_thread_self();	/* called on the queue's loop */
	if (uv_async_init(q->loop, &q->async, writer_async_cb) != 0)
		return -1;
	q->async.data = q;
	q->async_init = 1;
	if (pthread_create(&q->writer_thread, NULL, writer_main, q) != 0)
		return -1;
	q->writer_running = 1;
	return 0;
}

void
writer_submit(struct queue *q, struct writer_op *op)
{
	op->next = NULL;
	op->status = 0;
	/* from another loop's thread: its done() goes back there (a held op
	 * resubmitted on the queue's loop keeps the port it had) */
	if (op->port == NULL && writer_cur_port != NULL) {
		op->port = writer_cur_port;
		__atomic_add_fetch(&op->port->busy, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_lock(&q->wlock);
	*q->pending_tail = op;
	q->pending_tail = &op->next;
	pthread_cond_signal(&q->wcond);
	pthread_mutex_unlock(&q->wlock);
}

/* Set *FLAG (q->stopping, q->no_linger) under q->wlock and wake the
 * writer, idle or lingering, to look at it. */
static void
writer_wake_with(struct queue *q, int *flag)
{
	pthread_mutex_lock(&q->wlock);
	*flag = 1;
	pthread_cond_signal(&q->wcond);
	pthread_mutex_unlock(&q->wlock);
}

void
writer_stop(struct queue *q)
{
	if (!q->writer_running)
		return;
	writer_wake_with(q, &q->stopping);
	pthread_join(q->writer_thread, NULL);
	q->writer_running = 0;
	writer_async_cb(&q->async);
}

/* The daemon drains: a delivery engine's drain waits for its results,
 * and no new mail comes to take them along, so nothing lingers any
 * more (a wait under way ends now). */
void
writer_linger_end(struct queue *q)
{
	if (!q->writer_running)
		return;
	writer_wake_with(q, &q->no_linger);
}

/* queue_reload(): the settings changed; a linger under way re-reads them. */
void
writer_settings_changed(struct queue *q)
{
	if (!q->writer_running)
		return;
	pthread_mutex_lock(&q->wlock);
	pthread_cond_broadcast(&q->wcond);
	pthread_mutex_unlock(&q->wlock);
}

int
writer_run_sync(struct queue *q, struct writer_op *op)
{
	op->next = NULL;
	writer_run(q, op);
	free(op->audit);
	op->audit = NULL;
	return op->status;
}

void
writer_op_audit(struct writer_op *op, const struct queue_audit *audit)
{
	free(op->audit);
	op->audit = audit != NULL && audit->json != NULL ? xstrdup(audit->json) : NULL;
}
