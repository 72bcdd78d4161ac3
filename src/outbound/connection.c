/* SPDX-License-Identifier: ISC */
/*
 * connection.c: one outbound SMTP connection of the delivery engine
 * (DESIGN.md §8): route target -> TCP connect (smtp_bind_address,
 * smtp_connect_timeout) -> SMTP client FSM (smtp/client) -> STARTTLS
 * through the stream (src/net/stream.c) per the domain's TLS policy -> messages one after the
 * other -> QUIT.
 *
 * MX fail-over (RFC 5321 §5.1): a connection has its own copy of the
 * destination's targets, hosts of equal preference shuffled again so
 * parallel connections spread over them.  A connect failure or timeout,
 * a greeting other than 220, a refused EHLO or a TLS failure before the
 * session is established moves to the next target; when none is left
 * the destination's waiting items are deferred with the last reason
 * (unless another connection of the destination is in session).
 *
 * Memory: a connection is freed only in its handles' close callbacks
 * (handle_closed); the SMTP client may be on the stack when it is told
 * to close.  An item taken but not reported when the connection goes
 * away is freed unreported: it stays due in the queue.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "outbound_int.h"
#include "outcome.h"
#include "queue.h"
#include "route.h"
#include "smtp_client.h"
#include "stream.h"
#include "util.h"

static void conn_try_target(struct conn *c);

/* "connect to HOST: REASON" (R_CONNECT_FAILED): the relay could not be reached. */
static void
connect_failed(struct outcome *o, const char *relay, const char *reason)
{
	char d[512];

	snprintf(d, sizeof(d), "%s: %s", relay, reason);
	outcome_reply(o, R_CONNECT_FAILED, d);
}

/* ---- connections ---- */

static void conn_arm_timer(struct conn *c);

/* Free the session state; only from close callbacks (the client may be
 * on the stack when the connection is told to close). */
static void
conn_release_session(struct conn *c)
{
	stream_release(&c->st);
	c->tls_hs = 0;
	if (c->client) {
		smtp_client_free(c->client);
		c->client = NULL;
	}
	c->idle = 0;
}

static void
handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct dl_engine *dl = c->dl;

	if (h == (uv_handle_t *)&c->st.tcp) {
		c->tcp_inited = 0;
		conn_release_session(c);
	} else {
		c->timer_inited = 0;
	}
	if (c->after == AFTER_NEXT_TARGET) {
		if (!c->tcp_inited) {
			c->closing = 0;
			c->after = AFTER_NOTHING;
			conn_try_target(c);
		}
		return;
	}
	if (c->tcp_inited || c->timer_inited)
		return;
	conn_release_session(c);
	if (c->cur) {
		dl_item_free(c->cur);	/* unreported: stays due in the queue */
		c->cur = NULL;
	}
	free(c->targets);
	free(c);
	dl->nconns--;
	dl_check_drained(dl);
	dl_maybe_free(dl);
}

/* Tear the socket down; AFTER says what happens once it is closed. */
static void
conn_close(struct conn *c, enum conn_after after)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->after = after;
	if (c->tcp_inited)
		stream_close(&c->st, handle_closed);
	if (c->timer_inited) {
		uv_timer_stop(&c->timer);
		if (after == AFTER_FREE)
			uv_close((uv_handle_t *)&c->timer, handle_closed);
	}
	if (!c->tcp_inited && !(after == AFTER_FREE && c->timer_inited)) {
		/* nothing to wait for */
		if (after == AFTER_NEXT_TARGET) {
			c->closing = 0;
			c->after = AFTER_NOTHING;
			conn_try_target(c);
		}
	}
}

