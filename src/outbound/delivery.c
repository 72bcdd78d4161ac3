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
 * reached or it has been idle for DL_IDLE_MS; then it QUITs.  The
 * connection side (route target -> connect -> TLS -> SMTP client, MX
 * fail-over) is connection.c; this file is the engine: taking work,
 * grouping by destination, scheduling destinations, recording results
 * and DSNs.  Shared state is in outbound_int.h.
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
 * Triggers (issue 16).  Every delivered or hard-bounced recipient of a
 * customer's message (not of our DSNs) is counted in that account's
 * sliding window (src/account/abuse.c); when the bounce rate calls for
 * under_review or paused and the account is not there yet (nor
 * suspended), the account record gets the new status together with an
 * account_status event in one transaction, and a log line.  A trigger
 * never lowers a status: only a reviewer's resume does.
 *
 * Invariants: nothing here blocks (DNS via dns.c, sockets via libuv;
 * queue_read_body is an LMDB read); an in-flight recipient is always
 * reported once unless the engine stops first, in which case it stays
 * due in the queue and is retried after a restart (at-least-once).
 * Connections are freed in their handles' close callbacks only.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "bounce.h"
#include "buf.h"
#include "crypto.h"
#include "delivery.h"
#include "dns.h"
#include "hash.h"
#include "log.h"
#include "outbound_int.h"
#include "outcome.h"
#include "queue.h"
#include "route.h"
#include "smtp_client.h"
#include "suppress.h"
#include "token.h"
#include "tls.h"
#include "util.h"

static void stats_classes(struct dl_engine *dl);

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

void
dl_item_free(struct dl_item *it)
{
	struct dl_engine *dl = it->dl;

	job_unref(it->j);
	free(it->idx);
	free(it->crcpts);
	free(it->res);
	free(it->newstate);
	free(it);
	__atomic_sub_fetch(&dl->items, 1, __ATOMIC_RELAXED);
}

static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* ---- destinations ---- */

static struct dest *
dest_get(struct dl_engine *dl, const char *domain)
{
	char lower[ROUTE_HOST_MAX];
	struct dest *ds;
	size_t i;

	str_copy(lower, domain, sizeof(lower));
	for (i = 0; lower[i]; i++)
		lower[i] = (char)tolower((unsigned char)lower[i]);
	if ((ds = hash_gets(dl->dest_index, lower)) != NULL)
		return ds;
	ds = xcalloc(1, sizeof(*ds));
	ds->dl = dl;
	str_copy(ds->domain, lower, sizeof(ds->domain));
	ds->tail = &ds->head;
	ds->next = dl->dests;
	dl->dests = ds;
	hash_puts(dl->dest_index, ds->domain, ds);
	return ds;
}

