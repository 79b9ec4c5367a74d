"""A refresh's evaluation: every segment's new membership, partition by partition, in this process or on a cluster.

A refresh never lays a store's partitions end to end (``SavedStore.snapshot()`` would copy them all). The segments
are evaluated in as few batches as their parameters allow (segments whose ``$parameters`` give one name two values go
to different batches); each batch ranks its population measures among all partitions first (``engines/partitions.py``,
as ``evaluate_many`` does), then runs partition by partition: a partition's masks become its members' rows (shifted by
the partition's start: live/layout.py), with the global control group held out and a split's groups cut by the
bucket of each contact's id (live/splits.py), and are dropped before the next partition is evaluated, so the masks in
memory are one partition's. The next-change bound of a segment is the earliest of its partitions' bounds: a bound is
the earliest of candidate instants that each come from one value of the store or the rule (runtime/nextchange.py),
so the earliest over the partitions is the bound over the whole store.

Where the partitions are evaluated is a *source*: ``Local`` (this process: a ``Store`` is one partition, a
``SavedStore`` its ``parts()``) or ``OnCluster`` (a Dask client: runtime/cluster.py's rounds, with ``refresh_task``
as the last; the workers open their partitions from the store's folder and send back packed masks and bounds, and
the registry's database is only ever written by the calling process).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from pyroaring import BitMap

from ...compiler import ir
from ...dsl.errors import SegmintError
from ..bindings import Bindings, bind
from ..engines import partitions
from ..engines.auto import compile_kernels
from ..engines.compiled import COMPILED
from ..nextchange import bound
from ..segment import _ENGINES, Segment, check_store
from ..store.columns import Store
from ..store.parts import Partitions
from .layout import Layout, parts_of, starts_of
from .membership import Epoch, bitmap
from .records import Definition
from .registry import Registry
from .splits import GlobalControl

Bound = tuple[ir.Expr, Mapping[str, object]]  # a segment's plan and its own parameters, for nextchange.bound


class Local:
    """Partitions evaluated in this process, one after another (each with all of Numba's threads)."""

    def __init__(self, parts: Partitions) -> None:
        self.parts, self.schema = parts, parts.schema

    def ids(self) -> list[np.ndarray]:
        return [np.asarray(store.ids) for store in self.parts.stores]

    def digests(self) -> list[str]:
        return [store_digest(store) for store in self.parts.stores]

    def compile(self, plans: tuple[ir.Expr, ...], bindings: Bindings) -> None:
        """Start compiling the kernels of ``plans`` for every partition (a partition's nulls, dictionaries and event
        density shape its kernels); a batch that cannot be bound is left to the evaluation, which reports it."""
        for store in self.parts.stores:
            with contextlib.suppress(SegmintError):
                compile_kernels(plans, store, bindings)

    def run(self, plans: tuple[ir.Expr, ...], bindings: Bindings, engine: str, bounds: Sequence[Bound],
            clock: dict[str, float]) -> Iterator[tuple[int, np.ndarray, list]]:
        """Every partition's masks of ``plans`` (a row per plan) and next-change bounds of ``bounds``, in partition
        order; ``clock["next"]`` gathers the seconds spent on bounds."""
        for plan in plans:
            check_store(plan, self.parts)
        stores = self.parts.stores
        if len(stores) == 1:  # as evaluate_many on one store: the engine ranks itself, the kernels are the same
            ranked, rewritten = stores, plans
        else:
            ranked, rewritten = partitions.ranked_stores(plans, self.parts, bindings)
        for k, store in enumerate(ranked):
            masks, _ = partitions.masks_part(store, rewritten, bindings, _ENGINES[engine])
            started = time.perf_counter()
            found = [bound(plan, stores[k], bindings.now, params) for plan, params in bounds]
            clock["next"] = clock.get("next", 0.0) + time.perf_counter() - started
            yield k, masks, found


class OnCluster:
    """Partitions of a saved store evaluated on a Dask cluster (runtime/cluster.py)."""

    def __init__(self, client, store) -> None:
        from .. import cluster

        self.client, self.schema = client, store.schema
        # the version the saved store holds now, for every round: appends meanwhile make versions it does not see
        self.version = directory, manifest = cluster.located(store)
        count = len(manifest["parts"]) if "parts" in manifest else 1
        looked = client.gather([client.submit(look_task, str(directory), manifest, k, pure=False)
                                for k in range(count)])
        self._ids = [ids for ids, _ in looked]
        self._digests = [digest for _, digest in looked]

    def ids(self) -> list[np.ndarray]:
        return self._ids

    def digests(self) -> list[str]:
        return self._digests

    def compile(self, plans: tuple[ir.Expr, ...], bindings: Bindings) -> None:
        """Nothing to start: the cluster's rounds compile every missing kernel (once) before fanning out."""

    def run(self, plans: tuple[ir.Expr, ...], bindings: Bindings, engine: str, bounds: Sequence[Bound],
            clock: dict[str, float]) -> Iterator[tuple[int, np.ndarray, list]]:
        from .. import cluster

        answered = cluster.answer_parts(self.client, plans, self.version, self.schema, bindings, _ENGINES[engine],
                                        refresh_task, (tuple(bounds),))
        for k, (packed, found) in enumerate(answered):  # the bounds' time is the workers', inside "evaluate"
            yield k, np.unpackbits(packed, axis=1, count=len(self._ids[k])).astype(bool), found


def source_of(store, client=None) -> Local | OnCluster:
    """Where a refresh evaluates ``store``: a ``Store``, a ``SavedStore`` or its ``parts()``; with a Dask ``client``,
    a saved store's partitions on its workers."""
    from ..store.partitioned import SavedStore

    if client is not None:
        return OnCluster(client, store)
    if isinstance(store, SavedStore):
        return Local(store.parts())
    if isinstance(store, Partitions):
        return Local(store)
    if not isinstance(store, Store):
        raise SegmintError(f"a refresh needs a segmint.Store or SavedStore, not {type(store).__name__}")
    return Local(Partitions(store.schema, (store,)))


@dataclass
class Evaluated:
    """What the evaluation of a refresh found: the new membership of every segment and group (rows of the layout),
    the errors of the segments it could not evaluate, each segment's next-change bound, the compiled segments, the
    seconds spent waiting for kernels and per stage (``next``: bounds; ``diff``: building bitmaps)."""

    members: dict[str, BitMap] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    bounds: dict[str, dt.datetime | None] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    waited: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)


