/* SPDX-License-Identifier: ISC */
/*
 * smtp.h: the SMTP server protocol core (smtp/), transport-agnostic.
 *
 * A struct smtp_session is a pure state machine: the owner (src/relay.c)
 * feeds it the plaintext bytes it received with smtp_session_input(), and
 * the session writes reply bytes through the write callback.  It never
 * touches a socket, a timer, TLS, the queue or the accounts database:
 * everything that needs the outside world is a callback into the owner.
 * That is what lets tests drive it from golden transcripts and fuzzers
 * drive it from arbitrary bytes.
 *
 * Callbacks that decide something (connect, auth, mail, rcpt, data,
 * message) either answer at once (return SMTP_DONE with *out filled) or
 * return SMTP_PENDING; then the session consumes no more input
 * (pipelined commands wait, in order, in its input buffer) until the
 * owner calls smtp_session_resume() with the outcome.  One reply per
 * command, no re-entrancy (STYLE rule 5).  The owner should stop reading
 * the socket while smtp_session_wants_input() is 0.
 *
 * Outcomes (include/outcome.h) become replies:
 *  - OUTCOME_OK / OUTCOME_HOLD: the session sends its own reply code and
 *    enhanced code for that command (220, 235 2.7.0, 250 2.1.0,
 *    250 2.1.5, 354, 250 2.0.0), with out->text when it is non-empty
 *    and out->code is that same code (or 0), else a default text.  So
 *    on_message answers outcome_set(o, OUTCOME_OK, 250, "2.0.0",
 *    "Ok: queued as %s", id), and a plain outcome_ok() is always fine.
 *  - OUTCOME_TEMPFAIL / OUTCOME_PERMFAIL: sent verbatim:
 *    "<code> <enhanced> <text>".  A 421 reply also closes the session.
 *
 * Replies always carry RFC 2034 enhanced status codes, except the
 * greeting and the EHLO/HELO response (RFC 2034 §3).  Decoded AUTH data
 * is handed to on_auth only and never logged.
 *
 * A typical owner: smtp_session_new() + smtp_session_start() on accept;
 * in the read callback smtp_session_input(), then uv_read_stop() while
 * !smtp_session_wants_input(); in each async completion
 * smtp_session_resume() and uv_read_start() again if it now wants
 * input; arm smtpd_data_timeout while smtp_session_in_data(), else
 * smtpd_timeout, and on expiry smtp_session_shutdown() with
 * 421 4.4.2; close after on_close (flush first); smtp_session_free() in
 * the handle's close callback.  Never call smtp_session_input() or
 * smtp_session_free() from inside a session callback.
 *
 * Choices where the RFCs leave room: the sender's address syntax error
 * is 501 5.1.7, a recipient's 501 5.1.3; 5xx replies count towards
 * smtpd_max_errors, 4xx (452 too many recipients) do not; a command
 * line not ending in CRLF is refused like bare LF in DATA unless
 * smtpd_bare_line_ending = normalize; a failed BDAT chunk ends the
 * transaction (later chunks are read and answered 503).
 */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "outcome.h"

/* RFC 5321 §4.5.3.1: 64-octet local part, 255-octet domain, 256-octet path. */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256
/* Command line: 512 octets (RFC 5321 §4.5.3.1.4) plus the allowances of
 * SIZE (RFC 1870), DSN (RFC 3461 §4: +100 MAIL, +500 RCPT) and AUTH=
 * (RFC 4954 §5: +500).  AUTH lines may be 12288 (RFC 4954 §4). */
#define SMTP_CMD_LINE_MAX	2048
#define SMTP_AUTH_LINE_MAX	12288
/* Text line in DATA, CRLF included (RFC 5321 §4.5.3.1.6). */
#define SMTP_TEXT_LINE_MAX	1000
/* Unprocessed input kept while a callback is pending (pipelining). */
#define SMTP_INPUT_MAX		(256 * 1024)
#define SMTP_ENVID_MAX		100	/* RFC 3461 §4.4 */
#define SMTP_ORCPT_MAX		500	/* RFC 3461 §4.2 */

/* Session states (smtp_strstate() names them).  The owner picks
 * smtpd_data_timeout while smtp_session_in_data() is 1, smtpd_timeout
 * otherwise. */
enum smtp_state {
	SMTP_STATE_CONNECT = 0,	/* created; on_connect not yet answered, no banner */
	SMTP_STATE_GREETED,	/* banner sent; waiting for EHLO/HELO */
	SMTP_STATE_IDLE,	/* EHLO/HELO done; no transaction */
	SMTP_STATE_MAIL,	/* MAIL accepted; no recipient yet */
	SMTP_STATE_RCPT,	/* at least one recipient accepted */
	SMTP_STATE_DATA,	/* 354 sent; reading the message text */
	SMTP_STATE_CHUNKING,	/* between BDAT chunks (RFC 3030) */
	SMTP_STATE_BDAT,	/* reading the octets of one BDAT chunk */
	SMTP_STATE_AUTH,	/* 334 sent; waiting for the client's AUTH response */
	SMTP_STATE_CLOSED,	/* QUIT, 421 or shut down: input is ignored */
};
const char *smtp_strstate(enum smtp_state st);

