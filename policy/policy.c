/* SPDX-License-Identifier: ISC */
/*
 * policy.c: the stage runner and the stage table of every phase
 * (DESIGN.md §7).  A phase runs its stages in table order; the first
 * outcome that is neither ok nor hold ends the run and becomes the
 * answer.  Hold is remembered and the run goes on (later stages, DKIM
 * at EOM, still run); the final answer is then hold.  A stage that
 * answers OUTCOME_PENDING has started asynchronous work on the loop and
 * calls policy_stage_done() with its answer; the runner continues from
 * the next stage.  Stages never see each other, the queue or the
 * session: only struct policy_req and its struct policy_env.
 *
 * EOM stages are synchronous functions over struct policy_msg run in
 * the uv thread pool (policy_run_eom()); they share this runner, with a
 * hold asked for by setting m->hold.  Callers: src/inbound/ (the relay
 * runs every phase), tests/unit/test_policy.c.
 */
#include "autoconfig.h"

#include <string.h>

#include "dkim.h"
#include "dlp.h"
#include "histo.h"
#include "log.h"
#include "policy.h"
#include "spam.h"
#include "util.h"

/* The tables, one row per stage, in the order they run. */
static const struct policy_stage connect_stages[] = {
	{ .name = "networks", .check = policy_stage_networks },	/* relay listener: smtpd_relay_networks */
	{ .name = "connections", .check = policy_stage_connections },	/* smtpd_max_connections[_per_ip] */
};
static const struct policy_stage auth_stages[] = {
	{ .name = "lockout", .check = policy_stage_lockout },	/* per client IP and per account name */
};
static const struct policy_stage mail_stages[] = {
	{ .name = "auth_required", .check = policy_stage_auth_required },	/* RFC 4954 §6 */
	{ .name = "account", .check = policy_stage_account },	/* re-read; suspended or deleted */
	{ .name = "restriction", .check = policy_stage_restriction },	/* issue 17: restricted sender */
	{ .name = "sender_domain", .check = policy_stage_sender_domain },
	{ .name = "size", .check = policy_stage_size },		/* RFC 1870; sets the session limit */
	{ .name = "rate", .check = policy_stage_rate },		/* hourly_rate */
	{ .name = "spf", .check = policy_stage_spf },		/* issue 6: may pend on DNS */
};
static const struct policy_stage rcpt_stages[] = {
	{ .name = "rcpt_limit", .check = policy_stage_rcpt_limit },	/* max_recipients */
	{ .name = "suppression", .check = policy_stage_suppression },	/* issue 14: never send again */
	{ .name = "restriction", .check = policy_stage_restriction },	/* issue 17: restricted recipient */
};
static const struct policy_stage eom_stages[] = {
	{ .name = "nul", .run = policy_stage_nul },	/* smtpd_reject_nul: 554 5.6.0 */
	{ .name = "headers", .run = policy_headers },
	{ .name = "from_domain", .run = policy_from_domain },	/* issue 19: sender identity */
	{ .name = "dlp", .run = dlp_policy_stage },	/* MIME + sensitive data (policy/dlp_stage.c) */
	{ .name = "spam", .run = spam_policy_stage },	/* issue 15: score, tag/hold/reject (policy/spam_stage.c) */
	{ .name = "list_unsubscribe", .run = policy_list_unsubscribe },	/* issue 14: before DKIM */
	{ .name = "dkim", .run = dkimsign_stage_run },	/* issue 6: DKIM signs last (policy/dkim.c) */
};

/* Time spent in each EOM stage (zeros: HISTO_DURATION), for metrics. */
static struct histo eom_histo[ARRAY_SIZE(eom_stages)];

size_t
policy_eom_histograms(const char **names, struct histo *out, size_t max)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(eom_stages) && i < max; i++) {
		names[i] = eom_stages[i].name;
		histo_snapshot(&eom_histo[i], &out[i]);
	}
	return i;
}

const char *
policy_strphase(enum policy_phase p)
{
	switch (p) {
	case POLICY_CONNECT: return "connect";
	case POLICY_AUTH: return "auth";
	case POLICY_MAIL: return "mail";
	case POLICY_RCPT: return "rcpt";
	case POLICY_EOM: return "eom";
	case POLICY_NPHASES: break;
	}
	return "?";
}

const struct policy_stage *
policy_phase_stages(enum policy_phase phase, size_t *n)
{
	switch (phase) {
	case POLICY_CONNECT: *n = ARRAY_SIZE(connect_stages); return connect_stages;
	case POLICY_AUTH: *n = ARRAY_SIZE(auth_stages); return auth_stages;
	case POLICY_MAIL: *n = ARRAY_SIZE(mail_stages); return mail_stages;
	case POLICY_RCPT: *n = ARRAY_SIZE(rcpt_stages); return rcpt_stages;
	case POLICY_EOM: *n = ARRAY_SIZE(eom_stages); return eom_stages;
	case POLICY_NPHASES: break;
	}
	*n = 0;
	return NULL;
}

