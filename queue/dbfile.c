/* SPDX-License-Identifier: ISC */
/*
 * dbfile.c: checks of data.mdb as a file, before LMDB maps it (issue 12
 * item 3).  LMDB trusts its file: a file shorter than its last page
 * makes every access past the end a SIGBUS, and a damaged page makes it
 * follow garbage pointers or fail an assertion (abort).  Neither may
 * take posternd or posternctl down without a word, so the queue reads
 * the file itself first, with pread and never through the map:
 *
 *  - dbfile_check_meta(): both meta pages (page 0 and 1) carry LMDB's
 *    magic and data version, a sane page size and last page, and the
 *    file reaches the end of the newest meta's last page.  Cheap (two
 *    pages); run on every open.
 *  - dbfile_walk(): every B-tree of the newest snapshot (free list,
 *    main table, each named table) page by page: page numbers in range
 *    and matching, page kinds as the parent says, node offsets, keys
 *    and values inside their page, overflow runs inside the file, no
 *    page reached twice, depth bounded.  Reads every branch and leaf
 *    page once (not the contents of overflow runs, the bodies); run by
 *    every open (db.c) and by `queue check`.
 *
 * The layout constants below are LMDB 0.9's on-disk format (lmdb.h
 * does not export them): page header 16 octets {pgno, pad, flags,
 * lower, upper | overflow count}, meta {magic, version, address,
 * mapsize, two MDB_db of 48 octets, last page, txnid}, node header 8
 * octets {lo, hi, flags, key size}.  Pure functions over a read
 * callback, so the fuzz target drives them over a byte image.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"
#include "util.h"

#define LMDB_MAGIC	0xBEEFC0DEu
#define LMDB_VERSION	1u
#define PAGEHDR		16u
#define NODEHDR		8u
#define DBREC		48u
#define META_DBS	(PAGEHDR + 24u)		/* after magic, version, address, mapsize */
#define META_LAST	(META_DBS + 2u * DBREC)
#define META_TXNID	(META_LAST + 8u)
#define P_BRANCH	0x01u
#define P_LEAF		0x02u
#define P_OVERFLOW	0x04u
#define P_META		0x08u
#define P_LEAF2		0x20u
#define F_BIGDATA	0x01u
#define F_SUBDATA	0x02u
#define F_DUPDATA	0x04u
#define P_INVALID	(~(uint64_t)0)
#define MAX_DEPTH	32

static uint16_t
le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* One B-tree's record as LMDB stores it (MDB_db). */
struct dbrec {
	uint32_t pad;		/* the page size, in the free list's record */
	uint16_t flags, depth;
	uint64_t entries, root;
};

static void
dbrec_decode(const unsigned char *p, struct dbrec *d)
{
	d->pad = le32(p);
	d->flags = le16(p + 4);
	d->depth = le16(p + 6);
	d->entries = le64(p + 32);
	d->root = le64(p + 40);
}

static int
meta_decode(const unsigned char *p, size_t n, struct dbfile_meta *m)
{
	struct dbrec fr, mr;

	if (n < META_TXNID + 8)
		return -1;
	if (le32(p + PAGEHDR) != LMDB_MAGIC || le32(p + PAGEHDR + 4) != LMDB_VERSION)
		return -1;
	if ((le16(p + 10) & P_META) == 0)
		return -1;
	dbrec_decode(p + META_DBS, &fr);
	dbrec_decode(p + META_DBS + DBREC, &mr);
	m->psize = fr.pad;
	m->mapsize = le64(p + PAGEHDR + 16);
	m->last_pg = le64(p + META_LAST);
	m->txnid = le64(p + META_TXNID);
	m->free_root = fr.root;
	m->main_root = mr.root;
	m->free_depth = fr.depth;
	m->main_depth = mr.depth;
	if (m->psize < 512 || m->psize > 65536 || (m->psize & (m->psize - 1)) != 0)
		return -1;
	if (m->last_pg < 1 || m->last_pg > (UINT64_MAX / m->psize) - 1)
		return -1;
	return 0;
}

