/* SPDX-License-Identifier: ISC */
/*
 * server.c: the SMTP server session state machine (RFC 5321, with
 * PIPELINING 2920, SIZE 1870, 8BITMIME 6152, SMTPUTF8 6531,
 * ENHANCEDSTATUSCODES 2034, DSN 3461, CHUNKING 3030, STARTTLS 3207,
 * AUTH 4954).  It is transport-agnostic: src/relay.c feeds it the
 * plaintext it reads and gets reply bytes through a write callback;
 * every decision that needs the outside world is a callback that may
 * answer later (include/smtp.h).
 *
 * Shape (STYLE rule 4): enum smtp_state, smtp_enter_state() logs each
 * transition, and a command table {verb, allowed states, check, policy,
 * proceed}.  check validates syntax and limits without side effects on
 * the session's state, policy asks the owner (and may be pending), and
 * only proceed changes state and sends the reply.  While a callback is
 * pending no input is consumed: pipelined commands stay in s->in, in
 * order, and run when the owner calls smtp_session_resume().
 *
 * Input discipline (STYLE rule 9): command lines are capped before they
 * complete (SMTP_CMD_LINE_MAX, AUTH lines SMTP_AUTH_LINE_MAX); a longer
 * line is answered 500 5.5.6 once and discarded as it streams in.  The
 * message text goes through data.c as it arrives.  After STARTTLS every
 * byte already received is dropped (RFC 3207 §5, CVE-2011-0411).
 * Decoded AUTH data lives only for the on_auth call and is wiped.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "smtp_int.h"
#include "util.h"

enum pend { P_NONE, P_CONNECT, P_COMMAND, P_AUTH, P_MESSAGE };
enum auth_mech { AUTH_PLAIN = 1, AUTH_LOGIN };

struct smtp_command;

struct smtp_session {
	char *id;			/* owned */
	char *hostname;			/* owned */
	char *banner;			/* owned: smtpd_banner */
	struct smtp_callbacks cb;
	void *arg;			/* borrowed; the owner's */
	int tls_available, tls_active, auth_in_clear;
	int normalize;			/* smtpd_bare_line_ending = normalize */
	uint64_t size_limit;
	size_t max_rcpts;
	int max_errors;
	uint64_t params_size;		/* the params' limits: the caps of set_limits() */
	size_t params_rcpts;

	enum smtp_state state;
	int esmtp;			/* EHLO rather than HELO */
	char *helo;			/* owned */
	char *auth_user;		/* owned */
	struct smtp_envelope env;
	int errors;

	struct buf in;			/* received, not yet consumed */
	struct buf msg;			/* the message text being received */
	struct smtp_data data;
	int processing;			/* process() is on the stack */
	int discard_line;		/* inside an over-long command line */
	unsigned starttls_gen;		/* bumped by STARTTLS: drop pending input */
	int close_called;

	/* the pending callback */
	enum pend pending;
	const struct smtp_command *pcmd;
	int in_callback;		/* guards against resume() from inside a callback */
	int inline_done;
	struct outcome inline_out;

	/* scratch of the command between check and proceed */
	char *helo_arg;
	struct smtp_mail_args mail;
	struct smtp_rcpt_args rcpt;
	struct smtp_rcpt cand;		/* points into rcpt */

	/* BDAT */
	uint64_t chunk_left;
	uint64_t chunk_size;
	int chunk_last;
	int chunk_skip;			/* read and drop this chunk, then answer chunk_err */
	struct outcome chunk_err;
	enum smtp_state chunk_prev;

	/* AUTH exchange */
	enum auth_mech auth_mech;
	char *auth_login;		/* owned, wiped: LOGIN user name */
	char *auth_authcid;		/* owned: identity being verified */
	const char *auth_arg;		/* borrowed: AUTH's argument, check → proceed only */
	size_t auth_arglen;
	size_t msg_size;		/* for the log line after on_message */
	size_t last_text;		/* the session's previous message, octets */
};

/* The most message text start_text() reserves ahead (1 MiB): enough for
 * the mail of a session that sends alike messages, no more held for a
 * session that once sent a large one. */
#define TEXT_RESERVE_MAX (1u << 20)

#define ST(x) (1u << SMTP_STATE_##x)
#define ST_SESSION (ST(GREETED) | ST(IDLE) | ST(MAIL) | ST(RCPT))

static void process(struct smtp_session *s);
static void dispatch(struct smtp_session *s, const char *line, size_t len);

const char *
smtp_strstate(enum smtp_state st)
{
	switch (st) {
	case SMTP_STATE_CONNECT: return "connect";
	case SMTP_STATE_GREETED: return "greeted";
	case SMTP_STATE_IDLE: return "idle";
	case SMTP_STATE_MAIL: return "mail";
	case SMTP_STATE_RCPT: return "rcpt";
	case SMTP_STATE_DATA: return "data";
	case SMTP_STATE_CHUNKING: return "chunking";
	case SMTP_STATE_BDAT: return "bdat";
	case SMTP_STATE_AUTH: return "auth";
	case SMTP_STATE_CLOSED: return "closed";
	}
	return "unknown";
}

/* The one place the state changes. */
static void
smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	/* Nothing leaves CLOSED: a refusal may have closed the session
	 * (too many errors) on the way to a state change. */
	if (s->state == st || s->state == SMTP_STATE_CLOSED)
		return;
	log_debug("sid=%s event=state from=%s to=%s", s->id, smtp_strstate(s->state),
	    smtp_strstate(st));
	s->state = st;
}

/* ---- replies ---- */

static void
send_raw(struct smtp_session *s, const char *p, size_t n)
{
	if (s->cb.write)
		s->cb.write(s->arg, p, n);
}

/*
 * One reply line "CODE[ ENH] TEXT" CRLF from an outcome; no enhanced
 * code when the outcome has none (220 greeting, 250 HELO, 334, 354:
 * RFC 2034 §3).  TEXT replaces the outcome's text when not NULL.
 */
