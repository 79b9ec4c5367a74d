"""A compiled segment and what evaluating it gives: ``Segment.evaluate`` -> ``Result``, ``Segment.explain``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..compiler import ir
from ..compiler.kernels import library
from ..compiler.pipeline import Rule, compile_rule
from ..compiler.schema import Schema
from ..compiler.serial import to_document
from ..compiler.types import Type
from ..dsl.errors import DataError, SegmintError
from .bindings import bind
from .engines import gather, partitions, vector
from .engines.auto import AUTO
from .engines.compiled import COMPILED, Kernel
from .engines.engine import Engine
from .engines.gather import matching
from .engines.kernel_cache import check_caches_of
from .engines.reference import REFERENCE
from .engines.vector import VECTOR
from .explain import Explanation, contact_next_change, explain, ranks
from .nextchange import next_change
from .profile import Profile, profile
from .store import load
from .store.columns import Store
from .store.partitioned import SavedStore
from .store.parts import Partitions

_ENGINES: dict[str, Engine] = {engine.name: engine for engine in (AUTO, COMPILED, VECTOR, REFERENCE)}
ENGINES = tuple(_ENGINES)

check_caches_of(library, gather, load, vector)  # before any of their functions runs: segmint imports this module


@dataclass(frozen=True, eq=False)
class Result:
    """The contacts in a segment at ``now``: ``mask`` over the store's rows, their ``ids()``, their ``count``."""

    mask: np.ndarray
    # a partitioned store's rows are partition by partition; after a cluster evaluation, only their ids (ClusterRows)
    store: Store | Partitions = field(repr=False)
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

    rule: Rule  # compiler/pipeline.py: the rule as written, its plan and parameters; the runtime only reads it
    schema: Schema = field(repr=False)

    @classmethod
    def compile(cls, rule: str | Mapping, schema: Schema) -> Segment:
        """Compile rule text (or a JSON rule document from ``to_json()``) against ``schema``; a rule that does not
        parse, names what the schema lacks or mixes types raises ``RuleError`` (line, column, caret, hints)."""
        return cls(compile_rule(rule, schema), schema)

    @property
    def text(self) -> str:
        """The canonical text of the rule."""
        return self.rule.text

    @property
    def ir(self) -> ir.Expr:
        return self.rule.ir

    @property
    def params(self) -> Mapping[str, Type]:
        return self.rule.params

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict:
        """A JSON-ready rule document (see compiler/serial.py); ``segmint.compile(doc, schema)`` reads it back."""
        return to_document(self.rule.ir, self.text)

    def evaluate(
        self, store: Store | SavedStore | Partitions, now=None, params: Mapping[str, object] | None = None,
        engine: str = "auto",
    ) -> Result:
        """The contacts in the segment at ``now`` (default: the current UTC time).

        Engines: ``"compiled"`` runs the rule's fused Numba kernel (compiled on first use, 0.3-2 s, then cached in
        memory and on disk; a rule too large for one kernel runs as several, and a part too large for any on the
        vector engine: runtime/engines/kernel_batches.py); ``"vector"`` composes generic kernels that need no
        compilation per rule (several times slower); ``"reference"`` is the plain numpy oracle of the tests. ``"auto"``
        (the default) uses the fused kernel when it is ready, in memory or on disk; otherwise it answers with
        ``"vector"`` and compiles the fused kernel in the background for the next evaluations. ``Result.engine``
        says which answered (``"vector"`` when any part of the rule was answered by it).

        A ``SavedStore`` (or its ``parts()``) is evaluated partition by partition (runtime/engines/partitions.py):
        the same contacts as one store, the mask's rows in partition order (as ``SavedStore.snapshot()``).
        """
        plan = self.rule.plan
        _check_engine(engine)
        store = readable(store)
        check_store(plan, store)
        started = time.perf_counter()
        bindings = bind(plan, now, params, store.schema)
        masks, used = _run((plan,), store, bindings, engine)
        return Result(masks[0], store, bindings.now, time.perf_counter() - started, used[0])

    def next_change(self, store: Store, now=None, params: Mapping[str, object] | None = None,
                    engine: str = "auto") -> dt.datetime | None:
        """The first instant after ``now`` at which membership changes with no new data (a window edge passing an
        event, a birthday, a day turning over); None if it never does. Never late: see runtime/nextchange.py."""
        store = _whole(store)
        check_store(self.rule.plan, store)
        return next_change(self.rule.plan, store, now, params,
                           lambda at: self.evaluate(store, now=at, params=params, engine=engine).mask)

    def kernel(self, store: Store) -> Kernel:
        """The generated kernel of this segment for ``store``: ``.source``, and ``.plan`` (prints as an EXPLAIN)."""
        store = readable(store)
        # a partition's nulls, dictionaries and event density shape its kernel: this is the first partition's
        store = store.stores[0] if isinstance(store, Partitions) else store
        check_store(self.rule.plan, store)
        return COMPILED.kernels.kernel_for((self.rule.plan,), store)

    def explain(self, store: Store, contact_id, now=None, params: Mapping[str, object] | None = None) -> Explanation:
        """Why a contact is in or out: the value of every part of the rule for that contact, and when it enters or
        leaves next if no new data arrives (``next_change``: runtime/explain.py ``contact_next_change``). Of a
        partitioned store: over its partition alone, or over all partitions laid end to end when the rule ranks."""
        store = readable(store)
        if isinstance(store, Partitions):
            ranked = ranks(self.rule.ir, self.rule.definitions)
            store = store.whole() if ranked else store.stores[store.locate(contact_id)[0]]
        check_store(self.rule.plan, store)  # with definitions inlined
        check_store(self.rule.ir, store)
        bindings = bind(self.rule.plan, now, params, store.schema)  # exactly the parameters evaluate takes
        row = store.row_of(contact_id)
        explanation = explain(self.rule.ir, self.rule.plan, store, row, bindings, self.rule.definitions, self.schema)
        return explanation.with_next_change(
            contact_next_change(self.rule.plan, store, row, bindings.now, params, self.rule.definitions))

    def profile(self, store: Store, now=None, params: Mapping[str, object] | None = None) -> Profile:
        """Condition counts for rule editors: how many contacts every part of the rule (as written) holds for, and
        for each ``and`` the count after each successive condition; one evaluation, by the vector engine (over the
        partitions of a partitioned store laid end to end)."""
        store = _whole(store)
        check_store(self.rule.plan, store)
        check_store(self.rule.ir, store)
        bindings = bind(self.rule.ir, now, params, store.schema)
        return profile(self.rule.ir, self.rule.plan, store, bindings, self.rule.definitions, self.schema)


