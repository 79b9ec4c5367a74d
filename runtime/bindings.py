"""Everything a rule's values depend on at evaluation time: ``now``, ``$parameters``, and the windows they fix.

Both evaluators take their numbers from here, so a window means the same thing to each of them. Windows become
closed intervals ``[lo, hi]`` of int64 microseconds, always cut at ``now`` (events after ``now`` never count).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from ..compiler import ir
from ..compiler.schema import Schema
from ..compiler.types import Type, in_utc
from ..dsl.errors import ParamError, did_you_mean
from ..dsl.lexicon import parse_duration
from ..dsl.limits import INT64_MIN
from .timeutil import US_PER_DAY, coerce_now, date_to_us, minus_us, to_us


@dataclass(frozen=True)
class Bindings:
    now: dt.datetime
    now_us: int
    params: Mapping[str, object]  # name -> value converted for its type (see ``convert``)

    def value(self, node: ir.Const | ir.Param | ir.ToTimestamp | ir.WindowBound) -> object:
        """A constant or parameter as the evaluators use it: timestamps in µs, dates in days, durations as-is; the
        first or last µs of a point in time (``ToTimestamp``) or of a window (``WindowBound``)."""
        if isinstance(node, ir.ToTimestamp):
            return self.instant_bounds(node.operand)[node.last]
        if isinstance(node, ir.WindowBound):
            return self.window(node.window)[node.last]
        raw = self.params[node.name] if isinstance(node, ir.Param) else node.value
        if node.type is Type.TIMESTAMP:
            return to_us(raw) if isinstance(raw, dt.datetime) else date_to_us(raw)
        if node.type is Type.DATE:
            return (raw - dt.date(1970, 1, 1)).days
        return raw

    def instant_bounds(self, node: ir.Const | ir.Param) -> tuple[int, int]:
        """A point in time as [first µs, last µs]: a whole day for a date, one instant for a timestamp (the
        meaning of dates against timestamps everywhere: ``passes.whole_days``)."""
        raw = node.value if isinstance(node, ir.Const) else self.params[node.name]
        if isinstance(raw, dt.datetime):
            us = to_us(raw)
            return us, us
        start = date_to_us(raw)
        return start, start + US_PER_DAY - 1

    def window(self, window: ir.Window) -> tuple[int, int]:
        """The closed interval ``[lo, hi]`` in µs that ``window`` selects at ``now``."""
        now = self.now_us
        match window:
            case ir.AllTime():
                lo, hi = INT64_MIN, now
            case ir.Within(duration=d):  # a start before every instant a store can hold is all time
                lo, hi = max(minus_us(self.now, self.value(d)) + 1, INT64_MIN), now
            case ir.BeforeAgo(duration=d):  # an end before every such instant selects nothing
                lo, hi = INT64_MIN, minus_us(self.now, self.value(d))
                if hi < INT64_MIN:
                    lo, hi = INT64_MIN + 1, INT64_MIN
            case ir.Since(start=p):
                lo, hi = self.instant_bounds(p)[0], now
            case ir.Before(end=p):
                lo, hi = INT64_MIN, self.instant_bounds(p)[0] - 1
            case ir.DateRange(start=a, end=b):
                lo, hi = self.instant_bounds(a)[0], self.instant_bounds(b)[1]
            case _:
                raise TypeError(f"not a window: {window!r}")
        return lo, min(hi, now)


def bind(rule: ir.Expr, now, params: Mapping[str, object] | None, schema: Schema | None = None) -> Bindings:
    """Check and convert ``params`` against what ``rule`` needs (and, given ``schema``, against the declared values
    of the categories they are compared with); fix ``now``."""
    now = coerce_now(now)
    needed = ir.params(rule)
    if params is not None and not isinstance(params, Mapping):
        raise ParamError(f"params must be a mapping of names to values, not {type(params).__name__}")
    given = dict(params or {})
    odd = [name for name in given if not isinstance(name, str)]
    if odd:
        raise ParamError(f"parameter names are text, not {type(odd[0]).__name__} ({odd[0]!r})")
    missing = sorted(set(needed) - set(given))
    if missing:
        raise ParamError(
            "missing parameter(s): " + ", ".join("$" + m for m in missing)
            + f"; this rule takes {', '.join('$' + n for n in sorted(needed))}"
        )
    unknown = sorted(set(given) - set(needed))
    if unknown:
        takes = ", ".join("$" + n for n in sorted(needed)) or "no parameters"
        raise ParamError(f"unknown parameter(s): {', '.join('$' + u for u in unknown)}; this rule takes {takes}")
    converted = {name: convert(name, given[name], type_) for name, type_ in needed.items()}
    if schema is not None and Type.STRING in needed.values():
        check_categories(rule, converted, schema)
    return Bindings(now, to_us(now), converted)


def check_categories(rule: ir.Expr, params: Mapping[str, object], schema: Schema) -> None:
    """A text parameter compared with a category must be one of its declared values, as a literal must be (the
    binder's check): a misspelt value is an error, not a silent match of nothing."""
    parts = rule.items if isinstance(rule, ir.And) else (rule,)  # evaluate_many binds And(its plans), made anew
    pairs = [pair for part in parts for pair in ir.fact(part, "compared parameters", _compared_parameters)]
    for field, param in pairs:
        declared = _declared(field, schema)
        value = params[param.name]
        if declared is None or value in declared:
            continue
        close = did_you_mean(str(value), declared, cutoff=0.6)
        shown = ", ".join(declared[:12]) + (", ..." if len(declared) > 12 else "")
        raise ParamError(
            f"parameter ${param.name} is {value!r}, which is not a value of {field.name}"
            + (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "")
            + f" ({field.name} is one of: {shown})"
        )


def _compared_parameters(rule: ir.Expr) -> tuple[tuple[ir.Attr | ir.Prop, ir.Param], ...]:
    """The parameters a rule compares with an attribute or property, each with it."""
    pairs = []
    for node in ir.walk(rule):
        match node:
            case ir.Compare(left=ir.Attr() | ir.Prop() as field, right=ir.Param() as param):
                pairs.append((field, param))
            case ir.InSet(operand=ir.Attr() | ir.Prop() as field, values=values) | ir.HasTags(
                operand=ir.Attr() as field, values=values
            ):
                pairs.extend((field, v) for v in values if isinstance(v, ir.Param))
    return tuple(pairs)


def _declared(field: ir.Attr | ir.Prop, schema: Schema) -> tuple[str, ...] | None:
    if isinstance(field, ir.Attr):
        spec = schema.attributes.get(field.name)
    else:
        spec = schema.events[field.event].properties.get(field.name) if field.event in schema.events else None
    return None if spec is None else spec.values


def _exact_float(value: int) -> bool:
    """Whether a float64 holds the integer ``value`` exactly."""
    try:
        return float(value) == value
    except OverflowError:
        return False


def convert(name: str, value: object, type_: Type) -> object:
    """A parameter's value for its place: numbers as float, times as µs or a date, durations as Duration."""
    what = f"parameter ${name}"
    match type_:
        case Type.FLOAT | Type.INT:
            if isinstance(value, bool) or not isinstance(value, str | numbers.Real):
                raise ParamError(f"{what} must be a number, got {type(value).__name__}")
            if isinstance(value, numbers.Integral) and not _exact_float(int(value)):
                raise ParamError(f"{what} is {_shown(int(value))}, which a number parameter (a 64-bit float) cannot "
                                 "hold exactly; whole numbers are exact up to 2^53")
            try:
                number = float(value)
            except ValueError:
                raise ParamError(f"{what} must be a number, got {_shown(value)}") from None
            if math.isnan(number):  # +-inf are numbers (as in data); NaN is none
                raise ParamError(f"{what} must be a number, got NaN")
            return number
        case Type.STRING:
            if not isinstance(value, str):
                raise ParamError(f"{what} must be text, got {type(value).__name__}")
            return value
        case Type.BOOL:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ParamError(f"{what} must be true or false, got {value!r}")
            return value
        case Type.TIMESTAMP | Type.DATE:
            given = value
            try:
                if isinstance(value, str):
                    value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
                if isinstance(value, dt.datetime) and value != value:  # pandas' NaT: a datetime that is no time
                    raise ValueError
                if isinstance(value, dt.datetime):
                    return in_utc(value)
            except (ValueError, OverflowError):
                raise ParamError(
                    f"{what} must be a date or timestamp (ISO 8601, in range in UTC), got {_shown(given)}"
                ) from None
            if isinstance(value, dt.date):
                return value
            raise ParamError(f"{what} must be a date or timestamp, got {type(value).__name__}")
        case Type.DURATION:
            if isinstance(value, ir.Duration):
                whole = isinstance(value.amount, int) and not isinstance(value.amount, bool)
                if not whole or value.amount < 0 or value.unit not in value.UNITS:
                    raise ParamError(f"{what} must be a duration of a whole, non-negative amount, got {value!r}")
                return value
            if isinstance(value, dt.timedelta):
                if value < dt.timedelta(0) or value.microseconds:
                    raise ParamError(f"{what} must be a whole, non-negative number of seconds, got {value}")
                return ir.Duration(value.days * 86_400 + value.seconds, "s")
            parsed = parse_duration(value) if isinstance(value, str) else None
            if parsed is None:
                raise ParamError(f"{what} must be a duration such as '7d' or '3mo', got {_shown(value)}")
            return ir.Duration(*parsed)
    raise ParamError(f"{what}: parameters of type {type_} are not supported")


def _shown(value: object) -> str:
    """A value in a message, cut short: a parameter may be a megabyte of text."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
