/* SPDX-License-Identifier: ISC */
/*
 * review_view.c: the masked view of a held message for abuse reviewers
 * and the content fingerprint behind `review reject --similar`
 * (include/review.h, issue 16).
 *
 * A reviewer sees only what the decision needs.  The view is built from
 * the stored message alone: the top-level header fields of a short
 * list (From, Sender, Reply-To, To, Cc, Date, Message-ID, Content-Type,
 * List-Unsubscribe; their RFC 2047 words decoded), the decoded Subject
 * and the decoded text of every
 * text part (policy/mime.c, the parser the sensitive-data stage uses),
 * and the attachments by name, type and size, never their content.
 * Every piece of text (a part's media type too) goes through review_mask_text(): the detectors of
 * policy/dlp.c find the values and the redaction's own rule
 * (dlp_mask_byte) says which characters go, so the last four stay, as
 * in a redacted message; as a second net, any run of nine or more
 * digits the detectors did not claim is masked the same way; every
 * address (anything shaped local@domain.tld, also with a quoted local
 * part, an address literal [192.0.2.1] or "%40" as in a mailto: URL)
 * keeps its first character and its domain, or becomes a pseudonym.  Masked characters are shown
 * as U+2022.  Pure functions over (pointer, length), no I/O: fuzzed by
 * tests/fuzz/fuzz_review_view.c, tested by tests/unit/test_review.c.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dlp.h"
#include "json.h"
#include "log.h"
#include "mime.h"
#include "review.h"
#include "util.h"

#define BULLET "\xe2\x80\xa2"		/* U+2022, UTF-8 */
#define VIEW_MAX_TEXT (64u * 1024)	/* per part */
#define VIEW_MAX_PARTS 50		/* text parts shown */

static int
is_local_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '=' ||
	    c == '\'' || c >= 0x80;
}

static int
is_domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c >= 0x80;
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

void
review_mask_address(const char *addr, size_t len, int pseudonym, struct buf *out)
{
	/* the last '@': a quoted local part may hold one ("a@b"@c.test) */
	const char *at = memrchr(addr, '@', len);
	char p[64];

	if (pseudonym || at == NULL || at == addr) {
		buf_append_str(out, log_pseudonym(addr, len, p, sizeof(p)));
		return;
	}
	/* the first character whole (a UTF-8 sequence is not split) */
	{
		size_t n = 1;

		while (n < (size_t)(at - addr) && ((unsigned char)addr[n] & 0xc0) == 0x80)
			n++;
		buf_append(out, addr, n);
	}
	buf_append_str(out, BULLET BULLET BULLET);
	buf_append(out, at, len - (size_t)(at - addr));
}

/* Per byte of TEXT: 1 when it is masked (a finding's or a long digit run's). */
static unsigned char *
mask_map(const char *text, size_t len, size_t *count)
{
	unsigned char *m = xcalloc(len + 1, 1);
	struct dlp_findings f;
	size_t i, k;

	dlp_findings_init(&f);
	dlp_scan(text, len, 1, &f);
	for (i = 0; i < f.n; i++) {
		const struct dlp_finding *d = &f.v[i];
		size_t l = d->len;

		if (d->offset >= len)
			continue;
		if (l > len - d->offset)
			l = len - d->offset;
		for (k = 0; k < l; k++)
			if (dlp_mask_byte(text + d->offset, l, d->type, k))
				m[d->offset + k] = 1;
	}
	if (count != NULL)
		for (i = 0; i < DLP_NTYPES; i++)
			count[i] += f.count[i];
	dlp_findings_free(&f);
	/* Second net: digit runs (spaces, dashes and dots between digits)
	 * of nine digits or more keep only their last four. */
	for (i = 0; i < len;) {
		size_t start = i, end, digits = 0, seen = 0;

		if (!is_digit((unsigned char)text[i])) {
			i++;
			continue;
		}
		end = i;
		while (end < len && (is_digit((unsigned char)text[end]) ||
		    ((text[end] == ' ' || text[end] == '-' || text[end] == '.') &&
		    end + 1 < len && is_digit((unsigned char)text[end + 1])))) {
			digits += is_digit((unsigned char)text[end]);
			end++;
		}
		if (digits >= 9)
			for (k = start; k < end; k++)
				if (is_digit((unsigned char)text[k]) && ++seen <= digits - 4)
					m[k] = 1;
		i = end;
	}
	return m;
}

