"""A saved store takes new data: partitions by a hash of the id, appends (new contacts, upserts, late events,
duplicates by event id), deletes, compaction and snapshots; after each, evaluation equals a store rebuilt from all
the data so far. Bad appends are refused whole; damaged delta files and manifests are refused at open."""

import datetime as dt
import json
import random
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rulegen
from changes import (
    ID,
    NOW,
    Model,
    contacts_table,
    events_table,
    random_batch,
    random_contact,
    random_event,
    random_model,
)
from fuzzgen import SCHEMA, attempt, fuzz
from hypothesis import given
from hypothesis import strategies as st

import segmint
from segmint.compiler.types import US_PER_DAY
from segmint.runtime.store import eventids, persist
from segmint.runtime.store.partitioned import partition_of

RULES = [
    "bought brand = Apple",
    "count(bought) >= 2 or city = Kyiv",
    "not opened within 30d",
    "sum(bought.amount) > 50 and tags has vip",
    "loyalty_points > 10 or email_subscribed",
    "opened device = ios within 7d and not (city = Lviv)",
]


def ids_of(rule: str, store, engine: str = "reference") -> list:
    return sorted(segmint.compile(rule, SCHEMA).evaluate(store, now=NOW, engine=engine).ids().tolist())


def assert_same(saved: segmint.SavedStore, model: Model, rules=RULES, engines=("reference",)) -> None:
    snapshot, rebuilt = saved.snapshot(), model.store()
    assert sorted(snapshot.ids.tolist()) == sorted(rebuilt.ids.tolist())
    for rule in rules:
        expected = ids_of(rule, rebuilt)
        for engine in engines:
            assert ids_of(rule, snapshot, engine) == expected, (rule, engine)
            # partition by partition: the same contacts, the mask in the snapshot's row order
            segment = segmint.compile(rule, SCHEMA)
            by_parts = segment.evaluate(saved, now=NOW, engine=engine)
            assert np.array_equal(by_parts.mask, segment.evaluate(snapshot, now=NOW, engine=engine).mask), (rule,
                                                                                                          engine)


@pytest.fixture
def start():
    return random_model(SCHEMA, 7, 20, 40)


def saved_from(tmp_path: Path, model: Model, partitions: int = 3) -> segmint.SavedStore:
    return segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=partitions)


# -- partitions --------------------------------------------------------------------------------------------------
def test_a_contacts_partition_depends_on_its_id_alone():
    ids = np.arange(100_000, dtype=np.int64)
    parts = partition_of(ids, 8)
    assert np.array_equal(parts[:1000], partition_of(ids[:1000], 8))  # growing the base moves nobody
    counts = np.bincount(parts, minlength=8)
    assert counts.min() > 0.95 * len(ids) / 8  # and new ids spread evenly
    text = np.array(["a", "b", "c"], dtype=object)
    assert partition_of(text, 8).tolist() == partition_of(text.copy(), 8).tolist()


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_a_partitioned_store_answers_as_the_store_it_was_made_from(tmp_path, start, partitions):
    saved = saved_from(tmp_path, start, partitions)
    assert saved.partitions == partitions and saved.version == 1
    assert_same(saved, start, engines=("reference", "vector", "compiled"))
    assert_same(segmint.SavedStore.open(tmp_path / "s", verify=True), start)
    reopened = segmint.Store.open(tmp_path / "s")
    assert sorted(reopened.ids.tolist()) == sorted(start.contacts)
    for k in range(partitions):
        assert set(partition_of(saved.partition(k).ids, partitions).tolist()) <= {k}


