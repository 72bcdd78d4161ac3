#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_reuse: connection reuse and per-destination concurrency.

100 messages to one domain, submitted back to back over one SMTP session,
must all arrive exactly once, over no more connections than
smtp_destination_concurrency (3 here), counted at the sink; with
smtp_connection_reuse_limit = 10 no connection carries more than 10.
delivery_enabled = no (SIGHUP) holds delivery; yes resumes it.
"""

import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def main():
    plan(8)
    sink = Sink(host="127.0.0.2", name="reuse").start()
    p = Postern(conf={
        "transport": "reuse.test=[127.0.0.2]:%d" % sink.port,
        "smtp_destination_concurrency": "3",
        "smtp_connection_reuse_limit": "100",
    })
    p.start()
    s = p.smtp("relay")
    for i in range(100):
        s.sendmail("s@sender.test", ["r%d@reuse.test" % i],
                   "From: <s@sender.test>\r\nSubject: reuse %d\r\n\r\nbody %d\r\n" % (i, i))
    s.quit()
    msgs = sink.wait_messages(100, timeout=60)
    is_(len(msgs), 100, "100 messages delivered")
    rcpts = sorted(r for m in msgs for r in m.rcpt_tos)
    is_(rcpts, sorted("r%d@reuse.test" % i for i in range(100)), "each exactly once")
    conns = sink.connections()
    ok(1 <= conns <= 3, "%d connection(s) for 100 messages (limit 3)" % conns)
    per_conn = collections.Counter(m.conn for m in msgs)
    ok(max(per_conn.values()) > 1, "connections carried several messages (max %d)" % max(per_conn.values()))

    # reuse limit: restart with a limit of 10
    p.stop()
    p.write_conf({"smtp_connection_reuse_limit": "10", "smtp_destination_concurrency": "1"})
    sink.reset()
    before = len(sink.messages())
    p.start()
    s = p.smtp("relay")
    for i in range(30):
        s.sendmail("s@sender.test", ["l%d@reuse.test" % i], "Subject: limit %d\r\n\r\nx\r\n" % i)
    s.quit()
    wait_for(lambda: len(sink.messages()) >= before + 30, 60, what="30 more messages")
    per_conn = collections.Counter(m.conn for m in sink.messages()[before:])
    ok(max(per_conn.values()) <= 10 and len(per_conn) >= 3,
       "reuse limit 10: %d connections, at most %d messages each" % (len(per_conn), max(per_conn.values())))

    # delivery_enabled = no holds everything; yes + SIGHUP resumes
    n = len(sink.messages())
    p.write_conf({"delivery_enabled": "no"})
    ok(p.reload(), "reload with delivery_enabled = no")
    s = p.smtp("relay")
    s.sendmail("s@sender.test", ["held@reuse.test"], "Subject: held\r\n\r\nx\r\n")
    s.quit()
    time.sleep(2)
    is_(len(sink.messages()), n, "delivery held: nothing sent")
    p.write_conf({"delivery_enabled": "yes"})
    p.reload()
    msgs = sink.wait_messages(n + 1, timeout=20)
    ok(msgs[-1].rcpt_tos == ["held@reuse.test"], "delivery resumed after reload")
    p.stop()
    done()


run(main)
