/* SPDX-License-Identifier: ISC */
/*
 * limits.c: the CONNECT, AUTH, MAIL and RCPT stages (DESIGN.md §7), one
 * function per row of the tables in policy/policy.c.  Each decides from
 * struct policy_req alone: the session facts the relay filled in, the
 * typed struct account_policy, and struct policy_env for anything kept
 * elsewhere (the account store, lockout and rate counters, the session's
 * limits, DNS).  They log their own refusal, one line each, with the
 * same fields the relay and listener logged before the stages existed:
 *
 *   CONNECT  networks     relay listener, client outside
 *                         smtpd_relay_networks: 554 5.7.1
 *            connections  smtpd_max_connections[_per_ip]: 421 4.7.0
 *   AUTH     lockout      (account, client IP) pair or client IP locked
 *                         out, or too many attempts in flight from the
 *                         IP: 454 4.7.0 (rule: include/auth_guard.h)
 *   MAIL     auth_required  submission without AUTH: 530 5.7.0 (RFC 4954 §6)
 *            account      re-read; lookup error 451 4.3.0; deleted or
 *                         suspended 550 5.7.1, paused 451 4.7.1
 *            sender_domain  sender outside the account's domains: 550 5.7.1
 *                         (a relay-listener account without domains
 *                         restricts nothing)
 *            size         SIZE= above the account limit: 552 5.3.4
 *                         (RFC 1870 §6); lowers the session's limit so
 *                         DATA/BDAT stop at it too
 *            rate         hourly_rate reached: 451 4.7.1
 *            spf          policy/spf.c; may pend on DNS
 *   RCPT     rcpt_limit   max_recipients: 452 4.5.3 (RFC 5321 §4.5.3.1.10)
 *   MAIL, RCPT restriction  the sender / recipient is restricted (GDPR
 *                         Art. 18, issue 17): accepted, but the message is
 *                         held (state held, reason restricted) and never
 *                         delivered until `subject unrestrict`
 *   EOM      nul          a NUL byte in the message with smtpd_reject_nul:
 *                         554 5.6.0 (the first EOM stage, in the pool)
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "policy.h"
#include "spf.h"
#include "util.h"

/* ---- CONNECT ---- */

void
policy_stage_networks(struct policy_req *req, struct outcome *out)
{
	if (!req->relay_listener || req->trusted)
		return;
	log_info("sid=%s event=refused reason=network client=%s", req->id, req->client_ip);
	outcome_reply(out, R_ACCESS_DENIED);
}

void
policy_stage_connections(struct policy_req *req, struct outcome *out)
{
	if ((int64_t)req->connections > req->params->limits.max_connections) {
		log_info("sid=%s event=refused reason=max_connections client=%s", req->id,
		    req->client_ip);
		outcome_reply(out, R_TOO_MANY_CONNECTIONS);
	} else if ((int64_t)req->connections_ip > req->params->limits.max_connections_per_ip) {
		log_info("sid=%s event=refused reason=max_connections_per_ip client=%s", req->id,
		    req->client_ip);
		outcome_reply(out, R_TOO_MANY_CONNECTIONS_FROM_IP);
	}
}

/* ---- AUTH ---- */

void
policy_stage_lockout(struct policy_req *req, struct outcome *out)
{
	const struct policy_env *env = req->env;
	int v;

	if (env == NULL || env->auth_locked == NULL)
		return;
	v = env->auth_locked(env->arg, req->client_ip, req->account ? req->account : "");
	if (v == POLICY_AUTH_ALLOWED)
		return;
	log_info("sid=%s event=auth result=%s client=%s", req->id,
	    v == POLICY_AUTH_BUSY ? "busy" : "locked", req->client_ip);
	outcome_reply(out, v == POLICY_AUTH_BUSY ? R_AUTH_BUSY : R_AUTH_LOCKED);
}

/* ---- MAIL ---- */

void
policy_stage_auth_required(struct policy_req *req, struct outcome *out)
{
	if (req->need_auth)
		outcome_reply(out, R_AUTH_REQUIRED);
}

void
policy_stage_account(struct policy_req *req, struct outcome *out)
{
	const struct policy_env *env = req->env;
	const struct account_policy *pol = NULL;
	int rc;

	if (req->account == NULL || env == NULL || env->account == NULL)
		return;
	rc = env->account(env->arg, req->account, &pol);
	if (rc == -ENOENT) {
		/* deleted while the session was open: as good as suspended */
		req->acct = NULL;
		log_warn("sid=%s event=reject reason=suspended account=%s", req->id, req->account);
		outcome_reply(out, R_ACCOUNT_SUSPENDED);
		return;
	}
	if (rc != 0) {
		outcome_reply(out, R_LOCAL_ERROR);
		return;
	}
	req->acct = pol;
	if (pol != NULL && pol->suspended) {
		log_warn("sid=%s event=reject reason=suspended account=%s", req->id, pol->name);
		outcome_reply(out, R_ACCOUNT_SUSPENDED);
	} else if (pol != NULL && pol->status == ACCOUNT_PAUSED) {
		/* paused for review (issue 16): AUTH works, new mail waits with the client */
		log_warn("sid=%s event=tempfail reason=paused account=%s", req->id, pol->name);
		outcome_reply(out, R_ACCOUNT_PAUSED);
	}
}

