#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery: outbound delivery end to end, with real peers.

posternd accepts mail on its relay listener and delivers it through a
private dnsmasq (MX, A, null MX, NXDOMAIN, no MX) to scriptable sinks on
127.0.0.x, all on one port chosen for the test (transport `*=mx:PORT`:
MX lookups as usual, that port instead of 25).  Checked at the sinks:

  - two MX hosts, the first refusing connections: the second gets it;
  - equal preferences: connections spread over both hosts;
  - 4xx twice then 250: delivered on the third attempt (1 s retries),
    exactly once;
  - 5xx: exactly one DSN at the sender's MX, from <>, with Action,
    Status, Diagnostic-Code and the original headers; none for <>;
  - null MX: DSN with 5.1.10; NXDOMAIN: DSN with 5.1.2;
  - no MX but an A record: implicit MX.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def send(p, sender, rcpts, subject, extra=""):
    s = p.smtp("relay")
    body = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n%s\r\n"
            "Hello from the delivery test.\r\n" % (sender or "nobody@sender.test", rcpts[0],
                                                    subject, subject.replace(" ", "."), extra))
    s.sendmail(sender, rcpts, body)
    s.quit()
    return body


def dsns_about(sink, subject):
    """DSNs at SINK that return the message with SUBJECT."""
    return [m for m in sink.messages() if ("Subject: %s" % subject).encode() in m.data]


