/* SPDX-License-Identifier: ISC */
/*
 * data.c: the message-text scanner for DATA and BDAT.  It turns the
 * wire octets into the canonical message (CRLF lines, dot-unstuffed)
 * as they arrive, so a message is never scanned twice and a line is
 * never buffered whole: only the current state and the length of the
 * current line are kept.
 *
 * SMTP smuggling defence (STYLE rule 9): the end of DATA is recognised
 * only as CRLF "." CRLF where the first CRLF is a real one (or the start
 * of the text) — never after a bare CR or bare LF.  A bare CR or LF is
 * an error by default (554 5.6.11, reported at the end of the text so
 * the session stays in step with the client); with
 * smtpd_bare_line_ending = normalize it becomes CRLF in the stored
 * message, and the line after it is still not a place where the text
 * can end.  `\n.\n`, `\r.\r`, `\n.\r\n`, `\r\n.\n` therefore never end
 * or split a message under either setting, and what we later send is
 * plain CRLF text that any peer reads the same way.
 *
 * Also enforced here: text lines of at most 1000 octets with CRLF
 * (RFC 5321 §4.5.3.1.6) and message_size_limit (RFC 1870, through the
 * output buffer's hard cap).  After the first error the text is still
 * scanned to its end, but nothing more is stored.  Dot-unstuffing
 * follows RFC 5321 §4.5.2.  BDAT chunks (RFC 3030) are raw: no dots, no
 * terminator, the same line-ending rules.
 */
#include "autoconfig.h"

#include <string.h>

#include "smtp_int.h"

enum {
	D_BOL,		/* at a strict line start (after CRLF or at the start) */
	D_SBOL,		/* at a line start after a bare CR/LF: "." CRLF is not an end here */
	D_TEXT,		/* inside a line */
	D_CR,		/* CR seen, LF expected */
	D_DOT,		/* "." at a line start */
	D_DOTCR,	/* "." CR at a line start */
};

void
smtp_data_init(struct smtp_data *d, struct buf *out, int dotted, int normalize)
{
	d->out = out;
	d->dotted = dotted;
	d->normalize = normalize;
	d->state = D_BOL;
	d->dot_strict = 0;
	d->linelen = 0;
	d->error = SMTP_DATA_OK;
}

static void
fail(struct smtp_data *d, enum smtp_data_error e)
{
	if (d->error == SMTP_DATA_OK) {
		d->error = e;
		buf_free(d->out);	/* keep no partial message around */
	}
}

static void
emit(struct smtp_data *d, const char *p, size_t n)
{
	if (d->error != SMTP_DATA_OK || n == 0)
		return;
	if (buf_append(d->out, p, n) != 0)
		fail(d, SMTP_DATA_TOO_BIG);
}

/* Octets of the current line, line ending excluded (1000 with CRLF). */
static void
count(struct smtp_data *d, size_t n)
{
	d->linelen += n;
	if (d->linelen > SMTP_TEXT_LINE_MAX - 2)
		fail(d, SMTP_DATA_LONG_LINE);
}

/* A bare CR or LF ended a line. */
static void
bare(struct smtp_data *d)
{
	if (d->normalize)
		emit(d, "\r\n", 2);
	else
		fail(d, SMTP_DATA_BARE);
	d->state = D_SBOL;
	d->linelen = 0;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *p, size_t n, int *end)
{
	const char *lf, *cr;
	size_t i = 0, j, room;

	*end = 0;
	while (i < n) {
		char c = p[i];

		switch (d->state) {
		case D_BOL:
		case D_SBOL:
			if (d->dotted && c == '.') {
				d->dot_strict = d->state == D_BOL;
				d->state = D_DOT;
				count(d, 1);
			} else if (c == '\r') {
				d->state = D_CR;
			} else if (c == '\n') {
				bare(d);
			} else {
				d->state = D_TEXT;
				continue;	/* the run below takes it */
			}
			i++;
			break;
		case D_TEXT:
			/* j: the first CR or LF from i (two memchr: issue 20, the
			 * octet loop was a tenth of a large message's cost) */
			lf = memchr(p + i, '\n', n - i);
			j = lf != NULL ? (size_t)(lf - p) : n;
			if ((cr = memchr(p + i, '\r', j - i)) != NULL)
				j = (size_t)(cr - p);
			/* Store only what fits the line, so the first error is the
			 * same however the text was split into reads. */
			room = d->linelen < SMTP_TEXT_LINE_MAX - 2 ?
			    SMTP_TEXT_LINE_MAX - 2 - d->linelen : 0;
			if (j + 1 < n && p[j] == '\r' && p[j + 1] == '\n' && j - i <= room) {
				/* the usual case, a whole CRLF line that fits: one
				 * append, the state D_CR would reach */
				emit(d, p + i, j - i + 2);
				d->state = D_BOL;
				d->linelen = 0;
				i = j + 2;
				break;
			}
			emit(d, p + i, j - i < room ? j - i : room);
			count(d, j - i);
			i = j;
			if (i < n) {
				if (p[i] == '\r')
					d->state = D_CR;
				else
					bare(d);
				i++;
			}
			break;
		case D_CR:
			if (c == '\n') {
				emit(d, "\r\n", 2);
				d->state = D_BOL;
				d->linelen = 0;
				i++;
			} else {
				bare(d);	/* the CR was bare; C starts the next line */
			}
			break;
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOTCR;
				i++;
			} else if (c == '\n') {
				emit(d, ".", 1);
				bare(d);
				i++;
			} else {
				/* RFC 5321 §4.5.2: drop the first of the line's dots. */
				d->state = D_TEXT;
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				i++;
				if (d->dot_strict) {
					*end = 1;
					return i;
				}
				emit(d, ".\r\n", 3);
				d->state = D_BOL;
				d->linelen = 0;
			} else {
				emit(d, ".", 1);
				bare(d);
			}
			break;
		}
	}
	return i;
}

void
smtp_data_finish(struct smtp_data *d)
{
	switch (d->state) {
	case D_CR:
		bare(d);
		break;
	case D_TEXT:
		/* A last line without CRLF: end it, so the queue holds lines. */
		emit(d, "\r\n", 2);
		break;
	default:
		break;
	}
	d->state = D_BOL;
	d->linelen = 0;
}

void
smtp_data_outcome(const struct smtp_data *d, struct outcome *out)
{
	switch (d->error) {
	case SMTP_DATA_BARE:
		outcome_reply(out, R_BARE_LINE_ENDING);
		break;
	case SMTP_DATA_LONG_LINE:
		outcome_reply(out, R_TEXT_LINE_TOO_LONG);
		break;
	case SMTP_DATA_TOO_BIG:
		outcome_reply(out, R_MESSAGE_TOO_BIG);
		break;
	case SMTP_DATA_OK:
		outcome_reply(out, R_LOCAL_ERROR);	/* asked without an error */
		break;
	}
}