void
policy_stage_sender_domain(struct policy_req *req, struct outcome *out)
{
	const struct account_policy *pol = req->acct;
	char addr[LOG_ADDR_MAX];

	if (pol == NULL)
		return;
	/* Trusted networks book mail to smtpd_relay_account for its limits;
	 * a relay account without domains restricts no sender. */
	if (req->relay_listener && pol->ndomains == 0)
		return;
	if (domain_list_allows_sender(pol->domains, pol->ndomains, req->sender, strlen(req->sender)))
		return;
	log_info("sid=%s event=reject reason=sender_domain account=%s from=%s", req->id,
	    pol->name, log_addr(req->sender, strlen(req->sender), addr, sizeof(addr)));
	outcome_reply(out, R_SENDER_NOT_ALLOWED);
}

void
policy_stage_size(struct policy_req *req, struct outcome *out)
{
	const struct account_policy *pol = req->acct;
	const struct policy_env *env = req->env;
	uint64_t limit;

	if (pol == NULL)
		return;
	/* 0 = the global limit; passing it explicitly undoes an older account limit */
	limit = pol->max_message_size > 0 ? pol->max_message_size : req->params->limits.message_size_limit;
	if (env != NULL && env->set_limits != NULL)
		env->set_limits(env->arg, limit, 0);
	if (pol->max_message_size > 0 && req->declared_size > pol->max_message_size)
		outcome_reply(out, R_ACCOUNT_MESSAGE_TOO_BIG);
}

void
policy_stage_rate(struct policy_req *req, struct outcome *out)
{
	const struct account_policy *pol = req->acct;
	const struct policy_env *env = req->env;

	if (pol == NULL || pol->hourly_rate <= 0 || env == NULL || env->rate_reached == NULL)
		return;
	if (!env->rate_reached(env->arg, pol->name, pol->hourly_rate))
		return;
	log_info("sid=%s event=tempfail reason=rate account=%s", req->id, pol->name);
	outcome_reply(out, R_RATE_LIMITED);
}

/* The SPF verdict (loop thread): keep the warn header, log a refusal, go on. */
static void
policy_spf_answer(struct policy_req *req, const struct spf_verdict *v, struct outcome *out)
{
	str_copy(req->spf_header, v->header, sizeof(req->spf_header));
	*out = v->out;
	if (v->out.kind != OUTCOME_OK)
		log_info("sid=%s event=%s reason=spf status=%s", req->id,
		    v->out.kind == OUTCOME_PERMFAIL ? "reject" : "tempfail", v->out.enhanced);
}

static void
policy_spf_done(void *arg, const struct spf_verdict *v)
{
	struct policy_req *req = arg;
	struct outcome o;

	policy_spf_answer(req, v, &o);
	policy_stage_done(req, &o);
}

/*
 * Would the receiver see SPF pass for the sender's domain from our
 * egress IPs?  Answered from the verdict cache at once, else pending on
 * DNS lookups through env->dns.
 */
void
policy_stage_spf(struct policy_req *req, struct outcome *out)
{
	const struct policy_env *env = req->env;
	struct spf_verdict v;

	req->spf_header[0] = '\0';
	if (req->sender == NULL || req->sender[0] == '\0' || env == NULL || env->spf == NULL ||
	    env->dns == NULL || !spf_enabled(&req->params->spf) ||
	    spf_action_for(&req->params->spf, req->acct) == SPF_ACTION_IGNORE)
		return;
	if (spf_check_start(env->spf, &req->params->spf, req->acct, req->sender, env->dns, env->dns_arg,
	    policy_spf_done, req, &v) == SPF_PENDING) {
		out->kind = OUTCOME_PENDING;
		return;
	}
	policy_spf_answer(req, &v, out);
}

/* ---- RCPT ---- */

void
policy_stage_rcpt_limit(struct policy_req *req, struct outcome *out)
{
	const struct account_policy *pol = req->acct;

	if (pol != NULL && pol->max_recipients > 0 && (int64_t)req->nrcpts >= pol->max_recipients)
		outcome_reply(out, R_TOO_MANY_RECIPIENTS);
}

/* The sender (MAIL) or recipient (RCPT) is restricted for the account:
 * the transaction goes on, its message will be held (issue 17). */
void
policy_stage_restriction(struct policy_req *req, struct outcome *out)
{
	const char *addr = req->phase == POLICY_RCPT ? req->rcpt : req->sender;

	if (req->env == NULL || req->env->restricted == NULL || req->account == NULL ||
	    addr == NULL || *addr == '\0')
		return;
	if (req->env->restricted(req->env->arg, req->account, addr) == 1) {
		log_info("sid=%s event=restricted phase=%s", req->id ? req->id : "-",
		    policy_strphase(req->phase));
		out->kind = OUTCOME_HOLD;
	}
}

/* ---- EOM ---- */

/*
 * RFC 5321 §2.4 / RFC 5322 §2.3: text has no NUL, and we offer no
 * BINARYMIME.  A NUL reaches nothing downstream that treats mail as C
 * strings when it is refused here, before the message is stored.
 */
int
policy_stage_nul(struct policy_msg *m, struct outcome *out)
{
	int reject = m->params != NULL ? m->params->limits.reject_nul : 1;	/* the default */

	if (!reject || m->data.len == 0 ||
	    memchr(m->data.data, '\0', m->data.len) == NULL)
		return 0;
	outcome_reply(out, R_NUL_IN_MESSAGE);
	return 0;
}
