/* SPDX-License-Identifier: ISC */
/*
 * reply.c: parse the replies an SMTP server sends to our client
 * (RFC 5321 §4.2), incrementally and without I/O, plus the EHLO
 * keyword reader.  Owned by the smtp/ module; called by smtp/client.c
 * and driven by tests/unit/test_smtp_reply and the fuzz target
 * tests/fuzz/fuzz_smtp_reply.c.
 *
 * Invariants: a reply is returned only when its last line (code
 * followed by a space or by the end of the line) has arrived; every
 * line of one reply carries the same three-digit code (RFC 5321
 * §4.2.1: otherwise the reply is malformed); a line longer than
 * SMTP_REPLY_LINE_MAX or a reply of more than SMTP_REPLY_MAX_LINES
 * lines is an error, never unbounded buffering.  Lines end in CRLF; a
 * bare LF is accepted on input (robustness principle, the data only
 * goes into logs), a bare CR inside a line is kept as text and
 * sanitised when the reply becomes an outcome.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"
#include "util.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->nlines = 0;
	buf_init(&r->text, SMTP_REPLY_LINE_MAX * SMTP_REPLY_MAX_LINES);
}

void
smtp_reply_free(struct smtp_reply *r)
{
	buf_free(&r->text);
	r->nlines = 0;
	r->code = 0;
}

static void
reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->nlines = 0;
	buf_reset(&r->text);
}

void
smtp_reply_parser_init(struct smtp_reply_parser *p)
{
	buf_init(&p->line, SMTP_REPLY_LINE_MAX);
	smtp_reply_init(&p->cur);
	p->in_reply = 0;
	p->why[0] = '\0';
}

void
smtp_reply_parser_free(struct smtp_reply_parser *p)
{
	buf_free(&p->line);
	smtp_reply_free(&p->cur);
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Enhanced status code at the start of TEXT (RFC 3463 §2: class "." 1*3
 * digit "." 1*3 digit), whose class must match the reply code's first
 * digit (RFC 2034 §4).  Returns its length (0 if none) and copies it.
 */
static size_t
enhanced_code(const char *text, size_t len, int code, char *out, size_t outlen)
{
	size_t i = 0, n;
	int part;

	if (len < 5 || text[0] != '0' + code / 100)
		return 0;
	i = 1;
	for (part = 0; part < 2; part++) {
		if (i >= len || text[i] != '.')
			return 0;
		i++;
		for (n = 0; i < len && is_digit(text[i]) && n < 4; i++, n++)
			;
		if (n == 0 || n > 3)
			return 0;
	}
	if (i < len && text[i] != ' ')
		return 0;
	if (i >= outlen)
		return 0;
	memcpy(out, text, i);
	out[i] = '\0';
	return i;
}

/* One complete line (without its line ending): 1 = reply done, 0 = more, -1 = error. */
static int
reply_line(struct smtp_reply_parser *p, const char *l, size_t n)
{
	struct smtp_reply *r = &p->cur;
	int code, last;
	const char *text;
	size_t tlen;

	if (n < 3 || !is_digit(l[0]) || !is_digit(l[1]) || !is_digit(l[2])) {
		snprintf(p->why, sizeof(p->why), "reply line without a code");
		return -1;
	}
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (code < 200 || code > 599) {
		snprintf(p->why, sizeof(p->why), "reply code %d out of range", code);
		return -1;
	}
	if (n == 3) {
		last = 1;
	} else if (l[3] == ' ') {
		last = 1;
	} else if (l[3] == '-') {
		last = 0;
	} else {
		snprintf(p->why, sizeof(p->why), "bad separator after reply code");
		return -1;
	}
	if (p->in_reply && code != r->code) {
		snprintf(p->why, sizeof(p->why), "code %d inside a %d reply", code, r->code);
		return -1;
	}
	if (r->nlines >= SMTP_REPLY_MAX_LINES) {
		snprintf(p->why, sizeof(p->why), "reply has too many lines");
		return -1;
	}
	text = n > 4 ? l + 4 : "";
	tlen = n > 4 ? n - 4 : 0;
	if (!p->in_reply) {
		r->code = code;
		enhanced_code(text, tlen, code, r->enhanced, sizeof(r->enhanced));
	}
	if (buf_append(&r->text, text, tlen) == -1 || buf_append(&r->text, "\n", 1) == -1) {
		snprintf(p->why, sizeof(p->why), "reply too long");
		return -1;
	}
	r->nlines++;
	p->in_reply = !last;
	return last;
}

