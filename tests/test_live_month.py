"""A realistic month of live segments (issue 11, "Done when").

The demo generator makes a contact base whose ``now`` is the end of the month; day by day, the store is rebuilt from
the data known so far (contacts signed up by then, their events up to a day after it: a few events always arrive
dated in the future) and the registry of the mission's segments is refreshed. At every step:

- who entered and who left (as delivered by ``changes``) is exactly the difference of two full evaluations of each
  rule by the reference engine (the registry refreshes with the vector engine), and ``members`` is the second one;
- the cause is ``new`` on the first day, ``data`` when the store changed, ``time`` on a day without new data;
- every segment's next change bound holds: the reference engine just before it gives the same members as at now;
- a split's groups partition the segment, and a contact never changes group; a segment that excludes the global
  control group never has (nor delivers) a held-out contact;
- alerts fire exactly when the sizes cross the thresholds;
- delivery is at least once: unacknowledged changes come again, acknowledged ones never.

The same month runs from the shell (``segmint segments ...`` over a saved Parquet folder per day).

CI size: ``SEGMINT_LIVE_MONTH=contacts,days`` (default ``3000,30``); a longer run, e.g. ``SEGMINT_LIVE_MONTH=50000,60``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from data import run

import segmint
from segmint.runtime import demo
from segmint.runtime.demo.generator import TIMESTAMP
from segmint.runtime.live.splits import Split, buckets
from segmint.runtime.store.load import store_from_arrow

CONTACTS, DAYS = (int(x) for x in os.environ.get("SEGMINT_LIVE_MONTH", "3000,30").split(","))
END = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)  # the demo's now, at 06:00: the month's last refresh
START = END - dt.timedelta(days=DAYS - 1)
QUIET_DAY = 10  # no new data arrives that day: whatever moves is caused by time
US = dt.timedelta(microseconds=1)

# The mission's segments. Derived ones are checked against their inputs' rules written out in full.
RULES = {
    "newcomers": "created_at within 30d and not bought",
    "engaged": "opened within 30d or clicked within 30d",
    "semi_engaged": "(opened within 90d or clicked within 90d) and not (opened within 30d or clicked within 30d)",
    "churned": "bought and not bought within 90d",
    "iphone_fans": "opened > 2 within 90d and (opened device=ios or viewed category=iPhones > 3 times within 21d"
                   " or bought brand=Apple or app_opened device=ios within 90d or push_subscribed device=ios)",
    "value": "sum(bought.amount within 365d) > 500 and avg(bought.amount within 365d) > 100",
    "browse_laptops": "viewed category=$category within $days and not bought category=$category",
    "browse_phones": "viewed category=$category within $days and not bought category=$category",
    "winback": "churned and engaged",
}
PARAMS = {"browse_laptops": {"category": "Laptops", "days": "14d"},
          "browse_phones": {"category": "Smartphones", "days": "7d"}}
EXPANDED = {"winback": f"({RULES['churned']}) and ({RULES['engaged']})"}
SINGLE_WINDOW = ("newcomers", "churned", "browse_laptops", "browse_phones")
EXCLUDE_CONTROL = ("newcomers",)  # no welcome for the global control group
CONTROL_PERCENT, CONTROL_SALT = 10, "month"
SHARES = {"A": 45, "B": 45, "control": 10}
SPLIT_SALT = "engaged-2026-11"


def alerts_after(first: dict[str, int]) -> dict[str, dict]:
    """Thresholds set after the first day, from its sizes, so they are crossed now and then at any data size."""
    # day-to-day moves grow as the square root of a segment's size
    return {"newcomers": {"below": round(first["newcomers"] * 1.08)},
            "engaged": {"change": 0.25 / math.sqrt(first["engaged"])},
            "churned": {"above": round(first["churned"] * 1.02)}}


@pytest.fixture(scope="module")
def month() -> demo.DemoData:
    return demo.generate(CONTACTS, seed=11, now=END)


def day_now(day: int) -> dt.datetime:
    return START + dt.timedelta(days=day)


def data_until(data: demo.DemoData, known: dt.datetime) -> demo.DemoData:
    """The data a platform has at ``known``: contacts signed up by then, and their events dated up to a day after
    (clocks differ: a few events always arrive from the future, and must not count before their time)."""
    contacts = data.contacts.filter(pc.less_equal(data.contacts["created_at"], pa.scalar(known, TIMESTAMP)))
    ids = contacts["contact_id"]
    events = {}
    for name, table in data.events.items():
        kept = pc.and_(pc.is_in(table["contact_id"], value_set=ids),
                       pc.less_equal(table["timestamp"], pa.scalar(known + dt.timedelta(days=1), TIMESTAMP)))
        events[name] = table.filter(kept)
    return demo.DemoData(contacts, events, known, data.seed)


def store_of(data: demo.DemoData, schema: segmint.Schema):
    return store_from_arrow(data.contacts, data.events, schema)


def reference(name: str, store, now: dt.datetime, schema: segmint.Schema) -> set:
    rule = EXPANDED.get(name, RULES[name])
    result = segmint.compile(rule, schema).evaluate(store, now=now, params=PARAMS.get(name), engine="reference")
    ids = result.ids()
    if name in EXCLUDE_CONTROL:
        ids = ids[buckets(np.asarray(ids, np.int64), CONTROL_SALT) >= CONTROL_PERCENT * 100]
    return set(ids.tolist())


def expected_alerts(alerts: dict, name: str, before: int | None, size: int) -> int:
    """How many of the segment's alerts must fire, from the thresholds alone (not registry.Alert)."""
    spec, fired = alerts.get(name, {}), 0
    fired += "below" in spec and size < spec["below"]
    fired += "above" in spec and size > spec["above"]
    fired += "change" in spec and before is not None and before > 0 and abs(size - before) / before > spec["change"]
    return fired


