"""Sequences over each contact's events (``viewed then bought same category within 7d``): the meaning in
docs/language.md ("Sequences"), computed twice, by two formulations the tests hold equal:

- ``reference_counts``: plain Python over each contact's events, step by step, as the definition reads (the sets of
  events that end a chain of the first k steps): obviously right, quadratic, for the reference engine;
- ``scan_counts``: one generic Numba function (compiled once per machine) that walks the contact's events of all
  steps merged in time order, with one pointer per step and, per step, the latest time a chain of the steps before
  it reached (per value of the ``same`` property when the step has one): linear in the contact's events. The
  vector engine calls it; the compiled engine scans sequences inline in its fused kernel the same way
  (compiler/kernels/sequence_scan.py) but for ``same`` on a property that is not a string, whose counts it gives
  the kernel as an input from this scan.

Both read the same ``StepInputs``: per step the event table, which events pass its filters, its window (the first
step's, relative to now; later steps: up to now), its gap (``within``) in microseconds and the codes of its
``same`` property. Occurrences are counted in order of completion (see ``SequenceCount``); with a negated last step
the answer is 1 when some chain of the other steps is abandoned, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ...compiler import ir
from ...compiler.passes import dated
from ...compiler.types import US_PER_SECOND, Type
from ...dsl.errors import ParamError
from ...dsl.limits import INT64_MIN
from ..store.columns import Column, EventTable
from .threads import read_only, run_parallel

NO_GAP = -1  # a later step without ``within``: any time after the previous step
MAX_GAP = 2**62  # longer gaps reach past every instant a store holds; kept below int64 so sums cannot wrap
_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


@dataclass(frozen=True)
class StepInputs:
    """What both formulations read, one entry per step (lists of arrays; ``keep[k]`` empty: every event passes)."""

    tables: tuple[EventTable, ...]
    keep: tuple[np.ndarray, ...]
    lo: np.ndarray  # int64 per step: the first instant its events may have
    hi: np.ndarray  # int64 per step: the last (now)
    gap: np.ndarray  # int64 per step: within in µs, NO_GAP for none (the first step: NO_GAP)
    codes_here: tuple[np.ndarray, ...]  # per step with ``same``: its events' codes (-1: null or unmatched)
    codes_before: tuple[np.ndarray, ...]  # ... and the previous step's events' codes in the same code space
    n_codes: np.ndarray  # int64 per step: the size of that code space (0: no ``same``)
    negated: bool
    now: int


def step_inputs(steps: tuple[ir.Step, ...], evaluator) -> StepInputs:
    """The inputs of a sequence at the evaluator's ``now`` and parameters; filters are evaluated by ``evaluator``
    (the reference's ``truth`` over each event table)."""
    bindings, store = evaluator.bindings, evaluator.store
    tables, keep, lo, hi, gap, here, before, n_codes = [], [], [], [], [], [], [], []
    for k, step in enumerate(steps):
        table = store.events[step.events.event]
        tables.append(table)
        masks = [np.broadcast_to(evaluator.truth(c, table), (len(table),)) for c in step.events.where]
        start, end = bindings.window(step.events.window if k == 0 else ir.AllTime())
        if k == 0 and dated(step.events.window) and evaluator.zoned_bindings:
            # a date in the first step's window is a day of each contact's zone: the bounds of the event's zone
            # are a filter, and the scan searches the widest of them (runtime/zoneddays.py)
            lows, highs = evaluator.window(step.events.window, table)
            masks.append((table.ts >= lows) & (table.ts <= highs))
            start, end = int(np.min(lows, initial=start)), int(np.max(highs, initial=end))
        keep.append(np.logical_and.reduce(masks) if masks else np.zeros(0, np.bool_))
        lo.append(start)
        hi.append(end)
        gap.append(NO_GAP if step.within is None else gap_us(bindings.value(step.within)))
        if step.same is None:
            here.append(np.zeros(0, np.int64))
            before.append(np.zeros(0, np.int64))
            n_codes.append(0)
        else:
            a, b, n = shared_codes(tables[k - 1].properties[step.same], table.properties[step.same])
            before.append(a)
            here.append(b)
            n_codes.append(n)
    return StepInputs(
        tuple(tables), tuple(keep), np.array(lo, np.int64), np.array(hi, np.int64), np.array(gap, np.int64),
        tuple(here), tuple(before), np.array(n_codes, np.int64), steps[-1].negated, bindings.now_us,
    )


def gap_us(duration: ir.Duration) -> int:
    """A step's ``within`` in microseconds (a fixed length: the binder refuses calendar units in the text, and
    a parameter holding one is refused here)."""
    if duration.unit not in _SECONDS:
        raise ParamError(f"a step's window is a fixed length (s, min, h, d, w), not {duration}")
    return min(duration.amount * _SECONDS[duration.unit] * US_PER_SECOND, MAX_GAP)


def shared_codes(before: Column, here: Column) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes of two columns' values in one code space (equal values, equal codes; null is -1): strings by their
    dictionaries, other values by their sorted distinct values."""
    valid_a, valid_b = before.validity(), here.validity()
    if before.type is Type.STRING:
        translate = np.append(same_codes(before.dictionary, here.dictionary), -1)
        a = np.where(valid_a, np.asarray(before.values, np.int64), -1)
        b = np.where(valid_b, translate[np.where(valid_b, here.values, -1)], -1)
        return a, b, max(len(before.dictionary), 1)
    values = np.concatenate([np.asarray(before.values)[valid_a], np.asarray(here.values)[valid_b]])
    distinct, inverse = np.unique(values, return_inverse=True)
    a, b = np.full(len(valid_a), -1, np.int64), np.full(len(valid_b), -1, np.int64)
    a[valid_a], b[valid_b] = inverse[: valid_a.sum()], inverse[valid_a.sum():]
    return a, b, max(len(distinct), 1)


def same_codes(before, here) -> np.ndarray:
    """Each code of the dictionary ``here`` as a code of ``before`` (-1: a value ``before`` does not have)."""
    position = {value: code for code, value in enumerate(before)}
    return np.array([position.get(value, -1) for value in here], np.int64)


# -- the reference formulation -------------------------------------------------------------------------------
def reference_counts(inputs: StepInputs, n: int, exists: bool) -> np.ndarray:
    """Per contact: the occurrences (``exists``: 1 at the first), or 1 for an abandoned chain (negated last step),
    as the definition reads."""
    out = np.zeros(n, np.int64)
    first = inputs.tables[0]
    starts = (first.ts >= inputs.lo[0]) & (first.ts <= inputs.hi[0])
    if len(inputs.keep[0]):
        starts &= inputs.keep[0]
    for i in np.unique(first.contact_rows[starts]):  # a contact without a first step has no sequence
        events = [_events(inputs, k, i) for k in range(len(inputs.tables))]
        if inputs.negated:
            out[i] = _abandoned(inputs, events)
            continue
        end = INT64_MIN
        while True:
            chains = _chains(inputs, events, len(events), after=end)
            if not chains:
                break
            out[i] += 1
            end = min(t for t, _ in chains)  # the occurrence that completes first; the next starts after it
            if exists:
                break
    return out


def _events(inputs: StepInputs, k: int, i: int) -> list[tuple[int, int]]:
    """Step ``k``'s events of contact ``i`` as (time, row), in its window, passing its filters."""
    table, keep = inputs.tables[k], inputs.keep[k]
    rows = range(int(table.offsets[i]), int(table.offsets[i + 1]))
    return [(int(table.ts[j]), j) for j in rows
            if inputs.lo[k] <= table.ts[j] <= inputs.hi[k] and (len(keep) == 0 or keep[j])]


def _follows(inputs: StepInputs, k: int, previous: tuple[int, int], event: tuple[int, int]) -> bool:
    """Whether ``event`` of step ``k`` can follow ``previous`` (an event of step k - 1)."""
    (t0, j0), (t, j) = previous, event
    gap = inputs.gap[k]
    if not (t0 < t and (gap == NO_GAP or t - t0 < gap)):
        return False
    if inputs.n_codes[k] == 0:
        return True
    code = inputs.codes_here[k][j]
    return code >= 0 and code == inputs.codes_before[k][j0]


def _chains(inputs: StepInputs, events, steps: int, after: int) -> list[tuple[int, int]]:
    """The events of step ``steps - 1`` that end a chain of steps 0 .. steps - 1 starting after ``after``."""
    ends = [e for e in events[0] if e[0] > after]
    for k in range(1, steps):
        ends = [e for e in events[k] if any(_follows(inputs, k, p, e) for p in ends)]
    return ends


def _abandoned(inputs: StepInputs, events) -> int:
    """1 when a chain of the steps before the negated one ends at an event whose follow-up window has passed (its
    last microsecond is at or before now) with no event of the negated step in it."""
    last = len(events) - 1
    gap = int(inputs.gap[last])
    for end in _chains(inputs, events, last, after=INT64_MIN):
        passed = end[0] + gap - 1 <= inputs.now
        if passed and not any(_follows(inputs, last, end, e) for e in events[last]):
            return 1
    return 0


# -- the scan ------------------------------------------------------------------------------------------------
def scan_counts(inputs: StepInputs, n: int, exists: bool) -> np.ndarray:
    """``reference_counts``, by the generic Numba scan over contacts split across threads. Per-step arrays go in as
    tuples of one array type, which the scan indexes by step number (compiled once per number of steps); a typed
    list would count references at every access in the inner loop (10x slower)."""
    offsets, ts = _tuple([t.offsets for t in inputs.tables]), _tuple([t.ts for t in inputs.tables])
    latest = read_only(inputs.tables[0].last_ts)  # a contact whose first step's events all precede its window: 0
    keep = tuple(read_only(np.ascontiguousarray(k, np.bool_)) for k in inputs.keep)
    here, before = _tuple(inputs.codes_here), _tuple(inputs.codes_before)
    out = np.empty(n, np.int64)
    lo, hi, gap, n_codes = inputs.lo, inputs.hi, inputs.gap, inputs.n_codes
    negated, now = inputs.negated, inputs.now
    run_parallel(
        lambda a, b: _scan(offsets, ts, latest, keep, lo, hi, gap, here, before, n_codes, negated, now, exists, a, b,
                           out),
        n,
    )
    return out


def _tuple(arrays) -> tuple[np.ndarray, ...]:
    return tuple(read_only(np.ascontiguousarray(a, np.int64)) for a in arrays)


@numba.njit(nogil=True, cache=True)
def _scan(offsets, ts, latest, keep, lo, hi, gap, here, before, n_codes, negated, now, exists, start, stop,
          out):  # pragma: no cover - runs compiled
    steps = len(ts)
    positive = steps - 1 if negated else steps
    none = np.iinfo(np.int64).min
    pos, end = np.empty(steps, np.int64), np.empty(steps, np.int64)
    reach = np.empty(steps, np.int64)  # per step: the latest time a chain of the steps up to it reached
    base = np.zeros(steps + 1, np.int64)  # per step with ``same``: its slice of ``by_value``
    for k in range(steps):
        base[k + 1] = base[k] + n_codes[k]
    by_value = np.full(max(base[steps], 1), none, np.int64)  # reach of step k - 1, by the code of step k's same
    for i in range(start, stop):
        out[i] = 0
        if latest[i] < lo[0]:  # one dense read decides most contacts (as the kernels' last event times do)
            continue
        started = False  # the first step's events in its window: one passing its filters, or nothing to do
        for k in range(steps):
            a, b = offsets[k][i], offsets[k][i + 1]
            pos[k] = a + np.searchsorted(ts[k][a:b], lo[k], side="left")
            end[k] = a + np.searchsorted(ts[k][a:b], hi[k], side="right")
            reach[k] = none
            if k == 0:
                while pos[0] < end[0] and keep[0].size != 0 and not keep[0][pos[0]]:
                    pos[0] += 1
                started = pos[0] < end[0]
                if not started:
                    break
        if not started:
            continue
        empty = False
        for k in range(positive):  # a step without events: no chain
            empty = empty or pos[k] == end[k]
        if empty:
            continue
        after = none  # occurrences must start after the previous one's end
        count = 0
        follow = pos[steps - 1]  # negated step: the first of its events after the chain's end
        while True:
            t = np.iinfo(np.int64).max
            for k in range(positive):
                if pos[k] < end[k] and ts[k][pos[k]] < t:
                    t = ts[k][pos[k]]
            if t == np.iinfo(np.int64).max:
                break
            complete = False
            # Later steps first: each reads the reach of the step before it as it was before time t (strictly after).
            for k in range(positive - 1, -1, -1):
                while pos[k] < end[k] and ts[k][pos[k]] == t:
                    j = pos[k]
                    pos[k] += 1
                    if keep[k].size != 0 and not keep[k][j]:
                        continue
                    if k == 0:
                        ok = t > after
                    else:
                        previous = reach[k - 1]
                        if n_codes[k] != 0:
                            c = here[k][j]
                            previous = by_value[base[k] + c] if c >= 0 else none
                        ok = previous > after and (gap[k] < 0 or t - previous < gap[k])
                    if not ok:
                        continue
                    reach[k] = t
                    if k + 1 < steps and n_codes[k + 1] != 0:
                        c = before[k + 1][j]
                        if c >= 0:
                            by_value[base[k + 1] + c] = t
                    if k == positive - 1:
                        if negated:
                            complete = complete or _unanswered(ts, keep, here, before, n_codes, gap, now, steps - 1,
                                                               j, t, follow, end[steps - 1])
                        else:
                            complete = True
            if complete:
                count += 1
                after = t
                if exists or negated:
                    break
        out[i] = count
        for k in range(1, steps):  # forget this contact's values
            if n_codes[k] != 0:
                a, b = offsets[k - 1][i], offsets[k - 1][i + 1]
                for j in range(a, b):
                    if before[k][j] >= 0:
                        by_value[base[k] + before[k][j]] = none


@numba.njit(nogil=True, cache=True)
def _unanswered(ts, keep, here, before, n_codes, gap, now, last, j, t, first, stop):  # pragma: no cover
    """Whether the chain ending at event ``j`` (time ``t``) of the step before the negated one is abandoned: its
    follow-up window (t, t + gap) has passed by now, and no event of the negated step lies in it."""
    if t > now - gap[last] + 1:
        return False
    q = first + np.searchsorted(ts[last][first:stop], t, side="right")
    while q < stop and ts[last][q] - t < gap[last]:
        if keep[last].size == 0 or keep[last][q]:
            if n_codes[last] == 0:
                return False
            c = here[last][q]
            if c >= 0 and c == before[last][j]:
                return False
        q += 1
    return True
