/* SPDX-License-Identifier: ISC */
/*
 * ctl_suppress.c: `posternctl suppress ...` (posternctl(8)): argv
 * parsing, CSV and printing only; src/control/cmd_suppress.c runs the
 * suppress.* commands in posternd.
 *
 *   suppress list   [--account A | --global] [--json]
 *   suppress check  ADDRESS [--account A | --global] [--json]
 *   suppress add    ADDRESS|HASH [--account A | --global] [--reason R] [--source S]
 *   suppress remove ADDRESS|HASH [--account A | --global] --reason TEXT
 *   suppress import FILE|- [--account A | --global]
 *   suppress export [--account A | --global]
 *
 * A HASH is the 64 hex digits `list` and `export` show (the keyed
 * address index); an ADDRESS is hashed by the daemon.  CSV (import and
 * export): `address-or-hash,reason,created[,source[,expires]]`, a header
 * line allowed; created in ms since the epoch (empty: now).  Import is
 * sent in batches of 10000 rows, each one transaction with one audit
 * record.  check exits 1 when the address is not suppressed.  list,
 * check and export work offline on a read-only queue.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

#define IMPORT_BATCH 10000

const char ctl_suppress_usage_text[] =
	    "usage: posternctl suppress list [--account A | --global] [--json]\n"
	    "       posternctl suppress check ADDRESS [--account A | --global] [--json]\n"
	    "       posternctl suppress add ADDRESS|HASH [--account A | --global] [--reason R] [--source S]\n"
	    "       posternctl suppress remove ADDRESS|HASH [--account A | --global] --reason TEXT\n"
	    "       posternctl suppress import FILE|- [--account A | --global]\n"
	    "       posternctl suppress export [--account A | --global]\n"
	    "R: hard_bounce, complaint, unsubscribe or manual (default)\n";

static void
ctl_suppress_usage(FILE *f)
{
	fputs(ctl_suppress_usage_text, f);
}

static int
is_hash(const char *s)
{
	size_t i, n = strlen(s);

	if (n != 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void
ctl_suppress_print_list(const struct json_value *res, int csv)
{
	size_t i;
	char c[32], e[32];

	if (csv)
		printf("hash,reason,created,source,expires\n");
	for (i = 0; res != NULL && res->type == JSON_ARRAY && i < res->n; i++) {
		const struct json_value *v = res->items[i];
		uint64_t created = (uint64_t)json_get_int(v, "created", 0);
		uint64_t expires = (uint64_t)json_get_int(v, "expires", 0);

		if (csv) {
			printf("%s,%s,%llu,%s,%llu\n", json_get_str(v, "hash", ""),
			    json_get_str(v, "reason", ""), (unsigned long long)created,
			    json_get_str(v, "source", ""), (unsigned long long)expires);
			continue;
		}
		printf("%s %-11s %s %-20s %s%s\n", json_get_str(v, "hash", ""),
		    json_get_str(v, "reason", ""), ctl_fmt_time(created, c, sizeof(c)),
		    json_get_str(v, "source", ""), expires ? "expires " : "never expires",
		    expires ? ctl_fmt_time(expires, e, sizeof(e)) : "");
		if (!json_get_bool(v, "active", 1))
			printf("  (expired)\n");
	}
}

/* Split one CSV line (no quoting: the fields never hold commas) in place. */
static size_t
csv_split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		char *comma = strchr(p, ',');

		f[n++] = p;
		if (comma == NULL)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return n;
}

