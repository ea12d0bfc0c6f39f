"""Drives an Authenticator from an unmodified Python client.

usage: auth_client.py PROXY COMMAND ARGS...
  login USER PASSWORD           -> {"token": ...} or {"error": "Unauthorized"}
  login-hash USER HASH          -> same, with the hash given verbatim
  check TOKEN                   -> {"valid": bool}
  check-many PROXY2 TOKEN       -> {"valid": [on PROXY, on PROXY2]}
Prints one JSON line.
"""
import hashlib
import json
import os
import sys

import Ice

Ice.loadSlice(os.environ["ICEFLIX_SLICE_DIR"] + "iceflix.ice")
import IceFlix  # noqa: E402


def main():
    proxy, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    with Ice.initialize(["--Ice.Default.InvocationTimeout=10000"]) as communicator:
        auth = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(proxy))
        try:
            if command in ("login", "login-hash"):
                user, secret = args
                h = hashlib.sha256(secret.encode("utf-8")).hexdigest() if command == "login" else secret
                out = {"token": auth.refreshAuthorization(user, h)}
            elif command == "check":
                out = {"valid": auth.isAuthorized(args[0])}
            elif command == "check-many":
                other = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(args[0]))
                out = {"valid": [auth.isAuthorized(args[1]), other.isAuthorized(args[1])]}
            else:
                out = {"usage": command}
        except IceFlix.Unauthorized:
            out = {"error": "Unauthorized"}
        except Ice.Exception as e:
            out = {"error": e.ice_id()}
    print(json.dumps(out))


main()
