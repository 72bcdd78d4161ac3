/* SPDX-License-Identifier: ISC */
/*
 * loops.c: the delivery loops (issue 20 item 3; README Architecture
 * "Loops").  delivery_loops engines (src/outbound/delivery.c), each on
 * its own event loop: engine 0 on the daemon's loop (the queue's),
 * engines 1..N-1 on loops of their own, one thread each.  An engine's
 * destinations, connections, resolver (c-ares channel), TLS client
 * context and timers are its loop's alone; what the engines share is
 * in struct delivery, each part under its own rule:
 *
 *  - the dispatcher runs on loop 0 only.  The queue's due callback
 *    lands there; it takes due jobs (queue_take_due, the queue's
 *    in-flight set being loop 0's) and hands each destination's
 *    recipients to one of the engines through that engine's mailbox
 *    (a list under the loop's mutex and a uv_async).  A message whose
 *    recipients go to different engines is split (queue_job_split),
 *    so an item never spans loops;
 *  - a destination (recipient domain) is served by k = min(N,
 *    smtp_destination_concurrency) engines, k = 1 when
 *    smtp_destination_rate is set (one engine counts the minute
 *    exactly), chosen from the domain's hash; its messages go round
 *    robin over them, and each may open its share of the concurrency
 *    (the shares add up to the limit).  The limit itself is one count
 *    per domain under dest_mu (dl_dest_conn_take): after a reload
 *    moves a domain to fewer engines, the engines that still hold its
 *    items stay within it too; so is smtp_destination_rate's minute
 *    (dl_dest_rate), for the same reason;
 *  - results: an engine reports through the queue with its loop's
 *    queue_port bound, so the queue's bookkeeping of a report runs on
 *    loop 0 and only the engine's callback comes back to its loop
 *    (queue/retry.c); DSNs, suppressions and account triggers are
 *    queue writes like any other;
 *  - the per-account outcome windows (review triggers) are one object
 *    under abuse_mu, so an account's bounce rate counts every loop;
 *    connection ids come from one atomic counter; each engine's
 *    counters are under its st_mu and summed for the metrics.
 *
 * Reload posts each engine its new params (built and checked by the
 * caller first); drain tells every engine to stop taking work, and an
 * engine is drained when its connections are closed and the queue has
 * answered what it submitted (bounded by DL_PORT_WAIT_MS); stop tells
 * each loop to close everything and waits (bounded) for its thread.
 * An engine stopped off loop 0 closes its port; once its thread is
 * joined, loop 0 adopts the port (queue_port_adopt), so a queue answer
 * that comes later (a result held while writes failed, released at
 * queue_close) runs on loop 0 and frees the stopped engine's items and
 * at last the engine.  Only after a forced stop (the thread did not
 * end) are such answers dropped.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "delivery.h"
#include "hash.h"
#include "log.h"
#include "outbound_int.h"
#include "queue.h"
#include "util.h"

#define DL_JOIN_MS 5000			/* stop: wait this long for a loop's thread */
#define DL_PORT_WAIT_MS 2000		/* drain: wait this long for the queue's answers */

enum { DLC_RELOAD = 1, DLC_DRAIN = 2, DLC_STOP = 4 };

struct dl_jobmsg {
	struct queue_job *job;
	struct dl_jobmsg *next;
};

/* One delivery loop; for index 0 only s, index and eng are used. */
struct dl_loop {
	struct delivery *s;
	unsigned index;
	struct dl_engine *eng;
	int loop0_drained;		/* index 0: its engine drained */
	/* index > 0: the loop's thread owns everything but mu's fields */
	uv_loop_t loop;
	int loop_init;
	uv_thread_t thread;
	int thread_started;
	uv_async_t async;
	uv_timer_t drain_timer;
	struct queue_port *port;
	uint64_t drain_since;
	pthread_mutex_t mu;		/* guards what follows */
	pthread_cond_t cv;
	unsigned cmds;			/* DLC_* pending */
	struct dl_jobmsg *jobs, **jtail;
	struct delivery_params reload_p;
	int have_reload;
	int closed;			/* the mailbox is closed: post nothing */
	int exited;			/* the thread left uv_run */
	size_t njobs;			/* atomic: jobs in the mailbox */
};

/* ---- shared helpers ---- */

