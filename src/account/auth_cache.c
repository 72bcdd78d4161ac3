/* SPDX-License-Identifier: ISC */
/*
 * auth_cache.c: the verified-credential cache (include/auth_cache.h
 * says what it holds and why a password change or a wrong password can
 * never match).  A table from tag to expiry time in src/lib/hash.c,
 * keyed by the tag itself; the HMAC key is 32 random bytes drawn here
 * and wiped at free.  Expired entries are dropped when met and, when
 * the table is full, in one pass before a put.  One mutex around the
 * table: with smtpd_loops every loop's relay shares loop 0's cache.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth_cache.h"
#include "crypto.h"
#include "hash.h"
#include "util.h"

struct auth_cache {
	unsigned char key[32];
	pthread_mutex_t mu;		/* ttl_ms and h */
	uint64_t ttl_ms;
	struct hash *h;			/* tag -> uint64_t expiry (owned) */
};

struct auth_cache *
auth_cache_new(uint64_t ttl_ms)
{
	struct auth_cache *c = xcalloc(1, sizeof(*c));

	crypto_random_bytes(c->key, sizeof(c->key));
	pthread_mutex_init(&c->mu, NULL);
	c->ttl_ms = ttl_ms;
	c->h = hash_new(free);
	return c;
}

void
auth_cache_free(struct auth_cache *c)
{
	if (c == NULL)
		return;
	hash_free(c->h);
	pthread_mutex_destroy(&c->mu);
	crypto_wipe(c->key, sizeof(c->key));
	free(c);
}

static void
cache_clear_locked(struct auth_cache *c)
{
	hash_free(c->h);
	c->h = hash_new(free);
}

void
auth_cache_set_ttl(struct auth_cache *c, uint64_t ttl_ms)
{
	pthread_mutex_lock(&c->mu);
	if (ttl_ms < c->ttl_ms)
		cache_clear_locked(c);	/* shorter or off: nothing outlives the new TTL */
	c->ttl_ms = ttl_ms;
	pthread_mutex_unlock(&c->mu);
}

/* Length-prefixed fields, so ("ab", "c") and ("a", "bc") differ. */
static unsigned char *
tag_field(unsigned char *o, const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;

	memcpy(o, &len, sizeof(len));
	if (n > 0)
		memcpy(o + sizeof(len), p, n);
	return o + sizeof(len) + n;
}

void
auth_cache_tag(const struct auth_cache *c, const char *name, const char *encoded,
    const void *pw, size_t pwlen, unsigned char tag[AUTH_CACHE_TAG_LEN])
{
	size_t nlen = strlen(name), elen = strlen(encoded);
	size_t total = 3 * sizeof(uint32_t) + nlen + elen + pwlen;
	/* one exact allocation: no realloc leaves a copy of PW behind */
	unsigned char *b = xmalloc(total), *o;

	o = tag_field(b, name, nlen);
	o = tag_field(o, encoded, elen);
	(void)tag_field(o, pw, pwlen);
	crypto_hmac_sha256(c->key, sizeof(c->key), b, total, tag);
	crypto_wipe(b, total);
	free(b);
}

int
auth_cache_check(struct auth_cache *c, const unsigned char tag[AUTH_CACHE_TAG_LEN], uint64_t now)
{
	uint64_t *exp;
	int hit = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (c->ttl_ms != 0 && (exp = hash_get(c->h, tag, AUTH_CACHE_TAG_LEN)) != NULL) {
		if (*exp <= now)
			hash_del(c->h, tag, AUTH_CACHE_TAG_LEN);
		else
			hit = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

static void
cache_expire(struct auth_cache *c, uint64_t now)
{
	struct hash_iter it;
	const char *key;
	size_t klen;
	void *v;

	hash_iter_init(&it, c->h);
	while (hash_next(&it, &key, &klen, &v))
		if (*(uint64_t *)v <= now)
			hash_del(c->h, key, klen);
}

void
auth_cache_put(struct auth_cache *c, const unsigned char tag[AUTH_CACHE_TAG_LEN], uint64_t now)
{
	uint64_t *exp;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->ttl_ms == 0)
		goto out;
	if (hash_count(c->h) >= AUTH_CACHE_MAX) {
		cache_expire(c, now);
		if (hash_count(c->h) >= AUTH_CACHE_MAX)
			goto out;	/* full of live entries: they verify the slow way */
	}
	exp = xmalloc(sizeof(*exp));
	*exp = now + c->ttl_ms;
	hash_put(c->h, tag, AUTH_CACHE_TAG_LEN, exp);
out:
	pthread_mutex_unlock(&c->mu);
}

void
auth_cache_clear(struct auth_cache *c)
{
	pthread_mutex_lock(&c->mu);
	cache_clear_locked(c);
	pthread_mutex_unlock(&c->mu);
}

size_t
auth_cache_count(const struct auth_cache *c)
{
	size_t n;

	if (c == NULL)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&c->mu);
	n = hash_count(c->h);
	pthread_mutex_unlock((pthread_mutex_t *)&c->mu);
	return n;
}
