/* SPDX-License-Identifier: ISC */
/*
 * suppress.c: suppression lists (include/suppress.h): the record's one
 * format and parser, and the store over the queue's suppressions table.
 * Every lookup is by the keyed address index (addr_index_hash(), the
 * normalised address: domain lower case as IDNA A-labels, local part
 * folded unless configured otherwise), so no plaintext address ever
 * reaches the table or the events.  Writers: the control plane
 * (src/control/cmd_suppress.c: add, remove, import), the delivery
 * engine (hard bounces), the feedback listener and the unsubscribe
 * endpoint (src/inbound/feedback.c); reader: the relay's RCPT stage
 * through struct policy_env.  Each write carries its event in the same
 * transaction (queue_kv_put_event).  An automatic entry, and one added
 * by hand to an account, also carries the account's webhook event
 * (suppressed, complained, unsubscribed: issue 19) into the outbox in
 * that transaction (queue_kv_put_notify): for an entry a message caused,
 * when the message's events go to the outbox (its account had a webhook
 * at commit); for a manual one, when the account has a webhook now.
 * The record names the message (qid) and the recipient's pseudonym,
 * never the address; the dispatcher puts the address in only when the
 * account opted in and the message still has it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "addr.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "suppress.h"
#include "util.h"

static const char *const reasons[SUPPRESS_NREASONS] = {
	"hard_bounce", "complaint", "unsubscribe", "manual", "erased",
};

const char *
suppress_strreason(enum suppress_reason r)
{
	return (unsigned)r < SUPPRESS_NREASONS ? reasons[r] : "?";
}

int
suppress_parse_reason(const char *s, enum suppress_reason *out)
{
	int i;

	for (i = 0; i < SUPPRESS_NREASONS; i++)
		if (strcmp(s, reasons[i]) == 0) {
			*out = (enum suppress_reason)i;
			return 0;
		}
	return -1;
}

int
suppress_scope_valid(const char *scope)
{
	return scope != NULL && (strcmp(scope, SUPPRESS_GLOBAL) == 0 || account_name_valid(scope));
}

int
suppress_hash_valid(const char *hex)
{
	size_t i;

	if (hex == NULL || strlen(hex) != ADDR_HASH_HEX - 1)
		return 0;
	for (i = 0; i < ADDR_HASH_HEX - 1; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return 0;
	return 1;
}

void
suppress_key(const char *scope, const char *hex, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", scope, hex);
}

void
suppress_set_source(struct suppress_rec *r, const char *src)
{
	size_t i, o = 0;

	for (i = 0; src != NULL && src[i] && o + 1 < sizeof(r->source); i++)
		if ((unsigned char)src[i] >= 0x20 && (unsigned char)src[i] < 0x7f)
			r->source[o++] = src[i];
	r->source[o] = '\0';
}

char *
suppress_format(const struct suppress_rec *r, size_t *len)
{
	char *s = xasprintf("reason=%s\nsource=%s\ncreated=%llu\nexpires=%llu\n",
	    suppress_strreason(r->reason), r->source, (unsigned long long)r->created,
	    (unsigned long long)r->expires);

	if (len != NULL)
		*len = strlen(s);
	return s;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int
suppress_parse(const char *text, size_t len, struct suppress_rec *out)
{
	char buf[512], v[SUPPRESS_SOURCE_MAX + 8];

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (kv_get(buf, "reason", v, sizeof(v)) < 0 || suppress_parse_reason(v, &out->reason) != 0)
		return -1;
	if (kv_get(buf, "source", v, sizeof(v)) >= 0)
		suppress_set_source(out, v);
	if (kv_get(buf, "created", v, sizeof(v)) < 0 || parse_u64(v, &out->created) != 0)
		return -1;
	if (kv_get(buf, "expires", v, sizeof(v)) < 0 || parse_u64(v, &out->expires) != 0)
		return -1;
	return 0;
}

int
suppress_active(const struct suppress_rec *r, uint64_t now)
{
	return r->expires == 0 || r->expires > now;
}

/* ---- the store ---- */

int
suppress_get(struct queue *q, const char *scope, const char *hex, struct suppress_rec *out)
{
	char key[SUPPRESS_KEY_MAX], *text = NULL;
	size_t len = 0;
	int rc;

	suppress_key(scope, hex, key, sizeof(key));
	if ((rc = queue_kv_get(q, QUEUE_T_SUPPRESSIONS, key, &text, &len)) != 0)
		return rc;
	rc = suppress_parse(text, len, out) == 0 ? 0 : -EINVAL;
	free(text);
	return rc;
}

