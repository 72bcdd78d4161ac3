/* SPDX-License-Identifier: ISC */
/*
 * headers.c: the "headers" EOM policy stage (issue 4, DESIGN.md §7):
 * the header fix-ups every submission server owes the message
 * (RFC 6409 §8, RFC 5321 §4.4):
 *
 *  - prepend a Received: trace field.  The client's IP address appears
 *    only when smtpd_received_client_ip = yes (privacy: customers may not
 *    want their app servers' addresses in every message); the HELO name,
 *    our host name and the RFC 3848 protocol (ESMTPSA, ...) always do.
 *    No "for <recipient>" clause: with Bcc recipients it would disclose
 *    them to everyone who reads the trace.
 *    The queue id goes in the "id" clause (RFC 5321 §4.4), so a delivered
 *    copy can be tied to our log lines (qid=...).
 *  - add Date: and Message-ID: when the message has none (RFC 6409 §8.2, §8.3);
 *    the Message-ID (found or added) is kept in m->message_id for the log.
 *  - remove every Bcc: field, continuation lines included (RFC 5322 §3.6.3
 *    leaves this to the submission agent; a relay must not leak them);
 *  - remove every X-Postern-Retention: field (issue 17): the
 *    application's request for this message only, never delivered.  A
 *    value of 0 sets m->zero_retention (the body is shredded as its last
 *    recipient is final) unless the account says retention_header =
 *    forbid.
 *
 * The stage is a pure function over struct policy_msg (the relay fills
 * client_helo, client_addr and protocol), run in the EOM thread-pool job
 * before DKIM signing.  The header section is everything before the
 * first empty line.  The message is not copied: Bcc: fields are cut out
 * of m->data in place, Received: goes on top and Date:/Message-ID: at
 * the end of the header section through m->hdrs (policy/message.c).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "policy.h"
#include "token.h"
#include "util.h"

/* Field name of the header line at P (LEN octets), or 0 if not "Name:". */
static size_t
field_name(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == ':')
			return i;
		if (c <= ' ' || c >= 0x7f)
			return 0;
	}
	return 0;
}

/* Is the field value V (LEN octets, up to the line end) "0", blanks aside? */
static int
retention_zero(const char *v, size_t len)
{
	size_t i = 0;
	int zero = 0;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i < len && v[i] == '0') {
		zero = 1;
		i++;
	}
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
		i++;
	return zero && i == len;
}

static int
name_is(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && mem_casecmp(p, name, n) == 0;
}

/* Copy S into OUT keeping only characters safe inside a Received: clause. */
static void
trace_token(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c > ' ' && c < 0x7f && c != '(' && c != ')' && c != ';' && c != '\\')
			buf_append(out, s, 1);
		else
			buf_append(out, "_", 1);
	}
}

static const char *
our_hostname(const struct policy_msg *m, char *tmp, size_t tmplen)
{
	if (m->params && m->params->headers.hostname && m->params->headers.hostname[0])
		return m->params->headers.hostname;
	if (gethostname(tmp, tmplen) == 0) {
		tmp[tmplen - 1] = '\0';
		if (tmp[0])
			return tmp;
	}
	return "localhost";
}

/* The Message-ID field body V (LEN octets, may continue on folded
 * lines) without white space, for the log; the first one counts. */
static void
keep_msgid(struct policy_msg *m, const char *v, size_t len)
{
	size_t i, o = 0;

	if (m->message_id[0] != '\0')
		return;
	for (i = 0; i < len && o + 1 < sizeof(m->message_id); i++) {
		unsigned char c = (unsigned char)v[i];
		if (c > ' ' && c < 0x7f)
			m->message_id[o++] = (char)c;
	}
	m->message_id[o] = '\0';
}

/* Remove the field at P[S..E) from the message in place (no copy). */
static void
cut(struct buf *data, size_t s, size_t e)
{
	memmove(data->data + s, data->data + e, data->len - e);
	data->len -= e - s;
	data->data[data->len] = '\0';
}

