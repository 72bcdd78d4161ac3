/* SPDX-License-Identifier: ISC */
/*
 * spam_module.c: the "spam" module of posternd's module table (issue
 * 15): opens the spam model (include/spamdb.h, an LMDB environment of
 * its own in spam_model_directory, by default DATA_DIRECTORY/spam) at
 * start and closes it at stop.  The relay's EOM stage scores with it
 * (relay_set_spam(), wired in smtpd_module.c) and posternctl spam may
 * learn into the same directory while the daemon runs (LMDB shares an
 * environment between processes).  A model that cannot be opened is
 * logged and spam scoring goes on with the rules only: a broken model
 * must not stop mail.  The directory is read at start only (RESTART).
 * Stale tokens expire: every min(spam_token_expiry / 2, 1 h) a pool job
 * deletes the tokens not learned for spam_token_expiry (0: never), off
 * the loop, and logs event=spam_expired.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "spamdb.h"
#include "util.h"

static struct spam_store module_store;

/* The expiry timer and its pool job (one at a time). */
static struct {
	struct daemon *d;
	uv_timer_t timer;
	uv_work_t work;
	int started, busy;
	uint64_t before, removed;
	int rc;
} expiry;

static void
expiry_work(uv_work_t *w)
{
	(void)w;
	expiry.rc = spamdb_expire(expiry.d->spam, expiry.before, &expiry.removed);
}

static void
expiry_done(uv_work_t *w, int status)
{
	(void)w;
	expiry.busy = 0;
	if (status == 0 && expiry.rc == 0 && expiry.removed > 0)
		log_info("event=spam_expired tokens=%llu", (unsigned long long)expiry.removed);
	else if (status == 0 && expiry.rc != 0)
		log_warn("event=spam_expiry_failed error=%d", expiry.rc);
}

static void
expiry_tick(uv_timer_t *t)
{
	uint64_t age = expiry.d->cfg->spam_token_expiry, now = now_wall_ms();

	(void)t;
	if (age == 0 || expiry.busy || expiry.d->spam == NULL || expiry.d->stopping)
		return;
	expiry.before = now > age ? now - age : 0;
	expiry.removed = 0;
	expiry.work.data = NULL;
	if (uv_queue_work(expiry.d->loop, &expiry.work, expiry_work, expiry_done) == 0)
		expiry.busy = 1;
}

char *
spam_model_dir(const struct config *cfg)
{
	if (cfg->spam_model_directory != NULL && cfg->spam_model_directory[0] != '\0')
		return xstrdup(cfg->spam_model_directory);
	return xasprintf("%s/spam", cfg->data_directory);
}

int
spam_module_start(struct daemon *d, char *err, size_t errlen)
{
	char *dir, why[512];

	(void)err;
	(void)errlen;
	if (!d->cfg->spam_scoring)
		return 0;
	dir = spam_model_dir(d->cfg);
	d->spam = spamdb_open(dir, 0, why, sizeof(why));
	if (d->spam == NULL) {
		log_err("event=spam_model_unavailable dir=%s error=\"%s\"", dir, why);
	} else {
		spamdb_store(d->spam, &module_store);
		d->spam_store = &module_store;
		if (d->cfg->spam_token_expiry > 0) {
			uint64_t every = d->cfg->spam_token_expiry / 2;

			if (every > 3600 * 1000)
				every = 3600 * 1000;
			if (every < 1000)
				every = 1000;
			expiry.d = d;
			uv_timer_init(d->loop, &expiry.timer);
			uv_timer_start(&expiry.timer, expiry_tick, every, every);
			expiry.started = 1;
		}
	}
	free(dir);
	return 0;
}

void
spam_module_stop(struct daemon *d)
{
	if (expiry.started) {
		uv_timer_stop(&expiry.timer);
		uv_close((uv_handle_t *)&expiry.timer, NULL);
		expiry.started = 0;
	}
	d->spam_store = NULL;
	if (expiry.busy && uv_cancel((uv_req_t *)&expiry.work) != 0) {
		/* the expiry job is running: the process is about to end, leave
		 * the environment to it rather than close it under the job */
		log_warn("event=spam_model_left_open reason=expiry_running");
		d->spam = NULL;
		return;
	}
	spamdb_close(d->spam);
	d->spam = NULL;
}
