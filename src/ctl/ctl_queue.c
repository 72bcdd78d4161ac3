/* SPDX-License-Identifier: ISC */
/*
 * ctl_queue.c: `posternctl queue ...` and `posternctl audit ...`: argv
 * parsing and printing only.  Each verb becomes one queue.* / audit.*
 * request (src/control/cmd_queue.c runs it in posternd); the result is
 * printed as an aligned table or, with --json, unchanged.
 *
 * Read-only verbs (list, show, stats, check, events, audit list) also work
 * with the daemon stopped: ctl_call() then runs the same handler
 * in-process on the queue opened read-only.
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "json.h"
#include "queue.h"
#include "util.h"


const char ctl_queue_usage[] =
    "usage: posternctl queue list [--all] [FILTERS] [--addresses --reason TEXT] [--json]\n"
    "       posternctl queue summary [FILTERS] [--json]\n"
    "       posternctl queue show ID [--body] [--reason TEXT] [--json]\n"
    "       posternctl queue hold|release|delete|requeue ID...\n"
    "       posternctl queue hold|release|delete|requeue --all-matching [FILTERS]\n"
    "       posternctl queue bounce ID...|--domain D|--all-matching [FILTERS]\n"
    "       posternctl queue suspend|unsuspend --domain D\n"
    "       posternctl queue flush | stats [--json] | events [ID] [--json] | purge\n"
    "       posternctl queue check [--json]\n"
    "FILTERS: --state S --account A --older-than D --address ADDR (sender or recipient)\n"
    "         --rcpt ADDR --sender ADDR --domain D\n"
    "list shows pending mail (queued, held, deferred) unless --all or --state.\n";

/* Parse the filters (--state/--account/--address/--older-than/--rcpt/
 * --sender/--domain), --all-matching, --all, --body, --addresses and
 * --reason into a JSON args object in B; non-option arguments are
 * returned. */
