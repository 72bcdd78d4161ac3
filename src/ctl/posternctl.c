/* SPDX-License-Identifier: ISC */
/*
 * posternctl.c: the operator and reviewer CLI (posternctl(8)).  Global
 * options (-c config, -s socket, --json anywhere), then a command group
 * looked up in the table below.  Each group lives in its own
 * src/ctl/ctl_*.c file and adds ONE row here (and its declaration to
 * include/ctl.h): name, entry point, one-line summary, its verbs and
 * its usage text.
 *
 * The table is what makes every group behave alike (posternctl(8),
 * "CONVENTIONS"), so a group only parses its own verbs' arguments:
 *   - `posternctl help [GROUP]`, `GROUP --help`, `GROUP help` and
 *     `GROUP VERB --help` print the group's usage to stdout, exit 0;
 *   - no verb, or a verb not in the row, is a usage error: exit 2, with
 *     "did you mean" (edit distance) for a mistyped group or verb;
 *   - with --json, errors are one JSON object on stdout
 *     ({"status":N,"error":"..."}) as well (ctl_error());
 *   - `posternctl complete WORD...` prints the words that may follow,
 *     for the bash completion (contrib/posternctl.bash-completion).
 * Exit codes: 0 ok, 1 not found / refused / failed / daemon down,
 * 2 usage.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "ctl.h"
#include "ctl_scan.h"
#include "log.h"
#include "queue.h"
#include "util.h"

/* `posternctl scan` runs offline and parses its own --json. */
static int
ctl_scan_group(struct ctl *c, int argc, char **argv)
{
	char **av = xcalloc((size_t)argc + 2, sizeof(*av));
	int i, n = 0, rc;

	av[n++] = argv[0];
	if (c->json)
		av[n++] = "--json";
	for (i = 1; i < argc; i++)
		av[n++] = argv[i];
	rc = ctl_scan_main(n, av);
	free(av);
	return rc;
}

static const struct ctl_group groups[] = {
	{ "status", ctl_status_main, "is posternd up: version, uptime, listeners, queue, delivery",
	  NULL, "usage: posternctl status [--json]\n" },
	{ "queue", ctl_queue_main, "list, show, summary, hold, release, delete, requeue, bounce, suspend, flush, stats, check",
	  "list show summary hold release delete requeue bounce suspend unsuspend flush stats events purge check",
	  ctl_queue_usage },
	{ "delivery", ctl_delivery_main, "pause, resume delivery (all or one --domain); persisted",
	  "pause resume status",
	  "usage: posternctl delivery pause|resume [--domain D]\n"
	  "       posternctl delivery status [--json]\n" },
	{ "audit", ctl_audit_main, "list the audit log of operator and reviewer actions",
	  "list", "usage: posternctl audit list [--json]\n" },
	{ "config", ctl_config_main, "the effective configuration: changed keys, or --all",
	  NULL, "usage: posternctl config [--all] [KEY...] [--json]\n" },
	{ "setup", ctl_setup_main, "create the postern user, groups, directories and master key (root)",
	  NULL, "usage: posternctl setup [--dry-run] [--user NAME]\n" },
	{ "dkim", ctl_dkim_main, "generate, list, dns, rotate, remove DKIM keys",
	  "generate list dns rotate remove", ctl_dkim_usage },
	{ "domain", ctl_domain_main, "check: what a sending domain must publish (SPF, DKIM)",
	  "check", "usage: posternctl domain check DOMAIN\n" },
	{ "scan", ctl_scan_group, "[--json] FILE...: find sensitive data in .eml files (offline)",
	  NULL, "usage: posternctl scan [--json] FILE...\n" },
	{ "account", ctl_account_main, "add, passwd, set, suspend, unsuspend, show, list, delete",
	  "add passwd set suspend unsuspend show list delete", ctl_account_usage },
	{ "auth", ctl_auth_main, "lockouts, unlock: AUTH lockouts and slow-downs (needs posternd)",
	  "lockouts unlock", ctl_auth_usage_text },
	{ "spam", ctl_spam_main, "learn, score, stats, forget, expire: the spam model",
	  "learn score stats forget expire",
	  ctl_spam_usage },
	{ "suppress", ctl_suppress_main, "list, check, add, remove, import, export suppression lists",
	  "list check add remove import export",
	  ctl_suppress_usage_text },
	{ "review", ctl_review_main, "list, show, release, reject, flag, account, suspend, resume",
	  "list show release reject flag account suspend resume",
	  ctl_review_usage },
	{ "backup", ctl_backup_main, "DIR: a copy that erasure reaches (data, key store, journal position)",
	  NULL, "usage: posternctl backup DIR\n" },
	{ "restore", ctl_restore_main, "DIR: restore a backup (daemon stopped), replaying later erasures",
	  NULL, "usage: posternctl restore DIR\n" },
	{ "subject", ctl_subject_main, "erase, export, restrict, unrestrict, status: data-subject requests",
	  "erase export restrict unrestrict status",
	  "usage: posternctl subject erase --account A ADDRESS [--all-accounts] [--no-suppress] [--receipt FILE]\n"
	  "       posternctl subject export --account A ADDRESS [--content] [--reason TEXT] [--receipt FILE]\n"
	  "       posternctl subject restrict --account A ADDRESS --reason TEXT [--receipt FILE]\n"
	  "       posternctl subject unrestrict --account A ADDRESS [--receipt FILE]\n"
	  "       posternctl subject status --account A ADDRESS\n" },
	{ "receipt", ctl_receipt_main, "verify FILE, pubkey: data-subject request receipts",
	  "verify pubkey",
	  "usage: posternctl receipt verify FILE [--key BASE64]\n"
	  "       posternctl receipt pubkey\n" },
	{ "retention", ctl_retention_main, "show: retention periods and what the next purge removes",
	  "show", "usage: posternctl retention show [--account A]\n" },
	/* one row per command group: name, main, summary, verbs, usage */
};

