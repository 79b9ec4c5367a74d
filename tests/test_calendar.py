"""Time of day, calendar parts and anniversaries in each contact's own time zone (docs/language.md, "Time of day and
calendar"): table tests on a hand-built store with contacts in four zones and events on the DST changes of 2026,
every answer checked in every engine and in DuckDB (tests/oracle.py, whose local times come from DuckDB's ICU)."""

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

SCHEMA = segmint.Schema.from_dict(
    {
        "contacts": {
            "id": "contact_id",
            "timezone": "tz",
            "attributes": {"tz": "string", "birth_date": "date", "created_at": "timestamp"},
        },
        "events": {
            "email_open": {"verb": "opened"},
            "purchase": {"verb": "bought", "properties": {"amount": "float", "hour": "int"}},
        },
    }
)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # a Sunday; 2026-10-31 20:00 in New York, still summer time there

CONTACTS = [
    # Kyiv: UTC+3 in summer, +2 from 2026-10-25T01:00Z (and +3 from 2026-03-29T01:00Z)
    dict(id=1, tz="Europe/Kyiv", birth_date="1990-11-08", created_at="2020-11-04T22:30:00Z"),
    # New York: UTC-4 in summer, -5 from 2026-11-01T06:00Z (and -4 from 2026-03-08T07:00Z)
    dict(id=2, tz="America/New_York", birth_date="1985-10-31", created_at="2020-11-04T03:00:00Z"),
    dict(id=3, tz=None, birth_date="2000-11-09", created_at="2020-11-04T22:30:00Z"),  # no zone: UTC
    dict(id=4, tz="Asia/Kolkata", birth_date="1992-10-31", created_at=None),  # UTC+5:30 all year
    dict(id=5, tz=None, birth_date="2000-02-29", created_at="2024-02-29T12:00:00Z"),
    dict(id=6, tz="Pacific/Kiritimati", birth_date="1999-01-02", created_at=None),  # UTC+14: the first to a new day
]
OPENS = [
    dict(id=1, ts="2026-03-29T00:30:00Z"),  # 02:30 local, the last hour of winter time
    dict(id=1, ts="2026-03-29T01:30:00Z"),  # 04:30 local: 03:00-04:00 does not exist that night
    dict(id=1, ts="2026-10-24T04:30:00Z"),  # Sat 07:30 local (+3)
    dict(id=1, ts="2026-10-25T05:30:00Z"),  # Sun 07:30 local (+2 since 01:00Z)
    dict(id=1, ts="2026-10-26T06:30:00Z"),  # Mon 08:30 local
    dict(id=2, ts="2026-03-08T06:59:00Z"),  # 01:59 local, winter time
    dict(id=2, ts="2026-03-08T07:00:00Z"),  # 03:00 local: 02:00-03:00 does not exist that night
    dict(id=2, ts="2026-10-31T11:00:00Z"),  # Sat 07:00 local
    dict(id=3, ts="2025-12-31T23:30:00Z"),  # 23:30 on 31 December 2025 (UTC)
    dict(id=3, ts="2026-10-30T08:00:00Z"),  # Fri 08:00
    dict(id=4, ts="2025-12-31T19:00:00Z"),  # 00:30 on 1 January 2026 local
    dict(id=4, ts="2026-10-31T02:00:00Z"),  # Sat 07:30 local
]
PURCHASES = [
    dict(id=1, ts="2026-10-30T10:00:00Z", amount=5.0, hour=3),  # 12:00 local, but its property hour is 3
    dict(id=3, ts="2026-10-31T03:00:00Z", amount=7.0, hour=None),
]
STORE = build_store(SCHEMA, CONTACTS, {"email_open": OPENS, "purchase": PURCHASES})

