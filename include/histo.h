/* SPDX-License-Identifier: ISC */
/*
 * histo.h: a fixed-bucket histogram that any thread may feed (atomic
 * counters, no lock), read as a snapshot for the Prometheus exposition
 * (src/daemon/metrics_module.c).  Bounds are set once (HISTO_DURATION
 * in microseconds, HISTO_COUNT for sizes); a value goes into the first
 * bucket whose bound is >= it, or the last (+Inf) one.
 */
#ifndef POSTERN_HISTO_H
#define POSTERN_HISTO_H

#include <stddef.h>
#include <stdint.h>

#define HISTO_MAX 16

enum histo_kind { HISTO_DURATION, HISTO_COUNT };

struct histo {
	enum histo_kind kind;
	uint64_t counts[HISTO_MAX + 1];	/* per bucket, not cumulative; last = +Inf */
	uint64_t sum;			/* microseconds or units */
	uint64_t count;
};

/* The bucket bounds of KIND (microseconds for durations) and how many. */
const uint64_t *histo_bounds(enum histo_kind kind, size_t *n);
void histo_observe(struct histo *h, uint64_t v);
/* A consistent-enough copy of H (each counter read atomically). */
void histo_snapshot(const struct histo *h, struct histo *out);
uint64_t histo_now_us(void);

#endif