static unsigned
dest_engines(const struct delivery *s, int64_t concurrency, int64_t rate)
{
	unsigned k = s->n;

	if (rate > 0)
		k = 1;
	if (concurrency < 1)
		concurrency = 1;
	if ((int64_t)k > concurrency)
		k = (unsigned)concurrency;
	return k;
}

int64_t
dl_dest_share(const struct dl_engine *dl, const char *domain, int64_t concurrency)
{
	const struct delivery *s = dl->set;
	unsigned k, first, i;

	if (s == NULL || s->n <= 1)
		return concurrency;
	k = dest_engines(s, concurrency, dl->p.rate);
	first = dl_domain_hash(domain) % s->n;
	i = (dl->index + s->n - first) % s->n;
	if (i >= k)
		return 1;	/* not one of its engines (a reload changed the split) */
	return concurrency / k + ((int64_t)i < concurrency % k);
}

/*
 * The limit over all engines: the shares say how many connections each
 * engine may open to a domain, and this count makes sure they never add
 * up to more than the limit, also while a reload moves a domain to fewer
 * engines (an engine that is no longer one of the domain's finishes the
 * items it holds, one connection at a time, within the limit).
 */
int
dl_dest_conn_take(struct dl_engine *dl, const char *domain, int64_t limit)
{
	struct delivery *s = dl->set;
	uintptr_t n;

	if (s == NULL || s->n <= 1)
		return 1;	/* one engine: its own count is the limit */
	pthread_mutex_lock(&s->dest_mu);
	n = (uintptr_t)hash_gets(s->dest_conns, domain);
	if ((int64_t)n >= limit) {
		pthread_mutex_unlock(&s->dest_mu);
		return 0;
	}
	hash_puts(s->dest_conns, domain, (void *)(n + 1));
	pthread_mutex_unlock(&s->dest_mu);
	return 1;
}

void
dl_dest_conn_give(struct dl_engine *dl, const char *domain)
{
	struct delivery *s = dl->set;
	uintptr_t n;

	if (s == NULL || s->n <= 1)
		return;
	pthread_mutex_lock(&s->dest_mu);
	n = (uintptr_t)hash_gets(s->dest_conns, domain);
	if (n <= 1)
		(void)hash_dels(s->dest_conns, domain);
	else
		hash_puts(s->dest_conns, domain, (void *)(n - 1));
	pthread_mutex_unlock(&s->dest_mu);
}

/* One domain's minute of smtp_destination_rate over all engines. */
struct dl_rate {
	uint64_t window;	/* start of the current minute (mono ms) */
	int64_t count;
};

#define DL_RATE_SWEEP 1024	/* more domains than this: drop the stale ones */

int
dl_dest_rate(struct dl_engine *dl, const char *domain, int64_t rate, int take)
{
	struct delivery *s = dl->set;
	uint64_t now = now_mono_ms();
	struct dl_rate *r;
	int ok = 0;

	pthread_mutex_lock(&s->dest_mu);
	if (hash_count(s->dest_rates) > DL_RATE_SWEEP) {
		struct hash_iter it;
		const char *k;
		size_t kl;
		void *v;

		hash_iter_init(&it, s->dest_rates);
		while (hash_next(&it, &k, &kl, &v))
			if (now - ((struct dl_rate *)v)->window >= 60000)
				(void)hash_del(s->dest_rates, k, kl);
	}
	if ((r = hash_gets(s->dest_rates, domain)) == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->window = now;
		hash_puts(s->dest_rates, domain, r);
	}
	if (now - r->window >= 60000) {
		r->window = now;
		r->count = 0;
	}
	if (r->count < rate) {
		ok = 1;
		if (take)
			r->count++;
	}
	pthread_mutex_unlock(&s->dest_mu);
	return ok;
}

static size_t
set_items(struct delivery *s)
{
	size_t n = 0, i;

	for (i = 0; i < s->n; i++) {
		if (s->loops[i].eng != NULL)
			n += dl_engine_items(s->loops[i].eng);
		n += __atomic_load_n(&s->loops[i].njobs, __ATOMIC_RELAXED);
	}
	return n;
}

void
dl_set_room(struct delivery *s)
{
	if (s == NULL || !__atomic_load_n(&s->full, __ATOMIC_ACQUIRE) ||
	    set_items(s) >= DL_MAX_ITEMS / 2)
		return;
	if (__atomic_exchange_n(&s->full, 0, __ATOMIC_ACQ_REL))
		uv_async_send(&s->back);	/* set_pump() on loop 0 */
}

