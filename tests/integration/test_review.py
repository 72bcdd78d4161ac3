#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_review: the abuse review workflow through the real posternd
(issue 16, "Tests that must exist").  Mail is submitted with AUTH over
STARTTLS and delivered to a real SMTP sink; the From: domain has an RSA
DKIM key served by a Dns fixture; the reviewer is a real non-root user
in a real group (created here with groupadd/useradd, removed at the
end) running posternctl through runuser, so the role comes from
SO_PEERCRED exactly as in production.

  - a message held by DLP appears in `review list` (reason dlp, findings);
  - `review show` as the reviewer has no card number, SSN or plaintext
    address in its bytes; the operator's `--unmasked --reason` has them
    and is audited with the reason; the reviewer's --unmasked is refused;
  - the reviewer's `review show` needs --reason (refused with exit 2 and
    audited without it; audited with the reason with it);
  - the reviewer cannot run queue show --body, account delete, queue
    list or suppress check (refused, each refusal audited);
  - each review subcommand refuses options its usage does not name;
  - release -> delivered to the sink, DKIM verifies (dkimpy);
  - reject -> never at the sink, the body is unreadable (no body, no
    plaintext in the raw data.mdb), a customer event without reviewer;
  - reject --similar holds a near-duplicate queued by another account;
  - suspend -> 535 5.7.8 at AUTH and the account's queued mail held;
    resume -> delivered;
  - bounce-rate trigger: deliveries answered 5xx by the sink pause the
    account (451 4.7.1 at MAIL), an account_status event, shown by
    `review account` and `review list --accounts`;
  - expiry: a second daemon with review_hold_expiry = 2s rejects the
    undecided message, with an `expired` event and an audit record by
    system.
"""

import grp
import json
import os
import pwd
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from harness import TIME_SCALE  # noqa: E402
from queuelib import control, file_contains  # noqa: E402
import dkim  # noqa: E402

CARD = "4556737586899855"
CARD_SP = "4556 7375 8689 9855"
SSN = "536-22-1234"
DOMAIN = "acme.test"
RCPT = "alice.smith@example.test"
BULLET = "\u2022"

dns_srv = None



def json_strings(v, skip=()):
    """Every string value in a decoded JSON document, keys named in SKIP left out."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            if k not in skip:
                yield from json_strings(x, skip)
    elif isinstance(v, list):
        for x in v:
            yield from json_strings(x, skip)

