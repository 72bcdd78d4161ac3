# SPDX-License-Identifier: ISC
"""harness.rbldnsd: DNS blocklist peers for the spam stage's tests
(issue 15).

  Rbldnsd    Debian's rbldnsd -u nobody on a free 127.0.0.1 UDP port
             serving ZONES {name: (dataset type, zone text)}.
  DnsDrop    a UDP forwarder in front of a DNS server that never answers
             queries for names under the given zones (a blackholed
             list) and passes every other query through; so one
             dns_servers entry can have one list answering and one not.

Both are registered fixtures: stopped at exit, also on an exception.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading

from .core import _fixtures, _kill_pid, free_port


class Rbldnsd:
    """rbldnsd -u nobody on 127.0.0.1:PORT serving ZONES {name: (type, text)}."""

    def __init__(self, zones):
        self.dir = tempfile.mkdtemp(prefix="postern-rbldnsd-")
        os.chmod(self.dir, 0o755)     # rbldnsd reads it as nobody
        self.port = free_port("127.0.0.1", udp=True)
        args = []
        for name, (kind, text) in zones.items():
            path = os.path.join(self.dir, name + ".zone")
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            args.append("%s:%s:%s.zone" % (name, kind, name))
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["rbldnsd", "-u", "nobody", "-b", "127.0.0.1/%d" % self.port,
                                      "-n", "-w", self.dir] + args,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _fixtures.append(self)

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def dump(self):
        pass

    def close(self):
        if self.proc is not None:
            _kill_pid(self.proc)
            self.proc = None
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _qname(pkt):
    """The question name of DNS message PKT, lower case, or None."""
    labels, i = [], 12
    try:
        while pkt[i] != 0:
            n = pkt[i]
            if n & 0xc0:
                return None
            labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace").lower())
            i += 1 + n
    except IndexError:
        return None
    return ".".join(labels)


class DnsDrop:
    """127.0.0.1:PORT forwards UDP queries to UPSTREAM ("host:port")
    except those for names in or under DROP_ZONES, which get no answer
    at all.  dropped counts them (by zone), seen counts every query by
    question name."""

    def __init__(self, upstream, drop_zones):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.zones = [z.lower().rstrip(".") for z in drop_zones]
        self.dropped = {z: 0 for z in self.zones}
        self.seen = {}                # every question name: how many queries
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        _fixtures.append(self)

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def _dropped_zone(self, name):
        for z in self.zones:
            if name == z or name.endswith("." + z):
                return z
        return None

    def _forward(self, pkt, client):
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.settimeout(5)
        try:
            up.sendto(pkt, self.upstream)
            answer, _ = up.recvfrom(65535)
            self.sock.sendto(answer, client)
        except OSError:
            pass
        finally:
            up.close()

    def _serve(self):
        while self.running:
            try:
                pkt, client = self.sock.recvfrom(65535)
            except OSError:
                return
            name = _qname(pkt)
            if name is not None:
                self.seen[name] = self.seen.get(name, 0) + 1
            z = self._dropped_zone(name) if name is not None else None
            if z is not None:
                self.dropped[z] += 1
                continue
            threading.Thread(target=self._forward, args=(pkt, client), daemon=True).start()

    def dump(self):
        pass

    def close(self):
        self.running = False
        try:
            self.sock.close()
        except OSError:
            pass
