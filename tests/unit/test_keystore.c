/* SPDX-License-Identifier: ISC */
/*
 * test_keystore: the key store that can forget (queue/keystore.c,
 * issue 13).  On the store alone: a key reads back only under its
 * wrapping key, slot and owner; a forgotten slot is zeroed on disk once
 * the batch commits and not before; an aborted batch zeroes what it
 * wrote and reuses the slot; reconcile zeroes every unreferenced slot.
 * Through the queue, read from the raw files: data.mdb holds no key and
 * no plaintext envelope address; after delete / account delete the
 * slot bytes are zeros and a copy of the key store taken before still
 * holds them (what the erasure journal is for); a key written whose
 * commit never happened (a crash) is zeroed at the next open.
 * The pool (issue 13's performance clause): a commit takes a slot
 * written and synced ahead, so nothing is written or synced for it at
 * commit time; its data key derives from the pool secret and the
 * account key (zeroing either slot shreds it), an aborted batch zeroes
 * the slot it took, clean shutdown zeroes the pool, a crash leaves the
 * pool to the start-up reconcile, and first-format data keys still read.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "daemon.h"
#include "queue.h"
#include "queue_int.h"
#include "tap.h"
#include "util.h"

static char tmp[256];

static char *
slurp(const char *path, size_t *len)
{
	char *p = NULL;

	*len = 0;
	if (file_read_all(path, 1u << 30, &p, len) != 0)
		return NULL;
	return p;
}

static int
slot_is_zero(const char *path, uint64_t s)
{
	size_t len, i;
	char *p = slurp(path, &len);
	int z = 1;

	if (p == NULL || (s + 1) * KS_SLOT_LEN > len)
		z = -1;
	else
		for (i = 0; i < KS_SLOT_LEN; i++)
			if (p[s * KS_SLOT_LEN + i] != 0)
				z = 0;
	free(p);
	return z;
}

static void
test_store(void)
{
	unsigned char wrap[32], k1[32], k2[32], out[32];
	struct keystore *ks;
	uint64_t s1 = 0, s2 = 0, s3 = 0, s4 = 0, refs[1];
	char dir[300], path[320], err[256];
	size_t zeroed = 0;

	snprintf(dir, sizeof(dir), "%s/ks", tmp);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/keys", dir);
	crypto_random_bytes(wrap, sizeof(wrap));
	crypto_random_bytes(k1, sizeof(k1));
	crypto_random_bytes(k2, sizeof(k2));
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "key store opens");
	is_int(ks_put(ks, wrap, KS_MESSAGE, "msg1", k1, &s1), 0, "put");
	is_int(ks_put(ks, wrap, KS_MESSAGE, "msg2", k2, &s2), 0, "put another");
	ok(s1 >= 1 && s2 != s1, "distinct slots (%llu, %llu)", (unsigned long long)s1,
	    (unsigned long long)s2);
	is_int(ks_presync(ks), 0, "presync");
	ks_batch_end(ks, 1);
	is_int(ks_get(ks, wrap, KS_MESSAGE, "msg1", s1, out), 0, "get");
	is_mem(out, 32, k1, 32, "the key comes back");
	is_int(ks_get(ks, wrap, KS_MESSAGE, "msg2", s1, out), -EBADMSG, "another owner's slot: EBADMSG");
	is_int(ks_get(ks, wrap, KS_ACCOUNT, "msg1", s1, out), -EBADMSG, "another kind: EBADMSG");
	is_int(ks_get(ks, k2, KS_MESSAGE, "msg1", s1, out), -EBADMSG, "another wrapping key: EBADMSG");

	ks_forget(ks, s1, KS_MESSAGE, "msg1");
	is_int(slot_is_zero(path, s1), 0, "forgotten slot kept until the batch commits");
	ks_batch_end(ks, 0);
	is_int(slot_is_zero(path, s1), 0, "an aborted batch does not zero what it forgot");
	ks_forget(ks, s1, KS_MESSAGE, "msg1");
	ks_batch_end(ks, 1);
	is_int(slot_is_zero(path, s1), 1, "after the commit the slot is zeros on disk");
	is_int(ks_get(ks, wrap, KS_MESSAGE, "msg1", s1, out), -ENOENT, "and reads as shredded");

	is_int(ks_put(ks, wrap, KS_MESSAGE, "msg3", k1, &s3), 0, "put in an aborted batch");
	ok(s3 == s1, "the zeroed slot is reused");
	is_int(slot_is_zero(path, s3), 0, "written");
	ks_batch_end(ks, 0);
	is_int(slot_is_zero(path, s3), 1, "an aborted batch zeroes the slots it wrote");

	is_int(ks_put(ks, wrap, KS_MESSAGE, "msg4", k1, &s4), 0, "put, never referenced");
	ks_presync(ks);
	ks_batch_end(ks, 1);
	ks_close(ks);
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "reopens");
	refs[0] = s2;
	is_int(ks_reconcile(ks, refs, 1, &zeroed), 0, "reconcile");
	is_int(zeroed, 1, "one unreferenced slot zeroed");
	is_int(slot_is_zero(path, s4), 1, "the unreferenced one");
	is_int(ks_get(ks, wrap, KS_MESSAGE, "msg2", s2, out), 0, "the referenced one kept");
	ks_close(ks);
}

static uint64_t
slots_in(const char *path, const char *magic)
{
	size_t len, n = 0, s;
	char *p = slurp(path, &len);

	for (s = 1; p != NULL && (s + 1) * KS_SLOT_LEN <= len; s++)
		if (memcmp(p + s * KS_SLOT_LEN, magic, 4) == 0)
			n++;
	free(p);
	return n;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void
test_pool(void)
{
	unsigned char master[32], ak[32], ak2[32], dk[32], dk2[32], out[32], old[32];
	struct keystore *ks;
	uint64_t s1 = 0, s2 = 0, s3 = 0, s4 = 0, so = 0, refs[2];
	char dir[300], path[320], err[256];
	size_t zeroed = 0, i;
	off_t size_before;
	pid_t pid;
	int st = 0;

	snprintf(dir, sizeof(dir), "%s/pool", tmp);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/keys", dir);
	crypto_random_bytes(master, sizeof(master));
	crypto_random_bytes(ak, sizeof(ak));
	crypto_random_bytes(ak2, sizeof(ak2));
	crypto_random_bytes(old, sizeof(old));
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "pool: key store opens");
	/* a data key of the first format, sealed under the account key */
	is_int(ks_put(ks, ak, KS_MESSAGE, "msg0", old, &so), 0, "pool: a first-format data key");
	ks_presync(ks);
	ks_batch_end(ks, 1);

	is_int(ks_take(ks, master, ak, "msg1", &s1, dk), 0, "pool: take");
	is_int((int)slots_in(path, "PKS2"), 64, "pool: the first take fills 64 slots ahead");
	is_int(slot_is_zero(path, s1), 0, "pool: the taken slot is on disk before any presync");
	is_int(ks_presync(ks), 0, "pool: nothing left to sync for the commit");
	ks_batch_end(ks, 1);
	is_int(ks_data_key(ks, master, ak, "msg1", s1, out), 0, "pool: the data key reads back");
	is_mem(out, 32, dk, 32, "pool: and is the one the commit used");
	is_int(ks_data_key(ks, master, ak2, "msg1", s1, out), 0, "pool: another account key...");
	ok(memcmp(out, dk, 32) != 0, "pool: ...derives another key");
	ks_data_key(ks, master, ak, "msg2", s1, out);
	ok(memcmp(out, dk, 32) != 0, "pool: another message id derives another key");
	is_int(ks_data_key(ks, ak, ak, "msg1", s1, out), -EBADMSG, "pool: another master key: EBADMSG");
	is_int(ks_data_key(ks, master, ak, "msg0", so, out), 0, "pool: the first-format key reads");
	is_mem(out, 32, old, 32, "pool: and is the sealed one");

	is_int(ks_take(ks, master, ak, "msg2", &s2, dk2), 0, "pool: take in a batch that aborts");
	ok(s2 == s1 + 1, "pool: slots are taken in order (%llu after %llu)", (unsigned long long)s2,
	    (unsigned long long)s1);
	ks_batch_end(ks, 0);
	/* the aborted batch may have left pages sealed under dk2 in data.mdb
	 * (a commit that failed part-way): its secret must not live on */
	is_int(slot_is_zero(path, s2), 1, "pool: an aborted batch zeroes the slot it took");
	is_int(ks_data_key(ks, master, ak, "msg2", s2, out), -ENOENT,
	    "pool: the aborted batch's data key is underivable");
	size_before = file_size(path);
	for (i = 0; i < 62; i++) {
		ks_take(ks, master, ak, "msgx", &s3, out);
		ks_batch_end(ks, 0);	/* zeroed each time */
	}
	is_int((int)slots_in(path, "PKS2"), 1, "pool: aborted takes leave no secret behind");
	ok(file_size(path) == size_before, "pool: aborted takes do not grow the file (%lld, %lld)",
	    (long long)file_size(path), (long long)size_before);
	is_int(ks_take(ks, master, ak, "msg2", &s3, out), 0, "pool: a take after the aborts");
	ok(memcmp(out, dk2, 32) != 0, "pool: the retry's data key is not the aborted one");
	ks_batch_end(ks, 0);
	ok(file_size(path) <= size_before + KS_SLOT_LEN, "pool: the refill reuses the zeroed slots "
	    "(%lld, %lld)", (long long)file_size(path), (long long)size_before);

	{
		/* issue 20: derived data keys are kept in memory (by slot, id
		 * and account key) until their slot or account is forgotten */
		unsigned char junk[KS_SLOT_LEN];
		uint64_t sa, sacct;
		int fd = open(path, O_RDWR);

		is_int(ks_take(ks, master, ak, "msgA", &sa, dk2), 0, "cache: take");
		ks_batch_end(ks, 1);
		is_int(ks_put(ks, master, KS_ACCOUNT, "acme", ak, &sacct), 0, "cache: an account key");
		ks_presync(ks);
		ks_batch_end(ks, 1);
		memset(junk, 0x5a, sizeof(junk));
		ok(fd >= 0 && pwrite(fd, junk, 4, (off_t)(sa * KS_SLOT_LEN + 8)) == 4,
		    "cache: damage msgA's slot on disk");
		is_int(ks_data_key(ks, master, ak, "msgA", sa, out), 0,
		    "cache: its data key comes from memory");
		is_mem(out, 32, dk2, 32, "cache: the one derived at the take");
		is_int(ks_data_key_disk(ks, master, ak, "msgA", sa, out), -EBADMSG,
		    "cache: ks_data_key_disk reads the damaged slot (queue check sees it)");
		is_int(ks_data_key(ks, master, ak2, "msgA", sa, out), -EBADMSG,
		    "cache: under another account key it is not served");
		ks_forget(ks, sacct, KS_ACCOUNT, "acme");
		is_int(ks_data_key(ks, master, ak, "msgA", sa, out), -EBADMSG,
		    "cache: an account key forgotten: every kept data key goes");
		ks_batch_end(ks, 1);
		ks_forget(ks, sa, KS_MESSAGE, "msgA");
		ks_batch_end(ks, 1);
		if (fd >= 0)
			close(fd);
	}

	is_int(ks_data_key(ks, master, ak, "msg1", s1, out), 0, "pool: msg1's data key (kept)");
	ks_forget(ks, s1, KS_MESSAGE, "msg1");
	ks_batch_end(ks, 1);
	is_int(slot_is_zero(path, s1), 1, "pool: a forgotten pool slot is zeroed after the commit");
	is_int(ks_data_key(ks, master, ak, "msg1", s1, out), -ENOENT, "pool: and reads as shredded, "
	    "not from memory");

	/* 40 committed takes: below half the pool, the idle refill tops it up */
	for (i = 0; i < 40; i++) {
		ks_take(ks, master, ak, "msgy", &s3, out);
		ks_batch_end(ks, 1);
	}
	ks_pool_idle(ks, master);
	ok(slots_in(path, "PKS2") >= 40 + 64, "pool: the idle refill wrote the pool up again (%llu)",
	    (unsigned long long)slots_in(path, "PKS2"));
	ks_close(ks);
	is_int((int)slots_in(path, "PKS2"), 40, "pool: clean shutdown zeroes the pool, keeps the taken");

	/* a crash with a full pool: the next start zeroes what no record names */
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "pool: reopens");
	refs[0] = so;
	refs[1] = s3;
	ks_reconcile(ks, refs, 2, &zeroed);
	is_int((int)slots_in(path, "PKS2"), 1, "pool: reconcile keeps only the referenced pool slot");
	fflush(NULL);
	if ((pid = fork()) == 0) {
		ks_take(ks, master, ak, "msgz", &s4, out);
		ks_batch_end(ks, 1);
		_exit(0);	/* no ks_close: as by kill -9 */
	}
	waitpid(pid, &st, 0);
	ks_close(ks);
	ok(slots_in(path, "PKS2") > 2, "pool: a crash leaves the pool on disk (%llu)",
	    (unsigned long long)slots_in(path, "PKS2"));
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "pool: reopens after the crash");
	refs[0] = so;
	refs[1] = s3;
	is_int(ks_reconcile(ks, refs, 2, &zeroed), 0, "pool: reconcile");
	is_int((int)slots_in(path, "PKS2"), 1, "pool: the crash's pool is zeroed, the referenced kept");
	is_int(ks_data_key(ks, master, ak, "msgy", s3, out), 0, "pool: the referenced key reads");
	ks_close(ks);
}


