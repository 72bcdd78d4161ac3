/* SPDX-License-Identifier: ISC */
/*
 * suppress-lookup: micro-benchmark of the RCPT stage's lookup
 * (suppress_check(), src/account/suppress.c: normalise, keyed hash,
 * two LMDB gets: the account's list, then the global one) with an empty
 * list and with 1,000,000 suppressions for one account, on a fresh
 * queue in $TMPDIR (or -d DIR).  The million entries are written
 * through the real writer in batches of 10,000 (suppress_put_many, one
 * transaction each: what `posternctl suppress import` does).  Prints
 * lookups/s for misses on the empty list, hits and misses on the full
 * one, the load rate and the data.mdb size.  Run by hand:
 *
 *   ./contrib/bench/suppress/suppress-lookup [-n entries] [-l lookups] [-d dir]
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "crypto.h"
#include "daemon.h"
#include "queue.h"
#include "suppress.h"
#include "util.h"

#define BATCH 10000

static int pending, failed;

static void
put_done(void *arg, const struct outcome *o)
{
	(void)arg;
	if (o->kind != OUTCOME_OK)
		failed++;
	pending--;
}

/* LOOKUPS checks of "PREFIX<i>@example.com": lookups/s and hits. */
static double
measure(struct queue *q, const char *prefix, long n, long range, long *hits)
{
	struct suppress_rec r;
	char addr[64], hex[ADDR_HASH_HEX];
	uint64_t t0 = now_mono_ms(), t1;
	int global;
	long i;

	*hits = 0;
	for (i = 0; i < n; i++) {
		int len = snprintf(addr, sizeof(addr), "%s%ld@Example.COM", prefix,
		    (i * 7919) % range);

		if (suppress_check(q, "bench", addr, (size_t)len, &r, &global, hex) == 1)
			(*hits)++;
	}
	t1 = now_mono_ms();
	return (double)n * 1000.0 / (double)(t1 > t0 ? t1 - t0 : 1);
}

int
main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	long entries = 1000000, lookups = 1000000, i, hits;
	char dir[512], err[1024], *text, *cmd, path[600];
	unsigned char key[32];
	struct config *cfg;
	struct queue *q;
	struct stat st;
	uv_loop_t loop;
	double empty, hit, miss;
	uint64_t t0, t1;
	int ch;

	while ((ch = getopt(argc, argv, "d:n:l:")) != -1) {
		switch (ch) {
		case 'd': base = optarg; break;
		case 'n': entries = atol(optarg); break;
		case 'l': lookups = atol(optarg); break;
		default:
			fprintf(stderr, "usage: suppress-lookup [-n entries] [-l lookups] [-d dir]\n");
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/suppress-lookup.XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp %s", dir);
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/master.key\n"
	    "queue_map_size = 4g\n", dir, dir);
	if ((cfg = config_parse("bench", text, strlen(text), err, sizeof(err))) == NULL)
		fatal("%s", err);
	free(text);
	uv_loop_init(&loop);
	if ((q = queue_open_config(&loop, cfg, 0, err, sizeof(err))) == NULL)
		fatal("%s", err);
	crypto_random_bytes(key, sizeof(key));
	addr_index_set_key(key, sizeof(key));

	empty = measure(q, "u", lookups, entries, &hits);
	printf("empty list:      %10.0f lookups/s (misses)\n", empty);

	t0 = now_mono_ms();
	for (i = 0; i < entries; i += BATCH) {
		long k, n = entries - i < BATCH ? entries - i : BATCH;
		char **hexes = xcalloc((size_t)n, sizeof(*hexes));
		struct suppress_rec *recs = xcalloc((size_t)n, sizeof(*recs));

		for (k = 0; k < n; k++) {
			char addr[64];
			int len = snprintf(addr, sizeof(addr), "u%ld@example.com", i + k);

			hexes[k] = xmalloc(ADDR_HASH_HEX);
			if (addr_index_hash_hex(addr, (size_t)len, hexes[k]) != 0)
				fatal("hash");
			recs[k].reason = SUPPRESS_HARD_BOUNCE;
			suppress_set_source(&recs[k], "5.1.1");
			recs[k].created = now_wall_ms();
		}
		pending++;
		if (suppress_put_many(q, "bench", hexes, recs, (size_t)n, NULL, put_done, NULL) != 0)
			fatal("suppress_put_many");
		while (pending > 4)	/* a few batches in flight */
			uv_run(&loop, UV_RUN_ONCE);
		for (k = 0; k < n; k++)
			free(hexes[k]);
		free(hexes);
		free(recs);
	}
	while (pending > 0)
		uv_run(&loop, UV_RUN_ONCE);
	t1 = now_mono_ms();
	snprintf(path, sizeof(path), "%s/q/data.mdb", dir);
	printf("loaded:          %10ld entries in %.1f s (%.0f/s), %d failed batches, data.mdb %lld MiB\n",
	    entries, (double)(t1 - t0) / 1000.0, (double)entries * 1000.0 / (double)(t1 - t0 + 1),
	    failed, stat(path, &st) == 0 ? (long long)st.st_size >> 20 : -1LL);

	hit = measure(q, "u", lookups, entries, &hits);
	printf("1M list, hits:   %10.0f lookups/s (%ld of %ld suppressed)\n", hit, hits, lookups);
	miss = measure(q, "x", lookups, entries, &hits);
	printf("1M list, misses: %10.0f lookups/s (%ld suppressed)\n", miss, hits);
	printf("ratio misses full/empty: %.2f\n", miss / empty);

	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	config_free(cfg);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	free(cmd);
	return 0;
}
