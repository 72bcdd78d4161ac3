/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_client: the client FSM against scripted in-memory servers.
 * A script is the list of commands the server expects (by prefix) and
 * the reply it gives to each; the test pumps bytes both ways with no
 * sockets.  Covers: plain session, PIPELINING (one write, replies
 * matched in order), HELO fallback, SIZE and SMTPUTF8 refusals before
 * sending, DSN parameters only when offered, 8BITMIME, bad greetings,
 * STARTTLS (may / verify / encrypt, refusal, plaintext injection after
 * 220), several messages per connection with RSET after an aborted
 * transaction, refused MAIL under pipelining, connection loss, time
 * outs, dot-stuffing, and server replies fed one byte at a time.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "smtp_client.h"
#include "tap.h"
#include "util.h"

struct step {
	const char *expect;	/* command prefix; "." = end of DATA; NULL = greeting */
	const char *reply;	/* NULL = no reply (connection goes silent) */
};

struct fake {
	const struct step *script;
	size_t nsteps, pos;
	struct buf in;		/* client -> server, unprocessed */
	struct buf out;		/* server -> client, not yet fed */
	struct buf body;	/* last DATA received (stuffed form) */
	struct buf log;		/* every command line, '\n'-separated */
	int in_data;
	int mismatch;
	char mismatch_what[200];
	int sends;		/* ops->send calls */
	int send2s;		/* ops->send2 calls (counted in sends too) */
	int bytewise;		/* feed replies one byte at a time */
	const char *inject;	/* appended after the STARTTLS 220 */

	/* client side observations */
	struct smtp_client *c;
	int ready, starttls, msg_done, closed, in_session;
	struct outcome closed_o;
	struct outcome rcpt[8];
	int rcpt_seen[8];
	int tls_ok, tls_verified;	/* what the "handshake" reports */
};

static void
server_reply(struct fake *f, const char *expect_got, size_t len)
{
	const struct step *s;

	if (f->pos >= f->nsteps) {
		f->mismatch = 1;
		snprintf(f->mismatch_what, sizeof(f->mismatch_what), "unexpected '%.*s'",
		    (int)len, expect_got);
		return;
	}
	s = &f->script[f->pos++];
	if (s->expect == NULL || len < strlen(s->expect) ||
	    memcmp(expect_got, s->expect, strlen(s->expect)) != 0) {
		f->mismatch = 1;
		snprintf(f->mismatch_what, sizeof(f->mismatch_what), "step %zu wanted '%s' got '%.*s'",
		    f->pos - 1, s->expect ? s->expect : "(greeting)", (int)len, expect_got);
		return;
	}
	if (s->reply) {
		buf_append_str(&f->out, s->reply);
		if (strncmp(s->expect, "STARTTLS", 8) == 0 && f->inject)
			buf_append_str(&f->out, f->inject);
	}
	if (strncmp(s->expect, "DATA", 4) == 0 && s->reply && strncmp(s->reply, "354", 3) == 0)
		f->in_data = 1;
}

/* Process complete lines the client sent. */
static void
server_run(struct fake *f)
{
	for (;;) {
		if (f->in_data) {
			const char *end = NULL;
			size_t i;

			if (f->in.len >= 3 && memcmp(f->in.data, ".\r\n", 3) == 0)
				end = f->in.data;
			for (i = 0; !end && i + 5 <= f->in.len; i++)
				if (memcmp(f->in.data + i, "\r\n.\r\n", 5) == 0)
					end = f->in.data + i + 2;
			if (end == NULL)
				return;
			buf_reset(&f->body);
			buf_append(&f->body, f->in.data, (size_t)(end - f->in.data) + 3);
			buf_consume(&f->in, (size_t)(end - f->in.data) + 3);
			f->in_data = 0;
			buf_append_str(&f->log, ".\n");
			server_reply(f, ".", 1);
			continue;
		} else {
			const char *nl = f->in.data ? memchr(f->in.data, '\n', f->in.len) : NULL;
			size_t n;

			if (nl == NULL)
				return;
			n = (size_t)(nl - f->in.data) + 1;
			buf_append(&f->log, f->in.data, n - 2);
			buf_append_str(&f->log, "\n");
			server_reply(f, f->in.data, n - 2);
			buf_consume(&f->in, n);
		}
	}
}

