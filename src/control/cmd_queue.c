/* SPDX-License-Identifier: ISC */
/*
 * cmd_queue.c: the daemon-side queue.* and audit.list control commands
 * (include/control.h), registered by control_commands_register().
 * posternctl's `queue` and `audit` groups (src/ctl/ctl_queue.c) call
 * them over the socket and print the result.
 *
 * Read-only commands (list, show, stats, events, audit.list) also run
 * in-process in posternctl on a read-only queue while the daemon is
 * down (control_run_local).  Mutating commands need the daemon (one
 * writer) and hand their audit record (control_audit_txn) to the queue
 * mutation, which commits it in the transaction of the effect;
 * hold/release/delete/requeue go in batches of CMD_QUEUE_BATCH ids, one
 * record per batch naming the ids it changed.
 *
 * Hidden operator-only commands used by the integration tests:
 * queue.inject (commit a message given in JSON) and queue.report
 * (record a delivery result).
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "bounce.h"
#include "control.h"
#include "control_int.h"
#include "crypto.h"
#include "hash.h"
#include "json.h"
#include "queue.h"
#include "util.h"

struct filter {
	int has_state;
	enum queue_state state;
	int pending;		/* only queued, held, deferred (queue list without --all) */
	const char *account;
	int has_addr;			/* --address: sender or any recipient, by keyed hash */
	unsigned char addr_hash[ADDR_HASH_LEN];
	const char *domain;	/* a recipient in this domain (any case) */
	int has_rcpt, has_sender;	/* --rcpt, --sender: by keyed hash too */
	unsigned char rcpt[ADDR_HASH_LEN], sender[ADDR_HASH_LEN];
	uint64_t older_than;	/* ms; 0 = any */
	uint64_t now;
};

/* Whether M's state is still pending (not final). */
static int
state_pending(enum queue_state st)
{
	return st == QUEUE_QUEUED || st == QUEUE_HELD || st == QUEUE_DEFERRED;
}

/* The keyed index of address S (addr_index_hash: normalised, HMAC'd):
 * --rcpt and --sender match the keyed hashes the store keeps beside the
 * sealed envelope, the way every lookup by address does. */
static int
filter_addr(struct control_req *req, const char *key, unsigned char *out, int *has)
{
	const char *s = json_get_str(req->args, key, NULL);

	if (s == NULL)
		return 0;
	if (addr_index_hash(s, strlen(s), out) != 0)
		return control_error(req, CONTROL_USAGE, "--%s: '%s' is not an address", key, s);
	*has = 1;
	return 0;
}

static int
filter_parse(struct control_req *req, struct filter *f)
{
	const char *s;

	memset(f, 0, sizeof(*f));
	f->now = now_wall_ms();
	if ((s = json_get_str(req->args, "state", NULL)) != NULL) {
		if (queue_parse_state(s, &f->state) != 0)
			return control_error(req, CONTROL_USAGE, "unknown state '%s'", s);
		f->has_state = 1;
	}
	f->account = json_get_str(req->args, "account", NULL);
	if ((s = json_get_str(req->args, "address", NULL)) != NULL) {
		/* the store holds keyed hashes, never the plaintext, to match on */
		if (addr_index_hash(s, strlen(s), f->addr_hash) != 0)
			return control_error(req, CONTROL_USAGE, addr_index_have_key() ?
			    "'%s' is not an address" : "no address index key (master key)", s);
		f->has_addr = 1;
	}
	f->domain = json_get_str(req->args, "domain", NULL);
	f->pending = json_get_bool(req->args, "pending", 0) && !f->has_state;
	if (filter_addr(req, "rcpt", f->rcpt, &f->has_rcpt) != 0 ||
	    filter_addr(req, "sender", f->sender, &f->has_sender) != 0)
		return CONTROL_USAGE;
	if (json_get_int(req->args, "older_than", 0) < 0)
		return control_error(req, CONTROL_USAGE, "older_than must not be negative");
	f->older_than = (uint64_t)json_get_int(req->args, "older_than", 0);
	return 0;
}

static int
rcpt_in_domain(const char *addr, const char *domain)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

static int
filter_match(const struct filter *f, const struct queue_msg *m)
{
	size_t i;
	int hit;

	if (f->has_state && m->state != f->state)
		return 0;
	if (f->pending && !state_pending(m->state))
		return 0;
	if (f->account != NULL && strcmp(f->account, m->account) != 0)
		return 0;
	if (f->older_than && (f->older_than > f->now || m->created > f->now - f->older_than))
		return 0;
	if (f->has_addr) {
		hit = m->has_sender_hash && crypto_equal(m->sender_hash, f->addr_hash,
		    ADDR_HASH_LEN);

		for (i = 0; i < m->nrcpts && !hit; i++)
			hit = m->rcpts[i].has_hash && crypto_equal(m->rcpts[i].addr_hash,
			    f->addr_hash, ADDR_HASH_LEN);
		if (!hit)
			return 0;
	}
	if (f->has_sender && !(m->has_sender_hash &&
	    crypto_equal(m->sender_hash, f->sender, ADDR_HASH_LEN)))
		return 0;
	if (f->has_rcpt) {
		for (i = 0, hit = 0; i < m->nrcpts && !hit; i++)
			hit = m->rcpts[i].has_hash && crypto_equal(m->rcpts[i].addr_hash, f->rcpt,
			    ADDR_HASH_LEN);
		if (!hit)
			return 0;
	}
	if (f->domain != NULL) {
		/* by the plaintext domain: a shredded envelope no longer matches */
		for (i = 0, hit = 0; i < m->nrcpts && !hit; i++)
			hit = rcpt_in_domain(m->rcpts[i].addr, f->domain);
		if (!hit)
			return 0;
	}
	return 1;
}

