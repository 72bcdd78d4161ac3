/* SPDX-License-Identifier: ISC */
/*
 * dkim.c: DKIM signing and key management; the only file that uses
 * libopendkim.  Keys are generated with OpenSSL EVP (RSA or Ed25519)
 * and stored as 0600 PEM files in the key directory next to a small
 * metadata file (`keys`, one `key=value ...` line per key); key files
 * that are group- or world-accessible are refused, and no function
 * here ever prints a private key.
 *
 * The EOM stage runs last in the policy pipeline, in a uv thread-pool
 * job (DESIGN.md §7).  It picks the signing domain (the From: domain
 * if the account may send for it, else dkim_fallback_domain, else
 * none) and signs with each active key of that domain, relaxed/relaxed
 * (RFC 6376 §3.4), signed headers from dkim_sign_headers with From
 * oversigned (§8.15), optional x= (§3.5), never l= (§8.2).  RSA
 * signatures come from libopendkim; Ed25519 ones (RFC 8463) are made
 * here with OpenSSL over our own relaxed canonical form, because
 * libopendkim 2.11.0~beta2 leaks the key on every Ed25519 signature.
 * Any failure once a signature is due is a tempfail (451 4.7.0): we
 * never send unsigned what should have been signed.  Each signature
 * uses its own DKIM_LIB handle, so concurrent jobs share nothing but
 * the reference-counted key cache, which reloads when the metadata
 * file changes (rotation takes effect without a restart).
 */
#include "autoconfig.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <opendkim/dkim.h>

#include "dkim.h"
#include "log.h"
#include "util.h"

