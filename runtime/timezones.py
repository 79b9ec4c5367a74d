"""Contacts' time zones as numbers the engines can use: each zone a table of UTC instants and offsets, each contact
a zone number, each event its local time. Worked out once per store (kept while the store lives), never per event
in Python: kernels read the local times, or look an offset up by binary search in the zone's table.

A zone's table lists where its offset from UTC changes (daylight saving, changes of law), found with zoneinfo over
the years ``TABLE_YEARS`` (sampled daily, each change then found to the second); before the first year the zone
keeps its offset then, from the last year on its offset then (docs/language.md, "Time zones").
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
import zoneinfo
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from ..compiler.schema import known_zone
from ..compiler.types import US_PER_DAY, US_PER_SECOND
from ..dsl.errors import DataError
from .engines.threads import read_only, run_parallel
from .store.columns import EventTable, Store

TABLE_YEARS = (1900, 2100)  # the zone tables follow zoneinfo from the first year up to the start of the last
DEFAULT_ZONE = "UTC"  # the zone of contacts without one, unless the schema names another (default_timezone)
US_PER_HOUR = 3600 * US_PER_SECOND
_MIN = np.iinfo(np.int64).min


@functools.cache
def zone_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(at, shift)``: from the instant ``at[k]`` (µs, UTC; ``at[0]`` is int64 min) the zone's local time is the
    UTC time plus ``shift[k]`` µs, until ``at[k + 1]``."""
    zone = zoneinfo.ZoneInfo(name)
    if name == "UTC":
        return np.array([_MIN], np.int64), np.zeros(1, np.int64)

    def offset(second: int) -> int:
        return int(dt.datetime.fromtimestamp(second, zone).utcoffset().total_seconds())

    first = int(dt.datetime(TABLE_YEARS[0], 1, 1, tzinfo=dt.UTC).timestamp())
    last = int(dt.datetime(TABLE_YEARS[1], 1, 1, tzinfo=dt.UTC).timestamp())
    at, shift = [_MIN], [offset(first)]
    lo = first
    for hi in range(first + 86_400, last + 1, 86_400):
        while offset(hi) != shift[-1]:  # one change or more in (lo, hi]: the first of them, to the second
            a, b = lo, hi
            while b - a > 1:
                middle = (a + b) // 2
                a, b = (middle, b) if offset(middle) == shift[-1] else (a, middle)
            at.append(b * US_PER_SECOND)
            shift.append(offset(b))
            lo = b
        lo = hi
    return np.array(at, np.int64), np.array(shift, np.int64) * US_PER_SECOND


@dataclass(frozen=True, eq=False)
class Zones:
    """The zones of a store's contacts: ``names[contact[i]]`` is contact ``i``'s zone; zone ``z``'s table is
    ``at[starts[z]:starts[z + 1]]`` with ``shift`` beside it (``zone_table``)."""

    names: tuple[str, ...]
    contact: np.ndarray
    starts: np.ndarray
    at: np.ndarray
    shift: np.ndarray

    def shifts_at(self, us: int) -> np.ndarray:
        """Each zone's offset (µs) at the instant ``us``."""
        out = np.empty(len(self.names), np.int64)
        for z in range(len(self.names)):
            a, b = self.starts[z], self.starts[z + 1]
            out[z] = self.shift[a + np.searchsorted(self.at[a:b], us, side="right") - 1]
        return out


class LocalDate(NamedTuple):
    """A local calendar date as numbers (a zone's today may be 1 January 10000, beyond ``datetime.date``)."""

    year: int
    month: int
    day: int


def now_in_zones(found: Zones, now_us: int) -> dict[str, object]:
    """``now`` in each zone: "local" its local time (µs), "date" its local date (``LocalDate``), "year" and
    "month_day" (month * 100 + day) of that date, as arrays, zone after zone (what age and days_since read)."""
    local_now = now_us + found.shifts_at(now_us)
    days = np.floor_divide(local_now, US_PER_DAY).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return {
        "local": local_now,
        "date": [LocalDate(*d) for d in zip(year.tolist(), month.tolist(), day.tolist(), strict=True)],
        "year": year,
        "month_day": month * 100 + day,
    }


_ZONES: weakref.WeakKeyDictionary[Store, Zones] = weakref.WeakKeyDictionary()


