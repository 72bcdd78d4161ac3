/* SPDX-License-Identifier: ISC */
/*
 * test_control: the control socket on a real Unix socket in a temp dir,
 * with a client thread speaking the line protocol: built-in commands,
 * errors (bad JSON, unknown command -> status 2), queue.inject ->
 * queue.list -> queue.hold (audited, answered after the audit record is
 * durable), pipelined requests answered in order, and the offline path
 * (control_run_local) giving the same result as the daemon.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "control.h"
#include "json.h"
#include "queue.h"
#include "tap.h"
#include "util.h"

static char sockpath[300];
static volatile int client_done;
#define NRESP 16
static char *responses[NRESP];
static char injected_id[64];

static int
client_connect(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	str_copy(sun.sun_path, sockpath, sizeof(sun.sun_path));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		return -1;
	return fd;
}

/* Send TEXT, read N response lines into responses[first..]. */
static void
exchange(int fd, const char *text, int first, int n)
{
	char buf[65536];
	size_t have = 0;
	ssize_t r;
	int got = 0;

	if (write(fd, text, strlen(text)) < 0)
		return;
	while (got < n) {
		char *nl;
		while ((nl = memchr(buf, '\n', have)) != NULL && got < n) {
			responses[first + got++] = xstrndup(buf, (size_t)(nl - buf));
			memmove(buf, nl + 1, have - (size_t)(nl + 1 - buf));
			have -= (size_t)(nl + 1 - buf);
		}
		if (got == n)
			break;
		r = read(fd, buf + have, sizeof(buf) - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
}

static void *
client_main(void *arg)
{
	int fd = client_connect();
	char req[512];
	struct json_value *v;

	(void)arg;
	if (fd < 0) {
		client_done = 1;
		return NULL;
	}
	exchange(fd, "{\"cmd\":\"ping\"}\n", 0, 1);
	exchange(fd, "{\"cmd\":\"whoami\"}\n", 1, 1);
	exchange(fd, "not json\n", 2, 1);
	exchange(fd, "{\"cmd\":\"no.such\"}\n", 3, 1);
	exchange(fd, "{\"cmd\":\"queue.inject\",\"args\":{\"account\":\"acme\",\"sender\":\"s@example.com\","
	    "\"rcpts\":[\"r1@example.org\",\"r2@example.org\"],\"data\":\"Subject: hi\\r\\n\\r\\nbody\\r\\n\"}}\n", 4, 1);
	v = responses[4] ? json_parse(responses[4], strlen(responses[4]), NULL, 0) : NULL;
	str_copy(injected_id, json_get_str(json_get(v, "result"), "id", ""), sizeof(injected_id));
	json_free(v);
	exchange(fd, "{\"cmd\":\"queue.list\",\"args\":{\"state\":\"queued\"}}\n", 5, 1);
	snprintf(req, sizeof(req), "{\"cmd\":\"queue.hold\",\"args\":{\"ids\":[\"%s\",\"00000000000000000000\"]}}\n",
	    injected_id);
	exchange(fd, req, 6, 1);
	/* three pipelined requests in one write */
	snprintf(req, sizeof(req), "{\"cmd\":\"queue.release\",\"args\":{\"ids\":[\"%s\"]}}\n"
	    "{\"cmd\":\"queue.show\",\"args\":{\"id\":\"%s\",\"body\":true}}\n"
	    "{\"cmd\":\"audit.list\"}\n", injected_id, injected_id);
	exchange(fd, req, 7, 3);
	exchange(fd, "{\"cmd\":\"queue.stats\"}\n", 10, 1);
	/* done first, then the close: its EOF wakes the loop, which must
	 * see client_done (the other order can leave uv_run asleep until
	 * the purge timer, 10 minutes later) */
	__atomic_store_n(&client_done, 1, __ATOMIC_SEQ_CST);
	close(fd);
	return NULL;
}

static const struct json_value *
result_of(struct json_value **root, int i)
{
	*root = responses[i] ? json_parse(responses[i], strlen(responses[i]), NULL, 0) : NULL;
	return json_get(*root, "result");
}

static int
status_of(int i)
{
	struct json_value *v = responses[i] ? json_parse(responses[i], strlen(responses[i]), NULL, 0) : NULL;
	int s = (int)json_get_int(v, "status", -1);

	json_free(v);
	return s;
}

int
main(void)
{
	char tmp[256], err[1024], *text;
	const char *t = getenv("TMPDIR");
	struct config *cfg;
	struct queue *q;
	struct control *ctl;
	uv_loop_t loop;
	pthread_t th;
	struct json_value *root;
	const struct json_value *r;
	struct buf local;
	int i;

	plan(24);
	snprintf(tmp, sizeof(tmp), "%s/test_control.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmp) == NULL)
		fatal("mkdtemp");
	snprintf(sockpath, sizeof(sockpath), "%s/control.sock", tmp);
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/k\ncontrol_socket = %s\n",
	    tmp, tmp, sockpath);
	cfg = config_parse("t", text, strlen(text), err, sizeof(err));
	free(text);
	uv_loop_init(&loop);
	q = queue_open_config(&loop, cfg, 0, err, sizeof(err));
	ok(q != NULL, "queue opens");
	control_commands_register();
	ctl = control_start(&loop, cfg, q, err, sizeof(err));
	ok(ctl != NULL, "control socket listens (%s)", ctl ? sockpath : err);
	pthread_create(&th, NULL, client_main, NULL);
	while (!client_done)
		uv_run(&loop, UV_RUN_ONCE);
	pthread_join(th, NULL);

	ok(responses[0] && strstr(responses[0], "\"pong\"") != NULL, "ping: %s", responses[0]);
	ok(responses[1] && strstr(responses[1], "\"role\":\"operator\"") != NULL,
	    "whoami: this process's uid is an operator: %s", responses[1]);
	is_int(status_of(2), 2, "bad JSON: status 2");
	is_int(status_of(3), 2, "unknown command: status 2");
	is_int(status_of(4), 0, "queue.inject ok");
	ok(strlen(injected_id) == QUEUE_ID_LEN, "inject returned an id");
	r = result_of(&root, 5);
	ok(r && json_get(r, "messages") && json_get(r, "messages")->n == 1 &&
	    strcmp(json_get_str(json_get(r, "messages")->items[0], "id", ""), injected_id) == 0,
	    "queue.list shows the injected message");
	json_free(root);
	is_int(status_of(6), 1, "hold with one unknown id: status 1");
	ok(responses[6] && strstr(responses[6], "no such message") != NULL, "names the missing id");
	is_int(status_of(7), 0, "pipelined release ok");
	r = result_of(&root, 8);
	ok(r && strcmp(json_get_str(r, "state", ""), "queued") == 0, "pipelined show: released (queued)");
	ok(r && strcmp(json_get_str(r, "headers", ""), "Subject: hi\r\n") == 0, "show returns headers");
	ok(r && strcmp(json_get_str(r, "body", ""), "Subject: hi\r\n\r\nbody\r\n") == 0,
	    "show --body returns the decrypted body");
	ok(r && json_get(r, "recipients") && json_get(r, "recipients")->n == 2, "two recipients shown");
	json_free(root);
	r = result_of(&root, 9);
	{
		const struct json_value *a = json_get(r, "audit");
		int hold = 0, rel = 0, inj = 0;
		for (i = 0; a != NULL && (size_t)i < a->n; i++) {
			const char *cmd = json_get_str(a->items[i], "cmd", "");
			if (strcmp(cmd, "queue.hold") == 0 && json_get_int(a->items[i], "status", 0) == 1)
				hold++;
			if (strcmp(cmd, "queue.release") == 0 &&
			    strcmp(json_get_str(a->items[i], "target", ""), injected_id) == 0)
				rel++;
			if (strcmp(cmd, "queue.inject") == 0)
				inj++;
		}
		ok(hold == 1 && rel == 1 && inj == 1, "audit has inject, hold (failed) and release");
		ok(a && a->n > 0 && json_get_str(a->items[0], "user", NULL) != NULL &&
		    json_get(a->items[0], "time") != NULL, "audit records who and when");
	}
	json_free(root);
	r = result_of(&root, 10);
	is_int(json_get_int(r, "messages", -1), 1, "stats: one message");
	json_free(root);

	/* offline: same handler in-process */
	buf_init(&local, 0);
	is_int(control_run_local("{\"cmd\":\"queue.list\"}", 20, CONTROL_ROLE_OPERATOR, cfg, q, &local),
	    0, "run_local list");
	ok(strstr(local.data, injected_id) != NULL, "run_local sees the message");
	buf_reset(&local);
	is_int(control_run_local("{\"cmd\":\"queue.hold\",\"args\":{\"ids\":[\"x\"]}}", 41,
	    CONTROL_ROLE_OPERATOR, cfg, q, &local), 1, "mutating command offline refused");
	buf_reset(&local);
	is_int(control_run_local("{\"cmd\":\"queue.list\"}", 20, CONTROL_ROLE_REVIEWER, cfg, q, &local),
	    1, "reviewer may not list the queue");
	buf_free(&local);

	control_stop(ctl);
	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(uv_loop_close(&loop) == 0, "all handles closed");
	config_free(cfg);
	for (i = 0; i < NRESP; i++)
		free(responses[i]);
	text = xasprintf("rm -rf '%s'", tmp);
	if (system(text) != 0)
		diag("cleanup failed");
	free(text);
	return done();
}
