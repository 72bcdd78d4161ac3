/* SPDX-License-Identifier: ISC */
/*
 * test_mime: table tests of the streaming MIME parser.  Each message is
 * fed whole, one byte at a time and in 7-byte chunks, and the three
 * transcripts of the text callback ("no:text|" per part, part 0 last)
 * must be identical and equal to the expected one.  Then the limits,
 * the raw body offsets used by redaction, and the whole-buffer decoders
 * and encoders.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "tap.h"

static void
collect(void *arg, const struct mime_part *p, const char *text, size_t len)
{
	struct buf *b = arg;

	buf_printf(b, "%u:", p->no);
	buf_append(b, text, len);
	buf_append(b, "|", 1);
}

/* Parse MSG fed in pieces of STEP bytes (0 = whole); transcript into OUT. */
static enum mime_limit
run(const char *msg, size_t len, size_t step, const struct mime_limits *lim, struct buf *out)
{
	struct mime_parser *p = mime_new(lim, collect, out);
	enum mime_limit l;
	size_t i;

	if (step == 0)
		step = len ? len : 1;
	for (i = 0; i < len; i += step)
		mime_feed(p, msg + i, len - i < step ? len - i : step);
	mime_finish(p);
	l = mime_limit_hit(p);
	mime_free(p);
	return l;
}

static const struct mime_limits deflim = { 10, 500, 1 << 20 };

struct mcase {
	const char *name;
	const char *msg;
	const char *want;
};

#define ALT_MSG \
	"From: a@example.test\r\n" \
	"Subject: =?UTF-8?B?S2FydGU6IDQxMTE=?= =?UTF-8?Q?_1111?=\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n" \
	"\r\n" \
	"preamble 4000\r\n" \
	"--outer\r\n" \
	"Content-Type: multipart/alternative; boundary=inner\r\n" \
	"\r\n" \
	"--inner\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Transfer-Encoding: quoted-printable\r\n" \
	"\r\n" \
	"Card 4111 1111 11=\r\n" \
	"11 1111 caf=C3=A9\r\n" \
	"--inner\r\n" \
	"Content-Type: text/html; charset=windows-1252\r\n" \
	"\r\n" \
	"<p>Card 4111 <b>1111</b>&nbsp;1111&#32;1&#x31;11 \x80</p>\r\n" \
	"--inner--\r\n" \
	"--outer\r\n" \
	"Content-Type: text/csv; name=\"=?ISO-8859-1?Q?r=E9sum=E9.csv?=\"\r\n" \
	"Content-Disposition: attachment\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"\r\n" \
	"bmFtZSxjYXJkCmJvYiw0MTExMTExMTExMTExMTExCg==\r\n" \
	"--outer\r\n" \
	"Content-Type: image/png\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"\r\n" \
	"iVBORw0KGgo=\r\n" \
	"--outer--\r\n" \
	"epilogue 4111\r\n"

