"""First answers in a fresh process: what a user waits for when a rule is new, and when its kernel is cached.

Run by the benchmark in a subprocess (never imported by it), so nothing compiled or loaded by the benchmark itself
helps: ``python -m segmint.benchmarks.cold STORE NOW (--cold | --cached)`` with ``SEGMINT_KERNEL_CACHE`` set by the
caller (an empty folder for ``--cold``, the same folder, now filled, for ``--cached``). It prints one JSON object.

The store is a saved one, opened with ``Store.open`` and read through once before any clock starts: opening is timed
by the benchmark itself, and a service answering rules has its store open already. (Without the read, a first
evaluation also pays the mapping of the memory-mapped pages it touches, ~1 s for a rule that reads the 477 MB of
e-mail open times at 5M contacts, which would be counted as getting its kernel.)

``--cold``, per rule: ``first`` = compile the rule + its first evaluation with the default engine (``auto`` may
answer with the vector engine while the fused kernel compiles in the background; ``engine`` says who answered), then
``fused`` = the time until the fused kernel has answered once (``engine="compiled"``: it waits for a background
compilation, or compiles), from the same start. Each rule waits for its own kernel before the next starts, so a
rule's first answer never competes with the compilation of the previous rule's kernel. (Why not time
``compiled.load``: it returns Numba's dispatcher, which compiles, or reads Numba's cache, at its first call.)

``--cached``, per rule: ``first`` = the first evaluation (default engine; the kernel comes from the disk cache), and
``kernel`` = that minus a second, warm evaluation: the time spent getting the cached kernel (code generation,
import, Numba's cache load).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import segmint

from .suite import SUITE


def cold(store: segmint.Store, now: str) -> list[dict]:
    rows = []
    for rule in SUITE:
        params = dict(rule.params) or None
        started = time.perf_counter()
        segment = segmint.compile(rule.text, store.schema)
        result = segment.evaluate(store, now=now, params=params)
        answered = time.perf_counter()
        segment.evaluate(store, now=now, params=params, engine="compiled")
        fused = time.perf_counter()
        rows.append(
            {
                "rule": rule.name,
                "first": answered - started,
                "engine": getattr(result, "engine", "compiled"),
                "fused": fused - started,
                "count": result.count,
            }
        )
    return rows


def cached(store: segmint.Store, now: str) -> list[dict]:
    rows = []
    for rule in SUITE:
        params = dict(rule.params) or None
        segment = segmint.compile(rule.text, store.schema)
        started = time.perf_counter()
        result = segment.evaluate(store, now=now, params=params)
        first = time.perf_counter()
        segment.evaluate(store, now=now, params=params)
        second = time.perf_counter()
        rows.append(
            {
                "rule": rule.name,
                "kernel": max((first - started) - (second - first), 0.0),
                "first": first - started,
                "engine": getattr(result, "engine", "compiled"),
                "count": result.count,
            }
        )
    return rows


def _touch(store: segmint.Store) -> None:
    """Read one byte of every page of the store's arrays (maps them into this process)."""
    arrays = [store.ids]
    for column in store.attributes.values():
        arrays += [column.values, column.valid, column.offsets]
    for table in store.events.values():
        arrays += [table.offsets, table.ts, table.last_ts]
        for column in table.properties.values():
            arrays += [column.values, column.valid]
    for array in arrays:
        if array is not None and array.dtype != object and array.size:
            flat = array.reshape(-1).view(np.uint8)
            int(flat[:: 4096].sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segmint.benchmarks.cold", description=__doc__.split("\n")[0])
    parser.add_argument("store", help="a saved store (Store.save)")
    parser.add_argument("now", help="evaluation time, ISO 8601")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cold", action="store_true", help="compile + first answer, then the fused kernel's")
    mode.add_argument("--cached", action="store_true", help="first answers with the kernels cached")
    args = parser.parse_args(argv)
    store = segmint.Store.open(args.store)
    _touch(store)
    rows = cold(store, args.now) if args.cold else cached(store, args.now)
    json.dump({"rules": rows}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
