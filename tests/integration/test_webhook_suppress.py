#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_webhook_suppress.py: the webhooks of suppressions (issue 19),
against a local Python HTTP receiver on 127.0.0.1 (test_webhooks.py's).

- a hard bounce (550 5.1.1 at the sink): "bounced", then "suppressed"
  for the same queue id and Message-ID, reason hard_bounce, source
  5.1.1, the recipient's pseudonym; the signature verifies;
- an ARF report to the feedback listener naming the original's
  Message-ID: "complained" (reason complaint, source abuse);
- a one-click unsubscribe (curl POST List-Unsubscribe=One-Click to the
  URL of the delivered message's List-Unsubscribe): "unsubscribed";
  with webhook_plain_recipients=yes the recipient is the address;
- `posternctl suppress add` for the account: "suppressed", reason
  manual, no queue id;
- kill -9 after the complaint's suppression is committed and while the
  receiver refuses every POST: after the restart "complained" arrives
  (the outbox record was written with the suppression);
- an account without webhook_url: its suppressions POST nothing.
"""

import json
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from harness import TIME_SCALE  # noqa: E402
from harness.webhook import Receiver, SECRET, verify  # noqa: E402


def message(to, mid):
    return ("From: <app@example.test>\r\nTo: <%s>\r\nSubject: hook\r\n"
            "Message-ID: <%s>\r\n\r\nhi\r\n" % (to, mid)).encode()


def arf(mid, rcpt):
    return ("From: fbl@provider.test\r\nTo: <fbl@fb.test>\r\nSubject: complaint\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=\"AA\"\r\n\r\n"
            "--AA\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
            "--AA\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n"
            "Original-Rcpt-To: <%s>\r\n\r\n"
            "--AA\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            "From: <app@example.test>\r\nTo: <%s>\r\nMessage-ID: <%s>\r\n\r\n--AA--\r\n"
            % (rcpt, rcpt, mid)).encode()


def fb_send(p, rcpt, data):
    s = smtplib.SMTP("127.0.0.1", p.fb_port, local_hostname="mx.provider.test", timeout=30)
    try:
        s.ehlo()
        s.mail("")
        code, _ = s.rcpt(rcpt)
        if code != 250:
            return code
        code, _ = s.data(data)
        return code
    finally:
        try:
            s.quit()
        except Exception:
            pass


def suppressed(p, addr, account="hooks"):
    r = p.posternctl("suppress", "check", addr, "--account", account, "--json")
    return json.loads(r.stdout) if r.stdout.strip() else {}


def curl_post(url):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "-d", "List-Unsubscribe=One-Click", url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return int(r.stdout or 0)


def main():
    plan(22)
    rx = Receiver()
    sink = Sink(name="mx").start()
    sink.on_rcpt("bad@bounce.test", "550 5.1.1 <bad@bounce.test>: no such user")
    http_port, fb_port = free_port(), free_port()
    p = Postern(name="whsup", tls=False, conf={
        "smtpd_relay_account": "hooks",
        "transport": "dest.test=[127.0.0.1]:%d, bounce.test=[127.0.0.1]:%d" % (sink.port, sink.port),
        "retry_schedule": "1s",
        "list_unsubscribe": "one-click",
        "list_unsubscribe_url": "https://unsub.test/u/",
        "feedback_domain": "fb.test",
        "http_listen": "127.0.0.1:%d" % http_port,
        "feedback_listen": "127.0.0.1:%d" % fb_port,
    })
    p.fb_port = fb_port
    secret = p.write_file("hook.secret", SECRET + b"\n", 0o600)
    p.start()
    r1 = p.posternctl("account", "add", "hooks", "--domain", "example.test")
    r2 = p.posternctl("account", "set", "hooks", "--set",
                      "webhook_url=http://127.0.0.1:%d/hook" % rx.port,
                      "--set", "webhook_secret_file=%s" % secret)
    r3 = p.posternctl("account", "add", "quiet", "--domain", "quiet.test")
    ok(r1.returncode == 0 and r2.returncode == 0 and r3.returncode == 0,
       "account hooks with a webhook, account quiet without")

    def events(qid=None):
        return [e for e in rx.ok_events(qid)]

    def send(rcpt, mid):
        code, text = p.send("app@example.test", [rcpt], message(rcpt, mid))
        return code, queue_id(text)

    # ---- hard bounce: bounced, then suppressed ----
    code, qid = send("bad@bounce.test", "b1@example.test")
    ok(code == 250 and rx.wait(lambda: "suppressed" in [e["event"] for e in events(qid)]),
       "hard bounce: suppressed POSTed")
    evs = [e["event"] for e in events(qid)]
    ok(evs.index("bounced") < evs.index("suppressed"), "bounced before suppressed (%s)" % evs)
    s = [e for e in events(qid) if e["event"] == "suppressed"][0]
    ok(s["queue_id"] == qid and s["message_id"] == "<b1@example.test>" and s["account"] == "hooks",
       "suppressed: the message's queue id, Message-ID, account")
    ok(s["reason"] == "hard_bounce" and s["source"] == "5.1.1", "reason hard_bounce, source 5.1.1")
    ok(re.match(r"^h:[0-9a-f]{16}$", s["recipient"] or ""), "recipient pseudonymised (%s)" % s["recipient"])
    ok(isinstance(s["time"], int) and abs(s["time"] / 1000 - time.time()) < 120, "event time (ms)")
    with rx.lock:
        post = [x for x in rx.posts if x["status"] == 200 and
                json.loads(x["body"])["event"] == "suppressed"][0]
    ok(verify(post)[0] and not verify(post, b"wrong")[0], "signature verifies (and not with a wrong secret)")

    # ---- FBL complaint: complained ----
    n0 = len(sink.messages())
    code, qid2 = send("carol@dest.test", "c1@example.test")
    sink.wait_messages(n0 + 1, timeout=30)
    is_(fb_send(p, "fbl@fb.test", arf("c1@example.test", "carol@dest.test")), 250,
        "ARF report to the feedback listener: 250")
    ok(rx.wait(lambda: "complained" in [e["event"] for e in events(qid2)]), "complained POSTed")
    c = [e for e in events(qid2) if e["event"] == "complained"][0]
    ok(c["message_id"] == "<c1@example.test>" and c["reason"] == "complaint" and c["source"] == "abuse",
       "complained: Message-ID, reason complaint, source abuse")

    # ---- one-click unsubscribe: unsubscribed, plain recipient on opt-in ----
    p.posternctl("account", "set", "hooks", "--set", "webhook_plain_recipients=yes")
    n0 = len(sink.messages())
    code, qid3 = send("dave@dest.test", "d1@example.test")
    msgs = sink.wait_messages(n0 + 1, timeout=30)
    got = [x for x in msgs if "dave@dest.test" in x.rcpt_tos]
    m = re.search(rb"List-Unsubscribe: <https://unsub\.test/u/([0-9a-z]+)>",
                  got[-1].data if got else b"")
    ok(m is not None, "the delivered message has a one-click List-Unsubscribe URL")
    # the URL's host is the operator's proxy; the endpoint behind it is ours
    is_(curl_post("http://127.0.0.1:%d/u/%s" % (http_port, m.group(1).decode() if m else "x")), 200,
        "curl POST List-Unsubscribe=One-Click to the endpoint: 200")
    ok(rx.wait(lambda: "unsubscribed" in [e["event"] for e in events(qid3)]), "unsubscribed POSTed")
    u = [e for e in events(qid3) if e["event"] == "unsubscribed"][0]
    ok(u["reason"] == "unsubscribe" and u["source"] == "one-click" and
       u["message_id"] == "<d1@example.test>", "unsubscribed: reason unsubscribe, source one-click")
    is_(u["recipient"], "dave@dest.test", "webhook_plain_recipients=yes: the address")

    # ---- manual suppress add ----
    r = p.posternctl("suppress", "add", "erin@dest.test", "--account", "hooks")
    ok(r.returncode == 0 and rx.wait(lambda: any(e["event"] == "suppressed" and e["reason"] == "manual"
                                                 for e in events())),
       "posternctl suppress add: suppressed POSTed (%s)" % r.stderr.strip())
    mn = [e for e in events() if e["event"] == "suppressed" and e["reason"] == "manual"][0]
    ok(mn["queue_id"] is None and mn["account"] == "hooks" and
       re.match(r"^h:[0-9a-f]{16}$", mn["recipient"] or ""),
       "manual: no queue id, the account, the pseudonym (%s)" % mn)

    # ---- kill -9 between the suppression and the POST ----
    p.posternctl("account", "set", "hooks", "--set", "webhook_plain_recipients=no")
    n0 = len(sink.messages())
    code, qid4 = send("frank@dest.test", "f1@example.test")
    sink.wait_messages(n0 + 1, timeout=30)
    ok(rx.wait(lambda: "delivered" in [e["event"] for e in events(qid4)]), "frank's message delivered")
    rx.always_fail = True
    fb_send(p, "fbl@fb.test", arf("f1@example.test", "frank@dest.test"))
    ok(suppressed(p, "frank@dest.test").get("reason") == "complaint" and
       p.wait_log(r"qid=%s event=webhook_retry webhook_event=complained" % qid4, timeout=30),
       "complaint committed, its POST refused")
    p.kill9()
    rx.always_fail = False
    p.start()
    ok(rx.wait(lambda: "complained" in [e["event"] for e in events(qid4)]),
       "after kill -9 and restart the complained event arrives")

    # ---- no webhook: nothing ----
    with rx.lock:
        n = len(rx.posts)
    r = p.posternctl("suppress", "add", "gina@quiet.test", "--account", "quiet")
    time.sleep(1.5 * TIME_SCALE)
    ok(r.returncode == 0 and len(rx.posts) == n, "an account without webhook_url: no POST")
    p.close()
    sink.close()
    rx.close()


run(main)
