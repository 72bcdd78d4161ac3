/* SPDX-License-Identifier: ISC */
/*
 * auth_pool.c: the bounded, per-address fair pool for password checks
 * (include/auth_pool.h says why it exists).
 *
 * Jobs wait in one FIFO per key (client address); keys that have jobs
 * wait in a ring, and a free thread takes the first job of the first
 * key and puts that key back at the end of the ring if it has more:
 * round-robin over addresses, FIFO within one.  Urgent jobs (pairs that
 * authenticated before) wait in their own FIFO, the urgent "key", which
 * is always taken first.  Finished and cancelled
 * jobs go to a done list that one uv_async drains on the loop, where
 * DONE runs.  The threads lower their own CPU priority (nice +19 per
 * thread, Linux setpriority on the thread id) so under a password flood
 * the loop and the uv pool (EOM policy, DKIM) get the CPU first.
 *
 * Everything shared sits under one mutex; the index (src/lib/hash.c) is
 * only touched with it held.  The owner (the relay) frees the pool only
 * once none of its jobs is outstanding.
 *
 * Loops (smtpd_loops): one pool serves every SMTP loop, so the number
 * of scrypt threads and the fairness over addresses do not multiply
 * with the loops.  A job submitted on a thread bound to a port
 * (auth_pool_port_bind) goes back to that port's loop: its done list
 * and uv_async, drained there.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth_pool.h"
#include "hash.h"
#include "log.h"
#include "util.h"

#define AUTH_POOL_NICE 19

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct auth_pool_job {
	struct auth_pool_job *prev, *next;	/* its key's FIFO, or the done list */
	struct keyq *q;				/* while queued */
	auth_pool_work_fn work;
	auth_pool_done_fn done;
	void *arg;
	enum job_state state;
	int status;
	struct auth_pool_port *port;		/* where DONE runs; NULL: the pool's loop */
};

/* Another loop's way back (smtpd_loops); its list is under the pool's mu. */
struct auth_pool_port {
	uv_async_t async;			/* on the port's loop */
	struct auth_pool *p;			/* borrowed */
	struct auth_pool_job *done_head, *done_tail;
	int closed;				/* under mu: no loop drains it any more */
	struct auth_pool_port *next;		/* p->ports; freed with the pool */
};

static __thread struct auth_pool_port *pool_cur_port;	/* auth_pool_port_bind() */

struct keyq {
	struct keyq *ring_next;			/* the ring of keys with jobs */
	struct auth_pool_job *head, *tail;
	char *key;				/* owned */
};

struct auth_pool {
	uv_loop_t *loop;
	uv_async_t async;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
	unsigned nthreads;
	struct hash *keys;			/* key -> struct keyq (borrowed: freed by hand) */
	struct keyq *ring_head, *ring_tail;
	struct keyq urgent;			/* taken before the ring; not in keys */
	struct auth_pool_job *done_head, *done_tail;
	struct auth_pool_port *ports;		/* other loops' (owned) */
	unsigned queued, running;
	int stopping;
};

/* J is finished or cancelled: to its done list, and wake that list's
 * loop.  Lock held. */
static void
pool_done_push(struct auth_pool *p, struct auth_pool_job *j, int status)
{
	struct auth_pool_job **head = &p->done_head, **tail = &p->done_tail;
	uv_async_t *wake = &p->async;

	j->state = JOB_DONE;
	j->status = status;
	if (j->port != NULL && !j->port->closed) {
		/* (a closed port's loop is gone: its session was freed and
		 * cancelled the request, so DONE only frees it, and runs on
		 * the pool's own loop) */
		head = &j->port->done_head;
		tail = &j->port->done_tail;
		wake = &j->port->async;
	}
	j->next = NULL;
	j->prev = *tail;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
	uv_async_send(wake);
}

/* Unlink J from its key's FIFO; drop the key when it has no more jobs.
 * The key stays in the ring when it is there (pool_take skips empty keys). */
static void
pool_unlink(struct auth_pool *p, struct auth_pool_job *j)
{
	struct keyq *q = j->q;

	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		q->head = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else
		q->tail = j->prev;
	j->prev = j->next = NULL;
	j->q = NULL;
	p->queued--;
}

/* The next job, round-robin over keys; NULL when none waits.  Lock held. */
static struct auth_pool_job *
pool_take(struct auth_pool *p)
{
	if (p->urgent.head != NULL) {
		struct auth_pool_job *j = p->urgent.head;

		pool_unlink(p, j);
		return j;
	}
	while (p->ring_head != NULL) {
		struct keyq *q = p->ring_head;
		struct auth_pool_job *j = q->head;

		p->ring_head = q->ring_next;
		if (p->ring_head == NULL)
			p->ring_tail = NULL;
		q->ring_next = NULL;
		if (j == NULL) {
			/* emptied by cancels: forget the key */
			hash_dels(p->keys, q->key);
			free(q->key);
			free(q);
			continue;
		}
		pool_unlink(p, j);
		if (q->head != NULL) {
			/* more from this key: to the back of the ring */
			if (p->ring_tail != NULL)
				p->ring_tail->ring_next = q;
			else
				p->ring_head = q;
			p->ring_tail = q;
		} else {
			hash_dels(p->keys, q->key);
			free(q->key);
			free(q);
		}
		return j;
	}
	return NULL;
}

