"""Live refresh of a saved store of partitions: time per stage and peak memory, 1 partition against P.

``python -m segmint.benchmarks.live_parts --contacts 1000000 --partitions 4 --segments 200``: the demo data saved as
a store of 1 and of P partitions; each configuration runs in a process of its own (peak memory is a process's), with
the registry of ``segmint bench --live`` (its first ``--segments``), on the vector engine (no kernel compiles, which
would differ per partition shape), refreshed:

1. ``first`` at the demo's now (everyone enters), 2. ``same`` (nothing new), 3. ``later`` (a day later),
4. ``append``: after an append of a batch of new contacts and events (rows move in no partition; every partition's
   rows grow), 5. ``delete``: after deleting contacts (the rows of their partitions are translated by id),
6. ``compact``: after a compaction (same contents).

Configurations: ``1`` (one partition), ``P`` (P partitions, refreshed partition by partition), and ``P-laid`` (the P
partitions laid end to end as one store, ``SavedStore.snapshot()``: how a refresh took a saved store before).
Memory: the process's resident set before the first refresh (store opened, memory-mapped, untouched) and its peak
(``ru_maxrss``) after each refresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

CHILD = "--child"


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(folder: Path, registry_path: Path, segments: int, laid: bool, now: dt.datetime) -> dict:
    import segmint
    from segmint.benchmarks.live import registry_segments

    saved = segmint.SavedStore.open(folder)
    registry = segmint.Registry(registry_path, saved.schema)
    found, split = registry_segments(segments)
    names = {s.name for s in found}
    for s in found:
        registry.add(s.name, s.rule, params=s.params)
    for name in split:
        if name in names:
            registry.split(name, {"A": 45, "B": 45, "control": 10})
    result = {"rss_before_mb": _rss_mb(), "refreshes": {}}
    # sorted: the same contacts get the events and are deleted whatever the partitions' order
    ids = np.sort(np.asarray(saved.snapshot().ids if laid else np.concatenate(
        [saved.partition(k).ids for k in range(saved.partitions)])))
    if laid:
        result["rss_after_snapshot_mb"] = _rss_mb()

    def refresh(label: str, at: dt.datetime) -> None:
        store = saved.snapshot() if laid else saved
        started = time.perf_counter()
        report = registry.refresh(store, now=at, engine="vector")
        result["refreshes"][label] = {
            "seconds": round(time.perf_counter() - started, 3),
            "stages": {k: round(v, 3) for k, v in report.seconds.items()},
            "entered": sum(s.entered for s in report.segments), "left": sum(s.left for s in report.segments),
            "errors": sum(bool(s.error) for s in report.segments), "peak_mb": round(_peak_mb()),
        }

    refresh("first", now)
    refresh("same", now)
    refresh("later", now + dt.timedelta(days=1))
    start = int(ids.max()) + 1
    new = np.arange(start, start + 1000)
    contacts = pa.table({"contact_id": new})
    owners = np.concatenate([new, ids[:: max(1, len(ids) // 9000)][:9000]])
    at = now + dt.timedelta(days=1)
    opens = pa.table({"contact_id": owners, "timestamp": pa.array([at] * len(owners), pa.timestamp("us", "UTC"))})
    events = {"email_open": _with_fields(opens, saved.schema.events["email_open"].properties)}
    saved.append(events=events, contacts=_with_fields(contacts, saved.schema.attributes))
    refresh("append", at)
    saved.delete_contacts(ids[1::997][:1000].tolist())
    refresh("delete", at)
    saved.compact()
    refresh("compact", at)
    result["membership_bytes"] = registry.membership_bytes()
    registry.close()
    return result


def _with_fields(table: pa.Table, fields) -> pa.Table:
    """``table`` with a null column for each of ``fields`` (attributes or event properties)."""
    from segmint.runtime.store.batch import _ARROW_TYPES

    for name, field in fields.items():
        arrow_type = _ARROW_TYPES[field.type]
        table = table.append_column(pa.field(name, arrow_type), pa.nulls(len(table), arrow_type))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segmint.benchmarks.live_parts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration, alternating")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(CHILD, nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        folder, registry_path, segments, laid, now = args.child
        print(json.dumps(child(Path(folder), Path(registry_path), int(segments), laid == "1",
                               dt.datetime.fromisoformat(now))))
        return 0

    import segmint
    from segmint.runtime import demo

    data = demo.demo_dir(args.contacts, 7, Path.home() / ".cache" / "segmint")
    now = json.loads((data / "meta.json").read_text())["now"]
    results: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="segmint-live-parts-") as scratch:
        store = segmint.Store.from_parquet(data, demo.demo_schema())
        configurations = [("1", 1, False), (str(args.partitions), args.partitions, False),
                          (f"{args.partitions}-laid", args.partitions, True)]
        for _ in range(args.repeat):
            for label, count, laid in configurations:
                folder = Path(scratch) / f"store-{label}"  # anew for every run: the appends change it
                segmint.SavedStore.create(folder, store, partitions=count)
                registry_path = Path(scratch) / f"{label}.db"
                registry_path.unlink(missing_ok=True)
                command = [sys.executable, "-m", "segmint.benchmarks.live_parts", CHILD, str(folder),
                           str(registry_path), str(args.segments), "1" if laid else "0", now]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode:
                    raise SystemExit(f"{label}: {done.stderr}")
                output = done.stdout
                found = json.loads(output.splitlines()[-1])
                results.setdefault(label, []).append(found)
                print(label, json.dumps(found), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"contacts": args.contacts, "segments": args.segments,
                                         "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
