/* SPDX-License-Identifier: ISC */
/*
 * tls.c: OpenSSL behind one file (STYLE rule 7).  Every connection is
 * an SSL object between two memory BIOs: tls_feed() writes network
 * bytes into the read BIO, tls_read() runs the handshake and drains
 * decrypted records into a struct buf, tls_write() encrypts (or, until
 * the handshake is done, holds) application data, and
 * tls_take_output() empties the write BIO for the caller to send.  The
 * owner of the socket (src/net/stream.c, used by src/inbound/listener.c
 * for the SMTP server and src/outbound/connection.c for the client)
 * never sees OpenSSL types.
 *
 * Server policy (RFC 8996, RFC 9325): TLS 1.2 minimum, ECDHE/DHE with
 * AEAD ciphers only, server cipher preference, no renegotiation, no
 * compression.  Client policy: TLS 1.2 minimum too; with verify the
 * chain and host name (RFC 6125) must check out or the handshake fails;
 * without, the verification result is still computed so opportunistic
 * delivery can log it.  All errors are captured per connection as text
 * (tls_error()), and the thread's OpenSSL error queue is cleared around
 * each call so one connection's failure never leaks into another's.
 *
 * Session resumption (issue 20 item 4): a returning client resumes with
 * a ticket (RFC 5077, and the PSK of RFC 8446 §2.2) instead of a full
 * handshake.  The ticket keys (AES-256-CBC + HMAC-SHA256, 16-byte name)
 * belong to the process, not to a context, so the contexts a SIGHUP
 * rebuilds keep accepting tickets issued before it: 32+32 random bytes
 * drawn at the first handshake, in memory only (never written, gone at
 * exit), replaced every TLS_TICKET_ROTATE_S; tickets under the previous
 * key are still accepted (and renewed under the current one), so a
 * ticket lives at most twice that.  The keys sit under one mutex: any
 * thread may handshake.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "tls.h"
#include "util.h"

/* TLS 1.2 suites: forward secrecy and AEAD only (RFC 9325 §4.2). */
#define TLS_SERVER_CIPHERS \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"
/* Client side: anything reasonable a real MX may offer, but never export/NULL/RC4/MD5. */
#define TLS_CLIENT_CIPHERS "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES"

#define TLS_READ_CHUNK 16384

/* A new ticket key this often; the previous one is still accepted. */
#define TLS_TICKET_ROTATE_S 3600

struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char mac[32];
	time_t born;			/* 0: not drawn yet */
};

static pthread_mutex_t ticket_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ticket_key ticket_keys[2];	/* [0] current, [1] previous */
static unsigned long ticket_rotations;

struct tls_ctx {
	SSL_CTX *ssl_ctx;	/* owned (one reference) */
	int server;
	int refs;		/* atomic: tls_ctx_ref(); the SMTP loops share one */
};

struct tls_conn {
	SSL *ssl;		/* owned; owns rbio and wbio */
	BIO *rbio;		/* borrowed from ssl: network -> SSL */
	BIO *wbio;		/* borrowed from ssl: SSL -> network */
	struct buf pending;	/* plaintext queued before the handshake finished */
	int server;
	int verify;
	int failed;		/* a fatal error happened; nothing more works */
	int closed;		/* peer sent close_notify */
	char err[256];
};

/* Describe the first error in the thread's OpenSSL queue (or FALLBACK) into OUT. */
static void
tls_collect_error(char *out, size_t outlen, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, out, outlen);
	else
		str_copy(out, fallback, outlen);
	ERR_clear_error();
}

static void
tls_ctx_error(char *err, size_t errlen, const char *what, const char *file)
{
	char detail[200];

	tls_collect_error(detail, sizeof(detail), "unknown error");
	if (err == NULL || errlen == 0)
		return;
	if (file != NULL)
		snprintf(err, errlen, "%s %s: %s", what, file, detail);
	else
		snprintf(err, errlen, "%s: %s", what, detail);
}

