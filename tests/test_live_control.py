"""The registry-wide global control group: a share of all contacts that segments added with ``exclude_control=True``
never have as members (docs/live.md, "Splits and control groups").

A contact is held out when its bucket for the group's salt (live/splits.py ``buckets``, the splits' function) is
below percent x 100: so its place depends on nothing but its id, and stays as stores grow and rows move.
"""

import math
import sqlite3

import numpy as np
import pytest
from data import NOW, ago
from storebuilder import build_store

import segmint
from segmint.runtime.live.splits import GlobalControl, buckets

N = 20_000


def everyone(schema, ids, opened_days_ago=1.0):
    """A store where every contact lives in Kyiv and opened an e-mail ``opened_days_ago`` days before NOW."""
    contacts = [dict(id=int(i), city="Kyiv") for i in ids]
    opens = [dict(id=int(i), ts=ago(opened_days_ago), device="ios") for i in ids]
    return build_store(schema, contacts, {"email_open": opens})


def held_out(ids, percent, salt="global_control") -> set:
    return {int(i) for i, b in zip(ids, buckets(np.asarray(ids, np.int64), salt), strict=True) if b < percent * 100}


@pytest.fixture
def registry(schema):
    with segmint.Registry(":memory:", schema) as registry:
        yield registry


def test_the_group_holds_out_its_share_within_statistical_tolerance():
    ids = np.arange(1, N + 1, dtype=np.int64) * 7919
    for percent in (5, 10, 33.33):
        count = int(GlobalControl(percent, "global_control", 1).held_out(ids).sum())
        p = percent / 100
        assert abs(count - N * p) < 4 * math.sqrt(N * p * (1 - p)), (percent, count)
    text = np.array([f"user{i}@example.com" for i in range(N)], dtype=object)
    count = int(GlobalControl(10, "s", 1).held_out(text).sum())
    assert abs(count - N * 0.1) < 4 * math.sqrt(N * 0.1 * 0.9)


def test_excluding_segments_never_have_held_out_members(registry, schema):
    ids = list(range(1, 3001))
    store = everyone(schema, ids)
    registry.global_control(10)
    registry.add("kyiv_ex", "city = Kyiv", exclude_control=True)
    registry.add("kyiv", "city = Kyiv")
    registry.split("kyiv_ex", {"A": 50, "B": 50})
    report = registry.refresh(store, now=NOW)
    control = held_out(ids, 10)
    assert 0 < len(control) < len(ids)
    assert set(registry.members("kyiv_ex")) == set(ids) - control
    assert set(registry.members("kyiv")) == set(ids)  # a segment that does not exclude the group keeps them
    groups = set(registry.members("kyiv_ex.A")) | set(registry.members("kyiv_ex.B"))
    assert groups == set(ids) - control  # a split of an excluding segment excludes them too
    delivered = {c.id for c in registry.changes("mailer") if c.segment.startswith("kyiv_ex")}
    assert delivered == set(ids) - control
    assert {s.name: s.size for s in report.segments}["kyiv_ex"] == len(ids) - len(control)


def test_held_out_contacts_are_never_delivered_and_stay_held_out_as_the_store_grows(registry, schema):
    """New contacts arrive before and after the old ones (every row moves); time moves contacts in and out."""
    registry.global_control(20, salt="q4")
    registry.add("recent", "opened within 7d", exclude_control=True)
    ids = list(range(100, 1100))
    first = registry.refresh(everyone(schema, ids, opened_days_ago=1), now=NOW)
    ids = list(range(1, 100)) + ids + list(range(1100, 1600))
    registry.refresh(everyone(schema, ids, opened_days_ago=6), now=NOW)
    registry.refresh(everyone(schema, ids, opened_days_ago=6), now=NOW + (2 * (NOW - ago(1))))  # all leave
    registry.refresh(everyone(schema, ids, opened_days_ago=0.5), now=NOW)  # all come back
    control = held_out(ids, 20, "q4")
    changes = list(registry.changes("mailer", since=first.seq - 1))
    assert {c.change for c in changes} == {"entered", "left"}
    assert not {c.id for c in changes} & control
    assert set(registry.members("recent")) == set(ids) - control


