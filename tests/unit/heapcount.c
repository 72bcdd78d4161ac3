/* SPDX-License-Identifier: ISC */
/*
 * heapcount.c: the malloc wrappers behind tests/unit/heapcount.h.  The
 * linker's --wrap sends every malloc/calloc/realloc/free of the test
 * program (libpostern.a included) here; while counting is on, the live
 * heap and its peak are tracked by usable size.  Test-only code.
 */
#include <malloc.h>
#include <stddef.h>

#include "heapcount.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long long heap_live, heap_peak;
static int counting;

static void
heap_add(void *p, int sign)
{
	if (p == NULL || !counting)
		return;
	heap_live += sign * (long long)malloc_usable_size(p);
	if (heap_live > heap_peak)
		heap_peak = heap_live;
}

void *
__wrap_malloc(size_t n)
{
	void *p = __real_malloc(n);

	heap_add(p, 1);
	return p;
}

void *
__wrap_calloc(size_t n, size_t m)
{
	void *p = __real_calloc(n, m);

	heap_add(p, 1);
	return p;
}

void *
__wrap_realloc(void *p, size_t n)
{
	void *q;

	heap_add(p, -1);
	q = __real_realloc(p, n);
	heap_add(q != NULL ? q : p, 1);
	return q;
}

void
__wrap_free(void *p)
{
	heap_add(p, -1);
	__real_free(p);
}

void
heap_start(void)
{
	heap_live = heap_peak = 0;
	counting = 1;
}

long long
heap_stop(void)
{
	counting = 0;
	return heap_peak;
}
