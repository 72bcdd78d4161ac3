#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""harness.py: the shared integration-test harness for postern.

Every tests/integration/test_*.py imports this module (it sits next to
them, so a plain `from harness import *` works when the script is run
as `/usr/bin/python3 path/to/test_x.py`).  It provides:

  TAP        plan(), ok(), is_(), isnt(), like(), diag(), skip(),
             skip_all(), bail_out(), done(); an uncaught exception is
             reported as a failing test with its traceback as comments.
  helpers    free_port(host), tmpdir(), make_cert(dir, cn), wait_for().
  Postern    the real posternd in a temp dir on free 127.0.0.1 ports,
             ready when its log says `event=ready`; stop(), kill9(),
             restart(), reload(), log(), wait_log(), posternctl(),
             smtp()/smtp_ssl() clients.  Its log is dumped as TAP
             comments when a test fails.
  Dns        dnsmasq (Debian) on a free loopback port serving per-test
             MX, A, AAAA, TXT (multi-string), CNAME, null MX, NXDOMAIN.
  Sink       a real SMTP server (aiosmtpd, as a subprocess of this same
             file) that stores every accepted message to disk, counts
             connections, can be scripted per connection, MAIL, RCPT
             (per recipient) and DATA to answer 2xx/4xx/5xx, drop the
             connection or hang, and can offer STARTTLS.
  SmtpSink   Postfix's smtp-sink, for load tests.
  Netns      a private network namespace (root only) with its own
             resolv.conf, for tools that use the system resolver.

Every process is started by us, remembered by pid and stopped by pid
at exit (also on an exception); nothing is ever killed by name.
Nothing is written to the source tree: temp dirs live under $TMPDIR.
Set POSTERN_KEEP_TMP=1 to keep the temp dirs for a post-mortem.
"""

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

__all__ = [
    "plan", "ok", "is_", "isnt", "like", "unlike", "diag", "note", "skip",
    "skip_all", "bail_out", "done", "failed",
    "free_port", "tmpdir", "make_cert", "wait_for", "BUILDDIR", "SRCDIR",
    "Postern", "Dns", "Sink", "SinkMessage", "SmtpSink", "Netns",
    "run", "HarnessError",
]

BUILDDIR = os.environ.get("POSTERN_BUILDDIR") or os.getcwd()
SRCDIR = os.environ.get("POSTERN_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PYTHON = "/usr/bin/python3"
HERE = os.path.abspath(__file__)
# Sanitizer builds are several times slower: every wait is scaled.
TIME_SCALE = float(os.environ.get("POSTERN_TIME_SCALE", "1"))


class HarnessError(Exception):
    """A fixture could not do what it was asked (start, stop, ...)."""


# --------------------------------------------------------------------------
# TAP
# --------------------------------------------------------------------------

class _Tap:
    def __init__(self):
        self.planned = None
        self.n = 0
        self.failures = 0
        self.finished = False


_tap = _Tap()
_fixtures = []          # live fixtures, newest last; each has dump() and close()
_tmpdirs = []


def _out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def plan(n):
    """Announce N tests (call once, before the first ok())."""
    _tap.planned = n
    _out("1..%d" % n)


def skip_all(reason):
    """Skip the whole script (e.g. no root for Netns) and exit 0."""
    _out("1..0 # SKIP %s" % reason)
    _tap.finished = True
    sys.exit(0)


def bail_out(reason):
    _out("Bail out! %s" % reason)
    _tap.finished = True
    _cleanup()
    sys.exit(1)


def diag(msg):
    """Write MSG (any number of lines) as TAP comments."""
    for line in str(msg).splitlines() or [""]:
        _out("# " + line)


note = diag


def ok(cond, name=""):
    """One test point; on failure the live fixtures dump their logs."""
    _tap.n += 1
    name = name.replace("#", "\\#").replace("\n", " ")
    if cond:
        _out("ok %d - %s" % (_tap.n, name))
    else:
        _tap.failures += 1
        _out("not ok %d - %s" % (_tap.n, name))
        for caller in reversed(traceback.extract_stack()):
            if os.path.abspath(caller.filename) != HERE:
                diag("  at %s line %d" % (os.path.basename(caller.filename), caller.lineno))
                break
        _dump_fixtures()
    return bool(cond)


def is_(got, expected, name=""):
    if got == expected:
        return ok(True, name)
    r = ok(False, name)
    diag("       got: %r" % (got,))
    diag("  expected: %r" % (expected,))
    return r


def isnt(got, unexpected, name=""):
    if got != unexpected:
        return ok(True, name)
    r = ok(False, name)
    diag("       got: %r (must differ)" % (got,))
    return r


def like(text, regex, name=""):
    """ok() if REGEX (re.search, MULTILINE) matches TEXT (str or bytes)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text is not None and re.search(regex, text, re.M):
        return ok(True, name)
    r = ok(False, name)
    diag("  %r" % (text if text is None or len(text) < 2000 else text[:2000] + "...",))
    diag("  does not match /%s/" % regex)
    return r


