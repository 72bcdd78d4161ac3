/* SPDX-License-Identifier: ISC */
/*
 * spf.c: would a receiver see SPF pass (RFC 7208) for the envelope
 * sender's domain when we deliver from our egress addresses?  The only
 * file that uses libspf2.  Called by the relay at MAIL FROM through
 * spf_check_async(), which runs the check in the uv thread pool:
 * libspf2 resolves synchronously.
 *
 * libspf2 gets a DNS layer of ours (SPF_dns_server_t with our lookup
 * function) that sends its queries with res_nsend() to dns_servers
 * (IPv4 host:port entries) or, when none are configured, to the system
 * resolver's servers; that gives us the TTLs (the verdict is cached per
 * domain for the smallest TTL seen, clamped to SPF_TTL_MIN..SPF_TTL_MAX)
 * and a query counter for tests.  Each check builds its own SPF_server
 * and resolver state, so threads share only the mutex-protected cache.
 *
 * Result -> action: pass is always fine; any other result follows the
 * account's `spf_action=` or spf_action: ignore (nothing), warn (log +
 * an X-Postern-SPF: header for the customer), reject (RFC 7372 codes:
 * 550 5.7.23 for fail/softfail/neutral/none, 550 5.7.24 for permerror,
 * 451 4.7.24 for temperror), with the mechanism the customer must add.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>

#include "log.h"
#include "spf.h"
#include "util.h"

#define SPF_TTL_MIN 30		/* seconds; dnsmasq and friends serve TTL 0 */
#define SPF_TTL_MAX 3600
#define SPF_TTL_ERROR 30	/* temperror verdicts: retry soon */
#define SPF_CACHE_BUCKETS 1024
#define SPF_CACHE_MAX 65536
#define SPF_MAX_IPS 16

struct cache_entry {
	struct cache_entry *next;
	char *key;		/* "domain|ip ip ..." */
	enum spf_result result;
	char ip[64];
	uint64_t expires;	/* now_mono_ms() */
};

struct spf {
	pthread_mutex_t lock;
	struct cache_entry *buckets[SPF_CACHE_BUCKETS];
	size_t entries;
	uint64_t queries;	/* atomic */
};

