/* SPDX-License-Identifier: ISC */
/*
 * redact.c: the `redact` action of the sensitive-data policy (issue 7).
 *
 * dlp_redact() rewrites a message so that, for the chosen types, only
 * the last four characters of each value remain ("**** **** **** 1234",
 * "***-**-6789", IBAN: country code and last four).  Every affected text
 * part is transfer-decoded, turned into text with a map back to the
 * decoded bytes (so a number split by HTML markup or written with
 * entities is masked where it really is), masked in place, and encoded
 * again with its original transfer encoding (base64 and QP lines stay
 * under 76 octets; identity parts keep their length, so lines stay as
 * they were, <= 998).  Everything outside the rewritten bodies is
 * copied byte for byte, so boundaries and headers, hence the MIME
 * structure, are untouched (an encoded message/rfc822 part is decoded,
 * redacted as a message and encoded again).  dlp_redact_in_place() (the EOM stage's)
 * rewrites the message's own buffer instead of making a copy: only the
 * rewritten parts are built apart, and the buffer grows at most once.  The top-level Subject is rewritten too
 * (as an RFC 2047 encoded word when it is not ASCII).  Runs before DKIM
 * signing, so the signature covers the redacted message.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "dlp.h"
#include "mime.h"
#include "util.h"

struct redact_ctx {
	struct mime_parser *parser;	/* borrowed */
	unsigned type_mask;
	unsigned char *parts_hit;	/* per part number: has a finding to redact */
	size_t nhit;
	int subject_hit;
	size_t subject_len;
	struct buf subject;		/* masked subject text */
};

static int
in_mask(unsigned mask, enum dlp_type t)
{
	return (mask >> t) & 1u;
}

/* Which parts need rewriting; masks the subject text on the way. */
static void
redact_collect(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct redact_ctx *c = arg;
	struct dlp_findings f;
	size_t i, k;
	unsigned pno;

	dlp_findings_init(&f);
	dlp_scan(text, len, part->no, &f);
	for (i = 0; i < f.n; i++) {
		if (!in_mask(c->type_mask, f.v[i].type))
			continue;
		if (part->no == 0) {
			/* Part 0 comes last: the subject length is known now. */
			c->subject_len = mime_subject_len(c->parser);
			if (f.v[i].offset + f.v[i].len <= c->subject_len) {
				if (!c->subject_hit) {
					buf_reset(&c->subject);
					(void)buf_append(&c->subject, text, c->subject_len);
				}
				c->subject_hit = 1;
				for (k = 0; k < f.v[i].len; k++)
					if (dlp_mask_byte(text + f.v[i].offset, f.v[i].len, f.v[i].type, k))
						c->subject.data[f.v[i].offset + k] = '*';
			}
			continue;
		}
		/* A part inside an encoded message: that whole part is rewritten. */
		pno = part->container != 0 ? part->container : part->no;
		if (pno >= c->nhit) {
			size_t n = pno * 2 + 8;

			c->parts_hit = xrealloc(c->parts_hit, n);
			memset(c->parts_hit + c->nhit, 0, n - c->nhit);
			c->nhit = n;
		}
		c->parts_hit[pno] = 1;
	}
	dlp_findings_free(&f);
}

/* The rewritten body of one part, encoded with its transfer encoding. */
static void
redact_part(const char *raw, const struct mime_part *part, unsigned mask, struct buf *out)
{
	struct buf dec, text, clean;
	struct dlp_findings f;
	size_t *map = NULL, i, k, rawlen = part->body_end - part->body_start;
	unsigned char *mark;

	buf_init(&dec, 0);
	buf_init(&text, 0);
	buf_init(&clean, 0);
	(void)mime_decode(part->cte, raw + part->body_start, rawlen, &dec);
	mime_to_text(dec.data ? dec.data : "", dec.len, part->charset, mime_text_flags(part), &text, &map);
	mark = xcalloc(dec.len + 1, 1);
	dlp_findings_init(&f);
	dlp_scan(text.data ? text.data : "", text.len, part->no, &f);
	for (i = 0; i < f.n; i++) {
		if (!in_mask(mask, f.v[i].type))
			continue;
		for (k = 0; k < f.v[i].len; k++)
			if (dlp_mask_byte(text.data + f.v[i].offset, f.v[i].len, f.v[i].type, k))
				mark[map[f.v[i].offset + k]] = 1;
	}
	for (i = 0; i < dec.len; i++) {
		if (!mark[i]) {
			(void)buf_append(&clean, dec.data + i, 1);
			continue;
		}
		if (dec.data[i] == '&' && part->html) {
			/* A digit written as an entity: the entity goes. */
			const char *semi = memchr(dec.data + i, ';', dec.len - i < 12 ? dec.len - i : 12);

			if (semi != NULL)
				i = (size_t)(semi - dec.data);
		}
		(void)buf_append(&clean, "*", 1);
	}
	mime_encode(part->cte, clean.data ? clean.data : "", clean.len, out);
	if (part->cte != MIME_CTE_IDENTITY && rawlen > 0 && raw[part->body_end - 1] == '\n'
	    && (out->len < 2 || out->data[out->len - 1] != '\n'))
		(void)buf_append(out, "\r\n", 2);
	dlp_findings_free(&f);
	free(mark);
	free(map);
	buf_free(&dec);
	buf_free(&text);
	buf_free(&clean);
}

