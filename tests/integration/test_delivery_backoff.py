#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_backoff: one retry backoff, the queue's, across a SIGHUP
that changes retry_schedule (issue 11).

A recipient whose server always answers 450 is tried at t0 (before
delay_warning_time), deferred for retry_schedule = 4s, and then
retry_schedule becomes 1s by SIGHUP.  The attempt at t0 + 4s is the
first one at or after the delay warning threshold (t0 + 3s), so exactly
one delay warning DSN is due.  Delivery used to work the previous
attempt time out backwards from next_try with the *new* schedule
(t0 + 4s - 1s = the threshold, "not before it") and sent none; now it
reads the attempt time the queue recorded.  And every next_try the
queue shows is the latest attempt plus the current schedule's delay.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def about(sink, subject):
    return [m for m in sink.messages() if ("Subject: %s" % subject).encode() in m.data]


def main():
    plan(6)
    port = free_port("127.0.0.2")
    later = Sink(host="127.0.0.2", port=port, name="later").start()
    later.on_rcpt("*", "450 4.2.1 mailbox busy")
    sender = Sink(host="127.0.0.3", port=port, name="sender").start()
    dns = Dns()
    dns.mx("later.test", "mx.later.test", 10).a("mx.later.test", "127.0.0.2")
    dns.mx("sender.test", "mx.sender.test", 10).a("mx.sender.test", "127.0.0.3")
    dns.start()
    conf = {
        "transport": "*=mx:%d" % port,
        "smtp_address_preference": "ipv4-only",
        "retry_schedule": "4s",
        "delay_warning_time": "3s",
        "max_queue_lifetime": "1h",
    }
    p = Postern(dns=dns, conf=conf)
    p.start()

    s = p.smtp("relay")
    s.ehlo("client.test")
    s.sendmail("s@sender.test", ["c@later.test"],
               "From: <s@sender.test>\r\nSubject: backoff\r\n\r\nx\r\n")
    s.quit()
    p.wait_log(r"event=attempt .*status=deferred", 20)
    conf["retry_schedule"] = "1s"
    p.write_conf(conf)
    ok(p.reload(), "SIGHUP with retry_schedule = 1s reloaded")

    # attempts 2, 3, ... at t0 + 4s, + 5s, + 6s, ...
    wait_for(lambda: len(p.log_lines(r"event=attempt .*status=deferred")) >= 4, 30,
             what="four deferred attempts")
    time.sleep(1.5)
    d = about(sender, "backoff")
    delayed = [m for m in d if b"Action: delayed" in m.data]
    is_(len(delayed), 1, "exactly one delay warning across the schedule change")

    r = p.posternctl("queue", "list", "--json")
    qid = None
    for line in (r.stdout or "").splitlines() + [r.stdout or ""]:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        items = v if isinstance(v, list) else v.get("messages", [])
        if items:
            qid = items[0].get("id")
            break
    ok(qid is not None, "queue list shows the deferred message")
    m = json.loads(p.posternctl("queue", "show", qid, "--json").stdout)
    rc = m["recipients"][0]
    ok(rc["attempts"] >= 4 and rc["first_attempt"] < rc["last_attempt"],
       "queue records first and latest attempt (%d attempts)" % rc["attempts"])
    # the next retry the queue scheduled is the latest attempt + the new 1s
    is_(rc["next_try"] - rc["last_attempt"], 1000,
        "next_try = last_attempt + retry_schedule (1s) after the reload")
    is_(p.stop(), 0, "clean stop")
    done()


run(main)
