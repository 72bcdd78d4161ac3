/* SPDX-License-Identifier: ISC */
/*
 * outbound_int.h: private to src/outbound/: the state the delivery
 * engine (delivery.c) and its outbound connections (connection.c)
 * share.  A struct delivery owns destinations (struct dest, one per
 * recipient domain), each with a FIFO of items (struct dl_item: the
 * recipients of one message for that domain) and its connections
 * (struct conn).  The engine creates items and destinations and
 * records results; a connection takes items from its destination and
 * hands each back through dl_item_report() once the server answered.
 */
#ifndef POSTERN_OUTBOUND_INT_H
#define POSTERN_OUTBOUND_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "delivery.h"
#include "hash.h"
#include "outcome.h"
#include "queue.h"
#include "route.h"
#include "smtp_client.h"
#include "stream.h"

#define DL_TAKE_BATCH 64
#define DL_MAX_ITEMS 20000		/* items held in memory before we stop taking */
#define DL_IDLE_MS 2000			/* keep an idle session this long for more mail */
#define DL_ROUTE_TTL_MS 60000		/* re-resolve a busy destination after this */

struct dest;
struct conn;

/* One message taken from the queue, shared by its items. */
struct dl_job {
	struct queue_job *job;
	int refs;
	int body_state;			/* 0 not read, 1 read, -1 failed */
	struct buf body;
};

/* The recipients of one message that go to one destination. */
struct dl_item {
	struct delivery *dl;
	struct dl_job *j;
	struct dest *dest;
	size_t n;
	size_t *idx;			/* into j->job->msg->rcpts */
	struct smtp_client_rcpt *crcpts;
	struct outcome *res;
	enum queue_state *newstate;
	size_t reports_pending;
	char relay[400];
	char tls[64];			/* "TLSv1.3" or "" */
	char cid[24];			/* connection that carried it, or "" */
	char host[ROUTE_HOST_MAX];	/* MX host name (Remote-MTA), or "" */
	size_t cls;			/* destination class (dest_class.h), set when reported */
	int server_dsn;			/* the server offered DSN */
	char verp[320];			/* VERP envelope sender b+TOKEN@return_path_domain, or "" */
	struct smtp_client_msg cmsg;
	struct dl_item *next;
};

struct report_ctx {
	struct dl_item *item;
	size_t i;
};

struct dest {
	struct delivery *dl;
	char domain[ROUTE_HOST_MAX];
	struct dl_item *head, **tail;
	size_t nqueued;
	struct conn *conns;
	int nconns;
	struct route_req *rreq;
	int have_route;
	int via_transport;		/* the transport table chose the route */
	struct outcome route_o;
	struct route_target *targets;
	size_t ntargets;
	uint64_t route_expires;
	uint64_t rate_window;		/* start of the current minute (mono ms) */
	int64_t rate_count;
	struct dest *next;
};

enum conn_after { AFTER_NOTHING, AFTER_NEXT_TARGET, AFTER_FREE };

struct conn {
	struct delivery *dl;
	struct dest *dest;
	struct stream st;		/* the socket and its TLS; st.tcp.data = this conn */
	uv_timer_t timer;
	uv_connect_t creq;
	int tcp_inited;
	int timer_inited;
	struct route_target *targets;	/* snapshot of the route */
	size_t ntargets, ti;
	struct smtp_client *client;
	int tls_hs;			/* STARTTLS handshake under way */
	struct dl_item *cur;
	struct outcome last_fail;
	int in_session;
	int idle;
	int closing;
	enum conn_after after;
	struct conn *next;
	char relay[400];
	char id[24];			/* "c" + counter: the log id of the connection */
};

struct delivery {
	uv_loop_t *loop;		/* borrowed */
	struct queue *q;		/* borrowed */
	struct delivery_params p;	/* owned; swapped on reload */
	struct dns *dns;
	struct tls_ctx *tls_ctx;
	char hostname[256];
	struct dest *dests;		/* every destination, for iteration */
	struct hash *dest_index;	/* lowercased domain -> struct dest (borrowed) */
	size_t items;			/* items alive */
	size_t nconns;
	size_t pending_reports;
	size_t pending_commits;
	int draining;
	int stopped;			/* delivery_free() ran; waiting for callbacks */
	void (*drained)(void *);
	void *drained_arg;
	uint64_t conn_seq;
	uv_timer_t kick;		/* retries rate-limited destinations */
	struct delivery_stats st;
	struct abuse *abuse;		/* per-account outcome windows (review triggers) */
};

/* ---- delivery.c: the engine ---- */

void dl_item_free(struct dl_item *it);
/* Send every recipient's result of IT to the queue. */
void dl_item_report(struct dl_item *it);
/* Every recipient of IT gets O (no connection involved). */
void dl_item_fail_all(struct dl_item *it, const struct outcome *o);
struct dl_item *dest_pop(struct dest *ds);
/* Match waiting items with connections (see delivery.c). */
void dest_run(struct dest *ds);
/* Free a destination with nothing left to do. */
void dest_gc(struct dest *ds);
/* smtp_destination_rate: 1 when one more message may go now. */
int dest_rate_ok(struct dest *ds);
void dl_check_drained(struct delivery *dl);
/* Free DL once it is stopped and no callback can reach it any more. */
void dl_maybe_free(struct delivery *dl);

/* ---- connection.c: one outbound SMTP connection ---- */

/* Open a connection for DS: shuffle its targets, try the first. */
void conn_open(struct dest *ds);
/* An established session takes the next item of its destination, or
 * idles / quits. */
void conn_next(struct conn *c);
/* The engine stops (delivery_free): close C, free it in its close
 * callbacks. */
void conn_stop(struct conn *c);

#endif