/* A key store whose end a crash tore (a write cut short). */
static void
test_torn(void)
{
	unsigned char master[32], key[32], out[32], junk[30];
	struct keystore *ks;
	struct rlimit old, lim;
	uint64_t s1 = 0, s2 = 0, refs[1];
	char dir[300], path[320], err[256];
	size_t zeroed = 0;
	off_t whole;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s/torn", tmp);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/keys", dir);
	crypto_random_bytes(master, sizeof(master));
	crypto_random_bytes(key, sizeof(key));
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "torn: key store opens");
	ks_put(ks, master, KS_ACCOUNT, "a", key, &s1);
	ks_put(ks, master, KS_ACCOUNT, "b", key, &s2);
	ks_presync(ks);
	ks_batch_end(ks, 1);
	ks_close(ks);

	/* the referenced last slot cut through: check must not call it present */
	whole = file_size(path);
	if (truncate(path, whole - 20) != 0)
		fatal("truncate");
	is_int(ks_open(&ks, dir, 1, err, sizeof(err)), 0, "torn: opens read-only");
	ok(ks_slot_used(ks, s1), "torn: the whole slot is used");
	ok(!ks_slot_used(ks, s2), "torn: the slot the end cuts through is not (queue check reports it)");
	ok(ks_get(ks, master, KS_ACCOUNT, "b", s2, out) != 0, "torn: and does not read");
	{
		/* a daemon grows the file after a read-only open (posternctl) */
		struct keystore *rw;
		uint64_t s3 = 0;

		if (truncate(path, whole) != 0)
			fatal("truncate");
		is_int(ks_open(&rw, dir, 0, err, sizeof(err)), 0, "torn: a writer opens beside it");
		ks_put(rw, master, KS_ACCOUNT, "c", key, &s3);
		ks_presync(rw);
		ks_batch_end(rw, 1);
		ok(ks_slot_used(ks, s3), "torn: the read-only store sees a slot written after it opened");
		ks_close(rw);
	}
	ks_close(ks);

	/* an unreferenced torn tail on a full disk (the file cannot grow):
	 * reconcile zeroes it in place and cuts the file, start goes on */
	if (truncate(path, whole) != 0)
		fatal("truncate");
	crypto_random_bytes(junk, sizeof(junk));
	if ((fd = open(path, O_WRONLY | O_APPEND)) < 0 || write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
		fatal("append");
	close(fd);
	is_int(ks_open(&ks, dir, 0, err, sizeof(err)), 0, "torn: reopens read-write");
	refs[0] = s1;
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)file_size(path);
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = ks_reconcile(ks, refs, 1, &zeroed);
	setrlimit(RLIMIT_FSIZE, &old);
	is_int(rc, 0, "torn: reconcile with a torn tail and no room to grow");
	ok(file_size(path) % KS_SLOT_LEN == 0 && file_size(path) <= whole,
	    "torn: the file is cut to whole slots (%lld)", (long long)file_size(path));
	is_int(ks_get(ks, master, KS_ACCOUNT, "a", s1, out), 0, "torn: the referenced key reads");
	is_mem(out, 32, key, 32, "torn: and is the one written");
	ok(slot_is_zero(path, s2) == 1, "torn: the unreferenced slot is zeroed");
	ks_close(ks);
}

