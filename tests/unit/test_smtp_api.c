/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_api: the owner-facing parts of the session API that the
 * golden transcripts do not show: the getters (state, in_data, pending,
 * wants_input, protocol, helo, auth_user), resume() called from inside a
 * callback, owner shutdown (timeouts), the pipelined-input cap while a
 * callback is pending, and that on_message may take the buffer.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "smtp.h"
#include "tap.h"

struct owner {
	struct smtp_session *s;
	struct buf out;
	int inline_resume;	/* answer by resume() inside the callback */
	int pend;		/* answer later */
	int closed;
	char *taken;
	size_t taken_len;
};

static void
w(void *arg, const char *d, size_t n)
{
	buf_append(&((struct owner *)arg)->out, d, n);
}

static int
on_mail(void *arg, const struct smtp_envelope *env, struct outcome *out)
{
	struct owner *o = arg;
	struct outcome v;

	if (o->inline_resume) {
		outcome_ok(&v);
		smtp_session_resume(o->s, &v);
		return SMTP_PENDING;
	}
	return o->pend ? SMTP_PENDING : SMTP_DONE;
}

static int
on_auth(void *arg, const char *mech, const char *authzid, const char *authcid,
    const char *password, struct outcome *out)
{
	if (strcmp(password, "pass") != 0)
		outcome_set(out, OUTCOME_PERMFAIL, 535, "5.7.8", "no");
	return SMTP_DONE;
}

static int
on_message(void *arg, const struct smtp_envelope *env, struct buf *msg, struct outcome *out)
{
	struct owner *o = arg;

	o->taken = buf_steal(msg, &o->taken_len);
	outcome_set(out, OUTCOME_OK, 250, "2.0.0", "Ok: queued as X");
	return SMTP_DONE;
}

