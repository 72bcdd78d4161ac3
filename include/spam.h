/* SPDX-License-Identifier: ISC */
/*
 * spam.h: outbound spam scoring (issue 15), implemented in policy/
 * (spam_tok.c: the tokenizer; spam.c: the classifier, rules, scoring
 * and actions; spam_stage.c: the EOM stage).
 *
 * The classifier is a Robinson-Fisher chi-square combiner over tokens
 * hashed to 64 bits: unigrams and bigrams of the decoded,
 * HTML-stripped text parts, Subject and selected header words prefixed
 * by field name, registrable domains of URLs (libpsl), attachment types
 * and a few structural meta-tokens.  The learned counts live behind
 * struct spam_store, a seam of three functions: policy/ never sees
 * LMDB.  The LMDB model (an environment of its own) is
 * include/spamdb.h (queue/spamdb.c); composition roots (the relay,
 * posternctl, the control handlers) wire one to the other with
 * spamdb_store().
 *
 * The learning API for reviewers (issue 16) is spam_learn(): release =
 * SPAM_HAM, reject/flag = SPAM_SPAM, with SPAM_LEARN_BALANCED so that
 * one side cannot swamp the other.  spam_score() scores a buffer into a
 * probability, symbols with weights, a total and an action.
 *
 * Every function here is thread-safe as long as the store's are: the
 * EOM stage runs on any loop (small messages) or in the uv thread pool.
 */
#ifndef POSTERN_SPAM_H
#define POSTERN_SPAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "outcome.h"

/* ---- the token store seam ---- */

struct spam_acct_in;
struct spam_acct_facts;
struct spam_fp;
struct spam_result;

struct spam_counts {
	uint32_t spam, ham;	/* learned messages of each class holding the token */
};

struct spam_store {
	void *arg;
	/*
	 * Counts of the N tokens H (sorted, unique) into OUT[0..N) (0/0 for
	 * unknown ones) and the number of learned messages of each class.
	 * 0, or -1 (the store cannot be read: the classifier then abstains).
	 */
	int (*lookup)(void *arg, const uint64_t *h, size_t n, struct spam_counts *out,
	    uint32_t *nspam, uint32_t *nham);
	/*
	 * Add DSPAM and DHAM (each -1, 0 or +1) to the N tokens H and to
	 * the message totals in one durable transaction, setting last-seen
	 * to NOW (wall ms).  Counts never go below 0.  0, or negative errno.
	 */
	int (*update)(void *arg, const uint64_t *h, size_t n, int dspam, int dham, uint64_t now);
	/*
	 * Account signals (may be NULL): count message IN of its account
	 * and describe the account's history before it in OUT, in one
	 * read-modify-write.  0, or -1 (OUT then says nothing).
	 */
	int (*account)(void *arg, const struct spam_acct_in *in, struct spam_acct_facts *out);
	/* Near-duplicates (may be NULL): remember FP as rejected; the best
	 * similarity of FP to a remembered one (0 when none). */
	int (*dup_add)(void *arg, const struct spam_fp *fp, uint64_t now);
	int (*dup_best)(void *arg, const struct spam_fp *fp, double *similarity);
	/* 1 when any fingerprint is remembered (may be NULL: assume yes):
	 * the stage fingerprints a message only then. */
	int (*dup_any)(void *arg);
};

/* ---- account signals (policy/spam_signals.c; counters in the store) ---- */

/* One message of an account, as the counters see it: keyed hashes
 * only (addr_index_hash), never an address. */
#define SPAM_SIG_MAX_DOMAINS 64
struct spam_acct_in {
	const char *account;
	uint64_t now;				/* wall ms */
	uint64_t window;			/* ms per counting window (spam_signal_window) */
	double alpha;				/* EWMA weight of the newest window */
	uint32_t nrcpts;
	size_t ndomains;			/* distinct recipient domains */
	unsigned char domain[SPAM_SIG_MAX_DOMAINS][16];	/* their keyed hashes (truncated) */
	int have_client;
	unsigned char client[16];		/* keyed hash of the client address */
	uint64_t template_h;			/* spam_tokens.template_h */
};

struct spam_acct_facts {
	uint32_t windows;		/* windows of history before the current one */
	double baseline;		/* EWMA of recipients per window, before this window */
	uint32_t window_rcpts;		/* recipients this window, this message included */
	uint32_t window_domains;	/* distinct recipient domains this window */
	uint32_t new_domains;		/* of this message's domains, never seen for the account */
	uint32_t ndomains;
	int new_client;			/* client address never seen for the account */
	int new_template;		/* template fingerprint never seen for the account */
};

