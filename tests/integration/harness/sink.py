# SPDX-License-Identifier: ISC
"""harness.sink: Sink (aiosmtpd, scriptable), SinkMessage, SmtpSink (Postfix's smtp-sink) (see harness/__init__.py)."""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

from .core import (HERE, HarnessError, PYTHON, _fixtures, _kill_pid, _netns_prefix, _tail_lines, diag, free_port, make_cert, ok, run, tmpdir, wait_for)

class SinkMessage:
    """One message the sink accepted: envelope, data (bytes) and session facts."""

    def __init__(self, meta, data):
        self.meta = meta
        self.data = data
        self.mail_from = meta["mail_from"]
        self.rcpt_tos = meta["rcpt_tos"]
        self.mail_options = meta.get("mail_options", [])
        self.rcpt_options = meta.get("rcpt_options", [])
        self.helo = meta.get("helo")
        self.tls = meta.get("tls", False)
        self.conn = meta.get("conn")
        self.peer = meta.get("peer")

    def __repr__(self):
        return "<SinkMessage from=%r to=%r %d bytes>" % (self.mail_from, self.rcpt_tos, len(self.data))

    def header(self, name):
        """First header NAME of the message (unfolded str) or None."""
        import email
        from email import policy
        msg = email.message_from_bytes(self.data, policy=policy.compat32)
        v = msg.get(name)
        return None if v is None else re.sub(r"\r?\n[ \t]+", " ", str(v))


class Sink:
    """A real SMTP server on HOST:PORT (127.0.0.x; a free port by default).

        sink = Sink(host="127.0.0.2", tls=True).start()
        sink.on_rcpt("bob@example.test", "450 4.2.0 busy", "250 2.0.0 ok")
        sink.on_data("554 5.7.1 no")           # every DATA rejected
        ... deliver ...
        msgs = sink.wait_messages(1)           # [SinkMessage]
        sink.connections()                     # connections seen so far

    Replies are scripted per stage: on_connect(), on_mail(), on_rcpt(addr)
    (addr "*" = any recipient without its own rule) and on_data(); each
    takes replies used in order, the Nth reply for the Nth time that stage
    (or that recipient) is reached, the last one repeating.  A reply is an
    SMTP reply line ("250 2.1.5 ok", "450 4.2.1 later", "550 5.1.1 no"),
    "drop" (close the connection without a reply), "hang" (never
    answer) or "sleep SECONDS [REPLY]" (wait, then answer REPLY, or as
    unscripted: a slow peer, for tests that need deliveries in flight;
    RCPT and DATA only).  Unscripted stages accept.  Only messages whose DATA got a
    2xx are stored; events() lists every command and reply seen."""

    def __init__(self, host="127.0.0.1", port=0, tls=False, netns=None, name="sink",
                 hostname="sink.test"):
        self.dir = tmpdir("postern-sink-")
        self.host = host
        self.port = port
        self.tls = tls
        self.netns = netns
        self.name = name
        self.hostname = hostname
        self.proc = None
        self.rules = {"gen": 0}
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_cert(self.dir, hostname)
        self._dumped = 0
        self._save_rules()
        _fixtures.append(self)

    def __repr__(self):
        return "<Sink %s:%s>" % (self.host, self.port)

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self, timeout=15.0):
        args = _netns_prefix(self.netns) + [PYTHON, "-m", "harness", "sink", "--dir", self.dir,
                                            "--listen", "%s:%d" % (self.host, self.port),
                                            "--hostname", self.hostname]
        if self.tls:
            args += ["--tls-cert", self.cert, "--tls-key", self.key]
        self._err = open(os.path.join(self.dir, "sink.err"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._err, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
                                               PYTHONPATH=os.path.dirname(HERE)))
        line = self.proc.stdout.readline().decode()
        m = re.match(r"ready (\d+)", line)
        if not m:
            self.proc.wait()
            raise HarnessError("sink did not start: %s" % open(os.path.join(self.dir, "sink.err")).read())
        self.port = int(m.group(1))
        return self

    def stop(self):
        _kill_pid(self.proc)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def close(self):
        self.stop()

    # -- scripting -------------------------------------------------------

    def _save_rules(self):
        path = os.path.join(self.dir, "rules.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.rules, f)
        os.replace(path + ".tmp", path)

    def _set(self, key, replies, sub=None):
        for r in replies:
            if not (r in ("drop", "hang") or re.match(r"[2-5]\d\d[ -]", r + " ") or
                    re.match(r"sleep \d+(\.\d+)?( [2-5]\d\d .*)?$", r)):
                raise HarnessError("bad sink reply %r" % r)
        if sub is None:
            self.rules[key] = list(replies)
        else:
            self.rules.setdefault(key, {})[sub.lower()] = list(replies)
        self._save_rules()
        return self

    def on_connect(self, *replies):
        """Greeting per connection: "220 ..." (default), "421 ...", "drop", "hang"."""
        return self._set("connect", replies)

    def on_ehlo(self, *replies):
        return self._set("ehlo", replies)

    def on_mail(self, *replies):
        return self._set("mail", replies)

    def on_rcpt(self, addr, *replies):
        return self._set("rcpt", replies, addr)

    def on_data(self, *replies):
        return self._set("data", replies)

    def reset(self):
        """Forget every rule and restart all per-stage counters."""
        self.rules = {"gen": self.rules["gen"] + 1}
        self._save_rules()
        return self

    # -- results ---------------------------------------------------------

    def messages(self):
        out = []
        d = os.path.join(self.dir, "msgs")
        if not os.path.isdir(d):
            return out
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".json"):
                with open(os.path.join(d, fn)) as f:
                    meta = json.load(f)
                with open(os.path.join(d, fn[:-5] + ".eml"), "rb") as f:
                    out.append(SinkMessage(meta, f.read()))
        return out

    def wait_messages(self, n, timeout=30.0):
        """Wait until at least N messages are stored; returns them all."""
        wait_for(lambda: len(self.messages()) >= n, timeout, what="%d message(s) at %s" % (n, self.address))
        return self.messages()

    def events(self):
        """Every event as a dict: {"conn", "ev", "arg", "reply"}; ev is one
        of connect, ehlo, mail, rcpt, data, starttls, close."""
        try:
            with open(os.path.join(self.dir, "events.jsonl")) as f:
                return [json.loads(l) for l in f if l.endswith("\n")]
        except OSError:
            return []

    def connections(self):
        return sum(1 for e in self.events() if e["ev"] == "connect")

    def dump(self):
        lines, self._dumped = _tail_lines(os.path.join(self.dir, "events.jsonl"), self._dumped, limit=60)
        err, _ = _tail_lines(os.path.join(self.dir, "sink.err"), 0, limit=20)
        if lines or err:
            diag("---- %s (%s) events" % (self.name, self.address))
            for l in lines + err:
                diag("  " + l)


