"""The kernel generator: optimised plans -> a kernel plan (lowering.py, plan.py) -> the source of one fused Numba
kernel and the typed inputs it takes (emission.py)."""

from __future__ import annotations

from ..ir import Expr
from .emission import Kernel, emit
from .lowering import MASK_BITS, lower
from .plan import StoreFacts

__all__ = ["MASK_BITS", "Kernel", "StoreFacts", "generate", "lower"]


def generate(plans: tuple[Expr, ...], facts: StoreFacts) -> Kernel:
    """One kernel computing every plan's mask (``out[k, i]`` for plan ``k``) on a store with these facts."""
    return emit(lower(plans, facts))
