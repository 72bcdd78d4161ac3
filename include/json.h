/* SPDX-License-Identifier: ISC */
/*
 * json.h: a small JSON writer and parser, enough for the control
 * protocol (one JSON object per line, DESIGN.md §9), the --json output
 * of posternctl and records other modules keep as JSON text.
 *
 * Writer: struct json_out appends to a struct buf and inserts commas
 * itself; strings are escaped (control characters as \u00XX, non-ASCII
 * bytes passed through, invalid UTF-8 is not repaired).  Never emits
 * newlines, so one value is one line.
 *
 * Parser: json_parse() builds a tree (objects keep key order) with a
 * depth cap; strings are unescaped into NUL-terminated copies (a \u0000
 * escape is refused so C strings stay whole).  Numbers are kept as
 * int64 when integral, otherwise as double.
 */
#ifndef POSTERN_JSON_H
#define POSTERN_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "buf.h"

/* ---- writer ---- */

#define JSON_MAX_DEPTH 32

struct json_out {
	struct buf *b;		/* borrowed */
	int depth;
	unsigned char need_comma[JSON_MAX_DEPTH + 1];
	int after_key;
};

void json_out_init(struct json_out *j, struct buf *b);
void json_obj_begin(struct json_out *j);
void json_obj_end(struct json_out *j);
void json_arr_begin(struct json_out *j);
void json_arr_end(struct json_out *j);
void json_key(struct json_out *j, const char *key);
void json_str(struct json_out *j, const char *s);	/* NULL writes null */
void json_strn(struct json_out *j, const char *s, size_t n);
/* Write S as one JSON string to OUT (CLI output built with printf). */
void json_fput_str(FILE *out, const char *s);
void json_int(struct json_out *j, int64_t v);
void json_uint(struct json_out *j, uint64_t v);
void json_bool(struct json_out *j, int v);
void json_null(struct json_out *j);
/* Insert already-valid JSON text (e.g. a stored verdicts object). */
void json_raw(struct json_out *j, const char *text, size_t n);
/* Shorthands for "key": value inside an object. */
void json_kv_str(struct json_out *j, const char *key, const char *s);
void json_kv_int(struct json_out *j, const char *key, int64_t v);
void json_kv_uint(struct json_out *j, const char *key, uint64_t v);
void json_kv_bool(struct json_out *j, const char *key, int v);

/* ---- parser ---- */

enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_DOUBLE, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
	enum json_type type;
	int b;
	int64_t i;
	double d;
	char *s;		/* JSON_STRING, owned */
	size_t slen;
	size_t n;		/* array / object members */
	struct json_value **items;	/* owned */
	char **keys;		/* JSON_OBJECT, owned, parallel to items */
};

/* Parse exactly one value (surrounding white space allowed).  NULL on
 * error with a message in ERR. */
struct json_value *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json_value *v);
/* Write a parsed tree back as JSON (NULL writes null). */
void json_write_value(struct json_out *j, const struct json_value *v);

/* Object member or NULL (also NULL when O is not an object). */
const struct json_value *json_get(const struct json_value *o, const char *key);
/* Typed lookups with a default when absent or of another type.  Strings
 * are binary-safe (s, slen): the writer escapes NUL as \u0000 and the
 * parser takes it back (issue 12 item 13: `queue show` of a message with
 * NUL failed because only one side allowed it); keys never hold NUL, and
 * json_get_str() treats a string holding NUL as absent (it is no C string). */
const char *json_get_str(const struct json_value *o, const char *key, const char *def);
/* 1 when a string anywhere in V holds NUL (control requests refuse them). */
int json_has_nul(const struct json_value *v);
int64_t json_get_int(const struct json_value *o, const char *key, int64_t def);
int json_get_bool(const struct json_value *o, const char *key, int def);

#endif
