"""The kernel plan: every decision about one fused kernel, made by lowering (lowering.py) before any source exists.

Emission (emission.py) writes what the plan says and decides nothing. The plan prints as an EXPLAIN
(``str(plan)``): which conditions the first loop decides and how, the cost order of each and/or, which event types
are measured per block or per contact, which passes are eager, which tests are memoised, each measure with its
dtype. Kernel-shape tests assert on it rather than on the source.

Kernel inputs are typed (``ColumnValues(AttrColumn("city"))``, ``EventTimes("purchase")``, ``WindowStart(...)``);
the runtime turns each into an array or a number with one decoder (``runtime/engines/compiled.py``, ``input_value``). No
user text reaches the source: inputs become synthetic names (``A3``, ``k0``, ``x1``) in emission.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .. import ir
from ..formatter import format_plan

# -- columns: what the store is asked about ------------------------------------------------------------------------


@dataclass(frozen=True)
class AttrColumn:
    """A contact attribute."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TagsColumn:
    """A tags attribute, read as tag lists (or bits)."""

    name: str

    def __str__(self) -> str:
        return f"{self.name} (tags)"


@dataclass(frozen=True)
class PropColumn:
    """A property of an event type."""

    event: str
    name: str

    def __str__(self) -> str:
        return f"{self.event}.{self.name}"


Column = AttrColumn | TagsColumn | PropColumn


@dataclass(frozen=True)
class StoreFacts:
    """What of the store at hand shapes a kernel. ``nullable``: whether a column has nulls (columns without need no
    validity checks); ``code_dtype``: the integer type of a string column's codes ("int8", "int16" or "int32");
    ``dictionary_size``: how many distinct values a string or tags column has; ``sparse``: whether an event type
    has at most about one event per contact."""

    nullable: Callable[[Column], bool]
    code_dtype: Callable[[Column], str] = lambda column: "int32"
    dictionary_size: Callable[[Column], int] = lambda column: 1 << 31
    sparse: Callable[[str], bool] = lambda event: False
    zoned: bool = False  # some contact has a zone other than UTC: dates, age and days_since read zone tables
    strings: Callable[[Column], bool] = lambda column: False  # whether a column holds codes of strings


# -- inputs: arrays (argument ``A<n>``) ----------------------------------------------------------------------------
# ``site`` fields keep apart inputs that the generator wants separate although their other fields are equal (the
# node's identity, a set's number): they do not print.


@dataclass(frozen=True)
class ColumnValues:
    """A column's values (for strings and tags, the codes)."""

    column: Column

    def __str__(self) -> str:
        return f"{self.column} values"


@dataclass(frozen=True)
class ColumnValid:
    """A nullable column's validity mask."""

    column: Column

    def __str__(self) -> str:
        return f"{self.column} valid"


@dataclass(frozen=True)
class TagOffsets:
    """Each contact's slice of a tags column's codes."""

    name: str

    def __str__(self) -> str:
        return f"{self.name} tag offsets"


@dataclass(frozen=True)
class TagBits:
    """Each contact's tags as the bits of one number (small dictionaries)."""

    name: str

    def __str__(self) -> str:
        return f"{self.name} tag bits"


@dataclass(frozen=True)
class EventOffsets:
    """Each contact's slice of an event type's events."""

    event: str

    def __str__(self) -> str:
        return f"{self.event} offsets"


@dataclass(frozen=True)
class EventTimes:
    """An event type's timestamps, sorted within each contact."""

    event: str

    def __str__(self) -> str:
        return f"{self.event} ts"


@dataclass(frozen=True)
class LastEventTimes:
    """Each contact's latest event time of a type (int64 min without events)."""

    event: str

    def __str__(self) -> str:
        return f"{self.event} last ts"


@dataclass(frozen=True)
class EventRows:
    """Each event's contact row (blocked passes add an event into its contact's slot)."""

    event: str

    def __str__(self) -> str:
        return f"{self.event} rows"


@dataclass(frozen=True)
class StringTable:
    """A bool table over a string (or tags) column's dictionary: which values ``predicate`` accepts."""

    column: Column
    predicate: ir.Expr
    site: int = field(repr=False)

    def __str__(self) -> str:
        return f"{self.column} lookup table for {format_plan(self.predicate)}"


@dataclass(frozen=True)
class SequenceCounts:
    """A sequence's occurrences per contact (for ``Sequence``: whether it has one), computed before the kernel
    runs by the generic scan the vector engine uses (runtime/engines/sequences.py), for sequences the kernel does
    not scan inline (``SequenceScan``): the kernel reads one number per contact, like an attribute."""

    node: ir.Sequence | ir.SequenceCount

    def __str__(self) -> str:
        return f"occurrences of {format_plan(self.node)} (by the generic sequence scan)"


