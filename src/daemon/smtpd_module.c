/* SPDX-License-Identifier: ISC */
/*
 * smtpd_module.c: the "smtpd" module of posternd's module table
 * (src/daemon/daemon.c): a relay (src/inbound/relay.c) on d->queue plus
 * the SMTP listeners (src/inbound/listener.c), on each of smtpd_loops
 * event loops.  It never reads the config file: the listener and the
 * relay take their own references to d->cfg, each session and each
 * relay job one to the config it started with, so an old config lives
 * exactly as long as something uses it.  Reload hands both the new
 * config (the certificate was already loaded once by daemon_check();
 * the listener loads it again for new connections, and on failure keeps
 * its old state).  Drain refuses new connections, ends sessions with
 * 421 4.3.2 and waits for commits in flight; stop frees everything once
 * the handles are closed.
 *
 * Loops (issue 20 item 3; README Architecture "Loops"): loop 0 is the
 * daemon's own loop (d->loop) with the first relay and listener.  Loops
 * 1..N-1 are created here, each with its own relay, listener and queue
 * port (the TLS context is loop 0's listener's, shared, also after a
 * reload), all on the main thread before the loop's thread starts; after
 * that only that thread touches them.  Loop 0 talks to them through a
 * command mailbox (a uv_async per loop, fields under the loop's mutex):
 * reload and snapshot (counters for the metrics) are synchronous (loop
 * 0 waits on a condition variable, bounded), drain and stop are not: a
 * loop reports "drained" back through the module's own uv_async on loop
 * 0, and stop waits (bounded) for the loop's thread to end.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "queue.h"
#include "relay.h"
#include "tls.h"
#include "util.h"

/* How long loop 0 waits for another loop to answer a command. */
#define LOOP_CALL_WAIT_MS 3000
/* How long stop waits for a loop's thread to end. */
#define LOOP_JOIN_WAIT_MS 5000
#define LOOP_ACCT_STATS 101	/* relay.c: 100 accounts and "_other" */

enum loop_cmd { LOOP_CMD_RELOAD = 1, LOOP_CMD_SNAPSHOT = 2, LOOP_CMD_DRAIN = 4, LOOP_CMD_STOP = 8 };

struct smtpd_module;

/* One loop other than loop 0: everything but mu's fields is its thread's. */
struct smtpd_loop {
	struct smtpd_module *m;		/* borrowed */
	unsigned index;
	uv_loop_t loop;
	uv_thread_t thread;
	int thread_started;
	uv_async_t cmd_async;		/* loop 0 -> this loop */
	uv_timer_t port_timer;		/* drain: waits for the port's last callbacks */
	struct relay *relay;
	struct listener *listener;
	struct queue_port *port;
	int listener_stopped;
	int draining, stopping, drained_sent;
	int init_failed;		/* loop_init() failed: its handles are closing */

	pthread_mutex_t mu;		/* guards everything below */
	pthread_cond_t cv;
	unsigned cmds;			/* enum loop_cmd bits pending */
	const struct config *reload_cfg;	/* one reference, for LOOP_CMD_RELOAD */
	struct tls_ctx *reload_tls;	/* one reference: loop 0's new TLS context, or NULL */
	unsigned long calls_done;	/* synchronous commands answered */
	int exited;			/* the thread left uv_run */
	int gone;			/* loop_finish() closed cmd_async: post nothing */
	struct listener_stats snap_ls;
	struct relay_stats snap_rs;
	struct relay_account_stat snap_as[LOOP_ACCT_STATS];
	size_t snap_nas;
};

struct smtpd_module {
	struct daemon *d;		/* borrowed */
	struct relay *relay;		/* loop 0's */
	struct listener *listener;	/* loop 0's */
	int listener_stopped;
	int draining;
	int relay_idle;			/* drain: loop 0's relay has nothing in flight */
	unsigned nloops;
	struct smtpd_loop *loops;	/* [1..nloops-1]; [0] unused */
	uv_async_t back_async;		/* other loops -> loop 0: "drained" */
	int back_init;
	unsigned drained;		/* atomic: loops 1.. that reported drained */
	int drain_reported;
};

