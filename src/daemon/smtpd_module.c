/* SPDX-License-Identifier: ISC */
/*
 * smtpd_module.c: the "smtpd" module of posternd's module table
 * (src/daemon/daemon.c): a relay (src/inbound/relay.c) on d->queue plus
 * the SMTP listeners (src/inbound/listener.c).  It never reads the
 * config file: the listener and the relay take their own references to
 * d->cfg, each session and each relay job one to the config it started
 * with, so an old config lives exactly as long as something uses it.
 * Reload hands both the new config (the certificate was already loaded
 * once by daemon_check(); the listener loads it again for new
 * connections, and on failure keeps its old state).  Drain refuses new
 * connections, ends sessions with 421 4.3.2 and waits for commits in
 * flight; stop frees everything once the handles are closed.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "relay.h"
#include "util.h"

struct smtpd_module {
	struct daemon *d;		/* borrowed */
	struct relay *relay;
	struct listener *listener;
	int listener_stopped;
	int draining;
};

static void
smtpd_module_free(struct smtpd_module *m)
{
	listener_free(m->listener);
	if (relay_busy(m->relay) > 0)
		/* forced stop with commits in flight: each job holds its own
		 * config reference and finishes (or dies with the process) */
		log_warn("event=smtpd_stop_forced jobs=%u", relay_busy(m->relay));
	relay_free(m->relay);
	free(m);
}

void
smtpd_module_stats(struct daemon *d, struct listener_stats *ls, struct relay_stats *rs)
{
	struct smtpd_module *m = d->listeners;

	memset(ls, 0, sizeof(*ls));
	memset(rs, 0, sizeof(*rs));
	if (m == NULL)
		return;
	listener_get_stats(m->listener, ls);
	relay_get_stats(m->relay, rs);
}

size_t
smtpd_module_account_stats(struct daemon *d, struct relay_account_stat *out, size_t max)
{
	struct smtpd_module *m = d->listeners;

	return m != NULL ? relay_account_stats(m->relay, out, max) : 0;
}

/* The listener and the relay take their own references to d->cfg. */
int
listener_module_start(struct daemon *d, char *err, size_t errlen)
{
	struct smtpd_module *m = xcalloc(1, sizeof(*m));

	m->d = d;
	m->relay = relay_new(d->loop, d->cfg, d->queue);
	relay_set_spam(m->relay, d->spam_store);
	if (d->auth_guard != NULL)
		relay_set_auth_guard(m->relay, d->auth_guard);
	m->listener = listener_start(d->loop, d->cfg, m->relay, err, errlen);
	if (m->listener == NULL) {
		relay_free(m->relay);
		free(m);
		return -1;
	}
	d->listeners = m;
	return 0;
}

int
listener_module_reload(struct daemon *d, const struct config *next, char *err, size_t errlen)
{
	struct smtpd_module *m = d->listeners;

	if (m == NULL || m->draining)
		return 0;
	if (listener_reload(m->listener, next, err, errlen) != 0)
		return -1;
	relay_set_config(m->relay, next);
	return 0;
}

static void
smtpd_module_relay_idle(void *arg)
{
	struct smtpd_module *m = arg;

	relay_set_idle_cb(m->relay, NULL, NULL);
	daemon_drained(m->d, "smtpd");
}

static void
smtpd_module_listener_stopped(void *arg)
{
	struct smtpd_module *m = arg;

	m->listener_stopped = 1;
	if (m->draining)
		relay_set_idle_cb(m->relay, smtpd_module_relay_idle, m);	/* may call at once */
	else
		smtpd_module_free(m);	/* listener_module_stop() came first */
}

int
listener_module_drain(struct daemon *d)
{
	struct smtpd_module *m = d->listeners;

	if (m == NULL)
		return 0;
	m->draining = 1;
	listener_stop(m->listener, smtpd_module_listener_stopped, m);
	return 1;
}

void
listener_module_stop(struct daemon *d)
{
	struct smtpd_module *m = d->listeners;

	if (m == NULL)
		return;
	d->listeners = NULL;
	relay_set_idle_cb(m->relay, NULL, NULL);
	if (m->listener_stopped) {
		smtpd_module_free(m);
		return;
	}
	/* stop without (finished) drain: close now, free once the handles are gone */
	m->draining = 0;
	listener_stop(m->listener, smtpd_module_listener_stopped, m);
}
