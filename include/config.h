/* SPDX-License-Identifier: ISC */
/*
 * config.h: postern.conf(5).  One `key = value` file parsed through one
 * table of {name, type, default, min, max, field} in src/config.c: every
 * key, its default and its limits live there and only there.  Unknown
 * keys, bad values and out-of-range numbers are errors reported as
 * `file:line: message`.  Durations are kept in milliseconds, sizes in
 * bytes.
 *
 * A loaded config is immutable and reference-counted: config_load()
 * returns it with one reference, config_ref() adds one (a module, a
 * session, a pool job that reads it), config_unref() drops one and the
 * last one frees it.  The counter is atomic, so a pool thread may drop
 * its reference.  Values are typed once here so that no module parses
 * strings again: choices are enums, duration lists are arrays of ms,
 * address lists carry host and port, CIDR lists carry the parsed
 * network.  SIGHUP loads a new config and the daemon swaps it in only
 * when all of it is valid (src/daemon/daemon.c, daemon_check()).
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A parsed host:port ("[v6]:port", "*:port"). */
struct config_addr {
	char host[256];		/* without brackets; "*" for any */
	int port;
};

/* A parsed network, e.g. 10.0.0.0/8 or ::1/128. */
struct config_cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

/*
 * A list value.  items[] is always the text of each element (in the
 * order written); for lists of a typed element, the parallel array of
 * that type is filled as well (the others are NULL).
 */
struct config_list {
	char **items;			/* owned */
	size_t n;
	uint64_t *ms;			/* duration lists: each element in ms */
	struct config_addr *addrs;	/* address lists */
	struct config_cidr *cidrs;	/* CIDR lists */
};

/* The enum-valued keys (postern.conf(5) lists the words). */
enum config_log_level {	/* same values as log.h's enum log_level */
	CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERR
};
enum config_bare_lf { CONFIG_BARE_LF_REJECT, CONFIG_BARE_LF_NORMALIZE };
enum config_tls_policy {	/* same values as route.h's enum route_tls */
	CONFIG_TLS_NONE, CONFIG_TLS_MAY, CONFIG_TLS_ENCRYPT, CONFIG_TLS_VERIFY
};
enum config_addr_pref {
	CONFIG_PREFER_IPV6, CONFIG_PREFER_IPV4, CONFIG_IPV6_ONLY, CONFIG_IPV4_ONLY
};
enum config_spf_action {	/* same values as spf.h's enum spf_action */
	CONFIG_SPF_IGNORE, CONFIG_SPF_WARN, CONFIG_SPF_REJECT
};
enum config_dlp_action {	/* same values as dlp.h's enum dlp_action */
	CONFIG_DLP_IGNORE, CONFIG_DLP_TAG, CONFIG_DLP_REDACT, CONFIG_DLP_HOLD,
	CONFIG_DLP_REJECT
};
enum config_mime_limit_action { CONFIG_MIME_LIMIT_REJECT, CONFIG_MIME_LIMIT_HOLD };
enum config_from_domain_action { CONFIG_FROM_DOMAIN_REJECT, CONFIG_FROM_DOMAIN_LOG };
enum config_suppression_action { CONFIG_SUPPRESSION_REJECT, CONFIG_SUPPRESSION_DROP };
enum config_list_unsubscribe {	/* same values as enum policy_list_unsubscribe */
	CONFIG_LU_OFF, CONFIG_LU_MAILTO, CONFIG_LU_ONE_CLICK
};
/* How `review show` writes addresses: j\u2022\u2022\u2022@example.com or a pseudonym. */
enum config_review_address_mask { CONFIG_REVIEW_MASK_PARTIAL, CONFIG_REVIEW_MASK_PSEUDONYM };

struct config {
	char *path;	/* file it was loaded from; owned */
	int refs;	/* config_ref()/config_unref(); atomic */
	int *lines;	/* per key: line it was set on, 0 = default; owned */

	/* daemon */
	char *hostname;
	char *data_directory;
	char *pid_file;
	char *user;
	enum config_log_level log_level;
	int log_pseudonymise;
	char *syslog_facility;
	char *master_key_file;
	char *control_socket;
	char *operator_group;
	char *reviewer_group;
	uint64_t shutdown_timeout;

	/* queue */
	uint64_t queue_map_size;
	int queue_map_grow;
	uint64_t queue_map_max;
	uint64_t queue_chunk_size;
	int64_t queue_commit_batch;
	uint64_t queue_result_linger;	/* ms */
	struct config_list retry_schedule;	/* .ms[]: durations */
	uint64_t max_queue_lifetime;
	uint64_t delay_warning_time;
	uint64_t body_retention;
	uint64_t event_retention;
	uint64_t metadata_retention;		/* ms; 0 = event_retention */
	uint64_t audit_retention;		/* ms; 0 = audit records are kept for ever */
	uint64_t purge_interval;

