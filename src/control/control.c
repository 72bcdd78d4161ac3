/* SPDX-License-Identifier: ISC */
/*
 * control.c: the control socket server of include/control.h.
 *
 * A uv_pipe listener on control_socket.  Each connection reads lines
 * (capped at CONTROL_MAX_LINE), parses one JSON request per line, looks
 * the command up in the registry that modules fill with
 * control_register(), checks the peer's role (SO_PEERCRED, computed
 * once per connection) and runs the handler.  While a request is in
 * progress the connection stops reading (STYLE rule 5), so responses
 * come back in request order.
 *
 * Audit (DESIGN.md §9).  A mutating command's handler passes the record
 * (control_audit_txn: who, role, command, target) to the queue mutation,
 * which commits it in the same LMDB transaction as the effect, so a
 * crash never leaves a change without its record; batch commands write
 * one record per batch (the ids changed, never addresses).  Commands
 * refused before they reach the queue (role, usage, not found) or whose
 * transaction failed get their record here, through the queue's writer,
 * when they finish.  Effects outside LMDB (DKIM key files) are audited
 * ahead (control_audit_intent).  The response is written only after the
 * record is durable.
 *
 * The socket file is made 0666: access control is the role check on
 * the peer's credentials, not the file mode, so reviewers in another
 * group can connect and be told what they may not do.
 */
#include "autoconfig.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "control_int.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define CONTROL_MAX_LINE (16u * 1024 * 1024)	/* queue.inject carries bodies */

/* ---- registry ---- */

struct reg {
	const struct control_cmd *cmds;
	size_t n;
};
static struct reg *registry;
static size_t nregistry;

void
control_register(const struct control_cmd *cmds, size_t n)
{
	size_t i;

	for (i = 0; i < nregistry; i++)
		if (registry[i].cmds == cmds)
			return;		/* idempotent: modules may restart */
	registry = xrealloc(registry, (nregistry + 1) * sizeof(*registry));
	registry[nregistry].cmds = cmds;
	registry[nregistry].n = n;
	nregistry++;
}

const struct control_cmd *
control_lookup(const char *name)
{
	size_t i, j;

	for (i = nregistry; i-- > 0;)
		for (j = 0; j < registry[i].n; j++)
			if (strcmp(registry[i].cmds[j].name, name) == 0)
				return &registry[i].cmds[j];
	return NULL;
}

const char *
control_strrole(enum control_role r)
{
	switch (r) {
	case CONTROL_ROLE_OPERATOR: return "operator";
	case CONTROL_ROLE_REVIEWER: return "reviewer";
	default: return "none";
	}
}

/* ---- built-in commands ---- */

static int
cmd_ping(struct control_req *req, struct json_out *out)
{
	(void)req;
	json_obj_begin(out);
	json_kv_str(out, "pong", PACKAGE_VERSION);
	json_obj_end(out);
	return CONTROL_OK;
}

static int
cmd_whoami(struct control_req *req, struct json_out *out)
{
	json_obj_begin(out);
	json_kv_uint(out, "uid", req->uid);
	json_kv_str(out, "user", req->user);
	json_kv_str(out, "role", control_strrole(req->role));
	json_obj_end(out);
	return CONTROL_OK;
}

static int
cmd_commands(struct control_req *req, struct json_out *out)
{
	size_t i, j;

	json_arr_begin(out);
	for (i = 0; i < nregistry; i++)
		for (j = 0; j < registry[i].n; j++)
			if (req->role >= registry[i].cmds[j].min_role)
				json_str(out, registry[i].cmds[j].name);
	json_arr_end(out);
	return CONTROL_OK;
}

static const struct control_cmd builtin_cmds[] = {
	{ "ping", CONTROL_ROLE_REVIEWER, 0, cmd_ping },
	{ "whoami", CONTROL_ROLE_NONE, 0, cmd_whoami },
	{ "commands", CONTROL_ROLE_REVIEWER, 0, cmd_commands },
};

/* ---- requests ---- */

struct control {
	uv_loop_t *loop;
	const struct config *cfg;	/* one reference (config_ref); swapped on reload */
	struct queue *queue;
	const struct spam_store *spam;	/* borrowed, or NULL */
	struct spamdb *spamdb;		/* borrowed, or NULL */
	struct auth_guard *auth_guard;	/* borrowed; NULL without one */
	uv_pipe_t server;
	char *path;
	struct conn *conns;
	struct review_expiry *expiry;	/* review_hold_expiry timer (cmd_review.c) */
	int nconns;		/* accepted and not yet closed (incl. closing) */
	int server_closed;
	int stopping;
};

