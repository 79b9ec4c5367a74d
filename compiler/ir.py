"""The typed IR of a rule: what a rule means, independent of how it was written or will be evaluated.

The binder (``compiler/binder.py``) builds it from the syntax tree, resolving every name against the schema; passes
(``compiler/passes.py``) rewrite it; evaluators read it; ``compiler/serial.py`` turns it into JSON and back and
``compiler/formatter.py`` into canonical text. Every node is a frozen dataclass and knows its ``type``; source spans
ride along for error messages but are left out of equality, so two spellings of one rule give equal IR.

Reading guide, leaves first:

- values: ``Const`` (a literal), ``Param`` (``$name``, bound at evaluation), ``Attr`` (a contact attribute),
  ``Prop`` (a property of the event being filtered or aggregated);
- time windows: ``AllTime``, ``Within``, ``Since``, ``Before``, ``BeforeAgo``, ``DateRange``;
- ``EventSet``: the events of one type that pass all filters (``where``) inside a window;
- measures of an event set: ``Count``, ``Aggregate`` (sum avg min max distinct first last) and the shorthand
  ``Exists`` (``opened`` alone), which the ``normalise`` pass rewrites to ``Count >= 1``;
- numbers: ``Arith``, ``Negate``, ``Func`` (``age``, ``days_since``);
- instants, only in plans (the ``whole_days`` pass makes them where a date meets a timestamp): ``ToTimestamp`` (the
  first or last microsecond of a date's day), ``WindowBound`` (the first or last instant of a window);
- predicates (type BOOL): ``Compare``, ``InRange``, ``InSet``, ``IsNull``, ``TextMatch``, ``HasTags``,
  ``InWindow``, and the connectives ``And``, ``Or``, ``Not``;
- ``Ref``: a use of a named definition, replaced by its body by the ``inline_definitions`` pass.

Semantics in one paragraph (docs/language.md has the full text): evaluation happens at a time ``now``; events
after ``now`` never count. A comparison involving null (missing attribute, ``avg``/``min``/``max``/``first``/``last``
of no events, division by zero, a result that is not a number such as ``inf - inf``) is false, ``not`` negates
that result plainly, ``is null`` tests for null. ``count`` and ``sum`` of no events are 0. Where a date meets a
timestamp, the date stands for its whole day (``created_at = 2026-06-30`` is any time that day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar

from ..dsl.errors import Span
from .types import Type


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of time as written: ``90d`` is ``Duration(90, "d")``. ``mo`` and ``y`` are calendar units."""

    amount: int
    unit: str  # s min h d w mo y

    UNITS: ClassVar[tuple[str, ...]] = ("s", "min", "h", "d", "w", "mo", "y")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


# -- values --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Const:
    """A literal. Values by type: BOOL bool, INT int, FLOAT float, STRING str, DATE ``datetime.date``,
    TIMESTAMP ``datetime.datetime`` (UTC, aware), DURATION ``Duration``."""

    value: bool | int | float | str | dt.date | dt.datetime | Duration
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Param:
    """``$name``: a value given at evaluation time; its type is fixed by where it stands in the rule."""

    name: str
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Attr:
    name: str
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Prop:
    event: str  # event type name (not the verb)
    name: str
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


# -- windows: which events count, by time ------------------------------------------------------------------------
# Every window is also cut at ``now``: events after it never count.
@dataclass(frozen=True, slots=True)
class AllTime:
    """No window: every event up to ``now``."""


@dataclass(frozen=True, slots=True)
class Within:
    """``within 90d``: (now - 90d, now]."""

    duration: Const | Param


@dataclass(frozen=True, slots=True)
class Since:
    """``since 2026-01-01``: [that midnight, now]."""

    start: Const | Param


@dataclass(frozen=True, slots=True)
class Before:
    """``before 2026-01-01``: strictly before that midnight (or instant)."""

    end: Const | Param


@dataclass(frozen=True, slots=True)
class BeforeAgo:
    """``before 90d ago``: (-inf, now - 90d], exactly the events up to now that ``within 90d`` leaves out."""

    duration: Const | Param


@dataclass(frozen=True, slots=True)
class DateRange:
    """``between 2026-01-01 and 2026-01-31``: whole days, both ends included (timestamps: both instants)."""

    start: Const | Param
    end: Const | Param


Window = AllTime | Within | Since | Before | BeforeAgo | DateRange


# -- event sets and their measures ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventSet:
    """The events of type ``event`` for which every predicate in ``where`` holds, inside ``window``."""

    event: str
    where: tuple[Expr, ...] = ()
    window: Window = AllTime()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Exists:
    """``opened``, ``bought brand=Apple within 90d``: at least one such event. Shorthand for ``Count >= 1``."""

    events: EventSet
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class Count:
    events: EventSet
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.INT


