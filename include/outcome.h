/* SPDX-License-Identifier: ISC */
/*
 * outcome.h: the one result type shared by the SMTP session, policy
 * stages, the queue and delivery (STYLE rule 10): a kind, the SMTP
 * reply code, the RFC 3463 enhanced status code and a human text.
 * Replies are built from outcomes, so there are no bare 451 literals
 * scattered through the code: every reply postern itself produces (the
 * SMTP server's replies, and the outcomes of policy stages, the queue
 * and delivery) is a named entry of one catalogue, enum reply_id, filled
 * in by outcome_reply().  outcome_set() stays for outcomes that carry
 * data from elsewhere (a remote server's reply, a policy callback's own
 * outcome); tests/check-replies.sh refuses literal code + enhanced code
 * pairs outside src/lib/outcome.c.
 */
#ifndef POSTERN_OUTCOME_H
#define POSTERN_OUTCOME_H

#include "util.h"

enum outcome_kind {
	OUTCOME_OK = 0,
	OUTCOME_TEMPFAIL,
	OUTCOME_PERMFAIL,
	OUTCOME_HOLD,
	OUTCOME_PENDING,	/* a policy stage finishes later (include/policy.h) */
};

struct outcome {
	enum outcome_kind kind;
	int code;		/* 250, 451, 550, ... */
	char enhanced[16];	/* "4.3.0" */
	char text[256];		/* no CR/LF; never message content or AUTH data */
};

void outcome_set(struct outcome *o, enum outcome_kind kind, int code,
    const char *enhanced, const char *fmt, ...) PRINTF_LIKE(5, 6);
#define outcome_ok(o) outcome_reply((o), R_SUCCESS)
/*
 * The reply catalogue: one entry per distinct meaning, with one text.
 * An entry's text is either fixed or holds one "%s" for a detail (a
 * host name, a domain, a reason); outcome_reply() then takes exactly
 * one const char * argument (NULL reads as "").  Codes follow RFC 5321
 * §4.2 and the enhanced codes RFC 3463 (AUTH: RFC 4954 §6, RFC 7372;
 * SPF: RFC 7372 §3.2); entries without an enhanced code are the replies
 * that never carry one (greeting, HELO, 334, 354: RFC 2034 §3).
 */
enum reply_id {
	/* success and intermediate replies */
	R_SUCCESS,			/* 250 2.0.0 Ok */
	R_MAIL_OK,			/* 250 2.1.0 */
	R_RCPT_OK,			/* 250 2.1.5 */
	R_QUEUED_AS,			/* 250 2.0.0 Ok: queued as %s */
	R_CHUNK_RECEIVED,		/* 250 2.0.0, BDAT chunk */
	R_HELO_OK,			/* 250 %s (no enhanced code) */
	R_GREETING,			/* 220 %s */
	R_CLOSING,			/* 221 2.0.0 Bye */
	R_HELP,				/* 214 2.0.0 */
	R_VRFY_CANNOT,			/* 252 2.0.0 */
	R_STARTTLS_READY,		/* 220 2.0.0 */
	R_AUTH_OK,			/* 235 2.7.0 */
	R_AUTH_CHALLENGE,		/* 334 %s */
	R_DATA_GO_AHEAD,		/* 354 */

	/* the connection */
	R_TOO_MANY_ERRORS,		/* 421 4.7.0 %s = our host name */
	R_INPUT_OVERFLOW,		/* 421 4.7.0 %s = our host name */
	R_TIMEOUT,			/* 421 4.4.2 */
	R_SHUTTING_DOWN,		/* 421 4.3.2 */
	R_ACCESS_DENIED,		/* 554 5.7.1 */
	R_TOO_MANY_CONNECTIONS,		/* 421 4.7.0 */
	R_TOO_MANY_CONNECTIONS_FROM_IP,	/* 421 4.7.0 */

	/* command syntax */
	R_BAD_CHARACTER,		/* 500 5.5.2 */
	R_UNKNOWN_COMMAND,		/* 500 5.5.2 */
	R_LINE_TOO_LONG,		/* 500 5.5.6 */
	R_BARE_LF_COMMAND,		/* 500 5.5.2 */
	R_SYNTAX_USAGE,			/* 501 5.5.4 Syntax: %s */
	R_SYNTAX_ERROR_IN,		/* 501 5.5.4 Syntax error in %s */
	R_BAD_SENDER_SYNTAX,		/* 501 5.1.7 */
	R_BAD_RCPT_SYNTAX,		/* 501 5.1.3 */
	R_PARAMS_NEED_EHLO,		/* 555 5.5.4 %s = MAIL or RCPT */
	R_UNSUPPORTED_PARAM,		/* 555 5.5.4 %s = MAIL or RCPT */
	R_UNSUPPORTED_BODY,		/* 555 5.5.4 */

