/* SPDX-License-Identifier: ISC */
/*
 * test_route: routing for delivery.  Pure parts table-driven: the
 * transport table (exact, .parent, *, every next-hop form, malformed
 * entries), the TLS policy map, MX ordering (preference first, equal
 * preferences shuffled and spread).  Then whole resolutions against a
 * private dnsmasq: two MX hosts in order, null MX (556 5.1.10),
 * NXDOMAIN (5.1.2), implicit MX, CNAME'd domain, the transport table
 * overriding DNS, a resolver failure as a temporary outcome, address
 * family preference.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "dns.h"
#include "log.h"
#include "route.h"
#include "tap.h"
#include "testdns.h"
#include "util.h"

struct tp_case {
	const char *domain;
	int rc;
	const char *host;
	int port, mx;
};

static char *tp_items[] = {
	"example.test=[127.0.0.2]:2525",
	"smart.test=relay.example.net:587",
	"mxport.test=mx:2526",
	".sub.test=[mail.sub.test]",
	"deep.sub.test=[10.0.0.1]:26",
	"v6.test=[::1]:2527",
	"*=[smarthost.example.net]:587",
};

static const struct tp_case tp_cases[] = {
	{ "example.test", 1, "127.0.0.2", 2525, 0 },
	{ "EXAMPLE.TEST", 1, "127.0.0.2", 2525, 0 },
	{ "smart.test", 1, "relay.example.net", 587, 1 },
	{ "mxport.test", 1, "mxport.test", 2526, 1 },
	{ "a.sub.test", 1, "mail.sub.test", 25, 0 },
	{ "deep.sub.test", 1, "10.0.0.1", 26, 0 },
	{ "x.deep.sub.test", 1, "mail.sub.test", 25, 0 },
	{ "sub.test", 1, "smarthost.example.net", 587, 0 },
	{ "v6.test", 1, "::1", 2527, 0 },
	{ "other.test", 1, "smarthost.example.net", 587, 0 },
};

static void
test_transport(void)
{
	struct config_list l = { tp_items, ARRAY_SIZE(tp_items), NULL, NULL, NULL };
	struct route_nexthop nh;
	char why[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tp_cases); i++) {
		const struct tp_case *c = &tp_cases[i];
		int rc = route_transport_find(&l, c->domain, &nh, why, sizeof(why));
		int good = rc == c->rc && strcmp(nh.host, c->host) == 0 && nh.port == c->port &&
		    nh.mx == c->mx;
		if (!ok(good, "transport %s -> %s:%d mx=%d", c->domain, c->host, c->port, c->mx))
			diag("rc %d host %s port %d mx %d", rc, nh.host, nh.port, nh.mx);
	}
	{
		/* Parsed once: "mx:2526" keeps the domain open until the lookup. */
		struct route_table t;
		const struct route_entry *e;

		ok(route_table_parse(&t, &l, ROUTE_TABLE_TRANSPORT, why, sizeof(why)) == 0 &&
		    t.n == l.n, "transport parses into a table");
		e = route_table_find(&t, "mxport.test");
		ok(e != NULL && e->nh.host[0] == '\0' && e->nh.mx && e->nh.port == 2526 &&
		    route_transport_lookup(&t, "mxport.test", &nh) == 1 &&
		    strcmp(nh.host, "mxport.test") == 0, "mx:port is the looked-up domain's MX");
		route_table_free(&t);
	}
	l.n = 2;
	is_int(route_transport_find(&l, "nomatch.test", &nh, why, sizeof(why)), 0,
	    "no entry and no * gives 0");
	ok(route_transport_check(&l, why, sizeof(why)) == 0, "good table passes the check");

	{
		static char *bad1[] = { "example.test" };
		static char *bad2[] = { "example.test=[127.0.0.1" };
		static char *bad3[] = { "example.test=host:99999" };
		static char *bad4[] = { "example.test=[h]x" };
		struct config_list b1 = { bad1, 1, NULL, NULL, NULL }, b2 = { bad2, 1, NULL, NULL, NULL },
		    b3 = { bad3, 1, NULL, NULL, NULL }, b4 = { bad4, 1, NULL, NULL, NULL };

		ok(route_transport_check(&b1, why, sizeof(why)) == -1 &&
		    strstr(why, "not domain=nexthop"), "entry without = refused");
		ok(route_transport_check(&b2, why, sizeof(why)) == -1, "unclosed bracket refused");
		ok(route_transport_check(&b3, why, sizeof(why)) == -1, "bad port refused");
		ok(route_transport_check(&b4, why, sizeof(why)) == -1, "junk after ] refused");
		is_int(route_transport_find(&b2, "example.test", &nh, why, sizeof(why)), -1,
		    "find reports a malformed next hop");
	}
}

