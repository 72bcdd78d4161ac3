/* SPDX-License-Identifier: ISC */
/*
 * ctl_account.c: `posternctl account ...` (posternctl(8)): argv
 * parsing and printing only; src/control/cmd_account.c runs the
 * account.* commands in posternd.
 *
 *   account add NAME [--domain D]... [--password-stdin] [limits]
 *   account passwd NAME [--password-stdin]
 *   account set NAME [--domain D]... [limits] [--set KEY=VALUE]...
 *   account suspend|unsuspend NAME
 *   account show NAME [--json]
 *   account list [--json]
 *   account delete NAME
 *
 * Limits: --max-message-size BYTES, --max-recipients N, --hourly-rate N
 * (0 = the global default / unlimited).  --set KEY=VALUE stores a
 * per-account setting (dlp_action_*, spf_action, body_retention,
 * event_retention: account_setting_check() in src/account/ refuses
 * unknown keys and bad values, here and again in the daemon's handler,
 * exit 1); --set KEY= removes it.
 *
 * The password never reaches the daemon: posternctl generates it (or
 * reads it from stdin), hashes it with scrypt here and sends only the
 * hash; the generated password is printed once.  show/list work
 * offline on a read-only queue; changes need posternd.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "buf.h"
#include "crypto.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

/* ---- posternctl side ---- */

static void
ctl_account_usage(FILE *f)
{
	fprintf(f,
	    "usage: posternctl account add NAME [--domain D]... [--password-stdin] [LIMITS]\n"
	    "       posternctl account passwd NAME [--password-stdin]\n"
	    "       posternctl account set NAME [--domain D]... [LIMITS] [--set KEY=VALUE]...\n"
	    "       posternctl account suspend|unsuspend|show|delete NAME\n"
	    "       posternctl account list [--json]\n"
	    "LIMITS: --max-message-size BYTES --max-recipients N --hourly-rate N (0 = default)\n");
}

/* Read one password line from stdin (no echo games: it is meant for pipes). */
static int
ctl_account_read_password(char *out, size_t outlen)
{
	size_t n;

	if (fgets(out, (int)outlen, stdin) == NULL)
		return -1;
	n = strlen(out);
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	if (n == 0 || n >= outlen - 1)
		return -1;
	return 0;
}

