"""The memory-traffic lower bound of a rule: the bytes its kernel must read, and how fast this machine reads them.

A segmint kernel does little arithmetic per byte it reads (a comparison, an addition), so on a large store its time is
set by memory traffic, and ``bytes_read(...) / measure_bandwidth()`` is the time below which no kernel for the rule
can go on this machine. The benchmark prints each rule's time as a multiple of it.

What counts as read (``describe`` lists it array by array), derived from the kernel's inputs and the data:

- attribute columns and their validity masks (only when the column has nulls: otherwise the kernel takes none),
  tag lists (offsets and codes): whole, since every contact is looked at;
- for every event type the rule uses: its ``offsets`` whole (every contact's slice is looked up), and each property
  column a pass reads (filters, and the values of sum/avg/min/max/distinct, with validity masks where present) for
  the events inside the windows of the sets that need the pass (counted with numpy on the timestamps, with the
  window bounds of ``bind()``);
- timestamps: a window's ends come from binary searches, which must read at least one timestamp of each contact's
  (non-empty) slice, and nothing more. Counts and first/last of unfiltered sets need nothing else; a pass needs the
  timestamps of its events only to test them against several windows at once, which is a choice of today's code
  generator, not a need of the rule, so they are not counted (the kernel's extra reads show up in its ratio).

Memory moves in 64-byte cache lines, so the bound counts the distinct cache lines holding the elements that must be
read (at the arrays' real addresses), not their bytes: three one-byte codes of one contact's events cost a line,
unless a neighbour's events share it. Each line is counted once, as if every line stayed in cache between two uses
of it (a lower bound; ``Read.payload`` gives the plain bytes for comparison). Lookup tables over string dictionaries
(a byte per value) are not counted: small, and cached after their first use.

The assumption: **every condition is evaluated for every contact and every event of its window.** Kernels
short-circuit (``a and b`` skips ``b`` when ``a`` is false; a contact's events are skipped when its attributes already
decide; a tag search stops at the first hit), so on a given store a kernel may legitimately read fewer lines than
this: then it may run faster than the bound. No exact bound exists short of evaluating the rule (which rows each
condition reaches depends on the data), so this one is exact for a kernel that evaluates every condition, and a
lower bound of it. The bound is about DRAM: when the arrays a rule reads fit in the CPU's last-level cache (a store
of tens of thousands of contacts; on a server with a large L3, even a few million) and stay there between
evaluations, a kernel can beat it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np

from segmint.compiler import ir
from segmint.compiler.kernels import plan as kp
from segmint.runtime.bindings import bind
from segmint.runtime.engines import compiled
from segmint.runtime.engines.ranked_inputs import ranked_nodes, with_ranks
from segmint.runtime.segment import Segment
from segmint.runtime.store.columns import Store

CACHE_LINE = 64
LOCAL = "local time"  # the events' local times (time parts, calendar periods), read like a property
GIB = 1 << 30


# == bandwidth =====================================================================================================


@numba.njit(parallel=True, nogil=True, cache=True)
def _parallel_sum(values: np.ndarray) -> int:
    total = 0
    for i in numba.prange(len(values)):
        total += values[i]
    return total


def measure_bandwidth(gib: float = 2.0, repeat: int = 3) -> float:
    """This machine's read bandwidth in bytes/s, measured now: a Numba ``prange`` sum over a ``gib``-GiB int64 array
    on all of Numba's threads, the best of ``repeat`` runs after a warm-up.

    Why this measure: it is the fastest a kernel like segmint's can stream data in, so it gives the bound its time.
    Like the kernels, it is compiled by Numba, reads sequentially and runs on every core (a single thread cannot
    saturate the memory bus: numpy's serial ``sum`` gets about 60% of it here). The array is far larger than the
    caches, so it measures DRAM, and it is filled first: untouched pages of ``np.zeros`` would all read the
    kernel's shared zero page and measure the cache instead. The best of a few runs, because on a shared machine
    every disturbance makes a run slower, never faster.
    """
    values = np.ones(max(int(gib * GIB) // 8, 1), dtype=np.int64)
    threads = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    try:
        _parallel_sum(values)  # compile (or load from the cache), start the threads, fault in the pages
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            total = _parallel_sum(values)
            best = min(best, time.perf_counter() - started)
        if total != len(values):  # the sum is used, so the reads cannot be optimised away
            raise AssertionError(f"sum of ones is {total}, not {len(values)}")
    finally:
        numba.set_num_threads(threads)
    return values.nbytes / best


# == bytes a rule must read ========================================================================================


@dataclass(frozen=True)
class Read:
    """What one input array of a kernel must at least be read for."""

    item: kp.ArrayInput  # the kernel's input (compiler/kernels/plan.py): EventTimes("purchase"), ...
    rows: int  # elements that must be read
    itemsize: int
    lines: int  # distinct 64-byte cache lines holding them
    how: str  # why these rows: "whole", "events in window", "binary search"

    @property
    def bytes(self) -> int:
        """Memory traffic: the cache lines, whole."""
        return self.lines * CACHE_LINE

    @property
    def payload(self) -> int:
        """The bytes of the elements themselves (what a byte count without cache lines would say)."""
        return self.rows * self.itemsize

    def __str__(self) -> str:
        size = f"{self.rows:>12,} rows x {self.itemsize} B  {self.bytes / 1e6:>9.1f} MB"
        return f"{self.item!s:<38} {self.how:<17} {size}"


def bytes_read(
    segment: Segment | Sequence[Segment], store: Store, now=None, params: Mapping[str, object] | None = None
) -> int:
    """A lower bound of the bytes the kernel of ``segment`` (or of several, as ``evaluate_many`` runs them) reads
    from memory on ``store`` at ``now``: see the module's docstring for what counts and the one assumption."""
    return sum(read.bytes for read in describe(segment, store, now, params))


def describe(
    segment: Segment | Sequence[Segment], store: Store, now=None, params: Mapping[str, object] | None = None
) -> list[Read]:
    """``bytes_read``, array by array, in the order of the kernel's inputs."""
    segments = [segment] if isinstance(segment, Segment) else list(segment)
    plans = tuple(s.rule.plan for s in segments)
    bindings = bind(ir.And(plans), now, params)  # as evaluate_many binds: ``now`` and every segment's parameters
    return _reads(plans, store, bindings)


def _reads(plans: tuple[ir.Expr, ...], store: Store, bindings) -> list[Read]:
    # Population measures (issue 13): the kernel reads each as a ranked column of the contact; the pass that measures
    # every contact before it reads what a kernel testing that measure would (ranking the values is compute, no reads)
    measures = tuple(_measure_plan(node) for node in ranked_nodes(plans))
    plans, store = with_ranks(plans, store, bindings)
    return _kernel_reads(plans, store, bindings) + (_reads(measures, store, bindings) if measures else [])


def _measure_plan(node: ir.Rank | ir.Rfm) -> ir.Expr:
    if isinstance(node, ir.Rank):
        return ir.IsNull(node.measure, negated=True)
    # R, F and M: the last time, count and sum of one set, which one pass over its events gives
    return ir.IsNull(ir.Aggregate("sum", node.events, node.prop, node.prop.type), negated=True)


def _kernel_reads(plans: tuple[ir.Expr, ...], store: Store, bindings) -> list[Read]:
    kernel = compiled.COMPILED.kernels.kernel_for(plans, store)  # the kernel evaluate/evaluate_many would run
    needs = _pass_rows(plans, store, bindings)
    reached = _reached(plans, store, bindings, kernel)
    reads = []
    for item in kernel.arrays:
        match item:
            case (
                kp.ColumnValues(column=kp.PropColumn(event=event, name=name))
                | kp.ColumnValid(column=kp.PropColumn(event=event, name=name))
            ):
                rows = needs.get((event, name), np.zeros(len(store.events[event]), dtype=bool))
                reads.append(_rows(item, compiled.input_value(item, store, plans, bindings), rows))
            case kp.ColumnValues() | kp.ColumnValid() | kp.TagBits() | kp.TagOffsets() | kp.LastEventTimes():
                reads.append(_whole(item, compiled.input_value(item, store, plans, bindings)))
            case kp.EventOffsets(event=event) if event in reached:
                ends = np.zeros(len(store) + 1, dtype=bool)
                ends[:-1] |= reached[event]
                ends[1:] |= reached[event]
                reads.append(_rows(item, store.events[event].offsets, ends))
            case kp.EventOffsets(event=event):
                reads.append(_whole(item, store.events[event].offsets))
            case kp.EventTimes(event=event):
                reads.append(_binary_search(item, store.events[event], reached.get(event)))
            case kp.StringTable():
                continue  # a byte per dictionary value, cached after its first use
            case kp.EventRows():
                continue  # each event's contact row: how blocked passes find slots, not something the rule needs
            case kp.SequenceCounts(node=node):  # computed before the kernel: what its scan must read
                reads.extend(_sequence_reads(node, store, bindings))
            case kp.LocalTimes(event=event):  # read like a property by the sets testing a time part
                rows = needs.get((event, LOCAL), np.zeros(len(store.events[event]), dtype=bool))
                reads.append(_rows(item, compiled.input_value(item, store, plans, bindings), rows))
            case kp.ZoneTables(part="contact"):
                reads.append(_whole(item, compiled.input_value(item, store, plans, bindings)))
            case kp.ZoneTables() | kp.ZoneAnniversaries() | kp.ZonePeriods() | kp.MonthDays():
                continue  # a few numbers per time zone, and a table of 400 years of days: cached after first use
            case _:
                raise KeyError(f"unknown kernel input {item!r}")
    return reads


def _sequence_reads(node: ir.Sequence | ir.SequenceCount, store: Store, bindings) -> list[Read]:
    """A sequence's scan: per step type, its offsets, a timestamp of each contact's slice (the window's search) and
    the filtered and ``same`` properties of the events in the step's window (later steps: up to now); each array
    once."""
    reads: dict[kp.ArrayInput, Read] = {}
    rows: dict[tuple[str, str], np.ndarray] = {}
    for k, step in enumerate(node.steps):
        table = store.events[step.events.event]
        lo, hi = bindings.window(step.events.window if k == 0 else ir.AllTime())
        inside = (table.ts >= lo) & (table.ts <= hi)
        offsets, times = kp.EventOffsets(table.name), kp.EventTimes(table.name)
        reads.setdefault(offsets, _whole(offsets, table.offsets))
        reads.setdefault(times, _binary_search(times, table))
        names = {p.name for where in step.events.where for p in ir.walk(where) if isinstance(p, ir.Prop)}
        for name in names | ({step.same} if step.same else set()):
            key = (table.name, name)
            rows[key] = rows[key] | inside if key in rows else inside
    for (event, name), mask in sorted(rows.items()):
        values = kp.ColumnValues(kp.PropColumn(event, name))
        reads[values] = _rows(values, store.events[event].properties[name].values, mask)
    return list(reads.values())


def _pass_rows(plans: tuple[ir.Expr, ...], store: Store, bindings) -> dict[tuple[str, str], np.ndarray]:
    """(event, property) -> mask of the events whose property a pass must read: the events in the window of every
    set that filters on the property or aggregates it. Sets whose measures binary search gives (counts, first and
    last of unfiltered sets) read no property."""
    needs: dict[tuple[str, str], np.ndarray] = {}
    for plan in plans:
        for node in ir.walk(plan):
            if isinstance(node, ir.Sequence | ir.SequenceCount):  # scanned inline: each step's filters
                _step_rows(node, store, bindings, needs)
            if not isinstance(node, ir.Count | ir.Aggregate | ir.Exists | ir.Regular):
                continue  # (an Exists is read like a count: the kernel may stop at its first match, see above)
            events = node.events
            props = {p.name for where in events.where for p in ir.walk(where) if isinstance(p, ir.Prop)}
            parts = any(isinstance(p, ir.TimePart) for where in events.where for p in ir.walk(where))
            if parts or isinstance(node, ir.Regular):
                props.add(LOCAL)
            if isinstance(node, ir.Aggregate) and node.prop is not None and node.function not in ("first", "last"):
                props.add(node.prop.name)
            if not props:
                continue
            ts = store.events[events.event].ts
            lo, hi = bindings.window(events.window)
            inside = (ts >= lo) & (ts <= hi)
            for name in props:
                key = (events.event, name)
                needs[key] = needs[key] | inside if key in needs else inside
    return needs


def _step_rows(node: ir.Sequence | ir.SequenceCount, store: Store, bindings, needs) -> None:
    """The filtered properties of a sequence the kernel scans inline: each step's events in its range (the first
    step's window, later steps up to now)."""
    for k, step in enumerate(node.steps):
        props = {p.name for where in step.events.where for p in ir.walk(where) if isinstance(p, ir.Prop)}
        ts = store.events[step.events.event].ts
        lo, hi = bindings.window(step.events.window if k == 0 else ir.AllTime())
        inside = (ts >= lo) & (ts <= hi)
        for name in props:
            key = (step.events.event, name)
            needs[key] = needs[key] | inside if key in needs else inside


# -- counting cache lines ------------------------------------------------------------------------------------------


def _whole(item: kp.ArrayInput, array: np.ndarray) -> Read:
    if array.nbytes == 0:
        return Read(item, 0, array.itemsize, 0, "whole")
    first = array.ctypes.data // CACHE_LINE
    last = (array.ctypes.data + array.nbytes - 1) // CACHE_LINE
    return Read(item, len(array), array.itemsize, int(last - first + 1), "whole")


def _rows(item: kp.ArrayInput, array: np.ndarray, mask: np.ndarray) -> Read:
    """The distinct cache lines holding ``array[mask]`` (its elements never straddle two lines: itemsize <= 8)."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return Read(item, 0, array.itemsize, 0, "events in window")
    lines = (array.ctypes.data + rows * array.itemsize) // CACHE_LINE  # sorted, since rows are
    return Read(item, len(rows), array.itemsize, int(np.count_nonzero(np.diff(lines))) + 1, "events in window")


def _reached(plans, store: Store, bindings, kernel) -> dict[str, np.ndarray]:
    """For event types whose kernel tests each contact's last event time first (the ``last`` input): the contacts
    whose events it goes on to read, those with a last event at or after the earliest window start of the type
    (for windows without a start: those with any event)."""
    reached = {}
    for item in kernel.arrays:
        if isinstance(item, kp.LastEventTimes):
            event = item.event
            starts = [
                bindings.window(n.window)[0]
                for p in plans
                for n in ir.walk(p)
                if isinstance(n, ir.EventSet) and n.event == event
            ]
            reached[event] = store.events[event].last_ts >= max(min(starts), np.iinfo(np.int64).min + 1)
    return reached


def _binary_search(item: kp.EventTimes, table, contacts: np.ndarray | None = None) -> Read:
    """The fewest cache lines such that every contact's non-empty slice of timestamps has one of its own lines read:
    a binary search over a slice reads at least one of its timestamps (and two slices may share a line). Only the
    ``contacts`` given, when the kernel skips the others."""
    starts, stops = table.offsets[:-1], table.offsets[1:]
    busy = stops > starts if contacts is None else (stops > starts) & contacts
    address, size = table.ts.ctypes.data, table.ts.itemsize
    first = (address + starts[busy] * size) // CACHE_LINE
    last = (address + (stops[busy] * size - 1)) // CACHE_LINE
    return Read(item, int(np.count_nonzero(busy)), size, _stabbing_lines(first, last), "binary search")


@numba.njit(nogil=True, cache=True)
def _stabbing_lines(first: np.ndarray, last: np.ndarray) -> int:
    """The fewest lines hitting every interval [first[k], last[k]] of lines. The intervals come from disjoint slices
    in order, so they are sorted and each starts at or after the previous one's end: the greedy choice (take the
    last line of each interval not hit yet) is optimal, and an interval is hit iff it starts on the line taken."""
    taken = -1
    count = 0
    for k in range(len(first)):
        if first[k] > taken:
            taken = last[k]
            count += 1
    return count
