#!/usr/bin/env python3
"""A Python client that has only a locator (python3-zeroc-ice): resolves IceFlix's indirect
proxies through IceGrid and calls each one.

  locator_client.py --locator PROXY [--proxy TEXT]...

Each TEXT is an indirect proxy ("Main", "Authenticator@IceFlix.Authenticator",
"MediaCatalog@IceFlix.Catalog", "IceFlix.IceStorm/TopicManager", ...). The interface is taken from
the identity's name; one call of it is made:
  Main            getAuthenticator(), then isAuthorized("x") on the answer
  Authenticator   isAuthorized("x")
  MediaCatalog    getTilesByName("x", False)
  TopicManager    retrieveAll()
Prints one JSON line: {"results": [{"proxy", "endpoints": [...], "value" | "error"}, ...]}, where
endpoints are what the locator answered for it.
"""

import argparse
import json

import Ice

from iceflix_peer import IceFlix, IceStorm, communicator


def resolved_endpoints(prx):
    conn = prx.ice_getConnection()
    return [str(conn.getEndpoint())]


def call(comm, text):
    out = {"proxy": text}
    base = comm.stringToProxy(text).ice_locatorCacheTimeout(0)
    name = base.ice_getIdentity().name
    try:
        if name == "Main":
            auth = IceFlix.MainPrx.checkedCast(base).getAuthenticator()
            out["value"] = auth.isAuthorized("x")
        elif name == "Authenticator":
            out["value"] = IceFlix.AuthenticatorPrx.checkedCast(base).isAuthorized("x")
        elif name == "MediaCatalog":
            out["value"] = list(IceFlix.MediaCatalogPrx.checkedCast(base).getTilesByName("x", False))
        elif name == "TopicManager":
            out["value"] = sorted(IceStorm.TopicManagerPrx.checkedCast(base).retrieveAll().keys())
        else:
            out["error"] = "unknown identity " + name
            return out
        out["endpoints"] = resolved_endpoints(base)
    except Ice.Exception as e:
        out["error"] = type(e).__name__
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--locator", required=True)
    parser.add_argument("--proxy", action="append", default=[])
    args = parser.parse_args()
    with communicator(invocation_timeout_ms=8000) as comm:
        comm.setDefaultLocator(Ice.LocatorPrx.uncheckedCast(comm.stringToProxy(args.locator)))
        print(json.dumps({"results": [call(comm, p) for p in args.proxy]}))


if __name__ == "__main__":
    main()
