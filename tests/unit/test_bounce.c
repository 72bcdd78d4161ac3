/* SPDX-License-Identifier: ISC */
/*
 * test_bounce: RFC 3464 DSNs.  NOTIFY handling for every action, the
 * multipart/report structure, the delivery-status fields per message and
 * per recipient, original headers only by default and the full message
 * for RET=FULL, header injection through hostile reply text refused.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "bounce.h"
#include "tap.h"
#include "util.h"

static int
has(const struct buf *b, const char *s)
{
	return b->data && strstr(b->data, s) != NULL;
}

static void
test_wanted(void)
{
	ok(bounce_wanted(0, BOUNCE_FAILED) && bounce_wanted(0, BOUNCE_DELAYED) &&
	    !bounce_wanted(0, BOUNCE_DELIVERED), "NOTIFY not given: FAILURE,DELAY");
	ok(!bounce_wanted(QUEUE_NOTIFY_NEVER, BOUNCE_FAILED), "NOTIFY=NEVER: nothing");
	ok(bounce_wanted(QUEUE_NOTIFY_SUCCESS, BOUNCE_DELIVERED) &&
	    bounce_wanted(QUEUE_NOTIFY_SUCCESS, BOUNCE_RELAYED) &&
	    !bounce_wanted(QUEUE_NOTIFY_SUCCESS, BOUNCE_FAILED), "NOTIFY=SUCCESS only");
	ok(bounce_wanted(QUEUE_NOTIFY_FAILURE, BOUNCE_FAILED) &&
	    !bounce_wanted(QUEUE_NOTIFY_FAILURE, BOUNCE_DELAYED), "NOTIFY=FAILURE only");
	ok(bounce_wanted(QUEUE_NOTIFY_DELAY, BOUNCE_DELAYED) &&
	    !bounce_wanted(QUEUE_NOTIFY_DELAY, BOUNCE_FAILED), "NOTIFY=DELAY only");
}

static void
test_build(void)
{
	static const char body[] = "From: a@src.test\r\nTo: b@dest.test\r\nSubject: hello\r\n"
	    "\r\nsecret body line\r\n";
	struct queue_msg m;
	struct bounce_rcpt r[2];
	struct buf out;

	memset(&m, 0, sizeof(m));
	strcpy(m.id, "0123456789ABCDEFGHIJ");
	m.sender = "a@src.test";
	m.envid = "ENV42";
	m.created = 1700000000000ULL;
	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	r[0].orcpt = "rfc822;b@dest.test";
	r[0].action = BOUNCE_FAILED;
	strcpy(r[0].status, "5.1.1");
	r[0].remote_mta = "mx1.dest.test";
	r[0].diagnostic = "550 5.1.1 no such user\r\nX-Injected: yes";
	r[1].addr = "c@dest.test";
	r[1].action = BOUNCE_FAILED;
	strcpy(r[1].status, "4.4.7");
	r[1].diagnostic = "451 4.4.1 connection refused";

	buf_init(&out, 0);
	bounce_build(&m, r, 2, body, sizeof(body) - 1, "relay.test", 1700000100000ULL, &out);
	ok(has(&out, "\r\nTo: <a@src.test>\r\n") && has(&out, "From: Mail Delivery System <MAILER-DAEMON@relay.test>"),
	    "addressed to the envelope sender from MAILER-DAEMON");
	ok(has(&out, "Content-Type: multipart/report; report-type=delivery-status;"),
	    "multipart/report");
	ok(has(&out, "Auto-Submitted: auto-replied\r\n"), "Auto-Submitted (RFC 3834)");
	ok(has(&out, "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.test\r\n"),
	    "delivery-status part starts with Reporting-MTA");
	ok(has(&out, "Original-Envelope-Id: ENV42\r\n") && has(&out, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000"),
	    "per-message fields: envelope id, arrival date");
	ok(has(&out, "Original-Recipient: rfc822;b@dest.test\r\nFinal-Recipient: rfc822; b@dest.test\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx1.dest.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user  X-Injected: yes\r\n"),
	    "per-recipient fields; CR LF in the reply cannot inject a field");
	ok(has(&out, "Final-Recipient: rfc822; c@dest.test\r\nAction: failed\r\nStatus: 4.4.7\r\n"),
	    "second recipient: expiry status");
	ok(has(&out, "Content-Type: text/rfc822-headers\r\n\r\nFrom: a@src.test\r\nTo: b@dest.test\r\n"
	    "Subject: hello\r\n\r\n") && !has(&out, "secret body line"),
	    "RET=HDRS (default): original headers, no body");
	ok(out.len > 4 && memcmp(out.data + out.len - 4, "--\r\n", 4) == 0, "closing boundary");
	ok(has(&out, "Subject: Undelivered Mail Returned to Sender"), "failure subject");

	buf_reset(&out);
	m.ret_full = 1;
	bounce_build(&m, r, 1, body, sizeof(body) - 1, "relay.test", 1700000100000ULL, &out);
	ok(has(&out, "Content-Type: message/rfc822\r\n\r\nFrom: a@src.test") && has(&out, "secret body line\r\n"),
	    "RET=FULL: the whole message returned");

	buf_reset(&out);
	r[0].action = BOUNCE_DELAYED;
	bounce_build(&m, r, 1, NULL, 0, "relay.test", 1700000100000ULL, &out);
	ok(has(&out, "Action: delayed") && has(&out, "Subject: Delayed Mail") &&
	    has(&out, "no longer available"), "delay warning without content");
	buf_free(&out);
}

int
main(void)
{
	plan(5 + 12);
	test_wanted();
	test_build();
	return done();
}
