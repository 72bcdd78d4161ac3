/* SPDX-License-Identifier: ISC */
/*
 * subject.c: the queue side of data-subject erasure (issue 17,
 * include/queue.h "data-subject requests").  One writer op finds every
 * message of an account (or of every account) whose stored keyed
 * sender hash or recipient hash equals the subject's (addr.h
 * addr_index_hash(): the sealed envelopes are never opened to look) and
 * in ONE transaction, with the control plane's audit record:
 *  - a message the subject sent, or whose every recipient is the
 *    subject, goes whole: recipients, schedule entries, body chunks,
 *    review record and message record deleted, and its data key's key
 *    store slot zeroed once the transaction commits (crypto-shredding);
 *  - a message with other recipients loses only the subject's recipient
 *    rows (and their schedule entries);
 *  - every event naming a message erased whole, or the subject (its
 *    pseudonym, log_pseudonym()) about a message that is not another
 *    account's, or its suppression history (the hash prefix the
 *    suppression events carry) is deleted, and so are their copies in
 *    the webhook outbox not yet sent;
 *  - every audit record naming the subject (its address, pseudonym or
 *    keyed hash) is rewritten with "[erased]" in their place: the audit
 *    log keeps that something was done, not to whom;
 *  - the keyed-hash suppression entry and the subject's request history
 *    record are written (see queue_subject_erase()).
 * Then a "subject" line goes to the erasure journal (account and keyed
 * hash only), so a backup restored later loses the same messages and
 * rows again (queue_subject_erase_sync, journal.c).  The callback runs
 * after the commit and the key store's zeroing are synced: a receipt
 * written from it tells the truth.
 *
 * Restriction (GDPR Art. 18) is the same walk: queue_subject_restrict()
 * stores the restriction record (QUEUE_T_RESTRICTIONS, keyed hash) and
 * holds the subject's pending recipients (every recipient of mail the
 * subject sent), each with a "held" event of reason "restricted";
 * unrestricting deletes the record and releases the recipients held so,
 * leaving alone mail a reviewer or a content stage holds.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "hash.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"

struct subject_op {
	struct writer_op op;
	char *account;			/* "" with all_accounts */
	int all_accounts;
	unsigned char hash[ADDR_HASH_LEN];
	char pseudo[64];		/* the events' "rcpt" value, or "" */
	char *address;			/* normalised address for audit scrubbing, or NULL */
	char *supp_key, *supp_val;	/* suppression entry written if absent, or NULL */
	char *req_key, *req_val;	/* subject record (QUEUE_T_SUBJECTS) to append to */
	struct queue_subject_counts *counts;	/* borrowed */
	struct queue_subject_counts c;
	int replay;			/* restore: no journal line of its own */
	int restrict_op;		/* 1 restrict, -1 unrestrict, 0 erase */
	char *rkey, *rval;		/* restriction record (rval NULL: delete) */
	queue_done_cb cb;
	void *arg;
};

/* Case-insensitive memmem (addresses in audit records). */
static const char *
mem_casefind(const char *h, size_t hl, const char *n, size_t nl)
{
	size_t i, j;

	if (nl == 0 || nl > hl)
		return NULL;
	for (i = 0; i + nl <= hl; i++) {
		for (j = 0; j < nl; j++)
			if (tolower((unsigned char)h[i + j]) != tolower((unsigned char)n[j]))
				break;
		if (j == nl)
			return h + i;
	}
	return NULL;
}

/* TEXT with every occurrence of each NEEDLES[i] replaced by "[erased]";
 * NULL when none occurs. */
static char *
scrub_text(const char *text, size_t len, const char *const *needles, size_t nn)
{
	struct buf b;
	size_t i, pos = 0;
	int found = 0;

	buf_init(&b, 0);
	while (pos < len) {
		const char *best = NULL;
		size_t bl = 0;

		for (i = 0; i < nn; i++) {
			const char *p;

			if (needles[i] == NULL || *needles[i] == '\0')
				continue;
			p = mem_casefind(text + pos, len - pos, needles[i], strlen(needles[i]));
			if (p != NULL && (best == NULL || p < best)) {
				best = p;
				bl = strlen(needles[i]);
			}
		}
		if (best == NULL)
			break;
		buf_append(&b, text + pos, (size_t)(best - (text + pos)));
		buf_append_str(&b, "[erased]");
		pos = (size_t)(best - text) + bl;
		found = 1;
	}
	if (!found) {
		buf_free(&b);
		return NULL;
	}
	buf_append(&b, text + pos, len - pos);
	buf_append(&b, "", 1);
	return b.data;
}

