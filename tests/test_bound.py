"""The memory-traffic lower bound (benchmarks/bound.py) on a hand-built store, checked by hand arithmetic.

Every array of the store is copied to a 64-byte boundary, so row ``r`` of an array of ``size``-byte elements lies in
cache line ``r * size // 64`` and the line counts below can be worked out on paper.
"""

import dataclasses

import numpy as np
import pytest
from data import NOW
from storebuilder import build_store

import segmint
from segmint.benchmarks.bound import bytes_read, describe, measure_bandwidth
from segmint.compiler.kernels.plan import (
    ArrayInput,
    AttrColumn,
    ColumnValues,
    EventOffsets,
    EventTimes,
    LastEventTimes,
    PropColumn,
)
from segmint.runtime.store.columns import Store

LINE = 64

# Purchases: row numbers in the purchase table (sorted by contact, then time) and the lines their 8-byte
# timestamps and amounts lie in (8 per line).
#   a: 10 purchases, rows 0-9   (lines 0-1), the last 3 within 365d (rows 7, 8, 9: lines 0, 1, 1)
#   b:  1 purchase,  row 10     (line 1), within 365d
#   c:  none
#   d:  8 purchases, rows 11-18 (lines 1-2), all older than 365d
#   e: 10 purchases, rows 19-28 (lines 2-3), the last 5 within 365d (rows 24-28: line 3)
OLD, RECENT = "2024-01-15T10:00:00+00:00", "2026-10-01T10:00:00+00:00"
PLAN = {"a": (7, 3), "b": (0, 1), "c": (0, 0), "d": (8, 0), "e": (5, 5)}  # contact -> (old, recent) purchases
CONTACTS = [
    {"id": "a", "gender": "f", "birth_date": "1990-05-01"},
    {"id": "b", "gender": "m", "birth_date": "1985-01-01"},
    {"id": "c", "gender": None, "birth_date": "2000-12-31"},  # a null gender: the kernel takes its validity mask
    {"id": "d", "gender": "f", "birth_date": "1970-07-07"},
    {"id": "e", "gender": "x", "birth_date": "1995-03-03"},
]
PURCHASES = [
    {"id": cid, "ts": stamp, "amount": 10.0 * k, "brand": "Apple"}
    for cid, (old, recent) in PLAN.items()
    for k, stamp in enumerate([OLD] * old + [RECENT] * recent)
]


def _aligned(array: np.ndarray | None) -> np.ndarray | None:
    """A copy of ``array`` starting on a cache-line boundary."""
    if array is None:
        return None
    raw = np.empty(array.nbytes + LINE, dtype=np.uint8)
    skip = -raw.ctypes.data % LINE
    copy = raw[skip : skip + array.nbytes].view(array.dtype)
    copy[...] = array
    return copy


def _column(column):
    return dataclasses.replace(
        column, values=_aligned(column.values), valid=_aligned(column.valid), offsets=_aligned(column.offsets)
    )


@pytest.fixture(scope="module")
def store(schema) -> Store:
    built = build_store(schema, CONTACTS, {"purchase": PURCHASES})
    events = {
        name: dataclasses.replace(
            table,
            offsets=_aligned(table.offsets),
            ts=_aligned(table.ts),
            properties={p: _column(c) for p, c in table.properties.items()},
        )
        for name, table in built.events.items()
    }
    for table in events.values():
        table.__dict__["last_ts"] = _aligned(table.last_ts)  # fills the cached property, aligned as well
    attributes = {name: _column(c) for name, c in built.attributes.items()}
    return Store(built.schema, built.ids, attributes, events)


def _lines(schema, rule: str, store: Store) -> dict[ArrayInput, tuple[int, int]]:
    """kernel input -> (rows, lines) of every array the rule's kernel reads."""
    seg = segmint.compile(rule, schema)
    return {read.item: (read.rows, read.lines) for read in describe(seg, store, NOW)}


def test_the_store_is_laid_out_as_planned(store):
    purchases = store.events["purchase"]
    assert purchases.offsets.tolist() == [0, 10, 11, 11, 19, 29]
    assert all(a.ctypes.data % LINE == 0 for a in (purchases.offsets, purchases.ts))


