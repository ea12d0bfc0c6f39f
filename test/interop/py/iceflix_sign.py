"""Event signature v1 (IceFlix spec §7.1), written from the spec alone, for Python peers.

sign_context(secret_hex, topic, operation, args) -> dict to pass as the Ice request context.
Arguments are given in contract order as Python values: str, bool, int, an Ice proxy (or None
for a null proxy), or a list of these.
"""
import hashlib
import hmac
import os
import time

import Ice

INFO = b"iceflix events v1"


def hkdf_sha256(secret: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(b"", secret, hashlib.sha256).digest()  # empty salt
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def _arg_lines(arg, out):
    if isinstance(arg, bool):
        out.append("true" if arg else "false")
    elif isinstance(arg, int):
        out.append(str(arg))
    elif isinstance(arg, str):
        out.append("%d:%s" % (len(arg.encode("utf-8")), arg))
    elif arg is None:
        out.append("proxy:")
    elif isinstance(arg, (list, tuple)):
        out.append(str(len(arg)))
        for a in arg:
            _arg_lines(a, out)
    else:  # an Ice proxy
        out.append("proxy:" + Ice.identityToString(arg.ice_getIdentity()))


def signed_message(topic, operation, ts, nonce, args) -> bytes:
    lines = ["v1", topic, operation, ts, nonce]
    for a in args:
        _arg_lines(a, lines)
    return "\n".join(lines).encode("utf-8")


def sign_context(secret_hex, topic, operation, args, now_ms=None, nonce=None):
    key = hkdf_sha256(bytes.fromhex(secret_hex.strip()), INFO)
    ts = str(int(time.time() * 1000) if now_ms is None else now_ms)
    nonce = nonce or os.urandom(16).hex()
    mac = hmac.new(key, signed_message(topic, operation, ts, nonce, args), hashlib.sha256).hexdigest()
    return {"iceflix-sig-v": "1", "iceflix-sig-ts": ts, "iceflix-sig-nonce": nonce, "iceflix-sig-mac": mac}
