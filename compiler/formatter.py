"""Typed IR -> canonical rule text. ``parse(format(ir))`` binds to the same IR (tests/test_roundtrip.py).

Canonical means: keywords lower case, one space around operators, ``=`` and ``!=`` for equality, counts written
as ``verb filters op N times window``, values bare when they are plain words and "quoted" otherwise, the fewest
parentheses that keep the meaning.
"""

from __future__ import annotations

import dataclasses
import json
import math

from ..dsl.lexicon import is_name
from . import ir
from .schema import Schema
from .types import Type, iso_z

# Binding strength, loosest first: a child printed where a stronger level is needed gets parentheses.
OR, AND, THEN, NOT, CONDITION, SUM, PRODUCT, UNARY, ATOM = range(9)


def format_ir(node: ir.Expr, schema: Schema) -> str:
    """The canonical text of ``node``; ``schema`` gives the verbs of event types."""
    return _Printer({e.name: e.verb for e in schema.events.values()})._fmt(node, OR)


def format_plan(node: ir.Expr) -> str:
    """A node of an optimised plan as text for people (kernel plans, EXPLAIN), never to be parsed again: event types
    by name, so no schema is needed, and the nodes the passes add spelled out (``first instant of 2026-01-01``,
    ``start of within 30d``)."""
    return _Printer(None)._fmt(node, OR)


class _Printer:
    def __init__(self, verbs: dict[str, str] | None) -> None:
        self.verbs = verbs  # None: a plan, where event types go by their own names

    def _fmt(self, node, level: int) -> str:
        text, own = self._text(node)
        return f"({text})" if own < level else text


    def _text(self, node) -> tuple[str, int]:
        """The text of ``node`` and its binding level."""
        node = _weekday_names(node)
        match node:
            case ir.Or(items=items):
                return " or ".join(self._fmt(i, AND) for i in items), OR
            case ir.And(items=items):
                return " and ".join(self._fmt(i, THEN) for i in items), AND
            case ir.Not(operand=operand):
                return "not " + self._fmt(operand, NOT), NOT
            case ir.Sequence(steps=steps) | ir.SequenceCount(steps=steps) if self.verbs is None:
                # in kernel plans, a sequence reads as one condition (how it is scanned: the plan's "sequences")
                what = "any" if isinstance(node, ir.Sequence) else "count"
                return f"{what}({self._steps(steps)})", ATOM
            case ir.Sequence(steps=steps):
                return self._steps(steps), THEN
            case ir.SequenceCount(steps=steps):
                return f"count({self._steps(steps)})", ATOM
            case ir.Exists(events=events):
                return self._event_set(events), CONDITION
            case ir.Compare(op=op, left=ir.Count(events=events), right=right):
                return self._count_test(events, f"{op} {self._rhs(right, SUM)}"), CONDITION
            case ir.InRange(operand=ir.Count(events=events), low=low, high=high):
                return self._count_test(events, f"between {self._rhs(low, SUM)} and {self._rhs(high, SUM)}"), CONDITION
            case ir.Compare(op=op, left=left, right=right):
                return f"{self._fmt(left, SUM)} {op} {self._rhs(right, SUM)}", CONDITION
            case ir.InRange(operand=x, low=low, high=high):
                return f"{self._fmt(x, SUM)} between {self._rhs(low, SUM)} and {self._rhs(high, SUM)}", CONDITION
            case ir.InSet(operand=x, values=values, negated=negated):
                return f"{self._fmt(x, SUM)} {'not in' if negated else 'in'} {_list(values)}", CONDITION
            case ir.IsNull(operand=x, negated=negated):
                return f"{self._fmt(x, SUM)} is {'not null' if negated else 'null'}", CONDITION
            case ir.TextMatch(op=op, operand=x, pattern=pattern):
                return f"{self._fmt(x, SUM)} {op} {self._rhs(pattern, ATOM)}", CONDITION
            case ir.HasTags(operand=x, mode=mode, values=values):
                if mode == "one":
                    return f"{self._fmt(x, SUM)} has {self._rhs(values[0], ATOM)}", CONDITION
                return f"{self._fmt(x, SUM)} has {mode} {_list(values)}", CONDITION
            case ir.InWindow(operand=x, window=window):
                return f"{self._fmt(x, SUM)} {self._window(window)}", CONDITION
            case ir.Arith(op=op, left=left, right=right):
                level = SUM if op in "+-" else PRODUCT
                return f"{self._fmt(left, level)} {op} {self._fmt(right, level + 1)}", level
            case ir.Negate(operand=x):
                return "-" + self._fmt(x, UNARY), UNARY
            case ir.Count(events=events):
                return f"count({self._event_set(events)})", ATOM
            case ir.Aggregate(function=function, events=events, prop=prop):
                return f"{function}({self._event_set(events, prop)})", ATOM
            case ir.Func(name=name, argument=argument):
                return f"{name}({self._fmt(argument, OR)})", ATOM
            case ir.Rank(function=function, measure=measure):
                return f"{function}({self._fmt(measure, OR)})", ATOM
            case ir.Rfm(part=part, events=events, prop=prop):
                return f"{part}({self._event_set(events, prop)})", ATOM
            case ir.ToTimestamp(operand=x, last=last) if self.verbs is None:
                return f"{'last' if last else 'first'} instant of {self._fmt(x, ATOM)}", ATOM
            case ir.ToTimestamp(operand=x):
                return self._text(x)
            case ir.EventSet() if self.verbs is None:
                return self._event_set(node), ATOM
            case ir.Within() | ir.BeforeAgo() | ir.Since() | ir.Before() | ir.DateRange() if self.verbs is None:
                return self._window(node), ATOM
            case ir.WindowBound(window=window, last=last):
                return f"{'end' if last else 'start'} of {self._window(window)}", ATOM
            case ir.Attr(name=name) | ir.Ref(name=name):
                return name, ATOM
            case ir.Prop(name=name):
                return name, ATOM
            case ir.TimePart(part=part):
                return part, ATOM
            case ir.Regular(events=events, unit=unit, periods=periods, least=least):
                head = self._event_set(ir.EventSet(events.event, events.where, ir.AllTime()))
                window = "" if isinstance(events.window, ir.AllTime) else " " + self._window(events.window)
                how = "each" if least == periods else f"at least {least}"
                return f"{head} in {how} of the last {periods} {unit}{window}", CONDITION
            case ir.Upcoming(function=function, operand=x, duration=d):
                return f"{function}({self._fmt(x, OR)}) within next {self._fmt(d, ATOM)}", CONDITION
            case ir.Param(name=name):
                return "$" + name, ATOM
            case ir.Const():  # quoted if text: a bare word here would be read as a name
                return _const(node, bare=False), ATOM if not _negative(node) else UNARY
        raise TypeError(f"cannot format {node!r}")


    def _rhs(self, node, level: int) -> str:
        """The right-hand side of a test, where a bare word is a value (``gender = f``), never a name."""
        if isinstance(node, ir.Const) and node.type is Type.STRING:
            return _const(node)
        return self._fmt(node, level)

    def _count_test(self, events: ir.EventSet, test: str) -> str:
        head = self._event_set(ir.EventSet(events.event, events.where, ir.AllTime()))
        window = "" if isinstance(events.window, ir.AllTime) else " " + self._window(events.window)
        return f"{head} {test} times{window}"


    def _event_set(self, events: ir.EventSet, prop: ir.Prop | None = None) -> str:
        text = events.event if self.verbs is None else self.verbs[events.event]
        if prop is not None:
            text += "." + prop.name
        if events.where:
            text += " " + ", ".join(self._fmt(f, CONDITION) for f in events.where)
        if not isinstance(events.window, ir.AllTime):
            text += " " + self._window(events.window)
        return text


    def _steps(self, steps: tuple[ir.Step, ...]) -> str:
        """``first then [not] verb filters [same PROP] [within D] ...``."""
        parts = [self._event_set(steps[0].events)]
        for step in steps[1:]:
            text = ("not " if step.negated else "") + self._event_set(step.events)
            if step.same is not None:
                text += f" same {step.same}"
            if step.within is not None:
                text += f" within {self._fmt(step.within, ATOM)}"
            parts.append(text)
        return " then ".join(parts)

    def _window(self, window: ir.Window) -> str:
        match window:
            case ir.Within(duration=d):
                return f"within {self._fmt(d, ATOM)}"
            case ir.BeforeAgo(duration=d):
                return f"before {self._fmt(d, ATOM)} ago"
            case ir.Since(start=p):
                return f"since {self._fmt(p, ATOM)}"
            case ir.Before(end=p):
                return f"before {self._fmt(p, ATOM)}"
            case ir.DateRange(start=a, end=b):
                return f"between {self._fmt(a, ATOM)} and {self._fmt(b, ATOM)}"
        raise TypeError(f"cannot format window {window!r}")