AGGREGATES = ("sum", "avg", "min", "max", "distinct", "first", "last")


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``sum avg min max distinct`` of ``prop`` over an event set, or ``first``/``last`` event time (prop None).

    Nulls in ``prop`` are skipped. sum of nothing is 0 and distinct of nothing 0; avg, min, max, first and last of
    nothing are null.
    """

    function: str
    events: EventSet
    prop: Prop | None
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


# -- numbers and time ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Arith:
    """``+ - * /``; null if either side is null; ``x / 0`` is null."""

    op: str
    left: Expr
    right: Expr
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expr
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


FUNCTIONS = ("age", "days_since")


@dataclass(frozen=True, slots=True)
class Func:
    """``age(date)``: whole years at ``now``; ``days_since(time)``: whole days from it to ``now`` (floor)."""

    name: str
    argument: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.INT


@dataclass(frozen=True, slots=True)
class ToTimestamp:
    """A point in time as one instant: the first (``last``: the last) microsecond of a DATE's day, UTC. ``operand``
    may also be a TIMESTAMP ``$parameter``, which can hold a date (then likewise) or a timestamp (that instant)."""

    operand: Expr
    last: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.TIMESTAMP


@dataclass(frozen=True, slots=True)
class WindowBound:
    """The first (``last``: the last) instant of ``window`` at ``now``, for a date tested against a window."""

    window: Window
    last: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.TIMESTAMP


# -- population-relative measures (issue 13): a contact's value among every contact's ------------------------------
# Two passes: the measure of every contact of the store, then each contact's rank among them (runtime/engines/ranks.py
# has the exact definitions; docs/language.md "Population-relative measures" the text).
RANKS = ("percentile", "quintile", "decile")
RFM_PARTS = ("rfm", "rfm_r", "rfm_f", "rfm_m")


@dataclass(frozen=True, slots=True)
class Rank:
    """``percentile(m)``: 100 x the share of contacts with a (non-null) measure strictly below this contact's (FLOAT,
    0 <= p < 100); ``quintile(m)``, ``decile(m)``: 1 + floor(5 (10) x that share) (INT, 1-5, 1-10). Null where the
    measure is null; ties share a rank. The population is every contact of the store evaluated."""

    function: str  # one of RANKS
    measure: Expr
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rfm:
    """``rfm(bought.amount within 365d)``: R x 100 + F x 10 + M (INT) among the contacts with at least one event of
    the set, each letter a quintile (1-5) among them: R of the last event's time (5: most recent), F of the count
    of events, M of the sum of ``prop``; null for contacts without events. ``rfm_r``/``rfm_f``/``rfm_m``: one
    letter."""

    part: str  # one of RFM_PARTS
    events: EventSet
    prop: Prop
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.INT


# -- calendar and time of day (docs/language.md, "Time of day and calendar") ------------------------------------
TIME_PARTS = {"hour": (0, 23), "weekday": (1, 7), "day": (1, 31), "month": (1, 12), "year": None}
"""The parts of an event's local time a filter can test, with their ranges (the year's is open)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as values: ``mon`` is 1, ``sun`` 7 (ISO 8601)."""

CALENDAR_FUNCTIONS = ("birthday", "anniversary")


@dataclass(frozen=True, slots=True)
class TimePart:
    """``hour``, ``weekday``, ``day``, ``month`` or ``year`` of the time of an event of type ``event`` being
    filtered, in its contact's time zone: a property every event type has (a real property of that name wins)."""

    event: str
    part: str
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.INT


@dataclass(frozen=True, slots=True)
class Upcoming:
    """``birthday(birth_date) within next 7d``: the next anniversary of the operand's day (a date as it is, a
    timestamp's day in the contact's zone) falls between today and today + ``duration`` in the contact's zone, both
    days included; 29 February falls on 28 February in other years. ``function`` (birthday, anniversary) only names
    it."""

    function: str
    operand: Expr
    duration: Const | Param
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


PERIOD_UNITS = ("d", "w", "mo", "y")  # calendar periods of regular behaviour: days, weeks from Monday, months, years
MAX_PERIODS = 60  # periods a regularity test may look back over


@dataclass(frozen=True, slots=True)
class Regular:
    """``bought in each of the last 3 mo``, ``opened in at least 4 of the last 6 w``: events of the set in at least
    ``least`` of the ``periods`` calendar periods (``unit``) before the one holding the end of the set's window
    (``now``, or ``now - 90d`` for ``before 90d ago``), periods in the contact's zone; the current one never counts."""

    events: EventSet
    unit: str
    periods: int
    least: int
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


