"""Why one contact is in or out of a segment: every part of the rule with its value for that contact."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..compiler import ir
from ..compiler.formatter import format_ir
from ..compiler.schema import Schema
from ..compiler.types import Type, iso_z
from .bindings import Bindings, bind
from .engines.reference import Evaluator, Vec
from .nextchange import Candidates
from .store.columns import Store
from .timeutil import from_us

CONTACT_CHECKS = 256  # candidate instants one contact's next change may evaluate (each a one-row evaluation)
RANKED_CHECKS = 16  # the same for a rule that ranks: each check evaluates the whole store


@dataclass(frozen=True)
class NextChange:
    """When one contact's membership changes next with no new data: ``at`` (ISO, UTC), and whether it then
    ``enters`` (or leaves). ``certain`` False: the contact's candidate instants ran out of the budget first, so it
    does not change before ``at`` (it may at ``at`` or later)."""

    at: str
    enters: bool
    certain: bool = True

    def to_dict(self) -> dict:
        return {"at": self.at, "change": "enters" if self.enters else "leaves", "certain": self.certain}

    def sentence(self) -> str:
        verb = "enters" if self.enters else "leaves"
        if self.certain:
            return f"{verb} on {self.at} unless new data arrives"
        return f"{'out' if self.enters else 'in'} at least until {self.at} unless new data arrives"


@dataclass(frozen=True)
class Explanation:
    """``text`` of a part of the rule, its ``value`` for the contact (None = null) and the parts it is made of. The
    whole rule's explanation also says when the contact's membership changes next with no new data
    (``next_change``, None: never; ``timed``: it was asked)."""

    text: str
    value: object
    children: tuple[Explanation, ...] = ()
    next_change: NextChange | None = None
    timed: bool = False
    needed: bool = True  # False: a part the optimiser removed, whose parameters were not given (see ``explain``)

    def to_dict(self) -> dict:
        document = {"text": self.text, "value": self.value, "children": [c.to_dict() for c in self.children]}
        if not self.needed:
            document["needed"] = False
        if self.timed:
            document["next_change"] = None if self.next_change is None else self.next_change.to_dict()
        return document

    def lines(self, depth: int = 0) -> list[str]:
        mark = {True: "yes", False: "no", None: "null"}.get(self.value) if isinstance(
            self.value, bool | type(None)) else repr(self.value)
        mark = mark if self.needed else "-"
        out = ["  " * depth + f"{mark:>5}  {self.text}"]
        for child in self.children:
            out.extend(child.lines(depth + 1))
        if self.timed:
            out.append(self.next_change.sentence() if self.next_change is not None else
                       f"stays {'in' if self.value else 'out'} unless new data arrives")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def with_next_change(self, next_change: NextChange | None) -> Explanation:
        return dataclasses.replace(self, next_change=next_change, timed=True)


def ranks(rule: ir.Expr, definitions: Mapping[str, ir.Expr]) -> bool:
    """Whether ``rule`` (or a definition it may use) ranks contacts among the population (percentile, RFM)."""
    return any(isinstance(n, ir.Rank | ir.Rfm) for e in (rule, *definitions.values()) for n in ir.walk(e))


def contact_next_change(plan: ir.Expr, store: Store, row: int, now: dt.datetime,
                        params: Mapping[str, object] | None, definitions: Mapping[str, ir.Expr],
                        checks: int = CONTACT_CHECKS) -> NextChange | None:
    """When the contact in ``row`` enters or leaves the segment next with no new data (None: never). Its candidate
    instants (runtime/nextchange.py: its own event times and time values, the rule's constants, plus window
    lengths) are checked in order on a one-contact store: membership is constant between them, so the first
    where it differs is exact; past ``checks`` evaluations, the next candidate is returned as not certain. A rule
    that ranks (percentile, RFM) depends on every contact's measures, so its candidates and checks are the whole
    store's, with at most ``RANKED_CHECKS`` evaluations."""
    ranked = ranks(plan, definitions)
    one, at_row = (store, row) if ranked else (store.slice(row, row + 1), 0)
    checks = min(checks, RANKED_CHECKS) if ranked else checks

    def member(at: dt.datetime) -> bool:
        return bool(Evaluator(one, bind(plan, at, params, store.schema), definitions).mask(plan)[at_row])

    bindings = bind(plan, now, params, store.schema)
    candidates = Candidates(plan, one, bindings)
    before = member(bindings.now)
    at = candidates.after(bindings.now_us)
    for _ in range(checks):
        if at is None:
            return None
        if member(from_us(at)) != before:
            return NextChange(iso_z(from_us(at)), not before)
        at = candidates.after(at)
    return None if at is None else NextChange(iso_z(from_us(at)), not before, certain=False)


