#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_result_linger: a delivery result waits for company before its
commit (issue 20 item 2; queue/writer.c writer_linger(),
queue_result_linger).

A delivery engine's result is an op nobody waits on.  A batch made of
such ops alone waits up to queue_result_linger for an op someone waits
on (new mail, an operator's command) and commits with it, so one fsync
covers both.  With one session the result used to take a commit of its
own, and the next message's commit queued behind it.

Checked with the real daemon and postern_queue_commit_batches_total /
_operations_total on /metrics (queue_result_linger = 1s, so the result
of a message delivered 0.2 s before is surely still waiting):

- the next message's accept carries the waiting result: one batch of
  two ops, and the first message reads delivered right after the 250;
- an operator's write (account add) carries it the same way;
- a result with no company commits alone once the linger is over;
- SIGTERM with a result waiting: it is written before the exit (no
  second delivery after the restart);
- kill -9 with a result waiting: the message is delivered again after
  the restart and then recorded (never lost; the documented trade-off);
- queue_result_linger = 0 by reload, made while the writer is idle,
  counts for the very next batch: a result and the accept after it
  are batches of their own (the first result after a reload to 0 used
  to linger the old second);
- a reload to 0 made while a result is already lingering ends that
  wait: the result is recorded right after the reload, not when the old
  second is over (the wait used to keep the deadline it started with);
- with queue_commit_batch = 1 a result never lingers (its batch is full).
"""

import os
import re
import sys
import time
import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def counters(port):
    text = scrape_metrics(port)
    b = re.search(r"(?m)^postern_queue_commit_batches_total (\d+)$", text)
    o = re.search(r"(?m)^postern_queue_commit_operations_total (\d+)$", text)
    return (int(b.group(1)) if b else None, int(o.group(1)) if o else None)


def state(p, qid):
    """QID's recipient state by `queue show` (an audited control command:
    a write of its own, so not used while the counters are compared)."""
    r = p.posternctl_json("queue", "show", qid)
    try:
        return r["recipients"][0]["state"]
    except (TypeError, KeyError, IndexError):
        return None


def recorded(p, qid):
    """QID's delivery result is committed (the queue logs it after the commit)."""
    return ("qid=%s event=delivered" % qid) in p.log()


def stamp(line):
    return datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")


