"""``segmint bench``: segmint (compiled and reference engines), DuckDB and Polars on the demo data, in one run.

Every engine answers every rule of benchmarks/suite.py, every answer is checked equal to segmint compiled's (as a
set of contact ids; a mismatch stops the run, naming the rule, the counts and a few differing ids), and the median
times and ratios are printed as a table, with the goals of issue #4 marked PASS or MISS.

The phases, in the order they run (each engine's data is freed before the next loads, so peak memory stays near one
engine's, and no two heavy things run at once on a shared machine):

1. data: the demo's Parquet folder for (contacts, seed), generated once and cached
   (runtime/demo/generator.py ``demo_dir``);
2. segmint: load the store from Parquet, save it and open it again (memory-mapped), count its bytes; per
   rule the compiled engine (a first run that compiles or loads the kernel, then ``repeat`` timed runs), the reference
   engine, the memory-traffic bound (benchmarks/bound.py); the whole suite in one ``evaluate_many``;
3. the Arrow size of the same data (pyarrow tables from the same files, what DuckDB and Polars start from);
4. DuckDB, then Polars: load, then per rule a first run (checked) and ``repeat`` timed runs;
5. first answers in fresh processes (benchmarks/cold.py): an empty kernel cache, then the filled one.

What is timed for one answer: from the rule's inputs to the numpy array of the matching contact ids, for every
engine (segmint: ``evaluate`` then ``Result.ids()``; DuckDB: ``execute().fetchnumpy()``; Polars: ``collect()`` and
the id column as numpy). Times are medians of warm runs: the first run of each rule is not timed (it compiles
segmint's kernel, warms DuckDB's and Polars' caches alike).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from rich.console import Console

import segmint
from segmint.compiler.types import iso_z
from segmint.runtime import demo
from segmint.runtime.store.columns import Store

from . import bound
from .peers import PEERS, parquet_files
from .record import ENGINES, Bench
from .report import report, to_json
from .suite import SUITE, Rule, batch_params

REFERENCE_REPEAT_ABOVE = 2_000_000  # the reference engine is slow: one timed run above this many contacts


class MismatchError(Exception):
    """An engine's answer differs from segmint compiled's: a bug in segmint or in a peer's query."""


@dataclass
class Options:
    contacts: int = 1_000_000
    repeat: int = 5
    engines: tuple[str, ...] = ENGINES
    seed: int = 7
    cache_dir: Path | None = None  # the demo data's folder (default: $SEGMINT_CACHE or ~/.cache/segmint)
    cold: bool = True  # run the fresh-process phase
    bandwidth_gib: float = 2.0  # the array benchmarks/bound.py streams to measure the read bandwidth
    scaling: tuple[int, ...] = ()
    plot: Path | None = None
    json_path: Path | None = None


# == one size ======================================================================================================


def bench_size(options: Options, contacts: int, log: Callable[[str], None], full: bool = True) -> Bench:
    """Run the suite on ``contacts`` demo contacts with every engine of ``options.engines``; ``full`` adds the
    phases beyond per-rule times (save/open, batch, bound, Arrow size, fresh processes)."""
    engines = ("compiled", *(e for e in options.engines if e != "compiled"))  # compiled is everyone's yardstick
    bench = Bench(contacts, repeat=options.repeat, engines=engines)

    log(f"data: demo_dir({contacts:,}) (generated on first use, then cached)")
    started = time.perf_counter()
    directory = demo.demo_dir(contacts, seed=options.seed, cache_dir=options.cache_dir, progress=True)
    bench.seconds["data"] = time.perf_counter() - started
    now = _meta_now(directory)
    bench.now = iso_z(now)

    answers: dict[str, np.ndarray] = {}  # rule -> segmint compiled's answer: sorted contact ids
    rows = {
        rule.name: {"rule": rule.name, "text": rule.text, "params": dict(rule.params), "seconds": {}} for rule in SUITE
    }
    saved = Path(tempfile.mkdtemp(prefix="segmint-bench-store-", dir=_scratch_root(options)))
    try:
        # Loaders are timed on a warm OS file cache, all alike: otherwise whoever loads first pays the disk.
        log("files: reading the Parquet files once, into the OS file cache")
        _warm_file_cache(directory)
        # The store lives only inside this call: its memory is free before the peers load theirs.
        _segmint(options, directory, saved / "store", now, full, rows, answers, bench, log)
        gc.collect()
        if full:
            log("arrow: reading the same files with pyarrow, for their in-memory size")
            bench.memory["arrow"] = arrow_bytes(directory)
        for name in (e for e in engines if e in PEERS):
            _peer(name, directory, now, rows, answers, options.repeat, bench, log)
        if full and options.cold:
            _fresh_processes(saved / "store", bench.now, answers, bench, log)
    finally:
        shutil.rmtree(saved, ignore_errors=True)
    bench.memory["peak_rss"] = peak_rss()
    if full:
        _bound_times(bench, rows, options.bandwidth_gib, log)
    bench.rules = [rows[rule.name] for rule in SUITE]
    for row in bench.rules:
        compiled = row["seconds"]["compiled"]
        row["ratio"] = {e: t / compiled for e, t in row["seconds"].items() if e != "compiled" and compiled > 0}
    return bench


