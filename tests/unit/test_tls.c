/* SPDX-License-Identifier: ISC */
/*
 * test_tls: a server and a client struct tls_conn pumping bytes to each
 * other in memory.  Covers the handshake (whole and one byte at a time),
 * application data both ways (also queued before the handshake),
 * certificate verification (good name, wrong name, opportunistic),
 * context errors (missing files, mismatched key), hand-made TLS 1.0 and
 * TLS 1.1 ClientHellos refused with a protocol_version alert, garbage
 * input, close_notify, and session resumption: a ticket resumes, also
 * on another server context (the keys are the process's), still after
 * one key rotation and no more after two.  Certificates are made with the openssl CLI
 * in a mkdtemp() directory.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "tap.h"
#include "tls.h"

static char dir[256];
static char cert[300], key[300], cert2[300], key2[300];

static int
run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		diag("command failed (%d): %s", rc, cmd);
	return rc;
}

static int
make_certs(void)
{
	char cmd[2048];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/test_tls.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cert2, sizeof(cert2), "%s/cert2.pem", dir);
	snprintf(key2, sizeof(key2), "%s/key2.pem", dir);
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout %s -out %s -days 2 -subj /CN=mail.test "
	    "-addext subjectAltName=DNS:mail.test >/dev/null 2>&1 && "
	    "openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout %s -out %s -days 2 -subj /CN=other.test >/dev/null 2>&1",
	    key, cert, key2, cert2);
	return run(cmd);
}

static void
cleanup(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)run(cmd);
}

/*
 * Move bytes between the two ends until nothing moves.  STEP 0 feeds
 * everything at once; STEP 1 feeds the server one byte at a time.
 * Returns -1 when either side fails.
 */
static int
pump(struct tls_conn *cli, struct tls_conn *srv, struct buf *cplain, struct buf *splain,
    int step)
{
	struct buf wire;
	int rounds, moved, rc = 0;
	size_t i;

	buf_init(&wire, 0);
	for (rounds = 0; rounds < 100; rounds++) {
		moved = 0;
		buf_reset(&wire);
		if (tls_take_output(cli, &wire) != 0)
			rc = -1;
		if (wire.len > 0) {
			moved = 1;
			if (step) {
				for (i = 0; i < wire.len && rc == 0; i++)
					if (tls_feed(srv, wire.data + i, 1) != 0 ||
					    tls_read(srv, splain) != 0)
						rc = -1;
			} else if (tls_feed(srv, wire.data, wire.len) != 0) {
				rc = -1;
			}
		}
		if (tls_read(srv, splain) != 0)
			rc = -1;
		buf_reset(&wire);
		if (tls_take_output(srv, &wire) != 0)
			rc = -1;
		if (wire.len > 0) {
			moved = 1;
			if (tls_feed(cli, wire.data, wire.len) != 0)
				rc = -1;
		}
		if (tls_read(cli, cplain) != 0)
			rc = -1;
		if (rc != 0 || !moved)
			break;
	}
	buf_free(&wire);
	return rc;
}

/*
 * One handshake of a client from CCTX (offering S when not NULL) with a
 * server from SCTX, then a little data so the TLS 1.3 ticket arrives.
 * Returns the client's session for later; *RESUMED says whether this
 * one was resumed (or -1 when the handshake failed).
 */
static struct tls_session *
handshake_session(struct tls_ctx *sctx, struct tls_ctx *cctx, const struct tls_session *s,
    int *resumed)
{
	struct tls_conn *srv = tls_conn_new(sctx, 1, NULL, 0);
	struct tls_conn *cli = tls_conn_new(cctx, 0, "mail.test", 0);
	struct tls_session *out = NULL;
	struct buf sp, cp;

	buf_init(&sp, 0);
	buf_init(&cp, 0);
	*resumed = -1;
	if (s != NULL && tls_session_set(cli, s) != 0)
		goto out;
	if (tls_write(cli, "x", 1) != 0 || pump(cli, srv, &cp, &sp, 0) != 0 ||
	    tls_write(srv, "y", 1) != 0 || pump(cli, srv, &cp, &sp, 0) != 0 ||
	    !tls_handshake_done(cli) || !tls_handshake_done(srv))
		goto out;
	*resumed = tls_resumed(srv) && tls_resumed(cli);
	out = tls_session_get(cli);
out:
	buf_free(&sp);
	buf_free(&cp);
	tls_conn_free(cli);
	tls_conn_free(srv);
	return out;
}

static int
handshake_resumed(struct tls_ctx *sctx, struct tls_ctx *cctx, const struct tls_session *s)
{
	int resumed;

	tls_session_free(handshake_session(sctx, cctx, s, &resumed));
	return resumed;
}

