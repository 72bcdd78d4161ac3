#!/bin/sh
# SPDX-License-Identifier: ISC
#
# run.sh: build and run the sensitive-data scanner benchmark (dlp-scan.c)
# against a configured build tree.  Usage:
#   contrib/bench/dlp-scan/run.sh [BUILDDIR] [MiB per input] [repetitions]
# BUILDDIR defaults to _build/default (made by contrib/dev/test.sh).
# Needs libpcre2-dev (listed in contrib/dev/deps.sh).
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$top/_build/default}
size=${2:-64}
reps=${3:-5}
make -C "$build" -s libpostern.a
out="$build/dlp-scan"
${CC:-cc} -O2 -march=native -Wall -Wextra -I"$top/include" -I"$build" \
	"$top/contrib/bench/dlp-scan/dlp-scan.c" "$build/libpostern.a" \
	$(pkg-config --cflags --libs libpcre2-8) -lcrypto -o "$out"
"$out" "$size" "$reps"
