# SPDX-License-Identifier: ISC
"""rawscan: read postern's files the way an attacker holding the master
key would, without postern's own read path (issue 13).

  Scan(master_key_file, {label: bytes, ...})
      .keys_for(account, ids)   recover every account key and data key
                                that any of the files still yields
      .open_all(ids)            with those keys, open every sealed value
                                found anywhere (live or free pages)
      .found(needle)            labels of the files that hold NEEDLE raw

Where keys are looked for:
  - key store images ("keys" files): every non-zero 64-byte slot, as
    "PKS1" + AES-256-GCM(nonce, key, tag) under the master key (account
    keys, AAD "postern slot v1" 01 be64(slot) account) or an account key
    (first-format data keys, AAD ... 02 be64(slot) message id), or as
    "PKS2" + a pool secret sealed under the master key (AAD ... 03
    be64(slot)), from which a data key derives: HMAC-SHA-256 under an
    account key of "postern data key v2" 00 be64(slot) id secret.  The
    slot a message uses is not read from its record: every pool slot and
    every account key is tried, and a derived key counts as the message's
    only if it opens one of the message's sealed values found in any file;
  - any file, the pre-key-store format (keys in LMDB's "keys" table):
    LMDB leaf nodes with key "a:"+account (sealed under the master key,
    AAD the key) and "m:"+id (sealed under the account key), found by a
    raw scan of every page, free pages included, so a deleted record
    that LMDB left behind is found too.
What is opened with the data keys: every LMDB leaf node whose key is
id + be32(n) (body chunks, AAD the node key; recipient records'
R_SEALED, AAD "r"+id+be32(n)) or id (the message record's M_SEALED,
AAD "e"+id), again on every page.
"""

import hashlib
import hmac
import struct
import subprocess

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SLOT = 64
SLOT_AAD = b"postern slot v1"
DK_LABEL = b"postern data key v2\x00"


def master_key(path):
    """(file text, 32 key bytes) of a master key file."""
    text = open(path, "rb").read()
    return text, bytes.fromhex(text.decode().strip()[:64])


def index_hash(master_text, normalised):
    """The keyed address index of a normalised address (src/lib/addr.c)."""
    k = hmac.new(master_text, b"postern address index v1", hashlib.sha256).digest()
    return hmac.new(k, normalised.encode(), hashlib.sha256).digest()


def gcm_open(key, blob, aad):
    if len(blob) < 28:
        return None
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
    except Exception:
        return None


def nodes(data, key):
    """Values of every LMDB leaf node with key KEY anywhere in DATA (inline
    values only: big bodies live in overflow pages, tests keep them small)."""
    out = []
    start = 0
    while True:
        i = data.find(key, start)
        if i < 0:
            return out
        start = i + 1
        if i < 8:
            continue
        lo, hi, flags, ksize = struct.unpack_from("<HHHH", data, i - 8)
        if ksize != len(key) or flags & 1:
            continue
        size = lo | (hi << 16)
        if i + ksize + size <= len(data):
            out.append(data[i + ksize:i + ksize + size])


def tlv(value):
    """(tag, bytes) fields of a postern record (tag, be32 length, bytes)."""
    out = []
    p = 0
    while p + 5 <= len(value):
        n = struct.unpack_from(">I", value, p + 1)[0]
        if p + 5 + n > len(value):
            break
        out.append((value[p], value[p + 5:p + 5 + n]))
        p += 5 + n
    return out