void
review_mask_text(const char *text, size_t len, int pseudonym, struct buf *out, size_t *count)
{
	unsigned char *m = mask_map(text, len, count);
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		/* '@', or "%40" as a URL writes it (mailto:a%40b.test) */
		size_t sl = c == '@' ? 1 : c == '%' && i + 2 < len && text[i + 1] == '4'
		    && text[i + 2] == '0' ? 3 : 0;

		if (sl > 0 && i > 0 && (is_local_char((unsigned char)text[i - 1])
		    || text[i - 1] == '"')) {
			/* an address: back up over the local part already written */
			size_t ls = i, ds = i + sl, de = ds, dot = 0, k;

			if (text[i - 1] == '"') {
				/* a quoted local part (RFC 5321 §4.1.2): "john smith"@ */
				for (ls = i - 1; ls > 0 && i - ls < 66 && text[ls - 1] != '"'
				    && text[ls - 1] != '\n'; ls--)
					;
				ls = ls > 0 && text[ls - 1] == '"' ? ls - 1 : i;
			} else {
				while (ls > 0 && is_local_char((unsigned char)text[ls - 1]))
					ls--;
			}
			if (ds < len && text[ds] == '[') {
				/* an address literal (§4.1.3): john@[192.0.2.1] */
				for (de = ds + 1; de < len && de - ds < 64 && text[de] != ']'
				    && text[de] != '\n'; de++)
					;
				if (de < len && text[de] == ']')
					dot = ++de;
			} else {
				while (de < len && is_domain_char((unsigned char)text[de]))
					de++;
				while (de > ds && text[de - 1] == '.')
					de--;	/* the sentence's full stop is not the domain's */
				for (k = ds + 1; k + 1 < de; k++)
					if (text[k] == '.')
						dot = k;
			}
			if (dot != 0 && ls < i) {
				/* drop what was copied of the local part, write the mask */
				size_t written = 0;
				struct buf a;

				for (k = ls; k < i; k++)
					written += m[k] ? 3 : 1;
				out->len -= written <= out->len ? written : out->len;
				buf_init(&a, 0);
				buf_append(&a, text + ls, i - ls);
				buf_append(&a, "@", 1);
				/* the domain is shown, but not what the mask map hides
				 * in it (a card number among the octets a domain may
				 * hold: the fuzzer found one) */
				for (k = ds; k < de; k++) {
					if (m[k])
						buf_append_str(&a, BULLET);
					else
						buf_append(&a, text + k, 1);
				}
				review_mask_address(a.data, a.len, pseudonym, out);
				buf_free(&a);
				i = de;
				continue;
			}
		}
		if (m[i])
			buf_append_str(out, BULLET);
		else
			buf_append(out, text + i, 1);
		i++;
	}
	if (out->data != NULL)
		out->data[out->len] = '\0';
	free(m);
}

/* ---- the view ---- */

static const char *const shown_fields[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Date", "Message-ID", "Content-Type",
	"List-Unsubscribe",
};

