/* SPDX-License-Identifier: ISC */
/*
 * ctl.c: helpers for posternctl's command groups (include/ctl.h): the
 * control-socket client (one JSON request line, one response line),
 * the offline fallback for read-only commands (the same handler run
 * in-process on a read-only queue, so output does not depend on
 * whether the daemon is up), JSON printing and aligned tables.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "control.h"
#include "ctl.h"
#include "daemon.h"
#include "json.h"
#include "queue.h"
#include "util.h"

static int
ctl_verror(struct ctl *c, int status, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	c->error_reported = 1;
	fprintf(stderr, "%s: %s\n", c->prog ? c->prog : "posternctl", msg);
	if (c->json) {
		struct buf b;
		struct json_out j;

		buf_init(&b, 0);
		json_out_init(&j, &b);
		json_obj_begin(&j);
		json_kv_int(&j, "status", status);
		json_kv_str(&j, "error", msg);
		json_obj_end(&j);
		fwrite(b.data, 1, b.len, stdout);
		fputc('\n', stdout);
		buf_free(&b);
	}
	return status;
}

int
ctl_error(struct ctl *c, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(c, status, fmt, ap);
	va_end(ap);
	return status;
}

void
ctl_usage_error(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(c, CTL_EXIT_USAGE, fmt, ap);
	va_end(ap);
}

void
ctl_group_usage(const char *name, FILE *f)
{
	const struct ctl_group *g = ctl_group_find(name);

	if (g != NULL && g->usage != NULL)
		fputs(g->usage, f);
}

/* Levenshtein distance of A and B (short words only). */
static size_t
edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[65], i, j, prev, tmp;

	if (la > 64 || lb > 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			tmp = row[j];
			row[j] = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			if (prev + cost < row[j])
				row[j] = prev + cost;
			prev = tmp;
		}
	}
	return row[lb];
}

int
ctl_did_you_mean(const char *words, const char *word, char *out, size_t outlen)
{
	size_t wl = strlen(word), best = 3, nprefix = 0;
	const char *p = words, *bestp = NULL, *prefix = NULL;
	size_t bestl = 0, prefixl = 0;

	while (p != NULL && *p) {
		size_t l = strcspn(p, " "), d = edit_distance(p, l, word, wl);

		if (d < best) {
			best = d;
			bestp = p;
			bestl = l;
		}
		if (wl > 0 && wl < l && strncmp(p, word, wl) == 0) {
			nprefix++;
			prefix = p;
			prefixl = l;
		}
		p += l;
		p += strspn(p, " ");
	}
	if (bestp == NULL && nprefix == 1) {
		bestp = prefix;
		bestl = prefixl;
	}
	if (bestp == NULL || bestl >= outlen)
		return 0;
	memcpy(out, bestp, bestl);
	out[bestl] = '\0';
	return 1;
}

const struct config *
ctl_config(struct ctl *c)
{
	char err[2048];

	if (c->cfg != NULL)
		return c->cfg;
	c->cfg = config_load(c->config_path, err, sizeof(err));
	if (c->cfg == NULL) {
		if (access(c->config_path, F_OK) != 0 && c->socket_path != NULL)
			c->cfg = config_load(NULL, err, sizeof(err));
		else if (access(c->config_path, F_OK) != 0)
			ctl_error(c, CTL_EXIT_FAIL, "no configuration file %s%s: give one with "
			    "-c FILE or POSTERN_CONF=FILE (or the control socket with -s SOCKET)",
			    c->config_path, c->config_given ? "" : " (the default)");
		else
			ctl_error(c, CTL_EXIT_FAIL, "%s", err);
	}
	return c->cfg;
}

