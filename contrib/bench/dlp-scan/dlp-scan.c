/* SPDX-License-Identifier: ISC */
/*
 * dlp-scan.c: throughput of the sensitive-data scanner (issue 7), in MB/s
 * of one core (thread CPU time), on three generated inputs:
 *
 *   text     ordinary prose with a few numbers (dates, amounts, phones)
 *   utf8     the same with an accented UTF-8 word in ten (folded first)
 *   invoice  digit-heavy invoice lines (SKUs, quantities, prices, order
 *            numbers, dates, a card / IBAN / SSN now and then)
 *   mime     the invoice text as a base64 multipart message, through the
 *            MIME parser and the scanner (what the EOM stage does)
 *
 * and, in the same run on the same bytes, PCRE2 (JIT) doing the same job:
 * one pattern for card / SSN / IBAN candidates, each match then checked
 * with the same IIN/Luhn/mod-97 functions.  Findings of both are printed
 * so the comparison is of equal work.  Run by hand (contrib/bench/
 * dlp-scan/run.sh); never part of `make check`.
 */
#include "autoconfig.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dlp.h"
#include "mime.h"

#define MB (1024.0 * 1024.0)

static uint64_t rng = 88172645463325252ull;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static double
cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const words[] = {
	"the", "order", "was", "shipped", "today", "and", "your", "invoice", "is", "attached",
	"please", "review", "details", "below", "thanks", "for", "business", "we", "will",
	"contact", "you", "if", "anything", "changes", "regards", "support", "team", "account",
	"summary", "payment", "received", "balance", "due", "reference", "customer", "number",
	"delivery", "address", "meeting", "tomorrow", "office", "schedule", "project", "update",
};

static void
gen_text(struct buf *b, size_t size)
{
	while (b->len < size) {
		unsigned k = rnd(100);

		if (k < 2)
			buf_printf(b, "on 2026-%02u-%02u ", rnd(12) + 1, rnd(28) + 1);
		else if (k < 3)
			buf_printf(b, "call +1 415 555 %04u ", rnd(10000));
		else if (k < 4)
			buf_printf(b, "EUR %u.%02u ", rnd(10000), rnd(100));
		buf_append_str(b, words[rnd(sizeof(words) / sizeof(words[0]))]);
		buf_append_str(b, rnd(12) == 0 ? ".\r\n" : " ");
	}
}

/* Ordinary text with accented words now and then (UTF-8): the scanner
 * folds such text before reading it. */
static void
gen_utf8(struct buf *b, size_t size)
{
	static const char *const intl[] = {
		"caf\xc3\xa9", "gr\xc3\xb6\xc3\x9f" "e", "d\xc3\xa9j\xc3\xa0", "\xe2\x82\xac",
		"na\xc3\xafve", "\xe2\x80\x9cok\xe2\x80\x9d",
	};

	while (b->len < size) {
		unsigned k = rnd(100);

		if (k < 2)
			buf_printf(b, "on 2026-%02u-%02u ", rnd(12) + 1, rnd(28) + 1);
		else if (k < 3)
			buf_printf(b, "call +1 415 555 %04u ", rnd(10000));
		else if (k < 4)
			buf_printf(b, "EUR %u.%02u ", rnd(10000), rnd(100));
		if (rnd(10) == 0)
			buf_append_str(b, intl[rnd(sizeof(intl) / sizeof(intl[0]))]);
		else
			buf_append_str(b, words[rnd(sizeof(words) / sizeof(words[0]))]);
		buf_append_str(b, rnd(12) == 0 ? ".\r\n" : " ");
	}
}

static void
gen_invoice(struct buf *b, size_t size)
{
	while (b->len < size) {
		unsigned k = rnd(1000);

		buf_printf(b, "2026-%02u-%02u  INV-%06u  SKU %05u  qty %3u  unit %5u.%02u  "
		    "total %7u.%02u  order %04u%04u%04u%04u\r\n", rnd(12) + 1, rnd(28) + 1,
		    rnd(1000000), rnd(100000), rnd(500), rnd(10000), rnd(100), rnd(10000000),
		    rnd(100), rnd(10000), rnd(10000), rnd(10000), rnd(10000));
		if (k < 3)
			buf_append_str(b, "paid with card 4556 7375 8689 9855\r\n");
		else if (k < 5)
			buf_append_str(b, "IBAN DE89 3704 0044 0532 0130 00\r\n");
		else if (k < 6)
			buf_append_str(b, "SSN 536-22-1234\r\n");
	}
}

