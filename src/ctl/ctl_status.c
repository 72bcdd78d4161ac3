/* SPDX-License-Identifier: ISC */
/*
 * ctl_status.c: `posternctl status`, `delivery ...`, `config` and
 * `setup` (posternctl(8)): argv parsing and printing, except setup,
 * which is the one-time installation step and works on the system
 * directly.
 *
 * status asks the running daemon (the `status` control command) and
 * exits 1 when it does not answer: a health check for monitoring and
 * for `ExecStartPost=`-style scripts.  delivery pause|resume go to the
 * daemon (audited, persisted); delivery status also works offline.
 * config prints the effective configuration of the file posternctl
 * uses (-c, $POSTERN_CONF or the default), like `postconf -n`: keys
 * that differ from their defaults, or every key with --all.  Secrets
 * never appear: the config holds only the paths of secret files.
 *
 * setup (root) prepares a fresh machine for the shipped systemd unit:
 * the operator group (operator_group) and reviewer group
 * (reviewer_group), the unprivileged user (`user`, else "postern") as
 * a system account without a shell, data_directory 0700, the control
 * socket's directory 0755 (access control is the peer-credential role
 * check, not the mode), the config directory 0750 root:operator group,
 * the master key (64 hex digits, 0600, the daemon's user), and the
 * config file 0640 root:operator group.  Existing users, directories
 * and keys are left as they are (modes and owners are corrected);
 * --dry-run prints the steps only.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

static const char *
jstr(const struct json_value *o, const char *k)
{
	const char *s = json_get_str(o, k, NULL);

	return s != NULL ? s : "";
}

static void
print_delivery(const struct json_value *d)
{
	const struct json_value *doms = json_get(d, "paused_domains");
	size_t i;

	if (!json_get_bool(d, "enabled", 1))
		printf("disabled (delivery_enabled = no)");
	else if (json_get_bool(d, "paused", 0))
		printf("paused (everything)");
	else
		printf("running");
	if (doms != NULL && doms->n > 0) {
		printf("; paused for");
		for (i = 0; i < doms->n; i++)
			printf("%s %s", i ? "," : "", doms->items[i]->s);
	}
	printf("\n");
}

static void
print_status(const struct json_value *s)
{
	const struct json_value *l = json_get(s, "listeners"), *q = json_get(s, "queue");
	const struct json_value *od = json_get(s, "oldest_deferred"), *re = json_get(s, "recent_errors");
	char t[64], age[32];
	size_t i;

	ctl_fmt_age((uint64_t)json_get_int(s, "uptime", 0) * 1000, age, sizeof(age));
	printf("posternd:        %s running, pid %lld, up %s (since %s UTC)\n", jstr(s, "version"),
	    (long long)json_get_int(s, "pid", 0), age,
	    ctl_fmt_time((uint64_t)json_get_int(s, "started", 0), t, sizeof(t)));
	printf("config:          %s\n", jstr(s, "config"));
	printf("control socket:  %s\n", jstr(s, "control_socket"));
	printf("listeners:      ");
	for (i = 0; l != NULL && i < l->n; i++)
		printf("%s %s %s", i ? "," : "", jstr(l->items[i], "listener"),
		    jstr(l->items[i], "address"));
	printf("%s\n", l == NULL || l->n == 0 ? " none" : "");
	printf("queue:           %lld messages", (long long)json_get_int(q, "messages", 0));
	for (i = 0; q != NULL && i < q->n; i++)
		if (strcmp(q->keys[i], "messages") != 0 && strcmp(q->keys[i], "bytes") != 0)
			printf("%s %s %lld", i == 2 ? ":" : ",", q->keys[i], (long long)q->items[i]->i);
	printf("\n");
	printf("delivery:        ");
	print_delivery(json_get(s, "delivery"));
	if (od != NULL) {
		ctl_fmt_age((uint64_t)json_get_int(od, "age", 0) * 1000, age, sizeof(age));
		printf("oldest deferred: %s (%s): %s\n", jstr(od, "id"), age, jstr(od, "last_reply"));
	} else
		printf("oldest deferred: -\n");
	printf("recent errors:   %s\n", re == NULL || re->n == 0 ? "none" : "");
	for (i = 0; re != NULL && i < re->n; i++)
		printf("  %s %-4s %s\n", ctl_fmt_time((uint64_t)json_get_int(re->items[i], "time", 0),
		    t, sizeof(t)), jstr(re->items[i], "level"), jstr(re->items[i], "line"));
}

int
ctl_status_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	int rc;

	(void)argv;
	if (argc != 1) {
		ctl_group_usage("status", stderr);
		return ctl_error(c, CTL_EXIT_USAGE, "status takes no arguments");
	}
	rc = ctl_call(c, "status", NULL, 0, &root, &res);
	if (rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else
			print_status(res);
	}
	json_free(root);
	return rc;
}

int
ctl_delivery_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	const char *verb = argv[1], *domain = NULL;
	struct buf args;
	struct json_out j;
	char cmd[64];
	int i, rc;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc && strcmp(verb, "status") != 0)
			domain = argv[++i];
		else {
			ctl_group_usage("delivery", stderr);
			return ctl_error(c, CTL_EXIT_USAGE, "delivery %s: unexpected argument '%s'",
			    verb, argv[i]);
		}
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	if (domain != NULL)
		json_kv_str(&j, "domain", domain);
	json_obj_end(&j);
	snprintf(cmd, sizeof(cmd), "delivery.%s", verb);
	rc = ctl_call(c, cmd, args.data, strcmp(verb, "status") == 0, &root, &res);
	buf_free(&args);
	if (rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else if (strcmp(verb, "status") == 0) {
			printf("delivery: ");
			print_delivery(res);
		} else
			printf("delivery %sd%s%s\n", strcmp(verb, "pause") == 0 ? "pause" : "resume",
			    domain ? " for " : "", domain ? domain : "");
	}
	json_free(root);
	return rc;
}

/* ---- config ---- */