/* The top-level header fields of the list, unfolded, masked. */
static void
view_headers(const char *raw, size_t len, int pseudonym, struct json_out *j, size_t *count)
{
	size_t i = 0, f;
	struct buf val, dec, masked;

	buf_init(&val, 0);
	buf_init(&dec, 0);
	buf_init(&masked, 0);
	json_key(j, "headers");
	json_arr_begin(j);
	while (i < len) {
		const char *eol = memchr(raw + i, '\n', len - i);
		size_t next = eol ? (size_t)(eol - raw) + 1 : len, colon, e, n;

		if (raw[i] == '\r' || raw[i] == '\n')
			break;		/* the end of the header */
		n = next - i;
		for (colon = i; colon < next && raw[colon] != ':'; colon++)
			;
		/* the continuation lines of this field */
		e = next;
		while (e < len && (raw[e] == ' ' || raw[e] == '\t')) {
			eol = memchr(raw + e, '\n', len - e);
			e = eol ? (size_t)(eol - raw) + 1 : len;
		}
		for (f = 0; colon < next && f < ARRAY_SIZE(shown_fields); f++) {
			size_t fl = strlen(shown_fields[f]), k;

			if (colon - i != fl || mem_casecmp(raw + i, shown_fields[f], fl) != 0)
				continue;
			buf_reset(&val);
			for (k = colon + 1; k < e; k++)
				if (raw[k] != '\r' && raw[k] != '\n')
					buf_append(&val, raw + k, 1);
			k = 0;
			while (k < val.len && (val.data[k] == ' ' || val.data[k] == '\t'))
				k++;
			/* Encoded words (RFC 2047 §5: display names, comments)
			 * are decoded first: "=?utf-8?Q?eve=40example.test?="
			 * is an address, and a base64 word could carry a card
			 * number past the detectors. */
			buf_reset(&dec);
			mime_decode_header(val.data ? val.data + k : "", val.len - k, &dec);
			buf_reset(&masked);
			review_mask_text(dec.data ? dec.data : "", dec.len, pseudonym,
			    &masked, count);
			json_obj_begin(j);
			json_kv_str(j, "name", shown_fields[f]);
			json_key(j, "value");
			json_strn(j, masked.data ? masked.data : "", masked.len);
			json_obj_end(j);
			break;
		}
		(void)n;
		i = e;
	}
	json_arr_end(j);
	buf_free(&val);
	buf_free(&dec);
	buf_free(&masked);
}

struct view_ctx {
	struct json_out *j;
	int pseudonym;
	size_t max_text;
	size_t nparts;
	size_t count[DLP_NTYPES];
	struct buf subject;		/* masked */
	int have_subject;
	size_t subject_len;		/* set after the parse: mime_subject_len() */
	struct buf header_text;		/* part 0: Subject, then filenames */
};

/* Cut LEN down to MAX at a UTF-8 character boundary. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* KEY: TEXT masked like the rest.  A part's media type is the sender's
 * text too: "application/p4556737586899855" showed a card whole (found
 * by fuzz_review_view). */
static void
json_kv_masked(struct json_out *j, const char *key, const char *text, int pseudonym)
{
	struct buf m;

	buf_init(&m, 0);
	review_mask_text(text, strlen(text), pseudonym, &m, NULL);
	json_key(j, key);
	json_strn(j, m.data ? m.data : "", m.len);
	buf_free(&m);
}

static void
view_text(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct view_ctx *c = arg;
	struct buf masked;
	size_t n;

	if (part->no == 0) {	/* the Subject and the filenames: after the parse */
		buf_append(&c->header_text, text, len);
		return;
	}
	buf_init(&masked, 0);
	review_mask_text(text, len, c->pseudonym, &masked, c->count);
	if (c->nparts++ < VIEW_MAX_PARTS) {
		n = utf8_cut(masked.data ? masked.data : "", masked.len, c->max_text);
		json_obj_begin(c->j);
		json_kv_uint(c->j, "part", part->no);
		json_kv_masked(c->j, "type", part->type, c->pseudonym);
		json_key(c->j, "text");
		json_strn(c->j, masked.data ? masked.data : "", n);
		json_kv_bool(c->j, "truncated", n < masked.len);
		json_obj_end(c->j);
	}
	buf_free(&masked);
}

