"""The fast path: a rule answered with no per-rule compilation, for first answers and one-off rules.

A fused kernel (runtime/engines/compiled.py) is the fastest way to evaluate a rule, but compiling it takes 0.3-2 s,
which is too long for a rule a user has just typed. This engine composes per rule, at run time, a few generic Numba
kernels that are compiled once per machine (Numba's disk cache, next to this file or in the user cache) and serve
every rule. It keeps the reference evaluator's column-at-a-time logic for everything over contacts and over event
filters, which is plain numpy, and replaces its two costly steps over events:

- the events of a set inside its window are found per contact by binary search in the contact's sorted timestamps
  (the reference compares every event's timestamp), so ``within 30d`` over two years of history reads only the
  events inside it, and nothing of all events is ever materialised per contact (``contact_rows``);
- counts and aggregates are folded per contact over those ranges (the reference uses ``bincount``/``ufunc.at``
  over every selected event).

``distinct`` keeps the reference's sort-based computation: it is rare and not worth a kernel of its own.
``engine="auto"`` (runtime/segment.py) answers with this engine while a rule's fused kernel compiles.
"""

from __future__ import annotations

import functools
import threading

import numba
import numpy as np

from ...compiler import ir
from ...compiler.passes import dated
from ...compiler.types import Type
from ..bindings import Bindings
from ..store.columns import Store
from ..timezones import local_times
from . import overflow, sequences
from .engine import Engine
from .reference import Evaluator, Vec, column_vec
from .threads import read_only, run_parallel

SUM, MIN, MAX = 0, 1, 2


class VectorEvaluator(Evaluator):
    """The reference evaluator with event sets reduced by generic kernels over per-contact windows."""

    def __init__(self, store, bindings, definitions=None) -> None:
        super().__init__(store, bindings, definitions)
        self._ranges: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._keeps: dict[tuple, np.ndarray | None] = {}

    def ranges(self, events: ir.EventSet) -> tuple[np.ndarray, np.ndarray]:
        """Per contact, the rows ``[first, last)`` of its events of the set's type inside the set's window."""
        zoned = dated(events.window) and self.zoned_bindings
        lo, hi = self.zoned_bindings.window(events.window) if zoned else self.bindings.window(events.window)
        key = (events.event, events.window) if zoned else (events.event, lo, hi)
        if key not in self._ranges:
            table = self.store.events[events.event]
            first, last = np.empty(self.n, np.int64), np.empty(self.n, np.int64)
            offsets, ts = _int64(table.offsets), _int64(table.ts)
            if zoned:  # the bounds of each contact's zone (runtime/zoneddays.py)
                lo, hi = self.zoned_bindings.per_zone(lo), self.zoned_bindings.per_zone(hi)
                zone = self.zone_of_rows(None)
                run_parallel(lambda a, b: _zoned_window_ranges(offsets, ts, lo, hi, zone, a, b, first, last), self.n)
            else:
                run_parallel(lambda a, b: _window_ranges(offsets, ts, lo, hi, a, b, first, last), self.n)
            self._ranges[key] = first, last
        return self._ranges[key]

    def keep(self, events: ir.EventSet, prop: ir.Prop | None = None) -> np.ndarray | None:
        """The events of the type that pass the set's filters (and have a value of ``prop``); None: all do."""
        key = (events.event, events.where, prop)
        if key not in self._keeps:
            table = self.store.events[events.event]
            masks = [np.broadcast_to(self.truth(c, table), (len(table),)) for c in events.where]
            if prop is not None and table.properties[prop.name].valid is not None:
                masks.append(np.asarray(table.properties[prop.name].valid, dtype=bool))
            self._keeps[key] = np.logical_and.reduce(masks) if masks else None
        return self._keeps[key]

    def counts(self, events: ir.EventSet) -> np.ndarray:
        first, last = self.ranges(events)
        keep = self.keep(events)
        if keep is None:
            return last - first
        out = np.empty(self.n, np.int64)
        run_parallel(lambda a, b: _count_kept(first, last, keep, a, b, out), self.n)
        return out

    def aggregate(self, node: ir.Aggregate) -> Vec:
        if node.function == "distinct":
            return super().aggregate(node)
        events = node.events
        first, last = self.ranges(events)
        table = self.store.events[events.event]
        if node.function in ("first", "last"):
            keep = self.keep(events)
            out, present = np.empty(self.n, np.int64), np.empty(self.n, np.bool_)
            pick_last = node.function == "last"
            flags = _flags(keep)
            ts = _int64(table.ts)
            run_parallel(lambda a, b: _first_last(first, last, flags, ts, pick_last, a, b, out, present), self.n)
            return Vec(out, present)
        values = read_only(column_vec(table.properties[node.prop.name]).data)
        keep = self.keep(events, node.prop)
        flags = _flags(keep)
        if node.function in ("sum", "avg"):
            dtype = np.int64 if node.type is Type.INT and node.function == "sum" else np.float64
            total, n = np.empty(self.n, dtype), np.empty(self.n, np.int64)
            run_parallel(lambda a, b: _fold(first, last, flags, values, SUM, a, b, total, n), self.n)
            if node.function == "sum":  # +inf and -inf together: not a number, null
                return Vec(total, np.ones(self.n, bool) if dtype == np.int64 else ~np.isnan(total))
            with np.errstate(invalid="ignore"):
                mean = np.where(n > 0, total / np.maximum(n, 1), 0.0)
            return Vec(mean, (n > 0) & ~np.isnan(mean))
        out, n = np.empty(self.n, values.dtype), np.empty(self.n, np.int64)
        op = MIN if node.function == "min" else MAX
        run_parallel(lambda a, b: _fold(first, last, flags, values, op, a, b, out, n), self.n)
        return Vec(out, n > 0)


    def sequence_counts(self, steps: tuple[ir.Step, ...], exists: bool) -> np.ndarray:
        """The generic scan (runtime/engines/sequences.py): pointers per step over the contact's events."""
        return sequences.scan_counts(sequences.step_inputs(steps, self), self.n, exists)

    # -- calendar and time of day ---------------------------------------------------------------------------------
    def local_times(self, table) -> np.ndarray:
        """Each event's local time, worked out once per store by a kernel (runtime/timezones.py)."""
        return local_times(self.store, table.name)


