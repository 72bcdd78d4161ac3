/* SPDX-License-Identifier: ISC */
/*
 * dlp.c: the sensitive-data detectors (issues 7 and 18).  Pure functions
 * over decoded UTF-8 text; no I/O, no globals that change.
 *
 * The scanner is a digit-run state machine: it skips to the next ASCII
 * digit 32 bytes at a time (SSE2 where available), then reads the whole
 * run of digit groups joined by 1-4 blanks, one dash or one dot once,
 * and classifies it: SSN (3-2-4 with dashes or dots; with blanks, or
 * nine bare digits, only with context: a keyword on its line or on a
 * label line before, or its CSV column's header), payment card (a
 * window of 12-19 digits, contiguous or grouped 4-then-3..6 or in fours
 * with a short last group, possibly followed by an expiry or CVV, whose
 * prefix and length match the IIN table below and whose Luhn check
 * passes), or IBAN (two letters of either case right before the digits,
 * the country's length, mod 97 == 1).  A run glued to letters or to
 * other tokens by '-', '.', '/', '+' ... (UUIDs, tracking numbers,
 * decimals, phone numbers) is not a candidate, unless the word glued on
 * its left is a label ("No.", "PAN/") or what is glued on its right an
 * expiry ("/0927"); a contiguous run longer than 19 digits never
 * contains a card.
 *
 * Text is read as it is while it is ASCII (one pass: the common case).
 * At a NUL next to a digit or a non-ASCII character that reads as
 * something else (a Unicode digit, space, dash or invisible character)
 * that pass gives up and the text is folded first (fold_text(): digits
 * to ASCII, spaces to blanks, invisibles and NULs inside a number
 * dropped) and scanned again; findings carry offsets into the original.
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

/* The same, also stopping at a non-ASCII byte (the text then needs
 * folding: dlp_scan()).  A NUL matters only next to a digit, and
 * scan_ascii() looks for it there. */
static const char *
next_digit_or_special(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i zero_char = _mm_set1_epi8('0');
	const __m128i ten = _mm_set1_epi8(10);

	while (end - p >= 32) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
		/* c ^ '0' is 0..9 for a digit, negative (as a signed byte) for
		 * c >= 0x80, and 10..127 for any other byte: one compare
		 * finds both. */
		__m128i da = _mm_cmpgt_epi8(ten, _mm_xor_si128(a, zero_char));
		__m128i db = _mm_cmpgt_epi8(ten, _mm_xor_si128(b, zero_char));
		unsigned m = (unsigned)_mm_movemask_epi8(da)
		    | ((unsigned)_mm_movemask_epi8(db) << 16);

		if (m != 0)
			return p + __builtin_ctz(m);
		p += 32;
	}
#endif
	while (p < end && !is_digit((unsigned char)*p) && (unsigned char)*p < 0x80)
		p++;
	return p;
}

/* The first byte at or after P that is not an ASCII letter or digit
 * (is_alnum), or END.  A digit glued to letters ("2nd", a product code,
 * a base64 line, a line number) is skipped this way: byte by byte it
 * was most of the scan of such text (issue 20 item 2). */
