/* SPDX-License-Identifier: ISC */
/*
 * auth_guard.c: the AUTH lockout and slow-down bookkeeping (the rule is
 * stated once, in include/auth_guard.h, and in postern.conf(5)).
 *
 * Three kinds of entry in one hash table (src/lib/hash.c): a pair
 * (client address, account name), an address and an account.  Every
 * admitted attempt is counted as a failure of all three at once, before
 * the password is verified (issue 12 item 10: forty guesses sent at the
 * same moment used to all be verified because failures were counted only
 * after scrypt); a success gives the reservation back.  Locks are set
 * when a failure brings a pair or an address to its threshold, and
 * admission also refuses while reserved failures alone reach it, so
 * attempts in flight can never exceed the threshold.  Accounts are
 * never locked (issue 12 item 9: five failures from anywhere used to
 * lock the rightful owner out from everywhere); they only slow down
 * attempts from addresses that are not known good for them.
 *
 * Failures are forgotten one lock period after the last one.  Memory
 * is bounded by what attackers can send: every entry is dropped by
 * auth_guard_expire() once it holds no lock, failure or trust.
 * Loop thread only; the caller passes the time (monotonic ms).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include "auth_guard.h"
#include "config.h"
#include "hash.h"
#include "util.h"

enum guard_kind { GUARD_PAIR, GUARD_IP, GUARD_ACCOUNT };

struct guard_entry {
	enum guard_kind kind;
	unsigned failures;		/* recent failures incl. reserved ones */
	unsigned inflight;		/* reserved, not yet done */
	uint64_t last;			/* time of the last failure or reservation */
	uint64_t locked_until;
	uint64_t trusted_until;		/* pair: authenticated recently */
	char client[64];
	char account[256];
};

struct auth_guard {
	pthread_mutex_t mu;		/* smtpd_loops: every loop's relay and the control
					 * socket share one guard; each call holds it */
	struct hash *h;			/* key -> struct guard_entry (owned) */
};

void
auth_guard_client(const char *addr, char *out, size_t outlen)
{
	struct in6_addr a6;
	char txt[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
		memset(a6.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, txt, sizeof(txt)) != NULL) {
			snprintf(out, outlen, "%s/64", txt);
			return;
		}
	}
	str_copy(out, addr, outlen);
}

void
auth_guard_params_from_config(struct auth_guard_params *p, const struct config *c)
{
	p->threshold = c->smtpd_auth_lockout_threshold;
	p->ip_threshold = c->smtpd_auth_lockout_ip_threshold;
	p->lock_ms = c->smtpd_auth_lockout_time;
	p->slowdown_threshold = c->smtpd_auth_slowdown_threshold;
	p->slowdown_max_ms = c->smtpd_auth_slowdown_max;
	p->max_concurrent = c->smtpd_auth_max_concurrent_per_ip;
}

struct auth_guard *
auth_guard_new(void)
{
	struct auth_guard *g = xcalloc(1, sizeof(*g));

	pthread_mutex_init(&g->mu, NULL);
	g->h = hash_new(free);
	return g;
}

