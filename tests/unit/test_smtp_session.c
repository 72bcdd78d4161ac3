/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_session: golden transcripts for the SMTP server session.
 * Each case feeds client bytes and compares the exact server reply
 * bytes (and, where given, the messages handed to on_message with
 * their envelopes).  Every case runs four ways: input whole or one byte
 * at a time, callbacks answering at once or pending and resumed later;
 * all four must produce the same bytes.  The test plays the owner: it
 * accepts user/pass, refuses some senders/recipients by name, and
 * answers on_message with a fixed queue id.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "smtp.h"
#include "tap.h"

#define F_TLS_AVAIL	0x01
#define F_TLS_ACTIVE	0x02
#define F_AUTH_CLEAR	0x04
#define F_REFUSE	0x08	/* on_connect refuses */
#define F_NO_AUTH	0x10	/* no on_auth callback (relay listener) */

struct tcase {
	const char *name;
	unsigned flags;
	const char *cfg;	/* config text, or NULL for defaults */
	const char *client;	/* bytes before TLS (or all) */
	size_t clientlen;	/* 0: strlen */
	const char *after_tls;	/* TLS plaintext after on_starttls, or NULL */
	const char *want;	/* exact reply bytes */
	const char *want_msgs;	/* exact on_message dump, or NULL: not checked */
};

struct owner {
	struct smtp_session *s;
	struct buf out;
	struct buf msgs;
	int async;
	int has_pending;
	struct outcome pending;
	int tls;		/* on_starttls seen in the current feed */
	int closed;
};

static int
answer(struct owner *o, struct outcome *out, const struct outcome *verdict)
{
	if (!o->async) {
		*out = *verdict;
		return SMTP_DONE;
	}
	o->pending = *verdict;
	o->has_pending = 1;
	return SMTP_PENDING;
}

static void
t_write(void *arg, const char *data, size_t len)
{
	struct owner *o = arg;

	buf_append(&o->out, data, len);
}

static int
t_connect(void *arg, struct outcome *out)
{
	struct outcome v;

	outcome_ok(&v);
	return answer(arg, out, &v);
}

static int
t_connect_refuse(void *arg, struct outcome *out)
{
	struct outcome v;

	outcome_set(&v, OUTCOME_TEMPFAIL, 421, "4.7.0", "Too many connections from your address");
	return answer(arg, out, &v);
}

static int
t_auth(void *arg, const char *mech, const char *authzid, const char *authcid,
    const char *password, struct outcome *out)
{
	struct outcome v;

	if (strcmp(authcid, "user") == 0 && strcmp(password, "pass") == 0 &&
	    (authzid[0] == '\0' || strcmp(authzid, "user") == 0))
		outcome_ok(&v);
	else
		outcome_set(&v, OUTCOME_PERMFAIL, 535, "5.7.8", "Authentication credentials invalid");
	return answer(arg, out, &v);
}

static int
t_mail(void *arg, const struct smtp_envelope *env, struct outcome *out)
{
	struct outcome v;

	if (strcmp(env->sender, "blocked@example.com") == 0)
		outcome_set(&v, OUTCOME_PERMFAIL, 550, "5.7.1", "Sender not allowed");
	else
		outcome_ok(&v);
	return answer(arg, out, &v);
}

static int
t_rcpt(void *arg, const struct smtp_envelope *env, const struct smtp_rcpt *r,
    struct outcome *out)
{
	struct outcome v;

	if (strncmp(r->addr, "reject@", 7) == 0)
		outcome_set(&v, OUTCOME_PERMFAIL, 550, "5.1.1", "Recipient unknown");
	else if (strncmp(r->addr, "temp@", 5) == 0)
		outcome_set(&v, OUTCOME_TEMPFAIL, 450, "4.2.0", "Try later");
	else
		outcome_ok(&v);
	return answer(arg, out, &v);
}

/* The storage of the last message handed over (issue 20: the text's
 * room is reserved at DATA from SIZE= or the session's last message). */
static size_t last_cap;