struct config_print {
	struct json_out *j;		/* --json, else text */
	char **keys;			/* KEY... filter, or NULL */
	int nkeys;
	int *seen;
};

static int
config_print_cb(void *arg, const char *key, const char *value, int is_default, int line)
{
	struct config_print *cp = arg;
	int i, want = cp->nkeys == 0;

	(void)is_default;
	(void)line;
	for (i = 0; i < cp->nkeys; i++)
		if (strcmp(cp->keys[i], key) == 0) {
			want = 1;
			cp->seen[i] = 1;
		}
	if (!want)
		return 0;
	if (cp->j != NULL)
		json_kv_str(cp->j, key, value);
	else
		printf("%s = %s\n", key, value);
	return 0;
}

int
ctl_config_main(struct ctl *c, int argc, char **argv)
{
	const struct config *cfg;
	struct config_print cp;
	struct buf b;
	struct json_out j;
	int i, all = 0, rc = CTL_EXIT_OK;

	memset(&cp, 0, sizeof(cp));
	cp.keys = xcalloc((size_t)argc + 1, sizeof(*cp.keys));
	cp.seen = xcalloc((size_t)argc + 1, sizeof(*cp.seen));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)
			all = 1;
		else if (argv[i][0] == '-') {
			free(cp.keys);
			free(cp.seen);
			ctl_group_usage("config", stderr);
			return ctl_error(c, CTL_EXIT_USAGE, "config: unknown option '%s'", argv[i]);
		} else
			cp.keys[cp.nkeys++] = argv[i];
	}
	if ((cfg = ctl_config(c)) == NULL) {
		free(cp.keys);
		free(cp.seen);
		return CTL_EXIT_FAIL;
	}
	buf_init(&b, 0);
	if (c->json) {
		json_out_init(&j, &b);
		json_obj_begin(&j);
		cp.j = &j;
	}
	/* Named keys are shown whatever their value, as postconf KEY does. */
	config_foreach(cfg, all || cp.nkeys > 0, config_print_cb, &cp);
	if (c->json) {
		json_obj_end(&j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
	}
	buf_free(&b);
	for (i = 0; i < cp.nkeys; i++)
		if (!cp.seen[i])
			rc = ctl_error(c, CTL_EXIT_FAIL, "config: unknown key '%s'", cp.keys[i]);
	free(cp.keys);
	free(cp.seen);
	return rc;
}

/* ---- setup ---- */

struct setup {
	struct ctl *c;
	int dry_run;
	int failed;
};

static void
step(struct setup *s, const char *what)
{
	printf("%s%s\n", s->dry_run ? "would: " : "", what);
}

