/* SPDX-License-Identifier: ISC */
/*
 * ctl_dkim.h: the `posternctl dkim ...` and `posternctl domain check`
 * command groups (src/ctl_dkim.c).  They work directly on the key
 * directory (offline, as root or the operator), so they need no running
 * daemon; posternd picks up changes on the next message because the
 * DKIM stage reloads its key cache when the metadata file changes.
 * ARGV[0] is the group name ("dkim" / "domain").  Return the process
 * exit status: 0 ok, 1 failure (or: DNS not yet as required), 2 usage.
 */
#ifndef POSTERN_CTL_DKIM_H
#define POSTERN_CTL_DKIM_H

#include "config.h"

int ctl_dkim(int argc, char **argv, const struct config *cfg);
int ctl_domain(int argc, char **argv, const struct config *cfg);

#endif
