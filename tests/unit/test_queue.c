/* SPDX-License-Identifier: ISC */
/*
 * test_queue: the durable queue end to end in one process, on a real
 * LMDB environment in a mkdtemp() directory: id ordering, commit and
 * body round trips at chunk boundaries (0, 1, 64 KiB - 1, 64 KiB,
 * 64 KiB + 1, 10 MiB), many concurrent commits (each callback exactly
 * once, all readable after reopening), map full -> 452 4.3.1 with the
 * queue still usable, the scheduler (take_due, report: deferred with
 * the retry schedule, bounced, expired), hold/release/delete/requeue/
 * flush, generic records, events and audit, retention purge, account
 * shredding, a plaintext marker never present in data.mdb, and
 * (issue 20) commits submitted from another loop's thread calling back
 * on that thread through its queue_port.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "json.h"
#include "log.h"
#include "account.h"
#include "queue.h"
#include "tap.h"
#include "util.h"

static char tmpdir[256];
static uv_loop_t loop;

struct commit_res {
	int calls;
	struct outcome o;
	char id[QUEUE_ID_LEN + 1];
};

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	struct commit_res *r = arg;

	r->calls++;
	r->o = *o;
	if (id != NULL)
		str_copy(r->id, id, sizeof(r->id));
}

struct done_res {
	int calls;
	struct outcome o;
};

static void
done_cb(void *arg, const struct outcome *o)
{
	struct done_res *r = arg;

	r->calls++;
	r->o = *o;
}

static struct config *
make_config_retry(const char *retry, const char *extra)
{
	char err[1024], *text;
	struct config *cfg;

	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/master.key\n"
	    "retry_schedule = %s\nmax_queue_lifetime = 1h\n%s",
	    tmpdir, tmpdir, retry, extra ? extra : "");
	cfg = config_parse("test.conf", text, strlen(text), err, sizeof(err));
	if (cfg == NULL)
		fatal("config: %s", err);
	free(text);
	return cfg;
}

static struct config *
make_config(const char *extra)
{
	return make_config_retry("1m, 10m", extra);
}

static void
close_queue(struct queue *q)
{
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
}

/* CFG's queue in its own directory TMPDIR/NAME (cfg->data_directory
 * names it afterwards). */
static struct queue *
queue_in(struct config *cfg, const char *name)
{
	char err[512], dir[300];

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, name);
	free(cfg->data_directory);
	cfg->data_directory = xstrdup(dir);
	return queue_open_config(&loop, cfg, 0, err, sizeof(err));
}

/* Take every due job (its recipients are then in flight) and free it. */
static void
take_all(struct queue *q)
{
	struct queue_job *jobs[8];
	size_t n, i;

	while ((n = queue_take_due(q, jobs, 8)) > 0)
		for (i = 0; i < n; i++)
			queue_job_free(jobs[i]);
}

/* Commit one message and wait for its callback. */
static int
commit_one(struct queue *q, const char *account, const char *data, size_t len,
    enum queue_state st, struct commit_res *res, size_t nrcpt)
{
	struct queue_rcpt_in rcpts[4] = {
		{ .addr = "a@example.org" },
		{ .addr = "b@example.org", .orcpt = "rfc822;b@example.org",
		  .notify = QUEUE_NOTIFY_FAILURE },
		{ .addr = "c@example.net" },
		{ .addr = "d@example.net" },
	};
	struct queue_msg_in m = {
		.account = account, .sender = "sender@example.com",
		.rcpts = rcpts, .nrcpts = nrcpt, .data = data, .len = len,
		.state = st, .envid = "env1", .verdicts = "{\"dlp\":[]}",
		.client = "client.test [h:0123456789abcdef]",
	};
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = queue_commit(q, &m, commit_cb, res)) != 0)
		return rc;
	while (res->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	return 0;
}

static void
test_ids(void)
{
	struct queue *q;
	char prev[QUEUE_ID_LEN + 1] = "", id[QUEUE_ID_LEN + 1];
	int i, sorted = 1, printable = 1;
	struct commit_res res;
	struct config *cfg = make_config(NULL);
	char err[512];

	/* ids are made inside queue_commit; drive many commits and compare. */
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "queue opens (%s)", q ? "ok" : err);
	for (i = 0; i < 300; i++) {
		commit_one(q, "acme", "x", 1, QUEUE_QUEUED, &res, 1);
		str_copy(id, res.id, sizeof(id));
		if (strlen(id) != QUEUE_ID_LEN)
			printable = 0;
		for (size_t j = 0; j < strlen(id); j++)
			if (!((id[j] >= '0' && id[j] <= '9') || (id[j] >= 'A' && id[j] <= 'Z')))
				printable = 0;
		if (strcmp(prev, id) >= 0)
			sorted = 0;
		str_copy(prev, id, sizeof(prev));
	}
	ok(sorted, "ids strictly increase in creation order");
	ok(printable, "ids are %d printable base32 characters", QUEUE_ID_LEN);
	close_queue(q);
	config_free(cfg);
}

