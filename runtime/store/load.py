"""Building a store from data: Arrow tables are the one core path; Parquet folders, pandas and Polars frames are
turned into Arrow first.

Data must fit the schema, and nothing is silently dropped: a missing column, a type that cannot be converted
safely, a value outside a category's declared set, a null or duplicate contact id, an event of an unknown contact,
a null event time, an unknown event type file, or an unreadable file is a ``DataError`` naming the file (or table)
and the column. Columns the schema does not mention are not part of the store and are ignored. Events may come in
any order: they are sorted by (contact, time), keeping the input order of ties. Naive timestamps are taken as UTC;
a date in a timestamp column means its midnight, UTC.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...compiler.schema import Field, Schema
from ...compiler.types import US_PER_DAY, Type
from ...dsl.errors import DataError, SchemaError
from .columns import (
    FIRST_DAY,
    FIRST_US,
    LAST_DAY,
    LAST_US,
    STORAGE_DTYPE,
    Column,
    EventTable,
    Store,
    Strings,
    code_dtype,
)


def store_from_parquet(directory, schema: Schema | None = None, *, progress: bool = False) -> Store:
    """``<dir>/contacts.parquet`` and ``<dir>/events/<event type>.parquet``; the schema from ``<dir>/schema.toml``
    when not given, else inferred from the data."""
    directory = Path(directory)
    contacts_path = directory / "contacts.parquet"
    if not contacts_path.is_file():
        raise DataError("no contacts.parquet in this folder", source=str(directory))
    event_paths = sorted((directory / "events").glob("*.parquet")) if (directory / "events").is_dir() else []
    if schema is None and (directory / "schema.toml").is_file():
        schema = Schema.from_toml(directory / "schema.toml")
    order = list(schema.events) if schema is not None else []
    events = _ParquetTables({path.stem: path for path in event_paths}, order, progress)
    names = {"contacts": str(contacts_path)} | {name: str(directory / "events" / f"{name}.parquet") for name in order}
    names |= {name: str(path) for name, path in events.paths.items()}
    with events:
        return store_from_arrow(_read_parquet(contacts_path), events, schema, source_names=names)


class _ParquetTables(Mapping):
    """Event tables read from their files when asked for, and not kept. While one table is converted, the next
    (in the schema's order, the order the loader asks in) is read on a background thread: Parquet decoding
    releases the GIL, so the two overlap. At most two files' Arrow data are held at once besides the store."""

    def __init__(self, paths: Mapping[str, Path], order: list[str], progress: bool) -> None:
        self.paths = dict(paths)
        self.order = [name for name in order if name in self.paths]
        self.bar = _progress(progress, len(self.paths))
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="segmint-parquet")
        self.ahead: dict[str, Future] = {}

    def __getitem__(self, name: str) -> pa.Table:
        future = self.ahead.pop(name, None)
        table = future.result() if future is not None else _read_parquet(self.paths[name])
        if name in self.order and self.order.index(name) + 1 < len(self.order):
            following = self.order[self.order.index(name) + 1]
            if following not in self.ahead:
                self.ahead[following] = self.pool.submit(_read_parquet, self.paths[following])
        self.advance()
        return table

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __enter__(self):
        self.advance = self.bar.__enter__()
        if self.order:  # read while the contacts are converted
            self.ahead[self.order[0]] = self.pool.submit(_read_parquet, self.paths[self.order[0]])
        return self

    def __exit__(self, *exc) -> None:
        for future in self.ahead.values():
            future.cancel()
        self.pool.shutdown(wait=True)
        self.ahead.clear()
        self.bar.__exit__(*exc)


def store_from_frames(contacts, events: Mapping, schema: Schema | None = None) -> Store:
    """pandas or Polars DataFrames (one for contacts, one per event type)."""
    return store_from_arrow(_to_arrow(contacts), {k: _to_arrow(v) for k, v in events.items()}, schema)


