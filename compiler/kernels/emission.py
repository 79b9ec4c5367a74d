"""Optimised plan -> the source of one fused Numba kernel, and the list of inputs it takes.

The one place where generated source is built. No user text reaches the source: every column, constant, window
bound, parameter and string predicate becomes a numbered input (``Slot``) that the runtime fills per evaluation
(``runtime/compiled.py``); the source holds only names made here (``A3``, ``k0``, ``v12``), operators from a fixed
table and numbers segmint chose (scratch sizes, chunk length). So one kernel serves every ``now``, every
parameter value and every constant of the same rule shape, and the cache key is a hash of the source.

Shape of a kernel: a serial ``nogil`` function over a range of contacts (the runtime runs ranges on threads:
as fast as ``prange`` here and a third of its compile time), in blocks of ``BLOCK`` contacts, two loops a block:

- the first loop, branch-free and vectorized (unsigned indices, small dictionaries as bit masks), reads what is
  dense per contact, its own columns and its last event time of each type, and *decides* every contact it can
  (``decide``: certainly true, certainly false): conditions on attributes, existence of unfiltered events
  (``exists_dense``), and any condition on events for a contact with no event since its windows' earliest start
  (the answer of a contact without events, worked out once per call). It lists the contacts left undecided;
- the second loop takes the listed contacts one by one (prefetching ahead), with ``and``/``or`` short-circuits in
  order of cost. Existence of filtered events scans until the first match (``exists_scan``); a count of
  unfiltered events against a number looks at the end of the contact's events (``count_test``); other measures
  come from one *group* of code per event type that makes a single pass over the contact's events inside the
  union of the windows it needs and computes every measure of every set of that type (counts, sums, min/max,
  first/last, distinct) into scalar locals ``mi<n>`` (int64) and ``mf<n>`` (float64). In a batch, tests two
  segments share are worked out once per contact (``memoized``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from .. import ir
from ..types import Type
from .library import LIB_VERSION

CODEGEN_VERSION = 13
BLOCK = 1024  # contacts per block: the cheap conditions' buffer stays in L1
MASK_BITS = 63  # a string column with at most this many values tests them as bits of one int64
MAX_INLINE_USES = 3  # a group used more often than this in a kernel is computed up front instead of lazily
PREFETCH_AHEAD = 8  # listed contacts between a prefetch and the use of what it fetched
_CMP = {"=": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_ARITH = {"+": "+", "-": "-", "*": "*"}


@dataclass(frozen=True)
class Slot:
    """One kernel input, described in segmint's terms; the runtime turns it into an array or a number.

    Array slots (argument ``A<n>``): ``("attr", name, "values"|"valid")``, ``("tags", name, "offsets"|"codes")``,
    ``("events", event, "offsets"|"ts"|"last")``, ``("prop", event, name, "values"|"valid")``,
    ``("table", column, predicate)`` (a bool table over a string column's dictionary, plus a final False for
    code -1). Integer slots (``ki[n]``, read into the local ``k<n>``): ``("value", node)`` for INT/BOOL/DATE/
    TIMESTAMP constants and parameters, ``("age_cut", bound, k)``, ``("lo"|"hi", window)``,
    ``("group_lo"|"group_hi", event, windows)``, ``("now_us",)``, ``("now_year",)``, ``("now_month_day",)``,
    ``("dict_size", column)``. Float slots (``kf[n]``, local ``x<n>``): ``("value", node)``.
    """

    key: tuple


@dataclass
class Kernel:
    source: str
    arrays: list[Slot]
    ints: list[Slot]
    floats: list[Slot]
    name: str = "kernel"

    @cached_property
    def key(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:24]


@dataclass
class _Measure:
    """Where a measure of an event set lives in the scratch arrays."""

    kind: str  # count, sum, avg, min, max, first, last, distinct
    prop: ir.Prop | None
    out: str  # a local of the kernel: "mi3" (int64) or "mf1" (float64)
    n: str | None = None  # "mi4": how many values fed it (null when 0), for avg/min/max/first/last


@dataclass
class _Set:
    events: ir.EventSet
    index: int
    measures: dict[tuple, _Measure] = field(default_factory=dict)


class _Slots:
    def __init__(self) -> None:
        self.arrays: dict[Slot, str] = {}
        self.ints: dict[Slot, int] = {}
        self.floats: dict[Slot, int] = {}

    def array(self, *key) -> str:
        slot = Slot(key)
        if slot not in self.arrays:
            self.arrays[slot] = f"A{len(self.arrays)}"
        return self.arrays[slot]

    def int(self, *key) -> str:
        slot = Slot(key)
        if slot not in self.ints:
            self.ints[slot] = len(self.ints)
        return f"k{self.ints[slot]}"

    def float(self, *key) -> str:
        slot = Slot(key)
        if slot not in self.floats:
            self.floats[slot] = len(self.floats)
        return f"x{self.floats[slot]}"


class _Code:
    """Lines of source with indentation and fresh local names."""

    def __init__(self, indent: int, tag: str = "") -> None:
        self.lines: list[str] = []
        self.indent = indent
        self.counter = 0
        self.tag = tag  # keeps the names of separately generated pieces apart

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def new(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.tag}{self.counter}"


def generate(
    plans: tuple[ir.Expr, ...],
    nullable,
    code_dtype=lambda column: "int32",
    dictionary_size=lambda column: 1 << 31,
    sparse=lambda event: False,
) -> Kernel:
    """One kernel computing every plan's mask (``out[k, i]`` for plan ``k``), sharing the pass over each event type
    between them. What of the store at hand is part of the kernel's shape: ``nullable(column) -> bool``, whether a
    column has nulls (columns without need no validity checks), and ``code_dtype(column)``, the integer type of a
    string column's codes ("int8", "int16" or "int32")."""
    return _Generator(nullable, code_dtype, dictionary_size, sparse).kernel(plans)


