"""Loading data: values arrive as the schema says, events get sorted, and data that does not fit fails with a
DataError naming the file and the column. Nothing is silently dropped."""

import datetime as dt
import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data import EVERY_TYPE_ATTRIBUTES, PURCHASE_EVENT

import segmint
from segmint.runtime.store.load import store_from_arrow

SCHEMA = segmint.Schema.from_dict(
    {"contacts": {"attributes": EVERY_TYPE_ATTRIBUTES}, "events": {"purchase": PURCHASE_EVENT}}
)
UTC = dt.UTC


def contacts(**override):
    columns = {
        "contact_id": pa.array([10, 20, 30]),
        "city": pa.array(["Kyiv", None, "Lviv"]),
        "email": pa.array(["a@x", "b@y", None]),
        "born": pa.array([dt.date(1990, 1, 2), None, dt.date(1970, 1, 1)]),
        "seen": pa.array([dt.datetime(2026, 1, 1, tzinfo=UTC), None, dt.datetime(2026, 1, 2, 3, tzinfo=UTC)]),
        "vip": pa.array([True, False, None]),
        "points": pa.array([1, None, 3], pa.int32()),
        "score": pa.array([1.5, 2, None]),
        "tags": pa.array([["a", "b"], [], None]),
        "ignored_extra": pa.array([0, 0, 0]),
    }
    columns.update(override)
    return pa.table({k: v for k, v in columns.items() if v is not None})


def purchases(**override):
    columns = {
        "contact_id": pa.array([30, 10, 30, 10]),
        "timestamp": pa.array(
            [dt.datetime(2026, 3, 1), dt.datetime(2026, 2, 1), dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)],
            pa.timestamp("ms"),
        ),
        "amount": pa.array([1.0, 2.0, 3.0, 4.0]),
        "brand": pa.array(["A", "B", "A", None]),
    }
    columns.update(override)
    return pa.table({k: v for k, v in columns.items() if v is not None})


def test_values_arrive_as_the_schema_says():
    store = store_from_arrow(contacts(), {"purchase": purchases()}, SCHEMA)
    a = store.attributes
    assert store.ids.tolist() == [10, 20, 30]
    assert [a["city"].dictionary[c] if ok else None for c, ok in zip(a["city"].values, a["city"].validity(),
                                                                      strict=True)] == ["Kyiv", None, "Lviv"]
    assert a["city"].dictionary == ("Kyiv", "Lviv") and a["city"].values[1] == -1
    assert a["born"].values[[0, 2]].tolist() == [7306, 0] and a["born"].valid.tolist() == [True, False, True]
    assert a["seen"].values[2] == (dt.datetime(2026, 1, 2, 3, tzinfo=UTC) - dt.datetime(1970, 1, 1, tzinfo=UTC)) \
        // dt.timedelta(microseconds=1)
    assert a["points"].values.dtype == np.int64 and a["points"].valid.tolist() == [True, False, True]
    assert a["score"].values.tolist()[:2] == [1.5, 2.0]
    tags = a["tags"]
    assert tags.offsets.tolist() == [0, 2, 2, 2]
    assert [tags.dictionary[c] for c in tags.values] == ["a", "b"]


def test_events_are_sorted_by_contact_then_time_keeping_ties_in_input_order():
    table = store_from_arrow(contacts(), {"purchase": purchases()}, SCHEMA).events["purchase"]
    assert table.offsets.tolist() == [0, 2, 2, 4]
    amounts = table.properties["amount"].values.tolist()
    assert amounts == [2.0, 4.0, 3.0, 1.0]  # contact 10: the tie at Feb 1 keeps input order (2.0 then 4.0)
    assert np.all(np.diff(table.ts[:2]) >= 0) and np.all(np.diff(table.ts[2:]) >= 0)
    assert table.properties["brand"].valid.tolist() == [True, False, True, True]


