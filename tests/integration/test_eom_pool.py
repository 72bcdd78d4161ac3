#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_eom_pool: one slow message holds neither the loop nor the other
messages (issue 20 item 4; src/inbound/relay.c runs the end-of-message
stages of a message over smtpd_eom_inline_max, 64 KiB by default, in
libuv's pool, sized by smtpd_eom_threads; a small one's on its loop,
test_eom_inline).

A 20 MiB message of words and invoice numbers (DLP scanning, spam
tokenizing and the commit of 20 MiB take a while) is sent on one
connection; once posternd has read all of it, final dot included (its
socket's queues in /proc/net/tcp are empty), a second connection asks NOOP
and a third sends a small message.  Checked, by order, not by time:
the NOOP is answered while the big message's end-of-message work still
runs (its 250 has not come), and the small message's 250 comes before
the big one's (the pool has more than one thread: the small message's
work does not wait behind the big one's).  Were the stages run on the
event loop, or the pool one thread wide, both answers would come after
the big message's 250.

The spam model is made active first (spam_min_learned = 1, one message
learned as spam and one as ham), so the big message is tokenized whole:
without a model the spam stage reads only the model's totals, and the
big message's work could end before the small one arrives.
"""

import os
import select
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import ehlo_session  # noqa: E402


def pending(c):
    """Has C's reply (or any byte) arrived yet?"""
    if c.buf:
        return True
    r, _, _ = select.select([c.sock], [], [], 0)
    return bool(r)


def queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the loopback TCP socket LOCAL_PORT -> REMOTE_PORT."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            lp = int(fields[1].split(":")[1], 16)
            rp = int(fields[2].split(":")[1], 16)
            if lp == local_port and rp == remote_port:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def all_read(p, c):
    """Every byte C sent has been read by posternd (its final dot included):
    nothing left in our send queue, nothing unread in the server's socket."""
    mine = c.sock.getsockname()[1]
    cq, sq = queues(mine, p.ports["relay"]), queues(p.ports["relay"], mine)
    return cq is not None and sq is not None and cq[0] == 0 and sq[1] == 0


def main():
    plan(6)
    p = Postern(name="eompool", conf={
        "smtpd_relay_networks": "127.0.0.0/8",
        "smtpd_eom_threads": 4,
        "message_size_limit": "64m",
        "smtpd_timeout": "120s",
        "spam_min_learned": "1",
    }).start()
    for kind, text in (("--spam", "Subject: cheap pills\r\n\r\nbuy cheap pills now\r\n"),
                       ("--ham", "Subject: invoice\r\n\r\nyour invoice for March\r\n")):
        path = os.path.join(p.dir, "learn%s.eml" % kind)
        with open(path, "w") as f:
            f.write(text)
        r = p.posternctl("spam", "learn", kind, path)
        if r.returncode != 0:
            bail_out("spam learn %s failed: %s" % (kind, r.stderr.strip()))
    big, noop, small = (ehlo_session(p, timeout=120) for _ in range(3))
    line = ("Invoice 2024-0042 card 4111 1111 1111 1111 total 17.50 for the quick brown "
            "fox jumps over the lazy dog %d\r\n")
    body = "".join(line % i for i in range(20 * 1024 * 1024 // 100))
    head = "From: <a@example.test>\r\nTo: <b@example.test>\r\nSubject: big\r\n\r\n"
    for c in (big, small):
        c.cmd("MAIL FROM:<a@example.test>")
        c.cmd("RCPT TO:<b@example.test>")
        is_(c.cmd("DATA")[0], 354, "DATA accepted")
    big.send(head + body + ".\r\n")
    # posternd has read the whole message, the final dot included, so its
    # end-of-message work has been dispatched (not timed: socket queues)
    wait_for(lambda: all_read(p, big), timeout=60, what="the big message read by posternd")
    ok(not pending(big), "the big message's 250 has not come yet")
    noop.send("NOOP\r\n")
    small.send(head + "small\r\n.\r\n")
    r = noop.reply()
    ok(r is not None and r[0] == 250 and not pending(big),
       "NOOP answered while the big message's end-of-message work still runs")
    r = small.reply()
    ok(r is not None and r[0] == 250 and not pending(big),
       "the small message's 250 came before the big one's (%s)" % (r,))
    r = big.reply()
    is_(r[0] if r else None, 250, "the big message is accepted too")
    for c in (big, noop, small):
        c.close()
    p.stop()


run(main)
