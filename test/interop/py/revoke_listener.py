"""Subscribes to AuthenticationStatus and prints one JSON line per revoke event:
{"event": "revoke", "token": ..., "at": ms, "signed": bool}. Prints {"event": "ready"} first.
usage: revoke_listener.py TOPIC_MANAGER_PROXY
"""
import json
import sys
import time
import uuid

import Ice

from iceflix_peer import IceFlix, retrieve_or_create, topic_manager


class Listener(IceFlix.TokenRevocation):
    def revoke(self, authentication, current=None):
        signed = "iceflix-sig-mac" in current.ctx
        print(json.dumps({"event": "revoke", "token": authentication, "at": int(time.time() * 1000), "signed": signed}), flush=True)


with Ice.initialize(sys.argv) as communicator:
    adapter = communicator.createObjectAdapterWithEndpoints("Listener", "tcp -h 127.0.0.1")
    adapter.activate()
    prx = adapter.add(Listener(), Ice.stringToIdentity("listener-" + str(uuid.uuid4())))
    retrieve_or_create(topic_manager(communicator, sys.argv[1]), "AuthenticationStatus").subscribeAndGetPublisher({}, prx)
    print(json.dumps({"event": "ready"}), flush=True)
    communicator.waitForShutdown()
