/* SPDX-License-Identifier: ISC */
/*
 * relay.h: the composition root for receiving mail (DESIGN.md §2, §7).
 * A relay_session sits between one SMTP session (smtp/) and the rest of
 * the system: it answers the session's CONNECT, AUTH, MAIL, RCPT and
 * end-of-message callbacks by running that phase's policy stages
 * (include/policy.h; it fills their struct policy_env with the accounts
 * table, the lockout and rate counters, the session's limits and DNS),
 * then account_auth() for AUTH and queue_commit() at the end.  The
 * connection owner (src/inbound/listener.c) does the I/O, counts
 * connections and forwards the session callbacks here; the relay never
 * sees a socket.
 */
#ifndef POSTERN_RELAY_H
#define POSTERN_RELAY_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "outcome.h"
#include "smtp.h"

struct queue;
struct relay;
struct relay_session;

enum relay_mode {
	RELAY_MODE_SUBMISSION = 0,	/* STARTTLS, AUTH required (587) */
	RELAY_MODE_SUBMISSIONS,		/* implicit TLS, AUTH required (465) */
	RELAY_MODE_RELAY,		/* trusted networks, no AUTH */
	RELAY_MODE_FEEDBACK,		/* feedback_listen: DSNs, ARF, unsubscribes; no AUTH */
};
const char *relay_strmode(enum relay_mode m);

/* Called after the relay resumed the session (the owner flushes its
 * writes, restarts reading, or closes when the session ended). */
typedef void (*relay_resumed_cb)(void *owner);

/* The relay takes a reference to CFG (config_ref); Q is borrowed and
 * must outlive the relay.  Q may be NULL
 * (then every message is answered 451 4.3.0 and AUTH finds no account). */
struct relay *relay_new(uv_loop_t *loop, const struct config *cfg, struct queue *q);
/* With work in flight the relay lives on until the last job ends. */
void relay_free(struct relay *r);
/* CB runs whenever no auth or EOM work is in flight (at once if none is);
 * the drain path of the daemon module waits on it. */
typedef void (*relay_idle_cb)(void *arg);
void relay_set_idle_cb(struct relay *r, relay_idle_cb cb, void *arg);
unsigned relay_busy(const struct relay *r);
/* smtpd_loops: make R (another loop's relay) use FIRST's AUTH guard,
 * hourly rate counters, abuse windows (shared, each locked inside) and
 * password pool (results back through a port); FIRST must outlive R. */
void relay_share(struct relay *r, struct relay *first);
/* SIGHUP: settings for new decisions; swaps the relay's reference to CFG
 * (jobs in flight keep their own). */
void relay_set_config(struct relay *r, const struct config *cfg);
/* The spam model the EOM stage scores with (include/spam.h), or NULL:
 * rules only.  STORE is borrowed and must outlive the relay. */
struct spam_store;
void relay_set_spam(struct relay *r, const struct spam_store *store);

/*
 * The spam stage's DNS blocklists, loop side (src/inbound/dnsbl.c): the
 * state of each list of spam_dnsbl / spam_uribl (RFC 5782 canary checks
 * at configure time; disabled when it answers them wrongly or refuses
 * with 127.255.255.x) and one message's DNS round.
 */
struct dnsbl;
struct dns;
struct spam_dnsq;
typedef void (*dnsbl_done_cb)(void *arg);
struct dnsbl *dnsbl_new(struct dns *dns);
void dnsbl_free(struct dnsbl *b);
/* Adopt CFG's lists and start their canary checks (start, SIGHUP). */
void dnsbl_configure(struct dnsbl *b, const struct config *cfg);
/* Look up Q's names (lists not disabled), each list within TIMEOUT_MS
 * of its own (a timeout is logged with session ID), set Q->resumed and call CB(ARG) on the loop when every
 * list has answered or timed out.  0, or -1 (no DNS: CB not called). */
int dnsbl_run(struct dnsbl *b, uv_loop_t *loop, const char *id, struct spam_dnsq *q,
    uint64_t timeout_ms, dnsbl_done_cb cb, void *arg);
/* Use the daemon's AUTH guard (shared with the control commands) instead
 * of the relay's own; G must outlive the relay. */
struct auth_guard;
void relay_set_auth_guard(struct relay *r, struct auth_guard *g);

/* One per connection.  ID and CLIENT_ADDR are copied. */
/*
 * The settings of policy/'s stages from CFG (src/inbound/policy_params.c,
 * the one place they are built; posternctl and the tests use it too).
 * P points into CFG (strings, lists): CFG must outlive every use of P.
 */
struct policy_params;
void policy_params_from_config(struct policy_params *p, const struct config *cfg);

struct relay_session *relay_session_new(struct relay *r, enum relay_mode mode,
    const char *id, const char *client_addr, relay_resumed_cb resumed, void *owner);
/* The session the callbacks below answer; set once, right after smtp_session_new(). */
void relay_session_attach(struct relay_session *rs, struct smtp_session *s);
/* The connection is gone: pending work is cancelled or finishes without
 * touching the session.  Call before smtp_session_free().  NULL is fine. */
void relay_session_free(struct relay_session *rs);

/* The smtp_callbacks the owner forwards (same arguments, minus arg). */
/* CONNECT: TRUSTED = client in smtpd_relay_networks; the listener's counts
 * include this connection.  Never pends. */
int relay_on_connect(struct relay_session *rs, int trusted, size_t connections,
    size_t connections_ip, struct outcome *out);
int relay_on_auth(struct relay_session *rs, const char *mech, const char *authzid,
    const char *authcid, const char *password, struct outcome *out);
int relay_on_mail(struct relay_session *rs, const struct smtp_envelope *env,
    struct outcome *out);
int relay_on_rcpt(struct relay_session *rs, const struct smtp_envelope *env,
    const struct smtp_rcpt *rcpt, struct outcome *out);
int relay_on_message(struct relay_session *rs, const struct smtp_envelope *env,
    struct buf *msg, struct outcome *out);

/* Counters for logs and tests. */
/*
 * Messages refused at MAIL FROM or at the end of DATA, by the policy
 * stage that refused them: refused[phase][stage][kind], phase 0 = MAIL,
 * 1 = EOM, stage = its index in policy_phase_stages() (the last slot
 * RELAY_REFUSAL_STAGES - 1 counts a refusal no stage made), kind 0 =
 * rejected (5xx), 1 = tempfailed (4xx).  A fixed, bounded label set.
 */
#define RELAY_REFUSAL_STAGES 16
struct relay_stats {
	unsigned long accepted, rejected, tempfailed, auth_ok, auth_failed, auth_locked;
	unsigned long auth_cached;	/* of auth_ok: answered from the verified-credential cache */
	unsigned long eom_loop, eom_pool;	/* EOM stage runs on the loop / in the pool */
	unsigned long refused[2][RELAY_REFUSAL_STAGES][2];
};
void relay_get_stats(const struct relay *r, struct relay_stats *out);
/* Per-account message counts (metrics_account_labels = yes; at most 100
 * accounts, then "_other"); copies up to MAX into OUT, returns how many. */
struct relay_account_stat {
	char account[65];
	unsigned long accepted, rejected, tempfailed;
};
size_t relay_account_stats(const struct relay *r, struct relay_account_stat *out, size_t max);

#endif
