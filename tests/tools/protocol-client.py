#!/usr/bin/env python3
"""A second client of dcrd, written from dcr-protocol(7) alone, to show the page is enough.

It shares no code with dcr: the protocol buffers, HPKE (RFC 9180), the
Oblivious HTTP framing (RFC 9458), the call signature and the RFC 9162
proofs are done here from the page, with the `cryptography` package for
the primitives (X25519, Ed25519, ECDSA, AES-GCM).

usage: protocol-client.py ENDPOINT MEASUREMENT IDENTITY_DIR COMMAND [ARGS...]
  list                          room.list: one room ID per line
  status ROOM [SIZE ROOT]       room.status, as the client that saw that head:
                                "code N", "message M", then "head SIZE ROOT"
  stop ROOM                     room.stop, as status
  stale ROOM SECONDS            room.status stamped SECONDS off: "code N"
  replay ROOM                   the same request twice: "code N" for each
"""
import base64
import hashlib
import hmac
import os
import struct
import sys
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Refused(Exception):
    pass


# ---- protocol buffers: varints, zigzag, length-delimited fields ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, value):
    """A field: bytes and str as length-delimited (wire type 2), int as varint (0); defaults left out."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"" if not value else varint(number << 3 | 2) + varint(len(value)) + value
    return b"" if not value else varint(number << 3) + varint(value & (2**64 - 1))


def parse(buf):
    """{field number: [values]}: bytes for wire type 2, int for varints."""
    out, i = {}, 0

    def read_varint():
        nonlocal i
        n = shift = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n

    while i < len(buf):
        key = read_varint()
        if key & 7 == 0:
            value = read_varint()
        elif key & 7 == 2:
            n = read_varint()
            value = bytes(buf[i:i + n])
            i += n
        else:
            raise Refused("unexpected wire type %d" % (key & 7))
        out.setdefault(key >> 3, []).append(value)
    return out


def one(fields, number, default=b""):
    return fields.get(number, [default])[-1]


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


# ---- HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM ----

def extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def expand(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def labeled_extract(suite, salt, label, ikm):
    return extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite, prk, label, info, length):
    return expand(prk, struct.pack(">H", length) + b"HPKE-v1" + suite + label + info, length)


KEM_SUITE = b"KEM" + struct.pack(">H", 0x0020)


def setup_base_s(pk_r, info, kdf_id, aead_id):
    sk_e = X25519PrivateKey.generate()
    enc = sk_e.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    dh = sk_e.exchange(X25519PublicKey.from_public_bytes(pk_r))
    eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    shared = labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", enc + pk_r, 32)
    suite = b"HPKE" + struct.pack(">HHH", 0x0020, kdf_id, aead_id)
    context = b"\x00" + labeled_extract(suite, b"", b"psk_id_hash", b"") + \
        labeled_extract(suite, b"", b"info_hash", info)
    secret = labeled_extract(suite, shared, b"secret", b"")
    nk = 32 if aead_id == 2 else 16
    key = labeled_expand(suite, secret, b"key", context, nk)
    base_nonce = labeled_expand(suite, secret, b"base_nonce", context, 12)
    exporter = labeled_expand(suite, secret, b"exp", context, 32)
    return enc, key, base_nonce, exporter, suite, nk


# ---- the evidence ----

def attest(endpoint, measurement):
    with urllib.request.urlopen(endpoint + "/v1/evidence") as r:
        assert r.headers["Content-Type"] == "application/x-protobuf", r.headers["Content-Type"]
        ev = parse(r.read())
    if one(ev, 1).decode() != "sim":
        raise Refused("this client verifies sim evidence only")
    hpke_pk, sign_pk, config = one(ev, 4), one(ev, 5), one(ev, 6)
    quote = parse(one(ev, 2))
    report = one(quote, 1)
    Ed25519PublicKey.from_public_bytes(one(quote, 2)).verify(one(quote, 3), b"dcr-sim-report-v1\x00" + report)
    rep = parse(report)
    if one(rep, 1) != measurement:
        raise Refused("measurement %s is not pinned" % one(rep, 1).hex())
    want = hashlib.sha256(b"dcr-enclave-keys-v1\x00" + hpke_pk + sign_pk + config).digest() + bytes(32)
    if one(rep, 2) != want:
        raise Refused("the report data does not bind the keys")
    # The key configuration: key ID, KEM, the attested key, then the pairs.
    key_id, kem_id = config[0], struct.unpack(">H", config[1:3])[0]
    if kem_id != 0x0020 or config[3:35] != hpke_pk:
        raise Refused("the key configuration is not for the attested key")
    n = struct.unpack(">H", config[35:37])[0]
    if n == 0 or n % 4 or 37 + n != len(config):
        raise Refused("malformed key configuration")
    pairs = [struct.unpack(">HH", config[37 + i:41 + i]) for i in range(0, n, 4)]
    kdf_id, aead_id = next(p for p in pairs if p[0] == 1 and p[1] in (1, 2))
    return {"key_id": key_id, "kdf": kdf_id, "aead": aead_id, "hpke_pk": hpke_pk, "sign_pk": sign_pk}


# ---- the identity ----

def load_identity(directory):
    key = serialization.load_pem_private_key(open(os.path.join(directory, "key.pem"), "rb").read(), None)
    pem = open(os.path.join(directory, "cert.pem")).read()
    chain = []
    for block in pem.split("-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split("-----END CERTIFICATE-----")[0]
        chain.append(base64.b64decode("".join(body.split())))
    return key, chain


# ---- a call ----

def seal(enclave, key, chain, method, body, room="", known=0, skew_ms=0):
    call = b"".join(field(1, cert) for cert in chain)
    call += field(2, hashlib.sha256(enclave["hpke_pk"]).digest())
    call += field(3, int(time.time() * 1000) + skew_ms)
    call += field(4, os.urandom(16))
    call += field(5, method) + field(6, body) + field(7, room) + field(8, known)
    signature = key.sign(b"dcr-call-v1\x00" + call, ec.ECDSA(hashes.SHA256()))
    signed = field(1, call) + field(2, signature)
    hdr = bytes([enclave["key_id"]]) + struct.pack(">HHH", 0x0020, enclave["kdf"], enclave["aead"])
    enc, k, nonce, exporter, suite, nk = setup_base_s(enclave["hpke_pk"], b"message/dcr-call request\x00" + hdr,
                                                      enclave["kdf"], enclave["aead"])
    request = hdr + enc + AESGCM(k).encrypt(nonce, signed, b"")  # sequence number 0
    secret = labeled_expand(suite, exporter, b"sec", b"message/dcr-call response", nk)
    return request, (enc, secret, nk)


def post(endpoint, request):
    req = urllib.request.Request(endpoint + "/v1/call", data=request, method="POST",
                                 headers={"Content-Type": "message/ohttp-req"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Type"] == "message/ohttp-res", r.headers["Content-Type"]
        return r.read()


def open_result(state, response):
    enc, secret, nk = state
    response_nonce = response[:max(12, nk)]
    prk = extract(enc + response_nonce, secret)
    aead_key, aead_nonce = expand(prk, b"key", nk), expand(prk, b"nonce", 12)
    return parse(AESGCM(aead_key).decrypt(aead_nonce, response[len(response_nonce):], b""))


# ---- tree heads and RFC 9162 consistency proofs ----

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def consistent(m, n, old_root, new_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if m == n:
        return not proof and old_root == new_root
    if m == 0 or m > n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def check_head(enclave, room, result, known=None):
    heads = result.get(4)
    if not heads:
        return None
    sth = parse(heads[-1])
    head_bytes, signature = one(sth, 1), one(sth, 2)
    Ed25519PublicKey.from_public_bytes(enclave["sign_pk"]).verify(signature, b"dcr-tree-head-v1\x00" + head_bytes)
    head = parse(head_bytes)
    if one(head, 1).decode() != room:
        raise Refused("a tree head for another room")
    size, root = one(head, 2, 0), one(head, 3)
    if known and not consistent(known[0], size, known[1], root, result.get(5, [])):
        raise Refused("the log does not extend the one seen before")
    return size, root


def main():
    endpoint, measurement, identity, command = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4]
    args = sys.argv[5:]
    enclave = attest(endpoint, measurement)
    key, chain = load_identity(identity)
    if command == "list":
        request, state = seal(enclave, key, chain, "room.list", b"")
        result = open_result(state, post(endpoint, request))
        print("code", zigzag(one(result, 1, 0)))
        for summary in parse(one(result, 3)).get(1, []):
            print(one(parse(summary), 1).decode())
        return
    room = args[0]
    body = field(1, room)
    if command in ("status", "stop"):
        known = None
        if len(args) > 1:
            known = (int(args[1]), bytes.fromhex(args[2]))
        method = "room.stop" if command == "stop" else "room.status"
        request, state = seal(enclave, key, chain, method, body, room, known[0] if known else 0)
        result = open_result(state, post(endpoint, request))
        print("code", zigzag(one(result, 1, 0)))
        print("message", one(result, 2).decode())
        head = check_head(enclave, room, result, known)
        if head:
            print("head", head[0], head[1].hex())
    elif command == "stale":
        request, state = seal(enclave, key, chain, "room.status", body, room, 0, int(args[1]) * 1000)
        print("code", zigzag(one(open_result(state, post(endpoint, request)), 1, 0)))
    elif command == "replay":
        request, state = seal(enclave, key, chain, "room.status", body, room)
        for _ in range(2):
            # The same bytes twice; each answer is under the request's own context.
            print("code", zigzag(one(open_result(state, post(endpoint, request)), 1, 0)))


if __name__ == "__main__":
    try:
        main()
    except (Refused, urllib.error.HTTPError) as e:
        print("refused:", e, file=sys.stderr)
        sys.exit(1)
