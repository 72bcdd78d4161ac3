#!/bin/sh
# SPDX-License-Identifier: ISC
#
# check-deps.sh: the layering rule of README "Architecture", checked on
# the built objects of this build tree (TAP, run by `make check`).
#
#  1. An object in smtp/, queue/ or policy/ may use symbols defined in
#     its own folder, in src/lib/, or outside the project (libc, libuv,
#     OpenSSL's libcrypto, ...).  Using a symbol that another project
#     object defines (src/conf/, src/net/, queue/ from policy/, ...) is
#     a violation.  Found with `nm -u` against `nm --defined-only`.
#  2. A file in smtp/, queue/ or policy/ includes no other folder's
#     private header (DIR/*_int.h, or any header that lives in a module
#     folder rather than include/).
#  3. Each external library's symbols appear in exactly one object:
#     ares_ (c-ares) in src/net/dns.o, SSL_ (libssl) in src/net/tls.o,
#     mdb_ (LMDB) in queue/db.o, dkim_ (libopendkim) in
#     policy/dkim_rsa.o, SPF_ (libspf2) in policy/spf.o, MHD_
#     (libmicrohttpd) in src/net/http.o, curl_ (libcurl) in
#     src/net/httpc.o.  Our own code
#     uses the prefix dkimsign_ so that dkim_ means libopendkim only.
#  4. No file in smtp/, queue/ or policy/ includes config.h, directly or
#     through a header of include/ that does: those modules take small
#     params structs (struct smtp_params, queue_params, policy_params)
#     that the composition root in src/ builds from the config.
#
# Usage: check-deps.sh [BUILDDIR [SRCDIR]]; by default the directories
# `make check` exports (POSTERN_BUILDDIR, POSTERN_SRCDIR).  Prints one
# TAP line per rule and the offending object/symbol pairs as comments.

set -u
B=${1:-${POSTERN_BUILDDIR:-.}}
S=${2:-${POSTERN_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
NM=${NM:-nm}
B=$(cd "$B" && pwd)
S=$(cd "$S" && pwd)

# Project objects (the library and the two programs; not tests/contrib).
# Only objects whose source still exists: a file removed or renamed
# leaves a stale .o behind in an incremental build.
objs=$(cd "$B" && find src smtp queue policy -name '*.o' 2>/dev/null | sort |
	while read -r o; do [ -f "$S/${o%.o}.c" ] && echo "$o"; done)
if [ -z "$objs" ]; then
	echo "1..0 # SKIP no objects under $B (build first)"
	exit 0
fi

echo "1..4"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# symbol -> defining object, for every global definition in the project.
for o in $objs; do
	$NM --defined-only -g "$B/$o" 2>/dev/null | awk -v o="$o" 'NF >= 3 { print $3, o }'
done | sort -k1,1 >"$tmp/defs"

# ---- rule 1: smtp/, queue/, policy/ call only src/lib/ and themselves
: >"$tmp/r1"
for o in $objs; do
	dir=${o%%/*}
	case "$dir" in smtp|queue|policy) ;; *) continue ;; esac
	$NM -u "$B/$o" 2>/dev/null | awk '{ print $NF }' | sort -u >"$tmp/u"
	join "$tmp/u" "$tmp/defs" | while read -r sym def; do
		case "$def" in
		src/lib/*|"$dir"/*) ;;
		*) echo "$o uses $sym (defined in $def)" ;;
		esac
	done >>"$tmp/r1"
done
# Violations still being removed (issue 11); this list must end empty.
KNOWN=""
printf '%s\n' "$KNOWN" | sed '/^$/d' >"$tmp/known"
grep -v -F -f "$tmp/known" "$tmp/r1" >"$tmp/r1n" 2>/dev/null || true
grep -F -f "$tmp/known" "$tmp/r1" | sed 's/^/# known, to remove: /'
mv "$tmp/r1n" "$tmp/r1"
if [ -s "$tmp/r1" ]; then
	echo "not ok 1 - smtp/, queue/, policy/ use only src/lib/ and their own folder"
	sed 's/^/# /' "$tmp/r1"
else
	echo "ok 1 - smtp/, queue/, policy/ use only src/lib/ and their own folder"
fi

# ---- rule 2: no folder includes another folder's private header
: >"$tmp/r2"
(cd "$S" && find smtp queue policy src -name '*.h' ! -path 'src/*' 2>/dev/null) >"$tmp/private"
for dir in smtp queue policy; do
	for f in $(cd "$S" && find "$dir" -name '*.[ch]' | sort); do
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$S/$f" |
		while read -r h; do
			base=${h##*/}
			# a private header of another folder?
			grep -E "/$base\$" "$tmp/private" | while read -r p; do
				case "$p" in "$dir"/*) ;; *) echo "$f includes $p" ;; esac
			done
			case "$h" in */*) echo "$f includes a path: $h" ;; esac
		done
	done
done >>"$tmp/r2"
if [ -s "$tmp/r2" ]; then
	echo "not ok 2 - no private header of another folder is included"
	sed 's/^/# /' "$tmp/r2"
else
	echo "ok 2 - no private header of another folder is included"
fi

# ---- rule 3: each external library behind exactly one object
: >"$tmp/r3"
for o in $objs; do
	$NM -u "$B/$o" 2>/dev/null | awk '{ print $NF }' | while read -r sym; do
		case "$sym" in
		ares_*) own=src/net/dns.o ;;
		SSL_*) own=src/net/tls.o ;;
		mdb_*) own=queue/db.o ;;
		dkim_*) own=policy/dkim_rsa.o ;;
		SPF_*) own=policy/spf.o ;;
		MHD_*) own=src/net/http.o ;;
		curl_*) own=src/net/httpc.o ;;
		*) continue ;;
		esac
		[ "$o" = "$own" ] || echo "$o uses $sym (only $own may)"
	done
