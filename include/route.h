/* SPDX-License-Identifier: ISC */
/*
 * route.h: where mail for a domain goes (DESIGN.md §8, RFC 5321 §5.1).
 * A route is an ordered list of (host, address, port) targets for the
 * delivery engine to try in turn, or an outcome for the whole domain:
 * null MX (RFC 7505) and NXDOMAIN are permanent, resolver trouble is
 * temporary.
 *
 * The transport table (config key `transport`, postern.conf(5)) lets an
 * operator override DNS, one `domain=nexthop` entry per list item:
 *
 *   example.test=[127.0.0.2]:2525   that host or address, no MX lookup
 *   example.test=[mail.example.net] ditto, port 25
 *   example.test=relay.example.net:587  MX lookup for relay.example.net
 *   example.test=mx:2525            MX lookup for example.test, port 2525
 *   .example.test=...               every subdomain of example.test
 *   *=[smarthost.example.net]:587   everything else (smart host)
 *
 * An exact domain wins over a `.parent` entry, which wins over `*`.
 * The TLS policy map (smtp_tls_policy_map) uses the same keys with
 * none|may|encrypt|verify as the value.
 */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dns.h"
#include "outcome.h"

#define ROUTE_HOST_MAX 256
#define ROUTE_MAX_HOSTS 10	/* MX hosts tried per delivery */
#define ROUTE_MAX_TARGETS 20	/* addresses tried per delivery */

struct route_nexthop {
	char host[ROUTE_HOST_MAX];	/* domain for an MX lookup, or a host/literal */
	int port;
	int mx;				/* look up MX records for host */
};

/* Find DOMAIN's entry in LIST (transport syntax above).  1 found (OUT
 * set), 0 none, -1 a malformed entry (WHY says which). */
int route_transport_find(const struct config_list *list, const char *domain,
    struct route_nexthop *out, char *why, size_t whylen);
/* Check every entry of the transport table; -1 with WHY on the first bad one. */
int route_transport_check(const struct config_list *list, char *why, size_t whylen);

enum route_tls { ROUTE_TLS_NONE, ROUTE_TLS_MAY, ROUTE_TLS_ENCRYPT, ROUTE_TLS_VERIFY };
int route_tls_parse(const char *s, enum route_tls *out);
const char *route_strtls(enum route_tls t);
/* Policy for DOMAIN: smtp_tls_policy_map entry or smtp_tls_policy. */
enum route_tls route_tls_policy(const struct config *cfg, const char *domain);
int route_tls_map_check(const struct config_list *list, char *why, size_t whylen);

/* Sort MX records by preference, shuffling equal preferences (RFC 5321
 * §5.1); RAND returns a uniformly random value below N (NULL =
 * crypto_random_uniform, src/lib/crypto.c). */
void route_mx_sort(struct dns_rr *rr, size_t n, unsigned (*rand_below)(unsigned n));

struct route_target {
	char host[ROUTE_HOST_MAX];	/* MX host name (TLS name), or the literal */
	char addr[64];			/* presentation form */
	int family;			/* AF_INET / AF_INET6 */
	int port;
	int pref;
};

struct route_result {
	struct outcome o;		/* OK: targets below; else the domain's fate */
	size_t n;
	struct route_target *t;		/* owned by the result */
	int implicit_mx;		/* no MX: the domain's own address (RFC 5321 §5.1) */
	int via_transport;		/* the transport table chose the next hop */
};

struct route_req;
typedef void (*route_cb)(void *arg, const struct route_result *r);

/* Resolve DOMAIN through the transport table and DNS.  CB runs once from
 * the loop unless route_cancel() was called first. */
struct route_req *route_resolve(struct dns *dns, const struct config *cfg,
    const char *domain, route_cb cb, void *arg);
void route_cancel(struct route_req *req);

#endif
