/* SPDX-License-Identifier: ISC */
/*
 * webhook.h: the signed event webhook dispatcher (src/outbound/
 * webhook.c): reads the queue's outbox on the loop and POSTs each event
 * to its account's webhook_url, signed with its webhook_secret_file.
 * Started by src/daemon/webhook_module.c.
 */
#ifndef POSTERN_WEBHOOK_H
#define POSTERN_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct queue;
struct webhook;

struct webhook_params {
	uint64_t lifetime;	/* ms: webhook_lifetime, then the event is dropped */
	uint64_t timeout;	/* ms: webhook_timeout, per POST */
};

struct webhook_stats {
	uint64_t sent, failed, expired;
	size_t inflight;
};

struct webhook *webhook_new(uv_loop_t *loop, struct queue *q, const struct webhook_params *p);
void webhook_reload(struct webhook *wh, const struct webhook_params *p);
void webhook_get_stats(const struct webhook *wh, struct webhook_stats *st);
/* Stop: in-flight POSTs are abandoned (their records stay in the outbox
 * and are sent again after a restart); freed once its handles close. */
void webhook_free(struct webhook *wh);

#endif