/* DSN NOTIFY bits (RFC 3461 §4.1): same values as QUEUE_NOTIFY_*; 0 = not given. */
#define SMTP_NOTIFY_NEVER	0x01
#define SMTP_NOTIFY_SUCCESS	0x02
#define SMTP_NOTIFY_FAILURE	0x04
#define SMTP_NOTIFY_DELAY	0x08

enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };	/* RFC 3461 §4.3 */
enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };	/* RFC 6152 */

struct smtp_rcpt {
	char *addr;		/* owned; mailbox without <>, or "Postmaster" */
	char *orcpt;		/* owned; DSN ORCPT as received ("rfc822;xtext"), or NULL */
	unsigned notify;	/* SMTP_NOTIFY_* or 0 */
};

/* The envelope of the current transaction; owned by the session, valid
 * (and unchanged) while a callback is pending. */
struct smtp_envelope {
	char *sender;		/* owned; "" for the null reverse-path <> */
	struct smtp_rcpt *rcpts;	/* owned; accepted recipients */
	size_t nrcpts;
	char *envid;		/* owned; DSN ENVID, xtext-decoded (printable ASCII), or NULL */
	enum smtp_ret ret;
	enum smtp_body body;
	int smtputf8;		/* MAIL ... SMTPUTF8 (RFC 6531) */
	uint64_t declared_size;	/* MAIL ... SIZE=n (RFC 1870), 0 if not given */
	int chunking;		/* message came by BDAT */
};

/* What a callback returns. */
#define SMTP_DONE	0	/* *out is filled in: answer now */
#define SMTP_PENDING	1	/* the owner will call smtp_session_resume() */

struct smtp_session;

/* Reply bytes to send, always whole CRLF-terminated lines. */
typedef void (*smtp_write_cb)(void *arg, const char *data, size_t len);
/* Connection admitted?  Called from smtp_session_start(); not OK = reply and close. */
typedef int (*smtp_connect_cb)(void *arg, struct outcome *out);
/* AUTH (RFC 4954): MECH is "PLAIN" or "LOGIN"; AUTHZID is "" when not
 * given.  The strings are only valid during the call: copy them.
 * OK → 235 2.7.0 and the session is authenticated as AUTHCID. */
typedef int (*smtp_auth_cb)(void *arg, const char *mech, const char *authzid,
    const char *authcid, const char *password, struct outcome *out);
/* MAIL: ENV->sender and the MAIL parameters are filled in; not OK clears them. */
typedef int (*smtp_mail_cb)(void *arg, const struct smtp_envelope *env,
    struct outcome *out);
/* RCPT: RCPT is the candidate (not yet in ENV); OK appends it. */
typedef int (*smtp_rcpt_cb)(void *arg, const struct smtp_envelope *env,
    const struct smtp_rcpt *rcpt, struct outcome *out);
/* DATA or the first BDAT: may refuse before the text is read. */
typedef int (*smtp_data_cb)(void *arg, const struct smtp_envelope *env,
    struct outcome *out);
/* The whole message (CRLF lines, dot-unstuffed, within the size limit)
 * at the end of DATA or of the last BDAT chunk.  The owner may take the
 * storage with buf_steal(MSG); the session resets it after the reply.
 * The envelope is reset after the reply, whatever the outcome. */
typedef int (*smtp_message_cb)(void *arg, const struct smtp_envelope *env,
    struct buf *msg, struct outcome *out);
/* STARTTLS: "220 2.0.0 Ready to start TLS" has been written and every
 * byte received after the STARTTLS line has been discarded (RFC 3207
 * §5, CVE-2011-0411).  From now on the owner feeds only TLS plaintext;
 * the session is back in the pre-EHLO state (RFC 3207 §4.2) and
 * smtp_session_tls_active() is 1.  The owner closes the connection if
 * the handshake fails. */
typedef void (*smtp_starttls_cb)(void *arg);
/* The session has ended (QUIT answered, 421 sent, too many errors):
 * flush what was written, then close.  Called once; not called for
 * smtp_session_shutdown(). */
typedef void (*smtp_close_cb)(void *arg);

struct smtp_callbacks {
	smtp_write_cb write;		/* required */
	smtp_connect_cb on_connect;	/* NULL: admit */
	smtp_auth_cb on_auth;		/* NULL: AUTH is not offered */
	smtp_mail_cb on_mail;		/* NULL: accept */
	smtp_rcpt_cb on_rcpt;		/* NULL: accept */
	smtp_data_cb on_data;		/* NULL: accept */
	smtp_message_cb on_message;	/* NULL: 451 4.3.0 (nothing to hand it to) */
	smtp_starttls_cb on_starttls;	/* NULL: STARTTLS is not offered */
	smtp_close_cb on_close;		/* NULL: nothing */
};