static void
reply_line(struct smtp_session *s, const struct outcome *o, const char *text)
{
	char line[600];
	const char *t = text ? text : o->text;
	size_t n, el, tl;

	if (s->state == SMTP_STATE_CLOSED)
		return;	/* e.g. the owner shut the session down from a callback */
	/* built by hand: one snprintf per reply line was a tenth of the
	 * relay path's formatting cost (issue 20) */
	if (o->code >= 0 && o->code <= 999) {
		line[0] = (char)('0' + o->code / 100);
		line[1] = (char)('0' + o->code / 10 % 10);
		line[2] = (char)('0' + o->code % 10);
		n = 3;
	} else
		n = (size_t)snprintf(line, 16, "%d", o->code);
	line[n++] = ' ';
	if (o->enhanced[0]) {
		el = strnlen(o->enhanced, sizeof(o->enhanced));
		memcpy(line + n, o->enhanced, el);
		n += el;
		line[n++] = ' ';
	}
	tl = strlen(t);
	if (tl > sizeof(line) - 3 - n)
		tl = sizeof(line) - 3 - n;
	memcpy(line + n, t, tl);
	n += tl;
	line[n++] = '\r';
	line[n++] = '\n';
	send_raw(s, line, n);
}

/* A reply from the catalogue (include/outcome.h); DETAIL fills its %s. */
static void
reply(struct smtp_session *s, enum reply_id r, const char *detail)
{
	struct outcome o;

	outcome_reply(&o, r, detail);
	reply_line(s, &o, NULL);
}

static void
close_session(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_CLOSED)
		return;
	smtp_enter_state(s, SMTP_STATE_CLOSED);
	s->pending = P_NONE;
	if (!s->close_called) {
		s->close_called = 1;
		if (s->cb.on_close)
			s->cb.on_close(s->arg);
	}
}

/* Make an owner's outcome safe to send: code in the kind's class, an
 * enhanced code, no control characters. */
