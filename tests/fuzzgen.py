"""The fuzz suite's strategies and checks: hostile input for every entrance of segmint, and what may come out.

What may come out of any entrance is a value or a ``segmint.SegmintError`` whose message can be printed; what an
accepted rule answers must be the same in every engine (and in DuckDB, tests/oracle.py, where the rule is in its
subset). Each ``test_fuzz_*.py`` module takes one entrance: rule text, JSON rule documents, schemas, data through
the loaders, saved stores, ``$parameters`` and ``now``.

Budgets: every property names its number of examples for CI (the whole fuzz suite adds about two minutes on a
2-core machine; properties that compile Numba kernels draw rule *shapes* from a small pool and vary only the values,
which kernels take as inputs, so a shape compiles once). ``SEGMINT_FUZZ=long`` multiplies every budget by 30 for
a local run of an hour or more (``SEGMINT_FUZZ=long python -m pytest tests/ -k fuzz``), ``SEGMINT_FUZZ=<n>`` by n.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import duckdb
import numpy as np
import oracle
import rulegen
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import segmint
from segmint.compiler.serial import _NODES
from segmint.dsl.lexicon import KEYWORDS
from segmint.runtime.bindings import bind
from segmint.runtime.store.columns import Store

# The demo schema, as a module constant rather than the ``schema`` fixture: Hypothesis prints a failing example's
# arguments, and the schema's repr would bury the rule that failed.
SCHEMA = segmint.Schema.from_toml(Path(__file__).parent.parent / "runtime" / "demo" / "schema.toml")

# SEGMINT_FUZZ=long: 30 times the CI examples (an hour or more); SEGMINT_FUZZ=<n>: n times (a run of a chosen length).
_SETTING = os.environ.get("SEGMINT_FUZZ", "").lower()
FACTOR = 30 if _SETTING == "long" else int(_SETTING) if _SETTING.isdigit() and int(_SETTING) > 0 else 1
LONG = FACTOR > 1
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
ENGINES = ("reference", "vector", "compiled")
CHEAP_ENGINES = ("reference", "vector")  # nothing compiled per rule: any rule shape costs microseconds


def fuzz(examples: int) -> settings:
    """Settings of a fuzz property: ``examples`` in CI and quick runs, ``FACTOR`` times more under ``SEGMINT_FUZZ``.
    Never a deadline (shared, noisy machines; first calls compile kernels)."""
    return settings(
        max_examples=examples * FACTOR,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


# -- allowed outcomes ----------------------------------------------------------------------------------------
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what a terminal acts on (\n, \t: layout of the text)


def attempt(call, *args, **kwargs):
    """``call``'s value, or the ``SegmintError`` it raised (checked printable); any other exception propagates and
    fails the property: a raw exception is never an allowed answer to bad input."""
    try:
        return call(*args, **kwargs)
    except segmint.SegmintError as error:
        assert_printable(error)
        return error


def assert_printable(error: segmint.SegmintError) -> None:
    """A message a terminal, a log and a JSON consumer can take: valid UTF-8, no raw control characters."""
    message = str(error)
    message.encode("utf-8")  # a lone surrogate from the input would fail here, as it fails in print()
    assert not CONTROL.search(message), f"raw control character in the message: {message!r}"


def refused(outcome) -> bool:
    return isinstance(outcome, segmint.SegmintError)


# -- engines agree -------------------------------------------------------------------------------------------
def answers(segment, store, now, params, engines=CHEAP_ENGINES, duckdb_too: bool = True) -> dict:
    """Each engine's mask (or its SegmintError), and DuckDB's when the rule is in the oracle's subset."""
    out = {engine: attempt(segment.evaluate, store, now=now, params=params, engine=engine) for engine in engines}
    if duckdb_too and not any(refused(o) for o in out.values()):
        plan = segment.rule.plan
        try:
            out["duckdb"] = oracle.mask(_connect(store), plan, bind(plan, now, params), len(store))
        except (TypeError, OverflowError, ValueError, duckdb.BinderException, duckdb.ParserException):
            pass  # outside the oracle's subset: a construct, a date past year 9999 or a literal it has no SQL for
        except duckdb.OutOfRangeException as error:  # DuckDB refuses what cannot be represented: so must segmint
            out["duckdb"] = f"DuckDB: {error}"
    return {name: o.mask if isinstance(o, segmint.Result) else o for name, o in out.items()}