int
suppress_check(struct queue *q, const char *account, const char *addr, size_t len,
    struct suppress_rec *out, int *global, char *hex)
{
	char h[ADDR_HASH_HEX];

	if (addr_index_hash_hex(addr, len, h) != 0)
		return -1;
	if (hex != NULL)
		memcpy(hex, h, ADDR_HASH_HEX);
	return suppress_check_hex(q, account, h, out, global);
}

int
suppress_check_hex(struct queue *q, const char *account, const char *h,
    struct suppress_rec *out, int *global)
{
	uint64_t now = now_wall_ms();
	int rc;

	*global = 0;
	if (account != NULL && *account != '\0' && account_name_valid(account)) {
		rc = suppress_get(q, account, h, out);
		if (rc == 0 && suppress_active(out, now))
			return 1;
		if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
			return -1;
	}
	rc = suppress_get(q, SUPPRESS_GLOBAL, h, out);
	if (rc == 0 && suppress_active(out, now)) {
		*global = 1;
		return 1;
	}
	if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
		return -1;
	return 0;
}

/* The event of a change or a hit: no address, a hash prefix and a pseudonym. */
static char *
suppress_event(const char *what, const char *scope, const char *hex, const char *pseudo,
    const char *reason, const char *source, const char *action)
{
	struct buf b;
	struct json_out j;
	char h16[17];

	str_copy(h16, hex, sizeof(h16));
	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_kv_uint(&j, "time", now_wall_ms());
	json_kv_str(&j, "event", what);
	json_kv_str(&j, "account", scope);
	json_kv_str(&j, "hash", h16);
	if (pseudo != NULL)
		json_kv_str(&j, "rcpt", pseudo);
	if (reason != NULL)
		json_kv_str(&j, "reason", reason);
	if (source != NULL && *source)
		json_kv_str(&j, "source", source);
	if (action != NULL)
		json_kv_str(&j, "action", action);
	json_obj_end(&j);
	return buf_steal(&b, NULL);
}

const char *
suppress_webhook_event(enum suppress_reason r)
{
	switch (r) {
	case SUPPRESS_HARD_BOUNCE:
	case SUPPRESS_MANUAL:
		return "suppressed";
	case SUPPRESS_COMPLAINT:
		return "complained";
	case SUPPRESS_UNSUBSCRIBE:
		return "unsubscribed";
	default:
		return NULL;	/* erased: the point is to forget, not to tell */
	}
}

/* The outbox record of a new entry: the shape of a queue event (time,
 * id, rcpt pseudonym, event) plus the account, reason and source. */
static char *
suppress_webhook(const char *scope, const char *qid, const char *pseudo,
    const struct suppress_rec *r)
{
	const char *what = suppress_webhook_event(r->reason);
	struct buf b;
	struct json_out j;

	if (what == NULL || strcmp(scope, SUPPRESS_GLOBAL) == 0)
		return NULL;	/* no account, no webhook */
	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_kv_uint(&j, "time", r->created ? r->created : now_wall_ms());
	if (qid != NULL)
		json_kv_str(&j, "id", qid);
	if (pseudo != NULL)
		json_kv_str(&j, "rcpt", pseudo);
	json_kv_str(&j, "event", what);
	json_kv_str(&j, "account", scope);
	json_kv_str(&j, "reason", suppress_strreason(r->reason));
	if (r->source[0])
		json_kv_str(&j, "source", r->source);
	json_obj_end(&j);
	return buf_steal(&b, NULL);
}

int
suppress_scope_webhook(struct queue *q, const char *scope)
{
	struct account *a;
	char *text = NULL;
	size_t len = 0;
	int yes = 0;

	if (scope == NULL || strcmp(scope, SUPPRESS_GLOBAL) == 0 ||
	    queue_kv_get(q, QUEUE_T_ACCOUNTS, scope, &text, &len) != 0)
		return 0;
	if ((a = account_parse(text, len)) != NULL)
		yes = a->pol.webhook;
	account_free(a);
	free(text);
	return yes;
}

int
suppress_put_notify(struct queue *q, const char *scope, const char *hex,
    const struct suppress_rec *r, const char *pseudo, const char *qid, int webhook,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	char key[SUPPRESS_KEY_MAX], *val, *ev, *wh = NULL;
	size_t len;
	int rc;

	if (!suppress_scope_valid(scope) || !suppress_hash_valid(hex))
		return -EINVAL;
	if (qid != NULL && strlen(qid) != QUEUE_ID_LEN)
		qid = NULL;
	if (qid == NULL && !webhook)
		return suppress_put(q, scope, hex, r, pseudo, audit, cb, arg);
	suppress_key(scope, hex, key, sizeof(key));
	val = suppress_format(r, &len);
	ev = suppress_event("suppression_added", scope, hex, pseudo, suppress_strreason(r->reason),
	    r->source, NULL);
	wh = suppress_webhook(scope, qid, pseudo, r);
	rc = queue_kv_put_notify(q, QUEUE_T_SUPPRESSIONS, key, val, len, ev, wh, qid, audit, cb,
	    arg);
	free(val);
	free(ev);
	free(wh);
	return rc;
}

