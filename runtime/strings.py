"""What a string predicate means for one string: the single definition both evaluators use (over dictionaries)."""

from __future__ import annotations

import operator
from collections.abc import Callable

from ..compiler import ir
from .bindings import Bindings

OPS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def string_test(node: ir.Expr, bindings: Bindings) -> Callable[[str], bool]:
    """The test a string (a dictionary entry) must pass for ``node`` to hold; nulls are handled by the caller."""
    match node:
        case ir.Compare(op=op, right=right):
            value = bindings.value(right)
            return lambda s: OPS[op](s, value)
        case ir.InSet(values=values, negated=negated):
            wanted = frozenset(bindings.value(v) for v in values)
            return (lambda s: s not in wanted) if negated else (lambda s: s in wanted)
        case ir.TextMatch(op=op, pattern=pattern):
            text = bindings.value(pattern)
            return {
                "contains": lambda s: text in s,
                "startswith": lambda s: s.startswith(text),
                "endswith": lambda s: s.endswith(text),
            }[op]
        case ir.HasTags(values=values):
            wanted = frozenset(bindings.value(v) for v in values)
            return lambda s: s in wanted
    raise TypeError(f"not a string predicate: {type(node).__name__}")
