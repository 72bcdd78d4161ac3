/* SPDX-License-Identifier: ISC */
/*
 * dkim_ed25519.c: DKIM signatures made with OpenSSL EVP over our own
 * relaxed/relaxed canonical form (RFC 6376 §3.4.2, §3.4.4) and hash
 * (§3.7), with a key parsed once when the key store loads:
 * ed25519-sha256 (RFC 8463) and, since issue 20, rsa-sha256 (RFC 6376
 * §3.3.1, RSASSA-PKCS1-v1_5 with SHA-256).  libopendkim 2.11.0~beta2
 * can sign Ed25519 but leaks the key on every signature; for RSA it
 * parsed the PEM key and set up a library handle per message, 2.3 ms
 * of a 10 KiB message's 2.5 (contrib/bench/dkim-sign) against 0.22 ms
 * for the bare signature, so dkim_rsa.c is only the path for a key
 * OpenSSL could not parse at load.  The signature header lists the
 * configured fields (From oversigned), folds before 78 columns and
 * ends in CRLF.  Checked by dkimpy in tests/integration/test_dkim*.py.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dkim.h"
#include "dkim_int.h"
#include "util.h"

/*
 * ed25519-sha256 (RFC 8463) with OpenSSL EVP.  libopendkim 2.11.0~beta2
 * can sign Ed25519, but leaks the loaded key on every signature (about
 * 1.3 KB, found by LeakSanitizer), which a daemon cannot afford; so we
 * canonicalise (relaxed/relaxed, RFC 6376 §3.4.2, §3.4.4), hash (§3.7)
 * and sign here.  The result is checked by dkimpy and opendkim-testmsg.
 */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Relaxed header canonicalisation of one raw field (§3.4.2): written
 * straight into OUT's storage, reserved once (issue 20: an append per
 * octet). */
static void
canon_header(const char *f, size_t n, int crlf, struct buf *out)
{
	const char *colon = memchr(f, ':', n);
	size_t i, nl, start;
	int sp = 0, any = 0;
	char *o;

	if (colon == NULL)
		return;
	if (buf_reserve(out, n + 2) == -1)
		return;	/* the header is a few KiB at most; no cap is set */
	o = out->data + out->len;
	for (nl = (size_t)(colon - f); nl > 0 && is_wsp(f[nl - 1]); nl--)
		;
	for (i = 0; i < nl; i++)
		*o++ = (char)tolower((unsigned char)f[i]);
	*o++ = ':';
	for (start = (size_t)(colon - f) + 1, i = start; i < n; i++) {
		char c = f[i];

		if (c == '\r' || c == '\n')
			continue;	/* unfold */
		if (is_wsp(c)) {
			sp = 1;
			continue;
		}
		if (sp && any)
			*o++ = ' ';
		sp = 0;
		any = 1;
		*o++ = c;
	}
	if (crlf) {
		*o++ = '\r';
		*o++ = '\n';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
}

/* Does the line B[0..N) read the same after relaxed canonicalisation?
 * (no tab, no run of spaces, no trailing space)  Sixteen octets at a
 * time where SSE2 is there: this test ran over every octet of every
 * body signed (issue 20). */
static int
line_is_canonical(const char *b, size_t n)
{
	size_t j = 0;

#if defined(__SSE2__)
	const __m128i tab = _mm_set1_epi8('\t'), sp = _mm_set1_epi8(' ');

	/* octets j..j+15 against tab, and (octet, next octet) against two
	 * spaces: the next octet of j+15 is j+16, still inside the line */
	while (j + 17 <= n) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + j));
		__m128i w = _mm_loadu_si128((const __m128i *)(const void *)(b + j + 1));
		__m128i bad = _mm_or_si128(_mm_cmpeq_epi8(v, tab),
		    _mm_and_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(w, sp)));

		if (_mm_movemask_epi8(bad) != 0)
			return 0;
		j += 16;
	}
#endif
	for (; j < n; j++)
		if (b[j] == '\t' || (b[j] == ' ' && (j + 1 == n || b[j + 1] == ' ')))
			return 0;
	return 1;
}

#define BODY_HASH_CHUNK 16384	/* the buffer stays below 32 KiB (test_policy_message) */

