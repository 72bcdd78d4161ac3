/* SPDX-License-Identifier: ISC */
/*
 * spam_tok.c: the spam classifier's tokenizer (issue 15) and the only
 * libpsl user.  A message becomes a set of 64-bit token hashes:
 *
 *  - words of the decoded, HTML-stripped text parts (policy/mime.c does
 *    the transfer decoding, charsets and HTML), each as a unigram and as
 *    a bigram with the word before it, lower-cased; words of one or two
 *    characters are dropped (measured: they added noise, cross-validated
 *    1-AUC 0.037% with them, 0.032% without), very long words become
 *    "skip:" length classes, long numbers "num:".  (The pair code
 *    is OSB's: OSB_WINDOW 5 gives orthogonal sparse bigrams.  Measured
 *    with contrib/bench/spam-eval, window 5 made 2.5x the tokens, a 4x
 *    larger model and scoring ~3x slower for no better ranking, so the
 *    window is 2: unigrams + bigrams.);
 *  - words of the Subject and of selected header fields, prefixed by the
 *    field name ("subject:free"), unigrams only; the words of every other
 *    field as "head:" words, and each field's name ("hdr:x-mailer"),
 *    as bogofilter does (its "head:" tokens: the fields a mailer or a
 *    list adds say much about who sent it);
 *  - the registrable domain (libpsl) of every URL host, in the text and
 *    in the HTML before it was stripped ("url:example.co.uk"), and of
 *    the From/Reply-To/Return-Path addresses;
 *  - attachment types and extensions, and structural meta-tokens
 *    (HTML-only, part counts, size class, URL count).
 *
 * Everything is a pure function of the bytes: the same message always
 * gives the same set, however malformed.  A caller that needs only
 * some of the outputs says so in t->skip (SPAM_TOK_NO_*): the others
 * come out the same, and the work only they need is not done (the
 * words and the sort when no classifier reads the hashes; the header
 * fields and URLs when neither hashes nor domains are wanted).  Token text is hashed with
 * FNV-1a and a 64-bit finaliser; collisions at 64 bits are negligible
 * for models of millions of tokens.  Callers: policy/spam.c (score,
 * learn), tests/unit/test_spam.c, tests/fuzz/fuzz_spam.c.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "buf.h"
#include "mime.h"
#include "spam.h"
#include "util.h"

#define OSB_WINDOW 2		/* a word and the one before it: unigrams + bigrams */
#define WORD_MIN 3		/* shorter words are dropped */
#define WORD_MAX 40		/* longer words become skip: tokens */
#define TOKEN_TEXT_MAX 128

/* The header fields whose words are tokens, lower case. */
static const char *const token_headers[] = {
	"from", "reply-to", "to", "cc", "x-mailer", "user-agent", "content-type",
	"message-id", "list-unsubscribe", "return-path", "received", "organization",
	"x-priority", "importance", "precedence", NULL,
};
/* Fields whose address domains become url:-style domain tokens. */
static const char *const domain_headers[] = { "from", "reply-to", "return-path", "sender", NULL };

uint64_t
spam_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	/* splitmix64's finaliser: FNV's low bits are weak on short keys */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h != 0 ? h : 1;	/* 0 is the model's totals key (queue/spamdb.c) */
}

void
spam_tokens_init(struct spam_tokens *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->text, 0);
	buf_init(&t->domains, 0);
}

/* Remember registrable domain D for the domain blocklists (unique). */
static void
tok_domain(struct spam_tokens *t, const char *d)
{
	size_t n = strlen(d);
	char *needle;

	if (t->ndomains >= SPAM_MAX_DOMAINS || n == 0 || (t->skip & SPAM_TOK_NO_DOMAINS))
		return;
	if (t->domains.len > 0) {
		needle = xasprintf("\n%s\n", d);
		/* the buffer starts with a domain, not "\n": check it apart */
		if ((t->domains.len > n && memcmp(t->domains.data, d, n) == 0 &&
		    t->domains.data[n] == '\n') ||
		    memmem(t->domains.data, t->domains.len, needle, n + 2) != NULL) {
			free(needle);
			return;
		}
		free(needle);
	}
	(void)buf_append(&t->domains, d, n);
	(void)buf_append(&t->domains, "\n", 1);
	t->ndomains++;
}

