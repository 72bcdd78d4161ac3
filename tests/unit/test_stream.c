/* SPDX-License-Identifier: ISC */
/*
 * test_stream: two struct streams (src/net/stream.c) over a real
 * loopback TCP pair on a uv loop.  Bytes both ways in clear, then a TLS
 * handshake (server and client side, SNI mail.test, a self-signed cert
 * made with the openssl CLI like test_tls), bytes both ways through TLS,
 * a large write that leaves bytes unsent (the back-pressure count the
 * listener uses) and drains to zero, EOF seen by the peer, and close
 * through the owners' close callbacks.  Issue 20: a write the socket
 * takes at once is done when stream_write returns (nothing unsent, no
 * callback, no copy); a clear write larger than the socket takes goes
 * out partly at once and the rest queued, and a write after it still
 * arrives after it.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "stream.h"
#include "tap.h"
#include "tls.h"

#define BIG (8u * 1024 * 1024)

struct end {
	struct stream st;
	struct buf in;
	int handshakes, eof, tls_errors, closed, written;
};

static char dir[256], cert[300], key[300];
static uv_loop_t loop;
static uv_tcp_t server;
static struct end srv, cli;
static int accepted, connected;
static uv_connect_t creq;

static void
end_read(void *arg, const char *data, size_t len)
{
	struct end *e = arg;

	(void)buf_append(&e->in, data, len);
}

static void
end_handshake(void *arg)
{
	((struct end *)arg)->handshakes++;
}

static void
end_error(void *arg, enum stream_error err, int status, const char *why)
{
	struct end *e = arg;

	(void)status;
	if (err == STREAM_EOF)
		e->eof++;
	else if (err == STREAM_TLS_ERROR)
		e->tls_errors++;
	if (why != NULL && err != STREAM_EOF)
		diag("stream error: %s", why);
}

static void
end_written(void *arg, int status)
{
	if (status == 0)
		((struct end *)arg)->written++;
}

static const struct stream_ops ops = { end_read, end_handshake, end_error, end_written };

static void
end_closed(uv_handle_t *h)
{
	struct end *e = h->data;

	stream_release(&e->st);
	e->closed = 1;
}

static void
on_accept(uv_stream_t *s, int status)
{
	if (status != 0)
		return;
	stream_init(&srv.st, &loop, &ops, &srv);
	if (uv_accept(s, (uv_stream_t *)&srv.st.tcp) == 0)
		accepted = 1;
	(void)stream_read_start(&srv.st);
}

static void
on_connect(uv_connect_t *r, int status)
{
	(void)r;
	connected = status == 0 ? 1 : -1;
}

static void
tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until COND holds (at most 1000 turns of at most 10 ms each). */
static int
run_until(int (*cond)(void))
{
	int i;

	for (i = 0; i < 1000 && !cond(); i++)
		uv_run(&loop, UV_RUN_ONCE);
	return cond();
}

static int c_connected(void) { return accepted && connected == 1; }
static int c_clear(void) { return srv.in.len >= 7 && cli.in.len >= 5; }
static int c_reply(void) { return cli.in.len >= 8; }
static int c_hs(void) { return srv.handshakes && cli.handshakes; }
static int c_tls_data(void) { return srv.in.len >= 9 && cli.in.len >= 9; }
static int c_big(void) { return cli.in.len >= BIG && stream_unsent(&srv.st) == 0; }
static int c_big_tail(void) { return cli.in.len >= BIG + 4 && stream_unsent(&srv.st) == 0; }
static int c_eof(void) { return srv.eof > 0; }
static int c_closed(void) { return srv.closed && cli.closed; }

static int
make_cert(void)
{
	char cmd[1024];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/test_stream.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout %s -out %s -days 2 -subj /CN=mail.test "
	    "-addext subjectAltName=DNS:mail.test >/dev/null 2>&1", key, cert);
	return system(cmd);
}

