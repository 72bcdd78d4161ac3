/* SPDX-License-Identifier: ISC */
/*
 * spf.c: would a receiver see SPF pass (RFC 7208) for the envelope
 * sender's domain when we deliver from our egress addresses?  The only
 * file that uses libspf2.  The relay's MAIL-phase stage calls
 * spf_check_start() on the loop thread.
 *
 * This file has no resolver: every DNS answer comes from the caller's
 * lookup function (the relay passes src/net/dns.c, c-ares with its TTL
 * cache, through struct policy_env).  libspf2 is given a DNS layer of
 * ours (SPF_dns_server_t) that answers only from the check's own answer
 * set and records every name it was asked for and did not have.  A
 * check therefore runs in rounds: evaluate with libspf2 (CPU only, a
 * few microseconds; nothing blocks); if it missed names, look them all
 * up asynchronously, add the answers, evaluate again; the first round
 * with no misses gives the result.  libspf2's own limits (10 DNS
 * mechanisms, 10 MX names) bound the rounds; SPF_MAX_ROUNDS and
 * SPF_MAX_ANSWERS bound them again (exceeded: temperror).  PTR queries
 * (the "ptr" mechanism, RFC 7208 §5.5: SHOULD NOT be used) and type-99
 * SPF records are answered "no data" without asking DNS.
 *
 * Verdicts are cached per domain and egress-IP set for the smallest TTL
 * of the answers used, clamped to SPF_TTL_MIN..SPF_TTL_MAX.
 * Result -> action: pass is always fine; any other result follows the
 * account's spf_action (struct account_policy) or spf_action: ignore
 * (nothing), warn (log + an X-Postern-SPF: header for the customer),
 * reject (RFC 7372 codes: 550 5.7.23 for fail/softfail/neutral/none,
 * 550 5.7.24 for permerror, 451 4.7.24 for temperror), with the
 * mechanism the customer must add.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <spf2/spf.h>

#include "account.h"
#include "dns.h"
#include "hash.h"
#include "log.h"
#include "spf.h"
#include "util.h"

#define SPF_TTL_MIN 30		/* seconds; dnsmasq and friends serve TTL 0 */
#define SPF_TTL_MAX 3600
#define SPF_TTL_ERROR 30	/* temperror verdicts: retry soon */
#define SPF_CACHE_MAX 65536
#define SPF_MAX_IPS 16
#define SPF_MAX_ROUNDS 40	/* evaluations of one check */
#define SPF_MAX_ANSWERS 256	/* distinct (name, type) answers of one check */

struct cache_entry {
	enum spf_result result;
	char ip[64];
	uint64_t expires;	/* now_mono_ms() */
};

struct spf {
	pthread_mutex_t lock;
	struct hash *cache;	/* "domain|ip ip ..." -> struct cache_entry (owned) */
	uint64_t queries;	/* atomic */
};

struct spf *
spf_new(void)
{
	struct spf *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->cache = hash_new(free);
	return s;
}

