"""The source of a sequence's scan inline in the fused kernel (lowering decides which: kernels/sequences.py).

The meaning is docs/language.md's ("Sequences"); the generic scan (runtime/engines/sequences.py ``scan_counts``)
and the reference hold the same. Per contact, the kernel walks the event slices of the sequence's steps, one
pointer per step, merged in time order, with the step filters tested inline on each event like any other condition:
no array over all events of a type, no count computed for contacts the first loop decides. Kept per positive step
is the latest time a chain of the steps up to it reached (``reach``); at each instant the later steps read the reach
of the step before them as it was before that instant (events at one microsecond are not one after the other), so
each event is read once. A negated last step has a pointer of its own that only moves forward: chains end in time
order, so the first event of the negated step after a chain's end is found by going on from the previous one.

``same PROP`` (string properties: the plan's ``SequenceScan.inline``) keeps the reach of the step before per value
of the property, in a table over its dictionary made once per kernel call (entries set during a contact are reset
after it); the later step's values reach that dictionary through a table of codes (``SameCodes``). A negated step
with ``same`` looks at the events in each chain end's follow-up window for one with the chain end's value.
"""

from __future__ import annotations

from itertools import pairwise

from .. import ir
from .names import Code
from .passes import lower_start
from .plan import ColumnValues, NowMicros, PropColumn, SameCodes, SameSize, StepGap

INT64_MIN = "np.iinfo(np.int64).min"  # "no chain yet", in the source as numba reads it (a literal would not fit)
INT64_MAX = "np.iinfo(np.int64).max"


class _Same:
    """The names a step with ``same PROP`` reads: the codes of the previous step's events (``before``) and of its own
    (``here``), the table from its codes to the previous step's (``codes``), and the reach per previous code."""

    def __init__(self, writer, previous: ir.Step, step: ir.Step) -> None:  # a negated step reads no reach
        inputs = writer.inputs
        before, here = PropColumn(previous.events.event, step.same), PropColumn(step.events.event, step.same)
        self.before = inputs.array(ColumnValues(before))
        self.here = inputs.array(ColumnValues(here))
        self.codes = inputs.array(SameCodes(before, here))
        self.reach = None
        if not step.negated:
            size = inputs.int(SameSize(before))
            self.reach = writer.prelude_array(f"np.full({size}, {INT64_MIN}, np.int64)")

    def code_of(self, j: str, code: Code) -> str:
        """The previous step's code of event ``j``'s value (-1: null, or a value the previous step never has)."""
        c, v = code.new("c"), code.new("v")
        code.emit(f"{v} = {self.here}[{j}]")
        code.emit(f"{c} = {self.codes}[{v}] if {v} >= 0 else -1")
        return c


