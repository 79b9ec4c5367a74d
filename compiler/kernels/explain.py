"""A kernel plan as text, like an EXPLAIN: what each rule's first loop decides and how, the order of its
conditions, the passes over event types, what is memoised and prefetched, and the facts of the store it relies on.

Conditions print as ``formatter.format_plan`` writes them (event types, not verbs), so the plan reads without a
schema. It is for people and tests, never for code: no text here reaches a kernel's source.
"""

from __future__ import annotations

from .. import ir
from ..formatter import format_plan
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
    SameSize,
    ScratchSize,
    StepGap,
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
    if plan.sequences:
        lines.append("sequences:")
    for scan in plan.sequences:
        how = "scanned inline, one pointer per step" if scan.inline else "counted before the kernel (generic scan)"
        lines.append(f"  {format_plan(scan.node)}: {how}")
    if plan.tests:
        lines.append("event tests:")
    for test in plan.tests:
        how = {"scan": "scan to the first match", "at least": "n-th latest event", "block": "block count"}[test.how]
        start = "" if test.how == "block" else (", search for the start" if test.searches_start else ", from the first")
        memo = f", memoised ({test.uses} uses)" if test.uses > 1 else ""
        lines.append(f"  {format_plan(test.node)}: {how}{start}{memo}")
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
    lines += [f"  ki[{n}] = {explain_number(item)}" for n, item in enumerate(ints)]
    lines += [f"  kf[{n}] = {explain_number(item)}" for n, item in enumerate(floats)]
    return "\n".join(lines)


def explain_number(item) -> str:
    match item:
        case IntValue(node=node) | FloatValue(node=node):
            return format_plan(node)
        case StringMask(column=column, predicate=predicate):
            return f"bits of the {column} values for which {format_plan(predicate)}"
        case AgeCut(bound=bound, extra=extra):
            return f"latest birth day of age {format_plan(bound)}{f' + {extra}' if extra else ''}"
        case WindowStart(window=window):
            return f"start of{_window(window) or ' all time'}"
        case WindowEnd(window=window):
            return f"end of{_window(window) or ' all time'}"
        case ActiveStart(event=event, windows=windows) | GroupStart(event=event, windows=windows):
            return f"earliest start of the {event} windows{','.join(_window(w) or ' all time' for w in windows)}"
        case SameSize(column=column):
            return f"values of {column} (a table per value of same)"
        case StepGap(within=within):
            return f"a step's within {format_plan(within)} (µs)"
        case GroupEnd(event=event, windows=windows):
            return f"latest end of the {event} windows{','.join(_window(w) or ' all time' for w in windows)}"
    return {
        NowMicros: "now (µs)",
        NowYear: "now's year",
        NowMonthDay: "now's month * 100 + day",
        ScratchSize: "largest dictionary a distinct count marks, + 1",
    }[type(item)]


def _rule(rule: RulePlan, plan: KernelPlan) -> list[str]:
    lines = [f"rule {rule.index}: {format_plan(rule.expr)}"]
    if isinstance(rule.expr, ir.And | ir.Or):
        order = sorted(rule.expr.items, key=plan.costs.__getitem__)
        lines.append("  order: " + ", ".join(f"{format_plan(item)} [{plan.costs[item]}]" for item in order))
    if rule.cheap is not None:
        lines.append(f"  kept from the first loop: {format_plan(rule.cheap)}")
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
            return [f"{pad}own columns and block measures: {format_plan(node)}"]
        case ByLastEvent(node=node):
            return [f"{pad}last event time: {format_plan(node)}"]
        case ByNoEvents(node=node, reads=reads):
            types = ", ".join(event for event, _ in reads)
            return [f"{pad}when no {types} event since the windows' start: {format_plan(node)}"]
        case Undecided(node=node):
            return [f"{pad}undecided: {format_plan(node)}"]
    raise TypeError(decision)


def _pass(group: EventPass) -> list[str]:
    if group.blocked:
        how = "per block of contacts (sparse)"
    else:
        how = f"per contact, pass d{group.group}" + (", eager" if group.eager else ", where first needed")
    lines = [f"  {group.event}: {how}"]
    for entry in group.sets:
        lines.append(f"    set {entry.index}: {format_plan(entry.events)}")
        lines += [f"      {_measure(m)}" for m in entry.measures]
    return lines


def _measure(m: Measure) -> str:
    prefix = "bk" if m.blocked else ("mf" if m.dtype == "float64" else "mi")
    of = f"({m.prop.name})" if m.prop is not None else ""
    counted = f", values counted in {'bk' if m.blocked else 'mi'}{m.n}" if m.n is not None else ""
    return f"{m.kind}{of}: {m.dtype} in {prefix}{m.out}{counted}"


def _window(window: ir.Window) -> str:
    return "" if isinstance(window, ir.AllTime) else " " + format_plan(window)