/* Decoded size of a part's body: base64 shrinks by a quarter. */
static uint64_t
part_size(const char *raw, const struct mime_part *p)
{
	size_t i, n = 0;

	if (p->body_end < p->body_start)
		return 0;
	if (p->cte != MIME_CTE_BASE64)
		return p->body_end - p->body_start;
	for (i = p->body_start; i < p->body_end; i++)
		if (raw[i] != '\r' && raw[i] != '\n' && raw[i] != ' ' && raw[i] != '=')
			n++;
	return (uint64_t)n * 3 / 4;
}

void
review_masked_view(const char *raw, size_t len, const struct review_view_opts *o,
    struct json_out *j)
{
	static const struct mime_limits deflim = { 10, 500, 100u << 20 };
	struct view_ctx c;
	struct mime_parser *p;
	struct buf b;
	size_t i, sl;

	memset(&c, 0, sizeof(c));
	c.j = j;
	c.pseudonym = o != NULL && o->pseudonym;
	c.max_text = o != NULL && o->max_text > 0 ? o->max_text : VIEW_MAX_TEXT;
	buf_init(&c.header_text, 0);
	view_headers(raw, len, c.pseudonym, j, c.count);

	json_key(j, "parts");
	json_arr_begin(j);
	p = mime_new(o != NULL && o->lim != NULL ? o->lim : &deflim, view_text, &c);
	(void)mime_feed(p, raw, len);
	(void)mime_finish(p);
	json_arr_end(j);

	/* The Subject: the head of part 0's text. */
	sl = mime_subject_len(p);
	if (sl > c.header_text.len)
		sl = c.header_text.len;
	buf_init(&b, 0);
	review_mask_text(c.header_text.data ? c.header_text.data : "", sl, c.pseudonym, &b,
	    c.count);
	json_key(j, "subject");
	json_strn(j, b.data ? b.data : "", b.len);

	json_key(j, "attachments");
	json_arr_begin(j);
	for (i = 0; i < mime_nparts(p); i++) {
		const struct mime_part *mp = mime_part_at(p, i);

		if (mp == NULL || mp->multipart || (mp->filename[0] == '\0' &&
		    (mp->text || mp->depth == 0)))
			continue;
		buf_reset(&b);
		review_mask_text(mp->filename, strlen(mp->filename), c.pseudonym, &b, NULL);
		json_obj_begin(j);
		json_kv_uint(j, "part", mp->no);
		json_key(j, "name");
		json_strn(j, b.data ? b.data : "", b.len);
		json_kv_masked(j, "type", mp->type, c.pseudonym);
		json_kv_uint(j, "size", part_size(raw, mp));
		json_obj_end(j);
	}
	json_arr_end(j);
	if (mime_limit_hit(p) != MIME_LIMIT_NONE)
		json_kv_str(j, "mime_limit", mime_strlimit(mime_limit_hit(p)));
	mime_free(p);
	buf_free(&b);

	json_key(j, "findings");
	json_obj_begin(j);
	for (i = 0; i < DLP_NTYPES; i++)
		if (c.count[i] > 0)
			json_kv_uint(j, dlp_strtype((enum dlp_type)i), c.count[i]);
	json_obj_end(j);
	buf_free(&c.header_text);
}

/* ---- DKIM signatures that a hold outlived ---- */

/* The x= tag of the signature field F (LEN octets, folded): -1 if none. */
static int64_t
dkim_x_tag(const char *f, size_t len)
{
	size_t i = 0;

	while (i < len && f[i] != ':')
		i++;
	for (i++; i < len; i++) {
		size_t t = i;
		int64_t v = 0;

		while (t < len && (f[t] == ' ' || f[t] == '\t' || f[t] == '\r' || f[t] == '\n'))
			t++;
		if (t + 1 < len && f[t] == 'x' && (f[t + 1] == '=' || f[t + 1] == ' ')) {
			t++;
			while (t < len && f[t] == ' ')
				t++;
			if (t < len && f[t] == '=') {
				for (t++; t < len && (f[t] == ' ' || f[t] == '\t'); t++)
					;
				if (t >= len || !is_digit((unsigned char)f[t]))
					return -1;
				for (; t < len && is_digit((unsigned char)f[t]) && v < (INT64_MAX / 10 - 9); t++)
					v = v * 10 + (f[t] - '0');
				return v;
			}
		}
		while (i < len && f[i] != ';')	/* to the next tag */
			i++;
	}
	return -1;
}