def _connect(store) -> duckdb.DuckDBPyConnection:
    """The DuckDB copy of ``store``, kept for the next rule on the same store (properties test several)."""
    if _database.get("store") is not store:
        _database.update(store=store, db=oracle.connect(store))
    return _database["db"]


_database: dict = {}


def assert_agree(segment, store, now, params, engines=CHEAP_ENGINES, duckdb_too: bool = True):
    """Every engine refuses, or every engine selects the same contacts; returns the common mask (None if refused)."""
    out = answers(segment, store, now, params, engines, duckdb_too)
    masks = {name: o for name, o in out.items() if isinstance(o, np.ndarray)}
    others = {name: o for name, o in out.items() if not isinstance(o, np.ndarray)}
    where = f"rule {segment.text!r}, now {now!r}, params {params!r}"
    if others and masks:
        raise AssertionError(f"{where}: engines disagree: {_describe(others)}; answered: {sorted(masks)}")
    if not masks:
        return None
    first, mask = next(iter(masks.items()))
    for name, other in masks.items():
        differ = np.flatnonzero(other != mask)
        assert not len(differ), (
            f"{where}: {name} and {first} differ for contacts {store.ids[differ].tolist()} "
            f"({name}: {other[differ].tolist()}, {first}: {mask[differ].tolist()})"
        )
    return mask


def _describe(outcomes: dict) -> str:
    return "; ".join(
        f"{name} raised {type(o).__name__}: {o}" if isinstance(o, Exception) else f"{name}: {o}"
        for name, o in outcomes.items()
    )


# -- vocabulary: the demo schema's names and hostile literals ----------------------------------------------------
ATTRIBUTES = [
    "email",
    "gender",
    "city",
    "country",
    "birth_date",
    "created_at",
    "email_subscribed",
    "loyalty_points",
    "tags",
]
VERBS = ["opened", "clicked", "viewed", "bought", "app_opened", "push_subscribed"]
PROPERTIES = [
    "device",
    "campaign_type",
    "campaign_id",
    "url",
    "category",
    "brand",
    "amount",
    "quantity",
    "app_version",
    "browser",
]
VALUES = ["f", "m", "Kyiv", "UA", "ios", "promo", "iPhones", "Apple", "vinyl", "safari"]
DEFINITIONS = ["ios_open", "engaged", "churned", "apple_fan"]
FUNCTIONS = ["count", "sum", "avg", "min", "max", "distinct", "first", "last", "days_since", "age",
             "percentile", "quintile", "decile", "rfm", "rfm_r", "rfm_f", "rfm_m"]
UNKNOWN = ["opend", "x", "NULL", "AND", "Not", "_", "é", "日本", "𝔘", "contact_id", "timestamp", "purchase"]
SYMBOLS = ["=", "==", "!=", "<>", ">=", "<=", ">", "<", "+", "-", "*", "/", "(", ")", "(", ")", ",", ".", "$"]
NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "100",
    "0.5",
    "-1",
    "00",
    "1.0e+3",
    "1e308",
    "1e400",
    "1e-400",
    "4.9e-324",
    str(2**53 + 1),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 40,
]
DATES = [
    "2026-10-01",
    "2026-10-31",
    "2026-11-01",
    "1970-01-01",
    "0001-01-01",
    "9999-12-31",
    "2024-02-29",
    "2026-02-29",
    "2026-13-01",
    "0000-00-00",
]
TIMESTAMPS = [
    "2026-10-01T12:00:00Z",
    "2026-10-01T00:00",
    "2026-11-01T00:00:00.000001Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2026-10-01T12:00:00+14:00",
    "2026-10-01T12:00:00-1200",
    "2026-10-01T24:00:00Z",
    "2026-10-01T12:00:00+99:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "0999-12-31T23:59:59Z",
]
DURATIONS = [
    "0d",
    "1s",
    "5min",
    "12h",
    "7d",
    "2w",
    "1mo",
    "1y",
    "13mo",
    "3000y",
    "10000y",
    "1000000000000d",
    "99999999999999999999s",
    "2932896y",
]
STRINGS = [
    '"a"',
    '""',
    '"@gmail.com"',
    '"\\\\"',
    '"\\""',
    '"\\n"',
    '"\\t"',
    '"\\x"',
    '"\xff"',
    '"\ud800"',
    '"é"',
    '"' + "x" * 300 + '"',
    '"\x1b[31m"',
    '"\x00"',
    '"a,b"',
    '"%"',
    '"_"',
]
PARAMS = ["$n", "$x", "$category", "$window", "$start", "$é", "$and"]
WEIRD = [
    "\x00",
    "\x1b[2J",
    "\x07",
    "\r",
    "\t",
    "\n",
    "#comment\n",
    "#",
    "'",
    "`",
    "@",
    "&&",
    "||",
    "!",
    "..",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "\U0001f600",
    "\ud800",
    '"',
    "\\",
    "{",
    "[",
    ";",
]

