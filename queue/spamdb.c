/* SPDX-License-Identifier: ISC */
/*
 * spamdb.c: the spam model store (include/spamdb.h, issue 15): an LMDB
 * environment of its own, opened through queue/db.c, with one table
 * "spam":
 *
 *   token hash (native uint64_t) -> be32 spam count, be32 ham count,
 *                                   be32 last seen (unix seconds)
 *   0                            -> be32 learned spam, be32 learned ham
 *
 * The table is MDB_INTEGERKEY (integer compares: lookups are most of
 * the cost of scoring); spam_hash() never returns 0, the totals key.
 * A learn is one write transaction (durable: LMDB syncs at commit), so
 * a crash leaves a message either learned or not; a full map is grown
 * (doubling, up to SPAMDB_MAP_MAX) and the transaction retried.  Reads
 * are read transactions on any thread (the EOM stage runs in the uv
 * pool).  Callers: the spam daemon module (src/daemon/spam_module.c),
 * posternctl spam (src/ctl/ctl_spam.c), tests.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "queue_int.h"
#include "spamdb.h"
#include "util.h"

#define SPAMDB_MAP_INITIAL (64ULL << 20)
#define SPAMDB_MAP_MAX (16ULL << 30)
static const uint64_t totals_key = 0;
#define TOTALS_KEY (&totals_key)
#define TOTALS_KEYLEN sizeof(uint64_t)
#define TOKEN_VALLEN 12

#define SIG_MAP (64ULL << 20)
#define DUPS_MAX 10000		/* rejected fingerprints kept (the newest) */
#define FP_VALLEN (4 + 4 * SPAM_FP_N)

struct spamdb {
	struct db *db;
	struct db *sig;		/* DIR/signals: per-account counters (no fsync), or NULL */
	char *dir;
	pthread_mutex_t dup_lock;	/* dup keys: time + sequence */
	uint32_t dup_seq;
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
	pthread_mutex_init(&s->dup_lock, NULL);
	if (!readonly) {
		char *sd = xasprintf("%s/signals", dir), why[256];

		/* counters: cheap commits, a crash may lose the last seconds */
		if (db_open_flags(&s->sig, sd, SIG_MAP, 0, DB_OPEN_NOSYNC, why, sizeof(why)) != 0)
			s->sig = NULL;
		free(sd);
	}
	return s;
}

