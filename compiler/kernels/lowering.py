"""Optimised plans + facts of the store -> the kernel plan (plan.py): every decision about the kernel's shape.

The decisions, in the order they are made (each a function below):

- ``collect``: every event set of the plans and every measure taken of it, grouped by event type (the per-contact
  pass over a type computes them all), and the event tests that need no measure (filtered existence, a count
  against a number), with how often each is written (a test written twice is memoised per contact);
- ``block``: sparse event types whose measures are counts, sums and averages are measured per block of contacts;
- ``cost_table``: cheap conditions first, so that and/or short-circuits skip passes over events;
- ``decide``: what the first, branch-free loop decides for each plan;
- eager passes (a type measured in many places is computed up front) and the event types prefetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import ir
from ..types import Type
from .plan import (
    AttrColumn,
    ByLastEvent,
    ByNoEvents,
    ByOwnColumns,
    Combined,
    Decision,
    EventPass,
    EventTest,
    KernelPlan,
    Measure,
    MeasuredSet,
    Negated,
    PropColumn,
    RulePlan,
    StoreFacts,
    TagsColumn,
    Undecided,
)
from .sequences import event_sets, scans

MASK_BITS = 63  # a string column with at most this many values tests them as bits of one int64
MAX_INLINE_USES = 3  # a group used more often than this in a kernel is computed up front instead of lazily
PREFETCHED_TYPES = 2  # event types the second loop prefetches for


def lower(plans: tuple[ir.Expr, ...], facts: StoreFacts) -> KernelPlan:
    """The kernel plan of one kernel computing every plan's mask (``out[k, i]`` for plan ``k``), sharing the pass
    over each event type between them."""
    found = _Found()
    uses: dict[str, int] = {}
    for plan in plans:
        collect(plan, found, uses)
    blocked = block(plans, found, facts)
    nullable, small, code_dtypes = columns(plans, facts)
    sequences = scans(plans, facts)
    costs = cost_table(plans, blocked, small, frozenset(s.node for s in sequences if s.inline))
    # A pass needed in many places is computed once per contact up front: writing its code at every place that may
    # come first would grow the kernel (and its compile time) with the number of uses. In a batch the others stay
    # lazy too, so a segment's short-circuits still skip event passes the others do not need.
    eager = {event for event, n in uses.items() if n > MAX_INLINE_USES}
    sets = {events: draft.freeze() for events, draft in found.sets.items()}
    passes = [
        EventPass(event, tuple(sets[e] for e in found.blocked[event]), True, -1, False) for event in found.blocked
    ]
    passes += [
        EventPass(event, tuple(sets[e] for e in events), False, g, event in eager)
        for g, (event, events) in enumerate(found.groups.items())
    ]
    per_contact = [m for entry in sets.values() for m in entry.measures if not m.blocked]  # in scalar locals
    return KernelPlan(
        rules=tuple(_rule(k, plan, costs) for k, plan in enumerate(plans)),
        passes=tuple(passes),
        costs=costs,
        sets=sets,
        tests=tuple(_event_test(node, uses, blocked) for node, uses in found.tests.items()),
        nullable=nullable,
        small=small,
        code_dtypes=code_dtypes,
        prefetch=prefetched(plans, costs, blocked),
        int_locals=tuple(
            sorted({m.out for m in per_contact if m.dtype == "int64"} | {m.n for m in per_contact} - {None})
        ),
        float_locals=tuple(sorted(m.out for m in per_contact if m.dtype == "float64")),
        buffers=tuple(found.buffers),
        scratch=found.scratch,
        zoned=facts.zoned,
        sequences=sequences,
    )


def columns(plans: tuple[ir.Expr, ...], facts: StoreFacts) -> tuple[frozenset, frozenset, dict]:
    """The store's facts about the columns the plans read: which have nulls, which string and tags columns have
    few enough values to test as the bits of one number, and the integer type of string codes."""
    nullable, small, code_dtypes = set(), set(), {}
    for plan in plans:
        for node in ir.walk(plan):
            match node:
                case ir.Attr(name=name) | ir.Prop(name=name):
                    column = AttrColumn(name) if isinstance(node, ir.Attr) else PropColumn(node.event, name)
                    if facts.nullable(column):
                        nullable.add(column)
                    if node.type is Type.STRING:
                        code_dtypes[column] = facts.code_dtype(column)
                        if facts.dictionary_size(column) <= MASK_BITS:
                            small.add(column)
                case ir.HasTags(operand=ir.Attr(name=name)):
                    if facts.dictionary_size(TagsColumn(name)) <= MASK_BITS:
                        small.add(TagsColumn(name))
    return frozenset(nullable), frozenset(small), code_dtypes


# -- event sets and their measures ---------------------------------------------------------------------------------


@dataclass
class _DraftMeasure:
    kind: str
    prop: ir.Prop | None
    dtype: str
    out: int
    n: int | None
    blocked: bool = False


@dataclass
class _DraftSet:
    events: ir.EventSet
    index: int
    measures: dict[tuple, _DraftMeasure] = field(default_factory=dict)

    def freeze(self) -> MeasuredSet:
        return MeasuredSet(
            self.events,
            self.index,
            tuple(Measure(m.kind, m.prop, m.dtype, m.out, m.n, m.blocked) for m in self.measures.values()),
        )


@dataclass
class _Found:
    """What ``collect`` and ``block`` find, numbered in the order found (names in the source follow it)."""

    sets: dict[ir.EventSet, _DraftSet] = field(default_factory=dict)
    groups: dict[str, list[ir.EventSet]] = field(default_factory=dict)  # per-contact passes
    blocked: dict[str, list[ir.EventSet]] = field(default_factory=dict)  # per-block passes
    tests: dict[ir.Expr, int] = field(default_factory=dict)
    n_int: int = 0
    n_float: int = 0
    buffers: list[str] = field(default_factory=list)
    scratch: bool = False

    def measure(self, events: ir.EventSet, kind: str, prop: ir.Prop | None) -> None:
        if events not in self.sets:
            self.sets[events] = _DraftSet(events, len(self.sets))
            self.groups.setdefault(events.event, []).append(events)
        entry = self.sets[events]
        if (kind, prop) in entry.measures:
            return
        floating = kind == "avg" or (kind in ("sum", "min", "max") and prop.type is Type.FLOAT)
        if floating:
            out, self.n_float = self.n_float, self.n_float + 1
        else:
            out, self.n_int = self.n_int, self.n_int + 1
        n = None
        if kind in ("avg", "min", "max", "first", "last"):
            n, self.n_int = self.n_int, self.n_int + 1
        entry.measures[(kind, prop)] = _DraftMeasure(kind, prop, "float64" if floating else "int64", out, n)
        if kind == "distinct" and prop.type is Type.STRING:
            self.scratch = True

    def buffer(self, dtype: str) -> int:
        self.buffers.append(dtype)
        return len(self.buffers) - 1


def collect(node, found: _Found, uses: dict[str, int]) -> None:
    """Every event set of the plan and every measure taken of it, grouped by event type, with the number of uses per
    type; and the event tests that need no measure (filtered existence, count against a number), with how often
    each is written."""
    match node:
        case ir.Sequence() | ir.SequenceCount():  # scanned inline, or counted before (kernels/sequences.py)
            return
        case ir.Exists(events=events) if events.where:
            found.tests[node] = found.tests.get(node, 0) + 1
            return
        case ir.Compare(left=ir.Count(events=events), right=bound) if not events.where and integer(bound):
            found.tests[node] = found.tests.get(node, 0) + 1
            return
        case ir.Count(events=events):
            found.measure(events, "count", None)
            uses[events.event] = uses.get(events.event, 0) + 1
        case ir.Aggregate(function=function, events=events, prop=prop):
            found.measure(events, function, prop)
            uses[events.event] = uses.get(events.event, 0) + 1
    for child in ir.children(node):
        collect(child, found, uses)


def block(plans: tuple[ir.Expr, ...], found: _Found, facts: StoreFacts) -> frozenset[str]:
    """Event types with at most about one event per contact (``sparse``) whose sets are only counted, summed,
    averaged or tested for existence are measured per block of contacts instead of per contact: one flat pass over
    the block's events (contiguous, each with its contact's row) adds every event into its contact's slot of a
    buffer. Their measures are then a load per contact, as cheap as an attribute, and the first loop decides on them
    (value rule at 5M: 13 -> 8 ms). Dense types keep the per-contact passes: a flat pass over all their events would
    read far more than the windows rules ask for."""
    tested = {n.events.event for p in plans for n in ir.walk(p) if isinstance(n, ir.Exists) and n.events.where}
    eligible = {
        event
        for event in tested | set(found.groups)
        if facts.sparse(event)
        and all(
            m.kind in ("count", "sum", "avg")
            for e in found.groups.get(event, ())
            for m in found.sets[e].measures.values()
        )
    }
    for plan in plans:  # existence and count tests on a blocked type read its count like any measure
        for node in ir.walk(plan):
            match node:
                case ir.Exists(events=events) | ir.Compare(left=ir.Count(events=events)) if events.event in eligible:
                    found.measure(events, "count", None)
    for event in [e for e in found.groups if e in eligible]:
        found.blocked[event] = found.groups.pop(event)
        for events in found.blocked[event]:
            for m in found.sets[events].measures.values():
                m.blocked = True
                m.out = found.buffer(m.dtype)
                if m.n is not None:
                    m.n = found.buffer("int64")
    return frozenset(found.blocked)


# -- order and decisions -------------------------------------------------------------------------------------------


def cost_table(plans: tuple[ir.Expr, ...], blocked: frozenset[str], small: frozenset,
               inline: frozenset = frozenset()) -> dict:
    """Every node's cost. Cheap conditions first: attributes, the existence of unfiltered events (from the contact's
    last event time) and measures of blocked types cost a load, tags a short loop, other event sets a pass over the
    contact's events (sequences scanned ``inline`` too; the others are counted before the kernel: a load)."""
    costs: dict = {}

    def cost(node) -> int:
        if node in costs:
            return costs[node]
        match node:
            case ir.Sequence() | ir.SequenceCount() if node not in inline:  # computed before the kernel: a load
                value = 0
            case ir.Exists(events=events) if not events.where:
                value = 0
            case ir.Exists(events=events) | ir.Count(events=events) | ir.Aggregate(events=events) if (
                events.event in blocked
            ):
                value = 0
            case _:
                match node:
                    case ir.EventSet():
                        own = 10
                    case ir.HasTags(operand=ir.Attr(name=name)) if TagsColumn(name) in small:
                        own = 0
                    case ir.HasTags():
                        own = 1
                    case _:
                        own = 0
                value = own + sum(cost(child) for child in ir.children(node))
        costs[node] = value
        return value

    for plan in plans:
        for node in ir.walk(plan):
            cost(node)
    return costs


