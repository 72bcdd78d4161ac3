#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_smtp_relay: the relay listener (trusted networks, no AUTH) of the
real posternd, driven by smtplib, swaks and a byte-exact raw client.

Normal use: smtplib, pipelined transactions, many recipients, BDAT,
8BITMIME/SMTPUTF8, a one-byte-at-a-time trickle, IPv6.  Hostile: every
SMTP smuggling variant, a 100 KB command line, a 10 MB header line, a
RCPT flood past the limit, SIZE lies, commands out of sequence, a
client outside smtpd_relay_networks, a connection flood past the per-IP
limit, slow clients hitting both timeouts.  At the end every accepted
message is in the queue with its envelope, and no rejected one is.
"""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import (Raw, message, queued_id, logged_qids, queue_cli,  # noqa: E402
                     queue_list, queue_show, msg_field, rcpt_addrs)

accepted = {}           # qid -> (sender, [rcpts])
rejected_senders = set()


def accept(qid, sender, rcpts):
    if qid:
        accepted[qid] = (sender, list(rcpts))


def ehlo(r):
    b = r.reply()
    e = r.cmd("EHLO client.test")
    return b, e


def main():
    plan(68)
    p = Postern(name="relay", conf={
        "smtpd_max_recipients": 20,
        "message_size_limit": "64k",
        "smtpd_max_errors": 50,
    }).start()
    host, port = p.host, p.ports["relay"]

    # ---- smtplib ----
    s = p.smtp("relay")
    code, text = s.ehlo()
    is_(code, 250, "smtplib: EHLO 250")
    like(text.decode(), r"PIPELINING", "EHLO offers PIPELINING")
    like(text.decode(), r"CHUNKING", "EHLO offers CHUNKING")
    unlike(text.decode(), r"AUTH", "relay listener offers no AUTH")
    s.mail("alice@example.com")
    s.rcpt("bob@example.net")
    s.rcpt("carol@example.org")
    code, text = s.data(message("smtplib"))
    is_(code, 250, "smtplib: message accepted")
    like(text.decode(), r"^2\.0\.0 Ok: queued as \S+", "reply is 250 2.0.0 Ok: queued as <id>")
    accept(queued_id(text.decode()), "alice@example.com", ["bob@example.net", "carol@example.org"])
    s.quit()

    # ---- swaks ----
    r = subprocess.run(["swaks", "--server", "%s:%d" % (host, port), "--from", "swaks@example.com",
                        "--to", "dest@example.net", "--helo", "client.test"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    m = [l for l in r.stdout.splitlines() if "queued as" in l]
    ok(r.returncode == 0 and m, "swaks: message accepted")
    if m:
        accept(queued_id(m[0]), "swaks@example.com", ["dest@example.net"])

    # ---- pipelining: two transactions, each in one write ----
    c = Raw(host, port)
    ehlo(c)
    c.send("MAIL FROM:<pipe1@example.com>\r\nRCPT TO:<r1@example.net>\r\n"
           "RCPT TO:<r2@example.net>\r\nDATA\r\n")
    codes = [c.reply()[0] for _ in range(4)]
    is_(codes, [250, 250, 250, 354], "pipelined MAIL/RCPT/RCPT/DATA answered in order")
    c.send(message("pipe 1") + "\r\n.\r\nMAIL FROM:<pipe2@example.com>\r\n"
           "RCPT TO:<r3@example.net>\r\nDATA\r\n")
    rep = [c.reply() for _ in range(4)]
    is_([x[0] for x in rep], [250, 250, 250, 354], "end of DATA pipelined with the next transaction")
    accept(queued_id(rep[0][1]), "pipe1@example.com", ["r1@example.net", "r2@example.net"])
    c.send(message("pipe 2") + "\r\n.\r\nQUIT\r\n")
    r1, r2 = c.reply(), c.reply()
    is_((r1[0], r2[0]), (250, 221), "second message and QUIT")
    accept(queued_id(r1[1]), "pipe2@example.com", ["r3@example.net"])
    c.close()

    # ---- many recipients, and one past the limit ----
    c = Raw(host, port)
    ehlo(c)
    c.cmd("MAIL FROM:<many@example.com>")
    rcpts = ["user%02d@example.net" % i for i in range(20)]
    c.send("".join("RCPT TO:<%s>\r\n" % a for a in rcpts))
    codes = [c.reply()[0] for _ in rcpts]
    ok(all(x == 250 for x in codes), "20 recipients accepted (pipelined)")
    r = c.cmd("RCPT TO:<one-too-many@example.net>")
    is_(r[0], 452, "recipient 21 refused with 452")
    like(r[1], r"^4\.5\.3", "enhanced code 4.5.3")
    is_(c.code("DATA"), 354, "DATA still possible")
    c.send(message("many") + "\r\n.\r\n")
    r = c.reply()
    is_(r[0], 250, "message to 20 recipients accepted")
    accept(queued_id(r[1]), "many@example.com", rcpts)
    c.cmd("QUIT")
    c.close()

    # ---- BDAT (RFC 3030) ----
    c = Raw(host, port)
    ehlo(c)
    c.cmd("MAIL FROM:<bdat@example.com> BODY=8BITMIME")
    c.cmd("RCPT TO:<chunky@example.net>")
    body = message("bdat", body="Chunk one.\r\nChunk two: \xe9t\xe9.\r\n").encode("latin-1")
    part1, part2 = body[:37], body[37:]
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    r = c.reply()
    is_(r[0], 250, "BDAT chunk accepted")
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    r = c.reply()
    is_(r[0], 250, "BDAT LAST: message queued")
    like(r[1], r"queued as", "BDAT reply names the queue id")
    accept(queued_id(r[1]), "bdat@example.com", ["chunky@example.net"])
    c.cmd("QUIT")
    c.close()

    # ---- SMTPUTF8 and 8BITMIME ----
    c = Raw(host, port)
    ehlo(c)
    r = c.cmd("MAIL FROM:<j\u00f6rg@ex\u00e4mple.com> SMTPUTF8 BODY=8BITMIME")
    is_(r[0], 250, "UTF-8 sender with SMTPUTF8")
    is_(c.code("RCPT TO:<\u00e5sa@b\u00fccher.example>"), 250, "UTF-8 recipient")
    c.cmd("DATA")
    c.send(message("Gr\u00fc\u00dfe", body="Gr\u00fc\u00dfe aus K\u00f6ln \u2603\r\n",
                   frm="j\u00f6rg@ex\u00e4mple.com", to="\u00e5sa@b\u00fccher.example") + "\r\n.\r\n")
    r = c.reply()
    is_(r[0], 250, "UTF-8 message accepted")
    accept(queued_id(r[1]), "j\u00f6rg@ex\u00e4mple.com", ["\u00e5sa@b\u00fccher.example"])
    utf8_qid = queued_id(r[1])
    r = c.cmd("MAIL FROM:<j\u00f6rg@ex\u00e4mple.com>")
    ok(r[0] in (501, 553, 550), "UTF-8 sender without SMTPUTF8 refused (%d)" % r[0])
    rejected_senders.add("j\u00f6rg-without@ex\u00e4mple.com")
    c.cmd("QUIT")
    c.close()

    # ---- one byte at a time ----
    c = Raw(host, port)
    c.reply()
    c.trickle("EHLO trickle.test\r\nMAIL FROM:<trickle@example.com>\r\n"
              "RCPT TO:<slow@example.net>\r\nDATA\r\n")
    codes = [c.reply()[0] for _ in range(4)]
    is_(codes, [250, 250, 250, 354], "trickled commands answered")
    c.trickle(message("trickle") + "\r\n.\r\n")
    r = c.reply()
    is_(r[0], 250, "trickled message accepted")
    accept(queued_id(r[1]), "trickle@example.com", ["slow@example.net"])
    c.close()

    # ---- SMTP smuggling: no variant ends or splits a message ----
    variants = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\r\n",
                b"\n.\r", b"\r\n\x00.\r\n"]
    for v in variants:
        c = Raw(host, port)
        ehlo(c)
        c.cmd("MAIL FROM:<carrier@example.com>")
        c.cmd("RCPT TO:<carrier-rcpt@example.net>")
        c.cmd("DATA")
        c.send(b"Subject: smuggle\r\n\r\nline one" + v +
               b"MAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<victim@example.net>\r\n"
               b"DATA\r\nSmuggled body\r\n\r\n.\r\n")
        r = c.reply()
        nxt = c.cmd("NOOP")
        ok(r is not None and r[0] in (250, 554, 550, 500) and
           (nxt is None or nxt[0] == 250),
           "smuggling %r: one reply (%s), then NOOP is answered next (%s)" %
           (v, r and r[0], nxt and nxt[0]))
        if r and r[0] == 250:
            accept(queued_id(r[1]), "carrier@example.com", ["carrier-rcpt@example.net"])
        c.close()
    rejected_senders.add("smuggled@evil.example")

    # ---- oversized input ----
    c = Raw(host, port)
    ehlo(c)
    c.send("NOOP " + "x" * 100000 + "\r\n")
    r = c.reply()
    ok(r is not None and r[0] == 500 and r[1].startswith("5.5.6"),
       "100 KB command line: 500 5.5.6 (%r)" % (r and r[0],))
    r = c.cmd("NOOP")
    ok(r is None or r[0] == 250, "session continues or closes cleanly after it")
    c.close()

    c = Raw(host, port, timeout=60)
    ehlo(c)
    c.cmd("MAIL FROM:<bigheader@example.com>")
    c.cmd("RCPT TO:<x@example.net>")
    c.cmd("DATA")
    try:
        c.send(b"Subject: " + b"x" * (10 * 1024 * 1024) + b"\r\n\r\nbody\r\n.\r\n")
    except OSError:
        pass
    r = c.reply()
    ok(r is None or r[0] >= 500, "10 MB header line refused (%r)" % (r and r[0],))
    c.close()
    rejected_senders.add("bigheader@example.com")
    c = Raw(host, port)
    b, e = ehlo(c)
    is_((b[0], e[0]), (220, 250), "daemon still serves after the 10 MB line")
    c.close()

    # ---- SIZE lies ----
    c = Raw(host, port)
    ehlo(c)
    r = c.cmd("MAIL FROM:<toobig@example.com> SIZE=10000000")
    is_(r[0], 552, "declared SIZE over the limit: 552 at MAIL")
    like(r[1], r"^5\.3\.4", "enhanced 5.3.4")
    c.cmd("RSET")
    is_(c.code("MAIL FROM:<liar@example.com> SIZE=100"), 250, "small declared SIZE accepted")
    c.cmd("RCPT TO:<x@example.net>")
    c.cmd("DATA")
    c.send(message("liar", body=("y" * 998 + "\r\n") * 100) + "\r\n.\r\n")
    r = c.reply()
    is_(r[0], 552, "real size over the limit: 552")
    like(r[1], r"^5\.3\.4", "enhanced 5.3.4")
    is_(c.code("NOOP"), 250, "session usable after the refusal")
    c.close()
    rejected_senders.update(["toobig@example.com", "liar@example.com"])

    # ---- out of sequence, bad syntax ----
    c = Raw(host, port)
    ehlo(c)
    r = c.cmd("RCPT TO:<x@example.net>")
    is_(r[0], 503, "RCPT before MAIL: 503")
    like(r[1], r"^5\.5\.1", "enhanced 5.5.1")
    is_(c.code("DATA"), 503, "DATA before MAIL: 503")
    r = c.cmd("MAIL FROM:<bad address@example.com>")
    ok(r[0] == 501 or r[0] == 553, "bad address syntax refused (%d)" % r[0])
    is_(c.code("VRFY root"), 252, "VRFY: 252")
    ok(c.code("EXPN staff") in (502, 550, 252), "EXPN refused")
    c.close()

    # ---- IPv6 ----
    has_v6 = True
    try:
        t = socket.socket(socket.AF_INET6)
        t.bind(("::1", 0))
        t.close()
    except OSError:
        has_v6 = False
    if has_v6:
        v6port = free_port("::1")
        p6 = Postern(name="relay6", conf={
            "smtpd_relay_listen": "[::1]:%d" % v6port,
            "smtpd_relay_networks": "::1/128",
        }).start()
        c = Raw("::1", v6port)
        b, e = ehlo(c)
        c.cmd("MAIL FROM:<six@example.com>")
        c.cmd("RCPT TO:<six@example.net>")
        c.cmd("DATA")
        c.send(message("v6") + "\r\n.\r\n")
        r = c.reply()
        is_((b[0], r[0]), (220, 250), "IPv6 relay listener accepts from ::1")
        c.close()
        p6.stop()
    else:
        skip(1, "no IPv6 loopback")

    # ---- a client outside smtpd_relay_networks ----
    pn = Postern(name="relaynet", conf={"smtpd_relay_networks": "127.0.0.1/32"}).start()
    c = Raw(pn.host, pn.ports["relay"], source="127.0.0.2")
    r = c.reply()
    ok(r is not None and r[0] == 554, "client 127.0.0.2 outside 127.0.0.1/32: 554 (%r)" % (r,))
    ok(r is not None and r[1].startswith("5.7.1"), "enhanced 5.7.1")
    ok(c.closed(), "and the connection is closed")
    c.close()
    c = Raw(pn.host, pn.ports["relay"], source="127.0.0.1")
    is_(c.reply()[0], 220, "client 127.0.0.1 inside: 220")
    c.close()
    pn.stop()

    # ---- connection flood past the per-IP limit ----
    pf = Postern(name="flood", conf={"smtpd_max_connections_per_ip": 3}).start()
    conns = []
    for i in range(3):
        c = Raw(pf.host, pf.ports["relay"])
        conns.append((c, c.reply()))
    ok(all(x[1][0] == 220 for x in conns), "3 connections from one IP: 220")
    c = Raw(pf.host, pf.ports["relay"])
    r = c.reply()
    ok(r is not None and r[0] == 421 and r[1].startswith("4.7.0"),
       "4th connection: 421 4.7.0 (%r)" % (r,))
    ok(c.closed(), "4th connection closed")
    c.close()
    conns[0][0].cmd("QUIT")
    conns[0][0].close()
    time.sleep(0.2)
    c = Raw(pf.host, pf.ports["relay"])
    is_(c.reply()[0], 220, "after one quits, a new connection is served")
    c.close()
    for x in conns[1:]:
        x[0].close()
    pf.stop()

    # ---- slow clients ----
    pt = Postern(name="timeouts", conf={"smtpd_timeout": "1s", "smtpd_data_timeout": "2s"}).start()
    c = Raw(pt.host, pt.ports["relay"], timeout=20)
    c.reply()
    r = c.reply()           # say nothing: the server gives up
    ok(r is not None and r[0] == 421 and r[1].startswith("4.4.2"),
       "idle client: 421 4.4.2 (%r)" % (r,))
    ok(c.closed(), "idle client disconnected")
    c.close()
    c = Raw(pt.host, pt.ports["relay"], timeout=20)
    ehlo(c)
    c.cmd("MAIL FROM:<slowdata@example.com>")
    c.cmd("RCPT TO:<x@example.net>")
    c.cmd("DATA")
    c.send("Subject: half a message\r\n\r\nand then noth")
    r = c.reply()
    ok(r is not None and r[0] == 421 and r[1].startswith("4.4.2"),
       "stalled DATA: 421 4.4.2 (%r)" % (r,))
    c.close()
    like(pt.log(), r"event=timeout", "timeouts are logged")
    unlike(pt.log(), r"event=queued", "the stalled message was not queued")
    pt.stop()

    # ---- the queue holds exactly the accepted messages ----
    qids = logged_qids(p)
    is_(sorted(qids), sorted(accepted), "every accepted message (and nothing else) was committed")
    if queue_cli(p):
        msgs = {msg_field(m, "id", "qid"): m for m in queue_list(p)}
        is_(sorted(msgs), sorted(accepted), "queue list shows exactly the accepted messages")
        bad = []
        for qid, (sender, rcpts) in accepted.items():
            m = queue_show(p, qid)
            if msg_field(m, "sender", "from") != sender or sorted(rcpt_addrs(m)) != sorted(rcpts):
                bad.append((qid, msg_field(m, "sender", "from"), rcpt_addrs(m), sender, rcpts))
        is_(bad, [], "every queued envelope is the one sent")
        senders = [msg_field(m, "sender", "from") for m in msgs.values()]
        is_([x for x in senders if x in rejected_senders], [], "no rejected sender is queued")
        m = queue_show(p, utf8_qid)
        ok(msg_field(m, "smtputf8") in (True, 1), "SMTPUTF8 flag stored with the envelope")
    else:
        skip(4, "posternctl queue is not available in this build")
    st = p.stop()
    is_(st, 0, "daemon stops cleanly")


run(main)
