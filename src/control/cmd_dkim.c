/* SPDX-License-Identifier: ISC */
/*
 * cmd_dkim.c: the daemon-side dkim.generate, dkim.rotate and
 * dkim.remove control commands (operator role), registered by
 * control_commands_register(); `posternctl dkim generate|rotate|remove`
 * (src/ctl/ctl_dkim.c) sends them.  DKIM key changes go through posternd
 * so they are audited like every other change (DESIGN.md §9) and keys
 * are made where they are used: the private key is generated and
 * written by the daemon (as its own user, mode 0600) and never crosses
 * the socket; the result carries only selectors, metadata and the
 * public TXT record to publish.
 *
 * The key store is files (policy/dkim_keys.c, include/dkim.h), not
 * LMDB, so its changes cannot share a transaction with their audit
 * record.  They are written ahead instead: the handler first commits an
 * audit record with "phase":"intent" (who, what, target), and only once
 * it is durable touches the key directory; the usual result record
 * follows when the command finishes (control.c).  A crash in between
 * leaves an intent record without a result, never a change without a
 * record.  The file work (RSA generation takes a while) runs on the uv
 * thread pool under the key directory's lock file, so the loop never
 * waits for it and concurrent commands are serialised.
 *
 * `dkim list`, `dkim dns` and `domain check` stay read-only client
 * commands (they read the key directory directly, also offline).
 */
#include "autoconfig.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "control_int.h"
#include "dkim.h"
#include "json.h"
#include "log.h"
#include "policy_params.h"
#include "relay.h"
#include "util.h"

enum dkim_op { DKIM_OP_GENERATE, DKIM_OP_ROTATE, DKIM_OP_REMOVE };

/* One dkim.* request in flight (loop -> pool -> loop). */
struct dkim_job {
	uv_work_t work;
	struct control_req *req;	/* borrowed until control_finish() */
	enum dkim_op op;
	char dir[PATH_MAX];
	char domain[DKIM_DOMAIN_MAX];
	char selector[DKIM_SELECTOR_MAX];
	enum dkimsign_alg alg;
	int had_alg;
	int bits;
	/* results (pool thread) */
	int failed;
	char err[PATH_MAX + 128];
	struct buf result;		/* JSON object for the response */
};

/* Take the writers' lock on DIR (created 0700 with its parents when
 * missing); the fd, or -1 with ERR. */
static int
dkim_lock_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	size_t i;
	int fd;

	for (i = 1; i < sizeof(path) && dir[i]; i++) {
		if (dir[i] != '/')
			continue;
		snprintf(path, sizeof(path), "%.*s", (int)i, dir);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 || flock(fd, LOCK_EX) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* Append KEY's public view (metadata and the TXT record) to J. */
static void
dkim_key_json(struct json_out *j, const struct dkimsign_keystore *ks,
    const struct dkimsign_key *k)
{
	char name[DKIM_SELECTOR_MAX + DKIM_DOMAIN_MAX + 16], err[PATH_MAX + 128];
	struct buf txt, zone;

	buf_init(&txt, 0);
	buf_init(&zone, 0);
	snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, k->domain);
	json_obj_begin(j);
	json_kv_str(j, "domain", k->domain);
	json_kv_str(j, "selector", k->selector);
	json_kv_str(j, "algorithm", dkimsign_strealg(k->alg));
	json_kv_int(j, "bits", k->bits);
	json_kv_bool(j, "active", k->active);
	json_kv_str(j, "name", name);
	if (dkimsign_key_txt(ks, k, &txt, err, sizeof(err)) == 0) {
		dkimsign_txt_zone_line(name, txt.data, &zone);
		json_kv_str(j, "txt", txt.data);
		json_kv_str(j, "zone", zone.data);
	} else
		json_kv_str(j, "txt_error", err);
	json_obj_end(j);
	buf_free(&txt);
	buf_free(&zone);
}

/* generate: one key; a second active key of one algorithm waits for rotate. */
static int
dkim_do_generate(struct dkim_job *jb, struct dkimsign_keystore *ks, struct json_out *j)
{
	const char *sel = jb->selector[0] ? jb->selector : NULL;
	struct dkimsign_key *k;
	int active = 1;
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (strcasecmp(ks->keys[i].domain, jb->domain) == 0 && ks->keys[i].alg == jb->alg &&
		    ks->keys[i].active)
			active = 0;
	if ((k = dkimsign_key_generate(ks, jb->domain, sel, jb->alg, jb->bits, active,
	    jb->err, sizeof(jb->err))) == NULL)
		return -1;
	str_copy(jb->selector, k->selector, sizeof(jb->selector));
	if (dkimsign_keystore_save(ks, jb->err, sizeof(jb->err)) == -1)
		return -1;
	if ((k = dkimsign_keystore_find(ks, jb->domain, jb->selector)) == NULL) {
		snprintf(jb->err, sizeof(jb->err), "the new key vanished from the store");
		return -1;
	}
	json_key(j, "keys");
	json_arr_begin(j);
	dkim_key_json(j, ks, k);
	json_arr_end(j);
	return 0;
}

