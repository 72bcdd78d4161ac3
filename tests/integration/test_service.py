#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_service.py: posternd as a systemd service (issue 19).

- Type=notify: with NOTIFY_SOCKET set (a path, and an abstract '@'
  name), posternd sends READY=1 once ready, RELOADING=1 with
  MONOTONIC_USEC then READY=1 on SIGHUP (also when the reload is
  refused), STOPPING=1 on SIGTERM; the datagrams follow sd_notify(3)'s
  socket protocol (no libsystemd).
- journald: when JOURNAL_STREAM names posternd's stderr, lines carry
  `<N>` priorities (6 info, 4 warn, 3 err) and no timestamp of ours;
  without it the timestamped format stays.
- make install (DESTDIR): binaries, man pages with the configured
  paths (no literal "sysconfdir/"), the config installed 0640 and not
  overwritten on a second install, the unit, bash completion; the unit
  is Type=notify, runs as User=postern with CAP_NET_BIND_SERVICE only,
  and `systemd-analyze security --offline=yes` scores it <= 3.0."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

from harness import *
from harness import TIME_SCALE


def recv_until(sock, want, timeout=20.0):
    """Datagrams until one contains WANT; returns all of them."""
    got = []
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(d)
        if want in d.split("\n"):
            break
    return got


def notify_case(abstract):
    d = tmpdir("postern-notify-")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "postern-test-%d" % os.getpid()
        s.bind("\0" + name)
        env_value = "@" + name
    else:
        path = os.path.join(d, "notify.sock")
        s.bind(path)
        env_value = path
    label = "abstract" if abstract else "path"
    p = Postern(name="notify", env={"NOTIFY_SOCKET": env_value})
    try:
        p.start()
        got = recv_until(s, "READY=1")
        ok(any("READY=1" in g.split("\n") for g in got), "%s: READY=1 after start" % label)
        ok(any(re.search(r"^MAINPID=%d$" % p.pid, g, re.M) for g in got), "%s: MAINPID is posternd" % label)
        p.signal(signal.SIGHUP)
        got = recv_until(s, "READY=1")
        reload = [g for g in got if "RELOADING=1" in g.split("\n")]
        ok(reload and re.search(r"^MONOTONIC_USEC=\d+$", reload[0], re.M),
           "%s: RELOADING=1 with MONOTONIC_USEC on SIGHUP" % label)
        ok(got and "READY=1" in got[-1].split("\n"), "%s: READY=1 after the reload" % label)
        if not abstract:
            # A refused reload still ends the RELOADING state.
            with open(p.conf_path, "a") as f:
                f.write("bogus_key = 1\n")
            p.signal(signal.SIGHUP)
            got = recv_until(s, "READY=1")
            ok(any("RELOADING=1" in g for g in got) and "READY=1" in got[-1].split("\n"),
               "path: READY=1 again after a refused reload")
        p.signal(signal.SIGTERM)
        got = recv_until(s, "STOPPING=1")
        ok(any("STOPPING=1" in g.split("\n") for g in got), "%s: STOPPING=1 on SIGTERM" % label)
        is_(p.stop(), 0, "%s: clean exit" % label)
    finally:
        p.close()
        s.close()


def journal_case():
    p = Postern(name="journal")
    try:
        open(p.log_path, "ab").close()
        st = os.stat(p.log_path)
        p.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        p.start()
        p.reload()
        p.stop()
        lines = [l for l in p.log().splitlines() if l.strip()]
        ok(lines and all(re.match(r"^<[0-7]>", l) for l in lines),
           "journal: every line has a <N> priority prefix")
        ok(any(re.match(r"^<6>event=ready\b", l) for l in lines), "journal: event=ready at <6> (info)")
        unlike("\n".join(lines), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "journal: no second timestamp")
        unlike("\n".join(lines), r"^<\d>(info|warn|err|debug) ", "journal: no level word either")
    finally:
        p.close()
    # Warnings and errors get their own priorities.
    p = Postern(name="journal2")
    try:
        open(p.log_path, "ab").close()
        st = os.stat(p.log_path)
        p.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        p.start()
        with open(p.conf_path, "a") as f:
            f.write("bogus_key = 1\n")
        is_(p.reload(), False, "journal: bad reload refused")
        like(p.log(), r"(?m)^<3>event=reload_failed", "journal: reload_failed at <3> (err)")
    finally:
        p.close()
    # JOURNAL_STREAM naming another file: the usual format.
    p = Postern(name="nojournal", env={"JOURNAL_STREAM": "1:1"})
    try:
        p.start()
        p.stop()
        like(p.log(), r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info event=ready",
             "stderr not the journal: timestamped lines as before")
    finally:
        p.close()


