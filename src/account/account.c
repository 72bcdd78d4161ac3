/* SPDX-License-Identifier: ISC */
/*
 * account.c: the account record and everything that decides with it
 * alone: parsing and formatting the stored `key=value` text, password
 * hashing with scrypt (RFC 7914, crypto_scrypt() of src/lib/crypto.c)
 * with a per-account random salt and the cost parameters stored with
 * the hash, the allowed-sender check and the
 * hourly message rate.  account_auth() moves the record lookup and the
 * deliberately slow hash off the loop so the loop never waits on it
 * (DESIGN.md §3): account_auth_pooled() into the password-check pool
 * (src/account/auth_pool.c; the relay), account_auth() into the uv
 * pool (tests).  AUTH lockouts are src/account/auth_guard.c's.
 *
 * This file is the one owner of the record text: account_parse() turns
 * it, once per lookup, into struct account and its typed struct
 * account_policy (include/account.h), which is all the relay's stages,
 * the EOM stages and the queue's purge ever see.  The per-account
 * settings are one table (account_settings[]: key, parser, field);
 * account_setting_check() refuses unknown keys and bad values before
 * they are stored.  Lines of an older record that the table does not
 * know (or cannot parse) are kept verbatim in struct account.extra and
 * warned about once per account and key.
 *
 * Callers: src/inbound/relay.c (AUTH, the MAIL-phase account lookups),
 * src/daemon/ (the queue's account-policy hook) and src/ctl/ (the
 * posternctl account commands).  Passwords are never logged, and the
 * copies made here are wiped with crypto_wipe() before being freed.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "account.h"
#include "addr.h"
#include "auth_cache.h"
#include "auth_pool.h"
#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "dlp.h"
#include "hash.h"
#include "log.h"
#include "spf.h"
#include "policy_params.h"
#include "util.h"

#define ACCOUNT_SALT_LEN 16
#define ACCOUNT_DK_LEN 32
#define ACCOUNT_RECORD_MAX (64 * 1024)

const char *
account_strstatus(enum account_status s)
{
	static const char *const names[] = { "active", "under_review", "paused", "suspended" };

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "active";
}

int
account_parse_status(const char *s, enum account_status *out)
{
	unsigned i;

	for (i = ACCOUNT_ACTIVE; i <= ACCOUNT_SUSPENDED; i++)
		if (strcmp(s, account_strstatus((enum account_status)i)) == 0) {
			*out = (enum account_status)i;
			return 0;
		}
	return -1;
}

int
account_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > ACCOUNT_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return 0;
	}
	return 1;
}

struct account *
account_new(const char *name)
{
	struct account *a = xcalloc(1, sizeof(*a));
	size_t i;

	str_copy(a->name, name, sizeof(a->name));
	a->pol.name = a->name;
	for (i = 0; i < ACCOUNT_DLP_NTYPES; i++)
		a->pol.dlp_action[i] = ACCOUNT_UNSET;
	a->pol.spf_action = ACCOUNT_UNSET;
	a->pol.from_domain_action = ACCOUNT_UNSET;
	a->pol.body_retention = ACCOUNT_UNSET;
	a->pol.event_retention = ACCOUNT_UNSET;
	a->pol.held_retention = ACCOUNT_UNSET;
	a->pol.metadata_retention = ACCOUNT_UNSET;
	a->pol.spam_tag_score = ACCOUNT_UNSET;
	a->pol.spam_hold_score = ACCOUNT_UNSET;
	a->pol.spam_reject_score = ACCOUNT_UNSET;
	a->pol.suppression_action = ACCOUNT_UNSET;
	a->pol.list_unsubscribe = ACCOUNT_UNSET;
	a->pol.retention_header = ACCOUNT_UNSET;
	a->pol.review_bounce_review = a->pol.review_bounce_pause = ACCOUNT_UNSET;
	a->pol.review_complaint_review = a->pol.review_complaint_pause = ACCOUNT_UNSET;
	buf_init(&a->extra, ACCOUNT_RECORD_MAX);
	return a;
}

void
account_free(struct account *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->pol.ndomains; i++)
		free(a->pol.domains[i]);
	free(a->pol.domains);
	buf_free(&a->extra);
	crypto_wipe(a->password, sizeof(a->password));
	free(a);
}

/* A domain as it may appear in the allowed list: a host name, optionally "*." prefixed, or "*". */
static int
account_domain_valid(const char *d)
{
	size_t i, n = strlen(d);

	if (strcmp(d, "*") == 0)
		return 1;
	if (n > 2 && d[0] == '*' && d[1] == '.') {
		d += 2;
		n -= 2;
	}
	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.' || d[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (!isalnum(ch) && ch != '.' && ch != '-')
			return 0;
		if (ch == '.' && d[i + 1] == '.')
			return 0;
	}
	return 1;
}

