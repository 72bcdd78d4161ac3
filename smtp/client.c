/* SPDX-License-Identifier: ISC */
/*
 * client.c: the outbound SMTP client state machine, used by the
 * delivery engine (src/outbound/connection.c) over TCP or TLS, and by the unit
 * tests over scripted in-memory servers.  No sockets, no timers: bytes
 * in through smtp_client_feed(), bytes out through ops->send.
 *
 * Session: 220 greeting (RFC 5321 §3.1; anything else ends the session
 * and the owner tries the next MX), EHLO, HELO when EHLO is refused
 * with 5xx (RFC 5321 §3.2), STARTTLS per policy (RFC 3207; bytes that
 * arrive after the 220 to STARTTLS are an injection attempt and end the
 * session), EHLO again under TLS (RFC 3207 §4.2: forget what was
 * learned before).
 *
 * Transaction: MAIL, one RCPT per recipient, DATA; with PIPELINING
 * (RFC 2920 §3.1) they go in one write and the replies are matched in
 * order, otherwise one command per reply.  SIZE is announced and a
 * message larger than the server's limit is refused before sending
 * (5.3.4, RFC 1870 §6.1); a message that needs SMTPUTF8 is refused for
 * a server that lacks it (5.6.7, RFC 6531 §3.2); DSN parameters go only
 * to servers that offer DSN (RFC 3461 §4).  Replies are per recipient:
 * a refused MAIL fails them all, a refused RCPT fails one, the reply to
 * the final dot decides the accepted ones.  A transaction that ended
 * early is followed by RSET before the next MAIL.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "smtp_client.h"
#include "util.h"

enum cmd_kind { CMD_RSET, CMD_MAIL, CMD_RCPT, CMD_DATA };

struct smtp_client {
	struct smtp_client_params p;
	char *helo_name;
	char id[32];
	struct smtp_client_ops ops;
	void *arg;
	enum smtp_client_state state;
	struct smtp_reply_parser parser;
	struct smtp_reply reply;
	struct smtp_ehlo ehlo;
	int tls_active;
	int need_rset;
	unsigned msgs;

	/* current transaction */
	const struct smtp_client_msg *msg;
	struct buf cmds;		/* every command text, CRLF-terminated */
	size_t *cmd_off;		/* start of each command in cmds */
	enum cmd_kind *kinds;
	size_t ncmds, next_send, next_reply;
	struct outcome *results;	/* per recipient */
	int *accepted;
	int mail_failed;
	struct outcome mail_outcome;
	int data_aborted;		/* 354 with nobody accepted: sent "." only */
};

const char *
smtp_client_strstate(enum smtp_client_state s)
{
	static const char *names[] = { "greeting", "ehlo", "helo", "starttls", "tls",
		"ready", "transaction", "data", "quit", "closed" };

	return (size_t)s < ARRAY_SIZE(names) ? names[s] : "?";
}

static void
client_enter_state(struct smtp_client *c, enum smtp_client_state s)
{
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("cid=%s event=smtp_client_state from=%s to=%s", c->id,
		    smtp_client_strstate(c->state), smtp_client_strstate(s));
	c->state = s;
}

struct smtp_client *
smtp_client_new(const struct smtp_client_params *p, const struct smtp_client_ops *ops,
    void *arg)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->p = *p;
	c->helo_name = xstrdup(p->helo_name && *p->helo_name ? p->helo_name : "localhost");
	c->p.helo_name = c->helo_name;
	str_copy(c->id, p->id ? p->id : "-", sizeof(c->id));
	c->p.id = c->id;
	c->ops = *ops;
	c->arg = arg;
	c->state = SMTPC_GREETING;
	smtp_reply_parser_init(&c->parser);
	smtp_reply_init(&c->reply);
	buf_init(&c->cmds, 0);
	return c;
}

static void
txn_clear(struct smtp_client *c)
{
	buf_reset(&c->cmds);
	free(c->cmd_off);
	free(c->kinds);
	free(c->results);
	free(c->accepted);
	c->cmd_off = NULL;
	c->kinds = NULL;
	c->results = NULL;
	c->accepted = NULL;
	c->ncmds = c->next_send = c->next_reply = 0;
	c->msg = NULL;
	c->mail_failed = 0;
	c->data_aborted = 0;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	txn_clear(c);
	buf_free(&c->cmds);
	smtp_reply_parser_free(&c->parser);
	smtp_reply_free(&c->reply);
	free(c->helo_name);
	free(c);
}

