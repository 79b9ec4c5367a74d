"""The store under a stream of data: ``python -m segmint.benchmarks.store [--contacts N] [--partitions P]``, and
its scaling: ``python -m segmint.benchmarks.store --scale --contacts N --partitions P [--keep K] [--plot PNG]``
(``scale``: P partitions of N contacts, evaluated one after another, K of them on disk at a time).

On the demo data of N contacts, 5% of every event type's events are held back and the rest saved as a partitioned
store (``SavedStore.create``). Then:

- **append**: the held-back events are appended in batches of 100k events (every event type's share in each),
  each acknowledged durably (delta files and the manifest fsynced): events per second, goal at least 1M;
- **evaluate with a delta**: the benchmark suite in one ``evaluate_many`` (compiled) on the store with that 5% delta,
  against the same store compacted: goal at most 1.3x. The first evaluation after the appends merges the deltas
  into the partitions (reported apart, as "merge");
- **refresh after an append**: the last ``REFRESH_APPENDS`` batches are appended one at a time after that first
  merge, each followed by the partitions of the new version (``parts()``, what an evaluation or a live refresh
  asks for first): the merge an append costs when the version before it was merged already (median);
- **compaction** of the store (with the merge of its deltas), against building it from Parquet and saving it
  (``Store.from_parquet`` + ``save``): goal at most 1x.

One run on whatever machine runs it; the numbers are printed and, with ``--json FILE``, written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

import segmint
from segmint.runtime.demo import demo_schema, generate, write_parquet
from segmint.runtime.store.parts import Partitions

from .suite import SUITE, batch_params

BATCH_EVENTS = 100_000
REFRESH_APPENDS = 3
DELTA_SHARE = 0.05
GOAL_APPEND_EVENTS_PER_SECOND = 1_000_000
GOAL_DELTA_RATIO = 1.3
GOAL_COMPACTION_RATIO = 1.0
ID_SPACING = 10**12  # the simulated partitions' ids apart (demo ids grow by 1-3 per contact from 1,000,001)


def held_back(tables: dict[str, pa.Table], seed: int) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Every table split into the base (95%) and the delta (5%, in its original order)."""
    rng = np.random.default_rng(seed)
    base, delta = {}, {}
    for name, table in tables.items():
        late = rng.random(table.num_rows) < DELTA_SHARE
        base[name] = table.filter(pa.array(~late))
        delta[name] = table.filter(pa.array(late))
    return base, delta


def batches(delta: dict[str, pa.Table]) -> list[dict[str, pa.Table]]:
    """The delta as appends of about ``BATCH_EVENTS`` events, each with every event type's share."""
    total = sum(t.num_rows for t in delta.values())
    count = max(1, round(total / BATCH_EVENTS))
    out = []
    for k in range(count):
        part = {}
        for name, table in delta.items():
            start, stop = table.num_rows * k // count, table.num_rows * (k + 1) // count
            if stop > start:
                part[name] = table.slice(start, stop - start)
        out.append(part)
    return out