VOCABULARY = (
    sorted(KEYWORDS)
    + ATTRIBUTES
    + VERBS
    + PROPERTIES
    + VALUES
    + DEFINITIONS
    + FUNCTIONS
    + UNKNOWN
    + SYMBOLS
    + NUMBERS
    + DATES
    + TIMESTAMPS
    + DURATIONS
    + STRINGS
    + PARAMS
    + WEIRD
)
HOSTILE_LITERALS = NUMBERS + DATES + TIMESTAMPS + DURATIONS + STRINGS + PARAMS


def tokens() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=3))


@st.composite
def token_soups(draw) -> str:
    """Random words of the language's vocabulary (and a few random characters) in a random order."""
    words = draw(st.lists(tokens(), max_size=24))
    separators = draw(
        st.lists(st.sampled_from([" ", " ", " ", "", "\n", "\t"]), min_size=len(words), max_size=len(words))
    )
    return "".join(w + s for w, s in zip(words, separators, strict=True))


# One token of rule text, for mutations: strings, dates/timestamps, numbers/durations, words, two-character
# operators, then any other character.
TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-][\d:]+)?)?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-z]*'
    r"|\$?\w+|[<>!=]=|<>|\S"
)
DEPTHS = [1, 2, 30, 120, 400, 1200]


@st.composite
def mutations(draw, rule: str) -> str:
    """``rule`` (valid text) after one to three random edits: a token deleted, repeated, swapped with the next,
    replaced by or preceded by a word of the vocabulary or a hostile literal; the text cut short; or the whole rule
    nested under many ``not``s or parentheses."""
    for _ in range(draw(st.integers(1, 3))):
        words = TOKEN.findall(rule) or [""]
        i = draw(st.integers(0, len(words) - 1))
        edit = draw(st.sampled_from(["delete", "repeat", "swap", "replace", "literal", "insert", "cut", "nest", "not"]))
        match edit:
            case "delete":
                del words[i]
            case "repeat":
                words.insert(i, words[i])
            case "swap" if i + 1 < len(words):
                words[i], words[i + 1] = words[i + 1], words[i]
            case "replace":
                words[i] = draw(tokens())
            case "literal":
                words[i] = draw(st.sampled_from(HOSTILE_LITERALS))
            case "insert":
                words.insert(i, draw(tokens()))
            case "cut":
                words = words[:i]
            case "nest":
                depth = draw(st.sampled_from(DEPTHS))
                words = ["("] * depth + words + [")"] * depth
            case "not":
                words = ["not"] * draw(st.sampled_from(DEPTHS)) + words
        rule = " ".join(words)
    return rule


# -- parameter values and now ----------------------------------------------------------------------------------
HOSTILE_VALUES = [
    0,
    1,
    -1,
    2,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**400,
    0.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
    None,
    "",
    "2",
    "1e400",
    "nan",
    "inf",
    "-inf",
    " 7d ",
    "7d",
    "0d",
    "1mo",
    "3000y",
    "1000000000000d",
    "99999999999999999999s",
    "7 d",
    "d",
    "-7d",
    "iPhones",
    "Vinyl",
    "iphones",
    "Kyiv",
    "nowhere",
    "\ud800",
    "\x00",
    "\xff",
    "x" * 1000,
    "true",
    "false",
    "2026-10-01",
    "2026-10-01T12:00:00Z",
    "2026-10-01T12:00:00+05:30",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "20261001",
    "2026-10-01 12:00",
    "garbage",
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
    dt.date(2026, 10, 1),
    dt.datetime(2026, 10, 1, 12),
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59),
    dt.datetime(2026, 10, 1, tzinfo=dt.timezone(dt.timedelta(hours=-12))),
    dt.timedelta(days=7),
    dt.timedelta(days=999_999_999),
    dt.timedelta(microseconds=1),
    dt.timedelta(days=-7),
    dt.time(12),
    np.int64(3),
    np.float64("nan"),
    np.datetime64("2026-10-01"),
    b"7d",
    [1],
    {"a": 1},
    (),
    object(),
]
NOW_VALUES = [
    NOW,
    "2026-11-01",
    "2026-11-01T00:00:00Z",
    "2026-11-01T05:00:00+05:00",
    "2026-11-01T00:00:00.000001",
    dt.date(2026, 11, 1),
    dt.datetime(2026, 11, 1),
    dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59:59.999999Z",
    dt.datetime.min,
    dt.datetime.max,
    dt.date.min,
    dt.date.max,
    "1970-01-01",
    "1969-12-31T23:59:59Z",
    0,
    1.5,
    -1,
    "garbage",
    "",
    "2026-02-30",
    "now",
    b"2026-11-01",
    np.datetime64("2026-11-01T00:00:00"),
    dt.time(12),
    float("nan"),
    True,
    [NOW],
    "\ud800",
    "2026-11-01T00:00:00Z\x00",
]


