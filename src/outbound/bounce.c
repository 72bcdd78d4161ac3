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
 * bounce_operator() builds and commits the DSN for recipients returned
 * by `posternctl queue bounce` (the control plane calls it).
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

/* ---- queue bounce: the DSN for what the operator returned ---- */

struct op_commit {
	struct buf data;
	char *addr, *account;
	struct queue_rcpt_in rin;
	struct queue_msg_in in;
	queue_done_cb cb;
	void *arg;
};

static void
op_committed(void *arg, const struct outcome *o, const char *msgid)
{
	struct op_commit *oc = arg;

	if (o->kind == OUTCOME_OK)
		log_info("qid=%s event=dsn_queued reason=operator", msgid ? msgid : "-");
	else
		log_warn("qid=- event=dsn_failed reason=\"%s\"", o->enhanced);
	if (oc->cb != NULL)
		oc->cb(oc->arg, o);
	buf_free(&oc->data);
	free(oc->addr);
	free(oc->account);
	free(oc);
}

int
bounce_operator(struct queue *q, const char *id, uint64_t since, const char *hostname,
    queue_done_cb cb, void *arg)
{
	struct queue_msg *m = NULL;
	struct bounce_rcpt *br;
	struct op_commit *oc;
	struct buf body;
	size_t i, nb = 0;
	int rc, have_body;

	if ((rc = queue_get(q, id, &m)) != 0)
		return rc;
	if (m->sender == NULL || m->sender[0] == '\0') {
		queue_msg_free(m);
		return 0;
	}
	br = xcalloc(m->nrcpts + 1, sizeof(*br));
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];

		if (r->state != QUEUE_BOUNCED || r->relay == NULL ||
		    strcmp(r->relay, "operator") != 0 || r->last_attempt < since ||
		    !bounce_wanted(r->notify, BOUNCE_FAILED))
			continue;
		br[nb].addr = r->addr;
		br[nb].orcpt = r->orcpt;
		br[nb].action = BOUNCE_FAILED;
		str_copy(br[nb].status, "5.0.0", sizeof(br[nb].status));
		br[nb].diagnostic = r->last_reply;
		nb++;
	}
	if (nb == 0) {
		free(br);
		queue_msg_free(m);
		return 0;
	}
	buf_init(&body, 0);
	have_body = queue_read_body(q, id, &body) == 0;
	oc = xcalloc(1, sizeof(*oc));
	buf_init(&oc->data, 0);
	bounce_build(m, br, nb, have_body ? body.data : NULL, have_body ? body.len : 0,
	    hostname, now_wall_ms(), &oc->data);
	buf_free(&body);
	oc->addr = xstrdup(m->sender);
	oc->account = xstrdup(m->account ? m->account : "");
	oc->rin.addr = oc->addr;
	oc->rin.notify = QUEUE_NOTIFY_NEVER;
	oc->in.account = oc->account;
	oc->in.sender = "";
	oc->in.rcpts = &oc->rin;
	oc->in.nrcpts = 1;
	oc->in.data = oc->data.data;
	oc->in.len = oc->data.len;
	oc->in.state = QUEUE_QUEUED;
	oc->in.smtputf8 = m->smtputf8;
	oc->in.client = "dsn";
	oc->cb = cb;
	oc->arg = arg;
	rc = queue_commit(q, &oc->in, op_committed, oc);
	free(br);
	queue_msg_free(m);
	if (rc != 0) {
		buf_free(&oc->data);
		free(oc->addr);
		free(oc->account);
		free(oc);
		return rc;
	}
	log_info("qid=%s event=dsn recipients=%zu action=failed reason=operator", id, nb);
	return (int)nb;
}
