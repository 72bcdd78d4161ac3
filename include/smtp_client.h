/* SPDX-License-Identifier: ISC */
/*
 * smtp_client.h: the outbound SMTP client state machine (RFC 5321,
 * RFC 3207 STARTTLS, RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN).  Transport-agnostic like
 * the server: it never touches a socket or a timer.  The owner (the
 * delivery engine) feeds it the bytes the server sent, gets bytes to
 * send through ops->send, does the TLS handshake when asked through
 * ops->starttls, and runs one timer from smtp_client_timeout_ms().
 *
 * One connection carries several messages in turn (RSET after a
 * transaction that did not complete).  Results are per recipient:
 * every recipient of a message gets exactly one rcpt_done() before its
 * msg_done().  The session ends exactly once with closed().
 *
 * Callbacks may call smtp_client_send_msg() or smtp_client_quit(), but
 * must not free the client: free it after closed(), from the loop.
 */
#ifndef POSTERN_SMTP_CLIENT_H
#define POSTERN_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "outcome.h"
#include "smtp_reply.h"

/* Same values as QUEUE_NOTIFY_* (RFC 3461 §4.1). */
#define SMTP_NOTIFY_NEVER	0x01
#define SMTP_NOTIFY_SUCCESS	0x02
#define SMTP_NOTIFY_FAILURE	0x04
#define SMTP_NOTIFY_DELAY	0x08

enum smtp_client_tls {
	SMTP_CLIENT_TLS_NONE,		/* never STARTTLS */
	SMTP_CLIENT_TLS_MAY,		/* STARTTLS when offered, plain otherwise */
	SMTP_CLIENT_TLS_ENCRYPT,	/* STARTTLS required, any certificate */
	SMTP_CLIENT_TLS_VERIFY,		/* STARTTLS required, chain + host name verified */
};

enum smtp_client_state {
	SMTPC_GREETING,
	SMTPC_EHLO,
	SMTPC_HELO,
	SMTPC_STARTTLS,
	SMTPC_TLS,		/* the owner runs the handshake */
	SMTPC_READY,		/* idle: send a message or quit */
	SMTPC_TRANSACTION,	/* RSET/MAIL/RCPT/DATA replies outstanding */
	SMTPC_DATA,		/* message sent, final reply outstanding */
	SMTPC_QUIT,
	SMTPC_CLOSED,
};

struct smtp_client_rcpt {
	const char *addr;	/* borrowed */
	const char *orcpt;	/* "rfc822;xtext" or NULL; borrowed */
	unsigned notify;	/* SMTP_NOTIFY_* or 0 */
};

struct smtp_client_msg {
	const char *sender;	/* "" for <>; borrowed until msg_done */
	const struct smtp_client_rcpt *rcpts;
	size_t nrcpts;
	const char *data;	/* CRLF lines, not dot-stuffed */
	size_t len;
	int smtputf8;		/* needs SMTPUTF8 (RFC 6531) */
	int eightbit;		/* BODY=8BITMIME */
	const char *envid;	/* DSN ENVID (xtext) or NULL */
	int ret_full;		/* DSN RET=FULL (else RET=HDRS when DSN is used) */
};

struct smtp_client_ops {
	void (*send)(void *arg, const char *data, size_t len);
	/* The server accepted STARTTLS: start the TLS handshake now and call
	 * smtp_client_tls_done() when it ends. */
	void (*starttls)(void *arg);
	/* Session established (after EHLO/HELO and STARTTLS): send a message or quit. */
	void (*ready)(void *arg);
	void (*rcpt_done)(void *arg, size_t i, const struct outcome *o);
	void (*msg_done)(void *arg);
	/*
	 * The session is over: O is OK after a QUIT; otherwise why it failed.
	 * IN_SESSION is 0 when it failed before a session was established
	 * (greeting, EHLO, STARTTLS): the owner may try another server.
	 */
	void (*closed)(void *arg, const struct outcome *o, int in_session);
	/* Optional: A then B in one write.  With it, a body that needs no
	 * dot-stuffing is sent as it is, followed by its end, uncopied. */
	void (*send2)(void *arg, const char *a, size_t alen, const char *b, size_t blen);
};

struct smtp_client_params {
	const char *id;			/* connection id for logs (copied), or NULL */
	const char *helo_name;
	enum smtp_client_tls tls;
	uint64_t helo_timeout, command_timeout, data_timeout;	/* ms */
};

struct smtp_client;

struct smtp_client *smtp_client_new(const struct smtp_client_params *p,
    const struct smtp_client_ops *ops, void *arg);
void smtp_client_free(struct smtp_client *c);

/* Bytes from the server (plaintext, after TLS if any). */
void smtp_client_feed(struct smtp_client *c, const char *data, size_t len);
/* The server closed the connection, or the network failed (WHY). */
void smtp_client_eof(struct smtp_client *c, const char *why);
/* The current wait timed out. */
void smtp_client_timeout(struct smtp_client *c);
/* How long to wait for the server now, in ms; 0 = not waiting. */
uint64_t smtp_client_timeout_ms(const struct smtp_client *c);
/* Handshake result: OK, and whether the peer's chain and name verified. */
void smtp_client_tls_done(struct smtp_client *c, int ok, int verified, const char *why);

/*
 * Start a transaction for M (borrowed until msg_done).  Only in
 * SMTPC_READY.  Returns -1 without sending anything when the message
 * cannot go to this server at all (FAIL says why, for every recipient):
 * too big for its SIZE (5.3.4), needs SMTPUTF8 it lacks (5.6.7).
 */
int smtp_client_send_msg(struct smtp_client *c, const struct smtp_client_msg *m,
    struct outcome *fail);
void smtp_client_quit(struct smtp_client *c);

enum smtp_client_state smtp_client_state(const struct smtp_client *c);
const char *smtp_client_strstate(enum smtp_client_state s);
const struct smtp_ehlo *smtp_client_ehlo(const struct smtp_client *c);
int smtp_client_tls_active(const struct smtp_client *c);
/* Messages completed on this connection (for the reuse limit). */
unsigned smtp_client_msgs(const struct smtp_client *c);

/* Dot-stuff DATA (RFC 5321 §4.5.2) into OUT and append CRLF.CRLF; a
 * missing final CRLF is added. (Pure; exposed for tests.) */
void smtp_client_stuff(struct buf *out, const char *data, size_t len);
/* Would smtp_client_stuff() change DATA (a line starting with ".")? */
int smtp_client_needs_stuffing(const char *data, size_t len);

#endif
