/* SPDX-License-Identifier: ISC */
/*
 * pause.c: delivery pause by destination (posternctl delivery
 * pause|resume [--domain D], and queue suspend --domain D's sibling for
 * mail that should wait rather than be held).  A pause is a record in
 * the settings table, "delivery_pause:*" for everything or
 * "delivery_pause:DOMAIN" for one destination domain (lower case), so
 * it survives a restart; the scheduler keeps a copy in memory (loaded
 * at open, updated when the record's commit is durable) and
 * queue_take_due() leaves a paused recipient due but untaken: it is not
 * attempted and its attempt count and backoff do not move.  Expiry is
 * decided when an attempt fails (queue/retry.c), so a paused recipient
 * does not expire while paused; after the resume, a failed attempt past
 * max_queue_lifetime expires it as usual.  Resuming kicks the scheduler
 * so the mail goes out at once.
 * Loop thread only, except queue_delivery_paused_list (any thread).
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "queue_int.h"
#include "util.h"

#define PAUSE_PREFIX "delivery_pause:"

/* "example.com" from an address, lower-cased into OUT. */
static const char *
rcpt_domain(const char *addr, char *out, size_t outlen)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	at = at != NULL ? at + 1 : addr;
	for (i = 0; at[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)at[i]);
	out[i] = '\0';
	return out;
}

static int
pause_load_cb(void *arg, const char *key, const char *val, size_t len)
{
	struct queue *q = arg;
	const char *d = key + strlen(PAUSE_PREFIX);

	(void)val;
	(void)len;
	if (strcmp(d, "*") == 0)
		q->pause_all = 1;
	else
		hash_puts(q->paused, d, q);
	return 0;
}

void
pause_init(struct queue *q)
{
	pthread_mutex_init(&q->pause_mu, NULL);
	q->pause_mu_init = 1;
	q->paused = hash_new(NULL);
	q->pause_all = 0;
	(void)queue_kv_foreach(q, QUEUE_T_SETTINGS, PAUSE_PREFIX, pause_load_cb, q);
}

void
pause_free(struct queue *q)
{
	hash_free(q->paused);
	q->paused = NULL;
	if (q->pause_mu_init)
		pthread_mutex_destroy(&q->pause_mu);
	q->pause_mu_init = 0;
}

/* From any thread: whether delivery to DOMAIN (lowercase) is paused. */
int
queue_delivery_paused_for(struct queue *q, const char *domain)
{
	int r;

	if (!q->pause_mu_init)
		return 0;
	pthread_mutex_lock(&q->pause_mu);
	r = q->pause_all || (q->paused != NULL && hash_count(q->paused) > 0 &&
	    hash_gets(q->paused, domain) != NULL);
	pthread_mutex_unlock(&q->pause_mu);
	return r;
}

int
pause_blocks(const struct queue *q, const char *addr)
{
	char d[256];

	if (q->pause_all)
		return 1;
	if (q->paused == NULL || hash_count(q->paused) == 0)
		return 0;
	return hash_gets(q->paused, rcpt_domain(addr, d, sizeof(d))) != NULL;
}

struct pause_op {
	struct queue *q;
	char *domain;		/* "*" for all */
	int pause;
	queue_done_cb cb;
	void *arg;
};

static void
pause_done(void *arg, const struct outcome *o)
{
	struct pause_op *po = arg;
	struct queue *q = po->q;

	if (o->kind == OUTCOME_OK && q->paused != NULL) {
		pthread_mutex_lock(&q->pause_mu);
		if (strcmp(po->domain, "*") == 0)
			q->pause_all = po->pause;
		else if (po->pause)
			hash_puts(q->paused, po->domain, q);
		else
			(void)hash_dels(q->paused, po->domain);
		pthread_mutex_unlock(&q->pause_mu);
		if (!po->pause)
			sched_kick(q);
	}
	if (po->cb != NULL)
		po->cb(po->arg, o);
	free(po->domain);
	free(po);
}

int
queue_delivery_pause(struct queue *q, const char *domain, int pause,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	struct pause_op *po;
	char d[256], *key;
	int rc;

	if (q->readonly)
		return -EROFS;
	if (domain != NULL && (*domain == '\0' || strlen(domain) >= sizeof(d) ||
	    strchr(domain, '@') != NULL))
		return -EINVAL;
	po = xcalloc(1, sizeof(*po));
	po->q = q;
	po->domain = xstrdup(domain == NULL ? "*" : rcpt_domain(domain, d, sizeof(d)));
	po->pause = pause;
	po->cb = cb;
	po->arg = arg;
	key = xasprintf(PAUSE_PREFIX "%s", po->domain);
	rc = queue_kv_put_audited(q, QUEUE_T_SETTINGS, key, pause ? "1" : NULL, pause ? 1 : 0,
	    audit, pause_done, po);
	free(key);
	if (rc != 0) {
		free(po->domain);
		free(po);
	}
	return rc;
}

struct list_ctx {
	char ***out;
	size_t n;
};

static int
list_cb(void *arg, const char *key, const char *val, size_t len)
{
	struct list_ctx *lc = arg;

	(void)val;
	(void)len;
	*lc->out = xrealloc(*lc->out, (lc->n + 1) * sizeof(**lc->out));
	(*lc->out)[lc->n++] = xstrdup(key + strlen(PAUSE_PREFIX));
	return 0;
}

int
queue_delivery_paused_list(struct queue *q, char ***domains, size_t *n)
{
	struct list_ctx lc = { domains, 0 };
	int rc;

	*domains = NULL;
	rc = queue_kv_foreach(q, QUEUE_T_SETTINGS, PAUSE_PREFIX, list_cb, &lc);
	*n = lc.n;
	return rc;
}
