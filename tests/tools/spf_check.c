/* SPDX-License-Identifier: ISC */
/*
 * spf_check.c: test driver for policy/spf.c.  Checks each SENDER in
 * turn through spf_check_start() with src/net/dns.c (c-ares, the
 * config's dns_servers) on a real uv loop (one after the
 * other, so the second check of a domain can hit the cache) and prints
 * one line per sender:
 *   SENDER result=R action=A cached=0|1 code=C enhanced=E queries=N header=H
 * where queries is the DNS query count so far.  RECORD is the account
 * record (';' for newline, "-" for none).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "account.h"
#include "dns.h"
#include "log.h"
#include "spf.h"
#include "relay.h"

struct run {
	struct spf *spf;
	uv_loop_t *loop;
	struct policy_params params;	/* of the config loaded (kept until exit) */
	struct account *acct;	/* the RECORD's typed policy, or NULL */
	struct dns *dns;
	char **senders;
	int n, i;
};

static void next(struct run *r);
static void done_now(struct run *r, const struct spf_verdict *v);
static int lookup(void *arg, const char *name, int type, dns_cb cb, void *cbarg);

static void
print_verdict(struct run *r, const struct spf_verdict *v)
{
	char hdr[512];
	size_t i;

	str_copy(hdr, v->header, sizeof(hdr));
	for (i = 0; hdr[i]; i++)
		if (hdr[i] == '\r' || hdr[i] == '\n')
			hdr[i] = '\0';
	printf("%s result=%s action=%s cached=%d skipped=%d code=%d enhanced=%s queries=%llu header=%s text=%s\n",
	    r->senders[r->i], spf_strresult(v->result), spf_straction(v->action), v->cached,
	    v->skipped, v->out.code, v->out.enhanced,
	    (unsigned long long)spf_dns_queries(r->spf), hdr[0] ? hdr : "-", v->out.text);
	fflush(stdout);
}

/* Answered at once (cached, skipped): print, go on in next()'s loop. */
static void
done_now(struct run *r, const struct spf_verdict *v)
{
	print_verdict(r, v);
	r->i++;
}

static void
done(void *arg, const struct spf_verdict *v)
{
	struct run *r = arg;

	print_verdict(r, v);
	r->i++;
	next(r);
}

static int
lookup(void *arg, const char *name, int type, dns_cb cb, void *cbarg)
{
	return dns_lookup(arg, name, type, cb, cbarg) != NULL ? 0 : -1;
}

static void
next(struct run *r)
{
	struct spf_verdict v;

	while (r->i < r->n) {
		if (spf_check_start(r->spf, &r->params.spf, r->acct ? &r->acct->pol : NULL, r->senders[r->i],
		    lookup, r->dns, done, r, &v) == SPF_PENDING)
			return;
		done_now(r, &v);
	}
}

int
main(int argc, char **argv)
{
	struct run r;
	struct config *cfg;
	char err[1024], *record = NULL, *p;

	if (argc < 4) {
		fprintf(stderr, "usage: spf_check CONF RECORD|- SENDER...\n");
		return 1;
	}
	log_open("spf_check", LOG_TO_STDERR, LOG_LEVEL_INFO);
	if ((cfg = config_load(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	memset(&r, 0, sizeof(r));
	if (strcmp(argv[2], "-") != 0) {
		record = xmalloc(strlen(argv[2]) + 16);
		snprintf(record, strlen(argv[2]) + 16, "name=test\n%s", argv[2]);
		for (p = record; *p; p++)
			if (*p == ';')
				*p = '\n';
		r.acct = account_parse(record, strlen(record));
	}
	r.spf = spf_new();
	r.loop = uv_default_loop();
	policy_params_from_config(&r.params, cfg);
	if ((r.dns = dns_open(r.loop, &cfg->dns_servers, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	r.senders = argv + 3;
	r.n = argc - 3;
	next(&r);
	while (r.i < r.n && uv_run(r.loop, UV_RUN_ONCE))
		;
	dns_close(r.dns);
	uv_run(r.loop, UV_RUN_DEFAULT);
	uv_loop_close(r.loop);
	account_free(r.acct);
	spf_free(r.spf);
	free(record);
	config_free(cfg);
	return r.i == r.n ? 0 : 1;
}
