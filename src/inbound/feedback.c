/* SPDX-License-Identifier: ISC */
/*
 * feedback.c: the feedback composition root (include/feedback.h):
 * tokens -> queue (which message, which recipient) -> suppression store;
 * for ARF reports without tokens, our queue id in the quoted Received:
 * or the original's Message-ID through the queue's keyed Message-ID
 * index (QUEUE_T_MSGIDS).
 * The relay calls feedback_rcpt() and feedback_message() for sessions
 * of the feedback listener; the daemon's "feedback" module starts the
 * one-click HTTP endpoint (src/net/http.c) here.  Everything runs on
 * the loop thread; a token is checked (one HMAC) before anything is
 * read, so forged tokens cost nothing but the check.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account.h"
#include "addr.h"
#include "crypto.h"
#include "feedback.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "util.h"

/* LOCAL (the local part) as "b+TOKEN" / "u+TOKEN": the kind, or 0. */
static int
local_token(const char *local, size_t n, const char **tok)
{
	if (n == 2 + TOKEN_LEN && local[1] == '+' && (local[0] == 'b' || local[0] == 'B' ||
	    local[0] == 'u' || local[0] == 'U')) {
		*tok = local + 2;
		return local[0] == 'b' || local[0] == 'B' ? TOKEN_BOUNCE : TOKEN_UNSUBSCRIBE;
	}
	return 0;
}

/* Split RCPT at its last '@': the local part's length, or -1. */
static int
rcpt_split(const char *rcpt, const char **domain)
{
	const char *at = strrchr(rcpt, '@');

	if (at == NULL || at == rcpt)
		return -1;
	*domain = at + 1;
	return (int)(at - rcpt);
}

/*
 * Is DOMAIN the return_path_domain of the account that sent message
 * MSGID?  VERP return paths (and the mailto: of List-Unsubscribe) use
 * the account's return_path_domain when it has one, whose MX points at
 * this listener: such a token address is ours at that domain, and only
 * for that account's messages.
 */
static int
account_return_path(struct queue *q, const char *msgid, const char *domain)
{
	struct queue_msg *m = NULL;
	struct account *a = NULL;
	char *text = NULL;
	size_t len = 0;
	int yes = 0;

	if (q == NULL || queue_get(q, msgid, &m) != 0)
		return 0;
	if (m->account != NULL && m->account[0] != '\0' &&
	    queue_kv_get(q, QUEUE_T_ACCOUNTS, m->account, &text, &len) == 0 &&
	    (a = account_parse(text, len)) != NULL)
		yes = a->pol.return_path_domain[0] != '\0' &&
		    strcasecmp(a->pol.return_path_domain, domain) == 0;
	account_free(a);
	if (text != NULL)
		crypto_wipe(text, len);
	free(text);
	queue_msg_free(m);
	return yes;
}

enum reply_id
feedback_rcpt(struct queue *q, const struct config *cfg, const char *rcpt)
{
	const char *domain, *tok;
	char msgid[21];
	uint32_t no;
	int n, kind;

	if (cfg->feedback_domain[0] == '\0' || (n = rcpt_split(rcpt, &domain)) < 0)
		return R_FEEDBACK_NOT_LOCAL;
	if (strcasecmp(domain, cfg->feedback_domain) != 0) {
		/* another domain: only a valid token of a message whose
		 * account's return_path_domain it is */
		kind = local_token(rcpt, (size_t)n, &tok);
		if (kind == 0 || token_check((enum token_kind)kind, tok, TOKEN_LEN, msgid, &no) != 0 ||
		    !account_return_path(q, msgid, domain))
			return R_FEEDBACK_NOT_LOCAL;
		return R_RCPT_OK;
	}
	if (n > 2 && rcpt[1] == '+' && strchr("bBuU", rcpt[0]) != NULL) {
		/* looks like a token address: it must be one */
		kind = local_token(rcpt, (size_t)n, &tok);
		if (kind == 0 || token_check((enum token_kind)kind, tok, TOKEN_LEN, msgid, &no) != 0)
			return R_FEEDBACK_BAD_TOKEN;
	}
	return R_RCPT_OK;
}

