"""Fuzzing the rule entrances: rule text, JSON rule documents, parameters and ``now``.

Whatever comes in, the only outcomes allowed are a result or a ``SegmintError``: never another exception. Rules
that are accepted must also keep their promises: the canonical text parses back to the same rule and is a fixed
point, the JSON document reads back to it, and the reference and vector engines agree on a small store.

Each fuzz test runs 300 examples in CI (20 for the compiled engine); ``SEGMINT_FUZZ`` multiplies them for the long
local profile, like every fuzz test (tests/fuzzgen.py), with ``--hypothesis-seed=...`` to explore new inputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import sys

import numpy as np
import pytest
from fuzzgen import fuzz
from hypothesis import given
from hypothesis import strategies as st
from rulegen import NOW, PARAMS, rules
from storebuilder import build_store

import segmint
from segmint.compiler.ir import Duration
from segmint.dsl.limits import MAX_DOCUMENT_DEPTH

# Characters and fragments a careless or hostile user brings: control characters, NUL, bidirectional marks, wide
# and combining characters, lone surrogates, quotes and escapes, huge and tiny numbers, very long names.
HOSTILE = [
    "\x00",
    "\x1b",
    "\x07",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x7f",
    "\x85",
    "\u2028",
    "\u200f",
    "\u202e",
    "\ufeff",
    "\ud800",
    "\udcff",
    "\u0301",
    "日本",
    "😀",
    '"',
    "\\",
    "\\u",
    "\\ud800",
    "\\x",
    "'",
    "(",
    ")",
    ",",
    ".",
    "$",
    "#",
    "-",
    "+",
    "*",
    "/",
    "=",
    "<",
    ">",
    "!",
    "9" * 25,
    "9223372036854775808",
    "1e400",
    "1e-400",
    "-0.0",
    "007",
    "99999999999999999999d",
    "3000y",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    "0000-00-00",
    "x" * 300,
    "not ",
    " and ",
    " or ",
    " within ",
    " between ",
    " times",
    " is null",
    " in (",
    "count(",
    "sum(",
    "age(",
]
TOKENS = [
    "opened",
    "clicked",
    "viewed",
    "bought",
    "city",
    "gender",
    "email",
    "loyalty_points",
    "tags",
    "created_at",
    "birth_date",
    "ios_open",
    "churned",
    "device",
    "category",
    "brand",
    "amount",
    "price",
    "Kyiv",
    "ios",
    "iPhones",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "has",
    "any",
    "all",
    "true",
    "false",
    "within",
    "since",
    "before",
    "ago",
    "between",
    "times",
    "contains",
    "startswith",
    "endswith",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "distinct",
    "first",
    "last",
    "age",
    "days_since",
    "=",
    "!=",
    "<>",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    ",",
    ".",
    "0",
    "1",
    "2.5",
    "-3",
    "1e308",
    "30d",
    "2w",
    "6mo",
    "1y",
    "90min",
    "2026-01-31",
    "2026-02-30",
    "2026-01-31T10:00:00Z",
    "$p",
    "$days",
    '"a"',
    '"\\n"',
    "#",
]


@st.composite
def mutated_rules(draw) -> str:
    """A valid rule with characters inserted, deleted or replaced."""
    text = draw(rules(max_leaves=4))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        match draw(st.sampled_from(["insert", "delete", "replace"])):
            case "insert":
                text = text[:at] + draw(st.sampled_from(HOSTILE) | st.characters()) + text[at:]
            case "delete":
                text = text[:at] + text[at + draw(st.integers(1, 8)) :]
            case "replace":
                text = text[:at] + draw(st.sampled_from(HOSTILE) | st.characters()) + text[at + 1 :]
    return text


token_rules = st.lists(st.sampled_from(TOKENS) | st.sampled_from(HOSTILE), min_size=1, max_size=12).map(" ".join)


@pytest.fixture(scope="module")
def store(schema):
    day = dt.timedelta(days=1)
    contacts = [
        {"id": 1, "city": "Kyiv", "email": "a@gmail.com", "loyalty_points": 5, "birth_date": "1990-11-01",
         "created_at": NOW - 3 * day, "tags": ["vinyl"], "gender": "f", "email_subscribed": True},
        {"id": 2, "loyalty_points": -3, "created_at": NOW - 400 * day},
        {"id": 3},
    ]  # fmt: skip
    events = {
        "email_open": [{"id": 1, "ts": NOW - day, "device": "ios", "campaign_id": 3}, {"id": 2, "ts": NOW - 40 * day}],
        "email_click": [{"id": 1, "ts": NOW - 2 * day, "url": "https://shop/sale", "device": "ios"}],
        "product_view": [{"id": 2, "ts": NOW - 5 * day, "category": "iPhones", "brand": "Apple", "price": 999.0}],
        "purchase": [{"id": 1, "ts": NOW - 10 * day, "brand": "Apple", "category": "iPhones", "amount": 99.5,
                      "quantity": 1}],
    }  # fmt: skip
    return build_store(schema, contacts, events)


def value_for(type_) -> object:
    """A valid value for a parameter of ``type_`` (what rulegen's names take, else one per type)."""
    return {"int": 2, "float": 2.5, "string": "iPhones", "bool": True, "date": "2026-10-01",
            "timestamp": "2026-10-01T12:00:00Z", "duration": "7d"}[str(type_)]  # fmt: skip


def accepted_rule_keeps_its_promises(segment: segmint.Segment, schema, store) -> None:
    again = segmint.compile(segment.text, schema)
    assert again.ir == segment.ir and again.text == segment.text
    assert segmint.compile(json.loads(json.dumps(segment.to_json())), schema).ir == segment.ir
    params = {name: PARAMS.get(name, value_for(type_)) for name, type_ in segment.params.items()}
    try:
        answers = [segment.evaluate(store, now=NOW, params=params, engine=e).mask for e in ("reference", "vector")]
    except segmint.ParamError:  # a generated value that does not fit where the parameter stands
        return
    assert (answers[0] == answers[1]).all(), segment.text


def compile_or_refuse(rule, schema) -> segmint.Segment | None:
    """``segmint.compile``, where a ``SegmintError`` is an allowed answer and any other exception fails."""
    try:
        return segmint.compile(rule, schema)
    except segmint.SegmintError as error:
        str(error).encode("utf-8")  # the message can be printed and logged
        return None


@fuzz(300)
@given(rule=mutated_rules())
def test_mutated_rules_compile_or_are_refused(schema, store, rule):
    segment = compile_or_refuse(rule, schema)
    if segment is not None:
        accepted_rule_keeps_its_promises(segment, schema, store)


@fuzz(20)  # each new rule shape compiles a kernel (0.3-2 s)
@given(rule=mutated_rules())
def test_mutated_rules_accepted_agree_on_the_compiled_engine(schema, store, rule):
    segment = compile_or_refuse(rule, schema)
    if segment is None:
        return
    params = {name: PARAMS.get(name, value_for(type_)) for name, type_ in segment.params.items()}
    try:
        reference = segment.evaluate(store, now=NOW, params=params, engine="reference").mask
    except segmint.ParamError:
        return
    assert (segment.evaluate(store, now=NOW, params=params, engine="compiled").mask == reference).all(), segment.text


@fuzz(300)
@given(rule=token_rules)
def test_random_token_sequences_compile_or_are_refused(schema, store, rule):
    segment = compile_or_refuse(rule, schema)
    if segment is not None:
        accepted_rule_keeps_its_promises(segment, schema, store)


@fuzz(300)
@given(text=st.text(max_size=40))
def test_any_text_compiles_or_is_refused(schema, text):
    compile_or_refuse(text, schema)


# -- canonical text: a fixed point that means the same rule, for literals of every kind ---------------------------
literal_rules = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"loyalty_points > {x!r}"),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: f"loyalty_points != {n}"),
    st.integers(0, 2**63 - 1).map(lambda n: f"opened > {n} times within {n % 10**6}d"),
    st.text().map(lambda t: f"email = {json.dumps(t)}"),
    st.text().map(lambda t: f"email contains {json.dumps(t, ensure_ascii=False)}"),
    st.dates().map(lambda d: f"birth_date < {d.isoformat()}"),
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda t: f"created_at > {t.isoformat().replace('+00:00', 'Z')}"),
    st.integers(0, 10**6).map(lambda n: f"opened before {n}mo ago"),
)


