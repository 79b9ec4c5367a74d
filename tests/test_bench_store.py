"""``python -m segmint.benchmarks.store`` end to end on a tiny demo data set: the 5% held back is appended and seen,
the store with its delta and the compacted store answer the suite alike, and the report names every goal."""

import numpy as np
import pytest

import segmint
from segmint.benchmarks import store as bench
from segmint.benchmarks.suite import SUITE, batch_params
from segmint.runtime.demo import demo_schema, generate


def test_the_held_back_delta_splits_every_table_and_the_batches_cover_it():
    data = generate(2000, seed=3)
    base, delta = bench.held_back(data.events, 3)
    for name, table in data.events.items():
        assert base[name].num_rows + delta[name].num_rows == table.num_rows
    batches = bench.batches(delta)
    assert sum(t.num_rows for b in batches for t in b.values()) == sum(t.num_rows for t in delta.values())


def test_the_store_benchmark_runs_and_its_stores_answer_as_the_whole_data(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "BATCH_EVENTS", 2000)  # several appends even on tiny data
    results = bench.run(3000, 3, 1, 5, tmp_path, log=lambda text: None)
    assert results["append"]["batches"] > 1 and results["append"]["events"] > 0
    assert set(results["goals"]) == {"append >= 1M events/s", "suite with 5% delta <= 1.3x compacted",
                                     "compaction <= build from Parquet"}
    assert "goal" in bench.report(results)
    data = generate(3000, seed=5)
    whole = segmint.Store.from_arrow(data.contacts, data.events, demo_schema())
    saved = segmint.SavedStore.open(tmp_path / "store")
    segments = [segmint.compile(rule.text, whole.schema) for rule in SUITE]
    for a, b in zip(segmint.evaluate_many(segments, whole, now=data.now, params=batch_params(), engine="vector"),
                    segmint.evaluate_many(segments, saved.snapshot(), now=data.now, params=batch_params(),
                                          engine="vector"), strict=True):
        assert np.array_equal(np.sort(a.ids()), np.sort(b.ids()))


def test_the_scaling_measurement_covers_every_partition_count_and_plots(tmp_path):
    results = bench.scale(1500, 3, 1, 5, tmp_path, log=lambda text: None, keep=3)
    assert [p["partitions"] for p in results["points"]] == [1, 2, 3]
    assert [p["contacts"] for p in results["points"]] == [1500, 3000, 4500]
    assert all(p["seconds"] == pytest.approx(sum(q["partition_seconds"] for q in results["points"][:k + 1]))
               for k, p in enumerate(results["points"]))
    ids = np.concatenate([segmint.Store.open(tmp_path / f"part-{k}").ids for k in range(3)])
    assert len(np.unique(ids)) == 4500  # ids offset: no contact twice
    assert "per million contacts" in bench.scale_report(results)
    bench.plot_scale(results, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:4] == b"\x89PNG"


def test_the_scaling_measurement_keeps_only_the_last_partitions_on_disk(tmp_path):
    bench.scale(1000, 3, 1, 5, tmp_path, log=lambda text: None, keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-2"]


def test_the_scaling_measurement_can_evaluate_all_partitions_so_far_together(tmp_path):
    results = bench.scale(1000, 2, 1, 5, tmp_path, log=lambda text: None, keep=2, together=True)
    assert [p["contacts"] for p in results["points"]] == [1000, 2000]
    assert results["points"][1]["seconds"] == pytest.approx(sum(p["partition_seconds"] for p in results["points"]))
    assert "together" in bench.scale_report(results)
