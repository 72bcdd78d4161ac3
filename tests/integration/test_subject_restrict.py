#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Restriction of processing (GDPR Art. 18, issue 17) with the real
daemon and a sink: `posternctl subject restrict` holds the address's
queued mail (and every recipient of mail it sent), new mail to or from
it submitted over SMTP is accepted (250) but held with reason
restricted and never delivered, while another address of the same
account is delivered; `subject unrestrict` releases exactly what the
restriction held and it is delivered.  The restriction is stored as a
keyed hash (the raw data.mdb has no address).  Each request returns a
receipt that verifies."""

import json
import os

from harness import *
from queuelib import inject

plan(18)

H = os.urandom(5).hex()
S = "subj.%s@example.test" % H
O = "other.%s@example.test" % H
sink = Sink(host="127.0.0.1").start()
conf = {"transport": "*=[127.0.0.1]:%d" % sink.port, "smtpd_relay_account": "app1",
        "retry_schedule": "1s", "purge_interval": "1h", "queue_map_size": "16m"}
with Postern(tls=False, conf=conf) as p:
    is_(p.posternctl("account", "add", "app1").returncode, 0, "account add app1")
    # queued mail that cannot be delivered yet: sink refuses for now
    sink.on_rcpt(S, "451 4.3.0 try later")
    q1 = inject(p, [S], make_message(to=S, subject="queued-%s" % H), account="app1")
    ok(q1, "a message to the subject is queued")
    wait_for(lambda: p.posternctl_json("queue", "show", q1, "--reason", "t")["recipients"][0]["attempts"] >= 1,
             30, what="first attempt")
    r = p.posternctl("subject", "restrict", "--account", "app1", S, "--reason", "ticket 7", "--json",
                     "--receipt", os.path.join(p.dir, "r.receipt"))
    is_(r.returncode, 0, "subject restrict: exit 0")
    ok(json.loads(r.stdout)["messages_held"] == 1, "the queued message is held")
    is_(p.posternctl("receipt", "verify", os.path.join(p.dir, "r.receipt")).returncode, 0,
        "the restriction's receipt verifies")
    sink.on_rcpt(S, "250 2.1.5 ok")
    code, text = p.send("app@sender.test", [S], make_message(to=S, subject="new-%s" % H))
    q2 = queue_id(text)
    ok(code == 250 and q2, "new mail to the subject is accepted (250)")
    code, text = p.send(S, [O], make_message(mail_from=S, to=O, subject="from-%s" % H))
    q3 = queue_id(text)
    ok(code == 250 and q3, "new mail from the subject is accepted (250)")
    code, text = p.send("app@sender.test", [O], make_message(to=O, subject="control-%s" % H))
    q4 = queue_id(text)
    wait_for(lambda: any(("control-%s" % H).encode() in m.data for m in sink.messages()), 30,
             what="control delivery")
    ok(True, "mail to another address of the account is delivered")
    states = {i: p.posternctl_json("queue", "show", i, "--reason", "t")["state"] for i in (q1, q2, q3)}
    is_(states, {q1: "held", q2: "held", q3: "held"}, "queued and new mail to/from the subject: held")
    vq = p.posternctl_json("queue", "show", q1, "--reason", "t").get("verdicts") or []
    ok([v for v in vq if v.get("stage") == "restriction"],
       "the queued message held by restrict carries the restriction verdict (review sees why)")
    ev = p.posternctl_json("queue", "events", q2)["events"]
    ok([e for e in ev if e.get("event") == "held" and e.get("reason") == "restricted"],
       "the new message's event says held, reason restricted")
    ok(not [m for m in sink.messages() if ("new-%s" % H).encode() in m.data or
            ("from-%s" % H).encode() in m.data or ("queued-%s" % H).encode() in m.data],
       "nothing of the subject was delivered")
    st = p.posternctl_json("subject", "status", "--account", "app1", S)
    ok(st["restricted"] and st["restriction"]["reason"] == "ticket 7", "status: restricted, with the reason")
    r = p.posternctl("subject", "unrestrict", "--account", "app1", S, "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["messages_released"] == 3,
       "subject unrestrict releases the three messages")
    wait_for(lambda: all(p.posternctl_json("queue", "show", i, "--reason", "t")["state"] == "delivered"
                         for i in (q1, q2, q3)), 60, what="delivery after unrestrict")
    ok(True, "after unrestrict they are delivered")
    vq = p.posternctl_json("queue", "show", q1, "--reason", "t").get("verdicts") or []
    ok(not [v for v in vq if v.get("stage") == "restriction"], "unrestrict removed the verdict again")
    r = p.posternctl("subject", "unrestrict", "--account", "app1", S, "--json")
    ok(r.returncode == 1 and "not restricted" in r.stderr and
       json.loads([l for l in r.stdout.splitlines() if l.strip()][-1]).get("receipt"),
       "unrestrict of an address not restricted: exit 1, message, receipt")
    p.stop()
    raw = open(os.path.join(p.data_dir, "data.mdb"), "rb").read()
    ok(S.encode() not in raw, "the restriction is stored as a keyed hash (no address in data.mdb)")
sink.close()
done()
