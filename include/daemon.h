/* SPDX-License-Identifier: ISC */
/*
 * daemon.h: the composition root of posternd.  One libuv loop, one
 * current config, and a table of modules (src/daemon/daemon.c) started in
 * order and stopped in reverse order.  A module is four callbacks:
 *
 *   start   bind sockets, open files; runs as root, before the
 *           privilege drop (`user =`).  0, or -1 with a reason in ERR.
 *   reload  SIGHUP with a new config NEXT that passed daemon_check();
 *           adopt what can change at run time (keys marked restart in
 *           src/conf/config.c are not expected to change).  -1 with ERR
 *           fails the whole reload: the modules reloaded before this
 *           one are called again with the old config, d->cfg stays,
 *           `event=reload_failed module=NAME` is logged.  So a module
 *           must leave its old state intact when it returns -1.  On
 *           success d->cfg == NEXT afterwards; a module that keeps the
 *           config beyond the call takes a reference (config_ref).
 *   drain   SIGTERM/SIGINT: stop accepting new work.  Return 0 when
 *           nothing is in flight, or 1 and call daemon_drained() once
 *           the in-flight work (sessions, commits) has finished.
 *   stop    release everything (close handles, free state).  Called
 *           once, after every module drained or shutdown_timeout passed.
 *
 * Any callback may be NULL.  Modules keep their state in the fields of
 * struct daemon below (add yours) or in their own file.
 */
#ifndef POSTERN_DAEMON_H
#define POSTERN_DAEMON_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "util.h"

struct queue;

struct daemon {
	uv_loop_t *loop;		/* the one event loop */
	struct config *cfg;		/* current config; one reference; swapped on SIGHUP */
	char *config_path;		/* absolute path of postern.conf; owned */
	int foreground;			/* -f: stay attached, log to stderr */
	int stopping;			/* SIGTERM seen: no new work */
	int running;			/* start-up done, loop running */

	/* Module state: one field per module, set by its start(). */
	struct queue *queue;		/* queue/: the LMDB store and scheduler */
	struct auth_guard *auth_guard;	/* src/daemon/auth_module.c: AUTH lockouts */
	void *control;			/* src/daemon/control_module.c: the control socket */
	void *listeners;		/* src/daemon/smtpd_module.c: relay + SMTP listeners */
	void *delivery;			/* src/daemon/delivery_module.c: the delivery engine */
	void *webhook;			/* src/daemon/webhook_module.c: the webhook dispatcher */
	struct spamdb *spam;		/* src/daemon/spam_module.c: the spam model, or NULL */
	const struct spam_store *spam_store;	/* its classifier view (include/spam.h) */
	void *feedback;			/* src/daemon/feedback_module.c: one-click unsubscribe */

	/* Private to src/daemon/daemon.c. */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t stop_timer;
	uv_timer_t grace_timer;
	int pending_drains;
	int ready_fd;			/* detaching: pipe to the waiting parent, or -1 */
	int pid_fd;			/* locked pid file, or -1 */
	int data_lock_fd;		/* locked DATA_DIRECTORY/posternd.lock, or -1 */
	size_t started;			/* number of modules started */
	int exit_status;
};

struct daemon_module {
	const char *name;
	int (*start)(struct daemon *d, char *err, size_t errlen);
	int (*reload)(struct daemon *d, const struct config *next, char *err, size_t errlen);
	int (*drain)(struct daemon *d);
	void (*stop)(struct daemon *d);
};

/*
 * Run posternd with CFG (ownership passes to the daemon) loaded from
 * PATH: detach unless FOREGROUND, write the pid file, start the
 * modules, drop privileges, log event=ready, run the loop until a
 * graceful stop.  Returns the process exit status.
 */
int daemon_run(struct config *cfg, const char *path, int foreground);

/* daemon_run() with another module table ({ NULL } terminated): tests. */
int daemon_run_modules(struct config *cfg, const char *path, int foreground,
    const struct daemon_module *table);

/* A module whose drain() returned 1 calls this once it has finished. */
void daemon_drained(struct daemon *d, const char *module);

/* Begin a graceful stop, as SIGTERM does (e.g. on a fatal run-time error). */
void daemon_stop(struct daemon *d, int exit_status);

