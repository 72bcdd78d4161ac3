#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_account_policy: the typed account policy and the MAIL/RCPT
stages through the real posternd.

`posternctl account set --set KEY=VALUE` refuses unknown keys and bad
values (exit 1, a message naming the key), and so does the daemon's
account.set handler for a raw control request; valid settings are
stored and shown.  The relay listener's account (smtpd_relay_account)
limits answer through the stages with the codes they always had: SIZE=
above the account's limit 552 5.3.4 at MAIL, a message over it without
SIZE= 552 5.3.4 during DATA (the session's limit, set by the MAIL
stage), the third recipient of a two-recipient account 452 4.5.3.
event=queued and event=auth are each logged once per message / AUTH.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from queuelib import control  # noqa: E402


def main():
    plan(23)
    p = Postern(name="acctpol", conf={"smtpd_relay_account": "relay1",
                                      "smtpd_auth_failure_delay": "10ms"}).start()

    # ---- account set: validation in posternctl ----
    r = p.posternctl("account", "add", "relay1", "--max-message-size", "2000",
                     "--max-recipients", "2")
    is_(r.returncode, 0, "account add with limits")
    r = p.posternctl("account", "set", "relay1", "--set", "foo=bar")
    is_(r.returncode, 1, "--set foo=bar: exit 1")
    like(r.stderr, r"unknown setting 'foo'", "... the message names the unknown key")
    r = p.posternctl("account", "set", "relay1", "--set", "dlp_action_card=bogus")
    is_(r.returncode, 1, "--set dlp_action_card=bogus: exit 1")
    like(r.stderr, r"dlp_action_card: 'bogus' is not valid; expected ignore, tag, redact, hold or reject",
         "... the message says what is expected")
    r = p.posternctl("account", "set", "relay1", "--set", "body_retention=soon")
    is_(r.returncode, 1, "--set body_retention=soon: exit 1")
    r = p.posternctl("account", "set", "relay1", "--set", "status=suspended")
    is_(r.returncode, 1, "--set of a fixed field: exit 1")
    r = p.posternctl("account", "set", "relay1", "--set", "dlp_action_card=hold",
                     "--set", "body_retention=7d", "--set", "spf_action=ignore")
    is_(r.returncode, 0, "valid settings are accepted")
    a = p.posternctl_json("account", "show", "relay1")
    is_(a.get("overrides"), {"dlp_action_card": "hold", "body_retention": "7d",
                             "spf_action": "ignore"}, "... stored and shown")

    # ---- the same check in the daemon: a raw control request ----
    r = control(p, "account.set", {"name": "relay1", "overrides": {"foo": "bar"}})
    ok(not r.get("ok") and "unknown setting" in r.get("error", ""),
       "raw account.set with an unknown key is refused (%s)" % r.get("error"))
    r = control(p, "account.set", {"name": "relay1", "overrides": {"spf_action": "sometimes"}})
    ok(not r.get("ok") and "spf_action" in r.get("error", ""),
       "raw account.set with a bad value is refused (%s)" % r.get("error"))
    a = p.posternctl_json("account", "show", "relay1")
    is_(a.get("overrides", {}).get("spf_action"), "ignore", "... and the record is unchanged")

    # ---- MAIL/RCPT stages on the relay listener (smtpd_relay_account) ----
    s = p.smtp("relay")
    s.ehlo()
    code, text = s.mail("a@example.test", ["SIZE=5000"])
    ok(code == 552 and text.decode().startswith("5.3.4"),
       "SIZE= above the account limit: 552 5.3.4 (%d %s)" % (code, text.decode()))
    code, _ = s.mail("a@example.test")
    is_(code, 250, "MAIL without SIZE=")
    s.rcpt("r1@example.test")
    s.rcpt("r2@example.test")
    code, text = s.rcpt("r3@example.test")
    ok(code == 452 and text.decode().startswith("4.5.3"),
       "third recipient of a max_recipients=2 account: 452 4.5.3 (%d)" % code)
    code, text = s.data(make_message(subject="big", body=("x" * 70 + "\r\n") * 50))
    ok(code == 552 and text.decode().startswith("5.3.4"),
       "message over the account limit without SIZE=: 552 5.3.4 during DATA (%d %s)"
       % (code, text.decode()))
    s.quit()
    code, text = p.send("a@example.test", ["r1@example.test"], make_message(subject="small"))
    qid = queue_id(text)
    ok(code == 250 and qid, "a message within the limits is queued")
    p.wait_log(r"event=queued qid=%s" % re.escape(qid or "-"))
    is_(len(re.findall(r"event=queued\b.*\b%s\b|qid=%s\b.*event=queued" % (qid, qid), p.log())), 1,
        "event=queued is logged once for it")
    like(p.log(), r"event=queued qid=%s account=relay1 from=\S+ nrcpt=1 size=\d+" % qid,
         "... with session, account, sender, recipients and size")

    # ---- event=auth once per AUTH ----
    r = p.posternctl("account", "add", "app1", "--domain", "example.test", "--password-stdin",
                     input="pw-for-app1\n")
    code, text = p.send("u@example.test", ["r@example.test"], make_message(subject="auth"),
                        listener="submission", auth=("app1", "pw-for-app1"))
    is_(code, 250, "AUTH + submission accepted")
    oks = re.findall(r"sid=(\S+) event=auth result=ok", p.log())
    ok(len(oks) == 1 and len(re.findall(r"sid=%s event=auth" % oks[0], p.log())) == 1,
       "event=auth logged once for the successful AUTH")
    like(p.log(), r"event=auth result=ok account=app1 client=127\.0\.0\.1",
         "... with the account and the client")
    is_(p.stop(), 0, "posternd exits cleanly (under ASan: no leak, no error)")


run(main)