# -- predicates ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # = != > >= < <=
    left: Expr
    right: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class InRange:
    """``x between low and high``, both ends included."""

    operand: Expr
    low: Expr
    high: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class InSet:
    """``x in (a, b)`` / ``x not in (a, b)``. ``not in`` is false for a null ``x``, like every comparison."""

    operand: Expr
    values: tuple[Const | Param, ...]
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class IsNull:
    operand: Expr
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class TextMatch:
    """``contains``, ``startswith``, ``endswith``: case-sensitive."""

    op: str
    operand: Expr
    pattern: Const | Param
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class HasTags:
    """``tags has x`` (mode "one"), ``has any (...)``, ``has all (...)``."""

    operand: Expr
    mode: str
    values: tuple[Const | Param, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class InWindow:
    """A time value inside a window: ``created_at within 30d``, ``first(bought) within 30d``; null is outside."""

    operand: Expr
    window: Window
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


# -- sequences (docs/language.md, "Sequences"; evaluated by runtime/engines/sequences.py) --------------------------
@dataclass(frozen=True, slots=True)
class Step:
    """One step of a sequence: an event of ``events`` (its window only on the first step, relative to now) strictly
    after the previous step's event and less than ``within`` after it (later steps; None: any time up to now), with
    its property ``same`` equal to the previous step's (both not null). ``negated`` (only the last step): no such
    event."""

    events: EventSet
    within: Const | Param | None = None
    same: str | None = None
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sequence:
    """``viewed then bought within 7d``: the contact has at least one occurrence of the steps in order."""

    steps: tuple[Step, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.BOOL


@dataclass(frozen=True, slots=True)
class SequenceCount:
    """``count(viewed then bought within 7d)``: the number of non-overlapping occurrences, taken in order of their
    last event (the first to complete, then the first to complete after it ends, ...)."""

    steps: tuple[Step, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    type: ClassVar[Type] = Type.INT


@dataclass(frozen=True, slots=True)
class Ref:
    """A named definition used in a rule; ``inline_definitions`` replaces it by the definition's IR."""

    name: str
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)


Expr = (
    Const | Param | Attr | Prop | Exists | Count | Aggregate | Arith | Negate | Func | ToTimestamp | WindowBound
    | Compare | InRange | InSet | IsNull | TextMatch | HasTags | InWindow | And | Or | Not | Ref
    | Rank | Rfm
    | Sequence | SequenceCount
    | TimePart | Upcoming | Regular
)


def children(node: Expr | EventSet | Window) -> tuple:
    """The IR nodes directly under ``node`` (for walks that do not care about node kinds)."""
    match node:
        case Const() | Param() | Attr() | Prop() | Ref() | AllTime():
            return ()
        case TimePart():
            return ()
        case Upcoming(operand=x, duration=d):
            return (x, d)
        case Regular(events=e):
            return (e,)
        case Within(duration=d) | BeforeAgo(duration=d):
            return (d,)
        case Since(start=p) | Before(end=p):
            return (p,)
        case DateRange(start=a, end=b):
            return (a, b)
        case EventSet(where=where, window=window):
            return (*where, window)
        case Exists(events=e) | Count(events=e):
            return (e,)
        case Aggregate(events=e, prop=p):
            return (e,) if p is None else (e, p)
        case Arith(left=a, right=b) | Compare(left=a, right=b):
            return (a, b)
        case Negate(operand=x) | Func(argument=x) | ToTimestamp(operand=x) | IsNull(operand=x) | Not(operand=x):
            return (x,)
        case InRange(operand=x, low=lo, high=hi):
            return (x, lo, hi)
        case InSet(operand=x, values=v) | HasTags(operand=x, values=v):
            return (x, *v)
        case TextMatch(operand=x, pattern=p):
            return (x, p)
        case InWindow(operand=x, window=w):
            return (x, w)
        case WindowBound(window=w):
            return (w,)
        case And(items=items) | Or(items=items):
            return items
        case Rank(measure=x):
            return (x,)
        case Rfm(events=e, prop=p):
            return (e, p)
        case Sequence(steps=steps) | SequenceCount(steps=steps):
            return steps
        case Step(events=e, within=w):
            return (e,) if w is None else (e, w)
    raise TypeError(f"not an IR node: {node!r}")


def walk(node):
    """Every node of the tree, parents before children."""
    yield node
    for child in children(node):
        yield from walk(child)


_FACTS: dict[tuple[int, str], tuple[object, object]] = {}
_MAX_FACTS = 4096


def fact(node, name: str, compute):
    """``compute(node)``, remembered for this very node object: a segment's plan is immutable and the same object at
    every evaluation, so a check run at each evaluation walks it once (entries hold their node, so an id is never
    taken for another node's)."""
    key = (id(node), name)
    known = _FACTS.get(key)
    if known is not None and known[0] is node:
        return known[1]
    if len(_FACTS) >= _MAX_FACTS:
        _FACTS.clear()
    value = compute(node)
    _FACTS[key] = (node, value)
    return value


def params(node) -> dict[str, Type]:
    """The ``$parameters`` a rule needs, with their types."""
    return {n.name: n.type for n in walk(node) if isinstance(n, Param)}