void
spam_tokens_free(struct spam_tokens *t)
{
	if (t == NULL)
		return;
	free(t->h);
	buf_free(&t->text);
	buf_free(&t->domains);
	t->ndomains = 0;
	t->h = NULL;
	t->n = t->cap = 0;
}

static void
tok_add_hash(struct spam_tokens *t, uint64_t h)
{
	if (t->skip & SPAM_TOK_NO_HASHES)
		return;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->h = xrealloc(t->h, t->cap * sizeof(*t->h));
	}
	t->h[t->n++] = h != 0 ? h : 1;	/* 0 is the model's totals key */
}

/* Token PREFIX + S (LEN octets). */
static void
tok_add(struct spam_tokens *t, const char *prefix, const char *s, size_t len)
{
	char tmp[TOKEN_TEXT_MAX];
	size_t pl = strlen(prefix);

	if (t->skip & SPAM_TOK_NO_HASHES)
		return;
	if (pl + len > sizeof(tmp))
		len = sizeof(tmp) - pl;
	memcpy(tmp, prefix, pl);
	memcpy(tmp + pl, s, len);
	tok_add_hash(t, spam_hash(tmp, pl + len));
	if (t->keep_text) {
		(void)buf_append(&t->text, tmp, pl + len);
		(void)buf_append(&t->text, "\n", 1);
	}
}

static void
tok_add_str(struct spam_tokens *t, const char *prefix, const char *s)
{
	tok_add(t, prefix, s, strlen(s));
}

/* ---- registrable domains (libpsl) ---- */

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl_ctx;

static void
psl_init(void)
{
	/* the system's list when installed (Debian publicsuffix), else the
	 * copy built into libpsl */
	psl_ctx = psl_latest(NULL);
	if (psl_ctx == NULL)
		psl_ctx = psl_builtin();
}

void
spam_registrable_domain(const char *host, size_t len, char *out, size_t outlen)
{
	char name[256];
	const char *rd;
	size_t i, n = 0;
	int dots = 0, alpha = 0;

	out[0] = '\0';
	while (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(name) || outlen == 0)
		return;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)host[i]);

		if (!(isalnum(c) || c == '-' || c == '.'))
			return;
		if (c == '.')
			dots++;
		else if (isalpha(c))
			alpha = 1;
		name[n++] = (char)c;
	}
	name[n] = '\0';
	if (dots == 0 || !alpha)
		return;	/* a bare label or an IPv4 literal */
	pthread_once(&psl_once, psl_init);
	rd = psl_ctx != NULL ? psl_registrable_domain(psl_ctx, name) : NULL;
	str_copy(out, rd != NULL ? rd : name, outlen);
}

/* ---- words ---- */

/* isalnum() of the C locale, spelt out: the ctype call per byte was a
 * tenth of a large message's tokenising (issue 20). */
static inline int
ascii_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Octets words are made of: ASCII letters and digits, every 8-bit
 * octet (UTF-8 text) and ' $ - _ . @ ! %. */
static const unsigned char word_octet[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, [0x80 ... 0xff] = 1,
	['\''] = 1, ['$'] = 1, ['-'] = 1, ['_'] = 1, ['.'] = 1, ['@'] = 1, ['!'] = 1, ['%'] = 1,
};

static inline int
word_char(unsigned char c)
{
	return word_octet[c];
}

/* PREFIX then the decimal digits of V into OUT (OUTLEN > 24 + strlen(PREFIX)). */
static size_t
fmt_class(char *out, const char *prefix, size_t pl, size_t v)
{
	char d[24];
	size_t n = 0, i;

	memcpy(out, prefix, pl);
	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	for (i = 0; i < n; i++)
		out[pl + i] = d[n - 1 - i];
	return pl + n;
}

