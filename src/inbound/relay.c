/* SPDX-License-Identifier: ISC */
/*
 * relay.c: the receiving composition root.  One relay_session per SMTP
 * connection answers the session's decisions by running the policy
 * phase for it (include/policy.h: the stage tables live in policy/) and
 * answering the session from the outcome:
 *
 *   CONNECT  networks, connection limits (the listener counts).
 *   AUTH     the lockout stage, then the attempt is reserved in the
 *            AUTH guard (src/account/auth_guard.c: per pair and per
 *            address lockout, per-account slow-down, attempts in
 *            flight per address), waits out a slow-down, and scrypt
 *            runs in the password-check pool (src/account/auth_pool.c,
 *            not libuv's pool, so EOM work never waits behind it)
 *            → 235, or 535 5.7.8 after smtpd_auth_failure_delay.
 *   MAIL     auth required, account (re-read here), sender domain,
 *            size (also sets the session's limit), hourly rate, SPF
 *            (pending on DNS lookups through src/net/dns.c).
 *   RCPT     recipient limit, suppression lists (reject 550 5.7.1, or
 *            accept and drop: the recipient is left out at end of
 *            message and never reaches the queue).
 *   EOM      the EOM stages run on a private copy of
 *            the envelope and account policy and on the message buffer
 *            itself (taken over from the session, not copied; added
 *            header fields travel beside it), then queue_commit() of its
 *            pieces; the session gets "250 2.0.0 Ok: queued as <id>" only
 *            from the commit callback (DESIGN.md §4).  Tempfails come
 *            back as 451/452 and the session stays usable.  They run
 *            on this loop for a message up to smtpd_eom_inline_max,
 *            in uv_queue_work beyond (relay_eom_dispatch()).
 *
 * This file fills struct policy_env with what the stages may not reach
 * themselves: account records from the queue's accounts table, the
 * lockout and rate counters, the session's limits, and DNS (c-ares)
 * for SPF.  It logs event=queued and event=auth, once each.  The
 * stages' settings are a struct policy_params built from the config
 * (policy_params_from_config()) into each phase and EOM job, beside
 * the config reference that phase or job holds until it is done: a
 * SIGHUP swaps r->cfg for new sessions' phases without freeing what
 * a running stage reads.
 *
 * Lifetime: the listener frees a relay_session when its connection
 * closes; work still in flight (auth, a pending phase, policy, commit,
 * failure-delay timer) holds a reference and finishes without touching
 * the SMTP session.  Everything runs on the loop thread except the pool
 * jobs, which see only their own copies.
 *
 * Loops (smtpd_loops): one relay per loop, each with its own c-ares
 * channel, SPF cache, blocklist state, password pool, caches and
 * counters; relay_share() points a loop's relay at loop 0's AUTH
 * guard, hourly rate counters and abuse windows, which lock inside,
 * so limits hold over all loops, and at loop 0's password pool (one
 * set of scrypt threads; results come back through a pool port).  The queue's callbacks come back to
 * the loop that called (queue_port_bind(), include/queue.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "addr.h"
#include "auth_cache.h"
#include "auth_guard.h"
#include "auth_pool.h"
#include "crypto.h"
#include "json.h"
#include "buf.h"
#include "dns.h"
#include "feedback.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "outcome.h"
#include "policy.h"
#include "queue.h"
#include "relay.h"
#include "review.h"
#include "smtp.h"
#include "spam.h"
#include "spf.h"
#include "suppress.h"
#include "util.h"

#define RELAY_ACCOUNT_CACHE_MS 5000
#define RELAY_LOCKOUT_GC_MS 60000
/* An attempt over the per-address cap of verifications in flight waits
 * for a slot (retried 20 ms, doubling to 100 ms) for at most this long,
 * then answers 454 4.7.0. */
#define RELAY_AUTH_BUSY_WAIT_MS 15000
#define RELAY_AUTH_BUSY_FIRST_MS 20
#define RELAY_AUTH_BUSY_MAX_STEP_MS 100

struct relay {
	uv_loop_t *loop;		/* borrowed */
	const struct config *cfg;	/* one reference (config_ref) */
	struct queue *q;		/* borrowed; may be NULL */
	struct auth_guard *guard;	/* owned when own_guard, else the daemon's */
	int own_guard;
	struct auth_pool *pool;		/* password checks; started at the first AUTH,
					 * or loop 0's (relay_share) */
	struct auth_pool_port *pool_port;	/* relay_share: the way back from loop 0's pool */
	struct auth_cache *auth_cache;	/* issue 20: verified credentials (memory only);
					 * loop 0's when shared */
	struct account_rate *rate;	/* owned unless shared (relay_share) */
	int shared;			/* rate, abuse and the cache are loop 0's relay's */
	uint64_t lockout_gc;		/* last expiry pass */
	struct account *relay_acct;	/* cached smtpd_relay_account record or NULL */
	uint64_t relay_acct_at;		/* when it was loaded (0 = never) */
	struct relay_stats stats;
	struct hash *acct_stats;	/* metrics_account_labels: name -> relay_account_stat */
	unsigned jobs;			/* auth and EOM work in flight */
	int dead;			/* relay_free() called while jobs were in flight */
	relay_idle_cb idle;
	void *idle_arg;
	struct spf *spf;		/* issue 6: SPF verdict cache (policy/spf.c) */
	struct abuse *abuse;		/* issue 16: per-account clients and volume */
	struct dns *dns;		/* SPF's DNS (c-ares); NULL if it could not open */
	const struct spam_store *spam;	/* issue 15: the spam model, borrowed, or NULL */
	struct dnsbl *dnsbl;		/* issue 15: blocklist state (src/inbound/dnsbl.c) */
};

/*
 * One phase run: allocated when a phase starts and freed when it is
 * decided, so an idle session carries none of it (about 1 KiB).
 */
struct relay_phase {
	struct policy_req req;
	const struct config *cfg;	/* one reference while req runs; params point into it */
	struct policy_params params;
};

struct relay_session {
	struct relay *r;		/* borrowed */
	enum relay_mode mode;
	char id[40];
	char client[64];
	char guard_client[AUTH_GUARD_CLIENT_MAX];	/* client as the AUTH guard counts it (IPv6: its /64) */
	struct smtp_session *s;		/* borrowed; NULL once detached */
	relay_resumed_cb resumed;
	void *owner;
	int in_eom;			/* the EOM stages run inline, inside on_message */
	struct account *acct;		/* authenticated account, owned */
	struct account *tacct;		/* relay listener: this transaction's copy of
					 * smtpd_relay_account's record, owned, or NULL */
	struct account_auth_req *auth_req;	/* in flight or NULL */
	char *guard_name;		/* attempted name of the reserved attempt, or NULL; owned */
	char *slow_pw;			/* password waiting out a slow-down, or NULL; owned, wiped */
	size_t slow_pwlen;
	int slowing;			/* the delay timer runs a slow-down (1) or waits for a
					 * verification slot of the address (2), not a failure delay */
	uint64_t busy_since;		/* monotonic ms the attempt began waiting for a slot */
	uint64_t busy_step;		/* its next retry interval */
	uv_timer_t delay;		/* AUTH failure delay, or slow-down */
	struct outcome delayed;		/* the reply the delay holds back */
	int refs;			/* owner + jobs in flight + timer handle */
	char *spf_header;		/* X-Postern-SPF: line for this MAIL, or NULL; owned */
	int detached;
	struct policy_env env;		/* the lookup seam for this session's stages */
	struct relay_phase *ph;		/* the phase being run (one at a time), or NULL; owned */
	int req_sync;			/* policy_phase_run() has not returned yet */
	struct outcome req_out;		/* its answer when it finished at once */
	int restricted;			/* this transaction names a restricted address */
	size_t *drops;			/* this transaction's recipients accepted but
					 * dropped (suppression_action = drop): indices
					 * into the envelope's rcpts; owned */
	size_t ndrops;
	/* The keyed index hashes of the last two addresses looked up (in
	 * turn; with one recipient, the sender, when a MAIL stage looked it
	 * up, and the recipient): the restriction and the suppression
	 * checks and the queued envelope share one HMAC per address (issue
	 * 20 item 2); an address not found here is hashed by the writer as
	 * before.  Addresses of the transaction under way only: allocated
	 * at its first lookup, wiped and freed at each MAIL, once the
	 * message's job has copied the hashes, and with the session
	 * (relay_memo_forget), so an idle session does not carry its 1 KiB. */
	struct relay_addr_memo {
		char addr[ADDR_MAX];
		unsigned char hash[ADDR_HASH_LEN];
	} *memo;			/* RELAY_MEMO_N entries, or NULL */
	unsigned memo_next;		/* entries stored since it was allocated */
};

