/* SPDX-License-Identifier: ISC */
/*
 * test_policy_message: one copy of the message through the EOM stages
 * (issue 11 item 6).  The relay's stage list (headers, dlp, dkim) runs
 * over a 200 KiB message with a Bcc:, a card number (tagged) and an
 * Ed25519 key for the From: domain, and:
 *  - the message buffer is the same allocation before and after;
 *  - the heap never holds more than a fraction of a message beyond it
 *    while the header and DKIM stages run (counted by wrapping
 *    malloc/calloc/realloc/free at link time); the DLP stage stays
 *    under 1.5 message sizes (the scanner's one decoded copy of the
 *    text part, which plain UTF-8/ASCII text is scanned in directly);
 *  - the final message (policy_msg_render) is byte for byte: the added
 *    fields in order (DKIM-Signature, X-Postern-DLP, Received,
 *    X-Postern-SPF), the original header without Bcc:, Date: and
 *    Message-ID:, then the original body untouched; the pieces handed
 *    to the queue (policy_msg_iov) and the header block DKIM signed
 *    (policy_msg_header_block + body) are exactly those bytes, and
 *    re-signing the stored bytes gives the same body hash and h=;
 *  - redaction in place gives the same bytes as redaction into a copy,
 *    when the result is shorter (HTML entity) and when it is longer
 *    (8-bit Subject re-encoded, one long base64 line re-folded);
 *  - policy_msg_remove_field() removes every copy of a field in any
 *    case with its continuation lines, and nothing after the header;
 *    policy_msg_add_verdict() builds the verdicts array.
 */
#include "autoconfig.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "account.h"
#include "buf.h"
#include "config.h"
#include "dkim.h"
#include "dlp.h"
#include "mime.h"
#include "policy.h"
#include "relay.h"
#include "heapcount.h"
#include "tap.h"
#include "util.h"


/* ---- helpers ---- */

#define CARD "4556737586899855"
#define BODY_KIB 200

static char tmpdir[256];

static struct config *
conf(const char *extra)
{
	char *text, err[512];
	struct config *cfg;

	text = xasprintf("data_directory = %s\nhostname = mx.test\n%s", tmpdir, extra);
	cfg = config_parse("test.conf", text, strlen(text), err, sizeof(err));
	free(text);
	if (cfg == NULL)
		fatal("config: %s", err);
	return cfg;
}

/* The account's typed policy as the relay hands it over (domains=a.test),
 * built without the heap so the counts below are the stages' own. */
static char *acme_domains[] = { "a.test" };
static struct account_policy acme_pol;

static const struct account_policy *
acme_policy(void)
{
	size_t i;

	acme_pol.name = "acme";
	acme_pol.domains = acme_domains;
	acme_pol.ndomains = 1;
	for (i = 0; i < ACCOUNT_DLP_NTYPES; i++)
		acme_pol.dlp_action[i] = ACCOUNT_UNSET;
	acme_pol.spf_action = ACCOUNT_UNSET;
	acme_pol.body_retention = acme_pol.event_retention = ACCOUNT_UNSET;
	return &acme_pol;
}

static struct policy_params msg_params;	/* the params of the config under test */

static void
msg_init_params(struct policy_msg *m, const struct config *cfg)
{
	policy_params_from_config(&msg_params, cfg);
	m->params = &msg_params;
}

static void
msg_init(struct policy_msg *m, const struct config *cfg, const char *data, size_t len)
{
	memset(m, 0, sizeof(*m));
	msg_init_params(m, cfg);
	m->account = "acme";
	m->acct = acme_policy();
	m->sender = "app@a.test";
	m->client_helo = "app1.a.test";
	m->client_addr = "192.0.2.7";
	m->protocol = "ESMTPSA";
	buf_init(&m->data, 0);
	buf_append(&m->data, data, len);
	buf_init(&m->verdicts, 0);
}

static const char *
find(const char *hay, size_t n, const char *needle)
{
	size_t l = strlen(needle), i;

	for (i = 0; i + l <= n; i++)
		if (memcmp(hay + i, needle, l) == 0)
			return hay + i;
	return NULL;
}

