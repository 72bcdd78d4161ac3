/* SPDX-License-Identifier: ISC */
/*
 * log.c: key=value event lines to stderr or syslog, and the address
 * pseudonymiser.  Callers format the whole line (qid or sid first);
 * this file adds a timestamp and level on stderr and nothing else, so
 * a line reads the same in both targets.  Pseudonyms are HMAC-SHA256
 * over the lowercased address under a key derived from the master key,
 * truncated to 64 bits: stable across restarts (so an operator can
 * follow one recipient through the log) and useless without the key.
 * log_scrub() applies them to free text (remote replies) that may
 * quote an address.
 *
 * Under systemd, stderr is often a stream to journald, which stamps
 * every line itself and reads a leading `<N>` as the syslog priority
 * (sd-daemon(3)).  log_open() recognises that case the documented way:
 * JOURNAL_STREAM holds "device:inode" of the journal stream, and when
 * it names our fd 2 the lines are written as `<N>line`, without our
 * own timestamp or level word.  journald ignores a facility in such a
 * prefix, so under journald the facility is the unit's SyslogFacility=
 * (contrib/postern.service), while syslog_facility applies to syslog.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"

static struct {
	enum log_target target;
	enum log_level level;
	int facility;
	int pseudonymise;
	int journal;		/* stderr is a journald stream: `<N>` prefixes */
	unsigned char key[32];
	size_t keylen;
} logstate = { LOG_TO_STDERR, LOG_LEVEL_INFO, LOG_MAIL, 1, 0, { 0 }, 0 };

static const char *level_names[] = { "debug", "info", "warn", "err" };

/* The last warnings and errors, for `posternctl status` (log_recent). */
static struct {
	pthread_mutex_t lock;
	struct log_recent r[LOG_RECENT_MAX];
	size_t next, n;
} recent = { PTHREAD_MUTEX_INITIALIZER, { { 0, 0, "" } }, 0, 0 };

static void
recent_add(enum log_level level, const char *line)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&recent.lock);
	recent.r[recent.next].when = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	recent.r[recent.next].level = level;
	str_copy(recent.r[recent.next].line, line, sizeof(recent.r[0].line));
	recent.next = (recent.next + 1) % LOG_RECENT_MAX;
	if (recent.n < LOG_RECENT_MAX)
		recent.n++;
	pthread_mutex_unlock(&recent.lock);
}

size_t
log_recent(struct log_recent *out, size_t max)
{
	size_t i, n;

	pthread_mutex_lock(&recent.lock);
	n = recent.n < max ? recent.n : max;
	for (i = 0; i < n; i++)		/* newest first */
		out[i] = recent.r[(recent.next + LOG_RECENT_MAX - 1 - i) % LOG_RECENT_MAX];
	pthread_mutex_unlock(&recent.lock);
	return n;
}

/* Whether JOURNAL_STREAM ("dev:ino", set by systemd) names our stderr. */
static int
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int
log_journal(void)
{
	return logstate.target == LOG_TO_STDERR && logstate.journal;
}

void
log_open(const char *ident, enum log_target target, enum log_level level)
{
	logstate.target = target;
	logstate.level = level;
	logstate.journal = target == LOG_TO_STDERR && stderr_is_journal();
	if (target == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, logstate.facility);
}

