/* SPDX-License-Identifier: ISC */
/*
 * queue_module.c: the queue module of posternd's module table
 * (src/daemon.c).  queue/ knows nothing of the daemon, so the glue
 * lives here in the composition root: start opens the queue (creating
 * the master key on first start), reload hands it the new config,
 * stop drains the writer thread (every pending commit is answered) and
 * closes it.  Its control commands are registered by the control
 * module (src/control/), not here.
 */
#include "autoconfig.h"

#include <stdio.h>

#include "daemon.h"
#include "log.h"
#include "queue.h"

int
queue_module_start(struct daemon *d, char *err, size_t errlen)
{
	d->queue = queue_open(d->loop, d->cfg, 0, err, errlen);
	if (d->queue == NULL)
		return -1;
	return 0;
}

int
queue_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	queue_reload(d->queue, next);
	return 0;
}

void
queue_module_stop(struct daemon *d)
{
	queue_close(d->queue);
	d->queue = NULL;
}