@pytest.mark.parametrize(
    "ids",
    [[10, 11, 12], [10, 20, 30], [30, 10, 20], ["c", "a", "b"]],
    ids=["consecutive", "sorted", "unsorted", "strings"],
)
def test_every_kind_of_contact_id_finds_its_events(ids):
    owner = [ids[2], ids[0], ids[2], ids[0]]
    store = store_from_arrow(contacts(contact_id=pa.array(ids)), {"purchase": purchases(contact_id=pa.array(owner))},
                             SCHEMA)
    assert store.events["purchase"].offsets.tolist() == [0, 2, 2, 4]
    stranger = [ids[0], "zz" if isinstance(ids[0], str) else 99, ids[0], ids[1]]
    with pytest.raises(segmint.DataError, match=r"1 event\(s\) belong to contacts that do not exist, e.g. (99|zz)"):
        store_from_arrow(contacts(contact_id=pa.array(ids)), {"purchase": purchases(contact_id=pa.array(stranger))},
                         SCHEMA)


def test_dictionary_encoded_strings_map_to_the_declared_codes():
    # The file's dictionary lists values in another order, repeats one and holds an unused stranger.
    city = pa.DictionaryArray.from_arrays(pa.array([2, None, 0, 3], pa.int8()), ["Lviv", "Mars", "Kyiv", "Lviv"])
    brand = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, 1]), ["B", "A"])
    schema = segmint.Schema.from_dict(
        {"contacts": {"attributes": {"city": {"type": "category", "values": ["Kyiv", "Lviv"]}}},
         "events": {"purchase": {"verb": "bought", "properties": {"brand": "string"}}}})
    c = pa.table({"contact_id": [10, 20, 30, 40], "city": city})
    store = store_from_arrow(c, {"purchase": purchases(brand=brand, amount=None)}, schema)
    column = store.attributes["city"]
    assert column.values.dtype == np.int8 and column.values.tolist() == [0, -1, 1, 1]
    brands = store.events["purchase"].properties["brand"]
    assert [brands.dictionary[code] for code in brands.values] == ["A", "A", "B", "B"]  # sorted by contact, time
    outside = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, 0]), ["Kyiv", "Mars"])
    with pytest.raises(segmint.DataError, match="'Mars' are not among the declared categories"):
        store_from_arrow(pa.table({"contact_id": [10, 20, 30, 40], "city": outside}), {}, schema)


@pytest.mark.parametrize(
    ("owners", "days"),
    [([10, 10, 30, 30], [2, 1, 1, 3]), ([10, 10, 30, 30], [1, 2, 3, 1]), ([10, 30, 30, 10], [1, 1, 2, 2])],
    ids=["grouped, times backwards in the first", "grouped, backwards in the last", "split"],
)
def test_events_grouped_by_contact_still_get_their_times_sorted(owners, days):
    stamps = pa.array([dt.datetime(2026, 1, d) for d in days], pa.timestamp("ms"))
    table = store_from_arrow(contacts(), {"purchase": purchases(contact_id=pa.array(owners), timestamp=stamps)},
                             SCHEMA).events["purchase"]
    assert table.offsets.tolist() == [0, 2, 2, 4]
    assert all(np.all(np.diff(table.ts[a:b]) >= 0) for a, b in [(0, 2), (2, 4)])
    expected = sorted(zip(owners, days, [1.0, 2.0, 3.0, 4.0], strict=True))
    assert table.properties["amount"].values.tolist() == [amount for _, _, amount in expected]


def test_event_type_declared_optional_may_have_no_data():
    optional = segmint.Schema.from_dict(
        {**SCHEMA.to_dict(), "events": {"purchase": {**SCHEMA.to_dict()["events"]["purchase"], "optional": True}}}
    )
    table = store_from_arrow(contacts(), {}, optional).events["purchase"]
    assert len(table) == 0 and table.offsets.tolist() == [0, 0, 0, 0]