/* ---- loops 1..N-1: their side ---- */

static void loop_maybe_drained(struct smtpd_loop *L);

static void
loop_handle_closed(uv_handle_t *h)
{
	(void)h;	/* the handles live in struct smtpd_loop */
}

/* Stop: free the relay and listener, close our handles; uv_run returns. */
static void
loop_finish(struct smtpd_loop *L)
{
	listener_free(L->listener);
	L->listener = NULL;
	if (relay_busy(L->relay) > 0)
		log_warn("event=smtpd_stop_forced loop=%u jobs=%u", L->index, relay_busy(L->relay));
	relay_free(L->relay);	/* with jobs in flight, the last one frees it */
	L->relay = NULL;
	queue_port_close(L->port);
	L->port = NULL;
	pthread_mutex_lock(&L->mu);
	L->gone = 1;
	pthread_mutex_unlock(&L->mu);
	uv_close((uv_handle_t *)&L->port_timer, loop_handle_closed);
	uv_close((uv_handle_t *)&L->cmd_async, loop_handle_closed);
}

static void
loop_listener_stopped(void *arg)
{
	struct smtpd_loop *L = arg;

	L->listener_stopped = 1;
	if (L->stopping)
		loop_finish(L);
	else
		loop_maybe_drained(L);
}

static void
loop_port_timer(uv_timer_t *t)
{
	loop_maybe_drained(t->data);
}

/* Drained: listener closed, no relay job and no queue callback pending. */
static void
loop_maybe_drained(struct smtpd_loop *L)
{
	if (!L->draining || L->drained_sent || !L->listener_stopped || L->stopping)
		return;
	if (relay_busy(L->relay) > 0)
		return;		/* the relay's idle callback comes back here */
	if (L->port != NULL && queue_port_busy(L->port) > 0) {
		uv_timer_start(&L->port_timer, loop_port_timer, 10, 0);
		return;
	}
	L->drained_sent = 1;
	relay_set_idle_cb(L->relay, NULL, NULL);
	__atomic_add_fetch(&L->m->drained, 1, __ATOMIC_ACQ_REL);
	uv_async_send(&L->m->back_async);
}

static void
loop_relay_idle(void *arg)
{
	loop_maybe_drained(arg);
}

static void
loop_cmd_cb(uv_async_t *h)
{
	struct smtpd_loop *L = h->data;
	const struct config *cfg;
	struct tls_ctx *tls;
	unsigned cmds;

	pthread_mutex_lock(&L->mu);
	cmds = L->cmds;
	L->cmds = 0;
	cfg = L->reload_cfg;
	L->reload_cfg = NULL;
	tls = L->reload_tls;
	L->reload_tls = NULL;
	pthread_mutex_unlock(&L->mu);

	if ((cmds & LOOP_CMD_RELOAD) && cfg != NULL) {
		if (!L->draining && !L->stopping) {
			/* loop 0 loaded the certificate: the same context here */
			listener_reload_shared(L->listener, cfg, tls);
			tls = NULL;
			relay_set_config(L->relay, cfg);
		}
		config_unref(cfg);
	}
	tls_ctx_free(tls);
	if (cmds & LOOP_CMD_SNAPSHOT) {
		struct listener_stats ls;
		struct relay_stats rs;
		struct relay_account_stat as[LOOP_ACCT_STATS];
		size_t n = 0;

		memset(&ls, 0, sizeof(ls));
		memset(&rs, 0, sizeof(rs));
		if (L->listener != NULL)
			listener_get_stats(L->listener, &ls);
		if (L->relay != NULL) {
			relay_get_stats(L->relay, &rs);
			n = relay_account_stats(L->relay, as, LOOP_ACCT_STATS);
		}
		pthread_mutex_lock(&L->mu);
		L->snap_ls = ls;
		L->snap_rs = rs;
		memcpy(L->snap_as, as, n * sizeof(as[0]));
		L->snap_nas = n;
		pthread_mutex_unlock(&L->mu);
	}
	if ((cmds & LOOP_CMD_DRAIN) && !L->draining && !L->stopping) {
		L->draining = 1;
		relay_set_idle_cb(L->relay, loop_relay_idle, L);	/* may call at once: not yet stopped */
		listener_stop(L->listener, loop_listener_stopped, L);
	}
	if ((cmds & LOOP_CMD_STOP) && !L->stopping) {
		L->stopping = 1;
		uv_timer_stop(&L->port_timer);
		relay_set_idle_cb(L->relay, NULL, NULL);
		if (L->listener_stopped)
			loop_finish(L);
		else if (!L->draining)
			listener_stop(L->listener, loop_listener_stopped, L);
		/* else: the drain's listener_stop() calls back, and finishes */
	}
	if (cmds & (LOOP_CMD_RELOAD | LOOP_CMD_SNAPSHOT)) {
		pthread_mutex_lock(&L->mu);
		L->calls_done++;
		pthread_cond_broadcast(&L->cv);
		pthread_mutex_unlock(&L->mu);
	}
}

