/* SPDX-License-Identifier: ISC */
/*
 * ctl.h: posternctl's client side (posternctl(8)).  src/posternctl.c
 * holds the table of command groups; each group lives in its own
 * src/ctl_<group>.c and adds ONE line to that table plus its
 * declaration below.  Helpers here talk to the daemon over the control
 * socket (include/control.h), or, for read-only commands while the
 * daemon is down, run the same handler in-process on a read-only
 * queue, so the output is identical either way.
 *
 * Exit codes: CTL_EXIT_OK 0, CTL_EXIT_FAIL 1 (not found, refused,
 * daemon error), CTL_EXIT_USAGE 2.
 */
#ifndef POSTERN_CTL_H
#define POSTERN_CTL_H

#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "json.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

struct queue;

struct ctl {
	const char *config_path;	/* -c, or the default */
	const char *socket_path;	/* -s, or control_socket from the config */
	int json;			/* --json anywhere on the command line */
	int offline_ok;			/* set by read-only commands */
	struct config *cfg;		/* loaded on demand */
	struct queue *queue;		/* read-only queue when offline */
	int fd;				/* connection, -1 until connected */
	const char *prog;
	int config_given;		/* -c or $POSTERN_CONF (not the default) */
	int offline;			/* the last ctl_call ran offline (daemon down) */
	int error_reported;		/* ctl_error() ran: the error was printed (JSON too) */
};

/*
 * One row of posternctl's command table (src/ctl/posternctl.c).  VERBS
 * (space-separated, NULL for a group without verbs) drive the shared
 * behaviour: usage errors and "did you mean" for unknown verbs, --help,
 * completion; USAGE is printed by --help (stdout, exit 0) and on usage
 * errors (stderr, exit 2).
 */
struct ctl_group {
	const char *name;
	int (*main)(struct ctl *c, int argc, char **argv);
	const char *summary;
	const char *verbs;
	const char *usage;
};
const struct ctl_group *ctl_group_find(const char *name);
/* Print group NAME's usage text to F. */
void ctl_group_usage(const char *name, FILE *f);

/*
 * Report an error and return STATUS (CTL_EXIT_FAIL, CTL_EXIT_USAGE):
 * "posternctl: MESSAGE" on stderr, and with --json also
 * {"status":STATUS,"error":"MESSAGE"} on stdout.
 */
int ctl_error(struct ctl *c, int status, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* The closest of the space-separated WORDS to WORD (edit distance at
 * most 2, or a unique prefix) in OUT; 1 if found. */
int ctl_did_you_mean(const char *words, const char *word, char *out, size_t outlen);

/* The loaded config (defaults when the file is absent and -s was given). */
const struct config *ctl_config(struct ctl *c);

/*
 * Send CMD with ARGS (JSON object text, or NULL for {}) and wait for the
 * response.  When the daemon is not reachable and OFFLINE is set, the
 * command runs in-process on the queue opened read-only.  Returns the
 * response status (0/1/2) and sets *RESULT to the parsed "result" (may
 * be NULL; free with json_free via *ROOT).  Errors are printed to
 * stderr as "posternctl: ...".
 */
int ctl_call(struct ctl *c, const char *cmd, const char *args, int offline,
    struct json_value **root, const struct json_value **result);

/* 1 when posternd answers on the control socket. */
int ctl_daemon_running(struct ctl *c);

/* Print JSON value V on one line (for --json). */
void ctl_print_json(const struct json_value *v, FILE *out);

/* Aligned tables for human output. */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
void ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl_table *t, FILE *out);
void ctl_table_free(struct ctl_table *t);

/* "2026-11-23 09:12:03" from wall-clock ms (UTC). */
const char *ctl_fmt_time(uint64_t ms, char *out, size_t outlen);
/* "42s", "3m", "5h", "2d" */
const char *ctl_fmt_age(uint64_t ms, char *out, size_t outlen);

void ctl_usage_error(struct ctl *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* ---- command groups: one entry each in posternctl.c ---- */
extern const char ctl_queue_usage[];
extern const char ctl_dkim_usage[];
extern const char ctl_account_usage[];
extern const char ctl_review_usage[];
extern const char ctl_suppress_usage_text[];
extern const char ctl_spam_usage[];
extern const char ctl_auth_usage_text[];
/* src/ctl/ctl_status.c: status, config, setup, delivery. */
int ctl_status_main(struct ctl *c, int argc, char **argv);
int ctl_config_main(struct ctl *c, int argc, char **argv);
int ctl_setup_main(struct ctl *c, int argc, char **argv);
int ctl_delivery_main(struct ctl *c, int argc, char **argv);
int ctl_queue_main(struct ctl *c, int argc, char **argv);
int ctl_audit_main(struct ctl *c, int argc, char **argv);
/* src/ctl_dkim.c: work on the key directory directly (no daemon needed). */
int ctl_dkim_main(struct ctl *c, int argc, char **argv);
int ctl_domain_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_account.c: `posternctl account ...`. */
int ctl_account_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_spam.c: `posternctl spam ...` on the model directory (issue 15). */
int ctl_spam_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_suppress.c: `posternctl suppress ...`. */
int ctl_suppress_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_review.c: `posternctl review ...` (issue 16). */
int ctl_review_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_backup.c: `posternctl backup DIR`, `posternctl restore DIR`. */
int ctl_backup_main(struct ctl *c, int argc, char **argv);
int ctl_restore_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_subject.c: `posternctl subject ...`, `posternctl receipt ...` (issue 17). */
int ctl_subject_main(struct ctl *c, int argc, char **argv);
int ctl_receipt_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_retention.c: `posternctl retention show` (issue 17). */
int ctl_retention_main(struct ctl *c, int argc, char **argv);
/* src/ctl/ctl_auth.c */
int ctl_auth_main(struct ctl *c, int argc, char **argv);

#endif