@dataclass(frozen=True)
class StepGap:
    """A later step's ``within`` in microseconds (an int input: kernels/sequences.py scans the sequence inline)."""

    within: ir.Const | ir.Param
    site: int = field(repr=False)


@dataclass(frozen=True)
class SameCodes:
    """For ``same PROP`` on strings: each code of ``here``'s dictionary as a code of ``before``'s (-1: not there)."""

    before: PropColumn
    here: PropColumn

    def __str__(self) -> str:
        return f"{self.here} codes as {self.before} codes"


@dataclass(frozen=True)
class SameSize:
    """The size of a string column's dictionary (at least 1): a table per value of ``same PROP``."""

    column: PropColumn


@dataclass(frozen=True)
class SequenceScan:
    """How the kernel finds a sequence's occurrences: ``inline`` (its own scan over the contact's event slices,
    kernels/sequences.py) or by the generic scan before the kernel runs (``SequenceCounts``)."""

    node: ir.Sequence | ir.SequenceCount
    inline: bool


# -- inputs of calendar conditions (runtime/timezones.py, runtime/calendar.py) --------------------------------------


@dataclass(frozen=True)
class LocalTimes:
    """An event type's times in their contacts' zones (µs)."""

    event: str

    def __str__(self) -> str:
        return f"{self.event} local times"


@dataclass(frozen=True)
class ZoneTables:
    """The zones' tables: ``part`` is "contact" (each contact's zone number), "starts" (each zone's first row),
    "at" (instants of changes) or "shift" (offsets from them)."""

    part: str

    def __str__(self) -> str:
        return f"zone {self.part}"


@dataclass(frozen=True)
class MonthDays:
    """month * 100 + day of each day of a 400-year cycle of the calendar (from 1970-01-01)."""

    def __str__(self) -> str:
        return "month and day of each day of 400 years"


@dataclass(frozen=True)
class ZoneAnniversaries:
    """Per zone, which anniversaries (month * 100 + day, rows of ``ANNIVERSARY_CODES``) fall within the next
    ``duration`` from today in that zone: a bool table, zone after zone."""

    duration: ir.Const | ir.Param
    site: int = field(repr=False)

    def __str__(self) -> str:
        return f"per zone, the anniversaries within the next {format_plan(self.duration)}"


@dataclass(frozen=True)
class ZonePeriods:
    """Per zone, the calendar period holding ``window``'s end (``first`` False), or an instant before which no
    event can be in the ``periods`` periods before it (``first``)."""

    window: ir.Window
    unit: str
    periods: int
    first: bool
    site: int = field(repr=False)

    def __str__(self) -> str:
        what = f"start of the {self.periods} {self.unit} before" if self.first else f"{self.unit} period holding"
        return f"per zone, {what} the end of the window"


@dataclass(frozen=True)
class ZoneNow:
    """Per zone, ``now`` in that zone: ``part`` "local" (µs of local time), "year" or "month_day" (month * 100 + day
    of its local date)."""

    part: str

    def __str__(self) -> str:
        what = {"local": "local time (µs)", "year": "year", "month_day": "month * 100 + day"}[self.part]
        return f"per zone, now's {what} in the zone"


@dataclass(frozen=True)
class ZoneAgeCut:
    """Per zone, ``AgeCut`` at now's local date in that zone."""

    bound: ir.Expr
    extra: int
    site: int = field(repr=False)

    def __str__(self) -> str:
        from ..formatter import format_plan

        return f"per zone, latest birth day of age {format_plan(self.bound)}{f' + {self.extra}' if self.extra else ''}"


@dataclass(frozen=True)
class PerZone:
    """A number that a date makes (a window's bound, a date's first or last instant), one per zone of a zoned store
    (runtime/zoneddays.py): a contact reads its zone's, as it reads ``ZoneNow``."""

    of: WindowStart | WindowEnd | ActiveStart | IntValue

    def __str__(self) -> str:
        from .explain import explain_number

        return f"per zone, {explain_number(self.of)}"


ArrayInput = (
    LocalTimes
    | PerZone
    | ZoneNow
    | ZoneAgeCut
    | ZonePeriods
    | ZoneTables
    | ZoneAnniversaries
    | MonthDays
    | ColumnValues
    | ColumnValid
    | TagOffsets
    | TagBits
    | EventOffsets
    | EventTimes
    | LastEventTimes
    | EventRows
    | StringTable
    | SequenceCounts
    | SameCodes
)


# -- inputs: integers (``ki[n]``, local ``k<n>``) and floats (``kf[n]``, local ``x<n>``) -------------------------


