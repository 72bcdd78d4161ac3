#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_metrics.py: Prometheus metrics (issue 19).

- metrics_listen is off by default (nothing listens);
- with metrics_listen, GET /metrics (scraped with curl) is valid
  Prometheus text: `promtool check metrics` accepts it;
- the numbers follow what happened: a message accepted, one refused,
  the queue's messages by state and pending messages by age, deliveries
  by result, histograms of the group commit and of the EOM stages;
- refusals by reason: postern_messages_refused_total{phase,reason,result}
  names the policy stage (nul, sender_domain, from_domain, ...), every
  stage's series present from the start;
  a bad metrics_listen is refused by posternd -n."""

import os
import re
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402


def scrape(port):
    r = subprocess.run(["curl", "-sS", "-D", "-", "http://127.0.0.1:%d/metrics" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    head, _, body = r.stdout.partition("\n\n")   # text mode: CRLF read as LF
    return r.returncode, head, body


def value(body, name, labels=""):
    m = re.search(r"(?m)^%s%s (\d+)$" % (re.escape(name), re.escape("{%s}" % labels) if labels else ""), body)
    return int(m.group(1)) if m else None


def main():
    plan(24)
    if shutil.which("curl") is None or shutil.which("promtool") is None:
        skip_all("curl and promtool (Debian prometheus) are needed")
        return
    port = free_port()
    sink = Sink(name="mx").start()
    p = Postern(conf={"transport": "dest.test=[127.0.0.1]:%d" % sink.port})
    p.start()
    s = socket.socket()
    is_(s.connect_ex(("127.0.0.1", port)), 111, "metrics_listen unset: nothing listens")
    s.close()
    p.stop()
    p.write_conf({"metrics_listen": "127.0.0.1:%d" % port})
    p.start()
    like(p.log(), r"event=metrics_listening address=127\.0\.0\.1:%d" % port, "metrics_listen: listening")

    sm = p.smtp("relay")
    sm.sendmail("a@example.test", ["x@dest.test"], "From: <a@example.test>\r\nSubject: m\r\n\r\nhi\r\n")
    sm.quit()
    sink.wait_messages(1, timeout=20)
    sm = p.smtp("relay")
    sm.ehlo("client.test")
    sm.mail("a@example.test")
    sm.rcpt("y@dest.test")
    try:
        sm.data(b"Subject: bad\r\n\r\nA\x00B\r\n")   # NUL: refused at DATA
    except Exception:
        pass
    sm.quit()

    rc, head, body = scrape(port)
    is_(rc, 0, "curl scrapes /metrics")
    like(head, r"(?i)content-type: text/plain; version=0\.0\.4", "Content-Type: the text format 0.0.4")
    r = subprocess.run(["promtool", "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    ok(r.returncode == 0 and "postern_queue_messages" in body, "promtool check metrics accepts it")
    if r.returncode != 0:
        diag(r.stdout[-2000:])
    is_(value(body, "postern_messages_total", 'result="accepted"'), 1, "one message accepted")
    ok((value(body, "postern_messages_total", 'result="rejected"') or 0) >= 1, "one refused at DATA")
    is_(value(body, "postern_messages_refused_total", 'phase="eom",reason="nul",result="rejected"'), 1,
        "refused by reason: the NUL message under the nul stage")
    is_(value(body, "postern_messages_refused_total", 'phase="mail",reason="sender_domain",result="rejected"'),
        0, "refused by reason: every stage's series is there from the start (zero)")
    ok(value(body, "postern_smtp_connections_total", 'result="accepted"') >= 2, "SMTP connections counted")
    is_(value(body, "postern_delivery_recipients_total", 'result="delivered",class="transport"'), 1,
        "one delivered (class transport: the transport table routed it)")
    ok(value(body, "postern_queue_messages", 'state="delivered"') == 1, "queue gauge by state")
    ok(value(body, "postern_queue_pending_messages", 'age="5m"') == 0, "pending by age bucket")
    ok(value(body, "postern_queue_commit_batches_total") >= 1, "commit batches")
    ok((value(body, "postern_queue_commit_duration_seconds_count") or 0) >= 1 and
       re.search(r'(?m)^postern_queue_commit_duration_seconds_bucket\{le="\+Inf"\} \d+$', body),
       "group-commit duration histogram")
    ok(value(body, "postern_policy_stage_duration_seconds_count", 'stage="dkim"') == 1 and
       value(body, "postern_policy_stage_duration_seconds_count", 'stage="dlp"') == 1,
       "EOM stage histograms: dlp and dkim ran once (the NUL message stopped before)")
    like(body, r'(?m)^postern_build_info\{version="[^"]+"\} 1$', "build info")
    unlike(body, r"@", "no address anywhere in the metrics")
    unlike(body, r"postern_account_", "no account label unless metrics_account_labels")

    # opt-in per-account counters
    p.stop()
    p.write_conf({"metrics_account_labels": True, "smtpd_relay_account": "shop", "smtpd_loops": 2})
    p.start()
    p.posternctl("account", "add", "shop", "--domain", "example.test")
    sm = p.smtp("relay")
    sm.sendmail("a@example.test", ["z@dest.test"], "From: <a@example.test>\r\nSubject: m\r\n\r\nhi\r\n")
    sm.quit()
    codes = []
    for i in range(8):     # one connection each: with smtpd_loops > 1 they spread over the loops
        sm = p.smtp("relay")
        sm.ehlo("client.test")
        codes.append(sm.mail("a@other.test")[0])   # not one of the account's domains
        sm.quit()
    code = min(codes)
    sm = p.smtp("relay")
    try:
        sm.sendmail("a@example.test", ["z@dest.test"], "From: <a@other.test>\r\nSubject: m\r\n\r\nhi\r\n")
    except Exception:
        pass                                   # 550 5.7.1 From: header domain ...
    sm.quit()
    rc, head, body = scrape(port)
    ok(code >= 500 and value(body, "postern_messages_refused_total",
                             'phase="mail",reason="sender_domain",result="rejected"') == 8,
       "refused by reason: 8 foreign MAIL FROMs under sender_domain (summed over the loops)")
    is_(value(body, "postern_messages_refused_total", 'phase="eom",reason="from_domain",result="rejected"'), 1,
        "refused by reason: a foreign From: under from_domain")
    is_(value(body, "postern_account_messages_total", 'account="shop",result="accepted"'), 1,
        "metrics_account_labels = yes: messages per account")
    r = subprocess.run(["promtool", "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    is_(r.returncode, 0, "promtool accepts the account series too")
    p.stop()
    p.write_conf({"metrics_listen": "localhost:%d" % port})
    r = subprocess.run([p.posternd, "-n", "-c", p.conf_path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    ok(r.returncode == 1 and "metrics_listen" in r.stdout, "a host name in metrics_listen is refused by -n")
    p.close()
    sink.close()


run(main)
