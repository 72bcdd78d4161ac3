/* SPDX-License-Identifier: ISC */
/*
 * dkim_keys.c: the DKIM key store.  Keys are generated with OpenSSL EVP
 * (RSA or Ed25519) and stored as 0600 PEM files in the key directory
 * (dkim_key_directory, default <data_directory>/dkim) next to a small
 * metadata file (`keys`, one `key=value ...` line per key, written
 * atomically).  Key files that are group- or world-accessible are
 * refused, and no function here ever prints a private key.  Loading
 * parses an Ed25519 key once (OpenSSL 3's PEM decoding costs more than
 * the signature).  Callers: posternctl dkim (src/ctl/ctl_dkim.c) and
 * the EOM stage's key cache (dkim_stage.c).  Also here: the algorithm
 * names and the domain/selector syntax both sides check.
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim.h"
#include "dkim_int.h"
#include "log.h"
#include "util.h"

#define DKIM_PEM_MAX (64 * 1024)

const char *
dkimsign_strealg(enum dkimsign_alg alg)
{
	return alg == DKIMSIGN_ALG_ED25519 ? "ed25519" : "rsa";
}

int
dkimsign_parse_alg(const char *s, enum dkimsign_alg *alg)
{
	if (strcmp(s, "rsa") == 0 || strcmp(s, "rsa-sha256") == 0)
		*alg = DKIMSIGN_ALG_RSA;
	else if (strcmp(s, "ed25519") == 0 || strcmp(s, "ed25519-sha256") == 0)
		*alg = DKIMSIGN_ALG_ED25519;
	else
		return -1;
	return 0;
}

const char *
dkimsign_key_directory(const struct policy_dkim_params *p, char *out, size_t outlen)
{
	if (p->key_directory && p->key_directory[0] != '\0')
		str_copy(out, p->key_directory, outlen);
	else
		snprintf(out, outlen, "%s/dkim", p->data_directory);
	return out;
}

/* RFC 1035 labels: letters, digits, hyphen; dots between labels. */
static int
valid_labels(const char *s, size_t max)
{
	size_t i, n = strlen(s), label = 0;

	if (n == 0 || n >= max || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

int
dkimsign_valid_domain(const char *s)
{
	return valid_labels(s, DKIM_DOMAIN_MAX);
}

int
dkimsign_valid_selector(const char *s)
{
	return valid_labels(s, DKIM_SELECTOR_MAX);
}

void
dkimsign_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ---- key store -------------------------------------------------------- */

static void
key_path(const struct dkimsign_keystore *ks, const struct dkimsign_key *k, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s.%s.pem", ks->dir, k->domain, k->selector);
}

static void
key_clear(struct dkimsign_key *k)
{
	free(k->pem);
	free(k->load_error);
	EVP_PKEY_free(k->evp);
	k->pem = NULL;
	k->load_error = NULL;
	k->evp = NULL;
}

void
dkimsign_keystore_free(struct dkimsign_keystore *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		key_clear(&ks->keys[i]);
	free(ks->keys);
	free(ks->dir);
	free(ks);
}

/* Parse one metadata line into K; 0 or -1. */
static int
parse_meta_line(char *line, struct dkimsign_key *k)
{
	char *tok, *save = NULL;
	int have = 0;

	memset(k, 0, sizeof(*k));
	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		const char *v;

		if (eq == NULL)
			return -1;
		*eq = '\0';
		v = eq + 1;
		if (strcmp(tok, "domain") == 0) {
			if (!dkimsign_valid_domain(v))
				return -1;
			str_copy(k->domain, v, sizeof(k->domain));
			dkimsign_lower(k->domain);
			have |= 1;
		} else if (strcmp(tok, "selector") == 0) {
			if (!dkimsign_valid_selector(v))
				return -1;
			str_copy(k->selector, v, sizeof(k->selector));
			have |= 2;
		} else if (strcmp(tok, "algorithm") == 0) {
			if (dkimsign_parse_alg(v, &k->alg) == -1)
				return -1;
			have |= 4;
		} else if (strcmp(tok, "bits") == 0) {
			k->bits = atoi(v);
		} else if (strcmp(tok, "active") == 0) {
			k->active = strcmp(v, "1") == 0;
		} else if (strcmp(tok, "created") == 0) {
			k->created = strtoll(v, NULL, 10);
		}
		/* unknown keys are ignored: newer writers may add some */
	}
	return have == 7 ? 0 : -1;
}

static void
keystore_add(struct dkimsign_keystore *ks, const struct dkimsign_key *k)
{
	ks->keys = xrealloc(ks->keys, (ks->n + 1) * sizeof(*ks->keys));
	ks->keys[ks->n++] = *k;
}

/* Read the private key of K into k->pem, or set k->load_error. */
static void
key_load_pem(const struct dkimsign_keystore *ks, struct dkimsign_key *k)
{
	char path[PATH_MAX + 512], err[PATH_MAX + 128];
	size_t len;
	int rc;

	key_path(ks, k, path, sizeof(path));
	if (file_check_secret(path, err, sizeof(err)) == -1) {
		k->load_error = xstrdup(err);
		return;
	}
	if ((rc = file_read_all(path, DKIM_PEM_MAX, &k->pem, &len)) < 0) {
		k->load_error = xasprintf("%s: %s", path, strerror(-rc));
		k->pem = NULL;
		return;
	}
	if (strncmp(k->pem, "-----BEGIN ", 11) != 0) {
		k->load_error = xasprintf("%s: not a PEM private key", path);
		free(k->pem);
		k->pem = NULL;
		return;
	}
	{
		/* parse once: OpenSSL 3's PEM decoding costs more than the signature */
		BIO *bio = BIO_new_mem_buf(k->pem, -1);
		EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

		BIO_free(bio);
		if (k->alg == DKIMSIGN_ALG_RSA) {
			/* an RSA key OpenSSL cannot parse is left to libopendkim
			 * (dkim_rsa.c), which reports its own error when signing */
			if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
				k->evp = pkey;
			else
				EVP_PKEY_free(pkey);
			return;
		}
		if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
			EVP_PKEY_free(pkey);
			k->load_error = xasprintf("%s: not a usable Ed25519 key", path);
			free(k->pem);
			k->pem = NULL;
			return;
		}
		k->evp = pkey;
	}
}

