/* SPDX-License-Identifier: ISC */
/*
 * dns.c: asynchronous DNS for the delivery engine (and anyone else on
 * the loop).  The only file that uses c-ares.  c-ares does the
 * transport (UDP with TCP fallback, retries, server rotation); its
 * sockets are watched with uv_poll handles created and stopped from
 * c-ares' socket-state callback, and its retransmission timeouts are
 * run from one uv_timer re-armed after every event.
 *
 * Answers are parsed here, not with c-ares' ares_parse_*_reply, so
 * that TTLs and CNAME chains are visible: the chain is followed inside
 * the answer section (RFC 1034 §3.6.2), and if it ends at a name with
 * no data the final name is asked again (at most DNS_MAX_CNAME hops).
 * Results are cached by (type, lowercased name) for their TTL; negative
 * answers (NXDOMAIN, NODATA) for the SOA's minimum as RFC 2308 §5 asks,
 * and not at all without an SOA; failures are never cached.
 *
 * Invariant: user callbacks run from the loop, never from inside
 * dns_lookup(); a cancelled query's callback never runs.  Handles are
 * freed in their close callbacks; struct dns goes when the last one
 * has closed.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "dns.h"
#include "hash.h"
#include "log.h"
#include "util.h"

#define DNS_MAX_CNAME 8
#define DNS_CACHE_MAX 20000
#define DNS_MAX_TTL (7 * 86400)
#define DNS_MAX_NEG_TTL (3 * 3600)	/* RFC 2308 §5: 1-3 hours is reasonable */

struct dns_poll {
	uv_poll_t handle;
	ares_socket_t fd;
	struct dns *d;
	struct dns_poll *next;
};

/* A cached answer; the cache (src/lib/hash.c) maps "type/name" to it. */
struct dns_cache_entry {
	uint64_t expires;	/* monotonic ms */
	struct dns_result res;
};

struct dns_query {
	struct dns *d;
	char *name;		/* current name (after CNAMEs) */
	char *qname;		/* original name */
	int type;
	int hops;
	int cancelled;
	int in_ares;		/* c-ares holds a pointer to us */
	uint32_t chain_ttl;	/* minimum TTL of the CNAMEs followed so far */
	dns_cb cb;
	void *arg;
	struct dns_result res;	/* for the ready list */
	struct dns_query *next;	/* ready list */
};

struct dns {
	uv_loop_t *loop;	/* borrowed */
	ares_channel channel;
	uv_timer_t timer;
	uv_timer_t ready_timer;
	struct dns_poll *polls;
	struct dns_query *ready, **ready_tail;
	struct hash *cache;	/* "type/name" -> struct dns_cache_entry (owned) */
	int open_handles;
	int closing;
};

static void dns_schedule(struct dns *d);
static void query_send(struct dns_query *q);

const char *
dns_strstatus(enum dns_status s)
{
	switch (s) {
	case DNS_OK: return "ok";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_NODATA: return "nodata";
	case DNS_TEMPFAIL: return "tempfail";
	case DNS_BADNAME: return "badname";
	}
	return "unknown";
}

const char *
dns_strtype(int type)
{
	switch (type) {
	case DNS_T_A: return "A";
	case DNS_T_AAAA: return "AAAA";
	case DNS_T_MX: return "MX";
	case DNS_T_TXT: return "TXT";
	case DNS_T_CNAME: return "CNAME";
	case DNS_T_SOA: return "SOA";
	}
	return "?";
}

/* ---- result helpers ---- */

void
dns_result_clear(struct dns_result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->rr[i].name);
		free(r->rr[i].text);
	}
	free(r->rr);
	free(r->qname);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

void
dns_result_copy(struct dns_result *dst, const struct dns_result *src)
{
	size_t i;

	*dst = *src;
	dst->qname = src->qname ? xstrdup(src->qname) : NULL;
	dst->name = src->name ? xstrdup(src->name) : NULL;
	dst->rr = src->n ? xcalloc(src->n, sizeof(*dst->rr)) : NULL;
	for (i = 0; i < src->n; i++) {
		dst->rr[i] = src->rr[i];
		dst->rr[i].name = src->rr[i].name ? xstrdup(src->rr[i].name) : NULL;
		if (src->rr[i].text) {
			dst->rr[i].text = xmalloc(src->rr[i].len + 1);
			memcpy(dst->rr[i].text, src->rr[i].text, src->rr[i].len);
			dst->rr[i].text[src->rr[i].len] = '\0';
		}
	}
}

