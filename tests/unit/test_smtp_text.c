/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_text: message text reaches the session's message buffer
 * without first being buffered in its input buffer (issue 11 item 6).
 * A 200 KiB message is fed in 64 KiB reads, as the listener reads,
 * through DATA and through BDAT; the heap (counted by wrapping
 * malloc/calloc/realloc/free at link time) must stay under 1.5 x the
 * message while the text arrives: the message buffer alone, with no
 * 128 KiB input buffer beside it.  The owner gets the message intact.
 */
#include "autoconfig.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "smtp.h"
#include "heapcount.h"
#include "tap.h"
#include "util.h"


struct owner {
	struct smtp_session *s;
	struct buf out;
	char *taken;
	size_t taken_len;
	const char *reenter;	/* fed to the session from inside on_message */
};

static void
w(void *arg, const char *d, size_t n)
{
	buf_append(&((struct owner *)arg)->out, d, n);
}

static int
on_message(void *arg, const struct smtp_envelope *env, struct buf *msg, struct outcome *out)
{
	struct owner *o = arg;

	(void)env;
	free(o->taken);
	o->taken = buf_steal(msg, &o->taken_len);
	outcome_set(out, OUTCOME_OK, 250, "2.0.0", "Ok: queued as X");
	if (o->reenter != NULL) {
		const char *r = o->reenter;

		o->reenter = NULL;
		smtp_session_input(o->s, r, strlen(r));
	}
	return SMTP_DONE;
}

#define IN(ow, str) smtp_session_input((ow)->s, (str), strlen(str))
#define MSG_LEN (200 * 1024)
#define READ_LEN 65536

/* Feed TEXT in READ_LEN pieces; returns the heap peak while doing so. */
static long long
feed(struct owner *o, const char *text, size_t len)
{
	size_t off;

	heap_start();
	for (off = 0; off < len; off += READ_LEN)
		smtp_session_input(o->s, text + off, len - off < READ_LEN ? len - off : READ_LEN);
	return heap_stop();
}

int
main(void)
{
	char err[256];
	struct config *cfg = config_parse("t", "", 0, err, sizeof(err));
	struct smtp_callbacks cb = { .write = w, .on_message = on_message };
	struct smtp_session_opts opts = { .id = "A", .hostname = "mx.test" };
	struct owner o;
	struct buf body;
	long long peak;
	size_t i;
	char line[64];

	plan(7);
	log_set_level(LOG_LEVEL_ERR);
	buf_init(&body, 0);
	buf_append_str(&body, "Subject: big\r\n\r\n");
	for (i = 0; body.len < MSG_LEN - 80; i++)
		buf_printf(&body, "line %zu of a long message, 0123456789 abcdefghij\r\n", i);
	while (body.len < MSG_LEN - 2)
		buf_append(&body, "x", 1);
	buf_append(&body, "\r\n", 2);

	memset(&o, 0, sizeof(o));
	buf_init(&o.out, 0);
	{
		/* the session settings of the default config, as the listener fills them */
		struct smtp_params sp = { cfg->hostname, cfg->smtpd_banner, cfg->message_size_limit,
			(size_t)cfg->smtpd_max_recipients, (int)cfg->smtpd_max_errors, 0 };

		o.s = smtp_session_new(&sp, &opts, &cb, &o);
	}
	smtp_session_start(o.s);
	IN(&o, "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	peak = feed(&o, body.data, body.len);
	IN(&o, ".\r\n");
	ok(o.taken != NULL && o.taken_len == body.len && memcmp(o.taken, body.data, body.len) == 0,
	    "DATA: the owner gets the message intact (%zu octets)", o.taken_len);
	ok(peak < (long long)body.len * 3 / 2,
	    "DATA in 64 KiB reads: heap peak %lld < 1.5 x %zu (no input-buffer copy)", peak, body.len);

	snprintf(line, sizeof(line), "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT %zu LAST\r\n",
	    body.len);
	IN(&o, line);
	ok(smtp_session_state(o.s) == SMTP_STATE_BDAT, "BDAT chunk announced");
	free(o.taken);
	o.taken = NULL;
	peak = feed(&o, body.data, body.len);
	ok(o.taken != NULL && o.taken_len == body.len && memcmp(o.taken, body.data, body.len) == 0,
	    "BDAT: the owner gets the message intact (%zu octets)", o.taken_len);
	ok(peak < (long long)body.len * 3 / 2,
	    "BDAT in 64 KiB reads: heap peak %lld < 1.5 x %zu", peak, body.len);
	/* input fed from inside on_message comes after the rest of ours */
	o.reenter = "NOOP\r\n";
	buf_reset(&o.out);
	IN(&o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	IN(&o, "Subject: s\r\n\r\nhi\r\n.\r\nVRFY x\r\n");
	{
		const char *q = o.out.data ? strstr(o.out.data, "queued as X") : NULL;
		const char *v = q ? strstr(q, "\r\n252 ") : NULL;
		const char *n = v ? strstr(v + 2, "\r\n250 ") : NULL;

		ok(q && v && n, "re-entrant input is answered after the caller's own rest (250, 252, 250)");
	}
	IN(&o, "QUIT\r\n");
	ok(o.out.data != NULL && strstr(o.out.data, "\r\n221 ") != NULL,
	    "session answers to the end (221)");
	smtp_session_free(o.s);
	buf_free(&o.out);
	buf_free(&body);
	free(o.taken);
	config_free(cfg);
	return done();
}
