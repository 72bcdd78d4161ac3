/* SPDX-License-Identifier: ISC */
/*
 * ctl_queue.c: `posternctl queue ...` and `posternctl audit ...`, both
 * halves: the daemon-side control commands (queue.list, queue.show,
 * queue.hold, ... registered with control_register() by
 * ctl_queue_register()) and the client that calls them and prints an
 * aligned table or, with --json, the result object unchanged.
 *
 * Read-only commands (list, show, stats, events, audit list) also run
 * with the daemon stopped: ctl_call() then runs the same handler
 * in-process on the queue opened read-only.  Mutating commands need the
 * daemon (one writer) and are audited by control.c.
 *
 * Hidden operator-only commands used by the integration tests until the
 * SMTP server and delivery engine exist: queue.inject (commit a message
 * given in JSON) and queue.report (record a delivery result).
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "ctl.h"
#include "json.h"
#include "queue.h"
#include "util.h"

/* ==== daemon side ==== */

struct filter {
	int has_state;
	enum queue_state state;
	const char *account;
	uint64_t older_than;	/* ms; 0 = any */
	uint64_t now;
};

static int
filter_parse(struct control_req *req, struct filter *f)
{
	const char *s;

	memset(f, 0, sizeof(*f));
	f->now = now_wall_ms();
	if ((s = json_get_str(req->args, "state", NULL)) != NULL) {
		if (queue_parse_state(s, &f->state) != 0)
			return control_error(req, CONTROL_USAGE, "unknown state '%s'", s);
		f->has_state = 1;
	}
	f->account = json_get_str(req->args, "account", NULL);
	if (json_get_int(req->args, "older_than", 0) < 0)
		return control_error(req, CONTROL_USAGE, "older_than must not be negative");
	f->older_than = (uint64_t)json_get_int(req->args, "older_than", 0);
	return 0;
}

static int
filter_match(const struct filter *f, const struct queue_msg *m)
{
	if (f->has_state && m->state != f->state)
		return 0;
	if (f->account != NULL && strcmp(f->account, m->account) != 0)
		return 0;
	if (f->older_than && (f->older_than > f->now || m->created > f->now - f->older_than))
		return 0;
	return 1;
}

static void
rcpts_json(struct json_out *out, const struct queue_msg *m, int full)
{
	size_t i;

	json_key(out, "recipients");
	json_arr_begin(out);
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		json_obj_begin(out);
		json_kv_uint(out, "no", r->no);
		json_kv_str(out, "address", r->addr);
		json_kv_str(out, "state", queue_strstate(r->state));
		if (full) {
			json_kv_uint(out, "attempts", r->attempts);
			json_kv_uint(out, "next_try", r->next_try);
			json_kv_uint(out, "first_attempt", r->first_attempt);
			json_kv_uint(out, "last_attempt", r->last_attempt);
			json_kv_str(out, "last_reply", r->last_reply);
			json_kv_str(out, "relay", r->relay);
			json_kv_str(out, "orcpt", r->orcpt);
			json_kv_uint(out, "notify", r->notify);
		}
		json_obj_end(out);
	}
	json_arr_end(out);
}

static void
msg_json(struct json_out *out, const struct queue_msg *m, int full)
{
	json_kv_str(out, "id", m->id);
	json_kv_str(out, "state", queue_strstate(m->state));
	json_kv_str(out, "account", m->account);
	json_kv_str(out, "sender", m->sender);
	json_kv_uint(out, "created", m->created);
	json_kv_uint(out, "size", m->size);
	if (full) {
		json_kv_str(out, "envid", m->envid);
		json_kv_str(out, "client", m->client);
		json_kv_bool(out, "ret_full", m->ret_full);
		json_kv_bool(out, "smtputf8", m->smtputf8);
		json_kv_bool(out, "eightbit", m->eightbit);
		json_key(out, "verdicts");
		if (m->verdicts != NULL && *m->verdicts != '\0') {
			struct json_value *v = json_parse(m->verdicts, strlen(m->verdicts), NULL, 0);
			if (v != NULL)
				json_raw(out, m->verdicts, strlen(m->verdicts));
			else
				json_str(out, m->verdicts);
			json_free(v);
		} else
			json_null(out);
	}
	rcpts_json(out, m, full);
}

