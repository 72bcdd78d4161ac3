/* SPDX-License-Identifier: ISC */
/*
 * spam_stage.c: the spam-scoring EOM stage (issue 15, DESIGN.md §7),
 * between sensitive data and DKIM signing, in the uv thread pool.
 *
 * It removes any X-Postern-Spam field the client sent (in place, so the
 * header cannot be forged), scores the message (policy/spam.c) with the
 * model the relay put in m->spam and the rules of spam_rules, and maps
 * the score to an action with the account's thresholds
 * (m->acct->spam_*_score, typed by src/account/) or else the global
 * spam_tag_score / spam_hold_score / spam_reject_score:
 *
 *   tag     X-Postern-Spam: score=... symbols=... on top of the header,
 *           added before DKIM signs (so the signature covers it);
 *   hold    the same field, and m->hold: the message is committed in
 *           state held for review;
 *   reject  550 5.7.1 "Message rejected as spam (ref TOKEN)": nothing is
 *           stored; TOKEN is random and is logged with the score and the
 *           symbols so an operator can find the decision.
 *
 * The symbols and the score go to m->verdicts (JSON), which the queue
 * stores with the message and reviewers see.  Logs carry the account,
 * score, symbols and action: never content.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "crypto.h"
#include "log.h"
#include "policy.h"
#include "spam.h"
#include "util.h"

#define SPAM_HEADER "X-Postern-Spam"
#define SPAM_MAX_RULES 64

/* Account threshold (milli-points, ACCOUNT_UNSET: global) or GLOBAL. */
static double
threshold(int64_t acct, double global)
{
	return acct >= 0 ? (double)acct / 1000.0 : global;
}

/* The stage's verdict object for R and ACT, appended to M's verdicts. */
static void
verdict_append(struct policy_msg *m, const struct spam_result *r, enum spam_action act)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	(void)buf_printf(&b, "{\"stage\":\"spam\",\"score\":%.2f,", r->score);
	if (r->probability >= 0)
		(void)buf_printf(&b, "\"probability\":%.4f,", r->probability);
	(void)buf_append_str(&b, "\"symbols\":[");
	for (i = 0; i < r->nsym; i++)
		(void)buf_printf(&b, "%s{\"name\":\"%s\",\"weight\":%.2f}", i ? "," : "",
		    r->sym[i].name, r->sym[i].weight);
	(void)buf_printf(&b, "],\"action\":\"%s\"}", spam_straction(act));
	policy_msg_add_verdict(m, b.data);
	buf_free(&b);
}

/* The thresholds and rules of M: the account's, else the global ones. */
static void
params_of(const struct policy_msg *m, struct spam_params *p, struct spam_rule *rules)
{
	const struct policy_spam_params *sp = &m->params->spam;
	char err[128];
	size_t i;

	memset(p, 0, sizeof(*p));
	p->tag_score = sp->tag_score;
	p->hold_score = sp->hold_score;
	p->reject_score = sp->reject_score;
	p->min_learned = sp->min_learned;
	if (m->acct != NULL) {
		p->tag_score = threshold(m->acct->spam_tag_score, p->tag_score);
		p->hold_score = threshold(m->acct->spam_hold_score, p->hold_score);
		p->reject_score = threshold(m->acct->spam_reject_score, p->reject_score);
	}
	for (i = 0; i < sp->rules.n && p->nrules < SPAM_MAX_RULES; i++)
		if (spam_rule_parse(sp->rules.items[i], &rules[p->nrules], err, sizeof(err)) == 0)
			p->nrules++;	/* daemon_check() refused bad ones already */
	p->rules = rules;
}

/* List I of the stage: spam_dnsbl first, then spam_uribl.  0 or -1. */
static int
list_at(const struct policy_spam_params *sp, size_t i, struct spam_list *l)
{
	char err[128];
	int dom = i >= sp->dnsbl.n;

	return spam_list_parse(dom ? sp->uribl.items[i - sp->dnsbl.n] : sp->dnsbl.items[i], dom, l,
	    err, sizeof(err));
}

static void
dnsq_add(struct spam_dnsq *q, const char *name, const struct spam_list *l, size_t list)
{
	struct spam_dnsq_item *it;

	if (strlen(name) >= sizeof(it->name))
		return;
	q->v = xrealloc(q->v, (q->n + 1) * sizeof(*q->v));
	it = &q->v[q->n++];
	memset(it, 0, sizeof(*it));
	str_copy(it->name, name, sizeof(it->name));
	str_copy(it->zone, l->zone, sizeof(it->zone));
	it->list = list;
}

/* The queries of M: the client address against the IP lists, the
 * message's domains against the domain lists.  NULL when none. */
