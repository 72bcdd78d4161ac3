/* SPDX-License-Identifier: ISC */
/*
 * ctl_backup.c: `posternctl backup DIR` and `posternctl restore DIR`
 * (posternctl(8), posternd(8) BACKUPS): argv and printing only; the
 * work is queue_backup() / queue_restore() (queue/journal.c).
 *
 * backup opens the queue read-only in this process (LMDB readers need
 * no daemon and do not stop one), so it works with posternd running or
 * not.  restore refuses while posternd answers on its control socket:
 * it replaces the data directory's files.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"
#include "queue.h"

static int
one_dir(struct ctl *c, int argc, char **argv, const char *verb)
{
	if (argc != 2 || argv[1][0] == '-') {
		ctl_usage_error(c, "usage: posternctl %s DIR", verb);
		return -1;
	}
	if (ctl_config(c) == NULL)
		return -1;
	return 0;
}

int
ctl_backup_main(struct ctl *c, int argc, char **argv)
{
	char err[1024];
	struct queue *q;
	int rc;

	if (one_dir(c, argc, argv, "backup") != 0)
		return CTL_EXIT_USAGE;
	if ((q = queue_open_config(NULL, ctl_config(c), 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "posternctl: backup: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	rc = queue_backup(q, argv[1], err, sizeof(err));
	queue_close(q);
	if (rc != 0) {
		fprintf(stderr, "posternctl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	printf("backup written to %s (data.mdb, keys, backup.info); keep it away from "
	    "the master key and the erasure journal\n", argv[1]);
	return CTL_EXIT_OK;
}

int
ctl_restore_main(struct ctl *c, int argc, char **argv)
{
	struct queue_params p;
	char err[1024];
	size_t n = 0;

	if (one_dir(c, argc, argv, "restore") != 0)
		return CTL_EXIT_USAGE;
	if (ctl_daemon_running(c)) {
		fprintf(stderr, "posternctl: restore: posternd is running; stop it first\n");
		return CTL_EXIT_FAIL;
	}
	queue_params_from_config(&p, ctl_config(c));
	if (queue_restore(&p, argv[1], &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "posternctl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	printf("restored %s into %s; %zu erasure(s) recorded after the backup replayed\n",
	    argv[1], p.data_directory, n);
	return CTL_EXIT_OK;
}
