"""``segmint bench`` end to end on a tiny demo data set: every engine answers every rule of the suite, and they agree.

This is a correctness test of the benchmark's DuckDB and Polars queries (benchmarks/suite.py) and of segmint's
engines against them: the harness raises ``MismatchError`` when any answer differs from segmint compiled's, so this
test fails then. It also checks that the mismatch check itself can fail, and that the JSON document and the plot
come out. The fresh-process phase is left to ``segmint bench`` itself: it compiles every kernel twice from an empty
cache, which would take most of this file's time budget.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

pytest.importorskip("duckdb")
pytest.importorskip("polars")

from segmint.benchmarks import run
from segmint.benchmarks.suite import SUITE

CONTACTS = 3000


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bench")
    options = run.Options(
        contacts=CONTACTS,
        repeat=1,
        cache_dir=folder / "data",
        cold=False,
        bandwidth_gib=0.05,
        json_path=folder / "bench.json",
    )
    out, err = io.StringIO(), io.StringIO()
    document = run.run(options, Console(file=out, width=200), Console(file=err, width=200))
    document["printed"] = out.getvalue()
    document["written"] = json.loads(options.json_path.read_text(encoding="utf-8"))
    return document


def test_every_engine_answers_every_rule(document):
    assert [row["rule"] for row in document["rules"]] == [rule.name for rule in SUITE]
    for row in document["rules"]:
        assert set(row["seconds"]) == {"compiled", "reference", "duckdb", "polars"}, row["rule"]
        assert row["bound"]["bytes"] > 0
    # Rules that find nobody would agree trivially: on this data every rule finds someone.
    assert all(row["count"] > 0 for row in document["rules"])


def test_report_and_json(document):
    printed = document["printed"]
    for rule in SUITE:
        assert rule.name in printed
    assert "PASS" in printed or "MISS" in printed
    written = document["written"]
    assert written["format"] == "segmint.bench" and written["contacts"] == CONTACTS
    goals = {goal["goal"] for goal in written["goals"]}
    assert {"compiled vs DuckDB, geometric mean", "Store.open of the saved store"} <= goals
    # a sequence against the single conditions over its event types (issue 13), timed beside it
    abandonment = next(row for row in written["rules"] if row["rule"] == "abandonment")
    assert set(abandonment["baselines"]) == {"viewed category=iPhones within 30d", "bought category=iPhones"}
    assert "abandonment vs its slowest single condition (viewed category=iPhones within 30d)" in goals or (
        "abandonment vs its slowest single condition (bought category=iPhones)" in goals)
    assert written["batch"]["seconds"] > 0


def test_a_wrong_answer_fails_the_run():
    rule = SUITE[0]
    expected = np.array([1, 2, 3, 5])
    run.check(rule, "duckdb", np.array([3, 2, 1, 5, 5]), expected)  # any order, duplicates: the same set
    with pytest.raises(run.MismatchError, match=r"'example'.*only in duckdb: 1 \(e\.g\. \[4\]\).*: 1 \(e\.g\. \[5\]\)"):
        run.check(rule, "duckdb", np.array([1, 2, 3, 4]), expected)


def test_scaling_plot(tmp_path):
    from segmint.benchmarks.scaling import plot

    def bench(contacts: int, factor: float) -> run.Bench:
        rows = [{"rule": rule.name, "seconds": {"compiled": factor * 0.001, "duckdb": factor * 0.02}} for rule in SUITE]
        return run.Bench(contacts, engines=("compiled", "duckdb"), rules=rows)

    path = tmp_path / "scaling.png"
    plot([bench(1000, 1.0), bench(10_000, 9.0)], path)
    assert path.read_bytes().startswith(b"\x89PNG")