struct list_ctx {
	struct filter f;
	struct json_out *out;
	size_t n;
	char **ids;		/* when collecting ids */
	int collect;
};

static int
list_cb(void *arg, const struct queue_msg *m)
{
	struct list_ctx *lc = arg;

	if (!filter_match(&lc->f, m))
		return 0;
	if (lc->collect) {
		lc->ids = xrealloc(lc->ids, (lc->n + 1) * sizeof(*lc->ids));
		lc->ids[lc->n++] = xstrdup(m->id);
		return 0;
	}
	json_obj_begin(lc->out);
	msg_json(lc->out, m, 0);
	json_obj_end(lc->out);
	lc->n++;
	return 0;
}

static int
cmd_list(struct control_req *req, struct json_out *out)
{
	struct list_ctx lc;
	int rc;

	memset(&lc, 0, sizeof(lc));
	if ((rc = filter_parse(req, &lc.f)) != 0)
		return rc;
	lc.out = out;
	json_obj_begin(out);
	json_key(out, "messages");
	json_arr_begin(out);
	rc = queue_foreach(req->queue, list_cb, &lc);
	json_arr_end(out);
	json_obj_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_OK;
}

static int
cmd_show(struct control_req *req, struct json_out *out)
{
	const char *id = json_get_str(req->args, "id", NULL);
	struct queue_msg *m;
	struct buf body;
	int rc, brc;

	if (id == NULL)
		return control_error(req, CONTROL_USAGE, "queue show: an id is required");
	str_copy(req->target, id, sizeof(req->target));
	if ((rc = queue_get(req->queue, id, &m)) != 0)
		return control_error(req, CONTROL_FAIL, rc == -ENOENT ?
		    "no such message: %s" : "queue: %s", rc == -ENOENT ? id : strerror(-rc));
	json_obj_begin(out);
	msg_json(out, m, 1);
	buf_init(&body, 0);
	brc = queue_read_body(req->queue, id, &body);
	json_key(out, "headers");
	if (brc == 0) {
		char *end = body.len >= 4 ? memmem(body.data, body.len, "\r\n\r\n", 4) : NULL;
		size_t hlen = end != NULL ? (size_t)(end - body.data) + 2 : body.len;
		json_strn(out, body.data ? body.data : "", hlen);
	} else
		json_null(out);
	json_kv_str(out, "body_status", brc == 0 ? "available" : brc == -ENOENT ? "purged" :
	    brc == -EACCES ? "no key" : "unreadable");
	if (json_get_bool(req->args, "body", 0) && req->role >= CONTROL_ROLE_OPERATOR) {
		json_key(out, "body");
		if (brc == 0)
			json_strn(out, body.data ? body.data : "", body.len);
		else
			json_null(out);
	}
	json_obj_end(out);
	buf_free(&body);
	queue_msg_free(m);
	return CONTROL_OK;
}

/* A multi-message action in progress. */
struct act_ctx {
	struct control_req *req;
	size_t n, pending, notfound, failed;
	int explicit;		/* ids named by the operator, not --all-matching */
	char **ids;
	int *status;
	char lasterr[256];
};

static void
act_finish(struct act_ctx *a)
{
	struct json_out *out = control_out(a->req);
	size_t i;
	int status = CONTROL_OK;

	json_obj_begin(out);
	json_key(out, "done");
	json_arr_begin(out);
	for (i = 0; i < a->n; i++)
		if (a->status[i] == 0)
			json_str(out, a->ids[i]);
	json_arr_end(out);
	json_key(out, "not_found");
	json_arr_begin(out);
	for (i = 0; i < a->n; i++)
		if (a->status[i] == -ENOENT)
			json_str(out, a->ids[i]);
	json_arr_end(out);
	json_obj_end(out);
	if (a->notfound > 0 || a->failed > 0) {
		for (i = 0; i < a->n; i++)
			if (a->status[i] != 0)
				break;
		status = control_error(a->req, CONTROL_FAIL, "%s: %s", a->notfound ?
		    "no such message" : a->lasterr, i < a->n ? a->ids[i] : "");
	}
	control_finish(a->req, status);
	for (i = 0; i < a->n; i++)
		free(a->ids[i]);
	free(a->ids);
	free(a->status);
	free(a);
}

