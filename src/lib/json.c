/* SPDX-License-Identifier: ISC */
/*
 * json.c: the JSON writer and parser of include/json.h.
 *
 * The writer keeps one "needs a comma" flag per nesting level so
 * callers just emit keys and values in order.  The parser is a plain
 * recursive-descent parser over (pointer, length) with no globals; it
 * caps nesting at JSON_MAX_DEPTH so hostile input on the control socket
 * cannot exhaust the stack, and refuses trailing garbage.  Used by
 * src/control.c (requests and responses), posternctl (--json output)
 * and anyone who stores small JSON records.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* ---- writer ---- */

void
json_out_init(struct json_out *j, struct buf *b)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
}

/* Emit the separator owed before a new value at the current level. */
static void
json_sep(struct json_out *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->need_comma[j->depth])
		buf_append(j->b, ",", 1);
	j->need_comma[j->depth] = 1;
}

static void
json_open(struct json_out *j, char c)
{
	json_sep(j);
	buf_append(j->b, &c, 1);
	if (j->depth < JSON_MAX_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = 0;
}

static void
json_close(struct json_out *j, char c)
{
	buf_append(j->b, &c, 1);
	if (j->depth > 0)
		j->depth--;
}

void json_obj_begin(struct json_out *j) { json_open(j, '{'); }
void json_obj_end(struct json_out *j) { json_close(j, '}'); }
void json_arr_begin(struct json_out *j) { json_open(j, '['); }
void json_arr_end(struct json_out *j) { json_close(j, ']'); }

static void
json_escape(struct buf *b, const char *s, size_t n)
{
	size_t i, from = 0;
	char tmp[8];

	buf_append(b, "\"", 1);
	/* runs of octets that need no escape go in one append (issue 20:
	 * an append per octet was most of an event record's cost) */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc;

		if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')
			continue;
		if (i > from)
			buf_append(b, s + from, i - from);
		from = i + 1;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			esc = tmp;
		}
		buf_append(b, esc, strlen(esc));
	}
	if (n > from)
		buf_append(b, s + from, n - from);
	buf_append(b, "\"", 1);
}

void
json_key(struct json_out *j, const char *key)
{
	json_sep(j);
	json_escape(j->b, key, strlen(key));
	buf_append(j->b, ":", 1);
	j->after_key = 1;
}

void
json_strn(struct json_out *j, const char *s, size_t n)
{
	json_sep(j);
	json_escape(j->b, s, n);
}

void
json_str(struct json_out *j, const char *s)
{
	if (s == NULL)
		json_null(j);
	else
		json_strn(j, s, strlen(s));
}

void
json_int(struct json_out *j, int64_t v)
{
	json_sep(j);
	buf_printf(j->b, "%" PRId64, v);
}

void
json_uint(struct json_out *j, uint64_t v)
{
	json_sep(j);
	buf_printf(j->b, "%" PRIu64, v);
}

void
json_bool(struct json_out *j, int v)
{
	json_sep(j);
	buf_append_str(j->b, v ? "true" : "false");
}

void
json_null(struct json_out *j)
{
	json_sep(j);
	buf_append_str(j->b, "null");
}

void
json_raw(struct json_out *j, const char *text, size_t n)
{
	json_sep(j);
	buf_append(j->b, text, n);
}

void json_kv_str(struct json_out *j, const char *k, const char *s) { json_key(j, k); json_str(j, s); }
void json_kv_int(struct json_out *j, const char *k, int64_t v) { json_key(j, k); json_int(j, v); }
void json_kv_uint(struct json_out *j, const char *k, uint64_t v) { json_key(j, k); json_uint(j, v); }
void json_kv_bool(struct json_out *j, const char *k, int v) { json_key(j, k); json_bool(j, v); }

/* ---- parser ---- */

struct json_parser {
	const char *p, *end;
	char *err;
	size_t errlen;
	int failed;
};

