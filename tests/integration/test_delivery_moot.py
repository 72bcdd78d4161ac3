#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_moot: a delivery result for a recipient the operator
made final while the attempt was in flight (queue/retry.c report_apply,
"moot"; src/outbound/delivery.c report_done).

`posternctl queue bounce` or `queue delete` of a message whose recipient
is held at the sink's RCPT; the remote then answers 250 or 550 5.1.1.
The operator's action is what the queue keeps, exactly once:

- the recipient's record stays as the operator left it: state, relay
  "operator" and the operator's reply (a late 250 used to overwrite
  them with the remote's, so `queue show` said bounced by the MX with
  "250 ok");
- the event log (and so the webhook outbox, which copies it) has the
  operator's one event for the recipient, not a second "bounced" or a
  "deleted" carrying the remote's reply (for a deleted message: the
  remote's words, which may name the address, are not written back);
- the sender gets the operator's one DSN, none for the late result;
- a remote 550 5.1.1 after a `queue delete` still puts the address on
  the suppression list (the remote said it does not exist);
- an account deleted (its key shredded) while its message is in
  flight: the late result (a 550 5.1.1) is recorded, no DSN, no
  suppression list made anew for the deleted account, delivery goes on;
- max_queue_lifetime passing while an attempt is in flight, then a 451:
  expired, one DSN (4.4.7), one expired event;
- `queue delete` and the record purged (metadata_retention) before the
  late result comes: no "report_failed" (it was counted deferred) and
  no delay DSN (delay_warning_time) for the deleted message.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from queuelib import control  # noqa: E402


def in_flight(p, sink, rcpt, reply):
    """Send one message to RCPT, held at the sink's RCPT then answered
    REPLY's way; its qid once the attempt is in flight."""
    sink.on_rcpt(rcpt, reply)
    ev0 = len(sink.events())
    code, text = p.send("s@sender.test", [rcpt], "Subject: moot\r\n\r\nx\r\n")
    if code != 250:
        bail_out("send to %s: %s %s" % (rcpt, code, text))
    wait_for(lambda: any(e["ev"] == "mail" for e in sink.events()[ev0:]), 30,
             what="the attempt in flight")
    return queue_id(text)


def account_in_flight(p, sink, name, rcpt):
    """Add account NAME (domain NAME.test), send one message of it over
    submission to RCPT, held at the sink's RCPT then answered 550 5.1.1;
    its qid once the attempt is in flight."""
    r = p.posternctl("account", "add", name, "--domain", name + ".test", "--password-stdin",
                     input="pw-%s-secret\n" % name)
    if r.returncode != 0:
        bail_out("account add: %s" % r.stderr)
    sink.on_rcpt(rcpt, "sleep 3 550 5.1.1 no such user")
    ev0 = len(sink.events())
    code, text = p.send("app@%s.test" % name, [rcpt], "Subject: a\r\n\r\nx\r\n",
                        listener="submission", auth=(name, "pw-%s-secret" % name))
    if code != 250:
        bail_out("send for %s: %s %s" % (name, code, text))
    wait_for(lambda: any(e["ev"] == "mail" for e in sink.events()[ev0:]), 30,
             what="the account's message in flight")
    return queue_id(text)


def attempt_logged(p, qid):
    """The delivery log line for QID's attempt (the result is recorded)."""
    wait_for(lambda: ("qid=%s event=attempt" % qid) in p.log(), 30,
             what="the late result of %s recorded" % qid)


def show(p, qid):
    r = p.posternctl("queue", "show", qid, "--json")
    return json.loads(r.stdout)["recipients"][0] if r.returncode == 0 else {}


def events(p, qid):
    r = p.posternctl("queue", "events", qid, "--json")
    return json.loads(r.stdout).get("events", []) if r.returncode == 0 else []


def attempt_line(p, qid):
    m = re.search(r"qid=%s event=attempt .*" % qid, p.log())
    return m.group(0) if m else ""


def counted_attempts(port):
    """Sum of postern_delivery_recipients_total over its labels."""
    return sum(int(v) for v in re.findall(
        r"(?m)^postern_delivery_recipients_total\{[^}]*\} (\d+)$", scrape_metrics(port)))


def counted_by_result(port):
    """postern_delivery_recipients_total summed over classes, by result."""
    out = {"delivered": 0, "deferred": 0, "bounced": 0}
    for res, v in re.findall(r'(?m)^postern_delivery_recipients_total\{result="(\w+)"[^}]*\} (\d+)$',
                             scrape_metrics(port)):
        out[res] += int(v)
    return out


def logged_by_result(p):
    """What the attempt lines say each attempt counts as: a late one by
    the remote's reply (its dsn=), the others by the state it led to."""
    out = {"delivered": 0, "deferred": 0, "bounced": 0}
    for m in re.finditer(r"event=attempt .*?dsn=(\S*) status=(\w+)( late=yes)?", p.log()):
        if m.group(3):
            k = {"2": "delivered", "5": "bounced"}.get(m.group(1)[:1], "deferred")
        else:
            k = {"delivered": "delivered", "bounced": "bounced",
                 "expired": "bounced"}.get(m.group(2), "deferred")
        out[k] += 1
    return out


