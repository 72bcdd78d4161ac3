/* SPDX-License-Identifier: ISC */
/*
 * cmd_retention.c: the retention.show control command (issue 17,
 * posternctl(8) "retention show"), registered by
 * control_commands_register(); posternctl's src/ctl/ctl_retention.c
 * sends it.  Read-only: it also runs offline on a read-only queue.
 *
 * It prints the retention periods in force (postern.conf's, and with
 * --account the account's overrides over them: body_retention,
 * metadata_retention (0: event_retention), event_retention,
 * held_retention and retention_header; audit_retention, global only) and what the next
 * purge would remove if it ran now,
 * counted by queue_purge_preview() in one read transaction.  Held mail
 * leaves through the hold expiry (cmd_review.c): the account's
 * held_retention, else review_hold_expiry.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "control.h"
#include "control_int.h"
#include "json.h"
#include "queue.h"
#include "util.h"

static void
period(struct json_out *out, const char *key, uint64_t global, int64_t acct)
{
	json_key(out, key);
	json_obj_begin(out);
	json_kv_uint(out, "ms", acct != ACCOUNT_UNSET ? (uint64_t)acct : global);
	json_kv_str(out, "from", acct != ACCOUNT_UNSET ? "account" : "postern.conf");
	json_obj_end(out);
}

static int
retention_cmd_show(struct control_req *req, struct json_out *out)
{
	const char *name = json_get_str(req->args, "account", NULL);
	struct queue_purge_preview pv;
	struct account *a = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	str_copy(req->target, name != NULL ? name : "*", sizeof(req->target));
	if (req->queue == NULL || req->cfg == NULL)
		return control_error(req, CONTROL_FAIL, "the queue is not open");
	if (name != NULL) {
		if (!account_name_valid(name))
			return control_error(req, CONTROL_USAGE, "invalid account name");
		rc = queue_kv_get(req->queue, QUEUE_T_ACCOUNTS, name, &text, &len);
		if (rc == -ENOENT)
			return control_error(req, CONTROL_FAIL, "no such account: %s", name);
		if (rc != 0 || (a = account_parse(text, len)) == NULL) {
			free(text);
			return control_error(req, CONTROL_FAIL, "cannot read account %s", name);
		}
		free(text);
	}
	if ((rc = queue_purge_preview(req->queue, name, &pv)) != 0) {
		account_free(a);
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	}
	json_obj_begin(out);
	if (name != NULL)
		json_kv_str(out, "account", name);
	json_key(out, "periods");
	json_obj_begin(out);
	period(out, "body_retention", req->cfg->body_retention,
	    a != NULL ? a->pol.body_retention : ACCOUNT_UNSET);
	/* records: the account's metadata_retention, else the global one,
	 * else the event retention in force */
	period(out, "metadata_retention", req->cfg->metadata_retention != 0 ?
	    req->cfg->metadata_retention : req->cfg->event_retention,
	    a != NULL && a->pol.metadata_retention != ACCOUNT_UNSET ? a->pol.metadata_retention :
	    req->cfg->metadata_retention == 0 && a != NULL ? a->pol.event_retention : ACCOUNT_UNSET);
	period(out, "event_retention", req->cfg->event_retention,
	    a != NULL ? a->pol.event_retention : ACCOUNT_UNSET);
	period(out, "audit_retention", req->cfg->audit_retention, ACCOUNT_UNSET);
	period(out, "held_retention", req->cfg->review_hold_expiry,
	    a != NULL ? a->pol.held_retention : ACCOUNT_UNSET);
	json_kv_str(out, "retention_header", a != NULL && a->pol.retention_header == 0 ?
	    "forbid" : "allow");
	json_kv_uint(out, "purge_interval", req->cfg->purge_interval);
	json_obj_end(out);
	json_key(out, "held");
	json_obj_begin(out);
	json_kv_uint(out, "messages", pv.messages);
	json_kv_uint(out, "bodies", pv.bodies_held);
	json_obj_end(out);
	json_key(out, "next_purge");
	json_obj_begin(out);
	json_kv_uint(out, "bodies", pv.bodies_due);
	json_kv_uint(out, "messages", pv.messages_due);
	if (name == NULL) {
		json_kv_uint(out, "events", pv.events_due);
		json_kv_uint(out, "audit", pv.audit_due);
	}
	json_obj_end(out);
	json_obj_end(out);
	account_free(a);
	return CONTROL_OK;
}

static const struct control_cmd retention_cmds[] = {
	{ "retention.show", CONTROL_ROLE_OPERATOR, 0, retention_cmd_show },
};

void
cmd_retention_register(void)
{
	control_register(retention_cmds, ARRAY_SIZE(retention_cmds));
}