/* Does event V name a message in GONE, or the subject's pseudonym about
 * a message that is not another account's (FOREIGN)? */
static int
event_names(const struct subject_op *s, const char *v, size_t vl, const char *pseudo,
    struct hash *gone, struct hash *foreign)
{
	static const char tag[] = "\"id\":\"";
	char want[320];
	const char *p = memmem(v, vl, tag, sizeof(tag) - 1), *id = NULL;
	size_t i;

	if (p != NULL && (size_t)(v + vl - p) >= sizeof(tag) - 1 + QUEUE_ID_LEN)
		id = p + sizeof(tag) - 1;
	if (id != NULL && hash_get(gone, id, QUEUE_ID_LEN) != NULL)
		return 1;
	/* suppression events name the address by a prefix of its hash */
	memcpy(want, "\"hash\":\"", 8);
	for (i = 0; i < 8; i++)
		snprintf(want + 8 + 2 * i, 3, "%02x", s->hash[i]);
	if (memmem(v, vl, want, strlen(want)) != NULL) {
		if (s->all_accounts)
			return 1;
		snprintf(want, sizeof(want), "\"account\":\"%s\"", s->account);
		return memmem(v, vl, want, strlen(want)) != NULL;
	}
	if (*pseudo == '\0' || (id != NULL && hash_get(foreign, id, QUEUE_ID_LEN) != NULL))
		return 0;
	snprintf(want, sizeof(want), "\"rcpt\":\"%s\"", pseudo);
	return memmem(v, vl, want, strlen(want)) != NULL;
}

/* What event_match() compares an event with (erase_events). */
struct event_match_arg {
	const struct subject_op *s;
	const char *pseudo;
	struct hash *gone, *foreign;
};

/* db_match_fn: does event (K, V) name the subject or an erased message? */
static int
event_match(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	const struct event_match_arg *a = arg;

	(void)k;
	return kl == 12 && event_names(a->s, v, vl, a->pseudo, a->gone, a->foreign);
}

/* Delete the events naming the subject or an erased message. */
static int
erase_events(const struct subject_op *s, struct db_txn *txn, enum db_table t, const char *pseudo,
    struct hash *gone, struct hash *foreign, uint64_t *count)
{
	struct event_match_arg a = { s, pseudo, gone, foreign };

	return db_delete_matching(txn, t, event_match, &a, count);
}

/* Rewrite the audit records naming the subject. */
static int
erase_audit(struct db_txn *txn, const char *const *needles, size_t nn, uint64_t *count)
{
	struct db_cursor *c;
	const void *k, *v;
	size_t kl, vl, n = 0, i;
	unsigned char (*keys)[12] = NULL;
	char **vals = NULL;
	int rc;

	if ((rc = db_cursor_open(txn, DB_AUDIT, &c)) != 0)
		return rc;
	for (rc = db_cursor_seek(c, NULL, 0, &k, &kl, &v, &vl); rc == 0;
	    rc = db_cursor_next(c, &k, &kl, &v, &vl)) {
		char *s;

		if (kl != 12 || (s = scrub_text(v, vl, needles, nn)) == NULL)
			continue;
		keys = xrealloc(keys, (n + 1) * sizeof(*keys));
		vals = xrealloc(vals, (n + 1) * sizeof(*vals));
		memcpy(keys[n], k, 12);
		vals[n++] = s;
	}
	db_cursor_close(c);
	rc = 0;
	for (i = 0; i < n; i++) {
		if (rc == 0 && (rc = db_put(txn, DB_AUDIT, keys[i], 12, vals[i], strlen(vals[i]))) == 0)
			(*count)++;
		free(vals[i]);
	}
	free(vals);
	free(keys);
	return rc;
}

/* Erase the subject from message ID (sealed load): whole, rows, or nothing. */
static int
erase_message(struct queue *q, struct db_txn *txn, struct subject_op *s, const char *id,
    struct hash *gone, struct hash *foreign)
{
	struct queue_msg *m;
	struct mrec r;
	unsigned char rk[RCPT_KEY_LEN];
	size_t i, matched = 0;
	int sender, whole, rc = 0;

