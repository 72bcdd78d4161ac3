#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The key store's pool cannot grow: the data directory on a small tmpfs
filled to the last block (root only; skipped otherwise).

data.mdb has free pages (large messages queued and deleted), so a small
message's commit needs no new block there; the key store's pool fill
needs new slots at the end of DATA_DIR/keys and the disk has none.  The
commit answers 452 4.3.1 (event=queue_disk_full names the key store),
nothing acknowledged is lost, the file keeps whole slots (no torn
tail), the daemon serves on and accepts again once space returns.  A
kill -9 with the disk still full and a start on it: the start succeeds
and every acknowledged message reads."""

import json
import re
import os
import subprocess

from harness import *
from queuelib import inject

if os.geteuid() != 0:
    skip_all("needs root to mount a small file system")

FS_SIZE = 24 * 1024 * 1024


class Tmpfs:
    def __init__(self):
        self.mnt = os.path.join(tmpdir("postern-ksfs-"), "mnt")
        os.mkdir(self.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % FS_SIZE, "tmpfs",
                        self.mnt], check=True)
        self.filler = os.path.join(self.mnt, "filler")

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 65536, 4096, 512, 64, 1):
                try:
                    while True:
                        os.write(fd, b"\1" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self):
        os.unlink(self.filler)

    def close(self):
        subprocess.run(["umount", "-l", self.mnt], check=False)


try:
    fs = Tmpfs()
except (OSError, subprocess.CalledProcessError):
    skip_all("cannot mount a tmpfs here")

plan(11)


def status(p, qid):
    r = p.posternctl("queue", "show", qid, "--reason", "t", "--json")
    return json.loads(r.stdout).get("body_status") if r.returncode == 0 else "gone"


def small(i):
    return "From: app@example.test\r\nSubject: small %d\r\n\r\nhello %d\r\n" % (i, i)


try:
    with Postern(tls=False, name="ksfull", conf={
            "data_directory": os.path.join(fs.mnt, "data"), "queue_map_size": "16m",
            "queue_map_grow": "no", "delivery_enabled": "no"}) as p:
        big = "Subject: big\r\n\r\n" + ("x" * 76 + "\r\n") * 40000
        gone = [inject(p, ["b@example.test"], big) for i in range(3)]
        for i in gone:
            p.posternctl("queue", "delete", i)
        acked = [inject(p, ["s@example.test"], small(i)) for i in range(3)]
        p.stop()        # pool zeroed and cut off: the next start's first commit fills anew
        p.start()
        ks = os.path.join(fs.mnt, "data", "keys")
        fs.fill()
        start = p.log_size()
        code, text = 250, ""
        for i in range(200):
            code, text = p.send("app@example.test", ["r@example.org"], small(100 + i))
            if code != 250:
                break
            acked.append(text.split()[-1] if text else None)
        is_("%d %s" % (code, text[:5]), "452 4.3.1",
            "a pool fill with no room answers 452 4.3.1 (%d %s)" % (code, text))
        like(p.log(start), r"event=queue_disk_full file=%s" % re.escape(ks),
             "the log names the key store as the file that cannot grow")
        unlike(p.log(start), r"Input/output error", "and logs no I/O error")
        is_(os.path.getsize(ks) % 64, 0, "the key store keeps whole slots (%d octets)" %
            os.path.getsize(ks))
        ok(p.running(), "the daemon keeps serving")
        queued = [m for m in p.posternctl_json("queue", "list", "--all")["messages"]]
        ok(all(status(p, m["id"]) == "available" for m in queued if m["state"] != "deleted"),
           "every queued message still reads (%d)" % len(queued))

        # a crash with the disk still full, and a start on it
        p.kill9()
        p.start()
        ok(p.running(), "after kill -9, posternd starts on the full disk")
        queued2 = [m["id"] for m in p.posternctl_json("queue", "list", "--all")["messages"]
                   if m["state"] != "deleted"]
        ok(set(m["id"] for m in queued if m["state"] != "deleted") <= set(queued2),
           "nothing queued before the crash is lost")
        ok(all(status(p, i) == "available" for i in queued2), "and every message reads")
        is_(p.posternctl("queue", "check").returncode, 0, "queue check is clean")
        fs.free()
        code, text = p.send("app@example.test", ["r@example.org"], small(999))
        is_(code, 250, "it accepts again once space returns (%s)" % text)
finally:
    fs.close()
done()
