#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_loops_ops: delivery_loops = 2 under an operator's hand
(issue 20 item 3, adversarial checks).

- delivery_enabled = no by reload while both loops have mail queued for
  one domain: open connections finish the message they carry and no
  more goes out (postern.conf(5)); yes again: the rest arrives, each
  recipient once;
- a SIGHUP storm (20 reloads) while both loops deliver: every recipient
  once, posternd keeps running;
- `posternctl queue hold` of a message whose two parts are in flight on
  both loops: the delivered part is final, the deferred part stays held
  (no retry on flush) until `queue release`, then arrives once;
- VERP (account return_path_domain) on a message split over both loops:
  one recipient per transaction, each with its own b+TOKEN return path;
- smtp_destination_rate set by reload while both loops hold mail for the
  domain: no more than the rate goes out in that minute (over both
  loops, not once per loop);
- `posternctl delivery pause --domain D` while both loops hold mail for
  D: no new message to D goes out (the open connections finish theirs),
  and after `delivery resume` the rest arrives, each recipient once;
- bounces of one message on both loops at once move its account on
  (review triggers, bounce rate over all loops) once: one
  account_status event, not one per loop or per bounce.
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401




def main():
    plan(19)
    sink = Sink(host="127.0.0.2", name="ops").start()
    p = Postern(tls=False, conf={
        "smtpd_loops": "1",
        "delivery_loops": "2",
        "transport": "*=[127.0.0.2]:%d" % sink.port,
        "smtp_destination_concurrency": "2",
        "smtpd_relay_account": "relayapp",
    })
    p.start()

    # ---- delivery_enabled = no while both loops hold mail for one domain
    sink.on_data("sleep 0.2")
    want = relay_load(p, "off", 60, ["off.test"])
    wait_for(lambda: len(sink.messages()) >= 4, 60, what="deliveries under way")
    p.write_conf({"delivery_enabled": "no"})
    ok(p.reload(), "reload with delivery_enabled = no")
    at = len(sink.events())
    time.sleep(3)
    after = [e for e in sink.events()[at:] if e["ev"] == "mail"]
    # two connections (the limit) may each be in the middle of one
    ok(len(after) <= 2, "delivery off: no new message goes out (%d MAIL after the reload)" % len(after))
    p.write_conf({"delivery_enabled": "yes"})
    ok(p.reload(), "reload with delivery_enabled = yes")
    wait_for(lambda: set(want) <= set(rcpt_counts(sink)), 90, what="the rest after delivery on")
    c = rcpt_counts(sink)
    is_(sorted(r for r in want if c.get(r) != 1), [], "delivery on again: every recipient once")

    # ---- SIGHUP storm while both loops deliver
    sink.reset()
    sink.on_data("sleep 0.02")
    doms = ["hup%d.test" % i for i in range(6)]
    want = relay_load(p, "hup", 30, doms)
    for _ in range(20):
        p.signal(signal.SIGHUP)
        time.sleep(0.05)
    wait_for(lambda: set(want) <= set(rcpt_counts(sink)), 90, what="every recipient after the storm")
    time.sleep(1)
    c = rcpt_counts(sink)
    is_(sorted(r for r in want if c.get(r) != 1), [], "SIGHUP storm: every recipient once (%d)" % len(want))
    ok(p.running() and p.posternctl("queue", "stats").returncode == 0, "posternd still serves")

    # ---- hold while both parts are in flight
    p.stop()
    sink.reset()
    p.write_conf({"smtp_destination_concurrency": "1"})
    p.start()
    d0 = domains_on(0, 2, 1, "hold")[0]
    d1 = domains_on(1, 2, 1, "hold")[0]
    x, y = "x@" + d0, "y@" + d1
    sink.on_rcpt(x, "sleep 3")
    sink.on_rcpt(y, "sleep 3 450 4.2.0 busy", "250 2.1.5 ok")
    ev0 = len(sink.events())
    code, text = p.send("hold@sender.test", [x, y], "Subject: hold\r\n\r\nx\r\n")
    qid = queue_id(text)
    wait_for(lambda: sum(1 for e in sink.events()[ev0:] if e["ev"] == "mail") >= 2, 30,
             what="both parts in flight")
    r = p.posternctl("queue", "hold", qid)
    is_(r.returncode, 0, "queue hold while both parts are in flight")
    wait_for(lambda: sum(1 for e in sink.events()[ev0:] if e["ev"] == "rcpt") >= 2, 30,
             what="both parts answered")
    time.sleep(1)
    p.posternctl("queue", "flush")
    time.sleep(2)
    tries_y = sum(1 for e in sink.events()[ev0:] if e["ev"] == "rcpt" and e["arg"] == y)
    show = p.posternctl_json("queue", "show", qid)
    states = {r_.get("address", r_.get("addr")): r_.get("state") for r_ in show.get("recipients", [])}
    ok(tries_y == 1 and rcpt_counts(sink).get(x) == 1,
       "held: the delivered part arrived once, the deferred part is not retried (%d tries)" % tries_y)
    ok("held" in str(show.get("state", "")) or "held" in states.values(),
       "the deferred part stays held (%s)" % states)
    r = p.posternctl("queue", "release", qid)
    wait_for(lambda: rcpt_counts(sink).get(y, 0) >= 1, 60, what="the released part")
    time.sleep(1)
    c = rcpt_counts(sink)
    ok(r.returncode == 0 and c.get(y) == 1 and c.get(x) == 1, "released: the held part arrives once")

    # ---- VERP over both loops: one recipient per transaction
    sink.reset()
    r1 = p.posternctl("account", "add", "relayapp", "--domain", "a.test")
    r2 = p.posternctl("account", "set", "relayapp", "--set", "return_path_domain=rp.a.test")
    v0 = domains_on(0, 2, 1, "verp")[0]
    v1 = domains_on(1, 2, 1, "verp")[0]
    rcpts = ["a@" + v0, "b@" + v0, "c@" + v1, "d@" + v1]
    n0 = len(sink.messages())
    code, text = p.send("news@a.test", rcpts, "Subject: verp\r\n\r\nx\r\n")
    wait_for(lambda: len(sink.messages()) >= n0 + 4, 60, what="four VERP transactions")
    time.sleep(1)
    msgs = sink.messages()[n0:]
    ok(r1.returncode == 0 and r2.returncode == 0 and len(msgs) == 4 and
       all(len(m.rcpt_tos) == 1 for m in msgs) and
       sorted(r_ for m in msgs for r_ in m.rcpt_tos) == sorted(rcpts),
       "VERP split over both loops: one recipient per transaction (%s)" %
       [m.rcpt_tos for m in msgs])
    froms = [m.mail_from for m in msgs]
    ok(all(re.match(r"^b\+[0-9a-z]{39}@rp\.a\.test$", f) for f in froms) and len(set(froms)) == 4,
       "each with its own b+TOKEN@rp.a.test (%s)" % froms)

    # ---- a rate set by reload while both loops hold the domain's mail
    p.stop()
    sink.reset()
    p.write_conf({"smtp_destination_concurrency": "2", "smtp_destination_rate": "0"})
    p.start()
    sink.on_data("sleep 0.1")
    want = relay_load(p, "rate", 80, ["rate.test"], sender="news@a.test")
    wait_for(lambda: len(sink.messages()) >= 4, 60, what="deliveries under way")
    p.write_conf({"smtp_destination_rate": "10"})
    ok(p.reload(), "reload with smtp_destination_rate = 10")
    at = len(sink.events())
    time.sleep(5)
    sent = sum(1 for e in sink.events()[at:] if e["ev"] == "mail")
    # the two connections may each be in the middle of one message
    ok(sent <= 10 + 2, "rate 10/min over both loops: %d messages in the 5 s after the reload" % sent)

    # ---- delivery pause of a domain while both loops hold its mail
    p.stop()
    sink.reset()
    p.write_conf({"smtp_destination_rate": "0"})
    p.start()
    sink.on_data("sleep 0.2")
    want = relay_load(p, "pz", 60, ["pause.test"], sender="news@a.test")
    wait_for(lambda: len([m for m in sink.messages() if m.rcpt_tos[0].endswith("@pause.test")]) >= 4, 60,
             what="deliveries under way")
    r = p.posternctl("delivery", "pause", "--domain", "pause.test")
    is_(r.returncode, 0, "delivery pause --domain pause.test")
    at = len(sink.events())
    time.sleep(3)
    # (the rate section's mail, to rate.test, still goes meanwhile)
    after = [e for e in sink.events()[at:] if e["ev"] == "rcpt" and e["arg"].endswith("@pause.test")]
    ok(len(after) <= 2, "paused: no new message to the domain goes out (%d RCPT after the pause)" % len(after))
    p.posternctl("delivery", "resume", "--domain", "pause.test")
    wait_for(lambda: set(want) <= set(rcpt_counts(sink)), 90, what="the rest after the resume")
    c = rcpt_counts(sink)
    is_(sorted(r_ for r_ in want if c.get(r_) != 1), [], "resumed: every recipient once")

    # ---- a burst of bounces on both loops: the account moves on once
    p.stop()
    sink.reset()
    p.write_conf({"review_trigger_min_messages": "1", "review_bounce_review": "10",
                  "review_bounce_pause": "20"})
    p.start()
    bad = ["gone%d@bb%d.test" % (i, i) for i in range(8)]
    for r_ in bad:
        sink.on_rcpt(r_, "550 5.1.1 no such user")
    start = p.log_size()
    code, text = p.send("news@a.test", bad, "Subject: bb\r\n\r\nx\r\n")
    wait_for(lambda: len(re.findall(r"event=bounced", p.log(start))) >= 8, 60, what="eight bounces")
    wait_for(lambda: p.posternctl_json("account", "show", "relayapp")["status"] == "paused",
             timeout=30, what="relayapp paused")
    time.sleep(1)
    moves = re.findall(r"account=relayapp event=account_status status=(\w+)", p.log(start))
    ok(set(re.findall(r"event=session \S+ tls=\S+ loop=(\d+)", p.log(start))) == {"0", "1"},
       "the bounces came from both loops")
    is_(moves, ["paused"], "one account_status event for the burst (%s)" % moves)
    done()


run(main)