void
auth_guard_free(struct auth_guard *g)
{
	if (g == NULL)
		return;
	hash_free(g->h);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static size_t
auth_guard_count_unlocked(const struct auth_guard *g)
{
	return hash_count(g->h);
}

/* KEY for an entry: kind letter, NUL, client, NUL, account (binary safe). */
static size_t
guard_key(char *key, size_t keylen, enum guard_kind kind, const char *client, const char *name)
{
	size_t cl = strlen(client), nl = strlen(name);

	if (cl > 63)
		cl = 63;
	if (nl > 255)
		nl = 255;
	if (2 + cl + 1 + nl > keylen)
		return 0;
	key[0] = "pia"[kind];
	key[1] = '\0';
	memcpy(key + 2, client, cl);
	key[2 + cl] = '\0';
	memcpy(key + 3 + cl, name, nl);
	return 3 + cl + nl;
}

static struct guard_entry *
guard_get(struct auth_guard *g, enum guard_kind kind, const char *client, const char *name,
    int create)
{
	char key[400];
	size_t klen;
	struct guard_entry *e;

	if (kind == GUARD_IP)
		name = "";
	else if (kind == GUARD_ACCOUNT)
		client = "";
	klen = guard_key(key, sizeof(key), kind, client, name);
	e = hash_get(g->h, key, klen);
	if (e == NULL && create) {
		e = xcalloc(1, sizeof(*e));
		e->kind = kind;
		str_copy(e->client, client, sizeof(e->client));
		str_copy(e->account, name, sizeof(e->account));
		hash_put(g->h, key, klen, e);
	}
	return e;
}

/* Failures older than one lock period (and not holding a lock) are forgotten. */
static void
guard_age(struct guard_entry *e, const struct auth_guard_params *p, uint64_t now)
{
	if (e->inflight == 0 && e->locked_until <= now && e->last + p->lock_ms < now)
		e->failures = 0;
	if (e->locked_until != 0 && e->locked_until <= now) {
		/* the lock ran out: start counting afresh */
		e->locked_until = 0;
		e->failures = e->inflight;
	}
}

/* The slow-down an account's next attempt from an untrusted address waits. */
static uint64_t
guard_slowdown(const struct guard_entry *a, const struct auth_guard_params *p)
{
	uint64_t d = AUTH_GUARD_SLOWDOWN_BASE_MS;
	unsigned over;

	if (a == NULL || p->slowdown_threshold <= 0 || a->failures < (uint64_t)p->slowdown_threshold)
		return 0;
	over = a->failures - (unsigned)p->slowdown_threshold;
	while (over-- > 0 && d < p->slowdown_max_ms)
		d *= 2;
	return d < p->slowdown_max_ms ? d : p->slowdown_max_ms;
}

/* The verdict on PAIR and IP (either may be NULL: nothing recorded). */
static enum auth_guard_verdict
guard_verdict(const struct guard_entry *pair, const struct guard_entry *ip,
    const struct auth_guard_params *p, uint64_t now)
{
	if (ip != NULL && (ip->locked_until > now ||
	    (p->ip_threshold > 0 && ip->failures >= p->ip_threshold)))
		return AUTH_GUARD_LOCKED_IP;
	if (pair != NULL && (pair->locked_until > now ||
	    (p->threshold > 0 && pair->failures >= p->threshold)))
		return AUTH_GUARD_LOCKED_PAIR;
	if (ip != NULL && p->max_concurrent > 0 && ip->inflight >= p->max_concurrent)
		return AUTH_GUARD_BUSY;
	return AUTH_GUARD_OK;
}

static enum auth_guard_verdict
auth_guard_check_unlocked(struct auth_guard *g, const struct auth_guard_params *p, const char *client,
    const char *name, uint64_t now)
{
	struct guard_entry *pair = guard_get(g, GUARD_PAIR, client, name, 0);
	struct guard_entry *ip = guard_get(g, GUARD_IP, client, name, 0);
	enum auth_guard_verdict v;

	if (pair != NULL)
		guard_age(pair, p, now);
	if (ip != NULL)
		guard_age(ip, p, now);
	v = guard_verdict(pair, ip, p, now);
	/* the cap on attempts in flight is admission's (it counts the refusal) */
	return v == AUTH_GUARD_BUSY ? AUTH_GUARD_OK : v;
}

static enum auth_guard_verdict
auth_guard_admit_unlocked(struct auth_guard *g, const struct auth_guard_params *p, const char *client,
    const char *name, uint64_t now, uint64_t *delay_ms)
{
	struct guard_entry *pair, *ip, *acct;
	enum auth_guard_verdict v;

	*delay_ms = 0;
	pair = guard_get(g, GUARD_PAIR, client, name, 1);
	ip = guard_get(g, GUARD_IP, client, name, 1);
	acct = guard_get(g, GUARD_ACCOUNT, client, name, 1);
	guard_age(pair, p, now);
	guard_age(ip, p, now);
	guard_age(acct, p, now);
	if ((v = guard_verdict(pair, ip, p, now)) == AUTH_GUARD_BUSY) {
		/* Over the cap of attempts in flight: not admitted and not
		 * counted; the relay lets the attempt wait for a slot (a burst
		 * of guesses still meets the lock: each admitted one is a
		 * failure until proven, and the lock refuses the rest). */
		return v;
	}
	if (v != AUTH_GUARD_OK)
		return v;
	if (pair->trusted_until <= now)
		*delay_ms = guard_slowdown(acct, p);
	pair->failures++;
	pair->inflight++;
	pair->last = now;
	ip->failures++;
	ip->inflight++;
	ip->last = now;
	acct->failures++;
	acct->inflight++;
	acct->last = now;
	return AUTH_GUARD_OK;
}

static void
guard_release(struct guard_entry *e, int ok)
{
	if (e == NULL)
		return;
	if (e->inflight > 0)
		e->inflight--;
	if (ok && e->failures > 0)
		e->failures--;
}

static int
auth_guard_done_unlocked(struct auth_guard *g, const struct auth_guard_params *p, const char *client,
    const char *name, enum auth_guard_result result, uint64_t now)
{
	int ok = result != AUTH_GUARD_FAILURE;
	struct guard_entry *pair = guard_get(g, GUARD_PAIR, client, name, 0);
	struct guard_entry *ip = guard_get(g, GUARD_IP, client, name, 0);
	struct guard_entry *acct = guard_get(g, GUARD_ACCOUNT, client, name, 0);
	int locked = 0;

	guard_release(pair, ok);
	guard_release(ip, ok);
	guard_release(acct, ok);
	if (result == AUTH_GUARD_VOID)
		return 0;
	if (ok) {
		if (pair != NULL) {
			pair->failures = pair->inflight;
			pair->trusted_until = now + AUTH_GUARD_TRUST_MS;
		}
		return 0;
	}
	if (pair != NULL) {
		pair->last = now;
		if (p->threshold > 0 && pair->failures >= p->threshold && pair->locked_until <= now) {
			pair->locked_until = now + p->lock_ms;
			locked = 1;
		}
	}
	if (ip != NULL) {
		ip->last = now;
		if (p->ip_threshold > 0 && ip->failures >= p->ip_threshold &&
		    ip->locked_until <= now) {
			ip->locked_until = now + p->lock_ms;
			locked = 1;
		}
	}
	if (acct != NULL)
		acct->last = now;
	return locked;
}

static void
auth_guard_succeeded_unlocked(struct auth_guard *g, const char *client, const char *name,
    uint64_t now)
{
	struct guard_entry *pair = guard_get(g, GUARD_PAIR, client, name, 1);

	/* as a verified success: the pair's failures go, it is trusted */
	pair->failures = pair->inflight;
	pair->trusted_until = now + AUTH_GUARD_TRUST_MS;
}

static int
auth_guard_trusted_unlocked(struct auth_guard *g, const char *client, const char *name, uint64_t now)
{
	struct guard_entry *pair = guard_get(g, GUARD_PAIR, client, name, 0);

	return pair != NULL && pair->trusted_until > now;
}

static void
auth_guard_expire_unlocked(struct auth_guard *g, const struct auth_guard_params *p, uint64_t now)
{
	struct hash_iter it;
	const char *key;
	size_t klen;
	void *v;

	hash_iter_init(&it, g->h);
	while (hash_next(&it, &key, &klen, &v)) {
		struct guard_entry *e = v;

		guard_age(e, p, now);
		if (e->inflight == 0 && e->failures == 0 && e->locked_until <= now &&
		    e->trusted_until <= now)
			hash_del(g->h, key, klen);
	}
}

static size_t
auth_guard_list_unlocked(struct auth_guard *g, const struct auth_guard_params *p, uint64_t now, int all,
    auth_guard_list_cb cb, void *arg)
{
	static const char *const kinds[] = { "pair", "address", "account" };
	struct hash_iter it;
	void *v;
	size_t n = 0;

	hash_iter_init(&it, g->h);
	while (hash_next(&it, NULL, NULL, &v)) {
		struct guard_entry *e = v;
		struct auth_guard_entry out;

		guard_age(e, p, now);
		memset(&out, 0, sizeof(out));
		out.kind = kinds[e->kind];
		out.client = e->client;
		out.account = e->account;
		out.failures = e->failures;
		out.inflight = e->inflight;
		out.locked_until = e->locked_until > now ? e->locked_until : 0;
		if (e->kind == GUARD_ACCOUNT)
			out.delay_ms = guard_slowdown(e, p);
		if (!all && out.locked_until == 0 && out.delay_ms == 0)
			continue;
		if (!all && e->kind != GUARD_ACCOUNT && out.locked_until == 0)
			continue;
		n++;
		if (cb != NULL)
			cb(arg, &out);
	}
	return n;
}

static size_t
auth_guard_unlock_unlocked(struct auth_guard *g, const char *target)
{
	struct hash_iter it;
	const char *key;
	size_t klen;
	void *v;
	size_t n = 0;

	hash_iter_init(&it, g->h);
	while (hash_next(&it, &key, &klen, &v)) {
		struct guard_entry *e = v;

		if ((e->kind != GUARD_ACCOUNT && strcmp(e->client, target) == 0) ||
		    (e->kind != GUARD_IP && strcmp(e->account, target) == 0)) {
			if (e->inflight > 0) {
				/* keep the reservation of attempts in flight, drop the rest */
				e->failures = e->inflight;
				e->locked_until = 0;
			} else {
				hash_del(g->h, key, klen);
			}
			n++;
		}
	}
	return n;
}

/* ---- the locked entry points (one guard for every SMTP loop) ---- */

#define GUARD_LOCKED(g, type, call) do { \
	type r_; \
	pthread_mutex_lock(&(g)->mu); \
	r_ = call; \
	pthread_mutex_unlock(&(g)->mu); \
	return r_; \
} while (0)