/* Free a destination with nothing left to do. */
void
dest_gc(struct dest *ds)
{
	struct dl_engine *dl = ds->dl;
	struct dest **pp;

	if (ds->head || ds->conns || ds->rreq)
		return;
	for (pp = &dl->dests; *pp; pp = &(*pp)->next)
		if (*pp == ds) {
			*pp = ds->next;
			break;
		}
	hash_dels(dl->dest_index, ds->domain);
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

struct dl_item *
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

/* smtp_destination_rate: messages per minute per destination, 0 = no
 * limit; TAKE counts the message about to go.  With several delivery
 * loops the count is the loops' one (loops.c): a domain is on one
 * engine while a rate is set, but a reload that sets one finds its mail
 * on several. */
int
dest_rate_ok(struct dest *ds, int take)
{
	const struct delivery_params *p = &ds->dl->p;
	uint64_t now = now_mono_ms();

	if (p->rate <= 0)
		return 1;
	if (ds->dl->set != NULL && ds->dl->set->n > 1)
		return dl_dest_rate(ds->dl, ds->domain, p->rate, take);
	if (now - ds->rate_window >= 60000) {
		ds->rate_window = now;
		ds->rate_count = 0;
	}
	/* over the limit: the engine's 1 s kick timer tries again */
	if (ds->rate_count >= p->rate)
		return 0;
	if (take)
		ds->rate_count++;
	return 1;
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
	struct dl_engine *dl;
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
	struct dl_engine *dl = dc->dl;

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

/*
 * delay_warning_time: warn once, on the first deferral at or after the
 * threshold.  R is the recipient as taken from the queue before this
 * attempt, so R->last_attempt is the previous attempt (recorded by the
 * queue): warn when that was before the threshold.  The backoff is the
 * queue's alone; nothing here recomputes it.
 */
static int
delay_warning_due(const struct delivery_params *p, const struct queue_msg *m,
    const struct queue_rcpt *r, uint64_t now)
{
	uint64_t threshold;

	if (p->delay_warning_time == 0)
		return 0;
	threshold = m->created + p->delay_warning_time;
	if (now < threshold)
		return 0;
	return r->attempts == 0 || r->last_attempt < threshold;
}

/* All reports of IT are back: DSNs for those that want one. */
static void
item_finish(struct dl_item *it)
{
	struct dl_engine *dl = it->dl;
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
		    delay_warning_due(&dl->p, m, r, now_wall_ms()))
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
			DL_STAT(dl, dl->st.dsns++);
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
	dl_item_free(it);
}

/*
 * A hard bounce (issue 14): a permanent failure whose enhanced code is
 * in suppression_bounce_codes (5.1.1 no such user, 5.1.2 no such
 * domain, 5.1.10 null MX by default) puts the recipient on the
 * message's account's suppression list (the global one for mail
 * without an account).  Policy blocks (5.7.x) and 4xx never do: the
 * address exists.  An address already listed adds nothing.
 */
static void
dl_hard_bounce(struct dl_engine *dl, const struct queue_msg *m, const struct queue_rcpt *r,
    const struct outcome *res)
{
	size_t i;

	if (res->kind != OUTCOME_PERMFAIL || res->enhanced[0] != '5')
		return;
	for (i = 0; i < dl->p.nbounce_codes; i++)
		if (strcmp(dl->p.bounce_codes[i], res->enhanced) == 0)
			break;
	if (i == dl->p.nbounce_codes)
		return;
	(void)suppress_add_auto(dl->q, m->account && suppress_scope_valid(m->account) ?
	    m->account : SUPPRESS_GLOBAL, r->addr, strlen(r->addr), SUPPRESS_HARD_BOUNCE,
	    res->enhanced, dl->p.hard_bounce_expiry, m->id, NULL, NULL);
}

/* Does M's account still exist (mail without one: yes, the global list)? */
static int
dl_account_exists(struct dl_engine *dl, const struct queue_msg *m)
{
	char *text = NULL;
	size_t len = 0;

	if (m->account == NULL || m->account[0] == '\0')
		return 1;
	if (queue_kv_get(dl->q, QUEUE_T_ACCOUNTS, m->account, &text, &len) != 0)
		return 0;
	crypto_wipe(text, len);
	free(text);
	return 1;
}

/* An account status move on its way into the queue. */
struct trigger_ctx {
	struct dl_engine *dl;
	char *name;
	uintptr_t mark;		/* its entry in set->moving: status + 1 */
	struct account_status_change *change;	/* applied by the writer */
};

static void
trigger_stored(void *arg, const struct outcome *o)
{
	struct trigger_ctx *tc = arg;
	struct dl_engine *dl = tc->dl;

	if (o->kind != OUTCOME_OK)
		log_warn("account=%s event=account_status_failed reason=\"%s\"", tc->name, o->text);
	else if (tc->change->moved)
		log_warn("account=%s event=account_status status=%s reason=bounce_rate window=%llu "
		    "bounce_permille=%u", tc->name,
		    account_strstatus((enum account_status)tc->change->status),
		    (unsigned long long)tc->change->rates.messages, tc->change->rates.bounce_pm);
	if (!dl->stopped) {
		/* written (or not): the next bounce reads the record again */
		pthread_mutex_lock(&dl->set->abuse_mu);
		if ((uintptr_t)hash_gets(dl->set->moving, tc->name) == tc->mark)
			(void)hash_dels(dl->set->moving, tc->name);
		pthread_mutex_unlock(&dl->set->abuse_mu);
	}
	free(tc->name);
	free(tc->change);
	free(tc);
	dl->pending_commits--;
	dl_maybe_free(dl);
}

/* Count one outcome of M's account; move the account on when the window says so. */
static void
dl_trigger(struct dl_engine *dl, const struct queue_msg *m, enum queue_state st)
{
	struct abuse_thresholds t;
	struct abuse_rates rates;
	struct trigger_ctx *tc;
	struct account *a;
	char *text = NULL;
	size_t len = 0;
	int want, cur;

	if (m->account == NULL || m->account[0] == '\0' || m->sender == NULL ||
	    m->sender[0] == '\0' || (st != QUEUE_DELIVERED && st != QUEUE_BOUNCED))
		return;
	/* one window per account over every delivery loop */
	pthread_mutex_lock(&dl->set->abuse_mu);
	if (dl->set->abuse == NULL)
		dl->set->abuse = abuse_new();
	(void)abuse_record(dl->set->abuse, m->account, st == QUEUE_BOUNCED ? ABUSE_BOUNCE :
	    ABUSE_DELIVERED, &dl->p.abuse);
	pthread_mutex_unlock(&dl->set->abuse_mu);
	/* only a bounce can raise the rate: only then is the account read,
	 * for its own thresholds (review_* account settings) and status */
	if (st != QUEUE_BOUNCED)
		return;
	if (queue_kv_get(dl->q, QUEUE_T_ACCOUNTS, m->account, &text, &len) != 0)
		return;
	a = account_parse(text, len);
	crypto_wipe(text, len);
	free(text);
	if (a == NULL)
		return;
	pthread_mutex_lock(&dl->set->abuse_mu);
	abuse_rates(dl->set->abuse, m->account, &rates);
	pthread_mutex_unlock(&dl->set->abuse_mu);
	abuse_thresholds_for(&dl->p.abuse, &a->pol, &t);
	want = abuse_status_for(&rates, &t);
	cur = a->pol.suspended ? ACCOUNT_SUSPENDED : (int)a->pol.status;
	if (want == ACCOUNT_ACTIVE || cur >= want) {
		account_free(a);
		return;
	}
	/* A move to WANT (or further) already on its way into the queue,
	 * from this loop or another: the record read above predates it.
	 * Without this, a burst of bounces moved the account once each. */
	pthread_mutex_lock(&dl->set->abuse_mu);
	if ((uintptr_t)hash_gets(dl->set->moving, a->name) >= (uintptr_t)want + 1) {
		pthread_mutex_unlock(&dl->set->abuse_mu);
		account_free(a);
		return;
	}
	hash_puts(dl->set->moving, a->name, (void *)((uintptr_t)want + 1));
	pthread_mutex_unlock(&dl->set->abuse_mu);
	tc = xcalloc(1, sizeof(*tc));
	tc->dl = dl;
	tc->name = xstrdup(a->name);
	tc->mark = (uintptr_t)want + 1;
	/* moved by the writer on the record as it is then (a concurrent
	 * change by another loop or an operator is kept) */
	tc->change = account_status_change_new(a->name, ACCOUNT_CHANGE_RAISE, want, "bounce_rate",
	    &rates);
	dl->pending_commits++;	/* trigger_stored comes back to this engine */
	/* logged by trigger_stored when the writer made the move */
	if (queue_kv_update(dl->q, QUEUE_T_ACCOUNTS, a->name, account_status_update, tc->change,
	    &tc->change->moved, trigger_stored, tc) != 0) {
		dl->pending_commits--;
		log_warn("account=%s event=account_status_failed reason=\"cannot queue\"", a->name);
		pthread_mutex_lock(&dl->set->abuse_mu);
		if ((uintptr_t)hash_gets(dl->set->moving, a->name) == tc->mark)
			(void)hash_dels(dl->set->moving, a->name);
		pthread_mutex_unlock(&dl->set->abuse_mu);
		free(tc->name);
		free(tc->change);
		free(tc);
	}
	account_free(a);
}

static void
report_done(void *arg, const struct outcome *o, enum queue_state newstate, int late)
{
	struct report_ctx *rc = arg;
	struct dl_item *it = rc->item;
	struct dl_engine *dl = it->dl;
	const struct queue_msg *m = it->j->job->msg;
	const struct queue_rcpt *r = &m->rcpts[it->idx[rc->i]];
	const struct outcome *res = &it->res[rc->i];
	char who[LOG_ADDR_MAX], reply[600], scrubbed[600];
	double delay = (double)(now_wall_ms() - m->created) / 1000.0;

	if (o->kind != OUTCOME_OK) {
		/* not recorded: it stays due in the queue and is tried again */
		log_warn("qid=%s event=report_failed rcpt=%s dsn=%s", m->id,
		    log_addr(r->addr, strlen(r->addr), who, sizeof(who)), o->enhanced);
		newstate = QUEUE_DEFERRED;
		late = 0;
	}
	/* LATE: the recipient was deleted or made final while in flight
	 * (posternctl queue bounce, which sent its own DSN; NEWSTATE is what
	 * the operator left), whatever the remote said: this attempt adds no
	 * DSN (item_finish reports nothing for a QUEUE_DELETED item) and no
	 * delivery or bounce to the account's rates; a remote hard bounce
	 * still lists the address (dl_hard_bounce looks at RES), unless the
	 * message went with its account (account delete): a list of a
	 * deleted account is not made anew. */
	it->newstate[rc->i] = late ? QUEUE_DELETED : newstate;
	if ((!late && newstate == QUEUE_BOUNCED) ||
	    (late && res->kind == OUTCOME_PERMFAIL && dl_account_exists(dl, m)))
		dl_hard_bounce(dl, m, r, res);
	if (!dl->stopped && !late)
		dl_trigger(dl, m, newstate);
	{
		/* by destination class too (a bounded label: dest_class.h) */
		size_t cls = it->cls;

		if (cls >= DEST_CLASS_MAX)
			cls = DEST_CLASS_MAX - 1;
		/* an attempt counts by its result; a late one (the recipient
		 * made final or deleted meanwhile) by what the remote said */
		int k = late ? (res->kind == OUTCOME_OK ? 0 : res->kind == OUTCOME_PERMFAIL ? 2 : 1) :
		    newstate == QUEUE_DELIVERED ? 0 :
		    newstate == QUEUE_BOUNCED || newstate == QUEUE_EXPIRED ? 2 : 1;

		pthread_mutex_lock(&dl->st_mu);
		if (k == 0)
			dl->st.delivered++;
		else if (k == 2)
			dl->st.bounced++;
		else
			dl->st.deferred++;
		dl->st.by_class[cls][k]++;
		pthread_mutex_unlock(&dl->st_mu);
	}
	/* scrubbed first, in its own statement: the order in which a call's
	 * arguments are evaluated is unspecified, and strlen(scrubbed) taken
	 * before log_scrub() filled it read stale stack (another message's
	 * text) into the log */
	log_scrub(res->text, strlen(res->text), scrubbed, sizeof(scrubbed));
	log_info("qid=%s event=attempt cid=%s rcpt=%s relay=%s delay=%.2f dsn=%s status=%s%s tls=%s "
	    "reply=%s", m->id, it->cid[0] ? it->cid : "-", log_addr(r->addr, strlen(r->addr), who, sizeof(who)),
	    it->relay[0] ? it->relay : "none", delay, res->enhanced,
	    queue_strstate(newstate), late ? " late=yes" : "", it->tls[0] ? it->tls : "none",
	    log_quote(scrubbed, strlen(scrubbed), reply, sizeof(reply)));
	free(rc);
	dl->pending_reports--;
	if (--it->reports_pending == 0)
		item_finish(it);
	if (!dl->stopped && !dl->draining)
		dl_set_room(dl->set);	/* the dispatcher may be waiting for room */
	dl_maybe_free(dl);	/* last: a stopped engine may be gone after it */
}

/* Send every recipient's result of IT to the queue. */
void
dl_item_report(struct dl_item *it)
{
	struct dl_engine *dl = it->dl;
	const struct queue_msg *m = it->j->job->msg;
	size_t i, n = it->n;

	it->reports_pending = n;
	/* classified now: the destination may be gone when the reports
	 * come back from the queue */
	it->cls = dest_class_of(&dl->p.classes, it->dest ? it->dest->domain : NULL, it->host,
	    it->dest ? it->dest->via_transport : 0);
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
		if (queue_report(dl->q, m->id, m->rcpts[it->idx[i]].no, m->rcpts[it->idx[i]].addr,
		    result_of(&it->res[i]),
		    &o, it->relay[0] ? it->relay : NULL, report_done, rc) != 0) {
			struct outcome f;
			outcome_reply(&f, R_QUEUE_ERROR);
			report_done(rc, &f, QUEUE_DEFERRED, 0);
		}
	}
}

