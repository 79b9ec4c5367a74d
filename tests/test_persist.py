"""Saved stores: saving never deletes what it did not write and replaces a store whole; opening refuses damage
with a DataError naming the file (or the manifest) instead of answering wrongly or reading out of bounds."""

import contextlib
import json
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from savedstore import (
    ENGINES,
    NOW,
    SCHEMA,
    answers,
    file_of,
    forge,
    listing,
    manifest,
    small_store,
    write_manifest,
)
from storebuilder import build_store

import segmint
from segmint.runtime.store import persist


@pytest.fixture(scope="module")
def store():
    return small_store()


@pytest.fixture(scope="module")
def expected(store):
    return {engine: answers(store, engine) for engine in ENGINES}


@pytest.fixture
def saved(tmp_path, store):
    store.save(tmp_path / "s")
    return tmp_path / "s"


# -- saving ------------------------------------------------------------------------------------------------------
def test_a_saved_store_opens_memory_mapped_and_answers_the_same(saved, store, expected):
    opened = segmint.Store.open(saved)
    assert isinstance(opened.events["purchase"].ts, np.memmap)
    assert opened.schema == store.schema and opened.ids.tolist() == store.ids.tolist()
    for name, column in store.attributes.items():
        assert np.array_equal(column.values, opened.attributes[name].values)
        assert tuple(column.dictionary or ()) == tuple(opened.attributes[name].dictionary or ())
    for engine in ENGINES:
        assert answers(opened, engine) == expected[engine]


@pytest.mark.parametrize("content", [{"contacts.parquet": b"PAR1"}, {"notes.txt": b"mine", "sub/x.npy": b"x"}])
def test_saving_refuses_a_folder_that_is_not_a_store_and_changes_nothing(tmp_path, store, content):
    for name, data in content.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    before = listing(tmp_path)
    with pytest.raises(segmint.DataError, match="refusing to save here: the folder is not empty") as info:
        store.save(tmp_path)
    assert info.value.source == str(tmp_path)
    assert listing(tmp_path) == before and sorted(os.listdir(tmp_path)) == sorted({n.split("/")[0] for n in content})