def suite_seconds(store: segmint.Store, now, repeat: int) -> float:
    schema = store.schema
    segments = [segmint.compile(rule.text, schema) for rule in SUITE]
    params = batch_params()
    segmint.evaluate_many(segments, store, now=now, params=params, engine="compiled")  # compiles, warms
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        segmint.evaluate_many(segments, store, now=now, params=params, engine="compiled")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(contacts: int, partitions: int, repeat: int, seed: int, folder: Path, log=print) -> dict:
    log(f"generating {contacts:,} demo contacts")
    data = generate(contacts, seed=seed)
    base_events, delta = held_back(data.events, seed)
    store = segmint.Store.from_arrow(data.contacts, base_events, demo_schema())
    saved = segmint.SavedStore.create(folder / "store", store, partitions=partitions)
    del store
    results: dict = {"contacts": contacts, "partitions": partitions}

    appends = batches(delta)
    events = sum(t.num_rows for batch in appends for t in batch.values())
    log(f"appending {events:,} events in {len(appends)} batches")
    held = min(REFRESH_APPENDS, len(appends) - 1)
    bulk, refresh = appends[: len(appends) - held], appends[len(appends) - held:]
    started = time.perf_counter()
    for batch in bulk:
        saved.append(events=batch)
    seconds = time.perf_counter() - started

    started = time.perf_counter()
    saved.parts()
    results["merge_seconds"] = time.perf_counter() - started
    merges = []
    for batch in refresh:
        started = time.perf_counter()
        saved.append(events=batch)
        seconds += time.perf_counter() - started
        started = time.perf_counter()
        saved.parts()
        merges.append(time.perf_counter() - started)
    results["append"] = {"events": events, "batches": len(appends), "seconds": seconds,
                         "events_per_second": events / seconds}
    results["refresh_merge_seconds"] = merges
    with_delta = saved.snapshot()
    results["suite_with_delta_seconds"] = suite_seconds(with_delta, data.now, repeat)
    del with_delta

    started = time.perf_counter()
    saved.compact()
    results["compaction_seconds"] = time.perf_counter() - started
    compacted = segmint.SavedStore.open(folder / "store").snapshot()
    results["suite_compacted_seconds"] = suite_seconds(compacted, data.now, repeat)
    del compacted
    results["delta_ratio"] = results["suite_with_delta_seconds"] / results["suite_compacted_seconds"]

    log("writing Parquet and building from it")
    parquet = write_parquet(data, folder / "parquet")
    started = time.perf_counter()
    segmint.Store.from_parquet(parquet).save(folder / "rebuilt")
    results["build_from_parquet_seconds"] = time.perf_counter() - started
    # the merge is work a compaction of a store never evaluated would do too: the goal counts both
    merging = results["merge_seconds"] + sum(results["refresh_merge_seconds"])
    results["compaction_ratio"] = (merging + results["compaction_seconds"]) / results[
        "build_from_parquet_seconds"]
    results["goals"] = {
        "append >= 1M events/s": results["append"]["events_per_second"] >= GOAL_APPEND_EVENTS_PER_SECOND,
        "suite with 5% delta <= 1.3x compacted": results["delta_ratio"] <= GOAL_DELTA_RATIO,
        "compaction <= build from Parquet": results["compaction_ratio"] <= GOAL_COMPACTION_RATIO,
    }
    return results


def report(results: dict) -> str:
    a = results["append"]
    lines = [
        f"store benchmark: {results['contacts']:,} contacts, {results['partitions']} partitions",
        f"  append: {a['events']:,} events in {a['batches']} durable batches, {a['seconds']:.2f} s = "
        f"{a['events_per_second'] / 1e6:.2f}M events/s (goal >= 1M)",
        f"  first evaluation after the appends merges the deltas: {results['merge_seconds']:.2f} s",
        f"  then one append at a time, the first evaluation of each version merges its delta: "
        f"{statistics.median(results['refresh_merge_seconds'] or [0.0]):.3f} s (median of "
        f"{len(results['refresh_merge_seconds'])})",
        f"  suite with a 5% delta {results['suite_with_delta_seconds'] * 1e3:.1f} ms, compacted "
        f"{results['suite_compacted_seconds'] * 1e3:.1f} ms: {results['delta_ratio']:.2f}x (goal <= 1.3x)",
        f"  compaction {results['compaction_seconds']:.2f} s (with the merge "
        f"{results['merge_seconds'] + sum(results['refresh_merge_seconds']) + results['compaction_seconds']:.2f} s), "
        "build from Parquet and save "
        f"{results['build_from_parquet_seconds']:.2f} s: {results['compaction_ratio']:.2f}x (goal <= 1x)",
    ]
    lines += [f"  goal {'met' if met else 'MISSED'}: {name}" for name, met in results["goals"].items()]
    return "\n".join(lines)