/* An address for output: the plaintext when this read is audited
 * (SHOW_PLAIN) and the envelope still decrypts, else null, with its
 * keyed hash beside it either way. */
static void
addr_json(struct json_out *out, const char *key, const char *addr, const unsigned char *hash,
    int has_hash, int show_plain)
{
	char hex[ADDR_HASH_HEX], hkey[64];
	size_t i;

	json_key(out, key);
	if (show_plain && addr != NULL)
		json_str(out, addr);
	else
		json_null(out);
	if (has_hash) {
		for (i = 0; i < ADDR_HASH_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", hash[i]);
		snprintf(hkey, sizeof(hkey), "%s_hash", key);
		json_kv_str(out, hkey, hex);
	}
}

static void
rcpts_json(struct json_out *out, const struct queue_msg *m, int full, int plain)
{
	size_t i;

	json_key(out, "recipients");
	json_arr_begin(out);
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		json_obj_begin(out);
		json_kv_uint(out, "no", r->no);
		addr_json(out, "address", r->addr, r->addr_hash, r->has_hash,
		    plain && !m->envelope_gone);
		json_kv_str(out, "state", queue_strstate(r->state));
		if (full) {
			json_kv_uint(out, "attempts", r->attempts);
			json_kv_uint(out, "next_try", r->next_try);
			json_kv_uint(out, "first_attempt", r->first_attempt);
			json_kv_uint(out, "last_attempt", r->last_attempt);
			json_kv_str(out, "last_reply", r->last_reply);
			json_kv_str(out, "relay", r->relay);
			if (plain)
				json_kv_str(out, "orcpt", r->orcpt);
			json_kv_uint(out, "notify", r->notify);
		}
		json_obj_end(out);
	}
	json_arr_end(out);
}

/* PLAIN: this read is audited and may show decrypted addresses. */
static void
msg_json(struct json_out *out, const struct queue_msg *m, int full, int plain)
{
	json_kv_str(out, "id", m->id);
	json_kv_str(out, "state", queue_strstate(m->state));
	json_kv_str(out, "account", m->account);
	addr_json(out, "sender", m->sender, m->sender_hash, m->has_sender_hash,
	    plain && !m->envelope_gone);
	json_kv_str(out, "envelope", m->envelope_gone ? "shredded" : plain ? "shown" : "sealed");
	json_kv_uint(out, "created", m->created);
	json_kv_uint(out, "size", m->size);
	if (full) {
		json_kv_str(out, "envid", plain ? m->envid : NULL);
		json_kv_str(out, "client", plain ? m->client : NULL);
		json_kv_str(out, "message_id", plain ? m->message_id : NULL);
		json_kv_bool(out, "ret_full", m->ret_full);
		json_kv_bool(out, "smtputf8", m->smtputf8);
		json_kv_bool(out, "eightbit", m->eightbit);
		json_key(out, "verdicts");
		if (m->verdicts != NULL && *m->verdicts != '\0') {
			struct json_value *v = json_parse(m->verdicts, strlen(m->verdicts), NULL, 0);
			if (v != NULL)
				json_raw(out, m->verdicts, strlen(m->verdicts));
			else
				json_str(out, m->verdicts);
			json_free(v);
		} else
			json_null(out);
	}
	rcpts_json(out, m, full, plain);
}

struct list_ctx {
	struct filter f;
	struct json_out *out;
	size_t n;
	char **ids;		/* when collecting ids */
	int collect;
	int plain;		/* audited read: addresses shown */
	enum queue_action act;	/* when collecting: the action they are for */
};

/* --all-matching selects only messages ACT can change: never deleted
 * ones (kept for event_retention), and for hold, release and requeue
 * no final ones either (issue 12 item 6). */
static int
act_selects(enum queue_action act, const struct queue_msg *m)
{
	if (m->state == QUEUE_DELETED)
		return 0;
	if (act == QUEUE_ACT_DELETE)
		return 1;
	return m->state != QUEUE_DELIVERED && m->state != QUEUE_BOUNCED &&
	    m->state != QUEUE_EXPIRED;
}

static int
list_cb(void *arg, const struct queue_msg *m)
{
	struct list_ctx *lc = arg;

	if (!filter_match(&lc->f, m))
		return 0;
	if (lc->collect) {
		if (!act_selects(lc->act, m))
			return 0;
		lc->ids = xrealloc(lc->ids, (lc->n + 1) * sizeof(*lc->ids));
		lc->ids[lc->n++] = xstrdup(m->id);
		return 0;
	}
	json_obj_begin(lc->out);
	msg_json(lc->out, m, 0, lc->plain);
	json_obj_end(lc->out);
	lc->n++;
	return 0;
}

