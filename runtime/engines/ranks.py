"""Population-relative measures (issue 13), exactly: a contact's rank among every contact of the store evaluated.

Two passes: the engine computes the measure of every contact (its own way: numpy, generic kernels), then these
functions rank the values with numpy (a sort and a binary search: n log n). For ``below`` = the number of contacts
with a non-null measure strictly below this contact's and ``n`` = the number of contacts with a non-null measure:

- ``percentile`` = 100 x below / n, a FLOAT in [0, 100): the least value is 0; the top 10% are those with
  percentile >= 90 (when ties allow); one contact alone is at 0;
- ``quintile`` = 1 + floor(5 x below / n), ``decile`` = 1 + floor(10 x below / n): INT, 1-5 and 1-10, computed in
  integers (no rounding);
- ties share a rank (the same ``below``); a null measure has a null rank and does not count in ``n``.

``rfm``: among the contacts with at least one event of the set (the "buyers"; the others are null), R = quintile of
the last event's time (5: the most recent), F = quintile of the number of events, M = quintile of the sum of the
property (null values skipped; a buyer whose values are all null has 0), each as above with ``n`` = the buyers; rfm
= 100 R + 10 F + M; a sum that is not a number (+inf and -inf) makes M, and rfm, null.
"""

from __future__ import annotations

import numpy as np

GROUPS = {"quintile": 5, "decile": 10}


def below(data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, int]:
    """Per row, how many valid values are strictly below its value (0 where invalid), and how many are valid."""
    ordered = np.sort(data[valid])
    counts = np.searchsorted(ordered, data, side="left").astype(np.int64)
    counts[~valid] = 0
    return counts, len(ordered)


def rank(function: str, data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``percentile``, ``quintile`` or ``decile`` of each row's value among the valid values: (values, valid)."""
    valid = np.asarray(valid, dtype=bool)
    counts, n = below(np.asarray(data), valid)
    if function == "percentile":
        return 100.0 * counts / max(n, 1), valid
    return 1 + GROUPS[function] * counts // max(n, 1), valid


def rfm(part: str, count: np.ndarray, last: np.ndarray, total: np.ndarray, total_valid: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
    """``rfm`` (or one letter: ``rfm_r``, ``rfm_f``, ``rfm_m``) from each contact's count of events, last event
    time and sum of the property: (values, valid)."""
    buyers = count > 0
    r, _ = rank("quintile", last, buyers)
    f, _ = rank("quintile", count, buyers)
    m, has_m = rank("quintile", total, buyers & np.asarray(total_valid, dtype=bool))
    match part:
        case "rfm_r":
            return r, buyers
        case "rfm_f":
            return f, buyers
        case "rfm_m":
            return m, has_m
    return 100 * r + 10 * f + m, has_m
