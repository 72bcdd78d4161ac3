/* SPDX-License-Identifier: ISC */
/*
 * ctl_backup.c: `posternctl backup DIR` and `posternctl restore DIR`
 * (posternctl(8), posternd(8) BACKUPS): argv and printing only; the
 * work is queue_backup() / queue_restore() (queue/journal.c).
 *
 * backup opens the queue read-only in this process (LMDB readers need
 * no daemon and do not stop one), so it works with posternd running or
 * not.  restore replaces the data directory's files, so it refuses
 * while posternd runs on that directory: it takes the daemon's own
 * exclusive lock, DATA_DIRECTORY/posternd.lock (src/daemon/daemon.c),
 * for as long as it works.  Asking the control socket is not enough: a
 * daemon whose socket is elsewhere (-s, POSTERN_CONTROL_SOCKET, another
 * config) or unreachable used to have its queue replaced under it; and
 * the lock also keeps a daemon from starting during the restore.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "queue.h"
#include "util.h"

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
		ctl_error(c, CTL_EXIT_FAIL, "backup: %s", err);
		return CTL_EXIT_FAIL;
	}
	rc = queue_backup(q, argv[1], err, sizeof(err));
	queue_close(q);
	if (rc != 0) {
		ctl_error(c, CTL_EXIT_FAIL, "%s", err);
		return CTL_EXIT_FAIL;
	}
	printf("backup written to %s (data.mdb, keys, backup.info); keep it away from "
	    "the master key and the erasure journal\n", argv[1]);
	return CTL_EXIT_OK;
}

/* The daemon's lock on DIR (held until exit), or -1 after saying why not. */
static int
restore_lock(struct ctl *c, const char *dir)
{
	char *path, buf[32];
	int fd;

	(void)mkdir(dir, 0700);
	path = xasprintf("%s/posternd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		ctl_error(c, CTL_EXIT_FAIL, "restore: %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;
		ssize_t n = e == EWOULDBLOCK ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			ctl_error(c, CTL_EXIT_FAIL, "restore: data_directory %s: in use by posternd "
			    "pid %s; stop it first", dir, buf[0] ? buf : "?");
		else
			ctl_error(c, CTL_EXIT_FAIL, "restore: data_directory %s: cannot lock: %s",
			    dir, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

int
ctl_restore_main(struct ctl *c, int argc, char **argv)
{
	struct queue_params p;
	char err[1024];
	size_t n = 0;
	int lock;

	if (one_dir(c, argc, argv, "restore") != 0)
		return CTL_EXIT_USAGE;
	if (ctl_daemon_running(c)) {
		ctl_error(c, CTL_EXIT_FAIL, "restore: posternd is running; stop it first");
		return CTL_EXIT_FAIL;
	}
	queue_params_from_config(&p, ctl_config(c));
	if ((lock = restore_lock(c, p.data_directory)) < 0)
		return CTL_EXIT_FAIL;
	if (queue_restore(&p, argv[1], &n, err, sizeof(err)) != 0) {
		ctl_error(c, CTL_EXIT_FAIL, "%s", err);
		close(lock);
		return CTL_EXIT_FAIL;
	}
	close(lock);
	printf("restored %s into %s; %zu erasure(s) recorded after the backup replayed\n",
	    argv[1], p.data_directory, n);
	return CTL_EXIT_OK;
}
