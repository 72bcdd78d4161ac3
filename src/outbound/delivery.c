/* SPDX-License-Identifier: ISC */
/*
 * delivery.c: the delivery engine, queue -> route -> SMTP client ->
 * queue_report(), and DSNs back into the queue (DESIGN.md §8).
 *
 * Flow.  The queue's scheduler calls us when recipients are due; we
 * take due jobs (queue_take_due marks their recipients in flight) and
 * split each message into items, one per destination domain.  A
 * destination resolves its route once (transport table or DNS, see
 * route.c), keeps a FIFO of items and at most smtp_destination_
 * concurrency connections.  A connection tries the route's targets in
 * order until one gives an SMTP session: a connect failure, a greeting
 * other than 220, a refused EHLO or a TLS failure moves to the next MX
 * (RFC 5321 §5.1); when none is left, every queued item of the
 * destination is deferred with the last reason.  An established
 * session takes items from its destination one after the other (RSET
 * between when needed) until the queue is empty, the reuse limit is
 * reached or it has been idle for DL_IDLE_MS; then it QUITs.
 *
 * Results.  Each recipient's outcome goes to queue_report(): 2xx
 * delivered, 4xx and connection trouble deferred (the queue computes
 * the backoff or expires it), 5xx bounced.  One key=value line is
 * logged per recipient and attempt (qid, pseudonymised rcpt, relay,
 * delay, dsn, status, tls, reply).  When all of an item's reports are
 * back, the bounced or expired recipients that want it (NOTIFY) get
 * one RFC 3464 DSN from <> to the sender (never to <>), committed to
 * the queue and delivered like any message.
 *
 * Invariants: nothing here blocks (DNS via dns.c, sockets via libuv;
 * queue_read_body is an LMDB read); an in-flight recipient is always
 * reported once unless the engine stops first, in which case it stays
 * due in the queue and is retried after a restart (at-least-once).
 * Connections are freed in their handles' close callbacks only.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bounce.h"
#include "buf.h"
#include "delivery.h"
#include "dns.h"
#include "log.h"
#include "outcome.h"
#include "queue.h"
#include "route.h"
#include "smtp_client.h"
#include "tls.h"
#include "util.h"

#define DL_TAKE_BATCH 64
#define DL_MAX_ITEMS 20000		/* items held in memory before we stop taking */
#define DL_IDLE_MS 2000			/* keep an idle session this long for more mail */
#define DL_ROUTE_TTL_MS 60000		/* re-resolve a busy destination after this */
#define DL_READ_SIZE 65536

struct dest;
struct conn;

/* One message taken from the queue, shared by its items. */
struct dl_job {
	struct queue_job *job;
	int refs;
	int body_state;			/* 0 not read, 1 read, -1 failed */
	struct buf body;
};

/* The recipients of one message that go to one destination. */
struct dl_item {
	struct delivery *dl;
	struct dl_job *j;
	struct dest *dest;
	size_t n;
	size_t *idx;			/* into j->job->msg->rcpts */
	struct smtp_client_rcpt *crcpts;
	struct outcome *res;
	enum queue_state *newstate;
	size_t reports_pending;
	char relay[400];
	char tls[64];			/* "TLSv1.3" or "" */
	char cid[24];			/* connection that carried it, or "" */
	char host[ROUTE_HOST_MAX];	/* MX host name (Remote-MTA), or "" */
	int server_dsn;			/* the server offered DSN */
	struct smtp_client_msg cmsg;
	struct dl_item *next;
};

struct report_ctx {
	struct dl_item *item;
	size_t i;
};

struct dest {
	struct delivery *dl;
	char domain[ROUTE_HOST_MAX];
	struct dl_item *head, **tail;
	size_t nqueued;
	struct conn *conns;
	int nconns;
	struct route_req *rreq;
	int have_route;
	struct outcome route_o;
	struct route_target *targets;
	size_t ntargets;
	uint64_t route_expires;
	uint64_t rate_window;		/* start of the current minute (mono ms) */
	int64_t rate_count;
	struct dest *next;
};

enum conn_after { AFTER_NOTHING, AFTER_NEXT_TARGET, AFTER_FREE };

struct conn {
	struct delivery *dl;
	struct dest *dest;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	int tcp_inited;
	int timer_inited;
	struct route_target *targets;	/* snapshot of the route */
	size_t ntargets, ti;
	struct smtp_client *client;
	struct tls_conn *tls;
	int tls_hs, tls_up;
	struct dl_item *cur;
	struct outcome last_fail;
	int in_session;
	int idle;
	int closing;
	enum conn_after after;
	struct conn *next;
	char relay[400];
	char id[24];			/* "c" + counter: the log id of the connection */
};

struct delivery {
	uv_loop_t *loop;		/* borrowed */
	struct queue *q;		/* borrowed */
	const struct config *cfg;	/* one reference (config_ref); swapped on reload */
	struct dns *dns;
	struct tls_ctx *tls_ctx;
	char hostname[256];
	struct dest *dests;
	size_t items;			/* items alive */
	size_t nconns;
	size_t pending_reports;
	size_t pending_commits;
	int draining;
	int stopped;			/* delivery_free() ran; waiting for callbacks */
	void (*drained)(void *);
	void *drained_arg;
	uint64_t conn_seq;
	uv_timer_t kick;		/* retries rate-limited destinations */
	struct delivery_stats st;
};

static void dest_run(struct dest *ds);
static void conn_next(struct conn *c);
static void conn_try_target(struct conn *c);
static void dl_pump(struct delivery *dl);
static void dl_maybe_free(struct delivery *dl);
static void dl_check_drained(struct delivery *dl);

/* ---- jobs and items ---- */

static void
job_unref(struct dl_job *j)
{
	if (--j->refs > 0)
		return;
	queue_job_free(j->job);
	buf_free(&j->body);
	free(j);
}

static void
item_free(struct dl_item *it)
{
	struct delivery *dl = it->dl;

	job_unref(it->j);
	free(it->idx);
	free(it->crcpts);
	free(it->res);
	free(it->newstate);
	free(it);
	dl->items--;
}

