"""Evaluation partition by partition: every engine over each partition's own store, population measures ranked over
all of them.

A partition is a self-contained store, so a rule's mask over it is the rule's mask over those rows of the whole
store, with one exception: a population measure (percentile, quintile, decile, rfm) ranks a contact among *every*
contact. So ranks come first, in rounds, innermost measure first (one inside another's measure is ranked before it):
each partition computes the measure of its contacts (the vector evaluator, as ``ranked_inputs`` does), the values
of all partitions are ranked together (``ranks.py``), and each partition gets its slice of the ranks as a column
that the plans read in place of the measure, exactly as ``ranked_inputs.with_ranks`` gives them to a kernel on one
store. Then every partition runs the plans with the engine asked for, and the masks are laid end to end in
partition order (``runtime/store/parts.py``).

Partitions run one after another on this machine, each with all of Numba's threads inside (``threads.run_parallel``):
on 2 cores this measured as fast as a pool of threads over partitions (benchmarks/store.py), and it holds one
partition's temporary arrays at a time. The work per partition is a pair of module functions over a store
(``measure_part``, ``masks_part``), so a cluster (``runtime/cluster.py``) runs the same functions on its workers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...compiler import ir
from ...compiler.passes import transform
from ...compiler.schema import Schema
from ...compiler.types import Type
from ..bindings import Bindings
from ..store.columns import Column, Store
from ..store.parts import Partitions
from . import ranks
from .engine import Engine
from .ranked_inputs import column_name


@dataclass(frozen=True)
class RankRound:
    """One population measure to rank: ``node`` as the partitions evaluate it (measures inside it already read as
    ranked columns) and the name of the column its ranks become."""

    node: ir.Rank | ir.Rfm
    name: str


def rank_rounds(plans: tuple[ir.Expr, ...], schema: Schema) -> tuple[list[RankRound], tuple[ir.Expr, ...]]:
    """The rounds of ranking ``plans`` need (innermost measure first) and the plans reading every measure as its
    ranked column."""
    order: list[ir.Rank | ir.Rfm] = []

    def visit(node) -> None:  # post-order: a measure after the measures inside it
        for child in ir.children(node):
            visit(child)
        if isinstance(node, ir.Rank | ir.Rfm) and node not in order:
            order.append(node)

    for plan in plans:
        visit(plan)
    read: dict[ir.Expr, ir.Attr] = {}

    def substitute(node):
        return read.get(node, node)

    rounds = []
    for node in order:
        rewritten = transform(node, substitute)  # inner measures are columns by now
        if rewritten in read:
            continue
        name = column_name(node, schema)
        rounds.append(RankRound(rewritten, name))
        read[rewritten] = ir.Attr(name, node.type, getattr(node, "span", None))
    return rounds, tuple(transform(plan, substitute) for plan in plans)


def with_columns(store: Store, columns: Mapping[str, Column]) -> Store:
    return Store(store.schema, store.ids, {**store.attributes, **columns}, store.events) if columns else store


def measure_part(store: Store, node: ir.Rank | ir.Rfm, bindings: Bindings) -> tuple[np.ndarray, ...]:
    """What ranking ``node`` needs of each contact of one partition: (value, valid) of the measure for a rank;
    (count, last, total, total valid) for rfm."""
    from .vector import VectorEvaluator  # vector imports the reference evaluator, whose users import this module

    evaluator = VectorEvaluator(store, bindings)
    every = (len(store),)
    match node:
        case ir.Rank(measure=measure):
            v = evaluator.vec(measure, None)
            return np.array(np.broadcast_to(v.data, every)), np.array(np.broadcast_to(v.valid, every), bool)
        case ir.Rfm(events=events, prop=prop):
            last = evaluator.aggregate(ir.Aggregate("last", events, None, Type.TIMESTAMP))
            total = evaluator.aggregate(ir.Aggregate("sum", events, prop, prop.type))
            return (np.asarray(evaluator.counts(events)), np.array(np.broadcast_to(last.data, every)),
                    np.array(np.broadcast_to(total.data, every)), np.array(np.broadcast_to(total.valid, every), bool))
    raise AssertionError(node)


def rank_together(node: ir.Rank | ir.Rfm, measured: Sequence[tuple[np.ndarray, ...]]) -> list[Column]:
    """Every partition's ranked column, from every partition's ``measure_part``: ranked among all contacts."""
    together = [np.concatenate(arrays) for arrays in zip(*measured, strict=True)]
    match node:
        case ir.Rank(function=function):
            data, valid = ranks.rank(function, *together)
        case ir.Rfm(part=part):
            data, valid = ranks.rfm(part, *together)
    dtype = np.float64 if node.type is Type.FLOAT else np.int64
    data, valid = np.asarray(data, dtype), np.asarray(valid, bool)
    starts = np.concatenate([[0], np.cumsum([len(m[0]) for m in measured])])
    return [Column(node.type, data[a:b], valid[a:b]) for a, b in itertools.pairwise(starts)]


def masks_part(store: Store, plans: tuple[ir.Expr, ...], bindings: Bindings, engine: Engine
               ) -> tuple[np.ndarray, list[str]]:
    """One partition's masks (plans whose measures are ranked columns of ``store``)."""
    return engine.answer(plans, store, bindings)


def ranked_stores(plans: tuple[ir.Expr, ...], parts: Partitions, bindings: Bindings
                  ) -> tuple[list[Store], tuple[ir.Expr, ...]]:
    """Every partition's store with the ranked columns the plans read, and the plans reading them (the rounds of
    ranking done): what ``masks_part`` takes, partition by partition."""
    stores = list(parts.stores)
    rounds, plans = rank_rounds(plans, parts.schema)
    for step in rounds:
        columns = rank_together(step.node, [measure_part(s, step.node, bindings) for s in stores])
        stores = [with_columns(s, {step.name: c}) for s, c in zip(stores, columns, strict=True)]
    return stores, plans


def answer(plans: tuple[ir.Expr, ...], parts: Partitions, bindings: Bindings, engine: Engine
           ) -> tuple[np.ndarray, list[str]]:
    """The masks of ``plans`` over all partitions (rows in partition order) and, per plan, the engine that answered
    (``vector`` when it answered any partition's part)."""
    stores, plans = ranked_stores(plans, parts, bindings)
    answered = [masks_part(s, plans, bindings, engine) for s in stores]
    masks = np.concatenate([m for m, _ in answered], axis=1) if answered else np.zeros((len(plans), 0), bool)
    engines = ["vector" if any(used[k] == "vector" for _, used in answered) else
               answered[0][1][k] if answered else engine.name for k in range(len(plans))]
    return masks, engines