/* A minimal ClientHello record offering only protocol VERSION (0x0301 / 0x0302). */
static size_t
old_client_hello(unsigned char *out, unsigned char minor)
{
	static const unsigned char suites[] = { 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f, 0x00, 0x35 };
	unsigned char body[128];
	size_t n = 0, i;

	body[n++] = 0x03;
	body[n++] = minor;		/* client_version */
	for (i = 0; i < 32; i++)
		body[n++] = (unsigned char)i;	/* random */
	body[n++] = 0;			/* session id */
	body[n++] = 0;
	body[n++] = sizeof(suites);
	memcpy(body + n, suites, sizeof(suites));
	n += sizeof(suites);
	body[n++] = 1;			/* compression methods: null */
	body[n++] = 0;
	out[0] = 0x16;			/* handshake record */
	out[1] = 0x03;
	out[2] = 0x01;
	out[3] = 0;
	out[4] = (unsigned char)(n + 4);
	out[5] = 0x01;			/* ClientHello */
	out[6] = 0;
	out[7] = 0;
	out[8] = (unsigned char)n;
	memcpy(out + 9, body, n);
	return n + 9;
}

/* Does WIRE hold an alert record with description protocol_version (70)? */
static int
has_protocol_version_alert(const struct buf *wire)
{
	size_t i;

	for (i = 0; i + 7 <= wire->len; i++) {
		const unsigned char *p = (const unsigned char *)wire->data + i;

		if (p[0] == 0x15 && p[1] == 0x03 && p[3] == 0 && p[4] == 2 &&
		    p[5] == 2 && p[6] == 70)
			return 1;
	}
	return 0;
}

