"""An unmodified Python client using a whole IceFlix deployment through Main only.

usage: system_client.py MAIN_PROXY USER PASSWORD ROUNDS
Each round: Main.getAuthenticator -> refreshAuthorization; Main.getCatalogService ->
getTilesByName("", False) -> getTile(first id) -> provider.isAvailable(id); and the token is
checked on every Authenticator seen so far. An operation that fails is retried once (a replica
may have just died). Prints one JSON line: the authenticators and catalogs handed out in order,
how many operations needed the retry, how many failed after it, and whether every token was
valid on every Authenticator.
"""
import hashlib
import json
import os
import sys

import Ice

Ice.loadSlice(os.environ["ICEFLIX_SLICE_DIR"] + "iceflix.ice")
import IceFlix  # noqa: E402


def main():
    main_proxy, user, password, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    pw_hash = hashlib.sha256(password.encode("utf-8")).hexdigest()
    out = {"authenticators": [], "catalogs": [], "retried": 0, "failed": [], "tokensValidEverywhere": True, "titles": 0}
    seen_auth = {}
    with Ice.initialize(["--Ice.Default.InvocationTimeout=5000", "--Ice.Override.ConnectTimeout=2000"]) as communicator:
        main_prx = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(main_proxy))

        def attempt(name, fn):
            for i in range(2):
                try:
                    return fn()
                except Ice.Exception as e:
                    if i == 0:
                        out["retried"] += 1
                        continue
                    out["failed"].append({"op": name, "error": e.ice_id()})
                    return None

        for _ in range(rounds):
            auth = attempt("getAuthenticator", main_prx.getAuthenticator)
            if auth is None:
                continue
            out["authenticators"].append(Ice.identityToString(auth.ice_getIdentity()) + "@" + auth.ice_getEndpoints()[0].toString())
            # The first try uses the Authenticator just handed out; the retry asks Main again.
            first = [auth]
            token = attempt("refreshAuthorization", lambda: (first.pop() if first else main_prx.getAuthenticator()).refreshAuthorization(user, pw_hash))
            seen_auth[auth.ice_getEndpoints()[0].toString()] = auth
            if token:
                for a in list(seen_auth.values()):
                    try:
                        if not a.isAuthorized(token):
                            out["tokensValidEverywhere"] = False
                    except Ice.Exception:
                        pass  # a replica killed by the test
            catalog = attempt("getCatalogService", main_prx.getCatalogService)
            if catalog is None:
                continue
            out["catalogs"].append(catalog.ice_getEndpoints()[0].toString())
            first_catalog = [catalog]
            ids = attempt("getTilesByName", lambda: (first_catalog.pop() if first_catalog else main_prx.getCatalogService()).getTilesByName("", False))
            if ids:
                out["titles"] = len(ids)
                first_catalog = [catalog]
                tile = attempt("getTile", lambda: (first_catalog.pop() if first_catalog else main_prx.getCatalogService()).getTile(ids[0]))
                if tile is not None:
                    attempt("isAvailable", lambda: tile.provider.isAvailable(ids[0]))
    print(json.dumps(out))


main()