static int
cmd_list(struct control_req *req, struct json_out *out)
{
	struct list_ctx lc;
	int rc;

	memset(&lc, 0, sizeof(lc));
	if ((rc = filter_parse(req, &lc.f)) != 0)
		return rc;
	str_copy(req->target, "list", sizeof(req->target));
	/* plaintext addresses only in an audited read, on request */
	if (json_get_bool(req->args, "addresses", 0)) {
		if ((lc.plain = control_audit_read(req)) < 0)
			return CONTROL_USAGE;
		if (lc.plain == 0)
			return control_error(req, CONTROL_FAIL, "--addresses is an audited read "
			    "and needs a running posternd");
	}
	lc.out = out;
	json_obj_begin(out);
	json_key(out, "messages");
	json_arr_begin(out);
	/* envelopes are opened only for an audited --addresses listing, or
	 * to match --domain (the output then stays sealed: plain is 0) */
	rc = lc.plain || lc.f.domain != NULL ? queue_foreach(req->queue, list_cb, &lc) :
	    queue_foreach_sealed(req->queue, list_cb, &lc);
	json_arr_end(out);
	json_obj_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_OK;
}

/*
 * queue show: the envelope decrypted and the header section (and with
 * --body the whole message) are an audited read (control_audit_read):
 * the response leaves only once its record, with --reason, is
 * committed.  Offline (no daemon to write the record) the message is
 * shown sealed: states, times, sizes and keyed hashes, nothing
 * decrypted.
 */
static int
cmd_show(struct control_req *req, struct json_out *out)
{
	const char *id = json_get_str(req->args, "id", NULL);
	struct queue_msg *m;
	struct buf body;
	int rc, brc = -EACCES, plain;

	if (id == NULL)
		return control_error(req, CONTROL_USAGE, "queue show: an id is required");
	str_copy(req->target, id, sizeof(req->target));
	if ((rc = queue_get(req->queue, id, &m)) != 0)
		return control_error(req, CONTROL_FAIL, rc == -ENOENT ?
		    "no such message: %s" : "queue: %s", rc == -ENOENT ? id : strerror(-rc));
	if ((plain = control_audit_read(req)) < 0) {
		queue_msg_free(m);
		return CONTROL_USAGE;
	}
	if (plain == 0 && json_get_bool(req->args, "body", 0)) {
		queue_msg_free(m);
		return control_error(req, CONTROL_FAIL, "queue show --body is an audited read "
		    "and needs a running posternd");
	}
	json_obj_begin(out);
	msg_json(out, m, 1, plain);
	buf_init(&body, 0);
	if (plain)
		brc = queue_read_body(req->queue, id, &body);
	json_key(out, "headers");
	if (brc == 0) {
		char *end = body.len >= 4 ? memmem(body.data, body.len, "\r\n\r\n", 4) : NULL;
		size_t hlen = end != NULL ? (size_t)(end - body.data) + 2 : body.len;
		json_strn(out, body.data ? body.data : "", hlen);
	} else
		json_null(out);
	json_kv_str(out, "body_status", !plain ? "sealed (audited read needs posternd)" :
	    brc == 0 ? "available" : brc == -ENOENT ? "purged" :
	    brc == -EACCES ? "shredded" : "unreadable");
	if (json_get_bool(req->args, "body", 0) && req->role >= CONTROL_ROLE_OPERATOR) {
		json_key(out, "body");
		if (brc == 0)
			json_strn(out, body.data ? body.data : "", body.len);
		else
			json_null(out);
	}
	json_obj_end(out);
	if (body.data != NULL)
		crypto_wipe(body.data, body.cap);
	buf_free(&body);
	queue_msg_free(m);
	return CONTROL_OK;
}

/*
 * A multi-message action in progress.  The ids are handed to the queue
 * in batches of CMD_QUEUE_BATCH (queue_actions): each batch is one
 * writer op whose effects and audit record (the ids it changed) commit
 * in one transaction, so an interrupted --all-matching leaves every
 * committed change named by a committed record.
 */
#define CMD_QUEUE_BATCH 100

struct act_ctx {
	struct control_req *req;
	size_t n, pending, notfound, failed;
	int explicit;		/* ids named by the operator, not --all-matching */
	int txn_failed;		/* a batch's transaction failed: nothing of it written */
	enum queue_action act;
	char **ids;
	int *status;
	char lasterr[256];
	uint64_t since;		/* queue bounce: when the request started */
};

/* queue bounce: the request is answered once its DSNs are committed. */
struct dsn_wait {
	struct control_req *req;
	int status;
	size_t pending;		/* DSN commits not yet done, +1 while queuing */
};

static void
dsn_wait_done(void *arg, const struct outcome *o)
{
	struct dsn_wait *w = arg;

	(void)o;	/* a DSN that could not be queued is logged by bounce.c */
	if (--w->pending == 0) {
		control_finish(w->req, w->status);
		free(w);
	}
}

static struct dsn_wait *
dsn_wait_new(struct control_req *req, int status)
{
	struct dsn_wait *w = xcalloc(1, sizeof(*w));

	w->req = req;
	w->status = status;
	w->pending = 1;
	return w;
}

