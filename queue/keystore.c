/* SPDX-License-Identifier: ISC */
/*
 * keystore.c: the key store that can forget (DESIGN.md §6, issue 13).
 *
 * LMDB is copy-on-write and never zeroes a freed page, so a key kept in
 * data.mdb survives its deletion in free pages (and in every copy of the
 * file).  Account keys and message key secrets therefore live here, in
 * the file "keys" beside data.mdb: a 64-byte header, then fixed-size
 * slots of KS_SLOT_LEN bytes, slot N at offset N * KS_SLOT_LEN; a free
 * slot is all zeros.  Two kinds of slot:
 *  - "PKS1": a key sealed (AES-256-GCM) under its wrapping key with the
 *    slot number, the kind and the owner as associated data.  Account
 *    keys (under the master key), and the data keys of messages queued
 *    before the pool existed (under the account key);
 *  - "PKS2": a pool secret, 32 random octets sealed under the master key
 *    with the slot number (and kind KS_POOL, no owner) as associated
 *    data.  A message's data key is HMAC-SHA-256 under its account key
 *    of (label, slot, message id, secret): zeroing either the message's
 *    slot or the account's slot makes it underivable.
 * Deleting a key overwrites its slot with zeros in place and fdatasync()s
 * the file: no copy of the key remains on this file system's live blocks.
 *
 * The pool: a commit must not wait for a key store sync of its own (that
 * was a third fdatasync per commit batch, issue 13's performance clause).
 * Pool slots are written and synced ahead, in bulk (ks_pool_fill: one
 * fdatasync for up to KS_POOL_MAX slots), when the pool runs dry or the
 * writer is idle; a commit takes one (ks_take) without writing.  A pool
 * slot is not an owner's until a committed record names it, so a pool
 * slot of an aborted batch is zeroed (its secret may have sealed pages
 * the aborted commit left in data.mdb: pool_batch_end), and clean shutdown
 * zeroes the pool (no record ever named those) and cuts the zeroed slots
 * off the end of the file.  After a crash they are
 * unreferenced and the start-up reconcile zeroes (and journals) them like
 * any other unreferenced slot.
 *
 * Ordering (the writer thread owns all writes; readers pread() from
 * any thread):
 *  - a new account key is written to its slot while the batch is applied
 *    and synced (ks_presync) before the LMDB commit that references it; a
 *    pool slot was synced when the pool was filled, before it is taken;
 *    so a crash can leave an unreferenced key, never a record without one;
 *  - a key is zeroed only after the commit that dropped its last
 *    reference (ks_batch_end), so a crash can leave an unreferenced key,
 *    never a referenced slot zeroed;
 *  - at start (ks_reconcile) every slot no record references is zeroed.
 * Slots written by an aborted batch are zeroed and reused.
 *
 * Derived data keys (issue 20 item 2): a relayed message's data key was
 * derived three times after its commit (taking it for delivery, reading
 * its body, recording the result), each a pread of its slot, an AES-GCM
 * open and an HMAC.  The last DKC_N are kept in memory only, by slot,
 * message id and account key (a reused slot misses; one master key per
 * cache, a lookup under another bypasses it), under their own mutex for
 * every thread that reads.  An entry is wiped when its slot is forgotten
 * (ks_forget, before the slot is zeroed) or given back by an aborted
 * batch, every entry when an account key is forgotten, and all at
 * close; ks_data_key_disk() (queue check) always reads the slot.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

static const char ks_magic[KS_SLOT_LEN] = "postern keystore v1\n";
static const char slot_magic[4] = { 'P', 'K', 'S', '1' };
static const char pool_magic[4] = { 'P', 'K', 'S', '2' };
static const char dk_label[] = "postern data key v2";

#define KS_POOL_MIN 64		/* slots written per fill, at least */
#define KS_POOL_MAX 4096	/* and at most */
static const char slot_aad_prefix[] = "postern slot v1";

struct slot_list {
	uint64_t *v;
	char **owner;		/* forget list: "msg ID" / "account NAME" for the journal */
	size_t n, cap;
};

