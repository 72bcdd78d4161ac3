/* SPDX-License-Identifier: ISC */
/*
 * http.c: the daemon's HTTP server (include/http.h), the only user of
 * libmicrohttpd.  MHD parses HTTP; this file binds the socket, routes
 * requests to handlers, enforces the limits and drives MHD from the
 * caller's libuv loop so that every handler runs on the loop thread.
 *
 * Loop integration: MHD runs in "external" epoll mode (MHD_USE_EPOLL
 * without an internal thread).  Its epoll descriptor becomes readable
 * whenever one of its sockets has work; a uv_poll on it calls MHD_run(),
 * and a uv_timer armed from MHD_get_timeout() after every run covers
 * idle timeouts and work MHD has pending without new I/O.  Nothing here
 * blocks.
 *
 * Limits: MHD enforces the connection totals, per-IP concurrency, the
 * idle timeout and the header memory; this file adds the body cap (413
 * at once for a declared length past it; an undeclared body past it is
 * read and dropped up to 16 times the cap, then the connection is cut,
 * so an endless chunked body costs nothing) and a per-IP
 * token bucket (429 with Retry-After), kept in a table whose size is
 * bounded by pruning full buckets.  Responses carry no cookies and no
 * redirects; every one says Cache-Control: no-store.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>

#include "hash.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define RATE_TABLE_MAX 65536
#define DISCARD_FACTOR 16

struct http_deferred {
	struct http_server *srv;	/* NULL once the server stopped */
	struct MHD_Connection *conn;	/* NULL once the connection is gone */
	struct http_response resp;	/* what the handler fills later */
	int head;			/* a HEAD request: no body */
	int finished;			/* http_deferred_finish() was called */
	int attached;			/* the connection is suspended for it */
	struct http_deferred *next;	/* the server's suspended list */
};

struct http_server {
	uv_loop_t *loop;			/* borrowed */
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;			/* closing: free at 0 */
	int port;
	const struct http_route *routes;	/* borrowed */
	size_t nroutes;
	struct http_limits lim;
	struct hash *rate;			/* raw IP -> struct bucket */
	struct http_stats stats;
	struct http_deferred *suspended;	/* connections waiting for a handler */
};

struct bucket {
	double tokens;
	uint64_t last_ms;
};

/* Per request, MHD's *con_cls. */
struct req_ctx {
	struct buf body;
	int too_large;		/* past max_body: being discarded */
	uint64_t discarded;
	int answered;		/* a response was queued early */
	struct http_deferred *def;	/* a deferred answer (suspended), or NULL */
};

static void http_reschedule(struct http_server *srv);
static void http_on_timer_kick(uv_timer_t *t);

static void http_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
http_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	log_debug("event=http_library msg=\"%s\"", line);
}

/* Parse "host:port", "[v6]:port" or "*:port" into a sockaddr. */
static int
http_parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[256];
	const char *colon, *hs, *he;
	char *end;
	long port;

	if (s[0] == '[') {
		hs = s + 1;
		he = strchr(hs, ']');
		if (!he || he[1] != ':') {
			snprintf(err, errlen, "bad listen address '%s'", s);
			return -1;
		}
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(err, errlen, "listen address '%s' has no port", s);
			return -1;
		}
		hs = s;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host)) {
		snprintf(err, errlen, "listen address too long");
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535) {
		snprintf(err, errlen, "bad port in listen address '%s'", s);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "*") == 0 || host[0] == '\0')
		strcpy(host, "0.0.0.0");
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	snprintf(err, errlen, "listen host '%s' is not an IP address", host);
	return -1;
}

static void http_response_release(struct http_response *r);

static void
deferred_free(struct http_deferred *d)
{
	http_response_release(&d->resp);
	free(d);
}

static void
req_ctx_free(struct req_ctx *c)
{
	if (!c)
		return;
	if (c->def != NULL) {
		/* the connection ends before the handler finished: it frees D */
		c->def->conn = NULL;
		if (c->def->finished)
			deferred_free(c->def);
	}
	buf_free(&c->body);
	free(c);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)conn;
	(void)code;
	req_ctx_free(*con_cls);
	*con_cls = NULL;
}

