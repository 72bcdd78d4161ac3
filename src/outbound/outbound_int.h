/* SPDX-License-Identifier: ISC */
/*
 * outbound_int.h: private to src/outbound/: the state the delivery
 * engine (delivery.c) and its outbound connections (connection.c)
 * share.  A struct dl_engine (one per delivery loop; struct delivery
 * is the loops together, loops.c) owns destinations (struct dest, one per
 * recipient domain), each with a FIFO of items (struct dl_item: the
 * recipients of one message for that domain) and its connections
 * (struct conn).  The engine creates items and destinations and
 * records results; a connection takes items from its destination and
 * hands each back through dl_item_report() once the server answered.
 */
#ifndef POSTERN_OUTBOUND_INT_H
#define POSTERN_OUTBOUND_INT_H

#include <stddef.h>
#include <pthread.h>
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
	struct dl_engine *dl;
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
	struct dl_engine *dl;
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
	struct dl_engine *dl;
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
	int retire;			/* a reload came: finish the current message, QUIT */
	int slot;			/* holds one of its domain's connections over all loops */
	int closing;
	enum conn_after after;
	struct conn *next;
	char relay[400];
	char id[24];			/* "c" + counter: the log id of the connection */
};

struct dl_engine {
	struct delivery *set;		/* borrowed: what the loops share (loops.c) */
	unsigned index;			/* its delivery loop, 0 = the daemon's */
	pthread_mutex_t st_mu;		/* st (loop 0 reads it for the metrics) */
	uv_loop_t *loop;		/* borrowed */
	struct queue *q;		/* borrowed */
	struct delivery_params p;	/* owned; swapped on reload */
	struct dns *dns;
	struct tls_ctx *tls_ctx;
	char hostname[256];
	struct dest *dests;		/* every destination, for iteration */
	struct hash *dest_index;	/* lowercased domain -> struct dest (borrowed) */
	size_t items;			/* items alive (atomic: the dispatcher reads it) */
	size_t nconns;
	size_t pending_reports;
	size_t pending_commits;
	int draining;
	int drain_told;			/* dl_set_engine_drained() was called */
	int stopped;			/* dl_engine_free() ran; waiting for callbacks */
	uv_timer_t kick;		/* retries rate-limited destinations */
	struct delivery_stats st;	/* under st_mu */
};

/* Under DL's st_mu: the counters loop 0 reads. */
#define DL_STAT(dl, stmt) do {					\
	pthread_mutex_lock(&(dl)->st_mu);				\
	stmt;								\
	pthread_mutex_unlock(&(dl)->st_mu);				\
} while (0)

/*
 * The delivery loops (loops.c; issue 20 item 3): struct delivery is
 * what they share.  Loop 0's dispatcher takes due work from the queue
 * and hands each destination's recipients to one of the engines; the
 * rest of an engine is its own loop's alone.
 */
struct dl_loop;
struct delivery {
	uv_loop_t *loop;		/* loop 0 (the daemon's; the queue's) */
	struct queue *q;		/* borrowed */
	unsigned n;			/* engines = delivery loops */
	struct dl_loop *loops;		/* [0..n-1]; [0] runs on LOOP, no thread */
	uv_async_t back;		/* engines -> loop 0: drained, room again */
	int back_init;
	uint64_t conn_seq;		/* atomic: connection log ids, unique over loops */
	pthread_mutex_t dest_mu;	/* dest_conns */
	struct hash *dest_conns;	/* lowercased domain -> connections open over all engines */
	struct hash *dest_rates;	/* lowercased domain -> struct dl_rate (smtp_destination_rate) */
	pthread_mutex_t abuse_mu;	/* abuse */
	struct abuse *abuse;		/* per-account outcome windows (review triggers) */
	struct hash *moving;		/* account -> status + 1 of a move not yet written (abuse_mu) */
	uint64_t rr;			/* round robin over a destination's engines */
	int64_t concurrency, rate;	/* loop 0's copy of the params, for dispatch */
	int enabled;
	int draining, stopped;
	unsigned full;			/* atomic: the dispatcher stopped taking (items) */
	unsigned drained;		/* atomic: engines 1.. that reported drained */
	void (*drained_cb)(void *);
	void *drained_arg;
	unsigned char *move;		/* dispatch scratch: recipients per engine */
	size_t move_len;
};

/* ---- loops.c: the delivery loops ---- */

/* Connections DL may open to DOMAIN: its share of CONCURRENCY. */
int64_t dl_dest_share(const struct dl_engine *dl, const char *domain, int64_t concurrency);
/* One more connection to DOMAIN over all engines, when fewer than LIMIT
 * are open: 1 (counted; give it back with dl_dest_conn_give) or 0. */
int dl_dest_conn_take(struct dl_engine *dl, const char *domain, int64_t limit);
void dl_dest_conn_give(struct dl_engine *dl, const char *domain);
/* smtp_destination_rate over all engines: 1 when one more message to
 * DOMAIN may go this minute (counted when TAKE), else 0. */
int dl_dest_rate(struct dl_engine *dl, const char *domain, int64_t rate, int take);
/* An engine took items off its count: wake the dispatcher if it waits. */
void dl_set_room(struct delivery *s);
/* An engine finished draining (from dl_check_drained). */
void dl_set_engine_drained(struct dl_engine *dl);

/* ---- delivery.c: one engine's life, for loops.c ---- */

struct dl_engine *dl_engine_new(uv_loop_t *loop, struct queue *q, struct delivery *set,
    unsigned index, struct delivery_params *p, char *err, size_t errlen);
void dl_engine_reload(struct dl_engine *dl, struct delivery_params *p);
/* 0 when idle now, else 1 and dl_set_engine_drained() later. */
int dl_engine_drain(struct dl_engine *dl);
/* Stop DL; it is freed once the queue's callbacks to it have come. */
void dl_engine_free(struct dl_engine *dl);
/* Deliver JOB (taken over). */
void dl_engine_take(struct dl_engine *dl, struct queue_job *job);
void dl_engine_stats(struct dl_engine *dl, struct delivery_stats *st);
size_t dl_engine_items(const struct dl_engine *dl);
/* The engine's domain hash, the same on every loop. */
uint32_t dl_domain_hash(const char *domain);

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
int dest_rate_ok(struct dest *ds, int take);
void dl_check_drained(struct dl_engine *dl);
/* Free DL once it is stopped and no callback can reach it any more. */
void dl_maybe_free(struct dl_engine *dl);

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
