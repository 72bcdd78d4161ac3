/* SPDX-License-Identifier: ISC */
/*
 * test_dlp: table tests of the sensitive-data detectors.  Every brand
 * and length of the IIN table is generated (prefix + filler + Luhn
 * digit) and checked contiguous, space-grouped and dash-grouped, with a
 * broken check digit, and at both edges of an exactly-sized buffer (so
 * ASan catches any read past it).  Then the look-alikes the issue lists
 * (Luhn failures, timestamps, phone and tracking numbers, UUIDs, digits
 * inside longer runs), SSN range rules, IBAN length and mod 97, keyword
 * confidence, masking.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "dlp.h"
#include "mime.h"
#include "tap.h"

/* Scan a malloc'd copy of exactly LEN bytes. */
static size_t
scan(const char *s, struct dlp_findings *f)
{
	size_t len = strlen(s), n;
	char *copy = malloc(len ? len : 1);

	memcpy(copy, s, len);
	dlp_findings_init(f);
	n = dlp_scan(copy, len, 1, f);
	free(copy);
	return n;
}

/* Number of findings of TYPE in S. */
static size_t
count(const char *s, enum dlp_type type)
{
	struct dlp_findings f;
	size_t n;

	scan(s, &f);
	n = f.count[type];
	dlp_findings_free(&f);
	return n;
}

static size_t
total(const char *s)
{
	struct dlp_findings f;
	size_t n;

	scan(s, &f);
	n = dlp_findings_total(&f);
	dlp_findings_free(&f);
	return n;
}

/* Complete PREFIX to a LEN-digit number with a valid Luhn digit. */
static void
make_card(const char *prefix, size_t len, char *out)
{
	static const char filler[] = "7392018465273910";
	size_t i, n = strlen(prefix);
	int d;

	memcpy(out, prefix, n);
	for (i = n; i + 1 < len; i++)
		out[i] = filler[(i * 7 + n) % 16];
	out[len] = '\0';
	for (d = 0; d < 10; d++) {
		out[len - 1] = (char)('0' + d);
		if (dlp_luhn_ok(out, len))
			break;
	}
}

/* Group digits 4-4-4-...; a remainder of 1 or 2 joins the last group. */
static void
group(const char *d, char sep, char *out)
{
	size_t n = strlen(d), i = 0, o = 0, ngroups = n / 4, r = n % 4, g;

	if (r != 0 && r < 3)
		;
	else if (r != 0)
		ngroups++;
	for (g = 0; g < ngroups; g++) {
		size_t gl = 4;

		if (g == ngroups - 1)
			gl = n - i;
		if (g > 0)
			out[o++] = sep;
		memcpy(out + o, d + i, gl);
		o += gl;
		i += gl;
	}
	out[o] = '\0';
}

struct brand_case {
	const char *prefix;
	const char *brand;
	int lens[8];
};

static const struct brand_case brands[] = {
	{ "4", "visa", { 13, 16, 19 } },
	{ "51", "mastercard", { 16 } },
	{ "55", "mastercard", { 16 } },
	{ "2221", "mastercard", { 16 } },
	{ "2720", "mastercard", { 16 } },
	{ "34", "amex", { 15 } },
	{ "37", "amex", { 15 } },
	{ "6011", "discover", { 16, 17, 18, 19 } },
	{ "644", "discover", { 16, 19 } },
	{ "649", "discover", { 16 } },
	{ "65", "discover", { 16, 19 } },
	{ "3528", "jcb", { 16, 17, 18, 19 } },
	{ "3589", "jcb", { 16 } },
	{ "300", "diners", { 14, 16 } },
	{ "305", "diners", { 14 } },
	{ "36", "diners", { 14 } },
	{ "38", "diners", { 14, 16 } },
	{ "39", "diners", { 14 } },
	{ "62", "unionpay", { 16, 17, 18, 19 } },
	{ "5018", "maestro", { 12, 13, 14, 15, 16, 17, 18, 19 } },
	{ "5020", "maestro", { 12, 16 } },
	{ "5038", "maestro", { 12, 19 } },
	{ "5893", "maestro", { 16 } },
	{ "6304", "maestro", { 12, 16, 19 } },
	{ "6759", "maestro", { 12, 16, 19 } },
	{ "6761", "maestro", { 16 } },
	{ "6763", "maestro", { 16 } },
	{ "2200", "mir", { 16, 17, 18, 19 } },
	{ "2204", "mir", { 16, 19 } },
};