/* The scope a message's suppressions go to: its account, else global. */
static const char *
msg_scope(const struct queue_msg *m)
{
	return m->account && suppress_scope_valid(m->account) ? m->account : SUPPRESS_GLOBAL;
}

/*
 * Suppress recipient I of M: by its address, or, once the envelope is
 * gone (body_retention, erasure), by the keyed hash the queue keeps:
 * a complaint that arrives after the body was shredded still counts.
 */
static int
suppress_rcpt(struct queue *q, const struct queue_msg *m, size_t i,
    enum suppress_reason reason, const char *source, uint64_t expiry, queue_done_cb cb,
    void *arg)
{
	const struct queue_rcpt *rc = &m->rcpts[i];
	static const char hexd[] = "0123456789abcdef";
	char hex[ADDR_HASH_HEX];
	size_t k;

	if (rc->addr != NULL && rc->addr[0] != '\0')
		return suppress_add_auto(q, msg_scope(m), rc->addr, strlen(rc->addr), reason,
		    source, expiry, m->id, cb, arg);
	if (!rc->has_hash)
		return -1;
	for (k = 0; k < sizeof(rc->addr_hash); k++) {
		hex[2 * k] = hexd[rc->addr_hash[k] >> 4];
		hex[2 * k + 1] = hexd[rc->addr_hash[k] & 15];
	}
	hex[2 * k] = '\0';
	return suppress_add_auto_hash(q, msg_scope(m), hex, NULL, reason, source, expiry, m->id,
	    cb, arg);
}

int
feedback_token(struct queue *q, enum token_kind kind, const char *tok, size_t len,
    enum suppress_reason reason, const char *source, uint64_t expiry, queue_done_cb cb,
    void *arg)
{
	struct queue_msg *m = NULL;
	char msgid[21];
	uint32_t no;
	size_t i;
	int rc = -1;

	if (q == NULL || token_check(kind, tok, len, msgid, &no) != 0)
		return -1;
	if (queue_get(q, msgid, &m) != 0)
		return -1;	/* valid, but the message is no longer held */
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].no == no)
			break;
	if (i < m->nrcpts)
		rc = suppress_rcpt(q, m, i, reason, source, expiry, cb, arg);
	queue_msg_free(m);
	return rc;
}

/*
 * An ARF report without tokens: the queue id our Received: field
 * carries, and the recipient named by Original-Rcpt-To, else the
 * message's only recipient.  1 submitted, 0 already there, -1 none.
 */
/* The recipient of M a report names: Original-Rcpt-To (compared by
 * keyed hash, so also once the envelope is gone), else the message's
 * only recipient.  Its index, or -1. */
static long
report_rcpt(const struct queue_msg *m, const struct report *rep)
{
	unsigned char want[ADDR_HASH_LEN];
	size_t i;

	if (rep->orig_rcpt[0] == '\0')
		return m->nrcpts == 1 ? 0 : -1;
	if (addr_index_hash(rep->orig_rcpt, strlen(rep->orig_rcpt), want) != 0)
		return -1;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].has_hash && crypto_equal(want, m->rcpts[i].addr_hash, sizeof(want)))
			return (long)i;
	return -1;
}

static int
feedback_qid(struct queue *q, const struct report *rep, queue_done_cb cb, void *arg)
{
	struct queue_msg *m = NULL;
	const char *src = rep->feedback_type[0] ? rep->feedback_type : "abuse";
	long hit;
	int rc = -1;

	if (q == NULL || queue_get(q, rep->qid, &m) != 0)
		return -1;
	if ((hit = report_rcpt(m, rep)) >= 0)
		rc = suppress_rcpt(q, m, (size_t)hit, SUPPRESS_COMPLAINT, src, 0, cb, arg);
	queue_msg_free(m);
	return rc;
}

/* The messages the Message-ID index names for one hash (bounded: a
 * client that resubmits one message makes a few). */
#define MSGID_MATCH_MAX 16

struct msgid_scan {
	char ids[MSGID_MATCH_MAX][QUEUE_ID_LEN + 1];
	size_t n;
	int more;
};

