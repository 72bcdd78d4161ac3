/* SPDX-License-Identifier: ISC */
/*
 * db.c: the one file that talks to LMDB (STYLE rule 7).  It opens the
 * environment with the named databases of DESIGN.md §5 and exposes
 * transactions, get/put/del and cursors with negative-errno results,
 * so the rest of queue/ never sees an MDB_* code.
 *
 * Invariants:
 *  - Read transactions may be opened on any thread (MDB_NOTLS); a
 *    process-wide rwlock is held shared by every open transaction and
 *    exclusively by db_grow(), because mdb_env_set_mapsize() must not
 *    run while any transaction of this process is live.
 *  - Commits are durable (no MDB_NOSYNC, except for an environment
 *    opened with DB_OPEN_NOSYNC: spamdb.c's per-account counters, where
 *    losing the last seconds on a crash costs nothing): the writer thread batches
 *    many operations into one transaction, so one fsync covers a batch.
 *  - MDB_MAP_FULL is reported as -EFBIG (the caller may grow the map),
 *    MDB_TXN_FULL as -E2BIG (the caller splits the batch), a full disk
 *    as -ENOSPC, other failures as -EIO or the errno.
 *  - A full disk is a storage-full condition, not an I/O error (issue
 *    12 item 2): disk space is reserved ahead of use (posix_fallocate
 *    of data.mdb up to RESERVE_STEP past the last used page, never past
 *    the map; renewed before a write transaction when less than
 *    RESERVE_MARGIN is left, and at each growth of the map), so writes
 *    land in space already ours and a disk that fills up surfaces as a
 *    reservation or a growth that fails (-ENOSPC).  Reserving ahead
 *    rather than the whole map keeps a new queue small on disk (the
 *    default map is 1 GiB) and cheap where fallocate is emulated.
 *    Where a write still meets a full file system, LMDB's EIO from the
 *    short write is reported as -ENOSPC when the file system has no
 *    room left.
 *  - The file is checked before LMDB maps it (dbfile.c): a truncated or
 *    damaged file is refused with "FILE is truncated/corrupt: ...".
 *    Every open (posternd and offline posternctl) also walks every tree
 *    page of the newest snapshot (it reads the branch and leaf pages
 *    once, not the bodies' overflow runs), so neither follows a damaged
 *    page into a crash.  An LMDB assertion that still fires is logged
 *    (event=queue_corrupt) before LMDB aborts.
 */
#include "autoconfig.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

static const char *const db_names[DB_NTABLES] = {
	"messages", "bodies", "recipients", "schedule", "accounts",
	"dkim", "suppressions", "keys", "events", "audit", "meta",
	"spam", "spam_signals", "spam_dups",
	"review", "msgids",
	"settings", "outbox", "subjects", "restrictions",
};

#define RELEASE_RANGES	64

struct db_release {
	pthread_mutex_t lock;
	size_t n, bytes;
	struct { uintptr_t start, end; } r[RELEASE_RANGES];
};

struct db {
	MDB_env *env;
	MDB_dbi dbi[DB_NTABLES];
	int present[DB_NTABLES];
	int readonly;
	uint64_t mapsize;
	uint64_t reserved;	/* octets of data.mdb whose disk space is ours */
	int reserve_failed;	/* the last reservation failed (logged once) */
	pthread_rwlock_t lock;
	char *path;
	struct db_release rel;	/* body pages waiting to be released */
	size_t pagesz;		/* the system's page size */
};

static void release_forget(struct db *db);

struct db_txn {
	struct db *db;
	MDB_txn *txn;
};

struct db_cursor {
	struct db_txn *txn;
	MDB_cursor *cur;
	int absent;
};

/* Map an LMDB or errno result to a negative errno. */
static int
db_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return -ENOENT;
	case MDB_MAP_FULL: return -EFBIG;
	case MDB_TXN_FULL: return -E2BIG;	/* batch too big: split, do not grow */
	case ENOSPC: return -ENOSPC;
	case EDQUOT: return -ENOSPC;
	case EACCES: return -EACCES;
	case ENOENT: return -ENOENT;
	case ENOMEM: return -ENOMEM;
	default: return rc > 0 && rc < 1000 ? -rc : -EIO;
	}
}

