#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_feedback: what comes back from recipients becomes a suppression
(issue 14), through the real daemon, dnsmasq, a sink MX, curl, smtplib
and dkimpy.

 1. list_unsubscribe = one-click: the queued and delivered message has
    List-Unsubscribe (https URL + mailto) and List-Unsubscribe-Post;
    its DKIM signature (dkimpy, key from dnsmasq) verifies and covers
    both fields.  The account's return_path_domain makes the envelope
    sender at the MX b+TOKEN@ (VERP).
 2. GET /u/TOKEN shows a page and suppresses nothing; curl POST with
    List-Unsubscribe=One-Click -> 200, suppressed (unsubscribe,
    one-click); replayed -> 200, nothing added; a forged token -> 404,
    nothing added; no body -> 400.
 3. The feedback listener (smtplib, no AUTH): a DSN (RFC 3464, 5.1.1) to
    the VERP address -> hard_bounce; a DSN with 4.2.2 -> nothing; an
    ARF report (RFC 5965) to fbl@ quoting the original -> complaint; a
    blank message to u+TOKEN@ -> unsubscribe.  Refused: another
    domain, a forged token; a report over the size bound; garbage and
    malformed MIME are answered and add nothing.
"""
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
import dkim  # noqa: E402

dns_srv = None


def message(to, subject):
    return ("From: News <news@a.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@a.test>\r\n\r\n"
            "Hello,\r\nthis is a test.\r\n" % (to, subject, subject)).encode()


def suppressed(p, addr):
    return p.suppression(addr, "relayapp")


def curl(*args):
    r = subprocess.run(["curl", "-s", "-o", "/dev/stderr", "-w", "%{http_code}", *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return int(r.stdout or 0), r.stderr.decode(errors="replace")


def fb_send(p, rcpt, data, mail_from=""):
    return p.feedback_send(rcpt, data, mail_from)


def dsn(orig_rcpt, status, action="failed"):
    return ("From: MAILER-DAEMON@mx.dest.test\r\nTo: <bounce@fb.test>\r\nSubject: failure\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;\r\n"
            " boundary=\"BB\"\r\n\r\n"
            "--BB\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            "--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.dest.test\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n"
            "Diagnostic-Code: smtp; 550 %s no such user\r\n\r\n"
            "--BB--\r\n" % (orig_rcpt, action, status, status)).encode()


def arf(original_headers, extra=""):
    return ("From: fbl@provider.test\r\nTo: <fbl@fb.test>\r\nSubject: complaint\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=\"AA\"\r\n\r\n"
            "--AA\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
            "--AA\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n%s\r\n"
            "--AA\r\nContent-Type: text/rfc822-headers\r\n\r\n%s\r\n--AA--\r\n"
            % (extra, original_headers)).encode()


def main():
    global dns_srv
    port = free_port("127.0.0.2")
    dns_srv = Dns()
    dns_srv.mx("dest.test", "mx.dest.test", 10).a("mx.dest.test", "127.0.0.2")
    dns_srv.start()
    sink = Sink(host="127.0.0.2", port=port, name="mx").start()
    http_port, fb_port = free_port(), free_port()
    p = Postern(name="feedback", tls=False, dns=dns_srv, conf={
        "transport": "*=mx:%d" % port,
        "smtp_address_preference": "ipv4-only",
        "smtpd_relay_account": "relayapp",
        "list_unsubscribe": "one-click",
        "list_unsubscribe_url": "https://unsub.test/u/",
        "feedback_domain": "fb.test",
        "http_listen": "127.0.0.1:%d" % http_port,
        "feedback_listen": "127.0.0.1:%d" % fb_port,
    })
    p.fb_port = fb_port
    p.start()
    plan(46)
    r1 = p.posternctl("dkim", "generate", "a.test", "--selector", "e1", "--algorithm", "ed25519")
    r2 = p.posternctl("account", "add", "relayapp", "--domain", "a.test")
    r3 = p.posternctl("account", "set", "relayapp", "--set", "return_path_domain=fb.test")
    ok(r1.returncode == 0 and r2.returncode == 0 and r3.returncode == 0,
       "DKIM key, account relayapp with return_path_domain=fb.test")
    dns_srv.reset().mx("dest.test", "mx.dest.test", 10).a("mx.dest.test", "127.0.0.2")
    dns_srv.txt_records(p.dkim_records("a.test")).start()

    # ---- 1. List-Unsubscribe, signed; VERP ----
    code, text = p.send("news@a.test", ["alice@dest.test"], message("alice@dest.test", "one"))
    is_(code, 250, "message to alice accepted")
    body = p.queue_body(queue_id(text))
    m = re.search(rb"List-Unsubscribe: <https://unsub\.test/u/([0-9a-z]{39})>,\r\n"
                  rb" <mailto:u\+([0-9a-z]{39})@fb\.test>\r\n", body)
    ok(m and m.group(1) == m.group(2), "List-Unsubscribe: https URL and mailto, one token")
    token = m.group(1).decode() if m else "x" * 39
    ok(b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in body,
       "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    ok(dkim.verify(body, dnsfunc=dns_srv.lookup_txt), "the DKIM signature verifies (dkimpy)")
    h = re.search(rb"(?s)DKIM-Signature:.*?\bh=([^;]*);", body)
    signed = [x.strip().lower() for x in h.group(1).decode().replace("\r\n", "").split(":")] if h else []
    ok("list-unsubscribe" in signed and "list-unsubscribe-post" in signed,
       "h= covers List-Unsubscribe and List-Unsubscribe-Post (%s)" % signed)
    changed = body.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                           b"List-Unsubscribe-Post: List-Unsubscribe=One-Clock", 1)
    ok(not dkim.verify(changed, dnsfunc=dns_srv.lookup_txt), "... a changed List-Unsubscribe-Post fails")
    msgs = sink.wait_messages(1, timeout=60)
    ok(msgs and re.match(r"^b\+[0-9a-z]{39}@fb\.test$", msgs[0].mail_from),
       "VERP: the MX sees MAIL FROM:<b+TOKEN@fb.test> (%s)" % (msgs[0].mail_from if msgs else None))

    # ---- 2. one-click over HTTP ----
    url = "http://127.0.0.1:%d/u/%s" % (http_port, token)
    code, page = curl(url)
    ok(code == 200 and "<form method=\"post\">" in page, "GET shows a confirmation page")
    ok(not suppressed(p, "alice@dest.test").get("suppressed"), "... and suppresses nothing")
    code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", url)
    is_(code, 200, "curl POST List-Unsubscribe=One-Click: 200")
    info = suppressed(p, "alice@dest.test")
    ok(info.get("suppressed") and info.get("reason") == "unsubscribe"
       and info.get("source") == "one-click", "alice suppressed: unsubscribe, one-click (%s)" % info)
    code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", url)
    is_(code, 200, "replayed POST: 200 (idempotent)")
    added = p.posternctl_json("account", "show", "relayapp")["suppressions"]["added"]
    is_(added, 1, "... nothing added twice")
    forged = token[:-1] + ("a" if token[-1] != "a" else "b")
    code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click",
                   "http://127.0.0.1:%d/u/%s" % (http_port, forged))
    is_(code, 404, "forged token: 404")
    code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click",
                   "http://127.0.0.1:%d/u/%s" % (http_port, "../../etc/passwd"))
    is_(code, 404, "garbage token: 404")
    code, _ = curl("-X", "POST", "-d", "", url)
    is_(code, 400, "POST without List-Unsubscribe=One-Click: 400")
    # RFC 8058 §8.1's own example: the pair as multipart/form-data
    rfc_body = ("-----FormBoundaryjWmhtjORrn\r\n"
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                "One-Click\r\n-----FormBoundaryjWmhtjORrn--\r\n")
    code, _ = curl("-X", "POST", "-H",
                   "Content-Type: multipart/form-data; boundary=---FormBoundaryjWmhtjORrn",
                   "--data-binary", rfc_body, url)
    is_(code, 200, "POST as multipart/form-data (RFC 8058 §8.1 example): 200")
    code, _ = curl("-F", "List-Unsubscribe=One-Click", url)
    is_(code, 200, "curl -F List-Unsubscribe=One-Click: 200")
    code, _ = curl("-X", "POST", "-H", "Content-Type: text/plain", "--data-binary",
                   "List-Unsubscribe=One-Click", url)
    is_(code, 200, "the bare pair as text/plain: 200")
    code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Clickx", url)
    is_(code, 400, "List-Unsubscribe=One-Clickx: 400 (the value compares exactly)")
    code, _ = curl("-X", "POST", "-d", "x=List-Unsubscribe%3DOne-Click", url)
    is_(code, 400, "the pair inside another field's value: 400")
    code, _ = curl("-X", "POST", "-d", "x" * 100000, url)
    is_(code, 413, "huge body: 413")
    is_(p.posternctl_json("account", "show", "relayapp")["suppressions"]["added"], 1,
        "forged, garbage and huge requests added nothing")

    # ---- 3. the feedback listener ----
    def deliver(to, subject):
        n = len(sink.messages())
        code, text = p.send("news@a.test", [to], message(to, subject))
        msgs = sink.wait_messages(n + 1, timeout=60)
        got = [x for x in msgs if to in x.rcpt_tos]
        return code, queue_id(text), got[-1].mail_from if got else ""

    code, qid, bob_from = deliver("bob@dest.test", "two")
    ok(code == 250 and bob_from.startswith("b+"), "bob's message went out with a VERP sender")
    code, text = fb_send(p, bob_from, dsn("bob@dest.test", "5.1.1"))
    is_(code, 250, "DSN 5.1.1 to the VERP address: 250")
    info = suppressed(p, "bob@dest.test")
    ok(info.get("reason") == "hard_bounce" and info.get("source") == "5.1.1",
       "bob suppressed: hard_bounce 5.1.1 (%s)" % info)

    code, qid, erin_from = deliver("erin@dest.test", "three")
    code, text = fb_send(p, erin_from, dsn("erin@dest.test", "4.2.2", "delayed"))
    is_(code, 250, "DSN 4.2.2 delayed: 250")
    ok(not suppressed(p, "erin@dest.test").get("suppressed"), "... erin not suppressed")
    code, text = fb_send(p, erin_from, dsn("erin@dest.test", "5.7.1"))
    ok(code == 250 and not suppressed(p, "erin@dest.test").get("suppressed"),
       "DSN 5.7.1 (policy): not suppressed")

    code, qid, carol_from = deliver("carol@dest.test", "four")
    carol_body = p.queue_body(qid)
    hdrs = carol_body.split(b"\r\n\r\n", 1)[0].decode()
    code, text = fb_send(p, "fbl@fb.test", arf("Return-Path: <%s>\r\n%s" % (carol_from, hdrs)))
    is_(code, 250, "ARF report to fbl@fb.test: 250")
    info = suppressed(p, "carol@dest.test")
    ok(info.get("reason") == "complaint" and info.get("source") == "abuse",
       "carol suppressed: complaint, abuse (%s)" % info)

    # an ARF report quoting only our Received: field: matched by queue id + Original-Rcpt-To
    code, qid, frank_from = deliver("frank@dest.test", "six")
    received = re.search(rb"(?s)^Received: .*?\r\n(?![ \t])", p.queue_body(qid), re.M)
    rec = received.group(0).decode() if received else ""
    ok(("(postern) with ESMTP id %s;" % qid) in rec.replace("\r\n\t", " "),
       "Received: names the queue id (%s)" % rec.strip())
    code, text = fb_send(p, "fbl@fb.test", arf(rec.rstrip("\r\n"),
                                               "Original-Rcpt-To: <frank@dest.test>\r\n"))
    info = suppressed(p, "frank@dest.test")
    ok(code == 250 and info.get("reason") == "complaint",
       "ARF without tokens: matched by queue id and Original-Rcpt-To (%s)" % info)

    code, qid, dave_from = deliver("dave@dest.test", "five")
    dave_tok = re.search(rb"mailto:u\+([0-9a-z]{39})@", p.queue_body(qid)).group(1).decode()
    code, text = fb_send(p, "u+%s@fb.test" % dave_tok, b"Subject: remove\r\n\r\nremove\r\n")
    is_(code, 250, "blank message to u+TOKEN@fb.test: 250")
    info = suppressed(p, "dave@dest.test")
    ok(info.get("reason") == "unsubscribe" and info.get("source") == "mailto",
       "dave suppressed: unsubscribe, mailto (%s)" % info)

    before = p.posternctl_json("account", "show", "relayapp")["suppressions"]["added"]
    code, text = fb_send(p, "someone@other.test", b"Subject: x\r\n\r\nx\r\n")
    ok(code == 550 and text.startswith("5.1.1"), "RCPT outside feedback_domain: 550 (%d)" % code)
    bad = bob_from[:-len("@fb.test")][:-1] + ("a" if bob_from[-9] != "a" else "b") + "@fb.test"
    code, text = fb_send(p, bad, dsn("bob@dest.test", "5.1.1"))
    ok(code == 550 and "invalid token" in text, "forged VERP token: 550 at RCPT (%s)" % text)
    code, text = fb_send(p, "u+%s@fb.test" % ("0" * 39), b"Subject: x\r\n\r\nx\r\n")
    is_(code, 550, "forged unsubscribe token: 550")
    code, text = fb_send(p, "fbl@fb.test", b"\r\n".join([b"X" * 998] * 3200) + b"\r\n")
    ok(code == 552, "a 3 MiB report is refused: 552 (%d %s)" % (code, text))
    code, text = fb_send(p, "fbl@fb.test", b"X" * 5000 + b"\r\n")
    ok(code == 500, "a 5000-octet line is refused (%d)" % code)
    code, text = fb_send(p, "fbl@fb.test", b"Content-Type: multipart/report; report-type=feedback-"
                         b"report; boundary=\"\r\n\r\n--\r\n--\r\nFeedback-Type:\r\nb+\r\n")
    is_(code, 250, "malformed MIME: answered 250")
    garbage = bytes(b for b in range(1, 256) if b not in (10, 13, 46))
    code, text = fb_send(p, "fbl@fb.test", b"\r\n".join([garbage] * 100) + b"\r\n")
    is_(code, 250, "binary garbage: answered 250")
    code, text = fb_send(p, bob_from, dsn("bob@dest.test", "5.1.1"))
    is_(code, 250, "replayed DSN: answered 250")
    is_(p.posternctl_json("account", "show", "relayapp")["suppressions"]["added"], before,
        "refused, malformed and replayed feedback added nothing")
    p.stop()

    # ---- posternd -n checks the keys ----
    bad = p.write_file("bad.conf", open(p.conf_path).read().replace(
        "feedback_domain = fb.test", "feedback_domain =").replace(
        "list_unsubscribe_url = https://unsub.test/u/", "list_unsubscribe_url = http://x/u") +
        "suppression_bounce_codes = 5.1.1 4.2.2\n", 0o644)
    r = subprocess.run([p.posternd, "-n", "-c", bad], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    ok(r.returncode != 0 and "feedback_listen: set without feedback_domain" in r.stdout
       and "'4.2.2' is not a permanent" in r.stdout and "list_unsubscribe_url" in r.stdout,
       "posternd -n refuses a feedback listener without domain, a 4.x.y bounce code, "
       "a non-https URL")
    done()


run(main)
