/* SPDX-License-Identifier: ISC */
/*
 * log.h: one line per event, key=value, the session or queue id first
 * (STYLE rule 14): `qid=0F3K... event=delivered rcpt=h:3f9a0c12 ...`.
 * Lines go to stderr (foreground; `<N>`-prefixed without a timestamp
 * when stderr is the journal) or syslog.  Never log AUTH data or
 * message content; addresses go through log_addr(), which pseudonymises
 * them with a keyed hash unless the operator turned that off.
 * Values that may contain spaces or come from the wire are quoted and
 * escaped by log_quote().
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERR };

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_open(const char *ident, enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
/* Syslog facility by name ("mail", "daemon", "local0".."local7"), used by
 * the next log_open(LOG_TO_SYSLOG); -1 for an unknown name. */
int log_set_facility(const char *name);
enum log_target log_target(void);
/* 1 when lines go to stderr as a journald stream (JOURNAL_STREAM names
 * fd 2, checked by log_open): `<N>` priority prefix, no timestamp. */
int log_journal(void);
int log_parse_level(const char *s, enum log_level *out);
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Below the configured level the arguments are not even evaluated
 * (issue 20: pseudonyms and quoting for lines nobody writes cost more
 * than the rest of a message's SMTP parsing); so no side effects in
 * log arguments. */
#define log_debug(...) \
	do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) \
	do { if (log_enabled(LOG_LEVEL_INFO)) log_msg(LOG_LEVEL_INFO, __VA_ARGS__); } while (0)
#define log_warn(...) \
	do { if (log_enabled(LOG_LEVEL_WARN)) log_msg(LOG_LEVEL_WARN, __VA_ARGS__); } while (0)
#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
int log_enabled(enum log_level level);

/* The last LOG_RECENT_MAX warn/err lines (already pseudonymised like
 * every line), newest first, for `posternctl status`. */
#define LOG_RECENT_MAX 8
struct log_recent {
	uint64_t when;		/* wall ms */
	enum log_level level;
	char line[512];
};
size_t log_recent(struct log_recent *out, size_t max);

/*
 * Pseudonymisation.  log_set_pseudonym_key() installs the key (derived
 * from the master key at start-up); with pseudonymise off, log_addr()
 * returns the address quoted.  log_addr() writes into OUT (>= 64 bytes
 * recommended; LOG_ADDR_MAX) and returns OUT: "h:" + 16 hex digits of
 * HMAC-SHA256(key, lowercased address).
 */
#define LOG_ADDR_MAX 320
void log_set_pseudonym_key(const unsigned char *key, size_t len);
void log_set_pseudonymise(int on);
const char *log_addr(const char *addr, size_t len, char *out, size_t outlen);
/* Pseudonym regardless of the log setting (events db, metrics). */
const char *log_pseudonym(const char *addr, size_t len, char *out, size_t outlen);
/* The same, keeping this thread's last value and pseudonym: for values
 * that recur across sessions (a client's IP address), never addresses. */
const char *log_pseudonym_recent(const char *v, size_t len, char *out, size_t outlen);
/*
 * Scrub free text (a remote server's reply, a DSN diagnostic): every
 * address in TEXT (LEN bytes) is replaced by its pseudonym "h:…" (kept
 * inside its <>), unless pseudonymisation is off, when TEXT is copied
 * unchanged.  Writes a NUL-terminated string to OUT, truncated to
 * OUTLEN - 1 bytes, and returns OUT.
 */
const char *log_scrub(const char *text, size_t len, char *out, size_t outlen);
/* Quote a value for key=value output: printable ASCII kept, others \xNN. */
const char *log_quote(const char *s, size_t len, char *out, size_t outlen);

#endif
