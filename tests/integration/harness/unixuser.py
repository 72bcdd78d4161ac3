# SPDX-License-Identifier: ISC
"""unixuser: a real Unix user in a real group, made for one test and
removed after (root only), to run posternctl as a reviewer: the
control socket takes the role from SO_PEERCRED, so only a real uid in
the reviewer group exercises it.

    rev = Reviewer("ptrev")          # group ptrevgPID, user ptrevPID
    r = rev.ctl(p, "review", "list") # posternctl as that user (text)
    r = rev.ctl(p, ..., text=False)  # bytes, for byte-exact checks
    r = rev.request(p, {...})        # one control request by hand
    rev.close()
"""

import json
import os
import subprocess

from .core import TIME_SCALE


class Reviewer:
    def __init__(self, prefix):
        self.group = "%sg%d" % (prefix, os.getpid())
        self.user = "%su%d" % (prefix, os.getpid())
        subprocess.run(["groupadd", self.group], check=True)
        subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-G", self.group,
                        "-s", "/usr/sbin/nologin", self.user], check=True)

    def close(self):
        subprocess.run(["userdel", self.user], stderr=subprocess.DEVNULL)
        subprocess.run(["groupdel", self.group], stderr=subprocess.DEVNULL)

    def run(self, argv, text=False):
        return subprocess.run(["runuser", "-u", self.user, "--"] + [str(a) for a in argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text,
                              timeout=60 * TIME_SCALE,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})

    def ctl(self, p, *args, text=True):
        """posternctl as this user, with no config and the daemon's socket."""
        return self.run([p.posternctl_path, "-c", os.path.join(p.dir, "none.conf"),
                         "-s", p.control_socket] + list(args), text=text)

    def request(self, p, req):
        """One control request written by hand, sent from this user's uid."""
        code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
                "s.sendall(sys.argv[2].encode()+b'\\n')\nb=b''\n"
                "while not b.endswith(b'\\n'):\n c=s.recv(65536)\n if not c: break\n b+=c\n"
                "sys.stdout.buffer.write(b)\n")
        return self.run(["/usr/bin/python3", "-c", code, p.control_socket, json.dumps(req)])
