"""The syntax tree: what the text says, before any name means anything.

The parser (``dsl/parser.py``) builds it; the binder (``compiler/binder.py``) turns it into typed IR. Nodes are
frozen dataclasses carrying the ``Span`` of their text, left out of equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Span


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal as written. ``kind``: number, string, date, timestamp, duration, param, bool, word (a bare word)."""

    kind: str
    value: object
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Filter:
    """``prop test`` after a verb: ``brand = Apple``, ``price between 1 and 5``, ``category in (a, b)``."""

    prop: str
    test: Test
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Subject:
    """``name``, ``verb.prop`` or ``verb filter, filter``: what the binder resolves against the schema."""

    name: str
    prop: str | None = None
    filters: tuple[Filter, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    argument: Node
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str
    left: Node
    right: Node
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node
    span: Span | None = field(default=None, compare=False, repr=False)


# -- tests ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # = != > >= < <=  (== and <> are read as = and !=)
    right: Node
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Between:
    low: Node
    high: Node
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InList:
    values: tuple[Lit, ...]
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Match:
    op: str  # contains startswith endswith
    value: Lit
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Has:
    mode: str  # one any all
    values: tuple[Lit, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


Test = Compare | Between | InList | IsNull | Match | Has


@dataclass(frozen=True, slots=True)
class Window:
    """``within D``, ``since P``, ``before P``, ``before D ago``, ``between P and P``, ``within next D`` (kind: within,
    since, before, before_ago, between, within_next)."""

    kind: str
    bounds: tuple[Lit, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Condition:
    """``subject [test] [times] [window]``."""

    subject: Node
    test: Test | None = None
    window: Window | None = None
    times: Span | None = field(default=None, compare=False)
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Regularity:
    """``in each of the last 3 mo`` (``least`` None), ``in at least 4 of the last 6 w``: ``amount`` and ``unit`` as
    written (``3 mo`` or ``3mo``), ``least`` a number literal."""

    amount: Lit
    unit: str
    least: Lit | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Regular:
    """``subject regularity [window]``: ``bought in each of the last 3 mo before 90d ago``."""

    subject: Node
    regularity: Regularity
    window: Window | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


# -- sequences ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    """A step after ``then``: ``[not] verb filters [same PROP] [within D]``."""

    subject: Subject
    negated: bool = False
    same: str | None = None
    within: Lit | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sequence:
    """``first then step then step ...``; ``first`` is a condition as parsed (the binder checks it is an event)."""

    first: Node
    steps: tuple[Step, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


Node = Lit | Subject | Call | BinOp | Neg | Condition | Not | And | Or | Sequence | Regular
