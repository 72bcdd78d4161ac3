/* SPDX-License-Identifier: ISC */
/*
 * ctl_review.c: `posternctl review ...` (posternctl(8) "review"), the
 * abuse reviewers' commands: argv parsing and printing only.  Each verb
 * becomes one review.* request that src/control/cmd_review.c runs in
 * posternd; every one needs the daemon (each is audited there, reads
 * included), none falls back to reading the queue itself.  With --json
 * the result is printed unchanged; else as a table or a short text.
 */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "json.h"
#include "util.h"

const char ctl_review_usage[] =
    "usage: posternctl review list [--reason dlp|spam|limit|manual|restricted|suspended|similar]\n"
    "                  [--account A] [--older-than D] [--accounts] [--json]\n"
    "       posternctl review show ID [--reason TEXT] [--unmasked] [--json]\n"
    "                  (--reason required for reviewers and with --unmasked)\n"
    "       posternctl review release ID... [--learn] [--reason TEXT] [--json]\n"
    "       posternctl review reject ID... [--learn] [--similar] [--notify-sender]\n"
    "                  [--reason TEXT] [--json]\n"
    "       posternctl review flag ID [--reason TEXT] [--json]\n"
    "       posternctl review account NAME [--json]\n"
    "       posternctl review suspend NAME --reason TEXT [--json]\n"
    "       posternctl review resume NAME [--reason TEXT] [--json]\n";

/* The options each verb takes (bit N is opts[N] of ctl_review_main()): any
 * other is a usage error, so the usage text above is what is accepted. */
#define O_REASON	(1u << 0)
#define O_ACCOUNT	(1u << 1)
#define O_OLDER		(1u << 2)
#define O_ACCOUNTS	(1u << 3)
#define O_UNMASKED	(1u << 4)
#define O_LEARN		(1u << 5)
#define O_SIMILAR	(1u << 6)
#define O_NOTIFY	(1u << 7)

static const struct {
	const char *verb;
	unsigned opts;
} review_verbs[] = {
	{ "list", O_REASON | O_ACCOUNT | O_OLDER | O_ACCOUNTS },
	{ "show", O_REASON | O_UNMASKED },
	{ "release", O_REASON | O_LEARN },
	{ "reject", O_REASON | O_LEARN | O_SIMILAR | O_NOTIFY },
	{ "flag", O_REASON },
	{ "account", 0 },
	{ "suspend", O_REASON },
	{ "resume", O_REASON },
};

static const char *
jstr(const struct json_value *v, const char *k)
{
	return json_get_str(v, k, "");
}

