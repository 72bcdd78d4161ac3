/* SPDX-License-Identifier: ISC */
/*
 * policy.h: the policy pipeline (DESIGN.md §7).  One stage runner for
 * every SMTP phase: CONNECT, AUTH, MAIL, RCPT and EOM each have an
 * ordered table of stages (policy_phase_stages(), policy/policy.c).  A
 * stage answers with an outcome {ok, tempfail, permfail, hold, pending};
 * the first outcome that is not ok (nor hold) ends the phase and is the
 * answer.  A stage that returns OUTCOME_PENDING finishes later on the
 * loop by calling policy_stage_done(); the runner then goes on with the
 * next stage.  Stages read what they need from struct policy_req: the
 * session facts, the typed struct account_policy, and the lookup seam
 * struct policy_env through which LMDB-backed data and counters are
 * reached without knowing the queue (the relay in src/inbound/ fills it).
 * Settings come as a struct policy_params (include/policy_params.h),
 * never as the config: policy/ does not include config.h.
 *
 * The EOM stages (header fix-ups, MIME + sensitive data, DKIM signing
 * last) run through the same runner, in one uv thread-pool job on a
 * struct policy_msg: they are synchronous (`run`) and never pend.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stddef.h>
#include <sys/uio.h>

#include "account.h"
#include "buf.h"
#include "outcome.h"
#include "policy_params.h"
#include "spf.h"

/*
 * Header fields the EOM stages add (policy/message.c).  They are kept
 * apart from the message and put in front of it only when it is
 * written to the queue (queue_commit() streams the pieces), so no
 * stage ever copies the message to add a line.  `top` fields go above
 * the message's own header, the last one added first (RFC 5321 §4.4
 * trace fields, RFC 6376 §5.6 signatures); `end` fields (Date:,
 * Message-ID:) go at the end of its header section, in order.
 */
struct header_add {
	char *text;		/* owned; whole field(s), CRLF line ends */
	size_t len;
};

struct header_list {
	struct header_add *top;	/* owned; in order of addition */
	size_t ntop, captop;
	struct buf end;		/* fields inserted before the empty line */
};

struct spam_store;
struct spam_dnsq;

struct policy_msg {
	const struct policy_params *params;	/* borrowed; NULL: built-in defaults */
	const char *account;		/* borrowed; "" for none */
	const struct account_policy *acct;	/* borrowed; the account's typed policy or NULL */
	const char *sender;		/* borrowed; "" for <> */
	const char *const *rcpts;	/* borrowed */
	size_t nrcpts;
	/*
	 * The message as received (dot-unstuffed, CRLF): the one copy.
	 * Stages change it only in place: header fields removed with a
	 * memmove (Bcc:, a forged X-Postern-DLP:), parts redacted in place
	 * (one growth when the result is longer).  Additions go to hdrs.
	 * The final message is policy_msg_iov() / policy_msg_render().
	 */
	struct buf data;
	struct header_list hdrs;	/* owned; fields added by the stages */
	struct buf verdicts;		/* JSON array text of findings (never values) */
	int hold;			/* a stage asks for state held */
	int zero_retention;		/* X-Postern-Retention: 0 asked and allowed (issue 17) */
	/* For the Received: header (policy/headers.c); NULL when unknown. */
	const char *client_helo;	/* borrowed; EHLO/HELO argument */
	const char *client_addr;	/* borrowed; "192.0.2.1" / "2001:db8::1" */
	const char *protocol;		/* borrowed; smtp_session_protocol() */
	/* The spam model (include/spam.h) or NULL: rules only. */
	const struct spam_store *spam;	/* borrowed */
	/*
	 * An EOM stage may pend once (OUTCOME_PENDING from run): the spam
	 * stage's DNS round.  policy_run_eom() then returns 1 with
	 * eom_next = that stage; the relay does the lookups in spam_q and
	 * runs policy_run_eom() again, which resumes there.
	 */
	size_t eom_next;
	struct spam_dnsq *spam_q;	/* owned; NULL when no DNS round */
	/* For List-Unsubscribe: the queue id the message will get (made
	 * before the EOM stages run), or "" when unknown. */
	char msgid[24];
	char message_id[256];		/* set by the headers stage: the message's
					 * Message-ID (found or added), for the log */
	/* Set by policy_headers(): the keyed hash (token_msgid_hash_hex())
	 * of the message's Message-ID (its own, or the one added), "" when
	 * it has none that hashes.  The relay hands it to queue_commit()
	 * for the Message-ID index (ARF reports are matched by it). */
	char message_id_hash[65];
	/* The EOM stage that refused the message (its table name), NULL
	 * when none did: the reason label of the refusal metrics. */
	const char *decided_by;
};

