#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Zero retention (issue 17) with the real daemon and a sink: an account
with body_retention=0 has each body shredded in the transaction that
makes its last recipient final: right after delivery `queue show --body`
finds it shredded and no data key for it can be recovered from the key
store or data.mdb with the master key (its slot is zero).  One message
asks with `X-Postern-Retention: 0`: the field never reaches the
recipient and the body goes the same way; an account with
retention_header=forbid has the field stripped but keeps the body for
its body_retention, as does a message without the field (control)."""

import os

from harness import *
from rawscan import Scan

plan(12)

H = os.urandom(5).hex()
sink = Sink(host="127.0.0.1").start()
conf = {"transport": "*=[127.0.0.1]:%d" % sink.port, "smtpd_relay_account": "app1",
        "purge_interval": "1h", "queue_map_size": "16m"}


def deliver(p, tag, headers=()):
    code, text = p.send("app@sender.test", ["r.%s@example.test" % H],
                        make_message(to="r.%s@example.test" % H, subject="%s-%s" % (tag, H),
                                     body="BODY-%s-%s\r\n" % (tag, H), headers=headers))
    qid = queue_id(text)
    wait_for(lambda: p.posternctl_json("queue", "show", qid, "--reason", "t")["state"] == "delivered",
             30, what="delivery of %s" % tag)
    return qid


def body_status(p, qid):
    return p.posternctl_json("queue", "show", qid, "--body", "--reason", "t")["body_status"]


def sunk(tag):
    return [m.data for m in sink.messages() if ("%s-%s" % (tag, H)).encode() in m.data]


with Postern(tls=False, conf=conf) as p:
    is_(p.posternctl("account", "add", "app1").returncode, 0, "account add app1")
    is_(p.posternctl("account", "set", "app1", "--set", "body_retention=0").returncode, 0,
        "account set app1 body_retention=0")
    z = deliver(p, "zero")
    ok(body_status(p, z) in ("shredded", "purged"), "body_retention=0: right after delivery the body cannot be read")

    p.posternctl("account", "set", "app1", "--set", "body_retention=")
    h = deliver(p, "header", headers=[("X-Postern-Retention", "0")])
    ok(sunk("header") and b"X-Postern-Retention" not in sunk("header")[0],
       "X-Postern-Retention is stripped before delivery")
    ok(body_status(p, h) in ("shredded", "purged"), "X-Postern-Retention: 0: shredded right after delivery")
    c = deliver(p, "control")
    is_(body_status(p, c), "available", "(control) without the field the body stays for body_retention")

    is_(p.posternctl("account", "set", "app1", "--set", "retention_header=forbid").returncode, 0,
        "account set app1 retention_header=forbid")
    p.stop()      # the relay listener caches its account record for a while
    p.start()
    f = deliver(p, "forbid", headers=[("X-Postern-Retention", "0")])
    ok(sunk("forbid") and b"X-Postern-Retention" not in sunk("forbid")[0],
       "retention_header=forbid: the field is still stripped")
    is_(body_status(p, f), "available", "... and the body kept")
    r = p.posternctl("account", "set", "app1", "--set", "retention_header=sometimes")
    is_(r.returncode, 1, "retention_header: a bad value is refused")
    p.stop()
    files = {n: open(os.path.join(p.data_dir, n), "rb").read() for n in ("data.mdb", "keys")}
    s = Scan(p.master_key_file, files).keys_for(["app1"], [z, h, c])
    is_(len(s.data_keys.get(z, ())) + len(s.data_keys.get(h, ())), 0,
        "no key of the zero-retention messages in the key store or data.mdb (slots zeroed)")
    ok(len(s.data_keys.get(c, ())) > 0, "(control) the kept message's key is found by the scanner")
sink.close()
done()
