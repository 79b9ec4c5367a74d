"""The reference evaluator checked against an independent formulation: DuckDB SQL (tests/oracle.py)."""

import datetime as dt

import duckdb
import numpy as np
import oracle
import pytest
from data import CASES, CONTACTS, EVENTS, NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulegen import DATES, DAY, DURATIONS, MICRO, OFFSETS, params_for, rules, stores
from storebuilder import build_store

import segmint
from segmint.runtime.bindings import bind
from segmint.runtime.timeutil import coerce_now


@pytest.fixture(scope="module")
def table_store(schema):
    store = build_store(schema, CONTACTS, EVENTS)
    return store, oracle.connect(store)


@pytest.mark.parametrize(("rule", "expected"), CASES, ids=[rule for rule, _ in CASES])
def test_oracle_agrees_with_the_table(schema, table_store, rule, expected):
    # the oracle is only worth something if it is right where we know the answer
    store, db = table_store
    plan = segmint.compile(rule, schema).rule.plan
    assert set(store.ids[oracle.mask(db, plan, bind(plan, NOW, None), len(store))].tolist()) == expected


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=rules())
def test_reference_equals_duckdb(schema, data, rule):
    store = data.draw(stores(schema))
    segment = segmint.compile(rule, schema)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * DAY, NOW + MICRO * DAY]))
    params = params_for(segment)
    reference = segment.evaluate(store, now=now, params=params, engine="reference").mask
    expected = oracle.mask(oracle.connect(store), segment.rule.plan, bind(segment.rule.plan, now, params),
                           len(store))
    differ = [int(store.ids[i]) for i in range(len(store)) if reference[i] != expected[i]]
    assert not differ, f"{segment.text} at {now}: reference and DuckDB differ for contacts {differ}"


WINDOWS = (
    [f" within {d}" for d in DURATIONS]
    + [f" before {d} ago" for d in DURATIONS]
    + [f" since {d}" for d in DATES]
    + [f" before {d}" for d in DATES]
    + [f" between {a} and {b}" for a in DATES for b in DATES if a <= b]
    + ["", " since 2026-10-25T00:00:00Z", " between 2026-10-25T00:00:00Z and 2026-11-01T00:00:00Z"]
)


@pytest.mark.parametrize("window", WINDOWS)
def test_window_edges_all_engines(schema, window):
    """One event at each edge offset (exactly on a bound, a microsecond either side, after now) per window."""
    segment = segmint.compile(f"opened{window}", schema)
    for offset in OFFSETS:
        store = build_store(schema, [{"id": 1}], {"email_open": [{"id": 1, "ts": NOW - offset * DAY}]})
        plan = segment.rule.plan
        expected = oracle.mask(oracle.connect(store), plan, bind(plan, NOW, None), 1)[0]
        for engine in ("reference", "compiled", "vector"):
            got = segment.evaluate(store, now=NOW, engine=engine).mask[0]
            assert got == expected, f"{segment.text}, event {offset} days before now: {engine} says {got}"


AGE_RULES = [f"age(birth_date) {op} {n}" for op in (">", ">=", "<", "<=", "=", "!=") for n in (0, 25, 26)]
AGE_RULES += ["age(birth_date) between 25 and 26", "age(birth_date) between 0 and 0", "age(birth_date) > -1"]


@pytest.mark.parametrize("now", ["2026-03-01", "2026-02-28T23:59:59Z", "2028-02-29T12:00:00Z", "2027-01-01"])
def test_age_edges_all_engines(schema, now):
    """Birthdays on, just before and just after each cut-off, on 29 February, and in the future."""
    moment = coerce_now(now)
    births = sorted(
        {
            dt.date(moment.year - years, moment.month, 1) + dt.timedelta(days=moment.day - 1 + shift)
            for years in (0, 25, 26, 27)
            for shift in (-2, -1, 0, 1, 2)
        }
        | {dt.date(y, 2, 29) for y in (1972, 2000, 2024)} | {dt.date(y, 2, 28) for y in (2001, 2002)}
        | {dt.date(y, 3, 1) for y in (2001, 2002)} | {moment.date() + dt.timedelta(days=400)}
    )
    contacts = [{"id": k + 1, "birth_date": b.isoformat()} for k, b in enumerate(births)] + [{"id": 0}]
    store = build_store(schema, contacts, {})
    for rule in AGE_RULES:
        segment = segmint.compile(rule, schema)
        plan = segment.rule.plan
        expected = oracle.mask(oracle.connect(store), plan, bind(plan, moment, None), len(store))
        for engine in ("reference", "compiled", "vector"):
            got = segment.evaluate(store, now=moment, engine=engine).mask
            differ = [str(births[i - 1]) if i else "null" for i in np.flatnonzero(got != expected)]
            assert not differ, f"{rule} at {now}: {engine} differs from DuckDB for births {differ}"


