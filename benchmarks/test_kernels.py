"""pytest-benchmark timings of the compiled kernels: one benchmark per rule of benchmarks/suite.py, the whole suite
through ``evaluate_many``, and the reference engine on one rule for contrast.

Run them with::

    python -m pytest benchmarks/test_kernels.py --benchmark-only

``--benchmark-only`` overrides the ``--benchmark-skip`` that pyproject's ``addopts`` adds to every run
(pytest-benchmark's help: "Only run benchmarks. This overrides --benchmark-skip"), and naming the file overrides
``testpaths = tests``; a plain ``python -m pytest`` never runs these. Add
``--benchmark-columns=min,median,mean,stddev,rounds`` for a narrower table. The rules come from benchmarks/suite.py,
which imports Polars (in the test and bench extras).

The store has CONTACTS demo contacts (``runtime/demo/generator.py``, ~26 events each), generated in memory once per
module: small enough for CI, large enough that each kernel runs on all of Numba's threads (``threads.MIN_PER_THREAD``).
It fits in the CPU caches, so these times are not memory-bound; benchmarks/bound.py's bound is for large stores.

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
from segmint.benchmarks.suite import SUITE, batch_params
from segmint.runtime.demo.generator import demo_schema, generate
from segmint.runtime.store.columns import Store

CONTACTS = 50_000
RULES = {rule.name: rule for rule in SUITE}  # benchmarks/suite.py: the rules the whole benchmark compares


@pytest.fixture(scope="module")
def demo():
    """(store, now) of the demo data set, built once for every benchmark of this module."""
    data = generate(CONTACTS)
    return Store.from_arrow(data.contacts, data.events, demo_schema()), data.now


def _reference(segment: segmint.Segment, store: Store, now, params: dict | None) -> np.ndarray:
    return segment.evaluate(store, now, params, engine="reference").mask


@pytest.mark.parametrize("name", RULES)
def test_rule(benchmark, demo, name: str) -> None:
    store, now = demo
    segment = segmint.compile(RULES[name].text, store.schema)
    params = dict(RULES[name].params) or None
    warm = segment.evaluate(store, now, params, engine="compiled")  # compiles or loads the kernel: not timed
    assert np.array_equal(warm.mask, _reference(segment, store, now, params)), f"{name}: compiled != reference"
    benchmark.group = "compiled, one rule"
    benchmark.extra_info.update(rule=segment.text, matched=warm.count)
    benchmark.extra_info["bytes_read"] = bytes_read(segment, store, now, params)  # the bound, for saved results
    result = benchmark(segment.evaluate, store, now, params, engine="compiled")
    assert result.engine == "compiled"


def test_suite_evaluate_many(benchmark, demo) -> None:
    store, now = demo
    segments = [segmint.compile(rule.text, store.schema) for rule in SUITE]
    params = batch_params()
    warm = segmint.evaluate_many(segments, store, now, params, engine="compiled")
    for rule, segment, result in zip(SUITE, segments, warm, strict=True):
        expected = _reference(segment, store, now, dict(rule.params) or None)
        assert np.array_equal(result.mask, expected), f"{rule.name}: evaluate_many != reference"
    benchmark.group = "compiled, whole suite"
    benchmark.extra_info.update(rules=len(segments), bytes_read=bytes_read(segments, store, now, params))
    benchmark(segmint.evaluate_many, segments, store, now, params, engine="compiled")


def test_reference_engine(benchmark, demo) -> None:
    """The numpy reference evaluator on the first suite rule, for contrast with its compiled kernel."""
    store, now = demo
    segment = segmint.compile(RULES["example"].text, store.schema)
    benchmark.group = "reference, one rule"
    benchmark.extra_info.update(rule=segment.text)
    result = benchmark(segment.evaluate, store, now, engine="reference")
    assert np.array_equal(result.mask, segment.evaluate(store, now, engine="compiled").mask)