def _weekday_names(node):
    """A test of an event's weekday with its numbers written as names (``weekday in (sat, sun)``)."""
    match node:
        case ir.Compare(left=ir.TimePart(part="weekday")) | ir.InRange(operand=ir.TimePart(part="weekday")) | ir.InSet(
            operand=ir.TimePart(part="weekday")
        ):
            def named(value):
                if isinstance(value, ir.Const) and value.type is Type.INT and 1 <= value.value <= len(ir.WEEKDAYS):
                    return ir.Const(ir.WEEKDAYS[value.value - 1], Type.STRING, value.span)
                return value

            changes = {
                f.name: (tuple(map(named, value)) if isinstance(value, tuple) else named(value))
                for f in dataclasses.fields(node)
                if f.name in ("right", "low", "high", "values") and (value := getattr(node, f.name)) is not None
            }
            return dataclasses.replace(node, **changes)
    return node


def _list(values) -> str:
    return "(" + ", ".join(_value(v) for v in values) + ")"


def _value(node: ir.Const | ir.Param) -> str:
    return "$" + node.name if isinstance(node, ir.Param) else _const(node)


def _negative(const: ir.Const) -> bool:
    return const.type.is_numeric and math.copysign(1, const.value) < 0  # -0.0 too: it prints with its sign


def _const(const: ir.Const, bare: bool = True) -> str:
    """A constant as written; text is a bare word when ``bare`` allows and the word is one."""
    value = const.value
    match const.type:
        case Type.BOOL:
            return "true" if value else "false"
        case Type.INT:
            return str(value)
        case Type.FLOAT:
            return repr(float(value))
        case Type.STRING:
            if bare and is_name(value):
                return value
            return json.dumps(value, ensure_ascii=False)
        case Type.DATE:
            return value.isoformat()
        case Type.TIMESTAMP:
            return iso_z(value)
        case Type.DURATION:
            return str(value)
    raise TypeError(f"cannot format constant {const!r}")