def register(registry: segmint.Registry) -> None:
    registry.global_control(CONTROL_PERCENT, salt=CONTROL_SALT)
    for name, rule in RULES.items():
        registry.add(name, rule, params=PARAMS.get(name), exclude_control=name in EXCLUDE_CONTROL)
    registry.split("engaged", SHARES, salt=SPLIT_SALT)


def group_members(members: set, ids_groups: dict) -> dict[str, set]:
    return {group: {i for i in members if ids_groups[i] == group} for group in SHARES}


def groups_of(ids: list) -> dict:
    """Each id's group of the engaged split, from the bucket function (pinned in test_live.py)."""
    split = Split.of(SHARES, SPLIT_SALT)
    bucket = buckets(np.array(ids, np.int64), SPLIT_SALT)
    return {i: next(g for g, start, end in split.groups if start <= b < end) for i, b in zip(ids, bucket, strict=True)}


def test_a_month_of_refreshes_delivers_exactly_the_differences(month, schema):
    registry = segmint.Registry(":memory:", schema)
    register(registry)
    names = [*RULES, *(f"engaged.{g}" for g in SHARES)]
    previous: dict[str, set] = {n: set() for n in names}
    sizes: dict[str, int | None] = {n: None for n in names}
    known_group: dict = {}
    engaged_sizes = []
    alerts: dict[str, dict] = {}  # none on the first day
    fired_total = dict.fromkeys(["newcomers", "engaged", "churned"], 0)
    data = None
    for day in range(DAYS):
        now = day_now(day)
        if day != QUIET_DAY or data is None:
            data = data_until(month, now)
        store = store_of(data, schema)
        report = registry.refresh(store, now=now, engine="vector")
        by_name = {s.name: s for s in report.segments}
        assert sorted(by_name) == sorted(names) and not any(s.error for s in report.segments)

        current = {n: reference(n, store, now, schema) for n in RULES}
        groups = groups_of(sorted(current["engaged"]))
        for i, group in groups.items():  # a contact never changes group
            assert known_group.setdefault(i, group) == group, (day, i)
        current |= {f"engaged.{g}": m for g, m in group_members(current["engaged"], groups).items()}

        delivered = {n: {"entered": set(), "left": set()} for n in names}
        for change in registry.changes("check", since=report.seq - 1):
            assert change.seq == report.seq
            delivered[change.segment][change.change].add(change.id)
        for name in names:
            want_entered, want_left = current[name] - previous[name], previous[name] - current[name]
            assert delivered[name] == {"entered": want_entered, "left": want_left}, (day, name)
            assert set(registry.members(name)) == current[name], (day, name)
            got = by_name[name]
            assert (got.size, got.entered, got.left) == (len(current[name]), len(want_entered), len(want_left))
            assert got.cause == ("new" if day == 0 else "time" if day == QUIET_DAY else "data"), (day, name)
            fired = expected_alerts(alerts, name, sizes[name], len(current[name]))
            assert len(got.alerts) == fired, (day, name, got.alerts)
            if name in fired_total:
                fired_total[name] += fired
            assert registry.history(name)[-1].alerts == got.alerts
        assert current["engaged"] == set().union(*(current[f"engaged.{g}"] for g in SHARES))

        for name in RULES:  # the next change bound is never late
            bound = by_name[name].next_change
            if bound is not None:
                just_before = dt.datetime.fromisoformat(bound) - US
                assert just_before >= now
                assert reference(name, store, just_before, schema) == current[name], (day, name, bound)

        if day == QUIET_DAY:  # time alone moves contacts; the exact next change of each segment
            assert sum(s.entered + s.left for s in report.segments) > 0
            for name in RULES:
                exact = registry.next_change(name, store, now, engine="vector")
                assert exact is not None and exact >= dt.datetime.fromisoformat(by_name[name].next_change)
                assert reference(name, store, exact - US, schema) == current[name], (name, exact)
                if name in SINGLE_WINDOW:
                    assert reference(name, store, exact, schema) != current[name], (name, exact)

        # at least once: unacknowledged changes come again, then nothing after the ack
        pending = list(registry.changes("mailer"))
        assert pending == list(registry.changes("mailer"))
        assert {c.seq for c in pending} <= {report.seq}
        registry.ack("mailer", report.seq)
        assert list(registry.changes("mailer")) == []

        previous = current
        sizes = {n: len(current[n]) for n in names}
        engaged_sizes.append(sizes["engaged"])
        if day == 0:
            alerts = alerts_after(sizes)
            for name, spec in alerts.items():
                registry.alert(name, **spec)

    assert all(fired_total.values()), f"every alert should fire at least once in a month: {fired_total}"
    assert [p.size for p in registry.history("engaged")] == engaged_sizes
    registry.close()


