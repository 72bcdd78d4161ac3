/* SPDX-License-Identifier: ISC */
/*
 * cmd_suppress.c: the daemon-side suppress.* control commands
 * (include/control.h); posternctl's `suppress` group (src/ctl/
 * ctl_suppress.c) sends them.  The store is src/account/suppress.c.
 *
 *   suppress.list   {scope}                       entries: hash, reason, source, times
 *   suppress.check  {scope, address}              whether and why (account, then global)
 *   suppress.add    {scope, address|hash, reason, source}
 *   suppress.remove {scope, address|hash, why}    `why` is required and audited
 *   suppress.import {scope, rows: [{address|hash, reason, created, source}]}
 *
 * SCOPE is an account name or "*" (the global list).  Addresses arrive
 * in clear over the local socket and are hashed here with the keyed
 * address index; only the hash is stored, returned and audited (the
 * audit target names the scope and the hash prefix, never an address).
 * list and check are read-only and also run offline in posternctl;
 * add, remove and import commit their audit record in the transaction
 * of their change (control_audit_txn).  All of them need the operator
 * role, check too: it answers whether an address is suppressed, which is
 * beyond what reviewers may run (review and read-only account summaries,
 * issue 16 "Roles"); a reviewer's attempt is refused and audited.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "control.h"
#include "control_int.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "suppress.h"
#include "util.h"

#define IMPORT_MAX_ROWS 100000

static int
sup_scope(struct control_req *req, const char **scope)
{
	*scope = json_get_str(req->args, "scope", NULL);
	if (*scope == NULL || !suppress_scope_valid(*scope))
		return control_error(req, CONTROL_USAGE, "give --account NAME or --global");
	if (req->queue == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	return CONTROL_OK;
}

/* The hash of OBJ's "address" or its "hash" into HEX. */
static int
sup_hash(struct control_req *req, const struct json_value *obj, char hex[ADDR_HASH_HEX])
{
	const char *a = json_get_str(obj, "address", NULL), *h = json_get_str(obj, "hash", NULL);

	if (a != NULL) {
		if (!addr_index_have_key())
			return control_error(req, CONTROL_FAIL, "no address index key (master_key_file)");
		if (addr_index_hash_hex(a, strlen(a), hex) != 0)
			return control_error(req, CONTROL_USAGE, "not a mail address");
		return CONTROL_OK;
	}
	if (h != NULL && suppress_hash_valid(h)) {
		memcpy(hex, h, ADDR_HASH_HEX);
		return CONTROL_OK;
	}
	return control_error(req, CONTROL_USAGE, "give an address or a hash of 64 hex digits");
}

static void
sup_rec_json(struct json_out *j, const char *hex, const struct suppress_rec *r, uint64_t now)
{
	json_obj_begin(j);
	json_kv_str(j, "hash", hex);
	json_kv_str(j, "reason", suppress_strreason(r->reason));
	json_kv_str(j, "source", r->source);
	json_kv_uint(j, "created", r->created);
	json_kv_uint(j, "expires", r->expires);
	json_kv_bool(j, "active", suppress_active(r, now));
	json_obj_end(j);
}

struct list_ctx {
	struct json_out *out;
	uint64_t now;
};

static int
sup_list_one(void *arg, const char *key, const char *val, size_t len)
{
	struct list_ctx *x = arg;
	struct suppress_rec r;
	const char *slash = strrchr(key, '/');

	if (slash == NULL || !suppress_hash_valid(slash + 1) || suppress_parse(val, len, &r) != 0)
		return 0;
	sup_rec_json(x->out, slash + 1, &r, x->now);
	return 0;
}

static int
sup_cmd_list(struct control_req *req, struct json_out *out)
{
	const char *scope;
	struct list_ctx x;
	char prefix[80];
	int rc;

	if ((rc = sup_scope(req, &scope)) != CONTROL_OK)
		return rc;
	snprintf(prefix, sizeof(prefix), "%s/", scope);
	x.out = out;
	x.now = now_wall_ms();
	json_arr_begin(out);
	rc = queue_kv_foreach(req->queue, QUEUE_T_SUPPRESSIONS, prefix, sup_list_one, &x);
	json_arr_end(out);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot list: %s", strerror(-rc));
	return CONTROL_OK;
}

