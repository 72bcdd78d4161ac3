/* SPDX-License-Identifier: ISC */
/*
 * test_queue_db: db_delete_matching(), the one walk-collect-delete loop
 * of queue/ (the purge's events and Message-ID index, the subject
 * erasure's events and webhook outbox use it).  On a real LMDB
 * environment in a temp dir: exactly the records the match function
 * accepts are deleted, whole keys of any length (not cut at a NUL),
 * the count adds to what the caller had, the match function sees each
 * key and value with the caller's argument, and an empty table or a
 * match of nothing deletes nothing and succeeds.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue_int.h"
#include "tap.h"
#include "util.h"

struct seen {
	const char *want;	/* delete the records whose value is this */
	int calls;
};

/* db_match_fn: the value equals S->want. */
static int
value_is(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct seen *s = arg;

	(void)k;
	(void)kl;
	s->calls++;
	return vl == strlen(s->want) && memcmp(v, s->want, vl) == 0;
}

/* db_match_fn: the key's first octet is 'l' or 'z'. */
static int
key_l_or_z(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	(void)v;
	(void)vl;
	(void)arg;
	return kl > 0 && (*(const char *)k == 'l' || *(const char *)k == 'z');
}

/* The keys of table T, each followed by '|', in key order. */
static char *
keys_of(struct db_txn *t, enum db_table tb)
{
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	struct buf b;
	int rc;

	buf_init(&b, 0);
	buf_append(&b, "", 0);
	if (db_cursor_open(t, tb, &c) != 0)
		fatal("cursor");
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		buf_append(&b, k, kl);
		buf_append(&b, "|", 1);
	}
	db_cursor_close(c);
	return buf_steal(&b, NULL);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char tmp[512], err[256], *s;
	static const char *const vals[] = { "a", "b", "a", "c", "a" };
	static const char zkey[] = "z\0tail";
	struct seen seen = { "a", 0 };
	struct db *db;
	struct db_txn *txn;
	unsigned char k[12];
	uint64_t count;
	size_t i;
	int rc;

	plan(9);
	snprintf(tmp, sizeof(tmp), "%s/test_qdb.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmp) == NULL)
		fatal("mkdtemp");
	if (db_open(&db, tmp, 1 << 24, 0, err, sizeof(err)) != 0)
		fatal("%s", err);
	db_begin(db, 0, &txn);

	count = 0;
	ok(db_delete_matching(txn, DB_EVENTS, value_is, &seen, &count) == 0 && count == 0 &&
	    seen.calls == 0, "an empty table: nothing to match, nothing deleted, 0");

	memset(k, 0, sizeof(k));
	for (i = 0; i < 5; i++) {
		k[11] = (unsigned char)i;
		db_put(txn, DB_EVENTS, k, sizeof(k), vals[i], 1);
	}
	count = 7;
	ok(db_delete_matching(txn, DB_EVENTS, value_is, &seen, &count) == 0,
	    "delete the events whose value is a: 0");
	ok(count == 10, "... three deleted, added to the caller's count (%llu)",
	    (unsigned long long)count);
	ok(seen.calls == 5, "... the match function saw every record once, with its argument (%d)",
	    seen.calls);
	{
		const void *v;
		size_t vl;
		int left = 0;

		for (i = 0; i < 5; i++) {
			k[11] = (unsigned char)i;
			left += db_get(txn, DB_EVENTS, k, sizeof(k), &v, &vl) == 0;
		}
		k[11] = 1;
		ok(left == 2 && db_get(txn, DB_EVENTS, k, sizeof(k), &v, &vl) == 0 &&
		    vl == 1 && *(const char *)v == 'b', "... the b and c events are left (%d)", left);
	}

	db_put(txn, DB_MSGIDS, "x/1", 3, "", 0);
	db_put(txn, DB_MSGIDS, "longer-key/22", 13, "", 0);
	db_put(txn, DB_MSGIDS, zkey, sizeof(zkey) - 1, "", 0);
	db_put(txn, DB_MSGIDS, "z", 1, "", 0);
	count = 0;
	rc = db_delete_matching(txn, DB_MSGIDS, key_l_or_z, NULL, &count);
	ok(rc == 0 && count == 3,
	    "keys of other lengths, one with a NUL inside: three deleted (%llu)",
	    (unsigned long long)count);
	s = keys_of(txn, DB_MSGIDS);
	ok(strcmp(s, "x/1|") == 0, "... whole keys deleted, the other one left (%s)", s);
	free(s);

	seen.want = "nothing";
	seen.calls = 0;
	count = 0;
	ok(db_delete_matching(txn, DB_EVENTS, value_is, &seen, &count) == 0 && count == 0 &&
	    seen.calls == 2, "a match of nothing deletes nothing and succeeds");
	ok(db_commit(txn) == 0, "the transaction commits");
	db_close(db);
	s = xasprintf("rm -rf '%s'", tmp);
	if (system(s) != 0)
		diag("could not remove %s", tmp);
	free(s);
	return done();
}