@fuzz(300)
@given(rule=st.one_of(literal_rules, rules()))
def test_format_parse_round_trip(schema, rule):
    segment = segmint.compile(rule, schema)
    assert segmint.compile(segment.text, schema).ir == segment.ir  # parse(format(x)) == x
    assert segmint.format(segment.text, schema) == segment.text  # format(format(x)) == format(x)


@pytest.mark.parametrize("rule", ['"a" = email', '"a" < "b"', '"a" = "a" and gender = "f"', 'email != "in"'])
def test_text_constants_keep_their_quotes_where_a_bare_word_is_a_name(schema, rule):
    """Found by the fuzz suite: ``"a" = email`` printed as ``a = email``, which names an attribute ``a``."""
    segment = segmint.compile(rule, schema)
    assert segmint.compile(segment.text, schema).ir == segment.ir


def test_finite_literals_of_every_size_round_trip(schema):
    for text in ["5e-324", "1e-400", "-0.0", "0.1000000000000000055511151231257827", "1.7976931348623157e308",
                 "007", "-9223372036854775808", "9223372036854775807", "1e16", "123456789.123456789"]:  # fmt: skip
        segment = segmint.compile(f"loyalty_points > {text}", schema)
        assert segmint.compile(segment.text, schema).ir == segment.ir
        assert segmint.format(segment.text, schema) == segment.text
        value = segment.ir.right.value
        assert math.copysign(1, value) == math.copysign(1, segmint.compile(segment.text, schema).ir.right.value)


