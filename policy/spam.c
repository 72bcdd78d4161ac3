/* SPDX-License-Identifier: ISC */
/*
 * spam.c: the statistical classifier, the rules and the scoring model
 * of issue 15.  A message's tokens (policy/spam_tok.c) are looked up in
 * a struct spam_store; each known token gets Robinson's smoothed
 * probability f(w) = (s*x + n*p(w)) / (s + n) with p(w) from the
 * per-class frequencies (s = 0.0178, bogofilter's weak prior; x = 0.5);
 * tokens within 0.375 of 0.5 say nothing and are dropped, and all the
 * others are combined with Fisher's method as Robinson proposed: H and
 * S are chi-square survival values of -2 sum ln f and -2 sum ln (1-f)
 * with 2n degrees of freedom, and the probability is (1 + S - H) / 2.
 * The sums and n are first scaled by an effective size factor (ESF,
 * 0.25; bogofilter has the same knob): a message's tokens are far from
 * independent (a bigram repeats its two words), and counting each as
 * a full observation drives H and S to 1 together, where every such
 * message ties at 0.5.
 *
 * The classifier speaks only once the store holds min_learned
 * messages of each class; its probability becomes one banded symbol
 * (BAYES_00 .. BAYES_999, SpamAssassin's names) with a fixed weight.
 * Substring rules (GTUBE) add their own symbols.  The sum of the
 * weights is the score, and thresholds map it to an action: tag, hold
 * or reject (each 0 = off; the default config rejects nothing).
 *
 * Learning adds one to each distinct token of the message for its
 * class (a set: a word repeated 100 times counts once), and to the
 * class total; forgetting subtracts.  The balance guard for reviewer
 * feedback refuses a learn that would leave one class more than
 * SPAM_BALANCE_RATIO times the other (plus a slack for a new model).
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spam.h"
#include "util.h"

/*
 * Chosen with contrib/bench/spam-eval on the SpamAssassin corpus
 * (contrib/bench/results/spam-eval-*.md has the runs): with bigrams,
 * SpamBayes' s = 0.45, min_dev 0.1 and 150 discriminators ranked the
 * temporal split worse (1-AUC 1.09%) and passed 2.4% of hard ham at
 * p >= 0.99; s = 0.1, min_dev 0.375 and the 1000 strongest gave 0.65%
 * and none, but pooled 5-fold cross-validation 0.078%.  bogofilter's
 * s (x 0.52 or 0.5 made no difference), every token past min_dev
 * instead of the 1000 strongest, and an ESF of 0.25 brought
 * cross-validation to 0.037%; with the tokenizer's changes of the same
 * day (every header field, words of 3 to 40 characters) 0.029%.
 */
#define ROBINSON_S 0.0178	/* strength of the prior */
#define ROBINSON_X 0.5		/* the prior: an unknown token is neutral */
#define MIN_DEV 0.375		/* |f - 0.5| below this: ignored */
#define SPAM_ESF 0.25		/* effective size factor of the combining */

double
spam_chi2q(double x2, unsigned v)
{
	double m = x2 / 2.0, sum, term;
	unsigned i;

	if (x2 <= 0.0)
		return 1.0;
	sum = term = exp(-m);
	for (i = 1; i < v / 2; i++) {
		term *= m / (double)i;
		sum += term;
	}
	return sum < 1.0 ? sum : 1.0;
}

double
spam_chi2_combine(const double *p, size_t n)
{
	return spam_chi2_combine_esf(p, n, 1.0);
}

double
spam_chi2_combine_esf(const double *p, size_t n, double esf)
{
	double lh = 0.0, ls = 0.0, h, s;
	unsigned v;
	size_t i;

	if (n == 0)
		return 0.5;
	for (i = 0; i < n; i++) {
		double f = p[i];

		if (f < 1e-9)
			f = 1e-9;
		if (f > 1.0 - 1e-9)
			f = 1.0 - 1e-9;
		lh += log(f);
		ls += log(1.0 - f);
	}
	/* N tokens count as ESF * N observations (rounded, at least one):
	 * the sums shrink with them and so do the degrees of freedom */
	v = 2 * (unsigned)(esf * (double)n + 0.5 > 1.0 ? esf * (double)n + 0.5 : 1.0);
	lh *= esf;
	ls *= esf;
	/* S: evidence for spam (many tokens with f near 1 make sum ln(1-f)
	 * very negative); H: the same for ham. */
	s = 1.0 - spam_chi2q(-2.0 * ls, v);
	h = 1.0 - spam_chi2q(-2.0 * lh, v);
	return (1.0 + s - h) / 2.0;
}

double
spam_token_prob(uint32_t spam, uint32_t ham, uint32_t nspam, uint32_t nham)
{
	double b = nspam ? (double)spam / nspam : 0.0;
	double g = nham ? (double)ham / nham : 0.0;
	double n = (double)spam + ham, p;

	if (b > 1.0)
		b = 1.0;
	if (g > 1.0)
		g = 1.0;
	if (b + g <= 0.0)
		return ROBINSON_X;
	p = b / (b + g);
	return (ROBINSON_S * ROBINSON_X + n * p) / (ROBINSON_S + n);
}

