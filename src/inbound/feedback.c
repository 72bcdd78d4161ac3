/* SPDX-License-Identifier: ISC */
/*
 * feedback.c: the feedback composition root (include/feedback.h):
 * tokens -> queue (which message, which recipient) -> suppression store.
 * The relay calls feedback_rcpt() and feedback_message() for sessions
 * of the feedback listener; the daemon's "feedback" module starts the
 * one-click HTTP endpoint (src/net/http.c) here.  Everything runs on
 * the loop thread; a token is checked (one HMAC) before anything is
 * read, so forged tokens cost nothing but the check.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

enum reply_id
feedback_rcpt(const struct config *cfg, const char *rcpt)
{
	const char *domain, *tok;
	char msgid[21];
	uint32_t no;
	int n, kind;

	if (cfg->feedback_domain[0] == '\0' || (n = rcpt_split(rcpt, &domain)) < 0 ||
	    strcasecmp(domain, cfg->feedback_domain) != 0)
		return R_FEEDBACK_NOT_LOCAL;
	if (n > 2 && rcpt[1] == '+' && strchr("bBuU", rcpt[0]) != NULL) {
		/* looks like a token address: it must be one */
		kind = local_token(rcpt, (size_t)n, &tok);
		if (kind == 0 || token_check((enum token_kind)kind, tok, TOKEN_LEN, msgid, &no) != 0)
			return R_FEEDBACK_BAD_TOKEN;
	}
	return R_RCPT_OK;
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
		rc = suppress_add_auto(q, m->account && suppress_scope_valid(m->account) ?
		    m->account : SUPPRESS_GLOBAL, m->rcpts[i].addr, strlen(m->rcpts[i].addr), reason,
		    source, expiry, cb, arg);
	queue_msg_free(m);
	return rc;
}

/*
 * An ARF report without tokens: the queue id our Received: field
 * carries, and the recipient named by Original-Rcpt-To, else the
 * message's only recipient.  1 submitted, 0 already there, -1 none.
 */
static int
feedback_qid(struct queue *q, const struct report *rep, queue_done_cb cb, void *arg)
{
	struct queue_msg *m = NULL;
	unsigned char want[ADDR_HASH_LEN], have[ADDR_HASH_LEN];
	const char *src = rep->feedback_type[0] ? rep->feedback_type : "abuse";
	size_t i, hit = (size_t)-1;
	int rc = -1;

	if (q == NULL || queue_get(q, rep->qid, &m) != 0)
		return -1;
	if (rep->orig_rcpt[0] != '\0') {
		if (addr_index_hash(rep->orig_rcpt, strlen(rep->orig_rcpt), want) == 0)
			for (i = 0; i < m->nrcpts && hit == (size_t)-1; i++)
				if (addr_index_hash(m->rcpts[i].addr, strlen(m->rcpts[i].addr), have) == 0 &&
				    crypto_equal(want, have, sizeof(want)))
					hit = i;
	} else if (m->nrcpts == 1)
		hit = 0;
	if (hit != (size_t)-1)
		rc = suppress_add_auto(q, m->account && suppress_scope_valid(m->account) ?
		    m->account : SUPPRESS_GLOBAL, m->rcpts[hit].addr, strlen(m->rcpts[hit].addr),
		    SUPPRESS_COMPLAINT, src, 0, cb, arg);
	queue_msg_free(m);
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
			if (rep.type == REPORT_DSN && rep.failed && is_bounce_code(cfg, rep.status))
				rc = feedback_token(q, TOKEN_BOUNCE, tok, TOKEN_LEN,
				    SUPPRESS_HARD_BOUNCE, rep.status,
				    cfg->suppression_hard_bounce_expiry, fb_written, j);
			else if (rep.type == REPORT_ARF)
				rc = feedback_token(q, TOKEN_BOUNCE, tok, TOKEN_LEN, SUPPRESS_COMPLAINT,
				    rep.feedback_type[0] ? rep.feedback_type : "abuse", 0, fb_written, j);
		} else if (rep.type == REPORT_ARF) {
			/* a feedback loop's report: the original's tokens say who */
			const char *src = rep.feedback_type[0] ? rep.feedback_type : "abuse";

			if (rep.btoken[0])
				rc = feedback_token(q, TOKEN_BOUNCE, rep.btoken, TOKEN_LEN,
				    SUPPRESS_COMPLAINT, src, 0, fb_written, j);
			if (rc <= 0 && rep.utoken[0])
				rc = feedback_token(q, TOKEN_UNSUBSCRIBE, rep.utoken, TOKEN_LEN,
				    SUPPRESS_COMPLAINT, src, 0, fb_written, j);
			if (rc <= 0 && !rep.btoken[0] && !rep.utoken[0] && rep.qid[0])
				rc = feedback_qid(q, &rep, fb_written, j);
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

static void
http_unsub_post(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct feedback_http *f = arg;
	const char *tok = path_token(req->path);
	struct http_deferred *d;
	int rc;

	/* RFC 8058 §3.1: the POST body is List-Unsubscribe=One-Click */
	if (req->body == NULL || strstr(req->body, "List-Unsubscribe=One-Click") == NULL) {
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
