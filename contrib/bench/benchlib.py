# SPDX-License-Identifier: ISC
"""benchlib: process bookkeeping and measurements shared by the benchmarks.

Every process a benchmark starts goes through Procs.spawn() (its own
session, so its whole group can be stopped) and is stopped by pid when
the `with` block ends, on an exception, or on SIGINT/SIGTERM.  CPU time
and RSS are read from /proc for a process tree, so the same method
measures Postfix (many processes) and postern (one process).
"""

import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))


class Procs:
    """Tracks spawned processes and cleanup callbacks; stops them all."""

    def __init__(self):
        self.procs = []
        self.cleanups = []

    def __enter__(self):
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    def spawn(self, argv, **kw):
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def stop(self, p, timeout=20):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def __exit__(self, *exc):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up
                print("cleanup: %s" % e, file=sys.stderr)
        for p in reversed(self.procs):
            self.stop(p)
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, host="127.0.0.1", timeout=30, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %d before listening" % proc.returncode)
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %s:%d" % (host, port))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        pass


def _children():
    """pid -> list of child pids, from /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree_pids(root):
    kids = _children()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def kill_tree(root):
    for p in reversed(tree_pids(root)):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cpu_seconds(pids):
    """utime+stime+cutime+cstime summed over PIDS (reaped children included)."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
        except OSError:
            pass
    return total / CLK_TCK


def rss_kib(pids):
    """Summed proportional set size (Pss) of PIDS in KiB: shared pages
    (libraries, Postfix's shared text) are divided among the processes
    that map them, so a many-process and a one-process system compare
    fairly.  Falls back to VmRSS where smaps_rollup is missing."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            continue
        except OSError:
            pass
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssSampler:
    """Samples the summed RSS of a process tree every 50 ms; keeps the peak."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn
        self.peak_kib = 0
        self._stop = threading.Event()

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, rss_kib(self.pids_fn()))
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self.thread.join()
        self.peak_kib = max(self.peak_kib, rss_kib(self.pids_fn()))


