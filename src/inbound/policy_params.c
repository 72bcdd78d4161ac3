/* SPDX-License-Identifier: ISC */
/*
 * policy_params.c: the one place that turns postern.conf into the
 * settings of policy/'s stages (struct policy_params, include/
 * policy_params.h; declared in include/relay.h).  policy/ knows nothing of the config; the relay
 * (src/inbound/relay.c) builds params for each phase and EOM job from
 * the config reference that phase or job holds, posternctl
 * (src/ctl/ctl_dkim.c, ctl_scan.c) and the tests from the config they
 * loaded.  The params borrow the config's strings and lists, so they
 * are valid while the config they came from is; without a configured
 * hostname the Received: fields name the host as gethostname() said at
 * the first message (looked up once per process).
 */
#include "autoconfig.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy_params.h"
#include "relay.h"

static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static char host_name[256];	/* gethostname(), once; "" when it failed */

static void
host_lookup(void)
{
	if (gethostname(host_name, sizeof(host_name)) != 0)
		host_name[0] = '\0';
	host_name[sizeof(host_name) - 1] = '\0';
}

void
policy_params_from_config(struct policy_params *p, const struct config *cfg)
{
	const struct config_list *egress;

	memset(p, 0, sizeof(*p));
	p->limits.max_connections = cfg->smtpd_max_connections;
	p->limits.max_connections_per_ip = cfg->smtpd_max_connections_per_ip;
	p->limits.message_size_limit = cfg->message_size_limit;
	p->limits.reject_nul = cfg->smtpd_reject_nul;

	p->headers.hostname = cfg->hostname;
	if (p->headers.hostname == NULL || p->headers.hostname[0] == '\0') {
		/* the Received: fields' fallback, looked up once per process
		 * (issue 20: it was a uname() per field per message) */
		pthread_once(&host_once, host_lookup);
		if (host_name[0] != '\0')
			p->headers.hostname = host_name;
	}
	p->headers.received_client_ip = cfg->smtpd_received_client_ip;
	p->from.log_only = cfg->from_domain_action == CONFIG_FROM_DOMAIN_LOG;

	p->dlp.action_card = (int)cfg->dlp_action_card;
	p->dlp.action_card_test = (int)cfg->dlp_action_card_test;
	p->dlp.action_ssn = (int)cfg->dlp_action_ssn;
	p->dlp.action_iban = (int)cfg->dlp_action_iban;
	p->dlp.mime_max_depth = (unsigned)cfg->mime_max_depth;
	p->dlp.mime_max_parts = (unsigned)cfg->mime_max_parts;
	p->dlp.mime_max_decoded_size = cfg->mime_max_decoded_size;
	p->dlp.mime_limit_hold = cfg->mime_limit_action == CONFIG_MIME_LIMIT_HOLD;

	p->dkim.key_directory = cfg->dkim_key_directory;
	p->dkim.data_directory = cfg->data_directory;
	p->dkim.sign_headers.items = cfg->dkim_sign_headers.items;
	p->dkim.sign_headers.n = cfg->dkim_sign_headers.n;
	p->dkim.fallback_domain = cfg->dkim_fallback_domain;
	p->dkim.signature_expiry = cfg->dkim_signature_expiry;

	p->spf.action = (int)cfg->spf_action;	/* same values as enum spf_action */
	egress = cfg->spf_egress_ips.n ? &cfg->spf_egress_ips : &cfg->smtp_bind_address;
	p->spf.egress_ips.items = egress->items;
	p->spf.egress_ips.n = egress->n;

	p->spam.enabled = cfg->spam_scoring;
	p->spam.tag_score = (double)cfg->spam_tag_score;
	p->spam.hold_score = (double)cfg->spam_hold_score;
	p->spam.reject_score = (double)cfg->spam_reject_score;
	p->spam.min_learned = (uint32_t)cfg->spam_min_learned;
	p->spam.rules.items = cfg->spam_rules.items;
	p->spam.rules.n = cfg->spam_rules.n;
	p->spam.dnsbl.items = cfg->spam_dnsbl.items;
	p->spam.dnsbl.n = cfg->spam_dnsbl.n;
	p->spam.uribl.items = cfg->spam_uribl.items;
	p->spam.uribl.n = cfg->spam_uribl.n;
	p->spam.dnsbl_timeout = cfg->spam_dnsbl_timeout;
	p->spam.signals = cfg->spam_signals;
	p->spam.signal_window = cfg->spam_signal_window;
	p->spam.signal_min_windows = (uint32_t)cfg->spam_signal_min_windows;
	p->spam.signal_spike_factor = (double)cfg->spam_signal_spike_factor;
	p->spam.signal_spike_new_domains_weight = (double)cfg->spam_signal_spike_new_domains_weight;
	p->spam.signal_max_domains = (uint32_t)cfg->spam_signal_max_domains;
	p->spam.dup_threshold = (double)cfg->spam_dup_threshold / 100.0;
	p->spam.dup_weight = (double)cfg->spam_dup_weight;
	p->suppress.drop = cfg->suppression_action == CONFIG_SUPPRESSION_DROP;
	p->suppress.list_unsubscribe = (int)cfg->list_unsubscribe;	/* same values */
	p->suppress.unsubscribe_url = cfg->list_unsubscribe_url;
	p->suppress.feedback_domain = cfg->feedback_domain;
}