/* Lowercase copy without a trailing dot. */
static char *
name_norm(const char *name)
{
	size_t n = strlen(name), i;
	char *s;

	if (n > 0 && name[n - 1] == '.')
		n--;
	s = xstrndup(name, n);
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	return s;
}

static int
name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && mem_casecmp(a, b, la) == 0;
}

/* ---- answer parsing (pure) ---- */

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Read a possibly compressed name at *POS (RFC 1035 §4.1.4) into OUT as
 * dotted text ("" for the root).  Advances *POS past the name as it
 * appears in place.  Pointer loops and overlong names are errors.
 */
static int
read_name(const unsigned char *m, size_t len, size_t *pos, char *out, size_t outlen)
{
	size_t p = *pos, o = 0, end = 0;
	int jumps = 0, jumped = 0;

	for (;;) {
		unsigned c;

		if (p >= len)
			return -1;
		c = m[p];
		if (c == 0) {
			p++;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > 64)
				return -1;
			if (!jumped)
				end = p + 2;
			jumped = 1;
			p = (size_t)((c & 0x3f) << 8 | m[p + 1]);
			continue;
		}
		if (c & 0xc0)
			return -1;
		if (p + 1 + c > len || o + c + 2 > outlen || o + c + 1 > 255)
			return -1;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < c; i++) {
			unsigned char ch = m[p + 1 + i];
			/* keep the name printable and dot-free inside labels */
			out[o++] = (ch == '.' || ch < 0x21 || ch > 0x7e) ? '?' : (char)ch;
		}
		p += 1 + c;
	}
	out[o] = '\0';
	*pos = jumped ? end : p;
	return 0;
}

struct raw_rr {
	char owner[256];
	int type;
	uint32_t ttl;
	size_t rdpos, rdlen;
};

static void
rr_add(struct dns_result *r, const struct dns_rr *rr)
{
	r->rr = xrealloc(r->rr, (r->n + 1) * sizeof(*r->rr));
	r->rr[r->n++] = *rr;
}

void
dns_parse_answer(const unsigned char *m, size_t len, const char *qname, int type,
    struct dns_result *out)
{
	struct raw_rr *rrs = NULL;
	size_t nrr = 0, pos, i;
	unsigned qd, an, ns, rcode, k;
	char cur[256], tmp[256];
	uint32_t ttl = DNS_MAX_TTL, negttl = 0;
	int hops, have_soa = 0;

	memset(out, 0, sizeof(*out));
	out->type = type;
	out->qname = xstrdup(qname);
	if (len < 12) {
		out->status = DNS_TEMPFAIL;
		snprintf(out->why, sizeof(out->why), "short DNS answer");
		goto done;
	}
	rcode = m[3] & 0x0f;
	qd = get16(m + 4);
	an = get16(m + 6);
	ns = get16(m + 8);
	pos = 12;
	for (k = 0; k < qd; k++) {
		if (read_name(m, len, &pos, tmp, sizeof(tmp)) == -1 || pos + 4 > len)
			goto malformed;
		pos += 4;
	}
	for (k = 0; k < an + ns; k++) {
		struct raw_rr rr;

		if (read_name(m, len, &pos, rr.owner, sizeof(rr.owner)) == -1 || pos + 10 > len)
			goto malformed;
		rr.type = get16(m + pos);
		rr.ttl = get32(m + pos + 4);
		if (rr.ttl > DNS_MAX_TTL)
			rr.ttl = DNS_MAX_TTL;	/* also clamps RFC 2181 §8 "negative" TTLs */
		rr.rdlen = get16(m + pos + 8);
		rr.rdpos = pos + 10;
		if (rr.rdpos + rr.rdlen > len)
			goto malformed;
		pos = rr.rdpos + rr.rdlen;
		if (k >= an) {
			/* authority: SOA gives the negative TTL (RFC 2308 §5) */
			if (rr.type == DNS_T_SOA) {
				size_t p = rr.rdpos;
				if (read_name(m, len, &p, tmp, sizeof(tmp)) == -1 ||
				    read_name(m, len, &p, tmp, sizeof(tmp)) == -1 ||
				    p + 20 > rr.rdpos + rr.rdlen)
					continue;
				negttl = get32(m + p + 16);
				if (rr.ttl < negttl)
					negttl = rr.ttl;
				have_soa = 1;
			}
			continue;
		}
		rrs = xrealloc(rrs, (nrr + 1) * sizeof(*rrs));
		rrs[nrr++] = rr;
	}