def scan(writer, node: ir.Sequence | ir.SequenceCount, code: Code, at) -> str:
    """Emit the scan of one contact's events for ``node`` (see the module's docstring) into ``code``; returns the
    local holding its occurrences (``Sequence`` and a negated last step: 0 or 1, the scan stops at the first)."""
    steps = node.steps
    negated = steps[-1].negated
    positive = len(steps) - 1 if negated else len(steps)
    first = steps[0].events
    inputs, row = writer.inputs, at.row
    last, lo, hi = writer.window_inputs(first, at)
    now = inputs.int(NowMicros())
    found = code.new("sq")
    code.emit(f"{found} = 0")
    code.emit(f"if {last}[{row}] >= {lo}:")  # else no event of the first step in its window: no chain
    depth = code.indent
    code.indent += 1
    gap = [None if step.within is None else inputs.int(StepGap(step.within, id(step))) for step in steps]
    same = [None, *(_Same(writer, a, b) if b.same is not None else None for a, b in pairwise(steps))]
    ends = hi
    if negated and positive == 1:
        # The chains are the first step's events, and only those whose follow-up window has passed count: its
        # range ends there (t + gap - 1 <= now).
        ends = code.new("cut")
        code.emit(f"{ends} = min({hi}, {now} - {gap[-1]} + 1)")
    pos, end, ts, bounds = [], [], [], []
    for k, step in enumerate(steps):
        offsets, times = writer.slices(step.events.event)
        p, e = code.new("p"), code.new("e")
        # Later steps follow an event of the first step: their events before its window's start cannot.
        bounds.append([
            f"{p} = {lower_start((first.window,), times, f'{offsets}[{row}]', f'{offsets}[{row} + 1]', lo)}",
            f"{e} = upper_bound({times}, {p}, {offsets}[{row} + 1], {ends if k == 0 else now})",
        ])
        pos.append(p)
        end.append(e)
        ts.append(times)
    lazy = negated and positive == 1  # the negated step's range is searched for the first chain end only
    for lines in bounds[:-1] if lazy else bounds:
        for line in lines:
            code.emit(line)
    # A positive step without events in its range: no chain (most contacts of a rare later step stop here).
    code.emit(f"if {' and '.join(f'{e} > {p}' for p, e in zip(pos[:positive], end[:positive], strict=True))}:")
    code.indent += 1
    starts = [code.new("s") if k + 1 < positive and same[k + 1] is not None else None for k in range(positive)]
    for k, name in enumerate(starts):
        if name is not None:
            code.emit(f"{name} = {pos[k]}")
    if lazy:
        code.emit(f"{pos[-1]} = 0")
        code.emit(f"{end[-1]} = -1")
        _abandoned_first(writer, steps, pos, end, ts, gap[-1], same[-1], bounds[-1], found, code, at)
    else:
        _merge(writer, node, positive, pos, end, ts, gap, same, now, found, code, at)
    for k, name in enumerate(starts):  # forget the contact's values
        if name is not None:
            j, c = code.new("j"), code.new("c")
            code.emit(f"for {j} in range({name}, {pos[k]}):")
            code.emit(f"    {c} = {same[k + 1].before}[{j}]")
            code.emit(f"    if {c} >= 0:")
            code.emit(f"        {same[k + 1].reach}[{c}] = {INT64_MIN}")
    code.indent = depth
    return found


def _abandoned_first(writer, steps, pos, end, ts, gap: str, same: _Same | None, bounds: list[str], found: str,
                     code: Code, at) -> None:
    """``a then not b within D``: the first event of ``a`` (in its range, cut where its follow-up window has
    passed) that passes its filters with no event of ``b`` in (t, t + D). The range of ``b`` is searched (``bounds``)
    at the first event of ``a`` that passes: most contacts have none (a filtered view, an old one)."""
    j, t, done = code.new("j"), code.new("t"), code.new("done")
    code.emit(f"for {j} in range({pos[0]}, {end[0]}):")
    code.indent += 1
    code.emit(f"if {_passes(writer, steps[0], code, at.on(j))}:")
    code.indent += 1
    code.emit(f"{t} = {ts[0]}[{j}]")
    code.emit(f"{done} = False")
    code.emit(f"if {end[-1]} < 0:")
    for line in bounds:
        code.emit("    " + line)
    _unanswered(writer, steps[-1], t, j, pos[-1], end[-1], ts[-1], gap, same, done, code, at)
    code.emit(f"if {done}:")
    code.emit(f"    {found} = 1")
    code.emit("    break")
    code.indent -= 2


