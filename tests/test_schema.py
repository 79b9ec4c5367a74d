"""Schemas: whatever shape a dict or a TOML file has, the answer is a Schema or a SchemaError naming what is wrong,
never a raw Python exception; event type names are identifiers that fit a file name."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import segmint
from segmint.compiler.schema import EVENT_NAME_BYTES

BASE = {
    "contacts": {"id": "cid", "attributes": {"city": {"type": "category", "values": ["a", "b"]}, "age": "int"}},
    "events": {"purchase": {"verb": "bought", "properties": {"amount": "float"}}},
    "definitions": {"rich": "sum(bought.amount) > 100"},
}


def with_change(path, value):
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    node = data
    for key in path[:-1]:
        node[key] = dict(node[key])
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("events", "purchase", "verb"), 5, r"'verb' in \[events.purchase\] must be a string, not int 5"),
        (("contacts", "attributes"), ["city"], r"\[contacts.attributes\] must be a table of names, not list"),
        (("contacts",), None, r"\[contacts\] must be a table of names, not null"),
        (("contacts", "id"), 3, r"'id' in \[contacts\] must be a string"),
        (("events",), "purchase", r"\[events\] must be a table"),
        (("events", "purchase"), ["verb"], r"\[events.purchase\] must be a table"),
        (("events", "purchase", "properties"), 1, r"\[events.purchase.properties\] must be a table"),
        (("events", "purchase", "timestamp"), None, r"'timestamp' in \[events.purchase\] must be a string"),
        (("events", "purchase", "optional"), "yes", r"'optional' in \[events.purchase\] must be true or false"),
        (("definitions",), ["rich"], r"\[definitions\] must be a table"),
        (("contacts", "attributes", "age"), {"type": "int", 3: 4}, r"unknown key\(s\) \['3'\]"),
        (("contacts", "attributes", 5), "int", r"attribute '5' name 5 is not usable"),
    ],
)
def test_a_schema_of_the_wrong_shape_is_a_schema_error_naming_the_key(path, value, message):
    with pytest.raises(segmint.SchemaError, match=message):
        segmint.Schema.from_dict(with_change(path, value))


def test_a_schema_that_is_not_a_mapping_is_a_schema_error():
    with pytest.raises(segmint.SchemaError, match="the schema must be a table of names, not list"):
        segmint.Schema.from_dict([1, 2])


@pytest.mark.parametrize(
    "name",
    ["a/b", "a.b.dict", "a b", "../x", "", "1st", "x" * (EVENT_NAME_BYTES + 1), "é" * (EVENT_NAME_BYTES // 2 + 1)],
)
def test_event_type_names_are_identifiers_that_fit_a_file_name(name):
    with pytest.raises(segmint.SchemaError, match=r"event type name .* is not usable"):
        segmint.Schema.from_dict({"events": {name: {"verb": "did"}}})


def test_event_type_names_may_not_differ_only_in_case():
    with pytest.raises(segmint.SchemaError, match="differ only in case"):
        segmint.Schema.from_dict({"events": {"Purchase": {"verb": "bought"}, "purchase": {"verb": "paid"}}})


def test_optional_event_types_round_trip():
    schema = segmint.Schema.from_dict(with_change(("events", "purchase", "optional"), True))
    assert schema.events["purchase"].optional
    assert segmint.Schema.from_dict(schema.to_dict()) == schema
    assert "optional" not in segmint.Schema.from_dict(BASE).to_dict()["events"]["purchase"]


def test_unreadable_schema_files_are_schema_errors(tmp_path):
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe = 1")
    for path in (tmp_path / "bad.toml", tmp_path, tmp_path / "missing.toml"):
        with pytest.raises(segmint.SchemaError):
            segmint.Schema.from_toml(path)


_NAMES = ["int", "float", "string", "category", "date", "timestamp", "tags", "bool", "purchase", "verb", "values"]
_LEAF = st.none() | st.booleans() | st.integers(-2, 5) | st.floats() | st.text(max_size=6) | st.sampled_from(_NAMES)
_KEY = (
    st.sampled_from(
        [
            "contacts",
            "events",
            "definitions",
            "id",
            "attributes",
            "verb",
            "timestamp",
            "optional",
            "properties",
            "type",
            "values",
            "purchase",
            "city",
            "a/b",
            "and",
            "",
        ]
    )
    | st.text(max_size=4)
    | st.integers(-1, 2)
)
_SHAPES = st.recursive(
    _LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=4), max_leaves=12
)


@given(_SHAPES)
def test_any_dict_shape_gives_a_schema_or_a_schema_error(data):
    try:
        schema = segmint.Schema.from_dict(data)
    except segmint.SchemaError:
        return
    assert segmint.Schema.from_dict(schema.to_dict()) == schema


@given(st.data())
def test_random_changes_to_a_valid_schema_give_a_schema_or_a_schema_error(data):
    change = with_change(
        data.draw(
            st.sampled_from(
                [
                    ("contacts",),
                    ("contacts", "id"),
                    ("contacts", "attributes"),
                    ("contacts", "attributes", "city"),
                    ("contacts", "attributes", "age"),
                    ("events",),
                    ("events", "purchase"),
                    ("events", "purchase", "verb"),
                    ("events", "purchase", "properties"),
                    ("events", "purchase", "optional"),
                    ("definitions",),
                    ("definitions", "rich"),
                    ("events", "purchase", "properties", "amount"),
                ]
            )
        ),
        data.draw(_SHAPES),
    )
    with contextlib.suppress(segmint.SchemaError):
        segmint.Schema.from_dict(change)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_content_gives_a_schema_or_a_schema_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("schema") / "schema.toml"
    path.write_bytes(content)
    with contextlib.suppress(segmint.SchemaError):
        segmint.Schema.from_toml(path)


@pytest.mark.parametrize(
    "data",
    [
        {"contacts": {"attributes": {}, "id": "\ud800"}},
        {"contacts": {"attributes": {"g": {"type": "category", "values": ["f", "\ud800"]}}}},
        {"events": {"a": {"timestamp": "t\udfff"}}},
    ],
)
def test_names_and_values_must_be_text_data_can_hold(data):
    """Found by the long fuzz run: a lone surrogate (not UTF-8) in a column name or category value was accepted, and
    no Arrow table can hold it."""
    with pytest.raises(segmint.SchemaError, match="lone surrogate"):
        segmint.Schema.from_dict(data)