def test_changing_the_group_is_an_edit_of_the_segments_that_exclude_it(registry, schema):
    ids = list(range(1, 2001))
    store = everyone(schema, ids)
    registry.global_control(10)
    registry.add("kyiv_ex", "city = Kyiv", exclude_control=True)
    registry.add("kyiv", "city = Kyiv")
    first = registry.refresh(store, now=NOW)
    assert registry.global_control(15).version == 2
    second = registry.refresh(store, now=NOW)
    causes = {s.name: (s.cause, s.entered, s.left) for s in second.segments}
    newly = held_out(ids, 15) - held_out(ids, 10)  # buckets 1000-1499: the 10% stay held out
    assert causes == {"kyiv_ex": ("edit", 0, len(newly)), "kyiv": ("time", 0, 0)}
    assert {(c.id, c.change, c.cause) for c in registry.changes("m", since=first.seq)} == {
        (i, "left", "edit") for i in newly}
    registry.global_control(0)  # no control group: everyone comes back
    third = registry.refresh(store, now=NOW)
    assert {s.name: (s.cause, s.entered) for s in third.segments}["kyiv_ex"] == ("edit", len(held_out(ids, 15)))
    assert set(registry.members("kyiv_ex")) == set(ids)


def test_excluding_the_group_is_part_of_a_segments_definition(registry, schema):
    ids = list(range(1, 1001))
    store = everyone(schema, ids)
    registry.global_control(10)
    registry.add("kyiv", "city = Kyiv")
    first = registry.refresh(store, now=NOW)
    edited = registry.update("kyiv", exclude_control=True)
    assert (edited.version, edited.exclude_control, edited.rule) == (2, True, "city = Kyiv")
    assert [v["exclude_control"] for v in registry.versions("kyiv")] == [False, True]
    registry.refresh(store, now=NOW)
    assert {(c.id, c.change, c.cause) for c in registry.changes("m", since=first.seq)} == {
        (i, "left", "edit") for i in held_out(ids, 10)}
    assert registry.update("kyiv", description="all of Kyiv").exclude_control  # kept when not given


def test_excluding_without_a_control_group_excludes_nobody(registry, schema):
    store = everyone(schema, [1, 2, 3])
    registry.add("kyiv", "city = Kyiv", exclude_control=True)
    registry.refresh(store, now=NOW)
    assert registry.control() is None and set(registry.members("kyiv")) == {1, 2, 3}


@pytest.mark.parametrize(
    ("percent", "salt", "match"),
    [(100, "s", "up to"), (-1, "s", "up to"), (10.001, "s", "two decimals"), ("10", "s", "percent"),
     (True, "s", "percent"), (10, "", "salt")],
)
def test_bad_control_groups_are_refused(registry, percent, salt, match):
    with pytest.raises(segmint.RegistryError, match=match):
        registry.global_control(percent, salt=salt)
    assert registry.control() is None


def test_a_registry_made_before_the_control_group_opens_and_refreshes(schema, tmp_path):
    path = tmp_path / "old.db"
    store = everyone(schema, [1, 2, 3])
    with segmint.Registry(path, schema) as registry:
        registry.add("kyiv", "city = Kyiv")
        registry.refresh(store, now=NOW)
    with sqlite3.connect(path) as db:  # as the first release wrote it
        db.execute("ALTER TABLE versions DROP COLUMN exclude_control")
        db.execute("ALTER TABLE membership DROP COLUMN control")
        db.execute("DROP TABLE global_control")
    with segmint.Registry(path, schema) as registry:
        assert not registry.get("kyiv").exclude_control
        report = registry.refresh(store, now=NOW)
        assert [(s.cause, s.entered, s.left) for s in report.segments] == [("time", 0, 0)]
