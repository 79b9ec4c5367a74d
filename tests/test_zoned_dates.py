"""Calendar dates in each contact's time zone (docs/language.md, "Dates against times: the whole day"): a date in a
window or against a time is the contact's local day, 23 or 25 hours long on the days clocks change. Table tests on a
hand-built store with contacts in Kyiv, New York, Kolkata and UTC, every answer checked in every engine and in DuckDB
(tests/oracle.py, whose local days come from DuckDB's ICU), and random rules on random zoned stores."""

import datetime as dt

import numpy as np
import oracle
import pytest
import rulegen
from data import DEMO_SCHEMA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storebuilder import build_store

import segmint
from segmint.runtime.bindings import bind
from segmint.runtime.timezones import zones
from segmint.runtime.zoneddays import day_starts

SCHEMA = segmint.Schema.from_dict(
    {
        "contacts": {
            "id": "contact_id",
            "timezone": "tz",
            "attributes": {"tz": "string", "created_at": "timestamp", "signup_day": "date"},
        },
        "events": {
            "email_open": {"verb": "opened"},
            "purchase": {"verb": "bought", "properties": {"amount": "float", "paid_at": "timestamp"}},
        },
    }
)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

CONTACTS = [
    # Kyiv: UTC+2 in winter, +3 from 2026-03-29T01:00Z to 2026-10-25T01:00Z
    dict(id=1, tz="Europe/Kyiv", created_at="2026-06-29T21:00:00Z", signup_day="2026-06-30"),  # 30 June 00:00 local
    dict(id=2, tz=None, created_at="2026-06-29T21:00:00Z", signup_day="2026-06-30"),  # UTC: still 29 June
    # New York: UTC-5 in winter, -4 from 2026-03-08T07:00Z to 2026-11-01T06:00Z
    dict(id=3, tz="America/New_York", created_at="2026-07-01T03:59:59Z", signup_day=None),  # 30 June 23:59:59
    dict(id=4, tz="Asia/Kolkata", created_at=None, signup_day="2026-07-01"),  # UTC+5:30 all year
    dict(id=5, tz="Europe/Kyiv", created_at="2026-06-30T21:00:00Z", signup_day=None),  # 1 July 00:00 local
]
OPENS = [
    dict(id=1, ts="2025-12-31T23:30:00Z"),  # 1 January 2026, 01:30 in Kyiv
    dict(id=2, ts="2025-12-31T23:30:00Z"),  # 31 December 2025, 23:30 in UTC
    dict(id=3, ts="2026-01-01T04:30:00Z"),  # 31 December 2025, 23:30 in New York
    dict(id=4, ts="2025-12-31T18:30:00Z"),  # 1 January 2026, 00:00 in Kolkata
    # the 23-hour day of Kyiv, 29 March 2026: [2026-03-28T22:00Z, 2026-03-29T21:00Z)
    dict(id=5, ts="2026-03-28T21:59:59.999999Z"),  # 28 March, 23:59:59.999999 local
    dict(id=1, ts="2026-03-28T22:00:00Z"),  # 29 March, 00:00 local
    dict(id=5, ts="2026-03-29T20:59:59.999999Z"),  # 29 March, 23:59:59.999999 local (+3)
    dict(id=1, ts="2026-03-29T21:00:00Z"),  # 30 March, 00:00 local
    # the 25-hour day of Kyiv, 25 October 2026: [2026-10-24T21:00Z, 2026-10-25T22:00Z)
    dict(id=5, ts="2026-10-25T21:30:00Z"),  # 25 October, 23:30 local (+2): 24.5 hours into the day
    dict(id=1, ts="2026-10-25T22:00:00Z"),  # 26 October, 00:00 local
]
PURCHASES = [
    dict(id=1, ts="2026-01-01T10:00:00Z", amount=5.0, paid_at="2025-12-31T22:30:00Z"),  # paid 1 January in Kyiv
    dict(id=2, ts="2026-01-01T10:00:00Z", amount=7.0, paid_at="2025-12-31T22:30:00Z"),  # paid 31 December in UTC
    dict(id=1, ts="2026-10-25T21:30:00Z", amount=11.0, paid_at=None),
    dict(id=3, ts="2026-10-31T04:00:00Z", amount=13.0, paid_at=None),  # 31 October, 00:00 in New York
]
STORE = build_store(SCHEMA, CONTACTS, {"email_open": OPENS, "purchase": PURCHASES})

