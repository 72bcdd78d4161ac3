/* SPDX-License-Identifier: ISC */
/*
 * bounce.c: delivery status notifications, built by the delivery
 * engine when a recipient bounces, expires, or (NOTIFY=SUCCESS) is
 * delivered or relayed to a server without DSN support.
 *
 * Format: RFC 6522 multipart/report; report-type=delivery-status with
 * three parts: a short human explanation, the RFC 3464
 * message/delivery-status (per-message fields, then one block per
 * recipient), and the returned content: the original header section as
 * text/rfc822-headers by default (RET=HDRS or not given) or the whole
 * message as message/rfc822 for RET=FULL (RFC 3461 §4.3).  The DSN
 * comes from the null sender and carries Auto-Submitted: auto-replied
 * (RFC 3834) so that nothing answers it automatically; it is committed
 * to the queue like any message and delivered by the same engine.
 * Nothing is ever sent to <> (RFC 5321 §4.5.5, RFC 3464 §2).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "log.h"
#include "util.h"

int
bounce_wanted(unsigned notify, enum bounce_action action)
{
	if (notify & QUEUE_NOTIFY_NEVER)
		return 0;
	if (notify == 0)	/* RFC 3461 §4.1: default FAILURE,DELAY */
		return action == BOUNCE_FAILED || action == BOUNCE_DELAYED;
	switch (action) {
	case BOUNCE_FAILED: return (notify & QUEUE_NOTIFY_FAILURE) != 0;
	case BOUNCE_DELAYED: return (notify & QUEUE_NOTIFY_DELAY) != 0;
	case BOUNCE_DELIVERED:
	case BOUNCE_RELAYED: return (notify & QUEUE_NOTIFY_SUCCESS) != 0;
	}
	return 0;
}

static const char *
action_name(enum bounce_action a)
{
	switch (a) {
	case BOUNCE_FAILED: return "failed";
	case BOUNCE_DELAYED: return "delayed";
	case BOUNCE_DELIVERED: return "delivered";
	case BOUNCE_RELAYED: return "relayed";
	}
	return "failed";
}

/* Append S with CR, LF and other controls replaced: header-safe text. */
static void
append_clean(struct buf *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		buf_append(out, (c < 0x20 || c == 0x7f) ? " " : s, 1);
	}
}

/* Length of the header section of BODY, including the blank line's CRLF if present. */
static size_t
header_len(const char *body, size_t len)
{
	size_t i;

	if (len >= 2 && body[0] == '\r' && body[1] == '\n')
		return 0;
	for (i = 0; i + 3 < len; i++)
		if (body[i] == '\r' && body[i + 1] == '\n' && body[i + 2] == '\r' &&
		    body[i + 3] == '\n')
			return i + 2;
	return len;
}

