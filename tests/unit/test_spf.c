/* SPDX-License-Identifier: ISC */
/*
 * test_spf.c: unit tests for policy/spf.c that need no DNS server: the
 * action precedence (account over global), the mechanisms we ask the
 * customer to publish, the cases that are not checked at all (no egress
 * IPs, <> sender, action ignore: no DNS query), and the temperror path
 * against a closed DNS port through src/net/dns.c (c-ares) on a real uv
 * loop, including the cache.  Results from real records are covered by
 * tests/integration/test_spf.py.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "account.h"
#include "dns.h"
#include "spf.h"
#include "relay.h"
#include "tap.h"

/* The typed policy of a record text (tests write records as text). */
static struct account *
pol_of(const char *record)
{
	char text[512];

	if (record == NULL)
		return NULL;
	snprintf(text, sizeof(text), "name=t\n%s", record);
	return account_parse(text, strlen(text));
}

/* The SPF params of CFG (read only during the call they are passed to). */
static const struct policy_spf_params *
sp(const struct config *cfg)
{
	static struct policy_params pp;

	policy_params_from_config(&pp, cfg);
	return &pp.spf;
}

static enum spf_action
action_for(const struct config *cfg, const char *record)
{
	struct account *a = pol_of(record);
	enum spf_action act = spf_action_for(sp(cfg), a ? &a->pol : NULL);

	account_free(a);
	return act;
}

static int
lookup(void *arg, const char *name, int type, dns_cb cb, void *cbarg)
{
	return dns_lookup(arg, name, type, cb, cbarg) != NULL ? 0 : -1;
}

static struct spf_verdict sync_v;
static int sync_done;

static void
sync_cb(void *arg, const struct spf_verdict *v)
{
	(void)arg;
	sync_v = *v;
	sync_done = 1;
}

/* One check to the end: DNS through c-ares on its own loop. */
static void
spf_check(struct spf *s, const struct config *cfg, const char *record, const char *sender,
    struct spf_verdict *v)
{
	uv_loop_t loop;
	struct dns *d;
	struct account *a = pol_of(record);
	char err[256];

	uv_loop_init(&loop);
	d = dns_open(&loop, &cfg->dns_servers, err, sizeof(err));
	sync_done = 0;
	if (spf_check_start(s, sp(cfg), a ? &a->pol : NULL, sender, lookup, d, sync_cb, NULL, v) ==
	    SPF_PENDING) {
		while (!sync_done)
			uv_run(&loop, UV_RUN_ONCE);
		*v = sync_v;
	}
	dns_close(d);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	account_free(a);
}

static struct config *
cfg_from(const char *text)
{
	char err[512];
	struct config *cfg = config_parse("t.conf", text, strlen(text), err, sizeof(err));

	if (cfg == NULL)
		printf("# config: %s\n", err);
	return cfg;
}


/* ---- a DNS of the test's own: answers from a table when the test says so ---- */

static const char *const zone[][3] = {	/* name, type ("TXT", "MX", "A"), data */
	{ "chain.test", "TXT", "v=spf1 include:inc.chain.test -all" },
	{ "inc.chain.test", "TXT", "v=spf1 mx -all" },
	{ "inc.chain.test", "MX", "mx.chain.test" },
	{ "mx.chain.test", "A", "192.0.2.1" },
};

struct zq {
	char name[256];
	int type;
	dns_cb cb;
	void *arg;
};
static struct zq zqs[16];
static size_t nzq;
static unsigned zlookups, zrounds;
static int zone_refuse;	/* the lookup function fails to start */

static int
zone_lookup(void *arg, const char *name, int type, dns_cb cb, void *cbarg)
{
	(void)arg;
	if (zone_refuse || nzq >= 16)
		return -1;
	snprintf(zqs[nzq].name, sizeof(zqs[nzq].name), "%s", name);
	zqs[nzq].type = type;
	zqs[nzq].cb = cb;
	zqs[nzq].arg = cbarg;
	nzq++;
	zlookups++;
	return 0;
}

