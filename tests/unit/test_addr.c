/* SPDX-License-Identifier: ISC */
/*
 * test_addr: address normal form (case, IDNA A-labels, <> and blanks,
 * the null sender, what is refused) and the keyed index (same hash for
 * every spelling of one address, another for another address or
 * another key, none without a key), and (issue 20 verifier) a reload's
 * setting of the same keys while another thread hashes: the same key
 * writes nothing, so the reader's results never change (and the
 * ThreadSanitizer build, where a race makes the test exit 66, sees no
 * write racing its reads: the daemon re-sets these keys on every SIGHUP
 * while its loops and pools use them).
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "tap.h"
#include "token.h"

static const unsigned char k2[] = "key two";
static int reader_stop, reader_changed;

/* Hash one address and one Message-ID until told to stop; count results
 * that differ from the first. */
static void *
reader_main(void *arg)
{
	unsigned char first[ADDR_HASH_LEN], h[ADDR_HASH_LEN];
	char tfirst[TOKEN_MSGID_HEX], t[TOKEN_MSGID_HEX];

	(void)arg;
	addr_index_hash("bob@example.org", 15, first);
	token_msgid_hash_hex("<1@example.org>", 15, tfirst);
	while (!__atomic_load_n(&reader_stop, __ATOMIC_ACQUIRE)) {
		addr_index_hash("bob@example.org", 15, h);
		token_msgid_hash_hex("<1@example.org>", 15, t);
		if (memcmp(h, first, sizeof(h)) != 0 || strcmp(t, tfirst) != 0)
			reader_changed++;
	}
	return NULL;
}

static const char *
norm(const char *in)
{
	static char out[ADDR_MAX];

	if (addr_normalise(in, strlen(in), out, sizeof(out)) < 0)
		return "(invalid)";
	return out;
}

int
main(void)
{
	unsigned char a[ADDR_HASH_LEN], b[ADDR_HASH_LEN];
	char hx[ADDR_HASH_HEX];
	static const unsigned char k1[] = "key one";
	pthread_t th;
	int i;

	plan(17);

	ok(strcmp(norm("Bob.Smith@Example.ORG"), "bob.smith@example.org") == 0,
	    "case folded in both parts: %s", norm("Bob.Smith@Example.ORG"));
	ok(strcmp(norm(" <Bob@example.org> "), "bob@example.org") == 0,
	    "angle brackets and blanks dropped");
	ok(strcmp(norm("anna@B\xc3\xbc" "cher.example"), "anna@xn--bcher-kva.example") == 0,
	    "IDN domain to its A-label: %s", norm("anna@B\xc3\xbc" "cher.example"));
	ok(strcmp(norm("<>"), "") == 0 && strcmp(norm(""), "") == 0, "null sender is empty");
	ok(strcmp(norm("no-at-sign"), "(invalid)") == 0, "no @ refused");
	ok(strcmp(norm("@example.org"), "(invalid)") == 0, "empty local part refused");
	ok(strcmp(norm("bob@"), "(invalid)") == 0, "empty domain refused");
	ok(strcmp(norm("bo\nb@example.org"), "(invalid)") == 0, "control character refused");
	ok(strcmp(norm("a@b@example.org"), "a@b@example.org") == 0, "last @ splits");
	addr_set_fold_local(0);
	ok(strcmp(norm("Bob@Example.org"), "Bob@example.org") == 0, "local part kept when folding is off");
	addr_set_fold_local(1);

	ok(addr_index_hash("bob@example.org", 15, a) == -1, "no hash without a key");
	addr_index_set_key(k1, sizeof(k1));
	ok(addr_index_hash("bob@example.org", 15, a) == 0 &&
	    addr_index_hash("<BOB@Example.Org>", 17, b) == 0 && memcmp(a, b, sizeof(a)) == 0,
	    "one hash for every spelling of one address");
	ok(addr_index_hash("bob2@example.org", 16, b) == 0 && memcmp(a, b, sizeof(a)) != 0,
	    "another address, another hash");
	addr_index_set_key(k2, sizeof(k2));
	ok(addr_index_hash("bob@example.org", 15, b) == 0 && memcmp(a, b, sizeof(a)) != 0,
	    "another key, another hash");
	ok(addr_index_hash("nonsense", 8, b) == -1, "no hash of a non-address");
	ok(addr_index_hash_hex("bob@example.org", 15, hx) == 0 && strlen(hx) == 64 &&
	    strspn(hx, "0123456789abcdef") == 64, "hex form: 64 hex digits");

	token_set_key(k2, sizeof(k2));
	pthread_create(&th, NULL, reader_main, NULL);
	for (i = 0; i < 2000; i++) {	/* reloads: the same master key again */
		addr_index_set_key(k2, sizeof(k2));
		token_set_key(k2, sizeof(k2));
	}
	__atomic_store_n(&reader_stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	ok(reader_changed == 0, "the same keys set again while a thread hashes: its results stay");
	return done();
}
