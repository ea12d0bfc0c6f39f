#!/usr/bin/env python3
"""A Python IceFlix service peer for interop tests (python3-zeroc-ice, original contract only).

Hosts one trivial servant on its own adapter (tcp -h 127.0.0.1 -p 0), announces it on the
ServiceAvailability topic through IceStorm with a fresh id, optionally re-announces it every
--period seconds, prints one JSON line {"event":"ready","kind":...,"id":...,"proxy":...} on stdout
and serves until it is killed (SIGTERM/SIGINT stop it cleanly).

  auth_peer.py --topic-manager PROXY --name NAME [--kind auth|catalog] [--id ID]
               [--period SECONDS] [--burst N] [--context JSON] [--oneway]

  --kind auth     an Authenticator: isAuthorized -> True, refreshAuthorization -> "py-<name>"
  --kind catalog  a MediaCatalog: getTilesByName / getTilesByTags -> ["py-<name>"],
                  getTile -> TemporaryUnavailable, edits accepted and ignored
  --id ID         announce this id instead of a fresh UUID (to announce a duplicate)
  --period S      re-announce every S seconds (default: announce once)
  --burst N       announce N times at start (default 1)
  --context JSON  request context (a JSON object of strings) sent with every publish call
  --oneway        publish oneway (default: twoway, so a broker failure is seen)
  --secret-file F sign announcements (spec §7.1) with the deployment secret in F
"""

import argparse
import json
import os
import uuid

import Ice

from iceflix_peer import IceFlix, announcer, communicator, read_secret, stop_event, topic_manager


class Authenticator(IceFlix.Authenticator):
    def __init__(self, name):
        self.name = name

    def refreshAuthorization(self, user, passwordHash, current=None):
        return "py-" + self.name

    def isAuthorized(self, authentication, current=None):
        return True


class Catalog(IceFlix.MediaCatalog):
    def __init__(self, name):
        self.name = name

    def getTile(self, id, current=None):
        raise IceFlix.TemporaryUnavailable()

    def getTilesByName(self, name, exact, current=None):
        return ["py-" + self.name]

    def getTilesByTags(self, tags, includeAllTags, current=None):
        return ["py-" + self.name]

    def renameTile(self, id, name, authentication, current=None):
        pass

    def addTags(self, id, tags, authentication, current=None):
        pass

    def removeTags(self, id, tags, authentication, current=None):
        pass


KINDS = {
    # kind: (servant class, proxy cast, ServiceAvailability operation)
    "auth": (Authenticator, IceFlix.AuthenticatorPrx, "authenticationService"),
    "catalog": (Catalog, IceFlix.MediaCatalogPrx, "catalogService"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic-manager", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--kind", choices=sorted(KINDS), default="auth")
    parser.add_argument("--id", default=None)
    parser.add_argument("--period", type=float, default=0.0)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--context", default=None)
    parser.add_argument("--oneway", action="store_true")
    parser.add_argument("--secret-file", default=None, help="sign announcements (spec §7.1) with this deployment secret")
    args = parser.parse_args()
    secret = read_secret(args.secret_file) if args.secret_file else None

    static_context = json.loads(args.context) if args.context else None
    servant_class, cast, operation = KINDS[args.kind]
    service_id = args.id or str(uuid.uuid4())

    comm = communicator()
    stop = stop_event()
    try:
        adapter = comm.createObjectAdapterWithEndpoints("PeerAdapter", "tcp -h 127.0.0.1 -p 0")
        proxy = cast.uncheckedCast(adapter.addWithUUID(servant_class(args.name)))
        adapter.activate()
        availability = announcer(topic_manager(comm, args.topic_manager), secret, static_context, args.oneway)
        announcements = 0
        for _ in range(max(1, args.burst)):
            availability.publish(operation, proxy, service_id)
            announcements += 1

        print(json.dumps({
            "event": "ready",
            "kind": args.kind,
            "name": args.name,
            "id": service_id,
            "proxy": comm.proxyToString(proxy),
            "announcements": announcements,
            "pid": os.getpid(),
        }), flush=True)

        while not stop.wait(args.period if args.period > 0 else 0.5):
            if args.period > 0:
                try:
                    availability.publish(operation, proxy, service_id)
                except Ice.Exception as e:  # broker away for a while: keep serving, retry next period
                    print(json.dumps({"event": "announce-failed", "error": type(e).__name__}), flush=True)
    finally:
        comm.destroy()


if __name__ == "__main__":
    main()
