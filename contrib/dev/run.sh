#!/bin/sh
# SPDX-License-Identifier: ISC
#
# run.sh: README quick start, command 1.  Installs the Debian packages
# that are missing, builds postern in _build/run, prepares ./run/ and
# runs the relay in the foreground (Ctrl-C stops it):
#
#   ./run/postern.conf     written once (edit it freely afterwards)
#   ./run/data/            LMDB queue and state (0700)
#   ./run/master.key       master key, 64 hex digits, 0600
#   ./run/tls/             self-signed certificate, key 0600
#   ./run/control.sock     control socket for posternctl -c run/postern.conf
#
# Listeners: submission 127.0.0.1:2587 (STARTTLS + AUTH), submissions
# 127.0.0.1:2465 (implicit TLS), relay 127.0.0.1:2525 (no AUTH from
# 127.0.0.0/8).  A demo account is created on the first run if
# posternctl has the `account add` command; its password is printed
# once.  Safe to run again: nothing that exists is overwritten.

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2

sh contrib/dev/deps.sh run

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ] \
    || [ -n "$(find . -name local.mk -newer Makefile.in 2>/dev/null)" ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
build="$top/_build/run"
mkdir -p "$build"
if [ ! -f "$build/Makefile" ] || [ configure -nt "$build/Makefile" ]; then
	(cd "$build" && "$top/configure" -q)
fi
make -C "$build" -s -j"$jobs" >/dev/null || make -C "$build" -j1

run="$top/run"
umask 077
mkdir -p "$run/data" "$run/tls"
chmod 700 "$run" "$run/data" "$run/tls"

if [ ! -f "$run/tls/key.pem" ] || [ ! -f "$run/tls/cert.pem" ]; then
	openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -keyout "$run/tls/key.pem" -out "$run/tls/cert.pem" -days 825 \
	    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    2>/dev/null
	echo "run: generated a self-signed certificate in run/tls/"
fi
chmod 600 "$run/tls/key.pem"
chmod 644 "$run/tls/cert.pem"

if [ ! -f "$run/master.key" ]; then
	openssl rand -hex 32 >"$run/master.key"
	echo "run: generated run/master.key (back it up: without it the queue is unreadable)"
fi
chmod 600 "$run/master.key"

conf="$run/postern.conf"
if [ ! -f "$conf" ]; then
	cat >"$conf" <<CONF
# postern.conf for a local trial, written by contrib/dev/run.sh.
# Every key is described in contrib/postern.conf and postern.conf(5).
hostname = localhost
data_directory = $run/data
control_socket = $run/control.sock
pid_file = $run/posternd.pid
master_key_file = $run/master.key
log_level = info
log_pseudonymise = yes
smtpd_submission_listen = 127.0.0.1:2587
smtpd_submissions_listen = 127.0.0.1:2465
smtpd_relay_listen = 127.0.0.1:2525
smtpd_relay_networks = 127.0.0.0/8
smtpd_relay_account = demo
smtpd_tls_cert_file = $run/tls/cert.pem
smtpd_tls_key_file = $run/tls/key.pem
shutdown_timeout = 10s
# A trial sends nothing into the world: every message goes to a local
# sink on 127.0.0.1:2526 (start one to see the mail, or leave it absent
# and the mail waits in the queue).  Delete this line to deliver to the
# recipients' MX hosts; mail to a domain that takes none (example.org
# has a null MX) then bounces, and the bounce puts the address on the
# account's suppression list (posternctl suppress list --account demo).
transport = *=[127.0.0.1]:2526
CONF
	chmod 600 "$conf"
	echo "run: wrote run/postern.conf"
fi

posternd="$build/posternd"
posternctl="$build/posternctl"
"$posternd" -n -c "$conf" >/dev/null

# The demo account, once.  posternctl may need the daemon: start it in the
# background for the moment it takes.
if [ ! -f "$run/.demo-account" ]; then
	if { "$posternctl" -c "$conf" help; "$posternctl" -c "$conf"; } 2>&1 | grep -qw "account"; then
		"$posternd" -f -c "$conf" 2>"$run/setup.log" &
		pid=$!
		i=0
		until grep -q "event=ready" "$run/setup.log" 2>/dev/null || [ $i -ge 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if out=$("$posternctl" -c "$conf" account add demo --domain demo.test 2>&1); then
			echo "run: demo account created (it may send as anything@demo.test); its credentials (shown only now):"
			echo "$out" | sed 's/^/    /'
			touch "$run/.demo-account"
		else
			echo "run: could not create the demo account: $out"
		fi
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	else
		echo "run: note: this build has no 'posternctl account' command yet; no demo account"
	fi
else
	echo "run: demo account exists (its password was printed on the first run)"
fi

echo "run: starting posternd in the foreground (Ctrl-C stops it); log follows"
echo "run: submission 127.0.0.1:2587, submissions 127.0.0.1:2465, relay 127.0.0.1:2525"
exec "$posternd" -f -c "$conf"
