"""Publishes one IceFlix event through IceStorm, signed (§7.1) when a secret file is given.

usage: event_publisher.py TOPIC_MANAGER_PROXY TOPIC [--secret-file F] [--stale] OPERATION ARGS...
  revoke TOKEN
  newMedia ID NAME PROVIDER_ID
  authenticationService|catalogService|mediaService PROXY ID
Prints {"published": true}.
"""
import json
import sys

import Ice

from iceflix_peer import IceFlix, retrieve_or_create, topic_manager
from iceflix_sign import sign_context


def main():
    argv = sys.argv[1:]
    secret = None
    stale = False
    if "--secret-file" in argv:
        i = argv.index("--secret-file")
        secret = open(argv[i + 1]).read().strip()
        del argv[i:i + 2]
    if "--stale" in argv:
        argv.remove("--stale")
        stale = True
    tm, topic_name, operation, args = argv[0], argv[1], argv[2], argv[3:]
    with Ice.initialize() as communicator:
        publisher = retrieve_or_create(topic_manager(communicator, tm), topic_name).getPublisher()
        if operation == "revoke":
            typed, call_args = IceFlix.TokenRevocationPrx.uncheckedCast(publisher), [args[0]]
        elif operation == "newMedia":
            typed, call_args = IceFlix.StreamAnnouncesPrx.uncheckedCast(publisher), args[:3]
        else:
            typed = IceFlix.ServiceAvailabilityPrx.uncheckedCast(publisher)
            cast = {"authenticationService": IceFlix.AuthenticatorPrx, "catalogService": IceFlix.MediaCatalogPrx,
                    "mediaService": IceFlix.StreamProviderPrx}[operation]
            call_args = [cast.uncheckedCast(communicator.stringToProxy(args[0])), args[1]]
        ctx = {}
        if secret:
            import time
            now = int(time.time() * 1000) - (600000 if stale else 0)
            ctx = sign_context(secret, topic_name, operation, call_args, now_ms=now)
        getattr(typed, operation)(*call_args, context=ctx)
    print(json.dumps({"published": True}))


main()
