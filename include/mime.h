/* SPDX-License-Identifier: ISC */
/*
 * mime.h: a pure streaming MIME parser (RFC 2045-2047, 2046 multipart,
 * message/rfc822) that turns a message into the decoded UTF-8 text of
 * its text parts, for the sensitive-data scan (issue 7).
 *
 * Feed the raw message (CRLF or LF lines, any chunking: the result does
 * not depend on how input is split) with mime_feed(), then mime_finish().
 * For every text part (text/..., CSV and .txt attachments, message/ or
 * multipart/ parts that cannot be parsed as such, and parts of unknown
 * type such as application/octet-stream whose content is not binary;
 * never images, audio, video, PDF or archives) the text callback
 * receives the part's text: transfer-decoded (base64, QP,
 * tolerant of garbage), converted to UTF-8 (UTF-8, UTF-16, ISO-8859-x,
 * Windows-125x, KOI8), format=flowed soft breaks joined and, for HTML,
 * with tags stripped, entities decoded, white space collapsed and the
 * values of data attributes (href, value, ...) kept.  A message/rfc822
 * part with a transfer encoding is decoded and parsed as a message.
 * Part 0 is the header text: the decoded Subject (RFC 2047) of the
 * message, then a line per attachment filename.
 *
 * Limits (nesting depth, number of parts, total decoded size, a
 * boundary longer than 996 characters, 64 KiB of Content-* and Subject
 * fields) stop the parse; mime_limit_hit() says which one so the caller
 * can hold or reject: the parser never skips content silently.  Malformed input never crashes and never reads out of bounds.
 */
#ifndef POSTERN_MIME_H
#define POSTERN_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum mime_cte { MIME_CTE_IDENTITY = 0, MIME_CTE_QP, MIME_CTE_BASE64 };
/* Charsets decoded before the scan.  UTF-16 without a BOM is told
 * apart by where its zero octets are; MIME_CS_SBCS + k are the other
 * single-byte charsets (ISO-8859-x, Windows-125x, KOI8), converted
 * through a table built with iconv(3) for the part. */
enum mime_charset {
	MIME_CS_UTF8 = 0, MIME_CS_LATIN1, MIME_CS_CP1252,
	MIME_CS_UTF16, MIME_CS_UTF16LE, MIME_CS_UTF16BE,
	MIME_CS_SBCS = 16
};
/* Where the parser gave up: the rest of the message is not scanned, so
 * the caller applies its limit action.  BOUNDARY: a multipart boundary
 * longer than a delimiter line can carry; HEADER: the Content-* and
 * Subject fields of one entity over 64 KiB. */
enum mime_limit {
	MIME_LIMIT_NONE = 0, MIME_LIMIT_DEPTH, MIME_LIMIT_PARTS, MIME_LIMIT_SIZE,
	MIME_LIMIT_BOUNDARY, MIME_LIMIT_HEADER
};

struct mime_part {
	unsigned no;			/* 1-based, document order (every entity) */
	unsigned depth;			/* 0 = the message itself */
	char type[64];			/* lowercased "text/plain" */
	enum mime_charset charset;
	enum mime_cte cte;
	int html;			/* text/html: tags stripped for the scan */
	int text;			/* decoded and handed to the text callback */
	int sniff;			/* type unknown: text only if the content is not binary */
	int multipart;
	int flowed, delsp;		/* text/plain; format=flowed (RFC 3676), delsp=yes */
	int encap;			/* message/rfc822 with a transfer encoding: decoded
					 * and parsed as a message of its own */
	unsigned container;		/* 0, or the number of the encoded message part this
					 * part is in: body offsets are then in its decoded body */
	char filename[256];		/* decoded (RFC 2047/2231), UTF-8; "" if none */
	size_t hdr_start;		/* raw offset of the entity's header */
	size_t body_start, body_end;	/* raw offsets of its body */
};

struct mime_limits {
	unsigned max_depth;
	unsigned max_parts;
	uint64_t max_decoded;
};

/* TEXT is valid only during the call. */
typedef void (*mime_text_cb)(void *arg, const struct mime_part *part,
    const char *text, size_t len);

struct mime_parser;

struct mime_parser *mime_new(const struct mime_limits *lim, mime_text_cb cb, void *arg);
void mime_free(struct mime_parser *p);
/* 0, or -1 once a limit has been hit (further input is ignored). */
int mime_feed(struct mime_parser *p, const char *data, size_t len);
int mime_finish(struct mime_parser *p);
enum mime_limit mime_limit_hit(const struct mime_parser *p);
const char *mime_strlimit(enum mime_limit l);
size_t mime_nparts(const struct mime_parser *p);
const struct mime_part *mime_part_at(const struct mime_parser *p, size_t i);
/* Length of the Subject at the start of part 0's text (for redaction). */
size_t mime_subject_len(const struct mime_parser *p);

/* ---- whole-buffer helpers (also used by redaction) ---- */

/* Transfer-decode IN, appending to OUT; -1 when OUT's cap is reached. */
int mime_decode(enum mime_cte cte, const char *in, size_t len, struct buf *out);
/* Transfer-encode IN (base64 and QP with lines <= 76; identity copies). */
void mime_encode(enum mime_cte cte, const char *in, size_t len, struct buf *out);
/*
 * Decoded part body to UTF-8 text.  FLAGS: MIME_TEXT_HTML (tags
 * stripped, entities decoded, white space collapsed as a browser does,
 * values of data-carrying attributes such as href and value kept on
 * lines of their own), MIME_TEXT_FLOWED (RFC 3676 soft line breaks
 * joined), MIME_TEXT_DELSP (and their space deleted).  When MAP is not
 * NULL, *MAP receives a malloc'd array giving for every output byte the
 * offset of the input byte it came from.
 */
#define MIME_TEXT_HTML 1u
#define MIME_TEXT_FLOWED 2u
#define MIME_TEXT_DELSP 4u
void mime_to_text(const char *in, size_t len, enum mime_charset cs, unsigned flags,
    struct buf *out, size_t **map);
/* The MIME_TEXT_ flags for PART. */
unsigned mime_text_flags(const struct mime_part *part);
/* 1 when ASCII octets stand for themselves in CS (not UTF-16). */
int mime_charset_ascii_compatible(enum mime_charset cs);
/* Decode RFC 2047 encoded words of a header value into UTF-8. */
void mime_decode_header(const char *in, size_t len, struct buf *out);
enum mime_charset mime_parse_charset(const char *name, size_t len);

#endif
