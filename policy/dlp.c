/* SPDX-License-Identifier: ISC */
/*
 * dlp.c: the sensitive-data detectors (issue 7).  Pure functions over
 * decoded UTF-8 text; no I/O, no globals that change.
 *
 * The scanner is a digit-run state machine: it skips to the next ASCII
 * digit sixteen bytes at a time (SSE2 where available), then reads the
 * whole run of digit groups joined by single spaces or dashes once, and
 * classifies it: SSN (3-2-4 with one separator style, or nine bare
 * digits next to a keyword), payment card (a window of 12-19 digits,
 * contiguous or grouped 4-then-3..6, whose prefix and length match the
 * IIN table below and whose Luhn check passes), or IBAN (two capital
 * letters right before the digits, the country's length, mod 97 == 1).
 * A run glued to letters or to other tokens by '-', '.', '/', '+' ...
 * (UUIDs, tracking numbers, decimals, phone numbers) is not a candidate,
 * and a contiguous run longer than 19 digits never contains a card.
 * Each input byte is looked at a bounded number of times, so the cost
 * is linear in the text whatever it contains.
 *
 * Confidence starts from a per-type base and is raised when a keyword
 * ("card", "visa", "ssn", "iban", ...) appears shortly before the value.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dlp.h"
#include "util.h"

#define MAX_GROUPS 24
#define KEYWORD_WINDOW 48

static const char *const type_names[DLP_NTYPES] = {
	"card", "card_test", "ssn", "iban",
};

static const char *const action_names[] = {
	"ignore", "tag", "redact", "hold", "reject",
};

const char *
dlp_strtype(enum dlp_type t)
{
	return (unsigned)t < DLP_NTYPES ? type_names[t] : "unknown";
}

const char *
dlp_straction(enum dlp_action a)
{
	return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a] : "unknown";
}

int
dlp_parse_action(const char *s, enum dlp_action *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(action_names); i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum dlp_action)i;
			return 0;
		}
	}
	return -1;
}

void
dlp_findings_init(struct dlp_findings *f)
{
	memset(f, 0, sizeof(*f));
}

void
dlp_findings_free(struct dlp_findings *f)
{
	if (f == NULL)
		return;
	free(f->v);
	memset(f, 0, sizeof(*f));
}

size_t
dlp_findings_total(const struct dlp_findings *f)
{
	size_t i, n = 0;

	for (i = 0; i < DLP_NTYPES; i++)
		n += f->count[i];
	return n;
}

static void
findings_add(struct dlp_findings *f, enum dlp_type type, unsigned confidence,
    unsigned part, size_t offset, size_t len, const char *brand)
{
	struct dlp_finding *d;

	f->count[type]++;
	if (f->n >= DLP_MAX_STORED)
		return;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	d = &f->v[f->n++];
	d->type = type;
	d->confidence = confidence > 100 ? 100 : confidence;
	d->part = part;
	d->offset = offset;
	d->len = len;
	str_copy(d->brand, brand ? brand : "", sizeof(d->brand));
}

/* ---- character classes (ASCII only: the scanner works on UTF-8 bytes) ---- */

static inline int
is_digit(unsigned char c)
{
	return (unsigned)(c - '0') < 10;
}

static inline int
is_upper(unsigned char c)
{
	return (unsigned)(c - 'A') < 26;
}

static inline int
is_alnum(unsigned char c)
{
	return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 26;
}

/* Characters that glue a digit run to a neighbouring token (UUIDs,
 * versions, decimals, paths, phone numbers in +CC form, e-mail). */
static inline int
is_joiner(unsigned char c)
{
	return c == '-' || c == '.' || c == '/' || c == '_' || c == '+' || c == '@'
	    || c == '\\';
}