int
suppress_put(struct queue *q, const char *scope, const char *hex,
    const struct suppress_rec *r, const char *pseudo, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	char key[SUPPRESS_KEY_MAX], *val, *ev;
	size_t len;
	int rc;

	if (!suppress_scope_valid(scope) || !suppress_hash_valid(hex))
		return -EINVAL;
	suppress_key(scope, hex, key, sizeof(key));
	val = suppress_format(r, &len);
	ev = suppress_event("suppression_added", scope, hex, pseudo, suppress_strreason(r->reason),
	    r->source, NULL);
	rc = queue_kv_put_event(q, QUEUE_T_SUPPRESSIONS, key, val, len, ev, audit, cb, arg);
	free(val);
	free(ev);
	return rc;
}

int
suppress_put_many(struct queue *q, const char *scope, char *const *hexes,
    const struct suppress_rec *recs, size_t n, const struct queue_audit *audit,
    queue_done_cb cb, void *arg)
{
	char **keys, **vals, **evs;
	size_t *lens, i;
	int rc;

	if (!suppress_scope_valid(scope) || n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!suppress_hash_valid(hexes[i]))
			return -EINVAL;
	keys = xcalloc(n, sizeof(*keys));
	vals = xcalloc(n, sizeof(*vals));
	evs = xcalloc(n, sizeof(*evs));
	lens = xcalloc(n, sizeof(*lens));
	for (i = 0; i < n; i++) {
		keys[i] = xmalloc(SUPPRESS_KEY_MAX);
		suppress_key(scope, hexes[i], keys[i], SUPPRESS_KEY_MAX);
		vals[i] = suppress_format(&recs[i], &lens[i]);
		evs[i] = suppress_event("suppression_added", scope, hexes[i], NULL,
		    suppress_strreason(recs[i].reason), recs[i].source, NULL);
	}
	rc = queue_kv_put_many(q, QUEUE_T_SUPPRESSIONS, (const char *const *)keys,
	    (const char *const *)vals, lens, (const char *const *)evs, n, audit, cb, arg);
	for (i = 0; i < n; i++) {
		free(keys[i]);
		free(vals[i]);
		free(evs[i]);
	}
	free(keys);
	free(vals);
	free(evs);
	free(lens);
	return rc;
}

int
suppress_del(struct queue *q, const char *scope, const char *hex, const char *why,
    const struct queue_audit *audit, queue_done_cb cb, void *arg)
{
	char key[SUPPRESS_KEY_MAX], *ev;
	int rc;

	if (!suppress_scope_valid(scope) || !suppress_hash_valid(hex))
		return -EINVAL;
	suppress_key(scope, hex, key, sizeof(key));
	ev = suppress_event("suppression_removed", scope, hex, NULL, NULL, why, NULL);
	rc = queue_kv_put_event(q, QUEUE_T_SUPPRESSIONS, key, NULL, 0, ev, audit, cb, arg);
	free(ev);
	return rc;
}

int
suppress_add_auto(struct queue *q, const char *scope, const char *addr, size_t len,
    enum suppress_reason reason, const char *source, uint64_t expiry_ms, const char *qid,
    queue_done_cb cb, void *arg)
{
	char hex[ADDR_HASH_HEX], pseudo[LOG_ADDR_MAX];

	if (!suppress_scope_valid(scope) || addr_index_hash_hex(addr, len, hex) != 0)
		return -1;
	log_pseudonym(addr, len, pseudo, sizeof(pseudo));
	return suppress_add_auto_hash(q, scope, hex, pseudo, reason, source, expiry_ms, qid, cb,
	    arg);
}