def test_saving_refuses_a_folder_whose_manifest_is_not_a_stores(tmp_path, store):
    (tmp_path / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(segmint.DataError, match=r"manifest\.json is not a segmint store manifest"):
        store.save(tmp_path)
    assert listing(tmp_path) == {"manifest.json": b'{"format": "something else"}'}


def test_saving_over_a_file_is_refused(tmp_path, store):
    (tmp_path / "f").write_text("keep")
    with pytest.raises(segmint.DataError, match="this is a file"):
        store.save(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "keep"


def test_saving_into_an_empty_or_new_folder(tmp_path, store, expected):
    (tmp_path / "empty").mkdir()
    store.save(tmp_path / "empty")
    store.save(tmp_path / "new" / "deeper")
    for folder in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        assert answers(segmint.Store.open(folder), "vector") == expected["vector"]


def test_saving_replaces_a_store_whole_and_leaves_other_files_alone(saved, store, expected):
    (saved / "notes.txt").write_text("mine")
    (saved.parent / "beside.txt").write_text("mine too")
    old_files = set(manifest(saved)["files"])
    other = build_store(SCHEMA, [{"id": 1, "points": 5}, {"id": 2}], {})
    other.save(saved)
    assert segmint.Store.open(saved).ids.tolist() == [1, 2]
    assert not any((saved / name).exists() for name in old_files)
    generation = {name.split("/")[0] for name in manifest(saved)["files"]}
    assert sorted(os.listdir(saved)) == sorted({".lock", "manifest.json", "notes.txt"} | generation)
    assert (saved / "notes.txt").read_text() == "mine" and (saved.parent / "beside.txt").read_text() == "mine too"
    store.save(saved)  # and back, over the store opened from this very folder
    assert answers(segmint.Store.open(saved), "vector") == expected["vector"]


def test_the_remains_of_a_killed_save_are_removed_by_the_next(saved, store):
    leftover = saved / ("data-" + "0" * 32)
    leftover.mkdir()
    (leftover / "0.npy").write_bytes(b"half")
    beside = saved / ".manifest.json.k1llxd.tmp"  # what durable.write_atomically leaves when killed
    beside.write_text("{")
    store.save(saved)
    assert not leftover.exists() and not beside.exists()
    (saved.parent / "fresh").mkdir()
    leftover = saved.parent / "fresh" / ("data-" + "1" * 32)
    leftover.mkdir()
    store.save(saved.parent / "fresh")  # a folder holding only such remains counts as empty
    assert not leftover.exists()


def test_a_save_that_fails_leaves_the_old_store_and_nothing_else(saved, store, expected):
    before = listing(saved)
    attributes = dict(store.attributes)
    email = attributes["email"]
    attributes["email"] = type(email)(email.type, email.values, email.valid, ("a@x", "\ud800", "d@x"))
    broken = segmint.Store(store.schema, store.ids, attributes, store.events)
    with pytest.raises(segmint.DataError, match="not valid Unicode cannot be saved"):
        broken.save(saved)
    assert listing(saved) == before
    assert answers(segmint.Store.open(saved), "vector") == expected["vector"]


def test_saving_where_the_os_refuses_is_a_data_error(tmp_path, store):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(segmint.DataError, match="cannot save the store"):
        store.save(tmp_path / "f" / "store")  # a folder under a file


def write_version_1(store: segmint.Store, folder):
    """The flat layout of format version 1 (files named after columns), as segmint wrote it before."""
    folder.mkdir()

    def array(name, values):
        np.save(folder / f"{name}.npy", values, allow_pickle=False)
        return {"file": f"{name}.npy", "dtype": str(values.dtype)}

    def strings(name, values):
        encoded = [v.encode() for v in values]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int64)
        return {
            "strings": array(f"{name}.utf8", np.frombuffer(b"".join(encoded), np.uint8)),
            "offsets": array(f"{name}.offsets", offsets),
        }

    def column(name, c):
        spec = {"type": c.type.value, "values": array(f"{name}.values", c.values)}
        if c.valid is not None:
            spec["valid"] = array(f"{name}.valid", c.valid)
        if c.dictionary is not None:
            spec["dictionary"] = strings(f"{name}.dict", c.dictionary)
        if c.offsets is not None:
            spec["offsets"] = array(f"{name}.offsets", c.offsets)
        return spec

    content = {
        "format": "segmint.store",
        "version": 1,
        "schema": store.schema.to_dict(),
        "contacts": len(store),
        "ids": array("ids", store.ids),
        "attributes": {n: column(f"attr.{n}", c) for n, c in store.attributes.items()},
        "events": {
            n: {
                "offsets": array(f"events.{n}.offsets", t.offsets),
                "ts": array(f"events.{n}.ts", t.ts),
                "properties": {p: column(f"events.{n}.{p}", c) for p, c in t.properties.items()},
            }
            for n, t in store.events.items()
        },
    }
    (folder / "manifest.json").write_text(json.dumps(content))


def test_a_version_1_store_opens_and_is_replaced_by_saving(tmp_path, store, expected):
    write_version_1(store, tmp_path / "s")
    (tmp_path / "s" / "mine.npy").write_bytes(b"not listed in the manifest")
    assert answers(segmint.Store.open(tmp_path / "s"), "vector") == expected["vector"]
    with pytest.raises(segmint.DataError, match="no checksums to verify; save it again"):
        segmint.Store.open(tmp_path / "s", verify=True)
    store.save(tmp_path / "s")
    assert manifest(tmp_path / "s")["version"] == persist.VERSION
    assert {p.name for p in (tmp_path / "s").iterdir() if p.is_file()} == {".lock", "manifest.json", "mine.npy"}
    assert answers(segmint.Store.open(tmp_path / "s", verify=True), "vector") == expected["vector"]


def test_columns_held_in_another_order_than_the_schemas_round_trip(tmp_path, store, expected):
    attributes = dict(reversed(store.attributes.items()))
    segmint.Store(store.schema, store.ids, attributes, dict(reversed(store.events.items()))).save(tmp_path / "s")
    opened = segmint.Store.open(tmp_path / "s")
    assert list(opened.attributes) == list(SCHEMA.attributes) and list(opened.events) == list(SCHEMA.events)
    assert answers(opened, "vector") == expected["vector"]


def test_event_types_whose_old_file_names_collided_round_trip(tmp_path):
    # In version 1, type 'a' with property 'b' and a type named 'a.b.dict' shared a file; names are now
    # identifiers and files are numbered, so no two arrays can share a file.
    schema = segmint.Schema.from_dict(
        {"events": {"a": {"properties": {"b": "string"}}, "a_b_dict": {"properties": {"b": "string"}}}}
    )
    store = build_store(
        schema,
        [{"id": 1}, {"id": 2}],
        {
            "a": [{"id": 1, "ts": "2026-01-01T00:00:00+00:00", "b": "x"}],
            "a_b_dict": [{"id": 2, "ts": "2026-01-01T00:00:00+00:00", "b": "y"}],
        },
    )
    store.save(tmp_path / "s")
    opened = segmint.Store.open(tmp_path / "s")
    for rule, ids in [("a b = x", [1]), ("a_b_dict b = y", [2]), ("a b = y", [])]:
        assert segmint.compile(rule, schema).evaluate(opened, now=NOW).ids().tolist() == ids


# -- opening damaged stores --------------------------------------------------------------------------------------
def test_a_missing_or_unreadable_file_is_named(saved):
    ts = file_of(saved, "events", "purchase", "ts")
    ts.unlink()
    with pytest.raises(segmint.DataError, match="file of the saved store is missing") as info:
        segmint.Store.open(saved)
    assert info.value.source == str(ts)
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(segmint.DataError, match=r"manifest\.json is not valid JSON"):
        segmint.Store.open(saved)
    with pytest.raises(segmint.DataError, match=r"manifest\.json is missing"):
        segmint.Store.open(saved.parent)


def test_damaged_strings_are_named_when_first_used(saved):
    blob = file_of(saved, "attributes", "email", "dictionary", "strings")
    data = np.load(blob)
    with mock.patch.object(persist, "ALWAYS_VERIFIED_BYTES", -1):  # as in a store too large to checksum at open
        forge(saved, ("attributes", "email", "dictionary", "strings"), np.where(data == ord("@"), 0xFF, data))
        opened = segmint.Store.open(saved)  # dictionaries are decoded when first used
    rule = segmint.compile('email endswith "@x"', SCHEMA)
    with pytest.raises(segmint.DataError, match="string data of the saved store is damaged") as info:
        rule.evaluate(opened, now=NOW, engine="vector")
    assert info.value.source == str(blob)


def test_a_changed_byte_is_found_by_its_checksum(saved):
    path = file_of(saved, "attributes", "score", "values")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x10  # a float stays a float: only the checksum can tell
    path.write_bytes(bytes(data))
    with pytest.raises(segmint.DataError, match="its checksum does not match") as info:
        segmint.Store.open(saved)  # a small file: checked at every open
    assert info.value.source == str(path)
    with mock.patch.object(persist, "ALWAYS_VERIFIED_BYTES", -1):  # as if it were large: only verify reads it
        segmint.Store.open(saved)
        with pytest.raises(segmint.DataError, match="its checksum does not match"):
            segmint.Store.open(saved, verify=True)


def test_a_changed_size_is_found_at_open(saved):
    path = file_of(saved, "events", "purchase", "ts")
    path.write_bytes(path.read_bytes()[:-8])
    with (
        mock.patch.object(persist, "ALWAYS_VERIFIED_BYTES", -1),
        pytest.raises(segmint.DataError, match=r"bytes, .* written") as info,
    ):
        segmint.Store.open(saved)
    assert info.value.source == str(path)


def _bump_last(values):
    changed = np.array(values)
    changed[-1] += 1
    return changed


# Arrays whose checksums match but whose content breaks what kernels rely on (the file blamed is the array's own
# unless a fourth entry names another).
BROKEN_INVARIANTS = [
    (("events", "purchase", "offsets"), lambda v: np.array([0, 2, 2, 4, 9], np.int64), "offsets must run from 0"),
    (("events", "purchase", "offsets"), lambda v: np.array([0, 3, 2, 4, 5], np.int64), "offsets go backwards"),
    (("events", "purchase", "ts"), lambda v: np.array(v)[[1, 0, 2, 3, 4]], "not sorted within a contact"),
    (("events", "purchase", "ts"), lambda v: np.full(5, -(2**62), np.int64), "representable range"),
    (("events", "purchase", "brand", "values"), _bump_last, "codes outside the dictionary"),
    (("events", "purchase", "brand", "values"), lambda v: np.array([1, 0, 0, -1, 2], v.dtype), "validity mask"),
    (("attributes", "city", "values"), lambda v: np.array([0, -1, 1, 7], v.dtype), "outside the dictionary"),
    (("attributes", "city", "valid"), lambda v: np.array(v).astype(np.uint8), "expected 4 values of bool"),
    (("attributes", "city", "valid"), lambda v: np.array([1, 0, 1, 2], np.uint8).view(bool), "other bytes"),
    (("attributes", "vip", "values"), lambda v: np.array([1, 0, 3, 0], np.uint8).view(bool), "other bytes"),
    (("attributes", "tags", "offsets"), lambda v: np.array([0, 2, 2, 3, 9], np.int64), "offsets must run"),
    (("attributes", "tags", "values"), lambda v: np.array([0, 1, 1, 5], np.int32), "outside the dictionary"),
    (
        ("attributes", "tags", "values"),
        lambda v: np.array([0, 1, 1], np.int32),
        "offsets must run",
        ("attributes", "tags", "offsets"),
    ),  # the offsets no longer fit the values: they are named
    (("attributes", "score", "values"), lambda v: np.array([1.5, np.nan, 0, 0.25]), "NaN in a float column"),
    (("attributes", "born", "values"), lambda v: np.array([0, 0, 0, 2**31 - 1], np.int32), "representable range"),
    (("attributes", "points", "values"), lambda v: np.arange(4.0), "expected 4 values of int64"),
    (("attributes", "points", "values"), lambda v: np.arange(8).reshape(4, 2), "found \\(4, 2\\)"),
    (("attributes", "email", "dictionary", "offsets"), lambda v: np.array(v)[:-1], "offsets must run"),
    (
        ("attributes", "city", "dictionary", "strings"),
        lambda v: np.frombuffer(b"KyivLvov", np.uint8),
        "categories of the saved store differ",
        ("attributes", "city", "dictionary", "strings"),
    ),
    (("ids",), lambda v: np.array([10, 20, 30], np.int64), "expected 4 values"),
]


@pytest.mark.parametrize("case", BROKEN_INVARIANTS, ids=[f"{'.'.join(c[0])}-{c[2]}" for c in BROKEN_INVARIANTS])
def test_arrays_that_break_the_stores_invariants_are_refused(saved, case):
    path, change, message, *blamed = case
    blamed = file_of(saved, *(blamed[0] if blamed else path))
    forge(saved, path, change(np.load(file_of(saved, *path))))
    with pytest.raises(segmint.DataError, match=message) as info:
        segmint.Store.open(saved)
    assert info.value.source == str(blamed)


def _set(path, value):
    def change(content):
        *parents, last = path
        for key in parents:
            content = content[key]
        content[last] = value

    return change


# Manifests of the wrong shape (checksum made to match): a DataError naming the manifest, never a raw exception.
BAD_MANIFESTS = [
    (_set(("events",), None), "'events' of the manifest is null"),
    (_set(("attributes",), ["city"]), "'attributes' of the manifest is list"),
    (_set(("attributes", "city", "type"), "colour"), "column 'city' is 'colour'"),
    (_set(("attributes", "city", "type"), 5), "'type' of column 'city' is int"),
    (_set(("contacts",), -1), "'contacts' of the manifest is -1"),
    (_set(("contacts",), "4"), "'contacts' of the manifest is '4'"),
    (_set(("ids",), {"fil": "x"}), "an array has no 'file'"),
    (_set(("ids", "file"), "../../etc/passwd"), "is not a file of a store"),
    (_set(("ids", "dtype"), None), "'dtype' of an array is null"),
    (_set(("attributes", "city", "values", "file"), 5), "'file' of an array is int"),
    (_set(("schema", "events", "purchase", "verb"), 5), "the schema in manifest.json is not usable"),
    (_set(("schema",), []), "'schema' of the manifest is list"),
    (_set(("files",), None), "'files' of the manifest is null"),
    (_set(("files",), {}), "it does not list"),
    (lambda c: c["events"].pop("visit"), "lists events \\['purchase'\\], its schema \\['purchase', 'visit'\\]"),
    (lambda c: c["events"]["purchase"]["properties"].pop("brand"), "lists properties"),
    (_set(("version",), 99), "version 99 is not supported"),
]


@pytest.mark.parametrize(("change", "message"), BAD_MANIFESTS, ids=[m for _, m in BAD_MANIFESTS])
def test_manifests_of_the_wrong_shape_are_refused(saved, change, message):
    content = manifest(saved)
    content.pop("checksum")
    change(content)
    write_manifest(saved, content)
    with pytest.raises(segmint.DataError, match=message) as info:
        segmint.Store.open(saved)
    assert info.value.source == str(saved / "manifest.json")


def test_an_edited_manifest_is_found_by_its_checksum(saved):
    content = manifest(saved)
    content["schema"]["contacts"]["attributes"]["city"]["values"] = ["Kyiv", "Lvov"]
    write_manifest(saved, content, checksum=False)
    with pytest.raises(segmint.DataError, match=r"manifest\.json is damaged \(its checksum does not match\)"):
        segmint.Store.open(saved)


# -- random damage (SEGMINT_DAMAGE_EXAMPLES=1000 for a long run) --------------------------------------------
DAMAGE_EXAMPLES = int(os.environ.get("SEGMINT_DAMAGE_EXAMPLES", "25"))
_DAMAGE = st.tuples(
    st.sampled_from(["flip", "truncate"]), st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 255)
)


