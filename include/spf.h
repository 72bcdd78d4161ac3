/* SPDX-License-Identifier: ISC */
/*
 * spf.h: "would the receiver see SPF pass?" (RFC 7208) for the envelope
 * sender's domain from our egress addresses (spf_egress_ips, else
 * smtp_bind_address).  policy/spf.c is the only file that uses libspf2.
 *
 * The relay calls spf_check_async() at MAIL FROM (authenticated or relay
 * sessions, sender not <>): the check runs in the uv thread pool
 * (libspf2 resolves synchronously, through our own DNS layer that asks
 * dns_servers, else the system resolver) and the callback runs on the
 * loop with a verdict.  Verdicts are cached per domain for the smallest
 * TTL of the records the evaluation used (bounded to 5 s .. 1 h; errors
 * 60 s).  The action is the account's `spf_action=` or spf_action:
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

#include "config.h"
#include "outcome.h"

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
/* 1 when CFG names egress IPs to check (spf_egress_ips or smtp_bind_address). */
int spf_enabled(const struct config *cfg);
/* The account's `spf_action=` if valid, else cfg->spf_action. */
enum spf_action spf_action_for(const struct config *cfg, const char *account_record);

/*
 * Blocking check (thread pool, CLI, tests).  SENDER is the envelope
 * sender address (local@domain).  Always fills V; returns 0.
 */
int spf_check(struct spf *s, const struct config *cfg, const char *account_record,
    const char *sender, struct spf_verdict *v);

typedef void (*spf_done_cb)(void *arg, const struct spf_verdict *v);

/*
 * Run spf_check() in the uv thread pool of LOOP; CB(ARG, verdict) runs on
 * the loop thread exactly once, also when the check could not be made
 * (then the verdict is a temperror).  The settings of CFG it needs,
 * ACCOUNT_RECORD and SENDER are copied (a reload may free CFG meanwhile);
 * S must outlive the job.  The verdict pointer is only
 * valid during CB.  Returns 0 or a negative errno from uv_queue_work (CB
 * is then not called).  A session that closes meanwhile must keep ARG
 * alive until CB (or mark it dead and let CB free it).
 */
int spf_check_async(struct spf *s, uv_loop_t *loop, const struct config *cfg,
    const char *account_record, const char *sender, spf_done_cb cb, void *arg);

/*
 * What the customer must publish: the mechanisms authorising our egress
 * IPs ("ip4:192.0.2.1 ip6:2001:db8::1"), and a complete record suggestion.
 */
void spf_required_mechanisms(const struct config *cfg, char *out, size_t outlen);

/*
 * TXT lookup through the same DNS path (dns_servers or the system
 * resolver), for `posternctl domain check`: each record's strings are
 * concatenated; up to MAX records into TXT[] (malloc'd, caller frees).
 * Returns the number of records (0 = none/NXDOMAIN) or -1 on a DNS error.
 */
int spf_dns_txt(const struct config *cfg, const char *name, char **txt, int max);

#endif