def zones(store: Store) -> Zones:
    """The zones of ``store``'s contacts (kept while the store lives). A contact whose zone attribute is null has
    the schema's ``default_timezone`` (UTC without one); a value zoneinfo does not know is a DataError naming the
    contact and the value."""
    known = _ZONES.get(store)
    if known is not None:
        return known
    schema = store.schema
    names = [schema.default_timezone or DEFAULT_ZONE]
    contact = np.zeros(len(store), np.int32)
    if schema.timezone is not None and schema.timezone in store.attributes:
        column = store.attributes[schema.timezone]
        codes, valid = np.asarray(column.values), column.validity()
        used = np.unique(codes[valid])
        number = np.zeros(len(column.dictionary) + 1, np.int32)
        for code in used.tolist():
            name = column.dictionary[code]
            if not known_zone(name):
                row = int(np.flatnonzero(valid & (codes == code))[0])
                contact_id = store.ids[row : row + 1].tolist()[0]
                raise DataError(
                    f"contact {contact_id!r} has {schema.timezone} = {name!r}, which is not a time zone: use an IANA "
                    f"name such as Europe/Kyiv, or leave it empty for the default zone ({names[0]})"
                )
            if name not in names:
                names.append(name)
            number[code] = names.index(name)
        contact = np.where(valid, number[np.where(valid, codes, 0)], 0).astype(np.int32)
    tables = [zone_table(name) for name in names]
    starts = np.cumsum([0] + [len(at) for at, _ in tables]).astype(np.int64)
    found = Zones(
        tuple(names),
        read_only(contact),
        read_only(starts),
        read_only(np.concatenate([at for at, _ in tables])),
        read_only(np.concatenate([shift for _, shift in tables])),
    )
    _ZONES[store] = found
    return found


def zoned(store: Store) -> bool:
    """Whether any contact of ``store`` has a zone other than UTC (else local times are the UTC times)."""
    return zones(store).names != (DEFAULT_ZONE,)


_LOCAL: weakref.WeakKeyDictionary[EventTable, tuple[Zones, np.ndarray]] = weakref.WeakKeyDictionary()


def local_times(store: Store, event: str) -> np.ndarray:
    """Each event's time in its contact's zone (µs since 1970-01-01T00:00 local), for the vector and compiled
    engines; kept while the event table lives. One pass over the events, a binary search in the zone's table at
    each contact's first event and a cursor after it."""
    table = store.events[event]
    found = zones(store)
    known = _LOCAL.get(table)
    if known is not None and known[0] is found:
        return known[1]
    ts = np.asarray(table.ts, np.int64)
    if not zoned(store):
        out = ts
    else:
        out = np.empty(len(ts), np.int64)
        offsets = np.asarray(table.offsets, np.int64)
        run_parallel(
            lambda a, b: _local_times(offsets, ts, found.contact, found.starts, found.at, found.shift, a, b, out),
            len(store),
        )
    out = read_only(out)
    _LOCAL[table] = (found, out)
    return out


def local_times_by_search(store: Store, table: EventTable) -> np.ndarray:
    """``local_times`` worked out another way, with numpy: one search per event in its zone's table (the reference
    engine's, so that the engines check each other)."""
    found = zones(store)
    return local(found, found.contact[table.contact_rows], np.asarray(table.ts, np.int64))


def local(found: Zones, zone: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Instants ``us`` (µs, UTC) as local times in the zones numbered ``zone`` (one per instant)."""
    out = np.array(us, np.int64)
    for z in np.unique(zone).tolist():
        a, b = found.starts[z], found.starts[z + 1]
        mine = zone == z
        out[mine] = out[mine] + found.shift[a + np.searchsorted(found.at[a:b], out[mine], side="right") - 1]
    return out


def time_part(local: np.ndarray, part: str) -> np.ndarray:
    """The calendar part of local times (µs): hour 0-23, weekday 1 (Monday) to 7 (Sunday), day of the month,
    month 1-12, year."""
    days = np.floor_divide(local, US_PER_DAY)
    match part:
        case "hour":
            return np.floor_divide(local, US_PER_HOUR) % 24
        case "weekday":  # 1970-01-01 was a Thursday (4)
            return (days + 3) % 7 + 1
    dates = days.astype("datetime64[D]")
    match part:
        case "day":
            return (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
        case "month":
            return dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
        case "year":
            return dates.astype("datetime64[Y]").astype(np.int64) + 1970
    raise ValueError(f"unknown time part {part!r}")


@numba.njit(nogil=True, cache=True)
def _local_times(offsets, ts, contact, starts, at, shift, start, stop, out):  # pragma: no cover - runs compiled
    for i in range(start, stop):
        s, e = offsets[i], offsets[i + 1]
        if s == e:
            continue
        a, b = starts[contact[i]], starts[contact[i] + 1]
        k = a + np.searchsorted(at[a:b], ts[s], side="right") - 1
        for j in range(s, e):
            t = ts[j]
            while k + 1 < b and at[k + 1] <= t:
                k += 1
            out[j] = t + shift[k]
