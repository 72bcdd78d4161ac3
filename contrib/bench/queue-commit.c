/* SPDX-License-Identifier: ISC */
/*
 * queue-commit: micro-benchmark of queue_commit() (issue 3).  For 1, 16
 * and 256 concurrent committers and 4 KiB and 64 KiB bodies, each
 * committer commits, waits for its durable callback, and commits again
 * (a closed loop, as SMTP sessions do).  Everything runs on one libuv
 * loop with the real writer thread, group commit and fsync, on a fresh
 * queue in $TMPDIR (or -d DIR, to measure another disk).  Prints
 * commits/s and the mean group-commit batch size.  Run by hand:
 *
 *   ./contrib/bench/queue-commit [-t seconds] [-d dir]
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "queue.h"
#include "util.h"

struct bench {
	struct queue *q;
	struct queue_msg_in m;
	uint64_t deadline;
	uint64_t done, failed;
	int active;
};

static void commit_cb(void *arg, const struct outcome *o, const char *id);

static void
commit_next(struct bench *b)
{
	if (now_mono_ms() >= b->deadline) {
		b->active--;
		return;
	}
	if (queue_commit(b->q, &b->m, commit_cb, b) != 0) {
		b->failed++;
		b->active--;
	}
}

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	struct bench *b = arg;

	(void)id;
	if (o->kind == OUTCOME_OK)
		b->done++;
	else
		b->failed++;
	commit_next(b);
}

static void
run(const char *base, int committers, size_t size, unsigned seconds)
{
	char dir[512], err[1024], *text, *cmd;
	struct queue_rcpt_in rcpt = { .addr = "rcpt@example.org" };
	struct queue_stats st;
	struct config *cfg;
	struct bench b;
	uv_loop_t loop;
	uint64_t t0, t1;
	char *body;
	int i;

	snprintf(dir, sizeof(dir), "%s/queue-commit.XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp %s", dir);
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/master.key\n"
	    "queue_map_size = 4g\n", dir, dir);
	if ((cfg = config_parse("bench", text, strlen(text), err, sizeof(err))) == NULL)
		fatal("%s", err);
	free(text);
	uv_loop_init(&loop);
	memset(&b, 0, sizeof(b));
	if ((b.q = queue_open_config(&loop, cfg, 0, err, sizeof(err))) == NULL)
		fatal("%s", err);
	body = xmalloc(size);
	for (i = 0; (size_t)i < size; i++)
		body[i] = (char)('a' + i % 26);
	b.m.account = "bench";
	b.m.sender = "sender@example.com";
	b.m.rcpts = &rcpt;
	b.m.nrcpts = 1;
	b.m.data = body;
	b.m.len = size;
	b.m.state = QUEUE_QUEUED;
	t0 = now_mono_ms();
	b.deadline = t0 + seconds * 1000ull;
	b.active = committers;
	for (i = 0; i < committers; i++)
		commit_next(&b);
	while (b.active > 0)
		uv_run(&loop, UV_RUN_ONCE);
	t1 = now_mono_ms();
	queue_stats(b.q, &st);
	printf("%10d  %8zu KiB  %10.0f  %12.1f  %6llu\n", committers, size / 1024,
	    (double)b.done * 1000.0 / (double)(t1 - t0),
	    st.batches ? (double)st.batched_ops / (double)st.batches : 0.0,
	    (unsigned long long)b.failed);
	fflush(stdout);
	queue_close(b.q);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	config_free(cfg);
	free(body);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	free(cmd);
}

int
main(int argc, char **argv)
{
	static const int committers[] = { 1, 16, 256 };
	static const size_t sizes[] = { 4096, 65536 };
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	unsigned seconds = 5;
	size_t c, s;
	int ch;

	while ((ch = getopt(argc, argv, "d:t:")) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 't': seconds = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: queue-commit [-t seconds] [-d dir]\n");
			return 2;
		}
	}
	printf("queue-commit: %us per run, queue under %s\n", seconds, dir);
	printf("committers  body size   commits/s  mean batch  failed\n");
	for (s = 0; s < ARRAY_SIZE(sizes); s++)
		for (c = 0; c < ARRAY_SIZE(committers); c++)
			run(dir, committers[c], sizes[s], seconds);
	return 0;
}