int
log_set_facility(const char *name)
{
	static const struct { const char *name; int facility; } facilities[] = {
		{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
		{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(name, facilities[i].name) == 0) {
			logstate.facility = facilities[i].facility;
			return 0;
		}
	return -1;
}

enum log_target
log_target(void)
{
	return logstate.target;
}

/* Level and pseudonymise change on SIGHUP while other threads (the SMTP
 * loops, the pools) log: both are read and written atomically. */
void
log_set_level(enum log_level level)
{
	__atomic_store_n(&logstate.level, level, __ATOMIC_RELAXED);
}

int
log_parse_level(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

void
log_close(void)
{
	if (logstate.target == LOG_TO_SYSLOG)
		closelog();
	logstate.target = LOG_TO_STDERR;
}

int
log_enabled(enum log_level level)
{
	return level >= __atomic_load_n(&logstate.level, __ATOMIC_RELAXED);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char line[2048];
	va_list ap;

	if (level < __atomic_load_n(&logstate.level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level >= LOG_LEVEL_WARN)
		recent_add(level, line);
	if (logstate.target == LOG_TO_SYSLOG) {
		syslog(prio[level], "%s", line);
	} else if (logstate.journal) {
		fprintf(stderr, "<%d>%s\n", prio[level], line);
	} else {
		struct timeval tv;
		struct tm tm;
		char ts[32];

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03dZ %s %s\n", ts, (int)(tv.tv_usec / 1000),
		    level_names[level], line);
	}
}

static unsigned key_gen;	/* bumped when the pseudonym key changes */

void
log_set_pseudonym_key(const unsigned char *key, size_t len)
{
	unsigned char k[CRYPTO_HMAC_LEN];

	/* Derive a dedicated key so the log key is not the master key.  A
	 * reload sets the same key again while other threads (writer,
	 * loops) pseudonymise: then nothing is written. */
	crypto_hmac_sha256(key, len, "postern log pseudonym v1", 24, k);
	if (logstate.keylen == CRYPTO_HMAC_LEN && memcmp(k, logstate.key, sizeof(k)) == 0) {
		crypto_wipe(k, sizeof(k));
		return;
	}
	memcpy(logstate.key, k, sizeof(k));
	crypto_wipe(k, sizeof(k));
	logstate.keylen = CRYPTO_HMAC_LEN;
	__atomic_add_fetch(&key_gen, 1, __ATOMIC_RELEASE);	/* log_pseudonym_recent() */
}

void
log_set_pseudonymise(int on)
{
	__atomic_store_n(&logstate.pseudonymise, on, __ATOMIC_RELAXED);
}

const char *
log_pseudonym(const char *addr, size_t len, char *out, size_t outlen)
{
	unsigned char md[CRYPTO_HMAC_LEN], lower[LOG_ADDR_MAX];
	size_t i;

	if (len > sizeof(lower))
		len = sizeof(lower);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		lower[i] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
	}
	crypto_hmac_sha256_kept(logstate.key, logstate.keylen, lower, len, md);
	{
		/* "h:" and 16 hex digits, without snprintf (issue 20: several
		 * pseudonyms per message, each a varargs call) */
		static const char hex[] = "0123456789abcdef";
		char h[19];

		h[0] = 'h';
		h[1] = ':';
		for (i = 0; i < 8; i++) {
			h[2 + 2 * i] = hex[md[i] >> 4];
			h[3 + 2 * i] = hex[md[i] & 15];
		}
		h[18] = '\0';
		str_copy(out, h, outlen);
	}
	return out;
}

/*
 * log_pseudonym() of a value that recurs from one session to the next
 * (the client's IP address: every message of an application that
 * connects once per message names the same one), with the last one this
 * thread made kept: one HMAC per message less on the relay path (issue
 * 20).  Only for such values, never for mail addresses: the one value
 * kept stays in memory until the next differs.
 */
const char *
log_pseudonym_recent(const char *v, size_t len, char *out, size_t outlen)
{
	static __thread struct {
		unsigned gen;
		size_t len;
		char in[64];
		char out[20];
	} last;
	unsigned gen = __atomic_load_n(&key_gen, __ATOMIC_ACQUIRE);

	if (gen != 0 && last.gen == gen && last.len == len && memcmp(last.in, v, len) == 0) {
		str_copy(out, last.out, outlen);
		return out;
	}
	if (len > sizeof(last.in))
		return log_pseudonym(v, len, out, outlen);
	log_pseudonym(v, len, last.out, sizeof(last.out));
	memcpy(last.in, v, len);
	last.len = len;
	last.gen = gen;
	str_copy(out, last.out, outlen);
	return out;
}

const char *
log_addr(const char *addr, size_t len, char *out, size_t outlen)
{
	if (__atomic_load_n(&logstate.pseudonymise, __ATOMIC_RELAXED))
		return log_pseudonym(addr, len, out, outlen);
	return log_quote(addr, len, out, outlen);
}

/* Characters of an address's local part / domain as they occur in
 * replies (RFC 5322 atext and dot; domains: letters, digits, '-', '.',
 * and UTF-8 for internationalised names). */
static int
local_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c >= 0x80 || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static int
domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c >= 0x80 || c == '-' || c == '.' || c == '_';
}

const char *
log_scrub(const char *text, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0, copied = 0;

	if (outlen == 0)
		return out;
#define PUT(p, n) do { size_t n_ = (n); if (n_ > outlen - 1 - o) n_ = outlen - 1 - o; \
	memcpy(out + o, (p), n_); o += n_; } while (0)
	while (__atomic_load_n(&logstate.pseudonymise, __ATOMIC_RELAXED) && i < len) {
		const char *at = memchr(text + i, '@', len - i);
		size_t a, s, e;
		char ps[64];

		if (at == NULL)
			break;
		a = (size_t)(at - text);
		for (s = a; s > copied && local_char((unsigned char)text[s - 1]); s--)
			;
		/* a quoted local part ("bob smith"@example.org): back to the
		 * opening quote, escapes skipped */
		if (s == a && a >= copied + 2 && text[a - 1] == '"') {
			size_t q = a - 1;

			while (q > copied && !(text[q - 1] == '"' &&
			    (q < 2 || q - 2 < copied || text[q - 2] != '\\')))
				q--;
			if (q > copied)
				s = q - 1;
		}
		if (a + 1 < len && text[a + 1] == '[') {
			/* an address literal: bob@[192.0.2.1] */
			const char *close = memchr(text + a + 1, ']', len - a - 1);

			e = close != NULL ? (size_t)(close - text) + 1 : a + 1;
		} else {
			for (e = a + 1; e < len && domain_char((unsigned char)text[e]); e++)
				;
			while (e > a + 1 && text[e - 1] == '.')	/* a sentence's full stop */
				e--;
		}
		if (s == a || e == a + 1) {
			i = a + 1;
			continue;
		}
		PUT(text + copied, s - copied);
		log_pseudonym(text + s, e - s, ps, sizeof(ps));
		PUT(ps, strlen(ps));
		copied = i = e;
	}
	PUT(text + copied, len - copied);
#undef PUT
	out[o] = '\0';
	return out;
}

const char *
log_quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int quote = len == 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < len; i++)
		if (s[i] == ' ' || s[i] == '"' || s[i] == '=')
			quote = 1;
	if (quote && o + 1 < outlen)
		out[o++] = '"';
	for (i = 0; i < len && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (quote && o + 1 < outlen)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}
