/* SPDX-License-Identifier: ISC */
/*
 * test_http: the HTTP server (src/net/http.c) on a real loopback socket,
 * driven by a uv loop in the main thread, with libcurl as the client in
 * a second thread.  Routing (exact, prefix, 404, 405 with Allow, HEAD),
 * request bodies, handlers on the loop thread, the body cap (413 by
 * declared length and by chunked upload), the per-IP rate (429 once
 * the burst is spent), the idle timeout (a silent client is closed),
 * a bad listen address, and stop freeing everything (ASan).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "buf.h"
#include "http.h"
#include "tap.h"

static uv_loop_t loop;
static uv_async_t done_async;
static pthread_t loop_thread;
static int handler_on_loop = 1, handler_calls;
static struct http_server *srv, *srv_rate;

static void
h_hello(const struct http_request *req, struct http_response *resp, void *arg)
{
	(void)req;
	if (!pthread_equal(pthread_self(), loop_thread))
		handler_on_loop = 0;
	handler_calls++;
	http_response_text(resp, 200, "text/plain", (const char *)arg);
}

static void
h_echo(const struct http_request *req, struct http_response *resp, void *arg)
{
	(void)arg;
	if (!pthread_equal(pthread_self(), loop_thread))
		handler_on_loop = 0;
	resp->status = 201;
	buf_append(&resp->body, req->body, req->body_len);
	http_response_header(resp, "X-Test", http_request_header(req, "X-Test") ?
	    http_request_header(req, "X-Test") : "none");
}

static void
h_prefix(const struct http_request *req, struct http_response *resp, void *arg)
{
	(void)arg;
	http_response_text(resp, 200, NULL, req->path);
}

static uv_timer_t later_timer;
static struct http_deferred *later_d;

static void
later_fire(uv_timer_t *t)
{
	(void)t;
	http_response_text(http_deferred_response(later_d), 202, NULL, "later");
	http_deferred_finish(later_d);
	later_d = NULL;
}

/* Answers from a timer on the loop, after the handler returned. */
static void
h_defer(const struct http_request *req, struct http_response *resp, void *arg)
{
	(void)req;
	(void)arg;
	later_d = http_response_defer(resp);
	uv_timer_start(&later_timer, later_fire, 20, 0);
}

/* Defers and finishes inside the handler. */
static void
h_defer_now(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct http_deferred *d = http_response_defer(resp);

	(void)req;
	(void)arg;
	http_response_text(http_deferred_response(d), 200, NULL, "now");
	http_deferred_finish(d);
}

static const struct http_route routes[] = {
	{ "GET", "/hello", 0, h_hello, "hello" },
	{ "POST", "/echo", 0, h_echo, NULL },
	{ "GET", "/u/", 1, h_prefix, NULL },
	{ "GET", "/defer", 0, h_defer, NULL },
	{ "GET", "/now", 0, h_defer_now, NULL },
};

static const struct http_route rate_routes[] = {
	{ NULL, "/", 1, h_hello, "r" },
};

struct reply {
	long status;
	struct buf body;
	struct buf headers;
};

static size_t
collect(char *p, size_t sz, size_t n, void *arg)
{
	buf_append(arg, p, sz * n);
	return sz * n;
}

