# SPDX-License-Identifier: ISC
"""attacker: a second, independent raw-file scanner for issue 13 (it
shares no code with rawscan.py and uses none of postern's read path).

It reads postern's files the way someone holding the master key and a
copy of every file would:

  files(p, extra)         every file under the test's directory (data.mdb,
                          lock file, key store, erasure journal, logs,
                          backups, anything else) except the master key
                          itself, plus EXTRA (captured posternctl output,
                          audit listings), label -> bytes; data.mdb is
                          also given as its free pages alone
                          ("data.mdb#free", from mdb_stat -ff) and as
                          its live contents ("data.mdb#dump", mdb_dump -a)
  plaintext(files, needles)
                          needles found in any file, case-insensitively
  leaves(data)            every LMDB leaf node of every page (live and
                          free: LMDB never zeroes a freed page), with
                          overflow values followed, as (key, value)
  sealed_of(data, mid)    the sealed values of message MID in a data.mdb
                          image, as (blob, aad) pairs
  unwrap(master, files, accounts, ids, sealed=None)
                          every key the key store images still yield:
                          account keys (opened with the master key), the
                          first-format data keys those open, and the data
                          keys derived from a pool slot ("PKS2", a secret
                          under the master key) and an account key that
                          open one of the message's sealed values (SEALED,
                          or those found in FILES), per owner
  derived_keys(aks, master, files, mid, sealed)
                          the data keys of MID that account keys AKS and
                          the pool slots in FILES derive and that open
                          one of SEALED
  slot_targets(files, accounts, ids)
                          the key store slots as sealed values, to try
                          raw keys against
  windows(files)          every 32-byte window of every file that could
                          be a raw key (high entropy), plus every hex or
                          base64 key printed in a text file
  opens(keys, sealed)     the plaintexts any of KEYS opens
"""

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import subprocess

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PAGE = 4096
P_LEAF, P_OVERFLOW = 0x02, 0x04
F_BIGDATA = 0x01


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def free_pages(data_dir):
    """Page numbers on LMDB's free list (mdb_stat -ff)."""
    r = subprocess.run(["mdb_stat", "-ff", data_dir], capture_output=True, text=True)
    pages = set()
    for line in r.stdout.splitlines():
        m = re.match(r"\s+Transaction \d+, (\d+) pages?, maxspan \d+", line)
        if m:
            continue
        for tok in re.findall(r"^\s+(\d+)(?:\[(\d+)\])?\s*$", line):
            start, span = int(tok[0]), int(tok[1] or 1)
            pages.update(range(start, start + span))
    return pages


def mdb_dump(data_dir):
    r = subprocess.run(["mdb_dump", "-a", data_dir], capture_output=True, text=True)
    out = bytearray()
    for line in r.stdout.splitlines():
        if line.startswith(" "):
            try:
                out += binascii.unhexlify(line.strip()) + b"\n"
            except (binascii.Error, ValueError):
                pass
    return bytes(out)


def files(p, extra=None, skip=()):
    out = {}
    mk = os.path.realpath(p.master_key_file)
    for root, dirs, names in os.walk(p.dir):
        for n in names:
            path = os.path.join(root, n)
            if os.path.realpath(path) == mk or not os.path.isfile(path) or path in skip:
                continue
            if n.endswith((".sock", ".pem", ".crt")) or n in ("cert.pem", "key.pem"):
                continue
            out[os.path.relpath(path, p.dir)] = _read(path)
    for root, dirs, names in os.walk(p.dir):
        if "data.mdb" in names:
            rel = os.path.relpath(os.path.join(root, "data.mdb"), p.dir)
            d = out.get(rel, b"")
            fp = free_pages(root)
            out[rel + "#free"] = b"".join(d[n * PAGE:(n + 1) * PAGE] for n in sorted(fp))
            out[rel + "#dump"] = mdb_dump(root)
    out.update(extra or {})
    return out


def plaintext(fs, needles):
    """{needle: [labels]} of the needles found (case-insensitively)."""
    low = {l: d.lower() for l, d in fs.items()}
    hits = {}
    for n in needles:
        b = (n.encode() if isinstance(n, str) else n).lower()
        where = [l for l, d in low.items() if b in d]
        if where:
            hits[n if isinstance(n, str) else n.decode("latin-1")] = where
    return hits