/* Brand/length pairs that must NOT be accepted (valid Luhn). */
static const struct {
	const char *prefix;
	int len;
} wrong_len[] = {
	{ "4", 14 }, { "4", 15 }, { "4", 17 }, { "4", 12 }, { "51", 15 }, { "55", 19 },
	{ "34", 16 }, { "37", 14 }, { "2221", 19 }, { "6011", 15 }, { "3528", 15 },
	{ "1", 16 }, { "7", 16 }, { "8", 16 }, { "9", 16 }, { "0", 16 }, { "2100", 16 },
	{ "2721", 16 }, { "306", 14 }, { "3527", 16 }, { "3590", 16 }, { "5000", 16 },
	{ "5600", 12 },
};

static const char *const test_cards[] = {
	"4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
	"4012888888881881", "4242 4242 4242 4242", "5555 5555 5555 4444",
	"5105105105105100", "3782 822463 10005", "371449635398431",
	"6011 1111 1111 1117", "6011000990139424", "3056 930902 5904",
	"3530111333300000", "3566002020360505", "2223003122003222",
	"6200000000000005", "4222222222222",
};

/* Look-alikes: no finding of any type. */
static const char *const negatives[] = {
	"Order 4111111111111112 shipped",		/* Luhn fails */
	"Invoice no. 5555555555554445",
	"Order #4532015112830367 1",			/* Luhn fails */
	"at 2026-11-23T09:12:44.123Z",			/* timestamps */
	"ts=1763889164123 and 1763889164",
	"20261123091244123",
	"2026-11-23 09:12:44",
	"Call +1 415 555 0132 or (415) 555-0132",	/* phone numbers */
	"Tel +44 20 7946 0958, +4915112345678",
	"+1-800-555-0199-1234",
	"tel:+14155550132",
	"UPS 1Z999AA10123456784",			/* tracking numbers */
	"USPS 9400 1118 9922 3197 4284 90",
	"USPS 9400111899223197428490",
	"FedEx 7489 1234 5678 9012",
	"id 4111e400-e29b-41d4-a716-446655440000",	/* UUIDs */
	"550e8400-e29b-41d4-a716-411111111111",
	"run 941111111111111111123 end",		/* inside longer digit runs */
	"x 41111111111111110000 y",
	"ABC4111111111111111 DEF",			/* glued to letters */
	"4111111111111111XYZ",
	"4111111111111111.25",				/* decimals, versions, paths */
	"v1.4111111111111111",
	"/files/4111111111111111/x",
	"ip 192.168.100.200 port 4111",
	"amount 1,234,567,890.12",
	"card=4111-1111-1111-1112 x:4111111111111112",
	"4111 1111-1111 1111",				/* mixed separators */
	"0000 0000 0000 0000",				/* Luhn ok, no IIN */
	"Qty 12 Price 4111",
	"user@4111111111111111.example",
	"536221234",					/* bare 9 digits, no keyword */
	"000-12-3456 666-12-3456 900-12-3456 999-99-9999",	/* SSN ranges */
	"536-00-1234 536-22-0000",
	"078-05-1120 219-09-9999 123-45-6789",		/* advertised SSNs */
	"536-22 1234",					/* mixed SSN separators */
	"415-555-0132",
	"SSN: 000221234",
	"below your meeting business for contact for due anything code 827415864.",
	"DE88370400440532013000",			/* IBAN bad check */
	"DE8937040044053201300",			/* IBAN too short */
	"DE893704004405320130001",			/* too long */
	"XX89370400440532013000",			/* unknown country */
	"XDE89370400440532013000",			/* glued */
	/* issue 18 #16: spaced or dotted 3-2-4 without context is no SSN */
	"Widget A 120 12 1440", "Tel. 030 12 3456", "536 22 1234", "219.45 6788",
	"name,phone\nAnna Smith,219456788",		/* CSV column is not an SSN */
	"SSN\n\nlater\n219456788",			/* keyword two lines up */
	/* issue 18 #13: only label words may be glued on the left */
	"SKU-4556737586899855", "ref_4556737586899855", "x/4556737586899855",
	"A1.4556737586899855", "4556737586899855/0927/x1", "4556.7375.8689.9855.1234",
	"4556737586899855.00", "1.4556737586899855",
	"4556737586899855.example.com", "4556737586899855.a.b.c", "4556737586899855.toolong",
	/* issue 18 #5: four-digit groups after a card that are no expiry */
	"1234 4556 7375 8689 9855 4321",
	"4556 7375 8689 9855 4444 5555",
	"Invoice 4556 7375 8689 9855 61",		/* an 18-digit number in fours */
	"IBAN ie44 ouzo 3699 2714 1919 84",		/* an IBAN with a wrong check */
	"",
	"7",
	"4111",
};

