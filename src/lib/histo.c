/* SPDX-License-Identifier: ISC */
/*
 * histo.c: the histograms of include/histo.h.  Writers (the queue's
 * writer thread, EOM stages in the thread pool) add with relaxed atomic
 * increments; the metrics scrape on the loop copies the counters.  The
 * bounds follow Prometheus practice: durations from 100 us to 10 s,
 * counts in powers of two up to 1024 (group-commit batch sizes).
 */
#include "autoconfig.h"

#include <string.h>
#include <time.h>

#include "histo.h"
#include "util.h"

static const uint64_t duration_bounds[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
static const uint64_t count_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };

const uint64_t *
histo_bounds(enum histo_kind kind, size_t *n)
{
	if (kind == HISTO_COUNT) {
		*n = ARRAY_SIZE(count_bounds);
		return count_bounds;
	}
	*n = ARRAY_SIZE(duration_bounds);
	return duration_bounds;
}

void
histo_observe(struct histo *h, uint64_t v)
{
	size_t n, i;
	const uint64_t *b = histo_bounds(h->kind, &n);

	for (i = 0; i < n && v > b[i]; i++)
		;
	__atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

void
histo_snapshot(const struct histo *h, struct histo *out)
{
	size_t i;

	out->kind = h->kind;
	for (i = 0; i <= HISTO_MAX; i++)
		out->counts[i] = __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
	out->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
	out->count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
}

uint64_t
histo_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