static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* ---- destinations ---- */

static struct dest *
dest_get(struct delivery *dl, const char *domain)
{
	struct dest *ds;
	size_t i;

	for (ds = dl->dests; ds; ds = ds->next)
		if (strcasecmp(ds->domain, domain) == 0)
			return ds;
	ds = xcalloc(1, sizeof(*ds));
	ds->dl = dl;
	str_copy(ds->domain, domain, sizeof(ds->domain));
	for (i = 0; ds->domain[i]; i++)
		ds->domain[i] = (char)tolower((unsigned char)ds->domain[i]);
	ds->tail = &ds->head;
	ds->next = dl->dests;
	dl->dests = ds;
	return ds;
}

/* Free a destination with nothing left to do. */
static void
dest_gc(struct dest *ds)
{
	struct delivery *dl = ds->dl;
	struct dest **pp;

	if (ds->head || ds->conns || ds->rreq)
		return;
	for (pp = &dl->dests; *pp; pp = &(*pp)->next)
		if (*pp == ds) {
			*pp = ds->next;
			break;
		}
	free(ds->targets);
	free(ds);
}

static void
dest_push(struct dest *ds, struct dl_item *it)
{
	it->next = NULL;
	it->dest = ds;
	*ds->tail = it;
	ds->tail = &it->next;
	ds->nqueued++;
}

static struct dl_item *
dest_pop(struct dest *ds)
{
	struct dl_item *it = ds->head;

	if (it == NULL)
		return NULL;
	ds->head = it->next;
	if (ds->head == NULL)
		ds->tail = &ds->head;
	ds->nqueued--;
	it->next = NULL;
	return it;
}

/* smtp_destination_rate: messages per minute per destination, 0 = no limit. */
static int
dest_rate_ok(struct dest *ds)
{
	const struct config *cfg = ds->dl->cfg;
	uint64_t now = now_mono_ms();

	if (cfg->smtp_destination_rate <= 0)
		return 1;
	if (now - ds->rate_window >= 60000) {
		ds->rate_window = now;
		ds->rate_count = 0;
	}
	/* over the limit: the engine's 1 s kick timer tries again */
	return ds->rate_count < cfg->smtp_destination_rate;
}

/* ---- reporting ---- */

static enum queue_result
result_of(const struct outcome *o)
{
	switch (o->kind) {
	case OUTCOME_OK: return QUEUE_RESULT_DELIVERED;
	case OUTCOME_PERMFAIL: return QUEUE_RESULT_PERMFAIL;
	default: return QUEUE_RESULT_TEMPFAIL;
	}
}

/* A DSN on its way into the queue: queue_commit() borrows all of this
 * until its callback has run. */
struct dsn_commit {
	struct delivery *dl;
	struct buf data;
	char *addr;
	char *account;
	struct queue_rcpt_in rin;
	struct queue_msg_in in;
};

static void
dsn_committed(void *arg, const struct outcome *o, const char *msgid)
{
	struct dsn_commit *dc = arg;
	struct delivery *dl = dc->dl;

	buf_free(&dc->data);
	free(dc->addr);
	free(dc->account);
	free(dc);
	dl->pending_commits--;
	if (o->kind == OUTCOME_OK)
		log_info("qid=%s event=dsn_queued", msgid ? msgid : "-");
	else
		log_warn("qid=- event=dsn_failed reason=\"%s\"", o->enhanced);
	dl_maybe_free(dl);
}

/* Delay after ATTEMPTS failures per retry_schedule (as the queue computes it). */
static uint64_t
retry_delay(const struct config *cfg, uint32_t attempts)
{
	const struct config_list *l = &cfg->retry_schedule;
	size_t i = attempts == 0 ? 0 : attempts - 1;

	if (l->n == 0)
		return 60000;
	if (i >= l->n)
		i = l->n - 1;
	return l->ms[i];
}

/*
 * delay_warning_time: warn once, on the first deferral at or after the
 * threshold.  Stateless: the previous attempt was at next_try minus the
 * delay the schedule gave it; warn when that was before the threshold.
 */
static int
delay_warning_due(const struct config *cfg, const struct queue_msg *m,
    const struct queue_rcpt *r, uint64_t now)
{
	uint64_t threshold, prev;

	if (cfg->delay_warning_time == 0)
		return 0;
	threshold = m->created + cfg->delay_warning_time;
	if (now < threshold)
		return 0;
	if (r->attempts == 0)
		return 1;
	prev = r->next_try - retry_delay(cfg, r->attempts);
	return prev < threshold;
}

