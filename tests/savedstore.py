"""A small store of every column type, and tools to reach into its saved form: the file holding a given array,
and rewriting an array or the manifest as damage would, with the checksums made to match (so that the checks
behind the checksums are what a test exercises)."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import numpy as np
from data import EVERY_TYPE_ATTRIBUTES, PURCHASE_EVENT
from storebuilder import build_store

import segmint
from segmint.runtime.store import persist

SCHEMA = segmint.Schema.from_dict(
    {
        "contacts": {"attributes": EVERY_TYPE_ATTRIBUTES},
        "events": {"purchase": PURCHASE_EVENT, "visit": {"verb": "visited", "properties": {"page": "string"}}},
    }
)
CONTACTS = [
    {
        "id": 10,
        "city": "Kyiv",
        "email": "a@x",
        "born": "1990-01-02",
        "seen": "2026-01-01T00:00:00+00:00",
        "vip": True,
        "points": 1,
        "score": 1.5,
        "tags": ["a", "b"],
    },
    {"id": 20, "email": "b@y", "vip": False, "score": -2.0, "tags": []},
    {"id": 30, "city": "Lviv", "born": "1970-01-01", "seen": "2026-01-02T03:00:00+00:00", "points": 3, "tags": ["b"]},
    {"id": 40, "city": "Lviv", "email": "d@x", "points": -7, "score": 0.25, "tags": ["c"]},
]
EVENTS = {
    "purchase": [
        {"id": 10, "ts": "2026-02-01T00:00:00+00:00", "amount": 2.0, "brand": "B"},
        {"id": 10, "ts": "2026-02-03T00:00:00+00:00", "amount": 4.0},
        {"id": 30, "ts": "2026-01-01T00:00:00+00:00", "amount": 3.0, "brand": "A"},
        {"id": 30, "ts": "2026-03-01T00:00:00+00:00", "amount": 1.0, "brand": "A"},
        {"id": 40, "ts": "2026-01-15T00:00:00+00:00", "amount": 150.0, "brand": "C"},
    ],
    "visit": [
        {"id": 20, "ts": "2026-04-01T00:00:00+00:00", "page": "home"},
        {"id": 40, "ts": "2026-04-02T00:00:00+00:00", "page": "cart"},
        {"id": 40, "ts": "2026-04-03T00:00:00+00:00", "page": "home"},
    ],
}
RULES = [
    "bought brand = A and city = Lviv",
    "sum(bought.amount) > 3 or tags has c",
    'email endswith "@x" and not vip',
    "visited page = home within 90d",
    "points >= 1 or score < 0",
    "born < 1980-01-01 or seen > 2026-01-01T12:00:00Z",
    "count(bought) >= 2 and max(bought.amount) < 5",
]
NOW = "2026-06-01T00:00:00Z"
ENGINES = ("reference", "vector", "compiled")


def small_store() -> segmint.Store:
    return build_store(SCHEMA, CONTACTS, EVENTS)


def answers(store: segmint.Store, engine: str) -> list[list]:
    return [segmint.compile(rule, SCHEMA).evaluate(store, now=NOW, engine=engine).ids().tolist() for rule in RULES]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def write_manifest(folder: Path, content: dict, checksum: bool = True) -> None:
    """Writes ``content`` as the manifest, its checksum made to match unless ``checksum`` is False."""
    if checksum:
        content = {**content, "checksum": persist.manifest_checksum(content)}
    (folder / "manifest.json").write_text(json.dumps(content), encoding="utf-8")


def array_spec(content: dict, *path: str) -> dict:
    """The manifest entry of one array, e.g. ``("events", "purchase", "ts")`` or
    ``("attributes", "city", "dictionary", "strings")``."""
    spec = content
    for key in path:
        spec = spec["properties"][key] if "properties" in spec and key not in spec else spec[key]
    return spec


def file_of(folder: Path, *path: str) -> Path:
    return folder / array_spec(manifest(folder), *path)["file"]


def forge(folder: Path, path: tuple[str, ...], values: np.ndarray) -> None:
    """Replaces one array of a saved store by ``values`` and makes the manifest's sizes and checksums match, as if
    the damage had been saved so."""
    content = manifest(folder)
    spec = array_spec(content, *path)
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    data = buffer.getvalue()
    (folder / spec["file"]).write_bytes(data)
    spec["dtype"] = str(values.dtype)
    content["files"][spec["file"]] = {"bytes": len(data), "crc32": zlib.crc32(data)}
    content.pop("checksum")
    write_manifest(folder, content)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def generated_store(seed: int, contacts: int = 20_000) -> segmint.Store:
    """A store of ``contacts`` random contacts and about 5 purchases each; different seeds give different ids
    and values, so two of them can be told apart entirely."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    ids = np.arange(contacts, dtype=np.int64) + seed * 10_000_000
    people = pa.table({
        "contact_id": ids,
        "city": pa.array(rng.choice(["Kyiv", "Lviv"], contacts)),
        "points": rng.integers(0, 1000, contacts),
        "score": rng.normal(size=contacts),
    })
    n = contacts * 5
    purchases = pa.table({
        "contact_id": np.sort(rng.choice(ids, n)),
        "timestamp": pa.array(rng.integers(1.7e15, 1.8e15, n), pa.timestamp("us")),
        "amount": rng.exponential(50, n),
        "brand": pa.array(rng.choice(["A", "B", "C", "D"], n)),
    })
    schema = segmint.Schema.from_dict({
        "contacts": {"attributes": {"city": {"type": "category", "values": ["Kyiv", "Lviv"]}, "points": "int",
                                    "score": "float"}},
        "events": {"purchase": {"verb": "bought", "properties": {"amount": "float", "brand": "string"}}},
    })
    return segmint.Store.from_arrow(people, {"purchase": purchases}, schema)


def same_content(a: segmint.Store, b: segmint.Store) -> bool:
    """Whether two stores hold the same contacts, attributes and events."""
    if a.schema != b.schema or not np.array_equal(a.ids, b.ids):
        return False
    columns = [(a.attributes[n], b.attributes[n]) for n in a.attributes]
    for name, table in a.events.items():
        other = b.events[name]
        if not (np.array_equal(table.offsets, other.offsets) and np.array_equal(table.ts, other.ts)):
            return False
        columns += [(table.properties[p], other.properties[p]) for p in table.properties]
    return all(
        np.array_equal(x.values, y.values)
        and np.array_equal(x.validity(), y.validity())
        and tuple(x.dictionary or ()) == tuple(y.dictionary or ())
        for x, y in columns
    )