static void
jp_fail(struct json_parser *jp, const char *what)
{
	if (!jp->failed && jp->err != NULL && jp->errlen > 0)
		snprintf(jp->err, jp->errlen, "json: %s", what);
	jp->failed = 1;
}

static void
jp_ws(struct json_parser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
	    *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static struct json_value *jp_value(struct json_parser *jp, int depth);

static void
utf8_put(struct buf *b, unsigned long cp)
{
	char o[4];

	if (cp < 0x80) {
		o[0] = (char)cp;
		buf_append(b, o, 1);
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, o, 2);
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, o, 3);
	} else {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, o, 4);
	}
}

static int
hex4(const char *p, unsigned long *out)
{
	unsigned long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned long)(c - 'A' + 10);
		else return -1;
	}
	*out = v;
	return 0;
}

/* Parse a string at jp->p (which is at '"'); returns malloc'd text. */
static char *
jp_string(struct json_parser *jp, size_t *lenp)
{
	struct buf b;
	unsigned long cp, lo;

	buf_init(&b, 0);
	jp->p++;
	while (jp->p < jp->end && *jp->p != '"') {
		unsigned char c = (unsigned char)*jp->p;
		if (c < 0x20) {
			jp_fail(jp, "control character in string");
			goto fail;
		}
		if (c != '\\') {
			buf_append(&b, jp->p, 1);
			jp->p++;
			continue;
		}
		if (jp->end - jp->p < 2) {
			jp_fail(jp, "truncated escape");
			goto fail;
		}
		jp->p++;
		switch (*jp->p) {
		case '"': buf_append(&b, "\"", 1); break;
		case '\\': buf_append(&b, "\\", 1); break;
		case '/': buf_append(&b, "/", 1); break;
		case 'b': buf_append(&b, "\b", 1); break;
		case 'f': buf_append(&b, "\f", 1); break;
		case 'n': buf_append(&b, "\n", 1); break;
		case 'r': buf_append(&b, "\r", 1); break;
		case 't': buf_append(&b, "\t", 1); break;
		case 'u':
			if (jp->end - jp->p < 5 || hex4(jp->p + 1, &cp) < 0) {
				jp_fail(jp, "bad \\u escape");
				goto fail;
			}
			jp->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (jp->end - jp->p < 7 || jp->p[1] != '\\' || jp->p[2] != 'u' ||
				    hex4(jp->p + 3, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
					jp_fail(jp, "bad surrogate pair");
					goto fail;
				}
				jp->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				jp_fail(jp, "lone low surrogate");
				goto fail;
			}
			/* NUL is kept (binary-safe: slen); keys refuse it, and
			 * json_get_str() does not hand it out as a C string */
			utf8_put(&b, cp);
			break;
		default:
			jp_fail(jp, "bad escape");
			goto fail;
		}
		jp->p++;
	}
	if (jp->p >= jp->end) {
		jp_fail(jp, "unterminated string");
		goto fail;
	}
	jp->p++;
	return buf_steal(&b, lenp);
fail:
	buf_free(&b);
	return NULL;
}

static struct json_value *
jv_new(enum json_type t)
{
	struct json_value *v = xcalloc(1, sizeof(*v));

	v->type = t;
	return v;
}

static void
jv_push(struct json_value *v, char *key, struct json_value *item)
{
	v->items = xrealloc(v->items, (v->n + 1) * sizeof(*v->items));
	if (v->type == JSON_OBJECT)
		v->keys = xrealloc(v->keys, (v->n + 1) * sizeof(*v->keys));
	v->items[v->n] = item;
	if (v->type == JSON_OBJECT)
		v->keys[v->n] = key;
	v->n++;
}

static int
jp_lit(struct json_parser *jp, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, lit, n) != 0)
		return 0;
	jp->p += n;
	return 1;
}

