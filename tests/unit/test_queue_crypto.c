/* SPDX-License-Identifier: ISC */
/*
 * test_queue_crypto: encryption at rest.  AES-256-GCM seal/open round
 * trips; flipping any byte (nonce, ciphertext, tag) or changing the
 * AAD makes open fail; and through the whole queue: a body chunk
 * tampered with in data.mdb, or two chunks swapped, is detected on
 * read instead of returning wrong bytes.  Also the queue's outcome for
 * a failed write (queue_outcome_for_error), now from the reply catalogue.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "queue.h"
#include "queue_int.h"
#include "tap.h"
#include "util.h"

static void
test_primitive(void)
{
	unsigned char key[CRYPTO_KEY_LEN], sealed[100 + CRYPTO_OVERHEAD], out[100], copy[sizeof(sealed)];
	const char *pt = "the quick brown fox jumps over the lazy dog, 0123456789";
	size_t len = strlen(pt), i;
	int all = 1;

	crypto_random_bytes(key, sizeof(key));
	is_int(crypto_seal(key, "aad", 3, pt, len, sealed), 0, "seal");
	is_int(crypto_open(key, "aad", 3, sealed, len + CRYPTO_OVERHEAD, out), 0, "open");
	is_mem(out, len, pt, len, "round trip");
	ok(memmem(sealed, len + CRYPTO_OVERHEAD, "quick", 5) == NULL, "ciphertext hides the text");
	for (i = 0; i < len + CRYPTO_OVERHEAD; i++) {
		memcpy(copy, sealed, sizeof(copy));
		copy[i] ^= 0x01;
		if (crypto_open(key, "aad", 3, copy, len + CRYPTO_OVERHEAD, out) != -EBADMSG)
			all = 0;
	}
	ok(all, "flipping any single byte is detected");
	is_int(crypto_open(key, "aae", 3, sealed, len + CRYPTO_OVERHEAD, out), -EBADMSG,
	    "different AAD is detected");
	key[0] ^= 1;
	is_int(crypto_open(key, "aad", 3, sealed, len + CRYPTO_OVERHEAD, out), -EBADMSG,
	    "wrong key is detected");
	is_int(crypto_seal(key, "", 0, "", 0, sealed), 0, "empty plaintext seals");
	is_int(crypto_open(key, "", 0, sealed, CRYPTO_OVERHEAD, out), 0, "and opens");
	is_int(crypto_open(key, "", 0, sealed, CRYPTO_OVERHEAD - 1, out), -EBADMSG, "short input refused");
}

static int calls;
static char lastid[QUEUE_ID_LEN + 1];

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	(void)arg;
	calls++;
	if (o->kind == OUTCOME_OK)
		str_copy(lastid, id, sizeof(lastid));
}

/* Flip byte OFF of chunk NO of ID, or swap chunks 0 and 1 when OFF < 0. */
static void
tamper(const char *dir, const char *id, uint32_t no, long off)
{
	struct db *db;
	struct db_txn *t;
	unsigned char k[RCPT_KEY_LEN], k2[RCPT_KEY_LEN];
	const void *v, *v2;
	size_t vl, vl2;
	char err[256], *c1, *c2;

	if (db_open(&db, dir, 1 << 26, 0, err, sizeof(err)) != 0)
		fatal("%s", err);
	db_begin(db, 0, &t);
	memcpy(k, id, QUEUE_ID_LEN);
	put_be32(k + QUEUE_ID_LEN, no);
	if (db_get(t, DB_BODIES, k, sizeof(k), &v, &vl) != 0)
		fatal("no chunk");
	c1 = xmalloc(vl);
	memcpy(c1, v, vl);
	if (off >= 0) {
		c1[off] ^= 0x40;
		db_put(t, DB_BODIES, k, sizeof(k), c1, vl);
	} else {
		memcpy(k2, id, QUEUE_ID_LEN);
		put_be32(k2 + QUEUE_ID_LEN, no + 1);
		db_get(t, DB_BODIES, k2, sizeof(k2), &v2, &vl2);
		c2 = xmalloc(vl2);
		memcpy(c2, v2, vl2);
		db_put(t, DB_BODIES, k, sizeof(k), c2, vl2);
		db_put(t, DB_BODIES, k2, sizeof(k2), c1, vl);
		free(c2);
	}
	free(c1);
	db_commit(t);
	db_close(db);
}