int
main(void)
{
	struct tls_ctx *sctx, *cctx, *cctx_ca, *bad;
	struct tls_conn *srv, *cli;
	struct buf sp, cp, wire;
	unsigned char hello[256];
	char err[512];
	size_t n;
	int i, rc;

	plan(45);
	if (make_certs() != 0) {
		ok(0, "openssl CLI made test certificates");
		cleanup();
		return done();
	}
	buf_init(&sp, 0);
	buf_init(&cp, 0);
	buf_init(&wire, 0);

	/* ---- contexts ---- */
	sctx = tls_server_ctx_new(cert, key, err, sizeof(err));
	ok(sctx != NULL, "server context loads cert and key");
	bad = tls_server_ctx_new(cert, key2, err, sizeof(err));
	ok(bad == NULL && strstr(err, "does not match") != NULL,
	    "mismatched key refused: %s", err);
	bad = tls_server_ctx_new("/nonexistent/cert.pem", key, err, sizeof(err));
	ok(bad == NULL && strstr(err, "/nonexistent/cert.pem") != NULL,
	    "missing certificate refused with the file name");
	bad = tls_server_ctx_new("", "", err, sizeof(err));
	ok(bad == NULL, "unconfigured certificate refused");
	cctx = tls_client_ctx_new(NULL, err, sizeof(err));
	ok(cctx != NULL, "client context with the system store");
	cctx_ca = tls_client_ctx_new(cert, err, sizeof(err));
	ok(cctx_ca != NULL, "client context with a CA file");
	bad = tls_client_ctx_new("/nonexistent/ca.pem", err, sizeof(err));
	ok(bad == NULL, "missing CA file refused");

	/* ---- opportunistic handshake, data both ways ---- */
	srv = tls_conn_new(sctx, 1, NULL, 0);
	cli = tls_conn_new(cctx, 0, "mail.test", 0);
	ok(tls_write(cli, "EHLO client\r\n", 13) == 0, "client queues data before the handshake");
	ok(pump(cli, srv, &cp, &sp, 0) == 0, "pump without errors");
	ok(tls_handshake_done(srv) && tls_handshake_done(cli), "handshake done on both sides");
	is_str(tls_version(srv), "TLSv1.3", "TLS 1.3 negotiated");
	ok(strlen(tls_cipher(srv)) > 0 && strcmp(tls_cipher(srv), "(none)") != 0,
	    "cipher named: %s", tls_cipher(srv));
	is_mem(sp.data, sp.len, "EHLO client\r\n", 13, "server got the early client data");
	ok(!tls_peer_verified(cli), "self-signed cert not verified against the system store");
	ok(tls_write(srv, "250 ok\r\n", 8) == 0, "server writes");
	ok(pump(cli, srv, &cp, &sp, 0) == 0, "pump reply");
	is_mem(cp.data, cp.len, "250 ok\r\n", 8, "client got the reply");

	/* a bigger transfer, several records */
	buf_reset(&sp);
	{
		char *big = malloc(100000);

		for (i = 0; i < 100000; i++)
			big[i] = (char)('a' + i % 26);
		ok(tls_write(cli, big, 100000) == 0 && pump(cli, srv, &cp, &sp, 0) == 0 &&
		    sp.len == 100000 && memcmp(sp.data, big, 100000) == 0,
		    "100000 bytes cross intact");
		free(big);
	}
	tls_conn_free(cli);
	tls_conn_free(srv);

	/* ---- one byte at a time into the server ---- */
	buf_reset(&sp);
	buf_reset(&cp);
	srv = tls_conn_new(sctx, 1, NULL, 0);
	cli = tls_conn_new(cctx_ca, 0, "mail.test", 1);
	ok(tls_write(cli, "MAIL FROM:<a@b>\r\n", 17) == 0, "client queues a command");
	ok(pump(cli, srv, &cp, &sp, 1) == 0, "byte-at-a-time pump without errors");
	ok(tls_handshake_done(srv) && tls_handshake_done(cli), "handshake done byte by byte");
	ok(tls_peer_verified(cli), "chain and name verified with the CA file");
	is_mem(sp.data, sp.len, "MAIL FROM:<a@b>\r\n", 17, "server got the command");
	tls_conn_free(cli);
	tls_conn_free(srv);

	/* ---- verification failures ---- */
	buf_reset(&sp);
	buf_reset(&cp);
	srv = tls_conn_new(sctx, 1, NULL, 0);
	cli = tls_conn_new(cctx_ca, 0, "wrong.test", 1);
	ok(pump(cli, srv, &cp, &sp, 0) == -1, "wrong host name with verify fails");
	ok(!tls_handshake_done(cli), "client handshake not done");
	ok(strstr(tls_error(cli), "verif") != NULL, "error says why: %s", tls_error(cli));
	tls_conn_free(cli);
	tls_conn_free(srv);

	srv = tls_conn_new(sctx, 1, NULL, 0);
	cli = tls_conn_new(cctx_ca, 0, "wrong.test", 0);
	ok(pump(cli, srv, &cp, &sp, 0) == 0 && tls_handshake_done(cli),
	    "wrong host name without verify proceeds");
	ok(!tls_peer_verified(cli), "but is reported unverified");
	tls_conn_free(cli);
	tls_conn_free(srv);

	srv = tls_conn_new(sctx, 1, NULL, 0);
	cli = tls_conn_new(cctx, 0, "127.0.0.1", 1);
	ok(pump(cli, srv, &cp, &sp, 0) == -1, "IP literal, untrusted chain, verify: fails");
	tls_conn_free(cli);
	tls_conn_free(srv);

	/* ---- TLS 1.0 and 1.1 refused ---- */
	for (i = 1; i <= 2; i++) {
		srv = tls_conn_new(sctx, 1, NULL, 0);
		n = old_client_hello(hello, (unsigned char)i);
		buf_reset(&sp);
		buf_reset(&wire);
		rc = tls_feed(srv, hello, n) == 0 && tls_read(srv, &sp) == -1;
		ok(rc, "TLS 1.%d ClientHello refused: %s", i - 1, tls_error(srv));
		ok(tls_take_output(srv, &wire) == 0 && has_protocol_version_alert(&wire),
		    "TLS 1.%d gets a protocol_version alert", i - 1);
		ok(!tls_handshake_done(srv) && sp.len == 0, "no session, no plaintext");
		tls_conn_free(srv);
	}

	/* ---- garbage ---- */
	srv = tls_conn_new(sctx, 1, NULL, 0);
	ok(tls_feed(srv, "EHLO plain text\r\n", 17) == 0 && tls_read(srv, &sp) == -1,
	    "plain text instead of TLS is fatal");
	ok(tls_read(srv, &sp) == -1 && tls_write(srv, "x", 1) == -1,
	    "a failed connection stays failed");
	tls_conn_free(srv);

	/* ---- a context freed under live connections (SIGHUP reload) ---- */
	{
		struct tls_ctx *tmp = tls_server_ctx_new(cert, key, err, sizeof(err));

		srv = tls_conn_new(tmp, 1, NULL, 0);
		tls_ctx_free(tmp);
		cli = tls_conn_new(cctx, 0, "mail.test", 0);
		buf_reset(&sp);
		ok(tls_write(cli, "hi", 2) == 0 && pump(cli, srv, &cp, &sp, 0) == 0 &&
		    sp.len == 2, "connection outlives its freed context");
		tls_conn_free(cli);
		tls_conn_free(srv);
	}

	/* ---- session resumption and ticket key rotation (issue 20 item 4) ---- */
	{
		struct tls_ctx *other = tls_server_ctx_new(cert, key, err, sizeof(err));
		struct tls_session *s1;
		unsigned long r0;

		s1 = handshake_session(sctx, cctx, NULL, &rc);
		ok(s1 != NULL && rc == 0, "first handshake: not resumed, a ticket came");
		ok(handshake_resumed(sctx, cctx, s1) == 1, "the ticket resumes the session");
		ok(handshake_resumed(other, cctx, s1) == 1,
		    "another context (a SIGHUP's) resumes it too: the keys are the process's");
		r0 = tls_ticket_key_rotations();
		tls_ticket_keys_rotate();
		ok(tls_ticket_key_rotations() == r0 + 1, "rotation draws a new key");
		ok(handshake_resumed(sctx, cctx, s1) == 1,
		    "after one rotation a ticket under the previous key still resumes");
		tls_ticket_keys_rotate();
		ok(handshake_resumed(sctx, cctx, s1) == 0,
		    "after two rotations its key is gone: a full handshake");
		tls_session_free(s1);
		tls_ctx_free(other);
	}

	tls_ctx_free(NULL);
	tls_conn_free(NULL);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
	tls_ctx_free(cctx_ca);
	buf_free(&sp);
	buf_free(&cp);
	buf_free(&wire);
	cleanup();
	ok(1, "cleaned up");
	return done();
}
