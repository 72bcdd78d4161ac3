# SPDX-License-Identifier: ISC
"""Helpers for the DKIM/SPF integration tests: TAP output, a dnsmasq
serving TXT records on a free loopback port, and a private network
namespace in which tools that only use the system resolver
(opendkim-testmsg) see the test's dnsmasq on 127.0.0.1:53.
Everything is written into a temporary directory, never the source tree.
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILDDIR = os.environ.get("POSTERN_BUILDDIR", os.getcwd())


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name))
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[:20]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why))
        sys.stdout.flush()

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq needs both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            u.close()
            continue
        t.close()
        u.close()
        return port
    raise RuntimeError("no free port")


def split255(s):
    return [s[i:i + 255] for i in range(0, len(s), 255)] or [""]


def txt_arg(name, value):
    """--txt-record for dnsmasq; long values as several character-strings."""
    # on argv dnsmasq takes no quotes: each comma starts a new string
    if "," in value:
        raise ValueError("dnsmasq cannot serve a comma inside a TXT string from argv")
    return "--txt-record=%s,%s" % (name, ",".join(split255(value)))


class Dns:
    """dnsmasq on 127.0.0.1:<free port> with the given TXT records."""

    def __init__(self, tmp, txt, extra=(), log_queries=False):
        self.tmp = tmp
        self.log = os.path.join(tmp, "dnsmasq-%d.log" % id(self))
        for attempt in range(5):
            self.port = free_port()
            args = ["dnsmasq", "--keep-in-foreground", "--port=%d" % self.port,
                    "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                    "--no-hosts", "--local-ttl=300", "--user=root",
                    "--pid-file=%s" % os.path.join(tmp, "dnsmasq-%d.pid" % self.port)]
            if log_queries:
                args += ["--log-queries", "--log-facility=%s" % self.log]
            args += [txt_arg(n, v) for n, v in txt] + list(extra)
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError("dnsmasq did not start")

    def _wait_ready(self):
        for _ in range(100):
            if self.proc.poll() is not None:
                return False
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(("127.0.0.1", self.port))
                s.close()
                return True
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        return False

    def txt(self, name):
        import dns.resolver
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = ["127.0.0.1"]
        r.port = self.port
        name = name.decode() if isinstance(name, bytes) else name
        ans = r.resolve(name, "TXT", tcp=True)
        return b"".join(b"".join(rd.strings) for rd in ans)

    def dnsfunc(self, name, timeout=5):
        try:
            return self.txt(name)
        except Exception:
            return None

    def queries(self, name):
        """How many queries for NAME dnsmasq logged."""
        if not os.path.exists(self.log):
            return 0
        pat = re.compile(r"query\[[A-Z]+\] %s from" % re.escape(name))
        with open(self.log, errors="replace") as f:
            return sum(1 for line in f if pat.search(line))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def netns_available():
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    name = "pt-probe-%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True


def run_in_netns(tmp, txt, commands):
    """Run each shell command in COMMANDS inside a fresh network namespace
    whose resolver is a dnsmasq on 127.0.0.1:53 serving TXT.  Returns the
    list of exit codes."""
    name = "pt-%d" % os.getpid()
    etc = "/etc/netns/%s" % name
    script = os.path.join(tmp, "netns.sh")
    results = os.path.join(tmp, "netns.results")
    pid = os.path.join(tmp, "netns-dnsmasq.pid")
    lines = ["set -u", "ip link set lo up",
             "dnsmasq --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv "
             "--no-hosts --user=root --pid-file=%s %s" % (
                 shlex.quote(pid), " ".join(shlex.quote(txt_arg(n, v)) for n, v in txt)),
             ": > %s" % shlex.quote(results)]
    for c in commands:
        lines.append("(%s) >/dev/null 2>&1; echo $? >> %s" % (c, shlex.quote(results)))
    lines.append("kill $(cat %s)" % shlex.quote(pid))
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\n")
        subprocess.run(["ip", "netns", "exec", name, "sh", script], timeout=300,
                       capture_output=True)
        with open(results) as f:
            return [int(x) for x in f.read().split()]
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


def mkdtemp():
    return tempfile.mkdtemp(prefix="postern-dkim-", dir=os.environ.get("TMPDIR"))
