#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Privacy at rest against the raw files (issue 13), independent of
postern's read path (rawscan.py): for a message queued, delivered, deleted
(queue delete), body-purged, metadata-purged, of a deleted account, and
in a backup restored after the delete: every byte of data.mdb (free pages
included), the key store, the erasure journal, the backup and the log is
searched for unique markers (body, Subject, a base64 attachment, also in
their base64 form) and the exact envelope addresses; then, with the
master key, every key the files still yield is recovered and every
sealed value found anywhere opened.  A live message in the same store
is the positive control: its key is found and its body opens, so the
scanner works; nothing of the erased message may open.  Remote replies
that quote an address are stored and logged pseudonymised."""

import base64
import json
import os
import shutil

from harness import *
from queuelib import control, inject
from rawscan import Scan, index_hash, mdb_dump_all

plan(56)


def message(tag):
    h = os.urandom(6).hex()
    m = {
        "sender": "alice.%s.%s@sender.test" % (tag, h),
        "rcpts": ["bob.%s.%s@example.test" % (tag, h), "carol.%s.%s@example.test" % (tag, h)],
        "body": "BODYMARK-%s-%s" % (tag, h),
        "subject": "SUBJMARK-%s-%s" % (tag, h),
        "att": "ATTMARK-%s-%s" % (tag, h),
    }
    att = base64.b64encode((m["att"] + " attachment text\n").encode()).decode()
    m["att_b64"] = att[:16]
    m["data"] = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
                 "--b1\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
                 "--b1\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n"
                 % (m["sender"], m["rcpts"][0], m["subject"], m["body"], att))
    return m


def needles(m):
    return [m["body"], m["subject"], m["att"], m["att_b64"], m["sender"]] + m["rcpts"]


def files(p, extra=None):
    f = {}
    for name in ("data.mdb", "keys"):
        path = os.path.join(p.data_dir, name)
        if os.path.exists(path):
            f[name] = open(path, "rb").read()
    j = os.path.join(os.path.dirname(p.master_key_file), "erasure.journal")
    if os.path.exists(j):
        f["journal"] = open(j, "rb").read()
    f["log"] = p.log().encode()
    f.update(extra or {})
    return f


def scan(p, accounts, ids, extra=None):
    return Scan(p.master_key_file, files(p, extra)).keys_for(accounts, ids)


def contains(texts, m):
    blob = b"".join(texts)
    return [n for n in needles(m) if n.encode() in blob]


def check_erased(name, p, d, did, live, lid, accounts, extra=None):
    """The erased message D: no marker or address in any file; no key for
    it anywhere; nothing of it opens.  LIVE: its key and body are found."""
    s = scan(p, accounts, [did, lid], extra)
    hits = {n: s.found(n) for n in needles(d)}
    is_({n: l for n, l in hits.items() if l}, {}, "%s: no marker or address of it in any file" % name)
    ok(len(s.data_keys.get(lid, ())) > 0 and live["body"] in b"".join(s.open_all(lid)).decode("latin-1"),
       "%s: (control) the live message's key is recovered and its body opens from the raw file" % name)
    is_(len(s.data_keys.get(did, ())), 0, "%s: no key for it in data.mdb, the key store or anywhere" % name)
    is_(contains(s.open_all(did), d), [], "%s: nothing sealed of it opens" % name)
    return s


# a small map: data.mdb is allocated to the map size and scanned whole
conf = {"delivery_enabled": "no", "purge_interval": "1h", "queue_map_size": "16m"}

# ---- queued: sealed at rest -------------------------------------------------
with Postern(tls=False, conf=conf) as p:
    L, Q = message("live"), message("queued")
    lid = inject(p, L["rcpts"], L["data"], sender=L["sender"])
    qid = inject(p, Q["rcpts"], Q["data"], sender=Q["sender"])
    ok(lid and qid, "queued: two messages committed")
    s = scan(p, [""], [lid, qid])
    hits = {n: s.found(n) for n in needles(Q)}
    is_({n: l for n, l in hits.items() if l}, {},
        "queued: no marker and no envelope address in data.mdb, key store or log (raw bytes)")
    texts = b"".join(s.open_all(qid)).decode("latin-1")
    ok(Q["body"] in texts and Q["sender"] in texts and Q["rcpts"][1] in texts,
       "queued: with the master key its body and sealed envelope open (the scanner works)")
    live = mdb_dump_all(p.data_dir)
    ok(index_hash(s.text, Q["rcpts"][1]) in live and index_hash(s.text, Q["sender"]) in live,
       "queued: the keyed hashes of its addresses are stored beside them")
    upper = Q["rcpts"][1].upper()
    j = p.posternctl_json("queue", "list", "--address", upper)
    is_([m["id"] for m in j["messages"]], [qid],
        "queued: queue list --address finds it by keyed hash of the normalised address")
    j = p.posternctl_json("queue", "show", qid, "--body", "--reason", "ticket 4711")
    ok(Q["body"] in j.get("body", "") and j["sender"] == Q["sender"],
       "queued: queue show --body decrypts in memory")
    recs = [r for r in p.posternctl_json("audit", "list")["audit"]
            if r.get("cmd") == "queue.show" and r.get("target") == qid]
    ok(recs and recs[-1].get("reason") == "ticket 4711" and recs[-1].get("read") is True
       and recs[-1].get("user") and Q["sender"] not in json.dumps(recs),
       "queued: the read is audited: who, which message, why; no address in the record")
    p.stop()
    ok("keys" in files(p) and "m:" + qid not in files(p)["data.mdb"].decode("latin-1"),
       "queued: the data key lives in the key store, not in data.mdb")

# ---- delivered, with a remote reply that quotes the address ----------------
sink = Sink(host="127.0.0.1").start()
with Postern(tls=False, conf={"transport": "*=[127.0.0.1]:%d" % sink.port, "queue_map_size": "16m",
                              "purge_interval": "1h", "retry_schedule": "1s"}) as p:
    D = message("delivered")
    sink.on_rcpt(D["rcpts"][1], "550 5.1.1 <%s>: Recipient address rejected" % D["rcpts"][1])
    did = inject(p, D["rcpts"], D["data"], sender=D["sender"])
    wait_for(lambda: len(sink.messages()) >= 1, 30, what="delivery")
    wait_for(lambda: all(r["state"] in ("delivered", "bounced")
                         for r in p.posternctl_json("queue", "show", did, "--reason", "test")["recipients"]),
             30, what="final states")
    ev = p.posternctl_json("queue", "events", did)["events"]
    replies = [e.get("reply", "") for e in ev if e.get("event") == "bounced"]
    ok(replies and "550 5.1.1 <h:" in replies[0] and D["rcpts"][1] not in replies[0],
       "delivered: the stored remote reply has the address pseudonymised (%r)" % replies[:1])
    shown = p.posternctl_json("queue", "show", did, "--reason", "test")
    ok(all(D["rcpts"][1] not in (r.get("last_reply") or "") for r in shown["recipients"]),
       "delivered: last_reply pseudonymised too")
    wait_for(lambda: "event=attempt" in p.log() and "rcpt_no=1" in p.log(), 30, what="log")
    p.stop()
    f = files(p)
    hits = {n: [l for l, d in f.items() if n.encode() in d] for n in needles(D)}
    is_({n: l for n, l in hits.items() if l}, {},
        "delivered: no marker and no address in data.mdb, key store or log (bounce included)")
sink.close()

# ---- queue delete -----------------------------------------------------------
with Postern(tls=False, conf=conf) as p:
    L, D = message("live"), message("deleted")
    lid = inject(p, L["rcpts"], L["data"], sender=L["sender"])
    did = inject(p, D["rcpts"], D["data"], sender=D["sender"])
    before = files(p)
    r = p.posternctl("queue", "delete", did)
    is_(r.returncode, 0, "delete: posternctl queue delete")
    p.stop()
    check_erased("queue delete", p, D, did, L, lid, [""])
    s = Scan(p.master_key_file, before).keys_for([""], [did])
    ok(len(s.data_keys.get(did, ())) == 1, "delete: (a copy taken before still yields its key)")
    p.start()
    j = p.posternctl_json("queue", "show", did, "--reason", "test")
    ok(j["envelope"] == "shredded" and j["sender"] is None and len(j["sender_hash"]) == 64,
       "delete: after shredding only keyed hashes, sizes, times and states remain")

# ---- body-retention purge ---------------------------------------------------
with Postern(tls=False, conf=dict(conf, body_retention="0s")) as p:
    L, D = message("live"), message("bodypurge")
    lid = inject(p, L["rcpts"], L["data"], sender=L["sender"])
    did = inject(p, D["rcpts"], D["data"], sender=D["sender"])
    for no in (0, 1):
        control(p, "queue.report", {"id": did, "rcpt": no, "result": "delivered"})
    is_(p.posternctl("queue", "purge").returncode, 0, "body purge: queue purge")
    is_(p.posternctl_json("queue", "show", did, "--reason", "t")["body_status"], "purged",
        "body purge: the body is gone")
    p.stop()
    check_erased("body purge", p, D, did, L, lid, [""])

# ---- metadata purge (the account's shorter event_retention) ----------------
with Postern(tls=False, conf=dict(conf, body_retention="0s")) as p:
    is_(p.posternctl("account", "add", "short", "--domain", "sender.test").returncode, 0,
        "metadata purge: account added")
    is_(p.posternctl("account", "set", "short", "--set", "event_retention=0s").returncode, 0,
        "metadata purge: its event_retention is 0 (the global one stays 30d)")
    L, D = message("live"), message("metapurge")
    lid = inject(p, L["rcpts"], L["data"], sender=L["sender"])
    did = inject(p, D["rcpts"], D["data"], sender=D["sender"], account="short")
    for no in (0, 1):
        control(p, "queue.report", {"id": did, "rcpt": no, "result": "delivered"})
    is_(p.posternctl("queue", "purge").returncode, 0, "metadata purge: queue purge")
    r = p.posternctl("queue", "show", did)
    is_(r.returncode, 1, "metadata purge: the message has no record any more")
    ok(p.posternctl_json("queue", "events", did)["events"] == [] and
       p.posternctl_json("queue", "events", lid)["events"] != [],
       "metadata purge: its events went with it, the live message's stay")
    p.stop()
    s = check_erased("metadata purge", p, D, did, L, lid, ["", "short"])
    live = mdb_dump_all(p.data_dir)
    left = [a for a in [D["sender"]] + D["rcpts"] if index_hash(s.text, a) in live]
    tables = mdb_dump_all(p.data_dir, ["messages", "recipients", "bodies", "schedule", "events"])
    ok(did.encode() not in tables and not left,
       "metadata purge: no message, recipient, body, schedule or event record names it, and "
       "no live record holds its keyed hashes (the audit log keeps ids only) %r" % left)

# ---- account delete ---------------------------------------------------------
with Postern(tls=False, conf=conf) as p:
    for a in ("gone", "stays"):
        r = p.posternctl("account", "add", a, "--domain", "sender.test")
        is_(r.returncode, 0, "account delete: account %s added" % a)
    L, D = message("live"), message("acctdel")
    lid = inject(p, L["rcpts"], L["data"], sender=L["sender"], account="stays")
    did = inject(p, D["rcpts"], D["data"], sender=D["sender"], account="gone")
    is_(p.posternctl("account", "delete", "gone").returncode, 0, "account delete: posternctl account delete")
    p.stop()
    s = check_erased("account delete", p, D, did, L, lid, ["gone", "stays"])
    is_(len(s.account_keys.get("gone", ())), 0, "account delete: the account key is in no file")

# ---- backup, delete, restore ------------------------------------------------
with Postern(tls=False, conf=conf) as p:
    L, D = message("live"), message("restored")
    lid = inject(p, L["rcpts"], L["data"], sender=L["sender"])
    did = inject(p, D["rcpts"], D["data"], sender=D["sender"])
    bdir = os.path.join(p.dir, "backup")
    r = p.posternctl("backup", bdir)
    is_(r.returncode, 0, "backup: posternctl backup DIR while the daemon runs (%s)" % r.stderr.strip())
    ok(os.path.exists(os.path.join(bdir, "data.mdb")) and os.path.exists(os.path.join(bdir, "keys")),
       "backup: a copy of data.mdb and of the key store")
    r = p.posternctl("queue", "delete", did)
    is_(r.returncode, 0, "backup: the message deleted after the backup")
    j = open(os.path.join(p.dir, "erasure.journal"), "rb").read()
    ok(did.encode() in j and D["sender"].encode() not in j,
       "backup: the erasure journal beside the master key names the id, no personal data")
    bfiles = {"backup/" + n: open(os.path.join(bdir, n), "rb").read() for n in os.listdir(bdir)}
    s = Scan(p.master_key_file, bfiles).keys_for([""], [did])
    ok(len(s.data_keys.get(did, ())) == 1,
       "backup: (the backup, taken before, still holds its key: what the journal is for)")
    p.stop()
    r = p.posternctl("restore", bdir)
    is_(r.returncode, 0, "restore: posternctl restore DIR with the daemon stopped (%s)" % r.stderr.strip())
    ok("replayed" in r.stdout, "restore: the erasures recorded after the backup were replayed (%s)"
       % r.stdout.strip())
    p.start()
    ok(p.posternctl_json("queue", "show", lid, "--reason", "t")["body_status"] == "available",
       "restore: the live message is back and readable")
    j = p.posternctl_json("queue", "show", did, "--reason", "t")
    ok(j["envelope"] == "shredded" and j["body_status"] != "available",
       "restore: the message deleted after the backup stays deleted")
    p.stop()
    check_erased("restore", p, D, did, L, lid, [""])
    r = p.posternctl("restore", os.path.join(p.dir, "no-such-backup"))
    is_(r.returncode, 1, "restore: a missing backup is refused")
done()
