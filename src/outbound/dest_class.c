/* SPDX-License-Identifier: ISC */
/*
 * dest_class.c: which class of destination a delivery went to (issue
 * 19, include/dest_class.h), for the `class` label of the delivery
 * counters.  The label must stay bounded whatever mail flows, so the
 * classes are a fixed table (big mailbox providers, an address literal,
 * the transport table, other) plus at most DEST_CLASS_EXTRA named by
 * the operator (metrics_delivery_classes); a domain never becomes a
 * label value.  Matching is by DNS suffix on the recipient's domain and
 * on the MX host actually used, so a hosted domain (MX aspmx.l.google.com)
 * counts as google.  The parser is pure over the config list; the
 * delivery engine calls dest_class_of() once per reported recipient.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dest_class.h"
#include "util.h"

enum { C_GOOGLE, C_MICROSOFT, C_YAHOO, C_APPLE, C_LITERAL, C_TRANSPORT, C_OTHER };

static const char *const builtin_names[DEST_CLASS_BUILTIN] = {
	"google", "microsoft", "yahoo", "apple", "literal", "transport", "other",
};

static const struct { const char *suffix; int cls; } builtin_suffixes[] = {
	{ "gmail.com", C_GOOGLE }, { "googlemail.com", C_GOOGLE }, { "google.com", C_GOOGLE },
	{ "outlook.com", C_MICROSOFT }, { "hotmail.com", C_MICROSOFT },
	{ "hotmail.co.uk", C_MICROSOFT }, { "live.com", C_MICROSOFT }, { "msn.com", C_MICROSOFT },
	{ "yahoo.com", C_YAHOO }, { "yahoo.co.uk", C_YAHOO }, { "yahoo.fr", C_YAHOO },
	{ "yahoo.de", C_YAHOO }, { "ymail.com", C_YAHOO }, { "rocketmail.com", C_YAHOO },
	{ "aol.com", C_YAHOO }, { "yahoodns.net", C_YAHOO },
	{ "icloud.com", C_APPLE }, { "me.com", C_APPLE }, { "mac.com", C_APPLE },
	{ "apple.com", C_APPLE },
};

/* NAME (without a final dot) is SUFFIX or a name below it. */
static int
suffix_match(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (s == 0 || n < s || strncasecmp(name + n - s, suffix, s) != 0)
		return 0;
	return n == s || name[n - s - 1] == '.';
}

/* A label value: [a-z0-9_], 1 to DEST_CLASS_NAME_MAX - 1 characters. */
static int
name_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= DEST_CLASS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* A DNS name of LDH labels, no empty label, at most 253 octets. */
static int
suffix_valid(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-') || ++label > 63)
			return 0;
	}
	return 1;
}

int
dest_classes_parse(struct dest_classes *out, const struct config_list *items, char *err,
    size_t errlen)
{
	size_t i, k;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < DEST_CLASS_BUILTIN; i++)
		str_copy(out->names[i], builtin_names[i], sizeof(out->names[i]));
	out->n = DEST_CLASS_BUILTIN;
	for (i = 0; items != NULL && i < items->n; i++) {
		const char *it = items->items[i], *colon = strchr(it, ':');
		size_t nl = colon != NULL ? (size_t)(colon - it) : 0;

		if (colon == NULL || !name_valid(it, nl) || !suffix_valid(colon + 1)) {
			snprintf(err, errlen, "metrics_delivery_classes: '%s': expected name:suffix "
			    "(name [a-z0-9_], at most %d characters; suffix a DNS name)", it,
			    DEST_CLASS_NAME_MAX - 1);
			return -1;
		}
		for (k = 0; k < out->n; k++)
			if (strlen(out->names[k]) == nl && strncmp(out->names[k], it, nl) == 0)
				break;
		if (k == C_LITERAL || k == C_TRANSPORT || k == C_OTHER) {
			snprintf(err, errlen, "metrics_delivery_classes: '%s': %s is not matched by "
			    "suffix", it, out->names[k]);
			return -1;
		}
		if (k == out->n) {
			if (out->n == DEST_CLASS_MAX) {
				snprintf(err, errlen, "metrics_delivery_classes: '%s': at most %d "
				    "classes may be added", it, DEST_CLASS_EXTRA);
				return -1;
			}
			memcpy(out->names[k], it, nl);
			out->names[k][nl] = '\0';
			out->n++;
		}
		if (out->nsuffix == DEST_CLASS_SUFFIXES) {
			snprintf(err, errlen, "metrics_delivery_classes: at most %d items",
			    DEST_CLASS_SUFFIXES);
			return -1;
		}
		str_copy(out->suffixes[out->nsuffix].suffix, colon + 1,
		    sizeof(out->suffixes[out->nsuffix].suffix));
		out->suffixes[out->nsuffix++].cls = k;
	}
	return 0;
}

size_t
dest_class_of(const struct dest_classes *c, const char *domain, const char *mx_host,
    int via_transport)
{
	const char *names[2];
	size_t i, k;

	if (domain != NULL && domain[0] == '[')
		return C_LITERAL;
	names[0] = domain != NULL ? domain : "";
	names[1] = mx_host != NULL ? mx_host : "";
	/* the operator's first, then the built-in table; the domain before
	 * the MX host (a Google Workspace domain: its MX says google) */
	for (k = 0; k < 2; k++)
		for (i = 0; i < c->nsuffix; i++)
			if (suffix_match(names[k], c->suffixes[i].suffix))
				return c->suffixes[i].cls;
	for (k = 0; k < 2; k++)
		for (i = 0; i < ARRAY_SIZE(builtin_suffixes); i++)
			if (suffix_match(names[k], builtin_suffixes[i].suffix))
				return (size_t)builtin_suffixes[i].cls;
	return via_transport ? C_TRANSPORT : C_OTHER;
}

const char *
dest_class_name(const struct dest_classes *c, size_t i)
{
	return i < c->n ? c->names[i] : "other";
}
