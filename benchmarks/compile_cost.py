"""What compiling costs: time and peak memory of the compiled engine's first evaluation against the size of the work.

Two curves, each point measured in a fresh process with an empty kernel cache (so nothing compiled before helps, and
the peak resident memory, ``resource.getrusage`` maxrss, is that point's alone):

- *batch*: ``evaluate_many`` of 1, 10, 100, 1,000 segments made from the mission's templates (opens in a window,
  category purchases, browse-no-buy, spend thresholds, city and engagement, newcomers, age bands), each with its own
  values;
- *rule*: one rule of 10, 100, 1,000 ``or``ed event conditions (a filtered existence, a count or a sum each).

    python -m segmint.benchmarks.compile_cost [--contacts 20000] [--timeout 300] [--memory-gib 6] [--label after]

writes ``benchmarks/results/compile-cost-<label>.json`` and a PNG of both curves next to it;
``--compare before after`` plots two such runs together into ``compile-cost.png``. A point that runs
past ``--timeout`` or over ``--memory-gib`` (the child's address space is limited to it) is recorded as stopped,
not waited for: the machine is shared. The store is a small demo store: compile cost depends on the shape of the
rules and the store's column types, not on the number of contacts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH_SIZES = (1, 10, 100, 1000)
RULE_SIZES = (10, 100, 1000)
RESULTS = Path(__file__).parent / "results"

CATEGORIES = (
    "iPhones",
    "Smartphones",
    "Laptops",
    "Tablets",
    "Headphones",
    "Watches",
    "TVs",
    "Cameras",
    "Vinyl",
    "Books",
    "Games",
    "Accessories",
)
BRANDS = ("Apple", "Samsung", "Google", "Xiaomi", "Sony", "Lenovo", "Dell", "HP", "Asus", "Canon", "Nintendo")
CITIES = ("Kyiv", "Lviv", "Odesa", "Kharkiv", "Dnipro", "Warsaw", "Krakow", "Berlin", "Munich", "Vienna")


def template_rules(n: int, seed: int = 7) -> list[str]:
    """``n`` segments a marketing team would keep, cycling through the mission's templates with random values."""
    rng = random.Random(seed)
    templates = [
        lambda: f"opened > {rng.randint(1, 9)} within {rng.choice((7, 14, 30, 60, 90))}d",
        lambda: f"bought category = {rng.choice(CATEGORIES)} within {rng.choice((30, 90, 180, 365))}d",
        lambda: (
            f"viewed category = {rng.choice(CATEGORIES)} within {rng.choice((3, 7, 14))}d "
            f"and not bought category = {rng.choice(CATEGORIES)} within {rng.choice((7, 30))}d"
        ),
        lambda: f"sum(bought.amount within {rng.choice((90, 180, 365))}d) > {rng.choice((100, 250, 500, 1000))}",
        lambda: (
            f"city = {rng.choice(CITIES)} and (opened within {rng.choice((7, 30))}d "
            f"or clicked within {rng.choice((14, 30))}d)"
        ),
        lambda: f"created_at within {rng.choice((7, 14, 30))}d and not bought",
        lambda: (
            f"age(birth_date) between {(low := rng.choice((18, 25, 35, 45)))} and {low + rng.choice((9, 14))} "
            f"and gender = {rng.choice(('f', 'm'))}"
        ),
    ]
    return [templates[k % len(templates)]() for k in range(n)]


def or_rule(n: int, seed: int = 7) -> str:
    """One rule of ``n`` ``or``ed event conditions over the demo's event types."""
    rng = random.Random(seed)
    parts = [
        lambda: f"bought brand = {rng.choice(BRANDS)} within {rng.randint(1, 365)}d",
        lambda: f"viewed category = {rng.choice(CATEGORIES)} > {rng.randint(1, 5)} times within {rng.randint(1, 60)}d",
        lambda: f"opened > {rng.randint(1, 20)} within {rng.randint(1, 120)}d",
        lambda: f"sum(bought.amount within {rng.randint(30, 365)}d) > {rng.randint(50, 5000)}",
        lambda: f"clicked device = {rng.choice(('ios', 'android', 'web'))} within {rng.randint(1, 90)}d",
    ]
    return " or ".join(parts[k % len(parts)]() for k in range(n))


def point(kind: str, size: int, contacts: int, engine: str) -> dict:
    """One point, in this process (run it in a fresh one): the first evaluation's time (clock and CPU) and the
    process's peak resident memory."""
    import segmint
    from segmint.runtime import demo
    from segmint.runtime.engines import compiled

    data = demo.generate(contacts, progress=False)
    store = segmint.Store.from_arrow(data.contacts, data.events, demo.demo_schema())
    rules = template_rules(size) if kind == "batch" else [or_rule(size)]
    segments = [segmint.compile(rule, store.schema) for rule in rules]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpu, started = _cpu(), time.perf_counter()
    results = segmint.evaluate_many(segments, store, now=data.now, engine=engine)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    started = time.perf_counter()
    segmint.evaluate_many(segments, store, now=data.now, engine=engine)
    warm = time.perf_counter() - started
    return {
        "kind": kind,
        "size": size,
        "engine": engine,
        "first_seconds": seconds,
        "first_cpu_seconds": cpu,
        "warm_seconds": warm,
        "answered_by": sorted({r.engine for r in results}),
        "kernels": compiled.COMPILED.kernels.loaded(),
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_before": before,
        "matches": sum(r.count for r in results),
    }