/* The word stream of one part: OSB pairs need the last four words. */
struct osb {
	uint64_t prev[OSB_WINDOW - 1];	/* hashes of the previous words, [0] newest */
	size_t nprev;
};

/* Emit word W (already normalised) as unigram and OSB pairs. */
static void
osb_word(struct spam_tokens *t, struct osb *o, const char *w, size_t n)
{
	uint64_t h = spam_hash(w, n);
	size_t d;

	tok_add_hash(t, h);
	if (t->keep_text) {
		(void)buf_append(&t->text, w, n);
		(void)buf_append(&t->text, "\n", 1);
	}
	for (d = 0; d < o->nprev; d++) {
		/* pair (earlier word, distance, this word): order-sensitive */
		uint64_t p = o->prev[d] * 0x9e3779b97f4a7c15ULL + (uint64_t)(d + 1) * 0x632be59bd9b4e019ULL;

		tok_add_hash(t, spam_hash((const char *)&p, sizeof(p)) ^ h);
	}
	memmove(o->prev + 1, o->prev, (OSB_WINDOW - 2) * sizeof(o->prev[0]));
	o->prev[0] = h;
	if (o->nprev < OSB_WINDOW - 1)
		o->nprev++;
}

/*
 * Normalise one raw word W into OUT; returns its length, 0 to drop it.
 * Trailing and leading punctuation goes, ASCII is lower-cased; long
 * words and numbers become length classes.
 */
static size_t
word_norm(const char *w, size_t n, char *out, size_t outlen)
{
	size_t i, digits = 0;

	while (n > 0 && (w[0] == '.' || w[0] == '\'' || w[0] == '-' || w[0] == '_' || w[0] == '!' ||
	    w[0] == '%' || w[0] == '@')) {
		w++;
		n--;
	}
	while (n > 0 && (w[n - 1] == '.' || w[n - 1] == '\'' || w[n - 1] == '-' ||
	    w[n - 1] == '_' || w[n - 1] == '@'))
		n--;
	if (n < WORD_MIN)
		return 0;
	if (n > WORD_MAX) {
		/* "skip:%c:%zu" with the first octet lower-cased (ASCII only) */
		unsigned char c = (unsigned char)w[0];
		char pre[7] = "skip:?:";

		pre[5] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		return fmt_class(out, pre, 7, n / 10 * 10);
	}
	for (i = 0; i < n; i++)
		if (w[i] >= '0' && w[i] <= '9')
			digits++;
	if (digits == n && n > 4)
		return fmt_class(out, "num:", 4, n);
	for (i = 0; i < n && i < outlen; i++) {
		unsigned char c = (unsigned char)w[i];

		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	return i;
}

/* Words of TEXT into T; with PREFIX as prefixed unigrams, else OSB. */
static void
words(struct spam_tokens *t, const char *text, size_t len, const char *prefix)
{
	struct osb o;
	char norm[64];
	size_t i = 0;

	if (t->skip & SPAM_TOK_NO_HASHES)
		return;	/* words are hashes only */
	memset(&o, 0, sizeof(o));
	while (i < len) {
		size_t s, n;

		while (i < len && !word_char((unsigned char)text[i]))
			i++;
		s = i;
		while (i < len && word_char((unsigned char)text[i]))
			i++;
		if (i == s)
			break;
		n = word_norm(text + s, i - s, norm, sizeof(norm));
		if (n == 0)
			continue;
		if (prefix != NULL)
			tok_add(t, prefix, norm, n);
		else
			osb_word(t, &o, norm, n);
	}
}

/* ---- URLs ---- */

static int
host_char(unsigned char c)
{
	return ascii_alnum(c) || c == '-' || c == '.' || c >= 0x80;
}

static size_t
url_domain(struct spam_tokens *t, const char *host, size_t n)
{
	char rd[256];

	spam_registrable_domain(host, n, rd, sizeof(rd));
	if (rd[0] != '\0') {
		tok_add_str(t, "url:", rd);
		tok_domain(t, rd);
		return 1;
	}
	if (n > 0 && isdigit((unsigned char)host[0])) {
		tok_add_str(t, "url:", "*ip-literal*");
		return 1;
	}
	return 0;
}

/* The first offset from I (below LEN - 4) holding h, H, w or W, or LEN. */
static size_t
url_candidate(const char *text, size_t i, size_t len)
{
#if defined(__SSE2__)
	const __m128i fold = _mm_set1_epi8(0x20), h = _mm_set1_epi8('h'), w = _mm_set1_epi8('w');

	while (i + 4 + 16 <= len) {
		__m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(text + i)),
		    fold);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(a, h),
		    _mm_cmpeq_epi8(a, w)));

		if (m != 0)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