static void
op_send(void *arg, const char *data, size_t len)
{
	struct fake *f = arg;

	f->sends++;
	buf_append(&f->in, data, len);
}

static void
op_send2(void *arg, const char *a, size_t alen, const char *b, size_t blen)
{
	struct fake *f = arg;

	f->sends++;
	f->send2s++;
	buf_append(&f->in, a, alen);
	buf_append(&f->in, b, blen);
}

static void
op_starttls(void *arg)
{
	struct fake *f = arg;

	f->starttls++;
}

static void
op_ready(void *arg)
{
	struct fake *f = arg;

	f->ready++;
}

static void
op_rcpt_done(void *arg, size_t i, const struct outcome *o)
{
	struct fake *f = arg;

	if (i < 8) {
		f->rcpt[i] = *o;
		f->rcpt_seen[i]++;
	}
}

static void
op_msg_done(void *arg)
{
	struct fake *f = arg;

	f->msg_done++;
}

static void
op_closed(void *arg, const struct outcome *o, int in_session)
{
	struct fake *f = arg;

	f->closed++;
	f->closed_o = *o;
	f->in_session = in_session;
}

static const struct smtp_client_ops ops = {
	op_send, op_starttls, op_ready, op_rcpt_done, op_msg_done, op_closed, op_send2,
};

/* Move bytes both ways until nothing changes. */
static void
pump(struct fake *f)
{
	int changed = 1;

	while (changed && !f->mismatch) {
		changed = 0;
		if (f->in.len) {
			size_t before = f->in.len;
			server_run(f);
			changed |= f->in.len != before;
		}
		if (f->out.len) {
			struct buf tmp;
			size_t i;

			tmp = f->out;
			buf_init(&f->out, 0);
			if (f->bytewise)
				for (i = 0; i < tmp.len; i++)
					smtp_client_feed(f->c, tmp.data + i, 1);
			else
				smtp_client_feed(f->c, tmp.data, tmp.len);
			buf_free(&tmp);
			changed = 1;
		}
	}
}

static void
fake_start(struct fake *f, const struct step *script, size_t n, enum smtp_client_tls tls)
{
	struct smtp_client_params p = { "t1", "client.test", tls, 1000, 2000, 3000 };

	memset(f, 0, sizeof(*f));
	f->script = script;
	f->nsteps = n;
	buf_init(&f->in, 0);
	buf_init(&f->out, 0);
	buf_init(&f->body, 0);
	buf_init(&f->log, 0);
	f->c = smtp_client_new(&p, &ops, f);
	/* greeting */
	f->pos = 1;
	buf_append_str(&f->out, script[0].reply);
	pump(f);
}

static void
fake_end(struct fake *f)
{
	smtp_client_free(f->c);
	buf_free(&f->in);
	buf_free(&f->out);
	buf_free(&f->body);
	buf_free(&f->log);
}

static const struct smtp_client_rcpt two_rcpts[] = {
	{ "a@dest.test", "rfc822;a@dest.test", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE },
	{ "b@dest.test", NULL, 0 },
};

static struct smtp_client_msg
msg_of(const char *data, size_t nrcpts)
{
	struct smtp_client_msg m;

	memset(&m, 0, sizeof(m));
	m.sender = "s@src.test";
	m.rcpts = two_rcpts;
	m.nrcpts = nrcpts;
	m.data = data;
	m.len = strlen(data);
	return m;
}

#define START(f, script, tls) fake_start((f), (script), ARRAY_SIZE(script), (tls))

