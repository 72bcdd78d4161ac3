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

A referenced slot damaged in place (bit rot): the start-up reconcile
used to zero it and journal it as an erasure, so restoring a good
backup zeroed the key there too and the message was lost for good.
Now it is left untouched (event=keystore_damaged), not journalled, and
the backup brings the message back.  A slot damaged past its magic used to pass
`queue check` ("ok") although its message could not be read: check now
unwraps each data key when it has the master key.

`posternctl restore` with the daemon running but its control socket
elsewhere (-s, another config) used to replace the queue under the
running daemon; it now takes the daemon's data directory lock and
refuses: "data_directory ...: in use by posternd pid N".

The erasure journal beside the master key, cut inside a line (a crash or
a full disk during an append): the next erasure used to be glued to the
cut line, restore skipped both, and a message deleted after a backup
came back readable from it.  Now a journal that does not end in a
newline gets one before the next line.

The erasure journal's file system full (root only: a small tmpfs holds
the master key and the journal): a deleted message's key used to be
zeroed although its erasure could not be journalled, so restoring a
backup taken before brought the message back.  Now the key waits,
unreferenced, until the journal can be written (event=
journal_write_failed says so), and goes with the next write once space
returns; the restored backup then keeps the message deleted."""

import os
import re
import shutil
import subprocess

from harness import *
from queuelib import inject

plan(36)

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

# ---- a referenced slot damaged in place -----------------------------------
with Postern(tls=False, name="rot", conf={"delivery_enabled": "no"}) as p:
    ids = [inject(p, ["r%d@example.test" % i], BODY % (i, i)) for i in range(3)]
    bdir = os.path.join(p.dir, "backup")
    is_(p.posternctl("backup", bdir).returncode, 0, "bit rot: a backup of three messages")
    p.stop()
    ks = os.path.join(p.data_dir, "keys")
    slots = open(ks, "rb").read()
    # the slot of the middle message: the 2nd of its 3 data-key slots (the account key's is first)
    used = [n for n in range(1, len(slots) // 64) if slots[n * 64:n * 64 + 4] in (b"PKS1", b"PKS2")]
    victim = used[-2]
    with open(ks, "r+b") as f:
        f.seek(victim * 64)
        f.write(b"\xff" * 8)
    start = p.log_size()
    p.start()
    like(p.log(start), r"event=keystore_damaged .*slots=1", "bit rot: the start says a key is damaged")
    ok(open(ks, "rb").read()[victim * 64:victim * 64 + 8] == b"\xff" * 8,
       "bit rot: the damaged slot is left as it was (not zeroed)")
    j = open(os.path.join(p.dir, "erasure.journal"), "rb").read()
    ok(b" %d\n" % victim not in j.split(b"\n", 1)[1],
       "bit rot: and not journalled as an erasure")
    p.stop()
    is_(p.posternctl("restore", bdir).returncode, 0, "bit rot: restore of the backup")
    p.start()
    st = [p.posternctl_json("queue", "show", i, "--reason", "t")["body_status"] for i in ids]
    is_(st, ["available"] * 3, "bit rot: after restore every message reads again")

# ---- a slot damaged past its magic: queue check must see it -------------
with Postern(tls=False, name="rot2", conf={"delivery_enabled": "no"}) as p:
    ids = [inject(p, ["r%d@example.test" % i], BODY % (i, i)) for i in range(3)]
    p.stop()
    ks = os.path.join(p.data_dir, "keys")
    slots = open(ks, "rb").read()
    used = [n for n in range(1, len(slots) // 64) if slots[n * 64:n * 64 + 4] in (b"PKS1", b"PKS2")]
    with open(ks, "r+b") as f:
        f.seek(used[-1] * 64 + 20)
        f.write(b"\xff" * 8)
    r = p.posternctl("queue", "check")
    is_(r.returncode, 1, "damaged key: offline queue check exits 1")
    like(r.stdout, r"problem: keys %s: the body's data key \(key store slot %d\) is damaged" %
         (ids[-1], used[-1]), "damaged key: and names the message and the slot")

# ---- restore under a running daemon whose socket is elsewhere ------------
with Postern(tls=False, name="live", conf={"delivery_enabled": "no"}) as p:
    before = inject(p, ["old@example.test"], BODY % (1, 1))
    bdir = os.path.join(p.dir, "backup")
    p.posternctl("backup", bdir)
    after = inject(p, ["new@example.test"], BODY % (2, 2))
    r = p.posternctl("-s", os.path.join(p.dir, "elsewhere.sock"), "restore", bdir)
    is_(r.returncode, 1, "restore while posternd runs (socket elsewhere): refused, exit 1")
    like(r.stderr, r"data_directory %s: in use by posternd pid %d" % (re.escape(p.data_dir), p.pid),
         "restore: names the running daemon")
    ok(p.posternctl_json("queue", "show", after, "--reason", "t")["body_status"] == "available",
       "restore: the running daemon's queue is untouched (the newer message is there)")

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


# ---- the erasure journal's file system full --------------------------------
def fill(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\1" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def small_tmpfs():
    """A 256 KiB tmpfs on a temp dir, or None where it cannot be mounted."""
    if os.geteuid() != 0:
        return None
    mnt = os.path.join(tmpdir("postern-jfull-"), "keys")
    os.mkdir(mnt)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return mnt


mnt = small_tmpfs()
if mnt is None:
    skip(6, "needs root and a tmpfs mount")
else:
    try:
        mk = os.path.join(mnt, "master.key")
        with Postern(tls=False, name="jfull", conf={"delivery_enabled": "no",
                                                      "master_key_file": mk}) as p:
            lid = inject(p, ["live@example.test"], "Subject: live\r\n\r\nlive\r\n")
            did = inject(p, ["gone@example.test"], "Subject: gone\r\n\r\ngone\r\n")
            bdir = os.path.join(p.dir, "backup")
            is_(p.posternctl("backup", bdir).returncode, 0, "journal full: a backup of both")
            # the journal's last page full too, or its next line fits in it
            p.stop()
            jp = os.path.join(mnt, "erasure.journal")
            with open(jp, "ab") as f:
                f.write(b"\n" * (-os.path.getsize(jp) % 4096))
            p.start()
            filler = os.path.join(mnt, "filler")
            fill(filler)
            start = p.log_size()
            r = p.posternctl("queue", "delete", did)
            is_(r.returncode, 0, "journal full: queue delete of a message")
            try:
                p.wait_log(r"event=journal_write_failed ", timeout=30, start=start)
            except HarnessError:
                pass
            like(p.log(start), r"event=journal_write_failed .*keys_waiting=1",
                 "journal full: the log says the erasure waits for the journal")
            os.unlink(filler)
            inject(p, ["later@example.test"], "Subject: later\r\n\r\nlater\r\n")
            r = p.posternctl("queue", "delete", inject(p, ["x@example.test"], "Subject: x\r\n\r\nx\r\n"))
            p.stop()
            j = open(os.path.join(mnt, "erasure.journal"), "rb").read()
            ok((" msg %s " % did).encode() in j,
               "journal full: once space returned, the erasure is in the journal")
            r = p.posternctl("restore", bdir)
            is_(r.returncode, 0, "journal full: restore of the backup (%s)" % (r.stdout + r.stderr).strip())
            p.start()
            j1 = p.posternctl_json("queue", "show", did, "--reason", "t")
            ok(j1["body_status"] != "available" and j1["envelope"] == "shredded",
               "journal full: after restore the deleted message stays deleted (%s)" % j1["body_status"])
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
done()