#endif
	while (i + 4 < len && (text[i] | 0x20) != 'h' && (text[i] | 0x20) != 'w')
		i++;
	return i + 4 < len ? i : len;
}

/* Every http(s):// and www. host of TEXT; returns how many. */
static size_t
urls(struct spam_tokens *t, const char *text, size_t len)
{
	size_t i = 0, count = 0;

	while (i + 4 < len) {
		const char *p;
		size_t h = 0, e;

		/* only h/H/w/W can start a URL: skip the rest at once */
		i = url_candidate(text, i, len);
		if (i + 4 >= len)
			break;
		p = text + i;
		if ((p[0] == 'h' || p[0] == 'H') && len - i > 7 && mem_casecmp(p, "http", 4) == 0) {
			size_t k = 4;

			if (k < len - i && (p[k] == 's' || p[k] == 'S'))
				k++;
			if (len - i >= k + 3 && memcmp(p + k, "://", 3) == 0)
				h = i + k + 3;
		} else if ((p[0] == 'w' || p[0] == 'W') && mem_casecmp(p, "www.", 4) == 0 &&
		    (i == 0 || !host_char((unsigned char)text[i - 1]))) {
			h = i;
		}
		if (h == 0) {
			i++;
			continue;
		}
		/* skip user:pass@ */
		e = h;
		while (e < len && host_char((unsigned char)text[e]))
			e++;
		if (e < len && text[e] == '@') {
			h = e + 1;
			for (e = h; e < len && host_char((unsigned char)text[e]); e++)
				;
		}
		count += url_domain(t, text + h, e - h);
		i = e > i ? e : i + 1;
	}
	return count;
}

/* ---- the message ---- */

struct tok_ctx {
	struct spam_tokens *t;
	const char *raw;
	size_t rawlen;
	size_t ntext, nhtml, nplain, nattach, nurls, lines;
	int urls;		/* the URLs are wanted (hashes or domains) */
	struct buf html;	/* decoded HTML of the current part (for hrefs) */
};

/* 1 when "http" occurs in S (N octets): memchr to each 'h' (glibc's
 * memmem per line cost more than the rest of the line's shape). */
static int
has_http(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	while (end - p >= 4 && (p = memchr(p, 'h', (size_t)(end - p - 3))) != NULL) {
		if (p[1] == 't' && p[2] == 't' && p[3] == 'p')
			return 1;
		p++;
	}
	return 0;
}

/* 1 when S (N octets) holds an ASCII digit; sixteen octets at a time
 * where SSE2 is there (issue 20: an octet at a time, this was most of
 * the spam stage's own cost once the token set is skipped). */
static int
has_digit(const char *s, size_t n)
{
	size_t k = 0;

#if defined(__SSE2__)
	const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);

	for (; k + 16 <= n; k += 16) {
		__m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + k)), zero);

		/* D - '0' <= 9 as unsigned octets: min(d, 9) == d */
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d)) != 0)
			return 1;
	}
#endif
	for (; k < n; k++)
		if (s[k] >= '0' && s[k] <= '9')
			return 1;
	return 0;
}

