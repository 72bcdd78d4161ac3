/* SPDX-License-Identifier: ISC */
/*
 * journal.c: the erasure journal (DESIGN.md §6, issue 13 item 4) and
 * the backup / restore it makes safe.
 *
 * A key store slot zeroed in the live queue is still whole in every
 * backup taken before.  So every erasure is also appended to
 * "erasure.journal" beside the master key (outside the data directory,
 * so it is never inside a copy of it): one text line per zeroed slot,
 * "TIME KIND OWNER SLOT" (KIND msg, account or slot; OWNER a message id,
 * an account name or "-"), after a header line with the journal's
 * random id.  It holds no address and no content.  Lines are appended
 * and synced after the LMDB commit that dropped the key and before the
 * slot is zeroed (keystore.c); a crash between the two leaves the slot
 * unreferenced, and the start-up reconcile journals it as KIND slot.
 *
 * queue_backup() writes DIR/data.mdb (a compacting LMDB copy: no free
 * pages), DIR/keys (the key store) and DIR/backup.info (the journal's id
 * and its length when the backup began), in that order, so every
 * erasure not in the copies is in the journal past that position.
 * queue_restore() (daemon stopped) zeroes, in the copied key store,
 * every slot journalled after the backup's position, before the files
 * are moved into the data directory; then opens the queue and erases
 * what those lines name (messages deleted, accounts deleted), so
 * nothing of an erasure done after the backup comes back.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

#define JOURNAL_MAGIC "postern erasure journal v1 "

struct journal {
	int fd;
	char *path;
	char id[40];
	struct buf pending;
	int torn;		/* the file may end inside a line: start with a newline */
};

/* DIR of the master key file + "/erasure.journal" (malloc'd). */
static char *
journal_path(const char *master_key_file)
{
	const char *slash = strrchr(master_key_file, '/');

	if (slash == NULL)
		return xstrdup("erasure.journal");
	return xasprintf("%.*s/erasure.journal", (int)(slash - master_key_file), master_key_file);
}

/* Make a new file's directory entry durable. */
static int
fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash != NULL ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) :
	    xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;

	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(dir);
	return rc;
}

/* Read the journal's id from its header line into ID; 0 or -1. */
int
journal_read_id(const char *text, size_t len, char *id, size_t idlen)
{
	size_t ml = sizeof(JOURNAL_MAGIC) - 1;
	const char *nl = memchr(text, '\n', len);

	if (nl == NULL || len < ml || memcmp(text, JOURNAL_MAGIC, ml) != 0 ||
	    (size_t)(nl - text) - ml >= idlen)
		return -1;
	memcpy(id, text + ml, (size_t)(nl - text) - ml);
	id[nl - text - ml] = '\0';
	return 0;
}

int
journal_open(struct journal **out, const char *master_key_file, char *err, size_t errlen)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	char hdr[128], *text = NULL;
	size_t len = 0;
	struct stat st;

	j->path = journal_path(master_key_file);
	buf_init(&j->pending, 0);
	j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0 || fstat(j->fd, &st) != 0)
		goto fail;
	if (st.st_size == 0) {
		unsigned char r[8];
		size_t i;

		crypto_random_bytes(r, sizeof(r));
		for (i = 0; i < sizeof(r); i++)
			snprintf(j->id + 2 * i, 3, "%02x", r[i]);
		snprintf(hdr, sizeof(hdr), "%s%s\n", JOURNAL_MAGIC, j->id);
		if (write(j->fd, hdr, strlen(hdr)) != (ssize_t)strlen(hdr) || fsync(j->fd) != 0 ||
		    fsync_parent(j->path) != 0)
			goto fail;
	} else if (file_read_all(j->path, (size_t)1 << 40, &text, &len) != 0) {
		goto fail;
	} else if (text == NULL || journal_read_id(text, len, j->id, sizeof(j->id)) != 0) {
		free(text);
		snprintf(err, errlen, "erasure journal %s: not a postern erasure journal", j->path);
		goto fail_quiet;
	}
	/* A line cut by a crash or a full disk: the next line must not be
	 * glued to it (restore would skip both, and miss an erasure). */
	if (text != NULL && len > 0 && text[len - 1] != '\n')
		j->torn = 1;
	free(text);
	*out = j;
	return 0;
fail:
	snprintf(err, errlen, "erasure journal %s: %s", j->path, strerror(errno));
fail_quiet:
	if (j->fd >= 0)
		close(j->fd);
	buf_free(&j->pending);
	free(j->path);
	free(j);
	return -1;
}

const char *
journal_file(const struct journal *j)
{
	return j != NULL ? j->path : "";
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	close(j->fd);
	buf_free(&j->pending);
	free(j->path);
	free(j);
}

