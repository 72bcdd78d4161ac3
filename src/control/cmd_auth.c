/* SPDX-License-Identifier: ISC */
/*
 * cmd_auth.c: the daemon-side auth.* control commands (include/control.h),
 * registered by control_commands_register(); posternctl's `auth` group
 * (src/ctl/ctl_auth.c) sends them.
 *
 *   auth.lockouts  what the AUTH guard (include/auth_guard.h) locks or
 *                  slows down now: locked (account, address) pairs,
 *                  locked addresses, accounts under slow-down; with
 *                  "all", every entry it remembers.
 *   auth.unlock    clear every lock, failure count and slow-down of one
 *                  client address (IPv6: its /64, as the guard counts)
 *                  or one account name (audited).
 *
 * The guard lives in posternd's memory only, so both need the daemon
 * (offline they fail with a clear error).  An attempted account name is
 * AUTH data (a password typed into the user field, say): the listing
 * names only accounts that exist and shows null for any other name.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "auth_guard.h"
#include "control.h"
#include "control_int.h"
#include "json.h"
#include "queue.h"
#include "util.h"

struct lockouts_ctx {
	struct control_req *req;
	struct json_out *out;
	uint64_t now;
};

/* Does NAME name an existing account?  (Otherwise it is not shown.) */
static int
auth_cmd_account_exists(struct control_req *req, const char *name)
{
	char *text = NULL;
	size_t len = 0;

	if (name[0] == '\0' || !account_name_valid(name) || req->queue == NULL)
		return 0;
	if (queue_kv_get(req->queue, QUEUE_T_ACCOUNTS, name, &text, &len) != 0)
		return 0;
	free(text);
	return 1;
}

static void
auth_cmd_entry(void *arg, const struct auth_guard_entry *e)
{
	struct lockouts_ctx *x = arg;
	struct json_out *j = x->out;

	json_obj_begin(j);
	json_kv_str(j, "kind", e->kind);
	json_key(j, "client");
	if (e->client[0] != '\0')
		json_str(j, e->client);
	else
		json_null(j);
	json_key(j, "account");
	if (auth_cmd_account_exists(x->req, e->account))
		json_str(j, e->account);
	else
		json_null(j);
	json_kv_uint(j, "failures", e->failures);
	json_kv_uint(j, "in_flight", e->inflight);
	json_kv_bool(j, "locked", e->locked_until != 0);
	json_kv_uint(j, "locked_for_ms", e->locked_until != 0 ? e->locked_until - x->now : 0);
	json_kv_uint(j, "delay_ms", e->delay_ms);
	json_obj_end(j);
}

static int
auth_cmd_lockouts(struct control_req *req, struct json_out *out)
{
	struct auth_guard_params p;
	struct lockouts_ctx x;

	if (req->auth_guard == NULL)
		return control_error(req, CONTROL_FAIL,
		    "posternd is not running: AUTH lockouts live in its memory");
	auth_guard_params_from_config(&p, req->cfg);
	x.req = req;
	x.out = out;
	x.now = now_mono_ms();
	json_arr_begin(out);
	(void)auth_guard_list(req->auth_guard, &p, x.now, json_get_bool(req->args, "all", 0),
	    auth_cmd_entry, &x);
	json_arr_end(out);
	return CONTROL_OK;
}

static int
auth_cmd_unlock(struct control_req *req, struct json_out *out)
{
	const char *t = json_get_str(req->args, "target", NULL);
	char addr[AUTH_GUARD_CLIENT_MAX], key[256];
	unsigned char a[16];
	size_t n, len;

	if (t == NULL || t[0] == '\0')
		return control_error(req, CONTROL_USAGE,
		    "auth unlock needs a client address or an account name");
	/* an IPv6 address stands for its /64, as the guard counts it */
	str_copy(addr, t, sizeof(addr));
	len = strlen(addr);
	if (len > 3 && strcmp(addr + len - 3, "/64") == 0)
		addr[len - 3] = '\0';
	if (inet_pton(AF_INET, addr, a) == 1 || inet_pton(AF_INET6, addr, a) == 1)
		auth_guard_client(addr, key, sizeof(key));
	else if (account_name_valid(t))
		str_copy(key, t, sizeof(key));
	else
		return control_error(req, CONTROL_USAGE,
		    "auth unlock needs a client address or an account name");
	str_copy(req->target, t, sizeof(req->target));
	if (req->auth_guard == NULL)
		return control_error(req, CONTROL_FAIL,
		    "posternd is not running: AUTH lockouts live in its memory");
	n = auth_guard_unlock(req->auth_guard, key);
	if (n == 0)
		return control_error(req, CONTROL_FAIL, "nothing is locked or counted for %s", t);
	json_obj_begin(out);
	json_kv_str(out, "target", t);
	json_kv_uint(out, "cleared", n);
	json_obj_end(out);
	return CONTROL_OK;
}

static const struct control_cmd auth_cmds[] = {
	{ "auth.lockouts", CONTROL_ROLE_OPERATOR, 0, auth_cmd_lockouts },
	{ "auth.unlock", CONTROL_ROLE_OPERATOR, 1, auth_cmd_unlock },
};

void
cmd_auth_register(void)
{
	control_register(auth_cmds, ARRAY_SIZE(auth_cmds));
}