int
account_add_domain(struct account *a, const char *domain)
{
	char *d = xstrdup(domain);
	size_t i;

	for (i = 0; d[i]; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	if (!account_domain_valid(d)) {
		free(d);
		return -1;
	}
	for (i = 0; i < a->pol.ndomains; i++) {
		if (strcmp(a->pol.domains[i], d) == 0) {
			free(d);
			return 0;
		}
	}
	a->pol.domains = xrealloc(a->pol.domains, (a->pol.ndomains + 1) * sizeof(*a->pol.domains));
	a->pol.domains[a->pol.ndomains++] = d;
	return 0;
}

int
account_set_domains(struct account *a, const char *list)
{
	struct account tmp;
	char *copy = xstrdup(list), *p, *save = NULL;
	size_t i;
	int rc = 0;

	memset(&tmp, 0, sizeof(tmp));
	for (p = strtok_r(copy, ", \t", &save); p != NULL; p = strtok_r(NULL, ", \t", &save)) {
		if (account_add_domain(&tmp, p) != 0) {
			rc = -1;
			break;
		}
	}
	free(copy);
	if (rc != 0) {
		for (i = 0; i < tmp.pol.ndomains; i++)
			free(tmp.pol.domains[i]);
		free(tmp.pol.domains);
		return -1;
	}
	for (i = 0; i < a->pol.ndomains; i++)
		free(a->pol.domains[i]);
	free(a->pol.domains);
	a->pol.domains = tmp.pol.domains;
	a->pol.ndomains = tmp.pol.ndomains;
	return 0;
}

/* Keys this module owns; anything else in a record is an override kept in extra. */
static const char *const account_own_keys[] = {
	"name", "password", "status", "domains", "max_message_size",
	"max_recipients", "hourly_rate", "created",
};

static int
account_own_key(const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(account_own_keys); i++)
		if (strlen(account_own_keys[i]) == klen && memcmp(account_own_keys[i], key, klen) == 0)
			return 1;
	return 0;
}

static int
account_key_valid(const char *key)
{
	size_t i, n = strlen(key);

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)key[i]) && !isdigit((unsigned char)key[i]) && key[i] != '_')
			return 0;
	return 1;
}

/* ---- the per-account settings: one row each {key, parser, field} ---- */

enum account_setting_type { AS_DLP_ACTION, AS_SPF_ACTION, AS_DURATION, AS_SUPPRESSION_ACTION,
	AS_LIST_UNSUBSCRIBE, AS_DOMAIN, AS_PERMILLE, AS_SCORE, AS_FROM_ACTION, AS_URL, AS_PATH,
	AS_BOOL, AS_ALLOW_FORBID };

struct account_setting {
	const char *key;
	enum account_setting_type type;
	const char *expect;	/* for error messages */
	size_t off;		/* int or int64_t field in struct account_policy */
	int index;		/* dlp_action[] index */
};

#define POL_OFF(f) offsetof(struct account_policy, f)
static const struct account_setting account_settings[] = {
	{ "dlp_action_card", AS_DLP_ACTION, "ignore, tag, redact, hold or reject", POL_OFF(dlp_action), DLP_CARD },
	{ "dlp_action_card_test", AS_DLP_ACTION, "ignore, tag, redact, hold or reject", POL_OFF(dlp_action), DLP_CARD_TEST },
	{ "dlp_action_ssn", AS_DLP_ACTION, "ignore, tag, redact, hold or reject", POL_OFF(dlp_action), DLP_SSN },
	{ "dlp_action_iban", AS_DLP_ACTION, "ignore, tag, redact, hold or reject", POL_OFF(dlp_action), DLP_IBAN },
	{ "spf_action", AS_SPF_ACTION, "ignore, warn or reject", POL_OFF(spf_action), 0 },
	{ "from_domain_action", AS_FROM_ACTION, "reject or log", POL_OFF(from_domain_action), 0 },
	/* issue 19: signed event webhooks (src/outbound/webhook.c) */
	{ "webhook_url", AS_URL, "an http:// or https:// URL", POL_OFF(webhook), 0 },
	{ "webhook_secret_file", AS_PATH, "an absolute path", POL_OFF(webhook), 0 },
	{ "webhook_plain_recipients", AS_BOOL, "yes or no", POL_OFF(webhook_plain_rcpt), 0 },
	{ "body_retention", AS_DURATION, "a duration (30s, 15m, 2h, 7d)", POL_OFF(body_retention), 0 },
	{ "event_retention", AS_DURATION, "a duration (30s, 15m, 2h, 7d)", POL_OFF(event_retention), 0 },
	{ "metadata_retention", AS_DURATION, "a duration (30s, 15m, 2h, 7d)", POL_OFF(metadata_retention), 0 },
	{ "held_retention", AS_DURATION, "a duration (30s, 15m, 2h, 7d)", POL_OFF(held_retention), 0 },
	{ "retention_header", AS_ALLOW_FORBID, "allow or forbid", POL_OFF(retention_header), 0 },
	{ "spam_tag_score", AS_SCORE, "a score >= 0 (0 or off: never)", POL_OFF(spam_tag_score), 0 },
	{ "spam_hold_score", AS_SCORE, "a score >= 0 (0 or off: never)", POL_OFF(spam_hold_score), 0 },
	{ "spam_reject_score", AS_SCORE, "a score >= 0 (0 or off: never)", POL_OFF(spam_reject_score), 0 },
	{ "suppression_action", AS_SUPPRESSION_ACTION, "reject or drop", POL_OFF(suppression_action), 0 },
	{ "list_unsubscribe", AS_LIST_UNSUBSCRIBE, "off, mailto or one-click", POL_OFF(list_unsubscribe), 0 },
	{ "return_path_domain", AS_DOMAIN, "a domain name (VERP return path b+TOKEN@DOMAIN)", POL_OFF(return_path_domain), 0 },
	{ "review_bounce_review", AS_PERMILLE, "per mille, 1 to 1000", POL_OFF(review_bounce_review), 0 },
	{ "review_bounce_pause", AS_PERMILLE, "per mille, 1 to 1000", POL_OFF(review_bounce_pause), 0 },
	{ "review_complaint_review", AS_PERMILLE, "per mille, 1 to 1000", POL_OFF(review_complaint_review), 0 },
	{ "review_complaint_pause", AS_PERMILLE, "per mille, 1 to 1000", POL_OFF(review_complaint_pause), 0 },
};
_Static_assert(ACCOUNT_DLP_NTYPES == DLP_NTYPES, "dlp_action[] follows enum dlp_type");

