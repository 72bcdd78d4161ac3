/* SPDX-License-Identifier: ISC */
/*
 * test_dkim.c: unit tests for policy/dkim_*.c: the From: domain parser
 * (table-driven), name validation, TXT splitting, the key store
 * (generate, save, load, modes, activation, removal, refusal of
 * group/world-readable keys) and the EOM stage's signing-domain and
 * tempfail rules.  Signatures are verified by independent verifiers in
 * tests/integration/test_dkim.py; here we check their shape.
 */
#include "autoconfig.h"

#include <sys/stat.h>

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "account.h"
#include "dkim.h"
#include "relay.h"
#include "tap.h"

struct from_case {
	const char *msg;
	const char *want;	/* NULL: no author domain */
};

/* RFC 6376 §3.4.4 relaxed body canonicalisation, the plain way: the
 * reference the signer's streamed form is checked against.  Lines
 * split at LF, one CR before it is the line end's. */
static void
ref_relaxed(const char *b, size_t n, struct buf *out)
{
	size_t i = 0, empty = 0, k;
	struct buf line;

	buf_init(&line, 0);
	while (i < n) {
		const char *nl = memchr(b + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - b) : n, e = end;
		int sp = 0;

		if (nl && e > i && b[e - 1] == '\r')
			e--;
		buf_reset(&line);
		for (k = i; k < e; k++) {
			if (b[k] == ' ' || b[k] == '\t') {
				sp = 1;
				continue;
			}
			if (sp)
				buf_append(&line, " ", 1);
			sp = 0;
			buf_append(&line, b + k, 1);
		}
		if (line.len == 0)
			empty++;
		else {
			for (; empty > 0; empty--)
				buf_append(out, "\r\n", 2);
			buf_append(out, line.data, line.len);
			buf_append(out, "\r\n", 2);
		}
		i = nl ? end + 1 : n;
	}
	buf_free(&line);
}

static const struct from_case from_cases[] = {
	{ "From: a@b.test\r\n\r\nbody\r\n", "b.test" },
	{ "From: \"Joe, Smith\" <joe@Example.TEST>\r\nTo: x@y.test\r\n\r\n", "example.test" },
	{ "from : x@y.test\r\n\r\n", "y.test" },
	{ "From: (comment, with @at.test) a@b.test (c)\r\n\r\n", "b.test" },
	{ "From: a@b.test, c@B.test\r\n\r\n", "b.test" },
	{ "From: a@b.test, c@d.test\r\n\r\n", NULL },
	{ "From: a@b.test\r\nFrom: c@b.test\r\n\r\n", NULL },
	{ "To: a@b.test\r\n\r\n", NULL },
	{ "From: Joe\r\n <joe@fold.test>\r\n\r\n", "fold.test" },
	{ "Subject: x\r\n\r\nFrom: a@body.test\r\n", NULL },
	{ "From: <>\r\n\r\n", NULL },
	{ "From: a@b.test\n\nbody\n", "b.test" },
	{ "From: a@b.test\r\n", "b.test" },
	{ "From: =?utf-8?q?J=C3=B6?= <j@q.test>\r\n\r\n", "q.test" },
	{ "From: \"a@evil.test\" <a@good.test>\r\n\r\n", "good.test" },
	{ "From: a@bad_domain!.test\r\n\r\n", NULL },
	{ "From: nobody\r\n\r\n", NULL },
	{ "From: <a@unterminated.test\r\n\r\n", NULL },
	{ "X-From: a@x.test\r\nFrom: a@real.test\r\n\r\n", "real.test" },
};

static struct config *
cfg_for(const char *dir, const char *extra)
{
	char text[2048], err[512];
	struct config *cfg;

	snprintf(text, sizeof(text), "data_directory = %s\n%s", dir, extra);
	cfg = config_parse("test.conf", text, strlen(text), err, sizeof(err));
	if (cfg == NULL)
		printf("# config: %s\n", err);
	return cfg;
}

