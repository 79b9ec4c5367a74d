"""Condition counts for rule editors: for every part of a rule, how many contacts it holds for.

``Segment.profile(store, now)`` (and ``segmint eval RULE --profile``) evaluates the rule as written once, with the
vector engine (no kernel to compile: a rule just typed answers at once), and keeps the mask of every part on the
way up: a condition's mask is evaluated, an ``and``/``or``/``not`` combines its parts' masks (nothing is evaluated
twice). Each part reports its count; each ``and`` also its *funnel*: the count after its first condition, after the
first two, ... (in the order written), i.e. how each condition narrows the segment.

Parts: ``and``, ``or``, ``not`` and conditions (every other node, a definition's name included). A node kind whose
own parts are worth counting registers a function giving them in ``STEPS``: those are counted under it as parts of
kind "step". Sequences do: under ``a then b within 1h then c within 7d`` (and ``count(a then b ...) >= k``) come
``a``, ``a then b within 1h`` and the whole sequence, how many contacts reach step 1, steps 1-2, ... .
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..compiler import ir
from ..compiler.formatter import format_ir
from ..compiler.schema import Schema
from .bindings import Bindings
from .engines import overflow
from .engines.vector import VectorEvaluator
from .store.columns import Store

# node type -> the sub-conditions of a node of that kind to count under it (each a condition on contacts)
STEPS: dict[type, Callable[[ir.Expr], tuple[ir.Expr, ...]]] = {}


def sequence_steps(steps: tuple[ir.Step, ...]) -> tuple[ir.Expr, ...]:
    """How far contacts get through a sequence: step 1 (an event of the first step, in its window), steps 1-2 (the
    sequence of the first two), ..., all the steps; each count is at most the one before. A negated last step is
    counted with the steps before it (``viewed then not bought within 1d``: step 1 is ``viewed``, steps 1-2 the
    whole abandonment)."""
    first = steps[0].events
    return (ir.Exists(first, first.span), *(ir.Sequence(steps[:k]) for k in range(2, len(steps) + 1)))


def _compared_sequence_steps(node: ir.Compare) -> tuple[ir.Expr, ...]:
    """``count(a then b) >= 2``: how many contacts reach each step at least once."""
    counted = node.left if isinstance(node.left, ir.SequenceCount) else node.right
    return sequence_steps(counted.steps) if isinstance(counted, ir.SequenceCount) else ()


STEPS[ir.Sequence] = lambda node: sequence_steps(node.steps)
STEPS[ir.Compare] = _compared_sequence_steps


@dataclass(frozen=True)
class Part:
    """A part of the rule: its canonical ``text``, ``kind`` ("and", "or", "not", "condition", or "step": the first
    steps of a sequence, under it), the ``count`` of
    contacts it holds for, its parts, and for an ``and`` the ``funnel``: the count after each successive part."""

    text: str
    kind: str
    count: int
    children: tuple[Part, ...] = ()
    funnel: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "kind": self.kind,
            "count": self.count,
            "funnel": list(self.funnel) if self.funnel is not None else None,
            "children": [child.to_dict() for child in self.children],
        }


@dataclass(frozen=True)
class Profile:
    """The counts of every part of a rule on a store at ``now`` (``rule`` is the whole rule's part)."""

    rule: Part
    contacts: int

    def to_dict(self) -> dict:
        return {"contacts": self.contacts, "rule": self.rule.to_dict()}

    def lines(self) -> list[str]:
        """A table: the count of each part, and after it, for the parts of an ``and``, the count so far."""
        rows: list[tuple[str, str, str]] = []

        def add(part: Part, depth: int, after: int | None) -> None:
            rows.append((f"{part.count:,}", "" if after is None else f"{after:,}", "  " * depth + part.text))
            funnel = part.funnel or (None,) * len(part.children)
            for child, so_far in zip(part.children, funnel, strict=True):
                add(child, depth + 1, so_far)

        add(self.rule, 0, None)
        width = max(len("contacts"), *(len(r[0]) for r in rows))
        after = max(len("so far"), *(len(r[1]) for r in rows))
        header = f"{'contacts':>{width}}  {'so far':>{after}}  part (of {self.contacts:,} contacts)"
        return [header, *(f"{c:>{width}}  {a:>{after}}  {t}" for c, a, t in rows)]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def profile(node: ir.Expr, plan: ir.Expr, store: Store, bindings: Bindings, definitions: Mapping[str, ir.Expr],
            schema: Schema) -> Profile:
    """The profile of the rule ``node`` as written (``plan``: its optimised form, checked for integer overflow as
    every engine does)."""
    overflow.check((plan,), store, bindings)
    evaluator = VectorEvaluator(store, bindings, definitions)
    part, _ = _part(node, evaluator, schema)
    return Profile(part, len(store))


def _part(node: ir.Expr, evaluator: VectorEvaluator, schema: Schema) -> tuple[Part, np.ndarray]:
    text = format_ir(node, schema)
    match node:
        case ir.And(items=items) | ir.Or(items=items):
            parts, masks = zip(*(_part(item, evaluator, schema) for item in items), strict=True)
            combine = np.logical_and if isinstance(node, ir.And) else np.logical_or
            if isinstance(node, ir.And):
                so_far = combine.accumulate(np.stack(masks), axis=0)
                funnel = tuple(int(np.count_nonzero(row)) for row in so_far)
                mask = so_far[-1]
            else:
                funnel, mask = None, combine.reduce(np.stack(masks), axis=0)
            kind = "and" if isinstance(node, ir.And) else "or"
            return Part(text, kind, int(np.count_nonzero(mask)), parts, funnel), mask
        case ir.Not(operand=operand):
            inner, mask = _part(operand, evaluator, schema)
            mask = ~mask
            return Part(text, "not", int(np.count_nonzero(mask)), (inner,)), mask
    mask = evaluator.mask(node)
    steps = STEPS.get(type(node))
    children = tuple(
        Part(format_ir(step, schema), "step", int(np.count_nonzero(evaluator.mask(step)))) for step in steps(node)
    ) if steps else ()
    return Part(text, "condition", int(np.count_nonzero(mask)), children), mask