struct act_one {
	struct act_ctx *a;
	size_t i;
};

static void
act_done(void *arg, const struct outcome *o)
{
	struct act_one *one = arg;
	struct act_ctx *a = one->a;

	if (o->kind == OUTCOME_OK)
		a->status[one->i] = 0;
	else if (o->kind == OUTCOME_PERMFAIL && strcmp(o->enhanced, "5.1.0") == 0) {
		a->status[one->i] = -ENOENT;
		a->notfound++;
	} else if (o->kind == OUTCOME_PERMFAIL && !a->explicit) {
		/* --all-matching: a message with nothing to change is skipped. */
		a->status[one->i] = 0;
	} else if (o->kind == OUTCOME_PERMFAIL) {
		a->status[one->i] = -EALREADY;
		a->failed++;
		str_copy(a->lasterr, o->text, sizeof(a->lasterr));
	} else {
		a->status[one->i] = -EIO;
		a->failed++;
		str_copy(a->lasterr, o->text, sizeof(a->lasterr));
	}
	free(one);
	if (--a->pending == 0)
		act_finish(a);
}

static int
cmd_action(struct control_req *req, enum queue_action act)
{
	const struct json_value *ids = json_get(req->args, "ids");
	struct act_ctx *a;
	struct list_ctx lc;
	size_t i;
	int rc;

	memset(&lc, 0, sizeof(lc));
	if (json_get_bool(req->args, "all_matching", 0)) {
		if ((rc = filter_parse(req, &lc.f)) != 0)
			return rc;
		lc.collect = 1;
		queue_foreach(req->queue, list_cb, &lc);
		snprintf(req->target, sizeof(req->target), "all-matching state=%s account=%s "
		    "older_than=%llu (%zu messages)",
		    lc.f.has_state ? queue_strstate(lc.f.state) : "any",
		    lc.f.account ? lc.f.account : "any", (unsigned long long)lc.f.older_than, lc.n);
	} else if (ids != NULL && ids->type == JSON_ARRAY && ids->n > 0) {
		size_t off = 0;
		for (i = 0; i < ids->n; i++) {
			if (ids->items[i]->type != JSON_STRING)
				return control_error(req, CONTROL_USAGE, "ids must be strings");
			lc.ids = xrealloc(lc.ids, (lc.n + 1) * sizeof(*lc.ids));
			lc.ids[lc.n++] = xstrdup(ids->items[i]->s);
			if (off < sizeof(req->target) - 1)
				off += (size_t)snprintf(req->target + off, sizeof(req->target) - off,
				    "%s%s", i ? " " : "", ids->items[i]->s);
		}
	} else
		return control_error(req, CONTROL_USAGE, "give message ids or all_matching");
	a = xcalloc(1, sizeof(*a));
	a->req = req;
	a->explicit = !json_get_bool(req->args, "all_matching", 0);
	a->ids = lc.ids;
	a->n = lc.n;
	a->status = xcalloc(lc.n + 1, sizeof(*a->status));
	if (lc.n == 0) {
		act_finish(a);
		return CONTROL_ASYNC;
	}
	a->pending = lc.n;
	for (i = 0; i < lc.n; i++) {
		struct act_one *one = xcalloc(1, sizeof(*one));
		one->a = a;
		one->i = i;
		if ((rc = queue_action(req->queue, a->ids[i], act, act_done, one)) != 0) {
			struct outcome o;
			if (rc == -ENOENT)
				outcome_set(&o, OUTCOME_PERMFAIL, 550, "5.1.0", "No such message");
			else
				outcome_set(&o, OUTCOME_TEMPFAIL, 451, "4.3.0", "%s", strerror(-rc));
			act_done(one, &o);
		}
	}
	return CONTROL_ASYNC;
}

