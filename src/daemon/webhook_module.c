/* SPDX-License-Identifier: ISC */
/*
 * webhook_module.c: the webhook dispatcher's module in posternd's
 * module table (src/daemon/daemon.c), after delivery: start creates it
 * on d->queue with webhook_lifetime and webhook_timeout, reload hands
 * it the new values, stop frees it (in-flight POSTs are abandoned and
 * sent again after the restart: their outbox records stay).
 */
#include "autoconfig.h"

#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "webhook.h"

static void
params_from(struct webhook_params *p, const struct config *cfg)
{
	p->lifetime = cfg->webhook_lifetime;
	p->timeout = cfg->webhook_timeout;
}

int
webhook_module_start(struct daemon *d, char *err, size_t errlen)
{
	struct webhook_params p;

	params_from(&p, d->cfg);
	d->webhook = webhook_new(d->loop, d->queue, &p);
	if (d->webhook == NULL) {
		snprintf(err, errlen, "webhook: cannot start the HTTP client");
		return -1;
	}
	return 0;
}

int
webhook_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	struct webhook_params p;

	(void)err;
	(void)errlen;
	params_from(&p, next);
	webhook_reload(d->webhook, &p);
	return 0;
}

void
webhook_module_stop(struct daemon *d)
{
	webhook_free(d->webhook);
	d->webhook = NULL;
}