static void
loop_thread_main(void *arg)
{
	struct smtpd_loop *L = arg;
	sigset_t all;
	char name[16];

	snprintf(name, sizeof(name), "smtpd-%u", L->index);
	thread_name(name);
	/* signals are loop 0's business (daemon.c) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	queue_port_bind(L->port);	/* queue callbacks come back to this loop */
	uv_run(&L->loop, UV_RUN_DEFAULT);
	pthread_mutex_lock(&L->mu);
	L->exited = 1;
	pthread_cond_broadcast(&L->cv);
	pthread_mutex_unlock(&L->mu);
}

/* ---- loop 0's side ---- */

/* Post CMDS to L (for a reload: CFG and TLS, whose reference L takes
 * over); with WAIT, wait (bounded) until it was handled.  0 or -1. */
static int
loop_post(struct smtpd_loop *L, unsigned cmds, const struct config *cfg, struct tls_ctx *tls,
    int wait)
{
	struct timespec ts;
	unsigned long want;
	int rc = 0;

	pthread_mutex_lock(&L->mu);
	if (L->exited || L->gone || !L->thread_started) {
		pthread_mutex_unlock(&L->mu);
		tls_ctx_free(tls);
		return -1;
	}
	L->cmds |= cmds;
	if (cfg != NULL) {
		if (L->reload_cfg != NULL)
			config_unref(L->reload_cfg);
		L->reload_cfg = config_ref(cfg);
		tls_ctx_free(L->reload_tls);
		L->reload_tls = tls;	/* its reference passes to the loop */
	} else
		tls_ctx_free(tls);
	want = L->calls_done + 1;
	uv_async_send(&L->cmd_async);
	if (wait) {
		deadline_in(&ts, CLOCK_REALTIME, LOOP_CALL_WAIT_MS);
		while (L->calls_done < want && !L->exited && rc == 0)
			if (pthread_cond_timedwait(&L->cv, &L->mu, &ts) == ETIMEDOUT)
				rc = -1;
	}
	pthread_mutex_unlock(&L->mu);
	return rc;
}

static void
smtpd_module_maybe_drained(struct smtpd_module *m)
{
	if (!m->draining || m->drain_reported || !m->listener_stopped || !m->relay_idle)
		return;
	if (__atomic_load_n(&m->drained, __ATOMIC_ACQUIRE) + 1 < m->nloops)
		return;
	m->drain_reported = 1;
	daemon_drained(m->d, "smtpd");
}

static void
back_async_cb(uv_async_t *h)
{
	smtpd_module_maybe_drained(h->data);
}

