#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_loops: delivery spread over delivery_loops (issue 20 item 3).

With delivery_loops = 2 (one SMTP loop, so only delivery is spread):
- every recipient of 80 one-recipient messages to 8 domains and of 6
  messages with recipients in 4 domains each (split between the loops)
  arrives exactly once, and both loops carried sessions (the log's
  event=session loop=N);
- a destination's connections over both loops never exceed
  smtp_destination_concurrency (3), counted at the sink from its
  connect/close events, and both loops served that one domain;
- the metrics sum both loops: postern_delivery_recipients_total
  {result="delivered"} equals what the sink got;
- a 5.1.1 bounce of one domain's recipient in a split message gives
  one DSN (from the loop that had that domain), the other domains'
  recipients are delivered;
- SIGHUP reaches the other loop: a new transport table sends every
  domain's mail to a second sink;
- with smtp_destination_rate set, a destination stays on one loop;
  with concurrency 1 too, and never more than one connection at once;
- SIGTERM with sessions open on both loops stops cleanly (exit 0),
  and the log names delivery_loops=2 at start.
"""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

DOMAINS = ["d%d.test" % i for i in range(8)]


def session_loops(log, relay_port):
    return {int(m.group(1)) for m in re.finditer(
        r"event=session relay=\S*:%d\S* tls=\S+ loop=(\d+)" % relay_port, log)}


def scrape(port):
    r = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else ""


def delivered_total(body):
    return sum(int(v) for v in re.findall(
        r'(?m)^postern_delivery_recipients_total\{result="delivered"[^}]*\} (\d+)$', body))


def main():
    plan(15)
    have_curl = shutil.which("curl") is not None
    sink = Sink(host="127.0.0.2", name="loops").start()
    sink2 = Sink(host="127.0.0.3", name="loops2").start()
    mport = free_port()
    p = Postern(conf={
        "smtpd_loops": "1",
        "delivery_loops": "2",
        "transport": "*=[127.0.0.2]:%d" % sink.port,
        "smtp_destination_concurrency": "3",
        "smtp_connection_reuse_limit": "5",
        "metrics_listen": "127.0.0.1:%d" % mport,
    })
    p.start()
    like(p.log(), r"event=delivery_loops loops=2", "posternd runs two delivery loops")

    s = p.smtp("relay")
    want = []
    for i in range(80):
        rcpt = "r%d@%s" % (i, DOMAINS[i % 8])
        want.append(rcpt)
        s.sendmail("s@sender.test", [rcpt], "Subject: one %d\r\n\r\nbody %d\r\n" % (i, i))
    for i in range(6):
        rcpts = ["m%d@%s" % (i, DOMAINS[k]) for k in (i % 8, (i + 1) % 8, (i + 3) % 8, (i + 6) % 8)]
        want += rcpts
        s.sendmail("s@sender.test", rcpts, "Subject: many %d\r\n\r\nbody\r\n" % i)
    s.quit()
    msgs = sink.wait_messages(80 + 6 * 2, timeout=60)
    wait_for(lambda: sum(len(m.rcpt_tos) for m in sink.messages()) >= len(want), 60,
             what="every recipient at the sink")
    msgs = sink.messages()
    got = sorted(r for m in msgs for r in m.rcpt_tos)
    is_(got, sorted(want), "every recipient exactly once (80 single, 6 split over 4 domains)")
    split = [m for m in msgs if m.header("Subject") and m.header("Subject").startswith("many")]
    ok(all(len({r.split("@")[1] for r in m.rcpt_tos}) == 1 for m in split),
       "split messages: one transaction per domain (%d transactions)" % len(split))
    log = p.log()
    is_(session_loops(log, sink.port), {0, 1}, "both delivery loops carried sessions")
    ok(max_open(sink.events()) <= 3 * 8, "no more connections than the limits allow")

    # one busy domain: both loops serve it, never more than 3 at once together
    start = p.log_size()
    before_ev = len(sink.events())
    s = p.smtp("relay")
    for i in range(60):
        s.sendmail("s@sender.test", ["busy%d@busy.test" % i], "Subject: busy %d\r\n\r\nx\r\n" % i)
    s.quit()
    wait_for(lambda: sum(1 for m in sink.messages() for r in m.rcpt_tos if r.endswith("@busy.test")) >= 60,
             60, what="60 messages to busy.test")
    busy_ev = [e for e in sink.events()[before_ev:]]
    time.sleep(0.5)
    is_(session_loops(p.log(start), sink.port), {0, 1}, "one destination served by both loops")
    ok(max_open(busy_ev) <= 3, "at most 3 connections at once over both loops (saw %d)" % max_open(busy_ev))

    if have_curl:
        total = sum(len(m.rcpt_tos) for m in sink.messages())
        body = ""
        for _ in range(50):
            body = scrape(mport)
            if delivered_total(body) >= total:
                break
            time.sleep(0.2)
        is_(delivered_total(body), total, "metrics: delivered recipients summed over both loops")
    else:
        skip(1, "curl is needed for the metrics check")

    # a bounce in a split message: one DSN, the rest delivered
    sink.on_rcpt("gone@d2.test", "550 5.1.1 no such user")
    n0 = len(sink.messages())
    s = p.smtp("relay")
    s.sendmail("bounce@sender.test", ["gone@d2.test", "here@d5.test", "there@d6.test"],
               "Subject: partly\r\n\r\nx\r\n")
    s.quit()
    wait_for(lambda: any(m.mail_from in ("", "<>") for m in sink.messages()[n0:]), 30, what="the DSN")
    time.sleep(1)
    later = sink.messages()[n0:]
    dsns = [m for m in later if m.mail_from in ("", "<>")]
    is_(len(dsns), 1, "one DSN for the bounced recipient")
    is_(sorted(r for m in later if m.mail_from not in ("", "<>") for r in m.rcpt_tos), ["here@d5.test", "there@d6.test"],
        "the other domains' recipients delivered")

    # SIGHUP reaches the other loop
    p.write_conf({"transport": "*=[127.0.0.3]:%d" % sink2.port})
    ok(p.reload(), "reload with a new transport table")
    s = p.smtp("relay")
    for d in DOMAINS:
        s.sendmail("s@sender.test", ["after@" + d], "Subject: after\r\n\r\nx\r\n")
    s.quit()
    sink2.wait_messages(8, timeout=30)
    is_(sorted(r for m in sink2.messages() for r in m.rcpt_tos), sorted("after@" + d for d in DOMAINS),
        "after the reload every domain (both loops) goes to the new route")

    # rate limit: one loop per destination; concurrency 1: one connection
    p.stop()
    p.write_conf({"transport": "*=[127.0.0.2]:%d" % sink.port, "smtp_destination_rate": "100000",
                  "smtp_destination_concurrency": "1"})
    sink.reset()
    p.start()
    start = p.log_size()
    before_ev = len(sink.events())
    n0 = len(sink.messages())
    s = p.smtp("relay")
    for i in range(30):
        s.sendmail("s@sender.test", ["one%d@single.test" % i], "Subject: single %d\r\n\r\nx\r\n" % i)
    s.quit()
    wait_for(lambda: len(sink.messages()) >= n0 + 30, 60, what="30 messages to single.test")
    is_(len(session_loops(p.log(start), sink.port)), 1, "a rate-limited destination stays on one loop")
    ok(max_open(sink.events()[before_ev:]) <= 1, "concurrency 1: one connection at a time")

    # stop with sessions open on both loops (idle sessions wait for mail)
    p.stop()
    p.write_conf({"smtp_destination_rate": "0", "smtp_destination_concurrency": "4"})
    p.start()
    s = p.smtp("relay")
    for i in range(40):
        s.sendmail("s@sender.test", ["end%d@%s" % (i, DOMAINS[i % 8])], "Subject: end\r\n\r\nx\r\n")
    s.quit()
    time.sleep(0.5)
    is_(p.stop(), 0, "SIGTERM with both loops busy: clean exit")
    done()


run(main)
