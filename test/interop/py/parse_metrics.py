#!/usr/bin/env python3
"""Parses /metrics pages with the Prometheus Python client's own parser (Debian
python3-prometheus-client), which raises on anything that is not the text format.

  parse_metrics.py URL...

Prints one JSON line: {URL: {family: {"type": T, "samples": [[name, labels, value], ...]}}}
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    out = {}
    for url in sys.argv[1:]:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode("utf-8")
        families = {}
        for family in text_string_to_metric_families(text):
            families[family.name] = {
                "type": family.type,
                "samples": [[s.name, s.labels, s.value] for s in family.samples],
            }
        out[url] = families
    print(json.dumps(out))


if __name__ == "__main__":
    main()