	/* Follow the CNAME chain from QNAME (RFC 1034 §3.6.2). */
	str_copy(cur, qname, sizeof(cur));
	if (strlen(cur) && cur[strlen(cur) - 1] == '.')
		cur[strlen(cur) - 1] = '\0';
	for (hops = 0; hops <= DNS_MAX_CNAME; hops++) {
		int moved = 0;

		if (type == DNS_T_CNAME)
			break;
		for (i = 0; i < nrr; i++) {
			if (rrs[i].type == DNS_T_CNAME && name_eq(rrs[i].owner, cur)) {
				size_t p = rrs[i].rdpos;
				if (read_name(m, len, &p, tmp, sizeof(tmp)) == -1)
					goto malformed;
				if (rrs[i].ttl < ttl)
					ttl = rrs[i].ttl;
				str_copy(cur, tmp, sizeof(cur));
				moved = 1;
				break;
			}
		}
		if (!moved)
			break;
	}
	if (hops > DNS_MAX_CNAME) {
		out->status = DNS_TEMPFAIL;
		snprintf(out->why, sizeof(out->why), "CNAME chain too long");
		goto done;
	}
	out->name = name_norm(cur);

	for (i = 0; i < nrr; i++) {
		struct dns_rr rr;
		size_t p = rrs[i].rdpos, e = rrs[i].rdpos + rrs[i].rdlen;
		char abuf[INET6_ADDRSTRLEN];

		if (rrs[i].type != type || !name_eq(rrs[i].owner, cur))
			continue;
		memset(&rr, 0, sizeof(rr));
		rr.type = type;
		rr.ttl = rrs[i].ttl;
		switch (type) {
		case DNS_T_A:
			if (rrs[i].rdlen != 4)
				goto malformed;
			memcpy(rr.addr, m + p, 4);
			inet_ntop(AF_INET, rr.addr, abuf, sizeof(abuf));
			rr.name = xstrdup(abuf);
			break;
		case DNS_T_AAAA:
			if (rrs[i].rdlen != 16)
				goto malformed;
			memcpy(rr.addr, m + p, 16);
			inet_ntop(AF_INET6, rr.addr, abuf, sizeof(abuf));
			rr.name = xstrdup(abuf);
			break;
		case DNS_T_MX:
		case DNS_T_CNAME:
			if (type == DNS_T_MX) {
				if (rrs[i].rdlen < 3)
					goto malformed;
				rr.pref = get16(m + p);
				p += 2;
			}
			if (read_name(m, len, &p, tmp, sizeof(tmp)) == -1 || p > e)
				goto malformed;
			rr.name = name_norm(tmp);
			break;
		case DNS_T_TXT: {
			struct buf t;

			buf_init(&t, 65536);
			while (p < e) {
				size_t sl = m[p];
				if (p + 1 + sl > e) {
					buf_free(&t);
					goto malformed;
				}
				buf_append(&t, m + p + 1, sl);
				p += 1 + sl;
			}
			rr.len = t.len;
			rr.text = buf_steal(&t, NULL);
			break;
		}
		default:
			continue;
		}
		if (rr.ttl < ttl)
			ttl = rr.ttl;
		rr_add(out, &rr);
	}

	if (rcode == 3) {
		out->status = DNS_NXDOMAIN;
		ttl = have_soa ? negttl : 0;
	} else if (rcode != 0) {
		out->status = DNS_TEMPFAIL;
		snprintf(out->why, sizeof(out->why), "DNS rcode %u", rcode);
		ttl = 0;
	} else if (out->n > 0) {
		out->status = DNS_OK;
	} else {
		out->status = DNS_NODATA;
		ttl = have_soa ? (negttl < ttl ? negttl : ttl) : 0;
	}
	if (out->status != DNS_OK && out->status != DNS_TEMPFAIL && ttl > DNS_MAX_NEG_TTL)
		ttl = DNS_MAX_NEG_TTL;
	out->ttl = ttl;
	goto done;

malformed:
	for (i = 0; i < out->n; i++) {
		free(out->rr[i].name);
		free(out->rr[i].text);
	}
	free(out->rr);
	out->rr = NULL;
	out->n = 0;
	free(out->name);
	out->name = NULL;
	out->status = DNS_TEMPFAIL;
	out->ttl = 0;
	snprintf(out->why, sizeof(out->why), "malformed DNS answer");
done:
	if (out->name == NULL)
		out->name = name_norm(qname);
	free(rrs);
}

/* ---- cache ---- */

static char *
cache_key(const char *name, int type)
{
	char *n = name_norm(name), *k = xasprintf("%d/%s", type, n);

	free(n);
	return k;
}

static void
cache_entry_free(void *v)
{
	struct dns_cache_entry *e = v;

	dns_result_clear(&e->res);
	free(e);
}

