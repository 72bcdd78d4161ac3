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
 * metadata_retention, event_retention, held_retention, retention_header,
 * ...: account_setting_check() in src/account/ refuses
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

const char ctl_account_usage[] =
    "usage: posternctl account add NAME [--domain D]... [--password-stdin] [LIMITS]\n"
    "       posternctl account passwd NAME [--password-stdin]\n"
    "       posternctl account set NAME [--domain D]... [LIMITS] [--set KEY=VALUE]...\n"
    "       posternctl account suspend|unsuspend|show|delete NAME\n"
    "       posternctl account list [--json]\n"
    "LIMITS: --max-message-size BYTES --max-recipients N --hourly-rate N (0 = default)\n";

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
	o = json_get(v, "suppressions");
	if (o != NULL && o->type == JSON_OBJECT) {
		printf("suppressions:");
		for (i = 0; i < o->n; i++)
			printf("%s%s=%lld", i ? " " : " ", o->keys[i], (long long)o->items[i]->i);
		printf("\n");
	}
}

/*
 * The command table: which options each verb takes, whether it only
 * reads (and so may run offline), and what it prints when it worked.
 * One row per verb; the parser and the printer below read only this.
 */
enum {
	ACF_NAME = 1 << 0,	/* takes the account NAME */
	ACF_PASSWORD = 1 << 1,	/* sets a password: --password-stdin or generated */
	ACF_DOMAINS = 1 << 2,	/* --domain D ... */
	ACF_LIMITS = 1 << 3,	/* --max-message-size, --max-recipients, --hourly-rate */
	ACF_SETTINGS = 1 << 4,	/* --set KEY=VALUE ... */
	ACF_READ = 1 << 5,	/* read-only: works with the daemon down */
};

struct ctl_account_cmd {
	const char *verb;
	unsigned flags;
	const char *done;	/* "account NAME <done>" on success; NULL: prints a result */
};

static const struct ctl_account_cmd ctl_account_cmds[] = {
	{ "add", ACF_NAME | ACF_PASSWORD | ACF_DOMAINS | ACF_LIMITS, "added" },
	{ "passwd", ACF_NAME | ACF_PASSWORD, "password changed" },
	{ "set", ACF_NAME | ACF_DOMAINS | ACF_LIMITS | ACF_SETTINGS, "updated" },
	{ "suspend", ACF_NAME, "suspended" },
	{ "unsuspend", ACF_NAME, "unsuspended" },
	{ "show", ACF_NAME | ACF_READ, NULL },
	{ "list", ACF_READ, NULL },
	{ "delete", ACF_NAME, "deleted (its key shredded)" },
};

static const struct {
	const char *option, *field;
} ctl_account_limits[] = {
	{ "--max-message-size", "max_message_size" },
	{ "--max-recipients", "max_recipients" },
	{ "--hourly-rate", "hourly_rate" },
};

/* What the command line asked for, parsed against the verb's row. */
struct ctl_account_req {
	const struct ctl_account_cmd *cmd;
	const char *name;
	int from_stdin;
	int generated;			/* the password was generated here */
	size_t ndomains;
	char password[ACCOUNT_PASSWORD_MAX + 2];
};

static const struct ctl_account_cmd *
ctl_account_find(const char *verb)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ctl_account_cmds); i++)
		if (strcmp(verb, ctl_account_cmds[i].verb) == 0)
			return &ctl_account_cmds[i];
	return NULL;
}

/* "--set KEY=VALUE": split a copy at '='; NULL value means "remove". */
static char *
ctl_account_split_setting(const char *arg, const char **value)
{
	char *kv = xstrdup(arg), *eq = strchr(kv, '=');

	*eq = '\0';
	*value = eq + 1;
	return kv;
}

/*
 * Parse ARGV (after the verb) into R and the request object J.  Returns
 * CTL_EXIT_OK, or the exit code after printing why.
 */
static int
ctl_account_parse(struct ctl *c, int argc, char **argv, struct ctl_account_req *r,
    struct json_out *j)
{
	const struct ctl_account_cmd *cmd = r->cmd;
	int i, have_domains = 0, have_settings = 0;
	size_t k;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		int64_t n;

