#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""purge-latency: does the retention purge stall new commits? (issue 17)

Fills a queue with N finished messages past their metadata retention,
then measures the latency of M commits (queue.inject over the control
socket, each acknowledged only once durable) twice: with the queue
idle, and while `queue purge` removes the N records.  The purge runs in
batches of 256 messages, one writer transaction each, so a commit waits
for at most one batch, not for the whole purge.  Prints p50/p99/max of
both runs and the purge's own duration.

    POSTERN_BUILDDIR=_build/default contrib/bench/purge/purge-latency.py [N] [M]
"""

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
os.environ.setdefault("POSTERN_TAP", "0")

from harness import Postern  # noqa: E402
from queuelib import control, inject  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
M = int(sys.argv[2]) if len(sys.argv) > 2 else 300


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def commits(p, m, stop=None):
    lat = []
    for i in range(m):
        t = time.monotonic()
        inject(p, ["live%d@example.test" % i], "Subject: live\r\n\r\nx\r\n")
        lat.append(time.monotonic() - t)
        if stop is not None and stop.is_set() and i > 20:
            break
    return lat


conf = {"delivery_enabled": "no", "purge_interval": "1h", "queue_map_size": "256m",
        "event_retention": "2s", "body_retention": "1s"}
with Postern(tls=False, conf=conf) as p:
    ids = [inject(p, ["r%d@example.test" % i], "Subject: %d\r\n\r\nx\r\n" % i) for i in range(N)]
    for k in range(0, N, 500):
        r = control(p, "queue.delete", {"ids": ids[k:k + 500]}, timeout=300)
        if not r.get("ok"):
            sys.exit("queue.delete failed: %r" % r)
    time.sleep(2.5)
    idle = commits(p, M)
    done = threading.Event()
    res = {}

    def purge():
        t = time.monotonic()
        p.posternctl("queue", "purge", timeout=600)
        res["purge"] = time.monotonic() - t
        done.set()

    th = threading.Thread(target=purge)
    th.start()
    busy = commits(p, M, stop=done)
    th.join()
    ev = [e for e in p.posternctl_json("queue", "events")["events"] if e.get("event") == "purge"]
    print("N=%d finished records purged in %.2f s (%r); commits measured: idle %d, during purge %d"
          % (N, res["purge"], ev[-1:], len(idle), len(busy)))
    for name, xs in (("idle", idle), ("during purge", busy)):
        print("%-13s p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (name, pct(xs, 0.5), pct(xs, 0.99),
                                                               max(xs) * 1000))
