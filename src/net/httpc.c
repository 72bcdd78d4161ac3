/* SPDX-License-Identifier: ISC */
/*
 * httpc.c: the HTTP client of include/httpc.h: libcurl's multi
 * interface driven from the libuv loop, so nothing blocks and every
 * callback runs on the loop thread.  The documented socket-action
 * pattern: CURLMOPT_SOCKETFUNCTION tells us which sockets to watch (one
 * uv_poll per socket, started and stopped as curl asks), and
 * CURLMOPT_TIMERFUNCTION the one timeout (a uv_timer); poll events and
 * the timer call curl_multi_socket_action(), after which finished
 * transfers are collected with curl_multi_info_read().
 *
 * Only this file calls libcurl (tests/check-deps.sh rule 3).  Requests
 * do not follow redirects, send no cookies, and are limited to HTTP and
 * HTTPS; TLS certificates are verified against the system store.
 * Polls are freed in their close callbacks; httpc_free() removes every
 * transfer first and frees the client once its handles are closed.
 */
#include "autoconfig.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "util.h"

struct httpc_req;

struct httpc {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct httpc_req *reqs;	/* in flight, for httpc_free() */
	size_t pending;
	int nhandles;		/* open uv handles (timer + polls) */
	int closing;
};

struct httpc_req {
	struct httpc *h;
	struct httpc_req *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	httpc_done_cb cb;
	void *arg;
	char error[CURL_ERROR_SIZE];
};

struct httpc_sock {
	uv_poll_t poll;
	struct httpc *h;
	curl_socket_t fd;
};

static void httpc_maybe_free(struct httpc *h);

static void
on_timer_closed(uv_handle_t *hd)
{
	struct httpc *h = hd->data;

	h->nhandles--;
	httpc_maybe_free(h);
}

static void
on_poll_closed(uv_handle_t *hd)
{
	struct httpc_sock *s = hd->data;
	struct httpc *h = s->h;

	free(s);
	h->nhandles--;
	httpc_maybe_free(h);
}

static void
httpc_maybe_free(struct httpc *h)
{
	if (h->closing && h->nhandles == 0) {
		curl_multi_cleanup(h->multi);
		free(h);
	}
}

static void
req_unlink(struct httpc_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
}

static void
req_free(struct httpc_req *r)
{
	curl_slist_free_all(r->headers);
	curl_easy_cleanup(r->easy);
	free(r->body);
	free(r);
}

/* Hand every finished transfer to its callback. */
static void
collect(struct httpc *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct httpc_req *r = NULL;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		else if (r->error[0] == '\0')
			str_copy(r->error, curl_easy_strerror(msg->data.result), sizeof(r->error));
		curl_multi_remove_handle(h->multi, msg->easy_handle);
		req_unlink(r);
		h->pending--;
		r->cb(r->arg, status, status ? NULL : r->error);
		req_free(r);
	}
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct httpc_sock *s = p->data;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->h->multi, s->fd, flags, &running);
	collect(s->h);
}

static void
on_timer(uv_timer_t *t)
{
	struct httpc *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(h);
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	struct httpc_sock *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			uv_poll_stop(&s->poll);
			s->poll.data = s;
			uv_close((uv_handle_t *)&s->poll, on_poll_closed);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->h = h;
		s->fd = fd;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		h->nhandles++;
		curl_multi_assign(h->multi, fd, s);
	}
	s->poll.data = s;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;

	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

struct httpc *
httpc_new(uv_loop_t *loop)
{
	static int inited;
	struct httpc *h;

	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		inited = 1;
	}
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h);
		return NULL;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->nhandles = 1;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

int
httpc_post(struct httpc *h, const char *url, const char *const *headers,
    const char *body, size_t len, long timeout_ms, httpc_done_cb cb, void *arg)
{
	struct httpc_req *r;
	size_t i;

	if (h == NULL || h->closing || (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0))
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		return -1;
	}
	r->body = xmalloc(len + 1);
	memcpy(r->body, body, len);
	r->body[len] = '\0';
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		r->headers = curl_slist_append(r->headers, headers[i]);
	r->headers = curl_slist_append(r->headers, "Expect:");	/* no 100-continue wait */
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "postern/" PACKAGE_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		req_free(r);
		return -1;
	}
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	h->pending++;
	return 0;
}

size_t
httpc_pending(const struct httpc *h)
{
	return h != NULL ? h->pending : 0;
}

void
httpc_free(struct httpc *h)
{
	struct httpc_req *r;

	if (h == NULL || h->closing)
		return;
	h->closing = 1;
	/* every transfer still in flight, without callbacks; removing an easy
	 * handle makes curl ask us to drop its socket (socket_cb) */
	while ((r = h->reqs) != NULL) {
		curl_multi_remove_handle(h->multi, r->easy);
		req_unlink(r);
		req_free(r);
	}
	h->pending = 0;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
