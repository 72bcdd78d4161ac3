#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""posternctl queue against a running daemon and a stopped one (read-only
commands open LMDB directly), exit codes (0 ok, 1 not found/refused,
2 usage), aligned tables and --json; roles from SO_PEERCRED (a reviewer
is refused operator commands, a user in neither group is refused
everything); every mutating command, allowed or refused, in the audit
log with who, what, target and when."""

import grp
import os
import pwd
import re

from harness import *
from queuelib import control, inject

plan(41)

is_root = os.geteuid() == 0
conf = {"reviewer_group": "nogroup", "operator_group": "postern-no-such-group",
        "delivery_enabled": "no"}  # the queue alone: nothing is delivered
with Postern(tls=False, conf=conf) as p:
    p.stop()
    sock = os.path.join(p.dir, "run", "postern", "control.sock")
    p.write_conf({"control_socket": sock})
    p.control_socket = sock
    p.start()
    ok(os.path.exists(sock), "control socket's missing parent directories are created")
    body = "From: a@example.test\r\nSubject: cli test\r\n\r\nhello body\r\n"
    a = inject(p, ["one@example.test", "two@example.test"], body, account="acme")
    b = inject(p, ["three@example.test"], body, account="beta")
    c = inject(p, ["four@example.test"], body, account="acme", held=True)
    ok(a and b and c, "three messages committed")

    # ---- running daemon ----------------------------------------------------
    r = p.posternctl("queue", "list")
    is_(r.returncode, 0, "queue list: exit 0")
    lines = r.stdout.splitlines()
    ok(lines and re.match(r"^ID\s+STATE\s+SIZE\s+AGE\s+ACCOUNT\s+SENDER\s+RECIPIENTS$", lines[0]),
       "table header")
    col = lines[0].index("STATE")
    ok(all(l[col - 2:col] == "  " for l in lines[1:4]), "columns aligned")
    ok(a in r.stdout and "(+1)" in r.stdout and "@" not in r.stdout,
       "list shows id and recipients, addresses as keyed hashes (not an audited read)")
    r = p.posternctl("queue", "list", "--addresses", "--reason", "cli test")
    ok(r.returncode == 0 and "one@example.test (+1)" in r.stdout,
       "list --addresses --reason: the addresses (an audited read)")
    j = p.posternctl_json("queue", "list", "--state", "held")
    is_([m["id"] for m in j["messages"]], [c], "--state held --json")
    j = p.posternctl_json("queue", "list", "--account", "acme")
    is_(sorted(m["id"] for m in j["messages"]), sorted([a, c]), "--account acme")
    j = p.posternctl_json("queue", "list", "--older-than", "1h")
    is_(j["messages"], [], "--older-than 1h: none")
    r = p.posternctl("queue", "show", a)
    ok(r.returncode == 0 and "Subject: cli test" in r.stdout and "hello body" not in r.stdout,
       "show: headers, no body")
    r = p.posternctl("queue", "show", a, "--body")
    ok("hello body" in r.stdout, "show --body: decrypted body")
    j = p.posternctl_json("queue", "show", a)
    is_([x["address"] for x in j["recipients"]], ["one@example.test", "two@example.test"],
        "show --json recipients")
    r = p.posternctl("queue", "show", "0000000000000000ZZZZ")
    ok(r.returncode == 1 and "no such message" in r.stderr, "show unknown id: exit 1")
    r = p.posternctl("queue", "frobnicate")
    is_(r.returncode, 2, "unknown verb: exit 2")
    r = p.posternctl("queue", "list", "--state", "sideways")
    is_(r.returncode, 2, "bad state: exit 2")
    r = p.posternctl("queue", "hold", a)
    ok(r.returncode == 0 and p.posternctl_json("queue", "show", a)["state"] == "held", "hold")
    r = p.posternctl("queue", "release", a)
    ok(r.returncode == 0 and p.posternctl_json("queue", "show", a)["state"] == "queued", "release")
    r = p.posternctl("queue", "release", a)
    ok(r.returncode == 1 and "not held" in r.stderr
       and p.posternctl_json("queue", "show", a)["state"] == "queued",
       "release of a message that is not held: exit 1, says so, state unchanged (%s)"
       % r.stderr.strip())
    r = p.posternctl("queue", "release", "--all-matching")
    is_(r.returncode, 0, "release --all-matching skips messages that are not held")
    r = p.posternctl("queue", "hold", "--all-matching", "--account", "acme")
    ok(r.returncode == 0 and p.posternctl_json("queue", "show", a)["state"] == "held",
       "hold --all-matching --account acme")
    r = p.posternctl("queue", "requeue", b)
    is_(r.returncode, 0, "requeue")
    r = p.posternctl("queue", "flush")
    is_(r.returncode, 0, "flush")
    r = p.posternctl("queue", "delete", b, "0000000000000000ZZZZ")
    ok(r.returncode == 1 and p.posternctl_json("queue", "show", b)["state"] == "deleted",
       "delete with one unknown id: the known one deleted, exit 1")
    st = p.posternctl_json("queue", "stats")
    ok(st["messages"] == 3 and st["messages_by_state"]["held"] == 2, "stats --json")
    r = p.posternctl("queue", "stats")
    ok(r.returncode == 0 and re.search(r"^messages:\s+3$", r.stdout, re.M), "stats table")

    # ---- audit ---------------------------------------------------------------
    audit = p.posternctl_json("audit", "list")["audit"]
    cmds = [(x["cmd"], x["target"], x["user"]) for x in audit]
    ok(("queue.hold", a, "root" if is_root else pwd.getpwuid(os.geteuid()).pw_name) in cmds,
       "audit: hold by this user with its target")
    ok(any(x["cmd"] == "queue.delete" and x["status"] == 1 for x in audit),
       "audit: the partly failed delete with its status")
    ok(all("time" in x and "uid" in x and "role" in x for x in audit), "audit records when and role")
    r = p.posternctl("audit", "list")
    ok(r.returncode == 0 and re.match(r"^TIME \(UTC\)\s+USER\s+ROLE\s+COMMAND\s+STATUS\s+TARGET", r.stdout)
       and "queue.hold" in r.stdout, "audit list table")

    # ---- roles ---------------------------------------------------------------
    if is_root:
        os.chmod(p.dir, 0o755)
        os.chmod(p.conf_path, 0o644)
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrnam("nogroup").gr_gid

        def as_user(gid, *args):
            def drop():
                os.setgroups([])
                os.setgid(gid)
                os.setuid(nobody.pw_uid)
            import subprocess
            return subprocess.run([p.posternctl_path, "-s", p.control_socket, *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=drop, timeout=60)

        r = as_user(nogroup, "queue", "release", a)
        ok(r.returncode == 1 and "permission denied" in r.stderr and "reviewer" in r.stderr,
           "reviewer refused queue release: %s" % r.stderr.strip())
        ok(p.posternctl_json("queue", "show", a)["state"] == "held", "message still held")
        r = as_user(nogroup, "queue", "list")
        is_(r.returncode, 1, "reviewer refused queue list")
        r = as_user(nobody.pw_gid if nobody.pw_gid != nogroup else 0, "queue", "list")
        ok(r.returncode == 1 and "permission denied" in r.stderr, "user in no group refused")
        audit = p.posternctl_json("audit", "list")["audit"]
        ok(any(x["cmd"] == "queue.release" and x["user"] == "nobody" and x["role"] == "reviewer"
               and x["status"] == 1 for x in audit), "refused reviewer action audited")
    else:
        skip(5, "role tests need root (to run posternctl as another user)")

    # ---- stopped daemon ----------------------------------------------------------
    is_(p.stop(), 0, "daemon stopped")
    r = p.posternctl("queue", "list")
    ok(r.returncode == 0 and a in r.stdout and c in r.stdout, "queue list with the daemon stopped")
    r = p.posternctl("queue", "show", a, "--body")
    ok(r.returncode == 1 and "audited read" in r.stderr,
       "show --body offline refused: no daemon to write the audit record")
    j = p.posternctl_json("queue", "show", a)
    ok(j["envelope"] == "sealed" and j["recipients"][0]["address"] is None and
       len(j["recipients"][0]["address_hash"]) == 64 and j["headers"] is None,
       "show offline (read-only LMDB): sealed, keyed hashes only")
    r = p.posternctl("queue", "hold", a)
    ok(r.returncode == 1 and "posternd" in r.stderr, "mutating command offline: exit 1, says why")
    j = p.posternctl_json("audit", "list")
    ok(len(j["audit"]) >= 5, "audit list offline")
done()