int
suppress_add_auto_hash(struct queue *q, const char *scope, const char *hex, const char *pseudo,
    enum suppress_reason reason, const char *source, uint64_t expiry_ms, const char *qid,
    queue_done_cb cb, void *arg)
{
	struct suppress_rec r;
	uint64_t now = now_wall_ms();
	int rc;

	if (!suppress_scope_valid(scope) || !suppress_hash_valid(hex))
		return -1;
	rc = suppress_get(q, scope, hex, &r);
	if (rc == 0 && suppress_active(&r, now) &&
	    (r.expires == 0 || reason == SUPPRESS_HARD_BOUNCE))
		return 0;	/* already there: a replay or a repeat adds nothing */
	memset(&r, 0, sizeof(r));
	r.reason = reason;
	suppress_set_source(&r, source);
	r.created = now;
	r.expires = reason == SUPPRESS_HARD_BOUNCE && expiry_ms > 0 ? now + expiry_ms : 0;
	if (suppress_put_notify(q, scope, hex, &r, pseudo, qid, 0, NULL, cb, arg) != 0)
		return -1;
	log_info("%s%s%sevent=suppression_added account=%s rcpt=%s reason=%s source=%s",
	    qid ? "qid=" : "", qid ? qid : "", qid ? " " : "", scope, pseudo ? pseudo : "-",
	    suppress_strreason(reason), r.source);
	return 1;
}

int
suppress_event_hit(struct queue *q, const char *scope, const char *hex, const char *pseudo,
    enum suppress_reason reason, const char *action)
{
	char *ev = suppress_event("suppression_hit", scope, hex, pseudo, suppress_strreason(reason),
	    NULL, action);
	int rc = queue_event(q, ev, NULL, NULL);

	free(ev);
	return rc;
}

struct sweep_ctx {
	uint64_t now;
	char **keys;
	size_t n, max;
};

static int
sweep_one(void *arg, const char *key, const char *val, size_t len)
{
	struct sweep_ctx *x = arg;
	struct suppress_rec r;

	if (suppress_parse(val, len, &r) == 0 && !suppress_active(&r, x->now))
		x->keys[x->n++] = xstrdup(key);
	return x->n >= x->max;
}

size_t
suppress_sweep(struct queue *q, uint64_t now, size_t max)
{
	struct sweep_ctx x;
	size_t i, done = 0;

	x.now = now;
	x.n = 0;
	x.max = max;
	x.keys = xcalloc(max ? max : 1, sizeof(*x.keys));
	if (max > 0)
		(void)queue_kv_foreach(q, QUEUE_T_SUPPRESSIONS, "", sweep_one, &x);
	for (i = 0; i < x.n; i++) {
		char *slash = strrchr(x.keys[i], '/');

		if (slash != NULL) {
			*slash = '\0';
			if (suppress_del(q, x.keys[i], slash + 1, "expired", NULL, NULL, NULL) == 0)
				done++;
		}
		free(x.keys[i]);
	}
	free(x.keys);
	if (done > 0)
		log_info("event=suppression_expired removed=%zu", done);
	return done;
}

struct count_ctx {
	struct suppress_counts *c;
	const char *scope;
	uint64_t now;
};

static int
count_entry(void *arg, const char *key, const char *val, size_t len)
{
	struct count_ctx *x = arg;
	struct suppress_rec r;

	(void)key;
	if (suppress_parse(val, len, &r) != 0)
		return 0;
	if (!suppress_active(&r, x->now))
		x->c->expired++;
	else
		x->c->entries[r.reason]++;
	return 0;
}

static int
count_event(void *arg, uint64_t when, const char *json, size_t len)
{
	struct count_ctx *x = arg;
	struct json_value *v;
	const char *ev, *acct;

	(void)when;
	if (len < 20 || memmem(json, len, "\"suppression_", 13) == NULL)
		return 0;
	if ((v = json_parse(json, len, NULL, 0)) == NULL)
		return 0;
	ev = json_get_str(v, "event", "");
	acct = json_get_str(v, "account", "");
	if (strcmp(acct, x->scope) == 0) {
		if (strcmp(ev, "suppression_added") == 0)
			x->c->added++;
		else if (strcmp(ev, "suppression_hit") == 0)
			x->c->hits++;
		else if (strcmp(ev, "suppression_removed") == 0)
			x->c->removed++;
	}
	json_free(v);
	return 0;
}

int
suppress_counts(struct queue *q, const char *scope, struct suppress_counts *out)
{
	struct count_ctx x;
	char prefix[80];
	int rc;

	memset(out, 0, sizeof(*out));
	x.c = out;
	x.scope = scope;
	x.now = now_wall_ms();
	snprintf(prefix, sizeof(prefix), "%s/", scope);
	if ((rc = queue_kv_foreach(q, QUEUE_T_SUPPRESSIONS, prefix, count_entry, &x)) != 0)
		return rc;
	return queue_log_foreach(q, QUEUE_LOG_EVENTS, 0, count_event, &x);
}