CASES = [
    # time of day, in the contact's zone
    ("opened hour between 7 and 9 >= 3 times within 30d", NOW, {1}),
    ("opened hour = 7 within 30d", NOW, {1, 2, 4}),
    ("opened hour = 8 within 30d", NOW, {1, 3}),
    ("opened weekday in (sat, sun) within 30d", NOW, {1, 2, 4}),
    ("opened weekday = fri within 30d", NOW, {3}),
    ("opened weekday between mon and fri within 30d", NOW, {1, 3}),
    ("not opened weekday in (sat, sun)", NOW, {3, 5, 6}),
    # DST: the hours either side of the changes of spring 2026
    ("opened hour = 2, month = 3", NOW, {1}),
    ("opened hour = 4, month = 3", NOW, {1}),
    ("opened hour = 3, month = 3", NOW, {2}),
    ("opened hour = 1, month = 3", NOW, {2}),
    ("opened day = 25, month = 10", NOW, {1}),
    # year boundary: New Year's Eve in UTC is already 1 January in Kolkata
    ("opened month = 12", NOW, {3}),
    ("opened year = 2025", NOW, {3}),
    ("opened month = 1, day = 1, year = 2026", NOW, {4}),
    ("count(opened year = 2026) >= 2", NOW, {1, 2, 4}),
    # a real property named like a part wins
    ("bought hour = 3", NOW, {1}),
    ("bought hour is null", NOW, {3}),
    # birthdays: the next one between today and today + 7d, both days included, in the contact's zone
    ("birthday(birth_date) within next 7d", NOW, {1, 2}),  # 2: still 31 October in New York
    ("birthday(birth_date) within next 6d", NOW, {2}),
    ("birthday(birth_date) within next 0d", NOW, {2}),
    ("birthday(birth_date) within next 1w", NOW, {1, 2}),
    ("birthday(birth_date) within next 8d", NOW, {1, 2, 3}),
    ("birthday(birth_date) within next 1y", NOW, {1, 2, 3, 4, 5, 6}),
    ("birthday(birth_date) within next 11mo", NOW, {1, 2, 3, 5, 6}),
    # 29 February falls on 28 February in other years
    ("birthday(birth_date) within next 6d", dt.datetime(2027, 2, 22, tzinfo=dt.UTC), {5}),
    ("birthday(birth_date) within next 5d", dt.datetime(2027, 2, 22, tzinfo=dt.UTC), set()),
    ("birthday(birth_date) within next 0d", dt.datetime(2028, 2, 29, tzinfo=dt.UTC), {5}),
    ("birthday(birth_date) within next 0d", dt.datetime(2028, 2, 28, tzinfo=dt.UTC), set()),
    # across the year's end
    ("birthday(birth_date) within next 7d", dt.datetime(2026, 12, 26, 12, tzinfo=dt.UTC), {6}),
    ("birthday(birth_date) within next 5d", dt.datetime(2026, 12, 26, 12, tzinfo=dt.UTC), set()),
    ("anniversary(created_at) within next 3d", dt.datetime(2027, 2, 26, tzinfo=dt.UTC), {5}),
    # a timestamp's anniversary is its day in the contact's zone (2020-11-04T22:30Z is 5 November in Kyiv)
    ("anniversary(created_at) within next 3d", NOW, {2, 3}),
    ("anniversary(created_at) within next 4d", NOW, {1, 2, 3}),
    ("not anniversary(created_at) within next 3d", NOW, {1, 4, 5, 6}),
    ("birthday(birth_date) within next 7d and opened hour = 7 within 30d", NOW, {1, 2}),
    # age turns over at the contact's local midnight (in UTC, 2 would be 41 and 4 would be 33)
    ("age(birth_date) = 40", dt.datetime(2026, 10, 31, 3, tzinfo=dt.UTC), {2}),  # 23:00 on 30 October in New York
    ("age(birth_date) = 34", dt.datetime(2026, 10, 30, 20, tzinfo=dt.UTC), {4}),  # 01:30 on 31 October in Kolkata
    ("age(birth_date) between 34 and 35", dt.datetime(2026, 10, 30, 20, tzinfo=dt.UTC), {1, 4}),
    ("age(birth_date) >= 41", dt.datetime(2026, 10, 31, 3, tzinfo=dt.UTC), set()),
    # a timestamp's birthday is its local day: 2020-11-04T22:30Z is 5 November in Kyiv, not yet at 23:00 on the 4th
    ("age(created_at) = 5", dt.datetime(2026, 11, 4, 21, tzinfo=dt.UTC), {1}),
    ("age(created_at) = 6", dt.datetime(2026, 11, 4, 21, tzinfo=dt.UTC), {2, 3}),
    ("age(created_at) + 1 = 6", dt.datetime(2026, 11, 4, 21, tzinfo=dt.UTC), {1}),
    # days_since counts whole days of the contact's wall clock: from Sat 07:30 (+3) to Sun 07:00 (+2) in Kyiv is 23.5
    # hours of clock time (24.5 real hours)
    ("days_since(last(opened)) = 0", dt.datetime(2026, 10, 25, 5, tzinfo=dt.UTC), {1}),
    ("days_since(last(opened)) = 1", dt.datetime(2026, 10, 25, 5, tzinfo=dt.UTC), set()),
    # New York: created at 22:00 local (-5) on 3 November 2020; at 02:30Z it is 22:30 (-4) on 30 October 2026
    ("days_since(created_at) = 2187", dt.datetime(2026, 10, 31, 2, 30, tzinfo=dt.UTC), {2}),  # UTC: 2186
    ("days_since(created_at) = 2187", dt.datetime(2026, 10, 31, 1, 59, tzinfo=dt.UTC), set()),
    # a date's days end at the contact's local midnight: 31 October begins at 18:30Z on the 30th in Kolkata
    ("days_since(birth_date) = 12418", dt.datetime(2026, 10, 30, 18, 30, tzinfo=dt.UTC), {4}),
    ("days_since(birth_date) = 12418", dt.datetime(2026, 10, 30, 18, 29, tzinfo=dt.UTC), set()),
]


