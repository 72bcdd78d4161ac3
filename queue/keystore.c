/* SPDX-License-Identifier: ISC */
/*
 * keystore.c: the key store that can forget (DESIGN.md §6, issue 13).
 *
 * LMDB is copy-on-write and never zeroes a freed page, so a key kept in
 * data.mdb survives its deletion in free pages (and in every copy of the
 * file).  Account keys and message data keys therefore live here, in
 * the file "keys" beside data.mdb: a 64-byte header, then fixed-size
 * slots of KS_SLOT_LEN bytes, slot N at offset N * KS_SLOT_LEN.  A slot
 * is "PKS1" and the key sealed (AES-256-GCM) under its wrapping key
 * (the master key for an account key, the account key for a data key)
 * with the slot number, the kind and the owner (account name, message
 * id) as associated data; a free slot is all zeros.  Deleting a key
 * overwrites its slot with zeros in place and fdatasync()s the file:
 * no copy of the key remains on this file system's live blocks.
 *
 * Ordering (the writer thread owns all writes; readers pread() from
 * any thread):
 *  - a new key is written to its slot while the batch is applied and
 *    synced (ks_presync) before the LMDB commit that references it, so
 *    a crash can leave an unreferenced key, never a record without one;
 *  - a key is zeroed only after the commit that dropped its last
 *    reference (ks_batch_end), so a crash can leave an unreferenced key,
 *    never a referenced slot zeroed;
 *  - at start (ks_reconcile) every slot no record references is zeroed.
 * Slots of an aborted batch are zeroed and reused.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
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
	struct journal *journal;	/* borrowed: erasures are journalled (journal.c) */
};

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
	close(ks->fd);
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
	unsigned char slot[KS_SLOT_LEN], aad[sizeof(slot_aad_prefix) + 9 + 300];
	size_t al;
	ssize_t n;
	int rc;

	if (ks == NULL || s == 0)
		return -ENOENT;
	n = pread(ks->fd, slot, sizeof(slot), (off_t)(s * KS_SLOT_LEN));
	if (n != KS_SLOT_LEN || memcmp(slot, slot_magic, 4) != 0)
		return -ENOENT;		/* zeroed: shredded */
	al = slot_aad(aad, sizeof(aad), s, kind, owner);
	rc = crypto_open(wrap, aad, al, slot + 4, KS_SLOT_LEN - 4, key) == 0 ? 0 : -EBADMSG;
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
	unsigned char slot[4];

	if (ks == NULL || s == 0 || s > ks->nslots)
		return 0;
	return pread(ks->fd, slot, sizeof(slot), (off_t)(s * KS_SLOT_LEN)) == (ssize_t)sizeof(slot) &&
	    memcmp(slot, slot_magic, 4) == 0;
}

void
ks_forget(struct keystore *ks, uint64_t s, enum ks_kind kind, const char *owner)
{
	if (ks != NULL && s != 0)
		list_push_owner(&ks->forget, s, xasprintf("%s %s",
		    kind == KS_ACCOUNT ? "account" : "msg", owner));
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

		if (referenced && n == KS_SLOT_LEN && memcmp(slot, slot_magic, 4) == 0)
			continue;
		if (referenced && n == KS_SLOT_LEN && memcmp(slot, zero, sizeof(zero)) != 0) {
			/* Damaged (bit rot, a bad write), not erased: zeroing and
			 * journalling it would carry the damage into every backup
			 * (restore zeroes journalled slots), where the key is whole.
			 * Left as it is, out of use; it reads as unreadable. */
			damaged++;
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
