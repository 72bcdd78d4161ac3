/* SPDX-License-Identifier: ISC */
/*
 * auth_cache.h: the verified-credential cache (issue 20 item 4).  A
 * client that logged in with the right password a moment ago should not
 * pay for scrypt (tens of ms, 16 MiB) again on its next connection, nor
 * wait behind the per-address cap on checks in flight: twenty
 * connections of one application from one address used to queue two
 * by two in the password-check pool.
 *
 * What is kept is a tag, HMAC-SHA256 under a key drawn at random when
 * the cache is made (memory only, never written anywhere, wiped at
 * free), over the account name, the account's stored password hash
 * (scrypt$N$r$p$salt$hash) and the password.  No password, nor
 * anything a password could be tested against offline without the
 * key, is held.  Because the stored hash is part of the tag, setting a
 * new password (a new salt) makes every tag of the old one unreachable
 * at once, in this process and in no other state; a suspended or
 * deleted account is refused by the caller, which checks the record it
 * read before it asks.  A wrong password never matches (it would need
 * an HMAC collision).  Entries live smtpd_auth_cache_ttl; at most
 * AUTH_CACHE_MAX are held (when full, expired ones go, then new ones
 * are not added).  Any thread: one mutex inside (with smtpd_loops the
 * loops' relays share loop 0's cache); auth_cache_tag() only reads the
 * key, fixed at creation.
 */
#ifndef POSTERN_AUTH_CACHE_H
#define POSTERN_AUTH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_CACHE_TAG_LEN 32
#define AUTH_CACHE_MAX 65536

struct auth_cache;

/* TTL_MS 0: the cache is off (check never matches, put keeps nothing). */
struct auth_cache *auth_cache_new(uint64_t ttl_ms);
void auth_cache_free(struct auth_cache *c);
void auth_cache_set_ttl(struct auth_cache *c, uint64_t ttl_ms);

/* The tag of (NAME, ENCODED stored hash, PW). Thread-safe. */
void auth_cache_tag(const struct auth_cache *c, const char *name, const char *encoded,
    const void *pw, size_t pwlen, unsigned char tag[AUTH_CACHE_TAG_LEN]);

/* 1 when TAG was put within the TTL before NOW (monotonic ms), else 0. */
int auth_cache_check(struct auth_cache *c, const unsigned char tag[AUTH_CACHE_TAG_LEN],
    uint64_t now);
/* Remember TAG (a password that scrypt just verified) from NOW on. */
void auth_cache_put(struct auth_cache *c, const unsigned char tag[AUTH_CACHE_TAG_LEN],
    uint64_t now);
/* Drop everything (SIGHUP that turns the cache off, tests). */
void auth_cache_clear(struct auth_cache *c);
size_t auth_cache_count(const struct auth_cache *c);

#endif
