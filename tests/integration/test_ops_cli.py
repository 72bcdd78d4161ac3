#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_ops_cli.py: operating postern from posternctl (issue 19).

- status: exit 0 with version, pid, uptime, config, listeners, queue
  counts, delivery state, recent errors; exit 1 (and a JSON error under
  --json) when the daemon is down.
- delivery pause|resume [--domain D]: a paused destination gets nothing
  (the other one does), the pause survives a restart and shows in
  status and `delivery status` (also offline), resume delivers at once;
  every change is in the audit log.
- config [--all] [KEY...]: only the keys that differ from their
  defaults, all with --all, named keys, unknown key exit 1.
- the shared CLI rules: help/--help exit 0 on stdout for every group,
  missing or unknown verbs exit 2 with "did you mean", unknown groups
  too, --json errors as {"status":N,"error":...}, `complete` lists groups
  and verbs, a missing config explains -c / POSTERN_CONF, an offline
  read says so on stderr.
- the customer's Message-ID is logged beside the queue id, and the
  delivered copy's Received: says `id QID`.
- setup --dry-run lists the user, groups, directories and master key."""

import json
import os
import re
import subprocess
import time

from harness import *
from harness import TIME_SCALE

CTL = os.path.join(BUILDDIR, "posternctl")


def ctl_raw(*args, env=None):
    e = dict(os.environ)
    e.pop("POSTERN_CONF", None)
    e.pop("POSTERN_CONTROL_SOCKET", None)
    e.update(env or {})
    return subprocess.run([CTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=e, timeout=60 * TIME_SCALE)


def send(p, rcpt, subject):
    s = p.smtp("relay")
    s.sendmail("sender@example.test", [rcpt],
               "From: <sender@example.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
               "Message-ID: <%s@example.test>\r\n\r\nhello\r\n" % (rcpt, subject, subject))
    s.quit()


def main():
    plan(53)
    sink = Sink(name="sink").start()
    p = Postern(conf={
        "transport": "paused.test=[127.0.0.1]:%d, open.test=[127.0.0.1]:%d" % (sink.port, sink.port),
        "retry_schedule": "1s",
        "smtpd_max_recipients": "42",
    })
    p.start()

    # ---- status ----
    r = p.posternctl("status")
    is_(r.returncode, 0, "status: exit 0 while posternd runs")
    like(r.stdout, r"posternd:\s+\S+ running, pid %d" % p.pid, "status: version and pid")
    like(r.stdout, r"config:\s+" + re.escape(os.path.realpath(p.conf_path)), "status: config file")
    like(r.stdout, r"relay 127\.0\.0\.1:%d" % p.ports["relay"], "status: listeners")
    like(r.stdout, r"delivery:\s+running", "status: delivery running")
    s = p.posternctl_json("status")
    ok(s["uptime"] >= 0 and s["queue"]["messages"] == 0 and "deferred" in s["queue"],
       "status --json: uptime and queue counts by state")
    is_(s["listeners"][2]["listener"], "relay", "status --json: listeners by name")

    # ---- delivery pause / resume ----
    r = p.posternctl("delivery", "pause", "--domain", "Paused.Test")
    is_(r.returncode, 0, "delivery pause --domain: exit 0")
    send(p, "a@paused.test", "held-by-pause")
    send(p, "b@open.test", "not-paused")
    sink.wait_messages(1, timeout=20)
    time.sleep(2 * TIME_SCALE)   # retries every 1s: a paused one would have gone by now
    got = [m.header("Subject") for m in sink.messages()]
    is_(got, ["not-paused"], "a paused destination gets nothing, another one does")
    m = re.search(r"event=queued qid=(\w+) .*message_id=<not-paused@example\.test>", p.log())
    ok(m, "the customer's Message-ID is logged with the queue id")
    rec = sink.messages()[0].data.decode("utf-8", "replace")
    ok(m and re.search(r"^Received: from .*\r\n\tby .* id %s;" % m.group(1), rec, re.M),
       "the delivered copy's Received: carries id <qid>")
    s = p.posternctl_json("status")
    is_(s["delivery"]["paused_domains"], ["paused.test"], "status shows the paused domain")
    q = p.posternctl_json("queue", "list")
    is_([m["state"] for m in q["messages"]], ["queued"], "the paused message waits as queued, no attempt")
    is_(p.restart(), 0, "restart")
    r = p.posternctl("delivery", "status")
    like(r.stdout, r"paused for paused\.test", "the pause survives a restart")
    time.sleep(1.5 * TIME_SCALE)
    is_(len(sink.messages()), 1, "still paused after the restart")
    r = p.posternctl("delivery", "resume", "--domain", "paused.test")
    is_(r.returncode, 0, "delivery resume --domain: exit 0")
    sink.wait_messages(2, timeout=20)
    ok("held-by-pause" in [m.header("Subject") for m in sink.messages()], "resume delivers at once")
    r = p.posternctl("delivery", "pause")
    like(p.posternctl("status").stdout, r"delivery:\s+paused \(everything\)", "pause without --domain: everything")
    send(p, "c@open.test", "all-paused")
    time.sleep(2 * TIME_SCALE)
    is_(len(sink.messages()), 2, "nothing is delivered while everything is paused")
    p.posternctl("delivery", "resume")
    sink.wait_messages(3, timeout=20)
    is_(len(sink.messages()), 3, "resume (everything) delivers")
    audit = p.posternctl_json("audit", "list")["audit"]
    is_([(a["cmd"], a["target"]) for a in audit if a["cmd"].startswith("delivery.")],
        [("delivery.pause", "paused.test"), ("delivery.resume", "paused.test"),
         ("delivery.pause", "*"), ("delivery.resume", "*")], "pause and resume are audited")
    r = p.posternctl("delivery", "pause", "--domain", "x@y.test")
    is_(r.returncode, 2, "delivery pause with an address: usage error")

    # ---- config ----
    r = p.posternctl("config")
    is_(r.returncode, 0, "config: exit 0")
    like(r.stdout, r"(?m)^smtpd_max_recipients = 42$", "config: a changed key")
    like(r.stdout, r"(?m)^retry_schedule = 1s$", "config: a changed list")
    unlike(r.stdout, r"(?m)^smtpd_max_errors = ", "config: default keys left out")
    r = p.posternctl("config", "--all")
    like(r.stdout, r"(?m)^smtpd_max_errors = 10$", "config --all: default keys too")
    like(r.stdout, r"(?m)^smtpd_timeout = 5m$", "config --all: durations in their unit")
    is_(p.posternctl("config", "smtpd_banner").stdout, "smtpd_banner = ESMTP postern\n", "config KEY")
    j = p.posternctl_json("config")
    is_(j.get("smtpd_max_recipients"), "42", "config --json")
    r = p.posternctl("config", "no_such_key")
    is_(r.returncode, 1, "config with an unknown key: exit 1")
    like(p.posternctl("config", "--all").stdout, r"(?m)^master_key_file = /", "secrets appear as paths")

    # ---- the shared CLI rules ----
    bad = []
    for g in ("status", "queue", "delivery", "audit", "config", "setup", "dkim", "domain",
              "scan", "account"):
        r = p.posternctl(g, "--help")
        if r.returncode != 0 or not r.stdout.startswith("usage: posternctl " + g):
            bad.append(g)
    is_(bad, [], "GROUP --help: usage on stdout, exit 0, for every group")
    r = p.posternctl("help", "queue")
    ok(r.returncode == 0 and "queue summary" in r.stdout, "help GROUP")
    r = p.posternctl("queue", "lsit")
    is_(r.returncode, 2, "mistyped verb: exit 2")
    like(r.stderr, r"did you mean 'queue list'\?", "mistyped verb: did you mean")
    r = p.posternctl("queu", "list")
    ok(r.returncode == 2 and "did you mean 'queue'?" in r.stderr, "mistyped group: did you mean")
    r = p.posternctl("delivery")
    is_(r.returncode, 2, "group without a verb: exit 2")
    r = p.posternctl("queue", "lsit", "--json")
    e = json.loads(r.stdout)
    ok(e["status"] == 2 and "did you mean" in e["error"], "--json: usage errors as a JSON object")
    r = p.posternctl("queue", "show", "NOSUCHID", "--json")
    e = json.loads(r.stdout) if r.stdout.strip() else {}
    ok(r.returncode == 1 and e.get("status") == 1 and e.get("error"), "--json: not found as a JSON object, exit 1")
    r = ctl_raw("complete")
    ok("queue" in r.stdout.split() and "status" in r.stdout.split(), "complete: the groups")
    r = ctl_raw("complete", "delivery")
    is_(r.stdout.split(), ["pause", "resume", "status"], "complete GROUP: its verbs")
    r = ctl_raw("-c", "/nonexistent/postern.conf", "queue", "list")
    ok(r.returncode == 1 and "-c FILE or POSTERN_CONF" in r.stderr, "missing config: says how to give one")
    r = ctl_raw("queue", "list", env={"POSTERN_CONF": "/nonexistent/p.conf"})
    like(r.stderr, r"no configuration file /nonexistent/p\.conf", "missing config: names the file")
    r = ctl_raw("-c", p.conf_path, "setup", "--dry-run", "--user", "postern-test-nouser")
    ok(r.returncode == 0 and "useradd --system" in r.stdout and "master key" in r.stdout and
       re.search(r"directory %s mode 0700" % re.escape(p.data_dir), r.stdout),
       "setup --dry-run: user, data directory, master key")

    # setup for real (as root), with a user and groups that exist, so the
    # system's user database is not touched
    if os.geteuid() == 0:
        d = tmpdir("postern-setup-")
        conf = os.path.join(d, "postern.conf")
        with open(conf, "w") as f:
            f.write("data_directory = %s/lib/postern\ncontrol_socket = %s/run/postern/control.sock\n"
                    "master_key_file = %s/etc/postern/master.key\noperator_group = root\n"
                    "reviewer_group = nogroup\n" % (d, d, d))
        r = ctl_raw("-c", conf, "setup", "--user", "nobody")
        import pwd
        nob = pwd.getpwnam("nobody")
        st = os.stat(os.path.join(d, "lib/postern"))
        mk = os.stat(os.path.join(d, "etc/postern/master.key"))
        key = open(os.path.join(d, "etc/postern/master.key")).read().strip()
        ok(r.returncode == 0 and (st.st_mode & 0o777) == 0o700 and st.st_uid == nob.pw_uid and
           (mk.st_mode & 0o777) == 0o600 and mk.st_uid == nob.pw_uid and re.match(r"^[0-9a-f]{64}$", key),
           "setup: data directory 0700 and a 0600 master key of 64 hex digits, owned by the user")
        r2 = ctl_raw("-c", conf, "setup", "--user", "nobody")
        ok(r2.returncode == 0 and open(os.path.join(d, "etc/postern/master.key")).read().strip() == key,
           "setup again: the master key is kept")
        ok((os.stat(conf).st_mode & 0o777) == 0o640, "setup: the config made 0640")
    else:
        skip(3, "setup needs root")

    # ---- daemon down ----
    p.stop()
    r = p.posternctl("status")
    is_(r.returncode, 1, "status: exit 1 when posternd is down")
    r = p.posternctl("status", "--json")
    e = json.loads(r.stdout)
    ok(r.returncode == 1 and e["status"] == 1 and "daemon" in e["error"], "status --json when down: JSON error")
    r = p.posternctl("queue", "list")
    ok(r.returncode == 0 and "warning: posternd is not running" in r.stderr, "offline read: a warning line")
    r = p.posternctl("delivery", "status")
    ok(r.returncode == 0 and "delivery: running" in r.stdout, "delivery status works offline")
    p.close()
    sink.close()


run(main)