enum policy_phase {
	POLICY_CONNECT = 0,	/* client admitted? (limits, networks) */
	POLICY_AUTH,		/* AUTH attempt allowed? (lockout) */
	POLICY_MAIL,		/* account status, sender domain, size, rate, SPF */
	POLICY_RCPT,		/* recipient limits */
	POLICY_EOM,		/* the message: headers, sensitive data, DKIM */
	POLICY_NPHASES
};
const char *policy_strphase(enum policy_phase p);

struct policy_req;

/*
 * The lookup seam: how stages reach LMDB-backed data and counters
 * without knowing the queue (src/inbound/relay.c fills it).  Every
 * pointer may be NULL: the stage that needs it then does nothing.
 * Later: suppressions, shared rate counters.
 */
#define POLICY_AUTH_ALLOWED 0
#define POLICY_AUTH_LOCKED 1
#define POLICY_AUTH_BUSY 2

struct policy_env {
	void *arg;
	/* The current policy of account NAME (re-read for each MAIL, so a
	 * suspension applies to open sessions): 0 with *POL borrowed until
	 * the next call, -ENOENT (deleted), or -1 (lookup error). */
	int (*account)(void *arg, const char *name, const struct account_policy **pol);
	/* AUTH lockout: POLICY_AUTH_ALLOWED, POLICY_AUTH_LOCKED (the pair
	 * CLIENT_IP + NAME or the address is locked out) or POLICY_AUTH_BUSY
	 * (too many attempts in flight from CLIENT_IP). */
	int (*auth_locked)(void *arg, const char *client_ip, const char *name);
	/* Hourly rate: 1 when ACCOUNT has sent LIMIT messages in the last hour. */
	int (*rate_reached)(void *arg, const char *account, int64_t limit);
	/* Per-session limits for the next DATA/BDAT (smtp_session_set_limits). */
	void (*set_limits)(void *arg, uint64_t size_limit, size_t max_rcpts);
	/* Art. 18 restriction (issue 17): 1 when ADDR is restricted for
	 * ACCOUNT (its keyed hash in the restrictions table), else 0. */
	int (*restricted)(void *arg, const char *account, const char *addr);
	/*
	 * Suppression lists: 1 when RCPT is on ACCOUNT's list or the global
	 * one (REASON gets "hard_bounce", "complaint", ...; the hit is
	 * recorded as an event with ACTION "reject" or "drop"), 0 when not,
	 * -1 on a lookup error.
	 */
	int (*suppressed)(void *arg, const char *account, const char *rcpt, const char *action,
	    char *reason, size_t reasonlen);
	/* DNS for SPF (src/net/dns.c) and the verdict cache. */
	spf_dns_fn dns;
	void *dns_arg;
	struct spf *spf;
};

/* Called when a phase has its answer (also when it finishes at once). */
typedef void (*policy_done_cb)(void *arg, struct policy_req *req, const struct outcome *o);

/*
 * One run of one phase.  The caller fills the facts, then calls
 * policy_phase_run(); the struct must stay put until DONE has run.
 */
