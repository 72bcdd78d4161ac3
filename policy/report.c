/* SPDX-License-Identifier: ISC */
/*
 * report.c: DSN and ARF parsing for the feedback listener
 * (include/report.h).  A bounded scan, not a MIME decoder: the top
 * header's Content-Type says which report it is (RFC 6522 §3:
 * multipart/report with report-type), the machine-readable part is
 * found by its content type (message/delivery-status, RFC 3464 §2.1;
 * message/feedback-report, RFC 5965 §2) and read line by line up to the
 * next boundary line, and tokens are found by their shape anywhere in
 * the text.  Header lines are unfolded into a fixed buffer (longer ones
 * are cut); every loop advances by at least one byte; nothing is
 * allocated.  The listener caps the message size before this runs.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <string.h>

#include "report.h"
#include "util.h"

#define LINE_MAX_UNFOLDED 1024

/* The line at *POS (without CR LF) into LINE, *POS moved past it. */
static size_t
next_line(const char *msg, size_t len, size_t *pos, const char **line)
{
	const char *p = msg + *pos, *lf = memchr(p, '\n', len - *pos);
	size_t n = lf ? (size_t)(lf - p) : len - *pos;

	*line = p;
	*pos += lf ? n + 1 : n;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

/* Case-insensitive: does LINE (N bytes) start with field NAME ":"? */
static const char *
field_value(const char *line, size_t n, const char *name, size_t *vlen)
{
	size_t nl = strlen(name), i;

	if (n <= nl || line[nl] != ':' || mem_casecmp(line, name, nl) != 0)
		return NULL;
	for (i = nl + 1; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	*vlen = n - i;
	while (*vlen > 0 && (line[i + *vlen - 1] == ' ' || line[i + *vlen - 1] == '\t'))
		(*vlen)--;
	return line + i;
}

/* Copy V (N bytes) lower-cased into OUT, cut at OUTLEN - 1. */
static void
copy_lower(char *out, size_t outlen, const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	out[i] = '\0';
}

static int
contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle), i, h = strlen(hay);

	for (i = 0; i + n <= h; i++)
		if (mem_casecmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

/* The top header's Content-Type, unfolded and lower-cased, into OUT. */
static size_t
top_content_type(const char *msg, size_t len, char *out, size_t outlen, size_t *body)
{
	size_t pos = 0, o = 0;
	int in_ct = 0;

	out[0] = '\0';
	while (pos < len) {
		const char *line, *v;
		size_t n = next_line(msg, len, &pos, &line), vl;

		if (n == 0)
			break;
		if ((line[0] == ' ' || line[0] == '\t')) {
			if (in_ct && o + 1 < outlen) {
				copy_lower(out + o, outlen - o, line, n);
				o = strlen(out);
			}
			continue;
		}
		in_ct = 0;
		if ((v = field_value(line, n, "Content-Type", &vl)) != NULL) {
			copy_lower(out, outlen, v, vl);
			o = strlen(out);
			in_ct = 1;
		}
	}
	*body = pos;
	return o;
}

/* Offset of the body of the first part whose Content-Type is TYPE, or LEN. */
static size_t
part_body(const char *msg, size_t len, size_t from, const char *type)
{
	size_t pos = from, tl = strlen(type);

	while (pos < len) {
		const char *line, *v;
		size_t n = next_line(msg, len, &pos, &line), vl;

		if ((v = field_value(line, n, "Content-Type", &vl)) != NULL && vl >= tl &&
		    mem_casecmp(v, type, tl) == 0) {
			/* skip the rest of the part's header */
			while (pos < len && next_line(msg, len, &pos, &line) > 0)
				;
			return pos;
		}
	}
	return len;
}

/* "rfc822; ADDR" (RFC 3464 §2.3.1): ADDR without <>, into OUT, or "". */
static void
dsn_address(const char *v, size_t vl, char *out, size_t outlen)
{
	const char *semi = memchr(v, ';', vl);
	size_t k = 0;

	out[0] = '\0';
	if (semi == NULL || (size_t)(semi - v) != 6 || mem_casecmp(v, "rfc822", 6) != 0)
		return;
	vl -= 7;
	v = semi + 1;
	while (vl > 0 && (*v == ' ' || *v == '\t' || *v == '<'))
		v++, vl--;
	while (k < vl && k + 1 < outlen && v[k] != '>' && (unsigned char)v[k] > ' ' &&
	    (unsigned char)v[k] < 0x7f)
		k++;
	if (k == vl || v[k] == '>' || v[k] == ' ') {
		memcpy(out, v, k);
		out[k] = '\0';
	}
}

/* RFC 3464 §2.3: per-recipient blocks, separated by empty lines. */
static void
parse_dsn(const char *msg, size_t len, size_t from, struct report *r)
{
	size_t pos = part_body(msg, len, from, "message/delivery-status");
	char status[16] = "", final_rcpt[320] = "", orig_rcpt[320] = "";
	int failed = 0;

	while (pos < len) {
		const char *line, *v;
		size_t n = next_line(msg, len, &pos, &line), vl;
		int end = pos >= len || (n >= 2 && line[0] == '-' && line[1] == '-');

		if ((v = field_value(line, n, "Action", &vl)) != NULL)
			failed = vl >= 6 && mem_casecmp(v, "failed", 6) == 0;
		else if ((v = field_value(line, n, "Status", &vl)) != NULL) {
			size_t k;

			for (k = 0; k < vl && (isdigit((unsigned char)v[k]) || v[k] == '.'); k++)
				;
			copy_lower(status, sizeof(status), v, k);
		} else if ((v = field_value(line, n, "Final-Recipient", &vl)) != NULL)
			dsn_address(v, vl, final_rcpt, sizeof(final_rcpt));
		else if ((v = field_value(line, n, "Original-Recipient", &vl)) != NULL)
			dsn_address(v, vl, orig_rcpt, sizeof(orig_rcpt));
		if (n == 0 || end) {
			if (failed && status[0] && !r->failed) {
				r->failed = 1;
				str_copy(r->status, status, sizeof(r->status));
			}
			if (failed && status[0] && r->nfail < REPORT_MAX_FAILED) {
				struct report_failed *f = &r->fail[r->nfail++];

				str_copy(f->status, status, sizeof(f->status));
				str_copy(f->final_rcpt, final_rcpt, sizeof(f->final_rcpt));
				str_copy(f->orig_rcpt, orig_rcpt, sizeof(f->orig_rcpt));
			}
			failed = 0;
			status[0] = final_rcpt[0] = orig_rcpt[0] = '\0';
		}
		if (end && n >= 2 && line[0] == '-')
			break;
	}
}

/* RFC 5965 §3.1: Feedback-Type: in the machine-readable part. */
static void
parse_arf(const char *msg, size_t len, size_t from, struct report *r)
{
	size_t pos = part_body(msg, len, from, "message/feedback-report");

	while (pos < len) {
		const char *line, *v;
		size_t n = next_line(msg, len, &pos, &line), vl;

		if (n >= 2 && line[0] == '-' && line[1] == '-')
			break;
		if (n == 0 && r->feedback_type[0])
			return;		/* end of the report's fields */
		if ((v = field_value(line, n, "Feedback-Type", &vl)) != NULL) {
			size_t k;

			for (k = 0; k < vl && (isalnum((unsigned char)v[k]) || v[k] == '-'); k++)
				;
			copy_lower(r->feedback_type, sizeof(r->feedback_type), v, k);
		} else if ((v = field_value(line, n, "Original-Rcpt-To", &vl)) != NULL &&
		    vl < sizeof(r->orig_rcpt)) {
			size_t k;

			for (k = 0; k < vl && (unsigned char)v[k] > ' ' && (unsigned char)v[k] < 0x7f; k++)
				;
			memcpy(r->orig_rcpt, v, k);
			r->orig_rcpt[k] = '\0';
		}
	}
}

/* "(postern) with PROTO id QID" anywhere: our Received: field's queue id. */
static void
find_qid(const char *msg, size_t len, struct report *r)
{
	static const char mark[] = "(postern) with ";
	size_t ml = sizeof(mark) - 1, i, k;

	for (i = 0; i + ml < len; i++) {
		if (memcmp(msg + i, mark, ml) != 0)
			continue;
		for (k = i + ml; k < len && k < i + ml + 32 && msg[k] != ' ' && msg[k] != ';'; k++)
			;
		if (k + 4 + 20 > len || memcmp(msg + k, " id ", 4) != 0)
			continue;
		k += 4;
		if (k + 20 < len && isalnum((unsigned char)msg[k + 20]))
			continue;
		{
			size_t j;

			for (j = 0; j < 20 && isalnum((unsigned char)msg[k + j]); j++)
				;
			if (j != 20)
				continue;
			memcpy(r->qid, msg + k, 20);
			r->qid[20] = '\0';
			return;
		}
	}
}

/*
 * RFC 5965 §2 (d): the third part is the original message
 * (message/rfc822) or its header (text/rfc822-headers).  Its
 * Message-ID: field, unfolded, into R->orig_message_id; the report's
 * own Message-ID (in the top header) is never taken.
 */
static void
find_orig_msgid(const char *msg, size_t len, size_t from, struct report *r)
{
	size_t pos = part_body(msg, len, from, "message/rfc822"), o = 0;
	int in_field = 0;

	if (pos >= len)
		pos = part_body(msg, len, from, "text/rfc822-headers");
	while (pos < len) {
		const char *line, *v;
		size_t n = next_line(msg, len, &pos, &line), vl;

		if (n == 0 || (n >= 2 && line[0] == '-' && line[1] == '-'))
			break;		/* end of the original's header, or of the part */
		if (line[0] == ' ' || line[0] == '\t') {
			if (in_field) {
				if (o + n >= sizeof(r->orig_message_id)) {
					o = 0;		/* too long: none */
					in_field = 0;
					continue;
				}
				memcpy(r->orig_message_id + o, line, n);
				o += n;
			}
			continue;
		}
		if (in_field)
			break;		/* the field is complete */
		if (o == 0 && (v = field_value(line, n, "Message-ID", &vl)) != NULL &&
		    vl < sizeof(r->orig_message_id)) {
			memcpy(r->orig_message_id, v, vl);
			o = vl;
			in_field = 1;
		}
	}
	r->orig_message_id[o] = '\0';
}

static int
tok_char(char c)
{
	return isalnum((unsigned char)c);
}

/* A token of the shape PREFIX + 39 alphanumerics + a non-alphanumeric. */
static void
find_tokens(const char *msg, size_t len, struct report *r)
{
	size_t i;

	for (i = 0; i + 2 + TOKEN_LEN <= len; i++) {
		char *dst = NULL;
		size_t start, k;

		if ((msg[i] == 'b' || msg[i] == 'B') && msg[i + 1] == '+')
			dst = r->btoken, start = i + 2;
		else if ((msg[i] == 'u' || msg[i] == 'U') && msg[i + 1] == '+')
			dst = r->utoken, start = i + 2;
		else if (i + 3 + TOKEN_LEN <= len && msg[i] == '/' && msg[i + 1] == 'u' &&
		    msg[i + 2] == '/')
			dst = r->utoken, start = i + 3;
		else
			continue;
		if (dst[0] || (i > 0 && tok_char(msg[i - 1]) && msg[i] != '/'))
			continue;
		for (k = 0; k < TOKEN_LEN && tok_char(msg[start + k]); k++)
			;
		if (k != TOKEN_LEN || (start + k < len && tok_char(msg[start + k])))
			continue;
		copy_lower(dst, TOKEN_LEN + 1, msg + start, TOKEN_LEN);
	}
}

enum report_type
report_parse(const char *msg, size_t len, struct report *out)
{
	char ct[LINE_MAX_UNFOLDED];
	size_t body;

	memset(out, 0, sizeof(*out));
	if (msg == NULL || len == 0)
		return REPORT_NONE;
	top_content_type(msg, len, ct, sizeof(ct), &body);
	if (strncmp(ct, "multipart/report", 16) == 0) {
		if (contains_ci(ct, "delivery-status")) {
			out->type = REPORT_DSN;
			parse_dsn(msg, len, body, out);
		} else if (contains_ci(ct, "feedback-report")) {
			out->type = REPORT_ARF;
			parse_arf(msg, len, body, out);
			find_qid(msg, len, out);
			find_orig_msgid(msg, len, body, out);
		}
	}
	find_tokens(msg, len, out);
	return out->type;
}
