/* SPDX-License-Identifier: ISC */
/*
 * control.h: the control socket (DESIGN.md §9, posternctl(8)).
 *
 * posternd listens on the Unix socket `control_socket`.  Protocol: one
 * JSON object per line each way.
 *   request:  {"cmd":"queue.hold","args":{"ids":["0F3K..."]}}
 *   response: {"ok":true,"status":0,"result":<any JSON value>}
 *             {"ok":false,"status":1,"error":"no such message"}
 * status is what posternctl exits with: 0 ok, 1 not found / refused /
 * failed, 2 usage.  Requests on one connection are answered in order;
 * the server stops reading while one is in progress.
 *
 * Roles come from SO_PEERCRED: uid 0, the daemon's own uid and members
 * of operator_group are operators; members of reviewer_group are
 * reviewers (review.*, read-only account summaries); anyone else is
 * refused.  Every refusal for the role is audited, mutating or not.  Every command whose table entry
 * says `mutating` has an audit record (who, role, what, target, when,
 * result) durable before the response is sent: written by the queue in
 * the transaction of the effect (control_audit_txn), or by control.c
 * for requests refused or failed before that.
 *
 * Command handlers live in src/control/, one file per group
 * (cmd_queue.c, cmd_account.c, cmd_dkim.c, cmd_auth.c), each with its table:
 *
 *   static const struct control_cmd cmds[] = {
 *       { "account.add", CONTROL_ROLE_OPERATOR, 1, account_cmd_add },
 *   };
 *   control_register(cmds, ARRAY_SIZE(cmds));
 *
 * and control_commands_register() (control_start(), posternctl's
 * offline fallback) registers them all.
 *
 * A handler writes ONE JSON value (usually an object) to OUT and
 * returns CONTROL_OK, or returns control_error(req, status, fmt, ...),
 * or returns CONTROL_ASYNC and later calls control_finish(req, status)
 * exactly once (on the loop thread), e.g. from a queue callback.
 * Handlers set req->target (message id, account name...) for the audit
 * record; never put secrets (passwords, keys) there or in the result.
 */
#ifndef POSTERN_CONTROL_H
#define POSTERN_CONTROL_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "json.h"
#include "util.h"

struct queue;
struct queue_audit;
struct spam_store;
struct spamdb;
struct auth_guard;

enum control_role {
	CONTROL_ROLE_NONE = 0,
	CONTROL_ROLE_REVIEWER = 1,
	CONTROL_ROLE_OPERATOR = 2,
};
const char *control_strrole(enum control_role r);

#define CONTROL_OK 0
#define CONTROL_FAIL 1		/* not found, refused, failed: exit 1 */
#define CONTROL_USAGE 2		/* bad arguments: exit 2 */
#define CONTROL_ASYNC (-1)	/* handler will call control_finish() */

struct control_req {
	const char *cmd;
	const struct json_value *args;	/* the "args" object; may be NULL */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];			/* peer's user name (or uid) */
	enum control_role role;
	char target[256];		/* for the audit record; set by the handler */
	char reason[256];		/* the reason text given (review.*), audited */
	char error[512];
	/* Context for handlers (borrowed). */
	uv_loop_t *loop;		/* NULL when run offline by posternctl */
	const struct config *cfg;
	struct queue *queue;		/* may be read-only offline */
	const struct spam_store *spam;	/* the daemon's spam model (include/spam.h), or NULL */
	struct spamdb *spamdb;		/* the same as a store (include/spamdb.h), or NULL */
	struct auth_guard *auth_guard;	/* AUTH lockouts; NULL offline */
	void *priv;			/* control.c's connection state */
	struct json_out *out;		/* the result writer (control_out()) */
	int local_done, local_status;	/* control_run_local() */
	int audit_read;			/* control_audit_read() accepted this read */
	int result_on_error;		/* send the result with an error too (receipts) */
};

typedef int (*control_handler)(struct control_req *req, struct json_out *out);

struct control_cmd {
	const char *name;		/* "group.verb" */
	enum control_role min_role;
	int mutating;			/* audited */
	control_handler handler;
};

/* Register every daemon-side command table of src/control/ (queue.*,
 * audit.*, account.*, dkim.*): called by control_start() and by
 * posternctl for the offline fallback.  No other module registers
 * commands (tests/check-control.sh checks it). */