/* Settings shared by both roles. */
static int
tls_ctx_common(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

/* Draw a new current key; the current one becomes the previous.  Lock held. */
static void
ticket_rotate_locked(time_t now)
{
	ticket_keys[1] = ticket_keys[0];
	if (RAND_bytes(ticket_keys[0].name, sizeof(ticket_keys[0].name)) != 1 ||
	    RAND_bytes(ticket_keys[0].aes, sizeof(ticket_keys[0].aes)) != 1 ||
	    RAND_bytes(ticket_keys[0].mac, sizeof(ticket_keys[0].mac)) != 1)
		fatal("tls: cannot draw a session ticket key");
	ticket_keys[0].born = now;
	ticket_rotations++;
}

void
tls_ticket_keys_rotate(void)
{
	pthread_mutex_lock(&ticket_mu);
	ticket_rotate_locked(time(NULL));
	pthread_mutex_unlock(&ticket_mu);
}

unsigned long
tls_ticket_key_rotations(void)
{
	unsigned long n;

	pthread_mutex_lock(&ticket_mu);
	n = ticket_rotations;
	pthread_mutex_unlock(&ticket_mu);
	return n;
}

/*
 * OpenSSL's ticket key callback: ENC 1 = seal a new ticket under the
 * current key; 0 = open one, found by its key name: 1 with the current
 * key, 2 with the previous (OpenSSL then issues a fresh ticket), 0 when
 * the key is gone (a full handshake), -1 on error.
 */
static int
tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
    EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	OSSL_PARAM params[3];
	time_t now = time(NULL);
	int rc = 1, i;

	(void)ssl;
	pthread_mutex_lock(&ticket_mu);
	if (ticket_keys[0].born == 0 || now - ticket_keys[0].born >= TLS_TICKET_ROTATE_S ||
	    now < ticket_keys[0].born)
		ticket_rotate_locked(now);
	if (enc) {
		k = ticket_keys[0];
	} else {
		rc = 0;
		for (i = 0; i < 2; i++) {
			if (ticket_keys[i].born != 0 &&
			    CRYPTO_memcmp(name, ticket_keys[i].name, 16) == 0) {
				k = ticket_keys[i];
				rc = i == 0 ? 1 : 2;
				break;
			}
		}
	}
	pthread_mutex_unlock(&ticket_mu);
	if (rc == 0)
		return 0;
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rc = -1;
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
		rc = -1;
	}
	if (rc != -1) {
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.mac,
		    sizeof(k.mac));
		params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
		params[2] = OSSL_PARAM_construct_end();
		if (EVP_MAC_CTX_set_params(hctx, params) != 1)
			rc = -1;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* A server context for smtpd: certificate chain and key from PEM files. */
