/* SPDX-License-Identifier: ISC */
/*
 * spamdb.c: the spam model store (include/spamdb.h, issue 15): an LMDB
 * environment of its own, opened through queue/db.c, with one table
 * "spam":
 *
 *   8-byte big-endian token hash -> be32 spam count, be32 ham count,
 *                                   be32 last seen (unix seconds)
 *   "#totals"                    -> be32 learned spam, be32 learned ham
 *
 * Token keys are 8 bytes and the totals key 7, so they never collide.
 * A learn is one write transaction (durable: LMDB syncs at commit), so
 * a crash leaves a message either learned or not; a full map is grown
 * (doubling, up to SPAMDB_MAP_MAX) and the transaction retried.  Reads
 * are read transactions on any thread (the EOM stage runs in the uv
 * pool).  Callers: the spam daemon module (src/daemon/spam_module.c),
 * posternctl spam (src/ctl/ctl_spam.c), tests.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "queue_int.h"
#include "spamdb.h"
#include "util.h"

#define SPAMDB_MAP_INITIAL (64ULL << 20)
#define SPAMDB_MAP_MAX (16ULL << 30)
#define TOTALS_KEY "#totals"
#define TOTALS_KEYLEN 7
#define TOKEN_VALLEN 12

struct spamdb {
	struct db *db;
	char *dir;
};

struct spamdb *
spamdb_open(const char *dir, int readonly, char *err, size_t errlen)
{
	struct spamdb *s = xcalloc(1, sizeof(*s));
	int rc;

	if ((rc = db_open(&s->db, dir, SPAMDB_MAP_INITIAL, readonly, err, errlen)) != 0) {
		free(s);
		return NULL;
	}
	s->dir = xstrdup(dir);
	return s;
}

void
spamdb_close(struct spamdb *s)
{
	if (s == NULL)
		return;
	db_close(s->db);
	free(s->dir);
	free(s);
}

const char *
spamdb_path(struct spamdb *s)
{
	return db_path(s->db);
}

static void
totals_read(struct db_txn *txn, uint32_t *nspam, uint32_t *nham)
{
	const void *v;
	size_t vl;

	*nspam = *nham = 0;
	if (db_get(txn, DB_SPAM, TOTALS_KEY, TOTALS_KEYLEN, &v, &vl) == 0 && vl >= 8) {
		*nspam = get_be32(v);
		*nham = get_be32((const unsigned char *)v + 4);
	}
}

/* spam_store.lookup */
static int
spamdb_lookup(void *arg, const uint64_t *h, size_t n, struct spam_counts *out,
    uint32_t *nspam, uint32_t *nham)
{
	struct spamdb *s = arg;
	struct db_txn *txn;
	unsigned char k[8];
	size_t i;

	if (db_begin(s->db, 1, &txn) != 0)
		return -1;
	totals_read(txn, nspam, nham);
	for (i = 0; i < n; i++) {
		const void *v;
		size_t vl;

		put_be64(k, h[i]);
		if (db_get(txn, DB_SPAM, k, sizeof(k), &v, &vl) == 0 && vl >= 8) {
			out[i].spam = get_be32(v);
			out[i].ham = get_be32((const unsigned char *)v + 4);
		} else {
			out[i].spam = out[i].ham = 0;
		}
	}
	db_abort(txn);
	return 0;
}

static uint32_t
add_clamped(uint32_t v, int d)
{
	if (d < 0)
		return v > 0 ? v - 1 : 0;
	if (d > 0)
		return v < UINT32_MAX ? v + 1 : v;
	return v;
}

/* One learn in TXN; 0 or negative errno. */
static int
update_txn(struct db_txn *txn, const uint64_t *h, size_t n, int dspam, int dham, uint32_t now)
{
	unsigned char k[8], val[TOKEN_VALLEN], tot[8];
	uint32_t nspam, nham;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		const void *v;
		size_t vl;
		uint32_t cs = 0, ch = 0;

		put_be64(k, h[i]);
		if (db_get(txn, DB_SPAM, k, sizeof(k), &v, &vl) == 0 && vl >= 8) {
			cs = get_be32(v);
			ch = get_be32((const unsigned char *)v + 4);
		} else if (dspam < 0 || dham < 0) {
			continue;	/* forgetting a token never learned */
		}
		cs = add_clamped(cs, dspam);
		ch = add_clamped(ch, dham);
		if (cs == 0 && ch == 0) {
			rc = db_del(txn, DB_SPAM, k, sizeof(k));
			if (rc != 0 && rc != -ENOENT)
				return rc;
			continue;
		}
		put_be32(val, cs);
		put_be32(val + 4, ch);
		put_be32(val + 8, now);
		if ((rc = db_put(txn, DB_SPAM, k, sizeof(k), val, sizeof(val))) != 0)
			return rc;
	}
	totals_read(txn, &nspam, &nham);
	put_be32(tot, add_clamped(nspam, dspam));
	put_be32(tot + 4, add_clamped(nham, dham));
	return db_put(txn, DB_SPAM, TOTALS_KEY, TOTALS_KEYLEN, tot, sizeof(tot));
}