@dataclass(frozen=True)
class IntValue:
    """An INT, BOOL, DATE or TIMESTAMP constant or parameter (a DATE as days, a TIMESTAMP as microseconds), or an
    instant worked out per evaluation: a TIMESTAMP parameter's first or last microsecond, a window's end."""

    node: ir.Const | ir.Param | ir.ToTimestamp | ir.WindowBound
    site: int = field(repr=False)


@dataclass(frozen=True)
class FloatValue:
    """A FLOAT constant or parameter."""

    node: ir.Const | ir.Param
    site: int = field(repr=False)


@dataclass(frozen=True)
class StringMask:
    """A ``StringTable`` of a small dictionary, as the bits of one number."""

    column: Column
    predicate: ir.Expr
    site: int = field(repr=False)


@dataclass(frozen=True)
class AgeCut:
    """The latest birth day (day number) of someone aged ``bound + extra`` years at now."""

    bound: ir.Expr
    extra: int
    site: int = field(repr=False)


@dataclass(frozen=True)
class WindowStart:
    """A window's first microsecond."""

    window: ir.Window
    site: int | str = field(repr=False)


@dataclass(frozen=True)
class WindowEnd:
    """A window's last microsecond."""

    window: ir.Window
    site: int | str = field(repr=False)


@dataclass(frozen=True)
class ActiveStart:
    """The earliest start of ``windows``, kept above int64 min (the last event time of a contact without events)."""

    event: str
    windows: tuple[ir.Window, ...]


@dataclass(frozen=True)
class GroupStart:
    """The earliest start of the windows one pass over an event type serves."""

    event: str
    windows: tuple[ir.Window, ...]


@dataclass(frozen=True)
class GroupEnd:
    """The latest end of the windows one pass over an event type serves."""

    event: str
    windows: tuple[ir.Window, ...]


@dataclass(frozen=True)
class NowMicros:
    """``now`` in microseconds."""


@dataclass(frozen=True)
class NowYear:
    """``now``'s year."""


@dataclass(frozen=True)
class NowMonthDay:
    """``now``'s month * 100 + day."""


@dataclass(frozen=True)
class ScratchSize:
    """The largest dictionary a distinct count of strings marks values in, plus one."""


IntInput = (
    IntValue
    | StringMask
    | AgeCut
    | WindowStart
    | WindowEnd
    | ActiveStart
    | GroupStart
    | GroupEnd
    | NowMicros
    | NowYear
    | NowMonthDay
    | ScratchSize
    | StepGap
    | SameSize
)
FloatInput = FloatValue
Input = ArrayInput | IntInput | FloatInput


