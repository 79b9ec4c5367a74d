"""Kernel plan (plan.py) -> the source of one fused Numba kernel, and the typed inputs it takes.

The one place where generated source is built (this module, conditions.py and passes.py), and it decides nothing:
the plan says what the first loop decides, in which order conditions run, which event types are measured per block,
which passes are eager, how tests on events are worked out and which are memoised, and each measure's dtype. No user
text reaches the source: every column, constant, window bound, parameter and string predicate becomes a typed input
(plan.py) that the runtime fills per evaluation; the source holds only names made here (names.py: one allocator of
inputs, ``A3``, ``k0``, ``x1``, and fresh locals), operators from fixed tables and numbers segmint chose (scratch
sizes, chunk length). So one kernel serves every ``now``, every parameter value and every constant of the same rule
shape, and the cache key is a hash of the source.

Shape of a kernel: a serial ``nogil`` function over a range of contacts (the runtime runs ranges on threads: as fast
as ``prange`` here and a third of its compile time), in blocks of ``BLOCK`` contacts, two loops a block:

- the first loop, branch-free and vectorized (unsigned indices, small dictionaries as bit masks), reads what is dense
  per contact, its own columns and its last event time of each type, and *decides* every contact it can (the plan's
  decisions: certainly true, certainly false). It lists the contacts left undecided;
- the second loop takes the listed contacts one by one (prefetching ahead), with ``and``/``or`` short-circuits in
  order of cost. Existence of filtered events scans until the first match (``exists_scan``); a count of unfiltered
  events against a number looks at the end of the contact's events (``count_test``); other measures come from one
  *pass* per event type over the contact's events inside the union of the windows it needs, computing every measure
  of every set of that type into scalar locals ``mi<n>`` (int64) and ``mf<n>`` (float64) (passes.py). In a batch,
  tests two segments share are worked out once per contact (memoised).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .conditions import At, Writer
from .explain import explain_inputs
from .names import Code
from .passes import block_pass, group_body
from .plan import (
    ActiveStart,
    ArrayInput,
    ByLastEvent,
    ByNoEvents,
    ByOwnColumns,
    Combined,
    Decision,
    FloatInput,
    IntInput,
    KernelPlan,
    LastEventTimes,
    Negated,
    ScratchSize,
)


def source_hash(folder: Path = Path(__file__).parent) -> str:
    """A hash of this package's source: the library kernels import, and the generator. It goes into every kernel's
    source, hence into the disk cache's key: Numba's cache does not notice a change in an imported module (its
    issue #1833), and a changed generator must not meet kernels an older one wrote."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


SOURCE_HASH = source_hash()
BLOCK = 1024  # contacts per block: the cheap conditions' buffer stays in L1
PREFETCH_AHEAD = 8  # listed contacts between a prefetch and the use of what it fetched


@dataclass
class Kernel:
    """A generated kernel: its source, its inputs in argument order (``A<n>`` after ``out, ki, kf``, then the
    numbers of ``ki`` and ``kf``) and the plan it was written from."""

    source: str
    arrays: list[ArrayInput]
    ints: list[IntInput]
    floats: list[FloatInput]
    plan: KernelPlan

    @cached_property
    def key(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:24]

    def __str__(self) -> str:
        """The plan, then the inputs by the names the source gives them."""
        return f"{self.plan}\n{explain_inputs(self.arrays, self.ints, self.floats)}"


def emit(plan: KernelPlan) -> Kernel:
    """The kernel's source, as the plan says (see the module's docstring), and its inputs in argument order."""
    return _Emitter(plan).kernel()


def _combine(parts: list[tuple[str, str, bool]], all_of: bool) -> tuple[str, str, bool]:
    """(certainly true, certainly false, always one of them) of an and (an or) from those of its items."""
    yes, no, sure = [p[0] for p in parts], [p[1] for p in parts], all(p[2] for p in parts)
    return (_all(yes), _any(no), sure) if all_of else (_any(yes), _all(no), sure)


def _all(terms: list[str]) -> str:
    if "False" in terms:
        return "False"
    return "(" + " & ".join(terms) + ")" if terms else "True"


def _any(terms: list[str]) -> str:
    kept = [t for t in terms if t != "False"]
    return "(" + " | ".join(kept) + ")" if kept else "False"


FIRST_LOOP = At(slot="i - wu")  # the first loop counts in unsigned indices (see ``wu`` below)
SECOND_LOOP = At()
NO_EVENTS = At(no_events=True)


class _Emitter:
    def __init__(self, plan: KernelPlan) -> None:
        self.plan = plan
        self.writer = Writer(plan)
        self.inputs = self.writer.inputs
        self.empty = Code(indent=1, tag="e")  # the answers of conditions for a contact without events

    def kernel(self) -> Kernel:
        plan, writer = self.plan, self.writer
        # Two loops per block of contacts (the module's docstring): ``firsts`` the branch-free first loops, one per
        # plan, ``body`` the per-contact work on the contacts they leave undecided.
        firsts, body = [], Code(indent=3)
        for group in plan.groups:
            if group.eager:
                for line in writer.group_code.setdefault(group.group, group_body(writer, group)):
                    body.emit(line)
        buffers, needs = [], []
        for rule in plan.rules:
            k = rule.index
            # Each segment of a batch gets a first loop of its own: one loop writing many arrays is not vectorized.
            first = Code(indent=3, tag=f"f{k}_")
            firsts.append(first)
            if rule.cheap is not None:
                # The cheap items are decided once, kept for the second loop ("p<k>"), and computed again there only
                # where the first loop could not decide them ("u<k>").
                cheap, *others = rule.first.parts
                yes, no, sure = self.decide(cheap, first)
                buffers.append(f"p{k}")
                first.emit(f"p{k}[i - wu] = {yes}")
                if not sure:
                    buffers.append(f"u{k}")
                    first.emit(f"u{k}[i - wu] = not ({yes} | {no})")
                yes, no, sure = _combine([(yes, no, sure), *(self.decide(d, first) for d in others)], rule.first.all_of)
            else:
                yes, no, sure = self.decide(rule.first, first)
            first.emit(f"o{k}[i] = {yes}")
            need = "False" if sure else f"not ({yes} | {no})"
            needs.append(need)
            if sure:
                continue
            if len(plan.rules) > 1:
                buffers.append(f"c{k}")
                first.emit(f"c{k}[i - wu] = {need}")
                body.emit(f"if c{k}[i - w]:")
                body.indent += 1
            if rule.cheap is not None:
                pre = body.new("q")
                body.emit(f"{pre} = p{k}[i - w]")
                if f"u{k}" in buffers:
                    body.emit(f"if u{k}[i - w]:")
                    body.indent += 1
                    body.emit(f"{pre} = {writer.pred(rule.cheap, body, SECOND_LOOP)}")
                    body.indent -= 1
                body.emit(f"o{k}[i] = {writer.pred(rule.expr, body, SECOND_LOOP, pre=pre)}")
            else:
                body.emit(f"o{k}[i] = {writer.pred(rule.expr, body, SECOND_LOOP)}")
            body.indent = 3
        second = plan.second
        if second and len(plan.rules) == 1:
            firsts[0].emit(f"c[i - wu] = {needs[0]}")
        elif second:
            gather = Code(indent=3)
            gather.emit(f"c[i - wu] = {' | '.join(f'c{k}[i - wu]' for k, need in enumerate(needs) if need != 'False')}")
            firsts.append(gather)
        ahead = self.prefetches() if second else []  # before the signature: they may add inputs
        blocked = [p for p in plan.passes if p.blocked]
        blocks = [line for number, group in enumerate(blocked) for line in block_pass(writer, group, number)]
        head = [
            f"# segmint kernel; generator and library {SOURCE_HASH}",
            "import numba",
            "import numpy as np",
            "from segmint.compiler.kernels.library import (",
            "    age_years, at_least, count_distinct_sorted, lower_bound, prefetch, upper_bound,",
            ")",
            "from segmint.compiler.kernels.calendar import (",
            "    bit_count, day_start, local_day, local_time, period_of, time_part,",
            ")",
            "",
        ]
        inputs = self.inputs
        kernel = [
            "",
            "@numba.njit(nogil=True, cache=True)",
            f"def kernel(start, stop, out, ki, kf{''.join(', ' + a for a in inputs.arrays.values())}):",
            f"    scratch = np.zeros({'ki[' + str(inputs.ints[ScratchSize()]) + ']' if plan.scratch else 1}, np.bool_)",
            # Numbers as locals: loaded once, not once per contact (stores to ``out`` could alias ``ki``).
            *[f"    k{n} = ki[{n}]" for n in range(len(inputs.ints))],
            *[f"    x{n} = kf[{n}]" for n in range(len(inputs.floats))],
            *[f"    {line}" for line in writer.prelude],
            *[f"    {p} = np.empty({BLOCK}, np.bool_)" for p in buffers],
            *[f"    bk{b} = np.zeros({BLOCK}, np.{dtype})" for b, dtype in enumerate(plan.buffers)],
            *(self.empty_prelude() if self.empty.lines else []),
            *self.empty.lines,
            *[f"    o{k} = out[{k}]" for k in range(len(plan.rules))],
            *(LIST_PRELUDE if second else []),
            f"    for w in range(start, stop, {BLOCK}):",
            f"        z = min(w + {BLOCK}, stop)",
            # Unsigned indices: Numba maps a negative signed index to one from the end, a test per load that keeps
            # LLVM from vectorizing the loop (8x slower on a rule on attributes at 5M contacts).
            "        wu = np.uint64(w)",
            *blocks,
            *[line for first in firsts for line in ("        for i in range(wu, np.uint64(z)):", *first.lines)],
            *(LIST_CONTACTS if second else []),
            *(
                ["        for u in range(n):", *ahead, "            i = sel[u]", *self.contact_locals(), *body.lines]
                if second
                else []
            ),
            "",
        ]
        source = "\n".join(head + kernel)
        return Kernel(source, list(inputs.arrays), list(inputs.ints), list(inputs.floats), plan)

    def decide(self, decision: Decision, code: Code) -> tuple[str, str, bool]:
        """Branch-free tests, for the first loop, of when the condition is certainly true and when certainly false
        ("False": never known there), and whether one of them always holds (plan.py's decisions)."""
        match decision:
            case Combined(all_of=all_of, parts=parts):
                return _combine([self.decide(part, code) for part in parts], all_of)
            case Negated(part=part):
                yes, no, sure = self.decide(part, code)
                return no, yes, sure
            case ByLastEvent(node=node):
                # True is certain, false only when the last event is not after the window's end (exists_dense).
                value = code.new("b")
                unsure = self.writer.exists_dense(node.events, value, code, FIRST_LOOP, first_loop=True)
                return value, f"((not {value}) & (not {unsure}))", False
            case ByOwnColumns(node=node):
                value = self.writer.pred(node, code, FIRST_LOOP)
                return value, f"(not {value})", True
            case ByNoEvents(node=node, reads=reads):
                answer = self.empty.new("e")
                self.empty.emit(f"{answer} = {self.writer.pred(node, self.empty, NO_EVENTS)}")
                quiet = code.new("z")
                terms = [
                    f"({self.inputs.array(LastEventTimes(event))}[i] < {self.inputs.int(ActiveStart(event, windows))})"
                    for event, windows in reads
                ]
                code.emit(f"{quiet} = " + " & ".join(terms))
                return f"({quiet} & {answer})", f"({quiet} & (not {answer}))", False
        return "False", "False", False

    def empty_prelude(self) -> list[str]:
        """Before the answers of contacts without events are worked out: every pass done, every measure zero."""
        return [
            "    i = 0",
            *[f"    d{group.group} = True" for group in self.plan.groups],
            *[f"    mi{k} = 0" for k in self.plan.int_locals],
            *[f"    mf{k} = 0.0" for k in self.plan.float_locals],
        ]

    def prefetches(self) -> list[str]:
        """Ask the CPU for the end of the events of the contact PREFETCH_AHEAD places further in the list (the
        plan's ``prefetch`` types): those loads, a cache miss each, then overlap the work on the contacts in
        between."""
        lines = []
        for event in self.plan.prefetch:
            offsets, ts = self.writer.slices(event)
            lines.append(f"                prefetch({ts}, {offsets}[sel[u + {PREFETCH_AHEAD}] + 1] - 1)")
        return [f"            if u + {PREFETCH_AHEAD} < n:", *lines] if lines else []

    def contact_locals(self) -> list[str]:
        """What the second loop sets per contact: no event pass done yet, measures zero. Measures are scalar locals
        (LLVM keeps them in registers in the event loops), set on every path."""
        memoized = [n for n, test in enumerate(self.plan.tests) if test.uses > 1 and test.how != "block"]
        return [
            *[f"            d{group.group} = False" for group in self.plan.groups],
            *[f"            xd{n} = False" for n in memoized],
            *[f"            xr{n} = False" for n in memoized],
            *[f"            mi{k} = 0" for k in self.plan.int_locals],
            *[f"            mf{k} = 0.0" for k in self.plan.float_locals],
        ]


LIST_PRELUDE = [
    f"    sel = np.empty({BLOCK}, np.int64)",
    f"    c = np.zeros({BLOCK}, np.bool_)",
    "    cw = c.view(np.uint64)",
]
# The block's contacts that the first loop flagged (``c``), listed in ``sel[:n]``. A loop of its own, and eight flags
# at a time: in the first loop, the list's running length stopped it from vectorizing (12.8 -> 4.1 ms for a rule at
# 5M contacts).
LIST_CONTACTS = [
    "        n = 0",
    "        for y in range((z - w + 7) >> 3):",
    "            if cw[y] != 0:",
    "                for i in range(w + 8 * y, min(w + 8 * y + 8, z)):",
    "                    sel[n] = i",
    "                    n += c[i - w]",
]
