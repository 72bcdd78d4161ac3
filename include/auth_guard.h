/* SPDX-License-Identifier: ISC */
/*
 * auth_guard.h: who may try a password, and how fast (issue 12, items
 * 9 and 10; postern.conf(5) "AUTH lockout").  One rule:
 *
 *   ("client address": IPv4 as it is, IPv6 its /64, auth_guard_client())
 *   - (account, client address): smtpd_auth_lockout_threshold failures
 *     lock that pair for smtpd_auth_lockout_time; the same account
 *     from other addresses is not affected.
 *   - client address, across account names: smtpd_auth_lockout_ip_threshold
 *     failures lock the address for smtpd_auth_lockout_time.
 *   - account, across addresses: never locked.  From
 *     smtpd_auth_slowdown_threshold failures on, each attempt from an
 *     address that has not authenticated as that account in the last
 *     24 hours waits first: 1 s, doubling per further failure, at most
 *     smtpd_auth_slowdown_max.
 *   - An attempt is reserved (counted as a failure) before it is
 *     verified and given back only when it succeeds, so attempts in
 *     flight count against the thresholds; at most
 *     smtpd_auth_max_concurrent_per_ip attempts per address are in
 *     flight at once; an attempt over that cap gets AUTH_GUARD_BUSY,
 *     uncounted, and the relay lets it wait for a slot (a customer's
 *     burst of connections is not refused; a burst of guesses meets
 *     the lock once the admitted ones have failed).
 *
 * Pure bookkeeping on the loop thread: no I/O, the caller passes the
 * time; CLIENT is always auth_guard_client()'s form of the address.
 * The relay (src/inbound/relay.c) asks and reports; the control
 * commands auth.lockouts / auth.unlock (src/control/cmd_auth.c) list
 * and clear.  Owned by posternd's "auth" module (src/daemon/auth_module.c).
 */
#ifndef POSTERN_AUTH_GUARD_H
#define POSTERN_AUTH_GUARD_H

#include <stddef.h>
#include <stdint.h>

struct auth_guard_params {
	int64_t threshold;		/* per (account, address) */
	int64_t ip_threshold;		/* per address, all names */
	uint64_t lock_ms;		/* lock time and failure memory */
	int64_t slowdown_threshold;	/* per account, all addresses; 0 = off */
	uint64_t slowdown_max_ms;
	int64_t max_concurrent;		/* attempts in flight per address; 0 = no cap */
};

/*
 * The "client address" the rule counts: an IPv4 address as it is, an
 * IPv6 address as its /64 ("2001:db8:1:2::/64"), since one IPv6 host
 * usually holds a whole /64 and could otherwise change address per
 * guess.  Anything else is copied.  OUT holds AUTH_GUARD_CLIENT_MAX.
 */
#define AUTH_GUARD_CLIENT_MAX 64
void auth_guard_client(const char *addr, char *out, size_t outlen);

struct config;
/* The smtpd_auth_* keys of CFG. */
void auth_guard_params_from_config(struct auth_guard_params *p, const struct config *cfg);

/* A pair that authenticated is exempt from its account's slow-down this long. */
#define AUTH_GUARD_TRUST_MS (24ULL * 3600 * 1000)
#define AUTH_GUARD_SLOWDOWN_BASE_MS 1000

enum auth_guard_verdict {
	AUTH_GUARD_OK = 0,		/* reserved: verify, then auth_guard_done() */
	AUTH_GUARD_LOCKED_PAIR,		/* 454 4.7.0 */
	AUTH_GUARD_LOCKED_IP,		/* 454 4.7.0 */
	AUTH_GUARD_BUSY,		/* too many in flight from the address: wait, then 454 4.7.0 */
};

struct auth_guard;
struct auth_guard *auth_guard_new(void);
void auth_guard_free(struct auth_guard *g);

/*
 * May CLIENT try NAME now?  On AUTH_GUARD_OK the attempt is reserved
 * (counted as a failure of the pair, the address and the account) and
 * *DELAY_MS is the slow-down to wait before verifying (0: none).
 */
enum auth_guard_verdict auth_guard_admit(struct auth_guard *g, const struct auth_guard_params *p,
    const char *client, const char *name, uint64_t now, uint64_t *delay_ms);

/* Is CLIENT or the pair locked?  Reserves nothing (the AUTH policy
 * stage); the cap on attempts in flight is left to auth_guard_admit(). */
enum auth_guard_verdict auth_guard_check(struct auth_guard *g, const struct auth_guard_params *p,
    const char *client, const char *name, uint64_t now);

/* 1 when CLIENT authenticated as NAME within AUTH_GUARD_TRUST_MS (its
 * password check goes first in the pool, and it skips the slow-down). */
int auth_guard_trusted(struct auth_guard *g, const char *client, const char *name, uint64_t now);

/* How a reserved attempt ended. */
enum auth_guard_result {
	AUTH_GUARD_FAILURE = 0,	/* wrong password, or unknown (client gone): stays a failure */
	AUTH_GUARD_SUCCESS = 1,	/* give it back, clear the pair, trust it for its account */
	AUTH_GUARD_VOID = -1,	/* nothing was verified (our tempfail): give it back */
};
/* Returns 1 when this failure locked the pair or the address. */
int auth_guard_done(struct auth_guard *g, const struct auth_guard_params *p,
    const char *client, const char *name, enum auth_guard_result result, uint64_t now);

/* CLIENT proved NAME's password without a reserved attempt (the
 * verified-credential cache, include/auth_cache.h): what a success does
 * (clear the pair, trust it), counting nothing in flight. */
void auth_guard_succeeded(struct auth_guard *g, const char *client, const char *name,
    uint64_t now);

/* Forget entries that hold nothing any more (call now and then). */
void auth_guard_expire(struct auth_guard *g, const struct auth_guard_params *p, uint64_t now);

/* One entry for auth_guard_list(): kind "pair", "address" or "account". */
struct auth_guard_entry {
	const char *kind;
	const char *client;		/* "" for "account" */
	const char *account;		/* "" for "address" */
	unsigned failures;		/* recent failures, attempts in flight included */
	unsigned inflight;
	uint64_t locked_until;		/* 0 = not locked (wall time of the caller's clock) */
	uint64_t delay_ms;		/* "account": the slow-down its next attempt waits */
};
typedef void (*auth_guard_list_cb)(void *arg, const struct auth_guard_entry *e);
/* Every entry that locks or slows something down now (ALL: every entry). */
size_t auth_guard_list(struct auth_guard *g, const struct auth_guard_params *p, uint64_t now,
    int all, auth_guard_list_cb cb, void *arg);

/* Clear every lock, failure count and slow-down of an address or an
 * account name (TARGET is tried as both).  Returns the entries cleared. */
size_t auth_guard_unlock(struct auth_guard *g, const char *target);

size_t auth_guard_count(const struct auth_guard *g);

#endif
