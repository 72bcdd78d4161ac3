/* SPDX-License-Identifier: ISC */
/*
 * test_account: the account record (parse/format round trip, overrides
 * kept verbatim, malformed records refused), scrypt hashing (format,
 * random salt, verification, malformed and hostile hashes), the sender
 * domain check, the hourly rate, and account_auth()
 * off the loop with an in-memory lookup.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "account.h"
#include "dlp.h"
#include "spf.h"
#include "tap.h"

struct sender_case {
	const char *domains;
	const char *addr;
	int want;
};

static const struct sender_case sender_cases[] = {
	{ "example.com", "a@example.com", 1 },
	{ "example.com", "a@EXAMPLE.COM", 1 },
	{ "example.com", "a@sub.example.com", 0 },
	{ "example.com", "a@badexample.com", 0 },
	{ "example.com", "a@example.com.evil", 0 },
	{ "example.com", "", 0 },
	{ "example.com", "example.com", 0 },
	{ "example.com", "\"a@b\"@evil.com", 0 },
	{ "example.com", "\"x@evil.com\"@example.com", 1 },
	{ "example.com", "a@", 0 },
	{ "*.example.com", "a@sub.example.com", 1 },
	{ "*.example.com", "a@example.com", 0 },
	{ "*.example.com", "a@xexample.com", 0 },
	{ "a.test, b.test", "x@b.test", 1 },
	{ "*", "anyone@anywhere.test", 1 },
	{ "*", "", 1 },
	{ "", "a@example.com", 0 },
};

/* In-memory account store for account_auth(). */
static const char *store_text;
static int store_rc;

static int
lookup(void *arg, const char *name, char **text, size_t *len)
{
	(void)arg;
	if (store_rc != 0)
		return store_rc;
	if (store_text == NULL || strcmp(name, "app1") != 0)
		return -ENOENT;
	*text = strdup(store_text);
	*len = strlen(store_text);
	return 0;
}

static int auth_result = -99;
static char auth_name[80];

static void
auth_cb(void *arg, int result, struct account *a)
{
	(void)arg;
	auth_result = result;
	str_copy(auth_name, a ? a->name : "", sizeof(auth_name));
	account_free(a);
}

static int
run_auth(uv_loop_t *loop, const char *name, const char *pw)
{
	auth_result = -99;
	if (account_auth(loop, lookup, NULL, name, pw, strlen(pw), auth_cb, NULL) == NULL)
		return -98;
	uv_run(loop, UV_RUN_DEFAULT);
	return auth_result;
}

