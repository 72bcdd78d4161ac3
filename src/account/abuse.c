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

#include <stdlib.h>
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


struct abuse {
	struct hash *accounts;	/* name -> struct window */
};

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

	a->accounts = hash_new(window_free);
	return a;
}

void
abuse_free(struct abuse *a)
{
	if (a == NULL)
		return;
	hash_free(a->accounts);
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

int
abuse_record(struct abuse *a, const char *account, enum abuse_kind k,
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

void
abuse_rates(const struct abuse *a, const char *account, struct abuse_rates *out)
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