def test_a_month_of_refreshes_from_the_shell(month, schema, tmp_path, capsys):
    """The same month with ``segmint segments``: a saved Parquet folder per day, one refresh per day at its now,
    the JSON lines of ``changes`` checked against the reference engine, then ``ack`` and ``history``."""
    days = min(DAYS, 8)
    db = tmp_path / "segments.db"

    def seg(*argv, data=None):
        extra = ("--data", str(data)) if data else ()
        return run(capsys, "segments", *argv, "--registry", db, *extra)

    folders = []
    for day in range(days):
        folder = tmp_path / f"day{day:02d}"
        demo.write_parquet(data_until(month, day_now(day)), folder)
        folders.append(folder)
    for name, rule in RULES.items():
        params = [x for k, v in PARAMS.get(name, {}).items() for x in ("--param", f"{k}={v}")]
        exclude = ["--exclude-control"] if name in EXCLUDE_CONTROL else []
        assert seg("add", name, rule, *params, *exclude, data=folders[0])[0] == 0
    assert seg("control", str(CONTROL_PERCENT), "--salt", CONTROL_SALT, data=folders[0])[0] == 0
    assert seg("split", "engaged", "--groups", "A=45,B=45,control=10", "--salt", SPLIT_SALT, data=folders[0])[0] == 0
    assert seg("alert", "newcomers", "--below", "130", data=folders[0])[0] == 0

    previous = {n: set() for n in RULES}
    for day, folder in enumerate(folders):
        now = day_now(day)
        now_text = now.isoformat().replace("+00:00", "Z")
        code, out, _ = seg("refresh", "--now", now_text, "--engine", "vector", "--json", data=folder)
        assert code == 0
        report = json.loads(out)
        assert report["seq"] == day + 1 and report["now"] == now_text
        store = segmint.Store.from_parquet(folder, schema)
        current = {n: reference(n, store, now, schema) for n in RULES}

        code, out, err = seg("changes", "--consumer", "mailer", data=folder)
        assert code == 0
        lines = [json.loads(line) for line in out.splitlines()]
        assert {line["seq"] for line in lines} <= {day + 1}
        assert all(line["now"] == now_text for line in lines)
        for name in RULES:
            entered = {line["id"] for line in lines if line["segment"] == name and line["change"] == "entered"}
            left = {line["id"] for line in lines if line["segment"] == name and line["change"] == "left"}
            assert (entered, left) == (current[name] - previous[name], previous[name] - current[name]), (day, name)
        if lines:
            assert f"ack --consumer mailer {day + 1}" in err
        assert seg("ack", "--consumer", "mailer", str(day + 1), data=folder)[0] == 0
        assert seg("changes", "--consumer", "mailer", data=folder)[1] == ""
        previous = current

    code, out, _ = seg("history", "newcomers", "--json", data=folders[-1])
    history = json.loads(out)["history"]
    assert len(history) == days and history[-1]["size"] == len(previous["newcomers"])
    assert all(bool(p["alerts"]) == (p["size"] < 130) for p in history)
