#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_addr_memo: the relay's per-session memo of address-index hashes
(src/inbound/relay.c, issue 20 item 2) stores the same hash the writer
makes itself.

The restriction and suppression checks at RCPT hash each address once
and the relay hands those hashes to the queue, which then does not hash
again.  Every lookup by address (data-subject requests, suppression by
feedback, `queue list --rcpt/--sender`) depends on them, so a wrong one
is a lost message for the operator and a subject request that misses
mail.  Three transactions over one relay session: mixed-case addresses,
more recipients than the memo holds, a suppressed (dropped) recipient
in the middle, a sender that was a recipient before, RSET, the null
sender.  Each stored hash is compared with the one the writer makes for
the same address in a message injected over the control socket (which
carries no hashes), and the listing filters find the messages.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from queuelib import inject  # noqa: E402


def main():
    plan(5)
    sink = Sink(host="127.0.0.1").start()
    sink.on_rcpt("r1@dest.test", "451 4.3.0 later")  # stays queued
    conf = {"transport": "*=[127.0.0.1]:%d" % sink.port, "smtpd_relay_account": "app1",
            "retry_schedule": "1h", "purge_interval": "1h", "queue_map_size": "16m",
            "suppression_action": "drop"}
    p = Postern(tls=False, conf=conf).start()
    p.posternctl("account", "add", "app1")
    r = p.posternctl("suppress", "add", "gone@dest.test", "--account", "app1",
                     "--reason", "unsubscribe")
    is_(r.returncode, 0, "suppression added (%s)" % r.stderr.strip())
    s = p.smtp("relay", 30)
    s.ehlo("x")
    ids = []

    def tx(sender, rcpts, subj):
        code, text = s.mail(sender)
        if code != 250:
            bail_out("MAIL: %s %s" % (code, text))
        for x in rcpts:
            s.rcpt(x)
        code, text = s.data(make_message(to="x@dest.test", subject=subj))
        ids.append(queue_id(text.decode() if isinstance(text, bytes) else text))

    tx("Alice.S@Sender.TEST", ["R1@dest.test", "gone@dest.test", "R2@Dest.Test", "r3@dest.test"],
       "t1")
    tx("bob@sender.test", ["R1@dest.test", "Alice.S@Sender.TEST", "Gone@dest.test", "z@dest.test"],
       "t2")
    s.rset()
    tx("", ["r3@dest.test"], "t3")
    s.quit()
    ok(len(ids) == 3 and all(ids), "three messages queued %s" % ids)

    ref = inject(p, ["R1@dest.test", "R2@Dest.Test", "r3@dest.test", "Alice.S@Sender.TEST",
                     "z@dest.test", "bob@sender.test"], "Subject: ref\r\n\r\nx\r\n",
                 sender="Alice.S@Sender.TEST", account="app1")
    refm = p.posternctl_json("queue", "show", ref, "--addresses", "--reason", "test")
    want = {x["address"].lower(): x["address_hash"] for x in refm["recipients"]}
    want["alice.s@sender.test"] = refm["sender_hash"]
    bad, seen = [], 0
    for i in ids:
        m = p.posternctl_json("queue", "show", i, "--addresses", "--reason", "test")
        if m.get("sender"):
            seen += 1
            if want.get(m["sender"].lower()) != m.get("sender_hash"):
                bad.append(("sender", i, m["sender"]))
        for x in m["recipients"]:
            seen += 1
            if want.get(x["address"].lower()) != x["address_hash"]:
                bad.append(("rcpt", i, x["address"]))
    ok(seen == 9 and not bad, "all %d stored hashes (the suppressed recipient dropped) match "
       "the writer's own (%s)" % (seen, bad))
    lst = p.posternctl_json("queue", "list", "--rcpt", "r1@dest.test")
    ok(set(ids[:2]) <= {m["id"] for m in lst["messages"]},
       "queue list --rcpt finds both messages to R1")
    lst = p.posternctl_json("queue", "list", "--sender", "alice.s@sender.test")
    ok(ids[0] in {m["id"] for m in lst["messages"]}, "queue list --sender finds the first")
    p.stop()
    sink.stop()


run(main)
