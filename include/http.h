/* SPDX-License-Identifier: ISC */
/*
 * http.h: a small, bounded HTTP/1.1 server for the daemon's public and
 * operational endpoints (one-click unsubscribe, metrics), built on
 * libmicrohttpd (src/net/http.c is its only user; no hand-written HTTP
 * parser).  The server is driven from the caller's libuv loop: every
 * handler runs on the loop thread, so handlers may touch loop-owned
 * state without locks, and must not block.
 *
 * A server is a table of routes {method, path, prefix?, handler, arg}.
 * The request body (bounded by limits->max_body) is collected before the
 * handler runs; the handler fills a response (status, content type,
 * body, a few extra header fields) and returns.  Requests for a path no
 * route serves get 404, a known path with another method 405 (with
 * Allow); HEAD is served by the GET route without a body.
 *
 * Limits protect a listener that faces the Internet: total and per-IP
 * concurrent connections, request header memory, body size (413),
 * a per-IP request rate (token bucket; 429 when empty) and an idle
 * connection timeout.  TLS is not offered: terminate it at a reverse
 * proxy (postern.conf(5), http_listen).
 */
#ifndef POSTERN_HTTP_H
#define POSTERN_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "buf.h"

struct http_server;

struct http_request {
	const char *method;	/* "GET", "POST", ...; HEAD arrives as "HEAD" */
	const char *path;	/* without the query string, %-decoded */
	const char *body;	/* the request body (NUL-terminated copy) */
	size_t body_len;
	const char *peer;	/* client IP address, text */
	void *conn;		/* opaque (libmicrohttpd connection) */
};

#define HTTP_MAX_HEADERS 4

struct http_response {
	int status;			/* default 200 */
	const char *content_type;	/* static string; default text/plain */
	struct buf body;		/* owned by the server */
	const char *hname[HTTP_MAX_HEADERS];	/* static names */
	char *hvalue[HTTP_MAX_HEADERS];		/* owned copies */
	size_t nheaders;
	struct http_deferred *deferred;	/* set by http_response_defer() */
};

/*
 * The value of form field KEY in REQ's body, decoded by libmicrohttpd's
 * form parser (application/x-www-form-urlencoded or multipart/form-data,
 * by the request's Content-Type), into OUT (cut at OUTLEN - 1).  Only
 * while the handler runs.  0, -ENOENT (no such field), or -ENOTSUP (the
 * body is not a form: no or another Content-Type, or it does not parse).
 */
int http_form_value(const struct http_request *req, const char *key, char *out, size_t outlen);

typedef void (*http_handler)(const struct http_request *req,
    struct http_response *resp, void *arg);

struct http_route {
	const char *method;	/* "GET", "POST"; NULL: any method */
	const char *path;	/* exact path, or a prefix when prefix is 1 */
	int prefix;
	http_handler handler;
	void *arg;		/* borrowed; passed to handler */
};

/* Zero fields take the defaults given in the comments. */
struct http_limits {
	unsigned max_connections;	/* 64 */
	unsigned max_per_ip;		/* 8 concurrent connections per IP */
	size_t max_header_bytes;	/* 16384: request line + header fields */
	size_t max_body;		/* 8192 */
	unsigned timeout_s;		/* 10: idle connection timeout */
	unsigned rate_per_ip;		/* 60 requests per minute per IP ... */
	unsigned rate_burst;		/* ... with a burst of 20 */
};

/*
 * Bind LISTEN_ADDR ("host:port", "[v6]:port", "*:port"; port 0 picks
 * one, see http_server_port()), listen, and serve ROUTES (borrowed: they
 * must outlive the server) from LOOP.  0 and *OUT, or -1 with ERR.
 */
int http_server_start(uv_loop_t *loop, const char *listen_addr,
    const struct http_route *routes, size_t nroutes,
    const struct http_limits *limits, struct http_server **out,
    char *err, size_t errlen);
/* Close the listener and every connection; the memory goes when the
 * loop has run the close callbacks.  NULL is fine. */
void http_server_stop(struct http_server *srv);
/* The bound port (useful after port 0). */
int http_server_port(const struct http_server *srv);

/* A request header field (case-insensitive name) or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/* A query-string argument (decoded) or NULL. */
const char *http_request_arg(const struct http_request *req, const char *name);

/* Set status, type and the whole body text in one call. */
void http_response_text(struct http_response *resp, int status,
    const char *content_type, const char *text);
/* Add a header field (NAME static, VALUE copied); 0, or -1 when full. */
int http_response_header(struct http_response *resp, const char *name, const char *value);

/*
 * A handler whose answer needs work on the loop first (a durable write)
 * calls http_response_defer(RESP) and returns; the connection is
 * suspended.  Later, on the loop thread, it fills
 * http_deferred_response(D) and calls http_deferred_finish(D) exactly
 * once; the response is then sent.  D stays valid until that call even
 * when the client went away or the server stopped (the answer is then
 * dropped).
 */
struct http_deferred;
struct http_deferred *http_response_defer(struct http_response *resp);
struct http_response *http_deferred_response(struct http_deferred *d);
void http_deferred_finish(struct http_deferred *d);

/* Counters since start (tests, metrics). */
struct http_stats {
	unsigned long long requests;	/* handled by a route */
	unsigned long long rate_limited;	/* answered 429 */
	unsigned long long too_large;	/* answered 413 */
	unsigned long long not_found;	/* 404 and 405 */
};
void http_server_stats(const struct http_server *srv, struct http_stats *out);

#endif
