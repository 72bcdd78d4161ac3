#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_retry: what happens to mail that cannot be delivered now.

  - a first MX that accepts the connection but never greets: after
    smtp_helo_timeout the second MX gets the message;
  - a greeting of 554: the next MX gets it;
  - a recipient that is always deferred: one delay warning DSN (Action:
    delayed) once delay_warning_time has passed, then, after
    max_queue_lifetime, one failure DSN with Status 4.4.7 (expired);
  - NOTIFY=NEVER: no DSN at all for an expired recipient;
  - smtp_destination_rate: no more than that many messages per minute
    start to one destination.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def send(p, rcpt, subject, notify=None):
    s = p.smtp("relay")
    s.ehlo("client.test")
    ropts = ["NOTIFY=%s" % notify] if notify else []
    s.sendmail("s@sender.test", [rcpt], "From: <s@sender.test>\r\nSubject: %s\r\n\r\nx\r\n" % subject,
               rcpt_options=ropts)
    s.quit()


def about(sink, subject):
    return [m for m in sink.messages() if ("Subject: %s" % subject).encode() in m.data]


def main():
    plan(10)
    port = free_port("127.0.0.2")
    hang = Sink(host="127.0.0.2", port=port, name="hang").start()
    hang.on_connect("hang")
    good = Sink(host="127.0.0.3", port=port, name="good").start()
    refuse = Sink(host="127.0.0.4", port=port, name="554").start()
    refuse.on_connect("554 5.7.1 go away")
    later = Sink(host="127.0.0.5", port=port, name="later").start()
    later.on_rcpt("*", "450 4.2.1 mailbox busy")
    sender = Sink(host="127.0.0.6", port=port, name="sender").start()
    rate = Sink(host="127.0.0.7", port=port, name="rate").start()
    dns = Dns()
    dns.mx("hang.test", "mx1.hang.test", 10).mx("hang.test", "mx2.hang.test", 20)
    dns.a("mx1.hang.test", "127.0.0.2").a("mx2.hang.test", "127.0.0.3")
    dns.mx("refuse.test", "mx1.refuse.test", 10).mx("refuse.test", "mx2.refuse.test", 20)
    dns.a("mx1.refuse.test", "127.0.0.4").a("mx2.refuse.test", "127.0.0.3")
    dns.mx("later.test", "mx.later.test", 10).a("mx.later.test", "127.0.0.5")
    dns.mx("sender.test", "mx.sender.test", 10).a("mx.sender.test", "127.0.0.6")
    dns.mx("rate.test", "mx.rate.test", 10).a("mx.rate.test", "127.0.0.7")
    dns.start()
    p = Postern(dns=dns, conf={
        "transport": "*=mx:%d" % port,
        "smtp_address_preference": "ipv4-only",
        "smtp_helo_timeout": "1s",
        "retry_schedule": "1s",
        "delay_warning_time": "2s",
        "max_queue_lifetime": "5s",
    })
    p.start()

    send(p, "a@hang.test", "hang")
    msgs = good.wait_messages(1, timeout=20)
    ok(len(msgs) == 1 and msgs[0].rcpt_tos == ["a@hang.test"],
       "first MX never greets: after the greeting timeout the second MX gets it")
    like(p.log(), r"event=session_failed relay=mx1\.hang\.test\S* dsn=4\.4\.2", "greeting timeout logged")

    send(p, "b@refuse.test", "refuse")
    wait_for(lambda: len(good.messages()) >= 2, 20, what="delivery via the second MX")
    ok(good.messages()[1].rcpt_tos == ["b@refuse.test"], "554 greeting: the next MX gets it")

    send(p, "c@later.test", "always later")
    send(p, "d@later.test", "never tell", notify="NEVER")
    wait_for(lambda: len(about(sender, "always later")) >= 2, 30, what="delay warning and expiry DSNs")
    time.sleep(1.5)
    d = about(sender, "always later")
    is_(len(d), 2, "two DSNs: one delay warning, one failure")
    texts = [m.data.decode(errors="replace") for m in d]
    delayed = [t for t in texts if "Action: delayed" in t]
    failed = [t for t in texts if "Action: failed" in t]
    ok(len(delayed) == 1 and re.search(r"Status: 4\.2\.1", delayed[0]),
       "delay warning: Action delayed, Status 4.2.1 from the last reply")
    ok(len(failed) == 1 and re.search(r"Status: 4\.4\.7", failed[0]) and
       "Diagnostic-Code: smtp; 450 4.2.1 mailbox busy" in failed[0],
       "expired: Action failed, Status 4.4.7, last reply as diagnostic")
    ok(len(about(sender, "never tell")) == 0, "NOTIFY=NEVER: no DSN")
    like(p.log(), r"rcpt=\S+ relay=mx\.later\.test\S* .*status=expired", "expiry logged")

    is_(p.stop(), 0, "clean stop")
    p.write_conf({"smtp_destination_rate": "3"})
    p.start()
    for i in range(6):
        send(p, "r%d@rate.test" % i, "rate %d" % i)
    rate.wait_messages(3, timeout=20)
    time.sleep(2)
    is_(len(rate.messages()), 3, "destination rate 3/minute: 3 delivered, the rest wait")
    p.stop()
    done()


run(main)