	if (msg_load(NULL, txn, id, &m, &r) != 0)
		return 0;
	if (!s->all_accounts && strcmp(m->account, s->account) != 0) {
		hash_put(foreign, id, QUEUE_ID_LEN, foreign);
		queue_msg_free(m);
		return 0;
	}
	sender = m->has_sender_hash && memcmp(m->sender_hash, s->hash, ADDR_HASH_LEN) == 0;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].has_hash && memcmp(m->rcpts[i].addr_hash, s->hash, ADDR_HASH_LEN) == 0)
			matched++;
	if (!sender && matched == 0) {
		queue_msg_free(m);
		return 0;
	}
	whole = sender || matched == m->nrcpts;
	for (i = 0; i < m->nrcpts && rc == 0; i++) {
		struct queue_rcpt *rc_ = &m->rcpts[i];
		int mine = rc_->has_hash && memcmp(rc_->addr_hash, s->hash, ADDR_HASH_LEN) == 0;

		if (!whole && !mine)
			continue;
		if (rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED)
			rc = sched_del(txn, rc_->next_try, id, rc_->no);
		rcpt_key(rk, id, rc_->no);
		if (rc == 0 && (rc = db_del(txn, DB_RECIPIENTS, rk, sizeof(rk))) == -ENOENT)
			rc = 0;
		if (mine)
			s->c.recipients++;
		rc_->state = QUEUE_DELETED;	/* for msg_finalise below */
	}
	if (rc == 0 && whole) {
		if ((rc = body_shred(q, txn, id, &r)) == 0 &&
		    (rc = db_del(txn, DB_MESSAGES, id, QUEUE_ID_LEN)) == 0) {
			if ((rc = db_del(txn, DB_REVIEW, id, QUEUE_ID_LEN)) == -ENOENT)
				rc = 0;
		}
		hash_put(gone, id, QUEUE_ID_LEN, gone);
		s->c.messages++;
	} else if (rc == 0) {
		/* the others' rows stay; the message is final once they all are */
		size_t keep = 0;

		for (i = 0; i < m->nrcpts; i++) {
			struct queue_rcpt *rc_ = &m->rcpts[i];

			if (rc_->has_hash && memcmp(rc_->addr_hash, s->hash, ADDR_HASH_LEN) == 0) {
				rcpt_clear(rc_);
				continue;
			}
			m->rcpts[keep++] = *rc_;
		}
		m->nrcpts = keep;
		msg_finalise(m, &r, now_wall_ms());
		rc = msg_put(txn, m, &r);
		s->c.partial++;
	}
	queue_msg_free(m);
	return rc;
}

/* Does recipient RC (or, SENDER, every recipient) belong to the subject? */
static int
rcpt_is_subject(const struct subject_op *s, const struct queue_rcpt *rc, int sender)
{
	return sender || (rc->has_hash && memcmp(rc->addr_hash, s->hash, ADDR_HASH_LEN) == 0);
}

#define RESTRICTION_VERDICT "{\"stage\":\"restriction\",\"action\":\"hold\"}"

/* Add (ON) or remove the restriction verdict in M's verdicts (a JSON
 * array): what makes review, queue_hold_reason() and unrestrict see why
 * it is held. */
static void
restriction_mark(struct queue_msg *m, int on)
{
	const char *v = m->verdicts != NULL ? m->verdicts : "";
	size_t vl = strlen(v), ml = strlen(RESTRICTION_VERDICT);
	const char *p = strstr(v, RESTRICTION_VERDICT);
	struct buf b;

	buf_init(&b, 0);
	if (on && p == NULL) {
		if (vl >= 2 && v[0] == '[' && v[vl - 1] == ']') {
			buf_append(&b, v, vl - 1);
			if (vl > 2)
				buf_append_str(&b, ",");
		} else
			buf_append_str(&b, "[");
		buf_append_str(&b, RESTRICTION_VERDICT "]");
	} else if (!on && p != NULL) {
		size_t at = (size_t)(p - v), end = at + ml;

		if (end < vl && v[end] == ',')
			end++;		/* "X," */
		else if (at > 0 && v[at - 1] == ',')
			at--;		/* ",X" */
		buf_append(&b, v, at);
		buf_append(&b, v + end, vl - end);
		if (b.len == 2 && memcmp(b.data, "[]", 2) == 0)
			b.len = 0;
	} else {
		buf_free(&b);
		return;
	}
	buf_append(&b, "", 1);
	free(m->verdicts);
	m->verdicts = b.len > 1 ? b.data : NULL;
	if (m->verdicts == NULL)
		buf_free(&b);
}