const struct ctl_group *
ctl_group_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(groups); i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: posternctl [-c config] [-s socket] [--json] COMMAND ...\n"
	    "       posternctl help [COMMAND]\n"
	    "commands:\n");
	for (i = 0; i < ARRAY_SIZE(groups); i++)
		fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].summary);
	fprintf(f, "The config is -c FILE, else $POSTERN_CONF, else %s/postern/postern.conf.\n",
	    SYSCONFDIR);
}

/* Whether WORD is one of the space-separated WORDS. */
static int
word_in(const char *words, const char *word)
{
	size_t n = strlen(word);
	const char *p = words;

	while (p != NULL && *p) {
		size_t l = strcspn(p, " ");
		if (l == n && strncmp(p, word, n) == 0)
			return 1;
		p += l;
		p += strspn(p, " ");
	}
	return 0;
}

/* `posternctl complete WORD...`: what may follow WORDS (one per line). */
static int
complete(int argc, char **argv)
{
	const struct ctl_group *g;
	const char *p;
	size_t i;

	/* the words typed so far may start with global options
	 * (`posternctl -c FILE queue <TAB>`): they name no command */
	while (argc > 0 && argv[0][0] == '-') {
		int skip = (strcmp(argv[0], "-c") == 0 || strcmp(argv[0], "-s") == 0) ? 2 : 1;

		if (skip > argc)
			skip = argc;
		argc -= skip;
		argv += skip;
	}
	if (argc == 0) {
		for (i = 0; i < ARRAY_SIZE(groups); i++)
			printf("%s\n", groups[i].name);
		printf("help\n");
		return 0;
	}
	if (strcmp(argv[0], "help") == 0 && argc == 1) {
		for (i = 0; i < ARRAY_SIZE(groups); i++)
			printf("%s\n", groups[i].name);
		return 0;
	}
	if ((g = ctl_group_find(argv[0])) == NULL || g->verbs == NULL || argc > 1)
		return 0;
	for (p = g->verbs; *p;) {
		size_t l = strcspn(p, " ");
		printf("%.*s\n", (int)l, p);
		p += l;
		p += strspn(p, " ");
	}
	return 0;
}

static int
is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