/* Wait (bounded) for L's thread to end; 1 when it did and was joined. */
static int
loop_join(struct smtpd_loop *L)
{
	if (!L->thread_started)
		return 1;
	if (!cond_wait_flag(&L->mu, &L->cv, &L->exited, LOOP_JOIN_WAIT_MS)) {
		log_warn("event=smtpd_loop_stop_forced loop=%u", L->index);
		return 0;
	}
	uv_thread_join(&L->thread);
	L->thread_started = 0;
	return 1;
}

/* After its thread ended, or for a loop whose thread never started (then
 * it is stopped and run to its end here): free what is left of L. */
static void
loop_free(struct smtpd_loop *L)
{
	if (L->m == NULL)
		return;		/* never set up */
	if (!L->exited && !L->init_failed) {
		/* set up, never started: nobody else runs it */
		L->cmds = LOOP_CMD_STOP;
		loop_cmd_cb(&L->cmd_async);
	}
	uv_run(&L->loop, UV_RUN_DEFAULT);	/* the close callbacks left, if any */
	(void)uv_loop_close(&L->loop);
	if (L->reload_cfg != NULL)
		config_unref(L->reload_cfg);
	tls_ctx_free(L->reload_tls);
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->cv);
	L->m = NULL;
}

/* Stop every other loop; 1 when all of them ended (their relays are
 * gone, so loop 0's relay, whose counters they shared, may go). */
static int
smtpd_module_stop_loops(struct smtpd_module *m)
{
	unsigned i;
	int all = 1;

	for (i = 1; i < m->nloops; i++)
		if (m->loops[i].thread_started)
			(void)loop_post(&m->loops[i], LOOP_CMD_STOP, NULL, NULL, 0);
	for (i = 1; i < m->nloops; i++) {
		if (!loop_join(&m->loops[i]))
			all = 0;
		else
			loop_free(&m->loops[i]);
	}
	return all;
}

static void
back_closed(uv_handle_t *h)
{
	struct smtpd_module *m = h->data;

	free(m->loops);
	free(m);
}

static void
smtpd_module_free(struct smtpd_module *m)
{
	int all = smtpd_module_stop_loops(m);

	listener_free(m->listener);
	if (relay_busy(m->relay) > 0)
		/* forced stop with commits in flight: each job holds its own
		 * config reference and finishes (or dies with the process) */
		log_warn("event=smtpd_stop_forced jobs=%u", relay_busy(m->relay));
	if (all)
		relay_free(m->relay);
	/* else: a loop still running may use its counters; the process ends */
	if (m->back_init) {
		uv_close((uv_handle_t *)&m->back_async, back_closed);
		return;
	}
	free(m->loops);
	free(m);
}

/* Sum of every loop's counters (loop 0's read here, the others' asked for). */
void
smtpd_module_stats(struct daemon *d, struct listener_stats *ls, struct relay_stats *rs)
{
	struct smtpd_module *m = d->listeners;
	unsigned i;

	memset(ls, 0, sizeof(*ls));
	memset(rs, 0, sizeof(*rs));
	if (m == NULL)
		return;
	listener_get_stats(m->listener, ls);
	relay_get_stats(m->relay, rs);
	for (i = 1; i < m->nloops; i++) {
		struct smtpd_loop *L = &m->loops[i];

		(void)loop_post(L, LOOP_CMD_SNAPSHOT, NULL, NULL, 1);	/* on timeout: the last one */
		pthread_mutex_lock(&L->mu);
		ls->accepted += L->snap_ls.accepted;
		ls->refused += L->snap_ls.refused;
		ls->timeouts += L->snap_ls.timeouts;
		ls->tls_failed += L->snap_ls.tls_failed;
		ls->active += L->snap_ls.active;
		rs->accepted += L->snap_rs.accepted;
		rs->rejected += L->snap_rs.rejected;
		rs->tempfailed += L->snap_rs.tempfailed;
		rs->auth_ok += L->snap_rs.auth_ok;
		rs->auth_failed += L->snap_rs.auth_failed;
		rs->auth_locked += L->snap_rs.auth_locked;
		rs->auth_cached += L->snap_rs.auth_cached;
		rs->eom_loop += L->snap_rs.eom_loop;
		rs->eom_pool += L->snap_rs.eom_pool;
		{
			size_t ph, st, k2;

			for (ph = 0; ph < 2; ph++)
				for (st = 0; st < RELAY_REFUSAL_STAGES; st++)
					for (k2 = 0; k2 < 2; k2++)
						rs->refused[ph][st][k2] += L->snap_rs.refused[ph][st][k2];
		}
		pthread_mutex_unlock(&L->mu);
	}
}

