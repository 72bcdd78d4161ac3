/* SPDX-License-Identifier: ISC */
/*
 * dkim_stage.c: the DKIM EOM stage.  It runs last in the policy
 * pipeline, in a uv thread-pool job (DESIGN.md §7).  It picks the
 * signing domain (the From: domain if the account may send for it,
 * else dkim_fallback_domain, else none) and signs with each active key
 * of that domain: RSA through dkim_rsa.c, Ed25519 through
 * dkim_ed25519.c.  Any failure once a signature is due is a tempfail
 * (451 4.7.0): we never send unsigned what should have been signed.
 * Concurrent jobs share only the reference-counted key cache, which
 * reloads when the metadata file changes (rotation takes effect
 * without a restart).  Also here, for both signers: the header-block
 * walker, the signed-header list and the From: domain parser.
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"
#include "dkim_int.h"
#include "log.h"
#include "util.h"

/* ---- From: domain ----------------------------------------------------- */

/*
 * Walk the header block: calls FN for each field (raw bytes including
 * folded continuation lines, without the final line ending).  Returns
 * the offset of the body (after the empty line), or LEN.
 */
size_t
dkimsign_header_walk(const char *msg, size_t len,
    int (*fn)(const char *field, size_t flen, void *arg), void *arg)
{
	size_t p = 0;

	while (p < len) {
		size_t start = p, end;
		const char *nl;

		/* empty line: end of header block */
		if (msg[p] == '\n')
			return p + 1;
		if (msg[p] == '\r' && p + 1 < len && msg[p + 1] == '\n')
			return p + 2;
		for (;;) {
			nl = memchr(msg + p, '\n', len - p);
			if (nl == NULL) {
				p = len;
				end = len;
				break;
			}
			p = (size_t)(nl - msg) + 1;
			end = p - 1;
			if (end > start && msg[end - 1] == '\r')
				end--;
			if (p < len && (msg[p] == ' ' || msg[p] == '\t'))
				continue;	/* folded (RFC 5322 §2.2.3) */
			break;
		}
		if (fn && fn(msg + start, end - start, arg) != 0)
			return p;
		if (nl == NULL)
			return len;
	}
	return len;
}

struct from_scan {
	int count;
	const char *field;
	size_t flen;
};

static int
from_cb(const char *field, size_t flen, void *arg)
{
	struct from_scan *s = arg;

	if (flen >= 5 && mem_casecmp(field, "From:", 5) == 0) {
		s->count++;
		s->field = field;
		s->flen = flen;
	} else if (flen >= 5 && mem_casecmp(field, "From", 4) == 0) {
		size_t i = 4;

		while (i < flen && (field[i] == ' ' || field[i] == '\t'))
			i++;
		if (i < flen && field[i] == ':') {
			s->count++;
			s->field = field;
			s->flen = flen;
		}
	}
	return 0;
}

/* Domain of one address (text after the last '@'), lowercased, into OUT. */
static int
addr_domain(const char *a, size_t n, char *out, size_t outlen)
{
	size_t i, at = n;

	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t' || a[n - 1] == '\r' || a[n - 1] == '\n'))
		n--;
	for (i = 0; i < n; i++)
		if (a[i] == '@')
			at = i;
	if (at == n || n - at - 1 == 0 || n - at - 1 >= outlen)
		return -1;
	memcpy(out, a + at + 1, n - at - 1);
	out[n - at - 1] = '\0';
	dkimsign_lower(out);
	return dkimsign_valid_domain(out) ? (int)(n - at - 1) : -1;
}

/*
 * RFC 5322 §3.4 mailbox-list, simplified: mailboxes separated by
 * top-level commas; each is name-addr (<addr>) or addr-spec; quoted
 * strings and comments are skipped.  Every mailbox's domain must agree.
 */
static int
mailbox_list_domain(const char *v, size_t n, char *out, size_t outlen)
{
	char spec[512], dom[DKIM_DOMAIN_MAX];
	size_t i = 0, sl = 0;
	int depth = 0, inangle = 0, hadangle = 0, found = 0;

	out[0] = '\0';
	for (i = 0; i <= n; i++) {
		char c = i < n ? v[i] : ',';

		if (depth > 0) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '"' && !inangle) {
			for (i++; i < n && v[i] != '"'; i++)
				if (v[i] == '\\')
					i++;
			continue;
		}
		if (c == '(') {
			depth = 1;
			continue;
		}
		if (c == '<' && !inangle) {
			inangle = 1;
			hadangle = 1;
			sl = 0;
			continue;
		}
		if (c == '>' && inangle) {
			inangle = 0;
			continue;
		}
		if (c == ',' && !inangle) {
			if (sl == 0)
				continue;	/* empty list element */
			if (addr_domain(spec, sl, dom, sizeof(dom)) < 0)
				return -1;
			if (found && strcmp(dom, out) != 0)
				return -1;
			str_copy(out, dom, outlen);
			found = 1;
			sl = 0;
			hadangle = 0;
			continue;
		}
		if (hadangle && !inangle)
			continue;	/* display text after the angle-addr */
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (sl + 1 >= sizeof(spec))
			return -1;
		spec[sl++] = c;
	}
	if (depth != 0 || inangle || !found)
		return -1;
	return (int)strlen(out);
}

