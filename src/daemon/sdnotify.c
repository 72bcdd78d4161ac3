/* SPDX-License-Identifier: ISC */
/*
 * sdnotify.c: service readiness for systemd's Type=notify, spoken
 * directly in the documented socket protocol (sd_notify(3), "the
 * notification socket"), so posternd needs no libsystemd.  When the
 * service manager starts us it sets NOTIFY_SOCKET to a Unix datagram
 * socket: a path ("/run/systemd/notify") or, with a leading '@', an
 * abstract name.  Each notification is one datagram of newline-separated
 * VAR=value assignments.  posternd sends READY=1 once every module is up
 * and privileges are dropped, RELOADING=1 (with MONOTONIC_USEC, as
 * Type=notify-reload requires) when SIGHUP starts a reload and READY=1
 * again when it is done (applied or refused), STOPPING=1 when a stop
 * begins, and STATUS= lines a `systemctl status` shows.  Without
 * NOTIFY_SOCKET every call is a no-op; a failed send is logged once at
 * debug level and never stops the daemon.  Only src/daemon/daemon.c
 * calls this.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "daemon.h"
#include "log.h"

int
daemon_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t salen;
	char msg[1024];
	va_list ap;
	size_t plen;
	ssize_t n;
	int fd, len;

	if (path == NULL || path[0] == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path))
		return -EINVAL;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(msg))
		return -EMSGSIZE;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	n = sendto(fd, msg, (size_t)len, MSG_NOSIGNAL, (struct sockaddr *)&sun, salen);
	if (n == -1) {
		int e = errno;

		close(fd);
		log_debug("event=notify_failed error=\"%s\"", strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

unsigned long long
daemon_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}
