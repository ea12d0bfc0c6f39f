#!/usr/bin/env python3
"""A fake IceFlix service that a StreamProvider learns from ServiceAvailability, for the streaming
integration test (python3-zeroc-ice, original contract only). Its announcements are signed with
the deployment secret (spec §7.1, iceflix_sign.py).

  streaming_peer.py --topic-manager PROXY --secret-file FILE --kind auth|catalog [--period S]

  --kind auth     an Authenticator: isAuthorized(t) == (t == "good"); refreshAuthorization -> "good"
  --kind catalog  a MediaCatalog that knows nothing (getTile -> TemporaryUnavailable)
  --period S      re-announce every S seconds (default: once)

Prints {"event": "ready", "kind", "id", "proxy"} and serves until SIGTERM/SIGINT.
"""

import argparse
import json
import uuid

import Ice

from iceflix_peer import IceFlix, announcer, communicator, read_secret, stop_event, topic_manager


class Authenticator(IceFlix.Authenticator):
    def refreshAuthorization(self, user, passwordHash, current=None):
        return "good"

    def isAuthorized(self, authentication, current=None):
        return authentication == "good"


class Catalog(IceFlix.MediaCatalog):
    def getTile(self, id, current=None):
        raise IceFlix.TemporaryUnavailable()

    def getTilesByName(self, name, exact, current=None):
        return []

    def getTilesByTags(self, tags, includeAllTags, current=None):
        return []

    def renameTile(self, id, name, authentication, current=None):
        raise IceFlix.Unauthorized()

    def addTags(self, id, tags, authentication, current=None):
        raise IceFlix.Unauthorized()

    def removeTags(self, id, tags, authentication, current=None):
        raise IceFlix.Unauthorized()


KINDS = {
    "auth": (Authenticator, IceFlix.AuthenticatorPrx, "authenticationService"),
    "catalog": (Catalog, IceFlix.MediaCatalogPrx, "catalogService"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic-manager", required=True)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--kind", choices=sorted(KINDS), default="auth")
    parser.add_argument("--period", type=float, default=0.0)
    args = parser.parse_args()
    secret_hex = read_secret(args.secret_file)

    servant_class, cast, operation = KINDS[args.kind]
    service_id = str(uuid.uuid4())
    comm = communicator()
    stop = stop_event()
    try:
        adapter = comm.createObjectAdapterWithEndpoints("PeerAdapter", "tcp -h 127.0.0.1 -p 0")
        proxy = cast.uncheckedCast(adapter.addWithUUID(servant_class()))
        adapter.activate()
        availability = announcer(topic_manager(comm, args.topic_manager), secret_hex)
        availability.publish(operation, proxy, service_id)
        print(json.dumps({"event": "ready", "kind": args.kind, "id": service_id, "proxy": comm.proxyToString(proxy)}), flush=True)
        while not stop.wait(args.period if args.period > 0 else 0.5):
            if args.period > 0:
                try:
                    availability.publish(operation, proxy, service_id)
                except Ice.Exception:
                    pass  # the broker may be restarting: next period
    finally:
        comm.destroy()


if __name__ == "__main__":
    main()