#define DKIM_META_FILE "keys"
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
dkimsign_key_directory(const struct config *cfg, char *out, size_t outlen)
{
	if (cfg->dkim_key_directory && cfg->dkim_key_directory[0] != '\0')
		str_copy(out, cfg->dkim_key_directory, outlen);
	else
		snprintf(out, outlen, "%s/dkim", cfg->data_directory);
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

static void
lower(char *s)
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
			lower(k->domain);
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
	if (k->alg == DKIMSIGN_ALG_ED25519) {
		/* parse once: OpenSSL 3's PEM decoding costs more than the signature */
		BIO *bio = BIO_new_mem_buf(k->pem, -1);
		EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

		BIO_free(bio);
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
	lower(k.domain);
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

/* ---- From: domain ----------------------------------------------------- */

/*
 * Walk the header block: calls FN for each field (raw bytes including
 * folded continuation lines, without the final line ending).  Returns
 * the offset of the body (after the empty line), or LEN.
 */
static size_t
header_walk(const char *msg, size_t len,
    int (*fn)(const char *field, size_t flen, void *arg), void *arg)
{
	size_t p = 0;

	while (p < len) {
		size_t start = p, end;
		const char *nl;

		/* empty line: end of header block */
		if (msg[p] == '\n')
			return p + 1;
		if (msg[p] == '\r' && p + 1 < len && msg[p + 1] == '\n')
			return p + 2;
		for (;;) {
			nl = memchr(msg + p, '\n', len - p);
			if (nl == NULL) {
				p = len;
				end = len;
				break;
			}
			p = (size_t)(nl - msg) + 1;
			end = p - 1;
			if (end > start && msg[end - 1] == '\r')
				end--;
			if (p < len && (msg[p] == ' ' || msg[p] == '\t'))
				continue;	/* folded (RFC 5322 §2.2.3) */
			break;
		}
		if (fn && fn(msg + start, end - start, arg) != 0)
			return p;
		if (nl == NULL)
			return len;
	}
	return len;
}

struct from_scan {
	int count;
	const char *field;
	size_t flen;
};

static int
from_cb(const char *field, size_t flen, void *arg)
{
	struct from_scan *s = arg;

	if (flen >= 5 && mem_casecmp(field, "From:", 5) == 0) {
		s->count++;
		s->field = field;
		s->flen = flen;
	} else if (flen >= 5 && mem_casecmp(field, "From", 4) == 0) {
		size_t i = 4;

		while (i < flen && (field[i] == ' ' || field[i] == '\t'))
			i++;
		if (i < flen && field[i] == ':') {
			s->count++;
			s->field = field;
			s->flen = flen;
		}
	}
	return 0;
}

/* Domain of one address (text after the last '@'), lowercased, into OUT. */
static int
addr_domain(const char *a, size_t n, char *out, size_t outlen)
{
	size_t i, at = n;

	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t' || a[n - 1] == '\r' || a[n - 1] == '\n'))
		n--;
	for (i = 0; i < n; i++)
		if (a[i] == '@')
			at = i;
	if (at == n || n - at - 1 == 0 || n - at - 1 >= outlen)
		return -1;
	memcpy(out, a + at + 1, n - at - 1);
	out[n - at - 1] = '\0';
	lower(out);
	return dkimsign_valid_domain(out) ? (int)(n - at - 1) : -1;
}

/*
 * RFC 5322 §3.4 mailbox-list, simplified: mailboxes separated by
 * top-level commas; each is name-addr (<addr>) or addr-spec; quoted
 * strings and comments are skipped.  Every mailbox's domain must agree.
 */
static int
mailbox_list_domain(const char *v, size_t n, char *out, size_t outlen)
{
	char spec[512], dom[DKIM_DOMAIN_MAX];
	size_t i = 0, sl = 0;
	int depth = 0, inangle = 0, hadangle = 0, found = 0;

	out[0] = '\0';
	for (i = 0; i <= n; i++) {
		char c = i < n ? v[i] : ',';

		if (depth > 0) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '"' && !inangle) {
			for (i++; i < n && v[i] != '"'; i++)
				if (v[i] == '\\')
					i++;
			continue;
		}
		if (c == '(') {
			depth = 1;
			continue;
		}
		if (c == '<' && !inangle) {
			inangle = 1;
			hadangle = 1;
			sl = 0;
			continue;
		}
		if (c == '>' && inangle) {
			inangle = 0;
			continue;
		}
		if (c == ',' && !inangle) {
			if (sl == 0)
				continue;	/* empty list element */
			if (addr_domain(spec, sl, dom, sizeof(dom)) < 0)
				return -1;
			if (found && strcmp(dom, out) != 0)
				return -1;
			str_copy(out, dom, outlen);
			found = 1;
			sl = 0;
			hadangle = 0;
			continue;
		}
		if (hadangle && !inangle)
			continue;	/* display text after the angle-addr */
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (sl + 1 >= sizeof(spec))
			return -1;
		spec[sl++] = c;
	}
	if (depth != 0 || inangle || !found)
		return -1;
	return (int)strlen(out);
}

int
dkimsign_from_domain(const char *msg, size_t len, char *out, size_t outlen)
{
	struct from_scan s = { 0, NULL, 0 };
	const char *colon;

	header_walk(msg, len, from_cb, &s);
	if (s.count != 1)
		return -1;	/* RFC 5322 §3.6: exactly one From: */
	colon = memchr(s.field, ':', s.flen);
	return mailbox_list_domain(colon + 1, s.flen - (size_t)(colon + 1 - s.field), out, outlen);
}

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

/* NULL-terminated lowercase header-name list; From is always included. */
static char **
sign_header_list(const struct config *cfg)
{
	const struct config_list *l = &cfg->dkim_sign_headers;
	char **v = xcalloc(l->n + 2, sizeof(*v));
	size_t i, n = 0;
	int from = 0;

	for (i = 0; i < l->n; i++) {
		const char *h = l->items[i];
		size_t j;

		for (j = 0; h[j]; j++)
			if (!isalnum((unsigned char)h[j]) && h[j] != '-' && h[j] != '_')
				break;
		if (h[j] != '\0' || j == 0)
			continue;	/* not a field name (RFC 5322 §3.6.8) */
		v[n] = xstrdup(h);
		lower(v[n]);
		if (strcmp(v[n], "from") == 0)
			from = 1;
		n++;
	}
	if (!from)
		v[n++] = xstrdup("from");
	v[n] = NULL;
	return v;
}

static void
free_list(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* rsa-sha256 through libopendkim. */
static int
sign_opendkim(const struct config *cfg, const struct dkimsign_key *key, const char *msg,
    size_t len, struct buf *sighdr, char *err, size_t errlen)
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
	size_t body, siglen, i;
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
	signhdrs = sign_header_list(cfg);
	ttl = cfg->dkim_signature_expiry / 1000;
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
	body = header_walk(msg, len, feed_header, &f);
	if (f.st != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_header: %s", dkim_getresultstr(f.st));
		goto out;
	}
	if ((st = dkim_eoh(dkim)) != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim_eoh: %s", dkim_getresultstr(st));
		goto out;
	}
	for (i = body; i < len; i += 65536) {
		size_t n = len - i < 65536 ? len - i : 65536;

		if ((st = dkim_body(dkim, (u_char *)msg + i, n)) != DKIM_STAT_OK) {
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
	free_list(signhdrs);
	return rc;
}

/*
 * ed25519-sha256 (RFC 8463) with OpenSSL EVP.  libopendkim 2.11.0~beta2
 * can sign Ed25519, but leaks the loaded key on every signature (about
 * 1.3 KB, found by LeakSanitizer), which a daemon cannot afford; so we
 * canonicalise (relaxed/relaxed, RFC 6376 §3.4.2, §3.4.4), hash (§3.7)
 * and sign here.  The result is checked by dkimpy and opendkim-testmsg.
 */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Relaxed header canonicalisation of one raw field (§3.4.2). */
static void
canon_header(const char *f, size_t n, int crlf, struct buf *out)
{
	const char *colon = memchr(f, ':', n);
	size_t i, nl, start;
	int sp = 0, any = 0;

	if (colon == NULL)
		return;
	for (nl = (size_t)(colon - f); nl > 0 && is_wsp(f[nl - 1]); nl--)
		;
	for (i = 0; i < nl; i++) {
		char c = (char)tolower((unsigned char)f[i]);

		buf_append(out, &c, 1);
	}
	buf_append(out, ":", 1);
	for (start = (size_t)(colon - f) + 1, i = start; i < n; i++) {
		char c = f[i];

		if (c == '\r' || c == '\n')
			continue;	/* unfold */
		if (is_wsp(c)) {
			sp = 1;
			continue;
		}
		if (sp && any)
			buf_append(out, " ", 1);
		sp = 0;
		any = 1;
		buf_append(out, &c, 1);
	}
	if (crlf)
		buf_append(out, "\r\n", 2);
}

/* Relaxed body canonicalisation (§3.4.4) streamed into the SHA-256 CTX. */
static int
hash_body_relaxed(EVP_MD_CTX *ctx, const char *b, size_t n)
{
	struct buf line;
	size_t i = 0, empty = 0;
	int rc = 0;

	buf_init(&line, 0);
	while (i < n && rc == 0) {
		const char *nlp = memchr(b + i, '\n', n - i);
		size_t end = nlp ? (size_t)(nlp - b) : n, e = end, j;
		int sp = 0;

		if (nlp && e > i && b[e - 1] == '\r')
			e--;
		buf_reset(&line);
		for (j = i; j < e;) {
			size_t k;

			if (is_wsp(b[j])) {
				sp = 1;
				j++;
				continue;
			}
			if (sp)
				buf_append(&line, " ", 1);
			sp = 0;
			for (k = j; k < e && !is_wsp(b[k]); k++)
				;
			buf_append(&line, b + j, k - j);	/* a run without WSP */
			j = k;
		}
		/* trailing WSP is dropped (sp pending at the end is never written) */
		if (line.len == 0) {
			empty++;	/* empty lines at the end are ignored */
		} else {
			for (; empty > 0 && rc == 0; empty--)
				rc = EVP_DigestUpdate(ctx, "\r\n", 2) == 1 ? 0 : -1;
			if (rc == 0 && (EVP_DigestUpdate(ctx, line.data, line.len) != 1 ||
			    EVP_DigestUpdate(ctx, "\r\n", 2) != 1))
				rc = -1;
		}
		i = nlp ? end + 1 : n;
	}
	buf_free(&line);
	return rc;
}

struct hfield {
	const char *p;
	size_t n;
	int used;
};

struct hcollect {
	struct hfield *f;
	size_t n, cap;
};

static int
collect_cb(const char *field, size_t flen, void *arg)
{
	struct hcollect *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->f = xrealloc(c->f, c->cap * sizeof(*c->f));
	}
	c->f[c->n].p = field;
	c->f[c->n].n = flen;
	c->f[c->n].used = 0;
	c->n++;
	return 0;
}

static int
field_is(const struct hfield *f, const char *name)
{
	size_t l = strlen(name), i;

	if (f->n <= l || mem_casecmp(f->p, name, l) != 0)
		return 0;
	for (i = l; i < f->n && is_wsp(f->p[i]); i++)
		;
	return i < f->n && f->p[i] == ':';
}

static void
b64(const unsigned char *in, size_t n, struct buf *out)
{
	char *tmp = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);
	buf_append_str(out, tmp);
	free(tmp);
}

/* Append " tag" to the header being built, folding before 78 columns. */
static void
fold_add(struct buf *h, size_t *col, const char *tag)
{
	size_t l = strlen(tag);

	if (*col + 1 + l > 78) {
		buf_append_str(h, "\r\n\t");
		*col = 8;
	} else {
		buf_append(h, " ", 1);
		(*col)++;
	}
	buf_append_str(h, tag);
	*col += l;
}

static int
sign_ed25519(const struct config *cfg, const struct dkimsign_key *key, const char *msg,
    size_t len, struct buf *sighdr, char *err, size_t errlen)
{
	struct hcollect hc = { NULL, 0, 0 };
	struct buf hdr, canon, hlist;
	unsigned char bh[EVP_MAX_MD_SIZE], digest[EVP_MAX_MD_SIZE], sig[64];
	unsigned int bhlen = 0, dlen = 0;
	size_t body, i, j, col, siglen = sizeof(sig);
	char **names = sign_header_list(cfg), tag[512];
	EVP_MD_CTX *md = EVP_MD_CTX_new(), *sctx = EVP_MD_CTX_new();
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	time_t now = time(NULL);
	uint64_t ttl = cfg->dkim_signature_expiry / 1000;
	int rc = -1;

	buf_init(&hdr, 0);
	buf_init(&canon, 0);
	buf_init(&hlist, 0);
	if (key->pem == NULL) {
		snprintf(err, errlen, "%s", key->load_error ? key->load_error : "key not loaded");
		goto out;
	}
	if (key->evp != NULL) {
		pkey = key->evp;
		EVP_PKEY_up_ref(pkey);
	} else if ((bio = BIO_new_mem_buf(key->pem, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "%s.%s: not a usable Ed25519 key", key->domain, key->selector);
		goto out;
	}
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s.%s: not a usable Ed25519 key", key->domain, key->selector);
		goto out;
	}
	if (md == NULL || sctx == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}

	/* body hash */
	body = header_walk(msg, len, collect_cb, &hc);
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    hash_body_relaxed(md, msg + body, len - body) == -1 ||
	    EVP_DigestFinal_ex(md, bh, &bhlen) != 1) {
		snprintf(err, errlen, "body hash failed");
		goto out;
	}

	/* h=: every present field named in the list, in message order (§5.4.2) */
	for (i = 0; i < hc.n; i++)
		for (j = 0; names[j]; j++)
			if (field_is(&hc.f[i], names[j])) {
				buf_printf(&hlist, "%s%s", hlist.len ? ":" : "", names[j]);
				break;
			}
	/* oversign From (§8.15): one more instance than present */
	buf_printf(&hlist, "%sfrom", hlist.len ? ":" : "");

	/* the signature header with an empty b= */
	buf_append_str(&hdr, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;");
	col = hdr.len;
	snprintf(tag, sizeof(tag), "d=%s;", key->domain);
	fold_add(&hdr, &col, tag);
	snprintf(tag, sizeof(tag), "s=%s;", key->selector);
	fold_add(&hdr, &col, tag);
	snprintf(tag, sizeof(tag), "t=%lld;", (long long)now);
	fold_add(&hdr, &col, tag);
	if (ttl > 0) {
		snprintf(tag, sizeof(tag), "x=%lld;", (long long)now + (long long)ttl);
		fold_add(&hdr, &col, tag);
	}
	{
		struct buf t;

		buf_init(&t, 0);
		buf_append_str(&t, "bh=");
		b64(bh, bhlen, &t);
		buf_append_str(&t, ";");
		fold_add(&hdr, &col, t.data);
		buf_reset(&t);
		/* h= may be long: fold it at colons */
		buf_append_str(&hdr, "\r\n\th=");
		col = 10;
		for (i = 0; i < hlist.len; i++) {
			if (hlist.data[i] == ':' && col > 70) {
				buf_append_str(&hdr, ":\r\n\t ");
				col = 9;
				continue;
			}
			buf_append(&hdr, &hlist.data[i], 1);
			col++;
		}
		buf_append_str(&hdr, ";\r\n\tb=");
		buf_free(&t);
	}

	/* header hash input: the selected fields bottom-up, then our own header (§3.7) */
	{
		char *list = xstrdup(hlist.data), *name, *save = NULL;

		for (name = strtok_r(list, ":", &save); name; name = strtok_r(NULL, ":", &save)) {
			for (i = hc.n; i-- > 0;)
				if (!hc.f[i].used && field_is(&hc.f[i], name)) {
					hc.f[i].used = 1;
					canon_header(hc.f[i].p, hc.f[i].n, 1, &canon);
					break;
				}
			/* no unused instance: contributes the null string */
		}
		free(list);
	}
	canon_header(hdr.data, hdr.len, 0, &canon);
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, canon.data, canon.len) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
		snprintf(err, errlen, "header hash failed");
		goto out;
	}
	/* RFC 8463 §3: PureEdDSA over the SHA-256 hash */
	if (EVP_DigestSignInit(sctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(sctx, sig, &siglen, digest, dlen) != 1 || siglen != 64) {
		snprintf(err, errlen, "Ed25519 signing failed");
		goto out;
	}
	{
		struct buf sb;

		buf_init(&sb, 0);
		b64(sig, siglen, &sb);
		for (i = 0; i < sb.len; i += 64) {
			if (i > 0)
				buf_append_str(&hdr, "\r\n\t ");
			buf_append(&hdr, sb.data + i, sb.len - i < 64 ? sb.len - i : 64);
		}
		buf_free(&sb);
	}
	buf_append_str(&hdr, "\r\n");
	buf_append(sighdr, hdr.data, hdr.len);
	rc = 0;
out:
	free(hc.f);
	free_list(names);
	buf_free(&hdr);
	buf_free(&canon);
	buf_free(&hlist);
	EVP_MD_CTX_free(md);
	EVP_MD_CTX_free(sctx);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}