static int
parse_opts(struct ctl *c, int argc, char **argv, struct json_out *j, int *all,
    int *body, int *history, int *has_state, char ***rest, int *nrest)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "account", required_argument, NULL, 'a' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "all-matching", no_argument, NULL, 'A' },
		{ "body", no_argument, NULL, 'b' },
		{ "all", no_argument, NULL, 'H' },
		{ "rcpt", required_argument, NULL, 'R' },
		{ "sender", required_argument, NULL, 'f' },
		{ "domain", required_argument, NULL, 'd' },
		{ "address", required_argument, NULL, 'e' },
		{ "addresses", no_argument, NULL, 'P' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	enum queue_state st;
	uint64_t ms;
	int ch;

	optind = 0;	/* GNU: full reinitialisation; options may follow ids */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (queue_parse_state(optarg, &st) != 0) {
				ctl_usage_error(c, "unknown state '%s' (queued, held, deferred, "
				    "delivered, bounced, expired, deleted)", optarg);
				return -1;
			}
			json_kv_str(j, "state", optarg);
			*has_state = 1;
			break;
		case 'H':
			*history = 1;
			break;
		case 'R':
			json_kv_str(j, "rcpt", optarg);
			break;
		case 'f':
			json_kv_str(j, "sender", optarg);
			break;
		case 'd':
			json_kv_str(j, "domain", optarg);
			break;
		case 'a':
			json_kv_str(j, "account", optarg);
			break;
		case 'o':
			if (config_parse_duration(optarg, &ms) != 0) {
				ctl_usage_error(c, "bad duration '%s' (e.g. 30m, 2h, 1d)", optarg);
				return -1;
			}
			json_kv_uint(j, "older_than", ms);
			break;
		case 'A':
			*all = 1;
			json_kv_bool(j, "all_matching", 1);
			break;
		case 'b':
			*body = 1;
			json_kv_bool(j, "body", 1);
			break;
		case 'e':
			json_kv_str(j, "address", optarg);
			break;
		case 'P':
			json_kv_bool(j, "addresses", 1);
			break;
		case 'r':
			json_kv_str(j, "reason", optarg);
			break;
		default:
			ctl_usage_error(c, "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	*rest = argv + optind;
	*nrest = argc - optind;
	return 0;
}

static const char *
jstr(const struct json_value *o, const char *k)
{
	const char *s = json_get_str(o, k, NULL);

	return s != NULL ? s : "";
}

/* An address cell: the address when the read showed it, else "#" and
 * the start of its keyed hash (sealed or shredded envelopes). */
static const char *
addr_cell(const struct json_value *o, const char *key, char *buf, size_t n)
{
	char hk[32];
	const char *a = json_get_str(o, key, NULL), *h;

	snprintf(hk, sizeof(hk), "%s_hash", key);
	h = json_get_str(o, hk, NULL);
	if (a != NULL)
		return a;
	if (h != NULL) {
		snprintf(buf, n, "#%.16s", h);
		return buf;
	}
	return "";
}

static void
print_list(const struct json_value *res)
{
	static const char *const hdr[] = { "ID", "STATE", "SIZE", "AGE", "ACCOUNT", "SENDER", "RECIPIENTS" };
	const struct json_value *msgs = json_get(res, "messages");
	struct ctl_table *t = ctl_table_new(7, hdr);
	uint64_t now = now_wall_ms();
	size_t i;

	for (i = 0; msgs != NULL && i < msgs->n; i++) {
		const struct json_value *m = msgs->items[i], *r = json_get(m, "recipients");
		char size[32], age[32], rc[400], sender[330], ab[40];
		const char *cells[7];
		uint64_t created = (uint64_t)json_get_int(m, "created", 0);

		snprintf(size, sizeof(size), "%lld", (long long)json_get_int(m, "size", 0));
		ctl_fmt_age(now > created ? now - created : 0, age, sizeof(age));
		snprintf(sender, sizeof(sender), "<%s>", addr_cell(m, "sender", ab, sizeof(ab)));
		if (r != NULL && r->n > 1)
			snprintf(rc, sizeof(rc), "%s (+%zu)", addr_cell(r->items[0], "address", ab,
			    sizeof(ab)), r->n - 1);
		else if (r != NULL && r->n == 1)
			snprintf(rc, sizeof(rc), "%s", addr_cell(r->items[0], "address", ab, sizeof(ab)));
		else
			rc[0] = '\0';
		cells[0] = jstr(m, "id");
		cells[1] = jstr(m, "state");
		cells[2] = size;
		cells[3] = age;
		cells[4] = *jstr(m, "account") ? jstr(m, "account") : "-";
		cells[5] = sender;
		cells[6] = rc;
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	printf("%zu message%s\n", msgs ? msgs->n : 0, msgs && msgs->n == 1 ? "" : "s");
}

static void
print_show(const struct json_value *m)
{
	static const char *const hdr[] = { "NO", "STATE", "ATTEMPTS", "NEXT TRY", "ADDRESS", "LAST REPLY" };
	const struct json_value *r = json_get(m, "recipients"), *hv;
	struct ctl_table *t;
	char tbuf[64], ab[40];
	size_t i;

	printf("id:       %s\n", jstr(m, "id"));
	printf("state:    %s\n", jstr(m, "state"));
	printf("account:  %s\n", *jstr(m, "account") ? jstr(m, "account") : "-");
	printf("sender:   <%s>\n", addr_cell(m, "sender", ab, sizeof(ab)));
	printf("envelope: %s\n", jstr(m, "envelope"));
	printf("created:  %s UTC\n", ctl_fmt_time((uint64_t)json_get_int(m, "created", 0), tbuf, sizeof(tbuf)));
	printf("size:     %lld\n", (long long)json_get_int(m, "size", 0));
	if (json_get_str(m, "envid", NULL))
		printf("envid:    %s\n", jstr(m, "envid"));
	printf("body:     %s\n", jstr(m, "body_status"));
	printf("\n");
	t = ctl_table_new(6, hdr);
	for (i = 0; r != NULL && i < r->n; i++) {
		const struct json_value *x = r->items[i];
		char no[16], att[16], next[64], ab2[40];
		const char *cells[6];
		const char *st = jstr(x, "state");
		snprintf(no, sizeof(no), "%lld", (long long)json_get_int(x, "no", 0));
		snprintf(att, sizeof(att), "%lld", (long long)json_get_int(x, "attempts", 0));
		if (strcmp(st, "queued") == 0 || strcmp(st, "deferred") == 0)
			ctl_fmt_time((uint64_t)json_get_int(x, "next_try", 0), next, sizeof(next));
		else
			snprintf(next, sizeof(next), "-");
		cells[0] = no;
		cells[1] = st;
		cells[2] = att;
		cells[3] = next;
		cells[4] = addr_cell(x, "address", ab2, sizeof(ab2));
		cells[5] = jstr(x, "last_reply");
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	/* binary-safe (issue 12 item 13): a stored message may hold NUL */
	if ((hv = json_get(m, "headers")) != NULL && hv->type == JSON_STRING) {
		printf("\n");
		for (i = 0; i < hv->slen; i++) {
			if (hv->s[i] == '\0')
				fputs("^@", stdout);	/* visible, as cat -v shows it */
			else
				putchar(hv->s[i]);
		}
	}
	if ((hv = json_get(m, "body")) != NULL && hv->type == JSON_STRING) {
		printf("\n");
		fwrite(hv->s, 1, hv->slen, stdout);	/* the stored bytes, for a pipe */
	}
}

static void
print_check(const struct json_value *s)
{
	const struct json_value *p = json_get(s, "problems");
	size_t i;

	for (i = 0; p != NULL && i < p->n; i++)
		printf("problem: %s\n", p->items[i]->s);
	printf("checked: %lld pages, %lld messages, %lld recipients, %lld chunks, "
	    "%lld schedule entries, %lld keys, %lld log records, %lld accounts\n",
	    (long long)json_get_int(s, "pages", 0), (long long)json_get_int(s, "messages", 0),
	    (long long)json_get_int(s, "recipients", 0), (long long)json_get_int(s, "chunks", 0),
	    (long long)json_get_int(s, "scheduled", 0), (long long)json_get_int(s, "keys", 0),
	    (long long)json_get_int(s, "log_records", 0), (long long)json_get_int(s, "accounts", 0));
	if (p != NULL && p->n > 0)
		printf("%zu problem%s found\n", p->n, p->n == 1 ? "" : "s");
	else
		printf("ok\n");
}

static void
print_stats(const struct json_value *s)
{
	const struct json_value *by = json_get(s, "messages_by_state");
	const struct json_value *rby = json_get(s, "recipients_by_state");
	size_t i;

	printf("messages:   %lld\n", (long long)json_get_int(s, "messages", 0));
	printf("bytes:      %lld\n", (long long)json_get_int(s, "bytes", 0));
	printf("scheduled:  %lld\n", (long long)json_get_int(s, "scheduled", 0));
	printf("map size:   %lld\n", (long long)json_get_int(s, "map_size", 0));
	for (i = 0; by != NULL && i < by->n; i++)
		printf("%-11s %lld messages, %lld recipients\n", by->keys[i],
		    (long long)by->items[i]->i,
		    (long long)json_get_int(rby, by->keys[i], 0));
}

/* qshape's layout: one row per domain, one column per age bucket. */
static void
print_summary(const struct json_value *res)
{
	const struct json_value *b = json_get(res, "buckets"), *d = json_get(res, "domains");
	size_t i, k, nb = b != NULL ? b->n : 0;
	const char **hdr = xcalloc(nb + 3, sizeof(*hdr)), **cells = xcalloc(nb + 3, sizeof(*cells));
	char (*txt)[24] = xcalloc(nb + 3, sizeof(*txt));
	struct ctl_table *t;

	hdr[0] = "DOMAIN";
	hdr[1] = "TOTAL";
	for (k = 0; k < nb; k++) {
		snprintf(txt[k], sizeof(txt[k]), "%lldm", (long long)b->items[k]->i);
		hdr[k + 2] = txt[k];
	}
	snprintf(txt[nb], sizeof(txt[nb]), "%lldm+", nb ? (long long)b->items[nb - 1]->i : 0LL);
	hdr[nb + 2] = txt[nb];
	t = ctl_table_new(nb + 3, hdr);
	for (i = 0; i <= (d != NULL ? d->n : 0); i++) {
		const struct json_value *r = i == 0 ? json_get(res, "total") : d->items[i - 1];
		const struct json_value *n = json_get(r, "counts");
		char (*num)[24] = xcalloc(nb + 2, sizeof(*num));

		cells[0] = jstr(r, "domain");
		snprintf(num[0], sizeof(num[0]), "%lld", (long long)json_get_int(r, "total", 0));
		cells[1] = num[0];
		for (k = 0; k <= nb; k++) {
			snprintf(num[k + 1], sizeof(num[0]), "%lld",
			    n != NULL && k < n->n ? (long long)n->items[k]->i : 0LL);
			cells[k + 2] = num[k + 1];
		}
		ctl_table_add(t, cells);
		free(num);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	free(hdr);
	free(cells);
	free(txt);
}

static void
print_log(const struct json_value *res, const char *key)
{
	const struct json_value *ev = json_get(res, key);
	size_t i;

	for (i = 0; ev != NULL && i < ev->n; i++)
		ctl_print_json(ev->items[i], stdout);
}

int
ctl_queue_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	char **rest, cmd[64];
	int nrest, all = 0, body = 0, history = 0, has_state = 0, rc, i;
	const char *verb;

	if (argc < 2) {
		fputs(ctl_queue_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	verb = argv[1];
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	if (parse_opts(c, argc - 1, argv + 1, &j, &all, &body, &history, &has_state, &rest,
	    &nrest) != 0) {
		buf_free(&args);
		fputs(ctl_queue_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	snprintf(cmd, sizeof(cmd), "queue.%s", verb);
	if (strcmp(verb, "list") == 0 || strcmp(verb, "stats") == 0 ||
	    strcmp(verb, "flush") == 0 || strcmp(verb, "purge") == 0 ||
	    strcmp(verb, "summary") == 0 || strcmp(verb, "check") == 0) {
		if (nrest != 0)
			goto usage;
		/* pending mail only, unless --all (history) or a --state */
		if (strcmp(verb, "list") == 0 && !history && !has_state)
			json_kv_bool(&j, "pending", 1);
	} else if (strcmp(verb, "suspend") == 0 || strcmp(verb, "unsuspend") == 0) {
		if (nrest != 0 || all)
			goto usage;
	} else if (strcmp(verb, "bounce") == 0 && nrest == 0 && !all) {
		/* --domain D: the only option parse_opts() writes as "domain"
		 * (without ids or --all-matching it is required) */
		if (memmem(args.data, args.len, "\"domain\":", 9) == NULL) {
			buf_free(&args);
			fputs(ctl_queue_usage, stderr);
			return ctl_error(c, CTL_EXIT_USAGE, "queue bounce: give message ids, "
			    "--domain D or --all-matching [FILTERS]");
		}
	} else if (strcmp(verb, "show") == 0) {
		if (nrest != 1)
			goto usage;
		json_kv_str(&j, "id", rest[0]);
	} else if (strcmp(verb, "events") == 0) {
		if (nrest > 1)
			goto usage;
		if (nrest == 1)
			json_kv_str(&j, "id", rest[0]);
	} else if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
	    strcmp(verb, "delete") == 0 || strcmp(verb, "requeue") == 0 ||
	    strcmp(verb, "bounce") == 0) {
		if ((nrest == 0) == (all == 0))
			goto usage;
		json_key(&j, "ids");
		json_arr_begin(&j);
		for (i = 0; i < nrest; i++)
			json_str(&j, rest[i]);
		json_arr_end(&j);
	} else
		goto usage;
	json_obj_end(&j);
	rc = ctl_call(c, cmd, args.data, strcmp(verb, "list") == 0 ||
	    strcmp(verb, "show") == 0 || strcmp(verb, "stats") == 0 ||
	    strcmp(verb, "events") == 0 || strcmp(verb, "summary") == 0 ||
	    strcmp(verb, "check") == 0, &root, &res);
	buf_free(&args);
	if (res != NULL || rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else if (strcmp(verb, "list") == 0)
			print_list(res);
		else if (strcmp(verb, "show") == 0)
			print_show(res);
		else if (strcmp(verb, "stats") == 0)
			print_stats(res);
		else if (strcmp(verb, "summary") == 0)
			print_summary(res);
		else if (strcmp(verb, "suspend") == 0 || strcmp(verb, "unsuspend") == 0 ||
		    (strcmp(verb, "bounce") == 0 && json_get_str(res, "domain", NULL) != NULL))
			printf("%s: %s%s, %lld message%s changed\n", jstr(res, "domain"), verb,
			    strcmp(verb, "bounce") == 0 ? "d" : "ed",
			    (long long)json_get_int(res, "messages", 0),
			    json_get_int(res, "messages", 0) == 1 ? "" : "s");
		else if (strcmp(verb, "events") == 0)
			print_log(res, "events");
		else if (strcmp(verb, "check") == 0)
			print_check(res);
		else if (rc == 0) {
			const struct json_value *d = json_get(res, "done");
			for (i = 0; d != NULL && (size_t)i < d->n; i++)
				printf("%s: %s\n", d->items[i]->s, verb);
			if (d == NULL)
				printf("%s: ok\n", verb);
		}
		if (rc == 0 && strcmp(verb, "check") == 0 && !json_get_bool(res, "ok", 0))
			rc = CTL_EXIT_FAIL;	/* problems found */
	}
	json_free(root);
	return rc;
usage:
	buf_free(&args);
	fputs(ctl_queue_usage, stderr);
	return CTL_EXIT_USAGE;
}

static void
print_audit(const struct json_value *res)
{
	static const char *const hdr[] = { "TIME (UTC)", "USER", "ROLE", "COMMAND", "STATUS", "TARGET" };
	const struct json_value *a = json_get(res, "audit");
	struct ctl_table *t = ctl_table_new(6, hdr);
	size_t i;

	for (i = 0; a != NULL && i < a->n; i++) {
		const struct json_value *x = a->items[i], *ids = json_get(x, "ids");
		char when[64], st[300], target[400];
		const char *cells[6];
		int64_t status = json_get_int(x, "status", 0);

		ctl_fmt_time((uint64_t)json_get_int(x, "time", 0), when, sizeof(when));
		if (json_get_str(x, "phase", NULL) != NULL)
			snprintf(st, sizeof(st), "%s", jstr(x, "phase"));	/* written ahead */
		else if (status == 0)
			snprintf(st, sizeof(st), "ok");
		else
			snprintf(st, sizeof(st), "%lld (%s)", (long long)status, jstr(x, "error"));
		/* a batch record names the messages its transaction changed */
		if (ids == NULL || ids->type != JSON_ARRAY ||
		    (ids->n == 1 && strcmp(ids->items[0]->s, jstr(x, "target")) == 0))
			snprintf(target, sizeof(target), "%s", jstr(x, "target"));
		else if (ids->n == 1 && *jstr(x, "target") == '\0')
			snprintf(target, sizeof(target), "%s", ids->items[0]->s);
		else
			snprintf(target, sizeof(target), "%s [%zu changed]", jstr(x, "target"), ids->n);
		cells[0] = when;
		cells[1] = jstr(x, "user");
		cells[2] = jstr(x, "role");
		cells[3] = jstr(x, "cmd");
		cells[4] = st;
		cells[5] = target;
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

int
ctl_audit_main(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	int rc;

	if (argc != 2 || strcmp(argv[1], "list") != 0) {
		fputs("usage: posternctl audit list [--json]\n", stderr);
		return CTL_EXIT_USAGE;
	}
	rc = ctl_call(c, "audit.list", NULL, 1, &root, &res);
	if (rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else
			print_audit(res);
	}
	json_free(root);
	return rc;
}
