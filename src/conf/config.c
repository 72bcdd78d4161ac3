/* SPDX-License-Identifier: ISC */
/*
 * config.c: the postern.conf(5) parser.  The table below is the single
 * source of truth for every key: its type, default, limits and the
 * struct config field it fills.  man/postern.conf.5 and
 * contrib/postern.conf document the same keys; tests/unit/test_config
 * checks that the sample file names every key in this table.
 *
 * Each entry also says whether a change needs a restart (RESTART: the
 * modules read it only at start; SIGHUP logs it in restart_needed=),
 * and the parser keeps the line each key was set on so that checks
 * made later (src/daemon/daemon.c) can still say `file:line`.  Values
 * are typed here, once: enums, duration lists in ms, parsed addresses
 * and CIDRs (struct config_list's parallel arrays).  A config is
 * immutable after parse and reference-counted (config_ref/unref).
 *
 * Syntax (Postfix-like): `key = value`; `#` starts a comment when it is
 * the first non-blank character of a line; a line that starts with
 * white space continues the previous value; lists are separated by
 * commas and/or white space.  Each key may appear once.  Durations take
 * ms, s, m, h, d, w suffixes (bare number = seconds); sizes take k, m, g
 * (1024-based).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <unistd.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "util.h"

enum conf_type {
	CONF_STRING,
	CONF_INT,
	CONF_BOOL,
	CONF_SIZE,
	CONF_DURATION,
	CONF_ENUM,	/* one word of `choices`, stored as its int value */
	CONF_WORD,	/* one word of `choices`, stored as the string */
	CONF_ADDRESS,	/* host:port (list elements) */
	CONF_CIDR,	/* network/bits (list elements) */
	CONF_LIST,	/* elements checked and typed as `elem` */
};

/* One word of an enum key and the value it is stored as. */
struct conf_choice {
	const char *word;
	int value;
};

struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def;
	int64_t min, max;	/* int, size, duration (ms); ignored when min == max == 0 */
	size_t off;
	const struct conf_choice *choices;	/* CONF_ENUM, { NULL } terminated */
	enum conf_type elem;	/* CONF_LIST element: STRING, DURATION, ADDRESS, CIDR */
	int restart;		/* RESTART: a change takes effect at the next start */
};

#define RESTART 1

static const struct conf_choice log_levels[] = {
	{ "debug", CONFIG_LOG_DEBUG }, { "info", CONFIG_LOG_INFO },
	{ "warn", CONFIG_LOG_WARN }, { "err", CONFIG_LOG_ERR }, { NULL, 0 } };
static const struct conf_choice syslog_facilities[] = {
	{ "mail", 0 }, { "daemon", 0 }, { "local0", 0 }, { "local1", 0 }, { "local2", 0 },
	{ "local3", 0 }, { "local4", 0 }, { "local5", 0 }, { "local6", 0 }, { "local7", 0 },
	{ NULL, 0 } };
static const struct conf_choice bare_lf[] = {
	{ "reject", CONFIG_BARE_LF_REJECT }, { "normalize", CONFIG_BARE_LF_NORMALIZE },
	{ NULL, 0 } };
static const struct conf_choice tls_policies[] = {
	{ "none", CONFIG_TLS_NONE }, { "may", CONFIG_TLS_MAY },
	{ "encrypt", CONFIG_TLS_ENCRYPT }, { "verify", CONFIG_TLS_VERIFY }, { NULL, 0 } };
static const struct conf_choice addr_prefs[] = {
	{ "prefer-ipv6", CONFIG_PREFER_IPV6 }, { "prefer-ipv4", CONFIG_PREFER_IPV4 },
	{ "ipv6-only", CONFIG_IPV6_ONLY }, { "ipv4-only", CONFIG_IPV4_ONLY }, { NULL, 0 } };
static const struct conf_choice spf_actions[] = {
	{ "ignore", CONFIG_SPF_IGNORE }, { "warn", CONFIG_SPF_WARN },
	{ "reject", CONFIG_SPF_REJECT }, { NULL, 0 } };
static const struct conf_choice dlp_actions[] = {
	{ "ignore", CONFIG_DLP_IGNORE }, { "tag", CONFIG_DLP_TAG }, { "hold", CONFIG_DLP_HOLD },
	{ "redact", CONFIG_DLP_REDACT }, { "reject", CONFIG_DLP_REJECT }, { NULL, 0 } };
static const struct conf_choice from_domain_actions[] = {
	{ "reject", CONFIG_FROM_DOMAIN_REJECT }, { "log", CONFIG_FROM_DOMAIN_LOG }, { NULL, 0 } };
static const struct conf_choice suppression_actions[] = {
	{ "reject", CONFIG_SUPPRESSION_REJECT }, { "drop", CONFIG_SUPPRESSION_DROP }, { NULL, 0 } };
static const struct conf_choice list_unsubscribes[] = {
	{ "off", CONFIG_LU_OFF }, { "mailto", CONFIG_LU_MAILTO }, { "one-click", CONFIG_LU_ONE_CLICK },
	{ NULL, 0 } };
static const struct conf_choice review_address_masks[] = {
	{ "partial", CONFIG_REVIEW_MASK_PARTIAL }, { "pseudonym", CONFIG_REVIEW_MASK_PSEUDONYM },
	{ NULL, 0 } };
static const struct conf_choice mime_limit_actions[] = {
	{ "hold", CONFIG_MIME_LIMIT_HOLD }, { "reject", CONFIG_MIME_LIMIT_REJECT }, { NULL, 0 } };

#define F(field) offsetof(struct config, field)
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define KB 1024LL
#define MB (1024 * KB)
#define GB (1024 * MB)