static int calls;
static char lastid[QUEUE_ID_LEN + 1];
static struct outcome last;

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	(void)arg;
	calls++;
	last = *o;
	if (o->kind == OUTCOME_OK)
		str_copy(lastid, id, sizeof(lastid));
}

static void
done_cb(void *arg, const struct outcome *o)
{
	(void)arg;
	calls++;
	last = *o;
}

static void
wait_calls(uv_loop_t *loop)
{
	while (calls == 0)
		uv_run(loop, UV_RUN_ONCE);
	calls = 0;
}

/* The data key slot of message ID (reads the record with the queue's own code). */
static uint64_t
slot_of(struct queue *q, const char *id)
{
	struct db_txn *t;
	const void *v;
	size_t vl;
	uint64_t s = 0;

	if (db_begin(q->db, 1, &t) != 0)
		return 0;
	if (db_get(t, DB_MESSAGES, id, QUEUE_ID_LEN, &v, &vl) == 0)
		s = msg_record_slot(v, vl);
	db_abort(t);
	return s;
}

/* queue check while posternd's writer goes on: a delete committed after
 * check's snapshot zeroes the slot and the pool refills it. */
static char race_ids[3][QUEUE_ID_LEN + 1];
static int race_problems;

static void
race_hook(struct queue *q)
{
	queue_erase_sync(q, 0, race_ids[0]);
	queue_erase_sync(q, 0, race_ids[1]);
	/* the pool takes the slot freed last: a PKS2 secret where the
	 * snapshot's record names a data key */
	ks_pool_fill(q->ks, q->master, 1);
}

