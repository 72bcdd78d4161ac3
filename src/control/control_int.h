/* SPDX-License-Identifier: ISC */
/*
 * control_int.h: module-private API of src/control/: the command
 * tables of cmd_queue.c, cmd_account.c, cmd_dkim.c, cmd_auth.c, cmd_suppress.c,
 * cmd_review.c and cmd_status.c,
 * registered together by control_commands_register() (control.c).
 */
#ifndef POSTERN_CONTROL_INT_H
#define POSTERN_CONTROL_INT_H

#include <uv.h>

struct config;
struct queue;

void cmd_queue_register(void);
void cmd_account_register(void);
void cmd_dkim_register(void);
void cmd_spam_register(void);
void cmd_status_register(void);
void cmd_suppress_register(void);
void cmd_review_register(void);
void cmd_subject_register(void);
void cmd_retention_register(void);

/* The hold expiry (review_hold_expiry, cmd_review.c): a timer on LOOP
 * that rejects undecided held mail with an audit record by "system".
 * *CFG is read at every run (the control server swaps it on reload). */
struct review_expiry;
struct review_expiry *review_expiry_start(uv_loop_t *loop, const struct config *const *cfg,
    struct queue *q);
void review_expiry_stop(struct review_expiry *e);
void cmd_auth_register(void);

#endif
