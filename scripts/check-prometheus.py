#!/usr/bin/env python3
"""Parses a Prometheus text exposition with the reference client's parser and checks its metrics.

Usage: check-prometheus.py METRICS.txt NAME:TYPE [NAME:TYPE ...]

METRICS.txt is what an endpoint served (`keypoints train --metrics-port`'s /metrics). Each
NAME:TYPE (e.g. keypoints_step:gauge, keypoints_microbatches_reassigned:counter; prometheus_client
names a counter family without its _total) must be a family of that type with at least one sample,
every sample value a number. Prints the families; exits 1 naming what is wrong, 2 on bad usage.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    text = open(sys.argv[1]).read()
    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # noqa: BLE001 - a text the parser refuses is the finding
        print(f"check-prometheus: FAILED: the exposition does not parse: {e}", file=sys.stderr)
        sys.exit(1)
    problems = []
    for spec in sys.argv[2:]:
        name, kind = spec.split(":")
        family = families.get(name)
        if family is None:
            problems.append(f"no family {name} (have {sorted(families)})")
        elif family.type != kind:
            problems.append(f"{name} is a {family.type}, expected a {kind}")
        elif not family.samples or not all(isinstance(s.value, (int, float)) for s in family.samples):
            problems.append(f"{name} has no samples, or a sample that is not a number")
    if problems:
        print("check-prometheus: FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"check-prometheus: OK: {len(families)} families parsed, {len(sys.argv) - 2} checked: "
          + ", ".join(f"{n} {families[n].type}" for n in sorted(families)))


if __name__ == "__main__":
    main()