/*
 * Where the canonical body goes: a span of the input that is canonical
 * as it stands (lines already ending in CRLF with no WSP to fold: most
 * mail), hashed in place when something else follows; or the copy
 * buffer, for what canonicalisation changed, hashed every
 * BODY_HASH_CHUNK octets.  At most one of the two holds octets, so the
 * order is kept.  Issue 20: copying every line into the buffer first
 * was a memcpy of the whole body and a buf_append per line.
 */
struct body_out {
	EVP_MD_CTX *ctx;
	const char *span;	/* borrowed: the input */
	size_t spanlen;
	struct buf copy;
	int rc;
};

static void
body_flush(struct body_out *o)
{
	if (o->spanlen > 0 && o->rc == 0 && EVP_DigestUpdate(o->ctx, o->span, o->spanlen) != 1)
		o->rc = -1;
	o->spanlen = 0;
	if (o->copy.len > 0 && o->rc == 0 && EVP_DigestUpdate(o->ctx, o->copy.data, o->copy.len) != 1)
		o->rc = -1;
	buf_reset(&o->copy);
}

/* Input octets P[0..N) that are their own canonical form. */
static void
body_verbatim(struct body_out *o, const char *p, size_t n)
{
	if (o->copy.len > 0 || (o->spanlen > 0 && o->span + o->spanlen != p))
		body_flush(o);
	if (o->spanlen == 0)
		o->span = p;
	o->spanlen += n;
}

/* Canonical octets P[0..N) that are not the input's own. */
static void
body_copy(struct body_out *o, const char *p, size_t n)
{
	if (o->spanlen > 0)
		body_flush(o);
	if (n >= BODY_HASH_CHUNK) {
		/* a long line: hashed where it is, the buffer stays bounded */
		body_flush(o);
		if (o->rc == 0 && EVP_DigestUpdate(o->ctx, p, n) != 1)
			o->rc = -1;
		return;
	}
	if (o->copy.len + n > BODY_HASH_CHUNK)
		body_flush(o);
	buf_append(&o->copy, p, n);
}

/*
 * Relaxed body canonicalisation (§3.4.4) streamed into the SHA-256 CTX:
 * WSP runs become one space, trailing WSP goes, lines end in CRLF,
 * empty lines at the end are ignored.  Lines split at LF; one CR
 * before it belongs to the line ending.
 */
static int
hash_body_relaxed(EVP_MD_CTX *ctx, const char *b, size_t n)
{
	struct body_out o;
	size_t i = 0, empty = 0, empty_at = 0;
	int empty_crlf = 1;

	memset(&o, 0, sizeof(o));
	o.ctx = ctx;
	buf_init(&o.copy, 0);
	while (i < n && o.rc == 0) {
		const char *nlp = memchr(b + i, '\n', n - i);
		size_t end = nlp ? (size_t)(nlp - b) : n, e = end, j;
		int sp = 0, crlf;

		if (nlp && e > i && b[e - 1] == '\r')
			e--;
		crlf = nlp != NULL && e + 1 == end;	/* the input's line ends in CRLF */
		/* trailing WSP is dropped: a line of only WSP is empty */
		for (j = e; j > i && is_wsp(b[j - 1]); j--)
			;
		if (j == i) {
			/* empty lines at the end are ignored: held until a
			 * line with text follows */
			if (empty++ == 0) {
				empty_at = i;
				empty_crlf = 1;
			}
			empty_crlf = empty_crlf && crlf && e == i;
			i = nlp ? end + 1 : n;
			continue;
		}
		if (empty > 0 && empty_crlf)
			body_verbatim(&o, b + empty_at, i - empty_at);	/* "\r\n" each */
		else
			for (; empty > 0; empty--)
				body_copy(&o, "\r\n", 2);
		empty = 0;
		if (line_is_canonical(b + i, e - i)) {
			if (crlf)
				body_verbatim(&o, b + i, end + 1 - i);
			else {
				body_copy(&o, b + i, e - i);
				body_copy(&o, "\r\n", 2);
			}
		} else {
			for (j = i; j < e;) {
				size_t k;

				if (is_wsp(b[j])) {
					sp = 1;
					j++;
					continue;
				}
				if (sp)
					body_copy(&o, " ", 1);
				sp = 0;
				for (k = j; k < e && !is_wsp(b[k]); k++)
					;
				body_copy(&o, b + j, k - j);	/* a run without WSP */
				j = k;
			}
			body_copy(&o, "\r\n", 2);
		}
		i = nlp ? end + 1 : n;
	}
	body_flush(&o);
	buf_free(&o.copy);
	return o.rc;
}