# -- a date against a timestamp is the whole day ------------------------------------------------------------------
DAY_D = dt.date(2026, 6, 30)
AROUND_D = [  # D - 1 µs, D 00:00, D 12:00, D 23:59:59.999999, D + 1 00:00
    dt.datetime(2026, 6, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
]
# Each test on a time t as SQL on t's calendar day: the whole-day rule says exactly that ``t op D`` is
# ``date(t) op D``. Written from the rule, not from segmint's code.
DATE_TESTS = [(f"{op} {{d}}", f"{op} DATE '2026-06-30'") for op in ("=", "!=", "<", "<=", ">", ">=")] + [
    ("between {d} and {d}", "BETWEEN DATE '2026-06-30' AND DATE '2026-06-30'"),
    ("between 2026-06-29 and {d}", "BETWEEN DATE '2026-06-29' AND DATE '2026-06-30'"),
    ("between {d} and 2026-07-01", "BETWEEN DATE '2026-06-30' AND DATE '2026-07-01'"),
    ("in ({d}, 2026-07-02)", "IN (DATE '2026-06-30', DATE '2026-07-02')"),
    ("not in ({d})", "NOT IN (DATE '2026-06-30')"),
]


@pytest.fixture(scope="module")
def around_d(schema):
    contacts = [{"id": k, "created_at": t} for k, t in enumerate(AROUND_D)] + [{"id": len(AROUND_D)}]
    purchases = [
        {"id": k, "ts": t, "brand": "Apple", "category": "Books", "amount": 1.0, "quantity": 1}
        for k, t in enumerate(AROUND_D)
    ]
    return build_store(schema, contacts, {"purchase": purchases})


@pytest.mark.parametrize(("test", "sql"), DATE_TESTS, ids=[t for t, _ in DATE_TESTS])
@pytest.mark.parametrize("subject", ["created_at", "first(bought)", "last(bought within 1y)"])
@pytest.mark.parametrize("d", ["2026-06-30", "$d"])
def test_a_date_against_a_timestamp_is_the_whole_day(schema, around_d, subject, test, sql, d):
    """Every operator, at a microsecond before D, D's midnight, noon and last microsecond, and the next midnight:
    literals and ``$parameters`` holding the date, in every engine and in the DuckDB oracle."""
    times = duckdb.connect()
    expected = [
        times.execute(f"SELECT coalesce(CAST(TIMESTAMP '{t:%Y-%m-%d %H:%M:%S.%f}' AS DATE) {sql}, FALSE)").fetchone()[0]
        for t in AROUND_D
    ] + [False]  # no time at all: every test is false
    segment = segmint.compile(f"{subject} {test.format(d=d)}", schema)
    assert "T00:00" not in segment.text and segmint.compile(segment.text, schema).ir == segment.ir
    for params in ({"d": "2026-06-30"}, {"d": DAY_D}) if d == "$d" else (None,):
        plan = segment.rule.plan
        got = oracle.mask(oracle.connect(around_d), plan, bind(plan, NOW, params), len(around_d))
        assert got.tolist() == expected, f"{segment.text}: DuckDB"
        for engine in ("reference", "vector", "compiled"):
            got = segment.evaluate(around_d, now=NOW, params=params, engine=engine).mask
            assert got.tolist() == expected, f"{segment.text} {params}: {engine}"


@pytest.mark.parametrize("subject", ["created_at", "first(bought)"])
@pytest.mark.parametrize(("op", "expected"), [("=", [0, 0, 1, 0, 0, 0]), ("<=", [1, 1, 1, 0, 0, 0]),
                                                ("<", [1, 1, 0, 0, 0, 0]), ("!=", [1, 1, 0, 1, 1, 0])])
def test_a_timestamp_parameter_is_its_instant(schema, around_d, subject, op, expected):
    segment = segmint.compile(f"{subject} {op} $t", schema)
    for engine in ("reference", "vector", "compiled"):
        got = segment.evaluate(around_d, now=NOW, params={"t": "2026-06-30T12:00:00Z"}, engine=engine).mask
        assert got.astype(int).tolist() == expected, engine


@pytest.mark.parametrize(
    "window", ["within 1d", "within 12h", "within 36h", "since 2026-06-30", "before 2026-06-30", "before 1d ago"]
)
def test_a_date_is_in_a_window_when_any_part_of_its_day_is(schema, window):
    """Dates D - 1, D, D + 1 (and null) against windows at now = D + 1 12:00: in when their day overlaps the
    window's instants, which SQL says with the day's first and last microsecond."""
    now = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    days = [DAY_D - dt.timedelta(days=1), DAY_D, DAY_D + dt.timedelta(days=1), DAY_D + dt.timedelta(days=2)]
    store = build_store(schema, [{"id": k, "birth_date": d} for k, d in enumerate(days)] + [{"id": 9}], {})
    segment = segmint.compile(f"birth_date {window}", schema)
    lo, hi = bind(segment.rule.plan, now, None).window(segment.rule.ir.window)
    db = duckdb.connect()
    overlaps = "SELECT epoch_us(TIMESTAMP '{d}') <= {hi} AND epoch_us(TIMESTAMP '{d}') + {last} >= {lo}"
    expected = [
        db.execute(overlaps.format(d=d, lo=lo, hi=hi, last=oracle.DAY_US - 1)).fetchone()[0] for d in days
    ] + [False]
    for engine in ("reference", "vector", "compiled"):
        assert segment.evaluate(store, now=now, engine=engine).mask.tolist() == expected, engine
    explained = segment.explain(store, 1, now=now)
    assert explained.value is expected[1]


# -- infinities and nulls in aggregates ---------------------------------------------------------------------------
INF = float("inf")
AMOUNTS = [[None, 5.0], [5.0, None], [INF], [-INF, 3.0], [None], [], [INF, -INF], [1e308, 1e308], [-INF], [0.0]]
QUANTITIES = [[2**63 - 1], [-(2**63)], [-(2**63), 5], [7, 7], [], [0], [1], [2], [3], [4]]
AGGREGATE_RULES = [
    f"{function}(bought.amount) {test}"
    for function in ("sum", "avg", "min", "max")
    for test in ("> 4", "< 4", "= 5", "!= 5", "> 1e300", "< -1e300", "is null", "is not null")
] + [
    "distinct(bought.amount) = 2", "distinct(bought.amount) = 1", "first(bought) is null",
    "sum(bought.amount) - sum(bought.amount) is null", "sum(bought.amount) - sum(bought.amount) = 0",
    "avg(bought.amount) * 0 is null", "max(bought.amount) / max(bought.amount) = 1", "-min(bought.amount) > 4",
    "bought amount > 1e300", "bought amount < 4", "bought amount != 5", "count(bought amount is null) = 1",
    "max(bought.quantity) = 9223372036854775807", "min(bought.quantity) = -9223372036854775807 - 1",
    "max(bought.quantity) = -9223372036854775807 - 1",
    "min(bought.quantity) < 0", "max(bought.quantity) > 6", "max(bought.quantity) < 6", "distinct(bought.quantity) = 1",
]


@pytest.fixture(scope="module")
def extremes(schema):
    purchases = [  # contact k's j-th purchase has the j-th of its amounts and of its quantities (or null)
        {"id": k, "ts": NOW - (j + 1) * DAY, "brand": "Apple", "category": "Books",
         "amount": amounts[j] if j < len(amounts) else None, "quantity": quantities[j] if j < len(quantities) else None}
        for k, (amounts, quantities) in enumerate(zip(AMOUNTS, QUANTITIES, strict=True))
        for j in range(max(len(amounts), len(quantities)))
    ]
    return build_store(schema, [{"id": k} for k in range(len(AMOUNTS))], {"purchase": purchases})


@pytest.mark.parametrize("rule", AGGREGATE_RULES)
def test_infinities_and_nulls_in_aggregates_all_engines(schema, extremes, rule):
    """+-inf are numbers, nulls are skipped, a result that is not a number (inf - inf) is null: every engine
    and DuckDB give one answer on values at the ends of floats and of int64."""
    segment = segmint.compile(rule, schema)
    plan = segment.rule.plan
    expected = oracle.mask(oracle.connect(extremes), plan, bind(plan, NOW, None), len(extremes))
    for engine in ("reference", "vector", "compiled"):
        got = segment.evaluate(extremes, now=NOW, engine=engine).mask
        assert got.tolist() == expected.tolist(), f"{rule}: {engine} differs from DuckDB"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("max(bought.amount) > 4", {0, 1, 2, 6, 7}),  # a null amount is skipped, not the whole contact
        ("min(bought.amount) < 4", {3, 6, 8, 9}),
        ("sum(bought.amount) is null", {6}),  # inf + -inf is not a number
        ("sum(bought.amount) = 0", {4, 5, 9}),  # no amounts at all: 0
        ("avg(bought.amount) > 1e300", {2, 7}),
        ("max(bought.amount) is null", {4, 5}),
    ],
)
def test_aggregates_mean_what_the_docs_say(schema, extremes, rule, expected):
    for engine in ("reference", "vector", "compiled"):
        assert set(segmint.compile(rule, schema).evaluate(extremes, now=NOW, engine=engine).ids().tolist()) == expected
