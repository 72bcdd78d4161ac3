#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_loops_faults: delivery_loops = 2 under stops, crashes,
operator commands and reloads (issue 20 item 3, adversarial checks).

A slow sink ("sleep" replies) keeps deliveries in flight on both loops:
- SIGTERM while both loops deliver split messages: exit 0, and after a
  restart every recipient arrives, none twice (a drain records every
  result it got);
- kill -9 while both loops deliver: after a restart every acknowledged
  recipient arrives (at least once; repeats bounded by what was in
  flight);
- `posternctl queue delete` of a message whose two parts are in flight
  on both loops: no crash, no redelivery, no DSN, the message stays
  deleted;
- two domains of one message fail on different loops: one DSN each,
  naming only its recipient, with its ORCPT;
- a reload from smtp_destination_concurrency 2 to 1 while mail for one
  domain is queued on both loops: connections opened after the reload
  never overlap (the old ones finish the message they carry);
- `posternctl queue bounce` of a message whose two parts are in flight
  on both loops: the sender gets the operator's one DSN, not one more
  per part when the parts' results come back;
- delivery_loops 3 and 4 with smtp_destination_concurrency 2 and 3:
  one busy domain never has more connections open at the sink than the
  limit, and more than one loop serves it;
- SIGTERM while loop 1 waits on a peer that never answers: the stop
  comes after shutdown_timeout, exit 0 (under ASan: nothing leaked),
  and after a restart the message is delivered.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def wait_all(sink, want, timeout=90):
    wait_for(lambda: set(want) <= set(rcpt_counts(sink)), timeout,
             what="every recipient at the sink")




def split_in_flight(p, sink, prefix, reply="sleep 3"):
    """A message with one recipient on each of two loops (concurrency 1),
    both held at the sink's RCPT for 3 s (then answered REPLY's way);
    once both parts are in flight, its qid and the two recipients."""
    x = "x@" + domains_on(0, 2, 1, prefix)[0]
    y = "y@" + domains_on(1, 2, 1, prefix)[0]
    sink.on_rcpt(x, reply)
    sink.on_rcpt(y, reply)
    ev0 = len(sink.events())
    code, text = p.send(prefix + "@sender.test", [x, y], "Subject: %s\r\n\r\nx\r\n" % prefix)
    wait_for(lambda: sum(1 for e in sink.events()[ev0:] if e["ev"] == "mail") >= 2, 30,
             what="both parts in flight")
    return queue_id(text), x, y


def parts_done(sink, x, y):
    wait_for(lambda: sum(1 for m in sink.messages() for r in m.rcpt_tos if r in (x, y)) >= 2,
             30, what="the in-flight parts finish")


