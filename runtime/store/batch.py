"""An append to a saved store, checked whole before anything is written, and its delta files.

``prepare`` takes what ``SavedStore.append`` was given (Arrow tables, pandas or Polars frames, lists of dicts) and
checks every row with the loaders' own conversions: a column missing or of the wrong type, an unknown event type, a
null event time or contact id, an event of a contact that neither exists nor comes with a contact row. The first
problem is a ``DataError`` naming the table, the column and (where one row is to blame) the first bad row, and
nothing is written. An event table may carry an ``event_id`` column (integers or text; a column of that name the
schema declares as a property is a property): an event whose id was already seen for its event type, earlier in the
batch or in an append since the last compaction, is dropped.

What is kept of a batch is its input columns (those of the schema, the contact id, the event id), as Arrow: the
loaders turn them into a store the same way every time, so a batch read back from its delta file merges exactly as
it did when it was appended.

A delta file holds one partition's part of one append (or delete): Arrow IPC streams one after another, one per
table; the manifest records where each begins and ends, the file's size and its CRC-32. A damaged or cut delta file
is refused when the store is opened.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...compiler.schema import Field, Schema
from ...compiler.types import Type
from ...dsl.errors import DataError
from . import load
from .columns import Column

EVENT_ID = "event_id"
CONTACTS = "contacts"
DELETED = "deleted"
EVENTS_PREFIX = "events/"


@dataclass(frozen=True, eq=False)
class Delta:
    """One partition's part of one change: an append (``contacts`` and ``events`` as Arrow tables of input
    columns) or a delete (``deleted`` ids)."""

    kind: str  # "append" or "delete"
    contacts: pa.Table | None = None
    events: Mapping[str, pa.Table] = field(default_factory=dict)
    deleted: np.ndarray | None = None
    at: int = 0  # when it was acknowledged, microseconds since the epoch (UTC): the age of its event ids

    @property
    def deleted_sorted(self) -> np.ndarray:
        return np.sort(self.deleted)

    @property
    def n_events(self) -> int:
        return sum(t.num_rows for t in self.events.values())

    def tables(self) -> dict[str, pa.Table]:
        tables = {}
        if self.contacts is not None:
            tables[CONTACTS] = self.contacts
        for name, table in self.events.items():
            tables[EVENTS_PREFIX + name] = table
        if self.deleted is not None:
            values = self.deleted.tolist() if self.deleted.dtype == object else self.deleted
            tables[DELETED] = pa.table({"id": pa.array(values)})
        return tables


_ARROW_TYPES = {
    Type.BOOL: pa.bool_(), Type.INT: pa.int64(), Type.FLOAT: pa.float64(), Type.STRING: pa.string(),
    Type.DATE: pa.date32(), Type.TIMESTAMP: pa.timestamp("us", "UTC"), Type.TAGS: pa.list_(pa.string()),
}


def as_arrow(data, source: str, fields: Mapping[str, Field] | None = None) -> pa.Table:
    """Arrow, pandas, Polars or a list of dicts (one per row) as an Arrow table. A column of ``fields`` that holds
    only nulls (pandas and lists of dicts cannot say of which type) takes the field's type; in a list of dicts a key
    a row lacks is null, and a column no row has is a column of nulls."""
    rows = isinstance(data, list)
    if rows:
        try:
            table = pa.Table.from_pylist(data)
        except (TypeError, pa.ArrowException) as error:
            raise DataError(f"cannot read these rows: {error}", source=source) from None
    elif isinstance(data, pa.Table) or hasattr(data, "to_arrow") or hasattr(data, "columns"):
        table = load._to_arrow(data)
    else:
        raise DataError(f"expected a table (Arrow, pandas, Polars or a list of dicts), not {type(data).__name__}",
                        source=source)
    for name, declared in (fields or {}).items():
        if name not in table.column_names:
            if rows:
                table = table.append_column(name, pa.nulls(table.num_rows, _ARROW_TYPES[declared.type]))
        elif table.column(name).type == pa.null():
            table = table.set_column(table.column_names.index(name), name,
                                     pa.nulls(table.num_rows, _ARROW_TYPES[declared.type]))
    return table


@dataclass(frozen=True, eq=False)
class Prepared:
    """A checked append for the whole store: contact ids, contact rows and events (Arrow), before partitioning."""

    contact_ids: np.ndarray
    contacts: pa.Table | None
    events: dict[str, pa.Table]
    event_contacts: dict[str, np.ndarray]  # the contact id of every event, as stored ids


def prepare(schema: Schema, id_dtype: np.dtype, contacts, events: Mapping | None, known, seen) -> Prepared:
    """Check an append whole. ``known(ids)`` says which ids are contacts of the store now; ``seen(type, ids)``
    which event ids the store has seen since its last compaction."""
    id_column = schema.id_column
    contact_ids = np.zeros(0, id_dtype)
    table = None
    if contacts is not None:
        source = "contacts table"
        table = as_arrow(contacts, source, schema.attributes)
        contact_ids = _typed_ids(load._ids(table, id_column, source), id_dtype, source, id_column)
        for name, attribute in schema.attributes.items():
            load._column(load._get(table, name, source), attribute, source, attribute=True)
        table = _plain(table.select([id_column, *schema.attributes]))
    tables, owners = {}, {}
    for name, data in (events or {}).items():
        source = f"events table '{name}'"
        if name not in schema.events:
            raise DataError(f"event type '{name}' is not in the schema (it has: {', '.join(schema.events)})",
                            source=source)
        event_type = schema.events[name]
        events_table = as_arrow(data, source, event_type.properties)
        owner = load._get(events_table, id_column, source)
        _refuse_nulls(owner, "event(s) have no contact id", source, id_column)
        owners_here = owner_ids(owner, id_dtype, source, id_column)
        stamps = load._get(events_table, event_type.timestamp, source)
        _refuse_nulls(stamps, "event time(s) are null", source, event_type.timestamp)
        load._timestamps(stamps, source, event_type.timestamp)
        for prop, prop_field in event_type.properties.items():
            load._column(load._get(events_table, prop, source), prop_field, source)
        kept = [id_column, event_type.timestamp, *event_type.properties]
        has_event_ids = EVENT_ID in events_table.column_names and EVENT_ID not in event_type.properties
        if has_event_ids:
            kept.append(EVENT_ID)
        events_table = events_table.select(kept)
        new = np.isin(owners_here, contact_ids) if len(contact_ids) else np.zeros(len(owners_here), bool)
        unknown = ~new & ~known(owners_here)
        if unknown.any():
            first = int(np.flatnonzero(unknown)[0])
            owner = owners_here[first].item() if isinstance(owners_here[first], np.generic) else owners_here[first]
            raise DataError(
                f"{int(unknown.sum())} event(s) belong to contacts that neither exist nor come with a contact row "
                f"(first at row {first}: {owner!r})",
                source=source,
                column=id_column,
            )
        if has_event_ids:
            keep = _first_of_each_id(events_table.column(EVENT_ID), source)
            keep &= ~_seen_rows(events_table.column(EVENT_ID), lambda ids, name=name: seen(name, ids))
            if not keep.all():
                events_table = events_table.filter(pa.array(keep))
                owners_here = owners_here[keep]
        tables[name] = _plain(events_table)
        owners[name] = owners_here
    return Prepared(contact_ids, table, tables, owners)


def _plain(table: pa.Table) -> pa.Table:
    """One chunk, dictionaries unified: what an IPC stream can hold."""
    return table.unify_dictionaries().combine_chunks()


def _refuse_nulls(array: pa.ChunkedArray, what: str, source: str, column: str) -> None:
    if array.null_count:
        first = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{array.null_count} {what} (first at row {first})", source=source, column=column)


def _typed_ids(ids: np.ndarray, id_dtype: np.dtype, source: str, column: str) -> np.ndarray:
    here, there = ids.dtype.kind == "O", id_dtype.kind == "O"
    if here != there:
        kinds = {True: "text", False: "integers"}
        raise DataError(f"contact ids are {kinds[here]} here but {kinds[there]} in the store", source=source,
                        column=column)
    return ids


def owner_ids(array: pa.ChunkedArray, id_dtype: np.dtype, source: str, column: str) -> np.ndarray:
    if pa.types.is_integer(array.type) and id_dtype.kind != "O":
        load._refuse_beyond_int64(array, source, column)
        return array.to_numpy().astype(np.int64, copy=False)
    if (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) and id_dtype.kind == "O":
        return np.array(array.to_pylist(), dtype=object)
    kind = "text" if id_dtype.kind == "O" else "integers"
    raise DataError(f"contact ids are {array.type} here but {kind} in the store", source=source, column=column)


def event_id_values(array: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.array(array.cast(pa.large_string()).to_pylist(), dtype=object)


def _first_of_each_id(array: pa.ChunkedArray, source: str) -> np.ndarray:
    """True for the first event of each event id (and every event without one)."""
    if not (pa.types.is_integer(array.type) or pa.types.is_string(array.type)
            or pa.types.is_large_string(array.type)):
        raise DataError(f"event ids must be integers or text, not {array.type}", source=source, column=EVENT_ID)
    keep = np.ones(len(array), bool)
    rows = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))
    if len(rows):
        _, first = np.unique(event_id_values(pc.drop_null(array)), return_index=True)
        keep[rows] = False
        keep[rows[first]] = True
    return keep


def _seen_rows(array: pa.ChunkedArray, seen) -> np.ndarray:
    """True for the events whose id ``seen`` knows."""
    found = np.zeros(len(array), bool)
    rows = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))
    if len(rows):
        found[rows] = seen(event_id_values(pc.drop_null(array)))
    return found


# -- delta files ---------------------------------------------------------------------------------------------------
def write_delta(path: Path, delta: Delta) -> dict:
    """Write ``delta`` to a new file (fsynced; the caller fsyncs the folder) and return its manifest entry."""
    return {**write_tables(path, delta.tables()), "kind": delta.kind, "at": delta.at}


def write_tables(path: Path, named: Mapping[str, pa.Table]) -> dict:
    """Write Arrow tables to a new file, one IPC stream each (fsynced; the caller fsyncs the folder), and return
    the manifest entry that finds them: file, bytes, CRC-32 and where each table begins and ends."""
    parts, tables, at = [], {}, 0
    for name, table in named.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue()
        tables[name] = [at, data.size]
        parts.append(data)
        at += data.size
    crc = 0
    with open(path, "xb") as handle:
        for data in parts:
            crc = zlib.crc32(data, crc)
            handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return {"file": path.name, "bytes": at, "crc32": crc, "tables": tables}


def read_delta(path: Path, entry: Mapping, source: str, now: int = 0) -> Delta:
    """The delta an entry of the manifest names, refused unless its size and checksum are those written. A delta
    written before appends recorded their time is taken as acknowledged ``now``."""
    tables = read_tables(path, entry, source)
    kind = entry.get("kind")
    at = entry.get("at", now)
    if type(at) is not int:
        raise DataError("manifest.json is damaged: the time of a delta", source=source)
    if kind == "delete" and DELETED in tables:
        column = tables[DELETED].column(0)
        ids = (np.array(column.to_pylist(), dtype=object) if not pa.types.is_integer(column.type)
               else column.to_numpy().astype(np.int64))
        return Delta("delete", deleted=ids, at=at)
    if kind == "append":
        events = {name[len(EVENTS_PREFIX):]: t for name, t in tables.items() if name.startswith(EVENTS_PREFIX)}
        return Delta("append", tables.get(CONTACTS), events, at=at)
    raise DataError(f"manifest.json is damaged: a delta of kind {kind!r}", source=source)


def read_tables(path: Path, entry: Mapping, source: str) -> dict[str, pa.Table]:
    """The tables of a file ``write_tables`` wrote, refused unless its size and checksum are those written."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("delta file of the saved store is missing", source=str(path)) from None
    except OSError as error:
        raise DataError(f"cannot read this delta file: {error.strerror}", source=str(path)) from None
    if len(data) != entry.get("bytes"):
        raise DataError(f"delta file is damaged: {len(data)} bytes, {entry.get('bytes')} written", source=str(path))
    if zlib.crc32(data) != entry.get("crc32"):
        raise DataError("delta file is damaged (its checksum does not match)", source=str(path))
    tables = {}
    spans = entry.get("tables")
    if not isinstance(spans, dict):
        raise DataError("manifest.json is damaged: a delta lists no tables", source=source)
    for name, span in spans.items():
        if not (isinstance(span, list) and len(span) == 2 and all(type(v) is int and v >= 0 for v in span)
                and span[0] + span[1] <= len(data)):
            raise DataError(f"manifest.json is damaged: table {name!r} of a delta", source=source)
        try:
            tables[name] = pa.ipc.open_stream(io.BytesIO(data[span[0]: span[0] + span[1]])).read_all()
        except pa.ArrowException as error:
            raise DataError(f"delta file is damaged: {error}", source=str(path)) from None
    return tables


