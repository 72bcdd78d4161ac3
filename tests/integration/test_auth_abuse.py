#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_auth_abuse: AUTH lockout abuse and parallel guesses against the
real posternd (issue 12 items 9 and 10; the rule is in postern.conf(5)
"AUTH lockout" and include/auth_guard.h).

Clients connect from different loopback source addresses (127.0.0.x)
to the submission listener (AUTH in clear, to keep it quick).  Checked:
failures lock the (account, address) pair and not the account: the
owner still logs in from another address (the old relay locked the
account name for every address); many names from one address lock
that address; many addresses guessing one account slow it down and
never lock the owner out; `posternctl auth lockouts` lists, `auth
unlock ADDR|ACCOUNT` clears, and the unlock is in the audit log; forty
guesses sent at the same moment from one address get at most the
threshold's worth of password checks, and a right guess after them is
refused (454 4.7.0) without being verified; and (item 11) end-of-message
work does not wait behind password checks: with twenty checks queued
from twenty addresses, a submission's 250 comes back before most of
their answers (before, both shared libuv's pool and the 250 came after
them).  That last check is about order, not time.
"""

import base64
import json
import os
import re
import select
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import Raw  # noqa: E402

THRESHOLD = 3


def add_account(p, name):
    r = p.posternctl("account", "add", name, "--domain", "example.com")
    m = re.search(r"^password: (\S+)$", r.stdout, re.M)
    return m.group(1) if m else None


def client(p, src):
    c = Raw(p.host, p.ports["submission"], source=src)
    c.reply()
    c.cmd("EHLO client.test")
    return c


def try_auth(p, src, user, pw):
    c = client(p, src)
    r = c.auth_plain(user, pw)
    c.close()
    return r


def lockouts(p, *extra):
    r = p.posternctl("auth", "lockouts", "--json", *extra)
    return json.loads(r.stdout) if r.returncode == 0 else None


def main():
    plan(29)
    p = Postern(name="authabuse", tls=False, conf={
        "smtpd_auth_in_clear": True,
        "smtpd_submissions_listen": "",
        "smtpd_auth_failure_delay": "0",
        "smtpd_auth_lockout_threshold": THRESHOLD,
        "smtpd_auth_lockout_ip_threshold": 6,
        "smtpd_auth_lockout_time": "60s",
        "smtpd_auth_slowdown_threshold": 4,
        "smtpd_auth_slowdown_max": "2s",
        "smtpd_auth_max_concurrent_per_ip": 2,
    }).start()
    victim = add_account(p, "victim")
    owner = add_account(p, "owner")
    par = add_account(p, "par")
    ok(victim and owner and par, "accounts made")

    # ---- item 9: the pair is locked, not the account ----
    codes = [try_auth(p, "127.0.0.2", "victim", "guess%d" % i)[0] for i in range(THRESHOLD)]
    is_(codes, [535] * THRESHOLD, "three wrong passwords from 127.0.0.2: 535 each")
    r = try_auth(p, "127.0.0.2", "victim", victim)
    ok(r[0] == 454 and r[1].startswith("4.7.0"),
       "the pair (victim, 127.0.0.2) is locked: even the right password gets 454 (%r)" % (r,))
    r = try_auth(p, "127.0.0.3", "victim", victim)
    is_(r[0], 235, "the owner logs in from another address: the account is not locked out")
    lo = lockouts(p)
    pairs = [e for e in (lo or []) if e["kind"] == "pair" and e["locked"]]
    ok(any(e["client"] == "127.0.0.2" and e["account"] == "victim" for e in pairs),
       "auth lockouts lists the locked pair (%r)" % (lo,))
    r = p.posternctl("auth", "lockouts")
    like(r.stdout, r"pair\s+127\.0\.0\.2\s+victim", "auth lockouts prints a table")
    r = p.posternctl("auth", "unlock", "127.0.0.2")
    is_(r.returncode, 0, "auth unlock ADDRESS")
    r = try_auth(p, "127.0.0.2", "victim", victim)
    is_(r[0], 235, "after unlock the pair may log in again")
    audit = p.posternctl("audit", "list", "--json")
    like(audit.stdout, r'"cmd":\s*"auth\.unlock".*"target":\s*"127\.0\.0\.2"',
         "the unlock is in the audit log")
    is_(p.posternctl("auth", "unlock", "127.0.0.99").returncode, 1,
        "auth unlock of something not locked: exit 1")
    is_(p.posternctl("auth", "unlock", "not an address!").returncode, 2,
        "auth unlock of garbage: usage error")

    # ---- item 9: one address across names ----
    codes = [try_auth(p, "127.0.0.4", "name%d" % i, "x")[0] for i in range(6)]
    is_(codes, [535] * 6, "six names from 127.0.0.4, once each: 535 (no pair reaches 3)")
    r = try_auth(p, "127.0.0.4", "victim", victim)
    is_(r[0], 454, "then the address is locked for every name")
    lo = lockouts(p)
    ok(any(e["kind"] == "address" and e["client"] == "127.0.0.4" and e["locked"] and
           e["account"] is None for e in lo or []), "auth lockouts lists the locked address")
    ok(not any(e["account"] and e["account"].startswith("name") for e in lockouts(p, "--all") or []),
       "names that are no account are not shown (AUTH data)")

    # ---- item 9: many addresses, one account: slow down, never lock ----
    start = p.log_size()
    codes = [try_auth(p, "127.0.0.%d" % (10 + i), "owner", "wrong%d" % i)[0] for i in range(6)]
    is_(codes, [535] * 6, "six addresses guess 'owner' once each: 535 each, none locked")
    like(p.log(start), r"event=auth_slowdown client=127\.0\.0\.1[45] delay=\d+ms",
         "from the fourth failure on, attempts wait first (event=auth_slowdown)")
    lo = lockouts(p)
    acc = [e for e in lo or [] if e["kind"] == "account" and e["account"] == "owner"]
    ok(acc and acc[0]["delay_ms"] >= 1000, "auth lockouts shows the account's slow-down (%r)" % (acc,))
    r = try_auth(p, "127.0.0.30", "owner", owner)
    is_(r[0], 235, "the rightful owner still gets in from a new address (slowed, not locked)")
    is_(p.posternctl("auth", "unlock", "owner").returncode, 0, "auth unlock ACCOUNT")
    lo = lockouts(p)
    ok(not any(e["account"] == "owner" for e in lo or []), "the account's slow-down is gone")

    # ---- item 10: forty guesses at the same moment ----
    start = p.log_size()
    conns = [client(p, "127.0.0.50") for _ in range(40)]
    import base64
    for c in conns:
        c.send("AUTH PLAIN %s\r\n" % base64.b64encode(b"\0par\0guess").decode())
    replies = [c.reply() for c in conns]
    for c in conns:
        c.close()
    n535 = sum(1 for r in replies if r and r[0] == 535)
    n454 = sum(1 for r in replies if r and r[0] == 454)
    ok(n535 <= THRESHOLD and n535 + n454 == 40,
       "40 simultaneous guesses: %d verified (535), %d refused unverified (454)" % (n535, n454))
    checks = len(re.findall(r"event=auth result=fail reason=credentials client=127\.0\.0\.50",
                            p.log(start)))
    ok(checks <= THRESHOLD, "at most the threshold's worth of password checks ran (%d)" % checks)
    r = try_auth(p, "127.0.0.50", "par", par)
    ok(r[0] == 454, "a right guess after the burst is refused (%r)" % (r,))
    is_(p.stop(), 0, "posternd stops cleanly (exit 0: no sanitizer report)")
    r = p.posternctl("auth", "lockouts")
    is_(r.returncode, 1, "auth lockouts with posternd stopped: exit 1 (%s)" % r.stderr.strip())
    eom_not_behind_auth()


def eom_not_behind_auth():
    """Item 11: twenty password checks queued, then an end of message."""
    q = Postern(name="authpool", tls=False, conf={
        "smtpd_auth_in_clear": True, "smtpd_submissions_listen": "",
        "smtpd_auth_failure_delay": "0", "smtpd_auth_threads": 1,
        "smtpd_auth_lockout_threshold": 1000, "smtpd_auth_lockout_ip_threshold": 100000,
        "smtpd_auth_slowdown_threshold": 0, "delivery_enabled": False,
    }).start()
    pw = add_account(q, "app")
    legit = client(q, "127.0.0.1")
    r = legit.auth_plain("app", pw)
    legit.cmd("MAIL FROM:<a@example.com>")
    legit.cmd("RCPT TO:<b@example.net>")
    legit.cmd("DATA")
    legit.send("From: <a@example.com>\r\nSubject: x\r\n\r\nhello\r\n")
    floods = [client(q, "127.0.0.%d" % (60 + i)) for i in range(20)]
    tok = base64.b64encode(b"\0nobody\0wrong").decode()
    for c in floods:
        c.send("AUTH PLAIN %s\r\n" % tok)
    legit.send(".\r\n")
    before, got250 = 0, None
    pending = {c.sock: c for c in floods}
    socks = [legit.sock] + list(pending)
    while got250 is None:
        rd, _, _ = select.select(socks, [], [], 60)
        if not rd:
            break
        for sk in rd:
            if sk is legit.sock:
                got250 = legit.reply()
            else:
                c = pending.get(sk)
                if c is not None and c.reply() is not None:
                    before += 1
                    socks.remove(sk)
                    del pending[sk]
    for c in floods:
        c.close()
    legit.close()
    ok(r and r[0] == 235 and got250 and got250[0] == 250, "the submission is accepted (%r)" % (got250,))
    ok(before < 10, "its 250 came before most of the 20 queued password checks' answers "
       "(%d answered first)" % before)
    is_(q.stop(), 0, "posternd stops cleanly")


run(main)