@pytest.fixture(scope="module")
def duck():
    return oracle.connect(STORE)


@pytest.mark.parametrize(("rule", "now", "expected"), CASES, ids=[f"{r} @{n:%Y-%m-%d}" for r, n, _ in CASES])
def test_calendar_conditions_in_every_engine_and_duckdb(duck, rule, now, expected):
    segment = segmint.compile(rule, SCHEMA)
    for engine in ("reference", "vector", "compiled"):
        got = set(segment.evaluate(STORE, now=now, engine=engine).ids().tolist())
        assert got == expected, f"{engine}: {rule} at {now}"
    plan = segment.rule.plan
    assert set(STORE.ids[oracle.mask(duck, plan, bind(plan, now, None), len(STORE))].tolist()) == expected


def test_contacts_without_a_zone_take_the_default_zone():
    schema = segmint.Schema.from_dict({**SCHEMA.to_dict(), "contacts": {**SCHEMA.to_dict()["contacts"],
                                                                        "default_timezone": "America/New_York"}})
    store = build_store(schema, CONTACTS, {"email_open": OPENS, "purchase": PURCHASES})
    # contact 3's 08:00Z open is 04:00 in New York; 5 was born on 29 February
    segment = segmint.compile("opened hour = 4 within 30d", schema)
    for engine in ("reference", "vector", "compiled"):
        assert segment.evaluate(store, now=NOW, engine=engine).ids().tolist() == [3]
    plan = segment.rule.plan
    assert oracle.mask(oracle.connect(store), plan, bind(plan, NOW, None), len(store)).tolist() == [
        False, False, True, False, False, False]


def test_an_unknown_zone_in_the_data_names_the_contact_and_the_value():
    store = build_store(SCHEMA, [dict(id=7, tz="Europe/Kyiv"), dict(id=8, tz="Mars/Olympus")], {})
    segment = segmint.compile("opened hour = 7", SCHEMA)
    for engine in ("reference", "vector", "compiled"):
        with pytest.raises(segmint.DataError, match=r"contact 8 has tz = 'Mars/Olympus', which is not a time zone"):
            segment.evaluate(store, now=NOW, engine=engine)