#define RELAY_MEMO_N 2

struct relay_job {
	uv_work_t work;
	struct relay_session *rs;	/* holds a reference */
	struct relay *r;
	char *account;
	char *sender;
	int has_sender_hash;			/* the session's memo had it */
	unsigned char sender_hash[ADDR_HASH_LEN];
	struct queue_rcpt_in *rcpts;
	const char **rcpt_addrs;
	size_t nrcpts;
	char *envid;
	int ret_full, smtputf8, eightbit;
	struct account *acct;		/* owned copy for the pool thread, or NULL */
	char *helo;
	char *protocol;
	const struct config *cfg;	/* one reference; params point into it */
	struct policy_params params;	/* what the EOM stages read (pm.params) */
	struct policy_msg pm;		/* pm.data: the session's DATA buffer, taken over */
	struct iovec *iov;		/* the final message's pieces for queue_commit() */
	struct outcome out;
	int policy_rc;
	int rate_taken;
	int restricted;			/* held, reason restricted (issue 17) */
	char client_desc[64];
};

void
relay_set_spam(struct relay *r, const struct spam_store *store)
{
	r->spam = store;
}

const char *
relay_strmode(enum relay_mode m)
{
	switch (m) {
	case RELAY_MODE_SUBMISSION: return "submission";
	case RELAY_MODE_SUBMISSIONS: return "submissions";
	case RELAY_MODE_RELAY: return "relay";
	case RELAY_MODE_FEEDBACK: return "feedback";
	}
	return "?";
}

/* smtpd_auth_threads, 0 meaning auth_pool_default_threads() */
static unsigned
relay_auth_threads(const struct config *cfg)
{
	return cfg->smtpd_auth_threads > 0 ? (unsigned)cfg->smtpd_auth_threads :
	    auth_pool_default_threads();
}

struct relay *
relay_new(uv_loop_t *loop, const struct config *cfg, struct queue *q)
{
	struct relay *r = xcalloc(1, sizeof(*r));

	r->loop = loop;
	r->cfg = config_ref(cfg);
	r->q = q;
	r->guard = auth_guard_new();
	r->own_guard = 1;
	r->rate = account_rate_new();
	r->auth_cache = auth_cache_new(cfg->smtpd_auth_cache_ttl);
	r->spf = spf_new();
	r->abuse = abuse_new();
	{
		char err[256];

		if ((r->dns = dns_open(loop, &cfg->dns_servers, err, sizeof(err))) == NULL)
			log_warn("event=spf_dns_unavailable error=\"%s\"", err);
	}
	r->dnsbl = dnsbl_new(r->dns);
	dnsbl_configure(r->dnsbl, cfg);
	return r;
}

static void
relay_destroy(struct relay *r)
{
	if (r->own_guard)
		auth_guard_free(r->guard);
	if (r->shared)
		auth_pool_port_close(r->pool_port);	/* the pool is loop 0's relay's */
	else
		auth_pool_free(r->pool);	/* its last DONEs may still fill the cache */
	if (!r->shared) {
		account_rate_free(r->rate);
		auth_cache_free(r->auth_cache);
	}
	account_free(r->relay_acct);
	hash_free(r->acct_stats);
	spf_free(r->spf);
	dnsbl_free(r->dnsbl);
	if (!r->shared)
		abuse_free(r->abuse);
	dns_close(r->dns);
	config_unref(r->cfg);
	free(r);
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	if (r->jobs > 0) {
		r->dead = 1;	/* the last job frees it */
		return;
	}
	relay_destroy(r);
}

void
relay_set_idle_cb(struct relay *r, relay_idle_cb cb, void *arg)
{
	r->idle = cb;
	r->idle_arg = arg;
	if (cb != NULL && r->jobs == 0 && !r->dead)
		cb(arg);
}

unsigned
relay_busy(const struct relay *r)
{
	return r->jobs;
}

/* One piece of work finished: free a dead relay, or tell a waiter. */
static void
relay_job_ended(struct relay *r)
{
	if (--r->jobs > 0)
		return;
	if (r->dead)
		relay_destroy(r);
	else if (r->idle != NULL)
		r->idle(r->idle_arg);
}

void
relay_set_auth_guard(struct relay *r, struct auth_guard *g)
{
	if (r->own_guard)
		auth_guard_free(r->guard);
	r->guard = g;
	r->own_guard = 0;
}

void
relay_share(struct relay *r, struct relay *first)
{
	if (!r->shared) {
		account_rate_free(r->rate);
		abuse_free(r->abuse);
		auth_cache_free(r->auth_cache);
	}
	r->rate = first->rate;	/* all three lock inside */
	r->abuse = first->abuse;
	/* one verified-credential cache: a client's connections spread over
	 * the loops, and a login verified on one is known to all */
	r->auth_cache = first->auth_cache;
	r->shared = 1;
	relay_set_auth_guard(r, first->guard);
	/* one password pool for every loop: its threads and its fairness over
	 * addresses do not multiply with the loops; results come back here */
	if (first->pool == NULL)
		first->pool = auth_pool_new(first->loop, relay_auth_threads(first->cfg));
	auth_pool_free(r->pool);
	r->pool = first->pool;
	if (r->pool != NULL)
		r->pool_port = auth_pool_port_new(r->pool, r->loop);
}

void
relay_set_config(struct relay *r, const struct config *cfg)
{
	config_ref(cfg);	/* jobs in the pool hold their own reference */
	config_unref(r->cfg);
	r->cfg = cfg;
	r->relay_acct_at = 0;	/* smtpd_relay_account may have changed */
	auth_cache_set_ttl(r->auth_cache, cfg->smtpd_auth_cache_ttl);
	dnsbl_configure(r->dnsbl, cfg);	/* lists may have changed: canaries again */
}

void
relay_get_stats(const struct relay *r, struct relay_stats *out)
{
	*out = r->stats;
}

/*
 * Per-account message counters for the metrics, only when the operator
 * opted in (metrics_account_labels): at most RELAY_ACCOUNT_STATS
 * accounts get their own series, later ones count under "_other", so
 * the number of series stays bounded whatever the number of accounts.
 */
#define RELAY_ACCOUNT_STATS 100
enum { ACCT_ACCEPTED, ACCT_REJECTED, ACCT_TEMPFAILED };

static void
relay_count_account(struct relay *r, const char *name, int what)
{
	struct relay_account_stat *st;

	if (!r->cfg->metrics_account_labels || name == NULL || name[0] == '\0')
		return;
	if (r->acct_stats == NULL)
		r->acct_stats = hash_new(free);
	if ((st = hash_gets(r->acct_stats, name)) == NULL) {
		if (hash_count(r->acct_stats) >= RELAY_ACCOUNT_STATS)
			name = "_other";
		if ((st = hash_gets(r->acct_stats, name)) == NULL) {
			st = xcalloc(1, sizeof(*st));
			str_copy(st->account, name, sizeof(st->account));
			hash_puts(r->acct_stats, st->account, st);
		}
	}
	if (what == ACCT_ACCEPTED)
		st->accepted++;
	else if (what == ACCT_REJECTED)
		st->rejected++;
	else
		st->tempfailed++;
}

/* One more message refused in PHASE (MAIL or EOM) by the stage named
 * BY (NULL: no stage), for postern_messages_refused_total. */
static void
relay_count_refusal(struct relay *r, enum policy_phase phase, const char *by, int permfail)
{
	size_t n, i, slot = RELAY_REFUSAL_STAGES - 1;
	const struct policy_stage *st = policy_phase_stages(phase, &n);

	for (i = 0; by != NULL && i < n && i < RELAY_REFUSAL_STAGES - 1; i++)
		if (strcmp(st[i].name, by) == 0)
			slot = i;
	r->stats.refused[phase == POLICY_EOM][slot][permfail ? 0 : 1]++;
}

size_t
relay_account_stats(const struct relay *r, struct relay_account_stat *out, size_t max)
{
	struct hash_iter it;
	const char *k;
	size_t kl, n = 0;
	void *v;

	if (r == NULL || r->acct_stats == NULL)
		return 0;
	hash_iter_init(&it, r->acct_stats);
	while (n < max && hash_next(&it, &k, &kl, &v))
		out[n++] = *(const struct relay_account_stat *)v;
	return n;
}

/* Pool-thread lookup for account_auth(). */
static int
relay_lookup(void *arg, const char *name, char **text, size_t *len)
{
	struct queue *q = arg;

	if (q == NULL)
		return -ENOENT;
	return queue_kv_get(q, QUEUE_T_ACCOUNTS, name, text, len);
}

/*
 * The account the relay listener's mail is booked to, re-read at most
 * every few seconds.  An LMDB read is a memory-mapped lookup, cheap
 * enough for the loop; not having one means "no per-account limits".
 */