int
dkimsign_sign_with_key(const struct config *cfg, const struct dkimsign_key *key, const char *msg,
    size_t len, struct buf *sighdr, char *err, size_t errlen)
{
	if (key->alg == DKIMSIGN_ALG_ED25519)
		return sign_ed25519(cfg, key, msg, len, sighdr, err, errlen);
	return sign_opendkim(cfg, key, msg, len, sighdr, err, errlen);
}

/* ---- the stage: key cache and signing-domain choice ------------------- */

struct keycache {
	struct dkimsign_keystore *ks;
	int refs;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int exists;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keycache *cache_cur;

static void
cache_release(struct keycache *c)
{
	int last;

	if (c == NULL)
		return;
	pthread_mutex_lock(&cache_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&cache_lock);
	if (last) {
		dkimsign_keystore_free(c->ks);
		free(c);
	}
}

/* A reference to the current key store of DIR, reloaded when its metadata changed. */
static struct keycache *
cache_acquire(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX + 512];
	struct keycache *c, *old = NULL;
	struct stat st;
	int exists;

	snprintf(path, sizeof(path), "%s/%s", dir, DKIM_META_FILE);
	exists = stat(path, &st) == 0;
	pthread_mutex_lock(&cache_lock);
	c = cache_cur;
	if (c && strcmp(c->ks->dir, dir) == 0 && c->exists == exists &&
	    (!exists || (c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
	    c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec))) {
		c->refs++;
		pthread_mutex_unlock(&cache_lock);
		return c;
	}
	pthread_mutex_unlock(&cache_lock);