/* rotate: one new active key per algorithm in use (RSA for a domain
 * without keys, or just --algorithm); old keys stay listed. */
static int
dkim_do_rotate(struct dkim_job *jb, struct dkimsign_keystore *ks, struct json_out *j)
{
	int algs[2] = { 0, 0 }, bitsof[2] = { jb->bits, 256 }, a, any = 0;
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (strcasecmp(ks->keys[i].domain, jb->domain) == 0 && ks->keys[i].active) {
			algs[ks->keys[i].alg] = 1;
			if (ks->keys[i].alg == DKIMSIGN_ALG_RSA && !jb->had_alg)
				bitsof[0] = ks->keys[i].bits;
			any = 1;
		}
	if (jb->had_alg) {
		algs[0] = algs[1] = 0;
		algs[jb->alg] = 1;
	} else if (!any)
		algs[DKIMSIGN_ALG_RSA] = 1;
	for (a = 0; a < 2; a++)
		if (algs[a] && dkimsign_key_generate(ks, jb->domain, NULL, (enum dkimsign_alg)a,
		    bitsof[a], 1, jb->err, sizeof(jb->err)) == NULL)
			return -1;
	if (dkimsign_keystore_save(ks, jb->err, sizeof(jb->err)) == -1)
		return -1;
	json_key(j, "keys");
	json_arr_begin(j);
	for (i = 0; i < ks->n; i++)
		if (strcasecmp(ks->keys[i].domain, jb->domain) == 0 && ks->keys[i].active)
			dkim_key_json(j, ks, &ks->keys[i]);
	json_arr_end(j);
	return 0;
}

/* Pool thread: the whole file transaction under the directory lock. */
static void
dkim_work(uv_work_t *w)
{
	struct dkim_job *jb = w->data;
	struct dkimsign_keystore *ks = NULL;
	struct json_out j;
	int fd, rc = -1;

	if ((fd = dkim_lock_dir(jb->dir, jb->err, sizeof(jb->err))) == -1) {
		jb->failed = 1;
		return;
	}
	json_out_init(&j, &jb->result);
	json_obj_begin(&j);
	json_kv_str(&j, "domain", jb->domain);
	if (dkimsign_keystore_load(jb->dir, 0, &ks, jb->err, sizeof(jb->err)) == 0) {
		switch (jb->op) {
		case DKIM_OP_GENERATE:
			rc = dkim_do_generate(jb, ks, &j);
			break;
		case DKIM_OP_ROTATE:
			rc = dkim_do_rotate(jb, ks, &j);
			break;
		case DKIM_OP_REMOVE:
			json_kv_str(&j, "selector", jb->selector);
			if ((rc = dkimsign_key_remove(ks, jb->domain, jb->selector, jb->err,
			    sizeof(jb->err))) == 0)
				rc = dkimsign_keystore_save(ks, jb->err, sizeof(jb->err));
			break;
		}
	}
	json_obj_end(&j);
	dkimsign_keystore_free(ks);
	close(fd);
	jb->failed = rc != 0;
}

static void
dkim_job_free(struct dkim_job *jb)
{
	buf_free(&jb->result);
	free(jb);
}

/* Loop: answer with the result written on the pool thread. */
static void
dkim_after(uv_work_t *w, int status)
{
	struct dkim_job *jb = w->data;
	struct control_req *req = jb->req;
	int rc = CONTROL_OK;

	if (status != 0)
		rc = control_error(req, CONTROL_FAIL, "dkim: cancelled");
	else if (jb->failed)
		rc = control_error(req, CONTROL_FAIL, "%s", jb->err);
	else {
		json_raw(control_out(req), jb->result.data, jb->result.len);
		log_info("event=dkim_%s domain=%s selector=%s by=%s",
		    jb->op == DKIM_OP_GENERATE ? "generated" : jb->op == DKIM_OP_ROTATE ?
		    "rotated" : "removed", jb->domain, jb->selector[0] ? jb->selector : "-",
		    req->user);
		if (jb->op == DKIM_OP_GENERATE && jb->selector[0] && strchr(req->target, ' ') == NULL) {
			size_t n = strlen(req->target);

			if (n + 1 + strlen(jb->selector) < sizeof(req->target)) {
				req->target[n] = ' ';
				str_copy(req->target + n + 1, jb->selector, sizeof(req->target) - n - 1);
			}
		}
	}
	dkim_job_free(jb);
	control_finish(req, rc);
}

