"""A registry's refresh and the compiled kernels (runtime/live/refresh.py): ``auto`` runs the cached kernels and answers
for the rest with the vector engine; ``wait_for_kernels`` compiles them first, so the refresh runs kernels only. The
memberships are the same either way."""

import pytest
from data import NOW, live_store

import segmint
from segmint.runtime.engines.compiled import COMPILED, KernelCache

RULES = {
    "recent": "opened within 7d",
    "quiet": "not opened within 30d",
    "big": "sum(bought.amount within 90d) > 100 or tags has vinyl",
}


@pytest.fixture
def fresh_kernels(monkeypatch, tmp_path):
    """An empty kernel cache, on disk and in this process (as a new deployment has)."""
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path / "kernels"))
    monkeypatch.setattr(COMPILED, "kernels", KernelCache())


def refreshed(schema, store, **options) -> dict[str, set]:
    with segmint.Registry(":memory:", schema) as registry:
        for name, rule in RULES.items():
            registry.add(name, rule)
        report = registry.refresh(store, now=NOW, **options)
        assert not [s.error for s in report.segments if s.error]
        return {name: set(registry.members(name)) for name in RULES}, report


def test_waiting_for_kernels_compiles_them_first_and_changes_no_membership(schema, fresh_kernels):
    store = live_store(schema=schema)
    expected, _ = refreshed(schema, store, engine="reference")
    got, report = refreshed(schema, store, wait_for_kernels=True)
    assert got == expected
    assert report.seconds["kernels"] > 0
    segments = [segmint.compile(RULES[name], schema) for name in sorted(RULES)]  # the refresh's batch: in name order
    assert {r.engine for r in segmint.evaluate_many(segments, store, now=NOW)} == {"compiled"}  # all ready now


def test_without_waiting_the_vector_engine_answers_while_kernels_compile(schema, fresh_kernels):
    store = live_store(schema=schema)
    expected, _ = refreshed(schema, store, engine="reference")
    got, report = refreshed(schema, store)
    COMPILED.kernels.wait_for_background()
    assert got == expected and report.seconds["kernels"] == 0