static void
test_tls_policy(void)
{
	static char *map[] = { "secure.test=verify", ".corp.test=encrypt", "plain.test=none" };
	struct config_list l = { map, ARRAY_SIZE(map), NULL, NULL, NULL };
	struct route_table t;
	char why[256];

	ok(route_table_parse(&t, &l, ROUTE_TABLE_TLS, why, sizeof(why)) == 0 && t.n == 3,
	    "map parses into a table");
	is_int(route_tls_policy(&t, ROUTE_TLS_MAY, "secure.test"), ROUTE_TLS_VERIFY, "map: verify");
	is_int(route_tls_policy(&t, ROUTE_TLS_MAY, "a.corp.test"), ROUTE_TLS_ENCRYPT, "map: .parent");
	is_int(route_tls_policy(&t, ROUTE_TLS_MAY, "plain.test"), ROUTE_TLS_NONE, "map: none");
	is_int(route_tls_policy(&t, ROUTE_TLS_MAY, "other.test"), ROUTE_TLS_MAY, "default policy");
	route_table_free(&t);
	ok(route_tls_map_check(&l, why, sizeof(why)) == 0, "map passes check");
	{
		static char *bad[] = { "x.test=always" };
		struct config_list b = { bad, 1, NULL, NULL, NULL };
		ok(route_tls_map_check(&b, why, sizeof(why)) == -1, "unknown policy refused");
	}
}

static unsigned
rand_last(unsigned n)
{
	return n - 1;
}

static void
test_mx_sort(void)
{
	struct dns_rr rr[5];
	static const int prefs[] = { 20, 10, 30, 10, 20 };
	static const char *names[] = { "c", "a", "e", "b", "d" };
	int first_a = 0, first_b = 0, sorted = 1;
	size_t i, round;

	for (round = 0; round < 400; round++) {
		for (i = 0; i < 5; i++) {
			memset(&rr[i], 0, sizeof(rr[i]));
			rr[i].pref = (uint16_t)prefs[i];
			rr[i].name = (char *)names[i];
		}
		route_mx_sort(rr, 5, NULL);
		for (i = 1; i < 5; i++)
			if (rr[i - 1].pref > rr[i].pref)
				sorted = 0;
		if (strcmp(rr[0].name, "a") == 0)
			first_a++;
		else if (strcmp(rr[0].name, "b") == 0)
			first_b++;
	}
	ok(sorted, "always ordered by preference");
	ok(first_a + first_b == 400, "a lowest-preference host is always first");
	ok(first_a > 120 && first_b > 120, "equal preferences spread (a first %d, b first %d of 400)",
	    first_a, first_b);
	for (i = 0; i < 5; i++) {
		rr[i].pref = (uint16_t)prefs[i];
		rr[i].name = (char *)names[i];
	}
	route_mx_sort(rr, 5, rand_last);
	ok(rr[0].pref == 10 && rr[2].pref == 20 && rr[4].pref == 30, "deterministic rand: order kept");
}

/* The order of 8 equal-preference hosts over 8 sorts, drawn in a child
 * process, as a string of names. */