struct spam_signal_params {
	uint64_t window;		/* spam_signal_window, ms */
	uint32_t min_windows;		/* spam_signal_min_windows: history before a spike counts */
	double spike_factor;		/* spam_signal_spike_factor (10) */
	double spike_weight;		/* ACCT_VOLUME_SPIKE */
	double spike_new_domains_weight;	/* ACCT_SPIKE_NEW_DOMAINS (spike + new domains) */
	double new_client_weight;	/* ACCT_NEW_CLIENT */
	double new_template_weight;	/* ACCT_NEW_TEMPLATE_SPIKE */
	uint32_t max_domains;		/* ACCT_MANY_DOMAINS above this many per window; 0 off */
};
/* The symbols of FACTS under P into R. */
void spam_signals_symbols(const struct spam_signal_params *p, const struct spam_acct_facts *f,
    struct spam_result *r);

/* ---- near-duplicates (policy/spam_fp.c) ---- */

/* A MinHash sketch of the word 4-shingles of the decoded text. */
#define SPAM_FP_N 32
struct spam_fp {
	uint32_t h[SPAM_FP_N];
	uint32_t nshingles;		/* 0: too little text to compare */
};
void spam_fingerprint(const char *msg, size_t len, struct spam_fp *out);
/* Estimated Jaccard similarity of the shingle sets (0..1). */
double spam_fp_similarity(const struct spam_fp *a, const struct spam_fp *b);
/* A reviewer rejected MSG: its fingerprint is remembered, later
 * messages within spam_dup_threshold score NEAR_DUP_REJECTED (all
 * accounts).  0, or negative errno. */
int spam_reject_fingerprint(const struct spam_store *store, const char *msg, size_t len);

/* ---- tokens (policy/spam_tok.c) ---- */

struct spam_tokens {
	uint64_t *h;		/* owned; sorted and unique after spam_tokenize() */
	size_t n, cap;
	/* Text of every token (tests and `spam score --tokens`); only
	 * collected when keep_text is set before spam_tokenize(). */
	int keep_text;
	struct buf text;	/* "token\n" per token, in order of discovery */
	/* Registrable domains of URLs and of From/Reply-To/Return-Path,
	 * "domain\n" each, unique, at most SPAM_MAX_DOMAINS: for the domain
	 * blocklists.  Always collected. */
	struct buf domains;
	size_t ndomains;
	/* The text's structure (line shapes of the text parts), for the
	 * "new template" account signal. */
	uint64_t template_h;
	/* What the caller does not need, SPAM_TOK_NO_* (0: everything, as
	 * spam_tokens_init() leaves it); set before spam_tokenize().  The
	 * parts still collected are the same as with 0 (issue 20: an
	 * untrained model's messages paid ~1.2M instructions each for a
	 * token set nobody looked up). */
	unsigned skip;
};
#define SPAM_TOK_NO_HASHES 1u	/* h, n: the classifier is inactive */
#define SPAM_TOK_NO_DOMAINS 2u	/* domains: no domain blocklist */
#define SPAM_TOK_NO_TEMPLATE 4u	/* template_h: no account signals */
#define SPAM_MAX_DOMAINS 20

/* 64-bit hash of a token's text (FNV-1a, then a 64-bit finaliser); never 0. */
uint64_t spam_hash(const char *s, size_t len);
void spam_tokens_init(struct spam_tokens *t);
void spam_tokens_free(struct spam_tokens *t);
/* Tokenize the message MSG (LEN octets, CRLF or LF): appends to T,
 * then sorts and dedupes T->h.  Never fails; malformed MIME is tokens too. */
void spam_tokenize(const char *msg, size_t len, struct spam_tokens *t);
/* Registrable domain of HOST (libpsl) into OUT; "" when HOST is not a
 * domain name. */
void spam_registrable_domain(const char *host, size_t len, char *out, size_t outlen);

/* ---- the classifier (policy/spam.c) ---- */

/* Robinson's chi-square survival function Q(X2, V) for even V. */
double spam_chi2q(double x2, unsigned v);
/*
 * Fisher-Robinson combining of N token probabilities P[i] (each in
 * (0,1)): I = (1 + S - H) / 2 where S = 1 - Q(-2 sum ln(1-p), 2N) and
 * H = 1 - Q(-2 sum ln p, 2N).  0.5 when N is 0.
 */
