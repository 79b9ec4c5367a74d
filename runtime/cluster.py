"""Evaluation over the partitions of a saved store on a Dask cluster: ``evaluate_many(..., client=client)``.

The client (this process) never reads the store's arrays and never ships them: it sends each task the store's
folder, the manifest of the version it evaluates (a few kilobytes of JSON) and the partition's number, and the
worker opens that partition itself (``partitioned.open_partition``; a worker keeps the last partitions it opened, so
the rounds below open each once). The folder, and the kernel cache folder (``SEGMINT_CACHE``), must be readable at
the same paths on every worker: one machine's disk, or a shared file system.

Rounds, as on one machine (runtime/engines/partitions.py):

1. ranks: for each population measure, innermost first, every partition measures its contacts; the client ranks
   the values of all partitions together and sends each partition its slice of the ranks in the next rounds;
2. kernels (compiled and auto engines): every partition says which kernels its plans need and which of them are
   not in the kernel cache yet (a kernel's shape depends on the partition: nulls, dictionary sizes, sparse events);
   for each missing kernel one partition is evaluated first, compiling it into the shared cache, and only then are
   the others fanned out, so no kernel is compiled by more than one task;
3. masks: every partition runs the plans; the client lays the masks end to end in partition order, the order of
   ``SavedStore.snapshot()``.

Dask is not imported here: only the client object's ``submit`` and ``gather`` are used, and segmint does not
depend on Dask (``pip install 'segmint[dask]'``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiler import ir
from ..compiler.schema import Schema
from ..dsl.errors import SegmintError
from .bindings import Bindings
from .engines import kernel_batches, partitions
from .engines.compiled import COMPILED
from .engines.engine import Engine
from .store.columns import Column, Store
from .store.partitioned import SavedStore, open_partition
from .store.parts import Partitions

KEPT_PARTITIONS = 8  # partitions a worker keeps open between the rounds of evaluations


@dataclass(frozen=True, eq=False)
class ClusterRows:
    """What a ``Result`` of a cluster evaluation knows of the store: the ids of its rows (partition order)."""

    ids: np.ndarray
    directory: Path
    version: int

    def __len__(self) -> int:
        return len(self.ids)


def answer(client, plans: tuple[ir.Expr, ...], store: SavedStore | Partitions, bindings: Bindings, engine: Engine
           ) -> tuple[np.ndarray, list[str], ClusterRows]:
    """The masks of ``plans`` over the partitions of ``store`` (partition order), the engine that answered each
    plan, and the rows."""
    directory, manifest = located(store)
    ordered = answer_parts(client, plans, (directory, manifest), store.schema, bindings, engine)
    masks = np.concatenate([np.unpackbits(packed, axis=1, count=len(ids)).astype(bool)
                            for ids, packed, _ in ordered], axis=1)
    engines = ["vector" if any(used[p] == "vector" for _, _, used in ordered) else ordered[0][2][p]
               for p in range(len(plans))]
    ids = np.concatenate([ids for ids, _, _ in ordered])
    return masks, engines, ClusterRows(ids, directory, manifest.get("store_version", 1))


def answer_parts(client, plans: tuple[ir.Expr, ...], version: tuple[Path, Mapping], schema: Schema,
                 bindings: Bindings, engine: Engine, task=None, extra: tuple = ()) -> list:
    """The rounds above over the store version ``version`` (its folder and manifest: ``located``), and what
    ``task`` (default ``masks_task``) answers for each partition in the last one, in partition order.
    ``task(directory, manifest, k, plans, bindings, columns, engine, *extra)`` runs on a worker (plans reading ranked
    columns; ``columns`` the partition's ranks); the live registry's refresh passes its own (runtime/live/partwise.py)
    to get masks and next-change bounds back."""
    task = masks_task if task is None else task
    directory, manifest = version
    count = len(manifest["parts"]) if "parts" in manifest else 1
    tasks = range(count)

    def over(function, arguments, which=tasks):
        futures = [client.submit(function, str(directory), manifest, k, *arguments(k), pure=False) for k in which]
        return dict(zip(which, client.gather(futures), strict=True))

    rounds, plans = partitions.rank_rounds(plans, schema)
    columns: dict[int, dict[str, Column]] = {k: {} for k in tasks}
    for step in rounds:
        measured = over(measure_task, lambda k, node=step.node: (node, bindings, columns[k]))
        for k, column in zip(tasks, partitions.rank_together(step.node, [measured[k] for k in tasks]), strict=True):
            columns[k] = {**columns[k], step.name: column}

    answered: dict[int, tuple] = {}
    if engine.name in {"compiled", "auto"}:
        needs = over(kernels_task, lambda k: (plans, columns[k]))
        first_of: dict[str, int] = {}
        for k in tasks:
            for key in needs[k]:
                first_of.setdefault(key, k)
        compiling = sorted(set(first_of.values()))
        if compiling:  # one task per missing kernel compiles it into the shared cache; the rest load it
            answered.update(over(task, lambda k: (plans, bindings, columns[k], "compiled", *extra), which=compiling))
    rest = [k for k in tasks if k not in answered]
    if rest:
        answered.update(over(task, lambda k: (plans, bindings, columns[k], engine.name, *extra), which=rest))
    return [answered[k] for k in tasks]


def located(store: SavedStore | Partitions) -> tuple[Path, Mapping]:
    """The folder and the manifest of the version to evaluate."""
    if isinstance(store, SavedStore):
        return store.directory, store._manifest  # the version this object holds, never read on the client
    if isinstance(store, Partitions) and store.directory is not None and store.manifest is not None:
        return store.directory, store.manifest
    raise SegmintError(f"a cluster evaluates a saved store (segmint.SavedStore), which its workers open from its "
                       f"folder, not a {type(store).__name__} in this process's memory")


# -- what runs on a worker ----------------------------------------------------------------------------------------
_lock = threading.Lock()
_opened: OrderedDict[tuple, Store] = OrderedDict()


def partition(directory: str, manifest: Mapping, k: int, columns: Mapping[str, Column]) -> Store:
    """Partition ``k`` of the version ``manifest`` describes, opened on this worker (kept among the last
    ``KEPT_PARTITIONS``), with the ranked ``columns`` added."""
    key = (directory, manifest.get("store_version", 1), manifest.get("checksum"), k)
    with _lock:
        store = _opened.get(key)
        if store is not None:
            _opened.move_to_end(key)
    if store is None:
        store = open_partition(directory, manifest, k)
        with _lock:
            _opened[key] = store
            while len(_opened) > KEPT_PARTITIONS:
                _opened.popitem(last=False)
    return partitions.with_columns(store, columns)


def measure_task(directory: str, manifest: Mapping, k: int, node: ir.Rank | ir.Rfm, bindings: Bindings,
                 columns: Mapping[str, Column]) -> tuple[np.ndarray, ...]:
    return partitions.measure_part(partition(directory, manifest, k, columns), node, bindings)


def kernels_task(directory: str, manifest: Mapping, k: int, plans: tuple[ir.Expr, ...],
                 columns: Mapping[str, Column]) -> list[str]:
    """The keys of the kernels this partition's plans need that the kernel cache does not hold yet."""
    store = partition(directory, manifest, k, columns)
    kernels = COMPILED.kernels
    work = kernel_batches.split(plans)
    batches = kernel_batches.kernel_batches(work, lambda part: kernels.kernel_for((part,), store).key)
    needed = [kernels.kernel_for(tuple(work.parts[i] for i in batch), store) for batch in batches]
    return [kernel.key for kernel in needed if not kernels.ready(kernel)]


def masks_task(directory: str, manifest: Mapping, k: int, plans: tuple[ir.Expr, ...], bindings: Bindings,
               columns: Mapping[str, Column], engine: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The partition's ids, its masks packed 8 rows to a byte, and the engine that answered each plan."""
    from .segment import _ENGINES, check_store

    store = partition(directory, manifest, k, columns)
    for plan in plans:
        check_store(plan, store)
    masks, used = partitions.masks_part(store, plans, bindings, _ENGINES[engine])
    return np.asarray(store.ids), np.packbits(masks, axis=1), used