size_t
smtpd_module_account_stats(struct daemon *d, struct relay_account_stat *out, size_t max)
{
	struct smtpd_module *m = d->listeners;
	size_t n, i, j;
	unsigned k;

	if (m == NULL)
		return 0;
	n = relay_account_stats(m->relay, out, max);
	for (k = 1; k < m->nloops; k++) {
		struct smtpd_loop *L = &m->loops[k];

		(void)loop_post(L, LOOP_CMD_SNAPSHOT, NULL, NULL, 1);
		pthread_mutex_lock(&L->mu);
		for (i = 0; i < L->snap_nas; i++) {
			const struct relay_account_stat *a = &L->snap_as[i];

			for (j = 0; j < n && strcmp(out[j].account, a->account) != 0; j++)
				;
			if (j == n) {
				if (n == max)
					continue;
				out[n++] = *a;
				continue;
			}
			out[j].accepted += a->accepted;
			out[j].rejected += a->rejected;
			out[j].tempfailed += a->tempfailed;
		}
		pthread_mutex_unlock(&L->mu);
	}
	return n;
}

/* Set up loop I (1..N-1) on the main thread; its thread starts later. */
static int
loop_init(struct smtpd_module *m, unsigned i, char *err, size_t errlen)
{
	struct daemon *d = m->d;
	struct smtpd_loop *L = &m->loops[i];

	L->m = m;
	L->index = i;
	pthread_mutex_init(&L->mu, NULL);
	pthread_cond_init(&L->cv, NULL);
	if (uv_loop_init(&L->loop) != 0) {
		snprintf(err, errlen, "smtpd loop %u: uv_loop_init failed", i);
		return -1;
	}
	uv_async_init(&L->loop, &L->cmd_async, loop_cmd_cb);
	L->cmd_async.data = L;
	uv_timer_init(&L->loop, &L->port_timer);
	L->port_timer.data = L;
	L->relay = relay_new(&L->loop, d->cfg, d->queue);
	relay_set_spam(L->relay, d->spam_store);
	relay_share(L->relay, m->relay);
	if (d->queue != NULL)
		L->port = queue_port_new(d->queue, &L->loop);
	L->listener = listener_start_loop(&L->loop, d->cfg, L->relay, m->listener, i, m->nloops,
	    err, errlen);
	if (L->listener == NULL) {
		L->init_failed = 1;
		relay_free(L->relay);
		L->relay = NULL;
		queue_port_close(L->port);
		L->port = NULL;
		uv_close((uv_handle_t *)&L->port_timer, loop_handle_closed);
		uv_close((uv_handle_t *)&L->cmd_async, loop_handle_closed);
		return -1;
	}
	return 0;
}

/* Start failed after loop 0's listener was up: free once it is closed. */
static void
smtpd_module_start_failed(void *arg)
{
	smtpd_module_free(arg);
}

