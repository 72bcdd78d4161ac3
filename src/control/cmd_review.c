/* SPDX-License-Identifier: ISC */
/*
 * cmd_review.c: the daemon-side review.* control commands of the abuse
 * review workflow (issue 16, posternctl(8) "review"), registered by
 * control_commands_register(); posternctl's `review` group
 * (src/ctl/ctl_review.c) sends them.  Also the hold-expiry timer.
 *
 * Reviewers (reviewer_group) may run every review.* command; operators
 * too, and only operators may add --unmasked to `show` (with a reason).
 * Every review command is audited, reads included (table: mutating):
 * decisions on messages (release, reject, flag, the holds of suspend
 * and --similar, resume's releases) go through queue_review(), which
 * commits the change, the customer's events (reason class, never the
 * reviewer) and the audit record in one transaction; account status
 * changes go through queue_review_account_update() (suspend, resume: the
 * record, its event and the account's mail in one transaction); reads
 * (list, show, account) and refusals are audited by control.c when they
 * finish.  reject --similar has two effects (the rejection, then the
 * holds) and writes one record with each.
 *
 * show is an audited read (control_audit_read): a reviewer must give
 * --reason, which lands in the record; an operator may omit it for the
 * masked view, never for --unmasked.  list and account return metadata
 * only (masked sender, counts, states), no decrypted content.
 *
 * A reviewer never gets content unmasked: show builds the masked view
 * (policy/review_view.c) from the stored message; addresses in every
 * result are masked the same way (review_address_mask).  The learning
 * hooks go through struct review_classifier (include/review.h), wired to
 * the daemon's spam model (include/spam.h: spam_learn() with the balance
 * guard, and the rejected spam's near-duplicate fingerprint); without a
 * model `--learn` answers "learned": false with the reason.  `--similar` uses the built-in
 * fingerprint (review_fingerprint) over the pending mail of every
 * account.
 *
 * Hold expiry: every review_hold_expiry / 10 (1 s to 1 min) the timer
 * rejects held messages nobody decided on within review_hold_expiry of
 * their hold, as QUEUE_REVIEW_EXPIRE with an audit record by "system".
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "bounce.h"
#include "buf.h"
#include "config.h"
#include "control.h"
#include "crypto.h"
#include "dkim.h"
#include "control_int.h"
#include "json.h"
#include "log.h"
#include "mime.h"
#include "policy.h"
#include "policy_params.h"
#include "queue.h"
#include "relay.h"
#include "review.h"
#include "spam.h"
#include "util.h"

#define REVIEW_MAX_IDS 1000		/* ids per command */
#define REVIEW_RECENT 20		/* decisions shown by review.account */
#define SUMMARY_WINDOW (7ull * 24 * 3600 * 1000)	/* account summary: last 7 days */

/*
 * review_classifier.learn over the daemon's spam model (issue 15):
 * release = ham, reject/flag = spam, with the balance guard (a class
 * that would swamp the other is not learned: 1, not a failure, and the
 * result says so).  The near-duplicate fingerprint of a rejected or
 * flagged message is remembered by cmd_review_decide() whether or not
 * it is learned, so later copies score NEAR_DUP_REJECTED for every
 * account.
 */
static int
review_spam_learn(void *arg, const char *raw, size_t len, int spam)
{
	const struct spam_store *st = arg;
	int rc = spam_learn(st, raw, len, spam ? SPAM_SPAM : SPAM_HAM, SPAM_LEARN_BALANCED);

	return rc < 0 ? -1 : rc;
}

/* ---- small helpers ---- */

/* Content read for a decision does not outlive it. */
static void
body_wipe(struct buf *b)
{
	if (b->data != NULL)
		crypto_wipe(b->data, b->len);
	buf_free(b);
}

static int
pseudonym_mode(const struct control_req *req)
{
	return req->cfg != NULL && req->cfg->review_address_mask == CONFIG_REVIEW_MASK_PSEUDONYM;
}

static void
kv_masked_addr(struct json_out *j, const char *key, const char *addr, int pseudonym)
{
	struct buf b;

	buf_init(&b, 0);
	if (addr == NULL || *addr == '\0')
		buf_append_str(&b, "<>");
	else
		review_mask_address(addr, strlen(addr), pseudonym, &b);
	json_key(j, key);
	json_strn(j, b.data ? b.data : "", b.len);
	buf_free(&b);
}

/* The review record of ID (parsed), or NULL. */
static struct json_value *
review_record(struct queue *q, const char *id)
{
	struct json_value *v;
	char *text = NULL;
	size_t len = 0;

	if (queue_kv_get(q, QUEUE_T_REVIEW, id, &text, &len) != 0)
		return NULL;
	v = json_parse(text, len, NULL, 0);
	free(text);
	if (v != NULL && v->type != JSON_OBJECT) {
		json_free(v);
		v = NULL;
	}
	return v;
}

/* Findings by type and the spam score from the stored verdicts. */
struct verdict_sum {
	size_t dlp[8];
	const char *dlp_names[8];
	size_t ndlp;
	int dlp_hold, mime_hold, spam_hold, restricted;
	int have_score;
	double score;
	struct json_value *tree;
};

static void
verdicts_sum(const char *verdicts, struct verdict_sum *s)
{
	const struct json_value *v;
	size_t i, k;

	memset(s, 0, sizeof(*s));
	if (verdicts == NULL || *verdicts == '\0' ||
	    (s->tree = json_parse(verdicts, strlen(verdicts), NULL, 0)) == NULL)
		return;
	if (s->tree->type != JSON_ARRAY)
		return;
	for (i = 0; i < s->tree->n; i++) {
		const char *stage, *action;

		v = s->tree->items[i];
		stage = json_get_str(v, "stage", "");
		action = json_get_str(v, "action", "");
		if (strcmp(stage, "dlp") == 0) {
			const char *type = json_get_str(v, "type", "?");

			for (k = 0; k < s->ndlp && strcmp(s->dlp_names[k], type) != 0; k++)
				;
			if (k == s->ndlp && s->ndlp < ARRAY_SIZE(s->dlp)) {
				s->dlp_names[s->ndlp] = type;
				s->dlp[s->ndlp++] = 0;
			}
			if (k < ARRAY_SIZE(s->dlp))
				s->dlp[k]++;
			if (strcmp(action, "hold") == 0)
				s->dlp_hold = 1;
		} else if (strcmp(stage, "mime") == 0 && strcmp(action, "hold") == 0)
			s->mime_hold = 1;
		else if (strcmp(stage, "spam") == 0) {
			const struct json_value *sc = json_get(v, "score");

			if (sc != NULL && (sc->type == JSON_DOUBLE || sc->type == JSON_INT)) {
				s->have_score = 1;
				s->score = sc->type == JSON_DOUBLE ? sc->d : (double)sc->i;
			}
			if (strcmp(action, "hold") == 0)
				s->spam_hold = 1;
		} else if (strcmp(stage, "restriction") == 0)
			s->restricted = 1;
	}
}

static void
verdicts_free(struct verdict_sum *s)
{
	json_free(s->tree);
}

