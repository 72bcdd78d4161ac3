/* SPDX-License-Identifier: ISC */
/*
 * stream.c: one byte path for a connected uv_tcp_t, shared by inbound
 * (src/inbound/listener.c) and outbound (src/outbound/connection.c)
 * SMTP connections.  Writes: plaintext -> tls_write() when TLS is on ->
 * tls_take_output() -> uv_write(), each request counted in st->unsent
 * until its callback.  Reads: ciphertext -> tls_feed()/tls_read() ->
 * plaintext to ops->read; whatever TLS produced while reading
 * (handshake records, alerts) is sent at once.  The handshake is
 * reported once (ops->handshake); a TLS failure, EOF or read error once
 * through ops->error.  After stream_close() nothing more is reported.
 *
 * Invariants: the stream never frees its owner and never closes the
 * socket itself; reads land in one static buffer consumed inside the
 * read callback (every stream lives on the daemon's one loop thread:
 * no locking); the TLS state is freed
 * only by stream_release(), from the owner's close callback.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stream.h"
#include "tls.h"
#include "util.h"

#define STREAM_READ_BUF (64 * 1024)

/* consumed in stream_read_cb; one per thread: every SMTP loop (smtpd_loops) reads into its own */
static __thread char stream_rbuf[STREAM_READ_BUF];

struct stream_wreq {
	uv_write_t req;
	struct stream *st;
	size_t len;
	char data[];
};

int
stream_init(struct stream *st, uv_loop_t *loop, const struct stream_ops *ops, void *arg)
{
	memset(st, 0, sizeof(*st));
	st->ops = ops;
	st->arg = arg;
	st->tcp.data = arg;
	return uv_tcp_init(loop, &st->tcp);
}

static void
stream_write_done(uv_write_t *req, int status)
{
	struct stream_wreq *w = (struct stream_wreq *)req;
	struct stream *st = w->st;

	st->unsent -= w->len;
	free(w);
	if (!st->closing && st->ops->written != NULL)
		st->ops->written(st->arg, status);
}

/*
 * Send LEN bytes: written at once when the socket takes them (the
 * usual case for a reply), the rest copied and queued with uv_write.
 * Issue 20: a uv_write that completes at once still costs a copy, an
 * allocation and, in libuv, an epoll_ctl on the next loop turn (it
 * re-arms the watcher when it drops POLLOUT); uv_try_write does none of
 * that.  Order is kept: libuv refuses a try while writes are queued.
 * ops->written is called for queued writes only; a write done at once
 * needs no callback, since the caller looks at stream_unsent() itself.
 */
static int
stream_sendv(struct stream *st, const uv_buf_t *bufs, unsigned nbufs)
{
	struct stream_wreq *w;
	size_t len = 0, skip = 0, at = 0;
	uv_buf_t ub;
	unsigned i;
	int rc;

	for (i = 0; i < nbufs; i++)
		len += bufs[i].len;
	if (len == 0 || st->closing)
		return 0;
	if (st->unsent == 0) {
		rc = uv_try_write((uv_stream_t *)&st->tcp, bufs, nbufs);
		if (rc > 0) {
			if ((size_t)rc == len)
				return 0;
			skip = (size_t)rc;
		}
		/* EAGAIN and errors: uv_write below queues it or reports the error
		 * through its callback, as before */
	}
	w = xmalloc(sizeof(*w) + len - skip);
	w->st = st;
	w->len = len - skip;
	for (i = 0; i < nbufs; i++) {
		size_t n = bufs[i].len, off = 0;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		off = skip;
		skip = 0;
		memcpy(w->data + at, bufs[i].base + off, n - off);
		at += n - off;
	}
	ub = uv_buf_init(w->data, (unsigned int)w->len);
	st->unsent += w->len;
	if ((rc = uv_write(&w->req, (uv_stream_t *)&st->tcp, &ub, 1, stream_write_done)) != 0) {
		st->unsent -= w->len;
		free(w);
	}
	return rc;
}

static int
stream_send(struct stream *st, const void *data, size_t len)
{
	uv_buf_t ub = uv_buf_init((char *)data, (unsigned int)len);

	return stream_sendv(st, &ub, 1);
}

int
stream_flush(struct stream *st)
{
	struct buf cipher;
	int rc = 0;

	if (st->tls == NULL || st->closing)
		return 0;
	buf_init(&cipher, 0);
	if (tls_take_output(st->tls, &cipher) == 0)
		rc = stream_send(st, cipher.data, cipher.len);
	buf_free(&cipher);
	return rc;
}

