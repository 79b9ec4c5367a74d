"""A compiled segment and what evaluating it gives: ``Segment.evaluate`` -> ``Result``, ``Segment.explain``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..compiler import ir
from ..compiler.errors import DataError, SegmintError
from ..compiler.schema import Schema
from ..compiler.serial import to_document
from ..compiler.types import Type
from . import compiled
from .bindings import bind
from .explain import Explanation, explain
from .gather import matching
from .reference import Evaluator
from .store import Store
from .vector import VectorEvaluator

if TYPE_CHECKING:
    from ..compiler.pipeline import Compiled

ENGINES = ("auto", "compiled", "vector", "reference")


@dataclass(frozen=True, eq=False)
class Result:
    """The contacts in a segment at ``now``: ``mask`` over the store's rows, their ``ids()``, their ``count``."""

    mask: np.ndarray
    store: Store = field(repr=False)
    now: object
    seconds: float
    engine: str  # the engine that answered: "compiled", "vector" or "reference" (``auto`` chooses one of the first two)

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.mask))

    def rows(self) -> np.ndarray:
        return matching(self.mask)

    def ids(self, limit: int | None = None) -> np.ndarray:
        """External ids of the contacts in the segment, in store order (the first ``limit`` when given)."""
        if limit is None:
            return matching(self.mask, self.store.ids)
        return self.store.ids[self.rows()[:limit]]

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True, eq=False)
class Segment:
    """A rule compiled against a schema. Immutable and safe to share between threads."""

    compiled: Compiled  # compiler/pipeline.py; the runtime only reads its fields
    schema: Schema = field(repr=False)

    @property
    def text(self) -> str:
        """The canonical text of the rule."""
        return self.compiled.text

    @property
    def ir(self) -> ir.Expr:
        return self.compiled.ir

    @property
    def params(self) -> Mapping[str, Type]:
        return self.compiled.params

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict:
        """A JSON-ready rule document (see compiler/serial.py); ``segmint.compile(doc, schema)`` reads it back."""
        return to_document(self.compiled.ir, self.text)

    def evaluate(
        self, store: Store, now=None, params: Mapping[str, object] | None = None, engine: str = "auto"
    ) -> Result:
        """The contacts in the segment at ``now`` (default: the current UTC time).

        Engines: ``"compiled"`` runs the rule's fused Numba kernel (compiled on first use, 0.3-2 s, then cached in
        memory and on disk); ``"vector"`` composes generic kernels that need no compilation per rule (several
        times slower); ``"reference"`` is the plain numpy oracle of the tests. ``"auto"`` (the default) uses the fused
        kernel when it is ready, in memory or on disk; otherwise it answers with ``"vector"`` and compiles the
        fused kernel on a background thread for the next evaluations. ``Result.engine`` says which answered.
        """
        plan = self.compiled.plan
        _check_engine(engine)
        check_store(plan, store)
        started = time.perf_counter()
        bindings = bind(plan, now, params)
        masks, used = _run((plan,), store, bindings, engine)
        return Result(masks[0], store, bindings.now, time.perf_counter() - started, used)

    def kernel(self, store: Store) -> compiled.Kernel:
        """The generated kernel of this segment for ``store`` (its source is ``.source``)."""
        check_store(self.compiled.plan, store)
        return compiled.kernel_for((self.compiled.plan,), store)

    def explain(self, store: Store, contact_id, now=None, params: Mapping[str, object] | None = None) -> Explanation:
        """Why a contact is in or out: the value of every part of the rule for that contact."""
        check_store(self.compiled.plan, store)
        bindings = bind(self.compiled.plan, now, params)
        row = store.row_of(contact_id)
        return explain(self.compiled.ir, store, row, bindings, self.compiled.definitions, self.schema)


def check_store(plan: ir.Expr, store: Store) -> None:
    """The store holds every attribute, event type and property the rule reads, with the types it expects."""
    if not isinstance(store, Store):
        raise SegmintError(f"evaluate needs a segmint.Store, not {type(store).__name__}")
    for node in ir.walk(plan):
        match node:
            case ir.Attr(name=name, type=type_):
                column = store.attributes.get(name)
                if column is None:
                    raise DataError(f"the store has no attribute '{name}', which this rule uses")
                if column.type is not type_:
                    raise DataError(f"attribute '{name}' is {column.type} in the store, but {type_} in the schema")
            case ir.EventSet(event=event):
                if event not in store.events:
                    raise DataError(f"the store has no events of type '{event}', which this rule uses")
            case ir.Prop(event=event, name=name, type=type_):
                column = store.events[event].properties.get(name) if event in store.events else None
                if column is None:
                    raise DataError(f"the store's '{event}' events have no property '{name}', which this rule uses")
                if column.type is not type_:
                    raise DataError(f"property '{event}.{name}' is {column.type} in the store, but {type_} here")


def evaluate_many(
    segments: Sequence[Segment], store: Store, now=None, params: Mapping[str, object] | None = None,
    engine: str = "auto",
) -> list[Result]:
    """Evaluate many segments at once: one kernel, one pass over each contact's events for all of them.

    ``params`` holds the parameters of all segments (a name means the same value in each). Results come in the
    order of ``segments``.
    """
    if isinstance(segments, Segment) or not isinstance(segments, Iterable):
        raise SegmintError(f"evaluate_many takes a list of segments, not {type(segments).__name__}")
    segments = list(segments)
    odd = next((s for s in segments if not isinstance(s, Segment)), None)
    if odd is not None:
        raise SegmintError(f"evaluate_many takes segments (segmint.compile), not {type(odd).__name__}")
    _check_engine(engine)
    if not segments:
        return []
    plans = tuple(s.compiled.plan for s in segments)
    for plan in plans:
        check_store(plan, store)
    started = time.perf_counter()
    bindings = bind(ir.And(plans), now, params)
    masks, used = _run(plans, store, bindings, engine)
    seconds = time.perf_counter() - started
    return [Result(mask, store, bindings.now, seconds, used) for mask in masks]


def _run(plans: tuple[ir.Expr, ...], store: Store, bindings, engine: str) -> tuple[np.ndarray, str]:
    """The masks of ``plans`` (a row each) and the engine that computed them."""
    _check_engine(engine)
    if engine == "auto":
        if compiled.ready(compiled.kernel_for(plans, store)):
            return compiled.evaluate(plans, store, bindings), "compiled"
        masks = _run(plans, store, bindings, "vector")[0]
        # Only now: Numba's compiler holds the GIL most of the time, and the answer should not wait for it.
        compiled.compile_in_background(plans, store, bindings)
        return masks, "vector"
    if engine == "compiled":
        return compiled.evaluate(plans, store, bindings), engine
    evaluator = (VectorEvaluator if engine == "vector" else Evaluator)(store, bindings)
    return np.array([evaluator.mask(plan) for plan in plans]).reshape(len(plans), len(store)), engine


def _check_engine(engine: str) -> None:
    if not isinstance(engine, str) or engine not in ENGINES:
        raise SegmintError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