static void
race_problem(void *arg, const char *text)
{
	(void)arg;
	race_problems++;
	diag("check: %s", text);
}

static void
test_check_race(void)
{
	char err[512], *text;
	struct config *cfg;
	struct queue *q;
	uv_loop_t loop;
	struct queue_rcpt_in r = { .addr = "r@example.org" };
	struct queue_msg_in in = { .account = "acme", .sender = "s@example.com",
	    .rcpts = &r, .nrcpts = 1, .state = QUEUE_QUEUED,
	    .data = "Subject: race\r\n\r\nbody\r\n", .len = 25 };
	struct queue_check_stats st;
	static const unsigned char zero[KS_SLOT_LEN];
	uint64_t s2;
	int i, fd;

	text = xasprintf("data_directory = %s/race\nmaster_key_file = %s/race.key\n"
	    "delivery_enabled = no\nqueue_map_size = 16m\n", tmp, tmp);
	cfg = config_parse("t", text, strlen(text), err, sizeof(err));
	free(text);
	uv_loop_init(&loop);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "check race: queue opens (%s)", q ? "" : err);
	for (i = 0; i < 3; i++) {
		queue_commit(q, &in, commit_cb, NULL);
		wait_calls(&loop);
		str_copy(race_ids[i], lastid, sizeof(race_ids[i]));
	}
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* the writer on this thread (no loop): the hook writes as it would */
	q = queue_open_config(NULL, cfg, 0, err, sizeof(err));
	ok(q != NULL, "check race: reopens (%s)", q ? "" : err);
	race_problems = 0;
	queue_check_hook = race_hook;
	is_int(queue_check(q, race_problem, NULL, &st), 0, "check race: check runs");
	queue_check_hook = NULL;
	is_int(race_problems, 0, "check race: messages deleted after the snapshot are no problem "
	    "(their slots zeroed, one refilled by the pool)");
	/* a live message's slot zeroed behind the queue's back: still found */
	s2 = slot_of(q, race_ids[2]);
	if ((fd = open(queue_keystore_path(q), O_WRONLY)) < 0 ||
	    pwrite(fd, zero, sizeof(zero), (off_t)(s2 * KS_SLOT_LEN)) != (ssize_t)sizeof(zero))
		fatal("zero slot");
	close(fd);
	race_problems = 0;
	queue_check(q, race_problem, NULL, &st);
	is_int(race_problems, 1, "check race: a live message's zeroed slot is still reported");
	queue_close(q);
	uv_loop_close(&loop);
	config_free(cfg);
}

