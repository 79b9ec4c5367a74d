"""The ``auto`` engine: the compiled engine's kernels when they are ready, in memory or in the disk cache; the vector
engine now for the others, whose kernels then compile in the background for the next evaluations."""

from __future__ import annotations

import numpy as np

from ...compiler import ir
from ..bindings import Bindings
from ..store.columns import Store
from . import kernel_batches, overflow
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


def compile_kernels(plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> int:
    """Start compiling in the background every kernel of ``plans`` that is not ready (the kernels ``auto`` would
    run for them), and return how many were not; ``COMPILED.kernels.wait_for_background()`` waits for them. For an
    application (a registry) that would rather wait for its kernels once than answer with the vector engine."""
    kernels = AUTO.compiled.kernels
    plans, store = with_ranks(plans, store, bindings)
    work = kernel_batches.split(plans)
    waiting = set()
    for batch in kernel_batches.kernel_batches(work, lambda part: kernels.kernel_for((part,), store).key):
        parts = tuple(work.parts[k] for k in batch)
        kernel = kernels.kernel_for(parts, store)
        if kernel.key not in waiting and not kernels.ready(kernel):
            kernels.compile_in_background(parts, store, bindings)
            waiting.add(kernel.key)
    return len(waiting)
