"""Subscribes to AuthenticationStatus and prints one JSON line per revoke event:
{"event": "revoke", "token": ..., "at": ms, "signed": bool}. Prints {"event": "ready"} first.
usage: revoke_listener.py TOPIC_MANAGER_PROXY
"""
import json
import os
import sys
import time
import uuid

import Ice

Ice.loadSlice("-I" + Ice.getSliceDir() + " " + Ice.getSliceDir() + "/IceStorm/IceStorm.ice")
Ice.loadSlice(os.environ["ICEFLIX_SLICE_DIR"] + "iceflix.ice")
import IceFlix  # noqa: E402
import IceStorm  # noqa: E402


class Listener(IceFlix.TokenRevocation):
    def revoke(self, authentication, current=None):
        signed = "iceflix-sig-mac" in current.ctx
        print(json.dumps({"event": "revoke", "token": authentication, "at": int(time.time() * 1000), "signed": signed}), flush=True)


def topic(manager, name):
    try:
        return manager.retrieve(name)
    except IceStorm.NoSuchTopic:
        try:
            return manager.create(name)
        except IceStorm.TopicExists:
            return manager.retrieve(name)


with Ice.initialize(sys.argv) as communicator:
    adapter = communicator.createObjectAdapterWithEndpoints("Listener", "tcp -h 127.0.0.1")
    adapter.activate()
    prx = adapter.add(Listener(), Ice.stringToIdentity("listener-" + str(uuid.uuid4())))
    manager = IceStorm.TopicManagerPrx.checkedCast(communicator.stringToProxy(sys.argv[1]))
    topic(manager, "AuthenticationStatus").subscribeAndGetPublisher({}, prx)
    print(json.dumps({"event": "ready"}), flush=True)
    communicator.waitForShutdown()