/* ---- loops 1..N-1: their side ---- */

static void
loop_handle_closed(uv_handle_t *h)
{
	(void)h;	/* the handles live in struct dl_loop */
}

static void
loop_told_drained(struct dl_loop *L)
{
	__atomic_add_fetch(&L->s->drained, 1, __ATOMIC_ACQ_REL);
	uv_async_send(&L->s->back);
}

static void
drain_timer_cb(uv_timer_t *t)
{
	struct dl_loop *L = t->data;

	if (queue_port_busy(L->port) == 0 || now_mono_ms() - L->drain_since >= DL_PORT_WAIT_MS) {
		uv_timer_stop(t);
		loop_told_drained(L);
	}
}

void
dl_set_engine_drained(struct dl_engine *dl)
{
	struct delivery *s = dl->set;
	struct dl_loop *L = &s->loops[dl->index];

	if (dl->index == 0) {
		L->loop0_drained = 1;
		uv_async_send(&s->back);	/* checked on loop 0, outside this call */
		return;
	}
	/* its connections are closed; let the queue answer what it has */
	L->drain_since = now_mono_ms();
	uv_timer_start(&L->drain_timer, drain_timer_cb, 0, 10);
}

static void
loop_stop(struct dl_loop *L)
{
	struct dl_jobmsg *jm, *next;

	pthread_mutex_lock(&L->mu);
	L->closed = 1;
	jm = L->jobs;
	L->jobs = NULL;
	L->jtail = &L->jobs;
	pthread_mutex_unlock(&L->mu);
	for (; jm != NULL; jm = next) {
		next = jm->next;
		queue_job_free(jm->job);	/* stays due after a restart */
		free(jm);
	}
	__atomic_store_n(&L->njobs, 0, __ATOMIC_RELAXED);
	/* results still in the queue (held while writes fail) come back
	 * to it on loop 0 once this thread is joined (loop_free adopts
	 * the port), and free what they hold */
	if (L->eng != NULL)
		dl_engine_free(L->eng);
	L->eng = NULL;
	queue_port_close(L->port);
	uv_timer_stop(&L->drain_timer);
	uv_close((uv_handle_t *)&L->drain_timer, loop_handle_closed);
	uv_close((uv_handle_t *)&L->async, loop_handle_closed);
}

static void
loop_async_cb(uv_async_t *h)
{
	struct dl_loop *L = h->data;
	struct dl_jobmsg *jm, *next;
	struct delivery_params p;
	int have_p;
	unsigned cmds;

	pthread_mutex_lock(&L->mu);
	cmds = L->cmds;
	L->cmds = 0;
	jm = L->jobs;
	L->jobs = NULL;
	L->jtail = &L->jobs;
	have_p = L->have_reload;
	if (have_p)
		p = L->reload_p;
	L->have_reload = 0;
	memset(&L->reload_p, 0, sizeof(L->reload_p));
	pthread_mutex_unlock(&L->mu);
	if (L->eng == NULL) {
		if (have_p)
			delivery_params_free(&p);
		return;
	}
	/* in the order they were posted: a reload before the jobs after it */
	if (have_p)
		dl_engine_reload(L->eng, &p);
	for (; jm != NULL; jm = next) {
		next = jm->next;
		__atomic_sub_fetch(&L->njobs, 1, __ATOMIC_RELAXED);
		if (cmds & DLC_STOP)
			queue_job_free(jm->job);
		else
			dl_engine_take(L->eng, jm->job);
		free(jm);
	}
	if ((cmds & DLC_DRAIN) && !(cmds & DLC_STOP) && dl_engine_drain(L->eng) == 0)
		dl_set_engine_drained(L->eng);
	if (cmds & DLC_STOP)
		loop_stop(L);
}

static void
loop_thread_main(void *arg)
{
	struct dl_loop *L = arg;
	sigset_t all;
	char name[16];

	snprintf(name, sizeof(name), "delivery-%u", L->index);
	thread_name(name);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);	/* signals are loop 0's (daemon.c) */
	queue_port_bind(L->port);	/* queue callbacks come back to this loop */
	uv_run(&L->loop, UV_RUN_DEFAULT);
	pthread_mutex_lock(&L->mu);
	L->exited = 1;
	pthread_cond_broadcast(&L->cv);
	pthread_mutex_unlock(&L->mu);
}

