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
	"4111  1111  1111  1111",			/* double spaces */
	"4111.1111.1111.1111",				/* dots are not card separators */
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
	"SSN\n536221234",
	"DE88370400440532013000",			/* IBAN bad check */
	"DE8937040044053201300",			/* IBAN too short */
	"DE893704004405320130001",			/* too long */
	"XX89370400440532013000",			/* unknown country */
	"de89370400440532013000",			/* lowercase */
	"XDE89370400440532013000",			/* glued */
	"",
	"7",
	"4111",
};

static const char *const ssn_pos[] = {
	"536-22-1234", "536 22 1234", "SSN: 536-22-1234.", "ssn 536221234",
	"Social Security Number: 536221234", "his SS# 772-01-0042", "001-01-0001",
	"665-99-9999", "899-01-0001",
};

static const char *const ibans[] = {
	"DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32",
	"GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300",
	"BE68539007547034", "CH9300762011623852957", "NO9386011117947",
	"IT60X0542811101000000123456", "ES9121000418450200051332", "AT611904300234573201",
	"PL61109010140000071219812874", "DE89-3704-0044-0532-0130-00",
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
	    + 23);

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
	return done();
}
