"""Consistency checks of a store's arrays, run on every saved store that is opened, so that damaged files give a
``DataError`` naming the file instead of a wrong answer or a read out of bounds in a kernel: offsets run from 0 to
the number of rows without going back, codes stay inside their dictionary, event times are sorted within each
contact, flags hold only 0 and 1, float columns hold no NaN (a store never does: loaders make NaN null), instants and
days lie in the representable range. Each check is one or two passes over an array, block by block so that no
temporary grows with the store.

These checks catch damage that breaks the store's invariants, not every changed value: a flipped bit inside an
amount is still an amount. ``Store.open(..., verify=True)`` compares every file with its checksum for that.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...dsl.errors import DataError

BLOCK = 1 << 20  # rows per block: temporaries of a few MB at most


def _blocks(n: int, start: int = 0) -> Iterator[tuple[int, int]]:
    for a in range(start, n, BLOCK):
        yield a, min(n, a + BLOCK)


def offsets(values: np.ndarray, total: int, source: str) -> None:
    """CSR offsets: from 0 to ``total``, never decreasing."""
    values = np.asarray(values)
    if len(values) == 0 or values[0] != 0 or values[-1] != total:
        raise DataError(f"offsets must run from 0 to {total}", source=source)
    for a, b in _blocks(len(values), 1):
        if (values[a:b] < values[a - 1 : b - 1]).any():
            raise DataError("offsets go backwards", source=source)


def event_times(ts: np.ndarray, offsets: np.ndarray, low: int, high: int, source: str) -> None:
    """Times in ``[low, high]`` that never go back within one contact's run (wherever they do, a new contact's
    events must begin): one pass over the times."""
    ts, offsets = np.asarray(ts), np.asarray(offsets)  # plain views: a memmap wraps every slice in a new memmap
    for a, b in _blocks(len(ts)):
        start = max(a - 1, 0)  # blocks overlap by one event, to compare across their boundary
        block = ts[start:b]
        if block.min() < low or block.max() > high:
            raise DataError("event times outside the representable range (years 1 to 9999)", source=source)
        back = block[1:] < block[:-1]  # back[k]: event start + k + 1 is earlier than the one before it
        first, last = np.searchsorted(offsets, (start + 1, b))
        back[offsets[first:last] - (start + 1)] = False  # a contact's first event may precede the previous one's
        if back.any():
            raise DataError("event times are not sorted within a contact", source=source)


def codes(values: np.ndarray, size: int, valid: np.ndarray | None, source: str) -> None:
    """Dictionary codes: -1 exactly where the row is null, else in ``[0, size)``."""
    if len(values) == 0:
        return
    values = np.asarray(values)
    if values.max() >= size or values.min() < (0 if valid is None else -1):
        raise DataError(f"codes outside the dictionary of {size} values", source=source)
    if valid is not None:
        for a, b in _blocks(len(values)):
            if not np.array_equal(values[a:b] < 0, ~np.asarray(valid[a:b])):
                raise DataError("codes do not match the validity mask", source=source)


def flags(values: np.ndarray, source: str) -> None:
    """A bool array holds bytes 0 and 1 only (any other byte is a bool numpy and Numba disagree on)."""
    if len(values) and values.view(np.uint8).max() > 1:
        raise DataError("a true/false array holds other bytes", source=source)


def within(values: np.ndarray, low: int, high: int, source: str) -> None:
    if len(values) and (values.min() < low or values.max() > high):
        raise DataError("values outside the representable range (years 1 to 9999)", source=source)


def no_nan(values: np.ndarray, source: str) -> None:
    values = np.asarray(values)
    for a, b in _blocks(len(values)):
        if np.isnan(values[a:b]).any():
            raise DataError("NaN in a float column (a store holds null there, never NaN)", source=source)
