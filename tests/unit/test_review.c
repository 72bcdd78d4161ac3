/* SPDX-License-Identifier: ISC */
/*
 * test_review: the abuse review workflow's pure parts and its queue op
 * (issue 16).  The masked view (policy/review_view.c): addresses in
 * header fields and text keep only their first character and domain
 * (or become pseudonyms), card numbers and SSNs keep their last four,
 * long digit runs are masked too, attachments are listed by name, type
 * and size, findings counted by type, and none of the values' bytes is
 * anywhere in the output; fingerprints of near-duplicates are close and
 * of different texts far.  The trigger windows (src/account/abuse.c):
 * nothing below min_messages, under_review and paused at the per-mille
 * thresholds, old outcomes leave the window.  queue_review() on a real
 * LMDB queue: hold with a reason, release, reject (body unreadable,
 * recipients deleted), flag of a delivered message, events with the
 * reason class and no reviewer, the review record, one audit record.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "account.h"
#include "config.h"
#include "daemon.h"
#include "json.h"
#include "queue.h"
#include "review.h"
#include "tap.h"
#include "util.h"

#define CARD "4556737586899855"
#define CARD_SP "4556 7375 8689 9855"
#define SSN "536-22-1234"

static const char held_msg[] =
    "From: \"Jane Doe\" <jane.doe@example.com>\r\n"
    "To: bob@example.org,\r\n <carol@sub.example.net>\r\n"
    "Subject: receipt for card " CARD_SP "\r\n"
    "Received: from secret.example.com by x\r\n"
    "Message-ID: <x1@mx.example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "SSN " SSN ", card " CARD ", write to jane.doe@example.com.\r\n"
    "Account 12345678901234 and order 4321.\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=\"invoice.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQKJeLjz9MK\r\n"
    "--b--\r\n";

static char *
view_of(const char *msg, int pseudonym)
{
	struct review_view_opts o = { NULL, pseudonym, 0 };
	struct json_out j;
	struct buf b;

	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	review_masked_view(msg, strlen(msg), &o, &j);
	json_obj_end(&j);
	return buf_steal(&b, NULL);
}

static void
test_view(void)
{
	char *v = view_of(held_msg, 0), *p;
	struct json_value *t = json_parse(v, strlen(v), NULL, 0);
	const struct json_value *h, *parts, *att, *f;
	struct buf m;

	ok(t != NULL, "the view is JSON");
	ok(strstr(v, CARD) == NULL && strstr(v, CARD_SP) == NULL && strstr(v, "7586") == NULL &&
	    strstr(v, "8689") == NULL, "no card number, not even its middle digits");
	ok(strstr(v, SSN) == NULL && strstr(v, "536-22") == NULL, "no SSN");
	ok(strstr(v, "jane.doe") == NULL && strstr(v, "bob@") == NULL &&
	    strstr(v, "carol@") == NULL, "no address's local part");
	ok(strstr(v, "9855") != NULL && strstr(v, "-1234") != NULL, "the last four stay");
	ok(strstr(v, "j\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@example.com") != NULL &&
	    strstr(v, "b\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@example.org") != NULL,
	    "addresses partly masked: j\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@example.com");
	ok(strstr(v, "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2"
	    "\xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2 9855") != NULL,
	    "the card in the Subject as the issue shows it");
	ok(strstr(v, "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2-\xe2\x80\xa2\xe2\x80\xa2-1234") != NULL,
	    "the SSN as the issue shows it");
	ok(strstr(v, "12345678901234") == NULL && strstr(v, "4321.") != NULL,
	    "a long digit run is masked, a short number is not");
	ok(strstr(v, "secret.example.com") == NULL, "fields not on the list (Received) are not shown");
	h = json_get(t, "headers");
	ok(h != NULL && h->type == JSON_ARRAY && h->n == 4, "four header fields shown: From, To, Message-ID, Content-Type (%zu)",
	    h ? h->n : 0);
	parts = json_get(t, "parts");
	ok(parts != NULL && parts->n == 1 &&
	    strcmp(json_get_str(parts->items[0], "type", ""), "text/plain") == 0, "one text part");
	att = json_get(t, "attachments");
	ok(att != NULL && att->n == 1 &&
	    strcmp(json_get_str(att->items[0], "name", ""), "invoice.pdf") == 0 &&
	    strcmp(json_get_str(att->items[0], "type", ""), "application/pdf") == 0 &&
	    json_get_int(att->items[0], "size", 0) == 15, "the attachment: name, type, size");
	f = json_get(t, "findings");
	ok(json_get_int(f, "card", 0) == 2 && json_get_int(f, "ssn", 0) == 1,
	    "findings by type: card=2 (Subject, body), ssn=1");
	p = strstr(v, "\"subject\"");
	ok(p != NULL && strstr(p, "receipt for card") != NULL, "the Subject, masked");
	json_free(t);
	free(v);

	v = view_of(held_msg, 1);
	ok(strstr(v, "@example.com") == NULL && strstr(v, "h:") != NULL,
	    "pseudonym mode: no domain either, h:... pseudonyms");
	free(v);

	/* r1618: encoded words in shown fields are decoded before masking */
	v = view_of("From: =?utf-8?Q?eve.hidden=40example.test?= <eve.hidden@example.test>\r\n"
	    "Reply-To: =?utf-8?B?Q2FyZCA0NTU2IDczNzUgODY4OSA5ODU1?= <r@example.test>\r\n"
	    "Cc: =?iso-8859-1?Q?J=F6rg_?= <joerg.k@example.test>\r\n"
	    "Subject: x\r\n\r\nhello\r\n", 0);
	ok(strstr(v, "eve.hidden") == NULL && strstr(v, "eve.hidden=40") == NULL,
	    "an address in a Q-encoded display name is masked");
	ok(strstr(v, "Q2FyZCA0NTU2") == NULL && strstr(v, "8689") == NULL &&
	    strstr(v, "9855") != NULL, "a card in a B-encoded display name is masked");
	ok(strstr(v, "J\xc3\xb6rg") != NULL && strstr(v, "joerg.k") == NULL,
	    "a Latin-1 display name is shown decoded");
	free(v);
	v = view_of("Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\n\r\nsee\r\n--b\r\nContent-Type: application/pdf\r\n"
	    "Content-Disposition: attachment; filename=\"card 4556 7375 8689 9855.pdf\"\r\n"
	    "\r\nJVBERi0=\r\n--b--\r\n", 0);
	ok(strstr(v, "8689") == NULL && strstr(v, "9855.pdf") != NULL,
	    "a card number in an attachment's name is masked");
	free(v);

	/* r1618: quoted local parts, address literals, %40 in URLs */
	{
		static const char addrs[] = "To: \"john smith\"@example.com, \"a@b\"@example.org, "
		    "<jane.roe@[192.0.2.1]>, <mailto:joe.bloggs%40example.net?subject=x>, 100%40 off";

		buf_init(&m, 0);
		review_mask_text(addrs, sizeof(addrs) - 1, 0, &m, NULL);
		ok(m.data != NULL && strstr(m.data, "john") == NULL && strstr(m.data, "a@b") == NULL
		    && strstr(m.data, "jane.roe") == NULL && strstr(m.data, "joe.bloggs") == NULL,
		    "quoted, literal and %%40 addresses are masked: %s", m.data ? m.data : "");
		ok(m.data != NULL && strstr(m.data, "j\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@[192.0.2.1]")
		    != NULL && strstr(m.data, "100%40 off") != NULL,
		    "... keeping the domain; a bare %%40 is left alone");
		buf_free(&m);
	}

	buf_init(&m, 0);
	review_mask_text("mail a@b.c and x@y", 18, 0, &m, NULL);
	is_str(m.data, "mail a\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@b.c and x@y",
	    "a bare word with @ but no dotted domain is left alone");
	buf_free(&m);

	/* the kept domain is masked where the text's mask is (the fuzzer
	 * found a card number among a domain's octets, shown whole) */
	buf_init(&m, 0);
	review_mask_text("Mail bob@4556737586899855.example.com today\n", 44, 0, &m, NULL);
	ok(strstr(m.data, "4556737586899855") == NULL && strstr(m.data, "9855.example.com") != NULL,
	    "a card number inside an address's domain is masked, the rest of the domain kept (%s)",
	    m.data);
	buf_free(&m);

	/* a part's media type is the sender's text too (the fuzzer found a
	 * card number in one, shown whole in both the part and the
	 * attachment list) */
	v = view_of("From: a@example.test\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: text/p" CARD "\r\n\r\nhello\r\n--b\r\n"
	    "Content-Type: application/x" CARD "; name=\"a.bin\"\r\n\r\nAAAA\r\n--b--\r\n", 0);
	ok(strstr(v, CARD) == NULL && strstr(v, "9855") != NULL,
	    "a card number in a part's media type is masked, its last four kept (%s)", v);
	free(v);
}