/* Delete key K of table TB in the queue at DIR (offline). */
static void
db_delete(const char *dir, enum db_table tb, const void *k, size_t kl)
{
	struct db *db;
	struct db_txn *t;
	char err[256];

	if (db_open(&db, dir, 1 << 26, 0, err, sizeof(err)) != 0)
		fatal("%s", err);
	db_begin(db, 0, &t);
	if (db_del(t, tb, k, kl) != 0)
		fatal("nothing to delete");
	db_commit(t);
	db_close(db);
}

/* Zero the key store slot of message ID's data key (offline): the data
 * key is gone while the record still names its slot. */
static void
ks_zero_of(const char *dir, const char *id)
{
	struct keystore *ks;
	struct db *db;
	struct db_txn *t;
	const void *v;
	size_t vl;
	uint64_t slot = 0;
	char err[256];

	if (db_open(&db, dir, 1 << 26, 1, err, sizeof(err)) != 0)
		fatal("%s", err);
	db_begin(db, 1, &t);
	if (db_get(t, DB_MESSAGES, id, QUEUE_ID_LEN, &v, &vl) == 0)
		slot = msg_record_slot(v, vl);
	db_abort(t);
	db_close(db);
	if (slot == 0)
		fatal("no key store slot for %s", id);
	if (ks_open(&ks, dir, 0, err, sizeof(err)) != 0)
		fatal("%s", err);
	ks_forget(ks, slot, KS_MESSAGE, id);
	ks_batch_end(ks, 1);
	ks_close(ks);
}

static void
problem_cb(void *arg, const char *text)
{
	struct buf *b = arg;

	buf_append(b, text, strlen(text));
	buf_append(b, "\n", 1);
}

static void
test_queue_tamper(void)
{
	char tmp[256], err[512], *text, *data;
	const char *t = getenv("TMPDIR");
	struct config *cfg;
	struct queue *q;
	uv_loop_t loop;
	struct queue_rcpt_in r = { .addr = "x@example.org" };
	struct queue_msg_in m = { .account = "acme", .sender = "s@example.com",
	    .rcpts = &r, .nrcpts = 1, .state = QUEUE_QUEUED };
	char ids[3][QUEUE_ID_LEN + 1];
	struct buf b;
	int i;

	snprintf(tmp, sizeof(tmp), "%s/test_qcrypto.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmp) == NULL)
		fatal("mkdtemp");
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/k\n"
	    "queue_chunk_size = 4k\n", tmp, tmp);
	cfg = config_parse("t", text, strlen(text), err, sizeof(err));
	free(text);
	uv_loop_init(&loop);
	data = xmalloc(10000);
	for (i = 0; i < 10000; i++)
		data[i] = (char)('a' + i % 26);
	m.data = data;
	m.len = 10000;
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "queue opens (%s)", q ? "" : err);
	for (i = 0; i < 3; i++) {
		calls = 0;
		queue_commit(q, &m, commit_cb, NULL);
		while (calls == 0)
			uv_run(&loop, UV_RUN_ONCE);
		str_copy(ids[i], lastid, sizeof(ids[i]));
	}
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);

	tamper(cfg->data_directory, ids[0], 1, 20);		/* ciphertext byte */
	tamper(cfg->data_directory, ids[1], 0, -1);		/* swap chunks 0 and 1 */
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	buf_init(&b, 0);
	is_int(queue_read_body(q, ids[0], &b), -EBADMSG, "flipped byte in a stored chunk: EBADMSG");
	is_int(b.len, 0, "nothing returned from a tampered body");
	is_int(queue_read_body(q, ids[1], &b), -EBADMSG, "swapped chunks: EBADMSG");
	is_int(queue_read_body(q, ids[2], &b), 0, "untouched message still reads");
	is_mem(b.data, b.len, data, 10000, "and is intact");
	buf_free(&b);
	{
		struct queue_check_stats st;
		struct queue_msg *qm = NULL;
		unsigned char k[SCHED_KEY_LEN];
		uint64_t next_try = 0;
		int rc;

		buf_init(&b, 0);
		rc = queue_check(q, problem_cb, &b, &st);
		ok(rc == 0 && st.problems == 0 &&
		    st.messages == 3 && st.chunks == 9 && st.scheduled == 3,
		    "queue check: a sound queue has no problems (%llu messages, %llu chunks)",
		    (unsigned long long)st.messages, (unsigned long long)st.chunks);
		if (queue_get(q, ids[0], &qm) == 0 && qm->nrcpts == 1)
			next_try = qm->rcpts[0].next_try;
		queue_msg_free(qm);
		queue_close(q);
		uv_run(&loop, UV_RUN_DEFAULT);
		/* damage the records, not the file: a chunk, a data key, a schedule entry */
		memcpy(k, ids[2], QUEUE_ID_LEN);
		put_be32(k + QUEUE_ID_LEN, 2);
		db_delete(cfg->data_directory, DB_BODIES, k, RCPT_KEY_LEN);
		ks_zero_of(cfg->data_directory, ids[1]);
		put_be64(k, next_try);
		memcpy(k + 8, ids[0], QUEUE_ID_LEN);
		put_be32(k + 8 + QUEUE_ID_LEN, 0);
		db_delete(cfg->data_directory, DB_SCHEDULE, k, SCHED_KEY_LEN);
		q = queue_open_config(NULL, cfg, 1, err, sizeof(err));
		b.len = 0;
		queue_check(q, problem_cb, &b, &st);
		buf_append(&b, "", 1);
		is_int(st.problems, 3, "queue check finds the three damaged records");
		ok(strstr(b.data, "chunk 2 of 3 is missing") != NULL, "a missing body chunk");
		ok(strstr(b.data, "the body's data key (key store slot") != NULL, "a missing data key");
		ok(strstr(b.data, "queued but not scheduled") != NULL,
		    "a queued recipient without its schedule entry");
		buf_free(&b);
	}
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	config_free(cfg);
	free(data);
	text = xasprintf("rm -rf '%s'", tmp);
	if (system(text) != 0)
		diag("cleanup failed");
	free(text);
}

