#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Data-subject requests (issue 17) against the real daemon and the raw
files: `posternctl subject export` lists exactly the messages of one
address (sender or recipient) of one account, other addresses
pseudonymised, content only with --content; `subject erase` shreds every
message to or from it (a message with another recipient keeps only that
recipient's row), removes the events naming it and scrubs the audit
records naming it, keeps a keyed-hash suppression entry (reason erased)
that refuses new mail to the address at RCPT,
journals the erasure; afterwards no byte of data.mdb (free pages
included), the key store, the erasure journal or the log holds the
address or the erased mail's content, and no key for the erased mail can
be recovered with the master key, while the other mail of the account
still opens (control).  Receipts verify against `receipt pubkey` and
fail with one byte changed; refused requests (unknown account,
malformed address) exit 1 / 2 and still carry a receipt saying nothing
was found; an address without data gets found=false."""

import json
import os
import stat

from harness import *
from queuelib import control, inject
from rawscan import Scan, mdb_dump_all

plan(48)

H = os.urandom(5).hex()
S = "subj.%s@example.test" % H          # the data subject
O = "other.%s@example.test" % H         # another address of the same account
X = "app.%s@sender.test" % H            # the application's sender


def msg(tag, to):
    mark = "MARK-%s-%s" % (tag, H)
    return mark, ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\n\r\n%s body\r\n"
                  % (X, ", ".join("<%s>" % t for t in to), mark, mark))


def files(p):
    f = {}
    for name in ("data.mdb", "keys"):
        f[name] = open(os.path.join(p.data_dir, name), "rb").read()
    f["journal"] = open(os.path.join(os.path.dirname(p.master_key_file), "erasure.journal"), "rb").read()
    f["log"] = p.log().encode()
    return f


def last_json(text):
    """The last JSON line of posternctl's stdout (with --json a refusal
    prints its error object first, then the result with the receipt)."""
    lines = [l for l in text.splitlines() if l.strip()]
    return json.loads(lines[-1]) if lines else {}


def receipt_of(r):
    try:
        return last_json(r.stdout).get("receipt")
    except ValueError:
        return None


conf = {"delivery_enabled": "no", "purge_interval": "1h", "queue_map_size": "16m",
        "smtpd_relay_account": "app1"}
with Postern(tls=False, conf=conf) as p:
    d = p.dir
    for a in ("app1", "app2"):
        r = p.posternctl("account", "add", a, "--domain", "example.test")
        is_(r.returncode, 0, "account add %s" % a)
    m1, t1 = msg("only", [S])
    m2, t2 = msg("multi", [S, O])
    m4, t4 = msg("live", [O])
    m5, t5 = msg("app2", [S])
    id1 = inject(p, [S], t1, sender=X, account="app1")
    id2 = inject(p, [S, O], t2, sender=X, account="app1")
    id3 = inject(p, [O], "Subject: from-subject\r\n\r\nMARK-sent-%s\r\n" % H, sender=S, account="app1")
    id4 = inject(p, [O], t4, sender=X, account="app1")
    id5 = inject(p, [S], t5, sender=X, account="app2")
    ok(all((id1, id2, id3, id4, id5)), "five messages queued (two accounts)")
    pseudo = [e["rcpt"] for e in p.posternctl_json("queue", "events", id1)["events"] if "rcpt" in e]
    ok(pseudo, "the events name the subject by pseudonym (%s)" % pseudo[:1])

    # ---- export -------------------------------------------------------
    r = p.posternctl("subject", "export", "--account", "app1", S, "--json")
    is_(r.returncode, 0, "subject export: exit 0")
    ex = json.loads(r.stdout)
    is_(sorted(m["id"] for m in ex["messages"]), sorted([id1, id2, id3]),
        "export lists exactly the subject's messages of the account (as recipient and as sender)")
    ok(O not in r.stdout and X not in r.stdout,
       "export: every other address is pseudonymised")
    ok(S in r.stdout and all("content" not in m for m in ex["messages"]),
       "export: the subject's own address in the clear, no content without --content")
    ok(len(ex["events"]) >= 3 and all(e.get("id") in (id1, id2, id3) for e in ex["events"]),
       "export: the events of the subject's messages (%d)" % len(ex["events"]))
    r = p.posternctl("subject", "export", "--account", "app1", O, "--json")
    is_(sorted(m["id"] for m in json.loads(r.stdout)["messages"]), sorted([id2, id3, id4]),
        "export of another address of the same account: its own messages only")
    r = p.posternctl("subject", "export", "--account", "app1", S, "--content", "--json",
                     "--receipt", os.path.join(d, "export.receipt"))
    c = {m["id"]: m.get("content") or "" for m in json.loads(r.stdout)["messages"]}
    ok(m1 in c.get(id1, "") and m2 in c.get(id2, ""), "export --content: the decrypted messages")
    recs = [a for a in p.posternctl_json("audit", "list")["audit"] if a.get("cmd") == "subject.export"]
    ok(recs and recs[-1].get("read") is True and S not in json.dumps(recs),
       "export is an audited read; the record names the request, not the address")

    # ---- receipts -----------------------------------------------------
    rk = os.path.join(os.path.dirname(p.master_key_file), "receipt.key")
    ok(os.path.exists(rk) and stat.S_IMODE(os.stat(rk).st_mode) == 0o600,
       "the receipt key was generated at first use, mode 0600")
    pk = p.posternctl("receipt", "pubkey")
    like(pk.stdout, r"^ed25519 [A-Za-z0-9+/]{43}=$", "receipt pubkey prints the Ed25519 key")
    v = p.posternctl("receipt", "verify", os.path.join(d, "export.receipt"))
    is_(v.returncode, 0, "the export's receipt verifies")
    text = open(os.path.join(d, "export.receipt"), "rb").read()
    rec = json.loads(text)["receipt"]
    ok(rec["kind"] == "export" and rec["messages"] == 3 and S not in text.decode() and
       rec["subject"] and rec["account"] == "app1",
       "the receipt names the keyed hash, not the address, and the counts")
    bad = 0
    for pos in (20, len(text) // 2, len(text) - 10):
        t = bytearray(text)
        t[pos] = t[pos] ^ 0x01
        open(os.path.join(d, "bad.receipt"), "wb").write(bytes(t))
        bad += p.posternctl("receipt", "verify", os.path.join(d, "bad.receipt")).returncode == 1
    is_(bad, 3, "a receipt with one byte changed (receipt, key or signature) does not verify")

    # ---- erase --------------------------------------------------------
    r = p.posternctl("subject", "erase", "--account", "app1", S, "--json",
                     "--receipt", os.path.join(d, "erase.receipt"))
    is_(r.returncode, 0, "subject erase: exit 0")
    e = json.loads(r.stdout)
    ok(e["messages_erased"] == 2 and e["messages_kept_for_others"] == 1 and e["recipient_rows_erased"] == 2,
       "erase: two messages whole, one kept for its other recipient (%r)" % e)
    is_(p.posternctl("receipt", "verify", os.path.join(d, "erase.receipt")).returncode, 0,
        "the erasure's receipt verifies")
    er = json.loads(open(os.path.join(d, "erase.receipt")).read())["receipt"]
    ok(er["kind"] == "erase" and er["synced"] is True and er["found"] is True, "erase receipt: synced, found")
    ids = [m["id"] for m in p.posternctl_json("queue", "list")["messages"]]
    ok(id1 not in ids and id3 not in ids and id2 in ids and id4 in ids and id5 in ids,
       "erased messages are gone; the shared one, the other address's and the other account's stay")
    sh = p.posternctl_json("queue", "show", id2, "--reason", "test")
    is_([x["address"] for x in sh["recipients"]], [O], "the shared message keeps only the other recipient")
    ev = p.posternctl_json("queue", "events")["events"]
    ok(not [x for x in ev if (x.get("rcpt") in pseudo and x.get("id") != id5) or x.get("id") in (id1, id3)],
       "no event of the account names the subject or an erased message")
    ok([x for x in ev if x.get("rcpt") in pseudo and x.get("id") == id5],
       "the other account's events about the same address stay")
    ok(S not in json.dumps(p.posternctl_json("audit", "list")), "no audit record names the address")
    st = p.posternctl_json("subject", "status", "--account", "app1", S)
    ok(st["suppressed"] and st["suppression"]["reason"] == "erased" and st["messages"] == 0,
       "status: the keyed-hash suppression entry (reason erased) stays, no messages")
    code, text = p.send(X, [S], make_message(mail_from=X, to=S, subject="again"))
    ok(code == 550, "the kept suppression refuses a new submission to the address at RCPT (%d %s)" % (code, text))
    ok([q for q in st["requests"] if q["request"] == e["request"] and q["kind"] == "erase"],
       "status lists the past request by id")
    st2 = p.posternctl_json("subject", "status", "--account", "app2", S)
    ok(st2["messages"] == 1 and not st2["suppressed"], "the other account's data is untouched")
    ex = p.posternctl_json("subject", "export", "--account", "app1", S)
    ok(ex["messages"] == [] and ex["events"] == [], "export after erase: nothing")

    # ---- bad requests -------------------------------------------------
    r = p.posternctl("subject", "erase", "--account", "nosuch", S, "--json")
    rc = receipt_of(r)
    ok(r.returncode == 1 and "no such account" in r.stderr, "unknown account: exit 1, clear message")
    ok(rc and json.loads(rc)["receipt"]["found"] is False, "... and still a receipt saying nothing was found")
    open(os.path.join(d, "n.receipt"), "w").write(rc or "")
    is_(p.posternctl("receipt", "verify", os.path.join(d, "n.receipt")).returncode, 0, "... which verifies")
    r = p.posternctl("subject", "erase", "--account", "app1", "not-an-address", "--json")
    rc = receipt_of(r)
    ok(r.returncode == 2 and "malformed address" in r.stderr and rc and
       json.loads(rc)["receipt"]["found"] is False, "malformed address: exit 2, message, receipt")
    r = p.posternctl("subject", "erase", "--account", "app1", "nobody.%s@example.test" % H, "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["found"] is False and
       json.loads(json.loads(r.stdout)["receipt"])["receipt"]["found"] is False,
       "an address with no data: found=false in the answer and the receipt")

    p.stop()
    # ---- raw files ----------------------------------------------------
    f = files(p)
    hits = {n: [l for l, b in f.items() if n.encode() in b] for n in (S, S.upper(), m1, "MARK-sent-" + H)}
    is_({n: l for n, l in hits.items() if l}, {},
        "no byte of data.mdb (free pages too), key store, journal or log holds the address or erased content")
    s = Scan(p.master_key_file, f).keys_for(["app1", "app2"], [id1, id3, id4])
    is_(len(s.data_keys.get(id1, ())) + len(s.data_keys.get(id3, ())), 0,
        "no key of the erased messages can be recovered from any file")
    ok(m4 in b"".join(s.open_all(id4)).decode("latin-1"),
       "(control) the account's other message still opens from the raw file")
    ok(b" subject app1/" in f["journal"] and S.encode() not in f["journal"],
       "the erasure journal has the request (account and keyed hash only)")

# ---- a backup taken before the erasure: the restore replays it -----------
with Postern(tls=False, conf=conf) as p:
    p.posternctl("account", "add", "app1")
    ia = inject(p, [S], msg("ba", [S])[1], sender=X, account="app1")
    ib = inject(p, [S, O], msg("bb", [S, O])[1], sender=X, account="app1")
    ic = inject(p, [O], msg("bc", [O])[1], sender=X, account="app1")
    bdir = os.path.join(p.dir, "backup")
    is_(p.posternctl("backup", bdir).returncode, 0, "backup before the erasure")
    is_(p.posternctl("subject", "erase", "--account", "app1", S).returncode, 0, "subject erase after it")
    p.stop()
    r = p.posternctl("restore", bdir)
    ok(r.returncode == 0 and "replayed" in r.stdout, "restore replays the journal (%s)" % r.stdout.strip())
    p.start()
    ids = [m["id"] for m in p.posternctl_json("queue", "list")["messages"]]
    ok(ia not in ids and ib in ids and ic in ids,
       "restored: the subject's own message is erased again, the others are back")
    rc = [x["address_hash"] for x in p.posternctl_json("queue", "show", ib, "--reason", "t")["recipients"]]
    is_(len(rc), 1, "restored: the shared message lost the subject's recipient row again")

# ---- the webhook outbox: unsent copies of the subject's events go too ----
hconf = dict(conf, smtpd_relay_account="hooks", webhook_lifetime="1d")
p = Postern(tls=False, conf=hconf)
secret = p.write_file("hook.secret", b"0123456789abcdef0123456789abcdef\n", 0o600)
with p:
    p.posternctl("account", "add", "hooks")
    p.posternctl("account", "set", "hooks", "--set",
                 "webhook_url=http://127.0.0.1:%d/hook" % free_port(), "--set",
                 "webhook_secret_file=%s" % secret)
    c1, t1 = p.send(X, [S], make_message(mail_from=X, to=S, subject="hook-s"))
    c2, t2 = p.send(X, [O], make_message(mail_from=X, to=O, subject="hook-o"))
    ps = [e["rcpt"] for e in p.posternctl_json("queue", "events", queue_id(t1))["events"] if "rcpt" in e]
    po = [e["rcpt"] for e in p.posternctl_json("queue", "events", queue_id(t2))["events"] if "rcpt" in e]
    p.stop()
    before = mdb_dump_all(p.data_dir, ["outbox"])
    p.start()
    ok(c1 == 250 and c2 == 250 and ps and po and ps[0].encode() in before and po[0].encode() in before,
       "webhook outbox: unsent events of both addresses (the endpoint is down)")
    is_(p.posternctl("subject", "erase", "--account", "hooks", S).returncode, 0, "erase with a webhook")
    p.stop()
    after = mdb_dump_all(p.data_dir, ["outbox"])
    ok(ps[0].encode() not in after and po[0].encode() in after,
       "the subject's unsent webhook events are gone from the outbox, the other address's stay")
done()
