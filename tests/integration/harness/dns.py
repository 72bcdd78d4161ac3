# SPDX-License-Identifier: ISC
"""harness.dns: Dns: dnsmasq on a free loopback port serving a test's records, and
zone_records() to read what `posternctl dkim dns` prints (see harness/__init__.py)."""

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

from .core import (HarnessError, TIME_SCALE, _fixtures, _kill_pid, _netns_prefix, _tail_lines, diag, done, free_port, tmpdir)

def _dq(s):
    """Quote S for a dnsmasq config file string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def zone_records(text, check_sizes=False):
    """(name, value) from the zone-file TXT lines `NAME. IN TXT ( "a" "b" )`
    that `posternctl dkim dns` prints, each value its strings joined;
    other lines are skipped.  With CHECK_SIZES a string longer than 255
    (a DNS character-string's limit, RFC 1035 section 3.3) raises
    ValueError instead."""
    recs = []
    for line in text.splitlines():
        m = re.match(r'^(\S+)\. IN TXT \( (.*) \)$', line)
        if not m:
            continue
        parts = re.findall(r'"([^"]*)"', m.group(2))
        if check_sizes and any(len(p) > 255 for p in parts):
            raise ValueError("character-string longer than 255 octets")
        recs.append((m.group(1), "".join(parts)))
    return recs


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

    def txt_records(self, recs):
        """A TXT record for each (name, value) of RECS (zone_records())."""
        for name, value in recs:
            self.txt(name, value)
        return self

    def reset(self):
        """Forget every record added so far (start() again to serve the new set)."""
        self.lines = []
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

    def lookup_txt(self, name, timeout=5):
        """The TXT record of NAME (str or bytes, a trailing dot or not)
        asked of this server over TCP, its strings joined, as bytes; None
        when there is none or the query fails.  It has the signature of
        dkimpy's dnsfunc: dkim.verify(msg, dnsfunc=dns.lookup_txt)."""
        try:
            name = name.decode() if isinstance(name, bytes) else name
            ans = self.resolver().resolve(name.rstrip("."), "TXT", tcp=True)
            return b"".join(b"".join(rd.strings) for rd in ans)
        except Exception:
            return None

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
# Sink: scriptable aiosmtpd server (runs as `python3 -m harness sink ...`)
# --------------------------------------------------------------------------
