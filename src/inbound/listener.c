/* SPDX-License-Identifier: ISC */
/*
 * listener.c: SMTP connections on the libuv loop.  Owns the listening
 * sockets and, per connection, a stream (src/net/stream.c: the socket
 * and its optional TLS), a uv_timer_t, the smtp_session (smtp/) and its
 * relay_session (src/inbound/relay.c).  The data path is: stream read
 * (TLS decrypted there) → smtp_session_input(); session writes collect
 * in an output buffer that is handed to the stream (which encrypts when
 * TLS is on) after every call into the session.
 *
 * Invariants:
 *  - Flow control (STYLE rule 5): while the session waits for a
 *    callback, reading stops (uv_read_stop) and resumes from the
 *    relay's "resumed" hook.  Time spent waiting on our own work is
 *    never counted as a client timeout.
 *  - Limits: the listener counts connections (total and per client
 *    IP) and matches smtpd_relay_networks; on_connect hands the counts
 *    to the relay's CONNECT stages (policy/limits.c), which decide
 *    (421 4.7.0, 554 5.7.1).
 *  - Timeouts: smtpd_timeout between commands, smtpd_data_timeout while
 *    reading DATA/BDAT text; expiry answers 421 4.4.2 (RFC 5321
 *    §4.5.3.2) and closes.  A peer that stops reading our replies is
 *    closed after one more timeout period.  Those idle timers restart on
 *    every byte, so a client trickling one byte at a time would never
 *    meet them (issue 12 item 12): three deadlines that bytes do not
 *    move bound it.  smtpd_tls_handshake_timeout from the start of a TLS
 *    handshake (implicit or STARTTLS) to its end: the connection is
 *    closed (no reply can be sent before TLS is up);
 *    smtpd_command_timeout from the first byte of a command line to its
 *    reply (not applied to DATA/BDAT text, which smtpd_data_timeout and
 *    the session deadline bound); smtpd_session_timeout for the whole
 *    connection.  The last two answer 421 4.4.2 and close.  One timer
 *    serves all: it is armed for whichever comes first.
 *  - STARTTLS (RFC 3207): the 220 goes out in clear, then every later
 *    byte goes through TLS; the session itself drops input pipelined
 *    after the command (CVE-2011-0411).
 *  - Memory of a connection is freed only in the close callback of its
 *    last handle (STYLE rule 12).
 *  - Loops (smtpd_loops): one listener per loop, each binding every
 *    address itself (SO_REUSEPORT when there are several loops, so the
 *    kernel spreads connections over them).  The counts the CONNECT
 *    limits see (connections in total and per client address) are one
 *    struct listener_counts shared by the listeners of all loops under
 *    its mutex; everything else here belongs to one loop's thread.
 *  - Config: the listener holds a reference to the config new sessions
 *    start with, each connection one to the config it started with
 *    (config_ref/config_unref); SIGHUP swaps the listener's reference,
 *    and an old config is freed when its last session ends.  Nothing
 *    here reads the config file or parses a value: addresses and
 *    networks arrive parsed (struct config_list's addrs[], cidrs[]).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "hash.h"
#include "listener.h"
#include "log.h"
#include "outcome.h"
#include "relay.h"
#include "smtp.h"
#include "stream.h"
#include "tls.h"
#include "util.h"

#define LISTENER_BACKLOG 511
/* Replies a slow reader may leave unsent before we give up on it. */
#define LISTENER_MAX_UNSENT (1024 * 1024)
#define LISTENER_SHUTDOWN_GRACE_MS 2000

struct lsock {
	uv_tcp_t tcp;
	struct listener *l;	/* borrowed */
	enum relay_mode mode;
	char addr[80];
};

struct ip_count {
	size_t n;
};

/* Connections counted for the CONNECT limits, over every loop. */
struct listener_counts {
	pthread_mutex_t mu;
	struct hash *ips;		/* client address -> struct ip_count (owned) */
	size_t active;
	int refs;			/* atomic: the listeners sharing it */
};