def test_without_a_zone_attribute_time_parts_are_utc(schema):
    # the demo schema names no zone: every contact is in UTC, as before zones existed
    segment = segmint.compile("opened hour = 0", schema)
    store = build_store(schema, [dict(id=1), dict(id=2)], {"email_open": [
        dict(id=1, ts="2026-10-31T00:59:59Z", campaign_id=1), dict(id=2, ts="2026-10-31T01:00:00Z", campaign_id=1)]})
    for engine in ("reference", "vector", "compiled"):
        assert segment.evaluate(store, now=NOW, engine=engine).ids().tolist() == [1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"timezone": "zone"}, "names 'zone', which is not an attribute"),
        ({"timezone": "birth_date"}, "a date attribute; it must be a string"),
        ({"default_timezone": "Europe/Kiev2"}, "not a time zone zoneinfo knows"),
    ],
)
def test_schema_refuses_bad_zone_settings(spec, message):
    contacts = {"id": "contact_id", "attributes": {"birth_date": "date"}, **spec}
    with pytest.raises(segmint.SchemaError, match=message):
        segmint.Schema.from_dict({"contacts": contacts})


def test_schema_round_trips_its_zone_settings():
    assert segmint.Schema.from_dict(SCHEMA.to_dict()) == SCHEMA
    assert SCHEMA.with_definitions(x="opened").timezone == "tz"


def test_local_times_match_zoneinfo_on_every_event():
    from zoneinfo import ZoneInfo

    from segmint.runtime.timezones import local_times, local_times_by_search

    table = STORE.events["email_open"]
    zones = {c["id"]: c["tz"] or "UTC" for c in CONTACTS}
    expected = []
    for row, ts in zip(table.contact_rows.tolist(), table.ts.tolist(), strict=True):
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts)
        local = moment.astimezone(ZoneInfo(zones[int(STORE.ids[row])])).replace(tzinfo=None)
        expected.append((local - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1))
    assert local_times(STORE, "email_open").tolist() == expected
    assert local_times_by_search(STORE, table).tolist() == expected
    assert np.asarray(local_times(STORE, "email_open")).dtype == np.int64


def test_next_change_of_a_birthday_rule_is_the_first_local_midnight_that_changes_it():
    segment = segmint.compile("birthday(birth_date) within next 6d", SCHEMA)
    # at NOW only contact 2 is in (still 31 October in New York); it leaves at New York's midnight, 04:00Z
    assert segment.next_change(STORE, NOW, engine="reference") == dt.datetime(2026, 11, 1, 4, tzinfo=dt.UTC)


@pytest.mark.parametrize("start", ["2026-10-31T20:00:00Z", "2026-11-01T03:30:00Z", "2026-03-28T20:00:00Z",
                                   "2026-03-07T22:00:00Z", "2026-12-26T00:00:00Z"])
def test_next_change_of_calendar_rules_is_never_late(start):
    """Around the DST changes: membership is constant from now to the next change, probed every 15 minutes."""
    now = dt.datetime.fromisoformat(start)
    for rule in ("birthday(birth_date) within next 7d", "anniversary(created_at) within next 3d"):
        segment = segmint.compile(rule, SCHEMA)
        found = segment.next_change(STORE, now, engine="reference")
        end = found or now + dt.timedelta(days=3)
        before = segment.evaluate(STORE, now=now, engine="reference").mask
        probe = now
        while probe < end:
            assert np.array_equal(segment.evaluate(STORE, now=probe, engine="reference").mask, before), (rule, probe)
            probe += dt.timedelta(minutes=15)


def test_next_change_of_an_age_rule_is_the_contacts_local_midnight():
    segment = segmint.compile("age(birth_date) = 40", SCHEMA)
    # contact 2 (born 31 October 1985) turns 41 at midnight in New York, 04:00Z; in UTC it would have at 00:00Z
    now = dt.datetime(2026, 10, 31, 3, tzinfo=dt.UTC)
    assert segment.next_change(STORE, now, engine="reference") == dt.datetime(2026, 10, 31, 4, tzinfo=dt.UTC)


@pytest.mark.parametrize("start", ["2026-10-24T20:00:00Z", "2026-10-30T17:00:00Z", "2026-10-31T01:00:00Z",
                                   "2026-03-07T22:00:00Z", "2026-11-04T19:00:00Z"])
