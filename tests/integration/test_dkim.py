#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""DKIM signing, checked by two independent verifiers.

Keys are made with `posternctl dkim generate` (RSA-2048 and Ed25519 for
one domain) through a running posternd whose data directory holds the
key directory the other configs read, the TXT records come from `posternctl dkim dns` and are
served by dnsmasq; messages are signed by the real EOM stage
(tests/tools/dkim_signfile links libpostern.a) and verified by dkimpy
(dnsfunc asks the test dnsmasq) and by opendkim-testmsg inside a private
network namespace whose resolver is a dnsmasq on 127.0.0.1:53.
Each signature is verified on its own (the other one removed), for every
case; one flipped byte must make both verifiers fail; rotation must
switch the selector; the From: domain rules and the tempfail rules are
checked too.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BUILDDIR, Dns, Netns, Postern, diag, done, is_, skip, tmpdir, zone_records  # noqa: E402
import dkim  # noqa: E402


def ok(cond, name, info=None):
    """harness.ok() plus INFO as TAP comments on failure."""
    r = harness.ok(cond, name)
    if not r and info is not None:
        diag(str(info)[-3000:])
    return r

B = BUILDDIR
CTL = os.path.join(B, "posternctl")
SIGN = os.path.join(B, "tests", "tools", "dkim_signfile")
RECORD = "domains=a.test,other.test"

tmp = tmpdir("postern-dkim-")
dns_srv = None
# Key changes go through the daemon (dkim.generate, .rotate, .remove);
# its data directory is TMP, so the key directory is TMP/dkim for all.
daemon = Postern(name="dkimd", tls=False, conf={"data_directory": tmp})


def serve(recs, nx=()):
    """A fresh dnsmasq serving the TXT records RECS (and NXDOMAIN for NX)."""
    global dns_srv
    if dns_srv:
        dns_srv.stop()
    d = Dns()
    for n, v in recs:
        d.txt(n, v)
    for n in nx:
        d.nxdomain(n)
    dns_srv = d.start()
    return d


def write_conf(name, extra=""):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("data_directory = %s\n" % tmp)
        f.write("control_socket = %s\n" % daemon.control_socket)
        f.write("dkim_signature_expiry = 7d\n")
        f.write(extra)
    return path


def ctl(conf, *args):
    return subprocess.run([CTL, "-c", conf] + list(args), capture_output=True, text=True)