static struct spam_dnsq *
dnsq_build(const struct policy_msg *m, const struct spam_tokens *t)
{
	const struct policy_spam_params *sp = &m->params->spam;
	struct spam_dnsq *q = xcalloc(1, sizeof(*q));
	struct spam_list l;
	char name[320];
	size_t i;

	for (i = 0; i < sp->dnsbl.n + sp->uribl.n; i++) {
		if (list_at(sp, i, &l) != 0)
			continue;
		if (!l.domains) {
			if (m->client_addr != NULL &&
			    spam_dnsbl_qname(m->client_addr, l.zone, name, sizeof(name)) == 0)
				dnsq_add(q, name, &l, i);
			continue;
		}
		{
			const char *d = t->domains.data, *end = d ? d + t->domains.len : NULL;

			while (d != NULL && d < end) {
				const char *nl = memchr(d, '\n', (size_t)(end - d));
				size_t n = nl ? (size_t)(nl - d) : (size_t)(end - d);

				if ((size_t)snprintf(name, sizeof(name), "%.*s.%s", (int)n, d, l.zone) <
				    sizeof(name))
					dnsq_add(q, name, &l, i);
				d += n + 1;
			}
		}
	}
	if (q->n == 0) {
		spam_dnsq_free(q);
		return NULL;
	}
	return q;
}

/* The answers of the DNS round into symbols (once per symbol). */
static void
dnsq_decode(const struct policy_msg *m, struct spam_dnsq *q, struct spam_result *r)
{
	struct spam_list l;
	size_t i, k, j;

	for (i = 0; i < q->n; i++) {
		const struct spam_dnsq_item *it = &q->v[i];

		if (!it->done || it->naddr == 0 || list_at(&m->params->spam, it->list, &l) != 0)
			continue;
		for (k = 0; k < it->naddr; k++) {
			const char *sym;
			double w;
			int dup = 0;

			if (spam_dnsbl_decode(&l, it->addr[k], &sym, &w) != 1)
				continue;	/* the relay disables a refusing list */
			for (j = 0; j < r->nsym; j++)
				if (strcmp(r->sym[j].name, sym) == 0)
					dup = 1;
			if (!dup)
				spam_result_add(r, sym, w);
		}
	}
}

/* Act on R: verdicts, log, header, hold or reject. */
static int
apply(struct policy_msg *m, const struct spam_params *p, struct spam_result *r,
    struct outcome *out)
{
	struct buf line;
	size_t i;

	r->action = spam_action_for(p, r->score);
	verdict_append(m, r, r->action);
	buf_init(&line, 0);
	spam_result_format(r, &line);
	if (r->action == SPAM_ACT_NONE) {
		log_debug("account=%s event=spam %s action=none",
		    m->account && *m->account ? m->account : "-", line.data ? line.data : "");
		buf_free(&line);
		return 0;
	}
	if (r->action == SPAM_ACT_REJECT) {
		static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
		unsigned char rnd[12];
		char ref[sizeof(rnd) + 1];

		crypto_random_bytes(rnd, sizeof(rnd));
		for (i = 0; i < sizeof(rnd); i++)
			ref[i] = alphabet[rnd[i] & 31];
		ref[sizeof(rnd)] = '\0';
		log_info("account=%s event=spam %s action=reject ref=%s",
		    m->account && *m->account ? m->account : "-", line.data, ref);
		/* RFC 3463 5.7.1: delivery not authorised, message refused */
		outcome_reply(out, R_SPAM_REJECTED, ref);
		buf_free(&line);
		return 0;
	}
	log_info("account=%s event=spam %s action=%s",
	    m->account && *m->account ? m->account : "-", line.data, spam_straction(r->action));
	{
		struct buf hdr;

		buf_init(&hdr, 0);
		(void)buf_printf(&hdr, "%s: %s\r\n", SPAM_HEADER, line.data);
		policy_msg_prepend(m, hdr.data, hdr.len);
		buf_free(&hdr);
	}
	if (r->action == SPAM_ACT_HOLD)
		m->hold = 1;
	buf_free(&line);
	return 0;
}

/* NEAR_DUP_REJECTED: close to a message a reviewer rejected. */
static void
near_duplicate(const struct policy_msg *m, struct spam_result *r)
{
	const struct policy_spam_params *sp = &m->params->spam;
	struct spam_fp fp;
	double sim = 0.0;

	if (m->spam == NULL || m->spam->dup_best == NULL || sp->dup_weight == 0 ||
	    (m->spam->dup_any != NULL && !m->spam->dup_any(m->spam->arg)))
		return;
	spam_fingerprint(m->data.data ? m->data.data : "", m->data.len, &fp);
	if (fp.nshingles == 0 || m->spam->dup_best(m->spam->arg, &fp, &sim) != 0)
		return;
	if (sim >= sp->dup_threshold)
		spam_result_add(r, "NEAR_DUP_REJECTED", sp->dup_weight);
}

/* Truncated keyed hash of a pseudo-address (addr_index_hash), or the
 * unkeyed token hash when no index key is set (tools). */