class VectorEngine(Engine):
    name = "vector"

    def masks(self, plans: tuple[ir.Expr, ...], store: Store, bindings: Bindings) -> np.ndarray:
        overflow.check(plans, store, bindings)  # it adds in int64
        evaluator = VectorEvaluator(store, bindings)
        return np.array([evaluator.mask(plan) for plan in plans]).reshape(len(plans), len(store))


VECTOR = VectorEngine()


def _int64(array: np.ndarray) -> np.ndarray:
    # One type per kernel argument, so each generic kernel is compiled for few signatures.
    return read_only(np.asarray(array, dtype=np.int64))


_ALL = np.ones(0, np.bool_)


def _flags(keep: np.ndarray | None) -> np.ndarray:
    """A kernel's event mask: an empty array stands for "every event" (the kernels test its size)."""
    return _ALL if keep is None else keep


# -- the generic kernels: each serves every rule; the runtime splits contacts [start, stop) over threads -------------
@numba.njit(nogil=True, cache=True)
def _window_ranges(offsets, ts, lo, hi, start, stop, first, last):  # pragma: no cover - runs compiled
    for i in range(start, stop):
        a, b = offsets[i], offsets[i + 1]
        first[i] = a + np.searchsorted(ts[a:b], lo, side="left")
        last[i] = a + np.searchsorted(ts[a:b], hi, side="right")


@numba.njit(nogil=True, cache=True)
def _zoned_window_ranges(offsets, ts, lo, hi, zone, start, stop, first, last):  # pragma: no cover - runs compiled
    for i in range(start, stop):
        a, b = offsets[i], offsets[i + 1]
        first[i] = a + np.searchsorted(ts[a:b], lo[zone[i]], side="left")
        last[i] = a + np.searchsorted(ts[a:b], hi[zone[i]], side="right")


@numba.njit(nogil=True, cache=True)
def _count_kept(first, last, keep, start, stop, out):  # pragma: no cover - runs compiled
    for i in range(start, stop):
        c = 0
        for j in range(first[i], last[i]):
            c += keep[j]
        out[i] = c


@numba.njit(nogil=True, cache=True)
def _fold(first, last, keep, values, op, start, stop, out, n):  # pragma: no cover - runs compiled
    every = keep.size == 0
    for i in range(start, stop):
        k = 0
        out[i] = 0
        acc = out[i]
        for j in range(first[i], last[i]):
            if every or keep[j]:
                v = values[j]
                if op == SUM:
                    acc += v
                elif k == 0 or (v < acc if op == MIN else v > acc):
                    acc = v
                k += 1
        out[i] = acc
        n[i] = k


@numba.njit(nogil=True, cache=True)
def _first_last(first, last, keep, ts, pick_last, start, stop, out, present):  # pragma: no cover - runs compiled
    every = keep.size == 0
    for i in range(start, stop):
        found = False
        value = 0
        if pick_last:
            for j in range(last[i] - 1, first[i] - 1, -1):
                if every or keep[j]:
                    found, value = True, ts[j]
                    break
        else:
            for j in range(first[i], last[i]):
                if every or keep[j]:
                    found, value = True, ts[j]
                    break
        out[i] = value
        present[i] = found


# -- a process's first kernel ---------------------------------------------------------------------------------------
@functools.cache  # once per process
def warm_in_background() -> None:
    """Load this engine's two most used kernels in a background thread. Numba's first kernel of a process costs
    ~0.2 s before it runs, from its disk cache or not (its implementation registries are imported and installed), so
    ``Store.open`` starts this: the first rule evaluated on a store opened a moment earlier (an editor's first rule,
    issue 13) does not wait for it. Numba's compiler lock keeps it apart from kernels compiled meanwhile."""
    threading.Thread(target=_load_kernels, name="segmint-warm", daemon=True).start()


def _load_kernels() -> None:
    # the argument types of an opened (memory-mapped, read-only) store's columns, over no contacts
    offsets, none = read_only(np.zeros(1, np.int64)), read_only(np.zeros(0, np.int64))
    first, last, out = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    try:
        _window_ranges(offsets, none, 0, 0, 0, 0, first, last)
        _count_kept(first, last, np.zeros(0, np.bool_), 0, 0, out)
    except Exception:  # only a head start: the rule's own call raises, or compiles, as it would have
        pass
