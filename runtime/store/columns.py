"""The contact store: N contacts column-wise in numpy, and their events grouped by contact.

Layout (every array is a plain numpy array, possibly memory-mapped read-only):

- ``ids``: external contact ids, ``int64`` or an object array of ``str``; row ``i`` is contact ``ids[i]``.
- ``attributes[name]``: a ``Column`` of length N.
- ``events[type]``: an ``EventTable``: the events of every contact, sorted by (contact row, timestamp), with
  ``offsets`` (``int64``, length N+1) so that contact ``i``'s events are rows ``offsets[i]:offsets[i+1]`` (CSR),
  ``ts`` (``int64`` microseconds since epoch, UTC, never null) and one ``Column`` per property.

Loading (``runtime/store/load.py``) and saving/opening (``runtime/store/persist.py``) build this; evaluation only reads
it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from ...compiler.schema import Schema
from ...compiler.types import US_PER_DAY, Type
from ...dsl.errors import DataError

# numpy storage of each stored type (see compiler/types.py).
STORAGE_DTYPE = {
    Type.BOOL: np.dtype(np.bool_),
    Type.INT: np.dtype(np.int64),
    Type.FLOAT: np.dtype(np.float64),
    Type.STRING: np.dtype(np.int32),  # the widest; loaders store the narrowest that fits (code_dtype)
    Type.DATE: np.dtype(np.int32),
    Type.TIMESTAMP: np.dtype(np.int64),
    Type.TAGS: np.dtype(np.int32),
}

# The instants and days a store can hold: years 1 to 9999, what Python's datetime (and so every date a rule or a
# result prints) can represent. Loaders refuse values outside; opening a saved store treats them as damage.
FIRST_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
LAST_DAY = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days
FIRST_US = FIRST_DAY * US_PER_DAY
LAST_US = (LAST_DAY + 1) * US_PER_DAY - 1


class Strings(Sequence):
    """A string dictionary held as an Arrow string array and turned into Python strings when first used: a store
    with millions of distinct e-mails loads and opens without building millions of Python objects, and only rules
    that test e-mails pay for them (once). ``source`` names the file to blame when the data is not valid UTF-8."""

    def __init__(self, array: pa.Array, source: str | None = None) -> None:
        self._array, self._source = array, source

    @cached_property
    def arrow(self) -> pa.Array:
        """The strings as an Arrow array (for vectorised tests), checked once if they were read from disk."""
        if self._source is not None:
            try:
                self._array.validate(full=True)  # the UTF-8 of data read from a saved store
            except pa.ArrowInvalid:
                raise DataError("string data of the saved store is damaged", source=self._source) from None
        return self._array

    @cached_property
    def _values(self) -> tuple[str, ...]:
        return tuple(self.arrow.to_pylist())

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, index):
        return self._values[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def code_dtype(dictionary_size: int) -> np.dtype:
    """The narrowest signed integer that holds every code of a dictionary, -1 (null) and the dictionary's size
    (the evaluators index a lookup table's final "null" entry with it): fewer bytes to read per event."""
    for dtype in (np.int8, np.int16, np.int32):
        if dictionary_size < np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"a dictionary of {dictionary_size} values")


@dataclass(frozen=True, eq=False)
class Column:
    """One typed column.

    ``values`` has the storage dtype of ``type``. ``valid`` is a bool mask (True = present) or None when nothing is
    null; where ``valid`` is False the value is meaningless (strings hold code -1 there). STRING and TAGS columns
    hold integer codes (int8, int16 or int32: see ``code_dtype``) into ``dictionary`` (a tuple of distinct str, in
    no particular order). TAGS columns are CSR:
    ``offsets`` (int64, length rows+1) delimit each row's codes in ``values``; a null tag set is an empty one.
    """

    type: Type
    values: np.ndarray
    valid: np.ndarray | None = None
    dictionary: Sequence[str] | None = None  # a tuple, or Strings (decoded on first use)
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1 if self.offsets is not None else len(self.values)

    def validity(self) -> np.ndarray:
        """The validity mask, materialised (all True when the column has no nulls)."""
        if self.valid is None:
            return np.ones(len(self), dtype=bool)
        return np.asarray(self.valid, dtype=bool)

    @cached_property
    def code_of(self) -> dict[str, int]:
        """Dictionary value -> code, for string and tags columns."""
        return {value: code for code, value in enumerate(self.dictionary or ())}

    @cached_property
    def tag_bits(self) -> np.ndarray:
        """A TAGS column of at most 64 distinct tags as one uint64 per row, bit k set when the row has the tag of
        code k: compiled kernels test tags on it with a mask, in their branch-free first loop."""
        counts = np.diff(self.offsets)
        bits = np.zeros(len(counts), np.uint64)
        np.bitwise_or.at(bits, np.repeat(np.arange(len(counts)), counts),
                         np.left_shift(np.uint64(1), self.values.astype(np.uint64)))
        return bits

    def slice(self, start: int, stop: int) -> Column:
        """Rows ``start:stop`` as a column of their own (views where the layout allows; the dictionary is shared)."""
        valid = None if self.valid is None else self.valid[start:stop]
        if self.offsets is None:
            return Column(self.type, self.values[start:stop], valid, self.dictionary)
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        offsets = self.offsets[start : stop + 1] - first
        return Column(self.type, self.values[first:last], valid, self.dictionary, offsets)


