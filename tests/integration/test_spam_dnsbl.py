#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_spam_dnsbl: DNS blocklists of the spam stage through the real
posternd and a real DNSBL server, Debian's rbldnsd on a loopback port
(issue 15).  Zones:

  zen.test   ip4set: 127.0.0.2 (RFC 5782 test entry), 127.0.0.3 -> 127.0.0.4
  dbl.test   dnset:  test (test entry), evil-domain.test
  bad.test   ip4set: 127.0.0.0/24 -- lists 127.0.0.1, which it must not
  ref.test   ip4set: answers 127.255.255.254 (a refusal)

Checked: zen.test and dbl.test pass their canaries (event=dnsbl_ok);
bad.test and ref.test are disabled and logged; a message with a URL of
evil-domain.test gets the DBL symbol (code 2 -> DBL_SPAM, weight 7) and
is held; one from client address 127.0.0.3 gets ZEN_XBL (code 4) and is
tagged; a clean message from 127.0.0.1 gets no symbol although the
disabled bad.test would list it.
"""

import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from harness.core import _fixtures, _kill_pid  # noqa: E402


class Rbldnsd:
    """rbldnsd -u nobody on 127.0.0.1:PORT serving ZONES {name: (type, text)}."""

    def __init__(self, zones):
        self.dir = tempfile.mkdtemp(prefix="postern-rbldnsd-")
        os.chmod(self.dir, 0o755)     # rbldnsd reads it as nobody
        self.port = free_port("127.0.0.1", udp=True)
        args = []
        for name, (kind, text) in zones.items():
            path = os.path.join(self.dir, name + ".zone")
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            args.append("%s:%s:%s.zone" % (name, kind, name))
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["rbldnsd", "-u", "nobody", "-b", "127.0.0.1/%d" % self.port,
                                      "-n", "-w", self.dir] + args,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _fixtures.append(self)

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def dump(self):
        pass

    def close(self):
        if self.proc is not None:
            _kill_pid(self.proc)
            self.proc = None
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def show(p, qid, body=False):
    args = ["queue", "show", qid, "--json"] + (["--body"] if body else [])
    r = p.posternctl(*args)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def send_from(p, source, data):
    """Submit over STARTTLS + AUTH from client address SOURCE."""
    s = smtplib.SMTP(p.host, p.ports["submission"], local_hostname="client.test",
                     source_address=(source, 0), timeout=60)
    try:
        s.ehlo()
        s.starttls(context=client_tls_context())
        s.ehlo()
        s.login("acme", "pw-acme-secret")
        s.mail("app@acme.test")
        s.rcpt("user@example.test")
        code, text = s.data(data)
        return code, text.decode(errors="replace")
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def main():
    if shutil.which("rbldnsd") is None:
        skip_all("rbldnsd (Debian package rbldnsd) is not installed")
    rbl = Rbldnsd({
        "zen.test": ("ip4set", ":127.0.0.2:listed\n127.0.0.2\n127.0.0.3 :4:client listed\n"),
        "dbl.test": ("dnset", ":127.0.0.2:listed\ntest\nevil-domain.test\n"),
        "bad.test": ("ip4set", ":127.0.0.2:listed\n127.0.0.0/24\n"),
        "ref.test": ("ip4set", ":127.255.255.254:refused\n127.0.0.0/24\n"),
    })
    p = Postern(name="spamdnsbl", conf={
        "delivery_enabled": "no",
        "dns_servers": rbl.server,
        "spf_action": "ignore",
        "spam_tag_score": "2",
        "spam_hold_score": "6",
        "spam_dnsbl": ["zen.test:ZEN:1:2=ZEN_SBL=4+4=ZEN_XBL=3", "bad.test:BAD:50",
                       "ref.test:REF:50"],
        "spam_uribl": ["dbl.test:DBL:1:2=DBL_SPAM=7"],
        "spam_dnsbl_timeout": "5s",
    }).start()
    plan(12)
    ok(p.wait_log(r"event=dnsbl_ok zone=zen\.test", timeout=20), "zen.test passes its canaries")
    ok(p.wait_log(r"event=dnsbl_ok zone=dbl\.test", timeout=20), "dbl.test passes its canaries")
    ok(p.wait_log(r"event=dnsbl_disabled zone=bad\.test reason=lists_test_entry_it_must_not",
                  timeout=20), "bad.test (lists 127.0.0.1) is disabled")
    ok(p.wait_log(r"event=dnsbl_disabled zone=ref\.test reason=refused", timeout=20),
       "ref.test (answers 127.255.255.254) is disabled")
    r = p.posternctl("account", "add", "acme", "--domain", "acme.test", "--password-stdin",
                     input="pw-acme-secret\n")
    is_(r.returncode, 0, "account acme")

    evil = make_message(mail_from="app@acme.test", subject="your invoice",
                        body="Pay here: https://www.evil-domain.test/pay?id=1\r\n")
    code, text = send_from(p, "127.0.0.1", evil)
    is_(code, 250, "URL in a listed domain: accepted")
    m = show(p, queue_id(text), body=True)
    is_(m.get("state"), "held", "DBL_SPAM (7) >= hold 6: held")
    like(m.get("body") or "", r"(?m)^X-Postern-Spam: score=7\.00 symbols=DBL_SPAM:7\.00\r$",
         "the header names the decoded return code's symbol")

    clean = make_message(mail_from="app@acme.test", subject="hello", body="no links here\r\n")
    code, text = send_from(p, "127.0.0.3", clean)
    m = show(p, queue_id(text), body=True)
    ok(code == 250 and m.get("state") != "held", "client 127.0.0.3: accepted, not held")
    like(m.get("body") or "", r"(?m)^X-Postern-Spam: score=3\.00 symbols=ZEN_XBL:3\.00\r$",
         "client 127.0.0.3 listed with code 4: ZEN_XBL, tagged")

    code, text = send_from(p, "127.0.0.1", clean)
    m = show(p, queue_id(text), body=True)
    ok(code == 250 and "X-Postern-Spam" not in (m.get("body") or ""),
       "client 127.0.0.1: no symbol (bad.test disabled, ref.test disabled)")
    v = json.dumps(m.get("verdicts"))
    ok('"stage": "spam"' in v and "BAD" not in v and "REF" not in v,
       "verdicts: no symbol of a disabled list")
    done()


run(main)
