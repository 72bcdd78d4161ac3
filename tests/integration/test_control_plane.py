#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The control plane's audit guarantees (issue 11 item 8, DESIGN.md §9).

 - `posternctl dkim generate|rotate|remove` are dkim.* commands executed
   by posternd and audited (an intent record before the key files change,
   the result record after); with the daemon down they fail clearly; a
   reviewer is refused and the refusal is audited.
 - Every mutating command writes its audit record in the same LMDB
   transaction as its effect: posternd is killed with SIGKILL in the
   middle of `queue delete --all-matching` over 3,000 messages and, after
   the restart, every message that is deleted is named by a committed
   audit record (before this, an interrupted delete left 1,936 deleted
   messages and 0 records).
"""

import grp
import json
import os
import pwd
import subprocess
import threading
import time

from harness import *
from harness import TIME_SCALE
from queuelib import control, inject

NMSG = 3000
is_root = os.geteuid() == 0


def audit(p):
    return p.posternctl_json("audit", "list")["audit"]


plan(21)

# ---- dkim.* through the daemon ---------------------------------------------------
p = Postern(name="ctlplane", tls=False, conf={
    "delivery_enabled": "no", "reviewer_group": "nogroup",
    "operator_group": "postern-no-such-group",
    # small writer batches: many transactions, so the kill below lands mid-way
    "queue_commit_batch": "1"})
r = p.posternctl("dkim", "generate", "a.test", "--algorithm", "ed25519")
ok(r.returncode != 0 and "needs a running posternd" in r.stderr,
   "dkim generate with the daemon down fails: %s" % r.stderr.strip())
ok(not os.path.exists(os.path.join(p.data_dir, "dkim", "keys")), "... and writes no key")
p.start()
r = p.posternctl("dkim", "generate", "a.test", "--selector", "g1", "--algorithm", "ed25519")
ok(r.returncode == 0 and "selector g1" in r.stdout and "._domainkey.a.test. IN TXT" in r.stdout,
   "dkim generate through posternd prints the record to publish: %s" % r.stderr.strip())
ok("PRIVATE" not in r.stdout, "no private key in the answer")
r = p.posternctl("dkim", "rotate", "a.test")
ok(r.returncode == 0 and "rotated a.test" in r.stdout, "dkim rotate through posternd: %s" % r.stderr.strip())
r = p.posternctl("dkim", "remove", "a.test", "g1")
ok(r.returncode == 0, "dkim remove through posternd: %s" % r.stderr.strip())
keys = json.loads(p.posternctl("dkim", "list", "--json").stdout)
ok(len(keys) == 1 and keys[0]["selector"] != "g1" and keys[0]["active"],
   "key store: g1 removed, the rotated key active: %s" % keys)
a = audit(p)
res = [(x["cmd"], x.get("phase"), x.get("status")) for x in a if x["cmd"].startswith("dkim.")]
is_(res, [("dkim.generate", "intent", None), ("dkim.generate", None, 0),
          ("dkim.rotate", "intent", None), ("dkim.rotate", None, 0),
          ("dkim.remove", "intent", None), ("dkim.remove", None, 0)],
    "generate, rotate, remove audited: intent record before, result after")
ok(any(x["cmd"] == "dkim.remove" and x["target"] == "a.test g1" for x in a),
   "audit target names domain and selector")
r = p.posternctl("dkim", "remove", "a.test", "nosuch")
ok(r.returncode == 1 and any(x["cmd"] == "dkim.remove" and x.get("status") == 1
                             and x["target"] == "a.test nosuch" for x in audit(p)),
   "a failed dkim remove is audited with its error: %s" % r.stderr.strip())

if is_root:
    os.chmod(p.dir, 0o755)
    os.chmod(p.conf_path, 0o644)
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup").gr_gid

    def drop():
        os.setgroups([])
        os.setgid(nogroup)
        os.setuid(nobody.pw_uid)
    r = subprocess.run([p.posternctl_path, "-s", p.control_socket, "dkim", "generate", "r.test"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       preexec_fn=drop, timeout=60)
    ok(r.returncode == 1 and "permission denied" in r.stderr,
       "reviewer refused dkim generate: %s" % r.stderr.strip())
    ok(any(x["cmd"] == "dkim.generate" and x["role"] == "reviewer" and x.get("status") == 1
           and x["target"] == "r.test" for x in audit(p)), "the refusal is audited, with its target")
    ok(not any(k["domain"] == "r.test"
               for k in json.loads(p.posternctl("dkim", "list", "--json").stdout)),
       "no key made for the reviewer")
else:
    skip(3, "reviewer refusal needs root (to run posternctl as another user)")

# ---- kill -9 in the middle of queue delete --all-matching ------------------------
ids = []
lock = threading.Lock()
body = "Subject: bulk\r\n\r\n" + "x" * 2000 + "\r\n"


def injector(n):
    for _ in range(n):
        i = inject(p, ["r@example.test"], body, account="bulk")
        if i:
            with lock:
                ids.append(i)


ts = [threading.Thread(target=injector, args=(NMSG // 8,)) for _ in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
is_(len(ids), NMSG, "%d messages injected" % NMSG)


def deleted_count():
    r = control(p, "queue.stats")
    return r["result"]["messages_by_state"]["deleted"] if r.get("ok") else -1


before = len(audit(p))
proc = subprocess.Popen([p.posternctl_path, "-c", p.conf_path, "queue", "delete", "--all-matching",
                         "--account", "bulk"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seen = 0
deadline = time.monotonic() + 60 * TIME_SCALE
while time.monotonic() < deadline and proc.poll() is None:
    seen = deleted_count()
    if seen > 0:
        break
    time.sleep(0.005)
p.kill9()
proc.wait(30)
p.start()
msgs = p.posternctl_json("queue", "list", "--all")["messages"]
gone = set(m["id"] for m in msgs if m["state"] == "deleted")
diag("deleted before the kill: %d seen, %d after restart, of %d" % (seen, len(gone), NMSG))
ok(0 < len(gone) < NMSG, "the kill interrupted the delete (%d of %d deleted)" % (len(gone), NMSG))
recs = [x for x in audit(p)[before:] if x["cmd"] == "queue.delete"]
named = set()
for x in recs:
    named.update(x.get("ids", []))
missing = gone - named
is_(len(missing), 0, "every deleted message is named by a committed audit record "
    "(%d records, %d unaudited deletions)" % (len(recs), len(missing)))
ok(named <= gone, "audit records name only messages that were deleted")
ok(all("ids" in x and x.get("status") == 0 and "all-matching" in x["target"] and "bulk" in x["target"]
       for x in recs), "each batch record has its ids, the selector and its status")
ok(all("@" not in json.dumps(x) for x in recs), "no address in the batch records")

# the rest of the delete after the restart is audited the same way
r = p.posternctl("queue", "delete", "--all-matching", "--account", "bulk")
left = [m for m in p.posternctl_json("queue", "list", "--all")["messages"] if m["state"] != "deleted"]
named = set()
for x in audit(p):
    if x["cmd"] == "queue.delete":
        named.update(x.get("ids", []))
ok(r.returncode == 0 and not left and named >= set(ids),
   "finishing the delete: every message deleted and audited: %s" % r.stderr.strip())
is_(p.stop(), 0, "posternd stops cleanly (no sanitizer report)")
done()
