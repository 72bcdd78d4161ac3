/* SPDX-License-Identifier: ISC */
/*
 * webhook.c: signed event webhooks for customer apps (issue 19,
 * include/webhook.h).  The queue writes every event of a message whose
 * account has a webhook_url into its durable outbox, in the transaction
 * of the change (queue/outbox.c); this dispatcher reads the outbox on
 * the loop, POSTs each event as JSON to the account's URL through
 * src/net/httpc.c (libcurl multi on libuv) and deletes the record once
 * the endpoint answered 2xx.  Delivery is at-least-once (a crash after
 * the POST and before the delete sends it again; X-Postern-Event-Id is
 * the same both times, for deduplication) and ordered per message: a
 * later event of a message waits while an earlier one is in flight or
 * waiting to be retried.  A failure (no answer, or not 2xx) is retried
 * after 2 s, doubling up to 10 min; past webhook_lifetime since the
 * event the record is dropped with event=webhook_expired in the log.
 *
 * Signing (documented in posternctl(8)): with the account's secret
 * (the file webhook_secret_file, read for each POST, so a rotation
 * needs no reload) the request carries
 *   X-Postern-Timestamp: T          (unix seconds when sent)
 *   X-Postern-Signature: v1=HEX     HMAC-SHA-256(secret, T "." body)
 * and the receiver checks the MAC and that T is recent (replay window).
 *
 * The body never carries an address unless the account opted in
 * (webhook_plain_recipients=yes): the recipient is the events log's
 * pseudonym, and addresses inside the remote reply are replaced by
 * "[address]".  An account without webhook_url (any more) or a message
 * already purged makes its record go without a POST.  A message refused
 * at the end of DATA (event "rejected") was never queued: its record
 * (src/inbound/relay.c) carries the account and Message-ID itself.
 * A suppression (src/account/suppress.c) writes "suppressed",
 * "complained" or "unsubscribed" with its account, reason and source,
 * and the qid of the message that caused it; one added by hand has no
 * message (queue_id null, not ordered with anything).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "crypto.h"
#include "hash.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "util.h"
#include "webhook.h"

#define WH_SCAN_MS 500
#define WH_BATCH 256
#define WH_MAX_INFLIGHT 16
#define WH_RETRY_MIN_MS 2000
#define WH_RETRY_MAX_MS (10 * 60 * 1000)

struct wh_state {
	uint32_t attempts;
	uint64_t next_try;	/* wall ms */
	int busy;		/* POST in flight or delete pending */
};

struct webhook {
	uv_loop_t *loop;
	struct queue *q;
	struct httpc *http;
	uv_timer_t timer;
	struct webhook_params p;
	struct hash *state;	/* outbox key (hex) -> struct wh_state */
	size_t inflight;
	uint64_t sent, failed, expired;
	int closing;
};

/* The qid a record is logged under: its message's, or "-". */
#define QID(wp) ((wp)->id[0] ? (wp)->id : "-")

struct wh_post {
	struct webhook *wh;
	char keyhex[QUEUE_OUTBOX_KEY_LEN * 2 + 1];
	unsigned char key[QUEUE_OUTBOX_KEY_LEN];
	char id[QUEUE_ID_LEN + 1];
	char event[32];
};

