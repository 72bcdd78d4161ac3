/* SPDX-License-Identifier: ISC */
/*
 * test_util: the one RFC 5322 date formatter of src/lib/util.c
 * (rfc5322_date), table-driven: the epoch, a one-digit day (no leading
 * zero, as RFC 5322 §3.3's own examples), a leap day, the last second
 * of a year, past 2038, and a buffer too small (truncated, terminated).
 * bounce.c and policy/headers.c both print their dates with it.
 */
#include "autoconfig.h"

#include <string.h>

#include "tap.h"
#include "util.h"

static const struct {
	time_t t;
	const char *want;
} cases[] = {
	{ 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
	{ 1700000000, "Tue, 14 Nov 2023 22:13:20 +0000" },
	{ 1709164800, "Thu, 29 Feb 2024 00:00:00 +0000" },
	{ 1735689599, "Tue, 31 Dec 2024 23:59:59 +0000" },
	{ 1780000000, "Thu, 28 May 2026 20:26:40 +0000" },
	{ 4102444800, "Fri, 1 Jan 2100 00:00:00 +0000" },
};

int
main(void)
{
	char out[RFC5322_DATE_MAX], small[8];
	size_t i;

	plan((int)ARRAY_SIZE(cases) + 3);
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		is_str(rfc5322_date(out, sizeof(out), cases[i].t), cases[i].want,
		    "rfc5322_date(%lld)", (long long)cases[i].t);
	rfc5322_date(small, sizeof(small), 0);
	is_str(small, "Thu, 1 ", "a short buffer is truncated and terminated");
	ok(strlen(rfc5322_date(out, sizeof(out), (time_t)253402300799LL)) < sizeof(out),
	    "year 9999 fits RFC5322_DATE_MAX");
	{
		/* issue 20: the text is kept for its second; a call for another
		 * second, even an earlier one, makes it anew */
		char a[RFC5322_DATE_MAX], b[RFC5322_DATE_MAX], c[RFC5322_DATE_MAX];

		rfc5322_date(a, sizeof(a), cases[1].t);
		rfc5322_date(b, sizeof(b), cases[1].t);
		rfc5322_date(c, sizeof(c), cases[1].t - 1);
		rfc5322_date(out, sizeof(out), cases[1].t);
		ok(strcmp(a, cases[1].want) == 0 && strcmp(b, a) == 0 && strcmp(c, a) != 0 &&
		    strcmp(out, a) == 0, "the same second twice, the second before, then again");
	}
	return done();
}
