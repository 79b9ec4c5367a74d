"""``segmint bench --live`` end to end at a tiny size: the registry's three refreshes are timed stage by stage, and
DuckDB's entered/left on the sample equal segmint's at every refresh (the harness raises ``MismatchError``
otherwise, so this test fails then). Speed is for the benchmark itself, never asserted here."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

pytest.importorskip("duckdb")

from segmint.benchmarks import live
from segmint.benchmarks.run import MismatchError


@pytest.fixture(scope="module")
def kernels(tmp_path_factory) -> Path:
    """One kernel cache for the module's runs: the first starts from an empty one, the others find its kernels."""
    return tmp_path_factory.mktemp("live-bench-kernels")


@pytest.fixture(scope="module")
def document(tmp_path_factory, kernels) -> dict:
    folder = tmp_path_factory.mktemp("live-bench")
    options = live.Options(contacts=2000, segments=60, sample=15, cache_dir=folder / "data",
                           json_path=folder / "live.json", kernel_cache=kernels)
    out = io.StringIO()
    document = live.run(options, Console(file=out, width=200), Console(file=io.StringIO(), width=200))
    document["printed"] = out.getvalue()
    document["written"] = json.loads(options.json_path.read_text(encoding="utf-8"))
    document["markdown"] = options.json_path.with_suffix(".md").read_text(encoding="utf-8")
    return document


def test_three_refreshes_stage_by_stage(document):
    refreshes = document["refreshes"]
    assert list(refreshes) == ["first", "same", "later"]
    for refresh in refreshes.values():
        assert set(refresh["seconds"]) == {"kernels", "evaluate", "next", "diff", "commit", "callbacks", "total"}
        assert refresh["errors"] == 0
    assert refreshes["first"]["entered"] > 0 and refreshes["first"]["left"] == 0
    assert refreshes["same"]["entered"] == refreshes["same"]["left"] == 0  # nothing new, nothing moves
    assert refreshes["later"]["entered"] + refreshes["later"]["left"] > 0  # a day later windows slid
    assert document["membership_bytes"] > 0 and document["registry_file_bytes"] > 0


def test_a_cold_start_then_the_kernels_compiled(document):
    """The first refresh of a new deployment (no kernel compiled: the harness checked its entered/left against the
    refresh with every kernel compiled), and how many kernels compiled in the background."""
    cold = document["cold"]
    assert cold["kernels_in_cache"] == 0 and cold["kernels_compiled"] > 0
    assert cold["refresh"]["entered"] == document["refreshes"]["first"]["entered"] > 0
    assert cold["kernels_ready_seconds"] >= cold["refresh"]["seconds"]["total"]
    assert "no kernel compiled" in document["markdown"] and "kernels:" in document["printed"]


def test_the_registry_has_every_kind_of_segment():
    segments, split = live.registry_segments(1000)
    names = [s.name for s in segments]
    assert len(names) == len(set(names)) == 1000 and len(split) == 20
    assert {n.split("_")[0] for n in names} >= {"engaged", "semi", "churned", "value", "newcomers", "browsed",
                                                 "frequent", "fans", "demographic", "derived", "browse"}
    assert sum(bool(s.params) for s in segments) == 40 and sum(bool(s.uses) for s in segments) == 60


def test_duckdb_sample_and_goals_are_reported(document):
    sample = document["sample"]
    assert len(sample["segments"]) == 15
    assert set(sample["refreshes"]) == {"first", "same", "later"}
    assert [g["goal"] for g in document["goals"]] == [
        "first refresh of 60 segments, no kernel compiled",
        "first refresh of 60 segments, no kernel compiled (stretch)",
        "first refresh of 60 segments, kernels compiled", "first refresh of 60 segments, kernels compiled (stretch)",
        "refresh at the same now, nothing new", "membership of 60 segments on disk"]
    assert "PASS" in document["printed"] or "MISS" in document["printed"]
    assert "DuckDB" in document["markdown"] and "| first, kernels compiled |" in document["markdown"]
    assert document["written"]["refreshes"] == document["refreshes"]


def test_a_duckdb_answer_that_differs_stops_the_run(tmp_path, monkeypatch, kernels):
    """The check can fail: DuckDB's query for one template made wrong (its windows a day longer)."""
    original = live._template

    def wrong(kind, r):
        text, sql = original(kind, r)
        return (text, sql.replace(" DAY", " DAY - INTERVAL 1 DAY")) if kind == "engaged" else (text, sql)

    monkeypatch.setattr(live, "_template", wrong)
    options = live.Options(contacts=2000, segments=60, sample=60, cache_dir=tmp_path / "data", kernel_cache=kernels)
    with pytest.raises(MismatchError, match="engaged"):
        live.run(options, Console(file=io.StringIO()), Console(file=io.StringIO()))
