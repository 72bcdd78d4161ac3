/* SPDX-License-Identifier: ISC */
/*
 * buf.h: the one binary-safe byte buffer (STYLE rule 8).  Growth is
 * overflow-checked and bounded by a hard cap chosen by the owner; an
 * append that would pass the cap fails with -1 and leaves the buffer
 * unchanged, so callers can answer "too big" instead of buffering
 * without limit.  data is always NUL-terminated for convenience, but
 * length is what counts: never use str* functions on wire data.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stddef.h>
#include "util.h"

struct buf {
	char *data;	/* owned; NUL-terminated; may be NULL while empty */
	size_t len;
	size_t cap;
	size_t max;	/* hard cap on len; 0 means SIZE_MAX / 2 */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Make room for N more bytes; -1 when that would pass the cap. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Drop the first N bytes (consumed input). */
void buf_consume(struct buf *b, size_t n);
/* Hand the storage to the caller (malloc'd, NUL-terminated); the buffer becomes empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