def param_values() -> st.SearchStrategy[object]:
    return st.one_of(st.sampled_from(HOSTILE_VALUES), st.integers(), st.floats(), st.text(max_size=12))


def now_values() -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(NOW_VALUES),
        st.datetimes(timezones=st.one_of(st.none(), st.just(dt.UTC), st.timezones())),
        st.dates(),
        st.text(max_size=30),
    )


# -- stores that print readably ----------------------------------------------------------------------------------
class ShownStore(Store):
    """A store whose repr is its data, decoded (Hypothesis prints it in a falsifying example)."""

    def __repr__(self) -> str:
        return describe(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis' printer would show the dataclass fields
        printer.text(describe(self))


def describe(store: Store) -> str:
    """Every contact's attributes and every event, as Python values: enough to rebuild the store by hand."""
    lines = [f"store of {len(store)} contacts (ids {store.ids.tolist()})"]
    for name, column in store.attributes.items():
        lines.append(f"  {name}: {_values(column, len(store))}")
    for name, table in store.events.items():
        if len(table):
            lines.append(f"  {name}: rows {table.contact_rows.tolist()}, ts {table.ts.tolist()}")
            lines.extend(f"    {p}: {_values(c, len(table))}" for p, c in table.properties.items())
    return "\n".join(lines)


def _values(column, n: int) -> list:
    if column.offsets is not None:
        return [
            [column.dictionary[c] for c in column.values[column.offsets[i] : column.offsets[i + 1]]] for i in range(n)
        ]
    valid = column.validity()
    if column.dictionary is not None:
        return [column.dictionary[c] if ok else None for c, ok in zip(column.values.tolist(), valid, strict=True)]
    return [v if ok else None for v, ok in zip(column.values.tolist(), valid, strict=True)]


def shown(store: Store) -> ShownStore:
    return ShownStore(store.schema, store.ids, store.attributes, store.events)


@st.composite
def small_stores(draw) -> ShownStore:
    """tests/rulegen.py's small stores (nulls, ties, events on window edges and after now), printed readably."""
    return shown(draw(rulegen.stores(SCHEMA)))


# == shared by the fuzz tests: accepted rules' promises, parameters, hostile rule shapes, JSON places ============


def check_accepted(segment: segmint.Segment, schema) -> None:
    """An accepted rule prints, and its canonical text and JSON document compile back to the same rule."""
    segment.text.encode("utf-8")
    again = segmint.compile(segment.text, schema)
    assert again.ir == segment.ir, f"canonical text {segment.text!r} means another rule"
    assert again.text == segment.text, f"canonical text {segment.text!r} is not a fixed point: {again.text!r}"
    document = json.loads(json.dumps(segment.to_json()))
    assert segmint.compile(document, schema).ir == segment.ir, f"the JSON document of {segment.text!r} differs"


@st.composite
def parameters(draw, segment: segmint.Segment) -> dict:
    """A value for each of the rule's parameters: a sensible one or a hostile one."""
    sensible = rulegen.PARAMS
    return {
        name: sensible[name] if name in sensible and draw(st.booleans()) else draw(param_values())
        for name in segment.params
    }


SHAPES = [
    "loyalty_points > {int}",
    "loyalty_points * {int} + {int} >= {int}",
    "loyalty_points between {int} and {int}",
    "-loyalty_points < {number}",
    "loyalty_points in ({int}, {int})",
    "sum(bought.amount{window}) > {number}",
    "sum(bought.quantity{window}) * {int} > {int}",
    "avg(viewed.price{window}) <= {number}",
    "max(bought.amount) > {number} or min(bought.amount) < {number}",
    "count(opened{window}) >= {int}",
    "opened > {int} times{window}",
    "bought amount > {number}, quantity = {int}{window}",
    "created_at {op} {point}",
    "created_at between {point} and {point}",
    "first(bought) between {point} and {point}",
    "last(opened) {op} {point}",
    "birth_date {op} {date}",
    "age(birth_date) {op} {int}",
    "days_since(last(bought)) {op} {int}",
    "opened{window}",
    "created_at{window}",
    "email {match} {string}",
    "count(clicked{window}) / count(opened{window}) > {number}",
    # population-relative measures (issue 13)
    "percentile(sum(bought.amount{window})) {op} {number}",
    "quintile(count(opened{window})) {op} {int} and city = Kyiv",
    "decile(loyalty_points * {int}) {op} {int}",
    "rfm(bought.amount{window}) in ({int}, {int})",
    "rfm_m(bought.quantity{window}) {op} {int} or not rfm_r(viewed.price{window}) = {int}",
    # calendar (docs/language.md, "Time of day, calendar and time zones")
    "opened hour {op} {int}{window}",
    "bought weekday between {int} and {int}, amount > {number}{window}",
    "birthday(birth_date) within next {duration}",
    "anniversary(created_at) within next {duration} or anniversary(last(bought)) within next {duration}",
    "bought in at least {int} of the last {int} mo{window}",
]
INTS = [
    "0",
    "1",
    "2",
    "7",
    "2026",
    "10000",
    str(2**31),
    str(2**53 + 1),
    str(2**62),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 30,
    "-1",
    f"-{2**63 - 1}",
    f"-{2**63}",
]
HOLES = {
    "int": INTS,
    "number": INTS + [n for n in NUMBERS if "." in n or "e" in n],
    "date": DATES,
    "point": DATES + TIMESTAMPS,
    "duration": DURATIONS,
    "string": STRINGS,
    "op": ["=", "!=", "<", "<=", ">", ">="],
    "match": ["contains", "startswith", "endswith"],
    "window": [
        "",
        " within {duration}",
        " since {point}",
        " before {point}",
        " before {duration} ago",
        " between {point} and {point}",
    ],
}


@st.composite
def hostile_rules(draw) -> str:
    """A rule of one of ``SHAPES`` whose every hole holds a drawn value (mostly extreme)."""
    text = draw(st.sampled_from(SHAPES))
    while "{" in text:
        head, _, rest = text.partition("{")
        hole, _, tail = rest.partition("}")
        text = head + draw(st.sampled_from(HOLES[hole])) + tail
    return text


def places(value, path=()):
    """Every place in a JSON value: the paths of its dict values and list items, the value itself first."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, (*path, index))


def put(document, path, value):
    """``document`` with ``value`` at ``path`` (the whole document for the empty path)."""
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(
        [
            *_NODES,
            "int",
            "float",
            "date",
            "timestamp",
            "duration",
            "string",
            "tags",
            "bool",
            "count",
            "sum",
            "age",
            "days_since",
            "any",
            "all",
            "contains",
            ">",
            "=",
            "+",
            "/",
            "opened",
            "email_open",
            "amount",
            "city",
            "Kyiv",
            "90d",
            "2026-10-01",
            "2026-10-01T00:00:00Z",
            "segmint.rule",
            2**63,
            -(2**63) - 1,
            10**30,
        ]
    ),
)
TAGGED = st.one_of(
    st.fixed_dictionaries(
        {
            "duration": st.sampled_from(
                ["90d", "0d", "3000y", "1000000000000d", "d", "7", "7x", "-7d", "99999999999999999999s", ""]
            )
        }
    ),
    st.fixed_dictionaries(
        {"date": st.sampled_from(["2026-10-01", "0001-01-01", "9999-12-31", "2026-02-30", "x", "20261001"])}
    ),
    st.fixed_dictionaries(
        {
            "timestamp": st.sampled_from(
                [
                    "2026-10-01T00:00:00Z",
                    "0001-01-01T00:00:00+14:00",
                    "9999-12-31T23:59:59-12:00",
                    "2026-10-01",
                    "x",
                    "",
                ]
            )
        }
    ),
    st.dictionaries(st.sampled_from(["duration", "date", "timestamp", "node", "x"]), SCALARS, max_size=2),
)
JSON_VALUES = st.recursive(
    st.one_of(SCALARS, TAGGED),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)
