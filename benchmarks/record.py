"""What one ``segmint bench`` run measures (``Bench``), shared by the run (benchmarks/run.py) and its report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ENGINES = ("compiled", "reference", "duckdb", "polars")
PEER_ENGINES = ("duckdb", "polars")
JSON_FORMAT = "segmint.bench"
JSON_VERSION = 1


@dataclass
class Bench:
    """Everything one run measures at one size; ``to_json`` is the stable document of ``--json``."""

    contacts: int
    events: int = 0
    now: str = ""
    repeat: int = 0
    engines: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)  # phases: generate, load_<engine>, save, open
    memory: dict[str, int] = field(default_factory=dict)  # bytes: store, arrow, peak RSS
    rules: list[dict[str, Any]] = field(default_factory=list)
    batch: dict[str, Any] = field(default_factory=dict)
    cold: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)  # condition counts in a fresh process (profile_cold.py)
    bandwidth: float = 0.0  # bytes/s


def geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")