/* All reports of IT are back: DSNs for those that want one. */
static void
item_finish(struct dl_item *it)
{
	struct delivery *dl = it->dl;
	const struct queue_msg *m = it->j->job->msg;
	struct bounce_rcpt *br = xcalloc(it->n, sizeof(*br));
	size_t i, nb = 0;

	for (i = 0; i < it->n && !dl->stopped; i++) {
		const struct queue_rcpt *r = &m->rcpts[it->idx[i]];
		const struct outcome *o = &it->res[i];
		enum bounce_action act;

		if (it->newstate[i] == QUEUE_BOUNCED || it->newstate[i] == QUEUE_EXPIRED)
			act = BOUNCE_FAILED;
		else if (it->newstate[i] == QUEUE_DEFERRED &&
		    delay_warning_due(dl->cfg, m, r, now_wall_ms()))
			act = BOUNCE_DELAYED;
		else if (it->newstate[i] == QUEUE_DELIVERED && !it->server_dsn)
			act = BOUNCE_RELAYED;	/* RFC 3461 §6.2.1: the next hop cannot report */
		else
			continue;
		if (!bounce_wanted(r->notify, act))
			continue;
		br[nb].addr = r->addr;
		br[nb].orcpt = r->orcpt;
		br[nb].action = act;
		if (it->newstate[i] == QUEUE_EXPIRED)
			str_copy(br[nb].status, "4.4.7", sizeof(br[nb].status));
		else if (act == BOUNCE_DELAYED && o->kind == OUTCOME_OK)
			str_copy(br[nb].status, "4.0.0", sizeof(br[nb].status));
		else
			str_copy(br[nb].status, o->enhanced[0] ? o->enhanced : "5.0.0",
			    sizeof(br[nb].status));
		br[nb].remote_mta = it->host[0] ? it->host : NULL;	/* RFC 3464 §2.3.5 */
		nb++;
	}
	if (nb > 0 && m->sender && m->sender[0]) {
		struct dsn_commit *dc = xcalloc(1, sizeof(*dc));
		char **diags = xcalloc(nb, sizeof(char *));
		size_t k = 0;

		/* diagnostic texts: "550 5.1.1 text" */
		for (i = 0; i < it->n && k < nb; i++) {
			const struct queue_rcpt *r = &m->rcpts[it->idx[i]];
			if (br[k].addr != r->addr)
				continue;
			if (it->res[i].code)
				diags[k] = xasprintf("%d %s %s", it->res[i].code, it->res[i].enhanced,
				    it->res[i].text);
			br[k].diagnostic = diags[k];
			k++;
		}
		dc->dl = dl;
		buf_init(&dc->data, 0);
		if (it->j->body_state == 0) {
			if (queue_read_body(dl->q, m->id, &it->j->body) == 0)
				it->j->body_state = 1;
			else
				it->j->body_state = -1;
		}
		bounce_build(m, br, nb, it->j->body_state == 1 ? it->j->body.data : NULL,
		    it->j->body.len, dl->hostname, now_wall_ms(), &dc->data);
		dc->addr = xstrdup(m->sender);
		dc->account = xstrdup(m->account ? m->account : "");
		dc->rin.addr = dc->addr;
		dc->rin.notify = QUEUE_NOTIFY_NEVER;	/* a DSN is never reported on */
		dc->in.account = dc->account;
		dc->in.sender = "";			/* from <>: never bounced */
		dc->in.rcpts = &dc->rin;
		dc->in.nrcpts = 1;
		dc->in.data = dc->data.data;
		dc->in.len = dc->data.len;
		dc->in.state = QUEUE_QUEUED;
		dc->in.smtputf8 = m->smtputf8;
		dc->in.client = "dsn";
		if (queue_commit(dl->q, &dc->in, dsn_committed, dc) == 0) {
			dl->pending_commits++;
			dl->st.dsns++;
			log_info("qid=%s event=dsn recipients=%zu action=%s", m->id, nb,
			    br[0].action == BOUNCE_FAILED ? "failed" :
			    br[0].action == BOUNCE_DELAYED ? "delayed" : "relayed");
		} else {
			log_warn("qid=%s event=dsn_failed reason=\"cannot queue\"", m->id);
			buf_free(&dc->data);
			free(dc->addr);
			free(dc->account);
			free(dc);
		}
		for (k = 0; k < nb; k++)
			free(diags[k]);
		free(diags);
	}
	free(br);
	item_free(it);
}

static void
report_done(void *arg, const struct outcome *o, enum queue_state newstate)
{
	struct report_ctx *rc = arg;
	struct dl_item *it = rc->item;
	struct delivery *dl = it->dl;
	const struct queue_msg *m = it->j->job->msg;
	const struct queue_rcpt *r = &m->rcpts[it->idx[rc->i]];
	const struct outcome *res = &it->res[rc->i];
	char who[LOG_ADDR_MAX], reply[600];
	double delay = (double)(now_wall_ms() - m->created) / 1000.0;

	if (o->kind != OUTCOME_OK) {
		/* not recorded: it stays due in the queue and is tried again */
		log_warn("qid=%s event=report_failed rcpt=%s dsn=%s", m->id,
		    log_addr(r->addr, strlen(r->addr), who, sizeof(who)), o->enhanced);
		newstate = QUEUE_DEFERRED;
	}
	it->newstate[rc->i] = newstate;
	if (newstate == QUEUE_DELIVERED)
		dl->st.delivered++;
	else if (newstate == QUEUE_BOUNCED || newstate == QUEUE_EXPIRED)
		dl->st.bounced++;
	else
		dl->st.deferred++;
	log_info("qid=%s event=attempt cid=%s rcpt=%s relay=%s delay=%.2f dsn=%s status=%s tls=%s "
	    "reply=%s", m->id, it->cid[0] ? it->cid : "-", log_addr(r->addr, strlen(r->addr), who, sizeof(who)),
	    it->relay[0] ? it->relay : "none", delay, res->enhanced,
	    queue_strstate(newstate), it->tls[0] ? it->tls : "none",
	    log_quote(res->text, strlen(res->text), reply, sizeof(reply)));
	free(rc);
	dl->pending_reports--;
	if (--it->reports_pending == 0)
		item_finish(it);
	dl_maybe_free(dl);
	if (!dl->stopped && !dl->draining && dl->items < DL_MAX_ITEMS / 2)
		dl_pump(dl);
}

/* Send every recipient's result of IT to the queue. */
static void
item_report(struct dl_item *it)
{
	struct delivery *dl = it->dl;
	const struct queue_msg *m = it->j->job->msg;
	size_t i, n = it->n;

	it->reports_pending = n;
	for (i = 0; i < n; i++) {
		struct report_ctx *rc = xcalloc(1, sizeof(*rc));
		struct outcome o = it->res[i];

		rc->item = it;
		rc->i = i;
		if (it->tls[0] && o.kind == OUTCOME_OK) {
			/* record how it travelled in the event (the reply text is kept) */
			char t[sizeof(o.text) + sizeof(it->tls) + 4];
			snprintf(t, sizeof(t), "%s (%s)", o.text, it->tls);
			str_copy(o.text, t, sizeof(o.text));
		}
		dl->pending_reports++;
		if (queue_report(dl->q, m->id, m->rcpts[it->idx[i]].no, result_of(&it->res[i]),
		    &o, it->relay[0] ? it->relay : NULL, report_done, rc) != 0) {
			struct outcome f;
			outcome_set(&f, OUTCOME_TEMPFAIL, 451, "4.3.0", "queue refused the report");
			report_done(rc, &f, QUEUE_DEFERRED);
		}
	}
}