static int
run_group(struct ctl *c, const struct ctl_group *g, int argc, char **argv)
{
	int i;

	/* --help anywhere after the group: the usage, exit 0. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
		    (i == 1 && strcmp(argv[i], "help") == 0)) {
			ctl_group_usage(g->name, stdout);
			return CTL_EXIT_OK;
		}
	if (g->verbs != NULL) {
		if (argc < 2) {
			ctl_group_usage(g->name, stderr);
			return ctl_error(c, CTL_EXIT_USAGE, "%s: a command is missing", g->name);
		}
		if (!word_in(g->verbs, argv[1])) {
			char alt[256];

			if (ctl_did_you_mean(g->verbs, argv[1], alt, sizeof(alt)))
				return ctl_error(c, CTL_EXIT_USAGE, "unknown command '%s %s'; did you "
				    "mean '%s %s'?", g->name, argv[1], g->name, alt);
			ctl_group_usage(g->name, stderr);
			return ctl_error(c, CTL_EXIT_USAGE, "unknown command '%s %s'", g->name,
			    argv[1]);
		}
	}
	return g->main(c, argc, argv);
}

/* An unknown group NAME: exit 2, with "did you mean" when one is close. */
static int
unknown_group(struct ctl *c, const char *name)
{
	char names[1024], alt[64];
	size_t k, off = 0;

	for (k = 0; k < ARRAY_SIZE(groups) && off < sizeof(names) - 64; k++)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
		    k ? " " : "", groups[k].name);
	if (ctl_did_you_mean(names, name, alt, sizeof(alt)))
		return ctl_error(c, CTL_EXIT_USAGE, "unknown command '%s'; did you mean '%s'?",
		    name, alt);
	usage(stderr);
	return ctl_error(c, CTL_EXIT_USAGE, "unknown command '%s'", name);
}

int
main(int argc, char **argv)
{
	const struct ctl_group *g;
	struct ctl c;
	char **args;
	int n = 0, i, rc;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.prog = "posternctl";
	c.config_path = getenv("POSTERN_CONF") ? getenv("POSTERN_CONF") :
	    SYSCONFDIR "/postern/postern.conf";
	c.config_given = getenv("POSTERN_CONF") != NULL;
	c.socket_path = getenv("POSTERN_CONTROL_SOCKET");
	log_open("posternctl", LOG_TO_STDERR, LOG_LEVEL_WARN);
	control_commands_register();	/* for the offline fallback */
	/* --json may appear anywhere; global options come first. */
	args = xcalloc((size_t)argc + 1, sizeof(*args));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else
			args[n++] = argv[i];
	}
	for (i = 0; i < n && args[i][0] == '-'; i++) {
		if (strcmp(args[i], "-V") == 0 || strcmp(args[i], "--version") == 0) {
			printf("posternctl %s\n", PACKAGE_VERSION);
			free(args);
			return 0;
		} else if (strcmp(args[i], "-c") == 0 && i + 1 < n) {
			c.config_path = args[++i];
			c.config_given = 1;
		} else if (strcmp(args[i], "-s") == 0 && i + 1 < n)
			c.socket_path = args[++i];
		else if (strcmp(args[i], "-h") == 0 || strcmp(args[i], "--help") == 0) {
			usage(stdout);
			free(args);
			return 0;
		} else if (strcmp(args[i], "-c") == 0 || strcmp(args[i], "-s") == 0) {
			usage(stderr);
			rc = ctl_error(&c, CTL_EXIT_USAGE, "option '%s' needs a %s", args[i],
			    args[i][1] == 'c' ? "config FILE" : "SOCKET path");
			free(args);
			return rc;
		} else {
			usage(stderr);
			rc = ctl_error(&c, CTL_EXIT_USAGE, "unknown option '%s'", args[i]);
			free(args);
			return rc;
		}
	}
	if (i >= n) {
		usage(stderr);
		free(args);
		return ctl_error(&c, CTL_EXIT_USAGE, "a command is missing");
	}
	if (strcmp(args[i], "complete") == 0) {
		rc = complete(n - i - 1, args + i + 1);
		free(args);
		return rc;
	}
	if (is_help(args[i])) {
		rc = CTL_EXIT_OK;
		if (i + 1 < n && (g = ctl_group_find(args[i + 1])) != NULL)
			ctl_group_usage(g->name, stdout);
		else if (i + 1 < n && !is_help(args[i + 1]) && strcmp(args[i + 1], "complete") != 0)
			rc = unknown_group(&c, args[i + 1]);	/* `help qeue`: a usage error */
		else
			usage(stdout);
		free(args);
		return rc;
	}
	if ((g = ctl_group_find(args[i])) == NULL) {
		rc = unknown_group(&c, args[i]);
		free(args);
		return rc;
	}
	rc = run_group(&c, g, n - i, args + i);
	/* a group's usage error printed only its usage text: under --json
	 * the error is a JSON object on stdout too, as for every other */
	if (rc == CTL_EXIT_USAGE && c.json && !c.error_reported)
		ctl_error(&c, rc, "%s: usage error (posternctl help %s)", g->name, g->name);
	if (c.fd >= 0)
		close(c.fd);
	if (c.queue != NULL)
		queue_close(c.queue);
	config_free(c.cfg);
	free(args);
	return rc;
}