def test_binary_search_alone_reads_one_timestamp_line_per_slice_unless_slices_share_it(schema, store):
    # The kernel first reads every contact's last purchase time (5 x 8 bytes, one line) and goes on for those with
    # purchases. offsets: 6 x 8 bytes, one line. Timestamps: a's slice spans lines 0-1, and reading line 1 serves b
    # (line 1) and d (lines 1-2) too; e (lines 2-3) needs another: 2 lines, not one per contact with purchases (4).
    assert _lines(schema, "bought and not bought within 90d", store) == {
        LastEventTimes("purchase"): (5, 1),
        EventOffsets("purchase"): (6, 1),
        EventTimes("purchase"): (4, 2),
    }
    seg = segmint.compile("bought and not bought within 90d", schema)
    assert bytes_read(seg, store, NOW) == 4 * LINE


def test_a_pass_reads_its_property_for_the_events_in_the_window(schema, store):
    # amount (8 bytes) of the 9 purchases within 365d: rows 7-10 (lines 0, 1) and 24-28 (line 3): 3 lines.
    # The window has a start, so the kernel first reads every contact's last purchase time (5 x 8 bytes, one line)
    # and goes on only for a, b and e (c has none, d's are older): their offsets (rows 0, 1, 2, 4, 5: one line)
    # and timestamps (a's lines 0-1 and b's line 1 share line 1, e needs line 3: 2 lines).
    rule = "sum(bought.amount within 365d) > 500"
    assert _lines(schema, rule, store) == {
        LastEventTimes("purchase"): (5, 1),
        EventOffsets("purchase"): (5, 1),
        EventTimes("purchase"): (3, 2),
        ColumnValues(PropColumn("purchase", "amount")): (9, 3),
    }
    assert bytes_read(segmint.compile(rule, schema), store, NOW) == 7 * LINE


def test_windows_of_one_property_are_united(schema, store):
    # amount within 365d (rows 7-10, 24-28) or over all time (rows 0-28): all 29 rows, lines 0-3, counted once.
    rule = "sum(bought.amount within 365d) > 500 or max(bought.amount) > 60"
    assert _lines(schema, rule, store)[ColumnValues(PropColumn("purchase", "amount"))] == (29, 4)


def test_attributes_are_read_whole_without_validity_for_strings(schema, store):
    # gender: 5 int8 codes (5 bytes); its null holds code -1, which the lookup table maps to False, so its validity
    # mask is not read. birth_date: 5 int32 days, no nulls, so no mask either.
    rule = "gender = f and age(birth_date) between 25 and 40"
    assert _lines(schema, rule, store) == {
        ColumnValues(AttrColumn("gender")): (5, 1),
        ColumnValues(AttrColumn("birth_date")): (5, 1),
    }
    reads = describe(segmint.compile(rule, schema), store, NOW)
    assert [r.payload for r in reads] == [5, 20]
    assert bytes_read(segmint.compile(rule, schema), store, NOW) == 2 * LINE


def test_many_segments_read_shared_arrays_once(schema, store):
    segments = [segmint.compile(r, schema) for r in ("bought and not bought within 90d", "sum(bought.amount) > 5")]
    # last purchase times 1 line, offsets 1 line, timestamps 2 lines (shared), amount over all time: lines 0-3.
    assert bytes_read(segments, store, NOW) == (1 + 1 + 2 + 4) * LINE


def test_parameters_and_now_set_the_windows(schema, store):
    seg = segmint.compile("sum(bought.amount within $days) > 5", schema)
    rows = {days: describe(seg, store, NOW, {"days": days})[-1].rows for days in ("365d", "2000d")}
    assert rows == {"365d": 9, "2000d": 29}
    assert describe(seg, store, "2024-01-01", {"days": "2000d"})[-1].rows == 0  # every purchase is after now


def test_measure_bandwidth_is_plausible():
    bandwidth = measure_bandwidth(gib=0.01, repeat=2)
    assert 1e8 < bandwidth < 1e13  # between 100 MB/s and 10 TB/s
