#!/bin/sh
# SPDX-License-Identifier: ISC
#
# run-fuzzers.sh DIR: build every libFuzzer target with clang in DIR
# (configure --enable-fuzzing --enable-asan --enable-ubsan) and run each
# over its seed corpus for FUZZ_TIME seconds (default 15).  New inputs
# go to DIR/corpus/NAME (the source tree stays read-only), crashes to
# DIR/artifacts/.  Exits non-zero if any target crashes, leaks or
# trips a sanitizer.  contrib/dev/test.sh calls it as step 3.

set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD-DIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
time=${FUZZ_TIME:-15}
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2

if [ ! -f "$dir/Makefile" ] || [ "$top/configure" -nt "$dir/Makefile" ]; then
	(cd "$dir" && CC=clang "$top/configure" -q --enable-fuzzing --enable-asan \
	    --enable-ubsan --disable-werror) || exit 1
fi
make -C "$dir" -s -j"$jobs" fuzz-targets >/dev/null || make -C "$dir" fuzz-targets || exit 1

failed=0
mkdir -p "$dir/artifacts"
for t in $(make -C "$dir" -s --no-print-directory fuzz-list); do
	name=${t##*/fuzz_}
	seeds="$top/tests/fuzz/corpus/$name"
	mkdir -p "$dir/corpus/$name"
	log="$dir/artifacts/$name.log"
	if ASAN_OPTIONS=detect_leaks=1 "$dir/$t" -max_total_time="$time" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$dir/artifacts/$name-" \
	    "$dir/corpus/$name" "$seeds" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "fuzz $name: ok (${runs:-?} runs in ${time}s)"
	else
		echo "fuzz $name: FAILED (log: $log)"
		tail -n 40 "$log"
		failed=1
	fi
done
exit $failed