static void
mx_order_in_child(char *out, size_t outlen)
{
	int fds[2];
	pid_t pid;
	ssize_t n;

	memset(out, 0, outlen);
	if (pipe(fds) != 0)
		fatal("pipe");
	if ((pid = fork()) == 0) {
		static const char *names[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
		struct dns_rr rr[8];
		char buf[65];
		size_t round, i, len = 0;

		close(fds[0]);
		for (round = 0; round < 8; round++) {
			for (i = 0; i < 8; i++) {
				memset(&rr[i], 0, sizeof(rr[i]));
				rr[i].pref = 10;
				rr[i].name = (char *)names[i];
			}
			route_mx_sort(rr, 8, NULL);
			for (i = 0; i < 8; i++)
				buf[len++] = rr[i].name[0];
		}
		_exit(write(fds[1], buf, len) == (ssize_t)len ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], out, outlen - 1);
	(void)n;
	close(fds[0]);
	waitpid(pid, NULL, 0);
}

/* Each process shuffles differently: the default randomness is
 * crypto_random_uniform (RAND_bytes), not an unseeded random() that
 * gave every posternd the same sequence of MX choices. */
static void
test_mx_sort_processes(void)
{
	char a[65], b[65];

	mx_order_in_child(a, sizeof(a));
	mx_order_in_child(b, sizeof(b));
	ok(strlen(a) == 64 && strcmp(a, b) != 0,
	    "two processes shuffle equal preferences differently");
}

/* ---- live ---- */

static uv_loop_t *loop;
static struct dns *dns;

struct got {
	int done;
	struct outcome o;
	size_t n;
	struct route_target t[ROUTE_MAX_TARGETS];
	int implicit_mx;
};

static void
route_done(void *arg, const struct route_result *r)
{
	struct got *g = arg;

	g->done++;
	g->o = r->o;
	g->n = r->n;
	if (r->n)
		memcpy(g->t, r->t, r->n * sizeof(*r->t));
	g->implicit_mx = r->implicit_mx;
}

static void
resolve(struct config *cfg, const char *domain, struct got *g)
{
	struct route_table t;
	struct route_params rp;
	char why[256];

	memset(g, 0, sizeof(*g));
	if (route_table_parse(&t, &cfg->transport, ROUTE_TABLE_TRANSPORT, why, sizeof(why)) == -1)
		diag("transport: %s", why);
	rp.transport = &t;
	rp.addrpref = cfg->smtp_address_preference;
	route_resolve(dns, &rp, domain, route_done, g);
	route_table_free(&t);	/* only read during route_resolve() */
	while (!g->done)
		uv_run(loop, UV_RUN_ONCE);
}

static void
test_live(struct testdns *td)
{
	struct config_list servers;
	char *items[1] = { td->server };
	static char *transport[] = { "mxport.test=mx:2526", "fixed.test=[mx2.example.test]:2527",
		"lit.test=[127.0.0.9]:2528" };
	char err[256];
	struct config *cfg = config_parse("t", "", 0, err, sizeof(err));
	struct got g;
	struct route_req *req;
	int spread[2] = { 0, 0 }, i;

	servers.items = items;
	servers.n = 1;
	dns = dns_open(loop, &servers, err, sizeof(err));
	cfg->smtp_address_preference = CONFIG_PREFER_IPV4;

	resolve(cfg, "example.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.n >= 2 && strcmp(g.t[0].addr, "127.0.0.2") == 0 &&
	    strcmp(g.t[0].host, "mx1.example.test") == 0 && g.t[0].port == 25,
	    "two MX: lower preference first");
	ok(g.n >= 2 && strcmp(g.t[g.n - 1].addr, "127.0.0.3") == 0, "second MX last");
	ok(g.n == 3 && strcmp(g.t[1].addr, "::2") == 0 && g.t[1].family == AF_INET6,
	    "prefer-ipv4: the host's IPv6 address after its IPv4 one");

	resolve(cfg, "nullmx.test", &g);
	ok(g.o.kind == OUTCOME_PERMFAIL && g.o.code == 556 && strcmp(g.o.enhanced, "5.1.10") == 0,
	    "null MX: permanent 556 5.1.10");

	resolve(cfg, "host.nx.test", &g);
	ok(g.o.kind == OUTCOME_PERMFAIL && strcmp(g.o.enhanced, "5.1.2") == 0, "NXDOMAIN: permanent 5.1.2");

	resolve(cfg, "implicit.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.implicit_mx && g.n == 1 &&
	    strcmp(g.t[0].addr, "127.0.0.4") == 0, "no MX but A: implicit MX");

	resolve(cfg, "alias.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.n >= 1 && strcmp(g.t[0].addr, "127.0.0.2") == 0,
	    "domain that is a CNAME: MX of its target");

	resolve(cfg, "unknown.test", &g);
	ok(g.o.kind == OUTCOME_TEMPFAIL && strcmp(g.o.enhanced, "4.4.3") == 0,
	    "resolver refuses: temporary 4.4.3");

	for (i = 0; i < 40; i++) {
		resolve(cfg, "equal.test", &g);
		if (g.n == 2 && strcmp(g.t[0].addr, "127.0.0.5") == 0)
			spread[0]++;
		else if (g.n == 2 && strcmp(g.t[0].addr, "127.0.0.6") == 0)
			spread[1]++;
	}
	ok(spread[0] + spread[1] == 40 && spread[0] > 5 && spread[1] > 5,
	    "equal preferences spread over both hosts (%d/%d)", spread[0], spread[1]);

	cfg->transport.items = transport;
	cfg->transport.n = ARRAY_SIZE(transport);
	resolve(cfg, "mxport.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.n == 1 && strcmp(g.t[0].addr, "127.0.0.7") == 0 &&
	    g.t[0].port == 2526, "transport mx:PORT: MX lookup, other port");
	resolve(cfg, "fixed.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.n == 1 && strcmp(g.t[0].addr, "127.0.0.3") == 0 &&
	    g.t[0].port == 2527 && strcmp(g.t[0].host, "mx2.example.test") == 0,
	    "transport [host]:port: address of that host, no MX");
	resolve(cfg, "lit.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.n == 1 && strcmp(g.t[0].addr, "127.0.0.9") == 0 &&
	    g.t[0].port == 2528, "transport [address]:port: no DNS at all");
	cfg->transport.items = NULL;
	cfg->transport.n = 0;

	cfg->smtp_address_preference = CONFIG_IPV4_ONLY;
	resolve(cfg, "example.test", &g);
	ok(g.o.kind == OUTCOME_OK && g.n == 2 && g.t[0].family == AF_INET &&
	    g.t[1].family == AF_INET, "ipv4-only: no IPv6 targets");

	/* cancel: no callback */
	memset(&g, 0, sizeof(g));
	{
		struct route_params rp = { NULL, CONFIG_IPV4_ONLY };

		req = route_resolve(dns, &rp, "mxport.test", route_done, &g);
	}
	route_cancel(req);
	for (i = 0; i < 50; i++)
		uv_run(loop, UV_RUN_NOWAIT);
	is_int(g.done, 0, "cancelled resolution never calls back");

	dns_close(dns);
	uv_run(loop, UV_RUN_DEFAULT);
	config_free(cfg);
}

int
main(void)
{
	static const char *const args[] = {
		"--mx-host=example.test,mx1.example.test,10",
		"--mx-host=example.test,mx2.example.test,20",
		"--host-record=mx1.example.test,127.0.0.2,::2",
		"--host-record=mx2.example.test,127.0.0.3",
		"--mx-host=equal.test,e1.equal.test,10",
		"--mx-host=equal.test,e2.equal.test,10",
		"--host-record=e1.equal.test,127.0.0.5",
		"--host-record=e2.equal.test,127.0.0.6",
		"--mx-host=mxport.test,m.mxport.test,5",
		"--host-record=m.mxport.test,127.0.0.7",
		"--cname=alias.test,example.test",
		"--mx-host=nullmx.test,.,0",
		"--address=/nx.test/",
		"--host-record=implicit.test,127.0.0.4",
		"--auth-zone=implicit.test",
		"--auth-server=ns.implicit.test",
		"--local-ttl=1",
		NULL,
	};
	struct testdns td;
	int live;

	srandom(12345);
	log_open("test_route", LOG_TO_STDERR, LOG_LEVEL_WARN);
	loop = uv_default_loop();
	live = testdns_start(&td, args) == 0;
	plan((int)ARRAY_SIZE(tp_cases) + 9 + 7 + 4 + 1 + (live ? 14 : 0));
	test_transport();
	test_tls_policy();
	test_mx_sort();
	test_mx_sort_processes();
	if (live) {
		test_live(&td);
		testdns_stop(&td);
	} else if (testdns_dnsmasq() != NULL) {
		ok(0, "dnsmasq is installed but did not start: live routing tests not run");
	} else {
		diag("dnsmasq not available: live routing tests skipped");
	}
	uv_loop_close(loop);
	return done();
}
