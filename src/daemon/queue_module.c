/* SPDX-License-Identifier: ISC */
/*
 * queue_module.c: the queue module of posternd's module table
 * (src/daemon.c).  queue/ knows nothing of the daemon, so the glue
 * lives here in the composition root: queue_params_from_config() is
 * the one place that turns postern.conf into the queue's settings;
 * start opens the queue (creating the master key on first start),
 * gives it the account record's parser (src/account/) for per-account
 * retention, reload hands it the new params, stop drains the writer
 * thread (every pending commit is answered) and closes it.  Its control
 * commands are registered by the control module (src/control/), not here.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "account.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "queue.h"

void
queue_params_from_config(struct queue_params *p, const struct config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->data_directory = cfg->data_directory;
	p->master_key_file = cfg->master_key_file;
	p->map_size = cfg->queue_map_size;
	p->map_grow = cfg->queue_map_grow;
	p->map_max = cfg->queue_map_max;
	p->chunk_size = cfg->queue_chunk_size;
	p->commit_batch = cfg->queue_commit_batch;
	p->result_linger = cfg->queue_result_linger;
	p->retry = cfg->retry_schedule.ms;
	p->nretry = cfg->retry_schedule.n;
	p->max_queue_lifetime = cfg->max_queue_lifetime;
	p->body_retention = cfg->body_retention;
	p->event_retention = cfg->event_retention;
	p->audit_retention = cfg->audit_retention;
	p->metadata_retention = cfg->metadata_retention;
	p->purge_interval = cfg->purge_interval;
}

struct queue *
queue_open_config(uv_loop_t *loop, const struct config *cfg, int readonly,
    char *err, size_t errlen)
{
	struct queue_params p;

	queue_params_from_config(&p, cfg);
	return queue_open(loop, &p, readonly, err, errlen);
}

int
queue_module_start(struct daemon *d, char *err, size_t errlen)
{
	struct queue_params p;

	queue_params_from_config(&p, d->cfg);
	d->queue = queue_open(d->loop, &p, 0, err, errlen);
	if (d->queue == NULL)
		return -1;
	/* the queue reads account settings through their one owner */
	queue_set_account_policy_fn(d->queue, account_policy_read, NULL);
	return 0;
}

int
queue_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	struct queue_params p;

	(void)err;
	(void)errlen;
	queue_params_from_config(&p, next);
	queue_reload(d->queue, &p);
	return 0;
}

/* SIGTERM: delivery results stop lingering (queue_drain); nothing to
 * wait for here, the queue finishes its commits in queue_module_stop. */
int
queue_module_drain(struct daemon *d)
{
	queue_drain(d->queue);
	return 0;
}

void
queue_module_stop(struct daemon *d)
{
	queue_close(d->queue);
	d->queue = NULL;
}
