/* SPDX-License-Identifier: ISC */
/*
 * testdns.h: start a private dnsmasq on 127.0.0.1 and a free port for
 * unit tests of the resolver and the router (TESTING-NOTES: dnsmasq
 * serves exactly the records given, no upstream).  Header-only; the
 * process is stopped by its pid, never by name.
 */
#ifndef POSTERN_TESTDNS_H
#define POSTERN_TESTDNS_H

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct testdns {
	pid_t pid;
	int port;
	char dir[256];
	char server[64];	/* "127.0.0.1:PORT" for dns_servers */
};

static inline int
testdns_free_udp_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), port = -1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static inline const char *
testdns_dnsmasq(void)
{
	static const char *paths[] = { "/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq" };
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Start dnsmasq with ARGS (NULL-terminated extra options).  0 or -1. */
static inline int
testdns_start_once(struct testdns *t, const char *const *args)
{
	const char *bin = testdns_dnsmasq(), *tmp = getenv("TMPDIR");
	char portopt[32], pidopt[300];
	const char *argv[64];
	int n = 0, i, tries;

	if (bin == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/testdns.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	t->port = testdns_free_udp_port();
	snprintf(t->server, sizeof(t->server), "127.0.0.1:%d", t->port);
	snprintf(portopt, sizeof(portopt), "--port=%d", t->port);
	snprintf(pidopt, sizeof(pidopt), "--pid-file=%s/pid", t->dir);
	argv[n++] = bin;
	argv[n++] = "--keep-in-foreground";
	argv[n++] = portopt;
	argv[n++] = "--listen-address=127.0.0.1";
	argv[n++] = "--bind-interfaces";
	argv[n++] = "--no-resolv";
	argv[n++] = "--no-hosts";
	argv[n++] = "--log-facility=-";
	argv[n++] = "--user=root";
	argv[n++] = pidopt;
	for (i = 0; args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		int fd = open("/dev/null", 1);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	/* Wait until it answers: its pid file appears once it is listening. */
	for (tries = 0; tries < 100; tries++) {
		char pf[300];
		struct stat st;
		int status;

		snprintf(pf, sizeof(pf), "%s/pid", t->dir);
		if (stat(pf, &st) == 0 && st.st_size > 0)
			return 0;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = -1;
			return -1;
		}
		usleep(20000);
	}
	return 0;
}

/*
 * testdns_start_once() on a fresh free port, a few times: the port is
 * picked free but another test may bind it before dnsmasq does, and a
 * lost race must not turn the live tests into a silent skip.
 */
static inline int
testdns_start(struct testdns *t, const char *const *args)
{
	int attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		if (testdns_start_once(t, args) == 0)
			return 0;
		if (testdns_dnsmasq() == NULL)
			return -1;
		rmdir(t->dir);
		usleep(50000);
	}
	return -1;
}

static inline void
testdns_stop(struct testdns *t)
{
	char pf[300];

	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
		t->pid = -1;
	}
	snprintf(pf, sizeof(pf), "%s/pid", t->dir);
	unlink(pf);
	rmdir(t->dir);
}

#endif