static struct json_value *
jp_number(struct json_parser *jp)
{
	char tmp[64], *e;
	const char *s = jp->p;
	size_t n;
	int isint = 1;
	struct json_value *v;

	/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
	if (jp->p < jp->end && *jp->p == '-')
		jp->p++;
	if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9') {
		jp_fail(jp, "bad number");
		return NULL;
	}
	if (*jp->p == '0')
		jp->p++;
	else
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	if (jp->p < jp->end && *jp->p == '.') {
		isint = 0;
		jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9') {
			jp_fail(jp, "bad number");
			return NULL;
		}
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
		isint = 0;
		jp->p++;
		if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
			jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9') {
			jp_fail(jp, "bad number");
			return NULL;
		}
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	n = (size_t)(jp->p - s);
	if (n >= sizeof(tmp)) {
		jp_fail(jp, "number too long");
		return NULL;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	if (isint) {
		long long ll = strtoll(tmp, &e, 10);
		if (*e != '\0' || errno != 0) {
			jp_fail(jp, "bad integer");
			return NULL;
		}
		v = jv_new(JSON_INT);
		v->i = ll;
		v->d = (double)ll;
	} else {
		double d = strtod(tmp, &e);
		if (*e != '\0' || !isfinite(d)) {
			jp_fail(jp, "bad number");
			return NULL;
		}
		v = jv_new(JSON_DOUBLE);
		v->d = d;
		/* Clamp: converting an out-of-range double is undefined. */
		if (d >= 9223372036854775807.0)
			v->i = INT64_MAX;
		else if (d <= -9223372036854775808.0)
			v->i = INT64_MIN;
		else
			v->i = (int64_t)d;
	}
	return v;
}

static struct json_value *
jp_value(struct json_parser *jp, int depth)
{
	struct json_value *v, *item;
	char *key;
	size_t klen;

	if (depth > JSON_MAX_DEPTH) {
		jp_fail(jp, "nested too deeply");
		return NULL;
	}
	jp_ws(jp);
	if (jp->p >= jp->end) {
		jp_fail(jp, "unexpected end");
		return NULL;
	}
	switch (*jp->p) {
	case '{':
		v = jv_new(JSON_OBJECT);
		jp->p++;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == '}') {
			jp->p++;
			return v;
		}
		for (;;) {
			jp_ws(jp);
			if (jp->p >= jp->end || *jp->p != '"') {
				jp_fail(jp, "expected key");
				goto fail;
			}
			if ((key = jp_string(jp, &klen)) == NULL)
				goto fail;
			if (memchr(key, '\0', klen) != NULL) {
				free(key);
				jp_fail(jp, "\\u0000 not allowed in a key");
				goto fail;
			}
			jp_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				jp_fail(jp, "expected ':'");
				goto fail;
			}
			jp->p++;
			if ((item = jp_value(jp, depth + 1)) == NULL) {
				free(key);
				goto fail;
			}
			jv_push(v, key, item);
			jp_ws(jp);
			if (jp->p < jp->end && *jp->p == ',') {
				jp->p++;
				continue;
			}
			if (jp->p < jp->end && *jp->p == '}') {
				jp->p++;
				return v;
			}
			jp_fail(jp, "expected ',' or '}'");
			goto fail;
		}
	case '[':
		v = jv_new(JSON_ARRAY);
		jp->p++;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ']') {
			jp->p++;
			return v;
		}
		for (;;) {
			if ((item = jp_value(jp, depth + 1)) == NULL)
				goto fail;
			jv_push(v, NULL, item);
			jp_ws(jp);
			if (jp->p < jp->end && *jp->p == ',') {
				jp->p++;
				continue;
			}
			if (jp->p < jp->end && *jp->p == ']') {
				jp->p++;
				return v;
			}
			jp_fail(jp, "expected ',' or ']'");
			goto fail;
		}
	case '"':
		v = jv_new(JSON_STRING);
		if ((v->s = jp_string(jp, &v->slen)) == NULL)
			goto fail;
		return v;
	case 't':
		if (!jp_lit(jp, "true"))
			break;
		v = jv_new(JSON_BOOL);
		v->b = 1;
		return v;
	case 'f':
		if (!jp_lit(jp, "false"))
			break;
		return jv_new(JSON_BOOL);
	case 'n':
		if (!jp_lit(jp, "null"))
			break;
		return jv_new(JSON_NULL);
	default:
		return jp_number(jp);
	}
	jp_fail(jp, "unexpected character");
	return NULL;
