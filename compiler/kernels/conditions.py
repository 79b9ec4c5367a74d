"""Source for conditions and values of one contact (or one event): ``Writer.pred`` and ``Writer.value``.

Each returns the name (or expression) holding its answer, with nulls as validity expressions beside values; a null
condition is false. What to write comes from the kernel plan (plan.py); nothing is decided here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ...dsl.limits import INT64_MAX
from .. import ir
from ..passes import dated
from ..types import US_PER_DAY, Type
from . import sequence_scan
from .calendar import ANNIVERSARY_CODES, CYCLE_DAYS, CYCLE_SHIFT, PERIOD_CODES, TIME_PART_CODES
from .lowering import integer
from .names import Code, Inputs, measure_name
from .passes import group_body, lower_start
from .plan import (
    ActiveStart,
    AgeCut,
    AttrColumn,
    ColumnValid,
    ColumnValues,
    EventOffsets,
    EventTimes,
    FloatValue,
    IntValue,
    KernelPlan,
    LastEventTimes,
    LocalTimes,
    Measure,
    MonthDays,
    NowMicros,
    NowMonthDay,
    NowYear,
    PerZone,
    PropColumn,
    ScratchSize,
    SequenceCounts,
    StringMask,
    StringTable,
    TagBits,
    TagOffsets,
    TagsColumn,
    WindowEnd,
    WindowStart,
    ZoneAgeCut,
    ZoneAnniversaries,
    ZoneNow,
    ZonePeriods,
    ZoneTables,
)

COMPARISONS = {"=": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
ARITHMETIC = {"+": "+", "-": "-", "*": "*"}
UNSIGNED_CODES = {"int8": "np.uint8", "int16": "np.uint16"}  # narrow codes index tables as unsigned


@dataclass(frozen=True)
class At:
    """Where the code being written runs: ``row`` indexes the contact's (or, in event loops, the event's) columns,
    ``slot`` the contact's place in its block (per-block buffers); ``no_events``: the answers of a contact without
    events, worked out once per call (every pass done, every measure zero); ``contact``: the contact's row when
    ``row`` is an event's (an event is in its contact's zone)."""

    row: str = "i"
    slot: str = "i - w"
    no_events: bool = False
    contact: str | None = None

    def on(self, row: str) -> At:
        return replace(self, row=row, contact=self.contact or self.row)


class Writer:
    """Writes conditions into pieces of code (``Code``), reading inputs through one allocator (``Inputs``)."""

    def __init__(self, plan: KernelPlan) -> None:
        self.plan = plan
        self.inputs = Inputs()
        self.group_code: dict[int, list[str]] = {}  # each pass's code, written once, inlined where needed
        self.prelude: list[str] = []  # arrays made once per kernel call (prelude_array)
        if plan.scratch:
            self.inputs.int(ScratchSize())  # first of the numbers, as the scratch array is made first

    # -- event passes and measures ---------------------------------------------------------------------------------
    def ensure_group(self, event: str, code: Code, at: At) -> None:
        """The pass over this contact's events of one type, the first time any condition needs it. The code is
        written inline at each place that may come first (a call per contact would cost more than the pass)."""
        group = next(p for p in self.plan.groups if p.event == event)
        if group.eager or at.no_events:
            return
        if group.group not in self.group_code:
            self.group_code[group.group] = group_body(self, group)
        code.emit(f"if not d{group.group}:")
        for line in self.group_code[group.group]:
            code.emit("    " + line)
        code.emit(f"    d{group.group} = True")

    def prelude_array(self, making: str) -> str:
        """A local array made once per kernel call, before the loops (``making``: an expression segmint wrote)."""
        name = f"pa{len(self.prelude)}"
        self.prelude.append(f"{name} = {making}")
        return name

    def how(self, node: ir.Expr) -> str | None:
        test = self.plan.event_test(node)
        return None if test is None else test.how

    def measure_of(self, node: ir.Count | ir.Aggregate | ir.Exists) -> Measure:
        key = (node.function, node.prop) if isinstance(node, ir.Aggregate) else ("count", None)
        return self.plan.sets[node.events].measure(*key)

    def window_inputs(self, events: ir.EventSet, at: At) -> tuple[str, str, str]:
        """What every event test reads first: the type's last-event times, and the window's start (kept above int64
        min, the last time of a contact without events) and end. Offsets and times are taken where read."""
        return (
            self.inputs.array(LastEventTimes(events.event)),
            self.number(ActiveStart(events.event, (events.window,)), at),
            self.number(WindowEnd(events.window, "exists"), at),
        )

    def number(self, item: WindowStart | WindowEnd | ActiveStart | IntValue, at: At) -> str:
        """An integer input of the evaluation; one that a date makes is, in a zoned store, the entry of the contact's
        zone in a table per zone (its local day: runtime/zoneddays.py)."""
        if self.plan.zoned and _dated(item):
            return f"{self.inputs.array(PerZone(item))}[{self.zone(at)}]"
        return self.inputs.int(item)

    def slices(self, event: str) -> tuple[str, str]:
        """A type's offsets and event times: each contact's slice of its events."""
        return self.inputs.array(EventOffsets(event)), self.inputs.array(EventTimes(event))

    # -- tests on events -------------------------------------------------------------------------------------------
    def exists_dense(self, events: ir.EventSet, r: str, code: Code, at: At, first_loop: bool = False) -> str | None:
        """An event of the type in the window, for a set without filters, from the contact's last event time (one
        dense read): when it is not after the window's end, it alone answers. Otherwise (events after now, or a
        window that ends in the past) one binary search finds the last event up to the end. In the first loop the
        rare second case is only returned as a test (the contact is "unsure") so that the loop stays branch-free."""
        last, lo, hi = self.window_inputs(events, at)
        t = code.new("t")
        code.emit(f"{t} = {last}[{at.row}]")
        code.emit(f"{r} = ({t} >= {lo}) & ({t} <= {hi})")
        if first_loop:
            return f"({t} > {hi})"
        offsets, ts = self.slices(events.event)
        s, b = code.new("s"), code.new("b")
        code.emit(f"if {t} > {hi}:")
        code.emit(f"    {s} = {offsets}[{at.row}]")
        code.emit(f"    {b} = upper_bound({ts}, {s}, {offsets}[{at.row} + 1], {hi})")
        code.emit(f"    {r} = ({b} > {s}) and ({ts}[{b} - 1] >= {lo})")
        return None

    def count_test(self, op: str, events: ir.EventSet, bound: ir.Expr, r: str, code: Code, at: At) -> None:
        """``count(events) op k`` for events without filters, as "at least n of the contact's events lie in the
        window" (library.at_least): the n-th latest event up to the window's end is inside it. A look at the end of
        the contact's events instead of two searches (example rule at 5M: 65 -> 57 ms, iphone_fans 90 -> 80)."""
        k = self.value(bound, code, at)[0]
        last, lo, hi = self.window_inputs(events, at)
        row = at.row

        def at_least(n: str) -> str:
            v = code.new("n")
            code.emit(f"{v} = {n} <= 0")
            if not at.no_events:
                offsets, ts = self.slices(events.event)
                code.emit(f"if not {v} and {last}[{row}] >= {lo}:")
                code.emit(f"    {v} = at_least({ts}, {offsets}[{row}], {offsets}[{row} + 1], {lo}, {hi}, {n})")
            return v

        # k + 1 without wrapping past int64 max: no contact has 2^63 - 1 events, so at least k is as false then.
        # Branch-free: written as a conditional expression, which Numba turns into blocks of their own in the loop,
        # it cost the example rule's kernel 15% (12.4 -> 14.3 ms of CPU at 1M contacts, one thread).
        after = f"(min({k}, {INT64_MAX - 1}) + 1)"
        match op:
            case ">=" | "<":
                test = at_least(k)
            case ">" | "<=":
                test = at_least(after)
            case _:  # = and !=: at least k, and not k + 1
                test = f"({at_least(k)} and not {at_least(after)})"
        code.emit(f"{r} = {'not ' if op in ('<', '<=', '!=') else ''}{test}")

    def exists_scan(self, events: ir.EventSet, r: str, code: Code, at: At) -> None:
        """An event of the type in the window that passes the filters: a scan of the contact's events in the window
        that stops at the first match (no count)."""
        last, lo, hi = self.window_inputs(events, at)
        offsets, ts = self.slices(events.event)
        a, b = code.new("a"), code.new("b")
        depth, row = code.indent, at.row
        code.emit(f"{r} = False")
        code.emit(f"if {last}[{row}] >= {lo}:")
        code.emit(f"    {a} = {lower_start((events.window,), ts, f'{offsets}[{row}]', f'{offsets}[{row} + 1]', lo)}")
        code.emit(f"    {b} = upper_bound({ts}, {a}, {offsets}[{row} + 1], {hi})")
        code.emit(f"    for j in range(np.uint64({a}), np.uint64({b})):")
        code.indent += 2
        where = events.where
        code.emit(f"if {self.pred(ir.And(where) if len(where) > 1 else where[0], code, at.on('j'))}:")
        code.emit(f"    {r} = True")
        code.emit("    break")
        code.indent = depth

    def memoized(self, node: ir.Expr, r: str, code: Code, at: At, compute: Callable[[str], None]) -> None:
        """``compute(r)`` emits an event test into ``r``. A test written in several places (a batch whose segments
        share it) is worked out once per contact: the first place that needs it keeps its answer."""
        n = self.plan.memoized(node)
        if n is None or at.no_events:
            compute(r)
            return
        code.emit(f"if not xd{n}:")
        code.indent += 1
        compute(f"xr{n}")
        code.emit(f"xd{n} = True")
        code.indent -= 1
        code.emit(f"{r} = xr{n}")

    # -- tests on the contact's columns ----------------------------------------------------------------------------
    def birth_day(self, x: ir.Expr, code: Code, at: At) -> tuple[str, str]:
        a, ok = self.value(x, code, at)
        if x.type is Type.DATE:
            return a, ok
        return self.day_of(a, code, at), ok

    def day_of(self, instant: str, code: Code, at: At) -> str:
        """The day number of an instant: its day in the contact's zone in a zoned store, else its UTC day."""
        if not self.plan.zoned:
            return f"(np.int64({instant}) // {US_PER_DAY})"
        day = code.new("day")
        code.emit(f"{day} = {self.local(f'np.int64({instant})', at)} // {US_PER_DAY}")
        return day

    def zone(self, at: At) -> str:
        """The contact's zone number (runtime/timezones.py). The answers of contacts without events are worked out
        once, for no contact in particular (a store may have none): zone 0, which every store has; what it computes
        there is null anyway (the time is of an event there is not)."""
        return "0" if at.no_events else f"{self.inputs.array(ZoneTables('contact'))}[{at.contact or at.row}]"

    def local(self, instant: str, at: At) -> str:
        """An instant (µs) as a local time in the contact's zone: a binary search in the zone's table."""
        starts, instants, shifts = (self.inputs.array(ZoneTables(p)) for p in ("starts", "at", "shift"))
        zone = self.zone(at)
        return f"local_time({instant}, {instants}, {shifts}, {starts}[{zone}], {starts}[{zone} + 1])"

    def age_test(self, op: str, days: str, bound: ir.Expr, at: At) -> str:
        """``age(x) op bound`` as a comparison of the birth day number: ``age >= n`` is ``days <= cut(n)`` with
        ``cut(n)`` the latest birth day of age n at now (in a zoned store, at now's date in each zone), an input
        computed per evaluation (runtime/timeutil.py). So the kernel does no calendar arithmetic per contact."""

        def cut(k: int) -> str:  # cut(bound + k)
            if self.plan.zoned:
                return f"{self.inputs.array(ZoneAgeCut(bound, k, id(bound)))}[{self.zone(at)}]"
            return self.inputs.int(AgeCut(bound, k, id(bound)))

        match op:
            case ">=":
                return f"{days} <= {cut(0)}"
            case ">":
                return f"{days} <= {cut(1)}"
            case "<=":
                return f"{days} > {cut(1)}"
            case "<":
                return f"{days} > {cut(0)}"
            case "=":
                return f"({days} > {cut(1)}) & ({days} <= {cut(0)})"
            case "!=":
                return f"({days} > {cut(0)}) | ({days} <= {cut(1)})"
        raise AssertionError(op)

    def string_test(self, column_node: ir.Expr, predicate: ir.Expr, at: At) -> str:
        """A string predicate is a lookup in a table over the column's dictionary, computed per evaluation."""
        match column_node:
            case ir.Attr(name=name):
                column = AttrColumn(name)
            case ir.Prop(event=event, name=name):
                column = PropColumn(event, name)
            case _:
                raise TypeError(f"string test on {type(column_node).__name__}")
        codes, row = self.inputs.array(ColumnValues(column)), at.row
        if column in self.plan.small:
            # A small dictionary's table is the bits of one number (an input): a shift instead of a load, which lets
            # loops over contacts vectorize (demographic rule at 5M: 10.6 -> 5.7 ms). A null's code -1 reads bit 63,
            # which no value uses.
            mask = self.inputs.int(StringMask(column, predicate, id(predicate)))
            return f"(((np.uint64({mask}) >> (np.uint64({codes}[{row}]) & np.uint64(63))) & np.uint64(1)) != 0)"
        # A null holds code -1, which the table maps to False: no validity test. Narrow codes index the table as
        # unsigned (-1 is its last entry, 255 or 65535), which spares a negative-index check per row.
        table = self.inputs.array(StringTable(column, predicate, id(predicate)))
        unsigned = UNSIGNED_CODES.get(self.plan.code_dtypes[column])
        return f"{table}[{unsigned}({codes}[{row}])]" if unsigned else f"{table}[{codes}[{row}]]"

    def tags_test(self, node: ir.HasTags, name: str, r: str, code: Code, at: At) -> None:
        column, row = TagsColumn(name), at.row
        tests = node.values if node.mode == "all" else (None,)
        if column in self.plan.small:
            # A row's tags as the bits of one number: each tested value (all of them for "has all", their union for
            # "has"/"has any") is a mask, computed per evaluation.
            bits = self.inputs.array(TagBits(name))
            terms = []
            for value in tests:
                predicate = node if value is None else ir.HasTags(node.operand, "one", (value,))
                mask = self.inputs.int(StringMask(column, predicate, id(value)))
                terms.append(f"((np.uint64({bits}[{row}]) & np.uint64({mask})) != 0)")
            code.emit(f"{r} = {' & '.join(terms)}")
            return
        offsets = self.inputs.array(TagOffsets(name))
        codes = self.inputs.array(ColumnValues(column))
        code.emit(f"{r} = True")
        for value in tests:
            predicate = node if value is None else ir.HasTags(node.operand, "one", (value,))
            table = self.inputs.array(StringTable(column, predicate, id(value)))
            hit = code.new("h")
            code.emit(f"{hit} = False")
            code.emit(f"for q in range({offsets}[{row}], {offsets}[{row} + 1]):")
            code.emit(f"    if {table}[{codes}[q]]:")
            code.emit(f"        {hit} = True")
            code.emit("        break")
            code.emit(f"{r} = {r} and {hit}")

    # -- values ----------------------------------------------------------------------------------------------------
    def column_value(self, column: AttrColumn | PropColumn, row: str) -> tuple[str, str]:
        values = f"{self.inputs.array(ColumnValues(column))}[{row}]"
        if column in self.plan.nullable:
            return values, f"{self.inputs.array(ColumnValid(column))}[{row}]"
        return values, "True"

    def prop_value(self, prop: ir.Prop, row: str) -> tuple[str, str]:
        return self.column_value(PropColumn(prop.event, prop.name), row)

    def value(self, node: ir.Expr, code: Code, at: At) -> tuple[str, str]:
        """Emit code computing ``node``; returns (value expression, validity expression)."""
        match node:
            case ir.Const() | ir.Param():
                if node.type is Type.FLOAT:
                    return self.inputs.float(FloatValue(node, id(node))), "True"
                return self.inputs.int(IntValue(node, id(node))), "True"
            case ir.Attr(name=name):
                return self.column_value(AttrColumn(name), at.row)
            case ir.Prop():
                return self.prop_value(node, at.row)
            case ir.SequenceCount():
                if at.no_events:
                    return "0", "True"
                if self.plan.inline(node):
                    return sequence_scan.scan(self, node, code, at), "True"
                return f"{self.inputs.array(SequenceCounts(node))}[{at.row}]", "True"
            case ir.Count(events=events) | ir.Aggregate(events=events) if events.event in self.plan.blocked:
                m = self.measure_of(node)
                if at.no_events:
                    return ("0.0", "False") if m.kind == "avg" else ("0", "True")
                total = f"{measure_name(m.dtype, m.out, True)}[{at.slot}]"
                if m.kind == "avg":
                    v = code.new()
                    n = f"{measure_name('int64', m.n, True)}[{at.slot}]"
                    code.emit(f"{v} = {total} / {n} if {n} > 0 else 0.0")
                    return v, f"({n} > 0) & ({v} == {v})"
                return total, _a_number(total, node.type)
            case ir.Count(events=events) | ir.Aggregate(events=events):
                self.ensure_group(events.event, code, at)
                m = self.measure_of(node)
                out = measure_name(m.dtype, m.out, False)
                if m.kind == "count":
                    return out, "True"
                if m.kind in ("sum", "distinct"):
                    return out, _a_number(out, node.type)
                n = measure_name("int64", m.n, False)
                if m.kind == "avg":
                    v = code.new()
                    code.emit(f"{v} = {out} / {n} if {n} > 0 else 0.0")
                    return v, f"({n} > 0) & ({v} == {v})"
                return out, f"{n} > 0"
            case ir.Arith(op=op, left=left, right=right):
                a, a_ok = self.value(left, code, at)
                b, b_ok = self.value(right, code, at)
                v, ok = code.new(), code.new("ok")
                if op == "/":
                    code.emit(f"{ok} = {a_ok} and {b_ok} and {b} != 0")
                    code.emit(f"{v} = {a} / {b} if {ok} else 0.0")
                else:
                    code.emit(f"{ok} = {a_ok} and {b_ok}")
                    code.emit(f"{v} = {a} {ARITHMETIC[op]} {b}")
                return v, both(ok, _a_number(v, node.type))
            case ir.Negate(operand=x):
                a, ok = self.value(x, code, at)
                return f"(-{a})", ok
            case ir.ToTimestamp(operand=ir.Const() | ir.Param()) | ir.WindowBound() if self.plan.zoned:
                return self.number(IntValue(node, id(node)), at), "True"  # per zone, per evaluation
            case ir.ToTimestamp(operand=ir.Param()) | ir.WindowBound():  # worked out per evaluation
                return self.inputs.int(IntValue(node, id(node))), "True"
            case ir.ToTimestamp(operand=x, last=last) if self.plan.zoned:  # the local day's first instant
                a, ok = self.value(x, code, at)
                starts, instants, shifts = (self.inputs.array(ZoneTables(p)) for p in ("starts", "at", "shift"))
                zone, v = self.zone(at), code.new()
                code.emit(f"{v} = day_start(np.int64({a}) + {int(last)}, {instants}, {shifts}, {starts}[{zone}], "
                          f"{starts}[{zone} + 1]){' - 1' if last else ''} if {ok} else 0")
                return v, ok
            case ir.ToTimestamp(operand=x, last=last):
                a, ok = self.value(x, code, at)
                return f"(np.int64({a}) * {US_PER_DAY}{f' + {US_PER_DAY - 1}' if last else ''})", ok
            case ir.TimePart(event=event, part=part):
                times = self.inputs.array(LocalTimes(event))
                return f"time_part({times}[{at.row}], {TIME_PART_CODES[part]})", "True"
            case ir.Func(name=name, argument=x):
                a, ok = self.value(x, code, at)
                v = code.new()
                zoned = self.plan.zoned
                if name == "days_since":  # by days and time into the day, as the reference: now - t may leave int64
                    if zoned:  # both local times in the contact's zone
                        now = f"{self.inputs.array(ZoneNow('local'))}[{self.zone(at)}]"
                        if x.type is not Type.DATE:
                            local = code.new()
                            code.emit(f"{local} = {self.local(f'np.int64({a})', at)} if {ok} else 0")
                            a = local
                    else:
                        now = self.inputs.int(NowMicros())
                    if x.type is Type.DATE:
                        code.emit(f"{v} = {now} // {US_PER_DAY} - np.int64({a})")
                    else:
                        code.emit(f"{v} = {now} // {US_PER_DAY} - {a} // {US_PER_DAY} - "
                                  f"(1 if {now} % {US_PER_DAY} < {a} % {US_PER_DAY} else 0)")
                else:
                    if x.type is Type.DATE:
                        days = a
                    else:
                        days = self.day_of(a, code, at) if zoned else f"np.int64({a}) // {US_PER_DAY}"
                    if zoned:
                        zone = self.zone(at)
                        year = f"{self.inputs.array(ZoneNow('year'))}[{zone}]"
                        month_day = f"{self.inputs.array(ZoneNow('month_day'))}[{zone}]"
                    else:
                        year, month_day = self.inputs.int(NowYear()), self.inputs.int(NowMonthDay())
                    code.emit(f"{v} = age_years(np.int64({days}), {year}, {month_day}) if {ok} else 0")
                return v, ok
        return self.pred(node, code, at), "True"

    # -- conditions ------------------------------------------------------------------------------------------------
    def pred(self, node: ir.Expr, code: Code, at: At, pre: str | None = None) -> str:
        """Emit code computing the condition ``node``; returns the name of a bool local (null is false). ``pre``:
        the value of the cheap items of ``node`` (an and/or), computed already (the rule's ``cheap`` part)."""
        r = code.new("b")
        costs = self.plan.costs
        match node:
            case ir.And(items=items) | ir.Or(items=items):
                is_and = isinstance(node, ir.And)
                ordered = sorted(items, key=costs.__getitem__)
                # Conditions on the contact's own columns are all computed and combined without branches (a few
                # loads each; a mispredicted branch costs more); the others keep their short-circuits.
                cheap = [pre] if pre else [self.pred(item, code, at) for item in ordered if costs[item] == 0]
                code.emit(f"{r} = {(' & ' if is_and else ' | ').join(cheap) if cheap else is_and}")
                for item in (item for item in ordered if costs[item] > 0):
                    code.emit(f"if {'' if is_and else 'not '}{r}:")
                    code.indent += 1
                    code.emit(f"{r} = {self.pred(item, code, at)}")
                    code.indent -= 1
            case ir.Not(operand=x):
                code.emit(f"{r} = not {self.pred(x, code, at)}")
            case ir.Sequence():  # no events, no occurrence
                if at.no_events:
                    counts = "0"
                elif self.plan.inline(node):
                    counts = sequence_scan.scan(self, node, code, at)
                else:
                    counts = f"{self.inputs.array(SequenceCounts(node))}[{at.row}]"
                code.emit(f"{r} = {counts} > 0")
            case ir.Exists() if at.no_events:
                code.emit(f"{r} = False")
            case ir.Exists(events=events) if not events.where:
                self.exists_dense(events, r, code, at)
            case ir.Exists(events=events) if self.how(node) == "block":
                m = self.measure_of(node)
                code.emit(f"{r} = {measure_name(m.dtype, m.out, True)}[{at.slot}] > 0")
            case ir.Exists(events=events):  # a scan
                self.memoized(node, r, code, at, lambda out: self.exists_scan(events, out, code, at))
            case ir.Const(type=Type.BOOL):
                code.emit(f"{r} = {self.inputs.int(IntValue(node, id(node)))} != 0")
            case ir.Compare(op=op, left=ir.Func(name="age", argument=x), right=bound) if integer(bound):
                days, ok = self.birth_day(x, code, at)
                code.emit(f"{r} = {both(ok, self.age_test(op, days, bound, at))}")
            case ir.InRange(operand=ir.Func(name="age", argument=x), low=low, high=high) if integer(low) and integer(
                high
            ):
                days, ok = self.birth_day(x, code, at)
                code.emit(f"{r} = {both(ok, self.age_test('>=', days, low, at), self.age_test('<=', days, high, at))}")
            case ir.Compare(op=op, left=ir.Count(events=events), right=bound) if self.how(node) == "at least":
                self.memoized(node, r, code, at, lambda out: self.count_test(op, events, bound, out, code, at))
            case ir.Compare(left=left) if left.type is Type.STRING:
                code.emit(f"{r} = {self.string_test(left, node, at)}")
            case ir.Compare(op=op, left=left, right=right):
                a, a_ok = self.value(left, code, at)
                b, b_ok = self.value(right, code, at)
                if left.type is Type.BOOL:
                    a, b = f"({a} != 0)", f"({b} != 0)"
                code.emit(f"{r} = {both(a_ok, b_ok, f'{a} {COMPARISONS[op]} {b}')}")
            case ir.InRange(operand=x, low=low, high=high):
                v, ok = self.value(x, code, at)
                lo, lo_ok = self.value(low, code, at)
                hi, hi_ok = self.value(high, code, at)
                code.emit(f"{r} = {both(ok, lo_ok, hi_ok, f'{lo} <= {v}', f'{v} <= {hi}')}")
            case ir.InSet(operand=x) if x.type is Type.STRING:
                code.emit(f"{r} = {self.string_test(x, node, at)}")
            case ir.InSet(operand=x, values=values, negated=negated):
                v, ok = self.value(x, code, at)
                hits = " | ".join(f"({v} == {self.value(c, code, at)[0]})" for c in values)
                code.emit(f"{r} = {both(ok, f'not ({hits})' if negated else hits)}")
            case ir.TextMatch(operand=x):
                code.emit(f"{r} = {self.string_test(x, node, at)}")
            case ir.IsNull(operand=x, negated=negated):
                _, ok = self.value(x, code, at)
                code.emit(f"{r} = {ok}" if negated else f"{r} = not ({ok})")
            case ir.HasTags(operand=ir.Attr(name=name)):
                self.tags_test(node, name, r, code, at)
            case ir.InWindow(operand=x, window=window):
                v, ok = self.value(x, code, at)
                lo = self.number(WindowStart(window, id(node)), at)
                hi = self.number(WindowEnd(window, id(node)), at)
                code.emit(f"{r} = {both(ok, f'{lo} <= {v}', f'{v} <= {hi}')}")
            case ir.Upcoming(operand=x, duration=duration):
                code.emit(f"{r} = {self.upcoming(x, duration, code, at)}")
            case ir.Regular() if at.no_events:
                code.emit(f"{r} = False")  # at least one period must hold an event
            case ir.Regular():
                self.regular(node, r, code, at)
            case _ if node.type is Type.BOOL:
                v, ok = self.value(node, code, at)
                code.emit(f"{r} = {both(ok, f'{v} != 0')}")
            case _:
                raise TypeError(f"cannot generate code for {type(node).__name__}")
        return r


    # -- calendar ---------------------------------------------------------------------------------------------------
    def upcoming(self, x: ir.Expr, duration: ir.Const | ir.Param, code: Code, at: At) -> str:
        """``birthday(x) within next D``: the month and day of ``x`` (a timestamp's day in the contact's zone), read
        from a table of 400 years of days, looked up in its zone's table of the anniversaries in the window (inputs
        worked out per evaluation, runtime/calendar.py): two loads per contact, no calendar arithmetic."""
        a, ok = self.value(x, code, at)
        zone = f"{self.inputs.array(ZoneTables('contact'))}[{at.row}]"
        day = code.new("day")
        if x.type is Type.DATE:
            code.emit(f"{day} = np.int64({a})")
        else:
            starts, instants, shifts = (self.inputs.array(ZoneTables(p)) for p in ("starts", "at", "shift"))
            code.emit(f"{day} = local_day(np.int64({a}), {instants}, {shifts}, {starts}[{zone}], {starts}[{zone} + 1])")
        table = self.inputs.array(ZoneAnniversaries(duration, id(duration)))
        month_days = self.inputs.array(MonthDays())
        # unsigned: a remainder without a sign test, and loads LLVM can vectorize (what a conversion of the day
        # number per contact, with its branches, kept it from: 59 -> 33 ms for 1M contacts before this table)
        return both(ok, f"{table}[{zone} * {ANNIVERSARY_CODES} + "
                        f"{month_days}[np.uint64({day} + {CYCLE_SHIFT}) % np.uint64({CYCLE_DAYS})]]")

    def regular(self, node: ir.Regular, r: str, code: Code, at: At) -> None:
        """``bought in each of the last 3 mo``: the contact's events from the first counted period's start (per zone)
        to the window's end, each period hit one bit (periods back from the current one, 1 to 60)."""
        events = node.events
        offsets, ts = self.slices(events.event)
        times = self.inputs.array(LocalTimes(events.event))
        zone = f"{self.inputs.array(ZoneTables('contact'))}[{at.row}]"
        current = self.inputs.array(ZonePeriods(events.window, node.unit, node.periods, False, id(node)))
        first = self.inputs.array(ZonePeriods(events.window, node.unit, node.periods, True, id(node)))
        start = self.number(WindowStart(events.window, id(node)), at)  # events must be in the window too
        end = self.number(WindowEnd(events.window, id(node)), at)
        bits, back, s, e = code.new("bits"), code.new("back"), code.new("s"), code.new("e")
        code.emit(f"{bits} = 0")
        code.emit(f"{s} = {offsets}[{at.row}]")
        code.emit(f"{e} = {offsets}[{at.row} + 1]")
        code.emit(f"for j in range(np.uint64(lower_bound({ts}, {s}, {e}, max({first}[{zone}], {start}))), "
                  f"np.uint64(upper_bound({ts}, {s}, {e}, {end}))):")
        code.indent += 1
        where = events.where
        test = self.pred(ir.And(where) if len(where) > 1 else where[0], code, at.on("j")) if where else "True"
        code.emit(f"if {test}:")
        code.emit(f"    {back} = {current}[{zone}] - period_of({times}[j], {PERIOD_CODES[node.unit]})")
        code.emit(f"    if {back} >= 1 and {back} <= {node.periods}:")
        code.emit(f"        {bits} |= np.int64(1) << ({back} - 1)")
        code.indent -= 1
        code.emit(f"{r} = bit_count({bits}) >= {node.least}")


def _dated(item: WindowStart | WindowEnd | ActiveStart | IntValue) -> bool:
    match item:
        case IntValue(node=node):
            return dated(node)
        case WindowStart(window=window) | WindowEnd(window=window):
            return dated(window)
        case ActiveStart(windows=windows):
            return any(dated(w) for w in windows)
    return False


def both(*terms: str) -> str:
    """The conjunction of boolean terms without short-circuit branches: every term is a load at an index known to
    be in range or a comparison (divisions and calls are guarded where they are computed), so evaluating all of them
    is safe, and a branch-free ``&`` keeps event loops free of mispredicted jumps."""
    kept = [t for t in terms if t != "True"]
    return " & ".join(f"({t})" for t in kept) if kept else "True"


def _a_number(value: str, type_: Type) -> str:
    """The validity test a float result needs: NaN (``inf - inf``, ``0 * inf``, ``inf / inf``) is null."""
    return f"{value} == {value}" if type_ is Type.FLOAT else "True"