/* A DSN for message ID if the operator returned recipients of it since SINCE. */
static void
dsn_wait_add(struct dsn_wait *w, const char *id, uint64_t since)
{
	if (bounce_operator(w->req->queue, id, since, w->req->cfg->hostname, dsn_wait_done, w) > 0)
		w->pending++;
}

static void
act_finish(struct act_ctx *a)
{
	struct json_out *out = control_out(a->req);
	size_t i;
	int status = CONTROL_OK;

	json_obj_begin(out);
	json_key(out, "done");
	json_arr_begin(out);
	for (i = 0; i < a->n; i++)
		if (a->status[i] == 0)
			json_str(out, a->ids[i]);
	json_arr_end(out);
	json_key(out, "not_found");
	json_arr_begin(out);
	for (i = 0; i < a->n; i++)
		if (a->status[i] == -ENOENT)
			json_str(out, a->ids[i]);
	json_arr_end(out);
	json_obj_end(out);
	if (a->notfound > 0 || a->failed > 0) {
		for (i = 0; i < a->n; i++)
			if (a->status[i] != 0)
				break;
		status = control_error(a->req, CONTROL_FAIL, "%s: %s", a->notfound ?
		    "no such message" : a->lasterr, i < a->n ? a->ids[i] : "");
	}
	if (a->n > 0 && !a->txn_failed)
		control_audit_committed(a->req);
	if (a->act == QUEUE_ACT_BOUNCE) {
		struct dsn_wait *w = dsn_wait_new(a->req, status);
		struct outcome ok_;

		for (i = 0; i < a->n; i++)
			if (a->status[i] == 0)
				dsn_wait_add(w, a->ids[i], a->since);
		outcome_ok(&ok_);
		dsn_wait_done(w, &ok_);		/* drops the +1: finishes now or later */
	} else
		control_finish(a->req, status);
	for (i = 0; i < a->n; i++)
		free(a->ids[i]);
	free(a->ids);
	free(a->status);
	free(a);
}

struct act_batch {
	struct act_ctx *a;
	size_t off, n;
};

/* One batch is committed (or its transaction failed). */
static void
act_batch_done(void *arg, const struct outcome *o)
{
	struct act_batch *b = arg;
	struct act_ctx *a = b->a;
	size_t i;

	for (i = b->off; i < b->off + b->n; i++) {
		if (o->kind == OUTCOME_TEMPFAIL) {
			a->status[i] = -EIO;
			a->failed++;
			a->txn_failed = 1;
			str_copy(a->lasterr, o->text, sizeof(a->lasterr));
		} else if (a->status[i] == -ENOENT && !a->explicit) {
			/* --all-matching: deleted since it was selected: skipped */
			a->status[i] = -EALREADY;
		} else if (a->status[i] == -ENOENT) {
			a->notfound++;
		} else if (a->status[i] == -EALREADY && !a->explicit) {
			/* --all-matching: a message with nothing to change is skipped. */
			a->status[i] = 0;
		} else if (a->status[i] == -EALREADY) {
			a->failed++;
			str_copy(a->lasterr, queue_action_unchanged(a->act), sizeof(a->lasterr));
		} else if (a->status[i] != 0) {
			a->failed++;
			str_copy(a->lasterr, strerror(-a->status[i]), sizeof(a->lasterr));
		}
	}
	free(b);
	if (--a->pending == 0)
		act_finish(a);
}

static int
cmd_action(struct control_req *req, enum queue_action act)
{
	const struct json_value *ids = json_get(req->args, "ids");
	const struct queue_audit *audit;
	struct act_ctx *a;
	struct list_ctx lc;
	size_t i, off;
	int rc;

	memset(&lc, 0, sizeof(lc));
	if (json_get_bool(req->args, "all_matching", 0)) {
		if ((rc = filter_parse(req, &lc.f)) != 0)
			return rc;
		lc.collect = 1;
		lc.act = act;
		if (lc.f.domain != NULL)	/* matched on the decrypted recipients */
			queue_foreach(req->queue, list_cb, &lc);
		else
			queue_foreach_sealed(req->queue, list_cb, &lc);
		snprintf(req->target, sizeof(req->target), "all-matching state=%s account=%s "
		    "older_than=%llu (%zu messages)",
		    lc.f.has_state ? queue_strstate(lc.f.state) : "any",
		    lc.f.account ? lc.f.account : "any", (unsigned long long)lc.f.older_than, lc.n);
	} else if (ids != NULL && ids->type == JSON_ARRAY && ids->n > 0) {
		size_t toff = 0;
		for (i = 0; i < ids->n; i++) {
			if (ids->items[i]->type != JSON_STRING) {
				for (off = 0; off < lc.n; off++)
					free(lc.ids[off]);
				free(lc.ids);
				return control_error(req, CONTROL_USAGE, "ids must be strings");
			}
			lc.ids = xrealloc(lc.ids, (lc.n + 1) * sizeof(*lc.ids));
			lc.ids[lc.n++] = xstrdup(ids->items[i]->s);
			if (toff < sizeof(req->target) - 1)
				toff += (size_t)snprintf(req->target + toff, sizeof(req->target) - toff,
				    "%s%s", i ? " " : "", ids->items[i]->s);
		}
	} else
		return control_error(req, CONTROL_USAGE, "give message ids or all_matching");
	a = xcalloc(1, sizeof(*a));
	a->req = req;
	a->explicit = !json_get_bool(req->args, "all_matching", 0);
	a->act = act;
	a->since = now_wall_ms();
	a->ids = lc.ids;
	a->n = lc.n;
	a->status = xcalloc(lc.n + 1, sizeof(*a->status));
	if (lc.n == 0) {
		act_finish(a);
		return CONTROL_ASYNC;
	}
	audit = control_audit_txn(req, !a->explicit);
	a->pending = (lc.n + CMD_QUEUE_BATCH - 1) / CMD_QUEUE_BATCH;
	for (off = 0; off < lc.n; off += CMD_QUEUE_BATCH) {
		struct act_batch *b = xcalloc(1, sizeof(*b));

		b->a = a;
		b->off = off;
		b->n = lc.n - off < CMD_QUEUE_BATCH ? lc.n - off : CMD_QUEUE_BATCH;
		rc = queue_actions(req->queue, (const char *const *)a->ids + off, b->n, act, audit,
		    a->status + off, act_batch_done, b);
		if (rc != 0) {
			struct outcome o;

			outcome_reply(&o, R_QUEUE_FAILED, strerror(-rc));
			act_batch_done(b, &o);
		}
	}
	return CONTROL_ASYNC;
}

