"""Binding sequences (``viewed then bought same category within 7d``): the syntax of ``then`` -> ``ir.Sequence``.

Kept apart from the binder, which calls ``sequence`` for a ``then`` chain (and ``count(...)`` of one); every check
here gives a ``RuleError`` with the caret on the offending step and a hint. The meaning is in docs/language.md
("Sequences") and the engines' scan in runtime/engines/sequences.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dsl import syntax as s
from . import ir
from .types import Type

if TYPE_CHECKING:
    from .binder import Binder

FIXED_UNITS = ("s", "min", "h", "d", "w")  # a step's window is measured from an event: no calendar units


def sequence(binder: Binder, node: s.Sequence, counted: bool) -> tuple[ir.Step, ...]:
    """The steps of ``node``, checked: events of the contact, later steps after ``then`` with an optional ``same``
    and ``within``, a ``not`` only on the last step (and not under ``count``)."""
    steps = [ir.Step(first_events(binder, node.first), span=getattr(node.first, "span", None))]
    previous = steps[0].events
    for position, step in enumerate(node.steps):
        subject = step.subject
        if subject.prop is not None or subject.name not in binder.verbs:
            raise binder.error(
                f"'then' joins events, but '{_text(binder, subject)}' is not an event verb",
                subject,
                hint="each step after then is a verb with optional filters, same PROP and within D, "
                "e.g. viewed then bought within 7d",
            )
        events = binder.event_set(subject, None)
        within = _within(binder, step)
        if step.negated:
            if position != len(node.steps) - 1:
                raise binder.error(
                    "only the last step of a sequence can be negated", step,
                    hint="not ... means no such event followed: it ends the sequence",
                )
            if within is None:
                raise binder.error(
                    "a negated step needs a window: how long after the previous step to wait", step,
                    hint=f"e.g. then not {subject.name} within 1d",
                )
            if counted:
                raise binder.error(
                    "count() takes sequences of events that happened; this one ends with 'not'", step,
                    hint="count the sequence without its last step, or test the sequence itself",
                )
        same = _same(binder, step, previous, events) if step.same is not None else None
        steps.append(ir.Step(events, within, same, step.negated, step.span))
        previous = events
    return tuple(steps)


def first_events(binder: Binder, first: s.Node) -> ir.EventSet:
    """The first step: a verb with filters and any window (``viewed category=iPhones within 30d``)."""
    match first:
        case s.Subject(name=name, prop=None) if name in binder.verbs:
            return binder.event_set(first, None)
        case s.Condition(subject=s.Subject(name=name, prop=None)) if name in binder.verbs:
            expr = binder.bind_condition(first)
            if isinstance(expr, ir.Exists):
                return expr.events
            raise binder.error(
                "a sequence's first step is an event, not a count", first,
                hint="to count whole sequences: count(viewed then bought within 7d) >= 2",
            )
        case s.Not():
            raise binder.error(
                "a sequence cannot start with 'not'", first,
                hint="to negate the whole sequence: not (viewed then bought within 7d)",
            )
        case s.Sequence():
            raise binder.error(
                "a sequence cannot be a step of another", first,
                hint="write the steps in one chain: a then b within 1d then c within 7d",
            )
    raise binder.error(
        "'then' joins events, but the condition before it is not an event", first,
        hint="a sequence is verbs with filters: viewed category=iPhones then bought within 7d",
    )


def _within(binder: Binder, step: s.Step) -> ir.Const | ir.Param | None:
    if step.within is None:
        return None
    bound = binder.bound(step.within, Type.DURATION)
    if isinstance(bound, ir.Const) and bound.value.unit not in FIXED_UNITS:
        raise binder.error(
            f"a step's window is a fixed length, but {bound.value} is a calendar unit", step.within,
            hint="write it in s, min, h, d or w (e.g. 30d for a month)",
        )
    return bound


def _same(binder: Binder, step: s.Step, previous: ir.EventSet, events: ir.EventSet) -> str:
    name = step.same
    before, here = binder.schema.events[previous.event], binder.schema.events[events.event]
    missing = [e.verb for e in (before, here) if name not in e.properties]
    if missing:
        shared = sorted(set(before.properties) & set(here.properties))
        raise binder.name_error(
            f"'same {name}' needs a property both steps have, but '{missing[0]}' has no property '{name}'",
            step,
            hint=f"{before.verb} and {here.verb} share: {', '.join(shared)}" if shared else
            f"{before.verb} and {here.verb} have no property in common",
        )
    a, b = before.properties[name].type, here.properties[name].type
    if a is not b:
        raise binder.type_error(
            f"'same {name}' compares {before.verb}.{name} ({a}) with {here.verb}.{name} ({b})", step,
            hint="same compares a property of one type in both steps",
        )
    return name


def _text(binder: Binder, node) -> str:
    span = getattr(node, "span", None)
    return binder.source[span.start : span.end] if span is not None else str(node)
