/* SPDX-License-Identifier: ISC */
/*
 * outbox.c: the webhook outbox (DESIGN.md §5, issue 19).  Every event
 * of a message whose account has a webhook (MF_WEBHOOK, set at commit)
 * is written twice in the transaction that makes it happen: to the
 * events log and, with the same key order (time, seq), to the outbox
 * (records.c, event_add_client).  So an event exists in the outbox iff
 * its state change was committed: nothing is lost across kill -9, and
 * the outbox order is the order of the changes.  The dispatcher
 * (src/outbound/webhook.c) reads the oldest records, POSTs them and
 * deletes each once the customer's endpoint accepted it or its
 * lifetime ran out (at-least-once: a crash between the POST and the
 * delete sends it again).  Records hold what the events log holds (id,
 * pseudonymised recipient, event, reply, time), never an address.
 * An event without a message (a message refused at the end of DATA,
 * "rejected") is added on its own (queue_outbox_add) and names its
 * account and Message-ID itself.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"
#include "util.h"

int
queue_outbox_read(struct queue *q, size_t max, struct queue_outbox_rec **out, size_t *n)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, DB_OUTBOX, &c)) != 0) {
		db_abort(txn);
		return rc == -ENOENT ? 0 : rc;
	}
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0 && *n < max;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		struct queue_outbox_rec *r;

		if (kl != QUEUE_OUTBOX_KEY_LEN)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		r = &(*out)[(*n)++];
		memcpy(r->key, k, QUEUE_OUTBOX_KEY_LEN);
		r->time = get_be64(k);
		r->json = xstrndup(v, vl);
		r->len = vl;
	}
	db_cursor_close(c);
	db_abort(txn);
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}

void
queue_outbox_recs_free(struct queue_outbox_rec *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(recs[i].json);
	free(recs);
}

int
queue_outbox_delete(struct queue *q, const unsigned char *key, queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_OUTBOX_DEL, cb, arg);

	s->val = xmalloc(QUEUE_OUTBOX_KEY_LEN);
	memcpy(s->val, key, QUEUE_OUTBOX_KEY_LEN);
	s->len = QUEUE_OUTBOX_KEY_LEN;
	return simple_submit(q, s);
}

int
queue_outbox_add(struct queue *q, const char *json, queue_done_cb cb, void *arg)
{
	struct simple_op *s = simple_new(OP_OUTBOX_ADD, cb, arg);

	s->val = xstrdup(json);
	s->len = strlen(json);
	return simple_submit(q, s);
}

int
outbox_del_apply(struct db_txn *txn, const struct simple_op *s)
{
	int rc = db_del(txn, DB_OUTBOX, s->val, s->len);

	return rc == -ENOENT ? 0 : rc;
}
