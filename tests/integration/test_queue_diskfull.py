#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""A full disk under the queue (issue 12 items 1 and 2), on a small tmpfs
and on a small loop-mounted ext4 (root only; skipped otherwise).

Item 2 (and a reservation that does not fit: on ext4 a failed
posix_fallocate keeps every free block, so it is given back; else the
freed space went to data.mdb, and the key store, the spam model's LMDB
and the next commit found none): with the file system full, SMTP commits answer
`452 4.3.1 Insufficient system storage` (not 451 4.3.0 from LMDB's EIO),
the log says the disk is full, the daemon keeps serving, and it accepts
again once space is freed.

Item 1: with the queue's map full and unable to grow, delivery results
cannot be committed.  The sink counts deliveries per message: at most 2
each (the measured maximum is printed), delivery pauses while writes
fail (event=queue_writes_failing), and every message is delivered once
space returns, by itself (event=queue_writes_resumed).  The same over
two delivery loops, stopped by SIGTERM while results are held on both:
exit 0 (under ASan: no leak, no use after free of a stopped engine),
no callback dropped, and after a restart every message arrives."""

import collections
import os
import re
import shutil
import subprocess
import time

from harness import *

FS_SIZE = 40 * 1024 * 1024

if os.geteuid() != 0:
    skip_all("needs root to mount a small file system")



class SmallFs:
    """A small file system of KIND (tmpfs or ext4 on a loop device) at a
    temp dir, unmounted (and the loop device detached) on close."""

    def __init__(self, kind):
        self.kind = kind
        self.top = tmpdir("postern-fs-")
        self.mnt = os.path.join(self.top, "mnt")
        os.mkdir(self.mnt)
        self.loop = None
        try:
            self._mount(kind)
        except BaseException:
            self.close()
            raise
        self.filler = os.path.join(self.mnt, "filler")

    def _mount(self, kind):
        if kind == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % FS_SIZE,
                            "tmpfs", self.mnt], check=True)
        else:
            img = os.path.join(self.top, "fs.img")
            subprocess.run(["truncate", "-s", str(FS_SIZE), img], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", img], check=True)
            self.loop = subprocess.run(["losetup", "--find", "--show", img], check=True,
                                       capture_output=True, text=True).stdout.strip()
            subprocess.run(["mount", self.loop, self.mnt], check=True)

    def fill(self):
        """Write FILLER until the file system has no room left."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 65536, 4096, 512):
                block = b"\1" * size
                try:
                    while True:
                        os.write(fd, block)
                except OSError:
                    pass
        finally:
            os.close(fd)
        os.sync()

    def free(self):
        os.unlink(self.filler)
        os.sync()

    def close(self):
        if os.path.ismount(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], check=False)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], check=False)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def message(i, size=20000):
    return ("From: app@example.test\r\nTo: r@example.org\r\nSubject: m-%d\r\n\r\n" % i +
            ("line %d of message %d .........................................\r\n" % (0, i)) *
            (size // 64))


def smtp_until_full(p, limit=2000, sizes=(20000,), first=0):
    """Submit messages of each size in SIZES until a commit is refused;
    (accepted, code, text) of the last refusal."""
    n = 0
    code, text = 250, "never refused"
    for size in sizes:
        for i in range(limit):
            code, text = p.send("app@example.test", ["r@example.org"], message(first + n, size))
            if code != 250:
                break
            n += 1
    return n, code, text


def can_mount(kind):
    try:
        SmallFs(kind).close()
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


if not can_mount("tmpfs"):
    skip_all("cannot mount a tmpfs here")
have_ext4 = can_mount("ext4")
plan(2 * 7 + 7 + 6)

# ---- item 2: disk full is storage full, on tmpfs and on ext4 --------------
for kind in ("tmpfs", "ext4"):
    if kind == "ext4" and not have_ext4:
        skip(7, "cannot make and mount a loop ext4 here (losetup, mkfs.ext4)")
        continue
    with SmallFs(kind) as fs, Postern(tls=False, name="df-" + kind, conf={
            "data_directory": os.path.join(fs.mnt, "data"),
            "queue_map_size": "4m", "queue_map_grow": "yes", "queue_map_max": "64m",
            "delivery_enabled": "no"}) as p:
        # The reservation ahead (64 MiB) cannot fit this file system; a
        # failed posix_fallocate on ext4 used to keep every free block
        # in data.mdb, so freed space never came back to anything else.
        sv = os.statvfs(fs.mnt)
        ok(sv.f_bavail * sv.f_frsize > FS_SIZE // 2,
           "%s: a reservation that does not fit keeps no space (%d KiB free)" %
           (kind, sv.f_bavail * sv.f_frsize // 1024))
        fs.fill()
        n, code, text = smtp_until_full(p)
        is_("%d %s" % (code, text[:5]), "452 4.3.1",
            "%s: a full disk answers 452 4.3.1 (after %d accepted): %d %s" % (kind, n, code, text))
        like(text, r"Insufficient system storage", "%s: with the catalogue's text" % kind)
        like(p.log(), r"event=queue_disk_full", "%s: the log says the disk is full" % kind)
        unlike(p.log(), r"Input/output error", "%s: and no I/O error is logged" % kind)
        ok(p.running() and p.posternctl("queue", "stats").returncode == 0,
           "%s: the daemon keeps serving (posternctl queue stats)" % kind)
        fs.free()
        code, text = p.send("app@example.test", ["r@example.org"], message(99999))
        is_(code, 250, "%s: it accepts again once space is freed (%s)" % (kind, text))
        p.stop()

# ---- item 1: no redelivery storm while results cannot be committed --------
# A queue whose disk filled up before posternd started: data.mdb holds its
# pages and no free ones (a compacting copy, as an older version or a
# restore leaves it), the file system is full, so the reservation
# at open fails and every delivery result needs a page the disk cannot give.
def compact(datadir):
    """Replace DATADIR/data.mdb by a compacted copy (mdb_copy -c): its
    pages and no free ones, so every new write needs room on the disk."""
    tmp = datadir + ".compact"
    os.mkdir(tmp)
    subprocess.run(["mdb_copy", "-c", datadir, tmp], check=True)
    os.replace(os.path.join(tmp, "data.mdb"), os.path.join(datadir, "data.mdb"))
    shutil.rmtree(tmp)


N = 60
sink = Sink(host="127.0.0.1", name="count").start()
with SmallFs("tmpfs") as fs, Postern(tls=False, name="storm", conf={
        "data_directory": os.path.join(fs.mnt, "data"),
        "queue_map_size": "8m", "queue_map_grow": "yes", "queue_map_max": "64m",
        "transport": "*=[127.0.0.1]:%d" % sink.port,
        "delivery_enabled": "no"}) as p:
    n, code, _ = smtp_until_full(p, limit=N)
    is_(n, N, "%d messages queued with delivery off" % N)
    p.stop()
    compact(os.path.join(fs.mnt, "data"))
    fs.fill()
    p.write_conf({"delivery_enabled": "yes"})
    start = p.log_size()
    p.start()
    p.wait_log(r"event=queue_writes_failing", timeout=60, start=start)
    ok(True, "delivery results cannot be committed: event=queue_writes_failing")
    time.sleep(5)   # a storm would deliver every message many times by now
    during = len(sink.messages())
    fs.free()
    p.wait_log(r"event=queue_writes_resumed", timeout=60, start=start)
    ok(True, "writes resumed by themselves once space returned")
    wait_for(lambda: p.posternctl_json("queue", "stats")["messages_by_state"].get("delivered", 0) >= N,
             timeout=120, what="all %d messages delivered" % N)
    counts = collections.Counter()
    for m in sink.messages():
        counts[m.header("Subject")] += 1
    worst = max(counts.values()) if counts else 0
    diag("deliveries per message with the disk full: %d deliveries before space "
         "returned, %d in all for %d messages, at most %d per message" %
         (during, sum(counts.values()), N, worst))
    evs = collections.Counter(re.findall(r"event=(\w+)", p.log(start)))
    diag("log events: %s" % ", ".join("%s=%d" % kv for kv in sorted(evs.items())))
    is_(len([s for s in counts if s.startswith("m-")]), N, "every queued message reached the sink")
    ok(worst <= 2, "at most 2 deliveries per message (measured max %d)" % worst)
    is_(p.posternctl_json("queue", "stats")["messages_by_state"].get("delivered", 0), N,
        "and every one is recorded delivered")
    ok(p.running(), "daemon still running")

# ---- item 1 over two delivery loops: stopped while results are held -------
# Both loops deliver (one domain, served by both engines); results cannot
# be committed; SIGTERM must stop cleanly with results held on both loops
# (nothing recorded, so the mail stays due), and after a restart with
# space every message arrives, at most twice.
sink.reset()
for f in os.listdir(os.path.join(sink.dir, "msgs")):
    os.unlink(os.path.join(sink.dir, "msgs", f))
with SmallFs("tmpfs") as fs, Postern(tls=False, name="storm2", conf={
        "data_directory": os.path.join(fs.mnt, "data"),
        "queue_map_size": "8m", "queue_map_grow": "yes", "queue_map_max": "64m",
        "transport": "*=[127.0.0.1]:%d" % sink.port,
        "smtpd_loops": "1", "delivery_loops": "2",
        "delivery_enabled": "no"}) as p:
    n, code, _ = smtp_until_full(p, limit=N)
    p.stop()
    compact(os.path.join(fs.mnt, "data"))
    fs.fill()
    p.write_conf({"delivery_enabled": "yes"})
    start = p.log_size()
    p.start()
    p.wait_log(r"event=queue_writes_failing", timeout=60, start=start)
    wait_for(lambda: len(re.findall(r"event=report_held", p.log(start))) >= 4, 60,
             what="results held")
    time.sleep(1)
    loops = set(re.findall(r"event=session \S+ tls=\S+ loop=(\d+)", p.log(start)))
    is_(sorted(loops), ["0", "1"], "two loops: both delivered while writes failed")
    stop_at = p.log_size()
    is_(p.stop(), 0, "two loops: SIGTERM with results held on both loops stops cleanly")
    unlike(p.log(stop_at), r"event=queue_callback_dropped",
           "two loops: the held results' callbacks run at the stop (none dropped)")
    fs.free()
    start = p.log_size()
    p.start()
    wait_for(lambda: p.posternctl_json("queue", "stats")["messages_by_state"].get("delivered", 0) >= N,
             timeout=120, what="all %d messages delivered after the restart" % N)
    counts = collections.Counter(m.header("Subject") for m in sink.messages())
    worst = max(counts.values()) if counts else 0
    is_(len([s for s in counts if s.startswith("m-")]), N, "two loops: every message reached the sink")
    ok(worst <= 2, "two loops: at most 2 deliveries per message (measured max %d)" % worst)
    is_(p.stop(), 0, "two loops: clean stop")
done()