static void
test_plain(int bytewise)
{
	static const struct step s[] = {
		{ NULL, "220 mx ESMTP\r\n" },
		{ "EHLO client.test", "250-mx\r\n250 8BITMIME\r\n" },
		{ "MAIL FROM:<s@src.test>", "250 2.1.0 Ok\r\n" },
		{ "RCPT TO:<a@dest.test>", "250 2.1.5 Ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued as X\r\n" },
		{ "QUIT", "221 bye\r\n" },
	};
	struct smtp_client_msg m = msg_of("Subject: x\r\n\r\n.dot\r\nend\r\n", 1);
	struct outcome fail;
	struct fake f;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	f.bytewise = bytewise;
	ok(f.ready == 1 && smtp_client_state(f.c) == SMTPC_READY, "plain%s: ready after EHLO",
	    bytewise ? " bytewise" : "");
	is_int(smtp_client_timeout_ms(f.c), 0, "no timeout while idle");
	ok(smtp_client_send_msg(f.c, &m, &fail) == 0, "message accepted for sending");
	is_int(smtp_client_timeout_ms(f.c), 2000, "command timeout during the transaction");
	pump(&f);
	ok(!f.mismatch, "commands as scripted %s", f.mismatch_what);
	ok(f.rcpt_seen[0] == 1 && f.rcpt[0].kind == OUTCOME_OK && f.rcpt[0].code == 250 &&
	    f.msg_done == 1, "recipient delivered, message done");
	is_mem(f.body.data, f.body.len, "Subject: x\r\n\r\n..dot\r\nend\r\n.\r\n", 29,
	    "body dot-stuffed and terminated");
	is_int(f.send2s, 0, "a body with a line starting with '.': stuffed, not sent as it is");
	ok(strstr(f.log.data, "SIZE=") == NULL && strstr(f.log.data, "NOTIFY") == NULL,
	    "no SIZE / DSN parameters when not offered");
	smtp_client_quit(f.c);
	pump(&f);
	ok(f.closed == 1 && f.closed_o.kind == OUTCOME_OK && f.in_session, "QUIT closes cleanly");
	is_int(smtp_client_msgs(f.c), 1, "one message on this connection");
	fake_end(&f);
}

static void
test_pipelining(int bytewise)
{
	static const struct step s[] = {
		{ NULL, "220 mx ESMTP\r\n" },
		{ "EHLO", "250-mx\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-DSN\r\n250 8BITMIME\r\n" },
		{ "MAIL FROM:<s@src.test> SIZE=", "250 2.1.0 Ok\r\n" },
		{ "RCPT TO:<a@dest.test>", "250 2.1.5 Ok\r\n" },
		{ "RCPT TO:<b@dest.test>", "550 5.1.1 no such user\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued\r\n" },
	};
	struct smtp_client_msg m = msg_of("Subject: p\r\n\r\nbody", 2);
	struct outcome fail;
	struct fake f;
	int sends;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	f.bytewise = bytewise;
	m.eightbit = 1;
	m.envid = "ENV123";
	m.ret_full = 1;
	sends = f.sends;
	smtp_client_send_msg(f.c, &m, &fail);
	is_int(f.sends - sends, 1, "pipelining%s: MAIL, RCPTs and DATA in one write",
	    bytewise ? " bytewise" : "");
	pump(&f);
	ok(!f.mismatch, "commands as scripted %s", f.mismatch_what);
	ok(strstr(f.log.data, "MAIL FROM:<s@src.test> SIZE=18 BODY=8BITMIME RET=FULL ENVID=ENV123\n") != NULL,
	    "MAIL carries SIZE, BODY, RET, ENVID");
	ok(strstr(f.log.data, "RCPT TO:<a@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@dest.test\n") != NULL,
	    "RCPT carries NOTIFY and ORCPT");
	ok(f.rcpt[0].kind == OUTCOME_OK && f.rcpt[1].kind == OUTCOME_PERMFAIL &&
	    f.rcpt[1].code == 550 && strcmp(f.rcpt[1].enhanced, "5.1.1") == 0,
	    "per-recipient results: one delivered, one refused");
	is_mem(f.body.data, f.body.len, "Subject: p\r\n\r\nbody\r\n.\r\n", 23,
	    "missing final CRLF added");
	is_int(f.send2s, 1, "a body no line of which starts with '.': as it is, its end in the same write");
	fake_end(&f);
}

