#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_spam: spam scoring through the real posternd (issue 15).

Accounts submit over AUTH + STARTTLS to a daemon whose spam_rules has
the GTUBE rule (weight 1000), tag at 4 and hold at 6, reject off
globally:

  default account  GTUBE -> 250, queued in state held, X-Postern-Spam
                   header with score and symbols, verdicts name GTUBE;
  strict account   spam_reject_score=100 -> 550 5.7.1 "Message rejected
                   as spam (ref TOKEN)", nothing of it queued, the ref is
                   in the log with the symbols;
  lenient account  spam_hold_score=off -> tagged only, queued (not held);
  a forged X-Postern-Spam header is removed from a clean message.

Learning from the CLI changes the next score: before learning, the
classifier is inactive (no BAYES_ symbol; `spam score --json` prints
probability null); `posternctl spam learn` of a generated corpus into
the daemon's model while it runs makes the next submission of a spammy
message carry a BAYES_ symbol and be held, and a hammy one not.  The
standalone model (--model DIR) and stats/forget are checked too.  The
corpus is generated (seeded): no download needed.
"""

import json
import os
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_FILE = "/usr/share/doc/spamassassin/examples/sample-spam.txt"

SPAM_WORDS = ("viagra cheap pills pharmacy discount winner prize claim cash urgent "
              "offer free money guaranteed casino loan credit refinance bonus click "
              "unsubscribe limited exclusive deal replica watches luxury").split()
HAM_WORDS = ("meeting notes roadmap release schedule review code project team "
             "lunch monday friday quarterly budget report draft agenda minutes "
             "deploy build tests merge branch thanks regards attached").split()
COMMON = "the a to of and in for on is with your this that be it".split()


def gen(rng, words, n, kind, i, url):
    body = " ".join(rng.choice(words + COMMON) for _ in range(40))
    subj = " ".join(rng.choice(words) for _ in range(3))
    return ("From: <app@acme.test>\r\nTo: <user@example.test>\r\n"
            "Subject: %s\r\nMessage-ID: <%s-%d@acme.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "%s\r\n%s\r\n" % (subj, kind, i, body, url))


def add_account(p, name, *settings):
    r = p.posternctl("account", "add", name, "--domain", "acme.test", "--password-stdin",
                     input="pw-%s-secret\n" % name)
    for s in settings:
        if r.returncode == 0:
            r = p.posternctl("account", "set", name, "--set", s)
    return r


def gtube_message():
    if os.path.exists(GTUBE_FILE):
        with open(GTUBE_FILE, "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return data
    return make_message(mail_from="app@acme.test", subject="GTUBE test",
                        body="This is the GTUBE test string:\r\n%s\r\n" % GTUBE)


def main():
    p = Postern(name="spam", conf={
        "delivery_enabled": "no",
        "spam_min_learned": "20",
        "spam_tag_score": "4",
        "spam_hold_score": "6",
        "spam_reject_score": "0",
        "spam_rules": "GTUBE:1000:" + GTUBE,
    }).start()
    plan(51)
    ok(add_account(p, "plain").returncode == 0, "account plain (global thresholds)")
    ok(add_account(p, "strict", "spam_reject_score=100").returncode == 0,
       "account strict: spam_reject_score=100")
    ok(add_account(p, "lenient", "spam_hold_score=off").returncode == 0,
       "account lenient: spam_hold_score=off")
    r = p.posternctl("account", "set", "plain", "--set", "spam_hold_score=lots")
    ok(r.returncode != 0 and "not valid" in r.stderr, "a bad spam_hold_score is refused")

    def send(acct, data):
        return p.send("app@acme.test", ["user@example.test"], data, listener="submission",
                      auth=(acct, "pw-%s-secret" % acct))

    # -- GTUBE, per account --------------------------------------------
    msg = gtube_message()
    code, text = send("plain", msg)
    is_(code, 250, "GTUBE, plain account: accepted (nothing is rejected by default)")
    m = p.queue_show(queue_id(text), body=True)
    is_(m.get("state"), "held", "GTUBE: held for review")
    body = m.get("body") or ""
    like(body, r"(?m)^X-Postern-Spam: score=1000\.00 symbols=GTUBE:1000\.00\r$",
         "GTUBE: X-Postern-Spam with score and symbols")
    v = json.dumps(m.get("verdicts"))
    ok('"stage": "spam"' in v and '"GTUBE"' in v and '"action": "hold"' in v,
       "GTUBE: verdicts name the symbol and the action")

    code, text = send("strict", msg)
    is_(code, 550, "GTUBE, strict account: 550")
    like(text, r"^5\.7\.1 Message rejected as spam \(ref [0-9A-Z]{12}\)$",
         "reject: 5.7.1 with a reference token")
    ref = re.search(r"ref ([0-9A-Z]{12})", text)
    ok(not any(x.get("account") == "strict" for x in p.queue_list()),
       "reject: nothing from the account in the queue")
    ok(ref and re.search(r"account=strict event=spam score=1000\.00 symbols=GTUBE:1000\.00 "
                         r"action=reject ref=%s" % ref.group(1), p.log()),
       "reject: the ref is logged with score and symbols")

    code, text = send("lenient", msg)
    is_(code, 250, "GTUBE, lenient account: accepted")
    m = p.queue_show(queue_id(text), body=True)
    isnt(m.get("state"), "held", "lenient: hold off for the account, not held")
    like(m.get("body") or "", r"(?m)^X-Postern-Spam: score=1000\.00", "lenient: tagged")

    clean = make_message(mail_from="app@acme.test", subject="hello",
                         body="nothing to see\r\n",
                         headers=(("X-Postern-Spam", "score=-100 symbols=FORGED"),))
    code, text = send("strict", clean)
    is_(code, 250, "clean message from the strict account: accepted")
    m = p.queue_show(queue_id(text), body=True)
    ok("X-Postern-Spam" not in (m.get("body") or ""), "clean: the forged header is removed")

    # -- learning from the CLI changes the next score --------------------
    rng = random.Random(15)
    d = os.path.join(p.dir, "corpus")
    os.makedirs(d)
    files = {"spam": [], "ham": []}
    for kind, words, url in (("spam", SPAM_WORDS, "http://pills.example.biz/buy"),
                             ("ham", HAM_WORDS, "https://wiki.example.org/roadmap")):
        for i in range(25):
            path = os.path.join(d, "%s-%02d.eml" % (kind, i))
            with open(path, "w") as f:
                f.write(gen(rng, words, 40, kind, i, url))
            files[kind].append(path)
    probe_spam = gen(random.Random(1), SPAM_WORDS, 40, "probe", 1, "http://pills.example.biz/x")
    probe_ham = gen(random.Random(2), HAM_WORDS, 40, "probe", 2, "https://wiki.example.org/x")
    probe_path = os.path.join(d, "probe-spam.eml")
    with open(probe_path, "w") as f:
        f.write(probe_spam)

    r = p.posternctl("spam", "score", "--json", probe_path)
    j = json.loads(r.stdout.splitlines()[0]) if r.returncode == 0 and r.stdout else {}
    ok(r.returncode == 0 and j.get("probability", 0) is None and j.get("symbols") == [],
       "score --json before learning: probability null, no symbols (%s)" % r.stdout.strip())
    code, text = send("plain", probe_spam.encode())
    m = p.queue_show(queue_id(text), body=True)
    ok(code == 250 and m.get("state") != "held" and "X-Postern-Spam" not in (m.get("body") or ""),
       "before learning: the spammy message is neither tagged nor held")

    r = p.posternctl("spam", "learn", "--spam", *files["spam"])
    ok(r.returncode == 0 and "learned 25 messages as spam" in r.stdout, "learn --spam: 25")
    r = p.posternctl("spam", "learn", "--ham", *files["ham"])
    ok(r.returncode == 0 and "learned 25 messages as ham" in r.stdout, "learn --ham: 25")
    r = p.posternctl("spam", "stats", "--json")
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    ok(s.get("spam") == 25 and s.get("ham") == 25 and s.get("tokens", 0) > 100,
       "stats: 25 spam, 25 ham, tokens (%s)" % r.stdout.strip())

    r = p.posternctl("spam", "score", "--json", probe_path)
    j = json.loads(r.stdout.splitlines()[0]) if r.returncode == 0 and r.stdout else {}
    ok(sorted(j) == sorted(["file", "probability", "score", "symbols", "action"]) and
       j["file"] == probe_path and all(sorted(x) == ["name", "weight"] for x in j["symbols"]),
       "score --json: one object with exactly file, probability, score, symbols, action")
    ok((j.get("probability") or 0) > 0.99 and j.get("symbols") and
       j["symbols"][0]["name"].startswith("BAYES_9") and j.get("action") == "hold",
       "after learning: the probe scores as spam (%s)" % r.stdout.strip())

    code, text = send("plain", probe_spam.encode())
    m = p.queue_show(queue_id(text), body=True)
    ok(code == 250 and m.get("state") == "held", "after learning: the spammy message is held")
    like(m.get("body") or "", r"(?m)^X-Postern-Spam: score=\d+\.\d\d symbols=BAYES_9",
         "after learning: X-Postern-Spam names the BAYES_ symbol")
    code, text = send("plain", probe_ham.encode())
    m = p.queue_show(queue_id(text), body=True)
    ok(code == 250 and m.get("state") != "held" and "X-Postern-Spam" not in (m.get("body") or ""),
       "after learning: a hammy message is neither tagged nor held")
    v = json.dumps(m.get("verdicts"))
    ok('"name": "BAYES_0' in v, "ham verdicts carry a low BAYES_ symbol (%s)" % v[:200])

    # -- by queue id, through the daemon (reviewers, audited) -------------
    code, text = send("plain", probe_spam.encode())
    qid = queue_id(text)
    r = p.posternctl("spam", "score", "--json", "--id", qid)
    j = json.loads(r.stdout.splitlines()[0]) if r.returncode == 0 and r.stdout else {}
    ok(j.get("id") == qid and (j.get("probability") or 0) > 0.99 and j.get("action") == "hold",
       "score --id: the daemon scores the queued message (%s)" % r.stdout.strip())
    r = p.posternctl("spam", "learn", "--ham", "--id", qid)
    ok(r.returncode == 0 and "learned 1 as ham" in r.stdout, "learn --ham --id: learned 1 (%s%s)"
       % (r.stdout.strip(), r.stderr.strip()))
    s = json.loads(p.posternctl("spam", "stats", "--json").stdout)
    is_(s.get("ham"), 26, "the daemon's model has 26 ham now")
    r = p.posternctl("spam", "learn", "--spam", "--id", "0" * 20)
    ok(r.returncode == 1 and "not found 1" in r.stdout, "learn --id of an unknown message: not found")
    r = p.posternctl("audit", "list", "--json")
    ok(r.returncode == 0 and "spam.learn" in r.stdout and qid in r.stdout,
       "spam.learn is in the audit log with the message id")

    # -- reviewer decisions train the model (issue 16's review commands) --
    before = json.loads(p.posternctl("spam", "stats", "--json").stdout)
    code, text = send("plain", gtube_message())
    rid = queue_id(text)
    r = p.posternctl("review", "reject", rid, "--learn", "--json")
    j = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}
    after = json.loads(p.posternctl("spam", "stats", "--json").stdout)
    ok(r.returncode == 0 and '"learned": true' in json.dumps(j) and
       after.get("spam") == before.get("spam", 0) + 1,
       "review reject --learn: learned as spam (%s)" % r.stdout.strip()[:200])
    code, text = send("plain", gtube_message())
    m = p.queue_show(queue_id(text))
    v = json.dumps(m.get("verdicts"))
    ok("NEAR_DUP_REJECTED" in v, "the next copy of the rejected message scores NEAR_DUP_REJECTED")

    # a plain reject (no --learn) remembers the fingerprint too: a
    # variant from another account scores NEAR_DUP_REJECTED
    campaign = ("Dear customer, your mailbox quota verification is overdue and your "
                "account will be suspended today unless you confirm your password at "
                "the secure portal below within the next twelve hours. Regards, the "
                "helpdesk team of the mail service. Accounts that are not confirmed "
                "lose every stored message and cannot be restored by our staff, so "
                "please act now and keep this notice for your records. %s\r\n")
    code, text = send("plain", make_message(mail_from="app@acme.test", subject="quota",
                                            body=campaign % ("ref 1 " + GTUBE)))
    before = json.loads(p.posternctl("spam", "stats", "--json").stdout)
    r = p.posternctl("review", "reject", queue_id(text), "--json")
    after = json.loads(p.posternctl("spam", "stats", "--json").stdout)
    ok(r.returncode == 0 and after.get("spam") == before.get("spam"),
       "review reject without --learn: not learned (%s)" % r.stdout.strip()[:120])
    code, text = send("lenient", make_message(mail_from="app@acme.test", subject="quota!",
                                              body=campaign % ("ref 2 " + GTUBE)))
    v = json.dumps(p.queue_show(queue_id(text)).get("verdicts"))
    ok(code == 250 and "NEAR_DUP_REJECTED" in v,
       "a variant from another account after a plain reject: NEAR_DUP_REJECTED (%s)" % v[:200])

    # -- a standalone model ----------------------------------------------
    model = os.path.join(p.dir, "model")
    r = p.posternctl("spam", "learn", "--model", model, "--spam", *files["spam"][:3])
    ok(r.returncode == 0, "learn into --model DIR (created)")
    r = p.posternctl("spam", "stats", "--model", model, "--json")
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    ok(s.get("spam") == 3 and s.get("ham") == 0, "standalone stats: 3 spam, 0 ham")
    r = p.posternctl("spam", "learn", "--model", model, "--spam", "--forget", files["spam"][0])
    s = json.loads(p.posternctl("spam", "stats", "--model", model, "--json").stdout)
    ok(r.returncode == 0 and s.get("spam") == 2, "learn --forget: 2 spam left")
    # offline: no config file, no daemon (the defaults score); two files, two lines
    env = {k: v for k, v in p.env.items() if k not in ("POSTERN_CONF", "POSTERN_CONTROL_SOCKET")}
    r = subprocess.run([p.posternctl_path, "spam", "score", "--json", "--model", model,
                        files["spam"][1], probe_path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env, cwd=p.dir, timeout=60)
    lines = [json.loads(x) for x in r.stdout.splitlines()] if r.returncode == 0 else []
    ok(len(lines) == 2 and [x.get("file") for x in lines] == [files["spam"][1], probe_path] and
       all(sorted(x) == sorted(["file", "probability", "score", "symbols", "action"])
           for x in lines),
       "score --json --model DIR without a config file: one object per file (rc %d %s)"
       % (r.returncode, r.stderr.strip()[:200]))
    r = p.posternctl("spam", "forget", "--all", "--model", model)
    s = json.loads(p.posternctl("spam", "stats", "--model", model, "--json").stdout)
    ok(r.returncode == 0 and s.get("spam") == 0 and s.get("tokens") == 0,
       "forget --all empties the standalone model")
    s = json.loads(p.posternctl("spam", "stats", "--json").stdout)
    ok(s.get("spam") == 26 and s.get("ham") == 26, "the daemon's model is untouched (25 + the reviewer's spam)")
    r = p.posternctl("spam", "learn", "--spam")
    is_(r.returncode, 2, "learn without files: usage error")

    # -- stale tokens expire in the daemon (spam_token_expiry) ------------
    q = Postern(name="spamexp", conf={"delivery_enabled": "no", "spam_token_expiry": "2s",
                                      "spam_rules": "GTUBE:1000:" + GTUBE}).start()
    r = q.posternctl("spam", "learn", "--spam", *files["spam"][:3])
    s = json.loads(q.posternctl("spam", "stats", "--json").stdout)
    ok(r.returncode == 0 and s.get("tokens", 0) > 0, "expiry: 3 spam learned (%s tokens)"
       % s.get("tokens"))
    ok(q.wait_log(r"event=spam_expired tokens=\d+", timeout=30),
       "expiry: the daemon deletes the tokens not learned for 2s")
    s = json.loads(q.posternctl("spam", "stats", "--json").stdout)
    ok(s.get("tokens") == 0 and s.get("spam") == 3, "expiry: no token left, the counts stay")

    # -- the reviewers' balance guard: 3 + 48 spam, 0 ham: 4 x 0 + 50 < 52 --
    r = q.posternctl("spam", "learn", "--spam", *(files["spam"] + files["spam"][:23]))
    ok(r.returncode == 0 and json.loads(q.posternctl("spam", "stats", "--json").stdout)
       .get("spam") == 51, "guard: 51 spam, 0 ham learned from the CLI")
    ok(add_account(q, "one").returncode == 0 and add_account(q, "two").returncode == 0,
       "guard: accounts one, two")
    code, text = q.send("app@acme.test", ["user@example.test"],
                        make_message(mail_from="app@acme.test", subject="quota",
                                     body=campaign % ("ref 3 " + GTUBE)),
                        listener="submission", auth=("one", "pw-one-secret"))
    r = q.posternctl("review", "reject", queue_id(text), "--learn", "--json")
    j = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}
    s = json.loads(q.posternctl("spam", "stats", "--json").stdout)
    ok(r.returncode == 0 and j.get("learned") is False and j.get("declined") == 1 and
       "balance guard" in j.get("learn_note", "") and s.get("spam") == 51,
       "review reject --learn past the guard: declined and said so, not learned (%s)"
       % r.stdout.strip()[:200])
    code, text = q.send("app@acme.test", ["user@example.test"],
                        make_message(mail_from="app@acme.test", subject="quota",
                                     body=campaign % ("ref 4 " + GTUBE)),
                        listener="submission", auth=("two", "pw-two-secret"))
    v = json.dumps(q.queue_show(queue_id(text)).get("verdicts"))
    ok(code == 250 and "NEAR_DUP_REJECTED" in v,
       "the declined message's variant from account two: NEAR_DUP_REJECTED (%s)" % v[:160])
    done()


run(main)