struct conn {
	uv_pipe_t pipe;
	struct control *srv;
	struct conn *next;
	struct buf in;
	struct buf result;
	struct json_out out;
	struct json_value *json;
	struct control_req req;
	const struct control_cmd *cmd;
	int busy;
	int refused;		/* refused for the role: audited even if not mutating */
	int audited;		/* the queue committed the record with the effect */
	char *audit_head;	/* control_audit_txn(): the record's head */
	struct queue_audit qa;
	int in_process;		/* conn_process() is on the stack */
	int eof;
	int closing;
	int status;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];
	enum control_role role;
};

int
control_error(struct control_req *req, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->error, sizeof(req->error), fmt, ap);
	va_end(ap);
	return status;
}

struct json_out *
control_out(struct control_req *req)
{
	return req->out;
}

/* The response line for STATUS and the handler's result RESULT. */
static void
control_response(struct buf *line, int status, const char *error, const struct buf *result,
    int result_on_error)
{
	struct json_out j;

	json_out_init(&j, line);
	json_obj_begin(&j);
	json_kv_bool(&j, "ok", status == CONTROL_OK);
	json_kv_int(&j, "status", status);
	if (status == CONTROL_OK) {
		json_key(&j, "result");
		if (result->len > 0)
			json_raw(&j, result->data, result->len);
		else
			json_null(&j);
	} else {
		json_kv_str(&j, "error", error[0] ? error : "failed");
		/* a refused data-subject request still carries its receipt */
		if (result_on_error && result->len > 0) {
			json_key(&j, "result");
			json_raw(&j, result->data, result->len);
		}
	}
	json_obj_end(&j);
}

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void conn_closed(uv_handle_t *h);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *ub);
static void conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *ub);