struct conn {
	struct stream st;		/* socket + TLS; st.tcp.data = this conn */
	uv_timer_t timer;
	struct listener *l;		/* borrowed */
	struct conn *prev, *next;	/* l->conns */
	enum relay_mode mode;
	const struct config *cfg;	/* one reference: the config this session started with */
	char id[24];
	char ip[64];
	struct smtp_session *s;
	struct relay_session *rs;
	struct buf out;			/* session replies not yet sent (plaintext) */
	int handles;			/* open uv handles */
	int counted;			/* counted in l->active and per IP */
	int finishing;			/* session over: close once output is flushed */
	uint64_t started_ms;		/* accepted (uv_now): smtpd_session_timeout */
	uint64_t tls_started_ms;	/* TLS handshake under way since, or 0 */
	uint64_t cmd_started_ms;	/* first byte of the command being read, or 0 */
	int closing;			/* uv_close called */
};

struct listener {
	uv_loop_t *loop;		/* borrowed */
	const struct config *cfg;	/* one reference; for new sessions */
	struct relay *relay;		/* borrowed */
	struct tls_ctx *tls;		/* for new connections; NULL without a cert */
	struct lsock **socks;
	size_t nsocks;
	struct conn *conns;
	struct listener_counts *counts;	/* one reference; shared by every loop's listener */
	struct listener_stats stats;	/* this loop's */
	unsigned long seq;		/* session ids: this loop's index, step nloops */
	unsigned nloops;
	int handles;			/* open listening handles + connections */
	int stopping;
	listener_stopped_cb stopped;
	void *stopped_arg;
};

static void conn_flush(struct conn *c);
static void conn_close(struct conn *c);
static void conn_after_input(struct conn *c);
static void conn_timer_fired(uv_timer_t *t);

/* ---- CIDRs ---- */

int
listener_cidr_match(const char *cidr, const char *addr)
{
	struct config_cidr c;
	unsigned char a[16];

	if (config_parse_cidr(cidr, &c) != 0)
		return -1;
	if (inet_pton(AF_INET, addr, a) == 1)
		return config_cidr_contains(&c, AF_INET, a);
	if (inet_pton(AF_INET6, addr, a) == 1)
		return config_cidr_contains(&c, AF_INET6, a);
	return 0;
}