static int cmd_hold(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_HOLD); }
static int cmd_release(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_RELEASE); }
static int cmd_delete(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_DELETE); }
static int cmd_requeue(struct control_req *r, struct json_out *o) { (void)o; return cmd_action(r, QUEUE_ACT_REQUEUE); }
static int cmd_domain_action(struct control_req *req, enum queue_action act);
/* queue.bounce {ids | all_matching + filters | domain}: return pending mail
 * to its senders now, with a DSN (RFC 3464) each. */
static int
cmd_bounce(struct control_req *r, struct json_out *o)
{
	(void)o;
	if (json_get_str(r->args, "domain", NULL) != NULL &&
	    json_get(r->args, "ids") == NULL && !json_get_bool(r->args, "all_matching", 0))
		return cmd_domain_action(r, QUEUE_ACT_BOUNCE);
	return cmd_action(r, QUEUE_ACT_BOUNCE);
}

static void
simple_done(void *arg, const struct outcome *o)
{
	struct control_req *req = arg;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind == OUTCOME_OK) {
		struct json_out *out = control_out(req);
		json_obj_begin(out);
		json_obj_end(out);
		control_finish(req, CONTROL_OK);
	} else
		control_finish(req, control_error(req, CONTROL_FAIL, "%s", o->text));
}