static int
run_cmd(struct setup *s, char *const argv[])
{
	char line[512];
	size_t off = 0;
	int i, st;
	pid_t pid;

	for (i = 0; argv[i] != NULL && off < sizeof(line) - 1; i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "", argv[i]);
	step(s, line);
	if (s->dry_run)
		return 0;
	if ((pid = fork()) == -1)
		return -errno;
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		ctl_error(s->c, CTL_EXIT_FAIL, "setup: %s failed", argv[0]);
		s->failed = 1;
		return -1;
	}
	return 0;
}

static const char *
find_tool(const char *name)
{
	static char path[64];
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

static void
ensure_group(struct setup *s, const char *name)
{
	char tool[64];
	const char *t;

	if (name[0] == '\0' || getgrnam(name) != NULL)
		return;
	if ((t = find_tool("groupadd")) == NULL) {
		ctl_error(s->c, CTL_EXIT_FAIL, "setup: no groupadd to create group %s", name);
		s->failed = 1;
		return;
	}
	str_copy(tool, t, sizeof(tool));
	{
		char *const argv[] = { tool, "--system", (char *)name, NULL };
		run_cmd(s, argv);
	}
}

static void
ensure_user(struct setup *s, const char *name, const char *group, const char *home)
{
	char tool[64], shell[64] = "/usr/sbin/nologin";
	const char *t;

	if (getpwnam(name) != NULL)
		return;
	if ((t = find_tool("useradd")) == NULL) {
		ctl_error(s->c, CTL_EXIT_FAIL, "setup: no useradd to create user %s", name);
		s->failed = 1;
		return;
	}
	str_copy(tool, t, sizeof(tool));
	if (access(shell, X_OK) != 0)
		str_copy(shell, "/bin/false", sizeof(shell));
	{
		char *const argv[] = { tool, "--system", "--gid", (char *)group, "--home-dir",
		    (char *)home, "--no-create-home", "--shell", shell, (char *)name, NULL };
		run_cmd(s, argv);
	}
}

/* mkdir -p the parents (0755), then DIR itself with MODE and owner. */
static void
ensure_dir(struct setup *s, const char *dir, mode_t mode, uid_t uid, gid_t gid)
{
	char tmp[4096], msg[4300], *p;
	struct stat st;

	snprintf(msg, sizeof(msg), "directory %s mode %04o owner %lu:%lu", dir, (unsigned)mode,
	    (unsigned long)uid, (unsigned long)gid);
	step(s, msg);
	if (s->dry_run)
		return;
	if (str_copy(tmp, dir, sizeof(tmp)) >= sizeof(tmp))
		goto fail;
	for (p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
				goto fail;
			*p = '/';
		}
	if (mkdir(dir, mode) == -1 && errno != EEXIST)
		goto fail;
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || chmod(dir, mode) == -1 ||
	    chown(dir, uid, gid) == -1)
		goto fail;
	return;
fail:
	ctl_error(s->c, CTL_EXIT_FAIL, "setup: %s: %s", dir, strerror(errno));
	s->failed = 1;
}

static void
ensure_master_key(struct setup *s, const char *path, uid_t uid, gid_t gid)
{
	unsigned char key[32];
	char hex[65 + 1], msg[4200];
	int fd;
	size_t i;

	if (access(path, F_OK) == 0) {
		snprintf(msg, sizeof(msg), "master key %s exists: owner %lu:%lu mode 0600", path,
		    (unsigned long)uid, (unsigned long)gid);
		step(s, msg);
		if (!s->dry_run && (chown(path, uid, gid) == -1 || chmod(path, 0600) == -1)) {
			ctl_error(s->c, CTL_EXIT_FAIL, "setup: %s: %s", path, strerror(errno));
			s->failed = 1;
		}
		return;
	}
	snprintf(msg, sizeof(msg), "master key %s: new, mode 0600", path);
	step(s, msg);
	if (s->dry_run)
		return;
	crypto_random_bytes(key, sizeof(key));
	for (i = 0; i < sizeof(key); i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[64] = '\n';
	crypto_wipe(key, sizeof(key));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1 ||
	    write(fd, hex, 65) != 65 || fsync(fd) != 0 || fchown(fd, uid, gid) != 0) {
		ctl_error(s->c, CTL_EXIT_FAIL, "setup: %s: %s", path, strerror(errno));
		s->failed = 1;
	}
	crypto_wipe(hex, sizeof(hex));
	if (fd != -1)
		close(fd);
}