int
dbfile_check_meta(dbfile_read_fn rd, void *arg, uint64_t fsize,
    struct dbfile_meta *out, char *err, size_t errlen)
{
	unsigned char *pg = xmalloc(65536);
	struct dbfile_meta m[2];
	uint64_t need;
	int i, rc = -1;

	memset(m, 0, sizeof(m));
	if (fsize < 2 * 512) {
		snprintf(err, errlen, "is truncated: %llu bytes, shorter than its two "
		    "meta pages", (unsigned long long)fsize);
		goto out;
	}
	/* page 0 tells the page size; page 1 is one page further */
	if (rd(arg, 0, pg, 512) != 0 || meta_decode(pg, 512, &m[0]) != 0) {
		snprintf(err, errlen, "is corrupt: meta page 0 is damaged (not an LMDB "
		    "file of version %u)", LMDB_VERSION);
		goto out;
	}
	if (fsize < 2 * (uint64_t)m[0].psize) {
		snprintf(err, errlen, "is truncated: %llu bytes, shorter than its two "
		    "meta pages", (unsigned long long)fsize);
		goto out;
	}
	if (rd(arg, m[0].psize, pg, 512) != 0 || meta_decode(pg, 512, &m[1]) != 0 ||
	    m[1].psize != m[0].psize) {
		snprintf(err, errlen, "is corrupt: meta page 1 is damaged");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		if ((m[i].main_root != P_INVALID && (m[i].main_root < 2 ||
		    m[i].main_root > m[i].last_pg)) ||
		    (m[i].free_root != P_INVALID && (m[i].free_root < 2 ||
		    m[i].free_root > m[i].last_pg)) ||
		    m[i].main_depth > MAX_DEPTH || m[i].free_depth > MAX_DEPTH) {
			snprintf(err, errlen, "is corrupt: meta page %d names a root page "
			    "outside the file's pages", i);
			goto out;
		}
	}
	i = m[1].txnid > m[0].txnid ? 1 : 0;
	need = (m[i].last_pg + 1) * (uint64_t)m[i].psize;
	if (fsize < need) {
		snprintf(err, errlen, "is truncated: %llu bytes, but its last page "
		    "(%llu) ends at %llu", (unsigned long long)fsize,
		    (unsigned long long)m[i].last_pg, (unsigned long long)need);
		goto out;
	}
	*out = m[i];
	rc = 0;
out:
	free(pg);
	return rc;
}

/* ---- the walk ---- */

struct walk {
	dbfile_read_fn rd;
	void *arg;
	const struct dbfile_meta *m;
	uint64_t npages;		/* last_pg + 1 */
	unsigned char *seen;		/* one bit per page */
	unsigned char *pg[MAX_DEPTH + 1];	/* one page buffer per level */
	uint64_t visited;
	char *err;
	size_t errlen;
};

static int walk_fail(struct walk *w, const char *fmt, ...) PRINTF_LIKE(2, 3);