def _sink_main(argv):
    """The sink server process: aiosmtpd on one socket until SIGTERM."""
    import argparse
    import asyncio
    import logging
    from aiosmtpd.smtp import SMTP

    ap = argparse.ArgumentParser(prog="python3 -m harness sink")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--hostname", default="sink.test")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args(argv)
    host, port = a.listen.rsplit(":", 1)
    host = host.strip("[]")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    msgdir = os.path.join(a.dir, "msgs")
    os.makedirs(msgdir, exist_ok=True)
    rules_path = os.path.join(a.dir, "rules.json")
    events = open(os.path.join(a.dir, "events.jsonl"), "a")
    st = {"rules": {}, "stamp": None, "gen": None, "counts": {}, "conns": 0, "msgs": 0}

    def rules():
        try:
            s = os.stat(rules_path)
            stamp = (s.st_ino, s.st_mtime_ns, s.st_size)
            if stamp != st["stamp"]:
                with open(rules_path) as f:
                    st["rules"] = json.load(f)
                st["stamp"] = stamp
                if st["rules"].get("gen") != st["gen"]:
                    st["gen"] = st["rules"].get("gen")
                    st["counts"] = {}
        except (OSError, ValueError):
            pass
        return st["rules"]

    def pick(stage, sub=None):
        """Next scripted reply for STAGE (and recipient SUB), or None."""
        r = rules().get(stage)
        key = stage
        if sub is not None and r is not None:
            if sub.lower() in r:
                r, key = r[sub.lower()], stage + ":" + sub.lower()
            else:
                r, key = r.get("*"), stage + ":*"
        if not r:
            return None
        n = st["counts"].get(key, 0)
        st["counts"][key] = n + 1
        return r[min(n, len(r) - 1)]

    def event(conn, ev, arg=None, reply=None):
        events.write(json.dumps({"conn": conn, "ev": ev, "arg": arg, "reply": reply}) + "\n")
        events.flush()

    tls_ctx = None
    if a.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(a.tls_cert, a.tls_key)

    async def hang():
        await asyncio.sleep(3600)

    def ok_reply(r):
        return r is None or r.startswith("2")

    async def slept(r):
        """A "sleep S [REPLY]" reply: wait S seconds, then REPLY (or None:
        answer as unscripted)."""
        if r is not None and r.startswith("sleep "):
            parts = r.split(" ", 2)
            await asyncio.sleep(float(parts[1]))
            return parts[2] if len(parts) > 2 else None
        return r

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            r = pick("ehlo")
            event(server.conn_no, "ehlo", hostname, r or responses[0])
            if r == "drop":
                server.transport.abort()
                return []
            if r == "hang":
                await hang()
            if not ok_reply(r):
                return [r]
            session.host_name = hostname
            return responses

        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            r = pick("mail")
            event(server.conn_no, "mail", address, r or "250 2.1.0 ok")
            if r == "drop":
                server.transport.abort()
                return "421 4.3.0 dropped"
            if r == "hang":
                await hang()
            if not ok_reply(r):
                return r
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return r or "250 2.1.0 ok"

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            r = await slept(pick("rcpt", address))
            event(server.conn_no, "rcpt", address, r or "250 2.1.5 ok")
            if r == "drop":
                server.transport.abort()
                return "421 4.3.0 dropped"
            if r == "hang":
                await hang()
            if not ok_reply(r):
                return r
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return r or "250 2.1.5 ok"

        async def handle_DATA(self, server, session, envelope):
            r = await slept(pick("data"))
            st["msgs"] += 1
            n = st["msgs"]
            reply = r or "250 2.0.0 ok queued as sink-%06d" % n
            event(server.conn_no, "data", len(envelope.original_content or b""), reply)
            if r == "drop":
                server.transport.abort()
                return "421 4.3.0 dropped"
            if r == "hang":
                await hang()
            if not ok_reply(r):
                return reply
            base = os.path.join(msgdir, "%06d" % n)
            with open(base + ".eml.tmp", "wb") as f:
                f.write(envelope.original_content or b"")
            os.replace(base + ".eml.tmp", base + ".eml")
            meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                    "mail_options": envelope.mail_options, "rcpt_options": envelope.rcpt_options,
                    "helo": session.host_name, "tls": bool(session.ssl), "conn": server.conn_no,
                    "peer": list(session.peer) if session.peer else None}
            with open(base + ".json.tmp", "w") as f:
                json.dump(meta, f)
            os.replace(base + ".json.tmp", base + ".json")
            return reply

    handler = Handler()

    class ScriptedSMTP(SMTP):
        def __init__(self):
            super().__init__(handler, hostname=a.hostname, tls_context=tls_ctx,
                             require_starttls=False, decode_data=False, enable_SMTPUTF8=True,
                             data_size_limit=None)
            self.conn_no = None
            self.scripted_close = False

        def connection_made(self, transport):
            st["conns"] += 1
            self.conn_no = st["conns"]
            if self.transport is not None:  # STARTTLS upgrade, not a new connection
                self.conn_no = st["conns"] = st["conns"] - 1
                event(self.conn_no, "starttls")
                return super().connection_made(transport)
            r = pick("connect")
            event(self.conn_no, "connect", None, r or "220")
            if r is None or r.startswith("2"):
                return super().connection_made(transport)
            self.scripted_close = True
            if r == "drop":
                transport.abort()
            elif r == "hang":
                self._hung = transport
            else:
                transport.write((r + "\r\n").encode())
                transport.close()

        def connection_lost(self, exc):
            if self.scripted_close:
                return
            event(self.conn_no, "close")
            return super().connection_lost(exc)

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(ScriptedSMTP, host=host, port=int(port))
        sys.stdout.write("ready %d\n" % server.sockets[0].getsockname()[1])
        sys.stdout.flush()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


