/* SPDX-License-Identifier: ISC */
/*
 * util.h: small helpers every module may use: allocation that aborts
 * on failure (STYLE rule 12), fatal() for start-up errors and broken
 * invariants, monotonic and wall clocks, bounded string copies.
 */
#ifndef POSTERN_UTIL_H
#define POSTERN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* fatal(): log at error level and exit(1).  Start-up only, or broken invariants. */
void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2) NORETURN;

/* Milliseconds from a monotonic clock; wall-clock milliseconds since the epoch. */
uint64_t now_mono_ms(void);
uint64_t now_wall_ms(void);

/* RFC 5322 §3.3 date-time of T (seconds since the epoch) in UTC,
 * independent of the locale: "Tue, 1 Dec 2026 11:42:05 +0000".  The one
 * formatter for Date:, Received:, DSN Arrival-Date and the like. */
#define RFC5322_DATE_MAX 40
const char *rfc5322_date(char *out, size_t outlen, time_t t);

/* strlcpy semantics: always terminates, returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);

/* Case-insensitive compare of ASCII text of known length (wire data). */
int mem_casecmp(const void *a, const void *b, size_t n);

/*
 * file_check_secret(): 0 if PATH is a regular file not readable or
 * writable by group or others; -1 with a reason in ERR otherwise.
 * Secrets (master key, DKIM and TLS keys) go through this at start-up.
 */
int file_check_secret(const char *path, char *err, size_t errlen);

/* Read a whole file (at most MAX bytes) into a malloc'd, NUL-terminated buffer. */
int file_read_all(const char *path, size_t max, char **out, size_t *outlen);

/*
 * Records stored as text (account records, dkim key metadata) are
 * `key=value` lines.  kv_get() copies the value of KEY into OUT and
 * returns its length, or -1 when KEY is absent or OUT is too small.
 */
int kv_get(const char *text, const char *key, char *out, size_t outlen);

/*
 * Does DOM (DLEN octets, no trailing dot) match the domain list LIST
 * (N entries, lowercase): "a.test" exactly, "*.a.test" strictly below
 * a.test, "*" anything when STAR_ANY?  Case-insensitive.  1 or 0.
 */
int domain_list_match(char *const *list, size_t n, const char *dom, size_t dlen, int star_any);
/* May ADDR (a MAIL FROM address of LEN octets, "" for <>) send under LIST?
 * "*" allows any sender, <> included; else its domain must match. */
int domain_list_allows_sender(char *const *list, size_t n, const char *addr, size_t len);

/*
 * A duration as postern.conf(5) writes it: digits with an ms, s, m, h,
 * d or w suffix (bare digits = seconds), into milliseconds.  0, or -1
 * on bad syntax or overflow.  Shared by the config parser and the
 * per-account overrides in account records.
 */
int parse_duration_ms(const char *s, uint64_t *ms);

/* MS milliseconds from now on CLOCK (CLOCK_REALTIME, or the clock a
 * condition variable was made with), for pthread_cond_timedwait(). */
struct timespec;
void deadline_in(struct timespec *ts, clockid_t clock, unsigned ms);
/* FROM plus MS milliseconds, into TS. */
void deadline_after(struct timespec *ts, const struct timespec *from, unsigned ms);
/* Wait on CV (MU not held by the caller) until *FLAG, which is set
 * under MU, is set, at most MS milliseconds; its value then. */
#include <pthread.h>
int cond_wait_flag(pthread_mutex_t *mu, pthread_cond_t *cv, const int *flag, unsigned ms);
/* Name the calling thread "posternd-"-less NAME (at most 15 octets are
 * kept: what top -H, ps -L and perf show); nothing where unsupported. */
void thread_name(const char *name);

#endif