static int
msgid_one(void *arg, const char *key, const char *val, size_t len)
{
	struct msgid_scan *s = arg;
	size_t kl = strlen(key);

	(void)val;
	(void)len;
	if (s->n == MSGID_MATCH_MAX) {
		s->more = 1;
		return 1;
	}
	if (kl != 64 + 1 + QUEUE_ID_LEN)
		return 0;
	memcpy(s->ids[s->n], key + 65, QUEUE_ID_LEN);
	s->ids[s->n++][QUEUE_ID_LEN] = '\0';
	return 0;
}

/*
 * An ARF report that quotes the original (or its header) without tokens
 * or our queue id: the original's Message-ID, hashed as at commit
 * (token_msgid_hash_hex()), names the messages postern sent with it
 * (QUEUE_T_MSGIDS); the recipient is picked in each as for the queue id.
 * Every match must name the same account and recipient (a resubmitted
 * message), else the report is ambiguous and adds nothing: a Message-ID
 * is the sender's choice, and one account's must not suppress for
 * another.  1 submitted, 0 already there, -1 none or ambiguous.
 */
static int
feedback_msgid(struct queue *q, const struct report *rep, queue_done_cb cb, void *arg)
{
	const char *src = rep->feedback_type[0] ? rep->feedback_type : "abuse";
	struct msgid_scan *s;
	struct queue_msg *first = NULL;
	char hex[TOKEN_MSGID_HEX], prefix[TOKEN_MSGID_HEX + 1];
	long hit = -1;
	size_t i;
	int rc = -1, ambiguous = 0;

	if (q == NULL || token_msgid_hash_hex(rep->orig_message_id, strlen(rep->orig_message_id),
	    hex) != 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "%s/", hex);
	s = xcalloc(1, sizeof(*s));
	if (queue_kv_foreach(q, QUEUE_T_MSGIDS, prefix, msgid_one, s) != 0 || s->more)
		ambiguous = s->more;
	for (i = 0; i < s->n && !ambiguous; i++) {
		struct queue_msg *m = NULL;
		long h;

		if (queue_get(q, s->ids[i], &m) != 0)
			continue;
		if ((h = report_rcpt(m, rep)) < 0 || !m->rcpts[h].has_hash) {
			queue_msg_free(m);
			continue;
		}
		if (first == NULL) {
			first = m;
			hit = h;
			continue;
		}
		if (strcmp(msg_scope(first), msg_scope(m)) != 0 ||
		    !crypto_equal(first->rcpts[hit].addr_hash, m->rcpts[h].addr_hash,
		    sizeof(m->rcpts[h].addr_hash)))
			ambiguous = 1;
		queue_msg_free(m);
	}
	if (first != NULL && !ambiguous)
		rc = suppress_rcpt(q, first, (size_t)hit, SUPPRESS_COMPLAINT, src, 0, cb, arg);
	else if (ambiguous)
		log_info("event=feedback_ambiguous match=message-id messages=%zu", s->n);
	queue_msg_free(first);
	free(s);
	return rc;
}

static int
is_bounce_code(const struct config *cfg, const char *status)
{
	size_t i;

	for (i = 0; i < cfg->suppression_bounce_codes.n; i++)
		if (strcmp(cfg->suppression_bounce_codes.items[i], status) == 0)
			return 1;
	return 0;
}

/*
 * Is this ARF report a complaint?  RFC 5965 §7.3's types abuse, fraud,
 * virus and other are; not-spam (the recipient says it is wanted) and
 * auth-failure (RFC 6591: a DMARC/DKIM/SPF failure report about the
 * message, not the recipient's wish) are not, nor are types we do not
 * know.  A report without Feedback-Type counts as abuse.
 */
static int
arf_is_complaint(const struct report *rep)
{
	static const char *const yes[] = { "", "abuse", "fraud", "virus", "other" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcmp(rep->feedback_type, yes[i]) == 0)
			return 1;
	return 0;
}