static int
sup_cmd_check(struct control_req *req, struct json_out *out)
{
	const char *scope;
	char hex[ADDR_HASH_HEX];
	struct suppress_rec r;
	const char *hit = NULL;
	uint64_t now = now_wall_ms();
	int rc;

	if ((rc = sup_scope(req, &scope)) != CONTROL_OK ||
	    (rc = sup_hash(req, req->args, hex)) != CONTROL_OK)
		return rc;
	if (suppress_get(req->queue, scope, hex, &r) == 0 && suppress_active(&r, now))
		hit = scope;
	else if (strcmp(scope, SUPPRESS_GLOBAL) != 0 &&
	    suppress_get(req->queue, SUPPRESS_GLOBAL, hex, &r) == 0 && suppress_active(&r, now))
		hit = SUPPRESS_GLOBAL;
	json_obj_begin(out);
	json_kv_str(out, "hash", hex);
	json_kv_bool(out, "suppressed", hit != NULL);
	if (hit != NULL) {
		json_kv_str(out, "list", strcmp(hit, SUPPRESS_GLOBAL) == 0 ? "global" : hit);
		json_kv_str(out, "reason", suppress_strreason(r.reason));
		json_kv_str(out, "source", r.source);
		json_kv_uint(out, "created", r.created);
		json_kv_uint(out, "expires", r.expires);
	}
	json_obj_end(out);
	return CONTROL_OK;
}

static void
sup_written(void *arg, const struct outcome *o)
{
	struct control_req *req = arg;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		control_error(req, CONTROL_FAIL, "cannot change the suppression list: %s", o->text);
		control_finish(req, CONTROL_FAIL);
		return;
	}
	control_finish(req, CONTROL_OK);
}

/* One entry from OBJ's reason/source/created for SCOPE. */
static int
sup_rec_from(struct control_req *req, const struct json_value *obj, struct suppress_rec *r)
{
	const char *reason = json_get_str(obj, "reason", "manual");
	int64_t created = json_get_int(obj, "created", 0);

	memset(r, 0, sizeof(*r));
	if (suppress_parse_reason(reason, &r->reason) != 0)
		return control_error(req, CONTROL_USAGE,
		    "reason must be hard_bounce, complaint, unsubscribe or manual");
	suppress_set_source(r, json_get_str(obj, "source", "operator"));
	r->created = created > 0 ? (uint64_t)created : now_wall_ms();
	if (r->reason == SUPPRESS_HARD_BOUNCE && req->cfg != NULL &&
	    req->cfg->suppression_hard_bounce_expiry > 0)
		r->expires = r->created + req->cfg->suppression_hard_bounce_expiry;
	return CONTROL_OK;
}

static int
sup_need_daemon(struct control_req *req)
{
	if (req->loop == NULL)
		return control_error(req, CONTROL_FAIL, "this command needs a running posternd");
	return CONTROL_OK;
}