struct hfield {
	const char *p;
	size_t n;
	int used;
};

struct hcollect {
	struct hfield *f;
	size_t n, cap;
};

static int
collect_cb(const char *field, size_t flen, void *arg)
{
	struct hcollect *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->f = xrealloc(c->f, c->cap * sizeof(*c->f));
	}
	c->f[c->n].p = field;
	c->f[c->n].n = flen;
	c->f[c->n].used = 0;
	c->n++;
	return 0;
}

static int
field_is(const struct hfield *f, const char *name)
{
	size_t l = strlen(name), i;

	if (f->n <= l || mem_casecmp(f->p, name, l) != 0)
		return 0;
	for (i = l; i < f->n && is_wsp(f->p[i]); i++)
		;
	return i < f->n && f->p[i] == ':';
}

static void
b64(const unsigned char *in, size_t n, struct buf *out)
{
	char *tmp = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);
	buf_append_str(out, tmp);
	free(tmp);
}

/* Append " tag" to the header being built, folding before 78 columns. */
static void
fold_add(struct buf *h, size_t *col, const char *tag)
{
	size_t l = strlen(tag);

	if (*col + 1 + l > 78) {
		buf_append_str(h, "\r\n\t");
		*col = 8;
	} else {
		buf_append(h, " ", 1);
		(*col)++;
	}
	buf_append_str(h, tag);
	*col += l;
}

