/* SPDX-License-Identifier: ISC */
/*
 * hash.h: the project's one hash table (src/lib/hash.c), for every
 * in-memory index: byte-string keys (copied and owned by the table),
 * values either owned (freed by the table's free function when
 * replaced, deleted or at hash_free) or borrowed (free function NULL),
 * iteration that tolerates deleting the entry just returned, and
 * growth that keeps lookups O(1) however many entries an attacker or a
 * busy queue puts in.  Each table hashes with its own random seed, so
 * keys chosen from outside (client addresses, DNS names) cannot be
 * made to collide on purpose across processes.  Not thread-safe: one
 * owner thread, or the owner's lock.
 */
#ifndef POSTERN_HASH_H
#define POSTERN_HASH_H

#include <stddef.h>
#include <string.h>

struct hash;
struct hash_entry;

/* FREE_VALUE frees a value the table owns; NULL: values are borrowed. */
struct hash *hash_new(void (*free_value)(void *value));
/* Frees every key and (when owned) every value. NULL is fine. */
void hash_free(struct hash *h);
size_t hash_count(const struct hash *h);

/* The value stored under KEY, or NULL. */
void *hash_get(const struct hash *h, const void *key, size_t klen);
/* Store VALUE under KEY; an earlier value under KEY is freed (owned) or
 * dropped (borrowed). */
void hash_put(struct hash *h, const void *key, size_t klen, void *value);
/* Remove KEY and return its value without freeing it (NULL: absent). */
void *hash_take(struct hash *h, const void *key, size_t klen);
/* Remove KEY, freeing an owned value; 1 when it was there, else 0. */
int hash_del(struct hash *h, const void *key, size_t klen);

/* NUL-terminated string keys. */
#define hash_gets(h, s) hash_get((h), (s), strlen(s))
#define hash_puts(h, s, v) hash_put((h), (s), strlen(s), (v))
#define hash_takes(h, s) hash_take((h), (s), strlen(s))
#define hash_dels(h, s) hash_del((h), (s), strlen(s))

/* Iteration in no particular order:
 *	struct hash_iter it;
 *	hash_iter_init(&it, h);
 *	while (hash_next(&it, &key, &klen, &value)) ...
 * The entry just returned may be deleted (hash_del/hash_take) inside the
 * loop; any other insert or delete ends the iteration's guarantees. */
struct hash_iter {
	const struct hash *h;
	size_t bucket;
	struct hash_entry *next;
};
void hash_iter_init(struct hash_iter *it, const struct hash *h);
/* 1 with KEY (NUL-terminated copy owned by the table), KLEN and VALUE
 * (any may be NULL); 0 at the end. */
int hash_next(struct hash_iter *it, const char **key, size_t *klen, void **value);

#endif
