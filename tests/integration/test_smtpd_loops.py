#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_smtpd_loops: posternd with smtpd_loops = 2 (issue 20 item 3).

Two SMTP event loops accept on the same ports (SO_REUSEPORT).  Many
concurrent sessions, one message per connection, land on both loops;
every one is answered 250 after its commit, and every one reaches the
sink: nothing lost, nothing twice.  The per-IP connection limit counts
the connections of both loops (without the shared counts each loop
would admit its own quota).  SIGHUP reaches both loops (a new banner on
every new session).  SIGTERM drains both: every open session gets 421
4.3.2, the daemon exits 0.  kill -9 under concurrent SMTP load loses no
acknowledged message.
"""

import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from queuelib import crash_under_load, queue_ids  # noqa: E402
from rawsmtp import queued_id  # noqa: E402

SESSIONS = 300
THREADS = 20


def banner(host, port, timeout=10):
    """Connect and read the greeting; (socket, first line)."""
    s = socket.create_connection((host, port), timeout=timeout)
    f = s.makefile("rb")
    line = f.readline().decode("ascii", "replace").rstrip("\r\n")
    return s, f, line


def send_one(p, n):
    s = p.smtp("relay")
    try:
        s.ehlo("client.test")
        code, text = s.mail("loops%d@example.com" % n)
        if code != 250:
            return None
        s.rcpt("r%d@loops.test" % n)
        code, text = s.data("Subject: loops %d\r\nMessage-ID: <loops%d@example.com>\r\n\r\n"
                            "body %d\r\n" % (n, n, n))
        return queued_id(text.decode()) if code == 250 else None
    finally:
        try:
            s.quit()
        except Exception:
            pass


def main():
    plan(17)
    sink = Sink(host="127.0.0.2", name="loops-sink").start()
    p = Postern(name="loops", conf={
        "smtpd_loops": 2,
        "transport": "loops.test=[127.0.0.2]:%d" % sink.port,
        "smtpd_auth_in_clear": "yes",
        "smtpd_auth_threads": 1,
    }).start()
    host, port = p.host, p.ports["relay"]
    log = p.log()
    like(log, r"event=smtpd_loops loops=2", "two SMTP loops started")
    ok(re.search(r"event=listening listener=relay address=\S+ loop=0", log) and
       re.search(r"event=listening listener=relay address=\S+ loop=1", log),
       "each loop listens on the relay port itself")

    # ---- many concurrent sessions, one message per connection ----
    qids, errors, lock = {}, [], threading.Lock()
    todo = list(range(SESSIONS))

    def client():
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop()
            try:
                q = send_one(p, n)
            except Exception as e:
                q = None
                with lock:
                    errors.append("%d: %r" % (n, e))
            with lock:
                if q:
                    qids[n] = q
                else:
                    errors.append("%d: not queued" % n)

    start = p.log_size()
    ts = [threading.Thread(target=client) for _ in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    is_(len(qids), SESSIONS, "%d concurrent sessions, every message answered 250 (%s)"
        % (SESSIONS, "; ".join(errors[:3]) or "no errors"))
    is_(len(set(qids.values())), SESSIONS, "every queue id is distinct")
    loops = [int(m) for m in re.findall(r"event=connect listener=relay client=\S+ loop=(\d)",
                                        p.log(start))]
    ok(loops.count(0) > 0 and loops.count(1) > 0,
       "sessions served by both loops (loop 0: %d, loop 1: %d)" % (loops.count(0), loops.count(1)))
    sids = re.findall(r"sid=(\S+) event=connect listener=relay", p.log(start))
    is_(len(set(sids)), len(sids), "session ids are unique across loops")
    msgs = sink.wait_messages(SESSIONS, timeout=120)
    got = sorted(int(re.search(rb"Subject: loops (\d+)", m.data).group(1)) for m in msgs)
    is_(got, list(range(SESSIONS)), "every accepted message delivered to the sink exactly once")

    # ---- SIGHUP reaches both loops; per-IP limit over both loops ----
    p.write_conf({"smtpd_banner": "ESMTP reloaded-banner", "smtpd_max_connections_per_ip": 4})
    ok(p.reload(), "SIGHUP: reloaded")
    start = p.log_size()
    held, greetings = [], []
    for _ in range(16):
        s, f, line = banner(host, port)
        held.append((s, f))
        greetings.append(line)
    accepted = [g for g in greetings if g.startswith("220 ")]
    refused = [g for g in greetings if g.startswith("421 ")]
    is_(len(accepted), 4, "per-IP limit 4 holds over both loops: %d of 16 greeted 220 (%d refused)"
        % (len(accepted), len(refused)))
    ok(all("reloaded-banner" in g for g in accepted), "every loop greets with the reloaded banner")
    loops = set(re.findall(r"event=connect listener=relay client=\S+ loop=(\d)", p.log(start)))
    note("limit connections on loops %s" % sorted(loops))
    for s, f in held:
        s.close()
    wait_for(lambda: True, 0.1)

    p.write_conf({"smtpd_max_connections_per_ip": 50})
    ok(p.reload(), "limit raised again")
    time.sleep(0.5)     # the refused connections above are closed by now

    # ---- AUTH on both loops through the one password pool ----
    r = p.posternctl("account", "add", "app1", "--domain", "example.com", "--password-stdin",
                     input="loops-secret-1\n")
    start = p.log_size()
    authed = 0
    for i in range(10):
        s = p.smtp("submission")
        try:
            s.ehlo("client.test")
            s.login("app1", "loops-secret-1")
            s.mail("app%d@example.com" % i)
            s.rcpt("auth%d@loops.test" % i)
            code, _ = s.data("Subject: auth %d\r\n\r\nx\r\n" % i)
            authed += code == 250
        except Exception as e:
            note("auth session %d: %r" % (i, e))
        finally:
            try:
                s.quit()
            except Exception:
                pass
    is_(authed, 10, "AUTH and submission work on every loop (10 of 10; account add rc %d)"
        % r.returncode)
    loops = set(re.findall(r"event=connect listener=submission client=\S+ loop=(\d)",
                           p.log(start)))
    note("AUTH sessions on loops %s" % sorted(loops))
    nice19 = 0
    for tid in os.listdir("/proc/%d/task" % p.pid):
        try:
            stat = open("/proc/%d/task/%s/stat" % (p.pid, tid)).read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[16] == "19":   # field 19: nice
            nice19 += 1
    is_(nice19, 1, "one password-check thread (smtpd_auth_threads = 1) for both loops")

    # ---- one TLS context: a session from one loop resumes on the other ----
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    start = p.log_size()
    sess, reused, tls_ok = None, 0, 0
    for i in range(12):
        raw = socket.create_connection((host, p.ports["submissions"]), timeout=10)
        t = ctx.wrap_socket(raw, server_hostname="postern.test", session=sess)
        f = t.makefile("rb")
        if f.readline().startswith(b"220"):
            t.sendall(b"EHLO client.test\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            tls_ok += 1
        if i > 0 and t.session_reused:
            reused += 1
        sess = t.session
        t.sendall(b"QUIT\r\n")
        f.readline()
        t.close()
    loops = set(re.findall(r"event=connect listener=submissions client=\S+ loop=(\d)",
                           p.log(start)))
    is_((tls_ok, reused), (12, 11), "implicit TLS on every loop, and 11 of 11 later "
        "connections resume the first one's session (loops %s)" % sorted(loops))

    # ---- SIGTERM drains both loops ----
    # Open sessions until both loops hold some (each mid-transaction).
    start = p.log_size()
    open_ = []
    for i in range(12):
        s, f, line = banner(host, port)
        s.sendall(b"EHLO client.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        s.sendall(b"MAIL FROM:<drain%d@example.com>\r\n" % i)
        f.readline()
        open_.append((s, f))
    loops = set(re.findall(r"event=connect listener=relay client=\S+ loop=(\d)", p.log(start)))
    note("drain sessions on loops %s" % sorted(loops))
    p.signal(signal.SIGTERM)
    replies = []
    for s, f in open_:
        try:
            replies.append(f.readline().decode("ascii", "replace"))
        except Exception as e:
            replies.append(repr(e))
        s.close()
    ok(all(r.startswith("421 4.3.2") for r in replies),
       "SIGTERM: every open session on every loop gets 421 4.3.2 (%s)" % replies[:2])
    rc = p.proc.wait(60)
    is_(rc, 0, "posternd exits 0 after draining both loops")

    # ---- kill -9 durability under concurrent SMTP with two loops ----
    p.write_conf({"delivery_enabled": "no"})
    p.start()
    n = [0]
    nlock = threading.Lock()

    def submit():
        with nlock:
            n[0] += 1
            k = 10000 + n[0]
        return send_one(p, k)

    acked, errs = crash_under_load(p, submit, threads=8, min_acked=150)
    present = set(queue_ids(p))
    missing = set(acked) - present
    # acked also holds messages delivered before delivery was off: none here
    is_(len(missing), 0, "kill -9 with two loops: no acknowledged message lost "
        "(%d acknowledged, %d missing)" % (len(acked), len(missing)))
    p.stop()
    done()


main()
