#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The spam stage's X-Postern-Spam field and DKIM in the real posternd
(issue 15: "added before DKIM signs"): a relay account with an RSA key,
the GTUBE rule, tag at 4 and hold/reject off.  The GTUBE message is
queued tagged, the DKIM-Signature is on top of X-Postern-Spam, its h=
names x-postern-spam although dkim_sign_headers leaves it out, dkimpy
verifies the stored message with the key served by dnsmasq, and a
changed X-Postern-Spam value no longer verifies (the signature covers
it).  A clean message has no X-Postern-Spam and no x-postern-spam in h=.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Dns, Postern, done, is_, like, ok, plan, queue_id, run, skip_all  # noqa: E402
try:
    import dkim  # noqa: E402
except ImportError:
    dkim = None

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
dns_srv = None


def serve(recs):
    """(Re)start the one dnsmasq with the DKIM records RECS and a.test's SPF."""
    global dns_srv
    dns_srv = dns_srv or Dns()
    dns_srv.reset().txt_records(recs).txt("a.test", "v=spf1 ip4:192.0.2.10 -all").start()


def message(subject, text):
    return ("From: News <news@a.test>\r\nTo: r@example.net\r\nSubject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@a.test>\r\n\r\n"
            "Hello,\r\n%s\r\n" % (subject, subject, text)).encode()


def main():
    if dkim is None:
        skip_all("dkimpy (python3-dkim) is not installed")
    serve([])
    p = Postern(name="spamdkim", tls=False, dns=dns_srv, conf={
        "delivery_enabled": "no",
        "smtpd_relay_account": "relayapp",
        "spf_egress_ips": "192.0.2.10",
        "spf_action": "warn",
        "dkim_sign_headers": "From To Subject Date Message-ID",
        "spam_rules": "GTUBE:1000:" + GTUBE,
        "spam_tag_score": "4",
        "spam_hold_score": "0",
        "spam_reject_score": "0",
    })
    p.start()
    r1 = p.posternctl("dkim", "generate", "a.test", "--selector", "r1")
    r = p.posternctl("account", "add", "relayapp", "--domain", "a.test")
    plan(8)
    ok(r1.returncode == 0 and r.returncode == 0, "RSA key for a.test, relay account")
    serve(p.dkim_records("a.test"))

    code, text = p.send("app@a.test", ["r@example.net"], message("spam", "GTUBE " + GTUBE))
    is_(code, 250, "GTUBE, tag only: accepted")
    body = p.queue_body(queue_id(text))
    head = body.split(b"\r\n\r\n", 1)[0]
    names = [f.split(b":", 1)[0].lower() for f in re.findall(rb"(?m)^[A-Za-z-]+:", head)]
    like(body.decode(errors="replace"), r"(?m)^X-Postern-Spam: score=1000\.00 symbols=GTUBE:1000\.00\r$",
         "tagged: X-Postern-Spam with score and symbols")
    ok(b"dkim-signature" in names and b"x-postern-spam" in names and
       names.index(b"dkim-signature") < names.index(b"x-postern-spam"),
       "DKIM-Signature is above X-Postern-Spam (the field was added before signing): %s"
       % b" ".join(names).decode())
    hval = re.search(rb"(?s)\bh=([^;]*);", body)
    hnames = re.sub(rb"\s", b"", hval.group(1)).split(b":") if hval else []
    ok(b"x-postern-spam" in hnames,
       "h= names x-postern-spam although dkim_sign_headers leaves it out: %s"
       % b":".join(hnames).decode())
    ok(dkim.verify(body, dnsfunc=dns_srv.lookup_txt), "dkimpy verifies the tagged message")
    forged = body.replace(b"X-Postern-Spam: score=1000.00", b"X-Postern-Spam: score=0.00", 1)
    ok(forged != body and not dkim.verify(forged, dnsfunc=dns_srv.lookup_txt),
       "a changed X-Postern-Spam breaks the signature (it is covered)")

    code, text = p.send("app@a.test", ["r@example.net"], message("clean", "nothing here"))
    body = p.queue_body(queue_id(text))
    ok(code == 250 and b"X-Postern-Spam" not in body and b"x-postern-spam" not in body
       and dkim.verify(body, dnsfunc=dns_srv.lookup_txt),
       "clean message: no field, not in h=, verifies")
    done()


run(main)
