#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_spam_dnsbl: DNS blocklists of the spam stage through the real
posternd and a real DNSBL server, Debian's rbldnsd on a loopback port
(issue 15).  Zones:

  zen.test   ip4set: 127.0.0.2 (RFC 5782 test entry), 127.0.0.3 -> 127.0.0.4
  dbl.test   dnset:  test (test entry), evil-domain.test
  bad.test   ip4set: 127.0.0.0/24 -- lists 127.0.0.1, which it must not
  ref.test   ip4set: answers 127.255.255.254 (a refusal)
  miss.test  ip4set: does not list 127.0.0.2, which it must
  slow.test  configured, but the DNS forwarder in front of rbldnsd
             (harness DnsDrop) never answers its queries

Checked: zen.test and dbl.test pass their canaries (event=dnsbl_ok);
bad.test, ref.test and miss.test are disabled and logged; a message with a URL of
evil-domain.test gets the DBL symbol (code 2 -> DBL_SPAM, weight 7) and
is held, and again from the cached answer (one query); one from client address 127.0.0.3 gets ZEN_XBL (code 4) and is
tagged; a clean message from 127.0.0.1 gets no symbol although the
disabled bad.test would list it.  slow.test never answers, for any
message: each list has its own deadline, so every message above still
gets the answering lists' symbols, and slow.test's lookups are logged
as timed out by zone (event=dnsbl_timeout zone=slow.test), the
answering lists' never.
"""

import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def main():
    if shutil.which("rbldnsd") is None:
        skip_all("rbldnsd (Debian package rbldnsd) is not installed")
    rbl = Rbldnsd({
        "zen.test": ("ip4set", ":127.0.0.2:listed\n127.0.0.2\n127.0.0.3 :4:client listed\n"),
        "dbl.test": ("dnset", ":127.0.0.2:listed\ntest\nevil-domain.test\n"),
        "bad.test": ("ip4set", ":127.0.0.2:listed\n127.0.0.0/24\n"),
        "ref.test": ("ip4set", ":127.255.255.254:refused\n127.0.0.0/24\n"),
        "miss.test": ("ip4set", ":127.0.0.2:listed\n127.0.0.9\n"),
    })
    drop = DnsDrop(rbl.server, ["slow.test"])
    p = Postern(name="spamdnsbl", conf={
        "delivery_enabled": "no",
        "dns_servers": drop.server,
        "spf_action": "ignore",
        "spam_tag_score": "2",
        "spam_hold_score": "6",
        "spam_dnsbl": ["zen.test:ZEN:1:2=ZEN_SBL=4+4=ZEN_XBL=3", "bad.test:BAD:50",
                       "ref.test:REF:50", "slow.test:SLOW:50", "miss.test:MISS:50"],
        "spam_uribl": ["dbl.test:DBL:1:2=DBL_SPAM=7"],
        "spam_dnsbl_timeout": "4s",
        # the answers are cached by each SMTP loop's resolver: one loop,
        # so that the second message's lookup must be the cached one
        "smtpd_loops": "1",
    }).start()
    plan(18)
    ok(p.wait_log(r"event=dnsbl_ok zone=zen\.test", timeout=20), "zen.test passes its canaries")
    ok(p.wait_log(r"event=dnsbl_ok zone=dbl\.test", timeout=20), "dbl.test passes its canaries")
    ok(p.wait_log(r"event=dnsbl_disabled zone=bad\.test reason=lists_test_entry_it_must_not",
                  timeout=20), "bad.test (lists 127.0.0.1) is disabled")
    ok(p.wait_log(r"event=dnsbl_disabled zone=ref\.test reason=refused", timeout=20),
       "ref.test (answers 127.255.255.254) is disabled")
    ok(p.wait_log(r"event=dnsbl_disabled zone=miss\.test reason=misses_test_entry_it_must_list",
                  timeout=20), "miss.test does not list 127.0.0.2: disabled and logged")
    r = p.posternctl("account", "add", "acme", "--domain", "acme.test", "--password-stdin",
                     input="pw-acme-secret\n")
    is_(r.returncode, 0, "account acme")

    evil = make_message(mail_from="app@acme.test", subject="your invoice",
                        body="Pay here: https://www.evil-domain.test/pay?id=1\r\n")
    code, text = p.send("app@acme.test", "user@example.test", evil, listener="submission",
                        auth=("acme", "pw-acme-secret"), source="127.0.0.1")
    is_(code, 250, "URL in a listed domain: accepted")
    m = p.queue_show(queue_id(text), body=True)
    is_(m.get("state"), "held", "DBL_SPAM (7) >= hold 6: held")
    like(m.get("body") or "", r"(?m)^X-Postern-Spam: score=7\.00 symbols=DBL_SPAM:7\.00\r$",
         "the header names the decoded return code's symbol")

    # the answer is cached for its TTL (src/net/dns.c): a second message
    # with the same domain asks nobody, and still gets the symbol
    code, text = p.send("app@acme.test", "user@example.test", evil, listener="submission",
                        auth=("acme", "pw-acme-secret"), source="127.0.0.1")
    m = p.queue_show(queue_id(text), body=True)
    asked = {n: c for n, c in drop.seen.items() if n.endswith("dbl.test") and "evil" in n}
    ok(code == 250 and m.get("state") == "held" and list(asked.values()) == [1],
       "the same URL domain again: held from the cached answer, asked once (%s)" % asked)

    clean = make_message(mail_from="app@acme.test", subject="hello", body="no links here\r\n")
    code, text = p.send("app@acme.test", "user@example.test", clean, listener="submission",
                        auth=("acme", "pw-acme-secret"), source="127.0.0.3")
    m = p.queue_show(queue_id(text), body=True)
    ok(code == 250 and m.get("state") != "held", "client 127.0.0.3: accepted, not held")
    like(m.get("body") or "", r"(?m)^X-Postern-Spam: score=3\.00 symbols=ZEN_XBL:3\.00\r$",
         "client 127.0.0.3 listed with code 4: ZEN_XBL, tagged")

    code, text = p.send("app@acme.test", "user@example.test", clean, listener="submission",
                        auth=("acme", "pw-acme-secret"), source="127.0.0.1")
    m = p.queue_show(queue_id(text), body=True)
    ok(code == 250 and "X-Postern-Spam" not in (m.get("body") or ""),
       "client 127.0.0.1: no symbol (bad.test disabled, ref.test disabled)")
    v = json.dumps(m.get("verdicts"))
    ok('"stage": "spam"' in v and "BAD" not in v and "REF" not in v,
       "verdicts: no symbol of a disabled list")

    # slow.test did not answer for any of the four messages; each time
    # only its own lookup was given up, by zone, with the session id
    log = p.log()
    timeouts = re.findall(r"sid=\S+ event=dnsbl_timeout zone=(\S+) unanswered=(\d+)", log)
    is_(sorted(z for z, _ in timeouts), ["slow.test"] * 4,
        "each message: slow.test (and only it) timed out, by zone")
    ok(all(n == "1" for _, n in timeouts), "one unanswered lookup each (the client address)")
    ok(drop.dropped["slow.test"] >= 3, "the forwarder dropped slow.test's queries")
    ok("SLOW" not in v, "verdicts: no symbol of the list that did not answer")
    done()


run(main)
