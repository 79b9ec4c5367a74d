"""Kernels of bounded size (runtime/engines/kernel_batches.py): a rule or a batch over the budget is cut into kernels
within it, repeated shapes share one kernel, what cannot be cut goes to the vector engine, and answers never change."""

import numpy as np
import pytest
from data import CASES, CONTACTS, EVENTS, NOW
from storebuilder import build_store

import segmint
from segmint.runtime.engines import kernel_batches
from segmint.runtime.engines.compiled import COMPILED
from segmint.runtime.engines.kernel_batches import cost

BIG_RULE = " or ".join(
    f"(bought brand = {brand} within {days}d and not viewed category = iPhones > {k} times)"
    for k, (brand, days) in enumerate([("Apple", 30), ("Sony", 400), ("Samsung", 20), ("Penguin", 365)] * 3)
)


@pytest.fixture(scope="module")
def store(schema):
    return build_store(schema, CONTACTS, EVENTS)


@pytest.fixture
def kernels_run(monkeypatch) -> list[tuple]:
    """The plans of every kernel the compiled engine runs during a test."""
    runs, run = [], COMPILED.kernels.run

    def spy(plans, *args, **kwargs):
        runs.append(plans)
        return run(plans, *args, **kwargs)

    monkeypatch.setattr(COMPILED.kernels, "run", spy)
    return runs


def reference(segment, store):
    return segment.evaluate(store, now=NOW, engine="reference").mask


@pytest.mark.parametrize("budget", [40, 120])
def test_every_table_case_in_kernels_of_a_small_budget(schema, store, monkeypatch, kernels_run, budget):
    """With a budget smaller than many rules, every rule of the table, alone and all in one batch, is cut into
    kernels within it and gives the reference's answer."""
    monkeypatch.setattr(kernel_batches, "KERNEL_BUDGET", budget)
    segments = [segmint.compile(rule, schema) for rule, _ in CASES]
    for segment in segments:
        result = segment.evaluate(store, now=NOW, engine="compiled")
        assert np.array_equal(result.mask, reference(segment, store)), segment.text
        assert result.engine == ("compiled" if _cuttable(segment.rule.plan, budget) else "vector"), segment.text
    for segment, result in zip(
        segments, segmint.evaluate_many(segments, store, now=NOW, engine="compiled"), strict=True
    ):
        assert np.array_equal(result.mask, reference(segment, store)), segment.text
    assert kernels_run and all(sum(map(cost, plans)) <= budget for plans in kernels_run)


def _cuttable(plan, budget) -> bool:
    """Whether cutting at and/or/not brings every part within the budget."""
    if cost(plan) <= budget:
        return True
    if isinstance(plan, segmint.compiler.ir.Not):
        return _cuttable(plan.operand, budget)
    if isinstance(plan, segmint.compiler.ir.And | segmint.compiler.ir.Or):
        return all(_cuttable(item, budget) for item in plan.items)
    return False


def test_a_rule_over_the_budget_is_cut_at_its_and_or_not(schema, store, kernels_run):
    segment = segmint.compile(BIG_RULE, schema)
    assert cost(segment.rule.plan) > kernel_batches.KERNEL_BUDGET
    for rule in (BIG_RULE, f"not ({BIG_RULE})", f"city = Kyiv and ({BIG_RULE})"):
        segment = segmint.compile(rule, schema)
        kernels_run.clear()
        result = segment.evaluate(store, now=NOW, engine="compiled")
        assert result.engine == "compiled" and np.array_equal(result.mask, reference(segment, store)), rule
        assert len(kernels_run) > 1
        assert all(sum(map(cost, plans)) <= kernel_batches.KERNEL_BUDGET for plans in kernels_run)


def test_what_cannot_be_cut_goes_to_the_vector_engine(schema, store, monkeypatch, kernels_run):
    """A single condition over the budget (here: the budget is 3) is answered by the vector engine, with
    ``compiled`` and with ``auto``, which starts no background compile for it."""
    monkeypatch.setattr(kernel_batches, "KERNEL_BUDGET", 3)
    segment = segmint.compile("loyalty_points in (0, 5, 7) or city = Kyiv", schema)
    started = []
    monkeypatch.setattr(COMPILED.kernels, "compile_in_background", lambda plans, *args: started.append(plans))
    for engine in ("compiled", "auto"):
        result = segment.evaluate(store, now=NOW, engine=engine)
        assert result.engine == "vector" and np.array_equal(result.mask, reference(segment, store))
    assert [plan for plans in kernels_run + started for plan in plans] == [segment.rule.plan.items[1]] * 2