static void
clean_outcome(const struct outcome *in, struct outcome *o)
{
	char *p;

	*o = *in;
	o->enhanced[sizeof(o->enhanced) - 1] = '\0';
	o->text[sizeof(o->text) - 1] = '\0';
	for (p = o->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	for (p = o->enhanced; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			o->enhanced[0] = '\0';
	if (o->kind == OUTCOME_TEMPFAIL && (o->code < 400 || o->code > 499))
		o->code = 451;
	if (o->kind == OUTCOME_PERMFAIL && (o->code < 500 || o->code > 599))
		o->code = 554;
	if (o->kind == OUTCOME_TEMPFAIL && o->enhanced[0] != '4')
		str_copy(o->enhanced, "4.0.0", sizeof(o->enhanced));
	if (o->kind == OUTCOME_PERMFAIL && o->enhanced[0] != '5')
		str_copy(o->enhanced, "5.0.0", sizeof(o->enhanced));
}

static int
outcome_is_ok(const struct outcome *o)
{
	return o->kind == OUTCOME_OK || o->kind == OUTCOME_HOLD;
}

/* A refusal.  5xx replies count towards smtpd_max_errors; 421 closes. */
static void
reply_error(struct smtp_session *s, const char *cmd, const struct outcome *in)
{
	struct outcome o;

	clean_outcome(in, &o);
	if (o.kind == OUTCOME_OK || o.kind == OUTCOME_HOLD)
		outcome_reply(&o, R_LOCAL_ERROR);
	reply_line(s, &o, o.text[0] ? NULL : "Error");
	log_info("sid=%s event=reject cmd=%s code=%d status=%s", s->id, cmd, o.code,
	    o.enhanced);
	if (o.code == 421) {
		close_session(s);
		return;
	}
	if (o.code >= 500 && ++s->errors >= s->max_errors) {
		log_info("sid=%s event=too-many-errors errors=%d", s->id, s->errors);
		reply(s, R_TOO_MANY_ERRORS, s->hostname);
		close_session(s);
	}
}

/* A refusal of our own, from the catalogue. */
static void
reply_fail(struct smtp_session *s, const char *cmd, enum reply_id r, const char *detail)
{
	struct outcome o;

	outcome_reply(&o, r, detail);
	reply_error(s, cmd, &o);
}

/* An OK outcome: the code and enhanced code of catalogue entry R; the
 * owner's text when it was written for this reply code (or code 0),
 * else R's. */
static void
reply_ok(struct smtp_session *s, const struct outcome *in, enum reply_id r)
{
	struct outcome o, def;

	clean_outcome(in, &o);
	outcome_reply(&def, r, NULL);
	reply_line(s, &def, o.text[0] && (o.code == def.code || o.code == 0) ? o.text : NULL);
}

/* ---- callbacks ---- */

static void
cb_enter(struct smtp_session *s, struct outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = OUTCOME_OK;
	s->in_callback = 1;
	s->inline_done = 0;
}

/* After a callback returned R: an inline resume() counts as an answer. */
static int
cb_leave(struct smtp_session *s, int r, struct outcome *out)
{
	s->in_callback = 0;
	if (s->inline_done) {
		s->inline_done = 0;
		*out = s->inline_out;
		return SMTP_DONE;
	}
	return r == SMTP_PENDING ? SMTP_PENDING : SMTP_DONE;
}

/* ---- transaction ---- */

static void
txn_reset(struct smtp_session *s)
{
	size_t i;

	free(s->env.sender);
	for (i = 0; i < s->env.nrcpts; i++) {
		free(s->env.rcpts[i].addr);
		free(s->env.rcpts[i].orcpt);
	}
	free(s->env.rcpts);
	free(s->env.envid);
	memset(&s->env, 0, sizeof(s->env));
	buf_free(&s->msg);
}

static void
idle(struct smtp_session *s)
{
	txn_reset(s);
	smtp_enter_state(s, s->helo ? SMTP_STATE_IDLE : SMTP_STATE_GREETED);
}

/* ---- connect ---- */

static void
connect_done(struct smtp_session *s, const struct outcome *o)
{
	if (!outcome_is_ok(o)) {
		struct outcome c;
		clean_outcome(o, &c);
		reply_line(s, &c, c.text[0] ? NULL : "Service unavailable");
		log_info("sid=%s event=reject cmd=CONNECT code=%d status=%s", s->id, c.code,
		    c.enhanced);
		close_session(s);
		return;
	}
	/* The greeting carries no enhanced code (RFC 2034 §3). */
	{
		struct outcome g;
		char text[512];	/* a long banner is not cut at sizeof(g.text) */

		outcome_reply(&g, R_GREETING, NULL);
		snprintf(text, sizeof(text), "%s %s", s->hostname, s->banner);
		reply_line(s, &g, text);
	}
	smtp_enter_state(s, SMTP_STATE_GREETED);
}

/* ---- HELO / EHLO (RFC 5321 §4.1.1.1) ---- */

static int
check_helo(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	size_t i;

	char usage[32];

	snprintf(usage, sizeof(usage), "%s hostname", c->name);
	if (c->arglen == 0 || c->arglen > SMTP_DOMAIN_MAX) {
		outcome_reply(out, R_SYNTAX_USAGE, usage);
		return -1;
	}
	for (i = 0; i < c->arglen; i++) {
		unsigned char ch = (unsigned char)c->arg[i];
		if (ch <= ' ' || ch >= 0x7f) {
			outcome_reply(out, R_SYNTAX_USAGE, usage);
			return -1;
		}
	}
	free(s->helo_arg);
	s->helo_arg = xstrndup(c->arg, c->arglen);
	return 0;
}

static int
auth_offered(const struct smtp_session *s)
{
	return s->cb.on_auth && !s->auth_user && (s->tls_active || s->auth_in_clear);
}

static void
greet(struct smtp_session *s, int esmtp)
{
	/* RFC 5321 §4.1.4: EHLO/HELO also resets any transaction. */
	txn_reset(s);
	free(s->helo);
	s->helo = s->helo_arg;
	s->helo_arg = NULL;
	s->esmtp = esmtp;
	smtp_enter_state(s, SMTP_STATE_IDLE);
}

static void
proceed_helo(struct smtp_session *s, const struct outcome *o)
{
	greet(s, 0);
	reply(s, R_HELO_OK, s->hostname);
}

static void
proceed_ehlo(struct smtp_session *s, const struct outcome *o)
{
	struct buf b;

	greet(s, 1);
	buf_init(&b, 0);
	buf_printf(&b, "250-%s\r\n", s->hostname);
	buf_append_str(&b, "250-PIPELINING\r\n");
	buf_printf(&b, "250-SIZE %llu\r\n", (unsigned long long)s->size_limit);
	buf_append_str(&b, "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-DSN\r\n");
	if (s->tls_available && !s->tls_active && s->cb.on_starttls)
		buf_append_str(&b, "250-STARTTLS\r\n");
	if (auth_offered(s))
		buf_append_str(&b, "250-AUTH PLAIN LOGIN\r\n");
	buf_append_str(&b, "250 CHUNKING\r\n");
	send_raw(s, b.data, b.len);
	buf_free(&b);
}

/* ---- MAIL (RFC 5321 §4.1.1.2) ---- */

static int
check_mail(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	if (smtp_parse_mail(c->arg, c->arglen, &s->mail, out) != 0)
		return -1;
	if (!s->esmtp && s->mail.has_params) {
		outcome_reply(out, R_PARAMS_NEED_EHLO, "MAIL");
		return -1;
	}
	/* RFC 1870 §6.2: a declared size over the limit is refused at MAIL. */
	if (s->mail.size > s->size_limit) {
		outcome_reply(out, R_MESSAGE_TOO_BIG);
		return -1;
	}
	return 0;
}

static int
policy_mail(struct smtp_session *s, struct outcome *out)
{
	int r;

	txn_reset(s);
	s->env.sender = xstrdup(s->mail.addr);
	s->env.declared_size = s->mail.size;
	s->env.body = s->mail.body;
	s->env.smtputf8 = s->mail.smtputf8;
	s->env.ret = s->mail.ret;
	s->env.envid = s->mail.has_envid ? xstrdup(s->mail.envid) : NULL;
	if (!s->cb.on_mail) {
		memset(out, 0, sizeof(*out));
		return SMTP_DONE;
	}
	cb_enter(s, out);
	r = s->cb.on_mail(s->arg, &s->env, out);
	return cb_leave(s, r, out);
}

static void
proceed_mail(struct smtp_session *s, const struct outcome *o)
{
	if (!outcome_is_ok(o)) {
		txn_reset(s);
		reply_error(s, "MAIL", o);
		return;
	}
	smtp_enter_state(s, SMTP_STATE_MAIL);
	reply_ok(s, o, R_MAIL_OK);
}

/* ---- RCPT (RFC 5321 §4.1.1.3) ---- */

static int
check_rcpt(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	if (smtp_parse_rcpt(c->arg, c->arglen, s->env.smtputf8, &s->rcpt, out) != 0)
		return -1;
	if (!s->esmtp && s->rcpt.has_params) {
		outcome_reply(out, R_PARAMS_NEED_EHLO, "RCPT");
		return -1;
	}
	/* RFC 5321 §4.5.3.1.10: too many recipients is a 452, not an error. */
	if (s->env.nrcpts >= s->max_rcpts) {
		outcome_reply(out, R_TOO_MANY_RECIPIENTS);
		return -1;
	}
	return 0;
}

static int
policy_rcpt(struct smtp_session *s, struct outcome *out)
{
	int r;

	s->cand.addr = s->rcpt.addr;
	s->cand.orcpt = s->rcpt.has_orcpt ? s->rcpt.orcpt : NULL;
	s->cand.notify = s->rcpt.notify;
	if (!s->cb.on_rcpt) {
		memset(out, 0, sizeof(*out));
		return SMTP_DONE;
	}
	cb_enter(s, out);
	r = s->cb.on_rcpt(s->arg, &s->env, &s->cand, out);
	return cb_leave(s, r, out);
}

static void
proceed_rcpt(struct smtp_session *s, const struct outcome *o)
{
	struct smtp_rcpt *r;

	if (!outcome_is_ok(o)) {
		reply_error(s, "RCPT", o);
		return;
	}
	s->env.rcpts = xrealloc(s->env.rcpts, (s->env.nrcpts + 1) * sizeof(*s->env.rcpts));
	r = &s->env.rcpts[s->env.nrcpts++];
	r->addr = xstrdup(s->cand.addr);
	r->orcpt = s->cand.orcpt ? xstrdup(s->cand.orcpt) : NULL;
	r->notify = s->cand.notify;
	smtp_enter_state(s, SMTP_STATE_RCPT);
	reply_ok(s, o, R_RCPT_OK);
}

/* ---- DATA (RFC 5321 §4.1.1.4) ---- */

static int
check_noarg(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	if (c->arglen != 0) {
		outcome_reply(out, R_SYNTAX_USAGE, c->name);
		return -1;
	}
	return 0;
}

static int
policy_data(struct smtp_session *s, struct outcome *out)
{
	int r;

	if (!s->cb.on_data) {
		memset(out, 0, sizeof(*out));
		return SMTP_DONE;
	}
	cb_enter(s, out);
	r = s->cb.on_data(s->arg, &s->env, out);
	return cb_leave(s, r, out);
}

static void
start_text(struct smtp_session *s, int dotted)
{
	size_t hint = s->env.declared_size > 0 && s->env.declared_size < TEXT_RESERVE_MAX ?
	    (size_t)s->env.declared_size : s->last_text;

	buf_free(&s->msg);
	buf_init(&s->msg, s->size_limit);
	/* the text's room at once (SIZE=, else the session's previous
	 * message): issue 20, a 10 KiB message grew its buffer from 64
	 * octets in nine reallocs, copying it each time */
	if (hint > 0)
		(void)buf_reserve(&s->msg, hint < TEXT_RESERVE_MAX ? hint : TEXT_RESERVE_MAX);
	smtp_data_init(&s->data, &s->msg, dotted, s->normalize);
}

static void
proceed_data(struct smtp_session *s, const struct outcome *o)
{
	if (!outcome_is_ok(o)) {
		reply_error(s, "DATA", o);
		idle(s);
		return;
	}
	start_text(s, 1);
	smtp_enter_state(s, SMTP_STATE_DATA);
	reply(s, R_DATA_GO_AHEAD, NULL);
}

static void
message_done(struct smtp_session *s, const struct outcome *o)
{
	if (outcome_is_ok(o)) {
		log_info("sid=%s event=accepted rcpts=%zu size=%zu", s->id, s->env.nrcpts,
		    s->msg_size);
		reply_ok(s, o, R_SUCCESS);
	} else {
		reply_error(s, s->env.chunking ? "BDAT" : "DATA", o);
	}
	if (s->state != SMTP_STATE_CLOSED)
		idle(s);
	else
		txn_reset(s);
}

/* The text is complete (end of DATA, last BDAT chunk). */
static void
text_done(struct smtp_session *s)
{
	struct outcome out;
	int r;

	if (s->data.error != SMTP_DATA_OK) {
		smtp_data_outcome(&s->data, &out);
		reply_error(s, s->env.chunking ? "BDAT" : "DATA", &out);
		if (s->state != SMTP_STATE_CLOSED)
			idle(s);
		return;
	}
	if (!s->cb.on_message) {
		outcome_reply(&out, R_LOCAL_ERROR);	/* no on_message: a broken owner */
		message_done(s, &out);
		return;
	}
	s->msg_size = s->msg.len;
	s->last_text = s->msg.len;
	cb_enter(s, &out);
	r = s->cb.on_message(s->arg, &s->env, &s->msg, &out);
	if (cb_leave(s, r, &out) == SMTP_PENDING) {
		s->pending = P_MESSAGE;
		return;
	}
	message_done(s, &out);
}

/* ---- BDAT (RFC 3030 §2) ---- */

static int
check_bdat(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	uint64_t size;
	int last;

	if (smtp_parse_bdat(c->arg, c->arglen, &size, &last) != 0) {
		outcome_reply(out, R_SYNTAX_USAGE, "BDAT size [LAST]");
		return -1;
	}
	/* From here on the chunk's octets must be read whatever the answer. */
	s->chunk_left = size;
	s->chunk_size = size;
	s->chunk_last = last;
	s->chunk_skip = 0;
	s->chunk_prev = s->state;
	if (s->state == SMTP_STATE_GREETED)
		outcome_reply(&s->chunk_err, R_BAD_SEQUENCE_NEED_HELO);
	else if (s->state == SMTP_STATE_IDLE)
		outcome_reply(&s->chunk_err, R_BAD_SEQUENCE_NEED_MAIL);
	else if (s->state == SMTP_STATE_MAIL)
		outcome_reply(&s->chunk_err, R_NO_VALID_RECIPIENTS);
	else if (size > s->size_limit ||
	    (s->state == SMTP_STATE_CHUNKING && s->msg.len > s->size_limit - size))
		outcome_reply(&s->chunk_err, R_MESSAGE_TOO_BIG);
	else
		return 0;
	s->chunk_skip = 1;
	return 0;
}

static int
policy_bdat(struct smtp_session *s, struct outcome *out)
{
	if (!s->chunk_skip && s->state == SMTP_STATE_RCPT)
		return policy_data(s, out);
	memset(out, 0, sizeof(*out));
	return SMTP_DONE;
}

static void chunk_done(struct smtp_session *s);

static void
proceed_bdat(struct smtp_session *s, const struct outcome *o)
{
	if (!s->chunk_skip && !outcome_is_ok(o)) {
		s->chunk_skip = 1;
		clean_outcome(o, &s->chunk_err);
	}
	if (!s->chunk_skip && s->state == SMTP_STATE_RCPT) {
		start_text(s, 0);
		s->env.chunking = 1;
	}
	smtp_enter_state(s, SMTP_STATE_BDAT);
	if (s->chunk_left == 0)
		chunk_done(s);
}

static void
chunk_done(struct smtp_session *s)
{
	struct outcome out;

	if (s->chunk_skip) {
		out = s->chunk_err;
		if (s->chunk_prev == SMTP_STATE_GREETED || s->chunk_prev == SMTP_STATE_IDLE)
			smtp_enter_state(s, s->chunk_prev);
		else
			idle(s);	/* RFC 3030 §2: a failed chunk ends the transaction */
		reply_error(s, "BDAT", &out);
		return;
	}
	if (s->data.error != SMTP_DATA_OK) {
		text_done(s);
		return;
	}
	if (!s->chunk_last) {
		smtp_enter_state(s, SMTP_STATE_CHUNKING);
		char n[24];

		snprintf(n, sizeof(n), "%llu", (unsigned long long)s->chunk_size);
		reply(s, R_CHUNK_RECEIVED, n);
		return;
	}
	smtp_data_finish(&s->data);
	text_done(s);
}

/* ---- RSET, NOOP, QUIT, HELP, VRFY, EXPN ---- */

static void
proceed_rset(struct smtp_session *s, const struct outcome *o)
{
	idle(s);
	reply(s, R_SUCCESS, NULL);
}

static void
proceed_noop(struct smtp_session *s, const struct outcome *o)
{
	reply(s, R_SUCCESS, NULL);
}

static void
proceed_quit(struct smtp_session *s, const struct outcome *o)
{
	reply(s, R_CLOSING, NULL);
	txn_reset(s);
	close_session(s);
}

static void
proceed_help(struct smtp_session *s, const struct outcome *o)
{
	reply(s, R_HELP, NULL);
}

static int
check_vrfy(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	if (c->arglen == 0) {
		outcome_reply(out, R_SYNTAX_USAGE, "VRFY address");
		return -1;
	}
	return 0;
}

/* RFC 5321 §3.5.3: 252, never a real answer (no address harvesting). */
static void
proceed_vrfy(struct smtp_session *s, const struct outcome *o)
{
	reply(s, R_VRFY_CANNOT, NULL);
}

static void
proceed_expn(struct smtp_session *s, const struct outcome *o)
{
	reply_fail(s, "EXPN", R_EXPN_DISABLED, NULL);
}

/* ---- STARTTLS (RFC 3207) ---- */

static int
check_starttls(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	if (check_noarg(s, c, out) != 0)
		return -1;
	if (s->tls_active) {
		outcome_reply(out, R_TLS_ALREADY_ACTIVE);
		return -1;
	}
	if (!s->tls_available || !s->cb.on_starttls) {
		outcome_reply(out, R_STARTTLS_UNAVAILABLE);
		return -1;
	}
	return 0;
}

static void
proceed_starttls(struct smtp_session *s, const struct outcome *o)
{
	reply(s, R_STARTTLS_READY, NULL);
	/* RFC 3207 §4.2: forget everything learnt before TLS; §5: and drop
	 * whatever was pipelined after the command (CVE-2011-0411). */
	txn_reset(s);
	free(s->helo);
	s->helo = NULL;
	free(s->auth_user);
	s->auth_user = NULL;
	s->esmtp = 0;
	s->tls_active = 1;
	s->starttls_gen++;
	smtp_enter_state(s, SMTP_STATE_GREETED);
	s->cb.on_starttls(s->arg);
}

/* ---- AUTH (RFC 4954; PLAIN RFC 4616, LOGIN) ---- */

static void
auth_clear(struct smtp_session *s)
{
	if (s->auth_login) {
		crypto_wipe(s->auth_login, strlen(s->auth_login));
		free(s->auth_login);
		s->auth_login = NULL;
	}
	free(s->auth_authcid);
	s->auth_authcid = NULL;
	s->auth_mech = 0;
}

static int
check_auth(struct smtp_session *s, const struct smtp_cmd *c, struct outcome *out)
{
	size_t mlen;

	if (!s->cb.on_auth) {
		outcome_reply(out, R_AUTH_NOT_ENABLED);
		return -1;
	}
	if (s->auth_user) {
		outcome_reply(out, R_ALREADY_AUTHENTICATED);
		return -1;
	}
	if (!s->tls_active && !s->auth_in_clear) {
		outcome_reply(out, R_ENCRYPTION_REQUIRED);
		return -1;
	}
	for (mlen = 0; mlen < c->arglen && c->arg[mlen] != ' '; mlen++)
		;
	if (mlen == 0) {
		outcome_reply(out, R_SYNTAX_USAGE, "AUTH mechanism");
		return -1;
	}
	if (!((mlen == 5 && mem_casecmp(c->arg, "PLAIN", 5) == 0) ||
	    (mlen == 5 && mem_casecmp(c->arg, "LOGIN", 5) == 0))) {
		outcome_reply(out, R_AUTH_MECH_UNKNOWN);
		return -1;
	}
	/* AUTH has no policy step, so the line is still there in proceed. */
	s->auth_arg = c->arg;
	s->auth_arglen = c->arglen;
	return 0;
}

static void
auth_fail(struct smtp_session *s, enum reply_id r)
{
	auth_clear(s);
	smtp_enter_state(s, SMTP_STATE_IDLE);
	reply_fail(s, "AUTH", r, NULL);
}

static void
auth_done(struct smtp_session *s, const struct outcome *o)
{
	smtp_enter_state(s, SMTP_STATE_IDLE);
	if (outcome_is_ok(o)) {
		s->auth_user = s->auth_authcid;
		s->auth_authcid = NULL;
		auth_clear(s);
		/* event=auth is logged once, by the owner (it knows the account) */
		reply_ok(s, o, R_AUTH_OK);
		return;
	}
	auth_clear(s);
	reply_error(s, "AUTH", o);
}

/* Hand the decoded credentials to the owner; wiped by the caller. */
static void
auth_verify(struct smtp_session *s, const char *authzid, const char *authcid,
    const char *password)
{
	struct outcome out;
	int r;

	free(s->auth_authcid);
	s->auth_authcid = xstrdup(authcid);
	cb_enter(s, &out);
	r = s->cb.on_auth(s->arg, s->auth_mech == AUTH_PLAIN ? "PLAIN" : "LOGIN", authzid,
	    authcid, password, &out);
	if (cb_leave(s, r, &out) == SMTP_PENDING) {
		s->pending = P_AUTH;
		return;
	}
	auth_done(s, &out);
}

/* One client response (initial response or a line after 334). */
static void
auth_response(struct smtp_session *s, const char *p, size_t len)
{
	unsigned char *dec;
	size_t cap = len / 4 * 3 + 1;
	int n;

	if (len == 1 && p[0] == '*') {
		auth_fail(s, R_AUTH_CANCELLED);
		return;
	}
	dec = xmalloc(cap + 1);
	if (len == 1 && p[0] == '=')
		n = 0;	/* RFC 4954 §4: "=" is an empty initial response */
	else
		n = smtp_base64_decode(p, len, dec, cap);
	if (n < 0) {
		free(dec);
		auth_fail(s, R_AUTH_BAD_BASE64);
		return;
	}
	dec[n] = '\0';
	if (s->auth_mech == AUTH_PLAIN) {
		/* RFC 4616 §2: [authzid] NUL authcid NUL passwd */
		unsigned char *z1 = memchr(dec, '\0', (size_t)n), *z2 = NULL;
		if (z1)
			z2 = memchr(z1 + 1, '\0', (size_t)n - (size_t)(z1 + 1 - dec));
		if (!z1 || !z2 || z2 == z1 + 1 || memchr(z2 + 1, '\0', (size_t)n - (size_t)(z2 + 1 - dec))) {
			crypto_wipe(dec, cap + 1);
			free(dec);
			auth_fail(s, R_AUTH_BAD_PLAIN);
			return;
		}
		auth_verify(s, (const char *)dec, (const char *)z1 + 1, (const char *)z2 + 1);
	} else if (!s->auth_login) {
		if (n == 0 || memchr(dec, '\0', (size_t)n)) {
			crypto_wipe(dec, cap + 1);
			free(dec);
			auth_fail(s, R_AUTH_BAD_USER);
			return;
		}
		s->auth_login = xstrdup((const char *)dec);
		smtp_enter_state(s, SMTP_STATE_AUTH);
		reply(s, R_AUTH_CHALLENGE, "UGFzc3dvcmQ6");	/* "Password:" */
	} else {
		if (memchr(dec, '\0', (size_t)n)) {
			crypto_wipe(dec, cap + 1);
			free(dec);
			auth_fail(s, R_AUTH_BAD_PASSWORD);
			return;
		}
		auth_verify(s, "", s->auth_login, (const char *)dec);
	}
	crypto_wipe(dec, cap + 1);
	free(dec);
}

/* Start the exchange: an initial response (RFC 4954 §4) or a 334 prompt. */
static void
proceed_auth(struct smtp_session *s, const struct outcome *o)
{
	const char *arg = s->auth_arg;
	size_t arglen = s->auth_arglen, mlen, i;

	s->auth_arg = NULL;
	for (mlen = 0; mlen < arglen && arg[mlen] != ' '; mlen++)
		;
	auth_clear(s);
	s->auth_mech = mem_casecmp(arg, "PLAIN", 5) == 0 ? AUTH_PLAIN : AUTH_LOGIN;
	for (i = mlen; i < arglen && arg[i] == ' '; i++)
		;
	if (i < arglen) {
		auth_response(s, arg + i, arglen - i);
		return;
	}
	smtp_enter_state(s, SMTP_STATE_AUTH);
	if (s->auth_mech == AUTH_PLAIN)
		reply(s, R_AUTH_CHALLENGE, "");
	else
		reply(s, R_AUTH_CHALLENGE, "VXNlcm5hbWU6");	/* "Username:" */
}

/* ---- the command table ---- */

struct smtp_command {
	enum smtp_verb verb;
	unsigned states;	/* ST() bits where the verb is in sequence */
	int (*check)(struct smtp_session *, const struct smtp_cmd *, struct outcome *);
	int (*policy)(struct smtp_session *, struct outcome *);
	void (*proceed)(struct smtp_session *, const struct outcome *);
};

static const struct smtp_command commands[] = {
	{ SMTP_V_EHLO, ST_SESSION, check_helo, NULL, proceed_ehlo },
	{ SMTP_V_HELO, ST_SESSION, check_helo, NULL, proceed_helo },
	{ SMTP_V_MAIL, ST(IDLE), check_mail, policy_mail, proceed_mail },
	{ SMTP_V_RCPT, ST(MAIL) | ST(RCPT), check_rcpt, policy_rcpt, proceed_rcpt },
	{ SMTP_V_DATA, ST(RCPT), check_noarg, policy_data, proceed_data },
	{ SMTP_V_BDAT, ST_SESSION | ST(CHUNKING), check_bdat, policy_bdat, proceed_bdat },
	{ SMTP_V_RSET, ST_SESSION | ST(CHUNKING), check_noarg, NULL, proceed_rset },
	{ SMTP_V_NOOP, ST_SESSION | ST(CHUNKING), NULL, NULL, proceed_noop },
	{ SMTP_V_QUIT, ST_SESSION | ST(CHUNKING), NULL, NULL, proceed_quit },
	{ SMTP_V_HELP, ST_SESSION, NULL, NULL, proceed_help },
	{ SMTP_V_VRFY, ST_SESSION, check_vrfy, NULL, proceed_vrfy },
	{ SMTP_V_EXPN, ST_SESSION, NULL, NULL, proceed_expn },
	{ SMTP_V_STARTTLS, ST(GREETED) | ST(IDLE), check_starttls, NULL, proceed_starttls },
	{ SMTP_V_AUTH, ST(IDLE), check_auth, NULL, proceed_auth },
};

/* 503 (or 554) with a hint of what was expected. */
static void
bad_sequence(struct smtp_session *s, const struct smtp_cmd *c)
{
	enum reply_id why = R_BAD_SEQUENCE;

	if (s->state == SMTP_STATE_CHUNKING)
		why = R_BAD_SEQUENCE_IN_BDAT;
	else if (s->state == SMTP_STATE_GREETED)
		why = R_BAD_SEQUENCE_NEED_HELO;
	else if (c->verb == SMTP_V_MAIL)
		why = R_BAD_SEQUENCE_NESTED_MAIL;
	else if (s->state == SMTP_STATE_IDLE && (c->verb == SMTP_V_RCPT || c->verb == SMTP_V_DATA))
		why = R_BAD_SEQUENCE_NEED_MAIL;
	else if (c->verb == SMTP_V_DATA && s->state == SMTP_STATE_MAIL)
		why = R_NO_VALID_RECIPIENTS;	/* RFC 5321 §3.3: 554, no valid recipient */
	else if (c->verb == SMTP_V_AUTH || c->verb == SMTP_V_STARTTLS)
		why = R_BAD_SEQUENCE_IN_TRANSACTION;
	reply_fail(s, c->name, why, NULL);
}

static void
dispatch(struct smtp_session *s, const char *line, size_t len)
{
	const struct smtp_command *e = NULL;
	struct smtp_cmd c;
	struct outcome out;
	size_t i;
	int r;

	if (smtp_parse_command(line, len, &c) != 0) {
		reply_fail(s, "?", R_BAD_CHARACTER, NULL);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].verb == c.verb)
			e = &commands[i];
	if (!e) {
		reply_fail(s, "?", R_UNKNOWN_COMMAND, NULL);
		return;
	}
	if (!(e->states & (1u << s->state))) {
		bad_sequence(s, &c);
		return;
	}
	if (e->check && e->check(s, &c, &out) != 0) {
		reply_error(s, c.name, &out);
		return;
	}
	memset(&out, 0, sizeof(out));
	if (e->policy && (r = e->policy(s, &out)) == SMTP_PENDING) {
		s->pending = P_COMMAND;
		s->pcmd = e;
		return;
	}
	e->proceed(s, &out);
}

/* ---- input ---- */

static int
starts_auth(const char *p, size_t n)
{
	return n >= 5 && mem_casecmp(p, "AUTH ", 5) == 0;
}

/*
 * Message text (DATA, or the current BDAT chunk) at P: feed what
 * belongs to it to the DATA machine; returns the octets used.
 */
static size_t
text_feed(struct smtp_session *s, const char *p, size_t avail)
{
	size_t n;
	int end;

	if (s->state == SMTP_STATE_DATA) {
		n = smtp_data_feed(&s->data, p, avail, &end);
		if (end)
			text_done(s);
		return n;
	}
	n = avail < s->chunk_left ? avail : (size_t)s->chunk_left;
	if (!s->chunk_skip)
		smtp_data_feed(&s->data, p, n, &end);
	s->chunk_left -= n;
	if (s->chunk_left == 0)
		chunk_done(s);
	return n;
}

/* Consume as much buffered input as the state allows. */
static void
process(struct smtp_session *s)
{
	size_t pos = 0;
	unsigned gen = s->starttls_gen;

	if (s->processing)
		return;
	s->processing = 1;
	while (pos < s->in.len && s->pending == P_NONE && s->state != SMTP_STATE_CLOSED &&
	    s->state != SMTP_STATE_CONNECT) {
		char *p = s->in.data + pos;
		size_t avail = s->in.len - pos, cap, n;
		char *lf;

		if (s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT) {
			pos += text_feed(s, p, avail);
			continue;
		}
		if (s->discard_line) {
			lf = memchr(p, '\n', avail);
			if (!lf) {
				pos = s->in.len;
				break;
			}
			pos += (size_t)(lf - p) + 1;
			s->discard_line = 0;
			continue;
		}
		cap = s->state == SMTP_STATE_AUTH || starts_auth(p, avail) ?
		    SMTP_AUTH_LINE_MAX : SMTP_CMD_LINE_MAX;
		lf = memchr(p, '\n', avail < cap ? avail : cap);
		if (!lf) {
			if (avail < cap)
				break;	/* wait for the rest of the line */
			/* RFC 5321 §4.5.3.1.4: cap before the line completes. */
			pos += cap;
			s->discard_line = 1;
			if (s->state == SMTP_STATE_AUTH)
				auth_fail(s, R_LINE_TOO_LONG);
			else
				reply_fail(s, "?", R_LINE_TOO_LONG, NULL);
			continue;
		}
		n = (size_t)(lf - p);
		pos += n + 1;
		if (n > 0 && p[n - 1] == '\r') {
			n--;
		} else if (!s->normalize) {
			/* Bare LF: refused like in DATA (smuggling, STYLE rule 9). */
			if (s->state == SMTP_STATE_AUTH)
				auth_fail(s, R_BARE_LF_COMMAND);
			else
				reply_fail(s, "?", R_BARE_LF_COMMAND, NULL);
			continue;
		}
		{
			/* AUTH lines carry credentials: wipe them once used (by
			 * offset: a misbehaving owner may have grown s->in). */
			size_t off = (size_t)(p - s->in.data);
			int wipe = s->state == SMTP_STATE_AUTH || starts_auth(p, n);

			if (s->state == SMTP_STATE_AUTH)
				auth_response(s, p, n);
			else
				dispatch(s, p, n);
			if (wipe && off + n <= s->in.len)
				crypto_wipe(s->in.data + off, n);
		}
		if (s->starttls_gen != gen)
			pos = s->in.len;
	}
	if (s->starttls_gen != gen || s->state == SMTP_STATE_CLOSED)
		pos = s->in.len;
	buf_consume(&s->in, pos);
	s->processing = 0;
}

/* ---- public API ---- */

struct smtp_session *
smtp_session_new(const struct smtp_params *params, const struct smtp_session_opts *opts,
    const struct smtp_callbacks *cb, void *arg)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const char *host = opts && opts->hostname ? opts->hostname : NULL;

	if (!host && params && params->hostname && params->hostname[0])
		host = params->hostname;
	s->id = xstrdup(opts && opts->id ? opts->id : "-");
	s->hostname = xstrdup(host ? host : "localhost");
	s->banner = xstrdup(params && params->banner ? params->banner : "ESMTP postern");
	s->cb = *cb;
	s->arg = arg;
	if (opts) {
		s->tls_available = opts->tls_available;
		s->tls_active = opts->tls_active;
		s->auth_in_clear = opts->auth_in_clear;
	}
	s->size_limit = params && params->size_limit ? params->size_limit : 25u << 20;
	s->max_rcpts = params && params->max_rcpts > 0 ? params->max_rcpts : 100;
	s->max_errors = params && params->max_errors > 0 ? params->max_errors : 10;
	s->normalize = params && params->normalize_bare_lf;
	s->params_size = s->size_limit;
	s->params_rcpts = s->max_rcpts;
	s->state = SMTP_STATE_CONNECT;
	buf_init(&s->in, 0);
	buf_init(&s->msg, s->size_limit);
	return s;
}

