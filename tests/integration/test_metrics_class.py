#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_metrics_class.py: deliveries by destination class (issue 19).

postern_delivery_recipients_total carries a bounded `class` label: a
fixed set (google, microsoft, yahoo, apple, literal, transport, other)
plus the classes of metrics_delivery_classes.  Through dnsmasq and a
sink on 127.0.0.2 (every MX below points there):

- hosted.test, MX aspmx.l.google.com: delivered, class google;
- corp.test, MX corp-test.mail.protection.outlook.com: one delivered,
  one bounced (550 5.1.1 at the sink), class microsoft;
- gmx.test, metrics_delivery_classes = gmx:gmx.test: class gmx;
- plain.test, MX mx.plain.test: class other;
- smart.test=[127.0.0.2]:PORT in the transport table: class transport;
- scraped with curl, `promtool check metrics` accepts it, every class
  appears with every result and nothing else (8 classes x 3 results);
- posternd -n refuses a malformed item and a ninth added class."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def scrape(port):
    r = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return r.returncode, r.stdout


def value(body, result, cls):
    m = re.search(r'(?m)^postern_delivery_recipients_total\{result="%s",class="%s"\} (\d+)$'
                  % (result, cls), body)
    return int(m.group(1)) if m else None


def main():
    plan(12)
    if shutil.which("curl") is None or shutil.which("promtool") is None:
        skip_all("curl and promtool (Debian prometheus) are needed")
        return
    port = free_port("127.0.0.2")
    dns = Dns()
    dns.mx("hosted.test", "aspmx.l.google.com", 10).a("aspmx.l.google.com", "127.0.0.2")
    dns.mx("corp.test", "corp-test.mail.protection.outlook.com", 10)
    dns.a("corp-test.mail.protection.outlook.com", "127.0.0.2")
    dns.mx("gmx.test", "mx00.gmx.test", 10).a("mx00.gmx.test", "127.0.0.2")
    dns.mx("plain.test", "mx.plain.test", 10).a("mx.plain.test", "127.0.0.2")
    dns.start()
    sink = Sink(host="127.0.0.2", port=port, name="mx").start()
    sink.on_rcpt("bad@corp.test", "550 5.1.1 <bad@corp.test>: no such user")
    mport = free_port()
    p = Postern(name="mclass", tls=False, dns=dns, conf={
        "transport": "*=mx:%d, smart.test=[127.0.0.2]:%d" % (port, port),
        "smtp_address_preference": "ipv4-only",
        "metrics_listen": "127.0.0.1:%d" % mport,
        "metrics_delivery_classes": "gmx:gmx.test",
    })
    p.start()
    rcpts = ["a@hosted.test", "b@corp.test", "bad@corp.test", "c@gmx.test", "d@plain.test",
             "e@smart.test"]
    for r in rcpts:
        p.send("app@example.test", [r], make_message(mail_from="app@example.test", to=r))
    sink.wait_messages(5, timeout=60)
    p.wait_log(r"event=attempt .*dsn=5\.1\.1 status=bounced", timeout=30)
    wait_for(lambda: sum(value(scrape(mport)[1], res, c) or 0
                         for res in ("delivered", "bounced")
                         for c in ("google", "microsoft", "gmx", "other", "transport")) >= 6,
             timeout=30, what="six results counted")
    rc, body = scrape(mport)
    is_(rc, 0, "curl scrapes /metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    is_(r.returncode, 0, "promtool check metrics accepts it")
    if r.returncode != 0:
        diag(r.stdout[-2000:])
    is_(value(body, "delivered", "google"), 1, "MX aspmx.l.google.com: class google")
    is_(value(body, "delivered", "microsoft"), 1, "MX *.mail.protection.outlook.com: class microsoft")
    is_(value(body, "bounced", "microsoft"), 1, "the 5.1.1 bounce: bounced, class microsoft")
    is_(value(body, "delivered", "gmx"), 1, "metrics_delivery_classes gmx:gmx.test: class gmx")
    is_(value(body, "delivered", "other"), 1, "plain.test: class other")
    is_(value(body, "delivered", "transport"), 1, "smart.test by the transport table: class transport")
    classes = set(re.findall(r'(?m)^postern_delivery_recipients_total\{result="\w+",class="(\w+)"\}', body))
    is_(sorted(classes), sorted(["google", "microsoft", "yahoo", "apple", "literal", "transport",
                                 "other", "gmx"]), "the label has exactly the 8 classes")
    is_(len(re.findall(r"(?m)^postern_delivery_recipients_total\{", body)), 24,
        "8 classes x 3 results, zeros included: a fixed set of series")
    p.stop()
    p.write_conf({"metrics_delivery_classes": "GMX:gmx.test"})
    r = subprocess.run([p.posternd, "-n", "-c", p.conf_path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    ok(r.returncode == 1 and "metrics_delivery_classes" in r.stdout and "GMX:gmx.test" in r.stdout,
       "posternd -n refuses a malformed item (%s)" % r.stdout.strip()[-200:])
    p.write_conf({"metrics_delivery_classes": " ".join("c%d:c%d.test" % (i, i) for i in range(9))})
    r = subprocess.run([p.posternd, "-n", "-c", p.conf_path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    ok(r.returncode == 1 and "at most 8 classes" in r.stdout, "posternd -n refuses a ninth class")
    p.close()
    sink.close()
    dns.close()


run(main)
