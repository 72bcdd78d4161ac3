#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dlp_bypass: the scan bypasses of issue 18, through the real
posternd's end-of-message stage (not only `posternctl scan`).

An account whose dlp_action_card is reject submits, over AUTH, the
issue's reproducers, each carrying `Card 4556 7375 8689 9855` where the
old parser never looked:

  1  multipart/mixed with a boundary of 71 characters, base64 text part;
  2  900 X-Pad-N header fields (over 64 KiB) before Content-Type and a
     base64 body;
  3  message/rfc822 with Content-Transfer-Encoding: base64 whose inner
     text part is base64 too;
  4  the number written with full-width digits, U+00A0 separators, NULs
     (in a base64 part) and glued to "PAN/";
  5  the number split by a CSS-hidden digit (<span style="display:none">);
  6  the number in an attachment's file name ("card 4556 ... 9855.pdf").

Each must be refused with 550 5.7.1 naming the card.  A second account
(redact) sends #3: the message is accepted and, once both encodings are
undone, the stored inner text shows the last four only.
"""

import base64
import email
import email.policy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

HDR = ("From: a@example.com\r\nTo: b@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n")
CARD_TEXT = b"Card 4556 7375 8689 9855\r\n"


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def long_boundary():
    b = "x" * 71
    return (HDR + "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
            "\r\n%s\r\n--%s--\r\n" % (b, b, b64(CARD_TEXT), b))


def padded_header():
    pad = "".join("X-Pad-%d: %s\r\n" % (i, "p" * 70) for i in range(900))
    return (HDR + pad + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n" % b64(CARD_TEXT))


def encoded_rfc822():
    inner = ("From: c@example.com\r\nSubject: inner\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
             "\r\n%s\r\n" % b64(CARD_TEXT))
    return (HDR + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n--b\r\n"
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            "%s\r\n--b--\r\n" % b64(inner.encode()))


def folded_formats():
    text = ("Card \uff14\uff15\uff15\uff16\uff17\uff13\uff17\uff15"
            "\uff18\uff16\uff18\uff19\uff19\uff18\uff15\uff15\n"
            "Card 4556\u00a07375\u00a08689\u00a09855\n"
            "PAN/4556737586899855\n").encode() + b"Card 4556\x007375\x008689\x009855\n"
    return (HDR + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n" % b64(text))


def css_hidden():
    # r1618: a CSS-hidden digit splits the number the recipient reads
    return (HDR + "Content-Type: text/html; charset=utf-8\r\n\r\n"
            "<p>Card 4556<span style=\"display:none\">1</span> 7375 8689 9855</p>\r\n")


def attachment_name():
    # r1618: the number in an attachment's file name, extension glued on
    return (HDR + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n--b\r\n"
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
            "filename=\"card 4556 7375 8689 9855.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n")


CASES = [("boundary of 71 characters", long_boundary), ("64 KiB of header padding",
         padded_header), ("base64 message/rfc822", encoded_rfc822),
         ("full-width, U+00A0, NUL, PAN/", folded_formats),
         ("CSS-hidden digit inside the number", css_hidden),
         ("number in an attachment's name", attachment_name)]


def add_account(p, name, action):
    r = p.posternctl("account", "add", name, "--domain", "example.com", "--password-stdin",
                     input="pw-%s-secret\n" % name)
    if r.returncode != 0:
        return r
    return p.posternctl("account", "set", name, "--set", "dlp_action_card=%s" % action)


def main():
    p = Postern(name="dlpbypass").start()
    plan(3 + 2 * len(CASES) + 3)
    is_(add_account(p, "acct-reject", "reject").returncode, 0, "account with reject")
    is_(add_account(p, "acct-redact", "redact").returncode, 0, "account with redact")
    is_(add_account(p, "acct-tag", "tag").returncode, 0, "account with tag")
    for name, make in CASES:
        code, text = p.send("a@example.com", ["b@example.org"], make().encode(),
                            listener="submission", auth=("acct-reject", "pw-acct-reject-secret"))
        is_(code, 550, "reject: %s: 550 at DATA" % name)
        like(text, r"^5\.7\.1 .*card=\d", "reject: %s: 5.7.1 naming the card" % name)

    code, text = p.send("a@example.com", ["b@example.org"], encoded_rfc822().encode(),
                        listener="submission", auth=("acct-redact", "pw-acct-redact-secret"))
    is_(code, 250, "redact: base64 message/rfc822 accepted")
    r = p.posternctl("queue", "show", queue_id(text), "--json", "--body")
    body = json.loads(r.stdout).get("body", "") if r.returncode == 0 else ""
    inner_text = ""
    mark = "Content-Transfer-Encoding: base64\r\n\r\n"
    at = body.rfind(mark)
    end = body.find("\r\n--b--", at)
    if at >= 0 and end > at:
        inner = email.message_from_bytes(base64.b64decode(body[at + len(mark):end]),
                                         policy=email.policy.compat32)
        for q in inner.walk():
            if q.get_content_type() == "text/plain":
                inner_text = q.get_payload(decode=True).decode()
    ok("**** **** **** 9855" in inner_text and "4556" not in inner_text,
       "redact: inner text masked to the last four (%r)" % inner_text.strip())
    code, text = p.send("a@example.com", ["b@example.org"], padded_header().encode(),
                        listener="submission", auth=("acct-tag", "pw-acct-tag-secret"))
    r = p.posternctl("queue", "show", queue_id(text), "--json", "--body")
    body = json.loads(r.stdout).get("body", "") if r.returncode == 0 else ""
    like(body, r"(?m)^X-Postern-DLP: card=1\r$", "tag: padded header message tagged card=1")
    done()


run(main)
