#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_smtp_deadlines: trickling clients meet deadlines that bytes do
not move (issue 12 item 12).

The idle timeout (smtpd_timeout, here 30 s) restarts on every byte, so a
client sending one byte every 200 ms used to hold its connection for as
long as it liked, also inside a half-sent TLS handshake.  Checked with
real trickling sockets against posternd: an implicit-TLS handshake and a
STARTTLS handshake that never complete are closed
(smtpd_tls_handshake_timeout, event=timeout reason=tls_handshake); a
command line trickled byte by byte gets 421 4.4.2 (smtpd_command_timeout,
reason=command); a client sending NOOP after NOOP, each answered, is
ended by smtpd_session_timeout (421, reason=session); and a pause
between commands longer than smtpd_command_timeout is not a timeout
(the command clock starts at a command's first byte).  A deadline that
passes while the client waits on posternd (here an AUTH slow-down) is
applied once the answer is out, and the timer does not spin meanwhile
(posternd's CPU time over the wait stays well below the wait).  Each trickle is
far longer than the deadline it tests, so nothing here is a timing
assertion: what is checked is that the server ends it at all.
"""

import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import Raw  # noqa: E402

TRICKLE = 50          # bytes (or commands), one per STEP seconds
STEP = 0.2            # 10 s in all: 10x the deadlines under test


def server_closed(sock):
    """True when the peer has closed SOCK (EOF or reset); drains data."""
    while True:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, OSError):
            return True
        if not chunk:
            return True


def trickle_until_closed(sock, data):
    """Send DATA one byte per STEP; the number of bytes sent when the
    server closed, or None if it never did."""
    for i in range(len(data)):
        if server_closed(sock):
            return i
        try:
            sock.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError, OSError):
            return i
        time.sleep(STEP)
    return None


# A TLS record header announcing 512 bytes of ClientHello, then zeros:
# OpenSSL waits for the whole record, so the handshake never completes
# and never fails on its own.
PARTIAL_HELLO = b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + b"\x00" * (TRICKLE - 11)


def main():
    plan(16)
    p = Postern(name="deadlines", conf={
        "smtpd_timeout": "30s",
        "smtpd_tls_handshake_timeout": "1s",
        "smtpd_command_timeout": "1s",
        "smtpd_session_timeout": "4s",
    }).start()

    # ---- implicit TLS: a handshake that never ends ----
    start = p.log_size()
    s = socket.create_connection((p.host, p.ports["submissions"]), timeout=15)
    n = trickle_until_closed(s, PARTIAL_HELLO)
    s.close()
    ok(n is not None, "implicit TLS: a trickled, never-finished handshake is closed "
       "(after %s of %d bytes)" % (n, len(PARTIAL_HELLO)))
    like(p.log(start), r"event=timeout reason=tls_handshake", "logged reason=tls_handshake")

    # ---- STARTTLS: the same after 220 Ready ----
    start = p.log_size()
    c = Raw(p.host, p.ports["submission"])
    c.reply()
    c.cmd("EHLO client.test")
    r = c.cmd("STARTTLS")
    is_(r[0], 220, "STARTTLS 220")
    n = trickle_until_closed(c.sock, PARTIAL_HELLO)
    c.close()
    ok(n is not None, "STARTTLS: a trickled handshake is closed (after %s bytes)" % n)
    like(p.log(start), r"event=timeout reason=tls_handshake", "logged for STARTTLS too")

    # ---- one command line, one byte at a time ----
    start = p.log_size()
    c = Raw(p.host, p.ports["relay"])
    c.reply()
    n = trickle_until_closed(c.sock, b"EHLO " + b"a" * (TRICKLE - 5))
    ok(n is not None, "a command trickled byte by byte is ended (after %s bytes)" % n)
    like(c.buf.decode() + p.log(start), r"421 4\.4\.2|event=timeout reason=command",
         "421 4.4.2 / event=timeout reason=command")
    like(p.log(start), r"event=timeout reason=command", "logged reason=command")
    c.close()

    # ---- a pause between commands is not a command timeout ----
    c = Raw(p.host, p.ports["relay"])
    c.reply()
    c.cmd("EHLO client.test")
    time.sleep(1.5)
    r = c.cmd("NOOP")
    ok(r is not None and r[0] == 250, "idle 1.5 s between commands (> command timeout): NOOP 250")
    c.close()

    # ---- NOOP forever: the session deadline ----
    start = p.log_size()
    c = Raw(p.host, p.ports["relay"])
    c.reply()
    got421 = False
    for _ in range(TRICKLE):
        r = c.cmd("NOOP")
        if r is None or r[0] != 250:
            got421 = r is not None and r[0] == 421
            break
        time.sleep(STEP)
    ok(got421, "NOOP every %.1f s, each answered: ended with 421 by smtpd_session_timeout" % STEP)
    like(p.log(start), r"event=timeout reason=session", "logged reason=session")
    c.close()
    is_(p.stop(), 0, "posternd stops cleanly (exit 0: no sanitizer report)")

    # ---- the session deadline passes while the client waits on us ----
    q = Postern(name="deadlines-pending", tls=False, conf={
        "smtpd_auth_in_clear": True, "smtpd_submissions_listen": "",
        "smtpd_session_timeout": "1s", "smtpd_auth_failure_delay": "0",
        "smtpd_auth_slowdown_threshold": 1, "smtpd_auth_slowdown_max": "10s",
    }).start()
    for src in ("127.0.0.5", "127.0.0.6"):	# two failures: the next attempt waits 2 s
        c = Raw(q.host, q.ports["submission"], source=src)
        c.reply()
        c.cmd("EHLO client.test")
        c.auth_plain("someone", "wrong")
        c.close()
    c = Raw(q.host, q.ports["submission"], source="127.0.0.7", timeout=30)
    c.reply()
    c.cmd("EHLO client.test")
    cpu0 = cpu_seconds(q.pid)
    t0 = time.monotonic()
    r = c.auth_plain("someone", "wrong")
    waited = time.monotonic() - t0
    cpu = cpu_seconds(q.pid) - cpu0
    ok(r is not None and r[0] == 535, "the slowed AUTH is answered after the deadline passed (%r)" % (r,))
    ok(cpu < waited / 2, "no timer spin while waiting on us: %.2f s CPU over %.2f s" % (cpu, waited))
    r = c.cmd("NOOP")
    ok(r is None or r[0] == 421, "then the passed session deadline ends the session (%r)" % (r,))
    c.close()
    is_(q.stop(), 0, "posternd stops cleanly (exit 0: no sanitizer report)")


def cpu_seconds(pid):
    """User + system CPU time of PID, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


run(main)
