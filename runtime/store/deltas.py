"""A partition in memory at one version: its base store plus the deltas appended since, merged into one ``Store``
when first asked (``Part``), a run of consecutive appends merged in one pass (``fold``); the event ids a partition
has seen, for dropping repeats (runtime/store/eventids.py). runtime/store/partitioned.py keeps a ``Part`` per
partition; runtime/store/combine.py and splice.py do the merging.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ...dsl.errors import DataError
from . import batch, load
from .batch import Delta
from .columns import EventTable, Store
from .combine import merge_events, rows_of, update_contacts
from .eventids import SeenIds
from .splice import can_splice, splice_events


class Part:
    """One partition at one version: its base and its deltas, merged into a store when first asked. A part made by
    an append remembers the part it grew from, so that merging costs only the new delta when the old part was
    already merged (one pass over the partition's events of the types it touches: runtime/store/splice.py).

    Memory: a merged partition is one copy in RAM of its base (which otherwise stays memory-mapped) with its
    deltas. Once a part is merged it lets go of the part before it, so a stream of appends holds one copy per
    partition, two for the moment of a merge, plus the copy of any older version a reader still holds (a snapshot
    keeps its arrays; nothing merged is ever written to). A compaction makes the partition mapped again."""

    def __init__(self, base: Store, deltas: tuple[Delta, ...], previous: Part | None = None,
                 carried: SeenIds | None = None) -> None:
        self.base, self.deltas, self.previous = base, deltas, previous
        self.carried = SeenIds() if carried is None else carried  # event ids kept by the last compaction
        self._merged: Store | None = None if deltas else base
        self._ids: np.ndarray | None = None
        self._seen: SeenIds | None = None

    def grown(self, delta: Delta) -> Part:
        return Part(self.base, (*self.deltas, delta), self, self.carried)

    def merged(self, source: str) -> Store:
        if self._merged is None:
            part = self.previous
            while part is not None and part._merged is None:
                part = part.previous
            start, done = (self.base, 0) if part is None else (part._merged, len(part.deltas))
            self._merged = fold(start, self.deltas[done:], source)
        previous = self.previous
        if previous is not None:
            # take over what the previous part worked out (the next append asks for both), then let it go
            if previous._ids is not None:
                self.ids()
            if previous._seen is not None:
                self.seen()
            self.previous = None
        return self._merged

    def ids(self) -> np.ndarray:
        """The ids of the partition's contacts now, sorted (for lookups)."""
        if self._ids is None:
            previous = self.previous
            if previous is not None and previous._ids is not None:
                # taken over, not copied: an older part is never written to again (it recomputes if asked)
                ids, previous._ids = previous._ids, None
                pending = self.deltas[-1:]
            else:
                ids, pending = np.sort(np.asarray(self.base.ids)), self.deltas
            for delta in pending:
                ids = _after(ids, delta)
            self._ids = ids
        return self._ids

    def seen(self) -> SeenIds:
        """The event ids this partition has seen: those its last compaction kept and those of its deltas."""
        if self._seen is None:
            previous = self.previous
            if previous is not None and previous._seen is not None:
                seen, pending = previous._seen, self.deltas[-1:]  # shared, not copied: SeenIds never changes
            else:
                seen, pending = self.carried, self.deltas
            for delta in pending:
                seen = seen.added(delta)
            self._seen = seen
        return self._seen


def _after(ids: np.ndarray, delta: Delta) -> np.ndarray:
    if delta.kind == "delete":
        return ids[~member(delta.deleted_sorted, ids)]
    if delta.contacts is None:
        return ids
    added = np.asarray(load._ids(delta.contacts, delta.contacts.column_names[0], "delta"))
    added = added[~member(ids, added)]
    return np.sort(np.concatenate([ids, added]), kind="stable") if len(added) else ids


def member(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Which of ``wanted`` are in ``sorted_ids``."""
    if len(sorted_ids) == 0 or len(wanted) == 0:
        return np.zeros(len(wanted), bool)
    if sorted_ids.dtype == object or wanted.dtype == object:
        return np.isin(np.asarray(wanted, object), np.asarray(sorted_ids, object))
    at = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    return sorted_ids[at] == wanted


def fold(store: Store, deltas: Sequence[Delta], source: str) -> Store:
    """``store`` after ``deltas``: each run of appends merged at once (one pass over the events per run, not per
    append), each delete on its own."""
    run: list[Delta] = []
    for delta in (*deltas, None):
        if delta is not None and delta.kind == "append":
            run.append(delta)
            continue
        if run:
            store = _apply_run(store, run, source)
            run = []
        if delta is not None:
            store = apply(store, delta, source)
    return store


def _apply_run(store: Store, run: list[Delta], source: str) -> Store:
    if len(run) > 1:
        try:
            together = batch.combined(run, store.schema)
        except pa.ArrowException:  # appends whose columns have types Arrow cannot join (int and text event ids)
            together = None
        if together is not None:
            return apply(store, together, source)
    for delta in run:
        store = apply(store, delta, source)
    return store


def apply(store: Store, delta: Delta, source: str) -> Store:
    """``store`` after one delta."""
    schema = store.schema
    empty_ids = np.zeros(0, store.ids.dtype)
    if delta.kind == "delete":
        contacts, old_to_new, _ = update_contacts(store, empty_ids, {}, delta.deleted)
    else:
        ids, attributes = batch.batch_columns(schema, delta, source)
        contacts, old_to_new, _ = update_contacts(store, empty_ids if ids is None else ids, attributes,
                                                  empty_ids)
    n = len(contacts)
    events = {}
    for name, event_type in schema.events.items():
        table = store.events[name]
        new = delta.events.get(name) if delta.kind == "append" else None
        if new is None and delta.kind == "append":
            # nobody deleted: the new contacts, at the end, have no events of this type
            offsets = np.concatenate([table.offsets, np.full(n - len(store), table.offsets[-1], np.int64)])
            events[name] = EventTable(name, offsets, table.ts, table.properties)
            continue
        if new is None:
            rows, ts, properties = np.zeros(0, np.int64), np.zeros(0, np.int64), {
                prop: load._empty(field) for prop, field in event_type.properties.items()}
        else:
            where = f"{source}: events '{name}'"
            owners = batch.owner_ids(new.column(schema.id_column), store.ids.dtype, where, schema.id_column)
            rows = rows_of(np.asarray(contacts.ids), owners)
            if (rows < 0).any():
                raise DataError("a delta holds events of contacts the store does not have", source=source)
            ts = load._timestamps(new.column(event_type.timestamp), where, event_type.timestamp)
            properties = {prop: load._column(new.column(prop), field, where)
                          for prop, field in event_type.properties.items()}
        if delta.kind == "append" and can_splice(event_type):  # every old row kept, in place
            events[name] = splice_events(table, n, rows, ts, properties, event_type)
        else:
            events[name] = merge_events(table, old_to_new, n, rows, ts, properties, event_type)
    return Store(schema, contacts.ids, contacts.attributes, events)
