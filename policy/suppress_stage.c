/* SPDX-License-Identifier: ISC */
/*
 * suppress_stage.c: the policy side of suppression lists (issue 14).
 *
 *   RCPT  suppression       the recipient is on the account's list or
 *                           the global one (looked up through
 *                           policy_env.suppressed: the relay owns the
 *                           store): 550 5.7.1 with the reason, or, with
 *                           suppression_action = drop (global, or per
 *                           account), 250 and req->rcpt_drop so the relay
 *                           never queues it.  A 5.1.1 would be wrong: the
 *                           mailbox exists, we refuse to mail it.
 *   EOM   list_unsubscribe  List-Unsubscribe (RFC 2369 §3.2) with a
 *                           one-click https URL and/or a mailto: to
 *                           u+TOKEN@ the account's return_path_domain or
 *                           feedback_domain, and List-Unsubscribe-Post:
 *                           List-Unsubscribe=One-Click (RFC 8058 §3.1) when
 *                           the URL is there; added at the end of the
 *                           header section before DKIM signs, which covers
 *                           both (dkim_sign_headers; RFC 8058 §4).  Only for
 *                           a message with one recipient (the token names
 *                           one recipient) and without a List-Unsubscribe
 *                           of its own.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy.h"
#include "token.h"
#include "util.h"

void
policy_stage_suppression(struct policy_req *req, struct outcome *out)
{
	const struct policy_env *e = req->env;
	const struct account_policy *pol = req->acct;
	char reason[32], pseud[LOG_ADDR_MAX];
	int drop, rc;

	if (e == NULL || e->suppressed == NULL || req->rcpt == NULL || req->rcpt[0] == '\0')
		return;
	drop = req->params != NULL ? req->params->suppress.drop : 0;
	if (pol != NULL && pol->suppression_action != ACCOUNT_UNSET)
		drop = pol->suppression_action != 0;
	reason[0] = '\0';
	rc = e->suppressed(e->arg, pol != NULL && pol->name ? pol->name : req->account, req->rcpt,
	    drop ? "drop" : "reject", reason, sizeof(reason));
	if (rc < 0) {
		outcome_reply(out, R_LOCAL_ERROR);
		return;
	}
	if (rc == 0)
		return;
	log_info("sid=%s event=suppressed rcpt=%s reason=%s action=%s", req->id,
	    log_addr(req->rcpt, strlen(req->rcpt), pseud, sizeof(pseud)), reason,
	    drop ? "drop" : "reject");
	if (drop) {
		req->rcpt_drop = 1;
		return;
	}
	outcome_reply(out, R_RCPT_SUPPRESSED, reason);
}

/* Does the message's own header section have a field NAME? */
static int
has_field(const struct policy_msg *m, const char *name)
{
	size_t end = policy_msg_header_end(m, NULL), pos = 0, nl = strlen(name);

	while (pos < end) {
		const char *line = m->data.data + pos;
		const char *lf = memchr(line, '\n', end - pos);
		size_t len = lf ? (size_t)(lf - line) + 1 : end - pos;

		if (len > nl && line[nl] == ':' && mem_casecmp(line, name, nl) == 0)
			return 1;
		pos += len;
	}
	return 0;
}

int
policy_list_unsubscribe(struct policy_msg *m, struct outcome *out)
{
	const struct policy_suppress_params *p = m->params ? &m->params->suppress : NULL;
	const char *domain = NULL, *url = NULL;
	char tok[TOKEN_LEN + 1], *field;
	int mode;

	(void)out;
	mode = p != NULL ? p->list_unsubscribe : POLICY_LU_OFF;
	if (m->acct != NULL && m->acct->list_unsubscribe != ACCOUNT_UNSET)
		mode = m->acct->list_unsubscribe;
	if (mode == POLICY_LU_OFF || m->nrcpts != 1 || m->msgid[0] == '\0')
		return 0;
	if (has_field(m, "List-Unsubscribe") || has_field(m, "List-Unsubscribe-Post"))
		return 0;	/* the customer's own wins (a second Post field would be
			 * ambiguous, RFC 8058 §3.1) */
	if (token_make(TOKEN_UNSUBSCRIBE, m->msgid, 0, tok) != 0)
		return 0;
	if (m->acct != NULL && m->acct->return_path_domain[0])
		domain = m->acct->return_path_domain;
	else if (p->feedback_domain != NULL && p->feedback_domain[0])
		domain = p->feedback_domain;
	if (mode == POLICY_LU_ONE_CLICK && p->unsubscribe_url != NULL && p->unsubscribe_url[0])
		url = p->unsubscribe_url;
	if (url == NULL && domain == NULL)
		return 0;
	if (url != NULL && domain != NULL)
		field = xasprintf("List-Unsubscribe: <%s%s>,\r\n <mailto:u+%s@%s>\r\n"
		    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", url, tok, tok, domain);
	else if (url != NULL)
		field = xasprintf("List-Unsubscribe: <%s%s>\r\n"
		    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", url, tok);
	else
		field = xasprintf("List-Unsubscribe: <mailto:u+%s@%s>\r\n", tok, domain);
	policy_msg_append_header(m, field, strlen(field));
	free(field);
	return 0;
}