	/* SMTP server */
	struct config_list smtpd_submission_listen;	/* .addrs[] */
	struct config_list smtpd_submissions_listen;	/* .addrs[] */
	struct config_list smtpd_relay_listen;		/* .addrs[] */
	struct config_list smtpd_relay_networks;	/* .cidrs[] */
	char *smtpd_relay_account;
	char *smtpd_tls_cert_file;
	char *smtpd_tls_key_file;
	char *smtpd_banner;
	int64_t smtpd_max_connections;
	int64_t smtpd_max_connections_per_ip;
	uint64_t smtpd_timeout;
	uint64_t smtpd_data_timeout;
	int64_t smtpd_max_errors;
	int64_t smtpd_max_recipients;
	uint64_t message_size_limit;
	int smtpd_auth_in_clear;
	uint64_t smtpd_auth_failure_delay;
	int64_t smtpd_auth_lockout_threshold;
	uint64_t smtpd_auth_lockout_time;
	int64_t smtpd_auth_lockout_ip_threshold;
	int64_t smtpd_auth_slowdown_threshold;
	uint64_t smtpd_auth_slowdown_max;
	int64_t smtpd_auth_max_concurrent_per_ip;
	int64_t smtpd_auth_threads;		/* 0: auth_pool_default_threads() */
	uint64_t smtpd_auth_cache_ttl;		/* 0: no verified-credential cache */
	int64_t smtpd_eom_threads;		/* libuv's pool; 0: max(4, cores) */
	int64_t smtpd_eom_inline_max;		/* EOM stages on the loop up to this size */
	int64_t smtpd_loops;		/* 0 = one per online core: use config_smtpd_loops() */
	int64_t delivery_loops;		/* 0 = one per online core: use config_delivery_loops() */
	uint64_t smtpd_tls_handshake_timeout;
	uint64_t smtpd_command_timeout;
	uint64_t smtpd_session_timeout;
	int smtpd_reject_nul;
	int smtpd_received_client_ip;
	enum config_bare_lf smtpd_bare_line_ending;

	/* delivery */
	struct config_list dns_servers;		/* .addrs[] */
	struct config_list transport;
	enum config_tls_policy smtp_tls_policy;
	struct config_list smtp_tls_policy_map;
	char *smtp_tls_ca_file;
	uint64_t smtp_connect_timeout;
	uint64_t smtp_helo_timeout;
	uint64_t smtp_command_timeout;
	uint64_t smtp_data_timeout;
	int64_t smtp_destination_concurrency;
	int64_t smtp_destination_rate;
	int64_t smtp_connection_reuse_limit;
	struct config_list smtp_bind_address;
	enum config_addr_pref smtp_address_preference;
	char *smtp_helo_name;
	int delivery_enabled;

	/* DKIM, SPF */
	char *dkim_key_directory;
	struct config_list dkim_sign_headers;
	char *dkim_fallback_domain;
	uint64_t dkim_signature_expiry;
	struct config_list spf_egress_ips;
	enum config_spf_action spf_action;
	enum config_from_domain_action from_domain_action;

	char *metrics_listen;
	int metrics_account_labels;
	struct config_list metrics_delivery_classes;	/* "name:suffix" items */

	/* webhooks */
	uint64_t webhook_lifetime;
	uint64_t webhook_timeout;

	/* MIME, sensitive data */
	enum config_dlp_action dlp_action_card;
	enum config_dlp_action dlp_action_card_test;
	enum config_dlp_action dlp_action_ssn;
	enum config_dlp_action dlp_action_iban;
	int64_t mime_max_depth;
	int64_t mime_max_parts;
	uint64_t mime_max_decoded_size;
	enum config_mime_limit_action mime_limit_action;

