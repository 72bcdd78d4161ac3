/* SPDX-License-Identifier: ISC */
/*
 * check.c: `posternctl queue check` (issue 12 item 3): read every table
 * and every record of the queue and report what does not add up,
 * without changing anything.
 *
 * First the file: every B-tree page of the snapshot being checked
 * (dbfile.c), inside the read transaction so the daemon's writes cannot
 * reuse a page under the walk.  Then the records, one table at a time:
 * message ids valid and records decodable; each message's recipient
 * count and body chunk count as recorded, its body's data key and its
 * account key present in the key store (keystore.c) while the body is
 * kept, and the data key unwrapping when the master key is at hand; each recipient's state
 * known, and queued/deferred recipients with exactly one schedule entry
 * at their next try (queue.c's invariant), others with none; every
 * schedule entry and body chunk belonging to a message, the keys table
 * holding only account key references to used slots;
 * events and audit records keyed (time, seq) and JSON objects.
 *
 * Each rule is one small function over one record, so another record
 * layout (e.g. keys kept outside LMDB) changes only its rule.  Problems
 * go to a callback as one line of text each ("recipients ID/3: queued
 * but not scheduled"); the counts say what was read.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json.h"
#include "queue_int.h"
#include "util.h"

struct check {
	struct queue *q;
	struct db_txn *txn;
	queue_problem_cb cb;
	void *arg;
	struct queue_check_stats *st;
};

static void problem(struct check *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void
problem(struct check *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	c->st->problems++;
	if (c->cb != NULL)
		c->cb(c->arg, text);
}

/* A printable form of an id-like key for problem lines. */
static const char *
key_text(const void *k, size_t kl, char *out, size_t outlen)
{
	const unsigned char *p = k;
	size_t i, o = 0;

	for (i = 0; i < kl && o + 4 < outlen; i++) {
		if (p[i] >= 0x21 && p[i] < 0x7f)
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[i]);
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

static int
count_entries(struct db_txn *txn, enum db_table t, uint64_t *n)
{
	struct db_cursor *cur;
	int rc;

	*n = 0;
	if ((rc = db_cursor_open(txn, t, &cur)) != 0)
		return rc;
	for (rc = db_cursor_seek(cur, NULL, 0, NULL, NULL, NULL, NULL); rc == 0;
	    rc = db_cursor_next(cur, NULL, NULL, NULL, NULL))
		(*n)++;
	db_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

void (*queue_check_hook)(struct queue *q);

/* The account name of a keys table key "a:NAME". */
static const char *
acct_name(const void *k, size_t kl, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.*s", (int)(kl - 2), (const char *)k + 2);
	return out;
}

/*
 * A key store slot that reads missing or damaged under the snapshot may
 * have been dropped since: posternd's writer goes on while check reads
 * (on the control thread), a delete committed after the snapshot zeroes
 * the slot and the pool may already have refilled it with another secret
 * (keystore.c), so it reads missing or as a key that does not unwrap.
 * A problem only while the latest commit still names that slot for the
 * message (or the account).
 */
static int
still_named(struct check *c, const char *id, const char *account, uint64_t slot)
{
	struct db_txn *t;
	const void *v;
	size_t vl;
	int named;

	if (db_begin(c->q->db, 1, &t) != 0)
		return 1;
	if (id != NULL)
		named = db_get(t, DB_MESSAGES, id, QUEUE_ID_LEN, &v, &vl) == 0 &&
		    msg_record_slot(v, vl) == slot;
	else
		named = account_slot(t, account) == slot;
	db_abort(t);
	return named;
}

/* One message: its record, recipients, chunks and keys. */
static void
check_message(struct check *c, const char *id)
{
	struct queue_msg *m;
	struct mrec r;
	unsigned char k[RCPT_KEY_LEN];
	const void *v;
	size_t vl, i;
	uint64_t no, bytes = 0;
	int rc;

	if ((rc = msg_load(NULL, c->txn, id, &m, &r)) != 0) {	/* envelope stays sealed */
		problem(c, "messages %s: record cannot be read (%s)", id, strerror(-rc));
		return;
	}
	if (m->nrcpts != r.nrcpts)
		problem(c, "messages %s: %llu recipients recorded, %zu found", id,
		    (unsigned long long)r.nrcpts, m->nrcpts);
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *rc_ = &m->rcpts[i];
		int pending = rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED;
		unsigned char sk[SCHED_KEY_LEN];

		c->st->recipients++;
		if ((unsigned)rc_->state > QUEUE_DELETED) {
			problem(c, "recipients %s/%u: unknown state %d", id, rc_->no, (int)rc_->state);
			continue;
		}
		put_be64(sk, rc_->next_try);
		memcpy(sk + 8, id, QUEUE_ID_LEN);
		put_be32(sk + 8 + QUEUE_ID_LEN, rc_->no);
		rc = db_get(c->txn, DB_SCHEDULE, sk, sizeof(sk), &v, &vl);
		if (pending && rc != 0)
			problem(c, "recipients %s/%u: %s but not scheduled at its next try", id,
			    rc_->no, queue_strstate(rc_->state));
		else if (!pending && rc == 0)
			problem(c, "schedule %s/%u: scheduled but %s", id, rc_->no,
			    queue_strstate(rc_->state));
	}
	if (!(r.flags & (MF_BODY_GONE | MF_DELETED))) {
		for (no = 0; no < r.nchunks; no++) {
			rcpt_key(k, id, (uint32_t)no);
			if (db_get(c->txn, DB_BODIES, k, sizeof(k), &v, &vl) != 0) {
				problem(c, "bodies %s: chunk %llu of %llu is missing", id,
				    (unsigned long long)no, (unsigned long long)r.nchunks);
				break;
			}
			if (vl < CRYPTO_OVERHEAD) {
				problem(c, "bodies %s: chunk %llu is too short", id,
				    (unsigned long long)no);
				break;
			}
			bytes += vl - CRYPTO_OVERHEAD;
			c->st->chunks++;
		}
		if (no == r.nchunks && bytes != m->size)
			problem(c, "bodies %s: %llu octets in chunks, the message has %llu", id,
			    (unsigned long long)bytes, (unsigned long long)m->size);
		/* keys live in the key store; the records name their slots */
		uint64_t as = account_slot(c->txn, m->account);

		if (!ks_slot_used(c->q->ks, r.slot)) {
			if (still_named(c, id, NULL, r.slot))
				problem(c, "keys %s: the body's data key (key store slot %llu) is "
				    "missing", id, (unsigned long long)r.slot);
		} else if (c->q->have_master) {
			/* present is not enough: a damaged slot keeps its magic */
			unsigned char dk[CRYPTO_KEY_LEN];
			int krc = data_key_disk(c->q, c->txn, m->account, id, r.slot, dk);

			crypto_wipe(dk, sizeof(dk));
			if (krc == -EBADMSG && still_named(c, id, NULL, r.slot) &&
			    still_named(c, NULL, m->account, as))
				problem(c, "keys %s: the body's data key (key store slot %llu) "
				    "is damaged: it does not unwrap", id, (unsigned long long)r.slot);
		}
		if (!ks_slot_used(c->q->ks, as) && still_named(c, NULL, m->account, as))
			problem(c, "keys %s: the key of account '%s' is missing", id, m->account);
	}
	queue_msg_free(m);
}

static void
check_messages(struct check *c)
{
	struct db_cursor *cur;
	const void *k;
	size_t kl;
	char id[QUEUE_ID_LEN + 1], kt[128];
	int rc;

	if (db_cursor_open(c->txn, DB_MESSAGES, &cur) != 0)
		return;
	for (rc = db_cursor_seek(cur, NULL, 0, &k, &kl, NULL, NULL); rc == 0;
	    rc = db_cursor_next(cur, &k, &kl, NULL, NULL)) {
		c->st->messages++;
		if (kl != QUEUE_ID_LEN) {
			problem(c, "messages %s: not a message id", key_text(k, kl, kt, sizeof(kt)));
			continue;
		}
		memcpy(id, k, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		if (!id_valid(id)) {
			problem(c, "messages %s: not a message id", key_text(k, kl, kt, sizeof(kt)));
			continue;
		}
		check_message(c, id);
	}
	db_cursor_close(cur);
}

/* KEY of TABLE (id, then anything) names a message that exists. */
static int
owner_exists(struct check *c, const void *k, size_t kl, size_t off)
{
	const void *v;
	size_t vl;

	return kl >= off + QUEUE_ID_LEN &&
	    db_get(c->txn, DB_MESSAGES, (const char *)k + off, QUEUE_ID_LEN, &v, &vl) == 0;
}

/* Recipients, schedule entries, chunks and data keys without a message. */
static void
check_orphans(struct check *c)
{
	static const struct { enum db_table t; const char *name; size_t len, off; } tabs[] = {
		{ DB_RECIPIENTS, "recipients", RCPT_KEY_LEN, 0 },
		{ DB_SCHEDULE, "schedule", SCHED_KEY_LEN, 8 },
		{ DB_BODIES, "bodies", RCPT_KEY_LEN, 0 },
	};
	struct db_cursor *cur;
	const void *k, *v;
	size_t kl, vl, i;
	char kt[128], an[300];
	int rc;

	for (i = 0; i < ARRAY_SIZE(tabs); i++) {
		if (db_cursor_open(c->txn, tabs[i].t, &cur) != 0)
			continue;
		for (rc = db_cursor_seek(cur, NULL, 0, &k, &kl, NULL, NULL); rc == 0;
		    rc = db_cursor_next(cur, &k, &kl, NULL, NULL)) {
			if (tabs[i].t == DB_SCHEDULE)
				c->st->scheduled++;
			if (kl != tabs[i].len)
				problem(c, "%s %s: malformed key", tabs[i].name,
				    key_text(k, kl, kt, sizeof(kt)));
			else if (!owner_exists(c, k, kl, tabs[i].off))
				problem(c, "%s %s: no such message", tabs[i].name,
				    key_text((const char *)k + tabs[i].off, QUEUE_ID_LEN, kt, sizeof(kt)));
			else if (tabs[i].t == DB_SCHEDULE) {
				/* the recipient it names is pending at this time */
				const unsigned char *sk = k;
				unsigned char rk[RCPT_KEY_LEN];
				struct queue_rcpt rcpt;

				memcpy(rk, sk + 8, RCPT_KEY_LEN);
				if (db_get(c->txn, DB_RECIPIENTS, rk, sizeof(rk), &v, &vl) != 0 ||
				    rcpt_decode(get_be32(rk + QUEUE_ID_LEN), v, vl, &rcpt) != 0) {
					problem(c, "schedule %s/%u: no such recipient", key_text(sk + 8,
					    QUEUE_ID_LEN, kt, sizeof(kt)), get_be32(rk + QUEUE_ID_LEN));
					continue;
				}
				if (rcpt.next_try != get_be64(sk) && (rcpt.state == QUEUE_QUEUED ||
				    rcpt.state == QUEUE_DEFERRED))
					problem(c, "schedule %s/%u: entry at another time than the "
					    "recipient's next try", key_text(sk + 8, QUEUE_ID_LEN, kt,
					    sizeof(kt)), rcpt.no);
				rcpt_clear(&rcpt);
			}
		}
		db_cursor_close(cur);
	}
	/* the keys table holds only account key references ("a:" name ->
	 * key store slot); a key itself in LMDB could never be shredded */
	if (db_cursor_open(c->txn, DB_KEYS, &cur) != 0)
		return;
	for (rc = db_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(cur, &k, &kl, &v, &vl)) {
		c->st->keys++;
		if (kl < 2 || memcmp(k, "a:", 2) != 0 || vl != 8)
			problem(c, "keys %s: not an account key reference (a key kept in LMDB "
			    "cannot be shredded)", key_text(k, kl, kt, sizeof(kt)));
		else if (!ks_slot_used(c->q->ks, get_be64(v)) &&
		    still_named(c, NULL, acct_name(k, kl, an, sizeof(an)), get_be64(v)))
			problem(c, "keys %s: its key store slot %llu is empty",
			    key_text(k, kl, kt, sizeof(kt)), (unsigned long long)get_be64(v));
	}
	db_cursor_close(cur);
}

/* Events and audit records: (time, seq) keys, JSON object values. */
static void
check_logs(struct check *c)
{
	static const struct { enum db_table t; const char *name; } tabs[] = {
		{ DB_EVENTS, "events" }, { DB_AUDIT, "audit" },
	};
	struct db_cursor *cur;
	const void *k, *v;
	size_t kl, vl, i;
	char kt[128], err[128];
	int rc;

	for (i = 0; i < ARRAY_SIZE(tabs); i++) {
		if (db_cursor_open(c->txn, tabs[i].t, &cur) != 0)
			continue;
		for (rc = db_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); rc == 0;
		    rc = db_cursor_next(cur, &k, &kl, &v, &vl)) {
			struct json_value *j;

			c->st->log_records++;
			if (kl != 12) {
				problem(c, "%s %s: malformed key", tabs[i].name,
				    key_text(k, kl, kt, sizeof(kt)));
				continue;
			}
			j = json_parse(v, vl, err, sizeof(err));
			if (j == NULL || j->type != JSON_OBJECT)
				problem(c, "%s %llu/%u: not a JSON object%s%s", tabs[i].name,
				    (unsigned long long)get_be64(k), get_be32((const unsigned char *)k + 8),
				    j == NULL ? ": " : "", j == NULL ? err : "");
			json_free(j);
		}
		db_cursor_close(cur);
	}
}

int
queue_check(struct queue *q, queue_problem_cb cb, void *arg, struct queue_check_stats *st)
{
	struct check c;
	char err[512];
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&c, 0, sizeof(c));
	c.q = q;
	c.cb = cb;
	c.arg = arg;
	c.st = st;
	if ((rc = db_begin(q->db, 1, &c.txn)) != 0)
		return rc;
	if (queue_check_hook != NULL)
		queue_check_hook(q);	/* tests: writes after the snapshot */
	/* the file first, under this snapshot (its pages stay put meanwhile) */
	if (db_file_check(db_path(q->db), 1, &st->pages, err, sizeof(err)) != 0) {
		problem(&c, "%s", err);
		db_abort(c.txn);
		return 0;
	}
	check_messages(&c);
	check_orphans(&c);
	check_logs(&c);
	count_entries(c.txn, DB_ACCOUNTS, &st->accounts);
	db_abort(c.txn);
	return 0;
}