static int
t_message(void *arg, const struct smtp_envelope *env, struct buf *msg, struct outcome *out)
{
	struct owner *o = arg;
	struct outcome v;
	size_t i;

	last_cap = msg->cap;
	buf_printf(&o->msgs, "MSG from=<%s> envid=%s ret=%d body=%d utf8=%d size=%llu bdat=%d\n",
	    env->sender, env->envid ? env->envid : "-", (int)env->ret, (int)env->body,
	    env->smtputf8, (unsigned long long)env->declared_size, env->chunking);
	for (i = 0; i < env->nrcpts; i++)
		buf_printf(&o->msgs, "RCPT <%s> notify=%u orcpt=%s\n", env->rcpts[i].addr,
		    env->rcpts[i].notify, env->rcpts[i].orcpt ? env->rcpts[i].orcpt : "-");
	buf_append_str(&o->msgs, "DATA\n");
	buf_append(&o->msgs, msg->data, msg->len);
	buf_append_str(&o->msgs, "END\n");
	if (msg->len && memmem(msg->data, msg->len, "TEMPFAIL-ME", 11))
		outcome_set(&v, OUTCOME_TEMPFAIL, 451, "4.3.0", "Queue unavailable");
	else
		outcome_set(&v, OUTCOME_OK, 250, "2.0.0", "Ok: queued as TEST01");
	return answer(arg, out, &v);
}