/* Next ASCII digit at or after P, or END. */
static const char *
next_digit(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i lo = _mm_set1_epi8('0' - 1);
	const __m128i hi = _mm_set1_epi8('9' + 1);

	while (end - p >= 32) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
		__m128i da = _mm_and_si128(_mm_cmpgt_epi8(a, lo), _mm_cmplt_epi8(a, hi));
		__m128i db = _mm_and_si128(_mm_cmpgt_epi8(b, lo), _mm_cmplt_epi8(b, hi));
		unsigned m = (unsigned)_mm_movemask_epi8(da)
		    | ((unsigned)_mm_movemask_epi8(db) << 16);

		if (m != 0)
			return p + __builtin_ctz(m);
		p += 32;
	}
#endif
	while (p < end && !is_digit((unsigned char)*p))
		p++;
	return p;
}

/* ---- checks ---- */

int
dlp_luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;
	size_t i;
	int dbl = 0;

	if (n == 0)
		return 0;
	for (i = n; i-- > 0;) {
		unsigned v = (unsigned)(d[i] - '0');

		if (v > 9)
			return 0;
		if (dbl) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

#define LEN(n) (1u << (n))
#define LEN_16_19 (LEN(16) | LEN(17) | LEN(18) | LEN(19))

/* IIN ranges: the first NDIG digits of the number in [LO, HI]. */
struct iin {
	const char *brand;
	unsigned ndig;
	unsigned lo, hi;
	uint32_t lengths;	/* bit n set: length n allowed */
};

static const struct iin iin_table[] = {
	{ "amex", 2, 34, 34, LEN(15) },
	{ "amex", 2, 37, 37, LEN(15) },
	{ "mir", 4, 2200, 2204, LEN_16_19 },
	{ "mastercard", 4, 2221, 2720, LEN(16) },
	{ "mastercard", 2, 51, 55, LEN(16) },
	{ "visa", 1, 4, 4, LEN(13) | LEN(16) | LEN(19) },
	{ "diners", 3, 300, 305, LEN(14) | LEN_16_19 },
	{ "diners", 2, 36, 36, LEN(14) | LEN_16_19 },
	{ "diners", 2, 38, 39, LEN(14) | LEN_16_19 },
	{ "jcb", 4, 3528, 3589, LEN_16_19 },
	{ "discover", 4, 6011, 6011, LEN_16_19 },
	{ "discover", 3, 644, 649, LEN_16_19 },
	{ "discover", 2, 65, 65, LEN_16_19 },
	{ "unionpay", 2, 62, 62, LEN_16_19 },
	/* Maestro: only its dedicated ranges, 12-19 digits. */
	{ "maestro", 4, 5018, 5018, 0xff000u },
	{ "maestro", 4, 5020, 5020, 0xff000u },
	{ "maestro", 4, 5038, 5038, 0xff000u },
	{ "maestro", 4, 5893, 5893, 0xff000u },
	{ "maestro", 4, 6304, 6304, 0xff000u },
	{ "maestro", 4, 6759, 6759, 0xff000u },
	{ "maestro", 4, 6761, 6763, 0xff000u },
};

const char *
dlp_card_brand(const char *d, size_t n)
{
	static const unsigned div[5] = { 0, 1000, 100, 10, 1 };
	unsigned p4 = 0;
	size_t i;

	/* No card number starts with 0, 1, 7, 8 or 9. */
	if (n < 12 || n > 19 || d[0] < '2' || d[0] > '6')
		return NULL;
	for (i = 0; i < 4; i++)
		p4 = p4 * 10 + (unsigned)(d[i] - '0');
	for (i = 0; i < ARRAY_SIZE(iin_table); i++) {
		const struct iin *t = &iin_table[i];
		unsigned v = p4 / div[t->ndig];

		if (v >= t->lo && v <= t->hi && (t->lengths & LEN(n)))
			return t->brand;
	}
	return NULL;
}

/* Published test numbers of the big processors and card schemes. */
static const char *const test_cards[] = {
	"4111111111111111", "4012888888881881", "4222222222222", "4242424242424242",
	"4000056655665556", "4000000000000002", "4000000000000077", "4000000000000010",
	"4000000000003220", "4000002500003155", "4000000000009995", "4111111111111111110",
	"4917610000000000", "4462030000000000", "4484070000000000",
	"5555555555554444", "5105105105105100", "5200828282828210", "5454545454545454",
	"2223003122003222", "2223000048400011", "5431111111111111",
	"378282246310005", "371449635398431", "378734493671000", "340000000000009",
	"6011111111111117", "6011000990139424", "6011000000000012", "6011601160116611",
	"6445644564456445",
	"30569309025904", "38520000023237", "36227206271667", "36259600000004",
	"3530111333300000", "3566002020360505", "3566111111111113",
	"6200000000000005", "6205500000000000004", "6250941006528599",
	"6759649826438453", "6799990100000000019", "5018000000000009",
	"2200000000000004",
};

int
dlp_card_is_test(const char *d, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(test_cards); i++)
		if (strlen(test_cards[i]) == n && memcmp(test_cards[i], d, n) == 0)
			return 1;
	return 0;
}

