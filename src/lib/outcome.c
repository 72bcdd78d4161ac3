/* SPDX-License-Identifier: ISC */
/*
 * outcome.c: the shared result type and the reply catalogue.  Every
 * reply postern produces itself is one row of replies[] below: the SMTP
 * server's replies to clients, and the outcomes policy stages, the
 * queue and delivery report.  One meaning, one row, one text; a row's
 * text is fixed or holds one "%s" for a detail the caller supplies.
 * Replies received from remote servers are data and go through
 * outcome_set() (smtp/reply.c, delivery).  Texts are sanitised here (CR,
 * LF and control bytes become spaces) so an outcome can always be sent
 * as an SMTP reply line without further checks.  tests/unit/test_outcome
 * checks every row (kind, code class, enhanced code class, text);
 * tests/check-replies.sh keeps literal reply codes out of other files.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "outcome.h"

#define E(id, k, c, enh, txt) [id] = { OUTCOME_##k, c, enh, txt, #id }

static const struct reply_def replies[R__COUNT] = {
	E(R_SUCCESS, OK, 250, "2.0.0",
	    "Ok"),
	E(R_MAIL_OK, OK, 250, "2.1.0",
	    "Ok"),
	E(R_RCPT_OK, OK, 250, "2.1.5",
	    "Ok"),
	E(R_QUEUED_AS, OK, 250, "2.0.0",
	    "Ok: queued as %s"),
	E(R_CHUNK_RECEIVED, OK, 250, "2.0.0",
	    "Ok: %s octets received"),
	E(R_HELO_OK, OK, 250, "",
	    "%s"),
	E(R_GREETING, OK, 220, "",
	    "%s"),
	E(R_CLOSING, OK, 221, "2.0.0",
	    "Bye"),
	E(R_HELP, OK, 214, "2.0.0",
	    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH"),
	E(R_VRFY_CANNOT, OK, 252, "2.0.0",
	    "Cannot VRFY user, but will accept message and attempt delivery"),
	E(R_STARTTLS_READY, OK, 220, "2.0.0",
	    "Ready to start TLS"),
	E(R_AUTH_OK, OK, 235, "2.7.0",
	    "Authentication successful"),
	E(R_AUTH_CHALLENGE, OK, 334, "",
	    "%s"),
	E(R_DATA_GO_AHEAD, OK, 354, "",
	    "End data with <CR><LF>.<CR><LF>"),
	E(R_TOO_MANY_ERRORS, TEMPFAIL, 421, "4.7.0",
	    "%s Error: too many errors"),
	E(R_INPUT_OVERFLOW, TEMPFAIL, 421, "4.7.0",
	    "%s Error: too much pipelined input"),
	E(R_TIMEOUT, TEMPFAIL, 421, "4.4.2",
	    "Timeout exceeded, closing connection"),
	E(R_SHUTTING_DOWN, TEMPFAIL, 421, "4.3.2",
	    "Service shutting down"),
	E(R_ACCESS_DENIED, PERMFAIL, 554, "5.7.1",
	    "Access denied"),
	E(R_TOO_MANY_CONNECTIONS, TEMPFAIL, 421, "4.7.0",
	    "Too many connections, try again later"),
	E(R_TOO_MANY_CONNECTIONS_FROM_IP, TEMPFAIL, 421, "4.7.0",
	    "Too many connections from your address, try again later"),
	E(R_BAD_CHARACTER, PERMFAIL, 500, "5.5.2",
	    "Syntax error: invalid character in command"),
	E(R_UNKNOWN_COMMAND, PERMFAIL, 500, "5.5.2",
	    "Error: command not recognized"),
	E(R_LINE_TOO_LONG, PERMFAIL, 500, "5.5.6",
	    "Error: line too long"),
	E(R_BARE_LF_COMMAND, PERMFAIL, 500, "5.5.2",
	    "Syntax error: lines must end with CRLF"),
	E(R_SYNTAX_USAGE, PERMFAIL, 501, "5.5.4",
	    "Syntax: %s"),
	E(R_SYNTAX_ERROR_IN, PERMFAIL, 501, "5.5.4",
	    "Syntax error in %s"),
	E(R_BAD_SENDER_SYNTAX, PERMFAIL, 501, "5.1.7",
	    "Bad sender address syntax"),
	E(R_BAD_RCPT_SYNTAX, PERMFAIL, 501, "5.1.3",
	    "Bad recipient address syntax"),
	E(R_PARAMS_NEED_EHLO, PERMFAIL, 555, "5.5.4",
	    "%s parameters need EHLO"),
	E(R_UNSUPPORTED_PARAM, PERMFAIL, 555, "5.5.4",
	    "Unsupported %s parameter"),
	E(R_UNSUPPORTED_BODY, PERMFAIL, 555, "5.5.4",
	    "Unsupported BODY parameter value"),
	E(R_BAD_SEQUENCE, PERMFAIL, 503, "5.5.1",
	    "Error: bad sequence of commands"),
	E(R_BAD_SEQUENCE_NEED_HELO, PERMFAIL, 503, "5.5.1",
	    "Error: send HELO/EHLO first"),
	E(R_BAD_SEQUENCE_NEED_MAIL, PERMFAIL, 503, "5.5.1",
	    "Error: need MAIL command"),
	E(R_BAD_SEQUENCE_NESTED_MAIL, PERMFAIL, 503, "5.5.1",
	    "Error: nested MAIL command"),
	E(R_BAD_SEQUENCE_IN_TRANSACTION, PERMFAIL, 503, "5.5.1",
	    "Error: not allowed during a mail transaction"),
	E(R_BAD_SEQUENCE_IN_BDAT, PERMFAIL, 503, "5.5.1",
	    "Error: only BDAT, RSET, NOOP and QUIT during BDAT transfer"),
	E(R_NO_VALID_RECIPIENTS, PERMFAIL, 554, "5.5.1",
	    "Error: no valid recipients"),
	E(R_EXPN_DISABLED, PERMFAIL, 502, "5.5.1",
	    "EXPN not available"),
	E(R_STARTTLS_UNAVAILABLE, PERMFAIL, 502, "5.5.1",
	    "STARTTLS not available"),
	E(R_TLS_ALREADY_ACTIVE, PERMFAIL, 503, "5.5.1",
	    "Error: TLS already active"),
	E(R_AUTH_NOT_ENABLED, PERMFAIL, 503, "5.5.1",
	    "Error: authentication not enabled"),
	E(R_ALREADY_AUTHENTICATED, PERMFAIL, 503, "5.5.1",
	    "Error: already authenticated"),
	E(R_ENCRYPTION_REQUIRED, PERMFAIL, 538, "5.7.11",
	    "Encryption required for requested authentication mechanism"),
	E(R_AUTH_MECH_UNKNOWN, PERMFAIL, 504, "5.5.4",
	    "Unrecognized authentication type"),
	E(R_AUTH_CANCELLED, PERMFAIL, 501, "5.7.0",
	    "Authentication cancelled"),
	E(R_AUTH_BAD_BASE64, PERMFAIL, 501, "5.5.2",
	    "Cannot decode response"),
	E(R_AUTH_BAD_PLAIN, PERMFAIL, 501, "5.5.2",
	    "Invalid PLAIN response"),
	E(R_AUTH_BAD_USER, PERMFAIL, 501, "5.5.2",
	    "Invalid user name"),
	E(R_AUTH_BAD_PASSWORD, PERMFAIL, 501, "5.5.2",
	    "Invalid password"),
	E(R_AUTH_REQUIRED, PERMFAIL, 530, "5.7.0",
	    "Authentication required"),
	E(R_AUTH_INVALID, PERMFAIL, 535, "5.7.8",
	    "Authentication credentials invalid"),
	E(R_AUTH_TEMPFAIL, TEMPFAIL, 454, "4.7.0",
	    "Temporary authentication failure"),
	E(R_AUTH_LOCKED, TEMPFAIL, 454, "4.7.0",
	    "Too many authentication failures, try again later"),
	/* RFC 4954 §6: the credentials were right, the account may not send;
	 * nothing beyond the word (issue 16). */
	E(R_AUTH_SUSPENDED, PERMFAIL, 535, "5.7.8",
	    "Account suspended"),
	E(R_AUTH_BUSY, TEMPFAIL, 454, "4.7.0",
	    "Too many authentications in progress from your address, try again later"),
	E(R_MESSAGE_TOO_BIG, PERMFAIL, 552, "5.3.4",
	    "Message size exceeds fixed maximum message size"),
	E(R_ACCOUNT_MESSAGE_TOO_BIG, PERMFAIL, 552, "5.3.4",
	    "Message size exceeds the limit for this account"),
	E(R_TOO_MANY_RECIPIENTS, TEMPFAIL, 452, "4.5.3",
	    "Too many recipients"),
	E(R_BARE_LINE_ENDING, PERMFAIL, 554, "5.6.11",
	    "Bare CR or LF in message text: lines must end with CRLF"),
	E(R_TEXT_LINE_TOO_LONG, PERMFAIL, 500, "5.5.6",
	    "Message line longer than 1000 octets (RFC 5321 4.5.3.1.6)"),
	E(R_ACCOUNT_SUSPENDED, PERMFAIL, 550, "5.7.1",
	    "Account suspended"),
	E(R_ACCOUNT_PAUSED, TEMPFAIL, 451, "4.7.1",
	    "Account paused for review"),
	E(R_SENDER_NOT_ALLOWED, PERMFAIL, 550, "5.7.1",
	    "Sender address not allowed for this account"),
	E(R_FROM_NOT_ALLOWED, PERMFAIL, 550, "5.7.1",
	    "From: header domain not allowed for this account"),
	E(R_RATE_LIMITED, TEMPFAIL, 451, "4.7.1",
	    "Hourly message limit reached, try again later"),
	E(R_NUL_IN_MESSAGE, PERMFAIL, 554, "5.6.0",
	    "Message contains a NUL character, which mail text may not (RFC 5322 section 2.3)"),
	E(R_MIME_LIMITS, PERMFAIL, 554, "5.6.0",
	    "Message structure exceeds limits (%s)"),
	E(R_SENSITIVE_DATA, PERMFAIL, 550, "5.7.1",
	    "Message refused: sensitive data found (%s)"),
	E(R_SPAM_REJECTED, PERMFAIL, 550, "5.7.1",
	    "Message rejected as spam (ref %s)"),
	E(R_REVIEW_REJECTED, PERMFAIL, 550, "5.7.1",
	    "Message rejected after review"),
	E(R_DKIM_SIGN_FAILED, TEMPFAIL, 451, "4.7.0",
	    "DKIM signing failed, try again later"),
	E(R_SPF_TEMPERROR, TEMPFAIL, 451, "4.7.24",
	    "Temporary DNS error checking the SPF record of %s, try again later"),
	E(R_SPF_PERMERROR, PERMFAIL, 550, "5.7.24",
	    "Invalid SPF record (permerror): %s"),
	E(R_SPF_NONE, PERMFAIL, 550, "5.7.23",
	    "No SPF record: %s"),
	E(R_RCPT_SUPPRESSED, PERMFAIL, 550, "5.7.1",
	    "Recipient address is on the account's suppression list (%s)"),
	E(R_FEEDBACK_NOT_LOCAL, PERMFAIL, 550, "5.1.1",
	    "Feedback address unknown: only bounces, reports and unsubscribes for this domain"),
	E(R_FEEDBACK_BAD_TOKEN, PERMFAIL, 550, "5.1.1",
	    "Feedback address unknown: invalid token"),
	E(R_FEEDBACK_NO_SENDER, PERMFAIL, 503, "5.5.1",
	    "Feedback listener: send MAIL first"),
	E(R_FEEDBACK_ACCEPTED, OK, 250, "2.0.0",
	    "Ok: feedback processed"),
	E(R_SPF_FAIL, PERMFAIL, 550, "5.7.23",
	    "SPF does not authorise our relay: %s"),
	E(R_LOCAL_ERROR, TEMPFAIL, 451, "4.3.0",
	    "Local error in processing, try again later"),
	E(R_QUEUE_ERROR, TEMPFAIL, 451, "4.3.0",
	    "Queue error, try again later"),
	E(R_QUEUE_FAILED, TEMPFAIL, 451, "4.3.0",
	    "Queue operation failed: %s"),
	E(R_CHANGED_MEANWHILE, TEMPFAIL, 451, "4.3.0",
	    "The record changed while the command ran (an automatic status change or "
	    "another command came first); nothing was stored, run it again"),
	E(R_RECORD_GONE, PERMFAIL, 550, "5.0.0",
	    "The record was deleted while the command ran; nothing was stored"),
	E(R_STORAGE_FULL, TEMPFAIL, 452, "4.3.1",
	    "Insufficient system storage"),
	E(R_NO_SUCH_MESSAGE, PERMFAIL, 550, "5.1.0",
	    "No such message"),
	E(R_NOTHING_TO_RECORD, PERMFAIL, 550, "5.0.0",
	    "Nothing to record: the recipient is no longer in flight or pending"),
	E(R_NOTHING_TO_HOLD, PERMFAIL, 550, "5.0.0",
	    "Nothing to hold: no pending recipient"),
	E(R_NOT_HELD, PERMFAIL, 550, "5.0.0",
	    "Message is not held"),
	E(R_NOTHING_TO_REQUEUE, PERMFAIL, 550, "5.0.0",
	    "Nothing to requeue: no pending recipient"),
	E(R_NOTHING_TO_BOUNCE, PERMFAIL, 550, "5.0.0",
	    "Nothing to bounce: no pending recipient"),
	E(R_OPERATOR_BOUNCE, PERMFAIL, 550, "5.0.0",
	    "Returned to the sender by the operator of the relay"),
	E(R_RCPT_NO_DOMAIN, PERMFAIL, 553, "5.1.3",
	    "recipient address has no domain"),
	E(R_DOMAIN_NOT_FOUND, PERMFAIL, 550, "5.1.2",
	    "domain %s does not exist"),
	E(R_NULL_MX, PERMFAIL, 556, "5.1.10",
	    "domain %s does not accept mail (null MX)"),
	E(R_NO_MX_ADDRESS, PERMFAIL, 550, "5.4.4",
	    "no address for the mail servers of %s"),
	E(R_DNS_TEMPFAIL, TEMPFAIL, 451, "4.4.3",
	    "cannot resolve the mail servers of %s"),
	E(R_NO_SERVER_REACHABLE, TEMPFAIL, 451, "4.4.1",
	    "no mail server reachable"),
	E(R_CONNECT_FAILED, TEMPFAIL, 451, "4.4.1",
	    "connect to %s"),
	E(R_BAD_TRANSPORT_ADDRESS, TEMPFAIL, 451, "4.4.1",
	    "bad address %s"),
	E(R_SERVER_REFUSED, TEMPFAIL, 451, "4.4.1",
	    "%s"),
	E(R_CONNECTION_LOST, TEMPFAIL, 421, "4.4.2",
	    "connection lost%s"),
	E(R_CONNECTION_TIMEOUT, TEMPFAIL, 421, "4.4.2",
	    "timeout in state %s"),
	E(R_SESSION_ABANDONED, TEMPFAIL, 421, "4.4.2",
	    "session abandoned"),
	E(R_BODY_UNREADABLE, TEMPFAIL, 451, "4.3.0",
	    "message body cannot be read"),
	E(R_TLS_NOT_OFFERED, TEMPFAIL, 451, "4.7.4",
	    "TLS is required, but was not offered by the server"),
	E(R_TLS_HANDSHAKE_FAILED, TEMPFAIL, 451, "4.7.5",
	    "TLS handshake failed: %s"),
	E(R_TLS_NOT_VERIFIED, TEMPFAIL, 451, "4.7.5",
	    "server certificate not verified%s"),
	E(R_STARTTLS_INJECTION, TEMPFAIL, 451, "4.7.0",
	    "plaintext after the STARTTLS reply (injection attempt)"),
	E(R_UNEXPECTED_REPLY, TEMPFAIL, 451, "4.5.0",
	    "unexpected reply from the server"),
	E(R_BAD_REPLY, TEMPFAIL, 451, "4.5.0",
	    "bad reply from the server: %s"),
	E(R_SERVER_SIZE_LIMIT, PERMFAIL, 552, "5.3.4",
	    "message size %s"),
	E(R_NEEDS_SMTPUTF8, PERMFAIL, 553, "5.6.7",
	    "message needs SMTPUTF8, which the server does not support"),
	E(R_NO_RECIPIENTS, PERMFAIL, 554, "5.5.1",
	    "no recipients"),
	E(R_TEST_TEMPFAIL, TEMPFAIL, 451, "4.4.1",
	    "test tempfail"),
	E(R_TEST_PERMFAIL, PERMFAIL, 550, "5.1.1",
	    "test permfail"),
};

