/* SPDX-License-Identifier: ISC */
/*
 * replay.c: a main() for fuzz targets outside libFuzzer.  Linked with
 * tests/fuzz/fuzz_NAME.c it becomes tests/fuzz/fuzz_NAME, a TAP test
 * that feeds every file of the seed corpus to LLVMFuzzerTestOneInput()
 * once, so `make check` (and the ASan+UBSan build) replays each corpus
 * on every run without clang.  Without arguments the corpus is
 * $POSTERN_SRCDIR/tests/fuzz/corpus/NAME (or $srcdir/...), NAME taken
 * from the program's name; with arguments, each argument is a file or
 * a directory of files.  A crash or sanitizer report fails the test.
 * In a --enable-fuzzing build this file is empty and libFuzzer brings
 * its own main() (the same binary then fuzzes).
 */
#include "autoconfig.h"

#ifndef POSTERN_FUZZING

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct paths {
	char **v;
	size_t n;
};

static void
paths_add(struct paths *p, const char *path)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = xstrdup(path);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect PATH, or the regular files in it (sorted) when a directory. */
static int
collect(struct paths *p, const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	size_t first = p->n;

	if (stat(path, &st) == -1) {
		printf("Bail out! %s: cannot stat\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		paths_add(p, path);
		return 0;
	}
	if ((d = opendir(path)) == NULL) {
		printf("Bail out! %s: cannot open\n", path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char *f;

		if (de->d_name[0] == '.')
			continue;
		f = xasprintf("%s/%s", path, de->d_name);
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode))
			paths_add(p, f);
		free(f);
	}
	closedir(d);
	qsort(p->v + first, p->n - first, sizeof(*p->v), cmp_str);
	return 0;
}

int
main(int argc, char **argv)
{
	struct paths p = { NULL, 0 };
	const char *base, *top;
	char *dflt = NULL;
	size_t i;
	int a;

	if (argc < 2) {
		base = strrchr(argv[0], '/');
		base = base ? base + 1 : argv[0];
		if (strncmp(base, "fuzz_", 5) == 0)
			base += 5;
		if ((top = getenv("POSTERN_SRCDIR")) == NULL &&
		    (top = getenv("srcdir")) == NULL)
			top = ".";
		dflt = xasprintf("%s/tests/fuzz/corpus/%.*s", top,
		    (int)strcspn(base, "."), base);
		if (collect(&p, dflt) == -1)
			return 1;
	}
	for (a = 1; a < argc; a++)
		if (collect(&p, argv[a]) == -1)
			return 1;
	if (p.n == 0) {
		printf("1..0 # SKIP empty corpus\n");
		return 0;
	}
	printf("1..%zu\n", p.n);
	fflush(stdout);
	for (i = 0; i < p.n; i++) {
		char *data;
		size_t len;

		if (file_read_all(p.v[i], 64 << 20, &data, &len) < 0) {
			printf("not ok %zu - %s: cannot read\n", i + 1, p.v[i]);
			continue;
		}
		/* An exact-size copy so ASan sees reads past the end. */
		{
			uint8_t *copy = xmalloc(len ? len : 1);

			memcpy(copy, data, len);
			free(data);
			LLVMFuzzerTestOneInput(copy, len);
			free(copy);
		}
		printf("ok %zu - %s (%zu bytes)\n", i + 1, p.v[i], len);
		fflush(stdout);
		free(p.v[i]);
	}
	free(p.v);
	free(dflt);
	return 0;
}

#endif /* !POSTERN_FUZZING */