def unlike(text, regex, name=""):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text is None or not re.search(regex, text, re.M):
        return ok(True, name)
    r = ok(False, name)
    diag("  text matches /%s/ but must not" % regex)
    return r


def skip(n, reason):
    """Skip N planned test points."""
    for _ in range(n):
        _tap.n += 1
        _out("ok %d # SKIP %s" % (_tap.n, reason))


def failed():
    return _tap.failures


def done():
    """End of the script: clean up fixtures, exit 1 if anything failed."""
    _cleanup()
    _tap.finished = True
    if _tap.planned is None:
        _out("1..%d" % _tap.n)
    elif _tap.planned != _tap.n:
        diag("planned %d tests but ran %d" % (_tap.planned, _tap.n))
        sys.exit(1)
    sys.exit(1 if _tap.failures else 0)


def _excepthook(etype, value, tb):
    if etype in (KeyboardInterrupt, SystemExit):
        sys.__excepthook__(etype, value, tb)
        return
    _tap.n += 1
    _tap.failures += 1
    _out("not ok %d - uncaught %s: %s" % (_tap.n, etype.__name__, value))
    diag("".join(traceback.format_exception(etype, value, tb)))
    _dump_fixtures()
    _cleanup()
    _tap.finished = True
    os._exit(1)


sys.excepthook = _excepthook


def run(func):
    """Call FUNC() and then done(); exceptions become a failing test."""
    try:
        func()
    except Exception:
        _excepthook(*sys.exc_info())
    done()


def _dump_fixtures():
    for f in list(_fixtures):
        try:
            f.dump()
        except Exception as e:  # a dump must never hide the real failure
            diag("(dump of %r failed: %s)" % (f, e))


def _cleanup():
    while _fixtures:
        f = _fixtures.pop()
        try:
            f.close()
        except Exception as e:
            diag("cleanup of %r: %s" % (f, e))
    if os.environ.get("POSTERN_KEEP_TMP") != "1":
        while _tmpdirs:
            shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)
    else:
        for d in _tmpdirs:
            diag("kept %s" % d)


atexit.register(_cleanup)


def _on_signal(signo, frame):
    _cleanup()
    os._exit(128 + signo)


signal.signal(signal.SIGTERM, _on_signal)

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def free_ports(host, n):
    """N distinct free TCP ports on HOST: every socket stays bound until
    all N are chosen, so the kernel cannot hand out one port twice."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    try:
        for _ in range(n):
            t = socket.socket(family, socket.SOCK_STREAM)
            t.bind((host, 0))
            socks.append(t)
        return [t.getsockname()[1] for t in socks]
    finally:
        for t in socks:
            t.close()


def free_port(host="127.0.0.1", udp=False):
    """A port on HOST that is free for TCP (and UDP too when UDP=True).

    Binding port 0 lets the kernel choose; there is a small window before
    the caller binds it again, acceptable on a shared test machine."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        t = socket.socket(family, socket.SOCK_STREAM)
        try:
            t.bind((host, 0))
            port = t.getsockname()[1]
            if not udp:
                return port
            u = socket.socket(family, socket.SOCK_DGRAM)
            try:
                u.bind((host, port))
                return port
            except OSError:
                continue
            finally:
                u.close()
        finally:
            t.close()
    raise HarnessError("no free port on %s" % host)