enum smtp_client_state
smtp_client_state(const struct smtp_client *c)
{
	return c->state;
}

const struct smtp_ehlo *
smtp_client_ehlo(const struct smtp_client *c)
{
	return &c->ehlo;
}

int
smtp_client_tls_active(const struct smtp_client *c)
{
	return c->tls_active;
}

unsigned
smtp_client_msgs(const struct smtp_client *c)
{
	return c->msgs;
}

uint64_t
smtp_client_timeout_ms(const struct smtp_client *c)
{
	switch (c->state) {
	case SMTPC_GREETING: case SMTPC_EHLO: case SMTPC_HELO: case SMTPC_STARTTLS:
	case SMTPC_TLS:
		return c->p.helo_timeout;
	case SMTPC_TRANSACTION: case SMTPC_QUIT:
		return c->p.command_timeout;
	case SMTPC_DATA:
		return c->p.data_timeout;
	case SMTPC_READY: case SMTPC_CLOSED:
		return 0;
	}
	return 0;
}

static void
client_send(struct smtp_client *c, const char *data, size_t len)
{
	c->ops.send(c->arg, data, len);
}

static void
client_sendf(struct smtp_client *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void
client_sendf(struct smtp_client *c, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	client_send(c, line, (size_t)n);
}

/* Report every recipient still without a result, then the message. */
static void
txn_finish(struct smtp_client *c, const struct outcome *rest)
{
	const struct smtp_client_msg *m = c->msg;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nrcpts; i++) {
		const struct outcome *o = &c->results[i];
		if (o->code == 0)
			o = rest;
		c->ops.rcpt_done(c->arg, i, o);
	}
	txn_clear(c);
	c->msgs++;
	c->ops.msg_done(c->arg);
}

/* End the session once; a transaction in progress gets O (as a tempfail). */
static void
client_close(struct smtp_client *c, const struct outcome *o, int in_session)
{
	enum smtp_client_state was = c->state;

	if (was == SMTPC_CLOSED)
		return;
	client_enter_state(c, SMTPC_CLOSED);
	if (c->msg) {
		struct outcome t = *o;
		if (t.kind == OUTCOME_OK)
			outcome_reply(&t, R_CONNECTION_LOST, NULL);
		c->msgs--;	/* not a completed message */
		txn_finish(c, &t);
	}
	c->ops.closed(c->arg, o, in_session);
}

static void
fail_from_reply(struct smtp_client *c, const char *stage, int in_session)
{
	struct outcome o;
	char fmt[600];

	smtp_reply_format(&c->reply, fmt, sizeof(fmt));
	smtp_reply_outcome(&c->reply, &o);
	outcome_set(&o, o.kind == OUTCOME_OK ? OUTCOME_TEMPFAIL : o.kind, o.code, o.enhanced,
	    "%s: %s", stage, fmt);
	client_close(c, &o, in_session);
}

static void
send_ehlo(struct smtp_client *c)
{
	memset(&c->ehlo, 0, sizeof(c->ehlo));
	client_enter_state(c, SMTPC_EHLO);
	client_sendf(c, "EHLO %s\r\n", c->helo_name);
}

static int
tls_required(const struct smtp_client *c)
{
	return c->p.tls == SMTP_CLIENT_TLS_ENCRYPT || c->p.tls == SMTP_CLIENT_TLS_VERIFY;
}

static void
session_ready(struct smtp_client *c)
{
	struct outcome o;

	if (!c->tls_active && tls_required(c)) {
		outcome_reply(&o, R_TLS_NOT_OFFERED);
		client_close(c, &o, 0);
		return;
	}
	client_enter_state(c, SMTPC_READY);
	c->ops.ready(c->arg);
}

