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
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "spamdb.h"
#include "util.h"

static struct spam_store module_store;

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
	}
	free(dir);
	return 0;
}

void
spam_module_stop(struct daemon *d)
{
	d->spam_store = NULL;
	spamdb_close(d->spam);
	d->spam = NULL;
}