def test_next_change_of_age_and_days_since_in_zones_is_never_late(start):
    """Around the DST changes: membership is constant from now to the next change, probed every 15 minutes."""
    now = dt.datetime.fromisoformat(start)
    for rule in ("age(birth_date) = 40 or age(birth_date) = 34", "age(created_at) = 5",
                 "days_since(last(opened)) = 0", "days_since(created_at) = 2187", "days_since(birth_date) = 12418"):
        segment = segmint.compile(rule, SCHEMA)
        found = segment.next_change(STORE, now, engine="reference")
        end = found or now + dt.timedelta(days=2)
        before = segment.evaluate(STORE, now=now, engine="reference").mask
        probe = now
        while probe < end:
            assert np.array_equal(segment.evaluate(STORE, now=probe, engine="reference").mask, before), (rule, probe)
            probe += dt.timedelta(minutes=15)


# -- regular and lapsed behaviour -------------------------------------------------------------------------------------
BUYS = [
    # contact 1 (Kyiv): monthly July to September 2026, none since; 30 September 22:30Z is 1 October in Kyiv
    *(dict(id=1, ts=ts, amount=1.0) for ts in ("2026-07-03T10:00:00Z", "2026-08-15T10:00:00Z",
                                             "2026-09-30T22:30:00Z")),
    # contact 2 (New York): monthly July to September; at NOW (20:00 on 31 October there) October is current
    *(dict(id=2, ts=ts, amount=1.0) for ts in ("2026-07-02T12:00:00Z", "2026-08-02T12:00:00Z",
                                             "2026-09-02T12:00:00Z")),
    # contact 3 (UTC): monthly May to July, then nothing: the lapsed pattern at 2026-11-01
    *(dict(id=3, ts=ts, amount=1.0) for ts in ("2026-05-20T12:00:00Z", "2026-06-20T12:00:00Z",
                                             "2026-07-20T12:00:00Z")),
    # contact 4 (Kolkata): in the current month only
    dict(id=4, ts="2026-11-01T01:00:00Z", amount=1.0),
]
WEEKLY_OPENS = [
    # contact 5 (UTC): the weeks (Monday to Sunday) of 5, 12 and 26 October and 2 November 2026
    *(dict(id=5, ts=ts) for ts in ("2026-10-05T09:00:00Z", "2026-10-18T23:59:59Z", "2026-10-26T00:00:00Z",
                                   "2026-11-02T08:00:00Z")),
    # contact 6 (Kiritimati, UTC+14): Sunday 2026-10-25T10:30Z is Monday 26 October there
    *(dict(id=6, ts=ts) for ts in ("2026-10-11T12:00:00Z", "2026-10-25T10:30:00Z")),
]
REGULAR_STORE = build_store(SCHEMA, CONTACTS, {"email_open": WEEKLY_OPENS, "purchase": BUYS})
LATE_NOW = dt.datetime(2026, 11, 4, 12, tzinfo=dt.UTC)  # a Wednesday