/* Fold the shapes of TEXT's lines (length class, digits, URL, leading
 * capital) into T->template_h: two messages from one template share
 * it whatever their words and numbers. */
static void
template_fold(struct spam_tokens *t, const char *text, size_t len, size_t *lines)
{
	size_t i = 0;

	while (i < len && *lines < 64) {
		const char *eol = memchr(text + i, '\n', len - i);
		size_t e = eol ? (size_t)(eol - text) : len, n = e - i;
		unsigned shape, digits, url;

		while (n > 0 && (text[i + n - 1] == '\r' || text[i + n - 1] == ' '))
			n--;
		if (n > 0) {
			digits = (unsigned)has_digit(text + i, n);
			url = n > 7 && has_http(text + i, n);
			shape = (unsigned)(n < 240 ? n / 16 : 15) | digits << 4 | url << 5 |
			    (unsigned)(isupper((unsigned char)text[i]) != 0) << 6;
			t->template_h = (t->template_h ^ shape) * 0x100000001b3ULL;
			(*lines)++;
		}
		i = e + 1;
	}
}

static void
part_text(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct tok_ctx *c = arg;

	if (part->no == 0)
		return;	/* part 0 (Subject, filenames) is read from the parser at the end */
	c->ntext++;
	if (part->html) {
		c->nhtml++;
		/* the hrefs are gone from TEXT: look at the decoded HTML */
		if (c->urls && part->body_end > part->body_start && part->body_end <= c->rawlen) {
			buf_reset(&c->html);
			(void)mime_decode(part->cte, c->raw + part->body_start,
			    part->body_end - part->body_start, &c->html);
			c->nurls += urls(c->t, c->html.data ? c->html.data : "", c->html.len);
		}
	} else if (strcmp(part->type, "text/plain") == 0) {
		c->nplain++;
	}
	if (c->urls)
		c->nurls += urls(c->t, text, len);
	words(c->t, text, len, NULL);
	if (!(c->t->skip & SPAM_TOK_NO_TEMPLATE))
		template_fold(c->t, text, len, &c->lines);
}

/* Header fields of the top-level header (unfolded, RFC 5322 §2.2.3). */
static void
header_tokens(struct tok_ctx *c, const char *msg, size_t len)
{
	struct buf field, val;
	size_t i = 0;

	buf_init(&field, 64 * 1024);
	buf_init(&val, 0);
	while (i < len) {
		const char *eol = memchr(msg + i, '\n', len - i);
		size_t next = eol ? (size_t)(eol - msg) + 1 : len, e = next;
		const char *colon;
		char name[40];
		size_t nl, k;

		if (msg[i] == '\r' || msg[i] == '\n')
			break;	/* the empty line */
		while (e < len && (msg[e] == ' ' || msg[e] == '\t')) {
			eol = memchr(msg + e, '\n', len - e);
			e = eol ? (size_t)(eol - msg) + 1 : len;
		}
		colon = memchr(msg + i, ':', next - i);
		if (colon == NULL || (size_t)(colon - (msg + i)) >= sizeof(name)) {
			i = e;
			continue;
		}
		nl = (size_t)(colon - (msg + i));
		for (k = 0; k < nl; k++)
			name[k] = (char)tolower((unsigned char)msg[i + k]);
		name[nl] = '\0';
		for (k = 0; token_headers[k] != NULL; k++)
			if (strcmp(name, token_headers[k]) == 0)
				break;
		if (token_headers[k] == NULL && strcmp(name, "subject") != 0) {
			/* any other field (the Subject is read apart): its name,
			 * and its words as head: words */
			buf_reset(&val);
			mime_decode_header(colon + 1, (size_t)((msg + e) - (colon + 1)), &val);
			tok_add_str(c->t, "hdr:", name);
			words(c->t, val.data ? val.data : "", val.len, "head:");
		} else if (token_headers[k] != NULL) {
			char prefix[48];
			const char *v = colon + 1;
			size_t vl = (size_t)((msg + e) - v);

			buf_reset(&val);
			mime_decode_header(v, vl, &val);
			snprintf(prefix, sizeof(prefix), "%s:", name);
			words(c->t, val.data ? val.data : "", val.len, prefix);
			for (k = 0; domain_headers[k] != NULL; k++)
				if (strcmp(name, domain_headers[k]) == 0) {
					const char *at = val.data ? memchr(val.data, '@', val.len) : NULL;

					if (at != NULL) {
						size_t s = (size_t)(at - val.data) + 1, q = s;

						while (q < val.len && host_char((unsigned char)val.data[q]))
							q++;
						if (q > s) {
							char rd[256];

							spam_registrable_domain(val.data + s, q - s, rd,
							    sizeof(rd));
							if (rd[0] != '\0') {
								snprintf(prefix, sizeof(prefix), "%s-domain:",
								    name);
								tok_add_str(c->t, prefix, rd);
								tok_domain(c->t, rd);
							}
						}
					}
					break;
				}
		}
		i = e;
	}
	buf_free(&field);
	buf_free(&val);
}

