#!/bin/sh
# SPDX-License-Identifier: ISC
#
# systemd-nspawn.sh: run the shipped systemd unit under a real systemd
# (issue 19), in a container booted with `systemd-nspawn -b` over a
# fresh Debian bookworm root.  NOT part of CI or `make check`: it
# installs packages into the root, builds postern there and boots a
# whole system, which takes minutes.  Run it by hand, as root, from the
# top of a clone:
#
#   sh contrib/dev/systemd-nspawn.sh BASE.tar [ROOT]
#
# BASE.tar: a minimal bookworm root as a tarball (for example made by
#   `mmdebstrap bookworm BASE.tar`); it is extracted into ROOT (default
#   /var/tmp/postern-nspawn) when ROOT has no /etc/os-release yet, and
#   never changed.  Give "-" to build ROOT with mmdebstrap instead.
#
# Steps, each printed as it runs:
#   1. the root: systemd, dbus and postern's build and run packages
#      (contrib/dev/deps.sh's lists) installed with apt-get in a chroot;
#   2. postern from `git archive HEAD`: ./configure (the default
#      /usr/local prefix, as the README's install), make, make install;
#   3. a oneshot unit in the root (postern-check.service, after
#      multi-user.target) that, once the container has booted, runs
#      `posternctl setup`, writes a small config (relay on 127.0.0.1:25
#      to exercise CAP_NET_BIND_SERVICE, submission on 127.0.0.1:587
#      with a self-signed certificate, mail kept in the queue), then
#      systemctl start / is-active / reload / status, the journal's
#      lines with their priorities, `systemd-analyze security postern`,
#      a swaks submission to port 25, `posternctl queue list`,
#      systemctl stop, and powers the container off;
#   4. systemd-nspawn -b --private-network (its own loopback: port 25 is
#      the container's), --register=no --keep-unit (the host needs no
#      systemd or machined), and its transcript.
# Output: the check's transcript (ROOT/root/postern-check.log) and a
# final line `systemd check: N passed, M failed`.  Exit 0 when every
# check passed.

set -eu
base=${1:?usage: systemd-nspawn.sh BASE.tar|- [ROOT]}
root=${2:-/var/tmp/postern-nspawn}
top=$(cd "$(dirname "$0")/../.." && pwd)

[ "$(id -u)" = 0 ] || { echo "systemd-nspawn.sh: run as root" >&2; exit 2; }
command -v systemd-nspawn >/dev/null || apt-get install -y systemd-container

# ---- 1. the root ----
if [ ! -e "$root/etc/os-release" ]; then
	mkdir -p "$root"
	if [ "$base" = - ]; then
		mmdebstrap --variant=minbase bookworm "$root"
	else
		echo "+ tar -xf $base -C $root"
		tar -xf "$base" -C "$root"
	fi
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
pkgs=$(awk '/^(build|run)_pkgs="/ { on = 1 } on { print } on && /"$/ { on = 0 }' \
	"$top/contrib/dev/deps.sh" | sed -e 's/^[a-z_]*="//' -e 's/"$//' | tr '\n' ' ')
echo "+ chroot $root apt-get install systemd systemd-sysv dbus passwd $pkgs"
chroot "$root" sh -c "export DEBIAN_FRONTEND=noninteractive; dpkg --configure -a &&
	apt-get update -q &&
	apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus passwd \
	ca-certificates $pkgs" >"$root/root/apt.log" 2>&1 ||
	{ tail -20 "$root/root/apt.log"; exit 1; }

# ---- 2. postern, built and installed inside ----
rm -rf "$root/usr/src/postern"
mkdir -p "$root/usr/src/postern"
(cd "$top" && git archive HEAD) | tar -x -C "$root/usr/src/postern"
echo "+ chroot $root: autoreconf -fi && ./configure && make && make install"
chroot "$root" sh -c 'cd /usr/src/postern && autoreconf -fi && ./configure -q &&
	make -j"$(nproc)" && make install' >"$root/root/build.log" 2>&1 ||
	{ tail -30 "$root/root/build.log"; exit 1; }