REGULAR_CASES = [
    # the three calendar months before the current one, in the contact's zone (November is current: never counts)
    ("bought in each of the last 3 mo", NOW, {2}),  # 1: July, August and 1 October (Kyiv); 2: July to September
    ("bought in each of the last 2 mo", NOW, {2}),
    ("bought in at least 2 of the last 3 mo", NOW, {1, 2}),
    ("bought in at least 1 of the last 1 mo", NOW, {1, 2}),
    ("bought in each of the last 4 mo", dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC), set()),
    ("bought in each of the last 3 mo", dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC), {2}),
    # lapsed: bought monthly in the three months before the month of now - 90d (August), and not within 90 days
    ("bought in each of the last 3 mo before 90d ago and not bought within 90d", NOW, {3}),
    ("bought in each of the last 3 mo before 90d ago", NOW, {3}),
    ("bought amount > 5 in at least 1 of the last 12 mo", NOW, set()),
    # weeks start on Monday, in the contact's zone; the current week (from Monday 26 October) never counts
    ("opened in at least 2 of the last 4 w", NOW, {5}),  # 5: weeks of 5 and 12 October; 6: 12 Oct only (Kiritimati)
    ("opened in at least 2 of the last 4 w", LATE_NOW, {5, 6}),  # the week of 26 October is now a past week
    ("opened in each of the last 2 w", LATE_NOW, set()),  # 5: not the week of 19 October
    ("opened in at least 3 of the last 5 w", LATE_NOW, {5}),
    ("opened in at least 1 of the last 1 w", LATE_NOW, {5, 6}),
    ("opened in each of the last 1 d", dt.datetime(2026, 10, 19, 10, tzinfo=dt.UTC), {5}),
    ("opened in each of the last 1 y", dt.datetime(2027, 1, 1, tzinfo=dt.UTC), {5, 6}),
    ("opened in each of the last 1 y", dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC), {6}),  # already 2027 at +14
    # events must be in the window too: 3's purchases in May-July are in the last 12 months but before its start
    ("bought in at least 1 of the last 12 mo since 2026-08-01", NOW, {1, 2}),
    ("opened in at least 1 of the last 12 mo since 2026-10-01", LATE_NOW, {5, 6}),
    # 5's October opens are before the window; its open of 2 November is in it but in the current month (the compiled
    # engine counted the October ones: its scan started at the first period, not at the window's start)
    ("opened in at least 1 of the last 12 mo since 2026-11-01", LATE_NOW, set()),
]


@pytest.fixture(scope="module")
def regular_duck():
    return oracle.connect(REGULAR_STORE)


@pytest.mark.parametrize(("rule", "now", "expected"), REGULAR_CASES,
                         ids=[f"{r} @{n:%Y-%m-%dT%H}" for r, n, _ in REGULAR_CASES])
def test_regular_behaviour_in_every_engine_and_duckdb(regular_duck, rule, now, expected):
    segment = segmint.compile(rule, SCHEMA)
    for engine in ("reference", "vector", "compiled"):
        got = set(segment.evaluate(REGULAR_STORE, now=now, engine=engine).ids().tolist())
        assert got == expected, f"{engine}: {rule} at {now}"
    plan = segment.rule.plan
    mask = oracle.mask(regular_duck, plan, bind(plan, now, None), len(REGULAR_STORE))
    assert set(REGULAR_STORE.ids[mask].tolist()) == expected


@pytest.mark.parametrize("start", ["2026-10-31T20:00:00Z", "2026-10-25T23:00:00Z", "2026-11-30T20:00:00Z"])
def test_next_change_of_regular_rules_is_never_late(start):
    now = dt.datetime.fromisoformat(start)
    for rule in ("bought in each of the last 3 mo", "opened in at least 2 of the last 4 w",
                 "bought in each of the last 3 mo before 90d ago"):
        segment = segmint.compile(rule, SCHEMA)
        found = segment.next_change(REGULAR_STORE, now, engine="reference")
        end = found or now + dt.timedelta(days=3)
        before = segment.evaluate(REGULAR_STORE, now=now, engine="reference").mask
        probe = now
        while probe < end:
            mask = segment.evaluate(REGULAR_STORE, now=probe, engine="reference").mask
            assert np.array_equal(mask, before), (rule, probe)
            probe += dt.timedelta(minutes=30)


# -- properties: random rules on random stores whose contacts are in random zones ----------------------------------
ZONED = rulegen.zoned(segmint.Schema.from_toml(DEMO_SCHEMA))


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=rulegen.rules(max_leaves=3))
def test_reference_vector_and_duckdb_agree_in_zones(data, rule):
    store = data.draw(rulegen.stores(ZONED))
    segment = segmint.compile(rule, ZONED)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * rulegen.DAY, NOW + rulegen.MICRO * rulegen.DAY,
                                     dt.datetime(2026, 10, 31, 21, tzinfo=dt.UTC)]))
    params = rulegen.params_for(segment)
    reference = segment.evaluate(store, now=now, params=params, engine="reference").mask
    vector = segment.evaluate(store, now=now, params=params, engine="vector").mask
    plan = segment.rule.plan
    expected = oracle.mask(oracle.connect(store), plan, bind(plan, now, params), len(store))
    assert reference.tolist() == expected.tolist(), f"{segment.text} at {now}: reference and DuckDB differ"
    assert vector.tolist() == reference.tolist(), f"{segment.text} at {now}: vector and reference differ"