double spam_chi2_combine(const double *p, size_t n);
/* The same with the sums and N scaled by ESF (effective size factor,
 * 0 < ESF <= 1): 2 * max(1, round(ESF * N)) degrees of freedom,
 * -2 ESF sum ln p and -2 ESF sum ln(1-p).  ESF 1 is the plain form;
 * the classifier uses 0.25 (policy/spam.c). */
double spam_chi2_combine_esf(const double *p, size_t n, double esf);
/* Robinson's f(w) for a token seen in SPAM of NSPAM spam and HAM of
 * NHAM ham messages: (s*x + n*p(w)) / (s + n). */
double spam_token_prob(uint32_t spam, uint32_t ham, uint32_t nspam, uint32_t nham);

enum spam_action { SPAM_ACT_NONE = 0, SPAM_ACT_TAG, SPAM_ACT_HOLD, SPAM_ACT_REJECT };
const char *spam_straction(enum spam_action a);

/* A substring rule over the raw message (e.g. GTUBE). */
struct spam_rule {
	char name[32];
	double weight;
	const char *text;	/* borrowed from the rule's source string */
	size_t len;
};

/*
 * What scoring reads: thresholds (0 = that action is off), the number
 * of ham and spam messages the classifier needs before it speaks, and
 * the rules.  Built from policy_params (spam_params_from_policy()) or
 * by tools.
 */
struct spam_params {
	double tag_score;		/* spam_tag_score; 0 = never tag */
	double hold_score;		/* spam_hold_score; 0 = never hold */
	double reject_score;		/* spam_reject_score; 0 = never reject (default) */
	uint32_t min_learned;		/* spam_min_learned, of each class */
	const struct spam_rule *rules;	/* borrowed */
	size_t nrules;
};

#define SPAM_MAX_SYMBOLS 16
struct spam_symbol {
	char name[32];
	double weight;
};

struct spam_result {
	double probability;		/* classifier's, in [0,1]; -1 when inactive */
	double score;			/* sum of every check's weight */
	struct spam_symbol sym[SPAM_MAX_SYMBOLS];
	size_t nsym;
	enum spam_action action;
	size_t ntokens;			/* distinct tokens of the message; 0 when the
					 * classifier is inactive (not computed) */
	size_t nused;			/* tokens that took part in the combining */
	uint32_t nspam, nham;		/* learned messages when scored */
};

/* Parse one rule "NAME:WEIGHT:TEXT" (NAME [A-Z0-9_], up to 31; TEXT
 * borrowed from S).  0, or -1 with ERR. */
int spam_rule_parse(const char *s, struct spam_rule *out, char *err, size_t errlen);

/* The classifier's banded symbol for probability P (BAYES_00..BAYES_99)
 * and its weight. */
const char *spam_bayes_symbol(double p, double *weight);

/*
 * Score MSG: tokens, classifier (when STORE holds at least
 * p->min_learned of each class; STORE may be NULL), rules, then the
 * action from the thresholds.  0, or -1 when the store failed (the
 * result then has the rules only).
 */
int spam_score(const struct spam_store *store, const struct spam_params *p,
    const char *msg, size_t len, struct spam_result *out);
/* The same, also handing back the message's tokens (T initialised by
 * the caller, freed by the caller; its skip flags honoured, and the
 * token hashes are not computed while the model is inactive). */
int spam_score_tokens(const struct spam_store *store, const struct spam_params *p,
    const char *msg, size_t len, struct spam_result *out, struct spam_tokens *t);
/* Add WEIGHT to the score and NAME to the symbols; when SPAM_MAX_SYMBOLS
 * are listed, the weight still counts and the lightest symbol makes way
 * for a heavier one. */
void spam_result_add(struct spam_result *r, const char *name, double weight);
/* The action for SCORE under P. */
enum spam_action spam_action_for(const struct spam_params *p, double score);

enum spam_class { SPAM_HAM = 0, SPAM_SPAM = 1 };
#define SPAM_LEARN_FORGET	0x01	/* undo an earlier learn of this class */
#define SPAM_LEARN_BALANCED	0x02	/* refuse when this class would swamp the other */
/* Balance guard: a class may hold at most this many times the other's
 * messages plus SPAM_BALANCE_SLACK. */
