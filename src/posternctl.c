/* SPDX-License-Identifier: ISC */
/*
 * posternctl.c: the operator and reviewer CLI.  Each command group
 * (queue, account, dkim, review, scan, ...) lives in its own
 * src/ctl_*.c file and registers one entry in the table below.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-V") == 0) {
		printf("posternctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: posternctl COMMAND ...\n");
	return 2;
}
