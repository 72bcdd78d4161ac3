/* SPDX-License-Identifier: ISC */
/*
 * route.c: turn a recipient domain into the ordered list of SMTP
 * servers to try (RFC 5321 §5.1), for the delivery engine.
 *
 * Order of decisions: the transport table (an operator's override:
 * fixed host, MX lookup of another name, or another port; syntax in
 * include/route.h and postern.conf(5)); then DNS: MX records sorted by
 * preference with equal preferences shuffled so load spreads; a null MX
 * (a single "0 ." record, RFC 7505 §3) is a permanent 556 5.1.10; no MX
 * records (NODATA) means the domain itself is the one host with
 * preference 0 (implicit MX); NXDOMAIN is a permanent 5.1.2; resolver
 * trouble is a temporary 4.4.3.  Each host's A and AAAA records are
 * fetched in parallel and ordered per smtp_address_preference.
 *
 * The transport table and the TLS policy map are parsed once per config
 * (route_table_parse(), called by daemon_check() and by the delivery
 * glue); route_resolve() and route_tls_policy() only search the parsed
 * entries.
 *
 * Invariant: the callback runs once, from the loop, never inside
 * route_resolve(); after route_cancel() it never runs.  The request
 * frees itself through its timer's close callback.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dns.h"
#include "log.h"
#include "crypto.h"
#include "route.h"
#include "util.h"

/* ---- transport table (pure) ---- */

/* Parse the right-hand side of a transport entry for DOMAIN. */
static int
nexthop_parse(const char *v, const char *domain, struct route_nexthop *out)
{
	const char *host, *hend, *port = NULL;
	char *end;
	long p = 25;

	memset(out, 0, sizeof(*out));
	if (*v == '[') {
		host = v + 1;
		hend = strchr(host, ']');
		if (hend == NULL || hend == host)
			return -1;
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend[1] != '\0')
			return -1;
		out->mx = 0;
	} else {
		host = v;
		hend = strchr(v, ':');
		if (hend) {
			port = hend + 1;
		} else {
			hend = v + strlen(v);
		}
		if (hend == host)
			return -1;
		out->mx = 1;
		if ((size_t)(hend - host) == 2 && strncasecmp(host, "mx", 2) == 0) {
			host = domain;
			hend = domain + strlen(domain);
		}
	}
	if (port) {
		p = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
			return -1;
	}
	if ((size_t)(hend - host) >= sizeof(out->host))
		return -1;
	memcpy(out->host, host, (size_t)(hend - host));
	out->host[hend - host] = '\0';
	out->port = (int)p;
	return 0;
}

void
route_table_free(struct route_table *t)
{
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

int
route_table_parse(struct route_table *t, const struct config_list *list,
    enum route_table_kind kind, char *why, size_t whylen)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	if (list == NULL || list->n == 0)
		return 0;
	t->e = xcalloc(list->n, sizeof(*t->e));
	for (i = 0; i < list->n; i++) {
		const char *item = list->items[i], *eq = strchr(item, '=');
		struct route_entry *e = &t->e[i];
		size_t klen = eq ? (size_t)(eq - item) : 0;
		int bad;

		if (kind == ROUTE_TABLE_TLS) {
			bad = eq == NULL || eq == item || klen >= sizeof(e->key) ||
			    route_tls_parse(eq + 1, &e->tls) == -1;
			if (bad) {
				snprintf(why, whylen, "smtp_tls_policy_map entry '%s' is not "
				    "domain=none|may|encrypt|verify", item);
				goto fail;
			}
		} else if (eq == NULL || eq == item || klen >= sizeof(e->key)) {
			snprintf(why, whylen, "transport entry '%s' is not domain=nexthop", item);
			goto fail;
		} else if (nexthop_parse(eq + 1, "", &e->nh) == -1) {
			/* "" for the domain: "mx[:port]" keeps host empty (the domain itself) */
			snprintf(why, whylen, "transport next hop '%s' is not [host]:port, "
			    "host:port or mx:port", eq + 1);
			goto fail;
		}
		memcpy(e->key, item, klen);
		e->key[klen] = '\0';
		t->n++;
	}
	return 0;
fail:
	route_table_free(t);
	return -1;
}

