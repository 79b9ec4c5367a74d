"""An append's events spliced into a partition's event table (runtime/store/splice.py) land exactly where the general
merge (combine.merge_events) puts them: the same offsets, the same times in the same order, the same values
position by position, with string values old and new, nulls, new contacts and events tied in time."""

import numpy as np
import pyarrow as pa
import pytest
from fuzzgen import SCHEMA

from segmint.runtime.store.columns import Column, EventTable, Strings
from segmint.runtime.store.combine import merge_events
from segmint.runtime.store.splice import can_splice, splice_events


def _decoded(column: Column) -> list:
    valid = column.validity()
    values = column.values.tolist()
    if column.dictionary is not None:
        return [column.dictionary[v] if ok else None for v, ok in zip(values, valid, strict=True)]
    return [v if ok else None for v, ok in zip(values, valid, strict=True)]


def _column(field, rng, n: int, words: list[str], nulls: bool) -> Column:
    valid = rng.random(n) > 0.2 if nulls else None
    if field.type.name == "STRING" and field.values is None:
        codes = rng.integers(0, len(words), n).astype(np.int16)
        if valid is not None:
            codes[~valid] = -1
        return Column(field.type, codes, valid, Strings(pa.array(words, pa.large_string())))
    if field.type.name == "STRING":
        codes = rng.integers(0, len(field.values), n).astype(np.int8)
        if valid is not None:
            codes[~valid] = -1
        return Column(field.type, codes, valid, tuple(field.values))
    if field.type.name == "FLOAT":
        return Column(field.type, rng.random(n) * 100, valid)
    return Column(field.type, rng.integers(0, 9, n).astype(np.int64), valid)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("event", [name for name, e in SCHEMA.events.items() if can_splice(e)])
def test_a_spliced_append_equals_the_general_merge(event, seed):
    rng = np.random.default_rng(seed)
    event_type = SCHEMA.events[event]
    assert can_splice(event_type)
    n_old, n_new = 40, 40 + int(rng.integers(0, 5))
    counts = rng.integers(0, 6, n_old)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # times in a small range so that ties between old and new events (and among new ones) are common
    ts = np.concatenate([np.sort(rng.integers(0, 8, c)) for c in counts]).astype(np.int64)
    old_words, new_words = ["a", "b", "c"], ["c", "d", "a", "e"]
    table = EventTable(event, offsets, ts, {p: _column(f, rng, len(ts), old_words, seed % 2 == 0)
                                            for p, f in event_type.properties.items()})
    k = int(rng.integers(1, 60))
    rows = rng.integers(0, n_new, k).astype(np.int64)
    new_ts = rng.integers(0, 8, k).astype(np.int64)
    properties = {p: _column(f, rng, k, new_words, seed % 3 == 0) for p, f in event_type.properties.items()}

    spliced = splice_events(table, n_new, rows, new_ts, properties, event_type)
    merged = merge_events(table, np.arange(n_old, dtype=np.int64), n_new, rows, new_ts, properties, event_type)
    assert np.array_equal(spliced.offsets, merged.offsets)
    assert np.array_equal(spliced.ts, merged.ts)
    for prop in event_type.properties:
        assert _decoded(spliced.properties[prop]) == _decoded(merged.properties[prop]), prop
    # the old codes stay as they were: the dictionary only grows at its end
    for prop, column in table.properties.items():
        if column.dictionary is not None:
            assert list(spliced.properties[prop].dictionary)[: len(column.dictionary)] == list(column.dictionary)
