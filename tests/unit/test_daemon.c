/* SPDX-License-Identifier: ISC */
/*
 * test_daemon: the module life cycle of src/daemon.c with fake modules
 * (daemon_run_modules()): start order, reload hands every module the
 * new config, a module whose reload fails makes the whole reload fail
 * (the modules before it get the old config back, d->cfg stays), a
 * config that fails daemon_check() reaches no module, daemon_check()
 * refuses what a module would refuse at start (certificate files,
 * transport next hops), SIGTERM drains in reverse order and waits for a module
 * that finishes later, shutdown_timeout ends the wait for one that
 * never does, a failed start stops only what had started and exits 1,
 * daemon_stop() sets the exit status, and the pid file comes and goes.
 * Signals are raised by the fake modules' own timers, inside the loop.
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static char trace[1024];	/* "start:a start:b ..." */
static char dir[256], conf[300], pidfile[300];
static uv_timer_t t_hup, t_term, t_late;
static int saw_reload_level;	/* reload saw next->log_level "warn" */
static int pid_seen;
static const char *hup_extra = "";	/* more lines for the config SIGHUP reads */
static int b_reload_fails;		/* b's reload() returns -1 */
static uint64_t drain_timeout;		/* d->cfg->shutdown_timeout when a drains */

static void
note(const char *what, const char *name)
{
	size_t n = strlen(trace);

	snprintf(trace + n, sizeof(trace) - n, "%s%s:%s", n ? " " : "", what, name);
}

static void
write_conf(const char *extra)
{
	FILE *f = fopen(conf, "w");

	fprintf(f, "data_directory = %s/data\npid_file = %s\nmaster_key_file = %s/none\n"
	    "log_level = debug\n%s", dir, pidfile, dir, extra);
	fclose(f);
}

/* Rewrite the config with another level (the reload must pass it on). */
static void
on_hup(uv_timer_t *t)
{
	FILE *f = fopen(conf, "w");

	(void)t;
	fprintf(f, "data_directory = %s/data\npid_file = %s\nmaster_key_file = %s/none\n"
	    "log_level = warn\nshutdown_timeout = 300ms\n%s", dir, pidfile, dir, hup_extra);
	fclose(f);
	raise(SIGHUP);
}

static void
on_term(uv_timer_t *t)
{
	struct stat st;

	(void)t;
	pid_seen = stat(pidfile, &st) == 0;
	raise(SIGTERM);
}

static void
on_late(uv_timer_t *t)
{
	note("drained", "b");
	daemon_drained(t->data, "b");
}

static int
a_start(struct daemon *d, char *err, size_t errlen)
{
	(void)err; (void)errlen;
	note("start", "a");
	uv_timer_init(d->loop, &t_hup);
	uv_timer_init(d->loop, &t_term);
	uv_timer_start(&t_hup, on_hup, 10, 0);
	uv_timer_start(&t_term, on_term, 60, 0);
	return 0;
}

static int
a_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	(void)d; (void)err; (void)errlen;
	note("reload", "a");
	saw_reload_level = next->log_level == CONFIG_LOG_WARN;
	return 0;
}

static int
a_drain(struct daemon *d)
{
	drain_timeout = d->cfg->shutdown_timeout;
	note("drain", "a");
	return 0;
}

static void
a_stop(struct daemon *d)
{
	(void)d;
	note("stop", "a");
	uv_close((uv_handle_t *)&t_hup, NULL);
	uv_close((uv_handle_t *)&t_term, NULL);
}

static int
b_start(struct daemon *d, char *err, size_t errlen)
{
	(void)err; (void)errlen;
	note("start", "b");
	uv_timer_init(d->loop, &t_late);
	t_late.data = d;
	return 0;
}

static int
b_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	(void)d; (void)next;
	note("reload", "b");
	if (!b_reload_fails)
		return 0;
	snprintf(err, errlen, "b cannot change everything");
	return -1;	/* the reload fails as a whole */
}

/* In-flight work that ends 50 ms after the drain began. */
static int
b_drain(struct daemon *d)
{
	(void)d;
	note("drain", "b");
	uv_timer_start(&t_late, on_late, 50, 0);
	return 1;
}

/* In-flight work that never ends: only shutdown_timeout stops it. */
static int
b_drain_never(struct daemon *d)
{
	(void)d;
	note("drain", "b");
	return 1;
}

static void
b_stop(struct daemon *d)
{
	(void)d;
	note("stop", "b");
	uv_close((uv_handle_t *)&t_late, NULL);
}

static int
f_start(struct daemon *d, char *err, size_t errlen)
{
	(void)d;
	note("start", "f");
	snprintf(err, errlen, "cannot bind");
	return -1;
}

static void
f_stop(struct daemon *d)
{
	(void)d;
	note("stop", "f");
}

static int
x_start(struct daemon *d, char *err, size_t errlen)
{
	(void)err; (void)errlen;
	note("start", "x");
	daemon_stop(d, 3);	/* a fatal run-time error, reported at once */
	return 0;
}

