"""The rows of a store of partitions as live memberships number them: partition by partition.

A membership is a bitmap of row numbers (membership.py). Over a store of partitions a row is its partition's start
plus its row inside the partition, the rows of ``SavedStore.snapshot()`` (partition 0's contacts in its order, then
partition 1's, ...), but no refresh builds that store: each partition is evaluated on its own and its members' rows
are shifted by its start (runtime/live/partwise.py). What those rows mean is the *layout*: the epoch (ids row by
row) of every partition. The registry keeps each partition's epoch once, as an epoch row shared by every layout in
which the partition is unchanged, and the layout as an epoch row of kind ``parts`` listing them; so a refresh after
an append that touched two partitions stores the ids of those two, not of the whole store. A store of one partition
(and a plain ``Store``) has a plain ``Epoch`` as its layout, exactly as before partitions.

A membership is carried to a new layout partition by partition (``Carry``): a partition whose ids did not change, or
only grew at the end (an append's new contacts; rows inside a partition move only at a delete, or when the store is
rebuilt), keeps its rows, shifted to the partition's new start; the rows of a partition whose rows changed are
translated by external id within the partition, and an id not found there is looked for in the other partitions (a
store rebuilt with another partition count); an id found nowhere has left the store. When no partition's rows and no
start moved, a membership is kept as it is, without being read.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyroaring import BitMap

from .membership import Epoch, bitmap, digest_of, rows

PARTS = "parts"  # the kind of an epoch row that is a layout: its ids are the partitions' epoch ids (int64)


@dataclass(frozen=True, eq=False)
class Layout:
    """The epochs of a store's partitions, in partition order (two or more)."""

    digest: str
    parts: tuple[Epoch, ...]

    @classmethod
    def of(cls, ids: Sequence[np.ndarray]) -> Epoch | Layout:
        """The layout of partitions with these ids (row by row); of one partition, its plain epoch."""
        parts = tuple(Epoch(digest_of(i), i) for i in ids)
        if len(parts) == 1:
            return parts[0]
        hasher = hashlib.blake2b(digest_size=16)
        hasher.update(f"{PARTS} {len(parts)}".encode())
        for part in parts:
            hasher.update(part.digest.encode())
        return cls(hasher.hexdigest(), parts)

    def ids_of(self, members: BitMap) -> list:
        """External ids of the rows in ``members``, in row order (partition by partition)."""
        found, starts = rows(members), starts_of(self.parts)
        cut = np.searchsorted(found, starts)
        return [contact for k, part in enumerate(self.parts)
                for contact in part.ids[found[cut[k]:cut[k + 1]] - starts[k]].tolist()]


def parts_of(epoch: Epoch | Layout) -> tuple[Epoch, ...]:
    return epoch.parts if isinstance(epoch, Layout) else (epoch,)


def starts_of(parts: Sequence[Epoch]) -> np.ndarray:
    """The first row of every partition, and the row count at the end."""
    return np.concatenate([[0], np.cumsum([len(p.ids) for p in parts])]).astype(np.int64)


class Carry:
    """Memberships of layout ``old`` as memberships of layout ``new`` (made once per pair: it compares their
    partitions' ids; see the module's docstring)."""

    def __init__(self, new: Epoch | Layout, old: Epoch | Layout) -> None:
        self.new, self.old = parts_of(new), parts_of(old)
        self.new_starts, self.old_starts = starts_of(self.new), starts_of(self.old)
        self.kept = [k < len(self.new) and (self.new[k].digest == part.digest or self.new[k].extends(part))
                     for k, part in enumerate(self.old)]
        self._translated: dict[int, np.ndarray] = {}  # see _moved
        self.same = new.digest == old.digest or (
            all(self.kept) and np.array_equal(self.new_starts[:len(self.old)], self.old_starts[:-1]))

    def __call__(self, members: BitMap) -> tuple[BitMap, list]:
        """``members`` (rows of ``old``) as rows of ``new``, and the ids of those no longer in the store (in
        ``old``'s row order)."""
        if self.same:
            return members, []
        old_rows = rows(members)
        cut = np.searchsorted(old_rows, self.old_starts)
        found, gone = [], []
        for j, part in enumerate(self.old):
            local = old_rows[cut[j]:cut[j + 1]] - self.old_starts[j]
            if len(local) == 0:
                continue
            if self.kept[j]:
                found.append(local + self.new_starts[j])
                continue
            moved = self._moved(j)[local]
            found.append(moved[moved >= 0])
            gone += part.ids[local[moved < 0]].tolist()
        return bitmap(np.concatenate(found)) if found else BitMap(), gone

    def _moved(self, j: int) -> np.ndarray:
        """The new row of every row of old partition ``j`` (-1: gone), found by id once per pair of layouts (every
        segment's membership is then translated by indexing): in the same partition, then in the others."""
        moved = self._translated.get(j)
        if moved is None:
            ids = self.old[j].ids
            moved = np.full(len(ids), -1, np.int64)
            for k in [j, *(k for k in range(len(self.new)) if k != j)] if j < len(self.new) else range(len(self.new)):
                missing = np.flatnonzero(moved < 0)
                if len(missing) == 0:
                    break
                here = self.new[k].rows(ids[missing])
                moved[missing[here >= 0]] = here[here >= 0] + self.new_starts[k]
            self._translated[j] = moved
        return moved


# -- in the registry's database (its epochs table) -----------------------------------------------------------------
def load(db: sqlite3.Connection, epoch_id: int) -> Epoch | Layout:
    digest, kind, values, offsets = db.execute(
        "SELECT digest, kind, ids, offsets FROM epochs WHERE epoch = ?", (epoch_id,)).fetchone()
    if kind != PARTS:
        return Epoch.decode(digest, kind, values, offsets)
    return Layout(digest, tuple(load(db, int(part)) for part in np.frombuffer(values, np.int64)))


def save(db: sqlite3.Connection, epoch: Epoch | Layout) -> int:
    """The id of ``epoch`` in the database, stored on first use (inside a write transaction); a layout's partitions
    are stored as epochs of their own, shared with every layout that has them."""
    row = db.execute("SELECT epoch FROM epochs WHERE digest = ?", (epoch.digest,)).fetchone()
    if row:
        return row[0]
    if isinstance(epoch, Layout):
        kind, offsets = PARTS, b""
        values = np.array([save(db, part) for part in epoch.parts], np.int64).tobytes()
    else:
        kind, values, offsets = epoch.encode()
    return db.execute("INSERT INTO epochs (digest, kind, ids, offsets) VALUES (?, ?, ?, ?)",
                      (epoch.digest, kind, values, offsets)).lastrowid