done >>"$tmp/r3"
# and no project object defines a symbol with a library's prefix
awk '$1 ~ /^(ares_|SSL_|mdb_|dkim_|SPF_|MHD_|curl_)/ { print $2 " defines " $1 " (a library prefix)" }' \
	"$tmp/defs" >>"$tmp/r3"
if [ -s "$tmp/r3" ]; then
	echo "not ok 3 - each external library's symbols appear in its one file"
	sed 's/^/# /' "$tmp/r3"
else
	echo "ok 3 - each external library's symbols appear in its one file"
fi

# ---- rule 4: smtp/, queue/, policy/ never see the config
# Headers of include/ that reach config.h: the closure of "includes".
incs() { sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"; }
echo config.h >"$tmp/cfgh"
while :; do
	for h in $(cd "$S/include" && ls *.h); do
		grep -qx "$h" "$tmp/cfgh" && continue
		incs "$S/include/$h" | grep -qx -F -f "$tmp/cfgh" && echo "$h"
	done >"$tmp/cfgnew"
	[ -s "$tmp/cfgnew" ] || break
	cat "$tmp/cfgnew" >>"$tmp/cfgh"
done
: >"$tmp/r4"
for dir in smtp queue policy; do
	for f in $(cd "$S" && find "$dir" -name '*.[ch]' | sort); do
		incs "$S/$f" | grep -x -F -f "$tmp/cfgh" | while read -r h; do
			if [ "$h" = config.h ]; then
				echo "$f includes config.h"
			else
				echo "$f includes $h, which includes config.h"
			fi
		done
	done
done >>"$tmp/r4"
if [ -s "$tmp/r4" ]; then
	echo "not ok 4 - smtp/, queue/, policy/ do not include config.h"
	sed 's/^/# /' "$tmp/r4"
else
	echo "ok 4 - smtp/, queue/, policy/ do not include config.h"
fi

[ -s "$tmp/r1" ] || [ -s "$tmp/r2" ] || [ -s "$tmp/r3" ] || [ -s "$tmp/r4" ] && exit 1
exit 0
