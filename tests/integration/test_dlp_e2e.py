#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dlp_e2e: the sensitive-data actions through the real posternd
(issue 7).  Four accounts submit (AUTH over STARTTLS) the same message
with a card number in a quoted-printable text part, an HTML part and
the Subject, each account with its own dlp_action_card override:

  reject  refused at DATA with 550 5.7.1 naming the type, no digits in
          the reply, and nothing of it in the queue or the log;
  hold    accepted, queued in state held, verdicts name the type;
  redact  accepted, the stored body has only the last four digits in
          every part and the Subject, MIME structure intact;
  tag     accepted, X-Postern-DLP: card=... header, body untouched.

A message without sensitive data from the reject account is accepted,
and a forged X-Postern-DLP header is removed.  This test checks what
is stored in the queue; delivery to a real sink, hold/release and DKIM
of the redacted message are in test_dlp_delivery.py.
"""

import email
import json
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

CARD = "4556737586899855"
CARD_QP = "4556 7375 86=\r\n89 9855"       # soft break inside the number

MESSAGE = (
    "From: <app@acme.test>\r\n"
    "To: <user@example.test>\r\n"
    "Subject: Your card 4556 7375 8689 9855\r\n"
    "Message-ID: <dlp-e2e-%(n)s@acme.test>\r\n"
    "X-Postern-DLP: forged\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Your card " + CARD_QP + " was charged.\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Your card 4556 <b>7375</b> 8689&nbsp;9855 was charged.</p>\r\n"
    "--b1--\r\n")

ACTIONS = ("reject", "hold", "redact", "tag")


def add_account(p, name, action):
    r = p.posternctl("account", "add", name, "--domain", "acme.test", "--password-stdin",
                     input="pw-%s-secret\n" % name)
    if r.returncode != 0:
        return r
    return p.posternctl("account", "set", name, "--set", "dlp_action_card=%s" % action)


def main():
    p = Postern(name="dlp").start()
    # Until the composition root wires the SMTP listener and the account
    # commands into posternd/posternctl, there is nothing to drive.
    r = p.posternctl("account", "list", "--json")
    try:
        p.smtp("submission").close()
        listening = True
    except OSError:
        listening = False
    if r.returncode != 0 or not listening:
        skip_all("posternd has no SMTP listener or posternctl no account command yet")
    plan(25)
    for a in ACTIONS:
        r = add_account(p, "acct-" + a, a)
        is_(r.returncode, 0, "account acct-%s with dlp_action_card=%s" % (a, a))

    replies = {}
    for a in ACTIONS:
        replies[a] = p.send("app@acme.test", ["user@example.test"],
                            (MESSAGE % {"n": a}).encode(), listener="submission",
                            auth=("acct-" + a, "pw-acct-%s-secret" % a))

    # reject
    code, text = replies["reject"]
    is_(code, 550, "reject: 550 at DATA")
    like(text, r"^5\.7\.1 .*card=\d", "reject: 5.7.1 naming the type")
    ok(not re.search(r"\d{4}", text.replace("5.7.1", "")), "reject: no digits of the value")
    msgs = p.queue_list()
    ok(not any(m.get("account") == "acct-reject" for m in msgs),
       "reject: nothing from the account in the queue")
    log = p.log()
    ok(CARD not in log and "8689" not in without_ids(log), "no card digits in the log")
    code, text = p.send("app@acme.test", ["user@example.test"],
                        make_message(mail_from="app@acme.test", subject="hello",
                                     body="nothing sensitive 1234\r\n"),
                        listener="submission", auth=("acct-reject", "pw-acct-reject-secret"))
    is_(code, 250, "reject account: clean message accepted")

    # hold
    code, text = replies["hold"]
    is_(code, 250, "hold: accepted")
    m = p.queue_show(queue_id(text))
    is_(m.get("state"), "held", "hold: queued in state held")
    v = json.dumps(m.get("verdicts"))
    ok('"type": "card"' in v and '"action": "hold"' in v, "hold: verdicts name type and action")
    ok(CARD[:6] not in v and "8689" not in v, "hold: verdicts carry no value")

    # redact
    code, text = replies["redact"]
    is_(code, 250, "redact: accepted")
    m = p.queue_show(queue_id(text), body=True)
    body = m.get("body") or ""
    rest = without_ids(body)
    ok(body and CARD not in body and "8689" not in rest and "4556" not in rest and "7375" not in rest,
       "redact: no digit but the last four left")
    like(body, r"Subject: Your card \*\*\*\* \*\*\*\* \*\*\*\* 9855\r\n", "redact: Subject")
    msg = email.message_from_string(body, policy=email.policy.compat32)
    parts = [x for x in msg.walk() if not x.is_multipart()]
    is_(len(parts), 2, "redact: still two parts")
    texts = [x.get_payload(decode=True).decode() for x in parts]
    ok(len(texts) == 2 and "Your card **** **** **** 9855 was charged." in texts[0],
       "redact: QP part (number across a soft break) masked")
    ok(len(texts) == 2 and "**** <b>****</b> ****&nbsp;9855" in texts[1], "redact: HTML part masked")
    ok("X-Postern-DLP" not in body, "redact: forged header removed, no tag")

    # tag
    code, text = replies["tag"]
    is_(code, 250, "tag: accepted")
    m = p.queue_show(queue_id(text), body=True)
    body = m.get("body") or ""
    like(body, r"(?m)^X-Postern-DLP: card=3\r$", "tag: header with type and count")
    ok(body.count("X-Postern-DLP") == 1 and "forged" not in body,
       "tag: the forged header is gone")
    ok(CARD_QP in body, "tag: body untouched")
    done()


run(main)
