/* SPDX-License-Identifier: ISC */
/*
 * test_policy.c: the stage runner (policy/policy.c) and the
 * CONNECT..RCPT stages (policy/limits.c).  Runner: stages run in table
 * order, the first non-ok outcome wins and later stages do not run,
 * hold is remembered and the run goes on, a pending stage finishes
 * through policy_stage_done() and the runner continues with the next
 * stage, every phase has its table.  Stages: each decides from struct
 * policy_req and a fake struct policy_env (no queue, no session), with
 * the reply codes the relay answered before the stages existed; the
 * SPF stage pends on a fake DNS function and resumes the runner.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "account.h"
#include "dlp.h"
#include "policy.h"
#include "relay.h"
#include "tap.h"

static char trace[256];
static struct policy_req *pending_req;

static void
st_a(struct policy_req *r, struct outcome *o)
{
	(void)r;
	(void)o;
	strcat(trace, "a");
}

static void
st_hold(struct policy_req *r, struct outcome *o)
{
	(void)r;
	strcat(trace, "h");
	outcome_set(o, OUTCOME_HOLD, 250, "2.0.0", "held");
}

static void
st_fail(struct policy_req *r, struct outcome *o)
{
	(void)r;
	strcat(trace, "f");
	outcome_set(o, OUTCOME_PERMFAIL, 550, "5.7.1", "no");
}

static void
st_temp(struct policy_req *r, struct outcome *o)
{
	(void)r;
	strcat(trace, "t");
	outcome_set(o, OUTCOME_TEMPFAIL, 451, "4.7.1", "later");
}

static void
st_pend(struct policy_req *r, struct outcome *o)
{
	strcat(trace, "p");
	pending_req = r;
	o->kind = OUTCOME_PENDING;
}

static struct outcome got;
static int ndone;

static void
phase_done(void *arg, struct policy_req *r, const struct outcome *o)
{
	(void)arg;
	(void)r;
	got = *o;
	ndone++;
}

static int
run(const struct policy_stage *st, size_t n, struct policy_req *r)
{
	trace[0] = '\0';
	ndone = 0;
	memset(&got, 0, sizeof(got));
	return policy_run_stages(r, st, n, phase_done, NULL);
}

/* ---- a fake environment ---- */

static struct account *env_acct;
static int env_lookup_rc;
static int env_locked;
static int env_rate;
static uint64_t env_size_limit;

static int
fake_account(void *arg, const char *name, const struct account_policy **pol)
{
	(void)arg;
	(void)name;
	*pol = env_acct ? &env_acct->pol : NULL;
	return env_lookup_rc;
}

static int
fake_locked(void *arg, const char *ip, const char *name)
{
	(void)arg;
	(void)ip;
	(void)name;
	return env_locked;
}

static int
fake_rate(void *arg, const char *account, int64_t limit)
{
	(void)arg;
	(void)account;
	(void)limit;
	return env_rate;
}

static void
fake_limits(void *arg, uint64_t size, size_t rcpts)
{
	(void)arg;
	(void)rcpts;
	env_size_limit = size;
}

/* DNS: lookups wait here until the test answers them. */
struct fake_q {
	char name[256];
	int type;
	dns_cb cb;
	void *cbarg;
};
static struct fake_q fq[16];
static size_t nfq;
static unsigned nlookups;

static int
fake_dns(void *arg, const char *name, int type, dns_cb cb, void *cbarg)
{
	(void)arg;
	if (nfq >= 16)
		return -1;
	snprintf(fq[nfq].name, sizeof(fq[nfq].name), "%s", name);
	fq[nfq].type = type;
	fq[nfq].cb = cb;
	fq[nfq].cbarg = cbarg;
	nfq++;
	nlookups++;
	return 0;
}

/* Answer every waiting lookup: TXT of spf.test is SPF_TXT, the rest NXDOMAIN. */
static const char *spf_txt = "v=spf1 ip4:192.0.2.1 -all";

