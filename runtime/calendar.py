"""Anniversaries and calendar periods in contacts' own calendars: ``birthday(birth_date) within next 7d``
(``ir.Upcoming``) and ``bought in each of the last 3 mo`` (``ir.Regular``).

Per zone, "today" is ``now``'s day in that zone and the last day of the window ``today + duration`` (weeks as 7
days; months and years on the calendar, the day kept or cut to the month's end; a duration in seconds, minutes or
hours counts the whole days it holds). The next anniversary of a day (month and day; 29 February falls on 28
February in other years) on or after today must be at most that last day. The compiled engine gets the same
per-zone numbers as a table of the anniversaries in the window (``anniversary_table``), looked up per contact.
"""

from __future__ import annotations

import functools

import numpy as np

from ..compiler import ir
from ..compiler.kernels.calendar import ANNIVERSARY_CODES, CYCLE_DAYS
from ..compiler.types import US_PER_DAY
from .bindings import Bindings
from .timeutil import _days_from_civil, _days_in_month
from .timezones import Zones

_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_FAR = 2**40  # days: beyond every date (a window this long holds every anniversary)


def window_days(zones: Zones, bindings: Bindings, duration: ir.Const | ir.Param) -> tuple[np.ndarray, np.ndarray]:
    """Per zone, today's day number and the window's last day number (both days included)."""
    today = (bindings.now_us + zones.shifts_at(bindings.now_us)) // US_PER_DAY
    last = np.array([_plus(int(day), bindings.value(duration)) for day in today], np.int64)
    return today.astype(np.int64), last


def _plus(day: int, duration: ir.Duration) -> int:
    if duration.unit in _SECONDS:
        return min(day + duration.amount * _SECONDS[duration.unit] // 86_400, _FAR)
    months = min(duration.amount * (12 if duration.unit == "y" else 1), _FAR // 31)
    date = np.datetime64(day, "D").astype(object)
    year, month = divmod(date.year * 12 + date.month - 1 + months, 12)
    return min(_days_from_civil(year, month + 1, min(date.day, _days_in_month(year, month + 1))), _FAR)


def anniversary_table(zones: Zones, bindings: Bindings, duration: ir.Const | ir.Param) -> np.ndarray:
    """Per zone, a row of ``ANNIVERSARY_CODES`` flags: whether the anniversary of month * 100 + day falls in the
    window (what the compiled engine looks up per contact; ``upcoming`` of a day of that month and day)."""
    today, last = window_days(zones, bindings, duration)
    codes = np.arange(ANNIVERSARY_CODES)
    month, day = codes // 100, codes % 100
    real = (month >= 1) & (month <= 12) & (day >= 1) & (day <= np.array([0, *_LEAP_MONTHS])[np.minimum(month, 12)])
    dates = np.where(real, _days_2000[np.minimum(month, 12)] + day - 1, 0)  # in 2000, a leap year: 29 Feb is one
    table = upcoming(np.broadcast_to(dates, (len(today), len(codes))), today[:, None], last[:, None]) & real
    return np.ascontiguousarray(table.reshape(-1))


@functools.cache
def month_days() -> np.ndarray:
    """month * 100 + day of the days 1970-01-01 + k for k in [0, CYCLE_DAYS): the month and day of day number ``n``
    is at ``(n + CYCLE_SHIFT) % CYCLE_DAYS``, the calendar repeating every 400 years."""
    dates = np.arange(CYCLE_DAYS).astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    codes = (months.astype(np.int64) % 12 + 1) * 100 + (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    codes = codes.astype(np.int16)
    codes.flags.writeable = False
    return codes


_LEAP_MONTHS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_days_2000 = np.array([0, *np.cumsum((0, *_LEAP_MONTHS[:-1]))]) + 10_957  # day numbers of 1 January ... 2000


def upcoming(day: np.ndarray, today: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Whether the next anniversary of each ``day`` (day numbers) on or after ``today`` is at most ``last``."""
    dates = day.astype("datetime64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12  # 0-11
    dom = (dates - dates.astype("datetime64[M]")).astype(np.int64)  # 0-30
    year = today.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    this_year = _anniversary(year, month, dom)
    following = np.where(this_year >= today, this_year, _anniversary(year + 1, month, dom))
    return following <= last


def _anniversary(year: np.ndarray, month: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Day numbers of (year, month, day of month) with 29 February as 28 February in years without it."""
    start = ((year - 1970) * 12 + month).astype("datetime64[M]")
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)
    return start.astype("datetime64[D]").astype(np.int64) + np.minimum(dom, length - 1)


# -- calendar periods of regular behaviour ------------------------------------------------------------------------
_EARLIEST, _LATEST = -62_135_596_800 * 10**6, 253_402_300_799 * 10**6  # years 1 and 9999: what stores can hold


def period_of(local: np.ndarray, unit: str) -> np.ndarray:
    """The calendar period of local times (µs) as a number: days since 1970-01-01 (d), weeks from the Monday
    1969-12-29 (w), months since January 1970 (mo), years since 1970 (y)."""
    days = np.floor_divide(local, US_PER_DAY)
    match unit:
        case "d":
            return days
        case "w":
            return np.floor_divide(days + 3, 7)
        case "mo":
            return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        case "y":
            return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    raise ValueError(f"unknown period {unit!r}")


def period_start(period: np.ndarray, unit: str) -> np.ndarray:
    """The local time (µs) at which each period starts."""
    match unit:
        case "d":
            days = period
        case "w":
            days = period * 7 - 3
        case "mo":
            days = period.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        case "y":
            days = period.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        case _:
            raise ValueError(f"unknown period {unit!r}")
    return np.asarray(days, np.int64) * US_PER_DAY


def current_periods(zones: Zones, end_us: int | np.ndarray, unit: str, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Per zone, the period holding the instant ``end_us`` (a window's end, or one per zone when a date ends it;
    kept within years 1 to 9999), and an instant (UTC) before which no event can fall in the ``periods`` periods
    before it."""
    if np.ndim(end_us):
        end = np.clip(end_us, _EARLIEST, _LATEST)
        shifts = np.array([zones.shifts_at(int(e))[z] for z, e in enumerate(end.tolist())], np.int64)
    else:
        end = min(max(end_us, _EARLIEST), _LATEST)
        shifts = zones.shifts_at(end)
    current = period_of(end + shifts, unit)
    first = period_start(current - periods, unit) - 2 * US_PER_DAY  # no zone is two days from UTC
    return current, np.maximum(first, _EARLIEST)


def regular_hits(rows: np.ndarray, period: np.ndarray, current: np.ndarray, periods: int, n: int) -> np.ndarray:
    """Per contact (``n``), how many of the ``periods`` periods before its ``current`` one hold one of its events
    (``rows``, ``period``: each event's contact and period)."""
    back = current[rows] - period
    keep = (back >= 1) & (back <= periods)
    pairs = np.unique(np.stack([rows[keep], period[keep]]), axis=1)
    return np.bincount(pairs[0], minlength=n)