static int
listener_trusted(const struct listener *l, const char *ip)
{
	const struct config_list *nets = &l->cfg->smtpd_relay_networks;
	unsigned char a[16];
	int family;
	size_t i;

	if (inet_pton(AF_INET, ip, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		family = AF_INET6;
	else
		return 0;
	for (i = 0; nets->cidrs != NULL && i < nets->n; i++)
		if (config_cidr_contains(&nets->cidrs[i], family, a))
			return 1;
	return 0;
}

/* ---- per-IP counts ---- */

/* Count a connection from IP: its address's count; *TOTAL all loops'. */
static size_t
ip_incr(struct listener *l, const char *ip, size_t *total)
{
	struct listener_counts *k = l->counts;
	struct ip_count *e;
	size_t n;

	pthread_mutex_lock(&k->mu);
	if ((e = hash_gets(k->ips, ip)) == NULL) {
		e = xcalloc(1, sizeof(*e));
		hash_puts(k->ips, ip, e);
	}
	n = ++e->n;
	*total = ++k->active;
	pthread_mutex_unlock(&k->mu);
	return n;
}

static void
ip_decr(struct listener *l, const char *ip)
{
	struct listener_counts *k = l->counts;
	struct ip_count *e;

	pthread_mutex_lock(&k->mu);
	if ((e = hash_gets(k->ips, ip)) != NULL && --e->n == 0)
		hash_dels(k->ips, ip);
	if (k->active > 0)
		k->active--;
	pthread_mutex_unlock(&k->mu);
}

static struct listener_counts *
counts_new(void)
{
	struct listener_counts *k = xcalloc(1, sizeof(*k));

	pthread_mutex_init(&k->mu, NULL);
	k->ips = hash_new(free);
	k->refs = 1;
	return k;
}

static void
counts_unref(struct listener_counts *k)
{
	if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	hash_free(k->ips);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

/* ---- teardown ---- */

static void
listener_maybe_stopped(struct listener *l)
{
	if (l->stopping && l->handles == 0 && l->stopped != NULL) {
		listener_stopped_cb cb = l->stopped;

		l->stopped = NULL;
		cb(l->stopped_arg);
	}
}

static void
conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct listener *l = c->l;

	if (--c->handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	relay_session_free(c->rs);
	smtp_session_free(c->s);
	stream_release(&c->st);
	buf_free(&c->out);
	config_unref(c->cfg);
	free(c);
	l->handles--;
	listener_maybe_stopped(l);
}

static void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->counted) {
		c->l->stats.active--;
		ip_decr(c->l, c->ip);
		c->counted = 0;
	}
	log_debug("sid=%s event=disconnect", c->id);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	stream_close(&c->st, conn_handle_closed);
}

/* Close now if the session is over and everything it said has left. */
static void
conn_maybe_finish(struct conn *c)
{
	if (c->closing || !c->finishing)
		return;
	/* An implicit-TLS refusal can only be sent once the handshake is done. */
	if (stream_tls_on(&c->st) && !stream_tls_up(&c->st) && c->out.len > 0)
		return;
	if (c->out.len == 0 && stream_unsent(&c->st) == 0)
		conn_close(c);
}

/* ---- output ---- */

/* A uv_write of the stream finished. */
static void
conn_written(void *arg, int status)
{
	struct conn *c = arg;

	if (status != 0 && !c->closing) {
		log_debug("sid=%s event=write_error error=%s", c->id, uv_strerror(status));
		conn_close(c);
		return;
	}
	conn_maybe_finish(c);
}

/*
 * Send what the session wrote (the stream encrypts when TLS is on) and
 * TLS's own records.  Replies wait in c->out until a handshake is done.
 */
static void
conn_flush(struct conn *c)
{
	int rc;

	if (c->closing)
		return;
	if (c->out.len > 0 && (!stream_tls_on(&c->st) || stream_tls_up(&c->st))) {
		rc = stream_write(&c->st, c->out.data, c->out.len);
		buf_reset(&c->out);	/* sent, or TLS is failing: nothing more to say */
	} else {
		rc = stream_flush(&c->st);
	}
	if (rc != 0) {
		log_debug("sid=%s event=write_error error=%s", c->id, uv_strerror(rc));
		conn_close(c);
		return;
	}
	if (stream_unsent(&c->st) > LISTENER_MAX_UNSENT && !c->closing) {
		log_info("sid=%s event=disconnect reason=not_reading", c->id);
		conn_close(c);
		return;
	}
	conn_maybe_finish(c);
}

/* ---- timers ---- */

enum conn_deadline { DEADLINE_NONE, DEADLINE_TLS, DEADLINE_COMMAND, DEADLINE_SESSION };

/* The earliest deadline of C (monotonic ms) and which one it is. */
static enum conn_deadline
conn_deadline(const struct conn *c, uint64_t *at)
{
	enum conn_deadline kind = DEADLINE_SESSION;
	uint64_t d = c->started_ms + c->cfg->smtpd_session_timeout;

	if (c->tls_started_ms != 0 && stream_tls_on(&c->st) && !stream_tls_up(&c->st) &&
	    c->tls_started_ms + c->cfg->smtpd_tls_handshake_timeout < d) {
		d = c->tls_started_ms + c->cfg->smtpd_tls_handshake_timeout;
		kind = DEADLINE_TLS;
	}
	if (c->cmd_started_ms != 0 && c->cmd_started_ms + c->cfg->smtpd_command_timeout < d) {
		d = c->cmd_started_ms + c->cfg->smtpd_command_timeout;
		kind = DEADLINE_COMMAND;
	}
	*at = d;
	return kind;
}

static void
conn_arm_timer(struct conn *c)
{
	uint64_t ms, at, now;

	if (c->closing)
		return;
	ms = c->s != NULL && smtp_session_in_data(c->s) ? c->cfg->smtpd_data_timeout :
	    c->cfg->smtpd_timeout;
	if (!c->finishing && (c->s == NULL || !smtp_session_pending(c->s))) {
		/* the deadlines bytes do not move (not while the client waits on
		 * us: a passed deadline would re-fire at once until we answer) */
		(void)conn_deadline(c, &at);
		now = uv_now(c->l->loop);	/* the timer's own clock */
		if (at <= now)
			ms = 0;
		else if (at - now < ms)
			ms = at - now;
	}
	uv_timer_start(&c->timer, conn_timer_fired, ms, 0);
}

static const char *
conn_strdeadline(enum conn_deadline k)
{
	switch (k) {
	case DEADLINE_TLS: return "tls_handshake";
	case DEADLINE_COMMAND: return "command";
	case DEADLINE_SESSION: return "session";
	case DEADLINE_NONE: break;
	}
	return "idle";
}

static void
conn_timer_fired(uv_timer_t *t)
{
	struct conn *c = t->data;
	struct outcome o;
	enum conn_deadline kind;
	uint64_t at;

	if (c->closing)
		return;
	if (c->finishing) {
		/* The peer did not take our last words in a whole timeout period. */
		conn_close(c);
		return;
	}
	if (c->s != NULL && smtp_session_pending(c->s)) {
		conn_arm_timer(c);	/* waiting on us, not on the client */
		return;
	}
	kind = conn_deadline(c, &at);
	if (at > uv_now(c->l->loop))
		kind = DEADLINE_NONE;	/* the idle timer */
	c->l->stats.timeouts++;
	log_info("sid=%s event=timeout reason=%s state=%s client=%s", c->id, conn_strdeadline(kind),
	    c->s ? smtp_strstate(smtp_session_state(c->s)) : "-", c->ip);
	if (kind == DEADLINE_TLS) {
		/* nothing can be said before TLS is up */
		buf_reset(&c->out);
		conn_close(c);
		return;
	}
	outcome_reply(&o, R_TIMEOUT);
	if (c->s != NULL)
		smtp_session_shutdown(c->s, &o);
	c->finishing = 1;
	conn_arm_timer(c);
	conn_flush(c);
}

/* ---- session callbacks ---- */

static void
conn_on_write(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;

	if (c->closing)
		return;
	c->cmd_started_ms = 0;	/* a reply: the command it answers is over */
	(void)buf_append(&c->out, data, len);
}

static int
conn_on_connect(void *arg, struct outcome *out)
{
	struct conn *c = arg;
	struct listener *l = c->l;
	size_t per_ip, total;

	c->counted = 1;
	l->stats.active++;
	per_ip = ip_incr(l, c->ip, &total);
	/* the decisions are the CONNECT stages (policy/limits.c); the counts
	 * are every loop's */
	(void)relay_on_connect(c->rs, c->mode == RELAY_MODE_RELAY && listener_trusted(l, c->ip),
	    total, per_ip, out);
	if (out->kind != OUTCOME_OK)
		l->stats.refused++;
	return SMTP_DONE;
}

static int
conn_on_auth(void *arg, const char *mech, const char *authzid, const char *authcid,
    const char *password, struct outcome *out)
{
	struct conn *c = arg;

	return relay_on_auth(c->rs, mech, authzid, authcid, password, out);
}

static int
conn_on_mail(void *arg, const struct smtp_envelope *env, struct outcome *out)
{
	struct conn *c = arg;

	return relay_on_mail(c->rs, env, out);
}

static int
conn_on_rcpt(void *arg, const struct smtp_envelope *env, const struct smtp_rcpt *rcpt,
    struct outcome *out)
{
	struct conn *c = arg;

	return relay_on_rcpt(c->rs, env, rcpt, out);
}

static int
conn_on_message(void *arg, const struct smtp_envelope *env, struct buf *msg,
    struct outcome *out)
{
	struct conn *c = arg;

	return relay_on_message(c->rs, env, msg, out);
}

/* RFC 3207: the 220 has been written in clear; TLS starts with the next byte. */
static void
conn_on_starttls(void *arg)
{
	struct conn *c = arg;

	conn_flush(c);
	if (c->l->tls == NULL) {
		conn_close(c);
		return;
	}
	if (stream_start_tls(&c->st, c->l->tls, 1, NULL) != 0)
		conn_close(c);
	c->tls_started_ms = uv_now(c->l->loop);
}

static void
conn_on_close(void *arg)
{
	struct conn *c = arg;

	c->finishing = 1;
}

/* The relay answered a pending callback: send, and read again if wanted. */
static void
conn_resumed(void *owner)
{
	struct conn *c = owner;

	conn_after_input(c);
}

/* ---- input ---- */

/* After every call into the session: flush, then set reading and the timer. */
static void
conn_after_input(struct conn *c)
{
	if (c->closing)
		return;
	if (c->s != NULL && smtp_session_state(c->s) == SMTP_STATE_CLOSED)
		c->finishing = 1;
	conn_flush(c);
	if (c->closing)
		return;
	if (c->finishing) {
		/* Keep reading only to finish a TLS handshake that carries our refusal. */
		int want = stream_tls_on(&c->st) && !stream_tls_up(&c->st);

		if (!want)
			stream_read_stop(&c->st);
		conn_arm_timer(c);	/* bounds how long we wait for the peer */
		return;
	}
	if (smtp_session_wants_input(c->s))
		(void)stream_read_start(&c->st);
	else
		stream_read_stop(&c->st);
	conn_arm_timer(c);
}

/* Plaintext from the stream (decrypted when TLS is on; LEN may be 0). */
static void
conn_on_read(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;

	if (c->closing)
		return;
	/* The session may switch nothing here: STARTTLS is refused once TLS is on. */
	if (len > 0 && c->cmd_started_ms == 0 && c->s != NULL && !smtp_session_in_data(c->s))
		c->cmd_started_ms = uv_now(c->l->loop);	/* smtpd_command_timeout runs */
	if (len > 0 && !c->finishing)
		(void)smtp_session_input(c->s, data, len);
	conn_after_input(c);
}

static void
conn_on_handshake(void *arg)
{
	struct conn *c = arg;

	c->tls_started_ms = 0;
	log_info("sid=%s event=tls version=%s cipher=%s resumed=%s", c->id,
	    stream_tls_version(&c->st), stream_tls_cipher(&c->st),
	    stream_tls_resumed(&c->st) ? "yes" : "no");
}

static void
conn_on_stream_error(void *arg, enum stream_error e, int status, const char *why)
{
	struct conn *c = arg;

	if (c->closing)
		return;
	if (e == STREAM_EOF) {
		conn_close(c);
		return;
	}
	if (e == STREAM_READ_ERROR) {
		log_debug("sid=%s event=read_error error=%s", c->id, uv_strerror(status));
		conn_close(c);
		return;
	}
	c->l->stats.tls_failed++;
	log_info("sid=%s event=tls_failed client=%s error=\"%s\"", c->id, c->ip, why);
	conn_flush(c);		/* the stream sent the alert, if any */
	c->finishing = 1;
	buf_reset(&c->out);
	conn_maybe_finish(c);
	if (!c->closing)
		stream_read_stop(&c->st);
}

static const struct stream_ops conn_stream_ops = {
	conn_on_read, conn_on_handshake, conn_on_stream_error, conn_written,
};

/* Client address as text; IPv4-mapped IPv6 addresses become plain IPv4. */
static void
conn_peer(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	str_copy(c->ip, "unknown", sizeof(c->ip));
	if (uv_tcp_getpeername(&c->st.tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, c->ip, sizeof(c->ip));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], c->ip, sizeof(c->ip));
		else
			uv_ip6_name(s6, c->ip, sizeof(c->ip));
	}
}

