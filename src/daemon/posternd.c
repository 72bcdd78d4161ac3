/* SPDX-License-Identifier: ISC */
/*
 * posternd.c: the daemon's entry point.  Parses the command line and
 * loads postern.conf; -n checks the configuration with daemon_check(),
 * the same complete check start-up and SIGHUP run (syntax, values,
 * certificate and key, secret file modes, transport and TLS policy
 * tables, the user), and exits 0 or 1; -V prints the version.
 * Everything else (detaching, signals, the module table, the libuv
 * loop) is src/daemon/daemon.c.  Exit status: 0 after a clean stop,
 * 1 on a configuration or start-up error, 2 on a usage error; -h and
 * --help print the usage on stdout and exit 0 (posternctl's rule).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: posternd [-fhnV] [-c file]\n"
	    "  -c file  configuration (default %s/postern/postern.conf)\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -n       check the configuration and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       this help\n", SYSCONFDIR);
	exit(status);
}

int
main(int argc, char **argv)
{
	const char *path = SYSCONFDIR "/postern/postern.conf";
	struct config *cfg;
	char err[8192];
	int ch, check = 0, foreground = 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		usage(stdout, 0);
	while ((ch = getopt(argc, argv, "c:fhnV")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': foreground = 1; break;
		case 'n': check = 1; break;
		case 'V': printf("posternd %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	log_open("posternd", LOG_TO_STDERR, LOG_LEVEL_INFO);
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		int rc = daemon_check(cfg, err, sizeof(err));

		if (rc == -1)
			fprintf(stderr, "%s\n", err);
		else
			printf("%s: configuration ok\n", path);
		config_unref(cfg);
		return rc == -1 ? 1 : 0;
	}
	return daemon_run(cfg, path, foreground);
}
