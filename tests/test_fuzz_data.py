"""Fuzzing data through the loaders (``Store.from_arrow``, ``Store.from_parquet``): random Arrow tables for the demo
schema with nulls, NaN, inf, extreme integers and dates, timestamps of every unit and several time zones, ids of
several types, duplicate and unknown ids, missing and wrongly typed columns, missing event tables.

- Loading gives a store or a ``SegmintError``, never another exception.
- A loaded store holds exactly the data given: the same ids, every event at its exact instant, every integer, date
  and timestamp value unchanged (what cannot be represented must be refused, not changed).
- Every engine (and DuckDB) gives the same answer on it, for rules of tests/test_fuzz_text.py's hostile shapes.
"""

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fuzzgen import ENGINES, NOW, SCHEMA, assert_agree, attempt, fuzz, hostile_rules, refused, shown
from hypothesis import event, given
from hypothesis import strategies as st

import segmint
from segmint.compiler.types import Type

US = {"s": 10**6, "ms": 10**3, "us": 1}
INT64 = (-(2**63), 2**63 - 1)
NOW_S = int(NOW.timestamp())
ZONES = [None, "UTC", "Europe/Kyiv", "+05:30", "America/St_Johns", "-12:00"]
INTEGER_TYPES = {
    pa.int64(): INT64,
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int8(): (-128, 127),
    pa.uint64(): (0, 2**64 - 1),
    pa.uint8(): (0, 255),
}


def rarely() -> st.SearchStrategy[bool]:
    """True one time in eight (the hostile case last: Hypothesis favours the first of a sampled list)."""
    return st.sampled_from([False] * 7 + [True])


def integers(arrow_type: pa.DataType) -> st.SearchStrategy[int]:
    low, high = INTEGER_TYPES[arrow_type]
    edges = [
        v
        for v in (0, 1, -1, 2, 7, 100, low, high, low + 1, high - 1, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63)
        if low <= v <= high
    ]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