def store_from_arrow(
    contacts: pa.Table,
    events: Mapping[str, pa.Table],
    schema: Schema | None = None,
    source_names: Mapping[str, str] | None = None,
) -> Store:
    names = {"contacts": "contacts table"} | {e: f"events table '{e}'" for e in events}
    names |= dict(source_names or {})
    if schema is None:
        from .infer import infer_schema

        schema = infer_schema(contacts, events)
    unknown = sorted(set(events) - set(schema.events))
    if unknown:
        raise DataError(
            f"event type '{unknown[0]}' is not in the schema (it has: {', '.join(schema.events)})",
            source=names[unknown[0]],
        )
    source = names["contacts"]
    ids = _ids(contacts, schema.id_column, source)
    attributes = {
        name: _column(_get(contacts, name, source), field, source, attribute=True)
        for name, field in schema.attributes.items()
    }
    # Integer ids in increasing order (the usual export) let events find their contact by arithmetic or search.
    increasing = ids.dtype != object and len(ids) > 0 and bool(np.all(ids[1:] > ids[:-1]))
    tables = {}
    for name, event_type in schema.events.items():
        table = events.get(name)
        if table is None:
            if not event_type.optional:
                raise DataError(
                    f"no events of type '{name}': the data has no such file or table (if this type may have no "
                    f"events, declare it with optional = true in the schema)",
                    source=names.get(name, f"events table '{name}'"),
                )
            tables[name] = EventTable(name, np.zeros(len(ids) + 1, np.int64), np.zeros(0, np.int64), {
                prop: _empty(field) for prop, field in event_type.properties.items()
            })
            continue
        tables[name] = _events(
            table, name, event_type.timestamp, event_type.properties, ids, increasing, schema, names[name]
        )
    return Store(schema, ids, attributes, tables)


# -- contacts ------------------------------------------------------------------------------------------------
def _ids(table: pa.Table, column: str, source: str) -> np.ndarray:
    array = _get(table, column, source)
    if array.null_count:
        raise DataError(f"{array.null_count} contact id(s) are null", source=source, column=column)
    if pa.types.is_integer(array.type):
        _refuse_beyond_int64(array, source, column)
        ids = array.to_numpy().astype(np.int64, copy=False)
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        ids = np.array(array.to_pylist(), dtype=object)
    else:
        raise DataError(f"contact ids must be integers or strings, not {array.type}", source=source, column=column)
    unique, counts = np.unique(ids, return_counts=True)
    if len(unique) != len(ids):
        twice = unique[counts > 1]
        raise DataError(
            f"{len(twice)} contact id(s) appear more than once, e.g. {', '.join(map(str, twice[:3]))}",
            source=source,
            column=column,
        )
    return ids


