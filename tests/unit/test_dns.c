/* SPDX-License-Identifier: ISC */
/*
 * test_dns: the c-ares resolver against a real dnsmasq on a loopback
 * port: MX (preferences), A, AAAA, TXT (several strings), CNAME chains,
 * null MX, NXDOMAIN, NODATA, REFUSED as a temporary failure, the
 * positive cache (a second lookup is served from it, also after the
 * server is gone), cancellation, and hand-made packets for the pure
 * answer parser (compression loops, truncation).
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <uv.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "tap.h"
#include "testdns.h"
#include "util.h"

struct got {
	int done;
	struct dns_result r;
};

static void
got_cb(void *arg, const struct dns_result *r)
{
	struct got *g = arg;

	g->done++;
	dns_result_copy(&g->r, r);
}

static uv_loop_t *loop;
static struct dns *dns;

static void
lookup(const char *name, int type, struct got *g)
{
	memset(g, 0, sizeof(*g));
	dns_lookup(dns, name, type, got_cb, g);
	while (!g->done)
		uv_run(loop, UV_RUN_ONCE);
}

static int
has_rr(const struct dns_result *r, const char *name, int pref)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->rr[i].name, name) == 0 && (pref < 0 || r->rr[i].pref == pref))
			return 1;
	return 0;
}

static void
test_live(struct testdns *t)
{
	struct config_list servers;
	char *items[1];
	char err[256];
	struct got g, g2;
	struct dns_query *q;

	items[0] = t->server;
	servers.items = items;
	servers.n = 1;
	dns = dns_open(loop, &servers, err, sizeof(err));
	if (!ok(dns != NULL, "dns_open with a server:port"))
		diag("%s", err);

	lookup("example.test", DNS_T_MX, &g);
	ok(g.r.status == DNS_OK && g.r.n == 2 && has_rr(&g.r, "mx1.example.test", 10) &&
	    has_rr(&g.r, "mx2.example.test", 20), "MX with two preferences");
	is_int(g.r.from_cache, 0, "first answer from the network");
	ok(g.r.ttl > 0 && g.r.ttl <= 600, "TTL taken from the answer (%u)", g.r.ttl);
	dns_result_clear(&g.r);

	lookup("EXAMPLE.test.", DNS_T_MX, &g);
	ok(g.r.status == DNS_OK && g.r.n == 2 && g.r.from_cache,
	    "same name, other case, trailing dot: served from the cache");
	dns_result_clear(&g.r);

	lookup("mx1.example.test", DNS_T_A, &g);
	ok(g.r.status == DNS_OK && g.r.n == 1 && strcmp(g.r.rr[0].name, "127.0.0.2") == 0 &&
	    g.r.rr[0].addr[0] == 127 && g.r.rr[0].addr[3] == 2, "A record");
	dns_result_clear(&g.r);

	lookup("mx1.example.test", DNS_T_AAAA, &g);
	ok(g.r.status == DNS_OK && g.r.n == 1 && strcmp(g.r.rr[0].name, "::2") == 0,
	    "AAAA record");
	dns_result_clear(&g.r);

	lookup("example.test", DNS_T_TXT, &g);
	ok(g.r.status == DNS_OK && g.r.n == 1 && g.r.rr[0].len == 20 &&
	    memcmp(g.r.rr[0].text, "v=spf1 ip4:127.0.0.1", 20) == 0,
	    "TXT: character-strings concatenated");
	dns_result_clear(&g.r);

	lookup("alias2.test", DNS_T_A, &g);
	ok(g.r.status == DNS_OK && g.r.n == 1 && strcmp(g.r.name, "mx1.example.test") == 0 &&
	    strcmp(g.r.qname, "alias2.test") == 0, "CNAME chain of two followed");
	dns_result_clear(&g.r);

	lookup("alias.test", DNS_T_MX, &g);
	ok(g.r.status == DNS_OK && has_rr(&g.r, "mx1.example.test", 10) &&
	    strcmp(g.r.name, "example.test") == 0,
	    "MX via CNAME: the target is asked again when the answer has no data");
	dns_result_clear(&g.r);

	lookup("nullmx.test", DNS_T_MX, &g);
	ok(g.r.status == DNS_OK && g.r.n == 1 && g.r.rr[0].pref == 0 &&
	    strcmp(g.r.rr[0].name, "") == 0, "null MX comes back as preference 0, root name");
	dns_result_clear(&g.r);

	lookup("host.nx.test", DNS_T_MX, &g);
	is_int(g.r.status, DNS_NXDOMAIN, "NXDOMAIN");
	dns_result_clear(&g.r);

	lookup("auth.test", DNS_T_MX, &g);
	is_int(g.r.status, DNS_NODATA, "NODATA: name exists, no MX");
	dns_result_clear(&g.r);

	lookup("unknown.test", DNS_T_A, &g);
	is_int(g.r.status, DNS_TEMPFAIL, "REFUSED is a temporary failure");
	dns_result_clear(&g.r);

	lookup("", DNS_T_A, &g);
	is_int(g.r.status, DNS_BADNAME, "empty name refused");
	dns_result_clear(&g.r);

	/* cancel: the callback never runs, the loop still drains */
	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	q = dns_lookup(dns, "mx2.example.test", DNS_T_A, got_cb, &g);
	dns_cancel(q);
	dns_lookup(dns, "mx2.example.test", DNS_T_AAAA, got_cb, &g2);
	while (!g2.done)
		uv_run(loop, UV_RUN_ONCE);
	uv_run(loop, UV_RUN_NOWAIT);
	is_int(g.done, 0, "cancelled lookup never calls back");
	dns_result_clear(&g2.r);

	/* the cache outlives the server */
	testdns_stop(t);
	lookup("mx1.example.test", DNS_T_A, &g);
	ok(g.r.status == DNS_OK && g.r.from_cache, "cached answer used while the server is down");
	dns_result_clear(&g.r);
	ok(dns_cache_size(dns) > 0, "cache holds entries");
	dns_cache_flush(dns);
	is_int(dns_cache_size(dns), 0, "flush empties the cache");

	dns_close(dns);
	uv_run(loop, UV_RUN_DEFAULT);
	ok(1, "close releases every handle (loop ends)");
}

