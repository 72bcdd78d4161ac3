#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_eom_inline_faults: the end-of-message stages on the loop
(src/inbound/relay.c relay_eom_dispatch(), smtpd_eom_inline_max) at
its edges, with one SMTP loop (issue 20 verifier):

- a message of exactly smtpd_eom_inline_max octets runs on the loop,
  one octet more in the pool; both are queued;
- a client that disconnects right after the final dot, of a message
  that is accepted (it is queued all the same) and of one refused on
  the loop (dlp_action_card = reject): the daemon goes on serving;
- BDAT LAST of a message refused on the loop, the next transaction
  (MAIL, RCPT, BDAT LAST) and NOOP pipelined behind the chunk: one
  answer each, in order;
- reloads flipping smtpd_eom_inline_max while four clients send: every
  message is queued and runs its stages once, on the loop or in the pool;
- smtpd_eom_inline_max = 0 after a reload sends every message to the
  pool, an empty one ("DATA" then ".") included, as postern.conf(5)
  says;
- with rbldnsd (skipped without it): the spam stage pends for its DNS
  round on the loop, and a listed client is refused (spam_reject_score)
  with the next transaction pipelined behind the final dot: 550, 250,
  250, 354, then the same again from the resolver's cached answer (the
  DNS round may then end inside the end-of-message callback itself),
  and NOOP after it is answered 250: one answer per command, in order;
  QUIT right behind the dot of such a message: 550, 221, closed; a
  client gone while its message's DNS round pends (a URI list that
  never answers): the round ends at its deadline, the daemon goes on.