/* Restrict (hold the subject's pending recipients) or unrestrict
 * (release those a restriction held) in message ID. */
static int
restrict_message(struct queue *q, struct db_txn *txn, struct subject_op *s, const char *id)
{
	struct queue_msg *m;
	struct mrec r;
	const void *v;
	size_t vl, i, changed = 0, held = 0;
	uint64_t now = now_wall_ms();
	const char *why;
	int sender, rc = 0;

	if (msg_load(NULL, txn, id, &m, &r) != 0)
		return 0;
	if ((!s->all_accounts && strcmp(m->account, s->account) != 0) || (r.flags & MF_DELETED)) {
		queue_msg_free(m);
		return 0;
	}
	sender = m->has_sender_hash && memcmp(m->sender_hash, s->hash, ADDR_HASH_LEN) == 0;
	/* unrestrict releases only what a restriction held: not mail a
	 * reviewer holds (a review record) or a content stage held */
	if (s->restrict_op < 0) {
		/* the reason it would be held for without the restriction */
		char *keep = m->verdicts != NULL ? xstrdup(m->verdicts) : NULL;

		restriction_mark(m, 0);
		why = queue_hold_reason(m->verdicts);
		free(m->verdicts);
		m->verdicts = keep;
	} else
		why = NULL;
	if (s->restrict_op < 0 && ((why != NULL && strcmp(why, "restricted") != 0) ||
	    db_get(txn, DB_REVIEW, id, QUEUE_ID_LEN, &v, &vl) == 0)) {
		queue_msg_free(m);
		return 0;
	}
	for (i = 0; i < m->nrcpts && rc == 0; i++) {
		struct queue_rcpt *rc_ = &m->rcpts[i];
		int mine = rcpt_is_subject(s, rc_, sender);
		const char *addr = rc_->has_hash && memcmp(rc_->addr_hash, s->hash, ADDR_HASH_LEN) == 0 ?
		    s->address : NULL;

		if (mine && s->restrict_op > 0 &&
		    (rc_->state == QUEUE_QUEUED || rc_->state == QUEUE_DEFERRED)) {
			rc = sched_del(txn, rc_->next_try, id, rc_->no);
			rc_->state = QUEUE_HELD;
		} else if (mine && s->restrict_op < 0 && rc_->state == QUEUE_HELD) {
			rc_->state = QUEUE_QUEUED;
			rc_->next_try = now;
			rc = sched_put(txn, now, id, rc_->no);
		} else {
			held += rc_->state == QUEUE_HELD;
			continue;
		}
		held += rc_->state == QUEUE_HELD;
		changed++;
		if (rc == 0)
			rc = rcpt_put(txn, id, rc_);
		if (rc == 0)
			rc = event_add_reason(q, txn, id, addr, s->restrict_op > 0 ? "held" : "released",
			    "restricted");
	}
	if (rc == 0 && (changed || (s->restrict_op < 0 && (r.flags & MF_HELD)))) {
		if (s->restrict_op < 0 && held == 0)
			r.flags &= ~(uint64_t)MF_HELD;
		if (s->restrict_op > 0 || held == 0)
			restriction_mark(m, s->restrict_op > 0);
		if ((rc = msg_put(txn, m, &r)) == 0)
			s->c.messages++;
		s->c.recipients += changed;
	}
	queue_msg_free(m);
	return rc;
}

static int
restrict_apply(struct queue *q, struct db_txn *txn, struct subject_op *s)
{
	size_t n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	int rc;

	memset(&s->c, 0, sizeof(s->c));
	if (s->rval != NULL)
		rc = db_put(txn, DB_RESTRICTIONS, s->rkey, strlen(s->rkey), s->rval, strlen(s->rval));
	else if ((rc = db_del(txn, DB_RESTRICTIONS, s->rkey, strlen(s->rkey))) == -ENOENT)
		return ENOENT;		/* nothing to unrestrict: refused, nothing written */
	if (rc != 0)
		return rc;
	if ((rc = msg_ids_all(txn, &ids, &n)) != 0)
		return rc;
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		rc = restrict_message(q, txn, s, ids[i]);
	free(ids);
	if (rc == 0 && s->req_key != NULL)
		rc = queue_subject_record_append(txn, s->req_key, s->req_val);
	return rc;
}