/* Why M is in review: the record's reason, else what the stages said. */
static const char *
review_reason(const struct json_value *rec, const struct verdict_sum *s)
{
	const char *r = json_get_str(rec, "reason", NULL);

	if (r != NULL)
		return r;
	if (s->restricted)
		return "restricted";
	if (s->dlp_hold)
		return "dlp";
	if (s->spam_hold)
		return "spam";
	if (s->mime_hold)
		return "limit";
	return "manual";
}

/* When M was held: the record's time, else its commit (held by a stage). */
static uint64_t
held_since(const struct json_value *rec, const struct queue_msg *m)
{
	int64_t h = json_get_int(rec, "held", 0), d = json_get_int(rec, "decided", 0);

	if (h > 0 && d > h)
		return (uint64_t)d;	/* held again after a decision (queue hold) */
	return h > 0 ? (uint64_t)h : m->created;
}

static void
findings_json(struct json_out *j, const struct verdict_sum *s)
{
	size_t k;

	json_key(j, "findings");
	json_obj_begin(j);
	for (k = 0; k < s->ndlp; k++)
		json_kv_uint(j, s->dlp_names[k], s->dlp[k]);
	json_obj_end(j);
	json_key(j, "score");
	if (s->have_score) {
		char num[32];
		int n = snprintf(num, sizeof(num), "%.3f", s->score);

		json_raw(j, num, (size_t)n);
	} else
		json_null(j);
}

/* The ids of ARGS ("ids" array or "id"), at most REVIEW_MAX_IDS. */
static int
args_ids(struct control_req *req, const char ***ids, size_t *n)
{
	const struct json_value *a = json_get(req->args, "ids");
	const char *one = json_get_str(req->args, "id", NULL);
	size_t i, off = 0;

	*ids = NULL;
	*n = 0;
	if (a == NULL && one != NULL) {
		*ids = xcalloc(1, sizeof(**ids));
		(*ids)[0] = one;
		*n = 1;
	} else if (a != NULL && a->type == JSON_ARRAY && a->n > 0 && a->n <= REVIEW_MAX_IDS) {
		*ids = xcalloc(a->n, sizeof(**ids));
		for (i = 0; i < a->n; i++) {
			if (a->items[i]->type != JSON_STRING) {
				free(*ids);
				*ids = NULL;
				return control_error(req, CONTROL_USAGE, "ids must be strings");
			}
			(*ids)[i] = a->items[i]->s;
		}
		*n = a->n;
	} else
		return control_error(req, CONTROL_USAGE, "message ids required (at most %d)",
		    REVIEW_MAX_IDS);
	for (i = 0; i < *n && off < sizeof(req->target) - 1; i++)
		off += (size_t)snprintf(req->target + off, sizeof(req->target) - off, "%s%s",
		    off ? " " : "", (*ids)[i]);
	return CONTROL_OK;
}

static void
args_reason(struct control_req *req)
{
	const char *r = json_get_str(req->args, "reason", NULL);

	if (r != NULL)
		str_copy(req->reason, r, sizeof(req->reason));
}

/* ---- account summary (review.show, review.account) ---- */

struct summary {
	const char *account;
	uint64_t since;
	uint64_t messages, rcpts, delivered, bounced, held, flagged;
	struct queue *q;
};

static int
summary_one(void *arg, const struct queue_msg *m)
{
	struct summary *s = arg;
	struct json_value *rec;
	size_t i;

	if (strcmp(m->account ? m->account : "", s->account) != 0 || m->created < s->since ||
	    (m->sender != NULL && m->sender[0] == '\0'))	/* our DSNs are not its mail */
		return 0;
	s->messages++;
	for (i = 0; i < m->nrcpts; i++) {
		s->rcpts++;
		s->delivered += m->rcpts[i].state == QUEUE_DELIVERED;
		s->bounced += m->rcpts[i].state == QUEUE_BOUNCED;
	}
	s->held += m->state == QUEUE_HELD;
	if ((rec = review_record(s->q, m->id)) != NULL) {
		s->flagged += json_get_bool(rec, "flagged", 0) != 0;
		json_free(rec);
	}
	return 0;
}

static void
summary_json(struct json_out *j, struct queue *q, const char *account)
{
	struct summary s;
	uint64_t now = now_wall_ms();

	memset(&s, 0, sizeof(s));
	s.account = account;
	s.q = q;
	s.since = now > SUMMARY_WINDOW ? now - SUMMARY_WINDOW : 0;
	(void)queue_foreach(q, summary_one, &s);
	json_key(j, "summary");
	json_obj_begin(j);
	json_kv_str(j, "window", "7d");
	json_kv_uint(j, "messages", s.messages);
	json_kv_uint(j, "recipients", s.rcpts);
	json_kv_uint(j, "delivered", s.delivered);
	json_kv_uint(j, "bounced", s.bounced);
	json_kv_uint(j, "held", s.held);
	json_kv_uint(j, "flagged", s.flagged);
	json_kv_uint(j, "bounce_rate_permille", s.rcpts ? s.bounced * 1000 / s.rcpts : 0);
	json_kv_uint(j, "complaint_rate_permille", s.messages ? s.flagged * 1000 / s.messages : 0);
	json_obj_end(j);
}

static struct account *
account_load(struct queue *q, const char *name)
{
	struct account *a;
	char *text = NULL;
	size_t len = 0;

	if (name == NULL || !account_name_valid(name) ||
	    queue_kv_get(q, QUEUE_T_ACCOUNTS, name, &text, &len) != 0)
		return NULL;
	a = account_parse(text, len);
	free(text);
	return a;
}

static enum account_status
account_status_of(const struct account *a)
{
	return a->pol.suspended ? ACCOUNT_SUSPENDED : a->pol.status;
}

/* ---- review.list ---- */

struct list_ctx {
	struct control_req *req;
	struct json_out *out;
	const char *reason, *account;
	uint64_t older_than, now;
	int pseudonym;
	uint64_t restricted_hidden;	/* reviewer: restricted messages left out */
};

static int
list_one(void *arg, const struct queue_msg *m)
{
	struct list_ctx *c = arg;
	struct json_value *rec = NULL;
	struct verdict_sum s;
	const char *reason;
	uint64_t since;
	int flagged;

	if (c->account != NULL && strcmp(c->account, m->account ? m->account : "") != 0)
		return 0;
	rec = review_record(c->req->queue, m->id);
	flagged = json_get_bool(rec, "flagged", 0);
	if (m->state != QUEUE_HELD && !flagged) {
		json_free(rec);
		return 0;
	}
	verdicts_sum(m->verdicts, &s);
	reason = review_reason(rec, &s);
	since = held_since(rec, m);
	if (strcmp(reason, "restricted") == 0 && c->req->role < CONTROL_ROLE_OPERATOR) {
		/* restricted processing (issue 17): a reviewer sees a count only */
		if (c->reason == NULL || strcmp(c->reason, reason) == 0)
			c->restricted_hidden++;
		verdicts_free(&s);
		json_free(rec);
		return 0;
	}
	if ((c->reason == NULL || strcmp(c->reason, reason) == 0) &&
	    (c->older_than == 0 || (c->now > since && c->now - since >= c->older_than))) {
		json_obj_begin(c->out);
		json_kv_str(c->out, "id", m->id);
		json_kv_str(c->out, "account", m->account);
		json_kv_str(c->out, "state", queue_strstate(m->state));
		json_kv_str(c->out, "reason", reason);
		json_kv_uint(c->out, "held", since);
		json_kv_uint(c->out, "age", c->now > since ? c->now - since : 0);
		json_kv_uint(c->out, "size", m->size);
		json_kv_bool(c->out, "flagged", flagged);
		kv_masked_addr(c->out, "sender", m->sender, c->pseudonym);
		json_kv_uint(c->out, "recipients", m->nrcpts);
		findings_json(c->out, &s);
		json_obj_end(c->out);
	}
	verdicts_free(&s);
	json_free(rec);
	return 0;
}

