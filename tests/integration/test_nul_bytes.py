#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_nul_bytes: the NUL policy (issue 12 item 13; postern.conf(5)
smtpd_reject_nul).

RFC 5321/5322 mail text has no NUL and postern offers no BINARYMIME, so
by default a message holding NUL (in a header or the body, by DATA or by
BDAT) is refused 554 5.6.0 and the session stays usable.  With
smtpd_reject_nul = no it is accepted, and then the operator must still
be able to read it: `posternctl queue show` used to fail with "json:
\\u0000 not allowed" (the daemon wrote \\u0000, posternctl's parser
refused it).  Checked: show, show --json (the NUL round-trips), show
--body, and queue list of such a message.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import Raw, queued_id  # noqa: E402

MSG = (b"From: <a@example.com>\r\nTo: <b@example.net>\r\nSubject: a\x00b\r\n\r\n"
       b"body with a \x00 NUL\r\n")


def send_data(p, msg):
    c = Raw(p.host, p.ports["relay"])
    c.reply()
    c.cmd("EHLO client.test")
    c.cmd("MAIL FROM:<a@example.com>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    c.send(msg + b".\r\n")
    r = c.reply()
    return c, r


def main():
    plan(13)
    p = Postern(name="nul", conf={"delivery_enabled": False}).start()

    c, r = send_data(p, MSG)
    ok(r and r[0] == 554 and r[1].startswith("5.6.0"), "DATA with NUL: 554 5.6.0 (%r)" % (r,))
    r2 = c.cmd("MAIL FROM:<a@example.com>")
    is_(r2[0] if r2 else None, 250, "the session stays usable after the refusal")
    e = c.cmd("EHLO client.test")
    c.cmd("RSET")
    if e and "CHUNKING" in e[1]:
        c.cmd("MAIL FROM:<a@example.com>")
        c.cmd("RCPT TO:<b@example.net>")
        c.send(b"BDAT %d LAST\r\n" % len(MSG) + MSG)
        r = c.reply()
        ok(r and r[0] == 554, "BDAT with NUL: 554 too (%r)" % (r,))
    else:
        ok(False, "CHUNKING offered")
    c.close()
    lst = p.posternctl("queue", "list", "--json")
    ok(lst.returncode == 0 and json.loads(lst.stdout).get("messages") == [], "nothing was queued (%r %r)" % (lst.stdout, lst.stderr))

    # ---- accepted on request: the operator still reads it ----
    p.write_conf({"smtpd_reject_nul": False})
    p.reload()
    c, r = send_data(p, MSG)
    c.close()
    qid = queued_id(r[1]) if r and r[0] == 250 else None
    ok(qid, "smtpd_reject_nul = no: accepted (%r)" % (r,))
    s = p.posternctl("queue", "show", qid or "-")
    is_(s.returncode, 0, "queue show of a message with NUL works (%s)" % s.stderr.strip())
    like(s.stdout, r"Subject: a\^@b", "the header's NUL is shown as ^@")
    s = p.posternctl("queue", "show", qid or "-", "--json")
    try:
        hdrs = json.loads(s.stdout).get("headers", "")
    except ValueError:
        hdrs = None
    ok(hdrs is not None and "Subject: a\x00b" in hdrs, "queue show --json: the NUL round-trips as \\u0000")
    s = subprocess_bytes(p, "queue", "show", qid or "-", "--body")
    ok(s is not None and b"body with a \x00 NUL" in s, "queue show --body prints the stored bytes")
    lst = p.posternctl("queue", "list")
    is_(lst.returncode, 0, "queue list with such a message")
    like(lst.stdout, qid or "-", "... lists it")
    # a control request is names and ids: NUL in one is refused, not truncated
    import socket
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect(p.control_socket)
    u.sendall(b'{"cmd":"queue.show","args":{"id":"%s\\u0000x"}}\n' % (qid or "-").encode())
    resp = b""
    while not resp.endswith(b"\n"):
        chunk = u.recv(65536)
        if not chunk:
            break
        resp += chunk
    u.close()
    resp = json.loads(resp) if resp else {}
    ok(resp.get("status") == 2 and "NUL" in resp.get("error", ""),
       "a control request with NUL in a string is refused (%r)" % (resp,))
    is_(p.stop(), 0, "posternd stops cleanly (exit 0: no sanitizer report)")


def subprocess_bytes(p, *args):
    import subprocess
    env = dict(os.environ, POSTERN_CONF=p.conf_path, POSTERN_CONTROL_SOCKET=p.control_socket)
    r = subprocess.run([p.posternctl_path, "-c", p.conf_path] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.stdout if r.returncode == 0 else None


run(main)
