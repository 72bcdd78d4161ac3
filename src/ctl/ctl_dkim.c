/* SPDX-License-Identifier: ISC */
/*
 * ctl_dkim.c: `posternctl dkim generate|list|dns|rotate|remove` and
 * `posternctl domain check`.  The dkim commands work directly on the
 * key directory (dkim_key_directory, or <data_directory>/dkim) through
 * the key-store API of policy/dkim_keys.c, so they work offline, as root or
 * the operator; a lock file serialises concurrent writers, and the
 * metadata is replaced atomically so a running posternd never reads a
 * half-written file (it reloads on the next message).
 *
 * Private keys are never printed: only selectors, metadata and the
 * public TXT record.  `domain check` prints what the customer must
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

static int ctl_dkim(int argc, char **argv, const struct config *cfg);
static int ctl_domain(int argc, char **argv, const struct config *cfg);

static void
dkim_usage(void)
{
	fprintf(stderr,
	    "usage: posternctl dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519] [--bits N]\n"
	    "       posternctl dkim list [--json]\n"
	    "       posternctl dkim dns DOMAIN\n"
	    "       posternctl dkim rotate DOMAIN\n"
	    "       posternctl dkim remove DOMAIN SELECTOR\n");
}

/* Take the writers' lock on DIR (created 0700 if missing); the fd or -1. */
static int
lock_dir(const char *dir)
{
	char path[PATH_MAX + 16];
	int fd;

	for (size_t i = 1; i < sizeof(path) && dir[i]; i++) {
		/* mkdir -p, 0700: the data directory may not exist yet */
		if (dir[i] != '/')
			continue;
		snprintf(path, sizeof(path), "%.*s", (int)i, dir);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			fprintf(stderr, "posternctl: %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "posternctl: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 || flock(fd, LOCK_EX) == -1) {
		fprintf(stderr, "posternctl: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
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

/*
 * Run as root, the files we create belong to root; posternd drops to
 * `user` and must still read them: hand the directory, the metadata and
 * the keys to that user (modes stay 0700/0600).
 */
static void
fix_owner(const struct config *cfg, const struct dkimsign_keystore *ks)
{
	char path[PATH_MAX + 512];
	struct passwd *pw;
	size_t i;

	if (geteuid() != 0 || cfg->user == NULL || cfg->user[0] == '\0')
		return;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		fprintf(stderr, "posternctl: warning: user %s unknown; key files stay owned by root\n",
		    cfg->user);
		return;
	}
	if (chown(ks->dir, pw->pw_uid, pw->pw_gid) == -1)
		fprintf(stderr, "posternctl: warning: chown %s: %s\n", ks->dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/keys", ks->dir);
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1 && errno != ENOENT)
		fprintf(stderr, "posternctl: warning: chown %s: %s\n", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/.lock", ks->dir);
	(void)chown(path, pw->pw_uid, pw->pw_gid);
	for (i = 0; i < ks->n; i++) {
		snprintf(path, sizeof(path), "%s/%s.%s.pem", ks->dir, ks->keys[i].domain,
		    ks->keys[i].selector);
		if (chown(path, pw->pw_uid, pw->pw_gid) == -1 && errno != ENOENT)
			fprintf(stderr, "posternctl: warning: chown %s: %s\n", path, strerror(errno));
	}
}

static int
save_store(const struct config *cfg, struct dkimsign_keystore *ks)
{
	char err[PATH_MAX + 128];

	if (dkimsign_keystore_save(ks, err, sizeof(err)) == -1) {
		fprintf(stderr, "posternctl: %s\n", err);
		return -1;
	}
	fix_owner(cfg, ks);
	return 0;
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

static int
cmd_generate(int argc, char **argv, const struct config *cfg, int rotate)
{
	const char *domain = NULL, *selector = NULL;
	enum dkimsign_alg alg = DKIMSIGN_ALG_RSA;
	int bits = 2048, i, fd, rc = 1, had_alg = 0;
	char err[PATH_MAX + 128];
	struct dkimsign_keystore *ks;
	struct dkimsign_key *k;
	size_t j;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc && !rotate) {
			selector = argv[++i];
		} else if (strcmp(argv[i], "--algorithm") == 0 && i + 1 < argc) {
			if (dkimsign_parse_alg(argv[++i], &alg) == -1) {
				fprintf(stderr, "posternctl: algorithm must be rsa or ed25519\n");
				return 2;
			}
			had_alg = 1;
		} else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc) {
			bits = atoi(argv[++i]);
		} else if (argv[i][0] != '-' && domain == NULL) {
			domain = argv[i];
		} else {
			dkim_usage();
			return 2;
		}
	}
	if (domain == NULL) {
		dkim_usage();
		return 2;
	}
	if (!dkimsign_valid_domain(domain)) {
		fprintf(stderr, "posternctl: invalid domain %s\n", domain);
		return 2;
	}
	if (alg == DKIMSIGN_ALG_RSA && (bits < 1024 || bits > 8192)) {
		fprintf(stderr, "posternctl: --bits must be 1024..8192\n");
		return 2;
	}
	if ((ks = open_store(cfg)) == NULL)
		return 1;
	if ((fd = lock_dir(ks->dir)) == -1) {
		dkimsign_keystore_free(ks);
		return 1;
	}
	dkimsign_keystore_free(ks);	/* reload under the lock */
	if ((ks = open_store(cfg)) == NULL) {
		close(fd);
		return 1;
	}
	if (!rotate) {
		int active = 1;

		/* a second key of the same algorithm waits for `dkim rotate` */
		for (j = 0; j < ks->n; j++)
			if (strcasecmp(ks->keys[j].domain, domain) == 0 && ks->keys[j].alg == alg &&
			    ks->keys[j].active)
				active = 0;
		if ((k = dkimsign_key_generate(ks, domain, selector, alg, bits, active, err, sizeof(err))) == NULL) {
			fprintf(stderr, "posternctl: %s\n", err);
			goto out;
		}
		if (save_store(cfg, ks) == -1)
			goto out;
		printf("generated %s key for %s, selector %s (%s); publish:\n",
		    dkimsign_strealg(k->alg), k->domain, k->selector, k->active ? "active" : "inactive");
		print_dns(ks, k, stdout);
		rc = 0;
	} else {
		/* one new key per algorithm in use (RSA for a domain without keys) */
		int algs[2] = { 0, 0 }, bitsof[2] = { bits, 256 }, a, any = 0;

		for (j = 0; j < ks->n; j++)
			if (strcasecmp(ks->keys[j].domain, domain) == 0 && ks->keys[j].active) {
				algs[ks->keys[j].alg] = 1;
				if (ks->keys[j].alg == DKIMSIGN_ALG_RSA && !had_alg)
					bitsof[0] = ks->keys[j].bits;
				any = 1;
			}
		if (had_alg) {
			algs[0] = algs[1] = 0;
			algs[alg] = 1;
		} else if (!any) {
			algs[DKIMSIGN_ALG_RSA] = 1;
		}
		for (a = 0; a < 2; a++) {
			if (!algs[a])
				continue;
			if (dkimsign_key_generate(ks, domain, NULL, (enum dkimsign_alg)a, bitsof[a], 1, err, sizeof(err)) == NULL) {
				fprintf(stderr, "posternctl: %s\n", err);
				goto out;
			}
		}
		if (save_store(cfg, ks) == -1)
			goto out;
		for (j = 0; j < ks->n; j++)
			if (strcasecmp(ks->keys[j].domain, domain) == 0 && ks->keys[j].active) {
				printf("rotated %s: new active %s selector %s; the previous key stays listed until "
				    "`posternctl dkim remove`; publish:\n", ks->keys[j].domain,
				    dkimsign_strealg(ks->keys[j].alg), ks->keys[j].selector);
				print_dns(ks, &ks->keys[j], stdout);
			}
		rc = 0;
	}
out:
	dkimsign_keystore_free(ks);
	close(fd);
	return rc;
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
cmd_dns(int argc, char **argv, const struct config *cfg)
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
		fprintf(stderr, "posternctl: no DKIM keys for %s (posternctl dkim generate %s)\n",
		    argv[1], argv[1]);
		return 1;
	}
	return 0;
}

static int
cmd_remove(int argc, char **argv, const struct config *cfg)
{
	struct dkimsign_keystore *ks;
	char err[PATH_MAX + 128];
	int fd, rc = 1;

	if (argc != 3) {
		dkim_usage();
		return 2;
	}
	if ((ks = open_store(cfg)) == NULL)
		return 1;
	if ((fd = lock_dir(ks->dir)) == -1) {
		dkimsign_keystore_free(ks);
		return 1;
	}
	dkimsign_keystore_free(ks);
	if ((ks = open_store(cfg)) == NULL) {
		close(fd);
		return 1;
	}
	if (dkimsign_key_remove(ks, argv[1], argv[2], err, sizeof(err)) == -1)
		fprintf(stderr, "posternctl: %s\n", err);
	else if (save_store(cfg, ks) == 0) {
		printf("removed %s selector %s\n", argv[1], argv[2]);
		rc = 0;
	}
	dkimsign_keystore_free(ks);
	close(fd);
	return rc;
}

int
ctl_dkim_main(struct ctl *c, int argc, char **argv)
{
	const struct config *cfg;

	if (argc < 2) {
		dkim_usage();
		return CTL_EXIT_USAGE;
	}
	if ((cfg = ctl_config(c)) == NULL)
		return CTL_EXIT_FAIL;
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1, cfg, c->json);
	return ctl_dkim(argc, argv, cfg);
}

/* ARGV[0] is "dkim"; works on the key directory of CFG. */
static int
ctl_dkim(int argc, char **argv, const struct config *cfg)
{
	if (argc < 2) {
		dkim_usage();
		return 2;
	}
	if (strcmp(argv[1], "generate") == 0)
		return cmd_generate(argc - 1, argv + 1, cfg, 0);
	if (strcmp(argv[1], "rotate") == 0)
		return cmd_generate(argc - 1, argv + 1, cfg, 1);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1, cfg, 0);
	if (strcmp(argv[1], "dns") == 0)
		return cmd_dns(argc - 1, argv + 1, cfg);
	if (strcmp(argv[1], "remove") == 0)
		return cmd_remove(argc - 1, argv + 1, cfg);
	dkim_usage();
	return 2;
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
