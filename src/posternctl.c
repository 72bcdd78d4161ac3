/* SPDX-License-Identifier: ISC */
/*
 * posternctl.c: the operator and reviewer CLI.  Each command group
 * (queue, account, dkim, review, scan, ...) lives in its own
 * src/ctl_*.c file and registers one entry in the table below.
 * `-c FILE` (or $POSTERN_CONF) names the config; without it the
 * default path is used when it exists, else the built-in defaults.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl_dkim.h"

struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv, const struct config *cfg);
};

static const struct ctl_command commands[] = {
	{ "dkim", ctl_dkim },		/* src/ctl_dkim.c */
	{ "domain", ctl_domain },	/* src/ctl_dkim.c */
};

int
main(int argc, char **argv)
{
	const char *conf = getenv("POSTERN_CONF");
	struct config *cfg;
	char err[1024];
	size_t i;
	int rc;

	if (argc > 1 && strcmp(argv[1], "-V") == 0) {
		printf("posternctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		conf = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (conf == NULL && access(SYSCONFDIR "/postern.conf", R_OK) == 0)
		conf = SYSCONFDIR "/postern.conf";
	for (i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if ((cfg = config_load(conf, err, sizeof(err))) == NULL) {
			fprintf(stderr, "posternctl: %s\n", err);
			return 1;
		}
		rc = commands[i].run(argc - 1, argv + 1, cfg);
		config_free(cfg);
		return rc;
	}
	fprintf(stderr, "usage: posternctl [-c FILE] COMMAND ...\n"
	    "commands: dkim generate|list|dns|rotate|remove, domain check\n");
	return 2;
}
