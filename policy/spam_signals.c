/* SPDX-License-Identifier: ISC */
/*
 * spam_signals.c: account anomaly signals (issue 15): a stolen
 * account's mail looks like its owner's in content but not in
 * behaviour.  The counters (struct spam_store.account, queue/spamdb.c)
 * keep, per account, an exponentially weighted moving average of
 * recipients per window (spam_signal_window, one hour by default), the
 * recipients and distinct recipient domains of the current window, and
 * keyed hashes of every recipient domain, client address and text
 * template the account has used.  From those facts this file makes
 * symbols, once the account has spam_signal_min_windows of history:
 *
 *   ACCT_VOLUME_SPIKE       this window's recipients exceed
 *                           spam_signal_spike_factor x the baseline (2)
 *   ACCT_SPIKE_NEW_DOMAINS  a spike, and at least half of this message's
 *                           recipient domains never seen for the account
 *                           (spam_signal_spike_new_domains_weight, 5: with
 *                           the spike's 2 it reaches the default hold 6)
 *   ACCT_NEW_CLIENT         AUTH from a client address never seen (1)
 *   ACCT_NEW_TEMPLATE_SPIKE a spike with a text structure never seen (2)
 *   ACCT_MANY_DOMAINS       more distinct recipient domains this window
 *                           than spam_signal_max_domains (2; 0 = off)
 *
 * The baseline is the EWMA before the current window, so a burst does
 * not raise its own bar (spamdb_ewma_roll(), queue/spamdb.c, keeps it).
 * Called by policy/spam_stage.c.
 */
#include "autoconfig.h"

#include "spam.h"

void
spam_signals_symbols(const struct spam_signal_params *p, const struct spam_acct_facts *f,
    struct spam_result *r)
{
	double base;
	int spike;

	if (f->windows < p->min_windows)
		return;	/* no history yet: nothing is unusual */
	base = f->baseline > 1.0 ? f->baseline : 1.0;
	spike = (double)f->window_rcpts > p->spike_factor * base;
	if (spike)
		spam_result_add(r, "ACCT_VOLUME_SPIKE", p->spike_weight);
	if (spike && f->ndomains > 0 && f->new_domains * 2 >= f->ndomains)
		spam_result_add(r, "ACCT_SPIKE_NEW_DOMAINS", p->spike_new_domains_weight);
	if (f->new_client)
		spam_result_add(r, "ACCT_NEW_CLIENT", p->new_client_weight);
	if (spike && f->new_template)
		spam_result_add(r, "ACCT_NEW_TEMPLATE_SPIKE", p->new_template_weight);
	if (p->max_domains > 0 && f->window_domains > p->max_domains)
		spam_result_add(r, "ACCT_MANY_DOMAINS", 2.0);
}