static int
list_account_one(void *arg, const char *key, const char *val, size_t len)
{
	struct json_out *out = arg;
	struct account *a = account_parse(val, len);

	(void)key;
	if (a != NULL && account_status_of(a) != ACCOUNT_ACTIVE) {
		json_obj_begin(out);
		json_kv_str(out, "account", a->name);
		json_kv_str(out, "status", account_strstatus(account_status_of(a)));
		json_obj_end(out);
	}
	account_free(a);
	return 0;
}

static int
cmd_review_list(struct control_req *req, struct json_out *out)
{
	static const char *const reasons[] = {
		"dlp", "spam", "limit", "manual", "restricted", "suspended", "similar",
	};
	struct list_ctx c;
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.req = req;
	c.out = out;
	c.now = now_wall_ms();
	c.pseudonym = pseudonym_mode(req);
	c.reason = json_get_str(req->args, "reason", NULL);
	c.account = json_get_str(req->args, "account", NULL);
	if (json_get_int(req->args, "older_than", 0) < 0)
		return control_error(req, CONTROL_USAGE, "older_than must not be negative");
	c.older_than = (uint64_t)json_get_int(req->args, "older_than", 0);
	if (c.reason != NULL) {
		for (i = 0; i < ARRAY_SIZE(reasons) && strcmp(reasons[i], c.reason) != 0; i++)
			;
		if (i == ARRAY_SIZE(reasons))
			return control_error(req, CONTROL_USAGE, "unknown reason '%s' (dlp, spam, "
			    "limit, manual, restricted, suspended, similar)", c.reason);
	}
	str_copy(req->target, c.account ? c.account : "", sizeof(req->target));
	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	json_arr_begin(out);
	if (json_get_bool(req->args, "accounts", 0))
		rc = queue_kv_foreach(req->queue, QUEUE_T_ACCOUNTS, "", list_account_one, out);
	else
		rc = queue_foreach(req->queue, list_one, &c);
	if (c.restricted_hidden > 0) {
		/* the one element that is not a message: how many restricted
		 * messages a reviewer may not see (issue 17) */
		json_obj_begin(out);
		json_kv_uint(out, "restricted_hidden", c.restricted_hidden);
		json_obj_end(out);
	}
	json_arr_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot read the queue: %s", strerror(-rc));
	return CONTROL_OK;
}

/* ---- review.show ---- */

static int
cmd_review_show(struct control_req *req, struct json_out *out)
{
	const char *id = json_get_str(req->args, "id", NULL);
	int unmasked = json_get_bool(req->args, "unmasked", 0);
	int pseudonym = pseudonym_mode(req);
	struct review_view_opts vo;
	struct mime_limits lim;
	struct queue_msg *m = NULL;
	struct json_value *rec;
	struct verdict_sum s;
	struct account *a;
	struct buf body;
	size_t i;
	int rc;

	args_reason(req);
	if (id == NULL)
		return control_error(req, CONTROL_USAGE, "message id required");
	str_copy(req->target, id, sizeof(req->target));
	if (unmasked && req->role < CONTROL_ROLE_OPERATOR)
		return control_error(req, CONTROL_FAIL,
		    "permission denied: --unmasked needs the operator role (you are %s)",
		    control_strrole(req->role));
	if (unmasked && req->reason[0] == '\0')
		return control_error(req, CONTROL_USAGE, "--unmasked needs --reason TEXT");
	/* Even masked, the view is decrypted content (Subject, text parts):
	 * an audited read, and a reviewer says why (issue 13 item 5);
	 * refused without --reason, the refusal audited like the read. */
	if ((rc = control_audit_read(req)) < 0)
		return CONTROL_USAGE;
	if (rc == 0)
		return control_error(req, CONTROL_FAIL,
		    "review show needs a running posternd (its reads are audited)");
	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	if ((rc = queue_get(req->queue, id, &m)) != 0)
		return control_error(req, CONTROL_FAIL, rc == -ENOENT ? "no such message: %s" :
		    "cannot read message %s", id);
	rec = review_record(req->queue, id);
	if (m->state != QUEUE_HELD && rec == NULL && req->role < CONTROL_ROLE_OPERATOR) {
		queue_msg_free(m);
		return control_error(req, CONTROL_FAIL, "message %s is not under review", id);
	}
	verdicts_sum(m->verdicts, &s);
	if (req->role < CONTROL_ROLE_OPERATOR && strcmp(review_reason(rec, &s), "restricted") == 0) {
		/* restricted processing (issue 17): not shown to reviewers */
		verdicts_free(&s);
		json_free(rec);
		queue_msg_free(m);
		return control_error(req, CONTROL_FAIL, "message %s is restricted by a data-subject "
		    "request: not shown to reviewers", id);
	}
	json_obj_begin(out);
	json_kv_str(out, "id", m->id);
	json_kv_str(out, "account", m->account);
	json_kv_str(out, "state", queue_strstate(m->state));
	json_kv_str(out, "reason", review_reason(rec, &s));
	json_kv_uint(out, "created", m->created);
	json_kv_uint(out, "held", held_since(rec, m));
	json_kv_uint(out, "size", m->size);
	json_kv_bool(out, "flagged", json_get_bool(rec, "flagged", 0));
	json_kv_bool(out, "masked", !unmasked);
	if (unmasked) {
		json_kv_str(out, "sender", m->sender);
	} else
		kv_masked_addr(out, "sender", m->sender, pseudonym);
	json_key(out, "recipients");
	json_arr_begin(out);
	for (i = 0; i < m->nrcpts; i++) {
		json_obj_begin(out);
		if (unmasked)
			json_kv_str(out, "address", m->rcpts[i].addr);
		else
			kv_masked_addr(out, "address", m->rcpts[i].addr, pseudonym);
		json_kv_str(out, "state", queue_strstate(m->rcpts[i].state));
		json_obj_end(out);
	}
	json_arr_end(out);
	findings_json(out, &s);
	/* The stages' verdicts hold types, parts, offsets, actions and spam
	 * symbols: never a value (policy/dlp_stage.c). */
	json_key(out, "verdicts");
	if (s.tree != NULL)
		json_raw(out, m->verdicts, strlen(m->verdicts));
	else
		json_arr_begin(out), json_arr_end(out);
	buf_init(&body, 0);
	rc = queue_read_body(req->queue, id, &body);
	if (rc == 0 && unmasked) {
		json_key(out, "message");
		json_strn(out, body.data ? body.data : "", body.len);
	} else if (rc == 0) {
		lim.max_depth = req->cfg ? (unsigned)req->cfg->mime_max_depth : 10;
		lim.max_parts = req->cfg ? (unsigned)req->cfg->mime_max_parts : 500;
		lim.max_decoded = req->cfg ? req->cfg->mime_max_decoded_size : 100u << 20;
		memset(&vo, 0, sizeof(vo));
		vo.lim = &lim;
		vo.pseudonym = pseudonym;
		json_key(out, "view");
		json_obj_begin(out);
		review_masked_view(body.data ? body.data : "", body.len, &vo, out);
		json_obj_end(out);
	} else
		json_kv_str(out, "body", "gone");
	body_wipe(&body);
	json_key(out, "account_status");
	if ((a = account_load(req->queue, m->account)) != NULL) {
		json_str(out, account_strstatus(account_status_of(a)));
		account_free(a);
	} else
		json_null(out);
	summary_json(out, req->queue, m->account ? m->account : "");
	json_obj_end(out);
	verdicts_free(&s);
	json_free(rec);
	queue_msg_free(m);
	return CONTROL_OK;
}