static const struct account_setting *
account_setting_find(const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(account_settings); i++)
		if (strlen(account_settings[i].key) == klen &&
		    memcmp(account_settings[i].key, key, klen) == 0)
			return &account_settings[i];
	return NULL;
}

/* Parse VALUE for ST into POL; -1 when it is not what ST expects. */
static int
account_setting_apply(const struct account_setting *st, const char *value,
    struct account_policy *pol)
{
	char *field = (char *)pol + st->off;
	enum dlp_action da;
	enum spf_action sa;
	uint64_t ms;

	switch (st->type) {
	case AS_DLP_ACTION:
		if (dlp_parse_action(value, &da) != 0)
			return -1;
		if (pol != NULL)
			((int *)field)[st->index] = (int)da;
		return 0;
	case AS_SPF_ACTION:
		if (spf_parse_action(value, &sa) != 0)
			return -1;
		*(int *)field = (int)sa;
		return 0;
	case AS_URL:
		if ((strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) ||
		    strlen(value) > 2048 || strpbrk(value, " \t\"<>") != NULL ||
		    value[strcspn(value, ":") + 3] == '\0')
			return -1;
		*(int *)field = 1;
		return 0;
	case AS_PATH:
		if (value[0] != '/' || strlen(value) > 4096)
			return -1;
		return 0;	/* read by the dispatcher from the record */
	case AS_BOOL:
		if (strcmp(value, "yes") == 0)
			*(int *)field = 1;
		else if (strcmp(value, "no") == 0)
			*(int *)field = 0;
		else
			return -1;
		return 0;
	case AS_FROM_ACTION:
		if (strcmp(value, "reject") == 0)
			*(int *)field = ACCOUNT_FROM_REJECT;
		else if (strcmp(value, "log") == 0)
			*(int *)field = ACCOUNT_FROM_LOG;
		else
			return -1;
		return 0;
	case AS_DURATION:
		if (parse_duration_ms(value, &ms) != 0 || ms > INT64_MAX)
			return -1;
		*(int64_t *)field = (int64_t)ms;
		return 0;
	case AS_SCORE: {
		char *end;
		double v;

		if (strcmp(value, "off") == 0) {
			*(int64_t *)field = 0;
			return 0;
		}
		v = strtod(value, &end);
		if (end == value || *end != '\0' || !(v >= 0.0 && v <= 1e6))
			return -1;
		*(int64_t *)field = (int64_t)(v * 1000.0 + 0.5);
		return 0;
	}
	case AS_SUPPRESSION_ACTION:
		if (strcmp(value, "reject") != 0 && strcmp(value, "drop") != 0)
			return -1;
		*(int *)field = strcmp(value, "drop") == 0;
		return 0;
	case AS_ALLOW_FORBID:
		if (strcmp(value, "allow") != 0 && strcmp(value, "forbid") != 0)
			return -1;
		*(int *)field = strcmp(value, "allow") == 0;
		return 0;
	case AS_LIST_UNSUBSCRIBE:
		if (strcmp(value, "off") == 0)
			*(int *)field = POLICY_LU_OFF;
		else if (strcmp(value, "mailto") == 0)
			*(int *)field = POLICY_LU_MAILTO;
		else if (strcmp(value, "one-click") == 0)
			*(int *)field = POLICY_LU_ONE_CLICK;
		else
			return -1;
		return 0;
	case AS_DOMAIN: {
		char norm[ADDR_MAX], probe[ADDR_MAX + 4];

		/* a domain that normalises as the domain of an address */
		snprintf(probe, sizeof(probe), "x@%s", value);
		if (strlen(value) > 253 || strchr(value, '@') != NULL || strchr(value, '.') == NULL ||
		    addr_normalise(probe, strlen(probe), norm, sizeof(norm)) < 0)
			return -1;
		str_copy(field, norm + 2, 256);
		return 0;
	}
	case AS_PERMILLE: {
		char *end;
		long v = strtol(value, &end, 10);

		if (!isdigit((unsigned char)*value) || *end != '\0' || v < 1 || v > 1000)
			return -1;
		*(int64_t *)field = v;
		return 0;
	}
	}
	return -1;
}