/* Does block F of a DSN name recipient RC (by keyed hash)? */
static int
block_names(const struct report_failed *f, const struct queue_rcpt *rc)
{
	unsigned char h[ADDR_HASH_LEN];

	return rc->has_hash &&
	    ((f->final_rcpt[0] && addr_index_hash(f->final_rcpt, strlen(f->final_rcpt), h) == 0 &&
	    crypto_equal(h, rc->addr_hash, sizeof(h))) ||
	    (f->orig_rcpt[0] && addr_index_hash(f->orig_rcpt, strlen(f->orig_rcpt), h) == 0 &&
	    crypto_equal(h, rc->addr_hash, sizeof(h))));
}

/*
 * A DSN to the VERP address b+TOKEN@: the token names the message and
 * recipient; of the DSN's failed per-recipient blocks (RFC 3464 §2.3)
 * the one whose Final-Recipient or Original-Recipient is that recipient
 * decides, else the only failed block (a receiver that rewrote the
 * address).  Several failed blocks, none of them ours (an expanded
 * alias), say nothing about our recipient.  Only a code in
 * suppression_bounce_codes adds it.  1 submitted, 0 already there, -1
 * nothing.
 */
static int
feedback_dsn(struct queue *q, const struct config *cfg, const char *tok,
    const struct report *rep, queue_done_cb cb, void *arg)
{
	struct queue_msg *m = NULL;
	const struct report_failed *f = NULL;
	char msgid[21];
	uint32_t no;
	size_t i, k;
	int rc = -1;

	if (q == NULL || rep->nfail == 0 || token_check(TOKEN_BOUNCE, tok, TOKEN_LEN, msgid, &no) != 0 ||
	    queue_get(q, msgid, &m) != 0)
		return -1;
	for (i = 0; i < m->nrcpts && m->rcpts[i].no != no; i++)
		;
	if (i < m->nrcpts) {
		for (k = 0; k < rep->nfail && f == NULL; k++)
			if (block_names(&rep->fail[k], &m->rcpts[i]))
				f = &rep->fail[k];
		if (f == NULL && rep->nfail == 1)
			f = &rep->fail[0];
		if (f != NULL && is_bounce_code(cfg, f->status))
			rc = suppress_rcpt(q, m, i, SUPPRESS_HARD_BOUNCE, f->status,
			    cfg->suppression_hard_bounce_expiry, cb, arg);
	}
	queue_msg_free(m);
	return rc;
}

/* The writes of one feedback message still in flight. */
struct fb_job {
	int pending;
	struct outcome o;		/* the first failure, or ok */
	queue_done_cb done;
	void *arg;
};

static void
fb_written(void *arg, const struct outcome *o)
{
	struct fb_job *j = arg;

	if (o->kind != OUTCOME_OK && j->o.kind == OUTCOME_OK)
		j->o = *o;
	if (--j->pending > 0)
		return;
	j->done(j->arg, &j->o);
	free(j);
}

