#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_suppress: suppression lists through the real daemon (issue 14).

dnsmasq serves MX records for dest.test (127.0.0.2) and sender.test
(127.0.0.3); scriptable sinks listen there.  The relay listener books
mail to the account `relay`.

 1. A delivery answered `550 5.1.1` puts the recipient on the account's
    list (hard_bounce, source 5.1.1, with an expiry); the next
    submission to that address gets `550 5.7.1 ... suppression list
    (hard_bounce)` at RCPT, and the event is counted in `account show`.
 2. A `550 5.7.1` policy block does not suppress.
 3. Manual entries: add (normalised: case and IDNA), check, the global
    list applies to every account, remove needs --reason and is audited.
 4. suppression_action=drop: RCPT is accepted, the recipient never
    reaches the queue or the sink; a message whose every recipient is
    dropped is answered 250 and nothing is queued.
 5. export -> import into another account: the same hashes and reasons.
 6. The raw data.mdb never holds an address that was only suppressed.
"""

import csv
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from queuelib import control, file_contains, queue_ids  # noqa: E402


def suppressed(p, addr, *scope):
    r = p.posternctl("suppress", "check", addr, *(scope or ("--account", "relay")), "--json")
    return r.returncode == 0, (json.loads(r.stdout) if r.stdout.strip() else {})


def main():
    plan(43)
    port = free_port("127.0.0.2")
    dns = Dns()
    dns.mx("dest.test", "mx.dest.test", 10).a("mx.dest.test", "127.0.0.2")
    dns.mx("sender.test", "mx.sender.test", 10).a("mx.sender.test", "127.0.0.3")
    dns.start()
    sink = Sink(host="127.0.0.2", port=port).start()
    sink.on_rcpt("gone@dest.test", "550 5.1.1 <gone@dest.test>: no such user")
    sink.on_rcpt("blocked@dest.test", "550 5.7.1 refused by policy")
    dsn_sink = Sink(host="127.0.0.3", port=port, name="dsn").start()
    with Postern(conf={"transport": "*=mx:%d" % port, "retry_schedule": "1s"}, dns=dns) as p:
        r = p.posternctl("account", "add", "relay", "--domain", "*")
        is_(r.returncode, 0, "account relay added")
        r = p.posternctl("account", "add", "app2", "--domain", "*")
        is_(r.returncode, 0, "account app2 added")

        # ---- 1. a hard bounce during delivery ----
        code, _ = p.send("a@sender.test", ["gone@dest.test"], make_message(to="gone@dest.test"))
        is_(code, 250, "message to gone@dest.test accepted")
        wait_for(lambda: suppressed(p, "gone@dest.test")[0], timeout=60,
                 what="gone@dest.test suppressed after the 550 5.1.1")
        yes, info = suppressed(p, "gone@dest.test")
        ok(yes and info.get("reason") == "hard_bounce" and info.get("source") == "5.1.1",
           "550 5.1.1 -> hard_bounce, source 5.1.1 (%s)" % info)
        ok(info.get("expires", 0) > info.get("created", 0),
           "a hard bounce expires (suppression_hard_bounce_expiry)")
        s = p.smtp("relay")
        s.ehlo()
        s.mail("a@sender.test")
        code, text = s.rcpt("gone@dest.test")
        text = text.decode()
        ok(code == 550 and text.startswith("5.7.1") and "suppression list (hard_bounce)" in text,
           "next submission: RCPT refused 550 5.7.1 (%d %s)" % (code, text))
        code, text = s.rcpt("Gone@DEST.test")
        is_(code, 550, "... also in another case (local part folded, domain lower case)")
        code, _ = s.rcpt("fine@dest.test")
        is_(code, 250, "... another recipient is accepted")
        s.rset()
        s.quit()
        # hit events are written behind the reply: wait for them
        wait_for(lambda: p.posternctl_json("account", "show", "relay")
                 .get("suppressions", {}).get("hits", 0) >= 2, timeout=30, what="hit events")
        a = p.posternctl_json("account", "show", "relay")
        sup = a.get("suppressions", {})
        ok(sup.get("hard_bounce") == 1 and sup.get("hits", 0) >= 2 and sup.get("added") == 1,
           "account show counts entries, adds and hits (%s)" % sup)

        # ---- 2. a policy block (5.7.x) never suppresses ----
        code, _ = p.send("a@sender.test", ["blocked@dest.test"],
                         make_message(to="blocked@dest.test"))
        is_(code, 250, "message to blocked@dest.test accepted")
        p.wait_log(r"event=attempt .*dsn=5\.7\.1 status=bounced", timeout=60)
        ok(not suppressed(p, "blocked@dest.test")[0], "550 5.7.1 from the MX: not suppressed")

        # ---- 3. manual entries, the global list, remove ----
        r = p.posternctl("suppress", "add", "Mixed.Case@Bücher.example", "--account", "relay",
                         "--reason", "complaint", "--source", "ticket-42")
        is_(r.returncode, 0, "suppress add (complaint) " + r.stderr.strip())
        yes, info = suppressed(p, "mixed.case@xn--bcher-kva.example")
        ok(yes and info.get("reason") == "complaint" and info.get("expires") == 0,
           "normalised: case folded, IDNA A-label; complaints never expire (%s)" % info)
        r = p.posternctl("suppress", "add", "everyone-hates-me@dest.test", "--global")
        is_(r.returncode, 0, "suppress add --global")
        code, text = p.send("a@sender.test", ["everyone-hates-me@dest.test"],
                            make_message(to="everyone-hates-me@dest.test"))
        ok(code == 550 and "global list" in text,
           "the global list applies to the account's mail (%d %s)" % (code, text))
        r = p.posternctl("suppress", "check", "nobody@dest.test", "--account", "relay")
        ok(r.returncode == 1 and "not suppressed" in r.stdout, "check: not suppressed -> exit 1")
        r = p.posternctl("suppress", "remove", "everyone-hates-me@dest.test", "--global")
        is_(r.returncode, 2, "remove without --reason: usage error")
        r = p.posternctl("suppress", "remove", "everyone-hates-me@dest.test", "--global",
                         "--reason", "customer asked, ticket 7")
        is_(r.returncode, 0, "remove --reason: done")
        ok(not suppressed(p, "everyone-hates-me@dest.test", "--global")[0], "... and gone")
        audit = p.posternctl("audit", "list", "--json").stdout
        ok("suppress.remove" in audit and "customer asked, ticket 7" in audit
           and "everyone-hates-me" not in audit,
           "remove is audited with its reason, without the address")
        r = p.posternctl("suppress", "remove", "never@dest.test", "--global", "--reason", "x")
        is_(r.returncode, 1, "remove of an address not listed: exit 1")

        # ---- 4. suppression_action = drop (a submission account: re-read at each MAIL) ----
        pw = "drop-password-0123456789"
        r = p.posternctl("account", "add", "app3", "--domain", "*", "--password-stdin",
                         input=pw + "\n")
        r2 = p.posternctl("account", "set", "app3", "--set", "suppression_action=drop")
        r3 = p.posternctl("suppress", "add", "gone@dest.test", "--account", "app3",
                          "--reason", "unsubscribe")
        ok(r.returncode == 0 and r2.returncode == 0 and r3.returncode == 0,
           "account app3 with suppression_action=drop and gone@ on its list")
        before = set(queue_ids(p))
        code, text = p.send("a@sender.test", ["gone@dest.test", "kept@dest.test"],
                            make_message(to="kept@dest.test", subject="drop-test"),
                            listener="submission", auth=("app3", pw))
        is_(code, 250, "drop: the message is accepted")
        msgs = wait_for(lambda: [m for m in sink.messages() if b"drop-test" in m.data],
                        timeout=60, what="drop-test delivered")
        is_(msgs[0].rcpt_tos, ["kept@dest.test"], "drop: only the other recipient delivered")
        code, text = p.send("a@sender.test", ["gone@dest.test"], make_message(to="gone@dest.test"),
                            listener="submission", auth=("app3", pw))
        is_(code, 250, "drop: every recipient suppressed: still 250")
        ok(len(set(queue_ids(p)) - before) == 1, "... and nothing more was queued")
        ok(p.wait_log(r"event=dropped reason=suppressed"), "... logged as dropped")

        # ---- 5. export -> import round trip ----
        r = p.posternctl("suppress", "export", "--account", "relay")
        is_(r.returncode, 0, "export")
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        is_(len(rows), 2, "export: two entries (hard bounce, complaint)")
        ok(all(len(x["hash"]) == 64 and "@" not in r.stdout for x in rows),
           "export holds hashes, no address")
        p.write_file("import.csv", r.stdout)
        r = p.posternctl("suppress", "import", os.path.join(p.dir, "import.csv"),
                         "--account", "app2")
        is_(r.returncode, 0, "import into app2 " + r.stderr.strip())
        got = p.posternctl_json("suppress", "list", "--account", "app2")
        is_(sorted((x["hash"], x["reason"]) for x in got),
            sorted((x["hash"], x["reason"]) for x in rows), "import: same hashes and reasons")

        # ---- expiry: a hard bounce of long ago no longer suppresses ----
        p.write_file("old.csv", "address,reason,created\nold@dest.test,hard_bounce,1000\n"
                     "old2@dest.test,complaint,1000\n")
        r = p.posternctl("suppress", "import", os.path.join(p.dir, "old.csv"), "--account", "app2")
        is_(r.returncode, 0, "import of entries created long ago")
        ok(not p.posternctl("suppress", "check", "old@dest.test", "--account", "app2").returncode == 0
           and p.posternctl("suppress", "check", "old2@dest.test", "--account", "app2").returncode == 0,
           "an old hard bounce has expired, an old complaint has not")
        sup = p.posternctl_json("account", "show", "app2")["suppressions"]
        is_(sup.get("expired"), 1, "account show counts the expired entry")

        # ---- 6. no plaintext address in the raw database ----
        db = os.path.join(p.data_dir, "data.mdb")
        ok(not file_contains(db, b"Mixed.Case") and not file_contains(db, b"mixed.case")
           and not file_contains(db, b"everyone-hates-me") and not file_contains(db, b"old2@"),
           "data.mdb never holds a suppressed-only address")
        ok(not file_contains(db, b"gone@dest.test") and not file_contains(db, b"blocked@dest"),
           "... nor a hard-bounced one (envelopes are sealed, entries are hashes)")

        # ---- 7. read-only commands work with the daemon down ----
        p.stop()
        yes, info = suppressed(p, "gone@dest.test")
        ok(yes and info.get("reason") == "hard_bounce", "check works offline")
        r = p.posternctl("suppress", "add", "new@dest.test", "--account", "relay")
        ok(r.returncode == 1 and "running posternd" in r.stderr, "add needs the daemon")
    # ---- expired hard bounces are swept out of the table ----
    with Postern(name="sweep", conf={"suppression_hard_bounce_expiry": "1s",
                                     "purge_interval": "1s"}) as q:
        q.posternctl("account", "add", "app", "--domain", "*")
        r = q.posternctl("suppress", "add", "brief@x.test", "--account", "app",
                         "--reason", "hard_bounce")
        r2 = q.posternctl("suppress", "add", "stays@x.test", "--account", "app",
                          "--reason", "complaint")
        is_(r.returncode + r2.returncode, 0, "a hard bounce expiring in 1s and a complaint")
        wait_for(lambda: len(q.posternctl_json("suppress", "list", "--account", "app")) == 1,
                 timeout=60, what="the expired entry swept")
        left = q.posternctl_json("suppress", "list", "--account", "app")
        sup = q.posternctl_json("account", "show", "app")["suppressions"]
        ok(left[0]["reason"] == "complaint" and sup.get("removed") == 1 and sup.get("expired") == 0,
           "the sweep removed the expired entry only, with an event (%s)" % sup)

    # ---- address_fold_local_part = no: the local part is compared exactly ----
    with Postern(name="exact", conf={"address_fold_local_part": False}) as q:
        r = q.posternctl("suppress", "add", "Case@x.test", "--global")
        is_(r.returncode, 0, "address_fold_local_part=no: add Case@x.test")
        ok(q.posternctl("suppress", "check", "Case@X.TEST", "--global").returncode == 0
           and q.posternctl("suppress", "check", "case@x.test", "--global").returncode == 1,
           "... Case@X.TEST matches (domain folded), case@x.test does not")
    done()


run(main)
