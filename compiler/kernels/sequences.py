"""Sequences in the kernel plan (``viewed then bought within 7d``, ``... then not bought within 1d``,
``count(...)``): which the fused kernel scans inline (its source: sequence_scan.py) and which are left to the generic
scan before the kernel runs (runtime/engines/sequences.py ``scan_counts``).

``same PROP`` needs, per value of the property, the reach of the step before (the generic scan keeps a table per
code space): such sequences are left to the generic scan, counted before the kernel runs; every other shape (any
number of steps, a negated last step, counted or not) is scanned inline.
"""

from __future__ import annotations

from .. import ir
from .plan import SequenceScan


def inline(node: ir.Sequence | ir.SequenceCount) -> bool:
    """Whether the kernel scans ``node`` itself: every shape but ``same`` (left to the generic scan)."""
    return all(step.same is None for step in node.steps)


def scans(plans: tuple[ir.Expr, ...]) -> tuple[SequenceScan, ...]:
    """Every sequence of the plans, once, with how it is scanned."""
    found = {
        node: SequenceScan(node, inline(node))
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
