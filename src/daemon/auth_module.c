/* SPDX-License-Identifier: ISC */
/*
 * auth_module.c: the AUTH guard module of posternd's module table
 * (src/daemon/daemon.c), started after the queue and before the control
 * socket and the listeners, which both use it: the relay asks and
 * reports every AUTH attempt (src/inbound/relay.c), the control commands
 * auth.lockouts and auth.unlock (src/control/cmd_auth.c) list and clear
 * its entries.  The guard keeps no config: its rule's numbers are passed
 * with each call, so reload has nothing to do.  Its state lives in
 * memory only and starts empty at every start (a restart unlocks all).
 */
#include "autoconfig.h"

#include "auth_guard.h"
#include "daemon.h"

int
auth_module_start(struct daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	d->auth_guard = auth_guard_new();
	return 0;
}

void
auth_module_stop(struct daemon *d)
{
	auth_guard_free(d->auth_guard);
	d->auth_guard = NULL;
}