static void
cache_purge(struct dns *d, int all)
{
	uint64_t now = now_mono_ms();
	struct hash_iter it;
	const char *key;
	size_t klen;
	void *v;

	hash_iter_init(&it, d->cache);
	while (hash_next(&it, &key, &klen, &v))
		if (all || ((struct dns_cache_entry *)v)->expires <= now)
			hash_del(d->cache, key, klen);
}

void
dns_cache_flush(struct dns *d)
{
	cache_purge(d, 1);
}

uv_loop_t *
dns_loop(const struct dns *d)
{
	return d->loop;
}

size_t
dns_cache_size(const struct dns *d)
{
	return hash_count(d->cache);
}

static struct dns_cache_entry *
cache_find(struct dns *d, const char *key)
{
	struct dns_cache_entry *e = hash_gets(d->cache, key);

	if (e == NULL || e->expires > now_mono_ms())
		return e;
	hash_dels(d->cache, key);	/* expired */
	return NULL;
}

static void
cache_put(struct dns *d, const char *qname, int type, const struct dns_result *r)
{
	struct dns_cache_entry *e;
	char *key;

	if (r->ttl == 0 || r->status == DNS_TEMPFAIL || r->status == DNS_BADNAME)
		return;
	key = cache_key(qname, type);
	if ((e = cache_find(d, key)) != NULL) {
		free(key);
		return;
	}
	if (hash_count(d->cache) >= DNS_CACHE_MAX) {
		cache_purge(d, 0);
		if (hash_count(d->cache) >= DNS_CACHE_MAX)
			cache_purge(d, 1);
	}
	e = xcalloc(1, sizeof(*e));
	e->expires = now_mono_ms() + (uint64_t)r->ttl * 1000;
	dns_result_copy(&e->res, r);
	e->res.from_cache = 1;
	hash_puts(d->cache, key, e);
	free(key);
}

/* ---- loop glue ---- */

static void
handle_closed(uv_handle_t *h)
{
	struct dns *d = h->data;

	if (h->type == UV_POLL)
		free((struct dns_poll *)h);	/* the handle is the first member */
	if (--d->open_handles == 0 && d->closing) {
		hash_free(d->cache);
		free(d);
	}
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct dns_poll *p = (struct dns_poll *)h;
	struct dns *d = p->d;
	ares_socket_t fd = p->fd;

	if (status < 0)
		ares_process_fd(d->channel, fd, fd);
	else
		ares_process_fd(d->channel, (events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
		    (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
	dns_schedule(d);
}

/* c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB). */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_poll **pp = &d->polls, *p;

	for (p = d->polls; p && p->fd != fd; p = p->next)
		pp = &p->next;
	if (!readable && !writable) {
		if (p) {
			*pp = p->next;
			uv_poll_stop(&p->handle);
			uv_close((uv_handle_t *)&p->handle, handle_closed);
		}
		return;
	}
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		p->fd = fd;
		p->d = d;
		if (uv_poll_init_socket(d->loop, &p->handle, fd) != 0) {
			free(p);
			log_err("event=dns_error error=\"cannot watch resolver socket\"");
			return;
		}
		p->handle.data = d;
		d->open_handles++;
		p->next = d->polls;
		d->polls = p;
	}
	uv_poll_start(&p->handle, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
	    poll_cb);
}

static void
timer_cb(uv_timer_t *t)
{
	struct dns *d = t->data;

	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_schedule(d);
}

/* Re-arm the retransmission timer from c-ares' idea of the next timeout. */
static void
dns_schedule(struct dns *d)
{
	struct timeval tv, *tvp;

	if (d->closing)
		return;
	tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp == NULL) {
		uv_timer_stop(&d->timer);
		return;
	}
	uv_timer_start(&d->timer, timer_cb,
	    (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000, 0);
}

static void
query_free(struct dns_query *q)
{
	free(q->name);
	free(q->qname);
	dns_result_clear(&q->res);
	free(q);
}

static void
ready_cb(uv_timer_t *t)
{
	struct dns *d = t->data;

	while (d->ready) {
		struct dns_query *q = d->ready;

		d->ready = q->next;
		if (d->ready == NULL)
			d->ready_tail = &d->ready;
		if (!q->cancelled)
			q->cb(q->arg, &q->res);
		query_free(q);
	}
}

/* Hand Q's result to its caller from the loop (never re-entrantly). */
static void
query_ready(struct dns_query *q)
{
	struct dns *d = q->d;

	q->next = NULL;
	*d->ready_tail = q;
	d->ready_tail = &q->next;
	if (!uv_is_active((uv_handle_t *)&d->ready_timer))
		uv_timer_start(&d->ready_timer, ready_cb, 0, 0);
}

static void
ares_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns *d = q->d;
	struct dns_result r;

	q->in_ares = 0;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		query_free(q);
		return;
	}
	if (q->cancelled) {
		query_free(q);
		return;
	}
	if (abuf != NULL && alen > 0) {
		dns_parse_answer(abuf, (size_t)alen, q->name, q->type, &r);
	} else {
		memset(&r, 0, sizeof(r));
		r.type = q->type;
		r.qname = xstrdup(q->name);
		r.name = name_norm(q->name);
		r.status = status == ARES_EBADNAME ? DNS_BADNAME : DNS_TEMPFAIL;
		snprintf(r.why, sizeof(r.why), "%s", ares_strerror(status));
	}
	/* The chain ended at another name without data: ask for that name. */
	if (r.status == DNS_NODATA && !name_eq(r.name, q->name) && q->hops < DNS_MAX_CNAME &&
	    q->type != DNS_T_CNAME) {
		if (r.ttl < q->chain_ttl)
			q->chain_ttl = r.ttl;
		free(q->name);
		q->name = xstrdup(r.name);
		q->hops++;
		dns_result_clear(&r);
		query_send(q);
		return;
	}
	if (q->hops > 0) {
		if (q->chain_ttl < r.ttl)
			r.ttl = q->chain_ttl;
		free(r.qname);
		r.qname = xstrdup(q->qname);
	}
	if (q->hops == 0 || r.status == DNS_OK)
		cache_put(d, q->qname, q->type, &r);
	q->res = r;
	query_ready(q);
}

