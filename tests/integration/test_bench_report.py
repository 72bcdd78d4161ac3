#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_bench_report.py: the parts of contrib/bench/compare that decide
what its multi-peer table says (issue 20 item 1), without running any
MTA: the strace -c summary parser behind the durability column, the
table's non-durable marking and ratios against postern, and a peer
that cannot be set up being skipped with its reason."""

import os
import sys

from harness import *
from harness import SRCDIR

sys.path.insert(0, os.path.join(SRCDIR, "contrib", "bench"))
import benchlib  # noqa: E402
import peers  # noqa: E402

plan(19)

# strace -c output as strace 6.1 prints it: with and without an errors column.
SUMMARY = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 71.02    0.012886          64       200           fsync
 20.11    0.003649          71        51           rename
  8.87    0.001609        1609         1         1 fdatasync
------ ----------- ----------- --------- --------- ----------------
100.00    0.018144          72       252         1 total
"""
calls = peers.parse_strace_summary(SUMMARY)
is_(calls.get("fsync"), 200, "strace summary: fsync calls")
is_(calls.get("fdatasync"), 1, "strace summary: a row with an errors column")
ok("total" not in calls, "strace summary: the total row is not a syscall")
is_(peers.parse_strace_summary("strace: Process 12 attached\n"), {},
    "strace summary: nothing traced, nothing counted")

# An ordered trace of two messages: the first synced between 354 and 250
# (by another thread), the second not; a sync after the 250 is not counted.
TRACE = """\
100 1.000001 write(5, "354 End"..., 37) = 37
101 1.000100 fdatasync(7) = 0
100 1.000200 write(5, "250 2.0."..., 30) = 30
101 1.000300 fdatasync(7) = 0
100 1.000400 write(5, "354 End"..., 37) = 37
100 1.000500 writev(5, [{iov_base="250 2.0."..., iov_len=30}], 1) = 30
"""
is_(peers.syncs_before_250(TRACE), (2, 1), "ordered trace: 2 messages, 1 sync before a 250")
is_(peers.syncs_before_250(""), (0, 0), "ordered trace: empty")

def row(acc, cpu, pss):
    return {"accepted_per_s": acc, "delivered_per_s": acc, "delivered": 10,
            "cpu_per_1000": cpu, "peak_rss_kib": pss, "complete": True, "messages": 10}

results = {("postern", 1024, 1): row(1000.0, 0.5, 1000),
           ("Exim", 1024, 1): row(250.0, 2.0, 3000),
           ("Haraka", 1024, 1): row(500.0, 1.0, 8000),
           ("Lazy", 1024, 1): row(900.0, 0.6, 1000)}
durability = {"postern": (3.0, {"fdatasync": 150, "_before_250": 1.0}, "group commit"),
              "Exim": (4.0, {"fsync": 200}, "default"),
              "Haraka": (0.0, {"write": 20}, "no queue"),
              # syncs, but none before the 250: non-durable all the same
              "Lazy": (1.0, {"fsync": 50, "_before_250": 0.0}, "sync after 250")}
rep = benchlib.Report()
rep.relay_table(results, [(1024, 1, 10)], ["postern", "Exim", "Haraka", "Lazy"], durability,
                [("chasquid", "relays only for authenticated users")])
text = rep.text()
lines = text.splitlines()
exim = [l for l in lines if l.startswith("| 1 KiB") and "| Exim" in l]
haraka = [l for l in lines if l.startswith("| 1 KiB") and "Haraka" in l]
is_(len(exim), 1, "table: one Exim row")
like(exim[0] if exim else "", r"\| 0\.25 \| 4\.00 \| 3\.00 \|$", "table: Exim's ratios against postern")
ok(exim and "non-durable" not in exim[0], "table: a system that syncs is not marked")
like(haraka[0] if haraka else "", r"Haraka \(non-durable\)", "table: 0 syncs per message is marked non-durable")
like(text, r"\| Haraka \| no queue \| 0\.00 \(write 20\) \| \? \| \*\*no\*\* \|",
     "durability table: the probe's counts and the verdict")
like(text, r"\| Lazy \| sync after 250 \| 1\.00 \(fsync 50\) \| 0\.00 \| \*\*no\*\* \|",
     "durability table: syncs only after the 250 are not durable")
like(text, r"\| 1 KiB \| 1 \| 10 \| Lazy \(non-durable\)", "table: that row is marked too")
like(text, r"Skipped: chasquid: relays only for authenticated users",
     "a skipped peer is named with its reason")

try:
    peers.Exim(None, "/nonexistent-tmp", 1, "/nonexistent-cache")
    ok(False, "a peer missing from the cache raises Skip")
    ok(False, "Skip names peers-setup.sh")
except peers.Skip as e:
    ok(True, "a peer missing from the cache raises Skip")
    like(str(e), r"peers-setup\.sh", "Skip names peers-setup.sh")

# contrib/bench/alternate's table: medians per build and row, ratios
# against the first build, builds named with their settings
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402

_ld = importlib.machinery.SourceFileLoader(
    "alternate", os.path.join(SRCDIR, "contrib", "bench", "alternate"))
_sp = importlib.util.spec_from_loader("alternate", _ld)
alternate = importlib.util.module_from_spec(_sp)
_ld.exec_module(alternate)
runs = [{"build": b, "size": 1024, "sessions": 20, "cpu_per_1000": c, "accepted_per_s": a}
        for b, c, a in (("A", 0.30, 100), ("A", 0.20, 300), ("A", 0.40, 200),
                        ("B", 0.10, 400), ("B", 0.12, 500))]
t = alternate.table(runs, ["A", "B"])
like(t, r"\| 1 KiB \| 20 \| 0\.300 \| 0\.110 \| 0\.37 \| 200 \| 450 \| 2 \|",
     "alternate: medians, the ratio against the first build, the fewest runs")
is_(alternate.parse_build("one=/b/dir,smtpd_loops=1,delivery_loops=1"),
    ("one", "/b/dir", {"smtpd_loops": "1", "delivery_loops": "1"}), "alternate: a build with settings")
try:
    alternate.parse_build("nodir")
    ok(False, "alternate: a build without a directory is refused")
except SystemExit:
    ok(True, "alternate: a build without a directory is refused")
done()