static int
run(const struct daemon_module *mods, const char *extra)
{
	char err[4096];
	struct config *cfg;

	trace[0] = '\0';
	write_conf(extra);
	cfg = config_load(conf, err, sizeof(err));
	if (cfg == NULL) {
		diag("config: %s", err);
		return -100;
	}
	return daemon_run_modules(cfg, conf, 1, mods);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	int rc;

	static const struct daemon_module drains_later[] = {
		{ "a", a_start, a_reload, a_drain, a_stop },
		{ "b", b_start, b_reload, b_drain, b_stop },
		{ NULL, NULL, NULL, NULL, NULL },
	};
	static const struct daemon_module never_drains[] = {
		{ "a", a_start, NULL, a_drain, a_stop },
		{ "b", b_start, NULL, b_drain_never, b_stop },
		{ NULL, NULL, NULL, NULL, NULL },
	};
	static const struct daemon_module start_fails[] = {
		{ "a", a_start, NULL, a_drain, a_stop },
		{ "f", f_start, NULL, NULL, f_stop },
		{ "b", b_start, NULL, b_drain, b_stop },
		{ NULL, NULL, NULL, NULL, NULL },
	};
	static const struct daemon_module stops_itself[] = {
		{ "x", x_start, NULL, NULL, NULL },
		{ NULL, NULL, NULL, NULL, NULL },
	};

	plan(24);
	log_open("test_daemon", LOG_TO_STDERR, LOG_LEVEL_DEBUG);
	snprintf(dir, sizeof(dir), "%s/test_daemon.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(conf, sizeof(conf), "%s/postern.conf", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/posternd.pid", dir);

	rc = run(drains_later, "shutdown_timeout = 10s\n");
	is_int(rc, 0, "drain then stop: exit status 0");
	is_str(trace, "start:a start:b reload:a reload:b drain:b drain:a drained:b stop:b stop:a",
	    "start in order, reload all, drain in reverse, wait for b, stop in reverse");
	ok(saw_reload_level, "reload() sees the new config");
	ok(pid_seen, "pid file exists while running");
	ok(stat(pidfile, &st) == -1, "pid file removed after the stop");
	ok(stat(dir, &st) == 0 && stat(conf, &st) == 0, "config still there");
	{
		char p[300];
		snprintf(p, sizeof(p), "%s/data", dir);
		ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
		    "data_directory created 0700");
	}

	is_int(drain_timeout, 300, "the reloaded config is d->cfg");

	/* A module's reload fails: a gets the old config back, nothing swapped. */
	b_reload_fails = 1;
	rc = run(drains_later, "shutdown_timeout = 10s\n");
	b_reload_fails = 0;
	is_int(rc, 0, "failed module reload: exit status 0");
	is_str(trace, "start:a start:b reload:a reload:b reload:a drain:b drain:a drained:b "
	    "stop:b stop:a", "failed module reload: a is reloaded again with the old config");
	ok(!saw_reload_level, "the rollback hands a the old config");
	is_int(drain_timeout, 10000, "failed module reload: the old config stays d->cfg");

	/* The new file fails daemon_check(): no module sees it. */
	hup_extra = "transport = example.test=[127.0.0.1\n";
	rc = run(drains_later, "shutdown_timeout = 10s\n");
	hup_extra = "";
	is_int(rc, 0, "reload with a bad transport: exit status 0");
	is_str(trace, "start:a start:b drain:b drain:a drained:b stop:b stop:a",
	    "a config that fails daemon_check() reaches no module");
	is_int(drain_timeout, 10000, "bad transport: the old config stays d->cfg");

	/* daemon_check(): what modules refuse at start, with file:line. */
	{
		static const struct { const char *text, *want; } bad[] = {
			{ "hostname = x\nsmtpd_tls_cert_file = /nonexistent/cert.pem\n"
			  "smtpd_tls_key_file = /nonexistent/key.pem\n",
			  "t.conf:3: smtpd_tls_key_file: " },
			{ "transport = example.test=[127.0.0.1\n", "t.conf:1: transport: " },
			{ "smtp_tls_policy_map = x.test=always\n", "t.conf:1: smtp_tls_policy_map: " },
		};
		char err[4096];
		size_t i;

		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			struct config *c = config_parse("t.conf", bad[i].text, strlen(bad[i].text),
			    err, sizeof(err));

			ok(c != NULL && daemon_check(c, err, sizeof(err)) == -1 &&
			    strstr(err, bad[i].want) != NULL, "daemon_check refuses: %s", bad[i].want);
			if (c != NULL)
				diag("%s", err);
			config_unref(c);
		}
	}

	rc = run(never_drains, "shutdown_timeout = 300ms\n");
	is_int(rc, 0, "shutdown_timeout: exit status 0");
	is_str(trace, "start:a start:b drain:b drain:a stop:b stop:a",
	    "a module that never drains is stopped after shutdown_timeout");

	rc = run(start_fails, "");
	is_int(rc, 1, "failed start: exit status 1");
	is_str(trace, "start:a start:f stop:a", "failed start: only started modules are stopped");

	rc = run(stops_itself, "");
	is_int(rc, 3, "daemon_stop(d, 3): exit status 3");
	is_str(trace, "start:x", "daemon_stop during start-up stops cleanly");

	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return done();
}