static struct account *
relay_trusted_account(struct relay *r)
{
	uint64_t now = now_mono_ms();
	char *text = NULL;
	size_t len = 0;

	if (r->relay_acct_at != 0 && now - r->relay_acct_at < RELAY_ACCOUNT_CACHE_MS)
		return r->relay_acct;
	account_free(r->relay_acct);
	r->relay_acct = NULL;
	r->relay_acct_at = now;
	if (r->q == NULL || r->cfg->smtpd_relay_account == NULL ||
	    *r->cfg->smtpd_relay_account == '\0')
		return NULL;
	if (queue_kv_get(r->q, QUEUE_T_ACCOUNTS, r->cfg->smtpd_relay_account, &text, &len) == 0) {
		r->relay_acct = account_parse(text, len);
		free(text);
	}
	return r->relay_acct;
}

/* Wipe and free the memo: at each MAIL, once a message's job has the
 * hashes, and with the session. */
static void
relay_memo_forget(struct relay_session *rs)
{
	if (rs->memo == NULL)
		return;
	crypto_wipe(rs->memo, RELAY_MEMO_N * sizeof(*rs->memo));
	free(rs->memo);
	rs->memo = NULL;
	rs->memo_next = 0;
}

static void
relay_session_unref(struct relay_session *rs)
{
	if (--rs->refs > 0)
		return;
	account_free(rs->acct);
	account_free(rs->tacct);
	free(rs->spf_header);
	free(rs->drops);
	free(rs->ph);	/* NULL: a running phase holds a reference */
	relay_memo_forget(rs);
	free(rs);
}

static void
relay_delay_closed(uv_handle_t *h)
{
	relay_session_unref(h->data);
}

/* ---- the lookup seam and the phase runner ---- */

static int relay_refresh_account(struct relay_session *rs);
static struct account *relay_account(struct relay_session *rs);

/* policy_env.account: the authenticated account, re-read; or the relay account. */
static int
relay_env_account(void *arg, const char *name, const struct account_policy **pol)
{
	struct relay_session *rs = arg;
	struct account *a;

	(void)name;
	*pol = NULL;
	if (rs->acct != NULL && relay_refresh_account(rs) != 0)
		return -1;
	/* the re-read replaced the record: the phase's request named the
	 * old one's name, which later stages (restriction, suppression)
	 * still read */
	if (rs->acct != NULL && rs->ph != NULL)
		rs->ph->req.account = rs->acct->name;
	if (rs->acct == NULL && rs->mode == RELAY_MODE_RELAY) {
		/* the session's own copy: the shared cache may be re-read while a
		 * stage of this transaction is pending */
		struct account *t = relay_trusted_account(rs->r);
		char *text;
		size_t len;

		account_free(rs->tacct);
		rs->tacct = NULL;
		if (t != NULL) {
			text = account_format(t, &len);
			rs->tacct = account_parse(text, len);
			free(text);
		}
	}
	if ((a = relay_account(rs)) != NULL)
		*pol = &a->pol;
	return 0;
}

/* The guard's rule from the config in force (include/auth_guard.h). */
static void
relay_guard_params(const struct relay *r, struct auth_guard_params *p)
{
	auth_guard_params_from_config(p, r->cfg);
}

static int
relay_guard_code(enum auth_guard_verdict v)
{
	switch (v) {
	case AUTH_GUARD_OK: return POLICY_AUTH_ALLOWED;
	case AUTH_GUARD_BUSY: return POLICY_AUTH_BUSY;
	case AUTH_GUARD_LOCKED_PAIR:
	case AUTH_GUARD_LOCKED_IP: break;
	}
	return POLICY_AUTH_LOCKED;
}

/* policy_env.auth_locked: may this session's address try NAME now? */
static int
relay_env_auth_locked(void *arg, const char *client_ip, const char *name)
{
	struct relay_session *rs = arg;
	struct relay *r = rs->r;
	struct auth_guard_params p;

	(void)client_ip;	/* the session's own address, rs->client */
	relay_guard_params(r, &p);
	return relay_guard_code(auth_guard_check(r->guard, &p, rs->guard_client, name, now_mono_ms()));
}

/* Would one more message exceed LIMIT?  Counted for real at end of message. */
static int
relay_env_rate_reached(void *arg, const char *account, int64_t limit)
{
	struct relay_session *rs = arg;
	uint64_t now = now_wall_ms();

	if (account_rate_take(rs->r->rate, account, now, limit) != 0)
		return 1;
	account_rate_untake(rs->r->rate, account, now);
	return 0;
}

/* The memo's hash of ADDR, if it has it: 1 and OUT, or 0. */
static int
relay_memo_get(const struct relay_session *rs, const char *addr, unsigned char out[ADDR_HASH_LEN])
{
	size_t i;

	for (i = 0; rs->memo != NULL && i < RELAY_MEMO_N && i < rs->memo_next; i++)
		if (strcmp(rs->memo[i].addr, addr) == 0) {
			memcpy(out, rs->memo[i].hash, ADDR_HASH_LEN);
			return 1;
		}
	return 0;
}

/* addr_index_hash() of ADDR through the session's memo: 0 or -1. */
static int
relay_addr_hash(struct relay_session *rs, const char *addr, unsigned char out[ADDR_HASH_LEN])
{
	struct relay_addr_memo *e;
	size_t len = strlen(addr);

	if (relay_memo_get(rs, addr, out))
		return 0;
	if (addr_index_hash(addr, len, out) != 0)
		return -1;
	if (len < sizeof(e->addr)) {
		if (rs->memo == NULL)
			rs->memo = xcalloc(RELAY_MEMO_N, sizeof(*rs->memo));
		e = &rs->memo[rs->memo_next++ % RELAY_MEMO_N];
		crypto_wipe(e, sizeof(*e));
		memcpy(e->addr, addr, len + 1);
		memcpy(e->hash, out, ADDR_HASH_LEN);
	}
	return 0;
}

/* policy_env.restricted: the (account, keyed hash of ADDR) restriction
 * record exists (issue 17; QUEUE_T_RESTRICTIONS). */
static int
relay_env_restricted(void *arg, const char *account, const char *addr)
{
	struct relay_session *rs = arg;
	unsigned char h[ADDR_HASH_LEN];
	char hex[ADDR_HASH_HEX], *key, *v = NULL;
	size_t len;
	int rc;

	if (rs->r->q == NULL || relay_addr_hash(rs, addr, h) != 0)
		return 0;	/* an address that does not normalise, or no index key */
	addr_hash_hex(h, hex);
	key = xasprintf("%s/%s", account, hex);
	rc = queue_kv_get(rs->r->q, QUEUE_T_RESTRICTIONS, key, &v, &len);
	free(key);
	free(v);
	return rc == 0;
}

static void
relay_env_set_limits(void *arg, uint64_t size_limit, size_t max_rcpts)
{
	struct relay_session *rs = arg;

	if (rs->s != NULL)
		smtp_session_set_limits(rs->s, size_limit, max_rcpts);
}

/* spf_dns_fn over src/net/dns.c. */
static int
relay_dns(void *arg, const char *name, int type, dns_cb cb, void *cbarg)
{
	struct relay *r = arg;

	if (r->dns == NULL)
		return -1;
	return dns_lookup(r->dns, name, type, cb, cbarg) != NULL ? 0 : -1;
}

/* policy_env.suppressed over the suppression store (src/account/suppress.c). */
static int
relay_env_suppressed(void *arg, const char *account, const char *rcpt, const char *action,
    char *reason, size_t reasonlen)
{
	struct relay_session *rs = arg;
	struct suppress_rec rec;
	unsigned char h[ADDR_HASH_LEN];
	char hex[ADDR_HASH_HEX], pseud[LOG_ADDR_MAX];
	int global, rc = -1;

	if (rs->r->q == NULL)
		return 0;
	if (relay_addr_hash(rs, rcpt, h) == 0) {
		addr_hash_hex(h, hex);
		rc = suppress_check_hex(rs->r->q, account, hex, &rec, &global);
	}
	if (rc == -1) {
		/* an address that does not normalise is no suppressed one; no
		 * index key means the store cannot be read */
		return addr_index_have_key() ? 0 : -1;
	}
	if (rc == 0)
		return 0;
	snprintf(reason, reasonlen, "%s%s", suppress_strreason(rec.reason),
	    global ? ", global list" : "");
	(void)suppress_event_hit(rs->r->q, global ? SUPPRESS_GLOBAL : account, hex,
	    log_pseudonym(rcpt, strlen(rcpt), pseud, sizeof(pseud)), rec.reason, action);
	return 1;
}

