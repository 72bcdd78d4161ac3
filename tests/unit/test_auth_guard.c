/* SPDX-License-Identifier: ISC */
/*
 * test_auth_guard: the AUTH guard's one rule (include/auth_guard.h;
 * issue 12 items 9 and 10) and the password-check pool
 * (include/auth_pool.h; item 11).
 *
 * Guard: a pair locks at its threshold and other addresses of the same
 * account stay free; an address locks across names; many addresses
 * guessing one account slow it down (doubling, capped) instead of
 * locking, and an address that authenticated before is exempt; attempts
 * reserved in flight count against the threshold (forty at once: only
 * the threshold's worth are admitted, and a right guess after them is
 * refused); the concurrency cap; a success gives its reservation back;
 * VOID; aging; listing; unlock by address and by account; expiry.
 *
 * Pool: jobs run off the loop and DONE runs on it; round-robin across
 * keys (a key with many jobs does not starve one with a single job);
 * urgent jobs (trusted pairs) first;
 * cancel of a queued job never runs it; free with nothing left.
 *
 * Verified-credential cache (include/auth_cache.h; issue 20 item 4):
 * a put tag matches until its TTL, and no other name, password or
 * stored hash (a new password's) gives that tag; two caches (two
 * processes) give different tags; TTL 0 keeps nothing; a shorter TTL on
 * reload drops what is held; auth_guard_succeeded() clears the pair's
 * failures and trusts it without anything in flight.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "auth_cache.h"
#include "auth_guard.h"
#include "auth_pool.h"
#include "tap.h"

static const struct auth_guard_params P = {
	.threshold = 3,
	.ip_threshold = 6,
	.lock_ms = 60000,
	.slowdown_threshold = 4,
	.slowdown_max_ms = 8000,
	.max_concurrent = 2,
};

/* One whole attempt: admit, then report RESULT. Returns the verdict. */
static enum auth_guard_verdict
attempt(struct auth_guard *g, const char *ip, const char *name, int result, uint64_t now,
    uint64_t *delay)
{
	uint64_t d = 0;
	enum auth_guard_verdict v = auth_guard_admit(g, &P, ip, name, now, &d);

	if (delay != NULL)
		*delay = d;
	if (v == AUTH_GUARD_OK)
		(void)auth_guard_done(g, &P, ip, name, result, now);
	return v;
}

struct listed {
	int pairs, addresses, accounts;
	uint64_t delay;
};

static void
count_cb(void *arg, const struct auth_guard_entry *e)
{
	struct listed *l = arg;

	if (strcmp(e->kind, "pair") == 0)
		l->pairs++;
	else if (strcmp(e->kind, "address") == 0)
		l->addresses++;
	else {
		l->accounts++;
		l->delay = e->delay_ms;
	}
}