/* The value of tag NAME= of the first DKIM-Signature in S, unfolded. */
static void
tag_of(const char *s, size_t n, const char *name, char *out, size_t outlen)
{
	const char *h = find(s, n, "DKIM-Signature:"), *p;
	char pat[16];
	size_t o = 0;

	out[0] = '\0';
	if (h == NULL)
		return;
	snprintf(pat, sizeof(pat), " %s=", name);
	if ((p = find(h, n - (size_t)(h - s), pat)) == NULL) {
		snprintf(pat, sizeof(pat), "\t%s=", name);
		if ((p = find(h, n - (size_t)(h - s), pat)) == NULL)
			return;
	}
	for (p += strlen(pat); *p && *p != ';' && o + 1 < outlen; p++)
		if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t')
			out[o++] = *p;
	out[o] = '\0';
}

static void
test_one_copy(void)
{
	static const struct policy_stage stages[] = {
		{ .name = "headers", .run = policy_headers },
		{ .name = "dlp", .run = dlp_policy_stage },
		{ .name = "dkim", .run = dkimsign_stage_run },
	};
	static const char head[] =
	    "From: App <app@a.test>\r\n"
	    "To: x@b.test\r\n"
	    "Bcc: secret@c.test,\r\n"
	    " more@c.test\r\n"
	    "Subject: your order\r\n"
	    "\r\n";
	struct config *cfg = conf("");
	struct dkimsign_keystore *ks = NULL;
	struct policy_msg m;
	struct outcome o;
	struct buf msg, body, fin, hb, sig;
	struct iovec *iov;
	const char *p;
	char err[512], bh1[128], bh2[128], h1[256], h2[256];
	size_t i, n, bodyoff;
	void *before;
	long long peak;
	int rc;

	{
		char dir[512];

		snprintf(dir, sizeof(dir), "%s/dkim", tmpdir);	/* the default key directory */
		ok(dkimsign_keystore_load(dir, 0, &ks, err, sizeof(err)) == 0 &&
		    dkimsign_key_generate(ks, "a.test", "e1", DKIMSIGN_ALG_ED25519, 0, 1, err,
		    sizeof(err)) != NULL && dkimsign_keystore_save(ks, err, sizeof(err)) == 0,
		    "Ed25519 key for a.test");
		dkimsign_keystore_free(ks);
	}

	buf_init(&body, 0);
	for (i = 0; body.len < BODY_KIB * 1024; i++)
		buf_printf(&body, "line %zu of the order confirmation, nothing to see here.\r\n", i);
	buf_append_str(&body, "Paid with " CARD " today.\r\n");
	buf_init(&msg, 0);
	buf_append_str(&msg, head);
	buf_append(&msg, body.data, body.len);

	msg_init(&m, cfg, msg.data, msg.len);
	policy_msg_prepend(&m, "X-Postern-SPF: softfail\r\n", 25);	/* as the relay does */
	before = m.data.data;
	heap_start();
	rc = policy_run(stages, 1, &m, &o);
	peak = heap_stop();
	ok(rc == 0 && o.kind == OUTCOME_OK, "headers stage ok");
	ok(peak < 16 * 1024, "headers stage: %lld octets of heap at most (message %zu)", peak, msg.len);
	heap_start();
	rc = policy_run(stages + 1, 1, &m, &o);
	peak = heap_stop();
	ok(rc == 0 && o.kind == OUTCOME_OK, "dlp stage ok");
	/* the scanner decodes the part once; plain text is scanned as decoded */
	ok(peak < 3 * (long long)msg.len / 2,
	    "dlp stage (the decoded part, no text copy, tag added beside): %lld octets, < 1.5 x %zu",
	    peak, msg.len);
	heap_start();
	rc = policy_run(stages + 2, 1, &m, &o);
	peak = heap_stop();
	ok(rc == 0 && o.kind == OUTCOME_OK, "dkim stage ok");
	ok(peak < 64 * 1024, "dkim stage: %lld octets of heap at most (message %zu)", peak, msg.len);
	ok(m.data.data == before, "the message buffer is the same allocation after all stages");

	buf_init(&fin, 0);
	policy_msg_render(&m, &fin);
	p = fin.data;
	n = fin.len;
	ok(n == policy_msg_len(&m), "policy_msg_len is the final length (%zu)", n);
	ok(strncmp(p, "DKIM-Signature: v=1; a=ed25519-sha256;", 38) == 0, "DKIM-Signature on top");
	{
		const char *dlp = find(p, n, "\r\nX-Postern-DLP: card=1\r\nReceived: from app1.a.test ([192.0.2.7])\r\n");
		const char *spf = find(p, n, "\r\nX-Postern-SPF: softfail\r\nFrom: App <app@a.test>\r\nTo: x@b.test\r\nSubject: your order\r\nDate: ");

		ok(dlp != NULL && spf != NULL && dlp < spf, "then X-Postern-DLP, Received, X-Postern-SPF, the header without Bcc:, Date:");
	}
	ok(find(p, n, "Bcc") == NULL && find(p, n, "secret@c.test") == NULL &&
	    find(p, n, "more@c.test") == NULL, "Bcc: removed with its continuation line");
	ok(find(p, n, "\r\nMessage-ID: <") != NULL, "Message-ID: added");
	ok(n > body.len && memcmp(p + n - body.len, body.data, body.len) == 0 &&
	    memcmp(p + n - body.len - 4, "\r\n\r\n", 4) == 0, "the body is the original, byte for byte");

	/* the pieces for the queue are exactly these bytes */
	{
		struct buf j;

		iov = xcalloc(policy_msg_niov(&m), sizeof(*iov));
		n = policy_msg_iov(&m, iov);
		buf_init(&j, 0);
		for (i = 0; i < n; i++)
			buf_append(&j, iov[i].iov_base, iov[i].iov_len);
		ok(j.len == fin.len && memcmp(j.data, fin.data, j.len) == 0,
		    "queue pieces (%zu) = the final message", n);
		ok(iov[n - 1].iov_base == (char *)m.data.data + policy_msg_header_end(&m, NULL),
		    "the body piece points into the one buffer");
		buf_free(&j);
		free(iov);
	}
	/* what DKIM signed = what is stored */
	buf_init(&hb, 0);
	policy_msg_header_block(&m, &hb);
	(void)policy_msg_header_end(&m, &bodyoff);
	ok(hb.len + (m.data.len - policy_msg_header_end(&m, NULL)) == fin.len &&
	    memcmp(hb.data, fin.data, hb.len) == 0 &&
	    memcmp(fin.data + fin.len - (m.data.len - bodyoff), m.data.data + bodyoff, m.data.len - bodyoff) == 0,
	    "signed header block + body = the final message");
	{
		/* re-sign the stored bytes without our signature: same bh= and h= */
		struct dkimsign_keystore *k2 = NULL;
		char dir[512];
		const char *after = find(fin.data, fin.len, "\r\nX-Postern-DLP:");

		snprintf(dir, sizeof(dir), "%s/dkim", tmpdir);
		buf_init(&sig, 0);
		ok(after != NULL && dkimsign_keystore_load(dir, 1, &k2, err, sizeof(err)) == 0 &&
		    k2->n == 1 && dkimsign_sign_with_key(&msg_params.dkim, &k2->keys[0], after + 2,
		    fin.len - (size_t)(after + 2 - fin.data), &sig, err, sizeof(err)) == 0,
		    "re-sign the stored message");
		tag_of(fin.data, fin.len, "bh", bh1, sizeof(bh1));
		tag_of(sig.data ? sig.data : "", sig.len, "bh", bh2, sizeof(bh2));
		tag_of(fin.data, fin.len, "h", h1, sizeof(h1));
		tag_of(sig.data ? sig.data : "", sig.len, "h", h2, sizeof(h2));
		ok(bh1[0] && strcmp(bh1, bh2) == 0 && h1[0] && strcmp(h1, h2) == 0,
		    "same body hash and signed fields (h=%s)", h1);
		dkimsign_keystore_free(k2);
		buf_free(&sig);
	}
	buf_free(&hb);
	buf_free(&fin);
	policy_msg_free(&m);
	buf_free(&msg);
	buf_free(&body);
	config_free(cfg);
}