# -- appends -----------------------------------------------------------------------------------------------------
def test_new_contacts_upserts_and_late_events_are_seen_at_once_and_after_reopening(tmp_path, start):
    saved = saved_from(tmp_path, start)
    before = saved.snapshot()
    contacts = [{ID: 21, "city": "Kyiv", "loyalty_points": 50, "tags": ["vip"]},  # new
                {ID: 3, "city": "Lviv", "loyalty_points": 0}]  # upsert: every attribute replaced
    late = NOW - dt.timedelta(days=300)
    events = {"purchase": [{ID: 21, "timestamp": NOW - dt.timedelta(days=1), "brand": "Apple", "amount": 60.0,
                            "category": "Vinyl", "quantity": 1},
                           {ID: 5, "timestamp": late, "brand": "Apple", "amount": 1.0, "category": "Vinyl",
                            "quantity": 1}]}
    version = saved.append(events={"purchase": events_table(SCHEMA, "purchase", events["purchase"])},
                           contacts=contacts_table(SCHEMA, contacts))
    start.append(contacts, events)
    assert version == 2 == saved.version
    assert_same(saved, start, engines=("reference", "vector", "compiled"))
    assert_same(segmint.SavedStore.open(tmp_path / "s"), start)
    assert len(before) == 20  # a snapshot taken before is unchanged
    purchases = saved.snapshot().events["purchase"]
    row = saved.snapshot().row_of(5)
    times = purchases.ts[purchases.offsets[row]: purchases.offsets[row + 1]]
    assert np.all(np.diff(times) >= 0)  # the late event took its place in time


@pytest.mark.parametrize("form", ["arrow", "pandas", "polars", "rows"])
def test_appends_take_arrow_pandas_polars_and_lists_of_dicts(tmp_path, start, form):
    saved = saved_from(tmp_path, start, partitions=2)
    contacts = [{ID: 30, "city": "Berlin", "tags": ["jazz"]}]
    events = [{ID: 30, "timestamp": NOW - dt.timedelta(days=2), "brand": "Dell", "category": "Laptops",
               "amount": 5.0, "quantity": 2}]
    table, frame = contacts_table(SCHEMA, contacts), events_table(SCHEMA, "purchase", events)
    if form == "pandas":  # Arrow-backed columns: plain pandas makes an int column with a null float
        import pandas as pd

        table, frame = table.to_pandas(types_mapper=pd.ArrowDtype), frame.to_pandas(types_mapper=pd.ArrowDtype)
    elif form == "polars":
        import polars as pl

        table, frame = pl.from_arrow(table), pl.from_arrow(frame)
    elif form == "rows":
        table, frame = contacts, events
    saved.append(events={"purchase": frame}, contacts=table)
    start.append(contacts, {"purchase": events})
    assert_same(saved, start)


def test_a_repeated_event_id_is_dropped_within_the_horizon_across_compactions_and_reopening(tmp_path, start,
                                                                                              monkeypatch):
    clock = [eventids.now_us()]
    monkeypatch.setattr(eventids, "now_us", lambda: clock[0])
    saved = segmint.SavedStore.create(tmp_path / "s", start.store(), partitions=3, event_id_days=2)
    rows = [{ID: 2, "timestamp": NOW - dt.timedelta(days=1), "brand": "Apple", "category": "Vinyl", "amount": 9.0,
             "quantity": 1, "event_id": 77}]
    other = [rows[0] | {ID: 3, "event_id": 78}]

    def append(batch: list[dict]) -> None:
        saved.append(events={"purchase": events_table(SCHEMA, "purchase", batch, event_ids=True)})
        start.append([], {"purchase": batch})

    for _ in range(2):  # a sender retries the batch
        append(rows * 2 + other)
    assert len(start.events["purchase"]) == 42
    assert_same(saved, start, ["count(bought) >= 1", "count(bought within 2d) = 1"])
    clock[0] += US_PER_DAY  # a day later: within the horizon, through a compaction and a reopening
    saved.compact()
    saved = segmint.SavedStore.open(tmp_path / "s")
    append(rows)
    assert_same(saved, start, ["count(bought within 2d) = 1"])
    clock[0] += US_PER_DAY * 3 // 2  # two and a half days after the first: beyond the horizon, 77 is new again
    start.seen["purchase"].discard(77)
    append(rows)
    assert_same(saved, start, ["count(bought within 2d) = 2"])
    clock[0] += US_PER_DAY
    saved.compact()  # keeps 77 (a day old), forgets 78 (three and a half days old)
    kept = [p["event_ids"] for p in json.loads((tmp_path / "s" / "manifest.json").read_text())["parts"]
            if "event_ids" in p]
    assert len(kept) == 1 and len(list(tmp_path.glob("s/delta-*.arrows"))) == 1
    append(rows)
    start.seen["purchase"].discard(78)
    append(other)
    assert_same(segmint.SavedStore.open(tmp_path / "s"), start, ["count(bought within 2d) = 2", "count(bought) = 2"])


