"""Instants as int64 microseconds since the epoch (UTC), and the calendar arithmetic windows need."""

from __future__ import annotations

import calendar
import datetime as dt

from ..compiler.ir import Duration
from ..compiler.types import US_PER_DAY, US_PER_SECOND, in_utc
from ..dsl.errors import ParamError

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


def minus_us(now: dt.datetime, duration: Duration) -> int:
    """``now - duration`` in microseconds since the epoch; months and years are calendar units (Mar 31 - 1mo = Feb
    28/29). Exact for any duration: the result may lie before year 1 (where ``datetime`` stops) or outside int64,
    and callers clamp it to the instants a store can hold."""
    if duration.unit in _FIXED:
        return to_us(now) - duration.amount * _FIXED[duration.unit] * US_PER_SECOND
    months = duration.amount * (12 if duration.unit == "y" else 1)
    year, month = divmod(now.year * 12 + (now.month - 1) - months, 12)
    month += 1
    day = min(now.day, _days_in_month(year, month))
    time_of_day = to_us(now) - date_to_us(now.date())
    return _days_from_civil(year, month, day) * US_PER_DAY + time_of_day


def _days_in_month(year: int, month: int) -> int:
    return 29 if month == 2 and calendar.isleap(year) else calendar.mdays[month]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a day of the proleptic Gregorian calendar, for any year (``datetime`` stops at 1 and
    9999): the calendar repeats every 400 years, which are 146,097 days."""
    cycles, year = divmod(year - 1, 400)
    return cycles * 146_097 + (dt.date(year + 1, month, day) - dt.date(1970, 1, 1)).days


def coerce_now(now: object) -> dt.datetime:
    """The evaluation time as an aware UTC datetime (default: the current time).

    A datetime (naive means UTC; other zones are converted), a date (its midnight, UTC) or an ISO 8601 string of
    either; numbers are refused (seconds or milliseconds since the epoch?), as is a time that is out of range once in
    UTC (year 1 or 9999 with an offset)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    given = now
    if isinstance(now, str):
        try:
            now = dt.datetime.fromisoformat(now.strip())
        except ValueError:
            example = "2026-11-01 or 2026-11-01T12:00:00Z"
            raise ParamError(f"now must be an ISO 8601 date or timestamp such as {example}, got {given!r}") from None
    if isinstance(now, dt.datetime) and now != now:  # pandas' NaT is a datetime that is no time at all
        raise ParamError(f"now must be a time, not {given!r}")
    try:
        if isinstance(now, dt.datetime):
            now = in_utc(now)
            # a subclass (pandas' Timestamp, with nanoseconds) becomes a plain datetime, as precise as every time here
            return dt.datetime(*now.timetuple()[:6], now.microsecond, tzinfo=dt.UTC)
        if isinstance(now, dt.date):
            return dt.datetime.combine(now, dt.time(), tzinfo=dt.UTC)
    except (OverflowError, ValueError):
        raise ParamError(f"now is out of range once converted to UTC: {given!r}") from None
    raise ParamError(f"now must be a datetime, date or ISO 8601 string, not {type(now).__name__}")


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
