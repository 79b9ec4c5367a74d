"""Fuzzing rule text (tests/fuzzgen.py): random words of the language, valid rules with random edits, and rule
shapes with hostile values.

- Compiling any text gives a segment or a ``SegmintError`` with a printable message, never another exception.
- An accepted rule's canonical text and JSON document mean the same rule, and its canonical text is a fixed point.
- Every engine (and DuckDB where the rule is in its subset) selects the same contacts, or every one refuses.
"""

import json

import rulegen
from fuzzgen import (
    CHEAP_ENGINES,
    DATES,
    DURATIONS,
    ENGINES,
    NOW,
    NUMBERS,
    SCHEMA,
    STRINGS,
    TIMESTAMPS,
    assert_agree,
    attempt,
    fuzz,
    mutations,
    now_values,
    param_values,
    refused,
    small_stores,
    token_soups,
)
from hypothesis import given
from hypothesis import strategies as st

import segmint


def check_accepted(segment: segmint.Segment, schema) -> None:
    """An accepted rule prints, and its canonical text and JSON document compile back to the same rule."""
    segment.text.encode("utf-8")
    again = segmint.compile(segment.text, schema)
    assert again.ir == segment.ir, f"canonical text {segment.text!r} means another rule"
    assert again.text == segment.text, f"canonical text {segment.text!r} is not a fixed point: {again.text!r}"
    document = json.loads(json.dumps(segment.to_json()))
    assert segmint.compile(document, schema).ir == segment.ir, f"the JSON document of {segment.text!r} differs"


@st.composite
def parameters(draw, segment: segmint.Segment) -> dict:
    """A value for each of the rule's parameters: a sensible one or a hostile one."""
    sensible = rulegen.PARAMS
    return {
        name: sensible[name] if name in sensible and draw(st.booleans()) else draw(param_values())
        for name in segment.params
    }


def compiles_and_agrees(schema, data, text: str, engines=CHEAP_ENGINES) -> None:
    segment = attempt(segmint.compile, text, schema)
    if refused(segment):
        return
    check_accepted(segment, schema)
    store = data.draw(small_stores(), label="store")
    now = data.draw(st.one_of(st.just(NOW), now_values()), label="now")
    assert_agree(segment, store, now, data.draw(parameters(segment), label="params"), engines)


@fuzz(200)
@given(data=st.data(), text=token_soups())
def test_fuzz_token_soup(data, text):
    compiles_and_agrees(SCHEMA, data, text)


@fuzz(200)
@given(data=st.data(), rule=rulegen.rules(max_leaves=4))
def test_fuzz_mutated_rules(data, rule):
    compiles_and_agrees(SCHEMA, data, data.draw(mutations(rule), label="mutated"))


@fuzz(15)  # a new rule shape compiles a kernel (0.3-2 s)
@given(data=st.data(), rule=rulegen.rules(max_leaves=2))
def test_fuzz_mutated_rules_compiled(data, rule):
    compiles_and_agrees(SCHEMA, data, data.draw(mutations(rule), label="mutated"), ENGINES)


# -- rule shapes with hostile values -----------------------------------------------------------------------------
# Few shapes, so that the compiled engine compiles each once: values are kernel inputs, not kernel code.
SHAPES = [
    "loyalty_points > {int}",
    "loyalty_points * {int} + {int} >= {int}",
    "loyalty_points between {int} and {int}",
    "-loyalty_points < {number}",
    "loyalty_points in ({int}, {int})",
    "sum(bought.amount{window}) > {number}",
    "sum(bought.quantity{window}) * {int} > {int}",
    "avg(viewed.price{window}) <= {number}",
    "max(bought.amount) > {number} or min(bought.amount) < {number}",
    "count(opened{window}) >= {int}",
    "opened > {int} times{window}",
    "bought amount > {number}, quantity = {int}{window}",
    "created_at {op} {point}",
    "created_at between {point} and {point}",
    "first(bought) between {point} and {point}",
    "last(opened) {op} {point}",
    "birth_date {op} {date}",
    "age(birth_date) {op} {int}",
    "days_since(last(bought)) {op} {int}",
    "opened{window}",
    "created_at{window}",
    "email {match} {string}",
    "count(clicked{window}) / count(opened{window}) > {number}",
]
INTS = [
    "0",
    "1",
    "2",
    "7",
    "2026",
    "10000",
    str(2**31),
    str(2**53 + 1),
    str(2**62),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 30,
    "-1",
    f"-{2**63 - 1}",
    f"-{2**63}",
]
HOLES = {
    "int": INTS,
    "number": INTS + [n for n in NUMBERS if "." in n or "e" in n],
    "date": DATES,
    "point": DATES + TIMESTAMPS,
    "duration": DURATIONS,
    "string": STRINGS,
    "op": ["=", "!=", "<", "<=", ">", ">="],
    "match": ["contains", "startswith", "endswith"],
    "window": [
        "",
        " within {duration}",
        " since {point}",
        " before {point}",
        " before {duration} ago",
        " between {point} and {point}",
    ],
}


@st.composite
def hostile_rules(draw) -> str:
    """A rule of one of ``SHAPES`` whose every hole holds a drawn value (mostly extreme)."""
    text = draw(st.sampled_from(SHAPES))
    while "{" in text:
        head, _, rest = text.partition("{")
        hole, _, tail = rest.partition("}")
        text = head + draw(st.sampled_from(HOLES[hole])) + tail
    return text


@fuzz(150)
@given(data=st.data(), text=hostile_rules())
def test_fuzz_hostile_values(data, text):
    compiles_and_agrees(SCHEMA, data, text)


@fuzz(30)
@given(data=st.data(), text=hostile_rules())
def test_fuzz_hostile_values_compiled(data, text):
    compiles_and_agrees(SCHEMA, data, text, ENGINES)
