"""Sequences in the kernel plan (``viewed then bought within 7d``, ``... then not bought within 1d``,
``count(...)``): which the fused kernel scans inline (its source: sequence_scan.py) and which are left to the generic
scan before the kernel runs (runtime/engines/sequences.py ``scan_counts``).

Every shape (any number of steps, a negated last step, counted or not) is scanned inline, but for ``same PROP`` on
a property that is not a string: the inline scan keeps the reach of the step before per code of a string's
dictionary; numbers, dates and times have no dictionary, and the generic scan (which makes a code space over all
their values) counts those sequences before the kernel runs.
"""

from __future__ import annotations

from .. import ir
from .plan import PropColumn, SequenceScan, StoreFacts


def inline(node: ir.Sequence | ir.SequenceCount, facts: StoreFacts) -> bool:
    """Whether the kernel scans ``node`` itself: unless a step has ``same`` on a property that is not a string."""
    return all(step.same is None or facts.strings(PropColumn(step.events.event, step.same)) for step in node.steps)


def scans(plans: tuple[ir.Expr, ...], facts: StoreFacts) -> tuple[SequenceScan, ...]:
    """Every sequence of the plans, once, with how it is scanned."""
    found = {
        node: SequenceScan(node, inline(node, facts))
        for plan in plans
        for node in ir.walk(plan)
        if isinstance(node, ir.Sequence | ir.SequenceCount)
    }
    return tuple(found.values())


def event_sets(node: ir.Expr):
    """The event sets whose events decide ``node`` for a contact that has none of them in their windows: those of
    ``ir.walk`` except a sequence's later steps (no event of its first step in its window, no occurrence, whatever
    the contact's other events)."""
    match node:
        case ir.Sequence(steps=steps) | ir.SequenceCount(steps=steps):
            yield steps[0].events
            return
        case ir.EventSet():
            yield node
    for child in ir.children(node):
        yield from event_sets(child)
