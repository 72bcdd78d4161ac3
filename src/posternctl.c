/* SPDX-License-Identifier: ISC */
/*
 * posternctl.c: the operator and reviewer CLI.  Each command group
 * (queue, account, dkim, review, scan, ...) lives in its own
 * src/ctl_*.c file and registers one entry in the table below.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "ctl_scan.h"
#include "util.h"

struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the command name */
	const char *help;
};

static const struct ctl_command commands[] = {
	{ "scan", ctl_scan_main, "scan [--json] FILE...   find sensitive data in .eml files (offline)" },
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: posternctl COMMAND ...\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %s\n", commands[i].help);
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc > 1 && strcmp(argv[1], "-V") == 0) {
		printf("posternctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc > 1) {
		for (i = 0; i < ARRAY_SIZE(commands); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].run(argc - 1, argv + 1);
	}
	usage(stderr);
	return 2;
}
