/* SPDX-License-Identifier: ISC */
/*
 * test_hash: the one hash table (src/lib/hash.c): string and binary
 * keys (embedded NUL, empty), owned values freed exactly once on
 * replace, delete and hash_free, borrowed values never, take without
 * freeing, growth to 100000 entries with every key still found,
 * iteration that visits each entry once and may delete as it goes.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "tap.h"
#include "util.h"

static int freed;

static void
count_free(void *v)
{
	freed++;
	free(v);
}

int
main(void)
{
	struct hash *h;
	struct hash_iter it;
	const char *key;
	size_t klen, i, n, seen;
	void *v;
	char k[32];
	int all = 1;
	static int borrowed[3];

	plan(17);
	h = hash_new(count_free);
	hash_puts(h, "example.org", xstrdup("one"));
	hash_put(h, "a\0b", 3, xstrdup("nul"));
	hash_put(h, "", 0, xstrdup("empty"));
	is_str(hash_gets(h, "example.org"), "one", "string key");
	is_str(hash_get(h, "a\0b", 3), "nul", "binary key with a NUL");
	ok(hash_get(h, "a", 1) == NULL && hash_get(h, "a\0c", 3) == NULL, "prefixes and neighbours differ");
	is_str(hash_get(h, "", 0), "empty", "empty key");
	hash_puts(h, "example.org", xstrdup("two"));
	ok(freed == 1 && strcmp(hash_gets(h, "example.org"), "two") == 0,
	    "replacing frees the owned old value");
	is_int(hash_count(h), 3, "count");
	v = hash_takes(h, "example.org");
	ok(v != NULL && strcmp(v, "two") == 0 && freed == 1 && hash_gets(h, "example.org") == NULL,
	    "take removes without freeing");
	free(v);
	ok(hash_del(h, "", 0) == 1 && freed == 2 && hash_del(h, "", 0) == 0, "delete frees once");
	hash_free(h);
	is_int(freed, 3, "hash_free frees what is left");

	h = hash_new(NULL);
	hash_puts(h, "x", &borrowed[0]);
	hash_puts(h, "x", &borrowed[1]);
	ok(hash_gets(h, "x") == &borrowed[1], "borrowed values: replace");
	hash_dels(h, "x");
	hash_free(h);
	is_int(freed, 3, "borrowed values are never freed");

	h = hash_new(count_free);
	freed = 0;
	n = 100000;
	for (i = 0; i < n; i++) {
		int *p = xmalloc(sizeof(*p));
		*p = (int)i;
		snprintf(k, sizeof(k), "key-%zu", i);
		hash_puts(h, k, p);
	}
	for (i = 0; i < n && all; i++) {
		int *p;
		snprintf(k, sizeof(k), "key-%zu", i);
		p = hash_gets(h, k);
		all = p != NULL && *p == (int)i;
	}
	ok(all && hash_count(h) == n, "100000 entries after growth, every one found");
	seen = 0;
	hash_iter_init(&it, h);
	while (hash_next(&it, &key, &klen, &v)) {
		seen++;
		if (strlen(key) != klen)
			all = 0;
	}
	ok(seen == n && all, "iteration visits each entry once, keys are C strings");
	/* delete every even value while iterating */
	hash_iter_init(&it, h);
	seen = 0;
	while (hash_next(&it, &key, &klen, &v)) {
		seen++;
		if (*(int *)v % 2 == 0)
			hash_del(h, key, klen);
	}
	ok(seen == n && hash_count(h) == n / 2 && freed == (int)(n / 2),
	    "deleting the current entry during iteration is safe");
	snprintf(k, sizeof(k), "key-%zu", (size_t)7);
	ok(hash_gets(h, k) != NULL && hash_gets(h, "key-8") == NULL, "the right half is left");
	hash_free(h);
	is_int(freed, (int)n, "every owned value freed exactly once");
	h = hash_new(NULL);
	hash_iter_init(&it, h);
	ok(!hash_next(&it, NULL, NULL, NULL), "an empty table iterates nothing");
	hash_free(h);
	return done();
}
