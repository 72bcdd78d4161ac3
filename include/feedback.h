/* SPDX-License-Identifier: ISC */
/*
 * feedback.h: what recipients and their mailbox providers send back
 * (src/inbound/feedback.c), turned into suppressions:
 *
 *  - the feedback listener (feedback_listen; the relay's
 *    RELAY_MODE_FEEDBACK, no AUTH): RCPT only for feedback_domain;
 *    b+TOKEN@ receives DSNs (RFC 3464: a failed recipient with a code
 *    of suppression_bounce_codes is a hard bounce), u+TOKEN@ any mail
 *    (RFC 2369 mailto: unsubscribe), any other address of the domain
 *    ARF reports (RFC 5965: a complaint, matched by the b+ or u+ token
 *    found in the returned original message, else by the queue id of
 *    our Received: field and Original-Rcpt-To or the only recipient);
 *  - the one-click endpoint (http_listen, RFC 8058): POST /u/TOKEN with
 *    List-Unsubscribe=One-Click records an unsubscribe, GET /u/TOKEN
 *    shows a page with a button that POSTs (a GET never unsubscribes:
 *    link scanners follow links).
 *
 * A token resolves through the queue to the message's account and the
 * recipient's address (hashed at once); forged tokens fail their MAC,
 * tokens of messages no longer held resolve to nothing, and a replayed
 * token finds the entry already there: answered, nothing added.
 */
#ifndef POSTERN_FEEDBACK_H
#define POSTERN_FEEDBACK_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "outcome.h"
#include "queue.h"
#include "suppress.h"
#include "token.h"

/* Largest message and most recipients the feedback listener takes. */
#define FEEDBACK_MAX_SIZE (2u << 20)
#define FEEDBACK_MAX_RCPTS 10

/* The reply to RCPT RCPT on the feedback listener (R_RCPT_OK or a
 * refusal): any address of feedback_domain (token-shaped ones must
 * check), or a valid b+/u+ token at the return_path_domain of the
 * account whose message it names (Q is read for that). */
enum reply_id feedback_rcpt(struct queue *q, const struct config *cfg, const char *rcpt);
/*
 * A message received for RCPTS: the suppressions it adds.  0 when
 * nothing is to be written (DONE is not called), or 1: DONE(ARG, O)
 * runs on the loop once every addition is durable (O ok, or the write
 * failure), so the client's 250 means "recorded".
 */
int feedback_message(struct queue *q, const struct config *cfg, const char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len, queue_done_cb done, void *arg);
/* TOK of KIND -> REASON for the recipient it names: 1 submitted (CB,
 * when not NULL, runs once it is durable), 0 already there (replay),
 * -1 forged or unknown. */
int feedback_token(struct queue *q, enum token_kind kind, const char *tok, size_t len,
    enum suppress_reason reason, const char *source, uint64_t expiry, queue_done_cb cb,
    void *arg);

/* The one-click HTTP endpoint(s) on cfg->http_listen, and the sweep of
 * expired suppressions every purge_interval. */
struct feedback_http;
struct feedback_http *feedback_http_start(uv_loop_t *loop, const struct config *cfg,
    struct queue *q, char *err, size_t errlen);
void feedback_http_stop(struct feedback_http *f);

#endif