static int cmd_hold(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_HOLD); }
static int cmd_release(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_RELEASE); }
static int cmd_delete(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_DELETE); }
static int cmd_requeue(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_REQUEUE); }

static void
simple_done(void *arg, const struct outcome *o)
{
	struct control_req *req = arg;

	if (o->kind == OUTCOME_OK) {
		struct json_out *out = control_out(req);
		json_obj_begin(out);
		json_obj_end(out);
		control_finish(req, CONTROL_OK);
	} else
		control_finish(req, control_error(req, CONTROL_FAIL, "%s", o->text));
}

static int
cmd_flush(struct control_req *req, struct json_out *out)
{
	int rc;

	(void)out;
	str_copy(req->target, "deferred", sizeof(req->target));
	if ((rc = queue_flush(req->queue, simple_done, req)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
cmd_purge(struct control_req *req, struct json_out *out)
{
	int rc;

	(void)out;
	if ((rc = queue_purge(req->queue, simple_done, req)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
cmd_stats(struct control_req *req, struct json_out *out)
{
	struct queue_stats st;
	int rc, i;

	if ((rc = queue_stats(req->queue, &st)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	json_obj_begin(out);
	json_kv_uint(out, "messages", st.messages);
	json_kv_uint(out, "bytes", st.bytes);
	json_kv_uint(out, "scheduled", st.scheduled);
	json_kv_uint(out, "map_size", st.map_size);
	json_key(out, "messages_by_state");
	json_obj_begin(out);
	for (i = 0; i <= QUEUE_DELETED; i++)
		json_kv_uint(out, queue_strstate((enum queue_state)i), st.by_state[i]);
	json_obj_end(out);
	json_key(out, "recipients_by_state");
	json_obj_begin(out);
	for (i = 0; i <= QUEUE_DELETED; i++)
		json_kv_uint(out, queue_strstate((enum queue_state)i), st.rcpts_by_state[i]);
	json_obj_end(out);
	json_obj_end(out);
	return CONTROL_OK;
}

struct log_ctx {
	struct json_out *out;
	const char *id;
};

static int
log_cb(void *arg, uint64_t when, const char *text, size_t len)
{
	struct log_ctx *lc = arg;
	struct json_value *v = json_parse(text, len, NULL, 0);

	(void)when;
	if (v != NULL && (lc->id == NULL || strcmp(json_get_str(v, "id", ""), lc->id) == 0))
		json_raw(lc->out, text, len);
	json_free(v);
	return 0;
}

static int
cmd_log(struct control_req *req, struct json_out *out, enum queue_log l, const char *key)
{
	struct log_ctx lc = { out, json_get_str(req->args, "id", NULL) };
	int rc;

	json_obj_begin(out);
	json_key(out, key);
	json_arr_begin(out);
	rc = queue_log_foreach(req->queue, l, (uint64_t)json_get_int(req->args, "since", 0),
	    log_cb, &lc);
	json_arr_end(out);
	json_obj_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_OK;
}

static int cmd_events(struct control_req *r, struct json_out *o) { return cmd_log(r, o, QUEUE_LOG_EVENTS, "events"); }
static int cmd_audit(struct control_req *r, struct json_out *o) { return cmd_log(r, o, QUEUE_LOG_AUDIT, "audit"); }

/* Hidden: commit a message given in JSON (tests, until SMTP exists). */
struct inject_ctx {
	struct control_req *req;
	struct queue_rcpt_in *rcpts;
	size_t n;
};

static void
inject_done(void *arg, const struct outcome *o, const char *id)
{
	struct inject_ctx *ic = arg;
	struct json_out *out = control_out(ic->req);
	int status = CONTROL_OK;

	json_obj_begin(out);
	json_kv_str(out, "id", id);
	json_kv_int(out, "code", o->code);
	json_kv_str(out, "enhanced", o->enhanced);
	json_kv_str(out, "text", o->text);
	json_obj_end(out);
	if (id != NULL)
		str_copy(ic->req->target, id, sizeof(ic->req->target));
	else
		status = control_error(ic->req, CONTROL_FAIL, "%d %s %s", o->code, o->enhanced, o->text);
	control_finish(ic->req, status);
	free(ic->rcpts);
	free(ic);
}

static int
cmd_inject(struct control_req *req, struct json_out *out)
{
	const struct json_value *rc = json_get(req->args, "rcpts");
	const struct json_value *data = json_get(req->args, "data");
	struct queue_msg_in m;
	struct inject_ctx *ic;
	size_t i;
	int r;

	(void)out;
	if (rc == NULL || rc->type != JSON_ARRAY || rc->n == 0 || data == NULL ||
	    data->type != JSON_STRING)
		return control_error(req, CONTROL_USAGE, "queue.inject: rcpts and data required");
	ic = xcalloc(1, sizeof(*ic));
	ic->req = req;
	ic->rcpts = xcalloc(rc->n, sizeof(*ic->rcpts));
	for (i = 0; i < rc->n; i++) {
		if (rc->items[i]->type != JSON_STRING) {
			free(ic->rcpts);
			free(ic);
			return control_error(req, CONTROL_USAGE, "rcpts must be strings");
		}
		ic->rcpts[i].addr = rc->items[i]->s;
	}
	memset(&m, 0, sizeof(m));
	m.account = json_get_str(req->args, "account", "");
	m.sender = json_get_str(req->args, "sender", "");
	m.rcpts = ic->rcpts;
	m.nrcpts = rc->n;
	m.data = data->s;
	m.len = data->slen;
	m.state = json_get_bool(req->args, "held", 0) ? QUEUE_HELD : QUEUE_QUEUED;
	if ((r = queue_commit(req->queue, &m, inject_done, ic)) != 0) {
		free(ic->rcpts);
		free(ic);
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-r));
	}
	return CONTROL_ASYNC;
}

/* Hidden: record a delivery result (tests, until delivery exists). */
static void
report_done(void *arg, const struct outcome *o, enum queue_state st)
{
	struct control_req *req = arg;
	struct json_out *out = control_out(req);

	if (o->kind != OUTCOME_OK) {
		control_finish(req, control_error(req, CONTROL_FAIL, "%s", o->text));
		return;
	}
	json_obj_begin(out);
	json_kv_str(out, "state", queue_strstate(st));
	json_obj_end(out);
	control_finish(req, CONTROL_OK);
}

static int
cmd_report(struct control_req *req, struct json_out *out)
{
	const char *id = json_get_str(req->args, "id", NULL);
	const char *res = json_get_str(req->args, "result", "delivered");
	enum queue_result r;
	struct outcome o;
	int rc;

	(void)out;
	if (id == NULL)
		return control_error(req, CONTROL_USAGE, "queue.report: id required");
	if (strcmp(res, "delivered") == 0) {
		r = QUEUE_RESULT_DELIVERED;
		outcome_set(&o, OUTCOME_OK, 250, "2.0.0", "Ok");
	} else if (strcmp(res, "tempfail") == 0) {
		r = QUEUE_RESULT_TEMPFAIL;
		outcome_set(&o, OUTCOME_TEMPFAIL, 451, "4.4.1", "test tempfail");
	} else if (strcmp(res, "permfail") == 0) {
		r = QUEUE_RESULT_PERMFAIL;
		outcome_set(&o, OUTCOME_PERMFAIL, 550, "5.1.1", "test permfail");
	} else
		return control_error(req, CONTROL_USAGE, "result: delivered|tempfail|permfail");
	str_copy(req->target, id, sizeof(req->target));
	rc = queue_report(req->queue, id, (uint32_t)json_get_int(req->args, "rcpt", 0), r, &o,
	    "test", report_done, req);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static const struct control_cmd queue_cmds[] = {
	{ "queue.list", CONTROL_ROLE_OPERATOR, 0, cmd_list },
	{ "queue.show", CONTROL_ROLE_OPERATOR, 0, cmd_show },
	{ "queue.stats", CONTROL_ROLE_OPERATOR, 0, cmd_stats },
	{ "queue.events", CONTROL_ROLE_OPERATOR, 0, cmd_events },
	{ "queue.hold", CONTROL_ROLE_OPERATOR, 1, cmd_hold },
	{ "queue.release", CONTROL_ROLE_OPERATOR, 1, cmd_release },
	{ "queue.delete", CONTROL_ROLE_OPERATOR, 1, cmd_delete },
	{ "queue.requeue", CONTROL_ROLE_OPERATOR, 1, cmd_requeue },
	{ "queue.flush", CONTROL_ROLE_OPERATOR, 1, cmd_flush },
	{ "queue.purge", CONTROL_ROLE_OPERATOR, 1, cmd_purge },
	{ "queue.inject", CONTROL_ROLE_OPERATOR, 1, cmd_inject },
	{ "queue.report", CONTROL_ROLE_OPERATOR, 1, cmd_report },
	{ "audit.list", CONTROL_ROLE_OPERATOR, 0, cmd_audit },
};

void
ctl_queue_register(void)
{
	control_register(queue_cmds, ARRAY_SIZE(queue_cmds));
}

/* ==== client side ==== */

static const char queue_usage[] =
    "usage: posternctl queue list [--state S] [--account A] [--older-than D] [--json]\n"
    "       posternctl queue show ID [--body] [--json]\n"
    "       posternctl queue hold|release|delete|requeue ID...\n"
    "       posternctl queue hold|release|delete|requeue --all-matching [--state S]\n"
    "                  [--account A] [--older-than D]\n"
    "       posternctl queue flush | stats [--json] | events [ID] [--json] | purge\n";

/* Parse --state/--account/--older-than (and --all-matching, --body)
 * into a JSON args object in B; non-option arguments are returned. */
static int
parse_opts(struct ctl *c, int argc, char **argv, struct json_out *j, int *all,
    int *body, char ***rest, int *nrest)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "account", required_argument, NULL, 'a' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "all-matching", no_argument, NULL, 'A' },
		{ "body", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	enum queue_state st;
	uint64_t ms;
	int ch;

	optind = 0;	/* GNU: full reinitialisation; options may follow ids */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (queue_parse_state(optarg, &st) != 0) {
				ctl_usage_error(c, "unknown state '%s' (queued, held, deferred, "
				    "delivered, bounced, expired, deleted)", optarg);
				return -1;
			}
			json_kv_str(j, "state", optarg);
			break;
		case 'a':
			json_kv_str(j, "account", optarg);
			break;
		case 'o':
			if (config_parse_duration(optarg, &ms) != 0) {
				ctl_usage_error(c, "bad duration '%s' (e.g. 30m, 2h, 1d)", optarg);
				return -1;
			}
			json_kv_uint(j, "older_than", ms);
			break;
		case 'A':
			*all = 1;
			json_kv_bool(j, "all_matching", 1);
			break;
		case 'b':
			*body = 1;
			json_kv_bool(j, "body", 1);
			break;
		default:
			ctl_usage_error(c, "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	*rest = argv + optind;
	*nrest = argc - optind;
	return 0;
}

static const char *
jstr(const struct json_value *o, const char *k)
{
	const char *s = json_get_str(o, k, NULL);

	return s != NULL ? s : "";
}

static void
print_list(const struct json_value *res)
{
	static const char *const hdr[] = { "ID", "STATE", "SIZE", "AGE", "ACCOUNT", "SENDER", "RECIPIENTS" };
	const struct json_value *msgs = json_get(res, "messages");
	struct ctl_table *t = ctl_table_new(7, hdr);
	uint64_t now = now_wall_ms();
	size_t i;

	for (i = 0; msgs != NULL && i < msgs->n; i++) {
		const struct json_value *m = msgs->items[i], *r = json_get(m, "recipients");
		char size[32], age[32], rc[400], sender[330];
		const char *cells[7];
		uint64_t created = (uint64_t)json_get_int(m, "created", 0);

		snprintf(size, sizeof(size), "%lld", (long long)json_get_int(m, "size", 0));
		ctl_fmt_age(now > created ? now - created : 0, age, sizeof(age));
		snprintf(sender, sizeof(sender), "<%s>", jstr(m, "sender"));
		if (r != NULL && r->n > 1)
			snprintf(rc, sizeof(rc), "%s (+%zu)", jstr(r->items[0], "address"), r->n - 1);
		else if (r != NULL && r->n == 1)
			snprintf(rc, sizeof(rc), "%s", jstr(r->items[0], "address"));
		else
			rc[0] = '\0';
		cells[0] = jstr(m, "id");
		cells[1] = jstr(m, "state");
		cells[2] = size;
		cells[3] = age;
		cells[4] = *jstr(m, "account") ? jstr(m, "account") : "-";
		cells[5] = sender;
		cells[6] = rc;
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	printf("%zu message%s\n", msgs ? msgs->n : 0, msgs && msgs->n == 1 ? "" : "s");
}

static void
print_show(const struct json_value *m)
{
	static const char *const hdr[] = { "NO", "STATE", "ATTEMPTS", "NEXT TRY", "ADDRESS", "LAST REPLY" };
	const struct json_value *r = json_get(m, "recipients");
	struct ctl_table *t;
	char tbuf[64];
	size_t i;

	printf("id:       %s\n", jstr(m, "id"));
	printf("state:    %s\n", jstr(m, "state"));
	printf("account:  %s\n", *jstr(m, "account") ? jstr(m, "account") : "-");
	printf("sender:   <%s>\n", jstr(m, "sender"));
	printf("created:  %s UTC\n", ctl_fmt_time((uint64_t)json_get_int(m, "created", 0), tbuf, sizeof(tbuf)));
	printf("size:     %lld\n", (long long)json_get_int(m, "size", 0));
	if (json_get_str(m, "envid", NULL))
		printf("envid:    %s\n", jstr(m, "envid"));
	printf("body:     %s\n", jstr(m, "body_status"));
	printf("\n");
	t = ctl_table_new(6, hdr);
	for (i = 0; r != NULL && i < r->n; i++) {
		const struct json_value *x = r->items[i];
		char no[16], att[16], next[64];
		const char *cells[6];
		const char *st = jstr(x, "state");
		snprintf(no, sizeof(no), "%lld", (long long)json_get_int(x, "no", 0));
		snprintf(att, sizeof(att), "%lld", (long long)json_get_int(x, "attempts", 0));
		if (strcmp(st, "queued") == 0 || strcmp(st, "deferred") == 0)
			ctl_fmt_time((uint64_t)json_get_int(x, "next_try", 0), next, sizeof(next));
		else
			snprintf(next, sizeof(next), "-");
		cells[0] = no;
		cells[1] = st;
		cells[2] = att;
		cells[3] = next;
		cells[4] = jstr(x, "address");
		cells[5] = jstr(x, "last_reply");
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	if (json_get_str(m, "headers", NULL) != NULL)
		printf("\n%s", jstr(m, "headers"));
	if (json_get_str(m, "body", NULL) != NULL) {
		const struct json_value *b = json_get(m, "body");
		printf("\n");
		fwrite(b->s, 1, b->slen, stdout);
	}
}

static void
print_stats(const struct json_value *s)
{
	const struct json_value *by = json_get(s, "messages_by_state");
	const struct json_value *rby = json_get(s, "recipients_by_state");
	size_t i;

	printf("messages:   %lld\n", (long long)json_get_int(s, "messages", 0));
	printf("bytes:      %lld\n", (long long)json_get_int(s, "bytes", 0));
	printf("scheduled:  %lld\n", (long long)json_get_int(s, "scheduled", 0));
	printf("map size:   %lld\n", (long long)json_get_int(s, "map_size", 0));
	for (i = 0; by != NULL && i < by->n; i++)
		printf("%-11s %lld messages, %lld recipients\n", by->keys[i],
		    (long long)by->items[i]->i,
		    (long long)json_get_int(rby, by->keys[i], 0));
}

static void
print_log(const struct json_value *res, const char *key)
{
	const struct json_value *ev = json_get(res, key);
	size_t i;

	for (i = 0; ev != NULL && i < ev->n; i++)
		ctl_print_json(ev->items[i], stdout);
}

int
ctl_queue_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	char **rest, cmd[64];
	int nrest, all = 0, body = 0, rc, i;
	const char *verb;

	if (argc < 2) {
		fputs(queue_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	verb = argv[1];
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	if (parse_opts(c, argc - 1, argv + 1, &j, &all, &body, &rest, &nrest) != 0) {
		buf_free(&args);
		fputs(queue_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	snprintf(cmd, sizeof(cmd), "queue.%s", verb);
	if (strcmp(verb, "list") == 0 || strcmp(verb, "stats") == 0 ||
	    strcmp(verb, "flush") == 0 || strcmp(verb, "purge") == 0) {
		if (nrest != 0)
			goto usage;
	} else if (strcmp(verb, "show") == 0) {
		if (nrest != 1)
			goto usage;
		json_kv_str(&j, "id", rest[0]);
	} else if (strcmp(verb, "events") == 0) {
		if (nrest > 1)
			goto usage;
		if (nrest == 1)
			json_kv_str(&j, "id", rest[0]);
	} else if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
	    strcmp(verb, "delete") == 0 || strcmp(verb, "requeue") == 0) {
		if ((nrest == 0) == (all == 0))
			goto usage;
		json_key(&j, "ids");
		json_arr_begin(&j);
		for (i = 0; i < nrest; i++)
			json_str(&j, rest[i]);
		json_arr_end(&j);
	} else
		goto usage;
	json_obj_end(&j);
	rc = ctl_call(c, cmd, args.data, strcmp(verb, "list") == 0 ||
	    strcmp(verb, "show") == 0 || strcmp(verb, "stats") == 0 ||
	    strcmp(verb, "events") == 0, &root, &res);
	buf_free(&args);
	if (res != NULL || rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else if (strcmp(verb, "list") == 0)
			print_list(res);
		else if (strcmp(verb, "show") == 0)
			print_show(res);
		else if (strcmp(verb, "stats") == 0)
			print_stats(res);
		else if (strcmp(verb, "events") == 0)
			print_log(res, "events");
		else if (rc == 0) {
			const struct json_value *d = json_get(res, "done");
			for (i = 0; d != NULL && (size_t)i < d->n; i++)
				printf("%s: %s\n", d->items[i]->s, verb);
			if (d == NULL)
				printf("%s: ok\n", verb);
		}
	}
	json_free(root);
	return rc;
usage:
	buf_free(&args);
	fputs(queue_usage, stderr);
	return CTL_EXIT_USAGE;
}

static void
print_audit(const struct json_value *res)
{
	static const char *const hdr[] = { "TIME (UTC)", "USER", "ROLE", "COMMAND", "STATUS", "TARGET" };
	const struct json_value *a = json_get(res, "audit");
	struct ctl_table *t = ctl_table_new(6, hdr);
	size_t i;

	for (i = 0; a != NULL && i < a->n; i++) {
		const struct json_value *x = a->items[i];
		char when[64], st[300];
		const char *cells[6];
		int64_t status = json_get_int(x, "status", 0);

		ctl_fmt_time((uint64_t)json_get_int(x, "time", 0), when, sizeof(when));
		if (status == 0)
			snprintf(st, sizeof(st), "ok");
		else
			snprintf(st, sizeof(st), "%lld (%s)", (long long)status, jstr(x, "error"));
		cells[0] = when;
		cells[1] = jstr(x, "user");
		cells[2] = jstr(x, "role");
		cells[3] = jstr(x, "cmd");
		cells[4] = st;
		cells[5] = jstr(x, "target");
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

int
ctl_audit_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	int rc;

	if (argc != 2 || strcmp(argv[1], "list") != 0) {
		fputs("usage: posternctl audit list [--json]\n", stderr);
		return CTL_EXIT_USAGE;
	}
	rc = ctl_call(c, "audit.list", NULL, 1, &root, &res);
	if (rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else
			print_audit(res);
	}
	json_free(root);
	return rc;
}