static int
count(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;
	int c = 0;

	for (i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			c++;
	return c;
}

/* Run the stage on MSG; returns the outcome code, result in OUT (caller frees). */
static int
run_stage(struct config *cfg, const char *record, const char *msg, struct buf *out)
{
	struct policy_msg m;
	struct policy_params pp;
	struct outcome o;
	struct account *a = NULL;
	char *text;

	if (record != NULL) {
		/* the stage gets the typed policy the relay parses (src/account) */
		text = xmalloc(strlen(record) + 16);
		snprintf(text, strlen(record) + 16, "name=acct\n%s", record);
		a = account_parse(text, strlen(text));
		free(text);
	}
	memset(&m, 0, sizeof(m));
	policy_params_from_config(&pp, cfg);
	m.params = &pp;
	m.account = "acct";
	m.acct = a ? &a->pol : NULL;
	m.sender = "";
	buf_init(&m.data, 0);
	buf_init(&m.verdicts, 0);
	buf_append_str(&m.data, msg);
	dkimsign_stage.run(&m, &o);
	buf_init(out, 0);
	policy_msg_render(&m, out);
	policy_msg_free(&m);
	account_free(a);
	return o.code;
}

/* Concurrent signing while the key store is rewritten (the cache reloads). */
struct worker {
	struct config *cfg;
	const char *msg;
	int signed_ok;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < 25; i++) {
		struct buf b;

		if (run_stage(w->cfg, "domains=a.test", w->msg, &b) == 250 &&
		    count(b.data, b.len, "DKIM-Signature:") == 2)
			w->signed_ok++;
		buf_free(&b);
	}
	return NULL;
}

