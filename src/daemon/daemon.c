/* SPDX-License-Identifier: ISC */
/*
 * daemon.c: posternd's process life cycle and its module table.
 *
 * Start-up, in this order: detach (unless -f; the parent waits on a
 * pipe until the child is ready or failed, so `posternd` without -f
 * still exits non-zero on a bad start), lock and write the pid file,
 * create data_directory 0700, start every module in table order (they
 * bind their sockets as root), drop privileges to `user`, log
 * `event=ready`.  The loop then runs until SIGTERM or SIGINT: every
 * module drains (stops accepting, finishes in-flight work) for at most
 * shutdown_timeout, then stops in reverse order; the process exits 0
 * after logging `event=stopped`.  SIGHUP re-reads the config file and
 * runs daemon_check() on it, the same complete validation as start-up
 * and `posternd -n` (values, certificates and keys load, key file
 * modes, transport and TLS policy tables, the user); a config that
 * fails is logged (`event=reload_failed`) and the old one stays.  A good
 * one is handed to each module's reload(); if one of them still fails,
 * the modules already reloaded get the old config back and the reload
 * fails as a whole.  Only then is it swapped in (`event=reloaded`, with
 * `restart_needed=key,...` when keys that are read only at start
 * changed).  Under systemd (Type=notify) the service manager hears
 * READY=1, RELOADING=1 ... READY=1 and STOPPING=1 (sdnotify.c), and
 * when stderr is the journal (JOURNAL_STREAM) -f logs with `<N>`
 * priority prefixes and no timestamp of its own (src/lib/log.c).
 *
 * Invariants: only this file installs signal handlers and touches the
 * process (fork, setuid, pid file); modules see a struct daemon and
 * d->cfg, which is always a valid config; the daemon holds one
 * reference to it, and a module that keeps the config beyond a call
 * takes its own (config_ref).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "auth_pool.h"
#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "dest_class.h"
#include "addr.h"
#include "log.h"
#include "route.h"
#include "spam.h"
#include "tls.h"
#include "token.h"
#include "util.h"

/*
 * The module table: started top to bottom, drained and stopped bottom
 * to top.  Add one line per module; its glue lives in
 * src/daemon/NAME_module.c (it builds the module's params from the
 * config) and its callbacks are declared in daemon.h, e.g.
 *   { "queue", queue_module_start, queue_module_reload,
 *     queue_module_drain, queue_module_stop },
 * Order matters: the queue before anything that commits to it, the
 * listeners last so nothing is accepted before the rest is up.
 */
static const struct daemon_module builtin_modules[] = {
	{ "queue", queue_module_start, queue_module_reload, queue_module_drain, queue_module_stop },
	{ "spam", spam_module_start, NULL, NULL, spam_module_stop },
	{ "auth", auth_module_start, NULL, NULL, auth_module_stop },	/* AUTH lockouts */
	{ "control", control_module_start, control_module_reload, NULL, control_module_stop },
	{ "delivery", delivery_module_start, delivery_module_reload, delivery_module_drain,
	    delivery_module_stop },
	{ "feedback", feedback_module_start, NULL, NULL, feedback_module_stop },
	{ "webhook", webhook_module_start, webhook_module_reload, NULL, webhook_module_stop },
	{ "smtpd", listener_module_start, listener_module_reload, listener_module_drain,
	    listener_module_stop },
	{ "metrics", metrics_module_start, NULL, NULL, metrics_module_stop },
	{ NULL, NULL, NULL, NULL, NULL }	/* end */
};

/* The table in use: builtin_modules, or a test's (daemon_run_modules). */
static const struct daemon_module *modules = builtin_modules;


static struct daemon the_daemon;

/*
 * Size libuv's thread pool, where end-of-message work runs (DLP, the
 * spam stage, DKIM signing: src/inbound/relay.c), before anything
 * starts it: libuv reads UV_THREADPOOL_SIZE once, at the first job.
 * smtpd_eom_threads, or the cores (at least libuv's default of 4); a
 * value already in the environment wins.  The password-check pool is
 * apart (smtpd_auth_threads, include/auth_pool.h).
 */
