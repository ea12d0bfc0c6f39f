#!/usr/bin/env python3
"""Listens to what StreamProviders publish, for the streaming integration test (python3-zeroc-ice,
original contract only).

  streaming_listener.py --topic-manager PROXY --secret-file FILE

Subscribes to MediaAnnouncements and ServiceAvailability, then prints one JSON line
{"event": "ready"} and one JSON line per event received:

  {"event": "newMedia", "id", "name", "providerId", "signature"}
  {"event": "mediaService" | "authenticationService" | "catalogService", "id", "proxy",
   "identity", "signature"}

where signature is "valid" (spec §7.1, checked with the deployment secret in FILE, read when the
event arrives), "invalid" or "unsigned". Unsubscribes and exits on SIGTERM/SIGINT.
"""

import argparse
import hashlib
import hmac
import json
import os
import threading

import Ice

from iceflix_peer import IceFlix, communicator, retrieve_or_create, stop_event, topic_manager
from iceflix_sign import INFO, hkdf_sha256, signed_message

OUT_LOCK = threading.Lock()


def emit(obj):
    with OUT_LOCK:
        print(json.dumps(obj), flush=True)


class SignatureCheck:
    def __init__(self, secret_file):
        self.secret_file = secret_file

    def __call__(self, topic, operation, args, current):
        ctx = current.ctx or {}
        if "iceflix-sig-mac" not in ctx and "iceflix-sig-v" not in ctx:
            return "unsigned"
        try:
            with open(self.secret_file) as f:
                key = hkdf_sha256(bytes.fromhex(f.read().strip()), INFO)
        except OSError:
            return "no-secret"
        if ctx.get("iceflix-sig-v") != "1":
            return "invalid"
        message = signed_message(topic, operation, ctx.get("iceflix-sig-ts", ""), ctx.get("iceflix-sig-nonce", ""), args)
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        return "valid" if hmac.compare_digest(expected, ctx.get("iceflix-sig-mac", "")) else "invalid"


class Announcements(IceFlix.StreamAnnounces):
    def __init__(self, check):
        self.check = check

    def newMedia(self, id, initialName, providerId, current=None):
        signature = self.check("MediaAnnouncements", "newMedia", [id, initialName, providerId], current)
        emit({"event": "newMedia", "id": id, "name": initialName, "providerId": providerId, "signature": signature})


class Availability(IceFlix.ServiceAvailability):
    def __init__(self, check):
        self.check = check

    def _record(self, operation, service, id, current):
        signature = self.check("ServiceAvailability", operation, [service, id], current)
        emit({
            "event": operation,
            "id": id,
            "proxy": str(service) if service else "",
            "identity": Ice.identityToString(service.ice_getIdentity()) if service else "",
            "signature": signature,
        })

    def catalogService(self, service, id, current=None):
        self._record("catalogService", service, id, current)

    def authenticationService(self, service, id, current=None):
        self._record("authenticationService", service, id, current)

    def mediaService(self, service, id, current=None):
        self._record("mediaService", service, id, current)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic-manager", required=True)
    parser.add_argument("--secret-file", required=True)
    args = parser.parse_args()

    comm = communicator()
    stop = stop_event()
    subscriptions = []
    try:
        check = SignatureCheck(args.secret_file)
        adapter = comm.createObjectAdapterWithEndpoints("ListenerAdapter", "tcp -h 127.0.0.1 -p 0")
        media = adapter.addWithUUID(Announcements(check))
        availability = adapter.addWithUUID(Availability(check))
        adapter.activate()
        tm = topic_manager(comm, args.topic_manager)
        for name, subscriber in (("MediaAnnouncements", media), ("ServiceAvailability", availability)):
            topic = retrieve_or_create(tm, name)
            topic.subscribeAndGetPublisher({}, subscriber)
            subscriptions.append((topic, subscriber))
        emit({"event": "ready", "pid": os.getpid()})
        while not stop.wait(0.5):
            pass
    finally:
        for topic, subscriber in subscriptions:
            try:
                topic.unsubscribe(subscriber)
            except Ice.Exception:
                pass
        comm.destroy()


if __name__ == "__main__":
    main()
