/* SPDX-License-Identifier: ISC */
/*
 * cmd_spam.c: the daemon-side spam commands (issue 15, posternctl(8)
 * "spam ... --id"): train and score the daemon's model with messages
 * in the queue, by id, so a reviewer never handles the message text.
 *
 *   spam.learn  {"class":"spam"|"ham", "ids":[...], "forget":bool,
 *                "balanced":bool, "rejected":bool}     reviewer, audited
 *   spam.score  {"ids":[...]}                          reviewer
 *   spam.stats  {}                                     reviewer
 *
 * learn writes an intent audit record first (the model is an LMDB
 * environment of its own, outside the queue's transactions), then reads
 * and learns the bodies in the thread pool (spam_learn(), the API the
 * review workflow calls too): "balanced" applies the balance guard
 * (SPAM_LEARN_BALANCED), "rejected" also remembers the message's
 * near-duplicate fingerprint (spam_reject_fingerprint()).  The result
 * names how many were learned, declined by the guard, or not found.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "control_int.h"
#include "json.h"
#include "log.h"
#include "policy_params.h"
#include "queue.h"
#include "relay.h"
#include "spam.h"
#include "spamdb.h"
#include "util.h"

#define SPAM_CMD_MAX_IDS 1000
#define SPAM_CMD_MAX_RULES 64

struct spam_job {
	uv_work_t work;
	struct control_req *req;
	char (*ids)[QUEUE_ID_LEN + 1];
	size_t nids;
	int score;			/* spam.score instead of spam.learn */
	enum spam_class cls;
	unsigned flags;
	int rejected;
	struct spam_params params;
	struct spam_rule rules[SPAM_CMD_MAX_RULES];
	struct buf result;		/* JSON written on the pool thread */
	size_t learned, declined, missing, failed;
};

static void
spam_job_free(struct spam_job *jb)
{
	free(jb->ids);
	buf_free(&jb->result);
	free(jb);
}

/* Pool: read each body from the queue and learn or score it. */
static void
spam_work(uv_work_t *w)
{
	struct spam_job *jb = w->data;
	struct control_req *req = jb->req;
	struct json_out j;
	size_t i, k;

	json_out_init(&j, &jb->result);
	if (jb->score)
		json_arr_begin(&j);
	for (i = 0; i < jb->nids; i++) {
		struct buf body;
		int rc;

		buf_init(&body, 0);
		if ((rc = queue_read_body(req->queue, jb->ids[i], &body)) != 0) {
			buf_free(&body);
			jb->missing++;
			continue;
		}
		if (jb->score) {
			struct spam_result r;

			(void)spam_score(req->spam, &jb->params, body.data ? body.data : "", body.len, &r);
			json_obj_begin(&j);
			json_kv_str(&j, "id", jb->ids[i]);
			json_key(&j, "probability");
			if (r.probability >= 0) {
				char num[32];

				snprintf(num, sizeof(num), "%.6f", r.probability);
				json_raw(&j, num, strlen(num));
			} else {
				json_null(&j);
			}
			{
				char num[32];

				snprintf(num, sizeof(num), "%.2f", r.score);
				json_key(&j, "score");
				json_raw(&j, num, strlen(num));
			}
			json_key(&j, "symbols");
			json_arr_begin(&j);
			for (k = 0; k < r.nsym; k++) {
				char num[32];

				json_obj_begin(&j);
				json_kv_str(&j, "name", r.sym[k].name);
				snprintf(num, sizeof(num), "%.2f", r.sym[k].weight);
				json_key(&j, "weight");
				json_raw(&j, num, strlen(num));
				json_obj_end(&j);
			}
			json_arr_end(&j);
			json_kv_str(&j, "action", spam_straction(r.action));
			json_obj_end(&j);
		} else {
			rc = spam_learn(req->spam, body.data ? body.data : "", body.len, jb->cls, jb->flags);
			if (rc == 1)
				jb->declined++;
			else if (rc < 0)
				jb->failed++;
			else
				jb->learned++;
			if (rc == 0 && jb->rejected && jb->cls == SPAM_SPAM)
				(void)spam_reject_fingerprint(req->spam, body.data ? body.data : "", body.len);
		}
		buf_free(&body);
	}
	if (jb->score) {
		json_arr_end(&j);
		return;
	}
	json_obj_begin(&j);
	json_kv_uint(&j, "learned", jb->learned);
	json_kv_uint(&j, "declined", jb->declined);
	json_kv_uint(&j, "missing", jb->missing);
	json_kv_uint(&j, "failed", jb->failed);
	json_obj_end(&j);
}

static void
spam_after(uv_work_t *w, int status)
{
	struct spam_job *jb = w->data;
	struct control_req *req = jb->req;
	int rc = CONTROL_OK;

	if (status != 0)
		rc = control_error(req, CONTROL_FAIL, "spam: cancelled");
	else if (jb->failed > 0)
		rc = control_error(req, CONTROL_FAIL, "spam: %zu of %zu could not be written to the model",
		    jb->failed, jb->nids);
	else {
		json_raw(control_out(req), jb->result.data, jb->result.len);
		if (!jb->score)
			log_info("event=spam_learned class=%s learned=%zu declined=%zu missing=%zu by=%s",
			    jb->cls == SPAM_SPAM ? "spam" : "ham", jb->learned, jb->declined,
			    jb->missing, req->user);
	}
	spam_job_free(jb);
	control_finish(req, rc);
}

static void
spam_intent_done(void *arg, int status)
{
	struct spam_job *jb = arg;
	struct control_req *req = jb->req;

	if (status != 0) {
		spam_job_free(jb);
		control_finish(req, control_error(req, CONTROL_FAIL, "the audit record could not be "
		    "written, nothing was learned"));
		return;
	}
	jb->work.data = jb;
	if (uv_queue_work(req->loop, &jb->work, spam_work, spam_after) != 0) {
		spam_job_free(jb);
		control_finish(req, control_error(req, CONTROL_FAIL, "spam: cannot start the job"));
	}
}

