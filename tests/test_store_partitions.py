"""Evaluation partition by partition (runtime/engines/partitions.py): every engine, ``evaluate_many``, ``explain``
and ``profile`` take a saved store (or its ``parts()``) and answer exactly as the store it was made from, with rows
in partition order; population measures rank among all contacts, not within a partition."""


import numpy as np
import pytest
from changes import NOW, random_model
from data import PARTITION_RULES
from fuzzgen import SCHEMA

import segmint
from segmint.compiler import ir
from segmint.runtime.engines.partitions import rank_rounds
from segmint.runtime.store.parts import Partitions

RULES = PARTITION_RULES
ENGINES = ("reference", "vector", "compiled", "auto")


@pytest.fixture(scope="module")
def model():
    return random_model(SCHEMA, 11, 60, 150)


@pytest.fixture(scope="module", params=[1, 3, 8])
def saved(request, model, tmp_path_factory):
    return segmint.SavedStore.create(tmp_path_factory.mktemp("s") / "s", model.store(), partitions=request.param)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("rule", RULES)
def test_every_engine_answers_over_partitions_as_over_the_whole_store(model, saved, rule, engine):
    segment = segmint.compile(rule, SCHEMA)
    whole = segment.evaluate(model.store(), now=NOW, engine="reference")
    by_parts = segment.evaluate(saved, now=NOW, engine=engine)
    assert isinstance(by_parts.store, Partitions)
    assert sorted(by_parts.ids().tolist()) == sorted(whole.ids().tolist())
    assert by_parts.count == whole.count
    laid_out = segment.evaluate(saved.snapshot(), now=NOW, engine="reference")
    assert np.array_equal(by_parts.mask, laid_out.mask)  # rows in partition order, as the snapshot's
    assert by_parts.engine in {"reference", "vector", "compiled"}


def test_ranks_are_among_all_contacts_not_within_a_partition(model, saved):
    rule = "percentile(sum(bought.amount)) >= 80"
    whole = segmint.compile(rule, SCHEMA).evaluate(model.store(), now=NOW, engine="reference")
    assert 0 < whole.count < len(model.store())  # a cut that partitions ranked alone would place elsewhere
    for k in range(saved.partitions):
        alone = segmint.compile(rule, SCHEMA).evaluate(saved.partition(k), now=NOW, engine="reference")
        if saved.partitions > 1 and set(alone.ids().tolist()) != set(whole.ids().tolist()) & set(
                saved.partition(k).ids.tolist()):
            break
    else:
        assert saved.partitions == 1, "no partition ranks differently alone: the test data cannot tell"
    got = segmint.compile(rule, SCHEMA).evaluate(saved.parts(), now=NOW, engine="compiled")
    assert sorted(got.ids().tolist()) == sorted(whole.ids().tolist())


def test_evaluate_many_over_partitions_gives_each_segments_answer_in_order(model, saved):
    segments = [segmint.compile(rule, SCHEMA) for rule in RULES]
    for engine in ENGINES:
        results = segmint.evaluate_many(segments, saved, now=NOW, engine=engine)
        for segment, result in zip(segments, results, strict=True):
            expected = segment.evaluate(model.store(), now=NOW, engine="reference")
            assert sorted(result.ids().tolist()) == sorted(expected.ids().tolist()), (segment.text, engine)


@pytest.mark.parametrize("rule", [RULES[1], RULES[4]])
def test_explain_and_profile_take_a_saved_store(model, saved, rule):
    segment = segmint.compile(rule, SCHEMA)
    whole = model.store()
    for contact in (1, 17, 60):
        assert str(segment.explain(saved, contact, now=NOW)) == str(segment.explain(whole, contact, now=NOW))
    assert segment.profile(saved, now=NOW).to_dict() == segment.profile(whole, now=NOW).to_dict()


def test_a_measure_inside_another_is_ranked_first_and_once():
    plans = (segmint.compile(RULES[7], SCHEMA).rule.plan, segmint.compile(RULES[4], SCHEMA).rule.plan)
    rounds, rewritten = rank_rounds(plans, SCHEMA)
    assert [type(r.node).__name__ for r in rounds] == ["Rank", "Rank"]
    assert rounds[0].name in {n.name for n in ir.walk(rounds[1].node) if isinstance(n, ir.Attr)}  # the outer
    # measure reads the inner one's ranks; the plans read both as columns
    assert not any(isinstance(n, ir.Rank | ir.Rfm) for plan in rewritten for n in ir.walk(plan))
    assert {n.name for plan in rewritten for n in ir.walk(plan) if isinstance(n, ir.Attr)} >= {r.name for r in rounds}


def test_a_live_refresh_takes_a_saved_store(model, saved):
    rules = {"spenders": RULES[3], "top": RULES[4]}
    with segmint.Registry(":memory:", SCHEMA) as registry:
        for name, rule in rules.items():
            registry.add(name, rule)
        registry.refresh(saved, now=NOW)
        for name, rule in rules.items():
            expected = segmint.compile(rule, SCHEMA).evaluate(model.store(), now=NOW, engine="reference")
            assert sorted(registry.members(name)) == sorted(expected.ids().tolist())