static void
test_guard(void)
{
	struct auth_guard *g = auth_guard_new();
	uint64_t t = 1000000, d;
	struct listed l;
	char ip[32];
	int i, admitted, busy, verified, v;

	/* ---- pair lockout, other addresses unaffected (item 9) ---- */
	is_int(attempt(g, "192.0.2.1", "app1", AUTH_GUARD_FAILURE, t, NULL), AUTH_GUARD_OK, "1st failure");
	is_int(attempt(g, "192.0.2.1", "app1", AUTH_GUARD_FAILURE, t, NULL), AUTH_GUARD_OK, "2nd failure");
	is_int(attempt(g, "192.0.2.1", "app1", AUTH_GUARD_FAILURE, t, NULL), AUTH_GUARD_OK, "3rd failure");
	is_int(auth_guard_check(g, &P, "192.0.2.1", "app1", t), AUTH_GUARD_LOCKED_PAIR,
	    "the pair is locked at the threshold");
	is_int(auth_guard_check(g, &P, "192.0.2.2", "app1", t), AUTH_GUARD_OK,
	    "the same account from another address is not locked (the owner can still log in)");
	is_int(auth_guard_check(g, &P, "192.0.2.1", "app2", t), AUTH_GUARD_OK,
	    "the same address may still try another name (below the address threshold)");
	is_int(auth_guard_check(g, &P, "192.0.2.1", "app1", t + 60001), AUTH_GUARD_OK,
	    "the pair lock ends after lock_ms");

	/* ---- address lockout across names ---- */
	for (i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "n%d", i);
		(void)attempt(g, "192.0.2.9", name, AUTH_GUARD_FAILURE, t, NULL);
	}
	is_int(auth_guard_check(g, &P, "192.0.2.9", "app1", t), AUTH_GUARD_LOCKED_IP,
	    "six names from one address lock the address for every name");

	/* ---- many addresses, one account: slow down, never lock ---- */
	for (i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		(void)attempt(g, ip, "victim", AUTH_GUARD_FAILURE, t, &d);
		is_int(d, 0, "failure %d of the account: no slow-down yet", i + 1);
	}
	(void)attempt(g, "198.51.100.10", "victim", AUTH_GUARD_FAILURE, t, &d);
	is_int(d, 1000, "at the slow-down threshold: 1 s");
	(void)attempt(g, "198.51.100.11", "victim", AUTH_GUARD_FAILURE, t, &d);
	is_int(d, 2000, "then doubling: 2 s");
	for (i = 0; i < 5; i++)
		(void)attempt(g, "198.51.100.12", "victim", AUTH_GUARD_FAILURE, t, NULL);
	v = (int)auth_guard_admit(g, &P, "203.0.113.5", "victim", t, &d);
	is_int(v, AUTH_GUARD_OK, "a new address is still admitted for the account (not locked)");
	is_int(d, 8000, "slow-down capped at slowdown_max");
	(void)auth_guard_done(g, &P, "203.0.113.5", "victim", AUTH_GUARD_SUCCESS, t);
	memset(&l, 0, sizeof(l));
	(void)auth_guard_list(g, &P, t, 0, count_cb, &l);
	ok(l.accounts == 1 && l.delay == 8000, "lockouts lists the account under slow-down (%llu ms)",
	    (unsigned long long)l.delay);
	ok(auth_guard_trusted(g, "203.0.113.5", "victim", t + 1) &&
	    !auth_guard_trusted(g, "203.0.113.6", "victim", t + 1) &&
	    !auth_guard_trusted(g, "203.0.113.5", "victim", t + AUTH_GUARD_TRUST_MS + 1),
	    "trusted: that pair only, for AUTH_GUARD_TRUST_MS");
	(void)auth_guard_admit(g, &P, "203.0.113.5", "victim", t + 1, &d);
	is_int(d, 0, "an address that authenticated as the account is exempt from its slow-down");
	(void)auth_guard_done(g, &P, "203.0.113.5", "victim", AUTH_GUARD_SUCCESS, t + 1);

	/* ---- reservation: forty at once (item 10) ---- */
	admitted = 0;
	busy = 0;
	for (i = 0; i < 40; i++) {
		v = (int)auth_guard_admit(g, &P, "192.0.2.40", "app9", t, &d);
		if (v == AUTH_GUARD_OK)
			admitted++;
		else if (v == AUTH_GUARD_BUSY)
			busy++;
	}
	is_int(admitted, 2, "forty simultaneous attempts: the concurrency cap admits two");
	is_int(busy, 38, "the other 38 are told to wait for a slot (busy), not counted");
	/* the relay retries the waiting ones as slots free up: each admitted
	 * one is a failure until proven, so the pair locks at the threshold
	 * and no more than the threshold's worth is ever verified */
	verified = admitted;
	for (i = 0; i < 2; i++)
		(void)auth_guard_done(g, &P, "192.0.2.40", "app9", AUTH_GUARD_FAILURE, t);
	for (i = 0; i < 38; i++) {
		v = (int)auth_guard_admit(g, &P, "192.0.2.40", "app9", t, &d);
		if (v != AUTH_GUARD_OK)
			continue;
		verified++;
		(void)auth_guard_done(g, &P, "192.0.2.40", "app9", AUTH_GUARD_FAILURE, t);
	}
	ok(verified <= (int)P.threshold, "of the forty, %d were verified (threshold %d)", verified,
	    (int)P.threshold);
	is_int(auth_guard_check(g, &P, "192.0.2.40", "app9", t), AUTH_GUARD_LOCKED_PAIR,
	    "the burst reaches the lock: the pair is locked");
	is_int(auth_guard_admit(g, &P, "192.0.2.40", "app9", t, &d), AUTH_GUARD_LOCKED_PAIR,
	    "a right guess after the threshold is refused before verification");
	/* a customer's own burst: twenty right passwords at once all get in */
	admitted = 0;
	for (i = 0; i < 20; i++) {
		v = (int)auth_guard_admit(g, &P, "192.0.2.41", "app10", t, &d);
		if (v == AUTH_GUARD_OK) {
			admitted++;
			(void)auth_guard_done(g, &P, "192.0.2.41", "app10", AUTH_GUARD_SUCCESS, t);
		}
	}
	is_int(admitted, 20, "twenty right passwords one after another from one address: all admitted");
	is_int(auth_guard_check(g, &P, "192.0.2.41", "app10", t), AUTH_GUARD_OK,
	    "and nothing is locked");
	{
		struct auth_guard_params q = P;

		q.max_concurrent = 0;	/* no cap: the reservation alone bounds it */
		admitted = 0;
		for (i = 0; i < 40; i++)
			if (auth_guard_admit(g, &q, "192.0.2.41", "app9", t, &d) == AUTH_GUARD_OK)
				admitted++;
		is_int(admitted, 3, "without a cap, reservations in flight stop at the threshold");
		(void)auth_guard_done(g, &q, "192.0.2.41", "app9", AUTH_GUARD_SUCCESS, t);
		(void)auth_guard_done(g, &q, "192.0.2.41", "app9", AUTH_GUARD_FAILURE, t);
		(void)auth_guard_done(g, &q, "192.0.2.41", "app9", AUTH_GUARD_FAILURE, t);
		is_int(auth_guard_check(g, &q, "192.0.2.41", "app9", t), AUTH_GUARD_OK,
		    "a success clears the pair's failures");
	}
	is_int(attempt(g, "192.0.2.42", "app9", AUTH_GUARD_VOID, t, NULL), AUTH_GUARD_OK, "void");
	is_int(attempt(g, "192.0.2.42", "app9", AUTH_GUARD_VOID, t, NULL), AUTH_GUARD_OK, "void");
	is_int(attempt(g, "192.0.2.42", "app9", AUTH_GUARD_VOID, t, NULL), AUTH_GUARD_OK, "void");
	is_int(auth_guard_check(g, &P, "192.0.2.42", "app9", t), AUTH_GUARD_OK,
	    "attempts we could not verify (tempfail) give their reservation back");

	/* ---- unlock ---- */
	is_int(auth_guard_check(g, &P, "192.0.2.9", "x", t), AUTH_GUARD_LOCKED_IP, "still locked");
	ok(auth_guard_unlock(g, "192.0.2.9") >= 7, "unlock ADDRESS clears the address and its pairs");
	is_int(auth_guard_check(g, &P, "192.0.2.9", "n0", t), AUTH_GUARD_OK, "address free again");
	ok(auth_guard_unlock(g, "app9") >= 2, "unlock ACCOUNT clears its pairs");
	is_int(auth_guard_check(g, &P, "192.0.2.40", "app9", t), AUTH_GUARD_OK, "pair free again");
	is_int(auth_guard_unlock(g, "nobody-here"), 0, "unlock of an unknown target clears nothing");

	/* ---- IPv6: counted per /64 ---- */
	{
		char a[AUTH_GUARD_CLIENT_MAX], b[AUTH_GUARD_CLIENT_MAX], c4[AUTH_GUARD_CLIENT_MAX];

		auth_guard_client("2001:db8:1:2::17", a, sizeof(a));
		auth_guard_client("2001:db8:1:2:aaaa:bbbb:cccc:dddd", b, sizeof(b));
		auth_guard_client("192.0.2.7", c4, sizeof(c4));
		is_str(a, "2001:db8:1:2::/64", "an IPv6 client counts as its /64");
		is_str(b, a, "any address of the /64 is the same client");
		is_str(c4, "192.0.2.7", "IPv4 as it is");
		for (i = 0; i < 3; i++) {
			char addr[64], k[AUTH_GUARD_CLIENT_MAX];

			snprintf(addr, sizeof(addr), "2001:db8:1:2::%x", 100 + i);
			auth_guard_client(addr, k, sizeof(k));
			(void)attempt(g, k, "v6acct", AUTH_GUARD_FAILURE, t, NULL);
		}
		is_int(auth_guard_check(g, &P, a, "v6acct", t), AUTH_GUARD_LOCKED_PAIR,
		    "three guesses from three addresses of one /64 lock the pair");
		auth_guard_client("2001:db8:1:3::1", b, sizeof(b));
		is_int(auth_guard_check(g, &P, b, "v6acct", t), AUTH_GUARD_OK, "the next /64 is another client");
		ok(auth_guard_unlock(g, a) >= 1, "unlock by the /64");
	}

	/* ---- expiry ---- */
	auth_guard_expire(g, &P, t + 25ULL * 3600 * 1000);
	is_int(auth_guard_count(g), 0, "expiry forgets everything once nothing is held");
	auth_guard_free(g);
}