/* ---- decisions on messages ---- */

struct decide {
	struct control_req *req;
	enum queue_review_op op;
	const char **ids;		/* borrowed from the request's args */
	size_t n;
	int *status;
	int learn, similar, notify;
	int learned;
	size_t declined;		/* by the balance guard */
	const char *learn_why;
	char **similar_ids;		/* owned */
	size_t nsimilar;
	int *similar_status;
	int stage;			/* 0: the decision, 1: the --similar holds */
	struct iovec *bodies;		/* release: re-signed texts (owned) or NULL */
	size_t nresigned;
	struct notice **notices;	/* reject --notify-sender: per id, or NULL */
	size_t nnotified;
};

/* A notice to the envelope sender of a rejected message (--notify-sender):
 * a DSN (RFC 3464, src/outbound/bounce.c) from <> without any content. */
struct notice {
	struct buf data;
	char *addr, *account;
	struct queue_rcpt_in rin;
	struct queue_msg_in in;
};

static void
notice_free(struct notice *n)
{
	if (n == NULL)
		return;
	buf_free(&n->data);
	free(n->addr);
	free(n->account);
	free(n);
}

static void
notice_committed(void *arg, const struct outcome *o, const char *id)
{
	struct notice *n = arg;

	if (o->kind == OUTCOME_OK)
		log_info("qid=%s event=review_notice account=%s", id, n->account);
	else
		log_warn("event=review_notice_failed account=%s reason=\"%s\"", n->account, o->text);
	notice_free(n);
}

/* The notice for message ID, built before the reject shreds it (NULL when
 * it has no sender to notify: <>, or not pending). */
static struct notice *
notice_build(struct control_req *req, const char *id)
{
	struct bounce_rcpt *br;
	struct queue_msg *m = NULL;
	struct notice *n;
	struct outcome o;
	char diag[600];
	size_t i, k = 0;

	if (queue_get(req->queue, id, &m) != 0)
		return NULL;
	if (m->sender == NULL || m->sender[0] == '\0') {
		queue_msg_free(m);
		return NULL;
	}
	outcome_reply(&o, R_REVIEW_REJECTED);
	snprintf(diag, sizeof(diag), "%d %s %s", o.code, o.enhanced, o.text);
	br = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*br));
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state != QUEUE_HELD && m->rcpts[i].state != QUEUE_QUEUED &&
		    m->rcpts[i].state != QUEUE_DEFERRED)
			continue;
		br[k].addr = m->rcpts[i].addr;
		br[k].orcpt = m->rcpts[i].orcpt;
		br[k].action = BOUNCE_FAILED;
		str_copy(br[k].status, o.enhanced, sizeof(br[k].status));
		br[k].diagnostic = diag;
		k++;
	}
	if (k == 0) {
		free(br);
		queue_msg_free(m);
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	buf_init(&n->data, 0);
	/* BODY NULL: the notice says the content is not available, and carries none */
	bounce_build(m, br, k, NULL, 0, req->cfg && req->cfg->hostname && *req->cfg->hostname ?
	    req->cfg->hostname : "localhost", now_wall_ms(), &n->data);
	n->addr = xstrdup(m->sender);
	n->account = xstrdup(m->account ? m->account : "");
	n->rin.addr = n->addr;
	n->rin.notify = QUEUE_NOTIFY_NEVER;	/* a notice is never reported on */
	n->in.account = n->account;
	n->in.sender = "";
	n->in.rcpts = &n->rin;
	n->in.nrcpts = 1;
	n->in.data = n->data.data;
	n->in.len = n->data.len;
	n->in.state = QUEUE_QUEUED;
	n->in.client = "review";
	free(br);
	queue_msg_free(m);
	return n;
}

static void
decide_free(struct decide *d)
{
	size_t i;

	for (i = 0; i < d->nsimilar; i++)
		free(d->similar_ids[i]);
	free(d->similar_ids);
	free(d->similar_status);
	free(d->status);
	for (i = 0; d->notices != NULL && i < d->n; i++)
		notice_free(d->notices[i]);
	free(d->notices);
	for (i = 0; d->bodies != NULL && i < d->n; i++)
		if (d->bodies[i].iov_base != NULL) {
			crypto_wipe(d->bodies[i].iov_base, d->bodies[i].iov_len);
			free(d->bodies[i].iov_base);
		}
	free(d->bodies);
	free(d->ids);
	free(d);
}

/*
 * Release after a long hold: when the hold outlived the x= of the DKIM
 * signature the EOM stage made, that signature is removed and the
 * message signed again with the domain's active keys (the same stage,
 * policy/dkim_stage.c), so it is not delivered with a signature that
 * has expired.  The new text goes into the release's transaction.
 * Signing runs here on the loop: a few milliseconds per released message.
 */
static int
release_resign(struct control_req *req, struct decide *d, size_t i)
{
	struct queue_msg *m = NULL;
	struct policy_params pp;
	struct policy_msg pm;
	struct account *a;
	struct outcome o;
	struct buf out;
	int rc = -1;

	if (req->cfg == NULL || req->cfg->dkim_signature_expiry == 0 ||
	    queue_get(req->queue, d->ids[i], &m) != 0)
		return 0;
	if (m->state != QUEUE_HELD) {
		queue_msg_free(m);
		return 0;
	}
	memset(&pm, 0, sizeof(pm));
	buf_init(&pm.data, 0);
	if (queue_read_body(req->queue, d->ids[i], &pm.data) != 0 ||
	    review_strip_expired_dkim(&pm.data, now_wall_ms() / 1000) == 0) {
		body_wipe(&pm.data);
		queue_msg_free(m);
		return 0;
	}
	a = account_load(req->queue, m->account);
	policy_params_from_config(&pp, req->cfg);
	pm.params = &pp;
	pm.account = m->account ? m->account : "";
	pm.acct = a != NULL ? &a->pol : NULL;
	pm.sender = m->sender ? m->sender : "";
	buf_init(&pm.verdicts, 0);
	buf_init(&out, 0);
	if (dkimsign_stage_run(&pm, &o) == 0) {
		policy_msg_render(&pm, &out);
		if (d->bodies == NULL)
			d->bodies = xcalloc(d->n, sizeof(*d->bodies));
		d->bodies[i].iov_base = buf_steal(&out, &d->bodies[i].iov_len);
		d->nresigned++;
		rc = 0;
	} else
		log_warn("qid=%s event=review_resign_failed reason=\"%s\"", m->id, o.text);
	body_wipe(&out);
	if (pm.data.data != NULL)
		crypto_wipe(pm.data.data, pm.data.len);
	policy_msg_free(&pm);
	account_free(a);
	queue_msg_free(m);
	return rc;
}

