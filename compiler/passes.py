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
    """Compute what does not depend on contacts: ``2 * 3`` -> ``6``, ``x and true`` -> ``x``, dates at midnight.

    Division is left alone when it would divide by zero (the result is null at run time, not an error).
    """

    def step(n):
        match n:
            case ir.ToTimestamp(operand=ir.Const(value=value, type=Type.DATE), span=span):
                return ir.Const(dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC), Type.TIMESTAMP, span)
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


def optimise(node: ir.Expr, definitions: Mapping[str, ir.Expr]) -> ir.Expr:
    """The pipeline evaluators run on: definitions inlined, shorthand normalised, constants folded."""
    node = inline_definitions(node, definitions)
    for pass_ in PASSES:
        node = pass_(node)
    return node


PASSES = (normalise, fold_constants)