int
stream_write(struct stream *st, const void *data, size_t len)
{
	if (st->closing || len == 0)
		return 0;
	if (st->tls == NULL)
		return stream_send(st, data, len);
	/* Queued by TLS until the handshake is done; a failing TLS says nothing more. */
	(void)tls_write(st->tls, data, len);
	return stream_flush(st);
}

/* A then B, in one write when the socket takes them (a message body
 * sent as it is and its terminator: no copy of the body, no second
 * syscall). */
int
stream_write2(struct stream *st, const void *a, size_t alen, const void *b, size_t blen)
{
	uv_buf_t ub[2];

	if (st->closing || alen + blen == 0)
		return 0;
	if (st->tls != NULL) {
		(void)tls_write(st->tls, a, alen);
		(void)tls_write(st->tls, b, blen);
		return stream_flush(st);
	}
	ub[0] = uv_buf_init((char *)a, (unsigned int)alen);
	ub[1] = uv_buf_init((char *)b, (unsigned int)blen);
	return stream_sendv(st, ub, 2);
}

int
stream_start_tls(struct stream *st, struct tls_ctx *ctx, int server, const char *host)
{
	struct buf plain;
	int rc = 0;

	if (ctx == NULL || st->tls != NULL)
		return -1;
	if ((st->tls = tls_conn_new(ctx, server, server ? NULL : host, 0)) == NULL)
		return -1;
	st->hs_reported = 0;
	if (server)
		return 0;
	/* The client speaks first: the ClientHello. */
	buf_init(&plain, 0);
	if (tls_read(st->tls, &plain) != 0)
		rc = -1;
	(void)stream_flush(st);
	buf_free(&plain);
	return rc;
}

static void
stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(stream_rbuf, sizeof(stream_rbuf));
}

static void
stream_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct stream *st = (struct stream *)s;	/* tcp is the first member */
	struct buf plain;

	if (st->closing || nread == 0)
		return;
	if (nread < 0) {
		st->ops->error(st->arg, nread == UV_EOF ? STREAM_EOF : STREAM_READ_ERROR,
		    (int)nread, nread == UV_EOF ? NULL : uv_strerror((int)nread));
		return;
	}
	if (st->tls == NULL) {
		st->ops->read(st->arg, buf->base, (size_t)nread);
		return;
	}
	buf_init(&plain, 0);
	if (tls_feed(st->tls, buf->base, (size_t)nread) != 0 || tls_read(st->tls, &plain) != 0) {
		(void)stream_flush(st);	/* the alert, if any */
		buf_free(&plain);
		st->ops->error(st->arg, STREAM_TLS_ERROR, 0, tls_error(st->tls));
		return;
	}
	(void)stream_flush(st);
	if (!st->hs_reported && tls_handshake_done(st->tls)) {
		st->hs_reported = 1;
		if (st->ops->handshake != NULL)
			st->ops->handshake(st->arg);
	}
	if (!st->closing)
		st->ops->read(st->arg, plain.data != NULL ? plain.data : "", plain.len);
	buf_free(&plain);
}

int
stream_read_start(struct stream *st)
{
	int rc;

	if (st->reading || st->closing)
		return 0;
	if ((rc = uv_read_start((uv_stream_t *)&st->tcp, stream_alloc, stream_read_cb)) == 0)
		st->reading = 1;
	return rc;
}

void
stream_read_stop(struct stream *st)
{
	if (!st->reading)
		return;
	uv_read_stop((uv_stream_t *)&st->tcp);
	st->reading = 0;
}

void
stream_close(struct stream *st, uv_close_cb cb)
{
	if (st->closing)
		return;
	st->closing = 1;
	st->reading = 0;
	uv_close((uv_handle_t *)&st->tcp, cb);
}

void
stream_release(struct stream *st)
{
	tls_conn_free(st->tls);
	st->tls = NULL;
}

size_t
stream_unsent(const struct stream *st)
{
	return st->unsent;
}

int
stream_tls_on(const struct stream *st)
{
	return st->tls != NULL;
}

int
stream_tls_up(const struct stream *st)
{
	return st->tls != NULL && tls_handshake_done(st->tls);
}

int
stream_peer_verified(const struct stream *st)
{
	return st->tls != NULL && tls_peer_verified(st->tls);
}

const char *
stream_tls_version(const struct stream *st)
{
	return st->tls != NULL ? tls_version(st->tls) : "none";
}

int
stream_tls_resumed(const struct stream *st)
{
	return st->tls != NULL && tls_resumed(st->tls);
}

const char *
stream_tls_cipher(const struct stream *st)
{
	return st->tls != NULL ? tls_cipher(st->tls) : "none";
}

const char *
stream_tls_error(const struct stream *st)
{
	return st->tls != NULL ? tls_error(st->tls) : "TLS not started";
}