static void *
pool_thread(void *arg)
{
	struct auth_pool *p = arg;

	thread_name("auth-check");
#ifdef SYS_gettid
	/* Per-thread nice on Linux: lower only our own threads' priority. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), AUTH_POOL_NICE);
#endif
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct auth_pool_job *j = NULL;

		while (!p->stopping && (j = pool_take(p)) == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping || j == NULL)
			break;
		j->state = JOB_RUNNING;
		p->running++;
		pthread_mutex_unlock(&p->mu);
		j->work(j->arg);
		pthread_mutex_lock(&p->mu);
		p->running--;
		pool_done_push(p, j, 0);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Loop thread: run DONE of everything finished or cancelled. */
static void
pool_drain(struct auth_pool *p)
{
	struct auth_pool_job *j, *next;

	pthread_mutex_lock(&p->mu);
	j = p->done_head;
	p->done_head = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		j->done(j->arg, j->status);
		free(j);
	}
}

static void
pool_async_cb(uv_async_t *a)
{
	pool_drain(a->data);
}

unsigned
auth_pool_default_threads(void)
{
	unsigned cores = uv_available_parallelism();

	return cores >= 2 ? cores / 2 : 1;
}

/* A port's loop: run DONE of its jobs. */
static void
port_async_cb(uv_async_t *a)
{
	struct auth_pool_port *pp = a->data;
	struct auth_pool_job *j, *next;

	pthread_mutex_lock(&pp->p->mu);
	j = pp->done_head;
	pp->done_head = pp->done_tail = NULL;
	pthread_mutex_unlock(&pp->p->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		j->done(j->arg, j->status);
		free(j);
	}
}

struct auth_pool_port *
auth_pool_port_new(struct auth_pool *p, uv_loop_t *loop)
{
	struct auth_pool_port *pp = xcalloc(1, sizeof(*pp));

	pp->p = p;
	if (uv_async_init(loop, &pp->async, port_async_cb) != 0)
		fatal("auth pool: uv_async_init for a loop's port failed");
	pp->async.data = pp;
	pthread_mutex_lock(&p->mu);
	pp->next = p->ports;
	p->ports = pp;
	pthread_mutex_unlock(&p->mu);
	return pp;
}

void
auth_pool_port_bind(struct auth_pool_port *pp)
{
	pool_cur_port = pp;
}

static void
port_handle_closed(uv_handle_t *h)
{
	(void)h;	/* freed with the pool */
}

void
auth_pool_port_close(struct auth_pool_port *pp)
{
	if (pp == NULL)
		return;
	if (pool_cur_port == pp)
		pool_cur_port = NULL;
	pthread_mutex_lock(&pp->p->mu);
	pp->closed = 1;
	pthread_mutex_unlock(&pp->p->mu);
	port_async_cb(&pp->async);	/* what came back before the close, on its loop */
	uv_close((uv_handle_t *)&pp->async, port_handle_closed);
}

struct auth_pool *
auth_pool_new(uv_loop_t *loop, unsigned nthreads)
{
	struct auth_pool *p = xcalloc(1, sizeof(*p));
	unsigned i;

	if (nthreads == 0)
		nthreads = 1;
	p->loop = loop;
	p->keys = hash_new(NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (uv_async_init(loop, &p->async, pool_async_cb) != 0) {
		hash_free(p->keys);
		free(p);
		return NULL;
	}
	p->async.data = p;
	p->threads = xcalloc(nthreads, sizeof(*p->threads));
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_thread, p) != 0)
			break;
		p->nthreads++;
	}
	if (p->nthreads == 0) {
		log_err("event=auth_pool_failed error=\"cannot start threads\"");
		auth_pool_free(p);
		return NULL;
	}
	return p;
}

static void
pool_closed(uv_handle_t *h)
{
	struct auth_pool *p = h->data;
	struct auth_pool_port *pp, *next;

	for (pp = p->ports; pp != NULL; pp = next) {
		next = pp->next;
		free(pp);
	}
	hash_free(p->keys);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}

void
auth_pool_free(struct auth_pool *p)
{
	struct auth_pool_job *j;
	unsigned i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	while ((j = pool_take(p)) != NULL)
		pool_done_push(p, j, UV_ECANCELED);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pool_drain(p);
	uv_close((uv_handle_t *)&p->async, pool_closed);
}

struct auth_pool_job *
auth_pool_submit(struct auth_pool *p, const char *key, int urgent, auth_pool_work_fn work,
    auth_pool_done_fn done, void *arg)
{
	struct auth_pool_job *j;
	struct keyq *q;

	pthread_mutex_lock(&p->mu);
	if (p->stopping || p->queued >= AUTH_POOL_MAX_QUEUED) {
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->state = JOB_QUEUED;
	if (pool_cur_port != NULL && pool_cur_port->p == p)
		j->port = pool_cur_port;	/* submitted on another loop: DONE runs there */
	if (urgent) {
		q = &p->urgent;
	} else if ((q = hash_gets(p->keys, key)) == NULL) {
		q = xcalloc(1, sizeof(*q));
		q->key = xstrdup(key);
		hash_puts(p->keys, key, q);
	}
	if (!urgent && q->head == NULL && q->ring_next == NULL && p->ring_tail != q) {
		/* not in the ring yet */
		if (p->ring_tail != NULL)
			p->ring_tail->ring_next = q;
		else
			p->ring_head = q;
		p->ring_tail = q;
	}
	j->q = q;
	j->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	p->queued++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return j;
}

int
auth_pool_cancel(struct auth_pool *p, struct auth_pool_job *j)
{
	int rc = -1;

	pthread_mutex_lock(&p->mu);
	if (j->state == JOB_QUEUED) {
		pool_unlink(p, j);
		pool_done_push(p, j, UV_ECANCELED);
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

unsigned
auth_pool_pending(const struct auth_pool *p)
{
	unsigned n;

	pthread_mutex_lock((pthread_mutex_t *)&p->mu);
	n = p->queued + p->running;
	pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
	return n;
}