static const char *
status_text(int st)
{
	switch (st) {
	case 0: return "ok";
	case -ENOENT: return "no such message";
	case -EALREADY: return "nothing to change";
	default: return "failed";
	}
}

static void
decide_result(struct decide *d)
{
	struct json_out *out = control_out(d->req);
	size_t i, changed = 0;

	json_obj_begin(out);
	json_kv_str(out, "decision", queue_strreview(d->op));
	json_key(out, "messages");
	json_arr_begin(out);
	for (i = 0; i < d->n; i++) {
		json_obj_begin(out);
		json_kv_str(out, "id", d->ids[i]);
		json_kv_str(out, "result", status_text(d->status[i]));
		json_obj_end(out);
		changed += d->status[i] == 0;
	}
	json_arr_end(out);
	if (d->learn) {
		json_kv_bool(out, "learned", d->learned && d->declined == 0);
		if (d->declined > 0)
			json_kv_int(out, "declined", (int64_t)d->declined);
		if (!d->learned || d->declined > 0)
			json_kv_str(out, "learn_note", d->learned ? "the balance guard declined "
			    "(that class would swamp the other)" : d->learn_why);
	}
	if (d->similar) {
		json_key(out, "similar_held");
		json_arr_begin(out);
		for (i = 0; i < d->nsimilar; i++)
			if (d->similar_status == NULL || d->similar_status[i] == 0)
				json_str(out, d->similar_ids[i]);
		json_arr_end(out);
	}
	if (d->notify)
		json_kv_uint(out, "senders_notified", d->nnotified);
	if (d->op == QUEUE_REVIEW_RELEASE)
		json_kv_uint(out, "dkim_resigned", d->nresigned);
	json_obj_end(out);
	(void)changed;
}

static void complaint_check(struct control_req *req, const char *id);

static void
decide_done(void *arg, const struct outcome *o)
{
	struct decide *d = arg;
	struct control_req *req = d->req;
	size_t i, bad = 0;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		control_finish(req, control_error(req, CONTROL_FAIL, "%s failed: %s",
		    queue_strreview(d->op), o->text));
		decide_free(d);
		return;
	}
	if (d->stage == 0 && d->nsimilar > 0) {
		/* the second effect, with its own record */
		d->stage = 1;
		d->similar_status = xcalloc(d->nsimilar, sizeof(int));
		snprintf(req->target, sizeof(req->target), "similar to %s: %zu held", d->ids[0],
		    d->nsimilar);
		if (queue_review(req->queue, (const char *const *)d->similar_ids, d->nsimilar,
		    QUEUE_REVIEW_HOLD, "similar", control_audit_txn(req, 1), d->similar_status,
		    decide_done, d) == 0)
			return;
		free(d->similar_status);
		d->similar_status = NULL;
		d->nsimilar = 0;
	}
	for (i = 0; i < d->n; i++)
		bad += d->status[i] != 0;
	if (d->op == QUEUE_REVIEW_FLAG && bad == 0)
		complaint_check(req, d->ids[0]);
	for (i = 0; d->notices != NULL && i < d->n; i++)
		if (d->notices[i] != NULL && d->status[i] == 0) {
			/* the notice frees itself once committed */
			if (queue_commit(req->queue, &d->notices[i]->in, notice_committed,
			    d->notices[i]) == 0)
				d->nnotified++;
			else
				notice_free(d->notices[i]);
			d->notices[i] = NULL;
		}
	decide_result(d);
	if (bad > 0)
		control_error(req, CONTROL_FAIL, "%zu of %zu messages: %s", bad, d->n,
		    status_text(d->status[0] != 0 ? d->status[0] : -EALREADY));
	log_info("event=review decision=%s messages=%zu changed=%zu similar=%zu role=%s",
	    queue_strreview(d->op), d->n, d->n - bad, d->nsimilar, control_strrole(req->role));
	control_finish(req, bad > 0 ? CONTROL_FAIL : CONTROL_OK);
	decide_free(d);
}

static void
complaint_stored(void *arg, const struct outcome *o)
{
	struct account_status_change *c = arg;

	if (o->kind != OUTCOME_OK)
		log_warn("account=%s event=account_status_failed reason=\"%s\"", c->name, o->text);
	else if (c->moved)
		log_warn("account=%s event=account_status status=%s reason=complaint_rate "
		    "messages=%llu complaint_permille=%u", c->name,
		    account_strstatus((enum account_status)c->status),
		    (unsigned long long)c->rates.messages, c->rates.complaint_pm);
	free(c);
}

/*
 * A flag is a complaint (issue 16): with at least review_trigger_min_messages
 * messages of the account in the summary window, a flagged share at
 * review_complaint_review per mille puts it under review, at
 * review_complaint_pause pauses it; never lower, never over a suspension.
 * The status change and its account_status event commit together.
 */
static void
complaint_check(struct control_req *req, const char *id)
{
	struct summary s;
	struct queue_msg *m = NULL;
	struct account *a;
	struct abuse_rates rates;
	struct abuse_thresholds g, t;
	const struct config *cfg = req->cfg;
	enum account_status want = ACCOUNT_ACTIVE;
	struct account_status_change *c;
	uint64_t now = now_wall_ms();

	if (cfg == NULL || queue_get(req->queue, id, &m) != 0)
		return;
	memset(&s, 0, sizeof(s));
	s.account = m->account ? m->account : "";
	s.q = req->queue;
	s.since = now > SUMMARY_WINDOW ? now - SUMMARY_WINDOW : 0;
	(void)queue_foreach(req->queue, summary_one, &s);
	memset(&rates, 0, sizeof(rates));
	rates.messages = s.messages;
	rates.complaints = s.flagged;
	rates.complaint_pm = s.messages ? (unsigned)(s.flagged * 1000 / s.messages) : 0;
	if ((a = account_load(req->queue, m->account)) == NULL) {
		queue_msg_free(m);
		return;
	}
	g.window = cfg->review_trigger_window;
	g.min_messages = cfg->review_trigger_min_messages;
	g.bounce_review = cfg->review_bounce_review;
	g.bounce_pause = cfg->review_bounce_pause;
	g.complaint_review = cfg->review_complaint_review;
	g.complaint_pause = cfg->review_complaint_pause;
	abuse_thresholds_for(&g, &a->pol, &t);
	/* bounces are the delivery engine's trigger (rates.bounce_pm stays 0) */
	want = (enum account_status)abuse_status_for(&rates, &t);
	if (want == ACCOUNT_ACTIVE) {
		account_free(a);
		queue_msg_free(m);
		return;
	}
	queue_msg_free(m);
	if (account_status_of(a) >= want) {
		account_free(a);
		return;
	}
	/* moved by the writer on the record as it is then (account_status_update) */
	c = account_status_change_new(a->name, ACCOUNT_CHANGE_RAISE, want, "complaint_rate", &rates);
	/* logged by complaint_stored when the writer made the move */
	if (queue_kv_update(req->queue, QUEUE_T_ACCOUNTS, a->name, account_status_update, c,
	    &c->moved, complaint_stored, c) != 0) {
		log_warn("account=%s event=account_status_failed reason=\"cannot queue\"", a->name);
		free(c);
	}
	account_free(a);
}