static const struct conf_key conf_keys[] = {
	/* daemon */
	{ "hostname", CONF_STRING, "", 0, 0, F(hostname), NULL, 0, 0 },
	{ "data_directory", CONF_STRING, LOCALSTATEDIR "/lib/postern", 0, 0, F(data_directory), NULL, 0, RESTART },
	{ "pid_file", CONF_STRING, "", 0, 0, F(pid_file), NULL, 0, RESTART },
	{ "user", CONF_STRING, "", 0, 0, F(user), NULL, 0, RESTART },
	{ "log_level", CONF_ENUM, "info", 0, 0, F(log_level), log_levels, 0, 0 },
	{ "log_pseudonymise", CONF_BOOL, "yes", 0, 0, F(log_pseudonymise), NULL, 0, 0 },
	{ "syslog_facility", CONF_WORD, "mail", 0, 0, F(syslog_facility), syslog_facilities, 0, 0 },
	{ "master_key_file", CONF_STRING, SYSCONFDIR "/postern/master.key", 0, 0, F(master_key_file), NULL, 0, RESTART },
	{ "control_socket", CONF_STRING, LOCALSTATEDIR "/run/postern/control.sock", 0, 0, F(control_socket), NULL, 0, RESTART },
	{ "operator_group", CONF_STRING, "postern", 0, 0, F(operator_group), NULL, 0, 0 },
	{ "reviewer_group", CONF_STRING, "postern-review", 0, 0, F(reviewer_group), NULL, 0, 0 },
	{ "shutdown_timeout", CONF_DURATION, "30s", 0, 1 * HOUR, F(shutdown_timeout), NULL, 0, 0 },

	/* queue */
	{ "queue_map_size", CONF_SIZE, "1g", 1 * MB, 1024 * GB, F(queue_map_size), NULL, 0, RESTART },
	{ "queue_map_grow", CONF_BOOL, "yes", 0, 0, F(queue_map_grow), NULL, 0, 0 },
	{ "queue_map_max", CONF_SIZE, "64g", 1 * MB, 1024 * GB, F(queue_map_max), NULL, 0, 0 },
	{ "queue_chunk_size", CONF_SIZE, "64k", 4 * KB, 1 * MB, F(queue_chunk_size), NULL, 0, RESTART },
	{ "queue_commit_batch", CONF_INT, "256", 1, 65536, F(queue_commit_batch), NULL, 0, 0 },
	{ "queue_result_linger", CONF_DURATION, "5ms", 0, 1 * SEC, F(queue_result_linger), NULL, 0, 0 },
	{ "retry_schedule", CONF_LIST, "1m 5m 15m 30m 1h 2h 4h", 0, 0, F(retry_schedule), NULL, CONF_DURATION, 0 },
	{ "max_queue_lifetime", CONF_DURATION, "5d", 1 * SEC, 60 * DAY, F(max_queue_lifetime), NULL, 0, 0 },
	{ "delay_warning_time", CONF_DURATION, "0", 0, 60 * DAY, F(delay_warning_time), NULL, 0, 0 },
	{ "body_retention", CONF_DURATION, "1d", 0, 3650 * DAY, F(body_retention), NULL, 0, 0 },
	{ "event_retention", CONF_DURATION, "30d", 0, 3650 * DAY, F(event_retention), NULL, 0, 0 },
	{ "metadata_retention", CONF_DURATION, "0", 0, 3650 * DAY, F(metadata_retention), NULL, 0, 0 },
	{ "audit_retention", CONF_DURATION, "0", 0, 36500 * DAY, F(audit_retention), NULL, 0, 0 },
	{ "purge_interval", CONF_DURATION, "10m", 1 * SEC, 1 * DAY, F(purge_interval), NULL, 0, 0 },

	/* SMTP server */
	{ "smtpd_submission_listen", CONF_LIST, "0.0.0.0:587", 0, 0, F(smtpd_submission_listen), NULL, CONF_ADDRESS, RESTART },
	{ "smtpd_submissions_listen", CONF_LIST, "0.0.0.0:465", 0, 0, F(smtpd_submissions_listen), NULL, CONF_ADDRESS, RESTART },
	{ "smtpd_relay_listen", CONF_LIST, "", 0, 0, F(smtpd_relay_listen), NULL, CONF_ADDRESS, RESTART },
	{ "smtpd_relay_networks", CONF_LIST, "127.0.0.0/8 ::1/128", 0, 0, F(smtpd_relay_networks), NULL, CONF_CIDR, 0 },
	{ "smtpd_relay_account", CONF_STRING, "relay", 0, 0, F(smtpd_relay_account), NULL, 0, 0 },
	{ "smtpd_tls_cert_file", CONF_STRING, "", 0, 0, F(smtpd_tls_cert_file), NULL, 0, 0 },
	{ "smtpd_tls_key_file", CONF_STRING, "", 0, 0, F(smtpd_tls_key_file), NULL, 0, 0 },
	{ "smtpd_banner", CONF_STRING, "ESMTP postern", 0, 0, F(smtpd_banner), NULL, 0, 0 },
	{ "smtpd_max_connections", CONF_INT, "1000", 1, 1000000, F(smtpd_max_connections), NULL, 0, 0 },
	{ "smtpd_max_connections_per_ip", CONF_INT, "50", 1, 1000000, F(smtpd_max_connections_per_ip), NULL, 0, 0 },
	{ "smtpd_timeout", CONF_DURATION, "300s", 100, 1 * HOUR, F(smtpd_timeout), NULL, 0, 0 },
	{ "smtpd_data_timeout", CONF_DURATION, "600s", 100, 1 * HOUR, F(smtpd_data_timeout), NULL, 0, 0 },
	{ "smtpd_max_errors", CONF_INT, "10", 1, 1000, F(smtpd_max_errors), NULL, 0, 0 },
	{ "smtpd_max_recipients", CONF_INT, "100", 1, 100000, F(smtpd_max_recipients), NULL, 0, 0 },
	{ "message_size_limit", CONF_SIZE, "25m", 1 * KB, 2 * GB, F(message_size_limit), NULL, 0, 0 },
	{ "smtpd_auth_in_clear", CONF_BOOL, "no", 0, 0, F(smtpd_auth_in_clear), NULL, 0, 0 },
	{ "smtpd_auth_failure_delay", CONF_DURATION, "1s", 0, 60 * SEC, F(smtpd_auth_failure_delay), NULL, 0, 0 },
	{ "smtpd_auth_lockout_threshold", CONF_INT, "5", 1, 1000, F(smtpd_auth_lockout_threshold), NULL, 0, 0 },
	{ "smtpd_auth_lockout_time", CONF_DURATION, "15m", 1 * SEC, 1 * DAY, F(smtpd_auth_lockout_time), NULL, 0, 0 },
	{ "smtpd_auth_lockout_ip_threshold", CONF_INT, "20", 1, 100000, F(smtpd_auth_lockout_ip_threshold), NULL, 0, 0 },
	{ "smtpd_auth_slowdown_threshold", CONF_INT, "10", 0, 100000, F(smtpd_auth_slowdown_threshold), NULL, 0, 0 },
	{ "smtpd_auth_slowdown_max", CONF_DURATION, "15s", 1 * SEC, 10 * MIN, F(smtpd_auth_slowdown_max), NULL, 0, 0 },
	{ "smtpd_auth_max_concurrent_per_ip", CONF_INT, "2", 1, 1000, F(smtpd_auth_max_concurrent_per_ip), NULL, 0, 0 },
	{ "smtpd_auth_threads", CONF_INT, "0", 0, 64, F(smtpd_auth_threads), NULL, 0, RESTART },
	{ "smtpd_auth_cache_ttl", CONF_DURATION, "10m", 0, 1 * DAY, F(smtpd_auth_cache_ttl), NULL, 0, 0 },
	{ "smtpd_eom_threads", CONF_INT, "0", 0, 256, F(smtpd_eom_threads), NULL, 0, RESTART },
	{ "smtpd_eom_inline_max", CONF_SIZE, "64k", 0, 1 * GB, F(smtpd_eom_inline_max), NULL, 0, 0 },
	/* 0: one loop per online core (config_smtpd_loops()) */
	{ "smtpd_loops", CONF_INT, "0", 0, 256, F(smtpd_loops), NULL, 0, RESTART },
	/* 0: one delivery loop per online core (config_delivery_loops()) */
	{ "delivery_loops", CONF_INT, "0", 0, 256, F(delivery_loops), NULL, 0, RESTART },
	{ "smtpd_tls_handshake_timeout", CONF_DURATION, "10s", 100, 10 * MIN, F(smtpd_tls_handshake_timeout), NULL, 0, 0 },
	{ "smtpd_command_timeout", CONF_DURATION, "60s", 100, 1 * HOUR, F(smtpd_command_timeout), NULL, 0, 0 },
	{ "smtpd_session_timeout", CONF_DURATION, "1h", 1 * SEC, 1 * DAY, F(smtpd_session_timeout), NULL, 0, 0 },
	{ "smtpd_reject_nul", CONF_BOOL, "yes", 0, 0, F(smtpd_reject_nul), NULL, 0, 0 },
	{ "smtpd_received_client_ip", CONF_BOOL, "yes", 0, 0, F(smtpd_received_client_ip), NULL, 0, 0 },
	{ "smtpd_bare_line_ending", CONF_ENUM, "reject", 0, 0, F(smtpd_bare_line_ending), bare_lf, 0, 0 },

	/* delivery */
	{ "dns_servers", CONF_LIST, "", 0, 0, F(dns_servers), NULL, CONF_ADDRESS, RESTART },
	{ "transport", CONF_LIST, "", 0, 0, F(transport), NULL, CONF_STRING, 0 },
	{ "smtp_tls_policy", CONF_ENUM, "may", 0, 0, F(smtp_tls_policy), tls_policies, 0, 0 },
	{ "smtp_tls_policy_map", CONF_LIST, "", 0, 0, F(smtp_tls_policy_map), NULL, CONF_STRING, 0 },
	{ "smtp_tls_ca_file", CONF_STRING, "", 0, 0, F(smtp_tls_ca_file), NULL, 0, 0 },
	{ "smtp_connect_timeout", CONF_DURATION, "30s", 100, 10 * MIN, F(smtp_connect_timeout), NULL, 0, 0 },
	{ "smtp_helo_timeout", CONF_DURATION, "300s", 100, 1 * HOUR, F(smtp_helo_timeout), NULL, 0, 0 },
	{ "smtp_command_timeout", CONF_DURATION, "300s", 100, 1 * HOUR, F(smtp_command_timeout), NULL, 0, 0 },
	{ "smtp_data_timeout", CONF_DURATION, "600s", 100, 1 * HOUR, F(smtp_data_timeout), NULL, 0, 0 },
	{ "smtp_destination_concurrency", CONF_INT, "10", 1, 1000, F(smtp_destination_concurrency), NULL, 0, 0 },
	{ "smtp_destination_rate", CONF_INT, "0", 0, 1000000, F(smtp_destination_rate), NULL, 0, 0 },
	{ "smtp_connection_reuse_limit", CONF_INT, "100", 1, 100000, F(smtp_connection_reuse_limit), NULL, 0, 0 },
	{ "smtp_bind_address", CONF_LIST, "", 0, 0, F(smtp_bind_address), NULL, CONF_STRING, 0 },
	{ "smtp_address_preference", CONF_ENUM, "prefer-ipv6", 0, 0, F(smtp_address_preference), addr_prefs, 0, 0 },
	{ "smtp_helo_name", CONF_STRING, "", 0, 0, F(smtp_helo_name), NULL, 0, 0 },
	{ "delivery_enabled", CONF_BOOL, "yes", 0, 0, F(delivery_enabled), NULL, 0, 0 },

	/* DKIM, SPF */
	{ "dkim_key_directory", CONF_STRING, "", 0, 0, F(dkim_key_directory), NULL, 0, 0 },
	{ "dkim_sign_headers", CONF_LIST,
	  "From To Cc Subject Date Message-ID Reply-To In-Reply-To References MIME-Version "
	  "Content-Type Content-Transfer-Encoding List-Unsubscribe List-Unsubscribe-Post Feedback-ID",
	  0, 0, F(dkim_sign_headers), NULL, CONF_STRING, 0 },
	{ "dkim_fallback_domain", CONF_STRING, "", 0, 0, F(dkim_fallback_domain), NULL, 0, 0 },
	{ "dkim_signature_expiry", CONF_DURATION, "0", 0, 365 * DAY, F(dkim_signature_expiry), NULL, 0, 0 },
	{ "spf_egress_ips", CONF_LIST, "", 0, 0, F(spf_egress_ips), NULL, CONF_STRING, 0 },
	{ "spf_action", CONF_ENUM, "warn", 0, 0, F(spf_action), spf_actions, 0, 0 },
	{ "from_domain_action", CONF_ENUM, "reject", 0, 0, F(from_domain_action), from_domain_actions, 0, 0 },

	/* metrics (issue 19): GET /metrics, Prometheus text; "" = off */
	{ "metrics_listen", CONF_STRING, "", 0, 0, F(metrics_listen), NULL, 0, RESTART },
	{ "metrics_account_labels", CONF_BOOL, "no", 0, 0, F(metrics_account_labels), NULL, 0, 0 },
	{ "metrics_delivery_classes", CONF_LIST, "", 0, 0, F(metrics_delivery_classes), NULL, CONF_STRING, 0 },

	/* webhooks (issue 19) */
	{ "webhook_lifetime", CONF_DURATION, "1d", 1 * SEC, 30 * DAY, F(webhook_lifetime), NULL, 0, 0 },
	{ "webhook_timeout", CONF_DURATION, "10s", 100, 5 * MIN, F(webhook_timeout), NULL, 0, 0 },

	/* MIME, sensitive data */
	{ "dlp_action_card", CONF_ENUM, "tag", 0, 0, F(dlp_action_card), dlp_actions, 0, 0 },
	{ "dlp_action_card_test", CONF_ENUM, "ignore", 0, 0, F(dlp_action_card_test), dlp_actions, 0, 0 },
	{ "dlp_action_ssn", CONF_ENUM, "tag", 0, 0, F(dlp_action_ssn), dlp_actions, 0, 0 },
	{ "dlp_action_iban", CONF_ENUM, "tag", 0, 0, F(dlp_action_iban), dlp_actions, 0, 0 },
	{ "mime_max_depth", CONF_INT, "10", 1, 100, F(mime_max_depth), NULL, 0, 0 },
	{ "mime_max_parts", CONF_INT, "500", 1, 100000, F(mime_max_parts), NULL, 0, 0 },
	{ "mime_max_decoded_size", CONF_SIZE, "100m", 1 * KB, 4 * GB, F(mime_max_decoded_size), NULL, 0, 0 },
	{ "mime_limit_action", CONF_ENUM, "reject", 0, 0, F(mime_limit_action), mime_limit_actions, 0, 0 },

	/* spam scoring (issue 15) */
	{ "spam_scoring", CONF_BOOL, "yes", 0, 0, F(spam_scoring), NULL, 0, 0 },
	{ "spam_model_directory", CONF_STRING, "", 0, 0, F(spam_model_directory), NULL, 0, RESTART },
	{ "spam_min_learned", CONF_INT, "200", 1, 100000000, F(spam_min_learned), NULL, 0, 0 },
	{ "spam_tag_score", CONF_INT, "4", 0, 1000000, F(spam_tag_score), NULL, 0, 0 },
	{ "spam_hold_score", CONF_INT, "6", 0, 1000000, F(spam_hold_score), NULL, 0, 0 },
	{ "spam_reject_score", CONF_INT, "0", 0, 1000000, F(spam_reject_score), NULL, 0, 0 },
	{ "spam_rules", CONF_LIST, "", 0, 0, F(spam_rules), NULL, CONF_STRING, 0 },
	{ "spam_dnsbl", CONF_LIST, "", 0, 0, F(spam_dnsbl), NULL, CONF_STRING, 0 },
	{ "spam_uribl", CONF_LIST, "", 0, 0, F(spam_uribl), NULL, CONF_STRING, 0 },
	{ "spam_dnsbl_timeout", CONF_DURATION, "2s", 100, 30 * SEC, F(spam_dnsbl_timeout), NULL, 0, 0 },
	{ "spam_signals", CONF_BOOL, "yes", 0, 0, F(spam_signals), NULL, 0, 0 },
	{ "spam_signal_window", CONF_DURATION, "1h", 1 * SEC, 1 * DAY, F(spam_signal_window), NULL, 0, 0 },
	{ "spam_signal_min_windows", CONF_INT, "24", 1, 100000, F(spam_signal_min_windows), NULL, 0, 0 },
	{ "spam_signal_spike_factor", CONF_INT, "10", 2, 100000, F(spam_signal_spike_factor), NULL, 0, 0 },
	{ "spam_signal_spike_new_domains_weight", CONF_INT, "5", 0, 1000000, F(spam_signal_spike_new_domains_weight), NULL, 0, 0 },
	{ "spam_signal_max_domains", CONF_INT, "0", 0, 1000000, F(spam_signal_max_domains), NULL, 0, 0 },
	{ "spam_dup_threshold", CONF_INT, "80", 1, 100, F(spam_dup_threshold), NULL, 0, 0 },
	{ "spam_dup_weight", CONF_INT, "10", 0, 1000000, F(spam_dup_weight), NULL, 0, 0 },
	{ "spam_token_expiry", CONF_DURATION, "180d", 0, 3650 * DAY, F(spam_token_expiry), NULL, 0, 0 },
	/* suppression lists, feedback, unsubscribe (issue 14) */
	{ "address_fold_local_part", CONF_BOOL, "yes", 0, 0, F(address_fold_local_part), NULL, 0, RESTART },
	{ "suppression_action", CONF_ENUM, "reject", 0, 0, F(suppression_action), suppression_actions, 0, 0 },
	{ "suppression_hard_bounce_expiry", CONF_DURATION, "90d", 0, 3650 * DAY, F(suppression_hard_bounce_expiry), NULL, 0, 0 },
	{ "suppression_bounce_codes", CONF_LIST, "5.1.1 5.1.2 5.1.10", 0, 0, F(suppression_bounce_codes), NULL, CONF_STRING, 0 },
	{ "list_unsubscribe", CONF_ENUM, "off", 0, 0, F(list_unsubscribe), list_unsubscribes, 0, 0 },
	{ "list_unsubscribe_url", CONF_STRING, "", 0, 0, F(list_unsubscribe_url), NULL, 0, 0 },
	{ "http_listen", CONF_LIST, "", 0, 0, F(http_listen), NULL, CONF_ADDRESS, RESTART },
	{ "feedback_listen", CONF_LIST, "", 0, 0, F(feedback_listen), NULL, CONF_ADDRESS, RESTART },
	{ "feedback_domain", CONF_STRING, "", 0, 0, F(feedback_domain), NULL, 0, 0 },
	/* abuse review (issue 16) */
	{ "review_hold_expiry", CONF_DURATION, "72h", 1 * SEC, 365 * DAY, F(review_hold_expiry), NULL, 0, 0 },
	{ "review_address_mask", CONF_ENUM, "partial", 0, 0, F(review_address_mask), review_address_masks, 0, 0 },
	{ "review_trigger_window", CONF_INT, "1000", 1, 1000000, F(review_trigger_window), NULL, 0, 0 },
	{ "review_trigger_min_messages", CONF_INT, "100", 1, 1000000, F(review_trigger_min_messages), NULL, 0, 0 },
	{ "review_bounce_review", CONF_INT, "50", 1, 1000, F(review_bounce_review), NULL, 0, 0 },
	{ "review_bounce_pause", CONF_INT, "100", 1, 1000, F(review_bounce_pause), NULL, 0, 0 },
	{ "review_complaint_review", CONF_INT, "1", 1, 1000, F(review_complaint_review), NULL, 0, 0 },
	{ "review_complaint_pause", CONF_INT, "5", 1, 1000, F(review_complaint_pause), NULL, 0, 0 },
	{ "review_compromise_score", CONF_INT, "6", 0, 1000000, F(review_compromise_score), NULL, 0, 0 },
	{ "review_compromise_spike", CONF_INT, "5", 2, 1000, F(review_compromise_spike), NULL, 0, 0 },
	{ "review_compromise_min_volume", CONF_INT, "50", 1, 1000000, F(review_compromise_min_volume), NULL, 0, 0 },
};

