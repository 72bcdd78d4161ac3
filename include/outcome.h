/* SPDX-License-Identifier: ISC */
/*
 * outcome.h: the one result type shared by the SMTP session, policy
 * stages, the queue and delivery (STYLE rule 10): a kind, the SMTP
 * reply code, the RFC 3463 enhanced status code and a human text.
 * Replies are built from outcomes, so there are no bare 451 literals
 * scattered through the code.
 */
#ifndef POSTERN_OUTCOME_H
#define POSTERN_OUTCOME_H

#include "util.h"

enum outcome_kind {
	OUTCOME_OK = 0,
	OUTCOME_TEMPFAIL,
	OUTCOME_PERMFAIL,
	OUTCOME_HOLD,
	OUTCOME_PENDING,	/* a policy stage finishes later (include/policy.h) */
};

struct outcome {
	enum outcome_kind kind;
	int code;		/* 250, 451, 550, ... */
	char enhanced[16];	/* "4.3.0" */
	char text[256];		/* no CR/LF; never message content or AUTH data */
};

void outcome_set(struct outcome *o, enum outcome_kind kind, int code,
    const char *enhanced, const char *fmt, ...) PRINTF_LIKE(5, 6);
#define outcome_ok(o) outcome_set((o), OUTCOME_OK, 250, "2.0.0", "Ok")
const char *outcome_strkind(enum outcome_kind kind);
/* Kind implied by a reply code: 2xx ok, 4xx tempfail, 5xx permfail. */
enum outcome_kind outcome_kind_of_code(int code);

#endif