/* ---- pool ---- */

struct job {
	const char *key;
	int ran, done, status;
};

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static char order[64];
static size_t norder;
static int ndone;

/* The first job: holds the pool's one thread until every other job is
 * queued, so the order below is the pool's, not the scheduler's (the
 * test used to rely on the nice-19 thread starting late; under ASan on
 * a loaded machine it sometimes did not). */
static void
gate_work(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&order_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &order_mu);
	pthread_mutex_unlock(&order_mu);
	j->ran = 1;
}

static void
job_work(void *arg)
{
	struct job *j = arg;

	usleep(20000);
	pthread_mutex_lock(&order_mu);
	if (norder < sizeof(order) - 1)
		order[norder++] = j->key[0];
	pthread_mutex_unlock(&order_mu);
	j->ran = 1;
}

static void
job_done(void *arg, int status)
{
	struct job *j = arg;

	j->done = 1;
	j->status = status;
	ndone++;
}

static void
test_pool(void)
{
	uv_loop_t loop;
	struct auth_pool *p;
	struct job jobs[10], gate;
	struct auth_pool_job *h[10];
	int i;

	uv_loop_init(&loop);
	p = auth_pool_new(&loop, 1);
	ok(p != NULL, "pool starts");
	memset(jobs, 0, sizeof(jobs));
	memset(&gate, 0, sizeof(gate));
	/* one thread: the gate job runs first (or after the urgent one) and
	 * holds it until the rest are queued; it is not in ORDER */
	gate.key = "z";
	(void)auth_pool_submit(p, "z", 0, gate_work, job_done, &gate);
	for (i = 0; i < 6; i++) {
		jobs[i].key = "a";
		h[i] = auth_pool_submit(p, "a", 0, job_work, job_done, &jobs[i]);
	}
	jobs[6].key = "b";
	h[6] = auth_pool_submit(p, "b", 0, job_work, job_done, &jobs[6]);
	jobs[7].key = "c";
	h[7] = auth_pool_submit(p, "c", 0, job_work, job_done, &jobs[7]);
	jobs[8].key = "a";
	h[8] = auth_pool_submit(p, "a", 0, job_work, job_done, &jobs[8]);
	ok(h[8] != NULL, "submit");
	is_int(auth_pool_cancel(p, h[8]), 0, "a queued job can be cancelled");
	jobs[9].key = "u";
	h[9] = auth_pool_submit(p, "u", 1, job_work, job_done, &jobs[9]);
	pthread_mutex_lock(&order_mu);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&order_mu);
	while (ndone < 11)
		uv_run(&loop, UV_RUN_ONCE);
	ok(!jobs[8].ran && jobs[8].status == UV_ECANCELED, "a cancelled job never runs (UV_ECANCELED)");
	order[norder] = '\0';
	diag("order: %s", order);
	ok(strchr(order, 'b') != NULL && strchr(order, 'b') - order <= 2 &&
	    strchr(order, 'c') - order <= 3,
	    "round-robin: b and c run among the first jobs, not after a's six (%s)", order);
	ok(strchr(order, 'u') != NULL && strchr(order, 'u') - order <= 2,
	    "an urgent job (a pair that logged in before) goes before the queued ones (%s)", order);
	is_int(auth_pool_pending(p), 0, "nothing pending");
	auth_pool_free(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(&loop), 0, "the pool closes its handles");
}