def main():
    plan(20)
    port = free_port("127.0.0.3")
    dns = Dns()
    dns.mx("two.test", "mx1.two.test", 10).mx("two.test", "mx2.two.test", 20)
    dns.a("mx1.two.test", "127.0.0.2").a("mx2.two.test", "127.0.0.3")
    dns.mx("equal.test", "e1.equal.test", 10).mx("equal.test", "e2.equal.test", 10)
    dns.a("e1.equal.test", "127.0.0.4").a("e2.equal.test", "127.0.0.5")
    dns.mx("retry.test", "mx.retry.test", 10).a("mx.retry.test", "127.0.0.6")
    dns.mx("bounce.test", "mx.bounce.test", 10).a("mx.bounce.test", "127.0.0.7")
    dns.a("implicit.test", "127.0.0.8")
    dns.raw("auth-zone=implicit.test").raw("auth-server=ns.implicit.test")
    dns.mx("sender.test", "mx.sender.test", 10).a("mx.sender.test", "127.0.0.9")
    dns.null_mx("nullmx.test")
    dns.nxdomain("nx.test")
    dns.start()

    second = Sink(host="127.0.0.3", port=port, name="mx2").start()
    e1 = Sink(host="127.0.0.4", port=port, name="e1").start()
    e2 = Sink(host="127.0.0.5", port=port, name="e2").start()
    retry = Sink(host="127.0.0.6", port=port, name="retry").start()
    retry.on_rcpt("*", "450 4.2.0 busy, try later", "451 4.3.0 still busy", "250 2.1.5 ok")
    bounce = Sink(host="127.0.0.7", port=port, name="bounce").start()
    bounce.on_rcpt("*", "550 5.1.1 no such user here")
    implicit = Sink(host="127.0.0.8", port=port, name="implicit").start()
    sender = Sink(host="127.0.0.9", port=port, name="sender").start()

    p = Postern(dns=dns, conf={
        "transport": "*=mx:%d" % port,
        "retry_schedule": "1s",
        "smtp_connection_reuse_limit": "1",
        "smtp_connect_timeout": "5s",
        "smtp_address_preference": "ipv4-only",
    })
    p.start()

    # -- two MX, the first refuses -------------------------------------
    send(p, "s@sender.test", ["a@two.test"], "two mx")
    msgs = second.wait_messages(1)
    is_(len(msgs), 1, "first MX refuses: the second MX gets the message")
    ok(msgs and msgs[0].rcpt_tos == ["a@two.test"] and msgs[0].mail_from == "s@sender.test",
       "envelope passed on unchanged")
    like(p.log(), r"event=connect_failed relay=mx1\.two\.test\[127\.0\.0\.2\]", "refusal logged")

    # -- equal preferences spread (one connection per message here) -----
    for i in range(16):
        send(p, "s@sender.test", ["u%d@equal.test" % i], "equal %d" % i)
    wait_for(lambda: len(e1.messages()) + len(e2.messages()) >= 16, 30, what="16 messages")
    n1, n2 = len(e1.messages()), len(e2.messages())
    is_(n1 + n2, 16, "all 16 delivered over the two equal MX hosts")
    ok(n1 > 0 and n2 > 0, "both equal-preference hosts used (%d/%d)" % (n1, n2))

    # -- 4xx, 4xx, 250 --------------------------------------------------
    t0 = time.monotonic()
    send(p, "s@sender.test", ["r@retry.test"], "retry me")
    msgs = retry.wait_messages(1, timeout=30)
    elapsed = time.monotonic() - t0
    rcpts = [e for e in retry.events() if e["ev"] == "rcpt"]
    is_(len(rcpts), 3, "three attempts at the sink")
    is_(len(msgs), 1, "delivered once, on the third attempt")
    # The sink has the message a moment before posternd logs the 250.
    pat = r"qid=(\S+) event=attempt .*relay=mx\.retry\.test\S* .*status=delivered"
    try:
        wait_for(lambda: re.search(pat, p.log()), 10, what="attempt log line")
    except Exception:
        pass
    m = re.search(pat, p.log())
    ok(m is not None, "attempt logged as delivered")
    if m:
        lines = p.log_lines(r"qid=%s event=attempt" % m.group(1))
        is_([re.search(r"status=(\w+)", l).group(1) for l in lines],
            ["deferred", "deferred", "delivered"], "log: deferred, deferred, delivered")
    else:
        ok(False, "log: deferred, deferred, delivered")
    diag("retry took %.1fs" % elapsed)

    # -- 5xx: exactly one DSN --------------------------------------------
    send(p, "s@sender.test", ["u@bounce.test"], "bounce me")
    wait_for(lambda: dsns_about(sender, "bounce me"), 30, what="DSN for 'bounce me'")
    time.sleep(1.5)
    d = dsns_about(sender, "bounce me")
    is_(len(d), 1, "exactly one DSN at the sender's MX")
    dsn = d[0] if d else None
    ok(dsn is not None and dsn.mail_from in ("", "<>") and dsn.rcpt_tos == ["s@sender.test"],
       "DSN from <> to the envelope sender")
    text = dsn.data.decode(errors="replace") if dsn else ""
    ok("multipart/report" in text and "report-type=delivery-status" in text,
       "multipart/report; report-type=delivery-status")
    ok(re.search(r"Final-Recipient: rfc822; ?u@bounce\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\n"
                 r"Remote-MTA: dns; mx\.bounce\.test\r\n", text) is not None,
       "Final-Recipient, Action: failed, Status: 5.1.1, Remote-MTA")
    like(text, r"Diagnostic-Code: smtp; 550 5\.1\.1 no such user here", "Diagnostic-Code has the reply")
    ok("text/rfc822-headers" in text and "Message-ID: <bounce.me@test>" in text and
       "Hello from the delivery test" not in text, "original headers returned, not the body")

    # -- a bounce for <> is never sent -----------------------------------
    before = len(sender.messages())
    send(p, "", ["v@bounce.test"], "null sender")
    p.wait_log(r"status=bounced", start=0)
    wait_for(lambda: len([l for l in p.log_lines(r"event=attempt") if "status=bounced" in l]) >= 2, 20,
             what="second bounce")
    time.sleep(1.5)
    is_(len(sender.messages()), before, "no DSN for a message from <>")

    # -- null MX, NXDOMAIN, implicit MX -----------------------------------
    send(p, "s@sender.test", ["x@nullmx.test"], "null mx")
    send(p, "s@sender.test", ["y@host.nx.test"], "nx domain")
    send(p, "s@sender.test", ["z@implicit.test"], "implicit mx")
    wait_for(lambda: dsns_about(sender, "null mx") and dsns_about(sender, "nx domain"), 30,
             what="DSNs for null MX and NXDOMAIN")
    like(dsns_about(sender, "null mx")[0].data.decode(), r"Status: 5\.1\.10\r\n",
         "null MX bounces at once with 5.1.10")
    like(dsns_about(sender, "nx domain")[0].data.decode(), r"Status: 5\.1\.2\r\n",
         "NXDOMAIN bounces with 5.1.2")
    msgs = implicit.wait_messages(1)
    ok(len(msgs) == 1 and msgs[0].rcpt_tos == ["z@implicit.test"], "no MX but A: implicit MX delivery")
    is_(p.stop(), 0, "posternd stops cleanly")
    done()


run(main)
