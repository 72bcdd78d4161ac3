/* SPDX-License-Identifier: ISC */
/*
 * spf.h: "would the receiver see SPF pass?" (RFC 7208) for the envelope
 * sender's domain from our egress addresses (spf_egress_ips, else
 * smtp_bind_address).  policy/spf.c is the only file that uses libspf2,
 * and it has no resolver: the caller passes a DNS lookup function
 * (spf_dns_fn; the relay's is src/net/dns.c through struct policy_env).
 *
 * The relay's MAIL-phase stage calls spf_check_start() on the loop
 * (authenticated or relay sessions, sender not <>).  Skipped, malformed
 * and cached checks answer at once (SPF_DONE, verdict in *NOW); others
 * look up what libspf2 needs asynchronously and call CB on the loop
 * (SPF_PENDING).  Verdicts are cached per domain for the smallest TTL
 * of the records the evaluation used (bounded to 30 s .. 1 h; errors
 * 30 s).  The action is the account's spf_action (struct
 * account_policy) or spf_action:
 *   ignore  outcome ok, nothing else
 *   warn    outcome ok; log, and v->header is an `X-Postern-SPF:` field
 *           (with CRLF) the relay prepends to the message at EOM
 *   reject  fail/softfail/neutral/none: 550 5.7.23; permerror: 550 5.7.24;
 *           temperror: 451 4.7.24 (RFC 7372), text naming the record to fix
 * A pass is always ok with no header.
 */
#ifndef POSTERN_SPF_H
#define POSTERN_SPF_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dns.h"
#include "outcome.h"
#include "policy_params.h"

struct account_policy;

enum spf_result {
	SPF_R_NONE = 0,
	SPF_R_NEUTRAL,
	SPF_R_PASS,
	SPF_R_FAIL,
	SPF_R_SOFTFAIL,
	SPF_R_TEMPERROR,
	SPF_R_PERMERROR,
};

enum spf_action {
	SPF_ACTION_IGNORE = 0,
	SPF_ACTION_WARN,
	SPF_ACTION_REJECT,
};

struct spf_verdict {
	enum spf_result result;	/* worst over the egress IPs */
	enum spf_action action;
	char domain[256];	/* envelope sender's domain, lowercase */
	char ip[64];		/* the egress IP that got RESULT ("" if none configured) */
	int cached;		/* answered from the cache */
	int skipped;		/* not checked: no egress IPs, <> sender, or action ignore */
	char header[512];	/* "X-Postern-SPF: ...\r\n" when action warn and not pass; else "" */
	struct outcome out;	/* what to answer MAIL FROM with */
};

struct spf;

/* The cache; one per daemon, shared by all loops and threads. */
struct spf *spf_new(void);
void spf_free(struct spf *s);
/* Number of DNS queries sent so far (tests, metrics). */
uint64_t spf_dns_queries(const struct spf *s);

const char *spf_strresult(enum spf_result r);
const char *spf_straction(enum spf_action a);
/* "ignore", "warn", "reject" → A; 0 or -1. */
int spf_parse_action(const char *s, enum spf_action *a);
/* 1 when P names egress IPs to check (spf_egress_ips or smtp_bind_address). */
int spf_enabled(const struct policy_spf_params *p);
/* The account's spf_action when it sets one (POL may be NULL), else P->action. */
enum spf_action spf_action_for(const struct policy_spf_params *p, const struct account_policy *pol);

/*
 * The DNS the check asks: start a lookup of NAME (enum dns_type TYPE:
 * A, AAAA, MX, TXT); CB(CBARG, result) runs later on the loop thread,
 * exactly once, never from inside the call.  0, or -1 when the lookup
 * could not start (CB is then not called).  dns_lookup() of
 * src/net/dns.c has this shape.
 */
typedef int (*spf_dns_fn)(void *arg, const char *name, int type, dns_cb cb, void *cbarg);

typedef void (*spf_done_cb)(void *arg, const struct spf_verdict *v);

#define SPF_DONE 0
#define SPF_PENDING 1

/*
 * Check SENDER (local@domain) on the loop thread.  SPF_DONE: *NOW is
 * the verdict (skipped, malformed domain, or cached) and CB is not
 * called.  SPF_PENDING: CB(ARG, verdict) runs later on the loop exactly
 * once (the verdict pointer is valid only during CB); P and POL are
 * read only during this call; S must outlive the check, and so must
 * whatever DNS_ARG and ARG point to.
 */
int spf_check_start(struct spf *s, const struct policy_spf_params *p, const struct account_policy *pol,
    const char *sender, spf_dns_fn dns, void *dns_arg, spf_done_cb cb, void *arg,
    struct spf_verdict *now);

/*
 * What the customer must publish: the mechanisms authorising our egress
 * IPs ("ip4:192.0.2.1 ip6:2001:db8::1"), and a complete record suggestion.
 */
void spf_required_mechanisms(const struct policy_spf_params *p, char *out, size_t outlen);

#endif