struct policy_req {
	enum policy_phase phase;
	const struct policy_params *params;	/* borrowed */
	const struct policy_env *env;		/* borrowed */
	const char *id;				/* session id for logs */
	const char *client_ip;			/* "192.0.2.1", "" when unknown */
	int relay_listener;			/* the smtpd_relay_listen listener */
	int trusted;				/* CONNECT: client in smtpd_relay_networks */
	size_t connections;			/* CONNECT: open connections, this one included */
	size_t connections_ip;			/* CONNECT: ... from this client address */
	int need_auth;				/* MAIL: submission without AUTH */
	const char *account;			/* AUTH: attempted name; MAIL..: account or NULL */
	const struct account_policy *acct;	/* MAIL..: typed policy (the account stage sets it) */
	const char *sender;			/* MAIL..: "" for <> */
	uint64_t declared_size;			/* MAIL: SIZE=, 0 when not given */
	size_t nrcpts;				/* RCPT: recipients accepted so far */
	const char *rcpt;			/* RCPT: the recipient address */
	int rcpt_drop;				/* RCPT: answer ok but do not queue it (set by a stage) */
	struct policy_msg *msg;			/* EOM */
	char spf_header[512];			/* MAIL: X-Postern-SPF: line for EOM, or "" */
	/* runner state */
	const struct policy_stage *stages;
	size_t nstages, next;
	int hold;				/* some stage answered hold */
	const char *decided_by;			/* the stage whose tempfail/permfail ended
						 * the phase (its static name), or NULL */
	policy_done_cb done;
	void *done_arg;
};

/*
 * A stage.  `check` (CONNECT..RCPT, loop thread) fills OUT; it may set
 * OUTCOME_PENDING and call policy_stage_done() later.  `run` (EOM, pool
 * thread) works on the message and returns 0, or -1 to fail the phase
 * (tempfail when OUT is still ok).
 */
typedef void (*policy_check_fn)(struct policy_req *req, struct outcome *out);
typedef int (*policy_stage_fn)(struct policy_msg *m, struct outcome *out);

struct policy_stage {
	const char *name;
	policy_stage_fn run;		/* EOM */
	policy_check_fn check;		/* CONNECT..RCPT */
};

/* The ordered stage table of PHASE. */
const struct policy_stage *policy_phase_stages(enum policy_phase phase, size_t *n);

/*
 * Run REQ's phase from its first stage.  DONE(ARG, req, outcome) runs
 * exactly once: before this returns when no stage pends, else from the
 * pending stage's policy_stage_done().  Returns 0 when done already,
 * 1 when pending.  A hold answer (OUTCOME_HOLD) does not stop the
 * phase; the final outcome is then hold.
 */
int policy_phase_run(struct policy_req *req, policy_done_cb done, void *arg);
/* Same, over a stage table of the caller's (tests). */
int policy_run_stages(struct policy_req *req, const struct policy_stage *stages, size_t n,
    policy_done_cb done, void *arg);
/* A pending stage of REQ has its answer O: go on with the next stage. */
void policy_stage_done(struct policy_req *req, const struct outcome *o);

/* EOM, pool thread: the EOM table on M through the runner, from stage
 * m->eom_next.  0 = all ok, -1 refused (OUT), 1 a stage pends (the
 * caller does m->spam_q's lookups and calls it again). */
int policy_run(const struct policy_stage *stages, size_t n,
    struct policy_msg *m, struct outcome *out);
/* The EOM table (policy_phase_stages(POLICY_EOM)) on M. */
int policy_run_eom(struct policy_msg *m, struct outcome *out);