static void
test_queue_files(void)
{
	char err[512], *text, *mdb, *keys, *keys_before, path_db[400], path_ks[400];
	struct config *cfg;
	struct queue *q;
	struct queue_msg *m;
	uv_loop_t loop;
	struct queue_rcpt_in r = { .addr = "Bob.Smith@Example.ORG" };
	struct queue_msg_in in = { .account = "acme", .sender = "alice.jones@example.com",
	    .rcpts = &r, .nrcpts = 1, .state = QUEUE_QUEUED,
	    .data = "Subject: zq-marker\r\n\r\nbody\r\n", .len = 29 };
	char id1[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	uint64_t s1, s2, sa;
	size_t ml, kl, kbl;
	unsigned char slotbytes[KS_SLOT_LEN], dk[32];
	struct db_txn *t;
	struct buf b;

	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/k\n"
	    "delivery_enabled = no\nqueue_map_size = 16m\n", tmp, tmp);
	cfg = config_parse("t", text, strlen(text), err, sizeof(err));
	free(text);
	uv_loop_init(&loop);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "queue opens (%s)", q ? "" : err);
	snprintf(path_db, sizeof(path_db), "%s", queue_db_path(q));
	snprintf(path_ks, sizeof(path_ks), "%s", queue_keystore_path(q));
	addr_index_set_key(q->master, sizeof(q->master));
	queue_commit(q, &in, commit_cb, NULL);
	wait_calls(&loop);
	str_copy(id1, lastid, sizeof(id1));
	queue_commit(q, &in, commit_cb, NULL);
	wait_calls(&loop);
	str_copy(id2, lastid, sizeof(id2));
	is_int(queue_get(q, id1, &m), 0, "message reads");
	is_str(m->sender, "alice.jones@example.com", "sender decrypts in memory");
	is_str(m->rcpts[0].addr, "Bob.Smith@Example.ORG", "recipient decrypts in memory");
	ok(m->has_sender_hash && m->rcpts[0].has_hash, "keyed hashes stored beside them");
	{
		unsigned char h[ADDR_HASH_LEN];
		addr_index_hash("bob.smith@example.org", 21, h);
		is_mem(m->rcpts[0].addr_hash, 32, h, 32, "the recipient hash is the keyed index of its normal form");
	}
	queue_msg_free(m);
	s1 = slot_of(q, id1);
	s2 = slot_of(q, id2);
	ok(s1 != 0 && s2 != 0 && s1 != s2, "each message names its own key slot");

	mdb = slurp(path_db, &ml);
	ok(mdb != NULL && memmem(mdb, ml, "alice.jones", 11) == NULL &&
	    memmem(mdb, ml, "Bob.Smith", 9) == NULL && memmem(mdb, ml, "example.org", 11) == NULL,
	    "no envelope address in data.mdb (raw bytes)");
	keys_before = slurp(path_ks, &kbl);
	memcpy(slotbytes, keys_before + s1 * KS_SLOT_LEN, KS_SLOT_LEN);
	ok(memmem(mdb, ml, slotbytes + 4, KS_SLOT_LEN - 4) == NULL,
	    "the sealed data key is not in data.mdb");
	free(mdb);

	/* delete the first: its slot is zeros, the second's is intact */
	{
		const char *ids[1] = { id1 };
		int st[1];

		queue_actions(q, ids, 1, QUEUE_ACT_DELETE, NULL, st, done_cb, NULL);
		wait_calls(&loop);
	}
	is_int(slot_is_zero(path_ks, s1), 1, "queue delete: the data key slot is zeros on disk");
	is_int(slot_is_zero(path_ks, s2), 0, "the other message's slot is intact");
	is_int(slot_of(q, id1), 0, "the record no longer names a slot");
	is_int(queue_get(q, id1, &m), 0, "deleted message record still there (until metadata purge)");
	ok(m->envelope_gone && *m->sender == '\0' && *m->rcpts[0].addr == '\0' &&
	    m->has_sender_hash, "only keyed hashes remain of its envelope");
	queue_msg_free(m);
	keys = slurp(path_ks, &kl);
	ok(memmem(keys, kl, slotbytes, KS_SLOT_LEN) == NULL, "the old slot bytes are nowhere in the key store");
	ok(memmem(keys_before, kbl, slotbytes, KS_SLOT_LEN) != NULL,
	    "(a copy taken before the delete still holds them)");
	free(keys);
	free(keys_before);
	mdb = slurp(path_db, &ml);
	ok(memmem(mdb, ml, slotbytes + 4, KS_SLOT_LEN - 4) == NULL, "nor in data.mdb, free pages included");
	free(mdb);

	/* account delete: the account key's slot goes, its messages stop decrypting */
	db_begin(q->db, 1, &t);
	sa = account_slot(t, "acme");
	db_abort(t);
	ok(sa != 0, "account key slot recorded");
	queue_account_delete(q, "acme", NULL, done_cb, NULL);
	wait_calls(&loop);
	is_int(slot_is_zero(path_ks, sa), 1, "account delete: its key slot is zeros on disk");
	buf_init(&b, 0);
	ok(queue_read_body(q, id2, &b) != 0, "its remaining message no longer decrypts");
	buf_free(&b);
	is_int(queue_get(q, id2, &m), 0, "record readable");
	ok(m->envelope_gone, "envelope unreadable after account delete");
	queue_msg_free(m);

	/* a crash after a key was written and synced but before its commit */
	in.account = "beta";
	queue_commit(q, &in, commit_cb, NULL);
	wait_calls(&loop);
	s2 = slot_of(q, lastid);
	{
		unsigned char w[32];
		uint64_t s;

		crypto_random_bytes(w, sizeof(w));
		crypto_random_bytes(dk, sizeof(dk));
		ks_put(q->ks, w, KS_MESSAGE, "crash", dk, &s);
		ks_presync(q->ks);
		queue_close(q);	/* the batch state is dropped, as by kill -9 */
		uv_run(&loop, UV_RUN_DEFAULT);
		is_int(slot_is_zero(path_ks, s), 0, "an unreferenced key left on disk (crash)");
		q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
		ok(q != NULL, "reopens");
		is_int(slot_is_zero(path_ks, s), 1, "start-up reconcile zeroed it");
		is_int(slot_is_zero(path_ks, s2), 0, "a referenced slot is never zeroed");
	}
	/* a held message released with re-signed text (review): the new text
	 * is sealed under the message's key, the envelope stays readable */
	{
		struct queue_msg_in h = in;
		struct iovec nb = { "Subject: redacted\r\n\r\nnew text\r\n", 32 };
		const char *ids[1];
		char hid[QUEUE_ID_LEN + 1];
		uint64_t old, now_slot;
		int st[1];
		struct buf b2;

		h.state = QUEUE_HELD;
		h.account = "beta";
		queue_commit(q, &h, commit_cb, NULL);
		wait_calls(&loop);
		str_copy(hid, lastid, sizeof(hid));
		old = slot_of(q, hid);
		ids[0] = hid;
		queue_review_release_bodies(q, ids, 1, &nb, NULL, st, done_cb, NULL);
		wait_calls(&loop);
		now_slot = slot_of(q, hid);
		ok(st[0] == 0 && now_slot != 0 && now_slot == old && slot_is_zero(path_ks, old) == 0,
		    "review release with re-signed text: the message keeps its key slot");
		buf_init(&b2, 0);
		is_int(queue_read_body(q, hid, &b2), 0, "the new text reads");
		is_mem(b2.data, b2.len, nb.iov_base, nb.iov_len, "and is the new text");
		buf_free(&b2);
		is_int(queue_get(q, hid, &m), 0, "the record reads");
		ok(!m->envelope_gone && strcmp(m->sender, "alice.jones@example.com") == 0 &&
		    strcmp(m->rcpts[0].addr, "Bob.Smith@Example.ORG") == 0,
		    "its envelope still reads");
		queue_msg_free(m);
	}

	/* queue check finds a referenced slot that was zeroed behind its back */
	{
		struct queue_check_stats st;
		static const unsigned char zero[KS_SLOT_LEN];
		FILE *f;

		memset(&st, 0, sizeof(st));
		is_int(queue_check(q, NULL, NULL, &st), 0, "queue check runs");
		is_int(st.problems, 0, "a healthy queue has no problems");
		f = fopen(path_ks, "r+b");
		fseek(f, (long)(s2 * KS_SLOT_LEN), SEEK_SET);
		fwrite(zero, 1, sizeof(zero), f);
		fclose(f);
		memset(&st, 0, sizeof(st));
		queue_check(q, NULL, NULL, &st);
		ok(st.problems >= 1, "queue check reports the data key missing from the key store");
	}
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* the key store of a queue in use is never silently recreated */
	unlink(path_ks);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q == NULL && strstr(err, "is missing") != NULL, "missing key store refused (%s)", err);
	if (q != NULL) {
		queue_close(q);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&loop);
	config_free(cfg);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char *cmd;

	snprintf(tmp, sizeof(tmp), "%s/test_keystore.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmp) == NULL)
		fatal("mkdtemp");
	plan(59 + 34 + 13 + 5 + 9);
	test_store();
	test_pool();
	test_torn();
	test_check_race();
	test_queue_files();
	cmd = xasprintf("rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		diag("cleanup failed");
	free(cmd);
	return done();
}
