/* SPDX-License-Identifier: ISC */
/*
 * test_suppress: the pure parts of suppression lists (issue 14): the
 * record format and its parser, scopes and hashes, VERP/unsubscribe
 * tokens (made, checked in any case, forged, altered, of the other
 * kind, truncated), the RCPT stage over a fake lookup seam (reject
 * 550 5.7.1 with the reason, drop, lookup error, the account's
 * override), and the EOM List-Unsubscribe stage (one-click with both
 * header fields, mailto only, the customer's own field kept, several
 * recipients left alone, off).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "buf.h"
#include "crypto.h"
#include "policy.h"
#include "report.h"
#include "suppress.h"
#include "tap.h"
#include "token.h"
#include "util.h"

static int fake_rc;
static char fake_action[16];

static int
fake_suppressed(void *arg, const char *account, const char *rcpt, const char *action,
    char *reason, size_t reasonlen)
{
	(void)arg;
	(void)account;
	(void)rcpt;
	str_copy(fake_action, action, sizeof(fake_action));
	if (fake_rc == 1)
		snprintf(reason, reasonlen, "complaint");
	return fake_rc;
}

static void
test_records(void)
{
	struct suppress_rec r, back;
	enum suppress_reason rs;
	char *text, key[SUPPRESS_KEY_MAX];
	size_t len;

	memset(&r, 0, sizeof(r));
	r.reason = SUPPRESS_HARD_BOUNCE;
	suppress_set_source(&r, "5.1.1\n\x01x");
	r.created = 1000;
	r.expires = 2000;
	is_str(r.source, "5.1.1x", "source keeps printable ASCII only");
	text = suppress_format(&r, &len);
	ok(suppress_parse(text, len, &back) == 0 && back.reason == SUPPRESS_HARD_BOUNCE &&
	    back.created == 1000 && back.expires == 2000 && strcmp(back.source, "5.1.1x") == 0,
	    "format -> parse round trip");
	ok(strstr(text, "@") == NULL, "the record holds no address");
	free(text);
	ok(suppress_parse("reason=bogus\ncreated=1\nexpires=0\n", 34, &back) == -1,
	    "unknown reason refused");
	ok(suppress_parse("reason=manual\ncreated=x\nexpires=0\n", 34, &back) == -1,
	    "bad time refused");
	ok(suppress_active(&r, 1999) && !suppress_active(&r, 2000), "expiry");
	r.expires = 0;
	ok(suppress_active(&r, UINT64_MAX), "0 = never expires");
	ok(suppress_parse_reason("unsubscribe", &rs) == 0 && rs == SUPPRESS_UNSUBSCRIBE,
	    "reason words");
	ok(suppress_scope_valid("*") && suppress_scope_valid("app1") && !suppress_scope_valid("a/b")
	    && !suppress_scope_valid(""), "scopes: * or an account name");
	ok(suppress_hash_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	    && !suppress_hash_valid("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")
	    && !suppress_hash_valid("abc"), "hashes: 64 lower-case hex digits");
	suppress_key("app1", "ab", key, sizeof(key));
	is_str(key, "app1/ab", "key = scope/hash");
}

static void
test_tokens(void)
{
	const char *id = "01M8S05Z866B09F63XR8";
	char tok[TOKEN_LEN + 1], tok2[TOKEN_LEN + 1], up[TOKEN_LEN + 1], got[21];
	uint32_t no = 99;
	size_t i;

	ok(token_make(TOKEN_UNSUBSCRIBE, id, 7, tok) == -1, "no key: no token");
	token_set_key((const unsigned char *)"master key bytes", 16);
	ok(token_make(TOKEN_UNSUBSCRIBE, id, 7, tok) == 0 && strlen(tok) == TOKEN_LEN,
	    "token of %d characters: %s", TOKEN_LEN, tok);
	for (i = 0; i < TOKEN_LEN && ((tok[i] >= '0' && tok[i] <= '9') ||
	    (tok[i] >= 'a' && tok[i] <= 'z')); i++)
		;
	is_int(i, TOKEN_LEN, "only [0-9a-z]");
	ok(token_check(TOKEN_UNSUBSCRIBE, tok, TOKEN_LEN, got, &no) == 0 && strcmp(got, id) == 0 &&
	    no == 7, "checks back to the id and recipient number");
	for (i = 0; i <= TOKEN_LEN; i++)
		up[i] = (char)(tok[i] >= 'a' && tok[i] <= 'z' ? tok[i] - 32 : tok[i]);
	ok(token_check(TOKEN_UNSUBSCRIBE, up, TOKEN_LEN, got, &no) == 0, "any case");
	ok(token_check(TOKEN_BOUNCE, tok, TOKEN_LEN, got, &no) == -1,
	    "an unsubscribe token is no bounce token");
	memcpy(tok2, tok, sizeof(tok2));
	tok2[22] = tok2[22] == '1' ? '2' : '1';	/* another recipient */
	ok(token_check(TOKEN_UNSUBSCRIBE, tok2, TOKEN_LEN, got, &no) == -1, "altered number: forged");
	memcpy(tok2, tok, sizeof(tok2));
	tok2[3] = tok2[3] == 'a' ? 'b' : 'a';	/* another message */
	ok(token_check(TOKEN_UNSUBSCRIBE, tok2, TOKEN_LEN, got, &no) == -1, "altered id: forged");
	memcpy(tok2, tok, sizeof(tok2));
	tok2[TOKEN_LEN - 1] = tok2[TOKEN_LEN - 1] == 'z' ? 'y' : 'z';
	ok(token_check(TOKEN_UNSUBSCRIBE, tok2, TOKEN_LEN, got, &no) == -1, "altered MAC: forged");
	ok(token_check(TOKEN_UNSUBSCRIBE, tok, TOKEN_LEN - 1, got, &no) == -1, "truncated: refused");
	ok(token_check(TOKEN_UNSUBSCRIBE, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", TOKEN_LEN, got,
	    &no) == -1, "garbage: refused");
	ok(token_make(TOKEN_BOUNCE, "short", 0, tok2) == -1 &&
	    token_make(TOKEN_BOUNCE, id, TOKEN_MAX_RCPT + 1, tok2) == -1, "bad id or number: no token");
	token_set_key((const unsigned char *)"another master", 14);
	ok(token_check(TOKEN_UNSUBSCRIBE, tok, TOKEN_LEN, got, &no) == -1,
	    "another master key: the token no longer checks");
	token_set_key((const unsigned char *)"master key bytes", 16);
}

