/* SPDX-License-Identifier: ISC */
/*
 * parse.c: the pure SMTP server-side parsers (STYLE rule 6): command
 * line → verb + argument, the MAIL/RCPT argument (path + ESMTP
 * parameters), BDAT's size, mailbox syntax, xtext and base64.
 *
 * Everything here is a function over (pointer, length) with no I/O, no
 * allocation and no globals, so the unit tables and the fuzz target
 * fuzz_smtp_cmd drive it directly.  Outputs go into fixed-size fields
 * sized by the RFC limits; anything longer is a syntax error, never a
 * truncation.  Address syntax is RFC 5321 §4.1.2, strict: what we
 * accept we must be able to relay verbatim.  Non-ASCII is allowed only
 * in a transaction that declared SMTPUTF8 (RFC 6531 §3.3) and must then
 * be well-formed UTF-8.  Replies for errors are filled into an outcome
 * so server.c never builds its own codes for parse failures.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <string.h>

#include "smtp_int.h"
#include "util.h"

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_V_HELO }, { "EHLO", SMTP_V_EHLO }, { "MAIL", SMTP_V_MAIL },
	{ "RCPT", SMTP_V_RCPT }, { "DATA", SMTP_V_DATA }, { "BDAT", SMTP_V_BDAT },
	{ "RSET", SMTP_V_RSET }, { "NOOP", SMTP_V_NOOP }, { "QUIT", SMTP_V_QUIT },
	{ "HELP", SMTP_V_HELP }, { "VRFY", SMTP_V_VRFY }, { "EXPN", SMTP_V_EXPN },
	{ "STARTTLS", SMTP_V_STARTTLS }, { "AUTH", SMTP_V_AUTH },
};

static int
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5322 atext, plus UTF8-non-ascii under RFC 6531 (validated before). */
static int
is_atext(unsigned char c, int utf8)
{
	if (is_alnum(c))
		return 1;
	if (c >= 0x80)
		return utf8;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

int
smtp_parse_command(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t i, vlen;

	cmd->verb = SMTP_V_UNKNOWN;
	cmd->name = "?";
	cmd->arg = line + len;
	cmd->arglen = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (strlen(verbs[i].name) == vlen && mem_casecmp(line, verbs[i].name, vlen) == 0) {
			cmd->verb = verbs[i].verb;
			cmd->name = verbs[i].name;
			break;
		}
	}
	i = vlen;
	while (i < len && line[i] == ' ')
		i++;
	while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	cmd->arg = line + i;
	cmd->arglen = len - i;
	return 0;
}

int
smtp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	uint32_t cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1;
			cp = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 2;
			cp = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3;
			cp = p[i] & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* RFC 5321 §4.1.3 IPv4-address-literal: four 1-3 digit snums 0..255. */
static int
ipv4_literal_valid(const char *p, size_t len)
{
	size_t i = 0;
	int part, digits, val;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || p[i] != '.')
				return 0;
			i++;
		}
		digits = val = 0;
		while (i < len && is_digit((unsigned char)p[i]) && digits < 4) {
			val = val * 10 + (p[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || digits > 3 || val > 255)
			return 0;
	}
	return i == len;
}

/* Address literal between [ and ] (RFC 5321 §4.1.3). */
static int
address_literal_valid(const char *p, size_t len)
{
	char tmp[64];
	struct in6_addr a6;
	size_t i;

	if (ipv4_literal_valid(p, len))
		return 1;
	if (len > 5 && mem_casecmp(p, "IPv6:", 5) == 0) {
		if (len - 5 >= sizeof(tmp))
			return 0;
		memcpy(tmp, p + 5, len - 5);
		tmp[len - 5] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	for (i = 0; i < len && (is_alnum((unsigned char)p[i]) || p[i] == '-'); i++)
		;
	if (i == 0 || i >= len - 1 || p[i] != ':' || p[i - 1] == '-')
		return 0;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return 0;
	}
	return 1;
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]
 * (RFC 5321 §4.1.2), or a U-label under SMTPUTF8 (RFC 6531 §3.3). */
