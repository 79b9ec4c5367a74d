"""What ``segmint bench`` prints and writes: its goals (met or missed), the tables, the JSON document."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import segmint

from .record import JSON_FORMAT, JSON_VERSION, PEER_ENGINES, Bench, geomean

GOAL_GEOMEAN_VS_DUCKDB = 20.0  # compiled at least 20x faster than DuckDB, geometric mean over the suite ...
GOAL_EVERY_RULE_VS_DUCKDB = 5.0  # ... and at least 5x on every rule
GOAL_BOUND_RATIO = 3.0  # compiled within 3x of the memory-bandwidth bound
GOAL_REOPEN_SECONDS = 0.5  # Store.open of a saved store (the goal is stated at 5M contacts)
GOAL_COLD_SECONDS = 0.3  # compile + first answer of a new rule in a fresh process, median (stated at 1M)
GOAL_CACHED_KERNEL_SECONDS = 0.1  # a kernel from the disk cache in a fresh process, median
GOAL_PROFILE_SECONDS = 0.5  # condition counts of a rule never seen before, fresh process, slowest (issue 13, at 1M)
GOAL_BATCH_SHARE = 0.4  # the suite in one evaluate_many at most 40% of the sum of single evaluations
GOAL_VS_BASELINE = 3.0  # a rule with baselines (a sequence) within 3x of its slowest single condition (issue 13)


# == goals =========================================================================================================


@dataclass(frozen=True)
class Goal:
    name: str
    value: float
    target: float
    unit: str  # "x" for ratios, "s", "%"
    higher_is_better: bool

    @property
    def passed(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def describe(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        return f"{self.name}: {_fmt(self.value, self.unit)} (goal {op} {_fmt(self.target, self.unit)})"


def _slowest(row: dict[str, Any]) -> str:
    return max(row["baselines"], key=row["baselines"].__getitem__)


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0%}"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.1f}x"


def goals(bench: Bench) -> list[Goal]:
    found: list[Goal] = []
    vs_duckdb = [row["ratio"]["duckdb"] for row in bench.rules if "duckdb" in row["ratio"]]
    if vs_duckdb:
        found.append(Goal("compiled vs DuckDB, geometric mean", geomean(vs_duckdb), GOAL_GEOMEAN_VS_DUCKDB, "x", True))
        found.append(Goal("compiled vs DuckDB, slowest rule", min(vs_duckdb), GOAL_EVERY_RULE_VS_DUCKDB, "x", True))
    bounds = [row["bound"]["ratio"] for row in bench.rules if "bound" in row]
    if bounds:
        found.append(Goal("compiled / bandwidth bound, worst rule", max(bounds), GOAL_BOUND_RATIO, "x", False))
    for row in bench.rules:
        if row.get("baselines"):
            slowest = max(row["baselines"].values())
            found.append(Goal(f"{row['rule']} vs its slowest single condition ({_slowest(row)})",
                              row["seconds"]["compiled"] / slowest, GOAL_VS_BASELINE, "x", False))
    if "open" in bench.seconds:
        found.append(Goal("Store.open of the saved store", bench.seconds["open"], GOAL_REOPEN_SECONDS, "s", False))
    if "arrow" in bench.memory:
        share = bench.memory["store"] / bench.memory["arrow"]
        found.append(Goal("store memory / Arrow memory", share, 1.0, "%", False))
    if bench.cold:
        first = statistics.median(row["first"] for row in bench.cold)
        cached = statistics.median(row["cached_kernel"] for row in bench.cold)
        found.append(
            Goal("new rule in a fresh process: compile + first answer, median", first, GOAL_COLD_SECONDS, "s", False)
        )
        found.append(Goal("cached kernel in a fresh process, median", cached, GOAL_CACHED_KERNEL_SECONDS, "s", False))
    if bench.profile:
        slowest = max(row["seconds"] for row in bench.profile["rules"])
        name = "condition counts of a new rule in a fresh process, slowest"
        found.append(Goal(name, slowest, GOAL_PROFILE_SECONDS, "s", False))
    if bench.batch:
        singles = sum(row["seconds"]["compiled"] for row in bench.rules)
        found.append(
            Goal(
                "evaluate_many of the suite / sum of singles",
                bench.batch["seconds"] / singles,
                GOAL_BATCH_SHARE,
                "%",
                False,
            )
        )
    return found


# == output ========================================================================================================


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    import duckdb
    import numba
    import polars

    return {
        "git": _git_state(),
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "segmint": segmint.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
    }


def _git_state() -> str:
    """The commit measured, and whether the working tree differed from it (others edit the tree while we run)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True)  # fmt: skip
    except OSError:
        return "unknown"
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    return head.stdout.strip() + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def to_json(bench: Bench, scaling: list[Bench] | None = None) -> dict[str, Any]:
    """The stable JSON document of a run: field names and units (seconds, bytes) do not change within a version."""
    singles = sum(row["seconds"]["compiled"] for row in bench.rules)
    geo = {
        e: geomean([row["ratio"][e] for row in bench.rules if e in row["ratio"]])
        for e in bench.engines
        if e != "compiled"
    }
    document = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "machine": machine(),
        "contacts": bench.contacts,
        "events": bench.events,
        "now": bench.now,
        "repeat": bench.repeat,
        "engines": list(bench.engines),
        "seconds": bench.seconds,
        "memory_bytes": bench.memory,
        "bandwidth_bytes_per_second": bench.bandwidth or None,
        "rules": bench.rules,
        "geomean_ratio": geo,
        "batch": {**bench.batch, "sum_of_singles": singles} if bench.batch else None,
        "cold": bench.cold or None,
        "profile": bench.profile or None,
        "goals": [{"goal": g.name, "value": g.value, "target": g.target, "passed": g.passed} for g in goals(bench)],
    }
    if scaling:
        document["scaling"] = [
            {
                "contacts": b.contacts,
                "events": b.events,
                "rules": [{"rule": r["rule"], "count": r["count"], "seconds": r["seconds"]} for r in b.rules],
            }
            for b in scaling
        ]
    return document


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def report(bench: Bench, out: Console) -> None:
    """The tables of one run."""
    peers = [e for e in bench.engines if e != "compiled"]
    out.print(
        f"\n[bold]segmint bench[/bold]: {bench.contacts:,} contacts, {bench.events:,} events, now {bench.now}, "
        f"median of {bench.repeat} warm runs; every answer checked equal to segmint compiled"
    )
    table = Table(title="time per rule (ms) and peer time / segmint compiled time", title_justify="left")
    table.add_column("rule", no_wrap=True)
    table.add_column("contacts", justify="right")
    for engine in bench.engines:
        table.add_column(engine, justify="right")
    for engine in peers:
        table.add_column(f"{engine}/seg", justify="right")
    has_bound = any("bound" in row for row in bench.rules)
    if has_bound:
        table.add_column("bound MB", justify="right")
        table.add_column("bound ms", justify="right")
        table.add_column("seg/bound", justify="right")
    for row in bench.rules:
        cells = [row["rule"], f"{row['count']:,}"]
        cells += [_ms(row["seconds"].get(e)) for e in bench.engines]
        cells += [f"{row['ratio'][e]:.1f}x" if e in row["ratio"] else "-" for e in peers]
        if has_bound:
            b = row.get("bound")
            cells += [f"{b['bytes'] / 1e6:,.1f}", _ms(b["seconds"]), f"{b['ratio']:.1f}x"] if b else ["-"] * 3
        table.add_row(*cells)
    geo = [geomean([row["ratio"][e] for row in bench.rules if e in row["ratio"]]) for e in peers]
    cells = ["geometric mean", "", *[_ms(geomean([r["seconds"][e] for r in bench.rules])) for e in bench.engines]]
    cells += [f"{g:.1f}x" for g in geo]
    if has_bound:
        cells += ["", "", f"{geomean([r['bound']['ratio'] for r in bench.rules]):.1f}x"]
    table.add_row(*cells, style="bold")
    out.print(table)

    rules = Table(title="the rules", title_justify="left")
    rules.add_column("rule", no_wrap=True)
    rules.add_column("segmint text (params)", overflow="fold")
    for row in bench.rules:
        params = "  [" + ", ".join(f"${k}={v}" for k, v in row["params"].items()) + "]" if row["params"] else ""
        rules.add_row(row["rule"], row["text"] + params)
    out.print(rules)

    s, m = bench.seconds, bench.memory
    loads = ", ".join(f"{e} {s[f'load_{e}']:.2f} s" for e in ("segmint", *PEER_ENGINES) if f"load_{e}" in s)
    out.print(f"load from Parquet: {loads} (segmint: Store.from_parquet; DuckDB: in-memory tables; Polars: DataFrames)")
    if "save" in s:
        out.print(f"store: save {s['save']:.2f} s, Store.open {s['open']:.3f} s (memory-mapped)")
    if "arrow" in m:
        out.print(f"memory: store {_mb(m['store'])} vs Arrow {_mb(m['arrow'])} ({m['store'] / m['arrow']:.0%})")
    rss = ", ".join(f"after {k.removeprefix('peak_rss_')} {_mb(v)}" for k, v in m.items() if k.startswith("peak_rss_"))
    out.print(f"process peak RSS: {rss} (the store itself: {_mb(m['store'])})")
    if bench.bandwidth:
        out.print(f"read bandwidth (benchmarks/bound.py): {bench.bandwidth / 1e9:.1f} GB/s")
    if bench.batch:
        singles = sum(row["seconds"]["compiled"] for row in bench.rules)
        out.print(
            f"batch: the suite in one evaluate_many {_ms(bench.batch['seconds'])} ms vs {_ms(singles)} ms for "
            f"{len(bench.rules)} "
            f"single evaluations ({bench.batch['seconds'] / singles:.0%}); its first call (compiles the batch "
            f"kernel, or loads it from the disk cache) {bench.batch['first_run']:.2f} s"
        )
    if bench.cold:
        cold = Table(title="fresh process (Store.open not counted)", title_justify="left")
        columns = (
            "rule",
            "new rule: compile + first answer",
            "engine",
            "fused kernel ready",
            "cached: first answer",
            "of which the kernel",
        )
        for name in columns:
            cold.add_column(name, justify="left" if name in ("rule", "engine") else "right")
        for row in bench.cold:
            cold.add_row(
                row["rule"],
                f"{row['first']:.3f} s",
                row["engine"],
                f"{row['fused']:.2f} s",
                f"{row['cached_first']:.3f} s ({row['cached_engine']})",
                f"{row['cached_kernel']:.3f} s",
            )
        out.print(cold)
    if bench.profile:
        seconds = ", ".join(f"{row['seconds']:.3f}" for row in bench.profile["rules"])
        out.print(
            f"fresh process: import segmint {bench.profile['import']:.2f} s, Store.open {bench.profile['open']:.3f} s,"
            f" then the condition counts (Segment.profile) of {len(bench.profile['rules'])} rules never seen before,"
            f" one after another: {seconds} s"
        )
    for goal in goals(bench):
        verdict = "[bold green]PASS[/bold green]" if goal.passed else "[bold red]MISS[/bold red]"
        out.print(f"{verdict} {goal.describe()}")