	/* command sequence (RFC 5321 §4.1.4) */
	R_BAD_SEQUENCE,			/* 503 5.5.1 */
	R_BAD_SEQUENCE_NEED_HELO,	/* 503 5.5.1 */
	R_BAD_SEQUENCE_NEED_MAIL,	/* 503 5.5.1 */
	R_BAD_SEQUENCE_NESTED_MAIL,	/* 503 5.5.1 */
	R_BAD_SEQUENCE_IN_TRANSACTION,	/* 503 5.5.1 AUTH, STARTTLS */
	R_BAD_SEQUENCE_IN_BDAT,		/* 503 5.5.1 */
	R_NO_VALID_RECIPIENTS,		/* 554 5.5.1 (RFC 5321 §3.3) */
	R_EXPN_DISABLED,		/* 502 5.5.1 */
	R_STARTTLS_UNAVAILABLE,		/* 502 5.5.1 */
	R_TLS_ALREADY_ACTIVE,		/* 503 5.5.1 */

	/* AUTH (RFC 4954 §6) */
	R_AUTH_NOT_ENABLED,		/* 503 5.5.1 */
	R_ALREADY_AUTHENTICATED,	/* 503 5.5.1 */
	R_ENCRYPTION_REQUIRED,		/* 538 5.7.11 */
	R_AUTH_MECH_UNKNOWN,		/* 504 5.5.4 */
	R_AUTH_CANCELLED,		/* 501 5.7.0 */
	R_AUTH_BAD_BASE64,		/* 501 5.5.2 */
	R_AUTH_BAD_PLAIN,		/* 501 5.5.2 */
	R_AUTH_BAD_USER,		/* 501 5.5.2 */
	R_AUTH_BAD_PASSWORD,		/* 501 5.5.2 */
	R_AUTH_REQUIRED,		/* 530 5.7.0 */
	R_AUTH_INVALID,			/* 535 5.7.8 */
	R_AUTH_TEMPFAIL,		/* 454 4.7.0 */
	R_AUTH_LOCKED,			/* 454 4.7.0 */
	R_AUTH_SUSPENDED,		/* 535 5.7.8 Account suspended (issue 16) */
	R_AUTH_BUSY,			/* 454 4.7.0 attempts in flight per address */

	/* limits and policy */
	R_MESSAGE_TOO_BIG,		/* 552 5.3.4 (RFC 1870) */
	R_ACCOUNT_MESSAGE_TOO_BIG,	/* 552 5.3.4 */
	R_TOO_MANY_RECIPIENTS,		/* 452 4.5.3 (RFC 5321 §4.5.3.1.10) */
	R_BARE_LINE_ENDING,		/* 554 5.6.11 (RFC 3463 as updated, smuggling) */
	R_TEXT_LINE_TOO_LONG,		/* 500 5.5.6 */
	R_ACCOUNT_SUSPENDED,		/* 550 5.7.1 */
	R_ACCOUNT_PAUSED,		/* 451 4.7.1 Account paused for review (issue 16) */
	R_SENDER_NOT_ALLOWED,		/* 550 5.7.1 */
	R_FROM_NOT_ALLOWED,		/* 550 5.7.1 From: header domain */
	R_RATE_LIMITED,			/* 451 4.7.1 */
	R_NUL_IN_MESSAGE,		/* 554 5.6.0 smtpd_reject_nul */
	R_MIME_LIMITS,			/* 554 5.6.0 %s = the limit */
	R_SENSITIVE_DATA,		/* 550 5.7.1 %s = the data types */
	R_SPAM_REJECTED,		/* 550 5.7.1 %s = the reference token */
	R_REVIEW_REJECTED,		/* 550 5.7.1 in the notice of review reject --notify-sender */
	R_DKIM_SIGN_FAILED,		/* 451 4.7.0 */
	R_SPF_TEMPERROR,		/* 451 4.7.24 %s = domain */
	R_SPF_PERMERROR,		/* 550 5.7.24 %s = what to fix */
	R_SPF_NONE,			/* 550 5.7.23 %s = what to publish */
	R_SPF_FAIL,			/* 550 5.7.23 %s = result and what to add */
	R_RCPT_SUPPRESSED,		/* 550 5.7.1 %s = reason (suppression list) */
	R_FEEDBACK_NOT_LOCAL,		/* 550 5.1.1 feedback listener: not ours */
	R_FEEDBACK_BAD_TOKEN,		/* 550 5.1.1 feedback listener: forged token */
	R_FEEDBACK_NO_SENDER,		/* 503 5.5.1 feedback listener: no MAIL */
	R_FEEDBACK_ACCEPTED,		/* 250 2.0.0 feedback processed */