static int
subject_apply(struct queue *q, struct db_txn *txn, struct writer_op *wop)
{
	struct subject_op *s = (struct subject_op *)wop;
	const void *v;
	size_t vl, n = 0, i;
	char (*ids)[QUEUE_ID_LEN + 1] = NULL;
	char hex[ADDR_HASH_LEN * 2 + 1];
	const char *needles[3];
	struct hash *gone, *foreign;
	int rc;

	if (s->restrict_op != 0)
		return restrict_apply(q, txn, s);
	memset(&s->c, 0, sizeof(s->c));	/* the writer may apply an op twice */
	if ((rc = msg_ids_all(txn, &ids, &n)) != 0)
		return rc;
	gone = hash_new(NULL);
	foreign = hash_new(NULL);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		rc = erase_message(q, txn, s, ids[i], gone, foreign);
	free(ids);
	/* the Message-ID index loses the entries of the messages erased whole */
	if (rc == 0 && s->c.messages > 0) {
		uint64_t nmsgids = 0;

		rc = queue_purge_msgids(txn, &nmsgids);
	}
	/* the events name no account: another account's messages keep theirs */
	if (rc == 0)
		rc = erase_events(s, txn, DB_EVENTS, s->pseudo, gone, foreign, &s->c.events);
	/* the webhook outbox holds copies of those events not yet sent:
	 * they go too (the customer's request is the erasure) */
	if (rc == 0) {
		uint64_t nout = 0;

		rc = erase_events(s, txn, DB_OUTBOX, s->pseudo, gone, foreign, &nout);
	}
	hash_free(gone);
	hash_free(foreign);
	for (i = 0; i < ADDR_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", s->hash[i]);
	needles[0] = s->address;
	needles[1] = s->pseudo;
	needles[2] = hex;
	if (rc == 0)
		rc = erase_audit(txn, needles, 3, &s->c.audit);
	if (rc == 0 && s->supp_key != NULL &&
	    db_get(txn, DB_SUPPRESSIONS, s->supp_key, strlen(s->supp_key), &v, &vl) == -ENOENT) {
		rc = db_put(txn, DB_SUPPRESSIONS, s->supp_key, strlen(s->supp_key), s->supp_val,
		    strlen(s->supp_val));
		s->c.suppression_added = 1;
	}
	if (rc == 0 && s->req_key != NULL)
		rc = queue_subject_record_append(txn, s->req_key, s->req_val);
	if (rc == 0 && q->journal != NULL && !s->replay) {
		char owner[300];

		snprintf(owner, sizeof(owner), "%s/%s", s->all_accounts ? "*" : s->account, hex);
		journal_add(q->journal, "subject", owner, 0);
		if (journal_flush(q->journal) != 0)
			rc = -EIO;
	}
	return rc;
}

static void
subject_free(struct subject_op *s)
{
	free(s->op.audit);
	free(s->account);
	if (s->address != NULL)
		crypto_wipe(s->address, strlen(s->address));
	free(s->address);
	free(s->supp_key);
	free(s->supp_val);
	free(s->req_key);
	free(s->req_val);
	free(s->rkey);
	free(s->rval);
	free(s);
}

static void
subject_done(struct queue *q, struct writer_op *wop, int status)
{
	struct subject_op *s = (struct subject_op *)wop;
	struct outcome o;

	if (status == 0) {
		outcome_ok(&o);
		if (s->counts != NULL)
			*s->counts = s->c;
	} else
		queue_outcome_for_error(&o, status);
	if (s->cb != NULL)
		s->cb(s->arg, &o);
	if (status == 0)
		sched_kick(q);
	subject_free(s);
}

/* Append the JSON object ENTRY to the JSON array stored at KEY. */
int
queue_subject_record_append(struct db_txn *txn, const char *key, const char *entry)
{
	const void *v;
	size_t vl;
	struct buf b;
	int rc;

	buf_init(&b, 0);
	if (db_get(txn, DB_SUBJECTS, key, strlen(key), &v, &vl) == 0 && vl >= 2 &&
	    ((const char *)v)[0] == '[' && ((const char *)v)[vl - 1] == ']') {
		buf_append(&b, v, vl - 1);
		if (vl > 2)
			buf_append_str(&b, ",");
	} else
		buf_append_str(&b, "[");
	buf_append_str(&b, entry);
	buf_append_str(&b, "]");
	rc = db_put(txn, DB_SUBJECTS, key, strlen(key), b.data, b.len);
	buf_free(&b);
	return rc;
}

static struct subject_op *
subject_new(const struct queue_subject_erase *e)
{
	struct subject_op *s = xcalloc(1, sizeof(*s));

	s->op.apply = subject_apply;
	s->op.done = subject_done;
	s->account = xstrdup(e->account != NULL ? e->account : "");
	s->all_accounts = e->all_accounts || e->account == NULL;
	memcpy(s->hash, e->hash, ADDR_HASH_LEN);
	str_copy(s->pseudo, e->pseudonym != NULL ? e->pseudonym : "", sizeof(s->pseudo));
	s->address = e->address != NULL ? xstrdup(e->address) : NULL;
	if (e->suppression_key != NULL && e->suppression_val != NULL) {
		s->supp_key = xstrdup(e->suppression_key);
		s->supp_val = xstrdup(e->suppression_val);
	}
	if (e->record_key != NULL && e->record_entry != NULL) {
		s->req_key = xstrdup(e->record_key);
		s->req_val = xstrdup(e->record_entry);
	}
	return s;
}

int
queue_subject_erase(struct queue *q, const struct queue_subject_erase *e,
    const struct queue_audit *audit, struct queue_subject_counts *counts,
    queue_done_cb cb, void *arg)
{
	struct subject_op *s;

	if (q->readonly || !q->writer_running || q->closing)
		return -EROFS;
	s = subject_new(e);
	writer_op_audit(&s->op, audit);
	s->counts = counts;
	s->cb = cb;
	s->arg = arg;
	writer_submit(q, &s->op);
	return 0;
}

int
queue_subject_restrict(struct queue *q, const struct queue_subject_erase *e, const char *key,
    const char *record, const struct queue_audit *audit, struct queue_subject_counts *counts,
    queue_done_cb cb, void *arg)
{
	struct subject_op *s;

	if (q->readonly || !q->writer_running || q->closing)
		return -EROFS;
	s = subject_new(e);
	s->restrict_op = record != NULL ? 1 : -1;
	s->rkey = xstrdup(key);
	s->rval = record != NULL ? xstrdup(record) : NULL;
	writer_op_audit(&s->op, audit);
	s->counts = counts;
	s->cb = cb;
	s->arg = arg;
	writer_submit(q, &s->op);
	return 0;
}

/* Restore (journal.c): replay a "subject" line, OWNER "ACCOUNT/HEXHASH"
 * ("*" for every account), on the calling thread.  The pseudonym and
 * address are not in the journal: events naming an erased message go,
 * the rest went with the backup's own event retention. */
int
queue_subject_erase_sync(struct queue *q, const char *owner)
{
	struct queue_subject_erase e;
	const char *slash = strrchr(owner, '/');
	char account[256];
	size_t i;
	int rc;
	struct subject_op *s;

	if (slash == NULL || strlen(slash + 1) != ADDR_HASH_LEN * 2 ||
	    (size_t)(slash - owner) >= sizeof(account))
		return -EINVAL;
	memset(&e, 0, sizeof(e));
	memcpy(account, owner, (size_t)(slash - owner));
	account[slash - owner] = '\0';
	for (i = 0; i < ADDR_HASH_LEN; i++) {
		unsigned int x;

		if (sscanf(slash + 1 + 2 * i, "%2x", &x) != 1)
			return -EINVAL;
		e.hash[i] = (unsigned char)x;
	}
	e.all_accounts = strcmp(account, "*") == 0;
	e.account = e.all_accounts ? NULL : account;
	s = subject_new(&e);
	s->replay = 1;
	rc = writer_run_sync(q, &s->op);
	subject_free(s);
	return rc;
}
