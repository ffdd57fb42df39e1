"""Parses Prometheus text exposition with Prometheus's own Python parser.

Usage: prometheus_parse.py FILE  →  prints one JSON object: {"families": {name: type}, "samples":
[[name, labels, value], ...]}. A text the parser refuses fails the script.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
families = {}
samples = []
for family in text_string_to_metric_families(text):
    families[family.name] = family.type
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print("AGNO_INTEROP_JSON " + json.dumps({"families": families, "samples": samples}))