static int
cmd_flush(struct control_req *req, struct json_out *out)
{
	int rc;

	(void)out;
	str_copy(req->target, "deferred", sizeof(req->target));
	if ((rc = queue_flush_audited(req->queue, control_audit_txn(req, 0), simple_done,
	    req)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
cmd_purge(struct control_req *req, struct json_out *out)
{
	int rc;

	(void)out;
	str_copy(req->target, "retention", sizeof(req->target));
	if ((rc = queue_purge_audited(req->queue, control_audit_txn(req, 0), simple_done,
	    req)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
cmd_stats(struct control_req *req, struct json_out *out)
{
	struct queue_stats st;
	int rc, i;

	if ((rc = queue_stats(req->queue, &st)) != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	json_obj_begin(out);
	json_kv_uint(out, "messages", st.messages);
	json_kv_uint(out, "bytes", st.bytes);
	json_kv_uint(out, "scheduled", st.scheduled);
	json_kv_uint(out, "map_size", st.map_size);
	json_key(out, "messages_by_state");
	json_obj_begin(out);
	for (i = 0; i <= QUEUE_DELETED; i++)
		json_kv_uint(out, queue_strstate((enum queue_state)i), st.by_state[i]);
	json_obj_end(out);
	json_key(out, "recipients_by_state");
	json_obj_begin(out);
	for (i = 0; i <= QUEUE_DELETED; i++)
		json_kv_uint(out, queue_strstate((enum queue_state)i), st.rcpts_by_state[i]);
	json_obj_end(out);
	json_obj_end(out);
	return CONTROL_OK;
}

struct log_ctx {
	struct json_out *out;
	const char *id;
};

static int
log_cb(void *arg, uint64_t when, const char *text, size_t len)
{
	struct log_ctx *lc = arg;
	struct json_value *v = json_parse(text, len, NULL, 0);

	(void)when;
	if (v != NULL && (lc->id == NULL || strcmp(json_get_str(v, "id", ""), lc->id) == 0))
		json_raw(lc->out, text, len);
	json_free(v);
	return 0;
}

static int
cmd_log(struct control_req *req, struct json_out *out, enum queue_log l, const char *key)
{
	struct log_ctx lc = { out, json_get_str(req->args, "id", NULL) };
	int rc;

	json_obj_begin(out);
	json_key(out, key);
	json_arr_begin(out);
	rc = queue_log_foreach(req->queue, l, (uint64_t)json_get_int(req->args, "since", 0),
	    log_cb, &lc);
	json_arr_end(out);
	json_obj_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_OK;
}

static int cmd_events(struct control_req *r, struct json_out *o) { return cmd_log(r, o, QUEUE_LOG_EVENTS, "events"); }
static int cmd_audit(struct control_req *r, struct json_out *o) { return cmd_log(r, o, QUEUE_LOG_AUDIT, "audit"); }

/* Hidden: commit a message given in JSON (tests, until SMTP exists). */
struct inject_ctx {
	struct control_req *req;
	struct queue_rcpt_in *rcpts;
	size_t n;
};

static void
inject_done(void *arg, const struct outcome *o, const char *id)
{
	struct inject_ctx *ic = arg;
	struct json_out *out = control_out(ic->req);
	int status = CONTROL_OK;

	json_obj_begin(out);
	json_kv_str(out, "id", id);
	json_kv_int(out, "code", o->code);
	json_kv_str(out, "enhanced", o->enhanced);
	json_kv_str(out, "text", o->text);
	json_obj_end(out);
	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(ic->req);
	if (id != NULL)
		str_copy(ic->req->target, id, sizeof(ic->req->target));
	else
		status = control_error(ic->req, CONTROL_FAIL, "%d %s %s", o->code, o->enhanced, o->text);
	control_finish(ic->req, status);
	free(ic->rcpts);
	free(ic);
}

static int
cmd_inject(struct control_req *req, struct json_out *out)
{
	const struct json_value *rc = json_get(req->args, "rcpts");
	const struct json_value *data = json_get(req->args, "data");
	struct queue_msg_in m;
	struct inject_ctx *ic;
	size_t i;
	int r;

	(void)out;
	if (rc == NULL || rc->type != JSON_ARRAY || rc->n == 0 || data == NULL ||
	    data->type != JSON_STRING)
		return control_error(req, CONTROL_USAGE, "queue.inject: rcpts and data required");
	ic = xcalloc(1, sizeof(*ic));
	ic->req = req;
	ic->rcpts = xcalloc(rc->n, sizeof(*ic->rcpts));
	for (i = 0; i < rc->n; i++) {
		if (rc->items[i]->type != JSON_STRING) {
			free(ic->rcpts);
			free(ic);
			return control_error(req, CONTROL_USAGE, "rcpts must be strings");
		}
		ic->rcpts[i].addr = rc->items[i]->s;
	}
	memset(&m, 0, sizeof(m));
	m.account = json_get_str(req->args, "account", "");
	m.sender = json_get_str(req->args, "sender", "");
	m.rcpts = ic->rcpts;
	m.nrcpts = rc->n;
	m.data = data->s;
	m.len = data->slen;
	m.state = json_get_bool(req->args, "held", 0) ? QUEUE_HELD : QUEUE_QUEUED;
	m.verdicts = json_get_str(req->args, "verdicts", NULL);	/* tests: a stage's findings */
	m.audit = control_audit_txn(req, 0);	/* the queue adds the new id */
	if ((r = queue_commit(req->queue, &m, inject_done, ic)) != 0) {
		free(ic->rcpts);
		free(ic);
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-r));
	}
	return CONTROL_ASYNC;
}

/* Hidden: record a delivery result (tests, until delivery exists). */
static void
report_done(void *arg, const struct outcome *o, enum queue_state st, int late)
{
	struct control_req *req = arg;
	struct json_out *out = control_out(req);

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		struct outcome nf;

		/* the words of queue show and queue delete for an unknown id */
		outcome_reply(&nf, R_NO_SUCH_MESSAGE);
		if (strcmp(o->text, nf.text) == 0)
			control_finish(req, control_error(req, CONTROL_FAIL, "no such message: %s",
			    req->target));
		else
			control_finish(req, control_error(req, CONTROL_FAIL, "%s", o->text));
		return;
	}
	(void)late;	/* an operator's report on a final recipient is refused (EALREADY) */
	json_obj_begin(out);
	json_kv_str(out, "state", queue_strstate(st));
	json_obj_end(out);
	control_finish(req, CONTROL_OK);
}

static int
cmd_report(struct control_req *req, struct json_out *out)
{
	const char *id = json_get_str(req->args, "id", NULL);
	const char *res = json_get_str(req->args, "result", "delivered");
	enum queue_result r;
	struct outcome o;
	int rc;

	(void)out;
	if (id == NULL)
		return control_error(req, CONTROL_USAGE, "queue.report: id required");
	if (strcmp(res, "delivered") == 0) {
		r = QUEUE_RESULT_DELIVERED;
		outcome_reply(&o, R_SUCCESS);
	} else if (strcmp(res, "tempfail") == 0) {
		r = QUEUE_RESULT_TEMPFAIL;
		outcome_reply(&o, R_TEST_TEMPFAIL);
	} else if (strcmp(res, "permfail") == 0) {
		r = QUEUE_RESULT_PERMFAIL;
		outcome_reply(&o, R_TEST_PERMFAIL);
	} else
		return control_error(req, CONTROL_USAGE, "result: delivered|tempfail|permfail");
	str_copy(req->target, id, sizeof(req->target));
	rc = queue_report_audited(req->queue, id, (uint32_t)json_get_int(req->args, "rcpt", 0), r,
	    &o, "test", control_audit_txn(req, 0), report_done, req);
	if (rc == -ENOENT)	/* not a queue id at all */
		return control_error(req, CONTROL_FAIL, "no such message: %s", id);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

/*
 * queue.summary: like Postfix's qshape, pending recipients (queued,
 * deferred, held) by destination domain and age bucket (minutes since
 * the message was queued: <=5, <=10, <=20, ... <=1280, more), busiest
 * domains first, with a total row.
 */
#define SUMMARY_NB 10
static const unsigned summary_minutes[SUMMARY_NB - 1] = { 5, 10, 20, 40, 80, 160, 320, 640, 1280 };

struct summary_row {
	char domain[256];
	uint64_t total, n[SUMMARY_NB];
};

struct summary_ctx {
	struct summary_row *rows;
	size_t nrows;
	struct hash *byname;	/* domain -> index + 1 */
	uint64_t now;
	const struct filter *f;
};

static int
summary_cb(void *arg, const struct queue_msg *m)
{
	struct summary_ctx *sc = arg;
	uint64_t age = sc->now > m->created ? (sc->now - m->created) / 60000 : 0;
	size_t i, b;

	if (sc->f != NULL && !filter_match(sc->f, m))
		return 0;
	for (b = 0; b < SUMMARY_NB - 1 && age > summary_minutes[b]; b++)
		;
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		const char *at = r->addr != NULL ? strrchr(r->addr, '@') : NULL;
		char d[256];
		uintptr_t idx;
		size_t k;

		if (!state_pending(r->state))
			continue;
		str_copy(d, at != NULL ? at + 1 : "", sizeof(d));
		for (k = 0; d[k]; k++)
			d[k] = (char)tolower((unsigned char)d[k]);
		idx = (uintptr_t)hash_gets(sc->byname, d);
		if (idx == 0) {
			sc->rows = xrealloc(sc->rows, (sc->nrows + 1) * sizeof(*sc->rows));
			memset(&sc->rows[sc->nrows], 0, sizeof(*sc->rows));
			str_copy(sc->rows[sc->nrows].domain, d, sizeof(sc->rows[0].domain));
			idx = ++sc->nrows;
			hash_puts(sc->byname, sc->rows[idx - 1].domain, (void *)idx);
		}
		sc->rows[idx - 1].total++;
		sc->rows[idx - 1].n[b]++;
	}
	return 0;
}

static int
summary_order(const void *a, const void *b)
{
	const struct summary_row *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->domain, y->domain);
}

static void
summary_row_json(struct json_out *out, const char *domain, const struct summary_row *r)
{
	size_t b;

	json_obj_begin(out);
	json_kv_str(out, "domain", domain);
	json_kv_uint(out, "total", r->total);
	json_key(out, "counts");
	json_arr_begin(out);
	for (b = 0; b < SUMMARY_NB; b++)
		json_uint(out, r->n[b]);
	json_arr_end(out);
	json_obj_end(out);
}

static int
cmd_summary(struct control_req *req, struct json_out *out)
{
	struct summary_ctx sc;
	struct summary_row total;
	struct filter f;
	size_t i, b;
	int rc;

	if ((rc = filter_parse(req, &f)) != 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	memset(&total, 0, sizeof(total));
	sc.byname = hash_new(NULL);
	sc.now = now_wall_ms();
	sc.f = &f;
	rc = queue_foreach(req->queue, summary_cb, &sc);
	hash_free(sc.byname);
	if (rc != 0) {
		free(sc.rows);
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	}
	qsort(sc.rows, sc.nrows, sizeof(*sc.rows), summary_order);
	for (i = 0; i < sc.nrows; i++) {
		total.total += sc.rows[i].total;
		for (b = 0; b < SUMMARY_NB; b++)
			total.n[b] += sc.rows[i].n[b];
	}
	json_obj_begin(out);
	json_key(out, "buckets");
	json_arr_begin(out);
	for (b = 0; b < SUMMARY_NB - 1; b++)
		json_uint(out, summary_minutes[b]);
	json_arr_end(out);
	json_key(out, "total");
	summary_row_json(out, "TOTAL", &total);
	json_key(out, "domains");
	json_arr_begin(out);
	for (i = 0; i < sc.nrows; i++)
		summary_row_json(out, sc.rows[i].domain, &sc.rows[i]);
	json_arr_end(out);
	json_obj_end(out);
	free(sc.rows);
	return CONTROL_OK;
}

/* queue.suspend / queue.unsuspend {domain}: hold (release) every
 * recipient in the domain, one audited transaction. */
struct domain_req {
	struct control_req *req;
	int nchanged;
	enum queue_action act;
	uint64_t since;
	struct dsn_wait *w;
};

/* queue bounce --domain: the DSNs, for every message with a recipient
 * the operator returned since DR->since. */
static int
domain_dsn_cb(void *arg, const struct queue_msg *m)
{
	struct domain_req *dr = arg;
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_BOUNCED && m->rcpts[i].relay != NULL &&
		    strcmp(m->rcpts[i].relay, "operator") == 0 &&
		    m->rcpts[i].last_attempt >= dr->since) {
			dsn_wait_add(dr->w, m->id, dr->since);
			break;
		}
	return 0;
}

static void
domain_done(void *arg, const struct outcome *o)
{
	struct domain_req *dr = arg;
	struct control_req *req = dr->req;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind == OUTCOME_OK) {
		struct json_out *out = control_out(req);

		json_obj_begin(out);
		json_kv_str(out, "domain", req->target);
		json_kv_int(out, "messages", dr->nchanged);
		json_obj_end(out);
		if (dr->act == QUEUE_ACT_BOUNCE && dr->nchanged > 0) {
			struct outcome ok_;

			dr->w = dsn_wait_new(req, CONTROL_OK);
			(void)queue_foreach(req->queue, domain_dsn_cb, dr);
			outcome_ok(&ok_);
			dsn_wait_done(dr->w, &ok_);
		} else
			control_finish(req, CONTROL_OK);
	} else
		control_finish(req, control_error(req, CONTROL_FAIL, "%s", o->text));
	free(dr);
}

static int
cmd_domain_action(struct control_req *req, enum queue_action act)
{
	const char *domain = json_get_str(req->args, "domain", NULL);
	struct domain_req *dr;
	size_t i;
	int rc;

	if (domain == NULL || *domain == '\0' || strchr(domain, '@') != NULL)
		return control_error(req, CONTROL_USAGE, "a --domain is required (a domain, not an address)");
	str_copy(req->target, domain, sizeof(req->target));
	for (i = 0; req->target[i]; i++)
		req->target[i] = (char)tolower((unsigned char)req->target[i]);
	if (req->loop == NULL)
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	dr = xcalloc(1, sizeof(*dr));
	dr->req = req;
	dr->act = act;
	dr->since = now_wall_ms();
	rc = queue_domain_action(req->queue, req->target, act, control_audit_txn(req, 1),
	    &dr->nchanged, domain_done, dr);
	if (rc != 0) {
		free(dr);
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	}
	return CONTROL_ASYNC;
}

static int cmd_suspend(struct control_req *r, struct json_out *o) { (void)o; return cmd_domain_action(r, QUEUE_ACT_HOLD); }
static int cmd_unsuspend(struct control_req *r, struct json_out *o) { (void)o; return cmd_domain_action(r, QUEUE_ACT_RELEASE); }


/* `queue check`: every page, table and record.  Problems are the result
 * ("ok": false and the list), so the client shows them all and exits
 * non-zero; only a check that cannot run is an error. */
static void
check_problem(void *arg, const char *text)
{
	struct json_out *out = arg;

	json_str(out, text);
}

static int
cmd_check(struct control_req *req, struct json_out *out)
{
	struct queue_check_stats st;
	int rc;

	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	json_obj_begin(out);
	json_key(out, "problems");
	json_arr_begin(out);
	rc = queue_check(req->queue, check_problem, out, &st);
	json_arr_end(out);
	json_kv_bool(out, "ok", rc == 0 && st.problems == 0);
	json_kv_uint(out, "pages", st.pages);
	json_kv_uint(out, "messages", st.messages);
	json_kv_uint(out, "recipients", st.recipients);
	json_kv_uint(out, "chunks", st.chunks);
	json_kv_uint(out, "scheduled", st.scheduled);
	json_kv_uint(out, "keys", st.keys);
	json_kv_uint(out, "log_records", st.log_records);
	json_kv_uint(out, "accounts", st.accounts);
	json_obj_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "queue check: %s", strerror(-rc));
	return CONTROL_OK;
}

static const struct control_cmd queue_cmds[] = {
	{ "queue.bounce", CONTROL_ROLE_OPERATOR, 1, cmd_bounce },
	{ "queue.suspend", CONTROL_ROLE_OPERATOR, 1, cmd_suspend },
	{ "queue.unsuspend", CONTROL_ROLE_OPERATOR, 1, cmd_unsuspend },
	{ "queue.summary", CONTROL_ROLE_OPERATOR, 0, cmd_summary },
	{ "queue.list", CONTROL_ROLE_OPERATOR, 0, cmd_list },
	{ "queue.show", CONTROL_ROLE_OPERATOR, 0, cmd_show },
	{ "queue.stats", CONTROL_ROLE_OPERATOR, 0, cmd_stats },
	{ "queue.check", CONTROL_ROLE_OPERATOR, 0, cmd_check },
	{ "queue.events", CONTROL_ROLE_OPERATOR, 0, cmd_events },
	{ "queue.hold", CONTROL_ROLE_OPERATOR, 1, cmd_hold },
	{ "queue.release", CONTROL_ROLE_OPERATOR, 1, cmd_release },
	{ "queue.delete", CONTROL_ROLE_OPERATOR, 1, cmd_delete },
	{ "queue.requeue", CONTROL_ROLE_OPERATOR, 1, cmd_requeue },
	{ "queue.flush", CONTROL_ROLE_OPERATOR, 1, cmd_flush },
	{ "queue.purge", CONTROL_ROLE_OPERATOR, 1, cmd_purge },
	{ "queue.inject", CONTROL_ROLE_OPERATOR, 1, cmd_inject },
	{ "queue.report", CONTROL_ROLE_OPERATOR, 1, cmd_report },
	{ "audit.list", CONTROL_ROLE_OPERATOR, 0, cmd_audit },
};

void
cmd_queue_register(void)
{
	control_register(queue_cmds, ARRAY_SIZE(queue_cmds));
}
