#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_privacy_verify: an independent check of privacy at rest (issue 13)
and of the privacy claims of suppressions (issue 14) and review
(issue 16), with a scanner of its own (attacker.py, not rawscan.py).

Mail comes in over real SMTP (relay listener): an EHLO name that names
a person, upper-case and IDN (U-label, SMTPUTF8) addresses, ORCPT and
ENVID; the sink refuses one recipient with a reply that quotes it in
upper case, so a DSN is made.  Then for queued, delivered+bounced,
queue delete, body purge, metadata purge, account delete, restore of a
backup taken before a delete, suppressions and a DLP hold rejected by
review: every file under the test directory (data.mdb whole, its free
pages alone, its mdb_dump -a, the key store, the erasure journal, the
daemon log, backups), every posternctl output and every audit record
is searched case-insensitively for body/Subject/attachment markers
(also base64) and for every form of the addresses (the unique local
parts catch upper case, IDN and quoted forms) and the EHLO name.  With
the master key, every key the key store images yield and every
high-entropy 32-byte window of every file is tried against every sealed
value of a deleted message taken from a copy made before the delete."""

import base64
import re
import subprocess
import json
import os
import shutil
import smtplib

from harness import *
from queuelib import control
import attacker as A

plan(68)

OUT = {}        # captured posternctl output: label -> bytes


def ctl(p, *args, **kw):
    r = p.posternctl(*args, **kw)
    OUT["ctl %d %s" % (len(OUT), " ".join(str(a) for a in args))] = (r.stdout + r.stderr).encode()
    return r


def ctl_json(p, *args):
    r = ctl(p, *args, "--json")
    if r.returncode:
        raise HarnessError("posternctl %s: %s" % (args, r.stderr))
    return json.loads(r.stdout)


def message(tag):
    h = os.urandom(5).hex()
    m = {"h": h,
         "slocal": "Zs%s%s" % (tag, h), "rlocal": "Zr%s%s" % (tag, h), "ilocal": "Zi%s%s" % (tag, h),
         "helo": "laptop-of-zh%s%s.example.test" % (tag, h),
         "body": "BODYMARK%s%s" % (tag, h), "subject": "SUBJMARK%s%s" % (tag, h),
         "att": "ATTMARK%s%s" % (tag, h)}
    m["sender"] = "%s@Sender.Test" % m["slocal"]
    m["rcpt"] = "%s@Example.Test" % m["rlocal"]
    m["idn"] = "%s@b\u00fccher.test" % m["ilocal"]
    m["idn_a"] = "%s@xn--bcher-kva.test" % m["ilocal"]
    att = base64.b64encode((m["att"] + " attachment\n").encode()).decode()
    m["data"] = ("From: <%s>\r\nTo: <%s>, <%s>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
                 "--b1\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
                 "--b1\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n"
                 % (m["sender"], m["rcpt"], m["idn"], m["subject"], m["body"], att)).encode()
    return m


def needles(m, content=True):
    n = [m["slocal"], m["rlocal"], m["ilocal"], m["helo"].split(".")[0],
         m["sender"], m["rcpt"], m["idn"], m["idn_a"]]
    if content:
        n += [m["body"], m["subject"], m["att"]] + A.b64_forms(m["att"]) + A.b64_forms(m["body"])
    return n


def submit(p, m, rcpts=None, account=None):
    s = smtplib.SMTP(p.host, p.ports["relay"], local_hostname=m["helo"], timeout=60)
    try:
        s.ehlo()
        code, _ = s.mail(m["sender"].upper(), ["SMTPUTF8", "ENVID=env-%s" % m["slocal"], "RET=HDRS"])
        assert code == 250, code
        for r in rcpts or (m["rcpt"].upper(), m["idn"]):
            opts = ["NOTIFY=FAILURE"] + (["ORCPT=rfc822;" + r] if r.isascii() else [])
            code, t = s.rcpt(r, opts)
            assert code == 250, (code, t)
        code, t = s.data(m["data"])
        assert code == 250, (code, t)
        return t.decode().split()[-1]
    finally:
        s.quit()


def leaked(fs, m, content=True):
    return A.plaintext(fs, needles(m, content))


def nothing_opens(p, before, did, after, accounts, label):
    """With the master key: nothing of DID opens from the files AFTER,
    though its sealed values were taken from BEFORE (the copy made
    before the delete, where they must open: the positive control)."""
    mk = A.master_key(p.master_key_file)
    sealed = A.sealed_of(before["data/data.mdb"], did)
    k0all = A.unwrap(mk, before, accounts, [did], sealed=sealed)
    k0 = k0all.get(("msg", did), set())
    ok(sealed and k0 and A.opens(k0, sealed),
       "%s: (control) in the copy taken before, its key unwraps and its %d sealed values open"
       % (label, len(sealed)))
    k1 = A.unwrap(mk, after, accounts, [did], sealed=sealed).get(("msg", did), set())
    is_(len(k1), 0, "%s: no key store image left yields its data key" % label)
    small = min(sealed, key=lambda s: len(s[0]))
    ws = A.windows(after)
    slots = A.slot_targets(before, accounts, [did])
    ok(A.opens([mk], slots), "%s: (control) the master key opens account slots of the copy" % label)
    hit = A.opens(ws, [small] + [t for t in slots if not A.opens([mk], [t])])
    # a pool-slot key derives from the account key and the slot's secret:
    # neither may lie in the clear in any file (nor the data key itself)
    aks0 = set().union(*[v for (kind, _), v in k0all.items() if kind == "account"])
    hit += list(set(ws) & (k0all.get(("secret", did), set()) | aks0 | k0))
    is_(len(hit), 0, "%s: none of %d candidate 32-byte keys in any file opens it or its wrapped key"
        " (nor is its data key, pool secret or account key among them)" % (label, len(ws)))


def audit(p):
    return ctl_json(p, "audit", "list")["audit"]


conf = {"queue_map_size": "16m", "purge_interval": "1h", "log_pseudonymise": "yes"}

sink = Sink(host="127.0.0.1").start()
with Postern(tls=False, conf=dict(conf, transport="*=[127.0.0.1]:%d" % sink.port,
                                  retry_schedule="1s", delivery_enabled="no")) as p:
    # ---- queued ------------------------------------------------------------
    Q = message("q")
    qid = submit(p, Q)
    ok(qid, "queued over SMTP (EHLO %s, upper-case, IDN, ORCPT, ENVID)" % Q["helo"])
    show = ctl_json(p, "queue", "show", qid, "--body", "--reason", "verify 1")
    ok(Q["body"] in show.get("body", ""), "queue show --body reads it (in memory)")
    fs = A.files(p, OUT)
    del fs["ctl %d queue show %s --body --reason verify 1 --json" % (len(OUT) - 1, qid)]
    is_(leaked(fs, Q), {}, "queued: no marker, address form or EHLO name in any file or output")
    recs = [r for r in audit(p) if r.get("target") == qid]
    ok(any(r.get("cmd") == "queue.show" and r.get("reason") == "verify 1" for r in recs),
       "queued: the read is audited with its reason")
    is_(leaked({"audit": json.dumps(audit(p)).encode()}, Q), {}, "queued: no address in audit records")
    OUT.clear()
    # ---- delivered, one recipient bounced with a reply quoting it ---------
    D = message("d")
    sink.on_rcpt(D["rcpt"].lower(), "550 5.1.1 %s... User unknown <%s>" % (D["rcpt"].upper(), D["rcpt"]))
    sink.on_rcpt(D["rcpt"], "550 5.1.1 %s... User unknown <%s>" % (D["rcpt"].upper(), D["rcpt"]))
    did = submit(p, D)
    p.stop()
    p.write_conf({"delivery_enabled": "yes"})
    p.start()
    wait_for(lambda: any(b"BODYMARK" in x.data for x in sink.messages()), 60, what="delivery")
    wait_for(lambda: any(b"delivery-status" in x.data.lower() for x in sink.messages()), 60,
             what="the DSN to the sender")
    dsn = [x for x in sink.messages() if b"delivery-status" in x.data.lower()][0]
    ok(D["rlocal"].lower().encode() in dsn.data.lower(), "delivered: the DSN names the refused recipient")
    ev = ctl_json(p, "queue", "events")["events"]
    wait_for(lambda: len(p.log_lines(r"event=attempt .*status=delivered")) >= 4, 30, what="log")
    p.stop()
    lines = p.log_lines(r"event=attempt ")
    bad = [l for l in lines if "status=delivered" in l and not re.search(r'reply="ok queued as sink-\d+"$', l)]
    bad += [l for l in lines if "status=bounced" in l and not re.search(r'reply="h:[0-9a-f]{16}\.\.\. User unknown <h:[0-9a-f]{16}>"$', l)]
    is_(bad, [], "delivered: every attempt line logs exactly the remote reply, scrubbed (%d lines)" % len(lines))
    fs = A.files(p, OUT)
    is_(leaked(fs, D, content=True), {},
        "delivered: no marker, address (in remote reply, DSN, ORCPT), or EHLO name in any file")
    is_(leaked({"events": json.dumps(ev).encode()}, D, content=False), {},
        "delivered: no address in the events shown by posternctl")
sink.close()

# ---- queue delete, body purge, account delete: shredded -------------------
with Postern(tls=False, conf=dict(conf, delivery_enabled="no")) as p:
    for a in ("gone", "stays"):
        ok(ctl(p, "account", "add", a, "--domain", "sender.test", "--password-stdin",
               input="Pw-%s-Secret-77\n" % a).returncode == 0, "account %s added" % a)
    X = message("x")
    xid = submit(p, X)
    before = A.files(p)
    ok(ctl(p, "queue", "delete", xid).returncode == 0, "queue delete")
    p.stop()
    after = A.files(p, OUT)
    is_(leaked(after, X), {}, "queue delete: nothing of it in plaintext anywhere")
    nothing_opens(p, before, xid, after, ["", "relay", "gone", "stays"], "queue delete")
    p.start()
    aud = json.dumps(audit(p)).encode()
    ok(b"Pw-gone-Secret-77" not in aud and b"Pw-gone-Secret-77" not in open(p.log_path, "rb").read(),
       "no password in audit records or the log")
    ctl(p, "queue", "show", 'X"\nFORGED event=delivered qid=X')
    wait_for(lambda: "cmd=queue.show" in p.log(), 10, what="the control log line")
    ok(not [l for l in p.log().splitlines() if l.startswith("FORGED")],
       "a request's target is logged escaped: no line of the client's own in the log")
    # ---- account delete: its message (injected for it) is shredded ------
    G, L = message("g"), message("l")
    gid = control(p, "queue.inject", {"account": "gone", "sender": G["sender"], "rcpts": [G["rcpt"]],
                                      "data": G["data"].decode()})["result"]["id"]
    lid = control(p, "queue.inject", {"account": "stays", "sender": L["sender"], "rcpts": [L["rcpt"]],
                                      "data": L["data"].decode()})["result"]["id"]
    p.stop()
    before = A.files(p)
    p.start()
    bdir = os.path.join(p.dir, "backup-before")
    os.mkdir(bdir, 0o755)       # made by the operator, under umask 022
    old_umask = os.umask(0o022)
    ok(ctl(p, "backup", bdir).returncode == 0, "backup taken before the account delete")
    os.umask(old_umask)
    modes = {n: oct(os.stat(os.path.join(bdir, n)).st_mode & 0o777) for n in os.listdir(bdir)}
    ok(modes and all(m == "0o600" for m in modes.values()),
       "backup: every file of it is 0600, as the live ones: %s" % modes)
    ok(ctl(p, "account", "delete", "gone").returncode == 0, "account delete")
    p.stop()
    after = A.files(p, OUT)
    is_(leaked(after, G), {}, "account delete: nothing of its message in plaintext anywhere")
    nothing_opens(p, before, gid, {k: v for k, v in after.items() if not k.startswith("backup-before")},
                  ["", "relay", "gone", "stays"], "account delete")
    mk = A.master_key(p.master_key_file)
    is_(len(A.unwrap(mk, {k: v for k, v in after.items() if not k.startswith("backup-before")},
                     ["gone"], []).get(("account", "gone"), ())), 0,
        "account delete: its account key is in no live file")
    old_ak = A.unwrap(mk, before, ["gone"], []).get(("account", "gone"), set())
    live = {k: v for k, v in after.items() if not k.startswith("backup-before")}
    ok(old_ak and not A.opens(old_ak, A.slot_targets(live, [], [gid])) and
       not A.derived_keys(old_ak, mk, live, gid, A.sealed_of(before["data/data.mdb"], gid)),
       "account delete: even with its account key from an older copy, no data key of its "
       "messages opens from the live key store (their slots are zeroed too)")
    # ---- restore of the backup taken before the delete -------------------
    r = ctl(p, "restore", bdir)
    ok(r.returncode == 0, "restore of the backup taken before the account delete: %s" % r.stdout.strip())
    after = A.files(p, OUT)
    after = {k: v for k, v in after.items() if not k.startswith("backup-before")}
    is_(leaked(after, G), {}, "restore: nothing of the deleted account's message in plaintext")
    nothing_opens(p, before, gid, after, ["", "relay", "gone", "stays"], "restore")
    k = A.unwrap(mk, after, ["stays"], [lid]).get(("msg", lid), set())
    ok(k and A.opens(k, A.sealed_of(after["data/data.mdb"], lid)),
       "restore: (control) the other account's message still opens in the restored files")
    p.start()

# ---- suppressions: keyed hashes only ---------------------------------------
with Postern(tls=False, conf=dict(conf, delivery_enabled="no")) as p:
    S = message("s")
    OUT.clear()
    ok(ctl(p, "account", "add", "shop", "--domain", "sender.test").returncode == 0, "account shop")
    r1 = ctl(p, "suppress", "add", S["rcpt"], "--account", "shop", "--reason", "unsubscribe")
    r2 = ctl(p, "suppress", "add", S["idn"], "--global")
    imp = os.path.join(p.dir, "import.txt")
    open(imp, "w").write(S["sender"].upper() + "\n")
    r3 = ctl(p, "suppress", "import", imp, "--account", "shop")
    os.unlink(imp)
    r4 = ctl(p, "suppress", "check", S["rcpt"].upper(), "--account", "shop", "--json")
    ok(all(r.returncode == 0 for r in (r1, r2, r3)) and json.loads(r4.stdout).get("suppressed") in (True, 1)
       or "suppressed" in r4.stdout, "suppress add, import, check (upper case finds it): %s" % r4.stdout.strip())
    ctl(p, "suppress", "list", "--account", "shop")
    ctl(p, "suppress", "export", "--account", "shop")
    ctl(p, "queue", "list", "--address", S["rcpt"])
    OUT["audit"] = json.dumps(audit(p)).encode()
    p.stop()
    fs = A.files(p, OUT)
    fs = {k: v for k, v in fs.items() if not (k.startswith("ctl") and (" check " in k or " add " in k))}
    is_(leaked(fs, S, content=False), {},
        "suppressions: no address in data.mdb (free pages too), log, audit, list or export output")

# ---- body-retention purge and metadata purge -------------------------------
with Postern(tls=False, conf=dict(conf, delivery_enabled="no", body_retention="0s")) as p:
    ok(ctl(p, "account", "add", "short", "--domain", "sender.test").returncode == 0 and
       ctl(p, "account", "set", "short", "--set", "event_retention=0s").returncode == 0,
       "account short with event_retention 0s")
    B, M, L = message("b"), message("m"), message("l")
    bid = submit(p, B)
    mid = control(p, "queue.inject", {"account": "short", "sender": M["sender"],
                                      "rcpts": [M["rcpt"], M["idn"]], "data": M["data"].decode()})["result"]["id"]
    lid = submit(p, L)
    p.stop()
    before = A.files(p)
    p.start()
    for x in (bid, mid):
        for no in (0, 1):
            control(p, "queue.report", {"id": x, "rcpt": no, "result": "delivered"})
    ok(ctl(p, "queue", "purge").returncode == 0, "queue purge")
    ok(ctl(p, "queue", "show", mid).returncode == 1, "metadata purge: no record of it left")
    p.stop()
    after = A.files(p, OUT)
    is_(leaked(after, B), {}, "body purge: no marker in plaintext anywhere")
    is_(leaked(after, M), {}, "metadata purge: no marker or address in plaintext anywhere")
    nothing_opens(p, before, bid, after, ["", "relay", "short"], "body purge")
    nothing_opens(p, before, mid, after, ["", "relay", "short"], "metadata purge")
    k = A.unwrap(A.master_key(p.master_key_file), after, ["", "relay"], [lid]).get(("msg", lid), set())
    ok(k and A.opens(k, A.sealed_of(after["data/data.mdb"], lid)), "purge: (control) the live message opens")


# ---- a message held by DLP, shown to a reviewer, rejected ------------------
def reviewer_ctl(rev, p, *args):
    """posternctl as the reviewer; its output joins what is scanned."""
    r = rev.ctl(p, *args)
    OUT["reviewer %d %s" % (len(OUT), " ".join(args))] = (r.stdout + r.stderr).encode()
    return r


if os.geteuid() != 0:
    skip(7, "needs root: the reviewer is a real user")
else:
    rev = Reviewer("ptv")
    try:
        with Postern(tls=True, conf=dict(conf, delivery_enabled="no", reviewer_group=rev.group)) as p:
            OUT.clear()
            os.chmod(p.dir, 0o755)
            ctl(p, "account", "add", "shop", "--domain", "sender.test", "--password-stdin",
                input="Shop-Pw-Secret-91\n")
            ctl(p, "account", "set", "shop", "--set", "dlp_action_card=hold")
            R = message("r")
            data = R["data"].replace(b"BODYMARK", b"card 4556 7375 8689 9855 BODYMARK")
            data = data.replace(b"\r\n\r\n--b1\r\n", b"\r\n\r\n--b1\r\n", 1)
            body_addr = ("Dear %s (%s, %s)" % (R["rcpt"], R["rcpt"].upper(), R["idn"])).encode()
            data = data.replace(b"card 4556", body_addr + b" card 4556")
            code, text = p.send(R["sender"], [R["rcpt"], R["idn"]], data, listener="submission",
                                auth=("shop", "Shop-Pw-Secret-91"), mail_options=("SMTPUTF8",))
            rid = queue_id(text)
            ok(code == 250 and rid, "DLP: the message with a card number is accepted and held (%s)" % text)
            r = reviewer_ctl(rev, p, "review", "show", rid, "--reason", "dlp triage", "--json")
            ok(r.returncode == 0 and rid in r.stdout, "reviewer: review show (%s)" % r.stderr.strip())
            is_(A.plaintext({"review show": r.stdout.encode()},
                            [R["slocal"], R["rlocal"], R["ilocal"]]), {},
                "reviewer: the review view has no address (envelope, headers, body, any case, IDN)")
            views = b"".join((reviewer_ctl(rev, p, *a).stdout.encode()) for a in
                             (("review", "list", "--json"), ("review", "account", "shop", "--json"),
                              ("review", "list", "--accounts", "--json")))
            is_(A.plaintext({"review list": views}, [R["slocal"], R["rlocal"], R["ilocal"]]), {},
                "reviewer: review list and review account have no address")
            r = ctl(p, "review", "show", rid, "--unmasked", "--reason", "legal 7", "--json")
            ok(r.returncode == 0 and R["body"] in r.stdout, "operator: review show --unmasked")
            a = audit(p)
            ok(any(x["cmd"] == "review.show" and x.get("target") == rid and x.get("reason") == "legal 7"
                   for x in a), "review show --unmasked is audited with its reason")
            p.stop()
            before = A.files(p)
            p.start()
            r = reviewer_ctl(rev, p, "review", "reject", rid)
            ok(r.returncode == 0, "reviewer: review reject (%s)" % r.stderr.strip())
            OUT["audit"] = json.dumps(audit(p)).encode()
            p.stop()
            after = A.files(p, {k: v for k, v in OUT.items()
                                if not (" show " in k)})
            is_(leaked(after, R), {}, "review reject: nothing of it in plaintext anywhere (log, audit too)")
            ok(b"Shop-Pw-Secret-91" not in b"".join(after.values()) and
               base64.b64encode(b"\0shop\0Shop-Pw-Secret-91") not in b"".join(after.values()),
               "no AUTH data or password in any file, log or audit record")
            nothing_opens(p, before, rid, after, ["", "relay", "shop"], "review reject")
            p.start()
            ok(ctl(p, "account", "set", "shop", "--set", "event_retention=0s").returncode == 0 and
               ctl(p, "queue", "purge").returncode == 0, "review reject, then metadata purge")
            p.stop()
            tables = {t: subprocess.run(["mdb_dump", "-s", t, p.data_dir], capture_output=True,
                                        text=True).stdout for t in ("messages", "recipients", "review")}
            hexid = rid.encode().hex()
            is_([t for t, d in tables.items() if hexid in d], [],
                "metadata purge: no message, recipient or review record of the rejected message is left")
    finally:
        rev.close()
done()
