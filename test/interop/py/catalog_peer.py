#!/usr/bin/env python3
"""A fake IceFlix service for the catalog tests (python3-zeroc-ice, original contract).

  catalog_peer.py --kind provider|auth --topic-manager PROXY [--secret-file F] [--period S]
                  [--media ID=NAME ...] [--no-publish] [--id ID]

  --kind auth      an Authenticator: isAuthorized(t) is t == "good"; refreshAuthorization raises
                   Unauthorized.
  --kind provider  a StreamProvider serving --media: publishes newMedia(id, name, providerId) for
                   each at start (unless --no-publish) and again on every reannounceMedia() (each
                   call prints {"event":"reannounce"}); isAvailable(id) is id in media; getStream
                   raises WrongMediaId for unknown ids and Unauthorized otherwise.
  --secret-file F  sign every event (spec §7.1) with the hex secret in F; unsigned without it.
  --period S       re-announce on ServiceAvailability every S seconds (default 1).
  --id ID          announce this id instead of a fresh UUID.

Announces itself (with a fresh id unless --id), prints {"event":"ready","kind","id","proxy","pid"} and serves
until SIGTERM/SIGINT.
"""
import argparse
import json
import os
import threading
import uuid

import Ice

from iceflix_peer import IceFlix, Publisher, announcer, communicator, read_secret, stop_event, topic_manager


def emit(obj):
    print(json.dumps(obj), flush=True)


class Authenticator(IceFlix.Authenticator):
    def refreshAuthorization(self, user, passwordHash, current=None):
        raise IceFlix.Unauthorized()

    def isAuthorized(self, authentication, current=None):
        return authentication == "good"


class Provider(IceFlix.StreamProvider):
    def __init__(self, media, publish_all):
        self.media = media
        self.publish_all = publish_all

    def getStream(self, id, authentication, current=None):
        if id not in self.media:
            raise IceFlix.WrongMediaId(id)
        raise IceFlix.Unauthorized()

    def isAvailable(self, id, current=None):
        return id in self.media

    def reannounceMedia(self, current=None):
        emit({"event": "reannounce"})
        # Publish after replying, as a real provider with many files would.
        threading.Thread(target=self.publish_all, daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["provider", "auth"], required=True)
    parser.add_argument("--topic-manager", required=True)
    parser.add_argument("--secret-file", default=None)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--media", nargs="*", default=[])
    parser.add_argument("--no-publish", action="store_true")
    parser.add_argument("--id", default=None)
    args = parser.parse_args()

    secret = read_secret(args.secret_file) if args.secret_file else None
    media = dict(m.split("=", 1) for m in args.media)
    service_id = args.id or str(uuid.uuid4())
    comm = communicator()
    stop = stop_event()
    try:
        tm = topic_manager(comm, args.topic_manager)
        availability = announcer(tm, secret)
        announcements = Publisher(tm, "MediaAnnouncements", IceFlix.StreamAnnouncesPrx, secret)
        lock = threading.Lock()

        def publish_all():
            with lock:
                for media_id, name in media.items():
                    announcements.publish("newMedia", media_id, name, service_id)

        adapter = comm.createObjectAdapterWithEndpoints("PeerAdapter", "tcp -h 127.0.0.1 -p 0")
        if args.kind == "auth":
            proxy = IceFlix.AuthenticatorPrx.uncheckedCast(adapter.addWithUUID(Authenticator()))
            operation = "authenticationService"
        else:
            proxy = IceFlix.StreamProviderPrx.uncheckedCast(adapter.addWithUUID(Provider(media, publish_all)))
            operation = "mediaService"
        adapter.activate()
        availability.publish(operation, proxy, service_id)
        if args.kind == "provider" and not args.no_publish:
            publish_all()
        emit({"event": "ready", "kind": args.kind, "id": service_id, "proxy": comm.proxyToString(proxy), "pid": os.getpid()})
        while not stop.wait(args.period):
            try:
                availability.publish(operation, proxy, service_id)
            except Ice.Exception as e:  # broker away for a while: keep serving, retry next period
                emit({"event": "announce-failed", "error": type(e).__name__})
    finally:
        comm.destroy()


if __name__ == "__main__":
    main()
