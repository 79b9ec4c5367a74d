"""Condition counts for rule editors (issue 13): ``Segment.profile`` and ``segmint eval --profile``.

Every part's count is what that part alone selects, and each ``and``'s funnel what its first k parts together select;
held to that on the six contacts of tests/data.py (table) and on random rules over random stores (property)."""

import json

import pytest
import rulegen
from data import CONTACTS, EVENTS, NOW, NOW_TEXT, run, run_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storebuilder import build_store

import segmint
from segmint.compiler import ir


@pytest.fixture(scope="module")
def store(schema):
    return build_store(schema, CONTACTS, EVENTS)


def test_counts_and_funnel_of_a_rule(schema, store):
    profile = segmint.compile(
        "opened > 2 within 90d and city = Kyiv and not (bought within 30d or clicked within 7d)", schema
    ).profile(store, now=NOW)
    rule = profile.rule
    assert (profile.contacts, rule.kind, rule.count) == (6, "and", 1)
    # opened > 2 within 90d: 1, 5, 6; city = Kyiv: 1, 5; bought within 30d: 2, 4, 5; clicked within 7d: 5
    assert [(p.text, p.kind, p.count) for p in rule.children] == [
        ("opened > 2 times within 90d", "condition", 3),
        ("city = Kyiv", "condition", 2),
        ("not (bought within 30d or clicked within 7d)", "not", 3),
    ]
    assert rule.funnel == (3, 2, 1)
    either = rule.children[2].children[0]
    assert (either.kind, either.count, either.funnel) == ("or", 3, None)
    assert [(p.text, p.count) for p in either.children] == [("bought within 30d", 3), ("clicked within 7d", 1)]


def test_the_text_table_shows_each_count_and_the_count_so_far(schema, store):
    text = str(segmint.compile("opened > 2 within 90d and city = Kyiv", schema).profile(store, now=NOW))
    assert text.splitlines() == [
        "contacts  so far  part (of 6 contacts)",
        "       2          opened > 2 times within 90d and city = Kyiv",
        "       3       3    opened > 2 times within 90d",
        "       2       2    city = Kyiv",
    ]


def test_to_dict_is_the_tree(schema, store):
    # 4 is the one contact who never opened and bought
    document = segmint.compile("opened or not bought", schema).profile(store, now=NOW).to_dict()
    assert document == {
        "contacts": 6,
        "rule": {"text": "opened or not bought", "kind": "or", "count": 5, "funnel": None, "children": [
            {"text": "opened", "kind": "condition", "count": 5, "funnel": None, "children": []},
            {"text": "not bought", "kind": "not", "count": 1, "funnel": None, "children": [
                {"text": "bought", "kind": "condition", "count": 5, "funnel": None, "children": []}]},
        ]},
    }


FUNNEL_OPENS = [dict(id=i, ts="2026-10-20T10:00:00Z") for i in (1, 2, 3, 5)]
FUNNEL_CLICKS = [
    dict(id=1, ts="2026-10-20T10:30:00Z"),
    dict(id=2, ts="2026-10-20T12:00:00Z"),  # two hours after the open: not within 1h
    dict(id=3, ts="2026-10-20T10:10:00Z"),
    dict(id=5, ts="2026-10-20T10:00:00Z"),  # at the open's instant: a later step must be strictly after
]
FUNNEL_BUYS = [dict(id=1, ts="2026-10-21T09:00:00Z", amount=5.0), dict(id=3, ts="2026-10-28T10:10:00Z", amount=5.0)]


@pytest.fixture(scope="module")
def funnel_store(schema):
    contacts = [dict(id=i) for i in range(1, 6)]
    return build_store(schema, contacts, {"email_open": FUNNEL_OPENS, "email_click": FUNNEL_CLICKS,
                                          "purchase": FUNNEL_BUYS})