def _merge(writer, node, positive: int, pos, end, ts, gap, same, now: str, found: str, code: Code, at) -> None:
    """The general scan: the positive steps' events merged in time order, ``reach`` per step."""
    steps = node.steps
    negated = positive < len(steps)
    stop_at_first = negated or isinstance(node, ir.Sequence)
    after, t, done = code.new("after"), code.new("t"), code.new("done")
    reach = [code.new("reach") for _ in range(positive)]
    code.emit(f"{after} = {INT64_MIN}")  # occurrences start after the previous one ended
    for name in reach:
        code.emit(f"{name} = {INT64_MIN}")
    code.emit("while True:")
    code.indent += 1
    code.emit(f"{t} = {INT64_MAX}")  # the next instant any positive step has an event at
    for k in range(positive):
        code.emit(f"if {pos[k]} < {end[k]} and {ts[k]}[{pos[k]}] < {t}:")
        code.emit(f"    {t} = {ts[k]}[{pos[k]}]")
    code.emit(f"if {t} == {INT64_MAX}:")
    code.emit("    break")
    code.emit(f"{done} = False")
    for k in range(positive - 1, -1, -1):  # later steps first: they read the reach from before this instant
        j = code.new("j")
        code.emit(f"while {pos[k]} < {end[k]} and {ts[k]}[{pos[k]}] == {t}:")
        code.indent += 1
        code.emit(f"{j} = {pos[k]}")
        code.emit(f"{pos[k]} += 1")
        code.emit(f"if {_passes(writer, steps[k], code, at.on(j))}:")
        code.indent += 1
        if k == 0:
            code.emit(f"if {t} > {after}:")
        else:
            previous = reach[k - 1]
            if same[k] is not None:  # the reach of the previous step's events with this event's value
                c, previous = same[k].code_of(j, code), code.new("r")
                code.emit(f"{previous} = {same[k].reach}[{c}] if {c} >= 0 else {INT64_MIN}")
            within = "" if gap[k] is None else f" and {t} - {previous} < {gap[k]}"
            code.emit(f"if {previous} > {after}{within}:")
        code.indent += 1
        code.emit(f"{reach[k]} = {t}")
        if k + 1 < positive and same[k + 1] is not None:
            c = code.new("c")
            code.emit(f"{c} = {same[k + 1].before}[{j}]")
            code.emit(f"if {c} >= 0:")
            code.emit(f"    {same[k + 1].reach}[{c}] = {t}")
        if k == positive - 1 and negated:
            code.emit(f"if {t} <= {now} - {gap[-1]} + 1:")  # the chain's follow-up window has passed
            code.indent += 1
            _unanswered(writer, steps[-1], t, j, pos[-1], end[-1], ts[-1], gap[-1], same[-1], done, code, at)
            code.indent -= 1
        elif k == positive - 1:
            code.emit(f"{done} = True")
        code.indent -= 3
    code.emit(f"if {done}:")
    code.emit(f"    {found} += 1")
    code.emit(f"    {after} = {t}")
    if stop_at_first:
        code.emit("    break")
    code.indent -= 1


def _passes(writer, step: ir.Step, code: Code, at) -> str:
    """The step's filters on the event at ``at.row`` (a bool expression)."""
    where = step.events.where
    if not where:
        return "True"
    return writer.pred(ir.And(where) if len(where) > 1 else where[0], code, at)


def _unanswered(writer, step: ir.Step, t: str, chain: str, follow: str, stop: str, ts: str, gap: str,
                same: _Same | None, done: str, code: Code, at) -> None:
    """Set ``done`` when the chain ending at ``t`` (event ``chain`` of the step before; its follow-up window has
    passed) is abandoned: no event of the negated step in (t, t + gap) passes the step's filters (and has the chain
    end's value of ``same``). ``follow``, the negated step's pointer to its first event after ``t`` that passes the
    filters, only moves forward: chain ends come in time order."""
    j = code.new("j")
    code.emit(f"while {follow} < {stop}:")
    code.indent += 1
    code.emit(f"if {ts}[{follow}] > {t}:")
    code.indent += 1
    code.emit(f"{j} = {follow}")
    code.emit(f"if {_passes(writer, step, code, at.on(j))}:")
    code.emit("    break")
    code.indent -= 1
    code.emit(f"{follow} += 1")
    code.indent -= 1
    if same is None:
        code.emit(f"if {follow} == {stop} or {ts}[{follow}] - {t} >= {gap}:")
        code.emit(f"    {done} = True")
        return
    # With ``same``: an answer is an event in the window with the chain end's value (a null answers nothing).
    wanted, q = code.new("w"), code.new("q")
    code.emit(f"{wanted} = {same.before}[{chain}]")
    code.emit(f"{done} = True")
    code.emit(f"if {wanted} >= 0:")
    code.indent += 1
    code.emit(f"for {q} in range({follow}, {stop}):")
    code.indent += 1
    code.emit(f"if {ts}[{q}] - {t} >= {gap}:")
    code.emit("    break")
    code.emit(f"if {_passes(writer, step, code, at.on(q))}:")
    code.indent += 1
    code.emit(f"if {same.code_of(q, code)} == {wanted}:")
    code.emit(f"    {done} = False")
    code.emit("    break")
    code.indent -= 3