/* IBAN lengths per country (SWIFT IBAN registry). */
static const struct {
	char cc[3];
	unsigned char len;
} iban_table[] = {
	{ "AD", 24 }, { "AE", 23 }, { "AL", 28 }, { "AT", 20 }, { "AZ", 28 },
	{ "BA", 20 }, { "BE", 16 }, { "BG", 22 }, { "BH", 22 }, { "BI", 27 },
	{ "BR", 29 }, { "BY", 28 }, { "CH", 21 }, { "CR", 22 }, { "CY", 28 },
	{ "CZ", 24 }, { "DE", 22 }, { "DJ", 27 }, { "DK", 18 }, { "DO", 28 },
	{ "EE", 20 }, { "EG", 29 }, { "ES", 24 }, { "FI", 18 }, { "FK", 18 },
	{ "FO", 18 }, { "FR", 27 }, { "GB", 22 }, { "GE", 22 }, { "GI", 23 },
	{ "GL", 18 }, { "GR", 27 }, { "GT", 28 }, { "HR", 21 }, { "HU", 28 },
	{ "IE", 22 }, { "IL", 23 }, { "IQ", 23 }, { "IS", 26 }, { "IT", 27 },
	{ "JO", 30 }, { "KW", 30 }, { "KZ", 20 }, { "LB", 28 }, { "LC", 32 },
	{ "LI", 21 }, { "LT", 20 }, { "LU", 20 }, { "LV", 21 }, { "LY", 25 },
	{ "MC", 27 }, { "MD", 24 }, { "ME", 22 }, { "MK", 19 }, { "MN", 20 },
	{ "MR", 27 }, { "MT", 31 }, { "MU", 30 }, { "NI", 28 }, { "NL", 18 },
	{ "NO", 15 }, { "OM", 23 }, { "PK", 24 }, { "PL", 28 }, { "PS", 29 }, { "PT", 25 },
	{ "QA", 29 }, { "RO", 24 }, { "RS", 22 }, { "RU", 33 }, { "SA", 24 },
	{ "SC", 31 }, { "SD", 18 }, { "SE", 24 }, { "SI", 19 }, { "SK", 24 },
	{ "SM", 27 }, { "SO", 23 }, { "ST", 25 }, { "SV", 28 }, { "TL", 23 },
	{ "TN", 24 }, { "TR", 26 }, { "UA", 29 }, { "VA", 22 }, { "VG", 24 },
	{ "XK", 20 }, { "YE", 30 },
};

static unsigned
iban_length(const char *cc)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(iban_table); i++)
		if (iban_table[i].cc[0] == cc[0] && iban_table[i].cc[1] == cc[1])
			return iban_table[i].len;
	return 0;
}

