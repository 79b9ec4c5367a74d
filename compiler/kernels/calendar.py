"""Fixed Numba helpers of calendar conditions that generated kernels call: parts of local times, anniversaries, and
offsets looked up in a zone's table (runtime/timezones.py). Nothing here depends on a rule; like library.py, a
change here changes every kernel's source hash."""

from __future__ import annotations

import numba
import numpy as np

from ..types import US_PER_DAY
from .library import civil_from_days

US_PER_HOUR = US_PER_DAY // 24
TIME_PART_CODES = {"hour": 0, "weekday": 1, "day": 2, "month": 3, "year": 4}  # the ``part`` argument of time_part
PERIOD_CODES = {"d": 0, "w": 1, "mo": 2, "y": 3}  # the ``unit`` argument of period_of


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
def days_from_civil(y: int, m: int, d: int) -> int:  # pragma: no cover - runs compiled
    """The day number (since 1970-01-01) of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@numba.njit(nogil=True, cache=True)
def anniversary_in(y: int, m: int, d: int) -> int:  # pragma: no cover - runs compiled
    """The day number of (m, d) in year y; 29 February is 28 February in a year without it."""
    if m == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        d = 28
    return days_from_civil(y, m, d)


@numba.njit(nogil=True, cache=True)
def next_anniversary_within(day: int, today: int, last: int) -> bool:  # pragma: no cover - runs compiled
    """Whether the next anniversary of ``day`` on or after ``today`` is at most ``last`` (day numbers)."""
    _, m, d = civil_from_days(day)
    year, _, _ = civil_from_days(today)
    candidate = anniversary_in(year, m, d)
    if candidate < today:
        candidate = anniversary_in(year + 1, m, d)
    return candidate <= last


@numba.njit(nogil=True, cache=True)
def local_day(t: int, at: np.ndarray, shift: np.ndarray, a: int, b: int) -> int:  # pragma: no cover - runs compiled
    """The local day number of the instant ``t`` (µs) in the zone whose table is ``at[a:b]``, ``shift[a:b]``."""
    lo, hi = a, b - 1  # at[a] is int64 min: the last change at or before t is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if at[mid] <= t:
            lo = mid
        else:
            hi = mid - 1
    return (t + shift[lo]) // US_PER_DAY


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