/* The rewritten body of an encoded message/rfc822 part: decoded, the
 * message inside redacted as a message of its own, encoded again. */
static void
redact_encap(const char *raw, const struct mime_part *part, const struct mime_limits *lim,
    unsigned mask, struct buf *out)
{
	struct buf dec, red;
	size_t rawlen = part->body_end - part->body_start;

	buf_init(&dec, 0);
	buf_init(&red, 0);
	(void)mime_decode(part->cte, raw + part->body_start, rawlen, &dec);
	(void)dlp_redact(dec.data ? dec.data : "", dec.len, lim, mask, &red, NULL);
	mime_encode(part->cte, red.data ? red.data : "", red.len, out);
	if (rawlen > 0 && raw[part->body_end - 1] == '\n'
	    && (out->len < 2 || out->data[out->len - 1] != '\n'))
		(void)buf_append(out, "\r\n", 2);
	buf_free(&dec);
	buf_free(&red);
}

/* Append a Subject field carrying TEXT (UTF-8), folded, RFC 2047 if needed. */
static void
write_subject(const char *text, size_t len, struct buf *out)
{
	size_t i;
	int ascii = 1;

	for (i = 0; i < len; i++)
		if ((unsigned char)text[i] >= 0x80 || text[i] == '\r' || text[i] == '\n')
			ascii = 0;
	if (ascii && len < 900) {
		(void)buf_append_str(out, "Subject: ");
		(void)buf_append(out, text, len);
		(void)buf_append(out, "\r\n", 2);
		return;
	}
	/* RFC 2047 §2: encoded words of at most 75 characters, one per line;
	 * cut between UTF-8 characters. */
	(void)buf_append_str(out, "Subject:");
	for (i = 0; i < len;) {
		size_t n = len - i > 45 ? 45 : len - i;

		while (n > 1 && i + n < len && ((unsigned char)text[i + n] & 0xc0) == 0x80)
			n--;
		(void)buf_append_str(out, i == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		mime_encode(MIME_CTE_BASE64, text + i, n, out);
		(void)buf_append_str(out, "?=");
		i += n;
	}
	(void)buf_append(out, "\r\n", 2);
}

/* Extent [*S, *E) of the top-level Subject field (with its folds) in the
 * header RAW[0..HLEN); -1 when there is none. */
static int
find_subject(const char *raw, size_t hlen, size_t *s, size_t *e)
{
	size_t i = 0;

	while (i < hlen) {
		const char *nl = memchr(raw + i, '\n', hlen - i);
		size_t next = nl ? (size_t)(nl - raw) + 1 : hlen;

		if (next - i >= 8 && mem_casecmp(raw + i, "subject:", 8) == 0) {
			*s = i;
			while (next < hlen && (raw[next] == ' ' || raw[next] == '\t')) {
				nl = memchr(raw + next, '\n', hlen - next);
				next = nl ? (size_t)(nl - raw) + 1 : hlen;
			}
			*e = next;
			return 0;
		}
		i = next;
	}
	return -1;
}

/* One rewritten range [s, e) of the message and what replaces it. */
struct redact_repl {
	size_t s, e;
	struct buf text;
};

struct redact_plan {
	struct redact_repl *v;	/* owned; ascending, not overlapping */
	size_t n, cap;
};

static struct buf *
plan_add(struct redact_plan *pl, size_t s, size_t e)
{
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 4;
		pl->v = xrealloc(pl->v, pl->cap * sizeof(*pl->v));
	}
	pl->v[pl->n].s = s;
	pl->v[pl->n].e = e;
	buf_init(&pl->v[pl->n].text, 0);
	return &pl->v[pl->n++].text;
}

static void
plan_free(struct redact_plan *pl)
{
	size_t i;

	for (i = 0; i < pl->n; i++)
		buf_free(&pl->v[i].text);
	free(pl->v);
}

/* What to rewrite in RAW: the Subject field and the affected text parts. */
static void
redact_plan(const char *raw, size_t len, const struct mime_limits *lim, unsigned type_mask,
    struct redact_plan *pl)
{
	struct redact_ctx c;
	struct mime_parser *p;
	size_t i, pos = 0;