	c = xcalloc(1, sizeof(*c));
	if (dkimsign_keystore_load(dir, 1, &c->ks, err, errlen) == -1) {
		free(c);
		return NULL;
	}
	c->exists = exists;
	if (exists) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		c->size = st.st_size;
		c->mtime = st.st_mtim;
	}
	c->refs = 2;	/* the cache's and the caller's */
	pthread_mutex_lock(&cache_lock);
	old = cache_cur;
	cache_cur = c;
	pthread_mutex_unlock(&cache_lock);
	log_info("event=dkim_keys_loaded dir=%s keys=%zu", dir, c->ks->n);
	cache_release(old);
	return c;
}

/*
 * May the account sign as DOMAIN?  Its policy's domain list (the same
 * syntax the relay checks senders with): "a.test" exactly, "*.a.test"
 * strictly below a.test.  A bare "*" (any sender) does NOT let an account
 * use other customers' keys: such mail gets the fallback signature.
 */
static int
account_allows(const struct account_policy *pol, const char *domain)
{
	if (pol == NULL)
		return 0;
	return domain_list_match(pol->domains, pol->ndomains, domain, strlen(domain), 0);
}

static void
sign_tempfail(struct outcome *out)
{
	outcome_set(out, OUTCOME_TEMPFAIL, 451, "4.7.0", "DKIM signing failed, try again later");
}