/* Grow the map after -EFBIG; 0 when there is room to retry. */
static int
grow(struct spamdb *s)
{
	uint64_t cur = db_mapsize(s->db);

	if (cur >= SPAMDB_MAP_MAX)
		return -EFBIG;
	return db_grow(s->db, cur * 2 < SPAMDB_MAP_MAX ? cur * 2 : SPAMDB_MAP_MAX);
}

/* spam_store.update */
static int
spamdb_update(void *arg, const uint64_t *h, size_t n, int dspam, int dham, uint64_t now)
{
	struct spamdb *s = arg;
	struct db_txn *txn;
	int rc, tries;

	for (tries = 0; tries < 8; tries++) {
		if ((rc = db_begin(s->db, 0, &txn)) != 0)
			return rc;
		rc = update_txn(txn, h, n, dspam, dham, (uint32_t)(now / 1000));
		if (rc == 0)
			rc = db_commit(txn);
		else
			db_abort(txn);
		if (rc != -EFBIG)
			return rc;
		if ((rc = grow(s)) != 0)
			return rc;
	}
	return -EFBIG;
}

void
spamdb_store(struct spamdb *s, struct spam_store *out)
{
	memset(out, 0, sizeof(*out));
	out->arg = s;
	out->lookup = spamdb_lookup;
	out->update = spamdb_update;
}

int
spamdb_stats(struct spamdb *s, struct spamdb_stats *st)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	struct stat sb;
	uint32_t oldest = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = db_begin(s->db, 1, &txn)) != 0)
		return rc;
	totals_read(txn, &st->nspam, &st->nham);
	if (db_cursor_open(txn, DB_SPAM, &c) == 0) {
		for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
		    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
			uint32_t seen;

			if (kl != 8 || vl < TOKEN_VALLEN)
				continue;
			st->tokens++;
			seen = get_be32((const unsigned char *)v + 8);
			if (oldest == 0 || seen < oldest)
				oldest = seen;
		}
		db_cursor_close(c);
	}
	db_abort(txn);
	st->oldest = (uint64_t)oldest * 1000;
	st->map_size = db_mapsize(s->db);
	if (stat(db_path(s->db), &sb) == 0)
		st->file_size = (uint64_t)sb.st_size;
	return 0;
}

/* Delete token entries (all of them, or those last seen before BEFORE
 * seconds) and, with ALL, the totals. */
static int
sweep(struct spamdb *s, int all, uint32_t before, uint64_t *removed)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	uint64_t n = 0;
	int rc;

	if ((rc = db_begin(s->db, 0, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, DB_SPAM, &c)) != 0) {
		db_abort(txn);
		return rc;
	}
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;) {
		int del = all || (kl == 8 && vl >= TOKEN_VALLEN &&
		    get_be32((const unsigned char *)v + 8) < before);

		if (del) {
			if ((rc = db_cursor_del(c)) != 0)
				break;
			if (kl == 8)
				n++;
		}
		/* after a delete LMDB's MDB_NEXT returns the entry that moved
		 * under the cursor (C_DEL), so next is right either way */
		rc = db_cursor_next(c, &k, &kl, &v, &vl);
	}
	db_cursor_close(c);
	if (rc != -ENOENT) {
		db_abort(txn);
		return rc;
	}
	if (removed != NULL)
		*removed = n;
	return db_commit(txn);
}

int
spamdb_forget_all(struct spamdb *s)
{
	return sweep(s, 1, 0, NULL);
}

int
spamdb_expire(struct spamdb *s, uint64_t before, uint64_t *removed)
{
	return sweep(s, 0, (uint32_t)(before / 1000), removed);
}
