/* SPDX-License-Identifier: ISC */
/*
 * dnsbl.c: the loop side of the spam stage's DNS blocklists (issue 15).
 * The EOM stage (policy/spam_stage.c) names the queries of a message in
 * a struct spam_dnsq and pends; the relay hands them to dnsbl_run(),
 * which looks every name up through src/net/dns.c (c-ares on the loop,
 * answers cached for their TTL), gives each list its own deadline of
 * spam_dnsbl_timeout (a list that does not answer in time adds no
 * symbol and is logged as event=dnsbl_timeout zone=..., the others'
 * answers are kept), and calls back so the relay resumes the EOM
 * stages once every list has answered or timed out.
 *
 * It also keeps each list's state.  When the lists are configured (at
 * start and on SIGHUP) every new zone gets the RFC 5782 §5 canary
 * checks: an IPv4 list must list 127.0.0.2 and must not list 127.0.0.1,
 * a domain list must list TEST and must not list INVALID.  A list that
 * answers them wrongly, or that answers any query with 127.255.255.x
 * (how lists refuse queries, e.g. from public resolvers), is disabled
 * and logged (event=dnsbl_disabled); a passing one logs event=dnsbl_ok.
 * Disabled lists are not queried until the next reconfiguration.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "relay.h"
#include "spam.h"
#include "util.h"

struct dnsbl_list {
	struct spam_list l;
	int disabled;
	int checks_left;		/* canary answers still expected */
	struct dns_query *canary[2];	/* listed, unlisted; NULL when answered */
	struct dnsbl_canary {
		struct dnsbl *b;
		size_t list;
		int unlisted;
	} can[2];
};

struct dnsbl {
	struct dns *dns;		/* borrowed; may be NULL */
	struct dnsbl_list *v;		/* owned */
	size_t n;
};

struct dnsbl *
dnsbl_new(struct dns *dns)
{
	struct dnsbl *b = xcalloc(1, sizeof(*b));

	b->dns = dns;
	return b;
}

static void
dnsbl_cancel_canaries(struct dnsbl *b)
{
	size_t i;
	int k;

	for (i = 0; i < b->n; i++)
		for (k = 0; k < 2; k++)
			if (b->v[i].canary[k] != NULL) {
				dns_cancel(b->v[i].canary[k]);
				b->v[i].canary[k] = NULL;
			}
}

void
dnsbl_free(struct dnsbl *b)
{
	if (b == NULL)
		return;
	dnsbl_cancel_canaries(b);
	free(b->v);
	free(b);
}

static struct dnsbl_list *
dnsbl_find(struct dnsbl *b, const char *zone)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->v[i].l.zone, zone) == 0)
			return &b->v[i];
	return NULL;
}

static void
dnsbl_disable(struct dnsbl_list *d, const char *why)
{
	if (d->disabled)
		return;
	d->disabled = 1;
	log_warn("event=dnsbl_disabled zone=%s reason=%s", d->l.zone, why);
}

/* 1 when R holds an address in 127.255.255.0/24. */
static int
refused(const struct dns_result *r)
{
	size_t i;

	for (i = 0; r->status == DNS_OK && i < r->n; i++)
		if (r->rr[i].type == DNS_T_A && r->rr[i].addr[0] == 127 && r->rr[i].addr[1] == 255 &&
		    r->rr[i].addr[2] == 255)
			return 1;
	return 0;
}

static void
dnsbl_canary_done(void *arg, const struct dns_result *r)
{
	struct dnsbl_canary *c = arg;
	struct dnsbl_list *d = &c->b->v[c->list];
	size_t i;
	int listed = 0;

	d->canary[c->unlisted] = NULL;
	for (i = 0; r->status == DNS_OK && i < r->n; i++)
		if (r->rr[i].type == DNS_T_A && r->rr[i].addr[0] == 127)
			listed = 1;
	if (refused(r))
		dnsbl_disable(d, "refused");
	else if (r->status == DNS_TEMPFAIL)
		log_warn("event=dnsbl_canary zone=%s name=%s status=tempfail why=\"%s\"", d->l.zone,
		    r->qname ? r->qname : "-", r->why);
	else if (c->unlisted ? listed : !listed)
		dnsbl_disable(d, c->unlisted ? "lists_test_entry_it_must_not" :
		    "misses_test_entry_it_must_list");
	if (--d->checks_left == 0 && !d->disabled)
		log_info("event=dnsbl_ok zone=%s", d->l.zone);
}

