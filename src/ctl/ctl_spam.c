/* SPDX-License-Identifier: ISC */
/*
 * ctl_spam.c: `posternctl spam ...` (issue 15, posternctl(8)): train,
 * inspect and score with the spam model.
 *
 *   spam learn --spam|--ham [--forget] [--model DIR] FILE...
 *   spam score [--json] [--model DIR] FILE...
 *   spam stats [--model DIR]
 *   spam forget --all [--model DIR]
 *   spam forget --spam|--ham [--model DIR] FILE...   (unlearn those)
 *   spam expire --older-than DURATION [--model DIR]
 *   spam learn --spam|--ham [--forget] [--balanced] [--rejected] --id QID...
 *   spam score [--json] --id QID...
 *
 * With --id the daemon learns or scores messages of its queue by id
 * (src/control/cmd_spam.c: audited, reviewers may use it); the rest
 * works on the model directory itself.
 * Without --model the daemon's model is used: the LMDB environment in
 * spam_model_directory (default DATA_DIRECTORY/spam).  LMDB shares it
 * between processes, so learning works while posternd runs and its
 * next message sees the new counts; --model DIR is a standalone model
 * (created on first learn).  Scoring uses the thresholds and rules of
 * the config (spam_*_score, spam_rules, spam_min_learned), the same
 * code as the EOM stage.  score --json prints one object per file and
 * line: {"file":..., "probability":..., "score":..., "symbols":[...],
 * "action":...}.  Exit status: 0 ok, 1 a file or the model failed,
 * 2 usage.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "json.h"
#include "policy_params.h"
#include "relay.h"
#include "spam.h"
#include "spamdb.h"
#include "util.h"

#define SPAM_MAX_FILE (64u << 20)
#define SPAM_MAX_RULES 64

const char ctl_spam_usage[] =
	    "usage: posternctl spam learn --spam|--ham [--forget] [--model DIR] FILE...\n"
	    "       posternctl spam learn --spam|--ham [--forget] [--balanced] [--rejected] --id QID...\n"
	    "       posternctl spam score [--json] [--model DIR] FILE...\n"
	    "       posternctl spam score [--json] --id QID...\n"
	    "       posternctl spam stats [--model DIR]\n"
	    "       posternctl spam forget --all | --spam|--ham FILE... [--model DIR]\n"
	    "       posternctl spam expire --older-than DURATION [--model DIR]\n";

static void
spam_usage(void)
{
	fputs(ctl_spam_usage, stderr);
}

struct spam_opts {
	const char *model;
	int cls;		/* -1 none, SPAM_HAM, SPAM_SPAM */
	int forget, all;
	int ids;		/* --id: the arguments are queue ids (daemon side) */
	int balanced, rejected;
	const char *older;
	char **files;
	int nfiles;
};

/* 0, or 2 on a usage error. */
static int
spam_parse(int argc, char **argv, struct spam_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->cls = -1;
	o->files = xcalloc((size_t)argc + 1, sizeof(*o->files));
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--spam") == 0)
			o->cls = SPAM_SPAM;
		else if (strcmp(argv[i], "--ham") == 0)
			o->cls = SPAM_HAM;
		else if (strcmp(argv[i], "--forget") == 0)
			o->forget = 1;
		else if (strcmp(argv[i], "--all") == 0)
			o->all = 1;
		else if (strcmp(argv[i], "--id") == 0)
			o->ids = 1;
		else if (strcmp(argv[i], "--balanced") == 0)
			o->balanced = 1;
		else if (strcmp(argv[i], "--rejected") == 0)
			o->rejected = 1;
		else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			o->model = argv[++i];
		else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc)
			o->older = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return 2;
		else
			o->files[o->nfiles++] = argv[i];
	}
	return 0;
}

static struct spamdb *
spam_open(struct ctl *c, const struct spam_opts *o, int readonly)
{
	struct spamdb *db;
	char err[512], *dir;

	dir = o->model != NULL ? xstrdup(o->model) : spam_model_dir(ctl_config(c));
	db = spamdb_open(dir, readonly, err, sizeof(err));
	if (db == NULL)
		ctl_error(c, CTL_EXIT_FAIL, "spam model %s: %s", dir, err);
	free(dir);
	return db;
}

static int
spam_learn_files(struct spamdb *db, const struct spam_opts *o, int forget)
{
	struct spam_store st;
	int i, rc = 0, n = 0;

	spamdb_store(db, &st);
	for (i = 0; i < o->nfiles; i++) {
		char *data = NULL;
		size_t len = 0;
		int r;

		if ((r = file_read_all(o->files[i], SPAM_MAX_FILE, &data, &len)) != 0) {
			fprintf(stderr, "posternctl spam: %s: %s\n", o->files[i], strerror(-r));
			rc = CTL_EXIT_FAIL;
			continue;
		}
		r = spam_learn(&st, data, len, (enum spam_class)o->cls, forget ? SPAM_LEARN_FORGET : 0);
		free(data);
		if (r < 0) {
			fprintf(stderr, "posternctl spam: %s: cannot write the model: %s\n",
			    o->files[i], strerror(-r));
			rc = CTL_EXIT_FAIL;
			continue;
		}
		n++;
	}
	printf("%s %d message%s as %s\n", forget ? "forgot" : "learned", n, n == 1 ? "" : "s",
	    o->cls == SPAM_SPAM ? "spam" : "ham");
	return rc;
}

