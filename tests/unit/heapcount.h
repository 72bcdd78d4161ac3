/* SPDX-License-Identifier: ISC */
/*
 * heapcount.h: peak heap accounting for unit tests that show how much a
 * code path allocates (issue 11 item 6: one copy of the message).  A
 * test links tests/unit/heapcount.c and -Wl,--wrap=malloc,calloc,
 * realloc,free; between heap_start() and heap_stop() every live byte
 * (malloc_usable_size) is counted and heap_stop() returns the peak.
 */
#ifndef POSTERN_TEST_HEAPCOUNT_H
#define POSTERN_TEST_HEAPCOUNT_H

void heap_start(void);
long long heap_stop(void);	/* peak live bytes since heap_start() */

#endif
