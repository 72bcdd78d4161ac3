#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_smtp_backpressure: a client that pipelines commands but never
reads our replies is disconnected once more than LISTENER_MAX_UNSENT
(1 MiB) of replies wait in the stream's uv_write requests
(src/net/stream.c's unsent count, checked by src/inbound/listener.c),
logged as event=disconnect reason=not_reading; a normal client on the
same daemon is served before and after.
"""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def main():
    plan(3)
    p = Postern(name="backpressure").start()
    host, port = p.host, p.ports["relay"]
    s = p.smtp("relay")
    is_(s.noop()[0], 250, "a reading client is served")
    s.quit()

    start = p.log_size()
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.connect((host, port))
    batch = b"NOOP\r\n" * 20000
    stop = threading.Event()

    def flood():
        try:
            for _ in range(100):        # up to 12 MB of input, 2M replies
                if stop.is_set():
                    return
                c.sendall(batch)
        except OSError:
            pass
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        m = p.wait_log(r"event=disconnect reason=not_reading", timeout=30, start=start)
    except HarnessError:
        m = None
    ok(m is not None, "a client that never reads is disconnected (not_reading)")
    stop.set()
    c.close()
    t.join(5)
    s = p.smtp("relay")
    is_(s.noop()[0], 250, "the daemon still serves new clients")
    s.quit()
    p.stop()
    return done()


if __name__ == "__main__":
    sys.exit(main())