@pytest.mark.parametrize("days", [-1, "7", True, 10**6])
def test_the_event_id_horizon_is_a_number_of_days(tmp_path, start, days):
    with pytest.raises(ValueError, match="event_id_days"):
        segmint.SavedStore.create(tmp_path / "s", start.store(), event_id_days=days)


def test_deleted_contacts_are_gone_at_once_and_their_data_after_compaction(tmp_path, start):
    saved = saved_from(tmp_path, start)
    snapshot = saved.snapshot()
    saved.delete_contacts([4, 9, 999])  # 999 is no contact: ignored
    start.delete([4, 9])
    assert_same(saved, start, engines=("reference", "vector"))
    assert len(snapshot) == 20  # the earlier snapshot still holds them
    assert_same(segmint.SavedStore.open(tmp_path / "s"), start)
    with pytest.raises(segmint.DataError, match="neither exist nor come with a contact row"):
        saved.append(events={"purchase": events_table(SCHEMA, "purchase", [random_event(random.Random(1),
                                                                                           "purchase", 4)])})
    before = {p.name for p in (tmp_path / "s").iterdir()}
    saved.compact()
    after = {p.name for p in (tmp_path / "s").iterdir()}
    assert not any(name.startswith("delta-") for name in after)
    touched = set(partition_of(np.array([4, 9]), 3).tolist())
    kept = {name for name in before & after if name.startswith("data-")}
    assert len(kept) == 3 - len(touched)  # the generations that held them were replaced, the others kept
    assert_same(segmint.SavedStore.open(tmp_path / "s", verify=True), start)
    saved.append(contacts=contacts_table(SCHEMA, [{ID: 4, "city": "Kyiv"}]))  # the id may come back, anew
    start.append([{ID: 4, "city": "Kyiv"}], {})
    assert_same(saved, start)


def test_compaction_gives_the_same_answers_and_empties_the_deltas(tmp_path, start):
    saved = saved_from(tmp_path, start)
    rng = random.Random(3)
    for _ in range(3):
        contacts, events = random_batch(rng, list(start.contacts), 100 + len(start.contacts), 5)
        saved.append(events={n: events_table(SCHEMA, n, r, event_ids=True) for n, r in events.items()},
                     contacts=contacts_table(SCHEMA, contacts))
        start.append(contacts, events)
    info = saved.info()
    assert sum(p["deltas"] for p in info["partitions"]) >= 3
    version = saved.compact()
    assert version == saved.version and all(p["deltas"] == 0 for p in saved.info()["partitions"])
    assert_same(saved, start, engines=("reference", "vector"))
    assert_same(segmint.SavedStore.open(tmp_path / "s", verify=True), start)


def test_a_format_2_store_takes_appends_and_becomes_one_partition(tmp_path, start):
    start.store().save(tmp_path / "s")
    saved = segmint.SavedStore.open(tmp_path / "s")
    old = json.loads((tmp_path / "s" / "manifest.json").read_text())
    contacts = [{ID: 40, "city": "Kyiv"}]
    saved.append(contacts=contacts_table(SCHEMA, contacts))
    start.append(contacts, {})
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["version"] == 3 and manifest["partitions"]["count"] == 1
    assert manifest["parts"][0]["base"]["files"] == old["files"]  # the data was not copied
    assert_same(segmint.SavedStore.open(tmp_path / "s"), start)


