#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_spam_signals: account signals through the real posternd (issue
15): an account that suddenly sends ten times its baseline to new
recipient domains is held.

With spam_signal_window = 3s and spam_signal_min_windows = 3, account
"steady" sends one message to its usual domain in each of four windows
(none held), then, in the next window, fifteen messages in one session,
each to a domain it never used: once the window's recipients exceed
10 x the baseline (at least 1) the messages score ACCT_VOLUME_SPIKE (2)
+ ACCT_SPIKE_NEW_DOMAINS (5) = 7 >= spam_hold_score 6 and are held.
A fresh account sending the same burst is not held: it has no history.
The window boundaries are waited for (wall clock) so that each phase
falls in the window it is meant for; nothing here measures speed.
"""

import json
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

WINDOW = 3.0


def next_window():
    """Sleep until just after the next window boundary (windows are now / 3s)."""
    now = time.time()
    time.sleep((int(now / WINDOW) + 1) * WINDOW - now + 0.05)


def session(p, user):
    s = smtplib.SMTP(p.host, p.ports["submission"], local_hostname="client.test", timeout=60)
    s.ehlo()
    s.starttls(context=client_tls_context())
    s.ehlo()
    s.login(user, "pw-%s-secret" % user)
    return s


def send(s, rcpt, n):
    s.mail("app@acme.test")
    s.rcpt(rcpt)
    code, text = s.data(make_message(mail_from="app@acme.test", to=rcpt,
                                     subject="Order %d shipped" % n,
                                     body="Your order %d has shipped.\r\n" % n))
    return code, text.decode(errors="replace")


def burst(p, user, tag):
    """Fifteen messages in one session, each to a new domain; their states."""
    s = session(p, user)
    states = []
    try:
        for i in range(15):
            code, text = send(s, "user@%s-%d.test" % (tag, i), i)
            m = p.queue_show(queue_id(text)) if code == 250 else {}
            states.append((code, m.get("state"), json.dumps(m.get("verdicts"))))
    finally:
        s.quit()
    return states


def main():
    p = Postern(name="spamsig", conf={
        "delivery_enabled": "no",
        "spam_signal_window": "3s",
        "spam_signal_min_windows": "3",
        "spam_hold_score": "6",
    }).start()
    plan(8)
    for a in ("steady", "fresh"):
        r = p.posternctl("account", "add", a, "--domain", "acme.test", "--password-stdin",
                         input="pw-%s-secret\n" % a)
        is_(r.returncode, 0, "account %s" % a)

    base = []
    for w in range(4):
        next_window()
        s = session(p, "steady")
        try:
            code, text = send(s, "user@usual.test", w)
        finally:
            s.quit()
        base.append((code, p.queue_show(queue_id(text)).get("state")))
    ok(all(c == 250 and st != "held" for c, st in base),
       "baseline: one message per window to the usual domain, none held (%s)" % base)

    next_window()
    states = burst(p, "steady", "new")
    held = [i for i, (c, st, v) in enumerate(states) if st == "held"]
    diag("burst states: %s" % [st for c, st, v in states])
    ok(all(c == 250 for c, st, v in states), "burst: every message accepted (held, not refused)")
    ok(held and held[0] >= 10, "the first ten (<= 10 x baseline) pass, held from message %s on"
       % (held[0] + 1 if held else None))
    ok(len(held) >= 3, "the messages beyond 10 x baseline are held (%d of 15)" % len(held))
    v = states[held[0]][2] if held else ""
    ok("ACCT_VOLUME_SPIKE" in v and "ACCT_SPIKE_NEW_DOMAINS" in v,
       "held: verdicts name ACCT_VOLUME_SPIKE and ACCT_SPIKE_NEW_DOMAINS")

    next_window()
    states = burst(p, "fresh", "fresh")
    ok(not any(st == "held" for c, st, v in states),
       "a new account without history sending the same burst is not held")
    done()


run(main)
