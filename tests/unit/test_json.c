/* SPDX-License-Identifier: ISC */
/*
 * test_json: the JSON writer (commas, escaping, nesting) and the parser,
 * table-driven over valid and invalid documents, including depth limits,
 * escapes, surrogate pairs and trailing garbage; and a writer -> parser
 * round trip, also of strings holding NUL (issue 12 item 13: the writer
 * wrote \u0000 and the parser refused it, so `queue show` of a message
 * with NUL failed).
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tap.h"
#include "util.h"

struct bad_case { const char *text; const char *why; };

static const struct bad_case bad[] = {
	{ "", "unexpected end" },
	{ "{", "expected key" },
	{ "{\"a\" 1}", "expected ':'" },
	{ "{\"a\":1,}", "expected key" },
	{ "[1,2", "expected ','" },
	{ "\"abc", "unterminated" },
	{ "\"a\\u00\"", "bad \\u" },
	{ "{\"a\\u0000b\":1}", "not allowed in a key" },
	{ "\"\\ud800\"", "surrogate" },
	{ "\"a\nb\"", "control character" },
	{ "tru", "unexpected character" },
	{ "1 2", "trailing" },
	{ "-", "bad number" },
	{ "{\"a\":1}x", "trailing" },
	{ "01", "trailing" },
	{ "2.", "bad number" },
	{ "1e", "bad number" },
	{ "-", "bad number" },
	{ ".5", "bad number" },
};

int
main(void)
{
	struct buf b;
	struct json_out j;
	struct json_value *v;
	char err[128], deep[200];
	size_t i;

	plan(30 + (int)ARRAY_SIZE(bad));

	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_kv_str(&j, "a", "x\"y\\z\n\x01");
	json_kv_int(&j, "n", -42);
	json_key(&j, "list");
	json_arr_begin(&j);
	json_int(&j, 1);
	json_str(&j, NULL);
	json_bool(&j, 1);
	json_obj_begin(&j);
	json_obj_end(&j);
	json_arr_end(&j);
	json_kv_bool(&j, "f", 0);
	json_obj_end(&j);
	is_str(b.data, "{\"a\":\"x\\\"y\\\\z\\n\\u0001\",\"n\":-42,\"list\":[1,null,true,{}],\"f\":false}",
	    "writer output");

	{
		/* issue 20: escapes between runs copied whole, at both ends, NUL, DEL */
		struct buf e;
		struct json_out je;
		static const char in[] = "\"ab\tcd\\\x7f" "efgh\r\n\x1f" "tail\x00" "z\"";

		buf_init(&e, 0);
		json_out_init(&je, &e);
		json_strn(&je, in, sizeof(in) - 1);
		buf_append(&e, "", 1);
		is_str(e.data, "\"\\\"ab\\tcd\\\\\\u007fefgh\\r\\n\\u001ftail\\u0000z\\\"\"",
		    "escapes between runs, at both ends, NUL and DEL");
		buf_free(&e);
	}
	v = json_parse(b.data, b.len, err, sizeof(err));
	ok(v != NULL, "writer output parses");
	is_str(json_get_str(v, "a", NULL), "x\"y\\z\n\x01", "string unescaped");
	is_int(json_get_int(v, "n", 0), -42, "integer");
	is_int(json_get_bool(v, "f", 1), 0, "boolean");
	ok(json_get(v, "list") != NULL && json_get(v, "list")->n == 4, "array of 4");
	ok(json_get(v, "list")->items[1]->type == JSON_NULL, "null member");
	is_str(json_get_str(v, "missing", "def"), "def", "default for missing key");
	is_int(json_get_int(v, "a", 7), 7, "default for wrong type");
	json_free(v);
	buf_free(&b);

	{
		const char *txt = " {\"u\":\"\\u00e9\\ud83d\\ude00\\/\", \"d\": 1.5e2, \"e\":[] } ";
		v = json_parse(txt, strlen(txt), err, sizeof(err));
	}
	ok(v != NULL, "escapes parse (%s)", v ? "" : err);
	is_str(json_get_str(v, "u", ""), "\xc3\xa9\xf0\x9f\x98\x80/", "\\u escapes and surrogates to UTF-8");
	ok(json_get(v, "d") && json_get(v, "d")->type == JSON_DOUBLE && json_get(v, "d")->d == 150.0,
	    "double");
	ok(json_get(v, "e") && json_get(v, "e")->type == JSON_ARRAY && json_get(v, "e")->n == 0,
	    "empty array");
	json_free(v);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		v = json_parse(bad[i].text, strlen(bad[i].text), err, sizeof(err));
		ok(v == NULL && strstr(err, bad[i].why) != NULL, "bad %zu '%s': %s", i, bad[i].text, err);
		json_free(v);
	}

	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	v = json_parse(deep, 200, err, sizeof(err));
	ok(v == NULL && strstr(err, "deep") != NULL, "nesting capped: %s", err);
	memset(deep, '[', 20);
	memset(deep + 20, ']', 20);
	v = json_parse(deep, 40, err, sizeof(err));
	ok(v != NULL, "moderate nesting fine");
	json_free(v);

	v = json_parse("9223372036854775807", 19, err, sizeof(err));
	ok(v && v->type == JSON_INT && v->i == INT64_MAX, "int64 max");
	json_free(v);
	v = json_parse("99999999999999999999", 20, err, sizeof(err));
	ok(v == NULL, "integer overflow refused");
	v = json_parse("\"a\\u0041\"", 9, err, sizeof(err));
	is_str(v ? v->s : NULL, "aA", "\\u0041");
	is_int(v ? (long long)v->slen : -1, 2, "string length");
	json_free(v);
	v = json_parse("{\"k\":\"v\",\"k2\":{\"x\":[1,{\"y\":null}]}}", 35, err, sizeof(err));
	ok(v && json_get(json_get(v, "k2"), "x") != NULL, "nested lookup");
	json_free(v);
	v = json_parse("-1e99", 5, err, sizeof(err));
	ok(v && v->type == JSON_DOUBLE && v->i == INT64_MIN, "huge double clamps its integer view");
	json_free(v);
	v = json_parse("nul", 3, err, sizeof(err));
	ok(v == NULL, "truncated literal");

	/* NUL: the writer and the parser agree */
	buf_init(&b, 0);
	json_out_init(&j, &b);
	json_obj_begin(&j);
	json_key(&j, "headers");
	json_strn(&j, "Subject: a\0b\r\n", 14);
	json_obj_end(&j);
	is_str(b.data, "{\"headers\":\"Subject: a\\u0000b\\r\\n\"}", "writer escapes NUL as \\u0000");
	v = json_parse(b.data, b.len, err, sizeof(err));
	ok(v != NULL, "... and the parser takes it back (%s)", v ? "" : err);
	ok(v && json_get(v, "headers") && json_get(v, "headers")->slen == 14 &&
	    memcmp(json_get(v, "headers")->s, "Subject: a\0b\r\n", 14) == 0,
	    "binary-safe: all 14 bytes, NUL included");
	ok(json_get_str(v, "headers", NULL) == NULL, "json_get_str() does not hand out a string holding NUL");
	ok(json_has_nul(v), "json_has_nul() sees it");
	{
		struct buf b2;
		struct json_out j2;

		buf_init(&b2, 0);
		json_out_init(&j2, &b2);
		json_write_value(&j2, v);
		is_str(b2.data, b.data, "parse -> write round trip is exact");
		buf_free(&b2);
	}
	json_free(v);
	buf_free(&b);
	v = json_parse("{\"a\":[\"x\"]}", 11, err, sizeof(err));
	ok(v && !json_has_nul(v), "json_has_nul() is 0 without NUL");
	json_free(v);
	return done();
}