static const struct mcase cases[] = {
	{ "plain, no MIME headers",
	  "Subject: hi 4111\r\n\r\nhello\r\nworld\r\n",
	  "1:hello\r\nworld\r\n|0:hi 4111\n|" },
	{ "LF-only line endings",
	  "Subject: x\n\nhello\nworld\n",
	  "1:hello\nworld\n|0:x\n|" },
	{ "no body",
	  "Subject: only\r\n",
	  "1:|0:only\n|" },
	{ "folded subject with encoded words",
	  "Subject: =?utf-8?q?a=41?=\r\n =?utf-8?q?b?= c\r\n\r\n.\r\n",
	  "1:.\r\n|0:aAb c\n|" },
	{ "QP soft break inside a number, escapes, garbage",
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	  "4111 1111 11=\r\n11 1111 =3D x=ZZ y=4\r\n",
	  "1:4111 1111 1111 1111 = x=ZZ y=4\r\n|0:\n|" },
	{ "QP soft break with trailing white space",
	  "Content-Transfer-Encoding: Quoted-Printable\r\n\r\n41=  \r\n11\r\n",
	  "1:4111\r\n|0:\n|" },
	{ "base64 with garbage and no padding",
	  "Content-Transfer-Encoding: base64\r\n\r\naGVs*bG8\r\n gd29y!bGQ\r\n",
	  "1:hello world|0:\n|" },
	{ "ISO-8859-1",
	  "Content-Type: text/plain; charset=\"ISO-8859-1\"\r\n\r\ncaf\xe9\r\n",
	  "1:caf\xc3\xa9\r\n|0:\n|" },
	{ "Windows-1252",
	  "Content-Type: text/plain; charset=windows-1252\r\n\r\n\x80 5\x96\r\n",
	  "1:\xe2\x82\xac 5\xe2\x80\x93\r\n|0:\n|" },
	{ "HTML: tags, entities, script, comment",
	  "Content-Type: text/html\r\n\r\n<html><head><style>p{x:4111}</style></head>"
	  "<body><!-- 4111 --><p class=\"a>b\">Card: 4111 <b>1111</b>&nbsp;1111&#32;1&#49;11"
	  "</p><script>var x = '4111';</script>a &amp; b &lt; &unknown; &</body></html>\r\n",
	  /* style, comment, attribute and script content: aside, after the
	   * rest, in the order met (r1618) */
	  "1:\nCard: 4111 1111 1111 1111\na & b < &unknown; & \np{x:4111}\n\n4111 \n"
	  "\na>b\n\nvar x = '4111';\n|0:\n|" },
	{ "multipart/mixed with alternative, CSV attachment, image",
	  ALT_MSG,
	  "3:Card 4111 1111 1111 1111 caf\xc3\xa9|"
	  "4:\nCard 4111 1111 1111 1111 \xe2\x82\xac\n|"
	  "5:name,card\nbob,4111111111111111\n|"
	  "0:Karte: 4111 1111\nr\xc3\xa9sum\xc3\xa9.csv\n|" },
	{ "message/rfc822",
	  "Subject: outer\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
	  "--b\r\nContent-Type: message/rfc822\r\n\r\n"
	  "Subject: inner 536-22-1234\r\nContent-Type: text/plain\r\n\r\ninner body\r\n"
	  "--b--\r\n",
	  "2:see attached|4:inner body|0:outer\ninner 536-22-1234\n|" },
	{ "missing close delimiter, padding after boundary",
	  "Content-Type: multipart/mixed; boundary=\"x y\"\r\n\r\n"
	  "--x y  \r\n\r\nfirst\r\n--x y\t\r\nContent-Type: text/plain\r\n\r\nsecond\r\n",
	  "2:first|3:second\r\n|0:\n|" },
	{ "nested multipart closed by the outer boundary",
	  "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
	  "Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nin\r\n"
	  "--o\r\n\r\nafter\r\n--o--\r\n",
	  "3:in|4:after|0:\n|" },
	{ "multipart without boundary is scanned as text",
	  "Content-Type: multipart/mixed\r\n\r\nbody\r\n",
	  "1:body\r\n|0:\n|" },
	{ "base64 message/rfc822 is parsed as a message",
	  "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "U3ViamVjdDogeAoKNDExMQ==\r\n",
	  "2:4111|0:\nx\n|" },
	{ "issue 18 #3: base64 message/rfc822 whose text part is base64 too",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "U3ViamVjdDogaW5uZXINCk1JTUUtVmVyc2lvbjogMS4wDQpDb250ZW50LVR5cGU6IHRleHQvcGxh\r\naW47IGNoYXJzZXQ9dXRmLTgNCkNvbnRlbnQtVHJhbnNmZXItRW5jb2Rpbmc6IGJhc2U2NA0KDQpR\r\nMkZ5WkNBME5UVTJJRGN6TnpVZ09EWTRPU0E1T0RVMURRbz0NCg==\r\n--b\r\nContent-Type: text/plain\r\n\r\nafter\r\n--b--\r\n",
	  "3:Card 4556 7375 8689 9855\r\n|4:after|0:\ninner\n|" },
	{ "issue 18 #1: a boundary of 71 characters",
	  "Content-Type: multipart/mixed; boundary=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\r\n\r\n"
	  "--xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "Q2FyZCA0NTU2IDczNzUgODY4OSA5ODU1\r\n--xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx--\r\n",
	  "2:Card 4556 7375 8689 9855|0:\n|" },
	{ "format=flowed soft breaks are joined, space-stuffing removed",
	  "Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
	  "Card: 4556 7375 \r\n8689 9855\r\n  stuffed\r\n-- \r\nsig\r\n",
	  "1:Card: 4556 7375 8689 9855\r\n stuffed\r\n-- \r\nsig\r\n|0:\n|" },
	{ "format=flowed; delsp=yes deletes the space",
	  "Content-Type: text/plain; format=flowed; delsp=yes\r\n\r\n4556737 \r\n586899855\r\n",
	  "1:4556737586899855\r\n|0:\n|" },
	{ "UTF-16 with BOM (LE)",
	  "Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "//5DAGEAcgBkACAANAA1ADUANgAgAOkA\r\n",
	  "1:Card 4556 \xc3\xa9|0:\n|" },
	{ "UTF-16 without BOM (LE guessed), UTF-16BE",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: text/plain; charset=UTF-16\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "NAA1ADUANgAgADcAMwA3ADUA\r\n--b\r\n"
	  "Content-Type: text/plain; charset=utf-16be\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "ADgANgA4ADkAIAA5ADgANQA1\r\n--b--\r\n",
	  "2:4556 7375|3:8689 9855|0:\n|" },
	{ "ISO-8859-2, Windows-1251, ISO-8859-15, Latin-1 no-break space",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: text/plain; charset=iso-8859-2\r\n\r\n\xb1\r\n--b\r\n"
	  "Content-Type: text/plain; charset=windows-1251\r\n\r\n\xc0\r\n--b\r\n"
	  "Content-Type: text/plain; charset=iso-8859-15\r\n\r\n\xa4\r\n--b\r\n"
	  "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n4556\xa0" "7375\r\n--b--\r\n",
	  "2:\xc4\x85|3:\xd0\x90|4:\xe2\x82\xac|5:4556\xc2\xa0" "7375|0:\n|" },
	{ "HTML: white space collapses, attribute values are text (aside)",
	  "Content-Type: text/html\r\n\r\n<p>Card: 4556 7375\r\n   8689\t9855</p>"
	  "<a class=\"c\" href=\"https://x.test/?pan=4556737586899855\">pay</a>"
	  "<input value='536-22-1234'>\r\n",
	  "1:\nCard: 4556 7375 8689 9855\npay \nc\n\nhttps://x.test/?pan=4556737586899855\n"
	  "\n536-22-1234\n|0:\n|" },
	{ "octet-stream with text content is scanned, binary is not",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "YSw0MTExCg==\r\n--b\r\n"
	  "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "AAE0MTEx\r\n--b\r\n"
	  "Content-Type: image/png\r\n\r\n4111\r\n--b--\r\n",
	  "2:a,4111\n|0:\n|" },
	{ "filename via RFC 2231",
	  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	  "Content-Type: application/octet-stream\r\n"
	  "Content-Disposition: attachment; filename*=UTF-8''card%204111.txt\r\n\r\n"
	  "x\r\n--b--\r\n",
	  "2:x|0:\ncard 4111.txt\n|" },
	{ "binary attachment is not text",
	  "Content-Type: application/pdf\r\n\r\n4111111111111111\r\n",
	  "0:\n|" },
	{ "garbage", "\r\n\r\n--\r\n\x01\x02=?=?\r\n", "1:\r\n--\r\n\x01\x02=?=?\r\n|0:\n|" },
};

