/* SPDX-License-Identifier: ISC */
/*
 * account.h: customer accounts (issue 4).  An account is stored as
 * `key=value` text lines in the queue's accounts table
 * (queue_kv_get/queue_kv_put(QUEUE_T_ACCOUNTS), key = account name):
 *
 *   name=app1
 *   password=scrypt$16384$8$1$<salt base64>$<hash base64>
 *   status=active                 (under_review, paused, suspended)
 *   domains=example.com,*.example.org   ("*" = any sender; none = no sender)
 *   max_message_size=0            (bytes; 0 = message_size_limit)
 *   max_recipients=0              (0 = smtpd_max_recipients)
 *   hourly_rate=0                 (messages per hour; 0 = unlimited)
 *   created=<wall ms>
 *   dlp_action_card=reject        (optional per-account settings, see
 *   spf_action=reject              account_settings below)
 *   body_retention=1d
 *
 * src/account/ is the one owner of this text: account_parse() reads it
 * once per lookup into struct account, whose `pol` member is the typed
 * struct account_policy that every consumer receives (the relay's
 * stages, the EOM stages through struct policy_msg, the queue's purge
 * through queue_set_account_policy_fn()).  Nobody else parses the text.
 *
 * Settings are checked when they are stored (account_setting_check(),
 * called by posternctl and by the daemon's account.* handler): an
 * unknown key or a bad value is refused.  A record stored before that
 * check may still carry an unknown key or a bad value: it loads, the
 * line is kept verbatim (so a read-modify-write does not lose it), the
 * setting counts as unset, and one warning per account and key is
 * logged (event=account_bad_setting).  The pure functions (parse,
 * format, hashing, sender check, rate counters) have no loop
 * access and are unit-tested; account_auth() runs the lookup and the
 * scrypt verification in the uv thread pool through a lookup callback,
 * so this file does not depend on the queue.
 */
#ifndef POSTERN_ACCOUNT_H
#define POSTERN_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"

#define ACCOUNT_NAME_MAX 64
#define ACCOUNT_HASH_MAX 200
#define ACCOUNT_PASSWORD_MAX 512
/* scrypt cost used for new hashes (RFC 7914: N=2^14, r=8, p=1 = 16 MiB). */
#define ACCOUNT_SCRYPT_N 16384
#define ACCOUNT_SCRYPT_R 8
#define ACCOUNT_SCRYPT_P 1

/* A setting the account does not set: the global (postern.conf) value applies. */
#define ACCOUNT_UNSET (-1)
/* One DLP action per sensitive-data type, in enum dlp_type order
 * (card, card_test, ssn, iban; include/dlp.h). */
#define ACCOUNT_DLP_NTYPES 4

/*
 * The typed per-account policy (DESIGN.md §7), parsed once per lookup.
 * Stages and the queue read only this, never the record text.  The
 * pointers are borrowed from the struct account that holds it.
 */
/* from_domain_action: a From: header outside the account's domains. */
#define ACCOUNT_FROM_REJECT 0
#define ACCOUNT_FROM_LOG 1

/* Account status (issue 16): under_review is informational (listed by
 * `review list --accounts`), paused answers 451 4.7.1 at MAIL, suspended
 * fails AUTH with 535 5.7.8 and holds its queued mail. */
enum account_status {
	ACCOUNT_ACTIVE = 0,
	ACCOUNT_UNDER_REVIEW,
	ACCOUNT_PAUSED,
	ACCOUNT_SUSPENDED,
};
const char *account_strstatus(enum account_status s);
int account_parse_status(const char *s, enum account_status *out);