void
listener_smtp_params(struct smtp_params *p, const struct config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->hostname = cfg->hostname;
	p->banner = cfg->smtpd_banner;
	p->size_limit = cfg->message_size_limit;
	p->max_rcpts = cfg->smtpd_max_recipients > 0 ? (size_t)cfg->smtpd_max_recipients : 0;
	p->max_errors = cfg->smtpd_max_errors > 0 ? (int)cfg->smtpd_max_errors : 0;
	p->normalize_bare_lf = cfg->smtpd_bare_line_ending == CONFIG_BARE_LF_NORMALIZE;
}

static void
listener_accept(uv_stream_t *server, int status)
{
	struct lsock *ls = server->data;
	struct listener *l = ls->l;
	struct smtp_session_opts opts;
	struct smtp_params params;
	struct smtp_callbacks cb;
	struct conn *c;

	if (status != 0) {
		log_warn("event=accept_error listener=%s error=%s", ls->addr, uv_strerror(status));
		return;
	}
	if (l->stopping)
		return;
	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->mode = ls->mode;
	c->cfg = config_ref(l->cfg);
	buf_init(&c->out, 0);
	stream_init(&c->st, l->loop, &conn_stream_ops, c);
	c->handles = 1;
	if (uv_accept(server, (uv_stream_t *)&c->st.tcp) != 0) {
		c->closing = 1;
		c->handles = 1;
		uv_timer_init(l->loop, &c->timer);	/* keep the close path uniform */
		c->timer.data = c;
		c->handles = 2;
		c->next = l->conns;
		if (l->conns)
			l->conns->prev = c;
		l->conns = c;
		l->handles++;
		uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
		stream_close(&c->st, conn_handle_closed);
		return;
	}
	uv_timer_init(l->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->handles++;
	l->stats.accepted++;
	c->started_ms = uv_now(l->loop);	/* deadlines use the loop's clock, as its timers do */
	snprintf(c->id, sizeof(c->id), "%08lx%06lx", (unsigned long)(now_wall_ms() / 1000) & 0xffffffffUL,
	    (l->seq += l->nloops) & 0xffffffUL);
	conn_peer(c);
	uv_tcp_nodelay(&c->st.tcp, 1);
	if (l->nloops > 1)
		log_info("sid=%s event=connect listener=%s client=%s loop=%lu", c->id,
		    relay_strmode(c->mode), c->ip, l->seq % l->nloops);
	else
		log_info("sid=%s event=connect listener=%s client=%s", c->id, relay_strmode(c->mode),
		    c->ip);

	if (c->mode == RELAY_MODE_SUBMISSIONS) {
		if (l->tls == NULL) {	/* certificate dropped by a reload */
			log_warn("sid=%s event=refused reason=no_tls_certificate", c->id);
			conn_close(c);
			return;
		}
		if (stream_start_tls(&c->st, l->tls, 1, NULL) != 0) {
			conn_close(c);
			return;
		}
		c->tls_started_ms = c->started_ms;
	}
	c->rs = relay_session_new(l->relay, c->mode, c->id, c->ip, conn_resumed, c);
	memset(&opts, 0, sizeof(opts));
	opts.id = c->id;
	opts.hostname = NULL;
	opts.tls_available = (c->mode == RELAY_MODE_SUBMISSION || c->mode == RELAY_MODE_FEEDBACK) &&
	    l->tls != NULL;
	opts.tls_active = c->mode == RELAY_MODE_SUBMISSIONS;
	opts.auth_in_clear = c->cfg->smtpd_auth_in_clear;
	memset(&cb, 0, sizeof(cb));
	cb.write = conn_on_write;
	cb.on_connect = conn_on_connect;
	if (c->mode != RELAY_MODE_RELAY && c->mode != RELAY_MODE_FEEDBACK)
		cb.on_auth = conn_on_auth;
	cb.on_mail = conn_on_mail;
	cb.on_rcpt = conn_on_rcpt;
	cb.on_message = conn_on_message;
	if (opts.tls_available)
		cb.on_starttls = conn_on_starttls;
	cb.on_close = conn_on_close;
	listener_smtp_params(&params, c->cfg);
	c->s = smtp_session_new(&params, &opts, &cb, c);
	relay_session_attach(c->rs, c->s);
	smtp_session_start(c->s);
	if (stream_tls_on(&c->st) && !c->closing)	/* the handshake needs input */
		(void)stream_read_start(&c->st);	/* even if the session is done */
	conn_after_input(c);
}

/* ---- set-up ---- */

/* Listen on the parsed address A (SPEC is its text, for logs). */
static int
listener_bind(struct listener *l, const char *spec, const struct config_addr *a,
    enum relay_mode mode, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct lsock *ls;
	const char *host = a->host;
	int port = a->port, rc;
	unsigned flags = 0;

	memset(&ss, 0, sizeof(ss));
	if (strcmp(host, "*") == 0) {
		rc = uv_ip6_addr("::", port, (struct sockaddr_in6 *)&ss);
	} else if (strchr(host, ':') != NULL) {
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
		flags = UV_TCP_IPV6ONLY;
	} else {
		rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: the host must be an IP address or *", spec);
		return -1;
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->l = l;
	ls->mode = mode;
	str_copy(ls->addr, spec, sizeof(ls->addr));
	/* the socket exists before bind, so SO_REUSEPORT can be set on it */
	rc = uv_tcp_init_ex(l->loop, &ls->tcp, ss.ss_family);
	if (rc == UV_EAFNOSUPPORT && strcmp(host, "*") == 0) {
		/* no IPv6 on this host: "*" means every IPv4 address */
		uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss);
		rc = uv_tcp_init_ex(l->loop, &ls->tcp, AF_INET);
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s listener %s: %s", relay_strmode(mode), spec, uv_strerror(rc));
		free(ls);
		return -1;
	}
	ls->tcp.data = ls;
	l->socks = xrealloc(l->socks, (l->nsocks + 1) * sizeof(*l->socks));
	l->socks[l->nsocks++] = ls;
	l->handles++;
	if (l->nloops > 1) {
		/* every loop binds the same address; the kernel spreads
		 * new connections over the loops' sockets */
		uv_os_fd_t fd;
		int on = 1;

		if ((rc = uv_fileno((uv_handle_t *)&ls->tcp, &fd)) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
			rc = uv_translate_sys_error(errno);
	}
	if (rc == 0)
		rc = uv_tcp_bind(&ls->tcp, (struct sockaddr *)&ss, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&ls->tcp, LISTENER_BACKLOG, listener_accept);
	if (rc != 0) {
		snprintf(err, errlen, "%s listener %s: %s", relay_strmode(mode), spec, uv_strerror(rc));
		return -1;
	}
	if (l->nloops > 1)
		log_info("event=listening listener=%s address=%s loop=%lu", relay_strmode(mode), spec,
		    l->seq);
	else
		log_info("event=listening listener=%s address=%s", relay_strmode(mode), spec);
	return 0;
}

static void
lsock_closed(uv_handle_t *h)
{
	struct lsock *ls = h->data;
	struct listener *l = ls->l;

	free(ls);
	l->handles--;
	listener_maybe_stopped(l);
}

/* A TLS context when a TLS listener needs one (or a cert is configured anyway). */
static int
listener_load_tls(const struct config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
	int need = cfg->smtpd_submissions_listen.n > 0;

	*out = NULL;
	if (cfg->smtpd_tls_cert_file[0] == '\0' && cfg->smtpd_tls_key_file[0] == '\0') {
		/* A relay-only set-up needs no certificate: say what is off. */
		if (need)
			log_warn("event=config_warning reason=no_tls_certificate "
			    "note=\"smtpd_submissions_listen is not started\"");
		if (cfg->smtpd_submission_listen.n > 0)
			log_warn("event=config_warning reason=no_tls_certificate "
			    "note=\"submission listeners will not offer STARTTLS\"");
		return 0;
	}
	if ((*out = tls_server_ctx_new(cfg->smtpd_tls_cert_file, cfg->smtpd_tls_key_file, err,
	    errlen)) == NULL)
		return -1;
	return 0;
}

static void
listener_free_cb(void *arg)
{
	listener_free(arg);
}

struct listener *
listener_start(uv_loop_t *loop, const struct config *cfg, struct relay *relay, char *err,
    size_t errlen)
{
	return listener_start_loop(loop, cfg, relay, NULL, 0, 1, err, errlen);
}

struct listener *
listener_start_loop(uv_loop_t *loop, const struct config *cfg, struct relay *relay,
    struct listener *first, unsigned index, unsigned nloops, char *err, size_t errlen)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	size_t i;

	l->loop = loop;
	l->cfg = config_ref(cfg);
	l->relay = relay;
	if (first != NULL) {
		l->counts = first->counts;
		__atomic_add_fetch(&l->counts->refs, 1, __ATOMIC_ACQ_REL);
	} else
		l->counts = counts_new();
	l->nloops = nloops > 0 ? nloops : 1;
	l->seq = index;
	if (first != NULL)
		l->tls = tls_ctx_ref(first->tls);	/* one TLS context for every loop */
	else if (listener_load_tls(cfg, &l->tls, err, errlen) != 0)
		goto fail;
	for (i = 0; i < cfg->smtpd_submission_listen.n; i++)
		if (listener_bind(l, cfg->smtpd_submission_listen.items[i],
		    &cfg->smtpd_submission_listen.addrs[i], RELAY_MODE_SUBMISSION, err,
		    errlen) != 0)
			goto fail;
	for (i = 0; l->tls != NULL && i < cfg->smtpd_submissions_listen.n; i++)
		if (listener_bind(l, cfg->smtpd_submissions_listen.items[i],
		    &cfg->smtpd_submissions_listen.addrs[i], RELAY_MODE_SUBMISSIONS, err,
		    errlen) != 0)
			goto fail;
	for (i = 0; i < cfg->smtpd_relay_listen.n; i++)
		if (listener_bind(l, cfg->smtpd_relay_listen.items[i],
		    &cfg->smtpd_relay_listen.addrs[i], RELAY_MODE_RELAY, err, errlen) != 0)
			goto fail;
	for (i = 0; i < cfg->feedback_listen.n; i++)
		if (listener_bind(l, cfg->feedback_listen.items[i],
		    &cfg->feedback_listen.addrs[i], RELAY_MODE_FEEDBACK, err, errlen) != 0)
			goto fail;
	return l;
fail:
	/* Close what was bound; the handles are freed on the next loop turn. */
	for (i = 0; i < l->nsocks; i++)
		uv_close((uv_handle_t *)&l->socks[i]->tcp, lsock_closed);
	l->nsocks = 0;
	l->stopping = 1;
	free(l->socks);
	l->socks = NULL;
	tls_ctx_free(l->tls);
	l->tls = NULL;
	if (l->handles == 0) {
		listener_free(l);
	} else {
		/* freed once the listening handles are closed */
		l->stopped = listener_free_cb;
		l->stopped_arg = l;
	}
	return NULL;
}

int
listener_reload(struct listener *l, const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *tls;

	if (listener_load_tls(cfg, &tls, err, errlen) != 0)
		return -1;
	tls_ctx_free(l->tls);	/* live connections keep their own reference */
	l->tls = tls;
	config_unref(l->cfg);	/* live connections keep their own reference */
	l->cfg = config_ref(cfg);
	log_info("event=listener_reloaded tls=%s", tls ? "yes" : "no");
	return 0;
}

struct tls_ctx *
listener_tls_ref(struct listener *l)
{
	return tls_ctx_ref(l->tls);
}

void
listener_reload_shared(struct listener *l, const struct config *cfg, struct tls_ctx *tls)
{
	tls_ctx_free(l->tls);	/* live connections keep their own reference */
	l->tls = tls;
	config_unref(l->cfg);
	l->cfg = config_ref(cfg);
}

void
listener_stop(struct listener *l, listener_stopped_cb cb, void *arg)
{
	struct conn *c, *next;
	struct outcome o;
	size_t i;

	if (l->stopping) {	/* already stopping: only the callback changes */
		l->stopped = cb;
		l->stopped_arg = arg;
		return;
	}
	l->stopping = 1;
	l->stopped = cb;
	l->stopped_arg = arg;
	for (i = 0; i < l->nsocks; i++)
		uv_close((uv_handle_t *)&l->socks[i]->tcp, lsock_closed);
	l->nsocks = 0;
	outcome_reply(&o, R_SHUTTING_DOWN);
	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		if (c->s != NULL && !c->finishing)
			smtp_session_shutdown(c->s, &o);
		c->finishing = 1;
		conn_flush(c);
		if (!c->closing)	/* give the 421 a moment, not a whole timeout */
			uv_timer_start(&c->timer, conn_timer_fired, LISTENER_SHUTDOWN_GRACE_MS, 0);
	}
	listener_maybe_stopped(l);
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	counts_unref(l->counts);
	tls_ctx_free(l->tls);
	free(l->socks);
	config_unref(l->cfg);
	free(l);
}

void
listener_get_stats(const struct listener *l, struct listener_stats *out)
{
	*out = l->stats;
}
