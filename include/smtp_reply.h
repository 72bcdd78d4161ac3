/* SPDX-License-Identifier: ISC */
/*
 * smtp_reply.h: the SMTP client's reply parser (RFC 5321 §4.2) and the
 * EHLO keyword reader (RFC 5321 §4.1.1.1).  Pure functions over bytes,
 * no I/O: the client FSM feeds whatever arrived from the network and
 * gets back complete replies, one at a time, so pipelined replies
 * (RFC 2920) are never merged.  A multi-line reply `250-a` ... `250 z`
 * must carry the same code on every line; the enhanced status code
 * (RFC 2034 / RFC 3463) is taken from the first line when its class
 * matches the reply's.  Lines are capped (SMTP_REPLY_LINE_MAX) and so
 * is the number of lines, so a hostile server cannot make us buffer
 * without limit.
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "outcome.h"

/* RFC 5321 §4.5.3.1.5 says 512 octets; be lenient, some servers send more. */
#define SMTP_REPLY_LINE_MAX 2048
#define SMTP_REPLY_MAX_LINES 128

struct smtp_reply {
	int code;		/* 200..599 */
	char enhanced[16];	/* "2.1.0", or "" when the server sent none */
	size_t nlines;
	struct buf text;	/* every line's text (after "250-" / "250 "), each
				 * followed by '\n'; the enhanced code is kept in
				 * line 1's text */
};

enum smtp_reply_status {
	SMTP_REPLY_MORE = 0,	/* need more bytes */
	SMTP_REPLY_DONE = 1,	/* *out holds a complete reply */
	SMTP_REPLY_ERROR = -1,	/* protocol violation; the connection is unusable */
};

struct smtp_reply_parser {
	struct buf line;	/* partial line */
	struct smtp_reply cur;	/* reply being assembled */
	int in_reply;		/* saw a continuation line */
	char why[96];		/* reason for SMTP_REPLY_ERROR */
};

void smtp_reply_parser_init(struct smtp_reply_parser *p);
void smtp_reply_parser_free(struct smtp_reply_parser *p);
/*
 * Consume bytes from DATA (LEN) until one reply is complete.  *USED is
 * set to the number of bytes consumed (the rest belongs to later
 * replies: feed it again).  On SMTP_REPLY_DONE the reply is moved into
 * OUT (which must be initialised with smtp_reply_init and is reset
 * first).  After SMTP_REPLY_ERROR, p->why says what was wrong.
 */
enum smtp_reply_status smtp_reply_parse(struct smtp_reply_parser *p,
    const char *data, size_t len, size_t *used, struct smtp_reply *out);

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);
/* Line I (0-based) of R, without the trailing '\n'; NULL past the end. */
const char *smtp_reply_line(const struct smtp_reply *r, size_t i, size_t *len);
/* "550 5.1.1 text" on one line (lines joined by ' '), for logs and DSNs. */
void smtp_reply_format(const struct smtp_reply *r, char *out, size_t outlen);
/* Outcome for R: kind from the code; enhanced code from R, or DEF_ENH-like
 * "X.0.0" when R has none. */
void smtp_reply_outcome(const struct smtp_reply *r, struct outcome *o);

/* EHLO extensions we act on (RFC 5321 §4.1.1.1 keyword lines). */
#define SMTP_EXT_PIPELINING	0x001
#define SMTP_EXT_SIZE		0x002
#define SMTP_EXT_8BITMIME	0x004
#define SMTP_EXT_SMTPUTF8	0x008
#define SMTP_EXT_DSN		0x010
#define SMTP_EXT_STARTTLS	0x020
#define SMTP_EXT_ENHANCEDSTATUSCODES 0x040
#define SMTP_EXT_CHUNKING	0x080
#define SMTP_EXT_AUTH		0x100

struct smtp_ehlo {
	unsigned ext;		/* SMTP_EXT_* */
	uint64_t size;		/* SIZE limit; 0 = none announced */
};
/* Read the keywords of a 250 EHLO reply (line 1 is the greeting). */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out);

#endif
