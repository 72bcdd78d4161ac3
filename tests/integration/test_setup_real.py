#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_setup_real.py: `posternctl setup` for real (issue 19), not
--dry-run: it creates the groups and the system user with groupadd and
useradd, then the directories and the master key.

It runs in a throwaway mount namespace (`unshare -m`) whose /etc is an
overlay over the real one: useradd and groupadd write the user database
(passwd, group, shadow, gshadow) into the overlay's upper directory,
and the machine's own files are never changed.  (Bind-mounting private
copies of the four files does not work: the shadow tools replace each
file by rename(2), and a rename over a mount point fails with EBUSY,
"failure while writing changes to /etc/group".)  The directories are
under a temp dir, given by the config file.

Checked: the operator group, the reviewer group and the user's own
group exist; the user is a system user (uid below 1000) with a shell
that refuses logins, its home the data directory; the data and DKIM key
directories are 0700 and the control socket's directory 0755, owned by
the user; the master key's directory 0750 root:operators; the master key
0600, owned by the user, 64 hex digits; the erasure journal beside it
created empty, 0600, the user's; the config 0640 root:operators;
`posternd -n` accepts the result.  A second run is safe: exit 0, no
useradd or groupadd, the same master key, the same owners and modes.
The real /etc/passwd does not have the user afterwards."""

import hashlib
import os
import random
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

CTL = os.path.join(BUILDDIR, "posternctl")
POSTERND = os.path.join(BUILDDIR, "posternd")

INNER = r"""
set -u
mount -t overlay overlay -o lowerdir=/etc,upperdir="$D/up",workdir="$D/work" /etc || exit 90
snap() {
    getent passwd "$U" > "$D/passwd$1" || true
    for g in "$OP" "$RV" "$U"; do getent group "$g" >> "$D/group$1" || true; done
    for f in "$D/lib/postern" "$D/run/postern" "$D/lib/postern/dkim" "$D/etc/postern" \
             "$D/etc/postern/master.key" "$D/etc/postern/erasure.journal" "$D/postern.conf"; do
        stat -c '%n %a %U %G' "$f" >> "$D/stat$1" 2>&1
    done
}
"$CTL" -c "$D/postern.conf" setup --user "$U" > "$D/run1.out" 2>&1
echo $? > "$D/run1.rc"
snap 1
"$POSTERND" -n -c "$D/postern.conf" > "$D/check.out" 2>&1
echo $? > "$D/check.rc"
"$CTL" -c "$D/postern.conf" setup --user "$U" > "$D/run2.out" 2>&1
echo $? > "$D/run2.rc"
snap 2
"""


def read(d, name):
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except OSError:
        return ""


def main():
    if os.geteuid() != 0:
        skip_all("setup for real needs root (unshare -m, useradd)")
        return
    if shutil.which("unshare") is None or shutil.which("useradd") is None:
        skip_all("unshare (util-linux) and useradd (passwd) are needed")
        return
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        skip_all("no mount namespaces here: %s" % probe.stdout.decode(errors="replace").strip())
        return
    plan(17)
    d = tmpdir("postern-setup-real-")
    os.chmod(d, 0o755)
    for sub in ("up", "work"):
        os.mkdir(os.path.join(d, sub))
    tag = "%04x" % random.randrange(0x10000)
    user, op, rv = "pst-u" + tag, "pst-op" + tag, "pst-rv" + tag
    with open(os.path.join(d, "postern.conf"), "w") as f:
        f.write("data_directory = %s/lib/postern\n"
                "control_socket = %s/run/postern/control.sock\n"
                "master_key_file = %s/etc/postern/master.key\n"
                "dkim_key_directory = %s/lib/postern/dkim\n"
                "operator_group = %s\nreviewer_group = %s\n"
                "smtpd_submission_listen = 127.0.0.1:%d\nsmtpd_submissions_listen =\n"
                % (d, d, d, d, op, rv, free_port()))
    env = dict(os.environ, D=d, U=user, OP=op, RV=rv, CTL=CTL, POSTERND=POSTERND)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", INNER],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode == 90:
        skip(17, "cannot mount an overlay over /etc here")
        return
    run1 = read(d, "run1.out")
    diag(run1.strip())
    is_(read(d, "run1.rc").strip(), "0", "setup (not --dry-run) as root: exit 0")
    ok(run1.count("groupadd --system") == 3 and "useradd --system" in run1,
       "it ran groupadd three times (operators, reviewers, the user's group) and useradd")
    groups = dict((ln.split(":")[0], ln.split(":")) for ln in read(d, "group1").splitlines() if ln)
    ok(op in groups and rv in groups and user in groups,
       "groups %s, %s and %s exist (in the namespace)" % (op, rv, user))
    pw = read(d, "passwd1").strip().split(":")
    ok(len(pw) == 7 and pw[0] == user and int(pw[2]) < 1000, "a system user %s (%s)" % (user, pw))
    ok(len(pw) == 7 and pw[5] == d + "/lib/postern" and pw[6] in ("/usr/sbin/nologin", "/bin/false"),
       "home the data directory, no login shell")
    ok(len(pw) == 7 and user in groups and pw[3] == groups[user][2], "its primary group is its own")
    st = {}
    for ln in read(d, "stat1").splitlines():
        parts = ln.split()
        if len(parts) == 4:
            st[parts[0]] = tuple(parts[1:])
    is_(st.get(d + "/lib/postern"), ("700", user, user), "data directory 0700, the user's")
    is_(st.get(d + "/lib/postern/dkim"), ("700", user, user), "DKIM key directory 0700, the user's")
    is_(st.get(d + "/run/postern"), ("755", user, user), "control socket directory 0755, the user's")
    is_(st.get(d + "/etc/postern"), ("750", "root", op), "master key directory 0750 root:operators")
    is_(st.get(d + "/etc/postern/master.key"), ("600", user, user), "master key 0600, the user's")
    is_(st.get(d + "/postern.conf"), ("640", "root", op), "config 0640 root:operators")
    is_(st.get(d + "/etc/postern/erasure.journal"), ("600", user, user),
        "erasure journal 0600, the user's (posternd cannot create it in the key directory)")
    key = read(d, "etc/postern/master.key")
    ok(len(key.strip()) == 64 and all(c in "0123456789abcdef" for c in key.strip()),
       "master key: 64 hex digits")
    ok(read(d, "check.rc").strip() == "0",
       "posternd -n accepts the result (%s)" % read(d, "check.out").strip()[-200:])
    run2 = read(d, "run2.out")
    ok(read(d, "run2.rc").strip() == "0" and "useradd" not in run2 and "groupadd" not in run2 and
       read(d, "stat2") == read(d, "stat1") and read(d, "passwd2") == read(d, "passwd1") and
       hashlib.sha256(key.encode()).hexdigest() ==
       hashlib.sha256(read(d, "etc/postern/master.key").encode()).hexdigest(),
       "a second run: exit 0, no useradd/groupadd, same key, owners and modes")
    with open("/etc/passwd") as f:
        host = f.read()
    ok(("\n%s:" % user) not in ("\n" + host), "the machine's /etc/passwd never had the user")


run(main)