static int
ctl_suppress_import(struct ctl *c, const char *scope, const char *path)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char line[1024], *f[5];
	struct buf args;
	struct json_out j;
	size_t rows = 0, total = 0, lineno = 0;
	int rc = CTL_EXIT_OK, eof = 0;

	if (in == NULL) {
		ctl_error(c, CTL_EXIT_FAIL, "%s: %s", path, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	buf_init(&args, 0);
	while (!eof && rc == CTL_EXIT_OK) {
		size_t n;

		if (rows == 0) {
			buf_reset(&args);
			json_out_init(&j, &args);
			json_obj_begin(&j);
			json_kv_str(&j, "scope", scope);
			json_key(&j, "rows");
			json_arr_begin(&j);
		}
		if (fgets(line, sizeof(line), in) == NULL)
			eof = 1;
		else {
			lineno++;
			n = csv_split(line, f, 5);
			if (f[0][0] == '\0' || f[0][0] == '#' || strcmp(f[0], "address") == 0 ||
			    strcmp(f[0], "hash") == 0)
				continue;
			json_obj_begin(&j);
			json_kv_str(&j, is_hash(f[0]) ? "hash" : "address", f[0]);
			if (n > 1 && f[1][0])
				json_kv_str(&j, "reason", f[1]);
			if (n > 2 && f[2][0]) {
				char *end;
				unsigned long long t = strtoull(f[2], &end, 10);

				if (*end) {
					fprintf(stderr, "posternctl: %s:%zu: created must be ms since the epoch\n",
					    path, lineno);
					rc = CTL_EXIT_USAGE;
					break;
				}
				json_kv_uint(&j, "created", t);
			}
			if (n > 3 && f[3][0])
				json_kv_str(&j, "source", f[3]);
			json_obj_end(&j);
			rows++;
		}
		if (rows > 0 && (rows == IMPORT_BATCH || eof)) {
			struct json_value *root = NULL;
			const struct json_value *res = NULL;

			json_arr_end(&j);
			json_obj_end(&j);
			rc = ctl_call(c, "suppress.import", args.data, 0, &root, &res);
			json_free(root);
			total += rows;
			rows = 0;
		}
	}
	if (in != stdin)
		fclose(in);
	buf_free(&args);
	if (rc == CTL_EXIT_OK)
		printf("imported %zu entries\n", total);
	return rc;
}

int
ctl_suppress_main(struct ctl *c, int argc, char **argv)
{
	const char *verb, *scope = NULL, *reason = NULL, *source = NULL, *target = NULL;
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	char cmd[40];
	int i, rc, read_only;

	if (argc > 0 && strcmp(argv[0], "suppress") == 0) {
		argc--;
		argv++;
	}
	if (argc < 1) {
		ctl_suppress_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	verb = argv[0];
	if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0) {
		ctl_suppress_usage(stdout);
		return CTL_EXIT_OK;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			scope = argv[++i];
		else if (strcmp(argv[i], "--global") == 0)
			scope = "*";
		else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			reason = argv[++i];
		else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
			source = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			c->json = 1;
		else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
			ctl_usage_error(c, "suppress: unknown option '%s'", argv[i]);
			return CTL_EXIT_USAGE;
		} else if (target == NULL)
			target = argv[i];
		else {
			ctl_usage_error(c, "suppress: one address at a time");
			return CTL_EXIT_USAGE;
		}
	}
	if (scope == NULL) {
		ctl_usage_error(c, "suppress %s: give --account NAME or --global", verb);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(verb, "import") == 0) {
		if (target == NULL) {
			ctl_usage_error(c, "suppress import: give a CSV file or -");
			return CTL_EXIT_USAGE;
		}
		return ctl_suppress_import(c, scope, target);
	}
	if (strcmp(verb, "list") != 0 && strcmp(verb, "export") != 0 && strcmp(verb, "check") != 0 &&
	    strcmp(verb, "add") != 0 && strcmp(verb, "remove") != 0) {
		ctl_usage_error(c, "suppress: unknown command '%s'", verb);
		return CTL_EXIT_USAGE;
	}
	if ((strcmp(verb, "list") == 0 || strcmp(verb, "export") == 0) ? target != NULL
	    : target == NULL) {
		ctl_usage_error(c, "suppress %s: %s", verb, target ? "takes no address"
		    : "give an address");
		return CTL_EXIT_USAGE;
	}
	if (strcmp(verb, "remove") == 0 && reason == NULL) {
		ctl_usage_error(c, "suppress remove: --reason TEXT is required (it is audited)");
		return CTL_EXIT_USAGE;
	}
	read_only = strcmp(verb, "list") == 0 || strcmp(verb, "export") == 0 ||
	    strcmp(verb, "check") == 0;
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	json_kv_str(&j, "scope", scope);
	if (target != NULL)
		json_kv_str(&j, is_hash(target) && strcmp(verb, "check") != 0 ? "hash" : "address",
		    target);
	if (reason != NULL)
		json_kv_str(&j, strcmp(verb, "remove") == 0 ? "why" : "reason", reason);
	if (source != NULL)
		json_kv_str(&j, "source", source);
	json_obj_end(&j);
	snprintf(cmd, sizeof(cmd), "suppress.%s", strcmp(verb, "export") == 0 ? "list" : verb);
	rc = ctl_call(c, cmd, args.data, read_only, &root, &res);
	buf_free(&args);
	if (rc == CTL_EXIT_OK) {
		if (strcmp(verb, "export") == 0)
			ctl_suppress_print_list(res, 1);
		else if (c->json)
			ctl_print_json(res, stdout);
		else if (strcmp(verb, "list") == 0)
			ctl_suppress_print_list(res, 0);
		else if (strcmp(verb, "check") == 0) {
			if (json_get_bool(res, "suppressed", 0)) {
				char t[32];

				printf("suppressed: %s list, reason %s, source %s, since %s\n",
				    json_get_str(res, "list", "?"), json_get_str(res, "reason", "?"),
				    json_get_str(res, "source", ""),
				    ctl_fmt_time((uint64_t)json_get_int(res, "created", 0), t, sizeof(t)));
			} else
				printf("not suppressed\n");
		} else
			printf("%s %s\n", json_get_str(res, "hash", "?"),
			    strcmp(verb, "add") == 0 ? "added" : "removed");
		if (strcmp(verb, "check") == 0 && !json_get_bool(res, "suppressed", 0))
			rc = CTL_EXIT_FAIL;
	}
	json_free(root);
	return rc;
}