int
dlp_iban_ok(const char *s, size_t len)
{
	unsigned r = 0;
	size_t i;

	if (len < 15 || len > 34 || !is_upper((unsigned char)s[0])
	    || !is_upper((unsigned char)s[1]) || !is_digit((unsigned char)s[2])
	    || !is_digit((unsigned char)s[3]) || iban_length(s) != len)
		return 0;
	/* ISO 13616: move the first four characters to the end, letters
	 * become 10..35, the number mod 97 must be 1. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[(i + 4) % len];

		if (is_digit(c))
			r = (r * 10 + (c - '0')) % 97;
		else if (is_upper(c))
			r = (r * 100 + (c - 'A' + 10)) % 97;
		else
			return 0;
	}
	return r == 1;
}

/* ---- keywords ---- */

static const char *const card_keywords[] = {
	"card", "visa", "mastercard", "amex", "american express", "discover", "credit",
	"debit", "cc#", "ccn", "pan", "payment", "kreditkarte", "carte", "tarjeta", NULL,
};
static const char *const ssn_keywords[] = {
	"ssn", "social security", "soc sec", "ss#", "ss #", "taxpayer", "tin", NULL,
};
static const char *const iban_keywords[] = {
	"iban", "bank", "account", "konto", "transfer", "sepa", "bic", NULL,
};

/* 1 when one of WORDS occurs in the KEYWORD_WINDOW bytes before POS
 * (on the same line only when SAME_LINE). */
static int
keyword_near_in(const char *text, size_t pos, const char *const *words, int same_line)
{
	char win[KEYWORD_WINDOW + 1];
	size_t start = pos > KEYWORD_WINDOW ? pos - KEYWORD_WINDOW : 0, n, i;

	if (same_line) {
		for (i = pos; i > start; i--) {
			if (text[i - 1] == '\n') {
				start = i;
				break;
			}
		}
	}
	n = pos - start;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[start + i];

		win[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
	}
	win[n] = '\0';
	for (i = 0; words[i] != NULL; i++) {
		const char *hit = memmem(win, n, words[i], strlen(words[i]));

		/* Whole-word start, so "tin" does not fire inside "setting". */
		if (hit == NULL)
			continue;
		if (hit > win ? !is_alnum((unsigned char)hit[-1])
		    : start == 0 || !is_alnum((unsigned char)text[start - 1]))
			return 1;
	}
	return 0;
}

static int
keyword_near(const char *text, size_t pos, const char *const *words)
{
	return keyword_near_in(text, pos, words, 0);
}

/* ---- classification of one digit run ---- */

struct run {
	const char *text;
	size_t textlen;
	unsigned part;
	struct dlp_findings *out;
	size_t n;			/* groups */
	const char *gs[MAX_GROUPS];	/* group starts */
	unsigned gl[MAX_GROUPS];	/* group lengths */
	char sep[MAX_GROUPS];		/* separator after group i */
	int start_ok, end_ok;
	size_t added;
};

static int
ssn_ok(const char *a, const char *g, const char *s)
{
	static const char *const excluded[] = {
		"078051120", "219099999", "123456789", "457555462",
	};
	char d[9];
	unsigned area = (unsigned)((a[0] - '0') * 100 + (a[1] - '0') * 10 + (a[2] - '0'));
	size_t i;

	if (area == 0 || area == 666 || area >= 900)
		return 0;
	if (g[0] == '0' && g[1] == '0')
		return 0;
	if (memcmp(s, "0000", 4) == 0)
		return 0;
	memcpy(d, a, 3);
	memcpy(d + 3, g, 2);
	memcpy(d + 5, s, 4);
	for (i = 0; i < ARRAY_SIZE(excluded); i++)
		if (memcmp(d, excluded[i], 9) == 0)
			return 0;
	return 1;
}

static int
run_ssn(struct run *r)
{
	size_t off = (size_t)(r->gs[0] - r->text);

	if (!r->start_ok || !r->end_ok)
		return 0;
	if (r->n == 3 && r->gl[0] == 3 && r->gl[1] == 2 && r->gl[2] == 4
	    && r->sep[0] == r->sep[1]) {
		if (!ssn_ok(r->gs[0], r->gs[1], r->gs[2]))
			return 0;
		findings_add(r->out, DLP_SSN,
		    keyword_near(r->text, off, ssn_keywords) ? 95 : 70, r->part, off,
		    (size_t)(r->gs[2] + 4 - r->gs[0]), NULL);
		r->added++;
		return 1;
	}
	/* Nine bare digits are an SSN only with a keyword on the same line. */
	if (r->n == 1 && r->gl[0] == 9 && keyword_near_in(r->text, off, ssn_keywords, 1)) {
		if (!ssn_ok(r->gs[0], r->gs[0] + 3, r->gs[0] + 5))
			return 0;
		findings_add(r->out, DLP_SSN, 85, r->part, off, 9, NULL);
		r->added++;
		return 1;
	}
	return 0;
}

/* Try the window of groups I..J as a card number. */
static int
window_card(struct run *r, size_t i, size_t j)
{
	char d[20];
	size_t n = 0, k, off;
	const char *brand;
	unsigned conf;

	if (i == j) {
		if (r->gl[i] < 12 || r->gl[i] > 19)
			return 0;
	} else {
		if (r->gl[i] != 4)
			return 0;
		for (k = i + 1; k <= j; k++) {
			if (r->gl[k] < 3 || r->gl[k] > 6 || r->sep[k - 1] != r->sep[i])
				return 0;
		}
	}
	for (k = i; k <= j; k++) {
		if (n + r->gl[k] > 19)
			return 0;
		memcpy(d + n, r->gs[k], r->gl[k]);
		n += r->gl[k];
	}
	if (n < 12 || (brand = dlp_card_brand(d, n)) == NULL || !dlp_luhn_ok(d, n))
		return 0;
	off = (size_t)(r->gs[i] - r->text);
	conf = 60;
	if (keyword_near(r->text, off, card_keywords))
		conf += 30;
	if (i != j)
		conf += 5;
	findings_add(r->out, dlp_card_is_test(d, n) ? DLP_CARD_TEST : DLP_CARD, conf, r->part,
	    off, (size_t)(r->gs[j] + r->gl[j] - r->gs[i]), brand);
	r->added++;
	return 1;
}

static void
run_cards(struct run *r)
{
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		/* A window starts at the run's clean start, or after a short
		 * group (a quantity, "Qty 2 4111 ..."), never in the middle of
		 * a long structured number (but a contiguous 12-19 digit
		 * group is a token of its own wherever it stands). */
		int single_only = 0;

		if (i == 0 && !r->start_ok)
			continue;
		if (i > 0 && (r->gl[i - 1] > 3 || !r->start_ok))
			single_only = 1;	/* a contiguous number is its own token */
		for (j = r->n; j-- > i;) {
			if (single_only && j != i)
				continue;
			if (j == r->n - 1 && !r->end_ok)
				continue;
			/* A grouped number that goes on in the same style is
			 * longer than this window: no 12-digit prefix of a
			 * 4-4-4-4 order number. */
			if (j > i && j + 1 < r->n && r->sep[j] == r->sep[i] && r->gl[j + 1] >= 3)
				continue;
			if (window_card(r, i, j)) {
				i = j;
				break;
			}
		}
	}
}

