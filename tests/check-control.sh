#!/bin/sh
# SPDX-License-Identifier: ISC
#
# check-control.sh: the control plane's layering (README "Architecture",
# include/control.h), checked on the built objects (TAP, `make check`).
#
#  1. Control commands are registered by src/control/ alone: no object
#     outside it uses control_register() or any other *_register
#     function that src/control/ or src/ctl/ defines, except posternctl's main
#     (src/ctl/posternctl.o), which registers them for the offline
#     fallback.  In particular the SMTP listener registers none.
#  2. The daemon-side handlers live in src/control/: no object in
#     src/ctl/ (posternctl: argv and printing only) defines a function
#     that takes a control request, i.e. uses control_error(),
#     control_finish() or control_out().
#  3. No object outside src/control/ writes audit records itself
#     (queue_audit and the queue_audit_* helpers are the control
#     server's; queue/ stores them).
#
# Usage: check-control.sh [BUILDDIR [SRCDIR]]; by default the directories
# `make check` exports (POSTERN_BUILDDIR, POSTERN_SRCDIR).

set -u
B=${1:-${POSTERN_BUILDDIR:-.}}
S=${2:-${POSTERN_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
B=$(cd "$B" && pwd)
S=$(cd "$S" && pwd)
NM=${NM:-nm}

# Objects whose source still exists (an incremental build keeps stale ones).
objs=$(cd "$B" && find src smtp queue policy -name '*.o' 2>/dev/null | sort |
	while read -r o; do [ -f "$S/${o%.o}.c" ] && echo "$o"; done)
if [ -z "$objs" ]; then
	echo "1..0 # SKIP no objects under $B (build first)"
	exit 0
fi
echo "1..3"
fail=0

# symbols used (undefined) by each object: "object symbol"
uses=$(for o in $objs; do
	$NM -u "$B/$o" 2>/dev/null | awk -v o="$o" '{ print o, $NF }'
done)

# registration functions: control_register and every *_register defined
# in src/control/ or src/ctl/
regs=$(for o in $objs; do
	case "$o" in src/control/*|src/ctl/*) ;; *) continue ;; esac
	$NM --defined-only -g "$B/$o" 2>/dev/null | awk 'NF >= 3 && $3 ~ /_register$/ { print $3 }'
done | sort -u | tr '\n' ' ')
r1=$(printf '%s\n' "$uses" | awk -v regs="$regs" '
	BEGIN { n = split(regs, a, " "); for (i = 1; i <= n; i++) r[a[i]] = 1 }
	($2 in r) && $1 !~ /^src\/control\// && $1 != "src/ctl/posternctl.o" { print $1 " uses " $2 }')
if [ -n "$r1" ]; then
	echo "not ok 1 - only src/control/ registers control commands"
	printf '%s\n' "$r1" | sed 's/^/# /'
	fail=1
else
	echo "ok 1 - only src/control/ registers control commands (the listener registers none)"
fi

r2=$(printf '%s\n' "$uses" | awk '
	$2 ~ /^(control_error|control_finish|control_out|control_audit_intent)$/ &&
	    $1 !~ /^src\/control\// { print $1 " uses " $2 }')
if [ -n "$r2" ]; then
	echo "not ok 2 - command handlers live in src/control/, not src/ctl/ or elsewhere"
	printf '%s\n' "$r2" | sed 's/^/# /'
	fail=1
else
	echo "ok 2 - command handlers live in src/control/, not src/ctl/ or elsewhere"
fi

r3=$(printf '%s\n' "$uses" | awk '
	$2 ~ /^queue_audit/ && $1 !~ /^(src\/control|queue)\// { print $1 " uses " $2 }')
if [ -n "$r3" ]; then
	echo "not ok 3 - audit records are written by src/control/ only"
	printf '%s\n' "$r3" | sed 's/^/# /'
	fail=1
else
	echo "ok 3 - audit records are written by src/control/ only"
fi
exit $fail