static void
long_line_case(void)
{
	size_t n = 20000, i;
	struct buf msg, a, b;
	const char *hdr = "Subject: long\r\n\r\n";

	buf_init(&msg, 0);
	buf_append_str(&msg, hdr);
	for (i = 0; i < n; i++)
		buf_append(&msg, "a", 1);
	buf_append_str(&msg, " 4111111111111111\r\n");
	buf_init(&a, 0);
	buf_init(&b, 0);
	run(msg.data, msg.len, 0, &deflim, &a);
	run(msg.data, msg.len, 1, &deflim, &b);
	ok(a.len == 2 + n + 19 + 1 + 8 && memmem(a.data, a.len, " 4111111111111111\r\n", 19) != NULL
	    && a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "20000-octet line passes through intact, whole = byte by byte");
	buf_free(&msg);
	buf_free(&a);
	buf_free(&b);
}

/* Offsets: the raw body of part 5 (base64 CSV) is exactly its base64 text. */
static void
offsets_case(void)
{
	struct mime_parser *p = mime_new(&deflim, NULL, NULL);
	const struct mime_part *part;
	const char *msg = ALT_MSG;
	const char *want = "bmFtZSxjYXJkCmJvYiw0MTExMTExMTExMTExMTExCg==";

	mime_feed(p, msg, strlen(msg));
	mime_finish(p);
	is_int(mime_nparts(p), 6, "six entities in the mixed message");
	part = mime_part_at(p, 4);
	ok(part != NULL && part->cte == MIME_CTE_BASE64 && part->text
	    && part->body_end - part->body_start == strlen(want)
	    && memcmp(msg + part->body_start, want, strlen(want)) == 0,
	    "raw body offsets of the CSV part");
	ok(part != NULL && strcmp(part->type, "text/csv") == 0 && part->depth == 1,
	    "type and depth of the CSV part");
	part = mime_part_at(p, 2);
	ok(part != NULL && part->cte == MIME_CTE_QP && part->depth == 2
	    && memcmp(msg + part->body_start, "Card 4111", 9) == 0
	    && memcmp(msg + part->body_end - 6, "=C3=A9", 6) == 0, "raw body offsets of the QP part");
	is_int(mime_subject_len(p), strlen("Karte: 4111 1111"), "subject length");
	mime_free(p);
}