int
feedback_message(struct queue *q, const struct config *cfg, const char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len, queue_done_cb done, void *arg)
{
	struct fb_job *j = xcalloc(1, sizeof(*j));
	struct report rep;
	size_t i;
	int added = 0, rc;

	outcome_ok(&j->o);
	j->done = done;
	j->arg = arg;
	j->pending = 1;		/* held until every write is submitted */
	report_parse(msg, len, &rep);
	for (i = 0; i < nrcpts; i++) {
		const char *domain, *tok;
		int n = rcpt_split(rcpts[i], &domain), kind;

		if (n < 0)
			continue;
		kind = local_token(rcpts[i], (size_t)n, &tok);
		rc = 0;
		j->pending++;	/* for the write this recipient may start */
		if (kind == TOKEN_UNSUBSCRIBE) {
			/* RFC 2369 mailto: any message to the address unsubscribes */
			rc = feedback_token(q, TOKEN_UNSUBSCRIBE, tok, TOKEN_LEN, SUPPRESS_UNSUBSCRIBE,
			    "mailto", 0, fb_written, j);
		} else if (kind == TOKEN_BOUNCE) {
			/* a DSN to the VERP return path: only a hard bounce counts */
			if (rep.type == REPORT_DSN && rep.failed)
				rc = feedback_dsn(q, cfg, tok, &rep, fb_written, j);
			else if (rep.type == REPORT_ARF && arf_is_complaint(&rep))
				rc = feedback_token(q, TOKEN_BOUNCE, tok, TOKEN_LEN, SUPPRESS_COMPLAINT,
				    rep.feedback_type[0] ? rep.feedback_type : "abuse", 0, fb_written, j);
		} else if (rep.type == REPORT_ARF && arf_is_complaint(&rep)) {
			/* a feedback loop's report: the original's tokens say who */
			const char *src = rep.feedback_type[0] ? rep.feedback_type : "abuse";

			if (rep.btoken[0])
				rc = feedback_token(q, TOKEN_BOUNCE, rep.btoken, TOKEN_LEN,
				    SUPPRESS_COMPLAINT, src, 0, fb_written, j);
			if (rc <= 0 && rep.utoken[0])
				rc = feedback_token(q, TOKEN_UNSUBSCRIBE, rep.utoken, TOKEN_LEN,
				    SUPPRESS_COMPLAINT, src, 0, fb_written, j);
			if (!rep.btoken[0] && !rep.utoken[0]) {
				rc = rep.qid[0] ? feedback_qid(q, &rep, fb_written, j) : -1;
				/* no token, no queue id of ours that names a
				 * recipient: the original's Message-ID (RFC 5965
				 * §2 (d)) */
				if (rc < 0 && rep.orig_message_id[0])
					rc = feedback_msgid(q, &rep, fb_written, j);
			}
		}
		if (rc > 0)
			added++;
		else
			j->pending--;	/* nothing was submitted */
	}
	log_info("event=feedback type=%s status=%s feedback_type=%s added=%d",
	    rep.type == REPORT_DSN ? "dsn" : rep.type == REPORT_ARF ? "arf" : "mail",
	    rep.status[0] ? rep.status : "-", rep.feedback_type[0] ? rep.feedback_type : "-", added);
	if (--j->pending == 0) {
		free(j);
		return 0;
	}
	return 1;
}

/* ---- the one-click endpoint (RFC 8058) ---- */

struct feedback_http {
	uv_timer_t sweep;		/* expired entries out, every purge_interval */
	struct queue *q;		/* borrowed */
	struct http_server **srv;
	size_t nsrv;
	struct http_route routes[2];	/* borrowed by the servers until they stop */
};

/* The token of a /u/TOKEN path, or NULL. */
static const char *
path_token(const char *path)
{
	const char *t = path + 3;	/* after "/u/" */

	return strlen(t) == TOKEN_LEN ? t : NULL;
}

#define UNSUB_DONE_TEXT \
	"You are unsubscribed: no more mail from this sender will reach this address.\n"

/* The unsubscribe is durable (or failed): answer the suspended request. */
static void
http_unsub_written(void *arg, const struct outcome *o)
{
	struct http_deferred *d = arg;
	struct http_response *resp = http_deferred_response(d);

	if (o->kind == OUTCOME_OK)
		http_response_text(resp, 200, "text/plain; charset=utf-8", UNSUB_DONE_TEXT);
	else {
		http_response_text(resp, 503, NULL, "Temporary failure, try again later\n");
		http_response_header(resp, "Retry-After", "60");
	}
	http_deferred_finish(d);
}

/* Does REQ's body say List-Unsubscribe=One-Click (RFC 8058 §3.1)? */
static int
one_click_body(const struct http_request *req)
{
	char v[32];
	size_t n;
	int rc = http_form_value(req, "List-Unsubscribe", v, sizeof(v));

	if (rc == 0)
		return strcmp(v, "One-Click") == 0;
	if (rc == -ENOENT || req->body == NULL)
		return 0;
	/* not a form (no Content-Type, text/plain): the pair itself */
	for (n = req->body_len; n > 0 && (req->body[n - 1] == '\r' || req->body[n - 1] == '\n');)
		n--;
	return n == 26 && memcmp(req->body, "List-Unsubscribe=One-Click", 26) == 0;
}