def scale(partition_contacts: int, partitions: int, repeat: int, seed: int, folder: Path, log=print,
          keep: int = 1, together: bool = False) -> dict:
    """The suite over a simulated base of ``partitions`` partitions of ``partition_contacts`` contacts, evaluated one
    after another as one machine evaluates a saved store's partitions (runtime/engines/partitions.py), so the time
    for the first k partitions is the sum of theirs. One demo data set is generated (seed ``seed``) and built once;
    partition k is that store with its ids offset by ``k x ID_SPACING``, saved to its own folder (its own files, so
    the page cache holds it as it would distinct data; generating 5M contacts anew per partition would take
    minutes each), opened memory-mapped and evaluated (the suite in one ``evaluate_many``, compiled: a first
    evaluation, then the median of ``repeat``). Only the last ``keep`` partitions stay on disk, so a base larger than
    the disk (20 x 5M is about 66 GB) can be measured. Ranks are per partition here (on a saved store they are
    among all contacts: one more sort of a number per contact). With ``together`` (and ``keep`` at least
    ``partitions``) every step evaluates all the partitions so far in one ``evaluate_many`` instead, as a saved
    store's partitions are (the measurement of the previous session), and its time is the total.

    Per partition it records what could make time grow faster than the contacts: the first and the median
    evaluation, page faults (major: read from disk; minor) and bytes read from disk during the timed evaluations,
    the process's resident memory, and the machine's available memory and page cache."""
    schema = demo_schema()
    segments = [segmint.compile(rule.text, schema) for rule in SUITE]
    params = batch_params()
    log(f"generating {partition_contacts:,} contacts")
    data = generate(partition_contacts, seed=seed)
    now = data.now
    template = segmint.Store.from_arrow(data.contacts, data.events, schema)
    del data
    points, contacts, events, total, stores = [], 0, 0, 0.0, []
    for k in range(partitions):
        path = folder / f"part-{k}"
        started = time.perf_counter()
        offset = np.int64(k * ID_SPACING)
        segmint.Store(schema, np.asarray(template.ids) + offset, template.attributes, template.events).save(path)
        save_seconds = time.perf_counter() - started
        store = segmint.Store.open(path)
        stores = [*stores, store] if together else [store]
        parts = Partitions(schema, tuple(stores))
        started = time.perf_counter()
        segmint.evaluate_many(segments, parts, now=now, params=params, engine="compiled")
        first = time.perf_counter() - started
        before = _counters()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            segmint.evaluate_many(segments, parts, now=now, params=params, engine="compiled")
            times.append(time.perf_counter() - started)
        after = _counters()
        seconds = statistics.median(times)
        contacts, events = contacts + len(store), events + store.n_events
        seconds, total = (seconds - total, seconds) if together else (seconds, total + seconds)
        points.append({"partitions": k + 1, "contacts": contacts, "events": events, "seconds": total,
                       "partition_seconds": seconds, "first_seconds": first, "save_seconds": save_seconds,
                       **{name: after[name] - before[name] for name in ("major_faults", "minor_faults", "read_bytes")},
                       "rss_mb": after["rss_mb"], "max_rss_mb": after["max_rss_mb"],
                       "available_mb": after["available_mb"], "cached_mb": after["cached_mb"]})
        log(f"  partition {k + 1}: {seconds:.3f} s (first {first:.3f} s), {contacts:,} contacts in {total:.2f} s; "
            f"faults {points[-1]['major_faults']} major, read {points[-1]['read_bytes'] / 1e6:.0f} MB, rss "
            f"{after['rss_mb']:.0f} MB, available {after['available_mb']:.0f} MB")
        del store, parts
        if k >= keep:
            shutil.rmtree(folder / f"part-{k - keep}")
    contacts_axis = np.array([p["contacts"] for p in points], float)
    seconds_axis = np.array([p["seconds"] for p in points], float)
    slope, intercept = np.polyfit(contacts_axis, seconds_axis, 1) if len(points) > 1 else (
        seconds_axis[0] / contacts_axis[0], 0.0)
    fitted = slope * contacts_axis + intercept
    each = np.array([p["partition_seconds"] for p in points], float)
    return {"partition_contacts": partition_contacts, "partitions": partitions, "repeat": repeat, "keep": keep,
            "points": points, "seconds_per_million_contacts": slope * 1e6, "intercept_seconds": intercept,
            "largest_deviation_from_line": float(np.max(np.abs(seconds_axis - fitted) / fitted)),
            "partition_seconds_spread": float(each.max() / each.min()) if each.min() > 0 else float("nan"),
            "together": together}