/* The job for REQ's "ids"; NULL with the error set in REQ (*RC). */
static struct spam_job *
spam_job_new(struct control_req *req, int *rc)
{
	const struct json_value *ids = json_get(req->args, "ids");
	struct spam_job *jb;
	size_t i, n;

	if (req->loop == NULL || req->spam == NULL || req->queue == NULL) {
		*rc = control_error(req, CONTROL_FAIL, "this command needs a running posternd "
		    "with a spam model");
		return NULL;
	}
	if (ids == NULL || ids->type != JSON_ARRAY || ids->n == 0 || ids->n > SPAM_CMD_MAX_IDS) {
		*rc = control_error(req, CONTROL_USAGE, "ids: 1 to %d message ids", SPAM_CMD_MAX_IDS);
		return NULL;
	}
	jb = xcalloc(1, sizeof(*jb));
	jb->req = req;
	jb->ids = xcalloc(ids->n, sizeof(*jb->ids));
	for (i = 0; i < ids->n; i++) {
		const struct json_value *v = ids->items[i];

		if (v->type != JSON_STRING || v->slen != QUEUE_ID_LEN) {
			spam_job_free(jb);
			*rc = control_error(req, CONTROL_USAGE, "ids: not a message id");
			return NULL;
		}
		memcpy(jb->ids[jb->nids++], v->s, QUEUE_ID_LEN + 1);
	}
	n = (size_t)snprintf(req->target, sizeof(req->target), "%s", jb->ids[0]);
	if (jb->nids > 1 && n < sizeof(req->target))
		snprintf(req->target + n, sizeof(req->target) - n, " +%zu", jb->nids - 1);
	buf_init(&jb->result, 0);
	return jb;
}

static int
spam_cmd_learn(struct control_req *req, struct json_out *out)
{
	const char *cls = json_get_str(req->args, "class", NULL);
	struct spam_job *jb;
	int rc;

	(void)out;
	if (cls == NULL || (strcmp(cls, "spam") != 0 && strcmp(cls, "ham") != 0))
		return control_error(req, CONTROL_USAGE, "class must be spam or ham");
	if ((jb = spam_job_new(req, &rc)) == NULL)
		return rc;
	jb->cls = strcmp(cls, "spam") == 0 ? SPAM_SPAM : SPAM_HAM;
	jb->flags = (json_get_bool(req->args, "forget", 0) ? SPAM_LEARN_FORGET : 0) |
	    (json_get_bool(req->args, "balanced", 0) ? SPAM_LEARN_BALANCED : 0);
	jb->rejected = json_get_bool(req->args, "rejected", 0);
	if ((rc = control_audit_intent(req, spam_intent_done, jb)) != 0) {
		spam_job_free(jb);
		return control_error(req, CONTROL_FAIL, "the audit record could not be written (%s), "
		    "nothing was learned", strerror(-rc));
	}
	return CONTROL_ASYNC;
}

static int
spam_cmd_score(struct control_req *req, struct json_out *out)
{
	struct policy_params pp;
	struct spam_job *jb;
	char err[128];
	size_t i;
	int rc;

	(void)out;
	if ((jb = spam_job_new(req, &rc)) == NULL)
		return rc;
	jb->score = 1;
	policy_params_from_config(&pp, req->cfg);
	jb->params.tag_score = pp.spam.tag_score;
	jb->params.hold_score = pp.spam.hold_score;
	jb->params.reject_score = pp.spam.reject_score;
	jb->params.min_learned = pp.spam.min_learned;
	for (i = 0; i < pp.spam.rules.n && jb->params.nrules < SPAM_CMD_MAX_RULES; i++)
		if (spam_rule_parse(pp.spam.rules.items[i], &jb->rules[jb->params.nrules], err,
		    sizeof(err)) == 0)
			jb->params.nrules++;
	jb->params.rules = jb->rules;	/* borrowed from req->cfg, held for the request */
	jb->work.data = jb;
	if (uv_queue_work(req->loop, &jb->work, spam_work, spam_after) != 0) {
		spam_job_free(jb);
		return control_error(req, CONTROL_FAIL, "spam: cannot start the job");
	}
	return CONTROL_ASYNC;
}

static int
spam_cmd_stats(struct control_req *req, struct json_out *out)
{
	struct spamdb_stats s;
	int rc;

	if (req->spamdb == NULL)
		return control_error(req, CONTROL_FAIL, "posternd has no spam model");
	if ((rc = spamdb_stats(req->spamdb, &s)) != 0)
		return control_error(req, CONTROL_FAIL, "spam stats: %s", strerror(-rc));
	json_obj_begin(out);
	json_kv_uint(out, "tokens", s.tokens);
	json_kv_uint(out, "spam", s.nspam);
	json_kv_uint(out, "ham", s.nham);
	json_kv_uint(out, "map_size", s.map_size);
	json_kv_uint(out, "file_size", s.file_size);
	json_kv_uint(out, "oldest", s.oldest);
	json_obj_end(out);
	return CONTROL_OK;
}

static const struct control_cmd spam_cmds[] = {
	{ "spam.learn", CONTROL_ROLE_OPERATOR, 1, spam_cmd_learn },
	{ "spam.score", CONTROL_ROLE_OPERATOR, 0, spam_cmd_score },
	{ "spam.stats", CONTROL_ROLE_OPERATOR, 0, spam_cmd_stats },
};

void
cmd_spam_register(void)
{
	control_register(spam_cmds, ARRAY_SIZE(spam_cmds));
}
