#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_review_masking: what a reviewer's `review show` must never show,
through the real posternd, for the places an attacker or an ordinary
mailer puts data beside the body (issue 16, found by the r1618 check).

A real non-root user in a real reviewer group (groupadd/useradd here,
removed at the end; runuser, so the role comes from SO_PEERCRED) shows a
held message whose card number, SSN, IBAN and addresses sit in:
RFC 2047 display names (Q and B encoded) of From, Reply-To and Cc, the
Subject (B encoded), an attachment's name ("card 4556 7375 8689
9855.pdf"), a part's media type ("application/p4556737586899855",
found by the review_view fuzzer), a List-Unsubscribe URL, an HTML part
with the number split by a CSS-hidden element and in a link.  Neither --json nor the text
output may contain any of them (bytes), and the text output carries no
terminal control characters from the message (ESC, NUL, CR, C1 CSI).
The same reviewer's hand-written control request with "unmasked" set is
refused and audited.
"""

import base64
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from harness import TIME_SCALE  # noqa: E402

CARD = b"4556737586899855"
FORBIDDEN = [CARD, b"4556 7375 8689 9855", b"8689", b"7375", b"536-22-1234", b"536221234",
             b"DE89 3704 0044 0532 0130 00", b"0532 0130", b"eve.hidden", b"alice.smith",
             b"bob.jones", b"carol.x", b"dave.y", b"billing@", b"unsub.z"]


def b_word(text):
    return "=?utf-8?B?%s?=" % base64.b64encode(text.encode()).decode()


def message():
    return ("From: =?utf-8?Q?alice.smith=40example.test?= <billing@acme.test>\r\n"
            "To: \"Bob\" <bob.jones@example.test>\r\n"
            "Reply-To: =?utf-8?Q?eve.hidden=40example.test?= <eve.hidden@example.test>\r\n"
            "Cc: %s <carol.x@example.test>, \"Dave\" <dave.y@example.test>\r\n"
            "Subject: %s\r\n"
            "List-Unsubscribe: <mailto:unsub.z@example.test?subject=4556737586899855>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
            "--b\r\nContent-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename=\"card 4556 7375 8689 9855.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
            "--b\r\nContent-Type: application/p4556737586899855; name=\"a.bin\"\r\n\r\n"
            "AAAA\r\n--b--\r\n" %
            (b_word("Card 4556 7375 8689 9855"), b_word("SSN 536-22-1234 \x1b[31m"),
             base64.encodebytes(HTML).decode().replace("\n", "\r\n"))).encode()


# Base64, so the control characters (which SMTP DATA refuses raw) get in.
HTML = ("<p>Card 4556<span style=\"display:none\">0</span> 7375 8689 9855, "
        "<a href=\"https://pay.test/?ssn=536-22-1234\">pay</a> "
        "IBAN DE89 3704 0044 0532 0130 00 \x1b]0;owned\x07\x1b[2J\r\x00tail "
        "\u009b31m</p>\r\n").encode()




def leaks(data):
    return [f.decode() for f in FORBIDDEN if f in data]


def main():
    if os.geteuid() != 0:
        skip_all("needs root: the reviewer is a real user made with useradd")
    for tool in ("runuser", "useradd", "groupadd"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            skip_all("%s not installed" % tool)
    rev = Reviewer("ptrm")
    try:
        run_tests(rev)
    finally:
        rev.close()


def run_tests(rev):
    p = Postern(name="reviewmask", conf={"reviewer_group": rev.group}).start()
    os.chmod(p.dir, 0o755)
    plan(10)
    r = p.posternctl("account", "add", "shop", "--domain", "acme.test", "--password-stdin",
                     input="pw-shop-secret\n")
    for t in ("card", "ssn", "iban"):
        if r.returncode == 0:
            r = p.posternctl("account", "set", "shop", "--set", "dlp_action_%s=hold" % t)
    code, text = p.send("billing@acme.test", ["bob.jones@example.test"], message(),
                        listener="submission", auth=("shop", "pw-shop-secret"))
    qid = queue_id(text)
    ok(r.returncode == 0 and code == 250 and qid, "the message is accepted (%d %s)" % (code, text))

    def held():
        r = p.posternctl("queue", "show", qid, "--json")
        return r.returncode == 0 and json.loads(r.stdout)["state"] == "held"
    wait_for(held, what="held")

    j = rev.ctl(p, "review", "show", qid, "--reason", "masking check", "--json", text=False)
    ok(j.returncode == 0 and b"\\u2022" not in j.stdout and "\u2022".encode() in j.stdout,
       "the reviewer's review show --json works: %s" % j.stderr.decode(errors="replace"))
    is_(leaks(j.stdout), [], "--json: no card, SSN, IBAN or address in any field")
    v = json.loads(j.stdout) if j.returncode == 0 else {}
    hdr = {h["name"]: h["value"] for h in v.get("view", {}).get("headers", [])}
    like(hdr.get("Reply-To", ""), "^e\u2022\u2022\u2022@example.test <e\u2022\u2022\u2022@example.test>$",
         "an RFC 2047 display name is decoded, then masked")
    att = v.get("view", {}).get("attachments", [{}])[0].get("name", "")
    ok("9855.pdf" in att and "8689" not in att, "the attachment's name is masked: %s" % att)
    typ = [a.get("type", "") for a in v.get("view", {}).get("attachments", [])
           if a.get("type", "").startswith("application/p") and
           a.get("type") != "application/pdf"]
    ok(len(typ) == 1 and typ[0].endswith("9855") and "8689" not in typ[0],
       "a part whose media type holds a card number is listed, its type masked: %s" % typ)
    t = rev.ctl(p, "review", "show", qid, "--reason", "masking check", text=False)
    is_(leaks(t.stdout), [], "text output: no card, SSN, IBAN or address")
    bad = [c for c in (b"\x1b", b"\x00", b"\r", b"\x07", b"\xc2\x9b") if c in t.stdout]
    ok(t.returncode == 0 and not bad and b"\\x1b]0;owned" in t.stdout and b"tail" in t.stdout,
       "text output: the message's control characters are shown escaped, nothing cut "
       "at the NUL (%r)" % bad)
    out = rev.request(p, {"cmd": "review.show", "args": {"id": qid, "unmasked": True,
                                                          "reason": "just looking"}})
    res = json.loads(out.stdout or b"{}")
    ok(res.get("ok") is False and "permission denied" in res.get("error", "") and
       not leaks(out.stdout), "a hand-written unmasked request from the reviewer is refused")
    a = p.posternctl_json("audit", "list")["audit"]
    ok(any(x["cmd"] == "review.show" and x["user"] == rev.user and x.get("status") == 1 and
           x.get("reason") == "just looking" for x in a), "... and audited with its reason")
    p.stop()


run(main)
