#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_queue_control.py: queue control by destination (issue 19).

- queue list shows pending mail (queued, held, deferred) by default;
  --all adds the history (delivered, bounced, ...); --state still picks
  one state.
- --rcpt and --sender match through the keyed address index (case and
  IDNA-normalised: RCPT@EXAMPLE.TEST finds rcpt@example.test), --domain
  by recipient domain; also offline.
- queue summary: pending recipients by destination domain and age
  bucket (qshape), busiest first, with a total row; delivered ones are
  not counted.
- queue suspend|unsuspend --domain D: holds (releases) only the
  recipients in D, of every message, audited with the ids changed.
- queue bounce ID...|--domain D: pending recipients bounced now by the
  operator, one DSN per message to its sender (never to <>)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402
from queuelib import control, inject  # noqa: E402

BODY = "From: a@example.test\r\nSubject: ops\r\n\r\nhello\r\n"


def ids(p, *args):
    return sorted(m["id"] for m in p.posternctl_json("queue", "list", *args)["messages"])


def main():
    plan(35)
    p = Postern(conf={"delivery_enabled": "no"})
    p.start()
    a = inject(p, ["one@big.test", "two@big.test"], BODY, sender="alice@example.test")
    b = inject(p, ["three@big.test"], BODY, sender="bob@example.test")
    c = inject(p, ["x@small.test"], BODY, sender="alice@example.test", held=True)
    d = inject(p, ["done@small.test"], BODY, sender="carol@example.test")
    ok(a and b and c and d, "four messages committed")
    r = control(p, "queue.report", {"id": d, "rcpt": 0, "result": "delivered"})
    ok(r.get("ok") or r.get("status") == 0, "one delivered")

    is_(ids(p), sorted([a, b, c]), "queue list: pending only (queued and held)")
    is_(ids(p, "--all"), sorted([a, b, c, d]), "queue list --all: the history too")
    is_(ids(p, "--state", "delivered"), [d], "--state delivered")
    is_(ids(p, "--rcpt", "THREE@Big.Test"), [b], "--rcpt through the address index (case folded)")
    is_(ids(p, "--sender", "alice@example.test"), sorted([a, c]), "--sender")
    is_(ids(p, "--sender", "alice@example.test", "--state", "held"), [c], "--sender with --state")
    is_(ids(p, "--domain", "BIG.test"), sorted([a, b]), "--domain")
    is_(ids(p, "--domain", "small.test", "--all"), sorted([c, d]), "--domain --all")
    r = p.posternctl("queue", "list", "--rcpt", "not an address")
    is_(r.returncode, 2, "--rcpt with a bad address: usage error")

    s = p.posternctl_json("queue", "summary")
    is_(s["buckets"], [5, 10, 20, 40, 80, 160, 320, 640, 1280], "summary: qshape's buckets (minutes)")
    is_([(x["domain"], x["total"]) for x in s["domains"]], [("big.test", 3), ("small.test", 1)],
        "summary: pending recipients per domain, busiest first, delivered not counted")
    is_(s["total"]["total"], 4, "summary: total row")
    is_(s["domains"][0]["counts"][0], 3, "summary: all young mail in the first bucket")
    r = p.posternctl("queue", "summary")
    ok(re.search(r"(?m)^DOMAIN\s+TOTAL\s+5m\s+10m.*1280m\+$", r.stdout) and
       re.search(r"(?m)^big\.test\s+3\s+3\s", r.stdout), "summary: a qshape-like table")

    # queue suspend --domain: hold only that destination's recipients
    e = inject(p, ["y@big.test", "z@other.test"], BODY)
    r = p.posternctl("queue", "suspend", "--domain", "Big.Test")
    ok(r.returncode == 0 and "3 messages changed" in r.stdout, "queue suspend --domain: 3 messages")
    m = p.posternctl_json("queue", "show", e, "--reason", "test")
    is_(sorted((x["address"], x["state"]) for x in m["recipients"]),
        [("y@big.test", "held"), ("z@other.test", "queued")], "only the domain's recipients are held")
    is_(ids(p, "--state", "held"), sorted([a, b, c, e]), "their messages show as held")
    r = p.posternctl("queue", "unsuspend", "--domain", "big.test")
    ok(r.returncode == 0 and "3 messages changed" in r.stdout, "queue unsuspend --domain")
    is_(ids(p, "--state", "held"), [c], "released again; the message held by itself stays held")
    r = p.posternctl("queue", "suspend")
    is_(r.returncode, 2, "queue suspend without --domain: usage error")
    audit = p.posternctl_json("audit", "list")["audit"]
    sus = [x for x in audit if x["cmd"] == "queue.suspend"]
    ok(sus and sus[0]["target"] == "big.test" and sorted(sus[0].get("ids", [])) == sorted([a, b, e]),
       "suspend audited with the messages it changed")

    # queue bounce: return pending mail now, with a DSN to the sender
    def dsns_to(sender):
        out = []
        for m in p.posternctl_json("queue", "list", "--all", "--addresses", "--reason", "test")["messages"]:
            if m["sender"] == "" and m["recipients"][0]["address"] == sender:
                out.append(m["id"])
        return out
    f = inject(p, ["r1@gone.test", "r2@keep.test"], BODY, sender="dave@example.test")
    r = p.posternctl("queue", "bounce", "--domain", "gone.test")
    ok(r.returncode == 0 and "1 message changed" in r.stdout, "queue bounce --domain: exit 0")
    m = p.posternctl_json("queue", "show", f, "--reason", "test")
    is_(sorted((x["address"], x["state"]) for x in m["recipients"]),
        [("r1@gone.test", "bounced"), ("r2@keep.test", "queued")], "only the domain's recipient bounced")
    ok(m["recipients"][0]["last_reply"].startswith("550 5.0.0 Returned to the sender by the operator"),
       "with the operator's reply")
    d = dsns_to("dave@example.test")
    is_(len(d), 1, "one DSN from <> to the sender")
    body = p.posternctl_json("queue", "show", d[0] if d else "-", "--body", "--reason", "test").get("body", "")
    ok("Final-Recipient: rfc822; r1@gone.test" in body and "Action: failed" in body and
       "r2@keep.test" not in body.split("Content-Type: text/rfc822-headers")[0],
       "the DSN reports the bounced recipient only")
    r = p.posternctl("queue", "bounce", f)
    ok(r.returncode == 0 and f in r.stdout, "queue bounce ID")
    is_(p.posternctl_json("queue", "show", f)["state"], "bounced", "the whole message is bounced")
    is_(len(dsns_to("dave@example.test")), 2, "a second DSN, for the second recipient")
    r = p.posternctl("queue", "bounce", f)
    is_(r.returncode, 1, "bouncing it again: nothing to bounce, exit 1")
    g = inject(p, ["r3@gone.test"], BODY, sender="")
    p.posternctl("queue", "bounce", g)
    is_(p.posternctl_json("queue", "show", g)["state"], "bounced", "a message from <> bounces too")
    ok(not [m for m in p.posternctl_json("queue", "list", "--all", "--addresses", "--reason", "test")["messages"]
            if m["sender"] == "" and m["recipients"][0]["address"] == ""], "but no DSN goes to <>")

    p.stop()
    is_(ids(p, "--rcpt", "one@big.test"), [a], "--rcpt offline (the daemon stopped)")
    p.close()


run(main)
