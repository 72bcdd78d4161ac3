#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""kill -9 and the key store (issue 13): during commits, every
acknowledged message is readable after the restart (no referenced key
slot was zeroed) and the keys of commits that never completed are zeroed
at start (no slot is left that no record names); during deletes, every
acknowledged delete is unreadable from the raw files (its key is in no
file) and every message not being deleted is still readable."""

import os
import threading
import time

from harness import *
from queuelib import control, crash_under_load, inject, queue_ids
from rawscan import Scan, SLOT

plan(9)


def live_slots(p):
    d = open(os.path.join(p.data_dir, "keys"), "rb").read()
    return sum(1 for n in range(1, len(d) // SLOT) if d[n * SLOT:n * SLOT + 4] in (b"PKS1", b"PKS2"))


def readable(p, mid):
    r = control(p, "queue.show", {"id": mid, "body": True, "reason": "crash test"})
    return r.get("ok") and r["result"].get("body_status") == "available"


with Postern(tls=False, conf={"delivery_enabled": "no", "queue_commit_batch": "64",
                             "queue_map_size": "64m"}) as p:
    n = [0]

    def submit():
        n[0] += 1
        return inject(p, ["r%d@example.test" % n[0]], "Subject: c %d\r\n\r\nbody %d\r\n" % (n[0], n[0]))

    acked, _ = crash_under_load(p, submit, threads=8, min_acked=300)
    ok(len(acked) >= 300 and p.running(), "commits: %d acknowledged, killed -9, restarted" % len(acked))
    bad = [i for i in acked if not readable(p, i)]
    is_(bad, [], "commits: every acknowledged message decrypts after the restart")
    ids = queue_ids(p)
    p.stop()
    is_(live_slots(p), len(ids) + 1,
        "commits: key slots in use = messages + 1 account key (unreferenced ones zeroed at start)")

with Postern(tls=False, conf={"delivery_enabled": "no", "queue_map_size": "16m"}) as p:
    ids = [inject(p, ["d%d@example.test" % i], "Subject: d %d\r\n\r\nDELMARK %d\r\n" % (i, i))
           for i in range(240)]
    ok(all(ids), "deletes: 240 messages committed")
    deleted, sent = [], []
    lock = threading.Lock()
    stop = threading.Event()

    def deleter(part):
        for mid in part:
            if stop.is_set():
                return
            with lock:
                sent.append(mid)
            try:
                r = control(p, "queue.delete", {"ids": [mid]}, timeout=5)
            except Exception:
                return
            if r.get("ok"):
                with lock:
                    deleted.append(mid)

    ts = [threading.Thread(target=deleter, args=(ids[k::4],), daemon=True) for k in range(4)]
    for t in ts:
        t.start()
    wait_for(lambda: len(deleted) >= 60, 60, what="60 acknowledged deletes")
    p.kill9()
    stop.set()
    for t in ts:
        t.join(10)
    p.start()
    untouched = [i for i in ids if i not in sent]
    ok(len(deleted) >= 60 and untouched, "deletes: %d acknowledged, %d never asked, killed -9"
       % (len(deleted), len(untouched)))
    is_([i for i in deleted if readable(p, i)], [], "deletes: no acknowledged delete is readable")
    is_([i for i in untouched if not readable(p, i)], [], "deletes: every message not deleted is readable")
    p.stop()
    files = {n: open(os.path.join(p.data_dir, n), "rb").read() for n in ("data.mdb", "keys")}
    s = Scan(p.master_key_file, files).keys_for([""], deleted + untouched[:5])
    is_([i for i in deleted if s.data_keys.get(i)], [],
        "deletes: no key of an acknowledged delete in data.mdb or the key store (raw scan)")
    ok(all(s.data_keys.get(i) for i in untouched[:5]),
       "deletes: (control) the raw scan finds the keys of messages not deleted")
done()