static int
walk_fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(w->err, w->errlen, "is corrupt: ");
	if (n < 0 || (size_t)n >= w->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
walk_mark(struct walk *w, uint64_t pgno, const char *what)
{
	if (pgno < 2 || pgno >= w->npages)
		return walk_fail(w, "%s page %llu is outside the file's %llu pages", what,
		    (unsigned long long)pgno, (unsigned long long)w->npages);
	if (w->seen[pgno / 8] & (1u << (pgno % 8)))
		return walk_fail(w, "page %llu is reached twice", (unsigned long long)pgno);
	w->seen[pgno / 8] |= (unsigned char)(1u << (pgno % 8));
	w->visited++;
	return 0;
}

/* The overflow run at PGNO holding a value of VLEN octets. */
static int
walk_overflow(struct walk *w, uint64_t pgno, uint64_t vlen, unsigned char *pg)
{
	uint64_t psize = w->m->psize, npg, i;

	if (walk_mark(w, pgno, "overflow") != 0)
		return -1;
	if (w->rd(w->arg, pgno * psize, pg, PAGEHDR) != 0)
		return walk_fail(w, "page %llu cannot be read", (unsigned long long)pgno);
	npg = le32(pg + 12);
	if (le64(pg) != pgno || !(le16(pg + 10) & P_OVERFLOW))
		return walk_fail(w, "overflow page %llu has a wrong header", (unsigned long long)pgno);
	if (npg == 0 || npg > w->npages - pgno || (npg * psize) - PAGEHDR < vlen)
		return walk_fail(w, "overflow run at page %llu (%llu pages) does not hold "
		    "its %llu octets", (unsigned long long)pgno, (unsigned long long)npg,
		    (unsigned long long)vlen);
	for (i = 1; i < npg; i++)
		if (walk_mark(w, pgno + i, "overflow") != 0)
			return -1;
	return 0;
}

static int walk_tree(struct walk *w, uint64_t root, unsigned depth, int is_main);

/* A free-list record: a count, then that many page numbers, each a page
 * of the file (a bad one would be handed out to the next write). */
static int
walk_freelist(struct walk *w, const unsigned char *v, uint64_t len, uint64_t pgno,
    unsigned node)
{
	uint64_t n, i, pg;

	if (len < 8 || (n = le64(v)) > (len - 8) / 8)
		return walk_fail(w, "free list page %llu node %u has a bad length",
		    (unsigned long long)pgno, node);
	for (i = 0; i < n; i++) {
		pg = le64(v + 8 + 8 * i);
		if (pg < 2 || pg > w->m->last_pg)
			return walk_fail(w, "free list names page %llu outside the file's pages",
			    (unsigned long long)pg);
	}
	return 0;
}

/* Page PGNO at tree level LEVEL (0 = root) of a tree DEPTH deep; IS_MAIN
 * 1 for the main tree (its records name the tables), 2 for the free
 * list, 0 for a table. */
static int
walk_page(struct walk *w, uint64_t pgno, unsigned level, unsigned depth, int is_main)
{
	uint64_t psize = w->m->psize;
	unsigned char *pg = w->pg[level];
	unsigned flags, lower, upper, nkeys, i;

	if (level >= depth || level > MAX_DEPTH)
		return walk_fail(w, "a tree is deeper than its record says (%u)", depth);
	if (walk_mark(w, pgno, "tree") != 0)
		return -1;
	if (w->rd(w->arg, pgno * psize, pg, (size_t)psize) != 0)
		return walk_fail(w, "page %llu cannot be read", (unsigned long long)pgno);
	flags = le16(pg + 10);
	lower = le16(pg + 12);
	upper = le16(pg + 14);
	if (le64(pg) != pgno)
		return walk_fail(w, "page %llu says it is page %llu", (unsigned long long)pgno,
		    (unsigned long long)le64(pg));
	if (lower < PAGEHDR || lower > upper || upper > psize || (lower - PAGEHDR) % 2)
		return walk_fail(w, "page %llu has bad bounds", (unsigned long long)pgno);
	nkeys = (lower - PAGEHDR) / 2;
	if (level + 1 < depth ? flags != P_BRANCH : (flags & ~P_LEAF2) != P_LEAF)
		return walk_fail(w, "page %llu is not the %s page its parent expects",
		    (unsigned long long)pgno, level + 1 < depth ? "branch" : "leaf");
	if (flags & P_LEAF2)
		return 0;	/* fixed-size keys (dupfixed): not used by the queue */
	if (nkeys == 0 && level > 0)
		return walk_fail(w, "page %llu is empty", (unsigned long long)pgno);
	for (i = 0; i < nkeys; i++) {
		unsigned off = le16(pg + PAGEHDR + 2 * i), ksize, nflags;
		uint64_t dsize;
		const unsigned char *n = pg + off;

		if (off < upper || off + NODEHDR > psize)
			return walk_fail(w, "page %llu node %u lies outside the page",
			    (unsigned long long)pgno, i);
		ksize = le16(n + 6);
		nflags = le16(n + 4);
		if (off + NODEHDR + ksize > psize)
			return walk_fail(w, "page %llu node %u key runs past the page",
			    (unsigned long long)pgno, i);
		if (flags == P_BRANCH) {
			uint64_t child = (uint64_t)le16(n) | (uint64_t)le16(n + 2) << 16 |
			    (uint64_t)nflags << 32;
			if (walk_page(w, child, level + 1, depth, is_main) != 0)
				return -1;
			continue;
		}
		dsize = (uint64_t)le16(n) | (uint64_t)le16(n + 2) << 16;
		if (nflags & F_BIGDATA) {
			if (off + NODEHDR + ksize + 8 > psize)
				return walk_fail(w, "page %llu node %u runs past the page",
				    (unsigned long long)pgno, i);
			if (walk_overflow(w, le64(n + NODEHDR + ksize), dsize,
			    w->pg[MAX_DEPTH]) != 0)
				return -1;
			continue;
		}
		if (off + NODEHDR + ksize + dsize > psize)
			return walk_fail(w, "page %llu node %u value runs past the page",
			    (unsigned long long)pgno, i);
		if (is_main == 2 && walk_freelist(w, n + NODEHDR + ksize, dsize, pgno, i) != 0)
			return -1;
		if ((nflags & F_SUBDATA) && !(nflags & F_DUPDATA)) {
			/* a named table in the main tree: walk it too */
			struct dbrec d;

			if (!is_main || dsize != DBREC)
				return walk_fail(w, "page %llu node %u is a bad table record",
				    (unsigned long long)pgno, i);
			dbrec_decode(n + NODEHDR + ksize, &d);
			if (d.root != P_INVALID && walk_tree(w, d.root, d.depth, 0) != 0)
				return -1;
		} else if (nflags & F_DUPDATA)
			return walk_fail(w, "page %llu node %u has duplicates (not used here)",
			    (unsigned long long)pgno, i);
	}
	return 0;
}

static int
walk_tree(struct walk *w, uint64_t root, unsigned depth, int is_main)
{
	unsigned char *saved[MAX_DEPTH + 1];
	int rc;

	if (depth == 0 || depth > MAX_DEPTH)
		return walk_fail(w, "a tree record has depth %u", depth);
	/* a named table's walk reuses the level buffers: keep the parent's */
	memcpy(saved, w->pg, sizeof(saved));
	for (unsigned i = 0; i < MAX_DEPTH; i++)
		w->pg[i] = xmalloc(w->m->psize);
	rc = walk_page(w, root, 0, depth, is_main);
	for (unsigned i = 0; i < MAX_DEPTH; i++)
		free(w->pg[i]);
	memcpy(w->pg, saved, sizeof(saved));
	return rc;
}

int
dbfile_walk(dbfile_read_fn rd, void *arg, const struct dbfile_meta *m,
    uint64_t *pages, char *err, size_t errlen)
{
	struct walk w;
	int rc = 0;

	memset(&w, 0, sizeof(w));
	w.rd = rd;
	w.arg = arg;
	w.m = m;
	w.npages = m->last_pg + 1;
	w.err = err;
	w.errlen = errlen;
	w.seen = xcalloc((size_t)(w.npages / 8 + 1), 1);
	w.pg[MAX_DEPTH] = xmalloc(m->psize);
	if (m->free_root != P_INVALID)
		rc = walk_tree(&w, m->free_root, m->free_depth, 2);
	if (rc == 0 && m->main_root != P_INVALID)
		rc = walk_tree(&w, m->main_root, m->main_depth, 1);
	free(w.pg[MAX_DEPTH]);
	free(w.seen);
	if (pages != NULL)
		*pages = w.visited;
	return rc;
}