class Scan:
    def __init__(self, master_key_file, files):
        self.text, self.master = master_key(master_key_file)
        self.files = files          # label -> bytes
        self.account_keys = {}      # account -> set of keys
        self.data_keys = {}         # id -> set of keys

    def found(self, needle):
        if isinstance(needle, str):
            needle = needle.encode()
        return [l for l, d in self.files.items() if needle in d]

    def _slots(self):
        for label, d in self.files.items():
            if not d.startswith(b"postern keystore v1\n"):
                continue
            for n in range(1, len(d) // SLOT):
                s = d[n * SLOT:(n + 1) * SLOT]
                if s[:4] == b"PKS1":
                    yield n, s[4:]

    def _pool(self):
        """(slot, secret) of every pool slot the master key opens."""
        out = []
        for label, d in self.files.items():
            if not d.startswith(b"postern keystore v1\n"):
                continue
            for n in range(1, len(d) // SLOT):
                s = d[n * SLOT:(n + 1) * SLOT]
                if s[:4] == b"PKS2":
                    sec = gcm_open(self.master, s[4:], SLOT_AAD + b"\x03" + struct.pack(">Q", n))
                    if sec:
                        out.append((n, sec))
        return out

    def sealed(self, mid, maxno=8):
        """(blob, aad) of every sealed value of message MID in any file."""
        m = mid.encode()
        out = []
        for d in self.files.values():
            for no in range(maxno):
                k = m + struct.pack(">I", no)
                for v in nodes(d, k):
                    out.append((v, k))
                    for tag, f in tlv(v):
                        if tag == 11:
                            out.append((f, b"r" + k))
            for v in nodes(d, m):
                for tag, f in tlv(v):
                    if tag == 13:
                        out.append((f, b"e" + m))
        return out

    def keys_for(self, accounts, ids):
        for acct in accounts:
            a = acct.encode()
            ks = self.account_keys.setdefault(acct, set())
            for n, blob in self._slots():
                k = gcm_open(self.master, blob, SLOT_AAD + b"\x01" + struct.pack(">Q", n) + a)
                if k:
                    ks.add(k)
            for d in self.files.values():
                for v in nodes(d, b"a:" + a):
                    k = gcm_open(self.master, v, b"a:" + a)
                    if k:
                        ks.add(k)
        aks = set().union(*self.account_keys.values()) if self.account_keys else set()
        pool = self._pool() if ids else []
        for mid in ids:
            m = mid.encode()
            ds = self.data_keys.setdefault(mid, set())
            for ak in aks:
                for n, blob in self._slots():
                    k = gcm_open(ak, blob, SLOT_AAD + b"\x02" + struct.pack(">Q", n) + m)
                    if k:
                        ds.add(k)
                for d in self.files.values():
                    for v in nodes(d, b"m:" + m):
                        k = gcm_open(ak, v, b"m:" + m)
                        if k:
                            ds.add(k)
            if pool and aks:
                tries = sorted(set(self.sealed(mid)), key=lambda t: len(t[0]))
                for ak in aks:
                    for n, sec in pool:
                        dk = hmac.new(ak, DK_LABEL + struct.pack(">Q", n) + m + sec,
                                      hashlib.sha256).digest()
                        if any(gcm_open(dk, b, a) is not None for b, a in tries):
                            ds.add(dk)
        return self

    def open_all(self, mid, maxno=8):
        """Every plaintext any file yields for message MID: body chunks and
        sealed envelope fields, from live and free pages."""
        m = mid.encode()
        out = []
        for dk in self.data_keys.get(mid, ()):
            for d in self.files.values():
                for no in range(maxno):
                    k = m + struct.pack(">I", no)
                    for v in nodes(d, k):
                        pt = gcm_open(dk, v, k)
                        if pt is not None:
                            out.append(pt)
                        for tag, f in tlv(v):
                            if tag == 11:
                                pt = gcm_open(dk, f, b"r" + k)
                                if pt is not None:
                                    out.append(pt)
                for v in nodes(d, m):
                    for tag, f in tlv(v):
                        if tag == 13:
                            pt = gcm_open(dk, f, b"e" + m)
                            if pt is not None:
                                out.append(pt)
        return out


def mdb_dump_all(data_dir, tables=None):
    """The live contents of every table (mdb_dump -a) or of TABLES, as bytes."""
    if tables:
        return b"".join(_dump(data_dir, ["-s", t])
                        for t in tables)
    return _dump(data_dir, ["-a"])


def _dump(data_dir, args):
    r = subprocess.run(["mdb_dump"] + args + [data_dir], capture_output=True)
    out = bytearray()
    for line in r.stdout.decode("ascii", "replace").splitlines():
        if line.startswith(" "):
            try:
                out += bytes.fromhex(line.strip()) + b"\n"
            except ValueError:
                pass
    return bytes(out)
