/* SPDX-License-Identifier: ISC */
/*
 * metrics_module.c: Prometheus metrics (issue 19), the last module of
 * posternd's table.  When metrics_listen is set (off by default) it
 * serves GET /metrics in the Prometheus text exposition format
 * (version 0.0.4) on the daemon's one HTTP server implementation
 * (src/net/http.c, libmicrohttpd on the loop), so a scrape runs on the
 * loop thread and reads every module's counters without locks.
 *
 * Histograms: group-commit duration and batch size (queue/writer.c),
 * and the time of each end-of-data policy stage (policy/policy.c: the
 * table's stages, spam scoring included).
 * Exposed: process (info, start time), SMTP connections (accepted,
 * refused, timeouts, TLS failures, active), AUTH results, messages
 * accepted / rejected / tempfailed, the queue (messages and recipients
 * by state, bytes, pending messages by age bucket, commit batches and
 * the operations they carried), outbound delivery (connections,
 * sessions, recipients by result, DSNs), webhooks (POSTs by result, in
 * flight) and the metrics endpoint's own requests.  Counters come from
 * the modules' stats getters; the queue gauges walk the queue once per
 * scrape (queue_stats, queue_foreach), which is fine for a scrape
 * interval of seconds.  No label carries an address or domain; an
 * account label appears only with metrics_account_labels = yes, on one
 * family, for at most 100 accounts (the rest as "_other").
 *
 * The listener is a restart key (metrics_listen); the endpoint has no
 * TLS or authentication: bind it to loopback or a management network.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "delivery.h"
#include "histo.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "relay.h"
#include "util.h"
#include "webhook.h"

#define AGE_NB 10
static const unsigned age_minutes[AGE_NB - 1] = { 5, 10, 20, 40, 80, 160, 320, 640, 1280 };

struct metrics {
	struct daemon *d;		/* borrowed */
	struct http_server *srv;
	uint64_t started;		/* wall ms */
	uint64_t scrapes;
};

static struct metrics *the_metrics;

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram H as NAME_bucket{LABELS,le=...}, NAME_sum, NAME_count;
 * durations go out in seconds (Prometheus base units). */
static void
histogram(struct buf *b, const char *name, const char *labels, const struct histo *h)
{
	size_t n, i;
	const uint64_t *bounds = histo_bounds(h->kind, &n);
	unsigned long long cum = 0;
	const char *sep = labels != NULL && labels[0] ? "," : "";

	for (i = 0; i < n; i++) {
		cum += h->counts[i];
		if (h->kind == HISTO_DURATION)
			buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels ? labels : "",
			    sep, (double)bounds[i] / 1e6, cum);
		else
			buf_printf(b, "%s_bucket{%s%sle=\"%llu\"} %llu\n", name, labels ? labels : "",
			    sep, (unsigned long long)bounds[i], cum);
	}
	cum += h->counts[n];
	buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels ? labels : "", sep, cum);
	if (h->kind == HISTO_DURATION)
		buf_printf(b, "%s_sum%s%s%s %.6f\n", name, labels && labels[0] ? "{" : "",
		    labels ? labels : "", labels && labels[0] ? "}" : "", (double)h->sum / 1e6);
	else
		buf_printf(b, "%s_sum%s%s%s %llu\n", name, labels && labels[0] ? "{" : "",
		    labels ? labels : "", labels && labels[0] ? "}" : "", (unsigned long long)h->sum);
	buf_printf(b, "%s_count%s%s%s %llu\n", name, labels && labels[0] ? "{" : "",
	    labels ? labels : "", labels && labels[0] ? "}" : "", (unsigned long long)h->count);
}

static void
sample(struct buf *b, const char *name, const char *labels, unsigned long long v)
{
	if (labels != NULL && labels[0])
		buf_printf(b, "%s{%s} %llu\n", name, labels, v);
	else
		buf_printf(b, "%s %llu\n", name, v);
}

struct age_ctx {
	uint64_t now;
	unsigned long long n[AGE_NB];
};