static void
test_stage(void)
{
	struct policy_env env;
	struct policy_params pp;
	struct policy_req req;
	struct account *a = account_new("app1");
	struct outcome o;

	memset(&env, 0, sizeof(env));
	env.suppressed = fake_suppressed;
	memset(&pp, 0, sizeof(pp));
	memset(&req, 0, sizeof(req));
	req.id = "t";
	req.env = &env;
	req.params = &pp;
	req.rcpt = "r@example.test";
	req.acct = &a->pol;

	fake_rc = 0;
	outcome_ok(&o);
	policy_stage_suppression(&req, &o);
	ok(o.kind == OUTCOME_OK && !req.rcpt_drop, "not suppressed: ok");
	fake_rc = 1;
	policy_stage_suppression(&req, &o);
	ok(o.kind == OUTCOME_PERMFAIL && o.code == 550 && strcmp(o.enhanced, "5.7.1") == 0 &&
	    strstr(o.text, "suppression list (complaint)") != NULL && strcmp(fake_action, "reject") == 0,
	    "suppressed: 550 5.7.1 with the reason (%d %s %s)", o.code, o.enhanced, o.text);
	pp.suppress.drop = 1;
	outcome_ok(&o);
	policy_stage_suppression(&req, &o);
	ok(o.kind == OUTCOME_OK && req.rcpt_drop && strcmp(fake_action, "drop") == 0,
	    "suppression_action=drop: ok, marked dropped");
	req.rcpt_drop = 0;
	a->pol.suppression_action = 0;	/* the account says reject */
	policy_stage_suppression(&req, &o);
	ok(o.kind == OUTCOME_PERMFAIL && !req.rcpt_drop, "the account's reject overrides drop");
	fake_rc = -1;
	outcome_ok(&o);
	policy_stage_suppression(&req, &o);
	ok(o.kind == OUTCOME_TEMPFAIL && o.code == 451, "lookup error: 451");
	account_free(a);
}