/* Back to "unset" (the global value applies). */
static void
account_setting_unset(const struct account_setting *st, struct account_policy *pol)
{
	char *field = (char *)pol + st->off;

	if (st->type == AS_DLP_ACTION)
		((int *)field)[st->index] = ACCOUNT_UNSET;
	else if (st->type == AS_DOMAIN)
		field[0] = '\0';
	else if (st->type == AS_SPF_ACTION || st->type == AS_SUPPRESSION_ACTION ||
	    st->type == AS_LIST_UNSUBSCRIBE || st->type == AS_FROM_ACTION ||
	    st->type == AS_ALLOW_FORBID)
		*(int *)field = ACCOUNT_UNSET;
	else if (st->type == AS_URL || st->type == AS_BOOL)
		*(int *)field = 0;
	else if (st->type == AS_PATH)
		return;
	else
		*(int64_t *)field = ACCOUNT_UNSET;
}

const char *const *
account_setting_names(void)
{
	static const char *names[ARRAY_SIZE(account_settings) + 1];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(account_settings); i++)
		names[i] = account_settings[i].key;
	names[i] = NULL;
	return names;
}

int
account_setting_check(const char *key, const char *value, char *err, size_t errlen)
{
	const struct account_setting *st;
	struct account_policy scratch;

	if (!account_key_valid(key)) {
		snprintf(err, errlen, "'%s' is not a setting name", key);
		return -1;
	}
	if (account_own_key(key, strlen(key))) {
		snprintf(err, errlen, "%s is not set with --set (use the account command's own option)",
		    key);
		return -1;
	}
	st = account_setting_find(key, strlen(key));
	if (value == NULL)
		return 0;	/* removing any well-formed key is fine: it cleans up */
	if (st == NULL) {
		/* the known names, from the one table */
		size_t i, o;

		o = (size_t)snprintf(err, errlen, "unknown setting '%s' (known: ", key);
		for (i = 0; i < ARRAY_SIZE(account_settings) && o < errlen; i++)
			o += (size_t)snprintf(err + o, errlen - o, "%s%s", i ? ", " : "",
			    account_settings[i].key);
		if (o < errlen)
			snprintf(err + o, errlen - o, ")");
		return -1;
	}
	memset(&scratch, 0, sizeof(scratch));
	if (strchr(value, '\n') != NULL || strchr(value, '\r') != NULL ||
	    account_setting_apply(st, value, &scratch) != 0) {
		snprintf(err, errlen, "%s: '%s' is not valid; expected %s", key, value, st->expect);
		return -1;
	}
	return 0;
}

static void account_warn_setting(const char *name, const char *key, size_t klen,
    const char *why);

int
account_set_extra(struct account *a, const char *key, const char *value)
{
	struct buf out;
	const struct account_setting *st;
	const char *p, *end;
	size_t klen = strlen(key);
	char err[256];

	if (account_setting_check(key, value, err, sizeof(err)) != 0)
		return -1;
	st = account_setting_find(key, klen);
	buf_init(&out, ACCOUNT_RECORD_MAX);
	p = a->extra.data;
	end = p ? p + a->extra.len : NULL;
	while (p != NULL && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (!(len > klen && p[klen] == '=' && memcmp(p, key, klen) == 0)) {
			(void)buf_append(&out, p, len);
			(void)buf_append(&out, "\n", 1);
		}
		p = eol ? eol + 1 : end;
	}
	if (value != NULL && buf_printf(&out, "%s=%s\n", key, value) != 0) {
		buf_free(&out);
		return -1;
	}
	buf_free(&a->extra);
	a->extra = out;
	if (st != NULL) {
		if (value != NULL)
			(void)account_setting_apply(st, value, &a->pol);
		else
			account_setting_unset(st, &a->pol);
	}
	return 0;
}

static int
account_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