def ensure_built(top, builddir):
    """Optimised build without sanitizers in BUILDDIR (installs deps first)."""
    subprocess.run(["sh", os.path.join(top, "contrib", "dev", "deps.sh"), "test"], check=True)
    if not os.path.exists(os.path.join(top, "configure")):
        subprocess.run(["autoreconf", "-fi"], cwd=top, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.makedirs(builddir, exist_ok=True)
    if not os.path.exists(os.path.join(builddir, "Makefile")):
        subprocess.run([os.path.join(top, "configure"), "-q", "CFLAGS=-O2 -g"],
                       cwd=builddir, check=True)
    subprocess.run(["make", "-s", "-j%d" % (os.cpu_count() or 2), "posternd", "posternctl"],
                   cwd=builddir, check=True, stdout=subprocess.DEVNULL)


def machine_facts():
    cores = os.cpu_count()
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = "%.0f GiB" % (kb / 1048576)
    except OSError:
        pass
    disk = ""
    try:
        out = subprocess.run(["df", "-h", "--output=source,fstype,size", tempfile.gettempdir()],
                             capture_output=True, text=True).stdout.splitlines()[-1].split()
        dev = os.path.basename(out[0])
        rot = open("/sys/block/%s/queue/rotational" % dev.rstrip("0123456789")).read().strip() \
            if os.path.exists("/sys/block/%s" % dev.rstrip("0123456789")) else "?"
        disk = "%s %s %s (%s)" % (out[0], out[1], out[2],
                                  {"0": "non-rotational", "1": "rotational"}.get(rot, "unknown type"))
    except Exception:
        pass
    try:
        load = open("/proc/loadavg").read().split()[0]
    except OSError:
        load = "?"
    return {"cores": cores, "cpu": model, "memory": mem, "disk": disk, "load": load,
            "kernel": platform.release(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _ratio(a, b):
    return "%.2f" % (a / b) if b else "n/a"


class Report:
    def __init__(self):
        self.lines = []

    def header(self, machine, quick):
        self.lines += [
            "# postern vs Postfix, OpenSMTPD, Exim, chasquid, Haraka%s"
            % (" (quick smoke run)" if quick else ""),
            "",
            "Machine: %(cores)s cores (%(cpu)s), %(memory)s, disk %(disk)s, "
            "Linux %(kernel)s; %(date)s; load average at start %(load)s." % machine,
            "",
            "All on loopback, each relaying from 127.0.0.0/8 to the same Postfix "
            "smtp-sink; load from Postfix's smtp-source (one message per connection), "
            "one system after the other. Each system stays up for the whole matrix, so "
            "peak PSS is the whole system's during each run (Postfix keeps idle daemons "
            "from earlier runs; postern's LMDB map pages count once touched). Durability "
            "is checked per system with `strace -f -c` (fsync, fdatasync, "
            "sync_file_range, msync, sync, syncfs) over 50 messages on one session, "
            "counting every process of the system (reception and delivery).",
            "",
        ]

    def relay_table(self, results, mtx, names, durability=None, skipped=()):
        durability = durability or {}
        order = [n for n in ["postern", "Postfix", "OpenSMTPD", "Exim", "chasquid", "Haraka"]
                 if n in names] + [n for n in names if n not in
                                   ("postern", "Postfix", "OpenSMTPD", "Exim", "chasquid", "Haraka")]

        def before(name):
            calls = durability.get(name, (None, None))[1]
            return calls.get("_before_250") if isinstance(calls, dict) else None

        def durable(name):
            per_msg = durability.get(name, (None,))[0]
            b = before(name)
            if b is not None:
                return b > 0
            return per_msg is None or per_msg > 0

        self.lines += ["## Durability as configured", "",
                       "Sync calls per message: all of the system's processes over 50 messages "
                       "(`strace -f -c`, reception and delivery). Before 250: per message, the sync "
                       "calls between the server's 354 and its 250 to the end of DATA, from an "
                       "ordered trace (`strace -f -ttt`) of 20 more messages on one session.", "",
                       "| system | configured | sync calls per message (strace -c) "
                       "| of which before the 250 | durable |",
                       "|---|---|---:|---:|---|"]
        for name in order:
            per_msg, calls, note = durability.get(name, (None, "not probed", ""))
            detail = ", ".join("%s %d" % kv for kv in sorted(calls.items())
                               if not kv[0].startswith("_")) \
                if isinstance(calls, dict) else calls
            b = before(name)
            verdict = "unknown" if per_msg is None and b is None else \
                ("yes" if durable(name) else "**no**")
            self.lines.append("| %s | %s | %s%s | %s | %s |" % (
                name, note, "?" if per_msg is None else "%.2f" % per_msg,
                " (%s)" % detail if detail else "",
                "?" if b is None else "%.2f" % b, verdict))
        for name, why in skipped:
            self.lines.append("| %s | skipped: %s | | | |" % (name, why))
        self.lines += [
            "", "## Relay path (no TLS, no AUTH)", "",
            "Ratios are the system's figure divided by postern's in the same row group "
            "(accepted/s below 1: slower than postern; CPU above 1: more CPU than postern). "
            "Rows marked non-durable answer 250 without a sync.", "",
            "| size | sessions | msgs | system | accepted/s | delivered/s | CPU s/1000 | peak PSS KiB "
            "| accepted ÷ postern | CPU ÷ postern | PSS ÷ postern |",
            "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for size, sessions, count in mtx:
            base = results.get(("postern", size, sessions))
            for name in order:
                r = results.get((name, size, sessions))
                if not r:
                    continue
                if base and name != "postern":
                    rat = " | %s | %s | %s" % (_ratio(r["accepted_per_s"], base["accepted_per_s"]),
                                               _ratio(r["cpu_per_1000"], base["cpu_per_1000"]),
                                               _ratio(r["peak_rss_kib"], base["peak_rss_kib"]))
                else:
                    rat = " | 1 | 1 | 1" if name == "postern" else " | | |"
                self.lines.append("| %d KiB | %d | %d | %s | %.0f | %.0f%s | %.2f | %d%s |" % (
                    size // 1024, sessions, r.get("messages", count),
                    name if durable(name) else name + " (non-durable)", r["accepted_per_s"],
                    r["delivered_per_s"], "" if r["complete"] else " (%d delivered%s)" % (
                        r["delivered"], ", run stopped at the time limit" if r.get("timed_out") else ""),
                    r["cpu_per_1000"], r["peak_rss_kib"], rat))
        if skipped:
            self.lines += [""] + ["Skipped: %s: %s." % (n, why) for n, why in skipped]
        self.lines.append("")

    def submission_table(self, rows):
        self.lines += ["## postern submission path (STARTTLS + AUTH + DKIM + scanning)", "",
                       "Load generator: contrib/bench/smtp-load (asyncio; sessions reuse their "
                       "connection; latency = end of DATA to 250).", ""]
        if isinstance(rows, str):
            self.lines += [rows, ""]
            return
        self.lines += ["| DKIM | size | sessions | msgs | msgs/s | p50 ms | p99 ms | errors |",
                       "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            self.lines.append("| %(dkim)s | %(size_kib)d KiB | %(sessions)d | %(messages)d | %(rate).0f | "
                              "%(p50_ms).1f | %(p99_ms).1f | %(errors)d |" % r)
        self.lines.append("")

    def idle_table(self, rows):
        self.lines += ["## postern memory per idle session", ""]
        if isinstance(rows, str):
            self.lines += [rows, ""]
            return
        self.lines += ["| idle sessions | PSS before KiB | PSS with sessions KiB | KiB per session |",
                       "|---:|---:|---:|---:|"]
        for r in rows:
            self.lines.append("| %(n)d | %(before)d | %(after)d | %(per).1f |" % r)
        self.lines.append("")

    def footer(self, seconds):
        self.lines += ["Run time: %.0f s." % seconds, ""]

    def text(self):
        return "\n".join(self.lines)


def _posternctl(builddir, conf, *args, stdin=None):
    return subprocess.run([os.path.join(builddir, "posternctl"), "-c", conf] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=60)


def submission_bench(procs, tmp, args, sink, postern_cls):
    """postern alone: STARTTLS + AUTH PLAIN + DKIM (RSA, Ed25519) + DLP scanning.
    POSTERN_CLS is compare's Postern fixture (compare is a script, not a module)."""
    d = os.path.join(tmp, "submission")
    os.makedirs(d, exist_ok=True)
    key, cert = os.path.join(d, "tls.key"), os.path.join(d, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    port = free_port()
    os.makedirs(os.path.join(d, "dkim"), mode=0o700, exist_ok=True)
    postern = postern_cls(procs, d, sink.port, args.builddir, extra={
        "smtpd_submission_listen": "127.0.0.1:%d" % port,
        "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
        "dkim_key_directory": os.path.join(d, "dkim"),
        "dlp_action_card": "tag", "dlp_action_ssn": "tag", "dlp_action_iban": "tag",
        "smtpd_auth_failure_delay": "0",
        **bench_extra_conf(),
    })
    conf = postern.conf_path
    rows = []
    for algo, domain in (("rsa", "rsa.bench.test"), ("ed25519", "ed.bench.test")):
        r = _posternctl(args.builddir, conf, "dkim", "generate", domain, "--algorithm", algo)
        if r.returncode != 0:
            return "Not measured: `posternctl dkim generate` failed: %s" % (r.stderr.strip()[:200])
        user = "bench-" + algo
        r = _posternctl(args.builddir, conf, "account", "add", user, "--domain", domain,
                        "--password-stdin", stdin="bench-password\n")
        if r.returncode != 0:
            return "Not measured: `posternctl account add` failed: %s" % (r.stderr.strip()[:200])
        for sessions in ((4,) if args.quick else (1, 20)):
            n = 40 if args.quick else (300 if sessions == 1 else 2000)
            cpu0 = cpu_seconds(tree_pids(postern.proc.pid))
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "smtp-load"), "--port", str(port),
                 "--starttls", "--user", user, "--password", "bench-password",
                 "--sessions", str(sessions), "--messages", str(n), "--size", "10240",
                 "--from", "app@" + domain, "--to", "user@dest.test", "--json"],
                capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                return "Not measured: smtp-load failed: %s" % out.stderr.strip()[-300:]
            res = json.loads(out.stdout)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            res.update({"dkim": "%s (%s)" % ("RSA-2048" if algo == "rsa" else "Ed25519", domain),
                        "size_kib": 10, "sessions": sessions,
                        # CPU per message: posternd's (all threads), and the load generator's
                        "server_cpu_ms": 1000.0 * (cpu_seconds(tree_pids(postern.proc.pid)) - cpu0)
                        / max(1, res["messages"]),
                        "client_cpu_ms": 1000.0 * ((ru1.ru_utime + ru1.ru_stime) -
                                                   (ru0.ru_utime + ru0.ru_stime))
                        / max(1, res["messages"])})
            rows.append(res)
    procs.stop(postern.proc)
    return rows


def bench_extra_conf():
    """postern.conf settings from POSTERN_BENCH_CONF ("key=value,key=value"):
    to measure a setting (smtpd_eom_threads, smtpd_loops, ...) on the
    submission rows without editing the benchmark."""
    out = {}
    for item in os.environ.get("POSTERN_BENCH_CONF", "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def idle_bench(procs, tmp, args, sink, postern_cls):
    """Memory of posternd with N idle sessions (after greeting and EHLO)."""
    d = os.path.join(tmp, "idle")
    os.makedirs(d, exist_ok=True)
    raise_nofile()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    postern = postern_cls(procs, d, sink.port, args.builddir,
                          extra={"smtpd_timeout": "600s"})
    rows = []
    for n in ((200,) if args.quick else (1000, 10000)):
        if n + 100 > soft:
            rows.append({"n": n, "before": 0, "after": 0, "per": 0.0})
            continue
        before = rss_kib([postern.proc.pid])
        socks = []
        try:
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", postern.port), timeout=10)
                socks.append(s)
            for s in socks:
                s.recv(512)
                s.sendall(b"EHLO idle.bench.test\r\n")
            for s in socks:
                data = b""
                while b"\r\n250 " not in data and not data.startswith(b"250 "):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            time.sleep(0.5)
            after = rss_kib([postern.proc.pid])
        finally:
            for s in socks:
                s.close()
        rows.append({"n": n, "before": before, "after": after, "per": (after - before) / n})
        time.sleep(1)
    procs.stop(postern.proc)
    return rows