static int
ctl_connect(struct ctl *c)
{
	struct sockaddr_un sun;
	const char *path = c->socket_path;
	int fd;

	if (c->fd >= 0)
		return 0;
	if (path == NULL) {
		if (ctl_config(c) == NULL)
			return -ENOEXEC;	/* reported by ctl_config() */
		path = c->cfg->control_socket;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	c->fd = fd;
	return 0;
}

int
ctl_daemon_running(struct ctl *c)
{
	return ctl_connect(c) == 0;
}

/* Read one line from the daemon into B. */
static int
ctl_read_line(int fd, struct buf *b)
{
	char tmp[65536];
	ssize_t n;

	for (;;) {
		if (b->len > 0 && memchr(b->data, '\n', b->len) != NULL)
			return 0;
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		if (buf_append(b, tmp, (size_t)n) != 0)
			return -EFBIG;
	}
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Open the queue read-only for offline commands. */
static struct queue *
ctl_open_offline(struct ctl *c)
{
	char err[1024];

	if (c->queue != NULL)
		return c->queue;
	if (ctl_config(c) == NULL)
		return NULL;
	c->queue = queue_open_config(NULL, c->cfg, 1, err, sizeof(err));
	if (c->queue != NULL) {	/* lookups by address, as the daemon does */
		(void)addr_index_load_key(c->cfg->master_key_file);
		addr_set_fold_local(c->cfg->address_fold_local_part);
	}
	if (c->queue == NULL)
		ctl_error(c, CTL_EXIT_FAIL, "the daemon is not running and the queue "
		    "cannot be opened: %s", err);
	return c->queue;
}

int
ctl_call(struct ctl *c, const char *cmd, const char *args, int offline,
    struct json_value **root, const struct json_value **result)
{
	struct buf req, resp;
	struct json_out j;
	char err[256];
	int rc, status;
	const char *e;

	*root = NULL;
	*result = NULL;
	buf_init(&req, 0);
	json_out_init(&j, &req);
	json_obj_begin(&j);
	json_kv_str(&j, "cmd", cmd);
	json_key(&j, "args");
	if (args != NULL)
		json_raw(&j, args, strlen(args));
	else {
		json_obj_begin(&j);
		json_obj_end(&j);
	}
	json_obj_end(&j);
	buf_init(&resp, 0);
	rc = ctl_connect(c);
	if (rc == 0) {
		buf_append(&req, "\n", 1);
		if (write_all(c->fd, req.data, req.len) != 0 || ctl_read_line(c->fd, &resp) != 0) {
			buf_free(&req);
			buf_free(&resp);
			return ctl_error(c, CTL_EXIT_FAIL, "lost the connection to the daemon");
		}
	} else if (rc == -ENOEXEC) {
		buf_free(&req);		/* no config: ctl_config() said why */
		return CTL_EXIT_FAIL;
	} else if (offline && (rc == -ENOENT || rc == -ECONNREFUSED)) {
		if (ctl_open_offline(c) == NULL) {
			buf_free(&req);
			return CTL_EXIT_FAIL;
		}
		/* Say so once: the answer comes from the files, not the daemon. */
		if (!c->offline)
			fprintf(stderr, "posternctl: warning: posternd is not running (%s); "
			    "reading the queue directly, read-only\n",
			    c->socket_path ? c->socket_path : c->cfg->control_socket);
		c->offline = 1;
		control_run_local(req.data, req.len, CONTROL_ROLE_OPERATOR, c->cfg, c->queue, &resp);
	} else {
		rc = ctl_error(c, CTL_EXIT_FAIL, "cannot reach the daemon at %s: %s%s",
		    c->socket_path ? c->socket_path : c->cfg ? c->cfg->control_socket : "?",
		    strerror(-rc), offline ? "" : " (this command needs a running posternd)");
		buf_free(&req);
		return rc;
	}
	buf_free(&req);
	if (resp.len > 0 && resp.data[resp.len - 1] == '\n')
		resp.len--;
	*root = json_parse(resp.data, resp.len, err, sizeof(err));
	buf_free(&resp);
	if (*root == NULL)
		return ctl_error(c, CTL_EXIT_FAIL, "bad response from the daemon: %s", err);
	status = (int)json_get_int(*root, "status", CTL_EXIT_FAIL);
	if (status != 0) {
		e = json_get_str(*root, "error", "failed");
		*result = json_get(*root, "result");	/* refusals with a receipt */
		return ctl_error(c, status == CTL_EXIT_USAGE ? CTL_EXIT_USAGE : CTL_EXIT_FAIL,
		    "%s", e);
	}
	*result = json_get(*root, "result");
	return 0;
}

/* ---- output ---- */

void
ctl_print_json(const struct json_value *v, FILE *out)
{
	struct buf b;
	struct json_out j;

	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_write_value(&j, v);
	fwrite(b.data, 1, b.len, out);
	fputc('\n', out);
	buf_free(&b);
}

struct ctl_table {
	size_t ncols, nrows;
	char **cells;		/* nrows * ncols, row 0 = headers */
};

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers)
{
	struct ctl_table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	ctl_table_add(t, headers);
	return t;
}

void
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	size_t i;

	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

void
ctl_table_print(struct ctl_table *t, FILE *out)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w)), r, i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			size_t l = strlen(t->cells[r * t->ncols + i]);
			if (l > w[i])
				w[i] = l;
		}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			if (i + 1 == t->ncols)
				fprintf(out, "%s", s);
			else
				fprintf(out, "%-*s  ", (int)w[i], s);
		}
		fputc('\n', out);
	}
	free(w);
}

void
ctl_table_free(struct ctl_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

const char *
ctl_fmt_time(uint64_t ms, char *out, size_t outlen)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0) {
		snprintf(out, outlen, "-");
		return out;
	}
	gmtime_r(&s, &tm);
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
	return out;
}

const char *
ctl_fmt_age(uint64_t ms, char *out, size_t outlen)
{
	uint64_t s = ms / 1000;

	if (s < 120)
		snprintf(out, outlen, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(out, outlen, "%llum", (unsigned long long)(s / 60));
	else if (s < 172800)
		snprintf(out, outlen, "%lluh", (unsigned long long)(s / 3600));
	else
		snprintf(out, outlen, "%llud", (unsigned long long)(s / 86400));
	return out;
}