def _cpu() -> float:
    """CPU seconds of this process so far: on a shared machine, steadier than the clock."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, size: int, contacts: int, timeout: float, memory_gib: float, engine: str) -> dict:
    """``point`` in a fresh process with an empty kernel cache, stopped after ``timeout`` seconds or when its
    address space would pass ``memory_gib``."""
    limit = int(memory_gib * 2**30)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryDirectory(prefix="segmint-compile-cost-") as cache:
        env = {**os.environ, "SEGMINT_KERNEL_CACHE": cache}
        command = [
            sys.executable,
            "-m",
            "segmint.benchmarks.compile_cost",
            "--point",
            kind,
            str(size),
            "--contacts",
            str(contacts),
            "--engine",
            engine,
        ]
        started = time.perf_counter()
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=limit_memory
            )
        except subprocess.TimeoutExpired:
            return {"kind": kind, "size": size, "engine": engine, "stopped": f"still running after {timeout:.0f} s"}
    if run.returncode != 0:
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {
            "kind": kind,
            "size": size,
            "engine": engine,
            "stopped": f"failed after {time.perf_counter() - started:.0f} s (memory limit {memory_gib:g} GiB?): {tail}",
        }
    return json.loads(run.stdout.strip().splitlines()[-1])


def plot(runs: dict[str, list[dict]], path: Path, title: str) -> None:
    """Time (clock, and CPU where measured) and peak memory against size, a line per run; a point stopped (over
    the time or memory limit) as a cross at the top of its panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    colors: dict[str, str] = {}
    for column, (kind, label) in enumerate((("batch", "segments in the batch"), ("rule", "or-ed conditions"))):
        for run, rows in runs.items():
            done = [r for r in rows if r["kind"] == kind and "stopped" not in r]
            sizes = [r["size"] for r in done]
            line = axes[0][column].plot(sizes, [r["first_seconds"] for r in done], "o-", label=f"{run}: clock")[0]
            colors[run] = line.get_color()
            if all("first_cpu_seconds" in r for r in done):
                cpu = [r["first_cpu_seconds"] for r in done]
                axes[0][column].plot(sizes, cpu, "o--", color=line.get_color(), alpha=0.6, label=f"{run}: CPU")
            axes[1][column].plot(sizes, [r["peak_rss"] / 2**20 for r in done], "o-", color=colors[run], label=run)
        for run, rows in runs.items():  # after every line, so that the top of each panel is known
            for r in (r for r in rows if r["kind"] == kind and "stopped" in r):
                for row in axes:
                    top = row[column].get_ylim()[1]
                    row[column].plot(
                        [r["size"]],
                        [top],
                        "x",
                        color=colors[run],
                        markersize=12,
                        label=f"{run}: stopped at {r['size']}",
                    )
        axes[0][column].set_title(f"first evaluation with engine=compiled ({kind})")
        axes[0][column].set_ylabel("seconds")
        axes[1][column].set_ylabel("peak RSS of the process, MiB")
        for row in axes:
            row[column].set_xscale("log")
            row[column].set_xlabel(label)
            row[column].grid(True, alpha=0.3)
            row[column].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segmint.benchmarks.compile_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--contacts", type=int, default=20_000, help="demo contacts in each point's store")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a point is stopped")
    parser.add_argument("--memory-gib", type=float, default=6.0, help="address-space limit of each point's process")
    parser.add_argument("--engine", default="compiled", help="the engine measured (default: compiled)")
    parser.add_argument("--label", default="latest", help="names the result files")
    parser.add_argument("--batch", default=",".join(map(str, BATCH_SIZES)), help="batch sizes, comma-separated")
    parser.add_argument("--rule", default=",".join(map(str, RULE_SIZES)), help="rule sizes, comma-separated")
    parser.add_argument("--compare", nargs="+", metavar="LABEL", help="only plot these runs' JSON files together")
    parser.add_argument("--point", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(point(args.point[0], int(args.point[1]), args.contacts, args.engine)))
        return 0
    if args.compare:
        runs = {
            label: json.loads((RESULTS / f"compile-cost-{label}.json").read_text())["points"] for label in args.compare
        }
        plot(runs, RESULTS / "compile-cost.png", "compile cost: " + " vs ".join(args.compare))
        return 0
    rows = []
    for kind, sizes in (("batch", args.batch), ("rule", args.rule)):
        for size in (int(s) for s in sizes.split(",") if s):
            row = measure(kind, size, args.contacts, args.timeout, args.memory_gib, args.engine)
            rows.append(row)
            print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    document = {"label": args.label, "contacts": args.contacts, "engine": args.engine, "points": rows}
    (RESULTS / f"compile-cost-{args.label}.json").write_text(json.dumps(document, indent=2) + "\n")
    plot({args.label: rows}, RESULTS / f"compile-cost-{args.label}.png", f"compile cost ({args.label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
