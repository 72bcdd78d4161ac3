/* SPDX-License-Identifier: ISC */
/*
 * util.c: allocation that never returns NULL, fatal(), clocks, and the
 * secret-file permission check.  Allocation failure aborts (STYLE rule
 * 12): a relay that cannot allocate a few bytes cannot keep its
 * promises anyway, and checking every call site hides real errors.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void
oom(size_t n)
{
	fprintf(stderr, "postern: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

void
fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("event=fatal error=\"%s\"", msg);
	exit(1);
}

uint64_t
now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
now_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *
rfc5322_date(char *out, size_t outlen, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	/* one a second is enough: every message of that second reuses it,
	 * per thread (issue 20: gmtime_r + snprintf per Received: line) */
	static __thread time_t last = (time_t)-1;
	static __thread char text[64];
	struct tm tm;

	if (t != last || last == (time_t)-1) {
		/* strftime's %a and %b follow LC_TIME; RFC 5322 names are English. */
		if (gmtime_r(&t, &tm) == NULL) {
			str_copy(out, "Thu, 1 Jan 1970 00:00:00 +0000", outlen);
			return out;
		}
		snprintf(text, sizeof(text), "%s, %d %s %d %02d:%02d:%02d +0000",
		    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
		last = t;
	}
	str_copy(out, text, outlen);
	return out;
}

size_t
str_copy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
mem_casecmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	size_t i;

	for (i = 0; i < n; i++) {
		int cx = x[i], cy = y[i];
		if (cx >= 'A' && cx <= 'Z')
			cx += 32;
		if (cy >= 'A' && cy <= 'Z')
			cy += 32;
		if (cx != cy)
			return cx - cy;
	}
	return 0;
}

int
file_check_secret(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
		    "%s: mode %04o is too open; a secret must be 0600 or 0400 "
		    "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

int
file_read_all(const char *path, size_t max, char **out, size_t *outlen)
{
	char *data = NULL;
	size_t len = 0, cap = 0;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			data = xrealloc(data, cap + 1);
		}
		n = read(fd, data + len, cap - len);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			free(data);
			close(fd);
			return -saved;
		}
		len += (size_t)n;
		if (len > max) {
			free(data);
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	if (data == NULL)
		data = xmalloc(1);
	data[len] = '\0';
	*out = data;
	*outlen = len;
	return 0;
}

int
kv_get(const char *text, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
			size_t vlen = len - klen - 1;
			if (vlen >= outlen)
				return -1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return (int)vlen;
		}
		p = eol ? eol + 1 : NULL;
	}
	return -1;
}

/*
 * The allowed-domain list of an account ("a.test" exactly, "*.a.test"
 * strictly below a.test, "*" any domain when STAR_ANY): the one matcher
 * behind the sender-domain check and DKIM's choice of signing domain.
 */
int
domain_list_match(char *const *list, size_t n, const char *dom, size_t dlen, int star_any)
{
	size_t i;

	if (dlen == 0)
		return 0;
	for (i = 0; i < n; i++) {
		const char *d = list[i];
		size_t l = strlen(d);

		if (l == 1 && d[0] == '*') {
			if (star_any)
				return 1;
		} else if (l > 2 && d[0] == '*' && d[1] == '.') {
			if (dlen > l - 1 && mem_casecmp(dom + dlen - (l - 1), d + 1, l - 1) == 0)
				return 1;
		} else if (l == dlen && mem_casecmp(dom, d, l) == 0) {
			return 1;
		}
	}
	return 0;
}

/* RFC 5321 §4.1.2: the sender's domain is what follows the last '@'. */
int
domain_list_allows_sender(char *const *list, size_t n, const char *addr, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], "*") == 0)
			return 1;
	for (i = len; i > 0; i--)
		if (addr[i - 1] == '@')
			return domain_list_match(list, n, addr + i, len - i, 0);
	return 0;	/* <> or a bare local part: not one of the domains */
}

int
parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct { const char *u; uint64_t mul; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "w", 604800000 }, { "", 1000 },
	};
	unsigned long long v;
	char *end;
	size_t i;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(end, units[i].u) == 0) {
			if (v > UINT64_MAX / units[i].mul)
				return -1;
			*ms = v * units[i].mul;
			return 0;
		}
	return -1;
}

void
deadline_in(struct timespec *ts, clockid_t clock, unsigned ms)
{
	struct timespec now;

	clock_gettime(clock, &now);
	deadline_after(ts, &now, ms);
}

void
deadline_after(struct timespec *ts, const struct timespec *from, unsigned ms)
{
	*ts = *from;
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void
thread_name(const char *name)
{
#if defined(__GLIBC__)
	char n[16];

	str_copy(n, name, sizeof(n));
	(void)pthread_setname_np(pthread_self(), n);
#else
	(void)name;
#endif
}

int
cond_wait_flag(pthread_mutex_t *mu, pthread_cond_t *cv, const int *flag, unsigned ms)
{
	struct timespec ts;
	int set;

	deadline_in(&ts, CLOCK_REALTIME, ms);
	pthread_mutex_lock(mu);
	while (!*flag)
		if (pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT)
			break;
	set = *flag;
	pthread_mutex_unlock(mu);
	return set;
}