static void
query_send(struct dns_query *q)
{
	q->in_ares = 1;
	ares_query(q->d->channel, q->name, 1 /* C_IN */, q->type, ares_cb, q);
	dns_schedule(q->d);
}

struct dns_query *
dns_lookup(struct dns *d, const char *name, int type, dns_cb cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	struct dns_cache_entry *e;
	char *key;

	q->d = d;
	q->name = xstrdup(name);
	q->qname = xstrdup(name);
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	q->chain_ttl = DNS_MAX_TTL;
	if (strlen(name) == 0 || strlen(name) > 253) {
		q->res.type = type;
		q->res.qname = xstrdup(name);
		q->res.name = xstrdup(name);
		q->res.status = DNS_BADNAME;
		snprintf(q->res.why, sizeof(q->res.why), "bad domain name");
		query_ready(q);
		return q;
	}
	key = cache_key(name, type);
	e = cache_find(d, key);
	free(key);
	if (e != NULL) {
		dns_result_copy(&q->res, &e->res);
		query_ready(q);
		return q;
	}
	query_send(q);
	return q;
}

void
dns_cancel(struct dns_query *q)
{
	if (q)
		q->cancelled = 1;
}

struct dns *
dns_open(uv_loop_t *loop, const struct config_list *servers, char *err, size_t errlen)
{
	struct ares_options opts;
	struct dns *d;
	int rc;

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->ready_tail = &d->ready;
	d->cache = hash_new(cache_entry_free);
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = d;
	opts.timeout = 2000;
	opts.tries = 3;
	rc = ares_init_options(&d->channel, &opts,
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		hash_free(d->cache);
		free(d);
		return NULL;
	}
	if (servers && servers->n > 0) {
		struct buf csv;
		size_t i;

		/* c-ares' CSV takes the same host:port and [v6]:port forms. */
		buf_init(&csv, 0);
		for (i = 0; i < servers->n; i++)
			buf_printf(&csv, "%s%s", i ? "," : "", servers->items[i]);
		rc = ares_set_servers_ports_csv(d->channel, csv.data);
		buf_free(&csv);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "dns_servers: %s", ares_strerror(rc));
			ares_destroy(d->channel);
			hash_free(d->cache);
			free(d);
			return NULL;
		}
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_timer_init(loop, &d->ready_timer);
	d->ready_timer.data = d;
	d->open_handles = 2;
	return d;
}

void
dns_close(struct dns *d)
{
	if (d == NULL)
		return;
	while (d->ready) {
		struct dns_query *q = d->ready;
		d->ready = q->next;
		query_free(q);
	}
	d->ready_tail = &d->ready;
	ares_destroy(d->channel);	/* frees in-flight queries via ares_cb; closes polls */
	cache_purge(d, 1);
	d->closing = 1;
	uv_close((uv_handle_t *)&d->timer, handle_closed);
	uv_close((uv_handle_t *)&d->ready_timer, handle_closed);
}
