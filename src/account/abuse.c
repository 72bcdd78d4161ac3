/* SPDX-License-Identifier: ISC */
/*
 * abuse.c: the automatic review triggers' arithmetic (include/review.h,
 * issue 16): per account, a sliding window of its last N outcomes
 * (delivered, hard bounce, complaint) and the status the thresholds
 * call for, SES-style: at least min_messages outcomes in the window,
 * then a hard-bounce rate >= bounce_review or a complaint rate >=
 * complaint_review per mille -> under_review; >= the *_pause rates ->
 * paused.  The window is a ring of outcome codes per account in the
 * one hash table (src/lib/hash.c), so a burst of old good mail cannot
 * hide a new run of bounces for longer than N messages.  The windows
 * are pure (no clock, no I/O); the delivery engine
 * (src/outbound/delivery.c) feeds them and turns a transition into an
 * account record change plus the account_status event built here.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include "account.h"
#include "hash.h"
#include "json.h"
#include "review.h"
#include "util.h"

struct window {
	unsigned char *ring;	/* enum abuse_kind per outcome */
	size_t cap, n, head;
	uint64_t bounces, complaints;
};


struct usage {
	struct hash *clients;	/* client address -> first seen (wall ms, boxed) */
	uint64_t hour_start;	/* the current hour's start (wall ms) */
	uint64_t cur;		/* messages this hour */
	uint64_t past, hours;	/* messages and hours before it */
};

struct abuse {
	pthread_mutex_t mu;	/* smtpd_loops: the relays of every loop share one */
	struct hash *accounts;	/* name -> struct window */
	struct hash *usage;	/* name -> struct usage (compromise pattern) */
};

#define HOUR_MS (3600ull * 1000)
#define CLIENT_NEW_MS (24 * HOUR_MS)
#define MAX_CLIENTS 1000	/* per account; more are not tracked */

static void
usage_free(void *p)
{
	struct usage *u = p;

	if (u != NULL) {
		hash_free(u->clients);
		free(u);
	}
}

static void
window_free(void *p)
{
	struct window *w = p;

	if (w != NULL) {
		free(w->ring);
		free(w);
	}
}

struct abuse *
abuse_new(void)
{
	struct abuse *a = xcalloc(1, sizeof(*a));

	pthread_mutex_init(&a->mu, NULL);
	a->accounts = hash_new(window_free);
	a->usage = hash_new(usage_free);
	return a;
}