static void
daemon_size_pool(const struct config *cfg)
{
	unsigned cores = uv_available_parallelism();
	unsigned n = cfg->smtpd_eom_threads > 0 ? (unsigned)cfg->smtpd_eom_threads :
	    (cores > 4 ? cores : 4);
	const char *env = getenv("UV_THREADPOOL_SIZE");
	char v[16];

	if (env == NULL || *env == '\0') {
		snprintf(v, sizeof(v), "%u", n);
		setenv("UV_THREADPOOL_SIZE", v, 1);
		env = getenv("UV_THREADPOOL_SIZE");
	}
	log_info("event=threads cores=%u eom_threads=%s auth_threads=%u", cores, env,
	    cfg->smtpd_auth_threads > 0 ? (unsigned)cfg->smtpd_auth_threads :
	    auth_pool_default_threads());
}

static void
on_handle_closed(uv_handle_t *h)
{
	(void)h;	/* our handles live in struct daemon: nothing to free */
}

/* Log a start-up error and pass it to the parent waiting on the pipe. */
static void
startup_error(struct daemon *d, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void
startup_error(struct daemon *d, const char *fmt, ...)
{
	char msg[4096], q[4096 + 64];
	va_list ap;
	ssize_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("event=start_failed error=%s", log_quote(msg, strlen(msg), q, sizeof(q)));
	if (d->ready_fd != -1) {
		n = write(d->ready_fd, msg, strlen(msg));
		(void)n;
		close(d->ready_fd);
		d->ready_fd = -1;
	}
}

/* One error line "file:line: key: why" (line of KEY in CFG's file). */
static void
check_error(struct buf *errs, const struct config *cfg, const char *key, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static void
check_error(struct buf *errs, const struct config *cfg, const char *key, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (errs->len)
		buf_append_str(errs, "\n");
	buf_printf(errs, "%s:%d: %s: %s", cfg->path ? cfg->path : "(config)",
	    config_key_line(cfg, key), key, msg);
}

static int
check_secret(const struct config *cfg, const char *key, const char *path, struct buf *errs)
{
	char err[1024];

	if (file_check_secret(path, err, sizeof(err)) == 0)
		return 0;
	check_error(errs, cfg, key, "%s", err);
	return -1;
}

/* The master key, when it exists (the queue creates it on first start):
 * a secret file that can be read. */
static int
check_master_key(const struct config *cfg, struct buf *errs)
{
	struct stat st;
	int fd;

	if (cfg->master_key_file[0] == '\0' || stat(cfg->master_key_file, &st) == -1)
		return 0;
	if (check_secret(cfg, "master_key_file", cfg->master_key_file, errs) == -1)
		return -1;
	if ((fd = open(cfg->master_key_file, O_RDONLY | O_CLOEXEC)) == -1) {
		check_error(errs, cfg, "master_key_file", "%s: %s", cfg->master_key_file,
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* The SMTP server's certificate and key load and match, as the smtpd
 * module will load them (listener_load_tls). */
static int
check_server_tls(const struct config *cfg, struct buf *errs)
{
	struct tls_ctx *ctx;
	char why[1024];

	if (cfg->smtpd_tls_cert_file[0] == '\0' && cfg->smtpd_tls_key_file[0] == '\0')
		return 0;
	if (cfg->smtpd_tls_key_file[0] != '\0' &&
	    check_secret(cfg, "smtpd_tls_key_file", cfg->smtpd_tls_key_file, errs) == -1)
		return -1;
	if (cfg->smtpd_tls_cert_file[0] == '\0') {
		check_error(errs, cfg, "smtpd_tls_key_file", "set without smtpd_tls_cert_file");
		return -1;
	}
	if (cfg->smtpd_tls_key_file[0] == '\0') {
		check_error(errs, cfg, "smtpd_tls_cert_file", "set without smtpd_tls_key_file");
		return -1;
	}
	if ((ctx = tls_server_ctx_new(cfg->smtpd_tls_cert_file, cfg->smtpd_tls_key_file, why,
	    sizeof(why))) == NULL) {
		check_error(errs, cfg, "smtpd_tls_cert_file", "%s", why);
		return -1;
	}
	tls_ctx_free(ctx);
	return 0;
}

/* The delivery tables, with the parsers delivery uses (src/outbound/route.c). */
static int
check_route_tables(const struct config *cfg, struct buf *errs)
{
	char why[512];
	int rc = 0;

	if (route_transport_check(&cfg->transport, why, sizeof(why)) == -1) {
		check_error(errs, cfg, "transport", "%s", why);
		rc = -1;
	}
	if (route_tls_map_check(&cfg->smtp_tls_policy_map, why, sizeof(why)) == -1) {
		check_error(errs, cfg, "smtp_tls_policy_map", "%s", why);
		rc = -1;
	}
	{
		struct dest_classes dc;

		if (dest_classes_parse(&dc, &cfg->metrics_delivery_classes, why, sizeof(why)) != 0) {
			check_error(errs, cfg, "metrics_delivery_classes", "%s", why);
			rc = -1;
		}
	}
	return rc;
}

/* Listen addresses and DNS servers are IP addresses ("*" to listen on
 * all): names are refused here, not when the listener binds. */
static int
check_ip_list(const struct config *cfg, const char *key, const struct config_list *l,
    int any_ok, struct buf *errs)
{
	unsigned char a[16];
	size_t i;
	int rc = 0;

	for (i = 0; l->addrs != NULL && i < l->n; i++) {
		const char *h = l->addrs[i].host;

		if ((any_ok && strcmp(h, "*") == 0) || inet_pton(AF_INET, h, a) == 1 ||
		    inet_pton(AF_INET6, h, a) == 1)
			continue;
		check_error(errs, cfg, key, "'%s': the host must be an IP address%s", l->items[i],
		    any_ok ? " or *" : "");
		rc = -1;
	}
	return rc;
}

/* spam_rules: each NAME:WEIGHT:TEXT parses as the EOM stage reads it. */
static int
check_spam_rules(const struct config *cfg, struct buf *errs)
{
	struct spam_rule r;
	char why[256];
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->spam_rules.n; i++)
		if (spam_rule_parse(cfg->spam_rules.items[i], &r, why, sizeof(why)) != 0) {
			check_error(errs, cfg, "spam_rules", "%s", why);
			rc = -1;
		}
	for (i = 0; i < cfg->spam_dnsbl.n + cfg->spam_uribl.n; i++) {
		struct spam_list l;
		int dom = i >= cfg->spam_dnsbl.n;
		const char *s = dom ? cfg->spam_uribl.items[i - cfg->spam_dnsbl.n] :
		    cfg->spam_dnsbl.items[i];

		if (spam_list_parse(s, dom, &l, why, sizeof(why)) != 0) {
			check_error(errs, cfg, dom ? "spam_uribl" : "spam_dnsbl", "%s", why);
			rc = -1;
		}
	}
	if (cfg->spam_tag_score > 0 && cfg->spam_hold_score > 0 &&
	    cfg->spam_hold_score < cfg->spam_tag_score) {
		check_error(errs, cfg, "spam_hold_score", "%lld is below spam_tag_score (%lld)",
		    (long long)cfg->spam_hold_score, (long long)cfg->spam_tag_score);
		rc = -1;
	}
	return rc;
}

/* Suppression and feedback keys (issue 14): enhanced codes that are
 * permanent (5.x.y), an https:// unsubscribe URL ending in '/', a
 * feedback domain when the feedback listener is on. */
static int
check_suppression(const struct config *cfg, struct buf *errs)
{
	const char *u = cfg->list_unsubscribe_url;
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->suppression_bounce_codes.n; i++) {
		const char *c = cfg->suppression_bounce_codes.items[i];
		unsigned a, b, d;
		char tail;

		if (sscanf(c, "%u.%u.%u%c", &a, &b, &d, &tail) != 3 || a != 5 || b > 999 || d > 999) {
			check_error(errs, cfg, "suppression_bounce_codes",
			    "'%s' is not a permanent enhanced status code (5.x.y)", c);
			rc = -1;
		} else if (b == 7) {
			/* issue 14: 5.7.x policy blocks never suppress (the
			 * mailbox exists; the receiver refused this sender) */
			check_error(errs, cfg, "suppression_bounce_codes",
			    "'%s' is a policy block (5.7.x), never a hard bounce", c);
			rc = -1;
		}
	}
	if (u[0] && (strncmp(u, "https://", 8) != 0 || u[strlen(u) - 1] != '/' ||
	    strpbrk(u, " <>\"\r\n") != NULL)) {
		check_error(errs, cfg, "list_unsubscribe_url",
		    "'%s': expected an https:// URL ending in '/' (the token is appended)", u);
		rc = -1;
	}
	if (cfg->feedback_listen.n > 0 && cfg->feedback_domain[0] == '\0') {
		check_error(errs, cfg, "feedback_listen", "set without feedback_domain");
		rc = -1;
	}
	rc |= check_ip_list(cfg, "http_listen", &cfg->http_listen, 1, errs);
	rc |= check_ip_list(cfg, "feedback_listen", &cfg->feedback_listen, 1, errs);
	return rc;
}

int
daemon_check(const struct config *cfg, char *err, size_t errlen)
{
	struct buf errs;
	struct stat st;
	int rc = 0;

	buf_init(&errs, 1 << 16);
	rc |= check_master_key(cfg, &errs);
	rc |= check_server_tls(cfg, &errs);
	rc |= check_route_tables(cfg, &errs);
	rc |= check_spam_rules(cfg, &errs);
	rc |= check_ip_list(cfg, "smtpd_submission_listen", &cfg->smtpd_submission_listen, 1, &errs);
	rc |= check_ip_list(cfg, "smtpd_submissions_listen", &cfg->smtpd_submissions_listen, 1,
	    &errs);
	rc |= check_ip_list(cfg, "smtpd_relay_listen", &cfg->smtpd_relay_listen, 1, &errs);
	rc |= check_ip_list(cfg, "dns_servers", &cfg->dns_servers, 0, &errs);
	rc |= check_suppression(cfg, &errs);
	if (cfg->metrics_listen[0]) {
		char host[256];
		int port;
		unsigned char a[16];

		if (config_parse_address(cfg->metrics_listen, host, sizeof(host), &port) != 0 ||
		    (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, a) != 1 &&
		    inet_pton(AF_INET6, host, a) != 1)) {
			check_error(&errs, cfg, "metrics_listen", "'%s' is not an IP address:port "
			    "(or *:port)", cfg->metrics_listen);
			rc = -1;
		}
	}
	if (cfg->dkim_key_directory[0]) {
		DIR *dir = opendir(cfg->dkim_key_directory);
		struct dirent *de;

		if (dir == NULL) {
			check_error(&errs, cfg, "dkim_key_directory", "%s: %s",
			    cfg->dkim_key_directory, strerror(errno));
			rc = -1;
		} else {
			while ((de = readdir(dir)) != NULL) {
				char *p;

				if (de->d_name[0] == '.')
					continue;
				p = xasprintf("%s/%s", cfg->dkim_key_directory, de->d_name);
				if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
					rc |= check_secret(cfg, "dkim_key_directory", p, &errs);
				free(p);
			}
			closedir(dir);
		}
	}
	if (cfg->user[0] && getpwnam(cfg->user) == NULL) {
		check_error(&errs, cfg, "user", "%s: no such user", cfg->user);
		rc = -1;
	}
	snprintf(err, errlen, "%s", errs.len ? errs.data : "");
	buf_free(&errs);
	return rc ? -1 : 0;
}

/*
 * Fork; the parent waits until the child writes "ok" (ready) or an
 * error text to the pipe, and exits 0 or 1 accordingly.  The child
 * starts a new session and logs to syslog from now on.
 */
static void
detach(struct daemon *d)
{
	int p[2], fd;
	pid_t pid;

	if (pipe(p) == -1)
		fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		char msg[4096];
		size_t len = 0;
		ssize_t n;

		close(p[1]);
		while (len < sizeof(msg) - 1 &&
		    ((n = read(p[0], msg + len, sizeof(msg) - 1 - len)) > 0 ||
		    (n == -1 && errno == EINTR)))
			if (n > 0)
				len += (size_t)n;
		msg[len] = '\0';
		if (strcmp(msg, "ok") == 0)
			_exit(0);
		fprintf(stderr, "posternd: %s\n", len ? msg : "exited during start-up");
		_exit(1);
	}
	close(p[0]);
	d->ready_fd = p[1];
	if (setsid() == -1)
		fatal("setsid: %s", strerror(errno));
	if (chdir("/") == -1)
		fatal("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	log_close();
	log_set_facility(d->cfg->syslog_facility);
	log_open("posternd", LOG_TO_SYSLOG, LOG_LEVEL_INFO);
}

/* Lock and write the pid file; a locked one means we are already running. */
static int
pidfile_open(struct daemon *d)
{
	const char *path = d->cfg->pid_file;
	char buf[32];
	int fd, len;

	if (path[0] == '\0')
		return 0;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		startup_error(d, "pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		startup_error(d, "pid_file %s: posternd is already running (pid %s)", path, buf);
		close(fd);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)len, 0) != len) {
		startup_error(d, "pid_file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	d->pid_fd = fd;
	return 0;
}

static void
pidfile_close(struct daemon *d)
{
	if (d->pid_fd == -1)
		return;
	if (unlink(d->cfg->pid_file) == -1)
		log_debug("event=pid_file_unlink_failed path=%s error=\"%s\"",
		    d->cfg->pid_file, strerror(errno));
	close(d->pid_fd);
	d->pid_fd = -1;
}

/* mkdir -p PATH; the last component gets MODE. */
static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	char *p;

	if (str_copy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
data_dir_create(struct daemon *d, const struct passwd *pw)
{
	const char *path = d->cfg->data_directory;
	struct stat st;
	int rc;

	if ((rc = mkdir_p(path, 0700)) < 0) {
		startup_error(d, "data_directory %s: %s", path, strerror(-rc));
		return -1;
	}
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		startup_error(d, "data_directory %s: not a directory", path);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		log_warn("event=data_directory_open path=%s mode=%04o hint=\"chmod 700\"",
		    path, (unsigned)(st.st_mode & 07777));
	if (pw != NULL && st.st_uid != pw->pw_uid && geteuid() == 0 &&
	    chown(path, pw->pw_uid, pw->pw_gid) == -1) {
		startup_error(d, "data_directory %s: chown %s: %s", path, pw->pw_name,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * One posternd per queue (issue 12 item 4): an exclusive flock on
 * DATA_DIRECTORY/posternd.lock, holding our pid, for as long as we run.
 * Unlike the pid file it cannot be configured away, so a second daemon
 * with another (or no) pid_file still finds the queue in use.  The lock
 * goes with the process (also after kill -9); the file stays, so a new
 * daemon never races one that is unlinking it.  Offline posternctl
 * opens the queue read-only and takes no lock.
 */
static int
data_dir_lock(struct daemon *d)
{
	const char *dir = d->cfg->data_directory;
	char *path = xasprintf("%s/posternd.lock", dir), buf[32];
	int fd, len;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		startup_error(d, "data_directory %s: %s: %s", dir, path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		ssize_t n = errno == EWOULDBLOCK ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (n >= 0)
			startup_error(d, "data_directory %s: in use by posternd pid %s", dir,
			    buf[0] ? buf : "?");
		else
			startup_error(d, "data_directory %s: cannot lock: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)len, 0) != len) {
		startup_error(d, "data_directory %s: posternd.lock: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	d->data_lock_fd = fd;
	return 0;
}

/* Give up root for good once every module has bound its sockets. */
static int
drop_privileges(struct daemon *d, const struct passwd *pw)
{
	if (pw == NULL)
		return 0;
	if (geteuid() != 0) {
		if (pw->pw_uid == geteuid())
			return 0;
		startup_error(d, "user = %s: changing user needs root", pw->pw_name);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		startup_error(d, "user = %s: %s", pw->pw_name, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) != -1)
		fatal("privilege drop to %s could be undone", pw->pw_name);
	log_info("event=privileges_dropped user=%s uid=%lu", pw->pw_name,
	    (unsigned long)pw->pw_uid);
	return 0;
}

/* Log level, pseudonymisation and its key: at start and on reload. */
static void
apply_log_settings(const struct config *cfg)
{
	char *key;
	size_t len;

	log_set_level((enum log_level)cfg->log_level);	/* same values */
	log_set_pseudonymise(cfg->log_pseudonymise);
	/* The pseudonym key is derived from the master key, whatever its
	 * format: stable across restarts, unknown to log readers. */
	if (cfg->master_key_file[0] &&
	    file_read_all(cfg->master_key_file, 1 << 16, &key, &len) == 0) {
		log_set_pseudonym_key((const unsigned char *)key, len);
		addr_index_set_key((const unsigned char *)key, len);
		token_set_key((const unsigned char *)key, len);
		memset(key, 0, len);
		free(key);
	}
}

static void
on_grace_timeout(uv_timer_t *t)
{
	log_warn("event=stop_stuck reason=\"handles still open after module stop\"");
	uv_stop(t->loop);
}

/* Every module has drained, or the deadline passed: stop them all. */
static void
finish(struct daemon *d)
{
	size_t i;

	if (uv_is_closing((uv_handle_t *)&d->stop_timer))
		return;
	for (i = d->started; i-- > 0;)
		if (modules[i].stop != NULL) {
			log_debug("event=module_stop module=%s", modules[i].name);
			modules[i].stop(d);
		}
	d->started = 0;
	uv_close((uv_handle_t *)&d->sig_term, on_handle_closed);
	uv_close((uv_handle_t *)&d->sig_int, on_handle_closed);
	uv_close((uv_handle_t *)&d->sig_hup, on_handle_closed);
	uv_close((uv_handle_t *)&d->stop_timer, on_handle_closed);
	/* A module that left a handle open would keep the loop alive for
	 * ever: give close callbacks a moment, then stop regardless. */
	uv_timer_start(&d->grace_timer, on_grace_timeout, 5000, 0);
	uv_unref((uv_handle_t *)&d->grace_timer);
}

static void
on_stop_timeout(uv_timer_t *t)
{
	struct daemon *d = t->data;

	log_warn("event=shutdown_timeout pending=%d timeout_ms=%llu", d->pending_drains,
	    (unsigned long long)d->cfg->shutdown_timeout);
	finish(d);
}

void
daemon_drained(struct daemon *d, const char *module)
{
	log_debug("event=module_drained module=%s", module);
	if (d->pending_drains > 0 && --d->pending_drains == 0)
		finish(d);
}

/* Drain every started module, then finish() (now or at the deadline). */
static void
begin_stop(struct daemon *d)
{
	size_t i;

	log_info("event=stopping timeout_ms=%llu",
	    (unsigned long long)d->cfg->shutdown_timeout);
	daemon_notify("STOPPING=1\nSTATUS=stopping");
	d->pending_drains = 1;	/* held until every drain() was called */
	for (i = d->started; i-- > 0;)
		if (modules[i].drain != NULL && modules[i].drain(d) == 1)
			d->pending_drains++;
	if (--d->pending_drains == 0) {
		finish(d);
		return;
	}
	uv_timer_start(&d->stop_timer, on_stop_timeout, d->cfg->shutdown_timeout, 0);
}

void
daemon_stop(struct daemon *d, int exit_status)
{
	if (exit_status != 0)
		d->exit_status = exit_status;
	if (d->stopping)
		return;
	d->stopping = 1;
	if (d->running)
		begin_stop(d);
	/* else: start-up completes first, then stops (daemon_run_modules). */
}

static void
on_sigterm(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	log_info("event=signal signal=%s", signum == SIGINT ? "INT" : "TERM");
	if (d->stopping) {
		log_warn("event=stop_forced pending=%d", d->pending_drains);
		finish(d);
		return;
	}
	daemon_stop(d, 0);
}

/* Settings that only take effect at start (RESTART in src/conf/config.c's
 * table): one warning per changed key, and the list for event=reloaded. */
static void
reload_restart_keys(const struct config *old, const struct config *next)
{
	char keys[1024], *p, *save = NULL;

	if (config_restart_changes(old, next, keys, sizeof(keys)) == 0)
		return;
	for (p = strtok_r(keys, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
		log_warn("event=reload_ignored key=%s reason=restart_required", p);
}

static void
log_error_lines(const char *errs)
{
	char q[2048];

	while (*errs) {
		size_t n = strcspn(errs, "\n");
		log_err("event=config_error error=%s", log_quote(errs, n, q, sizeof(q)));
		errs += n + (errs[n] == '\n');
	}
}

/* A reload that changes nothing: count the error lines, log, keep OLD. */
static void
reload_failed(struct daemon *d, const char *module, const char *errs)
{
	char q[1024], qe[2048];
	const char *p;
	int nerr = 1;

	log_error_lines(errs);
	for (p = errs; (p = strchr(p, '\n')) != NULL; p++)
		nerr++;
	log_err("event=reload_failed config=%s%s%s reason=%s errors=%d action=kept_old_config",
	    log_quote(d->config_path, strlen(d->config_path), q, sizeof(q)),
	    module ? " module=" : "", module ? module : "",
	    log_quote(errs, strcspn(errs, "\n"), qe, sizeof(qe)), nerr);
}

static void
on_sighup(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	struct config *next, *old;
	char err[8192], q[1024], restart[1024];
	size_t i, j, nrestart;

	(void)signum;
	log_info("event=signal signal=HUP");
	if (d->stopping)
		return;
	daemon_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    daemon_monotonic_usec());
	log_debug("event=reload_begin config=%s",
	    log_quote(d->config_path, strlen(d->config_path), q, sizeof(q)));
	/* Validate all of it before anything changes. */
	if ((next = config_load(d->config_path, err, sizeof(err))) == NULL ||
	    daemon_check(next, err, sizeof(err)) == -1) {
		reload_failed(d, NULL, err);
		config_unref(next);
		daemon_notify("READY=1\nSTATUS=running (reload failed, old config kept)");
		return;
	}
	for (i = 0; i < d->started; i++) {
		err[0] = '\0';
		if (modules[i].reload == NULL || modules[i].reload(d, next, err, sizeof(err)) == 0)
			continue;
		/* Give the modules already reloaded their old config back. */
		for (j = i; j-- > 0;) {
			char ignored[1024];

			if (modules[j].reload != NULL &&
			    modules[j].reload(d, d->cfg, ignored, sizeof(ignored)) == -1)
				log_warn("event=reload_rollback_failed module=%s error=%s",
				    modules[j].name, log_quote(ignored, strlen(ignored), q,
				    sizeof(q)));
		}
		reload_failed(d, modules[i].name, err[0] ? err : "module reload failed");
		config_unref(next);
		daemon_notify("READY=1\nSTATUS=running (reload failed, old config kept)");
		return;
	}
	reload_restart_keys(d->cfg, next);
	nrestart = config_restart_changes(d->cfg, next, restart, sizeof(restart));
	old = d->cfg;
	d->cfg = next;
	if (!d->foreground && strcmp(old->syslog_facility, next->syslog_facility) != 0) {
		log_close();
		log_set_facility(next->syslog_facility);
		log_open("posternd", LOG_TO_SYSLOG, LOG_LEVEL_INFO);
	}
	config_unref(old);
	apply_log_settings(d->cfg);
	log_info("event=reloaded config=%s log_level=%s%s%s",
	    log_quote(d->config_path, strlen(d->config_path), q, sizeof(q)),
	    config_enum_name("log_level", (int)d->cfg->log_level),
	    nrestart ? " restart_needed=" : "", nrestart ? restart : "");
	if (nrestart)
		daemon_notify("READY=1\nSTATUS=running (restart needed for %s)", restart);
	else
		daemon_notify("READY=1\nSTATUS=running");
}

static void
on_walk_leak(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h)) {
		log_warn("event=handle_leak type=%s", uv_handle_type_name(uv_handle_get_type(h)));
		uv_close(h, NULL);
	}
}

static int
start_modules(struct daemon *d)
{
	char err[4096];
	size_t i;

	for (i = 0; modules[i].name != NULL; i++) {
		err[0] = '\0';
		if (modules[i].start != NULL && modules[i].start(d, err, sizeof(err)) == -1) {
			startup_error(d, "module %s: %s", modules[i].name, err);
			return -1;
		}
		d->started = i + 1;
		log_debug("event=module_started module=%s", modules[i].name);
	}
	return 0;
}

int
daemon_run(struct config *cfg, const char *path, int foreground)
{
	return daemon_run_modules(cfg, path, foreground, builtin_modules);
}

int
daemon_run_modules(struct config *cfg, const char *path, int foreground,
    const struct daemon_module *table)
{
	struct daemon *d = &the_daemon;
	struct passwd *pw = NULL, pwcopy;
	char err[8192], abspath[PATH_MAX];
	int rc;

	modules = table;
	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->foreground = foreground;
	d->ready_fd = -1;
	d->pid_fd = -1;
	d->data_lock_fd = -1;
	/* The config is re-read on SIGHUP after detach's chdir("/"). */
	d->config_path = xstrdup(realpath(path, abspath) ? abspath : path);
	signal(SIGPIPE, SIG_IGN);

	if (daemon_check(cfg, err, sizeof(err)) == -1) {
		log_error_lines(err);
		goto out;
	}
	if (cfg->user[0]) {
		pw = getpwnam(cfg->user);
		if (pw == NULL) {
			log_err("event=config_error error=\"user = %s: no such user\"", cfg->user);
			goto out;
		}
		pwcopy = *pw;
		pwcopy.pw_name = xstrdup(pw->pw_name);
		pw = &pwcopy;
	}
	if (!foreground)
		detach(d);
	else {
		log_set_facility(cfg->syslog_facility);
	}
	apply_log_settings(cfg);
	/* The address index's normal form: at start only (a change re-keys
	 * every suppression, so it needs a restart). */
	addr_set_fold_local(cfg->address_fold_local_part);
	log_info("event=starting version=%s config=%s pid=%ld", PACKAGE_VERSION,
	    log_quote(d->config_path, strlen(d->config_path), err, sizeof(err)),
	    (long)getpid());

	daemon_size_pool(cfg);
	d->loop = uv_default_loop();
	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_hup);
	uv_timer_init(d->loop, &d->stop_timer);
	uv_timer_init(d->loop, &d->grace_timer);
	uv_unref((uv_handle_t *)&d->grace_timer);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d->stop_timer.data = d;
	uv_signal_start(&d->sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&d->sig_int, on_sigterm, SIGINT);
	uv_signal_start(&d->sig_hup, on_sighup, SIGHUP);

	if (pidfile_open(d) == -1 || data_dir_create(d, pw) == -1 ||
	    data_dir_lock(d) == -1 || start_modules(d) == -1 || drop_privileges(d, pw) == -1) {
		d->exit_status = 1;
		finish(d);
		uv_run(d->loop, UV_RUN_DEFAULT);
		goto close_loop;
	}
	apply_log_settings(d->cfg);	/* a module may have created the master key */
	d->running = 1;
	if (d->stopping) {
		/* A module called daemon_stop() while starting. */
		startup_error(d, "stopped during start-up (status %d)", d->exit_status);
		begin_stop(d);
	} else {
		log_info("event=ready pid=%ld modules=%zu user=%s", (long)getpid(),
		    d->started, pw ? pw->pw_name : "-");
		daemon_notify("READY=1\nMAINPID=%ld\nSTATUS=running", (long)getpid());
		if (d->ready_fd != -1) {
			rc = (int)write(d->ready_fd, "ok", 2);
			(void)rc;
			close(d->ready_fd);
			d->ready_fd = -1;
		}
	}

	uv_run(d->loop, UV_RUN_DEFAULT);
close_loop:
	uv_close((uv_handle_t *)&d->grace_timer, on_handle_closed);
	uv_run(d->loop, UV_RUN_NOWAIT);
	if (uv_loop_close(d->loop) == UV_EBUSY) {
		uv_walk(d->loop, on_walk_leak, NULL);
		uv_run(d->loop, UV_RUN_NOWAIT);
		uv_loop_close(d->loop);
	}
	pidfile_close(d);
	if (d->data_lock_fd != -1)
		close(d->data_lock_fd);	/* the queue is closed: another may start */
	log_info("event=stopped status=%d", d->exit_status);
	if (pw)
		free(pw->pw_name);
	config_unref(d->cfg);
	free(d->config_path);
	log_close();
	return d->exit_status;
out:
	config_unref(cfg);
	free(d->config_path);
	return 1;
}