static void
http_unsub_post(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct feedback_http *f = arg;
	const char *tok = path_token(req->path);
	struct http_deferred *d;
	int rc;

	/* RFC 8058 §3.1: the POST body is the key/value pair
	 * List-Unsubscribe=One-Click, as a form (urlencoded, or
	 * multipart/form-data as in the example of §8), or bare */
	if (!one_click_body(req)) {
		http_response_text(resp, 400, NULL, "Expected List-Unsubscribe=One-Click\n");
		return;
	}
	if (tok == NULL) {
		http_response_text(resp, 404, NULL, "Unknown unsubscribe link\n");
		return;
	}
	/* 200 only once the unsubscribe is durable: the request waits */
	d = http_response_defer(resp);
	rc = feedback_token(f->q, TOKEN_UNSUBSCRIBE, tok, TOKEN_LEN, SUPPRESS_UNSUBSCRIBE,
	    "one-click", 0, http_unsub_written, d);
	log_info("event=unsubscribe result=%s client=%s",
	    rc > 0 ? "added" : rc == 0 ? "already" : "unknown_token", req->peer);
	if (rc > 0)
		return;
	if (rc == 0)
		http_response_text(http_deferred_response(d), 200, "text/plain; charset=utf-8",
		    UNSUB_DONE_TEXT);
	else
		http_response_text(http_deferred_response(d), 404, NULL, "Unknown unsubscribe link\n");
	http_deferred_finish(d);
}

static void
http_unsub_get(const struct http_request *req, struct http_response *resp, void *arg)
{
	const char *tok = path_token(req->path);
	char msgid[21];
	uint32_t no;

	(void)arg;
	if (tok == NULL || token_check(TOKEN_UNSUBSCRIBE, tok, TOKEN_LEN, msgid, &no) != 0) {
		http_response_text(resp, 404, NULL, "Unknown unsubscribe link\n");
		return;
	}
	/* A confirmation page: GET never unsubscribes (scanners follow links). */
	http_response_text(resp, 200, "text/html; charset=utf-8",
	    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Unsubscribe</title>"
	    "</head>\n<body><h1>Unsubscribe</h1>\n<p>Stop all mail from this sender to your "
	    "address?</p>\n<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
	    "value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>\n"
	    "</body></html>\n");
	http_response_header(resp, "Content-Security-Policy", "default-src 'none'; form-action 'self'");
}

#define SWEEP_MAX 10000

/* Hard-bounce entries past their expiry leave the table. */
static void
feedback_sweep(uv_timer_t *t)
{
	struct feedback_http *f = t->data;

	(void)suppress_sweep(f->q, now_wall_ms(), SWEEP_MAX);
}

static void
feedback_closed(uv_handle_t *h)
{
	free(h->data);
}

struct feedback_http *
feedback_http_start(uv_loop_t *loop, const struct config *cfg, struct queue *q, char *err,
    size_t errlen)
{
	struct feedback_http *f = xcalloc(1, sizeof(*f));
	size_t i;

	f->q = q;
	uv_timer_init(loop, &f->sweep);
	f->sweep.data = f;
	if (q != NULL)
		uv_timer_start(&f->sweep, feedback_sweep, cfg->purge_interval, cfg->purge_interval);
	f->routes[0] = (struct http_route){ "POST", "/u/", 1, http_unsub_post, f };
	f->routes[1] = (struct http_route){ "GET", "/u/", 1, http_unsub_get, f };
	if (cfg->http_listen.n == 0)
		return f;
	f->srv = xcalloc(cfg->http_listen.n, sizeof(*f->srv));
	for (i = 0; i < cfg->http_listen.n; i++) {
		if (http_server_start(loop, cfg->http_listen.items[i], f->routes, 2, NULL, &f->srv[i],
		    err, errlen) != 0) {
			feedback_http_stop(f);
			return NULL;
		}
		f->nsrv++;
	}
	return f;
}

void
feedback_http_stop(struct feedback_http *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->nsrv; i++)
		http_server_stop(f->srv[i]);
	free(f->srv);
	f->srv = NULL;
	f->nsrv = 0;
	uv_close((uv_handle_t *)&f->sweep, feedback_closed);	/* frees F */
}