/* --similar: pending mail of any account whose fingerprint is near one of FPS. */
struct similar_ctx {
	struct decide *d;
	struct queue *q;
	const uint64_t *fps;
	size_t nfps;
	const struct mime_limits *lim;
};

static int
similar_one(void *arg, const struct queue_msg *m)
{
	struct similar_ctx *c = arg;
	struct buf body;
	uint64_t fp;
	size_t i;

	if (m->state != QUEUE_QUEUED && m->state != QUEUE_DEFERRED)
		return 0;
	for (i = 0; i < c->d->n; i++)
		if (strcmp(c->d->ids[i], m->id) == 0)
			return 0;
	if (c->d->nsimilar >= REVIEW_MAX_IDS)
		return 1;
	buf_init(&body, 0);
	if (queue_read_body(c->q, m->id, &body) == 0) {
		fp = review_fingerprint(body.data ? body.data : "", body.len, c->lim);
		for (i = 0; fp != 0 && i < c->nfps; i++)
			if (c->fps[i] != 0 &&
			    review_fingerprint_distance(fp, c->fps[i]) <= REVIEW_SIMILAR_BITS) {
				c->d->similar_ids = xrealloc(c->d->similar_ids,
				    (c->d->nsimilar + 1) * sizeof(char *));
				c->d->similar_ids[c->d->nsimilar++] = xstrdup(m->id);
				break;
			}
	}
	body_wipe(&body);
	return 0;
}

static int
cmd_review_decide(struct control_req *req, enum queue_review_op op)
{
	struct decide *d = xcalloc(1, sizeof(*d));
	uint64_t *fps = NULL;
	struct mime_limits lim;
	size_t i;
	int rc, remember;

	d->req = req;
	d->op = op;
	args_reason(req);
	if ((rc = args_ids(req, &d->ids, &d->n)) != CONTROL_OK) {
		decide_free(d);
		return rc;
	}
	if (req->queue == NULL || req->loop == NULL) {
		decide_free(d);
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	}
	/* Mail held by a data-subject restriction (Art. 18) is not the
	 * reviewers' to release: the restriction is lifted by an operator. */
	for (i = 0; op == QUEUE_REVIEW_RELEASE && req->role < CONTROL_ROLE_OPERATOR && i < d->n;
	    i++) {
		struct queue_msg *m = NULL;
		struct json_value *rec;
		struct verdict_sum vs;
		int restricted;

		if (queue_get(req->queue, d->ids[i], &m) != 0)
			continue;
		rec = review_record(req->queue, d->ids[i]);
		verdicts_sum(m->verdicts, &vs);
		restricted = strcmp(review_reason(rec, &vs), "restricted") == 0;
		verdicts_free(&vs);
		json_free(rec);
		queue_msg_free(m);
		if (restricted) {
			rc = control_error(req, CONTROL_FAIL, "%s is held by a data-subject "
			    "restriction: only an operator may release it", d->ids[i]);
			decide_free(d);
			return rc;
		}
	}
	d->status = xcalloc(d->n, sizeof(int));
	/* a flag always trains spam; release and reject when asked */
	d->learn = json_get_bool(req->args, "learn", 0) || op == QUEUE_REVIEW_FLAG;
	d->similar = op == QUEUE_REVIEW_REJECT && json_get_bool(req->args, "similar", 0);
	d->notify = op == QUEUE_REVIEW_REJECT && json_get_bool(req->args, "notify_sender", 0);
	lim.max_depth = req->cfg ? (unsigned)req->cfg->mime_max_depth : 10;
	lim.max_parts = req->cfg ? (unsigned)req->cfg->mime_max_parts : 500;
	lim.max_decoded = req->cfg ? req->cfg->mime_max_decoded_size : 100u << 20;
	/* Content is needed before a reject shreds it: learning, fingerprints
	 * (a rejected or flagged message's is always remembered, issue 15). */
	remember = op != QUEUE_REVIEW_RELEASE && req->spam != NULL;
	if (d->learn || d->similar || remember) {
		struct review_classifier classifier = { "fingerprint", NULL, NULL };

		if (req->spam != NULL) {
			classifier.name = "spam";
			classifier.learn = review_spam_learn;
			classifier.arg = (void *)req->spam;
		}
		fps = xcalloc(d->n, sizeof(*fps));
		d->learn_why = classifier.learn == NULL ?
		    "posternd has no spam model (spam_scoring = no, or it could not open)" : NULL;
		d->learned = classifier.learn != NULL;
		for (i = 0; i < d->n; i++) {
			struct buf body;

			buf_init(&body, 0);
			if (queue_read_body(req->queue, d->ids[i], &body) != 0) {
				buf_free(&body);
				continue;
			}
			if (d->similar)
				fps[i] = review_fingerprint(body.data ? body.data : "", body.len, &lim);
			if (remember)
				(void)spam_reject_fingerprint(req->spam, body.data ? body.data : "",
				    body.len);
			if (d->learn && classifier.learn != NULL) {
				int lr = classifier.learn(classifier.arg, body.data ? body.data : "",
				    body.len, op != QUEUE_REVIEW_RELEASE);

				if (lr < 0) {
					d->learned = 0;
					d->learn_why = "the classifier failed";
				} else if (lr > 0) {
					d->declined++;
				}
			}
			body_wipe(&body);
		}
	}
	if (d->similar) {
		struct similar_ctx sc = { d, req->queue, fps, d->n, &lim };

		(void)queue_foreach(req->queue, similar_one, &sc);
	}
	free(fps);
	if (d->notify) {
		d->notices = xcalloc(d->n, sizeof(*d->notices));
		for (i = 0; i < d->n; i++)
			d->notices[i] = notice_build(req, d->ids[i]);
	}
	for (i = 0; op == QUEUE_REVIEW_RELEASE && i < d->n; i++)
		if (release_resign(req, d, i) != 0) {
			/* never deliver with a signature known to have expired */
			decide_free(d);
			return control_error(req, CONTROL_FAIL, "cannot re-sign %s (DKIM): not "
			    "released", req->target);
		}
	if (d->bodies != NULL)
		rc = queue_review_release_bodies(req->queue, d->ids, d->n, d->bodies,
		    control_audit_txn(req, 0), d->status, decide_done, d);
	else
		rc = queue_review(req->queue, d->ids, d->n, op, NULL, control_audit_txn(req, 0),
		    d->status, decide_done, d);
	if (rc != 0) {
		decide_free(d);
		return control_error(req, CONTROL_FAIL, "cannot %s: %s",
		    op == QUEUE_REVIEW_RELEASE ? "release" : op == QUEUE_REVIEW_REJECT ? "reject" :
		    "flag", strerror(-rc));
	}
	return CONTROL_ASYNC;
}

