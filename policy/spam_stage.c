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

#include "crypto.h"
#include "log.h"
#include "policy.h"
#include "spam.h"
#include "util.h"

#define SPAM_HEADER "X-Postern-Spam"
#define SPAM_MAX_RULES 64

/* Remove every top-level header field named NAME (in place). */
static void
strip_field(struct buf *data, const char *name)
{
	size_t nl = strlen(name), i = 0;

	while (i < data->len) {
		const char *eol = memchr(data->data + i, '\n', data->len - i);
		size_t next = eol ? (size_t)(eol - data->data) + 1 : data->len, e;

		if (data->data[i] == '\r' || data->data[i] == '\n')
			return;	/* the empty line */
		if (next - i > nl && data->data[i + nl] == ':'
		    && mem_casecmp(data->data + i, name, nl) == 0) {
			e = next;
			while (e < data->len && (data->data[e] == ' ' || data->data[e] == '\t')) {
				eol = memchr(data->data + e, '\n', data->len - e);
				e = eol ? (size_t)(eol - data->data) + 1 : data->len;
			}
			memmove(data->data + i, data->data + e, data->len - e);
			data->len -= e - i;
			data->data[data->len] = '\0';
			continue;
		}
		i = next;
	}
}

/* Account threshold (milli-points, ACCOUNT_UNSET: global) or GLOBAL. */
static double
threshold(int64_t acct, double global)
{
	return acct >= 0 ? (double)acct / 1000.0 : global;
}

static void
verdict_append(struct buf *b, const struct spam_result *r, enum spam_action act)
{
	size_t i;

	if (b->len >= 2 && b->data[b->len - 1] == ']') {
		b->len--;
		if (b->len > 1)
			(void)buf_append(b, ",", 1);
	} else {
		buf_reset(b);
		(void)buf_append(b, "[", 1);
	}
	(void)buf_printf(b, "{\"stage\":\"spam\",\"score\":%.2f,", r->score);
	if (r->probability >= 0)
		(void)buf_printf(b, "\"probability\":%.4f,", r->probability);
	(void)buf_append_str(b, "\"symbols\":[");
	for (i = 0; i < r->nsym; i++)
		(void)buf_printf(b, "%s{\"name\":\"%s\",\"weight\":%.2f}", i ? "," : "",
		    r->sym[i].name, r->sym[i].weight);
	(void)buf_printf(b, "],\"action\":\"%s\"}]", spam_straction(act));
	b->data[b->len] = '\0';
}

int
spam_policy_stage(struct policy_msg *m, struct outcome *out)
{
	const struct policy_spam_params *sp = m->params ? &m->params->spam : NULL;
	struct spam_rule rules[SPAM_MAX_RULES];
	struct spam_params p;
	struct spam_result r;
	struct buf line;
	char err[128];
	size_t i;

	outcome_ok(out);
	if (m->params == NULL || !sp->enabled)
		return 0;
	strip_field(&m->data, SPAM_HEADER);
	memset(&p, 0, sizeof(p));
	p.tag_score = sp->tag_score;
	p.hold_score = sp->hold_score;
	p.reject_score = sp->reject_score;
	p.min_learned = sp->min_learned;
	if (m->acct != NULL) {
		p.tag_score = threshold(m->acct->spam_tag_score, p.tag_score);
		p.hold_score = threshold(m->acct->spam_hold_score, p.hold_score);
		p.reject_score = threshold(m->acct->spam_reject_score, p.reject_score);
	}
	for (i = 0; i < sp->rules.n && p.nrules < SPAM_MAX_RULES; i++)
		if (spam_rule_parse(sp->rules.items[i], &rules[p.nrules], err, sizeof(err)) == 0)
			p.nrules++;	/* daemon_check() refused bad ones already */
	p.rules = rules;
	if (spam_score(m->spam, &p, m->data.data ? m->data.data : "", m->data.len, &r) != 0)
		log_warn("account=%s event=spam error=model_unreadable",
		    m->account && *m->account ? m->account : "-");
	verdict_append(&m->verdicts, &r, r.action);
	buf_init(&line, 0);
	spam_result_format(&r, &line);
	if (r.action == SPAM_ACT_NONE) {
		log_debug("account=%s event=spam %s action=none",
		    m->account && *m->account ? m->account : "-", line.data ? line.data : "");
		buf_free(&line);
		return 0;
	}
	if (r.action == SPAM_ACT_REJECT) {
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
	    m->account && *m->account ? m->account : "-", line.data, spam_straction(r.action));
	{
		struct buf hdr;

		buf_init(&hdr, 0);
		(void)buf_printf(&hdr, "%s: %s\r\n", SPAM_HEADER, line.data);
		policy_msg_prepend(m, hdr.data, hdr.len);
		buf_free(&hdr);
	}
	if (r.action == SPAM_ACT_HOLD)
		m->hold = 1;
	buf_free(&line);
	return 0;
}
