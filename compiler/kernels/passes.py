"""Source for the passes over a contact's events of one type (``group_body``) and over a block's events of a
sparse type (``block_pass``): every measure of every set of the type, in one pass (plan.py's ``EventPass``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...dsl.limits import INT64_MAX
from .. import ir
from ..types import Type
from .lowering import starts
from .names import Code, measure_name
from .plan import (
    EventPass,
    EventRows,
    EventTimes,
    GroupEnd,
    GroupStart,
    LastEventTimes,
    Measure,
    MeasuredSet,
    WindowEnd,
    WindowStart,
)

if TYPE_CHECKING:
    from .conditions import Writer



def group_body(writer: Writer, group: EventPass) -> list[str]:
    """The measures of one contact (row ``i``) of every set of ``group``'s type: zeroed, then counts, first and last
    of unfiltered sets by binary search, the others in one loop over the events inside the union of their windows."""
    code = Code(indent=0, tag=f"g{group.group}_")
    event, sets = group.event, group.sets
    for entry in sets:
        for m in entry.measures:
            code.emit(f"{out(m)} = 0")
            if m.n is not None:
                code.emit(f"{count_of(m)} = 0")
    windows = tuple(entry.events.window for entry in sets)
    if all(starts(w) for w in windows):
        # Every window starts somewhere: a contact whose last event is older has nothing in any of them, and one
        # dense read of its last time says so without touching its events.
        last = writer.inputs.array(LastEventTimes(event))
        code.emit(f"if {last}[i] >= {writer.inputs.int(GroupStart(event, windows))}:")
        code.indent += 1
    offsets, ts = writer.slices(event)
    code.emit(f"s = {offsets}[i]")
    code.emit(f"e = {offsets}[i + 1]")
    code.emit("if s < e:")
    code.indent += 1
    simple = [entry for entry in sets if entry.simple]
    scanned = [entry for entry in sets if not entry.simple]
    for entry in simple:
        a, b = window_range(writer, entry, code)
        for m in entry.measures:
            if m.kind == "count":
                code.emit(f"{out(m)} = {b} - {a}")
            else:
                code.emit(f"if {b} > {a}:")
                index = a if m.kind == "first" else f"{b} - 1"
                code.emit(f"    {out(m)} = {ts}[{index}]")
                code.emit(f"    {count_of(m)} = 1")
    if scanned:
        windows = tuple(entry.events.window for entry in scanned)
        if len(scanned) == 1:
            a, b = window_range(writer, scanned[0], code)
        else:
            lo = writer.inputs.int(GroupStart(event, windows))
            hi = writer.inputs.int(GroupEnd(event, windows))
            a, b = code.new("a"), code.new("b")
            code.emit(f"{a} = {lower_start(windows, ts, 's', 'e', lo)}")
            code.emit(f"{b} = upper_bound({ts}, s, e, {hi})")
        for entry in scanned:
            init_extremes(entry, code)
        code.emit(f"for j in range(np.uint64({a}), np.uint64({b})):")
        code.indent += 1
        code.emit(f"t = {ts}[j]")
        for entry in scanned:
            accumulate(writer, entry, len(scanned) > 1, code)
        code.indent -= 1
        for entry in scanned:
            finish(writer, entry, a, b, len(scanned) > 1, code)
    return code.lines


def window_range(writer: Writer, entry: MeasuredSet, code: Code) -> tuple[str, str]:
    lo, hi = window_bounds(writer, entry)
    a, b = code.new("a"), code.new("b")
    ts = writer.inputs.array(EventTimes(entry.events.event))
    code.emit(f"{a} = {lower_start((entry.events.window,), ts, 's', 'e', lo)}")
    code.emit(f"{b} = upper_bound({ts}, s, e, {hi})")
    return a, b


def window_bounds(writer: Writer, entry: MeasuredSet, contact: str = "i") -> tuple[str, str]:
    """The set's window, for the contact of row ``contact`` (a date's bound is its zone's in a zoned store)."""
    from .conditions import At

    return (
        writer.number(WindowStart(entry.events.window, entry.index), At(row=contact)),
        writer.number(WindowEnd(entry.events.window, entry.index), At(row=contact)),
    )


def init_extremes(entry: MeasuredSet, code: Code) -> None:
    for m in entry.measures:
        floating = m.dtype == "float64"
        if m.kind == "min":
            code.emit(f"{out(m)} = {'np.inf' if floating else INT64_MAX}")
        elif m.kind == "max":
            # int64's min written as -max - 1: the literal -9223372036854775808 is not an int64 to Numba
            code.emit(f"{out(m)} = {'-np.inf' if floating else f'({-INT64_MAX} - 1)'}")


def accumulate(writer: Writer, entry: MeasuredSet, check_window: bool, code: Code) -> None:
    """Fold event ``j`` into the measures of ``entry`` when it is in the set's window and passes its filters."""
    depth = code.indent
    if check_window:
        code.emit(f"if {in_window(writer, entry, 't')}:")
        code.indent += 1
    code.emit(f"if {filters(writer, entry, code)}:")
    code.indent += 1
    for m in entry.measures:
        fold(writer, m, code)
    code.indent = depth


def in_window(writer: Writer, entry: MeasuredSet, stamp: str) -> str:
    lo, hi = window_bounds(writer, entry)
    return f"{stamp} >= {lo} and {stamp} <= {hi}"


def filters(writer: Writer, entry: MeasuredSet, code: Code, contact: str = "i") -> str:
    from .conditions import At

    where = entry.events.where
    if not where:
        return "True"
    return writer.pred(ir.And(where) if len(where) > 1 else where[0], code, At(row="j", contact=contact))


