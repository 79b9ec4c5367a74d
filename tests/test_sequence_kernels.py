"""Sequences in the fused kernel (compiler/kernels/sequences.py, sequence_scan.py): which are scanned inline, what the
first loop decides about them, and edge cases of the inline scan, every engine and DuckDB agreeing."""

import numpy as np
import pytest
from storebuilder import build_store
from test_sequences import at, buy, clicked, opened, selected, store_of, view

import segmint
from segmint.compiler.kernels.plan import (
    ByNoEvents,
    Negated,
    PropColumn,
    SameCodes,
    SameSize,
    SequenceScan,
    Undecided,
)


def kernel_plan(schema, rule: str, store=None):
    store = store if store is not None else store_of(schema, 2, view(1, at(3)), buy(1, at(2)))
    return segmint.compile(rule, schema).kernel(store).plan


@pytest.mark.parametrize("rule", [
    "viewed category = iPhones within 30d then not bought category = iPhones within 1d",
    "viewed then bought within 7d",
    "opened then clicked within 1h then bought within 7d",
    "count(viewed then bought within 7d) >= 2",
    "opened then clicked within 1d then not bought within 7d",
    "viewed then bought same category within 7d",
    "viewed within 30d then not bought same brand within 1d",
])
def test_sequences_are_scanned_inline(schema, rule):
    plan = kernel_plan(schema, rule)
    (scan,) = plan.sequences
    assert isinstance(scan, SequenceScan) and scan.inline
    assert "scanned inline" in str(plan)


def test_same_keeps_a_table_per_value_only_on_positive_steps(schema):
    positive = segmint.compile("viewed then bought same category within 7d", schema).kernel(store_of(schema, 1))
    assert SameSize(PropColumn("product_view", "category")) in positive.ints
    assert SameCodes(PropColumn("product_view", "category"), PropColumn("purchase", "category")) in positive.arrays
    negated = segmint.compile("viewed then not bought same category within 7d", schema).kernel(store_of(schema, 1))
    assert not any(isinstance(item, SameSize) for item in negated.ints)


NUMBERS = segmint.Schema.from_dict({
    "contacts": {"attributes": {}},
    "events": {
        "a": {"verb": "did_a", "properties": {"x": "int", "s": "string"}},
        "b": {"verb": "did_b", "properties": {"x": "int", "s": "string"}},
    },
})


def numbers_store(*rows):
    a = [dict(id=c, ts=when, x=x, s=s) for kind, c, when, x, s in rows if kind == "a"]
    b = [dict(id=c, ts=when, x=x, s=s) for kind, c, when, x, s in rows if kind == "b"]
    return build_store(NUMBERS, [dict(id=i) for i in range(1, 5)], {"a": a, "b": b})


def test_same_on_a_number_is_left_to_the_generic_scan_before_the_kernel():
    store = numbers_store(("a", 1, at(3), 7, "p"), ("b", 1, at(2), 7, "p"))
    plan = segmint.compile("did_a then did_b same x within 7d", NUMBERS).kernel(store).plan
    (scan,) = plan.sequences
    assert not scan.inline
    assert plan.rules[0].first.node == scan.node  # a load, decided in the first loop
    assert segmint.compile("did_a then did_b same s within 7d", NUMBERS).kernel(store).plan.sequences[0].inline


