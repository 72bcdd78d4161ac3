#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_auth_cache: the verified-credential cache against the real
posternd (issue 20 item 4; include/auth_cache.h, postern.conf(5)
smtpd_auth_cache_ttl).

A login whose password scrypt verified puts a keyed tag in memory; the
next login with the same name and password is answered 235 without
scrypt ("event=auth result=ok ... cached=yes" in the log; the metric is
postern_auth_cached_total).  Checked: the first login is verified the
slow way and the second is cached; a wrong password after a cached
right one is refused (535) and counts as a failure; `account passwd`
makes the old password fail at once (535) while the new one works;
`account suspend` refuses the cached password (535 Account suspended);
twenty simultaneous logins of one application from one address, with
smtpd_auth_max_concurrent_per_ip = 2, all get 235 from the cache (none
runs scrypt, so none waits for a slot); twenty first logins at once
of a new account (a cold cache) run at most two scrypt checks, the
others, waiting for a slot, are answered from the cache once the
first check verified the password; a locked (account, address)
pair is still refused (454) with the right, cached password; and with
smtpd_auth_cache_ttl = 0 (SIGHUP) nothing is cached.  Also the pools'
sizes: smtpd_eom_threads sizes libuv's pool (end-of-message work: the
threads it starts at the first message are counted in /proc) and smtpd_auth_threads = 0 means half the cores, at least one.
"""

import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import Raw  # noqa: E402


def auth(p, user, pw, src="127.0.0.1"):
    c = Raw(p.host, p.ports["submission"], source=src)
    c.reply()
    c.cmd("EHLO client.test")
    r = c.auth_plain(user, pw)
    c.cmd("QUIT")
    c.close()
    return r[0] if r else None


def cached_count(p, start=0):
    return len(p.log_lines(r"event=auth result=ok account=app .*cached=yes", start=start))


def main():
    plan(21)
    metrics_port = free_port()
    p = Postern(name="authcache", tls=False, conf={
        "smtpd_auth_in_clear": True,
        "smtpd_submissions_listen": "",
        "smtpd_auth_failure_delay": "0",
        "smtpd_auth_lockout_threshold": 3,
        "smtpd_auth_lockout_ip_threshold": 50,
        "smtpd_auth_slowdown_threshold": 0,
        "smtpd_auth_max_concurrent_per_ip": 2,
        "smtpd_eom_threads": 9,
        "smtpd_eom_inline_max": 0,  # every message's EOM work in the pool, which it starts
        "smtpd_relay_networks": "127.0.0.0/8",
        "metrics_listen": "127.0.0.1:%d" % metrics_port,
    }).start()
    m = re.search(r"event=threads cores=(\d+) eom_threads=(\d+) auth_threads=(\d+)", p.log())
    before = len(os.listdir("/proc/%d/task" % p.proc.pid))
    r = p.send("a@example.test", ["b@example.test"], make_message(), listener="relay")
    after = len(os.listdir("/proc/%d/task" % p.proc.pid))
    ok(m and m.group(2) == "9" and r[0] == 250 and after - before == 9,
       "smtpd_eom_threads = 9: the first message's end-of-message work starts 9 pool threads "
       "(%d -> %d; libuv's default is 4)" % (before, after))
    ok(m and int(m.group(3)) == max(1, int(m.group(1)) // 2),
       "smtpd_auth_threads = 0: half the cores, at least one")
    r = p.posternctl("account", "add", "app", "--domain", "example.com",
                     "--password-stdin", input="first-password\n")
    ok(r.returncode == 0, "account made")

    mark = p.log_size()
    is_(auth(p, "app", "first-password"), 235, "first login: 235")
    is_(cached_count(p, mark), 0, "the first login ran scrypt (not cached)")
    is_(auth(p, "app", "first-password"), 235, "second login: 235")
    is_(cached_count(p, mark), 1, "the second login came from the cache")

    mark = p.log_size()
    is_(auth(p, "app", "wrong-password"), 535, "a wrong password after a cached right one: 535")
    ok(p.log_lines(r"event=auth result=fail reason=credentials", start=mark),
       "... logged as a credentials failure")

    r = p.posternctl("account", "passwd", "app", "--password-stdin", input="second-password\n")
    ok(r.returncode == 0, "account passwd")
    mark = p.log_size()
    is_(auth(p, "app", "first-password"), 535, "after passwd the cached old password fails")
    is_(auth(p, "app", "second-password"), 235, "the new password works")
    is_(cached_count(p, mark), 0, "... verified the slow way (its tag was not there)")

    p.posternctl("account", "suspend", "app")
    is_(auth(p, "app", "second-password"), 535, "a suspended account: the cached password fails")
    p.posternctl("account", "unsuspend", "app")
    auth(p, "app", "second-password")

    # twenty logins at once from one address, cap 2 in flight
    mark = p.log_size()
    codes = []
    lock = threading.Lock()

    def one():
        c = auth(p, "app", "second-password")
        with lock:
            codes.append(c)

    ts = [threading.Thread(target=one) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    is_(sorted(codes), [235] * 20, "twenty simultaneous logins from one address: all 235")
    is_(cached_count(p, mark), 20, "... all from the cache (no scrypt, no wait for a slot)")

    # a cold burst: twenty first logins at once of an account never seen;
    # two are admitted (the cap), the others wait for a slot and, once
    # the first check has verified the password, are answered from the cache
    p.posternctl("account", "add", "fresh", "--domain", "example.com",
                 "--password-stdin", input="fresh-password\n")
    mark = p.log_size()
    codes = []
    ts = [threading.Thread(target=lambda: codes.append(auth(p, "fresh", "fresh-password")))
          for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    fresh = p.log_lines(r"event=auth result=ok account=fresh ", start=mark)
    is_(sorted(codes), [235] * 20, "a cold burst of twenty logins from one address: all 235")
    slow = [l for l in fresh if "cached=yes" not in l]
    ok(len(fresh) == 20 and len(slow) <= 2,
       "... at most the cap's worth (2) ran scrypt, the rest waited and came from the cache (%d)"
       % len(slow))

    # a locked pair stays locked with the right password
    for _ in range(3):
        auth(p, "app", "guess", src="127.0.0.7")
    is_(auth(p, "app", "second-password", src="127.0.0.7"), 454,
        "a locked pair is refused (454) even with the cached right password")

    out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % metrics_port],
                         capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"^postern_auth_cached_total (\d+)", out, re.M)
    ok(m and int(m.group(1)) >= 39,
       "postern_auth_cached_total counts the logins answered from the cache (%s)"
       % (m.group(1) if m else None))

    p.write_conf({"smtpd_auth_cache_ttl": "0"})
    p.reload()
    mark = p.log_size()
    auth(p, "app", "second-password")
    auth(p, "app", "second-password")
    is_(cached_count(p, mark), 0, "smtpd_auth_cache_ttl = 0: nothing is cached")
    p.stop()


run(main)
