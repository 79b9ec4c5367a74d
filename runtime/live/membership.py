"""Who is in a segment, kept so that it never moves to another contact when the store changes.

Membership is a roaring bitmap (``pyroaring.BitMap``) of row numbers of the store it was computed on; rows mean
contacts only together with that store's list of external ids, its *epoch*. The registry keeps each epoch's ids
(``Epoch``) and, when a refresh meets a store whose ids differ (new contacts, a rebuilt or compacted store), carries
the old membership over by external id (``Epoch.rows``; live/layout.py ``Carry``): a contact keeps its
membership, a contact no longer in the store has left; ids only added after the old ones (appends) move no row.
Row bitmaps are built from numpy through ``array.array``, pyroaring's fast path (a bitmap of a million rows in
milliseconds; from a numpy array it iterates in Python, fifteen times slower).
"""

from __future__ import annotations

import array
import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import BitMap

from ..store.columns import Store


def bitmap(rows: np.ndarray) -> BitMap:
    """A bitmap of the given row numbers (any integer dtype, values < 2**32)."""
    packed = array.array("I")
    packed.frombytes(np.ascontiguousarray(rows, dtype=np.uint32).tobytes())
    return BitMap(packed)


def rows(members: BitMap) -> np.ndarray:
    """The row numbers in ``members``, ascending, as int64."""
    return np.frombuffer(members.to_array(), dtype=np.uint32).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Epoch:
    """The external ids of a store, row by row: what the row numbers of a membership bitmap refer to."""

    digest: str  # a hash of the ids (and their kind): equal digests, equal ids
    ids: np.ndarray  # int64, or an object array of str

    @classmethod
    def of(cls, store: Store) -> Epoch:
        return cls(digest_of(store.ids), store.ids)

    @property
    def kind(self) -> str:
        return "str" if self.ids.dtype == object else "int"

    def encode(self) -> tuple[str, bytes, bytes]:
        """(kind, values, offsets) for storage: int64 bytes, or UTF-8 text with int64 offsets."""
        if self.kind == "int":
            return "int", np.ascontiguousarray(self.ids, dtype=np.int64).tobytes(), b""
        strings = pa.array(list(self.ids), pa.large_string())
        offsets, data = strings.buffers()[1:3]
        return "str", data.to_pybytes() if data is not None else b"", offsets.to_pybytes()

    @classmethod
    def decode(cls, digest: str, kind: str, values: bytes, offsets: bytes) -> Epoch:
        if kind == "int":
            return cls(digest, np.frombuffer(values, dtype=np.int64))
        offsets_array = np.frombuffer(offsets, dtype=np.int64)
        strings = pa.LargeStringArray.from_buffers(len(offsets_array) - 1, pa.py_buffer(offsets), pa.py_buffer(values))
        return cls(digest, np.array(strings.to_pylist(), dtype=object))

    def ids_of(self, members: BitMap) -> list:
        """External ids of the rows in ``members``, as Python ints or strs."""
        return self.ids[rows(members)].tolist()

    def extends(self, other: Epoch) -> bool:
        """Whether this epoch is ``other`` with contacts added after its rows (what appends make of a store's or a
        partition's rows): then a row of ``other`` is the same row here, and nothing needs translating."""
        n = len(other.ids)
        return n <= len(self.ids) and other.kind == self.kind and bool(np.array_equal(self.ids[:n], other.ids))

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The row of each of ``ids`` in this epoch, -1 where it is not here."""
        if len(ids) == 0 or len(self.ids) == 0:
            return np.full(len(ids), -1, np.int64)
        found = pc.index_in(_arrow(ids), value_set=_arrow(self.ids))  # null where the id is not in this epoch
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def digest_of(ids: np.ndarray) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    if ids.dtype == object:
        hasher.update(b"str")
        for chunk in range(0, len(ids), 1 << 16):
            hasher.update("\0".join(ids[chunk : chunk + (1 << 16)].tolist()).encode("utf-8", "surrogatepass"))
            hasher.update(b"\1")
    else:
        hasher.update(b"int")
        hasher.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    return hasher.hexdigest()


def _arrow(ids: np.ndarray) -> pa.Array:
    return pa.array(ids.tolist() if ids.dtype == object else ids, pa.large_string() if ids.dtype == object else None)