struct keystore {
	int fd;
	int readonly;
	char *path;
	uint64_t nslots;		/* slots 1..nslots exist in the file */
	struct slot_list free;		/* zeroed, reusable (writer) */
	struct slot_list added;		/* written in the open batch */
	struct slot_list forget;	/* to zero once the open batch commits */
	struct slot_list unjournalled;	/* dropped by a commit, kept until journalled */
	int dirty;			/* added since the last sync */
	/* the pool: synced "PKS2" slots and their secrets, taken in order */
	struct pool_entry {
		uint64_t slot;
		unsigned char secret[CRYPTO_KEY_LEN];
	} *pool;
	size_t pool_head, pool_n, pool_cap;
	size_t pool_target;		/* slots per fill: grows with the batches */
	struct pool_entry *taken;	/* pool slots taken in the open batch */
	size_t taken_n, taken_cap;
	int pool_used;			/* a slot was ever taken: refill when idle */
	struct journal *journal;	/* borrowed: erasures are journalled (journal.c) */
	/* derived data keys (top of the file), any thread, under dkc_mu */
	pthread_mutex_t dkc_mu;
	struct dkc_entry {
		uint64_t slot;		/* 0: empty */
		char id[QUEUE_ID_LEN + 1];
		unsigned char ak[CRYPTO_KEY_LEN];
		unsigned char dk[CRYPTO_KEY_LEN];
	} *dkc;
	unsigned char dkc_master[CRYPTO_KEY_LEN];
	int dkc_have_master;
};

#define DKC_N 1024

static struct dkc_entry *
dkc_at(struct keystore *ks, uint64_t s)
{
	return &ks->dkc[(s * 0x9E3779B97F4A7C15ull) >> 54];	/* 10 bits: DKC_N */
}

/* Under dkc_mu: may the cache serve MASTER (SET: the first master it
 * sees after a derivation that worked is the one it serves)? */
static int
dkc_master_ok(struct keystore *ks, const unsigned char *master, int set)
{
	if (!ks->dkc_have_master && set) {
		memcpy(ks->dkc_master, master, CRYPTO_KEY_LEN);
		ks->dkc_have_master = 1;
	}
	return ks->dkc_have_master && crypto_equal(ks->dkc_master, master, CRYPTO_KEY_LEN);
}

static int
dkc_get(struct keystore *ks, const unsigned char *master, const unsigned char *ak, uint64_t s,
    const char *id, unsigned char *dk)
{
	struct dkc_entry *e;
	int hit;

	pthread_mutex_lock(&ks->dkc_mu);
	e = dkc_at(ks, s);
	hit = e->slot == s && strcmp(e->id, id) == 0 && dkc_master_ok(ks, master, 0) &&
	    crypto_equal(e->ak, ak, CRYPTO_KEY_LEN);
	if (hit)
		memcpy(dk, e->dk, CRYPTO_KEY_LEN);
	pthread_mutex_unlock(&ks->dkc_mu);
	return hit;
}

static void
dkc_put(struct keystore *ks, const unsigned char *master, const unsigned char *ak, uint64_t s,
    const char *id, const unsigned char *dk)
{
	struct dkc_entry *e;

	if (strlen(id) > QUEUE_ID_LEN)
		return;
	pthread_mutex_lock(&ks->dkc_mu);
	if (dkc_master_ok(ks, master, 1)) {
		e = dkc_at(ks, s);
		e->slot = s;
		str_copy(e->id, id, sizeof(e->id));
		memcpy(e->ak, ak, CRYPTO_KEY_LEN);
		memcpy(e->dk, dk, CRYPTO_KEY_LEN);
	}
	pthread_mutex_unlock(&ks->dkc_mu);
}

/* Wipe the entry of slot S, or (S 0) every entry. */
static void
dkc_drop(struct keystore *ks, uint64_t s)
{
	pthread_mutex_lock(&ks->dkc_mu);
	if (s == 0)
		crypto_wipe(ks->dkc, DKC_N * sizeof(*ks->dkc));
	else if (dkc_at(ks, s)->slot == s)
		crypto_wipe(dkc_at(ks, s), sizeof(*ks->dkc));
	pthread_mutex_unlock(&ks->dkc_mu);
}

static void pool_drain(struct keystore *ks);
static int u64_cmp(const void *a, const void *b);
static int slot_zero(struct keystore *ks, uint64_t slot);

static void
list_push_owner(struct slot_list *l, uint64_t s, char *owner)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
		l->owner = xrealloc(l->owner, l->cap * sizeof(*l->owner));
	}
	l->owner[l->n] = owner;
	l->v[l->n++] = s;
}

static void
list_push(struct slot_list *l, uint64_t s)
{
	list_push_owner(l, s, NULL);
}

