#!/usr/bin/env python3
"""A Python client of IceFlix::Main for interop tests (python3-zeroc-ice).

  main_client.py --main PROXY [--getter auth|catalog] [--count K] [--list-instances]

Calls getAuthenticator() (or getCatalogService()) K times, one after the other, and for each call
uses what it got: an Authenticator's refreshAuthorization("x", "y"), a MediaCatalog's
getTilesByName("x", False)[0]. Prints one JSON line:

  {"results": [{"proxy": "...", "value": "py-a"}
               | {"error": "TemporaryUnavailable"}                      (from Main)
               | {"proxy": "...", "error": "ConnectionRefusedException", "stage": "use"}, ...],
   "instances": [{"kind", "id", "proxy", "lastSeen", "healthy"}, ...]}   (with --list-instances,
                                                                         through IceFlixExt::MainExt)
"""

import argparse
import json

import Ice

from iceflix_peer import IceFlix, communicator, load_ext


def call_getter(main, getter):
    try:
        if getter == "auth":
            prx = main.getAuthenticator()
        else:
            prx = main.getCatalogService()
    except Ice.Exception as e:
        return {"error": type(e).__name__}
    if prx is None:
        return {"error": "null proxy"}
    out = {"proxy": str(prx)}
    try:
        if getter == "auth":
            out["value"] = prx.refreshAuthorization("x", "y")
        else:
            out["value"] = prx.getTilesByName("x", False)[0]
    except Ice.Exception as e:
        out["error"] = type(e).__name__
        out["stage"] = "use"
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--main", required=True)
    parser.add_argument("--getter", choices=["auth", "catalog"], default="auth")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--list-instances", action="store_true")
    args = parser.parse_args()

    with communicator(invocation_timeout_ms=8000) as comm:
        base = comm.stringToProxy(args.main)
        main_prx = IceFlix.MainPrx.uncheckedCast(base)
        output = {"results": [call_getter(main_prx, args.getter) for _ in range(args.count)]}
        if args.list_instances:
            ext = load_ext()
            main_ext = ext.MainExtPrx.checkedCast(base)
            output["instances"] = [
                {
                    "kind": i.kind,
                    "id": i.id,
                    "proxy": str(i.proxy) if i.proxy else "",
                    "lastSeen": i.lastSeen,
                    "healthy": i.healthy,
                }
                for i in main_ext.listInstances()
            ]
        print(json.dumps(output), flush=True)


if __name__ == "__main__":
    main()
