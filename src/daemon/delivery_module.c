/* SPDX-License-Identifier: ISC */
/*
 * delivery_module.c: the delivery module of posternd's module table
 * (src/daemon/daemon.c).  delivery_params_from_config() is the one
 * place that turns postern.conf into the engine's settings (parsing the
 * transport table and the TLS policy map once per delivery loop, each
 * engine owning its copy).  Start creates the delivery_loops engines on
 * d->queue, reload hands it new params (built, and so
 * checked, before anything changes), drain lets attempts in flight
 * finish, stop frees it.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "delivery.h"
#include "log.h"
#include "util.h"

static char **
strings_copy(const struct config_list *l, size_t *n)
{
	char **v = xcalloc(l->n ? l->n : 1, sizeof(*v));
	size_t i;

	for (i = 0; i < l->n; i++)
		v[i] = xstrdup(l->items[i]);
	*n = l->n;
	return v;
}

int
delivery_params_from_config(struct delivery_params *p, const struct config *cfg,
    char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (route_table_parse(&p->transport, &cfg->transport, ROUTE_TABLE_TRANSPORT, err,
	    errlen) == -1)
		return -1;
	if (route_table_parse(&p->tls_map, &cfg->smtp_tls_policy_map, ROUTE_TABLE_TLS, err,
	    errlen) == -1) {
		delivery_params_free(p);
		return -1;
	}
	p->hostname = xstrdup(cfg->hostname);
	p->helo_name = xstrdup(cfg->smtp_helo_name);
	p->tls_ca_file = xstrdup(cfg->smtp_tls_ca_file);
	p->tls_policy = (enum route_tls)cfg->smtp_tls_policy;	/* same values */
	p->addrpref = cfg->smtp_address_preference;
	p->bind_addresses = strings_copy(&cfg->smtp_bind_address, &p->nbind);
	p->dns_servers = strings_copy(&cfg->dns_servers, &p->ndns);
	p->connect_timeout = cfg->smtp_connect_timeout;
	p->helo_timeout = cfg->smtp_helo_timeout;
	p->command_timeout = cfg->smtp_command_timeout;
	p->data_timeout = cfg->smtp_data_timeout;
	p->delay_warning_time = cfg->delay_warning_time;
	p->concurrency = cfg->smtp_destination_concurrency;
	p->rate = cfg->smtp_destination_rate;
	p->reuse_limit = cfg->smtp_connection_reuse_limit;
	p->abuse.window = cfg->review_trigger_window;
	p->abuse.min_messages = cfg->review_trigger_min_messages;
	p->abuse.bounce_review = cfg->review_bounce_review;
	p->abuse.bounce_pause = cfg->review_bounce_pause;
	p->abuse.complaint_review = cfg->review_complaint_review;
	p->abuse.complaint_pause = cfg->review_complaint_pause;
	p->enabled = cfg->delivery_enabled;
	p->bounce_codes = strings_copy(&cfg->suppression_bounce_codes, &p->nbounce_codes);
	p->hard_bounce_expiry = cfg->suppression_hard_bounce_expiry;
	if (dest_classes_parse(&p->classes, &cfg->metrics_delivery_classes, err, errlen) != 0) {
		delivery_params_free(p);
		return -1;
	}
	return 0;
}

/* One params struct per delivery loop (each engine owns its own). */
static struct delivery_params *
params_for_loops(const struct config *cfg, unsigned n, char *err, size_t errlen)
{
	struct delivery_params *p = xcalloc(n, sizeof(*p));
	unsigned i, k;

	for (i = 0; i < n; i++)
		if (delivery_params_from_config(&p[i], cfg, err, errlen) == -1) {
			for (k = 0; k < i; k++)
				delivery_params_free(&p[k]);
			free(p);
			return NULL;
		}
	return p;
}

int
delivery_module_start(struct daemon *d, char *err, size_t errlen)
{
	struct delivery_params *p;
	unsigned n = config_delivery_loops(d->cfg);

	if (d->queue == NULL) {
		snprintf(err, errlen, "delivery needs the queue");
		return -1;
	}
	if ((p = params_for_loops(d->cfg, n, err, errlen)) == NULL)
		return -1;
	d->delivery = delivery_new(d->loop, d->queue, n, p, err, errlen);
	free(p);
	if (d->delivery != NULL && n > 1)
		log_info("event=delivery_loops loops=%u", n);
	return d->delivery ? 0 : -1;
}

int
delivery_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	struct delivery_params *p;
	int rc;

	if (d->delivery == NULL)
		return 0;
	if ((p = params_for_loops(next, delivery_loops(d->delivery), err, errlen)) == NULL)
		return -1;	/* nothing changed */
	rc = delivery_reload(d->delivery, p, err, errlen);
	free(p);
	return rc;
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