def test_two_store_objects_on_one_folder_see_each_others_writes(tmp_path, start):
    one = saved_from(tmp_path, start)
    two = segmint.SavedStore.open(tmp_path / "s")
    one.append(contacts=contacts_table(SCHEMA, [{ID: 50}]))
    two.append(contacts=contacts_table(SCHEMA, [{ID: 51}]))  # takes up one's version first
    start.append([{ID: 50}, {ID: 51}], {})
    assert two.version == 3
    assert_same(two, start)
    assert one.refresh() and one.version == 3
    assert_same(one, start)


# -- bad appends -------------------------------------------------------------------------------------------------
def bad_event(**change):
    row = {ID: 1, "timestamp": NOW, "brand": "Apple", "category": "Vinyl", "amount": 1.0, "quantity": 1}
    return {k: v for k, v in (row | change).items() if v is not ...}


@pytest.mark.parametrize(("events", "contacts", "message", "column"), [
    ({"refund": [bad_event()]}, None, "event type 'refund' is not in the schema", None),
    ({"purchase": [bad_event(), bad_event(timestamp=None)]}, None, r"1 event time\(s\) are null \(first at row 1\)",
     "timestamp"),
    ({"purchase": [bad_event(), bad_event(**{ID: 12345})]}, None, r"first at row 1: 12345", ID),
    ({"purchase": [bad_event(quantity="two")]}, None, "found string, but the schema says int", "quantity"),
    ({"purchase": [bad_event()]}, [{ID: 1, "loyalty_points": "many"}], "found string, but the schema says int",
     "loyalty_points"),
    ({"purchase": [bad_event()]}, [{ID: 1, "city": "Atlantis"}], "not among the declared categories", "city"),
    (None, [{ID: 1}, {ID: 1}], "appear more than once", ID),
    ({"purchase": [bad_event(**{ID: "x"})]}, None, "contact ids are string here", ID),
])
def test_a_bad_append_is_refused_whole_naming_the_column_and_first_bad_row(tmp_path, start, events, contacts,
                                                                            message, column):
    saved = saved_from(tmp_path, start)
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    good = [{ID: 60, "city": "Kyiv"}]
    with pytest.raises(segmint.DataError, match=message) as info:
        saved.append(events=events, contacts=(contacts or []) + good if contacts else good)
    assert info.value.column == column
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == files and saved.version == 1
    assert_same(saved, start, RULES[:2])


# -- damage --------------------------------------------------------------------------------------------------
def appended(tmp_path, start) -> Path:
    saved = saved_from(tmp_path, start, partitions=1)
    rng = random.Random(5)
    saved.append(events={"purchase": events_table(SCHEMA, "purchase", [random_event(rng, "purchase", 3)])})
    return tmp_path / "s"


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_a_damaged_delta_file_is_refused(tmp_path, start, damage):
    folder = appended(tmp_path, start)
    delta = next(folder.glob("delta-*.arrows"))
    data = delta.read_bytes()
    if damage == "flip":
        delta.write_bytes(data[:40] + bytes([data[40] ^ 1]) + data[41:])
    elif damage == "truncate":
        delta.write_bytes(data[:-9])
    else:
        delta.unlink()
    expected = {"flip": "checksum does not match", "truncate": "bytes, .* written", "remove": "missing"}[damage]
    with pytest.raises(segmint.DataError, match=expected) as info:
        segmint.SavedStore.open(folder)
    assert info.value.source == str(delta)