void
bounce_build(const struct queue_msg *m, const struct bounce_rcpt *rcpts, size_t n,
    const char *body, size_t bodylen, const char *hostname, uint64_t now, struct buf *out)
{
	char date[64], arrival[64], boundary[96];
	int failed = 0, delayed = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		failed |= rcpts[i].action == BOUNCE_FAILED;
		delayed |= rcpts[i].action == BOUNCE_DELAYED;
	}
	rfc5322_date(date, sizeof(date), (time_t)(now / 1000));
	rfc5322_date(arrival, sizeof(arrival), (time_t)(m->created / 1000));
	snprintf(boundary, sizeof(boundary), "%s/%llu/%s", m->id,
	    (unsigned long long)now, hostname);

	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", hostname);
	buf_append_str(out, "To: <");
	append_clean(out, m->sender);
	buf_append_str(out, ">\r\n");
	buf_printf(out, "Subject: %s\r\n", failed ? "Undelivered Mail Returned to Sender" :
	    delayed ? "Delayed Mail (still being retried)" : "Successful Mail Delivery Report");
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%s.%llu.dsn@%s>\r\n", m->id, (unsigned long long)now, hostname);
	buf_append_str(out, "Auto-Submitted: auto-replied\r\n");
	buf_append_str(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", boundary);
	buf_append_str(out, "This is a MIME-encapsulated message.\r\n\r\n");

	/* 1: for people */
	buf_printf(out, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", hostname);
	if (failed)
		buf_append_str(out, "Your message could not be delivered to one or more\r\n"
		    "recipients. It is attached below.\r\n\r\n");
	else if (delayed)
		buf_append_str(out, "Your message could not be delivered yet to one or more\r\n"
		    "recipients. Delivery will be retried; you need not resend it.\r\n\r\n");
	else
		buf_append_str(out, "Your message was delivered or handed on as requested.\r\n\r\n");
	for (i = 0; i < n; i++) {
		buf_append_str(out, "<");
		append_clean(out, rcpts[i].addr);
		buf_printf(out, ">: %s", action_name(rcpts[i].action));
		if (rcpts[i].diagnostic) {
			buf_append_str(out, ": ");
			if (rcpts[i].remote_mta) {
				buf_append_str(out, "host ");
				append_clean(out, rcpts[i].remote_mta);
				buf_append_str(out, " said: ");
			}
			append_clean(out, rcpts[i].diagnostic);
		}
		buf_append_str(out, "\r\n");
	}
	buf_append_str(out, "\r\n");

	/* 2: RFC 3464 §2.2 per-message, §2.3 per-recipient fields */
	buf_printf(out, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", hostname);
	buf_printf(out, "X-Postern-Queue-ID: %s\r\n", m->id);
	if (m->envid && *m->envid) {
		buf_append_str(out, "Original-Envelope-Id: ");
		append_clean(out, m->envid);
		buf_append_str(out, "\r\n");
	}
	buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (i = 0; i < n; i++) {
		const struct bounce_rcpt *r = &rcpts[i];

		buf_append_str(out, "\r\n");
		if (r->orcpt && strchr(r->orcpt, ';')) {
			buf_append_str(out, "Original-Recipient: ");
			append_clean(out, r->orcpt);
			buf_append_str(out, "\r\n");
		}
		buf_append_str(out, "Final-Recipient: rfc822; ");
		append_clean(out, r->addr);
		buf_printf(out, "\r\nAction: %s\r\n", action_name(r->action));
		buf_append_str(out, "Status: ");
		append_clean(out, r->status);
		buf_append_str(out, "\r\n");
		if (r->remote_mta) {
			buf_append_str(out, "Remote-MTA: dns; ");
			append_clean(out, r->remote_mta);
			buf_append_str(out, "\r\n");
		}
		if (r->diagnostic) {
			buf_append_str(out, "Diagnostic-Code: smtp; ");
			append_clean(out, r->diagnostic);
			buf_append_str(out, "\r\n");
		}
		buf_printf(out, "Last-Attempt-Date: %s\r\n", date);
		if (r->action == BOUNCE_DELAYED)
			buf_printf(out, "Will-Retry-Until: see queue lifetime\r\n");
	}
	buf_append_str(out, "\r\n");

	/* 3: the returned content */
	if (body == NULL) {
		buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
		    "The original message is no longer available.\r\n\r\n", boundary);
	} else if (m->ret_full) {
		buf_printf(out, "--%s\r\nContent-Description: Undelivered Message\r\n"
		    "Content-Type: message/rfc822\r\n\r\n", boundary);
		buf_append(out, body, bodylen);
		if (bodylen < 2 || body[bodylen - 2] != '\r' || body[bodylen - 1] != '\n')
			buf_append_str(out, "\r\n");
		buf_append_str(out, "\r\n");
	} else {
		size_t hl = header_len(body, bodylen);

		buf_printf(out, "--%s\r\nContent-Description: Undelivered Message Headers\r\n"
		    "Content-Type: text/rfc822-headers\r\n\r\n", boundary);
		buf_append(out, body, hl);
		if (hl < 2 || body[hl - 2] != '\r' || body[hl - 1] != '\n')
			buf_append_str(out, "\r\n");
		buf_append_str(out, "\r\n");
	}
	buf_printf(out, "--%s--\r\n", boundary);
}
