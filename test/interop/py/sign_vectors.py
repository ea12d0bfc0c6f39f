"""Prints the signature contexts of fixed events (fixed secret, ts, nonce) as JSON, so the TS
test can compare both implementations byte for byte."""
import json
import sys

import Ice
from iceflix_sign import sign_context

secret = "00" * 16 + "ff" * 16
with Ice.initialize(sys.argv) as communicator:
    prx = communicator.stringToProxy("cat/égal-ü:tcp -h 127.0.0.1 -p 1")
    cases = {
        "announce": ("ServiceAvailability", "authenticationService", [prx, "id-1"]),
        "null-proxy": ("ServiceAvailability", "catalogService", [None, ""]),
        "media": ("MediaAnnouncements", "newMedia", ["ab" * 32, "Película 🎬.mp4", "prov"]),
        "seq": ("x", "op", [["a", "", "ñ"], True, False, -5, 2147483647]),
    }
    out = {}
    for name, (topic, op, args) in cases.items():
        out[name] = sign_context(secret, topic, op, args, now_ms=1700000000123, nonce="0123456789abcdef0123456789abcdef")
    print(json.dumps(out))