static void
print_list(const struct json_value *res, int accounts)
{
	static const char *const hdr[] = { "ID", "ACCOUNT", "AGE", "SIZE", "REASON", "SCORE",
		"FINDINGS" };
	static const char *const ahdr[] = { "ACCOUNT", "STATUS" };
	struct ctl_table *t = ctl_table_new(accounts ? 2 : 7, accounts ? ahdr : hdr);
	long long hidden = 0;
	size_t i, k;

	for (i = 0; res != NULL && res->type == JSON_ARRAY && i < res->n; i++) {
		const struct json_value *x = res->items[i], *f = json_get(x, "findings"),
		    *sc = json_get(x, "score");
		char age[32], size[32], score[32], find[256];
		const char *cells[7];
		size_t off = 0;

		if (json_get(x, "restricted_hidden") != NULL) {
			hidden = json_get_int(x, "restricted_hidden", 0);
			continue;
		}
		if (accounts) {
			cells[0] = jstr(x, "account");
			cells[1] = jstr(x, "status");
			ctl_table_add(t, cells);
			continue;
		}
		ctl_fmt_age((uint64_t)json_get_int(x, "age", 0), age, sizeof(age));
		snprintf(size, sizeof(size), "%lld", (long long)json_get_int(x, "size", 0));
		if (sc != NULL && sc->type == JSON_DOUBLE)
			snprintf(score, sizeof(score), "%.2f", sc->d);
		else if (sc != NULL && sc->type == JSON_INT)
			snprintf(score, sizeof(score), "%lld", (long long)sc->i);
		else
			snprintf(score, sizeof(score), "-");
		find[0] = '\0';
		for (k = 0; f != NULL && f->type == JSON_OBJECT && k < f->n &&
		    off < sizeof(find); k++)
			off += (size_t)snprintf(find + off, sizeof(find) - off, "%s%s=%lld",
			    k ? "," : "", f->keys[k], (long long)f->items[k]->i);
		cells[0] = jstr(x, "id");
		cells[1] = jstr(x, "account");
		cells[2] = age;
		cells[3] = size;
		cells[4] = jstr(x, "reason");
		cells[5] = score;
		cells[6] = find[0] ? find : "-";
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	if (hidden > 0)
		printf("(%lld restricted message%s not shown: restricted by a data-subject request)\n",
		    hidden, hidden == 1 ? "" : "s");
}

/* Text from a message, for a terminal: the whole string (a NUL does
 * not end it) with C0 and C1 controls other than tab and line feed,
 * and DEL, written as \xNN / \u00NN, so mail cannot move the cursor,
 * retitle the terminal or hide what follows from the reviewer. */
static void
put_msg_text(const struct json_value *o, const char *k)
{
	const struct json_value *v = json_get(o, k);
	size_t i;

	if (v == NULL || v->type != JSON_STRING)
		return;
	for (i = 0; i < v->slen; i++) {
		unsigned char c = (unsigned char)v->s[i];

		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
			printf("\\x%02x", c);
		else if (c == 0xc2 && i + 1 < v->slen && (unsigned char)v->s[i + 1] >= 0x80
		    && (unsigned char)v->s[i + 1] <= 0x9f)
			printf("\\u%04x", (unsigned char)v->s[++i]);
		else
			putchar(c);
	}
}

static void
print_show(const struct json_value *res)
{
	const struct json_value *v = json_get(res, "view"), *a, *r = json_get(res, "recipients");
	const struct json_value *sum = json_get(res, "summary");
	size_t i;

	printf("id: %s\naccount: %s (%s)\nstate: %s\nreason: %s\nsize: %lld\n", jstr(res, "id"),
	    jstr(res, "account"), jstr(res, "account_status"), jstr(res, "state"),
	    jstr(res, "reason"), (long long)json_get_int(res, "size", 0));
	printf("sender: %s\n", jstr(res, "sender"));
	for (i = 0; r != NULL && i < r->n; i++)
		printf("recipient: %s (%s)\n", jstr(r->items[i], "address"), jstr(r->items[i], "state"));
	if (json_get(res, "message") != NULL) {
		printf("\n%s\n", jstr(res, "message"));
		return;
	}
	if (v == NULL) {
		printf("body: gone\n");
		return;
	}
	a = json_get(v, "headers");
	for (i = 0; a != NULL && i < a->n; i++) {
		printf("%s: ", jstr(a->items[i], "name"));
		put_msg_text(a->items[i], "value");
		putchar('\n');
	}
	printf("Subject: ");
	put_msg_text(v, "subject");
	putchar('\n');
	a = json_get(v, "attachments");
	for (i = 0; a != NULL && i < a->n; i++) {
		printf("attachment: ");
		put_msg_text(a->items[i], "name");
		printf(" (");
		put_msg_text(a->items[i], "type");
		printf(", %lld bytes)\n", (long long)json_get_int(a->items[i], "size", 0));
	}
	a = json_get(v, "parts");
	for (i = 0; a != NULL && i < a->n; i++) {
		printf("\n--- part %lld (", (long long)json_get_int(a->items[i], "part", 0));
		put_msg_text(a->items[i], "type");
		printf(")%s\n", json_get_bool(a->items[i], "truncated", 0) ? " [truncated]" : "");
		put_msg_text(a->items[i], "text");
		putchar('\n');
	}
	if (sum != NULL)
		printf("\naccount, last %s: %lld messages, %lld bounced, %lld flagged "
		    "(bounce %lld, complaint %lld per mille)\n", jstr(sum, "window"),
		    (long long)json_get_int(sum, "messages", 0),
		    (long long)json_get_int(sum, "bounced", 0),
		    (long long)json_get_int(sum, "flagged", 0),
		    (long long)json_get_int(sum, "bounce_rate_permille", 0),
		    (long long)json_get_int(sum, "complaint_rate_permille", 0));
}

static void
print_decision(const struct json_value *res)
{
	const struct json_value *m = json_get(res, "messages"), *s = json_get(res, "similar_held");
	size_t i;

	for (i = 0; m != NULL && i < m->n; i++)
		printf("%s: %s %s\n", jstr(m->items[i], "id"), jstr(res, "decision"),
		    jstr(m->items[i], "result"));
	for (i = 0; s != NULL && i < s->n; i++)
		printf("%s: held (similar)\n", s->items[i]->s);
	if (json_get(res, "learned") != NULL && !json_get_bool(res, "learned", 0))
		printf("not learned: %s\n", jstr(res, "learn_note"));
	if (json_get(res, "notify_note") != NULL)
		printf("sender not notified: %s\n", jstr(res, "notify_note"));
}

static void
print_account(const struct json_value *res)
{
	const struct json_value *sum = json_get(res, "summary"), *d = json_get(res, "recent_decisions");
	const struct json_value *t = json_get(res, "transitions");
	size_t i;

	printf("account: %s\nstatus: %s\n", jstr(res, "name"), jstr(res, "status"));
	if (sum != NULL)
		printf("last %s: %lld messages, %lld recipients, %lld delivered, %lld bounced, "
		    "%lld held, %lld flagged (bounce %lld, complaint %lld per mille)\n",
		    jstr(sum, "window"), (long long)json_get_int(sum, "messages", 0),
		    (long long)json_get_int(sum, "recipients", 0),
		    (long long)json_get_int(sum, "delivered", 0),
		    (long long)json_get_int(sum, "bounced", 0),
		    (long long)json_get_int(sum, "held", 0),
		    (long long)json_get_int(sum, "flagged", 0),
		    (long long)json_get_int(sum, "bounce_rate_permille", 0),
		    (long long)json_get_int(sum, "complaint_rate_permille", 0));
	for (i = 0; t != NULL && i < t->n; i++) {
		char when[64];

		printf("transition: %s -> %s (%s)\n", ctl_fmt_time((uint64_t)json_get_int(t->items[i],
		    "time", 0), when, sizeof(when)), jstr(t->items[i], "status"),
		    jstr(t->items[i], "reason"));
	}
	for (i = 0; d != NULL && i < d->n; i++)
		printf("decision: %s %s (%s)%s\n", jstr(d->items[i], "id"),
		    jstr(d->items[i], "decision"), jstr(d->items[i], "reason"),
		    json_get_bool(d->items[i], "flagged", 0) ? " flagged" : "");
}

int
ctl_review_main(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "account", required_argument, NULL, 'a' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "accounts", no_argument, NULL, 'A' },
		{ "unmasked", no_argument, NULL, 'u' },
		{ "learn", no_argument, NULL, 'l' },
		{ "similar", no_argument, NULL, 's' },
		{ "notify-sender", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	const char *verb, *cmd;
	struct json_out j;
	struct buf args;
	char cmdname[32];
	int ch, rc, accounts = 0, nrest, i;
	unsigned given = 0, allowed = 0;
	size_t v;
	uint64_t ms;
	char **rest;

	if (argc < 2)
		goto usage;
	verb = argv[1];
	for (v = 0; v < ARRAY_SIZE(review_verbs) && strcmp(review_verbs[v].verb, verb) != 0; v++)
		;
	if (v == ARRAY_SIZE(review_verbs))
		goto usage;
	allowed = review_verbs[v].opts;
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	optind = 0;	/* GNU: full reinitialisation; options may follow ids */
	opterr = 0;
	while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			given |= O_REASON;
			json_kv_str(&j, "reason", optarg);
			break;
		case 'a':
			given |= O_ACCOUNT;
			json_kv_str(&j, "account", optarg);
			break;
		case 'o':
			given |= O_OLDER;
			if (config_parse_duration(optarg, &ms) != 0) {
				ctl_usage_error(c, "bad duration '%s' (e.g. 30m, 2h, 1d)", optarg);
				buf_free(&args);
				return CTL_EXIT_USAGE;
			}
			json_kv_uint(&j, "older_than", ms);
			break;
		case 'A':
			given |= O_ACCOUNTS;
			accounts = 1;
			json_kv_bool(&j, "accounts", 1);
			break;
		case 'u':
			given |= O_UNMASKED;
			json_kv_bool(&j, "unmasked", 1);
			break;
		case 'l':
			given |= O_LEARN;
			json_kv_bool(&j, "learn", 1);
			break;
		case 's':
			given |= O_SIMILAR;
			json_kv_bool(&j, "similar", 1);
			break;
		case 'n':
			given |= O_NOTIFY;
			json_kv_bool(&j, "notify_sender", 1);
			break;
		default:
			buf_free(&args);
			goto usage;
		}
	}
	if ((given & ~allowed) != 0) {
		for (v = 0; ((given & ~allowed) & (1u << v)) == 0; v++)
			;
		ctl_usage_error(c, "review %s does not take --%s", verb, opts[v].name);
		fputs(ctl_review_usage, stderr);
		buf_free(&args);
		return CTL_EXIT_USAGE;
	}
	rest = argv + 1 + optind;
	nrest = argc - 1 - optind;
	if (strcmp(verb, "list") == 0 && nrest == 0)
		cmd = "review.list";
	else if (strcmp(verb, "show") == 0 && nrest == 1) {
		cmd = "review.show";
		json_kv_str(&j, "id", rest[0]);
	} else if (strcmp(verb, "flag") == 0 && nrest == 1) {
		cmd = "review.flag";
		json_kv_str(&j, "id", rest[0]);
	} else if ((strcmp(verb, "release") == 0 || strcmp(verb, "reject") == 0) && nrest >= 1) {
		cmd = verb[2] == 'l' ? "review.release" : "review.reject";
		json_key(&j, "ids");
		json_arr_begin(&j);
		for (i = 0; i < nrest; i++)
			json_str(&j, rest[i]);
		json_arr_end(&j);
	} else if ((strcmp(verb, "account") == 0 || strcmp(verb, "suspend") == 0 ||
	    strcmp(verb, "resume") == 0) && nrest == 1) {
		snprintf(cmdname, sizeof(cmdname), "review.%s", verb);
		cmd = cmdname;
		json_kv_str(&j, "name", rest[0]);
	} else {
		buf_free(&args);
		goto usage;
	}
	json_obj_end(&j);
	rc = ctl_call(c, cmd, args.data, 0, &root, &res);
	buf_free(&args);
	if (rc == 0 || (res != NULL && json_get(res, "messages") != NULL)) {
		if (c->json)
			ctl_print_json(res, stdout);
		else if (strcmp(verb, "list") == 0)
			print_list(res, accounts);
		else if (strcmp(verb, "show") == 0)
			print_show(res);
		else if (strcmp(verb, "account") == 0)
			print_account(res);
		else if (strcmp(verb, "suspend") == 0 || strcmp(verb, "resume") == 0)
			printf("%s: %s, %lld messages %s\n", jstr(res, "name"), jstr(res, "status"),
			    (long long)json_get_int(res, strcmp(verb, "suspend") == 0 ? "held" :
			    "released", 0), strcmp(verb, "suspend") == 0 ? "held" : "released");
		else
			print_decision(res);
	}
	json_free(root);
	return rc;
usage:
	fputs(ctl_review_usage, stderr);
	return CTL_EXIT_USAGE;
}