static void
key_hex(const unsigned char *k, char *out)
{
	size_t i;

	for (i = 0; i < QUEUE_OUTBOX_KEY_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
}

/* The customer's name for a queue event. */
static const char *
event_name(const char *e)
{
	static const struct { const char *q, *w; } map[] = {
		{ "queued", "accepted" }, { "held", "held" }, { "hold", "held" },
		{ "release", "released" }, { "delivered", "delivered" },
		{ "deferred", "deferred" }, { "bounced", "bounced" }, { "expired", "expired" },
		{ "delete", "deleted" }, { "requeue", "requeued" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(map[i].q, e) == 0)
			return map[i].w;
	return e;
}

/* REPLY with every word containing '@' replaced by "[address]". */
static void
scrub(const char *reply, struct buf *out)
{
	const char *p = reply;

	while (*p) {
		size_t l = strcspn(p, " \t");

		if (memchr(p, '@', l) != NULL)
			buf_append_str(out, "[address]");
		else
			buf_append(out, p, l);
		p += l;
		while (*p == ' ' || *p == '\t')
			buf_append(out, p++, 1);
	}
	buf_append(out, "", 0);
}

/* "5.1.1" from "550 5.1.1 ...", or the 3-digit code, or "". */
static void
status_of(const char *reply, char *out, size_t outlen)
{
	size_t n = strspn(reply, "0123456789");
	const char *e = reply + n + strspn(reply + n, " -");
	size_t el = strspn(e, "0123456789.");

	if (el >= 5 && memchr(e, '.', el) != NULL)
		snprintf(out, outlen, "%.*s", (int)el, e);
	else
		snprintf(out, outlen, "%.*s", (int)(n < 4 ? n : 3), reply);
}

static void
post_done_deleted(void *arg, const struct outcome *o)
{
	struct wh_post *wp = arg;

	if (!wp->wh->closing) {
		if (o->kind == OUTCOME_OK)
			(void)hash_dels(wp->wh->state, wp->keyhex);
		else {
			struct wh_state *st = hash_gets(wp->wh->state, wp->keyhex);
			if (st != NULL)
				st->busy = 0;	/* try the delete again on the next scan */
		}
	}
	free(wp);
}

/* The record is done with (sent, expired, or nothing to send): delete it. */
static void
record_finish(struct webhook *wh, struct wh_post *wp)
{
	struct wh_state *st = hash_gets(wh->state, wp->keyhex);

	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		hash_puts(wh->state, wp->keyhex, st);
	}
	st->busy = 1;
	if (queue_outbox_delete(wh->q, wp->key, post_done_deleted, wp) != 0) {
		st->busy = 0;
		free(wp);
	}
}

static void
post_done(void *arg, long status, const char *error)
{
	struct wh_post *wp = arg;
	struct webhook *wh = wp->wh;
	struct wh_state *st = hash_gets(wh->state, wp->keyhex);
	char q[512];

	wh->inflight--;
	if (status >= 200 && status < 300) {
		wh->sent++;
		log_info("qid=%s event=webhook_sent webhook_event=%s status=%ld attempts=%u", QID(wp),
		    wp->event, status, st ? st->attempts + 1 : 1);
		record_finish(wh, wp);
		return;
	}
	wh->failed++;
	if (st != NULL) {
		uint64_t delay = (uint64_t)WH_RETRY_MIN_MS << (st->attempts < 10 ? st->attempts : 10);

		st->attempts++;
		st->next_try = now_wall_ms() + (delay < WH_RETRY_MAX_MS ? delay : WH_RETRY_MAX_MS);
		st->busy = 0;
	}
	log_warn("qid=%s event=webhook_retry webhook_event=%s status=%ld attempts=%u error=%s",
	    QID(wp), wp->event, status, st ? st->attempts : 0,
	    error ? log_quote(error, strlen(error), q, sizeof(q)) : "-");
	free(wp);
}

/* The pseudonymised RCPT of the event, or the plain address when the
 * account opted in and the message still has it. */
static const char *
recipient_of(const struct queue_msg *m, const char *pseud, int plain)
{
	char p[64];
	size_t i;

	if (!plain || m == NULL || pseud == NULL)
		return pseud;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].addr != NULL &&
		    strcmp(log_pseudonym(m->rcpts[i].addr, strlen(m->rcpts[i].addr), p,
		    sizeof(p)), pseud) == 0)
			return m->rcpts[i].addr;
	return pseud;
}

/* Build, sign and POST one record; 1 sent, 0 dropped (nothing to send),
 * -1 not now (retry later). */
