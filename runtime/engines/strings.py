"""What a string predicate means for one string: the single definition both evaluators use (over dictionaries),
and its vectorised twin for dictionaries of millions of entries (tests/test_strings.py proves them equal)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...compiler import ir
from ..bindings import Bindings
from ..store.columns import Strings

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


ARROW_MIN = 10_000  # entries from which a dictionary is tested by Arrow compute rather than one Python call each


def string_table(node: ir.Expr, bindings: Bindings, dictionary: Sequence[str]) -> np.ndarray:
    """``string_test`` of every dictionary entry, as a bool array. A large dictionary held by Arrow (e-mails) is
    tested in one Arrow call: strings compare by code point in both, and patterns are literal text."""
    if not (isinstance(dictionary, Strings) and len(dictionary) >= ARROW_MIN):
        test = string_test(node, bindings)
        return np.fromiter((bool(test(s)) for s in dictionary), dtype=np.bool_, count=len(dictionary))
    data = dictionary.arrow
    match node:
        case ir.Compare(op=op, right=right):
            compare = {"=": pc.equal, "!=": pc.not_equal, ">": pc.greater, ">=": pc.greater_equal, "<": pc.less,
                       "<=": pc.less_equal}[op]
            result = compare(data, pa.scalar(bindings.value(right), data.type))
        case ir.InSet(values=values, negated=negated):
            result = pc.is_in(data, value_set=pa.array([bindings.value(v) for v in values], data.type))
            result = pc.invert(result) if negated else result
        case ir.HasTags(values=values):
            result = pc.is_in(data, value_set=pa.array([bindings.value(v) for v in values], data.type))
        case ir.TextMatch(op=op, pattern=pattern):
            text = bindings.value(pattern)
            result = {"contains": pc.match_substring, "startswith": pc.starts_with, "endswith": pc.ends_with}[op](
                data, pattern=text
            )
        case _:
            raise TypeError(f"not a string predicate: {type(node).__name__}")
    return result.fill_null(False).to_numpy(zero_copy_only=False)
