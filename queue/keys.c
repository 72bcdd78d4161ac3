/* SPDX-License-Identifier: ISC */
/*
 * keys.c: the queue's key hierarchy (DESIGN.md §6).
 *
 * The master key (a 0600 file, loaded here) wraps one key per account;
 * a message's data key derives from its account key and the secret in
 * its key store slot (sealed under the master key; messages of the
 * first format have their data key wrapped by the account key there),
 * and the data key seals the message's body chunks and envelope.  The
 * keys live in the key store (keystore.c), never in LMDB: the keys
 * table maps "a:"+account to the account key's slot, the message record
 * holds its data key's slot.  Unwrapped account keys are cached in
 * struct queue (keys_lock) and forgotten when the batch that created
 * them aborts or the account is shredded.  Zeroing a slot is what makes
 * ciphertext left in LMDB's free pages (or any copy of data.mdb)
 * unreadable (crypto-shredding).  The keycheck record in the meta table
 * tells a queue opened with the wrong master key from a new queue.
 *
 * The master key is a file of 64 hex digits.  It is created 0600 on
 * first start (O_EXCL, fsync'd) and refused when group or others may
 * read or write it.  The primitives (AES-256-GCM seal/open, random
 * keys, wiping) are src/lib/crypto.c's; this file holds only the
 * hierarchy.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

/* ---- account keys ---- */

/* The key store slot of ACCOUNT's key ("a:"+account -> be64 slot), or 0. */
uint64_t
account_slot(struct db_txn *txn, const char *account)
{
	char *name = xasprintf("a:%s", account);
	const void *v;
	size_t vl;
	uint64_t s = 0;

	if (db_get(txn, DB_KEYS, name, strlen(name), &v, &vl) == 0 && vl == 8)
		s = get_be64(v);
	free(name);
	return s;
}

int
queue_account_key(struct queue *q, struct db_txn *txn, const char *account,
    int create, unsigned char *key)
{
	struct acct_key *ak;
	unsigned char ref[8];
	uint64_t slot;
	char *name;
	int rc;

	if (!q->have_master)
		return -EACCES;
	pthread_mutex_lock(&q->keys_lock);
	for (ak = q->keys; ak != NULL; ak = ak->next)
		if (strcmp(ak->name, account) == 0) {
			memcpy(key, ak->key, CRYPTO_KEY_LEN);
			pthread_mutex_unlock(&q->keys_lock);
			return 0;
		}
	pthread_mutex_unlock(&q->keys_lock);
	slot = account_slot(txn, account);
	if (slot != 0) {
		if ((rc = ks_get(q->ks, q->master, KS_ACCOUNT, account, slot, key)) != 0) {
			if (rc == -EBADMSG)
				log_err("event=queue_key_unwrap_failed account=%s", account);
			return rc == -ENOENT ? -EACCES : rc;
		}
		rc = 0;
	} else if (create) {
		/* written (and synced before the commit) in the key store; the
		 * record names only the slot */
		crypto_random_bytes(key, CRYPTO_KEY_LEN);
		if ((rc = ks_put(q->ks, q->master, KS_ACCOUNT, account, key, &slot)) != 0)
			return rc;
		name = xasprintf("a:%s", account);
		put_be64(ref, slot);
		rc = db_put(txn, DB_KEYS, name, strlen(name), ref, sizeof(ref));
		free(name);
		if (rc != 0)
			return rc;
		rc = 1;
	} else
		return -ENOENT;
	ak = xcalloc(1, sizeof(*ak));
	ak->name = xstrdup(account);
	memcpy(ak->key, key, CRYPTO_KEY_LEN);
	ak->committed = rc == 0;
	pthread_mutex_lock(&q->keys_lock);
	ak->next = q->keys;
	q->keys = ak;
	pthread_mutex_unlock(&q->keys_lock);
	return 0;
}