/* How often NEEDLE occurs in the NUL-terminated HAY (NULL: 0). */
static size_t
count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	while (hay != NULL && (hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void
t_starttls(void *arg)
{
	((struct owner *)arg)->tls = 1;
}

static void
t_close(void *arg)
{
	((struct owner *)arg)->closed++;
}

/* The owner's event loop: answer what is pending, as later callbacks would. */
static void
settle(struct owner *o)
{
	while (o->has_pending && smtp_session_pending(o->s)) {
		struct outcome v = o->pending;
		o->has_pending = 0;
		smtp_session_resume(o->s, &v);
	}
}

static void
feed(struct owner *o, const char *p, size_t len, int bytewise)
{
	size_t i;

	if (!bytewise) {
		smtp_session_input(o->s, p, len);
		settle(o);
		return;
	}
	for (i = 0; i < len; i++) {
		/* After on_starttls the owner routes bytes to TLS, not here. */
		if (o->tls)
			return;
		smtp_session_input(o->s, p + i, 1);
		settle(o);
	}
}

/* The session settings of CFG, as the listener fills them. */
static const struct smtp_params *
params_of(const struct config *cfg, struct smtp_params *p)
{
	if (cfg == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->hostname = cfg->hostname;
	p->banner = cfg->smtpd_banner;
	p->size_limit = cfg->message_size_limit;
	p->max_rcpts = (size_t)cfg->smtpd_max_recipients;
	p->max_errors = (int)cfg->smtpd_max_errors;
	p->normalize_bare_lf = cfg->smtpd_bare_line_ending == CONFIG_BARE_LF_NORMALIZE;
	return p;
}

static void
run(const struct tcase *tc, const struct config *cfg, int bytewise, int async,
    struct buf *out, struct buf *msgs)
{
	struct owner o;
	struct smtp_callbacks cb = {
		.write = t_write, .on_connect = tc->flags & F_REFUSE ? t_connect_refuse : t_connect,
		.on_auth = tc->flags & F_NO_AUTH ? NULL : t_auth, .on_mail = t_mail,
		.on_rcpt = t_rcpt, .on_message = t_message, .on_starttls = t_starttls,
		.on_close = t_close,
	};
	struct smtp_params params;
	struct smtp_session_opts opts = {
		.id = "T1", .hostname = "mx.test",
		.tls_available = !!(tc->flags & F_TLS_AVAIL),
		.tls_active = !!(tc->flags & F_TLS_ACTIVE),
		.auth_in_clear = !!(tc->flags & F_AUTH_CLEAR),
	};

	memset(&o, 0, sizeof(o));
	buf_init(&o.out, 0);
	buf_init(&o.msgs, 0);
	o.async = async;
	o.s = smtp_session_new(params_of(cfg, &params), &opts, &cb, &o);
	smtp_session_start(o.s);
	settle(&o);
	feed(&o, tc->client, tc->clientlen ? tc->clientlen : strlen(tc->client), bytewise);
	if (tc->after_tls) {
		o.tls = 0;
		feed(&o, tc->after_tls, strlen(tc->after_tls), bytewise);
	}
	smtp_session_free(o.s);
	*out = o.out;
	*msgs = o.msgs;
}

#define BANNER "220 mx.test ESMTP postern\r\n"
#define EHLO_HEAD "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n" \
	"250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n"
#define EHLO_REPLY EHLO_HEAD "250 CHUNKING\r\n"
#define EHLO_AUTH EHLO_HEAD "250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n"
#define EHLO_TLS EHLO_HEAD "250-STARTTLS\r\n250 CHUNKING\r\n"
#define R_MAIL "250 2.1.0 Ok\r\n"
#define R_RCPT "250 2.1.5 Ok\r\n"
#define R_DATA "354 End data with <CR><LF>.<CR><LF>\r\n"
#define R_QUEUED "250 2.0.0 Ok: queued as TEST01\r\n"
#define R_OK "250 2.0.0 Ok\r\n"
#define R_BYE "221 2.0.0 Bye\r\n"
#define R_BARE "554 5.6.11 Bare CR or LF in message text: lines must end with CRLF\r\n"
#define ENV1 "MSG from=<a@example.com> envid=- ret=0 body=0 utf8=0 size=0 bdat=0\n" \
	"RCPT <b@example.org> notify=0 orcpt=-\n"
#define TXN "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
#define TXN_R BANNER EHLO_REPLY R_MAIL R_RCPT R_DATA
/* "user\0pass" and "\0user\0pass" in base64 */
#define PLAIN_OK "AHVzZXIAcGFzcw=="
#define PLAIN_BAD "AHVzZXIAd3Jvbmc="

static const char long_line[] = "NOOP ";

static const struct tcase cases[] = {
	{ "basic EHLO transaction", 0, NULL,
	  TXN "Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n", 0, NULL,
	  TXN_R R_QUEUED R_BYE,
	  ENV1 "DATA\nSubject: hi\r\n\r\nhello\r\nEND\n" },
	{ "HELO transaction, lower-case verbs", 0, NULL,
	  "helo c.test\r\nmail from:<a@example.com>\r\nrcpt to:<b@example.org>\r\ndata\r\nx\r\n.\r\nquit\r\n", 0, NULL,
	  BANNER "250 mx.test\r\n" R_MAIL R_RCPT R_DATA R_QUEUED R_BYE,
	  ENV1 "DATA\nx\r\nEND\n" },
	{ "HELO session refuses ESMTP parameters", 0, NULL,
	  "HELO c.test\r\nMAIL FROM:<a@example.com> SIZE=10\r\n", 0, NULL,
	  BANNER "250 mx.test\r\n555 5.5.4 MAIL parameters need EHLO\r\n", "" },
	{ "pipelined transactions with RSET", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.org>\r\nRSET\r\n"
	  "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n1\r\n.\r\n"
	  "MAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n2\r\n.\r\nQUIT\r\n", 0, NULL,
	  BANNER EHLO_REPLY R_MAIL R_RCPT R_OK R_MAIL R_RCPT R_DATA R_QUEUED
	  R_MAIL R_RCPT R_DATA R_QUEUED R_BYE,
	  ENV1 "DATA\n1\r\nEND\n"
	  "MSG from=<> envid=- ret=0 body=0 utf8=0 size=0 bdat=0\nRCPT <b@example.org> notify=0 orcpt=-\nDATA\n2\r\nEND\n" },
	{ "commands out of sequence", 0, NULL,
	  "MAIL FROM:<a@example.com>\r\nEHLO c.test\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
	  "MAIL FROM:<a@example.com>\r\nDATA\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n", 0, NULL,
	  BANNER "503 5.5.1 Error: send HELO/EHLO first\r\n" EHLO_REPLY
	  "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n" R_MAIL
	  "554 5.5.1 Error: no valid recipients\r\n503 5.5.1 Error: nested MAIL command\r\n" R_BYE, "" },
	{ "unknown, VRFY, EXPN, HELP, NOOP", 0, NULL,
	  "EHLO c.test\r\nFOO bar\r\nVRFY root\r\nVRFY\r\nEXPN staff\r\nHELP\r\nNOOP\r\nDATA x\r\n", 0, NULL,
	  BANNER EHLO_REPLY "500 5.5.2 Error: command not recognized\r\n"
	  "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
	  "501 5.5.4 Syntax: VRFY address\r\n502 5.5.1 EXPN not available\r\n"
	  "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH\r\n"
	  R_OK "503 5.5.1 Error: need MAIL command\r\n", NULL },
	{ "EHLO syntax", 0, NULL, "EHLO\r\nHELO a b\r\nEHLO c.test\r\n", 0, NULL,
	  BANNER "501 5.5.4 Syntax: EHLO hostname\r\n501 5.5.4 Syntax: HELO hostname\r\n" EHLO_REPLY, NULL },
	{ "address syntax is strict", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:a@example.com\r\nMAIL FROM:<a@@example.com>\r\n"
	  "MAIL FROM:<a..b@example.com>\r\nMAIL FROM:<a@-example.com>\r\n"
	  "MAIL FROM:<\"a b\"@example.com>\r\nRCPT TO:<b@example.org.>\r\nRCPT TO:<b>\r\n"
	  "RCPT TO:<@relay.test:b@[192.0.2.1]>\r\nRCPT TO:<b@[IPv6:2001:db8::1]>\r\n"
	  "RCPT TO:<b@[300.1.1.1]>\r\nRCPT TO:<Postmaster>\r\nQUIT\r\n", 0, NULL,
	  BANNER EHLO_REPLY "501 5.5.4 Syntax error in MAIL command: use MAIL FROM:<address>\r\n"
	  "501 5.1.7 Bad sender address syntax\r\n501 5.1.7 Bad sender address syntax\r\n"
	  "501 5.1.7 Bad sender address syntax\r\n" R_MAIL
	  "501 5.1.3 Bad recipient address syntax\r\n501 5.1.3 Bad recipient address syntax\r\n"
	  R_RCPT R_RCPT "501 5.1.3 Bad recipient address syntax\r\n" R_RCPT R_BYE, NULL },
	{ "UTF-8 only with SMTPUTF8", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<j\xc3\xb6rg@example.com>\r\n"
	  "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8\r\nRCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>\r\n"
	  "RCPT TO:<bad\xc3(@example.org>\r\nDATA\r\nx\r\n.\r\n", 0, NULL,
	  BANNER EHLO_REPLY "501 5.1.7 Bad sender address syntax\r\n" R_MAIL R_RCPT
	  "501 5.1.3 Bad recipient address syntax\r\n" R_DATA R_QUEUED,
	  "MSG from=<j\xc3\xb6rg@example.com> envid=- ret=0 body=0 utf8=1 size=0 bdat=0\n"
	  "RCPT <\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test> notify=0 orcpt=-\nDATA\nx\r\nEND\n" },
	{ "MAIL and RCPT parameters (SIZE, BODY, DSN)", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<a@example.com> SIZE=99999999999\r\nMAIL FROM:<a@example.com> FOO=1\r\n"
	  "MAIL FROM:<a@example.com> BODY=BINARYMIME\r\nMAIL FROM:<a@example.com> SIZE=1 SIZE=2\r\n"
	  "MAIL FROM:<a@example.com> RET=HDRS ENVID=QQ+2B1 BODY=8BITMIME SIZE=100 AUTH=<>\r\n"
	  "RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS\r\nRCPT TO:<b@example.org> BAR\r\n"
	  "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.org\r\n"
	  "RCPT TO:<c@example.org> NOTIFY=NEVER\r\nDATA\r\nx\r\n.\r\n", 0, NULL,
	  BANNER EHLO_REPLY "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	  "555 5.5.4 Unsupported MAIL parameter\r\n555 5.5.4 Unsupported BODY parameter value\r\n"
	  "501 5.5.4 Syntax error in SIZE parameter\r\n" R_MAIL
	  "501 5.5.4 Syntax error in NOTIFY parameter\r\n555 5.5.4 Unsupported RCPT parameter\r\n"
	  R_RCPT R_RCPT R_DATA R_QUEUED,
	  "MSG from=<a@example.com> envid=QQ+1 ret=2 body=2 utf8=0 size=100 bdat=0\n"
	  "RCPT <b@example.org> notify=6 orcpt=rfc822;b+40example.org\n"
	  "RCPT <c@example.org> notify=1 orcpt=-\nDATA\nx\r\nEND\n" },
	{ "recipient limit: 452 4.5.3, transaction goes on", 0, "smtpd_max_recipients = 2\n",
	  "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
	  "RCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nRCPT TO:<e@example.org>\r\n"
	  "DATA\r\nx\r\n.\r\n", 0, NULL,
	  BANNER EHLO_REPLY R_MAIL R_RCPT R_RCPT "452 4.5.3 Too many recipients\r\n"
	  "452 4.5.3 Too many recipients\r\n" R_DATA R_QUEUED, NULL },
	{ "too many errors: 421 and close", 0, "smtpd_max_errors = 3\n",
	  "EHLO c.test\r\nX1\r\nX2\r\nX3\r\nNOOP\r\n", 0, NULL,
	  BANNER EHLO_REPLY "500 5.5.2 Error: command not recognized\r\n"
	  "500 5.5.2 Error: command not recognized\r\n500 5.5.2 Error: command not recognized\r\n"
	  "421 4.7.0 mx.test Error: too many errors\r\n", NULL },
	{ "the error that closes the session is the last reply", 0, "smtpd_max_errors = 2\n",
	  "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\na\nb\r\n.\r\n"
	  "RCPT TO:<b@example.org>\r\nNOOP\r\n", 0, NULL,
	  BANNER EHLO_REPLY R_MAIL R_RCPT R_DATA R_BARE "503 5.5.1 Error: need MAIL command\r\n"
	  "421 4.7.0 mx.test Error: too many errors\r\n", "" },
	{ "policy refusals keep the session usable", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<blocked@example.com>\r\nMAIL FROM:<a@example.com>\r\n"
	  "RCPT TO:<reject@example.org>\r\nRCPT TO:<temp@example.org>\r\nDATA\r\n"
	  "RCPT TO:<b@example.org>\r\nDATA\r\nTEMPFAIL-ME\r\n.\r\n"
	  "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nok\r\n.\r\n", 0, NULL,
	  BANNER EHLO_REPLY "550 5.7.1 Sender not allowed\r\n" R_MAIL "550 5.1.1 Recipient unknown\r\n"
	  "450 4.2.0 Try later\r\n554 5.5.1 Error: no valid recipients\r\n" R_RCPT R_DATA
	  "451 4.3.0 Queue unavailable\r\n" R_MAIL R_RCPT R_DATA R_QUEUED, NULL },
	{ "connection refused by policy", F_REFUSE, NULL, "EHLO c.test\r\n", 0, NULL,
	  "421 4.7.0 Too many connections from your address\r\n", NULL },
	{ "command line over the cap: 500 5.5.6, session continues", 0, NULL,
	  NULL /* filled in main */, 0, NULL,
	  BANNER EHLO_REPLY "500 5.5.6 Error: line too long\r\n" R_OK, NULL },
	{ "AUTH response over the cap: the one line-too-long reply", F_TLS_ACTIVE, NULL,
	  NULL /* filled in main */, 0, NULL,
	  BANNER EHLO_AUTH "334 VXNlcm5hbWU6\r\n500 5.5.6 Error: line too long\r\n" R_OK, NULL },
	{ "bare LF in a command line", 0, NULL, "EHLO c.test\nNOOP\r\n", 0, NULL,
	  BANNER "500 5.5.2 Syntax error: lines must end with CRLF\r\n" R_OK, NULL },
	{ "NUL and controls in a command line", 0, NULL, "NOOP\0x\r\nNO\x01OP\r\nNOOP\r\n", 21, NULL,
	  BANNER "500 5.5.2 Syntax error: invalid character in command\r\n"
	  "500 5.5.2 Syntax error: invalid character in command\r\n" R_OK, NULL },
	{ "dot-unstuffing and an empty message", 0, NULL,
	  TXN "..leading\r\n.x\r\n...\r\n.\r\n" "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n.\r\n", 0, NULL,
	  TXN_R R_QUEUED R_MAIL R_RCPT R_DATA R_QUEUED,
	  ENV1 "DATA\n.leading\r\nx\r\n..\r\nEND\n" ENV1 "DATA\nEND\n" },
	/* SMTP smuggling: none of these end the message; it ends at the real
	 * CRLF.CRLF and is refused whole; the smuggled MAIL never runs. */
	{ "smuggling \\n.\\n", 0, NULL,
	  TXN "a\r\n\n.\nMAIL FROM:<evil@example.com>\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_BARE R_OK, "" },
	{ "smuggling \\r.\\r", 0, NULL,
	  TXN "a\r\n\r.\rMAIL FROM:<evil@example.com>\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_BARE R_OK, "" },
	{ "smuggling \\n.\\r\\n", 0, NULL,
	  TXN "a\n.\r\nMAIL FROM:<evil@example.com>\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_BARE R_OK, "" },
	{ "smuggling \\r\\n.\\n", 0, NULL,
	  TXN "a\r\n.\nMAIL FROM:<evil@example.com>\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_BARE R_OK, "" },
	{ "smuggling \\r\\n.\\r", 0, NULL,
	  TXN "a\r\n.\rMAIL FROM:<evil@example.com>\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_BARE R_OK, "" },
	{ "smuggling \\r.\\r\\n", 0, NULL,
	  TXN "a\r.\r\nMAIL FROM:<evil@example.com>\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_BARE R_OK, "" },
	{ "smuggling, normalize: one message, CRLF only", 0, "smtpd_bare_line_ending = normalize\n",
	  TXN "a\n.\nb\r.\rc\n.\r\nd\r\n.\ne\r.\r\nf\r\n.\r\nNOOP\r\n", 0, NULL,
	  TXN_R R_QUEUED R_OK,
	  ENV1 "DATA\na\r\n.\r\nb\r\n.\r\nc\r\n.\r\nd\r\n.\r\ne\r\n.\r\nf\r\nEND\n" },
	{ "text line of 998 octets passes, 999 is refused", 0, NULL,
	  NULL /* filled in main */, 0, NULL,
	  TXN_R R_QUEUED R_MAIL R_RCPT R_DATA
	  "500 5.5.6 Message line longer than 1000 octets (RFC 5321 4.5.3.1.6)\r\n" R_OK, NULL },
	{ "size limit enforced during DATA", 0, "message_size_limit = 1k\n",
	  NULL /* filled in main */, 0, NULL,
	  BANNER "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1024\r\n250-8BITMIME\r\n"
	  "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 CHUNKING\r\n" R_MAIL R_RCPT R_DATA
	  "552 5.3.4 Message size exceeds fixed maximum message size\r\n" R_OK, "" },
	{ "BDAT chunks", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.org>\r\n"
	  "BDAT 7\r\nline1\r\nBDAT 10\r\n.x\r\nQUIT\r\nBDAT 0 LAST\r\nNOOP\r\n", 0, NULL,
	  BANNER EHLO_REPLY R_MAIL R_RCPT "250 2.0.0 Ok: 7 octets received\r\n"
	  "250 2.0.0 Ok: 10 octets received\r\n" R_QUEUED R_OK,
	  "MSG from=<a@example.com> envid=- ret=0 body=2 utf8=0 size=0 bdat=1\n"
	  "RCPT <b@example.org> notify=0 orcpt=-\nDATA\nline1\r\n.x\r\nQUIT\r\nEND\n" },
	{ "BDAT LAST without final CRLF", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nBDAT 3 LAST\r\nabc", 0, NULL,
	  BANNER EHLO_REPLY R_MAIL R_RCPT R_QUEUED,
	  "MSG from=<a@example.com> envid=- ret=0 body=0 utf8=0 size=0 bdat=1\n"
	  "RCPT <b@example.org> notify=0 orcpt=-\nDATA\nabc\r\nEND\n" },
	{ "BDAT out of sequence still consumes its chunk", 0, NULL,
	  "EHLO c.test\r\nBDAT 6\r\nNOOP\r\nMAIL FROM:<a@example.com>\r\nBDAT 4 LAST\r\nRSET"
	  "RCPT TO:<b@example.org>\r\nBDAT 2\r\nxyDATA\r\nBDAT x\r\nRSET\r\n", 0, NULL,
	  BANNER EHLO_REPLY "503 5.5.1 Error: need MAIL command\r\n" R_MAIL
	  "554 5.5.1 Error: no valid recipients\r\n503 5.5.1 Error: need MAIL command\r\n"
	  "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n"
	  "501 5.5.4 Syntax: BDAT size [LAST]\r\n" R_OK, "" },
	{ "BDAT after chunks: DATA refused; bare LF refused", 0, NULL,
	  "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nBDAT 2\r\nx\r"
	  "DATA\r\nBDAT 5 LAST\r\na\nb\r\nNOOP\r\n", 0, NULL,
	  BANNER EHLO_REPLY R_MAIL R_RCPT "250 2.0.0 Ok: 2 octets received\r\n"
	  "503 5.5.1 Error: only BDAT, RSET, NOOP and QUIT during BDAT transfer\r\n" R_BARE R_OK, "" },
	{ "BDAT chunk over the size limit", 0, "message_size_limit = 1k\n",
	  "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nBDAT 2000 LAST\r\n", 0, NULL,
	  NULL /* filled in main */, "" },
	{ "STARTTLS discards pipelined input and resets", F_TLS_AVAIL, NULL,
	  "EHLO c.test\r\nSTARTTLS\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<x@example.org>\r\n", 0,
	  "MAIL FROM:<a@example.com>\r\nEHLO c.test\r\nSTARTTLS\r\nAUTH PLAIN " PLAIN_OK "\r\n",
	  BANNER EHLO_TLS "220 2.0.0 Ready to start TLS\r\n"
	  "503 5.5.1 Error: send HELO/EHLO first\r\n" EHLO_AUTH "503 5.5.1 Error: TLS already active\r\n"
	  "235 2.7.0 Authentication successful\r\n", NULL },
	{ "STARTTLS not offered without TLS", 0, NULL, "EHLO c.test\r\nSTARTTLS\r\n", 0, NULL,
	  BANNER EHLO_REPLY "502 5.5.1 STARTTLS not available\r\n", NULL },
	{ "AUTH needs TLS", 0, NULL, "EHLO c.test\r\nAUTH PLAIN " PLAIN_OK "\r\n", 0, NULL,
	  BANNER EHLO_REPLY "538 5.7.11 Encryption required for requested authentication mechanism\r\n", NULL },
	{ "AUTH not enabled on a relay listener", F_NO_AUTH | F_TLS_ACTIVE, NULL,
	  "EHLO c.test\r\nAUTH PLAIN " PLAIN_OK "\r\n", 0, NULL,
	  BANNER EHLO_REPLY "503 5.5.1 Error: authentication not enabled\r\n", NULL },
	{ "AUTH PLAIN: bad, cancel, exchange, twice", F_TLS_ACTIVE, NULL,
	  "AUTH PLAIN " PLAIN_OK "\r\nEHLO c.test\r\nAUTH PLAIN " PLAIN_BAD "\r\nAUTH PLAIN\r\n*\r\n"
	  "AUTH CRAM-MD5\r\nAUTH PLAIN\r\n!!!!\r\nAUTH PLAIN\r\n" PLAIN_OK "\r\nAUTH PLAIN " PLAIN_OK "\r\n"
	  "MAIL FROM:<a@example.com>\r\n", 0, NULL,
	  BANNER "503 5.5.1 Error: send HELO/EHLO first\r\n" EHLO_AUTH
	  "535 5.7.8 Authentication credentials invalid\r\n334 \r\n501 5.7.0 Authentication cancelled\r\n"
	  "504 5.5.4 Unrecognized authentication type\r\n334 \r\n501 5.5.2 Cannot decode response\r\n"
	  "334 \r\n235 2.7.0 Authentication successful\r\n503 5.5.1 Error: already authenticated\r\n"
	  R_MAIL, NULL },
	{ "AUTH LOGIN with and without initial response", F_TLS_ACTIVE, NULL,
	  "EHLO c.test\r\nAUTH LOGIN\r\ndXNlcg==\r\nd3Jvbmc=\r\nAUTH LOGIN dXNlcg==\r\ncGFzcw==\r\n", 0, NULL,
	  BANNER EHLO_AUTH "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
	  "535 5.7.8 Authentication credentials invalid\r\n334 UGFzc3dvcmQ6\r\n"
	  "235 2.7.0 Authentication successful\r\n", NULL },
	{ "AUTH in clear when allowed", F_AUTH_CLEAR, NULL,
	  "EHLO c.test\r\nAUTH PLAIN =\r\nAUTH PLAIN " PLAIN_OK "\r\nEHLO c.test\r\n", 0, NULL,
	  BANNER EHLO_AUTH "501 5.5.2 Invalid PLAIN response\r\n235 2.7.0 Authentication successful\r\n"
	  EHLO_REPLY, NULL },
};

static char *
make_long(const char *head, size_t n, char fill, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *p = malloc(hl + n + tl + 1);

	memcpy(p, head, hl);
	memset(p + hl, fill, n);
	memcpy(p + hl + n, tail, tl + 1);
	return p;
}

int
main(void)
{
	struct tcase *tc = malloc(sizeof(cases));
	size_t i, ncases = ARRAY_SIZE(cases);
	char err[512];
	char *dyn[5];
	struct buf w;

	log_set_level(LOG_LEVEL_ERR);
	memcpy(tc, cases, sizeof(cases));
	/* 100 KB command line, never buffered whole. */
	dyn[0] = make_long("EHLO c.test\r\nNOOP ", 100 * 1024, 'x', "\r\nNOOP\r\n");
	/* An AUTH response longer than SMTP_AUTH_LINE_MAX. */
	dyn[4] = make_long("EHLO c.test\r\nAUTH LOGIN\r\n", SMTP_AUTH_LINE_MAX + 100, 'x',
	    "\r\nNOOP\r\n");
	/* 998 octets + CRLF is fine; 999 is not. */
	{
		char *a = make_long("", 998, 'a', "\r\n.\r\n");
		char *b = make_long("", 999, 'b', "\r\n.\r\nNOOP\r\n");
		dyn[1] = malloc(strlen(a) + strlen(b) + 200);
		sprintf(dyn[1], TXN "%sMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n%s", a, b);
		free(a);
		free(b);
	}
	{
		struct buf b;
		int k;
		buf_init(&b, 0);
		buf_append_str(&b, TXN);
		for (k = 0; k < 30; k++)
			buf_append_str(&b, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\r\n");
		buf_append_str(&b, ".\r\nNOOP\r\n");
		dyn[2] = buf_steal(&b, NULL);
	}
	buf_init(&w, 0);
	buf_append_str(&w, BANNER "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1024\r\n250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 CHUNKING\r\n" R_MAIL R_RCPT
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
	for (i = 0; i < ncases; i++) {
		if (strncmp(tc[i].name, "command line over", 17) == 0)
			tc[i].client = dyn[0];
		else if (strncmp(tc[i].name, "AUTH response over", 18) == 0)
			tc[i].client = dyn[4];
		else if (strncmp(tc[i].name, "text line of 998", 16) == 0)
			tc[i].client = dyn[1];
		else if (strncmp(tc[i].name, "size limit enforced", 19) == 0)
			tc[i].client = dyn[2];
		else if (strncmp(tc[i].name, "BDAT chunk over", 15) == 0) {
			char *c = make_long(tc[i].client, 2000, 'q', "NOOP\r\n");
			dyn[3] = c;
			tc[i].client = c;
			buf_append_str(&w, R_OK);
			tc[i].want = w.data;
		}
	}

	plan((int)ncases * 4 + 2);
	for (i = 0; i < ncases; i++) {
		struct config *cfg = config_parse("test", tc[i].cfg ? tc[i].cfg : "",
		    tc[i].cfg ? strlen(tc[i].cfg) : 0, err, sizeof(err));
		int mode;

		if (!cfg) {
			diag("config: %s", err);
			return 1;
		}
		for (mode = 0; mode < 4; mode++) {
			struct buf out, msgs;
			int good;

			run(&tc[i], cfg, mode & 1, mode >> 1, &out, &msgs);
			good = out.len == strlen(tc[i].want) && memcmp(out.data, tc[i].want, out.len) == 0;
			if (good && tc[i].want_msgs)
				good = msgs.len == strlen(tc[i].want_msgs) &&
				    (msgs.len == 0 || memcmp(msgs.data, tc[i].want_msgs, msgs.len) == 0);
			ok(good, "%s (%s, %s)", tc[i].name, mode & 1 ? "byte at a time" : "whole",
			    mode >> 1 ? "async" : "sync");
			if (!good) {
				diag("got replies:\n%.*s", (int)(out.len > 3000 ? 3000 : out.len),
				    out.data ? out.data : "");
				diag("want:\n%s", tc[i].want);
				if (tc[i].want_msgs)
					diag("got msgs:\n%.*s", (int)msgs.len, msgs.data ? msgs.data : "");
			}
			buf_free(&out);
			buf_free(&msgs);
		}
		config_free(cfg);
	}
	{
		/* issue 20: the text buffer is sized at DATA, not grown from
		 * 64 octets: by SIZE=, else by the session's previous message */
		struct tcase t;
		struct buf out, msgs, c;
		size_t k;

		memset(&t, 0, sizeof(t));
		t.client = "EHLO c.test\r\nMAIL FROM:<a@example.com> SIZE=100000\r\n"
		    "RCPT TO:<b@example.org>\r\nDATA\r\nsmall\r\n.\r\nQUIT\r\n";
		last_cap = 0;
		run(&t, NULL, 0, 0, &out, &msgs);
		ok(last_cap > 100000, "SIZE=100000: the text had its room at once (%zu)", last_cap);
		buf_free(&out);
		buf_free(&msgs);
		buf_init(&c, 0);
		buf_append_str(&c, TXN);
		for (k = 0; k < 1000; k++)
			buf_append_str(&c, "0123456789012345678901234567890123456789012345678\r\n");
		buf_append_str(&c, ".\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
		    "DATA\r\nsecond\r\n.\r\nQUIT\r\n");
		t.client = c.data;
		last_cap = 0;
		run(&t, NULL, 0, 0, &out, &msgs);
		ok(last_cap > 51000 && count_str(msgs.data, "END\n") == 2,
		    "no SIZE=: the second message had the first one's room (%zu)", last_cap);
		buf_free(&out);
		buf_free(&msgs);
		buf_free(&c);
	}
	for (i = 0; i < ARRAY_SIZE(dyn); i++)
		free(dyn[i]);
	buf_free(&w);
	free(tc);
	(void)long_line;
	return done();
}