static void
conn_write_cb(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

static void
conn_send(struct conn *c, struct buf *line)
{
	uv_write_t *w;
	uv_buf_t ub;
	char *data;
	size_t len;

	buf_append(line, "\n", 1);
	data = buf_steal(line, &len);
	if (c->closing || c->eof == 2) {
		free(data);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->data = data;
	ub = uv_buf_init(data, (unsigned)len);
	if (uv_write(w, (uv_stream_t *)&c->pipe, &ub, 1, conn_write_cb) != 0) {
		free(data);
		free(w);
	}
}

/* After the response: reset and go on with pipelined requests. */
static void
conn_next(struct conn *c)
{
	json_free(c->json);
	c->json = NULL;
	buf_reset(&c->result);
	free(c->audit_head);
	c->audit_head = NULL;
	c->audited = 0;
	c->refused = 0;
	c->busy = 0;
	c->cmd = NULL;
	if (c->closing) {
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
		return;
	}
	if (c->srv->stopping) {
		conn_close(c);
		return;
	}
	if (!c->in_process)
		conn_process(c);
}

static void
conn_respond(struct conn *c)
{
	struct buf line;

	buf_init(&line, 0);
	control_response(&line, c->status, c->req.error, &c->result, c->req.result_on_error);
	conn_send(c, &line);
	buf_free(&line);
	conn_next(c);
}

static void
audit_done(void *arg, const struct outcome *o)
{
	struct conn *c = arg;

	if (o->kind != OUTCOME_OK) {
		log_err("event=audit_failed cmd=%s", c->req.cmd);
		if (c->status == CONTROL_OK) {
			c->status = CONTROL_FAIL;
			snprintf(c->req.error, sizeof(c->req.error),
			    "done, but the audit record could not be written: %s", o->text);
		}
	}
	conn_respond(c);
}

/* The audit record of C's request into B: who, role, what, target, and
 * the status; or PHASE ("intent" for a record written ahead, "" for the
 * head of a record the queue completes in its own transaction). */
static void
control_audit_json(struct conn *c, struct buf *b, const char *phase)
{
	struct json_out j;

	json_out_init(&j, b);
	json_obj_begin(&j);
	json_kv_uint(&j, "time", now_wall_ms());
	json_kv_uint(&j, "uid", c->uid);
	json_kv_str(&j, "user", c->user);
	json_kv_str(&j, "role", control_strrole(c->role));
	json_kv_str(&j, "cmd", c->req.cmd);
	json_kv_str(&j, "target", c->req.target);
	if (c->req.reason[0] != '\0')
		json_kv_str(&j, "reason", c->req.reason);
	else if (json_get_str(c->req.args, "reason", NULL) != NULL)
		json_kv_str(&j, "reason", json_get_str(c->req.args, "reason", NULL));
	if (c->req.audit_read)
		json_kv_bool(&j, "read", 1);
	if (phase != NULL && *phase != '\0')
		json_kv_str(&j, "phase", phase);
	else if (phase == NULL) {
		json_kv_int(&j, "status", c->status);
		if (c->status != CONTROL_OK)
			json_kv_str(&j, "error", c->req.error);
	}
	json_obj_end(&j);
}

/* Append the audit record of the finished (or refused) request. */
static int
control_audit(struct conn *c)
{
	struct buf b;
	int rc;

	if (c->srv->queue == NULL)
		return -1;
	buf_init(&b, 0);
	control_audit_json(c, &b, NULL);
	rc = queue_audit(c->srv->queue, b.data, audit_done, c);
	buf_free(&b);
	return rc;
}

struct intent {
	control_audit_cb cb;
	void *arg;
};

static void
intent_done(void *arg, const struct outcome *o)
{
	struct intent *in = arg;

	if (o->kind != OUTCOME_OK)
		log_err("event=audit_failed phase=intent");
	in->cb(in->arg, o->kind == OUTCOME_OK ? 0 : -EIO);
	free(in);
}

const struct queue_audit *
control_audit_txn(struct control_req *req, int unchanged_ok)
{
	struct conn *c = req->priv;
	struct buf b;

	if (c == NULL)
		return NULL;
	free(c->audit_head);
	buf_init(&b, 0);
	control_audit_json(c, &b, "");
	c->audit_head = buf_steal(&b, NULL);
	c->qa.json = c->audit_head;
	c->qa.unchanged_ok = unchanged_ok;
	return &c->qa;
}

int
control_audit_read(struct control_req *req)
{
	struct conn *c = req->priv;
	const char *reason = json_get_str(req->args, "reason", NULL);

	if (c == NULL || c->srv->queue == NULL)
		return 0;
	if (req->role < CONTROL_ROLE_OPERATOR && (reason == NULL || *reason == '\0')) {
		control_error(req, CONTROL_USAGE, "%s: a reason is required (--reason TEXT)",
		    req->cmd);
		return -1;
	}
	req->audit_read = 1;
	return 1;
}

void
control_audit_committed(struct control_req *req)
{
	struct conn *c = req->priv;

	if (c != NULL)
		c->audited = 1;
}

int
control_audit_intent(struct control_req *req, control_audit_cb cb, void *arg)
{
	struct conn *c = req->priv;
	struct intent *in;
	struct buf b;
	int rc;

	if (c == NULL || c->srv->queue == NULL)
		return -EROFS;
	in = xcalloc(1, sizeof(*in));
	in->cb = cb;
	in->arg = arg;
	buf_init(&b, 0);
	control_audit_json(c, &b, "intent");
	if ((rc = queue_audit(c->srv->queue, b.data, intent_done, in)) != 0)
		free(in);
	buf_free(&b);
	return rc;
}

void
control_finish(struct control_req *req, int status)
{
	struct conn *c = req->priv;

	if (c == NULL) {		/* control_run_local() */
		req->local_done = 1;
		req->local_status = status;
		return;
	}
	c->status = status;
	{
		/* the target comes from the request: quoted, control
		 * characters and quotes escaped, so a client cannot write
		 * lines of its own into the log */
		char q[sizeof(req->target) * 4 + 3];

		log_quote(req->target, strlen(req->target), q, sizeof(q));
		log_info("event=control cmd=%s user=%s role=%s target=%s%s%s status=%d",
		    req->cmd, c->user, control_strrole(c->role), q[0] == '"' ? "" : "\"", q,
		    q[0] == '"' ? "" : "\"", status);
	}
	/* A mutation whose record the queue committed with it is done;
	 * anything else that is mutating (refused before reaching the
	 * queue, or failed there) gets its record now. */
	if (c->cmd != NULL && (c->cmd->mutating || c->refused || req->audit_read) && !c->audited &&
	    control_audit(c) == 0)
		return;
	if (req->audit_read && !c->audited) {
		/* an audited read whose record cannot be written returns nothing */
		c->status = CONTROL_FAIL;
		snprintf(c->req.error, sizeof(c->req.error),
		    "the audit record of this read could not be written");
	}
	conn_respond(c);
}

/* For a request refused before its handler ran: what it was aimed at,
 * from the usual arguments (domain and selector, account name, message
 * ids), so the audit record of a refusal says what was attempted. */
static void
control_default_target(struct control_req *req)
{
	const struct json_value *ids = json_get(req->args, "ids");
	const char *dom = json_get_str(req->args, "domain", NULL);
	const char *sel = json_get_str(req->args, "selector", NULL);
	const char *name = json_get_str(req->args, "name", NULL);
	const char *id = json_get_str(req->args, "id", NULL);
	size_t i, off = 0;

	if (dom != NULL)
		snprintf(req->target, sizeof(req->target), "%s%s%s", dom, sel ? " " : "",
		    sel ? sel : "");
	else if (name != NULL || id != NULL)
		str_copy(req->target, name != NULL ? name : id, sizeof(req->target));
	else if (json_get_bool(req->args, "all_matching", 0))
		str_copy(req->target, "all-matching", sizeof(req->target));
	else
		for (i = 0; ids != NULL && ids->type == JSON_ARRAY && i < ids->n &&
		    off < sizeof(req->target) - 1; i++)
			if (ids->items[i]->type == JSON_STRING)
				off += (size_t)snprintf(req->target + off, sizeof(req->target) - off,
				    "%s%s", off ? " " : "", ids->items[i]->s);
}

static void
conn_request(struct conn *c, const char *line, size_t len)
{
	char err[128];
	const struct control_cmd *cmd;
	int rc;

	c->busy = 1;
	memset(&c->req, 0, sizeof(c->req));
	c->req.priv = c;
	c->req.uid = c->uid;
	c->req.gid = c->gid;
	c->req.pid = c->pid;
	str_copy(c->req.user, c->user, sizeof(c->req.user));
	c->req.role = c->role;
	c->req.loop = c->srv->loop;
	c->req.cfg = c->srv->cfg;
	c->req.queue = c->srv->queue;
	c->req.spam = c->srv->spam;
	c->req.spamdb = c->srv->spamdb;
	c->req.auth_guard = c->srv->auth_guard;
	c->req.cmd = "";
	buf_reset(&c->result);
	json_out_init(&c->out, &c->result);
	c->req.out = &c->out;
	if ((c->json = json_parse(line, len, err, sizeof(err))) == NULL ||
	    c->json->type != JSON_OBJECT || json_has_nul(c->json)) {
		/* requests are names and ids: NUL in one is never meant (C strings) */
		control_finish(&c->req, control_error(&c->req, CONTROL_USAGE,
		    "bad request: %s", c->json == NULL ? err : c->json->type != JSON_OBJECT ?
		    "not an object" : "NUL in a string"));
		return;
	}
	c->req.cmd = json_get_str(c->json, "cmd", "");
	c->req.args = json_get(c->json, "args");
	if ((cmd = control_lookup(c->req.cmd)) == NULL) {
		control_finish(&c->req, control_error(&c->req, CONTROL_USAGE,
		    "unknown command '%s'", c->req.cmd));
		return;
	}
	c->cmd = cmd;
	if (c->role < cmd->min_role || c->role == CONTROL_ROLE_NONE) {
		if (cmd->min_role == CONTROL_ROLE_NONE && c->role == CONTROL_ROLE_NONE)
			goto run;
		control_default_target(&c->req);
		c->refused = 1;
		control_finish(&c->req, control_error(&c->req, CONTROL_FAIL,
		    "permission denied: %s needs the %s role (you are %s)", cmd->name,
		    control_strrole(cmd->min_role), control_strrole(c->role)));
		return;
	}
run:
	rc = cmd->handler(&c->req, &c->out);
	if (rc != CONTROL_ASYNC)
		control_finish(&c->req, rc);
}

/* Run every complete line while no request is in progress. */
static void
conn_process(struct conn *c)
{
	char *nl, *line;
	size_t len;

	c->in_process = 1;
	while (!c->busy && !c->closing && c->in.len > 0 &&
	    (nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
		len = (size_t)(nl - c->in.data);
		line = xstrndup(c->in.data, len);
		buf_consume(&c->in, len + 1);
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0) {
			free(line);
			continue;
		}
		uv_read_stop((uv_stream_t *)&c->pipe);
		conn_request(c, line, len);
		free(line);
	}
	c->in_process = 0;
	if (!c->busy && !c->closing) {
		if (c->eof)
			conn_close(c);
		else
			uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb, conn_read_cb);
	}
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *ub)
{
	(void)h;
	ub->base = xmalloc(suggested);
	ub->len = suggested;
}

static void
conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *ub)
{
	struct conn *c = s->data;

	if (n < 0) {
		free(ub->base);
		c->eof = n == UV_EOF ? 1 : 2;
		uv_read_stop(s);
		if (!c->busy)
			conn_process(c);
		return;
	}
	if (n > 0 && buf_append(&c->in, ub->base, (size_t)n) != 0) {
		struct buf line;
		free(ub->base);
		buf_init(&line, 0);
		memset(&c->req, 0, sizeof(c->req));
		control_response(&line, CONTROL_USAGE, "request line too long", &c->result, 0);
		conn_send(c, &line);
		buf_free(&line);
		conn_close(c);
		return;
	}
	free(ub->base);
	conn_process(c);
}

