/* SPDX-License-Identifier: ISC */
/*
 * test_queue_iov: queue_commit() of a message given as pieces (issue 11
 * item 6: the relay hands its added header fields and the received
 * buffer without joining them).  The stored body must be the pieces
 * one after the other, byte for byte, whatever the cut points are
 * relative to the chunk size (pieces inside one chunk, across chunk
 * boundaries, empty pieces).  And reading bodies back must not leave
 * them mapped: after every body of about 4 MiB was read, the LMDB
 * file's resident pages in this process stay far below that.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "queue.h"
#include "tap.h"
#include "util.h"

static char tmpdir[256];
static uv_loop_t loop;

struct res {
	int calls;
	struct outcome o;
	char id[QUEUE_ID_LEN + 1];
};

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	struct res *r = arg;

	r->calls++;
	r->o = *o;
	if (id != NULL)
		str_copy(r->id, id, sizeof(r->id));
}

static int
commit_iov(struct queue *q, const struct iovec *iov, size_t niov, struct res *r)
{
	struct queue_rcpt_in rcpt = { .addr = "a@example.org" };
	struct queue_msg_in m = {
		.account = "acme", .sender = "s@example.com", .rcpts = &rcpt, .nrcpts = 1,
		.iov = iov, .niov = niov, .state = QUEUE_QUEUED,
	};

	memset(r, 0, sizeof(*r));
	if (queue_commit(q, &m, commit_cb, r) != 0)
		return -1;
	while (r->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	return r->o.kind == OUTCOME_OK ? 0 : -1;
}

/* Resident KiB of this process's mappings of FILE (from /proc/self/smaps). */
static long
mapped_kib(const char *file)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[1024];
	int in = 0;
	long kib = 0, v;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t hex = strspn(line, "0123456789abcdef");

		if (hex > 0 && line[hex] == '-')	/* "start-end perms off dev inode path" */
			in = strstr(line, file) != NULL;
		else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
			kib += v;
	}
	fclose(f);
	return kib;
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char err[512], *text, *cmd, *big;
	struct config *cfg;
	struct queue *q;
	struct res r;
	struct buf body, want;
	static const size_t cuts[] = { 0, 1, 4095, 4096, 4097, 6000, 8191, 8192, 8193, 9999, 10000 };
	size_t i;
	int all_same = 1, rc;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_queue_iov.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	uv_loop_init(&loop);
	plan(10);
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/master.key\n"
	    "queue_chunk_size = 4096\n", tmpdir, tmpdir);
	cfg = config_parse("test.conf", text, strlen(text), err, sizeof(err));
	free(text);
	if (cfg == NULL)
		fatal("config: %s", err);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "queue opens");
	if (q == NULL)
		return done();
	{
		/* Disk space is reserved ahead of use, not for the whole
		 * (default 1 GiB) map: a new queue stays small on disk. */
		struct stat st;
		char *path = xasprintf("%s/q/data.mdb", tmpdir);

		int src = stat(path, &st);

		ok(src == 0 && (uint64_t)st.st_blocks * 512 <= 96ull * 1024 * 1024,
		    "a new queue with a 1 GiB map reserves %llu KiB of disk, not the map",
		    (unsigned long long)st.st_blocks / 2);
		free(path);
	}

	/* A message of 10000 octets: header pieces + the "received" buffer. */
	big = xmalloc(10000);
	for (i = 0; i < 10000; i++)
		big[i] = (char)('a' + i % 26);
	buf_init(&want, 0);
	buf_init(&body, 0);
	{
		struct iovec iov[5] = {
			{ (void *)"DKIM-Signature: x\r\n", 19 },
			{ (void *)"Received: y\r\n", 13 },
			{ big, 3000 },
			{ (void *)"", 0 },
			{ big + 3000, 7000 },
		};

		for (i = 0; i < 5; i++)
			buf_append(&want, iov[i].iov_base, iov[i].iov_len);
		ok(commit_iov(q, iov, 5, &r) == 0, "commit of 5 pieces");
		rc = queue_read_body(q, r.id, &body);
		ok(rc == 0 && body.len == want.len &&
		    memcmp(body.data, want.data, want.len) == 0,
		    "stored body is the pieces in order (%zu octets)", body.len);
	}
	/* every cut point around the 4096-octet chunk boundaries */
	for (i = 0; i < ARRAY_SIZE(cuts) && all_same; i++) {
		size_t cut = cuts[i];
		struct iovec iov[2] = { { big, cut }, { big + cut, 10000 - cut } };

		buf_reset(&body);
		if (commit_iov(q, iov, 2, &r) != 0 || queue_read_body(q, r.id, &body) != 0 ||
		    body.len != 10000 || memcmp(body.data, big, 10000) != 0)
			all_same = 0;
	}
	ok(all_same, "two pieces cut anywhere near the chunk boundaries: same body");
	{
		struct iovec iov[1] = { { big, 0 } };

		buf_reset(&body);
		ok(commit_iov(q, iov, 1, &r) == 0 && queue_read_body(q, r.id, &body) == 0 &&
		    body.len == 0, "an empty message as one empty piece");
	}
	buf_free(&want);

	/* Read bodies back: their pages must not stay mapped in this process. */
	{
		char ids[40][QUEUE_ID_LEN + 1], *blob = xmalloc(100 * 1024);
		long before, after;
		int good = 1;

		for (i = 0; i < 100 * 1024; i++)
			blob[i] = (char)(i * 7);
		for (i = 0; i < 40; i++) {
			struct iovec iov[2] = { { (void *)"Subject: m\r\n\r\n", 14 }, { blob, 100 * 1024 } };

			if (commit_iov(q, iov, 2, &r) != 0)
				good = 0;
			str_copy(ids[i], r.id, sizeof(ids[i]));
		}
		ok(good, "40 messages of 100 KiB committed");
		before = mapped_kib("data.mdb");
		for (i = 0; i < 40; i++) {
			buf_reset(&body);
			if (queue_read_body(q, ids[i], &body) != 0 || body.len != 14 + 100 * 1024)
				good = 0;
		}
		after = mapped_kib("data.mdb");
		ok(good, "and read back");
		ok(before >= 0 && after >= 0, "smaps readable (before %ld KiB, after %ld KiB)", before, after);
		ok(after - before < 1024,
		    "reading 4000 KiB of bodies left %ld KiB more of data.mdb mapped", after - before);
		free(blob);
	}
	buf_free(&body);
	free(big);
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	config_free(cfg);
	uv_loop_close(&loop);
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("cleanup failed");
	free(cmd);
	return done();
}