size_t
review_strip_expired_dkim(struct buf *msg, uint64_t now)
{
	static const char name[] = "DKIM-Signature:";
	size_t removed = 0;

	while (msg->len > sizeof(name) - 1 &&
	    mem_casecmp(msg->data, name, sizeof(name) - 1) == 0) {
		const char *eol;
		size_t e = 0;
		int64_t x;

		do {	/* the field with its continuation lines */
			eol = memchr(msg->data + e, '\n', msg->len - e);
			e = eol ? (size_t)(eol - msg->data) + 1 : msg->len;
		} while (e < msg->len && (msg->data[e] == ' ' || msg->data[e] == '\t'));
		x = dkim_x_tag(msg->data, e);
		if (x < 0 || (uint64_t)x > now)
			break;		/* no expiry, or still valid: ours stays */
		memmove(msg->data, msg->data + e, msg->len - e);
		msg->len -= e;
		msg->data[msg->len] = '\0';
		removed++;
	}
	return removed;
}

/* ---- fingerprints ---- */

struct fp_ctx {
	int64_t v[64];
	uint64_t h1, h2;	/* the last two words' hashes (shingles of three) */
	int nwords;
	struct buf word;
};

static uint64_t
fnv1a(const char *s, size_t n, uint64_t h)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void
fp_word(struct fp_ctx *c)
{
	uint64_t h, sh;
	unsigned b;

	if (c->word.len == 0)
		return;
	h = fnv1a(c->word.data, c->word.len, 1469598103934665603ull);
	buf_reset(&c->word);
	if (++c->nwords >= 3) {
		sh = (c->h2 * 31 + c->h1) * 31 + h;
		sh ^= sh >> 29;
		sh *= 0xbf58476d1ce4e5b9ull;
		sh ^= sh >> 32;
		for (b = 0; b < 64; b++)
			c->v[b] += (sh >> b) & 1 ? 1 : -1;
	}
	c->h2 = c->h1;
	c->h1 = h;
}

static void
fp_text(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct fp_ctx *c = arg;
	size_t i;

	if (part->no == 0)
		return;		/* Subject and filenames vary per copy; the text does not */
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		/* words of letters only: numbers and names that vary per copy
		 * of a campaign (order numbers, amounts) do not count */
		if ((ch >= 'a' && ch <= 'z') || ch >= 0x80)
			buf_append(&c->word, text + i, 1);
		else if (ch >= 'A' && ch <= 'Z') {
			char l = (char)(ch + 32);

			buf_append(&c->word, &l, 1);
		} else if (!is_digit(ch))
			fp_word(c);
	}
	fp_word(c);
}

uint64_t
review_fingerprint(const char *raw, size_t len, const struct mime_limits *lim)
{
	static const struct mime_limits deflim = { 10, 500, 100u << 20 };
	struct fp_ctx c;
	struct mime_parser *p;
	uint64_t fp = 0;
	unsigned b;

	memset(&c, 0, sizeof(c));
	buf_init(&c.word, 0);
	p = mime_new(lim != NULL ? lim : &deflim, fp_text, &c);
	(void)mime_feed(p, raw, len);
	(void)mime_finish(p);
	mime_free(p);
	buf_free(&c.word);
	if (c.nwords < 3)
		return 0;
	for (b = 0; b < 64; b++)
		if (c.v[b] > 0)
			fp |= 1ull << b;
	return fp;
}

unsigned
review_fingerprint_distance(uint64_t a, uint64_t b)
{
	return (unsigned)__builtin_popcountll(a ^ b);
}
