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
#include <sys/uio.h>

#include "buf.h"
#include "config.h"
#include "outcome.h"

/*
 * Header fields the EOM stages add (policy/message.c).  They are kept
 * apart from the message and put in front of it only when it is
 * written to the queue (queue_commit() streams the pieces), so no
 * stage ever copies the message to add a line.  `top` fields go above
 * the message's own header, the last one added first (RFC 5321 §4.4
 * trace fields, RFC 6376 §5.6 signatures); `end` fields (Date:,
 * Message-ID:) go at the end of its header section, in order.
 */
struct header_add {
	char *text;		/* owned; whole field(s), CRLF line ends */
	size_t len;
};

struct header_list {
	struct header_add *top;	/* owned; in order of addition */
	size_t ntop, captop;
	struct buf end;		/* fields inserted before the empty line */
};

struct policy_msg {
	const struct config *cfg;	/* borrowed */
	const char *account;		/* borrowed; "" for none */
	const char *account_record;	/* borrowed; the account's stored record text or NULL */
	const char *sender;		/* borrowed; "" for <> */
	const char *const *rcpts;	/* borrowed */
	size_t nrcpts;
	/*
	 * The message as received (dot-unstuffed, CRLF): the one copy.
	 * Stages change it only in place: header fields removed with a
	 * memmove (Bcc:, a forged X-Postern-DLP:), parts redacted in place
	 * (one growth when the result is longer).  Additions go to hdrs.
	 * The final message is policy_msg_iov() / policy_msg_render().
	 */
	struct buf data;
	struct header_list hdrs;	/* owned; fields added by the stages */
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

/* ---- the message of an EOM run (policy/message.c) ---- */

/* Add a field (TEXT, LEN octets, whole lines ending in CRLF) on top of
 * the header, above everything added before it. */
void policy_msg_prepend(struct policy_msg *m, const char *text, size_t len);
/* Add a field at the end of the header section, after those added before. */
void policy_msg_append_header(struct policy_msg *m, const char *text, size_t len);
/* Offset in m->data of the empty line ending the header section (or
 * m->data.len when there is none); *BODY gets the offset after it. */
size_t policy_msg_header_end(const struct policy_msg *m, size_t *body);
/* Length of the final message: added fields + m->data. */
size_t policy_msg_len(const struct policy_msg *m);
/* Number of pieces policy_msg_iov() fills (m->hdrs.ntop + 3). */
size_t policy_msg_niov(const struct policy_msg *m);
/*
 * The final message as pieces, borrowed from M (valid until M changes):
 * top fields (last added first), m->data's header section, end fields,
 * then m->data from the empty line on.  IOV has policy_msg_niov()
 * entries; returns how many were used (empty pieces are left out).
 */
size_t policy_msg_iov(const struct policy_msg *m, struct iovec *iov);
/* The final header section (no empty line) appended to OUT: what the
 * DKIM stage signs and reads From: from; a copy of the header only. */
void policy_msg_header_block(const struct policy_msg *m, struct buf *out);
/* The whole final message appended to OUT (tests and tools; a copy). */
void policy_msg_render(const struct policy_msg *m, struct buf *out);
/* Free what M owns of the message: data, verdicts, hdrs. */
void policy_msg_free(struct policy_msg *m);
/* Drop the added fields only (m->hdrs). */
void policy_msg_free_headers(struct policy_msg *m);

/*
 * Header fix-ups (policy/headers.c), the EOM stage named "headers":
 * prepends Received: (client IP only when cfg->smtpd_received_client_ip),
 * adds Message-ID: and Date: when missing, removes every Bcc: field.
 */
int policy_headers(struct policy_msg *m, struct outcome *out);

#endif