int
dkimsign_keystore_load(const char *dir, int load_pems, struct dkimsign_keystore **out,
    char *err, size_t errlen)
{
	struct dkimsign_keystore *ks;
	char path[PATH_MAX + 512], *text = NULL, *line, *save = NULL;
	size_t len, lineno = 0;
	int rc;

	ks = xcalloc(1, sizeof(*ks));
	ks->dir = xstrdup(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, DKIM_META_FILE);
	rc = file_read_all(path, 4 * 1024 * 1024, &text, &len);
	if (rc == -ENOENT) {
		*out = ks;
		return 0;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		dkimsign_keystore_free(ks);
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct dkimsign_key k;

		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '\0')
			continue;
		if (parse_meta_line(line, &k) == -1) {
			snprintf(err, errlen, "%s:%zu: bad key entry", path, lineno);
			free(text);
			dkimsign_keystore_free(ks);
			return -1;
		}
		if (load_pems && k.active)
			key_load_pem(ks, &k);
		keystore_add(ks, &k);
	}
	free(text);
	*out = ks;
	return 0;
}

int
dkimsign_keystore_save(const struct dkimsign_keystore *ks, char *err, size_t errlen)
{
	char path[PATH_MAX + 512], tmp[PATH_MAX];
	FILE *f;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", ks->dir, DKIM_META_FILE);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld", ks->dir, DKIM_META_FILE, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	fprintf(f, "# postern DKIM keys; managed by posternctl dkim, do not edit while posternd runs\n");
	for (i = 0; i < ks->n; i++) {
		const struct dkimsign_key *k = &ks->keys[i];

		fprintf(f, "domain=%s selector=%s algorithm=%s bits=%d active=%d created=%lld\n",
		    k->domain, k->selector, dkimsign_strealg(k->alg), k->bits, k->active,
		    (long long)k->created);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

struct dkimsign_key *
dkimsign_keystore_find(struct dkimsign_keystore *ks, const char *domain, const char *selector)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (strcasecmp(ks->keys[i].domain, domain) == 0 &&
		    strcmp(ks->keys[i].selector, selector) == 0)
			return &ks->keys[i];
	return NULL;
}

/* Pick an unused selector: r|e + YYYYMMDD + a, b, c, ... */
static int
pick_selector(struct dkimsign_keystore *ks, const char *domain, enum dkimsign_alg alg,
    char *out, size_t outlen)
{
	time_t t = time(NULL);
	struct tm tm;
	char day[16];
	int i;

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	for (i = 0; i < 26 * 26; i++) {
		if (i < 26)
			snprintf(out, outlen, "%c%s%c", alg == DKIMSIGN_ALG_RSA ? 'r' : 'e', day, 'a' + i);
		else
			snprintf(out, outlen, "%c%s%c%c", alg == DKIMSIGN_ALG_RSA ? 'r' : 'e', day,
			    'a' + i / 26 - 1, 'a' + i % 26);
		if (dkimsign_keystore_find(ks, domain, out) == NULL)
			return 0;
	}
	return -1;
}

static int
ensure_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	char path[PATH_MAX];
	size_t i;

	/* like mkdir -p, 0700 all the way (the data directory may not exist yet) */
	str_copy(path, dir, sizeof(path));
	for (i = 1; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		path[i] = '/';
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	return 0;
}

struct dkimsign_key *
dkimsign_key_generate(struct dkimsign_keystore *ks, const char *domain, const char *selector,
    enum dkimsign_alg alg, int bits, int active, char *err, size_t errlen)
{
	struct dkimsign_key k;
	char path[PATH_MAX + 512];
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	size_t i;
	int fd = -1, rc = -1;
	FILE *f = NULL;

	memset(&k, 0, sizeof(k));
	if (!dkimsign_valid_domain(domain)) {
		snprintf(err, errlen, "invalid domain name");
		return NULL;
	}
	str_copy(k.domain, domain, sizeof(k.domain));
	dkimsign_lower(k.domain);
	if (selector && selector[0]) {
		if (!dkimsign_valid_selector(selector)) {
			snprintf(err, errlen, "invalid selector");
			return NULL;
		}
		if (dkimsign_keystore_find(ks, k.domain, selector)) {
			snprintf(err, errlen, "selector %s already exists for %s", selector, k.domain);
			return NULL;
		}
		str_copy(k.selector, selector, sizeof(k.selector));
	} else if (pick_selector(ks, k.domain, alg, k.selector, sizeof(k.selector)) == -1) {
		snprintf(err, errlen, "no free selector name left for today");
		return NULL;
	}
	if (alg == DKIMSIGN_ALG_RSA && (bits < 1024 || bits > 8192)) {
		snprintf(err, errlen, "RSA key size must be 1024..8192 bits");
		return NULL;
	}
	k.alg = alg;
	k.bits = alg == DKIMSIGN_ALG_RSA ? bits : 256;
	k.active = active;
	k.created = (int64_t)time(NULL);
	if (ensure_dir(ks->dir, err, errlen) == -1)
		return NULL;

	if (alg == DKIMSIGN_ALG_RSA)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		snprintf(err, errlen, "key generation failed");
		return NULL;
	}
	key_path(ks, &k, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* the umask may have taken bits away, never added; make it exact */
	if (fchmod(fd, 0600) == -1 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (!PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(err, errlen, "%s: cannot write key", path);
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd != -1)
		close(fd);
	if (rc == -1 && (f || fd != -1))
		unlink(path);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	if (rc == -1)
		return NULL;
	if (active)
		for (i = 0; i < ks->n; i++)
			if (strcmp(ks->keys[i].domain, k.domain) == 0 && ks->keys[i].alg == alg)
				ks->keys[i].active = 0;
	keystore_add(ks, &k);
	return &ks->keys[ks->n - 1];
}

int
dkimsign_key_remove(struct dkimsign_keystore *ks, const char *domain, const char *selector,
    char *err, size_t errlen)
{
	struct dkimsign_key *k = dkimsign_keystore_find(ks, domain, selector);
	char path[PATH_MAX + 512];
	size_t i;

	if (k == NULL) {
		snprintf(err, errlen, "no key %s for %s", selector, domain);
		return -1;
	}
	key_path(ks, k, path, sizeof(path));
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	i = (size_t)(k - ks->keys);
	key_clear(k);
	memmove(&ks->keys[i], &ks->keys[i + 1], (ks->n - i - 1) * sizeof(*ks->keys));
	ks->n--;
	return 0;
}

int
dkimsign_key_txt(const struct dkimsign_keystore *ks, const struct dkimsign_key *key, struct buf *txt,
    char *err, size_t errlen)
{
	char path[PATH_MAX + 512];
	unsigned char *der = NULL, raw[64], *b64 = NULL;
	size_t rawlen = sizeof(raw);
	EVP_PKEY *pkey = NULL;
	FILE *f;
	int n, rc = -1;

	key_path(ks, key, path, sizeof(path));
	if (file_check_secret(path, err, errlen) == -1)
		return -1;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		snprintf(err, errlen, "%s: cannot parse private key", path);
		return -1;
	}
	if (key->alg == DKIMSIGN_ALG_ED25519) {
		/* RFC 8463 §4: p= is the raw 32-byte public key */
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1) {
			snprintf(err, errlen, "%s: not an Ed25519 key", path);
			goto out;
		}
		b64 = xmalloc(4 * ((rawlen + 2) / 3) + 1);
		EVP_EncodeBlock(b64, raw, (int)rawlen);
	} else {
		/* RFC 6376 §3.6.1: p= is the DER SubjectPublicKeyInfo */
		if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
		    (n = i2d_PUBKEY(pkey, &der)) <= 0) {
			snprintf(err, errlen, "%s: not an RSA key", path);
			goto out;
		}
		b64 = xmalloc(4 * (((size_t)n + 2) / 3) + 1);
		EVP_EncodeBlock(b64, der, n);
	}
	buf_reset(txt);
	buf_printf(txt, "v=DKIM1; k=%s; p=%s", dkimsign_strealg(key->alg), (char *)b64);
	rc = 0;
out:
	OPENSSL_free(der);
	free(b64);
	EVP_PKEY_free(pkey);
	return rc;
}

void
dkimsign_txt_zone_line(const char *name, const char *txt, struct buf *out)
{
	size_t len = strlen(txt), off;

	buf_printf(out, "%s. IN TXT (", name);
	for (off = 0; off < len; off += 255) {
		size_t n = len - off < 255 ? len - off : 255;

		buf_printf(out, " \"%.*s\"", (int)n, txt + off);
	}
	if (len == 0)
		buf_append_str(out, " \"\"");
	buf_append_str(out, " )\n");
}