static void
test_helo_fallback(void)
{
	static const struct step s[] = {
		{ NULL, "220 old ESMTP\r\n" },
		{ "EHLO", "502 5.5.2 what?\r\n" },
		{ "HELO client.test", "250 hi\r\n" },
		{ "MAIL FROM:<s@src.test>", "250 ok\r\n" },
		{ "RCPT", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 ok\r\n" },
	};
	struct smtp_client_msg m = msg_of("x\r\n", 1);
	struct outcome fail;
	struct fake f;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	ok(f.ready == 1, "HELO after EHLO refused with 5xx");
	m.eightbit = 1;
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	ok(!f.mismatch && f.rcpt[0].kind == OUTCOME_OK, "delivery over HELO %s", f.mismatch_what);
	ok(strstr(f.log.data, "BODY=") == NULL, "no ESMTP parameters after HELO");
	fake_end(&f);
}

static void
test_refusals(void)
{
	static const struct step s[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250-mx\r\n250 SIZE 10\r\n" },
	};
	struct smtp_client_msg m = msg_of("this is longer than ten bytes\r\n", 1);
	struct outcome fail;
	struct fake f;
	int sends;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	sends = f.sends;
	ok(smtp_client_send_msg(f.c, &m, &fail) == -1 && fail.kind == OUTCOME_PERMFAIL &&
	    strcmp(fail.enhanced, "5.3.4") == 0, "too big for SIZE: permanent 5.3.4 before sending");
	m = msg_of("x\r\n", 1);
	m.smtputf8 = 1;
	ok(smtp_client_send_msg(f.c, &m, &fail) == -1 && fail.kind == OUTCOME_PERMFAIL &&
	    strcmp(fail.enhanced, "5.6.7") == 0, "needs SMTPUTF8, not offered: permanent 5.6.7");
	ok(f.sends == sends && smtp_client_state(f.c) == SMTPC_READY, "nothing sent, still ready");
	fake_end(&f);
}

static void
test_greetings(void)
{
	static const struct step s554[] = { { NULL, "554 5.7.1 go away\r\n" }, { "QUIT", NULL } };
	static const struct step s421[] = { { NULL, "421 4.3.2 busy\r\n" }, { "QUIT", NULL } };
	struct fake f;

	START(&f, s554, SMTP_CLIENT_TLS_MAY);
	ok(f.closed == 1 && !f.in_session && f.closed_o.kind == OUTCOME_PERMFAIL &&
	    f.closed_o.code == 554, "554 greeting: closed before a session, permanent");
	ok(strstr(f.log.data, "QUIT") != NULL, "QUIT sent after a 554 greeting");
	fake_end(&f);
	START(&f, s421, SMTP_CLIENT_TLS_MAY);
	ok(f.closed == 1 && !f.in_session && f.closed_o.kind == OUTCOME_TEMPFAIL,
	    "421 greeting: temporary, try another server");
	fake_end(&f);
}

static void
test_starttls(void)
{
	static const struct step s[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n" },
		{ "STARTTLS", "220 2.0.0 go ahead\r\n" },
		{ "EHLO", "250-mx\r\n250 PIPELINING\r\n" },
	};
	static const struct step refused[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250-mx\r\n250 STARTTLS\r\n" },
		{ "STARTTLS", "454 4.7.0 TLS not available\r\n" },
	};
	static const struct step none[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250-mx\r\n250 PIPELINING\r\n" },
	};
	struct fake f;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	ok(f.starttls == 1 && smtp_client_state(f.c) == SMTPC_TLS && f.ready == 0,
	    "may: STARTTLS sent, owner asked to handshake");
	smtp_client_tls_done(f.c, 1, 0, NULL);
	pump(&f);
	ok(f.ready == 1 && smtp_client_tls_active(f.c) && !f.mismatch,
	    "may: unverified certificate accepted, EHLO again, ready %s", f.mismatch_what);
	ok(smtp_client_ehlo(f.c)->ext == SMTP_EXT_PIPELINING, "extensions from the EHLO under TLS");
	fake_end(&f);

	START(&f, s, SMTP_CLIENT_TLS_VERIFY);
	smtp_client_tls_done(f.c, 1, 0, "self-signed");
	ok(f.closed == 1 && !f.in_session && strcmp(f.closed_o.enhanced, "4.7.5") == 0,
	    "verify: unverified certificate ends the session (4.7.5)");
	fake_end(&f);

	START(&f, s, SMTP_CLIENT_TLS_VERIFY);
	smtp_client_tls_done(f.c, 1, 1, NULL);
	pump(&f);
	ok(f.ready == 1 && f.closed == 0, "verify: verified certificate, ready");
	fake_end(&f);

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	smtp_client_tls_done(f.c, 0, 0, "handshake failure");
	ok(f.closed == 1 && !f.in_session && f.closed_o.kind == OUTCOME_TEMPFAIL,
	    "failed handshake ends the session before it starts");
	fake_end(&f);

	memset(&f, 0, sizeof(f));
	{
		struct smtp_client_params p = { "t2", "client.test", SMTP_CLIENT_TLS_MAY, 1, 2, 3 };
		f.script = s;
		f.nsteps = ARRAY_SIZE(s);
		f.inject = "250 injected\r\n";
		buf_init(&f.in, 0);
		buf_init(&f.out, 0);
		buf_init(&f.body, 0);
		buf_init(&f.log, 0);
		f.c = smtp_client_new(&p, &ops, &f);
		f.pos = 1;
		buf_append_str(&f.out, s[0].reply);
		pump(&f);
	}
	ok(f.closed == 1 && f.starttls == 0, "plaintext after the STARTTLS 220 is refused (injection)");
	fake_end(&f);

	START(&f, refused, SMTP_CLIENT_TLS_MAY);
	ok(f.ready == 1 && !smtp_client_tls_active(f.c), "may: STARTTLS refused, carry on in the clear");
	fake_end(&f);
	START(&f, refused, SMTP_CLIENT_TLS_ENCRYPT);
	ok(f.closed == 1 && !f.in_session, "encrypt: STARTTLS refused ends the session");
	fake_end(&f);
	START(&f, none, SMTP_CLIENT_TLS_ENCRYPT);
	ok(f.closed == 1 && strcmp(f.closed_o.enhanced, "4.7.4") == 0,
	    "encrypt: STARTTLS not offered ends the session (4.7.4)");
	fake_end(&f);
	START(&f, s, SMTP_CLIENT_TLS_NONE);
	ok(f.ready == 1 && f.starttls == 0 && strstr(f.log.data, "STARTTLS") == NULL,
	    "none: STARTTLS never sent");
	fake_end(&f);
}

static void
test_reuse(void)
{
	static const struct step s[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250-mx\r\n250 ENHANCEDSTATUSCODES\r\n" },
		{ "MAIL FROM:<s@src.test>", "250 ok\r\n" },
		{ "RCPT TO:<a@dest.test>", "550 5.1.1 unknown\r\n" },
		{ "RSET", "250 ok\r\n" },
		{ "MAIL FROM:<s@src.test>", "250 ok\r\n" },
		{ "RCPT TO:<a@dest.test>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 ok 1\r\n" },
		{ "MAIL FROM:<s@src.test>", "250 ok\r\n" },
		{ "RCPT TO:<a@dest.test>", "452 4.2.2 full\r\n" },
	};
	struct smtp_client_msg m = msg_of("x\r\n", 1);
	struct outcome fail;
	struct fake f;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	ok(f.msg_done == 1 && f.rcpt[0].kind == OUTCOME_PERMFAIL && strstr(f.log.data, "DATA") == NULL,
	    "all recipients refused: no DATA");
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	ok(!f.mismatch && f.msg_done == 2 && f.rcpt[0].kind == OUTCOME_OK,
	    "second message after RSET delivered %s", f.mismatch_what);
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	ok(!f.mismatch && f.msg_done == 3 && f.rcpt[0].kind == OUTCOME_TEMPFAIL && f.rcpt[0].code == 452,
	    "third message: no RSET after a completed one; 452 is a tempfail %s", f.mismatch_what);
	is_int(smtp_client_msgs(f.c), 3, "three messages on one connection");
	fake_end(&f);
}

static void
test_mail_refused_pipelined(void)
{
	static const struct step s[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250-mx\r\n250 PIPELINING\r\n" },
		{ "MAIL", "553 5.7.1 sender refused\r\n" },
		{ "RCPT", "503 5.5.1 need MAIL\r\n" },
		{ "RCPT", "503 5.5.1 need MAIL\r\n" },
		{ "DATA", "503 5.5.1 no valid recipients\r\n" },
		{ "RSET", "250 ok\r\n" },
		{ "MAIL", "250 ok\r\n" },
		{ "RCPT", "250 ok\r\n" },
		{ "RCPT", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 ok\r\n" },
	};
	struct smtp_client_msg m = msg_of("x\r\n", 2);
	struct outcome fail;
	struct fake f;

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	ok(f.msg_done == 1 && f.rcpt[0].code == 553 && f.rcpt[1].code == 553,
	    "pipelined refused MAIL: every recipient gets MAIL's reply");
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	ok(!f.mismatch && f.msg_done == 2 && f.rcpt[0].kind == OUTCOME_OK && f.rcpt[1].kind == OUTCOME_OK,
	    "RSET pipelined before the next MAIL %s", f.mismatch_what);
	fake_end(&f);
}

static void
test_failures(void)
{
	static const struct step s[] = {
		{ NULL, "220 mx\r\n" },
		{ "EHLO", "250 mx\r\n" },
		{ "MAIL", "250 ok\r\n" },
		{ "RCPT", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", NULL },
	};
	struct smtp_client_msg m = msg_of("x\r\n", 1);
	struct outcome fail;
	struct fake f;
	uint8_t garbage[] = "HTTP/1.1 400 Bad\r\n";

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	is_int(smtp_client_timeout_ms(f.c), 3000, "data timeout while waiting for the final reply");
	smtp_client_eof(f.c, "reset by peer");
	ok(f.rcpt_seen[0] == 1 && f.rcpt[0].kind == OUTCOME_TEMPFAIL && f.msg_done == 1 &&
	    f.closed == 1 && f.in_session, "connection lost after DATA: recipient deferred");
	is_int(smtp_client_msgs(f.c), 0, "a lost message does not count as completed");
	fake_end(&f);

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	smtp_client_send_msg(f.c, &m, &fail);
	pump(&f);
	smtp_client_timeout(f.c);
	ok(f.rcpt[0].kind == OUTCOME_TEMPFAIL && strstr(f.rcpt[0].text, "timeout") != NULL &&
	    f.closed == 1, "timeout: recipient deferred, session closed");
	fake_end(&f);

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	is_int(f.ready, 1, "ready");
	smtp_client_feed(f.c, "421 4.3.2 shutting down\r\n", 25);
	ok(f.closed == 1 && f.closed_o.code == 421, "unsolicited 421 while idle closes");
	fake_end(&f);

	START(&f, s, SMTP_CLIENT_TLS_MAY);
	smtp_client_send_msg(f.c, &m, &fail);
	smtp_client_feed(f.c, (const char *)garbage, sizeof(garbage) - 1);
	ok(f.closed == 1 && f.rcpt[0].kind == OUTCOME_TEMPFAIL, "garbage reply: protocol error, deferred");
	fake_end(&f);
}

static void
test_stuff(void)
{
	struct buf b;

	buf_init(&b, 0);
	smtp_client_stuff(&b, ".a\r\n..b\r\nc.\r\n.", 14);
	is_mem(b.data, b.len, "..a\r\n...b\r\nc.\r\n..\r\n.\r\n", 22, "dot-stuffing at every line start");
	buf_reset(&b);
	smtp_client_stuff(&b, "", 0);
	is_mem(b.data, b.len, ".\r\n", 3, "empty body");
	buf_free(&b);
	ok(smtp_client_needs_stuffing(".a", 2) && smtp_client_needs_stuffing("a\r\n.b", 5) &&
	    smtp_client_needs_stuffing("a\n.", 3) && !smtp_client_needs_stuffing("", 0) &&
	    !smtp_client_needs_stuffing("a.b\r\nc.\r\n", 10) &&
	    !smtp_client_needs_stuffing("a\r\n", 3),
	    "stuffing needed exactly when a line starts with '.'");
	{
		char big[5000];
		size_t i;

		for (i = 0; i < sizeof(big); i++)	/* "x.y.\r\n" lines: dots, none first */
			big[i] = "x.y.\r\n"[i % 6];
		ok(!smtp_client_needs_stuffing(big, sizeof(big)), "a long body with dots inside lines only");
		big[4998] = '.';	/* after the "\n" at 4997 */
		ok(smtp_client_needs_stuffing(big, sizeof(big)) &&
		    !smtp_client_needs_stuffing(big, 4998), "and with one line starting with '.' near its end");
	}
}

int
main(void)
{
	plan(11 * 2 + 7 * 2 + 3 + 3 + 3 + 11 + 4 + 2 + 7 + 5);
	test_plain(0);
	test_plain(1);
	test_pipelining(0);
	test_pipelining(1);
	test_helo_fallback();
	test_refusals();
	test_greetings();
	test_starttls();
	test_reuse();
	test_mail_refused_pipelined();
	test_failures();
	test_stuff();
	return done();
}