/* dlp_redact_in_place() must equal dlp_redact() into a copy. */
static void
redact_same(const char *name, const char *raw, int shorter)
{
	struct mime_limits lim = { 10, 500, 100u << 20 };
	struct buf copy, inplace;
	unsigned mask = 1u << DLP_CARD;
	size_t n1 = 0, n2 = 0, rawlen = strlen(raw);
	void *before;
	int rc;

	buf_init(&copy, 0);
	buf_init(&inplace, 0);
	buf_append_str(&inplace, raw);
	before = inplace.data;
	dlp_redact(raw, rawlen, &lim, mask, &copy, &n1);
	rc = dlp_redact_in_place(&inplace, &lim, mask, &n2);
	ok(rc == 0 && n1 == n2 && n1 > 0 &&
	    inplace.len == copy.len && memcmp(inplace.data, copy.data, copy.len) == 0 &&
	    find(inplace.data, inplace.len, CARD) == NULL,
	    "redaction in place = redaction into a copy: %s (%zu -> %zu octets)", name,
	    rawlen, inplace.len);
	if (shorter)
		ok(inplace.data == before && inplace.len < rawlen, "%s: shorter, same buffer", name);
	else
		ok(inplace.len > rawlen, "%s: longer, one growth", name);
	buf_free(&copy);
	buf_free(&inplace);
}

