/* SPDX-License-Identifier: ISC */
/*
 * posternctl.c: the operator and reviewer CLI (posternctl(8)).  Global
 * options (-c config, -s socket, --json anywhere), then a command group
 * looked up in the table below.  Each group lives in its own
 * src/ctl_*.c file and adds ONE line here (and its declaration to
 * include/ctl.h): account, dkim, domain, scan, review, ...
 * Exit codes: 0 ok, 1 not found / refused / failed, 2 usage.
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

struct ctl_group {
	const char *name;
	int (*main)(struct ctl *c, int argc, char **argv);
	const char *summary;
};

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
	{ "queue", ctl_queue_main, "list, show, hold, release, delete, requeue, flush, stats" },
	{ "audit", ctl_audit_main, "list the audit log of operator and reviewer actions" },
	{ "dkim", ctl_dkim_main, "generate, list, dns, rotate, remove DKIM keys (offline)" },
	{ "domain", ctl_domain_main, "check: what a sending domain must publish (SPF, DKIM)" },
	{ "scan", ctl_scan_group, "[--json] FILE...: find sensitive data in .eml files (offline)" },
	{ "account", ctl_account_main, "add, passwd, set, suspend, unsuspend, show, list, delete" },
	{ "spam", ctl_spam_main, "learn, score, stats, forget, expire: the spam model" },
	{ "suppress", ctl_suppress_main, "list, check, add, remove, import, export suppression lists" },
	{ "review", ctl_review_main, "list, show, release, reject, flag, account, suspend, resume" },
	{ "auth", ctl_auth_main, "lockouts, unlock: AUTH lockouts and slow-downs (needs posternd)" },
	{ "backup", ctl_backup_main, "DIR: a copy that erasure reaches (data, key store, journal position)" },
	{ "restore", ctl_restore_main, "DIR: restore a backup (daemon stopped), replaying later erasures" },
	{ "subject", ctl_subject_main, "erase, export, status: data-subject requests (with receipts)" },
	{ "retention", ctl_retention_main, "show [--account A]: retention periods and what the next purge removes" },
	{ "receipt", ctl_receipt_main, "verify FILE, pubkey: check data-subject request receipts" },
	/* one line per command group: account, dkim, domain, scan, review */
};

static void
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: posternctl [-c config] [-s socket] [--json] COMMAND ...\n"
	    "commands:\n");
	for (i = 0; i < ARRAY_SIZE(groups); i++)
		fprintf(stderr, "  %-10s %s\n", groups[i].name, groups[i].summary);
}

int
main(int argc, char **argv)
{
	struct ctl c;
	char **args;
	int n = 0, i, rc;
	size_t g;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.prog = "posternctl";
	c.config_path = getenv("POSTERN_CONF") ? getenv("POSTERN_CONF") :
	    SYSCONFDIR "/postern/postern.conf";
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
		} else if (strcmp(args[i], "-c") == 0 && i + 1 < n)
			c.config_path = args[++i];
		else if (strcmp(args[i], "-s") == 0 && i + 1 < n)
			c.socket_path = args[++i];
		else if (strcmp(args[i], "-h") == 0 || strcmp(args[i], "--help") == 0) {
			usage();
			free(args);
			return 0;
		} else {
			usage();
			free(args);
			return CTL_EXIT_USAGE;
		}
	}
	if (i >= n) {
		usage();
		free(args);
		return CTL_EXIT_USAGE;
	}
	for (g = 0; g < ARRAY_SIZE(groups); g++)
		if (strcmp(groups[g].name, args[i]) == 0)
			break;
	if (g == ARRAY_SIZE(groups)) {
		fprintf(stderr, "posternctl: unknown command '%s'\n", args[i]);
		usage();
		free(args);
		return CTL_EXIT_USAGE;
	}
	rc = groups[g].main(&c, n - i, args + i);
	if (c.fd >= 0)
		close(c.fd);
	if (c.queue != NULL)
		queue_close(c.queue);
	config_free(c.cfg);
	free(args);
	return rc;
}