def fold(writer: Writer, m: Measure, code: Code) -> None:
    """One matching event ``j`` (at time ``t``) into measure ``m``."""
    if m.kind == "count":
        code.emit(f"{out(m)} += 1")
        return
    if m.kind in ("first", "last"):
        if m.kind == "first":
            code.emit(f"if {count_of(m)} == 0:")
            code.emit(f"    {out(m)} = t")
        else:
            code.emit(f"{out(m)} = t")
        code.emit(f"{count_of(m)} = 1")
        return
    value, valid = writer.prop_value(m.prop, "j")
    if valid != "True":
        code.emit(f"if {valid}:")
        code.indent += 1
    match m.kind:
        case "sum":
            code.emit(f"{out(m)} += {value}")
        case "avg":
            code.emit(f"{out(m)} += {value}")
            code.emit(f"{count_of(m)} += 1")
        case "min" | "max":
            code.emit(f"if {value} {'<' if m.kind == 'min' else '>'} {out(m)}:")
            code.emit(f"    {out(m)} = {value}")
            code.emit(f"{count_of(m)} += 1")
        case "distinct" if m.prop.type is Type.STRING:
            code.emit(f"if not scratch[{value}]:")
            code.emit(f"    scratch[{value}] = True")
            code.emit(f"    {out(m)} += 1")
        case "distinct":
            code.emit(f"{out(m)} += 1")  # values are collected and counted in ``finish``
    if valid != "True":
        code.indent -= 1


def finish(writer: Writer, entry: MeasuredSet, a: str, b: str, shared: bool, code: Code) -> None:
    """Distinct values need a second look at the matching events: to clear the marks set for this contact
    (strings), or to collect and count the values (numbers)."""
    for m in entry.measures:
        if m.kind != "distinct":
            continue
        value, valid = writer.prop_value(m.prop, "j")
        numeric = m.prop.type is not Type.STRING
        if numeric:
            buffer, count = code.new("buf"), code.new("c")
            code.emit(f"{buffer} = np.empty({out(m)}, {'np.float64' if m.prop.type is Type.FLOAT else 'np.int64'})")
            code.emit(f"{count} = 0")
        depth = code.indent
        code.emit(f"for j in range(np.uint64({a}), np.uint64({b})):")
        code.indent += 1
        conditions = (
            [in_window(writer, entry, f"{writer.inputs.array(EventTimes(entry.events.event))}[j]")] if shared else []
        )
        conditions += [filters(writer, entry, code), valid]
        code.emit(f"if {' and '.join(c for c in conditions if c != 'True') or 'True'}:")
        if numeric:
            code.emit(f"    {buffer}[{count}] = {value}")
            code.emit(f"    {count} += 1")
        else:
            code.emit(f"    scratch[{value}] = False")
        code.indent = depth
        if numeric:
            code.emit(f"{out(m)} = count_distinct_sorted({buffer})")


def block_pass(writer: Writer, group: EventPass, number: int) -> list[str]:
    """The measures of a blocked event type for the contacts [w, z): buffers zeroed, then one branch-free pass over
    the block's events adding each into its contact's slot (events in order, so a sum adds a contact's values in
    the same order as the per-contact pass and the reference do)."""
    code = Code(indent=2, tag=f"k{number}_")
    offsets, ts = writer.slices(group.event)
    rows = writer.inputs.array(EventRows(group.event))
    code.emit("for q in range(np.uint64(z - w)):")
    for m in (m for entry in group.sets for m in entry.measures):
        code.emit(f"    {out(m)}[q] = 0")
        if m.n is not None:
            code.emit(f"    {count_of(m)}[q] = 0")
    code.emit(f"for j in range(np.uint64({offsets}[w]), np.uint64({offsets}[z])):")
    code.indent += 1
    t, o = code.new("t"), code.new("o")
    code.emit(f"{t} = {ts}[j]")
    code.emit(f"{o} = np.uint64({rows}[j]) - wu")
    for entry in group.sets:
        lo, hi = window_bounds(writer, entry, f"{rows}[j]")
        terms = [f"({t} >= {lo})", f"({t} <= {hi})"]
        if entry.events.where:
            terms.append(f"({filters(writer, entry, code, f'{rows}[j]')})")
        hit = code.new("f")
        code.emit(f"{hit} = {' & '.join(terms)}")
        for m in entry.measures:
            if m.kind == "count":
                code.emit(f"{out(m)}[{o}] += {hit}")
                continue
            value, valid = writer.prop_value(m.prop, "j")
            use = hit if valid == "True" else f"({hit} & {valid})"
            code.emit(f"{out(m)}[{o}] += {value} if {use} else {'0.0' if m.dtype == 'float64' else '0'}")
            if m.n is not None:
                code.emit(f"{count_of(m)}[{o}] += {use}")
    return code.lines


def out(m: Measure) -> str:
    return measure_name(m.dtype, m.out, m.blocked)


def count_of(m: Measure) -> str:
    return measure_name("int64", m.n, m.blocked)


def lower_start(windows: tuple[ir.Window, ...], ts: str, s: str, e: str, lo: str) -> str:
    """The first row of a contact's events ``ts[s:e]`` inside the earliest start of ``windows``: ``s`` when one of
    them has no start (a search from the end would walk the whole slice to find that out)."""
    if all(starts(w) for w in windows):
        return f"lower_bound({ts}, {s}, {e}, {lo})"
    return s