def test_event_type_without_data_is_an_error_unless_optional(tmp_path):
    with pytest.raises(segmint.DataError, match=r"events table 'purchase': no events of type 'purchase'.*optional"):
        store_from_arrow(contacts(), {}, SCHEMA)
    (tmp_path / "events").mkdir()
    pq.write_table(contacts(), tmp_path / "contacts.parquet")
    pq.write_table(purchases(), tmp_path / "events" / "Purchase.parquet")  # misnamed: not the schema's type
    with pytest.raises(segmint.DataError) as info:
        segmint.Store.from_parquet(tmp_path, SCHEMA)
    assert "Purchase" in str(info.value)
    (tmp_path / "events" / "Purchase.parquet").unlink()
    with pytest.raises(segmint.DataError) as info:
        segmint.Store.from_parquet(tmp_path, SCHEMA)
    assert info.value.source == str(tmp_path / "events" / "purchase.parquet")


def test_pandas_polars_and_parquet_give_the_same_store(tmp_path):
    pl = pytest.importorskip("polars")
    reference = store_from_arrow(contacts(), {"purchase": purchases()}, SCHEMA)
    c, p = contacts(tags=None), purchases()
    schema = segmint.Schema.from_dict({**SCHEMA.to_dict(), "contacts": {"attributes": {
        k: v for k, v in SCHEMA.to_dict()["contacts"]["attributes"].items() if k != "tags"}}})
    from_polars = segmint.Store.from_polars(pl.from_arrow(c), {"purchase": pl.from_arrow(p)}, schema)
    (tmp_path / "events").mkdir()
    pq.write_table(c, tmp_path / "contacts.parquet")
    pq.write_table(p, tmp_path / "events" / "purchase.parquet")
    from_parquet = segmint.Store.from_parquet(tmp_path, schema)
    for store in (from_polars, from_parquet):
        assert np.array_equal(store.events["purchase"].ts, reference.events["purchase"].ts)
        assert np.array_equal(store.attributes["seen"].values, reference.attributes["seen"].values)


def test_saved_store_opens_memory_mapped_and_equal(tmp_path):
    store = store_from_arrow(contacts(), {"purchase": purchases()}, SCHEMA)
    store.save(tmp_path / "s")
    opened = segmint.Store.open(tmp_path / "s")
    assert isinstance(opened.events["purchase"].ts, np.memmap)
    assert opened.schema == store.schema
    for name, column in store.attributes.items():
        other = opened.attributes[name]
        assert np.array_equal(column.values, other.values) and column.dictionary == other.dictionary
    seg = segmint.compile("bought brand = A and city = Lviv and tags has a", SCHEMA)
    assert seg.evaluate(opened, now="2026-06-01").ids().tolist() == []
    assert segmint.compile("sum(bought.amount) > 3", SCHEMA).evaluate(opened, now="2026-06-01").ids().tolist() == [
        10, 30]


@pytest.mark.parametrize(
    ("tables", "message", "column"),
    [
        (lambda: (contacts(city=None), {}), "missing column", "city"),
        (lambda: (contacts(points=pa.array(["1", "2", "3"])), {}), "found string, but the schema says int", "points"),
        (lambda: (contacts(city=pa.array(["Kyiv", "Odesa", "Lvov"])), {}), "'Odesa', 'Lvov' are not among", "city"),
        (lambda: (contacts(contact_id=pa.array([1, 2, 1])), {}), "appear more than once, e.g. 1", "contact_id"),
        (lambda: (contacts(contact_id=pa.array([1, None, 3])), {}), "1 contact id(s) are null", "contact_id"),
        (lambda: (contacts(), {"purchase": purchases(contact_id=pa.array([10, 99, 98, 10]))}),
         "2 event(s) belong to contacts that do not exist", "contact_id"),
        (lambda: (contacts(), {"purchase": purchases(timestamp=pa.array([None, 1, 2, 3], pa.timestamp("s")))}),
         "1 event time(s) are null (first at row 0)", "timestamp"),
        (lambda: (contacts(), {"refund": purchases()}), "event type 'refund' is not in the schema", None),
        (lambda: (contacts(), {"purchase": purchases(amount=pa.array(["x"] * 4))}), "found string", "amount"),
    ],
)
def test_data_that_does_not_fit_is_named(tables, message, column):
    c, events = tables()
    with pytest.raises(segmint.DataError) as info:
        store_from_arrow(c, events, SCHEMA)
    assert message in str(info.value)
    assert info.value.column == column
    assert info.value.source


