#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_webhooks.py: signed event webhooks (issue 19), against a local
Python HTTP receiver on 127.0.0.1.

- An account with webhook_url and webhook_secret_file gets one POST per
  event (accepted, delivered), in order, as JSON with the queue id, the
  customer's Message-ID, the pseudonymised recipient, status and time.
- X-Postern-Signature: v1=HMAC-SHA-256(secret, timestamp "." body)
  verifies with the secret; X-Postern-Timestamp is recent; a wrong
  secret does not verify.
- 500 answers are retried (same X-Postern-Event-Id) and a later event
  of the message waits until the earlier one is through.
- kill -9 while the receiver refuses: after the restart every event of
  the acknowledged message still arrives (the outbox is in LMDB).
- a bounce's reply reaches the app with the address scrubbed; with
  webhook_plain_recipients=yes the recipient is the address.
- a message refused at the end of DATA is POSTed as "rejected";
- an account without webhook_url gets nothing; past webhook_lifetime an
  event is dropped with event=webhook_expired."""

import json
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402
from harness import TIME_SCALE  # noqa: E402
from harness.webhook import Receiver, SECRET, verify  # noqa: E402


def send(p, rcpt, mid):
    s = p.smtp("relay")
    s.sendmail("app@example.test", [rcpt],
               "From: <app@example.test>\r\nTo: <%s>\r\nSubject: hook\r\nMessage-ID: <%s>\r\n\r\nhi\r\n"
               % (rcpt, mid))
    s.quit()


def main():
    plan(26)
    rx = Receiver()
    sink = Sink(name="mx").start()
    sink.on_rcpt("bad@bounce.test", "550 5.1.1 <bad@bounce.test>: no such user")
    p = Postern(conf={
        "smtpd_relay_account": "hooks",
        "transport": "dest.test=[127.0.0.1]:%d, bounce.test=[127.0.0.1]:%d" % (sink.port, sink.port),
        "retry_schedule": "1s",
    })
    secret = p.write_file("hook.secret", SECRET + b"\n", 0o600)
    p.start()
    r1 = p.posternctl("account", "add", "hooks", "--domain", "example.test")
    r2 = p.posternctl("account", "set", "hooks", "--set",
                      "webhook_url=http://127.0.0.1:%d/hook" % rx.port,
                      "--set", "webhook_secret_file=%s" % secret)
    ok(r1.returncode == 0 and r2.returncode == 0, "account with webhook_url and webhook_secret_file")
    r = p.posternctl("account", "set", "hooks", "--set", "webhook_url=ftp://x")
    is_(r.returncode, 1, "a webhook_url that is not http(s) is refused")

    # ---- events, order, signature ----
    rx.fail = 2
    send(p, "one@dest.test", "m1@example.test")
    m = re.search(r"event=queued qid=(\w+) .*message_id=<m1@example\.test>", p.wait_log(r"message_id=<m1@").string)
    qid = m.group(1)
    ok(rx.wait(lambda: len(rx.ok_events(qid)) >= 2), "accepted and delivered POSTed")
    evs = rx.ok_events(qid)
    is_([e["event"] for e in evs][:2], ["accepted", "delivered"], "in order, delivered after accepted")
    e = evs[0]
    ok(e["queue_id"] == qid and e["message_id"] == "<m1@example.test>" and e["account"] == "hooks",
       "queue id, the customer's Message-ID, account")
    ok(re.match(r"^h:[0-9a-f]{16}$", e["recipient"] or ""), "recipient pseudonymised by default")
    is_(evs[1]["status"], "2.0.0", "delivered: status 2.0.0")
    ok(isinstance(e["time"], int) and abs(e["time"] / 1000 - time.time()) < 120, "event time (ms)")
    with rx.lock:
        posts = list(rx.posts)
    first = [x for x in posts if json.loads(x["body"])["queue_id"] == qid]
    is_([x["status"] for x in first[:3]], [500, 500, 200], "two 500s, then accepted")
    ids = set(x["headers"]["X-Postern-Event-Id"] for x in first[:3])
    is_(len(ids), 1, "retries carry the same X-Postern-Event-Id")
    ok(json.loads(first[3]["body"])["event"] == "delivered" if len(first) > 3 else False,
       "delivered waited for accepted")
    good, ts = verify(first[2])
    ok(good, "X-Postern-Signature verifies with the secret")
    ok(ts.isdigit() and abs(int(ts) - time.time()) < 120, "X-Postern-Timestamp is recent")
    ok(not verify(first[2], b"wrong")[0], "a wrong secret does not verify")
    is_(first[2]["headers"].get("Content-Type"), "application/json", "Content-Type: application/json")
    like(p.log(), r"qid=%s event=webhook_retry webhook_event=accepted status=500" % qid, "retries are logged")

    # ---- kill -9 while the receiver refuses ----
    rx.always_fail = True
    send(p, "two@dest.test", "m2@example.test")
    m = re.search(r"event=queued qid=(\w+) .*message_id=<m2@example\.test>", p.wait_log(r"message_id=<m2@").string)
    qid2 = m.group(1)
    sink.wait_messages(2, timeout=20)
    is_(p.kill9(), -9, "kill -9 with events not yet accepted by the app")
    rx.always_fail = False
    p.start()
    ok(rx.wait(lambda: [x["event"] for x in rx.ok_events(qid2)][:2] == ["accepted", "delivered"]),
       "after the restart every event of the message arrives, in order")

    # ---- scrubbed reply, plain recipients ----
    p.posternctl("account", "set", "hooks", "--set", "webhook_plain_recipients=yes")
    time.sleep(0.2)
    send(p, "bad@bounce.test", "m3@example.test")
    m = re.search(r"event=queued qid=(\w+) .*message_id=<m3@example\.test>", p.wait_log(r"message_id=<m3@").string)
    qid3 = m.group(1)
    ok(rx.wait(lambda: "bounced" in [x["event"] for x in rx.ok_events(qid3)]), "bounced POSTed")
    b = [x for x in rx.ok_events(qid3) if x["event"] == "bounced"][0]
    ok(b["status"] == "5.1.1" and "bad@bounce.test" not in b["reply"] and
       re.search(r"\[address\]|<h:[0-9a-f]{16}>", b["reply"]),
       "bounce: status 5.1.1, the address in the reply scrubbed (%s)" % b["reply"])
    is_(b["recipient"], "bad@bounce.test", "webhook_plain_recipients=yes: the address")

    # ---- refused at the end of DATA: "rejected", never queued ----
    s = p.smtp("relay")
    s.ehlo("client.test")
    s.mail("app@example.test")
    s.rcpt("five@dest.test")
    try:
        code, _ = s.data("From: <ceo@bank.example>\r\nSubject: x\r\nMessage-ID: <m6@example.test>\r\n\r\nhi\r\n")
    except smtplib.SMTPDataError as e:
        code = e.smtp_code
    s.quit()
    ok(code == 550 and rx.wait(lambda: any(e["event"] == "rejected" and e["message_id"] == "<m6@example.test>"
                                            for e in rx.ok_events())),
       "a message refused at DATA (From: domain) is POSTed as rejected")
    rj = [e for e in rx.ok_events() if e["event"] == "rejected"][0]
    ok(rj["status"] == "5.7.1" and rj["account"] == "hooks" and rj["recipient"] is None,
       "rejected: status 5.7.1, the account, no recipient")

    # ---- no webhook: nothing; lifetime ----
    p.posternctl("account", "set", "hooks", "--set", "webhook_url=")
    time.sleep(6 * TIME_SCALE)    # the relay's account cache
    n = len(rx.posts)
    send(p, "three@dest.test", "m4@example.test")
    p.wait_log(r"message_id=<m4@")
    sink.wait_messages(3, timeout=20)
    time.sleep(1.5 * TIME_SCALE)
    is_(len(rx.posts), n, "an account without webhook_url: no POST")
    p.stop()
    rx.always_fail = True
    p.write_conf({"webhook_lifetime": "2s"})
    p.start()
    p.posternctl("account", "set", "hooks", "--set", "webhook_url=http://127.0.0.1:%d/hook" % rx.port)
    send(p, "four@dest.test", "m5@example.test")
    m = re.search(r"event=queued qid=(\w+) .*message_id=<m5@example\.test>", p.wait_log(r"message_id=<m5@").string)
    ok(p.wait_log(r"qid=%s event=webhook_expired" % m.group(1), timeout=30),
       "past webhook_lifetime: dropped with event=webhook_expired")
    ok(not any(json.loads(x["body"])["queue_id"] == m.group(1) and x["status"] == 200 for x in rx.posts),
       "and never accepted")
    p.close()
    sink.close()
    rx.close()


run(main)
