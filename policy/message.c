/* SPDX-License-Identifier: ISC */
/*
 * message.c: the message of an end-of-message policy run (issue 11
 * item 6).  m->data is the buffer the SMTP session filled during DATA,
 * handed over without a copy; it is the only copy of the message while
 * the stages run and until the queue has sealed it.  Stages change it
 * only in place (a field removed with a memmove, a part redacted in
 * place) and put the fields they add in m->hdrs: `top` fields above the
 * header (Received:, X-Postern-SPF:, X-Postern-DLP:, DKIM-Signature:),
 * `end` fields before the empty line (Date:, Message-ID:).
 *
 * The final message is defined once, here: top fields (last added
 * first), the header section of m->data, the end fields, m->data from
 * the empty line on.  policy_msg_iov() gives it as pieces for
 * queue_commit(), which seals them into chunks without joining them;
 * policy_msg_header_block() gives the final header section (a copy of
 * the header only) for the DKIM stage, which signs exactly these bytes
 * with the body of m->data; policy_msg_render() joins everything, for
 * tests and tools.  The stages' shared edits live here too: removing a
 * client's copy of a field a stage adds (policy_msg_remove_field()) and
 * appending a stage's verdict object (policy_msg_add_verdict()).
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "spam.h"
#include "util.h"

void
policy_msg_prepend(struct policy_msg *m, const char *text, size_t len)
{
	struct header_list *h = &m->hdrs;

	if (len == 0)
		return;
	if (h->ntop == h->captop) {
		h->captop = h->captop ? h->captop * 2 : 4;
		h->top = xrealloc(h->top, h->captop * sizeof(*h->top));
	}
	h->top[h->ntop].text = xmalloc(len + 1);
	memcpy(h->top[h->ntop].text, text, len);
	h->top[h->ntop].text[len] = '\0';
	h->top[h->ntop].len = len;
	h->ntop++;
}

void
policy_msg_append_header(struct policy_msg *m, const char *text, size_t len)
{
	if (m->hdrs.end.data == NULL && m->hdrs.end.max == 0)
		buf_init(&m->hdrs.end, 0);	/* a zeroed policy_msg */
	(void)buf_append(&m->hdrs.end, text, len);
}

size_t
policy_msg_header_end(const struct policy_msg *m, size_t *body)
{
	const char *p = m->data.data;
	size_t len = m->data.len, pos = 0;

	while (pos < len) {
		const char *lf = memchr(p + pos, '\n', len - pos);
		size_t linelen = lf ? (size_t)(lf - (p + pos)) + 1 : len - pos;

		if (linelen <= 2 && (p[pos] == '\r' || p[pos] == '\n')) {
			if (body != NULL)
				*body = pos + linelen;
			return pos;
		}
		pos += linelen;
	}
	if (body != NULL)
		*body = len;
	return len;
}

size_t
policy_msg_len(const struct policy_msg *m)
{
	size_t i, n = m->data.len + m->hdrs.end.len;

	for (i = 0; i < m->hdrs.ntop; i++)
		n += m->hdrs.top[i].len;
	return n;
}

size_t
policy_msg_niov(const struct policy_msg *m)
{
	return m->hdrs.ntop + 3;
}

static size_t
iov_add(struct iovec *iov, size_t n, const void *p, size_t len)
{
	if (len == 0)
		return n;
	iov[n].iov_base = (void *)p;
	iov[n].iov_len = len;
	return n + 1;
}

size_t
policy_msg_iov(const struct policy_msg *m, struct iovec *iov)
{
	size_t hend = policy_msg_header_end(m, NULL), i, n = 0;

	for (i = m->hdrs.ntop; i-- > 0;)
		n = iov_add(iov, n, m->hdrs.top[i].text, m->hdrs.top[i].len);
	n = iov_add(iov, n, m->data.data, hend);
	n = iov_add(iov, n, m->hdrs.end.data, m->hdrs.end.len);
	n = iov_add(iov, n, m->data.data ? m->data.data + hend : NULL, m->data.len - hend);
	return n;
}

void
policy_msg_header_block(const struct policy_msg *m, struct buf *out)
{
	size_t hend = policy_msg_header_end(m, NULL), i;

	for (i = m->hdrs.ntop; i-- > 0;)
		(void)buf_append(out, m->hdrs.top[i].text, m->hdrs.top[i].len);
	(void)buf_append(out, m->data.data, hend);
	(void)buf_append(out, m->hdrs.end.data, m->hdrs.end.len);
}

void
policy_msg_render(const struct policy_msg *m, struct buf *out)
{
	struct iovec *iov = xcalloc(policy_msg_niov(m), sizeof(*iov));
	size_t i, n = policy_msg_iov(m, iov);

	for (i = 0; i < n; i++)
		(void)buf_append(out, iov[i].iov_base, iov[i].iov_len);
	free(iov);
}

void
policy_msg_free_headers(struct policy_msg *m)
{
	size_t i;

	for (i = 0; i < m->hdrs.ntop; i++)
		free(m->hdrs.top[i].text);
	free(m->hdrs.top);
	m->hdrs.top = NULL;
	m->hdrs.ntop = m->hdrs.captop = 0;
	buf_free(&m->hdrs.end);
}

void
policy_msg_free(struct policy_msg *m)
{
	policy_msg_free_headers(m);
	buf_free(&m->data);
	buf_free(&m->verdicts);
	spam_dnsq_free(m->spam_q);
	m->spam_q = NULL;
}

void
policy_msg_remove_field(struct policy_msg *m, const char *name)
{
	struct buf *data = &m->data;
	size_t nl = strlen(name), i = 0;

	while (i < data->len) {
		const char *eol = memchr(data->data + i, '\n', data->len - i);
		size_t next = eol ? (size_t)(eol - data->data) + 1 : data->len, e;

		if (next - i <= 2 && (data->data[i] == '\r' || data->data[i] == '\n'))
			return;	/* the empty line: end of the header */
		if (next - i > nl && data->data[i + nl] == ':' &&
		    mem_casecmp(data->data + i, name, nl) == 0) {
			/* the field and its continuation lines (RFC 5322 §2.2.3) */
			e = next;
			while (e < data->len && (data->data[e] == ' ' || data->data[e] == '\t')) {
				eol = memchr(data->data + e, '\n', data->len - e);
				e = eol ? (size_t)(eol - data->data) + 1 : data->len;
			}
			memmove(data->data + i, data->data + e, data->len - e);
			data->len -= e - i;
			data->data[data->len] = '\0';
			continue;
		}
		i = next;
	}
}

void
policy_msg_add_verdict(struct policy_msg *m, const char *obj)
{
	struct buf *b = &m->verdicts;

	if (b->len >= 2 && b->data[b->len - 1] == ']') {
		b->len--;
		if (b->len > 1)
			(void)buf_append(b, ",", 1);
	} else {
		buf_reset(b);
		(void)buf_append(b, "[", 1);
	}
	(void)buf_append_str(b, obj);
	(void)buf_append(b, "]", 1);
	b->data[b->len] = '\0';
}