static void
keyed16(const char *s, unsigned char out[16])
{
	unsigned char h[ADDR_HASH_LEN];
	uint64_t a;

	if (addr_index_have_key() && addr_index_hash(s, strlen(s), h) == 0) {
		memcpy(out, h, 16);
		return;
	}
	a = spam_hash(s, strlen(s));
	memcpy(out, &a, 8);
	a = spam_hash((const char *)out, 8);
	memcpy(out + 8, &a, 8);
}

/* 1 when account_signals() will read the store for M. */
static int
signals_wanted(const struct policy_msg *m)
{
	return m->params->spam.signals && m->spam != NULL && m->spam->account != NULL &&
	    m->account != NULL && m->account[0] != '\0';
}

/* The account signals of M (policy/spam_signals.c over the store's counters). */
static void
account_signals(const struct policy_msg *m, const struct spam_tokens *t, struct spam_result *r)
{
	const struct policy_spam_params *sp = &m->params->spam;
	struct spam_signal_params sig;
	struct spam_acct_in in;
	struct spam_acct_facts f;
	char tmp[600];
	size_t i, k;

	if (!signals_wanted(m))
		return;
	memset(&in, 0, sizeof(in));
	in.account = m->account;
	in.now = now_wall_ms();
	in.window = sp->signal_window;
	in.alpha = 0.1;
	in.nrcpts = (uint32_t)m->nrcpts;
	for (i = 0; i < m->nrcpts && in.ndomains < SPAM_SIG_MAX_DOMAINS; i++) {
		const char *at = strrchr(m->rcpts[i], '@');
		unsigned char h[16];

		if (at == NULL || strlen(at) > 300)
			continue;
		snprintf(tmp, sizeof(tmp), "domain%s", at);	/* "domain@example.com" */
		keyed16(tmp, h);
		for (k = 0; k < in.ndomains; k++)
			if (memcmp(in.domain[k], h, 16) == 0)
				break;
		if (k == in.ndomains)
			memcpy(in.domain[in.ndomains++], h, 16);
	}
	if (m->client_addr != NULL && m->client_addr[0] != '\0' && strlen(m->client_addr) < 64) {
		/* "client@127-0-0-1.client.invalid": an address the index takes */
		size_t n = (size_t)snprintf(tmp, sizeof(tmp), "client@%s", m->client_addr);

		for (i = 7; i < n; i++)
			if (tmp[i] == '.' || tmp[i] == ':')
				tmp[i] = '-';
		str_copy(tmp + n, ".client.invalid", sizeof(tmp) - n);
		keyed16(tmp, in.client);
		in.have_client = 1;
	}
	in.template_h = t->template_h;
	if (m->spam->account(m->spam->arg, &in, &f) != 0)
		return;
	memset(&sig, 0, sizeof(sig));
	sig.window = sp->signal_window;
	sig.min_windows = sp->signal_min_windows;
	sig.spike_factor = sp->signal_spike_factor;
	sig.spike_weight = 2.0;
	sig.spike_new_domains_weight = sp->signal_spike_new_domains_weight;
	sig.new_client_weight = 1.0;
	sig.new_template_weight = 2.0;
	sig.max_domains = sp->signal_max_domains;
	spam_signals_symbols(&sig, &f, r);
}

int
spam_policy_stage(struct policy_msg *m, struct outcome *out)
{
	struct spam_rule rules[SPAM_MAX_RULES];
	struct spam_params p;
	struct spam_result r;
	struct spam_tokens t;

	outcome_ok(out);
	if (m->params == NULL || !m->params->spam.enabled)
		return 0;
	params_of(m, &p, rules);
	if (m->spam_q != NULL && m->spam_q->resumed) {
		/* second pass: the DNS answers are in */
		r = m->spam_q->res;
		dnsq_decode(m, m->spam_q, &r);
		return apply(m, &p, &r, out);
	}
	policy_msg_remove_field(m, SPAM_HEADER);
	spam_tokens_init(&t);
	/* only what the checks below read (spam_score_tokens() leaves out
	 * the hashes itself while the model is inactive) */
	if (m->params->spam.uribl.n == 0)
		t.skip |= SPAM_TOK_NO_DOMAINS;
	if (!signals_wanted(m))
		t.skip |= SPAM_TOK_NO_TEMPLATE;
	if (spam_score_tokens(m->spam, &p, m->data.data ? m->data.data : "", m->data.len, &r,
	    &t) != 0)
		log_warn("account=%s event=spam error=model_unreadable",
		    m->account && *m->account ? m->account : "-");
	near_duplicate(m, &r);
	account_signals(m, &t, &r);
	if (m->params->spam.dnsbl.n + m->params->spam.uribl.n > 0 && m->spam_q == NULL &&
	    (m->spam_q = dnsq_build(m, &t)) != NULL) {
		/* first pass: the relay looks the names up and runs us again */
		m->spam_q->res = r;
		spam_tokens_free(&t);
		out->kind = OUTCOME_PENDING;
		return 0;
	}
	spam_tokens_free(&t);
	return apply(m, &p, &r, out);
}
