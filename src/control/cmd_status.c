/* SPDX-License-Identifier: ISC */
/*
 * cmd_status.c: the daemon-side `status` and `delivery.*` commands of
 * the control socket (posternctl status, posternctl delivery ...).
 *
 * status (reviewer and operator): version, pid, start time and uptime,
 * the config file, the listeners, messages per state, the oldest
 * deferred message, the delivery pauses and the last warnings and
 * errors the daemon logged (log lines, so addresses are already
 * pseudonymised).  It answers only from a running daemon: posternctl
 * status exits 1 when the socket does not answer, which is what makes
 * it a health check.  The daemon's own facts (config path, start time)
 * are handed over once by src/daemon/control_module.c through
 * control_set_daemon_info().
 *
 * delivery.pause / delivery.resume (operator, audited): pause delivery
 * of everything or of one destination domain; the pause is a queue
 * record committed with its audit record (queue/pause.c), so it
 * survives a restart.  delivery.status lists the pauses and also runs
 * offline on the read-only queue.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "control_int.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "util.h"

static const struct control_daemon_info *daemon_info;	/* borrowed */

void
control_set_daemon_info(const struct control_daemon_info *info)
{
	daemon_info = info;
}

static void
listeners_json(struct json_out *out, const char *name, const struct config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		json_obj_begin(out);
		json_kv_str(out, "listener", name);
		json_kv_str(out, "address", l->items[i]);
		json_obj_end(out);
	}
}

struct oldest_ctx {
	char id[QUEUE_ID_LEN + 1];
	uint64_t created;
	char reply[256];
};

static int
oldest_cb(void *arg, const struct queue_msg *m)
{
	struct oldest_ctx *oc = arg;
	size_t i;

	if (m->state != QUEUE_DEFERRED || (oc->created != 0 && m->created >= oc->created))
		return 0;
	str_copy(oc->id, m->id, sizeof(oc->id));
	oc->created = m->created;
	oc->reply[0] = '\0';
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_DEFERRED && m->rcpts[i].last_reply != NULL) {
			str_copy(oc->reply, m->rcpts[i].last_reply, sizeof(oc->reply));
			break;
		}
	return 0;
}

static void
pauses_json(struct json_out *out, struct queue *q)
{
	char **d = NULL;
	size_t n = 0, i;
	int all = 0;

	(void)queue_delivery_paused_list(q, &d, &n);
	for (i = 0; i < n; i++)
		if (strcmp(d[i], "*") == 0)
			all = 1;
	json_kv_bool(out, "paused", all);
	json_key(out, "paused_domains");
	json_arr_begin(out);
	for (i = 0; i < n; i++) {
		if (strcmp(d[i], "*") != 0)
			json_str(out, d[i]);
		free(d[i]);
	}
	json_arr_end(out);
	free(d);
}