static void
limits_case(void)
{
	struct mime_limits lim;
	struct buf out, deep;
	int i;

	buf_init(&out, 0);
	buf_init(&deep, 0);
	for (i = 0; i < 20; i++)
		buf_printf(&deep, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_append_str(&deep, "\r\ndeep text\r\n");
	lim = deflim;
	is_int(run(deep.data, deep.len, 0, &lim, &out), MIME_LIMIT_DEPTH, "depth 20 > 10");
	buf_reset(&out);
	lim.max_depth = 30;
	is_int(run(deep.data, deep.len, 1, &lim, &out), MIME_LIMIT_NONE, "depth 20 <= 30");
	ok(memmem(out.data, out.len, "deep text", 9) != NULL, "deep text reached");
	buf_reset(&out);
	lim = deflim;
	lim.max_parts = 3;
	is_int(run(ALT_MSG, strlen(ALT_MSG), 1, &lim, &out), MIME_LIMIT_PARTS, "part limit");
	buf_reset(&out);
	lim = deflim;
	lim.max_decoded = 30;
	is_int(run(ALT_MSG, strlen(ALT_MSG), 0, &lim, &out), MIME_LIMIT_SIZE, "decoded-size limit");
	ok(memmem(out.data, out.len, "3:Card", 6) != NULL, "text before the limit is still scanned");

	/* Issue 18 #1: a boundary no delimiter line can carry is a limit. */
	buf_reset(&deep);
	buf_reset(&out);
	buf_append_str(&deep, "Content-Type: multipart/mixed; boundary=\"");
	for (i = 0; i < 1000; i++)
		buf_append(&deep, "x", 1);
	buf_append_str(&deep, "\"\r\n\r\n--x\r\n\r\n4556 7375 8689 9855\r\n");
	lim = deflim;
	is_int(run(deep.data, deep.len, 0, &lim, &out), MIME_LIMIT_BOUNDARY,
	    "boundary of 1000 characters: limit=boundary");
	is_str(mime_strlimit(MIME_LIMIT_BOUNDARY), "boundary", "limit name");

	/* Issue 18 #2: 900 padding fields before Content-Type (over 64 KiB). */
	buf_reset(&deep);
	buf_reset(&out);
	for (i = 0; i < 900; i++)
		buf_printf(&deep, "X-Pad-%d: %0*d\r\n", i, 70, i);
	buf_append_str(&deep, "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "Q2FyZCA0NTU2IDczNzUgODY4OSA5ODU1\r\n");
	is_int(run(deep.data, deep.len, 1, &lim, &out), MIME_LIMIT_NONE,
	    "header block of %zu bytes: no limit", deep.len);
	ok(memmem(out.data, out.len, "1:Card 4556 7375 8689 9855|", 27) != NULL,
	    "Content-Type after 64 KiB of padding is honoured (base64 decoded)");
	/* ... but 64 KiB of the fields we read is a limit. */
	buf_reset(&deep);
	buf_reset(&out);
	buf_append_str(&deep, "Subject: x");
	for (i = 0; i < 1000; i++)
		buf_printf(&deep, "\r\n %0*d", 70, i);
	buf_append_str(&deep, "\r\nContent-Type: text/plain\r\n\r\nbody\r\n");
	is_int(run(deep.data, deep.len, 0, &lim, &out), MIME_LIMIT_HEADER,
	    "Subject of 72 KB: limit=header_size");
	buf_free(&out);
	buf_free(&deep);
}

static void
codec_case(void)
{
	struct buf a, b, c;
	size_t *map = NULL;
	static const char bin[] = "line one\r\nx\xff\x00=y \r\n" "a long line that goes on and on and on and "
	    "on and on and on and on past seventy six characters for sure, yes indeed\r\n";
	size_t binlen = sizeof(bin) - 1;
	int cte;

	for (cte = MIME_CTE_QP; cte <= MIME_CTE_BASE64; cte++) {
		size_t i, col = 0, maxcol = 0;

		buf_init(&a, 0);
		buf_init(&b, 0);
		mime_encode((enum mime_cte)cte, bin, binlen, &a);
		for (i = 0; i < a.len; i++) {
			col = a.data[i] == '\n' ? 0 : col + 1;
			if (col > maxcol)
				maxcol = col;
		}
		mime_decode((enum mime_cte)cte, a.data, a.len, &b);
		ok(b.len == binlen && memcmp(b.data, bin, binlen) == 0 && maxcol <= 77,
		    "%s round trip, longest line %zu", cte == MIME_CTE_QP ? "QP" : "base64", maxcol);
		buf_free(&a);
		buf_free(&b);
	}
	/* QP output never starts a line with '-' (it could become a boundary). */
	{
		struct buf in, enc, dec;
		size_t i;
		int bad = 0;

		buf_init(&in, 0);
		buf_init(&enc, 0);
		buf_init(&dec, 0);
		buf_append_str(&in, "--b1\r\n-x\r\n");
		for (i = 0; i < 300; i++)
			buf_append(&in, i % 7 ? "-" : "a", 1);
		mime_encode(MIME_CTE_QP, in.data, in.len, &enc);
		for (i = 0; i < enc.len; i++)
			if (enc.data[i] == '-' && (i == 0 || enc.data[i - 1] == '\n'))
				bad++;
		mime_decode(MIME_CTE_QP, enc.data, enc.len, &dec);
		ok(!bad && dec.len == in.len && memcmp(dec.data, in.data, in.len) == 0,
		    "QP: no line starts with '-', round trip");
		buf_free(&in);
		buf_free(&enc);
		buf_free(&dec);
	}
	buf_init(&c, 0);
	mime_to_text("a&#52;<b>1</b>\xe9", 15, MIME_CS_LATIN1, 1, &c, &map);
	ok(c.len == 5 && memcmp(c.data, "a41\xc3\xa9", 5) == 0 && map[0] == 0 && map[1] == 1
	    && map[2] == 9 && map[3] == 14 && map[4] == 14, "text map points at the source");
	free(map);
	buf_free(&c);

	/* r1618: CSS-hidden content goes aside, so it neither splits the
	 * visible number nor escapes the scan */
	{
		static const char h2[] = "<p>Card 4556<b class=\"k\" id=\"4111111111111111\">7375</b>"
		    " 8689 9855</p>";

		buf_init(&c, 0);
		mime_to_text(h2, sizeof(h2) - 1, MIME_CS_UTF8, MIME_TEXT_HTML, &c, NULL);
		ok(c.data != NULL && strstr(c.data, "Card 45567375 8689 9855") != NULL
		    && strstr(c.data, "\n4111111111111111\n") != NULL,
		    "an element with attributes inside a number does not split it; any "
		    "attribute's value is text: '%s'", c.data ? c.data : "");
		buf_free(&c);
	}
	{
		static const char h[] = "<p>Card 4556<span style=\"Display: None\">1<i>x</i>"
		    "</span> 7375<font style='font-size:0px'>0</font> 8689 9855</p>"
		    "<script>var p=\"4111\";</script><p style=\"font-size:0.9em\">shown</p>";

		buf_init(&c, 0);
		mime_to_text(h, sizeof(h) - 1, MIME_CS_UTF8, MIME_TEXT_HTML, &c, &map);
		ok(c.data != NULL && strstr(c.data, "Card 4556 7375 8689 9855") != NULL,
		    "hidden elements do not split the visible text: '%s'", c.data ? c.data : "");
		ok(c.data != NULL && strstr(c.data, "\n1x\n") != NULL
		    && strstr(c.data, "\n0\n") != NULL && strstr(c.data, "\nvar p=\"4111\";\n")
		    != NULL && strstr(c.data, "shown") != NULL,
		    "hidden, script content scanned aside; font-size:0.9em is not hidden");
		ok(map != NULL && c.data != NULL && strchr(c.data, '1') != NULL
		    && h[map[strchr(c.data, '1') - c.data]] == '1', "aside text maps to its source");
		free(map);
		buf_free(&c);
	}
	/* v15: asides of asides are HTML down to ASIDE_MAX_DEPTH, deeper
	 * ones plain text, so n nested comments or hidden elements cost a
	 * few passes, not n (each ran to the end: 58 s for a 3 MB part),
	 * and what they hide is still scanned. */
	{
		static const char h5[] = "<!--1<!--2<!--3<!--4<!--5<b>x</b>-->";

		buf_init(&c, 0);
		mime_to_text(h5, sizeof(h5) - 1, MIME_CS_UTF8, MIME_TEXT_HTML, &c, NULL);
		ok(c.data != NULL && strstr(c.data, "\n4\n") != NULL
		    && strstr(c.data, "5<b>x</b>") != NULL,
		    "comments nested 5 deep: the 5th is plain text, markup and all: '%s'",
		    c.data ? c.data : "");
		buf_free(&c);
	}
	{
		static const char *const opener[] = { "<!--", "<span style=display:none>",
		    "<script>" };
		size_t k, n;

		for (k = 0; k < ARRAY_SIZE(opener); k++) {
			struct buf in;

			buf_init(&in, 0);
			for (n = 0; n < 200000; n++)
				(void)buf_append_str(&in, opener[k]);
			(void)buf_append_str(&in, "card 4111111111111111");
			buf_init(&c, 0);
			mime_to_text(in.data, in.len, MIME_CS_UTF8, MIME_TEXT_HTML, &c, NULL);
			ok(c.data != NULL && memmem(c.data, c.len, "4111111111111111", 16) != NULL
			    && c.len < 8 * in.len,
			    "%s x 200000: converted in a few passes, the hidden number is scanned",
			    opener[k]);
			buf_free(&in);
			buf_free(&c);
		}
	}
}

int
main(void)
{
	size_t i, step;
	static const size_t steps[] = { 0, 1, 7 };

	plan((int)ARRAY_SIZE(cases) * 3 + 1 + 5 + 6 + 5 + 4 + 4 + 4);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		for (step = 0; step < ARRAY_SIZE(steps); step++) {
			struct buf out;

			buf_init(&out, 0);
			run(cases[i].msg, strlen(cases[i].msg), steps[step], &deflim, &out);
			if (!ok(out.len == strlen(cases[i].want)
			    && memcmp(out.data, cases[i].want, out.len) == 0, "%s (chunk %zu)",
			    cases[i].name, steps[step]))
				printf("#   got  '%.*s'\n#   want '%s'\n", (int)out.len,
				    out.data ? out.data : "", cases[i].want);
			buf_free(&out);
		}
	}
	long_line_case();
	offsets_case();
	limits_case();
	codec_case();
	return done();
}