fail:
	json_free(v);
	return NULL;
}

struct json_value *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_parser jp = { text, text + len, err, errlen, 0 };
	struct json_value *v;

	if ((v = jp_value(&jp, 0)) == NULL)
		return NULL;
	jp_ws(&jp);
	if (jp.p != jp.end) {
		jp_fail(&jp, "trailing characters");
		json_free(v);
		return NULL;
	}
	return v;
}

void
json_free(struct json_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		json_free(v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	free(v);
}

const struct json_value *
json_get(const struct json_value *o, const char *key)
{
	size_t i;

	if (o == NULL || o->type != JSON_OBJECT)
		return NULL;
	for (i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

const char *
json_get_str(const struct json_value *o, const char *key, const char *def)
{
	const struct json_value *v = json_get(o, key);

	/* a string holding NUL is no C string: DEF, as if absent (use ->s, ->slen) */
	return v != NULL && v->type == JSON_STRING && strlen(v->s) == v->slen ? v->s : def;
}

int
json_has_nul(const struct json_value *v)
{
	size_t i;

	if (v == NULL)
		return 0;
	if (v->type == JSON_STRING)
		return strlen(v->s) != v->slen;
	for (i = 0; (v->type == JSON_ARRAY || v->type == JSON_OBJECT) && i < v->n; i++)
		if (json_has_nul(v->items[i]))
			return 1;
	return 0;
}

int64_t
json_get_int(const struct json_value *o, const char *key, int64_t def)
{
	const struct json_value *v = json_get(o, key);

	return v != NULL && (v->type == JSON_INT || v->type == JSON_DOUBLE) ? v->i : def;
}

int
json_get_bool(const struct json_value *o, const char *key, int def)
{
	const struct json_value *v = json_get(o, key);

	return v != NULL && v->type == JSON_BOOL ? v->b : def;
}

void
json_fput_str(FILE *out, const char *s)
{
	struct json_out j;
	struct buf b;

	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_str(&j, s);
	fwrite(b.data, 1, b.len, out);
	buf_free(&b);
}

/* Write a parsed tree back as JSON; doubles keep a '.' or exponent so
 * they read back as doubles (the fuzzer checks the round trip). */
void
json_write_value(struct json_out *j, const struct json_value *v)
{
	char tmp[64];
	size_t i;

	if (v == NULL) {
		json_null(j);
		return;
	}
	switch (v->type) {
	case JSON_NULL: json_null(j); break;
	case JSON_BOOL: json_bool(j, v->b); break;
	case JSON_INT: json_int(j, v->i); break;
	case JSON_DOUBLE:
		snprintf(tmp, sizeof(tmp), "%.17g", v->d);
		if (strpbrk(tmp, ".e") == NULL)
			strcat(tmp, ".0");
		json_raw(j, tmp, strlen(tmp));
		break;
	case JSON_STRING: json_strn(j, v->s, v->slen); break;
	case JSON_ARRAY:
		json_arr_begin(j);
		for (i = 0; i < v->n; i++)
			json_write_value(j, v->items[i]);
		json_arr_end(j);
		break;
	case JSON_OBJECT:
		json_obj_begin(j);
		for (i = 0; i < v->n; i++) {
			json_key(j, v->keys[i]);
			json_write_value(j, v->items[i]);
		}
		json_obj_end(j);
		break;
	}
}