/* Every recipient of IT gets O (no connection involved). */
static void
item_fail_all(struct dl_item *it, const struct outcome *o)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		it->res[i] = *o;
	item_report(it);
}

/* ---- connections ---- */

struct wreq {
	uv_write_t req;
	char data[];
};

static void
write_done(uv_write_t *req, int status)
{
	free(req);
}

static void
conn_write(struct conn *c, const char *data, size_t len)
{
	struct wreq *w;
	uv_buf_t b;

	if (c->closing || len == 0)
		return;
	w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, data, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0)
		free(w);
}

static void
conn_flush_tls(struct conn *c)
{
	struct buf out;

	buf_init(&out, 0);
	if (tls_take_output(c->tls, &out) == 0 && out.len)
		conn_write(c, out.data, out.len);
	buf_free(&out);
}

static void conn_arm_timer(struct conn *c);

/* Free the session state; only from close callbacks (the client may be
 * on the stack when the connection is told to close). */
static void
conn_release_session(struct conn *c)
{
	if (c->tls) {
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	c->tls_hs = c->tls_up = 0;
	if (c->client) {
		smtp_client_free(c->client);
		c->client = NULL;
	}
	c->idle = 0;
}

static void
handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct delivery *dl = c->dl;

	if (h == (uv_handle_t *)&c->tcp) {
		c->tcp_inited = 0;
		conn_release_session(c);
	} else {
		c->timer_inited = 0;
	}
	if (c->after == AFTER_NEXT_TARGET) {
		if (!c->tcp_inited) {
			c->closing = 0;
			c->after = AFTER_NOTHING;
			conn_try_target(c);
		}
		return;
	}
	if (c->tcp_inited || c->timer_inited)
		return;
	conn_release_session(c);
	if (c->cur) {
		item_free(c->cur);	/* unreported: stays due in the queue */
		c->cur = NULL;
	}
	free(c->targets);
	free(c);
	dl->nconns--;
	dl_check_drained(dl);
	dl_maybe_free(dl);
}

/* Tear the socket down; AFTER says what happens once it is closed. */
static void
conn_close(struct conn *c, enum conn_after after)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->after = after;
	if (c->tcp_inited)
		uv_close((uv_handle_t *)&c->tcp, handle_closed);
	if (c->timer_inited) {
		uv_timer_stop(&c->timer);
		if (after == AFTER_FREE)
			uv_close((uv_handle_t *)&c->timer, handle_closed);
	}
	if (!c->tcp_inited && !(after == AFTER_FREE && c->timer_inited)) {
		/* nothing to wait for */
		if (after == AFTER_NEXT_TARGET) {
			c->closing = 0;
			c->after = AFTER_NOTHING;
			conn_try_target(c);
		}
	}
}

/* Unlink C from its destination (it is going away). */
static void
conn_detach(struct conn *c)
{
	struct dest *ds = c->dest;
	struct conn **pp;

	if (ds == NULL)
		return;
	for (pp = &ds->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ds->nconns--;
	c->dest = NULL;
}

/* No target gave a session: defer the destination's waiting items, unless
 * another connection is still working for it. */
static void
conn_give_up(struct conn *c)
{
	struct dest *ds = c->dest;
	struct outcome o = c->last_fail;
	struct conn *other;
	int alive = 0;

	conn_detach(c);
	conn_close(c, AFTER_FREE);
	if (ds == NULL)
		return;
	for (other = ds->conns; other; other = other->next)
		alive |= other->in_session;
	/* Nobody is talking to this destination: it is down for now.  Defer
	 * what waits (connections still trying will find nothing to do). */
	if (!alive) {
		struct dl_item *it;

		if (o.code == 0)
			outcome_set(&o, OUTCOME_TEMPFAIL, 451, "4.4.1", "no mail server reachable");
		/* RFC 5321 §4.5.4.1: a server we could not talk to is a reason to retry */
		if (o.kind != OUTCOME_TEMPFAIL)
			outcome_set(&o, OUTCOME_TEMPFAIL, 451, "4.4.1", "%s", o.text);
		while ((it = dest_pop(ds)) != NULL) {
			str_copy(it->relay, c->relay, sizeof(it->relay));
			item_fail_all(it, &o);
		}
	}
	dest_run(ds);
	dest_gc(ds);
}

static void
timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->closing)
		return;
	if (c->client == NULL) {
		/* connect timeout */
		outcome_set(&c->last_fail, OUTCOME_TEMPFAIL, 451, "4.4.1",
		    "connect to %s: timed out", c->relay);
		log_info("cid=%s event=connect_failed relay=%s reason=timeout", c->id, c->relay);
		c->ti++;
		if (c->ti < c->ntargets)
			conn_close(c, AFTER_NEXT_TARGET);
		else
			conn_give_up(c);
		return;
	}
	if (c->idle) {
		c->idle = 0;
		smtp_client_quit(c->client);
		conn_arm_timer(c);
		return;
	}
	smtp_client_timeout(c->client);
}