# (rule, events (kind, contact, time, x, s), contacts expected): same, with nulls and values only one side has
SAME = [
    ("did_a then did_b same s within 7d",
     [("a", 1, at(3), 1, "p"), ("b", 1, at(2), 1, "p"),
      ("a", 2, at(3), 1, None), ("b", 2, at(2), 1, None),  # null is equal to nothing
      ("a", 3, at(3), 1, "q"), ("b", 3, at(2), 1, "z"),  # z: a value only b has
      ("a", 4, at(3), 1, "q"), ("a", 4, at(2.5), 1, "p"), ("b", 4, at(2), 1, "q")], {1, 4}),
    # the latest a of each value: the p at 9 days is too old for the b, the later p is not
    ("did_a then did_b same s within 7d",
     [("a", 1, at(9), 1, "p"), ("a", 1, at(5), 1, "q"), ("b", 1, at(1), 1, "p"),
      ("a", 2, at(9), 1, "p"), ("a", 2, at(5), 1, "p"), ("b", 2, at(1), 1, "p")], {2}),
    # simultaneous a and b of one value: not after
    ("did_a then did_b same s", [("a", 1, at(3), 1, "p"), ("b", 1, at(3), 1, "p")], set()),
    # counted: values of one contact do not leak into the next contact's scan
    ("count(did_a then did_b same s within 7d) >= 2",
     [("a", 1, at(9), 1, "p"), ("b", 1, at(8), 1, "p"), ("a", 1, at(7), 1, "q"), ("b", 1, at(6), 1, "q"),
      ("a", 2, at(9), 1, "p"), ("b", 2, at(8), 1, "p"), ("b", 2, at(6), 1, "q"),
      ("a", 3, at(7), 1, "q"), ("b", 4, at(6), 1, "q")], {1}),
    # negated: only an answer with the view's value counts; a null view is never answered
    ("did_a within 30d then not did_b same s within 1d",
     [("a", 1, at(5), 1, "p"), ("b", 1, at(4.5), 1, "q"), ("a", 2, at(5), 1, "p"), ("b", 2, at(4.5), 1, "p"),
      ("a", 3, at(5), 1, None), ("b", 3, at(4.5), 1, None), ("a", 4, at(5), 1, "p"), ("b", 4, at(4.5), 1, "q"),
      ("b", 4, at(4.2), 1, "p")], {1, 3}),
    # three steps, same on the last
    ("did_a then did_b within 1d then did_a same s within 1d",
     [("a", 1, at(5), 1, "p"), ("b", 1, at(4.5), 1, "q"), ("a", 1, at(4), 1, "q"),
      ("a", 2, at(5), 1, "p"), ("b", 2, at(4.5), 1, "q"), ("a", 2, at(4), 1, "p")], {1}),
]


@pytest.mark.parametrize(("rule", "rows", "expected"), SAME)
def test_same_inline_on_edges(rule, rows, expected):
    assert selected(NUMBERS, numbers_store(*rows), rule) == expected


def test_the_first_loop_decides_contacts_without_a_first_step_event_in_its_window(schema):
    """Only the first step's type and window: a contact's purchases do not keep it from being decided."""
    plan = kernel_plan(schema, "viewed within 30d then not bought within 1d")
    first = plan.rules[0].first
    assert isinstance(first, ByNoEvents)
    ((event, windows),) = first.reads
    assert event == "product_view" and windows == (plan.sequences[0].node.steps[0].events.window,)
    assert plan.costs[plan.sequences[0].node] > 0  # a pass over events, after the cheap conditions


def test_a_sequence_beside_attributes_is_left_to_the_second_loop(schema):
    plan = kernel_plan(schema, "count(viewed then bought within 7d) < 1 or city = Kyiv")  # not (viewed then ...)
    assert plan.rules[0].cheap is not None  # city = Kyiv, decided first
    _, negated = plan.rules[0].first.parts
    assert isinstance(negated, Negated) and isinstance(negated.part, ByNoEvents)
    assert negated.part.node == plan.sequences[0].node
    plan = kernel_plan(schema, "count(viewed then bought within 7d) + age(birth_date) > 40")
    assert isinstance(plan.rules[0].first, Undecided)


def test_a_sequence_twice_is_one_entry(schema):
    plan = kernel_plan(schema, "(viewed then bought within 7d) and not (viewed then bought within 7d)")
    assert len(plan.sequences) == 1