int
policy_headers(struct policy_msg *m, struct outcome *out)
{
	size_t pos = 0, hdr_end, field_start = 0;
	int have_date = 0, have_msgid = 0, in_bcc = 0, ret;
	char host[256], date[64];
	struct buf nb;
	time_t now = time(NULL);

	hdr_end = policy_msg_header_end(m, NULL);
	rfc5322_date(date, sizeof(date), now);

	/* Bcc: fields (with their continuation lines) are cut out of the
	 * message in place; Date:/Message-ID: are looked for on the way. */
	while (pos < hdr_end) {
		const char *line = m->data.data + pos;
		const char *lf = memchr(line, '\n', hdr_end - pos);
		size_t linelen = lf ? (size_t)(lf - line) + 1 : hdr_end - pos;
		size_t n;

		if (line[0] == ' ' || line[0] == '\t') {
			/* continuation of the previous field */
		} else {
			if (in_bcc) {
				cut(&m->data, field_start, pos);
				hdr_end -= pos - field_start;
				pos = field_start;
				in_bcc = 0;
				continue;
			}
			if ((n = field_name(line, linelen)) > 0) {
				/* X-Postern-Retention: is ours, never delivered */
				ret = name_is(line, n, "X-Postern-Retention");
				if (ret && retention_zero(line + n + 1, linelen - n - 1) &&
				    (m->acct == NULL || m->acct->retention_header != 0))
					m->zero_retention = 1;
				in_bcc = ret || name_is(line, n, "Bcc");
				have_date |= name_is(line, n, "Date");
				if (name_is(line, n, "Message-ID") && !have_msgid) {
					/* the value with its continuation lines */
					size_t end = pos + linelen;

					while (end < hdr_end && (m->data.data[end] == ' ' ||
					    m->data.data[end] == '\t')) {
						const char *nl = memchr(m->data.data + end, '\n',
						    hdr_end - end);
						end = nl ? (size_t)(nl - m->data.data) + 1 : hdr_end;
					}
					have_msgid = 1;
					keep_msgid(m, line + n + 1, end - pos - n - 1);
					if (token_msgid_hash_hex(line + n + 1, end - pos - n - 1,
					    m->message_id_hash) != 0)
						m->message_id_hash[0] = '\0';
				}
			} else {
				in_bcc = 0;
			}
			field_start = pos;
		}
		pos += linelen;
	}
	if (in_bcc) {
		cut(&m->data, field_start, hdr_end);
		hdr_end = field_start;
	}

	buf_init(&nb, 0);
	buf_append_str(&nb, "Received: from ");
	trace_token(&nb, m->client_helo && m->client_helo[0] ? m->client_helo : "unknown");
	if (m->client_addr && m->client_addr[0] && m->params && m->params->headers.received_client_ip) {
		/* TCP-info is an address literal (RFC 5321 §4.1.3). */
		buf_append_str(&nb, strchr(m->client_addr, ':') ? " ([IPv6:" : " ([");
		trace_token(&nb, m->client_addr);
		buf_append_str(&nb, "])");
	}
	buf_append_str(&nb, "\r\n\tby ");
	trace_token(&nb, our_hostname(m, host, sizeof(host)));
	buf_append_str(&nb, " (postern) with ");
	trace_token(&nb, m->protocol && m->protocol[0] ? m->protocol : "ESMTP");
	if (m->msgid[0])	/* RFC 5321 §4.4 "id": the queue id (ARF reports quote it) */
		buf_printf(&nb, " id %s", m->msgid);
	buf_printf(&nb, ";\r\n\t%s\r\n", date);
	policy_msg_prepend(m, nb.data, nb.len);
	buf_reset(&nb);

	/* A last header line without CRLF (no body at all) gets one first. */
	if (hdr_end > 0 && m->data.data[hdr_end - 1] != '\n' && (!have_date || !have_msgid))
		buf_append_str(&nb, "\r\n");
	if (!have_date)
		buf_printf(&nb, "Date: %s\r\n", date);
	if (!have_msgid) {
		unsigned char r[16];
		size_t i, start;

		crypto_random_bytes(r, sizeof(r));
		buf_printf(&nb, "Message-ID: ");
		start = nb.len;
		buf_printf(&nb, "<%llu.", (unsigned long long)now);
		for (i = 0; i < sizeof(r); i++) {
			static const char hex[] = "0123456789abcdef";
			char h[2] = { hex[r[i] >> 4], hex[r[i] & 15] };

			buf_append(&nb, h, 2);
		}
		buf_append_str(&nb, "@");
		trace_token(&nb, our_hostname(m, host, sizeof(host)));
		buf_append_str(&nb, ">\r\n");
		keep_msgid(m, nb.data + start, nb.len - start);
		if (token_msgid_hash_hex(nb.data + start, nb.len - start,
		    m->message_id_hash) != 0)
			m->message_id_hash[0] = '\0';
	}
	if (nb.len > 0)
		policy_msg_append_header(m, nb.data, nb.len);
	buf_free(&nb);
	outcome_ok(out);
	return 0;
}
