#!/usr/bin/env python3
"""Independent check of Portcullis's audit transparency log, written from the specs alone.

Recomputes every entry's chain hash from an export (`portcullis audit export`), the RFC 9162
Merkle root over the entries, checks a C2SP signed-note checkpoint with Python's
`cryptography` Ed25519, and checks an inclusion proof and a consistency proof served by the
admin API, both against the RFC 9162 verification algorithms and against proofs recomputed
here from the leaves.

usage: verify_tlog.py EXPORT CHECKPOINT_JSON INCLUSION_JSON CONSISTENCY_JSON
Prints "OK ..." and exits 0, or prints what is wrong and exits 1.
"""

import base64
import hashlib
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(msg):
    print("FAIL", msg)
    sys.exit(1)


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def field(s):
    if s is None:
        return struct.pack(">I", 0xFFFFFFFF)
    b = s.encode()
    return struct.pack(">I", len(b)) + b


def chain_hash(e, prev):
    body = b"portcullis.audit.v1\x00" + struct.pack(">q", e["seq"]) + prev
    body += struct.pack(">q", e["time"])
    for f in ("action", "outcome", "actor", "target", "ip", "user_agent", "details"):
        body += field(e[f])
    return sha256(body)


def pii_commitment(e, salt):
    body = b"portcullis.audit.pii.v1\x00" + salt
    for f in ("actor", "target", "ip", "user_agent", "details"):
        body += field(e[f])
    return sha256(body)


def chain_hash_v2(e, prev, commitment):
    body = b"portcullis.audit.v2\x00" + struct.pack(">q", e["seq"]) + prev
    body += struct.pack(">q", e["time"]) + field(e["action"]) + field(e["outcome"]) + commitment
    return sha256(body)


def entry_hash(e, prev):
    if e.get("version", 1) == 1:
        return chain_hash(e, prev)
    stored = bytes.fromhex(e["pii_commitment"])
    if e.get("redacted_at") is not None:
        if any(e[f] is not None for f in ("actor", "target", "ip", "user_agent", "pii_salt")) or e["details"] != "{}":
            fail(f"entry {e['seq']}: marked redacted but still holds personal fields")
    elif pii_commitment(e, bytes.fromhex(e["pii_salt"])) != stored:
        fail(f"entry {e['seq']}: personal fields do not match their commitment")
    return chain_hash_v2(e, prev, stored)


def leaf(entry_hash):
    return sha256(b"\x00", entry_hash)


def node(l, r):
    return sha256(b"\x01", l, r)


def split(n):
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = split(n)
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    n = len(leaves)
    if n <= 1:
        return []
    k = split(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, whole):
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def verify_inclusion(index, size, leaf_hash, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not (fn & 1) and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not (fn & 1) and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def open_note(note, vkey):
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64)
    if raw[0] != 1:
        fail("verifier key is not Ed25519")
    pub = raw[1:]
    key_id = sha256(name.encode(), b"\n", b"\x01", pub)[:4]
    if key_id.hex() != key_id_hex:
        fail("verifier key id does not match the key")
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        fail("checkpoint has no signature block")
    body += "\n"
    for line in sigs.splitlines():
        prefix = "\u2014 " + name + " "
        if not line.startswith(prefix):
            continue
        blob = base64.b64decode(line[len(prefix):])
        if blob[:4] != key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(blob[4:], body.encode())
            return body
        except InvalidSignature:
            fail("checkpoint signature does not verify")
    fail("checkpoint is not signed by the log's key")


def main():
    export, cp_file, incl_file, cons_file = sys.argv[1:5]
    entries = [json.loads(l) for l in open(export, encoding="utf-8") if l.strip()]
    prev = bytes(32)
    leaves = []
    for i, e in enumerate(entries):
        if e["seq"] != i + 1:
            fail(f"entry {i + 1} missing (found seq {e['seq']})")
        if bytes.fromhex(e["prev_hash"]) != prev:
            fail(f"entry {e['seq']}: previous-hash link broken")
        h = entry_hash(e, prev)
        if h.hex() != e["hash"]:
            fail(f"entry {e['seq']}: content does not match its hash")
        prev = h
        leaves.append(leaf(h))

    cp = json.load(open(cp_file, encoding="utf-8"))
    body = open_note(cp["checkpoint"], cp["verifier_key"])
    origin, size, root_b64 = body.splitlines()[:3]
    size = int(size)
    if origin != cp["origin"] or size != cp["tree_size"]:
        fail("checkpoint body disagrees with its JSON fields")
    if size > len(leaves):
        fail(f"checkpoint covers {size} entries, export has {len(leaves)}")
    if base64.b64decode(root_b64) != mth(leaves[:size]):
        fail(f"checkpoint root is not the root of the first {size} entries")

    incl = json.load(open(incl_file, encoding="utf-8"))
    n, idx = incl["tree_size"], incl["leaf_index"]
    proof = [bytes.fromhex(p) for p in incl["hashes"]]
    root_n = mth(leaves[:n])
    if bytes.fromhex(incl["root_hash"]) != root_n:
        fail("inclusion proof's root is not the root of the exported entries")
    if bytes.fromhex(incl["leaf_hash"]) != leaves[idx]:
        fail("inclusion proof's leaf hash is not the entry's")
    if proof != path(idx, leaves[:n]):
        fail("inclusion proof differs from the RFC 9162 audit path")
    if not verify_inclusion(idx, n, leaves[idx], proof, root_n):
        fail("inclusion proof does not verify")

    cons = json.load(open(cons_file, encoding="utf-8"))
    m, n = cons["from"], cons["to"]
    proof = [bytes.fromhex(p) for p in cons["hashes"]]
    r_m, r_n = mth(leaves[:m]), mth(leaves[:n])
    if bytes.fromhex(cons["from_root"]) != r_m or bytes.fromhex(cons["to_root"]) != r_n:
        fail("consistency proof's roots are not the roots of the exported entries")
    if proof != subproof(m, leaves[:n], True):
        fail("consistency proof differs from the RFC 9162 proof")
    if not verify_consistency(m, n, r_m, r_n, proof):
        fail("consistency proof does not verify")

    print(f"OK {len(leaves)} entries; checkpoint {size} signed and matching; "
          f"inclusion of {incl['seq']} in {incl['tree_size']} and consistency {m}->{n} verified")


if __name__ == "__main__":
    main()