static const char *
size_class(size_t n)
{
	static const char *const cls[] = { "1k", "4k", "16k", "64k", "256k", "1m", "big" };
	size_t i, lim = 1024;

	for (i = 0; i < ARRAY_SIZE(cls) - 1; i++, lim *= 4)
		if (n < lim)
			return cls[i];
	return cls[ARRAY_SIZE(cls) - 1];
}

/*
 * Sort V ascending: LSD radix sort, a byte per pass, passes in which
 * every value has the same byte skipped; a Shell sort for short sets.  Issue 20: qsort() with a
 * compare callback was a tenth of a large message's tokenising.
 */
static void
sort_u64(uint64_t *v, size_t n)
{
	uint64_t *tmp, *src = v, *dst;
	size_t count[256], i, pass;

	if (n < 2)
		return;
	if (n < 512) {
		/* few tokens (a short message): eight passes over 256 counters
		 * would cost more than a Shell sort (Ciura's gaps) */
		static const size_t gaps[] = { 301, 132, 57, 23, 10, 4, 1 };
		size_t g, j;

		for (g = 0; g < ARRAY_SIZE(gaps); g++)
			for (i = gaps[g]; i < n; i++) {
				uint64_t x = v[i];

				for (j = i; j >= gaps[g] && v[j - gaps[g]] > x; j -= gaps[g])
					v[j] = v[j - gaps[g]];
				v[j] = x;
			}
		return;
	}
	tmp = xmalloc(n * sizeof(*tmp));
	dst = tmp;
	for (pass = 0; pass < 8; pass++) {
		unsigned shift = (unsigned)pass * 8;
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xff]++;
		if (count[(src[0] >> shift) & 0xff] == n)
			continue;	/* one byte value throughout: order unchanged */
		for (i = 0; i < 256; i++) {
			size_t c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xff]++] = src[i];
		dst = src;
		src = src == v ? tmp : v;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
}