/* Ids made back to back (many per millisecond) strictly increase. */
static void
test_ids(void)
{
	char prev[QUEUE_ID_LEN + 1] = "", id[QUEUE_ID_LEN + 1];
	int i, sorted = 1, valid = 1;

	for (i = 0; i < 100000; i++) {
		id_new(id);
		if (!id_valid(id))
			valid = 0;
		if (strcmp(prev, id) >= 0)
			sorted = 0;
		memcpy(prev, id, sizeof(prev));
	}
	ok(sorted, "100000 ids made back to back strictly increase");
	ok(valid, "and are valid");
	ok(!id_valid("0000000000000000000") && !id_valid("0000000000000000000I") &&
	    !id_valid("../../../../etc/pass"), "malformed ids rejected");
}

/* A failed write's outcome, from the reply catalogue. */
static void
test_outcome_for_error(void)
{
	struct outcome o;

	queue_outcome_for_error(&o, -ENOSPC);
	ok(o.code == 452 && strcmp(o.enhanced, "4.3.1") == 0 &&
	    strcmp(o.text, "Insufficient system storage") == 0, "ENOSPC: 452 4.3.1");
	queue_outcome_for_error(&o, -ENOENT);
	ok(o.code == 550 && strcmp(o.enhanced, "5.1.0") == 0 &&
	    strcmp(o.text, "No such message") == 0, "ENOENT: 550 5.1.0 No such message");
	queue_outcome_for_error(&o, -EACCES);
	ok(o.code == 451 && strcmp(o.enhanced, "4.3.0") == 0 &&
	    strcmp(o.text, "Queue error, try again later") == 0,
	    "EACCES (key store): the one queue error text (was 'Queue key unavailable')");
	queue_outcome_for_error(&o, -EIO);
	ok(o.kind == OUTCOME_TEMPFAIL && o.code == 451 &&
	    strcmp(o.text, "Local error in processing, try again later") == 0,
	    "EIO: 451 4.3.0 local error");
}

int
main(void)
{
	plan(28);
	test_outcome_for_error();
	test_ids();
	test_primitive();
	test_queue_tamper();
	return done();
}