# (rule, events, contacts expected); contacts 1..4
EDGES = [
    # simultaneous events of one step, only one passing the filter
    ("viewed category=iPhones then bought within 7d",
     [view(1, at(3), "Books"), view(1, at(3)), buy(1, at(2)), view(2, at(3), "Books"), buy(2, at(2))], {1}),
    # a purchase at the same microsecond as a later view answers the earlier view only
    ("viewed then bought within 7d", [view(1, at(3)), view(1, at(2)), buy(1, at(2))], {1}),
    # ... and the next occurrence starts strictly after it: not with that later view
    ("count(viewed then bought within 7d) >= 2", [view(1, at(3)), view(1, at(2)), buy(1, at(2)), buy(1, at(1))],
     set()),
    # three equal opens: one occurrence of "opened then opened" at most, and none at all
    ("opened then opened within 1d", [opened(1, at(2)), opened(1, at(2)), opened(1, at(2))], set()),
    # a negated step: an unwanted purchase before a wanted one does not stop the wanted one answering
    ("viewed category=iPhones within 30d then not bought category=iPhones within 1d",
     [view(1, at(5)), buy(1, at(4.8), "Books"), buy(1, at(4.5)), view(2, at(5)), buy(2, at(4.8), "Books")], {2}),
    # the pointer of the negated step moves on: the first view is answered, the second not
    ("viewed within 30d then not bought within 1d", [view(1, at(9)), buy(1, at(8.5)), view(1, at(8)), buy(1, at(6)),
                                                      view(2, at(9)), buy(2, at(8.5)), view(2, at(8)), buy(2, at(7.5))],
     {1}),
    # a view whose day has passed, and a later one whose day has not
    ("viewed within 30d then not bought within 1d", [view(1, at(0.5)), view(2, at(3)), view(2, at(0.5))], {2}),
    # views only before the window, purchases inside it: nothing
    ("viewed within 30d then not bought within 1d", [view(1, at(40)), buy(1, at(10))], set()),
    # the first step's events after now do not start a sequence
    ("viewed then bought", [view(1, at(hours=-2)), buy(1, at(hours=-3))], set()),
    # a later step's events before the first step's window: they cannot follow
    ("viewed within 10d then bought", [buy(1, at(12)), view(1, at(9))], set()),
    # three steps, a negated one: the click's chain, not the open's, is abandoned
    ("opened then clicked within 1d then not bought within 7d",
     [opened(1, at(20)), clicked(1, at(19.5)), buy(1, at(19.8)), opened(2, at(20)), clicked(2, at(19.5)),
      buy(2, at(19))], {1}),
    # count: the later open after a completed pair starts the next occurrence only after the pair's end
    ("count(opened then clicked within 1d) = 2",
     [opened(1, at(5)), opened(1, at(4.9)), clicked(1, at(4.8)), clicked(1, at(4.7)), opened(1, at(3)),
      clicked(1, at(2.9))], {1}),
    # count compared so that contacts without events are in
    ("count(viewed then bought within 7d) < 1", [view(1, at(3)), buy(1, at(2)), view(2, at(3))], {2, 3, 4}),
    ("count(viewed then bought within 7d) < 1 or city = Kyiv", [view(1, at(3)), buy(1, at(2))], {2, 3, 4}),
]


@pytest.mark.parametrize(("rule", "events", "expected"), EDGES)
def test_inline_scans_on_edges(schema, rule, events, expected):
    assert selected(schema, store_of(schema, 4, *events), rule) == expected


def test_a_batch_sharing_a_sequence_agrees_with_the_reference(schema):
    store = store_of(schema, 4, view(1, at(9)), buy(1, at(8.5)), view(2, at(9)), view(3, at(1)), buy(3, at(0.5)),
                     opened(2, at(3)), clicked(2, at(3, hours=-0.5)))
    rules = ["viewed within 30d then not bought within 1d", "viewed then bought within 1d",
             "(viewed within 30d then not bought within 1d) and opened then clicked within 1h",
             "count(viewed then bought within 1d) = 1"]
    segments = [segmint.compile(rule, schema) for rule in rules]
    together = segmint.evaluate_many(segments, store, now=at(), engine="compiled")
    for segment, result in zip(segments, together, strict=True):
        alone = segment.evaluate(store, now=at(), engine="reference")
        assert np.array_equal(result.mask, alone.mask), segment.text
    assert [r.count for r in together] == [1, 2, 1, 2]
