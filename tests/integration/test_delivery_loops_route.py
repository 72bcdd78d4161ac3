#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_loops_route: a reload while a route lookup is in flight
(issue 20 item 3: "the next message uses the new routes").

delivery_loops = 2; the DNS server never answers for slow.test (DnsDrop
in front of dnsmasq), so the MX lookup for a message to slow.test hangs
(c-ares retries for several seconds).  A reload adds slow.test to the
transport table meanwhile: the message goes by the new table at once,
without the stale lookup's failure deferring it first.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def main():
    plan(4)
    sink = Sink(host="127.0.0.2", name="route").start()
    dns = Dns()
    dns.mx("slow.test", "mx.slow.test", 10).a("mx.slow.test", "127.0.0.2")
    dns.start()
    drop = DnsDrop(dns.server, ["slow.test"])
    p = Postern(tls=False, conf={
        "smtpd_loops": "1",
        "delivery_loops": "2",
        "dns_servers": drop.server,
        "transport": "other.test=[127.0.0.2]:%d" % sink.port,
        "retry_schedule": "10m",
    })
    p.start()
    start = p.log_size()
    code, text = p.send("s@sender.test", ["x@slow.test"], "Subject: slow\r\n\r\nx\r\n")
    is_(code, 250, "accepted for slow.test")
    wait_for(lambda: drop.dropped.get("slow.test", 0) >= 1, 30, what="the MX lookup in flight")
    p.write_conf({"transport": "other.test=[127.0.0.2]:%d, slow.test=[127.0.0.2]:%d" %
                  (sink.port, sink.port)})
    ok(p.reload(), "reload: slow.test now in the transport table")
    wait_for(lambda: any("x@slow.test" in m.rcpt_tos for m in sink.messages()), 60,
             what="x@slow.test at the sink by the new transport entry")
    ok(any("x@slow.test" in m.rcpt_tos for m in sink.messages()), "delivered by the new route")
    unlike(p.log(start), r"event=attempt \S+ rcpt=\S+ relay=\S+ delay=\S+ dsn=\S+ status=deferred",
           "not deferred first by the lookup the reload made stale")
    done()


run(main)