/* The client's address as raw bytes (rate key) and text. */
static size_t
http_peer(struct MHD_Connection *conn, unsigned char raw[16], char *text, size_t textlen)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	text[0] = '\0';
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return 0;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(raw, &in->sin_addr, 4);
		inet_ntop(AF_INET, &in->sin_addr, text, (socklen_t)textlen);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(raw, &in6->sin6_addr, 16);
		inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)textlen);
		return 16;
	}
	return 0;
}

/* Take one token from the client's bucket: 1 allowed, 0 limited. */
static int
http_rate_take(struct http_server *srv, const unsigned char *raw, size_t rawlen)
{
	struct bucket *b;
	uint64_t now = now_mono_ms();
	double per_ms = (double)srv->lim.rate_per_ip / 60000.0;

	if (rawlen == 0)
		return 1;
	b = hash_get(srv->rate, raw, rawlen);
	if (!b) {
		if (hash_count(srv->rate) >= RATE_TABLE_MAX) {
			/* Drop buckets that have refilled; they hold no state. */
			struct hash_iter it;
			const char *k;
			size_t kl;
			void *v;

			hash_iter_init(&it, srv->rate);
			while (hash_next(&it, &k, &kl, &v)) {
				struct bucket *o = v;
				if (o->tokens + (double)(now - o->last_ms) * per_ms >= srv->lim.rate_burst)
					hash_del(srv->rate, k, kl);
			}
			if (hash_count(srv->rate) >= RATE_TABLE_MAX)
				return 0;	/* under a wide flood, refuse newcomers */
		}
		b = xmalloc(sizeof(*b));
		b->tokens = srv->lim.rate_burst;
		b->last_ms = now;
		hash_put(srv->rate, raw, rawlen, b);
	}
	b->tokens += (double)(now - b->last_ms) * per_ms;
	if (b->tokens > srv->lim.rate_burst)
		b->tokens = srv->lim.rate_burst;
	b->last_ms = now;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

static enum MHD_Result
http_send(struct MHD_Connection *conn, struct http_response *r, int head)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	size_t i;

	mr = MHD_create_response_from_buffer(head ? 0 : r->body.len,
	    head ? (void *)"" : (void *)r->body.data, MHD_RESPMEM_MUST_COPY);
	if (!mr)
		return MHD_NO;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
	    r->content_type ? r->content_type : "text/plain; charset=utf-8");
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	for (i = 0; i < r->nheaders; i++)
		MHD_add_response_header(mr, r->hname[i], r->hvalue[i]);
	ret = MHD_queue_response(conn, (unsigned int)r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static void
http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	buf_init(&r->body, 16u << 20);
}

static void
http_response_release(struct http_response *r)
{
	size_t i;

	buf_free(&r->body);
	for (i = 0; i < r->nheaders; i++)
		free(r->hvalue[i]);
	r->nheaders = 0;
}

static enum MHD_Result
http_simple(struct MHD_Connection *conn, int status, const char *text, const char *hname,
    const char *hvalue)
{
	struct http_response r;
	enum MHD_Result ret;

	http_response_init(&r);
	http_response_text(&r, status, NULL, text);
	if (hname)
		http_response_header(&r, hname, hvalue);
	ret = http_send(conn, &r, 0);
	http_response_release(&r);
	return ret;
}

/* The route for PATH and METHOD; *PATH_KNOWN says whether any route
 * serves PATH, so that a wrong method gets 405 rather than 404. */