int
main(void)
{
	char tmpl[] = "/tmp/test_dkim.XXXXXX", dir[600], path[700], err[1024], out[256];
	char edsel[DKIM_SELECTOR_MAX];
	struct dkimsign_keystore *ks, *ks2;
	struct dkimsign_key *k1, *k2, *k3;
	struct config *cfg;
	struct buf b;
	struct stat st;
	size_t i;
	const char *base = getenv("TMPDIR");
	char *tmp;
	const char *msg = "From: News <news@a.test>\r\nTo: r@x.test\r\nSubject: hi\r\n"
	    "Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\nHello\r\n";

	plan(19 + 12 + 4 + 14 + 23);

	/* From: domain, table-driven */
	for (i = 0; i < ARRAY_SIZE(from_cases); i++) {
		const struct from_case *c = &from_cases[i];
		int n = dkimsign_from_domain(c->msg, strlen(c->msg), out, sizeof(out));

		if (c->want)
			ok(n > 0 && strcmp(out, c->want) == 0, "from case %zu -> %s (got %s)", i, c->want,
			    n > 0 ? out : "none");
		else
			ok(n < 0, "from case %zu -> no author domain", i);
	}

	/* names */
	ok(dkimsign_valid_domain("a.test"), "a.test is a domain");
	ok(dkimsign_valid_domain("xn--bcher-kva.example"), "IDN A-label");
	ok(!dkimsign_valid_domain(""), "empty domain refused");
	ok(!dkimsign_valid_domain("a..test"), "empty label refused");
	ok(!dkimsign_valid_domain(".a.test"), "leading dot refused");
	ok(!dkimsign_valid_domain("a/../../etc"), "path characters refused");
	ok(!dkimsign_valid_domain("a test"), "space refused");
	ok(dkimsign_valid_selector("r20261123a"), "selector ok");
	ok(dkimsign_valid_selector("s1.sub"), "dotted selector ok");
	ok(!dkimsign_valid_selector("s 1"), "selector with space refused");
	ok(!dkimsign_valid_selector("../x"), "selector with slash refused");
	ok(!dkimsign_valid_selector("0123456789012345678901234567890123456789012345678901234567890123456789"),
	    "overlong selector refused");

	/* zone line splitting */
	{
		char val[700], name[] = "s._domainkey.a.test";
		const char *p;
		size_t total = 0, maxpart = 0, parts = 0;

		memset(val, 'A', sizeof(val) - 1);
		val[sizeof(val) - 1] = '\0';
		memcpy(val, "v=DKIM1; k=rsa; p=", 18);
		buf_init(&b, 0);
		dkimsign_txt_zone_line(name, val, &b);
		ok(strncmp(b.data, "s._domainkey.a.test. IN TXT ( \"", 31) == 0, "zone line starts with the name");
		for (p = b.data; (p = strchr(p, '"')) != NULL;) {
			const char *q = strchr(p + 1, '"');
			size_t l = (size_t)(q - p - 1);

			total += l;
			parts++;
			if (l > maxpart)
				maxpart = l;
			p = q + 1;
		}
		is_int(total, strlen(val), "strings add up to the whole value");
		ok(maxpart <= 255 && parts == 3, "each string <= 255 octets (%zu parts)", parts);
		ok(strcmp(b.data + b.len - 3, ")\n") == 0 || b.data[b.len - 2] == ')', "zone line closes");
		buf_free(&b);
	}

	/* key store */
	snprintf(tmpl, sizeof(tmpl), "%s", "/tmp/test_dkim.XXXXXX");
	if (base && *base) {
		static char t2[512];

		snprintf(t2, sizeof(t2), "%s/test_dkim.XXXXXX", base);
		tmp = mkdtemp(t2);
	} else {
		tmp = mkdtemp(tmpl);
	}
	snprintf(dir, sizeof(dir), "%s/dkim", tmp);
	ok(dkimsign_keystore_load(dir, 0, &ks, err, sizeof(err)) == 0 && ks->n == 0,
	    "missing key directory is an empty store");
	k1 = dkimsign_key_generate(ks, "A.test", "rsa1", DKIMSIGN_ALG_RSA, 1024, 1, err, sizeof(err));
	ok(k1 != NULL, "generate RSA key (%s)", k1 ? "ok" : err);
	k2 = dkimsign_key_generate(ks, "a.test", NULL, DKIMSIGN_ALG_ED25519, 0, 1, err, sizeof(err));
	ok(k2 != NULL && k2->selector[0] == 'e' && k2->bits == 256, "generate Ed25519 key, selector picked");
	/* key pointers move when the store grows: keep the name */
	str_copy(edsel, k2 ? k2->selector : "", sizeof(edsel));
	ok(dkimsign_key_generate(ks, "a.test", "rsa1", DKIMSIGN_ALG_RSA, 1024, 1, err, sizeof(err)) == NULL,
	    "duplicate selector refused");
	ok(dkimsign_key_generate(ks, "a.test", "x", DKIMSIGN_ALG_RSA, 512, 1, err, sizeof(err)) == NULL,
	    "512-bit RSA refused");
	snprintf(path, sizeof(path), "%s/a.test.rsa1.pem", dir);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "key file is 0600");
	ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "key directory is 0700");
	ok(dkimsign_keystore_save(ks, err, sizeof(err)) == 0, "save metadata");
	ok(dkimsign_keystore_load(dir, 1, &ks2, err, sizeof(err)) == 0 && ks2->n == 2, "load it back");
	k3 = dkimsign_keystore_find(ks2, "a.test", "rsa1");
	ok(k3 && k3->alg == DKIMSIGN_ALG_RSA && k3->bits == 1024 && k3->active && k3->pem &&
	    strncmp(k3->pem, "-----BEGIN PRIVATE KEY-----", 27) == 0, "RSA key metadata and PEM loaded");
	buf_init(&b, 0);
	ok(dkimsign_key_txt(ks2, k3, &b, err, sizeof(err)) == 0 &&
	    strncmp(b.data, "v=DKIM1; k=rsa; p=MIG", 21) == 0, "RSA TXT record");
	{
		/* issue 20: the RSA key is parsed once, at load; signing never
		 * reads the PEM again (libopendkim parsed it per message) */
		struct policy_dkim_params dp;
		struct buf sh;
		char save = k3->pem[11];

		memset(&dp, 0, sizeof(dp));
		buf_init(&sh, 0);
		k3->pem[11] = '#';	/* the PEM is broken from here on */
		ok(k3->evp != NULL && dkimsign_sign_with_key(&dp, k3, "From: a@a.test\r\n\r\nHi\r\n", 23,
		    &sh, err, sizeof(err)) == 0 && strncmp(sh.data,
		    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;", 53) == 0,
		    "RSA signs with the key parsed at load (OpenSSL EVP), not the PEM");
		k3->pem[11] = save;
		buf_free(&sh);
	}
	k3 = dkimsign_keystore_find(ks2, "a.test", edsel);
	ok(k3 && dkimsign_key_txt(ks2, k3, &b, err, sizeof(err)) == 0 &&
	    strncmp(b.data, "v=DKIM1; k=ed25519; p=", 22) == 0 && b.len == 22 + 44,
	    "Ed25519 TXT record: 32-byte raw key");
	{
		/* the relaxed body hash over a line longer than its 16 KiB
		 * buffer (hashed in place) and one not canonical after it */
		struct policy_dkim_params dp;
		struct buf sh, m, cb;
		unsigned char md[EVP_MAX_MD_SIZE];
		char want[64], *bh;
		unsigned mdlen = 0;
		size_t n;

		memset(&dp, 0, sizeof(dp));
		buf_init(&sh, 0);
		buf_init(&m, 0);
		buf_init(&cb, 0);
		buf_append_str(&m, "From: a@a.test\r\n\r\n");
		for (n = 0; n < 40000; n++) {
			buf_append(&m, "x", 1);
			buf_append(&cb, "x", 1);
		}
		buf_append_str(&m, "\r\na  \t b c \r\n\r\n\r\n");
		buf_append_str(&cb, "\r\na b c\r\n");
		EVP_Digest(cb.data, cb.len, md, &mdlen, EVP_sha256(), NULL);
		buf_free(&cb);
		EVP_EncodeBlock((unsigned char *)want, md, (int)mdlen);
		ok(k3 != NULL && dkimsign_sign_with_key(&dp, k3, m.data, m.len, &sh, err,
		    sizeof(err)) == 0 && (bh = strstr(sh.data, "bh=")) != NULL &&
		    strncmp(bh + 3, want, strlen(want)) == 0,
		    "relaxed bh= of a 40,000-octet line and a line with WSP runs is SHA-256 of the "
		    "canonical body (%s)", want);
		buf_free(&sh);
		buf_free(&m);
	}
	{
		/* issue 20: the body hash takes canonical CRLF lines from the
		 * input in place; against a plain reference canonicaliser on
		 * bodies of random WSP, CR, LF, CRLF, blank-line runs and
		 * long lines */
		struct policy_dkim_params dp;
		struct buf sh, m, cb;
		unsigned char md[EVP_MAX_MD_SIZE];
		char want[64], *bh;
		unsigned mdlen = 0, x = 12345;
		size_t it, k, bad = 0;

		memset(&dp, 0, sizeof(dp));
		buf_init(&sh, 0);
		buf_init(&m, 0);
		buf_init(&cb, 0);
		for (it = 0; it < 400; it++) {
			size_t len, body;

			buf_reset(&m);
			buf_reset(&sh);
			buf_reset(&cb);
			buf_append_str(&m, "From: a@a.test\r\n\r\n");
			body = m.len;
			x = x * 1103515245u + 12345u;
			len = it % 50 == 49 ? 17000 + (x >> 16) % 20000 : (x >> 16) % 3000;
			for (k = 0; k < len; k++) {
				static const char *const pieces[] = { "a", "bc", "word ", " ", "  ", "\t",
				    "\r\n", "\r\n", "\r\n", "\n", "\r", " \r\n", "\r\n\r\n" };
				size_t np = it % 50 == 49 ? 4 : ARRAY_SIZE(pieces);

				x = x * 1103515245u + 12345u;
				buf_append_str(&m, pieces[(x >> 16) % np]);
			}
			if (it % 3 == 0)
				buf_append_str(&m, "\r\n");
			ref_relaxed(m.data + body, m.len - body, &cb);
			EVP_Digest(cb.data ? cb.data : "", cb.len, md, &mdlen, EVP_sha256(), NULL);
			EVP_EncodeBlock((unsigned char *)want, md, (int)mdlen);
			if (k3 == NULL || dkimsign_sign_with_key(&dp, k3, m.data, m.len, &sh, err,
			    sizeof(err)) != 0 || (bh = strstr(sh.data, "bh=")) == NULL ||
			    strncmp(bh + 3, want, strlen(want)) != 0) {
				if (bad++ == 0)
					printf("# body %zu (%zu octets): bh= differs from %s\n", it,
					    m.len - body, want);
			}
		}
		ok(bad == 0, "relaxed bh= of 400 random bodies is the reference canonical form's "
		    "(%zu differ)", bad);
		buf_free(&sh);
		buf_free(&m);
		buf_free(&cb);
	}
	buf_free(&b);
	dkimsign_keystore_free(ks2);
	/* a second active RSA key deactivates the first */
	k3 = dkimsign_key_generate(ks, "a.test", "rsa2", DKIMSIGN_ALG_RSA, 1024, 1, err, sizeof(err));
	ok(k3 && !dkimsign_keystore_find(ks, "a.test", "rsa1")->active &&
	    dkimsign_keystore_find(ks, "a.test", edsel)->active, "activation is per algorithm");
	ok(dkimsign_keystore_save(ks, err, sizeof(err)) == 0, "save again");

	/* the stage */
	cfg = cfg_for(tmp, "dkim_signature_expiry = 1h\n");
	is_int(run_stage(cfg, "domains=a.test", msg, &b), 250, "allowed From: domain: ok");
	ok(count(b.data, b.len, "DKIM-Signature:") == 2 && strncmp(b.data, "DKIM-Signature: ", 16) == 0,
	    "two signatures prepended (rsa + ed25519)");
	ok(count(b.data, b.len, "s=rsa2;") == 1 && count(b.data, b.len, "s=rsa1;") == 0,
	    "the active RSA selector signs");
	ok(count(b.data, b.len, "c=relaxed/relaxed") == 2 && count(b.data, b.len, " l=") == 0 &&
	    count(b.data, b.len, "x=") == 2, "relaxed/relaxed, x=, no l=");
	/* both signers (OpenSSL EVP since issue 20) list the names in lower case */
	ok(count(b.data, b.len, "h=from:to:subject:date:from;") == 2, "h= from the list, From oversigned");
	buf_free(&b);
	is_int(run_stage(cfg, "domains=other.test", msg, &b), 250, "From: domain not allowed: ok");
	ok(b.len == strlen(msg) && memcmp(b.data, msg, b.len) == 0, "... and unchanged");
	buf_free(&b);
	/* RFC 8058 §4: List-Unsubscribe and List-Unsubscribe-Post are
	 * signed even when dkim_sign_headers leaves them out */
	{
	struct config *cfg2 = cfg_for(tmp, "dkim_sign_headers = From To\n");
	is_int(run_stage(cfg2, "domains=a.test", "From: a@a.test\r\nTo: b@b.test\r\n"
	    "List-Unsubscribe: <https://u.test/u/x>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHi\r\n", &b), 250,
	    "dkim_sign_headers = From To, a message with List-Unsubscribe: signed");
	ok(count(b.data, b.len, "h=from:to:list-unsubscribe:list-unsubscribe-post:from;") == 2,
	    "... both List-Unsubscribe fields in h= of both signatures");
	buf_free(&b);
	config_free(cfg2);
	}

	run_stage(cfg, "domains=*", msg, &b);
	ok(count(b.data, b.len, "DKIM-Signature:") == 0, "domains=* does not grant other domains' keys");
	buf_free(&b);
	run_stage(cfg, "name=x\ndomains=x.test, *.test\n", msg, &b);
	ok(count(b.data, b.len, "DKIM-Signature:") == 2, "domains=*.test covers a.test");
	buf_free(&b);
	run_stage(cfg, "domains=*.a.test", msg, &b);
	ok(count(b.data, b.len, "DKIM-Signature:") == 0, "domains=*.a.test is strictly below a.test");
	buf_free(&b);

	{
		struct worker w[4];
		pthread_t th[4];
		int t, total = 0;

		for (t = 0; t < 4; t++) {
			w[t].cfg = cfg;
			w[t].msg = msg;
			w[t].signed_ok = 0;
			pthread_create(&th[t], NULL, worker_run, &w[t]);
		}
		for (t = 0; t < 10; t++)
			dkimsign_keystore_save(ks, err, sizeof(err));	/* new inode each time */
		for (t = 0; t < 4; t++) {
			pthread_join(th[t], NULL);
			total += w[t].signed_ok;
		}
		is_int(total, 100, "4 threads x 25 messages signed while the store is rewritten");
	}

	/* refuse a group-readable key: tempfail, never unsigned */
	snprintf(path, sizeof(path), "%s/a.test.rsa2.pem", dir);
	chmod(path, 0640);
	ok(dkimsign_keystore_load(dir, 1, &ks2, err, sizeof(err)) == 0 &&
	    dkimsign_keystore_find(ks2, "a.test", "rsa2")->pem == NULL &&
	    strstr(dkimsign_keystore_find(ks2, "a.test", "rsa2")->load_error, "too open") != NULL,
	    "group-readable key refused at load");
	dkimsign_keystore_free(ks2);
	/* the stage caches keys until the metadata changes: rewrite it */
	ok(dkimsign_keystore_save(ks, err, sizeof(err)) == 0, "metadata rewritten");
	is_int(run_stage(cfg, "domains=a.test", msg, &b), 451, "stage reloads and tempfails with the refused key");
	buf_free(&b);
	chmod(path, 0600);
	config_free(cfg);

	cfg = cfg_for(tmp, "dkim_fallback_domain = nokey.test\n");
	is_int(run_stage(cfg, "domains=b.test", msg, &b), 451, "fallback domain without a key: 451");
	buf_free(&b);
	config_free(cfg);

	ok(dkimsign_key_remove(ks, "a.test", "rsa1", err, sizeof(err)) == 0 &&
	    dkimsign_keystore_find(ks, "a.test", "rsa1") == NULL, "remove a key");
	snprintf(path, sizeof(path), "%s/a.test.rsa1.pem", dir);
	ok(access(path, F_OK) == -1, "its file is gone");
	dkimsign_keystore_free(ks);

	/* a corrupt metadata file is an error with file:line */
	snprintf(path, sizeof(path), "%s/keys", dir);
	{
		FILE *f = fopen(path, "a");

		fputs("domain=x.test selector=\n", f);
		fclose(f);
	}
	ok(dkimsign_keystore_load(dir, 0, &ks, err, sizeof(err)) == -1 && strstr(err, "keys:") != NULL,
	    "bad metadata line reported (%s)", err);

	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			printf("# cleanup failed\n");
	}
	return done();
}