def _segmint(
    options: Options,
    directory: Path,
    saved: Path,
    now: dt.datetime,
    full: bool,
    rows,
    answers,
    bench: Bench,
    log: Callable[[str], None],
) -> None:
    """Phase 2: load the store, (save and reopen it,) time the segmint engines, (the batch, the bound)."""
    log("segmint: loading the store from Parquet")
    store, bench.seconds["load_segmint"] = _timed_once(lambda: Store.from_parquet(directory, demo.demo_schema()))
    bench.events = store.n_events
    if full:
        _save_and_open(store, saved, bench, log)
    segments = {rule.name: segmint.compile(rule.text, store.schema) for rule in SUITE}

    def ids(rule: Rule, engine: str = "compiled") -> np.ndarray:
        return segments[rule.name].evaluate(store, now=now, params=dict(rule.params) or None, engine=engine).ids()

    for rule in SUITE:
        log(f"segmint compiled: {rule.name}")
        row = rows[rule.name]
        answer, row["first_run"] = _timed_once(lambda rule=rule: ids(rule))  # compiles, or loads from the cache
        answers[rule.name] = np.sort(answer)
        row["count"] = len(answer)
        row["seconds"]["compiled"] = _median(lambda rule=rule: ids(rule), options.repeat)
        if rule.baselines:
            row["baselines"] = _baselines(rule, store, now, options.repeat, log)
    bench.memory["store"] = store_bytes(store)  # before the reference engine adds its own caches
    if "reference" in bench.engines:
        repeat = 1 if bench.contacts > REFERENCE_REPEAT_ABOVE else options.repeat
        for rule in SUITE:
            log(f"segmint reference: {rule.name}")
            check(rule, "reference", ids(rule, "reference"), answers[rule.name])
            rows[rule.name]["seconds"]["reference"] = _median(lambda rule=rule: ids(rule, "reference"), repeat)
    if full:
        _batch(segments, store, now, answers, options.repeat, bench, log)
        _bound_bytes(segments, store, now, rows, log)
    bench.memory["peak_rss_segmint"] = peak_rss()


def _baselines(rule: Rule, store: Store, now: dt.datetime, repeat: int, log: Callable[[str], None]) -> dict:
    """Segmint compiled's median time of each of ``rule.baselines``, single conditions over its event types."""
    times = {}
    for text in rule.baselines:
        log(f"segmint compiled: {rule.name}'s baseline {text}")
        segment = segmint.compile(text, store.schema)
        run = lambda segment=segment: segment.evaluate(store, now=now, engine="compiled").ids()  # noqa: E731
        run()  # compiles, or loads from the cache
        times[text] = _median(run, repeat)
    return times


def _warm_file_cache(directory: Path) -> None:
    for path in sorted(directory.rglob("*.parquet")):
        with path.open("rb") as file:
            while file.read(1 << 24):
                pass


def _save_and_open(store: Store, folder: Path, bench: Bench, log: Callable[[str], None]) -> None:
    log("segmint: saving the store and opening it again")
    _, bench.seconds["save"] = _timed_once(lambda: store.save(folder))
    # Drop the files from the page cache? No: a service reopens a store it has just written, or one the OS keeps
    # cached; a cold disk measures the disk, not segmint.
    reopened, bench.seconds["open"] = _timed_once(lambda: Store.open(folder))
    if reopened.n_contacts != store.n_contacts or reopened.n_events != store.n_events:
        raise MismatchError(
            f"the reopened store has {reopened.n_contacts:,} contacts and {reopened.n_events:,} "
            f"events, the saved one {store.n_contacts:,} and {store.n_events:,}"
        )


