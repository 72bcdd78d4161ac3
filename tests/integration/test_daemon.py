#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_daemon.py: the posternd process skeleton, end to end.

Every kind of configuration error through `posternd -n` (exit status 1
and the file:line text), -n ok, -V, usage errors; start, event=ready,
SIGTERM and SIGINT stop with exit 0 and event=stopped; SIGHUP with a bad
file (error logged, old config kept, still running) and with a good one
(new values in force); the key=value log format; refusing group/world
readable secrets; data_directory 0700; the pid file and its lock;
detaching without -f; the privilege drop to `user`.

Issue 11 (one config, one validation): -n runs the checks modules make
at start (a missing certificate file, a CIDR with /33, a malformed
transport next hop are refused with file:line); SIGHUP with a bad
certificate logs reload_failed and the daemon keeps serving with the
old config; SIGHUP with a changed dns_servers logs restart_needed."""

import os
import pwd
import re
import signal
import stat
import subprocess
import time

from harness import *

POSTERND = os.path.join(BUILDDIR, "posternd")

# What modules check at start, found by -n too: (config text, key, line, text)
CHECK_CASES = [
    ("hostname = x\nsmtpd_tls_cert_file = {dir}/missing-cert.pem\nsmtpd_tls_key_file = {key}\n",
     "smtpd_tls_cert_file", 1, "missing-cert.pem"),
    ("# relay networks\nsmtpd_relay_networks = 127.0.0.0/8, 10.0.0.0/33\n",
     "smtpd_relay_networks", 2, "'10.0.0.0/33' is not a network"),
    ("transport = example.test=[127.0.0.1\n", "transport", 1, "'[127.0.0.1' is not"),
    ("transport = example.test=smtp.example.test:99999\n", "transport", 1, "is not"),
    ("hostname = x\nsmtpd_relay_listen = mail.example.test:2525\n", "smtpd_relay_listen", 2,
     "the host must be an IP address or *"),
    ("dns_servers = resolver.example.test:53\n", "dns_servers", 1, "must be an IP address"),
]

ERROR_CASES = [
    # (config text, expected line number, expected text)
    ("bogus_key = 1\n", 1, "unknown key 'bogus_key'"),
    ("# comment\n\nsmtpd_max_recipients = many\n", 3, "'many' is not an integer"),
    ("smtpd_max_recipients = 0\n", 1, "0 is out of range (1 to 100000)"),
    ("smtpd_auth_in_clear = maybe\n", 1, "'maybe' is not a boolean"),
    ("message_size_limit = 10q\n", 1, "'10q' is not a size"),
    ("message_size_limit = 12\n", 1, "'12' is out of range"),
    ("smtpd_timeout = soon\n", 1, "'soon' is not a duration"),
    ("smtpd_timeout = 2d\n", 1, "'2d' is out of range"),
    ("log_level = loud\n", 1, "'loud' is not one of debug|info|warn|err"),
    ("smtpd_relay_listen = 127.0.0.1\n", 1, "'127.0.0.1' is not an address"),
    ("retry_schedule = 1m, 5x\n", 1, "'5x' is not a duration"),
    ("hostname\n", 1, "expected 'key = value'"),
    ("hostname = a\nhostname = b\n", 2, "'hostname' already set at line 1"),
    ("  continued\n", 1, "continuation line without a key"),
]

plan(len(ERROR_CASES) * 2 + 57 + len(CHECK_CASES) * 2 + 12 + 2)
work = tmpdir()


def run_posternd(*args, timeout=30):
    return subprocess.run([POSTERND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def conf_file(text, name="t.conf"):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---- command line ---------------------------------------------------------
r = run_posternd("-V")
ok(r.returncode == 0 and re.match(r"posternd \d+\.\d+\.\d+$", r.stdout.strip()), "-V prints the version")
r = run_posternd("-x")
is_(r.returncode, 2, "unknown option: exit 2")
like(r.stderr, r"usage: posternd", "unknown option: usage text")
r = run_posternd("-c", conf_file("hostname = ok.test\n"), "extra")
is_(r.returncode, 2, "stray argument: exit 2")
for opt in ("-h", "--help"):
    r = run_posternd(opt)
    ok(r.returncode == 0 and r.stdout.startswith("usage: posternd") and r.stderr == "",
       "%s: usage on stdout, exit 0 (as posternctl's --help)" % opt)

# ---- configuration errors through -n --------------------------------------
for i, (text, line, want) in enumerate(ERROR_CASES):
    path = conf_file(text, "err%d.conf" % i)
    r = run_posternd("-n", "-c", path)
    is_(r.returncode, 1, "-n error case %d: exit 1" % i)
    like(r.stderr, re.escape("%s:%d: " % (path, line)) + r".*" + re.escape(want),
         "-n error case %d: %s:%d: %s" % (i, os.path.basename(path), line, want))

path = conf_file("bogus = 1\nsmtpd_max_errors = x\nhostname = fine\nlog_level = no\n", "multi.conf")
r = run_posternd("-n", "-c", path)
ok(r.returncode == 1 and all(("%s:%d:" % (path, n)) in r.stderr for n in (1, 2, 4)),
   "-n reports every error, each with its line")
r = run_posternd("-n", "-c", os.path.join(work, "missing.conf"))
ok(r.returncode == 1 and "missing.conf: No such file or directory" in r.stderr, "-n: missing file")
good = conf_file("# fine\nhostname = mx.example.test\nsmtpd_max_recipients = 50\n"
                 "retry_schedule = 1m,\n  5m 1h\n", "good.conf")
r = run_posternd("-n", "-c", good)
ok(r.returncode == 0 and "configuration ok" in r.stdout, "-n with a good file: exit 0, 'configuration ok'")
r = run_posternd("-n", "-c", os.path.join(SRCDIR, "contrib", "postern.conf"))
is_(r.returncode, 0, "-n accepts contrib/postern.conf")

# ---- -n runs the checks of start and reload (issue 11) ---------------------
okkey = os.path.join(work, "ok.key")
with open(okkey, "w") as f:
    f.write("not really a key\n")
os.chmod(okkey, 0o600)
for i, (text, key, line, want) in enumerate(CHECK_CASES):
    path = conf_file(text.format(dir=work, key=okkey), "check%d.conf" % i)
    r = run_posternd("-n", "-c", path)
    is_(r.returncode, 1, "-n check case %d (%s): exit 1" % (i, key))
    line = line if key != "smtpd_tls_cert_file" else 2
    like(r.stderr, re.escape("%s:%d: %s: " % (path, line, key)) + r".*" + re.escape(want),
         "-n check case %d: %s:%d: %s: ...%s" % (i, os.path.basename(path), line, key, want))

# ---- secrets must not be group/world readable -----------------------------
key = os.path.join(work, "open.key")
with open(key, "w") as f:
    f.write("secret\n")
for mode in (0o644, 0o640, 0o604):
    os.chmod(key, mode)
    r = run_posternd("-n", "-c", conf_file("smtpd_tls_key_file = %s\n" % key, "tlskey.conf"))
    ok(r.returncode == 1 and "mode %04o is too open" % mode in r.stderr,
       "-n refuses a TLS key with mode %04o" % mode)
certdir = os.path.join(work, "cert")
os.mkdir(certdir)
cert, realkey = make_cert(certdir, "n.test")
os.chmod(realkey, 0o600)
r = run_posternd("-n", "-c", conf_file("smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
                                       % (cert, realkey), "tlskey.conf"))
is_(r.returncode, 0, "-n accepts a certificate with its key, mode 0600")
if r.returncode != 0:
    diag(r.stderr)
dkimdir = os.path.join(work, "dkim")
os.mkdir(dkimdir)
with open(os.path.join(dkimdir, "example.test.s1.key"), "w") as f:
    f.write("k\n")
os.chmod(os.path.join(dkimdir, "example.test.s1.key"), 0o644)
r = run_posternd("-n", "-c", conf_file("dkim_key_directory = %s\n" % dkimdir, "dkim.conf"))
ok(r.returncode == 1 and "example.test.s1.key: mode 0644" in r.stderr, "-n refuses an open file in dkim_key_directory")
r = run_posternd("-n", "-c", conf_file("user = no-such-user-here\n", "user.conf"))
ok(r.returncode == 1 and "no-such-user-here: no such user" in r.stderr, "-n refuses an unknown user")

# ---- start, ready, stop ---------------------------------------------------
p = Postern(conf={"shutdown_timeout": "10s"}).start()
ok(p.running(), "posternd -f starts and logs event=ready")
st = os.stat(p.data_dir)
ok(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, "data_directory created with mode 0700")
is_(open(p.pid_file).read().strip(), str(p.pid), "pid file holds the daemon's pid")
like(p.log(), r"\bevent=ready pid=%d\b" % p.pid, "event=ready carries the pid")

# a second daemon with the same pid file is refused
p2 = Postern(conf={"pid_file": p.pid_file}, name="second")
r = subprocess.run(p2.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
ok(r.returncode == 1 and "already running (pid %d)" % p.pid in r.stdout,
   "second daemon on the same pid file: refused, exit 1")
p2.close()

# ---- SIGHUP with a bad file: old config kept ------------------------------
bad_text = open(p.conf_path).read().replace("shutdown_timeout = 10s", "shutdown_timeout = 3s") \
    + "log_level = debug\nno_such_key = 1\nsmtpd_max_errors = lots\n"
bad_text = re.sub(r"(?m)^log_level = info\n", "", bad_text)
p.write_conf(text=bad_text)
start = p.log_size()
is_(p.reload(), False, "SIGHUP with a bad file: event=reload_failed")
log = p.log(start)
like(log, r"event=config_error error=\".*postern\.conf:\d+: unknown key 'no_such_key'\"",
     "bad reload: the unknown key is logged with file:line")
like(log, r"smtpd_max_errors: 'lots' is not an integer", "bad reload: the bad value is logged")
like(log, r"event=reload_failed .*errors=2 action=kept_old_config", "bad reload: error count and action")
ok(p.running(), "bad reload: daemon still running")
is_(p.reload(), False, "SIGHUP again with the bad file: failed again")
unlike(p.log(start), r" debug ", "bad reload: log_level=debug from the bad file not applied")

# ---- SIGHUP with a good file ---------------------------------------------
p.write_conf({"shutdown_timeout": "7s", "log_level": "debug"})
start = p.log_size()
is_(p.reload(), True, "SIGHUP with a good file: event=reloaded")
like(p.log(start), r"event=reloaded .*log_level=debug", "good reload: new log level reported")
start = p.log_size()
p.write_conf({"data_directory": os.path.join(p.dir, "elsewhere")})
p.reload()
like(p.log(start), r" debug event=reload_begin ", "good reload: debug level in force")
like(p.log(start), r"event=reload_ignored key=data_directory reason=restart_required",
     "reload: keys that need a restart are named")
ok(not os.path.exists(os.path.join(p.dir, "elsewhere")), "reload: data_directory not switched at run time")
p.write_conf({"data_directory": p.data_dir})

# ---- SIGHUP with a bad certificate: reload_failed, old config serves -----
tls = Postern(name="tlsreload")
tls.start()
ok(tls.smtp("submission").ehlo()[0] == 250, "tls daemon serves before the bad reload")
bad_cert = tls.write_file("bad-cert.pem", "-----BEGIN CERTIFICATE-----\nnope\n"
                          "-----END CERTIFICATE-----\n", 0o644)
tls.write_conf({"smtpd_tls_cert_file": bad_cert, "smtpd_max_recipients": 3})
start = tls.log_size()
is_(tls.reload(), False, "SIGHUP with a bad certificate: event=reload_failed")
like(tls.log(start), r"event=reload_failed .*reason=\".*postern\.conf:\d+: smtpd_tls_cert_file: ",
     "bad certificate: the reason names file:line and the key")
s = tls.smtp("submission")
code, caps = s.ehlo()
ok(code == 250 and b"STARTTLS" in caps, "bad certificate: still serving, STARTTLS still offered")
s.close()
s = tls.smtp("relay")
s.ehlo()
mail = s.mail("a@example.test")
codes = [s.rcpt("r%d@example.test" % i)[0] for i in range(5)]
s.close()
ok(mail[0] == 250 and codes == [250] * 5,
   "bad certificate: the old smtpd_max_recipients (100, not 3) still in force")
if codes != [250] * 5:
    diag("MAIL %r RCPT codes %r" % (mail, codes))

# ---- SIGHUP with a changed dns_servers: restart_needed -------------------
tls.write_conf({"smtpd_tls_cert_file": tls.cert, "smtpd_max_recipients": None,
                "dns_servers": "127.0.0.1:%d" % free_port()})
start = tls.log_size()
is_(tls.reload(), True, "SIGHUP with a new dns_servers: event=reloaded")
like(tls.log(start), r"event=reloaded .*restart_needed=dns_servers\b",
     "dns_servers change: reload says a restart is needed")
like(tls.log(start), r"event=reload_ignored key=dns_servers reason=restart_required",
     "dns_servers change: the key is named in a warning")

# ---- a session keeps the config it started with; new ones get the new --
old = tls.smtp("relay")
old.ehlo()
old.mail("a@example.test")
tls.write_conf({"smtpd_max_recipients": 2})
is_(tls.reload(), True, "SIGHUP with smtpd_max_recipients = 2: reloaded")
codes_old = [old.rcpt("o%d@example.test" % i)[0] for i in range(3)]
new = tls.smtp("relay")
new.ehlo()
new.mail("a@example.test")
codes_new = [new.rcpt("n%d@example.test" % i)[0] for i in range(3)]
old.close()
new.close()
is_(codes_old, [250, 250, 250], "session from before the reload: old limit (100) in force")
is_(codes_new[:2] + [codes_new[2] // 100], [250, 250, 4], "session after the reload: 3rd RCPT refused")
is_(tls.stop(), 0, "tls daemon stops with exit 0")

# ---- stop -----------------------------------------------------------------
start = p.log_size()
is_(p.stop(), 0, "SIGTERM: exit status 0")
like(p.log(start), r"event=stopping timeout_ms=7000\b", "stop uses the reloaded shutdown_timeout")
like(p.log(start), r"event=stopped status=0", "event=stopped logged")
ok(not os.path.exists(p.pid_file), "pid file removed on exit")

# ---- log format -----------------------------------------------------------
lines = [l for l in p.log().splitlines() if l.strip()]
fmt = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|err) '
                 r'event=[a-z_]+( [a-z_]+=("([^"\\]|\\x[0-9a-f]{2})*"|[^ "]+))*$')
badlines = [l for l in lines if not fmt.match(l)]
ok(len(lines) > 10 and not badlines, "every log line is 'time level event=... key=value...' (%d lines)" % len(lines))
for l in badlines[:5]:
    diag("bad line: " + l)

# ---- restart, SIGINT -------------------------------------------------------
p.start()
ok(p.running(), "restart after a clean stop")
p.signal(signal.SIGINT)
is_(p.proc.wait(timeout=30), 0, "SIGINT: exit status 0")
like(p.log(), r"event=signal signal=INT", "SIGINT logged")

# ---- kill -9 leaves a stale pid file; the next start takes it over --------
p.start()
oldpid = p.pid
is_(p.kill9(), -9, "kill -9")
ok(os.path.exists(p.pid_file), "stale pid file left behind")
p.start()
ok(p.running() and open(p.pid_file).read().strip() == str(p.pid) and p.pid != oldpid,
   "start over a stale pid file: unlocked, rewritten")
is_(p.stop(), 0, "stop again: exit 0")

# ---- a secret with an open mode stops the start ---------------------------
# A new master key belongs to a new queue: the queue refuses a key that
# does not match its data (issue 3), so start from an empty data dir.
import shutil
shutil.rmtree(p.data_dir, ignore_errors=True)
os.chmod(p.write_file("master.key", os.urandom(32).hex() + "\n", 0o600), 0o640)
start = p.log_size()
r = subprocess.run(p.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
ok(r.returncode == 1 and "master.key: mode 0640 is too open" in r.stdout,
   "start refused: master key mode 0640")
ok("event=ready" not in r.stdout, "refused start never logs event=ready")
os.chmod(p.master_key_file, 0o600)
p.start()
ok(p.running(), "start with the master key 0600")
is_(p.stop(), 0, "stop: exit 0")

# ---- without -f: detach, the parent exits once the child is ready ---------
q = Postern(name="detached")
cmd = [POSTERND, "-c", q.conf_path]
r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
is_(r.returncode, 0, "without -f: the parent exits 0 once the daemon is ready")
pid = int(wait_for(lambda: os.path.exists(q.pid_file) and open(q.pid_file).read().strip(),
                   what="pid file"))
ok(os.getsid(pid) == pid, "detached daemon leads its own session")
ok(os.readlink("/proc/%d/cwd" % pid) == "/", "detached daemon's cwd is /")
r2 = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
ok(r2.returncode == 1 and "already running" in r2.stderr,
   "without -f, a failed start is reported by the parent with exit 1")
os.kill(pid, signal.SIGTERM)
wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
         open("/proc/%d/stat" % pid).read().split()[2] == "Z", what="detached daemon to exit")
ok(not os.path.exists(q.pid_file), "detached daemon stopped by SIGTERM, pid file removed")

# ---- user = : privilege drop after start ----------------------------------
if os.geteuid() == 0:
    nobody = pwd.getpwnam("nobody")
    u = Postern(conf={"user": "nobody"}, name="user")
    u.start()
    status = open("/proc/%d/status" % u.pid).read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    ok(all(int(x) == nobody.pw_uid for x in uids), "user = nobody: every uid is nobody's")
    gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
    ok(all(int(x) == nobody.pw_gid for x in gids), "user = nobody: every gid is nobody's")
    is_(os.stat(u.data_dir).st_uid, nobody.pw_uid, "data_directory handed to the user")
    like(u.log(), r"event=privileges_dropped user=nobody", "privilege drop logged")
    is_(u.stop(), 0, "dropped daemon stops with exit 0")
else:
    skip(5, "privilege drop needs root")

done()
