/* SPDX-License-Identifier: ISC */
/*
 * mime.c: the streaming MIME parser behind the sensitive-data scan.
 *
 * Input is cut into lines (a line longer than LINE_CAP is handled in
 * LINE_CAP pieces, the same way whatever the chunking, so feeding the
 * message whole or one byte at a time gives identical results).  Each
 * line is handled by a small state machine: HEADERS (collected, then
 * unfolded and parsed at the blank line: RFC 5322 §2.2.3), BODY of a
 * leaf, PREAMBLE / EPILOGUE of a multipart.  Every line that starts
 * with "--" is checked against the boundaries of all open multiparts,
 * innermost first, so a missing close delimiter ends the inner parts
 * (RFC 2046 §5.1.1; the CRLF before a delimiter belongs to it, so a
 * body's last line ending is held back until the next line is known).
 * message/rfc822 parts (RFC 2046 §5.2.1) open a nested entity; one
 * with a transfer encoding (which §5.2.1 forbids and mail has) is
 * decoded and parsed by a nested parser with what is left of the
 * limits.  Header blocks keep only the fields parsed (Content-*,
 * Subject), so padding cannot push Content-Type out of the 64 KiB cap.
 *
 * Text parts are transfer-decoded on the fly by byte-wise state
 * machines that never fail (RFC 2045 §6.7 QP, with garbage kept as is;
 * §6.8 base64, skipping characters outside the alphabet and accepting
 * missing padding), kept in a buffer bounded by the decoded-size limit,
 * and converted to UTF-8 text at the part's end (plain UTF-8 or ASCII
 * text is handed out as decoded: the conversion would copy it as is;
 * UTF-16 is decoded by hand, other single-byte charsets through a
 * table of their 128 high octets built with iconv(3)).  Whoever parses owns
 * the parser; it keeps no global state.
 */
#include "autoconfig.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "util.h"

#define LINE_CAP 8192
#define HEADER_CAP 65536	/* of the fields kept (Content-*, Subject) */
#define MAX_OPEN 128		/* open multiparts tracked, on top of max_depth */
/* RFC 2046 §5.1.1 caps boundaries at 70 characters, but mail and
 * attackers do not care: anything that fits a delimiter line of 998
 * octets (RFC 5322 §2.1.1) is honoured; longer is a limit, never a
 * silent skip. */
#define BOUNDARY_MAX 996

enum state { ST_HEADERS, ST_BODY, ST_PREAMBLE, ST_EPILOGUE, ST_STOPPED };

struct frame {
	char boundary[BOUNDARY_MAX + 1];
	size_t blen;
	unsigned depth;		/* depth of the multipart entity */
};

struct qp_dec { int st; int h1; };
struct b64_dec { unsigned acc; int n; };

struct mime_parser {
	struct mime_limits lim;
	mime_text_cb cb;
	void *arg;

	struct buf line;	/* current line or piece */
	int line_cont;		/* current piece continues a longer line */
	size_t pos;		/* raw offset of line.data[0] */

	enum state st;
	enum mime_limit limit;
	struct buf hdr;		/* header fields being collected (only the kept ones) */
	int hdr_keep;		/* the field being read is one we parse */
	size_t hdr_start;
	unsigned ent_depth;	/* depth of the entity whose header we read */
	int ent_message;	/* that entity is a message (top or rfc822) */

	struct frame *frames;	/* open multiparts, innermost last */
	size_t nframes;

	struct mime_part *parts;
	size_t nparts, cap;
	struct mime_part *cur;	/* leaf being read, index in parts via cur_ix */
	size_t cur_ix;
	int in_leaf;
	int in_encap;		/* the leaf is an encoded message/rfc822: decode, parse at its end */
	unsigned part_base;	/* a nested parser's: number of the parts before its first */
	unsigned depth_base;	/* and the depth of its top entity in the outer message */
	unsigned container;	/* and the encoded message/rfc822 part it parses */

	struct buf dec;		/* decoded bytes of the current text part */
	struct qp_dec qp;
	struct b64_dec b64;
	char eol[2];		/* held-back line ending of the body */
	size_t eol_len, eol_pos;
	uint64_t decoded_total;

	struct buf head_text;	/* part 0: Subject, then filenames */
	size_t subject_len;
	int have_subject;
	int finished;
};

