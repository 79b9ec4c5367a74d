"""Fuzzing rule text (tests/fuzzgen.py): random words of the language, valid rules with random edits, and rule
shapes with hostile values.

- Compiling any text gives a segment or a ``SegmintError`` with a printable message, never another exception.
- An accepted rule's canonical text and JSON document mean the same rule, and its canonical text is a fixed point.
- Every engine (and DuckDB where the rule is in its subset) selects the same contacts, or every one refuses.
"""


import rulegen
from fuzzgen import (
    CHEAP_ENGINES,
    ENGINES,
    NOW,
    SCHEMA,
    assert_agree,
    attempt,
    check_accepted,
    fuzz,
    hostile_rules,
    mutations,
    now_values,
    parameters,
    refused,
    small_stores,
    token_soups,
)
from hypothesis import given
from hypothesis import strategies as st

import segmint


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
@fuzz(150)
@given(data=st.data(), text=hostile_rules())
def test_fuzz_hostile_values(data, text):
    compiles_and_agrees(SCHEMA, data, text)


@fuzz(30)
@given(data=st.data(), text=hostile_rules())
def test_fuzz_hostile_values_compiled(data, text):
    compiles_and_agrees(SCHEMA, data, text, ENGINES)
