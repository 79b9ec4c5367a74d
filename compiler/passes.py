"""Rewrites of the typed IR, each a plain function ``Expr -> Expr``; ``optimise`` runs them in order.

The bound IR keeps the rule as written (definitions by name, ``opened > 0`` as a count) so it can be formatted
and stored; evaluators get the output of these passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping

from . import ir
from .types import Type


def transform(node, fn: Callable):
    """Rebuild ``node`` bottom-up, applying ``fn`` to every rebuilt node (expressions, event sets, windows)."""
    if not dataclasses.is_dataclass(node) or isinstance(node, ir.Duration):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            new = tuple(transform(item, fn) for item in value)
            if any(a is not b for a, b in zip(new, value, strict=True)):
                changes[f.name] = new
        elif dataclasses.is_dataclass(value):
            new = transform(value, fn)
            if new is not value:
                changes[f.name] = new
    node = dataclasses.replace(node, **changes) if changes else node
    return fn(node)


def inline_definitions(node: ir.Expr, definitions: Mapping[str, ir.Expr]) -> ir.Expr:
    """``ios_open and x`` -> ``opened device = ios and x`` (definitions are themselves inlined first)."""

    def inline(n):
        if isinstance(n, ir.Ref):
            return inline_definitions(definitions[n.name], definitions)
        return n

    return transform(node, inline)


def normalise(node: ir.Expr) -> ir.Expr:
    """One spelling per meaning, and connectives in a flat form.

    A count compared with a constant 0 or 1 asks whether an event exists, and says so: ``count(opened) >= 1``,
    ``opened > 0`` -> ``opened`` (``Exists``); ``opened = 0``, ``opened < 1`` -> ``not opened``. Evaluators can
    answer existence without counting (stop at the first event; for unfiltered events, from each contact's last
    event time alone). ``a and (b and c)`` -> ``a and b and c``; ``not not a`` -> ``a``.
    """

    def step(n):
        match n:
            case ir.Compare(op=op, left=ir.Const(type=Type.INT) as k, right=ir.Count() as count, span=span):
                return step(ir.Compare(_MIRROR[op], count, k, span))
            case ir.Compare(op=op, left=ir.Count(events=events), right=ir.Const(value=k, type=Type.INT), span=span):
                if (op, k) in _EXISTS:
                    return ir.Exists(events, span)
                if (op, k) in _ABSENT:
                    return ir.Not(ir.Exists(events, span), span)
            case ir.Compare(op=op, left=ir.Const(type=Type.INT) as k, right=ir.SequenceCount() as count, span=span):
                return step(ir.Compare(_MIRROR[op], count, k, span))
            case ir.Compare(op=op, left=ir.SequenceCount(steps=steps), right=ir.Const(value=k, type=Type.INT),
                            span=span) if (op, k) in _EXISTS | _ABSENT:
                # a sequence occurs at least once exactly when its count is at least 1 (docs/language.md)
                exists = ir.Sequence(steps, span)
                return exists if (op, k) in _EXISTS else ir.Not(exists, span)
            case ir.And(items=items, span=span):
                return ir.And(_flatten(items, ir.And), span)
            case ir.Or(items=items, span=span):
                return ir.Or(_flatten(items, ir.Or), span)
            case ir.Not(operand=ir.Not(operand=inner)):
                return inner
        return n

    return transform(node, step)


_MIRROR = {"=": "=", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_EXISTS = {(">=", 1), (">", 0), ("!=", 0)}  # count <op> k that holds exactly when there is an event
_ABSENT = {("=", 0), ("<", 1), ("<=", 0)}  # ... exactly when there is none


def _flatten(items, kind) -> tuple:
    flat = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(flat)


def whole_days(node: ir.Expr) -> ir.Expr:
    """Where a date meets a timestamp, the date means its whole day: comparisons of instants instead.

    Every point in time is an interval of microseconds: a timestamp the one instant, a date (or a TIMESTAMP
    ``$parameter``, which may hold a date) the first to the last microsecond of its day (``ToTimestamp``), a window
    its ``[lo, hi]`` (``WindowBound``). A comparison compares intervals: ``a = b`` when they overlap, ``a < b``
    when ``a`` ends before ``b`` starts, ``a <= b`` when ``a`` starts before ``b`` ends; so ``t = D`` is any time
    on day D, ``t <= D`` includes all of D, ``t > D`` starts the next day, ``t < D`` and ``t >= D`` are D's
    midnight as written. ``between`` is ``>=`` and ``<=``, ``in`` a list of ``=``, and a date tested against a
    window is in it when any part of its day is. Comparisons between dates alone, or timestamps alone, keep their
    plain meaning. This is the only place that meaning is defined: windows' own bounds follow it too
    (``Bindings.instant_bounds``).
    """
    return transform(node, lower_points_in_time)


def lower_points_in_time(n):
    """One node of ``whole_days``: a comparison mixing dates and timestamps as comparisons of instants."""
    match n:
        case ir.Compare(op=op, left=left, right=right, span=span) if _mixed(left, right):
            return _compare_instants(op, left, right, span)
        case ir.InRange(operand=x, low=low, high=high, span=span) if _mixed(x, low) or _mixed(x, high):
            return ir.And((_compare_instants(">=", x, low, span), _compare_instants("<=", x, high, span)), span)
        case ir.InSet(operand=x, values=values, negated=negated, span=span) if any(_mixed(x, v) for v in values):
            hit = ir.Or(tuple(_compare_instants("=", x, v, span) for v in values), span)
            return ir.And((ir.IsNull(x, True, span), ir.Not(hit, span)), span) if negated else hit
        case ir.InWindow(operand=x, window=window, span=span) if x.type is Type.DATE:
            first, last = _instants(x)
            return ir.And(
                (
                    ir.Compare(">=", last, ir.WindowBound(window, False), span),
                    ir.Compare("<=", first, ir.WindowBound(window, True), span),
                ),
                span,
            )
    return n


def _mixed(a: ir.Expr, b: ir.Expr) -> bool:
    """Whether comparing ``a`` with ``b`` may compare a day with an instant."""
    if not (a.type.is_temporal and b.type.is_temporal):
        return False
    return a.type is not b.type or any(isinstance(x, ir.Param) and x.type is Type.TIMESTAMP for x in (a, b))


def _instants(x: ir.Expr) -> tuple[ir.Expr, ir.Expr]:
    """The first and last instant of a point in time."""
    if x.type is Type.DATE or isinstance(x, ir.Param):
        return ir.ToTimestamp(x, False, x.span), ir.ToTimestamp(x, True, x.span)
    return x, x


def _compare_instants(op: str, a: ir.Expr, b: ir.Expr, span) -> ir.Expr:
    (a_first, a_last), (b_first, b_last) = _instants(a), _instants(b)
    match op:
        case "<":
            return ir.Compare("<", a_last, b_first, span)
        case "<=":
            return ir.Compare("<=", a_first, b_last, span)
        case ">":
            return ir.Compare(">", a_first, b_last, span)
        case ">=":
            return ir.Compare(">=", a_last, b_first, span)
        case "=":
            return ir.And((ir.Compare("<=", a_first, b_last, span), ir.Compare(">=", a_last, b_first, span)), span)
        case "!=":
            return ir.Or((ir.Compare("<", a_last, b_first, span), ir.Compare(">", a_first, b_last, span)), span)
    raise AssertionError(op)


_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def fold_constants(node: ir.Expr) -> ir.Expr:
    """Compute what does not depend on contacts: ``2 * 3`` -> ``6``, ``x and true`` -> ``x``.

    Division is left alone when it would divide by zero (the result is null at run time, not an error).
    """

    def step(n):
        match n:
            case ir.Arith(op=op, left=ir.Const(value=a), right=ir.Const(value=b), type=t, span=span):
                if op == "/":
                    return n if b == 0 else ir.Const(a / b, t, span)
                return ir.Const(_ARITH[op](a, b), t, span)
            case ir.Negate(operand=ir.Const(value=a), type=t, span=span):
                return ir.Const(-a, t, span)
            case ir.Compare(op=op, left=ir.Const(value=a), right=ir.Const(value=b), span=span):
                return ir.Const(bool(_COMPARE[op](a, b)), Type.BOOL, span)
            case ir.Not(operand=ir.Const(value=a, type=Type.BOOL), span=span):
                return ir.Const(not a, Type.BOOL, span)
            case ir.And(items=items, span=span):
                return _fold_connective(items, ir.And, absorbing=False, span=span)
            case ir.Or(items=items, span=span):
                return _fold_connective(items, ir.Or, absorbing=True, span=span)
        return n

    return transform(node, step)


def _fold_connective(items, kind, absorbing: bool, span):
    """``and``: false absorbs, true vanishes; ``or``: the other way round."""
    kept = []
    for item in items:
        if isinstance(item, ir.Const) and item.type is Type.BOOL:
            if item.value is absorbing:
                return ir.Const(absorbing, Type.BOOL, span)
            continue
        kept.append(item)
    if not kept:
        return ir.Const(not absorbing, Type.BOOL, span)
    return kept[0] if len(kept) == 1 else kind(tuple(kept), span)


def utc_days(node: ir.Expr) -> ir.Expr:
    """A date's first or last instant as a constant, where every contact is in UTC (a schema without time zones):
    ``ToTimestamp(2026-06-30)`` -> ``2026-06-30T00:00:00Z``. With zones that instant is the contact's own midnight,
    worked out per zone at evaluation (runtime/zoneddays.py)."""

    def step(n):
        match n:
            case ir.ToTimestamp(operand=ir.Const(value=value, type=Type.DATE), last=last, span=span):
                instant = dt.datetime.combine(value, dt.time.max if last else dt.time(), tzinfo=dt.UTC)
                return ir.Const(instant, Type.TIMESTAMP, span)
        return n

    return transform(node, step)


def dated(node: ir.Window | ir.Expr) -> bool:
    """Whether a window or a point in time has a value that ``utc_days`` would fix and zones move: a window with a
    date bound, a date's first or last instant (a TIMESTAMP ``$parameter`` may hold a date)."""
    match node:
        case ir.Since(start=p) | ir.Before(end=p):
            return _a_day(p)
        case ir.DateRange(start=a, end=b):
            return _a_day(a) or _a_day(b)
        case ir.WindowBound(window=window):
            return dated(window)
        case ir.ToTimestamp():
            return True
    return False


def _a_day(point: ir.Expr) -> bool:
    return point.type is Type.DATE or isinstance(point, ir.Param)


def optimise(node: ir.Expr, definitions: Mapping[str, ir.Expr], zoned: bool = False) -> ir.Expr:
    """The pipeline evaluators run on: definitions inlined, dates against timestamps as whole days, shorthand
    normalised, constants folded (``zoned``: the schema gives contacts time zones, so a date's instants are left
    for evaluation)."""
    node = inline_definitions(node, definitions)
    for pass_ in PASSES if zoned else UTC_PASSES:
        node = pass_(node)
    return node


PASSES = (whole_days, normalise, fold_constants)
UTC_PASSES = (whole_days, normalise, utc_days, fold_constants)
