"""The scaling plot of ``segmint bench --scaling SIZES --plot FILE.png``: time per rule against contacts, log-log.

Left: one bold line per engine, the geometric mean over the suite's rules, with each rule as a faint line of the
same colour behind it. Right: how many times slower than segmint compiled each peer is (geometric mean over the
rules), so the trend of the ratio with size reads directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .record import Bench

COLOURS = {"compiled": "#1b7837", "reference": "#999999", "duckdb": "#e08214", "polars": "#2166ac"}


def plot(benches: Sequence[Bench], path: Path) -> None:
    """Write the PNG of ``benches`` (one per size, each with the same engines and rules) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from .record import geomean

    benches = sorted(benches, key=lambda b: b.contacts)
    sizes = [b.contacts for b in benches]
    engines = benches[0].engines
    rules = [row["rule"] for row in benches[0].rules]

    def seconds(engine: str, rule: str) -> list[float]:
        return [next(r for r in b.rules if r["rule"] == rule)["seconds"][engine] for b in benches]

    figure, (times, ratios) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    for engine in engines:
        colour = COLOURS.get(engine)
        per_rule = [seconds(engine, rule) for rule in rules]
        for line in per_rule:
            times.plot(sizes, line, color=colour, alpha=0.18, linewidth=1)
        mean = [geomean([line[k] for line in per_rule]) for k in range(len(sizes))]
        times.plot(sizes, mean, color=colour, linewidth=2.5, marker="o", label=f"{engine} (geometric mean)")
        if engine != "compiled":
            base = [seconds("compiled", rule) for rule in rules]
            ratio = [geomean([per_rule[i][k] / base[i][k] for i in range(len(rules))]) for k in range(len(sizes))]
            ratios.plot(sizes, ratio, color=colour, linewidth=2.5, marker="o", label=f"{engine} / segmint compiled")
            for x, y in zip(sizes, ratio, strict=True):
                ratios.annotate(
                    f"{y:.1f}x" if y < 10 else f"{y:.0f}x",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 7),
                    ha="center",
                    fontsize=8,
                    color=colour,
                )
    times.set(
        xscale="log",
        yscale="log",
        xlabel="contacts",
        ylabel="seconds per rule (median)",
        title=f"time per rule ({len(rules)} rules; faint: each rule)",
    )
    times.grid(True, which="both", alpha=0.3)
    times.legend(loc="upper left", fontsize=9)
    ratios.set(
        xscale="log",
        yscale="log",
        xlabel="contacts",
        ylabel="times slower than segmint compiled",
        title="peer time / segmint compiled time",
    )
    ratios.yaxis.set_major_formatter(ticker.FormatStrFormatter("%gx"))
    ratios.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%gx"))
    ratios.axhline(1, color=COLOURS["compiled"], linewidth=1, linestyle="--")
    ratios.grid(True, which="both", alpha=0.3)
    ratios.legend(loc="lower right", fontsize=9)
    figure.suptitle("segmint bench: demo data, ~26 events per contact", fontsize=11)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
