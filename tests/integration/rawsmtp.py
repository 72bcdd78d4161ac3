# SPDX-License-Identifier: ISC
"""rawsmtp.py: a byte-exact SMTP client for the smtp front-door tests.

smtplib hides what goes on the wire; the hostile tests need to send
exactly the bytes they mean (bare LF, pipelined junk after STARTTLS,
100 KB lines, one byte at a time) and read every reply.  Used by
tests/integration/test_smtp_*.py next to the shared harness.
"""

import base64
import json
import socket
import ssl
import time


class SmtpError(Exception):
    pass


class Raw:
    """One SMTP connection.  reply() returns (code, text) for the next
    (possibly multi-line) reply; None when the server closed."""

    def __init__(self, host, port, implicit_tls=False, source=None, timeout=15.0, ctx=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.host = host
        if implicit_tls:
            self.sock = (ctx or tls_ctx()).wrap_socket(self.sock, server_hostname=host)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def trickle(self, data, delay=0.0):
        """Send DATA one byte per send() call."""
        if isinstance(data, str):
            data = data.encode()
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            if delay:
                time.sleep(delay)

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self._line()
            if line is None:
                if lines:
                    raise SmtpError("connection closed inside a multi-line reply")
                return None
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        try:
            code = int(lines[-1][:3])
        except ValueError:
            raise SmtpError("bad reply line %r" % lines[-1])
        return code, "\n".join(l[4:] for l in lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def code(self, line):
        r = self.cmd(line)
        return r[0] if r else None

    def closed(self, timeout=5.0):
        """True when the server closes the connection within TIMEOUT."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def starttls(self, ctx=None):
        r = self.cmd("STARTTLS")
        if not r or r[0] != 220:
            raise SmtpError("STARTTLS refused: %r" % (r,))
        self.sock = (ctx or tls_ctx()).wrap_socket(self.sock, server_hostname=self.host)
        return r

    def auth_plain(self, user, password):
        tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        return self.cmd("AUTH PLAIN " + tok)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ehlo_session(p, listener="relay", timeout=15.0):
    """A Raw session to P's LISTENER, greeted and past EHLO."""
    c = Raw(p.host, p.ports[listener], timeout=timeout)
    c.reply()
    c.cmd("EHLO client.test")
    return c


def tls_ctx(minimum=None, maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def message(subject="test", body="Hello.\r\n", frm="a@example.com", to="b@example.net",
            extra=""):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n%s\r\n%s" % (frm, to, subject, extra, body))


def queued_id(text):
    """The queue id from '250 2.0.0 Ok: queued as ID'."""
    marker = "queued as "
    if marker not in text:
        return None
    return text.split(marker, 1)[1].split()[0]


def logged_qids(p):
    """Queue ids the daemon logged as committed (event=queued)."""
    import re
    return re.findall(r"\bevent=queued qid=(\S+)", p.log())


def queue_cli(p):
    """Does this build have `posternctl queue list`?"""
    r = p.posternctl("queue", "list", "--json")
    return r.returncode == 0


def queue_list(p):
    """Every message in the queue as a list of dicts, with the addresses
    (posternctl queue list --all --addresses --json: an audited read)."""
    r = p.posternctl("queue", "list", "--all", "--addresses", "--reason", "integration test", "--json")
    if r.returncode != 0:
        raise SmtpError("posternctl queue list: %d %s" % (r.returncode, r.stderr))
    out = r.stdout.strip()
    if not out:
        return []
    v = json.loads(out)
    if isinstance(v, dict):
        for k in ("messages", "queue", "items"):
            if k in v:
                return v[k]
    return v


def queue_show(p, qid):
    """One message with its envelope (posternctl queue show ID --json)."""
    r = p.posternctl("queue", "show", qid, "--json")
    if r.returncode != 0:
        raise SmtpError("posternctl queue show %s: %d %s" % (qid, r.returncode, r.stderr))
    return json.loads(r.stdout)


def msg_field(m, *names):
    for n in names:
        if n in m:
            return m[n]
    return None


def rcpt_addrs(m):
    rs = msg_field(m, "rcpts", "recipients") or []
    out = []
    for r in rs:
        out.append(r if isinstance(r, str) else msg_field(r, "addr", "address", "rcpt"))
    return out