struct account *
account_parse(const char *text, size_t len)
{
	struct account *a = NULL;
	const char *p = text, *end = text + len;
	char line[1024];

	if (len > ACCOUNT_RECORD_MAX)
		return NULL;
	/* The name comes first in practice, but do not rely on it. */
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (n > 5 && memcmp(p, "name=", 5) == 0 && n - 5 < sizeof(line)) {
			memcpy(line, p + 5, n - 5);
			line[n - 5] = '\0';
			if (!account_name_valid(line))
				return NULL;
			a = account_new(line);
			break;
		}
		p = eol ? eol + 1 : end;
	}
	if (a == NULL)
		return NULL;
	for (p = text; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		const char *eq = memchr(p, '=', n);
		uint64_t v;
		size_t klen;

		if (n == 0 || eq == NULL)
			goto next;
		klen = (size_t)(eq - p);
		if (n - klen - 1 >= sizeof(line))
			goto bad;
		memcpy(line, eq + 1, n - klen - 1);
		line[n - klen - 1] = '\0';
		if (klen == 8 && memcmp(p, "password", 8) == 0) {
			if (strlen(line) >= sizeof(a->password))
				goto bad;
			str_copy(a->password, line, sizeof(a->password));
		} else if (klen == 6 && memcmp(p, "status", 6) == 0) {
			if (account_parse_status(line, &a->pol.status) != 0)
				goto bad;
			a->pol.suspended = a->pol.status == ACCOUNT_SUSPENDED;
		} else if (klen == 7 && memcmp(p, "domains", 7) == 0) {
			if (account_set_domains(a, line) != 0)
				goto bad;
		} else if (klen == 16 && memcmp(p, "max_message_size", 16) == 0) {
			if (account_parse_u64(line, &a->pol.max_message_size) != 0)
				goto bad;
		} else if (klen == 14 && memcmp(p, "max_recipients", 14) == 0) {
			if (account_parse_u64(line, &v) != 0 || v > INT64_MAX)
				goto bad;
			a->pol.max_recipients = (int64_t)v;
		} else if (klen == 11 && memcmp(p, "hourly_rate", 11) == 0) {
			if (account_parse_u64(line, &v) != 0 || v > INT64_MAX)
				goto bad;
			a->pol.hourly_rate = (int64_t)v;
		} else if (klen == 7 && memcmp(p, "created", 7) == 0) {
			if (account_parse_u64(line, &a->created) != 0)
				goto bad;
		} else if (!account_own_key(p, klen)) {
			const struct account_setting *st = account_setting_find(p, klen);

			if (st == NULL)
				account_warn_setting(a->name, p, klen, "unknown");
			else if (account_setting_apply(st, line, &a->pol) != 0)
				account_warn_setting(a->name, p, klen, "bad_value");
			if (buf_append(&a->extra, p, n) != 0 || buf_append(&a->extra, "\n", 1) != 0)
				goto bad;
		}
next:
		p = eol ? eol + 1 : end;
	}
	crypto_wipe(line, sizeof(line));
	return a;
bad:
	crypto_wipe(line, sizeof(line));
	account_free(a);
	return NULL;
}

int
account_policy_read(void *arg, const char *text, size_t len, struct account_policy *out)
{
	struct account *a = account_parse(text, len);

	(void)arg;
	if (a == NULL)
		return -1;
	*out = a->pol;
	out->name = NULL;
	out->domains = NULL;
	out->ndomains = 0;
	account_free(a);
	return 0;
}

int
account_setting_value(const struct account *a, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), pos = 0, found = 0;
	const char *d = a->extra.data;

	/* the last line wins, as when the record is parsed */
	while (d != NULL && pos < a->extra.len) {
		const char *nl = memchr(d + pos, '\n', a->extra.len - pos);
		size_t l = nl ? (size_t)(nl - (d + pos)) : a->extra.len - pos;

		if (l > klen && memcmp(d + pos, key, klen) == 0 && d[pos + klen] == '=') {
			size_t vl = l - klen - 1;

			if (vl >= outlen)
				vl = outlen - 1;
			memcpy(out, d + pos + klen + 1, vl);
			out[vl] = '\0';
			found = 1;
		}
		pos += l + 1;
	}
	return found ? 0 : -1;
}

char *
account_format(const struct account *a, size_t *len)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_printf(&b, "name=%s\n", a->name);
	if (a->password[0] != '\0')
		buf_printf(&b, "password=%s\n", a->password);
	/* suspended is the older flag: it wins over a status set beside it */
	buf_printf(&b, "status=%s\n", account_strstatus(a->pol.suspended ? ACCOUNT_SUSPENDED :
	    a->pol.status == ACCOUNT_SUSPENDED ? ACCOUNT_ACTIVE : a->pol.status));
	if (a->pol.ndomains > 0) {
		buf_append_str(&b, "domains=");
		for (i = 0; i < a->pol.ndomains; i++)
			buf_printf(&b, "%s%s", i ? "," : "", a->pol.domains[i]);
		buf_append_str(&b, "\n");
	}
	buf_printf(&b, "max_message_size=%" PRIu64 "\n", a->pol.max_message_size);
	buf_printf(&b, "max_recipients=%" PRId64 "\n", a->pol.max_recipients);
	buf_printf(&b, "hourly_rate=%" PRId64 "\n", a->pol.hourly_rate);
	buf_printf(&b, "created=%" PRIu64 "\n", a->created);
	if (a->extra.len > 0)
		buf_append(&b, a->extra.data, a->extra.len);
	return buf_steal(&b, len);
}

/* RFC 5321 §4.1.2: the domain is what follows the last '@'. */
int
account_sender_allowed(const struct account_policy *pol, const char *addr, size_t len)
{
	return domain_list_allows_sender(pol->domains, pol->ndomains, addr, len);
}

/* ---- password hashes: scrypt$N$r$p$salt$hash ---- */