static void
test_strip_dkim(void)
{
	struct buf m;

	buf_init(&m, 0);
	buf_append_str(&m, "DKIM-Signature: v=1; a=rsa-sha256; d=a.test; s=r1;\r\n"
	    "\tt=100; x=200; h=from; bh=x=1; b=abc\r\n"
	    "DKIM-Signature: v=1; a=ed25519-sha256; x=150; b=def\r\n"
	    "From: a@a.test\r\nDKIM-Signature: v=1; x=1; b=customer\r\n\r\nbody\r\n");
	is_int(review_strip_expired_dkim(&m, 199), 0, "a signature still valid stays (x=200 > 199)");
	is_int(review_strip_expired_dkim(&m, 200), 2, "both of ours removed once x= passed");
	ok(strncmp(m.data, "From: a@a.test\r\nDKIM-Signature: v=1; x=1; b=customer", 52) == 0,
	    "a signature below From: (the customer's) is left");
	buf_reset(&m);
	buf_append_str(&m, "DKIM-Signature: v=1; b=noexpiry\r\nFrom: a@a.test\r\n\r\nx\r\n");
	is_int(review_strip_expired_dkim(&m, 1u << 31), 0, "no x=: never expires");
	buf_free(&m);
}

static void
test_fingerprint(void)
{
	const char *a = "Subject: hi\r\n\r\nDear customer, your parcel is waiting at the depot, "
	    "click the link below to pay the customs fee of 12 dollars today.\r\n";
	const char *b = "Subject: hi\r\n\r\nDear customer, your parcel is waiting at the depot, "
	    "click the link below to pay the customs fee of 47 dollars today!\r\n";
	const char *c = "Subject: lunch\r\n\r\nAre we still on for lunch on Friday? I booked "
	    "the table by the window at the new place near the office.\r\n";
	uint64_t fa = review_fingerprint(a, strlen(a), NULL);
	uint64_t fb = review_fingerprint(b, strlen(b), NULL);
	uint64_t fc = review_fingerprint(c, strlen(c), NULL);

	ok(fa != 0 && review_fingerprint_distance(fa, fb) <= REVIEW_SIMILAR_BITS,
	    "a near-duplicate is similar (%u bits)", review_fingerprint_distance(fa, fb));
	ok(review_fingerprint_distance(fa, fc) > REVIEW_SIMILAR_BITS,
	    "a different text is not (%u bits)", review_fingerprint_distance(fa, fc));
}