void
smtp_session_free(struct smtp_session *s)
{
	if (!s)
		return;
	txn_reset(s);
	auth_clear(s);
	if (s->in.data)
		crypto_wipe(s->in.data, s->in.cap);
	buf_free(&s->in);
	free(s->helo);
	free(s->helo_arg);
	free(s->auth_user);
	free(s->hostname);
	free(s->banner);
	free(s->id);
	free(s);
}

void
smtp_session_start(struct smtp_session *s)
{
	struct outcome out;
	int r;

	if (s->state != SMTP_STATE_CONNECT || s->pending != P_NONE)
		return;
	if (s->cb.on_connect) {
		cb_enter(s, &out);
		r = s->cb.on_connect(s->arg, &out);
		if (cb_leave(s, r, &out) == SMTP_PENDING) {
			s->pending = P_CONNECT;
			return;
		}
	} else {
		memset(&out, 0, sizeof(out));
	}
	connect_done(s, &out);
	process(s);
}

int
smtp_session_input(struct smtp_session *s, const void *data, size_t len)
{
	const char *p = data;
	int fed = 0;

	/*
	 * Message text with nothing buffered before it goes straight from
	 * the caller's buffer to the DATA machine: the message is copied
	 * once, into s->msg, not first into s->in as well (issue 11 item 6;
	 * with 64 KiB reads s->in would otherwise grow to 128 KiB per
	 * session receiving mail).
	 */
	while (len > 0 && s->in.len == 0 && !s->processing && s->pending == P_NONE &&
	    (s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT)) {
		size_t used;

		fed = 1;
		s->processing = 1;
		used = text_feed(s, p, len);
		s->processing = 0;
		if (used == 0)
			break;
		p += used;
		len -= used;
	}
	if (fed && s->in.len > 0 && s->state != SMTP_STATE_CLOSED) {
		/* A callback fed input meanwhile (re-entrantly): it came after
		 * the rest of ours, so ours goes in front of it. */
		if (len > 0) {
			struct buf t;

			buf_init(&t, 0);
			buf_append(&t, p, len);
			buf_append(&t, s->in.data, s->in.len);
			buf_free(&s->in);
			s->in = t;
			len = 0;
		}
		process(s);
	}
	while (len > 0 && s->state != SMTP_STATE_CLOSED) {
		size_t room = s->in.len < SMTP_INPUT_MAX ? SMTP_INPUT_MAX - s->in.len : 0;
		size_t n = len < room ? len : room;
		unsigned gen = s->starttls_gen;

		if (n == 0) {
			/* Only reachable while something is pending or re-entered. */
			log_info("sid=%s event=input-overflow", s->id);
			reply(s, R_INPUT_OVERFLOW, s->hostname);
			close_session(s);
			break;
		}
		buf_append(&s->in, p, n);
		p += n;
		len -= n;
		if (s->processing)
			continue;
		process(s);
		if (s->starttls_gen != gen)
			break;	/* the rest was sent before TLS: drop it */
	}
	return s->state == SMTP_STATE_CLOSED ? -1 : 0;
}