static void
test_roundtrip(void)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 10 * 1024 * 1024 };
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct commit_res res;
	struct queue_msg *m;
	struct buf body;
	char err[512], *data;
	size_t i, j;

	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	data = xmalloc(10 * 1024 * 1024);
	for (j = 0; j < 10 * 1024 * 1024; j++)
		data[j] = (char)(j * 7 + j / 65536);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		commit_one(q, "acme", data, sizes[i], QUEUE_QUEUED, &res, 2);
		ok(res.calls == 1 && res.o.kind == OUTCOME_OK && res.o.code == 250,
		    "commit of %zu bytes: %d %s", sizes[i], res.o.code, res.o.text);
		buf_init(&body, 0);
		is_int(queue_read_body(q, res.id, &body), 0, "read body of %zu bytes", sizes[i]);
		is_mem(body.data ? body.data : "", body.len, data, sizes[i],
		    "body of %zu bytes round-trips", sizes[i]);
		buf_free(&body);
	}
	is_int(queue_get(q, res.id, &m), 0, "queue_get finds the message");
	if (m != NULL) {
		is_str(m->sender, "sender@example.com", "sender kept");
		is_str(m->account, "acme", "account kept");
		is_str(m->envid, "env1", "envid kept");
		is_str(m->client, "client.test [h:0123456789abcdef]", "client description kept");
		is_int(m->nrcpts, 2, "two recipients");
		is_str(m->rcpts[1].orcpt, "rfc822;b@example.org", "orcpt kept");
		is_int(m->rcpts[1].notify, QUEUE_NOTIFY_FAILURE, "notify kept");
		is_int(m->state, QUEUE_QUEUED, "state queued");
		is_int(m->size, 10 * 1024 * 1024, "size recorded");
		queue_msg_free(m);
	}
	m = NULL;
	is_int(queue_get(q, "00000000000000000000", &m), -ENOENT, "unknown id: ENOENT");
	is_int(queue_get(q, "../etc", &m), -ENOENT, "malformed id: ENOENT");
	close_queue(q);
	free(data);
	config_free(cfg);
}

#define NCONC 500
static struct commit_res conc[NCONC];

static void
test_concurrent(void)
{
	struct config *cfg = make_config("queue_commit_batch = 64\n");
	struct queue_rcpt_in r = { .addr = "x@example.org" };
	struct queue *q;
	char err[512], bodies[NCONC][32];
	int i, once = 1, okall = 1, readable = 1, pending;
	struct buf b;

	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	for (i = 0; i < NCONC; i++) {
		struct queue_msg_in m = { .account = i % 2 ? "acme" : "", .sender = "",
		    .rcpts = &r, .nrcpts = 1, .state = QUEUE_QUEUED };
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: %d\r\n\r\nbody\r\n", i);
		m.data = bodies[i];
		m.len = strlen(bodies[i]);
		memset(&conc[i], 0, sizeof(conc[i]));
		if (queue_commit(q, &m, commit_cb, &conc[i]) != 0)
			okall = 0;
	}
	do {
		uv_run(&loop, UV_RUN_ONCE);
		for (pending = 0, i = 0; i < NCONC; i++)
			pending += conc[i].calls == 0;
	} while (pending > 0);
	for (i = 0; i < NCONC; i++) {
		if (conc[i].calls != 1)
			once = 0;
		if (conc[i].o.kind != OUTCOME_OK)
			okall = 0;
	}
	ok(once, "%d concurrent commits: every callback fired exactly once", NCONC);
	ok(okall, "all concurrent commits succeeded");
	close_queue(q);
	/* Reopen: everything acknowledged is there. */
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	for (i = 0; i < NCONC; i++) {
		buf_init(&b, 0);
		if (queue_read_body(q, conc[i].id, &b) != 0 || b.len != strlen(bodies[i]) ||
		    memcmp(b.data, bodies[i], b.len) != 0)
			readable = 0;
		buf_free(&b);
	}
	ok(readable, "all %d messages readable after reopening", NCONC);
	close_queue(q);
	config_free(cfg);
}

static void
test_mapfull(void)
{
	char err[512], dir[300];
	struct config *cfg;
	struct queue *q;
	struct commit_res res;
	char *big = xcalloc(1, 3 * 1024 * 1024);

	snprintf(dir, sizeof(dir), "%s/small", tmpdir);
	{
		char *extra = xasprintf("queue_map_size = 1m\nqueue_map_grow = no\n");
		cfg = make_config(extra);
		free(cfg->data_directory);
		cfg->data_directory = xstrdup(dir);
		free(extra);
	}
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "small queue opens");
	commit_one(q, "acme", big, 3 * 1024 * 1024, QUEUE_QUEUED, &res, 1);
	ok(res.calls == 1 && res.o.kind == OUTCOME_TEMPFAIL && res.o.code == 452 &&
	    strcmp(res.o.enhanced, "4.3.1") == 0, "map full: 452 4.3.1 (%d %s)",
	    res.o.code, res.o.enhanced);
	commit_one(q, "acme", "small\r\n", 7, QUEUE_QUEUED, &res, 1);
	ok(res.o.kind == OUTCOME_OK, "a small message still commits after map full");
	close_queue(q);
	config_free(cfg);

	/* With growth allowed the same message goes in. */
	cfg = make_config("queue_map_size = 1m\nqueue_map_grow = yes\nqueue_map_max = 64m\n");
	free(cfg->data_directory);
	cfg->data_directory = xstrdup(dir);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	commit_one(q, "acme", big, 3 * 1024 * 1024, QUEUE_QUEUED, &res, 1);
	ok(res.o.kind == OUTCOME_OK, "map grows on demand when queue_map_grow = yes");
	close_queue(q);
	config_free(cfg);
	free(big);
}

struct report_res {
	int calls;
	struct outcome o;
	enum queue_state st;
	int late;
};

static void
report_cb(void *arg, const struct outcome *o, enum queue_state st, int late)
{
	struct report_res *r = arg;

	r->calls++;
	r->o = *o;
	r->st = st;
	r->late = late;
}

static int due_calls;
static void
due_cb(void *arg)
{
	(void)arg;
	due_calls++;
}

static enum queue_state
rcpt_state(struct queue *q, const char *id, uint32_t no, struct queue_rcpt *copy)
{
	struct queue_msg *m;
	enum queue_state st = (enum queue_state)-1;
	size_t i;

	if (queue_get(q, id, &m) != 0)
		return st;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].no == no) {
			st = m->rcpts[i].state;
			if (copy != NULL) {
				copy->attempts = m->rcpts[i].attempts;
				copy->next_try = m->rcpts[i].next_try;
				copy->first_attempt = m->rcpts[i].first_attempt;
				copy->last_attempt = m->rcpts[i].last_attempt;
			}
		}
	queue_msg_free(m);
	return st;
}