const char *
spam_straction(enum spam_action a)
{
	switch (a) {
	case SPAM_ACT_NONE: return "none";
	case SPAM_ACT_TAG: return "tag";
	case SPAM_ACT_HOLD: return "hold";
	case SPAM_ACT_REJECT: return "reject";
	}
	return "?";
}

/* The bands: lower bound of the probability, symbol, weight. */
static const struct {
	double lo;
	const char *name;
	double weight;
} bayes_bands[] = {
	{ 0.999, "BAYES_999", 8.0 },
	{ 0.99, "BAYES_99", 5.0 },
	{ 0.95, "BAYES_95", 3.5 },
	{ 0.80, "BAYES_80", 2.0 },
	{ 0.60, "BAYES_60", 1.0 },
	{ 0.40, "BAYES_50", 0.5 },
	{ 0.20, "BAYES_40", 0.0 },
	{ 0.05, "BAYES_20", -0.5 },
	{ 0.01, "BAYES_05", -1.0 },
	{ 0.0, "BAYES_00", -2.0 },
};

const char *
spam_bayes_symbol(double p, double *weight)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bayes_bands) - 1; i++)
		if (p >= bayes_bands[i].lo)
			break;
	*weight = bayes_bands[i].weight;
	return bayes_bands[i].name;
}

int
spam_rule_parse(const char *s, struct spam_rule *out, char *err, size_t errlen)
{
	const char *c1 = strchr(s, ':'), *c2;
	char num[32], *end;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL) {
		snprintf(err, errlen, "'%s': expected NAME:WEIGHT:TEXT", s);
		return -1;
	}
	if (c1 == s || (size_t)(c1 - s) >= sizeof(out->name)) {
		snprintf(err, errlen, "'%s': the name must have 1 to %zu characters", s,
		    sizeof(out->name) - 1);
		return -1;
	}
	for (i = 0; s + i < c1; i++) {
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_') {
			snprintf(err, errlen, "'%s': the name takes A-Z, 0-9 and _", s);
			return -1;
		}
		out->name[i] = s[i];
	}
	if ((size_t)(c2 - c1 - 1) >= sizeof(num) || c2 == c1 + 1) {
		snprintf(err, errlen, "'%s': the weight must be a number", s);
		return -1;
	}
	memcpy(num, c1 + 1, (size_t)(c2 - c1 - 1));
	num[c2 - c1 - 1] = '\0';
	out->weight = strtod(num, &end);
	if (*end != '\0' || !isfinite(out->weight) || fabs(out->weight) > 1e6) {
		snprintf(err, errlen, "'%s': the weight must be a number", s);
		return -1;
	}
	out->text = c2 + 1;
	out->len = strlen(c2 + 1);
	if (out->len == 0) {
		snprintf(err, errlen, "'%s': the text to match is empty", s);
		return -1;
	}
	return 0;
}

void
spam_result_add(struct spam_result *r, const char *name, double weight)
{
	size_t i, k = 0;

	/* Every weight counts: a full list must not hide a later check
	 * (NEAR_DUP_REJECTED, a blocklist) behind 16 matched rules. */
	r->score += weight;
	if (r->nsym >= SPAM_MAX_SYMBOLS) {
		/* the list keeps the heaviest: replace the lightest */
		for (i = 1; i < r->nsym; i++)
			if (fabs(r->sym[i].weight) < fabs(r->sym[k].weight))
				k = i;
		if (fabs(weight) <= fabs(r->sym[k].weight))
			return;
		str_copy(r->sym[k].name, name, sizeof(r->sym[0].name));
		r->sym[k].weight = weight;
		return;
	}
	str_copy(r->sym[r->nsym].name, name, sizeof(r->sym[0].name));
	r->sym[r->nsym].weight = weight;
	r->nsym++;
}

enum spam_action
spam_action_for(const struct spam_params *p, double score)
{
	if (p == NULL)
		return SPAM_ACT_NONE;
	if (p->reject_score > 0 && score >= p->reject_score)
		return SPAM_ACT_REJECT;
	if (p->hold_score > 0 && score >= p->hold_score)
		return SPAM_ACT_HOLD;
	if (p->tag_score > 0 && score >= p->tag_score)
		return SPAM_ACT_TAG;
	return SPAM_ACT_NONE;
}

/* 1 when STORE's model has learned P->min_learned messages of each
 * class (its totals only, no token lookup), 0 while inactive, -1 on a
 * store error; R gets the totals. */
static int
model_active(const struct spam_store *store, uint32_t min_learned, struct spam_result *r)
{
	uint32_t nspam = 0, nham = 0;

	if (store == NULL || store->lookup == NULL)
		return 0;
	if (store->lookup(store->arg, NULL, 0, NULL, &nspam, &nham) != 0)
		return -1;
	r->nspam = nspam;
	r->nham = nham;
	if (nspam < min_learned || nham < min_learned || nspam == 0 || nham == 0)
		return 0;
	return 1;
}