/* Every recipient of IT gets O (no connection involved). */
void
dl_item_fail_all(struct dl_item *it, const struct outcome *o)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		it->res[i] = *o;
	dl_item_report(it);
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
	ds->via_transport = r->via_transport;
	ds->route_expires = now_mono_ms() + DL_ROUTE_TTL_MS;
	dest_run(ds);
	dest_gc(ds);
}

/* Match waiting items with connections: hand them to idle sessions, open
 * new connections up to the concurrency limit, or fail them per route. */
void
dest_run(struct dest *ds)
{
	struct dl_engine *dl = ds->dl;
	struct conn *c;
	size_t idle = 0, connecting = 0;

	if (dl->stopped || ds->head == NULL)
		return;
	if (ds->rreq)
		return;
	if (!ds->have_route || (ds->route_expires < now_mono_ms() && ds->nconns == 0)) {
		ds->have_route = 0;
		struct route_params rp = { &dl->p.transport, dl->p.addrpref };

		ds->rreq = route_resolve(dl->dns, &rp, ds->domain, route_done, ds);
		return;
	}
	if (ds->route_o.kind != OUTCOME_OK) {
		struct dl_item *it;

		while ((it = dest_pop(ds)) != NULL)
			dl_item_fail_all(it, &ds->route_o);
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
	if (dl->draining || !dl->p.enabled || queue_delivery_paused_for(dl->q, ds->domain) ||
	    !dest_rate_ok(ds, 0))
		return;	/* rate-limited, paused or delivery off: the 1 s kick comes back */
	while (ds->head && ds->nconns < dl_dest_share(dl, ds->domain, dl->p.concurrency) &&
	    connecting < ds->nqueued && dl_dest_conn_take(dl, ds->domain, dl->p.concurrency)) {
		conn_open(ds);	/* holds the slot taken (conn_detach gives it back) */
		connecting++;
	}
}

static void
kick_cb(uv_timer_t *t)
{
	struct dl_engine *dl = t->data;
	struct dest *ds, *next;

	for (ds = dl->dests; ds; ds = next) {
		next = ds->next;
		dest_run(ds);
	}
}

/* ---- taking work from the queue ---- */

/* The account's return_path_domain (VERP) into OUT, or "" (also for the
 * null sender: DSNs are never VERPed). */
static void
dl_verp_domain(struct dl_engine *dl, const struct queue_msg *m, char *out, size_t outlen)
{
	struct account *a;
	char *text = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (m->sender == NULL || m->sender[0] == '\0' || m->account == NULL ||
	    m->account[0] == '\0' || !token_have_key() ||
	    queue_kv_get(dl->q, QUEUE_T_ACCOUNTS, m->account, &text, &len) != 0)
		return;
	if ((a = account_parse(text, len)) != NULL) {
		str_copy(out, a->pol.return_path_domain, outlen);
		account_free(a);
	}
	free(text);
}

void
dl_engine_take(struct dl_engine *dl, struct queue_job *job)
{
	struct dl_job *j = xcalloc(1, sizeof(*j));
	struct queue_msg *m = job->msg;
	struct dest *touched[64];
	size_t i, k, ntouched = 0;
	char *done = xcalloc(m->nrcpts ? m->nrcpts : 1, 1);
	char verp[256];

	dl_verp_domain(dl, m, verp, sizeof(verp));

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
		__atomic_add_fetch(&dl->items, 1, __ATOMIC_RELAXED);
		for (k = i; k < m->nrcpts; k++) {
			if (done[k] || strcasecmp(rcpt_domain(m->rcpts[k].addr), dom) != 0)
				continue;
			if (verp[0] && k != i)
				continue;	/* VERP: one recipient per transaction */
			done[k] = 1;
			it->idx = xrealloc(it->idx, (it->n + 1) * sizeof(*it->idx));
			it->idx[it->n++] = k;
		}
		if (verp[0]) {
			char tok[TOKEN_LEN + 1];

			if (token_make(TOKEN_BOUNCE, m->id, m->rcpts[i].no, tok) == 0)
				snprintf(it->verp, sizeof(it->verp), "b+%s@%s", tok, verp);
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
			outcome_reply(&o, R_RCPT_NO_DOMAIN);
			dl_item_fail_all(it, &o);
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

/* ---- life cycle ---- */

void
delivery_params_free(struct delivery_params *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->hostname);
	free(p->helo_name);
	free(p->tls_ca_file);
	route_table_free(&p->transport);
	route_table_free(&p->tls_map);
	for (i = 0; i < p->nbind; i++)
		free(p->bind_addresses[i]);
	free(p->bind_addresses);
	for (i = 0; i < p->ndns; i++)
		free(p->dns_servers[i]);
	free(p->dns_servers);
	for (i = 0; i < p->nbounce_codes; i++)
		free(p->bounce_codes[i]);
	free(p->bounce_codes);
	memset(p, 0, sizeof(*p));
}

static void
hostname_of(const struct delivery_params *p, char *out, size_t outlen)
{
	if (p->hostname && p->hostname[0]) {
		str_copy(out, p->hostname, outlen);
		return;
	}
	if (gethostname(out, outlen) != 0 || out[0] == '\0')
		str_copy(out, "localhost", outlen);
	out[outlen - 1] = '\0';
}

static struct tls_ctx *
client_ctx(const struct delivery_params *p, char *err, size_t errlen)
{
	return tls_client_ctx_new(p->tls_ca_file && p->tls_ca_file[0] ? p->tls_ca_file : NULL,
	    err, errlen);
}

struct dl_engine *
dl_engine_new(uv_loop_t *loop, struct queue *q, struct delivery *set, unsigned index,
    struct delivery_params *p, char *err, size_t errlen)
{
	struct config_list servers;
	struct dl_engine *dl;
	char why[256];

	dl = xcalloc(1, sizeof(*dl));
	dl->set = set;
	dl->index = index;
	pthread_mutex_init(&dl->st_mu, NULL);
	dl->dest_index = hash_new(NULL);
	dl->loop = loop;
	dl->q = q;
	dl->p = *p;
	memset(p, 0, sizeof(*p));	/* taken over */
	stats_classes(dl);
	hostname_of(&dl->p, dl->hostname, sizeof(dl->hostname));
	memset(&servers, 0, sizeof(servers));
	servers.items = dl->p.dns_servers;
	servers.n = dl->p.ndns;
	dl->dns = dns_open(loop, &servers, err, errlen);
	if (dl->dns == NULL) {
		hash_free(dl->dest_index);
		delivery_params_free(&dl->p);
		pthread_mutex_destroy(&dl->st_mu);
		free(dl);
		return NULL;
	}
	dl->tls_ctx = client_ctx(&dl->p, why, sizeof(why));
	if (dl->tls_ctx == NULL && index == 0)
		log_warn("event=tls_client_unavailable error=\"%s\"", why);
	uv_timer_init(loop, &dl->kick);
	dl->kick.data = dl;
	uv_timer_start(&dl->kick, kick_cb, 1000, 1000);
	return dl;
}

void
dl_engine_reload(struct dl_engine *dl, struct delivery_params *p)
{
	struct tls_ctx *ctx;
	struct dest *ds;
	struct conn *c;
	char why[256];

	/* The tables were parsed (and so checked) when P was built: nothing
	 * here can fail, so the swap is all or nothing. */
	pthread_mutex_lock(&dl->st_mu);
	delivery_params_free(&dl->p);
	dl->p = *p;
	memset(p, 0, sizeof(*p));	/* taken over */
	stats_classes(dl);
	pthread_mutex_unlock(&dl->st_mu);
	hostname_of(&dl->p, dl->hostname, sizeof(dl->hostname));
	if ((ctx = client_ctx(&dl->p, why, sizeof(why))) != NULL) {
		tls_ctx_free(dl->tls_ctx);
		dl->tls_ctx = ctx;
	}
	/* The new transport table, TLS policy and limits apply to the next
	 * message at once: routes are resolved again and open sessions QUIT
	 * after the message they carry (idle ones now). */
	for (ds = dl->dests; ds; ds = ds->next) {
		ds->have_route = 0;
		if (ds->rreq != NULL) {
			/* a lookup under the old table: its answer would be
			 * used for the next message; ask again (the 1 s kick) */
			route_cancel(ds->rreq);
			ds->rreq = NULL;
		}
		for (c = ds->conns; c; c = c->next) {
			c->retire = 1;
			if (c->idle && c->client && smtp_client_state(c->client) == SMTPC_READY)
				conn_next(c);
		}
	}
}

void
dl_check_drained(struct dl_engine *dl)
{
	if (dl->draining && !dl->stopped && dl->nconns == 0 && !dl->drain_told) {
		dl->drain_told = 1;
		dl_set_engine_drained(dl);
	}
}

int
dl_engine_drain(struct dl_engine *dl)
{
	struct dest *ds;
	struct conn *c;

	dl->draining = 1;
	for (ds = dl->dests; ds; ds = ds->next)
		for (c = ds->conns; c; c = c->next)
			if (c->client && smtp_client_state(c->client) == SMTPC_READY)
				conn_next(c);	/* idle sessions QUIT now */
	if (dl->nconns == 0) {
		dl->drain_told = 1;
		return 0;
	}
	return 1;
}

size_t
dl_engine_items(const struct dl_engine *dl)
{
	return __atomic_load_n(&dl->items, __ATOMIC_RELAXED);
}

static void
kick_closed(uv_handle_t *h)
{
	struct dl_engine *dl = h->data;

	dl->kick.data = NULL;
	dl_maybe_free(dl);
}

/* Free DL once it is stopped and no callback can reach it any more (an
 * engine off loop 0 gets its late queue callbacks on loop 0 once its
 * thread is joined: loops.c adopts its port). */
void
dl_maybe_free(struct dl_engine *dl)
{
	if (!dl->stopped || dl->nconns || dl->kick.data != NULL ||
	    dl->pending_reports || dl->pending_commits)
		return;
	hash_free(dl->dest_index);
	delivery_params_free(&dl->p);
	pthread_mutex_destroy(&dl->st_mu);
	free(dl);
}

void
dl_engine_free(struct dl_engine *dl)
{
	struct dest *ds;

	if (dl == NULL)
		return;
	dl->stopped = 1;
	dl->draining = 1;
	for (ds = dl->dests; ds; ds = ds->next) {
		struct conn *c, *next;
		struct dl_item *it;

		if (ds->rreq)
			route_cancel(ds->rreq);
		ds->rreq = NULL;
		for (c = ds->conns; c; c = next) {
			next = c->next;
			conn_stop(c);
		}
		ds->conns = NULL;
		while ((it = dest_pop(ds)) != NULL)
			dl_item_free(it);
	}
	while ((ds = dl->dests) != NULL) {
		dl->dests = ds->next;
		hash_dels(dl->dest_index, ds->domain);
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

/* Name the class counters after dl->p.classes: a class kept by name
 * keeps its counts (counters never go down), a new one starts at 0. */
static void
stats_classes(struct dl_engine *dl)
{
	uint64_t old[DEST_CLASS_MAX][3];
	char names[DEST_CLASS_MAX][DEST_CLASS_NAME_MAX];
	size_t n = dl->st.nclasses, i, k;

	memcpy(old, dl->st.by_class, sizeof(old));
	memcpy(names, dl->st.class_names, sizeof(names));
	memset(dl->st.by_class, 0, sizeof(dl->st.by_class));
	dl->st.nclasses = dl->p.classes.n;
	for (i = 0; i < dl->p.classes.n; i++) {
		str_copy(dl->st.class_names[i], dest_class_name(&dl->p.classes, i),
		    sizeof(dl->st.class_names[i]));
		for (k = 0; k < n; k++)
			if (strcmp(names[k], dl->st.class_names[i]) == 0)
				memcpy(dl->st.by_class[i], old[k], sizeof(old[k]));
	}
}

void
dl_engine_stats(struct dl_engine *dl, struct delivery_stats *st)
{
	pthread_mutex_lock(&dl->st_mu);
	*st = dl->st;
	pthread_mutex_unlock(&dl->st_mu);
}

/* FNV-1a of the lowercased domain: which engines serve a destination. */
uint32_t
dl_domain_hash(const char *domain)
{
	uint32_t h = 2166136261u;

	for (; *domain; domain++) {
		h ^= (uint32_t)(unsigned char)tolower((unsigned char)*domain);
		h *= 16777619u;
	}
	return h;
}
