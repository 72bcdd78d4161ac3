/* SPDX-License-Identifier: ISC */
/*
 * queue_module.c: the queue and control-socket modules of posternd's
 * module table (src/daemon.c).  queue/ knows nothing of the daemon, so
 * the glue lives here in the composition root: start opens the queue
 * (creating the master key on first start), reload hands it the new
 * config, stop drains the writer thread (every pending commit is
 * answered) and closes it.  The control module binds control_socket
 * after the queue is open and registers the queue.* commands.
 */
#include "autoconfig.h"

#include <stdio.h>

#include "control.h"
#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "queue.h"

int
queue_module_start(struct daemon *d, char *err, size_t errlen)
{
	d->queue = queue_open(d->loop, d->cfg, 0, err, errlen);
	return d->queue != NULL ? 0 : -1;
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

int
control_module_start(struct daemon *d, char *err, size_t errlen)
{
	ctl_queue_register();
	d->control = control_start(d->loop, d->cfg, d->queue, err, errlen);
	return d->control != NULL ? 0 : -1;
}

int
control_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	control_reload(d->control, next);
	return 0;
}

void
control_module_stop(struct daemon *d)
{
	control_stop(d->control);
	d->control = NULL;
}