def _rule(index: int, plan: ir.Expr, costs) -> RulePlan:
    cheap = cheap_part(plan, costs)
    if cheap is not None and cheap is not plan:
        # The cheap items of a top-level and/or are decided once, kept for the second loop, and computed again
        # there only where the first loop could not decide them.
        parts = (decide(cheap, costs), *(decide(item, costs) for item in plan.items if costs[item] > 0))
        return RulePlan(index, plan, cheap, Combined(isinstance(plan, ir.And), parts))
    return RulePlan(index, plan, None, decide(plan, costs))


def cheap_part(plan: ir.Expr, costs) -> ir.Expr | None:
    """The part of a plan that reads only the contact's own columns and decides it alone or in conjunction with the
    rest: the whole plan, the cheap items of a top-level and/or, or None."""
    if costs[plan] == 0:
        return plan
    if isinstance(plan, ir.And | ir.Or):
        cheap = tuple(item for item in plan.items if costs[item] == 0)
        if cheap:
            return type(plan)(cheap)
    return None


def decide(node: ir.Expr, costs) -> Decision:
    """What the first loop knows of ``node`` for a contact, branch-free (plan.py's decisions)."""
    match node:
        case ir.And(items=items) | ir.Or(items=items):
            return Combined(isinstance(node, ir.And), tuple(decide(item, costs) for item in items))
        case ir.Not(operand=x):
            return Negated(decide(x, costs))
        case ir.Exists(events=events) if not events.where:
            return ByLastEvent(node)
        case _ if costs[node] == 0:
            return ByOwnColumns(node)
        case _ if any(isinstance(n, ir.Attr | ir.HasTags | ir.Upcoming) for n in ir.walk(node)):
            return Undecided(node)  # its answer for a contact without events depends on the contact
    reads: dict[str, list[ir.Window]] = {}
    for n in event_sets(node):
        reads.setdefault(n.event, []).append(n.window)
    if not reads:
        return Undecided(node)
    return ByNoEvents(node, tuple((event, tuple(dict.fromkeys(windows))) for event, windows in reads.items()))