/* Cost limits accepted from a stored hash, so a bad record cannot exhaust memory. */
static int
account_params_ok(uint64_t n, uint64_t r, uint64_t p)
{
	return n >= 2 && n <= ((uint64_t)1 << 20) && (n & (n - 1)) == 0 &&
	    r >= 1 && r <= 32 && p >= 1 && p <= 16 && n * r * 128 * p <= ((uint64_t)1 << 29);
}

int
account_hash_password_params(const char *pw, size_t len, uint64_t n, uint32_t r, uint32_t p,
    char *out, size_t outlen)
{
	unsigned char salt[ACCOUNT_SALT_LEN], dk[ACCOUNT_DK_LEN];
	char salt64[4 * ((ACCOUNT_SALT_LEN + 2) / 3) + 1];
	char dk64[4 * ((ACCOUNT_DK_LEN + 2) / 3) + 1];
	int w;

	if (!account_params_ok(n, r, p) || len > ACCOUNT_PASSWORD_MAX)
		return -1;
	crypto_random_bytes(salt, sizeof(salt));
	if (crypto_scrypt(pw, len, salt, sizeof(salt), n, r, p, dk, sizeof(dk)) != 0)
		return -1;
	crypto_base64_encode(salt, sizeof(salt), salt64);
	crypto_base64_encode(dk, sizeof(dk), dk64);
	crypto_wipe(dk, sizeof(dk));
	w = snprintf(out, outlen, "scrypt$%" PRIu64 "$%" PRIu32 "$%" PRIu32 "$%s$%s",
	    n, r, p, salt64, dk64);
	return w > 0 && (size_t)w < outlen ? 0 : -1;
}

int
account_hash_password(const char *pw, size_t len, char *out, size_t outlen)
{
	return account_hash_password_params(pw, len, ACCOUNT_SCRYPT_N, ACCOUNT_SCRYPT_R,
	    ACCOUNT_SCRYPT_P, out, outlen);
}

int
account_verify_password(const char *encoded, const char *pw, size_t len)
{
	unsigned char salt[ACCOUNT_SALT_LEN], want[ACCOUNT_DK_LEN], got[ACCOUNT_DK_LEN];
	const char *f[6];
	size_t flen[6], i;
	const char *p = encoded;
	char num[24];
	uint64_t n, r, par;
	int rc;

	/* scrypt $ N $ r $ p $ salt $ hash */
	for (i = 0; i < 6; i++) {
		const char *d = strchr(p, '$');

		f[i] = p;
		flen[i] = d ? (size_t)(d - p) : strlen(p);
		if (i < 5 && d == NULL)
			return -1;
		p = d ? d + 1 : p + flen[i];
	}
	if (strchr(f[5], '$') != NULL || flen[0] != 6 || memcmp(f[0], "scrypt", 6) != 0)
		return -1;
	for (i = 1; i <= 3; i++) {
		if (flen[i] == 0 || flen[i] >= sizeof(num))
			return -1;
		memcpy(num, f[i], flen[i]);
		num[flen[i]] = '\0';
		if (account_parse_u64(num, i == 1 ? &n : i == 2 ? &r : &par) != 0)
			return -1;
	}
	if (!account_params_ok(n, r, par))
		return -1;
	if (crypto_base64_decode(f[4], flen[4], salt, sizeof(salt)) != 0 ||
	    crypto_base64_decode(f[5], flen[5], want, sizeof(want)) != 0)
		return -1;
	if (len > ACCOUNT_PASSWORD_MAX)
		return 0;
	if (crypto_scrypt(pw, len, salt, sizeof(salt), n, (uint32_t)r, (uint32_t)par,
	    got, sizeof(got)) != 0)
		return -1;
	rc = crypto_equal(got, want, sizeof(got));
	crypto_wipe(got, sizeof(got));
	return rc;
}

void
account_generate_password(char *out, size_t outlen)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char rnd[24];
	size_t i;

	if (outlen < 25)
		fatal("account_generate_password: buffer too small");
	crypto_random_bytes(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		out[i] = alphabet[rnd[i] & 63];	/* 64 symbols: no modulo bias */
	out[sizeof(rnd)] = '\0';
	crypto_wipe(rnd, sizeof(rnd));
}

/* ---- the in-memory counters: name -> {a, b, c} in a src/lib/hash.c table ---- */

struct account_entry {
	uint64_t a, b, c;	/* meaning depends on the table */
};

struct account_table {
	struct hash *h;		/* key -> struct account_entry (owned) */
};

static void
account_table_init(struct account_table *t)
{
	t->h = hash_new(free);
}

static struct account_entry *
account_table_get(struct account_table *t, const char *key, int create)
{
	struct account_entry *e = hash_gets(t->h, key);

	if (e == NULL && create) {
		e = xcalloc(1, sizeof(*e));
		hash_puts(t->h, key, e);
	}
	return e;
}

static void
account_table_free(struct account_table *t)
{
	if (t == NULL)
		return;
	hash_free(t->h);
	free(t);
}

/*
 * A stored line this table cannot use (an unknown key, a bad value):
 * kept verbatim, counts as unset, and warned about once per account and
 * key for the life of the process (records are parsed at every MAIL).
 */