/* ---- small helpers ---- */

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void
lower_copy(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t i;

	if (dstlen == 0)
		return;
	if (n >= dstlen)
		n = dstlen - 1;
	for (i = 0; i < n; i++) {
		char c = s[i];

		dst[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
	}
	dst[n] = '\0';
}

/* CP as UTF-8 in B; returns the length (1-4). */
static size_t
utf8_enc(unsigned cp, char *b)
{
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		if (cp > 0x10ffff)
			cp = 0xfffd;
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return n;
}


/* ---- charsets ---- */

/* Windows-1252 0x80..0x9f; 0 where undefined (kept as U+FFFD). */
static const unsigned short cp1252_high[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/* Single-byte charsets converted through iconv(3): MIME_CS_SBCS + index.
 * Each row: the iconv name, then the labels mail uses for it. */
static const char *const sbcs_names[][4] = {
	{ "ISO-8859-2", "iso-8859-2", "iso8859-2", "latin2" },
	{ "ISO-8859-3", "iso-8859-3", "iso8859-3", "latin3" },
	{ "ISO-8859-4", "iso-8859-4", "iso8859-4", "latin4" },
	{ "ISO-8859-5", "iso-8859-5", "iso8859-5", "cyrillic" },
	{ "ISO-8859-6", "iso-8859-6", "iso8859-6", "arabic" },
	{ "ISO-8859-7", "iso-8859-7", "iso8859-7", "greek" },
	{ "ISO-8859-8", "iso-8859-8", "iso8859-8", "iso-8859-8-i" },
	{ "ISO-8859-9", "iso-8859-9", "iso8859-9", "latin5" },
	{ "ISO-8859-10", "iso-8859-10", "iso8859-10", "latin6" },
	{ "ISO-8859-11", "iso-8859-11", "iso8859-11", "tis-620" },
	{ "ISO-8859-13", "iso-8859-13", "iso8859-13", "latin7" },
	{ "ISO-8859-14", "iso-8859-14", "iso8859-14", "latin8" },
	{ "ISO-8859-15", "iso-8859-15", "iso8859-15", "latin9" },
	{ "ISO-8859-16", "iso-8859-16", "iso8859-16", "latin10" },
	{ "WINDOWS-1250", "windows-1250", "cp1250", "x-cp1250" },
	{ "WINDOWS-1251", "windows-1251", "cp1251", "x-cp1251" },
	{ "WINDOWS-1253", "windows-1253", "cp1253", "x-cp1253" },
	{ "WINDOWS-1254", "windows-1254", "cp1254", "x-cp1254" },
	{ "WINDOWS-1255", "windows-1255", "cp1255", "x-cp1255" },
	{ "WINDOWS-1256", "windows-1256", "cp1256", "x-cp1256" },
	{ "WINDOWS-1257", "windows-1257", "cp1257", "x-cp1257" },
	{ "WINDOWS-1258", "windows-1258", "cp1258", "x-cp1258" },
	{ "KOI8-R", "koi8-r", "koi8r", "cskoi8r" },
	{ "KOI8-U", "koi8-u", "koi8u", "koi8-ru" },
	{ "CP866", "ibm866", "cp866", "866" },
	{ "CP850", "ibm850", "cp850", "850" },
	{ "CP437", "ibm437", "cp437", "437" },
};

enum mime_charset
mime_parse_charset(const char *name, size_t len)
{
	char n[32];
	size_t k, j;

	while (len > 0 && is_ws(name[len - 1]))
		len--;
	lower_copy(n, sizeof(n), name, len);
	if (strcmp(n, "iso-8859-1") == 0 || strcmp(n, "iso8859-1") == 0
	    || strcmp(n, "latin1") == 0 || strcmp(n, "iso_8859-1") == 0
	    || strcmp(n, "l1") == 0)
		return MIME_CS_LATIN1;
	/* Mail labelled Latin-1 is very often really Windows-1252 (the
	 * WHATWG encoding standard maps them together); only 0x80-0x9f differ. */
	if (strcmp(n, "windows-1252") == 0 || strcmp(n, "cp1252") == 0
	    || strcmp(n, "x-cp1252") == 0)
		return MIME_CS_CP1252;
	/* RFC 2781: UTF-16 (BOM, or guessed), UTF-16BE and -LE (no BOM). */
	if (strcmp(n, "utf-16") == 0 || strcmp(n, "utf16") == 0 || strcmp(n, "ucs-2") == 0)
		return MIME_CS_UTF16;
	if (strcmp(n, "utf-16le") == 0 || strcmp(n, "utf16le") == 0)
		return MIME_CS_UTF16LE;
	if (strcmp(n, "utf-16be") == 0 || strcmp(n, "utf16be") == 0)
		return MIME_CS_UTF16BE;
	for (k = 0; k < ARRAY_SIZE(sbcs_names); k++)
		for (j = 1; j < 4; j++)
			if (strcmp(n, sbcs_names[k][j]) == 0)
				return (enum mime_charset)(MIME_CS_SBCS + (int)k);
	return MIME_CS_UTF8;
}

int
mime_charset_ascii_compatible(enum mime_charset cs)
{
	return cs != MIME_CS_UTF16 && cs != MIME_CS_UTF16LE && cs != MIME_CS_UTF16BE;
}

/* Code points of the octets 0x80..0xff in the single-byte charset CS
 * (U+FFFD where it has none). */
static void
charset_table(enum mime_charset cs, unsigned *high)
{
	size_t b;

	for (b = 0; b < 128; b++)
		high[b] = (unsigned)b + 0x80;
	if (cs == MIME_CS_CP1252) {
		for (b = 0; b < 32; b++)
			high[b] = cp1252_high[b] ? cp1252_high[b] : 0xfffd;
	} else if ((int)cs >= MIME_CS_SBCS && (size_t)(cs - MIME_CS_SBCS) < ARRAY_SIZE(sbcs_names)) {
		iconv_t cd = iconv_open("UTF-32LE", sbcs_names[cs - MIME_CS_SBCS][0]);

		for (b = 0; b < 128; b++) {
			char in = (char)(b + 0x80), outb[8];
			char *ip = &in, *op = outb;
			size_t il = 1, ol = sizeof(outb);

			high[b] = 0xfffd;
			if (cd == (iconv_t)-1)
				continue;
			if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 && ol == sizeof(outb) - 4)
				high[b] = (unsigned)(unsigned char)outb[0]
				    | (unsigned)(unsigned char)outb[1] << 8
				    | (unsigned)(unsigned char)outb[2] << 16;
			(void)iconv(cd, NULL, NULL, NULL, NULL);
		}
		if (cd != (iconv_t)-1)
			iconv_close(cd);
	}
}

/* ---- transfer decoding: byte-wise state machines ---- */

enum { QP_NORMAL, QP_EQ, QP_EQ1, QP_EQ_WS, QP_EQ_CR };

static int
qp_feed(struct qp_dec *d, const char *in, size_t len, struct buf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char b;
again:
		switch (d->st) {
		case QP_NORMAL:
			if (c == '=') {
				d->st = QP_EQ;
			} else if (buf_append(out, &c, 1) != 0) {
				return -1;
			}
			break;
		case QP_EQ:
			if (hexval(c) >= 0) {
				d->h1 = c;
				d->st = QP_EQ1;
			} else if (c == '\r') {
				d->st = QP_EQ_CR;
			} else if (c == '\n') {
				d->st = QP_NORMAL;	/* soft line break */
			} else if (is_ws((char)c)) {
				d->st = QP_EQ_WS;
			} else {
				/* Not an escape: keep the '=' (RFC 2045 §6.7 note). */
				if (buf_append(out, "=", 1) != 0)
					return -1;
				d->st = QP_NORMAL;
				goto again;
			}
			break;
		case QP_EQ1:
			if (hexval(c) >= 0) {
				b = (char)(hexval((unsigned char)d->h1) * 16 + hexval(c));
				if (buf_append(out, &b, 1) != 0)
					return -1;
				d->st = QP_NORMAL;
			} else {
				char k[2] = { '=', (char)d->h1 };

				if (buf_append(out, k, 2) != 0)
					return -1;
				d->st = QP_NORMAL;
				goto again;
			}
			break;
		case QP_EQ_WS:
			if (is_ws((char)c))
				break;
			if (c == '\r') {
				d->st = QP_EQ_CR;
			} else if (c == '\n') {
				d->st = QP_NORMAL;
			} else {
				if (buf_append(out, "=", 1) != 0)
					return -1;
				d->st = QP_NORMAL;
				goto again;
			}
			break;
		case QP_EQ_CR:
			d->st = QP_NORMAL;
			if (c != '\n')
				goto again;
			break;
		}
	}
	return 0;
}

static int
qp_finish(struct qp_dec *d, struct buf *out)
{
	int rc = 0;

	if (d->st == QP_EQ)
		rc = buf_append(out, "=", 1);
	else if (d->st == QP_EQ1)
		rc = buf_append(out, (char[2]){ '=', (char)d->h1 }, 2);
	d->st = QP_NORMAL;
	return rc;
}