static void
list_clear(struct slot_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->owner[i]);
	l->n = 0;
}

void
ks_set_journal(struct keystore *ks, struct journal *j)
{
	if (ks != NULL)
		ks->journal = j;
}

const char *
ks_path(struct keystore *ks)
{
	return ks != NULL ? ks->path : "";
}

int
ks_open(struct keystore **out, const char *dir, int readonly, char *err, size_t errlen)
{
	struct keystore *ks = xcalloc(1, sizeof(*ks));
	char hdr[KS_SLOT_LEN];
	struct stat st;

	ks->readonly = readonly;
	ks->path = xasprintf("%s/keys", dir);
	ks->fd = open(ks->path, (readonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0600);
	if (ks->fd < 0) {
		int e = errno;

		snprintf(err, errlen, "key store %s: %s", ks->path, strerror(e));
		free(ks->path);
		free(ks);
		return -e;
	}
	if (fstat(ks->fd, &st) != 0)
		goto bad;
	if (st.st_size == 0 && !readonly) {
		int dfd;

		if (pwrite(ks->fd, ks_magic, sizeof(ks_magic), 0) != (ssize_t)sizeof(ks_magic) ||
		    fdatasync(ks->fd) != 0)
			goto bad;
		/* the new file's directory entry too */
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		st.st_size = KS_SLOT_LEN;
	}
	if (pread(ks->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, ks_magic, sizeof(hdr)) != 0) {
		snprintf(err, errlen, "key store %s: not a postern key store", ks->path);
		close(ks->fd);
		free(ks->path);
		free(ks);
		return -EINVAL;
	}
	/* a torn last slot counts as a slot: reconcile zeroes it */
	ks->nslots = ((uint64_t)st.st_size + KS_SLOT_LEN - 1) / KS_SLOT_LEN - 1;
	*out = ks;
	ks->dkc = xcalloc(DKC_N, sizeof(*ks->dkc));	/* opened: the derived-key cache */
	pthread_mutex_init(&ks->dkc_mu, NULL);
	return 0;
bad:
	snprintf(err, errlen, "key store %s: %s", ks->path, strerror(errno));
	close(ks->fd);
	free(ks->path);
	free(ks);
	return -EIO;
}

void
ks_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	pool_drain(ks);
	close(ks->fd);
	crypto_wipe(ks->dkc, DKC_N * sizeof(*ks->dkc));
	crypto_wipe(ks->dkc_master, sizeof(ks->dkc_master));
	free(ks->dkc);
	pthread_mutex_destroy(&ks->dkc_mu);
	free(ks->pool);
	free(ks->taken);
	list_clear(&ks->free);
	list_clear(&ks->added);
	list_clear(&ks->forget);
	list_clear(&ks->unjournalled);
	free(ks->unjournalled.v);
	free(ks->unjournalled.owner);
	free(ks->free.v);
	free(ks->free.owner);
	free(ks->added.v);
	free(ks->added.owner);
	free(ks->forget.v);
	free(ks->forget.owner);
	free(ks->path);
	free(ks);
}

/* The associated data binding a sealed key to its slot, kind and owner. */
static size_t
slot_aad(unsigned char *aad, size_t cap, uint64_t slot, enum ks_kind kind, const char *owner)
{
	size_t pl = sizeof(slot_aad_prefix) - 1, ol = strlen(owner);

	if (pl + 9 + ol > cap)
		ol = cap - pl - 9;
	memcpy(aad, slot_aad_prefix, pl);
	aad[pl] = (unsigned char)kind;
	put_be64(aad + pl + 1, slot);
	memcpy(aad + pl + 9, owner, ol);
	return pl + 9 + ol;
}

/* A slot that holds a key or a pool secret (its magic, at least). */
static int
slot_intact(const unsigned char *slot)
{
	return memcmp(slot, slot_magic, 4) == 0 || memcmp(slot, pool_magic, 4) == 0;
}

static int
slot_write(struct keystore *ks, uint64_t slot, const unsigned char *data)
{
	ssize_t n = pwrite(ks->fd, data, KS_SLOT_LEN, (off_t)(slot * KS_SLOT_LEN));

	if (n != KS_SLOT_LEN)
		return n < 0 ? -errno : -EIO;
	return 0;
}

static int
slot_zero(struct keystore *ks, uint64_t slot)
{
	static const unsigned char zero[KS_SLOT_LEN];

	return slot_write(ks, slot, zero);
}

