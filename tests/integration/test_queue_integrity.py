#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The queue's files under damage and misuse (issue 12 items 3, 4, 5).

Item 3: copies of a real data.mdb truncated to 8 KiB, to half, by one
page, with a damaged meta page or damaged tree pages: posternd refuses to
start with "FILE is truncated/corrupt: ..." and offline posternctl
(queue list, queue check) fails with the same words, neither ever dies
of a signal; `posternctl queue check` passes a sound queue (online and
offline) and reports a schedule entry without its message.
Item 4: a second posternd on the same data_directory, with its own or no
pid_file, is refused: "data_directory ...: in use by posternd pid N".
Item 5: an existing queue whose master key file is missing is refused
with a clear error and no new key is made."""

import os
import random
import re
import shutil
import signal
import struct
import subprocess

from harness import *
from queuelib import inject

plan(32)


def meta(path):
    """(page size, last page, main tree's root page) of the newest meta
    page of data.mdb (LMDB 0.9: page header 16, two 48-octet tree records
    at 40, last page at 136, txnid at 144)."""
    with open(path, "rb") as f:
        m0 = f.read(4096)
        psize = struct.unpack_from("<I", m0, 40)[0]
        f.seek(psize)
        m1 = f.read(4096)
    m = max((m0, m1), key=lambda m: struct.unpack_from("<Q", m, 144)[0])
    return psize, struct.unpack_from("<Q", m, 136)[0], struct.unpack_from("<Q", m, 128)[0]


def offline(p, *args):
    """posternctl ARGS with the daemon down; (returncode, stdout + stderr)."""
    r = p.posternctl(*args)
    return r.returncode, r.stdout + r.stderr


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


BODY = "Subject: m %d\r\n\r\n" + "line of text in this message ..............................\r\n" * 40

with Postern(tls=False, conf={"delivery_enabled": "no", "queue_map_size": "4m"}) as p:
    ids = [inject(p, ["r%d@example.test" % i], BODY % i) for i in range(60)]
    ids.append(inject(p, ["big@example.test"], "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 300))
    ok(all(ids), "61 messages queued (one of 300 KB)")
    r = p.posternctl("queue", "check")
    is_(r.returncode, 0, "queue check of a sound queue, online: exit 0")
    like(r.stdout, r"checked: \d+ pages, 61 messages, 61 recipients", "and it says what it read")

    # ---- item 4: a second daemon on the same queue -------------------------
    for pid_file in (None, ""):
        conf = {"data_directory": p.data_dir, "master_key_file": p.master_key_file}
        if pid_file is not None:
            conf["pid_file"] = pid_file
        p2 = Postern(tls=False, name="second", conf=conf)
        rc, log = start_fails(p2)
        what = "its own pid_file" if pid_file is None else "no pid_file"
        is_(rc, 1, "a second posternd with %s is refused (exit 1)" % what)
        like(log, r"data_directory %s: in use by posternd pid %d" % (re.escape(p.data_dir), p.pid),
             "it names the data directory and the running daemon's pid")
        ok(p.running() and p.posternctl("queue", "stats").returncode == 0,
           "the first daemon keeps serving")
        p2.close()
    p.stop()

    rc, out = offline(p, "queue", "check")
    is_(rc, 0, "queue check offline on the sound queue: exit 0 (%s)" % out.strip().splitlines()[-1])
    db = os.path.join(p.data_dir, "data.mdb")
    psize, last, main_root = meta(db)
    used = (last + 1) * psize
    diag("data.mdb: %d octets, page size %d, last page %d" % (os.path.getsize(db), psize, last))

    # ---- item 5: the master key file is missing ---------------------------
    os.rename(p.master_key_file, p.master_key_file + ".away")
    rc, log = start_fails(p)
    is_(rc, 1, "an existing queue without its master key: posternd refuses to start")
    like(log, r"master key %s is missing; the queue in %s cannot be read without it" %
         (re.escape(p.master_key_file), re.escape(p.data_dir)), "with a clear error")
    ok(not os.path.exists(p.master_key_file), "and no new master key was made")
    os.rename(p.master_key_file + ".away", p.master_key_file)
    fresh = Postern(tls=False, name="fresh", conf={"delivery_enabled": "no"})
    fresh.start()
    ok(os.path.exists(fresh.master_key_file), "a new, empty queue still gets a new master key")
    fresh.close()

    # ---- item 3: damaged copies -------------------------------------------
    def variant(name, mutate):
        """A copy of the queue with data.mdb changed by MUTATE(path)."""
        q = Postern(tls=False, name="copy-" + name, conf={
            "delivery_enabled": "no", "master_key_file": p.master_key_file,
            "queue_map_size": "4m"})
        os.makedirs(q.data_dir, mode=0o700)
        shutil.copyfile(db, os.path.join(q.data_dir, "data.mdb"))
        mutate(os.path.join(q.data_dir, "data.mdb"))
        return q

    def overwrite(pages, seed):
        def f(path):
            rnd = random.Random(seed)
            with open(path, "r+b") as fh:
                for pg in pages:
                    fh.seek(pg * psize)
                    fh.write(bytes(rnd.getrandbits(8) for _ in range(psize)))
        return f

    cases = [
        ("8k", lambda path: os.truncate(path, 8192), "is truncated"),
        ("half", lambda path: os.truncate(path, used // 2), "is truncated"),
        ("one-page", lambda path: os.truncate(path, used - psize), "is truncated"),
        ("meta0", overwrite([0], 1), "is corrupt: meta page 0"),
        ("root", overwrite([main_root], 2), "is corrupt"),
    ]
    for name, mutate, words in cases:
        q = variant(name, mutate)
        rc, log = start_fails(q)
        ok(rc == 1 and re.search(r"data\.mdb %s" % words, log),
           "%s: posternd refuses to start: %s" % (name, words))
        rc, out = offline(q, "queue", "list")
        ok(rc == 1 and words in out, "%s: offline queue list fails clearly (exit %d: %s)" %
           (name, rc, out.strip()[:160]))
        rc, out = offline(q, "queue", "check")
        ok(rc == 1 and words in out, "%s: offline queue check fails clearly (exit %d)" % (name, rc))
        q.close()

    # random damaged pages: whatever they hit, nothing dies of a signal
    crashed = []
    for seed in range(8):
        rnd = random.Random(1000 + seed)
        pages = sorted(rnd.sample(range(2, last + 1), min(3, last - 1)))
        q = variant("rnd%d" % seed, overwrite(pages, seed))
        for args in (("queue", "list"), ("queue", "check"), ("queue", "stats")):
            rc, out = offline(q, *args)
            if rc < 0 or rc > 2:
                crashed.append("seed %d pages %s %s: exit %d" % (seed, pages, " ".join(args), rc))
        q.close()
    is_(crashed, [], "8 copies with 3 random damaged pages each: offline list/check/stats never crash")

    # a logical inconsistency: a schedule entry whose message does not exist
    def orphan(path):
        d = os.path.dirname(path)
        dump = subprocess.run(["mdb_dump", "-s", "schedule", d], check=True,
                              capture_output=True, text=True).stdout
        key = (struct.pack(">Q", 1) + b"01M00000000000000000" + struct.pack(">I", 0)).hex()
        dump = dump.replace("DATA=END", " %s\n \nDATA=END" % key)
        subprocess.run(["mdb_load", "-s", "schedule", d], input=dump, check=True, text=True)
    q = variant("orphan", orphan)
    rc, out = offline(q, "queue", "check")
    is_(rc, 1, "queue check of a queue with an orphan schedule entry: exit 1")
    like(out, r"problem: schedule 01M00000000000000000: no such message", "and it names the problem")
    q.close()
done()
