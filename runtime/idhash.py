"""A fixed 64-bit hash of external contact ids, for everything that must place a contact by its id alone and the
same way in every process and version: split groups (``live/splits.py``) and store partitions
(``store/partitions.py``). ``key`` of an integer id is its 64-bit two's complement, ``key`` of a text the first 8
bytes of its BLAKE2b digest, little-endian; ``splitmix64`` then mixes every input bit into every output bit."""

from __future__ import annotations

import hashlib

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def id_keys(ids: np.ndarray) -> np.ndarray:
    """The uint64 key of every id: int64 ids, or an object array of str."""
    if ids.dtype == object:
        return np.fromiter((text_key(i) for i in ids), dtype=np.uint64, count=len(ids))
    return np.asarray(ids, dtype=np.int64).view(np.uint64)


def text_key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The finaliser of SplitMix64 (Steele, Lea, Flood 2014): every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return x ^ (x >> np.uint64(31))
