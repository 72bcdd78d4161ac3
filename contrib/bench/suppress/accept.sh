#!/bin/sh
# SPDX-License-Identifier: ISC
#
# accept.sh: the RCPT-phase cost of a suppression list of 1,000,000
# entries for one account, as accept throughput of posternd's relay
# listener: two posternd instances in the same run, A with an empty list
# and B with N entries (default 1,000,000 random hashes loaded with
# `posternctl suppress import`), both booking relay mail to the account
# `bench` with delivery off; Postfix's smtp-source sends MSGS messages
# over SESSIONS sessions to each, alternately (A first in odd rounds, B
# first in even ones), ROUNDS times.  N=0 runs the control: two empty lists.  Every RCPT
# runs the suppression stage (a miss: the common case).  Prints msgs/s
# per round and the ratio B/A of the medians.  Run by hand:
#
#   sh contrib/bench/suppress/accept.sh [BUILDDIR]     (default _build/default)
#   N=1000000 MSGS=3000 SESSIONS=20 ROUNDS=3 sh contrib/bench/suppress/accept.sh
#
# Needs smtp-source (Debian postfix).  Everything started here is
# stopped by pid at exit; nothing outside the temp dir is touched.
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$top/_build/default}
n=${N:-1000000}
msgs=${MSGS:-3000}
sessions=${SESSIONS:-20}
rounds=${ROUNDS:-3}
command -v smtp-source >/dev/null || { echo "accept.sh: smtp-source missing: apt-get install -y postfix" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/postern-supbench.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
	i=0
	while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 200 ] && { echo "accept.sh: nothing on port $1" >&2; exit 1; }
		sleep 0.1
	done
}
start() {	# start NAME PORT
	d=$tmp/$1
	mkdir -p "$d"
	cat >"$d/postern.conf" <<EOF2
hostname = bench.postern.test
data_directory = $d/data
control_socket = $d/control.sock
pid_file = $d/posternd.pid
master_key_file = $d/master.key
log_level = warn
smtpd_submission_listen =
smtpd_submissions_listen =
smtpd_relay_listen = 127.0.0.1:$2
smtpd_relay_networks = 127.0.0.0/8
smtpd_relay_account = bench
smtpd_max_connections = 2000
smtpd_max_connections_per_ip = 1000
delivery_enabled = no
EOF2
	"$build/posternd" -f -c "$d/postern.conf" >"$d/log" 2>&1 &
	pids="$pids $!"
	wait_port "$2"
	"$build/posternctl" -c "$d/postern.conf" account add bench --domain '*' >/dev/null
}
pa=$(free_port); start a "$pa"
pb=$(free_port); start b "$pb"
[ "$n" -gt 0 ] && /usr/bin/python3 -c "
import os, sys
with open('$tmp/list.csv', 'w') as f:
    f.write('hash,reason,created\n')
    for i in range($n):
        f.write(os.urandom(32).hex() + ',hard_bounce,\n')
"
t0=$(date +%s.%N)
[ "$n" -gt 0 ] && "$build/posternctl" -c "$tmp/b/postern.conf" suppress import "$tmp/list.csv" \
    --account bench >/dev/null
t1=$(date +%s.%N)
echo "loaded $n entries into B in $(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }') s"
run() {	# run PORT: msgs/s
	s0=$(date +%s.%N)
	smtp-source -s "$sessions" -m "$msgs" -l 1024 -f bench@example.com -t rcpt@example.net \
	    127.0.0.1:"$1" >/dev/null 2>"$tmp/source.err" || { cat "$tmp/source.err" >&2; echo 0; return; }
	s1=$(date +%s.%N)
	echo "$s0 $s1" | awk -v m="$msgs" '{ printf "%.0f\n", m / ($2 - $1) }'
}
run "$pa" >/dev/null; run "$pb" >/dev/null	# warm-up
printf "%-8s %12s %12s\n" round "empty/s" "${n}/s"
ra=""; rb=""
i=1
while [ $i -le "$rounds" ]; do
	# alternate the order: the second run of a pair meets the first's disk flush
	if [ $((i % 2)) -eq 1 ]; then a=$(run "$pa"); b=$(run "$pb"); else b=$(run "$pb"); a=$(run "$pa"); fi
	printf "%-8s %12s %12s\n" "$i" "$a" "$b"
	ra="$ra $a"; rb="$rb $b"
	i=$((i + 1))
done
med() { echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ma=$(med $ra); mb=$(med $rb)
echo "median: empty $ma/s, $n entries $mb/s, ratio $(echo "$mb $ma" | awk '{ printf "%.3f", $1 / $2 }')"
