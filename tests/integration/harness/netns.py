# SPDX-License-Identifier: ISC
"""harness.netns: Netns: a private network namespace with its own resolv.conf (see harness/__init__.py)."""

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

from .core import (_fixtures, run, skip_all)
from .dns import (Dns)
from .sink import (Sink)

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