/* Unlink C from its destination (it is going away). */
static void
conn_detach(struct conn *c)
{
	struct dest *ds = c->dest;
	struct conn **pp;

	if (ds == NULL)
		return;
	for (pp = &ds->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ds->nconns--;
	if (c->slot)
		dl_dest_conn_give(c->dl, ds->domain);
	c->slot = 0;
	c->dest = NULL;
}

/* No target gave a session: defer the destination's waiting items, unless
 * another connection is still working for it. */
static void
conn_give_up(struct conn *c)
{
	struct dest *ds = c->dest;
	struct outcome o = c->last_fail;
	struct conn *other;
	int alive = 0;

	conn_detach(c);
	conn_close(c, AFTER_FREE);
	if (ds == NULL)
		return;
	for (other = ds->conns; other; other = other->next)
		alive |= other->in_session;
	/* Nobody is talking to this destination: it is down for now.  Defer
	 * what waits (connections still trying will find nothing to do). */
	if (!alive) {
		struct dl_item *it;

		if (o.code == 0)
			outcome_reply(&o, R_NO_SERVER_REACHABLE);
		/* RFC 5321 §4.5.4.1: a server we could not talk to is a reason to retry */
		if (o.kind != OUTCOME_TEMPFAIL) {
			/* not outcome_reply(&o, ..., o.text): formatting a buffer
			 * into itself left the reason empty */
			char why[sizeof(o.text)];

			str_copy(why, o.text, sizeof(why));
			outcome_reply(&o, R_SERVER_REFUSED, why);
		}
		while ((it = dest_pop(ds)) != NULL) {
			str_copy(it->relay, c->relay, sizeof(it->relay));
			dl_item_fail_all(it, &o);
		}
	}
	dest_run(ds);
	dest_gc(ds);
}

/*
 * The MX fail-over step, the only one (RFC 5321 §5.1): the current
 * target failed for WHY before a session was established (bad address,
 * connect error or timeout, greeting other than 220, EHLO or TLS
 * refused).  Remember WHY as the last reason, then try the next target
 * once this socket is closed, or, when none is left, give up on the
 * destination with that reason (conn_give_up).
 */
static void
conn_fail_over(struct conn *c, const struct outcome *why)
{
	c->last_fail = *why;
	c->ti++;
	if (c->ti < c->ntargets)
		conn_close(c, AFTER_NEXT_TARGET);
	else
		conn_give_up(c);
}

static void
timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->closing)
		return;
	if (c->client == NULL) {
		/* connect timeout */
		struct outcome why;

		connect_failed(&why, c->relay, "timed out");
		log_info("cid=%s event=connect_failed relay=%s reason=timeout", c->id, c->relay);
		conn_fail_over(c, &why);
		return;
	}
	if (c->idle) {
		c->idle = 0;
		smtp_client_quit(c->client);
		conn_arm_timer(c);
		return;
	}
	smtp_client_timeout(c->client);
}