static void
conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct control *srv = c->srv;

	if (--srv->nconns == 0 && srv->server_closed) {
		config_unref(srv->cfg);
		free(srv->path);
		free(srv);
	}
	buf_free(&c->in);
	buf_free(&c->result);
	json_free(c->json);
	free(c->audit_head);
	free(c);
}

static void
conn_shutdown_cb(uv_shutdown_t *sr, int status)
{
	struct conn *c = sr->data;

	(void)status;
	free(sr);
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void
conn_close(struct conn *c)
{
	struct conn **pp;

	if (c->closing)
		return;
	c->closing = 1;
	for (pp = &c->srv->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->busy)
		return;		/* closed when the request finishes (conn_next) */
	/* Let queued responses drain before closing. */
	if (c->eof != 2) {
		uv_shutdown_t *sr = xcalloc(1, sizeof(*sr));
		sr->data = c;
		if (uv_shutdown(sr, (uv_stream_t *)&c->pipe, conn_shutdown_cb) == 0)
			return;
		free(sr);
	}
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

/* Is the user (NAME, primary GID PGID) a member of GROUP? */
static int
in_group(const char *group, const char *name, gid_t pgid)
{
	struct group *gr;
	gid_t groups[256];
	int n = (int)ARRAY_SIZE(groups), i;

	if (group == NULL || *group == '\0' || (gr = getgrnam(group)) == NULL)
		return 0;
	if (gr->gr_gid == pgid)
		return 1;
	if (name == NULL)
		return 0;
	if (getgrouplist(name, pgid, groups, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return 1;
	return 0;
}

/* The peer's role from its credentials. */
static void
conn_identify(struct conn *c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct passwd *pw;
	uv_os_fd_t fd;
	const char *name = NULL;

	c->role = CONTROL_ROLE_NONE;
	snprintf(c->user, sizeof(c->user), "?");
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return;
	c->uid = cr.uid;
	c->gid = cr.gid;
	c->pid = cr.pid;
	if ((pw = getpwuid(cr.uid)) != NULL) {
		str_copy(c->user, pw->pw_name, sizeof(c->user));
		name = c->user;
	} else
		snprintf(c->user, sizeof(c->user), "%u", (unsigned)cr.uid);
	if (cr.uid == 0 || cr.uid == geteuid() ||
	    in_group(c->srv->cfg->operator_group, name, cr.gid))
		c->role = CONTROL_ROLE_OPERATOR;
	else if (in_group(c->srv->cfg->reviewer_group, name, cr.gid))
		c->role = CONTROL_ROLE_REVIEWER;
}

static void
control_connection_cb(uv_stream_t *server, int status)
{
	struct control *srv = server->data;
	struct conn *c;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	srv->nconns++;
	buf_init(&c->in, CONTROL_MAX_LINE);
	buf_init(&c->result, 0);
	uv_pipe_init(srv->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
		return;
	}
	conn_identify(c);
	c->next = srv->conns;
	srv->conns = c;
	uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb, conn_read_cb);
}

static void control_server_closed(uv_handle_t *h);

/* Create the socket's parent directories (0755) when missing, e.g.
 * /var/run/postern on a fresh install. */
static void
control_mkdirs(const char *path)
{
	char *dir = xstrdup(path), *p;

	if ((p = strrchr(dir, '/')) != NULL && p != dir) {
		*p = '\0';
		for (p = dir + 1; *p != '\0'; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(dir, 0755);
				*p = '/';
			}
		mkdir(dir, 0755);
	}
	free(dir);
}

struct control *
control_start(uv_loop_t *loop, const struct config *cfg, struct queue *q,
    char *err, size_t errlen)
{
	struct control *srv = xcalloc(1, sizeof(*srv));
	int rc;

	control_commands_register();	/* every table of src/control/ */
	srv->loop = loop;
	srv->cfg = config_ref(cfg);
	srv->queue = q;
	srv->path = xstrdup(cfg->control_socket);
	uv_pipe_init(loop, &srv->server, 0);
	srv->server.data = srv;
	control_mkdirs(srv->path);
	unlink(srv->path);	/* a stale socket from a previous run */
	if ((rc = uv_pipe_bind(&srv->server, srv->path)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&srv->server, 64, control_connection_cb)) != 0) {
		snprintf(err, errlen, "control socket %s: %s", srv->path, uv_strerror(rc));
		uv_close((uv_handle_t *)&srv->server, control_server_closed);
		return NULL;
	}
	chmod(srv->path, 0666);
	if (q != NULL)
		srv->expiry = review_expiry_start(loop, &srv->cfg, q);
	log_info("event=control_listening path=%s", srv->path);
	return srv;
}

void
control_reload(struct control *srv, const struct config *cfg)
{
	if (srv != NULL) {
		config_ref(cfg);
		config_unref(srv->cfg);
		srv->cfg = cfg;
	}
}

static void
control_server_closed(uv_handle_t *h)
{
	struct control *srv = h->data;

	srv->server_closed = 1;
	if (srv->nconns == 0) {		/* else the last connection frees it */
		config_unref(srv->cfg);
		free(srv->path);
		free(srv);
	}
}

void
control_stop(struct control *srv)
{
	struct conn *c, *next;

	if (srv == NULL)
		return;
	srv->stopping = 1;
	review_expiry_stop(srv->expiry);
	srv->expiry = NULL;
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c);
	}
	if (srv->path != NULL)
		unlink(srv->path);
	uv_close((uv_handle_t *)&srv->server, control_server_closed);
}

