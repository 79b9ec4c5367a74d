"""The names generated source uses, all made here: inputs (``A<n>`` arrays, ``k<n>`` integers, ``x<n>`` floats,
numbered in the order the source first reads them) and fresh locals of pieces of code."""

from __future__ import annotations

from .plan import ArrayInput, FloatInput, IntInput


class Inputs:
    """The kernel's inputs, each typed (plan.py), named the first time the source reads it."""

    def __init__(self) -> None:
        self.arrays: dict[ArrayInput, str] = {}
        self.ints: dict[IntInput, int] = {}
        self.floats: dict[FloatInput, int] = {}

    def array(self, item: ArrayInput) -> str:
        if item not in self.arrays:
            self.arrays[item] = f"A{len(self.arrays)}"
        return self.arrays[item]

    def int(self, item: IntInput) -> str:
        if item not in self.ints:
            self.ints[item] = len(self.ints)
        return f"k{self.ints[item]}"

    def float(self, item: FloatInput) -> str:
        if item not in self.floats:
            self.floats[item] = len(self.floats)
        return f"x{self.floats[item]}"


class Code:
    """Lines of source with indentation and fresh local names."""

    def __init__(self, indent: int, tag: str = "") -> None:
        self.lines: list[str] = []
        self.indent = indent
        self.counter = 0
        self.tag = tag  # keeps the names of separately generated pieces apart

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def new(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.tag}{self.counter}"


def measure_name(dtype: str, index: int, blocked: bool) -> str:
    """Where a measure lives: a per-block buffer, or a per-contact local of its dtype."""
    if blocked:
        return f"bk{index}"
    return f"{'mf' if dtype == 'float64' else 'mi'}{index}"