static int
cmd_review_release(struct control_req *req, struct json_out *out)
{
	(void)out;
	return cmd_review_decide(req, QUEUE_REVIEW_RELEASE);
}

static int
cmd_review_reject(struct control_req *req, struct json_out *out)
{
	(void)out;
	return cmd_review_decide(req, QUEUE_REVIEW_REJECT);
}

static int
cmd_review_flag(struct control_req *req, struct json_out *out)
{
	(void)out;
	if (json_get(req->args, "ids") != NULL)
		return control_error(req, CONTROL_USAGE, "review flag takes one message id");
	return cmd_review_decide(req, QUEUE_REVIEW_FLAG);
}

/* ---- accounts: review.account, review.suspend, review.resume ---- */

struct decisions_ctx {
	struct json_out *out;
	const char *account;
	struct queue *q;
	size_t n;
};

static int
decision_one(void *arg, const char *key, const char *val, size_t len)
{
	struct decisions_ctx *c = arg;
	struct json_value *v = json_parse(val, len, NULL, 0);

	if (v != NULL && strcmp(json_get_str(v, "account", ""), c->account) == 0 &&
	    (json_get_str(v, "decision", NULL) != NULL || json_get_bool(v, "flagged", 0))) {
		if (c->n++ < REVIEW_RECENT) {
			json_obj_begin(c->out);
			json_kv_str(c->out, "id", key);
			json_kv_str(c->out, "reason", json_get_str(v, "reason", "manual"));
			json_kv_str(c->out, "decision", json_get_str(v, "decision", "none"));
			json_kv_int(c->out, "decided", json_get_int(v, "decided", 0));
			json_kv_bool(c->out, "flagged", json_get_bool(v, "flagged", 0));
			json_obj_end(c->out);
		}
	}
	json_free(v);
	return 0;
}

struct transitions_ctx {
	struct json_out *out;
	const char *account;
};

static int
transition_one(void *arg, uint64_t when, const char *text, size_t len)
{
	struct transitions_ctx *c = arg;
	struct json_value *v;

	(void)when;
	if (len < 20 || memmem(text, len, "\"account_status\"", 16) == NULL)
		return 0;
	if ((v = json_parse(text, len, NULL, 0)) != NULL &&
	    strcmp(json_get_str(v, "account", ""), c->account) == 0)
		json_raw(c->out, text, len);
	json_free(v);
	return 0;
}

static int
cmd_review_account(struct control_req *req, struct json_out *out)
{
	const char *name = json_get_str(req->args, "name", NULL);
	struct decisions_ctx dc;
	struct transitions_ctx tc;
	struct account *a;

	if (name == NULL || !account_name_valid(name))
		return control_error(req, CONTROL_USAGE, "invalid account name");
	str_copy(req->target, name, sizeof(req->target));
	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	if ((a = account_load(req->queue, name)) == NULL)
		return control_error(req, CONTROL_FAIL, "no such account: %s", name);
	json_obj_begin(out);
	json_kv_str(out, "name", a->name);
	json_kv_str(out, "status", account_strstatus(account_status_of(a)));
	json_key(out, "limits");
	json_obj_begin(out);
	json_kv_uint(out, "max_message_size", a->pol.max_message_size);
	json_kv_int(out, "max_recipients", a->pol.max_recipients);
	json_kv_int(out, "hourly_rate", a->pol.hourly_rate);
	json_obj_end(out);
	summary_json(out, req->queue, name);
	json_key(out, "recent_decisions");
	json_arr_begin(out);
	memset(&dc, 0, sizeof(dc));
	dc.out = out;
	dc.account = name;
	dc.q = req->queue;
	(void)queue_kv_foreach(req->queue, QUEUE_T_REVIEW, "", decision_one, &dc);
	json_arr_end(out);
	json_key(out, "transitions");
	json_arr_begin(out);
	tc.out = out;
	tc.account = name;
	(void)queue_log_foreach(req->queue, QUEUE_LOG_EVENTS, 0, transition_one, &tc);
	json_arr_end(out);
	json_obj_end(out);
	account_free(a);
	return CONTROL_OK;
}

struct acct_op {
	struct control_req *req;
	char name[ACCOUNT_NAME_MAX + 1];
	int suspend;
	size_t changed;		/* messages held or released (queue_review_account_update) */
	struct account_status_change *change;	/* applied by the writer */
};

static void
acct_op_done(void *arg, const struct outcome *o)
{
	struct acct_op *op = arg;
	struct control_req *req = op->req;
	struct json_out *out = control_out(req);

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		control_finish(req, control_error(req, CONTROL_FAIL, "cannot %s the account: %s",
		    op->suspend ? "suspend" : "resume", o->text));
		free(op->change);
		free(op);
		return;
	}
	json_obj_begin(out);
	json_kv_str(out, "name", op->name);
	json_kv_str(out, "status", op->suspend ? "suspended" : "active");
	json_kv_uint(out, op->suspend ? "held" : "released", op->changed);
	json_kv_bool(out, "changed", op->change->moved);
	json_obj_end(out);
	/* the move, when the writer made one (not when it found it made) */
	if (op->change->moved)
		log_info("event=account_status account=%s status=%s by=review", op->name,
		    account_strstatus(op->suspend ? ACCOUNT_SUSPENDED : ACCOUNT_ACTIVE));
	log_info("event=review account=%s change=%s messages=%zu role=%s", op->name,
	    op->suspend ? "suspend" : "resume", op->changed, control_strrole(req->role));
	control_finish(req, CONTROL_OK);
	free(op->change);
	free(op);
}

static int
cmd_review_account_status(struct control_req *req, int suspend)
{
	const char *name = json_get_str(req->args, "name", NULL);
	struct account *a;
	struct acct_op *op;
	int rc;

	args_reason(req);
	if (name == NULL || !account_name_valid(name))
		return control_error(req, CONTROL_USAGE, "invalid account name");
	str_copy(req->target, name, sizeof(req->target));
	if (suspend && req->reason[0] == '\0')
		return control_error(req, CONTROL_USAGE, "review suspend needs --reason TEXT");
	if (req->queue == NULL || req->loop == NULL)
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	if ((a = account_load(req->queue, name)) == NULL)
		return control_error(req, CONTROL_FAIL, "no such account: %s", name);
	if (!suspend && account_status_of(a) == ACCOUNT_ACTIVE) {
		account_free(a);
		return control_error(req, CONTROL_FAIL, "account %s is active", name);
	}
	account_free(a);
	op = xcalloc(1, sizeof(*op));
	op->req = req;
	op->suspend = suspend;
	str_copy(op->name, name, sizeof(op->name));
	/* the customer sees the class, not the reviewer's words; the move is
	 * made by the writer on the record as it is then (a concurrent change
	 * by a trigger or another command is kept, not overwritten) */
	op->change = account_status_change_new(name, ACCOUNT_CHANGE_SET,
	    suspend ? ACCOUNT_SUSPENDED : ACCOUNT_ACTIVE, suspend ? "review" : "resumed", NULL);
	op->change->must_exist = 1;	/* deleted since account_load(): say so */
	/* the status, its event, the account's mail and the record: one transaction */
	log_info("event=account_status_requested account=%s status=%s by=review", name,
	    account_strstatus(suspend ? ACCOUNT_SUSPENDED : ACCOUNT_ACTIVE));
	rc = queue_review_account_update(req->queue, name, account_status_update, op->change,
	    suspend, &op->change->moved, control_audit_txn(req, 0), &op->changed, acct_op_done, op);
	if (rc != 0) {
		free(op->change);
		free(op);
		return control_error(req, CONTROL_FAIL, "cannot store the account: %s", strerror(-rc));
	}
	return CONTROL_ASYNC;
}

