/* SPDX-License-Identifier: ISC */
/*
 * bounce.h: delivery status notifications (RFC 3464) for the delivery
 * engine: one multipart/report (RFC 6522) per message and destination
 * with a human part, a message/delivery-status part (Reporting-MTA,
 * Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code) and the
 * original headers (text/rfc822-headers), or the whole original message
 * (message/rfc822) when the sender asked for RET=FULL.  A DSN is sent
 * from the null sender <> and is itself never bounced; nothing is ever
 * sent to <>.
 */
#ifndef POSTERN_BOUNCE_H
#define POSTERN_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "queue.h"

enum bounce_action {
	BOUNCE_FAILED,		/* permanent failure or expiry */
	BOUNCE_DELAYED,		/* delay warning */
	BOUNCE_DELIVERED,	/* NOTIFY=SUCCESS, delivered */
	BOUNCE_RELAYED,		/* NOTIFY=SUCCESS, handed to a server without DSN */
};

struct bounce_rcpt {
	const char *addr;
	const char *orcpt;		/* "rfc822;xtext" or NULL */
	enum bounce_action action;
	char status[16];		/* "5.1.1" */
	const char *remote_mta;		/* host name or NULL */
	const char *diagnostic;		/* "550 5.1.1 no such user" or NULL */
};

/*
 * Whether a recipient with DSN NOTIFY bits NOTIFY (QUEUE_NOTIFY_*, 0 =
 * not given: FAILURE,DELAY per RFC 3461 §4.1) wants a report for ACTION.
 */
int bounce_wanted(unsigned notify, enum bounce_action action);

/*
 * Build the DSN for message M (its id, sender, envid, ret_full,
 * created) about RCPTS into OUT.  BODY is the original message (may be
 * NULL: the report then says the content is not available).  HOSTNAME
 * names the Reporting-MTA.  NOW is wall ms (tests pass a fixed time).
 */
void bounce_build(const struct queue_msg *m, const struct bounce_rcpt *rcpts, size_t n,
    const char *body, size_t bodylen, const char *hostname, uint64_t now,
    struct buf *out);

/*
 * `queue bounce` (issue 19): the DSN for the recipients of message ID
 * that the operator bounced at or after SINCE (wall ms; relay
 * "operator"), to its sender, committed to Q like any message (from <>,
 * never to <>).  Returns how many recipients it reports (0: none
 * wanted one, or the sender is <>; CB is then not called), or a
 * negative errno; when > 0, CB (may be NULL) runs once the DSN is
 * committed.
 */
int bounce_operator(struct queue *q, const char *id, uint64_t since, const char *hostname,
    queue_done_cb cb, void *arg);

#endif