static void
relay_env_init(struct relay_session *rs)
{
	struct policy_env *e = &rs->env;

	memset(e, 0, sizeof(*e));
	e->arg = rs;
	e->account = relay_env_account;
	e->auth_locked = relay_env_auth_locked;
	e->rate_reached = relay_env_rate_reached;
	e->set_limits = relay_env_set_limits;
	e->restricted = relay_env_restricted;
	e->suppressed = relay_env_suppressed;
	e->dns = relay_dns;
	e->dns_arg = rs->r;
	e->spf = rs->r->spf;
}

static void relay_resume(struct relay_session *rs, const struct outcome *o);
static void relay_session_unref(struct relay_session *rs);
static int relay_guard_done(struct relay_session *rs, enum auth_guard_result result);

/* Fill the facts every phase shares. */
static struct policy_req *
relay_req(struct relay_session *rs, enum policy_phase phase)
{
	struct relay_phase *ph = xcalloc(1, sizeof(*ph));
	struct policy_req *q = &ph->req;

	if (rs->ph != NULL)	/* one phase at a time (STYLE rule 5): a broken invariant */
		fatal("event=bug what=relay_phase_overlap sid=%s", rs->id);
	rs->ph = ph;
	q->phase = phase;
	ph->cfg = config_ref(rs->r->cfg);	/* a SIGHUP may swap r->cfg while a stage pends */
	policy_params_from_config(&ph->params, ph->cfg);
	q->params = &ph->params;
	q->env = &rs->env;
	q->id = rs->id;
	q->client_ip = rs->client;
	q->relay_listener = rs->mode == RELAY_MODE_RELAY;
	return q;
}

/* The phase is decided: keep what the relay needs, answer the session. */
/* The customer's app hears of a message refused at the end of DATA
 * too: a "rejected" event in the webhook outbox (never an address). */
static void
relay_webhook_rejected(struct relay *r, struct relay_job *j)
{
	struct buf b;
	struct json_out jo;
	char reply[600];

	if (r->q == NULL)
		return;
	snprintf(reply, sizeof(reply), "%d %s %s", j->out.code, j->out.enhanced, j->out.text);
	buf_init(&b, 0);
	json_out_init(&jo, &b);
	json_obj_begin(&jo);
	json_kv_uint(&jo, "time", now_wall_ms());
	json_kv_str(&jo, "id", j->pm.msgid);
	json_kv_str(&jo, "account", j->account);
	json_kv_str(&jo, "event", "rejected");
	json_kv_str(&jo, "reply", reply);
	if (j->pm.message_id[0])
		json_kv_str(&jo, "message_id", j->pm.message_id);
	json_obj_end(&jo);
	if (queue_outbox_add(r->q, b.data, NULL, NULL) != 0)
		log_warn("sid=%s event=webhook_error error=\"cannot record the rejection\"", j->rs->id);
	buf_free(&b);
}

static void
relay_phase_done(void *arg, struct policy_req *req, const struct outcome *o)
{
	struct relay_session *rs = arg;
	struct relay *r = rs->r;

	if ((req->phase == POLICY_MAIL || req->phase == POLICY_RCPT) && o->kind == OUTCOME_HOLD)
		rs->restricted = 1;	/* the restriction stage: hold the message */
	if (req->phase == POLICY_MAIL) {
		free(rs->spf_header);
		rs->spf_header = req->spf_header[0] != '\0' ? xstrdup(req->spf_header) : NULL;
		if (o->kind == OUTCOME_PERMFAIL)
			r->stats.rejected++;
		else if (o->kind == OUTCOME_TEMPFAIL)
			r->stats.tempfailed++;
		if (o->kind == OUTCOME_PERMFAIL || o->kind == OUTCOME_TEMPFAIL)
			relay_count_refusal(r, POLICY_MAIL, req->decided_by,
			    o->kind == OUTCOME_PERMFAIL);
		if (o->kind == OUTCOME_PERMFAIL || o->kind == OUTCOME_TEMPFAIL)
			relay_count_account(r, rs->acct != NULL ? rs->acct->name : NULL,
			    o->kind == OUTCOME_PERMFAIL ? ACCT_REJECTED : ACCT_TEMPFAILED);
	}
	if (req->phase == POLICY_RCPT && req->rcpt_drop && o->kind == OUTCOME_OK) {
		/* accepted, and left out at end of message: it takes index nrcpts */
		rs->drops = xrealloc(rs->drops, (rs->ndrops + 1) * sizeof(*rs->drops));
		rs->drops[rs->ndrops++] = req->nrcpts;
	}
	/* The runner touches REQ no more once it has called us. */
	config_unref(rs->ph->cfg);
	free(rs->ph);
	rs->ph = NULL;
	if (rs->req_sync) {
		rs->req_out = *o;
		return;
	}
	relay_resume(rs, o);
	relay_session_unref(rs);
	relay_job_ended(r);
}

/* Run the phase set up in rs->ph: SMTP_DONE with OUT, or SMTP_PENDING. */
static int
relay_run_phase(struct relay_session *rs, struct outcome *out)
{
	struct relay *r = rs->r;

	rs->refs++;	/* a pending stage keeps the session alive */
	r->jobs++;
	rs->req_sync = 1;
	if (policy_phase_run(&rs->ph->req, relay_phase_done, rs) == 0) {
		rs->req_sync = 0;
		rs->refs--;
		r->jobs--;
		*out = rs->req_out;
		return SMTP_DONE;
	}
	rs->req_sync = 0;
	return SMTP_PENDING;
}

int
relay_on_connect(struct relay_session *rs, int trusted, size_t connections,
    size_t connections_ip, struct outcome *out)
{
	struct policy_req *q = relay_req(rs, POLICY_CONNECT);

	q->trusted = trusted;
	q->connections = connections;
	q->connections_ip = connections_ip;
	return relay_run_phase(rs, out);
}

struct relay_session *
relay_session_new(struct relay *r, enum relay_mode mode, const char *id,
    const char *client_addr, relay_resumed_cb resumed, void *owner)
{
	struct relay_session *rs = xcalloc(1, sizeof(*rs));

	rs->r = r;
	rs->mode = mode;
	str_copy(rs->id, id ? id : "-", sizeof(rs->id));
	str_copy(rs->client, client_addr ? client_addr : "", sizeof(rs->client));
	auth_guard_client(rs->client, rs->guard_client, sizeof(rs->guard_client));
	rs->resumed = resumed;
	rs->owner = owner;
	uv_timer_init(r->loop, &rs->delay);
	rs->delay.data = rs;
	rs->refs = 2;	/* the owner and the timer handle */
	relay_env_init(rs);
	return rs;
}

void
relay_session_attach(struct relay_session *rs, struct smtp_session *s)
{
	rs->s = s;
}

void
relay_session_free(struct relay_session *rs)
{
	if (rs == NULL)
		return;
	rs->detached = 1;
	rs->s = NULL;
	if (rs->auth_req != NULL) {
		account_auth_cancel(rs->auth_req);
		rs->auth_req = NULL;
		relay_session_unref(rs);	/* the auth callback will not come */
		relay_job_ended(rs->r);
	}
	if (rs->slow_pw != NULL) {
		/* gone while waiting out a slow-down: the timer's job ends here */
		crypto_wipe(rs->slow_pw, rs->slow_pwlen);
		free(rs->slow_pw);
		rs->slow_pw = NULL;
		relay_job_ended(rs->r);
	}
	/* an attempt whose answer the client will never see still counts */
	relay_guard_done(rs, AUTH_GUARD_FAILURE);
	uv_timer_stop(&rs->delay);
	uv_close((uv_handle_t *)&rs->delay, relay_delay_closed);
	relay_session_unref(rs);
}

/* Answer the pending session callback, then let the owner catch up. */
static void
relay_resume(struct relay_session *rs, const struct outcome *o)
{
	if (rs->detached || rs->s == NULL)
		return;
	smtp_session_resume(rs->s, o);
	/* inside on_message the answer is the callback's own: the owner
	 * flushes and reads again when the callback returns */
	if (rs->resumed != NULL && !rs->in_eom)
		rs->resumed(rs->owner);
}

/* ---- AUTH ---- */

/* The reserved attempt of RS ended with RESULT: 1 when a lock engaged. */
static int
relay_guard_done(struct relay_session *rs, enum auth_guard_result result)
{
	struct relay *r = rs->r;
	struct auth_guard_params p;
	int locked;

	if (rs->guard_name == NULL)
		return 0;
	relay_guard_params(r, &p);
	locked = auth_guard_done(r->guard, &p, rs->guard_client, rs->guard_name, result, now_mono_ms());
	free(rs->guard_name);
	rs->guard_name = NULL;
	return locked;
}