@pytest.mark.parametrize(("rule", "steps"), [
    # 1, 2, 3 and 5 opened; 1 and 3 clicked within the hour after; 1 bought within 7 days of the click (3: 7d later)
    ("opened then clicked within 1h then bought within 7d",
     [("opened", 4), ("opened then clicked within 1h", 2), ("opened then clicked within 1h then bought within 7d", 1)]),
    # abandonment: the click of 2, 3 and 5 is not followed by a purchase within 1 day
    ("clicked within 30d then not bought within 1d",
     [("clicked within 30d", 4), ("clicked within 30d then not bought within 1d", 3)]),
    # a count of occurrences: how many contacts reach each step at least once
    ("count(opened then clicked within 1h) >= 2", [("opened", 4), ("opened then clicked within 1h", 2)]),
])
def test_each_step_of_a_sequence_is_counted(schema, funnel_store, rule, steps):
    part = segmint.compile(rule, schema).profile(funnel_store, now=NOW).rule
    assert part.kind == "condition"
    assert [(step.text, step.kind, step.count) for step in part.children] == [(t, "step", n) for t, n in steps]


def test_steps_are_counted_inside_connectives_and_in_the_json(schema, funnel_store):
    rule = "opened then clicked within 1h and not bought within 1d"
    document = segmint.compile(rule, schema).profile(funnel_store, now=NOW).to_dict()["rule"]
    sequence = document["children"][0]
    assert (document["funnel"], sequence["count"]) == ([2, 2], 2)
    assert [(s["text"], s["kind"], s["count"], s["children"]) for s in sequence["children"]] == [
        ("opened", "step", 4, []), ("opened then clicked within 1h", "step", 2, [])]


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=rulegen.rules(max_leaves=4))
def test_every_count_is_what_its_part_selects_alone(schema, data, rule):
    store = data.draw(rulegen.stores(schema))
    segment = segmint.compile(rule, schema)
    # the rule as written: its parameters, also those of parts the plan folds away (and false ...)
    params = {name: rulegen.PARAMS[name] for name in ir.params(segment.rule.ir)}
    try:
        profile = segment.profile(store, now=NOW, params=params)
    except segmint.DataError:  # an integer leaving int64: refused by every engine alike
        return

    def alone(text: str) -> int:
        part = segmint.compile(text, schema)
        return part.evaluate(store, now=NOW, params=rulegen.params_for(part), engine="reference").count

    def check(part) -> None:
        assert part.count == alone(part.text), part.text
        if part.funnel is not None:
            texts = [child.text for child in part.children]
            assert list(part.funnel) == [alone(" and ".join(f"({t})" for t in texts[: k + 1]))
                                         for k in range(len(texts))]
        for child in part.children:
            check(child)

    check(profile.rule)
    whole = segment.evaluate(store, now=NOW, params=rulegen.params_for(segment), engine="reference")
    assert profile.rule.count == whole.count


def test_eval_profile_prints_the_table(capsys, data):
    code, out, _ = run(capsys, "eval", "bought within 30d and city = Kyiv", "--data", data, "--now", NOW_TEXT,
                       "--engine", "reference", "--profile")
    assert code == 0
    table = out.split("profile:\n")[1].splitlines()
    assert table[0] == "contacts  so far  part (of 5 contacts)"
    assert table[1].split() == ["1", "bought", "within", "30d", "and", "city", "=", "Kyiv"]
    assert table[2].split() == ["2", "2", "bought", "within", "30d"]
    assert table[3].split() == ["2", "1", "city", "=", "Kyiv"]


def test_eval_profile_json(capsys, data):
    code, doc = run_json(capsys, "eval", "bought within 30d and city = Kyiv", "--data", data, "--now", NOW_TEXT,
                         "--engine", "reference", "--profile")
    assert code == 0 and doc["count"] == doc["profile"]["rule"]["count"] == 1
    assert doc["profile"]["rule"]["funnel"] == [2, 1] and doc["profile"]["contacts"] == 5


def test_the_fresh_process_benchmark_profiles_its_rules(tmp_path, capsys, store):
    from segmint.benchmarks import profile_cold

    store.save(tmp_path / "store")
    assert profile_cold.main([str(tmp_path / "store"), NOW_TEXT]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [row["rule"] for row in document["rules"]] == list(profile_cold.RULES) and document["open"] > 0
    for row in document["rules"]:
        expected = segmint.compile(row["rule"], store.schema).evaluate(store, now=NOW, engine="reference").count
        assert row["count"] == row["parts"][0] == expected and row["seconds"] > 0