static int
ctl_account_parse_num(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

static void
ctl_account_print(struct ctl *c, const struct json_value *v)
{
	const struct json_value *d, *o;
	char when[32];
	size_t i;

	if (c->json) {
		ctl_print_json(v, stdout);
		return;
	}
	printf("name: %s\n", json_get_str(v, "name", "?"));
	printf("status: %s\n", json_get_str(v, "status", "?"));
	printf("domains:");
	d = json_get(v, "domains");
	for (i = 0; d != NULL && d->type == JSON_ARRAY && i < d->n; i++)
		printf("%s%s", i ? ", " : " ", d->items[i]->s ? d->items[i]->s : "");
	printf("\n");
	printf("max_message_size: %lld\n", (long long)json_get_int(v, "max_message_size", 0));
	printf("max_recipients: %lld\n", (long long)json_get_int(v, "max_recipients", 0));
	printf("hourly_rate: %lld\n", (long long)json_get_int(v, "hourly_rate", 0));
	printf("created: %s\n", ctl_fmt_time((uint64_t)json_get_int(v, "created", 0), when,
	    sizeof(when)));
	o = json_get(v, "overrides");
	for (i = 0; o != NULL && o->type == JSON_OBJECT && i < o->n; i++)
		printf("%s: %s\n", o->keys[i], o->items[i]->s ? o->items[i]->s : "");
}

int
ctl_account_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	const char *verb, *name = NULL;
	char password[ACCOUNT_PASSWORD_MAX + 2], hash[ACCOUNT_HASH_MAX + 1], cmd[32];
	int i, rc, from_stdin = 0, ndomains = 0, generated = 0, noverrides = 0;

	if (argc > 0 && strcmp(argv[0], "account") == 0) {
		argc--;
		argv++;
	}
	if (argc < 1) {
		ctl_account_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	verb = argv[0];
	if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0) {
		ctl_account_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(verb, "add") && strcmp(verb, "passwd") && strcmp(verb, "set") &&
	    strcmp(verb, "suspend") && strcmp(verb, "unsuspend") && strcmp(verb, "show") &&
	    strcmp(verb, "list") && strcmp(verb, "delete")) {
		ctl_usage_error(c, "account: unknown command '%s'", verb);
		return CTL_EXIT_USAGE;
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	/* first pass: name and simple options */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		int64_t n;

		if (strcmp(a, "--json") == 0) {
			c->json = 1;
		} else if (strcmp(a, "--password-stdin") == 0 &&
		    (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0)) {
			from_stdin = 1;
		} else if ((strcmp(a, "--max-message-size") == 0 || strcmp(a, "--max-recipients") == 0 ||
		    strcmp(a, "--hourly-rate") == 0) &&
		    (strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0)) {
			if (i + 1 >= argc || ctl_account_parse_num(argv[i + 1], &n) != 0) {
				ctl_usage_error(c, "account %s: %s needs a number", verb, a);
				buf_free(&args);
				return CTL_EXIT_USAGE;
			}
			json_kv_int(&j, strcmp(a, "--max-message-size") == 0 ? "max_message_size" :
			    strcmp(a, "--max-recipients") == 0 ? "max_recipients" : "hourly_rate", n);
			i++;
		} else if (strcmp(a, "--domain") == 0 &&
		    (strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0)) {
			if (i + 1 >= argc) {
				ctl_usage_error(c, "account %s: --domain needs a domain", verb);
				buf_free(&args);
				return CTL_EXIT_USAGE;
			}
			ndomains++;
			i++;
		} else if (strcmp(a, "--set") == 0 && strcmp(verb, "set") == 0) {
			char *kv, *eq, why[256];

			if (i + 1 >= argc || strchr(argv[i + 1], '=') == NULL) {
				ctl_usage_error(c, "account set: --set needs KEY=VALUE");
				buf_free(&args);
				return CTL_EXIT_USAGE;
			}
			kv = xstrdup(argv[i + 1]);
			eq = strchr(kv, '=');
			*eq = '\0';
			if (account_setting_check(kv, eq[1] ? eq + 1 : NULL, why, sizeof(why)) != 0) {
				fprintf(stderr, "posternctl: account set: %s\n", why);
				free(kv);
				buf_free(&args);
				return CTL_EXIT_FAIL;
			}
			free(kv);
			noverrides++;
			i++;
		} else if (a[0] == '-' || name != NULL || strcmp(verb, "list") == 0) {
			ctl_usage_error(c, "account %s: unexpected argument '%s'", verb, a);
			buf_free(&args);
			return CTL_EXIT_USAGE;
		} else {
			name = a;
		}
	}
	if (strcmp(verb, "list") != 0) {
		if (name == NULL || !account_name_valid(name)) {
			ctl_usage_error(c, "account %s: %s", verb, name ? "invalid account name "
			    "(1-64 of A-Z a-z 0-9 . _ -)" : "missing account name");
			buf_free(&args);
			return CTL_EXIT_USAGE;
		}
		json_kv_str(&j, "name", name);
	}
	if (ndomains > 0) {
		json_key(&j, "domains");
		json_arr_begin(&j);
		for (i = 1; i < argc; i++)
			if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
				json_str(&j, argv[++i]);
		json_arr_end(&j);
	}
	if (noverrides > 0) {
		json_key(&j, "overrides");
		json_obj_begin(&j);
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
				char *kv = xstrdup(argv[++i]), *eq = strchr(kv, '=');

				*eq = '\0';
				json_kv_str(&j, kv, eq + 1);
				free(kv);
			}
		}
		json_obj_end(&j);
	}
	if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
		if (from_stdin) {
			if (ctl_account_read_password(password, sizeof(password)) != 0) {
				fprintf(stderr, "posternctl: no password (or longer than %d) on stdin\n",
				    ACCOUNT_PASSWORD_MAX);
				buf_free(&args);
				return CTL_EXIT_USAGE;
			}
		} else {
			account_generate_password(password, sizeof(password));
			generated = 1;
		}
		if (account_hash_password(password, strlen(password), hash, sizeof(hash)) != 0) {
			fprintf(stderr, "posternctl: cannot hash the password\n");
			crypto_wipe(password, sizeof(password));
			buf_free(&args);
			return CTL_EXIT_FAIL;
		}
		json_kv_str(&j, "password_hash", hash);
	}
	json_obj_end(&j);
	snprintf(cmd, sizeof(cmd), "account.%s", verb);
	rc = ctl_call(c, cmd, args.data, strcmp(verb, "show") == 0 || strcmp(verb, "list") == 0,
	    &root, &res);
	buf_free(&args);
	if (rc != 0) {
		crypto_wipe(password, sizeof(password));
		json_free(root);
		return rc;
	}
	if (strcmp(verb, "list") == 0) {
		if (c->json) {
			ctl_print_json(res, stdout);
		} else {
			static const char *const hdr[] = { "NAME", "STATUS", "DOMAINS", "CREATED" };
			struct ctl_table *t = ctl_table_new(4, hdr);
			size_t k, m;

			for (k = 0; res != NULL && res->type == JSON_ARRAY && k < res->n; k++) {
				const struct json_value *v = res->items[k], *d = json_get(v, "domains");
				struct buf doms;
				char when[32];
				const char *cells[4];

				buf_init(&doms, 0);
				for (m = 0; d != NULL && d->type == JSON_ARRAY && m < d->n; m++)
					buf_printf(&doms, "%s%s", m ? "," : "", d->items[m]->s ? d->items[m]->s : "");
				cells[0] = json_get_str(v, "name", "?");
				cells[1] = json_get_str(v, "status", "?");
				cells[2] = doms.len ? doms.data : "-";
				cells[3] = ctl_fmt_time((uint64_t)json_get_int(v, "created", 0), when,
				    sizeof(when));
				ctl_table_add(t, cells);
				buf_free(&doms);
			}
			ctl_table_print(t, stdout);
			ctl_table_free(t);
		}
	} else if (strcmp(verb, "show") == 0) {
		ctl_account_print(c, res);
	} else if (c->json) {
		/* add/passwd with a generated password: the only time it is shown */
		struct buf out;
		struct json_out jo;

		buf_init(&out, 0);
		json_out_init(&jo, &out);
		json_obj_begin(&jo);
		json_kv_str(&jo, "name", name);
		json_kv_str(&jo, "result", verb);
		if (generated)
			json_kv_str(&jo, "password", password);
		json_obj_end(&jo);
		printf("%s\n", out.data);
		crypto_wipe(out.data, out.len);
		buf_free(&out);
	} else {
		static const char *const done_words[][2] = {
			{ "add", "added" }, { "passwd", "password changed" }, { "set", "updated" },
			{ "suspend", "suspended" }, { "unsuspend", "unsuspended" },
			{ "delete", "deleted (its key shredded)" },
		};
		size_t k;

		for (k = 0; k < ARRAY_SIZE(done_words); k++)
			if (strcmp(verb, done_words[k][0]) == 0)
				printf("account %s %s\n", name, done_words[k][1]);
		if (generated)
			printf("password: %s\n(shown only once; store it now)\n", password);
		if (strcmp(verb, "add") == 0 && ndomains == 0)
			fprintf(stderr, "posternctl: note: no --domain given: %s may not send from "
			    "any address over submission until `posternctl account set %s --domain D` "
			    "(--domain '*' allows every sender)\n", name, name);
	}
	crypto_wipe(password, sizeof(password));
	json_free(root);
	return CTL_EXIT_OK;
}
