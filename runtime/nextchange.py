"""The next instant a segment's membership can change with no new data: when to refresh, instead of polling.

With the store fixed, a rule depends on ``now`` only through its windows (``within D``: an event counts from its
time until ``D`` later; ``before D ago``: from ``D`` after it; every window is cut at ``now``, so an event after
``now`` starts counting at its time), ``age`` (a birthday) and ``days_since`` (a day passing a time). So membership
is constant between *candidate instants*, each a time value of the store or the rule plus an offset:

- the bases: every event time of the event types the rule reads (whatever its filters: a superset), every value of
  the timestamp and date attributes and properties it reads, and the time constants and ``$parameters`` of the rule
  (a date as its first and last microsecond and the instants either side: dates meet timestamps as whole days; in
  a zoned store, the local days of every zone of the store's contacts, runtime/zoneddays.py);
- the offsets: 0, and the duration of every ``within`` and ``before ... ago``; a calendar duration (``mo``, ``y``)
  is not a fixed length, so every whole day from its shortest to its longest length (1mo: 28 to 31 days) is one,
  and the midnights of the bases are bases too (``now - 1mo`` skips days: Dec 1 - 1mo = Nov 1, Nov 30 - 1mo = Oct
  30, so an event on Oct 31 leaves at midnight);
- sequences: a later step's gap is between two events, not from ``now``, so only its events' times matter; a
  negated step (``then not bought within 1d``) is decided at ``t + D - 1µs`` (its window has passed), an offset;
- ``days_since``: each base plus the next whole number of days after ``now``; ``age``: the next birthday of each
  base's day (29 February: 1 March in other years); ``birthday(...) within next D`` and ``anniversary``: the next
  local midnight of every zone of the store's contacts (runtime/timezones.py); ``in each of the last 3 mo``: the
  instants at which each window's end passes such a midnight (periods start at midnights).

``bound`` is the earliest candidate after ``now``: never later than the first change, possibly earlier (a
candidate where no contact's membership changes, e.g. an event whose filter fails, or a count that stays above its
threshold). ``next_change`` makes it exact by evaluating: a candidate whose membership equals ``now``'s is passed
(membership is constant from one candidate to the next), up to ``checks`` evaluations; past them it returns the
next unchecked candidate, still never late. The minimum is over all contacts, computed with sorted arrays and
``searchsorted`` (no Python loop over events or contacts).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Mapping

import numpy as np

from ..compiler import ir
from ..compiler.types import US_PER_DAY, Type
from .bindings import Bindings, bind
from .store.columns import Column, Store
from .timeutil import from_us, to_us
from .timezones import Zones, zoned, zones
from .zoneddays import ZonedBindings, day_starts

CHECKS = 16  # evaluations next_change may spend to pass candidates at which nothing changes
_FIRST, _LAST = to_us(dt.datetime(1, 1, 2, tzinfo=dt.UTC)), to_us(dt.datetime(9999, 12, 30, tzinfo=dt.UTC))
_CALENDAR_DAYS = {"mo": (28, 31), "y": (365, 366)}  # shortest and longest length of one unit, in days
_FIXED_US = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_TIME_TYPES = (Type.TIMESTAMP, Type.DATE)


class Candidates:
    """The candidate instants of one rule on one store (see the module's docstring)."""

    def __init__(self, plan: ir.Expr, store: Store, bindings: Bindings) -> None:
        nodes = list(ir.walk(plan))
        events = {n.event for n in nodes if isinstance(n, ir.EventSet)}
        columns = {id(c): c for c in (_column(store, n) for n in nodes if isinstance(n, ir.Attr | ir.Prop)
                                      and n.type in _TIME_TYPES) if c is not None}
        # a date is a whole day: of each zone of the store's contacts when they have zones
        days = zones(store) if zoned(store) and any(getattr(n, "type", None) is Type.DATE for n in nodes) else None
        constants = [_constant(ZonedBindings(bindings, days) if days else bindings, n) for n in nodes
                     if isinstance(n, ir.Const | ir.Param) and n.type in _TIME_TYPES]
        # sorted distinct times: of each event type and time column (kept with the store: every rule on it shares
        # them), and of the rule's constants
        self.sorted = [_event_times(store, event) for event in sorted(events) if event in store.events]
        self.sorted += [_column_times(column) for column in columns.values()]
        if days is not None:
            self.sorted += [_zoned_whole_days(column, days) for column in columns.values() if column.type is Type.DATE]
        self.sorted.append(_usable(np.concatenate([np.zeros(0, np.int64), *constants])))
        durations = [bindings.value(n.duration) for n in nodes if isinstance(n, ir.Within | ir.BeforeAgo)]
        self.offsets = sorted({0, *(o for d in durations for o in _offsets(d))})
        # a negated step of a sequence is decided when its follow-up window (t, t + D) has passed: at t + D - 1µs
        gaps = [bindings.value(n.within) for n in nodes if isinstance(n, ir.Step) and n.negated]
        self.offsets = sorted({*self.offsets, *(o - 1 for d in gaps for o in _offsets(d))})
        if any(d.unit in _CALENDAR_DAYS for d in durations):
            # now - 1mo skips days (Dec 1 - 1mo = Nov 1, Nov 30 - 1mo = Oct 30): an event on a skipped day leaves
            # at a midnight, not at its time of day
            self.sorted += [_usable(times // US_PER_DAY * US_PER_DAY) for times in self.sorted]
        functions = {n.name for n in nodes if isinstance(n, ir.Func)}
        self.days_since, self.age = "days_since" in functions, "age" in functions
        # in a zoned store both count the contact's local days: they turn over at local times (see _local_turns)
        self.local = zones(store) if (self.days_since or self.age) and zoned(store) else None
        # birthday(...) within next D: a contact's today changes at its zone's midnights
        self.zones = zones(store) if any(isinstance(n, ir.Upcoming) for n in nodes) else None
        # ... in each of the last 3 mo: the period of a window's end changes at its zones' midnights
        self.periods = zones(store) if any(isinstance(n, ir.Regular) for n in nodes) else None

    def after(self, now_us: int) -> int | None:
        """The earliest candidate instant strictly after ``now_us``, None when there is none."""
        found = []
        for times in self.sorted:
            if not len(times):
                continue
            for offset in self.offsets:
                index = np.searchsorted(times, now_us - offset, side="right")
                if index < len(times):
                    found.append(int(times[index]) + offset)
            if self.local is not None:
                found += _local_turns(self.local, times, now_us, self.days_since, self.age)
                continue
            if self.days_since:  # a time + k days, the first such after now: the next time of day of one
                found.append(_next_time_of_day(_derived(times, "times_of_day", _times_of_day), now_us))
            if self.age:
                found.append(_next_birthday(_derived(times, "midnights", _midnights), now_us))
        if self.zones is not None:
            found += _next_midnights(self.zones, now_us)
        if self.local is not None:  # a jump of the local clock may pass a turn: the next change of every zone
            found += _next_changes(self.local, now_us)
        if self.periods is not None:  # the window's end is now - offset: it passes a midnight at that + offset
            found += [m + offset for offset in self.offsets for m in _next_midnights(self.periods, now_us - offset)]
        found = [f for f in found if now_us < f <= _LAST]
        return min(found) if found else None


def bound(plan: ir.Expr, store: Store, now, params: Mapping[str, object] | None = None) -> dt.datetime | None:
    """The earliest candidate instant after ``now`` (never later than the first change; None: nothing can change
    without new data)."""
    bindings = bind(plan, now, params, store.schema)
    found = Candidates(plan, store, bindings).after(bindings.now_us)
    return None if found is None else from_us(found)


def next_change(plan: ir.Expr, store: Store, now, params: Mapping[str, object] | None,
                evaluate: Callable[[dt.datetime], np.ndarray], checks: int = CHECKS) -> dt.datetime | None:
    """The first instant after ``now`` at which membership (``evaluate(instant)``, a bool mask) differs from
    ``now``'s; after ``checks`` evaluations that found none, the next candidate (never late); None: never, without
    new data."""
    bindings = bind(plan, now, params, store.schema)
    candidates = Candidates(plan, store, bindings)
    before = evaluate(bindings.now)
    at = candidates.after(bindings.now_us)
    for _ in range(checks):
        if at is None or not np.array_equal(evaluate(from_us(at)), before):
            break
        at = candidates.after(at)
    return None if at is None else from_us(at)


_EVENT_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _event_times(store: Store, event: str) -> np.ndarray:
    """The distinct event times of a type, sorted; kept while the store's table lives (a store is immutable)."""
    table = store.events[event]
    times = _EVENT_TIMES.get(table)
    if times is None:
        times = _EVENT_TIMES[table] = _usable(np.asarray(table.ts, np.int64))
    return times


_DERIVED: dict[tuple[int, str], tuple[weakref.ref, np.ndarray]] = {}


def _derived(times: np.ndarray, name: str, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``compute(times)``, kept while ``times`` lives: the event times are shared by every rule on a store, so a
    refresh of many segments sorts them once."""
    key = (id(times), name)
    known = _DERIVED.get(key)
    if known is not None and known[0]() is times:
        return known[1]
    value = compute(times)
    _DERIVED[key] = (weakref.ref(times, lambda _, key=key: _DERIVED.pop(key, None)), value)
    return value


def _times_of_day(times: np.ndarray) -> np.ndarray:
    return _distinct(times % US_PER_DAY)


def _midnights(times: np.ndarray) -> np.ndarray:
    return _distinct(times // US_PER_DAY) * US_PER_DAY


def _next_time_of_day(times_of_day: np.ndarray, now_us: int) -> int:
    """The first instant after ``now_us`` whose time of day is one of ``times_of_day`` (sorted)."""
    midnight, into_day = divmod(now_us, US_PER_DAY)
    index = np.searchsorted(times_of_day, into_day, side="right")
    if index < len(times_of_day):
        return midnight * US_PER_DAY + int(times_of_day[index])
    return (midnight + 1) * US_PER_DAY + int(times_of_day[0])


def _usable(times: np.ndarray) -> np.ndarray:
    """Sorted distinct times within the calendar's range (offsets added to them stay inside int64)."""
    return _distinct(times[(times >= _FIRST) & (times <= _LAST)])


def _distinct(values: np.ndarray) -> np.ndarray:
    """``values`` sorted, without repeats: a sort and a comparison with the neighbour. ``np.unique`` hashes int64
    first (numpy 2.3+): 1.8 s instead of 0.1 s for the 1.2M opens of 100k demo contacts, for every event type."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _column(store: Store, node: ir.Attr | ir.Prop) -> Column | None:
    if isinstance(node, ir.Attr):
        return store.attributes.get(node.name)
    table = store.events.get(node.event)
    return None if table is None else table.properties.get(node.name)


_COLUMN_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _column_times(column: Column) -> np.ndarray:
    """The distinct times of a timestamp or date column, sorted (a date as its whole day); kept while it lives."""
    times = _COLUMN_TIMES.get(column)
    if times is None:
        values = np.asarray(column.values, np.int64)[column.validity()]
        times = _COLUMN_TIMES[column] = _usable(_whole_days(values) if column.type is Type.DATE else values)
    return times


def _constant(bindings: Bindings | ZonedBindings, node: ir.Const | ir.Param) -> np.ndarray:
    first, last = bindings.instant_bounds(node)
    return np.concatenate([np.ravel(x) for x in (first - 1, first, last, last + 1)]).astype(np.int64)


def _zoned_whole_days(column: Column, found: Zones) -> np.ndarray:
    """``_whole_days`` of a date column's days in each zone of a zoned store (its local first and last instants)."""
    values = np.asarray(column.values, np.int64)[column.validity()]
    days = np.unique(values[(values > _FIRST // US_PER_DAY) & (values < _LAST // US_PER_DAY)])
    out = []
    for z in range(len(found.names)):
        zone = np.full(len(days), z)
        first, following = day_starts(found, days, zone), day_starts(found, days + 1, zone)
        out += [first - 1, first, following - 1, following]
    return _usable(np.concatenate([np.zeros(0, np.int64), *out]))


def _whole_days(days: np.ndarray) -> np.ndarray:
    """A date meets a timestamp as its whole day: its first and last microsecond, and the instants either side."""
    days = days[(days > _FIRST // US_PER_DAY) & (days < _LAST // US_PER_DAY)]
    first = days * US_PER_DAY
    return np.concatenate([first - 1, first, first + US_PER_DAY - 1, first + US_PER_DAY])


def _offsets(duration: ir.Duration) -> list[int]:
    if duration.unit in _FIXED_US:
        return [duration.amount * _FIXED_US[duration.unit] * 1_000_000]
    shortest, longest = _CALENDAR_DAYS[duration.unit]
    return [days * US_PER_DAY for days in range(shortest * duration.amount - 1, longest * duration.amount + 2)]


def _next_birthday(bases: np.ndarray, now_us: int) -> int:
    """The first midnight after ``now_us`` that is the birthday of a base's day (born 29 February: 1 March in other
    years, as ``age`` counts)."""
    days = (bases // US_PER_DAY).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    month_of_year = months - days.astype("datetime64[Y]").astype("datetime64[M]")
    day_of_month = days - months.astype("datetime64[D]")
    year = from_us(now_us).year
    best = None
    for y in (year, year + 1):
        start = np.datetime64(f"{y:04d}-01", "M") + month_of_year
        birthdays = (start.astype("datetime64[D]") + day_of_month).astype(np.int64) * US_PER_DAY
        later = birthdays[birthdays > now_us]
        if len(later):
            best = int(later.min()) if best is None else min(best, int(later.min()))
    return best if best is not None else _LAST + 1


def _local_turns(found: Zones, times: np.ndarray, now_us: int, days_since: bool, age: bool) -> list[int]:
    """Where ``days_since`` and ``age`` may turn over after ``now_us`` in a zoned store, up to each zone's next change
    of offset (``_next_changes`` adds those): a contact's local clock reads ``u + s`` at ``u`` with ``s`` its zone's
    offset now, and a base ``t`` is the local time ``t + d`` with ``d`` any offset of any zone (0 for a date). So
    ``days_since`` turns at ``u = t + k days + d - s`` and ``age`` at the local midnight ``- s`` of the birthday of
    the local day of ``t + d``: every pair ``(d, s)`` is tried (a superset: never late)."""
    now_shifts = np.unique(found.shifts_at(now_us)).tolist()
    any_shifts = np.unique(np.append(found.shift, 0)).tolist()
    out = []
    if days_since:
        times_of_day = _derived(times, "times_of_day", _times_of_day)
        for gap in {d - s for d in any_shifts for s in now_shifts}:
            out.append(_next_time_of_day(times_of_day, now_us - gap) + gap)
    if age:
        for d in any_shifts:
            midnights = _midnights(times + d)
            out += [_next_birthday(midnights, now_us + s) - s for s in now_shifts if now_us + s < _LAST]
    return out


def _next_changes(found: Zones, now_us: int) -> list[int]:
    """Each zone's first change of offset after ``now_us`` (if its table has one)."""
    out = []
    for z in range(len(found.names)):
        a, b = int(found.starts[z]), int(found.starts[z + 1])
        k = int(np.searchsorted(found.at[a:b], now_us, side="right"))
        if k < b - a:
            out.append(int(found.at[a + k]))
    return out


def _next_midnights(found: Zones, now_us: int) -> list[int]:
    """Instants after ``now_us`` that include each zone's next local midnight: the midnight at the offset in force
    now, and, for each change of offset before it, that change and the midnight at the new offset (never late: the
    day changes at one of them)."""
    out = []
    for z in range(len(found.names)):
        a, b = int(found.starts[z]), int(found.starts[z + 1])
        at, shift = found.at[a:b], found.shift[a:b]
        k = int(np.searchsorted(at, now_us, side="right")) - 1
        midnight = ((now_us + int(shift[k])) // US_PER_DAY + 1) * US_PER_DAY
        out.append(midnight - int(shift[k]))
        for j in range(k + 1, b - a):
            if at[j] > out[-1] + US_PER_DAY:
                break
            out += [int(at[j]), midnight - int(shift[j])]
    return out
