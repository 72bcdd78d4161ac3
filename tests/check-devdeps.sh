#!/bin/sh
# SPDX-License-Identifier: ISC
#
# check-devdeps.sh: contrib/dev/deps.sh checks capabilities, not only
# packages (issue 12 item 14: swaks installed without Net::SSLeay has no
# TLS, and the README's swaks example and the swaks TLS tests failed on a
# fresh machine while deps.sh said nothing).  TAP, run by `make check`;
# installs nothing (DEPS_CHECK_ONLY=1):
#
#  1. On this machine, which just built postern, `deps.sh build` passes.
#  2. With a swaks on PATH that reports no TLS, `deps.sh run` exits 1 and
#     names the capability and the package.
#  3. With one whose AUTH is missing, it names AUTH.
#  4. Every Python module the tests import is in the standard library,
#     one of the tests' own, or in deps.sh's py_modules (with its
#     package): a test cannot bring in a module a fresh machine lacks.
#
# Usage: check-devdeps.sh [SRCDIR]; by default POSTERN_SRCDIR.

set -u
S=${1:-${POSTERN_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
deps="$S/contrib/dev/deps.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-devdeps.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "1..4"

if ! command -v autoreconf >/dev/null 2>&1; then
	# a build from a release tarball needs no autotools; deps.sh (for git
	# checkouts) would rightly report them missing
	echo "ok 1 # SKIP no autoreconf: not a development machine"
elif out=$(DEPS_CHECK_ONLY=1 sh "$deps" build 2>&1); then
	echo "ok 1 - deps.sh build: every build capability present"
else
	echo "not ok 1 - deps.sh build: every build capability present"
	printf '%s\n' "$out" | sed 's/^/# /'
fi

# fake_swaks DIR TLS AUTH: a swaks that reports what `swaks --support` would
fake_swaks() {
	mkdir -p "$1"
	{
		echo '#!/bin/sh'
		echo 'echo "=== Date Manipulation supported"'
		[ "$2" = yes ] && echo 'echo "=== TLS supported"' ||
			echo 'echo "*** TLS not available: requires Net::SSLeay" >&2'
		[ "$3" = yes ] && echo 'echo "=== Basic AUTH supported"' ||
			echo 'echo "*** Basic AUTH not available: requires MIME::Base64" >&2'
		echo 'exit 0'
	} >"$1/swaks"
	chmod +x "$1/swaks"
}

fake_swaks "$tmp/notls" no yes
out=$(PATH="$tmp/notls:$PATH" DEPS_CHECK_ONLY=1 sh "$deps" run 2>&1)
rc=$?
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "MISSING: swaks with TLS.*install: libnet-ssleay-perl"; then
	echo "ok 2 - swaks without TLS: deps.sh run fails and names libnet-ssleay-perl"
else
	echo "not ok 2 - swaks without TLS: deps.sh run fails and names libnet-ssleay-perl (exit $rc)"
	printf '%s\n' "$out" | sed 's/^/# /'
fi

fake_swaks "$tmp/noauth" yes no
out=$(PATH="$tmp/noauth:$PATH" DEPS_CHECK_ONLY=1 sh "$deps" run 2>&1)
rc=$?
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "MISSING: swaks with AUTH" &&
    ! printf '%s\n' "$out" | grep -q "swaks with TLS"; then
	echo "ok 3 - swaks without AUTH: named, and TLS is not blamed"
else
	echo "not ok 3 - swaks without AUTH: named, and TLS is not blamed (exit $rc)"
	printf '%s\n' "$out" | sed 's/^/# /'
fi

# 4: the tests' imports against deps.sh's py_modules
mods=$(sed -n '/^py_modules="/,/"$/p' "$deps" | tr -d '"' | sed 's/^py_modules=//' |
	tr ' ' '\n' | sed -n 's/:.*//p' | tr '\n' ' ')
own=$(for f in "$S"/tests/*.py "$S"/tests/integration/*.py; do basename "$f" .py; done;
	echo harness)
imports=$(cat "$S"/tests/*.py "$S"/tests/integration/*.py "$S"/tests/integration/harness/*.py \
	2>/dev/null | sed -n \
	    -e 's/^[[:space:]]*import[[:space:]]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' \
	    -e 's/^[[:space:]]*from[[:space:]]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\)[A-Za-z0-9_.]*[[:space:]]\{1,\}import[[:space:]].*/\1/p' |
	sort -u)
missing=$(/usr/bin/python3 - "$mods" "$(echo $own)" $imports <<'PY'
import sys
listed = set(sys.argv[1].split())
own = set(sys.argv[2].split())
std = getattr(sys, "stdlib_module_names", None)
for m in sys.argv[3:]:
    if m in listed or m in own or m == "__future__":
        continue
    if std is not None and m in std:
        continue
    if std is None:
        try:
            __import__(m)
            continue
        except ImportError:
            pass
    print(m)
PY
)
if [ -z "$missing" ]; then
	echo "ok 4 - every Python module the tests import is stdlib, the tests' own, or in deps.sh py_modules"
else
	echo "not ok 4 - every Python module the tests import is stdlib, the tests' own, or in deps.sh py_modules"
	echo "# not in py_modules: $missing"
fi