static void
test_abuse(void)
{
	struct abuse_thresholds t = { 20, 10, 50, 100, 1, 5 };
	struct abuse *a = abuse_new();
	struct abuse_rates r;
	int i, st = 0;

	for (i = 0; i < 9; i++)
		st = abuse_record(a, "acme", i == 0 ? ABUSE_BOUNCE : ABUSE_DELIVERED, &t);
	is_int(st, ACCOUNT_ACTIVE, "below min_messages: no transition whatever the rate");
	st = abuse_record(a, "acme", ABUSE_DELIVERED, &t);
	is_int(st, ACCOUNT_PAUSED, "10 messages, 1 bounce: 100 per mille reaches pause (100)");
	abuse_rates(a, "acme", &r);
	ok(r.messages == 10 && r.bounces == 1 && r.bounce_pm == 100, "rates: 10, 1, 100 per mille");
	(void)st;
	for (i = 0; i < 20; i++)
		st = abuse_record(a, "acme", ABUSE_DELIVERED, &t);
	is_int(st, ACCOUNT_ACTIVE, "good mail pushes the bounce out of the window");
	abuse_rates(a, "acme", &r);
	ok(r.messages == 20 && r.bounces == 0, "the window holds the last 20");
	st = abuse_record(a, "acme", ABUSE_BOUNCE, &t);
	is_int(st, ACCOUNT_UNDER_REVIEW, "1 in 20 = 50 per mille: under_review");
	st = abuse_record(a, "acme", ABUSE_BOUNCE, &t);
	is_int(st, ACCOUNT_PAUSED, "2 in 20 = 100 per mille: paused");
	abuse_rates(a, "other", &r);
	ok(r.messages == 0, "accounts are counted apart");
	abuse_free(a);
}

