#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_cli_rules.py: posternctl's shared CLI rules held for every
command group and verb (issue 19, "CLI consistency"), checked by walking
`posternctl complete` rather than a hand-picked list:

- `help GROUP` / `GROUP --help` / `GROUP VERB --help` exit 0 on stdout;
  `help NOSUCH` is a usage error (exit 2, "did you mean" when close),
  not the general help with exit 0;
- under --json every usage error (a verb without its arguments, an
  unknown option) is one JSON object {"status":2,"error":...} on
  stdout, also where the group printed only its usage text, and so are
  failures the groups report themselves (dkim dns, spam, backup,
  restore, suppress import: exit 1);
- `queue bounce` without ids, --domain or --all-matching names the CLI's
  options, not the control protocol's field;
- `-c` without a FILE says so;
- `complete` skips global options (-c FILE, -s SOCKET) before the group;
- every group and verb has an entry in posternctl(8) and nothing there
  names a verb that does not exist."""

import json
import os
import re
import subprocess

from harness import *
from harness import TIME_SCALE

CTL = os.path.join(BUILDDIR, "posternctl")
MAN = [os.path.join(SRCDIR, "man", m) for m in ("posternctl.8", "posternctl-dkim.8")]


def ctl(*args, env=None):
    e = dict(os.environ)
    e.pop("POSTERN_CONF", None)
    e.pop("POSTERN_CONTROL_SOCKET", None)
    e.update(env or {})
    return subprocess.run([CTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, text=True, env=e, timeout=60 * TIME_SCALE)


def json_error(r):
    try:
        d = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return d if isinstance(d, dict) and d.get("status") == r.returncode and "error" in d else None


def verbs_of(g):
    return ctl("complete", g).stdout.split()


def main():
    plan(16)
    groups = ctl("complete").stdout.split()
    groups.remove("help")
    verbs = {g: ctl("complete", g).stdout.split() for g in groups}
    ok(len(groups) > 10 and "queue" in groups, "complete lists the groups")
    # the bash completion passes every word typed so far, global options too
    is_(ctl("complete", "-c", "/etc/x.conf", "queue").stdout.split(), verbs_of("queue"),
        "complete after -c FILE: the group's verbs")
    ok("queue" in ctl("complete", "-s", "/run/x.sock").stdout.split(),
       "complete after -s SOCKET: the groups")

    # ---- help ----
    bad = []
    for g in groups:
        for args in [("help", g), (g, "--help")] + [(g, v, "--help") for v in verbs[g]]:
            r = ctl(*args)
            if r.returncode != 0 or "usage:" not in r.stdout:
                bad.append(" ".join(args))
    is_(bad, [], "help GROUP, GROUP --help and GROUP VERB --help: usage on stdout, exit 0")
    r = ctl("help", "help")
    ok(r.returncode == 0 and "commands:" in r.stdout, "help help: the general usage, exit 0")
    r = ctl("help", "qeue")
    is_(r.returncode, 2, "help NOSUCH: exit 2")
    like(r.stderr, r"did you mean 'queue'", "help NOSUCH: did you mean")
    r = ctl("--json", "help", "nosuchgroupatall")
    ok(r.returncode == 2 and json_error(r) is not None, "help NOSUCH --json: a JSON error")

    # ---- usage errors under --json, every verb ----
    p = Postern()
    p.start()
    env = {"POSTERN_CONF": p.conf_path}
    bad = []
    for g in groups:
        for v in verbs[g] or [None]:
            base = [g] + ([v] if v else [])
            for extra in ([], ["--no-such-option-x"]):
                r = ctl("--json", *base, *extra, env=env)
                if r.returncode == 2 and json_error(r) is None:
                    bad.append(" ".join(base + extra))
    is_(bad, [], "--json: every usage error is a JSON object on stdout")
    r = ctl("--json", "queue", "hold", env=env)
    ok(r.returncode == 2 and json_error(r) is not None, "queue hold without ids: exit 2, JSON error")

    # failures (exit 1) too, where the group printed its own message
    bad = []
    for args in (["dkim", "dns", "nosuch.test"], ["spam", "stats", "--model", "/nonexistent/m"],
                 ["spam", "score", "/nonexistent.eml"], ["backup", "/nonexistent/dir/x"],
                 ["restore", "/nonexistent"], ["account", "show", "nosuch"],
                 ["suppress", "import", "--account", "a", "/nonexistent.csv"],
                 ["receipt", "verify", "/nonexistent"], ["queue", "show", "NOSUCH"]):
        r = ctl("--json", *args, env=env)
        if r.returncode != 1 or json_error(r) is None:
            bad.append("%s (exit %d)" % (" ".join(args), r.returncode))
    is_(bad, [], "--json: failures (exit 1) are a JSON object on stdout")
    r = ctl("queue", "bounce", env=env)
    is_(r.returncode, 2, "queue bounce without a target: exit 2")
    ok("all_matching" not in r.stderr and "--domain" in r.stderr and "--all-matching" in r.stderr,
       "queue bounce without a target: names --domain and --all-matching")

    r = ctl("-c")
    ok(r.returncode == 2 and "needs a config FILE" in r.stderr, "-c without FILE: says what is missing")

    # ---- posternctl(8) against the command table ----
    man = "".join(open(m).read() for m in MAN)
    missing = [g + " " + v for g in groups for v in verbs[g]
               if not re.search(r"\b%s\b[^\n]*\b%s\b" % (re.escape(g), re.escape(v)), man)]
    missing += [g for g in groups if not re.search(r"^\.BR? \"?%s\b" % re.escape(g), man, re.M)]
    is_(missing, [], "posternctl(8) documents every group and verb")
    ghost = []
    for m in re.finditer(r"^\.BR? \"?([a-z]+) ([a-z][a-z-]*)", man, re.M):
        g, v = m.group(1), m.group(2)
        if g in verbs and verbs[g] and v not in verbs[g]:
            ghost.append(g + " " + v)
    is_(ghost, [], "posternctl(8) names no verb that does not exist")


run(main)
