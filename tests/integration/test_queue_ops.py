#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Operator actions against a queue that holds deleted and final mail
(issue 12 items 6 and 8).

Item 6: `queue hold|release|requeue --all-matching` skip deleted and
final messages instead of failing with `no such message: <deleted id>`.
Item 8: deleting an account finalises its queued mail in the same
transaction (messages deleted, an event per recipient, nothing left
scheduled), and deleting an account that never sent mail succeeds."""

import json

from harness import *
from queuelib import control, inject

plan(16)

BODY = "Subject: ops\r\n\r\nhello\r\n"

with Postern(tls=False, conf={"delivery_enabled": "no"}) as p:
    a = inject(p, ["a@example.test"], BODY)
    b = inject(p, ["b@example.test"], BODY)
    gone = inject(p, ["c@example.test"], BODY)
    done_ = inject(p, ["d@example.test"], BODY)
    ok(a and b and gone and done_, "four messages queued")
    is_(p.posternctl("queue", "delete", gone).returncode, 0, "one deleted")
    r = control(p, "queue.report", {"id": done_, "rcpt": 0, "result": "delivered"})
    ok(r.get("ok"), "one delivered (final)")

    r = p.posternctl("queue", "hold", "--all-matching")
    is_(r.returncode, 0, "hold --all-matching with a deleted message in the queue: exit 0 (%s)" %
        (r.stdout + r.stderr).strip())
    states = {m["id"]: m["state"] for m in p.posternctl_json("queue", "list", "--all")["messages"]}
    ok(states[a] == "held" and states[b] == "held", "the pending messages are held")
    ok(states[gone] == "deleted" and states[done_] == "delivered",
       "deleted and delivered ones are left alone")
    r = p.posternctl("queue", "release", "--all-matching")
    is_(r.returncode, 0, "release --all-matching: exit 0 (%s)" % (r.stdout + r.stderr).strip())
    r = p.posternctl("queue", "requeue", "--all-matching")
    is_(r.returncode, 0, "requeue --all-matching: exit 0 (%s)" % (r.stdout + r.stderr).strip())
    r = p.posternctl("queue", "hold", gone)
    is_(r.returncode, 1, "an explicit id of a deleted message is still refused")

    # ---- item 8: account deletion with queued mail ------------------------
    is_(p.posternctl("account", "add", "leaving", "--domain", "example.test").returncode, 0,
        "account added")
    m1 = inject(p, ["x@example.org", "y@example.org"], BODY, account="leaving")
    m2 = inject(p, ["z@example.org"], BODY, account="leaving")
    before = p.posternctl_json("queue", "stats")["scheduled"]
    r = p.posternctl("account", "delete", "leaving")
    is_(r.returncode, 0, "account delete with queued mail: exit 0 (%s)" % (r.stdout + r.stderr).strip())
    states = {m["id"]: m["state"] for m in p.posternctl_json("queue", "list", "--all")["messages"]}
    ok(states.get(m1) == "deleted" and states.get(m2) == "deleted",
       "its queued messages are deleted (%s, %s)" % (states.get(m1), states.get(m2)))
    is_(p.posternctl_json("queue", "stats")["scheduled"], before - 3,
        "none of their recipients is scheduled any more (no delivery attempts)")
    evs = p.posternctl_json("queue", "events", m1)
    evs = evs.get("events", evs) if isinstance(evs, dict) else evs
    is_(len([e for e in evs if e.get("event") == "delete"]), 2,
        "an event for each of the deleted recipients")
    is_(p.posternctl("account", "add", "unused").returncode, 0, "an account that never sent mail")
    r = p.posternctl("account", "delete", "unused")
    is_(r.returncode, 0, "deleting it succeeds (%s)" % (r.stdout + r.stderr).strip())
done()