/*
 * Sign M with every active key of DOMAIN and prepend the signatures.
 * *NSIG is the number of signatures added (0: the domain has no active
 * key).  -1 with a tempfail in OUT when a key exists but signing failed.
 */
static int
sign_domain(struct policy_msg *m, struct outcome *out, const char *domain,
    const char *why, size_t *nsig)
{
	char dir[PATH_MAX], err[512];
	struct keycache *c;
	struct buf sigs;
	size_t i;

	*nsig = 0;
	dkimsign_key_directory(m->cfg, dir, sizeof(dir));
	if ((c = cache_acquire(dir, err, sizeof(err))) == NULL) {
		log_err("event=dkim_error account=%s domain=%s error=\"%s\"", m->account, domain, err);
		sign_tempfail(out);
		return -1;
	}
	buf_init(&sigs, 0);
	for (i = 0; i < c->ks->n; i++) {
		const struct dkimsign_key *k = &c->ks->keys[i];

		if (!k->active || strcmp(k->domain, domain) != 0)
			continue;
		if (dkimsign_sign_with_key(m->cfg, k, m->data.data ? m->data.data : "", m->data.len,
		    &sigs, err, sizeof(err)) == -1) {
			log_err("event=dkim_error account=%s domain=%s selector=%s error=\"%s\"",
			    m->account, domain, k->selector, err);
			sign_tempfail(out);
			buf_free(&sigs);
			cache_release(c);
			return -1;
		}
		log_debug("event=dkim_signed account=%s domain=%s selector=%s alg=%s via=%s",
		    m->account, domain, k->selector, dkimsign_strealg(k->alg), why);
		(*nsig)++;
	}
	cache_release(c);
	if (*nsig == 0) {
		buf_free(&sigs);
		return 0;
	}
	/* prepend: new header fields go on top (RFC 6376 §5.6) */
	if (buf_append(&sigs, m->data.data, m->data.len) == -1) {
		buf_free(&sigs);
		sign_tempfail(out);
		return -1;
	}
	sigs.max = m->data.max;
	buf_free(&m->data);
	m->data = sigs;
	return 0;
}

