"""``segmint bench --live``: a registry of 1,000 live segments refreshed on the demo data, and DuckDB doing the same.

The segments are the mission's rule templates (engaged, semi-engaged, churned, value, newcomers, browsed but did not
buy, frequent buyers, fans, demographics) with parameters, windows and thresholds drawn from a seeded generator, plus
derived segments (``a and not b`` of two of them), parametric ones (``$category``, ``$days`` bound per segment) and
splits (A/B/control). Three refreshes of the whole registry are timed, stage by stage (evaluate, next: the next
change bound, diff, commit, callbacks), as issue 11 asks:

1. ``first``: at the demo's ``now``, every member enters;
2. ``same``: at the same ``now`` on the same store: nothing is new (what a poller pays when nothing happened);
3. ``later``: a day later on the same store: windows slide, contacts leave and enter.

Membership bytes are the registry's stored bitmaps (and the SQLite file's size). DuckDB does the same for a sample of
segments: per segment a new membership table from its SQL, then ``EXCEPT`` against the old one both ways (entered,
left), then the new replaces the old; its entered/left counts must equal segmint's for the same refresh (a
mismatch stops the run). segmint refreshes a registry of just the sample too, so the two are compared on the same
work.

The engine is ``auto`` (kernels within a bounded budget, runtime/engines/kernel_batches.py), measured twice:

- a new deployment: a registry's first refresh with an empty kernel cache (``--kernel-cache`` to start from another):
  the vector engine answers while the kernels compile in the background, then the wait until all are compiled;
- the steady state: the same segments in a new registry refreshed with every kernel compiled (``wait_for_kernels``:
  its ``kernels`` stage is the check that they are), ``first``, ``same`` and ``later`` as above.

The two first refreshes must give the same entered/left for every segment (a mismatch stops the run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import segmint
from segmint.compiler.types import iso_z
from segmint.runtime import demo
from segmint.runtime.engines.compiled import COMPILED, KernelCache
from segmint.runtime.engines.kernel_cache import SETTING
from segmint.runtime.store.columns import Store

from .peers import DuckDBPeer
from .report import machine
from .run import MismatchError
from .suite import ID

JSON_FORMAT, JSON_VERSION = "segmint.bench.live", 2
ENGINE = "auto"
LATER = dt.timedelta(days=1)
REFRESHES = ("first", "same", "later")

# The goals of issue 11 (stated for 1,000 segments on 5M demo contacts, 2 cores).
GOAL_FIRST_SECONDS = 60.0
STRETCH_FIRST_SECONDS = 20.0
GOAL_SAME_SECONDS = GOAL_FIRST_SECONDS / 3  # a refresh with nothing new: at most a third of the first's goal
GOAL_MEMBERSHIP_BYTES = 1 << 30

CATEGORIES = ("iPhones", "Smartphones", "Laptops", "Tablets", "Headphones", "Watches", "TVs", "Cameras", "Vinyl",
              "Books", "Games", "Accessories")
BRANDS = ("Apple", "Samsung", "Sony", "Lenovo", "Dell", "Canon", "Nintendo", "Bose", "Penguin", "Universal")
CITIES = ("Kyiv", "Lviv", "Odesa", "Warsaw", "Berlin", "Vienna", "Prague", "London", "Paris", "Madrid")
DEVICES = ("ios", "android", "desktop", "web")


@dataclass(frozen=True)
class LiveSegment:
    """One registered segment: its rule, bound parameters, and DuckDB SQL (``{now}``, ``{today}``) if sampled."""

    name: str
    rule: str
    sql: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    uses: tuple[str, ...] = ()  # the segments a derived one names


def _window(column: str = "timestamp", days: int | None = None) -> str:
    low = f"{column} > {{now}} - INTERVAL {days} DAY AND " if days else ""
    return f"{low}{column} <= {{now}}"


def _template(kind: str, r: random.Random) -> tuple[str, str]:
    """A rule of the template ``kind`` with drawn values: (segmint text, DuckDB SQL)."""
    match kind:
        case "engaged":
            d = r.choice((7, 14, 21, 30, 45, 60, 90))
            return (f"opened within {d}d or clicked within {d}d",
                    f"SELECT contact_id FROM email_open WHERE {_window(days=d)} UNION "
                    f"SELECT contact_id FROM email_click WHERE {_window(days=d)}")
        case "semi_engaged":
            big, small = r.choice((60, 90, 120, 180)), r.choice((14, 21, 30))
            return (f"(opened within {big}d or clicked within {big}d) and not (opened within {small}d or "
                    f"clicked within {small}d)",
                    f"SELECT contact_id FROM (SELECT contact_id, timestamp FROM email_open WHERE {_window(days=big)} "
                    f"UNION ALL SELECT contact_id, timestamp FROM email_click WHERE {_window(days=big)}) "
                    f"GROUP BY contact_id HAVING max(timestamp) <= {{now}} - INTERVAL {small} DAY")
        case "churned":
            d = r.choice((30, 60, 90, 120, 180, 365))
            return (f"bought and not bought within {d}d",
                    f"SELECT contact_id FROM purchase WHERE {_window()} GROUP BY contact_id "
                    f"HAVING max(timestamp) <= {{now}} - INTERVAL {d} DAY")
        case "value":
            d, total, mean = r.choice((90, 180, 365)), r.choice((200, 500, 1000, 2000)), r.choice((50, 100, 200))
            return (f"sum(bought.amount within {d}d) > {total} and avg(bought.amount within {d}d) > {mean}",
                    f"SELECT contact_id FROM purchase WHERE {_window(days=d)} GROUP BY contact_id "
                    f"HAVING sum(amount) > {total} AND avg(amount) > {mean}")
        case "newcomers":
            d = r.choice((7, 14, 30, 60, 90))
            return (f"created_at within {d}d and not bought",
                    f"SELECT contact_id FROM contacts WHERE {_window('created_at', d)} EXCEPT "
                    f"SELECT contact_id FROM purchase WHERE {_window()}")
        case "browsed":
            c, d = r.choice(CATEGORIES), r.choice((3, 7, 14, 30))
            return (f"viewed category={c} within {d}d and not bought category={c}",
                    f"SELECT contact_id FROM product_view WHERE category = '{c}' AND {_window(days=d)} EXCEPT "
                    f"SELECT contact_id FROM purchase WHERE category = '{c}' AND {_window()}")
        case "frequent":
            n, d = r.choice((1, 2, 3, 5)), r.choice((30, 90, 180, 365))
            return (f"bought > {n} times within {d}d",
                    f"SELECT contact_id FROM purchase WHERE {_window(days=d)} GROUP BY contact_id "
                    f"HAVING count(*) > {n}")
        case "fans":
            n, d, dev = r.choice((1, 2, 3)), r.choice((30, 90)), r.choice(DEVICES)
            c, k, w, b = r.choice(CATEGORIES), r.choice((1, 2, 3)), r.choice((7, 14, 21)), r.choice(BRANDS)
            return (f"opened > {n} within {d}d and (opened device={dev} or viewed category={c} > {k} times within "
                    f"{w}d or bought brand={b})",
                    f"SELECT contact_id FROM email_open WHERE {_window(days=d)} GROUP BY contact_id "
                    f"HAVING count(*) > {n} INTERSECT (SELECT contact_id FROM email_open WHERE device = '{dev}' AND "
                    f"{_window()} UNION SELECT contact_id FROM product_view WHERE category = '{c}' AND "
                    f"{_window(days=w)} GROUP BY contact_id HAVING count(*) > {k} UNION "
                    f"SELECT contact_id FROM purchase WHERE brand = '{b}' AND {_window()})")
        case "demographic":
            g, (c1, c2) = r.choice(("f", "m")), r.sample(CITIES, 2)
            low = r.choice((18, 25, 30, 40))
            high = low + r.choice((5, 10, 15))
            return (f"gender = {g} and city in ({c1}, {c2}) and age(birth_date) between {low} and {high}",
                    f"SELECT contact_id FROM contacts WHERE gender = '{g}' AND city IN ('{c1}', '{c2}') AND "
                    f"birth_date > {{today}} - INTERVAL {high + 1} YEAR AND "
                    f"birth_date <= {{today}} - INTERVAL {low} YEAR")
    raise ValueError(kind)


KINDS = ("engaged", "semi_engaged", "churned", "value", "newcomers", "browsed", "frequent", "fans", "demographic")
PARAMETRIC = "viewed category=$category within $days and not bought category=$category"


def registry_segments(count: int, seed: int = 11) -> tuple[list[LiveSegment], list[str]]:
    """``count`` segments: 90% drawn from the templates, 6% derived from two of those, 4% parametric; and the
    names of the segments to split (2%)."""
    r = random.Random(seed)
    derived, parametric = count * 6 // 100, count * 4 // 100
    plain = count - derived - parametric
    segments = []
    for i in range(plain):
        kind = KINDS[i % len(KINDS)]
        text, sql = _template(kind, r)
        segments.append(LiveSegment(f"{kind}_{i}", text, sql))
    for i in range(derived):
        a, b = r.sample(segments[:plain], 2)
        segments.append(LiveSegment(f"derived_{i}", f"{a.name} and not {b.name}", f"({a.sql}) EXCEPT ({b.sql})",
                                    uses=(a.name, b.name)))
    for i in range(parametric):
        params = {"category": r.choice(CATEGORIES[:4]), "days": r.choice(("7d", "14d"))}
        segments.append(LiveSegment(f"browse_{i}", PARAMETRIC, None, params))
    split = [s.name for s in r.sample(segments[:plain], max(1, count // 50))]
    return segments, split


@dataclass
class Options:
    contacts: int = 5_000_000
    segments: int = 1000
    sample: int = 50
    seed: int = 7
    cache_dir: Path | None = None
    json_path: Path | None = None
    kernel_cache: Path | None = None  # the kernel cache the run starts from (None: a new, empty one: a cold start)


def run(options: Options, out: Console, err: Console) -> dict[str, Any]:
    def log(message: str) -> None:
        err.print(f"[dim]{time.strftime('%H:%M:%S')} {message}[/dim]", highlight=False)

    document: dict[str, Any] = {"format": JSON_FORMAT, "version": JSON_VERSION, "machine": machine(),
                                "contacts": options.contacts, "segments": options.segments, "engine": ENGINE}
    log(f"demo data, {options.contacts:,} contacts")
    started = time.perf_counter()
    folder = demo.demo_dir(options.contacts, options.seed, options.cache_dir)
    now = dt.datetime.fromisoformat(json.loads((folder / "meta.json").read_text())["now"])
    store = Store.from_parquet(folder, demo.demo_schema())
    document["load_seconds"] = time.perf_counter() - started
    document["now"] = iso_z(now)
    segments, split = registry_segments(options.segments)
    document["splits"] = len(split)
    r = random.Random(options.seed)
    with_sql = [s for s in segments if s.sql is not None]
    sample = r.sample(with_sql, min(options.sample, len(with_sql)))

    with tempfile.TemporaryDirectory(prefix="segmint-live-bench-") as scratch, _kernel_cache(
            options.kernel_cache or Path(scratch) / "kernels") as kernels:
        log(f"registry of {len(segments)} segments ({len(split)} split), refreshes on the {ENGINE} engine")
        log("a new deployment: the first refresh with no kernel compiled (the vector engine answers, kernels compile "
            "in the background)")
        document["cold"] = _cold(Path(scratch) / "cold.db", segments, split, store, now, kernels, log)
        log("the same registry anew, its kernels compiled: first, same, later")
        whole = _refreshes(Path(scratch) / "all.db", segments, split, store, now, log)
        document["refreshes"] = whole["refreshes"]
        document["register_seconds"] = whole["register_seconds"]
        document["membership_bytes"] = whole["membership_bytes"]
        document["registry_file_bytes"] = whole["file_bytes"]
        log(f"the {len(sample)}-segment sample: segmint")
        needed = {s.name for s in sample} | {name for s in sample for name in s.uses}
        mine = _refreshes(Path(scratch) / "sample.db", [s for s in segments if s.name in needed], [], store, now,
                          log, names=[s.name for s in sample])
    del store
    log(f"the {len(sample)}-segment sample: DuckDB (load, then new table + EXCEPT per segment)")
    theirs = _duckdb(folder, sample, now)
    for refresh in REFRESHES:
        for s in sample:
            got, want = theirs[refresh]["counts"][s.name], mine["refreshes"][refresh]["counts"][s.name]
            if got != want:
                raise MismatchError(f"{s.name} ({s.rule}), refresh {refresh}: DuckDB entered/left {got}, "
                                    f"segmint {want}")
    document["sample"] = {
        "segments": [s.name for s in sample],
        "duckdb_load_seconds": theirs["load_seconds"],
        "refreshes": {refresh: {"segmint_seconds": mine["refreshes"][refresh]["seconds"]["total"],
                                "duckdb_seconds": theirs[refresh]["seconds"]} for refresh in REFRESHES},
    }
    cold = document["cold"]["refresh"]
    if cold["counts"] != document["refreshes"]["first"]["counts"]:
        differ = sorted(n for n, c in cold["counts"].items() if document["refreshes"]["first"]["counts"].get(n) != c)
        raise MismatchError(f"the first refresh with cold kernels and with compiled kernels differ on {differ[:5]}")
    for refresh in (cold, *document["refreshes"].values()):
        refresh.pop("counts")
    document["goals"] = [vars(g) | {"passed": g.passed} for g in goals(document)]
    report(document, out)
    if options.json_path:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        options.json_path.with_suffix(".md").write_text(markdown(document), encoding="utf-8")
        out.print(f"json: {options.json_path}, markdown: {options.json_path.with_suffix('.md')}")
    return document


@contextlib.contextmanager
def _kernel_cache(folder: Path) -> Iterator[Path]:
    """Kernels from ``folder`` only, for the run: this process's own compiled kernels are set aside (a new process
    knows none), and put back after."""
    saved, setting = COMPILED.kernels, os.environ.get(SETTING)
    COMPILED.kernels, os.environ[SETTING] = KernelCache(), str(folder)
    try:
        yield folder
    finally:
        COMPILED.kernels.wait_for_background()
        COMPILED.kernels = saved
        if setting is None:
            os.environ.pop(SETTING)
        else:
            os.environ[SETTING] = setting


def _cold(path: Path, segments: list[LiveSegment], split: list[str], store: Store, now: dt.datetime, kernels: Path,
          log: Callable[[str], None]) -> dict[str, Any]:
    """The first refresh of a registry with the kernel cache as the run found it (empty unless --kernel-cache), then
    the wait until the background has compiled every kernel it was given."""
    modules = len(list(kernels.glob("*.py")))
    found = _refreshes(path, segments, split, store, now, log, refreshes=REFRESHES[:1], wait_for_kernels=False)
    started = time.perf_counter()
    COMPILED.kernels.wait_for_background()
    first = found["refreshes"]["first"]
    found = {"refresh": first, "kernels_in_cache": modules, "compile_wait_seconds": time.perf_counter() - started,
             "kernels_compiled": len(list(kernels.glob("*.py"))) - modules}
    found["kernels_ready_seconds"] = first["seconds"]["total"] + found["compile_wait_seconds"]
    log(f"  {found['kernels_compiled']} kernel(s) compiled; all ready {found['kernels_ready_seconds']:.2f} s after "
        f"the start ({found['compile_wait_seconds']:.2f} s after the refresh)")
    return found


def _refreshes(path: Path, segments: list[LiveSegment], split: list[str], store: Store, now: dt.datetime,
               log: Callable[[str], None], names: list[str] | None = None, refreshes: tuple[str, ...] = REFRESHES,
               wait_for_kernels: bool = True) -> dict[str, Any]:
    """A registry of ``segments`` at ``path``, refreshed (REFRESHES: all segments, or ``names``); per refresh its
    stages and the entered/left counts of every segment refreshed."""
    registry = segmint.Registry(path, store.schema)
    try:
        started = time.perf_counter()
        for s in segments:
            registry.add(s.name, s.rule, params=s.params)
        for name in split:
            registry.split(name, {"A": 45, "B": 45, "control": 10})
        found: dict[str, Any] = {"refreshes": {}, "register_seconds": time.perf_counter() - started}
        log(f"  registered in {found['register_seconds']:.2f} s")
        for refresh, at in zip(refreshes, (now, now, now + LATER), strict=False):
            started = time.perf_counter()
            report = registry.refresh(store, now=at, names=names, engine=ENGINE, wait_for_kernels=wait_for_kernels)
            total = time.perf_counter() - started
            found["refreshes"][refresh] = {
                "now": report.now,
                "seconds": {**report.seconds, "total": total},
                "entered": sum(s.entered for s in report.segments),
                "left": sum(s.left for s in report.segments),
                "errors": sum(bool(s.error) for s in report.segments),
                "counts": {s.name: [s.entered, s.left] for s in report.segments},
            }
            log(f"  {refresh}: {total:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in report.seconds.items())})")
        found["membership_bytes"] = registry.membership_bytes()
    finally:
        registry.close()
    found["file_bytes"] = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return found


def _duckdb(folder: Path, sample: list[LiveSegment], now: dt.datetime) -> dict[str, Any]:
    """The sample's three refreshes in DuckDB: per segment ``CREATE TABLE new AS <sql>``, entered = new EXCEPT old,
    left = old EXCEPT new, then new replaces old. Times include fetching the entered/left ids."""
    peer = DuckDBPeer(folder)
    started = time.perf_counter()
    peer.load()
    found: dict[str, Any] = {"load_seconds": time.perf_counter() - started}
    db = peer.db
    try:
        for i in range(len(sample)):
            db.execute(f"CREATE TABLE old_{i} ({ID} BIGINT)")
        for refresh, at in zip(REFRESHES, (now, now, now + LATER), strict=True):
            literal = {"now": f"TIMESTAMPTZ '{at.astimezone(dt.UTC).isoformat(sep=' ')}'",
                       "today": f"DATE '{at.astimezone(dt.UTC).date().isoformat()}'"}
            counts = {}
            started = time.perf_counter()
            for i, s in enumerate(sample):
                db.execute(f"CREATE TABLE new_{i} AS {s.sql.format(**literal)}")
                entered = db.execute(f"SELECT {ID} FROM new_{i} EXCEPT SELECT {ID} FROM old_{i}").fetchnumpy()[ID]
                left = db.execute(f"SELECT {ID} FROM old_{i} EXCEPT SELECT {ID} FROM new_{i}").fetchnumpy()[ID]
                db.execute(f"DROP TABLE old_{i}")
                db.execute(f"ALTER TABLE new_{i} RENAME TO old_{i}")
                counts[s.name] = [len(entered), len(left)]
            found[refresh] = {"seconds": time.perf_counter() - started, "counts": counts}
    finally:
        peer.close()
    return found


@dataclass(frozen=True)
class Goal:
    goal: str
    value: float
    target: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.value <= self.target

    def describe(self) -> str:
        shown = (lambda v: f"{v / 1e6:,.1f} MB") if self.unit == "bytes" else (lambda v: f"{v:.2f} s")
        return f"{self.goal}: {shown(self.value)} (goal <= {shown(self.target)})"


def goals(document: dict[str, Any]) -> list[Goal]:
    refreshes = document["refreshes"]
    n = document["segments"]
    cold = document["cold"]["refresh"]["seconds"]["total"]
    return [
        Goal(f"first refresh of {n} segments, no kernel compiled", cold, GOAL_FIRST_SECONDS, "s"),
        Goal(f"first refresh of {n} segments, no kernel compiled (stretch)", cold, STRETCH_FIRST_SECONDS, "s"),
        Goal(f"first refresh of {n} segments, kernels compiled", refreshes["first"]["seconds"]["total"],
             GOAL_FIRST_SECONDS, "s"),
        Goal(f"first refresh of {n} segments, kernels compiled (stretch)", refreshes["first"]["seconds"]["total"],
             STRETCH_FIRST_SECONDS, "s"),
        Goal("refresh at the same now, nothing new", refreshes["same"]["seconds"]["total"], GOAL_SAME_SECONDS, "s"),
        Goal(f"membership of {n} segments on disk", document["membership_bytes"], GOAL_MEMBERSHIP_BYTES, "bytes"),
    ]


STAGES = ("kernels", "evaluate", "next", "diff", "commit", "callbacks", "total")


def _rows(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("first, no kernel compiled", document["cold"]["refresh"]),
            *((f"{name}, kernels compiled", refresh) for name, refresh in document["refreshes"].items())]


def _kernels_line(document: dict[str, Any]) -> str:
    cold = document["cold"]
    return (f"kernels: {cold['kernels_compiled']} compiled in the background from a cache of "
            f"{cold['kernels_in_cache']}, all ready {cold['kernels_ready_seconds']:.1f} s after the first refresh "
            f"started ({cold['compile_wait_seconds']:.1f} s after it ended)")


def report(document: dict[str, Any], out: Console) -> None:
    table = Table(title=f"segmint bench --live: {document['segments']} segments, {document['contacts']:,} contacts, "
                        f"{document['engine']} engine", title_justify="left")
    for column in ("refresh", "now", *STAGES, "entered", "left"):
        table.add_column(column, justify="left" if column in ("refresh", "now") else "right")
    for name, refresh in _rows(document):
        table.add_row(name, refresh["now"], *(f"{refresh['seconds'][s]:.2f}" for s in STAGES),
                      f"{refresh['entered']:,}", f"{refresh['left']:,}")
    out.print(table)
    out.print(_kernels_line(document))
    sample = document["sample"]
    compare = Table(title=f"{len(sample['segments'])}-segment sample: segmint vs DuckDB (new table + EXCEPT)",
                    title_justify="left")
    for column in ("refresh", "segmint s", "DuckDB s", "DuckDB / segmint"):
        compare.add_column(column, justify="left" if column == "refresh" else "right")
    for name, times in sample["refreshes"].items():
        compare.add_row(name, f"{times['segmint_seconds']:.2f}", f"{times['duckdb_seconds']:.2f}",
                        f"{times['duckdb_seconds'] / times['segmint_seconds']:.1f}x")
    out.print(compare)
    out.print(f"membership: {document['membership_bytes'] / 1e6:,.1f} MB of bitmaps; registry file "
              f"{document['registry_file_bytes'] / 1e6:,.1f} MB")
    for goal in goals(document):
        verdict = "[bold green]PASS[/bold green]" if goal.passed else "[bold red]MISS[/bold red]"
        out.print(f"{verdict} {goal.describe()}")


def markdown(document: dict[str, Any]) -> str:
    lines = [f"# segmint bench --live: {document['segments']} segments, {document['contacts']:,} contacts",
             "", f"engine {document['engine']}, now {document['now']}, {document['splits']} splits, machine: "
             f"{document['machine']['cpus']} cpus, {document['machine']['cpu']}, git {document['machine']['git']}", "",
             "| refresh | now | " + " | ".join(STAGES) + " | entered | left |",
             "|---|---|" + "---:|" * (len(STAGES) + 2)]
    for name, refresh in _rows(document):
        lines.append(f"| {name} | {refresh['now']} | " + " | ".join(f"{refresh['seconds'][s]:.2f}" for s in STAGES)
                     + f" | {refresh['entered']:,} | {refresh['left']:,} |")
    sample = document["sample"]
    lines += ["", _kernels_line(document)]
    lines += ["", f"{len(sample['segments'])}-segment sample (DuckDB: new table + EXCEPT both ways; load "
              f"{sample['duckdb_load_seconds']:.1f} s):", "", "| refresh | segmint s | DuckDB s | ratio |",
              "|---|---:|---:|---:|"]
    for name, times in sample["refreshes"].items():
        lines.append(f"| {name} | {times['segmint_seconds']:.2f} | {times['duckdb_seconds']:.2f} | "
                     f"{times['duckdb_seconds'] / times['segmint_seconds']:.1f}x |")
    lines += ["", f"membership {document['membership_bytes'] / 1e6:,.1f} MB, registry file "
              f"{document['registry_file_bytes'] / 1e6:,.1f} MB", ""]
    lines += [f"- {'PASS' if g['passed'] else 'MISS'} {Goal(g['goal'], g['value'], g['target'], g['unit']).describe()}"
              for g in document["goals"]]
    return "\n".join(lines) + "\n"