static int
send_one(struct webhook *wh, const struct queue_outbox_rec *r, struct wh_post *wp,
    const struct json_value *ev)
{
	char url[2100], secret_path[4200], ts[32], sig[2 * CRYPTO_HMAC_LEN + 8], status[16];
	char sighdr[128], tshdr[64], idhdr[80], *secret = NULL;
	const char *hdrs[5], *reply = json_get_str(ev, "reply", NULL);
	unsigned char mac[CRYPTO_HMAC_LEN];
	struct queue_msg *m = NULL;
	struct account *a = NULL;
	const char *account;
	struct buf body, sb, scrubbed;
	struct json_out j;
	char *text = NULL;
	size_t len = 0, i;
	int rc = -1;

	/* the message's account, or the record's own for events of no
	 * queued message ("rejected") */
	if (wp->id[0] == '\0' || queue_get(wh->q, wp->id, &m) != 0)
		m = NULL;
	account = m != NULL ? m->account : json_get_str(ev, "account", NULL);
	if (account == NULL || account[0] == '\0' ||
	    queue_kv_get(wh->q, QUEUE_T_ACCOUNTS, account, &text, &len) != 0 ||
	    (a = account_parse(text, len)) == NULL ||
	    account_setting_value(a, "webhook_url", url, sizeof(url)) != 0) {
		rc = 0;		/* no message, account or URL any more: nothing to send */
		goto out;
	}
	if (account_setting_value(a, "webhook_secret_file", secret_path, sizeof(secret_path)) != 0 ||
	    file_read_all(secret_path, 4096, &secret, &len) != 0 || len == 0) {
		log_warn("qid=%s event=webhook_error account=%s error=\"no readable "
		    "webhook_secret_file\"", QID(wp), account);
		goto out;
	}
	{
		char why[256], q[300];

		/* like every secret file: 0600 or 0400, or it is not used */
		if (file_check_secret(secret_path, why, sizeof(why)) != 0) {
			log_warn("qid=%s event=webhook_error account=%s error=%s", QID(wp), account,
			    log_quote(why, strlen(why), q, sizeof(q)));
			goto out;
		}
	}
	while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r'))
		len--;
	buf_init(&body, 0);
	buf_init(&scrubbed, 0);
	if (reply != NULL)
		scrub(reply, &scrubbed);
	status_of(reply != NULL ? reply : "", status, sizeof(status));
	json_out_init(&j, &body);
	json_obj_begin(&j);
	json_kv_str(&j, "event", wp->event);
	json_kv_str(&j, "event_id", wp->keyhex);
	json_kv_str(&j, "queue_id", wp->id[0] ? wp->id : NULL);
	json_kv_str(&j, "message_id", m != NULL ? m->message_id : json_get_str(ev, "message_id", NULL));
	json_kv_str(&j, "account", account);
	json_kv_str(&j, "recipient", recipient_of(m, json_get_str(ev, "rcpt", NULL),
	    a->pol.webhook_plain_rcpt));
	json_kv_str(&j, "status", status);
	json_kv_str(&j, "reply", reply != NULL ? scrubbed.data : NULL);
	/* why (a suppression's reason and source: 5.1.1, abuse, one-click) */
	json_kv_str(&j, "reason", json_get_str(ev, "reason", NULL));
	json_kv_str(&j, "source", json_get_str(ev, "source", NULL));
	json_kv_uint(&j, "time", r->time);
	json_obj_end(&j);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	buf_init(&sb, 0);
	buf_printf(&sb, "%s.", ts);
	buf_append(&sb, body.data, body.len);
	crypto_hmac_sha256(secret, len, sb.data, sb.len, mac);
	for (i = 0; i < CRYPTO_HMAC_LEN; i++)
		snprintf(sig + 2 * i, 3, "%02x", mac[i]);
	snprintf(sighdr, sizeof(sighdr), "X-Postern-Signature: v1=%s", sig);
	snprintf(tshdr, sizeof(tshdr), "X-Postern-Timestamp: %s", ts);
	snprintf(idhdr, sizeof(idhdr), "X-Postern-Event-Id: %s", wp->keyhex);
	hdrs[0] = "Content-Type: application/json";
	hdrs[1] = tshdr;
	hdrs[2] = sighdr;
	hdrs[3] = idhdr;
	hdrs[4] = NULL;
	if (httpc_post(wh->http, url, hdrs, body.data, body.len, (long)wh->p.timeout,
	    post_done, wp) == 0) {
		wh->inflight++;
		rc = 1;
	} else
		log_warn("qid=%s event=webhook_error account=%s error=\"cannot post\"", QID(wp),
		    account);
	crypto_wipe(sb.data, sb.len);
	buf_free(&sb);
	buf_free(&body);
	buf_free(&scrubbed);
out:
	if (secret != NULL) {
		crypto_wipe(secret, len);
		free(secret);
	}
	free(text);
	account_free(a);
	queue_msg_free(m);
	return rc;
}

