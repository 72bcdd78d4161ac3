/* SPDX-License-Identifier: ISC */
/*
 * control_module.c: the control socket module of posternd's module
 * table (src/daemon/daemon.c), started after the queue.  Start binds
 * control_socket (a restart key: reload never moves it), reload hands
 * the server the new config (role groups), stop closes the socket and
 * its connections.  It also hands the status command the daemon's
 * config path and start time (control_set_daemon_info).
 */
#include "autoconfig.h"

#include <stdio.h>

#include "control.h"
#include "daemon.h"
#include "util.h"

static struct control_daemon_info info;

int
control_module_start(struct daemon *d, char *err, size_t errlen)
{
	info.config_path = d->config_path;
	info.started = now_wall_ms();
	control_set_daemon_info(&info);
	d->control = control_start(d->loop, d->cfg, d->queue, err, errlen);
	if (d->control != NULL) {
		control_set_auth_guard(d->control, d->auth_guard);
		control_set_spam(d->control, d->spam_store, d->spam);	/* issue 15 */
	}
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