def check_store(plan: ir.Expr, store: Store) -> None:
    """The store holds every attribute, event type and property the rule reads, with the types it expects."""
    if isinstance(store, Partitions):
        store = store.stores[0]  # every partition has the store's columns
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
    segments: Sequence[Segment], store: Store | SavedStore | Partitions, now=None,
    params: Mapping[str, object] | None = None, engine: str = "auto", client=None,
) -> list[Result]:
    """Evaluate many segments at once: one kernel, one pass over each contact's events for all of them (a batch too
    large for one kernel runs as several: runtime/engines/kernel_batches.py).

    ``params`` holds the parameters of all segments (a name means the same value in each). Results come in the
    order of ``segments``.

    ``client``: a ``dask.distributed.Client``; the partitions of ``store`` (a ``SavedStore`` or its ``parts()``)
    are then evaluated on its workers, which open them from the store's folder (runtime/cluster.py). The answer is
    the one this process would give; ``Result.store`` then holds only the ids of the rows.
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
    plans = tuple(s.rule.plan for s in segments)
    if client is not None:
        from . import cluster  # which imports nothing of Dask: it calls the client's methods

        started = time.perf_counter()
        bindings = bind(ir.And(plans), now, params, store.schema)
        masks, used, store = cluster.answer(client, plans, store, bindings, _ENGINES[engine])
        seconds = time.perf_counter() - started
        return [Result(m, store, bindings.now, seconds, e) for m, e in zip(masks, used, strict=True)]
    store = readable(store)
    for plan in plans:
        check_store(plan, store)
    started = time.perf_counter()
    bindings = bind(ir.And(plans), now, params, store.schema)
    masks, used = _run(plans, store, bindings, engine)
    seconds = time.perf_counter() - started
    return [Result(mask, store, bindings.now, seconds, engine) for mask, engine in zip(masks, used, strict=True)]


def _run(plans: tuple[ir.Expr, ...], store: Store, bindings, engine: str) -> tuple[np.ndarray, list[str]]:
    """The masks of ``plans`` (a row each) and the engine that computed each."""
    _check_engine(engine)
    if isinstance(store, Partitions):
        if len(store.stores) == 1:
            store = store.stores[0]
        else:
            return partitions.answer(plans, store, bindings, _ENGINES[engine])
    return _ENGINES[engine].answer(plans, store, bindings)


def readable(store):
    """A saved store as its partitions at its current version; a store or partitions as they are."""
    return store.parts() if isinstance(store, SavedStore) else store


def _whole(store) -> Store:
    """The partitions of a saved store laid end to end as one store (its snapshot, cached per version)."""
    if isinstance(store, SavedStore):
        return store.snapshot()
    return store.whole() if isinstance(store, Partitions) else store


def _check_engine(engine: str) -> None:
    if not isinstance(engine, str) or engine not in ENGINES:
        raise SegmintError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
