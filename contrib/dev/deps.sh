#!/bin/sh
# SPDX-License-Identifier: ISC
#
# deps.sh: install the Debian packages postern needs to build, run and
# test, but only those that are missing, then check that what the build,
# the README's examples and the tests rely on really works, and fail
# loudly (exit 1, naming the package) if it does not.  Installed
# packages are not enough: with --no-install-recommends swaks installs
# without TLS (it needs libnet-ssleay-perl), and the README's swaks
# example and every swaks TLS test then fail on a fresh machine (issue
# 12 item 14).  Safe to run any number of times; needs root (or sudo)
# only when something is missing.
#
# Usage: contrib/dev/deps.sh [build|run|test]
#   build  compile postern (configure's libraries and tools)
#   run    build + what contrib/dev/run.sh and the README examples use
#   test   run + what `make check` and contrib/dev/test.sh use (default)
# With DEPS_CHECK_ONLY=1 nothing is installed: only the checks run
# (tests/check-devdeps.sh uses that to show a missing capability fails).
#
# Where each test tool is used (keep this list and the tests in step):
#   swaks (+ Net::SSLeay, IO::Socket::SSL: TLS; Authen::SASL: AUTH)
#                        README examples, test_smtp_submission, test_smtp_relay
#   openssl              run.sh certificates, harness make_cert, s_client tests
#   dnsmasq-base         harness Dns (every DNS-dependent test)
#   iproute2             harness Netns (ip netns) for whole-system tests
#   opendkim-tools       opendkim-testmsg (test_dkim)
#   python3-dkim         dkim module and dkimverify (test_dkim*, test_dlp_delivery)
#   python3-dnspython    dns.resolver (harness dns.py, test_harness)
#   python3-aiosmtpd     the harness sink (harness/sink.py)
#   python3-cryptography AES-GCM in tests/integration/rawscan.py (privacy at rest)
#   postfix              smtp-sink (harness), smtp-source/smtp-sink (contrib/bench)
#   lmdb-utils           mdb_stat/mdb_dump when inspecting a queue by hand
#   clang, libclang-rt-14-dev  libFuzzer targets (test.sh step 3)
#   python3-dnslib, python3-spf, libpcre2-dev, rbldnsd, bogofilter,
#   passwd (useradd)     reviewer-role tests (test_review*, test_ops_cli, test_privacy_verify)
#   mount, e2fsprogs     test_queue_diskfull (tmpfs, loop-mounted ext4)
#   prometheus (promtool), python3-stdnum, curl
#                        peers for features being built (blocklists, spam,
#                        metrics, DLP corpus, HTTP); kept so every branch
#                        finds them
#   strace, libidn12     contrib/bench/compare's durability probe and the
#                        Exim it runs from the peers cache (peers-setup.sh)
#   gdb                  test_keystore_pool_crash (posternd stopped at a
#                        source line and killed there)

set -eu
what=${1:-test}
case "$what" in build|run|test) ;; *) echo "usage: deps.sh [build|run|test]" >&2; exit 2 ;; esac

build_pkgs="build-essential autoconf automake libtool pkg-config openssl
libuv1-dev libc-ares-dev liblmdb-dev libssl-dev libopendkim-dev libspf2-dev
libmicrohttpd-dev libcurl4-openssl-dev libpsl-dev libidn2-dev"
run_pkgs="swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl"
test_pkgs="clang libclang-rt-14-dev lmdb-utils dnsmasq-base iproute2
python3 python3-aiosmtpd python3-dkim python3-dnslib python3-dnspython
python3-spf python3-cryptography opendkim-tools postfix libpcre2-dev
rbldnsd bogofilter prometheus python3-stdnum curl passwd mount e2fsprogs
strace libidn12 gdb"

# The Python modules the tests import that are not in the standard
# library, MODULE:PACKAGE (tests/check-devdeps.sh checks this list against
# the tests' imports, so a new import cannot be forgotten here).
py_modules="dkim:python3-dkim dns:python3-dnspython aiosmtpd:python3-aiosmtpd
dnslib:python3-dnslib spf:python3-spf stdnum:python3-stdnum
cryptography:python3-cryptography"

pkgs=$build_pkgs
[ "$what" != build ] && pkgs="$pkgs $run_pkgs"
[ "$what" = test ] && pkgs="$pkgs $test_pkgs"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ] && [ "${DEPS_CHECK_ONLY:-0}" = 1 ]; then
	echo "deps: not installed:$missing" >&2
