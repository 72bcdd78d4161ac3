#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_eom_inline: where the end-of-message stages run (issue 20 items
4 and 5; src/inbound/relay.c relay_eom_dispatch()).

A message of at most smtpd_eom_inline_max octets has its EOM stages
(DLP, spam, DKIM) run on its session's event loop, with no thread
hand-off; a larger one in the EOM pool (smtpd_eom_threads), so a big
message never holds a loop (test_eom_pool).  Checked with the real
daemon, by postern_eom_runs_total{where="loop"|"pool"} on /metrics:

- a small message runs on the loop, one over the limit in the pool,
  and both are queued and delivered to the sink;
- a refusal decided on the loop (dlp_action_card = reject) is answered
  550 5.7.1 once, in order: the client pipelines the next transaction
  behind the final dot and gets 550, 250, 250, 354, then 250 for that
  message, and NOOP after it is answered 250 (a second or a missing
  answer would shift every reply after it); the same message over the
  limit is refused the same way from the pool;
- smtpd_eom_inline_max = 0 on a reload sends every message to the pool;
- the threads are named (top -H, perf): smtpd-1, delivery-1,
  queue-writer and eom-pool in /proc/PID/task/*/comm.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import ehlo_session  # noqa: E402

CARD = "4532 0151 1283 0366"  # Luhn-valid, not a published test number


def body(size, extra=""):
    head = ("From: <a@example.test>\r\nTo: <b@example.net>\r\nSubject: t\r\n"
            "Message-ID: <%d.%d@example.test>\r\n\r\n" % (size, len(extra)))
    line = "The quick brown fox jumps over the lazy dog, order 2024-0042.\r\n"
    text = head + extra
    while len(text) < size:
        text += line
    return text


def main():
    plan(14)
    mport = free_port()
    sink = Sink(name="mx").start()
    p = Postern(name="eominline", conf={
        "smtpd_relay_networks": "127.0.0.0/8",
        "smtpd_eom_inline_max": "4k",
        "smtpd_loops": 2,
        "delivery_loops": 2,
        "dlp_action_card": "reject",
        "metrics_listen": "127.0.0.1:%d" % mport,
        "transport": "example.net=[127.0.0.1]:%d" % sink.port,
    }).start()

    r0 = eom_runs(mport)
    is_(r0, {"loop": 0, "pool": 0}, "postern_eom_runs_total: both series, zero at start")
    code, _ = p.send("a@example.test", ["b@example.net"], body(1000))
    r1 = eom_runs(mport)
    ok(code == 250 and r1 == {"loop": 1, "pool": 0},
       "a 1 KB message: queued, its EOM stages ran on the loop (%s)" % r1)
    code, _ = p.send("a@example.test", ["b@example.net"], body(8000))
    r2 = eom_runs(mport)
    ok(code == 250 and r2 == {"loop": 1, "pool": 1},
       "an 8 KB message over smtpd_eom_inline_max = 4k: queued, in the pool (%s)" % r2)
    ok(len(sink.wait_messages(2)) == 2, "both delivered to the sink")

    # a refusal decided on the loop, with the next transaction pipelined behind it
    c = ehlo_session(p, timeout=30)
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    is_(c.cmd("DATA")[0], 354, "DATA")
    c.send(body(600, "card " + CARD + "\r\n") + ".\r\n"
           "MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    got = [c.reply() for _ in range(4)]
    codes = [g[0] if g else None for g in got]
    is_(codes, [550, 250, 250, 354], "pipelined behind a refused message: 550, 250, 250, 354")
    ok(got[0] is not None and got[0][1].startswith("5.7.1"),
       "the refusal carries its enhanced code (%s)" % (got[0],))
    r = c.cmd(body(600).replace("\r\n.", "\r\n..") + ".")
    is_(r[0] if r else None, 250, "the next message on the same session is queued")
    r = c.cmd("NOOP")
    is_(r[0] if r else None, 250, "NOOP after it: 250, replies in step")
    r3 = eom_runs(mport)
    ok(r3["loop"] == 3 and r3["pool"] == 1, "both ran on the loop (%s)" % r3)
    # the same refusal from the pool
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    r = c.cmd(body(8000, "card " + CARD + "\r\n") + ".")
    r4 = eom_runs(mport)
    ok(r is not None and r[0] == 550 and r[1].startswith("5.7.1") and r4["pool"] == 2,
       "over the limit, the pool refuses it the same way (%s, %s)" % (r, r4))
    c.cmd("QUIT")
    c.close()

    p.write_conf({"smtpd_eom_inline_max": "0"})
    ok(p.reload(), "reload with smtpd_eom_inline_max = 0")
    code, _ = p.send("a@example.test", ["b@example.net"], body(500))
    r5 = eom_runs(mport)
    ok(code == 250 and r5["loop"] == r4["loop"] and r5["pool"] == r4["pool"] + 1,
       "after it a 500-octet message runs in the pool (%s)" % r5)

    names = set()
    base = "/proc/%d/task" % p.proc.pid
    for t in os.listdir(base):
        try:
            with open(os.path.join(base, t, "comm")) as f:
                names.add(f.read().strip())
        except OSError:
            pass
    want = {"smtpd-1", "delivery-1", "queue-writer", "eom-pool"}
    ok(want <= names, "threads named %s (%s)" % (sorted(want), sorted(names)))
    p.stop()
    sink.stop()


run(main)