# -- JSON rule documents ------------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["Not", "And", "Compare", "Const", "int", "float", "date", "30d", "email_open", ">"])
    | st.builds(list)
    | st.builds(dict),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "node",
                    "value",
                    "type",
                    "items",
                    "operand",
                    "left",
                    "right",
                    "op",
                    "events",
                    "event",
                    "where",
                    "window",
                    "duration",
                    "date",
                    "timestamp",
                    "name",
                    "x",
                ]
            ),
            inner,
            min_size=1,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@st.composite
def mutated_documents(draw, schema) -> dict:
    """A valid rule document with one place somewhere in its tree replaced by random JSON."""
    document = segmint.compile(draw(rules(max_leaves=3)), schema).to_json()
    places = []

    def collect(node, path):
        places.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            collect(child, (*path, key))

    collect(document["rule"], ("rule",))
    path = draw(st.sampled_from(places))
    replacement = draw(json_values)
    if len(path) == 1:
        document["rule"] = replacement
        return document
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = replacement
    return document


@fuzz(300)
@given(data=st.data())
def test_mutated_json_documents_compile_or_are_refused(schema, store, data):
    document = data.draw(mutated_documents(schema))
    segment = compile_or_refuse(document, schema)
    if segment is not None:
        accepted_rule_keeps_its_promises(segment, schema, store)


@pytest.mark.parametrize(
    "document",
    [
        None, [], 5, b"opened", {"format": "segmint.rule"}, {"format": "segmint.rule", "version": 1},
        {"format": "segmint.rule", "version": 1, "rule": None},
        {"format": "segmint.rule", "version": 1, "rule": {"node": ["Not"]}},
        {"format": "segmint.rule", "version": 1, "rule": {"node": "Const", "value": 10**5000, "type": "int"}},
        {"format": "segmint.rule", "version": 1, "rule": {"node": "Const", "value": math.inf, "type": "float"}},
        {"format": "segmint.rule", "version": 1, "rule": {"node": "Compare", "op": ">", "left": {"node": "Attr",
         "name": "loyalty_points", "type": "int"}, "right": {"node": "Const", "value": 2**63, "type": "int"}}},
        {"format": "segmint.rule", "version": 1, "rule": {"duration": 5}},
        {"format": "segmint.rule", "version": 1, "rule": {"timestamp": "0001-01-01T00:00:00+01:00"}},
    ],
)  # fmt: skip
def test_malformed_documents_are_refused(schema, document):
    with pytest.raises(segmint.SegmintError):
        segmint.compile(document, schema)


def test_deep_and_self_containing_documents_are_refused(schema):
    rule = segmint.compile("opened", schema).to_json()
    deep = rule["rule"]
    for _ in range(5_000):
        deep = {"node": "Not", "operand": deep}
    with pytest.raises(segmint.RuleFormatError, match="nested more than"):
        segmint.compile({**rule, "rule": deep}, schema)
    loop: dict = {"node": "Not"}
    loop["operand"] = loop
    with pytest.raises(segmint.RuleFormatError, match="nested more than"):
        segmint.compile({**rule, "rule": loop}, schema)