static void
conn_arm_timer(struct conn *c)
{
	uint64_t ms;

	if (c->closing || !c->timer_inited || c->client == NULL)
		return;
	ms = smtp_client_timeout_ms(c->client);
	if (ms == 0 && c->idle)
		ms = DL_IDLE_MS;
	if (ms == 0) {
		uv_timer_stop(&c->timer);
		return;
	}
	uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* ---- SMTP client callbacks ---- */

static void
op_send(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;

	if (c->tls && c->tls_up) {
		tls_write(c->tls, data, len);
		conn_flush_tls(c);
	} else {
		conn_write(c, data, len);
	}
}

static void
op_starttls(void *arg)
{
	struct conn *c = arg;
	struct route_target *t = &c->targets[c->ti];
	struct buf plain;

	if (c->dl->tls_ctx == NULL) {
		smtp_client_tls_done(c->client, 0, 0, "no TLS client context");
		return;
	}
	c->tls = tls_conn_new(c->dl->tls_ctx, 0, t->host, 0);
	if (c->tls == NULL) {
		smtp_client_tls_done(c->client, 0, 0, "cannot start TLS");
		return;
	}
	c->tls_hs = 1;
	buf_init(&plain, 0);
	if (tls_read(c->tls, &plain) == -1) {
		conn_flush_tls(c);
		smtp_client_tls_done(c->client, 0, 0, tls_error(c->tls));
	} else {
		conn_flush_tls(c);
	}
	buf_free(&plain);
}

static void
op_ready(void *arg)
{
	struct conn *c = arg;

	c->in_session = 1;
	c->dl->st.sessions++;
	log_info("cid=%s event=session relay=%s tls=%s", c->id, c->relay,
	    c->tls_up ? tls_version(c->tls) : "none");
	conn_next(c);
}

static void
op_rcpt_done(void *arg, size_t i, const struct outcome *o)
{
	struct conn *c = arg;

	if (c->cur && i < c->cur->n)
		c->cur->res[i] = *o;
}

static void
op_msg_done(void *arg)
{
	struct conn *c = arg;
	struct dl_item *it = c->cur;

	c->cur = NULL;
	if (it) {
		const struct smtp_ehlo *e = smtp_client_ehlo(c->client);
		it->server_dsn = (e->ext & SMTP_EXT_DSN) != 0;
		item_report(it);
	}
	if (smtp_client_state(c->client) == SMTPC_READY)
		conn_next(c);
}

static void
op_closed(void *arg, const struct outcome *o, int in_session)
{
	struct conn *c = arg;

	if (c->cur) {
		/* the client reported the message already; nothing left here */
		c->cur = NULL;
	}
	if (!in_session && o->kind != OUTCOME_OK) {
		char t[sizeof(c->relay) + sizeof(o->text) + 4];

		snprintf(t, sizeof(t), "%s: %s", c->relay, o->text);
		c->last_fail = *o;
		str_copy(c->last_fail.text, t, sizeof(c->last_fail.text));
		char q[sizeof(o->text) * 4];

		log_info("cid=%s event=session_failed relay=%s dsn=%s reason=%s", c->id, c->relay,
		    o->enhanced, log_quote(o->text, strlen(o->text), q, sizeof(q)));
		c->ti++;
		if (c->ti < c->ntargets) {
			conn_close(c, AFTER_NEXT_TARGET);
			return;
		}
		conn_give_up(c);
		return;
	}
	{
		struct dest *ds = c->dest;

		conn_detach(c);
		conn_close(c, AFTER_FREE);
		if (ds) {
			dest_run(ds);
			dest_gc(ds);
		}
	}
}

static const struct smtp_client_ops client_ops = {
	op_send, op_starttls, op_ready, op_rcpt_done, op_msg_done, op_closed,
};

/* ---- reading ---- */

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = xmalloc(DL_READ_SIZE);
	b->len = DL_READ_SIZE;
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (c->closing || c->client == NULL) {
		free(b->base);
		return;
	}
	if (nread < 0) {
		free(b->base);
		if (c->tls_hs)
			smtp_client_tls_done(c->client, 0, 0, "connection closed during the handshake");
		else
			smtp_client_eof(c->client, nread == UV_EOF ? NULL : uv_strerror((int)nread));
		return;
	}
	if (nread == 0) {
		free(b->base);
		return;
	}
	if (c->tls) {
		struct buf plain;
		int rc;

		buf_init(&plain, 0);
		tls_feed(c->tls, b->base, (size_t)nread);
		free(b->base);
		rc = tls_read(c->tls, &plain);
		conn_flush_tls(c);
		if (rc == -1) {
			const char *why = tls_error(c->tls);
			if (c->tls_hs) {
				c->tls_hs = 0;
				smtp_client_tls_done(c->client, 0, 0, why);
			} else {
				smtp_client_eof(c->client, why);
			}
			buf_free(&plain);
			return;
		}
		if (c->tls_hs && tls_handshake_done(c->tls)) {
			c->tls_hs = 0;
			c->tls_up = 1;
			smtp_client_tls_done(c->client, 1, tls_peer_verified(c->tls),
			    tls_peer_verified(c->tls) ? NULL : tls_error(c->tls));
		}
		if (!c->closing && c->client && plain.len)
			smtp_client_feed(c->client, plain.data, plain.len);
		buf_free(&plain);
	} else {
		smtp_client_feed(c->client, b->base, (size_t)nread);
		free(b->base);
	}
	conn_arm_timer(c);
}

static void
connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct delivery *dl = c->dl;
	struct smtp_client_params p;
	enum route_tls pol;

	if (c->closing)
		return;
	if (status < 0) {
		outcome_set(&c->last_fail, OUTCOME_TEMPFAIL, 451, "4.4.1", "connect to %s: %s",
		    c->relay, uv_strerror(status));
		log_info("cid=%s event=connect_failed relay=%s reason=\"%s\"", c->id, c->relay,
		    uv_strerror(status));
		c->ti++;
		if (c->ti < c->ntargets)
			conn_close(c, AFTER_NEXT_TARGET);
		else
			conn_give_up(c);
		return;
	}
	dl->st.connections++;
	memset(&p, 0, sizeof(p));
	p.id = c->id;
	p.helo_name = dl->cfg->smtp_helo_name && dl->cfg->smtp_helo_name[0] ?
	    dl->cfg->smtp_helo_name : dl->hostname;
	pol = route_tls_policy(dl->cfg, c->dest->domain);
	p.tls = pol == ROUTE_TLS_NONE ? SMTP_CLIENT_TLS_NONE :
	    pol == ROUTE_TLS_ENCRYPT ? SMTP_CLIENT_TLS_ENCRYPT :
	    pol == ROUTE_TLS_VERIFY ? SMTP_CLIENT_TLS_VERIFY : SMTP_CLIENT_TLS_MAY;
	p.helo_timeout = dl->cfg->smtp_helo_timeout;
	p.command_timeout = dl->cfg->smtp_command_timeout;
	p.data_timeout = dl->cfg->smtp_data_timeout;
	c->client = smtp_client_new(&p, &client_ops, c);
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	conn_arm_timer(c);
}