/* ---- loop 0's side ---- */

/* Post CMDS (and a job or params) to L; 0, or -1 when its mailbox is closed. */
static int
loop_post(struct dl_loop *L, unsigned cmds, struct queue_job *job, struct delivery_params *p)
{
	pthread_mutex_lock(&L->mu);
	if (L->closed || L->exited) {
		pthread_mutex_unlock(&L->mu);
		return -1;
	}
	L->cmds |= cmds;
	if (job != NULL) {
		struct dl_jobmsg *jm = xcalloc(1, sizeof(*jm));

		jm->job = job;
		*L->jtail = jm;
		L->jtail = &jm->next;
		__atomic_add_fetch(&L->njobs, 1, __ATOMIC_RELAXED);
	}
	if (p != NULL) {
		if (L->have_reload)
			delivery_params_free(&L->reload_p);
		L->reload_p = *p;
		memset(p, 0, sizeof(*p));
		L->have_reload = 1;
	}
	uv_async_send(&L->async);
	pthread_mutex_unlock(&L->mu);
	return 0;
}

static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* The engine for DOMAIN's message number C. */
static unsigned
engine_for(const struct delivery *s, const char *domain, uint64_t c)
{
	unsigned k = dest_engines(s, s->concurrency, s->rate);

	return (unsigned)((dl_domain_hash(domain) + c % k) % s->n);
}

static void
post_job(struct delivery *s, unsigned e, struct queue_job *job)
{
	if (e != 0 && loop_post(&s->loops[e], 0, job, NULL) == 0)
		return;
	dl_engine_take(s->loops[0].eng, job);
}

/* Hand JOB's recipients to their engines (split by destination). */
static void
set_dispatch(struct delivery *s, struct queue_job *job)
{
	struct queue_msg *m = job->msg;
	uint64_t c = s->rr++;
	unsigned first, e;
	size_t i;

	if (s->n == 1) {
		dl_engine_take(s->loops[0].eng, job);
		return;
	}
	first = engine_for(s, rcpt_domain(m->rcpts[0].addr), c);
	for (;;) {
		struct queue_job *part;
		int other = -1;

		m = job->msg;
		if (s->move_len < m->nrcpts) {
			s->move = xrealloc(s->move, m->nrcpts);
			s->move_len = m->nrcpts;
		}
		for (i = 0; i < m->nrcpts; i++) {
			e = engine_for(s, rcpt_domain(m->rcpts[i].addr), c);
			if (e != first && other < 0)
				other = (int)e;
			s->move[i] = 0;
		}
		if (other < 0)
			break;
		for (i = 0; i < m->nrcpts; i++)
			s->move[i] = engine_for(s, rcpt_domain(m->rcpts[i].addr), c) == (unsigned)other;
		if ((part = queue_job_split(s->q, job, s->move)) == NULL)
			break;	/* cannot copy it: the rest go with the first */
		post_job(s, (unsigned)other, part);
	}
	post_job(s, first, job);
}

static void
set_pump(struct delivery *s)
{
	struct queue_job *jobs[DL_TAKE_BATCH];
	size_t n, i;

	if (s->draining || s->stopped || !s->enabled)
		return;
	while (set_items(s) < DL_MAX_ITEMS) {
		n = queue_take_due(s->q, jobs, DL_TAKE_BATCH);
		for (i = 0; i < n; i++)
			set_dispatch(s, jobs[i]);
		if (n < DL_TAKE_BATCH)
			return;
	}
	/* full: the engines' reports make room (dl_set_room) */
	__atomic_store_n(&s->full, 1, __ATOMIC_RELEASE);
	if (set_items(s) < DL_MAX_ITEMS / 2 && __atomic_exchange_n(&s->full, 0, __ATOMIC_ACQ_REL))
		uv_async_send(&s->back);
}

static void
due_cb(void *arg)
{
	set_pump(arg);
}

static void
set_check_drained(struct delivery *s)
{
	void (*cb)(void *);

	if (!s->draining || s->stopped || s->drained_cb == NULL || !s->loops[0].loop0_drained ||
	    __atomic_load_n(&s->drained, __ATOMIC_ACQUIRE) + 1 < s->n)
		return;
	cb = s->drained_cb;
	s->drained_cb = NULL;
	cb(s->drained_arg);
}

