/* SPDX-License-Identifier: ISC */
/*
 * spamdb.h: the spam classifier's learned model (issue 15), an LMDB
 * environment of its own (DESIGN.md §5 "spam": token hash -> spam
 * count, ham count, last seen), implemented in queue/spamdb.c over
 * queue/db.c, the one LMDB user.  The daemon keeps its model in
 * spam_model_directory (default DATA_DIRECTORY/spam); posternctl spam
 * --model DIR works on a standalone one.  LMDB lets several processes
 * share an environment, so posternctl may learn into the daemon's model
 * while it runs: each learn is one durable write transaction and the
 * daemon's next read transaction sees it.
 *
 * The model holds no personal data: 64-bit hashes of tokens and counts.
 * spamdb_store() exposes it as the struct spam_store seam that the
 * classifier in policy/ reads (include/spam.h).
 */
#ifndef POSTERN_SPAMDB_H
#define POSTERN_SPAMDB_H

#include <stddef.h>
#include <stdint.h>

#include "spam.h"

struct spamdb;

/* Open (creating it unless READONLY) the model in DIR.  NULL with ERR. */
struct spamdb *spamdb_open(const char *dir, int readonly, char *err, size_t errlen);
void spamdb_close(struct spamdb *db);
/* The classifier's view of DB (valid while DB is open). */
void spamdb_store(struct spamdb *db, struct spam_store *out);

struct spamdb_stats {
	uint64_t tokens;		/* distinct tokens stored */
	uint32_t nspam, nham;		/* learned messages */
	uint64_t map_size;		/* bytes of the LMDB map */
	uint64_t file_size;		/* bytes of data.mdb on disk */
	uint64_t oldest;		/* wall ms: the least recently seen token, 0 if none */
};
int spamdb_stats(struct spamdb *db, struct spamdb_stats *out);
/* Empty the model (tokens and totals) in one transaction. */
int spamdb_forget_all(struct spamdb *db);
/* Delete tokens last seen before BEFORE (wall ms); *REMOVED gets the count. */
int spamdb_expire(struct spamdb *db, uint64_t before, uint64_t *removed);
/*
 * The EWMA baseline of the account signals after GAP more windows, the
 * first of which had COUNT recipients and the rest none (ALPHA: weight
 * of the newest window).
 */
double spamdb_ewma_roll(double ewma, uint32_t count, uint64_t gap, double alpha);
/* The directory's data file (tests). */
const char *spamdb_path(struct spamdb *db);

#endif