"""

import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401
from rawsmtp import Raw, ehlo_session  # noqa: E402

CARD = "4532 0151 1283 0366"  # Luhn-valid, not a published test number


def text_of(size, extra=""):
    """A message text of exactly SIZE octets (as stored: CRLF lines, no
    line starting with a dot), ending in CRLF."""
    head = ("From: <a@example.test>\r\nTo: <b@example.net>\r\nSubject: t\r\n"
            "Message-ID: <%d.%d@example.test>\r\n\r\n" % (size, len(extra))) + extra
    line = "The quick brown fox jumps over the lazy dog, order 2024-0042.\r\n"
    text = head
    while len(text) + len(line) <= size:
        text += line
    pad = size - len(text)
    if pad == 1:  # a lone CRLF-less octet cannot end a line: widen the last one
        text = text[:-2] + "xx\r\n"
        pad = size - len(text)
    if pad >= 2:
        text += "y" * (pad - 2) + "\r\n"
    assert len(text) == size, (len(text), size)
    return text


def one(p, text):
    """TEXT in one transaction on a new session: the final reply code."""
    c = ehlo_session(p, timeout=30)
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    r = c.cmd(text + ".")
    c.cmd("QUIT")
    c.close()
    return r[0] if r else None


def queued(p):
    return len(re.findall(r"event=queued ", p.log()))


def main():
    plan(22)
    mport = free_port()
    p = Postern(name="eomfaults", conf={
        "smtpd_relay_networks": "127.0.0.0/8",
        "smtpd_eom_inline_max": "4k",
        "smtpd_loops": 1,
        "delivery_enabled": "no",
        "dlp_action_card": "reject",
        "metrics_listen": "127.0.0.1:%d" % mport,
    }).start()

    r0 = eom_runs(mport)
    code = one(p, text_of(4096))
    r1 = eom_runs(mport)
    ok(code == 250 and r1["loop"] == r0["loop"] + 1 and r1["pool"] == r0["pool"],
       "exactly 4096 octets: queued, on the loop (%s)" % r1)
    code = one(p, text_of(4097))
    r2 = eom_runs(mport)
    ok(code == 250 and r2["loop"] == r1["loop"] and r2["pool"] == r1["pool"] + 1,
       "4097 octets: queued, in the pool (%s)" % r2)

    # ---- the client goes right after the final dot
    q0 = queued(p)
    c = ehlo_session(p, timeout=30)
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    c.send(text_of(800) + ".\r\nQUIT\r\n")
    c.close()
    ok(wait_for(lambda: queued(p) == q0 + 1, 30, what="the abandoned message queued"),
       "gone after the final dot: the message accepted on the loop is queued")
    c = ehlo_session(p, timeout=30)
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    c.send(text_of(800, "card " + CARD + "\r\n") + ".\r\n")
    c.close()
    ok(wait_for(lambda: re.search(r"event=reject reason=policy", p.log()), 30,
                what="the refusal decided"), "gone after the final dot of a refused one")
    # ---- BDAT (RFC 3030): a refusal on the loop with the next commands behind the chunk
    c = ehlo_session(p, timeout=30)
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    bad = text_of(700, "card " + CARD + "\r\n")
    good = text_of(300)
    c.send("BDAT %d LAST\r\n%sMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\n"
           "BDAT %d LAST\r\n%sNOOP\r\n" % (len(bad), bad, len(good), good))
    codes = [g[0] if g else None for g in (c.reply() for _ in range(5))]
    is_(codes, [550, 250, 250, 250, 250],
        "BDAT LAST refused on the loop, then MAIL, RCPT, BDAT LAST (queued), NOOP pipelined")
    r = c.cmd("NOOP")
    is_(r[0] if r else None, 250, "and in step after them")
    c.cmd("QUIT")
    c.close()
    is_(one(p, text_of(500)), 250, "the daemon serves the next session")
    ok(p.running(), "posternd still runs")

    # ---- SIGHUP flipping the limit while four clients send
    rs = eom_runs(mport)
    codes = []

    def client(k):
        for i in range(10):
            codes.append(one(p, text_of(1000 + 10 * k + i)))
    ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for lim in ("0", "64k", "0", "4k"):
        p.write_conf({"smtpd_eom_inline_max": lim})
        p.reload()
    for t in ts:
        t.join(120)
    re_ = eom_runs(mport)
    ok(codes == [250] * 40, "40 messages while reloads flip smtpd_eom_inline_max: all queued (%s)"
       % sorted(set(codes)))
    is_((re_["loop"] - rs["loop"]) + (re_["pool"] - rs["pool"]), 40,
        "each ran once, on the loop or in the pool (%s -> %s)" % (rs, re_))

    # ---- 0: every message to the pool, an empty one too
    p.write_conf({"smtpd_eom_inline_max": "0"})
    ok(p.reload(), "reload with smtpd_eom_inline_max = 0")
    r3 = eom_runs(mport)
    code = one(p, "")
    r4 = eom_runs(mport)
    ok(r4["loop"] == r3["loop"] and r4["pool"] == r3["pool"] + 1,
       "an empty message (%s) runs in the pool too (%s -> %s)" % (code, r3, r4))
    p.stop()

    # ---- the spam stage's DNS round on the loop, pipelined behind the dot
    if shutil.which("rbldnsd") is None:
        skip(10, "rbldnsd (Debian package rbldnsd) is not installed")
        return
    rbl = Rbldnsd({"zen.test": ("ip4set", ":127.0.0.2:listed\n127.0.0.2\n127.0.0.3 :4:listed\n")})
    drop = DnsDrop(rbl.server, ["slow.test"])
    p = Postern(name="eomdnsbl", conf={
        "smtpd_relay_networks": "127.0.0.0/8",
        "smtpd_loops": 1,
        "delivery_enabled": "no",
        "dns_servers": drop.server,
        "spf_action": "ignore",
        "spam_dnsbl": ["zen.test:ZEN:1:4=ZEN_XBL=9"],
        # URL domains only: a message with a URL waits out its deadline
        "spam_uribl": ["slow.test:SLOW:50"],
        "spam_reject_score": "8",
        "spam_dnsbl_timeout": "2s",
        "metrics_listen": "127.0.0.1:%d" % mport,
    }).start()
    ok(p.wait_log(r"event=dnsbl_ok zone=zen\.test", timeout=20), "zen.test passes its canaries")
    c = Raw(p.host, p.ports["relay"], source="127.0.0.3", timeout=30)
    c.reply()
    c.cmd("EHLO client.test")
    for round_ in ("the DNS round", "the cached answer"):
        c.cmd("MAIL FROM:<a@example.test>")
        c.cmd("RCPT TO:<b@example.net>")
        c.cmd("DATA")
        c.send(text_of(600) + ".\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\n"
               "RSET\r\n")
        codes = [g[0] if g else None for g in (c.reply() for _ in range(4))]
        is_(codes, [550, 250, 250, 250], "%s: refused, the pipelined MAIL, RCPT, RSET after it"
            % round_)
    r = c.cmd("NOOP")
    is_(r[0] if r else None, 250, "NOOP after them: 250, replies in step")
    # the DNS round's refusal with QUIT right behind the dot
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    c.send(text_of(600) + ".\r\nQUIT\r\n")
    codes = [g[0] if g else None for g in (c.reply() for _ in range(2))]
    ok(codes == [550, 221] and c.closed(), "refused, then QUIT answered 221 and closed (%s)" % codes)
    c.close()
    # gone while the DNS round is pending (slow.test never answers)
    c = Raw(p.host, p.ports["relay"], source="127.0.0.1", timeout=30)
    c.reply()
    c.cmd("EHLO client.test")
    c.cmd("MAIL FROM:<a@example.test>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA")
    c.send(text_of(600, "see http://www.pending.example/x\r\n") + ".\r\n")
    c.close()
    ok(p.wait_log(r"event=dnsbl_timeout zone=slow\.test", timeout=30),
       "gone while its DNS round was pending: the round ends (timed out)")
    c = Raw(p.host, p.ports["relay"], source="127.0.0.1", timeout=30)
    c.reply()
    r = c.cmd("EHLO client.test")
    ok(r is not None and r[0] == 250 and p.running(), "and the daemon serves the next session")
    c.cmd("QUIT")
    c.close()
    rr = eom_runs(mport)
    # two runs each: up to the spam stage's DNS round, then on from it
    ok(rr["loop"] == 7 and rr["pool"] == 0, "both ran on the loop, before and after the "
       "DNS round (%s)" % rr)
    ok(len(re.findall(r"event=reject reason=policy", p.log())) == 3, "three refusals logged")
    ok(p.running(), "posternd still runs")
    p.stop()
    drop.close()
    rbl.close()


run(main)
