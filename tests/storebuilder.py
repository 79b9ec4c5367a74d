"""Hand-built stores for tests: Python rows -> a Store, built directly with numpy (no loaders involved).

Times are ``datetime`` objects or ISO strings; ``None`` is null. Events are sorted here by (contact, ts) with a
stable sort, exactly as a store requires.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from segmint.compiler.schema import Field, Schema
from segmint.compiler.types import Type
from segmint.runtime.store.columns import STORAGE_DTYPE, Column, EventTable, Store, code_dtype
from segmint.runtime.timeutil import to_us


def _instant(value) -> int:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return to_us(value)
    if isinstance(value, dt.date):
        return to_us(dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC))
    raise TypeError(value)


def _day(value) -> int:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return (value - dt.date(1970, 1, 1)).days


def column(field: Field, values: list) -> Column:
    valid = np.array([v is not None for v in values], dtype=bool)
    if field.type is Type.TAGS:
        dictionary = tuple(sorted({t for v in values for t in (v or ())}))
        code = {t: i for i, t in enumerate(dictionary)}
        offsets = np.zeros(len(values) + 1, np.int64)
        np.cumsum([len(v or ()) for v in values], out=offsets[1:])
        codes = np.array([code[t] for v in values for t in (v or ())], dtype=np.int32)
        return Column(Type.TAGS, codes, None, dictionary, offsets)
    if field.type is Type.STRING:
        dictionary = field.values or tuple(sorted({v for v in values if v is not None}))
        code = {t: i for i, t in enumerate(dictionary)}
        data = np.array([code[v] if v is not None else -1 for v in values], dtype=code_dtype(len(dictionary)))
        return Column(Type.STRING, data, None if valid.all() else valid, tuple(dictionary))
    convert = {Type.TIMESTAMP: _instant, Type.DATE: _day}.get(field.type, lambda v: v)
    fill = {Type.BOOL: False, Type.FLOAT: 0.0}.get(field.type, 0)
    data = np.array([convert(v) if v is not None else fill for v in values], dtype=STORAGE_DTYPE[field.type])
    return Column(field.type, data, None if valid.all() else valid)


def build_store(schema: Schema, contacts: list[dict], events: dict[str, list[dict]] | None = None) -> Store:
    """``contacts``: dicts with ``id`` and attributes (missing = null); ``events``: per event type, dicts with
    ``id`` (contact), ``ts`` and properties."""
    # the store's contract: int64 ids, or an object array of str
    text_ids = bool(contacts) and isinstance(contacts[0]["id"], str)
    ids = np.array([c["id"] for c in contacts], dtype=object if text_ids else np.int64)
    row_of = {c["id"]: i for i, c in enumerate(contacts)}
    attributes = {
        name: column(f, [c.get(name) for c in contacts]) for name, f in schema.attributes.items()
    }
    tables = {}
    for name, event_type in schema.events.items():
        rows = list((events or {}).get(name, ()))
        contact_rows = np.array([row_of[r["id"]] for r in rows], dtype=np.int64)
        ts = np.array([_instant(r["ts"]) for r in rows], dtype=np.int64)
        order = np.lexsort((ts, contact_rows)) if rows else np.array([], dtype=np.int64)
        rows = [rows[i] for i in order]
        offsets = np.zeros(len(contacts) + 1, np.int64)
        np.cumsum(np.bincount(contact_rows, minlength=len(contacts)), out=offsets[1:])
        properties = {p: column(f, [r.get(p) for r in rows]) for p, f in event_type.properties.items()}
        tables[name] = EventTable(name, offsets, ts[order], properties)
    return Store(schema, ids, attributes, tables)