# ---- 3. the check, run by systemd once booted ----
cat >"$root/root/postern-check.sh" <<'EOF'
#!/bin/sh
# Runs inside the booted container (postern-check.service).
pass=0 fail=0
check() {	# check NAME COMMAND...: run it, print its output, count it
	name=$1; shift
	echo "### $name: $*"
	if out=$("$@" 2>&1); then pass=$((pass + 1)); r=ok; else fail=$((fail + 1)); r=FAILED; fi
	printf '%s\n' "$out" | sed 's/^/    /'
	echo "### $name: $r"
}
conf=/usr/local/etc/postern/postern.conf
echo "systemd: $(systemctl --version | head -1)"
echo "system state: $(systemctl is-system-running)"
check setup posternctl setup
mkdir -p /usr/local/etc/postern/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=postern.test -keyout /usr/local/etc/postern/tls/key.pem \
	-out /usr/local/etc/postern/tls/cert.pem 2>/dev/null
chown -R postern:postern /usr/local/etc/postern/tls
chmod 0600 /usr/local/etc/postern/tls/key.pem
grep -q '^# postern-check' "$conf" || cat >>"$conf" <<CONF
# postern-check
hostname = postern.test
smtpd_submission_listen = 127.0.0.1:587
smtpd_submissions_listen =
smtpd_relay_listen = 127.0.0.1:25
smtpd_tls_cert_file = /usr/local/etc/postern/tls/cert.pem
smtpd_tls_key_file = /usr/local/etc/postern/tls/key.pem
transport = *=[127.0.0.1]:2526
CONF
check config posternd -n -c "$conf"
systemctl daemon-reload
# systemd logs every sd_notify message it gets at debug level
systemctl log-level debug
check unit-file systemctl cat postern
check start systemctl start postern
check is-active systemctl is-active postern
check main-user sh -c 'ps -o user=,pid=,args= -p "$(systemctl show -p MainPID --value postern)"'
check capabilities sh -c 'grep -E "^Cap(Eff|Prm|Amb)" /proc/$(systemctl show -p MainPID --value postern)/status'
check port-25 sh -c 'ss -ltnp | grep -E ":(25|587) "'
check reload systemctl reload postern
check after-reload sh -c 'systemctl is-active postern && systemctl show -p ActiveState,SubState,NRestarts,MainPID postern'
check reload-journal sh -c 'journalctl -u postern -b --no-pager -o short-monotonic | grep -E "reload|RELOADING|ready" | tail -5'
check priorities sh -c 'journalctl -u postern -b --no-pager -o json | python3 -c "
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e.get(\"SYSLOG_IDENTIFIER\") == \"posternd\":
        print(e.get(\"PRIORITY\"), e.get(\"SYSLOG_FACILITY\"), e.get(\"MESSAGE\")[:100])
" | head -8' 
check security sh -c 'systemd-analyze security postern | tail -3'
check swaks swaks --server 127.0.0.1:25 --from app@example.test --to you@example.org \
	--header "Subject: nspawn check"
check queue-list posternctl queue list
check status posternctl status
check stop systemctl stop postern
check inactive sh -c '! systemctl is-active postern'
check notify sh -c 'journalctl -b --no-pager -o cat _PID=1 | grep -E "postern.service: Got notification message" | tail -8'
check stop-journal sh -c 'journalctl -u postern -b --no-pager | tail -4'
echo "systemd check: $pass passed, $fail failed"
EOF
chmod 0755 "$root/root/postern-check.sh"
cat >"$root/etc/systemd/system/postern-check.service" <<'EOF'
[Unit]
Description=postern check under a real systemd (contrib/dev/systemd-nspawn.sh)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c '/root/postern-check.sh > /root/postern-check.log 2>&1'
ExecStartPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/postern-check.service \
	"$root/etc/systemd/system/multi-user.target.wants/postern-check.service"
rm -f "$root/root/postern-check.log"
# python3 for the journal priorities; iproute2 for ss
chroot "$root" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends python3 iproute2 procps' >>"$root/root/apt.log" 2>&1

# ---- 4. boot ----
echo "+ systemd-nspawn -D $root -b --private-network --register=no --keep-unit"
timeout 900 systemd-nspawn -D "$root" -b --private-network --register=no --keep-unit \
	--machine=postern-check >"$root/root/boot.log" 2>&1 || true
if [ ! -s "$root/root/postern-check.log" ]; then
	echo "the check did not run; the boot's last lines:"
	tail -40 "$root/root/boot.log"
	exit 1
fi
cat "$root/root/postern-check.log"
grep -q "^systemd check: [0-9]* passed, 0 failed" "$root/root/postern-check.log"