/* Hours 0-4: 5 messages an hour from 192.0.2.1; then hour 5 from FROM
 * with SCORE: the message number at which the pattern fires (0: never). */
static int
compromise_run(struct abuse *a, const char *acct, const char *from, double score)
{
	static const struct compromise_params p = { 6, 5, 10 };
	const uint64_t h = 3600ull * 1000, t0 = 1000 * h;
	int i, k;

	for (i = 0; i < 5; i++)
		for (k = 0; k < 5; k++)
			if (abuse_compromise(a, acct, "192.0.2.1", 1, 9.0, t0 + (uint64_t)i * h +
			    (uint64_t)k, &p))
				return -1;
	for (k = 1; k <= 40; k++)
		if (abuse_compromise(a, acct, from, 1, score, t0 + 5 * h + (uint64_t)k, &p))
			return k;
	return 0;
}

static void
test_compromise(void)
{
	struct abuse *a = abuse_new();

	is_int(compromise_run(a, "c1", "198.51.100.7", 8.0), 25,
	    "new address + 5x the average hour (25 of 5/h) + score 8 >= 6: fires at the 25th");
	is_int(compromise_run(a, "c2", "198.51.100.7", 2.0), 0, "a low spam score: never");
	is_int(compromise_run(a, "c3", "192.0.2.1", 8.0), 0, "the account's known address: never");
	is_int(compromise_run(a, "c4", "198.51.100.7", 5.99), 0, "just below the score: never");
	abuse_free(a);
}

/* ---- queue_review on a real queue ---- */

static uv_loop_t loop;

struct res {
	int calls;
	struct outcome o;
	char id[QUEUE_ID_LEN + 1];
};

static void
done_cb(void *arg, const struct outcome *o)
{
	struct res *r = arg;

	r->calls++;
	r->o = *o;
}

static void
commit_cb(void *arg, const struct outcome *o, const char *id)
{
	struct res *r = arg;

	r->calls++;
	r->o = *o;
	if (id != NULL)
		str_copy(r->id, id, sizeof(r->id));
}

