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
 * none|may|encrypt|verify as the value.  Both are parsed once per
 * config into a struct route_table (route_table_parse(): daemon_check()
 * to validate, the delivery engine to use); lookups never parse text.
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

enum route_tls { ROUTE_TLS_NONE, ROUTE_TLS_MAY, ROUTE_TLS_ENCRYPT, ROUTE_TLS_VERIFY };
int route_tls_parse(const char *s, enum route_tls *out);
const char *route_strtls(enum route_tls t);

/* One parsed `key=value` entry of the transport table or the TLS map. */
struct route_entry {
	char key[ROUTE_HOST_MAX];	/* "example.test", ".example.test" or "*" */
	struct route_nexthop nh;	/* transport; host "" with mx: the domain itself */
	enum route_tls tls;		/* TLS policy map */
};

struct route_table {
	struct route_entry *e;		/* owned */
	size_t n;
};

enum route_table_kind { ROUTE_TABLE_TRANSPORT, ROUTE_TABLE_TLS };
/* Parse LIST into T (empty on error); -1 with WHY naming the first bad entry. */
int route_table_parse(struct route_table *t, const struct config_list *list,
    enum route_table_kind kind, char *why, size_t whylen);
void route_table_free(struct route_table *t);
/* DOMAIN's entry: exact key, then the nearest `.parent`, then `*`; or NULL. */
const struct route_entry *route_table_find(const struct route_table *t, const char *domain);

/* DOMAIN's next hop from a parsed transport table: 1 found (OUT set), 0 none. */
int route_transport_lookup(const struct route_table *t, const char *domain,
    struct route_nexthop *out);
/* Policy for DOMAIN: its entry in MAP, else DEFAULT (smtp_tls_policy). */
enum route_tls route_tls_policy(const struct route_table *map, enum route_tls dflt,
    const char *domain);

/* Text forms, for tests and checks: parse LIST and look up / validate it. */
int route_transport_find(const struct config_list *list, const char *domain,
    struct route_nexthop *out, char *why, size_t whylen);
int route_transport_check(const struct config_list *list, char *why, size_t whylen);
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
	int via_transport;		/* the transport table chose the next hop
					 * (not for "mx[:port]": the domain's own MX) */
};

struct route_req;
typedef void (*route_cb)(void *arg, const struct route_result *r);

/* What a resolution needs from the config, already parsed. */
struct route_params {
	const struct route_table *transport;	/* borrowed for the call */
	enum config_addr_pref addrpref;		/* smtp_address_preference */
};

/* Resolve DOMAIN through the transport table and DNS.  CB runs once from
 * the loop unless route_cancel() was called first. */
struct route_req *route_resolve(struct dns *dns, const struct route_params *p,
    const char *domain, route_cb cb, void *arg);
void route_cancel(struct route_req *req);

#endif