static void
back_cb(uv_async_t *h)
{
	struct delivery *s = h->data;

	set_pump(s);
	set_check_drained(s);
}

static void
back_closed(uv_handle_t *h)
{
	struct delivery *s = h->data;

	pthread_mutex_destroy(&s->abuse_mu);
	pthread_mutex_destroy(&s->dest_mu);
	hash_free(s->dest_conns);
	hash_free(s->dest_rates);
	hash_free(s->moving);
	abuse_free(s->abuse);
	free(s->move);
	free(s->loops);
	free(s);
}

/* A loop that never started its thread, or whose thread ended: close
 * what is left on it and free it. */
static void
loop_free(struct dl_loop *L)
{
	if (!L->loop_init)
		return;
	if (!L->closed) {
		L->closed = 1;
		if (L->eng != NULL)
			dl_engine_free(L->eng);	/* its answers: queue_port_adopt below */
		L->eng = NULL;
		queue_port_close(L->port);
		uv_close((uv_handle_t *)&L->drain_timer, loop_handle_closed);
		uv_close((uv_handle_t *)&L->async, loop_handle_closed);
	}
	uv_run(&L->loop, UV_RUN_DEFAULT);	/* the close callbacks left */
	(void)uv_loop_close(&L->loop);
	/* its thread is gone: the queue's late answers to its engine run
	 * here, on loop 0 (the engine is stopped: they only free) */
	queue_port_adopt(L->port);
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->cv);
	L->loop_init = 0;
}

/* Wait (bounded) for L's thread to end; 1 when it did and was joined. */
static int
loop_join(struct dl_loop *L)
{
	if (!L->thread_started)
		return 1;
	if (!cond_wait_flag(&L->mu, &L->cv, &L->exited, DL_JOIN_MS)) {
		log_warn("event=delivery_loop_stop_forced loop=%u", L->index);
		return 0;
	}
	uv_thread_join(&L->thread);
	L->thread_started = 0;
	return 1;
}

static void
params_array_free(struct delivery_params *p, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		delivery_params_free(&p[i]);
}

struct delivery *
delivery_new(uv_loop_t *loop, struct queue *q, unsigned nloops, struct delivery_params *p,
    char *err, size_t errlen)
{
	struct delivery *s;
	unsigned i;

	if (nloops < 1)
		nloops = 1;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->q = q;
	s->n = nloops;
	s->loops = xcalloc(nloops, sizeof(*s->loops));
	s->concurrency = p[0].concurrency;
	s->rate = p[0].rate;
	s->enabled = p[0].enabled;
	pthread_mutex_init(&s->abuse_mu, NULL);
	pthread_mutex_init(&s->dest_mu, NULL);
	s->dest_conns = hash_new(NULL);
	s->dest_rates = hash_new(free);
	s->moving = hash_new(NULL);
	if (uv_async_init(loop, &s->back, back_cb) != 0) {
		snprintf(err, errlen, "delivery: uv_async_init failed");
		params_array_free(p, nloops);
		pthread_mutex_destroy(&s->abuse_mu);
		pthread_mutex_destroy(&s->dest_mu);
		hash_free(s->dest_conns);
		hash_free(s->dest_rates);
		hash_free(s->moving);
		free(s->loops);
		free(s);
		return NULL;
	}
	s->back.data = s;
	s->back_init = 1;
	for (i = 0; i < nloops; i++) {
		struct dl_loop *L = &s->loops[i];

		L->s = s;
		L->index = i;
		if (i == 0) {
			L->eng = dl_engine_new(loop, q, s, 0, &p[0], err, errlen);
			if (L->eng == NULL)
				goto fail;
			continue;
		}
		pthread_mutex_init(&L->mu, NULL);
		pthread_cond_init(&L->cv, NULL);
		L->jtail = &L->jobs;
		if (uv_loop_init(&L->loop) != 0) {
			pthread_mutex_destroy(&L->mu);
			pthread_cond_destroy(&L->cv);
			snprintf(err, errlen, "delivery loop %u: uv_loop_init failed", i);
			goto fail;
		}
		L->loop_init = 1;
		uv_async_init(&L->loop, &L->async, loop_async_cb);
		L->async.data = L;
		uv_timer_init(&L->loop, &L->drain_timer);
		L->drain_timer.data = L;
		L->port = queue_port_new(q, &L->loop);
		L->eng = dl_engine_new(&L->loop, q, s, i, &p[i], err, errlen);
		if (L->eng == NULL)
			goto fail;
	}
	for (i = 1; i < nloops; i++) {
		if (uv_thread_create(&s->loops[i].thread, loop_thread_main, &s->loops[i]) != 0) {
			snprintf(err, errlen, "delivery loop %u: cannot start its thread", i);
			goto fail;
		}
		s->loops[i].thread_started = 1;
	}
	queue_set_due_callback(q, due_cb, s);
	return s;
fail:
	params_array_free(p, nloops);
	s->stopped = 1;
	for (i = 1; i < nloops; i++)
		if (s->loops[i].thread_started)
			(void)loop_post(&s->loops[i], DLC_STOP, NULL, NULL);
	for (i = 1; i < nloops; i++)
		if (loop_join(&s->loops[i]))
			loop_free(&s->loops[i]);
	if (s->loops[0].eng != NULL)
		dl_engine_free(s->loops[0].eng);
	uv_close((uv_handle_t *)&s->back, back_closed);
	return NULL;
}