/*
 * The erasure journal (queue/journal.c) lives beside the master key, in
 * a directory root owns (0750 root:operators) and, under the unit's
 * ProtectSystem=strict, on a read-only mount: posternd can neither
 * create it there nor write it, so setup creates it empty, owned by the
 * user, 0600 (posternd writes its header on first start) and the unit
 * makes that one file writable (ReadWritePaths=).  An existing one is
 * kept, its owner and mode set.
 */
static void
ensure_journal(struct setup *s, const char *master_key_file, uid_t uid, gid_t gid)
{
	const char *slash = strrchr(master_key_file, '/');
	char path[4200], msg[4300];
	int fd;

	if (slash == NULL)
		str_copy(path, "erasure.journal", sizeof(path));
	else
		snprintf(path, sizeof(path), "%.*s/erasure.journal", (int)(slash - master_key_file),
		    master_key_file);
	snprintf(msg, sizeof(msg), "erasure journal %s%s: owner %lu:%lu mode 0600", path,
	    access(path, F_OK) == 0 ? " exists" : " (empty)", (unsigned long)uid,
	    (unsigned long)gid);
	step(s, msg);
	if (s->dry_run)
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1 ||
	    fchown(fd, uid, gid) != 0 || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		ctl_error(s->c, CTL_EXIT_FAIL, "setup: %s: %s", path, strerror(errno));
		s->failed = 1;
	}
	if (fd != -1)
		close(fd);
}

int
ctl_setup_main(struct ctl *c, int argc, char **argv)
{
	const struct config *cfg;
	const struct passwd *pw;
	const struct group *gr;
	struct setup s;
	const char *user = NULL;
	char sockdir[4096], keydir[4096], msg[4200];
	uid_t uid = 0;
	gid_t gid = 0, opgid = 0;
	int i;

	memset(&s, 0, sizeof(s));
	s.c = c;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "-n") == 0)
			s.dry_run = 1;
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else {
			ctl_group_usage("setup", stderr);
			return ctl_error(c, CTL_EXIT_USAGE, "setup: unexpected argument '%s'", argv[i]);
		}
	}
	if ((cfg = ctl_config(c)) == NULL)
		return CTL_EXIT_FAIL;
	if (user == NULL)
		user = cfg->user[0] ? cfg->user : "postern";
	if (!s.dry_run && geteuid() != 0)
		return ctl_error(c, CTL_EXIT_FAIL, "setup must run as root (try --dry-run)");
	ensure_group(&s, cfg->operator_group);
	ensure_group(&s, cfg->reviewer_group);
	if (getgrnam(user) == NULL && strcmp(user, cfg->operator_group) != 0)
		ensure_group(&s, user);
	ensure_user(&s, user, getgrnam(user) ? user : cfg->operator_group, cfg->data_directory);
	if ((pw = getpwnam(user)) != NULL) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	} else if (!s.dry_run)
		return ctl_error(c, CTL_EXIT_FAIL, "setup: user %s does not exist", user);
	if ((gr = getgrnam(cfg->operator_group)) != NULL)
		opgid = gr->gr_gid;
	ensure_dir(&s, cfg->data_directory, 0700, uid, gid);
	str_copy(sockdir, cfg->control_socket, sizeof(sockdir));
	ensure_dir(&s, dirname(sockdir), 0755, uid, gid);
	if (cfg->dkim_key_directory[0])
		ensure_dir(&s, cfg->dkim_key_directory, 0700, uid, gid);
	str_copy(keydir, cfg->master_key_file, sizeof(keydir));
	ensure_dir(&s, dirname(keydir), 0750, 0, opgid);
	ensure_master_key(&s, cfg->master_key_file, uid, gid);
	ensure_journal(&s, cfg->master_key_file, uid, gid);
	if (access(c->config_path, F_OK) == 0) {
		snprintf(msg, sizeof(msg), "config %s mode 0640 owner 0:%lu", c->config_path,
		    (unsigned long)opgid);
		step(&s, msg);
		if (!s.dry_run && (chown(c->config_path, 0, opgid) == -1 ||
		    chmod(c->config_path, 0640) == -1)) {
			ctl_error(c, CTL_EXIT_FAIL, "setup: %s: %s", c->config_path, strerror(errno));
			s.failed = 1;
		}
	}
	if (s.failed)
		return CTL_EXIT_FAIL;
	printf("%s; operators: members of group %s, reviewers: %s.  Leave `user` empty "
	    "when the systemd unit sets User=%s.\n", s.dry_run ? "dry run" : "done",
	    cfg->operator_group, cfg->reviewer_group, user);
	return CTL_EXIT_OK;
}
