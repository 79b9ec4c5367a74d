"""pytest-benchmark timings of the compiled kernels: one benchmark per suite rule, the whole suite through
``evaluate_many``, and the reference engine on one rule for contrast.

Run them with::

    python -m pytest benchmarks/test_kernels.py --benchmark-only

``--benchmark-only`` overrides the ``--benchmark-skip`` that pyproject's ``addopts`` adds to every run
(pytest-benchmark's help: "Only run benchmarks. This overrides --benchmark-skip"), and naming the file overrides
``testpaths = tests``; a plain ``python -m pytest`` never runs these. Add
``--benchmark-columns=min,median,mean,stddev,rounds`` for a narrower table.

The store has CONTACTS demo contacts (``runtime/demo.py``, ~26 events each), generated in memory once per module:
small enough for CI, large enough that each kernel runs on all of Numba's threads (``compiled.MIN_PER_THREAD``). It
fits in the CPU caches, so these times are not memory-bound; benchmarks/bound.py's bound is for large stores.

What is timed is ``Segment.evaluate(..., engine="compiled")`` as a user calls it: binding ``now`` and parameters,
gathering the kernel's inputs, and the kernel on the thread pool. Compilation is not timed: each test evaluates once
before timing, which compiles the kernel (or loads it from segmint's disk cache), and checks that answer against the
reference engine's, so no benchmark can pass with a wrong answer.
"""

from __future__ import annotations

import numpy as np
import pytest

import segmint
from segmint.benchmarks.bound import bytes_read
from segmint.runtime.demo import demo_schema, generate
from segmint.runtime.store import Store

CONTACTS = 50_000

SUITE = {
    "example": "opened > 2 within 90d and (ios_open or bought brand=Apple)",
    "churn": "bought and not bought within 90d",
    "engaged": "opened within 30d or clicked within 30d",
    "semi_engaged": "(opened within 90d or clicked within 90d) and not engaged",
    "value": "sum(bought.amount within 365d) > 500 and avg(bought.amount within 365d) > 100",
    "demographic": "gender = f and city in (Kyiv, Lviv) and age(birth_date) between 25 and 40",
    "newcomers": "created_at within 30d and not bought",
    "parametric": "viewed category=$category within $days and not bought category=$category",
}
PARAMS = {"category": "Laptops", "days": "14d"}  # the parametric rule's; the others take none


@pytest.fixture(scope="module")
def demo():
    """(store, now) of the demo data set, built once for every benchmark of this module."""
    data = generate(CONTACTS)
    return Store.from_arrow(data.contacts, data.events, demo_schema()), data.now


def _params(segment: segmint.Segment) -> dict | None:
    return {name: PARAMS[name] for name in segment.params} or None


def _reference(segment: segmint.Segment, store: Store, now) -> np.ndarray:
    return segment.evaluate(store, now, _params(segment), engine="reference").mask


@pytest.mark.parametrize("name", SUITE)
def test_rule(benchmark, demo, name: str) -> None:
    store, now = demo
    segment = segmint.compile(SUITE[name], store.schema)
    params = _params(segment)
    warm = segment.evaluate(store, now, params, engine="compiled")  # compiles or loads the kernel: not timed
    assert np.array_equal(warm.mask, _reference(segment, store, now)), f"{name}: compiled != reference"
    benchmark.group = "compiled, one rule"
    benchmark.extra_info.update(rule=segment.text, matched=warm.count)
    benchmark.extra_info["bytes_read"] = bytes_read(segment, store, now, params)  # the bound, for saved results
    result = benchmark(segment.evaluate, store, now, params, engine="compiled")
    assert result.engine == "compiled"


def test_suite_evaluate_many(benchmark, demo) -> None:
    store, now = demo
    segments = [segmint.compile(rule, store.schema) for rule in SUITE.values()]
    warm = segmint.evaluate_many(segments, store, now, PARAMS, engine="compiled")
    for name, segment, result in zip(SUITE, segments, warm, strict=True):
        assert np.array_equal(result.mask, _reference(segment, store, now)), f"{name}: evaluate_many != reference"
    benchmark.group = "compiled, whole suite"
    benchmark.extra_info.update(rules=len(segments), bytes_read=bytes_read(segments, store, now, PARAMS))
    benchmark(segmint.evaluate_many, segments, store, now, PARAMS, engine="compiled")


def test_reference_engine(benchmark, demo) -> None:
    """The numpy reference evaluator on the first suite rule, for contrast with its compiled kernel."""
    store, now = demo
    segment = segmint.compile(SUITE["example"], store.schema)
    benchmark.group = "reference, one rule"
    benchmark.extra_info.update(rule=segment.text)
    result = benchmark(segment.evaluate, store, now, engine="reference")
    assert np.array_equal(result.mask, segment.evaluate(store, now, engine="compiled").mask)
