#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A damaged key store DATA_DIR/keys under an existing queue (issue 12,
independent check of items 3 and 5).

A missing key store is refused at start, but a key store emptied to 0
octets, cut to half or cut by one slot used to be accepted: posternd
wrote a fresh header (or zero-filled the cut slots), started without a
word (or with a `keystore_missing_keys records=1` that undercounted) and
every message whose key was cut read as shredded.  A key is synced
before the commit that names it, so a referenced slot past the file's
end is never a crash's doing: posternd refuses to start with "key store
FILE is truncated: ..." and leaves the file as it found it; offline
`posternctl queue check` names every missing key and exits 1; the
restored file starts again with every message readable.

The erasure journal beside the master key, cut inside a line (a crash or
a full disk during an append): the next erasure used to be glued to the
cut line, restore skipped both, and a message deleted after a backup
came back readable from it.  Now a journal that does not end in a
newline gets one before the next line."""

import os
import re
import shutil
import subprocess

from harness import *
from queuelib import inject

plan(19)

BODY = "Subject: m %d\r\n\r\nhello %d\r\n"


def start_fails(p):
    """Start posternd expecting it to refuse; (exit status, log text)."""
    start = p.log_size()
    p.start(wait=False)
    try:
        rc = p.proc.wait(60)
    except subprocess.TimeoutExpired:
        p.stop()
        return None, p.log(start)
    return rc, p.log(start)


with Postern(tls=False, conf={"delivery_enabled": "no"}) as p:
    ids = [inject(p, ["r%d@example.test" % i], BODY % (i, i)) for i in range(6)]
    ok(all(ids), "6 messages queued")
    p.stop()
    ks = os.path.join(p.data_dir, "keys")
    good = ks + ".good"
    shutil.copyfile(ks, good)
    size = os.path.getsize(ks)
    diag("key store: %d octets (%d slots)" % (size, size // 64 - 1))

    cases = [
        ("emptied", 0),
        ("cut to half", size // 2),
        ("cut by one slot", size - 64),
    ]
    for name, cut in cases:
        os.truncate(ks, cut)
        rc, log = start_fails(p)
        is_(rc, 1, "%s: posternd refuses to start (exit 1)" % name)
        like(log, r"key store %s is truncated: it holds \d+ whole slots, the queue references "
             r"\d+ keys? beyond them" % re.escape(ks), "%s: with a clear error" % name)
        is_(os.path.getsize(ks), max(cut, 64 if cut == 0 else cut),
            "%s: the file is left as it was (no slot zero-filled)" % name)
        r = p.posternctl("queue", "check")
        ok(r.returncode == 1 and "is missing" in r.stdout,
           "%s: offline queue check reports the missing keys, exit 1 (exit %d)" %
           (name, r.returncode))
        shutil.copyfile(good, ks)

    p.start()
    r = p.posternctl("queue", "show", ids[-1])
    ok(r.returncode == 0 and "Subject: m 5" in r.stdout and "body:     available" in r.stdout,
       "the restored key store starts, and the last message reads")
    if r.returncode != 0 or "Subject: m 5" not in r.stdout:
        diag(r.stdout + r.stderr)

# ---- the erasure journal cut inside a line --------------------------------
with Postern(tls=False, conf={"delivery_enabled": "no"}) as p:
    lid = inject(p, ["live@example.test"], "Subject: live\r\n\r\nlive\r\n")
    did = inject(p, ["gone@example.test"], "Subject: gone\r\n\r\ngone\r\n")
    bdir = os.path.join(p.dir, "backup")
    r = p.posternctl("backup", bdir)
    is_(r.returncode, 0, "journal: a backup with both messages (%s)" % r.stderr.strip())
    p.stop()
    j = os.path.join(os.path.dirname(p.master_key_file), "erasure.journal")
    with open(j, "ab") as f:
        f.write(b"1700000000000 msg 01M0000000")	# an append cut by a crash
    p.start()
    r = p.posternctl("queue", "delete", did)
    is_(r.returncode, 0, "journal: the message deleted after the backup")
    p.stop()
    lines = open(j, "rb").read().split(b"\n")
    ok(any(l.split()[1:3] == [b"msg", did.encode()] for l in lines if len(l.split()) == 4),
       "journal: its erasure is a line of its own, not glued to the cut one")
    r = p.posternctl("restore", bdir)
    is_(r.returncode, 0, "journal: restore of the backup (%s)" % (r.stdout + r.stderr).strip())
    p.start()
    j1 = p.posternctl_json("queue", "show", did, "--reason", "t")
    j2 = p.posternctl_json("queue", "show", lid, "--reason", "t")
    ok(j1["body_status"] != "available" and j1["envelope"] == "shredded" and
       j2["body_status"] == "available",
       "journal: after restore the deleted message stays deleted, the other reads (%s, %s)" %
       (j1["body_status"], j2["body_status"]))
done()