/* After a batch: keep new account keys if it committed, else forget them. */
void
queue_keys_commit(struct queue *q, int ok)
{
	struct acct_key **pp, *ak;

	pthread_mutex_lock(&q->keys_lock);
	for (pp = &q->keys; (ak = *pp) != NULL;) {
		if (ak->committed || ok) {
			ak->committed = 1;
			pp = &ak->next;
			continue;
		}
		*pp = ak->next;
		crypto_wipe(ak->key, sizeof(ak->key));
		free(ak->name);
		free(ak);
	}
	pthread_mutex_unlock(&q->keys_lock);
}

void
keys_forget(struct queue *q, const char *account)
{
	struct acct_key **pp, *ak;

	pthread_mutex_lock(&q->keys_lock);
	for (pp = &q->keys; (ak = *pp) != NULL;) {
		if (account == NULL || strcmp(ak->name, account) == 0) {
			*pp = ak->next;
			crypto_wipe(ak->key, sizeof(ak->key));
			free(ak->name);
			free(ak);
		} else
			pp = &ak->next;
	}
	pthread_mutex_unlock(&q->keys_lock);
}

static int
data_key_from(struct queue *q, struct db_txn *txn, const char *account, const char *id,
    uint64_t slot, unsigned char *dk, int disk)
{
	unsigned char ak[CRYPTO_KEY_LEN];
	int rc;

	if (slot == 0)
		return -ENOENT;
	/* the account's key first: a shredded account's messages stay
	 * unreadable whatever the derived-key cache holds */
	if ((rc = queue_account_key(q, txn, account, 0, ak)) != 0)
		return rc;
	rc = disk ? ks_data_key_disk(q->ks, q->master, ak, id, slot, dk) :
	    ks_data_key(q->ks, q->master, ak, id, slot, dk);
	crypto_wipe(ak, sizeof(ak));
	return rc;
}

/* Unwrap the data key of message ID of ACCOUNT from slot SLOT. */
int
data_key(struct queue *q, struct db_txn *txn, const char *account, const char *id,
    uint64_t slot, unsigned char *dk)
{
	return data_key_from(q, txn, account, id, slot, dk, 0);
}

/* The same from the key store file, never from memory (queue check). */
int
data_key_disk(struct queue *q, struct db_txn *txn, const char *account, const char *id,
    uint64_t slot, unsigned char *dk)
{
	return data_key_from(q, txn, account, id, slot, dk, 1);
}

/* Delete the body chunks of ID and forget its data key (crypto-shredding). */
int
body_shred(struct queue *q, struct db_txn *txn, const char *id, struct mrec *r)
{
	unsigned char k[RCPT_KEY_LEN];
	uint64_t i;
	int rc;

	for (i = 0; i < r->nchunks; i++) {
		rcpt_key(k, id, (uint32_t)i);
		if ((rc = db_del(txn, DB_BODIES, k, sizeof(k))) != 0 && rc != -ENOENT)
			return rc;
	}
	ks_forget(q->ks, r->slot, KS_MESSAGE, id);
	r->slot = 0;
	return 0;
}

/* Every slot a record references: messages' data keys, account keys. */
int
keys_referenced(struct queue *q, uint64_t **out, size_t *n)
{
	struct db_txn *txn;
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, cap = 0;
	uint64_t *refs = NULL;
	int rc;

	*n = 0;
	if ((rc = db_begin(q->db, 1, &txn)) != 0)
		return rc;
	if ((rc = db_cursor_open(txn, DB_KEYS, &c)) == 0) {
		for (rc = db_cursor_seek(c, "a:", 2, &k, &kl, &v, &vl); rc == 0;
		    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
			if (kl < 2 || memcmp(k, "a:", 2) != 0)
				break;
			if (vl != 8)
				continue;
			if (*n == cap)
				refs = xrealloc(refs, (cap = cap ? 2 * cap : 256) * sizeof(*refs));
			refs[(*n)++] = get_be64(v);
		}
		db_cursor_close(c);
	}
	if ((rc = db_cursor_open(txn, DB_MESSAGES, &c)) == 0) {
		for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
		    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
			uint64_t s = msg_record_slot(v, vl);

			if (kl != QUEUE_ID_LEN || s == 0)
				continue;
			if (*n == cap)
				refs = xrealloc(refs, (cap = cap ? 2 * cap : 256) * sizeof(*refs));
			refs[(*n)++] = s;
		}
		db_cursor_close(c);
	}
	db_abort(txn);
	*out = refs;
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}


