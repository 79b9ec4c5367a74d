"""The language by example: every rule of the language issue selects the contacts it must from the hand-checked
store of tests/data.py, on every engine."""


import pytest
from data import CASES, CONTACTS, EVENTS, NOW
from storebuilder import build_store

import segmint


@pytest.fixture(scope="module")
def store(schema):
    return build_store(schema, CONTACTS, EVENTS)


@pytest.mark.parametrize("engine", ["compiled", "vector", "reference"])
@pytest.mark.parametrize(("rule", "expected"), CASES, ids=[rule for rule, _ in CASES])
def test_rule_selects(schema, store, rule, expected, engine):
    result = segmint.compile(rule, schema).evaluate(store, now=NOW, engine=engine)
    assert set(result.ids().tolist()) == expected


@pytest.mark.parametrize("engine", ["compiled", "vector", "reference"])
@pytest.mark.parametrize(
    ("params", "expected"),
    [({"category": "iPhones"}, {2, 4}), ({"category": "Laptops"}, set()), ({"category": "Games"}, set())],
)
def test_parameters(schema, store, params, expected, engine):
    # Laptops: bob's view was exactly 7 days ago, outside (now - 7d, now]
    seg = segmint.compile("viewed category=$category within 7d", schema)
    assert set(seg.evaluate(store, now=NOW, params=params, engine=engine).ids().tolist()) == expected


@pytest.mark.parametrize("engine", ["compiled", "vector", "reference"])
def test_parametric_window(schema, store, engine):
    seg = segmint.compile("opened within $days and bought since $start", schema)
    result = seg.evaluate(store, now=NOW, params={"days": "30d", "start": "2026-10-20"}, engine=engine)
    assert set(result.ids().tolist()) == {2, 5}


def test_now_defaults_to_current_time(schema, store):
    # Everything in the store lies in the past of the real clock, so `opened` selects the same contacts
    # (the open after NOW is then in the past too).
    assert set(segmint.compile("opened", schema).evaluate(store).ids().tolist()) == {1, 2, 3, 5, 6}


def test_result(schema, store):
    result = segmint.compile("gender = f", schema).evaluate(store, now=NOW)
    assert result.count == 3
    assert result.mask.dtype == bool and result.mask.tolist() == [True, False, True, False, True, False]
    assert result.ids(limit=2).tolist() == [1, 3]


def test_explain(schema, store):
    seg = segmint.compile("opened > 2 within 90d and (ios_open or bought brand = Apple)", schema)
    explanation = seg.explain(store, 6, now=NOW)
    assert explanation.value is True
    opened, either = explanation.children
    assert (opened.text, opened.value) == ("opened > 2 times within 90d", True)
    assert opened.children[0].text == "count(opened within 90d)" and opened.children[0].value == 3
    ios_open, apple = either.children
    assert (ios_open.text, ios_open.value, apple.value) == ("ios_open", True, False)
    assert ios_open.children[0].text == "opened device = ios"
    assert seg.explain(store, 2, now=NOW).value is False
    text = str(seg.explain(store, 2, now=NOW))
    assert "count(opened within 90d)" in text


@pytest.mark.parametrize("contact", [99, "99", "x", 2**70, True, 6.0, None])
def test_explain_unknown_contact(schema, store, contact):
    with pytest.raises(segmint.DataError, match="no contact with id"):
        segmint.compile("opened", schema).explain(store, contact, now=NOW)


def test_explain_takes_an_id_as_text(schema, store):
    assert segmint.compile("opened", schema).explain(store, " 6", now=NOW).value is True


@pytest.mark.parametrize("engine", ["compiled", "vector", "reference"])
def test_evaluate_many_equals_one_by_one(schema, store, engine):
    segments = [segmint.compile(rule, schema) for rule, _ in CASES]
    batch = segmint.evaluate_many(segments, store, now=NOW, engine=engine)
    assert [set(r.ids().tolist()) for r in batch] == [expected for _, expected in CASES]
    assert {r.engine for r in batch} == {engine}


@pytest.mark.parametrize("engine", ["compiled", "vector", "reference"])
def test_evaluate_many_shares_parameters(schema, store, engine):
    segments = [
        segmint.compile("viewed category=$category within 7d", schema),
        segmint.compile("bought category=$category", schema),
        segmint.compile("gender = f", schema),
    ]
    first, second, third = segmint.evaluate_many(
        segments, store, now=NOW, params={"category": "iPhones"}, engine=engine
    )
    assert set(first.ids().tolist()) == {2, 4}
    assert set(second.ids().tolist()) == {1}
    assert set(third.ids().tolist()) == {1, 3, 5}
