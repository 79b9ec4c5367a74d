"""The next change time of a segment (runtime/nextchange.py): never late, exact for single windows.

Properties on random rules and tiny stores (rulegen, storebuilder), and table tests on hand-built stores; the
reference engine evaluates (no kernels to compile).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from data import NOW
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rulegen import DAY, params_for, rules, stores
from storebuilder import build_store

import segmint
from segmint.runtime import nextchange

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
US = dt.timedelta(microseconds=1)
HORIZON = 800 * DAY  # where "never changes" is checked up to


def members(segment, store, now, params) -> np.ndarray | str:
    try:
        return segment.evaluate(store, now=now, params=params, engine="reference").mask
    except segmint.DataError as error:
        return str(error)


def same(a, b) -> bool:
    return a == b if isinstance(a, str) or isinstance(b, str) else bool(np.array_equal(a, b))


def check_constant(segment, store, start, end, params, data) -> None:
    """Membership at every instant tested in [start, end) equals membership at start: just before end, and a few
    random instants in between."""
    before = members(segment, store, start, params)
    span = (end - start) // US
    probes = [end - US] + [start + US * data.draw(st.integers(1, max(span - 1, 1))) for _ in range(3)]
    for probe in probes:
        if start < probe < end:
            assert same(members(segment, store, probe, params), before), (
                f"{segment.text}: membership at {probe} differs from {start}, yet nothing should change before {end}")


@settings(SLOW, max_examples=150)
@given(data=st.data(), rule=rules(max_leaves=4))
def test_never_late(schema, data, rule):
    """Between now and the returned time, membership is the membership at now."""
    segment = segmint.compile(rule, schema)
    store = data.draw(stores(schema))
    now = data.draw(st.sampled_from([NOW, NOW - 7 * DAY, NOW + 0.5 * DAY]))
    params = params_for(segment)
    assume(not isinstance(members(segment, store, now, params), str))
    found = segment.next_change(store, now, params, engine="reference")
    end = found if found is not None else now + HORIZON
    assert found is None or found > now
    check_constant(segment, store, now, end, params, data)
    if found is not None and found < now + HORIZON:  # and from there on, the next one holds too
        after = segment.next_change(store, found, params, engine="reference")
        check_constant(segment, store, found, after or found + HORIZON, params, data)


@settings(SLOW, max_examples=80)
@given(data=st.data(), rule=rules(max_leaves=3))
def test_candidates_cut_time_into_constant_pieces(schema, data, rule):
    """The candidate instants alone (no evaluation): membership is constant from one to the next, so passing a
    candidate where nothing changed is sound."""
    segment = segmint.compile(rule, schema)
    store = data.draw(stores(schema))
    params = params_for(segment)
    assume(not isinstance(members(segment, store, NOW, params), str))
    at = NOW
    for _ in range(4):
        following = nextchange.bound(segment.rule.plan, store, at, params)
        if following is None:
            check_constant(segment, store, at, at + HORIZON, params, data)
            return
        assert following > at
        check_constant(segment, store, at, following, params, data)
        at = following


SINGLE_WINDOW = ["opened > 2 within 90d", "not bought within 30d", "opened within 7d", "bought >= 2 within 30d",
                 "viewed category = iPhones within 30d", "not clicked within 1mo", "bought before 30d ago"]


@settings(SLOW, max_examples=120)
@given(data=st.data(), rule=st.sampled_from(SINGLE_WINDOW))
def test_exact_for_single_windows(schema, data, rule):
    """At the returned time some contact's membership really changes (given evaluations enough to pass every
    candidate where nothing does)."""
    segment = segmint.compile(rule, schema)
    store = data.draw(stores(schema))
    now = data.draw(st.sampled_from([NOW, NOW - 7 * DAY, NOW - 45 * DAY]))
    found = nextchange.next_change(segment.rule.plan, store, now, {},
                                   lambda at: members(segment, store, at, {}), checks=10_000)
    if found is None:
        check_constant(segment, store, now, now + HORIZON, {}, data)
        return
    assert not same(members(segment, store, found, {}), members(segment, store, now, {})), (
        f"{rule}: nothing changes at {found}")
    check_constant(segment, store, now, found, {}, data)


# -- table tests ----------------------------------------------------------------------------------------------------
# contact 1 opened 7, 6 and 5 days before NOW; contact 2 one day before, and again 3 days after NOW (arrived early);
# contact 3 was born 1990-11-05 and created 2026-10-30T12:00.
OPENS = [(1, -7), (1, -6), (1, -5), (2, -1), (2, 3)]


@pytest.fixture
def store(schema):
    contacts = [{"id": 1}, {"id": 2}, {"id": 3, "birth_date": "1990-11-05",
                                         "created_at": dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC)}]
    return build_store(schema, contacts, {"email_open": [{"id": c, "ts": NOW + d * DAY} for c, d in OPENS]})


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("opened within 7d", NOW + 2 * DAY),  # contact 1's last open (5 days ago) leaves the window
        ("opened > 2 within 90d", NOW + 83 * DAY),  # contact 1's first open leaves: 2 left
        ("opened >= 2 within 90d", NOW + 3 * DAY),  # contact 2's open after NOW makes 2
        ("not opened within 30d", NOW + 25 * DAY),  # contact 1's last open leaves (contact 2 has opened again)
        ("age(birth_date) >= 36", NOW + 4 * DAY),  # contact 3's birthday, 2026-11-05 at midnight
        ("days_since(created_at) >= 3", dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)),
        ("city = Kyiv", None),  # no time in it: never without new data
    ],
)
def test_next_change_times(schema, store, rule, expected):
    assert segmint.compile(rule, schema).next_change(store, NOW, engine="reference") == expected


def test_registry_next_change_and_refresh_report(schema, store):
    registry = segmint.Registry(":memory:", schema)
    registry.add("recent", "opened within 7d")
    registry.split("recent", {"A": 50, "B": 50})
    report = registry.refresh(store, NOW, engine="reference")
    by_name = {s.name: s for s in report.segments}
    # the report's time is the cheap bound: never later than the exact time
    assert by_name["recent"].next_change <= "2026-11-03T00:00:00Z"
    assert by_name["recent.A"].next_change == by_name["recent"].next_change
    assert registry.next_change("recent", store, NOW, engine="reference") == NOW + 2 * DAY
    assert registry.next_change("recent.B", store, NOW, engine="reference") == NOW + 2 * DAY
    with pytest.raises(segmint.RegistryError, match="nope"):
        registry.next_change("nope", store, NOW)


@given(st.lists(st.integers(-(2**62), 2**62), max_size=50) | st.lists(st.integers(0, 5), max_size=50))
def test_distinct_times_are_sorted_without_repeats(values):
    """nextchange sorts event times once per store with its own distinct (np.unique hashes int64: ~10x slower)."""
    array = np.array(values, dtype=np.int64)
    assert nextchange._distinct(array).tolist() == np.unique(array).tolist()