static void
gen_mime(const struct buf *inv, struct buf *m)
{
	buf_append_str(m, "From: a@example.test\r\nSubject: invoices\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n"
	    "Content-Type: text/csv; name=\"invoices.csv\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	mime_encode(MIME_CTE_BASE64, inv->data, inv->len, m);
	buf_append_str(m, "\r\n--b--\r\n");
}

/* ---- PCRE2 doing the same job ---- */

static pcre2_code *re;
static pcre2_match_data *md;

static void
pcre_init(void)
{
	int err;
	PCRE2_SIZE off;
	const char *pat =
	    "(?<![0-9A-Za-z])(?:"
	    "(?<card>[0-9](?:[ -]?[0-9]){11,18})"
	    "|(?<ssn>[0-9]{3}([- ])[0-9]{2}\\g{-1}[0-9]{4})"
	    "|(?<iban>[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30})"
	    ")(?![0-9A-Za-z])";

	re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	if (re == NULL) {
		fprintf(stderr, "pcre2_compile failed at %zu\n", (size_t)off);
		exit(1);
	}
	if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0)
		fprintf(stderr, "warning: no PCRE2 JIT\n");
	md = pcre2_match_data_create_from_pattern(re, NULL);
}

static size_t
pcre_scan(const char *s, size_t len)
{
	PCRE2_SIZE start = 0;
	size_t found = 0;

	for (;;) {
		int rc = pcre2_match(re, (PCRE2_SPTR)s, len, start, 0, md, NULL);
		PCRE2_SIZE *ov;
		char d[40];
		size_t n = 0, i;

		if (rc < 0)
			break;
		ov = pcre2_get_ovector_pointer(md);
		if (ov[2] != PCRE2_UNSET) {		/* card: digits only, then IIN + Luhn */
			for (i = ov[2]; i < ov[3] && n < sizeof(d); i++)
				if (s[i] >= '0' && s[i] <= '9')
					d[n++] = s[i];
			if (dlp_card_brand(d, n) != NULL && dlp_luhn_ok(d, n))
				found++;
		} else if (ov[4] != PCRE2_UNSET) {
			found++;
		} else if (ov[8] != PCRE2_UNSET) {	/* iban: no spaces, mod 97 */
			for (i = ov[8]; i < ov[9] && n < sizeof(d); i++)
				if (s[i] != ' ')
					d[n++] = s[i];
			if (dlp_iban_ok(d, n))
				found++;
		}
		start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
		if (start >= len)
			break;
	}
	return found;
}

/* ---- runs ---- */

static void
count_cb(void *arg, const struct mime_part *p, const char *text, size_t len)
{
	dlp_scan(text, len, p->no, arg);
}

static void
bench(const char *name, const struct buf *in, int mime, int reps)
{
	struct dlp_findings f;
	double t0, t_dlp, t_re;
	size_t found_dlp = 0, found_re = 0;
	int r;

	t0 = cpu_seconds();
	for (r = 0; r < reps; r++) {
		dlp_findings_init(&f);
		if (mime) {
			struct mime_limits lim = { 10, 500, (uint64_t)1 << 32 };
			struct mime_parser *p = mime_new(&lim, count_cb, &f);

			mime_feed(p, in->data, in->len);
			mime_finish(p);
			mime_free(p);
		} else {
			dlp_scan(in->data, in->len, 1, &f);
		}
		found_dlp = dlp_findings_total(&f);
		dlp_findings_free(&f);
	}
	t_dlp = (cpu_seconds() - t0) / reps;
	if (!mime) {
		t0 = cpu_seconds();
		for (r = 0; r < reps; r++)
			found_re = pcre_scan(in->data, in->len);
		t_re = (cpu_seconds() - t0) / reps;
		printf("%-8s %7.1f MiB  dlp_scan %8.0f MB/s (%zu found)   pcre2-jit %7.0f MB/s "
		    "(%zu found)   ratio %.1fx\n", name, in->len / MB, in->len / MB / t_dlp, found_dlp,
		    in->len / MB / t_re, found_re, t_re / t_dlp);
	} else {
		printf("%-8s %7.1f MiB  mime+dlp %8.0f MB/s (%zu found)\n", name, in->len / MB,
		    in->len / MB / t_dlp, found_dlp);
	}
}

int
main(int argc, char **argv)
{
	size_t size = (argc > 1 ? (size_t)atoi(argv[1]) : 64) << 20;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	struct buf text, utf8, inv, msg;

	buf_init(&text, 0);
	buf_init(&utf8, 0);
	buf_init(&inv, 0);
	buf_init(&msg, 0);
	gen_text(&text, size);
	gen_utf8(&utf8, size);
	gen_invoice(&inv, size);
	gen_mime(&inv, &msg);
	pcre_init();
	printf("# MB/s = MiB per second of one core's CPU time, mean of %d runs\n", reps);
	bench("text", &text, 0, reps);
	bench("utf8", &utf8, 0, reps);
	bench("invoice", &inv, 0, reps);
	bench("mime", &msg, 1, reps > 2 ? 2 : reps);
	buf_free(&text);
	buf_free(&utf8);
	buf_free(&inv);
	buf_free(&msg);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return 0;
}