static int
file_read(void *arg, uint64_t off, void *buf, size_t n)
{
	int fd = *(int *)arg;
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int
db_file_check(const char *path, int walk, uint64_t *pages, char *err, size_t errlen)
{
	struct dbfile_meta m;
	struct stat st;
	char why[256];
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -EIO;
	}
	rc = dbfile_check_meta(file_read, &fd, (uint64_t)st.st_size, &m, why, sizeof(why));
	if (rc == 0 && walk)
		rc = dbfile_walk(file_read, &fd, &m, pages, why, sizeof(why));
	close(fd);
	if (rc != 0) {
		snprintf(err, errlen, "%s %s", path, why);
		return -EBADMSG;
	}
	return 0;
}

/* LMDB found a broken invariant (a damaged page): say so before it aborts. */
static void
db_assert(MDB_env *env, const char *msg)
{
	const char *path = NULL;

	mdb_env_get_path(env, &path);
	log_err("event=queue_corrupt file=%s/data.mdb error=\"%s\" "
	    "hint=\"run posternctl queue check\"", path ? path : "?", msg);
}

/* Reserve the disk space of the first SIZE octets of data.mdb. */
static int
db_reserve(struct db *db, uint64_t size)
{
	mdb_filehandle_t fd;
	struct stat before, after;
	int rc;

	if (size <= db->reserved)
		return 0;
	if (mdb_env_get_fd(db->env, &fd) != 0 || fstat(fd, &before) != 0)
		return -EIO;
	rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc == EINTR)
		rc = posix_fallocate(fd, 0, (off_t)size);
	if ((rc == ENOSPC || rc == EDQUOT) && fstat(fd, &after) == 0 &&
	    after.st_size > before.st_size) {
		/* ext4 keeps what a failed fallocate got (every free block,
		 * the file extended over it): give it back, or the file would
		 * hold all the space freed later and the key store, the other
		 * LMDB files and the next reservation would find none */
		if (ftruncate(fd, before.st_size) != 0)
			log_warn("event=queue_reserve_giveback_failed file=%s error=\"%s\"",
			    db->path, strerror(errno));
	}
	if (rc == EOPNOTSUPP || rc == EINVAL) {
		db->reserved = size;	/* a file system without it: the EIO mapping below remains */
		return 0;
	}
	if (rc == 0)
		db->reserved = size;
	return rc == 0 ? 0 : rc == ENOSPC || rc == EDQUOT ? -ENOSPC : -rc;
}

#define RESERVE_STEP	(64ull * 1024 * 1024)
#define RESERVE_MARGIN	(16ull * 1024 * 1024)

/* Octets of data.mdb in use: up to its last page. */
static uint64_t
db_used(struct db *db)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(db->env, &info) != 0 || mdb_env_stat(db->env, &st) != 0)
		return db->reserved;
	return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

/*
 * Keep RESERVE_STEP of reserved space ahead of the last used page
 * (bounded by the map), renewing it when less than RESERVE_MARGIN is
 * left.  Called when a write transaction has begun (LMDB's write lock
 * is held), so db->reserved needs no lock of its own.  A failure is logged once per episode
 * and otherwise left to the write itself: pages freed inside the map
 * may still serve it, and a write that does meet the full disk comes
 * back as -ENOSPC (db_classify).
 */
static void
db_reserve_ahead(struct db *db)
{
	uint64_t used, want;
	int rc;

	if (db->readonly || db->reserved >= db->mapsize)
		return;
	used = db_used(db);
	if (used + RESERVE_MARGIN <= db->reserved)
		return;
	want = used + RESERVE_STEP;
	if (want > db->mapsize)
		want = db->mapsize;
	if ((rc = db_reserve(db, want)) != 0) {
		if (!db->reserve_failed)
			log_err("event=queue_disk_full file=%s reserve=%llu error=\"%s\" "
			    "detail=\"cannot reserve disk space ahead of the queue\"", db->path,
			    (unsigned long long)want, strerror(-rc));
		db->reserve_failed = 1;
	} else {
		db->reserve_failed = 0;
	}
}

