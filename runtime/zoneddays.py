"""Calendar dates in each contact's time zone: the instants a whole day starts and ends in every zone of a store.

Where a date meets a time (``bought since 2026-01-01``, ``created_at = 2026-06-30``), the date means its whole day
in the contact's zone (docs/language.md, "Dates against times: the whole day"). Day ``D`` of a zone starts at the
first instant whose local time is ``D`` 00:00 or later (when clocks skip midnight, at the jump) and ends just before
day ``D + 1`` starts: the days of a zone tile its time line, 23 or 25 hours long on the days its clocks move by
an hour.

The rule's dates are few and the zones of a store are few: each date bound is worked out once per zone (a binary
search in the zone's table, runtime/timezones.py), never per contact or per event; the engines then read a
contact's bound through its zone number. A timestamp written with a time (``2026-01-31T10:00:00Z``) is one instant
in every zone.
"""

from __future__ import annotations

import datetime as dt
import weakref

import numpy as np

from ..compiler import ir
from ..compiler.kernels import plan as kp
from ..compiler.passes import dated
from ..compiler.types import US_PER_DAY
from ..dsl.limits import INT64_MIN
from .bindings import Bindings
from .calendar import current_periods
from .timeutil import to_us
from .timezones import Zones

_EPOCH_DAY = dt.date(1970, 1, 1)
_REACH: weakref.WeakKeyDictionary[Zones, np.ndarray] = weakref.WeakKeyDictionary()


def _reach(found: Zones) -> np.ndarray:
    """Per row ``k`` of the zone tables, the latest local time (exclusive) reached by the end of row ``k``'s span,
    made non-decreasing within each zone (a running maximum), so that the first span to reach a local time is a
    binary search away."""
    known = _REACH.get(found)
    if known is not None:
        return known
    ends = np.empty(len(found.at), np.int64)
    for z in range(len(found.names)):
        a, b = int(found.starts[z]), int(found.starts[z + 1])
        ends[a : b - 1] = found.at[a + 1 : b] + found.shift[a : b - 1]
        ends[b - 1] = np.iinfo(np.int64).max  # the last span never ends
        ends[a:b] = np.maximum.accumulate(ends[a:b])
    _REACH[found] = ends
    return ends


def day_starts(found: Zones, days: np.ndarray | int, zone: np.ndarray | None = None) -> np.ndarray:
    """The first instant (µs, UTC) of each local day number ``days`` (days since 1970-01-01): per zone when ``zone``
    is None (``days`` one number), else of the zone ``zone[i]`` for ``days[i]``. That instant is ``max(at[k],
    midnight - shift[k])`` for the first span ``k`` of the zone whose local times reach that midnight."""
    reach = _reach(found)
    if zone is None:
        zone = np.arange(len(found.names))
        days = np.full(len(zone), days, np.int64)
    midnight = np.asarray(days, np.int64) * US_PER_DAY
    out = np.empty(len(midnight), np.int64)
    for z in np.unique(zone).tolist():
        mine = zone == z
        a, b = int(found.starts[z]), int(found.starts[z + 1])
        k = a + np.searchsorted(reach[a:b], midnight[mine], side="right")
        out[mine] = np.maximum(found.at[k], midnight[mine] - found.shift[k])
    return out


class ZonedBindings:
    """``Bindings`` read per zone: each value that a date makes (a date's first or last instant, a window's bounds)
    as an array with one entry per zone of ``found``; values that do not depend on the zone as one number."""

    def __init__(self, bindings: Bindings, found: Zones) -> None:
        self.bindings, self.zones = bindings, found
        self._days: dict[int, np.ndarray] = {}

    def day_start(self, day: int) -> np.ndarray:
        if day not in self._days:
            self._days[day] = day_starts(self.zones, day)
        return self._days[day]

    def instant_bounds(self, node: ir.Const | ir.Param) -> tuple[np.ndarray | int, np.ndarray | int]:
        """``Bindings.instant_bounds`` in each zone: a date's first and last instant there, a timestamp itself."""
        raw = node.value if isinstance(node, ir.Const) else self.bindings.params[node.name]
        if isinstance(raw, dt.datetime):
            us = to_us(raw)
            return us, us
        day = (raw - _EPOCH_DAY).days
        return self.day_start(day), self.day_start(day + 1) - 1

    def window(self, window: ir.Window) -> tuple[np.ndarray | int, np.ndarray | int]:
        """``Bindings.window`` in each zone: the bounds a date gives are arrays per zone (cut at now likewise)."""
        now = self.bindings.now_us
        match window:
            case ir.Since(start=p):
                lo, hi = self.instant_bounds(p)[0], now
            case ir.Before(end=p):
                lo, hi = INT64_MIN, self.instant_bounds(p)[0] - 1
            case ir.DateRange(start=a, end=b):
                lo, hi = self.instant_bounds(a)[0], self.instant_bounds(b)[1]
            case _:
                return self.bindings.window(window)
        return lo, np.minimum(hi, now)

    def value(self, node: ir.ToTimestamp | ir.WindowBound) -> np.ndarray | int:
        """A date's (or a TIMESTAMP parameter's) first or last instant, or a window's, per zone."""
        if isinstance(node, ir.WindowBound):
            return self.window(node.window)[node.last]
        return self.instant_bounds(node.operand)[node.last]

    def per_zone(self, value: np.ndarray | int) -> np.ndarray:
        """A value as one entry per zone (a number the same in each)."""
        return np.broadcast_to(np.asarray(value, np.int64), (len(self.zones.names),)).copy()


def zoned_input(item: kp.Input, zoned: ZonedBindings) -> np.ndarray | int | None:
    """The compiled engine's inputs that a date makes in a zoned store (compiler/kernels/plan.py), None for the
    others: a ``PerZone`` number as one entry per zone; for a search that only has to hold every zone's window
    (``ActiveStart`` in the first loop, ``GroupStart``, ``GroupEnd``), the widest of them; the zones' own ends of
    the window of a regular-behaviour condition."""
    match item:
        case kp.PerZone(of=kp.IntValue(node=node)):
            return zoned.per_zone(zoned.value(node))
        case kp.PerZone(of=kp.WindowStart(window=window)):
            return zoned.per_zone(zoned.window(window)[0])
        case kp.PerZone(of=kp.WindowEnd(window=window)):
            return zoned.per_zone(zoned.window(window)[1])
        case kp.PerZone(of=kp.ActiveStart(windows=windows)):
            starts = np.min([zoned.per_zone(zoned.window(w)[0]) for w in windows], axis=0)
            return np.maximum(starts, INT64_MIN + 1)  # above the last time of a contact without events
        case kp.ActiveStart(windows=windows) if any(dated(w) for w in windows):
            return max(min(int(np.min(zoned.window(w)[0])) for w in windows), INT64_MIN + 1)
        case kp.GroupStart(windows=windows) if any(dated(w) for w in windows):
            return min(int(np.min(zoned.window(w)[0])) for w in windows)
        case kp.GroupEnd(windows=windows) if any(dated(w) for w in windows):
            return max(int(np.max(zoned.window(w)[1])) for w in windows)
        case kp.ZonePeriods(window=window, unit=unit, periods=periods, first=first) if dated(window):
            return current_periods(zoned.zones, zoned.per_zone(zoned.window(window)[1]), unit, periods)[first]
        case kp.WindowStart(window=point) | kp.WindowEnd(window=point) | kp.IntValue(node=point) if dated(point):
            raise TypeError(f"a number a date makes, read as one for every zone: {item!r}")
    return None
