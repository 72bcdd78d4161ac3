#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_feedback_verp: VERP return paths at the account's own
return_path_domain (issue 14), through the real daemon, dnsmasq, two
sink MXs and smtplib.

 1. return_path_domain = rp.a.test (not the feedback_domain): the MX
    sees MAIL FROM:<b+TOKEN@rp.a.test>; the remote's DSN (5.1.1) sent
    to that address at the feedback listener is accepted and
    suppresses.  The same token at another domain, or a forged token at
    rp.a.test, is refused at RCPT and adds nothing.
 2. A bounce postern generates itself (the MX answers 550 5.1.1 at
    RCPT) goes to the original sender news@a.test from <>, not to the
    VERP address, and suppresses the recipient (hard_bounce).
 3. Without return_path_domain the envelope sender is the original one.
 4. posternd -n refuses a 5.7.x code in suppression_bounce_codes
    (policy blocks never suppress).
"""
import json
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def suppressed(p, addr):
    return p.suppression(addr, "relayapp")


def fb_send(p, rcpt, data, mail_from=""):
    return p.feedback_send(rcpt, data, mail_from)


def dsn(orig_rcpt, status):
    return ("From: MAILER-DAEMON@mx.dest.test\r\nSubject: failure\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\r\n\r\n"
            "--BB\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n"
            "--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.dest.test\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n\r\n"
            "--BB--\r\n" % (orig_rcpt, status)).encode()


def message(to):
    return ("From: News <news@a.test>\r\nTo: <%s>\r\nSubject: hi\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n" % to).encode()


def main():
    port = free_port("127.0.0.2")
    dns_srv = Dns()
    dns_srv.mx("dest.test", "mx.dest.test", 10).a("mx.dest.test", "127.0.0.2")
    dns_srv.mx("a.test", "mx.a.test", 10).a("mx.a.test", "127.0.0.3")
    dns_srv.start()
    sink = Sink(host="127.0.0.2", port=port, name="mx").start()
    sink.on_rcpt("gone@dest.test", "550 5.1.1 <gone@dest.test>: no such user")
    sink.on_rcpt("busy@dest.test", "450 4.1.1 try again later")
    sink.on_rcpt("full@dest.test", "452 4.2.2 mailbox full")
    back = Sink(host="127.0.0.3", port=port, name="sender").start()
    fb_port = free_port()
    p = Postern(name="fbverp", tls=False, dns=dns_srv, conf={
        "transport": "*=mx:%d" % port,
        "smtp_address_preference": "ipv4-only",
        "smtpd_relay_account": "relayapp",
        "feedback_domain": "fb.test",
        "feedback_listen": "127.0.0.1:%d" % fb_port,
    })
    p.fb_port = fb_port
    p.start()
    plan(15)
    r1 = p.posternctl("account", "add", "relayapp", "--domain", "a.test")
    r2 = p.posternctl("account", "set", "relayapp", "--set", "return_path_domain=rp.a.test")
    ok(r1.returncode == 0 and r2.returncode == 0, "account relayapp, return_path_domain=rp.a.test")

    # ---- 1. VERP at the account's domain ----
    code, text = p.send("news@a.test", ["alice@dest.test"], message("alice@dest.test"))
    msgs = sink.wait_messages(1, timeout=60)
    verp = msgs[0].mail_from if msgs else ""
    ok(code == 250 and re.match(r"^b\+[0-9a-z]{39}@rp\.a\.test$", verp),
       "the MX sees MAIL FROM:<b+TOKEN@rp.a.test> (%s)" % verp)
    tok = verp[2:41]
    code, text = fb_send(p, "b+%s@other.test" % tok, dsn("alice@dest.test", "5.1.1"))
    ok(code == 550 and not suppressed(p, "alice@dest.test").get("suppressed"),
       "the token at another domain: refused at RCPT (%d %s)" % (code, text))
    forged = tok[:-1] + ("a" if tok[-1] != "a" else "b")
    code, text = fb_send(p, "b+%s@rp.a.test" % forged, dsn("alice@dest.test", "5.1.1"))
    ok(code == 550 and not suppressed(p, "alice@dest.test").get("suppressed"),
       "a forged token at rp.a.test: refused (%d %s)" % (code, text))
    code, text = fb_send(p, "someone@rp.a.test", dsn("alice@dest.test", "5.1.1"))
    is_(code, 550, "a non-token address at rp.a.test: refused")
    # RFC 3464: several per-recipient blocks; the token's recipient's decides
    multi = dsn("other@dest.test", "5.2.2").replace(
        b"\r\n--BB--", b"\r\nFinal-Recipient: rfc822; <alice@dest.test>\r\nAction: failed\r\n"
        b"Status: 4.2.2\r\n\r\n--BB--")
    code, text = fb_send(p, verp, multi)
    ok(code == 250 and not suppressed(p, "alice@dest.test").get("suppressed"),
       "DSN: another recipient's 5.2.2 and alice's own 4.2.2: alice not suppressed")
    code, text = fb_send(p, verp, dsn("x1@dest.test", "5.1.1").replace(
        b"\r\n--BB--", b"\r\nFinal-Recipient: rfc822; x2@dest.test\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n--BB--"))
    ok(code == 250 and not suppressed(p, "alice@dest.test").get("suppressed"),
       "DSN: two failed blocks, neither alice (an expanded alias): not suppressed")
    code, text = fb_send(p, verp, dsn("other@dest.test", "5.2.2").replace(
        b"\r\n--BB--", b"\r\nFinal-Recipient: rfc822; x@mx.dest.test\r\n"
        b"Original-Recipient: rfc822;alice@DEST.test\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n--BB--"))
    info = suppressed(p, "alice@dest.test")
    ok(code == 250 and info.get("reason") == "hard_bounce" and info.get("source") == "5.1.1",
       "DSN: alice's block (by Original-Recipient) after another's 5.2.2: 5.1.1 counts (%s)" % info)
    r = p.posternctl("suppress", "remove", "alice@dest.test", "--account", "relayapp",
                     "--reason", "test")
    code, text = fb_send(p, verp, dsn("alice@dest.test", "5.1.1"))
    info = suppressed(p, "alice@dest.test")
    ok(code == 250 and info.get("reason") == "hard_bounce" and info.get("source") == "5.1.1",
       "the remote's DSN to b+TOKEN@rp.a.test: accepted, suppressed (%d, %s)" % (code, info))

    # ---- 2. postern's own DSN goes to the original sender ----
    code, text = p.send("news@a.test", ["gone@dest.test"], message("gone@dest.test"))
    got = back.wait_messages(1, timeout=60)
    ok(got and got[0].mail_from in ("", "<>") and got[0].rcpt_tos == ["news@a.test"],
       "postern's DSN for the 550 5.1.1: from <> to the original sender (%s)" % got)
    wait_for(lambda: suppressed(p, "gone@dest.test").get("suppressed"), timeout=60,
             what="gone@dest.test suppressed")
    ok(suppressed(p, "gone@dest.test").get("reason") == "hard_bounce",
       "... and the recipient is suppressed (hard_bounce)")

    # 4xx replies at delivery never suppress, whatever their enhanced code
    for a in ("busy@dest.test", "full@dest.test"):
        p.send("news@a.test", [a], message(a))
    wait_for(lambda: {e.get("arg") for e in sink.events() if e.get("ev") == "rcpt"}
             >= {"busy@dest.test", "full@dest.test"}, timeout=60, what="4xx answers given")
    ok(not suppressed(p, "busy@dest.test").get("suppressed")
       and not suppressed(p, "full@dest.test").get("suppressed"),
       "450 4.1.1 and 452 4.2.2 at delivery: not suppressed")

    # ---- 3. no return_path_domain: no VERP ----
    r = p.posternctl("account", "set", "relayapp", "--set", "return_path_domain=")
    n = len(sink.messages())
    code, text = p.send("news@a.test", ["bob@dest.test"], message("bob@dest.test"))
    msgs = sink.wait_messages(n + 1, timeout=60)
    bob = [m for m in msgs if "bob@dest.test" in m.rcpt_tos]
    ok(r.returncode == 0 and bob and bob[0].mail_from == "news@a.test",
       "without return_path_domain: MAIL FROM:<news@a.test> (%s)" % (bob[0].mail_from if bob else None))
    p.stop()

    # ---- 4. 5.7.x is never a hard bounce ----
    bad = p.write_file("bad.conf", open(p.conf_path).read() +
                       "suppression_bounce_codes = 5.1.1 5.7.1\n", 0o644)
    r = subprocess.run([p.posternd, "-n", "-c", bad], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    ok(r.returncode != 0 and "'5.7.1' is a policy block" in r.stdout,
       "posternd -n refuses 5.7.1 in suppression_bounce_codes (%s)" % r.stdout.strip()[-120:])
    good = p.write_file("good.conf", open(p.conf_path).read() +
                        "suppression_bounce_codes = 5.1.1 5.2.1\n", 0o644)
    r = subprocess.run([p.posternd, "-n", "-c", good], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    is_(r.returncode, 0, "... and accepts 5.1.1 5.2.1 (%s)" % r.stdout.strip()[-120:])
    done()


run(main)
