/* SPDX-License-Identifier: ISC */
/*
 * test_addr: address normal form (case, IDNA A-labels, <> and blanks,
 * the null sender, what is refused) and the keyed index (same hash for
 * every spelling of one address, another for another address or
 * another key, none without a key).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "tap.h"

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
	static const unsigned char k1[] = "key one", k2[] = "key two";

	plan(16);

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
	return done();
}