void
spf_free(struct spf *s)
{
	if (s == NULL)
		return;
	hash_free(s->cache);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

uint64_t
spf_dns_queries(const struct spf *s)
{
	return __atomic_load_n(&s->queries, __ATOMIC_RELAXED);
}

static int
cache_get(struct spf *s, const char *key, enum spf_result *r, char *ip, size_t iplen)
{
	struct cache_entry *e;
	int found = 0;

	pthread_mutex_lock(&s->lock);
	e = hash_gets(s->cache, key);
	if (e != NULL && e->expires <= now_mono_ms()) {
		hash_dels(s->cache, key);
		e = NULL;
	}
	if (e != NULL) {
		*r = e->result;
		str_copy(ip, e->ip, iplen);
		found = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void
cache_put(struct spf *s, const char *key, enum spf_result r, const char *ip, uint32_t ttl)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e));

	e->result = r;
	str_copy(e->ip, ip, sizeof(e->ip));
	e->expires = now_mono_ms() + (uint64_t)ttl * 1000;
	pthread_mutex_lock(&s->lock);
	if (hash_count(s->cache) >= SPF_CACHE_MAX && hash_gets(s->cache, key) == NULL) {
		/* Full: drop what has expired; if nothing has, start over
		 * (bounded, and entries are cheap to rebuild). */
		struct hash_iter it;
		void *v;
		const char *k;
		uint64_t now = now_mono_ms();

		hash_iter_init(&it, s->cache);
		while (hash_next(&it, &k, NULL, &v))
			if (((struct cache_entry *)v)->expires <= now)
				hash_dels(s->cache, k);
		if (hash_count(s->cache) >= SPF_CACHE_MAX) {
			hash_free(s->cache);
			s->cache = hash_new(free);
		}
	}
	hash_puts(s->cache, key, e);
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

int
spf_parse_action(const char *s, enum spf_action *a)
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
spf_action_for(const struct policy_spf_params *p, const struct account_policy *pol)
{
	if (pol != NULL && pol->spf_action != ACCOUNT_UNSET)
		return (enum spf_action)pol->spf_action;
	return (enum spf_action)p->action;
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
egress_ips(const struct policy_spf_params *p, const char **ips, size_t max)
{
	const struct policy_strlist *l = &p->egress_ips;
	unsigned char a[16];
	size_t i, n = 0;

	for (i = 0; i < l->n && n < max; i++)
		if (inet_pton(AF_INET, l->items[i], a) == 1 || inet_pton(AF_INET6, l->items[i], a) == 1)
			ips[n++] = l->items[i];
	return n;
}

int
spf_enabled(const struct policy_spf_params *p)
{
	const char *ips[1];

	return egress_ips(p, ips, 1) > 0;
}

void
spf_required_mechanisms(const struct policy_spf_params *p, char *out, size_t outlen)
{
	const char *ips[SPF_MAX_IPS];
	size_t i, n = egress_ips(p, ips, SPF_MAX_IPS), off = 0;

	out[0] = '\0';
	for (i = 0; i < n && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s:%s", i ? " " : "",
		    strchr(ips[i], ':') ? "ip6" : "ip4", ips[i]);
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

/* Fill v->out and v->header from v->result and v->action. */
static void
verdict_finish(struct spf_verdict *v)
{
	const char *mech = strchr(v->ip, ':') ? "ip6" : "ip4";
	char detail[640];	/* the outcome keeps what fits */

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
		outcome_reply(&v->out, R_SPF_TEMPERROR, v->domain);
		break;
	case SPF_R_PERMERROR:
		snprintf(detail, sizeof(detail), "fix the SPF record of %s and authorise %s:%s",
		    v->domain, mech, v->ip);
		outcome_reply(&v->out, R_SPF_PERMERROR, detail);
		break;
	case SPF_R_NONE:
		snprintf(detail, sizeof(detail), "publish \"v=spf1 %s:%s ~all\" at %s",
		    mech, v->ip, v->domain);
		outcome_reply(&v->out, R_SPF_NONE, detail);
		break;
	default:
		snprintf(detail, sizeof(detail), "%s gives %s for %s: add %s:%s to its SPF TXT record",
		    v->domain, spf_strresult(v->result), v->ip, mech, v->ip);
		outcome_reply(&v->out, R_SPF_FAIL, detail);
		break;
	}
}

/* ---- one check: rounds of libspf2 over an answer set ---------------- */

struct spf_answer {
	char *name;		/* lowercase, no trailing dot */
	int type;
	enum dns_status status;
	uint32_t ttl;
	size_t n;
	char **data;		/* A/AAAA: 4/16 raw bytes; MX: host name; TXT: joined strings */
	size_t *len;
};

struct spf_check {
	struct spf *s;
	spf_dns_fn dns;
	void *dns_arg;
	spf_done_cb cb;
	void *arg;
	char *sender;
	char ips[SPF_MAX_IPS][64];
	size_t nips;
	char key[1024];
	struct spf_verdict v;
	struct spf_answer *ans;
	size_t nans;
	size_t outstanding;	/* lookups in flight */
	unsigned rounds;
	size_t misses;		/* names missed in the current round */
	int dns_errors;		/* temporary DNS errors met in the current evaluation */
	uint32_t min_ttl;
	int have_ttl;
	int overflow;		/* SPF_MAX_ANSWERS reached */
};

static void
name_norm(const char *in, char *out, size_t outlen)
{
	size_t i, n = strlen(in);

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n >= outlen)
		n = outlen - 1;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
}

static struct spf_answer *
answer_find(struct spf_check *c, const char *name, int type)
{
	size_t i;

	for (i = 0; i < c->nans; i++)
		if (c->ans[i].type == type && strcmp(c->ans[i].name, name) == 0)
			return &c->ans[i];
	return NULL;
}

/* A slot for (NAME, TYPE), status TEMPFAIL until its answer arrives; NULL when full. */
static struct spf_answer *
answer_add(struct spf_check *c, const char *name, int type)
{
	struct spf_answer *a;

	if (c->nans >= SPF_MAX_ANSWERS) {
		c->overflow = 1;
		return NULL;
	}
	c->ans = xrealloc(c->ans, (c->nans + 1) * sizeof(*c->ans));
	a = &c->ans[c->nans++];
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	a->type = type;
	a->status = DNS_TEMPFAIL;
	return a;
}

static void
answers_free(struct spf_check *c)
{
	size_t i, k;

	for (i = 0; i < c->nans; i++) {
		for (k = 0; k < c->ans[i].n; k++)
			free(c->ans[i].data[k]);
		free(c->ans[i].data);
		free(c->ans[i].len);
		free(c->ans[i].name);
	}
	free(c->ans);
	c->ans = NULL;
	c->nans = 0;
}

static void
note_ttl(struct spf_check *c, uint32_t ttl)
{
	if (!c->have_ttl || ttl < c->min_ttl)
		c->min_ttl = ttl;
	c->have_ttl = 1;
}

/* SPF_dns_lookup_t: answer libspf2 from the check's answer set, note what is missing. */
static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type, int should_cache)
{
	struct spf_check *c = srv->hook;
	struct spf_answer *a;
	SPF_dns_rr_t *rr;
	char name[256];
	size_t i;

	(void)should_cache;
	if (type == ns_t_ptr || type == ns_t_spf)
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx && type != ns_t_txt)
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	name_norm(domain, name, sizeof(name));
	if ((a = answer_find(c, name, type)) == NULL) {
		if (answer_add(c, name, type) != NULL)
			c->misses++;
		c->dns_errors++;
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	if (a->status == DNS_TEMPFAIL || a->status == DNS_BADNAME) {
		c->dns_errors++;
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	note_ttl(c, a->ttl);
	if (a->status == DNS_NXDOMAIN)
		return SPF_dns_rr_new_init(srv, domain, type, a->ttl, HOST_NOT_FOUND);
	if (a->status == DNS_NODATA || a->n == 0)
		return SPF_dns_rr_new_init(srv, domain, type, a->ttl, NO_DATA);
	if ((rr = SPF_dns_rr_new_init(srv, domain, type, a->ttl, NETDB_SUCCESS)) == NULL)
		return NULL;
	for (i = 0; i < a->n; i++) {
		int idx = rr->num_rr;
		size_t need = type == ns_t_a ? sizeof(struct in_addr) :
		    type == ns_t_aaaa ? sizeof(struct in6_addr) : a->len[i] + 1;

		if (SPF_dns_rr_buf_realloc(rr, idx, need) != SPF_E_SUCCESS) {
			SPF_dns_rr_free(rr);
			return NULL;
		}
		if (type == ns_t_a)
			memcpy(&rr->rr[idx]->a, a->data[i], 4);
		else if (type == ns_t_aaaa)
			memcpy(&rr->rr[idx]->aaaa, a->data[i], 16);
		else if (type == ns_t_mx)
			memcpy(rr->rr[idx]->mx, a->data[i], a->len[i] + 1);
		else
			memcpy(rr->rr[idx]->txt, a->data[i], a->len[i] + 1);
		rr->num_rr = idx + 1;
	}
	return rr;
}

/* One evaluation over the answers we have.  Sets c->misses. */
static enum spf_result
evaluate(struct spf_check *c, char *worst_ip, size_t iplen)
{
	SPF_dns_server_t *layer;
	SPF_server_t *server;
	enum spf_result worst = SPF_R_PASS;
	size_t i;

	worst_ip[0] = '\0';
	c->misses = 0;
	c->have_ttl = 0;
	layer = xcalloc(1, sizeof(*layer));
	layer->lookup = layer_lookup;
	layer->name = "postern";
	layer->hook = c;
	server = SPF_server_new_dns(layer, 0);
	for (i = 0; i < c->nips; i++) {
		SPF_request_t *req = SPF_request_new(server);
		SPF_response_t *resp = NULL;
		enum spf_result r;
		SPF_errcode_t e;

		c->dns_errors = 0;
		if (strchr(c->ips[i], ':'))
			e = SPF_request_set_ipv6_str(req, c->ips[i]);
		else
			e = SPF_request_set_ipv4_str(req, c->ips[i]);
		if (e != SPF_E_SUCCESS || SPF_request_set_env_from(req, c->sender) != 0) {
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
			if (c->dns_errors > 0 && r != SPF_R_PASS)
				r = SPF_R_TEMPERROR;
		}
		if (resp)
			SPF_response_free(resp);
		SPF_request_free(req);
		if (worst_ip[0] == '\0' || severity(r) > severity(worst)) {
			worst = r;
			str_copy(worst_ip, c->ips[i], iplen);
		}
	}
	SPF_server_free(server);
	free(layer);
	return worst;
}

static void
check_free(struct spf_check *c)
{
	answers_free(c);
	free(c->sender);
	free(c);
}

/* The final round: cache, log, answer. */
static void
check_finish(struct spf_check *c, enum spf_result r, const char *ip, int call)
{
	uint32_t ttl;

	c->v.result = r;
	str_copy(c->v.ip, ip, sizeof(c->v.ip));
	if (r == SPF_R_TEMPERROR)
		ttl = SPF_TTL_ERROR;
	else if (!c->have_ttl || c->min_ttl < SPF_TTL_MIN)
		ttl = SPF_TTL_MIN;
	else
		ttl = c->min_ttl > SPF_TTL_MAX ? SPF_TTL_MAX : c->min_ttl;
	cache_put(c->s, c->key, r, ip, ttl);
	verdict_finish(&c->v);
	if (r != SPF_R_PASS)
		log_info("event=spf domain=%s ip=%s result=%s action=%s cached=0 rounds=%u",
		    c->v.domain, c->v.ip, spf_strresult(r), spf_straction(c->v.action), c->rounds);
	if (call)
		c->cb(c->arg, &c->v);
}

static void check_round(struct spf_check *c, int call);

/* A lookup of a missed name came back (loop thread). */
static void
check_dns_done(void *arg, const struct dns_result *res)
{
	struct spf_answer *a = NULL;
	struct spf_check *c;
	size_t i;
	void **pair = arg;

	c = pair[0];
	a = &c->ans[(size_t)(uintptr_t)pair[1]];
	free(pair);
	a->status = res->status;
	a->ttl = res->ttl;
	if (res->status == DNS_OK) {
		a->data = xcalloc(res->n ? res->n : 1, sizeof(*a->data));
		a->len = xcalloc(res->n ? res->n : 1, sizeof(*a->len));
		for (i = 0; i < res->n; i++) {
			const struct dns_rr *rr = &res->rr[i];

			if (rr->type != a->type)
				continue;
			if (a->type == DNS_T_A || a->type == DNS_T_AAAA) {
				a->len[a->n] = a->type == DNS_T_A ? 4 : 16;
				a->data[a->n] = xmalloc(16);
				memcpy(a->data[a->n], rr->addr, a->len[a->n]);
			} else if (a->type == DNS_T_MX) {
				a->data[a->n] = xstrdup(rr->name ? rr->name : "");
				a->len[a->n] = strlen(a->data[a->n]);
			} else {
				a->data[a->n] = xmalloc(rr->len + 1);
				if (rr->len > 0)
					memcpy(a->data[a->n], rr->text, rr->len);
				a->data[a->n][rr->len] = '\0';
				a->len[a->n] = strlen(a->data[a->n]);	/* a NUL inside ends it */
			}
			a->n++;
		}
		if (a->n == 0)
			a->status = DNS_NODATA;
	}
	if (--c->outstanding == 0)
		check_round(c, 1);
}

/*
 * Evaluate; when names were missing, ask DNS for all of them and come
 * back when the last answer is in.  CALL: run the callback when done
 * (0 only for the first round inside spf_check_start()).  Returns
 * through c->cb, or leaves c->outstanding > 0.
 */
static void
check_round(struct spf_check *c, int call)
{
	char ip[64];
	enum spf_result r;
	size_t i, first;

	for (;;) {
		c->rounds++;
		first = c->nans;
		r = evaluate(c, ip, sizeof(ip));
		if (c->misses == 0 || c->overflow || c->rounds >= SPF_MAX_ROUNDS) {
			if (c->misses > 0)
				r = SPF_R_TEMPERROR;	/* limits reached with names still unknown */
			check_finish(c, r, ip, call);
			if (call)
				check_free(c);
			return;
		}
		c->outstanding = c->nans - first + 1;	/* +1: held until all are started */
		for (i = first; i < c->nans; i++) {
			void **pair = xcalloc(2, sizeof(*pair));

			pair[0] = c;
			pair[1] = (void *)(uintptr_t)i;
			__atomic_fetch_add(&c->s->queries, 1, __ATOMIC_RELAXED);
			if (c->dns(c->dns_arg, c->ans[i].name, c->ans[i].type, check_dns_done, pair) != 0) {
				free(pair);
				c->ans[i].status = DNS_TEMPFAIL;
				c->outstanding--;
			}
		}
		if (--c->outstanding > 0)
			return;		/* check_dns_done() goes on */
		/* every lookup failed to start: evaluate again (they are tempfails now) */
	}
}

int
spf_check_start(struct spf *s, const struct policy_spf_params *p, const struct account_policy *pol,
    const char *sender, spf_dns_fn dns, void *dns_arg, spf_done_cb cb, void *arg,
    struct spf_verdict *now)
{
	const char *ips[SPF_MAX_IPS], *at;
	struct spf_check *c;
	size_t nips, i, off;

	memset(now, 0, sizeof(*now));
	now->action = spf_action_for(p, pol);
	now->result = SPF_R_NONE;
	at = sender ? strrchr(sender, '@') : NULL;
	nips = egress_ips(p, ips, SPF_MAX_IPS);
	if (at == NULL || at[1] == '\0' || strlen(at + 1) >= sizeof(now->domain) ||
	    nips == 0 || now->action == SPF_ACTION_IGNORE) {
		now->skipped = 1;
		if (at && at[1] && strlen(at + 1) < sizeof(now->domain))
			str_copy(now->domain, at + 1, sizeof(now->domain));
		verdict_finish(now);
		return SPF_DONE;
	}
	str_copy(now->domain, at + 1, sizeof(now->domain));
	for (i = 0; now->domain[i]; i++)
		now->domain[i] = (char)tolower((unsigned char)now->domain[i]);
	if (!valid_domain(now->domain)) {
		/* RFC 7208 §4.3: a malformed domain is "none"; never sent to DNS */
		now->result = SPF_R_NONE;
		str_copy(now->ip, ips[0], sizeof(now->ip));
		verdict_finish(now);
		return SPF_DONE;
	}
	c = xcalloc(1, sizeof(*c));
	off = (size_t)snprintf(c->key, sizeof(c->key), "%s|", now->domain);
	for (i = 0; i < nips && off < sizeof(c->key); i++)
		off += (size_t)snprintf(c->key + off, sizeof(c->key) - off, "%s ", ips[i]);
	if (cache_get(s, c->key, &now->result, now->ip, sizeof(now->ip))) {
		free(c);
		now->cached = 1;
		verdict_finish(now);
		if (now->result != SPF_R_PASS)
			log_info("event=spf domain=%s ip=%s result=%s action=%s cached=1",
			    now->domain, now->ip, spf_strresult(now->result),
			    spf_straction(now->action));
		return SPF_DONE;
	}
	c->s = s;
	c->dns = dns;
	c->dns_arg = dns_arg;
	c->cb = cb;
	c->arg = arg;
	c->sender = xstrdup(sender);
	for (i = 0; i < nips; i++)
		str_copy(c->ips[i], ips[i], sizeof(c->ips[i]));
	c->nips = nips;
	c->v = *now;
	check_round(c, 0);
	if (c->outstanding == 0) {
		/* answered without DNS (a record set with no lookups cannot happen,
		 * but a round that started nothing can): done now */
		*now = c->v;
		check_free(c);
		return SPF_DONE;
	}
	return SPF_PENDING;
}
