/* SPDX-License-Identifier: ISC */
/*
 * feedback_module.c: the "feedback" module of posternd's module table:
 * the one-click unsubscribe endpoint on http_listen (src/inbound/
 * feedback.c over src/net/http.c) and the sweep of expired
 * suppressions.  The feedback SMTP listener itself
 * is one of the smtpd module's listeners (RELAY_MODE_FEEDBACK).
 * http_listen needs a restart to change; nothing else is kept.
 */
#include "autoconfig.h"

#include "daemon.h"
#include "feedback.h"

int
feedback_module_start(struct daemon *d, char *err, size_t errlen)
{
	d->feedback = feedback_http_start(d->loop, d->cfg, d->queue, err, errlen);
	return d->feedback != NULL ? 0 : -1;
}

void
feedback_module_stop(struct daemon *d)
{
	feedback_http_stop(d->feedback);
	d->feedback = NULL;
}
