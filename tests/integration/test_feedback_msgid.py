#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_feedback_msgid: ARF complaint reports (RFC 5965) that carry no
token and no queue id of ours are matched by the original's Message-ID
(issue 14), through the real daemon, dnsmasq, a sink MX and smtplib.

 1. An ARF report quoting only the original's header (text/rfc822-
    headers) with its Message-ID -> the recipient is suppressed
    (complaint); the whole original (message/rfc822) likewise; the
    domain part compares case-insensitively; a Message-ID postern added
    itself matches too.
 2. Nothing is added for: an unknown Message-ID; the report's own
    Message-ID (top header) when the quoted one is unknown; one
    Message-ID sent to two recipients and a report without
    Original-Rcpt-To (ambiguous) -- with Original-Rcpt-To it matches.
 3. The raw data.mdb never holds the Message-ID in plaintext.
 4. With body_retention = 0s the envelope is shredded by the purge: a
    complaint (by Message-ID, and by the List-Unsubscribe token)
    still suppresses, by the keyed recipient hash the queue keeps.
"""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def suppressed(p, addr):
    return p.suppression(addr, "relayapp")


def fb_send(p, rcpt, data, mail_from=""):
    return p.feedback_send(rcpt, data, mail_from)


def arf(part_type, original, extra="", own_msgid=None):
    top = "Message-ID: %s\r\n" % own_msgid if own_msgid else ""
    return ("From: fbl@provider.test\r\nTo: <fbl@fb.test>\r\nSubject: complaint\r\n%s"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report;\r\n boundary=\"AA\"\r\n\r\n"
            "--AA\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
            "--AA\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n%s\r\n"
            "--AA\r\nContent-Type: %s\r\n\r\n%s\r\n--AA--\r\n"
            % (top, extra, part_type, original)).encode()


def message(to, msgid, subject="hello"):
    mid = "Message-ID: %s\r\n" % msgid if msgid else ""
    return ("From: News <news@a.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n%s\r\nHello,\r\nthis is a test.\r\n"
            % (to, subject, mid)).encode()


def strip_ours(text):
    """The original as a provider quotes it, minus what would match it
    otherwise: our Received: (queue id) and any token."""
    text = re.sub(r"(?m)^Received: .*\r\n(?:[ \t].*\r\n)*", "", text)
    text = re.sub(r"(?m)^List-Unsubscribe(-Post)?: .*\r\n(?:[ \t].*\r\n)*", "", text)
    return text


def added(p):
    return p.posternctl_json("account", "show", "relayapp")["suppressions"]["added"]


def setup(name, extra):
    port = free_port("127.0.0.2")
    dns_srv = Dns()
    dns_srv.mx("dest.test", "mx.dest.test", 10).a("mx.dest.test", "127.0.0.2")
    dns_srv.start()
    sink = Sink(host="127.0.0.2", port=port, name="mx").start()
    fb_port = free_port()
    conf = {
        "transport": "*=mx:%d" % port,
        "smtp_address_preference": "ipv4-only",
        "smtpd_relay_account": "relayapp",
        "feedback_domain": "fb.test",
        "feedback_listen": "127.0.0.1:%d" % fb_port,
    }
    conf.update(extra)
    p = Postern(name=name, tls=False, dns=dns_srv, conf=conf)
    p.fb_port = fb_port
    p.start()
    r = p.posternctl("account", "add", "relayapp", "--domain", "a.test")
    return p, sink, r.returncode == 0


def main():
    p, sink, good = setup("fbmsgid", {})
    plan(17)
    ok(good, "account relayapp")

    def deliver(to, msgid):
        n = len(sink.messages())
        code, text = p.send("news@a.test", [to], message(to, msgid))
        sink.wait_messages(n + 1, timeout=60)
        return code, queue_id(text)

    # ---- 1. matched by Message-ID ----
    code, qid = deliver("grace@dest.test", "<grace.1@a.test>")
    hdrs = strip_ours(p.queue_body(qid, text=True).split("\r\n\r\n", 1)[0])
    ok(code == 250 and "grace.1@a.test" in hdrs and "(postern)" not in hdrs
       and "b+" not in hdrs, "grace's message sent; quoted header has no token or queue id")
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers", hdrs))
    info = suppressed(p, "grace@dest.test")
    ok(code == 250 and info.get("reason") == "complaint" and info.get("source") == "abuse",
       "ARF with the original's header: matched by Message-ID, complaint (%s)" % info)

    code, qid = deliver("hank@dest.test", "<hank.1@a.test>")
    whole = strip_ours(p.queue_body(qid, text=True))
    code, text = fb_send(p, "fbl@fb.test", arf("message/rfc822", whole))
    ok(code == 250 and suppressed(p, "hank@dest.test").get("reason") == "complaint",
       "ARF with the whole original (message/rfc822): matched by Message-ID")

    code, qid = deliver("iris@dest.test", "<Iris.1@a.test>")
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers",
                                               "Message-ID:\r\n <Iris.1@A.TEST>\r\nSubject: x"))
    ok(suppressed(p, "iris@dest.test").get("reason") == "complaint",
       "folded Message-ID, domain in another case: matched")

    code, qid = deliver("jack@dest.test", None)
    own = re.search(r"(?m)^Message-ID: (<[^>]+>)", p.queue_body(qid, text=True))
    ok(own is not None, "postern added a Message-ID to jack's message")
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers",
                                               "Message-ID: %s" % (own.group(1) if own else "")))
    ok(suppressed(p, "jack@dest.test").get("reason") == "complaint",
       "the Message-ID postern added matches too")

    # ---- 2. nothing added ----
    before = added(p)
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers",
                                               "Message-ID: <nobody.1@a.test>"))
    is_(code, 250, "ARF with an unknown Message-ID: answered 250")
    code, qid = deliver("kate@dest.test", "<kate.1@a.test>")
    before = added(p)
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers",
                                               "Message-ID: <nobody.2@a.test>",
                                               own_msgid="<kate.1@a.test>"))
    ok(code == 250 and not suppressed(p, "kate@dest.test").get("suppressed"),
       "the report's own Message-ID is not the original's: kate not suppressed")
    code, qid = deliver("liam@dest.test", "<same.1@a.test>")
    code, qid = deliver("mona@dest.test", "<same.1@a.test>")
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers", "Message-ID: <same.1@a.test>"))
    ok(code == 250 and not suppressed(p, "liam@dest.test").get("suppressed")
       and not suppressed(p, "mona@dest.test").get("suppressed"),
       "one Message-ID, two recipients, no Original-Rcpt-To: ambiguous, nothing added")
    code, qid = deliver("pete@dest.test", "<pete.1@a.test>")
    for ft in ("not-spam", "auth-failure", "made-up"):
        code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers", "Message-ID: <pete.1@a.test>")
                             .replace(b"Feedback-Type: abuse", b"Feedback-Type: " + ft.encode()))
    ok(code == 250 and not suppressed(p, "pete@dest.test").get("suppressed"),
       "Feedback-Type not-spam, auth-failure (RFC 6591), unknown: not a complaint")
    is_(added(p), before, "... unknown, report's own, ambiguous, not-spam added nothing")
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers", "Message-ID: <same.1@a.test>",
                                               "Original-Rcpt-To: <mona@dest.test>\r\n"))
    ok(suppressed(p, "mona@dest.test").get("reason") == "complaint"
       and not suppressed(p, "liam@dest.test").get("suppressed"),
       "... with Original-Rcpt-To: mona suppressed, liam not")

    # ---- 3. no plaintext Message-ID at rest ----
    p.stop()
    raw = open(os.path.join(p.data_dir, "data.mdb"), "rb").read()
    ok(b"grace.1@a.test" not in raw and b"same.1@a.test" not in raw
       and b"grace@dest.test" not in raw, "data.mdb holds no Message-ID and no address in plaintext")

    # ---- 4. the envelope is gone: the recipient's keyed hash still suppresses ----
    p2, sink2, good = setup("fbgone", {"body_retention": "0s", "list_unsubscribe": "mailto"})
    sink = sink2
    p = p2
    code, qid = deliver("nora@dest.test", "<nora.1@a.test>")
    code, qid2 = deliver("otto@dest.test", "<otto.1@a.test>")
    # body_retention 0 shreds the body once delivered (issue 17): the token
    # is read from the copy the sink received
    otto_copy = b"".join(m.data for m in sink.messages() if b"otto@dest.test" in m.data)
    otto_tok = re.search(r"mailto:u\+([0-9a-z]{39})@", otto_copy.decode("utf-8", "replace"))
    r = p.posternctl("queue", "purge")
    shown = p.posternctl("queue", "show", qid, "--json")
    ok(good and r.returncode == 0 and otto_tok and "nora@dest.test" not in shown.stdout,
       "body_retention = 0s: purged, nora's envelope is gone")
    code, text = fb_send(p, "fbl@fb.test", arf("text/rfc822-headers", "Message-ID: <nora.1@a.test>"))
    info = suppressed(p, "nora@dest.test")
    ok(code == 250 and info.get("reason") == "complaint",
       "complaint by Message-ID after the envelope is gone: suppressed (%s)" % info)
    code, text = fb_send(p, "u+%s@fb.test" % (otto_tok.group(1) if otto_tok else "x" * 39),
                         b"Subject: remove\r\n\r\nremove\r\n")
    info = suppressed(p, "otto@dest.test")
    ok(code == 250 and info.get("reason") == "unsubscribe",
       "unsubscribe by token after the envelope is gone: suppressed (%s)" % info)
    p.stop()
    done()


run(main)
