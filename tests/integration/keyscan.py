# SPDX-License-Identifier: ISC
"""keyscan: can a message's body still be opened from the live files?

A second scanner, written apart from rawscan.py and attacker.py, from
the file formats alone (queue/keystore.c, queue/records.c, LMDB's leaf
node layout), so that a mistake shared by postern and one scanner does
not hide a leak.  With the master key (hex in its file) it opens every
slot of the key store DATA_DIR/keys: account keys ("PKS1", kind 1,
owner = account name), first-format data keys ("PKS1", kind 2, owner =
message id, under each account key) and pool secrets ("PKS2", kind 3,
no owner), and derives every data key a pool slot can give:
HMAC-SHA-256(account key, "postern data key v2\\0" || be64(slot) ||
id || secret), for every slot, every account key and every id asked
about.  Then every body chunk of those ids anywhere in data.mdb -- live
and free pages alike: the raw bytes are searched for the chunk's key
(id || be32(chunk)) and the value after it taken from the node header
in front (an inline node; bodies in these tests are small) -- is tried
under every candidate key, with the chunk's key as associated data.

  Keyscan(master_key_file, data_dir, accounts).opened(ids)
      -> {id: [(slot, plaintext prefix)]} of the chunks that open."""

import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SLOT = 64
PREFIX = b"postern slot v1"
LABEL = b"postern data key v2\0"


def _aad(slot, kind, owner):
    return PREFIX + bytes([kind]) + struct.pack(">Q", slot) + owner


def _open(key, aad, sealed):
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad)
    except Exception:
        return None


class Keyscan:
    def __init__(self, master_key_file, data_dir, accounts):
        with open(master_key_file) as f:
            self.master = bytes.fromhex(f.read().strip()[:64])
        with open(os.path.join(data_dir, "keys"), "rb") as f:
            ks = f.read()
        with open(os.path.join(data_dir, "data.mdb"), "rb") as f:
            self.mdb = f.read()
        self.slots = {s: ks[s * SLOT:(s + 1) * SLOT] for s in range(1, len(ks) // SLOT)}
        self.account_keys = {}     # name -> [key]
        self.secrets = {}          # slot -> pool secret
        for s, b in self.slots.items():
            if b[:4] == b"PKS2":
                sec = _open(self.master, _aad(s, 3, b""), b[4:])
                if sec is not None:
                    self.secrets[s] = sec
            elif b[:4] == b"PKS1":
                for a in accounts:
                    k = _open(self.master, _aad(s, 1, a.encode()), b[4:])
                    if k is not None:
                        self.account_keys.setdefault(a, []).append(k)

    def candidates(self, qid):
        """(slot, data key) for message QID from every slot and account key."""
        idb = qid.encode()[:64]
        out = []
        for keys in self.account_keys.values():
            for ak in keys:
                for s, sec in self.secrets.items():
                    out.append((s, hmac.new(ak, LABEL + struct.pack(">Q", s) + idb + sec,
                                            hashlib.sha256).digest()))
                for s, b in self.slots.items():
                    if b[:4] == b"PKS1":
                        k = _open(ak, _aad(s, 2, idb), b[4:])
                        if k is not None:
                            out.append((s, k))
        return out

    def chunks(self, qid, maxchunks=4):
        """(chunk key, sealed value) of every inline copy of QID's chunks."""
        out = []
        for no in range(maxchunks):
            k = qid.encode() + struct.pack(">I", no)
            at = self.mdb.find(k)
            while at >= 8:
                lo, hi, flags, ksize = struct.unpack_from("<HHHH", self.mdb, at - 8)
                size = lo | hi << 16
                if ksize == len(k) and not flags & 1 and 28 <= size <= 4096:
                    out.append((k, self.mdb[at + len(k):at + len(k) + size]))
                at = self.mdb.find(k, at + 1)
        return out

    def opened(self, ids):
        res = {}
        for qid in ids:
            cands = self.candidates(qid)
            for k, sealed in self.chunks(qid):
                for s, dk in cands:
                    pt = _open(dk, k, sealed)
                    if pt is not None:
                        res.setdefault(qid, []).append((s, pt[:40]))
        return res