void
smtp_session_resume(struct smtp_session *s, const struct outcome *o)
{
	enum pend kind;
	struct outcome out;

	if (s->in_callback) {
		s->inline_out = *o;
		s->inline_done = 1;
		return;
	}
	if (s->pending == P_NONE || s->state == SMTP_STATE_CLOSED)
		return;
	kind = s->pending;
	s->pending = P_NONE;
	out = *o;
	switch (kind) {
	case P_CONNECT:
		connect_done(s, &out);
		break;
	case P_COMMAND:
		s->pcmd->proceed(s, &out);
		break;
	case P_AUTH:
		auth_done(s, &out);
		break;
	case P_MESSAGE:
		message_done(s, &out);
		break;
	case P_NONE:
		break;
	}
	process(s);
}

void
smtp_session_shutdown(struct smtp_session *s, const struct outcome *o)
{
	struct outcome c;

	if (s->state == SMTP_STATE_CLOSED)
		return;
	if (o) {
		clean_outcome(o, &c);
		reply_line(s, &c, NULL);
	}
	s->close_called = 1;
	smtp_enter_state(s, SMTP_STATE_CLOSED);
	s->pending = P_NONE;
}

void
smtp_session_set_limits(struct smtp_session *s, uint64_t size_limit, size_t max_rcpts)
{
	if (size_limit)
		s->size_limit = size_limit < s->params_size ? size_limit : s->params_size;
	if (max_rcpts)
		s->max_rcpts = max_rcpts < s->params_rcpts ? max_rcpts : s->params_rcpts;
}

