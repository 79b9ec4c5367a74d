"""The ``auto`` engine: the compiled engine's kernels when they are ready, in memory or in the disk cache; the vector
engine now for the others, whose kernels then compile in the background for the next evaluations."""

from __future__ import annotations

import numpy as np

from ...compiler import ir
from ..bindings import Bindings
from ..store.columns import Store
from . import overflow
from .compiled import COMPILED, CompiledEngine
from .engine import Engine
from .kernel_cache import usable_folder
from .ranked_inputs import with_ranks


class AutoEngine(Engine):
    """Never waits for a compile: ``Result.engine`` is "vector" for a plan any part of which the vector engine
    answered, else "compiled"."""

    name = "auto"

    def __init__(self, compiled: CompiledEngine) -> None:
        self.compiled = compiled

    def answer(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> tuple[np.ndarray, list[str]]:
        overflow.check(plans, store, bindings)  # both engines add in int64
        usable_folder(strict=False)  # warns, in the caller's thread, of a cache folder it cannot write
        kernels = self.compiled.kernels
        plans, store = with_ranks(plans, store, bindings)  # population measures: ranked first, read as columns
        masks, engines, later = self.compiled.run(plans, store, bindings, run_now=kernels.ready)
        # Only now: Numba's compiler holds the GIL most of the time, and the answer should not wait for it.
        for parts in later:
            kernels.compile_in_background(parts, store, bindings)
        return masks, engines


AUTO = AutoEngine(COMPILED)
