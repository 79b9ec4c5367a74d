"""Fixed Numba helpers of calendar conditions that generated kernels call: parts of local times, calendar periods,
and local days by a zone's table (runtime/timezones.py). Nothing here depends on
a rule; like library.py, a change here changes every kernel's source hash."""

from __future__ import annotations

import numba
import numpy as np

from ..types import US_PER_DAY
from .library import civil_from_days

US_PER_HOUR = US_PER_DAY // 24
TIME_PART_CODES = {"hour": 0, "weekday": 1, "day": 2, "month": 3, "year": 4}  # the ``part`` argument of time_part
PERIOD_CODES = {"d": 0, "w": 1, "mo": 2, "y": 3}  # the ``unit`` argument of period_of
ANNIVERSARY_CODES = 1232  # rows of a zone's anniversary table: month * 100 + day is at most 1231
CYCLE_DAYS = 146_097  # the Gregorian calendar repeats every 400 years: a day's month and day by its place in them
CYCLE_SHIFT = 5 * CYCLE_DAYS  # added to a day number (from year 1 on) before the remainder: never negative


@numba.njit(nogil=True, cache=True)
def time_part(local: int, part: int) -> int:  # pragma: no cover - runs compiled
    """A part of a local time in µs (TIME_PART_CODES): hour 0-23, weekday 1 (Monday) to 7, day, month, year."""
    if part == 0:
        return (local // US_PER_HOUR) % 24
    day = local // US_PER_DAY
    if part == 1:
        return (day + 3) % 7 + 1  # 1970-01-01 was a Thursday
    y, m, d = civil_from_days(day)
    if part == 2:
        return d
    if part == 3:
        return m
    return y


@numba.njit(nogil=True, cache=True)
def local_time(t: int, at: np.ndarray, shift: np.ndarray, a: int, b: int) -> int:  # pragma: no cover - runs compiled
    """The local time (µs) of the instant ``t`` (µs) in the zone whose table is ``at[a:b]``, ``shift[a:b]``."""
    lo, hi = a, b - 1  # at[a] is int64 min: the last change at or before t is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if at[mid] <= t:
            lo = mid
        else:
            hi = mid - 1
    return t + shift[lo]


@numba.njit(nogil=True, cache=True)
def local_day(t: int, at: np.ndarray, shift: np.ndarray, a: int, b: int) -> int:  # pragma: no cover - runs compiled
    """The local day number of the instant ``t`` (µs) in the zone whose table is ``at[a:b]``, ``shift[a:b]``."""
    return local_time(t, at, shift, a, b) // US_PER_DAY


@numba.njit(nogil=True, cache=True)
def day_start(day: int, at: np.ndarray, shift: np.ndarray, a: int, b: int) -> int:  # pragma: no cover - compiled
    """The first instant (µs) of the local day number ``day`` in the zone whose table is ``at[a:b]``, ``shift[a:b]``
    (runtime/zoneddays.py): the first span of the table whose local times reach that midnight starts the day, at the
    midnight or, when clocks skip it, at the span's start. Offsets are under a day, so no span ending two days
    before the midnight reaches it: the walk starts at the span holding that instant."""
    midnight = day * US_PER_DAY
    k, hi = a, b - 1
    while k < hi:
        mid = (k + hi + 1) >> 1
        if at[mid] <= midnight - 2 * US_PER_DAY:
            k = mid
        else:
            hi = mid - 1
    while k + 1 < b and at[k + 1] + shift[k] <= midnight:
        k += 1
    return max(at[k], midnight - shift[k])


@numba.njit(nogil=True, cache=True)
def period_of(local: int, unit: int) -> int:  # pragma: no cover - runs compiled
    """The calendar period of a local time (PERIOD_CODES): days since 1970-01-01, weeks from Monday 1969-12-29,
    months since January 1970, years since 1970 (as runtime/calendar.py's)."""
    day = local // US_PER_DAY
    if unit == 0:
        return day
    if unit == 1:
        return (day + 3) // 7
    y, m, _ = civil_from_days(day)
    if unit == 2:
        return (y - 1970) * 12 + m - 1
    return y - 1970


@numba.njit(nogil=True, cache=True)
def bit_count(bits: int) -> int:  # pragma: no cover - runs compiled
    count = 0
    while bits:
        bits &= bits - 1
        count += 1
    return count
