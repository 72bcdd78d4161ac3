#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The key store's pool (queue/keystore.c, issue 13's performance clause)
killed at precise points: a real posternd stopped by gdb at a line of
its own source and killed there (SIGKILL through ptrace), then started
again.  Root only (ptrace of the daemon); skipped without gdb.

Points: a pool fill written but not yet synced; the first commit after
a fill; a commit that took its slot; the idle refill; the zeroing of a
deleted message's slot after its commit; clean shutdown zeroing the
pool and cutting the file.  After each restart: every acknowledged
message reads (body available), every deleted one stays deleted,
`posternctl queue check` finds nothing, and once stopped cleanly the key
store holds exactly the referenced slots (no pool slot left behind, none
of a live message zeroed or cut away).  A backup taken before the
delete, restored after the crash, keeps the message deleted (the
erasure journal)."""

import os
import re
import shutil
import subprocess
import threading

from harness import *
from harness import TIME_SCALE
from queuelib import inject, queue_ids

if os.geteuid() != 0:
    skip_all("needs root to ptrace posternd")
if shutil.which("gdb") is None:
    skip_all("needs gdb")

BODY = "Subject: pool %d\r\n\r\nhello %d\r\n"


def src_line(path, text):
    """path:line of the first line of source file PATH holding TEXT."""
    full = os.path.join(SRCDIR, path)
    with open(full) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return "%s:%d" % (full, n)
    raise HarnessError("%s: no line with %r" % (path, text))


POINTS = {
    # the line's own address is not on the path -O2 takes: fdatasync called by the fill
    "fill": "fdatasync if $_any_caller_matches(\"ks_pool_fill\", 3)",
    "commit": src_line("queue/writer.c", "rc = db_commit(txn);"),
    "taken": src_line("queue/queue.c", "sealed = xmalloc(q->chunk_size + CRYPTO_OVERHEAD);"),
    "idle": src_line("queue/keystore.c", "(void)ks_pool_fill(ks, master, ks->pool_target);"),
    "zero": src_line("queue/keystore.c", "if (slot_zero(ks, l->v[i]) != 0)"),
    "drain": src_line("queue/keystore.c", "if (slot_zero(ks, ks->pool[i].slot) == 0)"),
    "cut": src_line("queue/keystore.c", "if (top < ks->nslots &&"),
}


class Trap:
    """gdb attached to P's posternd: SIGKILL at source line WHERE."""

    def __init__(self, p, where):
        self.p = p
        self.script = os.path.join(p.dir, "gdb.cmd")
        with open(self.script, "w") as f:
            f.write("set pagination off\nset confirm off\n"
                    "handle SIGPIPE nostop noprint pass\n"
                    "handle SIGTERM nostop noprint pass\n"
                    "break %s\ncommands\nsilent\necho HIT\\n\nkill\nquit\nend\n"
                    "echo READY\\n\ncontinue\n" % where)
        self.proc = subprocess.Popen(["gdb", "-q", "-nx", "-batch", "-x", self.script,
                                      "-p", str(p.pid)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.out = ""
        for line in self.proc.stdout:
            self.out += line
            if line.strip() == "READY":
                break
        else:
            raise HarnessError("gdb did not attach: " + self.out)

    def wait(self, timeout=120):
        """True once the breakpoint killed posternd."""
        try:
            rest, _ = self.proc.communicate(timeout=timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        self.out += rest or ""
        hit = "HIT" in self.out
        if not hit:
            diag("gdb: " + self.out[-2000:])
        self.p.kill9()      # reaps it (or kills it, had the trap missed)
        return hit


def try_inject(p, i, out):
    try:
        out.append(inject(p, ["r%d@example.test" % i], BODY % (i, i)))
    except Exception:
        out.append(None)


def inject_bg(p, i):
    """Inject message I in a thread (the daemon dies under it)."""
    out = []
    t = threading.Thread(target=try_inject, args=(p, i, out), daemon=True)
    t.start()
    return t, out


def intact_slots(p):
    data = open(os.path.join(p.data_dir, "keys"), "rb").read()
    return sum(1 for s in range(1, len(data) // 64) if data[s * 64:s * 64 + 4] in (b"PKS1", b"PKS2"))


def body_status(p, qid):
    r = p.posternctl("queue", "show", qid, "--reason", "t", "--json")
    if r.returncode != 0:
        return "gone"
    import json
    return json.loads(r.stdout).get("body_status", "?")


alive, deleted = [], []


def verify(p, name, accounts):
    """After a restart: the acknowledged read, the deleted stay deleted,
    check is clean; stopped cleanly, only referenced slots remain."""
    st = [body_status(p, i) for i in alive]
    bad = [(i, s) for i, s in zip(alive, st) if s != "available"]
    ok(not bad, "%s: all %d acknowledged messages read after the restart %s" %
       (name, len(alive), bad[:3]))
    st = [body_status(p, i) for i in deleted]
    ok(all(s != "available" for s in st), "%s: the deleted stay deleted %s" % (name, st))
    r = p.posternctl("queue", "check")
    ok(r.returncode == 0, "%s: queue check finds nothing (exit %d) %s" %
       (name, r.returncode, (r.stdout + r.stderr)[-300:] if r.returncode else ""))
    # a message committed whose answer the kill cut off is queued too
    kept = [i for i in queue_ids(p) if body_status(p, i) == "available"]
    p.stop()
    is_(intact_slots(p), len(kept) + accounts,
        "%s: stopped cleanly, the key store holds the referenced slots only" % name)
    p.start()


plan(40)

with Postern(tls=False, name="pool", conf={"delivery_enabled": "no"}) as p:
    for i in range(5):
        alive.append(inject(p, ["r%d@example.test" % i], BODY % (i, i)))
    ok(all(alive), "5 messages queued")
    p.stop()
    accounts = intact_slots(p) - len(alive)
    diag("account key slots: %d" % accounts)
    p.start()
    n = 100

    # a fill written, not synced; the first commit after the fill; a
    # commit that took its slot: the message being committed is not
    # acknowledged and may go, nothing acknowledged may
    for point in ("fill", "commit", "taken"):
        p.restart()     # an empty pool: the next commit fills it
        trap = Trap(p, POINTS[point])
        t, out = inject_bg(p, n)
        n += 1
        ok(trap.wait(), "%s: posternd killed at %s" % (point, POINTS[point].rsplit("/", 1)[-1]))
        t.join(30)
        if out and out[0]:
            alive.append(out[0])
        p.start()
        verify(p, point, accounts)

    # the idle refill once half the pool is taken
    trap = Trap(p, POINTS["idle"])
    for k in range(60):
        out = []
        try_inject(p, n, out)
        n += 1
        if not out[0]:
            break
        alive.append(out[0])
    ok(trap.wait(), "idle: posternd killed in the idle refill (after %d acknowledged)" % len(alive))
    p.start()
    verify(p, "idle", accounts)

    # a delete committed, its slot not yet zeroed; a backup from before it
    bdir = os.path.join(p.dir, "backup")
    is_(p.posternctl("backup", bdir).returncode, 0, "zero: a backup before the delete")
    victim = alive.pop(0)
    trap = Trap(p, POINTS["zero"])
    r = p.posternctl("queue", "delete", victim, "--reason", "t")
    ok(trap.wait(), "zero: posternd killed before zeroing the deleted message's slot")
    deleted.append(victim)
    p.start()
    verify(p, "zero", accounts)
    p.stop()
    is_(p.posternctl("restore", bdir).returncode, 0, "zero: restore of the backup from before")
    p.start()
    is_(body_status(p, victim) != "available", True,
        "zero: the restored backup keeps the deleted message deleted")
    # the restore brought back the backup's queue: messages acknowledged after it are not in it
    gone_by_restore = [i for i in alive if body_status(p, i) == "gone"]
    for i in gone_by_restore:
        alive.remove(i)
    ok(len(alive) > 0, "zero: the backup's other messages read (%d)" % len(alive))

    # clean shutdown zeroing the pool, then cutting the file
    for point in ("drain", "cut"):
        out = []
        try_inject(p, n, out)   # a pool in use
        n += 1
        alive.append(out[0])
        trap = Trap(p, POINTS[point])
        p.signal(15)
        ok(trap.wait(), "%s: posternd killed in clean shutdown" % point)
        p.start()
        verify(p, point, accounts)
done()
