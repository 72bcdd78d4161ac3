/* SPDX-License-Identifier: ISC */
/*
 * test_log_scrub: remote replies are scrubbed of addresses before they
 * are stored or logged (log_scrub, issue 13 item 3), table-driven: an
 * address in <>, bare, several, with a trailing full stop, UTF-8 in the
 * domain, text without an address, a lone '@', truncation to the
 * buffer; and with pseudonymisation off the text is kept as it came.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static const char *
ps(const char *a, char *buf)
{
	return log_pseudonym(a, strlen(a), buf, 64);
}

#define R1 "550 5.1.1 <bob.smith@example.org>: Recipient address rejected"

int
main(void)
{
	static const unsigned char key[32] = { 1, 2, 3 };
	char out[600], want[600], p1[64], p2[64], small[12];

	plan(19);
	log_set_pseudonym_key(key, sizeof(key));
	log_set_pseudonymise(1);
	{
		/* issue 20: the text form without snprintf; the value is
		 * HMAC(HMAC(key, label), lower-cased address), 8 octets in hex */
		unsigned char dk[CRYPTO_HMAC_LEN], md[CRYPTO_HMAC_LEN];
		char hexs[40], got[64], cut[8], wcut[8];
		int i;

		crypto_hmac_sha256(key, sizeof(key), "postern log pseudonym v1", 24, dk);
		crypto_hmac_sha256(dk, sizeof(dk), "bob@example.org", 15, md);
		for (i = 0; i < 8; i++)
			snprintf(hexs + 2 * i, 3, "%02x", md[i]);
		snprintf(want, sizeof(want), "h:%s", hexs);
		is_str(log_pseudonym("Bob@Example.ORG", 15, got, sizeof(got)), want,
		    "pseudonym: h: and the first 8 octets of the keyed hash in hex");
		str_copy(wcut, want, sizeof(wcut));
		is_str(log_pseudonym("Bob@Example.ORG", 15, cut, sizeof(cut)), wcut,
		    "a short buffer gets the pseudonym cut and terminated");
	}
	{
		/* issue 20: log_pseudonym_recent() keeps the last value: the
		 * same answers as log_pseudonym(), a new key's after a change */
		static const unsigned char key2[32] = { 9, 9, 9 };
		char a[64], b[64], c[64], d[64], e[8];

		log_pseudonym("192.0.2.7", 9, a, sizeof(a));
		log_pseudonym("192.0.2.8", 9, b, sizeof(b));
		ok(strcmp(log_pseudonym_recent("192.0.2.7", 9, c, sizeof(c)), a) == 0 &&
		    strcmp(log_pseudonym_recent("192.0.2.7", 9, d, sizeof(d)), a) == 0 &&
		    strcmp(log_pseudonym_recent("192.0.2.8", 9, c, sizeof(c)), b) == 0 &&
		    strcmp(log_pseudonym_recent("192.0.2.7", 9, d, sizeof(d)), a) == 0,
		    "recent pseudonyms: the same as made afresh, kept or not");
		str_copy(want, a, sizeof(e));
		is_str(log_pseudonym_recent("192.0.2.7", 9, e, sizeof(e)), want,
		    "recent pseudonym: a short buffer gets it cut");
		log_set_pseudonym_key(key2, sizeof(key2));
		log_pseudonym("192.0.2.7", 9, b, sizeof(b));
		ok(strcmp(b, a) != 0 && strcmp(log_pseudonym_recent("192.0.2.7", 9, c, sizeof(c)), b) == 0,
		    "recent pseudonym after a key change: the new key's");
		log_set_pseudonym_key(key, sizeof(key));
		ok(strcmp(log_pseudonym_recent("192.0.2.7", 9, c, sizeof(c)), a) == 0,
		    "and the old key's again when it comes back");
	}

	snprintf(want, sizeof(want), "550 5.1.1 <%s>: Recipient address rejected",
	    ps("bob.smith@example.org", p1));
	is_str(log_scrub(R1, strlen(R1),
	    out, sizeof(out)), want, "an address in <> becomes its pseudonym inside the <>");
	ok(strstr(out, "bob") == NULL && strstr(out, "example.org") == NULL, "nothing of it left");

	snprintf(want, sizeof(want), "user %s unknown, try %s.", ps("Bob@Example.ORG", p1),
	    ps("alice+tag@mx.example.com", p2));
	is_str(log_scrub("user Bob@Example.ORG unknown, try alice+tag@mx.example.com.", 59,
	    out, sizeof(out)), want, "two bare addresses; the sentence's full stop kept");
	snprintf(want, sizeof(want), "550 %s no", ps("jürgen@bücher.example", p1));
	is_str(log_scrub("550 jürgen@bücher.example no", strlen("550 jürgen@bücher.example no"),
	    out, sizeof(out)), want, "UTF-8 local part and domain");
	is_str(log_scrub("250 2.0.0 Ok: queued as ABC", 27, out, sizeof(out)),
	    "250 2.0.0 Ok: queued as ABC", "text without an address is unchanged");
	is_str(log_scrub("451 @ and x@ and @y", 19, out, sizeof(out)), "451 @ and x@ and @y",
	    "a lone @ is not an address");
	log_scrub("550 <bob@example.org>", 21, small, sizeof(small));
	is_int(strlen(small), sizeof(small) - 1, "truncated to the buffer, terminated");
	is_str(log_scrub("", 0, out, sizeof(out)), "", "empty text");

	snprintf(want, sizeof(want), "550 <%s> unknown", ps("\"Bob Smith\"@example.org", p1));
	is_str(log_scrub("550 <\"Bob Smith\"@example.org> unknown", 37, out, sizeof(out)), want,
	    "a quoted local part is scrubbed whole");
	snprintf(want, sizeof(want), "550 %s: no", ps("\"a\\\"b c\"@example.org", p1));
	is_str(log_scrub("550 \"a\\\"b c\"@example.org: no", 28, out, sizeof(out)), want,
	    "a quoted local part with an escaped quote");
	snprintf(want, sizeof(want), "550 <%s> no", ps("bob.smith@[192.0.2.1]", p1));
	is_str(log_scrub("550 <bob.smith@[192.0.2.1]> no", 30, out, sizeof(out)), want,
	    "an address literal domain");
	log_set_pseudonymise(0);
	is_str(log_scrub("550 <bob@example.org> no", 24, out, sizeof(out)),
	    "550 <bob@example.org> no", "pseudonymisation off: kept as it came");
	log_set_pseudonymise(1);
	ok(strstr(log_scrub("550 <bob@example.org> no", 24, out, sizeof(out)), "bob") == NULL,
	    "and on again");
	return done();
}