int
dkimsign_from_domain(const char *msg, size_t len, char *out, size_t outlen)
{
	struct from_scan s = { 0, NULL, 0 };
	const char *colon;

	dkimsign_header_walk(msg, len, from_cb, &s);
	if (s.count != 1)
		return -1;	/* RFC 5322 §3.6: exactly one From: */
	colon = memchr(s.field, ':', s.flen);
	return mailbox_list_domain(colon + 1, s.flen - (size_t)(colon + 1 - s.field), out, outlen);
}

/* NULL-terminated lowercase header-name list; From is always included,
 * and so are List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 §4:
 * the signature must cover both) and X-Postern-Spam (the spam stage's
 * verdict, added before DKIM signs so that a receiver can trust it);
 * the signers sign only fields that are present, so this costs nothing
 * for messages without them. */
char **
dkimsign_header_names(const struct policy_dkim_params *p)
{
	static const char *const always[] = { "list-unsubscribe", "list-unsubscribe-post",
	    "x-postern-spam" };
	enum { NALWAYS = sizeof(always) / sizeof(always[0]) };
	const struct policy_strlist *l = &p->sign_headers;
	char **v = xcalloc(l->n + NALWAYS + 2, sizeof(*v));
	size_t i, n = 0, k;
	int from = 0, have[NALWAYS] = { 0 };

	for (i = 0; i < l->n; i++) {
		const char *h = l->items[i];
		size_t j;

		for (j = 0; h[j]; j++)
			if (!isalnum((unsigned char)h[j]) && h[j] != '-' && h[j] != '_')
				break;
		if (h[j] != '\0' || j == 0)
			continue;	/* not a field name (RFC 5322 §3.6.8) */
		v[n] = xstrdup(h);
		dkimsign_lower(v[n]);
		if (strcmp(v[n], "from") == 0)
			from = 1;
		for (k = 0; k < NALWAYS; k++)
			if (strcmp(v[n], always[k]) == 0)
				have[k] = 1;
		n++;
	}
	for (k = 0; k < NALWAYS; k++)
		if (!have[k])
			v[n++] = xstrdup(always[k]);
	if (!from)
		v[n++] = xstrdup("from");
	v[n] = NULL;
	return v;
}

void
dkimsign_names_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int
dkimsign_sign_parts(const struct policy_dkim_params *p, const struct dkimsign_key *key, const char *hdr,
    size_t hlen, const char *body, size_t blen, struct buf *sighdr, char *err, size_t errlen)
{
	/* OpenSSL EVP with the key parsed at load (dkim_ed25519.c) for both
	 * algorithms; libopendkim only for an RSA key OpenSSL could not parse */
	if (key->alg == DKIMSIGN_ALG_ED25519 || key->evp != NULL)
		return dkimsign_sign_ed25519(p, key, hdr, hlen, body, blen, sighdr, err, errlen);
	return dkimsign_sign_rsa(p, key, hdr, hlen, body, blen, sighdr, err, errlen);
}

int
dkimsign_sign_with_key(const struct policy_dkim_params *p, const struct dkimsign_key *key, const char *msg,
    size_t len, struct buf *sighdr, char *err, size_t errlen)
{
	size_t body = dkimsign_header_walk(msg, len, NULL, NULL);

	/* the signers' walk ends at the empty line, so it may stay in HDR */
	return dkimsign_sign_parts(p, key, msg, body, msg + body, len - body, sighdr, err, errlen);
}

/* ---- the stage: key cache and signing-domain choice ------------------- */

struct keycache {
	struct dkimsign_keystore *ks;
	int refs;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int exists;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keycache *cache_cur;

static void
cache_release(struct keycache *c)
{
	int last;

	if (c == NULL)
		return;
	pthread_mutex_lock(&cache_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&cache_lock);
	if (last) {
		dkimsign_keystore_free(c->ks);
		free(c);
	}
}

/* A reference to the current key store of DIR, reloaded when its metadata changed. */
static struct keycache *
cache_acquire(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX + 512];
	struct keycache *c, *old = NULL;
	struct stat st;
	int exists;

	snprintf(path, sizeof(path), "%s/%s", dir, DKIM_META_FILE);
	exists = stat(path, &st) == 0;
	pthread_mutex_lock(&cache_lock);
	c = cache_cur;
	if (c && strcmp(c->ks->dir, dir) == 0 && c->exists == exists &&
	    (!exists || (c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
	    c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec))) {
		c->refs++;
		pthread_mutex_unlock(&cache_lock);
		return c;
	}
	pthread_mutex_unlock(&cache_lock);