static char *
run_lu(const char *msg, int mode, const char *url, const char *domain, size_t nrcpts,
    const char *acct_domain)
{
	struct policy_msg m;
	struct policy_params pp;
	struct account *a = account_new("app1");
	const char *rcpts[2] = { "r@example.test", "s@example.test" };
	struct outcome o;
	struct buf b;

	memset(&m, 0, sizeof(m));
	memset(&pp, 0, sizeof(pp));
	pp.suppress.list_unsubscribe = mode;
	pp.suppress.unsubscribe_url = url;
	pp.suppress.feedback_domain = domain;
	if (acct_domain)
		str_copy(a->pol.return_path_domain, acct_domain, sizeof(a->pol.return_path_domain));
	m.params = &pp;
	m.acct = &a->pol;
	m.rcpts = rcpts;
	m.nrcpts = nrcpts;
	str_copy(m.msgid, "01M8S05Z866B09F63XR8", sizeof(m.msgid));
	buf_init(&m.data, 0);
	buf_append_str(&m.data, msg);
	outcome_ok(&o);
	policy_list_unsubscribe(&m, &o);
	buf_init(&b, 0);
	policy_msg_render(&m, &b);
	policy_msg_free(&m);
	account_free(a);
	return buf_steal(&b, NULL);
}

