/* SPDX-License-Identifier: ISC */
/*
 * tls.h: TLS for SMTP server and client sessions, through memory BIOs.
 * There are no sockets in here: the owner of the connection (always
 * src/net/stream.c, the byte path of inbound and outbound connections)
 * feeds the ciphertext it read with tls_feed(), drives the handshake and
 * collects plaintext with tls_read(), queues plaintext with tls_write()
 * and sends whatever tls_take_output() hands back.  src/net/tls.c is the
 * only file that includes OpenSSL's ssl.h (STYLE rule 7).
 *
 * Server contexts: TLS 1.2 minimum, forward-secret AEAD ciphers only,
 * server cipher preference, no renegotiation, no compression.  A
 * context is immutable once made; SIGHUP makes a new one for new
 * connections while existing connections keep the old one alive.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stddef.h>

#include "buf.h"

struct tls_ctx;		/* SSL_CTX wrapper */
struct tls_conn;	/* SSL + rbio/wbio */

/* NULL with a reason in ERR when the files cannot be loaded or do not match. */
struct tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file,
    char *err, size_t errlen);
/* CA_FILE NULL (or "") = the system trust store. */
struct tls_ctx *tls_client_ctx_new(const char *ca_file, char *err, size_t errlen);
/* Connections made from CTX stay valid after it is freed. NULL is fine.
 * Frees one reference: the context goes with the last. */
void tls_ctx_free(struct tls_ctx *ctx);
/* One more reference (the SMTP loops share one context, so a TLS session
 * ticket issued on one loop resumes on any); returns CTX. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);

/* Session tickets (src/net/tls.c): the process's keys, drawn at the
 * first handshake and replaced hourly.  Rotate now (tests; an operator
 * could after a suspected leak) and how many keys were drawn so far. */
void tls_ticket_keys_rotate(void);
unsigned long tls_ticket_key_rotations(void);

/*
 * Server: HOST NULL, VERIFY 0.  Client: HOST is sent as SNI (unless it
 * is an IP literal) and, with VERIFY 1, the handshake fails unless the
 * chain verifies and the certificate matches HOST.  With VERIFY 0 the
 * handshake always proceeds and tls_peer_verified() reports the result.
 */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int server, const char *host,
    int verify);
void tls_conn_free(struct tls_conn *c);

/* Ciphertext from the network. 0, or -1 on allocation failure. */
int tls_feed(struct tls_conn *c, const void *cipher, size_t n);
/*
 * Drive the handshake and decrypt: appends plaintext to PLAIN.  0 ok
 * (maybe nothing yet), -1 fatal TLS error (tls_error() says why; the
 * output may hold an alert worth sending before closing).  A
 * close_notify from the peer is not an error: 0, and tls_write() fails
 * from then on.
 */
int tls_read(struct tls_conn *c, struct buf *plain);
/* Queue application data; sent once the handshake is done. 0 or -1. */
int tls_write(struct tls_conn *c, const void *plain, size_t n);
/* Move all pending ciphertext into CIPHER. 0 or -1 (CIPHER's cap). */
int tls_take_output(struct tls_conn *c, struct buf *cipher);
int tls_handshake_done(const struct tls_conn *c);
const char *tls_version(const struct tls_conn *c);	/* "TLSv1.3" */
const char *tls_cipher(const struct tls_conn *c);
/* 1 when the handshake resumed an earlier session (a ticket), else 0. */
int tls_resumed(const struct tls_conn *c);

/* A client's session to resume later (tests; delivery could keep one
 * per MX).  get: NULL before the server sent a ticket. */
struct tls_session;
struct tls_session *tls_session_get(const struct tls_conn *c);
/* Before the handshake: offer S; 0, or -1 when it cannot be used. */
int tls_session_set(struct tls_conn *c, const struct tls_session *s);
void tls_session_free(struct tls_session *s);
/* Client: the chain verified and the certificate matches the host. */
int tls_peer_verified(const struct tls_conn *c);
const char *tls_error(const struct tls_conn *c);

#endif
