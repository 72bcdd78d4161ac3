/* SPDX-License-Identifier: ISC */
/*
 * hash.c: the one hash table of include/hash.h.  Separate chaining over
 * a power-of-two bucket array that doubles when the table holds more
 * entries than buckets, so chains stay short.  Keys are copied into the
 * entry (NUL-terminated, so string keys can be handed out as C
 * strings); values are pointers the table owns or borrows as its
 * creator said.  The hash is 64-bit FNV-1a started from a per-table
 * random seed (crypto_random_bytes): not a MAC, but enough that an
 * outsider cannot precompute colliding keys for a table it cannot see.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "hash.h"
#include "util.h"

#define HASH_MIN_BUCKETS 16

struct hash_entry {
	struct hash_entry *next;
	uint64_t hv;
	void *value;
	size_t klen;
	char key[];		/* klen bytes + NUL */
};

struct hash {
	struct hash_entry **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count;
	uint64_t seed;
	void (*free_value)(void *);
};

static uint64_t
hash_bytes(uint64_t seed, const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL ^ seed;
	size_t i;

	for (i = 0; i < klen; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	/* final mix so the low bits (the bucket) depend on every byte */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

struct hash *
hash_new(void (*free_value)(void *value))
{
	struct hash *h = xcalloc(1, sizeof(*h));

	h->nbuckets = HASH_MIN_BUCKETS;
	h->buckets = xcalloc(h->nbuckets, sizeof(*h->buckets));
	h->free_value = free_value;
	crypto_random_bytes(&h->seed, sizeof(h->seed));
	return h;
}

void
hash_free(struct hash *h)
{
	struct hash_entry *e, *next;
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->nbuckets; i++)
		for (e = h->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (h->free_value != NULL)
				h->free_value(e->value);
			free(e);
		}
	free(h->buckets);
	free(h);
}

size_t
hash_count(const struct hash *h)
{
	return h->count;
}

static struct hash_entry **
hash_find(const struct hash *h, uint64_t hv, const void *key, size_t klen)
{
	struct hash_entry **pp;

	for (pp = &h->buckets[hv & (h->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hv == hv && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			return pp;
	return NULL;
}

void *
hash_get(const struct hash *h, const void *key, size_t klen)
{
	struct hash_entry **pp = hash_find(h, hash_bytes(h->seed, key, klen), key, klen);

	return pp != NULL ? (*pp)->value : NULL;
}

static void
hash_grow(struct hash *h)
{
	size_t n = h->nbuckets * 2, i;
	struct hash_entry **b, *e, *next;

	if (n < h->nbuckets)
		return;		/* cannot grow further; chains just get longer */
	b = xcalloc(n, sizeof(*b));
	for (i = 0; i < h->nbuckets; i++)
		for (e = h->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hv & (n - 1)];
			b[e->hv & (n - 1)] = e;
		}
	free(h->buckets);
	h->buckets = b;
	h->nbuckets = n;
}

void
hash_put(struct hash *h, const void *key, size_t klen, void *value)
{
	uint64_t hv = hash_bytes(h->seed, key, klen);
	struct hash_entry **pp = hash_find(h, hv, key, klen), *e;

	if (pp != NULL) {
		if (h->free_value != NULL && (*pp)->value != value)
			h->free_value((*pp)->value);
		(*pp)->value = value;
		return;
	}
	if (klen > SIZE_MAX - sizeof(*e) - 1)
		fatal("hash_put: key too long");
	if (h->count >= h->nbuckets)
		hash_grow(h);
	e = xmalloc(sizeof(*e) + klen + 1);
	e->hv = hv;
	e->value = value;
	e->klen = klen;
	if (klen > 0)
		memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	e->next = h->buckets[hv & (h->nbuckets - 1)];
	h->buckets[hv & (h->nbuckets - 1)] = e;
	h->count++;
}

void *
hash_take(struct hash *h, const void *key, size_t klen)
{
	struct hash_entry **pp = hash_find(h, hash_bytes(h->seed, key, klen), key, klen), *e;
	void *v;

	if (pp == NULL)
		return NULL;
	e = *pp;
	*pp = e->next;
	v = e->value;
	free(e);
	h->count--;
	return v;
}

int
hash_del(struct hash *h, const void *key, size_t klen)
{
	struct hash_entry **pp = hash_find(h, hash_bytes(h->seed, key, klen), key, klen), *e;

	if (pp == NULL)
		return 0;
	e = *pp;
	*pp = e->next;
	if (h->free_value != NULL)
		h->free_value(e->value);
	free(e);
	h->count--;
	return 1;
}

/* Point IT->next at the first entry at or after bucket IT->bucket. */
static void
iter_advance(struct hash_iter *it)
{
	while (it->next == NULL && it->bucket < it->h->nbuckets)
		it->next = it->h->buckets[it->bucket++];
}

void
hash_iter_init(struct hash_iter *it, const struct hash *h)
{
	it->h = h;
	it->bucket = 0;
	it->next = NULL;
	iter_advance(it);
}

int
hash_next(struct hash_iter *it, const char **key, size_t *klen, void **value)
{
	struct hash_entry *e = it->next;

	if (e == NULL)
		return 0;
	/* Step past E before handing it out, so the caller may delete it. */
	it->next = e->next;
	iter_advance(it);
	if (key != NULL)
		*key = e->key;
	if (klen != NULL)
		*klen = e->klen;
	if (value != NULL)
		*value = e->value;
	return 1;
}
