"""The compiled engine: a plan's kernel is generated (compiler/kernels/), compiled by Numba or loaded from the cache,
fed the store's arrays and this evaluation's numbers, and run over all contacts in parallel. A rule or a batch over
the kernel budget runs as several kernels, and a part that cannot be cut on the vector engine (kernel_batches.py).

Kernel cache (``KernelCache``, one per process: ``COMPILED.kernels``): in memory, and on disk
(runtime/engines/kernel_cache.py) so a new process loads a compiled kernel instead of compiling it again.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numba
import numpy as np

from ...compiler import ir
from ...compiler.kernels import MASK_BITS, Kernel, StoreFacts, generate
from ...compiler.kernels import plan as kp
from ...compiler.types import Type
from ..bindings import Bindings
from ..calendar import anniversary_table, current_periods, month_days
from ..store.columns import Store
from ..timeutil import last_birth_day
from ..timezones import local_times, now_in_zones, zoned, zones
from ..zoneddays import ZonedBindings, zoned_input
from . import kernel_batches, overflow
from .compile_worker import compile_elsewhere
from .engine import Engine
from .kernel_cache import cache_folder, import_kernel, sound, usable_folder
from .ranked_inputs import with_ranks
from .sequences import gap_us, same_codes
from .strings import string_table
from .threads import read_only, run_parallel
from .vector import VectorEvaluator

GENERATED_KEPT = 512  # generated kernels kept per process (per plans and store shape)


class KernelCache:
    """This process's kernels: generated, loaded (their modules imported, from the disk cache or compiled), run, being
    compiled by the compiler thread, or failed to compile there. One per process (``COMPILED.kernels``); a fresh one
    knows no kernel but those in the disk cache, as a new process would."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generated: dict[tuple, Kernel] = {}
        self._loaded: dict[str, Future] = {}  # kernel modules, imported (their functions compile on first call)
        self._compiled: set[str] = set()  # kernels that have run in this process
        self._compiling: set[str] = set()  # kernels the compiler thread is working on
        self._failed: set[str] = set()  # kernels whose background compile failed (auto does not try them again)
        self._background: ThreadPoolExecutor | None = None

    def kernel_for(self, plans: tuple[ir.Expr, ...], store: Store) -> Kernel:
        """The kernel of ``plans`` for this store, generated once per plans and store shape (kept for reuse). Population
        measures are inputs of the kernel (ranked_inputs.py): the engines replace them by their ranked columns before
        they run it; here, for a kernel's shape alone, by empty columns."""
        plans, store = with_ranks(plans, store, None)
        key = (plans, _shape(plans, store))
        with self._lock:
            kernel = self._generated.get(key)
        if kernel is None:
            kernel = generate(
                plans,
                StoreFacts(
                    nullable=lambda column: column_of(store, column).valid is not None,
                    code_dtype=lambda column: str(column_of(store, column).values.dtype),
                    dictionary_size=lambda column: len(column_of(store, column).dictionary),
                    sparse=lambda event: _sparse(store, event),
                    zoned=zoned(store),
                    strings=lambda column: column_of(store, column).type is Type.STRING,
                ),
            )
            with self._lock:
                self._generated[key] = kernel
                while len(self._generated) > GENERATED_KEPT:
                    self._generated.pop(next(iter(self._generated)))
        return kernel

    def load(self, kernel: Kernel, strict: bool = True) -> Callable:
        """The compiled kernel function: from memory, from the disk cache, or compiled now (on its first call).

        A cache folder that cannot be written raises KernelCacheError when ``strict`` (``engine="compiled"``), else
        warns once and keeps the kernel in memory (kernel_cache.usable_folder). The lock is not held while compiling:
        a thread compiling one kernel (say, in the background) does not hold up threads that want others. Threads that
        want the same kernel wait for the one that compiles it.
        """
        key = _key(kernel)
        with self._lock:
            future = self._loaded.get(key)
            mine = future is None
            if mine:
                future = self._loaded[key] = Future()
        if mine:
            try:
                future.set_result(_import(kernel, key, usable_folder(strict)))
            except BaseException as error:
                with self._lock:
                    del self._loaded[key]  # the next caller tries again
                future.set_exception(error)
        return future.result()

    def loaded(self) -> int:
        """How many kernel modules this process has imported."""
        with self._lock:
            return len(self._loaded)

    def ready(self, kernel: Kernel) -> bool:
        """Whether running ``kernel`` starts at once: compiled in this process, or in the disk cache with every file of
        it sound (should the cache not hold these argument types, the run compiles them, correctly but slowly)."""
        key = _key(kernel)
        with self._lock:
            if key in self._compiled:
                return True
            if key in self._compiling:
                return False
        folder = cache_folder()
        return folder is not None and any(
            sound(index) for index in (folder / "__pycache__").glob(f"{module_name(kernel)}.kernel-*.nbi")
        )

    def run(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings, strict: bool = True) -> np.ndarray:
        """The masks of ``plans`` (one row each) from one kernel run. ``strict``: a cache folder that cannot be
        written is an error (see ``load``), even for a kernel already in memory."""
        if strict:
            usable_folder(strict=True)
        kernel = self.kernel_for(plans, store)
        function, inputs = self.load(kernel, strict), kernel_inputs(kernel, plans, store, bindings)
        out = np.empty((len(plans), len(store)), dtype=np.bool_)
        run_parallel(lambda start, stop: function(start, stop, out, *inputs), len(store))
        with self._lock:
            self._compiled.add(_key(kernel))
        return out

    def compile_in_background(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> None:
        """Compile the kernel of ``plans`` for this store's argument types, unless it is compiled, being compiled or
        failed to compile before. segmint's compiler thread hands the work to a child process
        (runtime/engines/compile_worker.py) that compiles into the disk cache; with no usable disk cache, the thread
        compiles it itself (Numba compiles when a kernel is first called, so the thread calls it over no contacts)."""
        kernel = self.kernel_for(plans, store)
        key = _key(kernel)
        with self._lock:
            if key in self._compiled or key in self._compiling or key in self._failed:
                return
            self._compiling.add(key)
            if self._background is None:
                self._background = ThreadPoolExecutor(
                    1, thread_name_prefix="segmint-compile", initializer=_lower_priority
                )
            self._background.submit(self._compile, kernel, plans, store, bindings)

    def wait_for_background(self) -> None:
        """Return when the compiler thread has done what it was asked so far."""
        with self._lock:
            background = self._background
        if background is not None:
            background.submit(lambda: None).result()

    def _compile(self, kernel: Kernel, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> None:
        key = _key(kernel)
        try:
            with contextlib.suppress(Exception):  # a failure shows where it can be seen: in the next foreground run
                arguments = (0, 0, np.empty((len(plans), 1), np.bool_), *kernel_inputs(kernel, plans, store, bindings))
                folder, outcome = usable_folder(strict=False), "unavailable"
                if folder is not None:
                    signature = tuple(map(numba.typeof, arguments))
                    outcome = compile_elsewhere(module_name(kernel), kernel.source, folder, signature)
                if outcome in ("compiled", "unavailable"):
                    # Compiled: loaded from the disk cache now (milliseconds), wherever Numba's locator put the files
                    # (NUMBA_CACHE_DIR moves them out of the cache folder). Unavailable: compiled here.
                    self.load(kernel, strict=False)(*arguments)
                    with self._lock:
                        self._compiled.add(key)
                elif outcome == "failed":
                    with self._lock:
                        self._failed.add(key)  # over the child's limits: the vector engine answers for it
        finally:
            with self._lock:
                self._compiling.discard(key)


class CompiledEngine(Engine):
    """Fused kernels within the budget (kernel_batches.py); a part too large for any kernel on the vector engine."""

    name = "compiled"

    def __init__(self, kernels: KernelCache) -> None:
        self.kernels = kernels

    def answer(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> tuple[np.ndarray, list[str]]:
        overflow.check(plans, store, bindings)  # kernels add in int64
        plans, store = with_ranks(plans, store, bindings)  # population measures: ranked first, read as columns
        masks, engines, _ = self.run(plans, store, bindings, run_now=None)
        return masks, engines

    def run(
        self,
        plans: tuple[ir.Expr, ...],
        store: Store,
        bindings: Bindings,
        run_now: Callable[[Kernel], bool] | None,
    ) -> tuple[np.ndarray, list[str], list[tuple[ir.Expr, ...]]]:
        """The masks of ``plans``, the engine that computed each, and the batches of parts left to the vector engine
        because ``run_now(kernel)`` said no (None: every kernel runs now, compiled if need be, with a cache folder
        that cannot be written an error)."""
        strict = run_now is None
        kernels = self.kernels
        work = kernel_batches.split(plans)
        batches = kernel_batches.kernel_batches(work, lambda part: kernels.kernel_for((part,), store).key)
        whole = list(range(len(plans)))
        if work.trees == whole and batches == [whole] and (strict or run_now(kernels.kernel_for(plans, store))):
            return kernels.run(plans, store, bindings, strict), [self.name] * len(plans), []  # the usual case
        masks, later = {}, []
        for batch in batches:
            parts = tuple(work.parts[k] for k in batch)
            if strict or run_now(kernels.kernel_for(parts, store)):
                masks.update(zip(batch, kernels.run(parts, store, bindings, strict), strict=True))
            else:
                later.append(parts)
        rest = [k for k in range(len(work.parts)) if k not in masks]
        if rest:  # parts too large for a kernel, and parts whose kernel is not to run now
            evaluator = VectorEvaluator(store, bindings)
            masks.update((k, evaluator.mask(work.parts[k])) for k in rest)
        out = np.empty((len(plans), len(store)), dtype=np.bool_)
        for row, tree in zip(out, work.trees, strict=True):
            row[:] = kernel_batches.combine(tree, masks)
        by_vector = set(rest)
        engines = ["vector" if by_vector.intersection(kernel_batches.parts_of(t)) else self.name for t in work.trees]
        return out, engines, later


COMPILED = CompiledEngine(KernelCache())


def _shape(plans: tuple[ir.Expr, ...], store: Store) -> tuple:
    """What of the store changes a kernel: which of the columns it reads have nulls, their storage types, which
    string columns have small dictionaries (see kernels MASK_BITS) and which event types are sparse. Worked out on
    every evaluation: one walk of the plans."""
    columns, events = set(), set()
    for plan in plans:
        for node in ir.walk(plan):
            match node:
                case ir.Attr(name=name):
                    columns.add(kp.AttrColumn(name))
                case ir.Prop(event=event, name=name):
                    columns.add(kp.PropColumn(event, name))
                case ir.EventSet(event=event):
                    events.add(event)
    facts = [
        (c, column_of(store, c).valid is not None, str(column_of(store, c).values.dtype), _small(store, c))
        for c in sorted(columns, key=repr)
    ]
    return tuple(facts) + tuple((event, _sparse(store, event)) for event in sorted(events)) + (zoned(store),)


SPARSE_EVENTS_PER_CONTACT = 1.0  # event types with at most this many events per contact are measured per block


def _sparse(store: Store, event: str) -> bool:
    return len(store.events[event].ts) <= SPARSE_EVENTS_PER_CONTACT * max(len(store), 1)


def _small(store: Store, column: kp.Column) -> bool:
    dictionary = column_of(store, column).dictionary
    return dictionary is not None and len(dictionary) <= MASK_BITS


def _lower_priority() -> None:
    """The compiler thread yields the CPU to the application's threads (when it compiles itself). One thread, so one
    background compile at a time."""
    with contextlib.suppress(AttributeError, OSError):  # Linux sets a nice value per thread; elsewhere not at all
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _key(kernel: Kernel) -> str:
    return f"{kernel.key}_{numba.__version__.replace('.', '_')}"


def module_name(kernel: Kernel) -> str:
    """The name of the kernel's module (and of its files in the disk cache) for this Numba."""
    return f"segmint_kernel_{_key(kernel)}"


def _import(kernel: Kernel, key: str, folder) -> Callable:
    name = module_name(kernel)
    if folder is None:
        namespace: dict = {}
        exec(compile(kernel.source.replace("cache=True", "cache=False"), name, "exec"), namespace)
        return namespace["kernel"]
    return import_kernel(name, kernel.source, folder)


def kernel_inputs(kernel: Kernel, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> list:
    """The kernel's arguments after ``out``: its numbers (ints, floats), then its arrays."""
    arrays = [read_only(input_value(item, store, plans, bindings)) for item in kernel.arrays]
    ints = np.array([input_value(item, store, plans, bindings) for item in kernel.ints] or [0], dtype=np.int64)
    floats = np.array([input_value(item, store, plans, bindings) for item in kernel.floats] or [0.0], dtype=np.float64)
    return [ints, floats, *arrays]


# -- filling the inputs --------------------------------------------------------------------------------------
def column_of(store: Store, column: kp.Column):
    """The store's column that a kernel plan's column names."""
    match column:
        case kp.AttrColumn(name=name) | kp.TagsColumn(name=name):
            return store.attributes[name]
        case kp.PropColumn(event=event, name=name):
            return store.events[event].properties[name]
    raise TypeError(f"not a column: {column!r}")


def sequence_counts(node: ir.Sequence | ir.SequenceCount, store: Store, bindings: Bindings) -> np.ndarray:
    """A sequence's input: its occurrences by the vector engine's generic scan (``Sequence``: 1 when it has one)."""
    return VectorEvaluator(store, bindings).sequence_counts(node.steps, exists=isinstance(node, ir.Sequence))


def input_value(item: kp.Input, store: Store, plans: tuple[ir.Expr, ...], bindings: Bindings) -> np.ndarray | int:
    """The one decoder of kernel inputs (compiler/kernels/plan.py): the store's array or this evaluation's number
    that ``item`` stands for."""
    if store.schema.zoned and zoned(store):  # the numbers a date makes, per zone (runtime/zoneddays.py)
        found = zoned_input(item, ZonedBindings(bindings, zones(store)))
        if found is not None:
            return found
    match item:
        case kp.ColumnValues(column=column):
            return column_of(store, column).values
        case kp.ColumnValid(column=column):
            return column_of(store, column).valid
        case kp.TagOffsets(name=name):
            return store.attributes[name].offsets
        case kp.TagBits(name=name):
            return store.attributes[name].tag_bits
        case kp.EventOffsets(event=event):
            return store.events[event].offsets
        case kp.EventTimes(event=event):
            return store.events[event].ts
        case kp.LastEventTimes(event=event):
            return store.events[event].last_ts
        case kp.EventRows(event=event):
            return store.events[event].contact_rows
        case kp.StringTable(column=column, predicate=predicate):
            values = column_of(store, column)
            # Indexed by code: as unsigned for narrow codes (null, -1, is the last entry), else from the end.
            size = {1: 256, 2: 65536}.get(values.values.dtype.itemsize, len(values.dictionary) + 1)
            table = np.zeros(size, dtype=np.bool_)
            table[: len(values.dictionary)] = string_table(predicate, bindings, values.dictionary)
            return table
        case kp.IntValue(node=node):
            return int(bindings.value(node))
        case kp.FloatValue(node=node):
            return float(bindings.value(node))
        case kp.WindowStart(window=window):
            return bindings.window(window)[0]
        case kp.WindowEnd(window=window):
            return bindings.window(window)[1]
        case kp.ActiveStart(windows=windows):  # no event time is the smallest int64, the last_ts of "no events"
            return max(min(bindings.window(w)[0] for w in windows), -(2**63) + 1)
        case kp.GroupStart(windows=windows):
            return min(bindings.window(w)[0] for w in windows)
        case kp.GroupEnd(windows=windows):
            return max(bindings.window(w)[1] for w in windows)
        case kp.StringMask(column=column, predicate=predicate):
            table = string_table(predicate, bindings, column_of(store, column).dictionary)
            return sum(1 << int(code) for code in np.flatnonzero(table))
        case kp.AgeCut(bound=bound, extra=extra):
            return last_birth_day(bindings.now, int(bindings.value(bound)) + extra)
        case kp.NowMicros():
            return bindings.now_us
        case kp.NowYear():
            return bindings.now.year
        case kp.NowMonthDay():
            return bindings.now.month * 100 + bindings.now.day
        case kp.SequenceCounts(node=node):
            return sequence_counts(node, store, bindings)
        case kp.StepGap(within=within):
            return gap_us(bindings.value(within))
        case kp.SameCodes(before=before, here=here):
            return same_codes(column_of(store, before).dictionary, column_of(store, here).dictionary)
        case kp.SameSize(column=column):
            return max(len(column_of(store, column).dictionary), 1)
        case kp.ZoneNow(part=part):
            return now_in_zones(zones(store), bindings.now_us)[part]
        case kp.ZoneAgeCut(bound=bound, extra=extra):
            years = int(bindings.value(bound)) + extra
            return np.array([last_birth_day(day, years) for day in now_in_zones(zones(store), bindings.now_us)["date"]],
                            np.int64)
        case kp.LocalTimes(event=event):
            return local_times(store, event)
        case kp.ZoneTables(part=part):
            return getattr(zones(store), part)
        case kp.MonthDays():
            return month_days()
        case kp.ZoneAnniversaries(duration=duration):
            return anniversary_table(zones(store), bindings, duration)
        case kp.ZonePeriods(window=window, unit=unit, periods=periods, first=first):
            return current_periods(zones(store), bindings.window(window)[1], unit, periods)[first]
        case kp.ScratchSize():
            sizes = [
                len(store.events[n.prop.event].properties[n.prop.name].dictionary)
                for plan in plans
                for n in ir.walk(plan)
                if isinstance(n, ir.Aggregate) and n.function == "distinct" and n.prop.type is Type.STRING
            ]
            return max(sizes) + 1
    raise TypeError(f"not a kernel input: {item!r}")