static const char *const ssn_pos[] = {
	"536-22-1234", "SSN 536 22 1234", "SSN: 536-22-1234.", "ssn 536221234",
	/* issue 18 #12, #17 */
	"SSN\n219456788", "Social Security Number:\n219456788", "name,ssn\nAnna Smith,219456788",
	"Name;SSN;City\nA;219456788;B\nC;x;D", "SSN: 219.45.6788", "219.45.6788", "SSN\t219  45  6788",
	"Social Security Number: 536221234", "his SS# 772-01-0042", "001-01-0001",
	"665-99-9999", "899-01-0001",
};

static const char *const ibans[] = {
	"DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32",
	"GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300",
	"BE68539007547034", "CH9300762011623852957", "NO9386011117947",
	"IT60X0542811101000000123456", "ES9121000418450200051332", "AT611904300234573201",
	"PL61109010140000071219812874", "DE89-3704-0044-0532-0130-00",
	"de89 3704 0044 0532 0130 00", "De89370400440532013000", "gb82 west 1234 5698 7654 32",
};

/* Issue 18 #4-9, #13, #15, #17: each has exactly one card (or card_test). */
static const struct {
	const char *text;
	enum dlp_type type;
} issue18_cards[] = {
	{ "Card 3012 3456 7890 19", DLP_CARD },			/* #4: 14 digits in fours */
	{ "Card 4556 7375 8689 8", DLP_CARD },			/* 13 */
	{ "Card 6212 3456 7890 1234 7", DLP_CARD },		/* 17 */
	{ "Card 4556 7375 8689 9855 0927 123", DLP_CARD },	/* #5: expiry + CVV */
	{ "Card 4556 7375 8689 9855 2027", DLP_CARD },
	{ "Card 4556 7375 8689 9855 123", DLP_CARD },
	{ "Diners 3095 123456 7897", DLP_CARD },		/* #6 */
	{ "Card 4556  7375  8689  9855", DLP_CARD },		/* #7 */
	{ "Card 4556\t7375\t8689\t9855", DLP_CARD },
	{ "Card 4556 \xc2\xa0" "7375\xc2\xa0" "8689 9855", DLP_CARD },	/* #8 U+00A0 */
	{ "Card 4556\xe2\x80\x87" "7375\xe2\x80\x87" "8689\xe2\x80\x87" "9855", DLP_CARD },
	{ "Card 4556\xe2\x80\xaf" "7375\xe2\x80\xaf" "8689\xe2\x80\xaf" "9855", DLP_CARD },
	{ "Card 4556\xe2\x80\x8b" "7375\xc2\xad" "8689\xe2\x80\x8b" "9855", DLP_CARD },
	{ "Card \xef\xbc\x94\xef\xbc\x95\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x93"
	  "\xef\xbc\x97\xef\xbc\x95\xef\xbc\x98\xef\xbc\x96\xef\xbc\x98\xef\xbc\x99"
	  "\xef\xbc\x99\xef\xbc\x98\xef\xbc\x95\xef\xbc\x95", DLP_CARD },	/* #9 */
	{ "\xd9\xa4\xd9\xa5\xd9\xa5\xd9\xa6 7375 8689 9855", DLP_CARD },	/* Arabic-Indic */
	{ "Card No.4556737586899855", DLP_CARD },		/* #13 */
	{ "Nr.4556737586899855", DLP_CARD },
	{ "PAN/4556737586899855", DLP_CARD },
	{ "Visa-4556737586899855", DLP_CARD },
	{ "card_4556737586899855", DLP_CARD },
	{ "4556737586899855/0927", DLP_CARD },
	{ "4556737586899855/09/27.", DLP_CARD },
	{ "6011 9811 1111 1113", DLP_CARD_TEST },		/* #15 */
	{ "3056 9300 0902 0004", DLP_CARD_TEST },
	{ "4111 1111 4555 1142", DLP_CARD_TEST },
	{ "6304 0000 0000 0000", DLP_CARD_TEST },
	{ "https://pay.test/?pan=4556737586899855&x=1", DLP_CARD },	/* #17 */
	{ "Card 4556.7375.8689.9855", DLP_CARD },
	{ "card 8100 1234 5678 9017", DLP_CARD },		/* UnionPay 81 */
	{ "Card zz99 4556 7375 8689 9855", DLP_CARD },		/* no IBAN shape hides it */
	{ "Card DE00 4556 7375 8689 9855", DLP_CARD },
	/* attachment names: the extension glued on the right (r1618) */
	{ "card 4556 7375 8689 9855.pdf", DLP_CARD },
	{ "4556737586899855.pdf", DLP_CARD },
	{ "scan 4556-7375-8689-9855.tar.gz\n", DLP_CARD },
	{ "\"4556737586899855.jpeg\"", DLP_CARD },
	/* letters and quotes the ASCII pass steps over without decoding,
	 * then characters that fold (U+2007, Arabic-Indic digits) */
	{ "caf\xc3\xa9 \xe2\x80\x9cok\xe2\x80\x9d \xe2\x82\xac \xd7\xa9 Card 4556\xe2\x80\x87"
	  "7375\xe2\x80\x87" "8689\xe2\x80\x87" "9855", DLP_CARD },
	{ "\xc3\xa9\xd9\xa4\xd9\xa5\xd9\xa5\xd9\xa6 7375 8689 9855", DLP_CARD },
};