static void
scan(struct webhook *wh)
{
	struct queue_outbox_rec *recs = NULL;
	struct hash *blocked;
	uint64_t now = now_wall_ms();
	size_t n = 0, i;

	if (wh->closing || queue_outbox_read(wh->q, WH_BATCH, &recs, &n) != 0)
		return;
	blocked = hash_new(NULL);	/* messages with an earlier event not done */
	for (i = 0; i < n && wh->inflight < WH_MAX_INFLIGHT; i++) {
		const struct queue_outbox_rec *r = &recs[i];
		struct json_value *ev = json_parse(r->json, r->len, NULL, 0);
		const char *id = json_get_str(ev, "id", NULL);
		struct wh_state *st;
		struct wh_post *wp;
		char kh[QUEUE_OUTBOX_KEY_LEN * 2 + 1];
		int rc;

		key_hex(r->key, kh);
		st = hash_gets(wh->state, kh);
		/* a message's event, or an account's of no message (a
		 * suppression added by hand) */
		if (id != NULL ? strlen(id) != QUEUE_ID_LEN :
		    json_get_str(ev, "account", NULL) == NULL) {
			json_free(ev);
			continue;
		}
		if ((id != NULL && hash_gets(blocked, id) != NULL) || (st != NULL && (st->busy ||
		    st->next_try > now))) {
			if (id != NULL)
				hash_puts(blocked, id, wh);
			json_free(ev);
			continue;
		}
		wp = xcalloc(1, sizeof(*wp));
		wp->wh = wh;
		memcpy(wp->key, r->key, sizeof(wp->key));
		memcpy(wp->keyhex, kh, sizeof(wp->keyhex));
		str_copy(wp->id, id != NULL ? id : "", sizeof(wp->id));
		str_copy(wp->event, event_name(json_get_str(ev, "event", "?")), sizeof(wp->event));
		if (now > r->time && now - r->time > wh->p.lifetime) {
			wh->expired++;
			log_warn("qid=%s event=webhook_expired webhook_event=%s attempts=%u "
			    "lifetime_ms=%llu", QID(wp), wp->event, st ? st->attempts : 0,
			    (unsigned long long)wh->p.lifetime);
			record_finish(wh, wp);
			json_free(ev);
			continue;
		}
		if (st == NULL) {
			st = xcalloc(1, sizeof(*st));
			hash_puts(wh->state, kh, st);
		}
		st->busy = 1;
		if (id != NULL)
			hash_puts(blocked, id, wh);
		rc = send_one(wh, r, wp, ev);
		if (rc == 0)
			record_finish(wh, wp);
		else if (rc < 0) {
			st->busy = 0;
			st->attempts++;
			st->next_try = now + WH_RETRY_MIN_MS;
			free(wp);
		}
		json_free(ev);
	}
	hash_free(blocked);
	queue_outbox_recs_free(recs, n);
}

static void
on_timer(uv_timer_t *t)
{
	scan(t->data);
}

struct webhook *
webhook_new(uv_loop_t *loop, struct queue *q, const struct webhook_params *p)
{
	struct webhook *wh = xcalloc(1, sizeof(*wh));

	wh->loop = loop;
	wh->q = q;
	wh->p = *p;
	wh->state = hash_new(free);
	if ((wh->http = httpc_new(loop)) == NULL) {
		hash_free(wh->state);
		free(wh);
		return NULL;
	}
	uv_timer_init(loop, &wh->timer);
	wh->timer.data = wh;
	uv_timer_start(&wh->timer, on_timer, WH_SCAN_MS, WH_SCAN_MS);
	return wh;
}

void
webhook_reload(struct webhook *wh, const struct webhook_params *p)
{
	if (wh != NULL)
		wh->p = *p;
}

void
webhook_get_stats(const struct webhook *wh, struct webhook_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (wh == NULL)
		return;
	st->sent = wh->sent;
	st->failed = wh->failed;
	st->expired = wh->expired;
	st->inflight = wh->inflight;
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct webhook *wh = h->data;

	hash_free(wh->state);
	free(wh);
}

void
webhook_free(struct webhook *wh)
{
	if (wh == NULL)
		return;
	wh->closing = 1;
	httpc_free(wh->http);	/* in-flight POSTs are dropped: the records stay */
	uv_timer_stop(&wh->timer);
	uv_close((uv_handle_t *)&wh->timer, on_timer_closed);
}