struct account_policy {
	const char *name;			/* borrowed: the account's name */
	int suspended;				/* status == ACCOUNT_SUSPENDED */
	enum account_status status;
	char **domains;				/* allowed senders; owned by the account */
	size_t ndomains;
	uint64_t max_message_size;		/* 0 = message_size_limit */
	int64_t max_recipients;			/* 0 = smtpd_max_recipients */
	int64_t hourly_rate;			/* 0 = unlimited */
	int dlp_action[ACCOUNT_DLP_NTYPES];	/* enum dlp_action, or ACCOUNT_UNSET */
	int spf_action;				/* enum spf_action, or ACCOUNT_UNSET */
	int from_domain_action;			/* ACCOUNT_FROM_*, or ACCOUNT_UNSET */
	int webhook;				/* webhook_url is set (events to the outbox) */
	int webhook_plain_rcpt;			/* webhook_plain_recipients=yes */
	int64_t body_retention;			/* ms, or ACCOUNT_UNSET */
	int64_t event_retention;		/* ms, or ACCOUNT_UNSET */
	int64_t metadata_retention;		/* ms the message records stay after the final
						 * state, or ACCOUNT_UNSET (event_retention) */
	int64_t held_retention;			/* ms held mail is kept, or ACCOUNT_UNSET
						 * (review_hold_expiry) */
	/* Spam thresholds (issue 15) in milli-points; 0 = that action off
	 * for the account, ACCOUNT_UNSET = the global spam_*_score. */
	int64_t spam_tag_score;
	int64_t spam_hold_score;
	int64_t spam_reject_score;
	int suppression_action;			/* 0 reject, 1 drop, or ACCOUNT_UNSET */
	int list_unsubscribe;			/* enum policy_list_unsubscribe, or ACCOUNT_UNSET */
	int retention_header;			/* X-Postern-Retention: 1 allow, 0 forbid, or
						 * ACCOUNT_UNSET (allow) */
	char return_path_domain[256];		/* VERP b+TOKEN@ domain, "" = none */
	/* abuse review triggers (issue 16): per mille, or ACCOUNT_UNSET
	 * (the review_* key of postern.conf applies) */
	int64_t review_bounce_review, review_bounce_pause;
	int64_t review_complaint_review, review_complaint_pause;
	/*
	 * Room for the coming settings (suppression lists, spam scoring,
	 * restriction): each gets one typed field here, one row in
	 * account_settings[] (src/account/account.c) with its parser, and
	 * a line in posternctl(8).  Stages read them from here.
	 */
};

struct account {
	char name[ACCOUNT_NAME_MAX + 1];
	char password[ACCOUNT_HASH_MAX + 1];	/* encoded scrypt hash, "" = none */
	uint64_t created;
	struct account_policy pol;		/* typed settings; pol.name = name */
	struct buf extra;			/* setting lines (key=value), verbatim */
};

/* Names: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
int account_name_valid(const char *name);
struct account *account_new(const char *name);
/* Parse a stored record; NULL when it is malformed (no valid name). */
struct account *account_parse(const char *text, size_t len);
/*
 * The typed policy of a stored record, scalars only (OUT->domains NULL,
 * OUT->name NULL): the queue's hook (queue_set_account_policy_fn).
 * 0, or -1 when malformed.  ARG is unused.
 */
int account_policy_read(void *arg, const char *text, size_t len, struct account_policy *out);
/* The stored value of setting KEY (e.g. webhook_url) in OUT; 0, or -1
 * when the account has no such line. */
int account_setting_value(const struct account *a, const char *key, char *out, size_t outlen);
/* The record text (malloc'd, NUL-terminated). */
char *account_format(const struct account *a, size_t *len);
void account_free(struct account *a);

/* Replace the domain list with a comma/space separated LIST; -1 on a bad domain. */
int account_set_domains(struct account *a, const char *list);
int account_add_domain(struct account *a, const char *domain);
/*
 * Settings stored as `key=value` lines besides the fixed fields:
 * dlp_action_card, dlp_action_card_test, dlp_action_ssn,
 * dlp_action_iban (ignore|tag|redact|hold|reject), spf_action
 * (ignore|warn|reject), body_retention, event_retention (durations as
 * in postern.conf: 30s, 15m, 2h, 7d), spam_tag_score, spam_hold_score,
 * spam_reject_score (a score >= 0, or off), review_bounce_review,
 * review_bounce_pause, review_complaint_review, review_complaint_pause
 * (per mille, 1 to 1000: this account's trigger thresholds).  account_setting_check() says
 * whether KEY=VALUE may be stored (VALUE NULL: may KEY be removed; any
 * well-formed key may, so old garbage can be cleaned up); 0, or -1 with
 * the reason in ERR.  Both posternctl and the daemon's account.*
 * handler call it.
 */
