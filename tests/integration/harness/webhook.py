# SPDX-License-Identifier: ISC
"""harness.webhook: a local HTTP receiver for postern's signed webhooks
(issue 19), in a thread on 127.0.0.1: records every POST, answers 200 or,
as scripted, 500; verify() checks X-Postern-Signature."""

import hashlib
import hmac
import http.server
import json
import threading
import time

from .core import TIME_SCALE

SECRET = b"s3cret-for-tests"


class Receiver:
    """An HTTP server in a thread: records POSTs, answers from a script."""

    def __init__(self):
        self.posts = []
        self.fail = 0          # answer 500 to the next N posts
        self.always_fail = False
        self.lock = threading.Lock()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rec.lock:
                    failing = rec.always_fail or rec.fail > 0
                    if rec.fail > 0:
                        rec.fail -= 1
                    rec.posts.append({"headers": dict(self.headers), "body": body,
                                      "status": 500 if failing else 200, "path": self.path})
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def ok_events(self, qid=None):
        with self.lock:
            out = []
            for p in self.posts:
                if p["status"] != 200:
                    continue
                b = json.loads(p["body"])
                if qid is None or b["queue_id"] == qid:
                    out.append(b)
            return out

    def wait(self, pred, timeout=30):
        deadline = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.1)
        return False

    def close(self):
        self.srv.shutdown()


def verify(post, secret=SECRET):
    ts = post["headers"].get("X-Postern-Timestamp", "")
    sig = post["headers"].get("X-Postern-Signature", "")
    want = "v1=" + hmac.new(secret, ts.encode() + b"." + post["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, want), ts
