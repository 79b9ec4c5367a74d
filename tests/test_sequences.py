"""Sequences (docs/language.md, "Sequences"): table tests on tiny hand-built stores, every engine and DuckDB; the
errors of rules that misuse ``then``; random sequences on random stores, compiled == vector == reference == DuckDB."""

import datetime as dt
import json

import numpy as np
import oracle
import pytest
import rulegen
from data import NOW
from fuzzgen import ENGINES, assert_agree, fuzz
from hypothesis import given
from hypothesis import strategies as st
from storebuilder import build_store

import segmint
from segmint.compiler import ir
from segmint.runtime.bindings import bind

US = dt.timedelta(microseconds=1)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def at(days: float = 0, hours: float = 0, us: int = 0) -> dt.datetime:
    """``days`` and ``hours`` before NOW, then ``us`` microseconds later."""
    return NOW - dt.timedelta(days=days, hours=hours) + us * US


def view(contact, when, category="iPhones", brand="Apple"):
    return ("product_view", dict(id=contact, ts=when, category=category, brand=brand, price=10.0))


def buy(contact, when, category="iPhones", brand="Apple"):
    return ("purchase", dict(id=contact, ts=when, category=category, brand=brand, amount=10.0, quantity=1))


def opened(contact, when):
    return ("email_open", dict(id=contact, ts=when, device="ios"))


def clicked(contact, when):
    return ("email_click", dict(id=contact, ts=when, device="ios"))


def store_of(schema, contacts: int, *events):
    by_type: dict[str, list] = {}
    for event_type, row in events:
        by_type.setdefault(event_type, []).append(row)
    return build_store(schema, [dict(id=i) for i in range(1, contacts + 1)], by_type)


def selected(schema, store, rule: str, now=NOW) -> set[int]:
    """The contacts every engine and DuckDB select (they must agree)."""
    segment = segmint.compile(rule, schema)
    answers = {e: set(segment.evaluate(store, now=now, engine=e).ids().tolist()) for e in ENGINES}
    plan = segment.rule.plan
    answers["duckdb"] = set(store.ids[oracle.mask(oracle.connect(store), plan, bind(plan, now, None), len(store))]
                            .tolist())
    assert len({frozenset(a) for a in answers.values()}) == 1, answers
    return answers["reference"]


