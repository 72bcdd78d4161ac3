#!/bin/sh
# SPDX-License-Identifier: ISC
#
# deps.sh: install the Debian packages postern needs to build, run and
# test, but only those that are missing.  Safe to run any number of
# times; needs root (or sudo) only when something is missing.
# Usage: contrib/dev/deps.sh [build|test]

set -eu
what=${1:-test}

build_pkgs="build-essential autoconf automake libtool pkg-config openssl
libuv1-dev libc-ares-dev liblmdb-dev libssl-dev libopendkim-dev libspf2-dev
libmicrohttpd-dev libcurl4-openssl-dev libpsl-dev libidn2-dev"
test_pkgs="clang libclang-rt-14-dev lmdb-utils dnsmasq-base swaks iproute2
python3 python3-aiosmtpd python3-dkim python3-dnslib python3-dnspython
python3-spf opendkim-tools postfix libpcre2-dev libnet-ssleay-perl libio-socket-ssl-perl
libauthen-sasl-perl
rbldnsd bogofilter prometheus python3-stdnum curl"

pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$build_pkgs $test_pkgs"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

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