void
abuse_free(struct abuse *a)
{
	if (a == NULL)
		return;
	hash_free(a->accounts);
	hash_free(a->usage);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static void
window_rates(const struct window *w, struct abuse_rates *out)
{
	memset(out, 0, sizeof(*out));
	if (w == NULL)
		return;
	out->messages = w->n;
	out->bounces = w->bounces;
	out->complaints = w->complaints;
	if (w->n > 0) {
		out->bounce_pm = (unsigned)(w->bounces * 1000 / w->n);
		out->complaint_pm = (unsigned)(w->complaints * 1000 / w->n);
	}
}

static int
abuse_record_unlocked(struct abuse *a, const char *account, enum abuse_kind k,
    const struct abuse_thresholds *t)
{
	struct window *w = hash_get(a->accounts, account, strlen(account));
	size_t cap = t->window > 0 ? (size_t)t->window : 1;
	struct abuse_rates r;

	if (w == NULL || w->cap != cap) {	/* new, or the window size was reloaded */
		w = xcalloc(1, sizeof(*w));
		w->cap = cap;
		w->ring = xcalloc(cap, 1);
		hash_put(a->accounts, account, strlen(account), w);
	}
	if (w->n == w->cap) {		/* the oldest outcome leaves the window */
		unsigned char old = w->ring[w->head];

		w->bounces -= old == ABUSE_BOUNCE;
		w->complaints -= old == ABUSE_COMPLAINT;
	} else
		w->n++;
	w->ring[w->head] = (unsigned char)k;
	w->head = (w->head + 1) % w->cap;
	w->bounces += k == ABUSE_BOUNCE;
	w->complaints += k == ABUSE_COMPLAINT;
	window_rates(w, &r);
	return abuse_status_for(&r, t);
}

int
abuse_status_for(const struct abuse_rates *r, const struct abuse_thresholds *t)
{
	if ((int64_t)r->messages < t->min_messages)
		return ACCOUNT_ACTIVE;
	if (r->bounce_pm >= t->bounce_pause || r->complaint_pm >= t->complaint_pause)
		return ACCOUNT_PAUSED;
	if (r->bounce_pm >= t->bounce_review || r->complaint_pm >= t->complaint_review)
		return ACCOUNT_UNDER_REVIEW;
	return ACCOUNT_ACTIVE;
}

void
abuse_thresholds_for(const struct abuse_thresholds *global, const struct account_policy *pol,
    struct abuse_thresholds *out)
{
	*out = *global;
	if (pol == NULL)
		return;
	if (pol->review_bounce_review != ACCOUNT_UNSET)
		out->bounce_review = pol->review_bounce_review;
	if (pol->review_bounce_pause != ACCOUNT_UNSET)
		out->bounce_pause = pol->review_bounce_pause;
	if (pol->review_complaint_review != ACCOUNT_UNSET)
		out->complaint_review = pol->review_complaint_review;
	if (pol->review_complaint_pause != ACCOUNT_UNSET)
		out->complaint_pause = pol->review_complaint_pause;
}

static int
abuse_compromise_unlocked(struct abuse *a, const char *account, const char *client,
    int have_score, double score, uint64_t now, const struct compromise_params *p)
{
	struct usage *u = hash_get(a->usage, account, strlen(account));
	uint64_t *first;
	int is_new = 0, spike = 0;

	if (u == NULL) {
		u = xcalloc(1, sizeof(*u));
		u->clients = hash_new(free);
		u->hour_start = now - now % HOUR_MS;
		hash_put(a->usage, account, strlen(account), u);
	}
	if (now >= u->hour_start + HOUR_MS) {	/* a new hour: idle hours count as 0 */
		uint64_t start = now - now % HOUR_MS;

		u->past += u->cur;
		u->hours += (start - u->hour_start) / HOUR_MS;
		u->cur = 0;
		u->hour_start = start;
	}
	u->cur++;
	if (client != NULL && *client != '\0') {
		if ((first = hash_get(u->clients, client, strlen(client))) == NULL) {
			/* the very first address of an account is not "new" */
			is_new = hash_count(u->clients) > 0;
			if (hash_count(u->clients) < MAX_CLIENTS) {
				first = xmalloc(sizeof(*first));
				*first = is_new ? now : 0;
				hash_put(u->clients, client, strlen(client), first);
			}
		} else
			is_new = *first != 0 && now - *first < CLIENT_NEW_MS;
	}
	/* a spike needs a history: an account's first hour cannot spike */
	if (u->hours > 0 && (int64_t)u->cur >= p->min_volume &&
	    u->cur * u->hours >= (uint64_t)p->spike * (u->past > 0 ? u->past : 1))
		spike = 1;
	return p->score > 0 && have_score && score >= (double)p->score && is_new && spike;
}

static void
abuse_rates_unlocked(const struct abuse *a, const char *account, struct abuse_rates *out)
{
	window_rates(hash_get(a->accounts, account, strlen(account)), out);
}

char *
account_status_event(const char *account, int status, const char *why,
    const struct abuse_rates *rates)
{
	struct json_out j;
	struct buf b;

	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_kv_uint(&j, "time", now_wall_ms());
	json_kv_str(&j, "event", "account_status");
	json_kv_str(&j, "account", account);
	json_kv_str(&j, "status", account_strstatus((enum account_status)status));
	json_kv_str(&j, "reason", why);
	if (rates != NULL) {
		json_kv_uint(&j, "window", rates->messages);
		json_kv_uint(&j, "bounce_permille", rates->bounce_pm);
		json_kv_uint(&j, "complaint_permille", rates->complaint_pm);
	}
	json_obj_end(&j);
	return buf_steal(&b, NULL);
}

struct account_status_change *
account_status_change_new(const char *name, enum account_change_mode mode, int status,
    const char *why, const struct abuse_rates *rates)
{
	struct account_status_change *c = xcalloc(1, sizeof(*c));

	str_copy(c->name, name, sizeof(c->name));
	c->mode = mode;
	c->status = status;
	str_copy(c->why, why, sizeof(c->why));
	if (rates != NULL) {
		c->rates = *rates;
		c->have_rates = 1;
	}
	return c;
}

/* On the queue's writer thread (queue_update_fn): pure but for ARG. */
int
account_status_update(void *arg, const char *cur, size_t curlen, char **out, size_t *outlen,
    char **event)
{
	struct account_status_change *c = arg;
	struct account *a;
	int from, to;

	if (cur == NULL || (a = account_parse(cur, curlen)) == NULL)
		/* deleted meanwhile (or unreadable): nothing to move, never
		 * written back (that would bring a deleted account back) */
		return cur == NULL && c->must_exist ? EIDRM : 0;
	from = a->pol.suspended ? ACCOUNT_SUSPENDED : (int)a->pol.status;
	c->from = from;
	if (c->mode == ACCOUNT_CHANGE_RAISE) {
		if (from >= c->status) {
			account_free(a);
			return 0;
		}
		a->pol.status = (enum account_status)c->status;
		if (c->set_suspended)
			a->pol.suspended = 1;
	} else if (c->status == ACCOUNT_SUSPENDED) {
		if (a->pol.suspended && a->pol.status == ACCOUNT_SUSPENDED) {
			account_free(a);
			return 0;
		}
		a->pol.suspended = 1;
		a->pol.status = ACCOUNT_SUSPENDED;
	} else {
		if (from == ACCOUNT_ACTIVE) {
			account_free(a);
			return 0;
		}
		a->pol.suspended = 0;
		a->pol.status = ACCOUNT_ACTIVE;
	}
	to = a->pol.suspended ? ACCOUNT_SUSPENDED : (int)a->pol.status;
	*out = account_format(a, outlen);
	*event = account_status_event(a->name, to, c->why, c->have_rates ? &c->rates : NULL);
	account_free(a);
	return 1;
}

/* ---- the locked entry points (one struct abuse for every SMTP loop) ---- */

int
abuse_record(struct abuse *a, const char *account, enum abuse_kind k,
    const struct abuse_thresholds *t)
{
	int rc;

	pthread_mutex_lock(&a->mu);
	rc = abuse_record_unlocked(a, account, k, t);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int
abuse_compromise(struct abuse *a, const char *account, const char *client,
    int have_score, double score, uint64_t now, const struct compromise_params *p)
{
	int rc;

	pthread_mutex_lock(&a->mu);
	rc = abuse_compromise_unlocked(a, account, client, have_score, score, now, p);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void
abuse_rates(const struct abuse *a, const char *account, struct abuse_rates *out)
{
	pthread_mutex_lock((pthread_mutex_t *)&a->mu);
	abuse_rates_unlocked(a, account, out);
	pthread_mutex_unlock((pthread_mutex_t *)&a->mu);
}