void
spamdb_close(struct spamdb *s)
{
	if (s == NULL)
		return;
	db_close(s->db);
	db_close(s->sig);
	pthread_mutex_destroy(&s->dup_lock);
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

	struct db_cursor *c = NULL;
	int end = 0;

	if (db_begin(s->db, 1, &txn) != 0)
		return -1;
	totals_read(txn, nspam, nham);
	if (n > 0 && db_cursor_open(txn, DB_SPAM, &c) != 0)
		c = NULL;
	/* H is sorted: one cursor walks the tree left to right */
	for (i = 0; i < n; i++) {
		const void *v;
		size_t vl;
		int rc = -ENOENT;

		memcpy(k, &h[i], sizeof(k));
		if (c != NULL && !end) {
			rc = db_cursor_find(c, k, sizeof(k), &v, &vl);
			if (rc == -ENOENT)
				end = 1;	/* past the last key: every later one misses too */
		} else if (c == NULL) {
			rc = db_get(txn, DB_SPAM, k, sizeof(k), &v, &vl);
		}
		if (rc == 0 && vl >= 8) {
			out[i].spam = get_be32(v);
			out[i].ham = get_be32((const unsigned char *)v + 4);
		} else {
			out[i].spam = out[i].ham = 0;
		}
	}
	db_cursor_close(c);
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

		memcpy(k, &h[i], sizeof(k));
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

/* ---- account signals: DIR/signals, table spam_signals ----
 *
 *   "v" ACCOUNT            -> be64 window, be32 recipients this window,
 *                             be32 distinct domains this window,
 *                             be32 windows of history, 8-byte EWMA (host double)
 *   "d" ACCOUNT \0 HASH16  -> be64 last window the domain was used
 *   "c" ACCOUNT \0 HASH16  -> be64 first window the client was seen
 *   "t" ACCOUNT \0 HASH8   -> be64 first window of the template
 */
#define VOL_LEN 28

static size_t
sig_key(unsigned char *k, char kind, const char *account, const void *h, size_t hl)
{
	size_t al = strlen(account);

	if (al > 128)
		al = 128;
	k[0] = (unsigned char)kind;
	memcpy(k + 1, account, al);
	if (h == NULL)
		return 1 + al;
	k[1 + al] = '\0';
	memcpy(k + 2 + al, h, hl);
	return 2 + al + hl;
}

/* Seen before?  Record window W for it (d: always; c, t: first time). */
static int
sig_seen(struct db_txn *txn, char kind, const char *account, const void *h, size_t hl,
    uint64_t w, uint64_t *last)
{
	unsigned char k[1 + 128 + 1 + 16], v[8];
	size_t kl = sig_key(k, kind, account, h, hl);
	const void *val;
	size_t vl;
	int seen = db_get(txn, DB_SPAM_SIGNALS, k, kl, &val, &vl) == 0 && vl >= 8;

	*last = seen ? get_be64(val) : UINT64_MAX;
	if (!seen || kind == 'd') {
		put_be64(v, w);
		if (db_put(txn, DB_SPAM_SIGNALS, k, kl, v, sizeof(v)) != 0)
			return -1;
	}
	return seen;
}

static int
account_txn(struct db_txn *txn, const struct spam_acct_in *in, struct spam_acct_facts *out)
{
	unsigned char k[1 + 128], v[VOL_LEN];
	size_t kl = sig_key(k, 'v', in->account, NULL, 0), i;
	const void *val;
	size_t vl;
	uint64_t w = in->window ? in->now / in->window : 0, cur = w, last;
	uint32_t rcpts = 0, doms = 0, windows = 0;
	double ewma = 0.0;
	int r;

	if (db_get(txn, DB_SPAM_SIGNALS, k, kl, &val, &vl) == 0 && vl >= VOL_LEN) {
		cur = get_be64(val);
		rcpts = get_be32((const unsigned char *)val + 8);
		doms = get_be32((const unsigned char *)val + 12);
		windows = get_be32((const unsigned char *)val + 16);
		memcpy(&ewma, (const unsigned char *)val + 20, sizeof(ewma));
	}
	if (w > cur) {
		ewma = spamdb_ewma_roll(ewma, rcpts, w - cur, in->alpha);
		windows += w - cur < UINT32_MAX - windows ? (uint32_t)(w - cur) : 0;
		cur = w;
		rcpts = doms = 0;
	}
	out->windows = windows;
	out->baseline = ewma;
	rcpts += in->nrcpts;
	out->ndomains = (uint32_t)in->ndomains;
	for (i = 0; i < in->ndomains; i++) {
		if ((r = sig_seen(txn, 'd', in->account, in->domain[i], 16, cur, &last)) < 0)
			return -1;
		if (!r)
			out->new_domains++;
		if (last != cur)
			doms++;
	}
	if (in->have_client) {
		if ((r = sig_seen(txn, 'c', in->account, in->client, 16, cur, &last)) < 0)
			return -1;
		out->new_client = !r;
	}
	{
		unsigned char th[8];

		put_be64(th, in->template_h);
		if ((r = sig_seen(txn, 't', in->account, th, 8, cur, &last)) < 0)
			return -1;
		out->new_template = !r;
	}
	out->window_rcpts = rcpts;
	out->window_domains = doms;
	put_be64(v, cur);
	put_be32(v + 8, rcpts);
	put_be32(v + 12, doms);
	put_be32(v + 16, windows);
	memcpy(v + 20, &ewma, sizeof(ewma));
	return db_put(txn, DB_SPAM_SIGNALS, k, kl, v, sizeof(v)) == 0 ? 0 : -1;
}

double
spamdb_ewma_roll(double ewma, uint32_t count, uint64_t gap, double alpha)
{
	uint64_t i;

	if (gap == 0)
		return ewma;
	ewma = alpha * (double)count + (1.0 - alpha) * ewma;
	/* empty windows after it; after a long silence the baseline is ~0 */
	for (i = 1; i < gap && i < 1000 && ewma > 1e-9; i++)
		ewma *= 1.0 - alpha;
	return i >= 1000 ? 0.0 : ewma;
}

/* spam_store.account */
static int
spamdb_account(void *arg, const struct spam_acct_in *in, struct spam_acct_facts *out)
{
	struct spamdb *s = arg;
	struct db_txn *txn;
	int tries;

	memset(out, 0, sizeof(*out));
	if (s->sig == NULL || in->account == NULL || in->account[0] == '\0')
		return -1;
	for (tries = 0; tries < 4; tries++) {
		int rc;

		if (db_begin(s->sig, 0, &txn) != 0)
			return -1;
		if (account_txn(txn, in, out) != 0) {
			db_abort(txn);
			return -1;
		}
		rc = db_commit(txn);
		if (rc == 0)
			return 0;
		if (rc != -EFBIG || db_grow(s->sig, db_mapsize(s->sig) * 2) != 0)
			return -1;
		memset(out, 0, sizeof(*out));
	}
	return -1;
}

/* ---- near-duplicates: table spam_dups of the model ----
 *   be64 wall ms, be32 sequence -> be32 shingles, SPAM_FP_N x be32 minima */

static int
spamdb_dup_add(void *arg, const struct spam_fp *fp, uint64_t now)
{
	struct spamdb *s = arg;
	struct db_txn *txn;
	struct db_cursor *c;
	unsigned char k[12], v[FP_VALLEN];
	uint64_t n = 0;
	const void *ko, *vo;
	size_t kol, vol, i;
	int rc;

	pthread_mutex_lock(&s->dup_lock);
	put_be64(k, now);
	put_be32(k + 8, s->dup_seq++);
	pthread_mutex_unlock(&s->dup_lock);
	put_be32(v, fp->nshingles);
	for (i = 0; i < SPAM_FP_N; i++)
		put_be32(v + 4 + 4 * i, fp->h[i]);
	if ((rc = db_begin(s->db, 0, &txn)) != 0)
		return rc;
	if ((rc = db_put(txn, DB_SPAM_DUPS, k, sizeof(k), v, sizeof(v))) != 0) {
		db_abort(txn);
		return rc;
	}
	/* keep the newest DUPS_MAX */
	if (db_cursor_open(txn, DB_SPAM_DUPS, &c) == 0) {
		for (rc = db_cursor_seek(c, NULL, 0, &ko, &kol, &vo, &vol); rc == 0;
		    rc = db_cursor_next(c, &ko, &kol, &vo, &vol))
			n++;
		for (rc = db_cursor_seek(c, NULL, 0, &ko, &kol, &vo, &vol); rc == 0 && n > DUPS_MAX;
		    rc = db_cursor_next(c, &ko, &kol, &vo, &vol), n--)
			if (db_cursor_del(c) != 0)
				break;
		db_cursor_close(c);
	}
	return db_commit(txn);
}

static int
spamdb_dup_best(void *arg, const struct spam_fp *fp, double *similarity)
{
	struct spamdb *s = arg;
	struct db_txn *txn;
	struct db_cursor *c;
	const void *ko, *vo;
	size_t kol, vol, i;
	int rc;

	*similarity = 0.0;
	if (db_begin(s->db, 1, &txn) != 0)
		return -1;
	if (db_cursor_open(txn, DB_SPAM_DUPS, &c) == 0) {
		for (rc = db_cursor_seek(c, NULL, 0, &ko, &kol, &vo, &vol); rc == 0;
		    rc = db_cursor_next(c, &ko, &kol, &vo, &vol)) {
			size_t eq = 0;
			double sim;

			/* the MinHash estimate (policy/spam_fp.c's, over the stored form) */
			if (vol < FP_VALLEN || get_be32(vo) == 0 || fp->nshingles == 0)
				continue;
			for (i = 0; i < SPAM_FP_N; i++)
				eq += get_be32((const unsigned char *)vo + 4 + 4 * i) == fp->h[i];
			sim = (double)eq / SPAM_FP_N;
			if (sim > *similarity)
				*similarity = sim;
		}
		db_cursor_close(c);
	}
	db_abort(txn);
	return 0;
}

/* spam_store.dup_any: a read transaction and one cursor step */
static int
spamdb_dup_any(void *arg)
{
	struct spamdb *s = arg;
	struct db_txn *txn;
	struct db_cursor *c;
	int any = 1;

	if (db_begin(s->db, 1, &txn) != 0)
		return 1;
	if (db_cursor_open(txn, DB_SPAM_DUPS, &c) == 0) {
		any = db_cursor_seek(c, NULL, 0, NULL, NULL, NULL, NULL) == 0;
		db_cursor_close(c);
	}
	db_abort(txn);
	return any;
}

void
spamdb_store(struct spamdb *s, struct spam_store *out)
{
	memset(out, 0, sizeof(*out));
	out->arg = s;
	out->lookup = spamdb_lookup;
	out->update = spamdb_update;
	out->account = s->sig != NULL ? spamdb_account : NULL;
	out->dup_add = spamdb_dup_add;
	out->dup_best = spamdb_dup_best;
	out->dup_any = spamdb_dup_any;
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

			if (kl != 8 || vl < TOKEN_VALLEN || memcmp(k, &totals_key, 8) == 0)
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
		int tot = memcmp(k, &totals_key, 8) == 0;
		int del = all || (!tot && vl >= TOKEN_VALLEN &&
		    get_be32((const unsigned char *)v + 8) < before);

		if (del) {
			if ((rc = db_cursor_del(c)) != 0)
				break;
			if (!tot)
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