int
config_parse_duration(const char *s, uint64_t *ms)
{
	return parse_duration_ms(s, ms);
}

int
config_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': mul = KB; end++; break;
	case 'm': mul = MB; end++; break;
	case 'g': mul = GB; end++; break;
	default: return -1;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*bytes = v * mul;
	return 0;
}

int
config_parse_address(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *hs, *he;
	char *end;
	long p;

	if (*s == '[') {
		hs = s + 1;
		he = strchr(hs, ']');
		if (he == NULL || he[1] != ':')
			return -1;
		colon = he + 1;
	} else {
		hs = s;
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)) != NULL)
			return -1;	/* bare IPv6 must be bracketed */
	}
	if (he == hs || (size_t)(he - hs) >= hostlen)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || colon[1] == '\0' || p < 0 || p > 65535)
		return -1;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*port = (int)p;
	return 0;
}

int
config_parse_cidr(const char *s, struct config_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long bits;

	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		out->bits = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno || slash[1] == '\0' || !isdigit((unsigned char)slash[1]) ||
		    *end != '\0' || bits < 0 || bits > out->bits)
			return -1;
		out->bits = (int)bits;
	}
	return 0;
}

int
config_cidr_contains(const struct config_cidr *c, int family, const unsigned char *addr)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (family != c->family)
		return 0;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

