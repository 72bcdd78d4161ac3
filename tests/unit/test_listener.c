/* SPDX-License-Identifier: ISC */
/*
 * test_listener: the smtpd_relay_networks matcher (IPv4 and IPv6
 * CIDRs, prefix lengths that do not fall on byte boundaries, malformed
 * CIDRs) and relay_strmode().  The socket paths are covered by the
 * integration tests (tests/integration/test_smtp_*.py).
 */
#include "autoconfig.h"

#include <string.h>

#include "listener.h"
#include "relay.h"
#include "tap.h"

struct cidr_case {
	const char *cidr;
	const char *addr;
	int want;
};

static const struct cidr_case cases[] = {
	{ "127.0.0.0/8", "127.0.0.1", 1 },
	{ "127.0.0.0/8", "127.255.255.255", 1 },
	{ "127.0.0.0/8", "128.0.0.1", 0 },
	{ "127.0.0.1/32", "127.0.0.1", 1 },
	{ "127.0.0.1/32", "127.0.0.2", 0 },
	{ "127.0.0.1", "127.0.0.1", 1 },
	{ "10.1.2.0/23", "10.1.3.200", 1 },
	{ "10.1.2.0/23", "10.1.4.1", 0 },
	{ "192.168.100.0/22", "192.168.103.255", 1 },
	{ "192.168.100.0/22", "192.168.104.0", 0 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "0.0.0.0/0", "::1", 0 },
	{ "::1/128", "::1", 1 },
	{ "::1/128", "::2", 0 },
	{ "::1/128", "127.0.0.1", 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "2001:db8:8000::/33", "2001:db8:8000::1", 1 },
	{ "2001:db8:8000::/33", "2001:db8:7fff::1", 0 },
	{ "::/0", "fe80::1", 1 },
	{ "127.0.0.0/8", "not an address", 0 },
	{ "127.0.0.0/33", "127.0.0.1", -1 },
	{ "127.0.0.0/", "127.0.0.1", -1 },
	{ "127.0.0.0/x", "127.0.0.1", -1 },
	{ "127.0.0/8", "127.0.0.1", -1 },
	{ "::1/129", "::1", -1 },
	{ "example.com/8", "127.0.0.1", -1 },
	{ "", "127.0.0.1", -1 },
};

int
main(void)
{
	size_t i;
	int bad = 0, got;

	plan(4);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		got = listener_cidr_match(cases[i].cidr, cases[i].addr);
		if (got != cases[i].want) {
			bad++;
			diag("%s contains %s: got %d, want %d", cases[i].cidr, cases[i].addr, got,
			    cases[i].want);
		}
	}
	is_int(bad, 0, "%zu CIDR cases", ARRAY_SIZE(cases));
	is_str(relay_strmode(RELAY_MODE_SUBMISSION), "submission", "mode name submission");
	is_str(relay_strmode(RELAY_MODE_SUBMISSIONS), "submissions", "mode name submissions");
	is_str(relay_strmode(RELAY_MODE_RELAY), "relay", "mode name relay");
	return done();
}
