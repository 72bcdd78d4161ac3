/* SPDX-License-Identifier: ISC */
/*
 * ctl_scan.c: `posternctl scan [--json] FILE...`, the offline
 * sensitive-data check for customers and reviewers (issue 7).  Each
 * file is one message (.eml); it is parsed with the same MIME parser
 * and limits and scanned by the same detectors as the EOM stage, and
 * the findings are printed with the values masked (last four kept):
 *
 *   msg.eml: part=3 type=card brand=visa confidence=90 offset=120 value=**** **** **** 1111
 *
 * --json prints one object per file instead (counts of every type,
 * zeros included; "limit" names where the parser gave up, "none" when
 * it read everything).  Needs no daemon and no database.  The exit
 * status is the same with and without --json and, over several files,
 * the most serious of theirs: 2 a file could not be read (or usage),
 * 1 sensitive data found, 3 nothing found but a MIME limit stopped the
 * scan (the rest of the message was not read), 0 read completely and
 * nothing found (posternctl(8), "scan").
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_scan.h"
#include "dlp.h"
#include "mime.h"
#include "json.h"
#include "util.h"

#define SCAN_MAX_FILE (512u << 20)

/* Exit statuses (posternctl(8)). */
enum { SCAN_CLEAN = 0, SCAN_FOUND = 1, SCAN_ERROR = 2, SCAN_INCOMPLETE = 3 };

/* Which of two statuses wins over several files: error, then found,
 * then incomplete, then clean. */
static int
scan_worse(int a, int b)
{
	static const int rank[] = { 0, 2, 3, 1 };	/* by status */

	return rank[b] > rank[a] ? b : a;
}

struct scan_file {
	struct dlp_findings f;
	char (*masked)[64];	/* masked value of f.v[i] */
	size_t nmasked;
};

static void
scan_cb(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct scan_file *s = arg;
	size_t first = s->f.n, i;

	dlp_scan(text, len, part->no, &s->f);
	if (s->f.n == first)
		return;
	s->masked = xrealloc(s->masked, s->f.n * sizeof(*s->masked));
	for (i = first; i < s->f.n; i++)
		dlp_mask(text, len, &s->f.v[i], s->masked[i], sizeof(s->masked[i]));
	s->nmasked = s->f.n;
}

static int
scan_one(const char *path, int json, const struct mime_limits *lim)
{
	struct scan_file s;
	struct mime_parser *p;
	enum mime_limit limit;
	char *data = NULL;
	size_t len = 0, i;
	int rc;

	if ((rc = file_read_all(path, SCAN_MAX_FILE, &data, &len)) != 0) {
		fprintf(stderr, "posternctl scan: %s: %s\n", path,
		    strerror(-rc));
		return SCAN_ERROR;
	}
	memset(&s, 0, sizeof(s));
	dlp_findings_init(&s.f);
	p = mime_new(lim, scan_cb, &s);
	(void)mime_feed(p, data, len);
	(void)mime_finish(p);
	limit = mime_limit_hit(p);
	mime_free(p);
	free(data);

	if (json) {
		printf("{\"file\":");
		json_fput_str(stdout, path);
		printf(",\"limit\":\"%s\",\"counts\":{", mime_strlimit(limit));
		for (i = 0; i < DLP_NTYPES; i++)
			printf("%s\"%s\":%zu", i ? "," : "", dlp_strtype((enum dlp_type)i),
			    s.f.count[i]);
		printf("},\"findings\":[");
		for (i = 0; i < s.f.n; i++) {
			const struct dlp_finding *d = &s.f.v[i];

			printf("%s{\"type\":\"%s\",\"part\":%u,\"offset\":%zu,\"confidence\":%u,"
			    "\"brand\":\"%s\",\"value\":", i ? "," : "", dlp_strtype(d->type), d->part,
			    d->offset, d->confidence, d->brand);
			json_fput_str(stdout, s.masked[i]);
			printf("}");
		}
		printf("]}\n");
	} else {
		if (limit != MIME_LIMIT_NONE)
			printf("%s: limit=%s (scan incomplete)\n", path, mime_strlimit(limit));
		for (i = 0; i < s.f.n; i++) {
			const struct dlp_finding *d = &s.f.v[i];

			printf("%s: part=%u type=%s%s%s confidence=%u offset=%zu value=%s\n", path,
			    d->part, dlp_strtype(d->type), d->brand[0] ? " brand=" : "", d->brand,
			    d->confidence, d->offset, s.masked[i]);
		}
		if (dlp_findings_total(&s.f) > s.f.n)
			printf("%s: %zu more findings not listed\n", path,
			    dlp_findings_total(&s.f) - s.f.n);
		if (dlp_findings_total(&s.f) == 0 && limit == MIME_LIMIT_NONE)
			printf("%s: no findings\n", path);
	}
	rc = dlp_findings_total(&s.f) > 0 ? SCAN_FOUND
	    : limit != MIME_LIMIT_NONE ? SCAN_INCOMPLETE : SCAN_CLEAN;
	free(s.masked);
	dlp_findings_free(&s.f);
	return rc;
}

int
ctl_scan_main(int argc, char **argv)
{
	struct mime_limits lim = { 10, 500, 100u << 20 };
	int json = 0, i, rc = 0, files = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: posternctl scan [--json] FILE...\n");
			return 0;
		} else {
			int r = scan_one(argv[i], json, &lim);

			files++;
			rc = scan_worse(rc, r);
		}
	}
	if (files == 0) {
		fprintf(stderr, "usage: posternctl scan [--json] FILE...\n");
		return SCAN_ERROR;
	}
	return rc;
}
