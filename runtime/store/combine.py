"""Combining stores in memory, each result a new ``Store`` that shares nothing it changes with its inputs (a reader
holding the old store keeps its version): a partition's contacts updated by a batch (changed attributes in place of
the old, new contacts at the end, deleted contacts gone), a batch's events merged into each contact's run by time
(one O(n) pass per touched event type), and partitions laid one after another as one store.

String dictionaries of the parts are joined, never assumed equal: codes are moved into one shared dictionary.
Attribute dictionaries are simply concatenated (the evaluators test a dictionary entry by entry, so a value present
twice changes no answer, and hashing millions of e-mails would cost seconds); event property and tag dictionaries
are made distinct again (``distinct(...)`` counts codes, tag masks need one bit per tag).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...compiler.schema import Field, Schema
from ...compiler.types import Type
from .columns import STORAGE_DTYPE, Column, EventTable, Store, Strings, code_dtype


def concat_columns(columns: Sequence[Column], field: Field, distinct: bool) -> Column:
    """The rows of ``columns`` one after another, in one dictionary."""
    valid = None
    if any(c.valid is not None for c in columns):
        valid = np.concatenate([c.validity() for c in columns]) if columns else np.zeros(0, bool)
    codes, dictionary = _shared_codes(columns, field, distinct)
    if field.type is Type.TAGS:
        offsets = [np.zeros(1, np.int64)]
        end = 0
        for column in columns:
            offsets.append(np.asarray(column.offsets[1:], np.int64) + end)
            end += int(column.offsets[-1])
        values = np.concatenate(codes).astype(np.int32) if codes else np.zeros(0, np.int32)
        return Column(Type.TAGS, values, None, dictionary, np.concatenate(offsets))
    if field.type is Type.STRING:
        values = np.concatenate(codes).astype(code_dtype(len(dictionary)), copy=False) if codes else (
            np.zeros(0, code_dtype(len(dictionary))))
        return Column(Type.STRING, values, valid, dictionary)
    values = np.concatenate([np.asarray(c.values) for c in columns]) if columns else np.zeros(
        0, STORAGE_DTYPE[field.type])
    return Column(field.type, values, valid)


def _shared_codes(columns: Sequence[Column], field: Field, distinct: bool):
    """Every column's codes (as int64) in one dictionary, and that dictionary; (None, None) for other types."""
    if field.type not in (Type.STRING, Type.TAGS):
        return None, None
    if field.values is not None:
        return [np.asarray(c.values, np.int64) for c in columns], tuple(field.values)
    first = columns[0].dictionary if columns else ()
    if all(c.dictionary is first for c in columns):
        return [np.asarray(c.values, np.int64) for c in columns], first if columns else ()
    arrays = [_dictionary_array(c.dictionary) for c in columns]
    joined = pa.concat_arrays(arrays) if arrays else pa.array([], pa.large_string())
    starts = np.cumsum([0] + [len(a) for a in arrays])
    if distinct or field.type is Type.TAGS:
        encoded = joined.dictionary_encode()
        remap = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        dictionary_array = encoded.dictionary
    else:
        remap, dictionary_array = None, joined
    codes = []
    for column, start in zip(columns, starts, strict=False):
        own = np.asarray(column.values, np.int64)
        moved = own + start
        if remap is not None:
            moved = remap[np.maximum(moved, 0)] if len(moved) else moved
        codes.append(np.where(own < 0, -1, moved))
    if field.type is Type.TAGS:
        return codes, tuple(dictionary_array.to_pylist())
    return codes, Strings(dictionary_array)


def _dictionary_array(dictionary) -> pa.Array:
    if isinstance(dictionary, Strings):
        return dictionary.arrow.cast(pa.large_string())
    return pa.array(list(dictionary or ()), pa.large_string())