static void
conn_arm_timer(struct conn *c)
{
	uint64_t ms;

	if (c->closing || !c->timer_inited || c->client == NULL)
		return;
	ms = smtp_client_timeout_ms(c->client);
	if (ms == 0 && c->idle)
		ms = DL_IDLE_MS;
	if (ms == 0) {
		uv_timer_stop(&c->timer);
		return;
	}
	uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* ---- SMTP client callbacks ---- */

static void
op_send(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;

	if (c->closing)
		return;
	(void)stream_write(&c->st, data, len);	/* a failed socket shows up as a read error */
}

static void
op_send2(void *arg, const char *a, size_t alen, const char *b, size_t blen)
{
	struct conn *c = arg;

	if (c->closing)
		return;
	(void)stream_write2(&c->st, a, alen, b, blen);
}

static void
op_starttls(void *arg)
{
	struct conn *c = arg;
	struct route_target *t = &c->targets[c->ti];

	if (c->dl->tls_ctx == NULL) {
		smtp_client_tls_done(c->client, 0, 0, "no TLS client context");
		return;
	}
	c->tls_hs = 1;
	if (stream_start_tls(&c->st, c->dl->tls_ctx, 0, t->host) != 0) {
		c->tls_hs = 0;
		smtp_client_tls_done(c->client, 0, 0, stream_tls_on(&c->st) ?
		    stream_tls_error(&c->st) : "cannot start TLS");
	}
}

static void
op_ready(void *arg)
{
	struct conn *c = arg;

	c->in_session = 1;
	DL_STAT(c->dl, c->dl->st.sessions++);
	log_info("cid=%s event=session relay=%s tls=%s loop=%u", c->id, c->relay,
	    stream_tls_up(&c->st) ? stream_tls_version(&c->st) : "none", c->dl->index);
	conn_next(c);
}

static void
op_rcpt_done(void *arg, size_t i, const struct outcome *o)
{
	struct conn *c = arg;

	if (c->cur && i < c->cur->n)
		c->cur->res[i] = *o;
}

static void
op_msg_done(void *arg)
{
	struct conn *c = arg;
	struct dl_item *it = c->cur;

	c->cur = NULL;
	if (it) {
		const struct smtp_ehlo *e = smtp_client_ehlo(c->client);
		it->server_dsn = (e->ext & SMTP_EXT_DSN) != 0;
		dl_item_report(it);
	}
	if (smtp_client_state(c->client) == SMTPC_READY)
		conn_next(c);
}

static void
op_closed(void *arg, const struct outcome *o, int in_session)
{
	struct conn *c = arg;

	if (c->cur) {
		/* the client reported the message already; nothing left here */
		c->cur = NULL;
	}
	if (!in_session && o->kind != OUTCOME_OK) {
		char t[sizeof(c->relay) + sizeof(o->text) + 4];

		char q[sizeof(o->text) * 4], sc[sizeof(o->text)];
		struct outcome why = *o;

		snprintf(t, sizeof(t), "%s: %s", c->relay, o->text);
		str_copy(why.text, t, sizeof(why.text));
		log_scrub(o->text, strlen(o->text), sc, sizeof(sc));
		log_info("cid=%s event=session_failed relay=%s dsn=%s reason=%s", c->id, c->relay,
		    o->enhanced, log_quote(sc, strlen(sc), q, sizeof(q)));
		conn_fail_over(c, &why);
		return;
	}
	{
		struct dest *ds = c->dest;

		conn_detach(c);
		conn_close(c, AFTER_FREE);
		if (ds) {
			dest_run(ds);
			dest_gc(ds);
		}
	}
}

static const struct smtp_client_ops client_ops = {
	op_send, op_starttls, op_ready, op_rcpt_done, op_msg_done, op_closed, op_send2,
};

/* ---- reading (the stream decrypts when TLS is on) ---- */

static void
stream_on_read(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;

	if (c->closing || c->client == NULL)
		return;
	if (len > 0)
		smtp_client_feed(c->client, data, len);
	if (!c->closing)
		conn_arm_timer(c);
}

static void
stream_on_handshake(void *arg)
{
	struct conn *c = arg;
	int verified = stream_peer_verified(&c->st);

	if (c->closing || c->client == NULL || !c->tls_hs)
		return;
	c->tls_hs = 0;
	smtp_client_tls_done(c->client, 1, verified, verified ? NULL : stream_tls_error(&c->st));
}

static void
stream_on_error(void *arg, enum stream_error e, int status, const char *why)
{
	struct conn *c = arg;

	(void)status;
	if (c->closing || c->client == NULL)
		return;
	if (c->tls_hs) {
		c->tls_hs = 0;
		smtp_client_tls_done(c->client, 0, 0, e == STREAM_TLS_ERROR ? why :
		    "connection closed during the handshake");
	} else {
		smtp_client_eof(c->client, why);
	}
}

static const struct stream_ops conn_stream_ops = {
	stream_on_read, stream_on_handshake, stream_on_error, NULL,
};

static void
connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct dl_engine *dl = c->dl;
	struct smtp_client_params p;
	enum route_tls pol;

	if (c->closing)
		return;
	if (status < 0) {
		struct outcome why;

		connect_failed(&why, c->relay, uv_strerror(status));
		log_info("cid=%s event=connect_failed relay=%s reason=\"%s\"", c->id, c->relay,
		    uv_strerror(status));
		conn_fail_over(c, &why);
		return;
	}
	DL_STAT(dl, dl->st.connections++);
	memset(&p, 0, sizeof(p));
	p.id = c->id;
	p.helo_name = dl->p.helo_name[0] ? dl->p.helo_name : dl->hostname;
	pol = route_tls_policy(&dl->p.tls_map, dl->p.tls_policy, c->dest->domain);
	p.tls = pol == ROUTE_TLS_NONE ? SMTP_CLIENT_TLS_NONE :
	    pol == ROUTE_TLS_ENCRYPT ? SMTP_CLIENT_TLS_ENCRYPT :
	    pol == ROUTE_TLS_VERIFY ? SMTP_CLIENT_TLS_VERIFY : SMTP_CLIENT_TLS_MAY;
	p.helo_timeout = dl->p.helo_timeout;
	p.command_timeout = dl->p.command_timeout;
	p.data_timeout = dl->p.data_timeout;
	c->client = smtp_client_new(&p, &client_ops, c);
	uv_tcp_nodelay(&c->st.tcp, 1);
	(void)stream_read_start(&c->st);
	conn_arm_timer(c);
}

