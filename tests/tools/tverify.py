#!/usr/bin/env python3
"""An independent verifier of dupla's disclosure log, written from
docs/transparency.md alone, with Python's standard library only (Ed25519
verification is RFC 8032 section 6's reference arithmetic, below).

    tverify.py selftest
    tverify.py receipt FILE --vkey VKEY
    tverify.py server --url URL --ca CA_FILE --vkey VKEY [--receipt FILE ...]

receipt: checks one receipt offline. server: fetches every signed
checkpoint and checks its signature and the consistency of each with the
next; checks every receipt given, offline and then against the newest
checkpoint (an inclusion proof for that size and a consistency proof from
the receipt's checkpoint). Exit status 0 when everything verifies, 1 with
a line saying what did not, 2 for a usage error.
"""
import argparse
import base64
import hashlib
import json
import ssl
import struct
import sys
import urllib.parse
import urllib.request


class Failed(Exception):
    pass


# ---- Ed25519 verification (RFC 8032 section 6) ----

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493


def _inv(x):
    return pow(x, P - 2, P)


D = -121665 * _inv(121666) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % P
    B = (a[1] + a[0]) * (b[1] + b[0]) % P
    C = 2 * a[3] * b[3] * D % P
    Dd = 2 * a[2] * b[2] % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * _inv(D * y * y + 1)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * _inv(5) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decompress(public)
    r = _decompress(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


# ---- encodings ----


def b64d(text, what):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except Exception:
        raise Failed(f"{what} is not base64")


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def leaf_hash(entry):
    return sha256(b"\x00", entry)


def node_hash(left, right):
    return sha256(b"\x01", left, right)


def decode_entry(b):
    """The canonical entry (docs section 2) as a dict; trailing bytes refused."""
    at = 0

    def take(n):
        nonlocal at
        if at + n > len(b):
            raise Failed("the entry ends early")
        v = b[at:at + n]
        at += n
        return v

    def u32():
        return struct.unpack(">I", take(4))[0]

    def i64():
        return struct.unpack(">q", take(8))[0]

    def s():
        return take(u32()).decode("utf-8")

    e = {}
    e["version"] = u32()
    if e["version"] not in (1, 2, 3):
        raise Failed(f"the entry's encoding version is {e['version']}, not 1, 2 or 3")
    e["seq"], e["time_ms"] = i64(), i64()
    for k in ("environment", "organisation", "system", "agreement"):
        e[k] = s()
    e["agreement_version"] = i64()
    for k in ("service", "request_id", "transaction_id"):
        e[k] = s()
    e["subjects"] = [(s(), s()) for _ in range(u32())]
    e["periods"] = [s() for _ in range(u32())]
    e["fields"] = [s() for _ in range(u32())]
    e["record_count"] = i64()
    e["outcome"], e["reason"] = s(), s()
    e["case_reference"], e["deliveries"], e["versions"] = "", [], []
    e["supplier"], e["on_behalf_of_se"] = "", ""
    if e["version"] >= 2:
        e["case_reference"] = s()
        e["deliveries"] = [s() for _ in range(u32())]
        for _ in range(u32()):
            d = u32()
            if d >= len(e["deliveries"]):
                raise Failed("a version names a delivery the entry does not list")
            e["versions"].append({"delivery": e["deliveries"][d], "kind": s(),
                                  "subject": s(), "period": s(), "version": i64()})
    if e["version"] == 3:
        e["supplier"], e["on_behalf_of_se"] = s(), s()
        if not e["supplier"] and not e["on_behalf_of_se"]:
            raise Failed("a version 3 entry names neither a supplier nor a company acted for")
    if at != len(b):
        raise Failed("the entry has trailing bytes")
    return e


# ---- keys and checkpoints (docs section 4) ----


def key_hash(name, pub):
    return sha256(name.encode("utf-8"), b"\n", b"\x01", pub)[:4]


def parse_vkey(text):
    parts = text.strip().split("+", 2)  # the key's base64 may hold '+'
    if len(parts) != 3:
        raise Failed("the verifier key is not <name>+<hash>+<key>")
    name, kh, key = parts
    key = b64d(key, "the verifier key")
    if len(key) != 33 or key[0] != 1:
        raise Failed("the verifier key is not an Ed25519 key")
    pub = key[1:]
    if key_hash(name, pub).hex() != kh:
        raise Failed("the verifier key's hash does not match it")
    return name, pub


def open_checkpoint(note, vkey):
    """(origin, size, root) of a checkpoint signed by vkey (name, pub)."""
    name, pub = vkey
    if not note.endswith("\n"):
        raise Failed("the checkpoint does not end with a newline")
    sep = note.find("\n\n")
    if sep < 0:
        raise Failed("the checkpoint has no signatures")
    body, sigs = note[:sep + 1], note[sep + 2:]
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise Failed("the checkpoint body is short")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        raise Failed("the checkpoint's size is not a decimal number")
    root = b64d(root, "the checkpoint's root")
    if len(root) != 32:
        raise Failed("the checkpoint's root is not 32 bytes")
    ok = False
    for line in sigs.split("\n")[:-1]:
        if not line.startswith("\u2014 "):
            raise Failed("a signature line is malformed")
        fields = line[2:].split(" ")
        if len(fields) != 2 or fields[0] != name:
            continue
        sig = b64d(fields[1], "a signature")
        if len(sig) != 68 or sig[:4] != key_hash(name, pub):
            continue
        if ed25519_verify(pub, body.encode("utf-8"), sig[4:]):
            ok = True
    if not ok:
        raise Failed(f"the checkpoint is not signed by {name}")
    if origin != name:
        raise Failed(f"the checkpoint's origin {origin} is not the key's name {name}")
    return origin, int(size), root


# ---- proofs (docs section 3) ----


def verify_inclusion(leaf, index, size, path, root):
    if index >= size:
        return False
    fn, sn, x = index, size - 1, leaf
    for c in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            x = node_hash(c, x)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            x = node_hash(x, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and x == root


def verify_consistency(m, n, r1, r2, proof):
    if m == 0:
        return not proof
    if m == n:
        return not proof and r1 == r2
    if m > n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [r1] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == r1 and sr == r2 and sn == 0


# ---- receipts (docs section 6) ----


def verify_receipt(r, vkey):
    """Returns (seq, tree size, root, entry dict)."""
    if r.get("format") != "dupla-receipt-1":
        raise Failed("not a dupla-receipt-1")
    seq, index, size = r.get("seq"), r.get("leaf_index"), r.get("tree_size")
    if not all(isinstance(v, int) for v in (seq, index, size)) or seq < 1 or index != seq - 1:
        raise Failed("the receipt's seq and leaf_index do not agree")
    entry = b64d(r.get("entry", ""), "the entry")
    e = decode_entry(entry)
    if e["seq"] != seq:
        raise Failed("the entry's seq is not the receipt's")
    _, csize, root = open_checkpoint(r.get("checkpoint", ""), vkey)
    if csize != size or seq > size:
        raise Failed("the checkpoint's tree size is not the receipt's, or does not cover it")
    path = [b64d(h, "a proof hash") for h in r.get("inclusion", [])]
    if not verify_inclusion(leaf_hash(entry), index, size, path, root):
        raise Failed(f"the inclusion proof of entry {seq} does not verify")
    return seq, size, root, e


# ---- the server ----


class Server:
    def __init__(self, url, ca):
        self.url = url.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=ca)

    def get(self, path, **query):
        q = ("?" + urllib.parse.urlencode(query)) if query else ""
        with urllib.request.urlopen(self.url + path + q, context=self.ctx, timeout=30) as f:
            body = f.read()
            ctype = f.headers.get("Content-Type", "")
        return json.loads(body) if ctype.startswith("application/json") else body.decode("utf-8")

    def checkpoints(self, vkey):
        out, after = [], 0
        while True:
            page = self.get("/transparency/checkpoints", after=after, limit=1000)
            for c in page["data"]:
                origin, size, root = open_checkpoint(c["note"], vkey)
                if size != c["size"]:
                    raise Failed(f"checkpoint {c['size']}: its note says size {size}")
                out.append((size, root))
            if page["next"] is None:
                return out
            after = page["next"]

    def consistency(self, m, n, r1, r2):
        p = self.get("/transparency/proof/consistency", **{"from": m, "to": n})
        proof = [b64d(h, "a proof hash") for h in p["hashes"]]
        if not verify_consistency(m, n, r1, r2, proof):
            raise Failed(f"the tree of size {n} does not extend the tree of size {m}")

    def inclusion(self, seq, size, leaf, root):
        p = self.get("/transparency/proof/inclusion", seq=seq, size=size)
        path = [b64d(h, "a proof hash") for h in p["hashes"]]
        if not verify_inclusion(leaf, seq - 1, size, path, root):
            raise Failed(f"entry {seq} is not in the tree of size {size}")


def selftest():
    # RFC 8032 section 7.1, test 1 (the empty message) and test 2
    pub = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b")
    if not ed25519_verify(pub, b"", sig):
        raise Failed("Ed25519: RFC 8032 test 1 does not verify")
    if ed25519_verify(pub, b"x", sig):
        raise Failed("Ed25519: a changed message verifies")
    # the canonical entry, every version (docs section 2)
    def st(t):
        return struct.pack(">I", len(t)) + t.encode("utf-8")
    v1 = (struct.pack(">Iqq", 1, 7, 1000) + st("test") + st("12345674") + st("sys") + st("a1")
          + struct.pack(">q", 2) + st("Aarsopgoerelse") + st("r") + st("t")
          + struct.pack(">I", 1) + st("cpr") + st("0101801234")
          + struct.pack(">I", 1) + st("2023") + struct.pack(">I", 1) + st("F")
          + struct.pack(">q", 1) + st("disclosed") + st(""))
    e = decode_entry(v1)
    if e["version"] != 1 or e["seq"] != 7 or e["subjects"] != [("cpr", "0101801234")]:
        raise Failed("a version 1 entry decodes wrong")
    v2 = (b"\x00\x00\x00\x02" + v1[4:] + st("SAG-1") + struct.pack(">I", 1) + st("L1")
          + struct.pack(">II", 1, 0) + st("cpr") + st("0101801234") + st("2023")
          + struct.pack(">q", 3))
    e = decode_entry(v2)
    if (e["case_reference"] != "SAG-1" or e["deliveries"] != ["L1"]
            or e["versions"] != [{"delivery": "L1", "kind": "cpr", "subject": "0101801234",
                                  "period": "2023", "version": 3}]):
        raise Failed("a version 2 entry decodes wrong")
    v3 = b"\x00\x00\x00\x03" + v2[4:] + st("30000005") + st("")
    e = decode_entry(v3)
    if e["supplier"] != "30000005" or e["on_behalf_of_se"] != "" or e["case_reference"] != "SAG-1":
        raise Failed("a version 3 entry decodes wrong")
    for bad in (v1 + b"\x00", v2[:-1], b"\x00\x00\x00\x03" + v1[4:],
                b"\x00\x00\x00\x03" + v2[4:] + st("") + st("")):
        try:
            decode_entry(bad)
        except Failed:
            continue
        raise Failed("a malformed entry decodes")
    pub2 = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    sig2 = bytes.fromhex(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
        "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    if not ed25519_verify(pub2, b"\x72", sig2):
        raise Failed("Ed25519: RFC 8032 test 2 does not verify")
    # the tree: every proof of small trees against a recursive MTH
    leaves = [leaf_hash(bytes([i])) for i in range(40)]

    def mth(d):
        if not d:
            return sha256(b"")
        if len(d) == 1:
            return d[0]
        k = 1
        while k * 2 < len(d):
            k *= 2
        return node_hash(mth(d[:k]), mth(d[k:]))

    def path(m, d):
        if len(d) <= 1:
            return []
        k = 1
        while k * 2 < len(d):
            k *= 2
        return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]

    def subproof(m, d, b):
        if m == len(d):
            return [] if b else [mth(d)]
        k = 1
        while k * 2 < len(d):
            k *= 2
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    for n in range(1, 41):
        for m in range(n):
            if not verify_inclusion(leaves[m], m, n, path(m, leaves[:n]), mth(leaves[:n])):
                raise Failed(f"inclusion {m} in {n}")
        for m in range(1, n):
            pr = subproof(m, leaves[:n], True)
            if not verify_consistency(m, n, mth(leaves[:m]), mth(leaves[:n]), pr):
                raise Failed(f"consistency {m} -> {n}")
            if len(pr) > 0:
                bad = [pr[0][:-1] + bytes([pr[0][-1] ^ 1])] + pr[1:]
                if verify_consistency(m, n, mth(leaves[:m]), mth(leaves[:n]), bad):
                    raise Failed(f"a changed consistency proof {m} -> {n} verifies")


def main(argv):
    ap = argparse.ArgumentParser(prog="tverify.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest")
    rp = sub.add_parser("receipt")
    rp.add_argument("file")
    rp.add_argument("--vkey", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--url", required=True)
    sp.add_argument("--ca", required=True)
    sp.add_argument("--vkey", required=True)
    sp.add_argument("--receipt", action="append", default=[])
    a = ap.parse_args(argv)
    try:
        if a.cmd == "selftest":
            selftest()
            print("selftest: ok")
            return 0
        vkey = parse_vkey(a.vkey)
        if a.cmd == "receipt":
            with open(a.file, encoding="utf-8") as f:
                seq, size, _, e = verify_receipt(json.load(f), vkey)
            case = f", case {e['case_reference']}" if e["case_reference"] else ""
            print(f"receipt of entry {seq} ({e['outcome']} to {e['organisation']}, "
                  f"{e['service']}{case}, {len(e['versions'])} versions of "
                  f"{len(e['deliveries'])} deliveries): in the signed tree of size {size}")
            return 0
        srv = Server(a.url, a.ca)
        cps = srv.checkpoints(vkey)
        if not cps:
            raise Failed("the server has no signed checkpoint")
        for (m, r1), (n, r2) in zip(cps, cps[1:]):
            srv.consistency(m, n, r1, r2)
        newest, nroot = cps[-1]
        latest = srv.get("/transparency/checkpoint")
        _, lsize, lroot = open_checkpoint(latest, vkey)
        if lsize < newest:
            raise Failed("the newest checkpoint is older than the history's")
        srv.consistency(newest, lsize, nroot, lroot)
        for path in a.receipt:
            with open(path, encoding="utf-8") as f:
                r = json.load(f)
            seq, size, root, _ = verify_receipt(r, vkey)
            srv.consistency(size, lsize, root, lroot)
            srv.inclusion(seq, lsize, leaf_hash(b64d(r["entry"], "the entry")), lroot)
        print(f"{len(cps)} checkpoints consistent up to size {lsize}; "
              f"{len(a.receipt)} receipts verified against it")
        return 0
    except Failed as e:
        print(f"FAILED: {e}")
        return 1
    except (OSError, ValueError, KeyError) as e:
        print(f"FAILED: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