# -- parameters and now ---------------------------------------------------------------------------------------------
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300), st.floats(), st.text(max_size=30),
    st.sampled_from(["7d", "3000y", "9" * 5000 + "d", "nan", "inf", "1e400", "2026-10-01", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:00:00-05:00", "garbage", "", " 7 d ", "-5d"]),
    st.dates(), st.datetimes(), st.datetimes(timezones=st.timezones()), st.timedeltas(),
    st.builds(Duration, st.integers(-5, 10**30), st.sampled_from(["d", "y", "fortnight"])),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip

PARAMETRIC = (
    "loyalty_points > $n and email = $s and birth_date < $day and created_at < $time and opened within $d"
    " and email_subscribed = $b"
)


@fuzz(300)
@given(
    name=st.sampled_from(["n", "s", "day", "time", "d", "b"]),
    value=odd_values,
    engine=st.sampled_from(["reference", "vector"]),
)
def test_parameters_of_any_type_evaluate_or_are_refused(schema, store, name, value, engine):
    segment = segmint.compile(PARAMETRIC, schema)
    params = {"n": 1, "s": "a@gmail.com", "day": "2000-01-01", "time": "2026-11-01T00:00:00Z", "d": "30d", "b": True}
    params[name] = value
    with contextlib.suppress(segmint.ParamError):
        segment.evaluate(store, now=NOW, params=params, engine=engine)


@fuzz(300)
@given(now=odd_values, engine=st.sampled_from(["reference", "vector"]))
def test_now_of_any_type_evaluates_or_is_refused(schema, store, now, engine):
    segment = segmint.compile("opened within 30d or created_at within 1y or age(birth_date) > 30", schema)
    try:
        result = segment.evaluate(store, now=now, engine=engine)
    except segmint.ParamError:
        return
    assert result.now.tzinfo is not None and result.now.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2026, 11, 1), "2026-11-01T00:00:00+00:00"),  # naive: UTC
        (dt.date(2026, 11, 1), "2026-11-01T00:00:00+00:00"),  # a date: its midnight, UTC
        ("2026-11-01", "2026-11-01T00:00:00+00:00"),
        ("2026-11-01T02:00:00+02:00", "2026-11-01T00:00:00+00:00"),  # an offset: converted
        (dt.datetime(2026, 11, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-11-01T00:00:00+00:00"),
        ("0001-01-01", "0001-01-01T00:00:00+00:00"),
    ],
)
def test_now_is_read_as_documented(schema, store, now, expected):
    assert segmint.compile("opened", schema).evaluate(store, now=now, engine="reference").now.isoformat() == expected


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (0, "not int"),
        (1.5e9, "not float"),
        (True, "not bool"),
        ("garbage", "ISO 8601"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        (dt.time(12), "not time"),
        (np.datetime64("2026-11-01"), "not datetime64"),
        (np.array([1, 2]), "not ndarray"),
    ],
)
def test_odd_nows_are_refused_clearly(schema, store, now, message):
    with pytest.raises(segmint.ParamError, match=message):
        segmint.compile("opened", schema).evaluate(store, now=now)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("d", "7d")], "must be a mapping"),
        ({1: "7d"}, "names are text"),
        ({"d": "9" * 5000 + "d"}, "must be a duration"),
        ({"d": -dt.timedelta(days=1)}, "non-negative"),
        ({"d": dt.timedelta(milliseconds=1500)}, "whole"),
        ({"d": Duration(-1, "d")}, "non-negative"),
        ({"d": Duration(1, "fortnight")}, "duration"),
    ],
)
def test_odd_parameters_are_refused_clearly(schema, store, params, message):
    with pytest.raises(segmint.ParamError, match=message):
        segmint.compile("opened within $d", schema).evaluate(store, now=NOW, params=params)