/* ---- the CONNECT..RCPT stages (policy/limits.c) ---- */
void policy_stage_networks(struct policy_req *req, struct outcome *out);
void policy_stage_connections(struct policy_req *req, struct outcome *out);
void policy_stage_lockout(struct policy_req *req, struct outcome *out);
void policy_stage_auth_required(struct policy_req *req, struct outcome *out);
void policy_stage_account(struct policy_req *req, struct outcome *out);
void policy_stage_sender_domain(struct policy_req *req, struct outcome *out);
void policy_stage_size(struct policy_req *req, struct outcome *out);
void policy_stage_rate(struct policy_req *req, struct outcome *out);
void policy_stage_spf(struct policy_req *req, struct outcome *out);
void policy_stage_rcpt_limit(struct policy_req *req, struct outcome *out);
void policy_stage_restriction(struct policy_req *req, struct outcome *out);
/* Suppression lists (policy/suppress_stage.c): 550 5.7.1, or ok + rcpt_drop. */
void policy_stage_suppression(struct policy_req *req, struct outcome *out);
/*
 * The EOM stage "list_unsubscribe" (policy/suppress_stage.c): adds
 * List-Unsubscribe (RFC 2369) and, for one-click, List-Unsubscribe-Post
 * (RFC 8058) per recipient token, unless the message has its own.  Runs
 * before DKIM, which signs both (dkim_sign_headers).
 */
int policy_list_unsubscribe(struct policy_msg *m, struct outcome *out);

/* ---- the message of an EOM run (policy/message.c) ---- */

/* Add a field (TEXT, LEN octets, whole lines ending in CRLF) on top of
 * the header, above everything added before it. */
void policy_msg_prepend(struct policy_msg *m, const char *text, size_t len);
/* Add a field at the end of the header section, after those added before. */
void policy_msg_append_header(struct policy_msg *m, const char *text, size_t len);
/* Offset in m->data of the empty line ending the header section (or
 * m->data.len when there is none); *BODY gets the offset after it. */
size_t policy_msg_header_end(const struct policy_msg *m, size_t *body);
/* Length of the final message: added fields + m->data. */
size_t policy_msg_len(const struct policy_msg *m);
/* Number of pieces policy_msg_iov() fills (m->hdrs.ntop + 3). */
size_t policy_msg_niov(const struct policy_msg *m);
/*
 * The final message as pieces, borrowed from M (valid until M changes):
 * top fields (last added first), m->data's header section, end fields,
 * then m->data from the empty line on.  IOV has policy_msg_niov()
 * entries; returns how many were used (empty pieces are left out).
 */
size_t policy_msg_iov(const struct policy_msg *m, struct iovec *iov);
/* The final header section (no empty line) appended to OUT: what the
 * DKIM stage signs and reads From: from; a copy of the header only. */
void policy_msg_header_block(const struct policy_msg *m, struct buf *out);
/* The whole final message appended to OUT (tests and tools; a copy). */
void policy_msg_render(const struct policy_msg *m, struct buf *out);
/* Free what M owns of the message: data, verdicts, hdrs. */
void policy_msg_free(struct policy_msg *m);
/* Drop the added fields only (m->hdrs). */
void policy_msg_free_headers(struct policy_msg *m);

/*
 * Header fix-ups (policy/headers.c), the EOM stage named "headers":
 * prepends Received: (client IP only when params->headers.received_client_ip),
 * adds Message-ID: and Date: when missing, removes every Bcc: field.
 */
int policy_headers(struct policy_msg *m, struct outcome *out);
/* EOM (policy/sender_id.c): the From: header domain must be one of the
 * account's domains: 550 5.7.1, or logged only (from_domain_action). */
int policy_from_domain(struct policy_msg *m, struct outcome *out);

/* Duration histograms of the EOM stages (table order): fills NAMES and
 * OUT (at most MAX); returns how many (metrics). */
struct histo;
size_t policy_eom_histograms(const char **names, struct histo *out, size_t max);

/*
 * The EOM stage "nul" (policy/limits.c), first of all: with
 * params->limits.reject_nul (smtpd_reject_nul), a message holding a NUL
 * byte anywhere is refused 554 5.6.0 (RFC 5321 §2.4 and RFC 5322 §2.3:
 * mail text has no NUL; BINARYMIME is not offered).
 */
int policy_stage_nul(struct policy_msg *m, struct outcome *out);

#endif