@dataclass(frozen=True, eq=False)
class EventTable:
    name: str
    offsets: np.ndarray
    ts: np.ndarray
    properties: Mapping[str, Column] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ts)

    @cached_property
    def last_ts(self) -> np.ndarray:
        """Each contact's latest event time (the smallest int64 when it has none): kernels test it before touching
        a contact's events, so a contact with nothing inside a recent window costs one dense 8-byte read."""
        counts = np.diff(self.offsets)
        last = np.full(len(counts), np.iinfo(np.int64).min, np.int64)
        some = counts > 0
        last[some] = self.ts[self.offsets[1:][some] - 1]
        return last

    @cached_property
    def contact_rows(self) -> np.ndarray:
        """The contact row of every event (length = number of events)."""
        counts = np.diff(self.offsets)
        return np.repeat(np.arange(len(counts), dtype=np.int64), counts)

    def slice(self, start: int, stop: int) -> EventTable:
        """The events of contacts ``start:stop``, with offsets counted from the first of them."""
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        properties = {name: column.slice(first, last) for name, column in self.properties.items()}
        return EventTable(self.name, self.offsets[start : stop + 1] - first, self.ts[first:last], properties)


@dataclass(frozen=True, eq=False)
class Store:
    schema: Schema
    ids: np.ndarray
    attributes: Mapping[str, Column]
    events: Mapping[str, EventTable]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_contacts(self) -> int:
        return len(self.ids)

    @property
    def n_events(self) -> int:
        return sum(len(table) for table in self.events.values())

    def slice(self, start: int, stop: int) -> Store:
        """Contacts ``start:stop`` as a store of their own, e.g. one contact for ``explain``."""
        return Store(
            self.schema,
            self.ids[start:stop],
            {name: column.slice(start, stop) for name, column in self.attributes.items()},
            {name: table.slice(start, stop) for name, table in self.events.items()},
        )

    def row_of(self, contact_id: object) -> int:
        """The row of an external contact id (int ids also accept their decimal text). One scan of the ids (a few
        milliseconds for millions of contacts), not a hash table of them all: lookups come one at a time."""
        key = _id_key(contact_id, self.ids.dtype)
        rows = np.flatnonzero(self.ids == key) if key is not None else ()
        if len(rows):
            return int(rows[0])
        raise DataError(f"no contact with id {contact_id!r} in the store")

    # Loading and persistence live in their own modules; these are the entry points users reach for.
    @classmethod
    def from_parquet(cls, directory, schema: Schema | None = None, *, progress: bool = False) -> Store:
        from .load import store_from_parquet

        return store_from_parquet(directory, schema, progress=progress)

    @classmethod
    def from_arrow(cls, contacts, events: Mapping, schema: Schema | None = None) -> Store:
        from .load import store_from_arrow

        return store_from_arrow(contacts, events, schema)

    @classmethod
    def from_pandas(cls, contacts, events: Mapping, schema: Schema | None = None) -> Store:
        from .load import store_from_frames

        return store_from_frames(contacts, events, schema)

    from_polars = from_pandas

    def save(self, directory) -> None:
        from .persist import save_store

        save_store(self, directory)

    @classmethod
    def open(cls, directory, *, verify: bool = False) -> Store:
        """A saved store, memory-mapped. Its structure is always checked; ``verify`` also compares every file with
        its checksum, which reads the whole store. A store of partitions (``SavedStore``) opens as its current
        version: its partitions one after another, base and deltas merged."""
        from ..engines.vector import warm_in_background
        from .persist import open_store

        store = open_store(directory, verify)
        warm_in_background()  # a store is opened to evaluate rules on: Numba starts while the caller goes on
        return store


def _id_key(contact_id: object, dtype: np.dtype) -> object:
    """``contact_id`` as a value comparable with ids of ``dtype``, or None when no id of that type can equal it."""
    if dtype.kind != "i":
        return contact_id if isinstance(contact_id, str) else None
    if isinstance(contact_id, str) and contact_id.strip().lstrip("+-").isdigit():
        contact_id = int(contact_id)
    if isinstance(contact_id, bool) or not isinstance(contact_id, int | np.integer):
        return None
    limits = np.iinfo(dtype)
    return contact_id if limits.min <= contact_id <= limits.max else None
