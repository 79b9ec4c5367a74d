"""A kernel plan as text, like an EXPLAIN: what each rule's first loop decides and how, the order of its
conditions, the passes over event types, what is memoised and prefetched, and the facts of the store it relies on.

Conditions print in a compact form of the IR (event types, not verbs; ``any(...)`` for existence), so the plan reads
without a schema. It is for people and tests, never for code: no text here reaches a kernel's source.
"""

from __future__ import annotations

import datetime as dt

from .. import ir
from .plan import (
    ActiveStart,
    AgeCut,
    ByLastEvent,
    ByNoEvents,
    ByOwnColumns,
    Combined,
    Decision,
    EventPass,
    FloatValue,
    GroupEnd,
    GroupStart,
    IntValue,
    KernelPlan,
    Measure,
    Negated,
    NowMicros,
    NowMonthDay,
    NowYear,
    RulePlan,
    ScratchSize,
    StringMask,
    Undecided,
    WindowEnd,
    WindowStart,
)


def explain(plan: KernelPlan) -> str:
    lines = [f"kernel plan: {len(plan.rules)} rule{'s' if len(plan.rules) != 1 else ''}"]
    for rule in plan.rules:
        lines += _rule(rule, plan)
    lines.append("event passes:" if plan.passes else "event passes: none")
    for group in plan.passes:
        lines += _pass(group)
    if plan.tests:
        lines.append("event tests:")
    for test in plan.tests:
        how = {"scan": "scan to the first match", "at least": "n-th latest event", "block": "block count"}[test.how]
        start = "" if test.how == "block" else (", search for the start" if test.searches_start else ", from the first")
        memo = f", memoised ({test.uses} uses)" if test.uses > 1 else ""
        lines.append(f"  {text(test.node)}: {how}{start}{memo}")
    if plan.prefetch:
        lines.append(f"prefetched: {', '.join(plan.prefetch)}")
    if plan.nullable:
        lines.append(f"nullable columns: {', '.join(sorted(map(str, plan.nullable)))}")
    if plan.small:
        lines.append(f"small dictionaries (bit masks): {', '.join(sorted(map(str, plan.small)))}")
    return "\n".join(lines)


def explain_inputs(arrays: list, ints: list, floats: list) -> str:
    """A kernel's inputs by the names its source gives them (``A<n>`` arguments, ``ki[n]``, ``kf[n]``)."""
    lines = ["inputs:"]
    lines += [f"  A{n} = {item}" for n, item in enumerate(arrays)]
    lines += [f"  ki[{n}] = {_number(item)}" for n, item in enumerate(ints)]
    lines += [f"  kf[{n}] = {_number(item)}" for n, item in enumerate(floats)]
    return "\n".join(lines)


def _number(item) -> str:
    match item:
        case IntValue(node=node) | FloatValue(node=node):
            return text(node)
        case StringMask(column=column, predicate=predicate):
            return f"bits of the {column} values for which {text(predicate)}"
        case AgeCut(bound=bound, extra=extra):
            return f"latest birth day of age {text(bound)}{f' + {extra}' if extra else ''}"
        case WindowStart(window=window):
            return f"start of{_window(window) or ' all time'}"
        case WindowEnd(window=window):
            return f"end of{_window(window) or ' all time'}"
        case ActiveStart(event=event, windows=windows) | GroupStart(event=event, windows=windows):
            return f"earliest start of the {event} windows{','.join(_window(w) or ' all time' for w in windows)}"
        case GroupEnd(event=event, windows=windows):
            return f"latest end of the {event} windows{','.join(_window(w) or ' all time' for w in windows)}"
    return {
        NowMicros: "now (µs)",
        NowYear: "now's year",
        NowMonthDay: "now's month * 100 + day",
        ScratchSize: "largest dictionary a distinct count marks, + 1",
    }[type(item)]


def _rule(rule: RulePlan, plan: KernelPlan) -> list[str]:
    lines = [f"rule {rule.index}: {text(rule.expr)}"]
    if isinstance(rule.expr, ir.And | ir.Or):
        order = sorted(rule.expr.items, key=plan.costs.__getitem__)
        lines.append("  order: " + ", ".join(f"{text(item)} [{plan.costs[item]}]" for item in order))
    if rule.cheap is not None:
        lines.append(f"  kept from the first loop: {text(rule.cheap)}")
    lines.append("  first loop decides:")
    lines += _decision(rule.first, 2)
    lines.append("  second loop: " + ("the contacts left undecided" if rule.second else "none"))
    return lines