def explain(node: ir.Expr, plan: ir.Expr, store: Store, row: int, bindings: Bindings,
            definitions: Mapping[str, ir.Expr], schema: Schema) -> Explanation:
    """``node``, the rule as written, part by part; ``bindings`` hold the parameters of ``plan``, the rule as it is
    evaluated: exactly those ``evaluate`` takes. A parameter of the rule as written that the optimiser removed from the
    plan (``$x > 1 and false``: the answer does not depend on it) has no value, so the parts that read it are shown
    as not needed (``needed`` False, value None), and the whole rule's value is the plan's."""
    # The reference evaluator works column-at-a-time: over the one contact, not the whole store.
    evaluator = Evaluator(store.slice(row, row + 1), bindings, definitions)
    unbound = frozenset(ir.params(node)) - set(bindings.params)
    evaluator.ranked = _ranked_at(node, store, row, bindings, definitions, unbound)
    if not unbound:
        return _explain(node, evaluator, 0, schema)
    evaluator.ranked |= _ranked_at(plan, store, row, bindings, definitions, unbound)
    member = bool(np.broadcast_to(evaluator.truth(plan, None), (evaluator.n,))[0])
    explained = _explain(node, evaluator, 0, schema, unbound)
    return dataclasses.replace(explained, value=member, needed=True)


def _ranked_at(node: ir.Expr, store: Store, row: int, bindings: Bindings, definitions: Mapping[str, ir.Expr],
               unbound: frozenset[str]) -> dict:
    """The population measures of the rule (and of the definitions it uses) for the contact: ranked among every
    contact of the store, not only the one the explanation evaluates; not those that read an ``unbound`` parameter."""
    whole = Evaluator(store, bindings, definitions)
    found = [n for root in (node, *definitions.values()) for n in ir.walk(root)
             if isinstance(n, ir.Rank | ir.Rfm) and unbound.isdisjoint(ir.params(n))]
    ranked = {}
    for n in dict.fromkeys(found):
        v = whole.population(n)
        ranked[n] = Vec(v.data[row : row + 1], v.valid[row : row + 1])
    return ranked


def _explain(node: ir.Expr, evaluator: Evaluator, row: int, schema: Schema,
             unbound: frozenset[str] = frozenset()) -> Explanation:
    text = format_ir(node, schema)
    if unbound and not unbound.isdisjoint(ir.params(node)):
        children = tuple(_explain(c, evaluator, row, schema, unbound) for c in _parts(node, evaluator))
        return Explanation(text, None, children, needed=False)
    if node.type is Type.BOOL:
        value = bool(np.broadcast_to(evaluator.truth(node, None), (evaluator.n,))[row])
    else:
        value = _value_at(evaluator, node, row)
    return Explanation(text, value, tuple(_explain(c, evaluator, row, schema) for c in _parts(node, evaluator)))


def _parts(node: ir.Expr, evaluator: Evaluator) -> list[ir.Expr]:
    """The parts worth showing: sub-conditions, definitions' bodies, and measured values (not constants)."""
    match node:
        case ir.And(items=items) | ir.Or(items=items):
            return list(items)
        case ir.Not(operand=x):
            return [x]
        case ir.Ref(name=name):
            return [evaluator.definitions[name]]
        case ir.Sequence(steps=steps) | ir.SequenceCount(steps=steps):  # how far the contact got: each first part
            return [ir.Exists(steps[0].events), *(ir.Sequence(steps[:k]) for k in range(2, len(steps)))]
    parts = []
    for child in ir.children(node):
        measured = (
            ir.Count | ir.Aggregate | ir.SequenceCount | ir.Func | ir.Arith | ir.Attr | ir.Ref | ir.Negate
            | ir.Rank | ir.Rfm
        )
        if isinstance(child, measured):
            parts.append(child)
        elif isinstance(child, ir.ToTimestamp):
            parts.append(child.operand)
    return parts


def _value_at(evaluator: Evaluator, node: ir.Expr, row: int) -> object:
    v = evaluator.vec(node, None)
    if node.type is Type.TAGS:
        column = v.column
        codes = column.values[column.offsets[row] : column.offsets[row + 1]]
        return sorted(column.dictionary[c] for c in codes)
    valid = np.broadcast_to(v.valid, (evaluator.n,))[row]
    if not valid:
        return None
    value = np.broadcast_to(v.data, (evaluator.n,))[row]
    if v.dictionary is not None:
        return v.dictionary[int(value)]
    if node.type is Type.TIMESTAMP:
        return iso_z(from_us(int(value)))
    if node.type is Type.DATE:
        return str(np.datetime64(int(value), "D"))
    return value.item() if hasattr(value, "item") else value