def _counters() -> dict:
    """This process's page faults, bytes read from disk and memory; the machine's available memory and cache."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {"major_faults": usage.ru_majflt, "minor_faults": usage.ru_minflt, "max_rss_mb": usage.ru_maxrss / 1024,
           "read_bytes": 0, "rss_mb": 0.0, "available_mb": 0.0, "cached_mb": 0.0}
    with contextlib.suppress(OSError):
        io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        out["read_bytes"] = int(io["read_bytes"])
    with contextlib.suppress(OSError):
        out["rss_mb"] = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    with contextlib.suppress(OSError):
        memory = {line.split(":")[0]: int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()}
        out["available_mb"], out["cached_mb"] = memory["MemAvailable"] / 1024, memory["Cached"] / 1024
    return out


def scale_report(results: dict) -> str:
    lines = [f"scaling: the suite over {results['partitions']} partitions of {results['partition_contacts']:,} "
             f"contacts, {'all so far together at every step' if results.get('together') else 'one after another'} "
             f"(median of {results['repeat']}; {results['keep']} kept on disk at a time)",
             f"  {'contacts':>13} {'events':>14} {'total s':>8} {'part s':>7} {'first s':>7} {'maj.flt':>8} "
             f"{'read MB':>8} {'rss MB':>7} {'avail MB':>8}"]
    lines += [f"  {p['contacts']:>13,} {p['events']:>14,} {p['seconds']:>8.2f} {p['partition_seconds']:>7.3f} "
              f"{p['first_seconds']:>7.3f} {p['major_faults']:>8} {p['read_bytes'] / 1e6:>8.0f} {p['rss_mb']:>7.0f} "
              f"{p['available_mb']:>8.0f}" for p in results["points"]]
    lines.append(f"  fit: {results['seconds_per_million_contacts']:.3f} s per million contacts + "
                 f"{results['intercept_seconds']:.3f} s; largest deviation from the line "
                 f"{results['largest_deviation_from_line']:.0%}; slowest partition / fastest "
                 f"{results['partition_seconds_spread']:.2f}x")
    return "\n".join(lines)


def plot_scale(results: dict, path: Path) -> None:
    """Seconds against contacts, with the fitted line; beside it each partition's time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contacts = np.array([p["contacts"] for p in results["points"]], float)
    seconds = np.array([p["seconds"] for p in results["points"]], float)
    figure, (axes, each) = plt.subplots(1, 2, figsize=(11, 4))
    axes.plot(contacts / 1e6, seconds, "o", label="suite, partitions one after another")
    line = results["seconds_per_million_contacts"] * contacts / 1e6 + results["intercept_seconds"]
    axes.plot(contacts / 1e6, line, "-", label=f"{results['seconds_per_million_contacts']:.3f} s per million")
    axes.set_xlabel("contacts (millions)")
    axes.set_ylabel("seconds (sum of the partitions' medians)")
    axes.set_title(f"segmint: {results['partitions']} partitions of {results['partition_contacts']:,} contacts")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.legend()
    numbers = [p["partitions"] for p in results["points"]]
    each.bar(numbers, [p["partition_seconds"] for p in results["points"]], label="median")
    each.plot(numbers, [p["first_seconds"] for p in results["points"]], "k.", label="first evaluation")
    each.set_xlabel("partition")
    each.set_ylabel("seconds")
    each.set_title("each partition")
    each.set_ylim(bottom=0)
    each.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segmint.benchmarks.store", description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, help="where to write the stores (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write every number as JSON to FILE")
    parser.add_argument("--scale", action="store_true", help="measure scaling instead: the suite over 1, 2, ... "
                        "--partitions partitions of --contacts contacts each")
    parser.add_argument("--plot", type=Path, help="with --scale: the plot as a PNG")
    parser.add_argument("--keep", type=int, default=1, help="with --scale: partitions kept on disk at a time")
    parser.add_argument("--together", action="store_true", help="with --scale: evaluate all partitions so far at "
                        "every step (needs --keep at least --partitions)")
    args = parser.parse_args(argv)
    if args.scale:
        with tempfile.TemporaryDirectory(dir=args.folder) as folder:
            results = scale(args.contacts, args.partitions, args.repeat, args.seed, Path(folder),
                            log=lambda text: print(text, file=sys.stderr, flush=True), keep=args.keep,
                            together=args.together)
        print(scale_report(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        if args.plot:
            plot_scale(results, args.plot)
        return 0
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        results = run(args.contacts, args.partitions, args.repeat, args.seed, Path(folder),
                      log=lambda text: print(text, file=sys.stderr, flush=True))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
