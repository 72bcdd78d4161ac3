/* SPDX-License-Identifier: ISC */
/*
 * ctl_auth.c: `posternctl auth ...` (posternctl(8)): argv parsing and
 * printing only; src/control/cmd_auth.c runs auth.* in posternd.
 *
 *   auth lockouts [--all] [--json]
 *   auth unlock ADDRESS|ACCOUNT
 *
 * Both need the daemon: the AUTH guard's counters live in its memory.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

const char ctl_auth_usage_text[] =
	    "usage: posternctl auth lockouts [--all] [--json]\n"
	    "       posternctl auth unlock ADDRESS|ACCOUNT\n";

static void
ctl_auth_usage(FILE *f)
{
	fputs(ctl_auth_usage_text, f);
}

/* `auth lockouts` as an aligned table. */
static void
ctl_auth_print(const struct json_value *res)
{
	static const char *const hdr[] = { "KIND", "CLIENT", "ACCOUNT", "FAILURES", "LOCKED", "DELAY" };
	struct ctl_table *t = ctl_table_new(6, hdr);
	size_t k;

	for (k = 0; res != NULL && res->type == JSON_ARRAY && k < res->n; k++) {
		const struct json_value *v = res->items[k];
		char fails[24], locked[32], delay[32];
		const char *cells[6];

		snprintf(fails, sizeof(fails), "%lld", (long long)json_get_int(v, "failures", 0));
		if (json_get_bool(v, "locked", 0))
			snprintf(locked, sizeof(locked), "%llds",
			    (long long)(json_get_int(v, "locked_for_ms", 0) + 999) / 1000);
		else
			str_copy(locked, "-", sizeof(locked));
		if (json_get_int(v, "delay_ms", 0) > 0)
			snprintf(delay, sizeof(delay), "%lldms", (long long)json_get_int(v, "delay_ms", 0));
		else
			str_copy(delay, "-", sizeof(delay));
		cells[0] = json_get_str(v, "kind", "?");
		cells[1] = json_get_str(v, "client", NULL) ? json_get_str(v, "client", "-") : "-";
		cells[2] = json_get_str(v, "account", NULL) ? json_get_str(v, "account", "-") :
		    (strcmp(cells[0], "address") == 0 ? "-" : "(unknown name)");
		cells[3] = fails;
		cells[4] = locked;
		cells[5] = delay;
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

int
ctl_auth_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	int rc, all = 0, i;

	if (argc > 0 && strcmp(argv[0], "auth") == 0) {
		argc--;
		argv++;
	}
	if (argc < 1) {
		ctl_auth_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
		ctl_auth_usage(stdout);
		return CTL_EXIT_OK;
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	if (strcmp(argv[0], "lockouts") == 0) {
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--all") == 0) {
				all = 1;
			} else {
				buf_free(&args);
				ctl_usage_error(c, "auth lockouts: unknown option '%s'", argv[i]);
				return CTL_EXIT_USAGE;
			}
		}
		json_kv_bool(&j, "all", all);
		json_obj_end(&j);
		rc = ctl_call(c, "auth.lockouts", args.data, 0, &root, &res);
		if (rc == CTL_EXIT_OK) {
			if (c->json)
				ctl_print_json(res, stdout);
			else
				ctl_auth_print(res);
		}
	} else if (strcmp(argv[0], "unlock") == 0) {
		if (argc != 2) {
			buf_free(&args);
			ctl_usage_error(c, "auth unlock: needs one ADDRESS or ACCOUNT");
			return CTL_EXIT_USAGE;
		}
		json_kv_str(&j, "target", argv[1]);
		json_obj_end(&j);
		rc = ctl_call(c, "auth.unlock", args.data, 0, &root, &res);
		if (rc == CTL_EXIT_OK) {
			if (c->json)
				ctl_print_json(res, stdout);
			else
				printf("unlocked %s (%lld entries cleared)\n", argv[1],
				    (long long)json_get_int(res, "cleared", 0));
		}
	} else {
		buf_free(&args);
		ctl_usage_error(c, "auth: unknown command '%s'", argv[0]);
		return CTL_EXIT_USAGE;
	}
	buf_free(&args);
	json_free(root);
	return rc;
}