	c = xcalloc(1, sizeof(*c));
	if (dkimsign_keystore_load(dir, 1, &c->ks, err, errlen) == -1) {
		free(c);
		return NULL;
	}
	c->exists = exists;
	if (exists) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		c->size = st.st_size;
		c->mtime = st.st_mtim;
	}
	c->refs = 2;	/* the cache's and the caller's */
	pthread_mutex_lock(&cache_lock);
	old = cache_cur;
	cache_cur = c;
	pthread_mutex_unlock(&cache_lock);
	log_info("event=dkim_keys_loaded dir=%s keys=%zu", dir, c->ks->n);
	cache_release(old);
	return c;
}

/*
 * May the account sign as DOMAIN?  Its policy's domain list (the same
 * syntax the relay checks senders with): "a.test" exactly, "*.a.test"
 * strictly below a.test.  A bare "*" (any sender) does NOT let an account
 * use other customers' keys: such mail gets the fallback signature.
 */
static int
account_allows(const struct account_policy *pol, const char *domain)
{
	if (pol == NULL)
		return 0;
	return domain_list_match(pol->domains, pol->ndomains, domain, strlen(domain), 0);
}

static void
sign_tempfail(struct outcome *out)
{
	outcome_reply(out, R_DKIM_SIGN_FAILED);
}

/*
 * Sign M with every active key of DOMAIN and prepend the signatures.
 * *NSIG is the number of signatures added (0: the domain has no active
 * key).  -1 with a tempfail in OUT when a key exists but signing failed.
 */
static int
sign_domain(struct policy_msg *m, const struct buf *hb, size_t body, struct outcome *out,
    const char *domain, const char *why, size_t *nsig)
{
	char dir[PATH_MAX], err[512];
	struct keycache *c;
	struct buf sigs;
	size_t i;

	*nsig = 0;
	dkimsign_key_directory(&m->params->dkim, dir, sizeof(dir));
	if ((c = cache_acquire(dir, err, sizeof(err))) == NULL) {
		log_err("event=dkim_error account=%s domain=%s error=\"%s\"", m->account, domain, err);
		sign_tempfail(out);
		return -1;
	}
	buf_init(&sigs, 0);
	for (i = 0; i < c->ks->n; i++) {
		const struct dkimsign_key *k = &c->ks->keys[i];

		if (!k->active || strcmp(k->domain, domain) != 0)
			continue;
		if (dkimsign_sign_parts(&m->params->dkim, k, hb->data ? hb->data : "", hb->len,
		    m->data.data ? m->data.data + body : "", m->data.len - body,
		    &sigs, err, sizeof(err)) == -1) {
			log_err("event=dkim_error account=%s domain=%s selector=%s error=\"%s\"",
			    m->account, domain, k->selector, err);
			sign_tempfail(out);
			buf_free(&sigs);
			cache_release(c);
			return -1;
		}
		log_debug("event=dkim_signed account=%s domain=%s selector=%s alg=%s via=%s",
		    m->account, domain, k->selector, dkimsign_strealg(k->alg), why);
		(*nsig)++;
	}
	cache_release(c);
	if (*nsig == 0) {
		buf_free(&sigs);
		return 0;
	}
	/* new header fields go on top (RFC 6376 §5.6); the message is not copied */
	policy_msg_prepend(m, sigs.data, sigs.len);
	buf_free(&sigs);
	return 0;
}

int
dkimsign_stage_run(struct policy_msg *m, struct outcome *out)
{
	char from[DKIM_DOMAIN_MAX], fallback[DKIM_DOMAIN_MAX];
	const char *fb = m->params->dkim.fallback_domain;
	struct buf hb;
	size_t nsig, body;
	int rc = 0;

	outcome_ok(out);
	/* exactly what will be stored and delivered: the final header
	 * section (fields added by earlier stages included) and the body */
	buf_init(&hb, 0);
	policy_msg_header_block(m, &hb);
	(void)policy_msg_header_end(m, &body);
	if (dkimsign_from_domain(hb.data ? hb.data : "", hb.len, from, sizeof(from)) >= 0 &&
	    account_allows(m->acct, from)) {
		if (sign_domain(m, &hb, body, out, from, "from", &nsig) == -1) {
			rc = -1;
			goto out;
		}
		if (nsig > 0)
			goto out;
		/* the author domain has no key (yet): the fallback, if any, signs */
	}
	if (fb == NULL || fb[0] == '\0') {
		log_debug("event=dkim_skip account=%s reason=no_signing_domain", m->account);
		goto out;
	}
	str_copy(fallback, fb, sizeof(fallback));
	dkimsign_lower(fallback);
	if (sign_domain(m, &hb, body, out, fallback, "fallback", &nsig) == -1) {
		rc = -1;
		goto out;
	}
	if (nsig == 0) {
		/* configured to sign, cannot: never send it unsigned */
		log_err("event=dkim_error account=%s domain=%s error=\"no active key for the fallback domain\"",
		    m->account, fallback);
		sign_tempfail(out);
		rc = -1;
	}
out:
	buf_free(&hb);
	return rc;
}

const struct policy_stage dkimsign_stage = { .name = "dkim", .run = dkimsign_stage_run };