def log_gap(p, qid):
    """Seconds from QID's event=queued to its event=delivered, by the log's
    own timestamps (None when either is missing)."""
    when = {}
    for line in p.log().splitlines():
        m = re.match(r"(\S+) \S+ .*qid=%s event=(queued|delivered)\b" % qid, line)
        if m is None:
            m = re.match(r"(\S+) \S+ .*event=(queued) qid=%s\b" % qid, line)
        if m:
            when.setdefault(m.group(2), datetime.datetime.strptime(
                m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ"))
    if len(when) < 2:
        return None
    return (when["delivered"] - when["queued"]).total_seconds()


def main():
    plan(16)
    mport = free_port()
    sink = Sink(name="mx").start()
    conf = {
        "smtpd_relay_networks": "127.0.0.0/8",
        "smtpd_loops": 1,
        "delivery_loops": 1,
        "queue_result_linger": "1s",
        "metrics_listen": "127.0.0.1:%d" % mport,
        "transport": "example.net=[127.0.0.1]:%d" % sink.port,
    }
    p = Postern(name="linger", conf=conf).start()
    n = [0]

    def deliver_one():
        """Send one message and wait until the sink has it and a little
        more (its result is then waiting in the writer); its qid."""
        n[0] += 1
        code, text = p.send("a@example.test", ["b@example.net"],
                            "Subject: linger %d\r\n\r\nbody\r\n" % n[0])
        if code != 250:
            bail_out("send: %s %s" % (code, text))
        sink.wait_messages(n[0])
        time.sleep(0.2)
        return queue_id(text)

    q1 = deliver_one()
    b0 = counters(mport)
    code, text = p.send("a@example.test", ["b@example.net"], "Subject: next\r\n\r\nx\r\n")
    n[0] += 1
    b1 = counters(mport)
    ok(code == 250 and b1[0] - b0[0] == 1 and b1[1] - b0[1] == 2,
       "the next accept carried the waiting result: one batch, two ops (%s -> %s)" % (b0, b1))
    ok(eventually(lambda: recorded(p, q1), 15), "the first message's result is recorded")
    sink.wait_messages(n[0])
    q2 = queue_id(text)

    # an operator's write carries it too
    time.sleep(0.2)
    b2 = counters(mport)
    r = p.posternctl("account", "add", "lingerer", "--domain", "linger.test")
    b3 = counters(mport)
    ok(r.returncode == 0 and b3[0] - b2[0] == 1 and b3[1] - b2[1] == 2,
       "account add carried the waiting result: one batch, two ops (%s -> %s, rc %d %s)"
       % (b2, b3, r.returncode, r.stderr.strip()))
    wait_for(lambda: recorded(p, q2), 15, what="the second result recorded")
    is_(state(p, q2), "delivered", "that message reads delivered")
    time.sleep(0.5)  # the audit record of that read and the result before it are written

    # with no company, the result commits alone after the linger
    b3 = counters(mport)
    q3 = deliver_one()
    wait_for(lambda: recorded(p, q3), 15, what="the lone result committed")
    b4 = counters(mport)
    gap = log_gap(p, q3)
    ok(b4[0] - b3[0] == 2 and b4[1] - b3[1] == 2 and gap is not None and gap >= 1.0,
       "a lone result committed after the linger: accept and result, two batches "
       "(%s -> %s), %s s from queued to delivered" % (b3, b4, gap))

    # SIGTERM with a result waiting: written before the exit
    q4 = deliver_one()
    is_(p.stop(), 0, "SIGTERM with a result waiting: clean exit")
    p.start()
    time.sleep(1.0)
    is_(state(p, q4), "delivered", "after the restart it reads delivered")
    is_(len(sink.messages()), n[0], "and it was not delivered a second time")

    # kill -9 with a result waiting: delivered again, never lost
    q5 = deliver_one()
    p.kill9()
    p.start()
    ok(eventually(lambda: len(sink.messages()) >= n[0] + 1, 60) and
       eventually(lambda: state(p, q5) == "delivered", 30),
       "kill -9 with a result waiting: the message went again after the restart, "
       "then recorded delivered")
    n[0] += 1
    is_(sum(1 for m in sink.messages() if b"Subject: linger 5\r\n" in m.data), 2,
        "exactly twice (the one unrecorded attempt, then the recorded one)")

    # linger 0: the result commits at once, alone
    conf["queue_result_linger"] = "0"
    p.write_conf(conf)
    ok(p.reload(), "reload with queue_result_linger = 0")
    deliver_one()

    # a reload while the writer is idle applies to the very next batch:
    # the writer read its settings before it went to sleep, so the first
    # result after a reload to 0 still lingered the old second
    conf.update({"queue_result_linger": "1s", "delivery_enabled": "no"})
    p.write_conf(conf)
    ok(p.reload(), "reload with queue_result_linger = 1s and delivery off")
    n[0] += 1
    code, text = p.send("a@example.test", ["b@example.net"], "Subject: linger %d\r\n\r\nbody\r\n" % n[0])
    q7 = queue_id(text)
    time.sleep(0.5)  # the writer is idle again, with linger 1s read
    conf.update({"queue_result_linger": "0", "delivery_enabled": "yes"})
    p.write_conf(conf)
    b5 = counters(mport)
    ok(p.reload(), "reload with queue_result_linger = 0 and delivery on, no write in between")
    sink.wait_messages(n[0])
    time.sleep(0.2)
    code, text = p.send("a@example.test", ["b@example.net"], "Subject: after\r\n\r\nx\r\n")
    n[0] += 1
    q8 = queue_id(text)
    wait_for(lambda: recorded(p, q7) and recorded(p, q8), 15, what="both results recorded")
    b6 = counters(mport)
    ok(code == 250 and b6[0] - b5[0] == 3 and b6[1] - b5[1] == 3,
       "the first result after it committed at once, alone, not with the next accept: "
       "three batches of one (%s -> %s)" % (b5, b6))

    # a reload to 0 while a result is lingering ends that wait.  The
    # reload must land well inside the second for this to tell anything:
    # tried up to three times on a slow machine.
    result = None
    for attempt in range(3):
        conf["queue_result_linger"] = "1s"
        p.write_conf(conf)
        ok_reload = p.reload()
        n[0] += 1
        code, text = p.send("a@example.test", ["b@example.net"],
                            "Subject: linger %d\r\n\r\nbody\r\n" % n[0])
        qid = queue_id(text)
        sink.wait_messages(n[0])
        conf["queue_result_linger"] = "0"
        p.write_conf(conf)
        start = p.log_size()
        ok_reload = p.reload() and ok_reload
        wait_for(lambda: recorded(p, qid), 15, what="the lingering result recorded")
        queued = [stamp(l) for l in p.log().splitlines()
                  if re.search(r"\bqid=%s event=queued\b|\bevent=queued qid=%s\b" % (qid, qid), l)]
        reloaded = [stamp(l) for l in p.log(start).splitlines() if "event=reloaded" in l]
        delivered = [stamp(l) for l in p.log().splitlines()
                     if "qid=%s event=delivered" % qid in l]
        if not (ok_reload and queued and reloaded and delivered):
            break
        q_at, r_at, d_at = queued[0], reloaded[0], delivered[0]
        result = ((r_at - q_at).total_seconds(), (d_at - r_at).total_seconds(),
                  (d_at - q_at).total_seconds())
        if result[0] < 0.6:
            break
    ok(result is not None and result[0] < 0.6 and result[1] < 0.3 and result[2] < 0.95,
       "a reload to 0 during a linger ends it: queued -> reloaded %s s, reloaded -> "
       "delivered %s s, queued -> delivered %s s (the old deadline: 1 s)" % (
           result and result[0], result and result[1], result and result[2]))

    # queue_commit_batch = 1: a batch is full with one op, so a result
    # never waits for company, whatever the linger
    conf.update({"queue_result_linger": "1s", "queue_commit_batch": 1})
    p.write_conf(conf)
    ok_reload = p.reload()
    b7 = counters(mport)
    q9 = deliver_one()
    wait_for(lambda: recorded(p, q9), 15, what="the result with a batch of one")
    b8 = counters(mport)
    gap = log_gap(p, q9)
    ok(ok_reload and b8[0] - b7[0] == b8[1] - b7[1] and b8[0] - b7[0] >= 2 and
       gap is not None and gap < 0.9,
       "queue_commit_batch = 1: every batch one op (%s -> %s), the result recorded "
       "%s s after the accept, not after the 1 s linger" % (b7, b8, gap))
    p.stop()
    sink.stop()


run(main)