/* Loop: the intent record is durable (or not): go on with the files. */
static void
dkim_intent_done(void *arg, int status)
{
	struct dkim_job *jb = arg;
	struct control_req *req = jb->req;

	if (status != 0) {
		dkim_job_free(jb);
		control_finish(req, control_error(req, CONTROL_FAIL, "the audit record could not be "
		    "written, nothing was changed"));
		return;
	}
	jb->work.data = jb;
	if (uv_queue_work(req->loop, &jb->work, dkim_work, dkim_after) != 0) {
		dkim_job_free(jb);
		control_finish(req, control_error(req, CONTROL_FAIL, "dkim: cannot start the job"));
	}
}

static int
dkim_cmd(struct control_req *req, enum dkim_op op)
{
	const char *domain = json_get_str(req->args, "domain", NULL);
	const char *sel = json_get_str(req->args, "selector", NULL);
	const char *alg = json_get_str(req->args, "algorithm", NULL);
	struct dkim_job *jb;
	struct policy_params pp;
	int64_t bits = json_get_int(req->args, "bits", 2048);
	int rc;

	if (domain == NULL || !dkimsign_valid_domain(domain))
		return control_error(req, CONTROL_USAGE, "invalid domain %s", domain ? domain : "(none)");
	if (op == DKIM_OP_REMOVE && sel == NULL)
		return control_error(req, CONTROL_USAGE, "dkim.remove: a selector is required");
	snprintf(req->target, sizeof(req->target), "%s%s%s", domain, sel ? " " : "", sel ? sel : "");
	if (sel != NULL && (op == DKIM_OP_ROTATE || !dkimsign_valid_selector(sel)))
		return control_error(req, CONTROL_USAGE, "invalid selector %s", sel);
	jb = xcalloc(1, sizeof(*jb));
	jb->req = req;
	jb->op = op;
	jb->alg = DKIMSIGN_ALG_RSA;
	if (alg != NULL) {
		if (op == DKIM_OP_REMOVE || dkimsign_parse_alg(alg, &jb->alg) == -1) {
			free(jb);
			return control_error(req, CONTROL_USAGE, "algorithm must be rsa or ed25519");
		}
		jb->had_alg = 1;
	}
	if (jb->alg == DKIMSIGN_ALG_RSA && (bits < 1024 || bits > 8192)) {
		free(jb);
		return control_error(req, CONTROL_USAGE, "bits must be 1024..8192");
	}
	jb->bits = (int)bits;
	str_copy(jb->domain, domain, sizeof(jb->domain));
	if (sel != NULL)
		str_copy(jb->selector, sel, sizeof(jb->selector));
	if (req->loop == NULL) {
		free(jb);
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	}
	policy_params_from_config(&pp, req->cfg);
	dkimsign_key_directory(&pp.dkim, jb->dir, sizeof(jb->dir));
	buf_init(&jb->result, 0);
	if ((rc = control_audit_intent(req, dkim_intent_done, jb)) != 0) {
		dkim_job_free(jb);
		return control_error(req, CONTROL_FAIL, "the audit record could not be written (%s), "
		    "nothing was changed", strerror(-rc));
	}
	return CONTROL_ASYNC;
}

static int dkim_cmd_generate(struct control_req *r, struct json_out *o) { (void)o; return dkim_cmd(r, DKIM_OP_GENERATE); }
static int dkim_cmd_rotate(struct control_req *r, struct json_out *o) { (void)o; return dkim_cmd(r, DKIM_OP_ROTATE); }
static int dkim_cmd_remove(struct control_req *r, struct json_out *o) { (void)o; return dkim_cmd(r, DKIM_OP_REMOVE); }

static const struct control_cmd dkim_cmds[] = {
	{ "dkim.generate", CONTROL_ROLE_OPERATOR, 1, dkim_cmd_generate },
	{ "dkim.rotate", CONTROL_ROLE_OPERATOR, 1, dkim_cmd_rotate },
	{ "dkim.remove", CONTROL_ROLE_OPERATOR, 1, dkim_cmd_remove },
};

void
cmd_dkim_register(void)
{
	control_register(dkim_cmds, ARRAY_SIZE(dkim_cmds));
}