def prefetched(plans: tuple[ir.Expr, ...], costs, blocked: frozenset[str]) -> tuple[str, ...]:
    """The event types the first costly condition of each rule reads (the one every listed contact reaches): the
    second loop asks the CPU for the end of their events a few contacts ahead (example rule at 5M: the count test's
    share 33 -> 25 ms)."""
    events: list[str] = []
    for plan in plans:
        items = sorted(plan.items, key=costs.__getitem__) if isinstance(plan, ir.And | ir.Or) else [plan]
        lead = next((item for item in items if costs[item] > 0), None)
        if lead is not None:
            events += [n.event for n in ir.walk(lead) if isinstance(n, ir.EventSet) and n.event not in blocked]
    return tuple(dict.fromkeys(events))[:PREFETCHED_TYPES]


def _event_test(node: ir.Exists | ir.Compare, uses: int, blocked: frozenset[str]) -> EventTest:
    events = node.events if isinstance(node, ir.Exists) else node.left.events
    how = "block" if events.event in blocked else "scan" if isinstance(node, ir.Exists) else "at least"
    return EventTest(node, how, starts(events.window), uses)


def starts(window: ir.Window) -> bool:
    """Whether a window has a start (all time, ``before`` and ``before ... ago`` reach back to the first event): a
    search for the start of one that has none would walk the whole slice to find that out."""
    return not isinstance(window, ir.AllTime | ir.Before | ir.BeforeAgo)


def integer(node: ir.Expr) -> bool:
    """A whole number known at evaluation time (a constant or a parameter)."""
    return isinstance(node, ir.Const | ir.Param) and node.type is Type.INT