def test_a_batch_over_the_budget_compiles_a_kernel_per_shape(schema, store, monkeypatch, kernels_run):
    """Segments of one shape, differing in values, share a kernel run once per value set; the others are packed
    into kernels within the budget."""
    monkeypatch.setattr(kernel_batches, "KERNEL_BUDGET", 100)
    cities = ["Kyiv", "Lviv"] * 4
    repeated = [f"opened > {k + 1} within {7 * (k + 1)}d and city = {city}" for k, city in enumerate(cities)]
    others = ["bought brand = Apple", "tags has vinyl", "avg(bought.amount) > 100", "gender = f"]
    segments = [segmint.compile(rule, schema) for rule in repeated + others]
    results = segmint.evaluate_many(segments, store, now=NOW, engine="compiled")
    for segment, result in zip(segments, results, strict=True):
        assert result.engine == "compiled" and np.array_equal(result.mask, reference(segment, store)), segment.text
    shared = {s.rule.plan for s in segments[: len(repeated)]}
    value_sets = [plans for plans in kernels_run if set(plans) <= shared]
    packs = [plans for plans in kernels_run if not set(plans) & shared]
    assert len(value_sets) == len(repeated) and len(value_sets) + len(packs) == len(kernels_run)
    assert len({COMPILED.kernels.kernel_for(plans, store).source for plans in value_sets}) == 1  # one kernel
    # the other four packed into kernels within the budget (where packs are cut depends on their shapes' hashes)
    assert sorted(map(repr, (plan for plans in packs for plan in plans))) == sorted(
        repr(s.rule.plan) for s in segments[len(repeated) :]
    )
    assert all(sum(kernel_batches.cost(plan) for plan in plans) <= 100 for plans in packs) and len(packs) <= len(others)


def test_a_batch_within_the_budget_is_one_kernel(schema, store, kernels_run):
    segments = [segmint.compile(rule, schema) for rule, _ in CASES[:8]]
    assert sum(cost(s.rule.plan) for s in segments) <= kernel_batches.KERNEL_BUDGET
    segmint.evaluate_many(segments, store, now=NOW, engine="compiled")
    assert kernels_run == [tuple(s.rule.plan for s in segments)]


def test_the_compile_cost_benchmark_rules_are_cut_within_the_budget(schema):
    """The rules of benchmarks/compile_cost.py compile, and the largest is cut into parts within the budget."""
    from segmint.benchmarks.compile_cost import or_rule, template_rules

    templates = [segmint.compile(rule, schema).rule.plan for rule in template_rules(14)]
    work = kernel_batches.split((segmint.compile(or_rule(1000), schema).rule.plan, *templates))
    assert len(work.parts) > 1000 // 40 and not work.oversized()


def test_packs_of_shapes_met_once_stay_put_when_one_part_changes():
    """Editing, adding or removing one segment of a shape of its own recompiles its pack and at worst a few neighbours
    (content-defined cuts), never every pack after it; and packs do not depend on the order of the parts."""
    r = np.random.default_rng(1)
    costs = [int(c) for c in r.integers(10, 80, 300)]
    names = [f"shape-{k}-{r.random()}" for k in range(len(costs))]

    def packs(keep: list[int]) -> set[frozenset[str]]:
        work = kernel_batches.Work(keep, [costs[k] for k in keep], list(range(len(keep))))
        batches = kernel_batches.kernel_batches(work, lambda part: names[part])
        assert all(sum(costs[keep[i]] for i in b) <= kernel_batches.KERNEL_BUDGET for b in batches)
        return {frozenset(names[keep[i]] for i in b) for b in batches}

    everything = list(range(len(costs)))
    whole = packs(everything)
    assert packs(list(r.permutation(everything))) == whole
    changed = [len(whole - packs([k for k in everything if k != dropped])) for dropped in everything]
    assert len(whole) > 50 and max(changed) <= 6 and np.mean(changed) < 2
