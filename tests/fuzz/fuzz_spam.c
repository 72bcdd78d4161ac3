/* SPDX-License-Identifier: ISC */
/*
 * fuzz_spam.c: libFuzzer target for the spam tokenizer and scorer
 * (policy/spam_tok.c, policy/spam.c; issue 15).  Tokenizes the input
 * as a message twice and aborts unless both give the same sorted,
 * unique hash set, and that leaving out the hashes (and the domains;
 * issue 20's skip flags) keeps the domains and the template hash the
 * same; scores it with a substring rule and no model (the
 * rules path and the action thresholds); parses the input as a
 * spam_rules entry; and feeds a registrable-domain lookup (libpsl)
 * with its first line.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spam_tokens a, b, c;
	struct spam_params p;
	struct spam_result r;
	struct spam_rule rule;
	char err[128], rd[256], *s;
	const uint8_t *nl;
	size_t i;

	spam_tokens_init(&a);
	spam_tokens_init(&b);
	b.keep_text = 1;
	spam_tokenize((const char *)data, size, &a);
	spam_tokenize((const char *)data, size, &b);
	if (a.n != b.n || (a.n && memcmp(a.h, b.h, a.n * sizeof(*a.h)) != 0))
		abort();
	for (i = 1; i < a.n; i++)
		if (a.h[i - 1] >= a.h[i])
			abort();	/* not a sorted set */
	spam_tokens_free(&b);
	spam_tokens_init(&b);
	spam_tokens_init(&c);
	b.skip = SPAM_TOK_NO_HASHES;
	c.skip = SPAM_TOK_NO_HASHES | SPAM_TOK_NO_DOMAINS;
	spam_tokenize((const char *)data, size, &b);
	spam_tokenize((const char *)data, size, &c);
	if (b.n != 0 || c.n != 0 || c.domains.len != 0 || b.template_h != a.template_h ||
	    c.template_h != a.template_h || b.ndomains != a.ndomains ||
	    b.domains.len != a.domains.len ||
	    (a.domains.len && memcmp(a.domains.data, b.domains.data, a.domains.len) != 0))
		abort();	/* a skip flag changed what it does not name */
	spam_tokens_free(&a);
	spam_tokens_free(&b);
	spam_tokens_free(&c);

	memset(&p, 0, sizeof(p));
	(void)spam_rule_parse("FUZZ:2.5:free", &rule, err, sizeof(err));
	p.rules = &rule;
	p.nrules = 1;
	p.tag_score = 1;
	p.hold_score = 2;
	p.reject_score = 3;
	(void)spam_score(NULL, &p, (const char *)data, size, &r);
	if (r.nsym > SPAM_MAX_SYMBOLS || r.probability != -1.0)
		abort();

	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	(void)spam_rule_parse(s, &rule, err, sizeof(err));
	free(s);
	nl = memchr(data, '\n', size);
	spam_registrable_domain((const char *)data, nl ? (size_t)(nl - data) : size, rd, sizeof(rd));
	return 0;
}