/* One stage; the outcome in OUT. */
static void
policy_stage_call(struct policy_req *req, const struct policy_stage *st, struct outcome *out)
{
	outcome_ok(out);
	out->text[0] = '\0';
	if (st->check != NULL) {
		st->check(req, out);
		return;
	}
	if (st->run != NULL && req->msg != NULL) {
		uint64_t t0 = histo_now_us();
		int rc = st->run(req->msg, out);

		/* the EOM table's stages are timed for the metrics */
		if (st >= eom_stages && st < eom_stages + ARRAY_SIZE(eom_stages))
			histo_observe(&eom_histo[st - eom_stages], histo_now_us() - t0);
		if (rc != 0 && out->kind == OUTCOME_OK) {
			/* the stage's name goes to the log, not to the client */
			log_warn("event=policy stage=%s error=failed", st->name);
			outcome_reply(out, R_LOCAL_ERROR);
		}
		if (out->kind == OUTCOME_OK && req->msg->hold)
			req->hold = 1;
	}
}

/* The phase is over with O (not ok, or the last stage was ok). */
static void
policy_finish(struct policy_req *req, const struct outcome *o)
{
	struct outcome fin = *o;

	if (fin.kind == OUTCOME_OK && req->hold)
		fin.kind = OUTCOME_HOLD;
	req->done(req->done_arg, req, &fin);
}

/*
 * Run stages from req->next until one pends or the phase is decided.
 * Returns 1 when a stage pends (policy_stage_done() goes on), else 0
 * after DONE has run.
 */
static int
policy_advance(struct policy_req *req)
{
	struct outcome out;

	outcome_ok(&out);
	out.text[0] = '\0';
	while (req->next < req->nstages) {
		const struct policy_stage *st = &req->stages[req->next++];

		policy_stage_call(req, st, &out);
		if (out.kind == OUTCOME_PENDING)
			return 1;
		if (out.kind == OUTCOME_HOLD) {
			req->hold = 1;
			continue;
		}
		if (out.kind != OUTCOME_OK) {
			req->decided_by = st->name;
			log_debug("sid=%s event=policy phase=%s stage=%s outcome=%s code=%d",
			    req->id ? req->id : "-", policy_strphase(req->phase), st->name,
			    outcome_strkind(out.kind), out.code);
			break;
		}
	}
	if (out.kind == OUTCOME_OK) {
		outcome_ok(&out);
		out.text[0] = '\0';
	}
	policy_finish(req, &out);
	return 0;
}

int
policy_run_stages(struct policy_req *req, const struct policy_stage *stages, size_t n,
    policy_done_cb done, void *arg)
{
	req->stages = stages;
	req->nstages = n;
	req->next = 0;
	req->hold = 0;
	req->decided_by = NULL;
	req->done = done;
	req->done_arg = arg;
	return policy_advance(req);
}

int
policy_phase_run(struct policy_req *req, policy_done_cb done, void *arg)
{
	size_t n;
	const struct policy_stage *st = policy_phase_stages(req->phase, &n);

	return policy_run_stages(req, st, n, done, arg);
}

void
policy_stage_done(struct policy_req *req, const struct outcome *o)
{
	const struct policy_stage *st = &req->stages[req->next - 1];

	if (o->kind == OUTCOME_HOLD) {
		req->hold = 1;
	} else if (o->kind != OUTCOME_OK) {
		req->decided_by = st->name;
		log_debug("sid=%s event=policy phase=%s stage=%s outcome=%s code=%d",
		    req->id ? req->id : "-", policy_strphase(req->phase), st->name,
		    outcome_strkind(o->kind), o->code);
		policy_finish(req, o);
		return;
	}
	(void)policy_advance(req);
}

/* ---- EOM: the same runner, synchronously, in a pool thread ---- */

struct policy_sync {
	struct outcome *out;
};

static void
policy_sync_done(void *arg, struct policy_req *req, const struct outcome *o)
{
	struct policy_sync *ps = arg;

	(void)req;
	*ps->out = *o;
}

int
policy_run(const struct policy_stage *stages, size_t n, struct policy_msg *m,
    struct outcome *out)
{
	struct policy_req req;
	struct policy_sync ps = { out };

	memset(&req, 0, sizeof(req));
	req.phase = POLICY_EOM;
	req.params = m->params;
	req.msg = m;
	req.stages = stages;
	req.nstages = n;
	req.next = m->eom_next < n ? m->eom_next : n;	/* resume after a DNS round */
	req.hold = m->hold;
	req.done = policy_sync_done;
	req.done_arg = &ps;
	outcome_ok(out);
	m->decided_by = NULL;
	if (policy_advance(&req) != 0) {
		/* a stage pends (the spam stage's DNS round): run it again
		 * once the caller has its answers */
		m->eom_next = req.next - 1;
		return 1;
	}
	if (out->kind == OUTCOME_HOLD) {
		/* the hold travels in m->hold; the answer stays a plain ok */
		outcome_ok(out);
		return 0;
	}
	if (out->kind == OUTCOME_OK) {
		outcome_ok(out);
		return 0;
	}
	m->decided_by = req.decided_by;
	return -1;
}

int
policy_run_eom(struct policy_msg *m, struct outcome *out)
{
	size_t n;
	const struct policy_stage *st = policy_phase_stages(POLICY_EOM, &n);

	return policy_run(st, n, m, out);
}
