#!/usr/bin/env python3
"""Publishes one newMedia(id, name, providerId) on MediaAnnouncements, signed with the hex secret
in --secret-file (spec §7.1) or unsigned without it. Prints {"published": true}.

  catalog_publish.py --topic-manager PROXY --id ID --name NAME --provider-id PID [--secret-file F]
"""
import argparse
import json

from iceflix_peer import IceFlix, Publisher, communicator, read_secret, topic_manager


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic-manager", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--provider-id", required=True)
    parser.add_argument("--secret-file", default=None)
    args = parser.parse_args()
    comm = communicator()
    try:
        secret = read_secret(args.secret_file) if args.secret_file else None
        publisher = Publisher(topic_manager(comm, args.topic_manager), "MediaAnnouncements", IceFlix.StreamAnnouncesPrx, secret)
        publisher.publish("newMedia", args.id, args.name, args.provider_id)
        print(json.dumps({"published": True}), flush=True)
    finally:
        comm.destroy()


if __name__ == "__main__":
    main()
