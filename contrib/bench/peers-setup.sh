#!/bin/sh
# SPDX-License-Identifier: ISC
#
# peers-setup.sh: fetch and unpack the other MTAs that contrib/bench/compare
# measures against postern (issue 20), without installing them.  Debian's
# MTA packages conflict with each other and with postfix (which the test
# suite needs for smtp-sink/smtp-source), so the .deb files are only
# downloaded (`apt-get download`) and unpacked (`dpkg -x`) into a cache
# directory outside the repository; compare runs the binaries from there
# with their own config files in a temp dir.  Haraka comes from npm into the
# same cache.  Idempotent: what is already unpacked is left alone.  Each
# peer is optional: a failure is reported and the others still set up;
# compare skips (with a note) any peer it cannot find.
#
# Usage: sh contrib/bench/peers-setup.sh [CACHE_DIR]
#   CACHE_DIR defaults to $POSTERN_BENCH_PEERS or /var/cache/postern-bench/peers.

set -u
CACHE=${1:-${POSTERN_BENCH_PEERS:-/var/cache/postern-bench/peers}}
mkdir -p "$CACHE/debs" "$CACHE/root" || exit 1
status=0

# Package sets per peer (compare writes each one's config itself).  Their
# libraries are in the postern dev environment except Exim's libidn12,
# which contrib/dev/deps.sh installs: Exim is setuid root and re-executes
# itself, so LD_LIBRARY_PATH cannot point it at an unpacked copy.
deb_peer() {
	name=$1; shift
	stamp="$CACHE/root/.$name.done"
	if [ -f "$stamp" ]; then
		echo "peers-setup: $name: already unpacked"
		return 0
	fi
	for pkg in "$@"; do
		if ! ls "$CACHE/debs/${pkg}"_*.deb >/dev/null 2>&1; then
			(cd "$CACHE/debs" && apt-get download "$pkg" >/dev/null 2>&1) || {
				echo "peers-setup: $name: apt-get download $pkg failed" >&2
				return 1
			}
		fi
		for deb in "$CACHE/debs/${pkg}"_*.deb; do
			dpkg -x "$deb" "$CACHE/root" || {
				echo "peers-setup: $name: dpkg -x $deb failed" >&2
				return 1
			}
		done
	done
	touch "$stamp"
	echo "peers-setup: $name: unpacked into $CACHE/root"
}

deb_peer opensmtpd opensmtpd || status=1
deb_peer exim exim4-daemon-light exim4-base || status=1
deb_peer chasquid chasquid || status=1

if [ -x "$CACHE/haraka/node_modules/.bin/haraka" ]; then
	echo "peers-setup: haraka: already installed"
elif command -v npm >/dev/null 2>&1; then
	mkdir -p "$CACHE/haraka"
	if (cd "$CACHE/haraka" && [ -f package.json ] || echo '{"private": true}' > package.json) &&
	   (cd "$CACHE/haraka" && npm install --no-audit --no-fund Haraka > npm.log 2>&1); then
		echo "peers-setup: haraka: installed into $CACHE/haraka"
	else
		echo "peers-setup: haraka: npm install Haraka failed (see $CACHE/haraka/npm.log)" >&2
		status=1
	fi
else
	echo "peers-setup: haraka: no npm (apt-get install npm)" >&2
	status=1
fi

# The Debian builds look up their unprivileged users by name at start-up
# (Exim: Debian-exim; OpenSMTPD: opensmtpd and opensmtpq), as the packages'
# maintainer scripts would have created them.  Create the same system
# users (no home, no shell) when missing; nothing else of the system changes.
if [ "$(id -u)" = 0 ]; then
	for u in Debian-exim opensmtpd opensmtpq; do
		getent passwd "$u" >/dev/null 2>&1 ||
			useradd --system --user-group --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$u" ||
			{ echo "peers-setup: useradd $u failed" >&2; status=1; }
	done
else
	echo "peers-setup: not root: system users Debian-exim, opensmtpd, opensmtpq not created" >&2
fi

# Sanity: each binary starts from the cache.
# Exim needs libidn12 (contrib/dev/deps.sh test installs it); -bV fails
# without a config but prints its version when the binary runs.
"$CACHE/root/usr/sbin/exim4" -bV 2>/dev/null | grep -q 'Exim version' ||
	echo "peers-setup: exim: exim4 -bV does not run from the cache (libidn12 missing?)" >&2
[ -x "$CACHE/root/usr/sbin/smtpd" ] ||
	echo "peers-setup: opensmtpd: no usr/sbin/smtpd in the cache" >&2
[ -x "$CACHE/root/usr/bin/chasquid" ] ||
	echo "peers-setup: chasquid: no usr/bin/chasquid in the cache" >&2
exit $status
