"""Population-relative measures in the compiled engine: ranked before the kernel, read by it as per-contact inputs.

A rank needs every contact's measure before any contact's rank is known, which a kernel that decides contact by
contact (over ranges of contacts, on threads) cannot give. So the engine computes each ``percentile``/``quintile``/
``decile``/``rfm`` of the plans first, with the vector engine's evaluator (its measure by the generic kernels, the
ranks with numpy: engines/ranks.py), and the kernel reads the result as a column of the contact, like an attribute:
the plans get an ``Attr`` named after the measure (``percentile(sum(bought.amount)) [ranked before the kernel from
purchase events]``, which the kernel plan prints) and the store a column of that name for this evaluation. The rule
is still one evaluation: the measure pass, the ranks, then the one kernel for the rest.

Ranked columns always carry a validity mask, so the kernel's shape does not depend on whether this evaluation's
ranks happen to have nulls.
"""

from __future__ import annotations

import numpy as np

from ...compiler import ir
from ...compiler.formatter import format_ir
from ...compiler.passes import transform
from ...compiler.schema import Schema
from ...compiler.types import Type
from ..bindings import Bindings
from ..store.columns import Column, Store


def ranked_nodes(plans: tuple[ir.Expr, ...]) -> list[ir.Rank | ir.Rfm]:
    """The population measures of ``plans``, outermost first (one inside another is ranked with its container)."""
    return list(dict.fromkeys(node for plan in plans for node in ir.fact(plan, "population measures", _outermost)))


def _outermost(plan: ir.Expr) -> tuple[ir.Rank | ir.Rfm, ...]:
    found, stack = [], [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Rank | ir.Rfm):
            found.append(node)
        else:
            stack.extend(ir.children(node))
    return tuple(found)


def column_name(node: ir.Rank | ir.Rfm, schema: Schema) -> str:
    """The ranked column's name, as the kernel plan prints it: the measure, and the event types its pass reads."""
    events = sorted({n.event for n in ir.walk(node) if isinstance(n, ir.EventSet)})
    source = f" from {', '.join(events)} events" if events else ""
    return f"{format_ir(node, schema)} [ranked before the kernel{source}]"


def with_ranks(
    plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings | None
) -> tuple[tuple[ir.Expr, ...], Store]:
    """``plans`` with each population measure read as a column, and ``store`` with those columns (worked out at
    ``bindings``; without bindings, empty columns of the right kind, for a kernel's shape alone)."""
    nodes = ranked_nodes(plans)
    if not nodes:
        return plans, store
    from .vector import VectorEvaluator  # vector imports the reference evaluator, which this module's users import

    evaluator = VectorEvaluator(store, bindings) if bindings is not None else None
    names = {node: column_name(node, store.schema) for node in nodes}
    columns = {}
    for node, name in names.items():
        dtype = np.float64 if node.type is Type.FLOAT else np.int64
        if evaluator is None:
            values, valid = np.zeros(len(store), dtype), np.zeros(len(store), bool)
        else:
            v = evaluator.vec(node, None)
            values, valid = np.asarray(v.data, dtype), np.array(np.broadcast_to(v.valid, (len(store),)), bool)
        columns[name] = Column(node.type, values, valid)

    # ``transform`` rebuilds bottom-up: a measure holding another that some plan ranks (evaluate_many of both) is
    # met rebuilt, with the inner one read as a column, so it is known in that form too.
    read: dict[ir.Expr, ir.Attr] = {}
    for node in sorted(names, key=lambda n: sum(1 for _ in ir.walk(n))):  # a measure inside another first
        attr = ir.Attr(names[node], node.type, getattr(node, "span", None))
        read[node] = read[transform(node, lambda n: read.get(n, n))] = attr

    ranked = tuple(transform(plan, lambda n: read.get(n, n)) for plan in plans)
    return ranked, Store(store.schema, store.ids, {**store.attributes, **columns}, store.events)