/* Read slot S whole; -ENOENT when it is past the end (or unreadable). */
static int
slot_read(struct keystore *ks, uint64_t s, unsigned char *slot)
{
	if (ks == NULL || s == 0)
		return -ENOENT;
	if (pread(ks->fd, slot, KS_SLOT_LEN, (off_t)(s * KS_SLOT_LEN)) != KS_SLOT_LEN)
		return -ENOENT;
	return 0;
}

/* Open the key sealed in SLOT (slot number S) under WRAP for KIND OWNER. */
static int
slot_open(const unsigned char *slot, uint64_t s, const unsigned char *wrap, enum ks_kind kind,
    const char *owner, unsigned char *out)
{
	unsigned char aad[sizeof(slot_aad_prefix) + 9 + 300];
	size_t al = slot_aad(aad, sizeof(aad), s, kind, owner);

	return crypto_open(wrap, aad, al, slot + 4, KS_SLOT_LEN - 4, out) == 0 ? 0 : -EBADMSG;
}

/* ---- the pool ------------------------------------------------------- */

static void
pool_wipe(struct pool_entry *e, size_t n)
{
	crypto_wipe(e, n * sizeof(*e));
}

/* Clean shutdown: no record names a slot still in the pool; zero them
 * (not journalled: no copy of the queue ever referenced them). */
static void
pool_drain(struct keystore *ks)
{
	size_t i, n = 0;

	if (ks->readonly || ks->pool == NULL)
		return;
	for (i = ks->pool_head; i < ks->pool_n; i++)
		if (slot_zero(ks, ks->pool[i].slot) == 0)
			n++;
	for (i = ks->pool_head; i < ks->pool_n; i++)
		list_push(&ks->free, ks->pool[i].slot);
	/* the zeroed slots at the end of the file go: a key store cut short
	 * is then one that lost keys (queue.c refuses it), not one whose
	 * tail was an unused pool */
	if (ks->free.n > 0) {
		uint64_t top = ks->nslots;
		size_t k = ks->free.n;

		qsort(ks->free.v, ks->free.n, sizeof(*ks->free.v), u64_cmp);
		while (k > 0 && ks->free.v[k - 1] == top) {
			k--;
			top--;
		}
		if (top < ks->nslots &&
		    ftruncate(ks->fd, (off_t)((top + 1) * KS_SLOT_LEN)) == 0) {
			ks->nslots = top;
			ks->free.n = k;
			n++;
		}
	}
	if (n > 0 && fdatasync(ks->fd) != 0)
		log_err("event=keystore_zero_failed path=%s error=\"%s\"", ks->path,
		    strerror(errno));
	pool_wipe(ks->pool, ks->pool_n);
	pool_wipe(ks->taken, ks->taken_n);
	ks->pool_head = ks->pool_n = ks->taken_n = 0;
}

static void
pool_reserve(struct pool_entry **v, size_t *cap, size_t want)
{
	struct pool_entry *nv;

	if (want <= *cap)
		return;
	/* grown by copy so that no secret is left behind in a freed block */
	nv = xcalloc(want, sizeof(*nv));
	if (*v != NULL) {
		memcpy(nv, *v, *cap * sizeof(*nv));
		pool_wipe(*v, *cap);
		free(*v);
	}
	*v = nv;
	*cap = want;
}

/* Seal SECRET for pool slot S into the 64 octets at OUT. */
static void
pool_seal(const unsigned char *master, uint64_t s, const unsigned char *secret, unsigned char *out)
{
	unsigned char aad[sizeof(slot_aad_prefix) + 9];
	size_t al = slot_aad(aad, sizeof(aad), s, KS_POOL, "");

	memcpy(out, pool_magic, 4);
	crypto_seal(master, aad, al, secret, CRYPTO_KEY_LEN, out + 4);
}

