/* SPDX-License-Identifier: ISC */
/*
 * report.h: the parser of what the feedback listener receives
 * (policy/report.c): delivery status notifications (RFC 3464,
 * multipart/report; report-type=delivery-status) and abuse reports
 * (ARF, RFC 5965, multipart/report; report-type=feedback-report).
 * Pure: a function over (pointer, length), no I/O, fuzzed
 * (tests/fuzz/fuzz_report.c).  It reads only what it needs and trusts
 * nothing it reads: the feedback listener acts only on tokens, whose
 * MAC it checks itself.
 */
#ifndef POSTERN_REPORT_H
#define POSTERN_REPORT_H

#include <stddef.h>

#include "token.h"

enum report_type { REPORT_NONE, REPORT_DSN, REPORT_ARF };

#define REPORT_MAX_FAILED 8

struct report {
	enum report_type type;
	/* DSN: a per-recipient block of the message/delivery-status part
	 * says Action: failed; STATUS is its Status: ("5.1.1"). */
	int failed;
	char status[16];
	/* DSN: every failed per-recipient block (up to REPORT_MAX_FAILED),
	 * with its Final-Recipient and Original-Recipient addresses (RFC
	 * 3464 §2.3.1-2, the address after "rfc822;", "" when absent): a
	 * DSN may name several recipients, and the feedback listener takes
	 * the block of the recipient its token names. */
	struct report_failed {
		char status[16];
		char final_rcpt[320];
		char orig_rcpt[320];
	} fail[REPORT_MAX_FAILED];
	size_t nfail;
	/* ARF: Feedback-Type: of the message/feedback-report part ("abuse"). */
	char feedback_type[32];
	/* Tokens found anywhere in the report (the original message's
	 * Return-Path b+TOKEN@, List-Unsubscribe /u/TOKEN or u+TOKEN@);
	 * "" when none.  Not checked here. */
	char btoken[TOKEN_LEN + 1];
	char utoken[TOKEN_LEN + 1];
	/* ARF without tokens: the queue id of our Received: field
	 * ("(postern) with ESMTP id QID") in the quoted original, and the
	 * report's Original-Rcpt-To (RFC 5965 §3.2), when present. */
	char qid[21];
	char orig_rcpt[320];
	/* ARF: the Message-ID: field value of the original message (the
	 * message/rfc822 or text/rfc822-headers part, RFC 5965 §2 (d)),
	 * unfolded; "" when there is none (or it is longer than fits). */
	char orig_message_id[1000];
};

/* Parse MSG (LEN bytes, a whole message).  Always fills OUT; returns
 * its type. */
enum report_type report_parse(const char *msg, size_t len, struct report *out);

#endif