static int
cmd_status(struct control_req *req, struct json_out *out)
{
	static const char *const lvl[] = { "debug", "info", "warn", "err" };
	struct log_recent rec[LOG_RECENT_MAX];
	struct queue_stats st;
	struct oldest_ctx oc;
	uint64_t now = now_wall_ms();
	size_t i, n;
	int rc;

	if (req->loop == NULL)
		return control_error(req, CONTROL_FAIL, "posternd is not running");
	if ((rc = queue_stats(req->queue, &st)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	memset(&oc, 0, sizeof(oc));
	(void)queue_foreach(req->queue, oldest_cb, &oc);
	json_obj_begin(out);
	json_kv_str(out, "version", PACKAGE_VERSION);
	json_kv_int(out, "pid", (int64_t)getpid());
	if (daemon_info != NULL) {
		json_kv_uint(out, "started", daemon_info->started);
		json_kv_uint(out, "uptime", now > daemon_info->started ?
		    (now - daemon_info->started) / 1000 : 0);
		json_kv_str(out, "config", daemon_info->config_path);
	}
	json_kv_str(out, "control_socket", req->cfg->control_socket);
	json_kv_str(out, "data_directory", req->cfg->data_directory);
	json_key(out, "listeners");
	json_arr_begin(out);
	listeners_json(out, "submission", &req->cfg->smtpd_submission_listen);
	listeners_json(out, "submissions", &req->cfg->smtpd_submissions_listen);
	listeners_json(out, "relay", &req->cfg->smtpd_relay_listen);
	json_arr_end(out);
	json_key(out, "queue");
	json_obj_begin(out);
	json_kv_uint(out, "messages", st.messages);
	json_kv_uint(out, "bytes", st.bytes);
	for (i = 0; i <= QUEUE_DELETED; i++)
		json_kv_uint(out, queue_strstate((enum queue_state)i), st.by_state[i]);
	json_obj_end(out);
	json_key(out, "delivery");
	json_obj_begin(out);
	json_kv_bool(out, "enabled", req->cfg->delivery_enabled);
	pauses_json(out, req->queue);
	json_obj_end(out);
	if (oc.created != 0) {
		json_key(out, "oldest_deferred");
		json_obj_begin(out);
		json_kv_str(out, "id", oc.id);
		json_kv_uint(out, "created", oc.created);
		json_kv_uint(out, "age", now > oc.created ? (now - oc.created) / 1000 : 0);
		json_kv_str(out, "last_reply", oc.reply);
		json_obj_end(out);
	}
	n = log_recent(rec, LOG_RECENT_MAX);
	json_key(out, "recent_errors");
	json_arr_begin(out);
	for (i = 0; i < n; i++) {
		json_obj_begin(out);
		json_kv_uint(out, "time", rec[i].when);
		json_kv_str(out, "level", lvl[rec[i].level]);
		json_kv_str(out, "line", rec[i].line);
		json_obj_end(out);
	}
	json_arr_end(out);
	json_obj_end(out);
	return CONTROL_OK;
}

static void
pause_done(void *arg, const struct outcome *o)
{
	struct control_req *req = arg;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind == OUTCOME_OK) {
		struct json_out *out = control_out(req);

		json_obj_begin(out);
		pauses_json(out, req->queue);
		json_obj_end(out);
		control_finish(req, CONTROL_OK);
	} else
		control_finish(req, control_error(req, CONTROL_FAIL, "%s", o->text));
}

static int
cmd_pause_common(struct control_req *req, int pause)
{
	const char *domain = json_get_str(req->args, "domain", NULL);
	int rc;

	size_t i;

	str_copy(req->target, domain != NULL ? domain : "*", sizeof(req->target));
	for (i = 0; req->target[i] != '\0'; i++)	/* domains are stored lower case */
		req->target[i] = (char)tolower((unsigned char)req->target[i]);
	if (req->loop == NULL)
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	rc = queue_delivery_pause(req->queue, domain, pause, control_audit_txn(req, 0),
	    pause_done, req);
	if (rc == -EINVAL)
		return control_error(req, CONTROL_USAGE, "'%s' is not a domain", domain);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int cmd_pause(struct control_req *r, struct json_out *o) { (void)o; return cmd_pause_common(r, 1); }
static int cmd_resume(struct control_req *r, struct json_out *o) { (void)o; return cmd_pause_common(r, 0); }

static int
cmd_delivery_status(struct control_req *req, struct json_out *out)
{
	json_obj_begin(out);
	json_kv_bool(out, "enabled", req->cfg->delivery_enabled);
	pauses_json(out, req->queue);
	json_obj_end(out);
	return CONTROL_OK;
}

static const struct control_cmd status_cmds[] = {
	{ "status", CONTROL_ROLE_REVIEWER, 0, cmd_status },
	{ "delivery.pause", CONTROL_ROLE_OPERATOR, 1, cmd_pause },
	{ "delivery.resume", CONTROL_ROLE_OPERATOR, 1, cmd_resume },
	{ "delivery.status", CONTROL_ROLE_REVIEWER, 0, cmd_delivery_status },
};

void
cmd_status_register(void)
{
	control_register(status_cmds, ARRAY_SIZE(status_cmds));
}
