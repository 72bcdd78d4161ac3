/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_session: libFuzzer target driving a whole SMTP server
 * session over an in-memory transport.  The first input byte picks the
 * options (STARTTLS offered or TLS active, AUTH in clear, callbacks
 * answering at once or pending and resumed later, bare line endings
 * rejected or normalised, refusals from the owner), the second the size
 * of the reads; the rest is the client's byte stream.  Invariants: the
 * session only ever writes whole reply lines "NNN..." CRLF; every
 * message handed to on_message is within the size limit and, unless
 * normalising, is pure CRLF text; nothing crashes or leaks.  Flag
 * 0x40 lowers the per-session limits.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fowner {
	struct smtp_session *s;
	unsigned flags;
	int has_pending;
	struct outcome pending;
	int tls;
	uint64_t limit;
	int normalize;
	unsigned n;
};

#define O_TLS_AVAIL	0x01
#define O_TLS_ACTIVE	0x02
#define O_AUTH_CLEAR	0x04
#define O_ASYNC		0x08
#define O_NORMALIZE	0x10
#define O_REFUSE	0x20	/* refuse every other MAIL/RCPT/message */
#define O_LIMITS	0x40	/* per-session limits lowered (smtp_session_set_limits) */

static int
answer(struct fowner *f, struct outcome *out, int refuse, int code, const char *enh)
{
	struct outcome v;

	if (refuse)
		outcome_set(&v, outcome_kind_of_code(code), code, enh, "refused");
	else
		outcome_ok(&v);
	if (!(f->flags & O_ASYNC)) {
		*out = v;
		return SMTP_DONE;
	}
	f->pending = v;
	f->has_pending = 1;
	return SMTP_PENDING;
}

static void
f_write(void *arg, const char *d, size_t len)
{
	if (len < 5 || d[len - 2] != '\r' || d[len - 1] != '\n' || d[0] < '2' || d[0] > '5' ||
	    d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9')
		abort();
	if (memchr(d, '\n', len) != d + len - 1 && d[3] != '-')
		abort();	/* several lines only as a multi-line reply */
}

static int
f_connect(void *arg, struct outcome *out)
{
	return answer(arg, out, 0, 0, NULL);
}

static int
f_auth(void *arg, const char *mech, const char *authzid, const char *authcid,
    const char *password, struct outcome *out)
{
	struct fowner *f = arg;

	return answer(f, out, strcmp(password, "pass") != 0, 535, "5.7.8");
}

static int
f_mail(void *arg, const struct smtp_envelope *env, struct outcome *out)
{
	struct fowner *f = arg;

	return answer(f, out, (f->flags & O_REFUSE) && (f->n++ & 1), 550, "5.7.1");
}

static int
f_rcpt(void *arg, const struct smtp_envelope *env, const struct smtp_rcpt *r,
    struct outcome *out)
{
	struct fowner *f = arg;

	return answer(f, out, (f->flags & O_REFUSE) && (f->n++ & 1), 450, "4.2.0");
}

static int
f_message(void *arg, const struct smtp_envelope *env, struct buf *msg, struct outcome *out)
{
	struct fowner *f = arg;
	size_t i;

	if (msg->len > f->limit || env->nrcpts == 0)
		abort();
	for (i = 0; i < msg->len; i++) {
		if (msg->data[i] == '\r' && (i + 1 >= msg->len || msg->data[i + 1] != '\n'))
			abort();
		if (msg->data[i] == '\n' && (i == 0 || msg->data[i - 1] != '\r'))
			abort();
	}
	if (f->n++ & 2) {
		/* the owner may take the storage */
		free(buf_steal(msg, NULL));
	}
	return answer(f, out, (f->flags & O_REFUSE) && (f->n & 1), 451, "4.3.0");
}

static void
f_starttls(void *arg)
{
	((struct fowner *)arg)->tls = 1;
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

static struct config *cfgs[2];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *texts[2] = {
		"smtpd_max_recipients = 5\nsmtpd_max_errors = 50\nmessage_size_limit = 4k\n",
		"smtpd_max_recipients = 5\nsmtpd_max_errors = 50\nmessage_size_limit = 4k\n"
		"smtpd_bare_line_ending = normalize\n",
	};
	struct smtp_callbacks cb = {
		.write = f_write, .on_connect = f_connect, .on_auth = f_auth, .on_mail = f_mail,
		.on_rcpt = f_rcpt, .on_message = f_message, .on_starttls = f_starttls,
	};
	struct smtp_params params;
	struct smtp_session_opts opts = { .id = "F", .hostname = "fuzz.test" };
	struct fowner f;
	size_t pos, step;
	char err[256];
	int i;

	if (!cfgs[0]) {
		log_set_level(LOG_LEVEL_ERR);
		for (i = 0; i < 2; i++)
			if (!(cfgs[i] = config_parse("fuzz", texts[i], strlen(texts[i]), err, sizeof(err))))
				abort();
	}
	if (size < 2)
		return 0;
	memset(&f, 0, sizeof(f));
	f.flags = data[0];
	step = data[1] ? data[1] : size;
	f.normalize = !!(f.flags & O_NORMALIZE);
	f.limit = cfgs[f.normalize]->message_size_limit;
	opts.tls_available = !!(f.flags & O_TLS_AVAIL);
	opts.tls_active = !!(f.flags & O_TLS_ACTIVE);
	opts.auth_in_clear = !!(f.flags & O_AUTH_CLEAR);
	f.s = smtp_session_new(params_of(cfgs[f.normalize], &params), &opts, &cb, &f);
	if (f.flags & O_LIMITS) {
		smtp_session_set_limits(f.s, 100, 2);
		f.limit = 100;
	}
	smtp_session_start(f.s);
	for (pos = 2; pos < size;) {
		size_t n = size - pos < step ? size - pos : step;

		f.tls = 0;
		if (smtp_session_input(f.s, data + pos, n) != 0)
			break;
		pos += n;
		while (f.has_pending && smtp_session_pending(f.s)) {
			struct outcome v = f.pending;
			f.has_pending = 0;
			smtp_session_resume(f.s, &v);
		}
		if (!smtp_session_pending(f.s) && f.has_pending)
			f.has_pending = 0;
	}
	smtp_session_free(f.s);
	return 0;
}