int
ks_pool_fill(struct keystore *ks, const unsigned char *master, size_t want)
{
	unsigned char one[KS_SLOT_LEN], *run = NULL;
	uint64_t first_new = 0, old_nslots;
	size_t i, add, nnew = 0, from_free = 0;
	int rc = 0;

	if (ks == NULL || ks->readonly)
		return -EROFS;
	if (ks->pool_head > 0) {
		memmove(ks->pool, ks->pool + ks->pool_head,
		    (ks->pool_n - ks->pool_head) * sizeof(*ks->pool));
		pool_wipe(ks->pool + (ks->pool_n - ks->pool_head), ks->pool_head);
		ks->pool_n -= ks->pool_head;
		ks->pool_head = 0;
	}
	if (want > KS_POOL_MAX)
		want = KS_POOL_MAX;
	if (ks->pool_n >= want)
		return 0;
	add = want - ks->pool_n;
	pool_reserve(&ks->pool, &ks->pool_cap, ks->pool_n + add);
	old_nslots = ks->nslots;
	/* zeroed slots first (one write each), then new ones at the end of
	 * the file in one write */
	for (i = 0; i < add && ks->free.n > 0; i++, from_free++) {
		struct pool_entry *e = &ks->pool[ks->pool_n + i];

		e->slot = ks->free.v[--ks->free.n];
		crypto_random_bytes(e->secret, sizeof(e->secret));
		pool_seal(master, e->slot, e->secret, one);
		if (rc == 0)
			rc = slot_write(ks, e->slot, one);
	}
	if (rc == 0 && (nnew = add - from_free) > 0) {
		first_new = ks->nslots + 1;
		run = xmalloc(nnew * KS_SLOT_LEN);
		for (i = 0; i < nnew; i++) {
			struct pool_entry *e = &ks->pool[ks->pool_n + from_free + i];

			e->slot = first_new + i;
			crypto_random_bytes(e->secret, sizeof(e->secret));
			pool_seal(master, e->slot, e->secret, run + i * KS_SLOT_LEN);
		}
		{
			ssize_t w = pwrite(ks->fd, run, nnew * KS_SLOT_LEN,
			    (off_t)(first_new * KS_SLOT_LEN));

			rc = w == (ssize_t)(nnew * KS_SLOT_LEN) ? 0 : w < 0 ? -errno : -ENOSPC;
		}
		crypto_wipe(run, nnew * KS_SLOT_LEN);
		free(run);
		if (rc == 0)
			ks->nslots = first_new + nnew - 1;
	}
	crypto_wipe(one, sizeof(one));
	if (rc == 0 && fdatasync(ks->fd) != 0)
		rc = -EIO;
	if (rc != 0) {
		/* nothing of this fill is used: the zeroed slots go back (their
		 * content is unreferenced; whatever writes them next overwrites
		 * it, and the next start zeroes it), the file is cut back */
		for (i = 0; i < from_free; i++)
			list_push(&ks->free, ks->pool[ks->pool_n + i].slot);
		pool_wipe(ks->pool + ks->pool_n, add);
		if (ks->nslots != old_nslots || nnew > 0) {
			ks->nslots = old_nslots;
			if (ftruncate(ks->fd, (off_t)((old_nslots + 1) * KS_SLOT_LEN)) != 0)
				log_warn("event=keystore_truncate_failed path=%s error=\"%s\"",
				    ks->path, strerror(errno));
		}
		if (rc == -ENOSPC || rc == -EDQUOT) {
			log_err("event=queue_disk_full file=%s detail=\"the key store cannot grow\"",
			    ks->path);
			return -ENOSPC;
		}
		log_err("event=keystore_pool_fill_failed path=%s error=\"%s\"", ks->path,
		    strerror(-rc));
		return rc;
	}
	ks->pool_n += add;
	return 0;
}

/* The data key of message ID in slot S from the pool SECRET. */
static void
pool_derive(const unsigned char *ak, uint64_t s, const char *id, const unsigned char *secret,
    unsigned char *dk)
{
	unsigned char buf[sizeof(dk_label) + 8 + 64 + CRYPTO_KEY_LEN];
	size_t il = strlen(id), n = 0;

	if (il > 64)
		il = 64;
	memcpy(buf, dk_label, sizeof(dk_label));	/* with its NUL */
	n += sizeof(dk_label);
	put_be64(buf + n, s);
	n += 8;
	memcpy(buf + n, id, il);
	n += il;
	memcpy(buf + n, secret, CRYPTO_KEY_LEN);
	n += CRYPTO_KEY_LEN;
	/* not crypto_hmac_sha256_kept(): an account key must not outlive
	 * its use in a thread's kept context (a shredded account's key
	 * would stay in memory; crypto.h) */
	crypto_hmac_sha256(ak, CRYPTO_KEY_LEN, buf, n, dk);
	crypto_wipe(buf, sizeof(buf));
}