def main():
    plan(25)
    sink = Sink(host="127.0.0.2", name="faults").start()
    base = {
        "smtpd_loops": "1",
        "delivery_loops": "2",
        "transport": "*=[127.0.0.2]:%d" % sink.port,
        "smtp_destination_concurrency": "2",
    }
    p = Postern(conf=dict(base))
    p.start()
    doms = ["fa%d.test" % i for i in range(4)]

    # ---- SIGTERM while both loops deliver: nothing twice
    sink.on_data("sleep 0.05")
    want = relay_load(p, "term", 25, doms)
    wait_for(lambda: len(sink.messages()) >= 10, 60, what="deliveries under way")
    log = p.log()
    ok(re.search(r"event=session \S+ tls=\S+ loop=1", log) and
       re.search(r"event=session \S+ tls=\S+ loop=0", log), "both loops deliver")
    is_(p.stop(), 0, "SIGTERM mid-delivery: clean exit")
    sink.reset()
    p.start()
    wait_all(sink, want)
    time.sleep(1)
    c = rcpt_counts(sink)
    twice = sorted(r for r in want if c.get(r, 0) > 1)
    is_(twice, [], "after SIGTERM and restart: every recipient once (%d)" % len(want))

    # ---- kill -9 while both loops deliver: at least once
    sink.on_data("sleep 0.05")
    before = rcpt_counts(sink)
    want = relay_load(p, "kill", 25, doms)
    wait_for(lambda: sum(1 for m in sink.messages() for r in m.rcpt_tos if r.startswith("kill")) >= 10,
             60, what="deliveries under way")
    p.kill9()
    sink.reset()
    p.start()
    wait_all(sink, want)
    time.sleep(1)
    c = rcpt_counts(sink)
    missing = [r for r in want if c.get(r, 0) == 0]
    extra = sum(c.get(r, 0) - 1 for r in want if c.get(r, 0) > 1)
    is_(missing, [], "after kill -9 and restart: every acknowledged recipient delivered")
    # in flight at the kill: at most concurrency 2 x 4 domains transactions,
    # each with its results possibly not yet committed (one more each)
    ok(extra <= 16, "repeats after kill -9 bounded by what was in flight (%d)" % extra)
    sink.reset()

    # ---- delete while both parts are in flight on both loops
    p.stop()
    p.write_conf({"smtp_destination_concurrency": "1"})
    p.start()
    qid, x, y = split_in_flight(p, sink, "del")
    r = p.posternctl("queue", "delete", qid)
    is_(r.returncode, 0, "queue delete while both parts are in flight")
    parts_done(sink, x, y)
    time.sleep(2)
    p.posternctl("queue", "flush")
    time.sleep(1)
    c = rcpt_counts(sink)
    ok(c.get(x) == 1 and c.get(y) == 1, "no redelivery after the delete")
    ok(not any(m.mail_from in ("", "<>") for m in sink.messages()), "no DSN for a deleted message")
    ok(p.running(), "posternd still runs")

    # ---- two domains fail on different loops: one DSN each, right recipient
    sink.reset()
    f0 = domains_on(0, 2, 2, "bad")
    f1 = domains_on(1, 2, 2, "bad")
    rc = ["a@" + f0[0], "b@" + f1[0], "c@" + f0[1], "d@" + f1[1]]
    sink.on_rcpt(rc[0], "550 5.1.1 no such user a")
    sink.on_rcpt(rc[1], "550 5.1.1 no such user b")
    s = p.smtp("relay")
    s.ehlo()
    s.mail("dsn@sender.test")
    for r in rc:
        s.rcpt(r, ["NOTIFY=FAILURE", "ORCPT=rfc822;orig-" + r])
    s.data("Subject: two fail\r\n\r\nx\r\n")
    s.quit()
    wait_for(lambda: sum(1 for m in sink.messages() if m.mail_from in ("", "<>")) >= 2, 30,
             what="two DSNs")
    time.sleep(1)
    dsns = [m for m in sink.messages() if m.mail_from in ("", "<>")]
    is_(len(dsns), 2, "one DSN per failing domain")
    named = sorted(tuple(sorted(set(re.findall(rb"(?im)^Final-Recipient: rfc822;\s*(\S+)", m.data))))
                   for m in dsns)
    is_(named, [(rc[0].encode(),), (rc[1].encode(),)], "each DSN names only its recipient")
    ok(all(re.search(rb"(?im)^Original-Recipient: rfc822;\s*orig-", m.data) for m in dsns),
       "each DSN keeps the ORCPT")

    # ---- reload 2 -> 1 with one domain queued on both loops
    sink.reset()
    p.write_conf({"smtp_destination_concurrency": "2"})
    ok(p.reload(), "reload to concurrency 2")
    sink.on_data("sleep 0.1")
    busy = "busy.test"
    ev0 = len(sink.events())
    want = relay_load(p, "cc", 60, [busy])
    wait_for(lambda: len(sink.messages()) >= 6, 60, what="deliveries under way")
    p.write_conf({"smtp_destination_concurrency": "1"})
    mark = len(sink.events())
    p.reload()
    wait_all(sink, want)
    ev = sink.events()
    old = {e["conn"] for e in ev[ev0:mark] if e["ev"] == "connect"}
    best = max_open(ev[mark:], skip=old)
    ok(best <= 1, "after the reload to 1: new connections never overlap (saw %d at once)" % best)

    # ---- the operator bounces a message whose parts are in flight on both loops
    p.stop()
    sink.reset()
    for f in os.listdir(os.path.join(sink.dir, "msgs")):
        os.unlink(os.path.join(sink.dir, "msgs", f))
    p.start()
    qid, x, y = split_in_flight(p, sink, "opb")
    r = p.posternctl("queue", "bounce", qid)
    is_(r.returncode, 0, "queue bounce while both parts are in flight")
    parts_done(sink, x, y)
    time.sleep(3)
    dsns = [m for m in sink.messages() if m.mail_from in ("", "<>")]
    is_(len(dsns), 1, "one DSN: the operator's (%d)" % len(dsns))
    # ... and when the remote then refuses both for good: still one
    before = len(dsns)
    qid, x, y = split_in_flight(p, sink, "opr", reply="sleep 3 550 5.1.1 no such user")
    r = p.posternctl("queue", "bounce", qid)
    is_(r.returncode, 0, "queue bounce while both parts wait for a 550")
    wait_for(lambda: sum(1 for e in sink.events() if e["ev"] == "rcpt" and
                         e.get("arg") in (x, y) and str(e.get("reply", "")).startswith("550"))
             >= 2, 30, what="both parts refused")
    time.sleep(3)
    dsns = [m for m in sink.messages() if m.mail_from in ("", "<>")]
    is_(len(dsns) - before, 1, "a remote 550 after the operator's bounce: still one DSN (%d)" %
        (len(dsns) - before))

    # ---- more loops than the limit: the limit holds over all of them
    for loops, conc in ((3, 2), (4, 3)):
        p.stop()
        sink.reset()
        p.write_conf({"delivery_loops": str(loops), "smtp_destination_concurrency": str(conc)})
        p.start()
        sink.on_data("sleep 0.05")
        ev0 = len(sink.events())
        start = p.log_size()
        want = relay_load(p, "lim%d" % loops, 60, ["lim.test"])
        wait_all(sink, want)
        ev = sink.events()[ev0:]
        best = max_open(ev)
        used = set(re.findall(r"event=session \S+ tls=\S+ loop=(\d+)", p.log(start)))
        ok(best <= conc, "%d loops, concurrency %d: at most %d connections at once (saw %d)" %
           (loops, conc, conc, best))
        ok(len(used) > 1, "%d loops, concurrency %d: the domain is served by %s loops" %
           (loops, conc, sorted(used)))
    p.stop()
    p.write_conf({"delivery_loops": "2"})
    p.start()

    # ---- SIGTERM while loop 1 hangs on a peer
    p.stop()
    sink.reset()
    p.write_conf({"shutdown_timeout": "2s"})
    p.start()
    h1 = domains_on(1, 2, 1, "hang")[0]
    h0 = domains_on(0, 2, 1, "hang")[0]
    sink.on_rcpt("h@" + h1, "hang")
    ev0 = len(sink.events())
    code, text = p.send("hang@sender.test", ["h@" + h1, "k@" + h0], "Subject: hang\r\n\r\nx\r\n")
    wait_for(lambda: any(e["ev"] == "rcpt" and e["arg"] == "h@" + h1 for e in sink.events()[ev0:]), 30,
             what="loop 1 waits on the peer")
    wait_for(lambda: rcpt_counts(sink).get("k@" + h0, 0) >= 1, 30, what="the other part")
    start = p.log_size()
    is_(p.stop(), 0, "SIGTERM with loop 1 stuck on a peer: exit 0 after shutdown_timeout")
    like(p.log(start), r"event=(shutdown_timeout|stop_forced)", "the stop says it did not wait longer")
    sink.reset()
    p.start()
    wait_for(lambda: rcpt_counts(sink).get("h@" + h1, 0) >= 1, 60, what="the stuck part after a restart")
    c = rcpt_counts(sink)
    ok(c.get("h@" + h1) == 1 and c.get("k@" + h0) == 1, "after the restart: the stuck part once, the other not again")
    done()


run(main)