static void relay_auth_start(struct relay_session *rs, const char *name, const char *pw,
    size_t pwlen);

static int relay_auth_admit(struct relay_session *rs, const char *authcid, const char *password,
    size_t pwlen, struct outcome *out);
static int relay_auth_cached(struct relay_session *rs, const char *name, const char *password,
    struct outcome *out);

static void
relay_delay_fired(uv_timer_t *t)
{
	struct relay_session *rs = t->data;
	struct relay *r = rs->r;
	char *pw;
	size_t pwlen;

	if (!rs->slowing) {
		relay_resume(rs, &rs->delayed);
		return;
	}
	pw = rs->slow_pw;
	pwlen = rs->slow_pwlen;
	rs->slow_pw = NULL;
	if (rs->slowing == 2) {
		/* waited for a verification slot: the check ahead of it may have
		 * verified these very credentials (a burst of one application's
		 * connections), else try admission again */
		struct outcome o;

		rs->slowing = 0;
		if (relay_auth_cached(rs, rs->delayed.text, pw, &o) ||
		    relay_auth_admit(rs, rs->delayed.text, pw, pwlen, &o) == SMTP_DONE)
			relay_resume(rs, &o);
	} else {
		/* the slow-down is over: verify now */
		rs->slowing = 0;
		relay_auth_start(rs, rs->delayed.text, pw, pwlen);
	}
	crypto_wipe(pw, pwlen);
	free(pw);
	relay_job_ended(r);
}

/* A failed AUTH: count it, log it (once; SHOWN is the account name when
 * it may be logged, else NULL), then answer 535 after the configured delay. */
static void
relay_auth_failed(struct relay_session *rs, const char *name, const char *why,
    const char *shown)
{
	struct relay *r = rs->r;
	int locked;

	(void)name;
	r->stats.auth_failed++;
	locked = relay_guard_done(rs, AUTH_GUARD_FAILURE);
	/* The attempted name is AUTH data: it is not logged. */
	log_info("sid=%s event=auth result=fail reason=%s%s%s client=%s%s", rs->id, why,
	    shown ? " account=" : "", shown ? shown : "", rs->client,
	    locked ? " lockout=engaged" : "");
	outcome_reply(&rs->delayed, R_AUTH_INVALID);
	/* Always through the timer (0 = next loop turn): never re-entrant. */
	uv_timer_start(&rs->delay, relay_delay_fired, r->cfg->smtpd_auth_failure_delay, 0);
}

static void relay_auth_result(struct relay_session *rs, int result, struct account *a);


/* account_auth() callback: the relay's job count covers the whole answer. */
static void
relay_auth_done(void *arg, int result, struct account *a)
{
	struct relay_session *rs = arg;
	struct relay *r = rs->r;

	relay_auth_result(rs, result, a);
	relay_job_ended(r);
}

static void
relay_auth_result(struct relay_session *rs, int result, struct account *a)
{
	struct relay *r = rs->r;
	struct outcome o;

	rs->auth_req = NULL;
	if (rs->detached) {
		account_free(a);
		relay_session_unref(rs);
		return;
	}
	rs->refs--;	/* still held by the owner */
	if (result < 0) {
		relay_guard_done(rs, AUTH_GUARD_VOID);
		log_warn("sid=%s event=auth result=tempfail client=%s", rs->id, rs->client);
		outcome_reply(&o, R_AUTH_TEMPFAIL);
		relay_resume(rs, &o);
		return;
	}
	if (result == 0) {
		relay_auth_failed(rs, rs->delayed.text, "credentials", NULL);
		return;
	}
	if (a->pol.suspended) {
		/* Logged with the name: the credentials were right. */
		relay_auth_failed(rs, a->name, "suspended", a->name);
		outcome_reply(&rs->delayed, R_AUTH_SUSPENDED);	/* sent when the delay fires */
		account_free(a);
		return;
	}
	relay_guard_done(rs, AUTH_GUARD_SUCCESS);
	account_free(rs->acct);
	rs->acct = a;
	r->stats.auth_ok++;
	log_info("sid=%s event=auth result=ok account=%s client=%s", rs->id, a->name, rs->client);
	outcome_reply(&o, R_AUTH_OK);
	relay_resume(rs, &o);
}

int
relay_on_auth(struct relay_session *rs, const char *mech, const char *authzid,
    const char *authcid, const char *password, struct outcome *out)
{
	struct relay *r = rs->r;
	struct policy_req *q;

	(void)mech;
	if (rs->mode == RELAY_MODE_RELAY || rs->acct != NULL) {
		outcome_reply(out, R_ALREADY_AUTHENTICATED);
		return SMTP_DONE;
	}
	q = relay_req(rs, POLICY_AUTH);
	q->account = authcid;
	if (relay_run_phase(rs, out) != SMTP_DONE || out->kind != OUTCOME_OK) {
		r->stats.auth_locked++;
		return SMTP_DONE;	/* the AUTH stages never pend */
	}
	rs->busy_since = now_mono_ms();
	rs->busy_step = RELAY_AUTH_BUSY_FIRST_MS;
	if (authzid != NULL && *authzid != '\0' && strcmp(authzid, authcid) != 0) {
		/* No acting on behalf of another account (counted as a failure). */
		return relay_auth_admit(rs, authcid, NULL, 0, out);
	}
	if (relay_auth_cached(rs, authcid, password, out))
		return SMTP_DONE;
	return relay_auth_admit(rs, authcid, password, strlen(password), out);
}

/*
 * The password of NAME was verified by scrypt a moment ago (issue 20:
 * include/auth_cache.h): answer 235 now, with no scrypt, no pool and
 * no slot of the address's cap on checks in flight, which bounds
 * guesses; a guess never matches, so it goes the slow way below.  The
 * lockout stage has already run: a locked pair or address is refused
 * even with the right password, as before.  1 with OUT set, else 0.
 */
static int
relay_auth_cached(struct relay_session *rs, const char *name, const char *password,
    struct outcome *out)
{
	struct relay *r = rs->r;
	struct account *a;
	uint64_t now = now_mono_ms();

	if (r->q == NULL || account_auth_cached(r->auth_cache, relay_lookup, r->q, name, password,
	    strlen(password), now, &a) != 1)
		return 0;
	auth_guard_succeeded(r->guard, rs->guard_client, name, now);
	account_free(rs->acct);
	rs->acct = a;
	r->stats.auth_ok++;
	r->stats.auth_cached++;
	log_info("sid=%s event=auth result=ok account=%s client=%s cached=yes", rs->id, a->name,
	    rs->client);
	outcome_reply(out, R_AUTH_OK);
	return 1;
}

/*
 * Reserve the attempt before anything is verified (issue 12 item 10),
 * then verify it (after a slow-down if the name is being guessed from
 * many addresses).  PASSWORD NULL: the authzid named another account,
 * a failure once admitted.  An attempt over the address's cap of
 * verifications in flight waits for a slot instead of failing: a
 * customer application that opens twenty connections at once is not
 * locked out by its own burst, and a burst of guesses still gets at
 * most the threshold's worth verified (the others meet the lock).
 * SMTP_DONE with OUT set, or SMTP_PENDING (the session is answered
 * later).
 */
static int
relay_auth_admit(struct relay_session *rs, const char *authcid, const char *password,
    size_t pwlen, struct outcome *out)
{
	struct relay *r = rs->r;
	struct auth_guard_params p;
	enum auth_guard_verdict v;
	uint64_t now, delay = 0;

	relay_guard_params(r, &p);
	now = now_mono_ms();
	if (now - r->lockout_gc > RELAY_LOCKOUT_GC_MS) {
		auth_guard_expire(r->guard, &p, now);
		r->lockout_gc = now;
	}
	v = auth_guard_admit(r->guard, &p, rs->guard_client, authcid, now, &delay);
	if (v == AUTH_GUARD_BUSY && password != NULL &&
	    now - rs->busy_since < RELAY_AUTH_BUSY_WAIT_MS) {
		str_copy(rs->delayed.text, authcid, sizeof(rs->delayed.text));
		rs->slow_pwlen = pwlen;
		rs->slow_pw = xmalloc(pwlen + 1);
		memcpy(rs->slow_pw, password, pwlen);
		rs->slow_pw[pwlen] = '\0';
		rs->slowing = 2;
		r->jobs++;	/* ended by the timer or by relay_session_free() */
		uv_timer_start(&rs->delay, relay_delay_fired, rs->busy_step, 0);
		rs->busy_step = rs->busy_step * 2 > RELAY_AUTH_BUSY_MAX_STEP_MS ?
		    RELAY_AUTH_BUSY_MAX_STEP_MS : rs->busy_step * 2;
		return SMTP_PENDING;
	}
	if (v != AUTH_GUARD_OK) {
		r->stats.auth_locked++;
		log_info("sid=%s event=auth result=%s client=%s", rs->id,
		    v == AUTH_GUARD_BUSY ? "busy" : "locked", rs->client);
		outcome_reply(out, v == AUTH_GUARD_BUSY ? R_AUTH_BUSY : R_AUTH_LOCKED);
		return SMTP_DONE;
	}
	rs->guard_name = xstrdup(authcid);
	/* Stash the attempted name for the failure path (never logged). */
	str_copy(rs->delayed.text, authcid, sizeof(rs->delayed.text));
	if (password == NULL) {
		relay_auth_failed(rs, authcid, "authzid", NULL);
		return SMTP_PENDING;
	}
	if (delay > 0) {
		/* many addresses are guessing this name: slow down, do not lock out */
		log_info("sid=%s event=auth_slowdown client=%s delay=%" PRIu64 "ms", rs->id,
		    rs->client, delay);
		rs->slow_pwlen = pwlen;
		rs->slow_pw = xmalloc(pwlen + 1);
		memcpy(rs->slow_pw, password, pwlen);
		rs->slow_pw[pwlen] = '\0';
		rs->slowing = 1;
		r->jobs++;	/* ended by the timer or by relay_session_free() */
		uv_timer_start(&rs->delay, relay_delay_fired, delay, 0);
		return SMTP_PENDING;
	}
	relay_auth_start(rs, authcid, password, pwlen);
	return SMTP_PENDING;
}