def test_a_damaged_or_cut_manifest_is_refused(tmp_path, start):
    folder = appended(tmp_path, start)
    text = (folder / "manifest.json").read_text()
    manifest = json.loads(text)
    manifest["parts"][0]["deltas"][0]["bytes"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(segmint.DataError, match="checksum does not match"):
        segmint.Store.open(folder)
    (folder / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(segmint.DataError, match="not valid JSON"):
        segmint.SavedStore.open(folder)
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    body["partitions"]["rule"] = "by range"
    body["checksum"] = zlib.crc32(json.dumps(body, sort_keys=True).encode("ascii"))
    (folder / "manifest.json").write_text(json.dumps(body))
    with pytest.raises(segmint.DataError, match="partitions by 'by range'"):
        segmint.SavedStore.open(folder)


# -- the property ------------------------------------------------------------------------------------------------
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 2**32), st.integers(1, 6)),
        st.tuples(st.just("delete"), st.integers(0, 2**32), st.integers(1, 3)),
        st.tuples(st.just("compact"), st.just(0), st.just(0)),
        st.tuples(st.just("reopen"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@fuzz(25)
@given(steps=STEPS, partitions=st.sampled_from([1, 2, 5]), rules=st.lists(rulegen.rules(4), min_size=1,
                                                                           max_size=3))
def test_after_every_change_evaluation_equals_a_store_rebuilt_from_all_the_data(steps, partitions, rules):
    rules = [r for r in rules if not segmint.compile(r, SCHEMA).params]
    rng = random.Random(0)
    model = Model(SCHEMA)
    model.append([random_contact(rng, c) for c in range(1, 6)],
                 {"purchase": [random_event(rng, "purchase", rng.randint(1, 5)) for _ in range(6)]})
    with tempfile.TemporaryDirectory() as folder:
        saved = segmint.SavedStore.create(Path(folder) / "s", model.store(), partitions=partitions)
        next_id = 6
        for kind, seed, size in steps:
            step_rng = random.Random(seed)
            if kind == "append":
                contacts, events = random_batch(step_rng, list(model.contacts), next_id, size)
                next_id += size
                saved.append(events={n: events_table(SCHEMA, n, r, event_ids=True) for n, r in events.items()},
                             contacts=contacts_table(SCHEMA, contacts))
                model.append(contacts, events)
            elif kind == "delete":
                ids = step_rng.sample(sorted(model.contacts), min(size, len(model.contacts)))
                saved.delete_contacts(ids)
                model.delete(ids)
            elif kind == "compact":
                saved.compact()
            else:
                saved = segmint.SavedStore.open(Path(folder) / "s", verify=True)
            assert_same(saved, model, rules + RULES[:2], engines=("reference", "vector"))


def test_a_store_of_text_ids_takes_appends_deletes_and_compaction(tmp_path):
    schema = segmint.Schema.from_dict({"contacts": {"attributes": {"city": "string"}},
                                       "events": {"visit": {"verb": "visited", "properties": {"page": "string"}}}})
    contacts = [{ID: f"c{k}", "city": city} for k, city in enumerate(["Kyiv", "Lviv", "Kyiv", None, "Riga"])]
    visits = [{ID: "c1", "timestamp": NOW, "page": "home"}, {ID: "c3", "timestamp": NOW, "page": "cart"}]
    store = segmint.Store.from_arrow(pa.Table.from_pylist(contacts), {"visit": pa.Table.from_pylist(visits)}, schema)
    saved = segmint.SavedStore.create(tmp_path / "s", store, partitions=3)
    saved.append(events={"visit": [{ID: "c9", "timestamp": NOW, "page": "home"}]},
                 contacts=[{ID: "c9", "city": "Odesa"}, {ID: "c0", "city": "Lviv"}])
    saved.delete_contacts(["c3", "nobody"])

    def answer(rule):
        return sorted(segmint.compile(rule, schema).evaluate(saved.snapshot(), now=NOW).ids().tolist())

    assert answer("visited page = home") == ["c1", "c9"]
    assert answer("city = Lviv") == ["c0", "c1"]
    assert answer("not visited") == ["c0", "c2", "c4"]
    with pytest.raises(segmint.DataError, match="contact ids are integers here but text in the store"):
        saved.append(contacts=[{ID: 5, "city": "Kyiv"}])
    saved.compact()
    saved = segmint.SavedStore.open(tmp_path / "s", verify=True)
    assert answer("city = Lviv") == ["c0", "c1"] and len(saved.snapshot()) == 5


def test_a_second_writer_waits_for_the_first_and_then_builds_on_its_version(tmp_path, start):
    saved = saved_from(tmp_path, start)
    other = segmint.SavedStore.open(tmp_path / "s")
    done = threading.Event()

    def append_meanwhile():
        other.append(contacts=contacts_table(SCHEMA, [{ID: 71}]))
        done.set()

    with persist.writing(tmp_path / "s"):  # as another process's long append or compaction would
        writer = threading.Thread(target=append_meanwhile)
        writer.start()
        assert not done.wait(0.5)  # waiting, not failing, not writing
        assert len(segmint.Store.open(tmp_path / "s")) == 20  # and readers are not held up
    writer.join()
    assert done.is_set() and other.version == 2
    saved.append(contacts=contacts_table(SCHEMA, [{ID: 72}]))
    start.append([{ID: 71}, {ID: 72}], {})
    assert saved.version == 3
    assert_same(saved, start, RULES[:1])


def test_the_partitions_and_the_manifest_a_reader_gets_are_of_one_version_while_a_writer_appends(tmp_path, start):
    """``parts()`` and ``info()`` in one thread while another appends in a loop, one new contact per append: every
    answer's contacts are those of the version its manifest names (the manifest is never one append ahead)."""
    saved = saved_from(tmp_path, start)
    appends = 150
    stop = threading.Event()

    def writer():
        for k in range(appends):
            saved.append(contacts=contacts_table(SCHEMA, [{ID: 1000 + k}]))
        stop.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a read in two steps gets caught between them
    thread = threading.Thread(target=writer)
    try:
        thread.start()
        reads = 0
        while not stop.is_set() or reads == 0:
            parts = saved.parts()
            assert len(parts) == 20 + parts.version - 1 == sum(len(s) for s in parts.stores)
            assert parts.manifest["store_version"] == parts.version
            info = saved.info()
            assert sum(p["contacts"] for p in info["partitions"]) == 20 + info["version"] - 1
            reads += 1
    finally:
        thread.join()
        sys.setswitchinterval(interval)
    assert saved.version == 1 + appends and reads > 1


HOSTILE = st.sampled_from([None, 1, -1, 2**63 - 1, 1.5, float("nan"), "", "x", "Kyiv", True, [], ["vip"], [None],
                           NOW, dt.date(2026, 1, 1), b"\xff"])


@fuzz(40)
@given(contacts=st.lists(st.dictionaries(st.sampled_from([ID, "city", "loyalty_points", "tags", "birth_date"]),
                                         HOSTILE, max_size=5), max_size=3),
       events=st.dictionaries(st.sampled_from(["purchase", "email_open", "refund"]),
                              st.lists(st.dictionaries(st.sampled_from([ID, "timestamp", "amount", "device",
                                                                        "event_id"]), HOSTILE, max_size=5),
                                       max_size=3), max_size=2))
def test_any_append_is_taken_whole_or_refused_with_a_data_error(contacts, events):
    with tempfile.TemporaryDirectory() as folder:
        model = Model(SCHEMA)
        model.append([random_contact(random.Random(k), k) for k in (1, -1, 2**63 - 1)], {})
        saved = segmint.SavedStore.create(Path(folder) / "s", model.store(), partitions=2)
        outcome = attempt(saved.append, events=events, contacts=contacts or None)
        if isinstance(outcome, segmint.SegmintError):
            assert saved.version == 1 and not list(Path(folder, "s").glob("delta-*"))
        reopened = segmint.SavedStore.open(Path(folder) / "s", verify=True)
        assert sorted(reopened.snapshot().ids.tolist()) == sorted(saved.snapshot().ids.tolist())


def test_saving_a_store_over_a_partitioned_one_replaces_it_whole(tmp_path, start):
    folder = appended(tmp_path, start)
    other = Model(SCHEMA)
    other.append([{ID: 900}], {})
    other.store().save(folder)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("data-")) == [".lock", "manifest.json"]
    assert segmint.Store.open(folder, verify=True).ids.tolist() == [900]
    saved = segmint.SavedStore.create(folder, start.store(), partitions=2)  # and back
    assert_same(saved, start, RULES[:1])
    assert len([p for p in folder.iterdir() if p.name.startswith("data-")]) == 2


def test_event_ids_of_text_and_of_integers_are_told_apart(tmp_path, start):
    saved = saved_from(tmp_path, start, partitions=2)
    row = {ID: 2, "timestamp": NOW - dt.timedelta(days=1), "brand": "Apple", "category": "Vinyl", "amount": 9.0,
           "quantity": 1}
    saved.append(events={"purchase": [row | {"event_id": 5}]})
    saved.append(events={"purchase": [row | {"event_id": "5"}, row | {"event_id": "5"}]})
    saved.append(events={"purchase": [row | {"event_id": 5}, row | {"event_id": None}]})
    start.append([], {"purchase": [row, row, row]})  # 5, "5" and the event without an id
    assert_same(saved, start, ["count(bought within 2d) = 3"])
    assert_same(segmint.SavedStore.open(tmp_path / "s"), start, ["count(bought within 2d) = 3"])


# -- compaction in the background --------------------------------------------------------------------------------
def plain_batch(rng: random.Random, model: Model, next_id: int) -> tuple[list[dict], dict]:
    """A random batch without event ids (whose horizon a compaction of some partitions only would blur)."""
    contacts, events = random_batch(rng, list(model.contacts), next_id, 4)
    return contacts, {name: [{k: v for k, v in row.items() if k != "event_id"} for row in rows]
                      for name, rows in events.items()}


def append_to(saved: segmint.SavedStore, model: Model, batch: tuple[list[dict], dict]) -> None:
    contacts, events = batch
    saved.append(events={n: events_table(SCHEMA, n, r) for n, r in events.items()},
                 contacts=contacts_table(SCHEMA, contacts))
    model.append(contacts, events)


def test_a_background_compaction_keeps_what_arrives_while_it_writes(tmp_path, start, monkeypatch):
    saved = saved_from(tmp_path, start, partitions=3)
    rng = random.Random(3)
    for step in range(4):
        append_to(saved, start, plain_batch(rng, start, 100 + 10 * step))
    saved.delete_contacts([2, 7])
    start.delete([2, 7])
    late = plain_batch(rng, start, 500)
    write_generation, arrived = persist.write_generation, []

    def write_then_append(store, directory, token=None):  # no lock is held while a partition's base is written
        written = write_generation(store, directory, token)
        if not arrived:
            arrived.append(saved.append(events={n: events_table(SCHEMA, n, r) for n, r in late[1].items()},
                                        contacts=contacts_table(SCHEMA, late[0])))
        return written

    monkeypatch.setattr(persist, "write_generation", write_then_append)
    version = saved.compact_in_background().result(timeout=120)
    start.append(*late)
    assert arrived and version > arrived[0]
    assert_same(saved, start, engines=("reference", "vector"))
    reopened = segmint.SavedStore.open(tmp_path / "s", verify=True)
    assert_same(reopened, start)
    # what arrived while partition 0 was written stays a delta of its new base; the rest is compacted
    deltas = [part["deltas"] for part in reopened.info()["partitions"]]
    assert deltas[0] <= 1 and deltas[1:] == [0] * (len(deltas) - 1)
    names = {path.name for path in (tmp_path / "s").iterdir()}
    assert len([n for n in names if n.startswith("data-")]) == 3  # old generations removed
    assert len([n for n in names if n.startswith("delta-")]) == deltas[0]


def test_appends_and_evaluations_go_on_while_compacting_in_the_background(tmp_path, start):
    saved = saved_from(tmp_path, start, partitions=4)
    rng = random.Random(9)
    for step in range(3):
        append_to(saved, start, plain_batch(rng, start, 100 + 10 * step))
    compaction = saved.compact_in_background()
    for step in range(6):
        append_to(saved, start, plain_batch(rng, start, 200 + 10 * step))
        assert_same(saved, start, rules=RULES[:2])
    compaction.result(timeout=120)
    assert_same(saved, start, engines=("reference", "vector"))
    assert_same(segmint.SavedStore.open(tmp_path / "s", verify=True), start)