static int
parse_bool(const char *s, int *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* The choice WORD of an enum key, or NULL. */
static const struct conf_choice *
choice_find(const struct conf_choice *c, const char *word)
{
	for (; c->word != NULL; c++)
		if (strcmp(c->word, word) == 0)
			return c;
	return NULL;
}

static const char *
choice_word(const struct conf_choice *c, int value)
{
	for (; c->word != NULL; c++)
		if (c->value == value)
			return c->word;
	return "?";
}

/* "a|b|c" for error messages. */
static void
choice_list(const struct conf_choice *c, char *out, size_t outlen)
{
	size_t off = 0;

	out[0] = '\0';
	for (; c->word != NULL && off < outlen; c++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", off ? "|" : "", c->word);
}

static void
list_free(struct config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	free(l->ms);
	free(l->addrs);
	free(l->cidrs);
	memset(l, 0, sizeof(*l));
}

/* Check one list element of type T and append its typed value to L. */
static int
list_elem(struct config_list *l, enum conf_type t, const char *v, char *why, size_t whylen)
{
	uint64_t u;
	struct config_addr a;
	struct config_cidr c;

	switch (t) {
	case CONF_DURATION:
		if (config_parse_duration(v, &u) == -1) {
			snprintf(why, whylen, "'%s' is not a duration (e.g. 30s, 5m, 2h, 1d)", v);
			return -1;
		}
		l->ms = xrealloc(l->ms, (l->n + 1) * sizeof(*l->ms));
		l->ms[l->n] = u;
		return 0;
	case CONF_ADDRESS:
		if (config_parse_address(v, a.host, sizeof(a.host), &a.port) == -1) {
			snprintf(why, whylen, "'%s' is not an address (host:port or [ipv6]:port)", v);
			return -1;
		}
		l->addrs = xrealloc(l->addrs, (l->n + 1) * sizeof(*l->addrs));
		l->addrs[l->n] = a;
		return 0;
	case CONF_CIDR:
		if (config_parse_cidr(v, &c) == -1) {
			snprintf(why, whylen, "'%s' is not a network (address/bits, e.g. "
			    "10.0.0.0/8 or ::1/128)", v);
			return -1;
		}
		l->cidrs = xrealloc(l->cidrs, (l->n + 1) * sizeof(*l->cidrs));
		l->cidrs[l->n] = c;
		return 0;
	default:
		return 0;
	}
}

/* Set one key from its textual value; -1 with WHY on a bad value. */
static int
conf_set(struct config *cfg, const struct conf_key *k, const char *v,
    char *why, size_t whylen)
{
	char *base = (char *)cfg + k->off;
	uint64_t u;
	int b;

	switch (k->type) {
	case CONF_STRING:
		free(*(char **)base);
		*(char **)base = xstrdup(v);
		return 0;
	case CONF_ENUM:
	case CONF_WORD: {
		const struct conf_choice *c = choice_find(k->choices, v);
		char words[256];

		if (c == NULL) {
			choice_list(k->choices, words, sizeof(words));
			snprintf(why, whylen, "'%s' is not one of %s", v, words);
			return -1;
		}
		if (k->type == CONF_ENUM) {
			*(int *)base = c->value;
		} else {
			free(*(char **)base);
			*(char **)base = xstrdup(v);
		}
		return 0;
	}
	case CONF_ADDRESS:
	case CONF_CIDR:
		return -1;	/* list elements only */
	case CONF_BOOL:
		if (parse_bool(v, &b) == -1) {
			snprintf(why, whylen, "'%s' is not a boolean (yes or no)", v);
			return -1;
		}
		*(int *)base = b;
		return 0;
	case CONF_INT: {
		long long n;
		char *end;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end != '\0') {
			snprintf(why, whylen, "'%s' is not an integer", v);
			return -1;
		}
		if ((k->min || k->max) && (n < k->min || n > k->max)) {
			snprintf(why, whylen, "%lld is out of range (%lld to %lld)",
			    n, (long long)k->min, (long long)k->max);
			return -1;
		}
		*(int64_t *)base = n;
		return 0;
	}
	case CONF_SIZE:
		if (config_parse_size(v, &u) == -1) {
			snprintf(why, whylen, "'%s' is not a size (e.g. 512k, 25m, 1g)", v);
			return -1;
		}
		goto range;
	case CONF_DURATION:
		if (config_parse_duration(v, &u) == -1) {
			snprintf(why, whylen, "'%s' is not a duration (e.g. 30s, 5m, 2h, 1d)", v);
			return -1;
		}
	range:
		if ((k->min || k->max) && (u < (uint64_t)k->min || u > (uint64_t)k->max)) {
			snprintf(why, whylen, "'%s' is out of range (%lld to %lld %s)", v,
			    (long long)k->min, (long long)k->max,
			    k->type == CONF_SIZE ? "bytes" : "ms");
			return -1;
		}
		*(uint64_t *)base = u;
		return 0;
	case CONF_LIST: {
		struct config_list *l = (struct config_list *)base, nl;
		const char *p = v;

		memset(&nl, 0, sizeof(nl));
		while (*p) {
			size_t len;
			char *item;

			while (*p == ',' || isspace((unsigned char)*p))
				p++;
			if (*p == '\0')
				break;
			len = strcspn(p, ", \t");
			item = xstrndup(p, len);
			if (list_elem(&nl, k->elem, item, why, whylen) == -1) {
				free(item);
				list_free(&nl);
				return -1;
			}
			nl.items = xrealloc(nl.items, (nl.n + 1) * sizeof(char *));
			nl.items[nl.n++] = item;
			p += len;
		}
		list_free(l);
		*l = nl;
		return 0;
	}
	}
	return -1;
}

static void
add_error(struct buf *errs, const char *name, int line, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static void
add_error(struct buf *errs, const char *name, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (errs->len)
		buf_append_str(errs, "\n");
	buf_printf(errs, "%s:%d: %s", name, line, msg);
}

static const struct conf_key *
conf_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++)
		if (strlen(conf_keys[i].name) == len &&
		    memcmp(conf_keys[i].name, name, len) == 0)
			return &conf_keys[i];
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Apply one logical line "key = value" that started at LINE. */
static void
conf_line(struct config *cfg, const char *name, int line, char *text,
    int *seen, struct buf *errs)
{
	const struct conf_key *k;
	char *eq = strchr(text, '='), *key, *val, why[512];

	if (eq == NULL) {
		add_error(errs, name, line, "expected 'key = value'");
		return;
	}
	*eq = '\0';
	key = trim(text);
	val = trim(eq + 1);
	if ((k = conf_find(key, strlen(key))) == NULL) {
		add_error(errs, name, line, "unknown key '%s'", key);
		return;
	}
	if (seen[k - conf_keys]) {
		add_error(errs, name, line, "'%s' already set at line %d", key,
		    seen[k - conf_keys]);
		return;
	}
	seen[k - conf_keys] = line;
	cfg->lines[k - conf_keys] = line;
	if (conf_set(cfg, k, val, why, sizeof(why)) == -1)
		add_error(errs, name, line, "%s: %s", key, why);
}

static struct config *
config_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	char why[512];
	size_t i;

	cfg->refs = 1;
	cfg->lines = xcalloc(ARRAY_SIZE(conf_keys), sizeof(*cfg->lines));
	for (i = 0; i < ARRAY_SIZE(conf_keys); i++)
		if (conf_set(cfg, &conf_keys[i], conf_keys[i].def, why, sizeof(why)) == -1)
			fatal("config: bad built-in default for %s: %s", conf_keys[i].name, why);
	return cfg;
}

