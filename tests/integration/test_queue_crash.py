#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""kill -9 while clients keep committing (DESIGN.md §4): after a restart
every acknowledged message is present and readable, and the scheduler
has every one of their recipients again.  The load-and-crash loop is
queuelib.crash_under_load(), reused end to end by the SMTP and delivery
tests with an SMTP submit function."""

import json

from harness import *
from queuelib import crash_under_load, inject, queue_ids

plan(7)
with Postern(tls=False, conf={"delivery_enabled": "no"}) as p:
    n = [0]

    def submit():
        n[0] += 1
        return inject(p, ["r@example.test"], "Subject: crash %d\r\n\r\nbody %d\r\n" % (n[0], n[0]))

    acked, errors = crash_under_load(p, submit, threads=8, min_acked=300)
    ok(len(acked) >= 300, "%d messages acknowledged before and during the kill" % len(acked))
    ok(p.running(), "daemon restarted after kill -9")
    present = set(queue_ids(p))
    missing = set(acked) - present
    is_(len(missing), 0, "no acknowledged message lost (%d missing)" % len(missing))
    st = p.posternctl_json("queue", "stats")
    is_(st["scheduled"], st["messages"], "every recovered message is scheduled again")
    bad = [i for i in acked[:50] if "body" not in p.posternctl_json("queue", "show", i, "--body")]
    is_(len(bad), 0, "recovered bodies decrypt (50 checked)")
    ok(inject(p, ["r@example.test"], "Subject: after\r\n\r\nx\r\n"), "commits work after recovery")
    # After a crash the socket file is stale (connection refused): the
    # read-only commands fall back to opening LMDB directly.
    p.kill9()
    r = p.posternctl("queue", "list", "--all", "--json")
    ok(r.returncode == 0 and set(acked) <= set(m["id"] for m in json.loads(r.stdout)["messages"]),
       "queue list after kill -9 (stale socket, daemon down) shows every acknowledged message")
done()
