/* SPDX-License-Identifier: ISC */
/*
 * policy_params.h: the settings policy/'s stages read (issue 11: modules
 * take small params structs, not the whole config).  policy/ never sees
 * struct config: the composition root builds a struct policy_params
 * from the config with policy_params_from_config() (src/daemon/
 * policy_glue.c, declared in include/daemon.h) and hands it to each
 * phase (struct policy_req) and message (struct policy_msg).
 *
 * Every pointer is borrowed from the config the params were built
 * from: whoever builds them holds a reference on that config for at
 * least as long as the params are used (the relay embeds the params in
 * the phase or EOM job beside its config reference, so a SIGHUP that
 * swaps the config never frees what a running stage reads).
 */
#ifndef POSTERN_POLICY_PARAMS_H
#define POSTERN_POLICY_PARAMS_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed list of strings (e.g. dkim_sign_headers). */
struct policy_strlist {
	char *const *items;		/* borrowed */
	size_t n;
};

/* Limits of the CONNECT and MAIL stages (policy/limits.c). */
struct policy_limits_params {
	int64_t max_connections;		/* smtpd_max_connections */
	int64_t max_connections_per_ip;		/* smtpd_max_connections_per_ip */
	uint64_t message_size_limit;		/* message_size_limit (0: none) */
	int reject_nul;				/* smtpd_reject_nul: EOM stage "nul" */
};

/* Received: and other header fix-ups (policy/headers.c). */
struct policy_headers_params {
	const char *hostname;			/* borrowed; NULL or "": gethostname() */
	int received_client_ip;			/* smtpd_received_client_ip */
};

/* Sensitive-data defaults and MIME limits (policy/dlp_stage.c). */
struct policy_dlp_params {
	int action_card;			/* enum dlp_action: dlp_action_card */
	int action_card_test;			/* dlp_action_card_test */
	int action_ssn;				/* dlp_action_ssn */
	int action_iban;			/* dlp_action_iban */
	unsigned mime_max_depth;
	unsigned mime_max_parts;
	uint64_t mime_max_decoded_size;
	int mime_limit_hold;			/* mime_limit_action = hold */
};

/* DKIM signing (policy/dkim_*.c). */
struct policy_dkim_params {
	const char *key_directory;		/* borrowed; dkim_key_directory or NULL */
	const char *data_directory;		/* borrowed; keys in DIR/dkim by default */
	struct policy_strlist sign_headers;	/* dkim_sign_headers */
	const char *fallback_domain;		/* borrowed; dkim_fallback_domain or NULL */
	uint64_t signature_expiry;		/* ms; 0: no x= tag */
};

/* SPF of the sender's domain (policy/spf.c). */
struct policy_spf_params {
	int action;				/* enum spf_action: spf_action */
	struct policy_strlist egress_ips;	/* spf_egress_ips, else smtp_bind_address */
};

/* The sender's identity: the From: header domain (policy/sender_id.c). */
struct policy_from_params {
	int log_only;				/* from_domain_action = log */
};

/* Spam scoring (policy/spam_stage.c, issue 15). */
struct policy_spam_params {
	int enabled;				/* spam_scoring */
	double tag_score;			/* spam_tag_score; 0 = off */
	double hold_score;			/* spam_hold_score; 0 = off */
	double reject_score;			/* spam_reject_score; 0 = off */
	uint32_t min_learned;			/* spam_min_learned */
	struct policy_strlist rules;		/* spam_rules: NAME:WEIGHT:TEXT */
	struct policy_strlist dnsbl;		/* spam_dnsbl: IP lists */
	struct policy_strlist uribl;		/* spam_uribl: domain lists */
	uint64_t dnsbl_timeout;			/* spam_dnsbl_timeout, ms */
	int signals;				/* spam_signals */
	uint64_t signal_window;			/* spam_signal_window, ms */
	uint32_t signal_min_windows;		/* spam_signal_min_windows */
	double signal_spike_factor;		/* spam_signal_spike_factor */
	double signal_spike_new_domains_weight;	/* spam_signal_spike_new_domains_weight */
	uint32_t signal_max_domains;		/* spam_signal_max_domains; 0 = off */
	double dup_threshold;			/* spam_dup_threshold (percent / 100) */
	double dup_weight;			/* spam_dup_weight */
};
/* Suppression lists (RCPT) and List-Unsubscribe (EOM): policy/suppress_stage.c. */
struct policy_suppress_params {
	int drop;				/* suppression_action = drop */
	int list_unsubscribe;			/* enum policy_list_unsubscribe: list_unsubscribe */
	const char *unsubscribe_url;		/* borrowed; list_unsubscribe_url ("https://host/u/") */
	const char *feedback_domain;		/* borrowed; feedback_domain (mailto:) or "" */
};
enum policy_list_unsubscribe { POLICY_LU_OFF, POLICY_LU_MAILTO, POLICY_LU_ONE_CLICK };

struct policy_params {
	struct policy_limits_params limits;
	struct policy_headers_params headers;
	struct policy_from_params from;
	struct policy_dlp_params dlp;
	struct policy_dkim_params dkim;
	struct policy_spf_params spf;
	struct policy_spam_params spam;
	struct policy_suppress_params suppress;
};

#endif