static void
test_list_unsubscribe(void)
{
	const char *msg = "From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n";
	char *out;

	out = run_lu(msg, POLICY_LU_ONE_CLICK, "https://u.example/u/", "fb.example", 1, NULL);
	ok(strstr(out, "List-Unsubscribe: <https://u.example/u/") != NULL &&
	    strstr(out, ">,\r\n <mailto:u+") != NULL && strstr(out, "@fb.example>\r\n") != NULL &&
	    strstr(out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL,
	    "one-click: URL, mailto and List-Unsubscribe-Post");
	ok(strstr(out, "Subject: hi\r\nList-Unsubscribe:") != NULL &&
	    strstr(out, "One-Click\r\n\r\nbody") != NULL, "... at the end of the header section");
	free(out);
	out = run_lu(msg, POLICY_LU_MAILTO, "https://u.example/u/", "fb.example", 1, "rp.example");
	ok(strstr(out, "List-Unsubscribe: <mailto:u+") != NULL && strstr(out, "@rp.example>") != NULL
	    && strstr(out, "List-Unsubscribe-Post") == NULL && strstr(out, "https:") == NULL,
	    "mailto: the account's return_path_domain, no Post field");
	free(out);
	out = run_lu("From: a@x\r\nlist-unsubscribe: <mailto:own@x>\r\n\r\nb\r\n", POLICY_LU_ONE_CLICK,
	    "https://u.example/u/", "fb.example", 1, NULL);
	ok(strstr(out, "u+") == NULL && strstr(out, "List-Unsubscribe-Post") == NULL,
	    "the message's own List-Unsubscribe is kept alone");
	free(out);
	out = run_lu("From: a@x\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nb\r\n",
	    POLICY_LU_ONE_CLICK, "https://u.example/u/", "fb.example", 1, NULL);
	ok(strstr(out, "u+") == NULL && strstr(out, "List-Unsubscribe:") == NULL,
	    "a message with its own List-Unsubscribe-Post gets no second one");
	free(out);
	out = run_lu(msg, POLICY_LU_ONE_CLICK, "https://u.example/u/", "fb.example", 2, NULL);
	ok(strstr(out, "List-Unsubscribe") == NULL, "several recipients: no header (a token names one)");
	free(out);
	out = run_lu(msg, POLICY_LU_OFF, "https://u.example/u/", "fb.example", 1, NULL);
	ok(strstr(out, "List-Unsubscribe") == NULL, "off: nothing added");
	free(out);
}

static void
test_report(void)
{
	const char *dsn =
	    "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report;\r\n"
	    " report-type=delivery-status; boundary=\"BB\"\r\n\r\n"
	    "--BB\r\nContent-Type: text/plain\r\n\r\nAction: failed\r\nStatus: 5.7.1\r\n"
	    "--BB\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
	    "Final-Recipient: rfc822; a@b\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n"
	    "Final-Recipient: rfc822; c@d\r\nAction: FAILED\r\nStatus: 5.1.1 (no such user)\r\n\r\n"
	    "--BB--\r\n";
	const char *arf =
	    "Content-Type: multipart/report; report-type=\"feedback-report\"; boundary=AA\r\n\r\n"
	    "--AA\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: Abuse\r\n\r\n"
	    "--AA\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Return-Path: <B+01M8S05Z866B09F63XR8000ABCDEFGHJKMNPQRS@fb.test>\r\n"
	    "List-Unsubscribe: <https://u/u/01m8s05z866b09f63xr8000abcdefghjkmnpqrsx>\r\n\r\n--AA--\r\n";
	struct report r;

	is_int(report_parse(dsn, strlen(dsn), &r), REPORT_DSN, "DSN: folded Content-Type read");
	ok(r.failed && strcmp(r.status, "5.1.1") == 0,
	    "DSN: the failed block's status, not the delayed one nor the text part's (%s)", r.status);
	ok(r.nfail == 1 && strcmp(r.fail[0].final_rcpt, "c@d") == 0 &&
	    strcmp(r.fail[0].status, "5.1.1") == 0, "DSN: the failed block with its Final-Recipient");
	{
		const char *d2 =
		    "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
		    "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
		    "Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n"
		    "Original-Recipient: RFC822;<X@Y.test>\r\nFinal-Recipient: rfc822;x@z\r\n"
		    "Action: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n";

		report_parse(d2, strlen(d2), &r);
		ok(r.nfail == 2 && strcmp(r.fail[0].status, "5.2.2") == 0 &&
		    strcmp(r.fail[1].status, "5.1.1") == 0 && strcmp(r.fail[1].orig_rcpt, "X@Y.test") == 0 &&
		    strcmp(r.fail[1].final_rcpt, "x@z") == 0 && r.fail[0].orig_rcpt[0] == '\0',
		    "DSN: two failed blocks, each with its recipients (%s, %s)", r.fail[1].orig_rcpt,
		    r.fail[1].final_rcpt);
	}
	is_int(report_parse(arf, strlen(arf), &r), REPORT_ARF, "ARF: quoted report-type");
	is_str(r.feedback_type, "abuse", "ARF: Feedback-Type, lower case");
	is_str(r.btoken, "01m8s05z866b09f63xr8000abcdefghjkmnpqrs", "ARF: b+ token of the original, lower case");
	is_str(r.utoken, "", "a 40-character run is no token");
	{
		const char *a2 =
		    "Content-Type: multipart/report; report-type=feedback-report; boundary=AA\r\n\r\n"
		    "--AA\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: fraud\r\n"
		    "Original-Rcpt-To: <x@y.test>\r\n\r\n--AA\r\nContent-Type: text/rfc822-headers\r\n\r\n"
		    "Received: from a (b) by mx.test (postern) with ESMTPSA id 01M8S05Z866B09F63XR8;\r\n"
		    "\tTue, 1 Dec 2026\r\n\r\n--AA--\r\n";

		report_parse(a2, strlen(a2), &r);
		ok(strcmp(r.qid, "01M8S05Z866B09F63XR8") == 0 && strcmp(r.orig_rcpt, "<x@y.test>") == 0 &&
		    strcmp(r.feedback_type, "fraud") == 0,
		    "ARF: queue id of our Received: and Original-Rcpt-To (%s, %s)", r.qid, r.orig_rcpt);
	}
	is_int(report_parse("Subject: x\r\n\r\nremove\r\n", 24, &r), REPORT_NONE, "plain mail: no report");
	is_int(report_parse("", 0, &r), REPORT_NONE, "empty input");
}

/* The Message-ID index's hash (token_msgid_hash_hex()), the ARF
 * parser's original Message-ID, and policy_headers() handing it on. */
static void
test_message_id(void)
{
	char a[TOKEN_MSGID_HEX], b[TOKEN_MSGID_HEX], c[TOKEN_MSGID_HEX];
	char big[1200];
	struct report r;
	struct policy_msg m;
	struct policy_params pp;
	struct outcome o;
	const char *arf =
	    "Message-ID: <report.1@provider.test>\r\n"
	    "Content-Type: multipart/report; report-type=feedback-report; boundary=AA\r\n\r\n"
	    "--AA\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n\r\n"
	    "--AA\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: x\r\n"
	    "message-id:\r\n\t<Orig.7@A.Test> (comment)\r\nTo: y\r\n\r\n--AA--\r\n";
	const char *arf_none =
	    "Message-ID: <report.1@provider.test>\r\n"
	    "Content-Type: multipart/report; report-type=feedback-report; boundary=AA\r\n\r\n"
	    "--AA\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n\r\n"
	    "--AA--\r\n";

	token_set_key((const unsigned char *)"master key bytes", 16);
	ok(token_msgid_hash_hex("<x.1@a.test>", 12, a) == 0 && strlen(a) == 64, "Message-ID hash: 64 hex");
	{
		/* its definition, made here step by step: HMAC(HMAC(HMAC(master,
		 * "postern token v1"), "postern message-id v1"), id) */
		unsigned char k1[32], k2[32], mac[32];
		char hex[65];
		size_t i;

		crypto_hmac_sha256("master key bytes", 16, "postern token v1", 16, k1);
		crypto_hmac_sha256(k1, 32, "postern message-id v1", 21, k2);
		crypto_hmac_sha256(k2, 32, "x.1@a.test", 10, mac);
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		is_str(a, hex, "Message-ID hash: the documented derivation");
	}
	ok(token_msgid_hash_hex(" x.1@A.TEST ", 12, b) == 0 && strcmp(a, b) == 0,
	    "without brackets, padded, domain in upper case: the same hash");
	ok(token_msgid_hash_hex("<X.1@a.test>", 12, c) == 0 && strcmp(a, c) != 0,
	    "the left part compares exactly");
	memset(big, 'x', sizeof(big));
	ok(token_msgid_hash_hex("<>", 2, c) == -1 && token_msgid_hash_hex(big, sizeof(big), c) == -1,
	    "empty or over 998 octets: no hash");
	token_set_key((const unsigned char *)"another master", 14);
	ok(token_msgid_hash_hex("<x.1@a.test>", 12, c) == 0 && strcmp(a, c) != 0,
	    "keyed: another master key, another hash");
	token_set_key((const unsigned char *)"master key bytes", 16);

	report_parse(arf, strlen(arf), &r);
	ok(token_msgid_hash_hex(r.orig_message_id, strlen(r.orig_message_id), b) == 0 &&
	    token_msgid_hash_hex("<Orig.7@a.test>", 15, c) == 0 && strcmp(b, c) == 0,
	    "ARF: the quoted original's folded Message-ID (%s)", r.orig_message_id);
	report_parse(arf_none, strlen(arf_none), &r);
	is_str(r.orig_message_id, "", "ARF without the original: not the report's own Message-ID");

	memset(&m, 0, sizeof(m));
	memset(&pp, 0, sizeof(pp));
	m.params = &pp;
	buf_init(&m.data, 0);
	buf_append_str(&m.data, "From: a@b\r\nMessage-ID:\r\n <x.1@A.test>\r\n\r\nbody\r\n");
	outcome_ok(&o);
	policy_headers(&m, &o);
	is_str(m.message_id_hash, a, "policy_headers: the message's own (folded) Message-ID hashed");
	policy_msg_free(&m);
	memset(&m, 0, sizeof(m));
	m.params = &pp;
	buf_init(&m.data, 0);
	buf_append_str(&m.data, "From: a@b\r\n\r\nbody\r\n");
	outcome_ok(&o);
	policy_headers(&m, &o);
	{
		struct buf out;
		const char *p;

		buf_init(&out, 0);
		policy_msg_render(&m, &out);
		p = memmem(out.data, out.len, "Message-ID: ", 12);
		ok(p != NULL && m.message_id_hash[0] != '\0' &&
		    token_msgid_hash_hex(p + 11, (size_t)((const char *)memchr(p, '\n',
		    out.len - (size_t)(p - out.data)) - (p + 11)), c) == 0 &&
		    strcmp(c, m.message_id_hash) == 0, "policy_headers: the Message-ID it adds hashed");
		buf_free(&out);
	}
	policy_msg_free(&m);
}

int
main(void)
{
	plan(57);
	test_records();
	test_tokens();
	test_stage();
	test_list_unsubscribe();
	test_report();
	test_message_id();
	return done();
}