#undef E

static void
sanitise(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

void
outcome_set(struct outcome *o, enum outcome_kind kind, int code,
    const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	o->kind = kind;
	o->code = code;
	str_copy(o->enhanced, enhanced ? enhanced : "", sizeof(o->enhanced));
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
	sanitise(o->text);
}

const struct reply_def *
reply_def(enum reply_id r)
{
	if ((unsigned)r >= R__COUNT || replies[r].text == NULL)
		return NULL;
	return &replies[r];
}

/*
 * The text is substituted by hand, not through printf: a catalogue row
 * is data, and a detail is copied as it is (a "%" in a host name or a
 * remote reason stays literal).
 */
void
outcome_reply(struct outcome *o, enum reply_id r, ...)
{
	const struct reply_def *d = reply_def(r);
	const char *pct, *detail;
	size_t n, cap = sizeof(o->text);
	va_list ap;

	if (d == NULL)
		d = &replies[R_LOCAL_ERROR];	/* a broken invariant; still a valid reply */
	o->kind = d->kind;
	o->code = d->code;
	str_copy(o->enhanced, d->enhanced, sizeof(o->enhanced));
	pct = strstr(d->text, "%s");
	if (pct == NULL) {
		str_copy(o->text, d->text, cap);
		return;
	}
	va_start(ap, r);
	detail = va_arg(ap, const char *);
	va_end(ap);
	if (detail == NULL)
		detail = "";
	n = (size_t)(pct - d->text);
	snprintf(o->text, cap, "%.*s%s%s", (int)n, d->text, detail, pct + 2);
	sanitise(o->text);
}

int
outcome_is(const struct outcome *o, enum reply_id r)
{
	const struct reply_def *d = reply_def(r);

	return d != NULL && o != NULL && o->code == d->code &&
	    strcmp(o->enhanced, d->enhanced) == 0 && strcmp(o->text, d->text) == 0;
}

const char *
outcome_strkind(enum outcome_kind kind)
{
	switch (kind) {
	case OUTCOME_OK: return "ok";
	case OUTCOME_TEMPFAIL: return "tempfail";
	case OUTCOME_PERMFAIL: return "permfail";
	case OUTCOME_HOLD: return "hold";
	case OUTCOME_PENDING: return "pending";
	}
	return "unknown";
}

enum outcome_kind
outcome_kind_of_code(int code)
{
	if (code >= 200 && code < 400)
		return OUTCOME_OK;
	if (code >= 400 && code < 500)
		return OUTCOME_TEMPFAIL;
	return OUTCOME_PERMFAIL;
}
