#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_e2e: SMTP in, queue, SMTP out, at volume and across a crash.

1. 1,000 messages (small, large, dot-leading lines, several recipients)
   are submitted to posternd's submission listener (STARTTLS + AUTH
   PLAIN, as a customer app does) and must each arrive at the sink
   exactly once per recipient, byte-identical apart from the header
   fields posternd adds at the top.
2. The kill -9 test through SMTP in and SMTP out: messages are submitted
   while posternd delivers them; posternd is killed with SIGKILL part-way;
   after a restart every acknowledged message must be delivered.
   Duplicates (delivered before the crash, reported after) are counted
   and reported, not failed: delivery is at-least-once.
"""

import collections
import os
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401

N = int(os.environ.get("POSTERN_E2E_MESSAGES", "1000"))
ACCOUNT, PASSWORD = "e2e", "e2e-password-0123456789"


def open_session(p):
    """A submission session: STARTTLS, then AUTH PLAIN as ACCOUNT."""
    s = p.smtp("submission")
    s.starttls(context=client_tls_context())
    s.login(ACCOUNT, PASSWORD)
    return s


def make_message(i):
    lines = ["From: <sender%d@sender.test>" % (i % 7),
             "To: <r%d@e2e.test>" % i,
             "Subject: e2e message %d" % i,
             "Message-ID: <e2e.%d@sender.test>" % i,
             "Date: Mon, 23 Nov 2026 09:00:00 +0000",
             "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=us-ascii",
             "",
             "Message number %d." % i,
             ".a line that starts with a dot",
             "..two dots",
             "."]
    if i % 100 == 7:
        lines += ["%05d %s" % (k, "x" * 70) for k in range(1500)]	# ~100 KB
    lines += ["end of %d" % i, ""]
    return "\r\n".join(lines).encode()


def submit(p, msgs, acked, stop=None):
    """Send MSGS ({i: (rcpts, bytes)}) over one session per 50; record acked ids."""
    s = None
    for n, (i, (rcpts, data)) in enumerate(sorted(msgs.items())):
        if stop is not None and stop.is_set():
            return
        try:
            if s is None or n % 50 == 0:
                if s is not None:
                    s.quit()
                s = open_session(p)
            s.sendmail("sender@sender.test", rcpts, data)
            acked.append(i)
        except (smtplib.SMTPException, OSError):
            s = None
            if stop is not None:
                return
            raise
    if s is not None:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def main():
    plan(7)
    sink = Sink(host="127.0.0.2", name="e2e").start()
    p = Postern(conf={
        "transport": "e2e.test=[127.0.0.2]:%d" % sink.port,
        "retry_schedule": "1s",
        "smtp_destination_concurrency": "10",
    })
    p.start()
    r = p.posternctl("account", "add", ACCOUNT, "--domain", "sender.test",
                     "--password-stdin", input=PASSWORD + "\n")
    if r.returncode != 0:
        diag("account add: %s" % (r.stdout + r.stderr))

    # -- 1. N messages, exactly once, byte-identical -----------------------
    msgs = {}
    for i in range(N):
        rcpts = ["r%d@e2e.test" % i] + (["cc%d@e2e.test" % i] if i % 10 == 3 else [])
        msgs[i] = (rcpts, make_message(i))
    want = sum(len(r) for r, _ in msgs.values())
    acked = []
    t0 = time.monotonic()
    submit(p, msgs, acked)
    is_(len(acked), N, "%d messages accepted" % N)
    wait_for(lambda: sum(len(m.rcpt_tos) for m in sink.messages()) >= want, 240,
             what="%d deliveries" % want)
    elapsed = time.monotonic() - t0
    got = sink.messages()
    per_rcpt = collections.Counter(r for m in got for r in m.rcpt_tos)
    is_(sum(per_rcpt.values()), want, "%d recipient deliveries" % want)
    ok(all(v == 1 for v in per_rcpt.values()) and len(per_rcpt) == want,
       "every recipient got its message exactly once")
    bad = []
    for m in got:
        i = int(m.rcpt_tos[0].split("@")[0].lstrip("rc"))
        if not m.data.endswith(msgs[i][1]):
            bad.append(i)
    ok(not bad, "all bodies byte-identical apart from added header fields%s" %
       ("" if not bad else " (first bad: %d)" % bad[0]))
    diag("%d messages in %.1fs: %.0f msg/s accepted-to-delivered" % (N, elapsed, N / elapsed))
    is_(p.stop(), 0, "clean stop")

    # -- 2. kill -9 in the middle -------------------------------------------
    sink.reset()
    base = len(sink.messages())
    p.start()
    crash = {}
    for i in range(N, N + 400):
        crash[i] = (["k%d@e2e.test" % i], make_message(i))
    acked2 = []
    stop = threading.Event()
    th = threading.Thread(target=submit, args=(p, crash, acked2, stop))
    th.start()
    wait_for(lambda: len(acked2) >= 150 or not th.is_alive(), 60, what="150 acknowledged")
    p.kill9()
    stop.set()
    th.join(30)
    acked_set = set(acked2)
    diag("killed after %d acknowledged messages" % len(acked_set))
    p.start()
    def delivered():
        return collections.Counter(r for m in sink.messages()[base:] for r in m.rcpt_tos)
    try:
        wait_for(lambda: all(delivered().get("k%d@e2e.test" % i) for i in acked_set), 120,
                 what="every acknowledged message delivered")
    except HarnessError as e:
        diag(str(e))
    d = delivered()
    missing = [i for i in acked_set if not d.get("k%d@e2e.test" % i)]
    ok(not missing, "after kill -9 and restart every acknowledged message was delivered "
       "(%d acknowledged, %d missing)" % (len(acked_set), len(missing)))
    dups = sum(v - 1 for v in d.values() if v > 1)
    diag("duplicates after the crash: %d" % dups)
    is_(p.stop(), 0, "clean stop after the restart")
    done()


run(main)