	/* spam scoring (issue 15) */
	int spam_scoring;
	char *spam_model_directory;		/* "" = DATA_DIRECTORY/spam */
	int64_t spam_min_learned;
	int64_t spam_tag_score;			/* points; 0 = off */
	int64_t spam_hold_score;
	int64_t spam_reject_score;
	struct config_list spam_rules;		/* NAME:WEIGHT:TEXT */
	struct config_list spam_dnsbl;		/* ZONE:SYMBOL:WEIGHT[:codes] */
	struct config_list spam_uribl;
	uint64_t spam_dnsbl_timeout;		/* ms */
	int spam_signals;
	uint64_t spam_signal_window;		/* ms */
	int64_t spam_signal_min_windows;
	int64_t spam_signal_spike_factor;
	int64_t spam_signal_spike_new_domains_weight;
	int64_t spam_signal_max_domains;
	int64_t spam_dup_threshold;		/* percent */
	int64_t spam_dup_weight;
	uint64_t spam_token_expiry;		/* ms; 0 = never */
	/* suppression lists, feedback, unsubscribe (issue 14) */
	int address_fold_local_part;	/* the address index folds the local part's case */
	enum config_suppression_action suppression_action;
	uint64_t suppression_hard_bounce_expiry;	/* ms; 0 = never */
	struct config_list suppression_bounce_codes;	/* enhanced codes "5.1.1" */
	enum config_list_unsubscribe list_unsubscribe;
	char *list_unsubscribe_url;	/* "https://host/u/" (token appended) */
	struct config_list http_listen;		/* .addrs[] */
	struct config_list feedback_listen;	/* .addrs[] */
	char *feedback_domain;
	/* abuse review (issue 16) */
	uint64_t review_hold_expiry;		/* ms; undecided held mail is rejected after it */
	enum config_review_address_mask review_address_mask;
	int64_t review_trigger_window;		/* delivery outcomes per account considered */
	int64_t review_trigger_min_messages;	/* no automatic transition below this many */
	int64_t review_bounce_review;		/* per mille of hard bounces -> under_review */
	int64_t review_bounce_pause;		/* per mille -> paused */
	int64_t review_complaint_review;	/* per mille of complaints (flags) -> under_review */
	int64_t review_complaint_pause;		/* per mille -> paused */
	int64_t review_compromise_score;	/* spam score of the compromise pattern; 0 = off */
	int64_t review_compromise_spike;	/* this hour >= N x the average hour */
	int64_t review_compromise_min_volume;	/* and at least this many this hour */
};

/*
 * Load PATH into a new config (one reference).  On error returns NULL
 * and writes one or more "file:line: message" lines (newline-separated)
 * into ERR.  PATH NULL gives the built-in defaults.
 */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Parse from memory (tests, fuzzing); NAME is used in error messages. */
struct config *config_parse(const char *name, const char *text, size_t len,
    char *err, size_t errlen);
/* Take one more reference; returns CFG.  NULL is allowed. */
const struct config *config_ref(const struct config *cfg);
/* smtpd_loops resolved (0 in the file = the number of online cores). */
unsigned config_smtpd_loops(const struct config *cfg);
/* delivery_loops resolved (0 in the file = the number of online cores). */
unsigned config_delivery_loops(const struct config *cfg);
/* Drop one reference; the last one frees.  NULL is allowed. */
void config_unref(const struct config *cfg);
/* config_unref() of a config still being set up (tests); same thing. */
void config_free(struct config *cfg);

/* Line KEY was set on in cfg->path, 0 when it has its default. */
int config_key_line(const struct config *cfg, const char *key);
/* Whether a change of KEY takes effect only at the next start. */
int config_key_needs_restart(const char *key);
/*
 * The keys that differ between OLD and NEXT and need a restart,
 * comma-separated ("dns_servers,user"), into OUT; the number of them.
 */
size_t config_restart_changes(const struct config *old, const struct config *next,
    char *out, size_t outlen);
/* The word of an enum key's value, e.g. "warn" for spf_action. */
const char *config_enum_name(const char *key, int value);

/* Write every key with its current value, `key = value`, one per line. */
void config_dump(const struct config *cfg, FILE *out);

/*
 * `posternctl config` (postconf -n / postconf): call CB for every key in
 * table order whose value differs from the default, or for every key
 * when ALL, with the value as the file would write it (durations in
 * their largest exact unit), whether it is the default, and the line it
 * was set on (0: not in the file).  Stops at CB's first nonzero return.
 */
typedef int (*config_key_cb)(void *arg, const char *key, const char *value,
    int is_default, int line);
int config_foreach(const struct config *cfg, int all, config_key_cb cb, void *arg);

/* The value syntaxes, for tools and tests (durations: util.h). */
int config_parse_duration(const char *s, uint64_t *ms);
int config_parse_size(const char *s, uint64_t *bytes);
/* "host:port", "[v6]:port", "*:port"; HOST and PORT out. */
int config_parse_address(const char *s, char *host, size_t hostlen, int *port);
/* "10.0.0.0/8", "::1/128", or a bare address (a host route). */
int config_parse_cidr(const char *s, struct config_cidr *out);
/* Whether ADDR (FAMILY, network byte order) is inside C. */
int config_cidr_contains(const struct config_cidr *c, int family, const unsigned char *addr);

#endif
