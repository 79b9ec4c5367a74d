"""The evaluators of a rule's plan over a store, each giving one bool mask per plan: ``reference`` (plain numpy, the
oracle), ``vector`` (generic Numba kernels composed per rule) and ``compiled`` (a fused Numba kernel per rule shape,
cached), and ``auto`` choosing between the last two; each is one object with a ``name`` and ``masks`` (engine.py).
``strings`` holds what a string predicate means over a dictionary and ``gather`` turns masks into ids."""