def take(column: Column, rows: np.ndarray) -> Column:
    """Rows ``rows`` of ``column`` (a new column; tags keep their CSR form)."""
    valid = None if column.valid is None else np.asarray(column.valid)[rows]
    if column.offsets is None:
        return Column(column.type, np.asarray(column.values)[rows], valid, column.dictionary)
    new_offsets, positions = csr_rows(column.offsets, rows)
    return Column(column.type, np.asarray(column.values)[positions], None, column.dictionary, new_offsets)


def csr_rows(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``rows`` of a CSR layout: their offsets, and the position of each of their items in the old layout."""
    offsets = np.asarray(offsets, np.int64)
    lengths = (offsets[1:] - offsets[:-1])[rows]
    new_offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    # an item's old position: its row's old start plus its place within the row
    starts = np.repeat(offsets[:-1][rows] - new_offsets[:-1], lengths)
    return new_offsets, starts + np.arange(new_offsets[-1], dtype=np.int64)


def select_rows(store: Store, rows: np.ndarray) -> Store:
    """The contacts ``rows`` of ``store`` (in that order) with their events, as a store of their own."""
    attributes = {name: trimmed(take(column, rows)) for name, column in store.attributes.items()}
    events = {}
    for name, table in store.events.items():
        offsets, positions = csr_rows(table.offsets, rows)
        properties = {p: trimmed(take(column, positions)) for p, column in table.properties.items()}
        events[name] = EventTable(name, offsets, np.asarray(table.ts)[positions], properties)
    return Store(store.schema, np.asarray(store.ids)[rows], attributes, events)


def trimmed(column: Column) -> Column:
    """A string column with only the dictionary entries its rows use (a partition of e-mails keeps its own e-mails,
    not the whole store's). Declared categories stay as declared."""
    if not isinstance(column.dictionary, Strings):
        return column
    codes = np.asarray(column.values)
    used = np.unique(codes[codes >= 0])
    if len(used) == len(column.dictionary):
        return column
    dtype = code_dtype(len(used))
    values = np.where(codes >= 0, np.searchsorted(used, codes), -1).astype(dtype)
    return Column(column.type, values, column.valid, Strings(column.dictionary.arrow.take(pa.array(used))))


def concat_stores(schema: Schema, stores: Sequence[Store]) -> Store:
    """Stores of one schema (partitions) as one: the contacts of the first, then of the second..."""
    if len(stores) == 1:
        return stores[0]
    ids = np.concatenate([s.ids for s in stores]) if stores else np.zeros(0, np.int64)
    attributes = {
        name: concat_columns([s.attributes[name] for s in stores], field, distinct=False)
        for name, field in schema.attributes.items()
    }
    events = {}
    for name, event_type in schema.events.items():
        tables = [s.events[name] for s in stores]
        offsets = [np.zeros(1, np.int64)]
        end = 0
        for table in tables:
            offsets.append(np.asarray(table.offsets[1:], np.int64) + end)
            end += len(table)
        properties = {
            prop: concat_columns([t.properties[prop] for t in tables], field, distinct=True)
            for prop, field in event_type.properties.items()
        }
        events[name] = EventTable(name, np.concatenate(offsets), np.concatenate([t.ts for t in tables]), properties)
    return Store(schema, ids, attributes, events)


def update_contacts(
    base: Store, batch_ids: np.ndarray, batch_attributes: Mapping[str, Column], deleted: np.ndarray
) -> tuple[Store, np.ndarray, np.ndarray]:
    """``base``'s contacts with ``batch_ids`` upserted (a row of the batch replaces the contact's attributes whole,
    an unknown id is a new contact at the end) and ``deleted`` removed. Returns the contacts-only store (events
    untouched, still over the old rows), the new row of every old row (-1 when deleted) and the new row of every
    batch row."""
    n = len(base)
    if len(batch_ids) == 0 and len(deleted) == 0:
        return base, np.arange(n, dtype=np.int64), np.zeros(0, np.int64)
    where = rows_of(base.ids, batch_ids)
    new = where < 0
    gone = np.zeros(n, bool)
    if len(deleted):
        found = rows_of(base.ids, deleted)
        gone[found[found >= 0]] = True
    keep = np.flatnonzero(~gone)
    old_to_new = np.full(n, -1, np.int64)
    old_to_new[keep] = np.arange(len(keep))
    batch_rows = np.empty(len(batch_ids), np.int64)
    batch_rows[~new] = old_to_new[where[~new]]
    batch_rows[new] = len(keep) + np.arange(int(new.sum()))
    # the source of every new row in (base rows, then batch rows): a changed contact reads its batch row
    source = np.concatenate([keep, n + np.flatnonzero(new)])
    source[batch_rows[~new]] = n + np.flatnonzero(~new)
    ids = np.concatenate([np.asarray(base.ids)[keep], batch_ids[new]])
    attributes = {
        name: take(concat_columns([base.attributes[name], batch_attributes[name]], field, distinct=False), source)
        if len(batch_ids) else take(base.attributes[name], keep)
        for name, field in base.schema.attributes.items()
    }
    return Store(base.schema, ids, attributes, base.events), old_to_new, batch_rows


def rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of every wanted id in ``ids`` (-1 where absent)."""
    if len(wanted) == 0 or len(ids) == 0:
        return np.full(len(wanted), -1, np.int64)
    if ids.dtype == object or wanted.dtype == object:
        found = pc.index_in(pa.array(list(wanted)), value_set=pa.array(list(ids)))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids, wanted, sorter=order), len(ids) - 1)
    rows = order[at]
    return np.where(ids[rows] == wanted, rows, -1).astype(np.int64)


def merge_events(
    table: EventTable, old_to_new: np.ndarray, n_contacts: int, rows: np.ndarray, ts: np.ndarray,
    properties: Mapping[str, Column], event_type
) -> EventTable:
    """``table``'s events moved to the new rows (dropped for deleted contacts) and the batch's events (contact row
    ``rows``, time ``ts``, any order) merged in: each contact's events stay sorted by time, an old event before a new
    one of the same instant, new ones of one instant in the order they came."""
    # each old event's new contact row (not the table's cached contact_rows: that would stay with the old table)
    base_rows = np.repeat(old_to_new, np.diff(np.asarray(table.offsets)))
    kept = base_rows >= 0
    all_kept = bool(kept.all())
    base_ts = np.asarray(table.ts)
    if not all_kept:
        base_rows, base_ts = base_rows[kept], base_ts[kept]
    order = np.lexsort((ts, rows)) if len(rows) else np.zeros(0, np.int64)
    rows, ts = rows[order], ts[order]
    place = _merge_order(base_rows, base_ts, rows, ts)
    counts = np.bincount(np.concatenate([base_rows, rows]), minlength=n_contacts) if n_contacts else np.zeros(
        0, np.int64)
    offsets = np.zeros(n_contacts + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    merged_ts = np.concatenate([base_ts, ts])[place]
    columns = {}
    kept_rows = None if all_kept else np.flatnonzero(kept)
    for prop, field in event_type.properties.items():
        old = table.properties[prop]
        if kept_rows is not None:
            old = take(old, kept_rows)
        columns[prop] = take(concat_columns([old, take(properties[prop], order)], field, distinct=True), place)
    return EventTable(table.name, offsets, merged_ts, columns)


@numba.njit(nogil=True, cache=True)
def _merge_order(a_rows, a_ts, b_rows, b_ts):  # pragma: no cover - runs compiled
    """The order that merges two runs sorted by (row, time) into one, the first run first on ties: positions into
    the two runs laid one after the other."""
    na, nb = len(a_rows), len(b_rows)
    out = np.empty(na + nb, np.int64)
    i = j = k = 0
    while i < na and j < nb:
        if b_rows[j] < a_rows[i] or (b_rows[j] == a_rows[i] and b_ts[j] < a_ts[i]):
            out[k] = na + j
            j += 1
        else:
            out[k] = i
            i += 1
        k += 1
    while i < na:
        out[k] = i
        i += 1
        k += 1
    while j < nb:
        out[k] = na + j
        j += 1
        k += 1
    return out