static int
sup_cmd_add(struct control_req *req, struct json_out *out)
{
	const char *scope;
	char hex[ADDR_HASH_HEX];
	struct suppress_rec r;
	int rc;

	if ((rc = sup_scope(req, &scope)) != CONTROL_OK ||
	    (rc = sup_hash(req, req->args, hex)) != CONTROL_OK ||
	    (rc = sup_rec_from(req, req->args, &r)) != CONTROL_OK)
		return rc;
	snprintf(req->target, sizeof(req->target), "%s/%.16s", scope, hex);
	if ((rc = sup_need_daemon(req)) != CONTROL_OK)
		return rc;
	json_obj_begin(out);
	json_kv_str(out, "hash", hex);
	json_kv_str(out, "reason", suppress_strreason(r.reason));
	json_kv_bool(out, "added", 1);
	json_obj_end(out);
	log_info("event=suppression_added account=%s hash=%.16s reason=%s by=%s", scope, hex,
	    suppress_strreason(r.reason), req->user);
	/* the account's app hears of it too (a "suppressed" webhook, reason
	 * manual); the pseudonym only when the operator gave the address */
	{
		const char *addr = json_get_str(req->args, "address", NULL);
		char pseudo[LOG_ADDR_MAX];

		if (addr != NULL)
			log_pseudonym(addr, strlen(addr), pseudo, sizeof(pseudo));
		rc = suppress_put_notify(req->queue, scope, hex, &r, addr ? pseudo : NULL, NULL,
		    suppress_scope_webhook(req->queue, scope), control_audit_txn(req, 0),
		    sup_written, req);
	}
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot add: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
sup_cmd_remove(struct control_req *req, struct json_out *out)
{
	const char *scope, *why = json_get_str(req->args, "why", NULL);
	char hex[ADDR_HASH_HEX];
	struct suppress_rec r;
	int rc;

	if ((rc = sup_scope(req, &scope)) != CONTROL_OK ||
	    (rc = sup_hash(req, req->args, hex)) != CONTROL_OK)
		return rc;
	snprintf(req->target, sizeof(req->target), "%s/%.16s reason=%.120s", scope, hex,
	    why ? why : "");
	if (why == NULL || *why == '\0' || strpbrk(why, "\r\n") != NULL)
		return control_error(req, CONTROL_USAGE, "remove needs --reason TEXT (it is audited)");
	if ((rc = sup_need_daemon(req)) != CONTROL_OK)
		return rc;
	if ((rc = suppress_get(req->queue, scope, hex, &r)) == -ENOENT)
		return control_error(req, CONTROL_FAIL, "not on the %s list",
		    strcmp(scope, SUPPRESS_GLOBAL) == 0 ? "global" : scope);
	json_obj_begin(out);
	json_kv_str(out, "hash", hex);
	json_kv_bool(out, "removed", 1);
	json_obj_end(out);
	log_info("event=suppression_removed account=%s hash=%.16s by=%s", scope, hex, req->user);
	rc = suppress_del(req->queue, scope, hex, why, control_audit_txn(req, 0), sup_written, req);
	if (rc != 0)
		return control_error(req, CONTROL_FAIL, "cannot remove: %s", strerror(-rc));
	return CONTROL_ASYNC;
}

static int
sup_cmd_import(struct control_req *req, struct json_out *out)
{
	const struct json_value *rows = json_get(req->args, "rows");
	const char *scope;
	struct suppress_rec *recs;
	char **hexes;
	size_t i, n;
	int rc;

	if ((rc = sup_scope(req, &scope)) != CONTROL_OK)
		return rc;
	if (rows == NULL || rows->type != JSON_ARRAY || rows->n == 0 || rows->n > IMPORT_MAX_ROWS)
		return control_error(req, CONTROL_USAGE, "rows: 1 to %d entries", IMPORT_MAX_ROWS);
	n = rows->n;
	snprintf(req->target, sizeof(req->target), "%s rows=%zu", scope, n);
	if ((rc = sup_need_daemon(req)) != CONTROL_OK)
		return rc;
	recs = xcalloc(n, sizeof(*recs));
	hexes = xcalloc(n, sizeof(*hexes));
	for (i = 0; i < n; i++) {
		hexes[i] = xmalloc(ADDR_HASH_HEX);
		if ((rc = sup_hash(req, rows->items[i], hexes[i])) != CONTROL_OK ||
		    (rc = sup_rec_from(req, rows->items[i], &recs[i])) != CONTROL_OK) {
			char e[sizeof(req->error)];

			snprintf(e, sizeof(e), "row %zu: %.400s", i + 1, req->error);
			str_copy(req->error, e, sizeof(req->error));
			n = i + 1;
			goto out;
		}
	}
	json_obj_begin(out);
	json_kv_uint(out, "imported", n);
	json_obj_end(out);
	rc = suppress_put_many(req->queue, scope, hexes, recs, n, control_audit_txn(req, 0),
	    sup_written, req);
	rc = rc != 0 ? control_error(req, CONTROL_FAIL, "cannot import: %s", strerror(-rc))
	    : CONTROL_ASYNC;
out:
	for (i = 0; i < n; i++)
		free(hexes[i]);
	free(hexes);
	free(recs);
	return rc;
}

static const struct control_cmd suppress_cmds[] = {
	{ "suppress.list", CONTROL_ROLE_OPERATOR, 0, sup_cmd_list },
	{ "suppress.check", CONTROL_ROLE_OPERATOR, 0, sup_cmd_check },
	{ "suppress.add", CONTROL_ROLE_OPERATOR, 1, sup_cmd_add },
	{ "suppress.remove", CONTROL_ROLE_OPERATOR, 1, sup_cmd_remove },
	{ "suppress.import", CONTROL_ROLE_OPERATOR, 1, sup_cmd_import },
};

void
cmd_suppress_register(void)
{
	control_register(suppress_cmds, ARRAY_SIZE(suppress_cmds));
}