/* Answer what is waiting (one "round trip"). */
static void
zone_answer(void)
{
	struct zq batch[16];
	size_t n = nzq, i, k;

	memcpy(batch, zqs, sizeof(batch));
	nzq = 0;
	zrounds++;
	for (i = 0; i < n; i++) {
		struct dns_result r;
		struct dns_rr rr;
		const char *tn = batch[i].type == DNS_T_TXT ? "TXT" : batch[i].type == DNS_T_MX ? "MX" :
		    batch[i].type == DNS_T_A ? "A" : "?";

		memset(&r, 0, sizeof(r));
		memset(&rr, 0, sizeof(rr));
		r.type = batch[i].type;
		r.ttl = 600;
		r.status = DNS_NXDOMAIN;
		for (k = 0; k < sizeof(zone) / sizeof(zone[0]); k++) {
			if (strcmp(zone[k][0], batch[i].name) != 0)
				continue;
			r.status = DNS_NODATA;
			if (strcmp(zone[k][1], tn) != 0)
				continue;
			r.status = DNS_OK;
			rr.type = batch[i].type;
			rr.ttl = 600;
			if (batch[i].type == DNS_T_TXT) {
				rr.text = (char *)zone[k][2];
				rr.len = strlen(zone[k][2]);
			} else if (batch[i].type == DNS_T_MX) {
				rr.name = (char *)zone[k][2];
			} else {
				inet_pton(AF_INET, zone[k][2], rr.addr);
			}
			r.n = 1;
			r.rr = &rr;
			break;
		}
		batch[i].cb(batch[i].arg, &r);
	}
}

static struct spf_verdict async_v;
static int async_calls;

static void
async_done(void *arg, const struct spf_verdict *v)
{
	async_v = *v;
	async_calls++;
	*(int *)arg = 1;
}