def combined(appends: Sequence[Delta], schema: Schema) -> Delta:
    """Several appends as one, merging to the same store as they would one after another: a contact's last row
    wins, new contacts keep the order they first came in, events keep their order (ties in time stay in append
    order)."""
    contacts = [d.contacts for d in appends if d.contacts is not None]
    table = None
    if contacts:
        table = _concat(contacts)
        ids = np.asarray(table.column(0).to_pylist(), dtype=object) if not pa.types.is_integer(
            table.column(0).type) else table.column(0).to_numpy()
        _, first = np.unique(ids, return_index=True)
        _, last_from_end = np.unique(ids[::-1], return_index=True)
        if len(first) < len(ids):  # np.unique sorts: first and last line up id by id
            table = table.take(pa.array((len(ids) - 1 - last_from_end)[np.argsort(first)]))
    names = [name for name in schema.events if any(name in d.events for d in appends)]
    events = {name: _concat([d.events[name] for d in appends if name in d.events]) for name in names}
    return Delta("append", table, events)


def _concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Tables of one kind of rows whose columns may differ in type (int32 and int64, string and dictionary)."""
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        decoded = [t.cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type)
                                              else f.type) for f in t.schema])) for t in tables]
        return pa.concat_tables(decoded, promote_options="permissive").combine_chunks()


def batch_columns(schema: Schema, delta: Delta, source: str) -> tuple[np.ndarray, dict[str, Column]]:
    """The contact ids and attribute columns of an append's contact rows (none when it has none)."""
    if delta.contacts is None:
        return None, {}
    table = delta.contacts
    ids = load._ids(table, schema.id_column, source)
    return ids, {name: load._column(table.column(name), f, source, attribute=True)
                 for name, f in schema.attributes.items()}
