"""What every engine is: a ``name`` and ``masks(plans, store, bindings) -> bool[k, n]``, one row per plan."""

from __future__ import annotations

import numpy as np

from ...compiler import ir
from ..bindings import Bindings
from ..store.columns import Store


class Engine:
    """An evaluator of plans over a store. ``answer`` also says, per plan, which engine computed its mask: itself,
    unless it hands parts to another (``compiled`` gives a part too large for any kernel to ``vector``). An engine
    defines ``masks``, or ``answer`` when it hands parts on; the base class gives the other."""

    name: str

    def masks(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> np.ndarray:
        return self.answer(plans, store, bindings)[0]

    def answer(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> tuple[np.ndarray, list[str]]:
        return self.masks(plans, store, bindings), [self.name] * len(plans)
