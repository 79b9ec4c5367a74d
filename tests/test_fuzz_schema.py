"""Fuzzing schemas (``Schema.from_dict``): dicts of random shapes, with names that are keywords, empty, long, dotted,
slashed, non-ASCII or repeated, types that are aliases, junk or of the wrong kind (a valid schema dict with one or
two places damaged), and a store of each accepted schema saved and opened again.

- ``Schema.from_dict`` gives a schema or a ``SegmintError``; an accepted schema survives ``to_dict``.
- A store of an accepted schema (two contacts, two events of each type) loads or is refused with a
  ``SegmintError``; once loaded, it is saved and opened again (or refused) and answers every verb alike.
"""

import datetime as dt
import tempfile
from pathlib import Path

import pyarrow as pa
from fuzzgen import NOW, assert_agree, attempt, fuzz, places, put, refused
from hypothesis import event, given
from hypothesis import strategies as st

import segmint
from segmint.compiler.types import TYPE_ALIASES, Type
from segmint.dsl.lexicon import KEYWORDS

HOSTILE_NAMES = st.one_of(
    st.sampled_from(
        [
            "a",
            "b",
            "a_b",
            "city",
            "opened",
            "contact_id",
            "timestamp",
            "x" * 300,
            "",
            " ",
            "a b",
            "a.b",
            "a.b.dict",
            "a/b",
            "../a",
            ".",
            "..",
            "CON",
            "nul",
            "é",
            "日本",
            "𝔘",
            "_",
            "1a",
            "a-b",
            "a\x00b",
            "\ud800",
            "a\nb",
            "A",
            "Ab",
            *sorted(KEYWORDS)[:6],
            "AND",
            "True",
        ]
    ),
    st.text(max_size=8),
)
IDENTIFIERS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(["é", "日本", "_", "A", "Ab", "x" * 300, "Contact_Id", "ago_", "timestamp"]),
)
TYPES = st.sampled_from(sorted(TYPE_ALIASES))
FIELD_SPECS = st.one_of(
    TYPES,
    TYPES.map(lambda t: {"type": t}),
    st.lists(HOSTILE_NAMES, min_size=1, max_size=4, unique=True).map(lambda v: {"type": "category", "values": v}),
)
# A schema dict that is valid but for its event type names (free text: they become file names of saved stores).
VALID_SCHEMA_DICTS = st.fixed_dictionaries(
    {
        "contacts": st.fixed_dictionaries(
            {"attributes": st.dictionaries(IDENTIFIERS, FIELD_SPECS, max_size=4)}, optional={"id": IDENTIFIERS}
        ),
        "events": st.dictionaries(
            HOSTILE_NAMES,
            st.fixed_dictionaries(
                {"verb": IDENTIFIERS, "properties": st.dictionaries(IDENTIFIERS, FIELD_SPECS, max_size=3)},
                optional={"timestamp": IDENTIFIERS},
            ),
            max_size=3,
        ),
    },
    optional={
        "definitions": st.dictionaries(IDENTIFIERS, st.sampled_from(["a", "opened", "a > 1", "not ("]), max_size=2)
    },
)
JUNK = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=2),
    HOSTILE_NAMES,
    st.sampled_from(["int", "category", "tags", "Tags", "duration", "list", ""]),
    st.dictionaries(
        st.sampled_from(["type", "values", "verb", "properties", "default"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), TYPES),
        max_size=2,
    ),
)


@st.composite
def schema_dicts(draw) -> dict:
    """A valid schema dict, or one with one or two places replaced by junk or renamed to a hostile name."""
    data = draw(VALID_SCHEMA_DICTS)
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(list(places(data))[1:]))
        if draw(st.booleans()):
            data = put(data, path, draw(JUNK))
        else:
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict):
                parent[draw(HOSTILE_NAMES)] = parent.pop(path[-1])
    return data


SCHEMA_DICTS = schema_dicts()


@fuzz(200)
@given(data=SCHEMA_DICTS)
def test_fuzz_schema_dicts(data):
    schema = attempt(segmint.Schema.from_dict, data)
    if refused(schema):
        return
    assert_columns_named(schema)
    assert segmint.Schema.from_dict(schema.to_dict()) == schema


def assert_columns_named(schema: segmint.Schema) -> None:
    """Every column an accepted schema names (the id, each event type's time) is named by text."""
    names = [schema.id_column] + [event.timestamp for event in schema.events.values()]
    assert all(isinstance(name, str) for name in names), f"column names that are not text: {names}"


# -- a store of every accepted schema ------------------------------------------------------------------------
def sample(field, rows: int) -> pa.Array:
    """``rows`` values of the field's type, the last one null."""
    value = {
        Type.BOOL: (True, pa.bool_()),
        Type.INT: (7, pa.int64()),
        Type.FLOAT: (1.5, pa.float64()),
        Type.STRING: ((field.values or ("a",))[0], pa.string()),
        Type.DATE: (dt.date(2026, 10, 1), pa.date32()),
        Type.TIMESTAMP: (dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC), pa.timestamp("us", tz="UTC")),
        Type.TAGS: (["vip", "a"], pa.list_(pa.string())),
    }
    item, arrow_type = value[field.type]
    return pa.array([item] * (rows - 1) + [None], arrow_type)


def tables(schema: segmint.Schema) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Two contacts (ids 1, 2) and two events of every type for contact 1; a column named twice keeps its last
    meaning (ids, then times win)."""
    contacts = {name: sample(f, 2) for name, f in schema.attributes.items()}
    contacts[schema.id_column] = pa.array([1, 2], pa.int64())
    events = {}
    for name, event_type in schema.events.items():
        columns = {prop: sample(f, 2) for prop, f in event_type.properties.items()}
        columns[schema.id_column] = pa.array([1, 1], pa.int64())
        columns[event_type.timestamp] = pa.array(
            [NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=40)], pa.timestamp("us", tz="UTC")
        )
        events[name] = pa.table(columns)
    return pa.table(contacts), events


@fuzz(80)
@given(data=SCHEMA_DICTS)
def test_fuzz_schema_stores_save_and_open(data):
    schema = attempt(segmint.Schema.from_dict, data)
    if refused(schema):
        return
    assert_columns_named(schema)
    contacts, events = tables(schema)
    store = attempt(segmint.Store.from_arrow, contacts, events, schema)
    event(f"store {'refused' if refused(store) else 'loaded'}, {len(schema.events)} event type(s)")
    if refused(store):
        return
    texts = [*schema.verbs, *(f"{name} is null" for name in schema.attributes)]
    rules = [rule for rule in (attempt(segmint.compile, text, schema) for text in texts) if not refused(rule)]
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "store"
        if refused(attempt(store.save, target)):
            assert not target.exists() or not any(target.iterdir()), "a refused save left files behind"
            return
        again = attempt(segmint.Store.open, target)
        assert not refused(again), f"a store segmint saved does not open: {again}"
        assert again.ids.tolist() == store.ids.tolist()
        for rule in rules:
            before = assert_agree(rule, store, NOW, {}, duckdb_too=False)
            after = assert_agree(rule, again, NOW, {}, duckdb_too=False)
            assert (before == after).all(), f"{rule.text}: saving and opening the store changed the answer"