void control_commands_register(void);

/* Add commands (the table must outlive the server; later names win). */
void control_register(const struct control_cmd *cmds, size_t n);
const struct control_cmd *control_lookup(const char *name);

/* Record an error message; returns STATUS for `return control_error(...)`. */
int control_error(struct control_req *req, int status, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
/* Complete a CONTROL_ASYNC request; OUT of the handler is still valid. */
void control_finish(struct control_req *req, int status);
/* The result writer of an async request (same as the handler's OUT). */
struct json_out *control_out(struct control_req *req);

/*
 * The audit record of REQ for a queue mutation that commits it in the
 * same LMDB transaction as its effect (struct queue_audit, queue.h):
 * who, role, command and REQ's target as set now; the queue adds the
 * status and the ids it changed.  UNCHANGED_OK: messages with nothing to
 * change are not an error (--all-matching).  Owned by REQ; NULL offline.
 * When the queue answers OK or permfail the record was committed: call
 * control_audit_committed(REQ) and control_finish() writes no other
 * (after a tempfail it writes one with the failure).
 */
const struct queue_audit *control_audit_txn(struct control_req *req, int unchanged_ok);
void control_audit_committed(struct control_req *req);

/*
 * A read that returns decrypted content or plaintext addresses (issue
 * 13): its response is sent only once its audit record (who, role,
 * command, target, "reason" from the request's args) is committed, and
 * not at all if the record cannot be written.  1: go ahead, the read
 * is audited; 0: it cannot be audited (posternctl offline, no daemon):
 * return nothing decrypted; -1: refused (a reviewer gave no reason;
 * REQ's error is set, return it).
 */
int control_audit_read(struct control_req *req);

/*
 * Write-ahead audit for effects outside LMDB (the DKIM key files): commit
 * an audit record of REQ with "phase":"intent" and call CB(ARG, 0) on the
 * loop once it is durable (or a negative errno: then change nothing).
 * The result record follows as usual when the request finishes.
 * Returns 0, or a negative errno (offline: -EROFS) without calling CB.
 */
typedef void (*control_audit_cb)(void *arg, int status);
int control_audit_intent(struct control_req *req, control_audit_cb cb, void *arg);

/*
 * Check a data-subject request receipt (cmd_subject.c): TEXT (LEN
 * octets, one JSON line) must carry PUB as its key and an Ed25519
 * signature by PUB over every octet before its `,"sig":"`.  0, or -1
 * with ERR saying what is wrong.
 */
int control_receipt_verify(const char *text, size_t len, const unsigned char *pub,
    char *err, size_t errlen);
/* What only the daemon knows, for the `status` command (src/control/
 * cmd_status.c); set once by src/daemon/control_module.c, borrowed. */
struct control_daemon_info {
	const char *config_path;	/* absolute path of postern.conf */
	uint64_t started;		/* wall ms when posternd started */
};
void control_set_daemon_info(const struct control_daemon_info *info);

struct control;
/* Bind the socket (unlinking a stale one) and start accepting. */
struct control *control_start(uv_loop_t *loop, const struct config *cfg,
    struct queue *q, char *err, size_t errlen);
/* Stop accepting, close connections; pending async requests are
 * answered only if they finish before the loop ends. */
void control_stop(struct control *c);

/* The AUTH guard the auth.* commands read and clear (posternd's). */
void control_set_auth_guard(struct control *c, struct auth_guard *g);

/* Adopt a new config (role groups); the socket path is not changed. */
void control_reload(struct control *c, const struct config *cfg);
/* The spam model handlers (src/control/cmd_spam.c) learn into; both
 * borrowed, NULL when posternd has none. */
void control_set_spam(struct control *c, const struct spam_store *store, struct spamdb *db);

/* The posternd module callbacks are in daemon.h (src/daemon/control_module.c). */

/*
 * Run one request in-process (posternctl offline mode, tests): builds
 * the response line (without newline) into OUT.  Only for handlers that
 * do not return CONTROL_ASYNC; returns the status.
 */
int control_run_local(const char *line, size_t len, enum control_role role,
    const struct config *cfg, struct queue *q, struct buf *out);

#endif