/*
 * The one complete check of a parsed config, used by `posternd -n`, at
 * start and on SIGHUP before anything is swapped: every secret file the
 * config names (master_key_file if it exists, also readable;
 * smtpd_tls_key_file; each file in dkim_key_directory) must be mode
 * 0600/0400; the SMTP server certificate and key must load and match;
 * the transport table and smtp_tls_policy_map must parse; listen
 * addresses and dns_servers must be IP addresses; `user` must exist.  (Values, enums, addresses and CIDRs are checked by the
 * parser.)  0, or -1 with one `file:line: key: reason` per line in ERR.
 */
int daemon_check(const struct config *cfg, char *err, size_t errlen);

/*
 * src/daemon/sdnotify.c: one notification to the service manager
 * (sd_notify(3)'s socket protocol, no libsystemd): FMT formats the
 * newline-separated assignments, e.g. "READY=1".  0 (also when
 * NOTIFY_SOCKET is unset) or negative errno.
 */
int daemon_notify(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* CLOCK_MONOTONIC in microseconds (RELOADING=1's MONOTONIC_USEC). */
unsigned long long daemon_monotonic_usec(void);

/* ---- module glue (src/daemon/NAME_module.c): params from the config ---- */

struct queue_params;
/* Fill P from CFG; P points into CFG (retry_schedule, paths). */
void queue_params_from_config(struct queue_params *p, const struct config *cfg);
/* queue_open() with the params of CFG (posternctl, tests, benches). */
struct queue *queue_open_config(uv_loop_t *loop, const struct config *cfg, int readonly,
    char *err, size_t errlen);
struct auth_guard;
int auth_module_start(struct daemon *d, char *err, size_t errlen);
void auth_module_stop(struct daemon *d);
int queue_module_start(struct daemon *d, char *err, size_t errlen);
int queue_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen);
int queue_module_drain(struct daemon *d);
void queue_module_stop(struct daemon *d);

/* src/daemon/feedback_module.c: the one-click unsubscribe endpoint. */
int feedback_module_start(struct daemon *d, char *err, size_t errlen);
void feedback_module_stop(struct daemon *d);
/* src/daemon/control_module.c: the control socket. */
int control_module_start(struct daemon *d, char *err, size_t errlen);
int control_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen);
void control_module_stop(struct daemon *d);

/* src/daemon/delivery_module.c: the delivery engine.  Params from CFG,
 * tables parsed; -1 with ERR naming a bad table entry. */
struct delivery_params;
int delivery_params_from_config(struct delivery_params *p, const struct config *cfg,
    char *err, size_t errlen);
int delivery_module_start(struct daemon *d, char *err, size_t errlen);
int delivery_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen);
int delivery_module_drain(struct daemon *d);
void delivery_module_stop(struct daemon *d);

/* src/daemon/webhook_module.c: signed event webhooks. */
int webhook_module_start(struct daemon *d, char *err, size_t errlen);
int webhook_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen);
void webhook_module_stop(struct daemon *d);

/* src/daemon/metrics_module.c: GET /metrics on metrics_listen (off when empty). */
int metrics_module_start(struct daemon *d, char *err, size_t errlen);
void metrics_module_stop(struct daemon *d);
/* src/daemon/spam_module.c: the spam model (include/spamdb.h). */
struct spamdb;
struct spam_store;
/* spam_model_directory, or DATA_DIRECTORY/spam (malloc'd). */
char *spam_model_dir(const struct config *cfg);
int spam_module_start(struct daemon *d, char *err, size_t errlen);
void spam_module_stop(struct daemon *d);

/* src/daemon/smtpd_module.c: the relay and the SMTP listeners. */
struct listener_stats;
struct relay_stats;
/* The listener's and the relay's counters (zeros before start). */
void smtpd_module_stats(struct daemon *d, struct listener_stats *ls, struct relay_stats *rs);
struct relay_account_stat;
size_t smtpd_module_account_stats(struct daemon *d, struct relay_account_stat *out, size_t max);
int listener_module_start(struct daemon *d, char *err, size_t errlen);
int listener_module_reload(struct daemon *d, const struct config *next, char *err,
    size_t errlen);
int listener_module_drain(struct daemon *d);
void listener_module_stop(struct daemon *d);

#endif
