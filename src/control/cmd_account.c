/* SPDX-License-Identifier: ISC */
/*
 * cmd_account.c: the daemon-side account.* control commands
 * (include/control.h), registered by control_commands_register();
 * posternctl's `account` group (src/ctl/ctl_account.c) sends them.
 *
 * Records are key=value text in the queue's accounts table, parsed and
 * formatted by src/account/account.c.  The password never reaches the
 * daemon: posternctl sends only the scrypt hash.  `account.delete`
 * removes the record and shreds the account's data key in one
 * transaction (queue_account_delete), so its remaining mail is
 * unreadable.  show and list are read-only and also run offline in
 * posternctl on a read-only queue; every other command needs posternd
 * and commits its audit record with its change (control_audit_txn).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "buf.h"
#include "control.h"
#include "control_int.h"
#include "crypto.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "suppress.h"
#include "util.h"


/* Write the public view of A (never the password hash), with SC's
 * suppression counts when not NULL (account show). */
static void
account_json(struct json_out *j, const struct account *a, const struct suppress_counts *sc)
{
	const char *p, *end;
	size_t i;

	json_obj_begin(j);
	json_kv_str(j, "name", a->name);
	json_kv_str(j, "status", account_strstatus(a->pol.suspended ? ACCOUNT_SUSPENDED :
	    a->pol.status));
	json_key(j, "domains");
	json_arr_begin(j);
	for (i = 0; i < a->pol.ndomains; i++)
		json_str(j, a->pol.domains[i]);
	json_arr_end(j);
	json_kv_uint(j, "max_message_size", a->pol.max_message_size);
	json_kv_int(j, "max_recipients", a->pol.max_recipients);
	json_kv_int(j, "hourly_rate", a->pol.hourly_rate);
	json_kv_uint(j, "created", a->created);
	json_kv_bool(j, "has_password", a->password[0] != '\0');
	json_key(j, "overrides");
	json_obj_begin(j);
	p = a->extra.data;
	end = p ? p + a->extra.len : NULL;
	while (p != NULL && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		const char *eq = memchr(p, '=', len);

		if (eq != NULL) {
			char *k = xstrndup(p, (size_t)(eq - p));

			json_key(j, k);
			json_strn(j, eq + 1, len - (size_t)(eq - p) - 1);
			free(k);
		}
		p = eol ? eol + 1 : end;
	}
	json_obj_end(j);
	if (sc != NULL) {
		json_key(j, "suppressions");
		json_obj_begin(j);
		for (i = 0; i < SUPPRESS_NREASONS; i++)
			json_kv_uint(j, suppress_strreason((enum suppress_reason)i), sc->entries[i]);
		json_kv_uint(j, "expired", sc->expired);
		json_kv_uint(j, "added", sc->added);
		json_kv_uint(j, "hits", sc->hits);
		json_kv_uint(j, "removed", sc->removed);
		json_obj_end(j);
	}
	json_obj_end(j);
}

/* The record read, for the write back (account_cmd_store): only over it. */
struct read_rec {
	char *text;
	size_t len;
};

static void
read_rec_free(struct read_rec *rr)
{
	if (rr->text != NULL)
		crypto_wipe(rr->text, rr->len);
	free(rr->text);
	rr->text = NULL;
}

static int
account_cmd_load_rec(struct control_req *req, const char *name, struct account **out,
    struct read_rec *rr)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (name == NULL || !account_name_valid(name))
		return control_error(req, CONTROL_USAGE, "invalid account name");
	str_copy(req->target, name, sizeof(req->target));
	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	rc = queue_kv_get(req->queue, QUEUE_T_ACCOUNTS, name, &text, &len);
	if (rc == -ENOENT)
		return control_error(req, CONTROL_FAIL, "no such account: %s", name);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot read account %s: %s", name,
		    strerror(-rc));
	*out = account_parse(text, len);
	if (rr != NULL && *out != NULL) {
		rr->text = text;
		rr->len = len;
	} else {
		crypto_wipe(text, len);
		free(text);
	}
	if (*out == NULL)
		return control_error(req, CONTROL_FAIL, "account %s: malformed record", name);
	return CONTROL_OK;
}

static int
account_cmd_load(struct control_req *req, const char *name, struct account **out)
{
	return account_cmd_load_rec(req, name, out, NULL);
}

