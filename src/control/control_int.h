/* SPDX-License-Identifier: ISC */
/*
 * control_int.h: module-private API of src/control/: the command
 * tables of cmd_queue.c, cmd_account.c, cmd_dkim.c, cmd_auth.c and cmd_status.c,
 * registered together by control_commands_register() (control.c).
 */
#ifndef POSTERN_CONTROL_INT_H
#define POSTERN_CONTROL_INT_H

void cmd_queue_register(void);
void cmd_account_register(void);
void cmd_dkim_register(void);
void cmd_status_register(void);
void cmd_auth_register(void);

#endif