# (rule, events, contacts expected); contacts 1..4, times before NOW
CASES = [
    # -- a step after another: strictly after, less than its window after
    ("viewed then bought within 7d", [view(1, at(10)), buy(1, at(3, us=-1))], {1}),  # 7d - 1µs after: in
    ("viewed then bought within 7d", [view(1, at(10)), buy(1, at(3))], set()),  # exactly 7d after: out
    ("viewed then bought within 7d", [view(1, at(5)), buy(1, at(5))], set()),  # simultaneous: not after
    ("viewed then bought within 7d", [buy(1, at(5)), view(1, at(4))], set()),  # the wrong order
    ("viewed then bought", [view(1, at(400)), buy(1, at(1))], {1}),  # no window: any time later, up to now
    ("viewed then bought", [view(1, at(1)), buy(1, at(hours=-1))], set()),  # after now never counts
    ("viewed category=iPhones then bought category=iPhones within 7d",
     [view(1, at(3)), buy(1, at(2), "Books"), view(2, at(3), "Books"), buy(2, at(2)), view(3, at(3)), buy(3, at(1))],
     {3}),
    # -- a window on the first step says where the sequence starts (relative to now, as `within` everywhere)
    ("viewed within 30d then bought within 7d", [view(1, at(30)), buy(1, at(29))], set()),  # view at now - 30d
    ("viewed within 30d then bought within 7d", [view(1, at(30, us=1)), buy(1, at(29))], {1}),
    # -- three steps, each after the one before
    ("opened then clicked within 1h then bought within 7d",
     [opened(1, at(10)), clicked(1, at(10) + 30 * 60e6 * US), buy(1, at(4))], {1}),
    ("opened then clicked within 1h then bought within 7d",
     [opened(1, at(10)), clicked(1, at(10) + H), buy(1, at(4))], set()),  # the click exactly 1h after
    # the earliest click after the open is too early for the purchase, a later one is not: the sequence holds
    ("opened then clicked within 1h then bought within 7d",
     [opened(1, at(10)), clicked(1, at(10, us=1)), clicked(1, at(10) + 50 * 60e6 * US),
      buy(1, at(3) + 40 * 60e6 * US)], {1}),
    # -- steps of one event type: two different events
    ("opened then opened within 1d", [opened(1, at(2)), opened(1, at(2))], set()),  # simultaneous
    ("opened then opened within 1d", [opened(1, at(2)), opened(1, at(1, hours=1))], {1}),
    ("opened then opened within 1d", [opened(1, at(2))], set()),  # one event is not two steps
    ("opened then opened within 1d", [], set()),  # nothing at all
    # -- same PROP: equal to the previous step's
    ("viewed then bought same category within 7d",
     [view(1, at(3), "Books"), buy(1, at(2), "Books"), view(2, at(3), "Books"), buy(2, at(2), "Games")], {1}),
    ("viewed then bought same brand within 7d", [view(1, at(3), brand=None), buy(1, at(2), brand=None)], set()),
    # -- abandonment: a view not followed by a purchase within 1d, once that day has passed
    ("viewed within 30d then not bought within 1d", [view(1, at(1))], {1}),  # exactly 1d ago: the day has passed
    ("viewed within 30d then not bought within 1d", [view(1, at(1, us=-1))], {1}),
    ("viewed within 30d then not bought within 1d", [view(1, at(1, us=1))], {1}),  # (t, t + 1d) ends at now
    ("viewed within 30d then not bought within 1d", [view(1, at(1, us=2))], set()),  # ... 1µs after now
    ("viewed within 30d then not bought within 1d", [view(1, at(5)), buy(1, at(4, us=-1))], set()),  # bought in time
    ("viewed within 30d then not bought within 1d", [view(1, at(5)), buy(1, at(4))], {1}),  # a day too late
    ("viewed within 30d then not bought within 1d", [view(1, at(5)), buy(1, at(5))], {1}),  # simultaneous: not after
    ("viewed within 30d then not bought within 1d", [view(1, at(31)), view(2, at(hours=2))], set()),
    ("viewed within 30d then not bought within 1d", [view(1, at(5)), buy(1, at(4.5)), view(1, at(3))], {1}),
    ("viewed category=iPhones within 30d then not bought category=iPhones within 1d",
     [view(1, at(5)), buy(1, at(4.5), "Books")], {1}),
    ("viewed within 30d then not bought same category within 1d",
     [view(1, at(5), "Books"), buy(1, at(4.5), "Games"), view(2, at(5), "Books"), buy(2, at(4.5), "Books")], {1}),
    ("opened then clicked within 1d then not bought within 7d",
     [opened(1, at(20)), clicked(1, at(19.5)), opened(2, at(20)), clicked(2, at(19.5)), buy(2, at(15))], {1}),
    # -- counting: non-overlapping occurrences, in order of completion
    ("count(viewed then bought within 7d) >= 2", [view(1, at(9)), view(1, at(8)), buy(1, at(7)), buy(1, at(6))],
     set()),  # both views are before both purchases: one occurrence (the second starts after the first ends)
    ("count(viewed then bought within 7d) >= 2", [view(1, at(9)), buy(1, at(8)), view(1, at(7)), buy(1, at(6))],
     {1}),
    ("count(viewed then bought within 7d) = 1", [view(1, at(9)), view(1, at(8)), buy(1, at(7)), buy(1, at(6))],
     {1}),
    ("count(opened then opened within 1d) = 2", [opened(1, at(d)) for d in (5, 4.5, 4, 3.5, 3)], {1}),
    ("count(opened then opened within 1d) = 0", [opened(1, at(5))], {1, 2, 3, 4}),
    ("count(viewed then bought within 7d) + 1 > 1", [view(2, at(9)), buy(2, at(8))], {2}),
]


@pytest.mark.parametrize(("rule", "events", "expected"), CASES)
def test_sequences_mean_what_the_docs_say(schema, rule, events, expected):
    assert selected(schema, store_of(schema, 4, *events), rule) == expected


def test_an_abandoned_view_enters_when_its_day_has_passed_and_leaves_with_the_window(schema):
    store = store_of(schema, 1, view(1, at(10)))
    rule = "viewed within 30d then not bought within 1d"
    view_time = at(10)
    assert selected(schema, store, rule, now=view_time + D - 2 * US) == set()
    assert selected(schema, store, rule, now=view_time + D - US) == {1}  # enters at t + 1d - 1µs
    assert selected(schema, store, rule, now=view_time + 30 * D - US) == {1}
    assert selected(schema, store, rule, now=view_time + 30 * D) == set()  # leaves as the view leaves `within 30d`
    segment = segmint.compile(rule, schema)
    assert segment.next_change(store, now=view_time) == view_time + D - US


@pytest.mark.parametrize("rule", [
    "viewed category = iPhones then bought category = iPhones within 7d",
    "opened then clicked within 1h then bought within 7d",
    "viewed category = iPhones within 30d then not bought category = iPhones within 1d",
    "viewed then bought same category within 7d",
    "count(viewed then bought within 7d) >= 2",
    "(viewed then bought) and opened",
    "not (viewed then bought) or opened",
    "viewed then bought within $gap",
])
def test_canonical_text_and_json(schema, rule):
    segment = segmint.compile(rule, schema)
    assert segment.text == rule.replace("(viewed then bought) and", "viewed then bought and")
    again = segmint.compile(json.loads(json.dumps(segment.to_json())), schema)
    assert again.ir == segment.ir and again.text == segment.text


def test_then_binds_tighter_than_and_and_looser_than_not(schema):
    rule = segmint.compile("opened and viewed then not bought within 1d", schema).ir
    assert isinstance(rule, ir.And) and isinstance(rule.items[1], ir.Sequence)
    assert rule.items[1].steps[1].negated


