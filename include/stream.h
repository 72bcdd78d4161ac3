/* SPDX-License-Identifier: ISC */
/*
 * stream.h: the byte path of one connected TCP socket, inbound or
 * outbound, with optional TLS (src/net/tls.c, memory BIOs) on top.
 * Plaintext written with stream_write() is encrypted when TLS is on and
 * handed to uv_write(); the bytes not yet written are counted
 * (stream_unsent()) so owners can bound a peer that stops reading.
 * Input is decrypted when TLS is on and handed up plaintext.
 *
 * The struct is embedded in its owner (listener.c's and connection.c's
 * struct conn).  tcp.data is the owner's ARG, so the owner's own uv
 * close callback finds it; that callback calls stream_release() to free
 * the TLS state (memory freed only in close callbacks, STYLE rule 12).
 * Timers, SMTP, limits and SMTP logging stay with the owner.
 */
#ifndef POSTERN_STREAM_H
#define POSTERN_STREAM_H

#include <stddef.h>
#include <uv.h>

struct tls_ctx;
struct tls_conn;

enum stream_error {
	STREAM_EOF,		/* the peer closed */
	STREAM_READ_ERROR,	/* status: the uv error */
	STREAM_TLS_ERROR,	/* why: tls_error() text; any alert was sent */
};

struct stream_ops {
	/* Plaintext (LEN may be 0 when TLS consumed bytes without data). */
	void (*read)(void *arg, const char *data, size_t len);
	/* The TLS handshake completed (once per stream_start_tls). */
	void (*handshake)(void *arg);
	void (*error)(void *arg, enum stream_error e, int status, const char *why);
	/* A uv_write finished: STATUS 0 or a uv error.  May be NULL. */
	void (*written)(void *arg, int status);
};

struct stream {
	uv_tcp_t tcp;			/* first member; tcp.data = arg */
	const struct stream_ops *ops;	/* borrowed */
	void *arg;			/* borrowed: the owner */
	struct tls_conn *tls;		/* NULL in clear (owned) */
	size_t unsent;			/* bytes in uv_write requests not yet done */
	int reading;
	int closing;			/* stream_close called */
	int hs_reported;
};

/* uv_tcp_init and reset; ARG goes into tcp.data for the owner's callbacks. */
int stream_init(struct stream *st, uv_loop_t *loop, const struct stream_ops *ops, void *arg);
/* Queue plaintext (through TLS when on).  0 or a negative uv error. */
int stream_write(struct stream *st, const void *data, size_t len);
/* A then B, as stream_write() of both in one (a body and its end). */
int stream_write2(struct stream *st, const void *a, size_t alen, const void *b, size_t blen);
/* Send what TLS has pending (handshake records, alerts).  0 or uv error. */
int stream_flush(struct stream *st);
/*
 * Start TLS from the next byte on: SERVER 1 waits for the ClientHello;
 * SERVER 0 sends one with HOST as SNI (no verification here: the
 * owner reads stream_peer_verified()).  -1 when TLS cannot start: no
 * context or no TLS state (stream_tls_on() 0), or the ClientHello failed
 * (stream_tls_error() says why).
 */
int stream_start_tls(struct stream *st, struct tls_ctx *ctx, int server, const char *host);
int stream_read_start(struct stream *st);
void stream_read_stop(struct stream *st);
/* uv_close the socket with the owner's CB (which calls stream_release). */
void stream_close(struct stream *st, uv_close_cb cb);
/* Free the TLS state; from the owner's close callback only. */
void stream_release(struct stream *st);

size_t stream_unsent(const struct stream *st);
int stream_tls_on(const struct stream *st);	/* TLS started */
int stream_tls_up(const struct stream *st);	/* and handshake done */
int stream_peer_verified(const struct stream *st);
const char *stream_tls_version(const struct stream *st);
const char *stream_tls_cipher(const struct stream *st);
int stream_tls_resumed(const struct stream *st);	/* a resumed session (a ticket) */
const char *stream_tls_error(const struct stream *st);

#endif
