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

plan(12)

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

def row(acc, cpu, pss):
    return {"accepted_per_s": acc, "delivered_per_s": acc, "delivered": 10,
            "cpu_per_1000": cpu, "peak_rss_kib": pss, "complete": True, "messages": 10}

results = {("postern", 1024, 1): row(1000.0, 0.5, 1000),
           ("Exim", 1024, 1): row(250.0, 2.0, 3000),
           ("Haraka", 1024, 1): row(500.0, 1.0, 8000)}
durability = {"postern": (3.0, {"fdatasync": 150}, "group commit"),
              "Exim": (4.0, {"fsync": 200}, "default"),
              "Haraka": (0.0, {"write": 20}, "no queue")}
rep = benchlib.Report()
rep.relay_table(results, [(1024, 1, 10)], ["postern", "Exim", "Haraka"], durability,
                [("chasquid", "relays only for authenticated users")])
text = rep.text()
lines = text.splitlines()
exim = [l for l in lines if l.startswith("| 1 KiB") and "| Exim" in l]
haraka = [l for l in lines if l.startswith("| 1 KiB") and "Haraka" in l]
is_(len(exim), 1, "table: one Exim row")
like(exim[0] if exim else "", r"\| 0\.25 \| 4\.00 \| 3\.00 \|$", "table: Exim's ratios against postern")
ok(exim and "non-durable" not in exim[0], "table: a system that syncs is not marked")
like(haraka[0] if haraka else "", r"Haraka \(non-durable\)", "table: 0 syncs per message is marked non-durable")
like(text, r"\| Haraka \| no queue \| 0\.00 \(write 20\) \| \*\*no\*\* \|",
     "durability table: the probe's counts and the verdict")
like(text, r"Skipped: chasquid: relays only for authenticated users",
     "a skipped peer is named with its reason")

try:
    peers.Exim(None, "/nonexistent-tmp", 1, "/nonexistent-cache")
    ok(False, "a peer missing from the cache raises Skip")
    ok(False, "Skip names peers-setup.sh")
except peers.Skip as e:
    ok(True, "a peer missing from the cache raises Skip")
    like(str(e), r"peers-setup\.sh", "Skip names peers-setup.sh")
done()