def test_damaged_files_are_named(tmp_path):
    (tmp_path / "events").mkdir()
    pq.write_table(contacts(), tmp_path / "contacts.parquet")
    pq.write_table(purchases(), tmp_path / "events" / "purchase.parquet")
    data = (tmp_path / "events" / "purchase.parquet").read_bytes()
    (tmp_path / "events" / "purchase.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(segmint.DataError, match=r"purchase\.parquet: cannot read this Parquet file"):
        segmint.Store.from_parquet(tmp_path, SCHEMA)
    (tmp_path / "events" / "purchase.parquet").unlink()
    (tmp_path / "contacts.parquet").unlink()
    with pytest.raises(segmint.DataError, match=r"no contacts\.parquet"):
        segmint.Store.from_parquet(tmp_path, SCHEMA)


def test_inferred_schema(tmp_path):
    store = store_from_arrow(contacts(), {"purchase": purchases()})
    schema = store.schema
    assert schema.attributes["city"].values == ("Kyiv", "Lviv")
    assert schema.attributes["seen"].type is segmint.Type.TIMESTAMP
    assert schema.events["purchase"].verb == "purchase"
    assert segmint.compile("purchase brand = A", schema).evaluate(store, now="2026-06-01").ids().tolist() == [30]


@pytest.mark.parametrize("ids", [[10, 20, 30], [10, 11, 12], [30, 20, 10]])  # gaps, consecutive, not increasing
@pytest.mark.parametrize("cuts", [[], [1], [2], [1, 2], [0, 2, 2, 5]])
def test_events_in_chunks_load_as_one_table(ids, cuts):
    """An event table in several chunks (as Parquet row groups give), runs of one contact's events crossing chunk
    boundaries and empty chunks included, loads as the same table in one chunk."""
    first, second, third = ids
    rows = {
        "contact_id": [first, first, second, second, second, third],
        "timestamp": [dt.datetime(2026, 1, d) for d in (1, 2, 3, 4, 5, 6)],
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "brand": ["A", "B", "A", "B", "A", "B"],
    }
    whole = pa.table({**rows, "timestamp": pa.array(rows["timestamp"], pa.timestamp("us"))})
    bounds = [0, *cuts, len(whole)]
    chunked = pa.concat_tables([whole.slice(a, b - a) for a, b in itertools.pairwise(bounds)])
    people = contacts(contact_id=pa.array(ids))
    one = store_from_arrow(people, {"purchase": whole}, SCHEMA).events["purchase"]
    many = store_from_arrow(people, {"purchase": chunked}, SCHEMA).events["purchase"]
    assert chunked.column("contact_id").num_chunks == len(bounds) - 1
    assert np.array_equal(one.offsets, many.offsets) and np.array_equal(one.ts, many.ts)
    assert np.array_equal(one.properties["amount"].values, many.properties["amount"].values)
    assert np.diff(many.offsets).tolist() == [2, 3, 1]  # rows in the contacts table's order


# -- values that do not fit a store: refused, never wrapped; NaN is null ------------------------------------------
NAN_SCHEMA = segmint.Schema.from_dict(
    {
        "contacts": {"attributes": {"score": "float"}},
        "events": {"purchase": {"verb": "bought", "properties": {"amount": "float"}}},
    }
)


def nan_tables():
    people = pa.table({"contact_id": [1, 2, 3, 4], "score": [float("nan"), 1.0, None, float("inf")]})
    bought = pa.table(
        {
            "contact_id": [1, 1, 2, 3, 4],
            "timestamp": pa.array([dt.datetime(2026, 1, d) for d in (1, 2, 3, 4, 5)], pa.timestamp("us")),
            "amount": [float("nan"), 5.0, float("-inf"), float("nan"), 150.0],
        }
    )
    return people, bought


def nan_stores(tmp_path):
    people, bought = nan_tables()
    (tmp_path / "events").mkdir()
    pq.write_table(people, tmp_path / "contacts.parquet")
    pq.write_table(bought, tmp_path / "events" / "purchase.parquet")
    stores = {
        "arrow": store_from_arrow(people, {"purchase": bought}, NAN_SCHEMA),
        "parquet": segmint.Store.from_parquet(tmp_path, NAN_SCHEMA),
        "pandas": segmint.Store.from_pandas(people.to_pandas(), {"purchase": bought.to_pandas()}, NAN_SCHEMA),
    }
    try:
        import polars as pl
    except ImportError:
        return stores
    stores["polars"] = segmint.Store.from_polars(pl.from_arrow(people), {"purchase": pl.from_arrow(bought)},
                                                 NAN_SCHEMA)
    return stores


def test_nan_is_loaded_as_null_from_every_source_and_infinities_stay_numbers(tmp_path):
    for source, store in nan_stores(tmp_path).items():
        score, amount = store.attributes["score"], store.events["purchase"].properties["amount"]
        assert score.valid.tolist() == [False, True, False, True], source
        assert score.values[3] == np.inf and not np.isnan(score.values).any(), source
        assert amount.valid.tolist() == [False, True, True, False, True], source
        assert amount.values[2] == -np.inf and not np.isnan(amount.values).any(), source
        for rule, ids in [
            ("score is null", [1, 3]),
            ("score > 1e300", [4]),
            ("max(bought.amount) > 100", [4]),
            ("min(bought.amount) < 0", [2]),
            ("bought amount is null", [1, 3]),
        ]:
            for engine in ("reference", "vector", "compiled"):
                result = segmint.compile(rule, NAN_SCHEMA).evaluate(store, now="2026-06-01", engine=engine)
                assert result.ids().tolist() == ids, (source, rule, engine)


def test_times_finer_than_a_microsecond_are_cut_toward_the_past_in_events_and_attributes():
    ns = [1_700_000_000_123_456_789, -1_500, 1_000]  # after 1970, just before it, just after it
    people = contacts(seen=pa.array(ns, pa.timestamp("ns", tz="UTC")))
    bought = purchases(contact_id=pa.array([10, 20, 30, 10]),
                       timestamp=pa.array([*ns, ns[0] + 1], pa.timestamp("ns")))
    store = store_from_arrow(people, {"purchase": bought}, SCHEMA)
    assert store.attributes["seen"].values.tolist() == [1_700_000_000_123_456, -2, 1]
    assert store.events["purchase"].ts.tolist() == [1_700_000_000_123_456, 1_700_000_000_123_456, -2, 1]


def test_dates_in_a_timestamp_column_are_their_midnights_whatever_their_arrow_type():
    days = [dt.date(2026, 1, 1), dt.date(1969, 12, 31), dt.date(2026, 3, 1), dt.date(2026, 2, 1)]
    stamps = {t: pa.array(days, t) for t in (pa.date32(), pa.date64())}
    midnight = [dt.datetime.combine(d, dt.time(), tzinfo=UTC) for d in days]
    expected = sorted((dt.datetime.fromtimestamp(0, UTC) - m) // dt.timedelta(microseconds=-1) for m in midnight)
    for arrow_type, array in stamps.items():
        table = store_from_arrow(contacts(), {"purchase": purchases(timestamp=array)}, SCHEMA).events["purchase"]
        assert sorted(table.ts.tolist()) == expected, arrow_type


def test_time_zones_are_converted_to_utc():
    kyiv = pa.array([dt.datetime(2026, 1, 1, 12)] * 3, pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC"))
    local = kyiv.cast(pa.timestamp("ms", tz="Europe/Kyiv"))
    a = store_from_arrow(contacts(seen=kyiv), {"purchase": purchases()}, SCHEMA).attributes["seen"].values
    b = store_from_arrow(contacts(seen=local), {"purchase": purchases()}, SCHEMA).attributes["seen"].values
    assert a.tolist() == b.tolist()


def test_dates_before_1970_and_up_to_9999_load():
    born = pa.array([dt.date(1, 1, 1), dt.date(1969, 12, 31), dt.date(9999, 12, 31)])
    seen = pa.array([dt.datetime(1, 1, 1), dt.datetime(1900, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)],
                    pa.timestamp("s"))
    store = store_from_arrow(contacts(born=born, seen=seen), {"purchase": purchases()}, SCHEMA)
    assert store.attributes["born"].values.tolist() == [-719162, -1, 2932896]
    assert store.attributes["seen"].values[1] == -2208988800 * 1_000_000


FAR = dt.date(9999, 12, 31).toordinal() - dt.date(1970, 1, 1).toordinal() + 1  # the first day after 9999


@pytest.mark.parametrize(
    ("tables", "column"),
    [
        (lambda: (contacts(contact_id=pa.array([1, 2, 2**63 + 5], pa.uint64())), {}), "contact_id"),
        (
            lambda: (
                contacts(contact_id=pa.array([10, 20, 30], pa.uint64())),
                {"purchase": purchases(contact_id=pa.array([10, 20, 2**64 - 1, 10], pa.uint64()))},
            ),
            "contact_id",
        ),
        (lambda: (contacts(), {"purchase": purchases(timestamp=pa.array([0, 1, 200_000_000, 3], pa.date32()))}),
         "timestamp"),
        (lambda: (contacts(), {"purchase": purchases(timestamp=pa.array([0, 1, 2**62, 3], pa.timestamp("s")))}),
         "timestamp"),
        (lambda: (contacts(seen=pa.array([0, 200_000_000, 0], pa.date32())), {}), "seen"),
        (lambda: (contacts(seen=pa.array([-2**62, 0, 0], pa.timestamp("ms"))), {}), "seen"),
        (lambda: (contacts(born=pa.array([0, FAR, None], pa.date32())), {}), "born"),
        (lambda: (contacts(points=pa.array([1, 2**64 - 1, None], pa.uint64())), {}), "points"),
    ],
    ids=["uint64 contact ids", "uint64 event ids", "year 549,000 as a date", "seconds beyond 9999",
         "attribute date beyond", "attribute ms before year 1", "date attribute beyond 9999",
         "uint64 int attribute"],
)
def test_values_a_store_cannot_hold_are_refused_with_file_and_column(tables, column):
    c, events = tables()
    events = events or {"purchase": purchases()}
    with pytest.raises(segmint.DataError) as info:
        store_from_arrow(c, events, SCHEMA)
    assert info.value.column == column and info.value.source
    assert any(reason in str(info.value) for reason in ("2**63 - 1", "years 1 to 9999", "not in range"))


def test_uint64_ids_that_fit_load_exactly():
    ids = pa.array([1, 2**63 - 1, 5], pa.uint64())
    owners = pa.array([5, 2**63 - 1, 5, 1], pa.uint64())
    store = store_from_arrow(contacts(contact_id=ids), {"purchase": purchases(contact_id=owners)}, SCHEMA)
    assert store.ids.tolist() == [1, 2**63 - 1, 5]
    assert store.events["purchase"].offsets.tolist() == [0, 1, 2, 4]
