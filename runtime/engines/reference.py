"""The reference evaluator: the typed IR over a store with plain, column-at-a-time numpy.

Written to be obviously right rather than fast; it is the oracle the compiled evaluator is tested against, and it
is itself checked against DuckDB SQL (tests/test_oracle.py). Every node evaluates to a ``Vec`` over the rows in
scope: contacts, or the events of one type inside filters. Predicates give plain bool arrays in which null is
already false.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...compiler import ir
from ...compiler.formatter import format_ir
from ...compiler.passes import dated, lower_points_in_time
from ...compiler.types import Type
from ...dsl.errors import DataError
from ...dsl.limits import INT64_MAX, INT64_MIN
from ..bindings import Bindings
from ..calendar import current_periods, period_of, regular_hits, upcoming, window_days
from ..store.columns import Column, EventTable, Store
from ..timeutil import US_PER_DAY
from ..timezones import local, local_times_by_search, now_in_zones, time_part, zoned, zones
from ..zoneddays import ZonedBindings, day_starts
from . import ranks, sequences
from .engine import Engine
from .strings import OPS, string_table


@dataclass(frozen=True)
class Vec:
    """Values over the rows in scope. ``dictionary`` is set for strings (``data`` holds codes); ``column`` keeps
    the stored column for tags, which are not one value per row."""

    data: np.ndarray
    valid: np.ndarray
    dictionary: tuple[str, ...] | None = None
    column: Column | None = None


class Evaluator:
    def __init__(self, store: Store, bindings: Bindings, definitions: Mapping[str, ir.Expr] | None = None) -> None:
        self.store = store
        self.bindings = bindings
        self.definitions = definitions or {}
        self.n = len(store)
        self.ranked: dict[ir.Expr, Vec] = {}  # population measures worked out already (explain: over every contact)

    # -- entry points --------------------------------------------------------------------------------------
    def mask(self, node: ir.Expr) -> np.ndarray:
        """The contacts for which the condition ``node`` holds."""
        return np.broadcast_to(self.truth(node, None), (self.n,)).copy()

    def truth(self, node: ir.Expr, scope: EventTable | None) -> np.ndarray:
        """A condition over the rows in ``scope``; null counts as false."""
        lowered = lower_points_in_time(node)  # plans are lowered already; explanations read the rule as written
        if lowered is not node:
            return self.truth(lowered, scope)
        match node:
            case ir.And(items=items):
                return functools.reduce(np.logical_and, [self.truth(i, scope) for i in items])  # scalars broadcast
            case ir.Or(items=items):
                return functools.reduce(np.logical_or, [self.truth(i, scope) for i in items])
            case ir.Not(operand=operand):
                return ~self.truth(operand, scope)
            case ir.Exists(events=events):
                return self.counts(events) >= 1
            case ir.Compare(left=left) | ir.InSet(operand=left) | ir.TextMatch(operand=left) if (
                left.type is Type.STRING
            ):
                return self.string_test(self.vec(left, scope), node)
            case ir.Compare(op=op, left=left, right=right):
                return self.compare(op, self.vec(left, scope), self.vec(right, scope))
            case ir.InRange(operand=x, low=low, high=high):
                v = self.vec(x, scope)
                return self.compare(">=", v, self.vec(low, scope)) & self.compare("<=", v, self.vec(high, scope))
            case ir.InSet(operand=x, values=values, negated=negated):
                v = self.vec(x, scope)
                hit = np.logical_or.reduce([self.compare("=", v, self.vec(value, scope)) for value in values])
                return (~hit & v.valid) if negated else hit
            case ir.IsNull(operand=x, negated=negated):
                valid = self.vec(x, scope).valid
                return valid.copy() if negated else ~valid
            case ir.HasTags(operand=x, mode=mode, values=values):
                return self.has_tags(self.vec(x, scope).column, mode, [self.bindings.value(v) for v in values])
            case ir.InWindow(operand=x, window=window):
                v = self.vec(x, scope)
                lo, hi = self.window(window, scope)
                return v.valid & (v.data >= lo) & (v.data <= hi)
            case ir.Ref(name=name):
                return self.truth(self.definitions[name], scope)
            case ir.Sequence(steps=steps):
                return self.sequence_counts(steps, exists=True) >= 1
            case ir.Upcoming(operand=x, duration=duration):
                return self.upcoming(self.vec(x, scope), x.type, duration)
            case ir.Regular():
                return self.regular(node)
        v = self.vec(node, scope)  # a boolean value: attribute, constant, parameter
        assert node.type is Type.BOOL, node
        return v.valid & v.data.astype(bool)

    # -- values --------------------------------------------------------------------------------------------
    def vec(self, node: ir.Expr, scope: EventTable | None) -> Vec:
        match node:
            case ir.Const() | ir.Param():
                return self.constant(node)
            case ir.Attr(name=name):
                return column_vec(self.store.attributes[name])
            case ir.Prop(name=name):
                assert scope is not None, "a property outside an event filter"
                if name not in scope.properties:
                    raise KeyError(name)
                return column_vec(scope.properties[name])
            case ir.Count(events=events):
                counts = self.counts(events)
                return Vec(counts, np.ones(self.n, bool))
            case ir.Aggregate():
                return self.aggregate(node)
            case ir.SequenceCount(steps=steps):
                return Vec(self.sequence_counts(steps, exists=False), np.ones(self.n, bool))
            case ir.Arith(left=left, right=right):
                return self.arith(node, self.vec(left, scope), self.vec(right, scope), scope)
            case ir.Negate(operand=x):
                v = self.vec(x, scope)
                if node.type is Type.INT:
                    return Vec(self.exact(node, np.negative, (v.data,), np.abs(v.data.astype(float)), v.valid, scope),
                               v.valid)
                return Vec(-v.data, v.valid)
            case ir.ToTimestamp(operand=ir.Const() | ir.Param()) | ir.WindowBound() if self.zoned_bindings:
                return Vec(self.in_zones(self.zoned_bindings.value(node), scope), np.array(True))
            case ir.ToTimestamp(operand=ir.Param()) | ir.WindowBound():
                return self.constant(node)
            case ir.ToTimestamp(operand=x, last=last) if self.zoned_bindings:  # the local day's first instant
                v = self.vec(x, scope)
                days = np.broadcast_to(np.where(v.valid, v.data, 0).astype(np.int64) + last, v.valid.shape)
                zone = np.broadcast_to(self.zone_of_rows(scope), days.shape)
                return Vec(day_starts(zones(self.store), days.ravel(), zone.ravel()).reshape(days.shape) - last,
                           v.valid)
            case ir.ToTimestamp(operand=x, last=last):
                v = self.vec(x, scope)
                return Vec(v.data.astype(np.int64) * US_PER_DAY + (US_PER_DAY - 1 if last else 0), v.valid)
            case ir.Func(name=name, argument=x):
                return self.function(name, x, scope)
            case ir.Ref(name=name):
                return self.vec(self.definitions[name], scope)
            case ir.Rank() | ir.Rfm():
                return self.population(node)
            case ir.TimePart(part=part):
                assert scope is not None, "a time part outside an event filter"
                return Vec(time_part(self.local_times(scope), part), np.ones(len(scope), bool))
        # a condition used as a value
        truth = self.truth(node, scope)
        return Vec(truth, np.ones_like(truth, dtype=bool))

    def constant(self, node: ir.Const | ir.Param | ir.ToTimestamp | ir.WindowBound) -> Vec:
        return Vec(np.array(self.bindings.value(node)), np.array(True))

    # -- comparisons ---------------------------------------------------------------------------------------
    def compare(self, op: str, left: Vec, right: Vec) -> np.ndarray:
        result = OPS[op](left.data, right.data)
        return np.asarray(result & left.valid & right.valid, dtype=bool)

    def string_test(self, v: Vec, node: ir.Expr) -> np.ndarray:
        """Strings are tested through a table over the dictionary: one test per dictionary entry."""
        table = np.append(string_table(node, self.bindings, v.dictionary), False)
        codes = np.where(v.valid, v.data, len(v.dictionary))  # null rows look up the final False
        return table[codes]

    def has_tags(self, column: Column, mode: str, values: list[str]) -> np.ndarray:
        rows = np.repeat(np.arange(len(column), dtype=np.int64), np.diff(column.offsets))
        present = []
        for value in values:
            code = column.code_of.get(value)
            found = np.zeros(len(column), bool)
            if code is not None:
                found[rows[column.values == code]] = True
            present.append(found)
        if mode == "all":
            return np.logical_and.reduce(present)
        return np.logical_or.reduce(present)

    # -- arithmetic and functions --------------------------------------------------------------------------
    def arith(self, node: ir.Arith, a: Vec, b: Vec, scope: EventTable | None) -> Vec:
        valid = a.valid & b.valid
        if node.op == "/":
            denominator = b.data.astype(np.float64)
            valid = valid & (denominator != 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                data = np.where(valid, a.data / np.where(denominator == 0, 1, denominator), 0.0)
        elif node.type is Type.INT:
            x, y = np.abs(a.data.astype(np.float64)), np.abs(b.data.astype(np.float64))
            size = x * y if node.op == "*" else x + y
            data = self.exact(node, _ARITH[node.op], (a.data, b.data), size, valid, scope)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                data = _ARITH[node.op](a.data.astype(np.float64), b.data.astype(np.float64))
        if node.type is Type.FLOAT:
            valid = valid & ~np.isnan(data)  # inf - inf, 0 * inf, inf / inf: not a number is null
        dtype = np.float64 if node.type is Type.FLOAT else np.int64
        return Vec(np.asarray(data, dtype=dtype), np.asarray(valid, dtype=bool))

    def exact(self, node: ir.Expr, compute, operands: tuple[np.ndarray, ...], size: np.ndarray, valid: np.ndarray,
              scope: EventTable | None) -> np.ndarray:
        """An integer result, ``compute(*operands)``, exactly: int64 where ``size`` (a float bound of its magnitude:
        |a| + |b|, |a| * |b|, the sum of |values|) shows it cannot overflow, else in Python integers; a value of
        a valid row that int64 cannot hold is a DataError naming the rule part (and the contact), never wrapped."""
        valid = np.broadcast_to(valid, np.shape(size))
        if not np.any(valid & (size >= 2.0**62)):
            return np.asarray(compute(*(np.asarray(o, np.int64) for o in operands)), np.int64)
        exact = np.broadcast_to(compute(*(np.asarray(o).astype(object) for o in operands)), valid.shape)
        outside = valid & ((exact > INT64_MAX) | (exact < INT64_MIN))
        if np.any(outside):
            row = int(np.flatnonzero(outside)[0]) if outside.ndim else 0
            contact = f" for contact {self.store.ids[row]}" if scope is None and outside.ndim else ""
            raise DataError(f"{format_ir(node, self.store.schema)} is {exact.flat[row]}{contact}, beyond the 64-bit "
                            "integer range [-2^63, 2^63 - 1]")
        return np.where(valid, exact, 0).astype(np.int64)

    def function(self, name: str, argument: ir.Expr, scope) -> Vec:
        v = self.vec(argument, scope)
        # Days and the time into the day apart, never now - t in microseconds: that leaves int64 for a time
        # within 2^63 µs of now's opposite end (years around -290,000), and a date's microseconds can too.
        # In a zoned store both the time and now are local times of the contact's zone (docs/language.md).
        zone = self.zone_of_rows(scope) if zoned(self.store) else None
        data = v.data.astype(np.int64)
        if zone is not None:
            now = now_in_zones(zones(self.store), self.bindings.now_us)
            now_local = now["local"][zone]
            if argument.type is not Type.DATE:  # a constant time is one value for every row
                data = local(zones(self.store), zone, np.where(v.valid, np.broadcast_to(data, zone.shape), 0))
        if argument.type is Type.DATE:
            day, into_day = data, 0
        else:
            day, into_day = np.divmod(data, US_PER_DAY)
        if name == "days_since":
            now_day, now_into_day = np.divmod(now_local, US_PER_DAY) if zone is not None else divmod(
                self.bindings.now_us, US_PER_DAY)
            return Vec(now_day - day - (now_into_day < into_day), v.valid)
        assert name == "age"
        days = day.astype("datetime64[D]")
        years = days.astype("datetime64[Y]").astype(np.int64) + 1970
        if zone is not None:
            now_year, now_month_day = now["year"][zone], now["month_day"][zone]
        else:
            now_year, now_month_day = self.bindings.now.year, self.bindings.now.month * 100 + self.bindings.now.day
        birthday_to_come = _month_day(days) > now_month_day
        return Vec((now_year - years - birthday_to_come).astype(np.int64), v.valid)

    @functools.cached_property
    def zoned_bindings(self) -> ZonedBindings | None:
        """The rule's dates in each contact's zone (runtime/zoneddays.py); None when every contact is in UTC (then
        ``bindings`` alone give every instant)."""
        if not (self.store.schema.zoned and zoned(self.store)):
            return None
        return ZonedBindings(self.bindings, zones(self.store))

    def in_zones(self, value: np.ndarray | int, scope: EventTable | None) -> np.ndarray | int:
        """A value per zone (or one number) as the value of each row in scope: its contact's zone's."""
        return value if np.ndim(value) == 0 else value[self.zone_of_rows(scope)]

    def window(self, window: ir.Window, scope: EventTable | None) -> tuple:
        """A window's ``[lo, hi]``: two numbers, or, for a window with a date bound in a zoned store, the bounds of
        each row's contact's zone."""
        if dated(window) and self.zoned_bindings:
            lo, hi = self.zoned_bindings.window(window)
            return self.in_zones(lo, scope), self.in_zones(hi, scope)
        return self.bindings.window(window)

    def zone_of_rows(self, scope: EventTable | None) -> np.ndarray:
        """The zone number of each row: of each contact, or of each event's contact."""
        contact = zones(self.store).contact
        return contact if scope is None else contact[scope.contact_rows]

    # -- population-relative measures (issue 13): the measure of every contact, then ranks (engines/ranks.py) ------
    def population(self, node: ir.Rank | ir.Rfm) -> Vec:
        if node not in self.ranked:
            every = (self.n,)
            match node:
                case ir.Rank(function=function, measure=measure):
                    v = self.vec(measure, None)
                    data, valid = ranks.rank(function, np.broadcast_to(v.data, every), np.broadcast_to(v.valid, every))
                case ir.Rfm(part=part, events=events, prop=prop):
                    last = self.aggregate(ir.Aggregate("last", events, None, Type.TIMESTAMP))
                    total = self.aggregate(ir.Aggregate("sum", events, prop, prop.type))
                    data, valid = ranks.rfm(part, self.counts(events), np.broadcast_to(last.data, every),
                                            np.broadcast_to(total.data, every), np.broadcast_to(total.valid, every))
            self.ranked[node] = Vec(data, valid)
        return self.ranked[node]

    # -- sequences -----------------------------------------------------------------------------------------
    def sequence_counts(self, steps: tuple[ir.Step, ...], exists: bool) -> np.ndarray:
        """Per contact, a sequence's occurrences (``exists``: whether it has one), as runtime/engines/sequences.py
        defines them."""
        return sequences.reference_counts(sequences.step_inputs(steps, self), self.n, exists)

    # -- event sets ----------------------------------------------------------------------------------------
    def selected(self, events: ir.EventSet) -> tuple[EventTable, np.ndarray]:
        """The event table and the mask of its events in the set: filters and window (cut at now)."""
        table = self.store.events[events.event]
        lo, hi = self.window(events.window, table)
        mask = (table.ts >= lo) & (table.ts <= hi)
        for condition in events.where:
            mask &= np.broadcast_to(self.truth(condition, table), mask.shape)
        return table, mask

    def counts(self, events: ir.EventSet) -> np.ndarray:
        table, mask = self.selected(events)
        return np.bincount(table.contact_rows[mask], minlength=self.n).astype(np.int64)

    def aggregate(self, node: ir.Aggregate) -> Vec:
        table, mask = self.selected(node.events)
        if node.function in ("first", "last"):
            rows, values = table.contact_rows[mask], table.ts[mask]
        else:
            prop = column_vec(table.properties[node.prop.name])
            keep = mask & prop.valid
            rows, values = table.contact_rows[keep], prop.data[keep]
        n = self.n
        present = np.bincount(rows, minlength=n) > 0
        match node.function:
            case "sum" if node.type is Type.INT:  # exactly, like integer arithmetic
                size = np.zeros(n, np.float64)
                np.add.at(size, rows, np.abs(values.astype(np.float64)))
                every = np.ones(n, bool)
                return Vec(self.exact(node, _sum_at(rows, n), (values,), size, every, None), every)
            case "sum" | "avg":  # floats: beyond the largest float is inf; +inf and -inf together are NaN, null
                total = np.zeros(n, np.float64)
                with np.errstate(over="ignore", invalid="ignore"):
                    np.add.at(total, rows, values.astype(np.float64))
                    if node.function == "avg":
                        total = np.where(present, total / np.maximum(np.bincount(rows, minlength=n), 1), 0.0)
                return Vec(total, (present if node.function == "avg" else True) & ~np.isnan(total))
            case "min" | "first":
                return _extreme(np.minimum, rows, values, n, present)
            case "max" | "last":
                return _extreme(np.maximum, rows, values, n, present)
            case "distinct":
                order = np.lexsort((values, rows))
                rows, values = rows[order], values[order]
                new = np.ones(len(rows), bool)
                new[1:] = (rows[1:] != rows[:-1]) | (values[1:] != values[:-1])
                return Vec(np.bincount(rows[new], minlength=n).astype(np.int64), np.ones(n, bool))
        raise AssertionError(node.function)

    # -- calendar and time of day (runtime/timezones.py, runtime/calendar.py) -------------------------------------
    def local_times(self, table: EventTable) -> np.ndarray:
        """Each event's time in its contact's zone: one search per event in its zone's table."""
        return local_times_by_search(self.store, table)

    def upcoming(self, v: Vec, type_: Type, duration: ir.Const | ir.Param) -> np.ndarray:
        """``birthday(x) within next D``: the next anniversary of each contact's day, in its zone's calendar."""
        found = zones(self.store)
        zone = found.contact
        today, last = window_days(found, self.bindings, duration)
        data = np.where(v.valid, v.data, 0).astype(np.int64)
        day = data if type_ is Type.DATE else np.floor_divide(local(found, zone, data), US_PER_DAY)
        return v.valid & upcoming(day, today[zone], last[zone])

    def regular(self, node: ir.Regular) -> np.ndarray:
        """``bought in each of the last 3 mo``: per contact, the distinct periods of its events of the set."""
        table, mask = self.selected(node.events)
        found = zones(self.store)
        end = (self.zoned_bindings or self.bindings).window(node.events.window)[1]
        current, _ = current_periods(found, end, node.unit, node.periods)
        period = period_of(self.local_times(table)[mask], node.unit)
        hits = regular_hits(table.contact_rows[mask], period, current[found.contact], node.periods, self.n)
        return hits >= node.least