	/* local errors */
	R_LOCAL_ERROR,			/* 451 4.3.0 */
	R_QUEUE_ERROR,			/* 451 4.3.0 (key store errors too) */
	R_QUEUE_FAILED,			/* 451 4.3.0 %s = reason (posternctl) */
	R_CHANGED_MEANWHILE,		/* 451 4.3.0 queue_kv_put_if() over a changed record */
	R_RECORD_GONE,			/* 550 5.0.0 queue_kv_update() of a deleted record */
	R_STORAGE_FULL,			/* 452 4.3.1 */
	R_NO_SUCH_MESSAGE,		/* 550 5.1.0 */
	R_NOTHING_TO_HOLD,		/* 550 5.0.0 */
	R_NOTHING_TO_RECORD,		/* 550 5.0.0 */
	R_NOT_HELD,			/* 550 5.0.0 */
	R_NOTHING_TO_REQUEUE,		/* 550 5.0.0 */
	R_NOTHING_TO_BOUNCE,		/* 550 5.0.0 */
	R_OPERATOR_BOUNCE,		/* 550 5.0.0 queue bounce: the reply recorded */

	/* delivery: what postern concludes, not what a remote server said */
	R_RCPT_NO_DOMAIN,		/* 553 5.1.3 */
	R_DOMAIN_NOT_FOUND,		/* 550 5.1.2 %s = domain */
	R_NULL_MX,			/* 556 5.1.10 (RFC 7505 §3) %s = domain */
	R_NO_MX_ADDRESS,		/* 550 5.4.4 %s = domain */
	R_DNS_TEMPFAIL,			/* 451 4.4.3 %s = domain [: reason] */
	R_NO_SERVER_REACHABLE,		/* 451 4.4.1 */
	R_CONNECT_FAILED,		/* 451 4.4.1 %s = "host: reason" */
	R_BAD_TRANSPORT_ADDRESS,	/* 451 4.4.1 %s = the address */
	R_SERVER_REFUSED,		/* 451 4.4.1 %s = the server's words, to retry */
	R_CONNECTION_LOST,		/* 421 4.4.2 %s = " in state ..." or "" */
	R_CONNECTION_TIMEOUT,		/* 421 4.4.2 %s = client state */
	R_SESSION_ABANDONED,		/* 421 4.4.2 */
	R_BODY_UNREADABLE,		/* 451 4.3.0 */
	R_TLS_NOT_OFFERED,		/* 451 4.7.4 (RFC 3207 §4; required TLS) */
	R_TLS_HANDSHAKE_FAILED,		/* 451 4.7.5 %s = reason */
	R_TLS_NOT_VERIFIED,		/* 451 4.7.5 %s = ": reason" or "" */
	R_STARTTLS_INJECTION,		/* 451 4.7.0 (RFC 3207 §5) */
	R_UNEXPECTED_REPLY,		/* 451 4.5.0 */
	R_BAD_REPLY,			/* 451 4.5.0 %s = parser's reason */
	R_SERVER_SIZE_LIMIT,		/* 552 5.3.4 %s = sizes */
	R_NEEDS_SMTPUTF8,		/* 553 5.6.7 (RFC 6531 §3.4) */
	R_NO_RECIPIENTS,		/* 554 5.5.1 */
	R_TEST_TEMPFAIL,		/* 451 4.4.1 posternctl queue result */
	R_TEST_PERMFAIL,		/* 550 5.1.1 posternctl queue result */

	R__COUNT
};

/* One catalogue entry; text is fixed or holds one "%s". */
struct reply_def {
	enum outcome_kind kind;
	int code;
	const char *enhanced;	/* "" when the reply carries none */
	const char *text;
	const char *name;	/* "R_LOCAL_ERROR" */
};

/* Fill O from catalogue entry R; a "%s" in its text takes one const char *. */
void outcome_reply(struct outcome *o, enum reply_id r, ...);
/* The catalogue entry R, or NULL when R is out of range (for tests). */
const struct reply_def *reply_def(enum reply_id r);
const char *outcome_strkind(enum outcome_kind kind);
/* 1 when O is catalogue entry R as outcome_reply() filled it (code,
 * enhanced code and text; for entries whose text has no "%s"). */
int outcome_is(const struct outcome *o, enum reply_id r);
/* Kind implied by a reply code: 2xx ok, 4xx tempfail, 5xx permfail. */
enum outcome_kind outcome_kind_of_code(int code);

#endif
