# SPDX-License-Identifier: ISC
"""Helpers for the delivery-loop tests (issue 20 item 3): which engine a
domain lands on, how many of each recipient a sink got, and how many
connections were open at once."""


def fnv(domain):
    """dl_domain_hash() (src/outbound/delivery.c): FNV-1a of the lowercased domain."""
    h = 2166136261
    for ch in domain.lower().encode():
        h ^= ch
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def domains_on(loop, n, count, prefix):
    """COUNT domains whose single engine (concurrency 1) is LOOP of N."""
    out, i = [], 0
    while len(out) < count:
        d = "%s%d.test" % (prefix, i)
        if fnv(d) % n == loop:
            out.append(d)
        i += 1
    return out


def rcpt_counts(sink):
    """{recipient: times the sink got it}."""
    c = {}
    for m in sink.messages():
        for r in m.rcpt_tos:
            c[r] = c.get(r, 0) + 1
    return c


def relay_load(p, tag, n, domains, sender="s@sender.test"):
    """N messages over one relay session, each to one recipient in every
    domain of DOMAINS; returns the recipients."""
    want = []
    s = p.smtp("relay")
    for i in range(n):
        rcpts = ["%s%d@%s" % (tag, i, d) for d in domains]
        s.sendmail(sender, rcpts, "Subject: %s %d\r\n\r\nbody\r\n" % (tag, i))
        want += rcpts
    s.quit()
    return want


def max_open(events, skip=()):
    """Most connections open at once, from a Sink's ordered events
    (connections numbered in SKIP left out)."""
    cur = best = 0
    for e in events:
        if e["conn"] in skip:
            continue
        if e["ev"] == "connect":
            cur += 1
            best = max(best, cur)
        elif e["ev"] == "close":
            cur -= 1
    return best