/* Apply the optional fields of ARGS (domains, limits, overrides) to A. */
static int
account_cmd_apply(struct control_req *req, struct account *a, const struct json_value *args)
{
	const struct json_value *v;
	int64_t n;
	size_t i;

	if ((v = json_get(args, "domains")) != NULL) {
		struct account tmp;

		if (v->type != JSON_ARRAY)
			return control_error(req, CONTROL_USAGE, "domains must be a list");
		memset(&tmp, 0, sizeof(tmp));
		for (i = 0; i < v->n; i++) {
			if (v->items[i]->type != JSON_STRING ||
			    account_add_domain(&tmp, v->items[i]->s) != 0) {
				size_t k;

				for (k = 0; k < tmp.pol.ndomains; k++)
					free(tmp.pol.domains[k]);
				free(tmp.pol.domains);
				return control_error(req, CONTROL_USAGE, "invalid domain: %s",
				    v->items[i]->type == JSON_STRING ? v->items[i]->s : "?");
			}
		}
		for (i = 0; i < a->pol.ndomains; i++)
			free(a->pol.domains[i]);
		free(a->pol.domains);
		a->pol.domains = tmp.pol.domains;
		a->pol.ndomains = tmp.pol.ndomains;
	}
	if ((n = json_get_int(args, "max_message_size", -1)) >= 0)
		a->pol.max_message_size = (uint64_t)n;
	if ((n = json_get_int(args, "max_recipients", -1)) >= 0)
		a->pol.max_recipients = n;
	if ((n = json_get_int(args, "hourly_rate", -1)) >= 0)
		a->pol.hourly_rate = n;
	if ((v = json_get(args, "overrides")) != NULL) {
		if (v->type != JSON_OBJECT)
			return control_error(req, CONTROL_USAGE, "overrides must be an object");
		for (i = 0; i < v->n; i++) {
			const char *val = v->items[i]->type == JSON_STRING ? v->items[i]->s : NULL;

			char why[256];

			/* the same check posternctl made: a raw request cannot store garbage */
			if (account_setting_check(v->keys[i], val && *val ? val : NULL, why,
			    sizeof(why)) != 0 ||
			    account_set_extra(a, v->keys[i], val && *val ? val : NULL) != 0)
				return control_error(req, CONTROL_USAGE, "invalid setting: %s", why);
		}
	}
	return CONTROL_OK;
}

static void
account_cmd_stored(void *arg, const struct outcome *o)
{
	struct control_req *req = arg;

	/* a tempfail is a transaction that failed, with its audit record:
	 * that goes in when the command finishes; but a refusal over a
	 * changed record (queue_kv_put_if) was committed with its record
	 * by the writer, and a second one would say it failed twice */
	if (o->kind != OUTCOME_TEMPFAIL || outcome_is(o, R_CHANGED_MEANWHILE))
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		control_error(req, CONTROL_FAIL, "cannot store the account: %s", o->text);
		control_finish(req, CONTROL_FAIL);
		return;
	}
	control_finish(req, CONTROL_OK);
}

/*
 * Store A and answer with its public view once it is durable, only
 * over the record RR read (RR NULL: only if there is still none): a
 * change the writer applied meanwhile (an automatic status move from a
 * delivery or SMTP loop, another command) is not undone by this stale
 * copy; the command fails and says so instead.
 */
static int
account_cmd_store(struct control_req *req, struct json_out *out, struct account *a,
    struct read_rec *rr)
{
	char *text;
	size_t len;
	int rc;