int
delivery_reload(struct delivery *s, struct delivery_params *p, char *err, size_t errlen)
{
	unsigned i;

	(void)err;
	(void)errlen;
	s->concurrency = p[0].concurrency;
	s->rate = p[0].rate;
	s->enabled = p[0].enabled;
	dl_engine_reload(s->loops[0].eng, &p[0]);
	for (i = 1; i < s->n; i++)
		if (loop_post(&s->loops[i], DLC_RELOAD, NULL, &p[i]) != 0)
			delivery_params_free(&p[i]);
	set_pump(s);	/* delivery_enabled may have been switched on */
	return 0;
}

int
delivery_drain(struct delivery *s, void (*done)(void *arg), void *arg)
{
	unsigned i;

	s->draining = 1;
	s->drained_cb = done;
	s->drained_arg = arg;
	if (dl_engine_drain(s->loops[0].eng) == 0)
		s->loops[0].loop0_drained = 1;
	for (i = 1; i < s->n; i++)
		if (loop_post(&s->loops[i], DLC_DRAIN, NULL, NULL) != 0)
			__atomic_add_fetch(&s->drained, 1, __ATOMIC_ACQ_REL);
	if (s->loops[0].loop0_drained && __atomic_load_n(&s->drained, __ATOMIC_ACQUIRE) + 1 >= s->n) {
		s->drained_cb = NULL;
		return 0;
	}
	return 1;
}

void
delivery_free(struct delivery *s)
{
	unsigned i;
	int all = 1;

	if (s == NULL)
		return;
	s->stopped = 1;
	s->draining = 1;
	queue_set_due_callback(s->q, NULL, NULL);
	for (i = 1; i < s->n; i++)
		if (s->loops[i].thread_started)
			(void)loop_post(&s->loops[i], DLC_STOP, NULL, NULL);
	for (i = 1; i < s->n; i++) {
		if (loop_join(&s->loops[i]))
			loop_free(&s->loops[i]);
		else
			all = 0;
	}
	dl_engine_free(s->loops[0].eng);
	s->loops[0].eng = NULL;
	if (all)
		uv_close((uv_handle_t *)&s->back, back_closed);
	/* else: a loop still running may reach S; the process ends */
}

void
delivery_get_stats(const struct delivery *s, struct delivery_stats *st)
{
	struct delivery_stats one;
	unsigned i;
	size_t c;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < s->n; i++) {
		if (s->loops[i].eng == NULL)
			continue;
		dl_engine_stats(s->loops[i].eng, &one);
		if (i == 0) {
			*st = one;
			continue;
		}
		st->connections += one.connections;
		st->sessions += one.sessions;
		st->messages += one.messages;
		st->delivered += one.delivered;
		st->deferred += one.deferred;
		st->bounced += one.bounced;
		st->dsns += one.dsns;
		for (c = 0; c < DEST_CLASS_MAX; c++) {
			st->by_class[c][0] += one.by_class[c][0];
			st->by_class[c][1] += one.by_class[c][1];
			st->by_class[c][2] += one.by_class[c][2];
		}
	}
}

unsigned
delivery_loops(const struct delivery *s)
{
	return s->n;
}