void
dnsbl_configure(struct dnsbl *b, const struct config *cfg)
{
	struct dnsbl_list *old = b->v;
	size_t nold = b->n, i, n = cfg->spam_dnsbl.n + cfg->spam_uribl.n;
	char err[128], listed[300], unlisted[300];

	dnsbl_cancel_canaries(b);
	b->v = xcalloc(n ? n : 1, sizeof(*b->v));
	b->n = 0;
	for (i = 0; i < n; i++) {
		int dom = i >= cfg->spam_dnsbl.n;
		const char *s = dom ? cfg->spam_uribl.items[i - cfg->spam_dnsbl.n] : cfg->spam_dnsbl.items[i];
		struct dnsbl_list *d = &b->v[b->n];

		if (spam_list_parse(s, dom, &d->l, err, sizeof(err)) != 0)
			continue;	/* daemon_check() refused it already */
		b->n++;
	}
	(void)old;
	(void)nold;
	free(old);
	/* a reconfiguration checks every list again (and re-enables) */
	for (i = 0; i < b->n; i++) {
		struct dnsbl_list *d = &b->v[i];
		int k;

		if (b->dns == NULL)
			continue;
		spam_dnsbl_canaries(&d->l, listed, unlisted, sizeof(listed));
		for (k = 0; k < 2; k++) {
			d->can[k].b = b;
			d->can[k].list = i;
			d->can[k].unlisted = k;
			d->checks_left++;
			d->canary[k] = dns_lookup(b->dns, k ? unlisted : listed, DNS_T_A,
			    dnsbl_canary_done, &d->can[k]);
			if (d->canary[k] == NULL)
				d->checks_left--;
		}
	}
}

/* ---- one message's round ---- */

/*
 * Each list of a round is a group with a deadline of its own: its
 * lookups all start together, and when its timer fires only its own
 * unanswered lookups are cancelled and logged (event=dnsbl_timeout
 * zone=...), so a list that does not answer costs neither the other
 * lists' answers nor their time.  The round is over when every group
 * is settled (answered or timed out); it is freed once every group's
 * timer is closed.
 */
struct dnsbl_group {
	struct dnsbl_round *rd;
	size_t list;			/* the stage's list index (spam_dnsq_item.list) */
	const char *zone;		/* borrowed from an item of the round */
	uv_timer_t timer;
	size_t pending;			/* lookups still out */
	int settled;
};

struct dnsbl_round {
	struct dnsbl *b;
	struct spam_dnsq *q;		/* borrowed from the job */
	struct dnsbl_qctx {
		struct dnsbl_round *rd;
		size_t i;
		struct dnsbl_group *g;
		struct dns_query *dq;
	} *ctx;
	struct dnsbl_group *g;		/* owned, ng of them */
	size_t ng, unsettled, open;
	int finished;
	char id[64];			/* the session's, for the log */
	dnsbl_done_cb cb;
	void *arg;
};

static void
group_closed(uv_handle_t *h)
{
	struct dnsbl_group *g = h->data;
	struct dnsbl_round *rd = g->rd;

	if (--rd->open == 0) {
		free(rd->g);
		free(rd->ctx);
		free(rd);
	}
}

/* Every group settled: tell the relay, then close the timers. */
static void
round_finish(struct dnsbl_round *rd)
{
	size_t i;

	if (rd->finished)
		return;
	rd->finished = 1;
	rd->q->resumed = 1;
	for (i = 0; i < rd->ng; i++) {
		uv_timer_stop(&rd->g[i].timer);
		uv_close((uv_handle_t *)&rd->g[i].timer, group_closed);
	}
	rd->cb(rd->arg);
}

static void
group_settle(struct dnsbl_group *g)
{
	if (g->settled)
		return;
	g->settled = 1;
	uv_timer_stop(&g->timer);
	if (--g->rd->unsettled == 0)
		round_finish(g->rd);
}