/* Queue the password check in the pool; answers the session itself on failure. */
static void
relay_auth_start(struct relay_session *rs, const char *name, const char *pw, size_t pwlen)
{
	struct relay *r = rs->r;
	struct outcome o;

	if (r->pool == NULL && !r->shared)
		r->pool = auth_pool_new(r->loop, relay_auth_threads(r->cfg));
	auth_pool_port_bind(r->pool_port);	/* loop 0: NULL, the pool's own loop */
	/* a pair that logged in before goes first: customers do not queue behind a flood */
	rs->auth_req = r->pool == NULL ? NULL : account_auth_pooled(r->loop, r->pool,
	    r->auth_cache, rs->guard_client,
	    auth_guard_trusted(r->guard, rs->guard_client, name, now_mono_ms()),
	    relay_lookup, r->q, name, pw, pwlen, relay_auth_done, rs);
	if (rs->auth_req == NULL) {
		relay_guard_done(rs, AUTH_GUARD_VOID);
		log_warn("sid=%s event=auth result=tempfail reason=pool_full client=%s", rs->id,
		    rs->client);
		outcome_reply(&o, R_AUTH_TEMPFAIL);
		/* through the timer, like every other AUTH answer: never re-entrant */
		rs->delayed = o;
		uv_timer_start(&rs->delay, relay_delay_fired, 0, 0);
		return;
	}
	rs->refs++;
	r->jobs++;
}

/* ---- MAIL, RCPT ---- */

/*
 * Re-read the authenticated account at each MAIL, so a suspension, a
 * deletion or new limits apply to sessions already open (an LMDB read
 * is a lookup in a memory map).  A deleted account reads as suspended.
 * -1 on a lookup error.
 */
static int
relay_refresh_account(struct relay_session *rs)
{
	struct account *a;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (rs->r->q == NULL)
		return 0;
	rc = queue_kv_get(rs->r->q, QUEUE_T_ACCOUNTS, rs->acct->name, &text, &len);
	if (rc == -ENOENT) {
		rs->acct->pol.suspended = 1;
		return 0;
	}
	if (rc != 0)
		return -1;
	a = account_parse(text, len);
	free(text);
	if (a == NULL)
		return -1;
	account_free(rs->acct);
	rs->acct = a;
	return 0;
}

/* The account whose limits apply: the AUTH identity, or the relay account. */
static struct account *
relay_account(struct relay_session *rs)
{
	if (rs->acct != NULL)
		return rs->acct;
	if (rs->mode == RELAY_MODE_RELAY)
		return rs->tacct;	/* read at MAIL (relay_env_account) */
	return NULL;
}

int
relay_on_mail(struct relay_session *rs, const struct smtp_envelope *env, struct outcome *out)
{
	struct policy_req *q;

	if (rs->mode == RELAY_MODE_FEEDBACK) {
		/* the feedback listener (src/inbound/feedback.c): anyone may
		 * send, within small bounds; RCPT decides */
		if (rs->s != NULL)
			smtp_session_set_limits(rs->s, FEEDBACK_MAX_SIZE, FEEDBACK_MAX_RCPTS);
		outcome_reply(out, R_MAIL_OK);
		return SMTP_DONE;
	}
	q = relay_req(rs, POLICY_MAIL);

	rs->restricted = 0;	/* a new transaction */
	relay_memo_forget(rs);	/* nothing of an abandoned one (RSET) stays */
	free(rs->spf_header);
	rs->spf_header = NULL;
	rs->ndrops = 0;			/* a new transaction */
	account_free(rs->tacct);	/* re-read by the account stage */
	rs->tacct = NULL;
	/* RFC 4954 §6: submission needs AUTH first. */
	q->need_auth = rs->mode != RELAY_MODE_RELAY && rs->acct == NULL;
	if (rs->acct != NULL)
		q->account = rs->acct->name;
	else if (rs->mode == RELAY_MODE_RELAY && rs->r->cfg->smtpd_relay_account != NULL &&
	    *rs->r->cfg->smtpd_relay_account != '\0')
		q->account = rs->r->cfg->smtpd_relay_account;
	q->sender = env->sender;
	q->declared_size = env->declared_size;
	return relay_run_phase(rs, out);
}

int
relay_on_rcpt(struct relay_session *rs, const struct smtp_envelope *env,
    const struct smtp_rcpt *rcpt, struct outcome *out)
{
	struct policy_req *q;
	struct account *a = relay_account(rs);

	(void)env;
	if (rs->mode == RELAY_MODE_FEEDBACK) {
		outcome_reply(out, feedback_rcpt(rs->r->q, rs->r->cfg, rcpt->addr));
		return SMTP_DONE;
	}
	q = relay_req(rs, POLICY_RCPT);

	q->acct = a != NULL ? &a->pol : NULL;
	q->account = a != NULL ? a->name : NULL;
	q->sender = env->sender;
	q->nrcpts = env->nrcpts;
	q->rcpt = rcpt->addr;
	return relay_run_phase(rs, out);
}

/* ---- end of message ---- */

static void
relay_job_free(struct relay_job *j)
{
	struct relay *r;
	size_t i;

	for (i = 0; i < j->nrcpts; i++) {
		free(j->rcpts[i].addr);
		free(j->rcpts[i].orcpt);
	}
	free(j->rcpts);
	free(j->rcpt_addrs);
	free(j->account);
	free(j->sender);
	free(j->envid);
	account_free(j->acct);
	free(j->helo);
	free(j->protocol);
	config_unref(j->cfg);
	policy_msg_free(&j->pm);
	free(j->iov);
	if (j->rs != NULL)
		relay_session_unref(j->rs);
	r = j->r;
	free(j);
	relay_job_ended(r);
}

/* Give back the rate slot of a message that was not accepted. */
static void
relay_job_untake(struct relay_job *j)
{
	if (j->rate_taken)
		account_rate_untake(j->r->rate, j->account, now_wall_ms());
	j->rate_taken = 0;
}

/* Pool thread: the EOM stages on the job's own copy of the message. */
static void
relay_policy_work(uv_work_t *w)
{
	struct relay_job *j = w->data;

	outcome_ok(&j->out);
	j->policy_rc = policy_run_eom(&j->pm, &j->out);
}

/* The same in libuv's pool (smtpd_eom_threads), whose threads it names. */
static void
relay_policy_work_pool(uv_work_t *w)
{
	static __thread int named;

	if (!named) {
		named = 1;
		thread_name("eom-pool");
	}
	relay_policy_work(w);
}

static void relay_compromise(struct relay *r, struct relay_job *j, struct relay_session *rs);