	memset(&c, 0, sizeof(c));
	memset(pl, 0, sizeof(*pl));
	c.type_mask = type_mask;
	buf_init(&c.subject, 0);
	p = mime_new(lim, redact_collect, &c);
	c.parser = p;
	(void)mime_feed(p, raw, len);
	(void)mime_finish(p);

	if (c.subject_hit && mime_nparts(p) > 0) {
		size_t s, e;
		const struct mime_part *top = mime_part_at(p, 0);

		if (find_subject(raw, top->body_start, &s, &e) == 0) {
			write_subject(c.subject.data, c.subject.len, plan_add(pl, s, e));
			pos = e;
		}
	}
	for (i = 0; i < mime_nparts(p); i++) {
		const struct mime_part *part = mime_part_at(p, i);

		if ((!part->text && !part->encap) || part->container != 0 || part->no >= c.nhit
		    || !c.parts_hit[part->no] || part->body_start < pos || part->body_end > len)
			continue;
		if (part->encap)
			redact_encap(raw, part, lim, type_mask,
			    plan_add(pl, part->body_start, part->body_end));
		else
			redact_part(raw, part, type_mask,
			    plan_add(pl, part->body_start, part->body_end));
		pos = part->body_end;
	}
	mime_free(p);
	free(c.parts_hit);
	buf_free(&c.subject);
}

int
dlp_redact(const char *raw, size_t len, const struct mime_limits *lim, unsigned type_mask,
    struct buf *out, size_t *nparts_rewritten)
{
	struct redact_plan pl;
	size_t i, pos = 0;

	redact_plan(raw, len, lim, type_mask, &pl);
	for (i = 0; i < pl.n; i++) {
		(void)buf_append(out, raw + pos, pl.v[i].s - pos);
		(void)buf_append(out, pl.v[i].text.data, pl.v[i].text.len);
		pos = pl.v[i].e;
	}
	(void)buf_append(out, raw + pos, len - pos);
	if (nparts_rewritten != NULL)
		*nparts_rewritten = pl.n;
	plan_free(&pl);
	return 0;
}

/*
 * The same rewrite inside MSG itself.  Ranges may shrink or grow, so
 * it goes in two passes: the unchanged stretches are first packed
 * towards the start (left to right), then spread to their final
 * places from the end (right to left) with each replacement written
 * into the gap before its stretch.  Neither pass overwrites a byte it
 * still needs; the buffer grows at most once, before anything moves.
 */
int
dlp_redact_in_place(struct buf *msg, const struct mime_limits *lim, unsigned type_mask,
    size_t *nparts_rewritten)
{
	struct redact_plan pl;
	size_t *at, i, w, k, newlen, len = msg->len;
	char *d;

	if (nparts_rewritten != NULL)
		*nparts_rewritten = 0;
	if (len == 0)
		return 0;
	redact_plan(msg->data, len, lim, type_mask, &pl);
	if ((k = pl.n) == 0) {
		plan_free(&pl);
		return 0;
	}
	newlen = len;
	for (i = 0; i < k; i++)
		newlen = newlen - (pl.v[i].e - pl.v[i].s) + pl.v[i].text.len;
	if (newlen > len) {
		/* the size limit is the client's; our re-encoding may pass it */
		if (msg->max != 0 && msg->max < newlen)
			msg->max = newlen;
		if (buf_reserve(msg, newlen - len) != 0) {
			plan_free(&pl);
			return -1;
		}
	}
	d = msg->data;
	/* at[j]: where unchanged stretch j (after replacement j-1) sits after pass 1 */
	at = xcalloc(k + 1, sizeof(*at));
	w = pl.v[0].s;		/* stretch 0 never moves */
	for (i = 1; i <= k; i++) {
		size_t from = pl.v[i - 1].e, to = i < k ? pl.v[i].s : len;

		memmove(d + w, d + from, to - from);
		at[i] = w;
		w += to - from;
	}
	/* pass 2: stretch j goes to at[j] + sum of the replacements before it */
	{
		size_t grown = newlen - w;	/* sum of all replacement lengths */

		for (i = k; i >= 1; i--) {
			size_t from = pl.v[i - 1].e, to = i < k ? pl.v[i].s : len;
			size_t rl = pl.v[i - 1].text.len;

			memmove(d + at[i] + grown, d + at[i], to - from);
			grown -= rl;
			memcpy(d + at[i] + grown, pl.v[i - 1].text.data, rl);
		}
	}
	msg->len = newlen;
	d[newlen] = '\0';
	if (nparts_rewritten != NULL)
		*nparts_rewritten = k;
	free(at);
	plan_free(&pl);
	return 0;
}