/* Bind to smtp_bind_address of the right family, if configured. */
static void
conn_bind(struct conn *c, int family)
{
	const struct delivery_params *p = &c->dl->p;
	size_t i;

	for (i = 0; i < p->nbind; i++) {
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof(ss));
		if (family == AF_INET &&
		    uv_ip4_addr(p->bind_addresses[i], 0, (struct sockaddr_in *)&ss) == 0) {
			uv_tcp_bind(&c->st.tcp, (struct sockaddr *)&ss, 0);
			return;
		}
		if (family == AF_INET6 &&
		    uv_ip6_addr(p->bind_addresses[i], 0, (struct sockaddr_in6 *)&ss) == 0) {
			uv_tcp_bind(&c->st.tcp, (struct sockaddr *)&ss, 0);
			return;
		}
	}
}

static void
conn_try_target(struct conn *c)
{
	struct route_target *t;
	struct sockaddr_storage ss;
	struct outcome why;
	int rc;

	if (c->ti >= c->ntargets) {
		conn_give_up(c);
		return;
	}
	t = &c->targets[c->ti];
	if (t->family == AF_INET6)
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", t->host, t->addr, t->port);
	else
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", t->host, t->addr, t->port);
	memset(&ss, 0, sizeof(ss));
	if (t->family == AF_INET6)
		rc = uv_ip6_addr(t->addr, t->port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(t->addr, t->port, (struct sockaddr_in *)&ss);
	c->in_session = 0;
	if (rc != 0 || stream_init(&c->st, c->dl->loop, &conn_stream_ops, c) != 0) {
		outcome_reply(&why, R_BAD_TRANSPORT_ADDRESS, t->addr);
		conn_fail_over(c, &why);
		return;
	}
	c->tcp_inited = 1;
	conn_bind(c, t->family);
	c->creq.data = c;
	if ((rc = uv_tcp_connect(&c->creq, &c->st.tcp, (struct sockaddr *)&ss, connect_cb)) != 0) {
		connect_failed(&why, c->relay, uv_strerror(rc));
		conn_fail_over(c, &why);
		return;
	}
	uv_timer_start(&c->timer, timer_cb, c->dl->p.connect_timeout, 0);
}

/*
 * Each connection shuffles the hosts of equal preference again (RFC 5321
 * §5.1), so parallel connections spread over them; a host's addresses
 * stay together and in their order.
 */
static void
targets_shuffle(struct route_target *t, size_t n)
{
	size_t start = 0, i, j;

	while (start < n) {
		size_t end = start;
		while (end < n && t[end].pref == t[start].pref)
			end++;
		/* Fisher-Yates over runs of one host: pick a random host, move its block first */
		for (i = start; i < end;) {
			size_t hosts = 0, pick, k = i, blen;
			struct route_target tmp;

			for (j = i; j < end; j++)
				if (j == i || strcmp(t[j].host, t[j - 1].host) != 0)
					hosts++;
			pick = crypto_random_uniform((uint32_t)hosts);
			for (j = i, hosts = 0; j < end; j++)
				if (j == i || strcmp(t[j].host, t[j - 1].host) != 0) {
					if (hosts++ == pick) {
						k = j;
						break;
					}
				}
			for (blen = 1; k + blen < end && strcmp(t[k + blen].host, t[k].host) == 0; blen++)
				;
			/* rotate [i, k + blen) so that block [k, k + blen) comes first */
			while (k > i) {
				size_t b;
				for (b = 0; b < blen; b++) {
					tmp = t[k + b - 1];
					t[k + b - 1] = t[k + b];
					t[k + b] = tmp;
				}
				k--;
			}
			i += blen;
		}
		start = end;
	}
}

void
conn_open(struct dest *ds)
{
	struct dl_engine *dl = ds->dl;
	struct conn *c = xcalloc(1, sizeof(*c));

	c->dl = dl;
	c->dest = ds;
	snprintf(c->id, sizeof(c->id), "c%llu",
	    (unsigned long long)__atomic_add_fetch(&dl->set->conn_seq, 1, __ATOMIC_RELAXED));
	c->targets = xcalloc(ds->ntargets, sizeof(*c->targets));
	memcpy(c->targets, ds->targets, ds->ntargets * sizeof(*c->targets));
	c->ntargets = ds->ntargets;
	targets_shuffle(c->targets, c->ntargets);
	uv_timer_init(dl->loop, &c->timer);
	c->timer.data = c;
	c->timer_inited = 1;
	c->next = ds->conns;
	ds->conns = c;
	ds->nconns++;
	dl->nconns++;
	c->slot = 1;	/* dest_run took it (dl_dest_conn_take) */
	conn_try_target(c);
}

/* Load the body of IT's message once; -1 when it cannot be read. */
static int
job_body(struct dl_engine *dl, struct dl_job *j, struct outcome *fail)
{
	int rc;

	if (j->body_state == 1)
		return 0;
	if (j->body_state == 0) {
		rc = queue_read_body(dl->q, j->job->msg->id, &j->body);
		j->body_state = rc == 0 ? 1 : -1;
		if (rc != 0)
			log_warn("qid=%s event=body_unreadable error=\"%s\"", j->job->msg->id,
			    strerror(-rc));
	}
	if (j->body_state == 1)
		return 0;
	outcome_reply(fail, R_BODY_UNREADABLE);
	return -1;
}

/* An established session takes the next item of its destination, or idles / quits. */
void
conn_next(struct conn *c)
{
	struct dl_engine *dl = c->dl;
	struct dest *ds = c->dest;

	while (!c->closing && c->client && smtp_client_state(c->client) == SMTPC_READY) {
		struct dl_item *it;
		struct outcome fail;
		const struct queue_msg *m;

		c->idle = 0;
		if (dl->draining || c->retire || !dl->p.enabled || ds == NULL ||
		    smtp_client_msgs(c->client) >= (unsigned)dl->p.reuse_limit ||
		    queue_delivery_paused_for(dl->q, ds->domain)) {
			smtp_client_quit(c->client);
			break;
		}
		if (ds->head == NULL || !dest_rate_ok(ds, 1)) {	/* counts the message */
			c->idle = 1;
			break;
		}
		it = dest_pop(ds);
		str_copy(it->relay, c->relay, sizeof(it->relay));
		str_copy(it->cid, c->id, sizeof(it->cid));
		str_copy(it->host, c->targets[c->ti].host, sizeof(it->host));
		it->tls[0] = '\0';
		if (stream_tls_up(&c->st))
			str_copy(it->tls, stream_tls_version(&c->st), sizeof(it->tls));
		if (job_body(dl, it->j, &fail) == -1) {
			dl_item_fail_all(it, &fail);
			continue;
		}
		m = it->j->job->msg;
		memset(&it->cmsg, 0, sizeof(it->cmsg));
		/* VERP (issue 14): the remote's DSN comes back to the feedback
		 * listener with the token; bounces postern makes itself still
		 * go to m->sender (bounce.c) */
		it->cmsg.sender = it->verp[0] ? it->verp : m->sender ? m->sender : "";
		it->cmsg.rcpts = it->crcpts;
		it->cmsg.nrcpts = it->n;
		it->cmsg.data = it->j->body.data ? it->j->body.data : "";
		it->cmsg.len = it->j->body.len;
		it->cmsg.smtputf8 = m->smtputf8;
		it->cmsg.eightbit = m->eightbit;
		it->cmsg.envid = m->envid;
		it->cmsg.ret_full = m->ret_full;
		c->cur = it;
		DL_STAT(dl, dl->st.messages++);
		if (smtp_client_send_msg(c->client, &it->cmsg, &fail) == -1) {
			c->cur = NULL;
			dl_item_fail_all(it, &fail);
			continue;
		}
		break;
	}
	conn_arm_timer(c);
}


void
conn_stop(struct conn *c)
{
	if (c->slot && c->dest != NULL)
		dl_dest_conn_give(c->dl, c->dest->domain);
	c->slot = 0;
	c->dest = NULL;
	if (c->closing) {
		c->after = AFTER_FREE;
		if (c->timer_inited && !uv_is_closing((uv_handle_t *)&c->timer))
			uv_close((uv_handle_t *)&c->timer, handle_closed);
	} else {
		conn_close(c, AFTER_FREE);
	}
}