const struct route_entry *
route_table_find(const struct route_table *t, const char *domain)
{
	const struct route_entry *best = NULL;
	size_t i, dlen = strlen(domain), bestlen = 0;
	int best_exact = 0;

	for (i = 0; t != NULL && i < t->n; i++) {
		const struct route_entry *e = &t->e[i];
		size_t klen = strlen(e->key);

		if (klen == dlen && strcasecmp(e->key, domain) == 0) {
			best = e;
			best_exact = 1;
			bestlen = klen;
		} else if (!best_exact && e->key[0] == '.' && klen < dlen &&
		    strcasecmp(e->key, domain + dlen - klen) == 0 && klen > bestlen) {
			best = e;
			bestlen = klen;
		} else if (best == NULL && klen == 1 && e->key[0] == '*') {
			best = e;
		}
	}
	return best;
}

int
route_transport_lookup(const struct route_table *t, const char *domain,
    struct route_nexthop *out)
{
	const struct route_entry *e = route_table_find(t, domain);

	if (e == NULL)
		return 0;
	*out = e->nh;
	if (out->host[0] == '\0')	/* "mx[:port]": MX lookup of the domain itself */
		str_copy(out->host, domain, sizeof(out->host));
	return 1;
}

int
route_transport_find(const struct config_list *list, const char *domain,
    struct route_nexthop *out, char *why, size_t whylen)
{
	struct route_table t;
	int found;

	if (route_table_parse(&t, list, ROUTE_TABLE_TRANSPORT, why, whylen) == -1)
		return -1;
	found = route_transport_lookup(&t, domain, out);
	route_table_free(&t);
	return found;
}

int
route_transport_check(const struct config_list *list, char *why, size_t whylen)
{
	struct route_table t;

	if (route_table_parse(&t, list, ROUTE_TABLE_TRANSPORT, why, whylen) == -1)
		return -1;
	route_table_free(&t);
	return 0;
}

int
route_tls_parse(const char *s, enum route_tls *out)
{
	static const char *names[] = { "none", "may", "encrypt", "verify" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum route_tls)i;
			return 0;
		}
	return -1;
}

const char *
route_strtls(enum route_tls t)
{
	switch (t) {
	case ROUTE_TLS_NONE: return "none";
	case ROUTE_TLS_MAY: return "may";
	case ROUTE_TLS_ENCRYPT: return "encrypt";
	case ROUTE_TLS_VERIFY: return "verify";
	}
	return "?";
}

enum route_tls
route_tls_policy(const struct route_table *map, enum route_tls dflt, const char *domain)
{
	const struct route_entry *e = route_table_find(map, domain);

	return e != NULL ? e->tls : dflt;
}

int
route_tls_map_check(const struct config_list *list, char *why, size_t whylen)
{
	struct route_table t;

	if (route_table_parse(&t, list, ROUTE_TABLE_TLS, why, whylen) == -1)
		return -1;
	route_table_free(&t);
	return 0;
}

/* ---- MX ordering (pure) ---- */

static unsigned
default_rand_below(unsigned n)
{
	return crypto_random_uniform(n);
}

void
route_mx_sort(struct dns_rr *rr, size_t n, unsigned (*rand_below)(unsigned n))
{
	size_t i, j, start;

	if (rand_below == NULL)
		rand_below = default_rand_below;
	/* insertion sort by preference: n is small */
	for (i = 1; i < n; i++) {
		struct dns_rr tmp = rr[i];
		for (j = i; j > 0 && rr[j - 1].pref > tmp.pref; j--)
			rr[j] = rr[j - 1];
		rr[j] = tmp;
	}
	/* Fisher-Yates within each run of equal preference (RFC 5321 §5.1) */
	for (start = 0; start < n; start = i) {
		for (i = start + 1; i < n && rr[i].pref == rr[start].pref; i++)
			;
		for (j = i - 1; j > start; j--) {
			size_t k = start + rand_below((unsigned)(j - start + 1));
			struct dns_rr tmp = rr[j];
			rr[j] = rr[k];
			rr[k] = tmp;
		}
	}
}

/* ---- asynchronous resolution ---- */

struct route_host {
	char name[ROUTE_HOST_MAX];
	int pref;
	struct route_req *req;
	struct dns_query *qa, *qaaaa;
	enum dns_status sa, saaaa;
	struct dns_result ra, raaaa;
};

struct route_req {
	struct dns *dns;		/* borrowed */
	enum config_addr_pref addrpref;	/* smtp_address_preference */
	char domain[ROUTE_HOST_MAX];
	struct route_nexthop nh;
	route_cb cb;
	void *arg;
	int cancelled;
	int pending;
	struct dns_query *mxq;
	size_t nhosts;
	struct route_host hosts[ROUTE_MAX_HOSTS];
	struct route_result res;
	uv_timer_t timer;		/* defers the callback; its close frees us */
};