/* The listener and the relay take their own references to d->cfg. */
int
listener_module_start(struct daemon *d, char *err, size_t errlen)
{
	struct smtpd_module *m = xcalloc(1, sizeof(*m));
	unsigned i, ready;

	m->d = d;
	m->nloops = config_smtpd_loops(d->cfg);
	m->relay = relay_new(d->loop, d->cfg, d->queue);
	relay_set_spam(m->relay, d->spam_store);
	if (d->auth_guard != NULL)
		relay_set_auth_guard(m->relay, d->auth_guard);
	m->listener = listener_start_loop(d->loop, d->cfg, m->relay, NULL, 0, m->nloops, err, errlen);
	if (m->listener == NULL) {
		relay_free(m->relay);
		free(m);
		return -1;
	}
	m->loops = xcalloc(m->nloops, sizeof(*m->loops));
	uv_async_init(d->loop, &m->back_async, back_async_cb);
	m->back_async.data = m;
	m->back_init = 1;
	for (ready = 1; ready < m->nloops; ready++)
		if (loop_init(m, ready, err, errlen) != 0)
			break;
	for (i = 1; ready == m->nloops && i < m->nloops; i++) {
		if (uv_thread_create(&m->loops[i].thread, loop_thread_main, &m->loops[i]) != 0) {
			snprintf(err, errlen, "smtpd loop %u: cannot start its thread", i);
			break;
		}
		m->loops[i].thread_started = 1;
	}
	if (ready < m->nloops || i < m->nloops) {
		/* stop the loops that run, free the others, close loop 0's */
		if (ready < m->nloops)
			m->nloops = ready + 1;	/* the one that failed is freed too */
		(void)smtpd_module_stop_loops(m);
		m->nloops = 1;
		listener_stop(m->listener, smtpd_module_start_failed, m);
		return -1;
	}
	if (m->nloops > 1)
		log_info("event=smtpd_loops loops=%u", m->nloops);
	d->listeners = m;
	return 0;
}

int
listener_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	struct smtpd_module *m = d->listeners;
	unsigned i;

	if (m == NULL || m->draining)
		return 0;
	if (listener_reload(m->listener, next, err, errlen) != 0)
		return -1;
	relay_set_config(m->relay, next);
	/* the other loops take this loop's new TLS context; wait, so that
	 * event=reloaded means every loop has the new config */
	for (i = 1; i < m->nloops; i++)
		if (loop_post(&m->loops[i], LOOP_CMD_RELOAD, next, listener_tls_ref(m->listener),
		    1) != 0)
			log_warn("event=reload_slow loop=%u", i);
	return 0;
}

static void
smtpd_module_relay_idle(void *arg)
{
	struct smtpd_module *m = arg;

	relay_set_idle_cb(m->relay, NULL, NULL);
	m->relay_idle = 1;
	smtpd_module_maybe_drained(m);
}

static void
smtpd_module_listener_stopped(void *arg)
{
	struct smtpd_module *m = arg;

	m->listener_stopped = 1;
	if (m->draining)
		relay_set_idle_cb(m->relay, smtpd_module_relay_idle, m);	/* may call at once */
	else
		smtpd_module_free(m);	/* listener_module_stop() came first */
}

int
listener_module_drain(struct daemon *d)
{
	struct smtpd_module *m = d->listeners;
	unsigned i;

	if (m == NULL)
		return 0;
	m->draining = 1;
	for (i = 1; i < m->nloops; i++)
		(void)loop_post(&m->loops[i], LOOP_CMD_DRAIN, NULL, NULL, 0);
	listener_stop(m->listener, smtpd_module_listener_stopped, m);
	return 1;
}

void
listener_module_stop(struct daemon *d)
{
	struct smtpd_module *m = d->listeners;

	if (m == NULL)
		return;
	d->listeners = NULL;
	relay_set_idle_cb(m->relay, NULL, NULL);
	if (m->listener_stopped) {
		smtpd_module_free(m);
		return;
	}
	/* stop without (finished) drain: close now, free once the handles are gone */
	m->draining = 0;
	listener_stop(m->listener, smtpd_module_listener_stopped, m);
}