def dsns(sink):
    return [m for m in sink.messages() if m.mail_from in ("", "<>")]


def main():
    plan(29)
    mport = free_port()
    sink = Sink(host="127.0.0.2", name="moot").start()
    p = Postern(name="moot", conf={
        "smtpd_loops": "1",
        "delivery_loops": "1",
        "transport": "*=[127.0.0.2]:%d" % sink.port,
        "metrics_listen": "127.0.0.1:%d" % mport,
    }).start()

    # ---- queue bounce, then the remote's 250
    qid = in_flight(p, sink, "late@ok.test", "sleep 3")
    r = p.posternctl("queue", "bounce", qid)
    is_(r.returncode, 0, "queue bounce while the attempt waits at RCPT")
    attempt_logged(p, qid)
    rc = show(p, qid)
    ok(rc.get("state") == "bounced" and rc.get("relay") == "operator" and
       not str(rc.get("last_reply", "")).startswith("250"),
       "the recipient stays as the operator left it (%s %s %r)" %
       (rc.get("state"), rc.get("relay"), rc.get("last_reply")))
    ev = [e for e in events(p, qid) if e.get("event") in ("bounced", "delivered")]
    is_(len(ev), 1, "one final event for it, not one more for the late 250 (%s)" %
        [(e.get("event"), e.get("reply")) for e in ev])
    wait_for(lambda: len(dsns(sink)) >= 1, 30, what="the operator's DSN")
    n_dsn = len(dsns(sink))
    is_(n_dsn, 1, "one DSN: the operator's")
    line = attempt_line(p, qid)
    ok("status=bounced late=yes" in line and "dsn=2." in line,
       "the attempt's log line: the remote's 2.x.x, the state the operator left, late (%s)" %
       line[:200])

    # the hidden control command (an operator's report) is refused: the
    # recipient is final, nothing is recorded, and its audit record says
    # status 1 (it used to answer ok, late, and audit a success)
    r = control(p, "queue.report", {"id": qid, "rcpt": 0, "result": "delivered"})
    audit = [x for x in p.posternctl_json("audit", "list")["audit"]
             if x.get("cmd") == "queue.report" and x.get("target") == qid]
    ok(not r.get("ok") and "Nothing to record" in (r.get("error") or "") and
       show(p, qid).get("relay") == "operator" and show(p, qid).get("state") == "bounced" and
       len(audit) == 1 and audit[0].get("status") == 1 and
       "Nothing to record" in (audit[0].get("error") or ""),
       "queue.report on the bounced recipient: refused, unchanged, audited as failed "
       "(%s; %s)" % (r, audit))
    # an unknown id: the same words whether it is a well-formed id or not
    r1 = control(p, "queue.report", {"id": "0" * len(qid), "rcpt": 0})
    r2 = control(p, "queue.report", {"id": "nonsense", "rcpt": 0})
    ok(not r1.get("ok") and not r2.get("ok") and
       r1.get("error") == "no such message: %s" % ("0" * len(qid)) and
       r2.get("error") == "no such message: nonsense",
       "queue.report of an unknown id: 'no such message: ID' (%s; %s)" % (r1, r2))

    # ---- queue bounce, then the remote's 550 5.1.1
    qid = in_flight(p, sink, "gone@bad.test", "sleep 3 550 5.1.1 no such user")
    r = p.posternctl("queue", "bounce", qid)
    is_(r.returncode, 0, "queue bounce while the attempt waits for a 550")
    attempt_logged(p, qid)
    ev = [e for e in events(p, qid) if e.get("event") == "bounced"]
    is_(len(ev), 1, "one bounced event, not a second with the remote's 550 (%s)" %
        [e.get("reply") for e in ev])

    # ---- queue delete, then the remote's 550 5.1.1
    qid = in_flight(p, sink, "gone2@bad.test", "sleep 3 550 5.1.1 no such user")
    r = p.posternctl("queue", "delete", qid)
    is_(r.returncode, 0, "queue delete while the attempt waits for a 550")
    attempt_logged(p, qid)
    ev = [(e.get("event"), e.get("reply")) for e in events(p, qid) if e.get("event") != "queued"]
    is_([e[0] for e in ev], ["delete"], "the operator's delete event, nothing for the late 550 (%s)" %
        ev)
    line = attempt_line(p, qid)
    ok("status=deleted late=yes" in line and "dsn=5.1.1" in line,
       "its attempt line: 5.1.1, deleted, late (%s)" % line[:200])
    r = p.posternctl("suppress", "check", "gone2@bad.test", "--global")
    is_(r.returncode, 0, "the remote's 5.1.1 still lists the address (%s)" % r.stdout.strip())
    # every DSN is in by now (the late results were recorded above)
    is_(len(dsns(sink)), n_dsn + 1, "two operator bounces, two DSNs, none for the late results")

    # ---- an account's message: queue bounce, then the remote's 550 5.1.1:
    # the late bounce is not the account's (the operator's bounce was
    # recorded first), so it does not count toward the bounce rate that
    # pauses the account (one bounce in one message would be 100%)
    p.write_conf({"review_trigger_min_messages": "1", "review_bounce_review": "10",
                  "review_bounce_pause": "20"})
    ok(p.reload(), "reload: one bounce in one message would move an account on")
    start = p.log_size()
    qid = account_in_flight(p, sink, "rate", "late@ratebad.test")
    r = p.posternctl("queue", "bounce", qid)
    if r.returncode != 0:
        bail_out("queue bounce: %s" % r.stderr)
    attempt_logged(p, qid)
    time.sleep(1)
    a = p.posternctl_json("account", "show", "rate") or {}
    ok(a.get("status") == "active" and "account=rate event=account_status" not in p.log(start),
       "a late 5.1.1 after queue bounce leaves the account's bounce rate alone (status %s)"
       % a.get("status"))
    wait_for(lambda: len(dsns(sink)) >= n_dsn + 2, 30, what="the operator's DSN")
    n_dsn = len(dsns(sink))

    # ---- account delete (its key shredded) while its message is in flight
    qid = account_in_flight(p, sink, "shop", "late@acct.test")
    r = p.posternctl("account", "delete", "shop")
    is_(r.returncode, 0, "account delete while its message is in flight")
    attempt_logged(p, qid)
    log = p.log()
    ok("event=report_held" not in log and "queue_writes_failing" not in log and
       ("qid=%s event=report_failed" % qid) not in log,
       "its late result is recorded, not held or failed")
    code, _ = p.send("s@sender.test", ["after@ok.test"], "Subject: after\r\n\r\nx\r\n")
    ok(eventually(lambda: any("after@ok.test" in m.rcpt_tos for m in sink.messages()), 30),
       "delivery goes on after it")
    is_(len(dsns(sink)), n_dsn, "no DSN for the deleted account's message")
    r = p.posternctl("suppress", "list", "--account", "shop")
    ok(r.stdout.strip() == "" and "suppression_added account=shop" not in p.log(),
       "the remote's late 5.1.1 makes no list anew for the deleted account (%r)" %
       r.stdout.strip()[:200])

    # ---- max_queue_lifetime passes while the attempt is in flight, then a 451
    p.write_conf({"max_queue_lifetime": "2s"})
    ok(p.reload(), "reload with max_queue_lifetime = 2s")
    qid = in_flight(p, sink, "exp@late.test", "sleep 3 451 4.4.1 try later")
    attempt_logged(p, qid)
    wait_for(lambda: len(dsns(sink)) >= n_dsn + 1, 30, what="the expiry DSN")
    d = dsns(sink)[n_dsn:]
    ok(len(d) == 1 and b"4.4.7" in d[0].data, "expired in flight: one DSN, status 4.4.7")
    ev = [e.get("event") for e in events(p, qid) if e.get("event") != "queued"]
    is_(ev, ["expired"], "one expired event (%s)" % ev)

    # ---- queue delete, and the record purged before the late result comes
    p.write_conf({"max_queue_lifetime": "5d", "metadata_retention": "1s", "event_retention": "1s",
                  "purge_interval": "1s", "delay_warning_time": "1s"})
    ok(p.reload(), "reload: records purged a second after they are final, delay warnings at 1s")
    n_dsn = len(dsns(sink))
    qid = in_flight(p, sink, "purged@late.test", "sleep 5 451 4.4.1 try later")
    r = p.posternctl("queue", "delete", qid)
    wait_for(lambda: p.posternctl("queue", "show", qid).returncode != 0, 30,
             what="the deleted message's record purged")
    attempt_logged(p, qid)
    log = p.log()
    ok(("qid=%s event=report_failed" % qid) not in log,
       "the late result of a purged message is no failure to record (nothing to record)")
    time.sleep(2)
    is_(len(dsns(sink)), n_dsn, "no delay DSN for the purged message")
    # every attempt is counted by its result, the late ones too
    ok(eventually(lambda: counted_attempts(mport) == p.log().count(" event=attempt "), 15),
       "postern_delivery_recipients_total counts every attempt logged, the late ones "
       "included (%d of %d)" % (counted_attempts(mport), p.log().count(" event=attempt ")))
    # and by the right result: a late 250 as delivered, a late 5.1.1 as
    # bounced, a late 451 as deferred (the sum above holds whatever the
    # split)
    want, got = logged_by_result(p), counted_by_result(mport)
    ok(want == got and want["delivered"] >= 1 and want["bounced"] >= 2,
       "each attempt counted by its result, a late one by the remote's (log %s, metric %s)"
       % (want, got))
    p.stop()
    sink.stop()


run(main)
