/* SPDX-License-Identifier: ISC */
/*
 * outcome.c: constructors for the shared result type.  Texts are
 * sanitised here (CR, LF and control bytes become spaces) so an outcome
 * can always be sent as an SMTP reply line without further checks.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>

#include "outcome.h"

void
outcome_set(struct outcome *o, enum outcome_kind kind, int code,
    const char *enhanced, const char *fmt, ...)
{
	va_list ap;
	char *p;

	o->kind = kind;
	o->code = code;
	str_copy(o->enhanced, enhanced ? enhanced : "", sizeof(o->enhanced));
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
	for (p = o->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

const char *
outcome_strkind(enum outcome_kind kind)
{
	switch (kind) {
	case OUTCOME_OK: return "ok";
	case OUTCOME_TEMPFAIL: return "tempfail";
	case OUTCOME_PERMFAIL: return "permfail";
	case OUTCOME_HOLD: return "hold";
	case OUTCOME_PENDING: return "pending";
	}
	return "unknown";
}

enum outcome_kind
outcome_kind_of_code(int code)
{
	if (code >= 200 && code < 400)
		return OUTCOME_OK;
	if (code >= 400 && code < 500)
		return OUTCOME_TEMPFAIL;
	return OUTCOME_PERMFAIL;
}