static pthread_mutex_t account_warned_lock = PTHREAD_MUTEX_INITIALIZER;
static struct account_table *account_warned;

static void
account_warn_setting(const char *name, const char *key, size_t klen, const char *why)
{
	char k[ACCOUNT_NAME_MAX + 80];
	int first = 0;

	if (klen > 64)
		klen = 64;
	snprintf(k, sizeof(k), "%s|%.*s", name, (int)klen, key);
	pthread_mutex_lock(&account_warned_lock);
	if (account_warned == NULL) {
		account_warned = xcalloc(1, sizeof(struct account_table));
		account_table_init(account_warned);
	}
	/* bounded: past 4096 distinct lines, stay quiet rather than grow */
	if (account_table_get(account_warned, k, 0) == NULL &&
	    hash_count(account_warned->h) < 4096) {
		first = 1;
		(void)account_table_get(account_warned, k, 1);
	}
	pthread_mutex_unlock(&account_warned_lock);
	if (first)
		log_warn("event=account_bad_setting account=%s key=%.*s reason=%s "
		    "note=\"kept in the record, not applied\"", name, (int)klen, key, why);
}

/* ---- hourly rate: a = start of the current hour bucket, b = its count, c = previous bucket ---- */

#define ACCOUNT_HOUR_MS (3600ULL * 1000)

struct account_rate {
	struct account_table t;	/* first: account_rate_free() frees it as a table */
	pthread_mutex_t mu;	/* smtpd_loops: the relays of every loop share one */
};