def evaluate(registry: Registry, definitions: list[Definition], source: Local | OnCluster, layout: Epoch | Layout,
             now: dt.datetime, engine: str, wait_for_kernels: bool, splits: Mapping, control: GlobalControl | None
             ) -> Evaluated:
    """Evaluate ``definitions`` on ``source`` (whose layout is ``layout``): see the module's docstring."""
    found = Evaluated()
    for definition in definitions:
        try:
            found.segments[definition.name] = registry.segment_of(definition.rule, definition.params)
        except SegmintError as error:
            found.errors[definition.name] = str(error)
    by_name = {d.name: d for d in definitions}
    batches = _batches(found.segments, {d.name: d.params for d in definitions})
    if wait_for_kernels and engine == "auto":
        started = time.perf_counter()
        for batch, params in batches:
            plans = tuple(found.segments[n].rule.plan for n in batch)
            with contextlib.suppress(SegmintError):
                source.compile(plans, bind(ir.And(plans), now, params, source.schema))
        COMPILED.kernels.wait_for_background()
        found.waited = time.perf_counter() - started
    members = _Members(source.ids(), layout, splits, control)
    for batch, params in batches:
        try:
            _batch(found, members, source, [by_name[n] for n in batch], params, now, engine)
        except SegmintError:  # find out which segment it was
            for name in batch:
                try:
                    wanted = {p: params[p] for p in found.segments[name].params}
                    _batch(found, members, source, [by_name[name]], wanted, now, engine)
                except SegmintError as error:
                    found.errors[name] = str(error)
    found.seconds["diff"] = members.seconds
    return found


def _batch(found: Evaluated, members: _Members, source: Local | OnCluster, definitions: list[Definition],
           params: Mapping, now: dt.datetime, engine: str) -> None:
    """Evaluate one batch over every partition; its memberships and bounds join ``found`` only when all of it
    evaluated."""
    plans = tuple(found.segments[d.name].rule.plan for d in definitions)
    bindings = bind(ir.And(plans), now, params, source.schema)
    bounds = [(plan, d.params) for plan, d in zip(plans, definitions, strict=True)]
    built: dict[str, BitMap] = {}
    earliest: list[dt.datetime | None] = [None] * len(plans)
    for k, masks, part_bounds in source.run(plans, bindings, engine, bounds, found.seconds):
        started = time.perf_counter()
        for i, definition in enumerate(definitions):
            members.add(built, definition, k, masks[i])
            moment = part_bounds[i]
            if moment is not None and (earliest[i] is None or moment < earliest[i]):
                earliest[i] = moment
        members.seconds += time.perf_counter() - started
    found.members.update(built)
    found.bounds.update((d.name, moment) for d, moment in zip(definitions, earliest, strict=True))