struct spf *
spf_new(void)
{
	struct spf *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void
cache_clear(struct spf *s)
{
	size_t i;

	for (i = 0; i < SPF_CACHE_BUCKETS; i++) {
		while (s->buckets[i]) {
			struct cache_entry *e = s->buckets[i];

			s->buckets[i] = e->next;
			free(e->key);
			free(e);
		}
	}
	s->entries = 0;
}

void
spf_free(struct spf *s)
{
	if (s == NULL)
		return;
	cache_clear(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

uint64_t
spf_dns_queries(const struct spf *s)
{
	return __atomic_load_n(&s->queries, __ATOMIC_RELAXED);
}

static size_t
hash_key(const char *k)
{
	size_t h = 5381;

	for (; *k; k++)
		h = h * 33 + (unsigned char)*k;
	return h % SPF_CACHE_BUCKETS;
}

static int
cache_get(struct spf *s, const char *key, enum spf_result *r, char *ip, size_t iplen)
{
	struct cache_entry **pp, *e;
	uint64_t now = now_mono_ms();
	int found = 0;

	pthread_mutex_lock(&s->lock);
	for (pp = &s->buckets[hash_key(key)]; (e = *pp) != NULL;) {
		if (e->expires <= now) {
			*pp = e->next;
			free(e->key);
			free(e);
			s->entries--;
			continue;
		}
		if (strcmp(e->key, key) == 0) {
			*r = e->result;
			str_copy(ip, e->ip, iplen);
			found = 1;
			break;
		}
		pp = &e->next;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void
cache_put(struct spf *s, const char *key, enum spf_result r, const char *ip, uint32_t ttl)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e));
	size_t h = hash_key(key);

	e->key = xstrdup(key);
	e->result = r;
	str_copy(e->ip, ip, sizeof(e->ip));
	e->expires = now_mono_ms() + (uint64_t)ttl * 1000;
	pthread_mutex_lock(&s->lock);
	if (s->entries >= SPF_CACHE_MAX)
		cache_clear(s);	/* crude but bounded; entries are cheap to rebuild */
	e->next = s->buckets[h];
	s->buckets[h] = e;
	s->entries++;
	pthread_mutex_unlock(&s->lock);
}

const char *
spf_strresult(enum spf_result r)
{
	switch (r) {
	case SPF_R_NONE: return "none";
	case SPF_R_NEUTRAL: return "neutral";
	case SPF_R_PASS: return "pass";
	case SPF_R_FAIL: return "fail";
	case SPF_R_SOFTFAIL: return "softfail";
	case SPF_R_TEMPERROR: return "temperror";
	case SPF_R_PERMERROR: return "permerror";
	}
	return "?";
}

const char *
spf_straction(enum spf_action a)
{
	return a == SPF_ACTION_REJECT ? "reject" : a == SPF_ACTION_WARN ? "warn" : "ignore";
}

static int
parse_action(const char *s, enum spf_action *a)
{
	if (strcmp(s, "ignore") == 0)
		*a = SPF_ACTION_IGNORE;
	else if (strcmp(s, "warn") == 0)
		*a = SPF_ACTION_WARN;
	else if (strcmp(s, "reject") == 0)
		*a = SPF_ACTION_REJECT;
	else
		return -1;
	return 0;
}

enum spf_action
spf_action_for(const struct config *cfg, const char *account_record)
{
	char v[32];
	enum spf_action a = SPF_ACTION_WARN;

	if (account_record && kv_get(account_record, "spf_action", v, sizeof(v)) > 0 &&
	    parse_action(v, &a) == 0)
		return a;
	return (enum spf_action)cfg->spf_action;	/* same values */
}

/* A syntactically sane domain: LDH labels (and '_'), no empty label. */
static int
valid_domain(const char *d)
{
	size_t i, label = 0, n = strlen(d);

	if (n == 0 || n > 253 || d[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

/* Our egress IPs: spf_egress_ips, else smtp_bind_address; only literal IPs. */
static size_t
egress_ips(const struct config *cfg, const char **ips, size_t max)
{
	const struct config_list *l = cfg->spf_egress_ips.n ? &cfg->spf_egress_ips : &cfg->smtp_bind_address;
	unsigned char a[16];
	size_t i, n = 0;

	for (i = 0; i < l->n && n < max; i++)
		if (inet_pton(AF_INET, l->items[i], a) == 1 || inet_pton(AF_INET6, l->items[i], a) == 1)
			ips[n++] = l->items[i];
	return n;
}

int
spf_enabled(const struct config *cfg)
{
	const char *ips[1];

	return egress_ips(cfg, ips, 1) > 0;
}

void
spf_required_mechanisms(const struct config *cfg, char *out, size_t outlen)
{
	const char *ips[SPF_MAX_IPS];
	size_t i, n = egress_ips(cfg, ips, SPF_MAX_IPS), off = 0;

	out[0] = '\0';
	for (i = 0; i < n && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s:%s", i ? " " : "",
		    strchr(ips[i], ':') ? "ip6" : "ip4", ips[i]);
}

/* ---- DNS: our libspf2 layer ------------------------------------------- */

struct dnsctx {
	struct spf *s;
	struct __res_state res;
	int res_ok;
	uint32_t min_ttl;
	int have_ttl;
	int dns_errors;		/* temporary DNS errors in the current evaluation */
};

/* Point RES at dns_servers (IPv4 host:port) when configured. */
static int
dns_init(struct dnsctx *c, const struct config *cfg)
{
	size_t i;
	int n = 0;

	memset(&c->res, 0, sizeof(c->res));
	if (res_ninit(&c->res) != 0)
		return -1;
	c->res_ok = 1;
	c->res.retrans = 2;
	c->res.retry = 2;
	for (i = 0; cfg->dns_servers.addrs != NULL && i < cfg->dns_servers.n && n < MAXNS; i++) {
		const char *host = cfg->dns_servers.addrs[i].host;
		int port = cfg->dns_servers.addrs[i].port;
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)(port > 0 ? port : 53));
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
			continue;	/* IPv6 servers: not supported by this path */
		c->res.nsaddr_list[n++] = sin;
	}
	if (n > 0)
		c->res.nscount = n;
	return 0;
}

static void
dns_done(struct dnsctx *c)
{
	if (c->res_ok)
		res_nclose(&c->res);
	c->res_ok = 0;
}

static void
note_ttl(struct dnsctx *c, uint32_t ttl)
{
	if (!c->have_ttl || ttl < c->min_ttl)
		c->min_ttl = ttl;
	c->have_ttl = 1;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * One query.  Returns the answer length, or -1 for no usable answer
 * (timeout, SERVFAIL, REFUSED, ...: a temporary error).  *RCODE is set.
 */
static int
dns_query(struct dnsctx *c, const char *name, int type, unsigned char *ans, int anslen, int *rcode)
{
	unsigned char q[NS_PACKETSZ];
	int qlen, len;

	*rcode = -1;
	if (!c->res_ok)
		return -1;
	qlen = res_nmkquery(&c->res, QUERY, name, C_IN, type, NULL, 0, NULL, q, sizeof(q));
	if (qlen < 0)
		return -1;
	__atomic_fetch_add(&c->s->queries, 1, __ATOMIC_RELAXED);
	len = res_nsend(&c->res, q, qlen, ans, anslen);
	if (len < NS_HFIXEDSZ)
		return -1;
	if (len > anslen)
		len = anslen;
	*rcode = ans[3] & 0x0f;
	return len;
}

/*
 * Walk the answer section: FN(rdata, rdlen, ttl, arg) for each record of
 * TYPE.  Returns the count or -1 on a malformed message.
 */
static int
dns_answers(const unsigned char *msg, int len, int type,
    int (*fn)(const unsigned char *msg, int len, const unsigned char *rd, int rdlen,
    uint32_t ttl, void *arg), void *arg)
{
	const unsigned char *p = msg + NS_HFIXEDSZ, *end = msg + len;
	int qd = get16(msg + 4), an = get16(msg + 6), i, n, count = 0;

	for (i = 0; i < qd; i++) {
		if ((n = dn_skipname(p, end)) < 0 || p + n + 4 > end)
			return -1;
		p += n + 4;
	}
	for (i = 0; i < an; i++) {
		int rtype, rdlen;
		uint32_t ttl;

		if ((n = dn_skipname(p, end)) < 0 || p + n + 10 > end)
			return -1;
		p += n;
		rtype = get16(p);
		ttl = get32(p + 4);
		rdlen = get16(p + 8);
		p += 10;
		if (p + rdlen > end)
			return -1;
		if (rtype == type) {
			if (fn(msg, len, p, rdlen, ttl, arg) != 0)
				return -1;
			count++;
		}
		p += rdlen;
	}
	return count;
}

/* TXT rdata: the character-strings concatenated (RFC 7208 §3.3). */
static char *
txt_join(const unsigned char *rd, int rdlen)
{
	char *s = xmalloc((size_t)rdlen + 1);
	int i = 0, o = 0;

	while (i < rdlen) {
		int l = rd[i++];

		if (i + l > rdlen)
			l = rdlen - i;
		memcpy(s + o, rd + i, (size_t)l);
		o += l;
		i += l;
	}
	s[o] = '\0';
	return s;
}

struct rr_fill {
	SPF_dns_rr_t *rr;
	struct dnsctx *c;
	int type;
};

static int
fill_cb(const unsigned char *msg, int len, const unsigned char *rd, int rdlen,
    uint32_t ttl, void *arg)
{
	struct rr_fill *f = arg;
	int idx = f->rr->num_rr;
	char name[NS_MAXDNAME];
	char *txt;

	note_ttl(f->c, ttl);
	switch (f->type) {
	case ns_t_a:
		if (rdlen != 4 || SPF_dns_rr_buf_realloc(f->rr, idx, sizeof(struct in_addr)) != SPF_E_SUCCESS)
			return -1;
		memcpy(&f->rr->rr[idx]->a, rd, 4);
		break;
	case ns_t_aaaa:
		if (rdlen != 16 || SPF_dns_rr_buf_realloc(f->rr, idx, sizeof(struct in6_addr)) != SPF_E_SUCCESS)
			return -1;
		memcpy(&f->rr->rr[idx]->aaaa, rd, 16);
		break;
	case ns_t_mx:
		if (rdlen < 3 || dn_expand(msg, msg + len, rd + 2, name, sizeof(name)) < 0 ||
		    SPF_dns_rr_buf_realloc(f->rr, idx, strlen(name) + 1) != SPF_E_SUCCESS)
			return -1;
		strcpy(f->rr->rr[idx]->mx, name);
		break;
	case ns_t_ptr:
		if (dn_expand(msg, msg + len, rd, name, sizeof(name)) < 0 ||
		    SPF_dns_rr_buf_realloc(f->rr, idx, strlen(name) + 1) != SPF_E_SUCCESS)
			return -1;
		strcpy(f->rr->rr[idx]->ptr, name);
		break;
	case ns_t_txt:
	case ns_t_spf:
		txt = txt_join(rd, rdlen);
		if (SPF_dns_rr_buf_realloc(f->rr, idx, strlen(txt) + 1) != SPF_E_SUCCESS) {
			free(txt);
			return -1;
		}
		strcpy(f->rr->rr[idx]->txt, txt);
		free(txt);
		break;
	default:
		return 0;	/* not a type libspf2 asks for */
	}
	f->rr->num_rr = idx + 1;
	return 0;
}

/* SPF_dns_lookup_t: answer libspf2's query from the network. */
static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type, int should_cache)
{
	struct dnsctx *c = srv->hook;
	unsigned char *ans = xmalloc(65536);
	struct rr_fill f;
	SPF_dns_rr_t *rr;
	int len, rcode, n;

	len = dns_query(c, domain, type, ans, 65536, &rcode);
	if (len < 0 || (rcode != ns_r_noerror && rcode != ns_r_nxdomain)) {
		free(ans);
		c->dns_errors++;
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	if (rcode == ns_r_nxdomain) {
		free(ans);
		return SPF_dns_rr_new_init(srv, domain, type, 0, HOST_NOT_FOUND);
	}
	rr = SPF_dns_rr_new_init(srv, domain, type, 0, NETDB_SUCCESS);
	if (rr == NULL) {
		free(ans);
		return NULL;
	}
	f.rr = rr;
	f.c = c;
	f.type = type;
	n = dns_answers(ans, len, type, fill_cb, &f);
	free(ans);
	if (n < 0) {
		SPF_dns_rr_free(rr);
		c->dns_errors++;
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	if (rr->num_rr == 0)
		rr->herrno = NO_DATA;
	rr->ttl = c->have_ttl ? c->min_ttl : 0;
	return rr;
}

/* ---- the check ------------------------------------------------------- */

static enum spf_result
map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS: return SPF_R_PASS;
	case SPF_RESULT_FAIL: return SPF_R_FAIL;
	case SPF_RESULT_SOFTFAIL: return SPF_R_SOFTFAIL;
	case SPF_RESULT_NEUTRAL: return SPF_R_NEUTRAL;
	case SPF_RESULT_NONE: return SPF_R_NONE;
	case SPF_RESULT_TEMPERROR: return SPF_R_TEMPERROR;
	case SPF_RESULT_PERMERROR: return SPF_R_PERMERROR;
	default: return SPF_R_PERMERROR;
	}
}

/* Which result to report when the egress IPs disagree: the worst. */
static int
severity(enum spf_result r)
{
	switch (r) {
	case SPF_R_PASS: return 0;
	case SPF_R_NONE: return 1;
	case SPF_R_NEUTRAL: return 2;
	case SPF_R_SOFTFAIL: return 3;
	case SPF_R_FAIL: return 4;
	case SPF_R_PERMERROR: return 5;
	case SPF_R_TEMPERROR: return 6;
	}
	return 6;
}

/*
 * libspf2 reports a record that does not compile as SPF_E_NOT_SPF with
 * no result; it is a permerror (RFC 7208 §4.6), not none: look for an
 * error other than "not SPF" among the response's messages.
 */
static int
compile_errors(SPF_response_t *resp)
{
	int i, n = SPF_response_messages(resp);

	for (i = 0; i < n; i++) {
		SPF_error_t *e = SPF_response_message(resp, i);

		if (e && SPF_error_errorp(e) && SPF_error_code(e) != SPF_E_NOT_SPF)
			return 1;
	}
	return 0;
}

static enum spf_result
evaluate(struct spf *s, const struct config *cfg, const char *sender, const char *domain,
    const char **ips, size_t nips, char *worst_ip, size_t iplen, uint32_t *ttl)
{
	SPF_dns_server_t *layer;
	SPF_server_t *server;
	struct dnsctx c;
	enum spf_result worst = SPF_R_PASS;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.s = s;
	worst_ip[0] = '\0';
	if (dns_init(&c, cfg) == -1) {
		*ttl = SPF_TTL_ERROR;
		str_copy(worst_ip, ips[0], iplen);
		return SPF_R_TEMPERROR;
	}
	layer = xcalloc(1, sizeof(*layer));
	layer->lookup = layer_lookup;
	layer->name = "postern";
	layer->hook = &c;
	server = SPF_server_new_dns(layer, 0);
	for (i = 0; i < nips; i++) {
		SPF_request_t *req = SPF_request_new(server);
		SPF_response_t *resp = NULL;
		enum spf_result r;
		SPF_errcode_t e;

		c.dns_errors = 0;
		if (strchr(ips[i], ':'))
			e = SPF_request_set_ipv6_str(req, ips[i]);
		else
			e = SPF_request_set_ipv4_str(req, ips[i]);
		if (e != SPF_E_SUCCESS || SPF_request_set_env_from(req, sender) != 0) {
			r = SPF_R_PERMERROR;
		} else {
			e = SPF_request_query_mailfrom(req, &resp);
			if (resp == NULL)
				r = SPF_R_TEMPERROR;
			else if (SPF_response_result(resp) != SPF_RESULT_INVALID)
				r = map_result(SPF_response_result(resp));
			else if (e == SPF_E_DNS_ERROR)
				r = SPF_R_TEMPERROR;	/* libspf2 leaves the result unset then */
			else if (e == SPF_E_NOT_SPF && !compile_errors(resp))
				r = SPF_R_NONE;
			else
				r = SPF_R_PERMERROR;
			/*
			 * RFC 7208 §4.4, §5: a DNS error ends the evaluation
			 * with temperror; libspf2 1.2.10 reports some of those
			 * as permerror or none, so trust our own DNS layer.
			 */
			if (c.dns_errors > 0 && r != SPF_R_PASS)
				r = SPF_R_TEMPERROR;
		}
		if (resp)
			SPF_response_free(resp);
		SPF_request_free(req);
		if (worst_ip[0] == '\0' || severity(r) > severity(worst)) {
			worst = r;
			str_copy(worst_ip, ips[i], iplen);
		}
	}
	SPF_server_free(server);
	free(layer);
	dns_done(&c);
	if (worst == SPF_R_TEMPERROR)
		*ttl = SPF_TTL_ERROR;
	else if (!c.have_ttl || c.min_ttl < SPF_TTL_MIN)
		*ttl = SPF_TTL_MIN;
	else
		*ttl = c.min_ttl > SPF_TTL_MAX ? SPF_TTL_MAX : c.min_ttl;
	(void)domain;
	return worst;
}

/* Fill v->out and v->header from v->result and v->action. */
static void
verdict_finish(struct spf_verdict *v)
{
	const char *mech = strchr(v->ip, ':') ? "ip6" : "ip4";

	outcome_ok(&v->out);
	v->header[0] = '\0';
	if (v->skipped || v->result == SPF_R_PASS || v->action == SPF_ACTION_IGNORE)
		return;
	if (v->action == SPF_ACTION_WARN) {
		snprintf(v->header, sizeof(v->header),
		    "X-Postern-SPF: %s (domain %s does not authorise relay address %s; "
		    "add %s:%s to its SPF record)\r\n",
		    spf_strresult(v->result), v->domain, v->ip, mech, v->ip);
		return;
	}
	switch (v->result) {
	case SPF_R_TEMPERROR:
		outcome_set(&v->out, OUTCOME_TEMPFAIL, 451, "4.7.24",
		    "Temporary DNS error checking the SPF record of %s, try again later", v->domain);
		break;
	case SPF_R_PERMERROR:
		outcome_set(&v->out, OUTCOME_PERMFAIL, 550, "5.7.24",
		    "The SPF record of %s is invalid (permerror): fix it and authorise %s:%s",
		    v->domain, mech, v->ip);
		break;
	case SPF_R_NONE:
		outcome_set(&v->out, OUTCOME_PERMFAIL, 550, "5.7.23",
		    "%s has no SPF record: publish \"v=spf1 %s:%s ~all\" at %s",
		    v->domain, mech, v->ip, v->domain);
		break;
	default:
		outcome_set(&v->out, OUTCOME_PERMFAIL, 550, "5.7.23",
		    "SPF of %s gives %s for our relay %s: add %s:%s to the SPF TXT record of %s",
		    v->domain, spf_strresult(v->result), v->ip, mech, v->ip, v->domain);
		break;
	}
}

int
spf_check(struct spf *s, const struct config *cfg, const char *account_record,
    const char *sender, struct spf_verdict *v)
{
	const char *ips[SPF_MAX_IPS], *at;
	char key[1024];
	size_t nips, i, off;
	uint32_t ttl = 0;

	memset(v, 0, sizeof(*v));
	v->action = spf_action_for(cfg, account_record);
	v->result = SPF_R_NONE;
	at = sender ? strrchr(sender, '@') : NULL;
	nips = egress_ips(cfg, ips, SPF_MAX_IPS);
	if (at == NULL || at[1] == '\0' || strlen(at + 1) >= sizeof(v->domain) ||
	    nips == 0 || v->action == SPF_ACTION_IGNORE) {
		v->skipped = 1;
		if (at && at[1] && strlen(at + 1) < sizeof(v->domain))
			str_copy(v->domain, at + 1, sizeof(v->domain));
		verdict_finish(v);
		return 0;
	}
	str_copy(v->domain, at + 1, sizeof(v->domain));
	for (i = 0; v->domain[i]; i++)
		v->domain[i] = (char)tolower((unsigned char)v->domain[i]);
	if (!valid_domain(v->domain)) {
		/* RFC 7208 §4.3: a malformed domain is "none"; never sent to DNS */
		v->result = SPF_R_NONE;
		str_copy(v->ip, ips[0], sizeof(v->ip));
		verdict_finish(v);
		return 0;
	}

	off = (size_t)snprintf(key, sizeof(key), "%s|", v->domain);
	for (i = 0; i < nips && off < sizeof(key); i++)
		off += (size_t)snprintf(key + off, sizeof(key) - off, "%s ", ips[i]);
	if (cache_get(s, key, &v->result, v->ip, sizeof(v->ip))) {
		v->cached = 1;
	} else {
		v->result = evaluate(s, cfg, sender, v->domain, ips, nips, v->ip, sizeof(v->ip), &ttl);
		cache_put(s, key, v->result, v->ip, ttl);
	}
	verdict_finish(v);
	if (v->result != SPF_R_PASS)
		log_info("event=spf domain=%s ip=%s result=%s action=%s cached=%d",
		    v->domain, v->ip, spf_strresult(v->result), spf_straction(v->action), v->cached);
	return 0;
}

/* ---- async wrapper ----------------------------------------------------- */

/*
 * The few settings a check reads, copied: a SIGHUP may free the config
 * while the job runs in the pool.
 */
static void
list_copy(struct config_list *dst, const struct config_list *src)
{
	size_t i;

	dst->n = src->n;
	dst->items = xcalloc(src->n ? src->n : 1, sizeof(*dst->items));
	for (i = 0; i < src->n; i++)
		dst->items[i] = xstrdup(src->items[i]);
	if (src->addrs != NULL) {
		dst->addrs = xcalloc(src->n ? src->n : 1, sizeof(*dst->addrs));
		memcpy(dst->addrs, src->addrs, src->n * sizeof(*dst->addrs));
	}
}

static void
list_free(struct config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	free(l->addrs);
}

static struct config *
cfg_snapshot(const struct config *cfg)
{
	struct config *c = xcalloc(1, sizeof(*c));

	list_copy(&c->spf_egress_ips, &cfg->spf_egress_ips);
	list_copy(&c->smtp_bind_address, &cfg->smtp_bind_address);
	list_copy(&c->dns_servers, &cfg->dns_servers);
	c->spf_action = cfg->spf_action;
	return c;
}

static void
cfg_snapshot_free(struct config *c)
{
	list_free(&c->spf_egress_ips);
	list_free(&c->smtp_bind_address);
	list_free(&c->dns_servers);
	free(c);
}

struct spf_job {
	uv_work_t req;
	struct spf *s;
	struct config *cfg;		/* owned snapshot */
	char *record;
	char *sender;
	spf_done_cb cb;
	void *arg;
	struct spf_verdict v;
};

static void
job_work(uv_work_t *req)
{
	struct spf_job *j = req->data;

	spf_check(j->s, j->cfg, j->record, j->sender, &j->v);
}

static void
job_after(uv_work_t *req, int status)
{
	struct spf_job *j = req->data;

	if (status != 0) {
		/* cancelled: answer as a temporary error rather than not at all */
		memset(&j->v, 0, sizeof(j->v));
		j->v.result = SPF_R_TEMPERROR;
		j->v.action = spf_action_for(j->cfg, j->record);
		verdict_finish(&j->v);
	}
	j->cb(j->arg, &j->v);
	cfg_snapshot_free(j->cfg);
	free(j->record);
	free(j->sender);
	free(j);
}

int
spf_check_async(struct spf *s, uv_loop_t *loop, const struct config *cfg,
    const char *account_record, const char *sender, spf_done_cb cb, void *arg)
{
	struct spf_job *j = xcalloc(1, sizeof(*j));
	int rc;

	j->req.data = j;
	j->s = s;
	j->cfg = cfg_snapshot(cfg);
	j->record = account_record ? xstrdup(account_record) : NULL;
	j->sender = xstrdup(sender ? sender : "");
	j->cb = cb;
	j->arg = arg;
	if ((rc = uv_queue_work(loop, &j->req, job_work, job_after)) != 0) {
		cfg_snapshot_free(j->cfg);
		free(j->record);
		free(j->sender);
		free(j);
	}
	return rc;
}

/* ---- TXT lookup for posternctl domain check ---------------------------- */

struct txt_collect {
	char **out;
	int max, n;
};

static int
txt_cb(const unsigned char *msg, int len, const unsigned char *rd, int rdlen,
    uint32_t ttl, void *arg)
{
	struct txt_collect *t = arg;

	if (t->n < t->max)
		t->out[t->n++] = txt_join(rd, rdlen);
	return 0;
}

int
spf_dns_txt(const struct config *cfg, const char *name, char **txt, int max)
{
	struct spf dummy;
	struct dnsctx c;
	struct txt_collect t = { txt, max, 0 };
	unsigned char *ans;
	int len, rcode, rc;

	memset(&dummy, 0, sizeof(dummy));
	memset(&c, 0, sizeof(c));
	c.s = &dummy;
	if (dns_init(&c, cfg) == -1)
		return -1;
	ans = xmalloc(65536);
	len = dns_query(&c, name, ns_t_txt, ans, 65536, &rcode);
	dns_done(&c);
	if (len < 0 || (rcode != ns_r_noerror && rcode != ns_r_nxdomain)) {
		free(ans);
		return -1;
	}
	if (rcode == ns_r_nxdomain) {
		free(ans);
		return 0;
	}
	rc = dns_answers(ans, len, ns_t_txt, txt_cb, &t);
	free(ans);
	if (rc < 0) {
		while (t.n > 0)
			free(txt[--t.n]);
		return -1;
	}
	return t.n;
}