struct account_rate *
account_rate_new(void)
{
	struct account_rate *r = xcalloc(1, sizeof(*r));

	account_table_init(&r->t);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void
account_rate_free(struct account_rate *r)
{
	if (r != NULL)
		pthread_mutex_destroy(&r->mu);
	account_table_free((struct account_table *)r);
}

static void
account_rate_roll(struct account_entry *e, uint64_t now)
{
	uint64_t start = now - now % ACCOUNT_HOUR_MS;

	if (e->a == start)
		return;
	e->c = e->a + ACCOUNT_HOUR_MS == start ? e->b : 0;
	e->b = 0;
	e->a = start;
}

static int
account_rate_take_unlocked(struct account_rate *r, const char *name, uint64_t now, int64_t limit)
{
	struct account_entry *e;
	uint64_t elapsed, estimate;

	if (limit <= 0)
		return 0;
	e = account_table_get(&r->t, name, 1);
	account_rate_roll(e, now);
	elapsed = now - e->a;
	/* previous bucket weighted by how much of it still lies in the last hour */
	estimate = e->b + (e->c * (ACCOUNT_HOUR_MS - elapsed) + ACCOUNT_HOUR_MS - 1) / ACCOUNT_HOUR_MS;
	if (estimate >= (uint64_t)limit)
		return -1;
	e->b++;
	return 0;
}

static void
account_rate_untake_unlocked(struct account_rate *r, const char *name, uint64_t now)
{
	struct account_entry *e = account_table_get(&r->t, name, 0);

	if (e == NULL)
		return;
	account_rate_roll(e, now);
	if (e->b > 0)
		e->b--;
}

int
account_rate_take(struct account_rate *r, const char *name, uint64_t now, int64_t limit)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = account_rate_take_unlocked(r, name, now, limit);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void
account_rate_untake(struct account_rate *r, const char *name, uint64_t now)
{
	pthread_mutex_lock(&r->mu);
	account_rate_untake_unlocked(r, name, now);
	pthread_mutex_unlock(&r->mu);
}

/* ---- off-loop authentication ---- */

struct account_auth_req {
	uv_work_t work;
	struct auth_pool *pool;		/* or NULL: libuv's pool */
	struct auth_pool_job *job;	/* in POOL */
	struct auth_cache *cache;	/* or NULL; a verified password's tag goes in */
	unsigned char tag[AUTH_CACHE_TAG_LEN];
	int have_tag;
	account_lookup_fn lookup;
	void *lookup_arg;
	account_auth_cb cb;	/* NULL once cancelled */
	void *arg;
	char name[ACCOUNT_NAME_MAX + 1];
	char *pw;		/* owned, wiped */
	size_t pwlen;
	int result;
	struct account *acct;
};

/* Pool thread: fetch, parse, verify.  An unknown name still pays for one
 * scrypt run so response time does not reveal which names exist. */
static void
account_auth_work(uv_work_t *w)
{
	struct account_auth_req *req = w->data;
	static const char dummy[] =
	    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	char *text = NULL;
	size_t len = 0;
	int rc;

	req->result = 0;
	if (!account_name_valid(req->name)) {
		(void)account_verify_password(dummy, req->pw, req->pwlen);
		return;
	}
	rc = req->lookup(req->lookup_arg, req->name, &text, &len);
	if (rc == -ENOENT) {
		(void)account_verify_password(dummy, req->pw, req->pwlen);
		return;
	}
	if (rc != 0) {
		req->result = -1;
		return;
	}
	req->acct = account_parse(text, len);
	free(text);
	if (req->acct == NULL || req->acct->password[0] == '\0') {
		(void)account_verify_password(dummy, req->pw, req->pwlen);
		account_free(req->acct);
		req->acct = NULL;
		return;
	}
	rc = account_verify_password(req->acct->password, req->pw, req->pwlen);
	if (rc != 1) {
		account_free(req->acct);
		req->acct = NULL;
		req->result = 0;
		return;
	}
	req->result = 1;
	if (req->cache != NULL) {
		/* only the key is read: safe off the loop */
		auth_cache_tag(req->cache, req->name, req->acct->password, req->pw, req->pwlen,
		    req->tag);
		req->have_tag = 1;
	}
}

static void
account_auth_finish(struct account_auth_req *req, int status)
{
	if (status != 0 && req->result == 1) {
		account_free(req->acct);
		req->acct = NULL;
		req->result = -1;
	}
	if (req->cb != NULL && req->result == 1 && req->have_tag)
		auth_cache_put(req->cache, req->tag, now_mono_ms());
	crypto_wipe(req->tag, sizeof(req->tag));
	if (req->cb != NULL)
		req->cb(req->arg, req->result, req->acct);
	else
		account_free(req->acct);
	crypto_wipe(req->pw, req->pwlen);
	free(req->pw);
	free(req);
}

static void
account_auth_after(uv_work_t *w, int status)
{
	account_auth_finish(w->data, status);
}

/* The same, through the password-check pool (include/auth_pool.h). */
static void
account_auth_pool_work(void *arg)
{
	struct account_auth_req *req = arg;

	account_auth_work(&req->work);
}

static void
account_auth_pool_done(void *arg, int status)
{
	struct account_auth_req *req = arg;

	if (status != 0)
		req->result = -1;	/* cancelled before it ran */
	account_auth_finish(req, status);
}

struct account_auth_req *
account_auth(uv_loop_t *loop, account_lookup_fn lookup, void *lookup_arg, const char *name,
    const char *pw, size_t pwlen, account_auth_cb cb, void *arg)
{
	return account_auth_pooled(loop, NULL, NULL, NULL, 0, lookup, lookup_arg, name, pw, pwlen,
	    cb, arg);
}

int
account_auth_cached(struct auth_cache *cache, account_lookup_fn lookup, void *lookup_arg,
    const char *name, const char *pw, size_t pwlen, uint64_t now, struct account **out)
{
	unsigned char tag[AUTH_CACHE_TAG_LEN];
	struct account *a;
	char *text = NULL;
	size_t len = 0;
	int hit;

	*out = NULL;
	if (cache == NULL || auth_cache_count(cache) == 0 || !account_name_valid(name))
		return 0;
	if (lookup(lookup_arg, name, &text, &len) != 0)
		return 0;
	a = account_parse(text, len);
	free(text);
	if (a == NULL || a->password[0] == '\0' || a->pol.suspended) {
		/* the slow path answers these, with its usual timing and logging */
		account_free(a);
		return 0;
	}
	auth_cache_tag(cache, name, a->password, pw, pwlen, tag);
	hit = auth_cache_check(cache, tag, now);
	crypto_wipe(tag, sizeof(tag));
	if (!hit) {
		account_free(a);
		return 0;
	}
	*out = a;
	return 1;
}

struct account_auth_req *
account_auth_pooled(uv_loop_t *loop, struct auth_pool *pool, struct auth_cache *cache,
    const char *key, int urgent, account_lookup_fn lookup, void *lookup_arg, const char *name,
    const char *pw, size_t pwlen, account_auth_cb cb, void *arg)
{
	struct account_auth_req *req = xcalloc(1, sizeof(*req));

	req->work.data = req;
	req->cache = cache;
	req->lookup = lookup;
	req->lookup_arg = lookup_arg;
	req->cb = cb;
	req->arg = arg;
	if (strlen(name) <= ACCOUNT_NAME_MAX)
		str_copy(req->name, name, sizeof(req->name));
	/* else: name stays "" and fails as invalid, after the same work */
	req->pw = xmalloc(pwlen + 1);
	memcpy(req->pw, pw, pwlen);
	req->pw[pwlen] = '\0';
	req->pwlen = pwlen;
	if (pool != NULL) {
		req->pool = pool;
		req->job = auth_pool_submit(pool, key != NULL ? key : "", urgent, account_auth_pool_work,
		    account_auth_pool_done, req);
		if (req->job != NULL)
			return req;
		crypto_wipe(req->pw, req->pwlen);
		free(req->pw);
		free(req);
		return NULL;
	}
	if (uv_queue_work(loop, &req->work, account_auth_work, account_auth_after) != 0) {
		crypto_wipe(req->pw, req->pwlen);
		free(req->pw);
		free(req);
		return NULL;
	}
	return req;
}

void
account_auth_cancel(struct account_auth_req *req)
{
	if (req == NULL)
		return;
	req->cb = NULL;
	if (req->pool != NULL && req->job != NULL)
		(void)auth_pool_cancel(req->pool, req->job);	/* not started: never runs */
}
