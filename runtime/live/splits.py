"""Splits of a segment into groups (tests and a control group), by a bucket that depends only on the contact's id.

Every contact has a bucket 0-9999 for a salt: ``splitmix64(key(id) ^ key(salt)) % 10000``, where ``key`` of an
integer id is its 64-bit two's complement and ``key`` of a text (a string id, the salt) is the first 8 bytes of
its BLAKE2b digest, little-endian. So a contact's group never depends on the segment's size, on the order of
contacts or on other segments, and any system can compute it again. A split ``{"A": 45, "B": 45, "control": 10}``
gives each group a range of buckets in that order (A: 0-4499, B: 4500-8999, control: 9000-9999). The registry-wide
global control group of ``percent`` is buckets ``0 .. percent x 100 - 1`` for its own salt (default
``global_control``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...dsl.lexicon import NAME
from ..idhash import id_keys, splitmix64, text_key

BUCKETS = 10_000


@dataclass(frozen=True)
class Split:
    """A segment's groups as (name, first bucket, end bucket) in order, and the salt of its buckets."""

    groups: tuple[tuple[str, int, int], ...]
    salt: str

    @classmethod
    def of(cls, shares: Mapping[str, float], salt: str) -> Split:
        """``shares``: group name -> percent of the segment (at most two decimals), summing to 100."""
        if not shares:
            raise ValueError("a split needs at least one group")
        groups, start = [], 0
        for name, percent in shares.items():
            if not isinstance(name, str) or not NAME.match(name):
                raise ValueError(f"a group name is a word of letters, digits and _, not {name!r}")
            if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 < percent <= 100:
                raise ValueError(f"group {name}: a share is a percent above 0 and at most 100, not {percent!r}")
            width = round(percent * BUCKETS / 100)
            if not math.isclose(width, percent * BUCKETS / 100, abs_tol=1e-6):
                raise ValueError(f"group {name}: shares have at most two decimals ({percent!r})")
            groups.append((name, start, start + width))
            start += width
        if start != BUCKETS:
            raise ValueError(f"the shares add up to {start / 100:g}%, not 100%")
        return cls(tuple(groups), salt)

    def shares(self) -> dict[str, float]:
        return {name: (end - start) * 100 / BUCKETS for name, start, end in self.groups}

    def masks(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """For every group, which of ``ids`` fall in it."""
        bucket = buckets(ids, self.salt)
        return {name: (bucket >= start) & (bucket < end) for name, start, end in self.groups}


@dataclass(frozen=True)
class GlobalControl:
    """A registry-wide control group: the contacts whose bucket for ``salt`` is below ``percent`` x 100. Segments
    that exclude it never have these contacts as members. ``version`` counts its changes (a change is an edit of
    every segment that excludes it); ``percent`` 0 is no control group."""

    percent: float
    salt: str
    version: int

    @staticmethod
    def width(percent: float) -> int:
        """The number of buckets of ``percent`` (0 <= percent < 100, at most two decimals), or ValueError."""
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent < 100:
            raise ValueError(f"the global control group is a percent from 0 up to (not including) 100, not {percent!r}")
        width = round(percent * BUCKETS / 100)
        if not math.isclose(width, percent * BUCKETS / 100, abs_tol=1e-6):
            raise ValueError(f"the global control group's percent has at most two decimals ({percent!r})")
        return width

    def held_out(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` are in the control group."""
        return buckets(ids, self.salt) < self.width(self.percent)


def buckets(ids: np.ndarray, salt: str) -> np.ndarray:
    """The bucket (0-9999) of every id for ``salt``: int64 ids, or an object array of str."""
    return (splitmix64(id_keys(ids) ^ np.uint64(text_key(salt))) % np.uint64(BUCKETS)).astype(np.int64)