/* Try an IBAN whose country code starts at S.  Returns its end or NULL. */
static const char *
try_iban(const char *text, const char *s, const char *end, unsigned part,
    struct dlp_findings *out)
{
	char v[34];
	unsigned want = iban_length(s), n = 0;
	const char *q = s;
	int spaced = 0;

	if (want == 0)
		return NULL;
	while (n < want && q < end) {
		unsigned char c = (unsigned char)*q;

		if (is_digit(c) || is_upper(c)) {
			v[n++] = (char)c;
			q++;
		} else if ((c == ' ' || c == '-') && n % 4 == 0 && n > 0 && q + 1 < end
		    && is_alnum((unsigned char)q[1]) && (n == 4 || spaced)) {
			spaced = 1;
			q++;
		} else {
			break;
		}
	}
	if (n != want || (q < end && is_alnum((unsigned char)*q)))
		return NULL;
	if (!dlp_iban_ok(v, n))
		return NULL;
	findings_add(out, DLP_IBAN,
	    keyword_near(text, (size_t)(s - text), iban_keywords) ? 98 : 85, part,
	    (size_t)(s - text), (size_t)(q - s), (char[3]){ s[0], s[1], '\0' });
	return q;
}

size_t
dlp_scan(const char *text, size_t len, unsigned part, struct dlp_findings *out)
{
	const char *p = text, *end = text + len;
	size_t added = 0;

	while ((p = next_digit(p, end)) < end) {
		struct run r;
		const char *q = p;
		size_t digits, k;

		/* IBAN: two capitals glued to the first digit, on a word start. */
		if (p - text >= 2 && is_upper((unsigned char)p[-1]) && is_upper((unsigned char)p[-2])
		    && (p - text == 2 || !is_alnum((unsigned char)p[-3]))) {
			const char *e = try_iban(text, p - 2, end, part, out);

			if (e != NULL) {
				added++;
				p = e;
				continue;
			}
		}

		/* Only the fields used are set: this runs for every digit run. */
		r.text = text;
		r.textlen = len;
		r.part = part;
		r.out = out;
		r.n = 0;
		r.added = 0;
		r.start_ok = 1;
		if (p > text) {
			unsigned char b = (unsigned char)p[-1];

			if (is_alnum(b) || b == '+')
				r.start_ok = 0;
			else if (is_joiner(b) && p - text >= 2 && is_alnum((unsigned char)p[-2]))
				r.start_ok = 0;
		}
		/* Read the run: digit groups joined by one space or dash. */
		for (;;) {
			const char *g = q;

			while (q < end && is_digit((unsigned char)*q))
				q++;
			r.gs[r.n] = g;
			r.gl[r.n] = (unsigned)(q - g > 64 ? 64 : q - g);
			if (q - g > 19) {
				/* A long digit run never holds a card: it ends the run. */
				r.gl[r.n] = 64;
			}
			r.n++;
			if (r.n < MAX_GROUPS && q + 1 < end && (*q == ' ' || *q == '-')
			    && is_digit((unsigned char)q[1])) {
				r.sep[r.n - 1] = *q;
				q++;
				continue;
			}
			break;
		}
		digits = 0;
		for (k = 0; k < r.n; k++)
			digits += r.gl[k];
		if (digits < 9) {
			/* Too short for any type: the common case in invoices. */
			while (q < end && is_alnum((unsigned char)*q))
				q++;
			p = q;
			continue;
		}
		r.end_ok = 1;
		if (q < end) {
			unsigned char c = (unsigned char)*q;

			if (is_alnum(c))
				r.end_ok = 0;
			else if (is_joiner(c) && q + 1 < end && is_alnum((unsigned char)q[1]))
				r.end_ok = 0;
		}
		if (!run_ssn(&r))
			run_cards(&r);
		added += r.added;
		/* Skip whatever alphanumerics are glued to the run's end. */
		while (q < end && is_alnum((unsigned char)*q))
			q++;
		p = q;
	}
	return added;
}