static const char keycheck_aad[] = "postern keycheck v1";

/* Verify (or, in a new queue, record) which master key the queue uses. */
int
queue_keycheck(struct queue *q, char *err, size_t errlen)
{
	unsigned char sealed[7 + CRYPTO_OVERHEAD], plain[7];
	struct db_txn *txn;
	const void *v;
	size_t vl;
	int rc;

	if ((rc = db_begin(q->db, q->readonly, &txn)) != 0) {
		snprintf(err, errlen, "queue: %s", strerror(-rc));
		return -1;
	}
	rc = db_get(txn, DB_META, "keycheck", 8, &v, &vl);
	if (rc == 0) {
		if (vl != sizeof(sealed) || crypto_open(q->master, keycheck_aad,
		    sizeof(keycheck_aad) - 1, v, vl, plain) != 0) {
			db_abort(txn);
			snprintf(err, errlen, "queue: master key %s does not match the queue "
			    "in %s (wrong master_key_file, or the key was replaced)",
			    q->master_key_file, q->data_directory);
			return -1;
		}
		db_abort(txn);
		return 0;
	}
	if (q->readonly) {
		db_abort(txn);
		return 0;
	}
	crypto_seal(q->master, keycheck_aad, sizeof(keycheck_aad) - 1, "postern", 7, sealed);
	if ((rc = db_put(txn, DB_META, "keycheck", 8, sealed, sizeof(sealed))) != 0 ||
	    (rc = db_commit(txn)) != 0) {
		if (rc != 0)
			snprintf(err, errlen, "queue: cannot initialise: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* ---- the master key file ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Write a new master key file: O_EXCL so two starts never race. */
static int
keys_master_create(const char *path, unsigned char *key, char *err, size_t errlen)
{
	char hex[CRYPTO_KEY_LEN * 2 + 2];
	size_t i;
	int fd;

	crypto_random_bytes(key, CRYPTO_KEY_LEN);
	for (i = 0; i < CRYPTO_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[CRYPTO_KEY_LEN * 2] = '\n';
	hex[CRYPTO_KEY_LEN * 2 + 1] = '\0';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "master key %s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (write(fd, hex, CRYPTO_KEY_LEN * 2 + 1) != CRYPTO_KEY_LEN * 2 + 1 || fsync(fd) != 0) {
		snprintf(err, errlen, "master key %s: cannot write: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int
keys_master_load(const char *path, int create, unsigned char *key,
    char *err, size_t errlen)
{
	char *text = NULL, reason[256];
	size_t len = 0, i, n = 0;
	struct stat st;

	if (stat(path, &st) != 0 && errno == ENOENT) {
		if (!create) {
			snprintf(err, errlen, "master key %s: does not exist", path);
			return -1;
		}
		return keys_master_create(path, key, err, errlen);
	}
	if (file_check_secret(path, reason, sizeof(reason)) != 0) {
		snprintf(err, errlen, "master key %s: refusing to use it: %s", path, reason);
		return -1;
	}
	if (file_read_all(path, 4096, &text, &len) != 0) {
		snprintf(err, errlen, "master key %s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < len && n < CRYPTO_KEY_LEN * 2; i++) {
		int v = hexval(text[i]);
		if (v < 0)
			break;
		if (n % 2 == 0)
			key[n / 2] = (unsigned char)(v << 4);
		else
			key[n / 2] |= (unsigned char)v;
		n++;
	}
	while (i < len && (text[i] == '\n' || text[i] == '\r' || text[i] == ' '))
		i++;
	free(text);
	if (n != CRYPTO_KEY_LEN * 2 || i != len) {
		snprintf(err, errlen, "master key %s: expected %d hex digits", path,
		    CRYPTO_KEY_LEN * 2);
		return -1;
	}
	return 0;
}