int
main(void)
{
	struct config *cfg;
	struct spf *s;
	struct spf_verdict v;
	char mech[256];
	uint64_t q;
	int flag = 0;
	uv_loop_t loop;

	plan(35);

	cfg = cfg_from("spf_action = warn\n");
	is_int(action_for(cfg, NULL), SPF_ACTION_WARN, "global action");
	is_int(action_for(cfg, "domains=a.test\nspf_action=reject\n"), SPF_ACTION_REJECT,
	    "account spf_action overrides");
	is_int(action_for(cfg, "spf_action=sometimes\n"), SPF_ACTION_WARN, "invalid override ignored");
	is_str(spf_strresult(SPF_R_SOFTFAIL), "softfail", "result names");
	is_str(spf_straction(SPF_ACTION_IGNORE), "ignore", "action names");
	spf_required_mechanisms(sp(cfg), mech, sizeof(mech));
	is_str(mech, "", "no egress IPs: nothing to publish");
	ok(!spf_enabled(sp(cfg)), "no egress IPs: disabled");

	s = spf_new();
	spf_check(s, cfg, NULL, "u@a.test", &v);
	ok(v.skipped && v.out.code == 250 && spf_dns_queries(s) == 0, "no egress IPs: not checked");
	config_free(cfg);

	cfg = cfg_from("spf_egress_ips = 192.0.2.1, 2001:db8::1, not-an-ip\n"
	    "dns_servers = 127.0.0.1:1\nspf_action = reject\n");
	spf_required_mechanisms(sp(cfg), mech, sizeof(mech));
	is_str(mech, "ip4:192.0.2.1 ip6:2001:db8::1", "mechanisms for our egress IPs");
	spf_check(s, cfg, NULL, "", &v);
	ok(v.skipped && v.out.code == 250, "null sender: not checked");
	spf_check(s, cfg, "spf_action=ignore", "u@a.test", &v);
	ok(v.skipped && v.out.code == 250 && v.header[0] == '\0', "action ignore: accepted, no header");
	is_int(spf_dns_queries(s), 0, "... and no DNS query");

	/* nothing listens on 127.0.0.1:1: a temporary DNS error */
	spf_check(s, cfg, NULL, "u@A.Test", &v);
	is_int(v.result, SPF_R_TEMPERROR, "unreachable DNS: temperror");
	is_str(v.domain, "a.test", "domain lowercased");
	ok(v.out.code == 451 && strcmp(v.out.enhanced, "4.7.24") == 0, "reject + temperror: 451 4.7.24");
	ok(strstr(v.out.text, "a.test") != NULL, "reply names the domain");
	ok(!v.cached && spf_dns_queries(s) > 0, "DNS was asked");
	q = spf_dns_queries(s);
	spf_check(s, cfg, NULL, "other@a.test", &v);
	ok(v.cached && spf_dns_queries(s) == q, "second check of the domain: cache hit, no query");
	spf_check(s, cfg, "spf_action=warn", "x@a.test", &v);
	ok(v.cached && v.out.code == 250 && strncmp(v.header, "X-Postern-SPF: temperror ", 25) == 0 &&
	    strcmp(v.header + strlen(v.header) - 2, "\r\n") == 0, "warn: header with CRLF, accepted");

	q = spf_dns_queries(s);
	spf_check(s, cfg, NULL, "u@bad domain\r\nX-Evil: 1", &v);
	ok(v.result == SPF_R_NONE && spf_dns_queries(s) == q && v.out.code == 550,
	    "malformed domain: none without a DNS query (RFC 7208 4.3)");

	/* pending on a real loop: the callback runs once, later */
	uv_loop_init(&loop);
	{
		char err[256];
		struct dns *d = dns_open(&loop, &cfg->dns_servers, err, sizeof(err));

		is_int(spf_check_start(s, sp(cfg), NULL, "y@b.test", lookup, d, async_done, &flag, &v),
		    SPF_PENDING, "pending on DNS");
		is_int(async_calls, 0, "callback not run from inside the call");
		while (!flag)
			uv_run(&loop, UV_RUN_ONCE);
		is_int(async_calls, 1, "callback ran once");
		ok(flag && async_v.result == SPF_R_TEMPERROR && async_v.out.code == 451, "async verdict");
		is_str(async_v.domain, "b.test", "async domain");

		/* a reload may free the config while the check is pending: it read it at the start */
		{
			struct config *tmp = cfg_from("spf_egress_ips = 192.0.2.9\ndns_servers = 127.0.0.1:1\n"
			    "spf_action = reject\n");
			struct account *a = pol_of("spf_action=warn\n");

			flag = 0;
			ok(spf_check_start(s, sp(tmp), &a->pol, "z@c.test", lookup, d, async_done, &flag,
			    &v) == SPF_PENDING, "pending, then the config and policy are freed");
			config_free(tmp);
			account_free(a);
			while (!flag)
				uv_run(&loop, UV_RUN_ONCE);
			ok(flag && async_v.action == SPF_ACTION_WARN && strcmp(async_v.ip, "192.0.2.9") == 0 &&
			    async_v.out.code == 250, "the check used its own copy of the settings");
		}
		dns_close(d);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&loop);

	spf_free(s);
	config_free(cfg);

	/* rounds: TXT, then the include's TXT, then its MX, then the MX host's A */
	cfg = cfg_from("spf_egress_ips = 192.0.2.1\nspf_action = reject\n");
	s = spf_new();
	flag = 0;
	is_int(spf_check_start(s, sp(cfg), NULL, "u@chain.test", zone_lookup, NULL, async_done, &flag, &v),
	    SPF_PENDING, "include + mx: pending");
	while (!flag && nzq > 0)
		zone_answer();
	ok(flag && async_v.result == SPF_R_PASS && async_v.out.code == 250,
	    "include:, mx and A resolved round by round: pass (%s)", spf_strresult(async_v.result));
	ok(zlookups == 4 && zrounds == 4, "one lookup per name the evaluation needed (%u lookups, %u rounds)",
	    zlookups, zrounds);
	is_int(spf_check_start(s, sp(cfg), NULL, "w@chain.test", zone_lookup, NULL, async_done, &flag, &v),
	    SPF_DONE, "the verdict is cached");
	zone_refuse = 1;
	is_int(spf_check_start(s, sp(cfg), NULL, "u@other.test", zone_lookup, NULL, async_done, &flag, &v),
	    SPF_DONE, "a lookup that cannot start: answered at once");
	ok(v.result == SPF_R_TEMPERROR && v.out.code == 451, "... as a temperror (451 4.7.24)");
	zone_refuse = 0;
	spf_free(s);
	config_free(cfg);

	/* smtp_bind_address stands in when spf_egress_ips is empty */
	cfg = cfg_from("smtp_bind_address = 198.51.100.4\n");
	spf_required_mechanisms(sp(cfg), mech, sizeof(mech));
	is_str(mech, "ip4:198.51.100.4", "smtp_bind_address used");
	config_free(cfg);
	ok(1, "done");
	return done();
}