static void
round_answer(void *arg, const struct dns_result *r)
{
	struct dnsbl_qctx *c = arg;
	struct dnsbl_round *rd = c->rd;
	struct spam_dnsq_item *it = &rd->q->v[c->i];
	struct dnsbl_list *d = dnsbl_find(rd->b, it->zone);
	size_t k;

	c->dq = NULL;
	it->done = 1;
	if (refused(r)) {
		if (d != NULL)
			dnsbl_disable(d, "refused");
	} else {
		for (k = 0; r->status == DNS_OK && k < r->n && it->naddr < SPAM_DNSQ_MAX_ADDRS; k++)
			if (r->rr[k].type == DNS_T_A)
				memcpy(it->addr[it->naddr++], r->rr[k].addr, 4);
	}
	if (--c->g->pending == 0)
		group_settle(c->g);
}

/* One list's deadline: drop its unanswered lookups, keep the others. */
static void
group_timeout(uv_timer_t *t)
{
	struct dnsbl_group *g = t->data;
	struct dnsbl_round *rd = g->rd;
	size_t i;

	if (g->pending > 0) {
		for (i = 0; i < rd->q->n; i++)
			if (rd->ctx[i].g == g && rd->ctx[i].dq != NULL) {
				dns_cancel(rd->ctx[i].dq);
				rd->ctx[i].dq = NULL;
			}
		log_info("sid=%s event=dnsbl_timeout zone=%s unanswered=%zu", rd->id, g->zone,
		    g->pending);
		g->pending = 0;
	}
	group_settle(g);
}

int
dnsbl_run(struct dnsbl *b, uv_loop_t *loop, const char *id, struct spam_dnsq *q,
    uint64_t timeout_ms, dnsbl_done_cb cb, void *arg)
{
	struct dnsbl_round *rd;
	size_t i, k;

	if (b == NULL || b->dns == NULL || q == NULL)
		return -1;
	rd = xcalloc(1, sizeof(*rd));
	rd->b = b;
	rd->q = q;
	rd->cb = cb;
	rd->arg = arg;
	str_copy(rd->id, id != NULL ? id : "-", sizeof(rd->id));
	rd->ctx = xcalloc(q->n ? q->n : 1, sizeof(*rd->ctx));
	/* one group per list (the items of a list are not always adjacent) */
	rd->g = xcalloc(q->n + 1, sizeof(*rd->g));
	for (i = 0; i < q->n; i++) {
		for (k = 0; k < rd->ng; k++)
			if (rd->g[k].list == q->v[i].list)
				break;
		if (k == rd->ng) {
			rd->g[k].rd = rd;
			rd->g[k].list = q->v[i].list;
			rd->g[k].zone = q->v[i].zone;
			rd->ng++;
		}
		rd->ctx[i].rd = rd;
		rd->ctx[i].i = i;
		rd->ctx[i].g = &rd->g[k];
	}
	if (rd->ng == 0) {
		/* no lists: a group of none that settles on the next turn */
		rd->g[0].rd = rd;
		rd->g[0].zone = "-";
		rd->ng = 1;
	}
	for (k = 0; k < rd->ng; k++) {
		uv_timer_init(loop, &rd->g[k].timer);
		rd->g[k].timer.data = &rd->g[k];
		rd->open++;
	}
	rd->unsettled = rd->ng;
	for (i = 0; i < q->n; i++) {
		struct dnsbl_list *d = dnsbl_find(b, q->v[i].zone);

		if (d == NULL || d->disabled) {
			q->v[i].done = 1;	/* not asked: no symbol */
			continue;
		}
		rd->ctx[i].dq = dns_lookup(b->dns, q->v[i].name, DNS_T_A, round_answer, &rd->ctx[i]);
		if (rd->ctx[i].dq == NULL)
			q->v[i].done = 1;
		else
			rd->ctx[i].g->pending++;
	}
	/* dns_lookup() never calls back from inside itself (include/dns.h),
	 * so no group can have settled yet; one with nothing to wait for
	 * settles on the next loop turn through a 0 timer */
	for (k = 0; k < rd->ng; k++)
		uv_timer_start(&rd->g[k].timer, group_timeout,
		    rd->g[k].pending > 0 ? timeout_ms : 0, 0);
	return 0;
}
