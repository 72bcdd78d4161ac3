/* SPDX-License-Identifier: ISC */
/*
 * sender_id.c: the "from_domain" EOM stage (issue 19): the sender's
 * identity as recipients see it.  MAIL FROM is checked against the
 * account's domains in the MAIL phase (policy/limits.c), but readers
 * and DMARC look at the From: header (RFC 5322 §3.6.2, RFC 7489 §3.1):
 * an account allowed to send as example.com must not put
 * From: ceo@bank.example on its mail.  So the domain of the From:
 * header must be one of the account's domains (`example.com`,
 * `*.example.com` strictly below, `*` anything), else the message is
 * refused with 550 5.7.1, or, when from_domain_action = log (global, or
 * per account with --set from_domain_action=log), accepted and logged
 * (event=from_domain_mismatch) so the operator sees who does it.
 *
 * A From: that cannot name one domain (two From: fields, mailboxes in
 * different domains, no address) counts as a mismatch; a message
 * without any From: field is left to the other checks.  Messages of
 * no account, and of the relay listener's account when it has no
 * domains (trusted networks, restricting no sender), are not checked.
 * Runs after "headers" and before DKIM, over the final header block.
 */
#include "autoconfig.h"

#include <string.h>

#include "account.h"
#include "dkim.h"
#include "log.h"
#include "policy.h"
#include "util.h"

/* Whether the header block HB (LEN octets) has a From: field at all. */
static int
has_from(const char *hb, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const char *line = hb + pos, *lf = memchr(line, '\n', len - pos);
		size_t l = lf ? (size_t)(lf - line) + 1 : len - pos;

		if (l >= 5 && mem_casecmp(line, "From:", 5) == 0)
			return 1;
		pos += l;
	}
	return 0;
}

int
policy_from_domain(struct policy_msg *m, struct outcome *out)
{
	const struct account_policy *pol = m->acct;
	char dom[256], q[300];
	struct buf hb;
	int rc, log_only, found;

	outcome_ok(out);
	if (pol == NULL || pol->ndomains == 0)
		return 0;
	buf_init(&hb, 0);
	policy_msg_header_block(m, &hb);
	if (!has_from(hb.data ? hb.data : "", hb.len)) {
		buf_free(&hb);
		return 0;
	}
	rc = dkimsign_from_domain(hb.data, hb.len, dom, sizeof(dom));
	buf_free(&hb);
	found = rc >= 0;
	if (found && domain_list_match(pol->domains, pol->ndomains, dom, strlen(dom), 1))
		return 0;
	log_only = pol->from_domain_action != ACCOUNT_UNSET ?
	    pol->from_domain_action == ACCOUNT_FROM_LOG :
	    m->params != NULL && m->params->from.log_only;
	/* The domain is the customer's header, not a person's address. */
	/* the queue id first (STYLE.md 14): the operator finds the message
	 * (accepted under that id, or its "rejected" webhook) */
	log_warn("qid=%s event=from_domain_mismatch account=%s from_domain=%s action=%s",
	    m->msgid[0] ? m->msgid : "-", m->account, found ? log_quote(dom, strlen(dom), q, sizeof(q)) : "-",
	    log_only ? "logged" : "rejected");
	if (!log_only)
		outcome_reply(out, R_FROM_NOT_ALLOWED);
	return 0;
}