def _batch(segments, store: Store, now, answers, repeat: int, bench: Bench, log: Callable[[str], None]) -> None:
    """The whole suite in one ``evaluate_many`` (one params dict for all) against the sum of single evaluations."""
    log("segmint batch: the suite in one evaluate_many (the first call compiles its kernel)")
    suite, params = list(segments.values()), batch_params()
    run = lambda: segmint.evaluate_many(suite, store, now=now, params=params, engine="compiled")  # noqa: E731
    results, bench.batch["first_run"] = _timed_once(run)
    for rule, result in zip(SUITE, results, strict=True):
        check(rule, "evaluate_many", result.ids(), answers[rule.name])
    bench.batch["seconds"] = _median(lambda: [r.ids() for r in run()], repeat)


def _bound_bytes(segments, store: Store, now, rows, log: Callable[[str], None]) -> None:
    """Per rule, the bytes its kernel must at least read from memory (benchmarks/bound.py)."""
    log("bound: bytes each rule's kernel must read")
    for rule in SUITE:
        rows[rule.name]["bound"] = {
            "bytes": bound.bytes_read(segments[rule.name], store, now, dict(rule.params) or None)
        }


def _bound_times(bench: Bench, rows, gib: float, log: Callable[[str], None]) -> None:
    """The time this machine's memory needs to deliver each rule's bytes, and segmint's time as a multiple of it.
    Measured last: its array (``gib`` GiB) would otherwise set every later peak memory reading."""
    log(f"bound: measuring the read bandwidth over {gib:g} GiB")
    bench.bandwidth = bound.measure_bandwidth(gib)
    for row in rows.values():
        seconds = row["bound"]["bytes"] / bench.bandwidth
        row["bound"].update(seconds=seconds, ratio=row["seconds"]["compiled"] / seconds)


def _peer(name: str, directory: Path, now, rows, answers, repeat: int, bench: Bench, log) -> None:
    peer = PEERS[name](directory)
    log(f"{name}: loading the Parquet files")
    _, bench.seconds[f"load_{name}"] = _timed_once(peer.load)
    try:
        for rule in SUITE:
            log(f"{name}: {rule.name}")
            check(rule, name, peer.ids(rule, now), answers[rule.name])
            rows[rule.name]["seconds"][name] = _median(lambda rule=rule: peer.ids(rule, now), repeat)
        bench.memory[f"peak_rss_{name}"] = peak_rss()
    finally:
        peer.close()
        gc.collect()


def _fresh_processes(folder: Path, now: str, answers, bench: Bench, log: Callable[[str], None]) -> None:
    """benchmarks/cold.py in a new process with an empty kernel cache, then in another with the filled cache."""
    kernels = Path(tempfile.mkdtemp(prefix="segmint-bench-kernels-"))
    try:
        log("fresh process, empty kernel cache: compile + first answer per rule")
        first = _subprocess(folder, now, "--cold", kernels)
        log("fresh process, kernels cached: kernel from the disk cache per rule")
        second = _subprocess(folder, now, "--cached", kernels)
    finally:
        shutil.rmtree(kernels, ignore_errors=True)
    log("fresh process: condition counts of rules never seen before (profile_cold)")
    bench.profile = _profile_process(folder, now)
    for rule, a, b in zip(SUITE, first, second, strict=True):
        for row in (a, b):
            if row["count"] != len(answers[rule.name]):
                raise MismatchError(
                    f"rule {rule.name!r}: a fresh process ({row['engine']} engine) found "
                    f"{row['count']:,} contacts, segmint compiled {len(answers[rule.name]):,}"
                )
        bench.cold.append(
            {
                "rule": rule.name,
                "first": a["first"],
                "engine": a["engine"],
                "fused": a["fused"],
                "cached_kernel": b["kernel"],
                "cached_first": b["first"],
                "cached_engine": b["engine"],
            }
        )


def _subprocess(folder: Path, now: str, mode: str, kernels: Path) -> list[dict]:
    env = {**os.environ, "SEGMINT_KERNEL_CACHE": str(kernels)}
    command = [sys.executable, "-m", "segmint.benchmarks.cold", str(folder), now, mode]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)["rules"]


