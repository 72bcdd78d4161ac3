/* SPDX-License-Identifier: ISC */
/*
 * ctl_dkim.c: `posternctl dkim generate|list|dns|rotate|remove` and
 * `posternctl domain check`: argv parsing and printing only.
 * generate, rotate and remove are dkim.* requests to posternd
 * (src/control/cmd_dkim.c), which makes the key, writes the key
 * directory and audits the change; with the daemon down they fail.
 * list and dns read the key directory (dkim_key_directory, or
 * <data_directory>/dkim) directly through the key-store API of
 * policy/dkim_keys.c (include/dkim.h), so they also work offline.
 *
 * Private keys are never printed nor received: only selectors,
 * metadata and the public TXT record.  `domain check` prints what the customer must
 * publish (SPF mechanisms for our egress IPs, the DKIM TXT records)
 * and whether DNS already has it, using policy/spf.c's DNS path and
 * libspf2 evaluation; exit status 0 only when everything is in place.
 */
#include "autoconfig.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "account.h"
#include "ctl.h"
#include "dkim.h"
#include "dns.h"
#include "spf.h"
#include "json.h"
#include "policy_params.h"
#include "relay.h"
#include "util.h"

static int ctl_domain(int argc, char **argv, const struct config *cfg);

const char ctl_dkim_usage[] =
    "usage: posternctl dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519] [--bits N]\n"
    "       posternctl dkim list [--json]\n"
    "       posternctl dkim dns DOMAIN\n"
    "       posternctl dkim rotate DOMAIN\n"
    "       posternctl dkim remove DOMAIN SELECTOR\n";

static void
dkim_usage(void)
{
	fputs(ctl_dkim_usage, stderr);
}

static struct dkimsign_keystore *
open_store(const struct config *cfg)
{
	char dir[PATH_MAX], err[PATH_MAX + 128];
	struct dkimsign_keystore *ks;
	struct policy_params pp;

	policy_params_from_config(&pp, cfg);
	dkimsign_key_directory(&pp.dkim, dir, sizeof(dir));
	if (dkimsign_keystore_load(dir, 0, &ks, err, sizeof(err)) == -1) {
		fprintf(stderr, "posternctl: %s\n", err);
		return NULL;
	}
	return ks;
}

static void
print_dns(const struct dkimsign_keystore *ks, const struct dkimsign_key *k, FILE *out)
{
	struct buf txt, line;
	char name[DKIM_SELECTOR_MAX + DKIM_DOMAIN_MAX + 16], err[PATH_MAX + 128];

	buf_init(&txt, 0);
	buf_init(&line, 0);
	if (dkimsign_key_txt(ks, k, &txt, err, sizeof(err)) == -1) {
		fprintf(stderr, "posternctl: %s\n", err);
	} else {
		snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, k->domain);
		dkimsign_txt_zone_line(name, txt.data, &line);
		fprintf(out, "; %s %s %s\n", k->domain, dkimsign_strealg(k->alg),
		    k->active ? "active" : "inactive");
		fputs(line.data, out);
	}
	buf_free(&txt);
	buf_free(&line);
}

/* Print one key of a dkim.* result as print_dns() does. */
static void
print_result_key(const struct json_value *k)
{
	const char *zone = json_get_str(k, "zone", NULL);

	printf("; %s %s %s\n", json_get_str(k, "domain", "?"), json_get_str(k, "algorithm", "?"),
	    json_get_bool(k, "active", 0) ? "active" : "inactive");
	if (zone != NULL)
		fputs(zone, stdout);
	else
		fprintf(stderr, "posternctl: %s\n", json_get_str(k, "txt_error", "no TXT record"));
}

