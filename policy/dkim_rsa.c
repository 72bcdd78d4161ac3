/* SPDX-License-Identifier: ISC */
/*
 * dkim_rsa.c: rsa-sha256 DKIM signatures (RFC 6376) through
 * libopendkim; the only file that uses libopendkim (tests/check-deps.sh
 * checks it).  Each signature uses its own DKIM_LIB handle, so
 * concurrent pool jobs share nothing.  relaxed/relaxed (§3.4), signed
 * headers from dkim_sign_headers with From oversigned (§8.15), optional
 * x= (§3.5), never l= (§8.2).  The header fields come from the shared
 * walker in dkim_stage.c; the signature header is returned with CRLF
 * line ends whatever libopendkim folded with.
 */
#include "autoconfig.h"

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "dkim.h"
#include "dkim_int.h"
#include "util.h"

/* ---- signing ----------------------------------------------------------- */

struct feed {
	DKIM *dkim;
	DKIM_STAT st;
};

static int
feed_header(const char *field, size_t flen, void *arg)
{
	struct feed *f = arg;

	f->st = dkim_header(f->dkim, (u_char *)field, flen);
	return f->st != DKIM_STAT_OK;
}

/* rsa-sha256 through libopendkim. */
int
dkimsign_sign_rsa(const struct policy_dkim_params *p, const struct dkimsign_key *key, const char *hdr,
    size_t hlen, const char *body, size_t blen, struct buf *sighdr, char *err, size_t errlen)
{
	static const char prefix[] = "DKIM-Signature: ";
	const char *oversign[] = { "from", NULL };
	char **signhdrs = NULL;
	DKIM_LIB *lib = NULL;
	DKIM *dkim = NULL;
	DKIM_STAT st;
	struct feed f;
	u_int flags;
	u_char *sig = NULL;
	size_t siglen, i;
	uint64_t ttl;
	_Bool testkey;
	int rc = -1;

	if (key->pem == NULL) {
		snprintf(err, errlen, "%s", key->load_error ? key->load_error : "key not loaded");
		return -1;
	}
	if ((lib = dkim_init(NULL, NULL)) == NULL) {
		snprintf(err, errlen, "dkim_init failed");
		return -1;
	}
	/* bare CR/LF are normally refused by the server; should one reach us,
	 * sign what delivery will send (CRLF) */
	flags = DKIM_LIBFLAGS_FIXCRLF;
	signhdrs = dkimsign_header_names(p);
	ttl = p->signature_expiry / 1000;
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, signhdrs, sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, oversign, sizeof(char **)) != DKIM_STAT_OK ||
	    (ttl > 0 && dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl, sizeof(ttl)) != DKIM_STAT_OK)) {
		snprintf(err, errlen, "dkim_options failed");
		goto out;
	}
	dkim = dkim_sign(lib, (const u_char *)"postern", NULL, (dkim_sigkey_t)key->pem,
	    (const u_char *)key->selector, (const u_char *)key->domain,
	    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    DKIM_SIGN_RSASHA256,
	    -1 /* whole body, no l= */, &st);
	if (dkim == NULL) {
		snprintf(err, errlen, "dkim_sign: %s", dkim_getresultstr(st));
		goto out;
	}
	f.dkim = dkim;
	f.st = DKIM_STAT_OK;
	(void)dkimsign_header_walk(hdr, hlen, feed_header, &f);
	if (f.st != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_header: %s", dkim_getresultstr(f.st));
		goto out;
	}
	if ((st = dkim_eoh(dkim)) != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_eoh: %s", dkim_getresultstr(st));
		goto out;
	}
	for (i = 0; i < blen; i += 65536) {
		size_t n = blen - i < 65536 ? blen - i : 65536;

		if ((st = dkim_body(dkim, (u_char *)body + i, n)) != DKIM_STAT_OK) {
			snprintf(err, errlen, "dkim_body: %s", dkim_getresultstr(st));
			goto out;
		}
	}
	if ((st = dkim_eom(dkim, &testkey)) != DKIM_STAT_OK) {
		const char *e = dkim_geterror(dkim);

		snprintf(err, errlen, "dkim_eom: %s%s%s", dkim_getresultstr(st),
		    e ? ": " : "", e ? e : "");
		goto out;
	}
	if ((st = dkim_getsighdr_d(dkim, sizeof(prefix) - 1, &sig, &siglen)) != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_getsighdr: %s", dkim_getresultstr(st));
		goto out;
	}
	buf_append_str(sighdr, prefix);
	/* libopendkim folds with CRLF; make sure every line ends in CRLF */
	for (i = 0; i < siglen; i++) {
		if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
			buf_append(sighdr, "\r", 1);
		if (sig[i] == '\r' && (i + 1 == siglen || sig[i + 1] != '\n'))
			continue;
		buf_append(sighdr, &sig[i], 1);
	}
	buf_append_str(sighdr, "\r\n");
	rc = 0;
out:
	if (dkim)
		dkim_free(dkim);
	dkim_close(lib);
	dkimsign_names_free(signhdrs);
	return rc;
}