static void
fake_dns_answer_all(void)
{
	while (nfq > 0) {
		struct fake_q q = fq[--nfq];
		struct dns_result r;
		struct dns_rr rr;

		memset(&r, 0, sizeof(r));
		memset(&rr, 0, sizeof(rr));
		r.type = q.type;
		r.ttl = 300;
		if (q.type == DNS_T_TXT && strcmp(q.name, "spf.test") == 0) {
			r.status = DNS_OK;
			rr.type = DNS_T_TXT;
			rr.ttl = 300;
			rr.text = (char *)spf_txt;
			rr.len = strlen(spf_txt);
			r.n = 1;
			r.rr = &rr;
		} else {
			r.status = DNS_NXDOMAIN;
		}
		q.cb(q.cbarg, &r);
	}
}

static struct account *
mkacct(const char *record)
{
	return account_parse(record, strlen(record));
}

static struct config *
conf(const char *text)
{
	char err[256];
	struct config *c = config_parse("t.conf", text, strlen(text), err, sizeof(err));

	if (c == NULL)
		printf("# %s\n", err);
	return c;
}

/* policy_env.restricted for the tests: one restricted address of app1. */
static int
restricted_lookup(void *arg, const char *account, const char *addr)
{
	(void)arg;
	return strcmp(account, "app1") == 0 && strcasecmp(addr, "subject@example.test") == 0;
}

