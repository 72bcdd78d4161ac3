/* SPDX-License-Identifier: ISC */
/*
 * delivery.h: the outbound delivery engine (DESIGN.md §8): queue ->
 * routing (transport table, DNS) -> SMTP client -> queue_report(), and
 * DSNs back into the queue.  One per daemon, on the loop.
 */
#ifndef POSTERN_DELIVERY_H
#define POSTERN_DELIVERY_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "dest_class.h"
#include "queue.h"
#include "review.h"
#include "route.h"

struct delivery;

/*
 * The settings the engine takes from postern.conf, typed and parsed:
 * built by the daemon glue (delivery_params_from_config() in
 * src/daemon/delivery_module.c).  Every member is owned; the engine
 * takes the whole struct over (delivery_new, delivery_reload) and
 * frees it with delivery_params_free().
 */
struct delivery_params {
	char *hostname;			/* our name; "" = the system host name */
	char *helo_name;		/* smtp_helo_name; "" = hostname */
	char *tls_ca_file;		/* smtp_tls_ca_file; "" = the system store */
	enum route_tls tls_policy;	/* smtp_tls_policy */
	struct route_table transport;	/* parsed `transport` */
	struct route_table tls_map;	/* parsed smtp_tls_policy_map */
	enum config_addr_pref addrpref;	/* smtp_address_preference */
	char **bind_addresses;		/* smtp_bind_address */
	size_t nbind;
	char **dns_servers;		/* dns_servers (host:port); read at start only */
	size_t ndns;
	uint64_t connect_timeout, helo_timeout, command_timeout, data_timeout;	/* ms */
	uint64_t delay_warning_time;	/* ms; 0 = off */
	int64_t concurrency;		/* smtp_destination_concurrency */
	int64_t rate;			/* smtp_destination_rate: per minute, 0 = no limit */
	int64_t reuse_limit;		/* smtp_connection_reuse_limit */
	int enabled;			/* delivery_enabled */
	char **bounce_codes;		/* suppression_bounce_codes: "5.1.1", ... */
	size_t nbounce_codes;
	uint64_t hard_bounce_expiry;	/* suppression_hard_bounce_expiry, ms; 0 = never */
	struct abuse_thresholds abuse;	/* review_trigger_*, review_bounce_* (issue 16) */
	struct dest_classes classes;	/* metrics_delivery_classes + the built-in ones */
};
void delivery_params_free(struct delivery_params *p);

/*
 * Start delivering what Q hands out as due, on NLOOPS delivery loops
 * (delivery_loops; issue 20 item 3): one engine on LOOP (the queue's
 * loop, where every call below is made) and one on each of NLOOPS - 1
 * loops of its own (src/outbound/loops.c).  P is an array of NLOOPS
 * params, one per engine, built alike (taken over, also on failure).
 * NULL with ERR on failure.
 */
struct delivery *delivery_new(uv_loop_t *loop, struct queue *q, unsigned nloops,
    struct delivery_params *p, char *err, size_t errlen);
/* Adopt new params (TLS client context, limits, tables): P is an array
 * of delivery_loops() params, taken over. */
int delivery_reload(struct delivery *dl, struct delivery_params *p, char *err, size_t errlen);
unsigned delivery_loops(const struct delivery *dl);
/*
 * Stop taking new work; connections finish their current message and
 * quit.  Returns 0 when already idle, else 1 and calls DONE(ARG) once
 * every loop's last connection has closed.
 */
int delivery_drain(struct delivery *dl, void (*done)(void *arg), void *arg);
/* Close everything now.  Results not yet reported stay due in the queue. */
void delivery_free(struct delivery *dl);

/* Counters for tests and metrics. */
struct delivery_stats {
	uint64_t connections;		/* TCP connections opened */
	uint64_t sessions;		/* SMTP sessions established */
	uint64_t messages;		/* transactions attempted */
	uint64_t delivered, deferred, bounced;	/* recipients */
	uint64_t dsns;			/* DSNs queued */
	/* the same recipients by destination class (include/dest_class.h):
	 * by_class[class][0 delivered, 1 deferred, 2 bounced] */
	size_t nclasses;
	char class_names[DEST_CLASS_MAX][DEST_CLASS_NAME_MAX];
	uint64_t by_class[DEST_CLASS_MAX][3];
};
void delivery_get_stats(const struct delivery *dl, struct delivery_stats *st);

/* The posternd module callbacks are in daemon.h (src/daemon/delivery_module.c). */

#endif