/* Bind to smtp_bind_address of the right family, if configured. */
static void
conn_bind(struct conn *c, int family)
{
	const struct config_list *l = &c->dl->cfg->smtp_bind_address;
	size_t i;

	for (i = 0; i < l->n; i++) {
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof(ss));
		if (family == AF_INET && uv_ip4_addr(l->items[i], 0, (struct sockaddr_in *)&ss) == 0) {
			uv_tcp_bind(&c->tcp, (struct sockaddr *)&ss, 0);
			return;
		}
		if (family == AF_INET6 && uv_ip6_addr(l->items[i], 0, (struct sockaddr_in6 *)&ss) == 0) {
			uv_tcp_bind(&c->tcp, (struct sockaddr *)&ss, 0);
			return;
		}
	}
}

static void
conn_try_target(struct conn *c)
{
	struct route_target *t;
	struct sockaddr_storage ss;
	int rc;

	if (c->ti >= c->ntargets) {
		conn_give_up(c);
		return;
	}
	t = &c->targets[c->ti];
	if (t->family == AF_INET6)
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", t->host, t->addr, t->port);
	else
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", t->host, t->addr, t->port);
	memset(&ss, 0, sizeof(ss));
	if (t->family == AF_INET6)
		rc = uv_ip6_addr(t->addr, t->port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(t->addr, t->port, (struct sockaddr_in *)&ss);
	c->in_session = 0;
	if (rc != 0 || uv_tcp_init(c->dl->loop, &c->tcp) != 0) {
		outcome_set(&c->last_fail, OUTCOME_TEMPFAIL, 451, "4.4.1", "bad address %s", t->addr);
		c->ti++;
		conn_try_target(c);
		return;
	}
	c->tcp_inited = 1;
	c->tcp.data = c;
	conn_bind(c, t->family);
	c->creq.data = c;
	if ((rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&ss, connect_cb)) != 0) {
		outcome_set(&c->last_fail, OUTCOME_TEMPFAIL, 451, "4.4.1", "connect to %s: %s",
		    c->relay, uv_strerror(rc));
		c->ti++;
		conn_close(c, AFTER_NEXT_TARGET);
		return;
	}
	uv_timer_start(&c->timer, timer_cb, c->dl->cfg->smtp_connect_timeout, 0);
}

/*
 * Each connection shuffles the hosts of equal preference again (RFC 5321
 * §5.1), so parallel connections spread over them; a host's addresses
 * stay together and in their order.
 */
static void
targets_shuffle(struct route_target *t, size_t n)
{
	size_t start = 0, i, j;

	while (start < n) {
		size_t end = start;
		while (end < n && t[end].pref == t[start].pref)
			end++;
		/* Fisher-Yates over runs of one host: pick a random host, move its block first */
		for (i = start; i < end;) {
			size_t hosts = 0, pick, k = i, blen;
			struct route_target tmp;

			for (j = i; j < end; j++)
				if (j == i || strcmp(t[j].host, t[j - 1].host) != 0)
					hosts++;
			pick = (size_t)random() % hosts;
			for (j = i, hosts = 0; j < end; j++)
				if (j == i || strcmp(t[j].host, t[j - 1].host) != 0) {
					if (hosts++ == pick) {
						k = j;
						break;
					}
				}
			for (blen = 1; k + blen < end && strcmp(t[k + blen].host, t[k].host) == 0; blen++)
				;
			/* rotate [i, k + blen) so that block [k, k + blen) comes first */
			while (k > i) {
				size_t b;
				for (b = 0; b < blen; b++) {
					tmp = t[k + b - 1];
					t[k + b - 1] = t[k + b];
					t[k + b] = tmp;
				}
				k--;
			}
			i += blen;
		}
		start = end;
	}
}

static void
conn_open(struct dest *ds)
{
	struct delivery *dl = ds->dl;
	struct conn *c = xcalloc(1, sizeof(*c));

	c->dl = dl;
	c->dest = ds;
	snprintf(c->id, sizeof(c->id), "c%llu", (unsigned long long)++dl->conn_seq);
	c->targets = xcalloc(ds->ntargets, sizeof(*c->targets));
	memcpy(c->targets, ds->targets, ds->ntargets * sizeof(*c->targets));
	c->ntargets = ds->ntargets;
	targets_shuffle(c->targets, c->ntargets);
	uv_timer_init(dl->loop, &c->timer);
	c->timer.data = c;
	c->timer_inited = 1;
	c->next = ds->conns;
	ds->conns = c;
	ds->nconns++;
	dl->nconns++;
	conn_try_target(c);
}

/* Load the body of IT's message once; -1 when it cannot be read. */
static int
job_body(struct delivery *dl, struct dl_job *j, struct outcome *fail)
{
	int rc;

	if (j->body_state == 1)
		return 0;
	if (j->body_state == 0) {
		rc = queue_read_body(dl->q, j->job->msg->id, &j->body);
		j->body_state = rc == 0 ? 1 : -1;
		if (rc != 0)
			log_warn("qid=%s event=body_unreadable error=\"%s\"", j->job->msg->id,
			    strerror(-rc));
	}
	if (j->body_state == 1)
		return 0;
	outcome_set(fail, OUTCOME_TEMPFAIL, 451, "4.3.0", "message body cannot be read");
	return -1;
}