def sign(conf, msg, record=RECORD):
    p = subprocess.run([SIGN, conf, record], input=msg, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def sig_headers(msg):
    """The DKIM-Signature header fields (raw, with folding) of MSG."""
    head = msg.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    fields = re.findall(rb"(?ms)^DKIM-Signature:.*?\r\n(?![ \t])", head)
    return fields


def only_sig(msg, algo):
    """MSG with only the DKIM-Signature whose a= is ALGO."""
    out = msg
    for f in sig_headers(msg):
        if (b"a=" + algo.encode()) not in f:
            out = out.replace(f, b"", 1)
    return out


def tag(field, name):
    v = re.sub(rb"\s+", b"", field.split(b":", 1)[1]).decode()
    for kv in v.split(";"):
        if kv.startswith(name + "="):
            return kv[len(name) + 1:]
    return None


def dkimpy_ok(msg):
    try:
        return dkim.verify(msg, dnsfunc=dns_srv.lookup_txt)
    except Exception:
        return False


def tamper(msg):
    """Flip one byte in the middle of the body."""
    head, body = msg.split(b"\r\n\r\n", 1)
    if not body:
        return msg.replace(b"Subject: ", b"Subject: X", 1)
    i = len(body) // 2
    while body[i:i + 1] in (b"\r", b"\n", b" ", b"\t"):
        i += 1
    flipped = bytes([body[i] ^ 0x01])
    return head + b"\r\n\r\n" + body[:i] + flipped + body[i + 1:]


def cases():
    h = (b"From: Sender <news@a.test>\r\nTo: Rcpt <r@example.net>\r\n"
         b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n")
    long_subject = b"Subject: " + b" ".join(b"word%03d" % i for i in range(60))
    folded = b""
    line = b""
    for w in long_subject.split(b" "):
        if len(line) + len(w) > 70:
            folded += line + b"\r\n"
            line = b"\t" + w
        else:
            line = line + (b" " if line else b"") + w
    folded += line + b"\r\n"
    to_many = b"Cc: " + b",\r\n    ".join(b"user%d@example.net" % i for i in range(40)) + b"\r\n"
    mp = (b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n"
          b"Subject: multi\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: 8bit\r\n\r\nHall\xc3\xb6chen\r\n--b1\r\n"
          b"Content-Type: text/html\r\n\r\n<p>hi</p>\r\n--b1--\r\n")
    big = b"".join(b"line %07d of a one megabyte body, padded .................\r\n" % i
                   for i in range(16500))
    return [
        ("plain", h + b"Subject: hello\r\n\r\nHello world.\r\n"),
        ("8-bit body", h + b"Subject: utf8\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x82\xac\r\n\xff\xfe raw bytes\r\n"),
        ("long folded headers", h + folded + to_many + b"\r\nbody\r\n"),
        ("trailing whitespace", h + b"Subject: spaces   \t\r\n\r\nline with spaces   \r\n"
         b"\ttabbed\t\r\n  \r\n\r\n\r\n"),
        ("empty body", h + b"Subject: empty\r\n\r\n"),
        ("body without final CRLF", h + b"Subject: nocrlf\r\n\r\nfirst\r\nlast line"),
        ("multipart", h + mp),
        ("1 MB body", h + b"Subject: big\r\n\r\n" + big),
    ]


def main():
    global dns_srv
    daemon.start()
    conf = write_conf("a.conf")
    keydir = os.path.join(tmp, "dkim")

    # --- keys -------------------------------------------------------------
    r1 = ctl(conf, "dkim", "generate", "a.test", "--selector", "rsa1")
    r2 = ctl(conf, "dkim", "generate", "a.test", "--selector", "ed1", "--algorithm", "ed25519")
    ok(r1.returncode == 0 and r2.returncode == 0, "dkim generate rsa + ed25519",
         r1.stderr + r2.stderr)
    mode_ok = all(stat.S_IMODE(os.stat(os.path.join(keydir, f)).st_mode) == 0o600
                  for f in os.listdir(keydir) if f.endswith(".pem"))
    ok(mode_ok and stat.S_IMODE(os.stat(keydir).st_mode) == 0o700,
         "key files are 0600, key directory 0700")
    allout = subprocess.run("%s -c %s dkim list; %s -c %s dkim dns a.test" % (CTL, conf, CTL, conf),
                            shell=True, capture_output=True).stdout
    ok(b"PRIVATE" not in allout and b"BEGIN" not in allout,
         "list/dns never print a private key")
    lst = json.loads(ctl(conf, "dkim", "list", "--json").stdout)
    is_(sorted((k["selector"], k["algorithm"], k["bits"], k["active"]) for k in lst),
          [("ed1", "ed25519", 256, True), ("rsa1", "rsa", 2048, True)], "dkim list --json")
    dnsout = ctl(conf, "dkim", "dns", "a.test")
    recs = zone_records(dnsout.stdout, check_sizes=True)
    ok(dnsout.returncode == 0 and len(recs) == 2, "dkim dns prints two TXT records", dnsout.stdout)
    rsa_rec = [v for n, v in recs if n.startswith("rsa1.")]
    ok(rsa_rec and rsa_rec[0].startswith("v=DKIM1; k=rsa; p=") and len(rsa_rec[0]) > 255
         and '" "' in dnsout.stdout, "RSA record is split into <=255-octet strings")
    ed_rec = [v for n, v in recs if n.startswith("ed1.")]
    ok(ed_rec and re.match(r"^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$", ed_rec[0]),
         "Ed25519 record carries the raw 32-byte key (RFC 8463)")
    # fallback domain key
    ctl(conf, "dkim", "generate", "fb.test", "--selector", "fb1", "--algorithm", "ed25519")
    recs += zone_records(ctl(conf, "dkim", "dns", "fb.test").stdout, check_sizes=True)
    serve(recs)

    # --- cases, each signature alone, both verifiers --------------------------
    netns = Netns.available()
    testmsg = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"
    ns_jobs = []   # (test name, file, expect_ok)
    for name, msg in cases():
        rc, signed, err = sign(conf, msg)
        sigs = sig_headers(signed)
        ok(rc == 0 and len(sigs) == 2, "%s: signed twice (rsa + ed25519)" % name, err)
        if rc != 0 or len(sigs) != 2:
            continue
        for algo in ("rsa-sha256", "ed25519-sha256"):
            one = only_sig(signed, algo)
            ok(dkimpy_ok(one), "%s: dkimpy verifies %s" % (name, algo))
            bad = tamper(one)
            ok(bad != one and not dkimpy_ok(bad), "%s: dkimpy rejects %s after one flipped byte"
                 % (name, algo))
            for kind, data, expect in (("good", one, 0), ("tampered", bad, 1)):
                if name in ("plain", "8-bit body", "1 MB body", "body without final CRLF",
                            "multipart", "trailing whitespace", "empty body",
                            "long folded headers"):
                    fn = os.path.join(tmp, "%s-%s-%s.eml" % (re.sub(r"\W+", "_", name), algo, kind))
                    with open(fn, "wb") as f:
                        f.write(data)
                    ns_jobs.append(("%s: opendkim-testmsg %s %s %s" % (
                        name, "verifies" if expect == 0 else "rejects", algo, kind), fn, expect))
        if name == "plain":
            f = sigs[0]
            is_(tag(f, "c"), "relaxed/relaxed", "c=relaxed/relaxed")
            ok(tag(f, "l") is None, "no l= tag")
            h = tag(f, "h").lower().split(":")
            ok(h.count("from") == 2 and "subject" in h and "message-id" in h,
                 "h= oversigns From and lists the configured headers", tag(f, "h"))
            ok(tag(f, "x") and int(tag(f, "x")) - int(tag(f, "t")) == 7 * 86400,
                 "x= is t= + dkim_signature_expiry")
            is_(tag(f, "d"), "a.test", "d= is the From: domain")
            # a header added after signing breaks oversigned From
            extra = signed.replace(b"From: Sender", b"From: evil@b.test\r\nFrom: Sender", 1)
            ok(not dkimpy_ok(only_sig(extra, "rsa-sha256")), "a second From: breaks the signature")
        if name == "body without final CRLF":
            ok(dkimpy_ok(only_sig(signed, "ed25519-sha256") + b"\r\n"),
                 "still verifies once delivery adds the final CRLF")

    if netns and os.path.exists(testmsg):
        # opendkim-testmsg only uses the system resolver: give it its own
        # namespace whose resolv.conf names a dnsmasq on 127.0.0.1:53
        with Netns() as ns:
            nsdns = Dns(netns=ns, name="netns-dns")
            for n, v in recs:
                nsdns.txt(n, v)
            nsdns.start()
            for tname, fn, expect in ns_jobs:
                with open(fn, "rb") as f:
                    r = ns.run([testmsg], stdin=f, timeout=120)
                ok((r.returncode == 0) == (expect == 0), tname,
                   "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
            nsdns.stop()
    else:
        skip(len(ns_jobs), "opendkim-testmsg: no network namespace (needs root) or not installed")

    # --- signing domain choice --------------------------------------------------
    msg = cases()[0][1]
    rc, out, err = sign(conf, msg.replace(b"news@a.test", b"news@b.test"))
    ok(rc == 0 and out == msg.replace(b"news@a.test", b"news@b.test"),
         "From: domain not allowed, no fallback: passed on unsigned", err)
    rc, out, err = sign(conf, msg, record="domains=other.test")
    ok(rc == 0 and not sig_headers(out), "account without the From: domain: unsigned")
    two_from = msg.replace(b"From: Sender <news@a.test>", b"From: news@a.test\r\nFrom: x@b.test")
    rc, out, err = sign(conf, two_from)
    ok(rc == 0 and not sig_headers(out), "two From: fields: no author-domain signature")
    mixed = msg.replace(b"From: Sender <news@a.test>", b"From: a@a.test, \"x, y\" <b@b.test>")
    rc, out, err = sign(conf, mixed)
    ok(rc == 0 and not sig_headers(out), "From: mailboxes in different domains: unsigned")
    fbconf = write_conf("fb.conf", "dkim_fallback_domain = fb.test\n")
    rc, out, err = sign(fbconf, msg.replace(b"news@a.test", b"news@b.test"))
    s = sig_headers(out)
    ok(rc == 0 and len(s) == 1 and tag(s[0], "d") == "fb.test" and dkimpy_ok(out),
         "not allowed + dkim_fallback_domain: signed d=fb.test, verifies", err)
    rc, out, err = sign(fbconf, msg)
    ok(rc == 0 and len(sig_headers(out)) == 2 and tag(sig_headers(out)[0], "d") == "a.test",
         "allowed domain still signs as itself when a fallback exists")
    nokey = write_conf("nokey.conf", "dkim_fallback_domain = nokey.test\n")
    rc, out, err = sign(nokey, msg.replace(b"news@a.test", b"news@b.test"))
    ok(rc == 75 and "451 4.7.0" in err and out == b"",
         "fallback domain without key: tempfail 451 4.7.0, no unsigned output", err)
    pem = os.path.join(keydir, "a.test.rsa1.pem")
    os.chmod(pem, 0o644)
    rc, out, err = sign(conf, msg)
    ok(rc == 75 and "451 4.7.0" in err, "world-readable key refused: tempfail 451 4.7.0", err)
    r = ctl(conf, "dkim", "dns", "a.test")
    ok("too open" in r.stderr, "dkim dns refuses the world-readable key too", r.stderr)
    os.chmod(pem, 0o600)
    edpem = os.path.join(keydir, "a.test.ed1.pem")
    with open(edpem) as f:
        saved = f.read()
    with open(edpem, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    rc, out, err = sign(conf, msg)
    ok(rc == 75 and "451 4.7.0" in err, "unusable key: tempfail 451 4.7.0, never unsigned", err)
    with open(edpem, "w") as f:
        f.write(saved)

    # --- rotation -----------------------------------------------------------------
    r = ctl(conf, "dkim", "rotate", "a.test")
    ok(r.returncode == 0, "dkim rotate", r.stderr)
    lst = json.loads(ctl(conf, "dkim", "list", "--json").stdout)
    act = sorted(k["selector"] for k in lst if k["domain"] == "a.test" and k["active"])
    old = sorted(k["selector"] for k in lst if k["domain"] == "a.test" and not k["active"])
    ok(len(act) == 2 and old == ["ed1", "rsa1"], "rotate: new selectors active, old ones still listed",
         json.dumps(lst))
    recs2 = zone_records(ctl(conf, "dkim", "dns", "a.test").stdout, check_sizes=True) + \
        zone_records(ctl(conf, "dkim", "dns", "fb.test").stdout, check_sizes=True)
    is_(len(recs2), 5, "dkim dns lists old and new keys")
    serve(recs2)
    rc, out, err = sign(conf, msg)
    sels = sorted(tag(f, "s") for f in sig_headers(out))
    ok(rc == 0 and sels == act, "after rotate new mail carries the new selectors", "%s %s" % (sels, err))
    ok(dkimpy_ok(only_sig(out, "rsa-sha256")) and dkimpy_ok(only_sig(out, "ed25519-sha256")),
         "after rotate both signatures verify (dkimpy)")
    r = ctl(conf, "dkim", "remove", "a.test", "rsa1")
    lst = json.loads(ctl(conf, "dkim", "list", "--json").stdout)
    ok(r.returncode == 0 and "rsa1" not in [k["selector"] for k in lst]
         and not os.path.exists(pem), "dkim remove drops the entry and the key file")
    r = ctl(conf, "dkim", "remove", "a.test", "nosuch")
    ok(r.returncode != 0, "removing an unknown selector fails")
    r = ctl(conf, "dkim", "generate", "a.test", "--selector", "bad selector!")
    ok(r.returncode != 0, "invalid selector refused")

    # --- run as root with `user` set: the daemon's user owns the keys ------------------
    if os.geteuid() == 0:
        import pwd
        nobody = pwd.getpwnam("nobody")
        u = Postern(name="dkimu", tls=False, conf={"user": "nobody"})
        os.chmod(u.dir, 0o711)      # the daemon's user reaches its data directory by path
        u.start()
        r = u.posternctl("dkim", "generate", "u.test", "--algorithm", "ed25519")
        kd = os.path.join(u.data_dir, "dkim")
        owners = ({os.stat(os.path.join(kd, n)).st_uid for n in os.listdir(kd)} |
                  {os.stat(kd).st_uid}) if os.path.isdir(kd) else set()
        ok(r.returncode == 0 and owners == {nobody.pw_uid},
             "keys generated by posternd running as `user` belong to it", "%s %s" % (owners, r.stderr))
        u.stop()
    else:
        skip(1, "keys generated by posternd running as `user` belong to it: not root")

    # --- domain check ---------------------------------------------------------------
    recs3 = recs2 + [("a.test", "v=spf1 ip4:192.0.2.10 -all")]
    serve(recs3)
    dconf = write_conf("d.conf", "dns_servers = %s\nspf_egress_ips = 192.0.2.10\n" % dns_srv.server)
    r = ctl(dconf, "domain", "check", "a.test")
    ok(r.returncode == 0 and "result: ok" in r.stdout and "published, matches" in r.stdout
         and "evaluation: pass" in r.stdout, "domain check: everything published", r.stdout + r.stderr)
    ctl(conf, "dkim", "generate", "a.test", "--selector", "unpub", "--algorithm", "ed25519")
    ctl(conf, "dkim", "rotate", "a.test", "--algorithm", "ed25519")
    newsel = [k["selector"] for k in json.loads(ctl(conf, "dkim", "list", "--json").stdout)
              if k["active"] and k["algorithm"] == "ed25519" and k["domain"] == "a.test"][0]
    serve(recs3, nx=["%s._domainkey.a.test" % newsel])
    dconf = write_conf("d.conf", "dns_servers = %s\nspf_egress_ips = 192.0.2.10\n" % dns_srv.server)
    r = ctl(dconf, "domain", "check", "a.test")
    ok(r.returncode == 1 and "not published" in r.stdout, "domain check: new key not yet in DNS",
         r.stdout)
    dconf2 = write_conf("d2.conf", "dns_servers = %s\nspf_egress_ips = 198.51.100.7\n"
                        % dns_srv.server)
    r = ctl(dconf2, "domain", "check", "a.test")
    ok(r.returncode == 1 and "ip4:198.51.100.7" in r.stdout and "evaluation: fail" in r.stdout,
         "domain check: SPF does not authorise our IP", r.stdout)


harness.run(main)
