#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""held_retention (issue 17): an account's held mail that nobody decides
on is rejected (body and data key shredded) after the account's
held_retention instead of the global review_hold_expiry, while another
account's held mail stays for review_hold_expiry; `retention show
--account` reports the period in force for each.  metadata_retention:
an account's finished message records go after its metadata_retention
while their events stay for event_retention, and another account's
records stay."""

import time

from harness import *
from queuelib import control, inject

plan(11)

conf = {"delivery_enabled": "no", "review_hold_expiry": "30s", "purge_interval": "1h",
        "queue_map_size": "16m"}
with Postern(tls=False, conf=conf) as p:
    for a in ("app1", "app2"):
        p.posternctl("account", "add", a)
    is_(p.posternctl("account", "set", "app1", "--set", "held_retention=1s").returncode, 0,
        "account set app1 held_retention=1s")
    short = inject(p, ["a@example.test"], "Subject: s\r\n\r\nx\r\n", account="app1", held=True)
    long_ = inject(p, ["b@example.test"], "Subject: l\r\n\r\nx\r\n", account="app2", held=True)
    ok(short and long_, "a held message in each account")
    r1 = p.posternctl_json("retention", "show", "--account", "app1")["periods"]["held_retention"]
    r2 = p.posternctl_json("retention", "show", "--account", "app2")["periods"]["held_retention"]
    ok(r1 == {"ms": 1000, "from": "account"} and r2 == {"ms": 30000, "from": "postern.conf"},
       "retention show: held_retention per account (%r, %r)" % (r1, r2))
    wait_for(lambda: p.posternctl_json("queue", "show", short, "--reason", "t")["state"] == "deleted",
             20, what="the short hold to expire")
    ok(True, "app1's held message is rejected after its held_retention")
    is_(p.posternctl_json("queue", "show", short, "--body", "--reason", "t")["body_status"] in
        ("purged", "shredded"), True, "... its body is gone")
    is_(p.posternctl_json("queue", "show", long_, "--reason", "t")["state"], "held",
        "app2's held message is still held (review_hold_expiry 30s)")

    # ---- metadata_retention ----
    is_(p.posternctl("account", "set", "app1", "--set", "metadata_retention=1s").returncode, 0,
        "account set app1 metadata_retention=1s")
    m1 = inject(p, ["c@example.test"], "Subject: m\r\n\r\nx\r\n", account="app1")
    m2 = inject(p, ["d@example.test"], "Subject: m\r\n\r\nx\r\n", account="app2")
    ok(control(p, "queue.delete", {"ids": [m1, m2]}).get("ok"), "two finished (deleted) messages")
    rs = p.posternctl_json("retention", "show", "--account", "app1")["periods"]["metadata_retention"]
    is_(rs, {"ms": 1000, "from": "account"}, "retention show: the account's metadata_retention")
    time.sleep(1.5)
    p.posternctl("queue", "purge")
    ok(p.posternctl("queue", "show", m1, "--reason", "t").returncode == 1 and
       p.posternctl("queue", "show", m2, "--reason", "t").returncode == 0,
       "app1's record is purged after 1s, app2's stays")
    ok([e for e in p.posternctl_json("queue", "events", m1)["events"] if e.get("event") == "delete"],
       "app1's events stay for event_retention")
done()