/* An established session takes the next item of its destination, or idles / quits. */
static void
conn_next(struct conn *c)
{
	struct delivery *dl = c->dl;
	struct dest *ds = c->dest;

	while (!c->closing && c->client && smtp_client_state(c->client) == SMTPC_READY) {
		struct dl_item *it;
		struct outcome fail;
		const struct queue_msg *m;

		c->idle = 0;
		if (dl->draining || ds == NULL ||
		    smtp_client_msgs(c->client) >= (unsigned)dl->cfg->smtp_connection_reuse_limit) {
			smtp_client_quit(c->client);
			break;
		}
		if (ds->head == NULL || !dest_rate_ok(ds)) {
			c->idle = 1;
			break;
		}
		it = dest_pop(ds);
		str_copy(it->relay, c->relay, sizeof(it->relay));
		str_copy(it->cid, c->id, sizeof(it->cid));
		str_copy(it->host, c->targets[c->ti].host, sizeof(it->host));
		it->tls[0] = '\0';
		if (c->tls_up)
			str_copy(it->tls, tls_version(c->tls), sizeof(it->tls));
		if (job_body(dl, it->j, &fail) == -1) {
			item_fail_all(it, &fail);
			continue;
		}
		m = it->j->job->msg;
		memset(&it->cmsg, 0, sizeof(it->cmsg));
		it->cmsg.sender = m->sender ? m->sender : "";
		it->cmsg.rcpts = it->crcpts;
		it->cmsg.nrcpts = it->n;
		it->cmsg.data = it->j->body.data ? it->j->body.data : "";
		it->cmsg.len = it->j->body.len;
		it->cmsg.smtputf8 = m->smtputf8;
		it->cmsg.eightbit = m->eightbit;
		it->cmsg.envid = m->envid;
		it->cmsg.ret_full = m->ret_full;
		c->cur = it;
		ds->rate_count++;
		dl->st.messages++;
		if (smtp_client_send_msg(c->client, &it->cmsg, &fail) == -1) {
			c->cur = NULL;
			item_fail_all(it, &fail);
			continue;
		}
		break;
	}
	conn_arm_timer(c);
}

/* ---- destination scheduling ---- */

static void
route_done(void *arg, const struct route_result *r)
{
	struct dest *ds = arg;

	ds->rreq = NULL;
	ds->route_o = r->o;
	free(ds->targets);
	ds->targets = NULL;
	ds->ntargets = 0;
	if (r->o.kind == OUTCOME_OK && r->n > 0) {
		ds->targets = xcalloc(r->n, sizeof(*ds->targets));
		memcpy(ds->targets, r->t, r->n * sizeof(*r->t));
		ds->ntargets = r->n;
	}
	ds->have_route = 1;
	ds->route_expires = now_mono_ms() + DL_ROUTE_TTL_MS;
	dest_run(ds);
	dest_gc(ds);
}

/* Match waiting items with connections: hand them to idle sessions, open
 * new connections up to the concurrency limit, or fail them per route. */
static void
dest_run(struct dest *ds)
{
	struct delivery *dl = ds->dl;
	struct conn *c;
	size_t idle = 0, connecting = 0;

	if (dl->stopped || ds->head == NULL)
		return;
	if (ds->rreq)
		return;
	if (!ds->have_route || (ds->route_expires < now_mono_ms() && ds->nconns == 0)) {
		ds->have_route = 0;
		ds->rreq = route_resolve(dl->dns, dl->cfg, ds->domain, route_done, ds);
		return;
	}
	if (ds->route_o.kind != OUTCOME_OK) {
		struct dl_item *it;

		while ((it = dest_pop(ds)) != NULL)
			item_fail_all(it, &ds->route_o);
		ds->have_route = 0;	/* ask again next time */
		return;
	}
	for (c = ds->conns; c; c = c->next) {
		if (c->idle && c->client && smtp_client_state(c->client) == SMTPC_READY) {
			conn_next(c);
			idle++;
		} else if (!c->in_session) {
			connecting++;
		}
	}
	if (dl->draining || !dest_rate_ok(ds))
		return;	/* rate-limited: the 1 s kick comes back; no idle connections meanwhile */
	while (ds->head && ds->nconns < dl->cfg->smtp_destination_concurrency &&
	    connecting < ds->nqueued) {
		conn_open(ds);
		connecting++;
	}
}

static void
kick_cb(uv_timer_t *t)
{
	struct delivery *dl = t->data;
	struct dest *ds, *next;

	for (ds = dl->dests; ds; ds = next) {
		next = ds->next;
		dest_run(ds);
	}
}

/* ---- taking work from the queue ---- */

static void
take_job(struct delivery *dl, struct queue_job *job)
{
	struct dl_job *j = xcalloc(1, sizeof(*j));
	struct queue_msg *m = job->msg;
	struct dest *touched[64];
	size_t i, k, ntouched = 0;
	char *done = xcalloc(m->nrcpts ? m->nrcpts : 1, 1);

	j->job = job;
	j->refs = 1;
	buf_init(&j->body, 0);
	for (i = 0; i < m->nrcpts; i++) {
		const char *dom;
		struct dl_item *it;
		struct dest *ds;

		if (done[i])
			continue;
		dom = rcpt_domain(m->rcpts[i].addr);
		it = xcalloc(1, sizeof(*it));
		it->dl = dl;
		it->j = j;
		j->refs++;
		dl->items++;
		for (k = i; k < m->nrcpts; k++) {
			if (done[k] || strcasecmp(rcpt_domain(m->rcpts[k].addr), dom) != 0)
				continue;
			done[k] = 1;
			it->idx = xrealloc(it->idx, (it->n + 1) * sizeof(*it->idx));
			it->idx[it->n++] = k;
		}
		it->crcpts = xcalloc(it->n, sizeof(*it->crcpts));
		it->res = xcalloc(it->n, sizeof(*it->res));
		it->newstate = xcalloc(it->n, sizeof(*it->newstate));
		for (k = 0; k < it->n; k++) {
			const struct queue_rcpt *r = &m->rcpts[it->idx[k]];
			it->crcpts[k].addr = r->addr;
			it->crcpts[k].orcpt = r->orcpt;
			it->crcpts[k].notify = r->notify;
		}
		if (dom[0] == '\0') {
			struct outcome o;
			outcome_set(&o, OUTCOME_PERMFAIL, 553, "5.1.3", "recipient address has no domain");
			item_fail_all(it, &o);
			continue;
		}
		ds = dest_get(dl, dom);
		dest_push(ds, it);
		for (k = 0; k < ntouched && touched[k] != ds; k++)
			;
		if (k == ntouched && ntouched < ARRAY_SIZE(touched))
			touched[ntouched++] = ds;
		else if (k == ntouched)
			dest_run(ds);
	}
	free(done);
	job_unref(j);
	for (k = 0; k < ntouched; k++)
		dest_run(touched[k]);
}

