"""Fuzzing JSON rule documents (``segmint.compile(document, schema)``): valid documents of random rules with one
to three parts replaced by hostile JSON (other node names, wrong types, missing fields, odd dates and durations,
deep nesting), and random JSON values.

- Compiling any document gives a segment or a ``SegmintError``, never another exception.
- An accepted document means the rule its canonical text means, and every engine answers it alike.
"""

import json

import rulegen
from fuzzgen import (
    JSON_VALUES,
    NOW,
    SCALARS,
    SCHEMA,
    assert_agree,
    attempt,
    check_accepted,
    fuzz,
    parameters,
    places,
    put,
    refused,
    small_stores,
)
from hypothesis import given
from hypothesis import strategies as st

import segmint
from segmint.compiler.serial import _NODES


@st.composite
def damaged_documents(draw) -> dict:
    """The JSON document of a random valid rule, with one to three places replaced, removed or renamed."""
    document = json.loads(json.dumps(segmint.compile(draw(rulegen.rules(max_leaves=4)), SCHEMA).to_json()))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(places(document))[1:]))  # the document stays a dict
        edit = draw(st.sampled_from(["replace", "replace", "remove", "rename", "node"]))
        target = document
        for key in path:
            target = target[key]
        match edit:
            case "replace":
                document = put(document, path, draw(JSON_VALUES))
            case "remove":
                parent = document
                for key in path[:-1]:
                    parent = parent[key]
                del parent[path[-1]]
            case "rename" if isinstance(path[-1], str):
                parent = document
                for key in path[:-1]:
                    parent = parent[key]
                parent[draw(st.text(max_size=6))] = parent.pop(path[-1])
            case "node" if isinstance(target, dict) and "node" in target:
                target["node"] = draw(st.sampled_from(list(_NODES)))
    return document


def compiles_and_agrees(data, document) -> None:
    segment = attempt(segmint.compile, document, SCHEMA)
    if refused(segment):
        return
    check_accepted(segment, SCHEMA)
    store = data.draw(small_stores(), label="store")
    assert_agree(segment, store, NOW, data.draw(parameters(segment), label="params"))


@fuzz(150)
@given(data=st.data(), document=damaged_documents())
def test_fuzz_damaged_documents(data, document):
    compiles_and_agrees(data, document)


KEYS = st.one_of(st.sampled_from(["format", "version", "text", "rule", "node"]), st.text(max_size=6))


def nested(document: dict, depth: int) -> dict:
    """``document`` with its rule under ``depth`` ``not``s (built here, not drawn: Hypothesis could not print it)."""
    rule = document["rule"]
    for _ in range(depth):
        rule = {"node": "Not", "type": "bool", "operand": rule}
    return {**document, "rule": rule}


@fuzz(6)
@given(data=st.data(), rule=rulegen.rules(max_leaves=2), depth=st.sampled_from([2, 50, 300, 1000, 5000]))
def test_fuzz_deep_documents(data, rule, depth):
    compiles_and_agrees(data, nested(segmint.compile(rule, SCHEMA).to_json(), depth))


@fuzz(60)
@given(
    data=st.data(),
    document=st.one_of(
        st.dictionaries(KEYS, JSON_VALUES, max_size=4),
        st.fixed_dictionaries(
            {
                "format": st.just("segmint.rule"),
                "version": st.sampled_from([1, 1.0, True, "1", 2, None]),
                "text": SCALARS,
                "rule": JSON_VALUES,
            }
        ),
    ),
)
def test_fuzz_random_documents(data, document):
    compiles_and_agrees(data, document)