# --------------------------------------------------------------------------
# SmtpSink: Postfix's smtp-sink for load tests
# --------------------------------------------------------------------------

class SmtpSink:
    """Postfix smtp-sink (fast, accepts everything) on HOST:PORT.
    EXTRA: more smtp-sink options (e.g. ["-c"] or ["-d", dir + "/%M"])."""

    def __init__(self, host="127.0.0.1", port=0, backlog=256, extra=(), netns=None):
        self.host = host
        self.port = port or free_port(host)
        self.backlog = backlog
        self.extra = list(extra)
        self.netns = netns
        self.proc = None
        self.dir = tmpdir("postern-smtpsink-")
        _fixtures.append(self)

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(_netns_prefix(self.netns) + [
            "smtp-sink", "-u", "nobody", *self.extra, "%s:%d" % (self.host, self.port), str(self.backlog)],
            stdin=subprocess.DEVNULL, stdout=open(os.path.join(self.dir, "out"), "ab"),
            stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise HarnessError("smtp-sink exited: %s" % open(os.path.join(self.dir, "out")).read())
            try:
                socket.create_connection((self.host, self.port), 0.2).close()
                return True
            except OSError:
                return False
        if self.netns is None:
            wait_for(up, timeout, what="smtp-sink on %s" % self.address)
        return self

    def stop(self):
        _kill_pid(self.proc)

    def dump(self):
        pass

    def close(self):
        self.stop()


# --------------------------------------------------------------------------
# Netns: a private network namespace (root)
# --------------------------------------------------------------------------
