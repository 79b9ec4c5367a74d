"""A saved store's partitions at one version, as evaluation takes them: ``SavedStore.parts()`` -> ``Partitions``.

Each partition is a ``Store`` of its own (its base generation memory-mapped when it has no deltas, else the base
merged with them). Rows are numbered as ``SavedStore.snapshot()`` lays them out: the contacts of partition 0 in its
order, then those of partition 1, and so on; a ``Result`` over ``Partitions`` has its mask in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...compiler.schema import Schema
from ...dsl.errors import DataError
from .columns import Store


@dataclass(frozen=True, eq=False)
class Partitions:
    """The partitions of a saved store at ``version`` (never changes). ``manifest`` is the version's manifest: a
    cluster worker opens a partition from ``directory`` and it, never from arrays shipped to it."""

    schema: Schema
    stores: tuple[Store, ...]
    directory: Path | None = None
    version: int = 1
    manifest: dict | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return sum(len(s) for s in self.stores)

    @property
    def starts(self) -> np.ndarray:
        """The first row of every partition, and the row count at the end."""
        return np.concatenate([[0], np.cumsum([len(s) for s in self.stores])]).astype(np.int64)

    @property
    def ids(self) -> np.ndarray:
        """Every contact's external id, in row order (concatenated on first use)."""
        ids = self.__dict__.get("_ids")
        if ids is None:
            ids = np.concatenate([s.ids for s in self.stores]) if self.stores else np.zeros(0, np.int64)
            object.__setattr__(self, "_ids", ids)
        return ids

    @property
    def n_events(self) -> int:
        return sum(s.n_events for s in self.stores)

    def locate(self, contact_id: object) -> tuple[int, int]:
        """The partition of a contact and its row there."""
        for k, store in enumerate(self.stores):
            try:
                return k, store.row_of(contact_id)
            except DataError:
                continue
        raise DataError(f"no contact with id {contact_id!r} in the store")

    def whole(self) -> Store:
        """The partitions laid one after another as one store (a copy in memory when there are several)."""
        from .combine import concat_stores

        return concat_stores(self.schema, list(self.stores))

