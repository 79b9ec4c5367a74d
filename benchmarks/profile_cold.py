"""Condition counts for a rule never seen before, in a fresh process (issue 13: at most 0.5 s at 1M contacts).

``python -m segmint.benchmarks.profile_cold STORE NOW`` times ``Store.open`` of a saved store, reads the store
through once before any other clock starts (as benchmarks/cold.py does: a service has its store open), then for
each rule of ``RULES`` times ``segmint.compile`` + ``Segment.profile``: the first rule is the first of the process
(Store.open has started loading the vector engine's generic kernels in the background: runtime/engines/vector.py),
the others show the steady state of an editor's session. Prints one JSON object (seconds to open and per rule,
and the contacts each part holds for).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import segmint

from .cold import _touch

RULES = (
    "opened > 2 times within 90d and city = Kyiv and not bought within 30d",
    "viewed category = iPhones > 3 times within 21d and not bought category = iPhones within 21d or tags has vip",
    "(clicked within 30d or opened device = ios within 7d) and gender = f and sum(bought.amount within 365d) > 200",
    "percentile(sum(bought.amount within 365d)) >= 90 and opened within 30d and not email_subscribed = false",
    "rfm(bought.amount within 365d) in (555, 554, 545) or quintile(count(opened within 90d)) = 5 and city = Lviv",
)


def profiles(store: segmint.Store, now: str) -> list[dict]:
    rows = []
    for text in RULES:
        started = time.perf_counter()
        profile = segmint.compile(text, store.schema).profile(store, now=now)
        rows.append({"rule": text, "seconds": time.perf_counter() - started, "count": profile.rule.count,
                     "parts": _counts(profile.rule)})
    return rows


def _counts(part) -> list:
    return [part.count, [_counts(child) for child in part.children]] if part.children else [part.count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segmint.benchmarks.profile_cold",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("store", help="a saved store (Store.save)")
    parser.add_argument("now", help="evaluation time, ISO 8601")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    store = segmint.Store.open(args.store)
    opened = time.perf_counter() - started
    _touch(store)
    json.dump({"contacts": store.n_contacts, "open": opened, "rules": profiles(store, args.now)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
