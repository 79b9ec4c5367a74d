"""Instants as int64 microseconds since the epoch (UTC), and the calendar arithmetic windows need."""

from __future__ import annotations

import calendar
import datetime as dt

from ..compiler.ir import Duration
from ..compiler.types import US_PER_DAY, US_PER_SECOND

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIXED = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(us))


def date_to_us(value: dt.date) -> int:
    return (value - dt.date(1970, 1, 1)).days * US_PER_DAY


def minus(now: dt.datetime, duration: Duration) -> dt.datetime:
    """``now - duration``; months and years are calendar units (Mar 31 - 1mo = Feb 28/29)."""
    if duration.unit in _FIXED:
        return now - dt.timedelta(seconds=duration.amount * _FIXED[duration.unit])
    months = duration.amount * (12 if duration.unit == "y" else 1)
    index = now.year * 12 + (now.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(now.day, calendar.monthrange(year, month)[1])
    return now.replace(year=year, month=month, day=day)


def coerce_now(now: dt.datetime | dt.date | str | None) -> dt.datetime:
    """The evaluation time as an aware UTC datetime (default: the current time)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now)
    if isinstance(now, dt.datetime):
        return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    if isinstance(now, dt.date):
        return dt.datetime.combine(now, dt.time(), tzinfo=dt.UTC)
    raise TypeError(f"now must be a datetime, date or ISO string, not {type(now).__name__}")


NEVER_DAY, ALWAYS_DAY = -(2**62), 2**62  # day numbers below and above every date


def last_birth_day(now: dt.datetime, years: int) -> int:
    """The day number of the latest birth date whose age at ``now`` is at least ``years``: ``age(b) >= years`` holds
    exactly when ``b <= last_birth_day(now, years)``, so age conditions become comparisons of day numbers.

    Age counts whole years, a birthday counting from its day (kernels.library.age_years), so the cut-off is ``now``'s
    month and day ``years`` years back; born on 29 February, one turns a year older on 1 March in other years,
    hence 28 February when that day does not exist."""
    year = now.year - years
    if year < dt.MINYEAR:
        return NEVER_DAY
    if year > dt.MAXYEAR:
        return ALWAYS_DAY
    day = now.day if now.day <= calendar.monthrange(year, now.month)[1] else calendar.monthrange(year, now.month)[1]
    return (dt.date(year, now.month, day) - dt.date(1970, 1, 1)).days