int
ks_take(struct keystore *ks, const unsigned char *master, const unsigned char *ak,
    const char *id, uint64_t *slot_out, unsigned char *dk)
{
	struct pool_entry *e;
	int rc;

	if (ks == NULL || ks->readonly)
		return -EROFS;
	if (ks->pool_target == 0)
		ks->pool_target = KS_POOL_MIN;
	if (ks->pool_head == ks->pool_n &&
	    (rc = ks_pool_fill(ks, master, ks->pool_target)) != 0)
		return rc;
	e = &ks->pool[ks->pool_head++];
	pool_reserve(&ks->taken, &ks->taken_cap, ks->taken_n + 1 < 16 ? 16 :
	    ks->taken_n + 1 > ks->taken_cap ? ks->taken_cap * 2 : ks->taken_cap);
	ks->taken[ks->taken_n++] = *e;
	pool_derive(ak, e->slot, id, e->secret, dk);
	dkc_put(ks, master, ak, e->slot, id, dk);	/* delivery reads it next */
	*slot_out = e->slot;
	pool_wipe(e, 1);
	ks->pool_used = 1;
	return 0;
}

void
ks_pool_idle(struct keystore *ks, const unsigned char *master)
{
	if (ks == NULL || ks->readonly || !ks->pool_used)
		return;
	if (ks->pool_n - ks->pool_head < ks->pool_target / 2)
		(void)ks_pool_fill(ks, master, ks->pool_target);
}

/* End of a batch for the pool: slots of a committed batch are their
 * messages' now.  Those of an aborted one are zeroed with the batch's
 * other new slots (ks_batch_end), not handed out again: the aborted
 * batch may have put pages sealed under their data keys into data.mdb
 * (a commit that failed part-way on a full disk, pages LMDB spilled),
 * free pages no delete ever shreds, and the retry commits the message
 * under another slot; a secret given to the next message would keep
 * that copy derivable (message id, slot number and secret) for as long
 * as the next message lives. */
static void
pool_batch_end(struct keystore *ks, int committed)
{
	size_t i;

	if (ks->taken_n == 0)
		return;
	if (ks->taken_n * 2 > ks->pool_target)
		ks->pool_target = ks->taken_n * 2 > KS_POOL_MAX ? KS_POOL_MAX : ks->taken_n * 2;
	if (!committed)
		for (i = 0; i < ks->taken_n; i++) {
			list_push(&ks->added, ks->taken[i].slot);
			dkc_drop(ks, ks->taken[i].slot);	/* no message has it */
		}
	pool_wipe(ks->taken, ks->taken_n);
	ks->taken_n = 0;
}

int
ks_data_key(struct keystore *ks, const unsigned char *master, const unsigned char *ak,
    const char *id, uint64_t s, unsigned char *dk)
{
	int rc;

	if (ks == NULL || s == 0)
		return -ENOENT;
	if (dkc_get(ks, master, ak, s, id, dk))
		return 0;
	if ((rc = ks_data_key_disk(ks, master, ak, id, s, dk)) == 0)
		dkc_put(ks, master, ak, s, id, dk);
	return rc;
}

int
ks_data_key_disk(struct keystore *ks, const unsigned char *master, const unsigned char *ak,
    const char *id, uint64_t s, unsigned char *dk)
{
	unsigned char slot[KS_SLOT_LEN], secret[CRYPTO_KEY_LEN];
	int rc;

	if ((rc = slot_read(ks, s, slot)) != 0)
		return rc;
	if (memcmp(slot, slot_magic, 4) == 0)
		/* a data key of the first format, sealed under the account key */
		rc = slot_open(slot, s, ak, KS_MESSAGE, id, dk);
	else if (memcmp(slot, pool_magic, 4) == 0 &&
	    (rc = slot_open(slot, s, master, KS_POOL, "", secret)) == 0)
		pool_derive(ak, s, id, secret, dk);
	else if (rc == 0)
		rc = -ENOENT;		/* zeroed: shredded */
	crypto_wipe(slot, sizeof(slot));
	crypto_wipe(secret, sizeof(secret));
	return rc;
}