int
main(void)
{
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	char err[256], cmd[600];
	struct tls_ctx *sctx, *cctx;
	uv_timer_t timer;
	char *big;
	size_t i;

	plan(21);
	if (make_cert() != 0) {
		diag("cannot make a certificate");
		return 1;
	}
	uv_loop_init(&loop);
	uv_timer_init(&loop, &timer);
	uv_timer_start(&timer, tick, 10, 10);	/* bounds each UV_RUN_ONCE */
	buf_init(&srv.in, 0);
	buf_init(&cli.in, 0);

	uv_tcp_init(&loop, &server);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	ok(uv_tcp_bind(&server, (struct sockaddr *)&sa, 0) == 0 &&
	    uv_listen((uv_stream_t *)&server, 8, on_accept) == 0, "listening on 127.0.0.1");
	uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
	stream_init(&cli.st, &loop, &ops, &cli);
	uv_tcp_connect(&creq, &cli.st.tcp, (struct sockaddr *)&bound, on_connect);
	ok(run_until(c_connected), "connected");
	ok(stream_read_start(&cli.st) == 0, "client reads");

	/* clear */
	ok(stream_write(&cli.st, "EHLO x\n", 7) == 0 && stream_write(&srv.st, "220 \n", 5) == 0,
	    "clear writes queued");
	ok(run_until(c_clear), "clear bytes both ways");
	is_mem(srv.in.data, srv.in.len, "EHLO x\n", 7, "server got the clear bytes");
	is_mem(cli.in.data, cli.in.len, "220 \n", 5, "client got the clear bytes");
	ok(!stream_tls_on(&srv.st) && !stream_tls_up(&cli.st), "no TLS yet");
	buf_reset(&srv.in);
	buf_reset(&cli.in);

	/* issue 20: written at once when the socket takes it */
	srv.written = 0;
	ok(stream_write(&srv.st, "250 ok\r\n", 8) == 0 && stream_unsent(&srv.st) == 0 &&
	    srv.written == 0, "a reply the socket takes is sent within stream_write");
	ok(run_until(c_reply) && memcmp(cli.in.data, "250 ok\r\n", 8) == 0, "and arrives");
	buf_reset(&cli.in);
	/* larger than the socket takes: part now, the rest queued, order kept */
	big = malloc(BIG);
	for (i = 0; i < BIG; i++)
		big[i] = (char)('A' + i % 26);
	stream_read_stop(&cli.st);
	stream_write(&srv.st, big, BIG);
	stream_write(&srv.st, "tail", 4);
	ok(stream_unsent(&srv.st) > 0 && stream_unsent(&srv.st) < BIG + 4,
	    "clear: part sent at once, %zu of %u octets queued", stream_unsent(&srv.st), BIG + 4);
	stream_read_start(&cli.st);
	ok(run_until(c_big_tail) && cli.in.len == BIG + 4 && memcmp(cli.in.data, big, BIG) == 0 &&
	    memcmp(cli.in.data + BIG, "tail", 4) == 0 && srv.written > 0,
	    "clear: the large write arrives whole, then the write after it");
	free(big);
	buf_reset(&cli.in);

	/* TLS */
	sctx = tls_server_ctx_new(cert, key, err, sizeof(err));
	cctx = tls_client_ctx_new(cert, err, sizeof(err));
	ok(sctx != NULL && cctx != NULL, "TLS contexts");
	ok(stream_start_tls(&srv.st, sctx, 1, NULL) == 0 &&
	    stream_start_tls(&cli.st, cctx, 0, "mail.test") == 0, "TLS started both sides");
	ok(run_until(c_hs) && srv.handshakes == 1 && cli.handshakes == 1,
	    "handshake reported once on each side");
	ok(stream_peer_verified(&cli.st) && strncmp(stream_tls_version(&srv.st), "TLSv1.", 6) == 0 &&
	    strcmp(stream_tls_cipher(&cli.st), "none") != 0, "peer verified; version %s",
	    stream_tls_version(&srv.st));
	stream_write(&cli.st, "MAIL FROM", 9);
	stream_write(&srv.st, "250 2.0.0", 9);
	ok(run_until(c_tls_data) && memcmp(srv.in.data, "MAIL FROM", 9) == 0 &&
	    memcmp(cli.in.data, "250 2.0.0", 9) == 0, "plaintext both ways through TLS");
	buf_reset(&cli.in);

	/* a large write: the peer cannot take it at once */
	big = malloc(BIG);
	for (i = 0; i < BIG; i++)
		big[i] = (char)('a' + i % 26);
	stream_read_stop(&cli.st);
	srv.written = 0;
	stream_write(&srv.st, big, BIG);
	uv_run(&loop, UV_RUN_NOWAIT);
	ok(stream_unsent(&srv.st) > 0, "unsent counted while the peer is not reading (%zu)",
	    stream_unsent(&srv.st));
	stream_read_start(&cli.st);
	ok(run_until(c_big) && cli.in.len == BIG && memcmp(cli.in.data, big, BIG) == 0 &&
	    srv.written > 0, "large write arrives whole; unsent back to 0");
	free(big);

	/* close */
	stream_close(&cli.st, end_closed);
	ok(run_until(c_eof), "peer sees EOF");
	stream_close(&srv.st, end_closed);
	ok(run_until(c_closed) && !srv.st.tls && !cli.st.tls, "closed; TLS released");

	uv_close((uv_handle_t *)&server, NULL);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
	buf_free(&srv.in);
	buf_free(&cli.in);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
	return done();
}
