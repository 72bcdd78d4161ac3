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
 * structure, are untouched.  The top-level Subject is rewritten too
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
		if (part->no >= c->nhit) {
			size_t n = part->no * 2 + 8;

			c->parts_hit = xrealloc(c->parts_hit, n);
			memset(c->parts_hit + c->nhit, 0, n - c->nhit);
			c->nhit = n;
		}
		c->parts_hit[part->no] = 1;
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
	mime_to_text(dec.data ? dec.data : "", dec.len, part->charset, part->html, &text, &map);
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

int
dlp_redact(const char *raw, size_t len, const struct mime_limits *lim, unsigned type_mask,
    struct buf *out, size_t *nparts_rewritten)
{
	struct redact_ctx c;
	struct mime_parser *p;
	size_t i, pos = 0, rewritten = 0;

	memset(&c, 0, sizeof(c));
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
			(void)buf_append(out, raw, s);
			write_subject(c.subject.data, c.subject.len, out);
			pos = e;
			rewritten++;
		}
	}
	for (i = 0; i < mime_nparts(p); i++) {
		const struct mime_part *part = mime_part_at(p, i);

		if (!part->text || part->no >= c.nhit || !c.parts_hit[part->no]
		    || part->body_start < pos || part->body_end > len)
			continue;
		(void)buf_append(out, raw + pos, part->body_start - pos);
		redact_part(raw, part, type_mask, out);
		pos = part->body_end;
		rewritten++;
	}
	(void)buf_append(out, raw + pos, len - pos);
	if (nparts_rewritten != NULL)
		*nparts_rewritten = rewritten;
	mime_free(p);
	free(c.parts_hit);
	buf_free(&c.subject);
	return 0;
}
