"""A batch's events spliced into a partition's event table in one sequential pass (``splice_events``): what an append
costs at the first evaluation of its version.

A version's partition is the previous version's merged partition plus the new delta (runtime/store/deltas.py), so
an append pays for its own events only once, never for the deltas before it. The event arrays stay one CSR run per
contact (every engine reads them as they are), so an append still writes every event of the types it touches; this
does it as a copy of runs between the insertion points (memory bandwidth), where the general merge of
``combine.merge_events`` gathers every column through a permutation and widens string codes to int64 (about ten
times slower: 1.6 s against 0.16 s per append of 100k events to 1M contacts and 26M events, benchmarks/store.py).

It applies when no contact lost its events (an append: old rows keep their numbers, new contacts come last) and no
column is a tag set (CSR inside CSR); ``combine.merge_events`` does the rest. A batch's string values are looked up
in the partition's dictionary and the ones it lacks are added at its end, so the old codes stay valid as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...compiler.schema import Field
from ...compiler.types import Type
from .columns import Column, EventTable, Strings, code_dtype


def can_splice(event_type) -> bool:
    """Whether ``splice_events`` takes the properties of ``event_type`` (not tag sets)."""
    return all(field.type is not Type.TAGS for field in event_type.properties.values())


def splice_events(table: EventTable, n_contacts: int, rows: np.ndarray, ts: np.ndarray,
                  properties: Mapping[str, Column], event_type) -> EventTable:
    """``table`` (rows unchanged, ``n_contacts`` rows now: new contacts at the end) with the batch's events
    (contact row ``rows``, time ``ts``, any order) in place: each contact's events sorted by time, an old event
    before a new one of the same instant, new ones of one instant in the order they came."""
    offsets = np.asarray(table.offsets, np.int64)
    base_ts = np.asarray(table.ts)
    order = np.lexsort((ts, rows)) if len(rows) else np.zeros(0, np.int64)
    rows, ts = rows[order], np.asarray(ts, np.int64)[order]
    at = _insertion_points(offsets, base_ts, rows, ts)
    counts = np.bincount(rows, minlength=n_contacts) if len(rows) else np.zeros(n_contacts, np.int64)
    new_offsets = np.empty(n_contacts + 1, np.int64)
    new_offsets[: len(offsets)] = offsets
    new_offsets[len(offsets):] = offsets[-1]
    new_offsets[1:] += np.cumsum(counts)
    columns = {prop: _splice_column(table.properties[prop], properties[prop], order, at, field)
               for prop, field in event_type.properties.items()}
    return EventTable(table.name, new_offsets, _spliced(base_ts, ts, at), columns)


def _splice_column(old: Column, new: Column, order: np.ndarray, at: np.ndarray, field: Field) -> Column:
    values = np.asarray(new.values)[order]
    dictionary = old.dictionary
    old_values = np.asarray(old.values)
    if field.type is Type.STRING:
        if field.values is None:
            dictionary, remap = _joined_dictionary(old.dictionary, new.dictionary)
            if remap is not None and len(values):
                values = np.where(values >= 0, remap[np.maximum(values, 0)], -1)
        dtype = np.promote_types(old_values.dtype, code_dtype(len(dictionary)))
        old_values, values = old_values.astype(dtype, copy=False), values.astype(dtype, copy=False)
    else:
        values = values.astype(old_values.dtype, copy=False)
    valid = None
    if old.valid is not None or new.valid is not None:
        valid = _spliced(old.validity(), new.validity()[order], at)
    return Column(old.type, _spliced(old_values, values, at), valid, dictionary)


def _joined_dictionary(old, new) -> tuple[object, np.ndarray | None]:
    """The old dictionary with the new one's missing values added at its end, and each new code's code in it (None
    when the dictionaries are one object)."""
    if new is old:
        return old, None
    old_array, new_array = _as_arrow(old), _as_arrow(new)
    found = pc.index_in(new_array, value_set=old_array)
    if found.null_count == 0:
        return old, found.to_numpy(zero_copy_only=False).astype(np.int64)
    missing = pc.unique(new_array.filter(pc.is_null(found)))
    joined = pa.concat_arrays([old_array, missing])
    remap = pc.index_in(new_array, value_set=joined).to_numpy(zero_copy_only=False).astype(np.int64)
    return Strings(joined), remap


def _as_arrow(dictionary) -> pa.Array:
    if isinstance(dictionary, Strings):
        return dictionary.arrow.cast(pa.large_string())
    return pa.array(list(dictionary or ()), pa.large_string())


def _spliced(old: np.ndarray, new: np.ndarray, at: np.ndarray) -> np.ndarray:
    out = np.empty(len(old) + len(new), old.dtype)
    # as bytes: one compiled kernel for every dtype (two: a memory-mapped base is read-only), not one per dtype
    _splice_into(np.ascontiguousarray(old).view(np.uint8), np.ascontiguousarray(new, old.dtype).view(np.uint8), at,
                 old.dtype.itemsize, out.view(np.uint8))
    return out


@numba.njit(nogil=True, cache=True)
def _splice_into(old, new, at, width, out):  # pragma: no cover - runs compiled
    """The items (``width`` bytes each) of ``old`` with new item ``j`` placed before old item ``at[j]`` (``at``
    ascending), written to ``out``: runs of ``old`` copied whole between the insertion points."""
    i = k = 0
    for j in range(len(at)):
        stop = at[j] * width
        run = stop - i
        out[k:k + run] = old[i:stop]
        k += run
        i = stop
        out[k:k + width] = new[j * width:(j + 1) * width]
        k += width
    out[k:] = old[i:]


@numba.njit(nogil=True, cache=True)
def _insertion_points(offsets, base_ts, rows, ts):  # pragma: no cover - runs compiled
    """For each new event (sorted by row, then time), the position in the old events before which it goes: after
    its contact's old events of the same instant or earlier (a binary search in the contact's run); the end for a
    new contact."""
    n_old = len(offsets) - 1
    out = np.empty(len(rows), np.int64)
    for j in range(len(rows)):
        row = rows[j]
        if row >= n_old:
            out[j] = offsets[n_old]
            continue
        lo, hi = offsets[row], offsets[row + 1]
        t = ts[j]
        while lo < hi:
            mid = (lo + hi) // 2
            if base_ts[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        out[j] = lo
    return out