/* Hand-made packets: the parser must reject loops and truncation. */
static void
test_packets(void)
{
	/* header: id, flags (QR, rcode 0), qd 1, an 1 */
	static const unsigned char loop_pkt[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'a', 0, 0, 1, 0, 1,				/* question a. A IN */
		0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4,	/* owner points to itself */
	};
	static const unsigned char ok_pkt[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'a', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4,
	};
	struct dns_result r;
	size_t cut;
	int all = 1;

	dns_parse_answer(ok_pkt, sizeof(ok_pkt), "a", DNS_T_A, &r);
	ok(r.status == DNS_OK && r.n == 1 && strcmp(r.rr[0].name, "1.2.3.4") == 0 && r.ttl == 60,
	    "compressed owner name parsed");
	dns_result_clear(&r);
	dns_parse_answer(loop_pkt, sizeof(loop_pkt), "a", DNS_T_A, &r);
	ok(r.status == DNS_TEMPFAIL, "compression loop is a malformed answer");
	dns_result_clear(&r);
	for (cut = 0; cut < sizeof(ok_pkt); cut++) {
		dns_parse_answer(ok_pkt, cut, "a", DNS_T_A, &r);
		if (r.status == DNS_OK)
			all = 0;
		dns_result_clear(&r);
	}
	ok(all, "every truncation of a valid answer is refused");
}

int
main(void)
{
	static const char *const args[] = {
		"--mx-host=example.test,mx1.example.test,10",
		"--mx-host=example.test,mx2.example.test,20",
		"--host-record=mx1.example.test,127.0.0.2,::2",
		"--host-record=mx2.example.test,127.0.0.3",
		"--txt-record=example.test,v=spf1 ip4:,127.0.0.1",
		"--cname=alias.test,example.test",
		"--cname=alias2.test,alias3.test",
		"--cname=alias3.test,mx1.example.test",
		"--mx-host=nullmx.test,.,0",
		"--address=/nx.test/",
		"--host-record=auth.test,127.0.0.4",
		"--auth-zone=auth.test",
		"--auth-server=ns.auth.test",
		"--local-ttl=300",
		NULL,
	};
	struct testdns t;

	log_open("test_dns", LOG_TO_STDERR, LOG_LEVEL_WARN);
	loop = uv_default_loop();
	if (testdns_start(&t, args) == -1) {
		if (testdns_dnsmasq() != NULL) {
			printf("1..1\nnot ok 1 - dnsmasq is installed but did not start\n");
			return 1;
		}
		printf("1..0 # SKIP dnsmasq not available\n");
		return 0;
	}
	plan(20 + 3);
	test_live(&t);
	test_packets();
	uv_loop_close(loop);
	return done();
}