/* One request; body NULL = no body; chunked: send it without a length. */
static void
request(int port, const char *method, const char *path, const char *body, int chunked,
    struct reply *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	char url[256];

	buf_init(&r->body, 1 << 20);
	buf_init(&r->headers, 1 << 16);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	hl = curl_slist_append(hl, "X-Test: yes");
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		if (chunked)
			hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	r->status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	buf_append(&r->body, "", 1);
	buf_append(&r->headers, "", 1);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

static void
reply_free(struct reply *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
}

static void *
client(void *arg)
{
	int port = http_server_port(srv), rport = http_server_port(srv_rate);
	struct reply r;
	char *big;
	int i, n200 = 0, n429 = 0, fd;
	struct sockaddr_in sin;
	char b;

	(void)arg;
	request(port, "GET", "/hello", NULL, 0, &r);
	is_int(r.status, 200, "GET /hello: 200");
	is_str(r.body.data, "hello", "GET /hello: body");
	ok(strstr(r.headers.data, "Cache-Control: no-store") != NULL, "no-store on every answer");
	reply_free(&r);

	request(port, "POST", "/echo", "abc=1&x", 0, &r);
	is_int(r.status, 201, "POST /echo: handler's status");
	is_str(r.body.data, "abc=1&x", "POST /echo: body reached the handler");
	ok(strstr(r.headers.data, "X-Test: yes") != NULL, "request header read, response header added");
	reply_free(&r);

	request(port, "GET", "/nope", NULL, 0, &r);
	is_int(r.status, 404, "unknown path: 404");
	reply_free(&r);

	request(port, "GET", "/echo", NULL, 0, &r);
	is_int(r.status, 405, "wrong method: 405");
	ok(strstr(r.headers.data, "Allow: POST") != NULL, "405 says Allow: POST");
	reply_free(&r);

	request(port, "GET", "/u/abc%2Fdef", NULL, 0, &r);
	is_int(r.status, 200, "prefix route");
	is_str(r.body.data, "/u/abc/def", "prefix route sees the decoded path");
	reply_free(&r);

	request(port, "GET", "/defer", NULL, 0, &r);
	ok(r.status == 202 && strcmp(r.body.data, "later") == 0,
	    "deferred answer, finished later on the loop (%ld)", r.status);
	reply_free(&r);
	request(port, "GET", "/now", NULL, 0, &r);
	ok(r.status == 200 && strcmp(r.body.data, "now") == 0, "deferred and finished at once");
	reply_free(&r);

	request(port, "HEAD", "/hello", NULL, 0, &r);
	is_int(r.status, 200, "HEAD served by the GET route");
	is_int(r.body.len, 1, "HEAD: no body");
	reply_free(&r);

	big = malloc(5000);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	request(port, "POST", "/echo", big, 0, &r);
	is_int(r.status, 413, "body over max_body (Content-Length): 413");
	reply_free(&r);
	request(port, "POST", "/echo", big, 1, &r);
	is_int(r.status, 413, "body over max_body (chunked): 413");
	reply_free(&r);
	free(big);
	big = malloc(40000);
	memset(big, 'b', 39999);
	big[39999] = '\0';
	request(port, "POST", "/echo", big, 1, &r);
	ok(r.status != 201, "endless chunked body: cut off, never handled (%ld)", r.status);
	reply_free(&r);
	free(big);

	for (i = 0; i < 8; i++) {
		request(rport, "GET", "/x", NULL, 0, &r);
		if (r.status == 200)
			n200++;
		else if (r.status == 429)
			n429++;
		reply_free(&r);
	}
	is_int(n200, 3, "rate: the burst of 3 is served");
	is_int(n429, 5, "rate: then 429");

	/* A client that connects and says nothing is closed by the timeout. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ok(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "idle client connects");
	ok(recv(fd, &b, 1, 0) <= 0, "idle client closed by the server's timeout");
	close(fd);

	uv_async_send(&done_async);
	return NULL;
}

static void
on_done(uv_async_t *a)
{
	struct http_stats st;

	http_server_stats(srv, &st);
	ok(st.too_large == 3 && st.not_found == 2, "stats: 3 too large, 2 not found");
	http_server_stats(srv_rate, &st);
	is_int(st.rate_limited, 5, "stats: 5 rate limited");
	http_server_stop(srv);
	http_server_stop(srv_rate);
	uv_close((uv_handle_t *)a, NULL);
	uv_close((uv_handle_t *)&later_timer, NULL);
}

int
main(void)
{
	struct http_limits lim = { .max_body = 1024, .timeout_s = 1, .rate_burst = 100 };
	struct http_limits rlim = { .rate_burst = 3, .rate_per_ip = 1 };
	struct http_server *bad;
	char err[256];
	pthread_t th;

	plan(30);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	uv_loop_init(&loop);
	loop_thread = pthread_self();
	uv_timer_init(&loop, &later_timer);
	ok(http_server_start(&loop, "127.0.0.1:0", routes, 5, &lim, &srv, err, sizeof(err)) == 0,
	    "start on 127.0.0.1:0");
	ok(http_server_port(srv) > 0, "bound a port");
	ok(http_server_start(&loop, "127.0.0.1:0", rate_routes, 1, &rlim, &srv_rate, err,
	    sizeof(err)) == 0, "second server");
	ok(http_server_start(&loop, "nohost", routes, 3, NULL, &bad, err, sizeof(err)) == -1 &&
	    bad == NULL && err[0], "bad listen address refused: %s", err);
	uv_async_init(&loop, &done_async, on_done);
	pthread_create(&th, NULL, client, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	ok(handler_on_loop && handler_calls > 0, "handlers ran on the loop thread");
	ok(uv_loop_close(&loop) == 0, "loop closes: no handle left");
	curl_global_cleanup();
	return done();
}