#define SPAM_BALANCE_RATIO	4
#define SPAM_BALANCE_SLACK	50
/*
 * Learn (or with SPAM_LEARN_FORGET unlearn) MSG as CLASS into STORE.
 * 0; 1 when the balance guard declined (nothing written); negative
 * errno from the store.
 */
int spam_learn(const struct spam_store *store, const char *msg, size_t len,
    enum spam_class cls, unsigned flags);

/* The score line of R: "score=7.50 symbols=BAYES_99(5.00),GTUBE(1000.00)". */
void spam_result_format(const struct spam_result *r, struct buf *out);

/* ---- DNS blocklists (policy/spam_dnsbl.c): the pure parts ---- */

/*
 * A blocklist: "ZONE:SYMBOL:WEIGHT[:CODE=SYMBOL=WEIGHT[+...]]" where
 * CODE is the last octet of a 127.0.0.x answer (return-code decoding:
 * "zen.test:ZEN:3:2=ZEN_SBL=4+4=ZEN_XBL=3+10=ZEN_PBL=1").  Answers
 * without a code of their own give SYMBOL/WEIGHT.  IP lists (spam_dnsbl)
 * are asked for the client address, domain lists (spam_uribl) for URL,
 * From, Reply-To and Return-Path registrable domains.
 */
#define SPAM_LIST_MAX_CODES 8
struct spam_list {
	char zone[128];
	char symbol[32];
	double weight;
	int domains;			/* 1: a domain list (URI-BL), 0: an IP list */
	size_t ncodes;
	struct {
		unsigned code;		/* last octet of 127.0.0.x */
		char symbol[32];
		double weight;
	} codes[SPAM_LIST_MAX_CODES];
};
/* Parse one list spec (DOMAINS: a domain list).  0, or -1 with ERR. */
int spam_list_parse(const char *s, int domains, struct spam_list *out, char *err, size_t errlen);
/* The query name of IP (v4 dotted or v6) under ZONE (RFC 5782 §2.1,
 * §2.4: reversed octets or nibbles).  0, or -1 when IP is not an address. */
int spam_dnsbl_qname(const char *ip, const char *zone, char *out, size_t outlen);
/*
 * Decode one A answer ADDR of list L: 1 listed (*SYM, *W set), 0 not a
 * listing (outside 127.0.0.0/8, RFC 5782 §2.3), -1 the list refused the
 * query (127.255.255.x: the list must be disabled).
 */
int spam_dnsbl_decode(const struct spam_list *l, const unsigned char addr[4],
    const char **sym, double *w);
/* RFC 5782 §5 canary names of L: LISTED must answer 127.0.0.x,
 * UNLISTED must not exist. */
void spam_dnsbl_canaries(const struct spam_list *l, char *listed, char *unlisted, size_t len);

/*
 * The DNS round of one message (policy_msg.spam_q): the EOM stage asks
 * for names, the relay looks them up on the loop (through src/net/dns.c)
 * within spam_dnsbl_timeout and resumes the EOM stages, and the stage
 * decodes the answers.  The score of the first pass is kept so the
 * message is tokenized once.
 */
#define SPAM_DNSQ_MAX_ADDRS 8
struct spam_dnsq_item {
	char name[320];			/* the query name (type A) */
	char zone[128];			/* the list's zone, for its on/off state */
	size_t list;			/* index in the stage's lists */
	int done;			/* answered (or timed out: naddr 0) */
	size_t naddr;
	unsigned char addr[SPAM_DNSQ_MAX_ADDRS][4];
};
struct spam_dnsq {
	struct spam_dnsq_item *v;	/* owned */
	size_t n;
	struct spam_result res;		/* the first pass's result */
	int resumed;			/* the relay has filled the answers */
};
void spam_dnsq_free(struct spam_dnsq *q);

/*
 * The EOM stage (policy/spam_stage.c), between sensitive data and DKIM:
 * removes a client-supplied X-Postern-Spam field, scores the message
 * with m->spam (NULL: rules only), adds X-Postern-Spam: score=...
 * symbols=... on tag or hold, sets m->hold on hold, answers 550 5.7.1
 * "Message rejected as spam (ref TOKEN)" on reject, and appends the
 * symbols to m->verdicts.
 */
struct policy_msg;
int spam_policy_stage(struct policy_msg *m, struct outcome *out);

#endif