static int
age_cb(void *arg, const struct queue_msg *m)
{
	struct age_ctx *ac = arg;
	uint64_t age = ac->now > m->created ? (ac->now - m->created) / 60000 : 0;
	size_t b;

	if (m->state != QUEUE_QUEUED && m->state != QUEUE_DEFERRED && m->state != QUEUE_HELD)
		return 0;
	for (b = 0; b < AGE_NB - 1 && age > age_minutes[b]; b++)
		;
	ac->n[b]++;
	return 0;
}

/* The whole exposition text for D into B. */
static void
render(struct metrics *mx, struct buf *b)
{
	struct daemon *d = mx->d;
	struct listener_stats ls;
	struct relay_stats rs;
	struct delivery_stats ds;
	struct webhook_stats ws;
	struct queue_stats qs;
	struct age_ctx ac;
	char l[160];
	size_t i;

	memset(&ls, 0, sizeof(ls));
	memset(&rs, 0, sizeof(rs));
	memset(&ds, 0, sizeof(ds));
	smtpd_module_stats(d, &ls, &rs);
	if (d->delivery != NULL)
		delivery_get_stats(d->delivery, &ds);
	webhook_get_stats(d->webhook, &ws);

	family(b, "postern_build_info", "gauge", "Always 1; the version label says which posternd runs.");
	sample(b, "postern_build_info", "version=\"" PACKAGE_VERSION "\"", 1);
	family(b, "postern_start_time_seconds", "gauge", "When posternd started (unix time).");
	sample(b, "postern_start_time_seconds", NULL, mx->started / 1000);

	family(b, "postern_smtp_connections_total", "counter", "SMTP connections by outcome at connect.");
	sample(b, "postern_smtp_connections_total", "result=\"accepted\"", ls.accepted);
	sample(b, "postern_smtp_connections_total", "result=\"refused\"", ls.refused);
	family(b, "postern_smtp_connections_active", "gauge", "SMTP sessions open now.");
	sample(b, "postern_smtp_connections_active", NULL, ls.active);
	family(b, "postern_smtp_timeouts_total", "counter", "SMTP sessions ended by a timeout.");
	sample(b, "postern_smtp_timeouts_total", NULL, ls.timeouts);
	family(b, "postern_smtp_tls_failures_total", "counter", "Failed TLS handshakes on the listeners.");
	sample(b, "postern_smtp_tls_failures_total", NULL, ls.tls_failed);
	family(b, "postern_auth_total", "counter", "SMTP AUTH attempts by result.");
	sample(b, "postern_auth_total", "result=\"ok\"", rs.auth_ok);
	sample(b, "postern_auth_total", "result=\"failed\"", rs.auth_failed);
	sample(b, "postern_auth_total", "result=\"locked\"", rs.auth_locked);
	family(b, "postern_auth_cached_total", "counter",
	    "Successful SMTP AUTH answered from the verified-credential cache (no scrypt).");
	sample(b, "postern_auth_cached_total", NULL, rs.auth_cached);
	family(b, "postern_eom_runs_total", "counter",
	    "End-of-message stage runs (DLP, spam, DKIM) by where they ran: on the session's "
	    "event loop (messages up to smtpd_eom_inline_max) or in the EOM thread pool.");
	sample(b, "postern_eom_runs_total", "where=\"loop\"", rs.eom_loop);
	sample(b, "postern_eom_runs_total", "where=\"pool\"", rs.eom_pool);
	family(b, "postern_messages_total", "counter",
	    "Messages by outcome: accepted (queued), or refused at MAIL FROM or at the end of DATA.");
	sample(b, "postern_messages_total", "result=\"accepted\"", rs.accepted);
	sample(b, "postern_messages_total", "result=\"rejected\"", rs.rejected);
	sample(b, "postern_messages_total", "result=\"tempfailed\"", rs.tempfailed);
	{
		/* every stage of both phases x result, zeros included: the
		 * stage tables are fixed, so the label set is bounded */
		static const enum policy_phase phases[2] = { POLICY_MAIL, POLICY_EOM };
		static const char *const results[2] = { "rejected", "tempfailed" };
		size_t p, n, si, k;

		family(b, "postern_messages_refused_total", "counter",
		    "Messages refused at MAIL FROM or at the end of DATA, by the policy stage "
		    "that refused them (reason \"other\": no stage).");
		for (p = 0; p < 2; p++) {
			const struct policy_stage *st = policy_phase_stages(phases[p], &n);

			for (si = 0; si <= n && si < RELAY_REFUSAL_STAGES; si++)
				for (k = 0; k < 2; k++) {
					size_t slot = si < n ? si : RELAY_REFUSAL_STAGES - 1;

					snprintf(l, sizeof(l), "phase=\"%s\",reason=\"%s\",result=\"%s\"",
					    p ? "eom" : "mail", si < n ? st[si].name : "other", results[k]);
					sample(b, "postern_messages_refused_total", l,
					    rs.refused[p][slot][k]);
				}
		}
	}

	if (d->cfg->metrics_account_labels) {
		struct relay_account_stat as[101];
		size_t n = smtpd_module_account_stats(d, as, ARRAY_SIZE(as));

		family(b, "postern_account_messages_total", "counter",
		    "Messages by account and outcome (metrics_account_labels; at most 100 "
		    "accounts, the rest as _other).");
		for (i = 0; i < n; i++) {
			static const char *const res[] = { "accepted", "rejected", "tempfailed" };
			unsigned long v[3];
			size_t k;

			v[0] = as[i].accepted;
			v[1] = as[i].rejected;
			v[2] = as[i].tempfailed;
			for (k = 0; k < 3; k++)
				buf_printf(b, "postern_account_messages_total{account=\"%.64s\","
				    "result=\"%s\"} %lu\n", as[i].account, res[k], v[k]);
		}
	}

	if (d->queue != NULL && queue_stats(d->queue, &qs) == 0) {
		family(b, "postern_queue_messages", "gauge", "Messages in the queue by state.");
		for (i = 0; i <= QUEUE_DELETED; i++) {
			snprintf(l, sizeof(l), "state=\"%s\"", queue_strstate((enum queue_state)i));
			sample(b, "postern_queue_messages", l, qs.by_state[i]);
		}
		family(b, "postern_queue_recipients", "gauge", "Recipients in the queue by state.");
		for (i = 0; i <= QUEUE_DELETED; i++) {
			snprintf(l, sizeof(l), "state=\"%s\"", queue_strstate((enum queue_state)i));
			sample(b, "postern_queue_recipients", l, qs.rcpts_by_state[i]);
		}
		family(b, "postern_queue_bytes", "gauge", "Sum of the sizes of the messages in the queue.");
		sample(b, "postern_queue_bytes", NULL, qs.bytes);
		family(b, "postern_queue_map_size_bytes", "gauge", "Size of the LMDB map.");
		sample(b, "postern_queue_map_size_bytes", NULL, qs.map_size);
		family(b, "postern_queue_commit_batches_total", "counter",
		    "Group commits (one fsync each) since start.");
		sample(b, "postern_queue_commit_batches_total", NULL, qs.batches);
		family(b, "postern_queue_commit_operations_total", "counter",
		    "Writes carried by the group commits (divide by batches for the batch size).");
		sample(b, "postern_queue_commit_operations_total", NULL, qs.batched_ops);
		{
			struct histo lat, ops;

			queue_commit_histograms(d->queue, &lat, &ops);
			family(b, "postern_queue_commit_duration_seconds", "histogram",
			    "Time per group commit: applying the batch, commit and fsync.");
			histogram(b, "postern_queue_commit_duration_seconds", NULL, &lat);
			family(b, "postern_queue_commit_batch_size", "histogram",
			    "Writes per group commit.");
			histogram(b, "postern_queue_commit_batch_size", NULL, &ops);
		}
		memset(&ac, 0, sizeof(ac));
		ac.now = now_wall_ms();
		(void)queue_foreach(d->queue, age_cb, &ac);
		family(b, "postern_queue_pending_messages", "gauge",
		    "Pending messages (queued, deferred, held) by age: at most AGE minutes, or older.");
		for (i = 0; i < AGE_NB; i++) {
			if (i < AGE_NB - 1)
				snprintf(l, sizeof(l), "age=\"%um\"", age_minutes[i]);
			else
				snprintf(l, sizeof(l), "age=\"older\"");
			sample(b, "postern_queue_pending_messages", l, ac.n[i]);
		}
	}

	{
		const char *names[16];
		struct histo hs[16];
		size_t n = policy_eom_histograms(names, hs, 16), k;

		family(b, "postern_policy_stage_duration_seconds", "histogram",
		    "Time per message in each end-of-data policy stage (MIME + sensitive data "
		    "in dlp, signing in dkim).");
		for (k = 0; k < n; k++) {
			snprintf(l, sizeof(l), "stage=\"%s\"", names[k]);
			histogram(b, "postern_policy_stage_duration_seconds", l, &hs[k]);
		}
	}

	family(b, "postern_delivery_connections_total", "counter", "Outbound TCP connections opened.");
	sample(b, "postern_delivery_connections_total", NULL, ds.connections);
	family(b, "postern_delivery_sessions_total", "counter", "Outbound SMTP sessions established.");
	sample(b, "postern_delivery_sessions_total", NULL, ds.sessions);
	family(b, "postern_delivery_recipients_total", "counter",
	    "Delivery attempts by result and destination class (a fixed set: postern.conf(5) "
	    "metrics_delivery_classes).");
	{
		static const char *const results[3] = { "delivered", "deferred", "bounced" };
		size_t c, k;

		/* every class x result, zeros included: a bounded, stable set */
		for (c = 0; c < ds.nclasses && c < DEST_CLASS_MAX; c++)
			for (k = 0; k < 3; k++) {
				snprintf(l, sizeof(l), "result=\"%s\",class=\"%s\"", results[k],
				    ds.class_names[c]);
				sample(b, "postern_delivery_recipients_total", l, ds.by_class[c][k]);
			}
	}
	family(b, "postern_dsn_total", "counter", "Delivery status notifications queued.");
	sample(b, "postern_dsn_total", NULL, ds.dsns);

	family(b, "postern_webhook_posts_total", "counter", "Webhook events by result.");
	sample(b, "postern_webhook_posts_total", "result=\"sent\"", ws.sent);
	sample(b, "postern_webhook_posts_total", "result=\"failed\"", ws.failed);
	sample(b, "postern_webhook_posts_total", "result=\"expired\"", ws.expired);
	family(b, "postern_webhook_inflight", "gauge", "Webhook POSTs in flight.");
	sample(b, "postern_webhook_inflight", NULL, ws.inflight);

	family(b, "postern_metrics_scrapes_total", "counter", "Requests for /metrics.");
	sample(b, "postern_metrics_scrapes_total", NULL, mx->scrapes);
}

