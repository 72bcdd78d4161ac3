/* SPDX-License-Identifier: ISC */
/*
 * smtp_int.h: module-private API of smtp/: the pure command-line and
 * parameter parsers (parse.c) and the DATA/BDAT text scanner (data.c)
 * that server.c drives.  Tests and fuzz targets include it too.
 */
#ifndef POSTERN_SMTP_INT_H
#define POSTERN_SMTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "outcome.h"
#include "smtp.h"

/* ---- parse.c ---- */

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO, SMTP_V_EHLO, SMTP_V_MAIL, SMTP_V_RCPT, SMTP_V_DATA,
	SMTP_V_BDAT, SMTP_V_RSET, SMTP_V_NOOP, SMTP_V_QUIT, SMTP_V_HELP,
	SMTP_V_VRFY, SMTP_V_EXPN, SMTP_V_STARTTLS, SMTP_V_AUTH,
};

/* One command line, CRLF removed.  ARG points into the line. */
struct smtp_cmd {
	enum smtp_verb verb;
	const char *name;	/* canonical upper-case verb, "?" for unknown */
	const char *arg;	/* after the verb and its spaces; trailing spaces trimmed */
	size_t arglen;
};

/* Split LINE into verb and argument.  -1 when the line holds bytes no
 * command may contain (NUL, CR, other controls except HT, DEL). */
int smtp_parse_command(const char *line, size_t len, struct smtp_cmd *cmd);

struct smtp_mail_args {
	char addr[SMTP_PATH_MAX + 1];	/* "" for <> */
	uint64_t size;			/* SIZE=, 0 if absent */
	enum smtp_body body;
	int smtputf8;
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1];
	int has_envid;
	int has_params;			/* any ESMTP parameter at all */
};

struct smtp_rcpt_args {
	char addr[SMTP_PATH_MAX + 1];
	unsigned notify;
	char orcpt[SMTP_ORCPT_MAX + 1];
	int has_orcpt;
	int has_params;
};

/* The argument of MAIL ("FROM:<path> params") and RCPT ("TO:<path>
 * params").  0, or -1 with the reply in ERR (501 5.5.4 syntax,
 * 501 5.1.7 / 5.1.3 address, 555 5.5.4 unknown parameter). */
int smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *out,
    struct outcome *err);
int smtp_parse_rcpt(const char *arg, size_t len, int utf8, struct smtp_rcpt_args *out,
    struct outcome *err);

/* BDAT argument "size [LAST]" (RFC 3030 §2).  0 or -1. */
int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, int *last);

/* Strict base64 (RFC 4648 §4, padding required).  Length or -1. */
int smtp_base64_decode(const char *p, size_t len, unsigned char *out, size_t outlen);

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
int smtp_utf8_valid(const char *p, size_t len);

/* ---- data.c ---- */

enum smtp_data_error {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE,		/* bare CR or LF under "reject" */
	SMTP_DATA_LONG_LINE,	/* a text line over SMTP_TEXT_LINE_MAX */
	SMTP_DATA_TOO_BIG,	/* message_size_limit */
};

/* Streaming scanner for message text: DATA (dot-stuffed, ends at
 * CRLF "." CRLF) or BDAT chunks (raw).  Writes the canonical CRLF text
 * into OUT, whose cap is the size limit. */
struct smtp_data {
	struct buf *out;	/* borrowed */
	int dotted;		/* DATA: dot-unstuffing and the terminator */
	int normalize;		/* bare CR/LF become CRLF instead of an error */
	int state;
	int dot_strict;		/* the current "." began at a strict line start */
	size_t linelen;
	enum smtp_data_error error;	/* the first error; the text is still scanned */
};

void smtp_data_init(struct smtp_data *d, struct buf *out, int dotted, int normalize);
/* Consume up to N bytes; returns how many.  *END is set to 1 when the
 * DATA terminator was consumed (never for BDAT). */
size_t smtp_data_feed(struct smtp_data *d, const char *p, size_t n, int *end);
/* End of the last BDAT chunk: settle a trailing CR, end the last line. */
void smtp_data_finish(struct smtp_data *d);
/* The reply for d->error (which must not be SMTP_DATA_OK). */
void smtp_data_outcome(const struct smtp_data *d, struct outcome *out);

#endif