def _extreme(ufunc, rows: np.ndarray, values: np.ndarray, n: int, present: np.ndarray) -> Vec:
    """Per contact, the least (np.minimum) or greatest (np.maximum) of its values; contacts without are null."""
    dtype = values.dtype
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    # Seeded with the identity of the fold (nothing is below +inf / int max), not with a value of the data.
    identity = (np.inf if dtype.kind == "f" else info.max) if ufunc is np.minimum else (
        -np.inf if dtype.kind == "f" else info.min)
    out = np.full(n, identity, dtype=dtype)
    ufunc.at(out, rows, values)
    return Vec(out, present)


_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply}


def _sum_at(rows: np.ndarray, n: int):
    """Per contact, the sum of ``values`` over its ``rows``, in the values' dtype (int64 or Python integers)."""

    def total(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n, values.dtype)
        np.add.at(out, rows, values)
        return out

    return total


def column_vec(column: Column) -> Vec:
    """A stored column as the values the evaluators compute with (the vector engine reads properties this way)."""
    valid = column.validity()
    if column.type is Type.TAGS:
        return Vec(np.zeros(len(column), np.int32), valid, column=column)
    return Vec(np.asarray(column.values), valid, dictionary=column.dictionary)


def _month_day(days: np.ndarray) -> np.ndarray:
    """month * 100 + day of each date (datetime64[D])."""
    months = days.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    day = (days - months).astype(np.int64) + 1
    return month * 100 + day




class ReferenceEngine(Engine):
    """The reference evaluator as an engine: exact integers itself, so no overflow check."""

    name = "reference"

    def masks(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> np.ndarray:
        evaluator = Evaluator(store, bindings)
        return np.array([evaluator.mask(plan) for plan in plans]).reshape(len(plans), len(store))


REFERENCE = ReferenceEngine()
