/* SPDX-License-Identifier: ISC */
/*
 * test_queue_audit: audit records committed in the transaction of their
 * effect (struct queue_audit, include/queue.h), on a real LMDB queue in
 * a mkdtemp() directory.  queue_actions on a batch: per-id results, one
 * record naming only the ids changed, status 1 with the reason when an
 * id is missing or unchanged (unless unchanged_ok); the caller's fields
 * kept; kv puts, account deletion (record and key in one transaction),
 * flush and commit carry their record; and a record that cannot be
 * written fails its change too (nothing committed without its record).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "json.h"
#include "queue.h"
#include "tap.h"
#include "util.h"

static char tmpdir[256];
static uv_loop_t loop;

struct res {
	int calls;
	struct outcome o;
	char id[QUEUE_ID_LEN + 1];
};

static void
done_cb(void *arg, const struct outcome *o)
{
	struct res *r = arg;

	r->calls++;
	r->o = *o;
}

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	struct res *r = arg;

	r->calls++;
	r->o = *o;
	if (id != NULL)
		str_copy(r->id, id, sizeof(r->id));
}

static void
wait_for(struct res *r)
{
	while (r->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
}

static void
commit(struct queue *q, const struct queue_audit *a, struct res *r)
{
	struct queue_rcpt_in rc = { .addr = "rcpt@example.org" };
	struct queue_msg_in m = { .account = "acme", .sender = "s@example.com", .rcpts = &rc,
	    .nrcpts = 1, .data = "Subject: x\r\n\r\nbody\r\n", .len = 20, .state = QUEUE_QUEUED,
	    .audit = a };

	memset(r, 0, sizeof(*r));
	if (queue_commit(q, &m, commit_cb, r) != 0)
		fatal("commit");
	wait_for(r);
}

struct recs {
	struct json_value *v[32];
	size_t n;
};

static int
rec_cb(void *arg, uint64_t when, const char *text, size_t len)
{
	struct recs *r = arg;

	(void)when;
	if (r->n < 32)
		r->v[r->n++] = json_parse(text, len, NULL, 0);
	return 0;
}

static void
recs_load(struct queue *q, struct recs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		json_free(r->v[i]);
	r->n = 0;
	queue_log_foreach(q, QUEUE_LOG_AUDIT, 0, rec_cb, r);
}

/* The "ids" of record V joined by spaces. */
static const char *
ids_of(const struct json_value *v, char *out, size_t outlen)
{
	const struct json_value *a = json_get(v, "ids");
	size_t i, off = 0;

	out[0] = '\0';
	for (i = 0; a != NULL && i < a->n && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? " " : "", a->items[i]->s);
	return out;
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char err[1024], *text, buf[512];
	struct config *cfg;
	struct queue *q;
	struct res a, b, c, r;
	struct recs recs = { .n = 0 };
	struct queue_audit qa = { "{\"user\":\"op\",\"cmd\":\"queue.hold\",\"target\":\"t\"}", 0 };
	int status[3];
	const char *ids[3];
	char *val = NULL;
	size_t len;

	plan(22);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_queue_audit.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/master.key\n", tmpdir, tmpdir);
	cfg = config_parse("t", text, strlen(text), err, sizeof(err));
	free(text);
	uv_loop_init(&loop);
	if ((q = queue_open_config(&loop, cfg, 0, err, sizeof(err))) == NULL)
		fatal("queue_open: %s", err);

	/* commit with a record: the record names the new id */
	commit(q, &(struct queue_audit){ "{\"cmd\":\"queue.inject\"}", 0 }, &a);
	commit(q, NULL, &b);
	commit(q, NULL, &c);
	recs_load(q, &recs);
	ok(recs.n == 1 && strcmp(json_get_str(recs.v[0], "cmd", ""), "queue.inject") == 0 &&
	    strcmp(ids_of(recs.v[0], buf, sizeof(buf)), a.id) == 0 &&
	    json_get_int(recs.v[0], "status", -1) == 0,
	    "commit with an audit record: one record, the new id, status 0");

	/* a batch: two held, one missing */
	ids[0] = a.id;
	ids[1] = b.id;
	ids[2] = "01M8ZZZZZZZZZZZZZZZZ";
	memset(&r, 0, sizeof(r));
	status[0] = status[1] = status[2] = 99;
	is_int(queue_actions(q, ids, 3, QUEUE_ACT_HOLD, &qa, status, done_cb, &r), 0, "queue_actions");
	wait_for(&r);
	ok(r.o.kind == OUTCOME_OK, "batch committed");
	ok(status[0] == 0 && status[1] == 0 && status[2] == -ENOENT,
	    "per-id results: held, held, not found (%d %d %d)", status[0], status[1], status[2]);
	recs_load(q, &recs);
	ok(recs.n == 2, "one record for the batch");
	snprintf(err, sizeof(err), "%s %s", a.id, b.id);
	is_str(ids_of(recs.v[1], buf, sizeof(buf)), err, "the record names exactly the ids changed");
	is_int(json_get_int(recs.v[1], "status", -1), 1, "a missing id makes status 1");
	is_str(json_get_str(recs.v[1], "error", ""), "No such message", "... with the reason");
	ok(strcmp(json_get_str(recs.v[1], "user", ""), "op") == 0 &&
	    strcmp(json_get_str(recs.v[1], "target", ""), "t") == 0,
	    "the caller's fields are kept");

	/* nothing to change: refused but recorded; unchanged_ok for --all-matching */
	memset(&r, 0, sizeof(r));
	queue_actions(q, ids, 1, QUEUE_ACT_HOLD, &qa, status, done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	ok(status[0] == -EALREADY && recs.n == 3 && json_get_int(recs.v[2], "status", -1) == 1 &&
	    strcmp(json_get_str(recs.v[2], "error", ""), "Nothing to hold: no pending recipient") == 0 &&
	    json_get(recs.v[2], "ids") == NULL,
	    "holding a held message: -EALREADY, recorded with status 1, no ids");
	qa.unchanged_ok = 1;
	memset(&r, 0, sizeof(r));
	queue_actions(q, ids, 2, QUEUE_ACT_HOLD, &qa, status, done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	ok(recs.n == 4 && json_get_int(recs.v[3], "status", -1) == 0,
	    "unchanged_ok: nothing to change is not an error");
	qa.unchanged_ok = 0;
	is_str(queue_action_unchanged(QUEUE_ACT_RELEASE), "Message is not held", "unchanged text");

	/* delete a batch */
	ids[0] = b.id;
	ids[1] = c.id;
	memset(&r, 0, sizeof(r));
	queue_actions(q, ids, 2, QUEUE_ACT_DELETE, &(struct queue_audit){ "{\"cmd\":\"queue.delete\"}", 1 },
	    status, done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	snprintf(err, sizeof(err), "%s %s", b.id, c.id);
	ok(r.o.kind == OUTCOME_OK && status[0] == 0 && status[1] == 0 && recs.n == 5 &&
	    strcmp(ids_of(recs.v[4], buf, sizeof(buf)), err) == 0, "batch delete recorded with its ids");

	/* kv put with its record */
	memset(&r, 0, sizeof(r));
	queue_kv_put_audited(q, QUEUE_T_ACCOUNTS, "acme", "status=active\n", 14,
	    &(struct queue_audit){ "{\"cmd\":\"account.add\",\"target\":\"acme\"}", 0 }, done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	ok(r.o.kind == OUTCOME_OK && recs.n == 6 &&
	    strcmp(json_get_str(recs.v[5], "cmd", ""), "account.add") == 0 &&
	    json_get_int(recs.v[5], "status", -1) == 0, "kv put with its record");
	ok(queue_kv_get(q, QUEUE_T_ACCOUNTS, "acme", &val, &len) == 0, "the record is stored");
	free(val);
	val = NULL;

	/* a record that cannot be written fails the change: neither commits */
	memset(&r, 0, sizeof(r));
	queue_kv_put_audited(q, QUEUE_T_ACCOUNTS, "beta", "status=active\n", 14,
	    &(struct queue_audit){ "not json", 0 }, done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	ok(r.o.kind == OUTCOME_TEMPFAIL, "unwritable record: tempfail");
	ok(queue_kv_get(q, QUEUE_T_ACCOUNTS, "beta", &val, &len) == -ENOENT && recs.n == 6,
	    "... and neither the change nor a record committed");
	free(val);
	val = NULL;

	/* account delete: record and key together, with the record */
	memset(&r, 0, sizeof(r));
	queue_account_delete(q, "acme", &(struct queue_audit){ "{\"cmd\":\"account.delete\"}", 0 },
	    done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	ok(r.o.kind == OUTCOME_OK && recs.n == 7 &&
	    strcmp(json_get_str(recs.v[6], "cmd", ""), "account.delete") == 0, "account delete recorded");
	ok(queue_kv_get(q, QUEUE_T_ACCOUNTS, "acme", &val, &len) == -ENOENT, "account record gone");
	free(val);
	commit(q, NULL, &b);	/* acme gets a new key: the old one was shredded */
	ok(b.o.kind == OUTCOME_OK, "the account can be used again (new key)");
	memset(&r, 0, sizeof(r));
	queue_account_delete(q, "nokey", NULL, done_cb, &r);
	wait_for(&r);
	ok(r.o.kind == OUTCOME_OK, "deleting an account without a key is fine");

	/* flush with its record; an empty head object */
	memset(&r, 0, sizeof(r));
	queue_flush_audited(q, &(struct queue_audit){ "{}", 0 }, done_cb, &r);
	wait_for(&r);
	recs_load(q, &recs);
	ok(r.o.kind == OUTCOME_OK && recs.n == 8 && json_get_int(recs.v[7], "status", -1) == 0,
	    "flush recorded (an empty head object gets the status)");

	recs_load(q, &recs);
	for (len = 0; len < recs.n; len++)
		json_free(recs.v[len]);
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	config_free(cfg);
	text = xasprintf("rm -rf %s", tmpdir);
	if (system(text) != 0)
		diag("cleanup failed");
	free(text);
	return done();
}