struct config *
config_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	struct config *cfg = config_defaults();
	int seen[ARRAY_SIZE(conf_keys)] = { 0 };
	struct buf logical, errs;
	int lineno = 0, logical_line = 0;
	size_t pos = 0;

	buf_init(&logical, 1 << 20);
	buf_init(&errs, 1 << 16);
	while (pos <= len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *l = text + pos;
		size_t n = end - pos;
		size_t i = 0;

		lineno++;
		if (memchr(l, '\0', n) != NULL) {
			add_error(&errs, name, lineno, "NUL byte in configuration");
			break;
		}
		while (i < n && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i == n || l[i] == '#') {
			/* blank or comment: does not end a continued value */
		} else if (i > 0 && logical.len > 0) {
			buf_append(&logical, " ", 1);
			buf_append(&logical, l + i, n - i);
		} else if (i > 0) {
			add_error(&errs, name, lineno, "continuation line without a key above it");
		} else {
			if (logical.len > 0)
				conf_line(cfg, name, logical_line, logical.data, seen, &errs);
			buf_reset(&logical);
			buf_append(&logical, l, n);
			logical_line = lineno;
		}
		if (nl == NULL)
			break;
		pos = end + 1;
	}
	if (logical.len > 0)
		conf_line(cfg, name, logical_line, logical.data, seen, &errs);
	buf_free(&logical);

	if (errs.len == 0 && cfg->queue_map_max < cfg->queue_map_size)
		add_error(&errs, name, config_key_line(cfg, "queue_map_max") ?
		    config_key_line(cfg, "queue_map_max") : config_key_line(cfg, "queue_map_size"),
		    "queue_map_max is smaller than queue_map_size");
	if (errs.len == 0 && (cfg->review_bounce_pause < cfg->review_bounce_review ||
	    cfg->review_complaint_pause < cfg->review_complaint_review))
		add_error(&errs, name, config_key_line(cfg, cfg->review_bounce_pause <
		    cfg->review_bounce_review ? "review_bounce_pause" : "review_complaint_pause"),
		    "a pause threshold is below its review threshold (review_*_pause >= review_*_review)");
	/* the audit log outlives what it talks about (issue 17) */
	if (errs.len == 0 && cfg->audit_retention != 0 &&
	    (cfg->audit_retention < cfg->event_retention || cfg->audit_retention < cfg->body_retention ||
	    cfg->audit_retention < cfg->metadata_retention))
		add_error(&errs, name, config_key_line(cfg, "audit_retention"),
		    "audit_retention is shorter than event_retention, metadata_retention or "
		    "body_retention (0 keeps it for ever)");
	if (errs.len > 0) {
		snprintf(err, errlen, "%s", errs.data);
		buf_free(&errs);
		config_free(cfg);
		return NULL;
	}
	buf_free(&errs);
	cfg->path = xstrdup(name);
	return cfg;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *cfg;
	char *text;
	size_t len;
	int rc;

	if (path == NULL)
		return config_parse("(defaults)", "", 0, err, errlen);
	if ((rc = file_read_all(path, 4 << 20, &text, &len)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return NULL;
	}
	cfg = config_parse(path, text, len, err, errlen);
	free(text);
	return cfg;
}