int
dkimsign_stage_run(struct policy_msg *m, struct outcome *out)
{
	char from[DKIM_DOMAIN_MAX], fallback[DKIM_DOMAIN_MAX];
	const char *fb = m->cfg->dkim_fallback_domain;
	size_t nsig;

	outcome_ok(out);
	if (dkimsign_from_domain(m->data.data ? m->data.data : "", m->data.len, from, sizeof(from)) >= 0 &&
	    account_allows(m->acct, from)) {
		if (sign_domain(m, out, from, "from", &nsig) == -1)
			return -1;
		if (nsig > 0)
			return 0;
		/* the author domain has no key (yet): the fallback, if any, signs */
	}
	if (fb == NULL || fb[0] == '\0') {
		log_debug("event=dkim_skip account=%s reason=no_signing_domain", m->account);
		return 0;
	}
	str_copy(fallback, fb, sizeof(fallback));
	lower(fallback);
	if (sign_domain(m, out, fallback, "fallback", &nsig) == -1)
		return -1;
	if (nsig == 0) {
		/* configured to sign, cannot: never send it unsigned */
		log_err("event=dkim_error account=%s domain=%s error=\"no active key for the fallback domain\"",
		    m->account, fallback);
		sign_tempfail(out);
		return -1;
	}
	return 0;
}

const struct policy_stage dkimsign_stage = { .name = "dkim", .run = dkimsign_stage_run };
