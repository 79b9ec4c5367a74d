"""How an evaluation is cut into kernels of bounded size, so that compiling stays bounded in time and memory.

Numba's compile time and memory grow faster than the size of the function it compiles (measured before this module:
a batch kernel of 100 template segments took 28 s and 900 MB to compile, one of 1,000 ran out of 6 GiB; a rule of
100 ``or``ed event conditions took 15 s). So no kernel is given more than ``KERNEL_BUDGET`` units of ``cost`` (one
per IR node, ``EVENT_SET_COST`` more per event set: a pass over events is most of a kernel's code):

- a rule over the budget is cut at its top ``and``/``or`` (and under ``not``) into parts within the budget, each
  part a plan of its own, and the parts' masks are combined with numpy. The language's logic is two-valued (a
  comparison with null is false), so combining masks gives exactly the mask of the whole;
- a part that cannot be cut (a single condition over the budget, say ``city in (...)`` with thousands of values)
  goes to the vector engine, which compiles nothing per rule;
- a batch within the budget is one kernel, as before: one pass over each contact's events for all its segments.
  A batch over it is packed into kernels within the budget, except that a shape (the code a part generates) met
  more than once gets one kernel of its own, run once per value set: a thousand segments made from the seven
  templates of benchmarks/compile_cost.py compile 8 small kernels (one template gives two shapes), not a thousand
  segments' worth of code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ...compiler import ir

KERNEL_BUDGET = 400  # cost units per kernel: 2-4 s of CPU and under 100 MB to compile here; the bench suite fits one
EVENT_SET_COST = 10

# A plan as kernels see it: a part's index, or ("and" | "or", subtrees), or ("not", subtree).
Tree = int | tuple


def cost(node: ir.Expr) -> int:
    """What compiling ``node`` costs, in the units of KERNEL_BUDGET. Remembered per plan object: every evaluation
    asks it of its plans, and a walk costs more than a fast kernel run on a small store."""
    known = _costs.get(id(node))
    if known is not None and known[0] is node:
        return known[1]
    total, stack = 0, [node]
    while stack:
        n = stack.pop()
        total += 1 + EVENT_SET_COST * isinstance(n, ir.EventSet)
        stack.extend(ir.children(n))
    if len(_costs) >= _COSTS_KEPT:
        _costs.clear()
    _costs[id(node)] = (node, total)  # the node is kept, so its id is not reused while the entry lives
    return total


_costs: dict[int, tuple[ir.Expr, int]] = {}
_COSTS_KEPT = 4096


@dataclass
class Work:
    """The parts to evaluate (each at most KERNEL_BUDGET, or one that cannot be cut) and how each plan combines
    them."""

    parts: list[ir.Expr]
    costs: list[int]
    trees: list[Tree]

    def oversized(self) -> list[int]:
        return [k for k, c in enumerate(self.costs) if c > KERNEL_BUDGET]


def split(plans: tuple[ir.Expr, ...]) -> Work:
    costs = [cost(plan) for plan in plans]
    if all(c <= KERNEL_BUDGET for c in costs):  # the usual case: each plan is a part
        return Work(list(plans), costs, list(range(len(plans))))
    work = Work([], [], [])
    index: dict[ir.Expr, int] = {}

    def part(node: ir.Expr, node_cost: int) -> int:
        if node not in index:
            index[node] = len(work.parts)
            work.parts.append(node)
            work.costs.append(node_cost)
        return index[node]

    def tree(node: ir.Expr) -> Tree:
        node_cost = cost(node)
        if node_cost <= KERNEL_BUDGET:
            return part(node, node_cost)
        match node:
            case ir.Not(operand=operand):
                return ("not", tree(operand))
            case ir.And(items=items) | ir.Or(items=items):
                operator = "and" if isinstance(node, ir.And) else "or"
                return (operator, tuple(_group(type(node), group, tree) for group in _pack(items)))
        return part(node, node_cost)

    work.trees = [tree(plan) for plan in plans]
    return work


def _pack(items: tuple[ir.Expr, ...]) -> Iterator[list[ir.Expr]]:
    """Consecutive items in groups within the budget (an item over it alone)."""
    group, used = [], 0
    for item in items:
        item_cost = cost(item)
        if group and used + item_cost > KERNEL_BUDGET:
            yield group
            group, used = [], 0
        group.append(item)
        used += item_cost
    if group:
        yield group


def _group(kind: type, group: list[ir.Expr], tree: Callable[[ir.Expr], Tree]) -> Tree:
    return tree(group[0]) if len(group) == 1 else tree(kind(tuple(group)))


def kernel_batches(work: Work, shape: Callable[[ir.Expr], str]) -> list[list[int]]:
    """The parts within the budget, in batches of one kernel each (see the module docstring); ``shape(part)`` names
    the code a part generates alone."""
    fitting = [k for k, c in enumerate(work.costs) if c <= KERNEL_BUDGET]
    if sum(work.costs[k] for k in fitting) <= KERNEL_BUDGET:
        return [fitting] if fitting else []
    shapes: dict[str, list[int]] = {}
    for k in fitting:
        shapes.setdefault(shape(work.parts[k]), []).append(k)
    batches = [[k] for members in shapes.values() if len(members) > 1 for k in members]
    return batches + _packs([(name, members[0]) for name, members in shapes.items() if len(members) == 1], work.costs)


def _packs(unique: list[tuple[str, int]], costs: list[int]) -> list[list[int]]:
    """The parts of shapes met once, packed into kernels within the budget so that adding, removing or editing one
    of them changes only its own pack (so a registry recompiles one kernel, not every pack after it): in the order
    of their shapes' names, with a pack closed after a part whose name's hash falls in a range proportional to its
    cost (content-defined cuts, expected every ``KERNEL_BUDGET / 2``), or when the next part would pass the budget."""
    packs, pack, used = [], [], 0
    for name, k in sorted(unique):
        if pack and used + costs[k] > KERNEL_BUDGET:
            packs.append(pack)
            pack, used = [], 0
        pack.append(k)
        used += costs[k]
        if _hash_fraction(name) < 2 * costs[k] / KERNEL_BUDGET:
            packs.append(pack)
            pack, used = [], 0
    if pack:
        packs.append(pack)
    return packs


def _hash_fraction(name: str) -> float:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest()) / 2**64


def combine(tree: Tree, masks: dict[int, np.ndarray]) -> np.ndarray:
    """A plan's mask from its parts' masks."""
    if isinstance(tree, int):
        return masks[tree]
    match tree:
        case ("not", subtree):
            return ~combine(subtree, masks)
        case ("and", subtrees):
            return np.logical_and.reduce([combine(t, masks) for t in subtrees])
        case ("or", subtrees):
            return np.logical_or.reduce([combine(t, masks) for t in subtrees])
    raise AssertionError(tree)


def parts_of(tree: Tree) -> Iterator[int]:
    if isinstance(tree, int):
        yield tree
        return
    for subtree in tree[1] if tree[0] != "not" else (tree[1],):
        yield from parts_of(subtree)
