/* SPDX-License-Identifier: ISC */
/*
 * ctl_retention.c: `posternctl retention show [--account A]`
 * (posternctl(8), issue 17): argv parsing and printing only;
 * src/control/cmd_retention.c runs retention.show in posternd, or
 * in-process on a read-only queue when posternd is down.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

int
ctl_retention_main(struct ctl *c, int argc, char **argv)
{
	static const char *const keys[] = {
		"body_retention", "metadata_retention", "event_retention", "audit_retention",
		"held_retention",
	};
	const char *account = NULL;
	struct json_value *root = NULL;
	const struct json_value *res = NULL, *per, *nx, *held;
	struct json_out j;
	struct buf args;
	char age[32];
	size_t i;
	int rc;

	if (argc < 2 || strcmp(argv[1], "show") != 0 ||
	    !(argc == 2 || (argc == 4 && strcmp(argv[2], "--account") == 0))) {
		fprintf(stderr, "usage: posternctl retention show [--account A]\n");
		return CTL_EXIT_USAGE;
	}
	if (argc == 4)
		account = argv[3];
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	if (account != NULL)
		json_kv_str(&j, "account", account);
	json_obj_end(&j);
	rc = ctl_call(c, "retention.show", args.data, 1, &root, &res);
	buf_free(&args);
	if (rc == CTL_EXIT_OK && c->json)
		ctl_print_json(res, stdout);
	else if (rc == CTL_EXIT_OK) {
		per = json_get(res, "periods");
		for (i = 0; i < ARRAY_SIZE(keys); i++) {
			const struct json_value *p = json_get(per, keys[i]);
			uint64_t ms = (uint64_t)json_get_int(p, "ms", 0);

			printf("%-20s %s (%s)\n", keys[i], ms == 0 ? "0" : ctl_fmt_age(ms, age, sizeof(age)),
			    json_get_str(p, "from", "?"));
		}
		printf("%-20s %s\n", "retention_header", json_get_str(per, "retention_header", "?"));
		held = json_get(res, "held");
		nx = json_get(res, "next_purge");
		printf("held: %lld messages, %lld bodies\n", (long long)json_get_int(held, "messages", 0),
		    (long long)json_get_int(held, "bodies", 0));
		printf("next purge: %lld bodies, %lld messages", (long long)json_get_int(nx, "bodies", 0),
		    (long long)json_get_int(nx, "messages", 0));
		if (account == NULL)
			printf(", %lld events, %lld audit records",
			    (long long)json_get_int(nx, "events", 0),
			    (long long)json_get_int(nx, "audit", 0));
		printf("\n");
	}
	json_free(root);
	return rc;
}