static void
test_redact_in_place(void)
{
	struct buf b64;
	static const char card_text[] = "Card " CARD " and the rest of a long enough line of text here.";
	char enc[512];
	size_t i;

	redact_same("HTML entity",
	    "Subject: x\r\nContent-Type: text/html\r\n\r\n<p>Card: 4556&#55;37586899855 ok</p>\r\n", 1);
	redact_same("8-bit Subject",
	    "Subject: Caf\xc3\xa9 " CARD "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	    "Card " CARD "\r\nmore\r\n", 0);
	/* one long base64 line (no folding) comes back folded at 76: longer */
	buf_init(&b64, 0);
	buf_append_str(&b64, "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	{
		struct buf t, e;

		buf_init(&t, 0);
		buf_init(&e, 0);
		for (i = 0; i < 8; i++)
			buf_append_str(&t, card_text);
		mime_encode(MIME_CTE_BASE64, t.data, t.len, &e);
		for (i = 0; i < e.len; i++)	/* unfold */
			if (e.data[i] != '\r' && e.data[i] != '\n')
				buf_append(&b64, e.data + i, 1);
		buf_free(&t);
		buf_free(&e);
	}
	buf_append_str(&b64, "\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond " CARD "\r\n--b--\r\n");
	snprintf(enc, sizeof(enc), "one long base64 line");
	redact_same(enc, b64.data, 0);
	buf_free(&b64);
}

static void
test_stage_edits(void)
{
	struct policy_msg m;

	memset(&m, 0, sizeof(m));
	buf_init(&m.data, 0);
	buf_init(&m.verdicts, 0);
	buf_append_str(&m.data, "X-Postern-Spam: score=0\r\n\tsymbols=none\r\nSubject: hi\r\n"
	    "x-postern-spam: again\r\nX-Postern-Spammy: keep\r\n\r\n"
	    "X-Postern-Spam: in the body\r\n");
	policy_msg_remove_field(&m, "X-Postern-Spam");
	is_str(m.data.data, "Subject: hi\r\nX-Postern-Spammy: keep\r\n\r\n"
	    "X-Postern-Spam: in the body\r\n",
	    "remove_field: both copies, any case, the continuation line; not a longer name, not the body");
	policy_msg_add_verdict(&m, "{\"stage\":\"a\"}");
	is_str(m.verdicts.data, "[{\"stage\":\"a\"}]", "add_verdict: the first makes the array");
	policy_msg_add_verdict(&m, "{\"stage\":\"b\"}");
	is_str(m.verdicts.data, "[{\"stage\":\"a\"},{\"stage\":\"b\"}]",
	    "add_verdict: the next is appended");
	buf_reset(&m.verdicts);
	buf_append_str(&m.verdicts, "[]");
	policy_msg_add_verdict(&m, "{}");
	is_str(m.verdicts.data, "[{}]", "add_verdict: into an empty array, no comma");
	buf_free(&m.data);
	buf_free(&m.verdicts);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char *cmd;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_policy_message.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	plan(29);
	test_one_copy();
	test_redact_in_place();
	test_stage_edits();
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("cleanup failed");
	free(cmd);
	return done();
}