struct tls_ctx *
tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "postern-smtpd";
	struct tls_ctx *t;
	SSL_CTX *ctx;

	ERR_clear_error();
	if (cert_file == NULL || *cert_file == '\0' || key_file == NULL || *key_file == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "TLS certificate and key files must be configured");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_ctx_error(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	if (tls_ctx_common(ctx) != 0 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_SERVER_CIPHERS) != 1) {
		tls_ctx_error(err, errlen, "TLS settings", NULL);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	/* resumption: tickets under the process's keys, valid while their key is */
	SSL_CTX_set_timeout(ctx, 2 * TLS_TICKET_ROTATE_S);
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) != 1) {
		tls_ctx_error(err, errlen, "TLS session tickets", NULL);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_ctx_error(err, errlen, "cannot load certificate", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_ctx_error(err, errlen, "cannot load key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_ctx_error(err, errlen, "key does not match certificate", key_file);
		goto fail;
	}
	t = xcalloc(1, sizeof(*t));
	t->ssl_ctx = ctx;
	t->server = 1;
	t->refs = 1;
	return t;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* A client context for delivery; CA_FILE NULL or "" = the system store. */
struct tls_ctx *
tls_client_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	struct tls_ctx *t;
	SSL_CTX *ctx;
	int rc;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_ctx_error(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	if (tls_ctx_common(ctx) != 0 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CLIENT_CIPHERS) != 1) {
		tls_ctx_error(err, errlen, "TLS settings", NULL);
		goto fail;
	}
	if (ca_file != NULL && *ca_file != '\0')
		rc = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	else
		rc = SSL_CTX_set_default_verify_paths(ctx);
	if (rc != 1) {
		tls_ctx_error(err, errlen, "cannot load CA certificates",
		    ca_file != NULL && *ca_file != '\0' ? ca_file : "(system)");
		goto fail;
	}
	t = xcalloc(1, sizeof(*t));
	t->ssl_ctx = ctx;
	t->server = 0;
	t->refs = 1;
	return t;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL || __atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(ctx->ssl_ctx);	/* live SSL objects hold their own reference */
	free(ctx);
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *ctx)
{
	if (ctx != NULL)
		__atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
	return ctx;
}

/* Is HOST an IPv4 or IPv6 literal?  SNI must not carry those (RFC 6066 §3). */
static int
tls_is_ip_literal(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, int server, const char *host, int verify)
{
	struct tls_conn *c;
	X509_VERIFY_PARAM *vp;

	ERR_clear_error();
	c = xcalloc(1, sizeof(*c));
	buf_init(&c->pending, 0);
	c->server = server;
	c->verify = verify;
	if ((c->ssl = SSL_new(ctx->ssl_ctx)) == NULL)
		goto fail;
	if ((c->rbio = BIO_new(BIO_s_mem())) == NULL)
		goto fail;
	if ((c->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(c->rbio);
		c->rbio = NULL;
		goto fail;
	}
	/* An empty read BIO means "no data yet", not EOF. */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	if (server) {
		SSL_set_accept_state(c->ssl);
		return c;
	}
	SSL_set_connect_state(c->ssl);
	if (host != NULL && *host != '\0') {
		if (!tls_is_ip_literal(host) &&
		    SSL_set_tlsext_host_name(c->ssl, host) != 1)
			goto fail;
		vp = SSL_get0_param(c->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (tls_is_ip_literal(host)) {
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
				goto fail;
		} else if (SSL_set1_host(c->ssl, host) != 1) {
			goto fail;
		}
	}
	/* Without VERIFY the chain is still checked; the result is only reported. */
	SSL_set_verify(c->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	return c;
fail:
	tls_collect_error(c->err, sizeof(c->err), "cannot create TLS connection");
	c->failed = 1;
	if (c->ssl == NULL)
		fatal("tls: %s", c->err);	/* out of memory inside OpenSSL */
	return c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	/* SMTP peers close after QUIT without close_notify; OpenSSL would
	 * then mark the session not resumable (and drop it from the
	 * server's cache).  Only a session that failed is a bad one. */
	if (c->ssl != NULL && !c->failed && SSL_is_init_finished(c->ssl))
		SSL_set_shutdown(c->ssl, SSL_get_shutdown(c->ssl) | SSL_SENT_SHUTDOWN);
	SSL_free(c->ssl);	/* frees both BIOs */
	buf_free(&c->pending);
	free(c);
}

int
tls_feed(struct tls_conn *c, const void *cipher, size_t n)
{
	size_t written;

	if (n == 0)
		return 0;
	if (c->failed)
		return -1;
	if (BIO_write_ex(c->rbio, cipher, n, &written) != 1 || written != n) {
		str_copy(c->err, "cannot buffer network input", sizeof(c->err));
		c->failed = 1;
		return -1;
	}
	return 0;
}

/* Turn a failed SSL call into a verdict: 0 = try again later, -1 = fatal. */
static int
tls_check(struct tls_conn *c, int rc, const char *what)
{
	int e = SSL_get_error(c->ssl, rc);
	long vr;

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		c->closed = 1;
		return 0;
	case SSL_ERROR_SYSCALL:
		tls_collect_error(c->err, sizeof(c->err), "unexpected end of TLS stream");
		break;
	default:
		vr = SSL_get_verify_result(c->ssl);
		if (!c->server && c->verify && vr != X509_V_OK) {
			snprintf(c->err, sizeof(c->err), "%s: certificate verification failed: %s",
			    what, X509_verify_cert_error_string(vr));
			ERR_clear_error();
		} else {
			char detail[200];

			tls_collect_error(detail, sizeof(detail), "TLS protocol error");
			snprintf(c->err, sizeof(c->err), "%s: %s", what, detail);
		}
		break;
	}
	c->failed = 1;
	return -1;
}

/* Encrypt plaintext queued before the handshake finished. */
static int
tls_flush_pending(struct tls_conn *c)
{
	size_t done;
	int rc;

	while (c->pending.len > 0) {
		rc = SSL_write_ex(c->ssl, c->pending.data, c->pending.len, &done);
		if (rc != 1)
			return tls_check(c, rc, "write");
		buf_consume(&c->pending, done);
	}
	return 0;
}

int
tls_read(struct tls_conn *c, struct buf *plain)
{
	char chunk[TLS_READ_CHUNK];
	size_t got;
	int rc;

	if (c->failed)
		return -1;
	ERR_clear_error();
	if (!SSL_is_init_finished(c->ssl)) {
		rc = SSL_do_handshake(c->ssl);
		if (rc != 1)
			return tls_check(c, rc, "handshake");
		if (tls_flush_pending(c) != 0)
			return -1;
	}
	while (!c->closed) {
		rc = SSL_read_ex(c->ssl, chunk, sizeof(chunk), &got);
		if (rc != 1) {
			if (tls_check(c, rc, "read") != 0)
				return -1;
			break;
		}
		if (buf_append(plain, chunk, got) != 0) {
			str_copy(c->err, "plaintext input too large", sizeof(c->err));
			c->failed = 1;
			return -1;
		}
	}
	if (c->closed && SSL_get_shutdown(c->ssl) != (SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN))
		(void)SSL_shutdown(c->ssl);	/* answer close_notify */
	return 0;
}

int
tls_write(struct tls_conn *c, const void *plain, size_t n)
{
	if (c->failed || c->closed)
		return -1;
	if (n == 0)
		return 0;
	ERR_clear_error();
	if (buf_append(&c->pending, plain, n) != 0)
		return -1;
	if (!SSL_is_init_finished(c->ssl)) {
		/* A client starts its handshake as soon as it has something to say. */
		if (!c->server) {
			int rc = SSL_do_handshake(c->ssl);

			if (rc != 1)
				return tls_check(c, rc, "handshake");
		} else {
			return 0;
		}
	}
	return tls_flush_pending(c);
}

int
tls_take_output(struct tls_conn *c, struct buf *cipher)
{
	size_t n, got;

	/* A client's first flight exists before anything was read. */
	if (!c->failed && !c->server && !SSL_is_init_finished(c->ssl) &&
	    BIO_ctrl_pending(c->wbio) == 0 && SSL_in_before(c->ssl)) {
		int rc;

		ERR_clear_error();
		rc = SSL_do_handshake(c->ssl);
		if (rc != 1)
			(void)tls_check(c, rc, "handshake");	/* an alert still goes out */
	}
	while ((n = BIO_ctrl_pending(c->wbio)) > 0) {
		if (buf_reserve(cipher, n) != 0)
			return -1;
		if (BIO_read_ex(c->wbio, cipher->data + cipher->len, n, &got) != 1)
			break;
		cipher->len += got;
		cipher->data[cipher->len] = '\0';
	}
	return 0;
}

int
tls_handshake_done(const struct tls_conn *c)
{
	return !c->failed && SSL_is_init_finished(c->ssl);
}

const char *
tls_version(const struct tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

const char *
tls_cipher(const struct tls_conn *c)
{
	const char *s = SSL_get_cipher_name(c->ssl);

	return s != NULL ? s : "(none)";
}

int
tls_resumed(const struct tls_conn *c)
{
	return SSL_session_reused(c->ssl) == 1;
}

struct tls_session *
tls_session_get(const struct tls_conn *c)
{
	SSL_SESSION *s = SSL_get1_session(c->ssl);

	if (s != NULL && SSL_SESSION_is_resumable(s) != 1) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return (struct tls_session *)s;
}

int
tls_session_set(struct tls_conn *c, const struct tls_session *s)
{
	return SSL_set_session(c->ssl, (SSL_SESSION *)s) == 1 ? 0 : -1;
}

void
tls_session_free(struct tls_session *s)
{
	SSL_SESSION_free((SSL_SESSION *)s);
}

int
tls_peer_verified(const struct tls_conn *c)
{
	X509 *peer;

	if (c->server || !SSL_is_init_finished(c->ssl))
		return 0;
	if ((peer = SSL_get0_peer_certificate(c->ssl)) == NULL)
		return 0;
	return SSL_get_verify_result(c->ssl) == X509_V_OK;
}

const char *
tls_error(const struct tls_conn *c)
{
	return c->err[0] != '\0' ? c->err : "no error";
}