/* Free every field of CFG (its last reference is gone). */
static void
config_destroy(struct config *cfg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		char *base = (char *)cfg + conf_keys[i].off;
		switch (conf_keys[i].type) {
		case CONF_STRING: case CONF_WORD:
			free(*(char **)base);
			break;
		case CONF_LIST:
			list_free((struct config_list *)base);
			break;
		default:
			break;
		}
	}
	free(cfg->lines);
	free(cfg->path);
	free(cfg);
}

const struct config *
config_ref(const struct config *cfg)
{
	/* Immutable means no field changes; the counter is not a setting. */
	if (cfg != NULL)
		__atomic_add_fetch(&((struct config *)cfg)->refs, 1, __ATOMIC_RELAXED);
	return cfg;
}

/* A loop count from the file: 0 means one per online core (1..256). */
static unsigned
loops_or_cores(int64_t v)
{
	long n;

	if (v > 0)
		return (unsigned)v;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > 256 ? 256 : (unsigned)n;
}

unsigned
config_smtpd_loops(const struct config *cfg)
{
	return loops_or_cores(cfg->smtpd_loops);
}

unsigned
config_delivery_loops(const struct config *cfg)
{
	return loops_or_cores(cfg->delivery_loops);
}

void
config_unref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg;

	if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_destroy(c);
}

