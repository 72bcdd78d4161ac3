/* SPDX-License-Identifier: ISC */
/*
 * dns.h: asynchronous DNS lookups on the libuv loop (DESIGN.md §8).
 * src/dns.c is the only file that uses c-ares: it drives c-ares'
 * sockets with uv_poll and its timeouts with a uv_timer, parses the
 * answers itself (so TTLs and the CNAME chain are known) and keeps a
 * positive and negative cache honouring TTLs (RFC 2308 for negative
 * answers: SOA minimum; negative answers without an SOA are not
 * cached).  Callbacks always run later from the loop, never from inside
 * dns_lookup(), even on a cache hit.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config_list;	/* include/config.h; only dns_open() reads one */

enum dns_type {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_OK = 0,		/* at least one record of the type asked for */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_NODATA,		/* the name exists, no record of that type */
	DNS_TEMPFAIL,		/* timeout, SERVFAIL, REFUSED, network error */
	DNS_BADNAME,		/* not a valid domain name, or malformed answer */
};

struct dns_rr {
	int type;
	uint32_t ttl;
	uint16_t pref;		/* MX preference */
	char *name;		/* MX exchange or CNAME target, no trailing dot ("" = root);
				 * A/AAAA: the address in presentation form */
	unsigned char addr[16];	/* A: 4 bytes, AAAA: 16 bytes */
	char *text;		/* TXT: the character-strings concatenated */
	size_t len;		/* TXT length */
};

struct dns_result {
	enum dns_status status;
	int type;
	char *qname;		/* the name asked for */
	char *name;		/* the name after following CNAMEs */
	uint32_t ttl;		/* how long this answer may be cached */
	int from_cache;
	size_t n;
	struct dns_rr *rr;	/* only records of TYPE owned by NAME */
	char why[80];		/* for DNS_TEMPFAIL / DNS_BADNAME */
};

struct dns;
struct dns_query;
typedef void (*dns_cb)(void *arg, const struct dns_result *r);

/*
 * SERVERS: "host:port" / "[v6]:port" items (config key dns_servers);
 * empty = the system's resolv.conf.  NULL with ERR on failure.
 */
struct dns *dns_open(uv_loop_t *loop, const struct config_list *servers,
    char *err, size_t errlen);
/* Drop pending lookups (their callbacks never run) and close the handles. */
void dns_close(struct dns *d);
/* Start a lookup of NAME (a trailing dot is allowed).  The handle is
 * valid until the callback has run or dns_cancel() was called. */
struct dns_query *dns_lookup(struct dns *d, const char *name, int type,
    dns_cb cb, void *arg);
/* The callback of Q will not run. */
void dns_cancel(struct dns_query *q);
void dns_cache_flush(struct dns *d);
uv_loop_t *dns_loop(const struct dns *d);
size_t dns_cache_size(const struct dns *d);

/* ---- pure parts, exposed for tests and fuzzing ---- */

/* Parse a DNS response for QNAME/TYPE: follow CNAMEs inside the answer,
 * collect TYPE records of the final name, derive status and TTL. */
void dns_parse_answer(const unsigned char *abuf, size_t alen, const char *qname,
    int type, struct dns_result *out);
void dns_result_clear(struct dns_result *r);
void dns_result_copy(struct dns_result *dst, const struct dns_result *src);
const char *dns_strstatus(enum dns_status s);
const char *dns_strtype(int type);

#endif