/* A write failed with EIO: a full file system says so (LMDB turns a
 * short writev into EIO). */
static int
db_classify(struct db *db, int rc)
{
	struct statvfs sv;

	if (rc != -EIO || statvfs(db->path, &sv) != 0)
		return rc;
	if ((uint64_t)sv.f_bavail * sv.f_frsize < 2 * 65536)
		return -ENOSPC;
	return rc;
}

int
db_open(struct db **out, const char *dir, uint64_t mapsize, int readonly,
    char *err, size_t errlen)
{
	return db_open_flags(out, dir, mapsize, readonly, 0, err, errlen);
}

int
db_open_flags(struct db **out, const char *dir, uint64_t mapsize, int readonly,
    unsigned oflags, char *err, size_t errlen)
{
	struct db *db = xcalloc(1, sizeof(*db));
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	unsigned flags = MDB_NOTLS | (oflags & DB_OPEN_NOSYNC ? MDB_NOSYNC : 0);
	int rc, i;

	db->readonly = readonly;
	db->path = xasprintf("%s/data.mdb", dir);
	/* before anything maps it: a short file would be a SIGBUS later */
	if ((rc = db_file_check(db->path, 1, NULL, err, errlen)) != 0 && rc != -ENOENT) {
		free(db->path);
		free(db);
		return rc;
	}
	pthread_rwlock_init(&db->lock, NULL);
	{
		long ps = sysconf(_SC_PAGESIZE);

		db->pagesz = ps > 0 ? (size_t)ps : 4096;
	}
	pthread_mutex_init(&db->rel.lock, NULL);
	if ((rc = mdb_env_create(&db->env)) != 0)
		goto fail;
	mdb_env_set_assert(db->env, db_assert);
	mdb_env_set_maxdbs(db->env, 32);	/* room for the tables of later issues */
	mdb_env_set_maxreaders(db->env, 256);
	if (!readonly && (rc = mdb_env_set_mapsize(db->env, mapsize)) != 0)
		goto fail;
	if (readonly)
		flags |= MDB_RDONLY;
	else
		mkdir(dir, 0700);
	if ((rc = mdb_env_open(db->env, dir, flags, 0600)) != 0)
		goto fail;
	mdb_env_info(db->env, &info);
	db->mapsize = info.me_mapsize;
	if (!readonly)
		db_reserve_ahead(db);
	rc = 0;
	{
		/* Reader slots of a process killed with -9 would pin old
		 * pages for ever: clear them. */
		int dead = 0;
		if (mdb_reader_check(db->env, &dead) == 0 && dead > 0)
			log_info("event=queue_stale_readers cleared=%d", dead);
	}
	if ((rc = mdb_txn_begin(db->env, NULL, readonly ? MDB_RDONLY : 0, &txn)) != 0)
		goto fail;
	for (i = 0; i < DB_NTABLES; i++) {
		/* the spam model's keys are native 64-bit integers: LMDB then
		 * compares them as integers, not bytes (spamdb.c) */
		rc = mdb_dbi_open(txn, db_names[i], (readonly ? 0 : MDB_CREATE) |
		    (i == DB_SPAM ? MDB_INTEGERKEY : 0), &db->dbi[i]);
		if (rc == MDB_NOTFOUND && readonly)
			continue;
		if (rc != 0)
			goto fail;
		db->present[i] = 1;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	*out = db;
	return 0;
fail:
	snprintf(err, errlen, "queue: cannot open %s: %s", dir, mdb_strerror(rc));
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (db->env != NULL)
		mdb_env_close(db->env);
	pthread_mutex_destroy(&db->rel.lock);
	pthread_rwlock_destroy(&db->lock);
	free(db->path);
	free(db);
	return db_err(rc) ? db_err(rc) : -EIO;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	release_forget(db);
	mdb_env_close(db->env);
	pthread_mutex_destroy(&db->rel.lock);
	pthread_rwlock_destroy(&db->lock);
	free(db->path);
	free(db);
}

const char *
db_path(struct db *db)
{
	return db->path;
}

uint64_t
db_mapsize(struct db *db)
{
	return db->mapsize;
}

int
db_begin(struct db *db, int readonly, struct db_txn **out)
{
	struct db_txn *t;
	int rc;

	if (!readonly && db->readonly)
		return -EROFS;
	pthread_rwlock_rdlock(&db->lock);
	t = xcalloc(1, sizeof(*t));
	t->db = db;
	rc = mdb_txn_begin(db->env, NULL, readonly ? MDB_RDONLY : 0, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size and retry. */
		release_forget(db);
		mdb_env_set_mapsize(db->env, 0);
		rc = mdb_txn_begin(db->env, NULL, readonly ? MDB_RDONLY : 0, &t->txn);
	}
	if (rc == 0 && !readonly)	/* LMDB's write lock held: one at a time */
		db_reserve_ahead(db);
	if (rc != 0) {
		pthread_rwlock_unlock(&db->lock);
		free(t);
		return db_err(rc);
	}
	*out = t;
	return 0;
}

int
db_commit(struct db_txn *t)
{
	struct db *db = t->db;
	int rc = db_err(mdb_txn_commit(t->txn));

	pthread_rwlock_unlock(&db->lock);
	free(t);
	return db_classify(db, rc);
}

void
db_abort(struct db_txn *t)
{
	struct db *db;

	if (t == NULL)
		return;
	db = t->db;
	mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&db->lock);
	free(t);
}