void
spam_tokenize(const char *msg, size_t len, struct spam_tokens *t)
{
	/* the stage's own limits: enough for real mail, bounded for bombs */
	struct mime_limits lim = { 10, 200, 8u << 20 };
	struct tok_ctx c;
	struct mime_parser *p;
	size_t i, n;
	char num[32];

	/* an mbox separator line ("From addr date", files saved by mail
	 * clients and corpora) is not part of the message (RFC 4155) */
	if (len > 5 && memcmp(msg, "From ", 5) == 0) {
		const char *eol = memchr(msg, '\n', len);

		if (eol != NULL) {
			len -= (size_t)(eol + 1 - msg);
			msg = eol + 1;
		}
	}
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.raw = msg;
	c.rawlen = len;
	c.urls = (t->skip & (SPAM_TOK_NO_HASHES | SPAM_TOK_NO_DOMAINS)) !=
	    (SPAM_TOK_NO_HASHES | SPAM_TOK_NO_DOMAINS);
	t->template_h = 0xcbf29ce484222325ULL;
	if ((t->skip & (SPAM_TOK_NO_HASHES | SPAM_TOK_NO_DOMAINS | SPAM_TOK_NO_TEMPLATE)) ==
	    (SPAM_TOK_NO_HASHES | SPAM_TOK_NO_DOMAINS | SPAM_TOK_NO_TEMPLATE))
		return;	/* nothing wanted: no parse */
	buf_init(&c.html, 8u << 20);
	if (c.urls)
		header_tokens(&c, msg, len);
	p = mime_new(&lim, part_text, &c);
	(void)mime_feed(p, msg, len);
	(void)mime_finish(p);

	/* every leaf part: its type, attachment extension and filename words */
	for (i = 0; i < mime_nparts(p); i++) {
		const struct mime_part *mp = mime_part_at(p, i);

		if (mp->multipart)
			continue;
		tok_add_str(t, "ct:", mp->type);
		if (mp->filename[0] != '\0') {
			const char *dot = strrchr(mp->filename, '.');

			c.nattach++;
			if (dot != NULL && strlen(dot + 1) < 12) {
				char ext[16];
				size_t k;

				for (k = 0; dot[1 + k] != '\0' && k < sizeof(ext) - 1; k++)
					ext[k] = (char)tolower((unsigned char)dot[1 + k]);
				ext[k] = '\0';
				tok_add_str(t, "attach:", ext);
			}
			words(t, mp->filename, strlen(mp->filename), "filename:");
		}
		if (mp->cte == MIME_CTE_BASE64 && mp->text)
			tok_add_str(t, "meta:", "base64-text");
	}
	if (c.urls) {
		/* the Subject: what the parser decoded (RFC 2047) */
		struct buf s;
		size_t off;

		buf_init(&s, 0);
		for (off = 0; off < len;) {
			const char *eol = memchr(msg + off, '\n', len - off);
			size_t next = eol ? (size_t)(eol - msg) + 1 : len, e = next;

			if (msg[off] == '\r' || msg[off] == '\n')
				break;
			while (e < len && (msg[e] == ' ' || msg[e] == '\t')) {
				eol = memchr(msg + e, '\n', len - e);
				e = eol ? (size_t)(eol - msg) + 1 : len;
			}
			if (next - off > 8 && mem_casecmp(msg + off, "subject:", 8) == 0) {
				mime_decode_header(msg + off + 8, e - off - 8, &s);
				break;
			}
			off = e;
		}
		if (s.len == 0)
			tok_add_str(t, "meta:", "no-subject");
		words(t, s.data ? s.data : "", s.len, "subject:");
		c.nurls += urls(t, s.data ? s.data : "", s.len);
		buf_free(&s);
	}
	if (mime_limit_hit(p) != MIME_LIMIT_NONE)
		tok_add_str(t, "meta:limit:", mime_strlimit(mime_limit_hit(p)));
	n = mime_nparts(p);
	mime_free(p);
	buf_free(&c.html);

	/* structure */
	if (c.nhtml > 0 && c.nplain == 0)
		tok_add_str(t, "meta:", "html-only");
	if (c.ntext == 0)
		tok_add_str(t, "meta:", "no-text");
	snprintf(num, sizeof(num), "%zu", n < 10 ? n : 10);
	tok_add_str(t, "meta:parts:", num);
	snprintf(num, sizeof(num), "%zu", c.nattach < 5 ? c.nattach : 5);
	tok_add_str(t, "meta:attachments:", num);
	snprintf(num, sizeof(num), "%zu", c.nurls < 10 ? c.nurls : 10);
	tok_add_str(t, "meta:urls:", num);
	tok_add_str(t, "meta:size:", size_class(len));

	/* a set: sorted, unique */
	sort_u64(t->h, t->n);
	for (i = n = 0; i < t->n; i++)
		if (n == 0 || t->h[n - 1] != t->h[i])
			t->h[n++] = t->h[i];
	t->n = n;
}