/* After EHLO: STARTTLS if offered and allowed (RFC 3207), else ready. */
static void
after_ehlo(struct smtp_client *c)
{
	smtp_ehlo_parse(&c->reply, &c->ehlo);
	if (!c->tls_active && (c->ehlo.ext & SMTP_EXT_STARTTLS) &&
	    c->p.tls != SMTP_CLIENT_TLS_NONE) {
		client_enter_state(c, SMTPC_STARTTLS);
		client_sendf(c, "STARTTLS\r\n");
		return;
	}
	session_ready(c);
}

/* xtext (RFC 3461 §4) is printable ASCII without '=' and space. */
static int
xtext_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == '=')
			return 0;
	return 1;
}

static void
add_cmd(struct smtp_client *c, enum cmd_kind k)
{
	c->cmd_off = xrealloc(c->cmd_off, (c->ncmds + 1) * sizeof(*c->cmd_off));
	c->kinds = xrealloc(c->kinds, (c->ncmds + 1) * sizeof(*c->kinds));
	c->cmd_off[c->ncmds] = c->cmds.len;
	c->kinds[c->ncmds] = k;
	c->ncmds++;
}

/* Send commands: all that are left with PIPELINING, else the next one. */
static void
send_cmds(struct smtp_client *c)
{
	size_t upto, from, to;

	if (c->next_send >= c->ncmds)
		return;
	upto = (c->ehlo.ext & SMTP_EXT_PIPELINING) ? c->ncmds : c->next_send + 1;
	from = c->cmd_off[c->next_send];
	to = upto < c->ncmds ? c->cmd_off[upto] : c->cmds.len;
	c->next_send = upto;
	client_send(c, c->cmds.data + from, to - from);
}

int
smtp_client_send_msg(struct smtp_client *c, const struct smtp_client_msg *m,
    struct outcome *fail)
{
	int dsn = (c->ehlo.ext & SMTP_EXT_DSN) != 0;
	size_t i;

	if (c->state != SMTPC_READY) {
		outcome_reply(fail, R_LOCAL_ERROR);	/* the owner's mistake */
		return -1;
	}
	if ((c->ehlo.ext & SMTP_EXT_SIZE) && c->ehlo.size > 0 && m->len > c->ehlo.size) {
		char sizes[96];

		snprintf(sizes, sizeof(sizes), "%zu exceeds the server's limit of %llu", m->len,
		    (unsigned long long)c->ehlo.size);
		outcome_reply(fail, R_SERVER_SIZE_LIMIT, sizes);
		return -1;
	}
	if (m->smtputf8 && !(c->ehlo.ext & SMTP_EXT_SMTPUTF8)) {
		outcome_reply(fail, R_NEEDS_SMTPUTF8);
		return -1;
	}
	if (m->nrcpts == 0) {
		outcome_reply(fail, R_NO_RECIPIENTS);
		return -1;
	}
	txn_clear(c);
	c->msg = m;
	c->results = xcalloc(m->nrcpts, sizeof(*c->results));
	c->accepted = xcalloc(m->nrcpts, sizeof(*c->accepted));
	if (c->need_rset) {
		add_cmd(c, CMD_RSET);
		buf_append_str(&c->cmds, "RSET\r\n");
		c->need_rset = 0;
	}
	add_cmd(c, CMD_MAIL);
	buf_printf(&c->cmds, "MAIL FROM:<%s>", m->sender);
	if (c->ehlo.ext & SMTP_EXT_SIZE)
		buf_printf(&c->cmds, " SIZE=%zu", m->len);
	if (m->eightbit && (c->ehlo.ext & SMTP_EXT_8BITMIME))
		buf_append_str(&c->cmds, " BODY=8BITMIME");
	if (m->smtputf8)
		buf_append_str(&c->cmds, " SMTPUTF8");
	if (dsn) {
		buf_printf(&c->cmds, " RET=%s", m->ret_full ? "FULL" : "HDRS");
		if (m->envid && *m->envid && xtext_ok(m->envid) && strlen(m->envid) <= 100)
			buf_printf(&c->cmds, " ENVID=%s", m->envid);
	}
	buf_append_str(&c->cmds, "\r\n");
	for (i = 0; i < m->nrcpts; i++) {
		const struct smtp_client_rcpt *r = &m->rcpts[i];

		add_cmd(c, CMD_RCPT);
		buf_printf(&c->cmds, "RCPT TO:<%s>", r->addr);
		if (dsn && r->notify) {
			if (r->notify & SMTP_NOTIFY_NEVER) {
				buf_append_str(&c->cmds, " NOTIFY=NEVER");
			} else {
				const char *sep = " NOTIFY=";
				if (r->notify & SMTP_NOTIFY_SUCCESS) {
					buf_printf(&c->cmds, "%sSUCCESS", sep);
					sep = ",";
				}
				if (r->notify & SMTP_NOTIFY_FAILURE) {
					buf_printf(&c->cmds, "%sFAILURE", sep);
					sep = ",";
				}
				if (r->notify & SMTP_NOTIFY_DELAY)
					buf_printf(&c->cmds, "%sDELAY", sep);
			}
		}
		if (dsn && r->orcpt && *r->orcpt && strchr(r->orcpt, ';') &&
		    strlen(r->orcpt) <= 500 && xtext_ok(strchr(r->orcpt, ';') + 1))
			buf_printf(&c->cmds, " ORCPT=%s", r->orcpt);
		buf_append_str(&c->cmds, "\r\n");
	}
	add_cmd(c, CMD_DATA);
	buf_append_str(&c->cmds, "DATA\r\n");
	client_enter_state(c, SMTPC_TRANSACTION);
	send_cmds(c);
	return 0;
}