class _Generator:
    def __init__(self, nullable, code_dtype, dictionary_size, sparse) -> None:
        self.nullable = nullable
        self.code_dtype = code_dtype
        self.dictionary_size = dictionary_size
        self.sparse = sparse
        self.blocked: dict[str, list[_Set]] = {}  # event type -> its sets, measured per block (see block_pass)
        self.buffers: dict[str, str] = {}  # per-block measure buffer -> its numpy dtype
        self.local = "i - w"  # a contact's place in its block, as the loop being written indexes it
        self.slots = _Slots()
        self.sets: dict[ir.EventSet, _Set] = {}
        self.groups: dict[str, list[_Set]] = {}
        self.n_int = 0
        self.n_float = 0
        self.needs_scratch = False
        self.group_code: dict[int, list[str]] = {}
        self.eager: set[str] = set()
        self.no_events = False
        self.unsure: list[str] | None = None  # in the first loop: tests that leave its existence answers unsure
        self.empty = _Code(indent=1, tag="e")  # the answers of conditions for a contact without events
        self.tests: dict[ir.Expr, int] = {}  # event tests (scans, count tests): how often each is written

    # -- driver ----------------------------------------------------------------------------------------------
    def kernel(self, plans: tuple[ir.Expr, ...]) -> Kernel:
        uses: dict[str, int] = {}
        for plan in plans:
            self.collect(plan, uses)
        self.block(plans)
        # Two loops per block of contacts (the module's docstring): ``firsts`` the branch-free first loops, one per
        # plan, ``body`` the per-contact work on the contacts they leave undecided.
        firsts, body = [], _Code(indent=3)
        # A group needed in many places is computed once per contact up front: writing its code at every place
        # that may come first would grow the kernel (and its compile time) with the number of uses. In a batch the
        # others stay lazy too, so a segment's short-circuits still skip event passes the others do not need.
        self.eager = {event for event, n in uses.items() if n > MAX_INLINE_USES}
        for event in self.groups:
            if event in self.eager:
                g = self.group_index(event)
                for line in self.group_code.setdefault(g, self.group_body(g, event, self.groups[event])):
                    body.emit(line)
        buffers, needs = [], []
        for k, plan in enumerate(plans):
            # Each segment of a batch gets a first loop of its own: one loop writing many arrays is not vectorized.
            first = _Code(indent=3, tag=f"f{k}_")
            firsts.append(first)
            self.local = "i - wu"
            cheap = _cheap_part(plan, self.cost)
            split = cheap is not None and cheap is not plan
            if split:
                # The cheap items of a top-level and/or are decided once, kept for the second loop ("p<k>"), and
                # computed again there only where the first loop could not decide them ("u<k>").
                yes, no, sure = self.decide(cheap, first)
                buffers.append(f"p{k}")
                first.emit(f"p{k}[i - wu] = {yes}")
                if not sure:
                    buffers.append(f"u{k}")
                    first.emit(f"u{k}[i - wu] = not ({yes} | {no})")
                parts = [(yes, no, sure), *(self.decide(item, first) for item in plan.items if self.cost(item) > 0)]
                yes, no, sure = _combine(parts, isinstance(plan, ir.And))
            else:
                yes, no, sure = self.decide(plan, first)
            first.emit(f"o{k}[i] = {yes}")
            need = "False" if sure else f"not ({yes} | {no})"
            needs.append(need)
            if need == "False":
                continue
            self.local = "i - w"
            if len(plans) > 1:
                buffers.append(f"c{k}")
                first.emit(f"c{k}[i - wu] = {need}")
                body.emit(f"if c{k}[i - w]:")
                body.indent += 1
            if split:
                pre = body.new("q")
                body.emit(f"{pre} = p{k}[i - w]")
                if f"u{k}" in buffers:
                    body.emit(f"if u{k}[i - w]:")
                    body.indent += 1
                    body.emit(f"{pre} = {self.pred(cheap, body, 'i', None)}")
                    body.indent -= 1
                body.emit(f"o{k}[i] = {self.pred(plan, body, 'i', None, pre=pre)}")
            else:
                body.emit(f"o{k}[i] = {self.pred(plan, body, 'i', None)}")
            body.indent = 3
        second = any(need != "False" for need in needs)
        if second and len(plans) == 1:
            firsts[0].emit(f"c[i - wu] = {needs[0]}")
        elif second:
            gather = _Code(indent=3)
            gather.emit(f"c[i - wu] = {' | '.join(f'c{k}[i - wu]' for k, need in enumerate(needs) if need != 'False')}")
            firsts.append(gather)
        ahead = self.prefetches(plans) if second else []  # before the signature: they may add inputs
        blocks = [line for event in self.blocked for line in self.block_pass(event)]
        head = [
            f"# segmint kernel; codegen {CODEGEN_VERSION}, kernel_lib {LIB_VERSION}",
            "import numba",
            "import numpy as np",
            "from segmint.compiler.kernels.library import (",
            "    age_years, at_least, count_distinct_sorted, lower_bound, prefetch, upper_bound,",
            ")",
            "",
        ]
        kernel = [
            "",
            "@numba.njit(nogil=True, cache=True)",
            f"def kernel(start, stop, out, ki, kf{''.join(', ' + a for a in self.slots.arrays.values())}):",
            f"    scratch = np.zeros({self.scratch_size()}, np.bool_)",
            # Numbers as locals: loaded once, not once per contact (stores to ``out`` could alias ``ki``).
            *[f"    k{n} = ki[{n}]" for n in range(len(self.slots.ints))],
            *[f"    x{n} = kf[{n}]" for n in range(len(self.slots.floats))],
            *[f"    {p} = np.empty({BLOCK}, np.bool_)" for p in buffers],
            *[f"    {b} = np.zeros({BLOCK}, np.{dtype})" for b, dtype in self.buffers.items()],
            *(self.empty_prelude() if self.empty.lines else []),
            *self.empty.lines,
            *[f"    o{k} = out[{k}]" for k in range(len(plans))],
            *(self.list_prelude() if second else []),
            f"    for w in range(start, stop, {BLOCK}):",
            f"        z = min(w + {BLOCK}, stop)",
            # Unsigned indices: Numba maps a negative signed index to one from the end, a test per load that keeps
            # LLVM from vectorizing the loop (8x slower on a rule on attributes at 5M contacts).
            "        wu = np.uint64(w)",
            *blocks,
            *[line for first in firsts for line in ("        for i in range(wu, np.uint64(z)):", *first.lines)],
            *(self.list_contacts() if second else []),
            *(["        for u in range(n):", *ahead, "            i = sel[u]", *self.contact_locals(), *body.lines]
              if second else []),
            "",
        ]
        source = "\n".join(head + kernel)
        return Kernel(source, list(self.slots.arrays), list(self.slots.ints), list(self.slots.floats))

    # -- deciding contacts in the first loop -------------------------------------------------------------------
    def decide(self, node: ir.Expr, code: _Code) -> tuple[str, str, bool]:
        """Branch-free tests, for the first loop, of when ``node`` is certainly true and when certainly false
        ("False": never known there), and whether one of them always holds."""
        match node:
            case ir.And(items=items) | ir.Or(items=items):
                return _combine([self.decide(item, code) for item in items], isinstance(node, ir.And))
            case ir.Not(operand=x):
                yes, no, sure = self.decide(x, code)
                return no, yes, sure
            case ir.Exists(events=events) if not events.where:
                # Read from the last event time: true is certain, false only when that event is not after the
                # window's end (see exists_dense).
                self.unsure = []
                value = self.pred(node, code, "i", None)
                [unsure], self.unsure = self.unsure, None
                return value, f"((not {value}) & (not {unsure}))", False
            case _ if self.cost(node) == 0:
                value = self.pred(node, code, "i", None)
                return value, f"(not {value})", True
            case _ if any(isinstance(n, ir.Attr | ir.HasTags) for n in ir.walk(node)):
                return "False", "False", False  # its answer for a contact without events depends on the contact
        # A condition on events alone: for a contact with no event at or after the earliest start of the
        # windows it reads, of any type it reads, it has the answer of a contact without events.
        reads: dict[str, list[ir.Window]] = {}
        for n in ir.walk(node):
            if isinstance(n, ir.EventSet):
                reads.setdefault(n.event, []).append(n.window)
        if not reads:
            return "False", "False", False
        answer = self.empty.new("e")
        self.no_events = True
        self.empty.emit(f"{answer} = {self.pred(node, self.empty, 'i', None)}")
        self.no_events = False
        quiet = code.new("z")
        code.emit(f"{quiet} = " + " & ".join(
            f"({self.slots.array('events', event, 'last')}[i] < "
            f"{self.slots.int('active_lo', event, tuple(dict.fromkeys(windows)))})"
            for event, windows in reads.items()
        ))
        return f"({quiet} & {answer})", f"({quiet} & (not {answer}))", False

    def empty_prelude(self) -> list[str]:
        """Before the answers of contacts without events are worked out: every pass done, every measure zero."""
        return [
            "    i = 0",
            *[f"    d{g} = True" for g in range(len(self.groups))],
            *[f"    mi{k} = 0" for k in range(self.n_int)],
            *[f"    mf{k} = 0.0" for k in range(self.n_float)],
        ]

    def prefetches(self, plans: tuple[ir.Expr, ...]) -> list[str]:
        """Ask the CPU for the end of the events of the contact PREFETCH_AHEAD places further in the list, for the
        event types the first costly condition of each rule reads (the one every listed contact reaches): those
        loads, a cache miss each, then overlap the work on the contacts in between (example rule at 5M: the count
        test's share 33 -> 25 ms)."""
        events: list[str] = []
        for plan in plans:
            items = sorted(plan.items, key=self.cost) if isinstance(plan, ir.And | ir.Or) else [plan]
            lead = next((item for item in items if self.cost(item) > 0), None)
            if lead is not None:
                events += [n.event for n in ir.walk(lead) if isinstance(n, ir.EventSet) and n.event not in self.blocked]
        lines = []
        for event in list(dict.fromkeys(events))[:2]:
            offsets, ts = self.slices(event)
            lines.append(f"                prefetch({ts}, {offsets}[sel[u + {PREFETCH_AHEAD}] + 1] - 1)")
        return [f"            if u + {PREFETCH_AHEAD} < n:", *lines] if lines else []

    @staticmethod
    def list_prelude() -> list[str]:
        return [
            f"    sel = np.empty({BLOCK}, np.int64)",
            f"    c = np.zeros({BLOCK}, np.bool_)",
            "    cw = c.view(np.uint64)",
        ]

    @staticmethod
    def list_contacts() -> list[str]:
        """The block's contacts that the first loop flagged (``c``), listed in ``sel[:n]``. A loop of its own, and
        eight flags at a time: in the first loop, the list's running length stopped it from vectorizing (12.8 ->
        4.1 ms for a rule at 5M contacts)."""
        return [
            "        n = 0",
            "        for y in range((z - w + 7) >> 3):",
            "            if cw[y] != 0:",
            "                for i in range(w + 8 * y, min(w + 8 * y + 8, z)):",
            "                    sel[n] = i",
            "                    n += c[i - w]",
        ]

    def contact_locals(self) -> list[str]:
        """What the second loop sets per contact: no event pass done yet, measures zero. Measures are scalar
        locals (LLVM keeps them in registers in the event loops), set on every path."""
        return [
            *[f"            d{g} = False" for g in range(len(self.groups))],
            *[f"            xd{n} = False" for n, uses in enumerate(self.tests.values()) if uses > 1],
            *[f"            xr{n} = False" for n, uses in enumerate(self.tests.values()) if uses > 1],
            *[f"            mi{k} = 0" for k in range(self.n_int)],
            *[f"            mf{k} = 0.0" for k in range(self.n_float)],
        ]

    def scratch_size(self) -> str:
        if not self.needs_scratch:
            return "1"
        return "ki[" + str(self.slots.ints[Slot(("scratch_size",))]) + "]"

    # -- event sets ------------------------------------------------------------------------------------------
    def collect(self, node, uses: dict[str, int]) -> None:
        """Every event set of the plan and every measure taken of it, grouped by event type, with the number of
        uses per type; and the event tests that need no measure (filtered existence, count against a number),
        with how often each is written."""
        match node:
            case ir.Exists(events=events) if events.where:
                self.tests[node] = self.tests.get(node, 0) + 1
                return
            case ir.Compare(left=ir.Count(events=events), right=bound) if not events.where and _integer(bound):
                self.tests[node] = self.tests.get(node, 0) + 1
                return
            case ir.Count(events=events):
                self.measure(events, "count", None)
                uses[events.event] = uses.get(events.event, 0) + 1
            case ir.Aggregate(function=function, events=events, prop=prop):
                self.measure(events, function, prop)
                uses[events.event] = uses.get(events.event, 0) + 1
        for child in ir.children(node):
            self.collect(child, uses)

    def measure(self, events: ir.EventSet, kind: str, prop: ir.Prop | None) -> _Measure:
        if events not in self.sets:
            entry = _Set(events, len(self.sets))
            self.sets[events] = entry
            self.groups.setdefault(events.event, []).append(entry)
        entry = self.sets[events]
        key = (kind, prop)
        if key not in entry.measures:
            floating = kind == "avg" or (kind in ("sum", "min", "max") and prop.type is Type.FLOAT)
            out = self.scratch_float() if floating else self.scratch_int()
            n = self.scratch_int() if kind in ("avg", "min", "max", "first", "last") else None
            entry.measures[key] = _Measure(kind, prop, out, n)
            if kind == "distinct" and prop.type is Type.STRING:
                self.needs_scratch = True
                self.slots.int("scratch_size")
        return entry.measures[key]

    def block(self, plans: tuple[ir.Expr, ...]) -> None:
        """Event types with at most about one event per contact (``sparse``) whose sets are only counted, summed,
        averaged or tested for existence are measured per block of contacts instead of per contact: one flat pass
        over the block's events (contiguous, each with its contact's row) adds every event into its contact's
        slot of a buffer (``block_pass``). Their measures are then a load per contact, as cheap as an attribute,
        and the first loop decides on them (value rule at 5M: 13 -> 8 ms). Dense types keep the per-contact
        passes: a flat pass over all their events would read far more than the windows rules ask for."""
        tested = {n.events.event for p in plans for n in ir.walk(p) if isinstance(n, ir.Exists) and n.events.where}
        eligible = {
            event
            for event in tested | set(self.groups)
            if self.sparse(event)
            and all(m.kind in ("count", "sum", "avg") for e in self.groups.get(event, ()) for m in e.measures.values())
        }
        for plan in plans:  # existence and count tests on a blocked type read its count like any measure
            for node in ir.walk(plan):
                match node:
                    case ir.Exists(events=events) | ir.Compare(left=ir.Count(events=events)) if (
                        events.event in eligible
                    ):
                        self.measure(events, "count", None)
        for event in [e for e in self.groups if e in eligible]:
            self.blocked[event] = self.groups.pop(event)
            for entry in self.blocked[event]:
                for m in entry.measures.values():
                    m.out = self.buffer("float64" if m.out.startswith("mf") else "int64")
                    if m.n:
                        m.n = self.buffer("int64")

    def buffer(self, dtype: str) -> str:
        name = f"bk{len(self.buffers)}"
        self.buffers[name] = dtype
        return name

    def block_pass(self, event: str) -> list[str]:
        """The measures of a blocked event type for the contacts [w, z): buffers zeroed, then one branch-free pass
        over the block's events adding each into its contact's slot (events in order, so a sum adds a contact's
        values in the same order as the per-contact pass and the reference do)."""
        code = _Code(indent=2, tag=f"k{list(self.blocked).index(event)}_")
        offsets, ts = self.slices(event)
        rows = self.slots.array("events", event, "rows")
        sets = self.blocked[event]
        code.emit("for q in range(np.uint64(z - w)):")
        for b in (b for entry in sets for m in entry.measures.values() for b in (m.out, m.n) if b):
            code.emit(f"    {b}[q] = 0")
        code.emit(f"for j in range(np.uint64({offsets}[w]), np.uint64({offsets}[z])):")
        code.indent += 1
        t, o = code.new("t"), code.new("o")
        code.emit(f"{t} = {ts}[j]")
        code.emit(f"{o} = np.uint64({rows}[j]) - wu")
        for entry in sets:
            lo = self.slots.int("lo", entry.events.window, entry.index)
            hi = self.slots.int("hi", entry.events.window, entry.index)
            terms = [f"({t} >= {lo})", f"({t} <= {hi})"]
            where = entry.events.where
            if where:
                terms.append(f"({self.pred(ir.And(where) if len(where) > 1 else where[0], code, 'j', event)})")
            hit = code.new("f")
            code.emit(f"{hit} = {' & '.join(terms)}")
            for m in entry.measures.values():
                if m.kind == "count":
                    code.emit(f"{m.out}[{o}] += {hit}")
                    continue
                value, valid = self.prop_value(m.prop, "j")
                use = hit if valid == "True" else f"({hit} & {valid})"
                zero = "0.0" if self.buffers[m.out] == "float64" else "0"
                code.emit(f"{m.out}[{o}] += {value} if {use} else {zero}")
                if m.n:
                    code.emit(f"{m.n}[{o}] += {use}")
        return code.lines

    def cost(self, node) -> int:
        """Cheap conditions first: attributes, the existence of unfiltered events (from the contact's last event
        time) and measures of blocked types cost a load, tags a short loop, other event sets a pass over the
        contact's events."""
        match node:
            case ir.Exists(events=events) if not events.where:
                return 0
            case ir.Exists(events=events) | ir.Count(events=events) | ir.Aggregate(events=events) if (
                events.event in self.blocked
            ):
                return 0
            case ir.EventSet():
                own = 10
            case ir.HasTags(operand=ir.Attr(name=name)) if self.small_tags(name):
                own = 0
            case ir.HasTags():
                own = 1
            case _:
                own = 0
        return own + sum(self.cost(child) for child in ir.children(node))

    def small_tags(self, name: str) -> bool:
        """Whether a tags attribute has few enough distinct tags to hold a row's set as the bits of one number."""
        return self.dictionary_size(("tags", name)) <= MASK_BITS

    def scratch_int(self) -> str:
        self.n_int += 1
        return f"mi{self.n_int - 1}"

    def scratch_float(self) -> str:
        self.n_float += 1
        return f"mf{self.n_float - 1}"

    def group_index(self, event: str) -> int:
        return list(self.groups).index(event)

    def ensure_group(self, event: str, code: _Code) -> None:
        """The pass over this contact's events of one type, the first time any condition needs it. The code is
        written inline at each place that may come first (a call per contact would cost more than the pass)."""
        if event in self.eager or self.no_events:
            return
        g = self.group_index(event)
        if g not in self.group_code:
            self.group_code[g] = self.group_body(g, event, self.groups[event])
        code.emit(f"if not d{g}:")
        for line in self.group_code[g]:
            code.emit("    " + line)
        code.emit(f"    d{g} = True")

    def group_body(self, g: int, event: str, sets: list[_Set]) -> list[str]:
        code = _Code(indent=0, tag=f"g{g}_")
        for entry in sets:
            for m in entry.measures.values():
                code.emit(f"{m.out} = 0")
                if m.n:
                    code.emit(f"{m.n} = 0")
        windows = tuple(entry.events.window for entry in sets)
        if all(_starts(w) for w in windows):
            # Every window starts somewhere: a contact whose last event is older has nothing in any of them, and
            # one dense read of its last time says so without touching its events.
            last = self.slots.array("events", event, "last")
            code.emit(f"if {last}[i] >= {self.slots.int('group_lo', event, windows)}:")
            code.indent += 1
        offsets, ts = self.slices(event)
        code.emit(f"s = {offsets}[i]")
        code.emit(f"e = {offsets}[i + 1]")
        code.emit("if s < e:")
        code.indent += 1
        simple = [entry for entry in sets if _is_simple(entry)]
        scanned = [entry for entry in sets if not _is_simple(entry)]
        for entry in simple:
            a, b = self.window_range(entry, code)
            for m in entry.measures.values():
                if m.kind == "count":
                    code.emit(f"{m.out} = {b} - {a}")
                else:
                    code.emit(f"if {b} > {a}:")
                    index = a if m.kind == "first" else f"{b} - 1"
                    code.emit(f"    {m.out} = {ts}[{index}]")
                    code.emit(f"    {m.n} = 1")
        if scanned:
            windows = tuple(entry.events.window for entry in scanned)
            if len(scanned) == 1:
                a, b = self.window_range(scanned[0], code)
            else:
                lo = self.slots.int("group_lo", event, windows)
                hi = self.slots.int("group_hi", event, windows)
                a, b = code.new("a"), code.new("b")
                code.emit(f"{a} = {_lower(windows, ts, 's', 'e', lo)}")
                code.emit(f"{b} = upper_bound({ts}, s, e, {hi})")
            for entry in scanned:
                self.init_extremes(entry, code)
            code.emit(f"for j in range(np.uint64({a}), np.uint64({b})):")
            code.indent += 1
            code.emit(f"t = {ts}[j]")
            for entry in scanned:
                self.accumulate(entry, len(scanned) > 1, code)
            code.indent -= 1
            for entry in scanned:
                self.finish(entry, a, b, len(scanned) > 1, code)
        return code.lines

    def window_range(self, entry: _Set, code: _Code) -> tuple[str, str]:
        lo = self.slots.int("lo", entry.events.window, entry.index)
        hi = self.slots.int("hi", entry.events.window, entry.index)
        a, b = code.new("a"), code.new("b")
        ts = self.slots.array("events", entry.events.event, "ts")
        code.emit(f"{a} = {_lower((entry.events.window,), ts, 's', 'e', lo)}")
        code.emit(f"{b} = upper_bound({ts}, s, e, {hi})")
        return a, b

    def init_extremes(self, entry: _Set, code: _Code) -> None:
        for m in entry.measures.values():
            if m.kind == "min":
                code.emit(f"{m.out} = {'np.inf' if m.out.startswith('mf') else '9223372036854775807'}")
            elif m.kind == "max":
                code.emit(f"{m.out} = {'-np.inf' if m.out.startswith('mf') else '-9223372036854775807'}")

    def accumulate(self, entry: _Set, check_window: bool, code: _Code) -> None:
        """Fold event ``j`` into the measures of ``entry`` when it is in the set's window and passes its filters."""
        depth = code.indent
        if check_window:
            code.emit(f"if {self.in_window(entry, 't')}:")
            code.indent += 1
        code.emit(f"if {self.filters(entry, code)}:")
        code.indent += 1
        for m in entry.measures.values():
            self.fold(m, code)
        code.indent = depth

    def in_window(self, entry: _Set, stamp: str) -> str:
        lo = self.slots.int("lo", entry.events.window, entry.index)
        hi = self.slots.int("hi", entry.events.window, entry.index)
        return f"{stamp} >= {lo} and {stamp} <= {hi}"

    def filters(self, entry: _Set, code: _Code) -> str:
        where = entry.events.where
        if not where:
            return "True"
        return self.pred(ir.And(where) if len(where) > 1 else where[0], code, "j", entry.events.event)

    def fold(self, m: _Measure, code: _Code) -> None:
        """One matching event ``j`` (at time ``t``) into measure ``m``."""
        if m.kind == "count":
            code.emit(f"{m.out} += 1")
            return
        if m.kind in ("first", "last"):
            if m.kind == "first":
                code.emit(f"if {m.n} == 0:")
                code.emit(f"    {m.out} = t")
            else:
                code.emit(f"{m.out} = t")
            code.emit(f"{m.n} = 1")
            return
        value, valid = self.prop_value(m.prop, "j")
        if valid != "True":
            code.emit(f"if {valid}:")
            code.indent += 1
        match m.kind:
            case "sum":
                code.emit(f"{m.out} += {value}")
            case "avg":
                code.emit(f"{m.out} += {value}")
                code.emit(f"{m.n} += 1")
            case "min":
                code.emit(f"if {value} < {m.out}:")
                code.emit(f"    {m.out} = {value}")
                code.emit(f"{m.n} += 1")
            case "max":
                code.emit(f"if {value} > {m.out}:")
                code.emit(f"    {m.out} = {value}")
                code.emit(f"{m.n} += 1")
            case "distinct":
                if m.prop.type is Type.STRING:
                    code.emit(f"if not scratch[{value}]:")
                    code.emit(f"    scratch[{value}] = True")
                    code.emit(f"    {m.out} += 1")
                else:
                    code.emit(f"{m.out} += 1")  # values are collected and counted in ``finish``
        if valid != "True":
            code.indent -= 1

    def finish(self, entry: _Set, a: str, b: str, shared: bool, code: _Code) -> None:
        """Distinct values need a second look at the matching events: to clear the marks set for this contact
        (strings), or to collect and count the values (numbers)."""
        for m in entry.measures.values():
            if m.kind != "distinct":
                continue
            value, valid = self.prop_value(m.prop, "j")
            numeric = m.prop.type is not Type.STRING
            if numeric:
                buffer, count = code.new("buf"), code.new("c")
                code.emit(f"{buffer} = np.empty({m.out}, {'np.float64' if m.prop.type is Type.FLOAT else 'np.int64'})")
                code.emit(f"{count} = 0")
            depth = code.indent
            code.emit(f"for j in range(np.uint64({a}), np.uint64({b})):")
            code.indent += 1
            conditions = [self.in_window(entry, f"{self.ts_array(entry.events.event)}[j]")] if shared else []
            conditions += [self.filters(entry, code), valid]
            code.emit(f"if {' and '.join(c for c in conditions if c != 'True') or 'True'}:")
            if numeric:
                code.emit(f"    {buffer}[{count}] = {value}")
                code.emit(f"    {count} += 1")
            else:
                code.emit(f"    scratch[{value}] = False")
            code.indent = depth
            if numeric:
                code.emit(f"{m.out} = count_distinct_sorted({buffer})")

    def ts_array(self, event: str) -> str:
        return self.slots.array("events", event, "ts")

    # -- values ----------------------------------------------------------------------------------------------
    def prop_value(self, prop: ir.Prop, row: str) -> tuple[str, str]:
        values = self.slots.array("prop", prop.event, prop.name, "values")
        if self.nullable(("prop", prop.event, prop.name)):
            return f"{values}[{row}]", f"{self.slots.array('prop', prop.event, prop.name, 'valid')}[{row}]"
        return f"{values}[{row}]", "True"

    def value(self, node: ir.Expr, code: _Code, row: str, scope: str | None) -> tuple[str, str]:
        """Emit code computing ``node``; returns (value expression, validity expression)."""
        match node:
            case ir.Const() | ir.Param():
                if node.type is Type.FLOAT:
                    return self.slots.float("value", node, id(node)), "True"
                return self.slots.int("value", node, id(node)), "True"
            case ir.Attr(name=name):
                values = self.slots.array("attr", name, "values")
                valid = "True"
                if self.nullable(("attr", name)):
                    valid = f"{self.slots.array('attr', name, 'valid')}[{row}]"
                return f"{values}[{row}]", valid
            case ir.Prop():
                return self.prop_value(node, row)
            case ir.Count(events=events) | ir.Aggregate(events=events) if events.event in self.blocked:
                key = ("count", None) if isinstance(node, ir.Count) else (node.function, node.prop)
                m = self.sets[events].measures[key]
                if self.no_events:
                    return ("0.0", "False") if m.kind == "avg" else ("0", "True")
                if m.kind == "avg":
                    v = code.new()
                    total, n = f"{m.out}[{self.local}]", f"{m.n}[{self.local}]"
                    code.emit(f"{v} = {total} / {n} if {n} > 0 else 0.0")
                    return v, f"({n} > 0)"
                return f"{m.out}[{self.local}]", "True"
            case ir.Count(events=events):
                self.ensure_group(events.event, code)
                return self.sets[events].measures[("count", None)].out, "True"
            case ir.Aggregate(function=function, events=events, prop=prop):
                self.ensure_group(events.event, code)
                m = self.sets[events].measures[(function, prop)]
                if function in ("sum", "distinct"):
                    return m.out, "True"
                if function == "avg":
                    v = code.new()
                    code.emit(f"{v} = {m.out} / {m.n} if {m.n} > 0 else 0.0")
                    return v, f"{m.n} > 0"
                return m.out, f"{m.n} > 0"
            case ir.Arith(op=op, left=left, right=right):
                a, a_ok = self.value(left, code, row, scope)
                b, b_ok = self.value(right, code, row, scope)
                v, ok = code.new(), code.new("ok")
                if op == "/":
                    code.emit(f"{ok} = {a_ok} and {b_ok} and {b} != 0")
                    code.emit(f"{v} = {a} / {b} if {ok} else 0.0")
                else:
                    code.emit(f"{ok} = {a_ok} and {b_ok}")
                    code.emit(f"{v} = {a} {_ARITH[op]} {b}")
                return v, ok
            case ir.Negate(operand=x):
                a, ok = self.value(x, code, row, scope)
                return f"(-{a})", ok
            case ir.ToTimestamp(operand=x):
                a, ok = self.value(x, code, row, scope)
                return f"(np.int64({a}) * 86400000000)", ok
            case ir.Func(name=name, argument=x):
                a, ok = self.value(x, code, row, scope)
                v = code.new()
                if name == "days_since":
                    micros = f"np.int64({a}) * 86400000000" if x.type is Type.DATE else a
                    code.emit(f"{v} = ({self.slots.int('now_us')} - {micros}) // 86400000000")
                else:
                    days = a if x.type is Type.DATE else f"np.int64({a}) // 86400000000"
                    year, month_day = self.slots.int("now_year"), self.slots.int("now_month_day")
                    code.emit(f"{v} = age_years(np.int64({days}), {year}, {month_day}) if {ok} else 0")
                return v, ok
        b = self.pred(node, code, row, scope)
        return b, "True"

    # -- predicates ------------------------------------------------------------------------------------------
    def pred(self, node: ir.Expr, code: _Code, row: str, scope: str | None, pre: str | None = None) -> str:
        """Emit code computing the condition ``node``; returns the name of a bool local (null is false). ``pre``:
        the value of the cheap items of ``node`` (an and/or), computed already (see ``_cheap_part``)."""
        r = code.new("b")
        match node:
            case ir.And(items=items) | ir.Or(items=items):
                is_and = isinstance(node, ir.And)
                ordered = sorted(items, key=self.cost)
                # Conditions on the contact's own columns are all computed and combined without branches (a few
                # loads each; a mispredicted branch costs more); the others keep their short-circuits.
                cheap = [pre] if pre else [
                    self.pred(item, code, row, scope) for item in ordered if self.cost(item) == 0
                ]
                code.emit(f"{r} = {(' & ' if is_and else ' | ').join(cheap) if cheap else is_and}")
                for item in (item for item in ordered if self.cost(item) > 0):
                    code.emit(f"if {'' if is_and else 'not '}{r}:")
                    code.indent += 1
                    code.emit(f"{r} = {self.pred(item, code, row, scope)}")
                    code.indent -= 1
            case ir.Not(operand=x):
                code.emit(f"{r} = not {self.pred(x, code, row, scope)}")
            case ir.Exists() if self.no_events:
                code.emit(f"{r} = False")
            case ir.Exists(events=events) if not events.where:
                self.exists_dense(events, r, code, row)
            case ir.Exists(events=events) if events.event in self.blocked:
                code.emit(f"{r} = {self.sets[events].measures[('count', None)].out}[{self.local}] > 0")
            case ir.Exists(events=events):
                self.memoized(node, r, code, lambda out: self.exists_scan(events, out, code, row))
            case ir.Const(type=Type.BOOL):
                code.emit(f"{r} = {self.slots.int('value', node, id(node))} != 0")
            case ir.Compare(op=op, left=ir.Func(name="age", argument=x), right=bound) if _integer(bound):
                days, ok = self.birth_day(x, code, row, scope)
                code.emit(f"{r} = {_both(ok, self.age_test(op, days, bound))}")
            case ir.InRange(operand=ir.Func(name="age", argument=x), low=low, high=high) if (
                _integer(low) and _integer(high)
            ):
                days, ok = self.birth_day(x, code, row, scope)
                code.emit(f"{r} = {_both(ok, self.age_test('>=', days, low), self.age_test('<=', days, high))}")
            case ir.Compare(op=op, left=ir.Count(events=events), right=bound) if (
                not events.where and _integer(bound) and events.event not in self.blocked
            ):
                self.memoized(node, r, code, lambda out: self.count_test(op, events, bound, out, code, row))
            case ir.Compare(op=op, left=left, right=right) if left.type is Type.STRING:
                code.emit(f"{r} = {self.string_test(left, node, code, row)}")
            case ir.Compare(op=op, left=left, right=right):
                a, a_ok = self.value(left, code, row, scope)
                b, b_ok = self.value(right, code, row, scope)
                if left.type is Type.BOOL:
                    a, b = f"({a} != 0)", f"({b} != 0)"
                code.emit(f"{r} = {_both(a_ok, b_ok, f'{a} {_CMP[op]} {b}')}")
            case ir.InRange(operand=x, low=low, high=high):
                v, ok = self.value(x, code, row, scope)
                lo, lo_ok = self.value(low, code, row, scope)
                hi, hi_ok = self.value(high, code, row, scope)
                code.emit(f"{r} = {_both(ok, lo_ok, hi_ok, f'{lo} <= {v}', f'{v} <= {hi}')}")
            case ir.InSet(operand=x, values=values, negated=negated) if x.type is Type.STRING:
                code.emit(f"{r} = {self.string_test(x, node, code, row)}")
            case ir.InSet(operand=x, values=values, negated=negated):
                v, ok = self.value(x, code, row, scope)
                hits = " | ".join(f"({v} == {self.value(c, code, row, scope)[0]})" for c in values)
                code.emit(f"{r} = {_both(ok, f'not ({hits})' if negated else hits)}")
            case ir.TextMatch(operand=x):
                code.emit(f"{r} = {self.string_test(x, node, code, row)}")
            case ir.IsNull(operand=x, negated=negated):
                _, ok = self.value(x, code, row, scope)
                code.emit(f"{r} = {ok}" if negated else f"{r} = not ({ok})")
            case ir.HasTags(operand=ir.Attr(name=name), mode=mode, values=values) if self.small_tags(name):
                # A row's tags as the bits of one number: each tested value (all of them for "has all", their
                # union for "has"/"has any") is a mask, computed per evaluation.
                bits = self.slots.array("tags", name, "bits")
                terms = []
                for value in values if mode == "all" else (None,):
                    predicate = node if value is None else ir.HasTags(node.operand, "one", (value,))
                    mask = self.slots.int("mask", ("tags", name), predicate, id(value))
                    terms.append(f"((np.uint64({bits}[{row}]) & np.uint64({mask})) != 0)")
                code.emit(f"{r} = {' & '.join(terms)}")
            case ir.HasTags(operand=ir.Attr(name=name), mode=mode, values=values):
                offsets = self.slots.array("tags", name, "offsets")
                codes = self.slots.array("tags", name, "codes")
                tests = values if mode == "all" else (None,)
                code.emit(f"{r} = True")
                for value in tests:
                    predicate = node if value is None else ir.HasTags(node.operand, "one", (value,))
                    table = self.slots.array("table", ("tags", name), predicate, id(value))
                    hit = code.new("h")
                    code.emit(f"{hit} = False")
                    code.emit(f"for q in range({offsets}[{row}], {offsets}[{row} + 1]):")
                    code.emit(f"    if {table}[{codes}[q]]:")
                    code.emit(f"        {hit} = True")
                    code.emit("        break")
                    code.emit(f"{r} = {r} and {hit}")
            case ir.InWindow(operand=x, window=window):
                v, ok = self.value(x, code, row, scope)
                lo, hi = self.slots.int("lo", window, id(node)), self.slots.int("hi", window, id(node))
                code.emit(f"{r} = {_both(ok, f'{lo} <= {v}', f'{v} <= {hi}')}")
            case _ if node.type is Type.BOOL:
                v, ok = self.value(node, code, row, scope)
                code.emit(f"{r} = {_both(ok, f'{v} != 0')}")
            case _:
                raise TypeError(f"cannot generate code for {type(node).__name__}")
        return r

    def window_inputs(self, events: ir.EventSet) -> tuple[str, str, str]:
        """What every event test below reads first: the type's last-event times, and the window's start (kept above
        int64 min, the last time of a contact without events) and end. Offsets and times are taken where read."""
        return (
            self.slots.array("events", events.event, "last"),
            self.slots.int("active_lo", events.event, (events.window,)),
            self.slots.int("hi", events.window, "exists"),
        )

    def slices(self, event: str) -> tuple[str, str]:
        """A type's offsets and event times: each contact's slice of its events."""
        return self.slots.array("events", event, "offsets"), self.ts_array(event)

    def exists_dense(self, events: ir.EventSet, r: str, code: _Code, row: str) -> None:
        """An event of the type in the window, for a set without filters, from the contact's last event time (one
        dense read): when it is not after the window's end, it alone answers. Otherwise (events after now, or a
        window that ends in the past) one binary search finds the last event up to the end. In the first loop the
        rare second case is only flagged (``self.unsure``) so that the loop stays branch-free."""
        last, lo, hi = self.window_inputs(events)
        t = code.new("t")
        code.emit(f"{t} = {last}[{row}]")
        code.emit(f"{r} = ({t} >= {lo}) & ({t} <= {hi})")
        if self.unsure is not None:
            self.unsure.append(f"({t} > {hi})")
            return
        offsets, ts = self.slices(events.event)
        s, b = code.new("s"), code.new("b")
        code.emit(f"if {t} > {hi}:")
        code.emit(f"    {s} = {offsets}[{row}]")
        code.emit(f"    {b} = upper_bound({ts}, {s}, {offsets}[{row} + 1], {hi})")
        code.emit(f"    {r} = ({b} > {s}) and ({ts}[{b} - 1] >= {lo})")

    def count_test(self, op: str, events: ir.EventSet, bound: ir.Expr, r: str, code: _Code, row: str) -> None:
        """``count(events) op k`` for events without filters, as "at least n of the contact's events lie in the
        window" (kernel_lib.at_least): the n-th latest event up to the window's end is inside it. A look at the end
        of the contact's events instead of two searches (example rule at 5M: 65 -> 57 ms, iphone_fans 90 -> 80)."""
        k = self.value(bound, code, row, None)[0]
        last, lo, hi = self.window_inputs(events)

        def at_least(n: str) -> str:
            v = code.new("n")
            code.emit(f"{v} = {n} <= 0")
            if not self.no_events:
                offsets, ts = self.slices(events.event)
                code.emit(f"if not {v} and {last}[{row}] >= {lo}:")
                code.emit(f"    {v} = at_least({ts}, {offsets}[{row}], {offsets}[{row} + 1], {lo}, {hi}, {n})")
            return v

        match op:
            case ">=" | "<":
                test = at_least(k)
            case ">" | "<=":
                test = at_least(f"({k} + 1)")
            case _:  # = and !=: at least k, and not k + 1
                test = f"({at_least(k)} and not {at_least(f'({k} + 1)')})"
        code.emit(f"{r} = {'not ' if op in ('<', '<=', '!=') else ''}{test}")

    def exists_scan(self, events: ir.EventSet, r: str, code: _Code, row: str) -> None:
        """An event of the type in the window that passes the filters: a scan of the contact's events in the
        window that stops at the first match (no count)."""
        last, lo, hi = self.window_inputs(events)
        offsets, ts = self.slices(events.event)
        a, b = code.new("a"), code.new("b")
        depth = code.indent
        code.emit(f"{r} = False")
        code.emit(f"if {last}[{row}] >= {lo}:")
        code.emit(f"    {a} = {_lower((events.window,), ts, f'{offsets}[{row}]', f'{offsets}[{row} + 1]', lo)}")
        code.emit(f"    {b} = upper_bound({ts}, {a}, {offsets}[{row} + 1], {hi})")
        code.emit(f"    for j in range(np.uint64({a}), np.uint64({b})):")
        code.indent += 2
        where = events.where
        code.emit(f"if {self.pred(ir.And(where) if len(where) > 1 else where[0], code, 'j', events.event)}:")
        code.emit(f"    {r} = True")
        code.emit("    break")
        code.indent = depth

    def memoized(self, node: ir.Expr, r: str, code: _Code, compute) -> None:
        """``compute(r)`` emits an event test into ``r``. A test written in several places (a batch whose segments
        share it) is worked out once per contact: the first place that needs it keeps its answer."""
        if self.tests.get(node, 0) <= 1 or self.no_events:
            compute(r)
            return
        n = list(self.tests).index(node)
        code.emit(f"if not xd{n}:")
        code.indent += 1
        compute(f"xr{n}")
        code.emit(f"xd{n} = True")
        code.indent -= 1
        code.emit(f"{r} = xr{n}")

    def birth_day(self, x: ir.Expr, code: _Code, row: str, scope: str | None) -> tuple[str, str]:
        a, ok = self.value(x, code, row, scope)
        return (a if x.type is Type.DATE else f"(np.int64({a}) // 86400000000)"), ok

    def age_test(self, op: str, days: str, bound: ir.Expr) -> str:
        """``age(x) op bound`` as a comparison of the birth day number: ``age >= n`` is ``days <= cut(n)`` with
        ``cut(n)`` the latest birth day of age n at now, an input computed per evaluation (runtime/timeutil.py). So
        the kernel does no calendar arithmetic per contact."""

        def cut(k: int) -> str:  # cut(bound + k)
            return self.slots.int("age_cut", bound, k, id(bound))

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

    def string_test(self, column_node: ir.Expr, predicate: ir.Expr, code: _Code, row: str) -> str:
        """A string predicate is a lookup in a table over the column's dictionary, computed per evaluation."""
        match column_node:
            case ir.Attr(name=name):
                column = ("attr", name)
                codes = self.slots.array("attr", name, "values")
            case ir.Prop(event=event, name=name):
                column = ("prop", event, name)
                codes = self.slots.array("prop", event, name, "values")
            case _:
                raise TypeError(f"string test on {type(column_node).__name__}")
        if self.dictionary_size(column) <= MASK_BITS:
            # A small dictionary's table is the bits of one number (an input): a shift instead of a load, which
            # lets loops over contacts vectorize (demographic rule at 5M: 10.6 -> 5.7 ms). A null's code -1 reads
            # bit 63, which no value uses.
            mask = self.slots.int("mask", column, predicate, id(predicate))
            return f"(((np.uint64({mask}) >> (np.uint64({codes}[{row}]) & np.uint64(63))) & np.uint64(1)) != 0)"
        # A null holds code -1, which the table maps to False: no validity test. Narrow codes index the table as
        # unsigned (-1 is its last entry, 255 or 65535), which spares a negative-index check per row.
        table = self.slots.array("table", column, predicate, id(predicate))
        unsigned = {"int8": "np.uint8", "int16": "np.uint16"}.get(self.code_dtype(column))
        return f"{table}[{unsigned}({codes}[{row}])]" if unsigned else f"{table}[{codes}[{row}]]"