def leaves(data):
    """(key, value) of every leaf node on every page of an LMDB image."""
    out = []
    npages = len(data) // PAGE
    for pg in range(npages):
        base = pg * PAGE
        flags, lower, upper = struct.unpack_from("<HHH", data, base + 10)
        if not flags & P_LEAF or flags & P_OVERFLOW or lower < 16 or lower > upper or upper > PAGE:
            continue
        for i in range((lower - 16) // 2):
            ptr = struct.unpack_from("<H", data, base + 16 + 2 * i)[0]
            if ptr < upper or ptr + 8 > PAGE:
                continue
            n = base + ptr
            lo, hi, nflags, ksize = struct.unpack_from("<HHHH", data, n)
            dsize = lo | (hi << 16)
            key = data[n + 8:n + 8 + ksize]
            if nflags & F_BIGDATA:
                opg = struct.unpack_from("<Q", data, n + 8 + ksize)[0]
                start = opg * PAGE + 16
                if start + dsize <= len(data):
                    out.append((key, data[start:start + dsize]))
            elif ptr + 8 + ksize + dsize <= PAGE:
                out.append((key, data[n + 8 + ksize:n + 8 + ksize + dsize]))
    return out


def _tlv(v):
    p, out = 0, []
    while p + 5 <= len(v):
        n = struct.unpack_from(">I", v, p + 1)[0]
        if p + 5 + n > len(v):
            return out
        out.append(v[p + 5:p + 5 + n])
        p += 5 + n
    return out


def sealed_of(data, mid):
    """(blob, aad) candidates of message MID: every value of a node whose
    key starts with the id, whole and field by field, with the node key
    and the record prefixes as associated data."""
    m = mid.encode()
    out = set()
    for k, v in leaves(data):
        if not k.startswith(m):
            continue
        for blob in [v] + _tlv(v):
            if len(blob) >= 28:
                for aad in (k, b"e" + k, b"r" + k):
                    out.add((blob, aad))
    return out


def gcm_open(key, blob, aad):
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
    except Exception:
        return None


def opens(keys, sealed):
    out = []
    for k in keys:
        for blob, aad in sealed:
            pt = gcm_open(k, blob, aad)
            if pt is not None:
                out.append(pt)
    return out


def master_key(path):
    return bytes.fromhex(_read(path).decode().strip()[:64])


def _slots(fs):
    for label, d in fs.items():
        if not d.startswith(b"postern keystore v1\n"):
            continue
        for n in range(1, len(d) // 64):
            s = d[n * 64:(n + 1) * 64]
            if s[:4] == b"PKS1":
                yield label, n, s[4:]


DK_LABEL = b"postern data key v2\x00"


def pool(master, fs):
    """(slot, secret) of every pool slot of every key store image in FS."""
    out = []
    for label, d in fs.items():
        if not d.startswith(b"postern keystore v1\n"):
            continue
        for n in range(1, len(d) // 64):
            s = d[n * 64:(n + 1) * 64]
            if s[:4] == b"PKS2":
                sec = gcm_open(master, s[4:], b"postern slot v1\x03" + struct.pack(">Q", n))
                if sec:
                    out.append((n, sec))
    return out


def derive(ak, n, mid, secret):
    return hmac.new(ak, DK_LABEL + struct.pack(">Q", n) + mid.encode() + secret,
                    hashlib.sha256).digest()


def _tries(sealed):
    """The sealed values, smallest first (the first that opens ends a try)."""
    return sorted(sealed, key=lambda t: len(t[0]))


def derived_keys(aks, master, fs, mid, sealed):
    """{(key, slot, secret)} derived from AKS and FS's pool that open SEALED."""
    tries = _tries(sealed)
    out = set()
    for n, sec in pool(master, fs):
        for ak in aks:
            dk = derive(ak, n, mid, sec)
            if any(gcm_open(dk, b, a) is not None for b, a in tries):
                out.add((dk, n, sec))
    return out


def sealed_in(fs, mid):
    """Sealed values of MID in every LMDB image of FS (free pages too)."""
    out = set()
    for label, d in fs.items():
        if "data.mdb" in label and not label.endswith("#dump"):
            out |= sealed_of(d, mid)
    return out


def unwrap(master, fs, accounts, ids, sealed=None):
    """{("account", name) | ("msg", id): set(keys)} from every key store
    image in FS: account slots open under the master key, data-key slots
    under any recovered account key."""
    got = {}
    slots = list(_slots(fs))
    aks = set()
    for a in accounts:
        for label, n, blob in slots:
            k = gcm_open(master, blob, b"postern slot v1\x01" + struct.pack(">Q", n) + a.encode())
            if k:
                got.setdefault(("account", a), set()).add(k)
                aks.add(k)
    for mid in ids:
        for ak in aks:
            for label, n, blob in slots:
                k = gcm_open(ak, blob, b"postern slot v1\x02" + struct.pack(">Q", n) + mid.encode())
                if k:
                    got.setdefault(("msg", mid), set()).add(k)
        if aks:
            for dk, n, sec in derived_keys(aks, master, fs, mid,
                                           sealed if sealed is not None else sealed_in(fs, mid)):
                got.setdefault(("msg", mid), set()).add(dk)
                got.setdefault(("secret", mid), set()).add(sec)
    return got


def slot_targets(fs, accounts, ids):
    """(blob, aad) of every key store slot in FS as sealed for the given
    owners: a raw account key lying anywhere would open a data-key
    slot, the master key would open an account slot."""
    out = set()
    for label, n, blob in _slots(fs):
        for a in accounts:
            out.add((blob, b"postern slot v1\x01" + struct.pack(">Q", n) + a.encode()))
        for mid in ids:
            out.add((blob, b"postern slot v1\x02" + struct.pack(">Q", n) + mid.encode()))
    return out


_HEX = re.compile(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
_B64 = re.compile(rb"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=")


def windows(fs, min_distinct=20):
    """Every 32-byte string in FS that could be a raw key."""
    out = set()
    for label, d in fs.items():
        if label.endswith(("#free", "#dump")):
            continue
        for pg in range(0, len(d), PAGE):
            page = d[pg:pg + PAGE + 31]
            if not page.strip(b"\0"):
                continue
            for i in range(min(PAGE, len(page) - 31)):
                w = page[i:i + 32]
                if len(set(w)) >= min_distinct:
                    out.add(w)
        for m in _HEX.findall(d):
            out.add(bytes.fromhex(m.decode()))
        for m in _B64.findall(d):
            try:
                out.add(base64.b64decode(m))
            except binascii.Error:
                pass
    return out


def b64_forms(text):
    """The marker as it appears base64-encoded at each of the three
    alignments (middle part, independent of what surrounds it)."""
    b = text.encode()
    out = []
    for pad in range(3):
        e = base64.b64encode(b"\0" * pad + b)
        out.append(e[4 if pad else 0:-4].decode())
    return out
