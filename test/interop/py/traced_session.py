#!/usr/bin/env python3
"""A scripted session of an original-contract client (python3-zeroc-ice) for the observability
test: login, two searches, a rename, one stream started and stopped. Only getCatalogService and
renameTile carry the request context {"iceflix-trace-id": TRACE}; every other call sends none.

  traced_session.py --main PROXY --user U --password P --trace TRACE --rename-to NAME --port N [--search TEXT]

TEXT (default "Test Pattern") must find the title to rename.

Prints one JSON line: {"searches": [[ids], [ids]], "renamed": ID, "sdp": bool, "token": T} (the token
so that the test can check no log holds it)
"""

import argparse
import hashlib
import json

from iceflix_peer import IceFlix, communicator


def main():
    parser = argparse.ArgumentParser()
    for name in ("main", "user", "password", "trace", "rename-to"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--search", default="Test Pattern")
    args = parser.parse_args()
    traced = {"iceflix-trace-id": args.trace}

    with communicator(invocation_timeout_ms=8000) as comm:
        main_prx = IceFlix.MainPrx.uncheckedCast(comm.stringToProxy(args.main))
        auth = main_prx.getAuthenticator()
        token = auth.refreshAuthorization(args.user, hashlib.sha256(args.password.encode("utf-8")).hexdigest())
        catalog = main_prx.getCatalogService(traced)
        searches = [list(catalog.getTilesByName(args.search, False)), list(catalog.getTilesByName("Colour", False))]
        media_id = searches[0][0]
        catalog.renameTile(media_id, args.rename_to, token, traced)
        tile = catalog.getTile(media_id)
        controller = tile.provider.getStream(media_id, token)
        sdp = controller.getSDP(token, args.port)
        controller.stop()
        print(json.dumps({"searches": searches, "renamed": media_id, "sdp": sdp.startswith("v=0"), "token": token}))


if __name__ == "__main__":
    main()