def tmpdir(prefix="postern-test-"):
    """A new private directory under $TMPDIR, removed at exit."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o700)
    _tmpdirs.append(d)
    return d


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll PRED() until it returns a true value (returned) or TIMEOUT."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise HarnessError("timed out after %.1fs waiting for %s" % (timeout * TIME_SCALE, what))
        time.sleep(interval)


def make_cert(directory, cn="localhost", key_type="ec", days=2, names=()):
    """Self-signed certificate for CN (+ NAMES, 127.0.0.1) via the openssl
    CLI.  Returns (cert_path, key_path); the key is mode 0600.
    KEY_TYPE: "ec" (P-256, fast), "rsa" (2048 bits) or "ed25519"."""
    cert = os.path.join(directory, cn + ".crt")
    key = os.path.join(directory, cn + ".key")
    newkey = {"ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
              "rsa": ["-newkey", "rsa:2048"],
              "ed25519": ["-newkey", "ed25519"]}[key_type]
    san = ",".join(["DNS:" + cn] + ["DNS:" + n for n in names] + ["IP:127.0.0.1"])
    old = os.umask(0o077)
    try:
        r = subprocess.run(["openssl", "req", "-x509", "-nodes", *newkey,
                            "-keyout", key, "-out", cert, "-days", str(days),
                            "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    finally:
        os.umask(old)
    if r.returncode != 0:
        raise HarnessError("openssl req failed: %s" % r.stdout.decode(errors="replace"))
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def _kill_pid(proc, sig=signal.SIGTERM, timeout=10.0):
    """Signal our own child PROC (a Popen) and reap it; SIGKILL after TIMEOUT."""
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout * TIME_SCALE)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait()


def _tail_lines(path, start=0, limit=200):
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except OSError:
        return [], start
    lines = data.decode("utf-8", "replace").splitlines()
    if len(lines) > limit:
        lines = ["... (%d lines skipped)" % (len(lines) - limit)] + lines[-limit:]
    return lines, start + len(data)


def _netns_prefix(netns):
    return ["ip", "netns", "exec", netns.name] if netns is not None else []


# --------------------------------------------------------------------------
# Postern: the daemon under test
# --------------------------------------------------------------------------

def _conf_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


class Postern:
    """posternd under test.

        with Postern(conf={"log_level": "debug"}) as p:
            s = p.smtp("relay")            # smtplib.SMTP on the relay port
            ...
            out = p.posternctl("queue", "list", "--json")

    The config file is written to DIR/postern.conf from built-in test
    defaults updated with CONF (None as a value removes that key, lists
    are joined with ", ", booleans become yes/no).  Defaults:
    data_directory, control_socket, pid_file, master_key_file inside
    DIR; the three listeners on free 127.0.0.1 ports (p.ports["relay"],
    p.ports["submission"], p.ports["submissions"]); a self-signed
    certificate (p.cert, p.key, key 0600) unless tls=False; dns_servers
    pointing at DNS (a Dns fixture) when given, else at a closed
    loopback port so no test ever queries a real resolver.
    The master key file is not created: the daemon owns its format.
    Write one with p.write_file("master.key", data, 0o600) if needed.
    """

    LISTENERS = ("submission", "submissions", "relay")

    def __init__(self, conf=None, tls=True, dns=None, netns=None, name="postern",
                 args=(), env=None, ready_timeout=30.0):
        self.dir = tmpdir("postern-%s-" % name)
        self.name = name
        self.netns = netns
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.ready_timeout = ready_timeout
        self.conf_path = os.path.join(self.dir, "postern.conf")
        self.log_path = os.path.join(self.dir, "posternd.log")
        self.data_dir = os.path.join(self.dir, "data")
        self.control_socket = os.path.join(self.dir, "control.sock")
        self.pid_file = os.path.join(self.dir, "posternd.pid")
        self.master_key_file = os.path.join(self.dir, "master.key")
        self.posternd = os.path.join(BUILDDIR, "posternd")
        self.posternctl_path = os.path.join(BUILDDIR, "posternctl")
        self.proc = None
        self._logf = None
        self._dumped = 0
        self.host = "127.0.0.1"
        self.ports = dict(zip(self.LISTENERS, free_ports(self.host, len(self.LISTENERS))))
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_cert(self.dir, "postern.test")
        self.conf = {
            "hostname": "postern.test",
            "data_directory": self.data_dir,
            "control_socket": self.control_socket,
            "pid_file": self.pid_file,
            "master_key_file": self.master_key_file,
            "log_level": "info",
            "shutdown_timeout": "10s",
            "smtpd_submission_listen": "%s:%d" % (self.host, self.ports["submission"]),
            "smtpd_submissions_listen": "%s:%d" % (self.host, self.ports["submissions"]),
            "smtpd_relay_listen": "%s:%d" % (self.host, self.ports["relay"]),
        }
        if tls:
            self.conf["smtpd_tls_cert_file"] = self.cert
            self.conf["smtpd_tls_key_file"] = self.key
        if dns is not None:
            self.conf["dns_servers"] = dns.server
        else:
            # Tests never reach a real resolver: without a Dns fixture,
            # lookups go to a closed loopback port and fail locally.
            self.conf["dns_servers"] = "127.0.0.1:%d" % free_port(self.host)
        self.conf.update(conf or {})
        self.write_conf()
        _fixtures.append(self)

    def __repr__(self):
        return "<Postern %s pid=%s>" % (self.dir, self.proc.pid if self.proc else None)

    # -- files -----------------------------------------------------------

    def write_conf(self, updates=None, text=None):
        """(Re)write postern.conf: CONF updated with UPDATES, or raw TEXT."""
        if text is None:
            if updates:
                self.conf.update(updates)
            text = "# written by tests/integration/harness.py\n" + "".join(
                "%s = %s\n" % (k, _conf_value(v)) for k, v in self.conf.items() if v is not None)
        with open(self.conf_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.conf_path + ".tmp", self.conf_path)
        return self.conf_path

    def write_file(self, relpath, data, mode=0o600):
        """Write DATA (str or bytes) to DIR/RELPATH with MODE; returns the path."""
        path = os.path.join(self.dir, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(path, mode)
        return path

    # -- process ---------------------------------------------------------

    def command(self, *extra):
        return _netns_prefix(self.netns) + [self.posternd, "-f", "-c", self.conf_path,
                                            *self.args, *extra]

    def start(self, wait=True):
        """Start posternd -f; with WAIT, block until `event=ready`.
        Raises HarnessError (log dumped) if it exits or times out first."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("posternd already running")
        self._logf = open(self.log_path, "ab")
        self._ready_from = self._logf.tell()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=None):
        timeout = (timeout or self.ready_timeout) * TIME_SCALE
        deadline = time.monotonic() + timeout
        while True:
            if re.search(r"\bevent=ready\b", self.log(self._ready_from)):
                return True
            rc = self.proc.poll()
            if rc is not None:
                self.dump()
                raise HarnessError("posternd exited with status %d before event=ready" % rc)
            if time.monotonic() > deadline:
                self.dump()
                raise HarnessError("posternd not ready after %.0fs" % timeout)
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit status (None if not started).
        Negative status = killed by that signal (Popen convention)."""
        if self.proc is None:
            return None
        rc = _kill_pid(self.proc, signal.SIGTERM, timeout)
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def kill9(self):
        """SIGKILL (a crash); returns the exit status (-9)."""
        if self.proc is None:
            return None
        rc = _kill_pid(self.proc, signal.SIGKILL)
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def restart(self, wait=True):
        """stop() then start(); returns the exit status of the stop."""
        rc = self.stop()
        self.start(wait=wait)
        return rc

    def reload(self, timeout=10.0):
        """SIGHUP; wait for `event=reloaded` (True) or `event=reload_failed`
        (False) logged after the signal."""
        start = self.log_size()
        self.signal(signal.SIGHUP)
        m = self.wait_log(r"\bevent=(reloaded|reload_failed)\b", timeout, start=start)
        return m.group(1) == "reloaded"

    # -- log -------------------------------------------------------------

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log(self, start=0):
        """The daemon's log (stderr) from byte offset START."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self, regex=None, start=0):
        return [l for l in self.log(start).splitlines() if regex is None or re.search(regex, l)]

    def wait_log(self, regex, timeout=10.0, start=0):
        """Wait until REGEX matches a log line after offset START; returns the
        match.  Raises HarnessError on timeout or if the daemon exits."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            m = re.search(regex, self.log(start), re.M)
            if m:
                return m
            if time.monotonic() > deadline:
                raise HarnessError("no log line matching /%s/ after %.1fs" % (regex, timeout * TIME_SCALE))
            if self.proc is not None and self.proc.poll() is not None:
                m = re.search(regex, self.log(start), re.M)
                if m:
                    return m
                raise HarnessError("posternd exited (%d) while waiting for /%s/" % (self.proc.returncode, regex))
            time.sleep(0.05)

    def dump(self):
        """Log lines not dumped yet, as TAP comments."""
        lines, self._dumped = _tail_lines(self.log_path, self._dumped)
        if lines:
            diag("---- %s log (%s)" % (self.name, self.log_path))
            for l in lines:
                diag("  " + l)

    def close(self):
        if self.running():
            self.stop()
        if self._logf:
            self._logf.close()
            self._logf = None

    # -- clients ---------------------------------------------------------

    def posternctl(self, *args, input=None, timeout=60.0, env=None):
        """Run `posternctl -c CONF ARGS...` (env POSTERN_CONF and
        POSTERN_CONTROL_SOCKET are set too); returns a CompletedProcess
        with text stdout/stderr and returncode."""
        e = dict(self.env, POSTERN_CONF=self.conf_path, POSTERN_CONTROL_SOCKET=self.control_socket)
        e.update(env or {})
        return subprocess.run(_netns_prefix(self.netns) + [self.posternctl_path, "-c", self.conf_path,
                                                           *[str(a) for a in args]],
                              input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=e, timeout=timeout * TIME_SCALE)

    def posternctl_json(self, *args, **kw):
        """posternctl ARGS --json, parsed; raises HarnessError on failure."""
        r = self.posternctl(*args, "--json", **kw)
        if r.returncode != 0:
            raise HarnessError("posternctl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
        return json.loads(r.stdout)

    def smtp(self, listener="relay", timeout=30.0, local_hostname="client.test"):
        """smtplib.SMTP connected to LISTENER ("relay" or "submission")."""
        import smtplib
        return smtplib.SMTP(self.host, self.ports[listener], local_hostname=local_hostname,
                            timeout=timeout * TIME_SCALE)

    def smtp_ssl(self, timeout=30.0, local_hostname="client.test"):
        """smtplib.SMTP_SSL on the submissions (implicit TLS) port, cert not verified."""
        import smtplib
        return smtplib.SMTP_SSL(self.host, self.ports["submissions"], local_hostname=local_hostname,
                                context=client_tls_context(), timeout=timeout * TIME_SCALE)


    def send(self, mail_from, rcpts, data, listener="relay", auth=None, starttls=None,
             mail_options=(), timeout=60.0):
        """Submit one message over LISTENER and QUIT.  AUTH=(user, password)
        logs in (after STARTTLS on "submission"; STARTTLS defaults to on
        there).  Returns (code, text) of the DATA reply, or of the first
        MAIL reply that failed, or of the last RCPT reply when every
        recipient was refused.  queue_id(text) extracts the queue id."""
        import smtplib
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(data, str):
            data = data.encode()
        s = self.smtp_ssl(timeout) if listener == "submissions" else self.smtp(listener, timeout)
        try:
            s.ehlo()
            if starttls or (starttls is None and listener == "submission"):
                s.starttls(context=client_tls_context())
                s.ehlo()
            if auth:
                s.login(*auth)
            code, text = s.mail(mail_from, list(mail_options))
            if code != 250:
                return code, text.decode(errors="replace")
            accepted = 0
            for r in rcpts:
                code, text = s.rcpt(r)
                accepted += code in (250, 251)
            if not accepted:
                return code, text.decode(errors="replace")
            code, text = s.data(data)
            return code, text.decode(errors="replace")
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                s.close()


def queue_id(reply_text):
    """The id in a `250 ... queued as ID` reply, or None."""
    m = re.search(r"queued as (\S+)", reply_text or "")
    return m.group(1) if m else None


def make_message(mail_from="sender@example.test", to="rcpt@example.test", subject="test",
                 body="hello\r\n", headers=()):
    """A small RFC 5322 message as bytes with CRLF line ends, with Date
    and Message-ID; HEADERS are extra (name, value) pairs."""
    import email.utils
    lines = ["From: <%s>" % mail_from, "To: <%s>" % to, "Subject: %s" % subject,
             "Date: %s" % email.utils.formatdate(localtime=False),
             "Message-ID: %s" % email.utils.make_msgid(domain="harness.test"),
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    lines += ["%s: %s" % h for h in headers]
    body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


__all__ += ["queue_id", "make_message"]


def client_tls_context(cafile=None):
    """TLS client context: verifies against CAFILE, or verifies nothing."""
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


__all__.append("client_tls_context")

# --------------------------------------------------------------------------
# Dns: dnsmasq with per-test records
# --------------------------------------------------------------------------


def _dq(s):
    """Quote S for a dnsmasq config file string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Dns:
    """dnsmasq on HOST:PORT (a free port by default) answering only what
    the test configured; no upstream, no /etc/hosts.

        dns = Dns()
        dns.mx("example.test", "mx1.example.test", 10)
        dns.a("mx1.example.test", "127.0.0.2")
        dns.txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        dns.start()          # dns.server == "127.0.0.1:PORT"

    Records added after start() take effect on restart() (done for you
    by start() again).  Names it was not told about answer REFUSED; use
    nxdomain() for NXDOMAIN.  TXT values longer than 255 octets are
    split into several strings; pass a list to choose the strings."""

    def __init__(self, host="127.0.0.1", port=0, ttl=60, netns=None, name="dns"):
        self.dir = tmpdir("postern-dns-")
        self.host = host
        self.port = port or (53 if netns is not None else free_port(host, udp=True))
        self.ttl = ttl
        self.netns = netns
        self.name = name
        self.lines = []
        self.proc = None
        self.log_path = os.path.join(self.dir, "dnsmasq.log")
        self.pid_file = os.path.join(self.dir, "dnsmasq.pid")
        self._dumped = 0
        _fixtures.append(self)

    def __repr__(self):
        return "<Dns %s>" % self.server

    @property
    def server(self):
        return "%s:%d" % (self.host, self.port)

    # -- records ---------------------------------------------------------

    def mx(self, domain, host, pref=10):
        self.lines.append("mx-host=%s,%s,%d" % (domain, host, pref))
        return self

    def null_mx(self, domain):
        """RFC 7505 null MX: `0 .`."""
        self.lines.append("mx-host=%s,.,0" % domain)
        return self

    def a(self, name, *addrs):
        for a in addrs:
            self.lines.append("host-record=%s,%s" % (name, a))
        return self

    aaaa = a

    def txt(self, name, value):
        """TXT record; VALUE a str (split into 255-octet strings) or a list of strings."""
        if isinstance(value, str):
            b = value.encode()
            parts = [b[i:i + 255].decode() for i in range(0, len(b), 255)] or [""]
        else:
            parts = list(value)
        self.lines.append("txt-record=%s,%s" % (name, ",".join(_dq(p) for p in parts)))
        return self

    def cname(self, alias, target):
        """CNAME ALIAS -> TARGET (dnsmasq wants TARGET to be one of its own names)."""
        self.lines.append("cname=%s,%s" % (alias, target))
        return self

    def nxdomain(self, domain):
        """NXDOMAIN for DOMAIN and every name below it."""
        self.lines.append("address=/%s/" % domain)
        return self

    def raw(self, line):
        """Any other dnsmasq config line (e.g. "srv-host=...")."""
        self.lines.append(line)
        return self

    # -- process ---------------------------------------------------------

    def _write_conf(self):
        conf = os.path.join(self.dir, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "port=%d" % self.port, "listen-address=%s" % self.host, "bind-interfaces",
                "no-resolv", "no-hosts", "no-poll", "local-ttl=%d" % self.ttl,
                "log-queries", "log-facility=%s" % self.log_path,
                "pid-file=%s" % self.pid_file, "user=root", "group=root",
                *self.lines]) + "\n")
        return conf

    def start(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        conf = self._write_conf()
        self.proc = subprocess.Popen(_netns_prefix(self.netns) + ["dnsmasq", "--keep-in-foreground",
                                                                  "--conf-file=" + conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "dnsmasq.err"), "ab"))
        # Ready when it answers; dnsmasq reads its whole config before binding.
        deadline = time.monotonic() + timeout * TIME_SCALE
        while not self._answers():
            if self.proc.poll() is not None:
                self.dump()
                raise HarnessError("dnsmasq exited with %d: %s" % (
                    self.proc.returncode, open(os.path.join(self.dir, "dnsmasq.err")).read()))
            if time.monotonic() > deadline:
                raise HarnessError("dnsmasq not answering on %s" % self.server)
            time.sleep(0.05)
        return self

    restart = start

    def _answers(self):
        if self.netns is not None:
            return os.path.exists(self.pid_file)
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x05probe\x04test\x00\x00\x01\x00\x01")
        s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(q, (self.host, self.port))
            return s.recv(512)[:2] == b"\x12\x34"
        except OSError:
            return False
        finally:
            s.close()

    def resolver(self):
        """A dnspython Resolver that asks this server only."""
        import dns.resolver
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [self.host]
        r.port = self.port
        r.lifetime = 5.0
        return r

    def stop(self):
        _kill_pid(self.proc)

    def dump(self):
        lines, self._dumped = _tail_lines(self.log_path, self._dumped, limit=60)
        if lines:
            diag("---- %s (dnsmasq %s) queries" % (self.name, self.server))
            for l in lines:
                diag("  " + l)

    def close(self):
        self.stop()