# -- measures and passes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A measure of an event set. ``out`` numbers its home: a per-contact local of its dtype (``mi``/``mf``) or,
    in a blocked type, a per-block buffer (``bk``); ``n`` (int64, same kind of home) counts the values that fed it
    (null when 0) for avg, min, max, first and last."""

    kind: str  # count, sum, avg, min, max, first, last, distinct
    prop: ir.Prop | None
    dtype: str  # "int64" or "float64"
    out: int
    n: int | None
    blocked: bool

    @property
    def key(self) -> tuple[str, ir.Prop | None]:
        return self.kind, self.prop


@dataclass(frozen=True)
class MeasuredSet:
    """An event set and the measures taken of it; ``index`` numbers the sets of the kernel (window inputs of
    different sets stay apart)."""

    events: ir.EventSet
    index: int
    measures: tuple[Measure, ...]

    def measure(self, kind: str, prop: ir.Prop | None) -> Measure:
        return next(m for m in self.measures if m.key == (kind, prop))

    @property
    def simple(self) -> bool:
        """Measures that binary search alone can give: counts, first and last of an unfiltered set."""
        return not self.events.where and all(m.kind in ("count", "first", "last") for m in self.measures)


@dataclass(frozen=True)
class EventPass:
    """The code that measures every set of one event type. Per contact (``group`` numbers it; ``eager``: computed
    up front for every listed contact instead of lazily where first needed), or per block of contacts
    (``blocked``: one flat pass over the block's events into buffers)."""

    event: str
    sets: tuple[MeasuredSet, ...]
    blocked: bool
    group: int  # number among the per-contact passes (-1 when blocked)
    eager: bool


@dataclass(frozen=True)
class EventTest:
    """A test on events that needs no measure, and how the second loop works it out: ``scan`` (filtered existence:
    the contact's events in the window until the first match), ``at least`` (an unfiltered count against a number:
    the n-th latest event up to the window's end), or ``block`` (the type is measured per block: its count).
    ``searches_start``: the window has a start to search for (others scan from the contact's first event). ``uses``:
    how often the plans write it; a test written more than once is worked out once per contact (memoised)."""

    node: ir.Expr
    how: str
    searches_start: bool
    uses: int


# -- what the first loop decides -----------------------------------------------------------------------------------
# Each returns, in emission, (certainly true, certainly false, one of them always holds) for a contact, without
# branches; ``sure`` is the third.


@dataclass(frozen=True)
class ByOwnColumns:
    """A condition on the contact's own columns (and measures of blocked types, a load each): always decided."""

    node: ir.Expr
    sure = True


@dataclass(frozen=True)
class ByLastEvent:
    """Existence of unfiltered events, from the contact's last event time: decided unless that time is after the
    window's end (then the second loop searches)."""

    node: ir.Exists
    sure = False


@dataclass(frozen=True)
class ByNoEvents:
    """A condition on events alone: decided for a contact with no event at or after the earliest start of the
    windows it reads (``reads``: event type -> windows), which has the answer of a contact without events."""

    node: ir.Expr
    reads: tuple[tuple[str, tuple[ir.Window, ...]], ...]
    sure = False


@dataclass(frozen=True)
class Undecided:
    """Left to the second loop."""

    node: ir.Expr
    sure = False


@dataclass(frozen=True)
class Negated:
    part: Decision

    @property
    def sure(self) -> bool:
        return self.part.sure


@dataclass(frozen=True)
class Combined:
    """An and (``all_of``) or an or of the parts' decisions."""

    all_of: bool
    parts: tuple[Decision, ...]

    @property
    def sure(self) -> bool:
        return all(p.sure for p in self.parts)


Decision = ByOwnColumns | ByLastEvent | ByNoEvents | Undecided | Negated | Combined


@dataclass(frozen=True)
class RulePlan:
    """One plan of the batch (its mask is ``out[index]``). ``cheap``: when the plan is a top-level and/or whose
    items include conditions on the contact's own columns, those items (kept from the first loop to the second);
    then ``first`` combines their decision with the others'. ``second``: whether any contact can be left to the
    second loop."""

    index: int
    expr: ir.Expr
    cheap: ir.Expr | None
    first: Decision

    @property
    def second(self) -> bool:
        return not self.first.sure


@dataclass(frozen=True)
class KernelPlan:
    """Everything emission needs besides the IR: see the module's docstring."""

    rules: tuple[RulePlan, ...]
    passes: tuple[EventPass, ...]  # blocked passes, then per-contact ones, each in order of first use
    costs: Mapping[ir.Expr, int]  # cheap conditions first: 0 a load, 1 a short loop, 10 a pass over events
    sets: Mapping[ir.EventSet, MeasuredSet]
    tests: tuple[EventTest, ...]  # event tests without measures
    nullable: frozenset[Column]  # columns read with their validity masks
    small: frozenset[Column]  # string and tags columns tested as the bits of one number (few values)
    code_dtypes: Mapping[Column, str]  # the integer type of each string column's codes
    prefetch: tuple[str, ...]  # event types whose next contacts' events the second loop prefetches
    int_locals: tuple[int, ...]  # the per-contact measure locals mi<n> and mf<n> in use (numbered as measures were
    float_locals: tuple[int, ...]  # found: those that moved to block buffers leave gaps)
    buffers: tuple[str, ...]  # dtypes of the per-block measure buffers bk0..
    scratch: bool  # a distinct count of strings marks values in a scratch array
    zoned: bool = False  # dates, age and days_since in the contacts' zones (StoreFacts.zoned)
    sequences: tuple[SequenceScan, ...] = ()  # every sequence of the plans, and how it is scanned

    @property
    def second(self) -> bool:
        return any(rule.second for rule in self.rules)

    @property
    def blocked(self) -> frozenset[str]:
        return frozenset(p.event for p in self.passes if p.blocked)

    @property
    def groups(self) -> tuple[EventPass, ...]:
        return tuple(p for p in self.passes if not p.blocked)

    def inline(self, node: ir.Sequence | ir.SequenceCount) -> bool:
        """Whether the kernel scans this sequence itself (else it reads the generic scan's counts)."""
        return any(scan.inline for scan in self.sequences if scan.node == node)

    def event_test(self, node: ir.Expr) -> EventTest | None:
        """How the second loop works out ``node``, when it is a test on events without measures."""
        return next((test for test in self.tests if test.node == node), None)

    def memoized(self, node: ir.Expr) -> int | None:
        """The number of a test written in several places (worked out once per contact), or None."""
        for n, test in enumerate(self.tests):
            if test.node == node:
                return n if test.uses > 1 else None
        return None

    def __str__(self) -> str:
        from .explain import explain  # the printer is long; the plan stays a plain record

        return explain(self)