static void
test_cache(void)
{
	static const char h1[] = "scrypt$16384$8$1$c2FsdDE=$aGFzaDE=";
	static const char h2[] = "scrypt$16384$8$1$c2FsdDI=$aGFzaDI=";
	struct auth_cache *c = auth_cache_new(1000), *other = auth_cache_new(1000);
	unsigned char t[AUTH_CACHE_TAG_LEN], u[AUTH_CACHE_TAG_LEN];
	struct auth_guard *g = auth_guard_new();
	struct auth_guard_params p = { 3, 100, 60000, 0, 15000, 2 };
	uint64_t delay;
	int i;

	auth_cache_tag(c, "app", h1, "pw", 2, t);
	ok(!auth_cache_check(c, t, 10), "cache: nothing before a put");
	auth_cache_put(c, t, 10);
	ok(auth_cache_check(c, t, 10) && auth_cache_check(c, t, 1009), "cache: a put tag matches within its TTL");
	auth_cache_tag(c, "app", h1, "pW", 2, u);
	ok(!auth_cache_check(c, u, 20), "cache: another password does not match");
	auth_cache_tag(c, "app", h1, "pw\0", 3, u);
	ok(!auth_cache_check(c, u, 20), "cache: a longer password does not match");
	auth_cache_tag(c, "ap", h1, "ppw", 3, u);
	ok(!auth_cache_check(c, u, 20), "cache: fields are length-prefixed (no shifting)");
	auth_cache_tag(c, "app", h2, "pw", 2, u);
	ok(!auth_cache_check(c, u, 20), "cache: a new stored hash (password set again) does not match");
	auth_cache_tag(other, "app", h1, "pw", 2, u);
	ok(memcmp(t, u, sizeof(t)) != 0, "cache: each cache has its own key");
	ok(!auth_cache_check(c, t, 1010), "cache: expired at its TTL");
	is_int((int)auth_cache_count(c), 0, "cache: an expired entry met is dropped");
	auth_cache_put(c, t, 2000);
	auth_cache_set_ttl(c, 500);
	ok(!auth_cache_check(c, t, 2001), "cache: a shorter TTL drops what is held");
	auth_cache_set_ttl(c, 0);
	auth_cache_put(c, t, 3000);
	ok(!auth_cache_check(c, t, 3000) && auth_cache_count(c) == 0, "cache: TTL 0 keeps nothing");
	auth_cache_free(c);
	auth_cache_free(other);

	for (i = 0; i < 2; i++) {
		ok(auth_guard_admit(g, &p, "10.0.0.1", "app", 100, &delay) == AUTH_GUARD_OK,
		    "guard: attempt admitted");
		auth_guard_done(g, &p, "10.0.0.1", "app", AUTH_GUARD_FAILURE, 100);
	}
	auth_guard_succeeded(g, "10.0.0.1", "app", 200);
	ok(auth_guard_trusted(g, "10.0.0.1", "app", 201), "guard: a cached success trusts the pair");
	ok(auth_guard_admit(g, &p, "10.0.0.1", "app", 300, &delay) == AUTH_GUARD_OK &&
	    auth_guard_done(g, &p, "10.0.0.1", "app", AUTH_GUARD_FAILURE, 300) == 0 &&
	    auth_guard_admit(g, &p, "10.0.0.1", "app", 300, &delay) == AUTH_GUARD_OK,
	    "guard: ... and cleared its failures (two more before the lock)");
	auth_guard_free(g);
}

int
main(void)
{
	plan(53 + 15);
	test_guard();
	test_pool();
	test_cache();
	return done();
}