/* The scoring settings of the config, as the EOM stage reads them.
 * 0, or -1 when there is no config (ctl_config said why). */
static int
spam_params_of(struct ctl *c, struct spam_params *p, struct spam_rule *rules)
{
	const struct config *cfg = ctl_config(c);
	struct policy_params pp;
	char err[128];
	size_t i;

	if (cfg == NULL)
		return -1;
	policy_params_from_config(&pp, cfg);
	memset(p, 0, sizeof(*p));
	p->tag_score = pp.spam.tag_score;
	p->hold_score = pp.spam.hold_score;
	p->reject_score = pp.spam.reject_score;
	p->min_learned = pp.spam.min_learned;
	for (i = 0; i < pp.spam.rules.n && p->nrules < SPAM_MAX_RULES; i++)
		if (spam_rule_parse(pp.spam.rules.items[i], &rules[p->nrules], err, sizeof(err)) == 0)
			p->nrules++;
		else
			fprintf(stderr, "posternctl spam: spam_rules: %s\n", err);	/* a warning */
	p->rules = rules;
	return 0;
}

static int
spam_score_files(struct ctl *c, struct spamdb *db, const struct spam_opts *o)
{
	struct spam_rule rules[SPAM_MAX_RULES];
	struct spam_params p;
	struct spam_store st;
	int i, rc = 0;

	spamdb_store(db, &st);
	if (spam_params_of(c, &p, rules) != 0)
		return CTL_EXIT_FAIL;
	for (i = 0; i < o->nfiles; i++) {
		struct spam_result r;
		char *data = NULL;
		size_t len = 0, k;
		int e;

		if ((e = file_read_all(o->files[i], SPAM_MAX_FILE, &data, &len)) != 0) {
			ctl_error(c, CTL_EXIT_FAIL, "spam: %s: %s", o->files[i], strerror(-e));
			rc = CTL_EXIT_FAIL;
			continue;
		}
		if (spam_score(&st, &p, data, len, &r) != 0) {
			ctl_error(c, CTL_EXIT_FAIL, "spam: %s: cannot read the model", o->files[i]);
			rc = CTL_EXIT_FAIL;
		}
		free(data);
		if (c->json) {
			printf("{\"file\":");
			json_fput_str(stdout, o->files[i]);
			if (r.probability >= 0)
				printf(",\"probability\":%.17g", r.probability);
			else
				printf(",\"probability\":null");
			printf(",\"score\":%.2f,\"symbols\":[", r.score);
			for (k = 0; k < r.nsym; k++)
				printf("%s{\"name\":\"%s\",\"weight\":%.2f}", k ? "," : "", r.sym[k].name,
				    r.sym[k].weight);
			printf("],\"action\":\"%s\"}\n", spam_straction(r.action));
		} else {
			struct buf line;

			buf_init(&line, 0);
			spam_result_format(&r, &line);
			if (r.probability >= 0)
				printf("%s: probability=%.4f %s action=%s\n", o->files[i], r.probability,
				    line.data, spam_straction(r.action));
			else
				printf("%s: probability=- %s action=%s (classifier inactive: %u spam, "
				    "%u ham learned, %u of each needed)\n", o->files[i], line.data,
				    spam_straction(r.action), r.nspam, r.nham, p.min_learned);
			buf_free(&line);
		}
	}
	return rc;
}

