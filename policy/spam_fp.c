/* SPDX-License-Identifier: ISC */
/*
 * spam_fp.c: near-duplicate fingerprints (issue 15).  A message's
 * decoded text (policy/mime.c: text parts, HTML stripped) becomes
 * lower-cased words; every run of four words is a shingle; the
 * fingerprint keeps, for each of SPAM_FP_N hash functions, the minimum
 * hash over all shingles (MinHash).  The share of equal minima
 * estimates the Jaccard similarity of two messages' shingle sets, so a
 * campaign that changes a name, a number or a link here and there stays
 * close to the message a reviewer rejected.  The store remembers the
 * fingerprints of rejected messages (spam_reject_fingerprint()) and the
 * spam stage scores NEAR_DUP_REJECTED when a message is within
 * spam_dup_threshold of one, for every account.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <string.h>

#include "mime.h"
#include "spam.h"
#include "util.h"

#define SHINGLE 4

struct fp_ctx {
	struct spam_fp *fp;
	uint64_t win[SHINGLE];		/* hashes of the last words */
	size_t nwin;
};

static uint32_t
mix32(uint64_t x, uint32_t seed)
{
	x ^= (uint64_t)seed * 0x9e3779b97f4a7c15ULL;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

static void
fp_word(struct fp_ctx *c, const char *w, size_t n)
{
	uint64_t sh = 0;
	size_t i;

	memmove(c->win, c->win + 1, (SHINGLE - 1) * sizeof(c->win[0]));
	c->win[SHINGLE - 1] = spam_hash(w, n);
	if (c->nwin < SHINGLE && ++c->nwin < SHINGLE)
		return;
	for (i = 0; i < SHINGLE; i++)
		sh = sh * 0x100000001b3ULL + c->win[i];
	for (i = 0; i < SPAM_FP_N; i++) {
		uint32_t h = mix32(sh, (uint32_t)i + 1);

		if (h < c->fp->h[i])
			c->fp->h[i] = h;
	}
	c->fp->nshingles++;
}

static void
fp_text(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct fp_ctx *c = arg;
	char w[32];
	size_t i = 0;

	(void)part;
	while (i < len) {
		size_t n = 0;

		while (i < len && !isalnum((unsigned char)text[i]) && (unsigned char)text[i] < 0x80)
			i++;
		while (i < len && (isalnum((unsigned char)text[i]) || (unsigned char)text[i] >= 0x80)) {
			if (n < sizeof(w))
				w[n++] = (char)tolower((unsigned char)text[i]);
			i++;
		}
		if (n > 0)
			fp_word(c, w, n);
	}
}

void
spam_fingerprint(const char *msg, size_t len, struct spam_fp *out)
{
	struct mime_limits lim = { 10, 200, 8u << 20 };
	struct fp_ctx c;
	struct mime_parser *p;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < SPAM_FP_N; i++)
		out->h[i] = UINT32_MAX;
	memset(&c, 0, sizeof(c));
	c.fp = out;
	p = mime_new(&lim, fp_text, &c);
	(void)mime_feed(p, msg, len);
	(void)mime_finish(p);
	mime_free(p);
}

double
spam_fp_similarity(const struct spam_fp *a, const struct spam_fp *b)
{
	size_t i, eq = 0;

	if (a->nshingles == 0 || b->nshingles == 0)
		return 0.0;
	for (i = 0; i < SPAM_FP_N; i++)
		eq += a->h[i] == b->h[i];
	return (double)eq / SPAM_FP_N;
}

int
spam_reject_fingerprint(const struct spam_store *store, const char *msg, size_t len)
{
	struct spam_fp fp;

	if (store == NULL || store->dup_add == NULL)
		return -1;
	spam_fingerprint(msg, len, &fp);
	if (fp.nshingles == 0)
		return 0;	/* nothing to compare later */
	return store->dup_add(store->arg, &fp, now_wall_ms());
}