static void
on_close(void *arg)
{
	((struct owner *)arg)->closed++;
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
start(struct owner *o, const struct config *cfg, int tls)
{
	struct smtp_callbacks cb = { .write = w, .on_mail = on_mail, .on_auth = on_auth,
		.on_message = on_message, .on_close = on_close };
	struct smtp_params params;
	struct smtp_session_opts opts = { .id = "A", .hostname = "mx.test", .tls_active = tls };

	memset(o, 0, sizeof(*o));
	buf_init(&o->out, 0);
	o->s = smtp_session_new(params_of(cfg, &params), &opts, &cb, o);
	smtp_session_start(o->s);
}

static void
stop(struct owner *o)
{
	smtp_session_free(o->s);
	buf_free(&o->out);
	free(o->taken);
}

static int
ends_with(const struct buf *b, const char *s)
{
	size_t n = strlen(s);

	return b->len >= n && memcmp(b->data + b->len - n, s, n) == 0;
}

#define IN(ow, str) smtp_session_input((ow)->s, (str), strlen(str))

int
main(void)
{
	char err[256];
	struct config *cfg = config_parse("t", "", 0, err, sizeof(err));
	struct owner o;
	struct outcome v;
	char *big;

	plan(33);
	log_set_level(LOG_LEVEL_ERR);

	start(&o, cfg, 1);
	is_int(smtp_session_state(o.s), SMTP_STATE_GREETED, "greeted after start");
	ok(smtp_session_wants_input(o.s), "wants input");
	ok(smtp_session_helo(o.s) == NULL, "no HELO yet");
	is_str(smtp_session_protocol(o.s), "SMTP", "protocol before EHLO");
	IN(&o, "EHLO c.test\r\n");
	is_str(smtp_session_helo(o.s), "c.test", "HELO name kept");
	is_str(smtp_session_protocol(o.s), "ESMTPS", "ESMTPS over TLS");
	IN(&o, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
	is_str(smtp_session_auth_user(o.s), "user", "auth user");
	is_str(smtp_session_protocol(o.s), "ESMTPSA", "ESMTPSA after AUTH");
	o.pend = 1;
	IN(&o, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n");
	ok(smtp_session_pending(o.s) && !smtp_session_wants_input(o.s), "pending: no input wanted");
	ok(ends_with(&o.out, "235 2.7.0 Authentication successful\r\n"), "no reply while pending");
	is_str(smtp_session_envelope(o.s)->sender, "a@example.com", "envelope readable while pending");
	o.pend = 0;
	outcome_ok(&v);
	smtp_session_resume(o.s, &v);
	ok(ends_with(&o.out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "resume answers, then the pipelined RCPT runs");
	is_int(smtp_session_state(o.s), SMTP_STATE_RCPT, "state rcpt");
	IN(&o, "DATA\r\nhello\r\n");
	ok(smtp_session_in_data(o.s), "in data: use the data timeout");
	IN(&o, ".\r\n");
	ok(o.taken && o.taken_len == 7 && memcmp(o.taken, "hello\r\n", 7) == 0, "owner took the message buffer");
	ok(ends_with(&o.out, "250 2.0.0 Ok: queued as X\r\n"), "queued reply");
	ok(smtp_session_envelope(o.s)->sender == NULL, "envelope reset after the reply");
	/* owner shutdown (timeout) */
	outcome_set(&v, OUTCOME_TEMPFAIL, 421, "4.4.2", "mx.test Error: timeout exceeded");
	smtp_session_shutdown(o.s, &v);
	ok(ends_with(&o.out, "421 4.4.2 mx.test Error: timeout exceeded\r\n"), "shutdown writes its reply");
	is_int(smtp_session_state(o.s), SMTP_STATE_CLOSED, "closed");
	is_int(IN(&o, "NOOP\r\n"), -1, "input after close: -1");
	is_int(o.closed, 0, "on_close not called for an owner shutdown");
	stop(&o);

	/* resume() from inside the callback counts as an answer */
	start(&o, cfg, 0);
	o.inline_resume = 1;
	IN(&o, "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nNOOP\r\n");
	ok(!smtp_session_pending(o.s) && ends_with(&o.out, "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"),
	    "inline resume answers at once");
	stop(&o);

	/* pipelined input is capped while a callback is pending */
	start(&o, cfg, 0);
	o.pend = 1;
	IN(&o, "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\n");
	big = malloc(SMTP_INPUT_MAX + 10);
	memset(big, 'N', SMTP_INPUT_MAX + 10);
	is_int(smtp_session_input(o.s, big, SMTP_INPUT_MAX + 10), -1, "too much pipelined input closes");
	ok(ends_with(&o.out, "421 4.7.0 mx.test Error: too much pipelined input\r\n"), "with 421 4.7.0");
	is_int(o.closed, 1, "on_close called once");
	outcome_ok(&v);
	smtp_session_resume(o.s, &v);
	ok(ends_with(&o.out, "pipelined input\r\n"), "resume after close does nothing");
	free(big);
	stop(&o);

	/* per-session limits */
	start(&o, cfg, 0);
	smtp_session_set_limits(o.s, 10, 1);
	IN(&o, "EHLO c.test\r\nMAIL FROM:<a@example.com> SIZE=11\r\nMAIL FROM:<a@example.com> SIZE=10\r\n"
	    "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n0123456789\r\n.\r\n");
	ok(strstr(o.out.data, "250-SIZE 10\r\n") && strstr(o.out.data, "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.1.0") &&
	    ends_with(&o.out, "250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"), "lowered size and recipient limits");
	smtp_session_set_limits(o.s, (uint64_t)1 << 40, 1000000);
	IN(&o, "EHLO c.test\r\n");
	ok(strstr(o.out.data, "250-SIZE 26214400\r\n") != NULL, "limits never above the config's");
	stop(&o);

	/* a 10 MB text line is streamed, refused, and the session goes on */
	start(&o, cfg, 0);
	IN(&o, "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: ");
	big = malloc(65536);
	memset(big, 'h', 65536);
	{
		int k, rc = 0;
		for (k = 0; k < 160; k++)
			rc |= smtp_session_input(o.s, big, 65536);
		ok(rc == 0 && smtp_session_in_data(o.s), "10 MB header line read in 64 KiB pieces");
	}
	IN(&o, "\r\n\r\nbody\r\n.\r\nNOOP\r\n");
	ok(ends_with(&o.out, "500 5.5.6 Message line longer than 1000 octets (RFC 5321 4.5.3.1.6)\r\n250 2.0.0 Ok\r\n"),
	    "refused at the end of DATA, session usable");
	ok(o.taken == NULL, "nothing handed to on_message");
	free(big);
	stop(&o);

	/* no message handler: the catalogue's one local error (was "No message handler") */
	{
		struct smtp_callbacks cb = { .write = w };
		struct smtp_session_opts opts = { .id = "B", .hostname = "mx.test" };

		memset(&o, 0, sizeof(o));
		buf_init(&o.out, 0);
		o.s = smtp_session_new(NULL, &opts, &cb, &o);
		smtp_session_start(o.s);
		IN(&o, "EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
		    "DATA\r\nx\r\n.\r\n");
		ok(ends_with(&o.out, "354 End data with <CR><LF>.<CR><LF>\r\n"
		    "451 4.3.0 Local error in processing, try again later\r\n"),
		    "no on_message: 451 4.3.0 Local error in processing");
		stop(&o);
	}

	/* QUIT calls on_close */
	start(&o, cfg, 0);
	IN(&o, "QUIT\r\n");
	is_int(o.closed, 1, "QUIT: on_close");
	stop(&o);

	config_free(cfg);
	return done();
}