static void
dl_pump(struct delivery *dl)
{
	struct queue_job *jobs[DL_TAKE_BATCH];
	size_t n, i;

	if (dl->draining || dl->stopped || !dl->cfg->delivery_enabled)
		return;
	while (dl->items < DL_MAX_ITEMS) {
		n = queue_take_due(dl->q, jobs, DL_TAKE_BATCH);
		for (i = 0; i < n; i++)
			take_job(dl, jobs[i]);
		if (n < DL_TAKE_BATCH)
			break;
	}
}

static void
due_cb(void *arg)
{
	dl_pump(arg);
}

/* ---- life cycle ---- */

static void
hostname_of(const struct config *cfg, char *out, size_t outlen)
{
	if (cfg->hostname && cfg->hostname[0]) {
		str_copy(out, cfg->hostname, outlen);
		return;
	}
	if (gethostname(out, outlen) != 0 || out[0] == '\0')
		str_copy(out, "localhost", outlen);
	out[outlen - 1] = '\0';
}

static struct tls_ctx *
client_ctx(const struct config *cfg, char *err, size_t errlen)
{
	return tls_client_ctx_new(cfg->smtp_tls_ca_file && cfg->smtp_tls_ca_file[0] ?
	    cfg->smtp_tls_ca_file : NULL, err, errlen);
}

struct delivery *
delivery_new(uv_loop_t *loop, struct queue *q, const struct config *cfg,
    char *err, size_t errlen)
{
	struct delivery *dl;
	char why[256];

	if (route_transport_check(&cfg->transport, why, sizeof(why)) == -1 ||
	    route_tls_map_check(&cfg->smtp_tls_policy_map, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s", why);
		return NULL;
	}
	dl = xcalloc(1, sizeof(*dl));
	dl->loop = loop;
	dl->q = q;
	dl->cfg = config_ref(cfg);
	hostname_of(cfg, dl->hostname, sizeof(dl->hostname));
	dl->dns = dns_open(loop, &cfg->dns_servers, err, errlen);
	if (dl->dns == NULL) {
		free(dl);
		return NULL;
	}
	dl->tls_ctx = client_ctx(cfg, why, sizeof(why));
	if (dl->tls_ctx == NULL)
		log_warn("event=tls_client_unavailable error=\"%s\"", why);
	uv_timer_init(loop, &dl->kick);
	dl->kick.data = dl;
	uv_timer_start(&dl->kick, kick_cb, 1000, 1000);
	queue_set_due_callback(q, due_cb, dl);
	return dl;
}

int
delivery_reload(struct delivery *dl, const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx;
	char why[256];

	if (route_transport_check(&cfg->transport, why, sizeof(why)) == -1 ||
	    route_tls_map_check(&cfg->smtp_tls_policy_map, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s (delivery keeps the old tables until fixed)", why);
		return -1;
	}
	config_ref(cfg);
	config_unref(dl->cfg);
	dl->cfg = cfg;
	hostname_of(cfg, dl->hostname, sizeof(dl->hostname));
	if ((ctx = client_ctx(cfg, why, sizeof(why))) != NULL) {
		tls_ctx_free(dl->tls_ctx);
		dl->tls_ctx = ctx;
	}
	dl_pump(dl);	/* delivery_enabled may have been switched on */
	return 0;
}

static void
dl_check_drained(struct delivery *dl)
{
	if (dl->draining && dl->drained && dl->nconns == 0) {
		void (*cb)(void *) = dl->drained;
		dl->drained = NULL;
		cb(dl->drained_arg);
	}
}

int
delivery_drain(struct delivery *dl, void (*done)(void *arg), void *arg)
{
	struct dest *ds;
	struct conn *c;

	dl->draining = 1;
	for (ds = dl->dests; ds; ds = ds->next)
		for (c = ds->conns; c; c = c->next)
			if (c->client && smtp_client_state(c->client) == SMTPC_READY)
				conn_next(c);	/* idle sessions QUIT now */
	if (dl->nconns == 0)
		return 0;
	dl->drained = done;
	dl->drained_arg = arg;
	return 1;
}

static void
kick_closed(uv_handle_t *h)
{
	struct delivery *dl = h->data;

	dl->kick.data = NULL;
	dl_maybe_free(dl);
}

/* Free DL once it is stopped and no callback can reach it any more. */
static void
dl_maybe_free(struct delivery *dl)
{
	if (!dl->stopped || dl->nconns || dl->pending_reports || dl->pending_commits ||
	    dl->kick.data != NULL)
		return;
	config_unref(dl->cfg);
	free(dl);
}

void
delivery_free(struct delivery *dl)
{
	struct dest *ds;

	if (dl == NULL)
		return;
	dl->stopped = 1;
	dl->draining = 1;
	queue_set_due_callback(dl->q, NULL, NULL);
	for (ds = dl->dests; ds; ds = ds->next) {
		struct conn *c, *next;
		struct dl_item *it;

		if (ds->rreq)
			route_cancel(ds->rreq);
		ds->rreq = NULL;
		for (c = ds->conns; c; c = next) {
			next = c->next;
			c->dest = NULL;
			if (c->closing) {
				c->after = AFTER_FREE;
				if (c->timer_inited && !uv_is_closing((uv_handle_t *)&c->timer))
					uv_close((uv_handle_t *)&c->timer, handle_closed);
			} else {
				conn_close(c, AFTER_FREE);
			}
		}
		ds->conns = NULL;
		while ((it = dest_pop(ds)) != NULL)
			item_free(it);
	}
	while ((ds = dl->dests) != NULL) {
		dl->dests = ds->next;
		free(ds->targets);
		free(ds);
	}
	dns_close(dl->dns);
	dl->dns = NULL;
	tls_ctx_free(dl->tls_ctx);
	dl->tls_ctx = NULL;
	uv_timer_stop(&dl->kick);
	uv_close((uv_handle_t *)&dl->kick, kick_closed);
}

void
delivery_get_stats(const struct delivery *dl, struct delivery_stats *st)
{
	*st = dl->st;
}