static void
on_metrics(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct metrics *mx = arg;

	(void)req;
	mx->scrapes++;
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	render(mx, &resp->body);
}

static const struct http_route routes[] = {
	{ "GET", "/metrics", 0, on_metrics, NULL },
};

int
metrics_module_start(struct daemon *d, char *err, size_t errlen)
{
	static struct http_route r[ARRAY_SIZE(routes)];
	struct http_limits lim;
	struct metrics *mx;
	char e[512];

	if (d->cfg->metrics_listen[0] == '\0')
		return 0;	/* off */
	mx = xcalloc(1, sizeof(*mx));
	mx->d = d;
	mx->started = now_wall_ms();
	memcpy(r, routes, sizeof(r));
	r[0].arg = mx;
	memset(&lim, 0, sizeof(lim));
	lim.rate_per_ip = 600;		/* scrapers are few and regular */
	lim.rate_burst = 60;
	if (http_server_start(d->loop, d->cfg->metrics_listen, r, ARRAY_SIZE(r), &lim, &mx->srv,
	    e, sizeof(e)) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", d->cfg->metrics_listen, e);
		free(mx);
		return -1;
	}
	log_info("event=metrics_listening address=%s port=%d", d->cfg->metrics_listen,
	    http_server_port(mx->srv));
	the_metrics = mx;
	return 0;
}

void
metrics_module_stop(struct daemon *d)
{
	(void)d;
	if (the_metrics == NULL)
		return;
	http_server_stop(the_metrics->srv);
	free(the_metrics);
	the_metrics = NULL;
}