def _damage(folder, damage):
    kind, which, where, mask = damage
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    path = files[which % len(files)]
    data = bytearray(path.read_bytes())
    if kind == "truncate" or not data:
        del data[where % (len(data) + 1) :]
    else:
        data[where % len(data)] ^= mask
    path.write_bytes(bytes(data))


@settings(max_examples=DAMAGE_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=_DAMAGE)
def test_random_damage_gives_a_data_error_or_the_right_answer(tmp_path_factory, store, expected, damage):
    folder = tmp_path_factory.mktemp("damaged")
    store.save(folder)
    _damage(folder, damage)
    try:
        opened = segmint.Store.open(folder)
        results = {engine: answers(opened, engine) for engine in ENGINES}
    except segmint.DataError:
        return
    assert results == expected


@settings(max_examples=DAMAGE_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=_DAMAGE)
def test_random_damage_behind_the_checksums_never_escapes_as_a_raw_error(tmp_path_factory, store, damage):
    # Checksums off, as for the files of a large store between verifications: the structural checks alone must
    # keep every engine in bounds (changed values may change answers; nothing else may happen).
    folder = tmp_path_factory.mktemp("damaged")
    with mock.patch.object(persist, "ALWAYS_VERIFIED_BYTES", -1):
        store.save(folder)
        content = manifest(folder)
        _damage(folder, damage)
        for entry, path in ((e, folder / n) for n, e in content["files"].items()):
            entry["bytes"] = path.stat().st_size if path.exists() else entry["bytes"]
        content.pop("checksum")
        write_manifest(folder, content)
        try:
            opened = segmint.Store.open(folder)
            for engine in ENGINES:
                answers(opened, engine)
        except segmint.DataError:
            pass


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=2 * DAMAGE_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_manifest_parts_give_a_data_error_or_a_store(tmp_path_factory, store, data):
    saved = tmp_path_factory.mktemp("manifest")
    store.save(saved)
    content = manifest(saved)
    content.pop("checksum")
    node = content
    while isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        if not isinstance(node[key], dict) or data.draw(st.booleans()):
            node[key] = data.draw(_JSON)
            break
        node = node[key]
    write_manifest(saved, content)
    with contextlib.suppress(segmint.DataError):
        answers(segmint.Store.open(saved), "vector")


def test_every_engine_answers_a_known_store_as_expected(expected):
    assert expected["reference"] == expected["vector"] == expected["compiled"]
    assert expected["reference"][0] == [30] and expected["reference"][4] == [10, 20, 30]
