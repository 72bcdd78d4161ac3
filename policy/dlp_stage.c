/* SPDX-License-Identifier: ISC */
/*
 * dlp_stage.c: the sensitive-data EOM policy stage (issue 7, DESIGN §7).
 *
 * Runs in the thread pool on one struct policy_msg, before DKIM
 * signing: parses the message (policy/mime.c) within the configured
 * limits, scans the Subject, filenames and every text part
 * (policy/dlp.c), then applies, per type found, the action of the
 * account (m->acct->dlp_action[], its typed policy) or else the
 * global postern.conf key of the same name.  The strongest action
 * decides the outcome: reject (550 5.7.1 naming the types, so the
 * message is never queued) > hold (m->hold) > redact (m->data
 * rewritten in place, policy/redact.c) > tag (an X-Postern-DLP: header
 * with the types and counts, added to m->hdrs).  A client-supplied
 * X-Postern-DLP field is removed first (in place) so the header cannot
 * be forged.  The message is never copied here.  Findings go to m->verdicts as
 * JSON (type, part, offset, confidence, action) and logs carry types
 * and counts: never a value.  A MIME limit hit holds or rejects per
 * mime_limit_action.
 */
#include "autoconfig.h"

#include <string.h>

#include "dlp.h"
#include "log.h"
#include "mime.h"
#include "policy.h"
#include "util.h"

#define DLP_HEADER "X-Postern-DLP"
#define MAX_VERDICTS 100

/* The action for TYPE: the account's policy first, then postern.conf. */
static enum dlp_action
action_for(const struct policy_msg *m, enum dlp_type type)
{
	int global = -1;	/* enum dlp_action; the config key when the account sets none */

	if (m->acct != NULL && (int)type < ACCOUNT_DLP_NTYPES &&
	    m->acct->dlp_action[type] != ACCOUNT_UNSET)
		return (enum dlp_action)m->acct->dlp_action[type];
	if (m->params != NULL) {
		switch (type) {
		case DLP_CARD:
			global = m->params->dlp.action_card;
			break;
		case DLP_CARD_TEST:
			global = m->params->dlp.action_card_test;
			break;
		case DLP_SSN:
			global = m->params->dlp.action_ssn;
			break;
		case DLP_IBAN:
			global = m->params->dlp.action_iban;
			break;
		default:
			break;
		}
	}
	if (global >= 0)
		return (enum dlp_action)global;
	return type == DLP_CARD_TEST ? DLP_IGNORE : DLP_TAG;
}

struct scan_ctx {
	struct dlp_findings f;
};

static void
scan_part(void *arg, const struct mime_part *part, const char *text, size_t len)
{
	struct scan_ctx *c = arg;

	dlp_scan(text, len, part->no, &c->f);
}

static void
limits_of(const struct policy_params *p, struct mime_limits *lim)
{
	lim->max_depth = p ? p->dlp.mime_max_depth : 10;
	lim->max_parts = p ? p->dlp.mime_max_parts : 500;
	lim->max_decoded = p ? p->dlp.mime_max_decoded_size : 100u << 20;
}

/* "card=2, ssn=1" for the types whose action satisfies WANT. */
static void
type_list(const struct dlp_findings *f, const enum dlp_action *act, int min_action,
    int only, char *out, size_t outlen)
{
	size_t t, n = 0;

	out[0] = '\0';
	for (t = 0; t < DLP_NTYPES; t++) {
		if (f->count[t] == 0 || (only ? (int)act[t] != min_action : (int)act[t] < min_action))
			continue;
		n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s=%zu",
		    n ? ", " : "", dlp_strtype((enum dlp_type)t), f->count[t]);
		if (n >= outlen) {
			out[outlen - 1] = '\0';
			return;
		}
	}
}

int
dlp_policy_stage(struct policy_msg *m, struct outcome *out)
{
	struct scan_ctx c;
	struct mime_limits lim;
	struct mime_parser *p;
	enum mime_limit limit;
	enum dlp_action act[DLP_NTYPES], worst = DLP_IGNORE;
	unsigned redact_mask = 0;
	char list[256], obj[256];
	size_t t, i;

	outcome_ok(out);
	limits_of(m->params, &lim);
	policy_msg_remove_field(m, DLP_HEADER);
	dlp_findings_init(&c.f);
	p = mime_new(&lim, scan_part, &c);
	(void)mime_feed(p, m->data.data ? m->data.data : "", m->data.len);
	(void)mime_finish(p);
	limit = mime_limit_hit(p);
	mime_free(p);

	for (t = 0; t < DLP_NTYPES; t++) {
		act[t] = action_for(m, (enum dlp_type)t);
		if (c.f.count[t] > 0 && act[t] > worst)
			worst = act[t];
		if (c.f.count[t] > 0 && act[t] == DLP_REDACT)
			redact_mask |= 1u << t;
	}
	for (i = 0; i < c.f.n && i < MAX_VERDICTS; i++) {
		const struct dlp_finding *d = &c.f.v[i];

		snprintf(obj, sizeof(obj), "{\"stage\":\"dlp\",\"type\":\"%s\",\"part\":%u,"
		    "\"offset\":%zu,\"confidence\":%u,\"action\":\"%s\"}", dlp_strtype(d->type),
		    d->part, d->offset, d->confidence, dlp_straction(act[d->type]));
		policy_msg_add_verdict(m, obj);
	}

	if (limit != MIME_LIMIT_NONE) {
		int hold = m->params != NULL && m->params->dlp.mime_limit_hold;

		snprintf(obj, sizeof(obj), "{\"stage\":\"mime\",\"limit\":\"%s\",\"action\":\"%s\"}",
		    mime_strlimit(limit), hold ? "hold" : "reject");
		policy_msg_add_verdict(m, obj);
		log_info("event=mime_limit limit=%s action=%s", mime_strlimit(limit),
		    hold ? "hold" : "reject");
		if (!hold) {
			outcome_reply(out, R_MIME_LIMITS, mime_strlimit(limit));
			dlp_findings_free(&c.f);
			return 0;
		}
		m->hold = 1;
	}

	if (worst == DLP_IGNORE) {
		dlp_findings_free(&c.f);
		return 0;
	}
	type_list(&c.f, act, DLP_TAG, 0, list, sizeof(list));
	/* The stage has no queue id yet: the account identifies the sender. */
	log_info("account=%s event=dlp found=\"%s\" action=%s",
	    m->account && *m->account ? m->account : "-", list, dlp_straction(worst));
	if (worst == DLP_REJECT) {
		/* RFC 3463 5.7.1: delivery not authorised, message refused. */
		type_list(&c.f, act, DLP_REJECT, 1, list, sizeof(list));
		outcome_reply(out, R_SENSITIVE_DATA, list);
		dlp_findings_free(&c.f);
		return 0;
	}
	if (worst == DLP_HOLD)
		m->hold = 1;
	if (redact_mask != 0)
		(void)dlp_redact_in_place(&m->data, &lim, redact_mask, NULL);
	type_list(&c.f, act, DLP_TAG, 1, list, sizeof(list));
	if (list[0] != '\0') {
		char hdr[sizeof(list) + 32];
		int n = snprintf(hdr, sizeof(hdr), "%s: %s\r\n", DLP_HEADER, list);

		policy_msg_prepend(m, hdr, (size_t)n < sizeof(hdr) ? (size_t)n : sizeof(hdr) - 1);
	}
	dlp_findings_free(&c.f);
	return 0;
}