def _profile_process(folder: Path, now: str) -> dict:
    """benchmarks/profile_cold.py in a new process (Store.open, then each rule's condition counts), and ``import
    segmint`` in another, as Python's ``-X importtime`` measures it (a clock around a subprocess would add the
    interpreter's own start)."""
    command = [sys.executable, "-m", "segmint.benchmarks.profile_cold", str(folder), now]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    imported = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import segmint"], capture_output=True, text=True, check=True
    )
    line = next(line for line in imported.stderr.splitlines() if line.rstrip().endswith("| segmint"))
    return {**json.loads(done.stdout), "import": int(line.split("|")[1]) / 1e6}


# == checks and measures ===========================================================================================


def check(rule: Rule, engine: str, got: np.ndarray, expected: np.ndarray) -> None:
    """``got`` (contact ids, any order, duplicates allowed) is the set ``expected`` (sorted, unique) or this raises."""
    got = np.unique(np.asarray(got))
    if np.array_equal(got, expected):
        return
    extra, missing = np.setdiff1d(got, expected), np.setdiff1d(expected, got)
    raise MismatchError(
        f"rule {rule.name!r} ({rule.text}): {engine} found {len(got):,} contacts, segmint compiled "
        f"{len(expected):,}; only in {engine}: {len(extra):,} (e.g. {extra[:5].tolist()}), only in segmint "
        f"compiled: {len(missing):,} (e.g. {missing[:5].tolist()})"
    )


def store_bytes(store: Store) -> int:
    """The store's memory: every numpy array it holds, plus its string dictionaries as UTF-8 (Arrow holds the same
    strings in its dictionaries and string columns, so both sides count them).

    Arrays are found in the objects' attributes, so caches the engines add (an event table's ``last_ts``, computed
    on first use) count once they exist: measured after the compiled engine has run the suite."""
    total = store.ids.nbytes
    parts = [*store.attributes.values()]
    for table in store.events.values():
        parts += [table, *table.properties.values()]
    for part in parts:
        total += sum(value.nbytes for value in vars(part).values() if isinstance(value, np.ndarray))
        total += sum(len(s.encode()) for s in getattr(part, "dictionary", None) or ())
    return total


def arrow_bytes(directory: Path) -> int:
    """The Arrow in-memory size of the demo's files (``pyarrow.Table.nbytes``), one file at a time."""
    total = 0
    for path in parquet_files(directory).values():
        table = pq.read_table(path)
        total += table.nbytes
        del table
    return total


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _timed_once(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def _median(work: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _meta_now(directory: Path) -> dt.datetime:
    """The demo's fixed now, from its meta.json."""
    meta = json.loads((Path(directory) / "meta.json").read_text(encoding="utf-8"))
    now = dt.datetime.fromisoformat(meta["now"])
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _scratch_root(options: Options) -> Path:
    """Where the saved store goes: next to the demo data (same disk, and known to have room for it)."""
    root = Path(options.cache_dir or os.environ.get("SEGMINT_CACHE") or Path.home() / ".cache" / "segmint")
    root.mkdir(parents=True, exist_ok=True)
    return root


# == entry point ===================================================================================================


def run(options: Options, out: Console, err: Console) -> dict[str, Any]:
    """The whole benchmark: the main size, the scaling sizes, the tables, the JSON and the plot."""

    def log(message: str) -> None:
        err.print(f"[dim]{time.strftime('%H:%M:%S')} {message}[/dim]", highlight=False)

    bench = bench_size(options, options.contacts, log)
    report(bench, out)
    scaling = []
    if options.scaling:
        from .scaling import plot

        for size in options.scaling:
            scaling.append(bench if size == options.contacts else bench_size(options, size, log, full=False))
        if options.plot:
            plot(scaling, options.plot)
            out.print(f"plot: {options.plot}")
    document = to_json(bench, scaling)
    if options.json_path:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        out.print(f"json: {options.json_path}")
    return document


def parse_engines(text: str) -> tuple[str, ...]:
    engines = tuple(e.strip() for e in text.split(",") if e.strip())
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    return engines


def parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(s.strip().replace("_", "")) for s in text.split(",") if s.strip())