/* generate and rotate: sent to posternd, which makes the key. */
static int
cmd_generate(struct ctl *c, int argc, char **argv, int rotate)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL, *keys;
	const char *domain = NULL, *selector = NULL, *alg = NULL;
	enum dkimsign_alg a;
	struct buf args;
	struct json_out j;
	long bits = 0;
	int i, rc;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc && !rotate) {
			selector = argv[++i];
		} else if (strcmp(argv[i], "--algorithm") == 0 && i + 1 < argc) {
			alg = argv[++i];
			if (dkimsign_parse_alg(alg, &a) == -1) {
				fprintf(stderr, "posternctl: algorithm must be rsa or ed25519\n");
				return CTL_EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc) {
			bits = atol(argv[++i]);
			if (bits < 1024 || bits > 8192) {
				fprintf(stderr, "posternctl: --bits must be 1024..8192\n");
				return CTL_EXIT_USAGE;
			}
		} else if (argv[i][0] != '-' && domain == NULL) {
			domain = argv[i];
		} else {
			dkim_usage();
			return CTL_EXIT_USAGE;
		}
	}
	if (domain == NULL) {
		dkim_usage();
		return CTL_EXIT_USAGE;
	}
	if (!dkimsign_valid_domain(domain)) {
		fprintf(stderr, "posternctl: invalid domain %s\n", domain);
		return CTL_EXIT_USAGE;
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	json_kv_str(&j, "domain", domain);
	if (selector != NULL)
		json_kv_str(&j, "selector", selector);
	if (alg != NULL)
		json_kv_str(&j, "algorithm", alg);
	if (bits != 0)
		json_kv_int(&j, "bits", bits);
	json_obj_end(&j);
	rc = ctl_call(c, rotate ? "dkim.rotate" : "dkim.generate", args.data, 0, &root, &res);
	buf_free(&args);
	if (rc != 0) {
		json_free(root);
		return rc;
	}
	if (c->json) {
		ctl_print_json(res, stdout);
		json_free(root);
		return CTL_EXIT_OK;
	}
	keys = json_get(res, "keys");
	for (k = 0; keys != NULL && keys->type == JSON_ARRAY && k < keys->n; k++) {
		const struct json_value *x = keys->items[k];

		if (rotate)
			printf("rotated %s: new active %s selector %s; the previous key stays listed until "
			    "`posternctl dkim remove`; publish:\n", json_get_str(x, "domain", "?"),
			    json_get_str(x, "algorithm", "?"), json_get_str(x, "selector", "?"));
		else
			printf("generated %s key for %s, selector %s (%s); publish:\n",
			    json_get_str(x, "algorithm", "?"), json_get_str(x, "domain", "?"),
			    json_get_str(x, "selector", "?"),
			    json_get_bool(x, "active", 0) ? "active" : "inactive");
		print_result_key(x);
	}
	json_free(root);
	return CTL_EXIT_OK;
}

static int
cmd_list(int argc, char **argv, const struct config *cfg, int json)
{
	struct dkimsign_keystore *ks;
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		json = 1;
	else if (argc != 1) {
		dkim_usage();
		return 2;
	}
	if ((ks = open_store(cfg)) == NULL)
		return 1;
	if (json)
		printf("[");
	else
		printf("%-30s %-16s %-8s %5s %-8s %s\n", "DOMAIN", "SELECTOR", "ALG", "BITS", "STATE", "CREATED");
	for (i = 0; i < ks->n; i++) {
		const struct dkimsign_key *k = &ks->keys[i];
		char created[32];
		time_t t = (time_t)k->created;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (json) {
			printf("%s{\"domain\":", i ? "," : "");
			json_fput_str(stdout, k->domain);
			printf(",\"selector\":");
			json_fput_str(stdout, k->selector);
			printf(",\"algorithm\":\"%s\",\"bits\":%d,\"active\":%s,\"created\":\"%s\"}",
			    dkimsign_strealg(k->alg), k->bits, k->active ? "true" : "false", created);
		} else {
			printf("%-30s %-16s %-8s %5d %-8s %s\n", k->domain, k->selector,
			    dkimsign_strealg(k->alg), k->bits, k->active ? "active" : "inactive", created);
		}
	}
	if (json)
		printf("]\n");
	dkimsign_keystore_free(ks);
	return 0;
}

static int
cmd_dns(struct ctl *c, int argc, char **argv, const struct config *cfg)
{
	struct dkimsign_keystore *ks;
	size_t i, n = 0;

	if (argc != 2) {
		dkim_usage();
		return 2;
	}
	if ((ks = open_store(cfg)) == NULL)
		return 1;
	for (i = 0; i < ks->n; i++)
		if (strcasecmp(ks->keys[i].domain, argv[1]) == 0) {
			print_dns(ks, &ks->keys[i], stdout);
			n++;
		}
	dkimsign_keystore_free(ks);
	if (n == 0) {
		ctl_error(c, CTL_EXIT_FAIL, "no DKIM keys for %s (posternctl dkim generate %s)",
		    argv[1], argv[1]);
		return 1;
	}
	return 0;
}

/* remove: sent to posternd. */
static int
cmd_remove(struct ctl *c, int argc, char **argv)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct buf args;
	struct json_out j;
	int rc;

	if (argc != 3) {
		dkim_usage();
		return CTL_EXIT_USAGE;
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	json_kv_str(&j, "domain", argv[1]);
	json_kv_str(&j, "selector", argv[2]);
	json_obj_end(&j);
	rc = ctl_call(c, "dkim.remove", args.data, 0, &root, &res);
	buf_free(&args);
	if (rc == 0) {
		if (c->json)
			ctl_print_json(res, stdout);
		else
			printf("removed %s selector %s\n", argv[1], argv[2]);
	}
	json_free(root);
	return rc;
}

