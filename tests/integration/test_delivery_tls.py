#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_tls: STARTTLS on delivery against a sink with a
self-signed certificate (CN and SAN sink.test).

  - smtp_tls_policy may (default): delivered encrypted; the TLS version
    is in the attempt log line and in the recipient's recorded reply;
  - verify (smtp_tls_policy_map) to MX host mx.tls.test: the certificate
    does not name it, so the message is deferred with 4.7.5 and never
    reaches the sink;
  - verify with smtp_tls_ca_file = the sink's certificate and the MX
    host named sink.test: verified, delivered;
  - none: delivered in the clear although STARTTLS is offered;
  - encrypt against a sink without STARTTLS: deferred with 4.7.4.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def send(p, rcpt, subject):
    s = p.smtp("relay")
    s.sendmail("s@sender.test", [rcpt], "From: <s@sender.test>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
               "tls test\r\n" % (rcpt, subject))
    s.quit()


def main():
    plan(9)
    port = free_port("127.0.0.2")
    tls_sink = Sink(host="127.0.0.2", port=port, tls=True, hostname="sink.test", name="tls").start()
    plain = Sink(host="127.0.0.3", port=port, name="plain").start()
    dns = Dns()
    for d in ("may.test", "verify.test", "none.test"):
        dns.mx(d, "mx.tls.test", 10)
    dns.a("mx.tls.test", "127.0.0.2")
    dns.mx("trusted.test", "sink.test", 10).a("sink.test", "127.0.0.2")
    dns.mx("encrypt.test", "mx.plain.test", 10).a("mx.plain.test", "127.0.0.3")
    dns.start()
    p = Postern(dns=dns, conf={
        "transport": "*=mx:%d" % port,
        "retry_schedule": "1h",
        "smtp_address_preference": "ipv4-only",
        "smtp_tls_policy_map": "verify.test=verify, trusted.test=verify, none.test=none, "
                               "encrypt.test=encrypt",
        "smtp_tls_ca_file": tls_sink.cert,
    })
    p.start()

    send(p, "a@may.test", "may")
    msgs = tls_sink.wait_messages(1)
    ok(len(msgs) == 1 and msgs[0].tls, "may: delivered over TLS")
    m = p.wait_log(r"event=attempt .*relay=mx\.tls\.test\S* .*status=delivered tls=(TLSv1\.[23])")
    ok(m is not None, "TLS version in the attempt log (%s)" % (m.group(1) if m else None))

    send(p, "b@verify.test", "verify")
    m = p.wait_log(r"event=attempt .*status=deferred .*reply=.*")
    line = p.log_lines(r"event=attempt .*status=deferred")[0]
    like(line, r"dsn=4\.7\.5", "verify, untrusted certificate: deferred 4.7.5")
    time.sleep(0.5)
    is_(len(tls_sink.messages()), 1, "verify: nothing delivered")

    send(p, "c@trusted.test", "trusted")
    wait_for(lambda: len(tls_sink.messages()) >= 2, 20, what="trusted delivery")
    ok(tls_sink.messages()[1].tls and tls_sink.messages()[1].rcpt_tos == ["c@trusted.test"],
       "verify with the CA and a matching name: delivered")

    send(p, "d@none.test", "none")
    wait_for(lambda: len(tls_sink.messages()) >= 3, 20, what="plain delivery")
    ok(not tls_sink.messages()[2].tls, "none: delivered in the clear")
    ok(not any(e["ev"] == "starttls" and e["conn"] == tls_sink.messages()[2].conn
               for e in tls_sink.events()), "none: STARTTLS never sent")

    send(p, "e@encrypt.test", "encrypt")
    p.wait_log(r"event=attempt .*relay=mx\.plain\.test.*status=deferred")
    like(p.log_lines(r"event=attempt .*relay=mx\.plain\.test")[0], r"dsn=4\.7\.4",
         "encrypt, STARTTLS not offered: deferred 4.7.4")
    is_(len(plain.messages()), 0, "encrypt: nothing sent in the clear")
    p.stop()
    done()


run(main)