/*
 * The settings a session takes from postern.conf, already typed; the
 * owner fills them (src/inbound/listener.c: listener_smtp_params()).
 * Strings are copied; the session keeps no pointer into them.
 */
struct smtp_params {
	const char *hostname;	/* our name in banner/EHLO; NULL or "": "localhost" */
	const char *banner;	/* smtpd_banner; NULL: "ESMTP postern" */
	uint64_t size_limit;	/* message_size_limit; 0: 25 MiB */
	size_t max_rcpts;	/* smtpd_max_recipients; 0: 100 */
	int max_errors;		/* smtpd_max_errors; 0: 10 */
	int normalize_bare_lf;	/* smtpd_bare_line_ending = normalize */
};

/* Per-connection settings. */
struct smtp_session_opts {
	const char *id;		/* session id for logs (copied); NULL: none */
	const char *hostname;	/* our name in banner/EHLO (copied); NULL: params->hostname */
	int tls_available;	/* STARTTLS may be offered (submission with a cert) */
	int tls_active;		/* implicit TLS (submissions): already encrypted */
	int auth_in_clear;	/* offer AUTH without TLS (smtpd_auth_in_clear) */
};

/*
 * New session with PARAMS (NULL: the defaults above): the banner, the
 * recipient, error and size limits, and the bare line ending rule
 * (without normalize_bare_lf, bare CR/LF in DATA is refused with 554
 * 5.6.11; with it they become CRLF; the end of DATA is recognised only
 * as CRLF "." CRLF either way).  Nothing is written until
 * smtp_session_start().
 */
struct smtp_session *smtp_session_new(const struct smtp_params *params,
    const struct smtp_session_opts *opts, const struct smtp_callbacks *cb, void *arg);
/* Accepts NULL.  Never from inside one of the session's callbacks. */
void smtp_session_free(struct smtp_session *s);

/* Ask on_connect, then send the 220 banner (or the refusal and close). */
void smtp_session_start(struct smtp_session *s);
/*
 * Feed received plaintext.  Bytes are consumed as far as possible; while
 * a callback is pending they are kept (up to SMTP_INPUT_MAX, beyond that
 * the session answers 421 4.7.0 and closes).  Returns 0, or -1 once the
 * session is closed (the owner closes the connection after on_close /
 * after flushing the writes).
 */
int smtp_session_input(struct smtp_session *s, const void *data, size_t len);
/* Answer the pending callback with O (copied), then go on with any
 * pipelined input.  Ignored when nothing is pending or the session is closed. */
void smtp_session_resume(struct smtp_session *s, const struct outcome *o);
/* Owner-initiated end (timeouts: 421 4.4.2, shutdown: 421 4.3.2): write
 * O if not NULL and enter SMTP_STATE_CLOSED.  on_close is not called. */
void smtp_session_shutdown(struct smtp_session *s, const struct outcome *o);

/*
 * Lower the limits for this session (per-account limits, typically from
 * on_auth or on_mail): SIZE_LIMIT (message octets, enforced during DATA
 * and BDAT with 552 5.3.4 and checked against MAIL SIZE=) and MAX_RCPTS
 * (452 4.5.3 beyond).  0 keeps the current value; values above the
 * session's params are clamped to them.  Takes effect from the next command.
 */
void smtp_session_set_limits(struct smtp_session *s, uint64_t size_limit, size_t max_rcpts);

/* ---- what the owner may read ---- */
enum smtp_state smtp_session_state(const struct smtp_session *s);
/* 1 while DATA text or a BDAT chunk is being read: use smtpd_data_timeout. */
int smtp_session_in_data(const struct smtp_session *s);
/* 1 when a callback is pending. */
int smtp_session_pending(const struct smtp_session *s);
/* 0 while pending or closed: stop reading the socket (uv_read_stop). */
int smtp_session_wants_input(const struct smtp_session *s);
int smtp_session_tls_active(const struct smtp_session *s);
/* The AUTH identity after a successful AUTH, or NULL. */
const char *smtp_session_auth_user(const struct smtp_session *s);
/* The EHLO/HELO argument, or NULL before. */
const char *smtp_session_helo(const struct smtp_session *s);
/* "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" for Received: (RFC 3848). */
const char *smtp_session_protocol(const struct smtp_session *s);
const struct smtp_envelope *smtp_session_envelope(const struct smtp_session *s);
const char *smtp_session_id(const struct smtp_session *s);

/* ---- pure parsers (smtp/parse.c), exposed for other modules and tests ---- */

/*
 * Strict RFC 5321 §4.1.2 mailbox (Local-part "@" (Domain / address-literal)),
 * without angle brackets.  UTF-8 (RFC 6531) only when UTF8 is set, and
 * then it must be well-formed.  0 valid, -1 not.
 */
int smtp_mailbox_valid(const char *p, size_t len, int utf8);
/* RFC 3461 §4 xtext: decode P into OUT (NUL-terminated); length or -1. */
int smtp_xtext_decode(const char *p, size_t len, char *out, size_t outlen);

#endif
