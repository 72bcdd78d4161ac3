/* SPDX-License-Identifier: ISC */
/*
 * spam_dnsbl.c: the pure parts of DNS blocklist checks (issue 15,
 * RFC 5782): list specs with return-code decoding, query names for IP
 * addresses (reversed octets, IPv6 nibbles) and domains, answer
 * decoding (only 127.0.0.0/8 means listed, §2.3; 127.255.255.x is how
 * lists such as Spamhaus refuse a query, e.g. from a public resolver,
 * and disables the list), and the §5 test entries every list must
 * answer correctly (IPv4 lists list 127.0.0.2 and not 127.0.0.1; domain
 * lists list TEST and not INVALID).
 *
 * No I/O here: the spam EOM stage (policy/spam_stage.c) builds the
 * queries and decodes the answers; the relay (src/inbound/relay.c) does
 * the lookups on the loop through src/net/dns.c (c-ares, with its TTL
 * cache) and runs the canary checks.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spam.h"
#include "util.h"

/* SYMBOL of [A-Z0-9_], 1..31; WEIGHT a finite number. */
static int
parse_sym_weight(const char *sym, size_t slen, const char *w, size_t wlen, char *osym,
    double *ow)
{
	char num[32], *end;
	size_t i;

	if (slen == 0 || slen >= 32 || wlen == 0 || wlen >= sizeof(num))
		return -1;
	for (i = 0; i < slen; i++)
		if (!isupper((unsigned char)sym[i]) && !isdigit((unsigned char)sym[i]) && sym[i] != '_')
			return -1;
	memcpy(osym, sym, slen);
	osym[slen] = '\0';
	memcpy(num, w, wlen);
	num[wlen] = '\0';
	*ow = strtod(num, &end);
	return *end == '\0' && isfinite(*ow) && fabs(*ow) <= 1e6 ? 0 : -1;
}

int
spam_list_parse(const char *s, int domains, struct spam_list *out, char *err, size_t errlen)
{
	const char *c1 = strchr(s, ':'), *c2, *c3, *p;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->domains = domains;
	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
		goto bad;
	c3 = strchr(c2 + 1, ':');
	if (c1 == s || (size_t)(c1 - s) >= sizeof(out->zone))
		goto bad;
	for (i = 0; s + i < c1; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)s[i]);

		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			goto bad;
		out->zone[i] = (char)c;
	}
	if (parse_sym_weight(c1 + 1, (size_t)(c2 - c1 - 1), c2 + 1,
	    c3 ? (size_t)(c3 - c2 - 1) : strlen(c2 + 1), out->symbol, &out->weight) != 0)
		goto bad;
	for (p = c3 ? c3 + 1 : NULL; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '+'), *e1, *e2;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *stop;
		unsigned long code;

		if (out->ncodes == SPAM_LIST_MAX_CODES)
			goto bad;
		e1 = memchr(p, '=', len);
		e2 = e1 ? memchr(e1 + 1, '=', len - (size_t)(e1 + 1 - p)) : NULL;
		if (e1 == NULL || e2 == NULL)
			goto bad;
		code = strtoul(p, &stop, 10);
		if (stop != e1 || code > 255)
			goto bad;
		out->codes[out->ncodes].code = (unsigned)code;
		if (parse_sym_weight(e1 + 1, (size_t)(e2 - e1 - 1), e2 + 1, len - (size_t)(e2 + 1 - p),
		    out->codes[out->ncodes].symbol, &out->codes[out->ncodes].weight) != 0)
			goto bad;
		out->ncodes++;
		p = end ? end + 1 : NULL;
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s': expected ZONE:SYMBOL:WEIGHT[:CODE=SYMBOL=WEIGHT+...]", s);
	return -1;
}

int
spam_dnsbl_qname(const char *ip, const char *zone, char *out, size_t outlen)
{
	unsigned char a[16];
	size_t n = 0;
	int i;

	if (inet_pton(AF_INET, ip, a) == 1) {
		n = (size_t)snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
		return n < outlen ? 0 : -1;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	out[0] = '\0';
	for (i = 15; i >= 0; i--) {
		n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%x.%x.", a[i] & 15, a[i] >> 4);
		if (n >= outlen)
			return -1;
	}
	n += (size_t)snprintf(out + n, outlen - n, "%s", zone);
	return n < outlen ? 0 : -1;
}

int
spam_dnsbl_decode(const struct spam_list *l, const unsigned char addr[4], const char **sym,
    double *w)
{
	size_t i;

	if (addr[0] != 127)
		return 0;	/* RFC 5782 §2.3: only 127.0.0.0/8 is a listing */
	if (addr[1] == 255 && addr[2] == 255)
		return -1;	/* 127.255.255.x: the list refuses us */
	*sym = l->symbol;
	*w = l->weight;
	for (i = 0; i < l->ncodes; i++)
		if (l->codes[i].code == addr[3]) {
			*sym = l->codes[i].symbol;
			*w = l->codes[i].weight;
			break;
		}
	return 1;
}

void
spam_dnsbl_canaries(const struct spam_list *l, char *listed, char *unlisted, size_t len)
{
	if (l->domains) {
		snprintf(listed, len, "test.%s", l->zone);
		snprintf(unlisted, len, "invalid.%s", l->zone);
	} else {
		snprintf(listed, len, "2.0.0.127.%s", l->zone);
		snprintf(unlisted, len, "1.0.0.127.%s", l->zone);
	}
}

void
spam_dnsq_free(struct spam_dnsq *q)
{
	if (q == NULL)
		return;
	free(q->v);
	free(q);
}