int
ks_put(struct keystore *ks, const unsigned char *wrap, enum ks_kind kind, const char *owner,
    const unsigned char *key, uint64_t *slot_out)
{
	unsigned char slot[KS_SLOT_LEN], aad[sizeof(slot_aad_prefix) + 9 + 300];
	uint64_t s;
	size_t al;
	int rc;

	if (ks == NULL || ks->readonly)
		return -EROFS;
	s = ks->free.n > 0 ? ks->free.v[--ks->free.n] : ++ks->nslots;
	al = slot_aad(aad, sizeof(aad), s, kind, owner);
	memcpy(slot, slot_magic, 4);
	crypto_seal(wrap, aad, al, key, CRYPTO_KEY_LEN, slot + 4);
	rc = slot_write(ks, s, slot);
	crypto_wipe(slot, sizeof(slot));
	list_push(&ks->added, s);	/* zeroed again if the batch aborts */
	if (rc == -ENOSPC || rc == -EDQUOT) {
		log_err("event=queue_disk_full file=%s slot=%llu error=\"%s\" "
		    "detail=\"the key store cannot grow\"", ks->path, (unsigned long long)s,
		    strerror(-rc));
		return -ENOSPC;
	}
	if (rc != 0)
		return rc;
	ks->dirty = 1;
	*slot_out = s;
	return 0;
}

int
ks_get(struct keystore *ks, const unsigned char *wrap, enum ks_kind kind, const char *owner,
    uint64_t s, unsigned char *key)
{
	unsigned char slot[KS_SLOT_LEN];
	int rc;

	if ((rc = slot_read(ks, s, slot)) != 0)
		return rc;
	rc = memcmp(slot, slot_magic, 4) != 0 ? -ENOENT :	/* zeroed: shredded */
	    slot_open(slot, s, wrap, kind, owner, key);
	crypto_wipe(slot, sizeof(slot));
	return rc;
}

uint64_t
ks_whole_slots(struct keystore *ks)
{
	struct stat st;

	if (ks == NULL || fstat(ks->fd, &st) != 0 || st.st_size < KS_SLOT_LEN)
		return 0;
	return (uint64_t)st.st_size / KS_SLOT_LEN - 1;
}

int
ks_slot_used(struct keystore *ks, uint64_t s)
{
	unsigned char slot[KS_SLOT_LEN];
	int used;

	/* read-only (posternctl): the file may have grown since it was
	 * opened, a daemon started meanwhile filling its pool */
	if (ks == NULL || s == 0 || (s > ks->nslots && (!ks->readonly || s > ks_whole_slots(ks))))
		return 0;
	/* whole: a slot the file's end cuts through keeps its magic but
	 * not its key (ks_data_key cannot read it) */
	used = slot_read(ks, s, slot) == 0 && slot_intact(slot);
	crypto_wipe(slot, sizeof(slot));
	return used;
}

void
ks_forget(struct keystore *ks, uint64_t s, enum ks_kind kind, const char *owner)
{
	if (ks != NULL && s != 0) {
		list_push_owner(&ks->forget, s, xasprintf("%s %s",
		    kind == KS_ACCOUNT ? "account" : "msg", owner));
		/* an account's key: every data key it derived goes too */
		dkc_drop(ks, kind == KS_ACCOUNT ? 0 : s);
	}
}

int
ks_presync(struct keystore *ks)
{
	if (ks == NULL || !ks->dirty)
		return 0;
	if (fdatasync(ks->fd) != 0)
		return -EIO;
	ks->dirty = 0;
	return 0;
}