static int
domain_valid(const char *p, size_t len, int utf8)
{
	size_t i = 0, start;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	while (i < len) {
		start = i;
		while (i < len && p[i] != '.') {
			unsigned char c = (unsigned char)p[i];
			if (!(is_alnum(c) || c == '-' || (utf8 && c >= 0x80)))
				return 0;
			i++;
		}
		if (i == start || i - start > 63 || p[start] == '-' || p[i - 1] == '-')
			return 0;
		if (i < len) {
			i++;	/* the dot */
			if (i == len)
				return 0;	/* trailing dot */
		}
	}
	return 1;
}

int
smtp_mailbox_valid(const char *p, size_t len, int utf8)
{
	size_t i, at;

	if (len == 0 || len > SMTP_PATH_MAX - 2)
		return -1;
	if (!utf8) {
		for (i = 0; i < len; i++)
			if ((unsigned char)p[i] >= 0x80)
				return -1;
	} else if (!smtp_utf8_valid(p, len)) {
		return -1;
	}
	if (p[0] == '"') {
		/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE */
		for (i = 1; i < len && p[i] != '"'; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c == '\\') {
				i++;
				if (i >= len || (unsigned char)p[i] < 32 || (unsigned char)p[i] > 126)
					return -1;
			} else if (!((c >= 32 && c <= 126) || (utf8 && c >= 0x80))) {
				return -1;
			}
		}
		if (i >= len)
			return -1;
		at = i + 1;
		if (at >= len || p[at] != '@')
			return -1;
	} else {
		/* Dot-string = Atom *("." Atom) */
		for (i = 0; i < len && p[i] != '@'; i++) {
			if (p[i] == '.') {
				if (i == 0 || p[i - 1] == '.')
					return -1;
			} else if (!is_atext((unsigned char)p[i], utf8)) {
				return -1;
			}
		}
		if (i == 0 || i >= len || p[i - 1] == '.')
			return -1;
		at = i;
	}
	if (at > SMTP_LOCAL_MAX)
		return -1;
	p += at + 1;
	len -= at + 1;
	if (len >= 2 && p[0] == '[' && p[len - 1] == ']')
		return address_literal_valid(p + 1, len - 2) ? 0 : -1;
	return domain_valid(p, len, utf8) ? 0 : -1;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3461 §4: xtext = *( xchar / hexchar ); hexchar = "+" 2 upper-case HEX. */
