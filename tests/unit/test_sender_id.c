/* SPDX-License-Identifier: ISC */
/*
 * test_sender_id: the "from_domain" EOM stage (policy/sender_id.c,
 * issue 19), table-driven: the From: header domain against the
 * account's domains (exact, *.sub, *), mixed or repeated From: fields,
 * no From: at all, an account without domains, and the action: 550
 * 5.7.1 by default, accepted when from_domain_action = log globally or
 * for the account (and an account's reject beating a global log).
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "config.h"
#include "outcome.h"
#include "policy.h"
#include "relay.h"
#include "tap.h"

struct tcase {
	const char *name;
	const char *domains;	/* comma-separated, "" = none */
	int acct_action;	/* ACCOUNT_UNSET, ACCOUNT_FROM_REJECT, ACCOUNT_FROM_LOG */
	int global_log;
	const char *msg;
	int want_code;		/* 0 = ok, else the SMTP code */
};

static const struct tcase cases[] = {
	{ "own domain", "example.com", ACCOUNT_UNSET, 0,
	  "From: A <a@example.com>\r\nSubject: s\r\n\r\nb\r\n", 0 },
	{ "case-insensitive", "example.com", ACCOUNT_UNSET, 0,
	  "from: a@EXAMPLE.Com\r\n\r\nb\r\n", 0 },
	{ "another domain: 550", "example.com", ACCOUNT_UNSET, 0,
	  "From: CEO <ceo@bank.example>\r\n\r\nb\r\n", 550 },
	{ "subdomain needs *.", "example.com", ACCOUNT_UNSET, 0,
	  "From: a@news.example.com\r\n\r\nb\r\n", 550 },
	{ "*.example.com allows below", "*.example.com", ACCOUNT_UNSET, 0,
	  "From: a@news.example.com\r\n\r\nb\r\n", 0 },
	{ "* allows any", "*", ACCOUNT_UNSET, 0,
	  "From: a@anything.example\r\n\r\nb\r\n", 0 },
	{ "second of two domains", "a.test, b.test", ACCOUNT_UNSET, 0,
	  "From: x@b.test\r\n\r\nb\r\n", 0 },
	{ "mailboxes in two domains: 550", "example.com", ACCOUNT_UNSET, 0,
	  "From: a@example.com, b@evil.example\r\n\r\nb\r\n", 550 },
	{ "two From: fields: 550", "example.com", ACCOUNT_UNSET, 0,
	  "From: a@example.com\r\nFrom: b@evil.example\r\n\r\nb\r\n", 550 },
	{ "no From: at all: not this stage's business", "example.com", ACCOUNT_UNSET, 0,
	  "Subject: s\r\n\r\nb\r\n", 0 },
	{ "From: in the body only", "example.com", ACCOUNT_UNSET, 0,
	  "Subject: s\r\n\r\nFrom: x@evil.example\r\n", 0 },
	{ "account without domains: unchecked", "", ACCOUNT_UNSET, 0,
	  "From: a@evil.example\r\n\r\nb\r\n", 0 },
	{ "account from_domain_action=log", "example.com", ACCOUNT_FROM_LOG, 0,
	  "From: a@evil.example\r\n\r\nb\r\n", 0 },
	{ "global from_domain_action = log", "example.com", ACCOUNT_UNSET, 1,
	  "From: a@evil.example\r\n\r\nb\r\n", 0 },
	{ "account reject beats global log", "example.com", ACCOUNT_FROM_REJECT, 1,
	  "From: a@evil.example\r\n\r\nb\r\n", 550 },
};

int
main(void)
{
	size_t i;

	plan((int)ARRAY_SIZE(cases) + 2);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tcase *t = &cases[i];
		struct account *a = account_new("acme");
		struct policy_params pp;
		struct policy_msg m;
		struct outcome o;

		if (t->domains[0] && account_set_domains(a, t->domains) != 0)
			diag("bad domains %s", t->domains);
		a->pol.from_domain_action = t->acct_action;
		memset(&pp, 0, sizeof(pp));
		pp.from.log_only = t->global_log;
		memset(&m, 0, sizeof(m));
		m.params = &pp;
		m.account = "acme";
		m.acct = &a->pol;
		buf_init(&m.data, 0);
		buf_append_str(&m.data, t->msg);
		policy_from_domain(&m, &o);
		if (t->want_code == 0)
			is_int(o.kind, OUTCOME_OK, "%s", t->name);
		else
			ok(o.kind == OUTCOME_PERMFAIL && o.code == t->want_code &&
			    strcmp(o.enhanced, "5.7.1") == 0 &&
			    strstr(o.text, "From: header domain not allowed") != NULL, "%s", t->name);
		policy_msg_free(&m);
		account_free(a);
	}
	{
		/* no account (e.g. a test path): nothing to check */
		struct policy_msg m;
		struct outcome o;

		memset(&m, 0, sizeof(m));
		buf_init(&m.data, 0);
		buf_append_str(&m.data, "From: a@evil.example\r\n\r\nb\r\n");
		policy_from_domain(&m, &o);
		is_int(o.kind, OUTCOME_OK, "no account: ok");
		policy_msg_free(&m);
	}
	{
		size_t n, k;
		const struct policy_stage *st = policy_phase_stages(POLICY_EOM, &n);

		for (k = 0; k + 1 < n && strcmp(st[k].name, "headers") != 0; k++)
			;
		ok(k + 1 < n && strcmp(st[k + 1].name, "from_domain") == 0,
		    "EOM: from_domain right after headers");
	}
	return done();
}
