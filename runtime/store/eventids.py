"""The event ids a partition has seen within the store's horizon, and when each arrived: what drops a retried event.

The horizon is measured in time of arrival, as in the event pipelines that deduplicate on an event's id: Segment
keeps at least 24 hours of ``messageId`` s, Amplitude drops an ``insert_id`` seen within the past 7 days,
RudderStack keeps processed ``messageId`` s for a window it is configured with. A sender retries within minutes or
hours, whatever time the event itself carries (a late purchase from last week retried today is still a retry), so
the clock is that of the append that brought the id (``Delta.at``), not the event's timestamp. The horizon is a
setting of the store (``SavedStore.create(..., event_id_days=7)``, kept in the manifest).

In memory a partition's ids are ``SeenIds``: per event type and kind of id (text never equals an integer), the ids
sorted, each with its latest arrival. A compaction keeps the ids that arrived within the horizon in a file of their
own (``delta-<uuid>.arrows``, Arrow IPC with the size and CRC-32 in the manifest, as a delta) that the partition's
manifest entry names (``event_ids``), and forgets the older ones: memory and disk hold the ids of at most one
horizon of appends (plus those since the last compaction), however long the store lives.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...compiler.types import US_PER_DAY
from ...dsl.errors import DataError
from ..durable import fsync_folder
from .batch import EVENT_ID, Delta, event_id_values, read_tables, write_tables
from .persist import DELTA_FILE

DEFAULT_DAYS = 7.0
_KINDS = {False: "integers/", True: "text/"}  # table names in the file: kind of id, then the event type


def now_us() -> int:
    """The time an append is acknowledged at (microseconds since the epoch, UTC)."""
    return time.time_ns() // 1000


def horizon_us(manifest: Mapping) -> int:
    """The store's horizon in microseconds (stores from before it was a setting have the default)."""
    days = manifest.get("event_id_days", DEFAULT_DAYS)
    return int(days * US_PER_DAY)


def checked_days(days) -> float:
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days <= 36_500:
        raise ValueError(f"event_id_days is a number of days from 0 to 36500, not {days!r}")
    return float(days)


@dataclass(frozen=True)
class SeenIds:
    """Event ids with their latest arrival, per (event type, text or not): ids sorted, times alongside."""

    sets: Mapping[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self.sets.values())

    def added(self, delta: Delta) -> SeenIds:
        """These ids and those of ``delta`` (arrived at ``delta.at``)."""
        sets = dict(self.sets)
        for name, table in delta.events.items():
            if EVENT_ID not in table.column_names:
                continue
            values = event_id_values(table.column(EVENT_ID).drop_null())
            if not len(values):
                continue
            key = (name, values.dtype.kind == "O")
            times = np.full(len(values), delta.at, np.int64)
            known = sets.get(key)
            if known is not None:
                values, times = np.concatenate([known[0], values]), np.concatenate([known[1], times])
            sets[key] = _latest(values, times)
        return SeenIds(sets)

    def found(self, event_type: str, wanted: np.ndarray, since: int) -> np.ndarray:
        """Which of ``wanted`` (ids of one kind) arrived at ``since`` or later."""
        entry = self.sets.get((event_type, wanted.dtype.kind == "O"))
        if entry is None or not len(wanted) or not len(entry[0]):
            return np.zeros(len(wanted), bool)
        ids, times = entry
        at = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
        return (ids[at] == wanted) & (times[at] >= since)

    def since(self, cutoff: int) -> SeenIds:
        """Only the ids that arrived at ``cutoff`` or later."""
        sets = {}
        for key, (ids, times) in self.sets.items():
            kept = times >= cutoff
            if kept.any():
                sets[key] = (ids[kept], times[kept])
        return SeenIds(sets)

    def tables(self) -> dict[str, pa.Table]:
        return {_KINDS[text] + name: pa.table({EVENT_ID: pa.array(ids.tolist() if text else ids), "at": times})
                for (name, text), (ids, times) in self.sets.items()}

    @classmethod
    def from_tables(cls, tables: Mapping[str, pa.Table], source: str) -> SeenIds:
        sets = {}
        for name, table in tables.items():
            kind, _, event_type = name.partition("/")
            text = kind + "/" == _KINDS[True]
            if kind + "/" not in _KINDS.values() or table.column_names != [EVENT_ID, "at"]:
                raise DataError(f"the event ids file is damaged: table {name!r}", source=source)
            ids = event_id_values(table.column(EVENT_ID))
            if (ids.dtype.kind == "O") != text:
                raise DataError(f"the event ids file is damaged: table {name!r}", source=source)
            sets[(event_type, text)] = _latest(ids, table.column("at").to_numpy().astype(np.int64))
        return cls(sets)


def _latest(ids: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted by id, one entry per id: its latest time (an id seen again after the horizon arrived anew)."""
    order = np.argsort(times, kind="stable")
    ids, times = ids[order], times[order]
    order = np.argsort(ids, kind="stable")
    ids, times = ids[order], times[order]
    last = np.ones(len(ids), bool)
    last[:-1] = ids[1:] != ids[:-1]
    return ids[last], times[last]


def write_kept(directory: Path, carried: SeenIds, token: str, written: list) -> dict | None:
    """The event ids a compaction keeps, in a file of their own (fsynced, the folder fsynced), named in
    ``written`` first so that a failure removes it; its manifest entry, or None when there are none."""
    if not carried.sets:
        return None
    path = directory / f"delta-{token}.arrows"
    written.append(path.name)
    entry = write_tables(path, carried.tables())
    fsync_folder(directory)
    return {**entry, "kind": "event_ids"}


def read_kept(directory: Path, spec: Mapping, source: str) -> SeenIds | None:
    entry = spec.get("event_ids")
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not DELTA_FILE.match(
            entry["file"]) or entry.get("kind") != "event_ids":
        raise DataError("manifest.json is damaged: a partition's event ids", source=source)
    return SeenIds.from_tables(read_tables(directory / entry["file"], entry, source), source)