void
config_free(struct config *cfg)
{
	config_unref(cfg);
}

int
config_key_line(const struct config *cfg, const char *key)
{
	const struct conf_key *k = conf_find(key, strlen(key));

	return k != NULL && cfg->lines != NULL ? cfg->lines[k - conf_keys] : 0;
}

int
config_key_needs_restart(const char *key)
{
	const struct conf_key *k = conf_find(key, strlen(key));

	return k != NULL && k->restart;
}

const char *
config_enum_name(const char *key, int value)
{
	const struct conf_key *k = conf_find(key, strlen(key));

	if (k == NULL || k->type != CONF_ENUM)
		return "?";
	return choice_word(k->choices, value);
}

/* Write key K's value of CFG, as config_dump() shows it. */
static void
value_print(const struct config *cfg, const struct conf_key *k, FILE *out)
{
	const char *base = (const char *)cfg + k->off;
	size_t j;

	switch (k->type) {
	case CONF_STRING: case CONF_WORD:
		fprintf(out, " %s", *(char *const *)base);
		break;
	case CONF_ENUM:
		fprintf(out, " %s", choice_word(k->choices, *(const int *)base));
		break;
	case CONF_BOOL:
		fprintf(out, " %s", *(const int *)base ? "yes" : "no");
		break;
	case CONF_INT:
		fprintf(out, " %lld", (long long)*(const int64_t *)base);
		break;
	case CONF_SIZE:
		fprintf(out, " %llu", (unsigned long long)*(const uint64_t *)base);
		break;
	case CONF_DURATION:
		fprintf(out, " %llums", (unsigned long long)*(const uint64_t *)base);
		break;
	case CONF_LIST: {
		const struct config_list *l = (const struct config_list *)base;
		for (j = 0; j < l->n; j++)
			fprintf(out, "%s%s", j ? ", " : " ", l->items[j]);
		break;
	}
	case CONF_ADDRESS: case CONF_CIDR:
		break;
	}
}

