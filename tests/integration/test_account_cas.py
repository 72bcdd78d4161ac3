#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_account_cas: an operator's account write racing a status move
(src/control/cmd_account.c account_cmd_store over queue_kv_put_if;
cmd_review.c over queue_review_account_update; issue 20 verifier).

The race is made deterministic by stalling the queue's writer: this
script opens the daemon's LMDB environment itself (liblmdb through
ctypes) and holds its write transaction, so what the daemon submits
waits in order; `review suspend` goes first (a status move the writer
makes on the record as it then is), `account passwd` second (it read
the record before the suspension was applied).  Then the writer runs:

- the suspension holds: the account is suspended afterwards, and
  its account_status event is in the event log once;
- `account passwd` is refused, exit 1, and says why ("The record
  changed while the command ran ... run it again"); the password did
  not change (the old one is what the record has);
- the refused write has exactly one audit record (status failed, with
  that error), written with the refusal in the writer's transaction,
  not a second one by the control server when the command finished;
- `account add` of a name that exists still says "already exists";
- run again, `account passwd` works and the account stays suspended;
- a second `review suspend` changes nothing and still has its audit
  record (the writer found nothing to move and wrote none), and the log
  line of the move (event=account_status) comes once, when the writer
  made it (the triggers and review commands logged a move before the
  writer decided, so also one it then found made or the record gone);
- `account delete` first, `review suspend` second (it found the
  account before the delete was applied): the account stays deleted
  (the status move never writes a record back that is gone), and the
  suspend fails, saying the record was deleted meanwhile, with one
  audit record (failed) and no account_status event;
- kill -9 while a suspension waits for the writer: after the restart
  the account is as it was and there is no event for it (the move,
  its event and its audit record commit together or not at all).
"""

import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


class WriterStall:
    """Hold the write lock of the LMDB environment in DIR (another
    process: LMDB's lock file serialises writers across processes)."""

    def __init__(self, d):
        self.lib = ctypes.CDLL("liblmdb.so.0")
        self.env = ctypes.c_void_p()
        self.txn = ctypes.c_void_p()
        if self.lib.mdb_env_create(ctypes.byref(self.env)) != 0:
            bail_out("mdb_env_create")
        self.lib.mdb_env_set_maxdbs(self.env, 32)
        rc = self.lib.mdb_env_open(self.env, d.encode(), 0x200000, 0o600)  # MDB_NOTLS
        if rc != 0:
            bail_out("mdb_env_open %s: %d" % (d, rc))

    def hold(self):
        rc = self.lib.mdb_txn_begin(self.env, None, 0, ctypes.byref(self.txn))
        if rc != 0:
            bail_out("mdb_txn_begin: %d" % rc)

    def release(self):
        self.lib.mdb_txn_abort(self.txn)
        self.lib.mdb_env_close(self.env)


def queue_dir(p):
    for root, _, files in os.walk(p.data_dir):
        if "data.mdb" in files and "spam" not in root:
            return root
    bail_out("no data.mdb under %s" % p.data_dir)


def ctl_bg(p, *args, input=None):
    """posternctl ARGS started in the background (p.posternctl's way),
    INPUT on its stdin."""
    e = dict(p.env, POSTERN_CONF=p.conf_path, POSTERN_CONTROL_SOCKET=p.control_socket)
    src = tempfile.TemporaryFile("w+")
    src.write(input or "")
    src.seek(0)
    return subprocess.Popen([p.posternctl_path, "-c", p.conf_path] + [str(a) for a in args],
                            stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)


def finish(r):
    return r.communicate(timeout=60)


def while_stalled(p, steps, then=None):
    """With the writer stalled (LMDB's write lock held), start each of
    STEPS, (posternctl args, stdin or None, the log line that says it was
    submitted), in the background and wait for its line; then THEN (if
    given); release.  The commands, in order."""
    stall = WriterStall(queue_dir(p))
    stall.hold()
    cmds = []
    try:
        for args, inp, line in steps:
            cmds.append(ctl_bg(p, *args, input=inp))
            wait_for(lambda: line in p.log(), 30, what="'%s' submitted" % " ".join(args[:2]))
        if then is not None:
            then()
    finally:
        stall.release()
    return cmds


def main():
    plan(20)
    p = Postern(name="acas").start()
    r = p.posternctl("account", "add", "acme", "--domain", "acme.test",
                     "--password-stdin", input="first-password\n")
    if r.returncode != 0:
        bail_out("account add: %s" % r.stderr)
    before = p.posternctl_json("account", "show", "acme")

    susp, pw = while_stalled(p, [
        (("review", "suspend", "acme", "--reason", "cas test"), None,
         "event=account_status_requested account=acme status=suspended by=review"),
        (("account", "passwd", "acme", "--password-stdin"), "second-password\n",
         "event=account_changed account=acme change=passwd")])
    out_s, err_s = finish(susp)
    out_p, err_p = finish(pw)
    is_(susp.returncode, 0, "review suspend: done (%s)" % err_s.strip())
    ok(pw.returncode == 1 and "changed while the command ran" in err_p and "run it again" in err_p,
       "account passwd over the stale record: refused, and it says why (%d: %s)" %
       (pw.returncode, err_p.strip()))
    a = p.posternctl_json("account", "show", "acme")
    ok(a.get("status") == "suspended",
       "the suspension holds (%s %s)" % (a.get("status"), a.get("suspended")))
    ev = [e for e in p.posternctl_json("queue", "events")["events"]
          if e.get("event") == "account_status" and e.get("account") == "acme"]
    is_(len(ev), 1, "one account_status event (%s)" % ev)
    audit = p.posternctl_json("audit", "list")["audit"]
    pw_rec = [x for x in audit if x.get("cmd") == "account.passwd"]
    ok(len(pw_rec) == 1 and pw_rec[0].get("status") != "ok" and
       "changed while" in (pw_rec[0].get("error") or ""),
       "the refused write has one audit record, failed, with its error (%s)" % pw_rec)

    r = p.posternctl("account", "add", "acme", "--domain", "acme.test")
    ok(r.returncode != 0 and "already exists" in r.stderr,
       "account add of an existing name: already exists (%s)" % r.stderr.strip())
    r = p.posternctl("account", "passwd", "acme", "--password-stdin", input="second-password\n")
    is_(r.returncode, 0, "run again, account passwd works (%s)" % r.stderr.strip())
    a = p.posternctl_json("account", "show", "acme")
    ok(a.get("status") == "suspended",
       "and the account stays suspended (%s)" % a.get("status"))
    is_(before.get("name"), "acme", "account show before the race")
    # a suspension that finds the account suspended already changes nothing, and is audited
    r = p.posternctl("review", "suspend", "acme", "--reason", "again")
    is_(r.returncode, 0, "review suspend of a suspended account (%s)" % r.stderr.strip())
    rs = [x for x in p.posternctl_json("audit", "list")["audit"]
          if x.get("cmd") == "review.suspend" and x.get("target") == "acme"]
    is_(len(rs), 2, "both suspensions of acme have their audit record, the no-op too (%d)" %
        len(rs))
    moves = re.findall(r"event=account_status account=acme status=suspended by=review", p.log())
    is_(len(moves), 1, "the log claims the one move the writer made, not the no-op (%d)" %
        len(moves))

    # ---- an account deleted while a reviewer's suspension waits: not brought back
    r = p.posternctl("account", "add", "gone", "--domain", "gone.test")
    if r.returncode != 0:
        bail_out("account add gone: %s" % r.stderr)
    dele, susp = while_stalled(p, [
        (("account", "delete", "gone"), None, "event=account_deleted account=gone"),
        (("review", "suspend", "gone", "--reason", "cas test"), None,
         "event=account_status_requested account=gone status=suspended by=review")])
    _, err_d = finish(dele)
    _, err_s = finish(susp)
    is_(dele.returncode, 0, "account delete: done (%s)" % err_d.strip())
    r = p.posternctl("account", "show", "gone")
    ok(r.returncode != 0, "the suspension after it did not bring the account back (%d %s)" %
       (r.returncode, r.stdout.strip()[:80]))
    ok(susp.returncode == 1 and "deleted while the command ran" in err_s,
       "review suspend of the account deleted meanwhile fails and says so (%d: %s)" %
       (susp.returncode, err_s.strip()))
    ev = [e for e in p.posternctl_json("queue", "events")["events"]
          if e.get("event") == "account_status" and e.get("account") == "gone"]
    is_(ev, [], "no account_status event for it")
    audit = p.posternctl_json("audit", "list")["audit"]
    rs = [x for x in audit if x.get("cmd") == "review.suspend" and x.get("target") == "gone"]
    ok(len(rs) == 1 and rs[0].get("status") == 1, "one audit record for that suspend, failed (%s)" %
       rs)

    # ---- kill -9 while a suspension waits for the writer: all of it or nothing
    r = p.posternctl("account", "add", "k9", "--domain", "k9.test")
    if r.returncode != 0:
        bail_out("account add k9: %s" % r.stderr)
    susp, = while_stalled(p, [
        (("review", "suspend", "k9", "--reason", "cas test"), None,
         "event=account_status_requested account=k9 status=suspended by=review")],
        then=p.kill9)
    _, err_s = finish(susp)
    ok(susp.returncode != 0, "the suspension's command fails with the daemon gone (%d)" %
       susp.returncode)
    p.start()
    a = p.posternctl_json("account", "show", "k9")
    is_(a.get("status"), "active", "after the restart k9 is as it was: active")
    ev = [e for e in p.posternctl_json("queue", "events")["events"]
          if e.get("event") == "account_status" and e.get("account") == "k9"]
    is_(ev, [], "and no account_status event for a move never committed")
    p.stop()


run(main)
