/* SPDX-License-Identifier: ISC */
/*
 * test_dest_class: the destination classes of the delivery counters
 * (issue 19, src/outbound/dest_class.c).  Built-in classes by recipient
 * domain and by MX host suffix (a name below the suffix, not a name that
 * merely ends the same), literals, the transport table, other; the
 * operator's metrics_delivery_classes first; and the bounds and syntax
 * the parser refuses, so the label set stays bounded.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "dest_class.h"
#include "tap.h"
#include "util.h"

static const char *
cls(const struct dest_classes *c, const char *domain, const char *mx, int tr)
{
	return dest_class_name(c, dest_class_of(c, domain, mx, tr));
}

static int
parse(struct dest_classes *c, char **items, size_t n, char *err, size_t errlen)
{
	struct config_list l;

	memset(&l, 0, sizeof(l));
	l.items = items;
	l.n = n;
	return dest_classes_parse(c, &l, err, errlen);
}

int
main(void)
{
	struct dest_classes c;
	char err[256], *good[] = { "gmx:gmx.net", "gmx:gmx.de", "google:hosted-google.example" };
	char *bad_name[] = { "GMX:gmx.net" }, *bad_suffix[] = { "gmx:gmx..net" },
	    *no_colon[] = { "gmx.net" }, *reserved[] = { "other:x.test" };
	char many[DEST_CLASS_EXTRA + 1][32], *pmany[DEST_CLASS_EXTRA + 1];
	size_t i;

	plan(22);
	ok(dest_classes_parse(&c, NULL, err, sizeof(err)) == 0 && c.n == DEST_CLASS_BUILTIN,
	    "no configuration: the 7 built-in classes");
	is_str(cls(&c, "gmail.com", NULL, 0), "google", "gmail.com: google");
	is_str(cls(&c, "shop.example", "aspmx.l.google.com", 0), "google",
	    "MX aspmx.l.google.com: google");
	is_str(cls(&c, "shop.example", "ALT1.ASPMX.L.GOOGLE.COM.", 0), "google",
	    "case and a final dot do not matter");
	is_str(cls(&c, "corp.example", "corp-example.mail.protection.outlook.com", 0), "microsoft",
	    "MX *.mail.protection.outlook.com: microsoft");
	is_str(cls(&c, "hotmail.com", "", 0), "microsoft", "hotmail.com: microsoft");
	is_str(cls(&c, "yahoo.com", "mta5.am0.yahoodns.net", 0), "yahoo", "yahoo.com: yahoo");
	is_str(cls(&c, "aol.com", NULL, 0), "yahoo", "aol.com: yahoo");
	is_str(cls(&c, "icloud.com", "mx01.mail.icloud.com", 0), "apple", "icloud.com: apple");
	is_str(cls(&c, "notgmail.com", "mx.notgoogle.com", 0), "other",
	    "a name that only ends the same is not below the suffix: other");
	is_str(cls(&c, "[192.0.2.1]", NULL, 0), "literal", "an address literal: literal");
	is_str(cls(&c, "dest.test", "127.0.0.1", 1), "transport", "the transport table's hop: transport");
	is_str(cls(&c, "gmail.com", "smarthost.example", 1), "google",
	    "gmail.com through a smart host is still google");
	is_str(cls(&c, NULL, NULL, 0), "other", "nothing known: other");

	ok(parse(&c, good, ARRAY_SIZE(good), err, sizeof(err)) == 0 && c.n == DEST_CLASS_BUILTIN + 1,
	    "gmx:gmx.net gmx:gmx.de google:hosted-google.example: one class added");
	is_str(cls(&c, "web.gmx.de", NULL, 0), "gmx", "web.gmx.de: gmx (the operator's class)");
	is_str(cls(&c, "x.example", "mx.hosted-google.example", 0), "google",
	    "a suffix added to a built-in class");
	ok(parse(&c, bad_name, 1, err, sizeof(err)) == -1 && strstr(err, "GMX:gmx.net") != NULL,
	    "an upper-case name is refused (%s)", err);
	ok(parse(&c, bad_suffix, 1, err, sizeof(err)) == -1, "an empty DNS label is refused");
	ok(parse(&c, no_colon, 1, err, sizeof(err)) == -1, "an item without name: is refused");
	ok(parse(&c, reserved, 1, err, sizeof(err)) == -1 && strstr(err, "other") != NULL,
	    "other, literal, transport take no suffixes");
	for (i = 0; i < ARRAY_SIZE(many); i++) {
		snprintf(many[i], sizeof(many[i]), "c%zu:c%zu.test", i, i);
		pmany[i] = many[i];
	}
	ok(parse(&c, pmany, ARRAY_SIZE(pmany), err, sizeof(err)) == -1 &&
	    strstr(err, "at most 8 classes") != NULL, "a ninth added class is refused (%s)", err);
	return done();
}