/* The classifier's probability over T (model_active() said 1); -1
 * when the model turned inactive meanwhile; -2 on store error. */
static double
classify(const struct spam_store *store, uint32_t min_learned, const struct spam_tokens *t,
    struct spam_result *r)
{
	struct spam_counts *cnt;
	double *f, prob;
	uint32_t nspam = 0, nham = 0;
	size_t i, n = 0;

	cnt = xcalloc(t->n ? t->n : 1, sizeof(*cnt));
	if (store->lookup(store->arg, t->h, t->n, cnt, &nspam, &nham) != 0) {
		free(cnt);
		return -2.0;
	}
	r->nspam = nspam;
	r->nham = nham;
	if (nspam < min_learned || nham < min_learned || nspam == 0 || nham == 0) {
		free(cnt);
		return -1.0;
	}
	f = xcalloc(t->n ? t->n : 1, sizeof(*f));
	for (i = 0; i < t->n; i++) {
		double p;

		if (cnt[i].spam == 0 && cnt[i].ham == 0)
			continue;
		p = spam_token_prob(cnt[i].spam, cnt[i].ham, nspam, nham);
		if (fabs(p - 0.5) >= MIN_DEV)
			f[n++] = p;
	}
	r->nused = n;
	prob = spam_chi2_combine_esf(f, n, SPAM_ESF);
	free(f);
	free(cnt);
	return prob;
}

int
spam_score(const struct spam_store *store, const struct spam_params *p,
    const char *msg, size_t len, struct spam_result *out)
{
	struct spam_tokens t;
	int rc;

	spam_tokens_init(&t);
	rc = spam_score_tokens(store, p, msg, len, out, &t);
	spam_tokens_free(&t);
	return rc;
}

int
spam_score_tokens(const struct spam_store *store, const struct spam_params *p,
    const char *msg, size_t len, struct spam_result *out, struct spam_tokens *t)
{
	double prob, w;
	size_t i;
	int rc = 0, active;

	memset(out, 0, sizeof(*out));
	out->probability = -1.0;
	if (p != NULL)
		for (i = 0; i < p->nrules; i++)
			if (p->rules[i].len > 0 && p->rules[i].len <= len &&
			    memmem(msg, len, p->rules[i].text, p->rules[i].len) != NULL)
				spam_result_add(out, p->rules[i].name, p->rules[i].weight);
	/* the totals first: an untrained model costs no token set */
	active = model_active(store, p != NULL ? p->min_learned : 0, out);
	if (active != 1)
		t->skip |= SPAM_TOK_NO_HASHES;
	spam_tokenize(msg, len, t);
	out->ntokens = t->n;
	prob = active == 1 ? classify(store, p != NULL ? p->min_learned : 0, t, out) :
	    active == 0 ? -1.0 : -2.0;
	if (prob == -2.0)
		rc = -1;
	else if (prob >= 0.0) {
		const char *name = spam_bayes_symbol(prob, &w);

		out->probability = prob;
		spam_result_add(out, name, w);
	}
	out->action = spam_action_for(p, out->score);
	return rc;
}

int
spam_learn(const struct spam_store *store, const char *msg, size_t len,
    enum spam_class cls, unsigned flags)
{
	struct spam_tokens t;
	int d = flags & SPAM_LEARN_FORGET ? -1 : 1, rc;

	if (store == NULL || store->update == NULL)
		return -EINVAL;
	if ((flags & SPAM_LEARN_BALANCED) && !(flags & SPAM_LEARN_FORGET)) {
		uint32_t nspam = 0, nham = 0, mine, other;

		if (store->lookup == NULL || store->lookup(store->arg, NULL, 0, NULL, &nspam, &nham) != 0)
			return -EIO;
		mine = cls == SPAM_SPAM ? nspam : nham;
		other = cls == SPAM_SPAM ? nham : nspam;
		if ((uint64_t)mine + 1 > (uint64_t)other * SPAM_BALANCE_RATIO + SPAM_BALANCE_SLACK)
			return 1;
	}
	spam_tokens_init(&t);
	spam_tokenize(msg, len, &t);
	rc = store->update(store->arg, t.h, t.n, cls == SPAM_SPAM ? d : 0, cls == SPAM_HAM ? d : 0,
	    now_wall_ms());
	spam_tokens_free(&t);
	return rc;
}

void
spam_result_format(const struct spam_result *r, struct buf *out)
{
	size_t i;

	(void)buf_printf(out, "score=%.2f symbols=", r->score);
	for (i = 0; i < r->nsym; i++)
		(void)buf_printf(out, "%s%s:%.2f", i ? "," : "", r->sym[i].name, r->sym[i].weight);
	if (r->nsym == 0)
		(void)buf_append_str(out, "none");
}
