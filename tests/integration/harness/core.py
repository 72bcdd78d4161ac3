# SPDX-License-Identifier: ISC
"""harness.core: paths, the TAP writer, the live-fixture registry and cleanup, ports, temp dirs, waits, certificates (see harness/__init__.py)."""

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


BUILDDIR = os.environ.get("POSTERN_BUILDDIR") or os.getcwd()
SRCDIR = os.environ.get("POSTERN_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))  # the package
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
            if os.path.dirname(os.path.abspath(caller.filename)) != HERE:
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


# Every port free_port()/free_ports() handed out in this process: a port
# chosen earlier (say for feedback_listen) and not yet bound by the
# daemon is free again to the kernel, which may offer it to the next
# caller (it did: the feedback listener and the submission listener got
# one port, and posternd refused to start).
_given = set()


def free_ports(host, n):
    """N distinct free TCP ports on HOST: every socket stays bound until
    all N are chosen, so the kernel cannot hand out one port twice, and
    none handed out before in this process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks, ports = [], []
    try:
        for _ in range(n + 200):
            if len(ports) == n:
                break
            t = socket.socket(family, socket.SOCK_STREAM)
            t.bind((host, 0))
            socks.append(t)
            if t.getsockname()[1] not in _given:
                ports.append(t.getsockname()[1])
        _given.update(ports)
        return ports
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
            if port in _given:
                continue
            if not udp:
                _given.add(port)
                return port
            u = socket.socket(family, socket.SOCK_DGRAM)
            try:
                u.bind((host, port))
                _given.add(port)
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


def eventually(pred, timeout=10.0, interval=0.05):
    """wait_for() as a check: True once PRED() is true, False after
    TIMEOUT (scaled), for ok(eventually(...), "...")."""
    try:
        wait_for(pred, timeout, interval)
        return True
    except HarnessError:
        return False


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


# Ids, pseudonyms and times that come out of random bits or the clock:
# ISO-8601 stamps, tokens of eight or more letters and digits with at least
# one letter (hex session ids and pseudonyms, queue ids, key ids) and the port
# after an address literal.  A test looking for a stray group of a secret's
# digits ("8689" of a card number) looks in what is left, where a hit is a
# leak and not chance; the whole secret is still looked for in everything.
_IDS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"
                     r"|(?<![0-9A-Za-z])(?=[0-9A-Za-z]*[A-Za-z])[0-9A-Za-z]{8,}(?![0-9A-Za-z])"
                     r"|(?<=\]):\d{1,5}\b")


def without_ids(text):
    """TEXT with random-looking ids, times and ports blanked (see _IDS_RE)."""
    return _IDS_RE.sub("_", text)