static void
wait_res(struct res *r)
{
	while (r->calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
}

static void
commit(struct queue *q, enum queue_state st, struct res *r)
{
	static const char body[] = "Subject: x\r\n\r\nsecret body text 0123\r\n";
	struct queue_rcpt_in rc = { .addr = "rcpt@example.org" };
	struct queue_msg_in m = { .account = "acme", .sender = "s@example.com", .rcpts = &rc,
	    .nrcpts = 1, .data = body, .len = sizeof(body) - 1, .state = st };

	memset(r, 0, sizeof(*r));
	if (queue_commit(q, &m, commit_cb, r) != 0)
		fatal("commit");
	wait_res(r);
}

static int
review(struct queue *q, const char *id, enum queue_review_op op, const char *reason,
    const char *audit)
{
	struct queue_audit qa = { audit, 0 };
	const char *ids[1] = { id };
	struct res r;
	int status = 99;

	memset(&r, 0, sizeof(r));
	if (queue_review(q, ids, 1, op, reason, audit ? &qa : NULL, &status, done_cb, &r) != 0)
		return -1000;
	wait_res(&r);
	return r.o.kind == OUTCOME_OK ? status : -2000;
}

struct logs {
	struct buf all;
	size_t n;
};

static int
log_cb(void *arg, uint64_t when, const char *text, size_t len)
{
	struct logs *l = arg;

	(void)when;
	buf_append(&l->all, text, len);
	buf_append(&l->all, "\n", 1);
	l->n++;
	return 0;
}

static char *
rec_of(struct queue *q, const char *id)
{
	char *v = NULL;
	size_t len;

	if (queue_kv_get(q, QUEUE_T_REVIEW, id, &v, &len) != 0)
		return NULL;
	return v;
}

static void
test_queue(void)
{
	const char *t = getenv("TMPDIR");
	char dir[256], err[1024], *text, *rec;
	struct config *cfg;
	struct queue *q;
	struct res a, b, c;
	struct queue_msg *m = NULL;
	struct buf body;
	struct logs ev = { .n = 0 }, au = { .n = 0 };

	snprintf(dir, sizeof(dir), "%s/test_review.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	text = xasprintf("data_directory = %s/q\nmaster_key_file = %s/master.key\n", dir, dir);
	cfg = config_parse("t", text, strlen(text), err, sizeof(err));
	free(text);
	uv_loop_init(&loop);
	if ((q = queue_open_config(&loop, cfg, 0, err, sizeof(err))) == NULL)
		fatal("queue_open: %s", err);
	buf_init(&ev.all, 0);
	buf_init(&au.all, 0);

	commit(q, QUEUE_QUEUED, &a);
	commit(q, QUEUE_HELD, &b);
	commit(q, QUEUE_QUEUED, &c);

	is_int(review(q, a.id, QUEUE_REVIEW_HOLD, "suspended", NULL), 0, "hold a queued message");
	queue_get(q, a.id, &m);
	ok(m != NULL && m->state == QUEUE_HELD, "... it is held");
	queue_msg_free(m);
	rec = rec_of(q, a.id);
	ok(rec != NULL && strstr(rec, "\"reason\":\"suspended\"") && strstr(rec, "\"held\":") &&
	    strstr(rec, "\"account\":\"acme\"") && !strstr(rec, "decision"),
	    "the review record: reason, account, held, no decision (%s)", rec ? rec : "none");
	free(rec);
	is_int(review(q, a.id, QUEUE_REVIEW_HOLD, "suspended", NULL), -EALREADY,
	    "holding it again changes nothing");
	is_int(review(q, a.id, QUEUE_REVIEW_RELEASE, NULL,
	    "{\"user\":\"rev\",\"role\":\"reviewer\",\"cmd\":\"review.release\"}"), 0, "release");
	queue_get(q, a.id, &m);
	ok(m != NULL && m->state == QUEUE_QUEUED, "... queued again");
	queue_msg_free(m);
	rec = rec_of(q, a.id);
	ok(rec != NULL && strstr(rec, "\"reason\":\"suspended\"") &&
	    strstr(rec, "\"decision\":\"released\""), "the record keeps the reason, adds the decision");
	free(rec);

	is_int(review(q, b.id, QUEUE_REVIEW_REJECT, "dlp",
	    "{\"user\":\"rev\",\"role\":\"reviewer\",\"cmd\":\"review.reject\"}"), 0,
	    "reject a message held by the SMTP side");
	queue_get(q, b.id, &m);
	ok(m != NULL && m->state == QUEUE_DELETED, "... its recipients are deleted");
	queue_msg_free(m);
	buf_init(&body, 0);
	ok(queue_read_body(q, b.id, &body) != 0 && body.len == 0, "... its body is gone");
	buf_free(&body);
	is_int(review(q, b.id, QUEUE_REVIEW_RELEASE, NULL, NULL), -ENOENT,
	    "a rejected message cannot be released");
	is_int(review(q, "01M8ZZZZZZZZZZZZZZZZ", QUEUE_REVIEW_RELEASE, NULL, NULL), -ENOENT,
	    "no such message");
	is_int(review(q, a.id, QUEUE_REVIEW_FLAG, "complaint", NULL), 0,
	    "flag a message that is not held");
	rec = rec_of(q, a.id);
	ok(rec != NULL && strstr(rec, "\"flagged\":true") && strstr(rec, "\"decision\":\"released\""),
	    "flagged, the earlier decision kept");
	free(rec);
	is_int(review(q, c.id, QUEUE_REVIEW_EXPIRE, "dlp", NULL), 0, "expire");

	{
		/* suspend and resume an account: one transaction each */
		struct res d, e, f;
		struct queue_audit qa = { "{\"user\":\"rev\",\"cmd\":\"review.suspend\"}", 0 };
		struct account_status_change *chg;
		struct account *got;
		size_t count = 99;
		char *val = NULL;
		size_t vlen;
		int changed = -1;

		memset(&f, 0, sizeof(f));
		queue_kv_put_if(q, QUEUE_T_ACCOUNTS, "acme", "name=acme\nstatus=active\n", 24, NULL, 0,
		    NULL, done_cb, &f);
		wait_res(&f);
		commit(q, QUEUE_QUEUED, &d);
		commit(q, QUEUE_HELD, &e);	/* held by a stage: not the suspension's */
		chg = account_status_change_new("acme", ACCOUNT_CHANGE_SET, ACCOUNT_SUSPENDED, "review",
		    NULL);
		memset(&f, 0, sizeof(f));
		ok(queue_review_account_update(q, "acme", account_status_update, chg, 1, &changed, &qa,
		    &count, done_cb, &f) == 0, "queue_review_account_update (suspend)");
		wait_res(&f);
		free(chg);
		queue_get(q, d.id, &m);
		ok(f.o.kind == OUTCOME_OK && changed == 1 && count == 2 && m != NULL &&
		    m->state == QUEUE_HELD, "suspend: the account's two pending messages held (%zu)", count);
		queue_msg_free(m);
		queue_kv_get(q, QUEUE_T_ACCOUNTS, "acme", &val, &vlen);
		got = val != NULL ? account_parse(val, vlen) : NULL;
		ok(got != NULL && got->pol.status == ACCOUNT_SUSPENDED, "... with the account record");
		account_free(got);
		free(val);
		chg = account_status_change_new("acme", ACCOUNT_CHANGE_SET, ACCOUNT_ACTIVE, "resumed", NULL);
		memset(&f, 0, sizeof(f));
		count = 99;
		queue_review_account_update(q, "acme", account_status_update, chg, 0, &changed, NULL,
		    &count, done_cb, &f);
		wait_res(&f);
		free(chg);
		queue_get(q, d.id, &m);
		ok(count == 2 && m != NULL && m->state == QUEUE_QUEUED,
		    "resume: what the suspension held is released (%zu)", count);
		queue_msg_free(m);
		queue_get(q, e.id, &m);
		ok(m != NULL && m->state == QUEUE_HELD, "... the stage's hold stays");
		queue_msg_free(m);
	}

	{
		/*
		 * Issue 20 (the verifier's lost update): changes of one account
		 * made at once, each from its own earlier read, all hold.  An
		 * operator's password change (read T0) and the compromise
		 * trigger's suspension (its own read of T0) are queued back to
		 * back: written as whole records both, the later would undo the
		 * earlier; the suspension is applied by the writer to the record
		 * as it is then, the password change only over T0.
		 */
		struct res g, h, i2;
		struct account *acct = account_new("zed"), *got;
		struct account_status_change *chg;
		char *t0, *t1, *t2, *val = NULL;
		size_t l0, l1, l2, vlen = 0;
		int changed = -1;

		str_copy(acct->password, "scrypt$old", sizeof(acct->password));
		t0 = account_format(acct, &l0);
		memset(&g, 0, sizeof(g));
		ok(queue_kv_put_if(q, QUEUE_T_ACCOUNTS, "zed", t0, l0, NULL, 0, NULL, done_cb, &g) == 0,
		    "queue_kv_put_if: a new account");
		wait_res(&g);
		ok(g.o.kind == OUTCOME_OK, "... stored (there was none)");
		str_copy(acct->password, "scrypt$new", sizeof(acct->password));
		t1 = account_format(acct, &l1);
		chg = account_status_change_new("zed", ACCOUNT_CHANGE_RAISE, ACCOUNT_SUSPENDED,
		    "compromise", NULL);
		chg->set_suspended = 1;
		memset(&h, 0, sizeof(h));
		memset(&i2, 0, sizeof(i2));
		queue_kv_put_if(q, QUEUE_T_ACCOUNTS, "zed", t1, l1, t0, l0, NULL, done_cb, &h);
		queue_review_account_update(q, "zed", account_status_update, chg, 1, &changed, NULL,
		    NULL, done_cb, &i2);
		wait_res(&h);
		wait_res(&i2);
		queue_kv_get(q, QUEUE_T_ACCOUNTS, "zed", &val, &vlen);
		got = val != NULL ? account_parse(val, vlen) : NULL;
		ok(h.o.kind == OUTCOME_OK && i2.o.kind == OUTCOME_OK && changed == 1 && got != NULL &&
		    got->pol.suspended && strcmp(got->password, "scrypt$new") == 0,
		    "a password change and a suspension at once: both kept");
		account_free(got);
		free(val);
		val = NULL;
		/* another stale copy of T0 (a command that read before both) */
		str_copy(acct->password, "scrypt$stale", sizeof(acct->password));
		t2 = account_format(acct, &l2);
		memset(&h, 0, sizeof(h));
		queue_kv_put_if(q, QUEUE_T_ACCOUNTS, "zed", t2, l2, t0, l0, NULL, done_cb, &h);
		wait_res(&h);
		queue_kv_get(q, QUEUE_T_ACCOUNTS, "zed", &val, &vlen);
		got = val != NULL ? account_parse(val, vlen) : NULL;
		ok(h.o.kind == OUTCOME_TEMPFAIL && h.o.code == 451 && strcmp(h.o.enhanced, "4.3.0") == 0 &&
		    got != NULL && got->pol.suspended && strcmp(got->password, "scrypt$new") == 0,
		    "a write over a record that changed since it was read: refused (%d %s), "
		    "the suspension stays", h.o.code, h.o.enhanced);
		account_free(got);
		free(val);
		val = NULL;
		memset(&h, 0, sizeof(h));
		queue_kv_put_if(q, QUEUE_T_ACCOUNTS, "zed", t2, l2, NULL, 0, NULL, done_cb, &h);
		wait_res(&h);
		ok(h.o.kind == OUTCOME_TEMPFAIL, "\"only if there is none\" over an existing account: refused");
		free(chg);
		/* a trigger below what the record has: nothing written */
		chg = account_status_change_new("zed", ACCOUNT_CHANGE_RAISE, ACCOUNT_PAUSED, "bounce_rate",
		    NULL);
		memset(&h, 0, sizeof(h));
		changed = -1;
		queue_kv_update(q, QUEUE_T_ACCOUNTS, "zed", account_status_update, chg, &changed,
		    done_cb, &h);
		wait_res(&h);
		ok(h.o.kind == OUTCOME_OK && changed == 0 && chg->from == ACCOUNT_SUSPENDED,
		    "a pause over a suspension: left as it is");
		free(chg);
		/* a reviewer's resume: active again, the password change still there */
		chg = account_status_change_new("zed", ACCOUNT_CHANGE_SET, ACCOUNT_ACTIVE, "resumed", NULL);
		memset(&h, 0, sizeof(h));
		changed = -1;
		queue_review_account_update(q, "zed", account_status_update, chg, 0, &changed, NULL, NULL,
		    done_cb, &h);
		wait_res(&h);
		queue_kv_get(q, QUEUE_T_ACCOUNTS, "zed", &val, &vlen);
		got = val != NULL ? account_parse(val, vlen) : NULL;
		ok(h.o.kind == OUTCOME_OK && changed == 1 && got != NULL && !got->pol.suspended &&
		    got->pol.status == ACCOUNT_ACTIVE && strcmp(got->password, "scrypt$new") == 0,
		    "resume: active, the password kept");
		account_free(got);
		free(val);
		val = NULL;
		free(chg);
		/* gone meanwhile: nothing written, nothing made up */
		chg = account_status_change_new("nobody", ACCOUNT_CHANGE_RAISE, ACCOUNT_PAUSED,
		    "bounce_rate", NULL);
		memset(&h, 0, sizeof(h));
		changed = -1;
		queue_kv_update(q, QUEUE_T_ACCOUNTS, "nobody", account_status_update, chg, &changed,
		    done_cb, &h);
		wait_res(&h);
		ok(h.o.kind == OUTCOME_OK && changed == 0 &&
		    queue_kv_get(q, QUEUE_T_ACCOUNTS, "nobody", &val, &vlen) == -ENOENT,
		    "a trigger for an account deleted meanwhile writes nothing");
		free(chg);
		/* a reviewer's command for it: refused, its audit record failed */
		{
			struct queue_audit qa2 = { "{\"user\":\"rev\",\"cmd\":\"review.suspend\","
			    "\"target\":\"nobody\"}", 0 };

			chg = account_status_change_new("nobody", ACCOUNT_CHANGE_SET, ACCOUNT_SUSPENDED,
			    "review", NULL);
			chg->must_exist = 1;
			memset(&h, 0, sizeof(h));
			changed = -1;
			queue_review_account_update(q, "nobody", account_status_update, chg, 1, &changed,
			    &qa2, NULL, done_cb, &h);
			wait_res(&h);
			ok(h.o.kind == OUTCOME_PERMFAIL && outcome_is(&h.o, R_RECORD_GONE) &&
			    changed == 0 &&
			    queue_kv_get(q, QUEUE_T_ACCOUNTS, "nobody", &val, &vlen) == -ENOENT,
			    "a reviewer's suspend of an account deleted meanwhile: R_RECORD_GONE, "
			    "nothing written");
			free(chg);
			/* and one that finds nothing to do is audited (ok) all the same */
			chg = account_status_change_new("zed", ACCOUNT_CHANGE_SET, ACCOUNT_ACTIVE,
			    "resumed", NULL);
			chg->must_exist = 1;
			qa2.json = "{\"user\":\"rev\",\"cmd\":\"review.resume\",\"target\":\"zed\"}";
			memset(&h, 0, sizeof(h));
			changed = -1;
			queue_review_account_update(q, "zed", account_status_update, chg, 0, &changed, &qa2,
			    NULL, done_cb, &h);
			wait_res(&h);
			ok(h.o.kind == OUTCOME_OK && changed == 0, "a resume of an active account: nothing "
			    "changed, ok");
			free(chg);
		}
		free(t0);
		free(t1);
		free(t2);
		account_free(acct);
	}

	queue_log_foreach(q, QUEUE_LOG_EVENTS, 0, log_cb, &ev);
	ok(strstr(ev.all.data, "\"event\":\"held\",\"reason\":\"suspended\"") != NULL &&
	    strstr(ev.all.data, "\"event\":\"released\"") != NULL &&
	    strstr(ev.all.data, "\"event\":\"rejected\",\"reason\":\"dlp\"") != NULL &&
	    strstr(ev.all.data, "\"event\":\"expired\",\"reason\":\"dlp\"") != NULL &&
	    strstr(ev.all.data, "\"event\":\"flagged\"") != NULL,
	    "events: held, released, rejected, expired, flagged with their reason class");
	/* the reviewer is "rev" in every audit record here; an event may say
	 * "reason":"review" (the class), never who */
	ok(strstr(ev.all.data, "\"rev\"") == NULL && strstr(ev.all.data, "\"user\"") == NULL &&
	    strstr(ev.all.data, "reviewer") == NULL, "events never name the reviewer");
	queue_log_foreach(q, QUEUE_LOG_AUDIT, 0, log_cb, &au);
	ok(strstr(au.all.data, "\"target\":\"nobody\",\"status\":1,\"error\":\"The record was "
	    "deleted") != NULL && strstr(au.all.data, "\"cmd\":\"review.resume\",\"target\":\"zed\","
	    "\"status\":0") != NULL, "both have their audit record: the refusal failed, the no-op ok");
	ok(au.n == 5 && strstr(au.all.data, "\"cmd\":\"review.suspend\"") &&
	    strstr(au.all.data, "\"cmd\":\"review.release\"") &&
	    strstr(au.all.data, a.id) && strstr(au.all.data, "\"cmd\":\"review.reject\"") &&
	    strstr(au.all.data, b.id), "one audit record per audited op, naming the ids");
	buf_free(&ev.all);
	buf_free(&au.all);

	queue_close(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	config_free(cfg);
	text = xasprintf("rm -rf %s", dir);
	if (system(text) != 0)
		diag("cleanup failed");
	free(text);
}

int
main(void)
{
	plan(77);
	test_view();
	test_strip_dkim();
	test_fingerprint();
	test_abuse();
	test_compromise();
	test_queue();
	return done();
}
