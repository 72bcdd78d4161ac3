#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_result_linger_drain: a shutdown does not wait out
queue_result_linger (issue 20 item 2; queue/writer.c writer_linger(),
queue_drain()).

At SIGTERM the delivery engine drains: a delivery loop waits for the
results of the attempts it made before it counts as drained.  Those
results are lazy writer ops, and a batch of them alone lingers in the
writer for a non-lazy op; during a shutdown no new mail comes (the
listeners drain too), and `stopping` was set only in queue_close(),
after the drain, so the drain waited out the linger (up to 1 s).  With
queue_result_linger = 1s, shutdown_timeout = 300ms and two delivery
loops, ten results lingering at SIGTERM ran into the shutdown timeout
(event=shutdown_timeout pending=1) in each of four runs.  Now the queue
module's drain (queue_drain()) ends the linger.  Checked here by the
daemon's own events, not by a clock:

- SIGTERM with a result lingering: a clean exit, no shutdown_timeout,
  and the result is recorded before the exit (event=delivered);
- after a restart the message reads delivered and was sent once;
- the same with ten results lingering at once;
- all of it with one loop and with smtpd_loops = delivery_loops = 2
  (a result of a delivery loop is forwarded to that loop's port, which
  stops while the result lingers).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def round_(loops):
    sink = Sink(name="mx").start()
    conf = {
        "smtpd_relay_networks": "127.0.0.0/8",
        "smtpd_loops": loops,
        "delivery_loops": loops,
        "queue_result_linger": "1s",
        "shutdown_timeout": "300ms",
        "transport": "example.net=[127.0.0.1]:%d" % sink.port,
    }
    p = Postern(name="lingerdrain", conf=conf).start()
    sent = [0]

    def deliver(k):
        """Send K messages; wait until the sink has them (their results
        then linger in the writer); their qids."""
        qids = []
        for _ in range(k):
            sent[0] += 1
            code, text = p.send("a@example.test", ["b@example.net"],
                                "Subject: drain %d\r\n\r\nbody\r\n" % sent[0])
            if code != 250:
                bail_out("send: %s %s" % (code, text))
            qids.append(queue_id(text))
        sink.wait_messages(sent[0])
        time.sleep(0.2)
        return qids

    def stop_and_check(qids, what):
        start = p.log_size()
        rc = p.stop()
        log = p.log(start)
        whole = p.log()
        missing = [q for q in qids if ("qid=%s event=delivered" % q) not in whole]
        ok(rc == 0 and "event=shutdown_timeout" not in log and not missing,
           "loops %d, %s: clean exit (rc %s), no shutdown_timeout, results recorded before the exit "
           "(missing %s)" % (loops, what, rc, missing))

    q = deliver(1)
    stop_and_check(q, "SIGTERM with one result lingering")
    p.start()
    r = p.posternctl_json("queue", "show", q[0])
    is_(r and r["recipients"][0]["state"], "delivered", "loops %d: after the restart it reads delivered" % loops)
    time.sleep(0.5)
    is_(len(sink.messages()), sent[0], "loops %d: and it was sent once" % loops)

    qs = deliver(10)
    stop_and_check(qs, "SIGTERM with ten results lingering")
    p.start()
    states = [p.posternctl_json("queue", "show", x)["recipients"][0]["state"] for x in qs]
    ok(all(s == "delivered" for s in states), "loops %d: after the restart all ten read delivered (%s)"
       % (loops, states))
    time.sleep(0.5)
    is_(len(sink.messages()), sent[0], "loops %d: and none was sent twice" % loops)
    p.stop()
    sink.stop()


def main():
    plan(12)
    round_(1)
    round_(2)


run(main)
