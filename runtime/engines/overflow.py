"""Integer results that int64 cannot hold are refused with the rule part named, never wrapped around.

The reference evaluator computes integer sums and arithmetic exactly (``Evaluator.exact``). The vector and compiled
engines add in int64 at full speed, which is exact as long as no result leaves the int64 range; ``check`` proves
that before they run, from bounds of the store computed once per column and event type (the least and greatest
value of a column, the most events a contact has of a type): ``sum(bought.quantity)`` lies within
``max events x [min, max]``, ``a * b`` within the products of the bounds of ``a`` and ``b``. Only a rule part the
bounds cannot clear, which takes values near 2^63 in the store, is computed exactly, once, by the reference
evaluator, which raises a DataError naming it if some contact's value really is out of range.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import numpy as np

from ...compiler import ir
from ...compiler.types import Type
from ...dsl.limits import INT64_MAX, INT64_MIN
from ..bindings import Bindings
from ..store.columns import Column, EventTable, Store
from .reference import Evaluator

# |days_since| and |age| of any int64 time or int32 date: far inside int64 (2^63 µs is 1.07e8 days).
_TIME_FUNCTION_BOUND = 2**40
_column_ranges: weakref.WeakKeyDictionary[Column, tuple[int, int]] = weakref.WeakKeyDictionary()
_most_events: weakref.WeakKeyDictionary[EventTable, int] = weakref.WeakKeyDictionary()


def check(plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> None:
    """Raise a DataError when an integer sum, product, difference or negation of ``plans`` leaves int64 for some
    contact of ``store``; cost: a walk of the plans, plus an exact evaluation of a part the bounds cannot clear."""
    evaluator = None
    for plan in plans:
        for node, scope in ir.fact(plan, "integer results", lambda p: tuple(_integer_results(p, None))):
            bounds = value_range(node, store)
            if bounds is not None and bounds[0] >= INT64_MIN and bounds[1] <= INT64_MAX:
                continue
            evaluator = evaluator or Evaluator(store, bindings)
            evaluator.vec(node, None if scope is None else store.events[scope])


def value_range(node: ir.Expr, store: Store) -> tuple[int, int] | None:
    """The least and greatest value an integer expression can take on ``store`` (Python integers), or None when
    unknown."""
    match node:
        case ir.Const(value=value, type=Type.INT):
            return value, value
        case ir.Attr(name=name, type=Type.INT):
            return _column_range(store.attributes[name])
        case ir.Prop(event=event, name=name, type=Type.INT):
            return _column_range(store.events[event].properties[name])
        case ir.Count(events=events) | ir.Aggregate(function="distinct", events=events):
            return 0, _events_per_contact(store.events[events.event])
        case ir.Aggregate(function="sum", events=events, prop=prop, type=Type.INT):
            low, high = value_range(prop, store)
            most = _events_per_contact(store.events[events.event])
            return min(0, low * most), max(0, high * most)
        case ir.Aggregate(function="min" | "max", prop=prop, type=Type.INT):
            return value_range(prop, store)
        case ir.SequenceCount(steps=steps):  # each occurrence has its own first event
            return 0, _events_per_contact(store.events[steps[0].events.event])
        case ir.Func():
            return -_TIME_FUNCTION_BOUND, _TIME_FUNCTION_BOUND
        case ir.Rank(function=function, type=Type.INT):  # population measures (issue 13): small by definition
            return 1, 10 if function == "decile" else 5
        case ir.Rfm(part=part):
            return (111, 555) if part == "rfm" else (1, 5)
        case ir.Negate(operand=x, type=Type.INT):
            inner = value_range(x, store)
            return None if inner is None else (-inner[1], -inner[0])
        case ir.Arith(op=op, left=a, right=b, type=Type.INT):
            left, right = value_range(a, store), value_range(b, store)
            if left is None or right is None:
                return None
            match op:
                case "+":
                    return left[0] + right[0], left[1] + right[1]
                case "-":
                    return left[0] - right[1], left[1] - right[0]
                case "*":
                    products = [x * y for x in left for y in right]
                    return min(products), max(products)
    return None


def _integer_results(node, scope: str | None) -> Iterator[tuple[ir.Expr, str | None]]:
    """The integer sums and arithmetic of a plan, each with the event type whose rows it is computed over (None:
    contacts)."""
    match node:
        case ir.Aggregate(function="sum", type=Type.INT) | ir.Arith(type=Type.INT) | ir.Negate(type=Type.INT):
            yield node, scope
    for child in ir.children(node):
        inner = node.event if isinstance(node, ir.EventSet) else scope
        yield from _integer_results(child, inner)


def _column_range(column: Column) -> tuple[int, int]:
    if column not in _column_ranges:
        values = np.asarray(column.values)
        if column.valid is not None:
            values = values[np.asarray(column.valid, dtype=bool)]
        _column_ranges[column] = (int(values.min()), int(values.max())) if values.size else (0, 0)
    return _column_ranges[column]


def _events_per_contact(table: EventTable) -> int:
    if table not in _most_events:
        offsets = np.asarray(table.offsets)
        _most_events[table] = int(np.diff(offsets).max()) if len(offsets) > 1 else 0
    return _most_events[table]