elif [ -n "$missing" ]; then
	echo "deps: installing$missing"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	# Postfix is used only as a benchmark peer and for smtp-sink/smtp-source:
	# never let its installer configure a system mailer.
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	$SUDO apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# ---- capabilities: what the build, the examples and the tests rely on ----
bad=0
need() {	# need PACKAGE WHAT COMMAND...: COMMAND must succeed
	pkg=$1
	why=$2
	shift 2
	if ! "$@" >/dev/null 2>&1; then
		echo "deps: MISSING: $why (install: $pkg)" >&2
		bad=1
	fi
}
have() { command -v "$1" >/dev/null 2>&1; }

need pkg-config "pkg-config" have pkg-config
for m in libuv:libuv1-dev libcares:libc-ares-dev openssl:libssl-dev \
    libmicrohttpd:libmicrohttpd-dev libcurl:libcurl4-openssl-dev libpsl:libpsl-dev \
    libidn2:libidn2-dev; do
	need "${m#*:}" "pkg-config module ${m%%:*}" pkg-config --exists "${m%%:*}"
done
need "build-essential" "a C compiler and make" sh -c 'command -v cc && command -v make'
need "autoconf automake libtool" "autoreconf" have autoreconf
need libssl-dev "OpenSSL 3 or later" pkg-config --atleast-version=3.0 openssl
need openssl "the openssl tool" openssl version
need liblmdb-dev "lmdb.h" test -f /usr/include/lmdb.h
need libopendkim-dev "opendkim.h" test -f /usr/include/opendkim/dkim.h
need libspf2-dev "spf2/spf.h" test -f /usr/include/spf2/spf.h

if [ "$what" != build ]; then
	# swaks reports what it can do; without Net::SSLeay it has no TLS
	sup=$(swaks --support 2>&1 || true)
	need swaks "swaks" have swaks
	need "libnet-ssleay-perl libio-socket-ssl-perl" "swaks with TLS (STARTTLS, -tlsc)" \
	    sh -c 'printf "%s\n" "$1" | grep -q "^=== TLS supported"' - "$sup"
	need "swaks libauthen-sasl-perl" "swaks with AUTH" \
	    sh -c 'printf "%s\n" "$1" | grep -q "^=== Basic AUTH supported"' - "$sup"
	printf '%s\n' "$sup" | grep -E '^\*\*\* (TLS|Basic AUTH) not available' |
	    sed 's/^/deps:   swaks --support says: /' >&2 || true
fi

if [ "$what" = test ]; then
	py=/usr/bin/python3	# the tests' interpreter (PY_LOG_COMPILER)
	need python3 "$py" test -x $py
	need python3 "python ssl module" $py -c 'import ssl'
	for m in $py_modules; do
		need "${m#*:}" "python module ${m%%:*} for $py" $py -c "import ${m%%:*}"
	done
	need python3-dnspython "python dns.resolver" $py -c 'import dns.resolver'
	need python3-aiosmtpd "python aiosmtpd.controller" $py -c 'import aiosmtpd.controller'
	need python3-dkim "dkimverify" have dkimverify
	need dnsmasq-base "dnsmasq" have dnsmasq
	need iproute2 "ip (network namespaces)" have ip
	need opendkim-tools "opendkim-testmsg" have opendkim-testmsg
	need postfix "smtp-sink" have smtp-sink
	need postfix "smtp-source" have smtp-source
	need lmdb-utils "mdb_stat" have mdb_stat
	need rbldnsd "rbldnsd" have rbldnsd
	need bogofilter "bogofilter" have bogofilter
	need prometheus "promtool" have promtool
	need curl "curl" have curl
	# reviewer-role tests make a real user and group; disk-full tests
	# mount a tmpfs and a loop-mounted ext4 (both are in a normal Debian
	# install, not in the smallest bootstrap variants)
	need passwd "useradd and groupadd" sh -c 'command -v useradd && command -v groupadd'
	need mount "mount and losetup" sh -c 'command -v mount && command -v losetup'
	need e2fsprogs "mkfs.ext4" have mkfs.ext4
	need gdb "gdb" have gdb
	need "swaks libnet-ssleay-perl" "openssl s_client for STARTTLS tests" \
	    sh -c 'openssl s_client -help 2>&1 | grep -q starttls'
	# libFuzzer: clang must link -fsanitize=fuzzer (libclang-rt-*-dev)
	t=$(mktemp -d "${TMPDIR:-/tmp}/deps-fuzz.XXXXXX")
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$t/f.c"
	need "clang libclang-rt-14-dev" "clang -fsanitize=fuzzer" clang -fsanitize=fuzzer "$t/f.c" -o "$t/f"
	rm -rf "$t"
fi

if [ $bad -ne 0 ]; then
	echo "deps: some capabilities are missing (see above); install the packages named and run again" >&2
	exit 1
fi
exit 0
