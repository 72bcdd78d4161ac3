/* SPDX-License-Identifier: ISC */
/*
 * policy.c: the stage runner.  Stages run in order on one message;
 * the first outcome that is not OK ends the run and becomes the
 * answer (DESIGN.md §7).  A stage that asks for "hold" does so by
 * setting m->hold and returning OK, so later stages (DKIM) still run.
 */
#include "autoconfig.h"

#include "log.h"
#include "policy.h"

int
policy_run(const struct policy_stage *stages, size_t n, struct policy_msg *m,
    struct outcome *out)
{
	size_t i;

	outcome_ok(out);
	for (i = 0; i < n; i++) {
		if (stages[i].run(m, out) != 0 || out->kind != OUTCOME_OK) {
			if (out->kind == OUTCOME_OK)
				outcome_set(out, OUTCOME_TEMPFAIL, 451, "4.3.0",
				    "Policy stage %s failed", stages[i].name);
			log_debug("event=policy stage=%s outcome=%s code=%d", stages[i].name,
			    outcome_strkind(out->kind), out->code);
			return -1;
		}
	}
	return 0;
}