# -- events --------------------------------------------------------------------------------------------------
def _events(table: pa.Table, name: str, ts_column: str, properties: Mapping[str, Field], ids: np.ndarray,
            increasing: bool, schema: Schema, source: str) -> EventTable:
    id_column = schema.id_column
    event_ids = _get(table, id_column, source)
    if event_ids.null_count:
        raise DataError(f"{event_ids.null_count} event(s) have no contact id", source=source, column=id_column)
    run_rows, run_lengths = _contact_runs(event_ids, ids, increasing, source, id_column)
    stamps = _get(table, ts_column, source)
    if stamps.null_count:
        first = int(np.flatnonzero(stamps.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{stamps.null_count} event time(s) are null (first at row {first})", source=source,
                        column=ts_column)
    ts = _timestamps(stamps, source, ts_column)
    order = _sort_order(run_rows, run_lengths, ts)
    counts = np.zeros(len(ids), np.int64)
    if order is None:
        counts[run_rows] = run_lengths  # one run per contact
    else:
        ts = ts[order]
        np.add.at(counts, run_rows, run_lengths)
    offsets = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    columns = {}
    for prop, field in properties.items():
        column = _column(_get(table, prop, source), field, source)
        columns[prop] = column if order is None else _take(column, order)
    return EventTable(name, offsets, ts, columns)


def _contact_runs(
    event_ids: pa.ChunkedArray, ids: np.ndarray, increasing: bool, source: str, column: str
) -> tuple[np.ndarray, ...]:
    """The events as runs of one contact's: (contact row, length) of each run, in order; an event of an unknown
    contact is an error. Events usually come grouped by contact, so there are far fewer runs than events and
    nothing per event needs to be built.

    Integer ids sorted in the contacts table (the usual export) are found by arithmetic when they are consecutive,
    else by binary search: several times faster than hashing tens of millions of event ids."""
    _refuse_beyond_int64(event_ids, source, column)
    if increasing and pa.types.is_integer(event_ids.type):
        run_ids, run_lengths = _chunked_runs(event_ids)
        if ids[-1] - ids[0] == len(ids) - 1:
            found = run_ids - ids[0]
            unknown = (found < 0) | (found >= len(ids))
        else:
            found = np.minimum(np.searchsorted(ids, run_ids), len(ids) - 1)
            unknown = ids[found] != run_ids
        if unknown.any():
            raise _unknown_contacts(pa.array(np.repeat(run_ids[unknown], run_lengths[unknown])), source, column)
        return found, run_lengths
    contact_ids = pa.array(ids.tolist() if ids.dtype == object else ids)
    try:
        event_ids = event_ids.cast(contact_ids.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"contact ids are {event_ids.type} here but {contact_ids.type} in contacts", source=source,
                        column=column) from None
    rows = pc.index_in(event_ids, value_set=contact_ids)
    if rows.null_count:
        raise _unknown_contacts(pc.filter(event_ids, rows.is_null()), source, column)
    return _chunked_runs(pa.chunked_array([rows]) if isinstance(rows, pa.Array) else rows)


def _chunked_runs(values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal values of an integer column: (value, length) of each, chunk by chunk (no concatenated copy
    of the column), a run that crosses a chunk boundary joined."""
    run_values, run_lengths = [], []
    for chunk in values.chunks:
        if len(chunk) == 0:
            continue
        v, n = _runs(chunk.to_numpy(zero_copy_only=False).astype(np.int64, copy=False))
        if run_values and run_values[-1][-1] == v[0]:
            run_lengths[-1][-1] += n[0]
            v, n = v[1:], n[1:]
            if len(v) == 0:  # the whole chunk continued the previous run: the next chunk compares with it
                continue
        run_values.append(v)
        run_lengths.append(n)
    if not run_values:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(run_values), np.concatenate(run_lengths)


@numba.njit(nogil=True, cache=True)
def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - runs compiled
    """Runs of equal values: (value, length) of each, for a non-empty array."""
    count = 1
    for k in range(1, len(values)):
        count += values[k] != values[k - 1]
    run_values = np.empty(count, np.int64)
    run_lengths = np.empty(count, np.int64)
    r, start = 0, 0
    for k in range(1, len(values)):
        if values[k] != values[k - 1]:
            run_values[r] = values[k - 1]
            run_lengths[r] = k - start
            r += 1
            start = k
    run_values[r] = values[len(values) - 1]
    run_lengths[r] = len(values) - start
    return run_values, run_lengths


def _refuse_beyond_int64(ids: pa.ChunkedArray, source: str, column: str) -> None:
    """Integer ids are int64 in a store: uint64 ids above 2**63 - 1 are refused, never wrapped to negatives."""
    if ids.type == pa.uint64() and len(ids) and pc.max(ids).as_py() > np.iinfo(np.int64).max:
        raise DataError(
            f"contact ids above 2**63 - 1 cannot be stored as integers, e.g. {pc.max(ids).as_py()}; store the ids as "
            "strings",
            source=source,
            column=column,
        )


def _unknown_contacts(missing, source: str, column: str) -> DataError:
    return DataError(
        f"{len(missing)} event(s) belong to contacts that do not exist, e.g. "
        + ", ".join(map(str, missing.unique().to_pylist()[:3])),
        source=source,
        column=column,
    )


def _sort_order(run_rows: np.ndarray, run_lengths: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """The stable permutation that sorts events by (row, ts), or None when they already are (exports from
    segmint's own generator, saved stores): contacts in order, one run each, times in order within each run."""
    if len(ts) < 2:
        return None
    if np.all(run_rows[1:] > run_rows[:-1]):
        backwards = ts[1:] < ts[:-1]
        backwards[np.cumsum(run_lengths)[:-1] - 1] = False  # from one contact's last event to the next's first
        if not backwards.any():
            return None
    rows = np.repeat(run_rows, run_lengths)
    by_time = np.argsort(ts, kind="stable")
    return by_time[np.argsort(rows[by_time], kind="stable")]


# -- columns -------------------------------------------------------------------------------------------------
def _column(array: pa.ChunkedArray, field: Field, source: str, attribute: bool = False) -> Column:
    name = field.name
    valid = None
    if array.null_count:
        valid = array.is_valid().to_numpy(zero_copy_only=False)
    try:
        match field.type:
            case Type.STRING:
                return _strings(array, field, valid, source, attribute)
            case Type.TAGS:
                return _tags(array, source, name)
            case Type.TIMESTAMP:
                filled = array if valid is None else array.fill_null(0).cast(array.type)
                return Column(Type.TIMESTAMP, _timestamps(filled, source, name), valid)
            case Type.DATE:
                if not pa.types.is_date(array.type):
                    raise _wrong_type(array, field, source)
                days = _numpy(array.cast(pa.date32()).cast(pa.int32()), valid, np.int32)
                _refuse_outside(days, FIRST_DAY, LAST_DAY, source, name)
                return Column(Type.DATE, days, valid)
            case Type.BOOL:
                if not pa.types.is_boolean(array.type):
                    raise _wrong_type(array, field, source)
                return Column(Type.BOOL, _numpy(array, valid, np.bool_), valid)
            case Type.INT:
                if not pa.types.is_integer(array.type):
                    raise _wrong_type(array, field, source)
                return Column(Type.INT, _numpy(array.cast(pa.int64()), valid, np.int64), valid)
            case Type.FLOAT:
                if not (pa.types.is_floating(array.type) or pa.types.is_integer(array.type)):
                    raise _wrong_type(array, field, source)
                values = _numpy(array.cast(pa.float64()), valid, np.float64)
                nan = np.isnan(values)
                if nan.any():  # NaN is how pandas and many sources say "missing": it is null here
                    valid = ~nan if valid is None else valid & ~nan
                    values = np.where(nan, 0.0, values)
                return Column(Type.FLOAT, values, valid)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(f"cannot read as {field.type}: {error}", source=source, column=name) from None
    raise AssertionError(field.type)


def _numpy(array: pa.ChunkedArray, valid, dtype) -> np.ndarray:
    if valid is not None:
        array = array.fill_null(False if dtype is np.bool_ else 0)
    return np.ascontiguousarray(array.to_numpy(), dtype=dtype)


def _strings(array: pa.ChunkedArray, field: Field, valid, source: str, attribute: bool) -> Column:
    if pa.types.is_dictionary(array.type) and pa.types.is_string(array.type.value_type):
        dictionary, codes = _dictionary_codes(array)
    else:
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            raise _wrong_type(array, field, source)
        dictionary, codes = _encode(array.cast(pa.large_string()).combine_chunks(), attribute)
    if field.values is not None:
        # Declared categories keep the schema's order and codes: map the (small) dictionary, then every row.
        declared = pc.index_in(dictionary, value_set=pa.array(field.values, pa.string())).fill_null(-1).to_numpy()
        missing = declared < 0
        if missing.any():  # only then can a row hold a value outside the categories
            outside = missing[codes] if valid is None else missing[codes] & valid
            if outside.any():
                bad = pc.unique(dictionary.take(pa.array(codes[outside]))).to_pylist()
                raise DataError(
                    f"value(s) {', '.join(map(repr, bad[:5]))} are not among the declared categories "
                    f"({', '.join(field.values[:12])}{', ...' if len(field.values) > 12 else ''})",
                    source=source,
                    column=field.name,
                )
        if not np.array_equal(declared, np.arange(len(declared))):
            codes = declared[codes]
        values = tuple(field.values)
    else:
        values = Strings(dictionary.fill_null(""))  # decoded when a rule first tests this column
    codes = np.array(codes, dtype=code_dtype(len(values)))  # an owned, writable copy: kernels see one array type
    if valid is not None:
        codes[~valid] = -1
    return Column(Type.STRING, codes, valid, values)


def _encode(array: pa.Array, attribute: bool) -> tuple[pa.Array, np.ndarray]:
    """Plain strings as (dictionary, codes). Distinct values, except for a contact attribute whose values are
    nearly all distinct (e-mails, names): there the column is its own dictionary, because hashing millions of long
    strings takes seconds (4.5 s for 5M e-mails here) and would save nothing. The evaluators test a dictionary
    entry by entry, so repeats in it change no answer; ``distinct(...)`` counts codes, which is why event
    properties are always deduplicated."""
    sample = array.slice(0, HIGH_CARDINALITY_SAMPLE)
    if attribute and len(array) > HIGH_CARDINALITY_SAMPLE and (
        len(pc.unique(sample)) > HIGH_CARDINALITY_SHARE * len(sample)
    ):
        return array, np.arange(len(array), dtype=np.int64)
    encoded = array.dictionary_encode()
    indices = encoded.indices
    return encoded.dictionary, (indices.fill_null(0) if indices.null_count else indices).to_numpy()


HIGH_CARDINALITY_SAMPLE = 100_000
HIGH_CARDINALITY_SHARE = 0.5


def _dictionary_codes(array: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A dictionary-encoded string column as (dictionary, int codes) without decoding a single row; null rows
    get code 0 (the caller masks them)."""
    array = array.unify_dictionaries()
    if array.num_chunks == 0:
        return pa.array([], pa.string()), np.zeros(0, np.int64)
    dictionary = array.chunk(0).dictionary.cast(pa.string())
    indices = pa.chunked_array([chunk.indices for chunk in array.chunks], array.type.index_type)
    codes = (indices.fill_null(0) if indices.null_count else indices).to_numpy()
    if len(pc.unique(dictionary)) != len(dictionary):  # repeated entries would split one value over two codes
        encoded = dictionary.dictionary_encode()
        codes = encoded.indices.to_numpy()[codes]
        dictionary = encoded.dictionary
    return dictionary, codes


def _tags(array: pa.ChunkedArray, source: str, name: str) -> Column:
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)) or not (
        pa.types.is_string(array.type.value_type) or pa.types.is_large_string(array.type.value_type)
        or pa.types.is_dictionary(array.type.value_type)
    ):
        raise DataError(f"tags must be a list of strings, not {array.type}", source=source, column=name)
    lists = array.combine_chunks()
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    lists = lists.fill_null(pa.scalar([], lists.type)) if lists.null_count else lists
    flat = lists.flatten()
    if flat.null_count:
        raise DataError(f"{flat.null_count} tag(s) are null", source=source, column=name)
    encoded = flat.cast(pa.string()).dictionary_encode()
    offsets = lists.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    codes = np.ascontiguousarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    return Column(Type.TAGS, codes, None, tuple(encoded.dictionary.to_pylist()), offsets)


def _timestamps(array: pa.ChunkedArray, source: str, name: str) -> np.ndarray:
    """Instants as int64 microseconds (UTC). Finer units are cut to the microsecond, toward the past (a store
    holds microseconds); instants outside years 1 to 9999 are refused, never wrapped."""
    if pa.types.is_timestamp(array.type):
        raw = np.ascontiguousarray(array.cast(pa.int64()).to_numpy(), dtype=np.int64)
        unit = array.type.unit
        if unit == "ns":
            return raw // 1000
        per_us = {"us": 1, "ms": 1_000, "s": 1_000_000}[unit]
        _refuse_outside(raw, -(-FIRST_US // per_us), LAST_US // per_us, source, name)
        return raw * per_us
    if pa.types.is_date32(array.type):
        days = np.ascontiguousarray(array.cast(pa.int32()).to_numpy(), dtype=np.int64)
        _refuse_outside(days, FIRST_DAY, LAST_DAY, source, name)
        return days * US_PER_DAY
    if pa.types.is_date64(array.type):  # milliseconds, meant to be whole days: their midnights
        days = np.ascontiguousarray(array.cast(pa.int64()).to_numpy(), dtype=np.int64) // (US_PER_DAY // 1000)
        _refuse_outside(days, FIRST_DAY, LAST_DAY, source, name)
        return days * US_PER_DAY
    raise DataError(f"expected timestamps, found {array.type}", source=source, column=name)


def _refuse_outside(values: np.ndarray, low: int, high: int, source: str, name: str) -> None:
    outside = (values < low) | (values > high)
    if outside.any():
        raise DataError(
            f"{int(outside.sum())} value(s) outside the representable range (years 1 to 9999), first at row "
            f"{int(np.flatnonzero(outside)[0])}",
            source=source,
            column=name,
        )


def _take(column: Column, order: np.ndarray) -> Column:
    valid = None if column.valid is None else column.valid[order]
    return Column(column.type, column.values[order], valid, column.dictionary, column.offsets)


def _empty(field: Field) -> Column:
    values = np.zeros(0, STORAGE_DTYPE[field.type])
    return Column(field.type, values, None, tuple(field.values or ()) if field.type is Type.STRING else None)


def _get(table: pa.Table, name: str, source: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataError(
            f"missing column (the table has: {', '.join(table.column_names)})", source=source, column=name
        )
    return table.column(name)


def _wrong_type(array, field: Field, source: str) -> DataError:
    return DataError(f"found {array.type}, but the schema says {field.type}", source=source, column=field.name)


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"cannot read this Parquet file: {error}", source=str(path)) from None


def _to_arrow(frame) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # Polars
        return frame.to_arrow()
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, pa.ArrowException) as error:
        raise DataError(f"cannot convert this frame to Arrow: {error}") from None


class _progress:
    """A progress bar over files on a terminal; nothing elsewhere."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.task = self.bar.add_task("loading", total=total)

    def __enter__(self):
        if self.bar:
            self.bar.start()
        return lambda: self.bar.advance(self.task) if self.bar else None

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.stop()


__all__ = ["SchemaError", "store_from_arrow", "store_from_frames", "store_from_parquet"]