class _Members:
    """Memberships built partition by partition: a partition's members as rows of the layout (its start added),
    the global control group held out of the segments that exclude it, a split's groups cut from its segment."""

    def __init__(self, ids: list[np.ndarray], layout: Epoch | Layout, splits: Mapping,
                 control: GlobalControl | None) -> None:
        self.ids, self.starts, self.splits, self.control = ids, starts_of(parts_of(layout)), splits, control
        self._held: dict[int, np.ndarray] = {}  # per partition: who is in the global control group
        self.seconds = 0.0

    def add(self, built: dict[str, BitMap], definition: Definition, k: int, mask: np.ndarray) -> None:
        if self.control is not None and definition.exclude_control:
            held = self._held.get(k)
            if held is None:
                held = self._held[k] = self.control.held_out(self.ids[k])
            mask = mask & ~held
        self._put(built, definition.name, k, mask)
        split = self.splits.get(definition.name)
        if split is not None:
            for group, in_group in split.split.masks(self.ids[k]).items():
                self._put(built, f"{definition.name}.{group}", k, mask & in_group)

    def _put(self, built: dict[str, BitMap], name: str, k: int, mask: np.ndarray) -> None:
        part = bitmap(np.flatnonzero(mask) + self.starts[k])
        if name in built:
            built[name] |= part  # partitions are disjoint ranges of rows: the union appends containers
        else:
            built[name] = part


def _batches(segments: Mapping[str, Segment], params: Mapping[str, Mapping]) -> list[tuple[list[str], dict]]:
    """Segments grouped so that no parameter name has two values in one group (first fit, in name order)."""
    groups: list[tuple[list[str], dict]] = []
    for name in sorted(segments):
        own = dict(params[name])
        for members, merged in groups:
            if all(merged.get(k, v) == v for k, v in own.items()):
                members.append(name)
                merged.update(own)
                break
        else:
            groups.append(([name], own))
    return groups


# -- what runs on a cluster's workers -----------------------------------------------------------------------------
def look_task(directory: str, manifest: Mapping, k: int) -> tuple[np.ndarray, str]:
    """A partition's ids and content digest (the layout and the store's digest are made of them)."""
    from .. import cluster

    store = cluster.partition(directory, manifest, k, {})
    return np.asarray(store.ids), store_digest(store)


def refresh_task(directory: str, manifest: Mapping, k: int, plans: tuple[ir.Expr, ...], bindings: Bindings,
                 columns: Mapping, engine: str, bounds: Sequence[Bound]) -> tuple[np.ndarray, list]:
    """A partition's masks packed 8 rows to a byte, and its next-change bounds."""
    from .. import cluster

    _, packed, _ = cluster.masks_task(directory, manifest, k, plans, bindings, columns, engine)
    store = cluster.partition(directory, manifest, k, {})
    return packed, [bound(plan, store, bindings.now, params) for plan, params in bounds]


# -- the store's digest -----------------------------------------------------------------------------------------
def digest_of_parts(digests: Sequence[str]) -> str:
    """The digest of a store of partitions from its partitions' digests; of one partition, its digest."""
    if len(digests) == 1:
        return digests[0]
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(f"parts {len(digests)}".encode())
    for digest in digests:
        hasher.update(digest.encode())
    return hasher.hexdigest()


_digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def store_digest(store: Store) -> str:
    """A hash of a store's contents (ids, attribute values, event times and properties), once per store object:
    equal digests mean a refresh saw the same data, so whatever changed was caused by time. A saved store's
    partitions are kept as objects while they do not change, so an append rehashes only the partitions it touched.

    Every array is hashed in place (no copy) with SHA-1, which CPUs compute in hardware, on a thread per array
    (hashlib lets go of the GIL), and the arrays' digests are hashed together: 100k demo contacts (57 MB) 0.15 s
    -> 0.04 s; it is change detection, not security."""
    digest = _digests.get(store)
    if digest is None:
        parts: list[tuple[str, np.ndarray]] = [("ids", np.frombuffer(Epoch.of(store).digest.encode(), np.uint8))]
        columns = [(f"attribute {name}", store.attributes[name]) for name in sorted(store.attributes)]
        for name in sorted(store.events):
            table = store.events[name]
            parts += [(f"{name} offsets", table.offsets), (f"{name} ts", table.ts)]
            columns += [(f"{name}.{p}", table.properties[p]) for p in sorted(table.properties)]
        for label, column in columns:
            parts += [(f"{label} {kind}", part) for kind, part in (("values", column.values), ("valid", column.valid),
                                                                     ("offsets", column.offsets)) if part is not None]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            digests = list(pool.map(lambda part: _sha1(part[1]), parts))
        hasher = hashlib.blake2b(digest_size=16)
        for (label, part), part_digest in zip(parts, digests, strict=True):
            hasher.update(f"{label} {np.asarray(part).dtype.str} {len(part)}\0".encode())
            hasher.update(part_digest)
        digest = _digests[store] = hasher.hexdigest()
    return digest


def _sha1(array: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(array).view(np.uint8), usedforsecurity=False).digest()
