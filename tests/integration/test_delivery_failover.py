#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_delivery_failover: the MX fail-over step (RFC 5321 §5.1), now one
function in src/outbound/connection.c, through its paths in one chain.

  - three MX: the first refuses the connection, the second greets with
    554, the third takes the message;
  - two MX that both fail (refused, then 554): the recipient is
    deferred (never bounced: a server we could not talk to is a reason
    to retry, RFC 5321 §4.5.4.1) with the last server's reason, and the
    attempt names the last relay tried.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401


def main():
    plan(6)
    port = free_port("127.0.0.3")
    refuse = Sink(host="127.0.0.3", port=port, name="554").start()
    refuse.on_connect("554 5.7.1 go away")
    good = Sink(host="127.0.0.4", port=port, name="good").start()
    # 127.0.0.2: nothing listens on the port: connection refused
    dns = Dns()
    dns.mx("chain.test", "mx1.chain.test", 10).mx("chain.test", "mx2.chain.test", 20)
    dns.mx("chain.test", "mx3.chain.test", 30)
    dns.a("mx1.chain.test", "127.0.0.2").a("mx2.chain.test", "127.0.0.3")
    dns.a("mx3.chain.test", "127.0.0.4")
    dns.mx("down.test", "mx1.down.test", 10).mx("down.test", "mx2.down.test", 20)
    dns.a("mx1.down.test", "127.0.0.2").a("mx2.down.test", "127.0.0.3")
    dns.start()
    p = Postern(dns=dns, conf={
        "transport": "*=mx:%d" % port,
        "smtp_address_preference": "ipv4-only",
        "retry_schedule": "1h",
    })
    p.start()

    p.send("s@sender.test", ["a@chain.test"], "Subject: chain\r\n\r\nx\r\n")
    msgs = good.wait_messages(1, timeout=20)
    ok(len(msgs) == 1 and msgs[0].rcpt_tos == ["a@chain.test"],
       "refused, then 554: the third MX gets the message")
    log = p.log()
    like(log, r"event=connect_failed relay=mx1\.chain\.test\S*", "refusal of mx1 logged")
    like(log, r"event=session_failed relay=mx2\.chain\.test\S* dsn=5\.7\.1", "554 of mx2 logged")

    code, text = p.send("s@sender.test", ["b@down.test"], "Subject: down\r\n\r\nx\r\n")
    qid = queue_id(text)
    line = p.wait_log(r"qid=%s event=attempt .*status=deferred.*" % qid, 20).group(0)
    like(line, r"relay=mx2\.down\.test\[127\.0\.0\.3\]", "deferred attempt names the last relay tried")
    rc = json.loads(p.posternctl("queue", "show", qid, "--json").stdout)["recipients"][0]
    like(rc.get("last_reply") or "", r"^451 4\.4\.1 .*mx2\.down\.test.*554 5\.7\.1 go away",
         "every MX failed: deferred 451 4.4.1 with the last server's reason")
    is_(p.stop(), 0, "clean stop")
    done()


run(main)