static void
relay_commit_done(void *arg, const struct outcome *o, const char *msgid)
{
	struct relay_job *j = arg;
	struct relay_session *rs = j->rs;
	struct relay *r = j->r;
	struct outcome reply;
	char addr[LOG_ADDR_MAX], mid[sizeof(j->pm.message_id) * 4 + 3];

	if (o->kind == OUTCOME_OK) {
		r->stats.accepted++;
		relay_count_account(r, j->account, ACCT_ACCEPTED);
		/* The customer's Message-ID beside our id: their support can
		 * find the message in our log by the id their app recorded. */
		log_info("sid=%s event=queued qid=%s account=%s from=%s nrcpt=%zu size=%zu "
		    "message_id=%s%s", rs->id, msgid, *j->account ? j->account : "-",
		    log_addr(j->sender, strlen(j->sender), addr, sizeof(addr)), j->nrcpts,
		    policy_msg_len(&j->pm), j->pm.message_id[0] ? log_quote(j->pm.message_id,
		    strlen(j->pm.message_id), mid, sizeof(mid)) : "-",
		    j->pm.hold ? " state=held" : "");
		outcome_reply(&reply, R_QUEUED_AS, msgid);
		relay_compromise(r, j, rs);
	} else {
		relay_job_untake(j);
		r->stats.tempfailed++;
		log_warn("sid=%s event=tempfail reason=queue status=%s", rs->id, o->enhanced);
		reply = *o;
		if (reply.kind == OUTCOME_OK || reply.code < 400) {
			outcome_reply(&reply, R_QUEUE_ERROR);
		}
	}
	relay_resume(rs, &reply);
	relay_job_free(j);
}

static void relay_policy_done(uv_work_t *w, int status);

/*
 * Issue 20 items 4 and 5: where J's EOM stages run.  A message of at
 * most smtpd_eom_inline_max octets is scanned, scored and signed right
 * here on the session's loop: its work is bounded by its size (well
 * under a millisecond at the default 64 KiB, an RSA-2048 signature
 * included), and the pool's two thread hand-offs (a pool thread woken,
 * then this loop woken for the completion) cost about as much again on
 * a busy machine.  Larger messages go to the pool, so a big one never
 * holds the loop's other sessions.  0: always the pool.  The stages see
 * only the job's own copies either way; relay_policy_done() may answer
 * the session at once (a refusal), which the SMTP session takes as an
 * inline answer to its end-of-message callback.
 */
static int
relay_eom_dispatch(struct relay *r, struct relay_job *j)
{
	/* the size as received (postern.conf(5)), not the fields added to
	 * it; 0 is "never on the loop", an empty message included */
	if (r->cfg->smtpd_eom_inline_max > 0 &&
	    j->pm.data.len <= (size_t)r->cfg->smtpd_eom_inline_max) {
		r->stats.eom_loop++;
		relay_policy_work(&j->work);
		relay_policy_done(&j->work, 0);	/* may free J */
		return 0;
	}
	if (uv_queue_work(r->loop, &j->work, relay_policy_work_pool, relay_policy_done) != 0)
		return -1;
	r->stats.eom_pool++;
	return 0;
}

/* The spam stage's DNS round is over: run the EOM stages on from it. */
static void
relay_dnsbl_done(void *arg)
{
	struct relay_job *j = arg;
	struct relay_session *rs = j->rs;
	struct outcome o;

	if (rs->detached) {
		relay_job_untake(j);
		relay_job_free(j);
		return;
	}
	if (relay_eom_dispatch(j->r, j) != 0) {
		relay_job_untake(j);
		outcome_reply(&o, R_LOCAL_ERROR);
		relay_resume(rs, &o);
		relay_job_free(j);
	}
}

static void
relay_compromise_stored(void *arg, const struct outcome *o)
{
	struct account_status_change *c = arg;

	if (o->kind != OUTCOME_OK)
		log_warn("account=%s event=account_status_failed reason=\"%s\"", c->name, o->text);
	else if (c->moved)
		log_warn("account=%s event=account_status status=suspended reason=compromise",
		    c->name);
	free(c);
}

/*
 * Issue 16: a stolen credential's pattern (a new client address, a
 * volume spike and a high spam score at once, src/account/abuse.c)
 * suspends the account at once: the record, an account_status event
 * (reason compromise) and the hold of its queued mail in one
 * transaction (queue_review_account_update).  The score is the spam stage's
 * verdict; without one the pattern cannot show.
 */
static void
relay_compromise(struct relay *r, struct relay_job *j, struct relay_session *rs)
{
	const struct compromise_params p = { r->cfg->review_compromise_score,
		r->cfg->review_compromise_spike, r->cfg->review_compromise_min_volume };
	struct json_value *v = NULL;
	struct account *a;
	struct account_status_change *c;
	char *text = NULL;
	double score = 0;
	int have = 0;
	size_t i, len = 0;

	if (r->q == NULL || j->account == NULL || *j->account == '\0' || p.score == 0)
		return;
	if (j->pm.verdicts.len > 0 &&
	    (v = json_parse(j->pm.verdicts.data, j->pm.verdicts.len, NULL, 0)) != NULL &&
	    v->type == JSON_ARRAY)
		for (i = 0; i < v->n; i++) {
			const struct json_value *sc = json_get(v->items[i], "score");

			if (strcmp(json_get_str(v->items[i], "stage", ""), "spam") == 0 && sc != NULL &&
			    (sc->type == JSON_DOUBLE || sc->type == JSON_INT)) {
				score = sc->type == JSON_DOUBLE ? sc->d : (double)sc->i;
				have = 1;
			}
		}
	json_free(v);
	if (!abuse_compromise(r->abuse, j->account, rs->client, have, score, now_wall_ms(), &p))
		return;
	if (queue_kv_get(r->q, QUEUE_T_ACCOUNTS, j->account, &text, &len) != 0)
		return;
	a = account_parse(text, len);
	crypto_wipe(text, len);
	free(text);
	if (a == NULL || a->pol.suspended) {
		account_free(a);
		return;
	}
	/* the move itself is made by the writer on the record as it is then
	 * (account_status_update): a concurrent change of the account by
	 * another loop or an operator is kept, not overwritten */
	c = account_status_change_new(a->name, ACCOUNT_CHANGE_RAISE, ACCOUNT_SUSPENDED,
	    "compromise", NULL);
	c->set_suspended = 1;
	/* the pattern is this session's; the move is logged by
	 * relay_compromise_stored when the writer made it */
	log_warn("sid=%s account=%s event=compromise_suspected score=%.2f", rs->id, a->name, score);
	if (queue_review_account_update(r->q, a->name, account_status_update, c, 1, &c->moved,
	    NULL, NULL, relay_compromise_stored, c) != 0) {
		log_warn("account=%s event=account_status_failed reason=\"cannot queue\"", a->name);
		free(c);
	}
	account_free(a);
}