static const signed char b64_val[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
	['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,
	['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59,
	['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};	/* value + 1; 0 = not in the alphabet */

/* Emit the bytes of a partial quantum (missing padding is tolerated). */
static int
b64_flush(struct b64_dec *d, struct buf *out)
{
	char b[2];
	int rc = 0;

	if (d->n == 2) {
		b[0] = (char)(d->acc >> 4);
		rc = buf_append(out, b, 1);
	} else if (d->n == 3) {
		b[0] = (char)(d->acc >> 10);
		b[1] = (char)(d->acc >> 2);
		rc = buf_append(out, b, 2);
	}
	d->acc = 0;
	d->n = 0;
	return rc;
}

static int
b64_feed(struct b64_dec *d, const char *in, size_t len, struct buf *out)
{
	unsigned char *o;
	size_t i;

	/* Room for every byte this input can produce, then direct writes. */
	if (buf_reserve(out, len / 4 * 3 + 3) != 0)
		return -1;
	o = (unsigned char *)out->data + out->len;
	for (i = 0; i < len; i++) {
		int v = b64_val[(unsigned char)in[i]];

		if (v == 0) {
			/* '=' ends a quantum; anything else is skipped. */
			if (in[i] == '=' && d->n > 0) {
				out->len = (size_t)((char *)o - out->data);
				(void)b64_flush(d, out);
				o = (unsigned char *)out->data + out->len;
			}
			continue;
		}
		d->acc = (d->acc << 6) | (unsigned)(v - 1);
		if (++d->n == 4) {
			*o++ = (unsigned char)(d->acc >> 16);
			*o++ = (unsigned char)(d->acc >> 8);
			*o++ = (unsigned char)d->acc;
			d->acc = 0;
			d->n = 0;
		}
	}
	out->len = (size_t)((char *)o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

int
mime_decode(enum mime_cte cte, const char *in, size_t len, struct buf *out)
{
	struct qp_dec q = { 0, 0 };
	struct b64_dec b = { 0, 0 };

	switch (cte) {
	case MIME_CTE_QP:
		if (qp_feed(&q, in, len, out) != 0)
			return -1;
		return qp_finish(&q, out);
	case MIME_CTE_BASE64:
		if (b64_feed(&b, in, len, out) != 0)
			return -1;
		return b64_flush(&b, out);
	default:
		return buf_append(out, in, len);
	}
}

/* ---- transfer encoding (redaction writes parts back) ---- */

static void
b64_encode(const char *in, size_t len, struct buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0;

	for (i = 0; i < len; i += 3) {
		unsigned v = (unsigned)(unsigned char)in[i] << 16;
		char q[4];

		if (i + 1 < len)
			v |= (unsigned)(unsigned char)in[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)in[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		(void)buf_append(out, q, 4);
		col += 4;
		if (col >= 76 && i + 3 < len) {
			(void)buf_append(out, "\r\n", 2);
			col = 0;
		}
	}
}

/* RFC 2045 §6.7: lines of at most 76 characters, '=' soft breaks. */
static void
qp_encode(const char *in, size_t len, struct buf *out)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char e[3];
		size_t n;

		if (c == '\r' && i + 1 < len && in[i + 1] == '\n') {
			(void)buf_append(out, "\r\n", 2);
			i++;
			col = 0;
			continue;
		}
		if (c == '\n') {
			(void)buf_append(out, "\r\n", 2);
			col = 0;
			continue;
		}
		/* A line never starts with a literal '-' (below): decoded text
		 * must not turn into a boundary delimiter of the enclosing
		 * multipart (RFC 2045 §6.7 allows encoding any character). */
		if ((c >= 33 && c <= 126 && c != '=')
		    || (is_ws((char)c) && i + 1 < len && in[i + 1] != '\r' && in[i + 1] != '\n')) {
			e[0] = (char)c;
			n = 1;
		} else {
			static const char hex[] = "0123456789ABCDEF";

			e[0] = '=';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			n = 3;
		}
		if (col + n > 75) {
			(void)buf_append(out, "=\r\n", 3);
			col = 0;
		}
		if (col == 0 && n == 1 && c == '-') {
			/* Never '-' first on a line, soft break or not. */
			memcpy(e, "=2D", 3);
			n = 3;
		}
		(void)buf_append(out, e, n);
		col += n;
	}
}

void
mime_encode(enum mime_cte cte, const char *in, size_t len, struct buf *out)
{
	if (cte == MIME_CTE_BASE64)
		b64_encode(in, len, out);
	else if (cte == MIME_CTE_QP)
		qp_encode(in, len, out);
	else
		(void)buf_append(out, in, len);
}

/* ---- text extraction: charset to UTF-8, HTML to text ---- */

struct aside {
	size_t s, e;		/* IN[s..e) */
	unsigned depth;		/* 1: set aside by the main pass, 2: by an aside's, ... */
};

/* Asides of asides (a comment in a hidden element in a comment ...)
 * are converted as HTML down to this depth; deeper ones as plain text.
 * Within one depth the asides are disjoint parts of the input, so the
 * work is at most ASIDE_MAX_DEPTH passes over it: without the bound,
 * "<!--" or "<span style=display:none>" repeated n times set n nested
 * asides aside, each running to the end (n passes: quadratic). */
#define ASIDE_MAX_DEPTH 4

struct textw {
	struct buf *out;
	size_t **map;
	size_t mapcap;
	const unsigned *high;	/* code points of 0x80..0xff; NULL: UTF-8 */
	unsigned flags;		/* MIME_TEXT_ */
	/* HTML content a reader does not see where it stands (attribute
	 * values, CSS-hidden elements, comments, script, style): converted
	 * after the rest, each on lines of its own, so it neither splits
	 * nor joins the visible text around it and is still scanned.  At
	 * most one per tag or markup construct: bounded by the input. */
	struct aside *aside;
	size_t naside, aside_cap;
	unsigned depth;		/* of the pass running: 0 main, else the aside's */
};

/* Set IN[s..e) aside (see struct textw). */
static void
tw_aside(struct textw *w, size_t s, size_t e)
{
	if (e <= s)
		return;
	if (w->naside == w->aside_cap) {
		w->aside_cap = w->aside_cap ? w->aside_cap * 2 : 16;
		w->aside = xrealloc(w->aside, w->aside_cap * sizeof(*w->aside));
	}
	w->aside[w->naside].s = s;
	w->aside[w->naside].depth = w->depth + 1;
	w->aside[w->naside++].e = e;
}

/* Append N bytes; map them to SRC (RUN: SRC, SRC+1, ...; else all SRC). */
static void
tw_put(struct textw *w, const char *s, size_t n, size_t src, int run)
{
	size_t before = w->out->len, i;

	if (buf_append(w->out, s, n) != 0)
		return;
	if (w->map == NULL)
		return;
	if (w->out->len > w->mapcap) {
		w->mapcap = w->out->len * 2 + 64;
		*w->map = xrealloc(*w->map, w->mapcap * sizeof(**w->map));
	}
	for (i = before; i < w->out->len; i++)
		(*w->map)[i] = run ? src + (i - before) : src;
}

static void
tw_cp(struct textw *w, unsigned cp, size_t src)
{
	char b[4];

	tw_put(w, b, utf8_enc(cp, b), src, 0);
}

static int
is_html_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/* Text at IN[*I]: a run copied as is (ASCII, or anything in UTF-8) or
 * one 8-bit character converted to UTF-8; advances *I.  The run stops
 * where mime_to_text() has something to do (markup, white space in
 * HTML, line ends in flowed text). */
static void
text_char(struct textw *w, const char *in, size_t len, size_t *i)
{
	size_t j = *i;
	int html = (w->flags & MIME_TEXT_HTML) != 0, flowed = (w->flags & MIME_TEXT_FLOWED) != 0;

	while (j < len && ((unsigned char)in[j] < 0x80 || w->high == NULL)
	    && !(html && (in[j] == '<' || in[j] == '&' || is_html_ws(in[j])))
	    && !(flowed && (in[j] == '\n' || in[j] == '\r')))
		j++;
	if (j > *i) {
		tw_put(w, in + *i, j - *i, *i, 1);
		*i = j;
		return;
	}
	if ((unsigned char)in[*i] >= 0x80 && w->high != NULL)
		tw_cp(w, w->high[(unsigned char)in[*i] - 0x80], *i);
	else
		tw_put(w, in + *i, 1, *i, 0);
	(*i)++;
}

static const struct {
	const char *name;
	unsigned cp;	/* 0: drop */
} entities[] = {
	{ "nbsp", ' ' }, { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "shy", 0 }, { "zwsp", 0 }, { "zwnj", 0 }, { "zwj", 0 },
	{ "ndash", 0x2013 }, { "mdash", 0x2014 }, { "hyphen", '-' }, { "dash", '-' },
	{ "euro", 0x20ac }, { "pound", 0xa3 }, { "copy", 0xa9 }, { "reg", 0xae },
	{ "thinsp", ' ' }, { "ensp", ' ' }, { "emsp", ' ' }, { "numsp", ' ' },
};

/* Decode an entity at IN[i] ('&'); returns bytes consumed, 0 if none. */
static size_t
html_entity(struct textw *w, const char *in, size_t len, size_t i)
{
	size_t j = i + 1, k;
	unsigned cp = 0;

	if (j < len && in[j] == '#') {
		int hex = 0, digits = 0;

		j++;
		if (j < len && (in[j] == 'x' || in[j] == 'X')) {
			hex = 1;
			j++;
		}
		while (j < len && digits < 8 && (hex ? hexval((unsigned char)in[j]) >= 0
		    : (in[j] >= '0' && in[j] <= '9'))) {
			cp = cp * (hex ? 16 : 10) + (unsigned)hexval((unsigned char)in[j]);
			j++;
			digits++;
		}
		if (digits == 0)
			return 0;
		if (j < len && in[j] == ';')
			j++;
		/* Invisible and space-like characters: what a reader sees. */
		if (cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f)
			cp = ' ';
		else if (cp == 0xad || (cp >= 0x200b && cp <= 0x200d) || cp == 0xfeff || cp == 0)
			return j - i;
		tw_cp(w, cp, i);
		return j - i;
	}
	for (k = 0; k < ARRAY_SIZE(entities); k++) {
		size_t n = strlen(entities[k].name);

		size_t used;

		if (j + n > len || mem_casecmp(in + j, entities[k].name, n) != 0)
			continue;
		if (j + n < len && in[j + n] == ';')
			used = n + 2;
		else if (j + n == len || !((in[j + n] | 0x20) >= 'a' && (in[j + n] | 0x20) <= 'z'))
			used = n + 1;
		else
			continue;
		if (entities[k].cp != 0)
			tw_cp(w, entities[k].cp, i);
		return used;
	}
	return 0;
}

static int
tag_is(const char *name, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

/* A style attribute's value that hides the element (CSS 2.1 §9.2.4
 * display:none, §11.2 visibility:hidden; font-size:0 and opacity:0
 * as mail tricks use them).  White space and case do not matter. */
static int
style_hides(const char *v, size_t n)
{
	static const char *const hide[] = {
		"display:none", "visibility:hidden", "font-size:0", "opacity:0",
		"max-height:0", "line-height:0", NULL,
	};
	char c[256];
	size_t i, m = 0, k;

	for (i = 0; i < n && m + 1 < sizeof(c); i++)
		if (!is_html_ws(v[i]))
			c[m++] = (char)(v[i] | (v[i] >= 'A' && v[i] <= 'Z' ? 0x20 : 0));
	c[m] = '\0';
	for (k = 0; hide[k] != NULL; k++) {
		size_t hl = strlen(hide[k]);
		const char *p = c;

		while ((p = strstr(p, hide[k])) != NULL) {
			char a = p[hl];

			/* "font-size:0" but not "font-size:0.9em" or "10px" */
			if ((p == c || p[-1] == ';' || p[-1] == '{' || p[-1] == '"')
			    && !(a == '.' || (a >= '0' && a <= '9')))
				return 1;
			p += hl;
		}
	}
	return 0;
}

/* Where the element NAME whose start tag ends before IN[j] ends: the
 * index of its matching end tag (same-name elements nest), or LEN. */
static size_t
element_end(const char *in, size_t len, size_t j, const char *name)
{
	size_t nl = strlen(name), k, depth = 1;

	for (k = j; k + nl + 1 < len; k++) {
		int close;
		size_t t;

		if (in[k] != '<')
			continue;
		close = in[k + 1] == '/';
		t = k + 1 + (size_t)close;
		if (t + nl > len || mem_casecmp(in + t, name, nl) != 0
		    || (t + nl < len && !is_html_ws(in[t + nl]) && in[t + nl] != '>'
		    && in[t + nl] != '/'))
			continue;
		if (close && --depth == 0)
			return k;
		if (!close)
			depth++;
	}
	return len;
}

/* Skip a tag at IN[i] ('<'); returns the index after it.  Block-level
 * tags end a line so cells and paragraphs do not run together. */
static size_t
html_tag(struct textw *w, const char *in, size_t len, size_t i)
{
	static const char *const block[] = {
		"br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "table", "h1", "h2",
		"h3", "h4", "h5", "h6", "hr", "title", "tbody", "thead", "blockquote",
		"pre", "section", "article", "header", "footer", NULL,
	};
	static const char *const empty[] = {
		"br", "hr", "img", "input", "meta", "link", "wbr", "area", "base", "col",
		"embed", "source", "track", "param", NULL,
	};
	char name[16];
	size_t j = i + 1, n = 0;
	char quote = 0;
	int hidden = 0;

	if (j + 2 < len && in[j] == '!' && in[j + 1] == '-' && in[j + 2] == '-') {
		const char *e = memmem(in + j + 3, len - j - 3, "-->", 3);
		size_t ce = e ? (size_t)(e - in) : len;

		/* A comment is not shown, but it is sent: scanned aside. */
		tw_aside(w, j + 3, ce);
		return e ? ce + 3 : len;
	}
	if (j < len && in[j] == '/')
		j++;
	while (j < len && n + 1 < sizeof(name) && (((in[j] | 0x20) >= 'a' && (in[j] | 0x20) <= 'z')
	    || (in[j] >= '0' && in[j] <= '9'))) {
		name[n++] = (char)(in[j] | 0x20);
		j++;
	}
	name[n] = '\0';
	/* Attributes: NAME, NAME=VALUE, NAME="VALUE" (HTML §13.1.2.3).
	 * Their values are text too. */
	while (j < len && in[j] != '>') {
		size_t ns, ne, vs, ve;

		if (is_html_ws(in[j]) || in[j] == '/') {
			j++;
			continue;
		}
		if (in[j] == '"' || in[j] == '\'') {
			/* A stray quote: skip to its match, as before. */
			quote = in[j];
			for (j++; j < len && in[j] != quote; j++)
				;
			if (j < len)
				j++;
			continue;
		}
		ns = j;
		while (j < len && !is_html_ws(in[j]) && in[j] != '=' && in[j] != '>' && in[j] != '/')
			j++;
		ne = j;
		while (j < len && is_html_ws(in[j]))
			j++;
		if (j >= len || in[j] != '=')
			continue;
		j++;
		while (j < len && is_html_ws(in[j]))
			j++;
		if (j < len && (in[j] == '"' || in[j] == '\'')) {
			quote = in[j++];
			vs = j;
			while (j < len && in[j] != quote)
				j++;
			ve = j;
			if (j < len)
				j++;
		} else {
			vs = j;
			while (j < len && !is_html_ws(in[j]) && in[j] != '>')
				j++;
			ve = j;
		}
		if ((ne - ns == 5 && mem_casecmp(in + ns, "style", 5) == 0
		    && style_hides(in + vs, ve - vs)))
			hidden = 1;
		/* Every attribute's value is text too (on lines of its own):
		 * href, value, alt carry data a reader or a link sees, and
		 * any other (id, class, width, x-anything) is still sent. */
		if (ve > vs)
			tw_aside(w, vs, ve);
	}
	if (j < len)
		j++;	/* '>' */
	if (in[i + 1] != '/' && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
		/* The element's content (code, CSS: a "content:" string is
		 * shown) up to its end tag goes aside. */
		char endtag[16];
		size_t k, el = (size_t)snprintf(endtag, sizeof(endtag), "</%s", name);

		for (k = j; k + el <= len; k++)
			if (in[k] == '<' && mem_casecmp(in + k, endtag, el) == 0)
				break;
		if (k + el > len)
			k = len;
		tw_aside(w, j, k);
		return k;
	}
	if (hidden && in[i + 1] != '/' && n > 0 && !tag_is(name, empty)
	    && !(j >= 2 && in[j - 2] == '/')) {
		/* CSS-hidden: "4556<span style=display:none>1</span> 7375"
		 * reads as 4556 7375; what is hidden is scanned aside. */
		size_t k = element_end(in, len, j, name);

		tw_aside(w, j, k);
		if (tag_is(name, block))
			tw_put(w, "\n", 1, i, 0);
		return k;
	}
	if (tag_is(name, block))
		tw_put(w, "\n", 1, i, 0);
	return j;
}

/* UTF-16 (RFC 2781) to UTF-8, with the map of every output byte to
 * the offset of its code unit.  Byte order from the BOM, else from the
 * charset label, else from where the zero octets are (text is mostly
 * ASCII); unpaired surrogates become U+FFFD. */
static void
utf16_to_utf8(const char *in, size_t len, enum mime_charset cs, struct buf *out,
    size_t **map)
{
	struct textw w;
	size_t i = 0;
	int le = cs == MIME_CS_UTF16LE;

	memset(&w, 0, sizeof(w));
	w.out = out;
	w.map = map;

	if (len >= 2 && (unsigned char)in[0] == 0xff && (unsigned char)in[1] == 0xfe) {
		le = 1;
		i = 2;
	} else if (len >= 2 && (unsigned char)in[0] == 0xfe && (unsigned char)in[1] == 0xff) {
		le = 0;
		i = 2;
	} else if (cs == MIME_CS_UTF16) {
		size_t k, even = 0, odd = 0;

		for (k = 0; k + 1 < len && k < 4096; k += 2) {
			even += in[k] == 0;
			odd += in[k + 1] == 0;
		}
		le = odd > even;
	}
	for (; i + 1 < len; i += 2) {
		unsigned u = le ? (unsigned char)in[i] | (unsigned)(unsigned char)in[i + 1] << 8
		    : (unsigned)(unsigned char)in[i] << 8 | (unsigned char)in[i + 1];

		if (u >= 0xd800 && u < 0xdc00 && i + 3 < len) {
			unsigned v = le ? (unsigned char)in[i + 2]
			    | (unsigned)(unsigned char)in[i + 3] << 8
			    : (unsigned)(unsigned char)in[i + 2] << 8 | (unsigned char)in[i + 3];

			if (v >= 0xdc00 && v < 0xe000) {
				tw_cp(&w, 0x10000 + ((u - 0xd800) << 10) + (v - 0xdc00), le ? i : i + 1);
				i += 2;
				continue;
			}
		}
		/* Mapped to the low-order octet: redaction replaces that one
		 * with '*', which keeps the text UTF-16 ('4' 00 34 -> 00 2A). */
		tw_cp(&w, u >= 0xd800 && u < 0xe000 ? 0xfffd : u, le ? i : i + 1);
	}
}

unsigned
mime_text_flags(const struct mime_part *part)
{
	return (part->html ? MIME_TEXT_HTML : 0) | (part->flowed ? MIME_TEXT_FLOWED : 0)
	    | (part->delsp ? MIME_TEXT_DELSP : 0);
}

static void text_run(struct textw *w, const char *in, size_t i, size_t len);

void
mime_to_text(const char *in, size_t len, enum mime_charset cs, unsigned flags,
    struct buf *out, size_t **map)
{
	unsigned high[128];
	struct textw w;
	size_t i = 0, a;

	memset(&w, 0, sizeof(w));
	w.out = out;
	w.map = map;
	w.flags = flags;

	if (map != NULL)
		*map = NULL;
	if (!mime_charset_ascii_compatible(cs)) {
		/* Two steps: UTF-16 to UTF-8, then the text of that. */
		struct buf u;
		size_t *m1 = NULL, *m2 = NULL, k;

		buf_init(&u, out->max);
		utf16_to_utf8(in, len, cs, &u, map ? &m1 : NULL);
		mime_to_text(u.data ? u.data : "", u.len, MIME_CS_UTF8, flags, out, map ? &m2 : NULL);
		if (map != NULL) {
			for (k = 0; k < out->len; k++)
				m2[k] = m1 != NULL && m2[k] < u.len ? m1[m2[k]] : 0;
			*map = m2;
			free(m1);
		}
		buf_free(&u);
		return;
	}
	if (cs != MIME_CS_UTF8) {
		charset_table(cs, high);
		w.high = high;
	}
	text_run(&w, in, i, len);
	/* What went aside, after the rest (an aside may add more asides:
	 * nested hidden elements, tags in a comment; each is a part of
	 * the input that is shorter than the one it came from). */
	for (a = 0; a < w.naside; a++) {
		struct aside r = w.aside[a];	/* text_run may move the array */

		tw_put(&w, "\n", 1, r.s, 0);
		w.depth = r.depth;
		/* too deep: its markup is text, it sets nothing aside */
		w.flags = r.depth > ASIDE_MAX_DEPTH ? flags & ~(unsigned)MIME_TEXT_HTML : flags;
		text_run(&w, in, r.s, r.e);
		tw_put(&w, "\n", 1, r.e - 1, 0);
	}
	free(w.aside);
	if (map != NULL && *map == NULL)
		*map = xmalloc(sizeof(size_t));
}

/* The text of IN[i..len) into W. */
static void
text_run(struct textw *wp, const char *in, size_t i, size_t len)
{
	struct buf *out = wp->out;
	unsigned flags = wp->flags;
	int html = (flags & MIME_TEXT_HTML) != 0;

	while (i < len && out->len < (out->max ? out->max : (size_t)-1 / 2)) {
		unsigned char c = (unsigned char)in[i];

		if (html && c == '<' && i + 1 < len
		    && (((in[i + 1] | 0x20) >= 'a' && (in[i + 1] | 0x20) <= 'z')
		    || in[i + 1] == '/' || in[i + 1] == '!' || in[i + 1] == '?')) {
			i = html_tag(wp, in, len, i);
			continue;
		}
		if (html && c == '&') {
			size_t used = html_entity(wp, in, len, i);

			if (used > 0) {
				i += used;
				continue;
			}
			tw_put(wp, "&", 1, i, 0);
			i++;
			continue;
		}
		if (html && c == '<') {
			tw_put(wp, "<", 1, i, 0);
			i++;
			continue;
		}
		if (html && is_html_ws((char)c)) {
			/* White space collapses to one space (HTML §3.2.5.1.5
			 * "inter-element whitespace"; CSS white-space: normal):
			 * a number broken over source lines reads as one. */
			size_t s0 = i;

			while (i < len && is_html_ws(in[i]))
				i++;
			if (out->len > 0 && out->data[out->len - 1] != ' '
			    && out->data[out->len - 1] != '\n')
				tw_put(wp, " ", 1, s0, 0);
			continue;
		}
		if ((flags & MIME_TEXT_FLOWED) && (c == '\n' || (c == '\r' && i + 1 < len
		    && in[i + 1] == '\n'))) {
			size_t nl = c == '\r' ? 2 : 1;

			if (out->len > 0 && out->data[out->len - 1] == ' ' && !(out->len == 3
			    ? memcmp(out->data, "-- ", 3) == 0 : out->len > 3
			    && memcmp(out->data + out->len - 4, "\n-- ", 4) == 0)) {
				/* RFC 3676 §4.2: a soft line break; DelSp=yes also
				 * deletes the space before it (§4.5). */
				if (flags & MIME_TEXT_DELSP)
					out->data[--out->len] = '\0';
			} else {
				tw_put(wp, in + i, nl, i, 1);
			}
			i += nl;
			/* §4.4: a space-stuffed line loses its first space. */
			if (i < len && in[i] == ' ')
				i++;
			continue;
		}
		text_char(wp, in, len, &i);
	}
}

/* ---- RFC 2047 encoded words ---- */

/* Decode one encoded word at IN (starting "=?"); 0 when it is not one. */
static size_t
encoded_word(const char *in, size_t len, struct buf *out)
{
	const char *end = in + len, *cs, *q1, *q2, *q3, *p;
	enum mime_charset charset;
	struct buf raw;
	char enc;

	if (len < 8 || in[0] != '=' || in[1] != '?')
		return 0;
	cs = in + 2;
	q1 = memchr(cs, '?', (size_t)(end - cs));
	if (q1 == NULL || q1 + 3 >= end || q1[2] != '?')
		return 0;
	enc = (char)(q1[1] | 0x20);
	if (enc != 'b' && enc != 'q')
		return 0;
	q2 = q1 + 2;
	q3 = NULL;
	for (p = q2 + 1; p + 1 < end; p++) {
		if (p[0] == '?' && p[1] == '=') {
			q3 = p;
			break;
		}
		if (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\n')
			return 0;
	}
	if (q3 == NULL)
		return 0;
	{
		/* RFC 2231 §5: charset*language. */
		const char *star = memchr(cs, '*', (size_t)(q1 - cs));

		charset = mime_parse_charset(cs, (size_t)((star ? star : q1) - cs));
	}
	buf_init(&raw, 0);
	if (enc == 'b') {
		(void)mime_decode(MIME_CTE_BASE64, q2 + 1, (size_t)(q3 - q2 - 1), &raw);
	} else {
		for (p = q2 + 1; p < q3; p++) {
			if (*p == '_') {
				(void)buf_append(&raw, " ", 1);
			} else if (*p == '=' && p + 2 < q3 && hexval((unsigned char)p[1]) >= 0
			    && hexval((unsigned char)p[2]) >= 0) {
				char b = (char)(hexval((unsigned char)p[1]) * 16
				    + hexval((unsigned char)p[2]));

				(void)buf_append(&raw, &b, 1);
				p += 2;
			} else {
				(void)buf_append(&raw, p, 1);
			}
		}
	}
	mime_to_text(raw.data ? raw.data : "", raw.len, charset, 0, out, NULL);
	buf_free(&raw);
	return (size_t)(q3 + 2 - in);
}

void
mime_decode_header(const char *in, size_t len, struct buf *out)
{
	size_t i = 0, n;
	int last_word = 0;

	while (i < len) {
		if (in[i] == '=' && i + 1 < len && in[i + 1] == '?'
		    && (n = encoded_word(in + i, len - i, out)) > 0) {
			i += n;
			last_word = 1;
			continue;
		}
		if (last_word && (is_ws(in[i]) || in[i] == '\r' || in[i] == '\n')) {
			/* RFC 2047 §6.2: white space between adjacent encoded
			 * words is not displayed. */
			size_t j = i;

			while (j < len && (is_ws(in[j]) || in[j] == '\r' || in[j] == '\n'))
				j++;
			if (j + 1 < len && in[j] == '=' && in[j + 1] == '?') {
				struct buf probe;

				buf_init(&probe, 0);
				n = encoded_word(in + j, len - j, &probe);
				buf_free(&probe);
				if (n > 0) {
					i = j;
					continue;
				}
			}
		}
		last_word = 0;
		if (in[i] == '\r' || in[i] == '\n') {
			i++;
			continue;
		}
		(void)buf_append(out, in + i, 1);
		i++;
	}
}

/* ---- header parsing ---- */

struct entity_hdr {
	char type[64];
	char boundary[BOUNDARY_MAX + 1];
	size_t blen;
	enum mime_charset charset;
	enum mime_cte cte;
	char filename[256];
	int has_type;
	int boundary_too_long;
	int flowed, delsp;	/* RFC 3676 format=flowed; delsp=yes */
	struct buf subject;
};

/* Find parameter NAME in a header value's "; a=b; c="d"" list.
 * Handles quoted strings and RFC 2231 name*= (charset'lang'%XX). */
static int
header_param(const char *v, size_t len, const char *name, struct buf *out)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		size_t ns, ne;
		int ext = 0;

		while (i < len && v[i] != ';') {
			if (v[i] == '"') {
				for (i++; i < len && v[i] != '"'; i++)
					if (v[i] == '\\')
						i++;
			}
			i++;
		}
		if (i >= len)
			break;
		i++;
		while (i < len && (is_ws(v[i]) || v[i] == '\r' || v[i] == '\n'))
			i++;
		ns = i;
		while (i < len && v[i] != '=' && v[i] != ';')
			i++;
		ne = i;
		while (ne > ns && is_ws(v[ne - 1]))
			ne--;
		if (ne > ns && v[ne - 1] == '*') {
			ext = 1;
			ne--;
		}
		if (ne > ns + 2 && v[ne - 1] == '0' && v[ne - 2] == '*')
			ne -= 2;	/* name*0 / name*0*: first continuation only */
		if (i >= len || v[i] != '=' || ne - ns != nl || mem_casecmp(v + ns, name, nl) != 0)
			continue;
		i++;
		while (i < len && is_ws(v[i]))
			i++;
		if (i < len && v[i] == '"') {
			for (i++; i < len && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < len)
					i++;
				(void)buf_append(out, v + i, 1);
			}
		} else {
			size_t s = i;

			while (i < len && v[i] != ';' && !is_ws(v[i]) && v[i] != '\r' && v[i] != '\n')
				i++;
			if (ext) {
				/* charset'language'percent-encoded */
				const char *a = memchr(v + s, '\'', i - s), *b;
				enum mime_charset cs = MIME_CS_UTF8;
				struct buf raw;
				size_t k;

				b = a ? memchr(a + 1, '\'', (size_t)(v + i - a - 1)) : NULL;
				if (a && b) {
					cs = mime_parse_charset(v + s, (size_t)(a - v - s));
					s = (size_t)(b + 1 - v);
				}
				buf_init(&raw, 0);
				for (k = s; k < i; k++) {
					if (v[k] == '%' && k + 2 < i && hexval((unsigned char)v[k + 1]) >= 0
					    && hexval((unsigned char)v[k + 2]) >= 0) {
						char c = (char)(hexval((unsigned char)v[k + 1]) * 16
						    + hexval((unsigned char)v[k + 2]));

						(void)buf_append(&raw, &c, 1);
						k += 2;
					} else {
						(void)buf_append(&raw, v + k, 1);
					}
				}
				mime_to_text(raw.data ? raw.data : "", raw.len, cs, 0, out, NULL);
				buf_free(&raw);
			} else {
				(void)buf_append(out, v + s, i - s);
			}
		}
		return 0;
	}
	return -1;
}

static void
parse_field(struct entity_hdr *h, const char *name, size_t nlen, const char *v, size_t vlen,
    int want_subject)
{
	struct buf t;

	while (vlen > 0 && (is_ws(*v) || *v == '\r' || *v == '\n')) {
		v++;
		vlen--;
	}
	if (nlen == 12 && mem_casecmp(name, "content-type", 12) == 0) {
		size_t i = 0;

		while (i < vlen && v[i] != ';' && !is_ws(v[i]) && v[i] != '\r' && v[i] != '\n')
			i++;
		lower_copy(h->type, sizeof(h->type), v, i);
		h->has_type = memchr(h->type, '/', strlen(h->type)) != NULL;
		buf_init(&t, 4096);
		if (header_param(v, vlen, "boundary", &t) == 0 && t.len > 0) {
			if (t.len > BOUNDARY_MAX) {
				h->boundary_too_long = 1;
			} else {
				h->blen = t.len;
				memcpy(h->boundary, t.data, h->blen);
				h->boundary[h->blen] = '\0';
			}
		}
		buf_reset(&t);
		if (header_param(v, vlen, "charset", &t) == 0)
			h->charset = mime_parse_charset(t.data ? t.data : "", t.len);
		buf_reset(&t);
		if (header_param(v, vlen, "format", &t) == 0 && t.len == 6
		    && mem_casecmp(t.data, "flowed", 6) == 0)
			h->flowed = 1;
		buf_reset(&t);
		if (header_param(v, vlen, "delsp", &t) == 0 && t.len == 3
		    && mem_casecmp(t.data, "yes", 3) == 0)
			h->delsp = 1;
		buf_reset(&t);
		if (h->filename[0] == '\0' && header_param(v, vlen, "name", &t) == 0) {
			struct buf d;

			buf_init(&d, sizeof(h->filename) - 1);
			mime_decode_header(t.data ? t.data : "", t.len, &d);
			str_copy(h->filename, d.data ? d.data : "", sizeof(h->filename));
			buf_free(&d);
		}
		buf_free(&t);
	} else if (nlen == 25 && mem_casecmp(name, "content-transfer-encoding", 25) == 0) {
		char enc[32];
		size_t i = 0;

		while (i < vlen && !is_ws(v[i]) && v[i] != ';' && v[i] != '\r' && v[i] != '\n')
			i++;
		lower_copy(enc, sizeof(enc), v, i);
		if (strcmp(enc, "base64") == 0)
			h->cte = MIME_CTE_BASE64;
		else if (strcmp(enc, "quoted-printable") == 0)
			h->cte = MIME_CTE_QP;
		else
			h->cte = MIME_CTE_IDENTITY;
	} else if (nlen == 19 && mem_casecmp(name, "content-disposition", 19) == 0) {
		buf_init(&t, 4096);
		if (header_param(v, vlen, "filename", &t) == 0) {
			struct buf d;

			buf_init(&d, sizeof(h->filename) - 1);
			mime_decode_header(t.data ? t.data : "", t.len, &d);
			str_copy(h->filename, d.data ? d.data : "", sizeof(h->filename));
			buf_free(&d);
		}
		buf_free(&t);
	} else if (want_subject && nlen == 7 && mem_casecmp(name, "subject", 7) == 0) {
		buf_reset(&h->subject);
		mime_decode_header(v, vlen, &h->subject);
	}
}

/* Unfold and parse a header block (RFC 5322 §2.2.3). */
static void
parse_header_block(struct entity_hdr *h, const char *b, size_t len, int want_subject)
{
	size_t i = 0;

	while (i < len) {
		size_t s = i, colon, e;

		/* A field runs until a line break not followed by WSP. */
		for (;;) {
			const char *nl = memchr(b + i, '\n', len - i);

			i = nl ? (size_t)(nl - b) + 1 : len;
			if (i >= len || !is_ws(b[i]))
				break;
		}
		e = i;
		for (colon = s; colon < e && b[colon] != ':'; colon++)
			;
		if (colon >= e)
			continue;
		{
			size_t ne = colon;

			while (ne > s && is_ws(b[ne - 1]))
				ne--;
			parse_field(h, b + s, ne - s, b + colon + 1, e - colon - 1, want_subject);
		}
	}
}

/*
 * Is a part of this type and name scanned as text?  1: yes; 2: decode
 * it and scan it unless the content turns out to be binary (unknown
 * types, application/octet-stream: an attachment must not escape the
 * scan by its label); 0: never (media and compressed containers).
 */
static int
is_text_type(const char *type, const char *filename)
{
	static const char *const binary_prefixes[] = {
		"image/", "audio/", "video/", "font/", "model/", "application/pdf",
		"application/zip", "application/gzip", "application/x-gzip",
		"application/x-zip", "application/x-7z", "application/x-rar",
		"application/x-tar", "application/x-bzip", "application/x-xz", "application/zstd",
		"application/vnd.openxmlformats", "application/vnd.oasis.opendocument",
		"application/pkcs7", "application/x-pkcs7", "application/pgp",
		"application/java-archive", "application/x-msdownload", NULL,
	};
	size_t i, fl = strlen(filename);

	if (strncmp(type, "text/", 5) == 0 || strncmp(type, "message/", 8) == 0
	    || strncmp(type, "multipart/", 10) == 0)
		return 1;	/* message/ and multipart/ here: not parsable as such */
	if (fl > 4 && (mem_casecmp(filename + fl - 4, ".csv", 4) == 0
	    || mem_casecmp(filename + fl - 4, ".txt", 4) == 0
	    || mem_casecmp(filename + fl - 4, ".tsv", 4) == 0))
		return 1;
	for (i = 0; binary_prefixes[i] != NULL; i++)
		if (strncmp(type, binary_prefixes[i], strlen(binary_prefixes[i])) == 0)
			return 0;
	return 2;
}

/* message/rfc822 and message/global (RFC 6532 §3.5): a whole message. */
static int
is_message_type(const char *type)
{
	return strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0;
}

/* Binary content: NULs or many control characters in the first 4 KiB. */
static int
looks_binary(const char *d, size_t len)
{
	size_t i, ctl = 0, n = len > 4096 ? 4096 : len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == 0)
			return 1;
		if (c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f')
			ctl++;
	}
	return ctl * 10 > n;
}

/* ---- the parser ---- */

struct mime_parser *
mime_new(const struct mime_limits *lim, mime_text_cb cb, void *arg)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->lim = *lim;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = 1;
	p->cb = cb;
	p->arg = arg;
	buf_init(&p->line, LINE_CAP + 1);
	buf_init(&p->hdr, HEADER_CAP);
	buf_init(&p->dec, 0);
	buf_init(&p->head_text, 1 << 20);
	p->st = ST_HEADERS;
	p->ent_message = 1;
	p->parts = NULL;
	return p;
}

void
mime_free(struct mime_parser *p)
{
	if (p == NULL)
		return;
	buf_free(&p->line);
	buf_free(&p->hdr);
	buf_free(&p->dec);
	buf_free(&p->head_text);
	free(p->frames);
	free(p->parts);
	free(p);
}

enum mime_limit
mime_limit_hit(const struct mime_parser *p)
{
	return p->limit;
}

const char *
mime_strlimit(enum mime_limit l)
{
	switch (l) {
	case MIME_LIMIT_DEPTH:
		return "depth";
	case MIME_LIMIT_PARTS:
		return "parts";
	case MIME_LIMIT_SIZE:
		return "decoded_size";
	case MIME_LIMIT_BOUNDARY:
		return "boundary";
	case MIME_LIMIT_HEADER:
		return "header_size";
	default:
		return "none";
	}
}

size_t
mime_nparts(const struct mime_parser *p)
{
	return p->nparts;
}

const struct mime_part *
mime_part_at(const struct mime_parser *p, size_t i)
{
	return i < p->nparts ? &p->parts[i] : NULL;
}

size_t
mime_subject_len(const struct mime_parser *p)
{
	return p->subject_len;
}

static void
stop(struct mime_parser *p, enum mime_limit l)
{
	if (p->limit == MIME_LIMIT_NONE)
		p->limit = l;
	p->st = ST_STOPPED;
}

/* Feed decoded bytes of the current leaf; enforces the decoded-size limit. */
static void
leaf_feed(struct mime_parser *p, const char *s, size_t n)
{
	struct mime_part *part = &p->parts[p->cur_ix];
	int rc;

	if (!p->in_leaf || (!part->text && !p->in_encap) || n == 0)
		return;
	if (part->cte == MIME_CTE_BASE64)
		rc = b64_feed(&p->b64, s, n, &p->dec);
	else if (part->cte == MIME_CTE_QP)
		rc = qp_feed(&p->qp, s, n, &p->dec);
	else
		rc = buf_append(&p->dec, s, n);
	if (rc != 0 || p->decoded_total + p->dec.len > p->lim.max_decoded) {
		stop(p, MIME_LIMIT_SIZE);
	}
}

/* 1 when S has no 8-bit octet. */
static int
ascii_only(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return 0;
	return 1;
}

static struct mime_part *new_part(struct mime_parser *p);

/* Text of a nested parser: part 0 (its Subject and filenames) joins
 * the outer part 0, the rest goes to the outer callback. */
static void
encap_text(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct mime_parser *outer = arg;

	if (part->no == 0) {
		(void)buf_append(&outer->head_text, text, len);
		return;
	}
	if (outer->cb != NULL)
		outer->cb(outer->arg, part, text, len);
}

/* The decoded body of the encoded message part IX (in P->dec) is a
 * message: parse it with what is left of the limits.  Its parts are
 * numbered after IX and carry container = IX's number; their offsets
 * are in the decoded body. */
static void
encap_parse(struct mime_parser *p, size_t ix)
{
	struct mime_limits lim = p->lim;
	struct mime_parser *in;
	unsigned depth = p->parts[ix].depth + 1, no = p->parts[ix].no;
	size_t i;

	lim.max_depth = p->lim.max_depth > depth ? p->lim.max_depth - depth : 0;
	lim.max_parts = (unsigned)(p->lim.max_parts - p->nparts);
	lim.max_decoded = p->lim.max_decoded - p->decoded_total;
	if (lim.max_depth == 0 || lim.max_parts == 0) {
		stop(p, lim.max_depth == 0 ? MIME_LIMIT_DEPTH : MIME_LIMIT_PARTS);
		return;
	}
	in = mime_new(&lim, encap_text, p);
	in->part_base = (unsigned)p->nparts;
	in->depth_base = depth;
	in->container = no;
	(void)mime_feed(in, p->dec.data ? p->dec.data : "", p->dec.len);
	(void)mime_finish(in);
	for (i = 0; i < in->nparts; i++) {
		struct mime_part *q = new_part(p);

		*q = in->parts[i];
	}
	p->decoded_total += in->decoded_total;
	if (in->limit != MIME_LIMIT_NONE)
		stop(p, in->limit);
	mime_free(in);
}

/* End the current leaf at raw offset END: decode the rest, hand out text. */
static void
leaf_end(struct mime_parser *p, size_t end)
{
	struct mime_part *part;

	if (!p->in_leaf)
		return;
	part = &p->parts[p->cur_ix];
	part->body_end = end;
	if (p->in_encap) {
		if (part->cte == MIME_CTE_BASE64)
			(void)b64_flush(&p->b64, &p->dec);
		else if (part->cte == MIME_CTE_QP)
			(void)qp_finish(&p->qp, &p->dec);
		p->decoded_total += p->dec.len;
		p->in_encap = 0;
		p->in_leaf = 0;
		p->eol_len = 0;
		encap_parse(p, p->cur_ix);
		buf_reset(&p->dec);
		return;
	}
	if (part->text) {
		if (part->cte == MIME_CTE_BASE64)
			(void)b64_flush(&p->b64, &p->dec);
		else if (part->cte == MIME_CTE_QP)
			(void)qp_finish(&p->qp, &p->dec);
		p->decoded_total += p->dec.len;
		if (part->sniff && looks_binary(p->dec.data ? p->dec.data : "", p->dec.len))
			part->text = 0;
	}
	if (part->text) {
		const char *d = p->dec.data ? p->dec.data : "";

		if (!part->html && !part->flowed && (part->charset == MIME_CS_UTF8
		    || (mime_charset_ascii_compatible(part->charset) && ascii_only(d, p->dec.len)))) {
			/* mime_to_text() would copy these bytes unchanged: hand
			 * out the decoded part itself (no second copy of it) */
			if (p->cb != NULL)
				p->cb(p->arg, part, d, p->dec.len);
		} else {
			struct buf text;

			buf_init(&text, 0);
			mime_to_text(d, p->dec.len, part->charset, mime_text_flags(part), &text, NULL);
			if (p->cb != NULL)
				p->cb(p->arg, part, text.data ? text.data : "", text.len);
			buf_free(&text);
		}
	}
	buf_reset(&p->dec);
	p->in_leaf = 0;
	p->eol_len = 0;
}

static struct mime_part *
new_part(struct mime_parser *p)
{
	if (p->nparts == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->parts = xrealloc(p->parts, p->cap * sizeof(*p->parts));
	}
	memset(&p->parts[p->nparts], 0, sizeof(p->parts[0]));
	p->parts[p->nparts].no = p->part_base + (unsigned)p->nparts + 1;
	return &p->parts[p->nparts++];
}

/* The blank line after an entity's header: decide what its body is. */
static void
headers_done(struct mime_parser *p, size_t body_start)
{
	struct entity_hdr h;
	struct mime_part *part;

	memset(&h, 0, sizeof(h));
	buf_init(&h.subject, 4096);
	parse_header_block(&h, p->hdr.data ? p->hdr.data : "", p->hdr.len, p->ent_message);
	buf_reset(&p->hdr);
	p->hdr_keep = 0;
	if (!h.has_type) {
		/* RFC 2045 §5.2 default; inside multipart/digest it would be
		 * message/rfc822, which we treat as text as well. */
		str_copy(h.type, "text/plain", sizeof(h.type));
	}
	if (p->ent_message && p->ent_depth == 0 && !p->have_subject) {
		p->have_subject = 1;
		(void)buf_append(&p->head_text, h.subject.data ? h.subject.data : "",
		    h.subject.len);
		p->subject_len = p->head_text.len;
		(void)buf_append(&p->head_text, "\n", 1);
	} else if (p->ent_message && h.subject.len > 0) {
		(void)buf_append(&p->head_text, h.subject.data, h.subject.len);
		(void)buf_append(&p->head_text, "\n", 1);
	}
	buf_free(&h.subject);
	if (h.filename[0] != '\0') {
		(void)buf_append_str(&p->head_text, h.filename);
		(void)buf_append(&p->head_text, "\n", 1);
	}

	if (p->nparts >= p->lim.max_parts) {
		stop(p, MIME_LIMIT_PARTS);
		return;
	}
	part = new_part(p);
	part->depth = p->depth_base + p->ent_depth;
	part->container = p->container;
	part->flowed = h.flowed;
	part->delsp = h.delsp;
	str_copy(part->type, h.type, sizeof(part->type));
	part->charset = h.charset;
	part->cte = h.cte;
	str_copy(part->filename, h.filename, sizeof(part->filename));
	part->hdr_start = p->hdr_start;
	part->body_start = body_start;
	part->body_end = body_start;

	if (strncmp(h.type, "multipart/", 10) == 0 && h.boundary_too_long) {
		/* We cannot find its parts: say so rather than scan nothing. */
		part->multipart = 1;
		stop(p, MIME_LIMIT_BOUNDARY);
		return;
	}
	if (strncmp(h.type, "multipart/", 10) == 0 && h.blen > 0) {
		struct frame *f;

		part->multipart = 1;
		if (p->ent_depth + 1 > p->lim.max_depth || p->nframes >= MAX_OPEN) {
			stop(p, MIME_LIMIT_DEPTH);
			return;
		}
		p->frames = xrealloc(p->frames, (p->nframes + 1) * sizeof(*p->frames));
		f = &p->frames[p->nframes++];
		memcpy(f->boundary, h.boundary, h.blen + 1);
		f->blen = h.blen;
		f->depth = p->ent_depth;
		p->st = ST_PREAMBLE;
		return;
	}
	if (is_message_type(h.type) && h.cte == MIME_CTE_IDENTITY) {
		/* RFC 2046 §5.2.1: the body is a whole message. */
		if (p->ent_depth + 1 > p->lim.max_depth) {
			stop(p, MIME_LIMIT_DEPTH);
			return;
		}
		p->ent_depth++;
		p->ent_message = 1;
		p->hdr_start = body_start;
		p->st = ST_HEADERS;
		return;
	}
	p->in_encap = 0;
	if (is_message_type(h.type)) {
		/* An encoded message (RFC 2046 §5.2.1 forbids it, mail has it):
		 * decode the body and parse it as a message at its end. */
		if (p->ent_depth + 1 > p->lim.max_depth) {
			stop(p, MIME_LIMIT_DEPTH);
			return;
		}
		p->in_encap = 1;
		part->encap = 1;
	} else {
		part->html = strcmp(h.type, "text/html") == 0;
		part->text = is_text_type(h.type, h.filename) != 0;
		part->sniff = is_text_type(h.type, h.filename) == 2;
	}
	p->cur_ix = p->nparts - 1;
	p->in_leaf = 1;
	memset(&p->qp, 0, sizeof(p->qp));
	memset(&p->b64, 0, sizeof(p->b64));
	buf_reset(&p->dec);
	p->eol_len = 0;
	p->st = ST_BODY;
}

/* Is LINE a delimiter of an open multipart?  Returns the frame index
 * (and *CLOSE for "--boundary--"), or -1. */
static int
match_boundary(struct mime_parser *p, const char *s, size_t n, int *close)
{
	size_t k;

	if (n < 3 || s[0] != '-' || s[1] != '-')
		return -1;
	while (n > 0 && (is_ws(s[n - 1]) || s[n - 1] == '\r'))
		n--;	/* transport padding */
	for (k = p->nframes; k-- > 0;) {
		struct frame *f = &p->frames[k];

		if (n < 2 + f->blen || memcmp(s + 2, f->boundary, f->blen) != 0)
			continue;
		if (n == 2 + f->blen) {
			*close = 0;
			return (int)k;
		}
		if (n == 4 + f->blen && s[2 + f->blen] == '-' && s[3 + f->blen] == '-') {
			*close = 1;
			return (int)k;
		}
	}
	return -1;
}

/* Is the header line S..S+N the start of a field parse_field() reads? */
static int
field_is_kept(const char *s, size_t n)
{
	static const char *const kept[] = {
		"content-type", "content-transfer-encoding", "content-disposition", "subject", NULL,
	};
	const char *colon = memchr(s, ':', n);
	size_t k, nl;

	if (colon == NULL)
		return 0;
	nl = (size_t)(colon - s);
	while (nl > 0 && is_ws(s[nl - 1]))
		nl--;
	for (k = 0; kept[k] != NULL; k++)
		if (strlen(kept[k]) == nl && mem_casecmp(s, kept[k], nl) == 0)
			return 1;
	return 0;
}

/* One line (or a LINE_CAP piece of one): S..S+N includes its ending. */
static void
handle_line(struct mime_parser *p, const char *s, size_t n, int cont)
{
	size_t content = n;
	int close = 0, fi;

	if (p->st == ST_STOPPED)
		return;
	if (content > 0 && s[content - 1] == '\n') {
		content--;
		if (content > 0 && s[content - 1] == '\r')
			content--;
	}

	if (!cont && p->nframes > 0 && (fi = match_boundary(p, s, content, &close)) >= 0) {
		leaf_end(p, p->eol_len > 0 ? p->eol_pos : p->pos);
		if (close) {
			/* Inner multiparts left open are closed with it. */
			p->nframes = (size_t)fi;
			p->st = ST_EPILOGUE;
			return;
		}
		p->nframes = (size_t)fi + 1;
		p->ent_depth = p->frames[fi].depth + 1;
		p->ent_message = 0;
		p->hdr_start = p->pos + n;
		buf_reset(&p->hdr);
		p->st = ST_HEADERS;
		return;
	}

	switch (p->st) {
	case ST_HEADERS:
		if (!cont && content == 0) {
			headers_done(p, p->pos + n);
			return;
		}
		/* Only the fields parse_field() reads are kept, so a header
		 * block padded with other fields cannot push Content-Type
		 * out; kept fields over HEADER_CAP are a limit. */
		if (!cont && !is_ws(s[0]))
			p->hdr_keep = field_is_kept(s, content);
		if (!p->hdr_keep)
			return;
		if (p->hdr.len + n > HEADER_CAP) {
			stop(p, MIME_LIMIT_HEADER);
			return;
		}
		(void)buf_append(&p->hdr, s, n);
		return;
	case ST_BODY:
		if (p->eol_len > 0) {
			leaf_feed(p, p->eol, p->eol_len);
			p->eol_len = 0;
		}
		leaf_feed(p, s, content);
		if (content < n) {
			p->eol_len = n - content > 2 ? 2 : n - content;
			memcpy(p->eol, s + content, p->eol_len);
			p->eol_pos = p->pos + content;
		}
		return;
	default:
		return;
	}
}

int
mime_feed(struct mime_parser *p, const char *data, size_t len)
{
	while (len > 0 && p->st != ST_STOPPED) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) + 1 : len;

		if (p->line.len == 0 && nl != NULL && take <= LINE_CAP) {
			/* a whole line in the input: handled where it is, not
			 * copied first (issue 20); handle_line keeps no pointer */
			int cont = p->line_cont;

			p->line_cont = 0;
			handle_line(p, data, take, cont);
			p->pos += take;
			data += take;
			len -= take;
			continue;
		}
		if (p->line.len + take > LINE_CAP)
			take = LINE_CAP - p->line.len;
		(void)buf_append(&p->line, data, take);
		data += take;
		len -= take;
		if (p->line.data[p->line.len - 1] == '\n' || p->line.len == LINE_CAP) {
			int cont = p->line_cont;

			p->line_cont = p->line.data[p->line.len - 1] != '\n';
			handle_line(p, p->line.data, p->line.len, cont);
			p->pos += p->line.len;
			buf_reset(&p->line);
		}
	}
	return p->st == ST_STOPPED ? -1 : 0;
}

int
mime_finish(struct mime_parser *p)
{
	if (p->finished)
		return p->limit != MIME_LIMIT_NONE ? -1 : 0;
	p->finished = 1;
	if (p->st != ST_STOPPED && p->line.len > 0) {
		handle_line(p, p->line.data, p->line.len, p->line_cont);
		p->pos += p->line.len;
		buf_reset(&p->line);
	}
	if (p->st == ST_HEADERS && p->hdr.len > 0)
		headers_done(p, p->pos);
	if (p->in_leaf) {
		/* At the end of input the held-back line ending is body. */
		if (p->eol_len > 0 && p->st != ST_STOPPED)
			leaf_feed(p, p->eol, p->eol_len);
		p->eol_len = 0;
		leaf_end(p, p->pos);
	}
	if (p->cb != NULL)
		p->cb(p->arg, &(struct mime_part){ .no = 0, .type = "text/x-header", .text = 1 },
		    p->head_text.data ? p->head_text.data : "", p->head_text.len);
	return p->limit != MIME_LIMIT_NONE ? -1 : 0;
}