static const char *
skip_alnum(const char *p, const char *end)
{
	/* most tokens are short ("2nd", "0042"): byte by byte first */
	const char *stop = end - p > 16 ? p + 16 : end;

	while (p < stop && is_alnum((unsigned char)*p))
		p++;
	if (p < stop || p == end)
		return p;
#if defined(__SSE2__)
	const __m128i c0 = _mm_set1_epi8('0'), c9 = _mm_set1_epi8(9);
	const __m128i ca = _mm_set1_epi8('a'), c25 = _mm_set1_epi8(25);
	const __m128i c20 = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* unsigned v <= k is min(v, k) == v: digits c - '0' <= 9,
		 * letters (c | 0x20) - 'a' <= 25, as in is_alnum() */
		__m128i d = _mm_sub_epi8(x, c0);
		__m128i l = _mm_sub_epi8(_mm_or_si128(x, c20), ca);
		__m128i in = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(d, c9), d),
		    _mm_cmpeq_epi8(_mm_min_epu8(l, c25), l));
		unsigned m = (unsigned)_mm_movemask_epi8(in) ^ 0xffffu;

		if (m != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	while (p < end && is_alnum((unsigned char)*p))
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

/*
 * Checked against the published ranges (ISO/IEC 7812 register as shown
 * by the schemes and the Wikipedia "Payment card number" table, 2024):
 * Diners Club International 300-305, 3095, 36, 38-39 (14-19 digits);
 * Mir 2200-2204 (16-19); UnionPay 62 and 81 (16-19).  6771 is Laser
 * (withdrawn 2014), not Maestro, and stays out, as do other withdrawn
 * ranges: a range in the table is a way for any Luhn-valid number to
 * be reported.
 */
static const struct iin iin_table[] = {
	{ "amex", 2, 34, 34, LEN(15) },
	{ "amex", 2, 37, 37, LEN(15) },
	{ "mir", 4, 2200, 2204, LEN_16_19 },
	{ "mastercard", 4, 2221, 2720, LEN(16) },
	{ "mastercard", 2, 51, 55, LEN(16) },
	{ "visa", 1, 4, 4, LEN(13) | LEN(16) | LEN(19) },
	{ "diners", 3, 300, 305, LEN(14) | LEN_16_19 },
	{ "diners", 4, 3095, 3095, LEN(14) | LEN_16_19 },
	{ "diners", 2, 36, 36, LEN(14) | LEN_16_19 },
	{ "diners", 2, 38, 39, LEN(14) | LEN_16_19 },
	{ "jcb", 4, 3528, 3589, LEN_16_19 },
	{ "discover", 4, 6011, 6011, LEN_16_19 },
	{ "discover", 3, 644, 649, LEN_16_19 },
	{ "discover", 2, 65, 65, LEN_16_19 },
	{ "unionpay", 2, 62, 62, LEN_16_19 },
	{ "unionpay", 2, 81, 81, LEN_16_19 },
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

	/* No card number in the table starts with 0, 1, 7 or 9. */
	if (n < 12 || n > 19 || d[0] < '2' || d[0] > '8' || d[0] == '7')
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

/*
 * Published test numbers, reported as card_test (their action defaults
 * to ignore).  Sources: Stripe "Testing" (docs.stripe.com/testing),
 * Adyen "Test card numbers" (docs.adyen.com/development-resources/
 * test-cards), Braintree "Testing and going live" (developer.paypal.com/
 * braintree/docs/guides/credit-cards/testing-go-live), PayPal sandbox
 * test cards, Worldpay/Opayo (Sage Pay) and Checkout.com test cards,
 * and the schemes' own examples (Visa 4111..., Mastercard 5555...,
 * Discover 6011..., JCB 3530/3566..., Diners 3056/3852/3622...).  Each
 * passes Luhn (tests/unit/test_dlp.c checks it).
 */
static const char *const test_cards[] = {
	"4111111111111111", "4012888888881881", "4222222222222", "4242424242424242",
	"4000056655665556", "4000000000000002", "4000000000000077", "4000000000000010",
	"4000000000003220", "4000002500003155", "4000000000009995", "4111111111111111110",
	"4917610000000000", "4462030000000000", "4484070000000000", "5555555555554444",
	"5105105105105100", "5200828282828210", "5454545454545454", "2223003122003222",
	"2223000048400011", "5431111111111111", "378282246310005", "371449635398431",
	"378734493671000", "340000000000009", "6011111111111117", "6011000990139424",
	"6011000000000012", "6011601160116611", "6445644564456445", "30569309025904",
	"38520000023237", "36227206271667", "36259600000004", "3530111333300000",
	"3566002020360505", "3566111111111113", "6200000000000005", "6205500000000000004",
	"6250941006528599", "6759649826438453", "6799990100000000019", "5018000000000009",
	"2200000000000004", "6011981111111113", "3056930009020004", "4111111145551142",
	"6304000000000000", "6555900000604105", "6200000000000047", "4000002500001001",
	"6011000400000000", "4988438843884305", "4166676667666746", "4646464646464644",
	"5555341244441115", "5577000055770004", "5136333333333335", "2222400070000005",
	"370000000000002", "3569990010095841", "6243030000000001", "6703444444444449",
	"5000550000000029", "4035501000000008", "6731012345678906", "4400000000000008",
	"4484600000000004", "4607000000000009", "4977949494949497", "4005519200000004",
	"4009348888881881", "4012000033330026", "4012000077777777", "4217651111111119",
	"4500600000000061", "4543474002249996", "5436031030606378", "345678901234564",
	"4012001037141112", "5500000000000004", "4000000000000069", "4000000000000127",
	"2223000010246699", "5200000000001096", "4000000000001091", "4000000000001000",
	"2200000000000053", "6250946000000016", "4005562231212149", "36006666333344",
	"30000000000004", "38555565010005", "3055155515160018", "4761120010000492",
	"5413330089020011", "6703000000000000003",
};

const char *const *
dlp_card_test_list(size_t *n)
{
	*n = ARRAY_SIZE(test_cards);
	return test_cards;
}

int
dlp_card_is_test(const char *d, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(test_cards); i++)
		if (test_cards[i][0] == d[0] && strncmp(test_cards[i], d, n) == 0
		    && test_cards[i][n] == '\0')
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
/* Words that may be glued to a number's left by one joiner: "No.4556...",
 * "PAN/4556...", "Visa-4556...", "card_4556...".  Any other word glued
 * that way (a path, a SKU, a tracking id) keeps the number out. */
#define W(s) { s, sizeof(s) - 1 }
static const struct {
	const char *w;
	size_t n;
} glue_labels[] = {
	W("card"), W("visa"), W("mastercard"), W("mc"), W("amex"), W("discover"), W("diners"),
	W("jcb"), W("maestro"), W("unionpay"), W("mir"), W("credit"), W("debit"), W("cc"),
	W("ccn"), W("ccnum"), W("pan"), W("no"), W("nr"), W("num"), W("number"), W("nummer"),
	W("numero"), W("ssn"), W("iban"), W("acct"), W("account"), W("konto"),
	W("kreditkarte"), W("carte"), W("tarjeta"),
};
#undef W

/* 1 when one of WORDS starts a word in TEXT[START..POS) (ASCII case-folded). */
static int
keyword_in(const char *text, size_t start, size_t pos, const char *const *words)
{
	char win[KEYWORD_WINDOW * 2 + 1];
	size_t n = pos - start, i;

	if (n > sizeof(win) - 1) {
		start = pos - (sizeof(win) - 1);
		n = sizeof(win) - 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[start + i];

		win[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
	}
	win[n] = '\0';
	for (i = 0; words[i] != NULL; i++) {
		const char *hit = win, *end = win + n;
		size_t wl = strlen(words[i]);

		/* Whole-word start, so "tin" does not fire inside "setting". */
		while ((hit = memmem(hit, (size_t)(end - hit), words[i], wl)) != NULL) {
			if (hit > win ? !is_alnum((unsigned char)hit[-1])
			    : start == 0 || !is_alnum((unsigned char)text[start - 1]))
				return 1;
			hit++;
		}
	}
	return 0;
}

/* A keyword in the KEYWORD_WINDOW bytes before POS, across lines. */
static int
keyword_near(const char *text, size_t pos, const char *const *words)
{
	return keyword_in(text, pos > KEYWORD_WINDOW ? pos - KEYWORD_WINDOW : 0, pos, words);
}

/* A keyword before POS on its line, or on the line before when that is
 * a label (no digit, at most 2 * KEYWORD_WINDOW bytes: "Social Security
 * Number:", or an HTML table cell: mime_to_text() ends cells with a line
 * break).  A keyword in running text two lines up is not context. */
static int
keyword_line_before(const char *text, size_t pos, const char *const *words)
{
	size_t ls = pos, ps, i;

	while (ls > 0 && pos - ls < KEYWORD_WINDOW && text[ls - 1] != '\n')
		ls--;
	if (keyword_in(text, ls, pos, words))
		return 1;
	if (ls == 0 || text[ls - 1] != '\n')
		return 0;
	/* Blank lines between (cells: "</td><td>" is two line breaks). */
	for (i = 0; i < 4 && ls > 1; i++) {
		size_t k = ls - 1;

		while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t' || text[k - 1] == '\r'))
			k--;
		if (k == 0 || text[k - 1] != '\n')
			break;
		ls = k;
	}
	/* the line before: [ps, ls - 1) */
	for (ps = ls - 1; ps > 0 && text[ps - 1] != '\n'; ps--)
		if (ls - 1 - ps >= 2 * KEYWORD_WINDOW)
			return 0;
	for (i = ps; i < ls - 1; i++)
		if (is_digit((unsigned char)text[i]))
			return 0;
	return keyword_in(text, ps, ls - 1, words);
}

/* ---- CSV columns: "name,ssn\nAnna Smith,219456788" ---- */

struct csv_cache {
	int valid;
	char delim;
	size_t ncols;		/* delimiters on the header line */
	size_t hs, he;		/* the header line */
};

static size_t
line_start(const char *text, size_t pos, size_t floor)
{
	while (pos > floor && text[pos - 1] != '\n')
		pos--;
	return pos;
}

static size_t
count_delims(const char *s, size_t n, char d)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += s[i] == d;
	return k;
}

/* The header of the CSV column holding POS names an SSN: the nearest line
 * above with as many delimiters and no digit (within 64 lines, or the
 * header found for an earlier row of the same table). */
static int
csv_header_ssn(const char *text, size_t len, size_t pos, struct csv_cache *cc)
{
	static const char delims[] = { ',', ';', '\t', '|' };
	size_t ls = line_start(text, pos, 0), le, col, k, lines, s, e, hs = 0, he = 0;
	const char *nl = memchr(text + pos, '\n', len - pos);
	char d = 0;
	int found = 0;

	le = nl ? (size_t)(nl - text) : len;
	for (k = 0; k < sizeof(delims) && d == 0; k++)
		if (memchr(text + ls, delims[k], le - ls) != NULL)
			d = delims[k];
	if (d == 0 || ls == 0)
		return 0;
	col = count_delims(text + ls, pos - ls, d);
	k = count_delims(text + ls, le - ls, d);
	/* Walk up the table. */
	e = ls - 1;
	for (lines = 0; lines < 64 && e > 0; lines++) {
		size_t i;
		int digit = 0;

		s = line_start(text, e, 0);
		if (cc->valid && cc->delim == d && cc->hs == s)
			break;
		for (i = s; i < e && !digit; i++)
			digit = is_digit((unsigned char)text[i]);
		if (!digit && count_delims(text + s, e - s, d) == k) {
			hs = s;
			he = e;
			found = 1;
			cc->valid = 1;
			cc->delim = d;
			cc->ncols = k;
			cc->hs = s;
			cc->he = e;
			break;
		}
		if (s == 0)
			break;
		e = s - 1;
	}
	if (!found) {
		if (!cc->valid || cc->delim != d || cc->ncols != k || cc->he >= ls)
			return 0;
		hs = cc->hs;
		he = cc->he;
	}
	/* Column COL of the header line. */
	for (s = hs, k = 0; s < he && k < col; s++)
		if (text[s] == d)
			k++;
	for (e = s; e < he && text[e] != d; e++)
		;
	return keyword_in(text, s, e, ssn_keywords);
}

/* ---- classification of one digit run ---- */

struct scan {
	const char *text;	/* ASCII-folded text being scanned */
	size_t len;
	unsigned part;
	struct dlp_findings *out;
	struct csv_cache csv;
	int special_stop;	/* give up at the first NUL or non-ASCII byte */
	int special;		/* and this says it did */
};

struct run {
	struct scan *sc;
	const char *text;
	size_t n;			/* groups */
	const char *gs[MAX_GROUPS];	/* group starts */
	unsigned gl[MAX_GROUPS];	/* group lengths */
	char sep[MAX_GROUPS];		/* separator after group i: ' ' (blanks), '-', '.' */
	int start_ok, end_ok;
	const char *after;		/* the byte after the run (may be the text's end) */
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

/* Context that makes a bare or blank-separated nine-digit run an SSN:
 * a keyword on its line or the line before, or its CSV column's header. */
static int
ssn_context(struct run *r, size_t off)
{
	return keyword_line_before(r->text, off, ssn_keywords)
	    || csv_header_ssn(r->text, r->sc->len, off, &r->sc->csv);
}

static int
run_ssn(struct run *r)
{
	size_t off = (size_t)(r->gs[0] - r->text);
	unsigned conf;

	if (!r->start_ok || !r->end_ok)
		return 0;
	if (r->n == 3 && r->gl[0] == 3 && r->gl[1] == 2 && r->gl[2] == 4
	    && r->sep[0] == r->sep[1]) {
		if (!ssn_ok(r->gs[0], r->gs[1], r->gs[2]))
			return 0;
		if (r->sep[0] == '-' || r->sep[0] == '.') {
			conf = keyword_near(r->text, off, ssn_keywords) ? 95 : 70;
		} else {
			/* "120 12 1440", "030 12 3456": phone numbers, part
			 * numbers.  Blanks only with context. */
			if (!ssn_context(r, off))
				return 0;
			conf = 95;
		}
		findings_add(r->sc->out, DLP_SSN, conf, r->sc->part, off,
		    (size_t)(r->gs[2] + 4 - r->gs[0]), NULL);
		r->added++;
		return 1;
	}
	/* Nine bare digits are an SSN only with context. */
	if (r->n == 1 && r->gl[0] == 9 && ssn_ok(r->gs[0], r->gs[0] + 3, r->gs[0] + 5)
	    && ssn_context(r, off)) {
		findings_add(r->sc->out, DLP_SSN, 85, r->sc->part, off, 9, NULL);
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
		int fours = 1;

		if (r->gl[i] != 4)
			return 0;
		for (k = i + 1; k <= j; k++)
			if (r->sep[k - 1] != r->sep[i])
				return 0;
		for (k = i + 1; k < j; k++) {
			if (r->gl[k] < 3 || r->gl[k] > 6)
				return 0;
			fours &= r->gl[k] == 4;
		}
		/* Grouped in fours, the last group has what is left: 1-3
		 * digits for 13, 14, 17, 18 and 19-digit numbers. */
		if (r->gl[j] > 6 || r->gl[j] < (fours ? 1u : 3u))
			return 0;
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
	findings_add(r->sc->out, dlp_card_is_test(d, n) ? DLP_CARD_TEST : DLP_CARD, conf,
	    r->sc->part, off, (size_t)(r->gs[j] + r->gl[j] - r->gs[i]), brand);
	r->added++;
	return 1;
}

/* Groups I..J are a whole card number as printed: 4-4-4-4, 4-6-5, 4-6-4,
 * 4-4-4-4-3. */
static int
printed_grouping(const struct run *r, size_t i, size_t j)
{
	size_t g = j - i + 1, k;

	if (g == 3 && r->gl[i] == 4 && r->gl[i + 1] == 6 && (r->gl[j] == 5 || r->gl[j] == 4))
		return 1;
	if (g != 4 && g != 5)
		return 0;
	for (k = i; k < i + 4; k++)
		if (r->gl[k] != 4)
			return 0;
	return g == 4 || r->gl[j] == 3;
}

static int
all_fours(const struct run *r, size_t i, size_t j)
{
	for (; i <= j; i++)
		if (r->gl[i] != 4)
			return 0;
	return 1;
}

/* Groups after J look like an expiry and/or a CVV: MMYY or 20YY, then
 * 3-4 digits ("... 9855 0927 123", "... 9855 2027"). */
static int
expiry_tail(const struct run *r, size_t j)
{
	size_t t = r->n - j - 1, k = j + 1;

	if (t == 0 || t > 2)
		return 0;
	if (r->gl[k] == 4) {
		unsigned mm = (unsigned)((r->gs[k][0] - '0') * 10 + (r->gs[k][1] - '0'));

		if (!(mm >= 1 && mm <= 12) && memcmp(r->gs[k], "20", 2) != 0)
			return 0;
	} else if (r->gl[k] != 3 || t != 1) {
		return 0;
	}
	return t == 1 || r->gl[k + 1] == 3 || r->gl[k + 1] == 4;
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
		/* A run glued on its left ("zz99 4556 ...") still has clean
		 * windows after a blank: only the first group is glued. */
		if (i > 0 && (r->gl[i - 1] > 3 || (!r->start_ok && r->sep[i - 1] != ' ')))
			single_only = 1;	/* a contiguous number is its own token */
		for (j = r->n; j-- > i;) {
			if (single_only && j != i)
				continue;
			if (j == r->n - 1 && !r->end_ok)
				continue;
			/* A grouped number that goes on in the same style is
			 * longer than this window (no 12-digit prefix of a
			 * 4-4-4-4 order number), unless the window is a whole
			 * printed card number and what follows is its expiry
			 * or CVV. */
			if (j > i && j + 1 < r->n && r->sep[j] == r->sep[i] && r->gl[j + 1] >= 3
			    && !(r->sep[i] != '.' && printed_grouping(r, i, j) && expiry_tail(r, j)
			    && r->end_ok))
				continue;
			/* In fours, a short group after the window is the end
			 * of a longer number ("6263 2488 9813 7132 61"), not
			 * something after a card, unless it starts an expiry
			 * ("... 1111 12/25"). */
			if (j > i && j + 1 < r->n && r->sep[j] == r->sep[i] && r->gl[j + 1] <= 2
			    && all_fours(r, i, j) && !(j + 2 == r->n && *r->after == '/'))
				continue;
			if (window_card(r, i, j)) {
				i = j;
				break;
			}
		}
	}
}

static inline int
is_letter(unsigned char c)
{
	return (unsigned)((c | 0x20) - 'a') < 26;
}

/* End of an IBAN-shaped token at S (a country's two letters, two
 * digits, then groups of four alphanumerics, as many characters as that
 * country's IBANs have), or NULL.  Only the exact shape is skipped, so
 * "XX00 " in front of a card number does not hide it. */
static const char *
iban_shape_end(const char *s, const char *end)
{
	const char *q = s + 2;
	size_t n = 2, g = 2;
	char sep = 0;
	char cc[3] = { (char)(s[0] & ~0x20), (char)(s[1] & ~0x20), '\0' };
	unsigned want = iban_length(cc);

	if (want == 0)
		return NULL;

	while (q < end && is_digit((unsigned char)*q) && n < 4) {
		q++;
		n++;
		g++;
	}
	if (n != 4)
		return NULL;
	while (q < end && n < 34) {
		if (is_alnum((unsigned char)*q)) {
			q++;
			n++;
			g++;
		} else if (g == 4 && (*q == ' ' || *q == '-') && (sep == 0 || sep == *q)
		    && q + 1 < end && is_alnum((unsigned char)q[1])) {
			sep = *q++;
			g = 0;
		} else {
			break;
		}
		if (g > 4 && sep != 0)
			return NULL;
	}
	return n == want && !(q < end && is_alnum((unsigned char)*q)) ? q : NULL;
}

/* Try an IBAN whose country code starts at S.  Returns its end or NULL.
 * Letters may be in either case ("de89 3704 ..."). */
static const char *
try_iban(struct scan *sc, const char *s, const char *end)
{
	char v[34];
	char cc[3] = { (char)(s[0] & ~0x20), (char)(s[1] & ~0x20), '\0' };
	unsigned want = iban_length(cc), n = 0;
	const char *q = s;
	int spaced = 0;

	if (want == 0)
		return NULL;
	while (n < want && q < end) {
		unsigned char c = (unsigned char)*q;

		if (is_alnum(c)) {
			v[n++] = (char)(is_digit(c) ? c : c & ~0x20);
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
	findings_add(sc->out, DLP_IBAN,
	    keyword_near(sc->text, (size_t)(s - sc->text), iban_keywords) ? 98 : 85, sc->part,
	    (size_t)(s - sc->text), (size_t)(q - s), cc);
	return q;
}


static inline int
is_blank_sep(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* The letters ending at TEXT[END-1] are a whole word in glue_labels. */
static int
label_before(const char *text, size_t end)
{
	size_t s = end, k;

	while (s > 0 && end - s < 16 && is_letter((unsigned char)text[s - 1]))
		s--;
	if (s == end || (s > 0 && is_alnum((unsigned char)text[s - 1])))
		return 0;
	for (k = 0; k < ARRAY_SIZE(glue_labels); k++)
		if (glue_labels[k].n == end - s && mem_casecmp(text + s, glue_labels[k].w, end - s) == 0)
			return 1;
	return 0;
}

/* After a run at Q: "/MMYY", "/MM/YY" (an expiry glued on the right). */
static int
expiry_glued(const char *q, const char *end)
{
	int parts;

	for (parts = 0; parts < 2 && q < end && *q == '/'; parts++) {
		const char *g = ++q;

		while (q < end && is_digit((unsigned char)*q) && q - g <= 4)
			q++;
		if (q - g < 2 || q - g > 4)
			return 0;
	}
	return parts > 0 && !(q < end && is_alnum((unsigned char)*q))
	    && !(q < end && is_joiner((unsigned char)*q) && q + 1 < end
	    && is_alnum((unsigned char)q[1]));
}

static uint32_t utf8_dec(const unsigned char *s, size_t n, size_t *len);
static int fold_cp(uint32_t cp);

/* After a run at Q: ".pdf", ".tar.gz" (a file name's extension: "card
 * 4556 7375 8689 9855.pdf" in an attachment's name).  One or two
 * extensions of one to five letters and digits, each starting with a
 * letter, and then the end of the token: "4556....example.com" is a
 * host name, not this. */
static int
extension_glued(const char *q, const char *end)
{
	int parts;

	for (parts = 0; parts < 2 && q + 1 < end && *q == '.'
	    && is_letter((unsigned char)q[1]); parts++) {
		const char *g = ++q;

		while (q < end && is_alnum((unsigned char)*q) && q - g <= 5)
			q++;
		if (q - g > 5)
			return 0;
	}
	return parts > 0 && !(q < end && is_joiner((unsigned char)*q) && q + 1 < end
	    && is_alnum((unsigned char)q[1]));
}

/* The scanner proper, over text whose separators and digits are ASCII. */
static size_t
scan_ascii(struct scan *sc)
{
	const char *text = sc->text, *p = text, *end = text + sc->len;
	size_t added = 0;

	while ((p = sc->special_stop ? next_digit_or_special(p, end) : next_digit(p, end)) < end) {
		struct run r;
		const char *q = p;
		size_t digits, k;

		if (!is_digit((unsigned char)*p)) {
			/* A non-ASCII character: one that folding leaves as it
			 * is (é, €, “) reads the same here; one that folds (a
			 * digit, a space, an invisible) sends dlp_scan() to
			 * fold the text and scan it again. */
			const unsigned char *u = (const unsigned char *)p;
			size_t cl;
			uint32_t cp;

			/* The common ones without decoding: U+00C0..U+05FF
			 * (Latin-1 letters to Hebrew: none folds) and the
			 * quotes, bullet, ellipsis and euro sign. */
			if (u[0] >= 0xc3 && u[0] <= 0xd7 && end - p >= 2 && (u[1] & 0xc0) == 0x80) {
				p += 2;
				continue;
			}
			if (u[0] == 0xe2 && end - p >= 3 && ((u[1] == 0x80 && (u[2] == 0x98
			    || u[2] == 0x99 || u[2] == 0x9c || u[2] == 0x9d || u[2] == 0xa2
			    || u[2] == 0xa6)) || (u[1] == 0x82 && u[2] == 0xac))) {
				p += 3;
				continue;
			}
			cp = utf8_dec(u, (size_t)(end - p), &cl);
			if (cp > 0x10ffff || fold_cp(cp) < 0) {
				p += cl;
				continue;
			}
			sc->special = 1;
			return added;
		}
		if (sc->special_stop && p > text && p[-1] == 0) {
			sc->special = 1;	/* a NUL before a digit: fold */
			return added;
		}

		/* IBAN: two letters glued to the first digit, on a word start. */
		if (p - text >= 2 && is_letter((unsigned char)p[-1]) && is_letter((unsigned char)p[-2])
		    && (p - text == 2 || !is_alnum((unsigned char)p[-3]))) {
			const char *e = try_iban(sc, p - 2, end);

			if (e != NULL) {
				added++;
				p = e;
				continue;
			}
			/* An IBAN with a wrong check (or of a length its country
			 * does not have) is no card either: skip the token. */
			if ((e = iban_shape_end(p - 2, end)) != NULL) {
				p = e;
				continue;
			}
		}

		/* Only the fields used are set: this runs for every digit run. */
		r.sc = sc;
		r.text = text;
		r.n = 0;
		r.added = 0;
		/* Read the run: digit groups joined by 1-4 blanks (space,
		 * tab; NULs and Unicode spaces were folded), one dash, or one dot (a dotted run stays dotted
		 * and starts with a group of 3 or 4: "4556.7375...", "219.45.6788"). */
		for (;;) {
			const char *g = q, *s;
			char cls = 0;

			while (q < end && is_digit((unsigned char)*q))
				q++;
			r.gs[r.n] = g;
			r.gl[r.n] = (unsigned)(q - g > 64 ? 64 : q - g);
			if (q - g > 19) {
				/* A long digit run never holds a card: it ends the run. */
				r.gl[r.n] = 64;
			}
			r.n++;
			if (q < end && *q == 0 && sc->special_stop) {
				sc->special = 1;	/* a NUL after a digit: fold */
				return added;
			}
			if (r.n >= MAX_GROUPS || q >= end)
				break;
			s = q;
			if (is_blank_sep((unsigned char)*q)) {
				while (q < end && is_blank_sep((unsigned char)*q) && q - s < 5)
					q++;
				cls = q - s <= 4 ? ' ' : 0;
			} else if (*q == '-') {
				q++;
				cls = '-';
			} else if (*q == '.') {
				q++;
				cls = '.';
				if (r.n == 1 ? (r.gl[0] != 3 && r.gl[0] != 4) : r.sep[0] != '.')
					cls = 0;
			}
			if (cls != 0 && r.n > 1 && (cls == '.') != (r.sep[0] == '.'))
				cls = 0;
			if (cls != 0 && q < end && is_digit((unsigned char)*q)) {
				r.sep[r.n - 1] = cls;
				continue;
			}
			q = s;
			break;
		}
		digits = 0;
		for (k = 0; k < r.n; k++)
			digits += r.gl[k];
		if (digits < 9) {
			/* Too short for any type: the common case in invoices. */
			p = skip_alnum(q, end);
			continue;
		}
		r.start_ok = 1;
		if (p > text) {
			unsigned char b = (unsigned char)p[-1];

			if (is_alnum(b) || b == '+')
				r.start_ok = 0;
			else if (is_joiner(b) && p - text >= 2 && is_alnum((unsigned char)p[-2]))
				r.start_ok = (b == '.' || b == '/' || b == '-' || b == '_')
				    && label_before(text, (size_t)(p - 1 - text));
		}
		r.end_ok = 1;
		r.after = q < end ? q : "";
		if (q < end) {
			unsigned char c = (unsigned char)*q;

			if (is_alnum(c))
				r.end_ok = 0;
			else if (is_joiner(c) && q + 1 < end && is_alnum((unsigned char)q[1]))
				r.end_ok = expiry_glued(q, end) || extension_glued(q, end);
		}
		if (!run_ssn(&r))
			run_cards(&r);
		added += r.added;
		/* Skip whatever alphanumerics are glued to the run's end. */
		p = skip_alnum(q, end);
	}
	return added;
}

/* ---- folding of non-ASCII text to what the scanner reads ---- */

/* Non-ASCII digits: {first, last, value of first}, values +1 mod 10
 * along a row.  Generated by contrib/dev/gen-unicode-digits.py. */
static const struct {
	uint32_t lo, hi;
	unsigned char v;
} unicode_digits[] = {
	/* Unicode 14.0.0: 68 rows, 680 code points */
	{ 0xb2, 0xb3, 2 }, { 0xb9, 0xb9, 1 }, { 0x660, 0x669, 0 }, { 0x6f0, 0x6f9, 0 },
	{ 0x7c0, 0x7c9, 0 }, { 0x966, 0x96f, 0 }, { 0x9e6, 0x9ef, 0 }, { 0xa66, 0xa6f, 0 },
	{ 0xae6, 0xaef, 0 }, { 0xb66, 0xb6f, 0 }, { 0xbe6, 0xbef, 0 }, { 0xc66, 0xc6f, 0 },
	{ 0xce6, 0xcef, 0 }, { 0xd66, 0xd6f, 0 }, { 0xde6, 0xdef, 0 }, { 0xe50, 0xe59, 0 },
	{ 0xed0, 0xed9, 0 }, { 0xf20, 0xf29, 0 }, { 0x1040, 0x1049, 0 },
	{ 0x1090, 0x1099, 0 }, { 0x17e0, 0x17e9, 0 }, { 0x1810, 0x1819, 0 },
	{ 0x1946, 0x194f, 0 }, { 0x19d0, 0x19d9, 0 }, { 0x1a80, 0x1a89, 0 },
	{ 0x1a90, 0x1a99, 0 }, { 0x1b50, 0x1b59, 0 }, { 0x1bb0, 0x1bb9, 0 },
	{ 0x1c40, 0x1c49, 0 }, { 0x1c50, 0x1c59, 0 }, { 0x2070, 0x2070, 0 },
	{ 0x2074, 0x2079, 4 }, { 0x2080, 0x2089, 0 }, { 0x2460, 0x2468, 1 },
	{ 0x24ea, 0x24ea, 0 }, { 0xa620, 0xa629, 0 }, { 0xa8d0, 0xa8d9, 0 },
	{ 0xa900, 0xa909, 0 }, { 0xa9d0, 0xa9d9, 0 }, { 0xa9f0, 0xa9f9, 0 },
	{ 0xaa50, 0xaa59, 0 }, { 0xabf0, 0xabf9, 0 }, { 0xff10, 0xff19, 0 },
	{ 0x104a0, 0x104a9, 0 }, { 0x10d30, 0x10d39, 0 }, { 0x11066, 0x1106f, 0 },
	{ 0x110f0, 0x110f9, 0 }, { 0x11136, 0x1113f, 0 }, { 0x111d0, 0x111d9, 0 },
	{ 0x112f0, 0x112f9, 0 }, { 0x11450, 0x11459, 0 }, { 0x114d0, 0x114d9, 0 },
	{ 0x11650, 0x11659, 0 }, { 0x116c0, 0x116c9, 0 }, { 0x11730, 0x11739, 0 },
	{ 0x118e0, 0x118e9, 0 }, { 0x11950, 0x11959, 0 }, { 0x11c50, 0x11c59, 0 },
	{ 0x11d50, 0x11d59, 0 }, { 0x11da0, 0x11da9, 0 }, { 0x16a60, 0x16a69, 0 },
	{ 0x16ac0, 0x16ac9, 0 }, { 0x16b50, 0x16b59, 0 }, { 0x1d7ce, 0x1d7ff, 0 },
	{ 0x1e140, 0x1e149, 0 }, { 0x1e2f0, 0x1e2f9, 0 }, { 0x1e950, 0x1e959, 0 },
	{ 0x1fbf0, 0x1fbf9, 0 },
};

/* Decode one UTF-8 character at S (N > 0 bytes); *LEN gets its length.
 * Invalid sequences decode as the single byte (code point > 0x10ffff). */
static uint32_t
utf8_dec(const unsigned char *s, size_t n, size_t *len)
{
	uint32_t cp;
	size_t k, want;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		want = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		want = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		want = 4;
		cp = s[0] & 0x07;
	} else {
		*len = 1;
		return 0x110000;
	}
	if (want > n) {
		*len = 1;
		return 0x110000;
	}
	for (k = 1; k < want; k++) {
		if ((s[k] & 0xc0) != 0x80) {
			*len = 1;
			return 0x110000;
		}
		cp = cp << 6 | (s[k] & 0x3f);
	}
	*len = want;
	return cp;
}

/* What CP reads as: an ASCII character, 0 (dropped: invisible), or -1
 * (itself). */
static int
fold_cp(uint32_t cp)
{
	size_t lo = 0, hi = ARRAY_SIZE(unicode_digits);

	switch (cp) {
	case 0xa0: case 0x1680: case 0x202f: case 0x205f: case 0x3000:
		return ' ';
	case 0xad: case 0x180e: case 0x200b: case 0x200c: case 0x200d: case 0x2060:
	case 0xfeff:
		return 0;
	case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2212: case 0xfe63:
		return '-';
	default:
		break;
	}
	if (cp > 0xb9 && cp < 0x660)
		return -1;	/* Latin, Greek, Cyrillic ... letters: the common case */
	if (cp >= 0x2000 && cp <= 0x200a)
		return ' ';
	if (cp >= 0xff01 && cp <= 0xff5e)
		return (int)(cp - 0xfee0);	/* full-width ASCII (NFKC) */
	if (cp < unicode_digits[0].lo)
		return -1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < unicode_digits[mid].lo)
			hi = mid;
		else if (cp > unicode_digits[mid].hi)
			lo = mid + 1;
		else
			return '0' + (int)((unicode_digits[mid].v + cp - unicode_digits[mid].lo) % 10);
	}
	return -1;
}

/* The next NUL or non-ASCII byte at or after P, or END. */
static const char *
next_special(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i zero = _mm_setzero_si128();

	while (end - p >= 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(a, _mm_cmpeq_epi8(a, zero)));

		if (m != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	while (p < end && *p != 0 && (unsigned char)*p < 0x80)
		p++;
	return p;
}



/* Where the offset of the folded text moves against the original: from
 * out offset AT on, original = out + DELTA. */
struct fold_anchor {
	size_t at, delta;
};

struct fold {
	struct buf text;
	struct fold_anchor *a;
	size_t n, cap;
};

static void
fold_mark(struct fold *f, size_t at, size_t delta)
{
	if (f->n > 0 && f->a[f->n - 1].at == at) {
		f->a[f->n - 1].delta = delta;
		return;
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->a = xrealloc(f->a, f->cap * sizeof(*f->a));
	}
	f->a[f->n].at = at;
	f->a[f->n].delta = delta;
	f->n++;
}

/* Fold TEXT: Unicode digits to ASCII, space-like characters to spaces,
 * invisible ones (and NULs inside a digit run) dropped, NUL elsewhere a
 * blank.  Every other byte is copied, so the text never grows. */
static void
fold_text(const char *text, size_t len, struct fold *f)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, delta = 0, o = 0;
	char *d;

	buf_init(&f->text, 0);
	(void)buf_reserve(&f->text, len + 1);	/* folding never grows the text */
	d = f->text.data;
	f->a = NULL;
	f->n = f->cap = 0;
	while (i < len) {
		size_t cl, j;
		uint32_t cp;
		int c;

		/* ASCII run: copied as is. */
		j = (size_t)(next_special(text + i, text + len) - text);
		if (j > i) {
			memcpy(d + o, text + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		if (s[i] == 0) {
			size_t k = i;

			while (k < len && s[k] == 0)
				k++;
			if (o > 0 && is_digit((unsigned char)d[o - 1]) && k < len && is_digit(s[k])) {
				delta += k - i;
				fold_mark(f, o, delta);
			} else {
				memset(d + o, ' ', k - i);
				o += k - i;
			}
			i = k;
			continue;
		}
		cp = utf8_dec(s + i, len - i, &cl);
		c = cp <= 0x10ffff ? fold_cp(cp) : -1;
		if (c < 0) {
			memcpy(d + o, text + i, cl);
			o += cl;
		} else if (c == 0) {
			delta += cl;
			fold_mark(f, o, delta);
		} else {
			d[o++] = (char)c;
			if (cl > 1) {
				delta += cl - 1;
				fold_mark(f, o, delta);
			}
		}
		i += cl;
	}
	f->text.len = o;
	d[o] = '\0';
}

/* Original offset of folded offset AT. */
static size_t
fold_orig(const struct fold *f, size_t at)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->a[mid].at <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return at + (lo > 0 ? f->a[lo - 1].delta : 0);
}

size_t
dlp_scan(const char *text, size_t len, unsigned part, struct dlp_findings *out)
{
	struct scan sc;
	struct fold f;
	size_t first = out->n, added, i, saved[DLP_NTYPES];

	memset(&sc, 0, sizeof(sc));
	sc.part = part;
	sc.out = out;
	sc.text = text;
	sc.len = len;
	/* ASCII text is scanned as it is, in one pass; at the first NUL or
	 * non-ASCII byte that pass gives up, its findings are dropped and
	 * the folded text is scanned instead. */
	sc.special_stop = 1;
	memcpy(saved, out->count, sizeof(saved));
	added = scan_ascii(&sc);
	if (!sc.special)
		return added;
	memcpy(out->count, saved, sizeof(saved));
	out->n = first;
	memset(&sc, 0, sizeof(sc));
	sc.part = part;
	sc.out = out;
	fold_text(text, len, &f);
	sc.text = f.text.data ? f.text.data : "";
	sc.len = f.text.len;
	added = scan_ascii(&sc);
	/* Findings back to the original text's offsets. */
	for (i = first; i < out->n; i++) {
		struct dlp_finding *d = &out->v[i];
		size_t s = fold_orig(&f, d->offset), e = fold_orig(&f, d->offset + d->len - 1), cl;

		if (e < len)
			(void)utf8_dec((const unsigned char *)text + e, len - e, &cl);
		else
			cl = 0;
		d->offset = s;
		d->len = e + cl - s;
	}
	buf_free(&f.text);
	free(f.a);
	return added;
}

/* ---- masking ---- */

/* What the character at SPAN[K] is once folded: 'd' digit, 'a' letter,
 * 0 anything else; *CL gets its length in bytes. */
static int
mask_class(const char *span, size_t len, size_t k, size_t *cl)
{
	uint32_t cp = utf8_dec((const unsigned char *)span + k, len - k, cl);
	int c = cp < 0x80 ? (int)cp : cp <= 0x10ffff ? fold_cp(cp) : -1;

	if (c > 0 && is_digit((unsigned char)c))
		return 'd';
	if (c > 0 && is_alnum((unsigned char)c))
		return 'a';
	return 0;
}

/* Digits (and full-width or other Unicode digits) are masked but for the
 * last four; IBANs keep their country code too.  Every byte of a masked
 * multi-byte digit is masked. */
int
dlp_mask_byte(const char *span, size_t len, enum dlp_type type, size_t i)
{
	size_t k, cl, after = 0, before = 0, start = 0;
	int cls = 0;

	/* the character holding byte I */
	for (k = 0; k < len && k <= i; k += cl) {
		cls = mask_class(span, len, k, &cl);
		start = k;
		if (k + cl > i)
			break;
	}
	if (type == DLP_IBAN) {
		if (cls == 0)
			return 0;
		for (k = 0; k < start; k += cl)
			before += mask_class(span, len, k, &cl) != 0;
		for (k = start, (void)mask_class(span, len, k, &cl), k += cl; k < len; k += cl)
			after += mask_class(span, len, k, &cl) != 0;
		return before >= 2 && after >= 4;
	}
	if (cls != 'd')
		return 0;
	for (k = start, (void)mask_class(span, len, k, &cl), k += cl; k < len; k += cl)
		after += mask_class(span, len, k, &cl) == 'd';
	return after >= 4;
}

void
dlp_mask(const char *text, size_t textlen, const struct dlp_finding *f, char *out,
    size_t outlen)
{
	size_t i, n = 0, cl;
	const char *span = text + f->offset;
	size_t len = f->len;

	if (outlen == 0)
		return;
	if (f->offset > textlen)
		len = 0;
	else if (len > textlen - f->offset)
		len = textlen - f->offset;
	/* One output character per character of the span. */
	for (i = 0; i < len && n + 1 < outlen; i += cl) {
		unsigned char c = (unsigned char)span[i];

		(void)utf8_dec((const unsigned char *)span + i, len - i, &cl);
		out[n++] = dlp_mask_byte(span, len, f->type, i) ? '*'
		    : (c < 0x20 || c >= 0x7f ? ' ' : (char)c);
	}
	out[n] = '\0';
}