static void
relay_policy_done(uv_work_t *w, int status)
{
	struct relay_job *j = w->data;
	struct relay_session *rs = j->rs;
	struct relay *r = j->r;
	struct queue_msg_in in;
	struct outcome o;

	if (rs->detached) {
		relay_job_untake(j);
		relay_job_free(j);
		return;
	}
	if (status != 0) {
		outcome_reply(&j->out, R_LOCAL_ERROR);
		j->policy_rc = -1;
	}
	if (j->policy_rc == 1) {
		/* issue 15: the spam stage wants DNS blocklist answers */
		if (j->pm.spam_q == NULL ||
		    dnsbl_run(r->dnsbl, r->loop, rs->id, j->pm.spam_q, j->params.spam.dnsbl_timeout,
		    relay_dnsbl_done, j) != 0) {
			if (j->pm.spam_q != NULL)
				j->pm.spam_q->resumed = 1;	/* no DNS: go on without */
			else
				j->pm.eom_next++;	/* a stage pended without a reason: skip it */
			relay_dnsbl_done(j);
		}
		return;
	}
	if (j->out.kind == OUTCOME_TEMPFAIL || j->out.kind == OUTCOME_PERMFAIL) {
		relay_job_untake(j);
		if (j->out.kind == OUTCOME_PERMFAIL)
			r->stats.rejected++;
		else
			r->stats.tempfailed++;
		relay_count_account(r, j->account, j->out.kind == OUTCOME_PERMFAIL ?
		    ACCT_REJECTED : ACCT_TEMPFAILED);
		relay_count_refusal(r, POLICY_EOM, j->pm.decided_by,
		    j->out.kind == OUTCOME_PERMFAIL);
		if (j->out.kind == OUTCOME_PERMFAIL && j->acct != NULL && j->acct->pol.webhook)
			relay_webhook_rejected(r, j);
		log_info("sid=%s event=%s reason=policy status=%s", rs->id,
		    j->out.kind == OUTCOME_PERMFAIL ? "reject" : "tempfail", j->out.enhanced);
		relay_resume(rs, &j->out);
		relay_job_free(j);
		return;
	}
	if (r->q == NULL) {
		relay_job_untake(j);
		outcome_reply(&o, R_QUEUE_ERROR);
		relay_resume(rs, &o);
		relay_job_free(j);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.account = j->account;
	in.sender = j->sender;
	in.rcpts = j->rcpts;
	in.nrcpts = j->nrcpts;
	in.has_sender_hash = j->has_sender_hash;
	memcpy(in.sender_hash, j->sender_hash, sizeof(in.sender_hash));
	/* added fields + the one copy, streamed into the sealed chunks */
	j->iov = xcalloc(policy_msg_niov(&j->pm), sizeof(*j->iov));
	in.iov = j->iov;
	in.niov = policy_msg_iov(&j->pm, j->iov);
	in.state = j->pm.hold || j->restricted || j->out.kind == OUTCOME_HOLD ? QUEUE_HELD :
	    QUEUE_QUEUED;
	if (j->restricted) {
		/* the reason class the queue and the review see (queue_hold_reason) */
		static const char v[] = "{\"stage\":\"restriction\",\"action\":\"hold\"}";

		if (j->pm.verdicts.len >= 2 && j->pm.verdicts.data[j->pm.verdicts.len - 1] == ']') {
			j->pm.verdicts.len--;
			buf_append_str(&j->pm.verdicts, ",");
		} else {
			j->pm.verdicts.len = 0;
			buf_append_str(&j->pm.verdicts, "[");
		}
		buf_append_str(&j->pm.verdicts, v);
		buf_append_str(&j->pm.verdicts, "]");
		buf_append(&j->pm.verdicts, "", 1);
		j->pm.verdicts.len--;
	}
	in.envid = j->envid;
	in.ret_full = j->ret_full;
	in.smtputf8 = j->smtputf8;
	in.eightbit = j->eightbit;
	in.verdicts = j->pm.verdicts.len > 0 ? j->pm.verdicts.data : NULL;
	in.client = j->client_desc;
	in.zero_retention = j->pm.zero_retention;	/* X-Postern-Retention: 0 (issue 17) */
	in.id = j->pm.msgid;
	in.message_id = j->pm.message_id[0] ? j->pm.message_id : NULL;
	in.webhook = j->acct != NULL && j->acct->pol.webhook;
	in.message_id_hash = j->pm.message_id_hash;
	if (queue_commit(r->q, &in, relay_commit_done, j) != 0) {
		relay_job_untake(j);
		outcome_reply(&o, R_QUEUE_ERROR);
		relay_resume(rs, &o);
		relay_job_free(j);
	}
}

/* The feedback listener's additions are durable (or failed). */
static void
relay_feedback_done(void *arg, const struct outcome *o)
{
	struct relay_session *rs = arg;
	struct relay *r = rs->r;
	struct outcome reply;

	if (o->kind == OUTCOME_OK)
		outcome_reply(&reply, R_FEEDBACK_ACCEPTED);
	else
		reply = *o;	/* 451/452 from the queue: the sender retries */
	relay_resume(rs, &reply);
	relay_session_unref(rs);
	relay_job_ended(r);
}

int
relay_on_message(struct relay_session *rs, const struct smtp_envelope *env, struct buf *msg,
    struct outcome *out)
{
	struct relay *r = rs->r;
	struct account *a = relay_account(rs);
	struct relay_job *j;
	const char *helo, *proto;
	char pseud[LOG_ADDR_MAX];
	size_t i;
	int rc;

	if (rs->mode == RELAY_MODE_FEEDBACK) {
		/* bounded (FEEDBACK_MAX_SIZE) and parsed at once; never queued;
		 * 250 once what it adds is durable */
		const char **addrs = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*addrs));
		int pending;

		for (i = 0; i < env->nrcpts; i++)
			addrs[i] = env->rcpts[i].addr;
		rs->refs++;
		r->jobs++;
		pending = feedback_message(r->q, r->cfg, addrs, env->nrcpts, msg->data, msg->len,
		    relay_feedback_done, rs);
		free(addrs);
		if (pending)
			return SMTP_PENDING;
		rs->refs--;
		r->jobs--;
		outcome_reply(out, R_FEEDBACK_ACCEPTED);
		return SMTP_DONE;
	}
	if (rs->mode != RELAY_MODE_RELAY && rs->acct == NULL) {
		outcome_reply(out, R_AUTH_REQUIRED);
		return SMTP_DONE;
	}
	/* The account's size limit was set on the session by the MAIL stage
	 * "size" (smtp_session_set_limits): DATA/BDAT already stopped at it. */
	j = xcalloc(1, sizeof(*j));
	j->work.data = j;
	j->r = r;
	j->rs = rs;
	rs->refs++;
	r->jobs++;
	if (a != NULL) {
		char *text;
		size_t len;

		if (account_rate_take(r->rate, a->name, now_wall_ms(), a->pol.hourly_rate) != 0) {
			relay_job_free(j);
			outcome_reply(out, R_RATE_LIMITED);
			r->stats.tempfailed++;
			return SMTP_DONE;
		}
		j->rate_taken = a->pol.hourly_rate > 0;
		j->account = xstrdup(a->name);
		/* the pool thread gets its own copy: the relay account is re-read meanwhile */
		text = account_format(a, &len);
		j->acct = account_parse(text, len);
		free(text);
	} else {
		j->account = xstrdup("");
	}
	j->sender = xstrdup(env->sender);
	j->has_sender_hash = *env->sender != '\0' &&
	    relay_memo_get(rs, env->sender, j->sender_hash);
	j->restricted = rs->restricted;
	j->rcpts = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*j->rcpts));
	j->rcpt_addrs = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*j->rcpt_addrs));
	for (i = 0; i < env->nrcpts; i++) {
		size_t k, n = j->nrcpts;

		for (k = 0; k < rs->ndrops && rs->drops[k] != i; k++)
			;
		if (k < rs->ndrops)
			continue;	/* suppressed, accepted and dropped: never queued */
		j->rcpts[n].addr = xstrdup(env->rcpts[i].addr);
		j->rcpts[n].orcpt = env->rcpts[i].orcpt ? xstrdup(env->rcpts[i].orcpt) : NULL;
		j->rcpts[n].notify = env->rcpts[i].notify;
		/* the hash the RCPT checks made: the writer need not make it again */
		j->rcpts[n].has_hash = relay_memo_get(rs, env->rcpts[i].addr, j->rcpts[n].addr_hash);
		j->rcpt_addrs[n] = j->rcpts[n].addr;
		j->nrcpts++;
	}
	relay_memo_forget(rs);	/* the job has what it needs */
	if (j->nrcpts == 0) {
		/* every recipient was dropped: the client hears ok, nothing is kept */
		log_info("sid=%s event=dropped reason=suppressed nrcpt=%zu", rs->id, env->nrcpts);
		relay_job_untake(j);
		relay_job_free(j);
		outcome_reply(out, R_SUCCESS);
		return SMTP_DONE;
	}
	queue_new_id(j->pm.msgid);	/* List-Unsubscribe tokens name it */
	j->envid = env->envid ? xstrdup(env->envid) : NULL;
	j->ret_full = env->ret == SMTP_RET_FULL;
	j->smtputf8 = env->smtputf8;
	j->eightbit = env->body == SMTP_BODY_8BITMIME;
	helo = smtp_session_helo(rs->s);
	proto = smtp_session_protocol(rs->s);
	j->helo = helo ? xstrdup(helo) : NULL;
	j->protocol = proto ? xstrdup(proto) : NULL;
	snprintf(j->client_desc, sizeof(j->client_desc), "%s %s", relay_strmode(rs->mode),
	    log_pseudonym_recent(rs->client, strlen(rs->client), pseud, sizeof(pseud)));

	j->cfg = config_ref(r->cfg);	/* read in the pool; SIGHUP may swap r->cfg */
	policy_params_from_config(&j->params, j->cfg);
	j->pm.params = &j->params;
	j->pm.account = j->account;
	j->pm.acct = j->acct != NULL ? &j->acct->pol : NULL;
	j->pm.sender = j->sender;
	j->pm.rcpts = j->rcpt_addrs;
	j->pm.nrcpts = j->nrcpts;
	/* the session's buffer becomes the job's: no copy of the message */
	j->pm.data = *msg;
	buf_init(msg, msg->max);
	if (rs->spf_header != NULL) {
		/* issue 6: spf_action=warn: tell the customer what to fix */
		policy_msg_prepend(&j->pm, rs->spf_header, strlen(rs->spf_header));
	}
	buf_init(&j->pm.verdicts, 0);
	j->pm.client_helo = j->helo;
	j->pm.client_addr = rs->client[0] ? rs->client : NULL;
	j->pm.protocol = j->protocol;
	j->pm.spam = r->spam;
	rs->in_eom = 1;	/* an answer from here is this callback's (relay_resume) */
	rc = relay_eom_dispatch(r, j);
	rs->in_eom = 0;
	if (rc != 0) {
		relay_job_untake(j);
		relay_job_free(j);
		outcome_reply(out, R_LOCAL_ERROR);
		return SMTP_DONE;
	}
	return SMTP_PENDING;
}