size_t
auth_guard_count(const struct auth_guard *g)
{
	GUARD_LOCKED((struct auth_guard *)g, size_t, auth_guard_count_unlocked(g));
}

enum auth_guard_verdict
auth_guard_check(struct auth_guard *g, const struct auth_guard_params *p, const char *client,
    const char *name, uint64_t now)
{
	GUARD_LOCKED(g, enum auth_guard_verdict, auth_guard_check_unlocked(g, p, client, name, now));
}

enum auth_guard_verdict
auth_guard_admit(struct auth_guard *g, const struct auth_guard_params *p, const char *client,
    const char *name, uint64_t now, uint64_t *delay_ms)
{
	GUARD_LOCKED(g, enum auth_guard_verdict,
	    auth_guard_admit_unlocked(g, p, client, name, now, delay_ms));
}

int
auth_guard_done(struct auth_guard *g, const struct auth_guard_params *p, const char *client,
    const char *name, enum auth_guard_result result, uint64_t now)
{
	GUARD_LOCKED(g, int, auth_guard_done_unlocked(g, p, client, name, result, now));
}

int
auth_guard_trusted(struct auth_guard *g, const char *client, const char *name, uint64_t now)
{
	GUARD_LOCKED(g, int, auth_guard_trusted_unlocked(g, client, name, now));
}

void
auth_guard_succeeded(struct auth_guard *g, const char *client, const char *name, uint64_t now)
{
	pthread_mutex_lock(&g->mu);
	auth_guard_succeeded_unlocked(g, client, name, now);
	pthread_mutex_unlock(&g->mu);
}

void
auth_guard_expire(struct auth_guard *g, const struct auth_guard_params *p, uint64_t now)
{
	pthread_mutex_lock(&g->mu);
	auth_guard_expire_unlocked(g, p, now);
	pthread_mutex_unlock(&g->mu);
}

/* CB runs with the guard held: it must not call back into the guard. */
size_t
auth_guard_list(struct auth_guard *g, const struct auth_guard_params *p, uint64_t now, int all,
    auth_guard_list_cb cb, void *arg)
{
	GUARD_LOCKED(g, size_t, auth_guard_list_unlocked(g, p, now, all, cb, arg));
}

size_t
auth_guard_unlock(struct auth_guard *g, const char *target)
{
	GUARD_LOCKED(g, size_t, auth_guard_unlock_unlocked(g, target));
}