CASES = [
    # a window's date is the contact's day: 2025-12-31T23:30Z is 1 January in Kyiv, 31 December in UTC
    ("opened since 2026-01-01", NOW, {1, 4, 5}),
    ("opened before 2026-01-01", NOW, {2, 3}),
    ("opened between 2025-12-31 and 2025-12-31", NOW, {2, 3}),
    ("opened between 2026-01-01 and 2026-01-01", NOW, {1, 4}),
    # a time written with its offset is one instant in every zone
    ("opened since 2025-12-31T23:00:00Z", NOW, {1, 2, 3, 5}),
    ("opened between 2025-12-31T18:30:00Z and 2025-12-31T23:30:00Z", NOW, {1, 2, 4}),
    # Kyiv's 29 March 2026 has 23 hours, its 25 October 25 (both days included, their ends exactly)
    ("opened between 2026-03-29 and 2026-03-29", NOW, {1, 5}),
    ("count(opened between 2026-03-28 and 2026-03-29) = 2", NOW, {5}),
    ("count(opened between 2026-03-28 and 2026-03-28) >= 1", NOW, {5}),
    ("opened between 2026-03-30 and 2026-03-30", NOW, {1}),
    ("opened between 2026-10-25 and 2026-10-25", NOW, {5}),
    ("opened since 2026-10-26", NOW, {1}),
    ("opened since 2026-10-25 and not opened since 2026-10-26", NOW, {5}),
    # the same windows inside aggregates, counts, first() and last(), and filtered sets
    ("sum(bought.amount before 2026-10-31) > 0", NOW, {1, 2}),
    ("sum(bought.amount between 2026-10-25 and 2026-10-25) > 0", NOW, {1}),
    ("count(bought since 2026-10-31) = 1", NOW, {3}),
    ("count(bought since 2026-10-31) = 1", dt.datetime(2026, 10, 31, 3, 59, tzinfo=dt.UTC), set()),
    ("bought amount > 10 between 2026-10-25 and 2026-10-25", NOW, {1}),
    ("first(opened) between 2026-01-01 and 2026-01-31", NOW, {1, 4}),
    ("last(opened) < 2026-01-01", NOW, {2, 3}),
    ("first(opened since 2026-03-29) = 2026-03-29", NOW, {1, 5}),
    # a date against a time attribute or property: that day of the contact's zone
    ("created_at = 2026-06-30", NOW, {1, 3}),
    ("created_at != 2026-06-30", NOW, {2, 5}),
    ("created_at > 2026-06-30", NOW, {5}),
    ("created_at >= 2026-06-30", NOW, {1, 3, 5}),
    ("created_at < 2026-06-30", NOW, {2}),
    ("created_at <= 2026-06-30", NOW, {1, 2, 3}),
    ("created_at between 2026-06-30 and 2026-07-01", NOW, {1, 3, 5}),
    ("created_at in (2026-06-29, 2026-07-01)", NOW, {2, 5}),
    ("created_at not in (2026-06-30)", NOW, {2, 5}),
    ("created_at since 2026-07-01", NOW, {5}),
    ("bought paid_at = 2026-01-01", NOW, {1}),
    ("bought paid_at < 2026-01-01", NOW, {2}),
    # a date attribute against a time: both days of the contact's zone
    ("signup_day = 2026-06-30", NOW, {1, 2}),  # dates with dates compare plainly
    ("created_at >= signup_day", NOW, {1}),
    ("created_at < signup_day", NOW, {2}),
    # sequences and regular behaviour read the first step's (and the window's) dates the same way
    ("opened since 2026-01-01 then bought within 1d", NOW, {1}),
    ("opened before 2026-01-01 then bought within 1d", NOW, {2}),
    # the window ends at 23:59:59.999999 on 25 October in Kyiv: the current day is the 25th, the last one the 24th
    ("bought in each of the last 1 d before 2026-10-26", NOW, set()),
    ("bought in each of the last 1 d before 2026-10-27", NOW, {1}),
]


@pytest.fixture(scope="module")
def duck():
    return oracle.connect(STORE)