/* ---- masking ---- */

int
dlp_mask_byte(const char *span, size_t len, enum dlp_type type, size_t i)
{
	size_t k, after = 0, before = 0;
	unsigned char c = (unsigned char)span[i];

	if (type == DLP_IBAN) {
		if (!is_alnum(c))
			return 0;
		for (k = 0; k < i; k++)
			before += is_alnum((unsigned char)span[k]);
		for (k = i + 1; k < len; k++)
			after += is_alnum((unsigned char)span[k]);
		return before >= 2 && after >= 4;
	}
	if (!is_digit(c))
		return 0;
	for (k = i + 1; k < len; k++)
		after += is_digit((unsigned char)span[k]);
	return after >= 4;
}

void
dlp_mask(const char *text, size_t textlen, const struct dlp_finding *f, char *out,
    size_t outlen)
{
	size_t i, n = 0;
	const char *span = text + f->offset;
	size_t len = f->len;

	if (outlen == 0)
		return;
	if (f->offset > textlen)
		len = 0;
	else if (len > textlen - f->offset)
		len = textlen - f->offset;
	for (i = 0; i < len && n + 1 < outlen; i++) {
		unsigned char c = (unsigned char)span[i];

		out[n++] = dlp_mask_byte(span, len, f->type, i) ? '*'
		    : (c < 0x20 || c >= 0x7f ? ' ' : (char)c);
	}
	out[n] = '\0';
}