def _combine(parts: list[tuple[str, str, bool]], is_and: bool) -> tuple[str, str, bool]:
    """(certainly true, certainly false, always one of them) of an and (an or) from those of its items."""
    yes, no, sure = [p[0] for p in parts], [p[1] for p in parts], all(p[2] for p in parts)
    return (_all(yes), _any(no), sure) if is_and else (_any(yes), _all(no), sure)


def _all(terms: list[str]) -> str:
    if "False" in terms:
        return "False"
    return "(" + " & ".join(terms) + ")" if terms else "True"


def _any(terms: list[str]) -> str:
    kept = [t for t in terms if t != "False"]
    return "(" + " | ".join(kept) + ")" if kept else "False"


def _cheap_part(plan: ir.Expr, cost) -> ir.Expr | None:
    """The part of a plan that reads only the contact's own columns and decides it alone or in conjunction with
    the rest: the whole plan, the cheap items of a top-level and/or, or None."""
    if cost(plan) == 0:
        return plan
    if isinstance(plan, ir.And | ir.Or):
        cheap = tuple(item for item in plan.items if cost(item) == 0)
        if cheap:
            return type(plan)(cheap)
    return None


def _lower(windows: tuple[ir.Window, ...], ts: str, s: str, e: str, lo: str) -> str:
    """The first row of a contact's events ``ts[s:e]`` inside the earliest start of ``windows``: ``s`` when one of
    them has no start (a search from the end would walk the whole slice to find that out)."""
    if all(_starts(w) for w in windows):
        return f"lower_bound({ts}, {s}, {e}, {lo})"
    return s


def _starts(window: ir.Window) -> bool:
    """Whether a window has a start (all time, ``before`` and ``before ... ago`` reach back to the first event)."""
    return not isinstance(window, ir.AllTime | ir.Before | ir.BeforeAgo)


def _integer(node: ir.Expr) -> bool:
    """A whole number known at evaluation time (a constant or a parameter)."""
    return isinstance(node, ir.Const | ir.Param) and node.type is Type.INT


def _both(*terms: str) -> str:
    """The conjunction of boolean terms without short-circuit branches: every term is a load at an index known to
    be in range or a comparison (divisions and calls are guarded where they are computed), so evaluating all of
    them is safe, and a branch-free ``&`` keeps event loops free of mispredicted jumps."""
    kept = [t for t in terms if t != "True"]
    return " & ".join(f"({t})" for t in kept) if kept else "True"


def _is_simple(entry: _Set) -> bool:
    """Measures that binary search alone can give: counts, first and last of an unfiltered set."""
    return not entry.events.where and all(m.kind in ("count", "first", "last") for m in entry.measures.values())