@st.composite
def instants(draw, unit: str) -> int:
    """A time in ``unit`` since the epoch: near now (on a day edge, with or without a sub-microsecond part), or
    at an extreme that a microsecond int64 may not hold."""
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    near = (NOW_S - draw(st.sampled_from([0, 1, 86_400, 7 * 86_400, 30 * 86_400, 400 * 86_400, -86_400]))) * per_second
    extreme = draw(
        st.sampled_from(
            [
                INT64[0] + 1,
                INT64[1],
                -62_135_596_800 * per_second,
                253_402_300_799 * per_second,  # years 1 and 9999
                17_000_000_000_000 if unit == "s" else INT64[1] // 2,  # year ~540,000 in seconds
            ]
        )
    )
    within_second = draw(st.integers(0, 999_999)) * (per_second // 10**6 if unit == "ns" else 0)
    value = draw(
        st.sampled_from(
            [
                near,
                near + within_second,
                near + within_second,
                near + within_second,
                near + draw(st.integers(0, per_second)) if draw(rarely()) else near,
                extreme if draw(rarely()) else near,
            ]
        )
    )
    return max(INT64[0] + 1, min(INT64[1], value))


@st.composite
def timestamp_arrays(draw, n: int, nulls: bool) -> pa.Array:
    kind = draw(st.sampled_from(["timestamp"] * 8 + ["date32", "string"]))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)) if nulls else [False] * n, dtype=bool)
    if kind == "date32":
        days = [draw(st.sampled_from([NOW_S // 86_400, 0, -719_162, 2_932_896, 2**31 - 1, -(2**31)])) for _ in range(n)]
        return pa.array(days, pa.int32(), mask=mask).cast(pa.date32())
    if kind == "string":
        return pa.array(["2026-10-01T00:00:00Z"] * n, pa.string())
    unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
    values = [draw(instants(unit)) for _ in range(n)]
    return pa.array(values, pa.int64(), mask=mask).cast(pa.timestamp(unit, tz=draw(st.sampled_from(ZONES))))


@st.composite
def columns(draw, field, n: int, nulls: bool = True) -> pa.Array:
    """``n`` values for ``field``: mostly of a fitting Arrow type, sometimes of a wrong one."""
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)) if nulls else [False] * n, dtype=bool)
    match field.type:
        case Type.INT:
            arrow_type = draw(
                st.sampled_from([pa.int64()] * 6 + [pa.int32(), pa.uint64(), pa.int8(), pa.uint8(), pa.float64()])
            )
            if arrow_type == pa.float64():
                return pa.array([1.0] * n, arrow_type, mask=mask)
            return pa.array([draw(integers(arrow_type)) for _ in range(n)], arrow_type, mask=mask)
        case Type.FLOAT:
            arrow_type = draw(st.sampled_from([pa.float64(), pa.float64(), pa.float32(), pa.int64()]))
            if arrow_type == pa.int64():
                return pa.array([draw(integers(arrow_type)) for _ in range(n)], arrow_type, mask=mask)
            floats = st.sampled_from(
                [
                    0.0,
                    -0.0,
                    1.5,
                    100.0,
                    100.5,
                    999.0,
                    float("nan"),
                    float("inf"),
                    float("-inf"),
                    1e308,
                    -1e308,
                    5e-324,
                    2.0**63,
                    3.4e38,
                ]
            )
            return pa.array([draw(floats) for _ in range(n)], pa.float64(), mask=mask).cast(arrow_type, safe=False)
        case Type.BOOL:
            return pa.array([draw(st.booleans()) for _ in range(n)], pa.bool_(), mask=mask)
        case Type.STRING:
            words = [*(field.values or ["a@gmail.com", "b@corp.com", ""]), "é", "Kyiv", "kyiv", "x" * 50]
            pool = list(field.values or words)
            if draw(rarely()):
                pool += words  # perhaps values outside the declared categories: must be refused
            values = [draw(st.sampled_from(pool)) for _ in range(n)]
            array = pa.array(values, pa.string(), mask=mask)
            return draw(st.sampled_from([array, array, array.dictionary_encode(), array.cast(pa.large_string())]))
        case Type.DATE:
            kind = draw(st.sampled_from(["date32"] * 5 + ["date64", "timestamp"]))
            days = [
                draw(st.sampled_from([20_000, 20_300, 7_000, 7_300, -719_162, 2_932_896, 0, -1, 2**31 - 1, -(2**31)]))
                for _ in range(n)
            ]
            if kind == "date64":
                return pa.array([d * 86_400_000 for d in days], pa.int64(), mask=mask).cast(pa.date64())
            if kind == "timestamp":
                return pa.array([d * 86_400 for d in days], pa.int64(), mask=mask).cast(pa.timestamp("s"))
            return pa.array(days, pa.int32(), mask=mask).cast(pa.date32())
        case Type.TIMESTAMP:
            return draw(timestamp_arrays(n, nulls))
        case Type.TAGS:
            tags = st.lists(st.sampled_from(["vinyl", "jazz", "vip", "", "é", "vinyl"]), max_size=3)
            values = [None if m else draw(tags) for m in mask]
            if draw(rarely()):
                values.append(["vip", None])
                values = values[1:]
            return pa.array(values, draw(st.sampled_from([pa.list_(pa.string()), pa.large_list(pa.string())])))
    raise AssertionError(field.type)


ID_TYPES = [pa.int64(), pa.int64(), pa.int32(), pa.uint64(), pa.int8(), pa.string()]


@st.composite
def datasets(draw) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Contacts and event tables for the demo schema."""
    id_type = draw(st.sampled_from(ID_TYPES))
    element = st.text(max_size=4) if id_type == pa.string() else integers(id_type)
    ids = draw(st.lists(element, min_size=1, max_size=6, unique=True))
    if draw(rarely()):
        ids.append(ids[0])  # a duplicate id: must be refused
    n = len(ids)
    contacts = {SCHEMA.id_column: pa.array(ids, id_type)}
    for name, field in SCHEMA.attributes.items():
        if draw(rarely()) and draw(rarely()):
            continue  # a missing column: must be refused
        contacts[name] = draw(columns(field, n))
    events = {}
    for name, event_type in SCHEMA.events.items():
        if draw(rarely()):
            continue  # no table for this event type
        rows = draw(st.integers(0, 8))
        event_ids = [draw(st.sampled_from(ids)) for _ in range(rows)]
        if rows and draw(rarely()):
            event_ids[-1] = draw(element)  # perhaps an unknown contact: must be refused
        event_id_type = draw(st.sampled_from([id_type, id_type, id_type, pa.int64(), pa.string()]))
        try:
            id_array = pa.array(event_ids, event_id_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            id_array = pa.array(event_ids, id_type)
        table = {SCHEMA.id_column: id_array, event_type.timestamp: draw(timestamp_arrays(rows, nulls=False))}
        for prop, field in event_type.properties.items():
            table[prop] = draw(columns(field, rows))
        events[name] = pa.table(table)
    return pa.table(contacts), events


def load(contacts: pa.Table, events: dict, via_parquet: bool):
    """The store of these tables, through Parquet files or straight from Arrow (or the SegmintError)."""
    if via_parquet:
        with tempfile.TemporaryDirectory() as folder:
            try:
                (Path(folder) / "events").mkdir()
                pq.write_table(contacts, Path(folder) / "contacts.parquet")
                for name, table in events.items():
                    pq.write_table(table, Path(folder) / "events" / f"{name}.parquet")
            except pa.ArrowException:  # Parquet cannot hold it (seconds become milliseconds): Arrow only
                pass
            else:
                return attempt(segmint.Store.from_parquet, folder, SCHEMA)
    return attempt(segmint.Store.from_arrow, contacts, events, SCHEMA)


# -- what a loaded store must hold -------------------------------------------------------------------------------
def expected_micros(array: pa.ChunkedArray | pa.Array) -> list[int | None]:
    """The instants of a timestamp or date column in µs (Python ints, unbounded), None for null; nanoseconds are cut
    toward the past, as the loader does (docs/embedding.md: times are microseconds)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_date(array.type):
        return [None if d is None else d * 86_400 * 10**6 for d in array.cast(pa.date32()).cast(pa.int32()).to_pylist()]
    raw = array.cast(pa.int64()).to_pylist()
    unit = array.type.unit
    if unit == "ns":
        return [None if v is None else v // 1000 for v in raw]
    return [None if v is None else v * US[unit] for v in raw]


def column_values(column, n: int) -> list:
    valid = column.validity()
    return [v if ok else None for v, ok in zip(column.values[:n].tolist(), valid, strict=True)]


def assert_holds_the_data(store, contacts: pa.Table, events: dict) -> None:
    ids = contacts.column(SCHEMA.id_column).to_pylist()
    assert store.ids.tolist() == ids, f"contact ids changed: {ids} loaded as {store.ids.tolist()}"
    for name, field in SCHEMA.attributes.items():
        given_values = contacts.column(name)
        loaded = store.attributes[name]
        if field.type is Type.TIMESTAMP:
            assert column_values(loaded, len(ids)) == expected_micros(given_values), f"attribute {name} changed"
        elif field.type is Type.INT:
            assert column_values(loaded, len(ids)) == given_values.to_pylist(), f"attribute {name} changed"
        elif field.type is Type.DATE:
            days = given_values.cast(pa.date32()).cast(pa.int32()).to_pylist()
            assert column_values(loaded, len(ids)) == days, f"attribute {name} changed"
    for name, table in events.items():
        loaded = store.events[name]
        assert len(loaded) == table.num_rows, f"{name}: {table.num_rows} events given, {len(loaded)} loaded"
        timestamp = SCHEMA.events[name].timestamp
        given_pairs = sorted(
            zip(table.column(SCHEMA.id_column).to_pylist(), expected_micros(table.column(timestamp)), strict=True),
            key=repr,
        )
        loaded_pairs = sorted(zip(store.ids[loaded.contact_rows].tolist(), loaded.ts.tolist(), strict=True), key=repr)
        assert loaded_pairs == given_pairs, f"{name}: events changed in loading: {given_pairs} -> {loaded_pairs}"
        for prop, field in SCHEMA.events[name].properties.items():
            if field.type is Type.INT:  # events are reordered by the load: compare (contact, time, value) triples
                given_triples = sorted(
                    zip(
                        table.column(SCHEMA.id_column).to_pylist(),
                        expected_micros(table.column(timestamp)),
                        table.column(prop).to_pylist(),
                        strict=True,
                    ),
                    key=repr,
                )
                loaded_triples = sorted(
                    zip(
                        store.ids[loaded.contact_rows].tolist(),
                        loaded.ts.tolist(),
                        column_values(loaded.properties[prop], len(loaded)),
                        strict=True,
                    ),
                    key=repr,
                )
                assert loaded_triples == given_triples, f"{name}.{prop} changed in loading"


@fuzz(80)
@given(data=st.data(), dataset=datasets(), via_parquet=st.sampled_from([False, False, False, True]))
def test_fuzz_loaders(data, dataset, via_parquet):
    contacts, events = dataset
    store = load(contacts, events, via_parquet)
    event("refused" if refused(store) else "loaded")
    if refused(store):
        return
    assert_holds_the_data(store, contacts, events)
    store = shown(store)
    for _ in range(3):
        rule = attempt(segmint.compile, data.draw(hostile_rules(), label="rule"), SCHEMA)
        if not refused(rule):
            assert_agree(rule, store, NOW, {})


@fuzz(15)  # kernels compile per rule shape and per store shape (nulls, dictionary sizes)
@given(data=st.data(), dataset=datasets())
def test_fuzz_loaders_compiled(data, dataset):
    contacts, events = dataset
    store = load(contacts, events, via_parquet=False)
    if refused(store):
        return
    rule = attempt(segmint.compile, data.draw(hostile_rules(), label="rule"), SCHEMA)
    if not refused(rule):
        assert_agree(rule, shown(store), NOW, {}, ENGINES)