static int
spam_stats_print(struct ctl *c, struct spamdb *db)
{
	struct spamdb_stats s;
	char when[32];
	int rc;

	if ((rc = spamdb_stats(db, &s)) != 0) {
		ctl_error(c, CTL_EXIT_FAIL, "spam: stats: %s", strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	if (c->json) {
		printf("{\"tokens\":%llu,\"spam\":%u,\"ham\":%u,\"map_size\":%llu,\"file_size\":%llu,"
		    "\"oldest\":%llu}\n", (unsigned long long)s.tokens, s.nspam, s.nham,
		    (unsigned long long)s.map_size, (unsigned long long)s.file_size,
		    (unsigned long long)s.oldest);
		return 0;
	}
	printf("tokens:    %llu\n", (unsigned long long)s.tokens);
	printf("spam:      %u messages learned\n", s.nspam);
	printf("ham:       %u messages learned\n", s.nham);
	printf("size:      %llu bytes on disk (map %llu)\n", (unsigned long long)s.file_size,
	    (unsigned long long)s.map_size);
	printf("oldest:    %s\n", s.oldest ? ctl_fmt_time(s.oldest, when, sizeof(when)) : "-");
	return 0;
}

/* learn / score by queue id: the daemon's handlers (src/control/cmd_spam.c). */
static int
spam_by_id(struct ctl *c, const struct spam_opts *o, int learn)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	int i, rc;
	size_t k;

	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	if (learn) {
		json_kv_str(&j, "class", o->cls == SPAM_SPAM ? "spam" : "ham");
		json_kv_bool(&j, "forget", o->forget);
		json_kv_bool(&j, "balanced", o->balanced);
		json_kv_bool(&j, "rejected", o->rejected);
	}
	json_key(&j, "ids");
	json_arr_begin(&j);
	for (i = 0; i < o->nfiles; i++)
		json_str(&j, o->files[i]);
	json_arr_end(&j);
	json_obj_end(&j);
	rc = ctl_call(c, learn ? "spam.learn" : "spam.score", args.data, 0, &root, &res);
	buf_free(&args);
	if (rc != 0 || res == NULL) {
		json_free(root);
		return rc ? rc : CTL_EXIT_FAIL;
	}
	if (learn) {
		if (c->json)
			ctl_print_json(res, stdout);
		else
			printf("learned %lld as %s, declined %lld (balance guard), not found %lld\n",
			    (long long)json_get_int(res, "learned", 0), o->cls == SPAM_SPAM ? "spam" : "ham",
			    (long long)json_get_int(res, "declined", 0),
			    (long long)json_get_int(res, "missing", 0));
		rc = json_get_int(res, "missing", 0) > 0 ? CTL_EXIT_FAIL : 0;
	} else {
		for (k = 0; res->type == JSON_ARRAY && k < res->n; k++)
			ctl_print_json(res->items[k], stdout);
		rc = res->type == JSON_ARRAY && res->n == (size_t)o->nfiles ? 0 : CTL_EXIT_FAIL;
	}
	json_free(root);
	return rc;
}

int
ctl_spam_main(struct ctl *c, int argc, char **argv)
{
	struct spam_opts o;
	struct spamdb *db = NULL;
	const char *verb = argc > 1 ? argv[1] : "";
	int rc = CTL_EXIT_USAGE;

	if (argc < 2 || spam_parse(argc, argv, &o) != 0) {
		spam_usage();
		if (argc >= 2)
			free(o.files);
		return CTL_EXIT_USAGE;
	}
	if (o.model != NULL && !c->config_given && c->cfg == NULL &&
	    access(c->config_path, F_OK) != 0) {
		/* a standalone model needs no daemon: score with the defaults */
		char err[256];

		c->cfg = config_load(NULL, err, sizeof(err));
	}
	if (o.ids && (strcmp(verb, "learn") == 0 || strcmp(verb, "score") == 0)) {
		if (o.nfiles == 0 || o.model != NULL || (verb[0] == 'l' && o.cls < 0))
			goto usage;
		rc = spam_by_id(c, &o, verb[0] == 'l');
		free(o.files);
		return rc;
	}
	if (strcmp(verb, "learn") == 0) {
		if (o.cls < 0 || o.nfiles == 0)
			goto usage;
		if ((db = spam_open(c, &o, 0)) == NULL)
			goto fail;
		rc = spam_learn_files(db, &o, o.forget);
	} else if (strcmp(verb, "score") == 0) {
		if (o.nfiles == 0)
			goto usage;
		if ((db = spam_open(c, &o, 0)) == NULL)
			goto fail;
		rc = spam_score_files(c, db, &o);
	} else if (strcmp(verb, "stats") == 0) {
		if ((db = spam_open(c, &o, 0)) == NULL)
			goto fail;
		rc = spam_stats_print(c, db);
	} else if (strcmp(verb, "forget") == 0) {
		if (o.all == (o.cls >= 0) || (o.all && o.nfiles > 0) || (!o.all && o.nfiles == 0))
			goto usage;
		if ((db = spam_open(c, &o, 0)) == NULL)
			goto fail;
		if (o.all) {
			int e = spamdb_forget_all(db);

			if (e != 0) {
				fprintf(stderr, "posternctl spam: forget: %s\n", strerror(-e));
				rc = CTL_EXIT_FAIL;
			} else {
				printf("model emptied\n");
				rc = 0;
			}
		} else {
			rc = spam_learn_files(db, &o, 1);
		}
	} else if (strcmp(verb, "expire") == 0) {
		uint64_t ms, removed = 0;
		int e;

		if (o.older == NULL || parse_duration_ms(o.older, &ms) != 0 || o.nfiles > 0)
			goto usage;
		if ((db = spam_open(c, &o, 0)) == NULL)
			goto fail;
		e = spamdb_expire(db, now_wall_ms() > ms ? now_wall_ms() - ms : 0, &removed);
		if (e != 0) {
			fprintf(stderr, "posternctl spam: expire: %s\n", strerror(-e));
			rc = CTL_EXIT_FAIL;
		} else {
			printf("expired %llu tokens\n", (unsigned long long)removed);
			rc = 0;
		}
	} else {
		goto usage;
	}
	spamdb_close(db);
	free(o.files);
	return rc;
usage:
	spam_usage();
	free(o.files);
	return CTL_EXIT_USAGE;
fail:
	free(o.files);
	return CTL_EXIT_FAIL;
}