def test_a_count_of_one_is_the_sequence(schema):
    plan = segmint.compile("count(viewed then bought within 7d) >= 1", schema).rule.plan
    assert isinstance(plan, ir.Sequence)


def test_a_duration_parameter_is_a_fixed_length(schema):
    store = store_of(schema, 1, view(1, at(3)), buy(1, at(2)))
    segment = segmint.compile("viewed then bought within $gap", schema)
    assert segment.evaluate(store, now=NOW, params={"gap": "2d"}).count == 1
    assert segment.evaluate(store, now=NOW, params={"gap": "1d"}).count == 0
    with pytest.raises(segmint.ParamError, match="fixed length"):
        segment.evaluate(store, now=NOW, params={"gap": "1mo"}, engine="reference")


ERRORS = [
    ("age > 3 then bought", "age > 3", "not an event"),
    ("viewed then city = Kyiv", "=", "unexpected '='"),  # a syntax error: a step has no test
    ("viewed then bought.amount", "bought.amount", "is not an event verb"),
    ("not viewed then bought", "not viewed", "cannot start with 'not'"),
    ("viewed > 2 times then bought", "viewed > 2 times", "not a count"),
    ("viewed then not bought", "not bought", "needs a window"),
    ("viewed then not bought within 1d then opened", "not bought within 1d", "only the last step"),
    ("count(viewed then not bought within 1d) > 1", "not bought within 1d", "ends with 'not'"),
    ("viewed then opened same category", "opened same category", "no property 'category'"),
    ("viewed then bought within 1mo", "1mo", "calendar unit"),
    ("sum(viewed then bought) > 1", "sum(viewed then bought)", "sequences are counted"),
    ("(viewed then bought) then opened", "(viewed then bought)", "cannot be a step"),
]


@pytest.mark.parametrize(("rule", "underlined", "message"), ERRORS)
def test_misused_then_is_an_error_with_a_caret_and_a_hint(schema, rule, underlined, message):
    with pytest.raises(segmint.RuleError) as caught:
        segmint.compile(rule, schema)
    error = caught.value
    assert message in error.message and error.hint
    assert rule[error.span.start : error.span.end].strip("()") == underlined.strip("()")


def test_same_needs_one_type_in_both_steps(schema):
    custom = segmint.Schema.from_dict({
        "contacts": {"attributes": {}},
        "events": {
            "a": {"verb": "did_a", "properties": {"x": "int"}},
            "b": {"verb": "did_b", "properties": {"x": "string"}},
        },
    })
    with pytest.raises(segmint.RuleError, match="compares"):
        segmint.compile("did_a then did_b same x", custom)


def test_same_on_numbers(schema):
    custom = segmint.Schema.from_dict({
        "contacts": {"attributes": {}},
        "events": {
            "a": {"verb": "did_a", "properties": {"x": "int"}},
            "b": {"verb": "did_b", "properties": {"x": "int"}},
        },
    })
    store = build_store(custom, [dict(id=1), dict(id=2)], {
        "a": [dict(id=1, ts=at(3), x=7), dict(id=2, ts=at(3), x=7)],
        "b": [dict(id=1, ts=at(2), x=7), dict(id=2, ts=at(2), x=8)],
    })
    assert selected(custom, store, "did_a then did_b same x") == {1}


def test_same_on_text_of_two_dictionaries(schema):
    """Each column has its own dictionary (here in different orders, with values the other lacks)."""
    custom = segmint.Schema.from_dict({
        "contacts": {"attributes": {}},
        "events": {
            "a": {"verb": "did_a", "properties": {"x": "string"}},
            "b": {"verb": "did_b", "properties": {"x": "string"}},
        },
    })
    store = build_store(custom, [dict(id=i) for i in range(1, 5)], {
        "a": [dict(id=1, ts=at(3), x="p"), dict(id=2, ts=at(3), x="q"), dict(id=3, ts=at(3), x="z"),
              dict(id=4, ts=at(3), x=None)],
        "b": [dict(id=1, ts=at(2), x="p"), dict(id=2, ts=at(2), x="p"), dict(id=3, ts=at(2), x="a"),
              dict(id=4, ts=at(2), x=None)],
    })
    assert store.events["a"].properties["x"].dictionary != store.events["b"].properties["x"].dictionary
    assert selected(custom, store, "did_a then did_b same x") == {1}
    assert selected(custom, store, "did_a then not did_b same x within 2d") == {2, 3, 4}


@fuzz(60)
@given(data=st.data(), rule=st.one_of(rulegen.sequences(), rulegen.sequences(counted=True).map(
    lambda s: f"count({s}) >= 2")))
def test_random_sequences_agree_everywhere(schema, data, rule):
    """compiled == vector == reference == DuckDB on random sequences and stores (ties, edges, after now)."""
    store = data.draw(rulegen.stores(schema))
    segment = segmint.compile(rule, schema)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * D, NOW + US]))
    mask = assert_agree(segment, store, now, {}, engines=ENGINES)
    assert mask is None or isinstance(mask, np.ndarray)
    assert segmint.compile(segment.text, schema).ir == segment.ir