static int
cmd_review_suspend(struct control_req *req, struct json_out *out)
{
	(void)out;
	return cmd_review_account_status(req, 1);
}

static int
cmd_review_resume(struct control_req *req, struct json_out *out)
{
	(void)out;
	return cmd_review_account_status(req, 0);
}

/* ---- hold expiry ---- */

struct review_expiry {
	uv_timer_t timer;
	const struct config *const *cfg;
	struct queue *q;
	int busy;		/* an expiry op is in flight */
	char **ids;
	size_t n;
	int *status;
	uint64_t interval;
};

struct expiry_scan {
	struct review_expiry *e;
	uint64_t now, expiry;
	char account[ACCOUNT_NAME_MAX + 1];	/* the last account looked up */
	uint64_t acct_expiry;			/* its held_retention, or expiry */
};

/* The hold expiry of ACCOUNT's mail: its held_retention (issue 17) or
 * review_hold_expiry; one lookup per run of messages of one account. */
static uint64_t
expiry_of(struct expiry_scan *s, const char *account)
{
	struct account *a;
	char *text = NULL;
	size_t len = 0;

	if (strcmp(account, s->account) == 0)
		return s->acct_expiry;
	str_copy(s->account, account, sizeof(s->account));
	s->acct_expiry = s->expiry;
	if (*account != '\0' && queue_kv_get(s->e->q, QUEUE_T_ACCOUNTS, account, &text, &len) == 0 &&
	    (a = account_parse(text, len)) != NULL) {
		if (a->pol.held_retention != ACCOUNT_UNSET)
			s->acct_expiry = (uint64_t)a->pol.held_retention;
		account_free(a);
	}
	free(text);
	return s->acct_expiry;
}

static int
expiry_one(void *arg, const struct queue_msg *m)
{
	struct expiry_scan *s = arg;
	struct json_value *rec;
	uint64_t since;

	if (m->state != QUEUE_HELD || s->e->n >= REVIEW_MAX_IDS)
		return s->e->n >= REVIEW_MAX_IDS;
	rec = review_record(s->e->q, m->id);
	since = held_since(rec, m);
	json_free(rec);
	if (s->now > since && s->now - since >= expiry_of(s, m->account)) {
		s->e->ids = xrealloc(s->e->ids, (s->e->n + 1) * sizeof(char *));
		s->e->ids[s->e->n++] = xstrdup(m->id);
	}
	return 0;
}

static void
expiry_clear(struct review_expiry *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->ids[i]);
	free(e->ids);
	free(e->status);
	e->ids = NULL;
	e->status = NULL;
	e->n = 0;
}

static void
expiry_done(void *arg, const struct outcome *o)
{
	struct review_expiry *e = arg;
	size_t i, n = 0;

	for (i = 0; i < e->n; i++)
		n += e->status[i] == 0;
	if (o->kind == OUTCOME_OK)
		log_info("event=review_expired messages=%zu", n);
	else
		log_warn("event=review_expiry_failed reason=\"%s\"", o->text);
	expiry_clear(e);
	e->busy = 0;
	if (e->q == NULL)	/* stopped while the op ran */
		uv_close((uv_handle_t *)&e->timer, (uv_close_cb)free);
}

static void
expiry_tick(uv_timer_t *t)
{
	struct review_expiry *e = t->data;
	struct expiry_scan s;
	struct json_out j;
	struct buf b;

	if (e->busy || e->q == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.e = e;
	s.now = now_wall_ms();
	s.expiry = (*e->cfg)->review_hold_expiry;
	s.acct_expiry = s.expiry;
	(void)queue_foreach(e->q, expiry_one, &s);
	if (e->n == 0)
		return;
	/* The system's audit record: who is "system", what the rule was. */
	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_kv_uint(&j, "time", s.now);
	json_kv_uint(&j, "uid", 0);
	json_kv_str(&j, "user", "system");
	json_kv_str(&j, "role", "system");
	json_kv_str(&j, "cmd", "review.expire");
	json_kv_str(&j, "target", "held longer than review_hold_expiry");
	json_kv_uint(&j, "review_hold_expiry", s.expiry);
	json_obj_end(&j);
	e->status = xcalloc(e->n, sizeof(int));
	e->busy = 1;
	if (queue_review(e->q, (const char *const *)e->ids, e->n, QUEUE_REVIEW_EXPIRE, NULL,
	    &(struct queue_audit){ b.data, 1 }, e->status, expiry_done, e) != 0) {
		expiry_clear(e);
		e->busy = 0;
	}
	buf_free(&b);
}

struct review_expiry *
review_expiry_start(uv_loop_t *loop, const struct config *const *cfg, struct queue *q)
{
	struct review_expiry *e = xcalloc(1, sizeof(*e));
	uint64_t iv = (*cfg)->review_hold_expiry / 10;

	if (iv < 1000)
		iv = 1000;
	if (iv > 60000)
		iv = 60000;
	e->cfg = cfg;
	e->q = q;
	e->interval = iv;
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	uv_timer_start(&e->timer, expiry_tick, iv, iv);
	uv_unref((uv_handle_t *)&e->timer);
	return e;
}

void
review_expiry_stop(struct review_expiry *e)
{
	if (e == NULL)
		return;
	uv_timer_stop(&e->timer);
	e->q = NULL;
	if (!e->busy)
		uv_close((uv_handle_t *)&e->timer, (uv_close_cb)free);
}

/* ---- the table ---- */

static const struct control_cmd review_cmds[] = {
	/* mutating = audited: every review command leaves a record */
	{ "review.list", CONTROL_ROLE_REVIEWER, 1, cmd_review_list },
	{ "review.show", CONTROL_ROLE_REVIEWER, 1, cmd_review_show },
	{ "review.release", CONTROL_ROLE_REVIEWER, 1, cmd_review_release },
	{ "review.reject", CONTROL_ROLE_REVIEWER, 1, cmd_review_reject },
	{ "review.flag", CONTROL_ROLE_REVIEWER, 1, cmd_review_flag },
	{ "review.account", CONTROL_ROLE_REVIEWER, 1, cmd_review_account },
	{ "review.suspend", CONTROL_ROLE_REVIEWER, 1, cmd_review_suspend },
	{ "review.resume", CONTROL_ROLE_REVIEWER, 1, cmd_review_resume },
};

void
cmd_review_register(void)
{
	control_register(review_cmds, ARRAY_SIZE(review_cmds));
}