int
smtp_xtext_decode(const char *p, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		int v;

		if (c == '+') {
			int h, l;
			if (len - i < 3 || (h = hexval((unsigned char)p[i + 1])) < 0 ||
			    (l = hexval((unsigned char)p[i + 2])) < 0)
				return -1;
			v = h * 16 + l;
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			v = c;
		} else {
			return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)v;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
smtp_base64_decode(const char *p, size_t len, unsigned char *out, size_t outlen)
{
	size_t i, o = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		for (k = 0; k < 4; k++) {
			if (p[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val((unsigned char)p[i + k])) < 0) {
				return -1;
			}
		}
		if (o + 3 - (size_t)pad > outlen)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	return (int)o;
}

/*
 * "<path>" at P: Reverse-path / Forward-path with an optional source
 * route (RFC 5321 §4.1.2, accepted and ignored per §C).  Copies the
 * mailbox into ADDR ("" for <> when NULL_OK) and returns the index after
 * '>', or -1.  Quoted local parts may contain '>' (handled).
 */
static long
parse_path(const char *p, size_t len, int null_ok, int utf8, char *addr, size_t addrlen)
{
	size_t i = 1, start, end;
	int inq = 0;

	if (len < 2 || p[0] != '<')
		return -1;
	if (p[1] == '>') {
		if (!null_ok)
			return -1;
		addr[0] = '\0';
		return 2;
	}
	if (p[1] == '@') {
		/* A-d-l = At-domain *( "," At-domain ) ":" */
		size_t colon;
		for (colon = 1; colon < len && p[colon] != ':' && p[colon] != '>'; colon++)
			;
		if (colon >= len || p[colon] != ':')
			return -1;
		i = 1;
		while (i < colon) {
			size_t s;
			if (p[i] != '@')
				return -1;
			s = ++i;
			while (i < colon && p[i] != ',')
				i++;
			if (!domain_valid(p + s, i - s, utf8))
				return -1;
			if (i < colon)
				i++;	/* the comma */
			if (i == colon && p[i - 1] == ',')
				return -1;
		}
		i = colon + 1;
	}
	start = i;
	for (; i < len; i++) {
		if (inq && p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			inq = !inq;
		else if (!inq && p[i] == '>')
			break;
	}
	if (i >= len)
		return -1;
	end = i;
	if (end - start + 1 > addrlen || end - start > SMTP_PATH_MAX - 2)
		return -1;
	if (smtp_mailbox_valid(p + start, end - start, utf8) != 0)
		return -1;
	memcpy(addr, p + start, end - start);
	addr[end - start] = '\0';
	return (long)(end + 1);
}

/* Length of the "<...>" path at P (through '>', quote-aware), or 0. */
static size_t
path_len(const char *p, size_t len)
{
	size_t i;
	int inq = 0;

	if (len == 0 || p[0] != '<')
		return 0;
	for (i = 1; i < len; i++) {
		if (inq && p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			inq = !inq;
		else if (!inq && p[i] == '>')
			return i + 1;
	}
	return 0;
}

/* Splits "KEY[=VALUE]" parameters separated by spaces; calls FN for each. */
struct param {
	const char *key;
	size_t keylen;
	const char *val;	/* NULL when absent */
	size_t vallen;
};

static int
next_param(const char *p, size_t len, size_t *pos, struct param *prm)
{
	size_t i = *pos, k;

	while (i < len && p[i] == ' ')
		i++;
	if (i >= len)
		return 0;
	prm->key = p + i;
	for (k = i; k < len && (is_alnum((unsigned char)p[k]) || (k > i && p[k] == '-')); k++)
		;
	prm->keylen = k - i;
	if (prm->keylen == 0)
		return -1;
	prm->val = NULL;
	prm->vallen = 0;
	if (k < len && p[k] == '=') {
		size_t v = ++k;
		while (k < len && p[k] != ' ') {
			unsigned char c = (unsigned char)p[k];
			/* esmtp-value = 1*(%d33-60 / %d62-126) */
			if (c < 33 || c > 126 || c == '=')
				return -1;
			k++;
		}
		if (k == v)
			return -1;
		prm->val = p + v;
		prm->vallen = k - v;
	} else if (k < len && p[k] != ' ') {
		return -1;
	}
	*pos = k;
	return 1;
}

static int
key_is(const struct param *prm, const char *name)
{
	return prm->keylen == strlen(name) && mem_casecmp(prm->key, name, prm->keylen) == 0;
}

static int
val_is(const struct param *prm, const char *name)
{
	return prm->val && prm->vallen == strlen(name) &&
	    mem_casecmp(prm->val, name, prm->vallen) == 0;
}

static int
syntax(struct outcome *err, const char *what)
{
	outcome_reply(err, R_SYNTAX_ERROR_IN, what);
	return -1;
}

/* "FROM:" / "TO:" and the optional (lenient) spaces before the path. */
static int
skip_prefix(const char *arg, size_t len, const char *prefix, size_t *pos)
{
	size_t n = strlen(prefix);

	if (len < n || mem_casecmp(arg, prefix, n) != 0)
		return -1;
	while (n < len && arg[n] == ' ')
		n++;
	*pos = n;
	return 0;
}

int
smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *out, struct outcome *err)
{
	size_t pos, ppos, i;
	long end;
	struct param prm;
	int r, seen_size = 0, seen_body = 0, seen_ret = 0, seen_auth = 0;
	char tmp[SMTP_PATH_MAX * 3];

	memset(out, 0, sizeof(*out));
	if (skip_prefix(arg, len, "FROM:", &pos) != 0)
		return syntax(err, "MAIL command: use MAIL FROM:<address>");
	/* Find the end of the path first: parameters (SMTPUTF8) decide
	 * whether UTF-8 is allowed in it (RFC 6531 §3.4). */
	i = pos + path_len(arg + pos, len - pos);
	if (i == pos || (i < len && arg[i] != ' '))
		return syntax(err, "MAIL command: use MAIL FROM:<address>");
	ppos = i;
	while ((r = next_param(arg, len, &ppos, &prm)) == 1) {
		out->has_params = 1;
		if (key_is(&prm, "SIZE")) {
			uint64_t v = 0;
			size_t k;
			if (seen_size++ || !prm.val || prm.vallen > 20)
				return syntax(err, "SIZE parameter");
			for (k = 0; k < prm.vallen; k++) {
				uint64_t dg = (uint64_t)(prm.val[k] - '0');
				if (!is_digit((unsigned char)prm.val[k]) ||
				    v > (UINT64_MAX - dg) / 10)
					return syntax(err, "SIZE parameter");
				v = v * 10 + dg;
			}
			out->size = v;
		} else if (key_is(&prm, "BODY")) {
			if (seen_body++)
				return syntax(err, "BODY parameter");
			if (val_is(&prm, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (val_is(&prm, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else {
				outcome_reply(err, R_UNSUPPORTED_BODY);
				return -1;
			}
		} else if (key_is(&prm, "SMTPUTF8")) {
			if (out->smtputf8++ || prm.val)
				return syntax(err, "SMTPUTF8 parameter");
		} else if (key_is(&prm, "RET")) {
			if (seen_ret++)
				return syntax(err, "RET parameter");
			if (val_is(&prm, "FULL"))
				out->ret = SMTP_RET_FULL;
			else if (val_is(&prm, "HDRS"))
				out->ret = SMTP_RET_HDRS;
			else
				return syntax(err, "RET parameter");
		} else if (key_is(&prm, "ENVID")) {
			int n, k;
			if (out->has_envid++ || !prm.val || prm.vallen > SMTP_ENVID_MAX)
				return syntax(err, "ENVID parameter");
			n = smtp_xtext_decode(prm.val, prm.vallen, out->envid, sizeof(out->envid));
			if (n < 0)
				return syntax(err, "ENVID parameter");
			/* RFC 3461 §4.4: printable US-ASCII only. */
			for (k = 0; k < n; k++)
				if ((unsigned char)out->envid[k] < 32 || (unsigned char)out->envid[k] > 126)
					return syntax(err, "ENVID parameter");
		} else if (key_is(&prm, "AUTH")) {
			/* RFC 4954 §5: accepted, not trusted; we know who authenticated. */
			if (seen_auth++ || !prm.val || prm.vallen > 500 ||
			    smtp_xtext_decode(prm.val, prm.vallen, tmp, sizeof(tmp)) < 0)
				return syntax(err, "AUTH parameter");
		} else {
			outcome_reply(err, R_UNSUPPORTED_PARAM, "MAIL");
			return -1;
		}
	}
	if (r < 0)
		return syntax(err, "MAIL parameters");
	end = parse_path(arg + pos, i - pos, 1, out->smtputf8, out->addr, sizeof(out->addr));
	if (end < 0 || (size_t)end != i - pos) {
		outcome_reply(err, R_BAD_SENDER_SYNTAX);
		return -1;
	}
	return 0;
}

int
smtp_parse_rcpt(const char *arg, size_t len, int utf8, struct smtp_rcpt_args *out,
    struct outcome *err)
{
	size_t pos, i, k;
	long end;
	struct param prm;
	int r, seen_notify = 0;

	memset(out, 0, sizeof(*out));
	if (skip_prefix(arg, len, "TO:", &pos) != 0)
		return syntax(err, "RCPT command: use RCPT TO:<address>");
	i = pos + path_len(arg + pos, len - pos);
	if (i == pos || (i < len && arg[i] != ' '))
		return syntax(err, "RCPT command: use RCPT TO:<address>");
	/* RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is valid. */
	if (i - pos == 12 && mem_casecmp(arg + pos, "<Postmaster>", 12) == 0) {
		memcpy(out->addr, "Postmaster", 11);
		end = 12;
	} else {
		end = parse_path(arg + pos, i - pos, 0, utf8, out->addr, sizeof(out->addr));
	}
	if (end < 0 || (size_t)end != i - pos) {
		outcome_reply(err, R_BAD_RCPT_SYNTAX);
		return -1;
	}
	pos = i;
	while ((r = next_param(arg, len, &pos, &prm)) == 1) {
		out->has_params = 1;
		if (key_is(&prm, "NOTIFY")) {
			/* RFC 3461 §4.1: NEVER, or a list of SUCCESS, FAILURE, DELAY. */
			size_t s = 0;
			if (seen_notify++ || !prm.val)
				return syntax(err, "NOTIFY parameter");
			while (s <= prm.vallen) {
				struct param item;
				unsigned bit;
				for (k = s; k < prm.vallen && prm.val[k] != ','; k++)
					;
				item.val = prm.val + s;
				item.vallen = k - s;
				if (val_is(&item, "NEVER"))
					bit = SMTP_NOTIFY_NEVER;
				else if (val_is(&item, "SUCCESS"))
					bit = SMTP_NOTIFY_SUCCESS;
				else if (val_is(&item, "FAILURE"))
					bit = SMTP_NOTIFY_FAILURE;
				else if (val_is(&item, "DELAY"))
					bit = SMTP_NOTIFY_DELAY;
				else
					return syntax(err, "NOTIFY parameter");
				if (out->notify & bit)
					return syntax(err, "NOTIFY parameter");
				out->notify |= bit;
				s = k + 1;
			}
			if ((out->notify & SMTP_NOTIFY_NEVER) && out->notify != SMTP_NOTIFY_NEVER)
				return syntax(err, "NOTIFY parameter");
		} else if (key_is(&prm, "ORCPT")) {
			/* RFC 3461 §4.2: addr-type ";" xtext; kept as received. */
			char tmp[SMTP_ORCPT_MAX + 1];
			const char *semi;
			if (out->has_orcpt++ || !prm.val || prm.vallen > SMTP_ORCPT_MAX)
				return syntax(err, "ORCPT parameter");
			semi = memchr(prm.val, ';', prm.vallen);
			if (!semi || semi == prm.val)
				return syntax(err, "ORCPT parameter");
			for (k = 0; prm.val + k < semi; k++)
				if (!is_atext((unsigned char)prm.val[k], 0))
					return syntax(err, "ORCPT parameter");
			if (smtp_xtext_decode(semi + 1, prm.vallen - (size_t)(semi + 1 - prm.val),
			    tmp, sizeof(tmp)) <= 0)
				return syntax(err, "ORCPT parameter");
			memcpy(out->orcpt, prm.val, prm.vallen);
			out->orcpt[prm.vallen] = '\0';
		} else {
			outcome_reply(err, R_UNSUPPORTED_PARAM, "RCPT");
			return -1;
		}
	}
	if (r < 0)
		return syntax(err, "RCPT parameters");
	return 0;
}

int
smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, int *last)
{
	size_t i = 0;
	uint64_t v = 0;

	*last = 0;
	while (i < len && is_digit((unsigned char)arg[i])) {
		uint64_t dg = (uint64_t)(arg[i] - '0');
		if (v > (UINT64_MAX - dg) / 10)
			return -1;
		v = v * 10 + dg;
		i++;
	}
	if (i == 0)
		return -1;
	*size = v;
	if (i == len)
		return 0;
	if (arg[i] != ' ')
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	if (len - i == 4 && mem_casecmp(arg + i, "LAST", 4) == 0) {
		*last = 1;
		return 0;
	}
	return -1;
}