static void
req_closed(uv_handle_t *h)
{
	struct route_req *req = h->data;
	size_t i;

	for (i = 0; i < req->nhosts; i++) {
		dns_result_clear(&req->hosts[i].ra);
		dns_result_clear(&req->hosts[i].raaaa);
	}
	free(req->res.t);
	free(req);
}

static void
req_fire(uv_timer_t *t)
{
	struct route_req *req = t->data;

	if (!req->cancelled)
		req->cb(req->arg, &req->res);
	uv_close((uv_handle_t *)&req->timer, req_closed);
}

/* Finish: the callback runs from the loop on the next turn. */
static void
req_finish(struct route_req *req)
{
	uv_timer_start(&req->timer, req_fire, 0, 0);
}

static void
add_target(struct route_req *req, const char *host, const char *addr, int family, int pref)
{
	struct route_result *r = &req->res;
	struct route_target *t;

	if (r->n >= ROUTE_MAX_TARGETS)
		return;
	r->t = xrealloc(r->t, (r->n + 1) * sizeof(*r->t));
	t = &r->t[r->n++];
	memset(t, 0, sizeof(*t));
	str_copy(t->host, host, sizeof(t->host));
	str_copy(t->addr, addr, sizeof(t->addr));
	t->family = family;
	t->port = req->nh.port;
	t->pref = pref;
}

/* An address literal, possibly with the RFC 5321 §4.1.3 "IPv6:" tag. */
static int
literal_family(const char *s, char *addr, size_t addrlen)
{
	unsigned char b[16];

	if (strncasecmp(s, "IPv6:", 5) == 0)
		s += 5;
	str_copy(addr, s, addrlen);
	if (inet_pton(AF_INET, s, b) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, b) == 1)
		return AF_INET6;
	return 0;
}

static void
hosts_done(struct route_req *req)
{
	int v6first = req->addrpref == CONFIG_PREFER_IPV6 || req->addrpref == CONFIG_IPV6_ONLY;
	int tempfail = 0;
	size_t i, j, k;

	for (i = 0; i < req->nhosts; i++) {
		struct route_host *h = &req->hosts[i];
		for (k = 0; k < 2; k++) {
			int six = v6first ? k == 0 : k == 1;
			struct dns_result *r = six ? &h->raaaa : &h->ra;
			enum dns_status st = six ? h->saaaa : h->sa;

			if (st == DNS_TEMPFAIL)
				tempfail = 1;
			if (st != DNS_OK)
				continue;
			for (j = 0; j < r->n; j++)
				add_target(req, h->name, r->rr[j].name, six ? AF_INET6 : AF_INET, h->pref);
		}
	}
	if (req->res.n > 0)
		outcome_ok(&req->res.o);
	else if (tempfail)
		outcome_reply(&req->res.o, R_DNS_TEMPFAIL, req->domain);
	else if (req->res.implicit_mx && req->hosts[0].sa == DNS_NXDOMAIN)
		outcome_reply(&req->res.o, R_DOMAIN_NOT_FOUND, req->domain);
	else
		outcome_reply(&req->res.o, R_NO_MX_ADDRESS, req->domain);
	req_finish(req);
}

static void
addr_cb(void *arg, const struct dns_result *r)
{
	struct route_host *h = arg;
	struct route_req *req = h->req;

	if (r->type == DNS_T_A) {
		h->qa = NULL;
		h->sa = r->status;
		dns_result_copy(&h->ra, r);
	} else {
		h->qaaaa = NULL;
		h->saaaa = r->status;
		dns_result_copy(&h->raaaa, r);
	}
	if (--req->pending == 0)
		hosts_done(req);
}

static void
add_host(struct route_req *req, const char *name, int pref)
{
	struct route_host *h;

	if (req->nhosts >= ROUTE_MAX_HOSTS)
		return;
	h = &req->hosts[req->nhosts++];
	memset(h, 0, sizeof(*h));
	str_copy(h->name, name, sizeof(h->name));
	h->pref = pref;
	h->req = req;
	h->sa = h->saaaa = DNS_NODATA;
	if (req->addrpref != CONFIG_IPV6_ONLY)
		req->pending++;
	if (req->addrpref != CONFIG_IPV4_ONLY)
		req->pending++;
}

