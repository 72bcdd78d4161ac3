#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Shredding with the key store's pool (issue 13), checked by keyscan.py,
a scanner written apart from rawscan.py and attacker.py: with the master
key, every data key any slot of the live key store can give (every pool
secret x every account key x the message id, and first-format keys) is
tried on every copy of the message's body chunks in data.mdb, free pages
included.  Before each erasure the erased message and a live one both
open (the scanner works); after it the erased one opens under no key
while the live one still does.  Erasures: queue delete, account delete,
subject erase (a data subject request), body purge (body_retention 0 after
a bounce); and a backup taken before the delete, restored: the message
stays unopenable and deleted (the erasure journal)."""

import os

from harness import *
from queuelib import inject
from keyscan import Keyscan

plan(4 * 5 + 4)


def body(tag):
    h = os.urandom(6).hex()
    return "Subject: shred %s %s\r\n\r\nbody of %s %s\r\n" % (tag, h, tag, h)


def status(p, qid):
    """posternd's body status of QID ("gone": no such message any more)."""
    r = p.posternctl("queue", "show", qid, "--reason", "t", "--json")
    import json
    return json.loads(r.stdout).get("body_status") if r.returncode == 0 else "gone"


def scan(p, accounts, ids):
    return Keyscan(p.master_key_file, p.data_dir, accounts).opened(ids)


def erased(name, p, accounts, did, lid, erase):
    """Erase DID by ERASE(); LID stays.  5 tests."""
    s = scan(p, accounts, [did, lid])
    ok(did in s and lid in s, "%s: before, both messages open from the live files (%s)" %
       (name, sorted(s)))
    ok(erase(), "%s: the erasure" % name)
    s = scan(p, accounts, [did, lid])
    ok(did not in s, "%s: the erased message opens under no key %s" % (name, s.get(did, [])[:2]))
    ok(lid in s, "%s: the live message still opens" % name)
    st = status(p, did)
    isnt(st, "available", "%s: posternd reads no body either (%s)" % (name, st))


with Postern(tls=False, name="shred", conf={"delivery_enabled": "no"}) as p:
    lid = inject(p, ["live@example.test"], body("live"))
    did = inject(p, ["gone@example.test"], body("gone"))
    bdir = os.path.join(p.dir, "backup")
    is_(p.posternctl("backup", bdir).returncode, 0, "restore: a backup before the delete")
    erased("queue delete", p, [""], did, lid,
           lambda: p.posternctl("queue", "delete", did).returncode == 0)
    p.stop()
    is_(p.posternctl("restore", bdir).returncode, 0, "restore: the backup from before the delete")
    s = scan(p, [""], [did, lid])
    ok(did not in s and lid in s, "restore: the deleted message opens under no key, the live one does")
    p.start()
    isnt(status(p, did), "available",
         "restore: and stays deleted for posternd")

    for a in ("gone", "stays"):
        p.posternctl("account", "add", a, "--domain", "sender.test")
    lid = inject(p, ["live@example.test"], body("acct live"), account="stays")
    did = inject(p, ["gone@example.test"], body("acct gone"), account="gone")
    erased("account delete", p, ["gone", "stays"], did, lid,
           lambda: p.posternctl("account", "delete", "gone").returncode == 0)

    p.posternctl("account", "add", "dsr", "--domain", "sender.test")
    lid = inject(p, ["other@example.test"], body("dsr live"), account="dsr")
    did = inject(p, ["subject@example.test"], body("dsr gone"), account="dsr")
    erased("subject erase", p, ["dsr"], did, lid,
           lambda: p.posternctl("subject", "erase", "--account", "dsr",
                                "subject@example.test").returncode == 0)

with Postern(tls=False, name="purge", conf={"delivery_enabled": "no", "body_retention": "0s",
                                            "purge_interval": "1s"}) as p:
    lid = inject(p, ["live@example.test"], body("purge live"))
    did = inject(p, ["gone@example.test"], body("purge gone"))

    def bounce_and_purge():
        if p.posternctl("queue", "bounce", did).returncode != 0:
            return False
        wait_for(lambda: status(p, did) != "available", timeout=30, what="the body purge")
        return True

    erased("body purge", p, [""], did, lid, bounce_and_purge)
done()