@pytest.mark.parametrize(("rule", "now", "expected"), CASES, ids=[f"{r} @{n:%Y-%m-%dT%H:%M}" for r, n, _ in CASES])
def test_dates_are_days_of_the_contacts_zone_in_every_engine_and_duckdb(duck, rule, now, expected):
    segment = segmint.compile(rule, SCHEMA)
    for engine in ("reference", "vector", "compiled"):
        got = set(segment.evaluate(STORE, now=now, engine=engine).ids().tolist())
        assert got == expected, f"{engine}: {rule}"
    plan = segment.rule.plan
    sql = oracle.mask(duck, plan, bind(plan, now, {}), len(STORE))
    assert set(STORE.ids[sql].tolist()) == expected, f"DuckDB: {rule}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-01-01", {1, 4, 5}), ("2025-12-31T23:00:00Z", {1, 2, 3, 5}), ("2026-01-01T01:00:00+02:00", {1, 2, 3, 5})],
)
def test_a_date_parameter_is_a_local_day_and_a_timestamp_one_instant(duck, value, expected):
    segment = segmint.compile("opened since $start", SCHEMA)
    for engine in ("reference", "vector", "compiled"):
        got = set(segment.evaluate(STORE, now=NOW, params={"start": value}, engine=engine).ids().tolist())
        assert got == expected, engine
    plan = segment.rule.plan
    sql = oracle.mask(duck, plan, bind(plan, NOW, {"start": value}), len(STORE))
    assert set(STORE.ids[sql].tolist()) == expected


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        ("UTC", "2026-03-29", "2026-03-29T00:00:00Z", 24),
        ("Europe/Kyiv", "2026-03-29", "2026-03-28T22:00:00Z", 23),
        ("Europe/Kyiv", "2026-10-25", "2026-10-24T21:00:00Z", 25),
        ("America/New_York", "2026-11-01", "2026-11-01T04:00:00Z", 25),
        ("Australia/Lord_Howe", "2026-04-05", "2026-04-04T13:00:00Z", 24.5),
        # Santiago's clocks skip midnight on 6 September 2026 (day starts at the jump, 01:00 local) and go back
        # from 24:00 to 23:00 on 4 April 2026 (4 April has 25 hours, 5 April starts when midnight first comes)
        ("America/Santiago", "2026-09-06", "2026-09-06T04:00:00Z", 23),
        ("America/Santiago", "2026-04-04", "2026-04-04T03:00:00Z", 25),
    ],
)
def test_a_local_day_starts_at_its_first_instant(zone, day, start, hours):
    store = build_store(SCHEMA, [dict(id=1, tz=zone, created_at=None, signup_day=None)], {})
    found = zones(store)
    number = (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days
    z = found.names.index(zone)
    first, following = day_starts(found, number)[z], day_starts(found, number + 1)[z]
    assert first == int(dt.datetime.fromisoformat(start).timestamp()) * 10**6
    assert following - first == hours * 3600 * 10**6


def test_stores_without_zones_keep_utc_days():
    """A schema without zones folds a date's instants into constants at compile time, as before zones existed."""
    plain = segmint.Schema.from_dict({"contacts": {"id": "contact_id", "attributes": {"created_at": "timestamp"}},
                                      "events": {"email_open": {"verb": "opened"}}})
    segment = segmint.compile("created_at = 2026-06-30", plain)
    assert "ToTimestamp" not in repr(segment.rule.plan)
    contacts = [dict(id=1, created_at="2026-06-29T21:00:00Z"), dict(id=2, created_at="2026-06-30T00:00:00Z")]
    store = build_store(plain, contacts, {"email_open": []})
    for engine in ("reference", "vector", "compiled"):
        assert segment.evaluate(store, now=NOW, engine=engine).ids().tolist() == [2]


@pytest.mark.parametrize(
    ("rule", "start"),
    [
        # 30 June begins at 2026-06-29T21:00Z in Kyiv, 1 July at 2026-07-01T04:00Z in New York
        ("signup_day within 1d", "2026-06-29T12:00:00Z"),
        ("signup_day within 2d or created_at within 1d", "2026-06-30T12:00:00Z"),
        ("not opened before 2026-11-02 and created_at within 400d", "2026-10-31T12:00:00Z"),
        ("opened since $start", "2026-03-28T12:00:00Z"),
    ],
)
def test_next_change_on_a_zoned_store_is_never_late(rule, start):
    segment = segmint.compile(rule, SCHEMA)
    now = dt.datetime.fromisoformat(start)
    params = {"start": "2026-03-29"} if segment.params else None
    found = segment.next_change(STORE, now, params=params, engine="reference")
    end = found or now + dt.timedelta(days=3)
    before = segment.evaluate(STORE, now=now, params=params, engine="reference").mask
    probe = now
    while probe < end:
        mask = segment.evaluate(STORE, now=probe, params=params, engine="reference").mask
        assert np.array_equal(mask, before), probe
        probe += dt.timedelta(minutes=30)


# -- properties: random rules (date windows among them) on random stores whose contacts are in random zones --------
ZONED = rulegen.zoned(segmint.Schema.from_toml(DEMO_SCHEMA))
DATE_SHAPES = [
    "opened since 2026-10-25 or bought between 2026-10-01 and 2026-10-25",
    "count(viewed before 2026-10-01) >= 1 and not clicked since 2026-10-25",
    "sum(bought.amount between 2026-08-03 and 2026-10-25) > 50 or first(opened) = 2026-10-25",
    "created_at <= 2026-10-25 and created_at > 2026-10-01 or last(viewed since 2026-08-03) = 2026-10-31",
    "bought brand = Apple since 2026-10-01 and opened device = ios before 2026-10-25",
    "birth_date within 30d or created_at in (2026-10-25, 2026-10-31)",
    "opened since $start or created_at >= $start",
    "opened since 2026-10-25 then clicked within 1d",
    "bought in each of the last 2 w before 2026-10-25",
]


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=st.sampled_from(DATE_SHAPES))
def test_compiled_vector_reference_and_duckdb_agree_on_dates_in_zones(data, rule):
    store = data.draw(rulegen.stores(ZONED))
    segment = segmint.compile(rule, ZONED)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * rulegen.DAY, dt.datetime(2026, 10, 24, 21, tzinfo=dt.UTC)]))
    params = rulegen.params_for(segment)
    masks = {engine: segment.evaluate(store, now=now, params=params, engine=engine).mask.tolist()
             for engine in ("reference", "vector", "compiled")}
    plan = segment.rule.plan
    expected = oracle.mask(oracle.connect(store), plan, bind(plan, now, params), len(store)).tolist()
    assert masks["reference"] == expected, f"{segment.text} at {now}: reference and DuckDB differ"
    assert masks["vector"] == expected, f"{segment.text} at {now}: vector and DuckDB differ"
    assert masks["compiled"] == expected, f"{segment.text} at {now}: compiled and DuckDB differ"