	text = account_format(a, &len);
	account_json(out, a, NULL);
	rc = queue_kv_put_if(req->queue, QUEUE_T_ACCOUNTS, a->name, text, len,
	    rr != NULL ? rr->text : NULL, rr != NULL ? rr->len : 0,
	    control_audit_txn(req, 0), account_cmd_stored, req);
	if (rr != NULL)
		read_rec_free(rr);
	crypto_wipe(text, len);
	free(text);
	account_free(a);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot store the account: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
account_cmd_hash_ok(const char *hash)
{
	return hash != NULL && strlen(hash) <= ACCOUNT_HASH_MAX &&
	    strncmp(hash, "scrypt$", 7) == 0 && strchr(hash, '\n') == NULL;
}

static int
account_cmd_add(struct control_req *req, struct json_out *out)
{
	const char *name = json_get_str(req->args, "name", NULL);
	const char *hash = json_get_str(req->args, "password_hash", NULL);
	struct account *a;
	char *text = NULL;
	size_t len;
	int rc;

	if (name == NULL || !account_name_valid(name))
		return control_error(req, CONTROL_USAGE, "invalid account name");
	str_copy(req->target, name, sizeof(req->target));
	if (!account_cmd_hash_ok(hash))
		return control_error(req, CONTROL_USAGE, "password_hash missing or malformed");
	if (req->queue == NULL || req->loop == NULL)
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	rc = queue_kv_get(req->queue, QUEUE_T_ACCOUNTS, name, &text, &len);
	free(text);
	if (rc == 0)
		return control_error(req, CONTROL_FAIL, "account %s already exists", name);
	if (rc != -ENOENT)
		return control_error(req, CONTROL_FAIL, "cannot read accounts: %s", strerror(-rc));
	a = account_new(name);
	str_copy(a->password, hash, sizeof(a->password));
	a->created = now_wall_ms();
	if ((rc = account_cmd_apply(req, a, req->args)) != CONTROL_OK) {
		account_free(a);
		return rc;
	}
	log_info("event=account_added account=%s by=%s", name, req->user);
	return account_cmd_store(req, out, a, NULL);
}

/* passwd, set, suspend, unsuspend: read, change, write back. */
static int
account_cmd_modify(struct control_req *req, struct json_out *out)
{
	const char *name = json_get_str(req->args, "name", NULL);
	struct account *a;
	struct read_rec rr = { NULL, 0 };
	int rc;

	if ((rc = account_cmd_load_rec(req, name, &a, &rr)) != CONTROL_OK)
		return rc;
	if (req->loop == NULL) {
		account_free(a);
		read_rec_free(&rr);
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	}
	if (strcmp(req->cmd, "account.passwd") == 0) {
		const char *hash = json_get_str(req->args, "password_hash", NULL);

		if (!account_cmd_hash_ok(hash)) {
			account_free(a);
			read_rec_free(&rr);
			return control_error(req, CONTROL_USAGE, "password_hash missing or malformed");
		}
		str_copy(a->password, hash, sizeof(a->password));
	} else if (strcmp(req->cmd, "account.suspend") == 0) {
		a->pol.suspended = 1;
	} else if (strcmp(req->cmd, "account.unsuspend") == 0) {
		a->pol.suspended = 0;
	} else if ((rc = account_cmd_apply(req, a, req->args)) != CONTROL_OK) {
		account_free(a);
		read_rec_free(&rr);
		return rc;
	}
	log_info("event=account_changed account=%s change=%s by=%s", a->name, req->cmd + 8,
	    req->user);
	return account_cmd_store(req, out, a, &rr);
}

static int
account_cmd_show(struct control_req *req, struct json_out *out)
{
	struct account *a;
	int rc;

	struct suppress_counts sc;

	if ((rc = account_cmd_load(req, json_get_str(req->args, "name", NULL), &a)) != CONTROL_OK)
		return rc;
	/* with the suppression counts (issue 14) */
	account_json(out, a, suppress_counts(req->queue, a->name, &sc) == 0 ? &sc : NULL);
	account_free(a);
	return CONTROL_OK;
}

static int
account_cmd_list_one(void *arg, const char *key, const char *val, size_t len)
{
	struct json_out *out = arg;
	struct account *a = account_parse(val, len);

	(void)key;
	if (a != NULL) {
		account_json(out, a, NULL);
		account_free(a);
	}
	return 0;
}

static int
account_cmd_list(struct control_req *req, struct json_out *out)
{
	int rc;

	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	json_arr_begin(out);
	rc = queue_kv_foreach(req->queue, QUEUE_T_ACCOUNTS, "", account_cmd_list_one, out);
	json_arr_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot list accounts: %s", strerror(-rc));
	return CONTROL_OK;
}

/* The record and the account key are gone (one transaction). */
static void
account_cmd_deleted(void *arg, const struct outcome *o)
{
	struct control_req *req = arg;

	/* a tempfail is a transaction that failed, with its audit record:
	 * that goes in when the command finishes; but a refusal over a
	 * changed record (queue_kv_put_if) was committed with its record
	 * by the writer, and a second one would say it failed twice */
	if (o->kind != OUTCOME_TEMPFAIL || outcome_is(o, R_CHANGED_MEANWHILE))
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		control_error(req, CONTROL_FAIL, "cannot delete the account: %s", o->text);
		control_finish(req, CONTROL_FAIL);
		return;
	}
	control_finish(req, CONTROL_OK);
}

static int
account_cmd_delete(struct control_req *req, struct json_out *out)
{
	struct account *a;
	int rc;

	if ((rc = account_cmd_load(req, json_get_str(req->args, "name", NULL), &a)) != CONTROL_OK)
		return rc;
	if (req->loop == NULL) {
		account_free(a);
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	}
	json_obj_begin(out);
	json_kv_str(out, "name", a->name);
	json_kv_bool(out, "deleted", 1);
	json_obj_end(out);
	log_info("event=account_deleted account=%s by=%s", a->name, req->user);
	/* The record and, crypto-shredding (DESIGN.md §6), the account key
	 * go in one transaction with the audit record. */
	rc = queue_account_delete(req->queue, a->name, control_audit_txn(req, 0),
	    account_cmd_deleted, req);
	account_free(a);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot delete the account: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static const struct control_cmd account_cmds[] = {
	{ "account.add", CONTROL_ROLE_OPERATOR, 1, account_cmd_add },
	{ "account.passwd", CONTROL_ROLE_OPERATOR, 1, account_cmd_modify },
	{ "account.set", CONTROL_ROLE_OPERATOR, 1, account_cmd_modify },
	{ "account.suspend", CONTROL_ROLE_OPERATOR, 1, account_cmd_modify },	/* reviewers: review.suspend */
	{ "account.unsuspend", CONTROL_ROLE_OPERATOR, 1, account_cmd_modify },
	/* read-only account summaries: reviewers too (issue 16) */
	{ "account.show", CONTROL_ROLE_REVIEWER, 0, account_cmd_show },
	{ "account.list", CONTROL_ROLE_REVIEWER, 0, account_cmd_list },
	{ "account.delete", CONTROL_ROLE_OPERATOR, 1, account_cmd_delete },
};

void
cmd_account_register(void)
{
	control_register(account_cmds, ARRAY_SIZE(account_cmds));
}