enum smtp_state
smtp_session_state(const struct smtp_session *s)
{
	return s->state;
}

int
smtp_session_in_data(const struct smtp_session *s)
{
	return s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT;
}

int
smtp_session_pending(const struct smtp_session *s)
{
	return s->pending != P_NONE;
}

int
smtp_session_wants_input(const struct smtp_session *s)
{
	return s->pending == P_NONE && s->state != SMTP_STATE_CLOSED &&
	    s->state != SMTP_STATE_CONNECT;
}

int
smtp_session_tls_active(const struct smtp_session *s)
{
	return s->tls_active;
}

const char *
smtp_session_auth_user(const struct smtp_session *s)
{
	return s->auth_user;
}

const char *
smtp_session_helo(const struct smtp_session *s)
{
	return s->helo;
}

const char *
smtp_session_protocol(const struct smtp_session *s)
{
	/* RFC 3848 */
	if (!s->esmtp)
		return "SMTP";
	if (s->tls_active)
		return s->auth_user ? "ESMTPSA" : "ESMTPS";
	return s->auth_user ? "ESMTPA" : "ESMTP";
}

const struct smtp_envelope *
smtp_session_envelope(const struct smtp_session *s)
{
	return &s->env;
}

const char *
smtp_session_id(const struct smtp_session *s)
{
	return s->id;
}