@pytest.mark.parametrize("engine", ["reference", "vector", "compiled"])
def test_windows_beyond_the_calendar(schema, store, engine):
    """A window starting before year 1 reaches back to all time; one ending there selects nothing; the same through
    a parameter and at a ``now`` of year 1."""
    ever = segmint.compile("opened", schema).evaluate(store, now=NOW, engine="reference").mask

    def mask(rule, now=NOW, **params):
        return segmint.compile(rule, schema).evaluate(store, now=now, params=params, engine=engine).mask

    assert (mask("opened within 3000y") == ever).all()
    assert (mask("opened within 1000000000000d") == ever).all()
    assert (mask("opened within $d", d="3000y") == ever).all()
    assert (mask("opened within $d", d="9223372036854775807w") == ever).all()
    assert not mask("opened before 3000y ago").any()
    assert not mask("opened before $d ago", d="1000000000000d").any()
    assert not mask("opened within 30d", now="0001-01-01").any()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda seg, store: seg.evaluate(None), "needs a segmint.Store"),
        (lambda seg, store: seg.explain([], 1), "needs a segmint.Store"),
        (lambda seg, store: seg.kernel("store/"), "needs a segmint.Store"),
        (lambda seg, store: seg.evaluate(store, engine=["vector"]), "unknown engine"),
        (lambda seg, store: segmint.evaluate_many(None, store), "list of segments"),
        (lambda seg, store: segmint.evaluate_many(seg, store), "list of segments"),
        (lambda seg, store: segmint.evaluate_many(["opened"], store), "not str"),
        (lambda seg, store: seg.evaluate(store, params=5), "must be a mapping"),
        (lambda seg, store: segmint.compile(None, seg.schema), "text or a JSON rule document"),
        (lambda seg, store: segmint.compile(b"opened", seg.schema), "text or a JSON rule document"),
    ],
)
def test_api_arguments_of_the_wrong_kind_are_refused_clearly(schema, store, call, message):
    with pytest.raises(segmint.SegmintError, match=message):
        call(segmint.compile("opened", schema), store)


def test_pandas_timestamps_and_nat(schema, store):
    """pandas' Timestamp is a datetime and works as one (nanoseconds cut to microseconds); NaT is no time."""
    import pandas as pd

    segment = segmint.compile("opened since $start", schema)
    kyiv = pd.Timestamp("2026-11-01 02:00:00.000000999", tz="Europe/Kyiv")
    result = segment.evaluate(store, now=kyiv, params={"start": kyiv}, engine="reference")
    assert result.now.isoformat() == "2026-11-01T00:00:00+00:00"
    with pytest.raises(segmint.ParamError, match="must be a time"):
        segment.evaluate(store, now=pd.NaT, params={"start": "2026-10-01"})
    with pytest.raises(segmint.ParamError, match=r"\$start"):
        segment.evaluate(store, now=NOW, params={"start": pd.NaT})


def nested(depth: int, leaf, wrap) -> object:
    for _ in range(depth):
        leaf = wrap(leaf)
    return leaf


@pytest.mark.parametrize(
    "shape",
    [
        lambda d, leaf: nested(d, 1, lambda v: [v]),  # lists in a value
        lambda d, leaf: nested(d, leaf, lambda v: {"node": "Not", "operand": v}),
        lambda d, leaf: nested(d // 2, leaf, lambda v: {"node": "And", "items": [v, leaf]}),
        lambda d, leaf: nested(d, 1, lambda v: {"x": v}),
    ],
)
def test_documents_at_the_depth_limit_are_read_or_refused_without_recursion_errors(schema, shape):
    """As deep as a document may be, in a value or as the whole rule, with a third of the stack in use: a rule or a
    clear error, never Python's recursion limit (neither raised nor quoted in a message)."""
    leaf = segmint.compile("opened", schema).to_json()["rule"]
    in_a_value = segmint.compile("loyalty_points > 1", schema).to_json()
    in_a_value["rule"]["right"]["value"] = shape(MAX_DOCUMENT_DEPTH - 3, leaf)
    as_the_rule = {**in_a_value, "rule": shape(MAX_DOCUMENT_DEPTH - 1, leaf)}
    for document in (in_a_value, as_the_rule):

        def attempt(frames: int, document=document):
            return segmint.compile(document, schema) if frames == 0 else attempt(frames - 1)

        try:
            attempt(sys.getrecursionlimit() // 3)
        except segmint.SegmintError as error:
            assert "recursion" not in str(error)