/* Whether key K has the same value in A and B. */
static int
value_equal(const struct config *a, const struct config *b, const struct conf_key *k)
{
	char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
	int eq;

	if (fa == NULL || fb == NULL)
		fatal("open_memstream: %s", strerror(errno));
	value_print(a, k, fa);
	value_print(b, k, fb);
	fclose(fa);
	fclose(fb);
	eq = la == lb && memcmp(ta, tb, la) == 0;
	free(ta);
	free(tb);
	return eq;
}

size_t
config_restart_changes(const struct config *old, const struct config *next,
    char *out, size_t outlen)
{
	size_t i, n = 0, off = 0;

	if (outlen > 0)
		out[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		if (!conf_keys[i].restart || value_equal(old, next, &conf_keys[i]))
			continue;
		if (off < outlen)
			off += (size_t)snprintf(out + off, outlen - off, "%s%s", n ? "," : "",
			    conf_keys[i].name);
		n++;
	}
	return n;
}

/* A duration in the largest unit that divides it exactly: 30s, 5d, 250ms. */
static void
duration_print(uint64_t ms, FILE *out)
{
	static const struct { uint64_t ms; const char *unit; } units[] = {
		{ 7 * DAY, "w" }, { DAY, "d" }, { HOUR, "h" }, { MIN, "m" }, { SEC, "s" },
	};
	size_t i;

	for (i = 0; ms != 0 && i < ARRAY_SIZE(units); i++)
		if (ms % units[i].ms == 0) {
			fprintf(out, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	fprintf(out, ms ? "%llums" : "%llu", (unsigned long long)ms);
}

int
config_foreach(const struct config *cfg, int all, config_key_cb cb, void *arg)
{
	struct config *def = config_defaults();
	size_t i;
	int rc = 0;

	for (i = 0; i < ARRAY_SIZE(conf_keys) && rc == 0; i++) {
		const struct conf_key *k = &conf_keys[i];
		int is_default = value_equal(cfg, def, k);
		char *text = NULL;
		size_t len = 0;
		FILE *f;

		if (!all && is_default)
			continue;
		if ((f = open_memstream(&text, &len)) == NULL)
			fatal("open_memstream: %s", strerror(errno));
		if (k->type == CONF_DURATION)
			duration_print(*(const uint64_t *)((const char *)cfg + k->off), f);
		else if (k->type == CONF_LIST && k->elem == CONF_DURATION) {
			const struct config_list *l = (const struct config_list *)((const char *)cfg + k->off);
			size_t j;

			for (j = 0; j < l->n; j++)
				fprintf(f, "%s%s", j ? " " : "", l->items[j]);
		} else {
			value_print(cfg, k, f);
		}
		fclose(f);
		/* value_print() starts with the separating space */
		rc = cb(arg, k->name, text[0] == ' ' ? text + 1 : text, is_default,
		    cfg->lines != NULL ? cfg->lines[i] : 0);
		free(text);
	}
	config_unref(def);
	return rc;
}

void
config_dump(const struct config *cfg, FILE *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		fprintf(out, "%s =", conf_keys[i].name);
		value_print(cfg, &conf_keys[i], out);
		fputc('\n', out);
	}
}
