#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The retention purge in bounded batches (issue 17): 600 finished
messages past their metadata retention are purged by `queue purge` in
several writer transactions (256 messages each at most), and the purge
writes exactly one summary event with the totals and the number of
batches; a message committed while the purge runs is kept.
`posternctl retention show [--account A]` prints the periods in force
(postern.conf's, the account's overrides) and what the next purge would
remove, before and after the periods run out.  Audit records go after
audit_retention."""

import json
import os
import threading
import time

from harness import *
from queuelib import control, inject

plan(12)

N = 600
conf = {"delivery_enabled": "no", "purge_interval": "1h", "queue_map_size": "64m",
        "event_retention": "3s", "body_retention": "2s", "audit_retention": "4s"}
with Postern(tls=False, conf=conf) as p:
    is_(p.posternctl("account", "add", "app1").returncode, 0, "account add app1")
    p.posternctl("account", "set", "app1", "--set", "body_retention=0")
    ids = [inject(p, ["r%d@example.test" % i], "Subject: %d\r\n\r\nx\r\n" % i, account="app1")
           for i in range(N)]
    ok(all(ids), "%d messages queued" % N)
    r = control(p, "queue.delete", {"ids": ids})
    ok(r.get("ok"), "all of them deleted (final, metadata kept for event_retention)")
    rs = p.posternctl_json("retention", "show", "--account", "app1")
    ok(rs["periods"]["body_retention"] == {"ms": 0, "from": "account"} and
       rs["periods"]["event_retention"] == {"ms": 3000, "from": "postern.conf"} and
       rs["held"]["messages"] == N and rs["next_purge"]["messages"] == 0,
       "retention show --account: the account's override, the global period, nothing due yet (%r)" % rs)
    time.sleep(4.5)
    rs = p.posternctl_json("retention", "show")
    is_(rs["next_purge"]["messages"], N, "retention show: after event_retention all %d records are due" % N)
    kept = []
    t = threading.Thread(target=lambda: kept.append(inject(p, ["live@example.test"], "Subject: live\r\n\r\nx\r\n",
                                                           account="app1")))
    t.start()
    r = p.posternctl("queue", "purge")
    t.join()
    is_(r.returncode, 0, "queue purge: exit 0")
    ev = [e for e in p.posternctl_json("queue", "events")["events"] if e.get("event") == "purge"]
    big = [e for e in ev if e.get("messages") == N]
    is_(len(big), 1, "one summary event for the purge (%r)" % ev[-1:])
    ok(big and big[0]["batches"] >= 3, "... done in %s batches of at most 256" % (big[0]["batches"] if big else "?"))
    ok(big and big[0]["audit"] >= N, "audit records past audit_retention went too (%s)" % (big[0].get("audit") if big else "?"))
    old = [a for a in p.posternctl_json("audit", "list")["audit"]
           if a.get("cmd") == "queue.inject" and (kept[0] if kept else None) not in a.get("ids", [])]
    is_(old[:2], [], "no audit record older than audit_retention is left")
    left = [m["id"] for m in p.posternctl_json("queue", "list")["messages"]]
    ok(kept and kept[0] and left == [kept[0]], "the records are gone; the message committed meanwhile is kept")
    rs = p.posternctl_json("retention", "show")
    is_(rs["next_purge"]["messages"], 0, "retention show after the purge: nothing due")
done()