def install_case():
    dest = tmpdir("postern-install-")
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(k, None)

    def make_install():
        return subprocess.run(["make", "-s", "-C", BUILDDIR, "install", "DESTDIR=" + dest],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

    def makevar(name):
        r = subprocess.run(["make", "-s", "-C", BUILDDIR, "--no-print-directory",
                            "-f", "Makefile", "-f", "-", "print-var"],
                           input="print-var:\n\t@echo $(%s)\n" % name, stdout=subprocess.PIPE,
                           text=True, env=env)
        # the last line: a make that first regenerates its Makefile prints more
        lines = r.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    r = make_install()
    if not ok(r.returncode == 0, "make install DESTDIR=... succeeds"):
        diag(r.stdout[-3000:])
        return
    sysconfdir, sbindir, mandir = makevar("sysconfdir"), makevar("sbindir"), makevar("mandir")
    unitdir, compdir = makevar("systemdsystemunitdir"), makevar("bashcompletiondir")
    root = lambda p: dest + p
    ok(os.access(root(sbindir + "/posternd"), os.X_OK) and os.access(root(sbindir + "/posternctl"), os.X_OK),
       "posternd and posternctl installed in sbindir")
    conf = root(sysconfdir + "/postern/postern.conf")
    ok(os.path.isfile(conf), "postern.conf installed in sysconfdir/postern")
    is_(stat.S_IMODE(os.stat(conf).st_mode) & 0o007, 0, "postern.conf not readable by others")
    text = open(conf).read()
    like(text, re.escape(sysconfdir) + r"/postern/master\.key", "sample config names the configured paths")
    mans = []
    for sec in ("5", "8"):
        d = root(mandir + "/man" + sec)
        mans += [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []
    ok(any(m.endswith("posternctl.8") for m in mans) and any(m.endswith("postern.conf.5") for m in mans),
       "man pages installed")
    bad = [m for m in mans if re.search(r"(?<![%@\w])(sysconfdir|localstatedir)/", open(m).read())]
    is_(bad, [], "installed man pages carry the configured paths, not sysconfdir/...")
    like(open(root(mandir + "/man5/postern.conf.5")).read(), re.escape(sysconfdir) + "/postern/master.key",
         "postern.conf(5) names the configured master key path")
    with open(conf, "w") as f:
        f.write("# mine\nhostname = kept.example\n")
    r = make_install()
    is_(r.returncode, 0, "second make install succeeds")
    is_(open(conf).read(), "# mine\nhostname = kept.example\n", "an existing postern.conf is not overwritten")
    ok(os.path.isfile(conf + ".sample"), "the new sample goes beside it")
    comp = root(compdir + "/posternctl")
    ok(os.path.isfile(comp) and "complete -F" in open(comp).read(), "bash completion installed")
    unit = root(unitdir + "/postern.service")
    if not ok(os.path.isfile(unit), "systemd unit installed in systemdsystemunitdir"):
        return
    u = open(unit).read()
    like(u, r"(?m)^Type=notify$", "unit: Type=notify")
    like(u, r"(?m)^ExecStart=" + re.escape(sbindir) + r"/posternd -f -c " + re.escape(sysconfdir) +
         r"/postern/postern\.conf$", "unit: ExecStart with the configured paths")
    like(u, r"(?m)^ExecReload=/bin/kill -HUP \$MAINPID$", "unit: reload sends SIGHUP")
    like(u, r"(?m)^User=postern$", "unit: User=postern")
    like(u, r"(?m)^AmbientCapabilities=CAP_NET_BIND_SERVICE$", "unit: only CAP_NET_BIND_SERVICE")
    like(u, r"(?m)^ProtectSystem=strict$", "unit: ProtectSystem=strict")
    like(u, r"(?m)^(StateDirectory=postern|ReadWritePaths=.*/lib/postern)", "unit: the data directory is writable")
    unlike(u, r"%\w+%", "unit: no placeholder left")
    sa = shutil.which("systemd-analyze")
    if sa is None:
        skip(1, "systemd-analyze not installed")
    else:
        r = subprocess.run([sa, "security", "--offline=yes", unit], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
        ok(m and float(m.group(1)) <= 3.0, "systemd-analyze security: %s <= 3.0" % (m.group(1) if m else "?"))
        if not m:
            diag(r.stdout[-2000:])


plan(42)
notify_case(False)
notify_case(True)
journal_case()
install_case()
done()