int
main(void)
{
	struct dlp_findings f;
	char d[32], g[48], t[128], m[64];
	size_t i, k;
	int nbrand = 0;

	for (i = 0; i < ARRAY_SIZE(brands); i++)
		for (k = 0; k < 8 && brands[i].lens[k]; k++)
			nbrand++;
	plan(nbrand * 7 + (int)ARRAY_SIZE(wrong_len) + (int)ARRAY_SIZE(test_cards) * 2
	    + (int)ARRAY_SIZE(negatives) + (int)ARRAY_SIZE(ssn_pos) + (int)ARRAY_SIZE(ibans)
	    + (int)ARRAY_SIZE(issue18_cards) * 2 + 23 + 8 + 3);

	/* Every brand and length: contiguous, spaces, dashes, edges, Luhn broken. */
	for (i = 0; i < ARRAY_SIZE(brands); i++) {
		for (k = 0; k < 8 && brands[i].lens[k]; k++) {
			size_t len = (size_t)brands[i].lens[k];
			const char *b;

			make_card(brands[i].prefix, len, d);
			b = dlp_card_brand(d, len);
			ok(b != NULL && strcmp(b, brands[i].brand) == 0, "%s %zu: brand %s",
			    brands[i].prefix, len, b ? b : "(none)");
			is_int(count(d, DLP_CARD), 1, "%s/%zu contiguous, whole buffer", brands[i].brand, len);
			group(d, ' ', g);
			snprintf(t, sizeof(t), "pay with %s", g);
			is_int(count(t, DLP_CARD), 1, "%s/%zu spaced at buffer end: %s", brands[i].brand,
			    len, g);
			group(d, '-', g);
			snprintf(t, sizeof(t), "%s is the number", g);
			is_int(count(t, DLP_CARD), 1, "%s/%zu dashed at buffer start", brands[i].brand, len);
			snprintf(t, sizeof(t), "a\n%s\n", d);
			is_int(count(t, DLP_CARD), 1, "%s/%zu on its own line", brands[i].brand, len);
			d[len - 1] = (char)('0' + (d[len - 1] - '0' + 1) % 10);
			is_int(total(d), 0, "%s/%zu with a wrong check digit", brands[i].brand, len);
			d[len - 2] = 0;
			/* A shorter number is found only if it is valid on its own. */
			is_int(count(d, DLP_CARD), dlp_card_brand(d, len - 2) != NULL
			    && dlp_luhn_ok(d, len - 2), "%s/%zu truncated at the buffer end",
			    brands[i].brand, len);
		}
	}
	for (i = 0; i < ARRAY_SIZE(wrong_len); i++) {
		make_card(wrong_len[i].prefix, (size_t)wrong_len[i].len, d);
		is_int(total(d), 0, "prefix %s length %d is not a card", wrong_len[i].prefix,
		    wrong_len[i].len);
	}

	for (i = 0; i < ARRAY_SIZE(test_cards); i++) {
		snprintf(t, sizeof(t), "test with %s please", test_cards[i]);
		is_int(count(t, DLP_CARD_TEST), 1, "test card %s is card_test", test_cards[i]);
		is_int(count(t, DLP_CARD), 0, "test card %s is not card", test_cards[i]);
	}

	for (i = 0; i < ARRAY_SIZE(negatives); i++) {
		size_t n = total(negatives[i]);

		is_int(n, 0, "look-alike: '%s'", negatives[i]);
	}

	for (i = 0; i < ARRAY_SIZE(ssn_pos); i++)
		is_int(count(ssn_pos[i], DLP_SSN), 1, "ssn: '%s'", ssn_pos[i]);

	for (i = 0; i < ARRAY_SIZE(ibans); i++) {
		snprintf(t, sizeof(t), "pay to %s now", ibans[i]);
		is_int(count(t, DLP_IBAN), 1, "iban: '%s'", ibans[i]);
	}

	for (i = 0; i < ARRAY_SIZE(issue18_cards); i++) {
		const char *x = issue18_cards[i].text;

		is_int(count(x, issue18_cards[i].type), 1, "%s: '%s'",
		    dlp_strtype(issue18_cards[i].type), x);
		is_int(total(x), 1, "  and nothing else");
	}
	/* Issue 12 #13: NUL is a separator; inside a digit run it is dropped. */
	{
		static const char nul1[] = "Card 4556\0" "7375\0" "8689\0" "9855 ok";
		static const char nul2[] = "Card 4\0" "5\0" "5\0" "6\0" "7\0" "3\0" "7\0" "5\0"
		    "8\0" "6\0" "8\0" "9\0" "9\0" "8\0" "5\0" "5\0";
		static const char nul3[] = "SSN\0" "536-22-1234\0";

		dlp_findings_init(&f);
		dlp_scan(nul1, sizeof(nul1) - 1, 1, &f);
		ok(f.count[DLP_CARD] == 1 && f.n == 1 && f.v[0].offset == 5 && f.v[0].len == 19,
		    "card split by NULs: found at 5, 19 bytes");
		dlp_findings_free(&f);
		dlp_findings_init(&f);
		dlp_scan(nul2, sizeof(nul2) - 1, 1, &f);
		ok(f.count[DLP_CARD] == 1, "card with a NUL after every digit");
		dlp_findings_free(&f);
		dlp_findings_init(&f);
		dlp_scan(nul3, sizeof(nul3) - 1, 1, &f);
		ok(f.count[DLP_SSN] == 1 && f.v[0].confidence == 95, "NUL between keyword and SSN");
		dlp_findings_free(&f);
	}
	/* Offsets of folded text point into the original. */
	scan("\xef\xbc\x94\xef\xbc\x95\xef\xbc\x95\xef\xbc\x96 7375 8689 9855!", &f);
	ok(f.n == 1 && f.v[0].offset == 0 && f.v[0].len == 27, "full-width: offset 0 length 27 (%zu)",
	    f.n ? f.v[0].len : 0);
	dlp_findings_free(&f);
	scan("\xc3\xa9 4556\xc2\xa0" "7375 8689 9855", &f);
	ok(f.n == 1 && f.v[0].offset == 3 && f.v[0].len == 20, "U+00A0: offset 3 length 20");
	dlp_findings_free(&f);
	{
		size_t nt;
		const char *const *tl = dlp_card_test_list(&nt);

		for (i = k = 0; i < nt; i++)
			k += !dlp_luhn_ok(tl[i], strlen(tl[i]));
	}
	is_int(k, 0, "every published test number passes Luhn");

	/* Redaction of folded forms: nothing is found again, the last four stay. */
	{
		static const char msg[] = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		    "A \xef\xbc\x94\xef\xbc\x95\xef\xbc\x95\xef\xbc\x96 7375 8689 9855\r\n"
		    "B 4556\xc2\xa0" "7375\xc2\xa0" "8689\xc2\xa0" "9855\r\nC PAN/4556737586899855/0927\r\n";
		static const struct mime_limits lim = { 10, 100, 1 << 20 };
		struct buf out;
		const char *body;

		buf_init(&out, 0);
		dlp_redact(msg, sizeof(msg) - 1, &lim, 1u << DLP_CARD, &out, NULL);
		body = memmem(out.data, out.len, "\r\n\r\n", 4);
		dlp_findings_init(&f);
		if (body != NULL)
			dlp_scan(body, out.len - (size_t)(body - out.data), 1, &f);
		ok(body != NULL && f.count[DLP_CARD] == 0
		    && memmem(out.data, out.len, "*** 9855", 8) != NULL
		    && memmem(out.data, out.len, "\xc2\xa0" "9855", 6) != NULL
		    && memmem(out.data, out.len, "PAN/************9855/0927", 25) != NULL,
		    "redaction masks full-width, U+00A0 and glued numbers");
		dlp_findings_free(&f);
		buf_free(&out);
	}

	/* Redaction of a UTF-16BE part stays UTF-16 and masks the digits. */
	{
		/* "Card 4556 7375 8689 9855" in UTF-16BE, base64 */
		static const char msg[] = "Content-Type: text/plain; charset=utf-16be\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n"
		    "AEMAYQByAGQAIAA0ADUANQA2ACAANwAzADcANQAgADgANgA4ADkAIAA5ADgANQA1\r\n";
		static const char want[] = "\0C\0a\0r\0d\0 \0*\0*\0*\0*\0 \0*\0*\0*\0*\0 "
		    "\0*\0*\0*\0*\0 \0" "9\0" "8\0" "5\0" "5";
		static const struct mime_limits lim = { 10, 100, 1 << 20 };
		struct buf out, dec;
		const char *body;

		buf_init(&out, 0);
		buf_init(&dec, 0);
		dlp_redact(msg, sizeof(msg) - 1, &lim, 1u << DLP_CARD, &out, NULL);
		body = memmem(out.data, out.len, "\r\n\r\n", 4);
		if (body != NULL)
			mime_decode(MIME_CTE_BASE64, body + 4, out.len - (size_t)(body + 4 - out.data), &dec);
		ok(dec.len == sizeof(want) - 1 && memcmp(dec.data, want, dec.len) == 0,
		    "UTF-16BE redaction: '**** **** **** 9855' in UTF-16BE");
		buf_free(&out);
		buf_free(&dec);
	}

	/* Offsets, lengths, part, brand, confidence. */
	scan("xx 4111 1111 1111 1111 yy", &f);
	ok(f.n == 1 && f.v[0].offset == 3 && f.v[0].len == 19 && f.v[0].part == 1,
	    "finding offset 3 length 19 part 1");
	dlp_findings_free(&f);
	make_card("4", 16, d);
	snprintf(t, sizeof(t), "ref %s", d);
	scan(t, &f);
	k = f.n == 1 ? f.v[0].confidence : 0;
	dlp_findings_free(&f);
	snprintf(t, sizeof(t), "Your Visa card: %s", d);
	scan(t, &f);
	ok(f.n == 1 && f.v[0].confidence > k && strcmp(f.v[0].brand, "visa") == 0,
	    "keyword raises confidence (%zu -> %u)", k, f.n ? f.v[0].confidence : 0);
	dlp_findings_free(&f);
	scan("SSN 536-22-1234 and then, much later in the same text and far away, 536-22-1234", &f);
	ok(f.n == 2 && f.v[0].confidence > f.v[1].confidence, "ssn keyword confidence");
	dlp_findings_free(&f);

	/* Several in one text, nothing double-counted. */
	snprintf(t, sizeof(t), "card %s, ssn 536-22-1234, iban DE89370400440532013000.", d);
	scan(t, &f);
	ok(f.count[DLP_CARD] == 1 && f.count[DLP_SSN] == 1 && f.count[DLP_IBAN] == 1 && f.n == 3,
	    "card + ssn + iban in one text");
	dlp_findings_free(&f);
	is_int(count("4111 1111 1111 1111 12/25", DLP_CARD_TEST), 1, "card followed by expiry");
	is_int(count("Qty 2 4111 1111 1111 1111", DLP_CARD_TEST), 1, "card after a quantity");
	is_int(count("name,4111111111111111,4012888888881881", DLP_CARD_TEST), 2,
	    "CSV with ,");
	is_int(count("4111111111111111;4012888888881881", DLP_CARD_TEST), 2, "CSV with ;");
	is_int(count("card=4111111111111111 cc:4012888888881881", DLP_CARD_TEST), 2,
	    "key=value and key:value");
	is_int(count("SSN=536-22-1234", DLP_SSN), 1, "ssn after =");
	is_int(count("\"4111111111111111\",\"4012888888881881\"", DLP_CARD_TEST), 2,
	    "quoted CSV cells");

	/* Masking. */
	scan("4111 1111 1111 1111", &f);
	dlp_mask("4111 1111 1111 1111", 19, &f.v[0], m, sizeof(m));
	is_str(m, "**** **** **** 1111", "card mask");
	dlp_findings_free(&f);
	scan("x 378282246310005", &f);
	dlp_mask("x 378282246310005", 17, &f.v[0], m, sizeof(m));
	is_str(m, "***********0005", "amex mask");
	dlp_findings_free(&f);
	scan("536-22-6789", &f);
	dlp_mask("536-22-6789", 11, &f.v[0], m, sizeof(m));
	is_str(m, "***-**-6789", "ssn mask");
	dlp_findings_free(&f);
	scan("DE89 3704 0044 0532 0130 00", &f);
	dlp_mask("DE89 3704 0044 0532 0130 00", 27, &f.v[0], m, sizeof(m));
	is_str(m, "DE** **** **** **** **30 00", "iban mask keeps country and last four");
	is_str(f.v[0].brand, "DE", "iban country");
	dlp_findings_free(&f);

	/* Helpers. */
	ok(dlp_luhn_ok("79927398713", 11), "luhn reference vector");
	ok(!dlp_luhn_ok("79927398710", 11), "luhn reference vector broken");
	ok(!dlp_luhn_ok("", 0), "luhn of nothing");
	ok(dlp_iban_ok("GB82WEST12345698765432", 22), "iban_ok");
	ok(!dlp_iban_ok("GB82WEST12345698765433", 22), "iban_ok check");
	ok(dlp_card_is_test("4111111111111111", 16) && !dlp_card_is_test("4111111111111112", 16),
	    "test card list");

	/* A long digit-heavy text: linear, and still finds the card at the end. */
	{
		size_t n = 1 << 20, j;
		char *big = malloc(n + 32);

		for (j = 0; j < n; j++)
			big[j] = (char)(j % 11 == 10 ? ' ' : '0' + (j * 7) % 10);
		memcpy(big + n, " 4111111111111111", 17);
		dlp_findings_init(&f);
		dlp_scan(big, n + 17, 2, &f);
		ok(f.count[DLP_CARD_TEST] == 1 && f.v[f.n - 1].offset == n + 1,
		    "card after 1 MiB of digit groups");
		dlp_findings_free(&f);
		free(big);
	}

	/* Tokens of a digit glued to letters are skipped 16 bytes at a time
	 * (skip_alnum): a card right after one of every length 1..80 is
	 * found where it is, one glued to its end is not, and a token that
	 * ends in a non-ASCII letter still sends the text to folding. */
	{
		size_t L, found = 0, glued = 0, folded = 0;
		char buf[160];

		for (L = 1; L <= 80; L++) {
			size_t j;

			buf[0] = '7';
			for (j = 1; j < L; j++)
				buf[j] = "aZ9b"[j % 4];
			memcpy(buf + L, " 4532015112830366 x", 20);
			dlp_findings_init(&f);
			dlp_scan(buf, L + 19, 1, &f);
			found += f.count[DLP_CARD] == 1 && f.n == 1 && f.v[0].offset == L + 1;
			dlp_findings_free(&f);
			/* glued: "7aZ9b...4532015112830366" is one token */
			memcpy(buf + L, "4532015112830366 x", 19);
			glued += count(buf, DLP_CARD) == 0;
			/* a fullwidth digit after the token: found once folded */
			memcpy(buf + L, " \xef\xbc\x94" "532015112830366 x", 22);
			folded += count(buf, DLP_CARD) == 1;
		}
		is_int(found, 80, "a card after a digit-led token of every length 1..80");
		is_int(glued, 80, "a card glued to such a token is part of it, not a card");
		is_int(folded, 80, "a fullwidth-digit card after such a token is found by folding");
	}
	return done();
}