int account_setting_check(const char *key, const char *value, char *err, size_t errlen);
/* Set or (VALUE NULL) remove a setting, after account_setting_check(); -1 when refused. */
int account_set_extra(struct account *a, const char *key, const char *value);
/* The names of the settings, NULL-terminated (usage texts, docs). */
const char *const *account_setting_names(void);

/* May this account use ADDR (the MAIL FROM address, "" for <>) as sender? */
int account_sender_allowed(const struct account_policy *pol, const char *addr, size_t len);

/* Hash PW with a fresh random salt: "scrypt$N$r$p$salt$hash". 0 or -1. */
int account_hash_password(const char *pw, size_t len, char *out, size_t outlen);
int account_hash_password_params(const char *pw, size_t len, uint64_t n, uint32_t r,
    uint32_t p, char *out, size_t outlen);
/* 1 = matches, 0 = does not, -1 = malformed hash.  Constant time in PW. */
int account_verify_password(const char *encoded, const char *pw, size_t len);
/* A random password of 24 characters from [A-Za-z0-9_-] into OUT (>= 25). */
void account_generate_password(char *out, size_t outlen);

/*
 * Hourly message rate: a one-hour sliding window approximated with two
 * fixed buckets.  account_rate_take() returns 0 and counts one message
 * when it is allowed, -1 when LIMIT per hour is reached.
 */
struct account_rate;
struct account_rate *account_rate_new(void);
void account_rate_free(struct account_rate *r);
int account_rate_take(struct account_rate *r, const char *name, uint64_t now, int64_t limit);
/* Give back a message that was counted but not accepted. */
void account_rate_untake(struct account_rate *r, const char *name, uint64_t now);

/*
 * Off-loop lookup and verification.  The callback runs on the loop:
 * RESULT 1 = verified (A is the account, caller frees), 0 = wrong name
 * or password (A NULL; also for unknown names, so timing does not tell),
 * -1 = lookup error (tempfail; A NULL).  A suspended account verifies
 * (RESULT 1) and the caller decides.  PW is copied and wiped.
 */
typedef void (*account_auth_cb)(void *arg, int result, struct account *a);
/* Fetch NAME's record text (malloc'd): 0, -ENOENT, or negative errno.
 * Runs on a pool thread (the relay wraps queue_kv_get(QUEUE_T_ACCOUNTS)). */
typedef int (*account_lookup_fn)(void *arg, const char *name, char **text, size_t *len);
struct account_auth_req;
struct account_auth_req *account_auth(uv_loop_t *loop, account_lookup_fn lookup,
    void *lookup_arg, const char *name, const char *pw, size_t pwlen,
    account_auth_cb cb, void *arg);
/* The same in the password-check pool POOL (include/auth_pool.h), queued
 * under KEY (the client address) for per-address fairness, or first when
 * URGENT (auth_pool_submit()). */
struct auth_pool;
struct auth_cache;
/* With CACHE (include/auth_cache.h), a password that verifies has its
 * tag put in CACHE on the loop before the callback runs (not when the
 * request was cancelled). */
struct account_auth_req *account_auth_pooled(uv_loop_t *loop, struct auth_pool *pool,
    struct auth_cache *cache, const char *key, int urgent, account_lookup_fn lookup,
    void *lookup_arg, const char *name, const char *pw, size_t pwlen, account_auth_cb cb,
    void *arg);
/*
 * Loop thread, no scrypt: 1 when CACHE holds the tag of NAME with PW
 * against NAME's stored password hash read now through LOOKUP (so a
 * password set since never matches), the record has a password and is
 * not suspended; *OUT is then the record (caller frees).  0 otherwise
 * (*OUT NULL): the caller verifies the slow way.
 */
int account_auth_cached(struct auth_cache *cache, account_lookup_fn lookup, void *lookup_arg,
    const char *name, const char *pw, size_t pwlen, uint64_t now, struct account **out);
/* The callback will not be called; the request frees itself when the work
 * ends (in the pool: a check that has not started is dropped unrun). */
void account_auth_cancel(struct account_auth_req *req);

#endif