def _decision(decision: Decision, depth: int) -> list[str]:
    pad = "  " * depth
    match decision:
        case Combined(all_of=all_of, parts=parts):
            return [f"{pad}{'all of' if all_of else 'any of'}:", *(x for p in parts for x in _decision(p, depth + 1))]
        case Negated(part=part):
            return [f"{pad}not:", *_decision(part, depth + 1)]
        case ByOwnColumns(node=node):
            return [f"{pad}own columns and block measures: {text(node)}"]
        case ByLastEvent(node=node):
            return [f"{pad}last event time: {text(node)}"]
        case ByNoEvents(node=node, reads=reads):
            types = ", ".join(event for event, _ in reads)
            return [f"{pad}when no {types} event since the windows' start: {text(node)}"]
        case Undecided(node=node):
            return [f"{pad}undecided: {text(node)}"]
    raise TypeError(decision)


def _pass(group: EventPass) -> list[str]:
    if group.blocked:
        how = "per block of contacts (sparse)"
    else:
        how = f"per contact, pass d{group.group}" + (", eager" if group.eager else ", where first needed")
    lines = [f"  {group.event}: {how}"]
    for entry in group.sets:
        lines.append(f"    set {entry.index}: {text(entry.events)}")
        lines += [f"      {_measure(m)}" for m in entry.measures]
    return lines


def _measure(m: Measure) -> str:
    prefix = "bk" if m.blocked else ("mf" if m.dtype == "float64" else "mi")
    of = f"({m.prop.name})" if m.prop is not None else ""
    counted = f", values counted in {'bk' if m.blocked else 'mi'}{m.n}" if m.n is not None else ""
    return f"{m.kind}{of}: {m.dtype} in {prefix}{m.out}{counted}"


def text(node) -> str:
    """A compact, readable form of an IR node."""
    match node:
        case ir.Const(value=value):
            return repr(value) if isinstance(value, str) else _value(value)
        case ir.Param(name=name):
            return f"${name}"
        case ir.Attr(name=name):
            return name
        case ir.Prop(name=name):
            return name  # read with its event set, which names the type
        case ir.EventSet(event=event, where=where, window=window):
            filters = f" where {' and '.join(text(w) for w in where)}" if where else ""
            return f"{event}{filters}{_window(window)}"
        case ir.Exists(events=events):
            return f"any({text(events)})"
        case ir.Count(events=events):
            return f"count({text(events)})"
        case ir.Aggregate(function=function, events=events, prop=prop):
            return f"{function}({text(events) if prop is None else text(prop) + ' of ' + text(events)})"
        case ir.Arith(op=op, left=left, right=right):
            return f"({text(left)} {op} {text(right)})"
        case ir.Negate(operand=x):
            return f"-{text(x)}"
        case ir.Func(name=name, argument=x):
            return f"{name}({text(x)})"
        case ir.ToTimestamp(operand=x, last=last):
            return f"{'last' if last else 'first'} instant of {text(x)}"
        case ir.WindowBound(window=window, last=last):
            return f"{'end' if last else 'start'} of{_window(window)}"
        case ir.Compare(op=op, left=left, right=right):
            return f"{text(left)} {op} {text(right)}"
        case ir.InRange(operand=x, low=low, high=high):
            return f"{text(x)} between {text(low)} and {text(high)}"
        case ir.InSet(operand=x, values=values, negated=negated):
            return f"{text(x)} {'not in' if negated else 'in'} ({', '.join(text(v) for v in values)})"
        case ir.IsNull(operand=x, negated=negated):
            return f"{text(x)} is {'not ' if negated else ''}null"
        case ir.TextMatch(op=op, operand=x, pattern=pattern):
            return f"{text(x)} {op} {text(pattern)}"
        case ir.HasTags(operand=x, mode=mode, values=values):
            return f"{text(x)} has {mode} ({', '.join(text(v) for v in values)})"
        case ir.InWindow(operand=x, window=window):
            return f"{text(x)}{_window(window)}"
        case ir.And(items=items) | ir.Or(items=items):
            joiner = " and " if isinstance(node, ir.And) else " or "
            return joiner.join(f"({text(i)})" if isinstance(i, ir.And | ir.Or) else text(i) for i in items)
        case ir.Not(operand=x):
            return f"not ({text(x)})"
        case ir.TimePart(part=part):
            return f"local {part}"
        case ir.Upcoming(function=function, operand=x, duration=d):
            return f"{function}({text(x)}) within next {text(d)}"
        case ir.Regular(events=events, unit=unit, periods=periods, least=least):
            return f"{text(events)} in {least} of the last {periods} {unit}"
    return type(node).__name__


def _window(window: ir.Window) -> str:
    match window:
        case ir.AllTime():
            return ""
        case ir.Within(duration=d):
            return f" within {text(d)}"
        case ir.Since(start=s):
            return f" since {text(s)}"
        case ir.Before(end=e):
            return f" before {text(e)}"
        case ir.BeforeAgo(duration=d):
            return f" before {text(d)} ago"
        case ir.DateRange(start=a, end=b):
            return f" between {text(a)} and {text(b)}"
    return type(window).__name__


def _value(value) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
