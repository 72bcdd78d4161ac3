#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The durable queue in the real daemon (issue 3): many concurrent commits
(each answered exactly once, all readable after a restart), map full ->
452 4.3.1 tempfail with the daemon still serving, and a unique marker
submitted in a body never appearing in raw data.mdb: not while queued,
not after delete, not after delivery and the retention purge.
Messages are committed through the hidden operator-only control command
queue.inject (the SMTP server is another issue)."""

import os
import threading

from harness import *
from queuelib import control, inject, queue_ids, file_contains

plan(16)

# ---- many concurrent commits, then a restart --------------------------------
with Postern(tls=False, conf={"delivery_enabled": "no"}) as p:
    results = {}
    lock = threading.Lock()

    def client(n):
        for i in range(25):
            body = "Subject: c%d-%d\r\n\r\nbody %d %d\r\n" % (n, i, n, i)
            r = control(p, "queue.inject", {"sender": "s@example.test",
                                            "rcpts": ["r%d@example.test" % i], "data": body})
            with lock:
                results[(n, i)] = (r, body)

    ts = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    is_(len(results), 400, "400 commits from 16 concurrent clients all answered")
    ids = [r["result"]["id"] for r, _ in results.values() if r.get("ok")]
    is_(len(ids), 400, "every commit acknowledged with an id")
    is_(len(set(ids)), 400, "ids are unique")
    is_(p.stop(), 0, "clean stop")
    p.start()
    present = set(queue_ids(p))
    is_(len(set(ids) - present), 0, "every acknowledged message is in the queue after restart")
    bad = 0
    for (r, body) in list(results.values())[:40]:
        shown = p.posternctl_json("queue", "show", r["result"]["id"], "--body")
        if shown.get("body") != body:
            bad += 1
    is_(bad, 0, "bodies read back intact after restart (40 checked)")
    st = p.posternctl_json("queue", "stats")
    is_(st["messages"], 400, "stats counts 400 messages")
    is_(st["scheduled"], 400, "and 400 scheduled recipients (recovered scheduler index)")

# ---- privacy: the marker never in data.mdb ---------------------------------
marker = "PRIVACY-MARKER-%s" % os.urandom(8).hex()
with Postern(tls=False, conf={"body_retention": "0", "purge_interval": "1s", "delivery_enabled": "no"}) as p:
    body = "Subject: %s\r\n\r\nsecret %s\r\n" % (marker, marker)
    a = inject(p, ["a@example.test"], body)
    b = inject(p, ["b@example.test"], body)
    db = os.path.join(p.data_dir, "data.mdb")
    ok(a and b and not file_contains(db, marker), "marker not in data.mdb while queued")
    r = p.posternctl("queue", "delete", a)
    is_(r.returncode, 0, "queue delete")
    ok(not file_contains(db, marker), "marker not in data.mdb after delete")
    rr = control(p, "queue.report", {"id": b, "rcpt": 0, "result": "delivered"})
    is_(rr.get("result", {}).get("state"), "delivered", "recipient delivered (queue.report)")
    wait_for(lambda: p.posternctl_json("queue", "show", b)["body_status"] == "purged",
             timeout=20, what="body purge after body_retention")
    ok(not file_contains(db, marker), "marker not in data.mdb after delivery and purge")

# ---- map full: tempfail, and the daemon keeps serving -----------------------
with Postern(tls=False, conf={"queue_map_size": "1m", "queue_map_grow": "no", "delivery_enabled": "no"}) as p:
    big = "Subject: big\r\n\r\n" + ("x" * 76 + "\r\n") * 30000
    r = control(p, "queue.inject", {"rcpts": ["a@example.test"], "data": big})
    ok(not r["ok"] and "452 4.3.1" in r.get("error", ""), "map full: 452 4.3.1 (%s)" % r.get("error"))
    ok(p.running(), "daemon still running after map full")
    ok(inject(p, ["a@example.test"], "Subject: small\r\n\r\nok\r\n"),
       "a small message commits after map full")
done()