def message(tag, body, to=RCPT):
    return ("From: Billing <billing@%s>\r\n"
            "To: Alice Smith <%s>\r\n"
            "Subject: receipt %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <review-%s@%s>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "%s\r\n" % (DOMAIN, to, tag, tag, DOMAIN, body)).encode()


SENSITIVE = ("Dear Alice (alice.smith@example.test), your card " + CARD_SP +
             " was charged; SSN " + SSN + " on file.\r\nThank you.")
CAMPAIGN = ("Dear customer, your parcel is waiting at the depot, click the link below "
            "to pay the customs fee today or it goes back to the sender. Card %s.")


def audit(p):
    return p.posternctl_json("audit", "list")["audit"]


def events(p):
    return p.posternctl_json("queue", "events")["events"]


def state(p, qid):
    r = p.posternctl("queue", "show", qid, "--json")
    return json.loads(r.stdout)["state"] if r.returncode == 0 else None


def add_account(p, name, *settings):
    r = p.posternctl("account", "add", name, "--domain", DOMAIN, "--password-stdin",
                     input="pw-%s-secret\n" % name)
    for s in settings:
        if r.returncode == 0:
            r = p.posternctl("account", "set", name, "--set", s)
    if r.returncode != 0:
        diag("account %s: %s" % (name, r.stderr))
    return r.returncode == 0


def send(p, acct, to, data):
    return p.send("billing@%s" % DOMAIN, [to], data, listener="submission",
                  auth=(acct, "pw-%s-secret" % acct))


def at_sink(sink, needle):
    return [m for m in sink.messages() if needle.encode() in m.data]


def main():
    global dns_srv
    if os.geteuid() != 0:
        skip_all("needs root: the reviewer is a real user made with useradd")
    for tool in ("runuser", "useradd", "groupadd"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            skip_all("%s not installed" % tool)
    rev = Reviewer("ptrev")
    try:
        run_tests(rev)
    finally:
        rev.close()


def run_tests(rev):
    global dns_srv
    dns_srv = Dns()
    sink = Sink(name="review-sink").start()
    sink.on_rcpt("bad@bounce.test", "550 5.1.1 no such user")
    closed = free_port()
    transport = ["later.test=[127.0.0.1]:%d" % closed, "*=[127.0.0.1]:%d" % sink.port]
    p = Postern(name="review", dns=dns_srv, conf={
        "transport": transport,
        "retry_schedule": "1s",
        "reviewer_group": rev.group,
        "review_trigger_window": 4,
        "review_trigger_min_messages": 4,
        "review_bounce_review": 300,
        "review_bounce_pause": 500,
        "dkim_signature_expiry": "2s",
    })
    p.start()
    os.chmod(p.dir, 0o755)
    gen = p.posternctl("dkim", "generate", DOMAIN, "--selector", "r1", "--algorithm", "rsa")
    recs = p.dkim_records(DOMAIN)
    dns_srv.txt_records(recs).start()
    plan(76)
    ok(gen.returncode == 0 and len(recs) == 1, "DKIM key generated and published")
    ok(all([add_account(p, "shop", "dlp_action_card=hold", "dlp_action_ssn=hold"),
            add_account(p, "camp-a", "dlp_action_card=hold"),
            add_account(p, "camp-b", "dlp_action_card=ignore"),
            add_account(p, "susp"),
            add_account(p, "bouncy")]), "five accounts")
    r = rev.ctl(p, "review", "list", "--json")
    ok(r.returncode == 0 and any(x["cmd"] == "review.list" and x["role"] == "reviewer" and
                                 x["user"] == rev.user for x in audit(p)),
       "the test user has the reviewer role (SO_PEERCRED, group %s): %s" % (rev.group, r.stderr))

    # ---- held by DLP, listed ---------------------------------------------
    code, text = send(p, "shop", RCPT, message("held1", SENSITIVE))
    id1 = queue_id(text)
    code2, text2 = send(p, "shop", RCPT, message("held2", SENSITIVE + " second"))
    id2 = queue_id(text2)
    ok(code == 250 and code2 == 250 and id1 and id2, "two messages with a card and an SSN accepted")
    wait_for(lambda: state(p, id1) == "held" and state(p, id2) == "held", what="held")
    r = rev.ctl(p, "review", "list", "--json")
    lst = json.loads(r.stdout) if r.returncode == 0 else []
    mine = [x for x in lst if x["id"] == id1]
    ok(r.returncode == 0 and len(mine) == 1 and mine[0]["reason"] == "dlp" and
       mine[0]["findings"].get("card") == 1 and mine[0]["findings"].get("ssn") == 1 and
       mine[0]["account"] == "shop", "review list (reviewer): reason dlp, card=1 ssn=1: %s" %
       (mine or r.stderr))
    ok(any(e["event"] == "held" and e.get("reason") == "dlp" for e in events(p)
           if e.get("id") == id1), "the customer's event: held, reason dlp")
    r = rev.ctl(p, "review", "list", "--reason", "spam", "--json")
    ok(r.returncode == 0 and not any(x["id"] == id1 for x in json.loads(r.stdout)),
       "--reason spam does not list it")
    r = rev.ctl(p, "review", "list")
    ok(r.returncode == 0 and id1 in r.stdout and "dlp" in r.stdout, "the table names it too")

    # ---- masked show ---------------------------------------------------------
    # A reviewer's show is an audited read of decrypted content (issue 13
    # item 5): without --reason it is refused (usage, exit 2) and the
    # refusal audited; with it, the record carries the reason.
    r = rev.ctl(p, "review", "show", id1, "--json")
    ok(r.returncode == 2 and "reason is required" in r.stderr and "9855" not in r.stdout and
       "receipt held1" not in r.stdout, "reviewer's show without --reason: refused, exit 2 (%s)"
       % r.stderr.strip())
    ok(any(x["cmd"] == "review.show" and x["role"] == "reviewer" and x["user"] == rev.user and
           x["target"] == id1 and x.get("status") == 2 and "reason" not in x for x in audit(p)),
       "... and the refusal is audited (who, which message, status 2)")
    r = rev.ctl(p, "review", "show", id1, "--reason", "ticket 7781", "--json")
    raw = r.stdout.encode()
    # The full number is looked for in every byte; its middle digits in the
    # view's text only: the id and the millisecond times are digits too, and
    # "8689" turns up in them by chance about once in a thousand runs.
    try:
        texts = "\n".join(json_strings(json.loads(r.stdout), skip=("id",)))
    except ValueError:
        texts = r.stdout
    ok(r.returncode == 0 and "8689" not in texts and CARD.encode() not in raw and
       CARD_SP.encode() not in raw, "reviewer's show: no card number (nor its middle digits)")
    ok(SSN.encode() not in raw and b"536-22" not in raw, "... no SSN")
    ok(b"alice.smith" not in raw and RCPT.encode() not in raw and b"billing@" not in raw,
       "... no plaintext address (sender, recipient, body)")
    v = json.loads(r.stdout) if r.returncode == 0 else {}
    body = "".join(x["text"] for x in v.get("view", {}).get("parts", []))
    ok(("%s 9855" % (BULLET * 4)) in body and "%s%s%s-%s%s-1234" % ((BULLET,) * 5) in body,
       "the values are shown masked with their last four")
    ok(v.get("recipients", [{}])[0].get("address", "").startswith("a" + BULLET * 3 + "@example.test"),
       "the recipient partly masked")
    ok(v.get("view", {}).get("subject") == "receipt held1" and
       v.get("findings", {}).get("card") == 1 and v.get("account_status") == "active" and
       "summary" in v, "Subject, DLP verdicts, account summary")
    r = rev.ctl(p, "review", "show", id1, "--unmasked", "--reason", "curious")
    ok(r.returncode == 1 and "permission denied" in r.stderr and CARD_SP not in r.stdout,
       "the reviewer's --unmasked is refused")
    r = p.posternctl("review", "show", id1, "--unmasked", "--json")
    ok(r.returncode == 2, "--unmasked without --reason: usage error")
    r = p.posternctl("review", "show", id1, "--unmasked", "--reason", "legal hold 42", "--json")
    ok(r.returncode == 0 and CARD_SP in r.stdout and RCPT in r.stdout,
       "the operator's --unmasked shows the content")
    held_text = json.loads(r.stdout)["message"] if r.returncode == 0 else ""
    m = re.search(r"\bx=(\d+)", held_text)
    held_x = int(m.group(1)) if m else 0
    a = audit(p)
    ok(any(x["cmd"] == "review.show" and x["role"] == "operator" and
           x.get("reason") == "legal hold 42" and x["target"] == id1 and x.get("status") == 0
           for x in a), "... audited: who, which message, the reason")
    ok(any(x["cmd"] == "review.show" and x["role"] == "reviewer" and x["user"] == rev.user
           and x["target"] == id1 and x.get("reason") == "ticket 7781" and x.get("read") is True
           and x.get("status") == 0 for x in a),
       "the reviewer's masked show is audited too, with its reason")
    r = p.posternctl("review", "show", id1, "--json")
    ok(r.returncode == 0 and json.loads(r.stdout).get("masked") is True,
       "the operator's masked show needs no reason")

    # ---- reviewer refusals -------------------------------------------------
    r1 = rev.ctl(p, "queue", "show", id1, "--body")
    r2 = rev.ctl(p, "account", "delete", "shop")
    r3 = rev.ctl(p, "queue", "list")
    ok(r1.returncode == 1 and "permission denied" in r1.stderr and CARD_SP not in r1.stdout,
       "reviewer: queue show --body refused")
    ok(r2.returncode == 1 and "permission denied" in r2.stderr and
       p.posternctl("account", "show", "shop").returncode == 0, "reviewer: account delete refused")
    ok(r3.returncode == 1 and "permission denied" in r3.stderr, "reviewer: queue list refused")
    a = audit(p)
    refused = {x["cmd"] for x in a if x["role"] == "reviewer" and x.get("status") == 1}
    ok({"queue.show", "account.delete", "queue.list"} <= refused,
       "each refusal audited with the reviewer's role: %s" % sorted(refused))
    # whether an address is suppressed is beyond review and account
    # summaries (issue 16 "Roles"): refused, audited, no address recorded
    r = rev.ctl(p, "suppress", "check", RCPT, "--global")
    ok(r.returncode == 1 and "permission denied" in r.stderr and
       "suppress.check needs the operator role" in r.stderr,
       "reviewer: suppress check refused (%s)" % r.stderr.strip())
    sc = [x for x in audit(p) if x["cmd"] == "suppress.check" and x["role"] == "reviewer"]
    ok(len(sc) == 1 and sc[0].get("status") == 1 and sc[0]["user"] == rev.user and
       RCPT not in json.dumps(sc),
       "... audited with the reviewer's role, without the address: %s" % sc)
    # the spam model is trained by review decisions only, not directly
    r = rev.ctl(p, "spam", "learn", "--spam", "--id", id1)
    ok(r.returncode != 0 and "permission denied" in r.stderr,
       "reviewer: spam learn --id refused (%s)" % r.stderr.strip())
    r = p.posternctl("suppress", "check", RCPT, "--global")
    ok(r.returncode in (0, 1) and "permission denied" not in r.stderr,
       "the operator's suppress check still runs (%s)" % r.stderr.strip())
    # each subcommand takes only the options its usage names
    for args in (("show", id1, "--learn"), ("release", id1, "--similar"),
                 ("account", "shop", "--reason", "x"), ("list", "--unmasked")):
        r = rev.ctl(p, "review", *args)
        ok(r.returncode == 2 and "does not take --" in r.stderr,
           "review %s: an option it does not take is a usage error" % " ".join(args))
    r = rev.ctl(p, "review", "nonsense")
    u = " ".join(r.stderr.split())
    ok(r.returncode == 2 and "review reject ID... [--learn] [--similar] [--notify-sender] "
       "[--reason TEXT]" in u and "review release ID... [--learn] [--reason TEXT]" in u,
       "the usage text names --reason for release and reject")
    r = rev.ctl(p, "account", "show", "shop", "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["name"] == "shop",
       "the reviewer may read the account summary")

    # ---- release -> delivered, DKIM re-signed and verifies -----------------------
    import time
    wait_for(lambda: time.time() > held_x + 1, timeout=30, what="the held signature's x= passed")
    r = rev.ctl(p, "review", "release", id1, "--json")
    res = json.loads(r.stdout) if r.returncode == 0 else {}
    ok(held_x > 0 and res.get("messages", [{}])[0].get("result") == "ok" and
       res.get("dkim_resigned") == 1,
       "reviewer releases it; the hold outlived x=%d: re-signed (%s)" % (held_x, res or r.stderr))
    wait_for(lambda: at_sink(sink, "review-held1"), timeout=30, what="released message at the sink")
    got = at_sink(sink, "review-held1")
    ok(len(got) == 1 and CARD_SP.encode() in got[0].data, "delivered to the sink, unmodified")
    ok(got and dkim.verify(got[0].data, dnsfunc=dns_srv.lookup_txt), "its DKIM signature verifies (dkimpy)")
    xs = [int(x) for x in re.findall(rb"\bx=(\d+)", got[0].data)] if got else []
    ok(len(xs) == 1 and xs[0] > held_x and got[0].data.count(b"DKIM-Signature:") == 1,
       "one signature, the new one: x=%s > %d" % (xs, held_x))

    # mail held by a data-subject restriction is an operator's to release
    r = control(p, "queue.inject", {"rcpts": [RCPT], "account": "shop", "held": True,
                                    "sender": "billing@%s" % DOMAIN,
                                    "data": "Subject: r\r\n\r\nrestricted\r\n",
                                    "verdicts": '[{"stage":"restriction","action":"hold"}]'})
    idr = r.get("result", {}).get("id")
    r = rev.ctl(p, "review", "release", idr)
    ok(idr and r.returncode == 1 and "restriction" in r.stderr and state(p, idr) == "held",
       "a reviewer may not release mail held by a restriction: %s" % r.stderr.strip())
    # restricted processing (issue 17): invisible to reviewers except as a count
    r = rev.ctl(p, "review", "list", "--json")
    lst = json.loads(r.stdout) if r.returncode == 0 else []
    ok(idr not in r.stdout and {"restricted_hidden": 1} in lst,
       "a reviewer's review list leaves the restricted message out and counts it (%s)"
       % [x for x in lst if "restricted_hidden" in x])
    r = rev.ctl(p, "review", "list")
    ok(idr not in r.stdout and "1 restricted message not shown" in r.stdout,
       "... and says so in text (%s)" % r.stdout.strip().splitlines()[-1:])
    r = rev.ctl(p, "review", "show", idr, "--reason", "look")
    ok(r.returncode == 1 and "restricted" in r.stderr and "restricted\r" not in r.stdout,
       "a reviewer's review show of it is refused (%s)" % r.stderr.strip())
    r = p.posternctl("review", "list", "--json")
    ok(idr in r.stdout, "the operator's review list shows it")
    ok(p.posternctl("review", "release", idr).returncode == 0, "an operator may")

    # ---- reject -> never delivered, shredded ------------------------------------
    r = rev.ctl(p, "review", "reject", id2, "--notify-sender", "--json")
    res = json.loads(r.stdout) if r.returncode == 0 else {}
    ok(res.get("messages", [{}])[0].get("result") == "ok" and res.get("senders_notified") == 1,
       "reviewer rejects the other, notifying its sender: %s" % (res or r.stderr))
    ok(state(p, id2) == "deleted", "its state is deleted")
    r = p.posternctl("queue", "show", id2, "--body")
    ok(r.returncode != 0 or "second" not in r.stdout, "its body cannot be read any more")
    ok(not file_contains(os.path.join(p.data_dir, "data.mdb"), "second") and
       not file_contains(os.path.join(p.data_dir, "data.mdb"), CARD_SP),
       "no plaintext of it in the raw data.mdb")
    ev = [e for e in events(p) if e.get("id") == id2]
    ok(any(e["event"] == "rejected" and e.get("reason") == "dlp" for e in ev) and
       not any(rev.user in json.dumps(e) or "reviewer" in json.dumps(e) for e in ev),
       "customer event: rejected, reason dlp, no reviewer identity")
    ok(any(e["event"] == "released" for e in events(p) if e.get("id") == id1),
       "and released for the other")
    wait_for(lambda: [m for m in sink.messages() if id2.encode() in m.data], timeout=30,
             what="the notice at the sink")
    notice = [m for m in sink.messages() if id2.encode() in m.data]
    ok(len(notice) == 1 and notice[0].mail_from in ("", "<>") and
       notice[0].rcpt_tos == ["billing@%s" % DOMAIN] and b"5.7.1" in notice[0].data and
       b"second" not in notice[0].data and CARD_SP.encode() not in notice[0].data and
       b"Dear Alice" not in notice[0].data,
       "the sender gets a DSN-style notice from <> with no content of the message")
    if notice and failed():
        diag("%r %r %r" % (notice[0].mail_from, notice[0].rcpt_tos, notice[0].data[:3000]))

    # ---- --similar across accounts ---------------------------------------------
    code, text = send(p, "camp-a", RCPT, message("camp-a", CAMPAIGN % CARD_SP))
    ida = queue_id(text)
    code, text = send(p, "camp-b", "rcpt@later.test",
                      message("camp-b", CAMPAIGN % "none", to="rcpt@later.test"))
    idb = queue_id(text)
    wait_for(lambda: state(p, ida) == "held" and state(p, idb) in ("queued", "deferred"),
             what="campaign held / pending")
    r = rev.ctl(p, "review", "reject", ida, "--similar", "--json")
    res = json.loads(r.stdout) if r.returncode == 0 else {}
    ok(idb in res.get("similar_held", []), "reject --similar names the near-duplicate: %s" %
       (res or r.stderr))
    ok(state(p, idb) == "held", "... which is held now (another account)")
    lst = p.posternctl_json("review", "list", "--reason", "similar")
    ok(any(x["id"] == idb and x["account"] == "camp-b" for x in lst), "listed with reason similar")

    # ---- suspend / resume ------------------------------------------------------
    code, text = send(p, "susp", "rcpt@later.test", message("susp", "hello", to="rcpt@later.test"))
    ids = queue_id(text)
    wait_for(lambda: state(p, ids) in ("queued", "deferred"), what="susp queued")
    r = rev.ctl(p, "review", "suspend", "susp", "--reason", "phishing reports", "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["held"] == 1, "reviewer suspends: 1 message held")
    ok(state(p, ids) == "held", "the queued message is held")
    lst = p.posternctl_json("review", "list", "--reason", "suspended")
    ok(any(x["id"] == ids for x in lst), "... listed with reason suspended")
    import smtplib
    s = p.smtp("submission")
    try:
        s.ehlo()
        s.starttls(context=client_tls_context())
        s.ehlo()
        try:
            s.login("susp", "pw-susp-secret")
            auth = (235, "")
        except smtplib.SMTPAuthenticationError as e:
            auth = (e.smtp_code, e.smtp_error.decode())
    finally:
        s.close()
    ok(auth[0] == 535 and auth[1] == "5.7.8 Account suspended",
       "AUTH of the suspended account: 535 5.7.8 Account suspended (%s)" % (auth,))
    p.write_conf({"transport": "*=[127.0.0.1]:%d" % sink.port})
    p.reload()
    r = rev.ctl(p, "review", "resume", "susp", "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["released"] == 1, "resume releases what it held")
    wait_for(lambda: at_sink(sink, "review-susp"), timeout=30, what="resumed mail at the sink")
    ok(at_sink(sink, "review-susp") and state(p, idb) == "held",
       "delivered after resume; the similar hold (a reviewer's) stays")
    a = audit(p)
    ok(any(x["cmd"] == "review.suspend" and x.get("reason") == "phishing reports" and
           x["user"] == rev.user for x in a), "suspend audited with its reason")

    # ---- bounce-rate trigger -----------------------------------------------------
    # four different dead mailboxes: after its first 5.1.1 an address is on
    # the account's suppression list (issue 14) and refused at RCPT
    for i in range(4):
        sink.on_rcpt("bad%d@bounce.test" % i, "550 5.1.1 no such user")
        send(p, "bouncy", "bad%d@bounce.test" % i,
             message("b%d" % i, "x", to="bad%d@bounce.test" % i))
    wait_for(lambda: p.posternctl_json("account", "show", "bouncy")["status"] == "paused",
             timeout=60, what="bouncy paused")
    code, text = send(p, "bouncy", RCPT, message("b9", "x"))
    ok(code == 451 and text == "4.7.1 Account paused for review",
       "paused account: 451 4.7.1 Account paused for review at MAIL (%d %s)" % (code, text))
    ra = p.posternctl_json("review", "account", "bouncy")
    ok(ra["status"] == "paused" and any(t["status"] == "paused" and t["reason"] == "bounce_rate"
                                        for t in ra["transitions"]),
       "review account shows the transition: %s" % ra.get("transitions"))
    ok(any(x["account"] == "bouncy" and x["status"] == "paused"
           for x in p.posternctl_json("review", "list", "--accounts")),
       "review list --accounts lists it")
    like(p.log(), r"account=bouncy event=account_status status=paused reason=bounce_rate",
         "a log line for the transition")

    # the account's own thresholds win over postern.conf's
    add_account(p, "strict", "review_bounce_review=100", "review_bounce_pause=200")
    good = [queue_id(send(p, "strict", RCPT, message("s%d" % i, "fine %d" % i))[1])
            for i in range(3)]
    wait_for(lambda: all(state(p, g) == "delivered" for g in good), timeout=30,
             what="strict delivered")
    send(p, "strict", "bad@bounce.test", message("s3", "x", to="bad@bounce.test"))
    wait_for(lambda: p.posternctl_json("account", "show", "strict")["status"] != "active",
             timeout=30, what="strict moved")
    is_(p.posternctl_json("account", "show", "strict")["status"], "paused",
        "1 bounce in 4 (250 per mille): paused by the account's review_bounce_pause=200 "
        "(postern.conf says 500)")

    # ---- flag (a complaint) on delivered mail -> complaint-rate trigger ------------
    add_account(p, "flagme")
    fids = [queue_id(send(p, "flagme", RCPT, message("f%d" % i, "hello %d" % i))[1])
            for i in range(4)]
    wait_for(lambda: all(state(p, f) == "delivered" for f in fids), timeout=30,
             what="flagme delivered")
    r = rev.ctl(p, "review", "flag", fids[0], "--reason", "recipient complaint", "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["messages"][0]["result"] == "ok",
       "a delivered message can be flagged")
    ok(any(x["id"] == fids[0] and x["flagged"] for x in p.posternctl_json("review", "list")),
       "... and is listed as flagged")
    ra = p.posternctl_json("review", "account", "flagme")
    ok(ra["status"] == "paused" and ra["summary"]["flagged"] == 1 and
       any(t["reason"] == "complaint_rate" for t in ra["transitions"]),
       "1 complaint in 4 messages (>= 0.5%%): paused by the complaint trigger: %s" %
       ra.get("transitions"))

    # ---- expiry --------------------------------------------------------------------
    q = Postern(name="review-exp", conf={
        "transport": "*=[127.0.0.1]:%d" % sink.port,
        "review_hold_expiry": "2s",
    })
    q.start()
    add_account(q, "exp", "dlp_action_card=hold")
    code, text = send(q, "exp", RCPT, message("expire", SENSITIVE))
    ide = queue_id(text)
    wait_for(lambda: state(q, ide) == "deleted", timeout=60, what="expired")
    ok(any(e["event"] == "expired" and e.get("id") == ide for e in events(q)),
       "undecided held mail expires: event expired")
    ok(any(x["user"] == "system" and x["cmd"] == "review.expire" and ide in x.get("ids", [])
           for x in audit(q)), "... with an audit record by system")
    ok(not at_sink(sink, "review-expire"), "... and never reaches the sink")
    # under ASan a leak or an error makes the exit status non-zero
    is_(q.stop(), 0, "the expiry daemon stops cleanly")
    is_(p.stop(), 0, "the review daemon stops cleanly")


run(main)