		for (k = 0; k < ARRAY_SIZE(ctl_account_limits); k++)
			if (strcmp(a, ctl_account_limits[k].option) == 0)
				break;
		if (strcmp(a, "--json") == 0) {
			c->json = 1;
		} else if (strcmp(a, "--password-stdin") == 0 && (cmd->flags & ACF_PASSWORD)) {
			r->from_stdin = 1;
		} else if (k < ARRAY_SIZE(ctl_account_limits) && (cmd->flags & ACF_LIMITS)) {
			if (i + 1 >= argc || ctl_account_parse_num(argv[i + 1], &n) != 0) {
				ctl_usage_error(c, "account %s: %s needs a number", cmd->verb, a);
				return CTL_EXIT_USAGE;
			}
			json_kv_int(j, ctl_account_limits[k].field, n);
			i++;
		} else if (strcmp(a, "--domain") == 0 && (cmd->flags & ACF_DOMAINS)) {
			if (i + 1 >= argc) {
				ctl_usage_error(c, "account %s: --domain needs a domain", cmd->verb);
				return CTL_EXIT_USAGE;
			}
			have_domains = 1;
			i++;
		} else if (strcmp(a, "--set") == 0 && (cmd->flags & ACF_SETTINGS)) {
			const char *value;
			char *key, why[256];
			int bad;

			if (i + 1 >= argc || strchr(argv[i + 1], '=') == NULL) {
				ctl_usage_error(c, "account %s: --set needs KEY=VALUE", cmd->verb);
				return CTL_EXIT_USAGE;
			}
			key = ctl_account_split_setting(argv[i + 1], &value);
			bad = account_setting_check(key, value[0] ? value : NULL, why, sizeof(why));
			free(key);
			if (bad) {
				fprintf(stderr, "posternctl: account %s: %s\n", cmd->verb, why);
				return CTL_EXIT_FAIL;
			}
			have_settings = 1;
			i++;
		} else if (a[0] == '-' || r->name != NULL || !(cmd->flags & ACF_NAME)) {
			ctl_usage_error(c, "account %s: unexpected argument '%s'", cmd->verb, a);
			return CTL_EXIT_USAGE;
		} else {
			r->name = a;
		}
	}
	if (cmd->flags & ACF_NAME) {
		if (r->name == NULL || !account_name_valid(r->name)) {
			ctl_usage_error(c, "account %s: %s", cmd->verb, r->name ?
			    "invalid account name (1-64 of A-Z a-z 0-9 . _ -)" : "missing account name");
			return CTL_EXIT_USAGE;
		}
		json_kv_str(j, "name", r->name);
	}
	if (have_domains) {
		json_key(j, "domains");
		json_arr_begin(j);
		for (i = 0; i + 1 < argc; i++)
			if (strcmp(argv[i], "--domain") == 0) {
				json_str(j, argv[++i]);
				r->ndomains++;
			}
		json_arr_end(j);
	}
	if (have_settings) {
		json_key(j, "overrides");
		json_obj_begin(j);
		for (i = 0; i + 1 < argc; i++) {
			if (strcmp(argv[i], "--set") == 0) {
				const char *value;
				char *key = ctl_account_split_setting(argv[++i], &value);

				json_kv_str(j, key, value);
				free(key);
			}
		}
		json_obj_end(j);
	}
	return CTL_EXIT_OK;
}

/* ACF_PASSWORD: read or generate the password and add only its hash to J. */
static int
ctl_account_password(struct ctl_account_req *r, struct json_out *j)
{
	char hash[ACCOUNT_HASH_MAX + 1];

	if (r->from_stdin) {
		if (ctl_account_read_password(r->password, sizeof(r->password)) != 0) {
			fprintf(stderr, "posternctl: no password (or longer than %d) on stdin\n",
			    ACCOUNT_PASSWORD_MAX);
			return CTL_EXIT_USAGE;
		}
	} else {
		account_generate_password(r->password, sizeof(r->password));
		r->generated = 1;
	}
	if (account_hash_password(r->password, strlen(r->password), hash, sizeof(hash)) != 0) {
		fprintf(stderr, "posternctl: cannot hash the password\n");
		return CTL_EXIT_FAIL;
	}
	json_kv_str(j, "password_hash", hash);
	return CTL_EXIT_OK;
}

/* `account list` as an aligned table. */
static void
ctl_account_print_list(const struct json_value *res)
{
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
		cells[3] = ctl_fmt_time((uint64_t)json_get_int(v, "created", 0), when, sizeof(when));
		ctl_table_add(t, cells);
		buf_free(&doms);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

/* A change that worked: one line (or JSON), and a generated password once. */
static void
ctl_account_print_done(struct ctl *c, const struct ctl_account_req *r)
{
	if (c->json) {
		struct buf out;
		struct json_out jo;

		buf_init(&out, 0);
		json_out_init(&jo, &out);
		json_obj_begin(&jo);
		json_kv_str(&jo, "name", r->name);
		json_kv_str(&jo, "result", r->cmd->verb);
		if (r->generated)
			json_kv_str(&jo, "password", r->password);
		json_obj_end(&jo);
		printf("%s\n", out.data);
		crypto_wipe(out.data, out.len);
		buf_free(&out);
		return;
	}
	printf("account %s %s\n", r->name, r->cmd->done);
	if (r->generated)
		printf("password: %s\n(shown only once; store it now)\n", r->password);
	if (strcmp(r->cmd->verb, "add") == 0 && r->ndomains == 0)
		fprintf(stderr, "posternctl: note: no --domain given: %s may not send from "
		    "any address over submission until `posternctl account set %s --domain D` "
		    "(--domain '*' allows every sender)\n", r->name, r->name);
}

int
ctl_account_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct ctl_account_req r;
	struct buf args;
	struct json_out j;
	char cmdname[32];
	int rc;

	if (argc > 0 && strcmp(argv[0], "account") == 0) {
		argc--;
		argv++;
	}
	if (argc < 1) {
		fputs(ctl_account_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(ctl_account_usage, stdout);
		return CTL_EXIT_OK;
	}
	memset(&r, 0, sizeof(r));
	if ((r.cmd = ctl_account_find(argv[0])) == NULL) {
		ctl_usage_error(c, "account: unknown command '%s'", argv[0]);
		return CTL_EXIT_USAGE;
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	rc = ctl_account_parse(c, argc - 1, argv + 1, &r, &j);
	if (rc == CTL_EXIT_OK && (r.cmd->flags & ACF_PASSWORD))
		rc = ctl_account_password(&r, &j);
	json_obj_end(&j);
	if (rc == CTL_EXIT_OK) {
		snprintf(cmdname, sizeof(cmdname), "account.%s", r.cmd->verb);
		rc = ctl_call(c, cmdname, args.data, (r.cmd->flags & ACF_READ) != 0, &root, &res);
	}
	buf_free(&args);
	if (rc == CTL_EXIT_OK) {
		if (strcmp(r.cmd->verb, "list") == 0 && !c->json)
			ctl_account_print_list(res);
		else if (r.cmd->done == NULL)
			ctl_account_print(c, res);	/* show, and list --json */
		else
			ctl_account_print_done(c, &r);
	}
	crypto_wipe(r.password, sizeof(r.password));
	json_free(root);
	return rc;
}
