/* SPDX-License-Identifier: ISC */
/*
 * httpc.h: an HTTP client on the libuv loop (src/net/httpc.c, the only
 * libcurl user): POST a body with extra header lines, get the status or
 * a transport error back in a callback on the loop thread.  Used by the
 * webhook dispatcher (src/outbound/webhook.c).  Redirects are not
 * followed (a signed event goes where the customer said, nowhere else).
 */
#ifndef POSTERN_HTTPC_H
#define POSTERN_HTTPC_H

#include <stddef.h>
#include <uv.h>

struct httpc;

/* STATUS: the HTTP status (e.g. 200, 500), or 0 with ERROR set when no
 * response came (connect failure, timeout, TLS error). */
typedef void (*httpc_done_cb)(void *arg, long status, const char *error);

struct httpc *httpc_new(uv_loop_t *loop);
/* POST BODY (LEN octets, copied) to URL with HEADERS (NULL-terminated
 * "Name: value" lines), at most TIMEOUT_MS in all.  0, or -1 (bad URL,
 * out of handles).  CB runs exactly once unless httpc_free() comes first. */
int httpc_post(struct httpc *h, const char *url, const char *const *headers,
    const char *body, size_t len, long timeout_ms, httpc_done_cb cb, void *arg);
/* Requests in flight. */
size_t httpc_pending(const struct httpc *h);
/* Abort everything (no callbacks), close the handles, free H on close. */
void httpc_free(struct httpc *h);

#endif