enum smtp_reply_status
smtp_reply_parse(struct smtp_reply_parser *p, const char *data, size_t len,
    size_t *used, struct smtp_reply *out)
{
	size_t pos = 0;

	*used = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t take = nl ? (size_t)(nl - (data + pos)) : len - pos;
		const char *l;
		size_t n;
		int rc;

		if (buf_append(&p->line, data + pos, take) == -1) {
			snprintf(p->why, sizeof(p->why), "reply line too long");
			*used = pos;
			return SMTP_REPLY_ERROR;
		}
		pos += take;
		if (nl == NULL)
			break;
		pos++;	/* the LF */
		l = p->line.data ? p->line.data : "";
		n = p->line.len;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		rc = reply_line(p, l, n);
		buf_reset(&p->line);
		if (rc == -1) {
			*used = pos;
			return SMTP_REPLY_ERROR;
		}
		if (rc == 1) {
			struct buf tmp;

			reply_reset(out);
			out->code = p->cur.code;
			memcpy(out->enhanced, p->cur.enhanced, sizeof(out->enhanced));
			out->nlines = p->cur.nlines;
			tmp = out->text;
			out->text = p->cur.text;
			p->cur.text = tmp;
			reply_reset(&p->cur);
			*used = pos;
			return SMTP_REPLY_DONE;
		}
	}
	*used = pos;
	return SMTP_REPLY_MORE;
}

const char *
smtp_reply_line(const struct smtp_reply *r, size_t i, size_t *len)
{
	const char *p = r->text.data, *end = p + r->text.len;

	if (p == NULL || i >= r->nlines)
		return NULL;
	while (i-- > 0) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL)
			return NULL;
		p++;
	}
	*len = (size_t)((const char *)memchr(p, '\n', (size_t)(end - p)) - p);
	return p;
}

/* Join the lines of R with spaces, dropping a repeated enhanced code. */
static void
reply_join(const struct smtp_reply *r, int with_enh, char *out, size_t outlen)
{
	size_t i, o = 0, elen = strlen(r->enhanced);

	out[0] = '\0';
	for (i = 0; i < r->nlines && o + 1 < outlen; i++) {
		size_t len, k;
		const char *l = smtp_reply_line(r, i, &len);

		if (elen && len >= elen && memcmp(l, r->enhanced, elen) == 0 &&
		    (len == elen || l[elen] == ' ') && (i > 0 || !with_enh)) {
			l += elen;
			len -= elen;
			while (len && *l == ' ')
				l++, len--;
		}
		if (i > 0 && o + 1 < outlen)
			out[o++] = ' ';
		for (k = 0; k < len && o + 1 < outlen; k++) {
			unsigned char c = (unsigned char)l[k];
			out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
		}
	}
	out[o] = '\0';
}

void
smtp_reply_format(const struct smtp_reply *r, char *out, size_t outlen)
{
	char text[1024];
	int n;

	if (outlen == 0)
		return;
	reply_join(r, 1, text, sizeof(text));
	if (r->enhanced[0] == '\0' || strncmp(text, r->enhanced, strlen(r->enhanced)) == 0)
		n = snprintf(out, outlen, "%d %s", r->code, text);
	else
		n = snprintf(out, outlen, "%d %s %s", r->code, r->enhanced, text);
	(void)n;
}

void
smtp_reply_outcome(const struct smtp_reply *r, struct outcome *o)
{
	char text[sizeof(o->text)], enh[16];

	reply_join(r, 0, text, sizeof(text));
	if (r->enhanced[0])
		str_copy(enh, r->enhanced, sizeof(enh));
	else
		snprintf(enh, sizeof(enh), "%d.0.0", r->code / 100);
	outcome_set(o, outcome_kind_of_code(r->code), r->code, enh, "%s", text);
}

/* KEYWORD [params] at the start of LINE (case-insensitive, RFC 5321 §2.4). */
static int
keyword_is(const char *l, size_t len, const char *kw, const char **param, size_t *plen)
{
	size_t k = strlen(kw);

	if (len < k || mem_casecmp(l, kw, k) != 0 || (len > k && l[k] != ' ' && l[k] != '='))
		return 0;
	if (param) {
		*param = len > k ? l + k + 1 : l + k;
		*plen = len > k ? len - k - 1 : 0;
	}
	return 1;
}

void
smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out)
{
	static const struct { const char *kw; unsigned bit; } kws[] = {
		{ "PIPELINING", SMTP_EXT_PIPELINING },
		{ "8BITMIME", SMTP_EXT_8BITMIME },
		{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
		{ "DSN", SMTP_EXT_DSN },
		{ "STARTTLS", SMTP_EXT_STARTTLS },
		{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
		{ "CHUNKING", SMTP_EXT_CHUNKING },
		{ "AUTH", SMTP_EXT_AUTH },
	};
	size_t i, j;

	out->ext = 0;
	out->size = 0;
	for (i = 1; i < r->nlines; i++) {
		size_t len, plen;
		const char *l = smtp_reply_line(r, i, &len), *param;

		if (keyword_is(l, len, "SIZE", &param, &plen)) {
			uint64_t v = 0;
			size_t k;

			out->ext |= SMTP_EXT_SIZE;
			for (k = 0; k < plen && param[k] >= '0' && param[k] <= '9'; k++) {
				if (v > (UINT64_MAX - 9) / 10) {
					v = 0;	/* absurd: treat as no limit */
					break;
				}
				v = v * 10 + (uint64_t)(param[k] - '0');
			}
			out->size = v;
			continue;
		}
		for (j = 0; j < ARRAY_SIZE(kws); j++)
			if (keyword_is(l, len, kws[j].kw, NULL, NULL))
				out->ext |= kws[j].bit;
	}
}