int
main(void)
{
	static const struct policy_stage order[] = {
		{ .name = "a", .check = st_a }, { .name = "h", .check = st_hold },
		{ .name = "a2", .check = st_a },
	};
	static const struct policy_stage first[] = {
		{ .name = "a", .check = st_a }, { .name = "t", .check = st_temp },
		{ .name = "f", .check = st_fail }, { .name = "a2", .check = st_a },
	};
	static const struct policy_stage pend[] = {
		{ .name = "a", .check = st_a }, { .name = "p", .check = st_pend },
		{ .name = "a2", .check = st_a }, { .name = "f", .check = st_fail },
	};
	struct policy_req r;
	struct policy_env env;
	struct outcome o;
	struct config *cfg;
	struct policy_params pp;
	struct spf *spf;
	enum policy_phase ph;
	const struct policy_stage *st;
	size_t n;

	plan(61);

	/* ---- the runner ---- */
	memset(&r, 0, sizeof(r));
	is_int(run(order, 3, &r), 0, "no stage pends: done at once");
	is_str(trace, "aha", "stages run in table order; hold does not stop the run");
	ok(ndone == 1 && got.kind == OUTCOME_HOLD, "... and the answer is hold");
	is_int(run(first, 4, &r), 0, "done");
	is_str(trace, "at", "the first non-ok outcome ends the run");
	ok(got.kind == OUTCOME_TEMPFAIL && got.code == 451 && strcmp(got.enhanced, "4.7.1") == 0,
	    "... and is the answer");
	is_int(run(pend, 4, &r), 1, "a pending stage: the run pends");
	ok(ndone == 0 && strcmp(trace, "ap") == 0, "nothing after it has run, no answer yet");
	outcome_ok(&o);
	policy_stage_done(pending_req, &o);
	ok(ndone == 1 && strcmp(trace, "apaf") == 0, "completion goes on with the next stage");
	ok(got.kind == OUTCOME_PERMFAIL && got.code == 550, "... and a later stage's refusal wins");
	run(pend, 4, &r);
	outcome_set(&o, OUTCOME_TEMPFAIL, 451, "4.7.24", "dns");
	policy_stage_done(pending_req, &o);
	ok(ndone == 1 && strcmp(trace, "ap") == 0 && got.code == 451,
	    "a pending stage's own refusal ends the run");
	for (ph = POLICY_CONNECT; ph < POLICY_NPHASES; ph++) {
		st = policy_phase_stages(ph, &n);
		ok(st != NULL && n > 0, "phase %s has a stage table (%zu stages)", policy_strphase(ph), n);
	}
	st = policy_phase_stages(POLICY_MAIL, &n);
	ok(n == 7 && strcmp(st[0].name, "auth_required") == 0 && strcmp(st[n - 1].name, "spf") == 0,
	    "MAIL: auth_required first, spf last");
	ok(strcmp(st[2].name, "restriction") == 0 && st[2].check == policy_stage_restriction,
	    "MAIL: the restriction stage runs once the account is known (issue 17)");
	st = policy_phase_stages(POLICY_RCPT, &n);
	ok(n >= 2 && strcmp(st[n - 1].name, "restriction") == 0, "RCPT: the restriction stage last (after rcpt_limit, suppression)");
	{
		struct policy_req rr;
		struct policy_env re;
		struct outcome ro;

		memset(&rr, 0, sizeof(rr));
		memset(&re, 0, sizeof(re));
		re.restricted = restricted_lookup;
		rr.env = &re;
		rr.account = "app1";
		rr.phase = POLICY_RCPT;
		rr.sender = "app@example.test";
		rr.rcpt = "Subject@Example.test";
		outcome_ok(&ro);
		policy_stage_restriction(&rr, &ro);
		ok(ro.kind == OUTCOME_HOLD, "RCPT restriction: a restricted recipient: hold (accepted, held)");
		rr.rcpt = "other@example.test";
		outcome_ok(&ro);
		policy_stage_restriction(&rr, &ro);
		ok(ro.kind == OUTCOME_OK, "RCPT restriction: another recipient: ok");
		rr.phase = POLICY_MAIL;
		rr.sender = "subject@example.test";
		outcome_ok(&ro);
		policy_stage_restriction(&rr, &ro);
		ok(ro.kind == OUTCOME_HOLD, "MAIL restriction: a restricted sender: hold");
		rr.account = NULL;
		outcome_ok(&ro);
		policy_stage_restriction(&rr, &ro);
		ok(ro.kind == OUTCOME_OK, "restriction: no account, nothing to look up: ok");
	}
	st = policy_phase_stages(POLICY_EOM, &n);
	ok(n == 7 && strcmp(st[n - 1].name, "dkim") == 0 && strcmp(st[n - 2].name, "list_unsubscribe") == 0 &&
	    strcmp(st[n - 3].name, "spam") == 0 && st[0].run != NULL,
	    "EOM: spam scoring, then List-Unsubscribe, before DKIM, which signs last");
	ok(strcmp(st[0].name, "nul") == 0, "EOM: the NUL check runs first (issue 12 item 13)");
	{
		struct policy_params np;
		struct policy_msg m;
		struct outcome no;

		memset(&np, 0, sizeof(pp));
		memset(&m, 0, sizeof(m));
		m.params = &np;
		buf_init(&m.data, 0);
		buf_append(&m.data, "Subject: x\r\n\r\nA\0B\r\n", 20);
		np.limits.reject_nul = 1;
		outcome_ok(&no);
		policy_stage_nul(&m, &no);
		ok(no.code == 554 && strcmp(no.enhanced, "5.6.0") == 0, "EOM nul: NUL in the body: 554 5.6.0");
		np.limits.reject_nul = 0;
		outcome_ok(&no);
		policy_stage_nul(&m, &no);
		ok(no.kind == OUTCOME_OK, "EOM nul: smtpd_reject_nul = no lets it through");
		buf_free(&m.data);
	}

	/* ---- the stages, each through its phase ---- */
	cfg = conf("smtpd_max_connections = 3\nsmtpd_max_connections_per_ip = 2\n"
	    "spf_egress_ips = 192.0.2.1\nspf_action = reject\n");
	policy_params_from_config(&pp, cfg);
	memset(&env, 0, sizeof(env));
	env.account = fake_account;
	env.auth_locked = fake_locked;
	env.rate_reached = fake_rate;
	env.set_limits = fake_limits;
	env.dns = fake_dns;
	spf = spf_new();
	env.spf = spf;

#define REQ(p) do { memset(&r, 0, sizeof(r)); r.phase = (p); r.params = &pp; r.env = &env; \
	r.id = "t"; r.client_ip = "192.0.2.7"; } while (0)

	REQ(POLICY_CONNECT);
	r.relay_listener = 1;
	r.connections = r.connections_ip = 1;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.kind == OUTCOME_PERMFAIL && got.code == 554, "CONNECT: relay listener, untrusted: 554");
	r.trusted = 1;
	policy_phase_run(&r, phase_done, NULL);
	is_int(got.kind, OUTCOME_OK, "CONNECT: trusted network: ok");
	r.connections = 4;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 421 && strcmp(got.enhanced, "4.7.0") == 0, "CONNECT: smtpd_max_connections: 421");
	r.connections = 2;
	r.connections_ip = 3;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 421 && strstr(got.text, "your address") != NULL, "CONNECT: per IP: 421");

	REQ(POLICY_AUTH);
	r.account = "app1";
	env_locked = 1;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 454 && strcmp(got.enhanced, "4.7.0") == 0, "AUTH: locked out: 454 4.7.0");
	env_locked = 0;
	policy_phase_run(&r, phase_done, NULL);
	is_int(got.kind, OUTCOME_OK, "AUTH: not locked: ok");

	REQ(POLICY_MAIL);
	r.need_auth = 1;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 530 && strcmp(got.enhanced, "5.7.0") == 0, "MAIL: submission without AUTH: 530");
	REQ(POLICY_MAIL);
	r.account = "app1";
	r.sender = "";
	env_lookup_rc = -1;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 451 && strcmp(got.enhanced, "4.3.0") == 0, "MAIL: lookup error: 451 4.3.0");
	env_lookup_rc = -ENOENT;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 550 && strstr(got.text, "suspended"), "MAIL: deleted account: 550 suspended");
	env_lookup_rc = 0;
	env_acct = mkacct("name=app1\nstatus=suspended\ndomains=a.test\n");
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 550 && strcmp(got.enhanced, "5.7.1") == 0, "MAIL: suspended: 550 5.7.1");
	account_free(env_acct);
	env_acct = mkacct("name=app1\ndomains=a.test\nmax_message_size=1000\nhourly_rate=5\n"
	    "spf_action=ignore\n");
	r.sender = "x@b.test";
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 550 && strstr(got.text, "Sender address"), "MAIL: other domain: 550 5.7.1");
	r.sender = "x@A.test";
	r.declared_size = 2000;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 552 && strcmp(got.enhanced, "5.3.4") == 0, "MAIL: SIZE= above the account limit: 552");
	is_int((int)env_size_limit, 1000, "MAIL: the session's size limit is the account's");
	r.declared_size = 0;
	env_rate = 1;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 451 && strcmp(got.enhanced, "4.7.1") == 0, "MAIL: hourly rate: 451 4.7.1");
	env_rate = 0;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.kind == OUTCOME_OK && nlookups == 0, "MAIL: all fine, spf_action=ignore: no DNS");
	r.relay_listener = 1;
	account_free(env_acct);
	env_acct = mkacct("name=relay\nspf_action=ignore\n");
	r.sender = "x@anything.test";
	policy_phase_run(&r, phase_done, NULL);
	is_int(got.kind, OUTCOME_OK, "MAIL: relay account without domains restricts no sender");
	is_int((int)env_size_limit, (int)cfg->message_size_limit,
	    "MAIL: no account limit: the session's limit is back to message_size_limit");

	/* SPF pends on DNS and the runner continues from its answer */
	account_free(env_acct);
	env_acct = mkacct("name=app1\ndomains=spf.test\n");
	REQ(POLICY_MAIL);
	r.account = "app1";
	r.sender = "u@spf.test";
	ndone = 0;
	is_int(policy_phase_run(&r, phase_done, NULL), 1, "MAIL: SPF not cached: pending");
	ok(nfq == 1 && fq[0].type == DNS_T_TXT && strcmp(fq[0].name, "spf.test") == 0,
	    "SPF asked the caller's DNS for the TXT record");
	fake_dns_answer_all();
	ok(ndone == 1 && got.kind == OUTCOME_OK, "SPF pass (192.0.2.1 listed): MAIL ok");
	REQ(POLICY_MAIL);
	r.account = "app1";
	r.sender = "v@spf.test";
	ndone = 0;
	is_int(policy_phase_run(&r, phase_done, NULL), 0, "second check: from the verdict cache, at once");
	is_int(nlookups, 1, "... without DNS");
	spf_txt = "v=spf1 include:inc.test -all";
	account_free(env_acct);
	env_acct = mkacct("name=app1\ndomains=*\n");
	REQ(POLICY_MAIL);
	r.account = "app1";
	r.sender = "w@other.test";
	ndone = 0;
	policy_phase_run(&r, phase_done, NULL);
	fake_dns_answer_all();
	ok(ndone == 1 && got.code == 550 && strcmp(got.enhanced, "5.7.23") == 0,
	    "no SPF record (NXDOMAIN), spf_action=reject: 550 5.7.23");

	REQ(POLICY_RCPT);
	account_free(env_acct);
	env_acct = mkacct("name=app1\nmax_recipients=2\n");
	r.acct = &env_acct->pol;
	r.nrcpts = 2;
	policy_phase_run(&r, phase_done, NULL);
	ok(got.code == 452 && strcmp(got.enhanced, "4.5.3") == 0, "RCPT: recipient limit: 452 4.5.3");
	r.nrcpts = 1;
	policy_phase_run(&r, phase_done, NULL);
	is_int(got.kind, OUTCOME_OK, "RCPT: below the limit: ok");

	/* ---- the params the stages read: every value from the config ---- */
	config_free(cfg);
	cfg = conf("hostname = mx.example.test\nsmtpd_received_client_ip = no\n"
	    "smtpd_max_connections = 7\nsmtpd_max_connections_per_ip = 5\nmessage_size_limit = 1000000\n"
	    "dlp_action_card = hold\ndlp_action_card_test = tag\ndlp_action_ssn = redact\n"
	    "dlp_action_iban = reject\nmime_max_depth = 4\nmime_max_parts = 9\n"
	    "mime_max_decoded_size = 2000000\nmime_limit_action = hold\n"
	    "dkim_key_directory = /k\ndkim_sign_headers = from, subject\n"
	    "dkim_fallback_domain = fb.test\ndkim_signature_expiry = 2h\n"
	    "spf_action = warn\nsmtp_bind_address = 192.0.2.5\n");
	policy_params_from_config(&pp, cfg);
	ok(pp.headers.hostname && strcmp(pp.headers.hostname, "mx.example.test") == 0 &&
	    pp.headers.received_client_ip == 0, "params: hostname, smtpd_received_client_ip");
	ok(pp.limits.max_connections == 7 && pp.limits.max_connections_per_ip == 5 &&
	    pp.limits.message_size_limit == 1000000, "params: connection and size limits");
	ok(pp.dlp.action_card == DLP_HOLD && pp.dlp.action_card_test == DLP_TAG &&
	    pp.dlp.action_ssn == DLP_REDACT && pp.dlp.action_iban == DLP_REJECT,
	    "params: dlp_action_* as enum dlp_action");
	ok(pp.dlp.mime_max_depth == 4 && pp.dlp.mime_max_parts == 9 &&
	    pp.dlp.mime_max_decoded_size == 2000000 && pp.dlp.mime_limit_hold, "params: MIME limits");
	ok(pp.dkim.key_directory && strcmp(pp.dkim.key_directory, "/k") == 0 &&
	    pp.dkim.fallback_domain && strcmp(pp.dkim.fallback_domain, "fb.test") == 0 &&
	    pp.dkim.signature_expiry == 2 * 3600 * 1000, "params: DKIM key directory, fallback, expiry");
	ok(pp.dkim.sign_headers.n == 2 && strcmp(pp.dkim.sign_headers.items[1], "subject") == 0,
	    "params: dkim_sign_headers");
	ok(pp.spf.action == SPF_ACTION_WARN && pp.spf.egress_ips.n == 1 &&
	    strcmp(pp.spf.egress_ips.items[0], "192.0.2.5") == 0,
	    "params: spf_action; egress IPs fall back to smtp_bind_address");
	config_free(cfg);
	cfg = conf("spf_egress_ips = 198.51.100.1\nsmtp_bind_address = 192.0.2.5\n");
	policy_params_from_config(&pp, cfg);
	ok(pp.spf.egress_ips.n == 1 && strcmp(pp.spf.egress_ips.items[0], "198.51.100.1") == 0,
	    "params: spf_egress_ips wins over smtp_bind_address");
	ok(!pp.dlp.mime_limit_hold && (pp.dkim.key_directory == NULL || pp.dkim.key_directory[0] == '\0'),
	    "params: defaults");

	account_free(env_acct);
	spf_free(spf);
	config_free(cfg);
	return done();
}