int
db_get(struct db_txn *t, enum db_table tb, const void *k, size_t kl,
    const void **v, size_t *vl)
{
	MDB_val key = { kl, (void *)k }, val;
	int rc;

	if (!t->db->present[tb])
		return -ENOENT;
	if ((rc = mdb_get(t->txn, t->db->dbi[tb], &key, &val)) != 0)
		return db_err(rc);
	*v = val.mv_data;
	*vl = val.mv_size;
	return 0;
}

/*
 * The caller has read value V (from db_get(), still inside its
 * transaction) and will not read it again soon: drop the pages that
 * lie wholly inside it from this process's view of the map.  LMDB maps
 * the file read-only and shared, so nothing is lost: the pages stay in
 * the page cache (clean, reclaimable) and a later read faults them back
 * in.  Without this every body ever delivered stays mapped, and
 * posternd's resident size grows with the queue rather than with the
 * work in flight.  Small values (inside shared leaf pages) are left.
 *
 * Each madvise() is a TLB shootdown on every core the process runs on,
 * which cost one-session delivery of 10 KiB bodies about 6%.  So the
 * ranges are collected and released together once RELEASE_BATCH bytes
 * are pending: sorted and merged, and issued as one call over the span
 * from the lowest to the highest when that span is not much larger
 * than what is pending (bodies written one after another lie next to
 * each other in the file).  Dropping mappings of pages in between is
 * harmless for the same reason as above: they fault back in from the
 * page cache.  At most RELEASE_BATCH bytes stay mapped on top of the
 * work in flight.
 */
#define RELEASE_BATCH	(256u * 1024)
#define RELEASE_SPAN	(4u * 1024 * 1024)