int
smtp_client_needs_stuffing(const char *data, size_t len)
{
	/* every "." is looked at once, memchr finding the next: glibc's
	 * memmem() goes byte by byte for a two-octet needle, which cost more
	 * than the copy this check saves (issue 20) */
	const char *p = data, *end = data + len;

	while (p < end && (p = memchr(p, '.', (size_t)(end - p))) != NULL) {
		if (p == data || p[-1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

void
smtp_client_stuff(struct buf *out, const char *data, size_t len)
{
	/* RFC 5321 §4.5.2: a line that starts with "." gets one more.  The
	 * runs between such lines are appended whole (issue 20: two appends
	 * per line were a large message's delivery cost). */
	size_t pos = 0, from = 0;
	const char *nl;

	(void)buf_reserve(out, len + 8);
	if (len > 0 && data[0] == '.')
		buf_append(out, ".", 1);
	while (pos < len && (nl = memchr(data + pos, '\n', len - pos)) != NULL) {
		pos = (size_t)(nl - data) + 1;
		if (pos < len && data[pos] == '.') {
			buf_append(out, data + from, pos - from);
			buf_append(out, ".", 1);
			from = pos;
		}
	}
	buf_append(out, data + from, len - from);
	if (len > 0 && (len < 2 || data[len - 2] != '\r' || data[len - 1] != '\n'))
		buf_append_str(out, "\r\n");
	buf_append_str(out, ".\r\n");
}

static size_t
accepted_count(const struct smtp_client *c)
{
	size_t i, n = 0;

	for (i = 0; c->msg && i < c->msg->nrcpts; i++)
		n += c->accepted[i] != 0;
	return n;
}

/* Replies to RSET / MAIL / RCPT / DATA, matched in order (RFC 2920 §3.1). */
static void
txn_reply(struct smtp_client *c)
{
	const struct smtp_client_msg *m = c->msg;
	enum cmd_kind k;
	size_t rcpt_index = 0, i;
	struct outcome o;

	if (c->next_reply >= c->next_send) {
		struct outcome u;
		outcome_reply(&u, R_UNEXPECTED_REPLY);
		client_close(c, &u, 1);
		return;
	}
	k = c->kinds[c->next_reply];
	for (i = 0; i < c->next_reply; i++)
		rcpt_index += c->kinds[i] == CMD_RCPT;
	c->next_reply++;
	smtp_reply_outcome(&c->reply, &o);

	switch (k) {
	case CMD_RSET:
		break;
	case CMD_MAIL:
		if (c->reply.code / 100 != 2) {
			c->mail_failed = 1;
			c->mail_outcome = o;
			for (i = 0; i < m->nrcpts; i++)
				c->results[i] = o;
			if (!(c->ehlo.ext & SMTP_EXT_PIPELINING)) {
				c->need_rset = 1;
				client_enter_state(c, SMTPC_READY);
				txn_finish(c, &o);
				return;
			}
		}
		break;
	case CMD_RCPT:
		if (c->mail_failed)
			break;	/* pipelined after a refused MAIL: MAIL's reply counts */
		if (c->reply.code / 100 == 2)
			c->accepted[rcpt_index] = 1;
		else
			c->results[rcpt_index] = o;
		if (!(c->ehlo.ext & SMTP_EXT_PIPELINING) && rcpt_index + 1 == m->nrcpts &&
		    accepted_count(c) == 0) {
			/* nobody accepted: no DATA (RFC 5321 §3.3) */
			c->need_rset = 1;
			client_enter_state(c, SMTPC_READY);
			txn_finish(c, &o);
			return;
		}
		break;
	case CMD_DATA:
		if (c->reply.code == 354) {
			struct buf body;

			buf_init(&body, 0);
			if (c->mail_failed || accepted_count(c) == 0) {
				/* RFC 2920 §3.1: a 354 nobody can use; end it empty */
				c->data_aborted = 1;
				buf_append_str(&body, ".\r\n");
			} else if (c->ops.send2 != NULL && !smtp_client_needs_stuffing(m->data, m->len)) {
				/* issue 20: no line starts with "." (the usual case):
				 * the body goes as it is, its end in the same write */
				int crlf = m->len == 0 || (m->len >= 2 && m->data[m->len - 2] == '\r' &&
				    m->data[m->len - 1] == '\n');
				const char *end = crlf ? ".\r\n" : "\r\n.\r\n";

				client_enter_state(c, SMTPC_DATA);
				c->ops.send2(c->arg, m->data, m->len, end, strlen(end));
				buf_free(&body);
				return;
			} else {
				smtp_client_stuff(&body, m->data, m->len);
			}
			client_enter_state(c, SMTPC_DATA);
			client_send(c, body.data, body.len);
			buf_free(&body);
			return;
		}
		c->need_rset = 1;
		for (i = 0; i < m->nrcpts; i++)
			if (c->accepted[i])
				c->results[i] = o;
		client_enter_state(c, SMTPC_READY);
		txn_finish(c, c->mail_failed ? &c->mail_outcome : &o);
		return;
	}
	send_cmds(c);
}

/* The reply to the final dot decides every accepted recipient. */
static void
data_reply(struct smtp_client *c)
{
	const struct smtp_client_msg *m = c->msg;
	struct outcome o;
	size_t i;

	smtp_reply_outcome(&c->reply, &o);
	if (c->data_aborted) {
		c->need_rset = 1;
	} else {
		for (i = 0; i < m->nrcpts; i++)
			if (c->accepted[i])
				c->results[i] = o;
	}
	client_enter_state(c, SMTPC_READY);
	txn_finish(c, c->mail_failed ? &c->mail_outcome : &o);
}

/* One complete reply in the current state. */
static void
client_reply(struct smtp_client *c, size_t rest)
{
	struct outcome o;

	switch (c->state) {
	case SMTPC_GREETING:
		if (c->reply.code != 220) {
			/* RFC 5321 §3.1: after a 554 greeting the client should QUIT */
			client_sendf(c, "QUIT\r\n");
			fail_from_reply(c, "greeting", 0);
			return;
		}
		send_ehlo(c);
		return;
	case SMTPC_EHLO:
		if (c->reply.code / 100 == 2) {
			after_ehlo(c);
		} else if (c->reply.code / 100 == 5 && !c->tls_active) {
			memset(&c->ehlo, 0, sizeof(c->ehlo));
			client_enter_state(c, SMTPC_HELO);
			client_sendf(c, "HELO %s\r\n", c->helo_name);
		} else {
			fail_from_reply(c, "EHLO", 0);
		}
		return;
	case SMTPC_HELO:
		if (c->reply.code / 100 == 2)
			session_ready(c);
		else
			fail_from_reply(c, "HELO", 0);
		return;
	case SMTPC_STARTTLS:
		if (c->reply.code == 220) {
			if (rest > 0) {
				/* RFC 3207 §5 / CVE-2011-0411: nothing may follow in the clear */
				outcome_reply(&o, R_STARTTLS_INJECTION);
				client_close(c, &o, 0);
				return;
			}
			client_enter_state(c, SMTPC_TLS);
			c->ops.starttls(c->arg);
			return;
		}
		if (tls_required(c)) {
			fail_from_reply(c, "STARTTLS", 0);
			return;
		}
		session_ready(c);	/* may: carry on in the clear */
		return;
	case SMTPC_TRANSACTION:
		txn_reply(c);
		return;
	case SMTPC_DATA:
		data_reply(c);
		return;
	case SMTPC_QUIT:
		outcome_ok(&o);
		client_close(c, &o, 1);
		return;
	case SMTPC_READY:
	case SMTPC_TLS:
		/* unsolicited: a 421 shutdown notice, or garbage */
		fail_from_reply(c, "unexpected reply", c->state == SMTPC_READY);
		return;
	case SMTPC_CLOSED:
		return;
	}
}

void
smtp_client_feed(struct smtp_client *c, const char *data, size_t len)
{
	size_t pos = 0;

	while (pos < len && c->state != SMTPC_CLOSED) {
		size_t used;
		enum smtp_reply_status st;

		st = smtp_reply_parse(&c->parser, data + pos, len - pos, &used, &c->reply);
		pos += used;
		if (st == SMTP_REPLY_ERROR) {
			struct outcome o;
			outcome_reply(&o, R_BAD_REPLY, c->parser.why);
			client_close(c, &o, c->state >= SMTPC_READY);
			return;
		}
		if (st == SMTP_REPLY_MORE)
			break;
		client_reply(c, len - pos);
	}
}

void
smtp_client_eof(struct smtp_client *c, const char *why)
{
	struct outcome o;

	if (c->state == SMTPC_CLOSED)
		return;
	if (c->state == SMTPC_QUIT) {
		outcome_ok(&o);
		client_close(c, &o, 1);
		return;
	}
	{
		char where[sizeof(o.text)];

		snprintf(where, sizeof(where), " in state %s%s%s", smtp_client_strstate(c->state),
		    why ? ": " : "", why ? why : "");
		outcome_reply(&o, R_CONNECTION_LOST, where);
	}
	client_close(c, &o, c->state >= SMTPC_READY);
}

void
smtp_client_timeout(struct smtp_client *c)
{
	struct outcome o;

	if (c->state == SMTPC_CLOSED)
		return;
	if (c->state == SMTPC_QUIT) {
		outcome_ok(&o);
		client_close(c, &o, 1);
		return;
	}
	outcome_reply(&o, R_CONNECTION_TIMEOUT, smtp_client_strstate(c->state));
	client_close(c, &o, c->state >= SMTPC_READY);
}

void
smtp_client_tls_done(struct smtp_client *c, int ok, int verified, const char *why)
{
	struct outcome o;

	if (c->state != SMTPC_TLS)
		return;
	if (!ok) {
		outcome_reply(&o, R_TLS_HANDSHAKE_FAILED, why ? why : "unknown error");
		client_close(c, &o, 0);
		return;
	}
	if (c->p.tls == SMTP_CLIENT_TLS_VERIFY && !verified) {
		char reason[sizeof(o.text)];

		snprintf(reason, sizeof(reason), "%s%s", why ? ": " : "", why ? why : "");
		outcome_reply(&o, R_TLS_NOT_VERIFIED, reason);
		client_close(c, &o, 0);
		return;
	}
	c->tls_active = 1;
	/* RFC 3207 §4.2: discard what the server said before, ask again */
	smtp_reply_parser_free(&c->parser);
	smtp_reply_parser_init(&c->parser);
	send_ehlo(c);
}

void
smtp_client_quit(struct smtp_client *c)
{
	struct outcome o;

	if (c->state == SMTPC_CLOSED || c->state == SMTPC_QUIT)
		return;
	if (c->state != SMTPC_READY) {
		outcome_reply(&o, R_SESSION_ABANDONED);
		client_close(c, &o, c->state >= SMTPC_READY);
		return;
	}
	client_enter_state(c, SMTPC_QUIT);
	client_sendf(c, "QUIT\r\n");
}
