/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dest_class.c: libFuzzer target for metrics_delivery_classes
 * (src/outbound/dest_class.c, issue 19): the input, split like a config
 * list (commas and white space), is parsed as "name:suffix" items; its
 * first line is also classified as a recipient domain and as an MX
 * host.  Checks the parser's promises: at most DEST_CLASS_MAX classes,
 * every class a valid label value ([a-z0-9_], non-empty), and every
 * classification an index below the class count.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dest_class.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dest_classes *c = xcalloc(1, sizeof(*c));
	struct config_list l;
	char *text = xstrndup((const char *)data, size), *p, *line, err[512];
	size_t i, k, cls;

	memset(&l, 0, sizeof(l));
	for (p = text; *p;) {
		size_t n;

		p += strspn(p, ", \t\r\n");
		if ((n = strcspn(p, ", \t\r\n")) == 0)
			break;
		l.items = xrealloc(l.items, (l.n + 1) * sizeof(*l.items));
		l.items[l.n++] = xstrndup(p, n);
		p += n;
	}
	if (dest_classes_parse(c, &l, err, sizeof(err)) == 0) {
		if (c->n < DEST_CLASS_BUILTIN || c->n > DEST_CLASS_MAX)
			abort();
		for (i = 0; i < c->n; i++) {
			const char *nm = dest_class_name(c, i);

			if (nm[0] == '\0' || strlen(nm) >= DEST_CLASS_NAME_MAX)
				abort();
			for (k = 0; nm[k]; k++)
				if (!((nm[k] >= 'a' && nm[k] <= 'z') || (nm[k] >= '0' && nm[k] <= '9') ||
				    nm[k] == '_'))
					abort();
		}
		line = xstrndup((const char *)data, strcspn(text, "\n"));
		for (k = 0; k < 4; k++) {
			cls = dest_class_of(c, k & 1 ? line : "x.test", k & 2 ? line : NULL, (int)(k & 1));
			if (cls >= c->n)
				abort();
		}
		free(line);
	} else if (strnlen(err, sizeof(err)) == sizeof(err))
		abort();
	for (i = 0; i < l.n; i++)
		free(l.items[i]);
	free(l.items);
	free(text);
	free(c);
	return 0;
}
