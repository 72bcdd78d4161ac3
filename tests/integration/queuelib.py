# SPDX-License-Identifier: ISC
"""queuelib: helpers for tests that drive and inspect postern's queue.

  control(p, cmd, args)     one request on the control socket (JSON line
                            protocol, posternctl(8)); returns the parsed
                            response {"ok", "status", "result"|"error"}.
  inject(p, rcpts, data)    commit a message through the hidden
                            operator-only `queue.inject` command (until
                            the SMTP server exists); returns the id or None.
  queue_ids(p)              ids of every message (posternctl queue list --json,
                            works with the daemon stopped).
  file_contains(path, b)    raw byte search (data.mdb privacy checks).
  crash_under_load(p, submit, ...)
                            the kill -9 durability test, reusable end to end:
                            SUBMIT() is called from several threads in a
                            loop and returns an id once the message is
                            acknowledged (e.g. the queue id of a 250 reply)
                            or None; after MIN_ACKED acknowledgements the
                            daemon is killed with SIGKILL while the
                            clients keep submitting, then restarted.
                            Returns (acked_ids, errors).  The caller checks
                            that every acked id is present: nothing
                            acknowledged may be lost.

      acked, errors = crash_under_load(p, lambda: inject(p, ["a@x.test"], MSG))
      missing = set(acked) - set(queue_ids(p))
"""

import json
import os
import socket
import threading
import time

from harness import HarnessError, TIME_SCALE, wait_for


def control(p, cmd, args=None, timeout=30.0, sock_path=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout * TIME_SCALE)
    try:
        s.connect(sock_path or p.control_socket)
        s.sendall((json.dumps({"cmd": cmd, "args": args or {}}) + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("control socket closed without a response")
            buf += chunk
        return json.loads(buf.split(b"\n", 1)[0])
    finally:
        s.close()


def inject(p, rcpts, data, sender="sender@example.test", account="", held=False):
    """Commit a message; the id once it is durable, else None."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    r = control(p, "queue.inject", {"account": account, "sender": sender,
                                    "rcpts": list(rcpts), "data": data, "held": held})
    if r.get("ok"):
        return r["result"]["id"]
    return None


def queue_ids(p):
    return [m["id"] for m in p.posternctl_json("queue", "list", "--all")["messages"]]


def file_contains(path, needle):
    if isinstance(needle, str):
        needle = needle.encode()
    # chunk by chunk: data.mdb is as large as its map (reserved space)
    with open(path, "rb") as f:
        tail = b""
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return False
            if needle in tail + chunk:
                return True
            tail = chunk[-(len(needle) - 1):] if len(needle) > 1 else b""


def crash_under_load(p, submit, threads=8, min_acked=200, timeout=120.0):
    """See the module docstring.  The daemon is running on return."""
    acked = []
    errors = []
    lock = threading.Lock()
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                qid = submit()
            except Exception as e:      # connection refused/reset once killed
                with lock:
                    errors.append(repr(e))
                time.sleep(0.01)
                continue
            if qid:
                with lock:
                    acked.append(qid)

    ts = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    try:
        wait_for(lambda: len(acked) >= min_acked, timeout=timeout,
                 what="%d acknowledged submissions" % min_acked)
        p.kill9()
        # Keep the clients hammering the dead socket for a moment.
        time.sleep(0.2)
    finally:
        stop.set()
        for t in ts:
            t.join(30)
    with lock:
        result = list(acked)
    p.start()
    return result, errors
