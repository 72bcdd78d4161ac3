/* SPDX-License-Identifier: ISC */
/*
 * policy.h: end-of-message policy stages (DESIGN.md §7).  The relay in
 * src/ runs the EOM stages in order, in one uv thread-pool job, on a
 * struct policy_msg; the first non-OK outcome wins.  Stages are plain
 * synchronous functions with no loop access, so they are trivially
 * testable.  Order: header fix-ups, MIME + sensitive data (scan, then
 * tag/hold/redact/reject), spam, DKIM signing last.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "outcome.h"

struct policy_msg {
	const struct config *cfg;	/* borrowed */
	const char *account;		/* borrowed; "" for none */
	const char *account_record;	/* borrowed; the account's stored record text or NULL */
	const char *sender;		/* borrowed; "" for <> */
	const char *const *rcpts;	/* borrowed */
	size_t nrcpts;
	struct buf data;		/* the whole message; stages may rewrite it */
	struct buf verdicts;		/* JSON array text of findings (never values) */
	int hold;			/* a stage asks for state held */
	/* For the Received: header (policy/headers.c); NULL when unknown. */
	const char *client_helo;	/* borrowed; EHLO/HELO argument */
	const char *client_addr;	/* borrowed; "192.0.2.1" / "2001:db8::1" */
	const char *protocol;		/* borrowed; smtp_session_protocol() */
};

typedef int (*policy_stage_fn)(struct policy_msg *m, struct outcome *out);

struct policy_stage {
	const char *name;
	policy_stage_fn run;
};

/* Run STAGES in order; stops at the first non-OK outcome. 0 = all ok. */
int policy_run(const struct policy_stage *stages, size_t n,
    struct policy_msg *m, struct outcome *out);

/*
 * Header fix-ups (policy/headers.c), the EOM stage named "headers":
 * prepends Received: (client IP only when cfg->smtpd_received_client_ip),
 * adds Message-ID: and Date: when missing, removes every Bcc: field.
 */
int policy_headers(struct policy_msg *m, struct outcome *out);

#endif
