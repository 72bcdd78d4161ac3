/* SPDX-License-Identifier: ISC */
/*
 * auth_pool.h: the password-check pool (issue 12 item 11).  scrypt
 * (16 MiB, tens of ms per check) used to share libuv's 4-thread pool
 * with the end-of-message policy work, so 100 connections guessing
 * passwords made every submission wait behind them.  Password checks now
 * run here: smtpd_auth_threads threads of their own, at a lower CPU
 * priority than the rest of posternd, taking jobs round-robin across
 * client addresses (one queue per address), so one address flooding
 * AUTH delays other addresses' checks by at most one job each, and EOM
 * work in the uv pool never waits behind any of them.  At most
 * AUTH_POOL_MAX_QUEUED jobs wait; beyond that submit fails (the relay
 * answers 454 4.7.0).
 *
 * Submit and cancel on the loop thread; WORK runs on a pool thread; DONE
 * runs on the loop with status 0, or UV_ECANCELED when the job was
 * cancelled before it started (WORK then never ran).
 */
#ifndef POSTERN_AUTH_POOL_H
#define POSTERN_AUTH_POOL_H

#include <uv.h>

#define AUTH_POOL_MAX_QUEUED 1024

struct auth_pool;
struct auth_pool_job;
typedef void (*auth_pool_work_fn)(void *arg);
typedef void (*auth_pool_done_fn)(void *arg, int status);

/*
 * smtpd_auth_threads = 0: half the cores, at least one.  Not all of
 * them: with two nice-19 checkers on two cores, a flood of wrong
 * passwords still doubled accepted mail's latency (issue 12's
 * contrib/bench/auth-flood run); returning customers do not need more
 * checkers anyway, the verified-credential cache (include/auth_cache.h)
 * answers them without one.
 */
unsigned auth_pool_default_threads(void);

/* NTHREADS >= 1; NULL when the threads cannot be started. */
struct auth_pool *auth_pool_new(uv_loop_t *loop, unsigned nthreads);
/* Cancel what waits (DONE with UV_ECANCELED), join the threads after
 * the running jobs end, and free the pool once their DONE ran. */
void auth_pool_free(struct auth_pool *p);

/* Queue a job under KEY (the client address). NULL when full.  URGENT
 * jobs (a client that logged in as that account before: the guard's
 * trusted pairs) wait in one FIFO taken before any key's, so customers'
 * own logins do not queue behind a flood from addresses never seen to
 * succeed. */
struct auth_pool_job *auth_pool_submit(struct auth_pool *p, const char *key, int urgent,
    auth_pool_work_fn work, auth_pool_done_fn done, void *arg);
/* Take a job that has not started out of the queue: 0 (DONE will come
 * with UV_ECANCELED), or -1 when it is running or finished. */
int auth_pool_cancel(struct auth_pool *p, struct auth_pool_job *j);

/* Jobs queued and running now. */
unsigned auth_pool_pending(const struct auth_pool *p);

/*
 * smtpd_loops: one pool for every SMTP loop.  auth_pool_port_new()
 * makes a way back to LOOP (call before LOOP runs, or on its thread);
 * auth_pool_port_bind(), on LOOP's thread, makes jobs submitted there
 * run DONE on LOOP.  auth_pool_port_close(), on LOOP's thread once none
 * of its jobs is outstanding, closes its handle (the pool frees it);
 * the pool must outlive its ports' loops.
 */
struct auth_pool_port;
struct auth_pool_port *auth_pool_port_new(struct auth_pool *p, uv_loop_t *loop);
void auth_pool_port_bind(struct auth_pool_port *pp);
void auth_pool_port_close(struct auth_pool_port *pp);

#endif