int
main(void)
{
	struct account *a, *b;
	struct account_rate *rt;
	char hash[ACCOUNT_HASH_MAX + 1], hash2[ACCOUNT_HASH_MAX + 1], pw[32], pw2[32];
	char *text, *text2, val[64];
	size_t len, len2, i;
	uv_loop_t loop;
	int bad, rc;
	uint64_t t0 = 1000000000000ULL;

	plan(66);

	/* ---- names ---- */
	ok(account_name_valid("app1") && account_name_valid("a.b_c-d"), "valid names");
	ok(!account_name_valid("") && !account_name_valid(".x") && !account_name_valid("-x") &&
	    !account_name_valid("a b") && !account_name_valid("a/b") &&
	    !account_name_valid("a\nb"), "invalid names refused");

	/* ---- record round trip ---- */
	a = account_new("app1");
	ok(account_set_domains(a, "Example.COM, *.example.org example.net") == 0, "set domains");
	is_int(a->pol.ndomains, 3, "three domains");
	is_str(a->pol.domains[0], "example.com", "domains lowercased");
	ok(account_set_domains(a, "ok.test bad..test") == -1 && a->pol.ndomains == 3,
	    "a bad domain leaves the list unchanged");
	ok(account_add_domain(a, "example.com") == 0 && a->pol.ndomains == 3, "duplicate ignored");
	a->pol.max_message_size = 1048576;
	a->pol.max_recipients = 10;
	a->pol.hourly_rate = 500;
	a->created = 42;
	a->pol.suspended = 1;
	ok(account_set_extra(a, "dlp_action_card", "reject") == 0, "set an override");
	ok(account_set_extra(a, "spf_action", "warn") == 0, "set another override");
	ok(account_set_extra(a, "dlp_action_card", "hold") == 0, "replace an override");
	ok(account_set_extra(a, "status", "x") == -1 && account_set_extra(a, "Bad Key", "x") == -1 &&
	    account_set_extra(a, "k", "a\nb") == -1, "bad overrides refused");
	ok(account_hash_password_params("secret", 6, 1024, 8, 1, hash, sizeof(hash)) == 0,
	    "hash with low cost");
	str_copy(a->password, hash, sizeof(a->password));
	text = account_format(a, &len);
	ok(strstr(text, "name=app1\n") == text, "record starts with the name");
	ok(kv_get(text, "dlp_action_card", val, sizeof(val)) > 0 && strcmp(val, "hold") == 0,
	    "override readable with kv_get");
	ok(kv_get(text, "status", val, sizeof(val)) > 0 && strcmp(val, "suspended") == 0,
	    "status stored");
	b = account_parse(text, len);
	ok(b != NULL, "record parses");
	text2 = account_format(b, &len2);
	is_mem(text2, len2, text, len, "format(parse(format(a))) == format(a)");
	ok(b->pol.suspended && b->pol.max_message_size == 1048576 && b->pol.max_recipients == 10 &&
	    b->pol.hourly_rate == 500 && b->created == 42 && b->pol.ndomains == 3, "fields survive");
	ok(strcmp(b->password, hash) == 0, "hash survives");
	free(text);
	free(text2);
	account_free(a);
	account_free(b);

	/* ---- malformed records ---- */
	bad = 0;
	bad += account_parse("status=active\n", 14) != NULL;
	bad += account_parse("name=a b\n", 9) != NULL;
	bad += account_parse("name=x\nstatus=frozen\n", 21) != NULL;
	bad += account_parse("name=x\nmax_recipients=-1\n", 25) != NULL;
	bad += account_parse("name=x\nmax_message_size=1k\n", 27) != NULL;
	bad += account_parse("name=x\ndomains=a..b\n", 20) != NULL;
	is_int(bad, 0, "malformed records refused");
	a = account_parse("name=x", 6);
	ok(a != NULL && !a->pol.suspended && a->pol.ndomains == 0 && a->password[0] == '\0',
	    "minimal record: active, no domains, no password");
	account_free(a);

	/* ---- passwords ---- */
	ok(strncmp(hash, "scrypt$1024$8$1$", 16) == 0, "hash format scrypt$N$r$p$...");
	ok(account_hash_password_params("secret", 6, 1024, 8, 1, hash2, sizeof(hash2)) == 0 &&
	    strcmp(hash, hash2) != 0, "fresh salt each time");
	is_int(account_verify_password(hash, "secret", 6), 1, "right password verifies");
	is_int(account_verify_password(hash, "secreT", 6), 0, "wrong password fails");
	is_int(account_verify_password(hash, "secret", 5), 0, "prefix fails");
	is_int(account_verify_password(hash, "", 0), 0, "empty fails");
	is_int(account_verify_password(hash2, "secret", 6), 1, "second hash verifies too");
	ok(account_hash_password("pw with spaces \xc3\xa9", 17, hash2, sizeof(hash2)) == 0 &&
	    strncmp(hash2, "scrypt$16384$8$1$", 17) == 0, "default cost N=16384 r=8 p=1");
	is_int(account_verify_password(hash2, "pw with spaces \xc3\xa9", 17), 1,
	    "default-cost hash verifies (UTF-8 password)");
	is_int(account_verify_password("scrypt$1024$8$1$AAAA$AAAA", "x", 1), -1, "short salt: malformed");
	is_int(account_verify_password("scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "x", 1), -1, "N not a power of 2");
	is_int(account_verify_password("scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "x", 1), -1, "huge N refused");
	is_int(account_verify_password("bcrypt$x", "x", 1), -1, "other scheme: malformed");
	is_int(account_verify_password("", "x", 1), -1, "empty hash: malformed");
	is_int(account_verify_password("scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "x", 1), 0,
	    "well-formed dummy hash: no match");
	account_generate_password(pw, sizeof(pw));
	account_generate_password(pw2, sizeof(pw2));
	ok(strlen(pw) == 24 && strspn(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == 24 && strcmp(pw, pw2) != 0, "generated passwords: 24 chars, random");

	/* ---- sender domains ---- */
	bad = 0;
	for (i = 0; i < ARRAY_SIZE(sender_cases); i++) {
		a = account_new("s");
		if (*sender_cases[i].domains)
			(void)account_set_domains(a, sender_cases[i].domains);
		rc = account_sender_allowed(&a->pol, sender_cases[i].addr, strlen(sender_cases[i].addr));
		if (rc != sender_cases[i].want) {
			bad++;
			diag("domains '%s' addr '%s': got %d", sender_cases[i].domains,
			    sender_cases[i].addr, rc);
		}
		account_free(a);
	}
	is_int(bad, 0, "%zu sender cases", ARRAY_SIZE(sender_cases));


	/* ---- hourly rate ---- */
	rt = account_rate_new();
	t0 = 3600000ULL * 1000;	/* on an hour boundary */
	bad = 0;
	for (i = 0; i < 5; i++)
		bad += account_rate_take(rt, "app1", t0 + i, 5) != 0;
	is_int(bad, 0, "5 messages within a limit of 5");
	is_int(account_rate_take(rt, "app1", t0 + 10, 5), -1, "6th refused");
	is_int(account_rate_take(rt, "app2", t0 + 10, 5), 0, "other account unaffected");
	account_rate_untake(rt, "app1", t0 + 11);
	is_int(account_rate_take(rt, "app1", t0 + 12, 5), 0, "a returned message frees a slot");
	is_int(account_rate_take(rt, "app1", t0 + 3600000 + 60000, 5), -1,
	    "one minute into the next hour the last hour still counts");
	is_int(account_rate_take(rt, "app1", t0 + 2 * 3600000, 5), 0, "two hours later: allowed");
	is_int(account_rate_take(rt, "app1", t0, 0), 0, "limit 0 = unlimited");
	account_rate_free(rt);

	/* ---- off-loop auth ---- */
	uv_loop_init(&loop);
	a = account_new("app1");
	str_copy(a->password, hash, sizeof(a->password));
	text = account_format(a, &len);
	account_free(a);
	store_text = text;
	store_rc = 0;
	is_int(run_auth(&loop, "app1", "secret"), 1, "auth: right password");
	is_str(auth_name, "app1", "auth: account handed to the callback");
	is_int(run_auth(&loop, "app1", "wrong"), 0, "auth: wrong password");
	is_int(run_auth(&loop, "nobody", "secret"), 0, "auth: unknown name looks like a wrong password");
	store_rc = -EIO;
	is_int(run_auth(&loop, "app1", "secret"), -1, "auth: lookup error is a tempfail");
	store_rc = 0;
	{
		struct account_auth_req *req;

		auth_result = -99;
		req = account_auth(&loop, lookup, NULL, "app1", "secret", 6, auth_cb, NULL);
		account_auth_cancel(req);
		uv_run(&loop, UV_RUN_DEFAULT);
		is_int(auth_result, -99, "auth: cancelled request does not call back");
	}
	free(text);
	uv_loop_close(&loop);
	/* ---- the typed policy: settings checked, parsed once, unknown lines kept ---- */
	{
		char err[256];
		static const char rec[] = "name=p1\nstatus=active\ndlp_action_ssn=reject\n"
		    "spf_action=warn\nbody_retention=1h\nfoo=bar\ndlp_action_card=bogus\n";
		struct account_policy pol;
		char *t;
		size_t tl;

		err[0] = '\0';
		ok(account_setting_check("foo", "bar", err, sizeof(err)) == -1 &&
		    strstr(err, "unknown setting 'foo'") != NULL, "unknown key refused: %s", err);
		ok(account_setting_check("dlp_action_card", "bogus", err, sizeof(err)) == -1 &&
		    strstr(err, "expected ignore, tag, redact, hold or reject") != NULL,
		    "bad DLP action refused: %s", err);
		ok(account_setting_check("spf_action", "sometimes", err, sizeof(err)) == -1 &&
		    account_setting_check("event_retention", "soon", err, sizeof(err)) == -1,
		    "bad SPF action and duration refused");
		ok(account_setting_check("status", "suspended", err, sizeof(err)) == -1 &&
		    account_setting_check("Bad Key", "x", err, sizeof(err)) == -1,
		    "fixed fields and malformed names refused");
		ok(account_setting_check("dlp_action_iban", "redact", err, sizeof(err)) == 0 &&
		    account_setting_check("body_retention", "7d", err, sizeof(err)) == 0,
		    "valid settings pass");
		ok(account_setting_check("foo", NULL, err, sizeof(err)) == 0,
		    "removing an unknown key is allowed (clean-up)");
		ok(account_setting_check("spf_action", "a\nb", err, sizeof(err)) == -1,
		    "a value with a newline is refused");

		a = account_parse(rec, strlen(rec));
		ok(a != NULL, "a record with an unknown key and a bad value still loads");
		ok(a && a->pol.dlp_action[DLP_SSN] == DLP_REJECT &&
		    a->pol.dlp_action[DLP_CARD] == ACCOUNT_UNSET &&
		    a->pol.dlp_action[DLP_IBAN] == ACCOUNT_UNSET, "DLP actions typed; the bad one unset");
		ok(a && a->pol.spf_action == SPF_ACTION_WARN && a->pol.body_retention == 3600000 &&
		    a->pol.event_retention == ACCOUNT_UNSET, "SPF action and retention typed");
		ok(a && strcmp(a->pol.name, "p1") == 0, "the policy names its account");
		t = a ? account_format(a, &tl) : NULL;
		ok(t && strstr(t, "\nfoo=bar\n") && strstr(t, "\ndlp_action_card=bogus\n"),
		    "unknown and bad lines are kept verbatim");
		free(t);
		ok(a && account_set_extra(a, "spf_action", "reject") == 0 &&
		    a->pol.spf_action == SPF_ACTION_REJECT && account_set_extra(a, "spf_action", NULL) == 0 &&
		    a->pol.spf_action == ACCOUNT_UNSET, "set / remove update the typed field");
		ok(a && account_set_extra(a, "foo", "baz") == -1, "account_set_extra refuses unknown keys");
		account_free(a);
		ok(account_policy_read(NULL, rec, strlen(rec), &pol) == 0 &&
		    pol.body_retention == 3600000 && pol.domains == NULL && pol.name == NULL,
		    "account_policy_read: scalars for the queue, no borrowed pointers");
	}
	return done();
}