/* The address report_wait() hands the queue as the engine's copy (NULL:
 * none, as an operator's report). */
static const char *report_addr;

static void
report_wait(struct queue *q, const char *id, uint32_t no, enum queue_result r,
    struct report_res *res)
{
	struct outcome o;

	memset(res, 0, sizeof(*res));
	outcome_set(&o, r == QUEUE_RESULT_DELIVERED ? OUTCOME_OK : r == QUEUE_RESULT_TEMPFAIL ?
	    OUTCOME_TEMPFAIL : OUTCOME_PERMFAIL, r == QUEUE_RESULT_DELIVERED ? 250 :
	    r == QUEUE_RESULT_TEMPFAIL ? 451 : 550, r == QUEUE_RESULT_DELIVERED ? "2.0.0" :
	    r == QUEUE_RESULT_TEMPFAIL ? "4.4.1" : "5.1.1", "reply text");
	queue_report(q, id, no, report_addr, r, &o, "mx.example.org", report_cb, res);
	while (res->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
}

static void
action_wait(struct queue *q, const char *id, enum queue_action a, struct done_res *d)
{
	memset(d, 0, sizeof(*d));
	queue_action(q, id, a, done_cb, d);
	while (d->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
}

/* Issue 12 item 7: a hold while the attempt is in flight applies when
 * the attempt ends; the message's state and `release` agree with it. */
static void
test_hold_in_flight(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct commit_res one, two;
	struct report_res rr;
	struct done_res d;
	struct queue_msg *m = NULL;

	q = queue_in(cfg, "hold");
	commit_one(q, "acme", "one\r\n", 5, QUEUE_QUEUED, &one, 1);
	commit_one(q, "acme", "two\r\n", 5, QUEUE_QUEUED, &two, 2);
	take_all(q);
	action_wait(q, one.id, QUEUE_ACT_HOLD, &d);
	is_int(d.o.kind, OUTCOME_OK, "hold of a message in flight: ok");
	report_wait(q, one.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	is_int(rr.st, QUEUE_DELIVERED, "its attempt delivered it: reported delivered");
	queue_get(q, one.id, &m);
	is_int(m ? (int)m->state : -1, QUEUE_DELIVERED, "the message shows delivered, not held");
	queue_msg_free(m);
	action_wait(q, one.id, QUEUE_ACT_RELEASE, &d);
	ok(d.o.kind == OUTCOME_PERMFAIL, "release says it is not held: %s", d.o.text);

	action_wait(q, two.id, QUEUE_ACT_HOLD, &d);
	report_wait(q, two.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	report_wait(q, two.id, 1, QUEUE_RESULT_TEMPFAIL, &rr);
	is_int(rr.st, QUEUE_HELD, "the other recipient's attempt failed: it is held");
	queue_get(q, two.id, &m);
	is_int(m ? (int)m->state : -1, QUEUE_HELD, "so the message is held");
	queue_msg_free(m);
	action_wait(q, two.id, QUEUE_ACT_RELEASE, &d);
	ok(d.o.kind == OUTCOME_OK && rcpt_state(q, two.id, 1, NULL) == QUEUE_QUEUED &&
	    rcpt_state(q, two.id, 0, NULL) == QUEUE_DELIVERED,
	    "release queues the held recipient; the delivered one stays delivered");
	close_queue(q);
	config_free(cfg);
}

/* A result for a recipient made final or deleted meanwhile is late: it
 * changes nothing and the callback says so (LATE = 1, the state the
 * recipient has); a result that records something is not late. */
static void
test_late_report(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct commit_res one;
	struct report_res rr;
	struct done_res d;
	struct queue_rcpt copy;

	q = queue_in(cfg, "late");
	commit_one(q, "acme", "late\r\n", 6, QUEUE_QUEUED, &one, 2);
	take_all(q);
	report_wait(q, one.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	ok(rr.st == QUEUE_DELIVERED && rr.late == 0, "a result that records: delivered, not late");
	report_wait(q, one.id, 0, QUEUE_RESULT_PERMFAIL, &rr);
	memset(&copy, 0, sizeof(copy));
	ok(rr.st == QUEUE_DELIVERED && rr.late == 1 && rcpt_state(q, one.id, 0, &copy) ==
	    QUEUE_DELIVERED && copy.attempts == 1,
	    "a second result for a final recipient: late, its state (delivered) unchanged");
	action_wait(q, one.id, QUEUE_ACT_DELETE, &d);
	report_wait(q, one.id, 1, QUEUE_RESULT_DELIVERED, &rr);
	ok(rr.late == 1 && rr.st == QUEUE_DELETED && rr.o.kind == OUTCOME_OK,
	    "a result after queue delete: late, deleted, no failure (state %d)", (int)rr.st);
	report_wait(q, one.id, 7, QUEUE_RESULT_DELIVERED, &rr);
	ok(rr.late == 1 && rr.st == QUEUE_DELETED && rr.o.kind == OUTCOME_OK,
	    "a result for a recipient the message has not: late, nothing to record");
	close_queue(q);
	config_free(cfg);
}

static void
test_scheduler(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct commit_res res, held;
	struct report_res rr;
	struct done_res d;
	struct queue_job *jobs[64];
	struct queue_rcpt copy;
	char err[512], sched_id[QUEUE_ID_LEN + 1];
	size_t n, i, total;
	uint64_t t0;

	char dir[300];
	snprintf(dir, sizeof(dir), "%s/sched", tmpdir);
	free(cfg->data_directory);
	cfg->data_directory = xstrdup(dir);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	due_calls = 0;
	queue_set_due_callback(q, due_cb, NULL);
	commit_one(q, "acme", "hello\r\n", 7, QUEUE_QUEUED, &res, 4);
	commit_one(q, "acme", "held\r\n", 6, QUEUE_HELD, &held, 1);
	t0 = now_wall_ms();
	while (due_calls == 0 && now_wall_ms() - t0 < 5000)
		uv_run(&loop, UV_RUN_NOWAIT);
	ok(due_calls > 0, "due callback fired after commit");
	n = queue_take_due(q, jobs, 64);
	is_int(n, 1, "one due job (the held message is not due)");
	is_int(n ? jobs[0]->msg->nrcpts : 0, 4, "with its four recipients");
	for (i = 0; i < n; i++)
		queue_job_free(jobs[i]);
	is_int(queue_take_due(q, jobs, 64), 0, "in-flight recipients are not handed out twice");

	report_wait(q, res.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	is_int(rr.st, QUEUE_DELIVERED, "delivered reported");
	report_wait(q, res.id, 1, QUEUE_RESULT_PERMFAIL, &rr);
	is_int(rr.st, QUEUE_BOUNCED, "permfail -> bounced");
	t0 = now_wall_ms();
	report_wait(q, res.id, 2, QUEUE_RESULT_TEMPFAIL, &rr);
	is_int(rr.st, QUEUE_DEFERRED, "tempfail -> deferred");
	rcpt_state(q, res.id, 2, &copy);
	ok(copy.attempts == 1 && copy.next_try >= t0 + 60000 && copy.next_try <= now_wall_ms() + 60000,
	    "first retry after retry_schedule[0] = 1m");
	is_int(queue_take_due(q, jobs, 64), 0, "deferred recipient not due yet");

	/* flush makes it due now */
	memset(&d, 0, sizeof(d));
	queue_flush(q, done_cb, &d);
	while (d.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	n = queue_take_due(q, jobs, 64);
	ok(n == 1 && jobs[0]->msg->nrcpts == 1 && jobs[0]->msg->rcpts[0].no == 2,
	    "after flush the deferred recipient is due");
	for (i = 0; i < n; i++)
		queue_job_free(jobs[i]);
	report_wait(q, res.id, 2, QUEUE_RESULT_TEMPFAIL, &rr);
	rcpt_state(q, res.id, 2, &copy);
	ok(copy.attempts == 2 && copy.next_try >= now_wall_ms() + 9 * 60000,
	    "second retry after retry_schedule[1] = 10m");
	{
		/* SIGHUP changes retry_schedule: the next retry follows the new
		 * schedule, counted from the recorded attempt time, and
		 * queue_next_retry() (what delivery may ask) agrees with it. */
		struct config *next = make_config_retry("2m, 20m, 30m", NULL);
		struct queue_rcpt before = copy;
		struct queue_msg *qm = NULL;

		ok(before.first_attempt >= t0 && before.first_attempt <= before.last_attempt &&
		    before.last_attempt <= now_wall_ms(),
		    "first and latest attempt times recorded");
		{
			struct queue_params qp;

			queue_params_from_config(&qp, next);
			queue_reload(q, &qp);
		}
		memset(&d, 0, sizeof(d));
		queue_flush(q, done_cb, &d);
		while (d.calls == 0)
			uv_run(&loop, UV_RUN_ONCE);
		n = queue_take_due(q, jobs, 64);
		for (i = 0; i < n; i++)
			queue_job_free(jobs[i]);
		report_wait(q, res.id, 2, QUEUE_RESULT_TEMPFAIL, &rr);
		rcpt_state(q, res.id, 2, &copy);
		ok(copy.attempts == 3 && copy.first_attempt == before.first_attempt &&
		    copy.last_attempt >= before.last_attempt &&
		    copy.next_try == copy.last_attempt + 30 * 60000,
		    "after the reload: third retry at last attempt + retry_schedule[2] = 30m");
		queue_get(q, res.id, &qm);
		ok(qm != NULL && queue_next_retry(q, qm, copy.attempts, copy.last_attempt) ==
		    copy.next_try, "queue_next_retry agrees with the scheduled retry");
		ok(qm != NULL && queue_next_retry(q, qm, 9, qm->created + 59 * 60000) ==
		    qm->created + 60 * 60000, "queue_next_retry stops at max_queue_lifetime");
		queue_msg_free(qm);
		{
			struct queue_params qp;

			queue_params_from_config(&qp, cfg);
			queue_reload(q, &qp);
		}
		config_free(next);
	}

	/* hold / release / requeue on the remaining recipients */
	action_wait(q, res.id, QUEUE_ACT_HOLD, &d);
	is_int(d.o.kind, OUTCOME_OK, "hold ok");
	is_int(rcpt_state(q, res.id, 2, NULL), QUEUE_HELD, "deferred recipient now held");
	is_int(rcpt_state(q, res.id, 3, NULL), QUEUE_HELD, "in-flight recipient now held");
	report_wait(q, res.id, 3, QUEUE_RESULT_TEMPFAIL, &rr);
	is_int(rr.st, QUEUE_HELD, "tempfail of a held in-flight recipient keeps it held");
	action_wait(q, res.id, QUEUE_ACT_RELEASE, &d);
	is_int(rcpt_state(q, res.id, 2, NULL), QUEUE_QUEUED, "release -> queued");
	n = queue_take_due(q, jobs, 64);
	for (total = 0, i = 0; i < n; i++) {
		total += jobs[i]->msg->nrcpts;
		queue_job_free(jobs[i]);
	}
	is_int(total, 2, "released recipients are due at once");
	report_wait(q, res.id, 2, QUEUE_RESULT_DELIVERED, &rr);

	action_wait(q, held.id, QUEUE_ACT_DELETE, &d);
	is_int(d.o.kind, OUTCOME_OK, "delete ok");
	{
		struct buf b;
		buf_init(&b, 0);
		is_int(queue_read_body(q, held.id, &b), -ENOENT, "deleted message body is gone");
		buf_free(&b);
	}
	is_int(rcpt_state(q, held.id, 0, NULL), QUEUE_DELETED, "recipient state deleted");
	action_wait(q, "0000000000000000ZZZZ", QUEUE_ACT_HOLD, &d);
	ok(d.o.kind == OUTCOME_PERMFAIL, "hold of an unknown id fails: %s", d.o.text);
	close_queue(q);

	/* Restart: the pending recipient (no 3) is due again; nothing is lost. */
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	n = queue_take_due(q, jobs, 64);
	ok(n == 1 && jobs[0]->msg->nrcpts == 1 && jobs[0]->msg->rcpts[0].no == 3,
	    "after reopening the undelivered recipient is scheduled again");
	for (i = 0; i < n; i++)
		queue_job_free(jobs[i]);
	close_queue(q);
	config_free(cfg);

	/* The timer fires for a deferred recipient when its retry is due. */
	str_copy(sched_id, res.id, sizeof(sched_id));
	cfg = make_config(NULL);
	free(cfg->data_directory);
	cfg->data_directory = xasprintf("%s/timer", tmpdir);
	free(cfg->retry_schedule.items[0]);
	cfg->retry_schedule.items[0] = xstrdup("300ms");
	cfg->retry_schedule.ms[0] = 300;	/* the typed value the queue reads */
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	queue_set_due_callback(q, due_cb, NULL);
	commit_one(q, "acme", "x\r\n", 3, QUEUE_QUEUED, &res, 1);
	while (queue_take_due(q, jobs, 64) == 0)
		uv_run(&loop, UV_RUN_NOWAIT);
	queue_job_free(jobs[0]);
	report_wait(q, res.id, 0, QUEUE_RESULT_TEMPFAIL, &rr);
	is_int(queue_take_due(q, jobs, 64), 0, "deferred for 300ms: not due at once");
	due_calls = 0;
	t0 = now_wall_ms();
	while (due_calls == 0 && now_wall_ms() - t0 < 10000)
		uv_run(&loop, UV_RUN_ONCE);
	ok(due_calls > 0, "due callback fires when the retry time comes");
	n = queue_take_due(q, jobs, 64);
	ok(n == 1 && jobs[0]->msg->rcpts[0].state == QUEUE_DEFERRED && jobs[0]->msg->rcpts[0].attempts == 1,
	    "and the deferred recipient is handed out again");
	for (i = 0; i < n; i++)
		queue_job_free(jobs[i]);
	close_queue(q);
	config_free(cfg);

	/* Expiry: a tempfail after max_queue_lifetime expires the recipient. */
	cfg = make_config(NULL);
	free(cfg->data_directory);
	cfg->data_directory = xstrdup(dir);
	cfg->max_queue_lifetime = 0;
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	report_wait(q, sched_id, 3, QUEUE_RESULT_TEMPFAIL, &rr);
	is_int(rr.st, QUEUE_EXPIRED, "tempfail past max_queue_lifetime -> expired");
	close_queue(q);
	config_free(cfg);
}

struct kv_seen { int n; char keys[512]; };

static int
kv_cb(void *arg, const char *key, const char *val, size_t len)
{
	struct kv_seen *s = arg;

	(void)val;
	(void)len;
	s->n++;
	strncat(s->keys, key, sizeof(s->keys) - strlen(s->keys) - 2);
	strcat(s->keys, ",");
	return 0;
}

static int
log_cb(void *arg, uint64_t when, const char *json, size_t len)
{
	struct buf *b = arg;

	(void)when;
	buf_append(b, json, len);
	buf_append(b, "\n", 1);
	return 0;
}

static void
test_kv_and_logs(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct done_res d;
	struct kv_seen seen;
	struct buf b;
	char err[512], *val = NULL;
	size_t len = 0;

	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	memset(&d, 0, sizeof(d));
	queue_kv_put(q, QUEUE_T_ACCOUNTS, "acme", "status=active\n", 14, done_cb, &d);
	queue_kv_put(q, QUEUE_T_ACCOUNTS, "beta", "status=suspended\n", 17, done_cb, &d);
	queue_kv_put(q, QUEUE_T_DKIM, "example.org", "selector=s1\n", 12, done_cb, &d);
	while (d.calls < 3)
		uv_run(&loop, UV_RUN_ONCE);
	is_int(queue_kv_get(q, QUEUE_T_ACCOUNTS, "acme", &val, &len), 0, "kv get");
	is_mem(val, len, "status=active\n", 14, "kv value");
	free(val);
	memset(&seen, 0, sizeof(seen));
	queue_kv_foreach(q, QUEUE_T_ACCOUNTS, "", kv_cb, &seen);
	is_str(seen.keys, "acme,beta,", "kv foreach in key order");
	d.calls = 0;
	queue_kv_put(q, QUEUE_T_ACCOUNTS, "beta", NULL, 0, done_cb, &d);
	while (d.calls < 1)
		uv_run(&loop, UV_RUN_ONCE);
	is_int(queue_kv_get(q, QUEUE_T_ACCOUNTS, "beta", &val, &len), -ENOENT, "kv delete");
	is_int(queue_kv_get(q, QUEUE_T_SUPPRESSIONS, "acme", &val, &len), -ENOENT,
	    "tables are separate");

	d.calls = 0;
	queue_audit(q, "{\"who\":\"root\",\"cmd\":\"queue.hold\"}", done_cb, &d);
	while (d.calls < 1)
		uv_run(&loop, UV_RUN_ONCE);
	buf_init(&b, 0);
	queue_log_foreach(q, QUEUE_LOG_AUDIT, 0, log_cb, &b);
	ok(b.data != NULL && strstr(b.data, "queue.hold") != NULL, "audit record stored");
	buf_reset(&b);
	queue_log_foreach(q, QUEUE_LOG_EVENTS, 0, log_cb, &b);
	ok(b.data != NULL && strstr(b.data, "\"event\":\"queued\"") != NULL &&
	    strstr(b.data, "\"rcpt\":\"h:") != NULL && strstr(b.data, "@example") == NULL,
	    "events recorded with pseudonymised recipients");
	buf_free(&b);
	close_queue(q);
	config_free(cfg);
}

/* Issue 20: a delivery engine's report names the address, so the queue
 * leaves the envelope sealed; the event still names the recipient's
 * pseudonym and the sealed fields survive the write-back.  An operator's
 * report (no address) opens the envelope as before. */
static void
test_report_sealed(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct commit_res one;
	struct report_res rr;
	struct queue_msg *m = NULL;
	struct buf b;
	char pa[64], pb[64], want[128];

	q = queue_in(cfg, "sealedrep");
	commit_one(q, "acme", "sealed\r\n", 8, QUEUE_QUEUED, &one, 2);
	take_all(q);
	report_addr = "a@example.org";
	report_wait(q, one.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	report_addr = NULL;
	report_wait(q, one.id, 1, QUEUE_RESULT_TEMPFAIL, &rr);
	is_int(rr.st, QUEUE_DEFERRED, "an operator-style report without the address: deferred");
	is_int(queue_get(q, one.id, &m), 0, "the message loads after both reports");
	ok(m != NULL && strcmp(m->sender, "sender@example.com") == 0 && m->nrcpts == 2 &&
	    strcmp(m->rcpts[0].addr, "a@example.org") == 0 &&
	    strcmp(m->rcpts[1].addr, "b@example.org") == 0 &&
	    m->rcpts[1].orcpt != NULL && strcmp(m->rcpts[1].orcpt, "rfc822;b@example.org") == 0 &&
	    m->envid != NULL && strcmp(m->envid, "env1") == 0 && !m->envelope_gone,
	    "the sealed envelope and addresses survive a report that did not open them");
	ok(m != NULL && m->rcpts[0].state == QUEUE_DELIVERED && m->rcpts[0].attempts == 1,
	    "the report was recorded on the recipient");
	queue_msg_free(m);
	log_pseudonym("a@example.org", 13, pa, sizeof(pa));
	log_pseudonym("b@example.org", 13, pb, sizeof(pb));
	buf_init(&b, 0);
	queue_log_foreach(q, QUEUE_LOG_EVENTS, 0, log_cb, &b);
	snprintf(want, sizeof(want), "\"rcpt\":\"%s\",\"event\":\"delivered\"", pa);
	ok(b.data != NULL && strstr(b.data, want) != NULL,
	    "the delivered event names the pseudonym of the engine's address");
	snprintf(want, sizeof(want), "\"rcpt\":\"%s\",\"event\":\"deferred\"", pb);
	ok(b.data != NULL && strstr(b.data, want) != NULL,
	    "the deferred event (envelope opened) names the recipient's pseudonym");
	ok(b.data != NULL && strstr(b.data, "@example") == NULL, "no address in the events");
	buf_free(&b);
	close_queue(q);
	{
		/* the write-back against the raw bytes: every page of data.mdb,
		 * free ones included, holds no address of the message in clear */
		char path[400];
		struct buf raw;
		int fd;

		snprintf(path, sizeof(path), "%s/data.mdb", cfg->data_directory);
		buf_init(&raw, 0);
		if ((fd = open(path, O_RDONLY)) >= 0) {
			char chunk[65536];
			ssize_t n;

			while ((n = read(fd, chunk, sizeof(chunk))) > 0)
				buf_append(&raw, chunk, (size_t)n);
			close(fd);
		}
		ok(raw.len > 0 && memmem(raw.data, raw.len, one.id, strlen(one.id)) != NULL &&
		    memmem(raw.data, raw.len, "a@example.org", 13) == NULL &&
		    memmem(raw.data, raw.len, "b@example.org", 13) == NULL &&
		    memmem(raw.data, raw.len, "sender@example.com", 18) == NULL,
		    "data.mdb (%zu octets) names the message (the scan sees its records) and holds no address in clear after the reports", raw.len);
		buf_free(&raw);
	}
	config_free(cfg);
}

/* How many outbox records hold NEEDLE. */
static size_t
outbox_count(struct queue *q, const char *needle)
{
	struct queue_outbox_rec *recs = NULL;
	size_t n = 0, i, hits = 0;

	if (queue_outbox_read(q, 1000, &recs, &n) != 0)
		return (size_t)-1;
	for (i = 0; i < n; i++)
		if (strstr(recs[i].json, needle) != NULL)
			hits++;
	queue_outbox_recs_free(recs, n);
	return hits;
}

/* queue_kv_put_notify (issue 19): the webhook record of a suppression
 * goes to the outbox in the put's transaction only when the message it
 * names has a webhook (MF_WEBHOOK at commit), or when no message is
 * named (the caller checked the account). */
static void
test_kv_notify(void)
{
	struct config *cfg = make_config(NULL);
	struct queue_rcpt_in rcpts[1] = { { .addr = "a@example.org" } };
	struct queue_msg_in m = {
		.account = "acme", .sender = "s@example.com", .rcpts = rcpts, .nrcpts = 1,
		.data = "Subject: x\r\n\r\nx\r\n", .len = 17, .state = QUEUE_QUEUED,
	};
	struct commit_res plain, hooked;
	struct done_res d;
	struct queue *q;
	char err[512], *val = NULL, *wh;
	size_t len = 0;

	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	memset(&plain, 0, sizeof(plain));
	memset(&hooked, 0, sizeof(hooked));
	queue_commit(q, &m, commit_cb, &plain);
	m.webhook = 1;
	queue_commit(q, &m, commit_cb, &hooked);
	while (plain.calls == 0 || hooked.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	memset(&d, 0, sizeof(d));
	wh = xasprintf("{\"id\":\"%s\",\"event\":\"suppressed\",\"tag\":\"plain\"}", plain.id);
	queue_kv_put_notify(q, QUEUE_T_SUPPRESSIONS, "acme/1", "reason=manual\n", 14, NULL, wh,
	    plain.id, NULL, done_cb, &d);
	free(wh);
	wh = xasprintf("{\"id\":\"%s\",\"event\":\"suppressed\",\"tag\":\"hooked\"}", hooked.id);
	queue_kv_put_notify(q, QUEUE_T_SUPPRESSIONS, "acme/2", "reason=manual\n", 14, NULL, wh,
	    hooked.id, NULL, done_cb, &d);
	free(wh);
	queue_kv_put_notify(q, QUEUE_T_SUPPRESSIONS, "acme/3", "reason=manual\n", 14, NULL,
	    "{\"account\":\"acme\",\"event\":\"suppressed\",\"tag\":\"nomsg\"}", NULL, NULL,
	    done_cb, &d);
	while (d.calls < 3)
		uv_run(&loop, UV_RUN_ONCE);
	ok(d.o.kind == OUTCOME_OK && queue_kv_get(q, QUEUE_T_SUPPRESSIONS, "acme/1", &val, &len) == 0,
	    "kv_put_notify: the entry is stored");
	free(val);
	is_int((int)outbox_count(q, "\"tag\":\"plain\""), 0,
	    "kv_put_notify: a message without a webhook: no outbox record");
	is_int((int)outbox_count(q, "\"tag\":\"hooked\""), 1,
	    "kv_put_notify: a message with a webhook: its record in the outbox");
	is_int((int)outbox_count(q, "\"tag\":\"nomsg\""), 1,
	    "kv_put_notify: no message named: the record in the outbox");
	close_queue(q);
	config_free(cfg);
}

/* Does the file at PATH contain NEEDLE anywhere? */
static int
file_contains(const char *path, const char *needle)
{
	/* chunk by chunk: data.mdb is as large as its map (reserved space) */
	enum { CHUNK = 1 << 20 };
	size_t n = strlen(needle), keep = 0, got, i;
	char *data = xmalloc(CHUNK + n);
	FILE *f = fopen(path, "rb");
	int found = 0;

	if (f == NULL) {
		free(data);
		return -1;
	}
	while (!found && (got = fread(data + keep, 1, CHUNK, f)) > 0) {
		got += keep;
		for (i = 0; i + n <= got; i++)
			if (memcmp(data + i, needle, n) == 0) {
				found = 1;
				break;
			}
		keep = got < n - 1 ? got : n - 1;
		memmove(data, data + got - keep, keep);
	}
	fclose(f);
	free(data);
	return found;
}

static void
test_privacy(void)
{
	struct config *cfg = make_config("body_retention = 0\n");
	struct queue *q;
	struct commit_res res, res2, res3;
	struct report_res rr;
	struct done_res d;
	struct buf b;
	char path[400];
	const char *marker = "MARKER-7f3c9e1d-never-in-clear";
	char *body = xasprintf("Subject: %s\r\n\r\n%s\r\n", marker, marker);

	q = queue_in(cfg, "priv");
	snprintf(path, sizeof(path), "%s/data.mdb", cfg->data_directory);
	commit_one(q, "acme", body, strlen(body), QUEUE_QUEUED, &res, 1);
	commit_one(q, "other", body, strlen(body), QUEUE_QUEUED, &res2, 1);
	/* an account that keeps bodies for a day overrides body_retention = 0 */
	memset(&d, 0, sizeof(d));
	/* the account record's owner parses it for the queue (as posternd sets up) */
	queue_set_account_policy_fn(q, account_policy_read, NULL);
	queue_kv_put(q, QUEUE_T_ACCOUNTS, "keeper", "name=keeper\nstatus=active\nbody_retention=1d\n",
	    44, done_cb, &d);
	while (d.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	commit_one(q, "keeper", body, strlen(body), QUEUE_QUEUED, &res3, 1);
	report_wait(q, res3.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	is_int(file_contains(path, marker), 0, "marker not in data.mdb while queued");
	report_wait(q, res.id, 0, QUEUE_RESULT_DELIVERED, &rr);
	memset(&d, 0, sizeof(d));
	queue_purge(q, done_cb, &d);
	while (d.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	buf_init(&b, 0);
	is_int(queue_read_body(q, res.id, &b), -ENOENT, "body purged after body_retention");
	buf_reset(&b);
	is_int(queue_read_body(q, res3.id, &b), 0, "per-account body_retention=1d keeps the body");
	is_int(file_contains(path, marker), 0, "marker not in data.mdb after delivery and purge");
	{
		struct queue_msg *m = NULL;
		ok(queue_get(q, res.id, &m) == 0 && m->state == QUEUE_DELIVERED,
		    "metadata kept until event_retention");
		queue_msg_free(m);
	}
	/* crypto-shredding an account */
	buf_reset(&b);
	is_int(queue_read_body(q, res2.id, &b), 0, "other account's message readable");
	memset(&d, 0, sizeof(d));
	queue_account_shred(q, "other", done_cb, &d);
	while (d.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	buf_reset(&b);
	ok(queue_read_body(q, res2.id, &b) != 0, "after shredding the account key the body is unreadable");
	buf_free(&b);
	close_queue(q);
	config_free(cfg);
	free(body);
}

static void
test_master_key(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	char err[512], path[300];
	FILE *f;

	/* wrong key for an existing queue */
	snprintf(path, sizeof(path), "%s/other.key", tmpdir);
	f = fopen(path, "w");
	fprintf(f, "%064d\n", 7);
	fclose(f);
	chmod(path, 0600);
	free(cfg->master_key_file);
	cfg->master_key_file = xstrdup(path);
	err[0] = '\0';
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q == NULL && strstr(err, "does not match") != NULL,
	    "wrong master key: clear error (%s)", err);
	if (q)
		close_queue(q);
	chmod(path, 0644);
	err[0] = '\0';
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q == NULL && strstr(err, "too open") != NULL, "master key mode 0644 refused (%s)", err);
	if (q)
		close_queue(q);
	snprintf(path, sizeof(path), "%s/new.key", tmpdir);
	free(cfg->master_key_file);
	cfg->master_key_file = xstrdup(path);
	free(cfg->data_directory);
	cfg->data_directory = xasprintf("%s/fresh", tmpdir);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	{
		struct stat st;
		ok(q != NULL && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
		    "master key created 0600 on first start");
	}
	if (q)
		close_queue(q);
	config_free(cfg);
}

static void
test_readonly(void)
{
	struct config *cfg = make_config(NULL);
	struct queue *q;
	struct queue_stats st;
	char err[512];

	q = queue_open_config(NULL, cfg, 1, err, sizeof(err));
	ok(q != NULL, "read-only open without a loop");
	if (q != NULL) {
		is_int(queue_stats(q, &st), 0, "stats read-only");
		ok(st.messages >= NCONC, "read-only sees the committed messages (%llu)",
		    (unsigned long long)st.messages);
		struct commit_res res;
		struct queue_rcpt_in r = { .addr = "x@example.org" };
		struct queue_msg_in m = { .account = "", .sender = "", .rcpts = &r, .nrcpts = 1 };
		is_int(queue_commit(q, &m, commit_cb, &res), -EROFS, "read-only refuses commits");
		queue_close(q);
	}
	config_free(cfg);
}

/* ---- issue 20: ops submitted on another loop's thread ---- */

#define PORT_N 40
struct port_test {
	struct queue *q;
	uv_loop_t other;
	struct queue_port *port;
	uv_thread_t thread;
	int calls, wrong_thread, failed, submitted;
	int finished;			/* atomic: the thread is done */
	unsigned busy_after;
};

static void
port_commit_cb(void *arg, const struct outcome *o, const char *id)
{
	struct port_test *t = arg;
	uv_thread_t self = uv_thread_self();

	(void)id;
	t->calls++;
	if (!uv_thread_equal(&self, &t->thread))
		t->wrong_thread++;
	if (o->kind != OUTCOME_OK)
		t->failed++;
}

static void
port_tick(uv_timer_t *h)
{
	(void)h;
}

static void
port_thread(void *arg)
{
	struct port_test *t = arg;
	struct queue_rcpt_in r = { .addr = "p@example.org" };
	struct queue_msg_in m = { .account = "", .sender = "s@example.org", .rcpts = &r,
	    .nrcpts = 1, .data = "Subject: port\r\n\r\nx\r\n", .len = 20, .state = QUEUE_QUEUED };
	uv_timer_t tick;
	int i;

	t->thread = uv_thread_self();
	queue_port_bind(t->port);
	for (i = 0; i < PORT_N; i++)
		if (queue_commit(t->q, &m, port_commit_cb, t) == 0)
			t->submitted++;
	uv_timer_init(&t->other, &tick);	/* wakes the loop: a wait that fails, ends */
	uv_timer_start(&tick, port_tick, 10, 10);
	for (i = 0; t->calls < t->submitted && i < 3000; i++)	/* at most some 30 s */
		uv_run(&t->other, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	t->busy_after = queue_port_busy(t->port);
	queue_port_close(t->port);
	uv_run(&t->other, UV_RUN_DEFAULT);	/* the port's close */
	__atomic_store_n(&t->finished, 1, __ATOMIC_RELEASE);
}

static void
test_ports(void)
{
	struct config *cfg = make_config(NULL);
	struct port_test t;
	struct commit_res res;
	uv_thread_t tid;
	char err[512];

	memset(&t, 0, sizeof(t));
	t.q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	uv_loop_init(&t.other);
	t.port = queue_port_new(t.q, &t.other);
	uv_thread_create(&tid, port_thread, &t);
	while (!__atomic_load_n(&t.finished, __ATOMIC_ACQUIRE)) {
		uv_run(&loop, UV_RUN_NOWAIT);	/* the writer's done list is drained here */
		usleep(1000);
	}
	uv_thread_join(&tid);
	is_int(t.calls, PORT_N, "commits from another loop's thread: every callback once");
	is_int(t.wrong_thread, 0, "... each on the thread that runs that loop, none on the queue's");
	is_int(t.failed, 0, "... all committed");
	is_int((int)t.busy_after, 0, "the port has nothing in flight after its callbacks");
	ok(uv_loop_close(&t.other) == 0, "the other loop closes: the port's handle is gone");
	ok(commit_one(t.q, "", "Subject: home\r\n\r\nx\r\n", 20, QUEUE_QUEUED, &res, 1) == 0 &&
	    res.calls == 1 && res.o.kind == OUTCOME_OK,
	    "a commit from the queue's own loop still calls back there");
	close_queue(t.q);
	config_free(cfg);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_queue.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	uv_loop_init(&loop);
	plan(102 + 6 + 4 + 8);
	test_ids();
	test_roundtrip();
	test_concurrent();
	test_mapfull();
	test_scheduler();
	test_hold_in_flight();
	test_late_report();
	test_report_sealed();
	test_kv_and_logs();
	test_kv_notify();
	test_privacy();
	test_master_key();
	test_readonly();
	test_ports();
	uv_loop_close(&loop);
	{
		char *cmd = xasprintf("rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("cleanup failed");
		free(cmd);
	}
	return done();
}
