"""The demo data generator: fits its schema exactly, is reproducible, is sorted the way loaders want, looks real."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from segmint.compiler.schema import Schema
from segmint.compiler.types import Type
from segmint.runtime.demo import files
from segmint.runtime.demo import generator as demo

DAY_US = 86_400_000_000


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(20_000, seed=11)


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def column(table: pa.Table, name: str) -> np.ndarray:
    """A column as numpy; category columns as their strings (None for null)."""
    values = table[name].combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.cast(pa.string())
    if pa.types.is_timestamp(values.type):
        return values.cast(pa.int64()).to_numpy()
    return values.to_numpy(zero_copy_only=False)


def events_per_contact(data: demo.DemoData) -> np.ndarray:
    ids = column(data.contacts, "contact_id")
    total = np.zeros(len(ids), dtype=np.int64)
    for table in data.events.values():
        total += np.bincount(np.searchsorted(ids, column(table, "contact_id")), minlength=len(ids))
    return total


# -- schema fit ---------------------------------------------------------------------------------------------------


def test_demo_schema_is_the_packaged_toml_and_round_trips():
    schema = demo.demo_schema()
    assert schema == Schema.from_toml(Path(demo.__file__).with_name("schema.toml"))
    assert Schema.from_dict(schema.to_dict()) == schema
    assert list(schema.events) == [
        "email_open",
        "email_click",
        "product_view",
        "purchase",
        "app_open",
        "webpush_subscribe",
    ]


def fits(type_: Type, arrow: pa.DataType) -> bool:
    """Whether an Arrow column type is what the loader expects for a schema type (as this generator emits it)."""
    if type_ is Type.STRING:
        return arrow == pa.string() or (pa.types.is_dictionary(arrow) and arrow.value_type == pa.string())
    expected = {
        Type.BOOL: pa.bool_(),
        Type.INT: pa.int64(),
        Type.FLOAT: pa.float64(),
        Type.DATE: pa.date32(),
        Type.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        Type.TAGS: pa.list_(pa.string()),
    }
    return arrow == expected[type_]


def check_fields(table: pa.Table, fields) -> None:
    for field in fields:
        arrow = table.schema.field(field.name).type
        assert fits(field.type, arrow), f"{field.name}: {arrow} does not fit {field.type}"
        if field.values is not None:  # category: the dictionary is the schema's value list, every value is in it
            assert pa.types.is_dictionary(arrow)
            chunk = table[field.name].chunk(0)
            assert chunk.dictionary.to_pylist() == list(field.values)
            present = set(pc.unique(table[field.name].cast(pa.string())).to_pylist()) - {None}
            assert present <= set(field.values)


def test_tables_match_the_schema_column_for_column_and_type_for_type(data):
    schema = demo.demo_schema()
    assert data.contacts.column_names == [schema.id_column, *schema.attributes]
    assert data.contacts.schema.field(schema.id_column).type == pa.int64()
    check_fields(data.contacts, schema.attributes.values())
    assert set(data.events) == set(schema.events)
    for name, event in schema.events.items():
        table = data.events[name]
        assert table.column_names == ["contact_id", event.timestamp, *event.properties], name
        assert table.schema.field("contact_id").type == pa.int64()
        assert table.schema.field(event.timestamp).type == pa.timestamp("us", tz="UTC")
        assert table[event.timestamp].null_count == 0 and table["contact_id"].null_count == 0
        check_fields(table, event.properties.values())


# -- reproducibility and order ----------------------------------------------------------------------------------


def assert_same(a: demo.DemoData, b: demo.DemoData) -> None:
    assert a.now == b.now
    assert a.contacts.equals(b.contacts)
    assert a.events.keys() == b.events.keys()
    for name in a.events:
        assert a.events[name].equals(b.events[name]), name


def test_same_seed_same_data_different_seed_different_data():
    first = demo.generate(3_000, seed=5)
    assert_same(first, demo.generate(3_000, seed=5))
    other = demo.generate(3_000, seed=6)
    assert not other.contacts.equals(first.contacts)
    assert not other.events["email_open"].equals(first.events["email_open"])


def test_data_does_not_depend_on_the_number_of_threads(monkeypatch):
    contacts = 2 * demo.CHUNK + 123  # several chunks, the last one short
    threaded = demo.generate(contacts, seed=9, events_per_contact=3.0)
    monkeypatch.setattr(demo.os, "cpu_count", lambda: 1)
    assert_same(threaded, demo.generate(contacts, seed=9, events_per_contact=3.0))


def test_events_are_sorted_by_contact_then_time_and_every_contact_exists(data):
    ids = column(data.contacts, "contact_id")
    assert np.all(np.diff(ids) > 0), "contact ids are unique and increasing, like the rows"
    for name, table in data.events.items():
        contact = column(table, "contact_id")
        ts = column(table, "timestamp")
        assert np.all(np.diff(contact) >= 0), name
        same_contact = np.diff(contact) == 0
        assert np.all(np.diff(ts)[same_contact] >= 0), name
        assert np.isin(contact, ids).all(), name


def test_timestamps_lie_in_the_two_years_before_now_plus_a_few_in_the_future(data):
    now = micros(data.now)
    assert data.now == demo.DEFAULT_NOW == datetime(2026, 11, 1, tzinfo=UTC)
    ts = np.concatenate([column(table, "timestamp") for table in data.events.values()])
    assert ts.min() >= now - 730 * DAY_US
    assert ts.max() <= now + 2 * DAY_US
    future = (ts > now).mean()
    assert 0 < future < 0.005


def test_events_never_precede_sign_up(data):
    created = column(data.contacts, "created_at")
    ids = column(data.contacts, "contact_id")
    for name, table in data.events.items():
        rows = np.searchsorted(ids, column(table, "contact_id"))
        assert np.all(column(table, "timestamp") >= created[rows]), name


def test_now_can_be_chosen_and_naive_means_utc():
    data = demo.generate(500, now=datetime(2024, 3, 1))
    assert data.now == datetime(2024, 3, 1, tzinfo=UTC)
    ts = column(data.events["email_open"], "timestamp")
    assert ts.max() <= micros(data.now) + 2 * DAY_US


# -- realism ----------------------------------------------------------------------------------------------------


def test_event_volume_follows_the_requested_mix(data):
    n = data.contacts.num_rows
    per_contact = events_per_contact(data)
    assert per_contact.mean() == pytest.approx(26.0, rel=0.05)
    expected = {"email_open": 12, "email_click": 2.5, "product_view": 9, "purchase": 0.6, "app_open": 2}
    for name, mean in expected.items():
        assert data.events[name].num_rows / n == pytest.approx(mean, rel=0.15), name
    assert 0 < data.events["webpush_subscribe"].num_rows / n < 0.2
    smaller = demo.generate(5_000, events_per_contact=5.0)
    assert events_per_contact(smaller).mean() == pytest.approx(5.0, rel=0.1)


def test_activity_is_heavy_tailed_with_dormant_contacts(data):
    per_contact = events_per_contact(data)
    assert 0.15 < (per_contact == 0).mean() < 0.5
    assert per_contact.max() > 30 * per_contact.mean()
    assert np.median(per_contact) < per_contact.mean() / 2


def test_purchases_include_recent_and_lapsed_buyers(data):
    now = micros(data.now)
    purchase = data.events["purchase"]
    contact, ts = column(purchase, "contact_id"), column(purchase, "timestamp")
    buyers = np.unique(contact)
    assert 0.05 < len(buyers) / data.contacts.num_rows < 0.4  # most contacts never bought
    last = np.zeros(len(buyers), dtype=np.int64)
    np.maximum.at(last, np.searchsorted(buyers, contact), ts)
    lapsed = (last < now - 90 * DAY_US).mean()
    assert 0.2 < lapsed < 0.9


def test_ios_openers_mostly_open_on_ios(data):
    opens = data.events["email_open"]
    contact, device = column(opens, "contact_id"), column(opens, "device")
    assert 0.002 < (device == None).mean() < 0.03  # noqa: E711 - elementwise comparison
    rows = np.unique(contact, return_inverse=True)[1]
    total = np.bincount(rows)
    ios = np.bincount(rows, weights=device == "ios")
    ios_people = (total >= 5) & (ios > total / 2)
    assert ios_people.sum() > 500
    assert ios[ios_people].sum() / total[ios_people].sum() > 0.8
    assert 0.25 < (device == "ios").mean() < 0.45  # yet overall iOS is one device among several


def test_brands_follow_categories_and_prices_follow_categories(data):
    for name in ("product_view", "purchase"):
        table = data.events[name]
        category, brand = column(table, "category"), column(table, "brand")
        for c in np.unique(category):
            assert set(np.unique(brand[category == c])) <= set(demo.CATEGORY_BRANDS[c]), (name, c)
        assert set(brand[category == "iPhones"]) == {"Apple"}
        assert set(brand[category == "Vinyl"]) == {"Universal"}
    views = data.events["product_view"]
    category, price = column(views, "category"), column(views, "price")
    assert np.median(price[category == "Laptops"]) > 10 * np.median(price[category == "Books"])
    assert price.min() > 0


def test_purchases_follow_the_categories_viewed(data):
    def favourite(table):
        contact, category = column(table, "contact_id"), column(table, "category")
        codes = np.unique(category, return_inverse=True)[1]
        ids = np.unique(contact)
        counts = np.zeros((len(ids), codes.max() + 1))
        np.add.at(counts, (np.searchsorted(ids, contact), codes), 1)
        return dict(zip(ids.tolist(), counts.argmax(axis=1).tolist(), strict=True))

    viewed, bought = favourite(data.events["product_view"]), favourite(data.events["purchase"])
    both = viewed.keys() & bought.keys()
    agree = np.mean([viewed[c] == bought[c] for c in both])
    assert len(both) > 500 and agree > 0.4  # with 12 categories, chance would be ~0.1


def test_purchase_amount_is_price_times_quantity(data):
    purchase = data.events["purchase"]
    quantity, amount = column(purchase, "quantity"), column(purchase, "amount")
    assert set(np.unique(quantity)) <= {1, 2, 3} and (quantity == 1).mean() > 0.6
    unit = amount / quantity
    assert np.all(unit > 0)


def test_app_and_webpush_devices(data):
    app = column(data.events["app_open"], "device")
    assert set(np.unique(app)) <= {"ios", "android"}
    webpush = data.events["webpush_subscribe"]
    device, browser = column(webpush, "device"), column(webpush, "browser")
    assert set(browser[device == "ios"]) <= {"safari"}
    assert len(np.unique(column(data.events["app_open"], "app_version"))) > 2


def test_contact_attributes_look_like_a_customer_base(data):
    contacts = data.contacts
    n = contacts.num_rows
    email = column(contacts, "email")
    present = email[email != None]  # noqa: E711
    assert 0.9 < len(present) / n < 0.995 and len(set(present)) == len(present)
    assert all("@" in e for e in present[:100])
    gender = column(contacts, "gender")
    assert (gender == "f").mean() == pytest.approx(0.48, abs=0.03) and 0 < (gender == None).mean() < 0.1  # noqa: E711
    city, country = column(contacts, "city"), column(contacts, "country")
    for c in np.unique(city[city != None]):  # noqa: E711
        assert set(country[city == c]) == {demo.CITY_COUNTRY[c]}
    assert (city == "Kyiv").mean() > 3 * (city == "Tallinn").mean() and (city == None).any()  # noqa: E711
    born = column(contacts, "birth_date")
    known = born[born != None].astype("datetime64[D]").astype(np.int64)  # noqa: E711
    age_years = (micros(data.now) // DAY_US - known) / 365.25
    assert age_years.min() >= 16 and age_years.max() <= 80.5 and 0.05 < 1 - len(known) / n < 0.15
    created = column(contacts, "created_at")
    now = micros(data.now)
    assert created.min() >= now - int(4 * 365.25 * DAY_US) and created.max() <= now
    assert (created > now - 30 * DAY_US).mean() > 0.02  # recent sign-ups exist ...
    assert (created > now - 365 * DAY_US).mean() > (created < now - 3 * 365 * DAY_US).mean()  # ... and growth
    subscribed = column(contacts, "email_subscribed")
    assert (subscribed == True).mean() == pytest.approx(0.8, abs=0.05)  # noqa: E712
    points = contacts["loyalty_points"]
    assert 0.05 < points.null_count / n < 0.3
    values = points.drop_null().to_numpy()
    assert values.min() >= 0 and values.max() > 20 * np.median(values)
    lengths = pc.list_value_length(contacts["tags"]).to_numpy()
    assert lengths.max() <= 4 and 0.3 < (lengths == 0).mean() < 0.8
    for tags in contacts["tags"].to_pylist()[:2000]:
        assert len(set(tags)) == len(tags) and set(tags) <= set(demo.TAGS)


# -- files and the cache ------------------------------------------------------------------------------------------


def test_write_parquet_writes_readable_files_with_the_right_rows(tmp_path):
    data = demo.generate(2_000, seed=3)
    out = files.write_parquet(data, tmp_path / "set", progress=True)
    assert out == tmp_path / "set"
    contacts = pq.read_table(out / "contacts.parquet")
    assert contacts.num_rows == 2_000 and contacts.column_names == data.contacts.column_names
    assert contacts.to_pylist()[:50] == data.contacts.slice(0, 50).to_pylist()
    for name, table in data.events.items():
        read = pq.read_table(out / "events" / f"{name}.parquet")
        assert read.num_rows == table.num_rows, name
        assert read.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        assert read.slice(0, 20).to_pylist() == table.slice(0, 20).to_pylist(), name
    assert Schema.from_toml(out / "schema.toml") == demo.demo_schema()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["contacts"] == 2_000 and meta["now"] == "2026-11-01T00:00:00+00:00"
    assert meta["counts"]["email_open"] == data.events["email_open"].num_rows


@pytest.fixture
def counted_generate(monkeypatch):
    calls = []
    real = demo.generate

    def generate(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(files, "generate", generate)
    return calls


def test_demo_dir_generates_once_then_reuses_the_folder(tmp_path, counted_generate):
    first = files.demo_dir(1_500, seed=2, cache_dir=tmp_path)
    assert first == tmp_path / f"demo-1500-2-v{demo.GENERATOR_VERSION}"
    assert (first / "meta.json").exists() and (first / "events" / "purchase.parquet").exists()
    stamp = (first / "meta.json").stat().st_mtime_ns
    assert files.demo_dir(1_500, seed=2, cache_dir=tmp_path) == first
    assert len(counted_generate) == 1 and (first / "meta.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folders left behind


def test_demo_dir_uses_segmint_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_CACHE", str(tmp_path / "cache"))
    folder = files.demo_dir(300, seed=1)
    assert folder.parent == tmp_path / "cache" and (folder / "contacts.parquet").exists()


def test_a_crash_while_writing_leaves_no_data_set(tmp_path, monkeypatch):
    def crash(data, directory, *, progress=False):
        Path(directory, "events").mkdir(parents=True)
        Path(directory, "contacts.parquet").write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(files, "write_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        files.demo_dir(300, seed=1, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_losing_a_race_uses_the_winners_folder(tmp_path, monkeypatch):
    real = demo.generate
    target = tmp_path / f"demo-300-1-v{demo.GENERATOR_VERSION}"

    def generate_while_another_run_finishes(*args, **kwargs):
        result = real(*args, **kwargs)
        target.mkdir()
        (target / "meta.json").write_text("{}")  # the other run renamed its folder into place meanwhile
        return result

    monkeypatch.setattr(files, "generate", generate_while_another_run_finishes)
    assert files.demo_dir(300, seed=1, cache_dir=tmp_path) == target
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert (target / "meta.json").read_text() == "{}"
