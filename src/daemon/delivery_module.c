/* SPDX-License-Identifier: ISC */
/*
 * delivery_module.c: the delivery module of posternd's module table
 * (src/daemon/daemon.c).  Start creates the delivery engine on
 * d->queue with d->cfg (the engine holds its own reference to the
 * config it runs with), reload hands it the new config (the transport
 * table and TLS policy map were already checked by daemon_check()),
 * drain lets attempts in flight finish, stop frees it.
 */
#include "autoconfig.h"

#include <stdio.h>

#include "daemon.h"
#include "delivery.h"

int
delivery_module_start(struct daemon *d, char *err, size_t errlen)
{
	if (d->queue == NULL) {
		snprintf(err, errlen, "delivery needs the queue");
		return -1;
	}
	d->delivery = delivery_new(d->loop, d->queue, d->cfg, err, errlen);
	return d->delivery ? 0 : -1;
}

int
delivery_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	return d->delivery ? delivery_reload(d->delivery, next, err, errlen) : 0;
}

static void
module_drained(void *arg)
{
	daemon_drained(arg, "delivery");
}

int
delivery_module_drain(struct daemon *d)
{
	return d->delivery ? delivery_drain(d->delivery, module_drained, d) : 0;
}

void
delivery_module_stop(struct daemon *d)
{
	delivery_free(d->delivery);
	d->delivery = NULL;
}