/* ---- the command tables of src/control/ ---- */

void
control_commands_register(void)
{
	control_register(builtin_cmds, ARRAY_SIZE(builtin_cmds));
	cmd_queue_register();
	cmd_account_register();
	cmd_dkim_register();
	cmd_spam_register();
	cmd_suppress_register();
	cmd_review_register();
	cmd_status_register();
	cmd_subject_register();
	cmd_retention_register();
	cmd_auth_register();
}

void
control_set_spam(struct control *c, const struct spam_store *store, struct spamdb *db)
{
	c->spam = store;
	c->spamdb = db;
}

void
control_set_auth_guard(struct control *c, struct auth_guard *g)
{
	c->auth_guard = g;
}

/* ---- offline ---- */

int
control_run_local(const char *line, size_t len, enum control_role role,
    const struct config *cfg, struct queue *q, struct buf *out)
{
	struct control_req req;
	struct json_value *v;
	const struct control_cmd *cmd;
	struct json_out j;
	struct buf result;
	char err[128];
	int rc;

	control_register(builtin_cmds, ARRAY_SIZE(builtin_cmds));
	memset(&req, 0, sizeof(req));
	req.role = role;
	req.uid = getuid();
	req.cfg = cfg;
	req.queue = q;
	buf_init(&result, 0);
	json_out_init(&j, &result);
	req.out = &j;
	if ((v = json_parse(line, len, err, sizeof(err))) == NULL)
		rc = control_error(&req, CONTROL_USAGE, "bad request: %s", err);
	else if (json_has_nul(v))
		rc = control_error(&req, CONTROL_USAGE, "bad request: NUL in a string");
	else {
		req.cmd = json_get_str(v, "cmd", "");
		req.args = json_get(v, "args");
		if ((cmd = control_lookup(req.cmd)) == NULL)
			rc = control_error(&req, CONTROL_USAGE, "unknown command '%s'", req.cmd);
		else if (role < cmd->min_role)
			rc = control_error(&req, CONTROL_FAIL, "permission denied");
		else if (cmd->mutating)
			rc = control_error(&req, CONTROL_FAIL,
			    "%s changes the queue and needs a running posternd", req.cmd);
		else if ((rc = cmd->handler(&req, &j)) == CONTROL_ASYNC)
			rc = req.local_done ? req.local_status : control_error(&req, CONTROL_FAIL,
			    "%s needs the daemon", req.cmd);
	}
	control_response(out, rc, req.error, &result, req.result_on_error);
	buf_free(&result);
	json_free(v);
	return rc;
}
