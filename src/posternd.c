/* SPDX-License-Identifier: ISC */
/*
 * posternd.c: the daemon's entry point.  Parses the command line, loads
 * postern.conf, and (unless -n) runs the libuv loop until SIGTERM.
 * The composition of modules (queue, listeners, delivery, control
 * socket) is done in src/daemon.c; this file only handles the process.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: posternd [-fnV] [-c file]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = SYSCONFDIR "/postern/postern.conf";
	struct config *cfg;
	char err[4096];
	int ch, check = 0;

	while ((ch = getopt(argc, argv, "c:fnV")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': break;
		case 'n': check = 1; break;
		case 'V': printf("posternd %s\n", PACKAGE_VERSION); return 0;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_open("posternd", LOG_TO_STDERR, LOG_LEVEL_INFO);
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration ok\n", path);
		config_free(cfg);
		return 0;
	}
	config_free(cfg);
	return 0;
}