void
ks_batch_end(struct keystore *ks, int committed)
{
	struct slot_list *l;
	size_t i;
	int failed = 0;

	if (ks == NULL)
		return;
	pool_batch_end(ks, committed);
	/* committed: the dropped keys go; aborted: the new keys do */
	if (committed && ks->journal != NULL) {
		/* Journalled (and synced) before the slots are zeroed, so that a
		 * backup taken earlier is erased on restore too.  While the
		 * journal cannot be written (its file system full), the dropped
		 * slots wait here, unreferenced and out of use, and go with the
		 * next batch whose journal write succeeds (or the next start's
		 * reconcile): zeroing them unjournalled would let a restore
		 * bring their messages back. */
		for (i = 0; i < ks->forget.n; i++) {
			list_push_owner(&ks->unjournalled, ks->forget.v[i], ks->forget.owner[i]);
			ks->forget.owner[i] = NULL;
		}
		ks->forget.n = 0;
		l = &ks->unjournalled;
		if (l->n > 0) {
			for (i = 0; i < l->n; i++) {
				char kind[16], owner[300];

				if (l->owner[i] == NULL ||
				    sscanf(l->owner[i], "%15s %299s", kind, owner) != 2) {
					snprintf(kind, sizeof(kind), "slot");
					snprintf(owner, sizeof(owner), "-");
				}
				journal_add(ks->journal, kind, owner, l->v[i]);
			}
			if (journal_flush(ks->journal) != 0) {
				log_err("event=journal_write_failed path=%s keys_waiting=%zu "
				    "error=\"%s\" note=\"erased keys are zeroed once the erasure "
				    "journal can be written\"", journal_file(ks->journal), l->n,
				    strerror(errno));
				list_clear(&ks->added);
				ks->dirty = 0;
				return;
			}
		}
	} else {
		l = committed ? &ks->forget : &ks->added;
	}
	for (i = 0; i < l->n; i++) {
		if (slot_zero(ks, l->v[i]) != 0)
			failed = 1;
		else
			list_push(&ks->free, l->v[i]);
	}
	if (l->n > 0 && (fdatasync(ks->fd) != 0 || failed))
		/* the slots stay unreferenced; the next start zeroes them */
		log_err("event=keystore_zero_failed path=%s error=\"%s\"", ks->path,
		    strerror(errno));
	list_clear(l);
	list_clear(&ks->added);
	list_clear(&ks->forget);
	ks->dirty = 0;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
ks_reconcile(struct keystore *ks, uint64_t *refs, size_t nrefs, size_t *zeroed)
{
	unsigned char slot[KS_SLOT_LEN];
	static const unsigned char zero[KS_SLOT_LEN];
	uint64_t s;
	size_t r = 0, nz = 0, damaged = 0;

	if (ks == NULL || ks->readonly)
		return 0;
	if (nrefs > 0)
		qsort(refs, nrefs, sizeof(*refs), u64_cmp);
	ks->free.n = 0;
	for (s = ks->nslots; s >= 1; s--) {
		ssize_t n = pread(ks->fd, slot, sizeof(slot), (off_t)(s * KS_SLOT_LEN));
		int referenced = nrefs > 0 &&
		    bsearch(&s, refs, nrefs, sizeof(*refs), u64_cmp) != NULL;

		if (referenced && n == KS_SLOT_LEN && slot_intact(slot))
			continue;
		if (referenced && n == KS_SLOT_LEN && memcmp(slot, zero, sizeof(zero)) != 0) {
			/* Damaged (bit rot, a bad write), not erased: zeroing and
			 * journalling it would carry the damage into every backup
			 * (restore zeroes journalled slots), where the key is whole.
			 * Left as it is, out of use; it reads as unreadable. */
			damaged++;
			continue;
		}
		if (!referenced && n >= 0 && n < KS_SLOT_LEN && s == ks->nslots) {
			/* the torn end of a write a crash cut short (a pool fill
			 * on a full disk): its octets are zeroed where they are and
			 * the file is cut to whole slots.  Zeroing it whole would
			 * grow the file, and fail start on the disk still full. */
			journal_add(ks->journal, "slot", "-", s);
			if (journal_flush(ks->journal) != 0 ||
			    (n > 0 && pwrite(ks->fd, zero, (size_t)n, (off_t)(s * KS_SLOT_LEN)) != n) ||
			    fdatasync(ks->fd) != 0 ||
			    ftruncate(ks->fd, (off_t)(s * KS_SLOT_LEN)) != 0)
				return -EIO;
			ks->nslots--;
			nz++;
			continue;
		}
		if (n != KS_SLOT_LEN || memcmp(slot, zero, sizeof(zero)) != 0) {
			/* journalled first, as any erasure (the owner is unknown) */
			journal_add(ks->journal, "slot", "-", s);
			if (journal_flush(ks->journal) != 0 || slot_zero(ks, s) != 0)
				return -EIO;
			nz++;
		}
		if (referenced) {
			r++;	/* a record whose key is gone: it reads as shredded; the
				 * slot stays out of use while the record names it */
			continue;
		}
		list_push(&ks->free, s);
	}
	if (nz > 0 && fdatasync(ks->fd) != 0)
		return -EIO;
	if (r > 0)
		log_err("event=keystore_missing_keys records=%zu", r);
	if (damaged > 0)
		log_err("event=keystore_damaged path=%s slots=%zu note=\"keys the queue references "
		    "are damaged and cannot be read; left untouched (posternctl queue check lists "
		    "them; a backup's key store still holds them)\"", ks->path, damaged);
	crypto_wipe(slot, sizeof(slot));
	*zeroed = nz;
	return 0;
}
