/* SPDX-License-Identifier: ISC */
/*
 * config.h: postern.conf(5).  One `key = value` file parsed through one
 * table of {name, type, default, min, max, field} in src/config.c: every
 * key, its default and its limits live there and only there.  Unknown
 * keys, bad values and out-of-range numbers are errors reported as
 * `file:line: message`.  Durations are kept in milliseconds, sizes in
 * bytes.  A loaded config is immutable; SIGHUP loads a new one and
 * swaps it in only when it is valid.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config_list {
	char **items;	/* owned */
	size_t n;
};

struct config {
	char *path;	/* file it was loaded from; owned */

	/* daemon */
	char *hostname;
	char *data_directory;
	char *pid_file;
	char *user;
	char *log_level;
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
	struct config_list retry_schedule;	/* durations, validated */
	uint64_t max_queue_lifetime;
	uint64_t delay_warning_time;
	uint64_t body_retention;
	uint64_t event_retention;
	uint64_t purge_interval;

	/* SMTP server */
	struct config_list smtpd_submission_listen;
	struct config_list smtpd_submissions_listen;
	struct config_list smtpd_relay_listen;
	struct config_list smtpd_relay_networks;
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
	int smtpd_received_client_ip;
	char *smtpd_bare_line_ending;

	/* delivery */
	struct config_list dns_servers;
	struct config_list transport;
	char *smtp_tls_policy;
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
	char *smtp_address_preference;
	char *smtp_helo_name;
	int delivery_enabled;

	/* DKIM, SPF */
	char *dkim_key_directory;
	struct config_list dkim_sign_headers;
	char *dkim_fallback_domain;
	uint64_t dkim_signature_expiry;
	struct config_list spf_egress_ips;
	char *spf_action;

	/* MIME, sensitive data */
	char *dlp_action_card;
	char *dlp_action_card_test;
	char *dlp_action_ssn;
	char *dlp_action_iban;
	int64_t mime_max_depth;
	int64_t mime_max_parts;
	uint64_t mime_max_decoded_size;
	char *mime_limit_action;
};

/*
 * Load PATH into a new config.  On error returns NULL and writes one or
 * more "file:line: message" lines (newline-separated) into ERR.
 * PATH NULL gives the built-in defaults.
 */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Parse from memory (tests, fuzzing); NAME is used in error messages. */
struct config *config_parse(const char *name, const char *text, size_t len,
    char *err, size_t errlen);
void config_free(struct config *cfg);

/* Write every key with its current value, `key = value`, one per line. */
void config_dump(const struct config *cfg, FILE *out);

/* Helpers for values other modules parse further. */
int config_parse_duration(const char *s, uint64_t *ms);
int config_parse_size(const char *s, uint64_t *bytes);
/* "host:port", "[v6]:port", "*:port"; HOST and PORT out. */
int config_parse_address(const char *s, char *host, size_t hostlen, int *port);

#endif
