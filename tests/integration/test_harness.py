#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_harness.py: proves the integration fixtures do what they claim,
so a failing postern test points at postern and not at the harness.
dnspython queries the Dns fixture (MX, A, AAAA, TXT with several
strings, CNAME, null MX, NXDOMAIN); smtplib talks to the Sink (250,
450, 550, dropped connection, refused greeting, STARTTLS, per-attempt
scripts, stored envelope and data); make_cert gives a 0600 key."""

import os
import smtplib
import ssl
import stat

from harness import *
from harness import PYTHON

plan(50)

# --- helpers -------------------------------------------------------------
d = tmpdir()
cert, key = make_cert(d, "unit.test")
is_(stat.S_IMODE(os.stat(key).st_mode), 0o600, "make_cert: key is 0600")
ok(open(cert).read().startswith("-----BEGIN CERTIFICATE-----"), "make_cert: PEM certificate")
p = free_port("127.0.0.1", udp=True)
ok(1024 <= p <= 65535, "free_port gives a port")

# --- Dns -----------------------------------------------------------------
import dns.resolver

dns_ = Dns(ttl=120)
dns_.mx("example.test", "mx1.example.test", 10).mx("example.test", "mx2.example.test", 20)
dns_.a("mx1.example.test", "127.0.0.2").a("mx2.example.test", "127.0.0.3")
dns_.aaaa("mx1.example.test", "::1")
dns_.txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
long_txt = "v=DKIM1; k=rsa; p=" + "A" * 400
dns_.txt("s1._domainkey.example.test", long_txt)
dns_.txt("multi.example.test", ["one, two", 'quote " here'])
dns_.cname("www.example.test", "mx1.example.test")
dns_.null_mx("nullmx.test")
dns_.nxdomain("nx.test")
dns_.start()
r = dns_.resolver()
mx = sorted((x.preference, x.exchange.to_text()) for x in r.resolve("example.test", "MX"))
is_(mx, [(10, "mx1.example.test."), (20, "mx2.example.test.")], "dns: MX with both preferences")
is_([x.address for x in r.resolve("mx1.example.test", "A")], ["127.0.0.2"], "dns: A")
is_([x.address for x in r.resolve("mx1.example.test", "AAAA")], ["::1"], "dns: AAAA")
ans = r.resolve("example.test", "TXT")
is_([b"".join(x.strings) for x in ans], [b"v=spf1 ip4:127.0.0.1 -all"], "dns: TXT")
is_(ans.rrset.ttl, 120, "dns: TTL as configured")
ans = r.resolve("s1._domainkey.example.test", "TXT")
strings = list(ans[0].strings)
ok(len(strings) == 2 and len(strings[0]) == 255, "dns: long TXT split into 255-octet strings")
is_(b"".join(strings).decode(), long_txt, "dns: long TXT joins back")
is_(list(r.resolve("multi.example.test", "TXT")[0].strings), [b"one, two", b'quote " here'],
    "dns: TXT strings with comma and quote")
ans = r.resolve("www.example.test", "A")
ok(any(rr.rdtype == dns.rdatatype.CNAME for rr in ans.response.answer), "dns: CNAME in the answer")
is_([x.address for x in ans], ["127.0.0.2"], "dns: CNAME target resolved")
is_([(x.preference, x.exchange.to_text()) for x in r.resolve("nullmx.test", "MX")], [(0, ".")],
    "dns: null MX is 0 .")
for name in ("nx.test", "deep.nx.test"):
    try:
        r.resolve(name, "A")
        ok(False, "dns: NXDOMAIN for %s" % name)
    except dns.resolver.NXDOMAIN:
        ok(True, "dns: NXDOMAIN for %s" % name)
dns_.a("late.example.test", "127.0.0.9").start()
is_([x.address for x in r.resolve("late.example.test", "A")], ["127.0.0.9"],
    "dns: record added after start is served after start() again")
dns_.stop()

# --- Sink ----------------------------------------------------------------
sink = Sink(host="127.0.0.2", tls=True).start()
ok(sink.port > 0 and sink.host == "127.0.0.2", "sink listens on 127.0.0.2:%d" % sink.port)
sink.on_rcpt("temp@example.test", "450 4.2.0 try later", "250 2.1.5 ok now")
sink.on_rcpt("bad@example.test", "550 5.1.1 no such user")
sink.on_rcpt("drop@example.test", "drop")

msg = b"From: a@example.test\r\nTo: ok@example.test\r\nSubject: hi\r\n\r\nbody line\r\n"
s = smtplib.SMTP(sink.host, sink.port, local_hostname="client.test", timeout=10)
code, _ = s.ehlo()
is_(code, 250, "sink: EHLO 250")
ok(s.has_extn("starttls"), "sink: offers STARTTLS")
s.mail("a@example.test")
is_(s.rcpt("ok@example.test")[0], 250, "sink: RCPT 250")
is_(s.rcpt("temp@example.test")[0], 450, "sink: scripted RCPT 450 (first attempt)")
is_(s.rcpt("bad@example.test")[0], 550, "sink: scripted RCPT 550")
is_(s.data(msg)[0], 250, "sink: DATA 250")
s.quit()
msgs = sink.wait_messages(1)
is_(msgs[0].mail_from, "a@example.test", "sink: stored MAIL FROM")
is_(msgs[0].rcpt_tos, ["ok@example.test"], "sink: stored only the accepted recipient")
is_(msgs[0].data.replace(b"\r\n", b"\n"), msg.replace(b"\r\n", b"\n"), "sink: stored the data")
is_(msgs[0].header("Subject"), "hi", "sink: header() reads the stored message")

# second attempt: temp@ now accepted, starttls used, DATA scripted 554 once
sink.on_data("554 5.7.1 rejected once", "250 2.0.0 fine")
s = smtplib.SMTP(sink.host, sink.port, local_hostname="client.test", timeout=10)
s.starttls(context=client_tls_context())
s.ehlo()
s.mail("a@example.test")
is_(s.rcpt("temp@example.test")[0], 250, "sink: scripted RCPT 250 on the second attempt")
is_(s.data(msg)[0], 554, "sink: scripted DATA 554")
s.rset()
s.mail("a@example.test")
s.rcpt("temp@example.test")
is_(s.data(msg)[0], 250, "sink: DATA 250 on the next transaction")
s.quit()
msgs = sink.wait_messages(2)
ok(len(msgs) == 2 and msgs[1].tls and not msgs[0].tls, "sink: records that STARTTLS was used")

# drop during RCPT
s = smtplib.SMTP(sink.host, sink.port, local_hostname="client.test", timeout=10)
s.ehlo()
s.mail("a@example.test")
try:
    s.rcpt("drop@example.test")
    ok(False, "sink: drop closes the connection")
except smtplib.SMTPServerDisconnected:
    ok(True, "sink: drop closes the connection")

# per-connection scripts: refuse, drop, then normal
sink.on_connect("421 4.3.2 go away", "drop", "220 hello")
try:
    smtplib.SMTP(sink.host, sink.port, timeout=10)
    ok(False, "sink: scripted 421 greeting")
except smtplib.SMTPConnectError as e:
    is_(e.smtp_code, 421, "sink: scripted 421 greeting")
try:
    smtplib.SMTP(sink.host, sink.port, timeout=10)
    ok(False, "sink: scripted drop at connect")
except smtplib.SMTPServerDisconnected:
    ok(True, "sink: scripted drop at connect")
s = smtplib.SMTP(sink.host, sink.port, timeout=10)
is_(s.noop()[0], 250, "sink: third connection greeted normally")
s.quit()
is_(sink.connections(), 6, "sink: counts connections (STARTTLS is not a new one)")
ev = [(e["ev"], e["arg"], (e["reply"] or "")[:3]) for e in sink.events() if e["ev"] == "rcpt"]
ok(("rcpt", "bad@example.test", "550") in ev, "sink: events() lists rejected recipients")

# Postern.send() and make_message(), pointed at the sink (never started)
sink.reset()
fake = Postern(name="fake")
fake.host = sink.host
fake.ports["relay"] = fake.ports["submission"] = sink.port
code, text = fake.send("a@example.test", ["ok@example.test", "bad@example.test"],
                       make_message(subject="via send"))
ok(code == 250 and queue_id(text) is not None and queue_id(text).startswith("sink-"),
   "send(): DATA reply and queue_id() (%s)" % text)
code, text = fake.send("a@example.test", ["x@example.test"], make_message(), listener="submission")
m = sink.messages()[-1]
ok(code == 250 and m.tls and m.header("Subject") == "test", "send() on submission uses STARTTLS")
sink.on_rcpt("*", "550 5.1.1 nobody")
is_(fake.send("a@example.test", ["y@example.test"], make_message())[0], 550,
    "send(): every recipient refused gives the RCPT reply")
fake.close()
sink.stop()

# smtpd_loops: the daemon's default unless $POSTERN_TEST_SMTPD_LOOPS says
saved = os.environ.pop("POSTERN_TEST_SMTPD_LOOPS", None)
dflt = Postern(name="loopsdefault")
ok("smtpd_loops" not in dflt.conf and "smtpd_loops" not in open(dflt.conf_path).read(),
   "without POSTERN_TEST_SMTPD_LOOPS no smtpd_loops is written (the daemon's default)")
dflt.close()
os.environ["POSTERN_TEST_SMTPD_LOOPS"] = "1"
one = Postern(name="loopsone")
ok("smtpd_loops = 1\n" in open(one.conf_path).read(), "POSTERN_TEST_SMTPD_LOOPS=1 writes smtpd_loops = 1")
one.close()
if saved is None:
    del os.environ["POSTERN_TEST_SMTPD_LOOPS"]
else:
    os.environ["POSTERN_TEST_SMTPD_LOOPS"] = saved

# --- Postfix smtp-sink ---------------------------------------------------
ps = SmtpSink().start()
s = smtplib.SMTP(ps.host, ps.port, timeout=10)
s.ehlo()
s.sendmail("a@example.test", ["b@example.test"], msg)
is_(s.noop()[0], 250, "smtp-sink accepts a message")
s.quit()
ps.stop()

# --- Netns: system resolver and port 25 inside a private namespace -------
if Netns.available():
    with Netns() as ns:
        nd = Dns(netns=ns).mx("ns.test", "mx.ns.test", 5).a("mx.ns.test", "127.0.0.2").start()
        ns_sink = Sink(host="127.0.0.2", port=25, netns=ns).start()
        r = ns.run([PYTHON, "-c", "import dns.resolver; "
                    "print(dns.resolver.resolve('ns.test', 'MX')[0].exchange)"], text=True)
        is_(r.stdout.strip(), "mx.ns.test.", "netns: system resolver asks the test dnsmasq")
        r = ns.run([PYTHON, "-c", "import smtplib; s = smtplib.SMTP('127.0.0.2', 25); "
                    "s.sendmail('a@x.test', ['b@ns.test'], b'Subject: n\\r\\n\\r\\nhi\\r\\n'); s.quit()"],
                   text=True)
        is_(r.returncode, 0, "netns: smtplib inside delivers to the sink on port 25")
        is_([m.rcpt_tos for m in ns_sink.wait_messages(1)], [["b@ns.test"]], "netns: sink stored it")
        name = ns.name
    ok(not os.path.exists("/etc/netns/" + name), "netns: /etc/netns folder removed")
    import subprocess
    ok(name not in subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True).stdout,
       "netns: namespace deleted")
else:
    skip(5, "network namespaces need root")

# --- a failing check dumps the fixtures' logs (checked in a child) -------
import subprocess
CHILD = """
import smtplib, sys
sys.path.insert(0, sys.argv[1])
from harness import *
plan(1)
s = Sink().start()
smtplib.SMTP(s.host, s.port, timeout=10).quit()
ok(False, "deliberate failure")
done()
"""
child = subprocess.run([PYTHON, "-c", CHILD, os.path.dirname(os.path.abspath(__file__))],
                       stdout=subprocess.PIPE, text=True, timeout=60)
ok(child.returncode == 1 and "not ok 1 - deliberate failure" in child.stdout
   and "# ---- sink" in child.stdout and '"ev": "connect"' in child.stdout,
   "a failing ok() exits 1 and dumps the sink's events as comments")

done()