# --------------------------------------------------------------------------
# Sink: scriptable aiosmtpd server (runs as `harness.py sink ...`)
# --------------------------------------------------------------------------


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
    "drop" (close the connection without a reply) or "hang" (never
    answer).  Unscripted stages accept.  Only messages whose DATA got a
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
        args = _netns_prefix(self.netns) + [PYTHON, HERE, "sink", "--dir", self.dir,
                                            "--listen", "%s:%d" % (self.host, self.port),
                                            "--hostname", self.hostname]
        if self.tls:
            args += ["--tls-cert", self.cert, "--tls-key", self.key]
        self._err = open(os.path.join(self.dir, "sink.err"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._err, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
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
            if not (r in ("drop", "hang") or re.match(r"[2-5]\d\d[ -]", r + " ")):
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

    ap = argparse.ArgumentParser(prog="harness.py sink")
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
            r = pick("rcpt", address)
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
            r = pick("data")
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

class Netns:
    """Private network namespace pt-PID-N with lo up and
    /etc/netns/NAME/resolv.conf naming NAMESERVER, so every resolver
    inside asks the test's dnsmasq (Dns(netns=ns) listens on port 53).

        if not Netns.available(): skip_all("needs root and ip netns")
        with Netns() as ns:
            dns = Dns(netns=ns).mx(...).start()
            sink = Sink(host="127.0.0.2", port=25, netns=ns).start()
            ns.run(["dkimverify"], input=msg)

    Deleted (namespace and its /etc/netns folder) on exit, also on failure."""

    _count = 0

    @staticmethod
    def available():
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return False
        name = "pt-%d-probe" % os.getpid()
        r = subprocess.run(["ip", "netns", "add", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return False
        subprocess.run(["ip", "netns", "del", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True

    def __init__(self, nameserver="127.0.0.1"):
        Netns._count += 1
        self.name = "pt-%d-%d" % (os.getpid(), Netns._count)
        self.nameserver = nameserver
        self.etc = "/etc/netns/" + self.name
        self.created = False

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.created = True
        _fixtures.append(self)
        os.makedirs(self.etc, exist_ok=True)
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            f.write("nameserver %s\n" % self.nameserver)
        with open(os.path.join(self.etc, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n::1 localhost\n")
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def run(self, args, **kw):
        """subprocess.run(ARGS) inside the namespace."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(["ip", "netns", "exec", self.name, *args], **kw)

    def popen(self, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)

    def dump(self):
        pass

    def close(self):
        # Our processes in the namespace are stopped by their own fixtures
        # (created after us, so closed before us).
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.created = False
        shutil.rmtree(self.etc, ignore_errors=True)
        if self in _fixtures:
            _fixtures.remove(self)


# The context-manager form for the other fixtures: start on enter,
# stop on exit (and dump the log when the block raised).
def _enter(self):
    if getattr(self, "proc", None) is None:
        self.start()
    return self


def _exit(self, etype, value, tb):
    if etype is not None:
        self.dump()
    self.close()
    if self in _fixtures:
        _fixtures.remove(self)
    return False


for _cls in (Postern, Dns, Sink, SmtpSink):
    _cls.__enter__ = _enter
    _cls.__exit__ = _exit


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.excepthook = sys.__excepthook__
        atexit.unregister(_cleanup)
        _sink_main(sys.argv[2:])
    else:
        sys.stderr.write("usage: harness.py sink --dir DIR --listen HOST:PORT "
                         "[--hostname H] [--tls-cert C --tls-key K]\n")
        sys.exit(2)
