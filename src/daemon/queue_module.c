/* SPDX-License-Identifier: ISC */
/*
 * queue_module.c: the queue module of posternd's module table
 * (src/daemon.c).  queue/ knows nothing of the daemon, so the glue
 * lives here in the composition root: start opens the queue (creating
 * the master key on first start), gives it the account record's parser
 * (src/account/) for per-account retention, registers the queue.*
 * control commands, reload hands it the new config, stop drains the writer
 * thread (every pending commit is answered) and closes it.
 */
#include "autoconfig.h"

#include <stdio.h>

#include "account.h"
#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "queue.h"

int
queue_module_start(struct daemon *d, char *err, size_t errlen)
{
	d->queue = queue_open(d->loop, d->cfg, 0, err, errlen);
	if (d->queue == NULL)
		return -1;
	/* the queue reads account settings through their one owner */
	queue_set_account_policy_fn(d->queue, account_policy_read, NULL);
	ctl_queue_register();
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
