#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_tls_resume: TLS session resumption for returning clients on the
submission listeners (issue 20 item 4; src/net/tls.c).

`openssl s_client -sess_out` keeps the session of a first handshake
(STARTTLS on the submission port, implicit TLS on the submissions
port, TLS 1.3 and TLS 1.2), and a second handshake with `-sess_in` must
be resumed ("Reused").  The ticket keys belong to the process, not to
a TLS context: a SIGHUP that rebuilds the listeners' contexts keeps
them, so a client's ticket from before the reload still resumes
(before, each context drew its own keys and the reload made every
ticket useless); posternd logs "resumed=yes"; a restart draws new ones (nothing is written to disk),
so the old ticket then gives a full handshake.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def s_client(p, port, sess, resume, starttls, version):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-ign_eof",
           "-" + version]
    if starttls:
        cmd += ["-starttls", "smtp"]
    cmd += ["-sess_in" if resume else "-sess_out", sess]
    r = subprocess.run(cmd, input=b"QUIT\r\n", capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    if "Reused" in out:
        return "reused"
    if "New," in out:
        return "new"
    diag(out[-400:] + r.stderr.decode("utf-8", "replace")[-400:])
    return "failed"


def main():
    plan(11)
    p = Postern(name="tlsresume").start()
    cases = [("submission", True, "tls1_3"), ("submission", True, "tls1_2"),
             ("submissions", False, "tls1_3"), ("submissions", False, "tls1_2")]
    for listener, starttls, version in cases:
        sess = os.path.join(p.dir, "sess-%s-%s" % (listener, version))
        is_(s_client(p, p.ports[listener], sess, False, starttls, version), "new",
            "%s %s: first handshake is a full one" % (listener, version))
        is_(s_client(p, p.ports[listener], sess, True, starttls, version), "reused",
            "%s %s: the returning client's handshake is resumed" % (listener, version))
    ok(p.log_lines(r"event=tls version=TLSv1\.3 .*resumed=yes"),
       "posternd logs the resumed handshakes (event=tls ... resumed=yes)")
    sess = os.path.join(p.dir, "sess-reload")
    s_client(p, p.ports["submission"], sess, False, True, "tls1_3")
    p.reload()
    is_(s_client(p, p.ports["submission"], sess, True, True, "tls1_3"), "reused",
        "a ticket from before a SIGHUP still resumes (keys belong to the process)")
    p.restart()
    is_(s_client(p, p.ports["submission"], sess, True, True, "tls1_3"), "new",
        "after a restart the old ticket gives a full handshake (keys are not on disk)")
    p.stop()


run(main)