# Shapes for the compiled engine: each compiles once; the stores and values vary.
COMPILED_SHAPES = [
    "opened hour between 7 and 9 >= 2 times within 30d",
    "bought weekday in (sat, sun), amount > 50 within 90d or viewed month = 10, day <= 7",
    "birthday(birth_date) within next 7d and not anniversary(created_at) within next 3d",
    "bought in each of the last 3 mo before 90d ago and not bought within 90d",
    "opened device = ios in at least 2 of the last 4 w",
    "count(clicked year = 2026, hour >= 22) >= 1 or viewed in each of the last 1 d",
    "age(birth_date) between 20 and 40 or days_since(last(bought)) <= 3",
    "age(created_at) = 0 or days_since(created_at) between 1 and 30 or days_since(birth_date) > 9000",
    "age(birth_date) + days_since(first(opened)) > 30",
]


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=st.sampled_from(COMPILED_SHAPES))
def test_compiled_equals_reference_in_zones(data, rule):
    store = data.draw(rulegen.stores(ZONED))
    segment = segmint.compile(rule, ZONED)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * rulegen.DAY, dt.datetime(2026, 10, 31, 21, tzinfo=dt.UTC)]))
    compiled = segment.evaluate(store, now=now, engine="compiled").mask
    reference = segment.evaluate(store, now=now, engine="reference").mask
    assert compiled.tolist() == reference.tolist(), f"{segment.text} at {now}: compiled and reference differ"


@pytest.mark.parametrize("rule", ["birthday(birth_date) within next 7d or opened", "anniversary(first(bought)) "
                                  "within next 3d", "bought in each of the last 3 mo", "opened hour = 7",
                                  "days_since(last(bought)) <= 3 or age(first(opened)) = 0"])
def test_calendar_conditions_on_a_store_without_contacts(rule):
    empty = build_store(SCHEMA, [], {})
    segment = segmint.compile(rule, SCHEMA)
    for engine in ("reference", "vector", "compiled"):
        assert segment.evaluate(empty, now=NOW, engine=engine).count == 0


@pytest.mark.parametrize(
    ("rule", "message", "caret"),
    [
        ("opened month = 13", "month is 1 to 12, never 13", "13"),
        ("opened hour between 7 and 25", "hour is 0 to 23, never 25", "25"),
        ("bought weekday in (sat, sunday)", "'sunday' is not a weekday", "sunday"),
        ("opened hour contains \"7\"", "hour is a number", 'contains "7"'),
        ("birthday(birth_date) > 3", "birthday() is tested with 'within next'", "birthday(birth_date)"),
        ("birthday(birth_date) within next 3h", "counts whole days", "3h"),
        ("birthday(tz) within next 3d", "birthday() needs a date or time, not string", "tz"),
        ("opened within next 7d", "'within next' looks ahead", "within next 7d"),
        ("bought in each of the last 3 h", "'h' is not a calendar period", "in each of the last 3 h"),
        ("bought in each of the last 3.5 mo", "a whole number from 1 to 60, not 3.5", "3.5"),
        ("bought in each of the last 61 d", "a whole number from 1 to 60, not 61", "61"),
        ("bought in at least 4 of the last 3 mo", "needs a whole number from 1 to 3", "4"),
        ("tz in each of the last 3 mo", "tests events: a verb and its filters go before it", "tz"),
    ],
)
def test_calendar_mistakes_are_pointed_at(rule, message, caret):
    with pytest.raises(segmint.RuleError) as info:
        segmint.compile(rule, SCHEMA)
    error = info.value
    assert message in str(error)
    assert rule[error.span.start : error.span.end] == caret