static void
hosts_lookup(struct route_req *req)
{
	size_t i;

	if (req->pending == 0) {
		hosts_done(req);
		return;
	}
	for (i = 0; i < req->nhosts; i++) {
		struct route_host *h = &req->hosts[i];
		if (req->addrpref != CONFIG_IPV6_ONLY)
			h->qa = dns_lookup(req->dns, h->name, DNS_T_A, addr_cb, h);
		if (req->addrpref != CONFIG_IPV4_ONLY)
			h->qaaaa = dns_lookup(req->dns, h->name, DNS_T_AAAA, addr_cb, h);
	}
}

static void
mx_cb(void *arg, const struct dns_result *r)
{
	struct route_req *req = arg;
	struct dns_rr *rr;
	size_t i;

	req->mxq = NULL;
	switch (r->status) {
	case DNS_OK:
		/* RFC 7505 §3: a single MX "0 ." says the domain takes no mail */
		if (r->n == 1 && r->rr[0].name[0] == '\0') {
			outcome_reply(&req->res.o, R_NULL_MX, req->domain);
			req_finish(req);
			return;
		}
		rr = xcalloc(r->n, sizeof(*rr));
		memcpy(rr, r->rr, r->n * sizeof(*rr));
		route_mx_sort(rr, r->n, NULL);
		for (i = 0; i < r->n; i++)
			if (rr[i].name[0] != '\0')
				add_host(req, rr[i].name, rr[i].pref);
		free(rr);
		if (req->nhosts == 0) {
			outcome_reply(&req->res.o, R_NULL_MX, req->domain);
			req_finish(req);
			return;
		}
		hosts_lookup(req);
		return;
	case DNS_NODATA:
		/* RFC 5321 §5.1: no MX, the name itself is the implicit MX */
		req->res.implicit_mx = 1;
		add_host(req, req->nh.host, 0);
		hosts_lookup(req);
		return;
	case DNS_NXDOMAIN:
	case DNS_BADNAME:
		outcome_reply(&req->res.o, R_DOMAIN_NOT_FOUND, req->nh.host);
		break;
	case DNS_TEMPFAIL:
		{
			char d[512];

			snprintf(d, sizeof(d), "%s: %s", req->nh.host, r->why);
			outcome_reply(&req->res.o, R_DNS_TEMPFAIL, d);
		}
		break;
	}
	req_finish(req);
}

struct route_req *
route_resolve(struct dns *dns, const struct route_params *p, const char *domain,
    route_cb cb, void *arg)
{
	struct route_req *req = xcalloc(1, sizeof(*req));
	char addr[64];
	int found, fam;

	req->dns = dns;
	req->addrpref = p->addrpref;
	req->cb = cb;
	req->arg = arg;
	str_copy(req->domain, domain, sizeof(req->domain));
	uv_timer_init(dns_loop(dns), &req->timer);
	req->timer.data = req;

	found = route_transport_lookup(p->transport, domain, &req->nh);
	if (found == 0) {
		str_copy(req->nh.host, domain, sizeof(req->nh.host));
		req->nh.port = 25;
		req->nh.mx = 1;
	} else {
		/* "mx[:port]" keeps the domain's own MX (DNS routing on another
		 * port): only another next hop counts as the table's choice */
		req->res.via_transport = !(req->nh.mx && strcasecmp(req->nh.host, domain) == 0);
	}
	/* Domain literal (RFC 5321 §4.1.3) or a bracketed address: no DNS. */
	if ((fam = literal_family(req->nh.host, addr, sizeof(addr))) != 0) {
		add_target(req, addr, addr, fam, 0);
		outcome_ok(&req->res.o);
		req_finish(req);
		return req;
	}
	if (!req->nh.mx) {
		add_host(req, req->nh.host, 0);
		hosts_lookup(req);
		return req;
	}
	req->mxq = dns_lookup(dns, req->nh.host, DNS_T_MX, mx_cb, req);
	return req;
}

void
route_cancel(struct route_req *req)
{
	size_t i;

	if (req == NULL)
		return;
	req->cancelled = 1;
	if (req->mxq)
		dns_cancel(req->mxq);
	for (i = 0; i < req->nhosts; i++) {
		if (req->hosts[i].qa)
			dns_cancel(req->hosts[i].qa);
		if (req->hosts[i].qaaaa)
			dns_cancel(req->hosts[i].qaaaa);
	}
	/* Nothing will call back any more: close now unless already finishing. */
	if (!uv_is_active((uv_handle_t *)&req->timer) && !uv_is_closing((uv_handle_t *)&req->timer))
		uv_close((uv_handle_t *)&req->timer, req_closed);
}