void
journal_add(struct journal *j, const char *kind, const char *owner, uint64_t slot)
{
	char line[400];
	int n;

	if (j == NULL)
		return;
	n = snprintf(line, sizeof(line), "%llu %s %s %llu\n", (unsigned long long)now_wall_ms(),
	    kind, owner != NULL && *owner != '\0' && strchr(owner, ' ') == NULL ? owner : "-",
	    (unsigned long long)slot);
	if (n > 0 && (size_t)n < sizeof(line))
		buf_append(&j->pending, line, (size_t)n);
}

int
journal_flush(struct journal *j)
{
	size_t off = 0;

	if (j == NULL || j->pending.len == 0)
		return 0;
	if (j->torn) {
		/* an empty line is skipped by journal_after() */
		ssize_t w;

		do
			w = write(j->fd, "\n", 1);
		while (w < 0 && errno == EINTR);
		if (w != 1) {
			j->pending.len = 0;
			return -EIO;
		}
		j->torn = 0;
	}
	while (off < j->pending.len) {
		ssize_t w = write(j->fd, j->pending.data + off, j->pending.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* part of a line may be in the file (ENOSPC after a short write) */
			j->pending.len = 0;
			j->torn = 1;
			return -EIO;
		}
		off += (size_t)w;
	}
	j->pending.len = 0;
	if (fdatasync(j->fd) != 0) {
		j->torn = 1;	/* what reached the disk is unknown */
		return -EIO;
	}
	return 0;
}

/* ---- backup ---- */

static int
copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t len = 0, off = 0;
	int fd, rc = 0;

	if (file_read_all(from, (size_t)1 << 40, &data, &len) != 0)
		return -errno;
	if ((fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		free(data);
		return -errno;
	}
	while (off < len && rc == 0) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = -EIO;
		else
			off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -EIO;
	close(fd);
	free(data);
	return rc;
}

int
queue_backup(struct queue *q, const char *dir, char *err, size_t errlen)
{
	char *jpath = journal_path(q->master_key_file), *text = NULL, *p = NULL;
	char id[40] = "", info[256];
	size_t len = 0;
	int rc, fd;

	/* 1. where the journal stands; everything erased later is past it */
	if (file_read_all(jpath, (size_t)1 << 40, &text, &len) == 0 &&
	    journal_read_id(text, len, id, sizeof(id)) != 0) {
		snprintf(err, errlen, "erasure journal %s: not a postern erasure journal", jpath);
		free(text);
		free(jpath);
		return -1;
	}
	free(text);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "backup: %s: %s", dir, strerror(errno));
		free(jpath);
		return -1;
	}
	/* 2. the LMDB copy, 3. the key store, 4. the position */
	p = xasprintf("%s/data.mdb", dir);
	(void)unlink(p);
	free(p);
	p = NULL;
	if ((rc = db_copy(q->db, dir)) != 0) {
		snprintf(err, errlen, "backup: copying data.mdb to %s: %s", dir, strerror(-rc));
		goto out;
	}
	p = xasprintf("%s/keys", dir);
	if ((rc = copy_file(ks_path(q->ks), p)) != 0) {
		snprintf(err, errlen, "backup: copying %s: %s", ks_path(q->ks), strerror(-rc));
		goto out;
	}
	free(p);
	p = xasprintf("%s/backup.info", dir);
	snprintf(info, sizeof(info), "journal_id %s\njournal_offset %zu\ncreated %llu\n",
	    id[0] ? id : "-", len, (unsigned long long)now_wall_ms());
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, info, strlen(info)) != (ssize_t)strlen(info) || fsync(fd) != 0) {
		snprintf(err, errlen, "backup: %s: %s", p, strerror(errno));
		rc = -EIO;
	}
	if (fd >= 0)
		close(fd);
out:
	free(p);
	free(jpath);
	return rc == 0 ? 0 : -1;
}

/* ---- restore ---- */

/* Parse the journal lines of TEXT after OFFSET; malloc'd array. */
struct erasure *
journal_after(const char *text, size_t len, size_t offset, size_t *n)
{
	struct erasure *e = NULL;
	const char *p = text + offset, *end = text + len;

	*n = 0;
	if (offset > len)
		return NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[400];
		unsigned long long t, s;
		struct erasure x;

		if (nl == NULL)
			break;		/* a torn last line: never synced, never acted on */
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		p = nl + 1;
		memset(&x, 0, sizeof(x));
		if (sscanf(line, "%llu %15s %299s %llu", &t, x.kind, x.owner, &s) != 4)
			continue;
		x.slot = s;
		e = xrealloc(e, (*n + 1) * sizeof(*e));
		e[(*n)++] = x;
	}
	return e;
}