static int
range_cmp(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* Called with rel->lock held: release everything pending. */
static void
release_flush(struct db_release *rel)
{
	size_t i, j;
	uintptr_t lo, hi;

	if (rel->n == 0)
		return;
	qsort(rel->r, rel->n, sizeof(rel->r[0]), range_cmp);
	lo = rel->r[0].start;
	hi = rel->r[0].end;
	for (i = 1; i < rel->n; i++)
		if (rel->r[i].end > hi)
			hi = rel->r[i].end;
	if (hi - lo <= RELEASE_SPAN) {
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
	} else {
		for (i = 0; i < rel->n; i = j) {
			lo = rel->r[i].start;
			hi = rel->r[i].end;
			for (j = i + 1; j < rel->n && rel->r[j].start <= hi; j++)
				if (rel->r[j].end > hi)
					hi = rel->r[j].end;
			(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
		}
	}
	rel->n = 0;
	rel->bytes = 0;
}

void
db_release(struct db *db, const void *v, size_t vl)
{
	struct db_release *rel = &db->rel;
	size_t pagesz = db->pagesz;	/* set at open: readers on several threads */
	uintptr_t start, end;

	if (vl < pagesz)
		return;
	/* a value of a page or more is an overflow run of its own (its
	 * first page starts with the page header): all of it can go */
	start = (uintptr_t)v & ~(uintptr_t)(pagesz - 1);
	end = ((uintptr_t)v + vl + pagesz - 1) & ~(uintptr_t)(pagesz - 1);
	if (end <= start)
		return;
	if (end - start >= RELEASE_BATCH) {	/* large: at once, alone */
		(void)madvise((void *)start, end - start, MADV_DONTNEED);
		return;
	}
	pthread_mutex_lock(&rel->lock);
	rel->r[rel->n].start = start;
	rel->r[rel->n].end = end;
	rel->n++;
	rel->bytes += end - start;
	if (rel->bytes >= RELEASE_BATCH || rel->n == RELEASE_RANGES)
		release_flush(rel);
	pthread_mutex_unlock(&rel->lock);
}

/*
 * Before the map moves or goes away (db_grow, db_close, another
 * process's growth), forget what is pending: those addresses are about
 * to stop being the map's, and madvise(MADV_DONTNEED) on whatever is
 * mapped there next would discard it.  All ranges pending for one db
 * lie inside its one map, so the span of them is inside it too.
 */
static void
release_forget(struct db *db)
{
	pthread_mutex_lock(&db->rel.lock);
	db->rel.n = 0;
	db->rel.bytes = 0;
	pthread_mutex_unlock(&db->rel.lock);
}

int
db_put(struct db_txn *t, enum db_table tb, const void *k, size_t kl,
    const void *v, size_t vl)
{
	MDB_val key = { kl, (void *)k }, val = { vl, (void *)v };

	return db_classify(t->db, db_err(mdb_put(t->txn, t->db->dbi[tb], &key, &val, 0)));
}

int
db_del(struct db_txn *t, enum db_table tb, const void *k, size_t kl)
{
	MDB_val key = { kl, (void *)k };

	return db_err(mdb_del(t->txn, t->db->dbi[tb], &key, NULL));
}

int
db_cursor_open(struct db_txn *t, enum db_table tb, struct db_cursor **out)
{
	struct db_cursor *c = xcalloc(1, sizeof(*c));
	int rc;

	c->txn = t;
	if (!t->db->present[tb]) {
		c->absent = 1;
		*out = c;
		return 0;
	}
	if ((rc = mdb_cursor_open(t->txn, t->db->dbi[tb], &c->cur)) != 0) {
		free(c);
		return db_err(rc);
	}
	*out = c;
	return 0;
}

static int
db_cursor_op(struct db_cursor *c, MDB_val *key, MDB_cursor_op op,
    const void **ko, size_t *kol, const void **v, size_t *vl)
{
	MDB_val val;
	int rc;

	if (c->absent)
		return -ENOENT;
	if ((rc = mdb_cursor_get(c->cur, key, &val, op)) != 0)
		return db_err(rc);
	if (ko != NULL)
		*ko = key->mv_data;
	if (kol != NULL)
		*kol = key->mv_size;
	if (v != NULL)
		*v = val.mv_data;
	if (vl != NULL)
		*vl = val.mv_size;
	return 0;
}

int
db_cursor_seek(struct db_cursor *c, const void *k, size_t kl,
    const void **ko, size_t *kol, const void **v, size_t *vl)
{
	MDB_val key = { kl, (void *)k };

	return db_cursor_op(c, &key, k == NULL ? MDB_FIRST : MDB_SET_RANGE, ko, kol, v, vl);
}

int
db_cursor_next(struct db_cursor *c, const void **ko, size_t *kol,
    const void **v, size_t *vl)
{
	MDB_val key = { 0, NULL };

	return db_cursor_op(c, &key, MDB_NEXT, ko, kol, v, vl);
}

int
db_cursor_last(struct db_cursor *c, const void **ko, size_t *kol,
    const void **v, size_t *vl)
{
	MDB_val key = { 0, NULL };

	return db_cursor_op(c, &key, MDB_LAST, ko, kol, v, vl);
}

int
db_cursor_find(struct db_cursor *c, const void *k, size_t kl, const void **v, size_t *vl)
{
	MDB_val key = { kl, (void *)k };
	const void *ko = NULL;
	size_t kol = 0;
	int rc;

	/* MDB_SET_RANGE, not MDB_SET: a miss leaves the cursor positioned,
	 * so the next (larger) key still takes the same-page fast path */
	if ((rc = db_cursor_op(c, &key, MDB_SET_RANGE, &ko, &kol, v, vl)) != 0)
		return rc;
	return kol == kl && memcmp(ko, k, kl) == 0 ? 0 : 1;
}

int
db_cursor_del(struct db_cursor *c)
{
	if (c->absent)
		return -ENOENT;
	return db_err(mdb_cursor_del(c->cur, 0));
}

void
db_cursor_close(struct db_cursor *c)
{
	if (c == NULL)
		return;
	if (c->cur != NULL)
		mdb_cursor_close(c->cur);
	free(c);
}

/* Delete from table T every record MATCH(key, value, ARG) says yes to,
 * in TXN; *COUNT gains one per record deleted.  The keys are collected
 * in one pass and deleted after it (no deletes under a live cursor).
 * The walk ends at the table's end or at a cursor error (what was
 * collected by then is deleted); the first failing delete ends the
 * deletes and is returned.  A table this environment does not have
 * holds nothing to delete (0). */
int
db_delete_matching(struct db_txn *txn, enum db_table t, db_match_fn match, void *arg,
    uint64_t *count)
{
	struct db_cursor *c;
	const void *k = NULL, *v = NULL;
	size_t kl = 0, vl = 0, n = 0, i, off = 0;
	size_t *lens = NULL;
	struct buf keys;
	int rc;

	if ((rc = db_cursor_open(txn, t, &c)) != 0)
		return rc == -ENOENT ? 0 : rc;
	buf_init(&keys, 0);
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		if (!match(k, kl, v, vl, arg))
			continue;
		if (buf_append(&keys, k, kl) != 0)
			fatal("db_delete_matching: key list too large");
		lens = xrealloc(lens, (n + 1) * sizeof(*lens));
		lens[n++] = kl;
	}
	db_cursor_close(c);
	rc = 0;
	for (i = 0; i < n && rc == 0; off += lens[i++])
		if ((rc = db_del(txn, t, keys.data + off, lens[i])) == 0)
			(*count)++;
	free(lens);
	buf_free(&keys);
	return rc;
}

/* A compacting copy into DIR/data.mdb, created 0600 like the live file
 * (mdb_env_copy2 would create it 0666 less the umask: a backup readable
 * by every local user), and synced before it counts as written. */
int
db_copy(struct db *db, const char *dir)
{
	char *p = xasprintf("%s/data.mdb", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc;

	free(p);
	if (fd < 0)
		return -errno;
	rc = db_err(mdb_env_copyfd2(db->env, fd, MDB_CP_COMPACT));
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
db_grow(struct db *db, uint64_t newsize)
{
	int rc;

	uint64_t want = db_used(db) + RESERVE_STEP;

	/* the disk space first: a full disk refuses the growth, not a write */
	if (want > newsize)
		want = newsize;
	if ((rc = db_reserve(db, want)) != 0) {
		log_err("event=queue_disk_full file=%s size=%llu error=\"%s\" "
		    "detail=\"the map cannot grow: no space on the file system\"", db->path,
		    (unsigned long long)newsize, strerror(-rc));
		return rc;
	}
	pthread_rwlock_wrlock(&db->lock);
	release_forget(db);
	rc = mdb_env_set_mapsize(db->env, newsize);
	if (rc == 0) {
		MDB_envinfo info;
		mdb_env_info(db->env, &info);
		db->mapsize = info.me_mapsize;
	}
	pthread_rwlock_unlock(&db->lock);
	if (rc != 0)
		log_err("event=queue_grow_failed size=%llu error=\"%s\"",
		    (unsigned long long)newsize, mdb_strerror(rc));
	return db_err(rc);
}
