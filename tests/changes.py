"""Changes to a saved store and what they must lead to: rows as Arrow tables of the demo schema, and ``Model``, the
plain-Python account of a store's contacts and events after appends, deletes and compactions, rebuilt into a store
by the loaders (the reference every partitioned, appended store is compared with).

Rows are dicts: contacts ``{"contact_id": 7, "city": "Kyiv", ...}`` (a missing key is null), events
``{"contact_id": 7, "timestamp": datetime, "brand": ..., "event_id": 3}`` (``event_id`` optional).
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow as pa

import segmint
from segmint.runtime.store.batch import _ARROW_TYPES, EVENT_ID

ID = "contact_id"


def contacts_table(schema: segmint.Schema, rows: list[dict]) -> pa.Table:
    fields = [pa.field(ID, pa.int64())] + [pa.field(n, _ARROW_TYPES[f.type]) for n, f in schema.attributes.items()]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def events_table(schema: segmint.Schema, event: str, rows: list[dict], event_ids: bool = False) -> pa.Table:
    event_type = schema.events[event]
    fields = [pa.field(ID, pa.int64()), pa.field(event_type.timestamp, pa.timestamp("us", "UTC"))]
    fields += [pa.field(n, _ARROW_TYPES[f.type]) for n, f in event_type.properties.items()]
    if event_ids:
        fields.append(pa.field(EVENT_ID, pa.int64()))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


class Model:
    """What a store holds after a sequence of changes, kept as rows."""

    def __init__(self, schema: segmint.Schema) -> None:
        self.schema = schema
        self.contacts: dict[int, dict] = {}
        self.events: dict[str, list[dict]] = {name: [] for name in schema.events}
        # event ids seen: the store's horizon (7 days of arrivals) outlasts any test, compactions included
        self.seen: dict[str, set] = {name: set() for name in schema.events}

    def append(self, contacts: list[dict], events: dict[str, list[dict]]) -> None:
        for row in contacts:
            self.contacts.pop(row[ID], None)  # an upsert keeps its place in no particular order: ids are compared
            self.contacts[row[ID]] = row
        for name, rows in events.items():
            for row in rows:
                event_id = row.get(EVENT_ID)
                if event_id is not None:
                    if event_id in self.seen[name]:
                        continue
                    self.seen[name].add(event_id)
                self.events[name].append(row)

    def delete(self, ids) -> None:
        for contact in ids:
            self.contacts.pop(contact, None)
        for name, rows in self.events.items():
            self.events[name] = [row for row in rows if row[ID] in self.contacts]

    def store(self) -> segmint.Store:
        events = {
            name: events_table(self.schema, name, [{k: v for k, v in row.items() if k != EVENT_ID} for row in rows])
            for name, rows in self.events.items()
        }
        return segmint.Store.from_arrow(contacts_table(self.schema, list(self.contacts.values())), events,
                                        self.schema)


NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
CITIES = ["Kyiv", "Lviv", "Berlin"]
BRANDS = ["Apple", "Dell", "Universal"]
CATEGORIES = ["iPhones", "Laptops", "Vinyl"]


def random_contact(rng: random.Random, contact: int) -> dict:
    return {
        ID: contact,
        "city": rng.choice([*CITIES, None]),
        "email": rng.choice(["a@gmail.com", "b@corp.com", None]),
        "loyalty_points": rng.choice([0, 5, 120, None]),
        "email_subscribed": rng.choice([True, False, None]),
        "tags": rng.choice([["vip"], ["jazz", "vinyl"], [], None]),
    }


def random_event(rng: random.Random, event: str, contact: int, event_id: int | None = None) -> dict:
    row = {ID: contact, "timestamp": NOW - dt.timedelta(days=rng.choice([0.5, 3, 10, 40, 100, 400]))}
    if event == "purchase":
        row |= {"brand": rng.choice(BRANDS), "category": rng.choice(CATEGORIES),
                "amount": rng.choice([10.0, 99.5, None]), "quantity": rng.choice([1, 2])}
    elif event == "email_open":
        row |= {"device": rng.choice(["ios", "android", None]), "campaign_id": rng.choice([1, 2, None])}
    if event_id is not None:
        row[EVENT_ID] = event_id
    return row


def random_model(schema: segmint.Schema, seed: int, contacts: int, events: int) -> Model:
    """``contacts`` random contacts (ids 1..contacts) and ``events`` random purchases and opens each, at random ones."""
    rng = random.Random(seed)
    model = Model(schema)
    model.append([random_contact(rng, c) for c in range(1, contacts + 1)],
                 {name: [random_event(rng, name, rng.randint(1, contacts)) for _ in range(events)]
                  for name in ("purchase", "email_open")})
    return model


def random_batch(rng: random.Random, known: list[int], next_id: int, size: int) -> tuple[list[dict], dict]:
    """Contact rows (new ones from ``next_id``, some upserts of ``known``) and purchase / email_open events of
    known and new contacts, with event ids some of which repeat (within the batch and across batches: the store
    keeps them through compactions, so the range is wide enough for new ids to keep coming)."""
    new = list(range(next_id, next_id + rng.randint(0, size)))
    upserts = rng.sample(known, min(len(known), rng.randint(0, 2)))
    contacts = [random_contact(rng, c) for c in new + upserts]
    owners = known + new
    events = {}
    if owners:
        for name in ("purchase", "email_open"):
            events[name] = [random_event(rng, name, rng.choice(owners), rng.choice([None, rng.randint(0, 300)]))
                            for _ in range(rng.randint(0, 2 * size))]
    return contacts, events


def step(k: int, model: Model):
    """The k-th change of a long run (the kill tests' writer and checker agree on it): mostly appends, a delete
    every seventh step, a compaction every fifth."""
    rng = random.Random(k)
    if k % 5 == 4:
        return ("compact",)
    if k % 7 == 3 and model.contacts:
        return ("delete", rng.sample(sorted(model.contacts), min(3, len(model.contacts))))
    return ("append", *random_batch(rng, sorted(model.contacts), 1000 + 40 * k, 20))


def take_step(change, model: Model, saved=None) -> None:
    """Apply one change to the model and, when given, to a SavedStore."""
    match change:
        case ("compact",):  # the same contacts and events, and the event ids are kept: the model stays
            if saved is not None:
                saved.compact()
        case ("delete", ids):
            if saved is not None:
                saved.delete_contacts(ids)
            model.delete(ids)
        case ("append", contacts, events):
            if saved is not None:
                saved.append(events={n: events_table(model.schema, n, r, event_ids=True) for n, r in events.items()},
                             contacts=contacts_table(model.schema, contacts))
            model.append(contacts, events)


def content(store: segmint.Store) -> tuple:
    """Everything a store holds as Python values, independent of row order and of dictionaries."""
    def values(column, n):
        if column.offsets is not None:
            return [tuple(sorted(column.dictionary[c] for c in column.values[column.offsets[i]: column.offsets[i + 1]]))
                    for i in range(n)]
        valid = column.validity()
        if column.dictionary is not None:
            return [column.dictionary[c] if ok else None for c, ok in zip(column.values.tolist(), valid, strict=True)]
        return [v if ok else None for v, ok in zip(column.values.tolist(), valid, strict=True)]

    ids = store.ids.tolist()
    attributes = list(zip(*(values(c, len(ids)) for c in store.attributes.values()), strict=True)) or [()] * len(ids)
    contacts = sorted(zip(ids, attributes, strict=True))
    events = []
    for name, table in store.events.items():
        owners = [ids[r] for r in table.contact_rows.tolist()]
        props = list(zip(*(values(c, len(table)) for c in table.properties.values()), strict=True)) or [()] * len(
            table)
        events.append((name, sorted(zip(owners, table.ts.tolist(), props, strict=True), key=repr)))
    return contacts, events


def unlisted_files(folder) -> list[str]:
    """The names in a saved store's folder other than its generations and the event ids files its manifest lists."""
    manifest = json.loads((folder / "manifest.json").read_text())
    kept = {part["event_ids"]["file"] for part in manifest.get("parts", ()) if "event_ids" in part}
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("data-") and p.name not in kept)
