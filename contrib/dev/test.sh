#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test.sh: the one command that builds postern and runs the whole test
# suite on a fresh Debian machine (README, Quick start).  It installs
# missing packages, then:
#   1. a normal build (-Wall -Wextra -Werror) and `make check`;
#   2. an ASan+UBSan build and `make check` again;
#   3. a clang/libFuzzer build of the fuzz targets, each run over its
#      corpus (the corpora also replay in step 1 and 2 without libFuzzer).
# Builds live under _build/ so the source tree stays clean; running it
# twice rebuilds only what changed.  Exits non-zero on any failure and
# ends with the automake summary of each step.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

sh contrib/dev/deps.sh test

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ] \
    || [ -n "$(find . -name local.mk -newer Makefile.in 2>/dev/null)" ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi

summary=""
failed=0

# run_step NAME CONFIGURE-ARGS...: configure (if needed), build, check.
run_step() {
	name=$1
	shift
	dir="_build/$name"
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
		(cd "$dir" && "$top/configure" -q "$@") || return 1
	fi
	make -C "$dir" -s -j"$jobs" >/dev/null || make -C "$dir" -j1 || return 1
	rc=0
	make -C "$dir" -s -j"$jobs" check >"$dir/check.out" 2>&1 || rc=$?
	grep -E '^(Testsuite summary|# [A-Z]+: )' "$dir/check.out" || true
	if [ $rc -ne 0 ]; then
		grep -E '^(FAIL|ERROR|XPASS)' "$dir/check.out" || true
		for log in $(grep -lE '^(not ok|Bail out)' $(find "$dir" -name '*.log' ! -name test-suite.log) 2>/dev/null); do
			echo "---- $log"
			tail -n 60 "$log"
		done
	fi
	pass=$(sed -n 's/^# PASS: *//p' "$dir/test-suite.log" 2>/dev/null || echo 0)
	fail=$(sed -n 's/^# FAIL: *//p' "$dir/test-suite.log" 2>/dev/null || echo 0)
	err=$(sed -n 's/^# ERROR: *//p' "$dir/test-suite.log" 2>/dev/null || echo 0)
	skip=$(sed -n 's/^# SKIP: *//p' "$dir/test-suite.log" 2>/dev/null || echo 0)
	summary="$summary
$name: ${pass:-0} passed, $(( ${fail:-0} + ${err:-0} )) failed, ${skip:-0} skipped"
	return $rc
}

echo "== step 1: build and test (gcc, -Werror)"
run_step default || failed=1

echo "== step 2: build and test under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	run_step sanitize --enable-asan --enable-ubsan || failed=1

if [ -f tests/fuzz/run-fuzzers.sh ]; then
	echo "== step 3: libFuzzer targets (clang) over their corpora"
	sh tests/fuzz/run-fuzzers.sh "$top/_build/fuzz" || failed=1
fi

echo "== summary$summary"
total_pass=0
total_fail=0
total_pass=$(printf '%s\n' "$summary" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p' | awk '{s+=$1} END {print s+0}')
total_fail=$(printf '%s\n' "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p' | awk '{s+=$1} END {print s+0}')
[ $failed -ne 0 ] && [ "$total_fail" -eq 0 ] && total_fail=1
echo "total: $total_pass passed, $total_fail failed"
exit $failed
