/* SPDX-License-Identifier: ISC */
/*
 * delivery.h: the outbound delivery engine (DESIGN.md §8): queue ->
 * routing (transport table, DNS) -> SMTP client -> queue_report(), and
 * DSNs back into the queue.  One per daemon, on the loop.
 */
#ifndef POSTERN_DELIVERY_H
#define POSTERN_DELIVERY_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "queue.h"

struct delivery;
struct daemon;

/* Start delivering what Q hands out as due.  CFG is borrowed until
 * delivery_reload() gives a new one.  NULL with ERR on failure. */
struct delivery *delivery_new(uv_loop_t *loop, struct queue *q,
    const struct config *cfg, char *err, size_t errlen);
/* Adopt a new config (TLS client context, limits, transport table). */
int delivery_reload(struct delivery *dl, const struct config *cfg, char *err, size_t errlen);
/*
 * Stop taking new work; connections finish their current message and
 * quit.  Returns 0 when already idle, else 1 and calls DONE(ARG) once
 * the last connection has closed.
 */
int delivery_drain(struct delivery *dl, void (*done)(void *arg), void *arg);
/* Close everything now.  Results not yet reported stay due in the queue. */
void delivery_free(struct delivery *dl);

/* Counters for tests and metrics. */
struct delivery_stats {
	uint64_t connections;		/* TCP connections opened */
	uint64_t sessions;		/* SMTP sessions established */
	uint64_t messages;		/* transactions attempted */
	uint64_t delivered, deferred, bounced;	/* recipients */
	uint64_t dsns;			/* DSNs queued */
};
void delivery_get_stats(const struct delivery *dl, struct delivery_stats *st);

/* The posternd module callbacks are in daemon.h (src/daemon/delivery_module.c). */

#endif