static const struct http_route *
http_route_find(const struct http_server *srv, const char *method, const char *path,
    int *path_known, char *allow, size_t allowlen)
{
	size_t i;

	*path_known = 0;
	allow[0] = '\0';
	for (i = 0; i < srv->nroutes; i++) {
		const struct http_route *rt = &srv->routes[i];
		size_t pl = strlen(rt->path);
		int match = rt->prefix ? strncmp(path, rt->path, pl) == 0 : strcmp(path, rt->path) == 0;

		if (!match)
			continue;
		*path_known = 1;
		if (!rt->method || strcmp(rt->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))
			return rt;
		if (strlen(allow) + strlen(rt->method) + 3 < allowlen) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, rt->method);
		}
	}
	return NULL;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct req_ctx *c = *con_cls;
	const struct http_route *rt;
	struct http_request req;
	struct http_response resp;
	unsigned char raw[16];
	char peer[INET6_ADDRSTRLEN], allow[64];
	size_t rawlen;
	int known, head;
	enum MHD_Result ret;

	(void)version;
	if (!c) {
		const char *cl;

		/* First call: headers are in.  Rate and size checks first. */
		c = xcalloc(1, sizeof(*c));
		buf_init(&c->body, srv->lim.max_body + 1);
		*con_cls = c;
		rawlen = http_peer(conn, raw, peer, sizeof(peer));
		if (!http_rate_take(srv, raw, rawlen)) {
			srv->stats.rate_limited++;
			c->answered = 1;
			log_info("event=http_rate_limited client=%s", peer);
			return http_simple(conn, MHD_HTTP_TOO_MANY_REQUESTS,
			    "Too many requests\n", MHD_HTTP_HEADER_RETRY_AFTER, "60");
		}
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > srv->lim.max_body) {
			srv->stats.too_large++;
			c->answered = 1;
			return http_simple(conn, MHD_HTTP_CONTENT_TOO_LARGE,
			    "Request body too large\n", NULL, NULL);
		}
		return MHD_YES;
	}
	if (c->answered) {
		*upload_data_size = 0;	/* discard whatever follows */
		return MHD_YES;
	}
	if (c->def != NULL) {
		/* resumed: the deferred answer is ready */
		struct http_deferred *d = c->def;

		c->def = NULL;
		c->answered = 1;
		ret = http_send(conn, &d->resp, d->head);
		deferred_free(d);
		return ret;
	}
	if (*upload_data_size) {
		/* A body without a declared length that passes the cap is
		 * read and dropped (so the client can read the 413), up to
		 * DISCARD_FACTOR times the cap; past that the connection is cut. */
		if (c->too_large || c->body.len + *upload_data_size > srv->lim.max_body) {
			c->too_large = 1;
			c->discarded += *upload_data_size;
			*upload_data_size = 0;
			if (c->discarded > (uint64_t)srv->lim.max_body * DISCARD_FACTOR) {
				srv->stats.too_large++;
				return MHD_NO;
			}
			return MHD_YES;
		}
		buf_append(&c->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->too_large) {
		srv->stats.too_large++;
		return http_simple(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		    "Request body too large\n", NULL, NULL);
	}

	/* The whole request is in: route it. */
	rt = http_route_find(srv, method, url, &known, allow, sizeof(allow));
	if (!rt) {
		srv->stats.not_found++;
		if (known)
			return http_simple(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "Method not allowed\n", MHD_HTTP_HEADER_ALLOW, allow);
		return http_simple(conn, MHD_HTTP_NOT_FOUND, "Not found\n", NULL, NULL);
	}
	buf_append(&c->body, "", 1);	/* NUL for handlers that parse text */
	rawlen = http_peer(conn, raw, peer, sizeof(peer));
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.body = c->body.data;
	req.body_len = c->body.len - 1;
	req.peer = peer;
	req.conn = conn;
	http_response_init(&resp);
	srv->stats.requests++;
	rt->handler(&req, &resp, rt->arg);
	head = strcmp(method, "HEAD") == 0;
	if (resp.deferred != NULL) {
		struct http_deferred *d = resp.deferred;

		http_response_release(&resp);
		if (d->finished) {
			/* finished inside the handler: answer now */
			ret = http_send(conn, &d->resp, head);
			deferred_free(d);
			return ret;
		}
		d->attached = 1;
		d->srv = srv;
		d->conn = conn;
		d->head = head;
		c->def = d;
		d->next = srv->suspended;
		srv->suspended = d;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	ret = http_send(conn, &resp, head);
	http_response_release(&resp);
	return ret;
}

struct http_deferred *
http_response_defer(struct http_response *resp)
{
	struct http_deferred *d = xcalloc(1, sizeof(*d));

	http_response_init(&d->resp);
	resp->deferred = d;
	return d;
}

struct http_response *
http_deferred_response(struct http_deferred *d)
{
	return &d->resp;
}

static void
http_unlink_suspended(struct http_server *srv, struct http_deferred *d)
{
	struct http_deferred **pp;

	for (pp = &srv->suspended; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
}

void
http_deferred_finish(struct http_deferred *d)
{
	d->finished = 1;
	if (!d->attached)
		return;		/* still in its handler: http_access() answers */
	if (d->srv == NULL || d->conn == NULL) {
		/* the server stopped or the connection is gone: nobody to answer */
		if (d->conn == NULL)
			deferred_free(d);
		return;
	}
	http_unlink_suspended(d->srv, d);
	MHD_resume_connection(d->conn);	/* the access handler sends d->resp */
	uv_timer_start(&d->srv->timer, http_on_timer_kick, 0, 0);
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_request_arg(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* What http_form_value() looks for, and what it found. */
struct form_find {
	const char *key;
	char *out;
	size_t outlen, len;
	int found;
};

static enum MHD_Result
form_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
    const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
    size_t size)
{
	struct form_find *f = cls;

	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	if (key == NULL || strcmp(key, f->key) != 0 || (f->found && off == 0))
		return MHD_YES;		/* another field, or a second one of this name */
	f->found = 1;
	/* a value may come in pieces (OFF); keep what fits */
	if (off == f->len && f->len + 1 < f->outlen) {
		size_t n = size < f->outlen - 1 - f->len ? size : f->outlen - 1 - f->len;

		memcpy(f->out + f->len, data, n);
		f->len += n;
		f->out[f->len] = '\0';
	}
	return MHD_YES;
}

int
http_form_value(const struct http_request *req, const char *key, char *out, size_t outlen)
{
	struct form_find f = { key, out, outlen, 0, 0 };
	struct MHD_PostProcessor *pp;
	enum MHD_Result r;

	if (outlen == 0 || req->conn == NULL)
		return -ENOTSUP;
	out[0] = '\0';
	/* NULL for a body that is not urlencoded or multipart/form-data */
	if ((pp = MHD_create_post_processor(req->conn, 1024, form_field, &f)) == NULL)
		return -ENOTSUP;
	r = req->body_len > 0 ? MHD_post_process(pp, req->body, req->body_len) : MHD_YES;
	if (MHD_destroy_post_processor(pp) != MHD_YES || r != MHD_YES)
		return f.found ? 0 : -ENOTSUP;
	return f.found ? 0 : -ENOENT;
}

void
http_response_text(struct http_response *resp, int status, const char *content_type,
    const char *text)
{
	resp->status = status;
	resp->content_type = content_type;
	buf_reset(&resp->body);
	buf_append_str(&resp->body, text);
}

int
http_response_header(struct http_response *resp, const char *name, const char *value)
{
	if (resp->nheaders >= HTTP_MAX_HEADERS)
		return -1;
	resp->hname[resp->nheaders] = name;
	resp->hvalue[resp->nheaders] = xstrdup(value);
	resp->nheaders++;
	return 0;
}

static void
http_run(struct http_server *srv)
{
	if (!srv->mhd)
		return;
	MHD_run(srv->mhd);
	http_reschedule(srv);
}

static void
http_on_poll(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	http_run(h->data);
}

static void
http_on_timer(uv_timer_t *t)
{
	http_run(t->data);
}

/* A resumed connection: let MHD run on the next loop turn. */
static void
http_on_timer_kick(uv_timer_t *t)
{
	http_run(t->data);
}

static void
http_reschedule(struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (!srv->mhd)
		return;
	if (MHD_get_timeout(srv->mhd, &to) == MHD_YES)
		uv_timer_start(&srv->timer, http_on_timer, (uint64_t)to, 0);
	else
		uv_timer_stop(&srv->timer);
}

int
http_server_start(uv_loop_t *loop, const char *listen_addr,
    const struct http_route *routes, size_t nroutes,
    const struct http_limits *limits, struct http_server **out,
    char *err, size_t errlen)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	socklen_t sl;
	const union MHD_DaemonInfo *di;
	int fd, one = 1, r;

	*out = NULL;
	if (http_parse_listen(listen_addr, &ss, err, errlen) == -1)
		return -1;
	srv = xcalloc(1, sizeof(*srv));
	srv->loop = loop;
	srv->routes = routes;
	srv->nroutes = nroutes;
	if (limits)
		srv->lim = *limits;
	if (!srv->lim.max_connections) srv->lim.max_connections = 64;
	if (!srv->lim.max_per_ip) srv->lim.max_per_ip = 8;
	if (!srv->lim.max_header_bytes) srv->lim.max_header_bytes = 16384;
	if (!srv->lim.max_body) srv->lim.max_body = 8192;
	if (!srv->lim.timeout_s) srv->lim.timeout_s = 10;
	if (!srv->lim.rate_per_ip) srv->lim.rate_per_ip = 60;
	if (!srv->lim.rate_burst) srv->lim.rate_burst = 20;
	srv->rate = hash_new(free);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "http socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	sl = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, 128) == -1) {
		snprintf(err, errlen, "http listen %s: %s", listen_addr, strerror(errno));
		close(fd);
		goto fail;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	    : ((struct sockaddr_in *)&ss)->sin_port);

	srv->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
	    0, NULL, NULL,
	    http_access, srv,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, srv->lim.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->lim.max_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, srv->lim.timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(srv->lim.max_header_bytes + 4096),
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, http_log, srv,
	    MHD_OPTION_END);
	if (!srv->mhd) {
		snprintf(err, errlen, "http server on %s could not start", listen_addr);
		close(fd);
		goto fail;
	}
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di || (r = uv_poll_init(loop, &srv->poll, di->epoll_fd)) != 0) {
		snprintf(err, errlen, "http server: no pollable descriptor");
		MHD_stop_daemon(srv->mhd);
		goto fail;
	}
	srv->poll.data = srv;
	uv_timer_init(loop, &srv->timer);
	srv->timer.data = srv;
	srv->open_handles = 2;
	uv_poll_start(&srv->poll, UV_READABLE, http_on_poll);
	http_reschedule(srv);
	log_info("event=http_listen addr=%s port=%d", listen_addr, srv->port);
	*out = srv;
	return 0;
fail:
	hash_free(srv->rate);
	free(srv);
	return -1;
}

static void
http_on_close(uv_handle_t *h)
{
	struct http_server *srv = h->data;

	if (--srv->open_handles == 0) {
		hash_free(srv->rate);
		free(srv);
	}
}

void
http_server_stop(struct http_server *srv)
{
	if (!srv || !srv->mhd)
		return;
	/* Suspended connections must be resumed before MHD stops; their
	 * handlers' answers are dropped when they finish. */
	while (srv->suspended != NULL) {
		struct http_deferred *d = srv->suspended;

		srv->suspended = d->next;
		d->srv = NULL;
		if (d->conn != NULL)
			MHD_resume_connection(d->conn);
	}
	/* Stop watching MHD's epoll descriptor before MHD closes it. */
	uv_poll_stop(&srv->poll);
	uv_close((uv_handle_t *)&srv->poll, http_on_close);
	uv_close((uv_handle_t *)&srv->timer, http_on_close);
	MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
}

int
http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void
http_server_stats(const struct http_server *srv, struct http_stats *out)
{
	*out = srv->stats;
}