int
queue_restore(const struct queue_params *qp, const char *dir, size_t *replayed,
    char *err, size_t errlen)
{
	char *jpath = journal_path(qp->master_key_file), *jtext = NULL, *info = NULL;
	char *src = NULL, *tmp_ks = NULL, *dst = NULL, id[40] = "", want[40] = "";
	size_t jlen = 0, ilen = 0, off = 0, n = 0, i;
	struct erasure *e = NULL;
	struct queue *q = NULL;
	struct queue_params p = *qp;
	const char *s;
	int rc = -1, fd = -1;

	*replayed = 0;
	src = xasprintf("%s/backup.info", dir);
	if (file_read_all(src, 4096, &info, &ilen) != 0 ||
	    (s = strstr(info, "journal_id ")) == NULL || sscanf(s, "journal_id %39s", want) != 1 ||
	    (s = strstr(info, "journal_offset ")) == NULL || sscanf(s, "journal_offset %zu", &off) != 1) {
		snprintf(err, errlen, "restore: %s is not a postern backup (no %s)", dir, src);
		goto out;
	}
	if (file_read_all(jpath, (size_t)1 << 40, &jtext, &jlen) == 0 &&
	    journal_read_id(jtext, jlen, id, sizeof(id)) == 0) {
		if (strcmp(want, "-") != 0 && strcmp(want, id) != 0) {
			snprintf(err, errlen, "restore: the backup belongs to erasure journal %s, "
			    "%s is %s: refusing (erasures could be missed)", want, jpath, id);
			goto out;
		}
		if (strcmp(want, "-") == 0)
			off = 0;	/* no journal at backup time: every erasure since */
		if (off > jlen) {
			snprintf(err, errlen, "restore: %s is shorter than when the backup was "
			    "taken: refusing", jpath);
			goto out;
		}
		e = journal_after(jtext, jlen, off, &n);
	} else if (strcmp(want, "-") != 0) {
		snprintf(err, errlen, "restore: erasure journal %s is missing or damaged: "
		    "refusing (erasures could be missed)", jpath);
		goto out;
	}
	/* the key store copy first, with every later erasure applied */
	mkdir(qp->data_directory, 0700);
	free(src);
	src = xasprintf("%s/keys", dir);
	tmp_ks = xasprintf("%s/keys.restore", qp->data_directory);
	if ((rc = copy_file(src, tmp_ks)) != 0) {
		snprintf(err, errlen, "restore: %s: %s", src, strerror(-rc));
		rc = -1;
		goto out;
	}
	rc = -1;
	if ((fd = open(tmp_ks, O_WRONLY | O_CLOEXEC)) < 0)
		goto io;
	for (i = 0; i < n; i++) {
		static const unsigned char zero[KS_SLOT_LEN];

		if (e[i].slot == 0)
			continue;
		if (pwrite(fd, zero, sizeof(zero), (off_t)(e[i].slot * KS_SLOT_LEN)) !=
		    (ssize_t)sizeof(zero))
			goto io;
	}
	if (fsync(fd) != 0)
		goto io;
	close(fd);
	fd = -1;
	/* then the LMDB copy; stale reader slots go with the old lock file */
	free(src);
	src = xasprintf("%s/data.mdb", dir);
	dst = xasprintf("%s/data.mdb.restore", qp->data_directory);
	if ((rc = copy_file(src, dst)) != 0) {
		snprintf(err, errlen, "restore: %s: %s", src, strerror(-rc));
		rc = -1;
		goto out;
	}
	rc = -1;
	free(src);
	src = xasprintf("%s/keys", qp->data_directory);
	if (rename(tmp_ks, src) != 0)
		goto io;
	free(src);
	src = xasprintf("%s/data.mdb", qp->data_directory);
	if (rename(dst, src) != 0)
		goto io;
	free(src);
	src = xasprintf("%s/lock.mdb", qp->data_directory);
	(void)unlink(src);
	/* open it (reconcile runs) and erase what the later lines name */
	if ((q = queue_open(NULL, &p, 0, err, errlen)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (strcmp(e[i].kind, "msg") == 0 && id_valid(e[i].owner))
			(void)queue_erase_sync(q, 0, e[i].owner);
		else if (strcmp(e[i].kind, "account") == 0 && strcmp(e[i].owner, "-") != 0)
			(void)queue_erase_sync(q, 1, e[i].owner);
		else if (strcmp(e[i].kind, "subject") == 0)
			(void)queue_subject_erase_sync(q, e[i].owner);
	}
	*replayed = n;
	rc = 0;
	goto out;
io:
	snprintf(err, errlen, "restore: %s", strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (q != NULL)
		queue_close(q);
	if (tmp_ks != NULL && rc != 0)
		(void)unlink(tmp_ks);
	free(e);
	free(jtext);
	free(info);
	free(src);
	free(tmp_ks);
	free(dst);
	free(jpath);
	return rc;
}
