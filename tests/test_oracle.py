"""The reference evaluator checked against an independent formulation: DuckDB SQL (tests/oracle.py)."""

import datetime as dt

import numpy as np
import oracle
import pytest
from conftest import NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulegen import DATES, DAY, DURATIONS, MICRO, OFFSETS, params_for, rules, stores
from storebuilder import build_store
from test_examples import CASES, CONTACTS, EVENTS

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
    plan = segmint.compile(rule, schema).compiled.plan
    assert set(store.ids[oracle.mask(db, plan, bind(plan, NOW, None), len(store))].tolist()) == expected


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=rules())
def test_reference_equals_duckdb(schema, data, rule):
    store = data.draw(stores(schema))
    segment = segmint.compile(rule, schema)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * DAY, NOW + MICRO * DAY]))
    params = params_for(segment)
    reference = segment.evaluate(store, now=now, params=params, engine="reference").mask
    expected = oracle.mask(oracle.connect(store), segment.compiled.plan, bind(segment.compiled.plan, now, params),
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
        plan = segment.compiled.plan
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
        plan = segment.compiled.plan
        expected = oracle.mask(oracle.connect(store), plan, bind(plan, moment, None), len(store))
        for engine in ("reference", "compiled", "vector"):
            got = segment.evaluate(store, now=moment, engine=engine).mask
            differ = [str(births[i - 1]) if i else "null" for i in np.flatnonzero(got != expected)]
            assert not differ, f"{rule} at {now}: {engine} differs from DuckDB for births {differ}"