/* generate, rotate, remove go to posternd; list and dns read the key
 * directory directly (read-only, also with the daemon stopped). */
int
ctl_dkim_main(struct ctl *c, int argc, char **argv)
{
	const struct config *cfg;

	if (argc < 2) {
		dkim_usage();
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "generate") == 0)
		return cmd_generate(c, argc - 1, argv + 1, 0);
	if (strcmp(argv[1], "rotate") == 0)
		return cmd_generate(c, argc - 1, argv + 1, 1);
	if (strcmp(argv[1], "remove") == 0)
		return cmd_remove(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "dns") != 0) {
		dkim_usage();
		return CTL_EXIT_USAGE;
	}
	if ((cfg = ctl_config(c)) == NULL)
		return CTL_EXIT_FAIL;
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1, cfg, c->json);
	return cmd_dns(c, argc - 1, argv + 1, cfg);
}

/* Does the published SPF policy in TXT contain mechanism M (case-insensitive word)? */
static int
has_word(const char *txt, const char *m)
{
	size_t n = strlen(m);
	const char *p = txt;

	while ((p = strcasestr(p, m)) != NULL) {
		if ((p == txt || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

int
ctl_domain_main(struct ctl *c, int argc, char **argv)
{
	const struct config *cfg;

	if (argc != 3 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: posternctl domain check DOMAIN\n");
		return CTL_EXIT_USAGE;
	}
	if ((cfg = ctl_config(c)) == NULL)
		return CTL_EXIT_FAIL;
	return ctl_domain(argc, argv, cfg);
}

/* ---- DNS for `domain check`: src/net/dns.c on a private loop ---- */

struct ctl_txt_wait {
	int done, n, max;
	char **txt;
};

static void
ctl_txt_cb(void *arg, const struct dns_result *r)
{
	struct ctl_txt_wait *w = arg;
	size_t i;

	w->done = 1;
	if (r->status == DNS_TEMPFAIL || r->status == DNS_BADNAME) {
		w->n = -1;
		return;
	}
	for (i = 0; r->status == DNS_OK && i < r->n && w->n < w->max; i++)
		w->txt[w->n++] = xstrndup(r->rr[i].text ? r->rr[i].text : "", r->rr[i].len);
}

/* TXT records of NAME (each record's strings joined): count, 0 for none, -1 on a DNS error. */
static int
ctl_dns_txt(struct dns *d, const char *name, char **txt, int max)
{
	struct ctl_txt_wait w = { 0, 0, max, txt };

	if (d == NULL || dns_lookup(d, name, DNS_T_TXT, ctl_txt_cb, &w) == NULL)
		return -1;
	while (!w.done)
		uv_run(dns_loop(d), UV_RUN_ONCE);
	return w.n;
}

static int
ctl_spf_dns(void *arg, const char *name, int type, dns_cb cb, void *cbarg)
{
	return dns_lookup(arg, name, type, cb, cbarg) != NULL ? 0 : -1;
}

struct ctl_spf_wait {
	int done;
	struct spf_verdict v;
};

static void
ctl_spf_cb(void *arg, const struct spf_verdict *v)
{
	struct ctl_spf_wait *w = arg;

	w->v = *v;
	w->done = 1;
}

static void
ctl_dns_done(struct dns *dns, uv_loop_t *loop)
{
	dns_close(dns);
	uv_run(loop, UV_RUN_DEFAULT);	/* the close callbacks */
	uv_loop_close(loop);
}

/* ARGV: "domain" "check" DOMAIN. */
static int
ctl_domain(int argc, char **argv, const struct config *cfg)
{
	char mech[1024], sender[300], *txt[16], name[512];
	struct policy_params pp;
	struct dkimsign_keystore *ks;
	struct ctl_spf_wait sw;
	struct spf *spf;
	struct account *pol;
	uv_loop_t loop;
	struct dns *dns;
	int n, i, missing = 0, spfrec = -1;
	size_t j, nkeys = 0;

	if (argc != 3 || strcmp(argv[1], "check") != 0 || !dkimsign_valid_domain(argv[2])) {
		fprintf(stderr, "usage: posternctl domain check DOMAIN\n");
		return 2;
	}
	const char *domain = argv[2];
	uv_loop_init(&loop);
	if ((dns = dns_open(&loop, &cfg->dns_servers, name, sizeof(name))) == NULL)
		printf("dns: %s\n", name);

	/* SPF (RFC 7208 §4.5: exactly one v=spf1 record) */
	policy_params_from_config(&pp, cfg);
	spf_required_mechanisms(&pp.spf, mech, sizeof(mech));
	printf("SPF for %s\n", domain);
	if (mech[0] == '\0') {
		printf("  required: nothing to check (set spf_egress_ips or smtp_bind_address)\n");
	} else {
		printf("  required: the TXT record at %s must authorise: %s\n", domain, mech);
		n = ctl_dns_txt(dns, domain, txt, 16);
		if (n < 0) {
			printf("  dns: lookup failed (temporary error)\n");
			missing = 1;
		} else {
			for (i = 0; i < n; i++) {
				if (strncasecmp(txt[i], "v=spf1", 6) == 0 && (txt[i][6] == ' ' || txt[i][6] == '\0')) {
					printf("  dns: %s\n", txt[i]);
					spfrec = i;
				}
			}
			if (spfrec < 0)
				printf("  dns: no SPF record; publish: %s. IN TXT \"v=spf1 %s ~all\"\n", domain, mech);
			else {
				/* advice only: the libspf2 evaluation below is what counts */
				char copy[1024], *tok, *save = NULL;

				str_copy(copy, mech, sizeof(copy));
				for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
					if (!has_word(txt[spfrec], tok))
						printf("  hint: %s is not listed literally (an include: may still cover it)\n", tok);
			}
			for (i = 0; i < n; i++)
				free(txt[i]);
		}
		spf = spf_new();
		pol = account_new("posternctl");
		pol->pol.spf_action = SPF_ACTION_REJECT;	/* evaluate even if spf_action = ignore */
		snprintf(sender, sizeof(sender), "postmaster@%s", domain);
		memset(&sw, 0, sizeof(sw));
		if (dns == NULL) {
			sw.v.result = SPF_R_TEMPERROR;
		} else if (spf_check_start(spf, &pp.spf, &pol->pol, sender, ctl_spf_dns, dns, ctl_spf_cb,
		    &sw, &sw.v) == SPF_PENDING) {
			while (!sw.done)
				uv_run(&loop, UV_RUN_ONCE);
		}
		printf("  evaluation: %s%s%s\n", spf_strresult(sw.v.result), sw.v.ip[0] ? " for " : "",
		    sw.v.ip);
		if (sw.v.result != SPF_R_PASS)
			missing = 1;
		account_free(pol);
		spf_free(spf);
	}

	/* DKIM */
	printf("DKIM for %s\n", domain);
	if ((ks = open_store(cfg)) == NULL) {
		ctl_dns_done(dns, &loop);
		return 1;
	}
	for (j = 0; j < ks->n; j++) {
		const struct dkimsign_key *k = &ks->keys[j];
		struct buf want;
		char err[PATH_MAX + 128];
		int found = 0;

		if (strcasecmp(k->domain, domain) != 0)
			continue;
		nkeys++;
		buf_init(&want, 0);
		print_dns(ks, k, stdout);
		if (dkimsign_key_txt(ks, k, &want, err, sizeof(err)) == -1) {
			buf_free(&want);
			missing = 1;
			continue;
		}
		snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, k->domain);
		n = ctl_dns_txt(dns, name, txt, 16);
		if (n < 0) {
			printf("  dns: %s: lookup failed (temporary error)\n", name);
		} else {
			for (i = 0; i < n; i++) {
				/* compare the key itself: p= must match exactly */
				const char *p = strstr(txt[i], "p="), *wp = strstr(want.data, "p=");

				if (p && wp && strncmp(p, wp, strlen(wp)) == 0 &&
				    (p[strlen(wp)] == '\0' || p[strlen(wp)] == ';' || p[strlen(wp)] == ' '))
					found = 1;
				free(txt[i]);
			}
			printf("  dns: %s: %s\n", name, found ? "published, matches" :
			    n > 0 ? "published, DIFFERENT key" : "not published");
		}
		if (!found && k->active)
			missing = 1;
		buf_free(&want);
	}
	if (nkeys == 0) {
		printf("  no DKIM keys: posternctl dkim generate %s\n", domain);
		missing = 1;
	}
	dkimsign_keystore_free(ks);
	ctl_dns_done(dns, &loop);
	printf("%s\n", missing ? "result: action needed" : "result: ok");
	return missing ? 1 : 0;
}
