/* SPDX-License-Identifier: ISC */
/*
 * dkim-sign: DKIM signatures per second on one thread, RSA-2048 and
 * Ed25519, over the 10 KiB message of the submission benchmark
 * (contrib/bench/smtp-load's body), through dkimsign_sign_with_key():
 * what one end-of-message pool thread can sign (issue 20 item 4).  Keys
 * are generated in a temporary directory and removed after.  Run by
 * hand: ./contrib/bench/dkim-sign [-n signatures]; compare with
 * `openssl speed -seconds 3 rsa2048` (the bare signature; like it, the
 * first figure divides by CPU time, so a busy machine does not skew it).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dkim.h"
#include "policy_params.h"

static double
now_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static char *const hdrs[] = { "from", "to", "subject", "date", "message-id", "mime-version",
	    "content-type" };
	struct policy_dkim_params p;
	struct dkimsign_keystore *ks = NULL;
	struct dkimsign_key *k;
	struct buf msg, sig;
	char tmpl[] = "/tmp/dkim-sign.XXXXXX", dir[64], cmd[128], err[512];
	const char *line = "The quick brown fox jumps over the lazy dog, invoice 2024-0042 total 17.50.\r\n";
	int n = 2000, c, alg, i;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n')
			n = atoi(optarg);
		else {
			fprintf(stderr, "usage: dkim-sign [-n signatures]\n");
			return 2;
		}
	}
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/dkim", tmpl);
	memset(&p, 0, sizeof(p));
	p.key_directory = dir;
	p.sign_headers.items = hdrs;
	p.sign_headers.n = sizeof(hdrs) / sizeof(hdrs[0]);
	buf_init(&msg, 0);
	buf_init(&sig, 0);
	buf_append_str(&msg, "From: <app@bench.test>\r\nTo: <user@dest.test>\r\nSubject: load test 1\r\n"
	    "Message-ID: <load-1@bench.test>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	while (msg.len < 10240)
		buf_append_str(&msg, line);
	if (dkimsign_keystore_load(dir, 0, &ks, err, sizeof(err)) != 0) {
		fprintf(stderr, "dkim-sign: %s\n", err);
		return 1;
	}
	for (alg = 0; alg < 2; alg++) {
		k = dkimsign_key_generate(ks, "bench.test", alg == 0 ? "rsa" : "ed",
		    alg == 0 ? DKIMSIGN_ALG_RSA : DKIMSIGN_ALG_ED25519, 2048, 1, err, sizeof(err));
		if (k == NULL || dkimsign_keystore_save(ks, err, sizeof(err)) != 0) {
			fprintf(stderr, "dkim-sign: %s\n", err);
			return 1;
		}
	}
	dkimsign_keystore_free(ks);
	if (dkimsign_keystore_load(dir, 1, &ks, err, sizeof(err)) != 0) {
		fprintf(stderr, "dkim-sign: %s\n", err);
		return 1;
	}
	for (alg = 0; alg < 2; alg++) {
		double t0, c0, t, cpu;

		k = dkimsign_keystore_find(ks, "bench.test", alg == 0 ? "rsa" : "ed");
		t0 = now_s(CLOCK_MONOTONIC);
		c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
		for (i = 0; i < n; i++) {
			buf_reset(&sig);
			if (dkimsign_sign_with_key(&p, k, msg.data, msg.len, &sig, err, sizeof(err)) != 0) {
				fprintf(stderr, "dkim-sign: %s\n", err);
				return 1;
			}
		}
		t = now_s(CLOCK_MONOTONIC) - t0;
		cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		/* CPU time as openssl speed counts (its default divisor is user CPU time) */
		printf("%s: %d signatures of %zu bytes: %.0f/s of CPU time (%.3f ms each), "
		    "%.0f/s of wall time\n", alg == 0 ? "rsa-sha256 (RSA-2048)" : "ed25519-sha256", n,
		    msg.len, n / cpu, 1000.0 * cpu / n, n / t);
	}
	dkimsign_keystore_free(ks);
	buf_free(&msg);
	buf_free(&sig);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	return system(cmd) == 0 ? 0 : 1;
}