int
dkimsign_sign_ed25519(const struct policy_dkim_params *p, const struct dkimsign_key *key, const char *fields,
    size_t flen, const char *body, size_t blen, struct buf *sighdr, char *err, size_t errlen)
{
	struct hcollect hc = { NULL, 0, 0 };
	struct buf hdr, canon, hlist;
	int rsa = key->alg == DKIMSIGN_ALG_RSA;
	const char *algname = rsa ? "RSA" : "Ed25519";
	unsigned char bh[EVP_MAX_MD_SIZE], digest[EVP_MAX_MD_SIZE], sig[1024];
	unsigned int bhlen = 0, dlen = 0;
	size_t i, j, col, siglen = sizeof(sig);
	char **names = dkimsign_header_names(p), tag[512];
	EVP_MD_CTX *md = EVP_MD_CTX_new(), *sctx = EVP_MD_CTX_new();
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	time_t now = time(NULL);
	uint64_t ttl = p->signature_expiry / 1000;
	int rc = -1;

	buf_init(&hdr, 0);
	buf_init(&canon, 0);
	buf_init(&hlist, 0);
	if (key->pem == NULL) {
		snprintf(err, errlen, "%s", key->load_error ? key->load_error : "key not loaded");
		goto out;
	}
	if (key->evp != NULL) {
		pkey = key->evp;
		EVP_PKEY_up_ref(pkey);
	} else if ((bio = BIO_new_mem_buf(key->pem, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "%s.%s: not a usable %s key", key->domain, key->selector, algname);
		goto out;
	}
	if (EVP_PKEY_get_base_id(pkey) != (rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519) ||
	    EVP_PKEY_get_size(pkey) <= 0 || (size_t)EVP_PKEY_get_size(pkey) > sizeof(sig)) {
		snprintf(err, errlen, "%s.%s: not a usable %s key", key->domain, key->selector, algname);
		goto out;
	}
	if (md == NULL || sctx == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}

	/* body hash */
	(void)dkimsign_header_walk(fields, flen, collect_cb, &hc);
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    hash_body_relaxed(md, body, blen) == -1 ||
	    EVP_DigestFinal_ex(md, bh, &bhlen) != 1) {
		snprintf(err, errlen, "body hash failed");
		goto out;
	}

	/* h=: every present field named in the list, in message order (§5.4.2) */
	for (i = 0; i < hc.n; i++)
		for (j = 0; names[j]; j++)
			if (field_is(&hc.f[i], names[j])) {
				buf_printf(&hlist, "%s%s", hlist.len ? ":" : "", names[j]);
				break;
			}
	/* oversign From (§8.15): one more instance than present */
	buf_printf(&hlist, "%sfrom", hlist.len ? ":" : "");

	/* the signature header with an empty b= */
	buf_append_str(&hdr, rsa ? "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;" :
	    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;");
	col = hdr.len;
	snprintf(tag, sizeof(tag), "d=%s;", key->domain);
	fold_add(&hdr, &col, tag);
	snprintf(tag, sizeof(tag), "s=%s;", key->selector);
	fold_add(&hdr, &col, tag);
	snprintf(tag, sizeof(tag), "t=%lld;", (long long)now);
	fold_add(&hdr, &col, tag);
	if (ttl > 0) {
		snprintf(tag, sizeof(tag), "x=%lld;", (long long)now + (long long)ttl);
		fold_add(&hdr, &col, tag);
	}
	{
		struct buf t;

		buf_init(&t, 0);
		buf_append_str(&t, "bh=");
		b64(bh, bhlen, &t);
		buf_append_str(&t, ";");
		fold_add(&hdr, &col, t.data);
		buf_reset(&t);
		/* h= may be long: fold it at colons */
		buf_append_str(&hdr, "\r\n\th=");
		col = 10;
		for (i = 0; i < hlist.len; i++) {
			if (hlist.data[i] == ':' && col > 70) {
				buf_append_str(&hdr, ":\r\n\t ");
				col = 9;
				continue;
			}
			buf_append(&hdr, &hlist.data[i], 1);
			col++;
		}
		buf_append_str(&hdr, ";\r\n\tb=");
		buf_free(&t);
	}

	/* header hash input: the selected fields bottom-up, then our own header (§3.7) */
	{
		char *list = xstrdup(hlist.data), *name, *save = NULL;

		for (name = strtok_r(list, ":", &save); name; name = strtok_r(NULL, ":", &save)) {
			for (i = hc.n; i-- > 0;)
				if (!hc.f[i].used && field_is(&hc.f[i], name)) {
					hc.f[i].used = 1;
					canon_header(hc.f[i].p, hc.f[i].n, 1, &canon);
					break;
				}
			/* no unused instance: contributes the null string */
		}
		free(list);
	}
	canon_header(hdr.data, hdr.len, 0, &canon);
	if (rsa) {
		/* RFC 6376 §3.3.1: RSASSA-PKCS1-v1_5 with SHA-256 over the header hash input */
		if (EVP_DigestSignInit(sctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
		    EVP_DigestSign(sctx, sig, &siglen, (const unsigned char *)canon.data, canon.len) != 1) {
			snprintf(err, errlen, "RSA signing failed");
			goto out;
		}
		goto signed_;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, canon.data, canon.len) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
		snprintf(err, errlen, "header hash failed");
		goto out;
	}
	/* RFC 8463 §3: PureEdDSA over the SHA-256 hash */
	if (EVP_DigestSignInit(sctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(sctx, sig, &siglen, digest, dlen) != 1 || siglen != 64) {
		snprintf(err, errlen, "Ed25519 signing failed");
		goto out;
	}
signed_:
	{
		struct buf sb;

		buf_init(&sb, 0);
		b64(sig, siglen, &sb);
		for (i = 0; i < sb.len; i += 64) {
			if (i > 0)
				buf_append_str(&hdr, "\r\n\t ");
			buf_append(&hdr, sb.data + i, sb.len - i < 64 ? sb.len - i : 64);
		}
		buf_free(&sb);
	}
	buf_append_str(&hdr, "\r\n");
	buf_append(sighdr, hdr.data, hdr.len);
	rc = 0;
out:
	free(hc.f);
	dkimsign_names_free(names);
	buf_free(&hdr);
	buf_free(&canon);
	buf_free(&hlist);
	EVP_MD_CTX_free(md);
	EVP_MD_CTX_free(sctx);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}
