#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""SPF check at MAIL FROM against a real DNS server.

dnsmasq serves pass / fail / softfail / neutral / none / permerror
records (temperror: a name dnsmasq refuses); tests/tools/spf_check runs
spf_check_start() with src/net/dns.c on a real uv loop with dns_servers
pointing at it, for each action (ignore, warn, reject; global and
per-account override), and the replies, headers and the DNS query counts
(ours and dnsmasq's log) are checked: a cache hit sends no query.
Then the same answers through posternd's MAIL stage: reject codes at
MAIL FROM on the relay listener, and an account's spf_action=warn
adding X-Postern-SPF: to the queued message.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BUILDDIR, Dns, Postern, diag, is_, make_message, queue_id, tmpdir  # noqa: E402

B = BUILDDIR
TOOL = os.path.join(B, "tests", "tools", "spf_check")
EGRESS = "192.0.2.10"

RECORDS = [
    ("pass.test", "v=spf1 ip4:192.0.2.0/24 -all"),
    ("fail.test", "v=spf1 ip4:198.51.100.1 -all"),
    ("softfail.test", "v=spf1 ip4:198.51.100.1 ~all"),
    ("neutral.test", "v=spf1 ?all"),
    ("notspf.test", "google-site-verification=abc"),
    ("permerror.test", "v=spf1 ip4:192.0.2.10 frobnicate:x -all"),
    ("include.test", "v=spf1 include:pass.test -all"),
    ("amx.test", "v=spf1 a:host.amx.test mx -all"),
    ("mxonly.test", "v=spf1 mx -all"),
    ("six.test", "v=spf1 ip6:2001:db8::/32 -all"),
    ("mixed.test", "v=spf1 ip4:192.0.2.10 -all"),
    ("ttl.test", "v=spf1 ip4:192.0.2.10 -all"),
    ("multi.test", "v=spf1 ip4:192.0.2.10 -all"),
    ("multi.test", "v=spf1 -all"),
]
NXDOMAIN = ["none.test"]
A = [("host.amx.test", "198.51.100.20"), ("mx.amx.test", "192.0.2.10"),
     ("mx.mxonly.test", "203.0.113.5")]
MX = [("amx.test", "mx.amx.test"), ("mxonly.test", "mx.mxonly.test")]
# temperror.test is not known to dnsmasq: it answers REFUSED

LINE = re.compile(r"^(\S+) result=(\S+) action=(\S+) cached=(\d) skipped=(\d) code=(\d+) "
                  r"enhanced=(\S*) queries=(\d+) header=(.*) text=(.*)$")

tmp = tmpdir("postern-spf-")
dns_srv = None


def ok(cond, name, info=None):
    """harness.ok() plus INFO as TAP comments on failure."""
    r = harness.ok(cond, name)
    if not r and info is not None:
        diag(str(info)[-3000:])
    return r


def queries(name):
    """How many queries for NAME the test dnsmasq logged."""
    pat = re.compile(r"query\[[A-Z0-9]+\] %s from" % re.escape(name))
    if not os.path.exists(dns_srv.log_path):
        return 0
    with open(dns_srv.log_path, errors="replace") as f:
        return sum(1 for line in f if pat.search(line))


def conf(name, extra):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("data_directory = %s\ndns_servers = %s\n%s" % (tmp, dns_srv.server, extra))
    return path


def check(cfg, senders, record="-"):
    p = subprocess.run([TOOL, cfg, record] + senders, capture_output=True, text=True, timeout=120)
    out = []
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            out.append(dict(sender=m.group(1), result=m.group(2), action=m.group(3),
                            cached=int(m.group(4)), skipped=int(m.group(5)), code=int(m.group(6)),
                            enhanced=m.group(7), queries=int(m.group(8)), header=m.group(9),
                            text=m.group(10)))
    return out, p


def main():
    global dns_srv
    dns_srv = Dns(ttl=300)
    for n, v in RECORDS:
        dns_srv.txt(n, v)
    for n in NXDOMAIN:
        dns_srv.nxdomain(n)
    for n, a in A:
        dns_srv.a(n, a)
    for d, h in MX:
        dns_srv.mx(d, h)
    dns_srv.start()
    base = "spf_egress_ips = %s\n" % EGRESS
    want = {
        "pass.test": "pass", "fail.test": "fail", "softfail.test": "softfail",
        "neutral.test": "neutral", "none.test": "none", "notspf.test": "none",
        "permerror.test": "permerror", "temperror.test": "temperror",
        "include.test": "pass", "amx.test": "pass", "mxonly.test": "fail",
        "multi.test": "permerror",
    }
    senders = ["u@%s" % d for d in want]

    # --- reject ------------------------------------------------------------------
    rej = conf("reject.conf", base + "spf_action = reject\n")
    res, p = check(rej, senders)
    is_(len(res), len(senders), "reject: one verdict per sender")
    reply = {"pass": (250, "2.0.0"), "fail": (550, "5.7.23"), "softfail": (550, "5.7.23"),
             "neutral": (550, "5.7.23"), "none": (550, "5.7.23"), "permerror": (550, "5.7.24"),
             "temperror": (451, "4.7.24")}
    for r in res:
        d = r["sender"].split("@")[1]
        is_(r["result"], want[d], "%s evaluates to %s" % (d, want[d]))
        is_((r["code"], r["enhanced"]), reply[want[d]],
              "reject: %s (%s) answers %d %s" % (d, want[d], reply[want[d]][0], reply[want[d]][1]))
        if want[d] in ("fail", "softfail", "neutral", "none", "permerror"):
            ok("ip4:%s" % EGRESS in r["text"] and d in r["text"],
                 "reject text for %s names the record and the mechanism to add" % d, r["text"])
        is_(r["header"], "-", "reject: no header for %s" % d)

    # --- warn ----------------------------------------------------------------------
    warn = conf("warn.conf", base + "spf_action = warn\n")
    res, p = check(warn, senders)
    for r in res:
        d = r["sender"].split("@")[1]
        is_(r["code"], 250, "warn: %s accepted" % d)
        if want[d] == "pass":
            is_(r["header"], "-", "warn: no header on pass (%s)" % d)
        else:
            ok(r["header"].startswith("X-Postern-SPF: %s " % want[d]) and "ip4:%s" % EGRESS in r["header"],
                 "warn: X-Postern-SPF header for %s" % d, r["header"])
    ok("event=spf domain=fail.test" in p.stderr and "result=fail action=warn" in p.stderr,
         "warn: the verdict is logged", p.stderr[-500:])

    # --- ignore, and per-account override -------------------------------------------
    ign = conf("ignore.conf", base + "spf_action = ignore\n")
    res, p = check(ign, ["u@fail.test", "u@temperror.test"])
    ok(all(r["code"] == 250 and r["skipped"] == 1 and r["header"] == "-" for r in res) and len(res) == 2,
         "ignore: accepted, not checked")
    is_(res[-1]["queries"] if res else -1, 0, "ignore: no DNS query at all")
    res, p = check(rej, ["u@fail.test"], record="domains=fail.test;spf_action=warn")
    ok(len(res) == 1 and res[0]["code"] == 250 and res[0]["action"] == "warn" and res[0]["header"] != "-",
         "account spf_action=warn overrides global reject")
    res, p = check(warn, ["u@fail.test"], record="spf_action=reject")
    ok(len(res) == 1 and res[0]["code"] == 550, "account spf_action=reject overrides global warn")
    res, p = check(rej, ["u@fail.test"], record="spf_action=bogus")
    ok(len(res) == 1 and res[0]["action"] == "reject", "invalid account spf_action falls back to global")
    res, p = check(rej, ["<>", "nodomain"])
    ok(len(res) == 2 and all(r["skipped"] == 1 and r["code"] == 250 for r in res),
         "null or domainless sender is not checked")
    noip = conf("noip.conf", "spf_action = reject\n")
    res, p = check(noip, ["u@fail.test"])
    ok(len(res) == 1 and res[0]["skipped"] == 1 and res[0]["code"] == 250 and res[0]["queries"] == 0,
         "no egress IPs configured: not checked")

    # --- several egress IPs, IPv6, bind address fallback --------------------------------
    two = conf("two.conf", "spf_egress_ips = 192.0.2.10, 192.0.2.11\nspf_action = reject\n")
    res, p = check(two, ["u@mixed.test", "u@pass.test"])
    ok(len(res) == 2 and res[0]["result"] == "fail" and "192.0.2.11" in res[0]["text"]
         and res[1]["result"] == "pass", "every egress IP must pass; the failing one is named",
         res)
    six = conf("six.conf", "spf_egress_ips = 2001:db8::25\nspf_action = reject\n")
    res, p = check(six, ["u@six.test", "u@pass.test"])
    ok(len(res) == 2 and res[0]["result"] == "pass" and res[1]["result"] == "fail"
         and "ip6:2001:db8::25" in res[1]["text"], "IPv6 egress address", res)
    bind = conf("bind.conf", "smtp_bind_address = 198.51.100.1\nspf_action = reject\n")
    res, p = check(bind, ["u@fail.test"])
    ok(len(res) == 1 and res[0]["result"] == "pass", "smtp_bind_address used when spf_egress_ips is empty",
         res)

    # --- cache ---------------------------------------------------------------------------
    before = queries("ttl.test")
    res, p = check(rej, ["a@ttl.test", "b@TTL.test", "c@ttl.test"])
    ok(len(res) == 3 and res[0]["cached"] == 0 and res[1]["cached"] == 1 and res[2]["cached"] == 1,
         "second and third check of a domain are cache hits", res)
    ok(len(res) == 3 and res[0]["queries"] >= 1 and res[2]["queries"] == res[0]["queries"],
         "cache hits send no DNS query (our counter)")
    is_(queries("ttl.test") - before, 1, "dnsmasq saw exactly one query for ttl.test")
    res, p = check(rej, ["a@temperror.test", "b@temperror.test"])
    ok(len(res) == 2 and res[1]["cached"] == 1 and res[1]["code"] == 451,
         "temperror is cached briefly too (no query storm)")

    # --- through posternd: the MAIL-phase stage, DNS by c-ares -------------------------
    p = Postern(name="spfd", tls=False, dns=dns_srv,
                conf={"spf_egress_ips": EGRESS, "spf_action": "reject",
                      "smtpd_auth_in_clear": "yes"}).start()
    for sender, want_code, want_enh in (("u@pass.test", 250, None), ("u@include.test", 250, None),
                                        ("u@fail.test", 550, "5.7.23"),
                                        ("u@permerror.test", 550, "5.7.24"),
                                        ("u@temperror.test", 451, "4.7.24")):
        code, text = p.send(sender, ["r@example.test"], make_message(mail_from=sender))
        ok(code == want_code and (want_enh is None or text.startswith(want_enh)),
           "posternd, spf_action=reject: MAIL FROM:<%s> answers %d %s" % (sender, want_code,
                                                                        want_enh or "(queued)"),
           "%d %s" % (code, text))
    r = p.posternctl("account", "add", "app1", "--domain", "fail.test", "--password-stdin",
                     input="app1-password\n")
    r2 = p.posternctl("account", "set", "app1", "--set", "spf_action=warn")
    ok(r.returncode == 0 and r2.returncode == 0, "an account with spf_action=warn", r.stderr + r2.stderr)
    code, text = p.send("v@fail.test", ["r@example.test"], make_message(mail_from="v@fail.test"),
                        listener="submission", starttls=False, auth=("app1", "app1-password"))
    qid = queue_id(text)
    ok(code == 250 and qid, "posternd, account spf_action=warn: fail.test accepted", text)
    r = p.posternctl("queue", "show", qid or "-", "--json")
    hdrs = (json.loads(r.stdout).get("headers") or "") if r.returncode == 0 else ""
    ok(re.search(r"(^|\r\n)X-Postern-SPF: fail \(domain fail\.test does not authorise relay "
                 r"address %s; add ip4:%s to its SPF record\)\r\n" % (re.escape(EGRESS), re.escape(EGRESS)),
                 hdrs), "... and the queued message carries X-Postern-SPF:", r.stdout[:600])
    is_(p.stop(), 0, "posternd exits cleanly")


harness.run(main)
